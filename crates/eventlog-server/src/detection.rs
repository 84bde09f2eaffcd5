//! Detection at ingest: every newly committed event is handed (without blocking the
//! writer) to one task that runs the stream detectors and the payload engine over it and
//! stores what they conclude as SEC/AUTH events through the normal write path.
//!
//! Derived events have ids derived from the event that triggered them, so replaying the
//! same events stores nothing twice; they are never fed back to the detectors. When the
//! hand-off channel is full (the detectors fall behind a flood), events skip detection
//! rather than slow ingest; the count is logged.

use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::Arc;

use chrono::Utc;
use eventlog_core::detect::derive::{alert_event, finding_event};
use eventlog_core::detect::stateful::{StreamConfig, StreamDetectors};
use eventlog_core::detect::{Body, Detector, RequestView};
use eventlog_core::redact::Redactor;
use eventlog_core::{parse_event, EventRecord, ValidatedEvent, Validator};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use tokio::sync::{mpsc, oneshot};

use crate::ingest::IngestQueue;

/// The `[detect]` table of the server configuration.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(default, deny_unknown_fields)]
pub struct DetectConfig {
    /// Whether stored events are run through detection at all.
    pub enabled: bool,
    /// Whether request payloads in events (`request_data`, the endpoint's query) are
    /// scanned for SQL injection, XSS, traversal, command injection and uploads.
    pub inspect_payloads: bool,
    /// Most committed batches waiting for detection; beyond that, events skip it.
    pub backlog_batches: usize,
    /// Most committed events waiting for detection (they are held in memory: about 2 KB
    /// each); beyond that, events skip it.
    pub backlog_events: usize,
    /// Thresholds and windows of the stream detectors (`[detect.stream.brute_force]`...).
    pub stream: StreamConfig,
    /// Failed authentications against eventlog itself become SEC-005 events: the first from
    /// an address at once, the rest counted into one event per address per this many
    /// seconds. 0: not recorded.
    pub auth_failures_report_secs: u64,
}

impl Default for DetectConfig {
    fn default() -> Self {
        Self {
            enabled: true,
            inspect_payloads: true,
            backlog_batches: 1024,
            backlog_events: 20_000,
            stream: StreamConfig::default(),
            auth_failures_report_secs: 60,
        }
    }
}

/// The writer's side: offers committed events to detection without ever waiting.
#[derive(Clone)]
pub struct DetectionFeed {
    tx: mpsc::Sender<Vec<ValidatedEvent>>,
    skipped: Arc<AtomicU64>,
    /// Events handed over and not yet through the detectors.
    waiting: Arc<AtomicUsize>,
    max_waiting: usize,
}

impl DetectionFeed {
    /// Hands `events` over; if detection is behind, they skip it (counted and logged).
    pub(crate) fn offer(&self, events: Vec<ValidatedEvent>) {
        if events.is_empty() {
            return;
        }
        let len = events.len();
        let n = len as u64;
        // Bounded by events, not only batches: a backlog of large group commits held
        // gigabytes when detection fell behind a sustained load. A batch larger than the
        // bound still goes through when nothing is waiting.
        let waiting = self.waiting.fetch_add(len, Ordering::AcqRel);
        let room = waiting == 0 || waiting + len <= self.max_waiting;
        if !room || self.tx.try_send(events).is_err() {
            self.waiting.fetch_sub(len, Ordering::AcqRel);
            let before = self.skipped.fetch_add(n, Ordering::Relaxed);
            // Log on the first skip and then once per 10,000, not once per batch.
            if before / 10_000 != (before + n) / 10_000 || before == 0 {
                tracing::warn!(
                    skipped_events = before + n,
                    "detection is behind ingest; events skip detection"
                );
            }
        }
    }

    /// Events that skipped detection since start.
    pub fn skipped(&self) -> u64 {
        self.skipped.load(Ordering::Relaxed)
    }
}

/// The task that runs the detectors and stores what they find.
pub struct DetectionTask {
    rx: mpsc::Receiver<Vec<ValidatedEvent>>,
    waiting: Arc<AtomicUsize>,
    stop: oneshot::Receiver<()>,
    detectors: StreamDetectors,
    engine: Detector,
    inspect_payloads: bool,
    validator: Arc<Validator>,
    queue: IngestQueue,
}

/// Stops the [`DetectionTask`] (it lets go of its ingest queue handle, so the writer
/// can drain and end).
pub struct DetectionStop(oneshot::Sender<()>);

impl DetectionStop {
    /// Asks the task to finish what it holds and end.
    pub fn stop(self) {
        let _ = self.0.send(());
    }
}

impl DetectionTask {
    /// The task, the feed the writer offers committed events to, and its stop handle.
    pub fn new(
        config: &DetectConfig,
        validator: Arc<Validator>,
        redactor: Redactor,
        queue: IngestQueue,
    ) -> (Self, DetectionFeed, DetectionStop) {
        let (tx, rx) = mpsc::channel(config.backlog_batches.max(1));
        let (stop_tx, stop) = oneshot::channel();
        let waiting = Arc::new(AtomicUsize::new(0));
        let task = Self {
            rx,
            waiting: waiting.clone(),
            stop,
            detectors: StreamDetectors::new(config.stream.clone()),
            engine: Detector::new(redactor),
            inspect_payloads: config.inspect_payloads,
            validator,
            queue,
        };
        let feed = DetectionFeed {
            tx,
            skipped: Arc::new(AtomicU64::new(0)),
            waiting,
            max_waiting: config.backlog_events.max(1),
        };
        (task, feed, DetectionStop(stop_tx))
    }

