//! Delivery figures of one logger: counters updated lock-free on the hot path, and a
//! snapshot written to `stats.json` in the spool directory for `eventlog monitor`.

use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::spool::SpoolState;

/// Live counters of a logger.
#[derive(Debug, Default)]
pub(crate) struct Stats {
    pub(crate) logged: AtomicU64,
    pub(crate) delivered: AtomicU64,
    pub(crate) spooled: AtomicU64,
    pub(crate) replayed: AtomicU64,
    pub(crate) dead_lettered: AtomicU64,
    pub(crate) dropped: AtomicU64,
    pub(crate) overflowed: AtomicU64,
    pub(crate) hook_panics: AtomicU64,
    pub(crate) queued: AtomicU64,
    pub(crate) last_error: Mutex<Option<(DateTime<Utc>, String)>>,
    pub(crate) last_delivery: Mutex<Option<DateTime<Utc>>>,
}

pub(crate) fn bump(counter: &AtomicU64, n: u64) {
    counter.fetch_add(n, Ordering::Relaxed);
}

impl Stats {
    pub(crate) fn error(&self, message: String) {
        if let Ok(mut last) = self.last_error.lock() {
            *last = Some((Utc::now(), message));
        }
    }

    pub(crate) fn delivered_now(&self, n: u64) {
        bump(&self.delivered, n);
        if let Ok(mut last) = self.last_delivery.lock() {
            *last = Some(Utc::now());
        }
    }

    /// A consistent-enough copy of the counters.
    pub(crate) fn snapshot(
        &self,
        spool: Option<SpoolState>,
        started: DateTime<Utc>,
    ) -> StatsSnapshot {
        let get = |c: &AtomicU64| c.load(Ordering::Relaxed);
        let (last_error_at, last_error) = self
            .last_error
            .lock()
            .ok()
            .and_then(|l| l.clone())
            .map_or((None, None), |(at, e)| (Some(at), Some(e)));
        let now = Utc::now();
        let secs = (now - started).num_milliseconds().max(1) as f64 / 1000.0;
        StatsSnapshot {
            written_at: now,
            started_at: started,
            logged: get(&self.logged),
            queued: get(&self.queued),
            delivered: get(&self.delivered),
            spooled: get(&self.spooled),
            replayed: get(&self.replayed),
            dead_lettered: get(&self.dead_lettered),
            dropped: get(&self.dropped),
            overflowed: get(&self.overflowed),
            hook_panics: get(&self.hook_panics),
            delivery_rate_per_sec: get(&self.delivered) as f64 / secs,
            last_delivery_at: self.last_delivery.lock().ok().and_then(|l| *l),
            last_error_at,
            last_error,
            spool,
        }
    }
}

/// What a logger has done so far (also the content of `stats.json`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StatsSnapshot {
    /// When this snapshot was taken.
    pub written_at: DateTime<Utc>,
    /// When the logger started.
    pub started_at: DateTime<Utc>,
    /// Events passed to `log`.
    pub logged: u64,
    /// Events in the memory queue or the batch being built.
    pub queued: u64,
    /// Events the sink stored (directly or from the spool).
    pub delivered: u64,
    /// Events written to the spool.
    pub spooled: u64,
    /// Events delivered from the spool.
    pub replayed: u64,
    /// Events the sink refused as invalid (in the dead-letter file).
    pub dead_lettered: u64,
    /// Events lost because neither the queue nor the spool could take them.
    pub dropped: u64,
    /// Events that found the memory queue full and went straight to the spool.
    pub overflowed: u64,
    /// Panics of application hooks (redaction) that were contained.
    pub hook_panics: u64,
    /// Average delivery rate since start, events per second.
    pub delivery_rate_per_sec: f64,
    /// When the sink last stored something.
    pub last_delivery_at: Option<DateTime<Utc>>,
    /// When the last delivery error happened.
    pub last_error_at: Option<DateTime<Utc>>,
    /// The last delivery error.
    pub last_error: Option<String>,
    /// The spool's state.
    pub spool: Option<SpoolState>,
}

impl StatsSnapshot {
    /// Writes the snapshot to `DIR/stats.json` (atomically).
    pub fn write_to(&self, dir: &Path) -> std::io::Result<()> {
        let tmp = dir.join("stats.json.tmp");
        std::fs::write(&tmp, serde_json::to_vec_pretty(self).unwrap_or_default())?;
        std::fs::rename(tmp, dir.join("stats.json"))
    }

    /// Reads `DIR/stats.json`, if a logger wrote one.
    pub fn read_from(dir: &Path) -> Option<Self> {
        serde_json::from_slice(&std::fs::read(dir.join("stats.json")).ok()?).ok()
    }
}
