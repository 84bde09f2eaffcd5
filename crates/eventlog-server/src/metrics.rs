//! Prometheus metrics (`GET /metrics`, text exposition format), kept with
//! `prometheus-client`. [`Metrics`] is shared through [`crate::AppState`]; other parts of
//! the server register their own metrics with [`Metrics::register`].
//!
//! Who may scrape: `[metrics] public = false` (default) lets admin and analyst keys scrape;
//! `public = true` serves it without a key (docs/operations.md).

use std::sync::atomic::AtomicU64;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{exponential_buckets, Histogram};
use prometheus_client::registry::{Metric, Registry};

use crate::ingest::QueueStats;

/// Why ingest refused a request (the error code it answered with).
#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct ReasonLabel {
    /// e.g. `invalid_event`, `overloaded`, `conflict`, `too_large`.
    pub reason: String,
}

/// What a retention run did, as the metrics keep it.
#[derive(Debug, Clone, Copy, Default)]
pub struct RetentionFigures {
    /// Events written to archives.
    pub archived: u64,
    /// Events deleted.
    pub deleted: u64,
    /// Partitions dropped.
    pub partitions_dropped: u64,
}

/// The server's metrics and the registry they are exposed from.
#[derive(Clone)]
pub struct Metrics {
    registry: Arc<Mutex<Registry>>,
    accepted: Counter,
    rejected: Family<ReasonLabel, Counter>,
    queue_depth: Gauge,
    queue_capacity: Gauge,
    commit_latency: Histogram,
    rollup_lag: Gauge<f64, AtomicU64>,
    retention_last_run: Gauge,
    retention_archived: Counter,
    retention_deleted: Counter,
    retention_partitions: Counter,
    retention_last_deleted: Gauge,
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}

impl Metrics {
    /// A registry with eventlog's metrics, all at zero.
    pub fn new() -> Self {
        let m = Self {
            registry: Arc::new(Mutex::new(Registry::with_prefix("eventlog"))),
            accepted: Counter::default(),
            rejected: Family::default(),
            queue_depth: Gauge::default(),
            queue_capacity: Gauge::default(),
            // 0.5 ms .. ~4 s.
            commit_latency: Histogram::new(exponential_buckets(0.0005, 2.0, 14)),
            rollup_lag: Gauge::default(),
            retention_last_run: Gauge::default(),
            retention_archived: Counter::default(),
            retention_deleted: Counter::default(),
            retention_partitions: Counter::default(),
            retention_last_deleted: Gauge::default(),
        };
        m.register(
            "events_accepted",
            "Events newly stored (committed) since start; rate() of it is the ingest rate",
            m.accepted.clone(),
        );
        m.register(
            "ingest_rejected_requests",
            "Ingest requests refused, by reason (the error code answered); each refusal stores nothing of its request",
            m.rejected.clone(),
        );
        m.register(
            "ingest_queue_depth",
            "Events waiting for or being committed",
            m.queue_depth.clone(),
        );
        m.register(
            "ingest_queue_capacity",
            "Events that may wait before ingest answers 503",
            m.queue_capacity.clone(),
        );
        m.register(
            "commit_duration_seconds",
            "Duration of one group commit (events, rollups and chain in one transaction)",
            m.commit_latency.clone(),
        );
        m.register(
            "rollup_lag_seconds",
            "How far rollups trailed accepted events at the last commit: rollups are written in the transaction of their events, so this is how long the oldest event of that commit waited from queueing to commit",
            m.rollup_lag.clone(),
        );
        m.register(
            "retention_last_run_timestamp_seconds",
            "When retention last finished (Unix time), 0 if never since start",
            m.retention_last_run.clone(),
        );
        m.register(
            "retention_archived_events",
            "Events archived by retention since start",
            m.retention_archived.clone(),
        );
        m.register(
            "retention_deleted_events",
            "Events deleted by retention since start",
            m.retention_deleted.clone(),
        );
        m.register(
            "retention_dropped_partitions",
            "PostgreSQL partitions dropped by retention since start",
            m.retention_partitions.clone(),
        );
        m.register(
            "retention_last_deleted_events",
            "Events deleted by the last retention run",
            m.retention_last_deleted.clone(),
        );
        m
    }

    /// Registers another metric under the `eventlog_` prefix (e.g. alert states).
    pub fn register(&self, name: &str, help: &str, metric: impl Metric) {
        self.registry
            .lock()
            .expect("metrics registry lock")
            .register(name, help, metric);
    }

    /// Counts events newly committed and how long their commit took.
    pub fn committed(&self, events: u64, took: Duration) {
        self.accepted.inc_by(events);
        self.commit_latency.observe(took.as_secs_f64());
    }

    /// Records how long the oldest event of the last commit waited from queueing until it
    /// and its rollups were committed.
    pub fn rollup_lag(&self, waited: Duration) {
        self.rollup_lag.set(waited.as_secs_f64());
    }

    /// Counts an ingest request refused with error `code`.
    pub fn rejected(&self, code: &str) {
        self.rejected
            .get_or_create(&ReasonLabel {
                reason: code.to_owned(),
            })
            .inc();
    }

    /// Records a finished retention run.
    pub fn retention_ran(&self, figures: RetentionFigures) {
        self.retention_archived.inc_by(figures.archived);
        self.retention_deleted.inc_by(figures.deleted);
        self.retention_partitions.inc_by(figures.partitions_dropped);
        self.retention_last_deleted
            .set(i64::try_from(figures.deleted).unwrap_or(i64::MAX));
        self.retention_last_run.set(chrono::Utc::now().timestamp());
    }

    /// The text exposition of every metric, with the queue gauges read from `queue` now.
    pub fn render(&self, queue: QueueStats) -> String {
        self.queue_depth
            .set(i64::try_from(queue.depth).unwrap_or(i64::MAX));
        self.queue_capacity
            .set(i64::try_from(queue.capacity).unwrap_or(i64::MAX));
        let mut out = String::new();
        prometheus_client::encoding::text::encode(
            &mut out,
            &self.registry.lock().expect("metrics registry lock"),
        )
        .expect("writing to a String cannot fail");
        out
    }
}