    /// Runs until stopped (or the writer is gone), storing derived events as it goes.
    pub async fn run(mut self) {
        loop {
            tokio::select! {
                batch = self.rx.recv() => match batch {
                    Some(events) => self.handle(events).await,
                    None => break,
                },
                _ = &mut self.stop => {
                    while let Ok(events) = self.rx.try_recv() {
                        self.handle(events).await;
                    }
                    break;
                }
            }
        }
    }

    async fn handle(&mut self, events: Vec<ValidatedEvent>) {
        let mut derived = Vec::new();
        for event in &events {
            derived.extend(self.derive(event.record()));
        }
        self.waiting.fetch_sub(events.len(), Ordering::AcqRel);
        drop(events);
        if derived.is_empty() {
            return;
        }
        let now = Utc::now();
        let mut valid = Vec::with_capacity(derived.len());
        for value in derived {
            let parsed = serde_json::to_vec(&value)
                .ok()
                .and_then(|bytes| parse_event(&bytes).ok());
            match parsed.map(|raw| self.validator.validate(raw, now)) {
                Some(Ok(event)) => valid.push(event),
                Some(Err(errors)) => {
                    tracing::error!(?errors, "a derived security event did not validate")
                }
                None => tracing::error!("a derived security event did not parse"),
            }
        }
        let count = valid.len();
        match self.queue.submit_derived(valid) {
            // Stored by the writer in its own time: the detectors go on with the next batch
            // instead of waiting a group commit for each batch's findings.
            Ok(reply) => {
                tokio::spawn(async move {
                    match reply.await {
                        Ok(Ok(_)) => tracing::info!(count, "stored derived security events"),
                        Ok(Err(failed)) => {
                            tracing::error!(error = %failed.message, count, "storing derived security events failed")
                        }
                        Err(_) => tracing::warn!(
                            "writer stopped before derived security events were stored"
                        ),
                    }
                });
            }
            Err(_) => tracing::warn!(count, "ingest queue full; derived security events dropped"),
        }
    }

    /// The events one stored event gives rise to.
    fn derive(&mut self, record: &EventRecord) -> Vec<Value> {
        // Derived events never get here: the writer leaves them out of the feed (by how
        // they were queued, not by a `source` a client could claim).
        let mut out: Vec<Value> = self
            .detectors
            .observe(record)
            .iter()
            .map(alert_event)
            .collect();
        // An application's own security events already report their payloads.
        if self.inspect_payloads && record.event_category != "SECURITY" {
            let form;
            let body = match &record.request_data {
                Some(Value::String(text)) if text.contains('=') && !text.contains(' ') => {
                    form = text.as_str();
                    Body::Form(form)
                }
                Some(Value::String(text)) => Body::Text(text),
                Some(value @ (Value::Object(_) | Value::Array(_))) => Body::Json(value),
                _ => Body::None,
            };
            let user_agent = record.user_agent.as_deref().unwrap_or_default();
            let headers = [("user-agent", user_agent)];
            let mut request =
                RequestView::from_endpoint(record.endpoint.as_deref().unwrap_or(""), body);
            // The tower layer stores the route's template as `endpoint` and the request's
            // own path and query in `metadata`: the attacker's text is there.
            let metadata_text = |key: &str| match record.metadata.as_ref()?.get(key)? {
                Value::String(text) => Some(text.as_str()),
                _ => None,
            };
            if let Some(path) = metadata_text("path") {
                request.path = path;
            }
            if let Some(query) = metadata_text("query") {
                request.query = Some(query);
            }
            if !user_agent.is_empty() {
                request.headers = &headers;
            }
            out.extend(
                self.engine
                    .inspect(&request)
                    .iter()
                    .map(|finding| finding_event(record, finding)),
            );
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use eventlog_core::validate::Validator;
    use eventlog_core::{Catalog, ValidationPolicy};

    use super::*;

    fn events(n: usize) -> Vec<ValidatedEvent> {
        let validator = Validator::new(ValidationPolicy::default(), Catalog::built_in());
        (0..n)
            .map(|_| {
                let raw = parse_event(br#"{"event_code":"AUTH-001"}"#).unwrap();
                validator.validate(raw, Utc::now()).unwrap()
            })
            .collect()
    }

    #[test]
    fn the_backlog_is_bounded_in_events_but_never_refuses_a_batch_when_empty() {
        let (tx, mut rx) = mpsc::channel(16);
        let feed = DetectionFeed {
            tx,
            skipped: Arc::new(AtomicU64::new(0)),
            waiting: Arc::new(AtomicUsize::new(0)),
            max_waiting: 5,
        };
        feed.offer(events(3));
        feed.offer(events(3));
        assert_eq!(feed.skipped(), 3, "3 + 3 waiting is over the bound of 5");
        feed.offer(events(2));
        assert_eq!(feed.skipped(), 3, "3 + 2 fits");
        while let Ok(batch) = rx.try_recv() {
            feed.waiting.fetch_sub(batch.len(), Ordering::AcqRel);
        }
        feed.offer(events(8));
        assert_eq!(
            feed.skipped(),
            3,
            "an empty backlog takes a batch over the bound"
        );
        assert_eq!(rx.try_recv().map(|b| b.len()), Ok(8));
    }
}
