use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};
use std::sync::Arc;

use eventlog_core::ValidatedEvent;
use eventlog_store::RequestOutcome;
use tokio::sync::{mpsc, oneshot, OwnedSemaphorePermit, Semaphore};

/// One request waiting for the writer.
pub(super) struct Pending {
    pub(super) events: Vec<ValidatedEvent>,
    pub(super) reply: oneshot::Sender<Result<RequestOutcome, WriteFailed>>,
    pub(super) permits: OwnedSemaphorePermit,
    /// Events the detectors derived: stored like any other, never fed back to them.
    pub(super) derived: bool,
    /// When it was queued (the rollup-lag metric: queued to committed).
    pub(super) queued_at: std::time::Instant,
}

/// The writer could not commit the request (the store failed); nothing of it was stored.
#[derive(Debug, Clone)]
pub struct WriteFailed {
    /// Whether the store was unreachable (retry later) rather than refusing the data.
    pub unavailable: bool,
    /// What happened.
    pub message: String,
}

/// The queue has no room for this many events now.
#[derive(Debug, Clone, Copy)]
pub struct QueueFull;

/// Figures about the queue, for `health` and metrics.
#[derive(Debug, Clone, Copy, serde::Serialize, utoipa::ToSchema)]
pub struct QueueStats {
    /// Events waiting for or being written.
    pub depth: usize,
    /// Most events that may wait.
    pub capacity: usize,
    /// Events committed since start.
    pub committed_events: u64,
    /// Transactions committed since start.
    pub commits: u64,
    /// When the last commit finished (ms since the epoch), 0 if none yet.
    #[serde(skip)]
    pub last_commit_ms: i64,
}

#[derive(Debug, Default)]
pub(super) struct Counters {
    pub(super) committed_events: AtomicU64,
    pub(super) commits: AtomicU64,
    pub(super) last_commit_ms: AtomicI64,
}

/// The sending side: handlers submit validated events and await the commit.
#[derive(Clone)]
pub struct IngestQueue {
    tx: mpsc::UnboundedSender<Pending>,
    permits: Arc<Semaphore>,
    capacity: usize,
    pub(super) counters: Arc<Counters>,
}

impl IngestQueue {
    /// A queue for `capacity` events and the receiving end for the writer.
    pub(super) fn new(capacity: usize) -> (Self, mpsc::UnboundedReceiver<Pending>) {
        let (tx, rx) = mpsc::unbounded_channel();
        let queue = Self {
            tx,
            permits: Arc::new(Semaphore::new(capacity)),
            capacity,
            counters: Arc::new(Counters::default()),
        };
        (queue, rx)
    }

    /// Queues `events` as one request. The receiver resolves once they are committed.
    pub fn submit(
        &self,
        events: Vec<ValidatedEvent>,
    ) -> Result<oneshot::Receiver<Result<RequestOutcome, WriteFailed>>, QueueFull> {
        self.enqueue(events, false)
    }

    /// Queues events that detection derived (see [`crate::detection`]).
    pub(crate) fn submit_derived(
        &self,
        events: Vec<ValidatedEvent>,
    ) -> Result<oneshot::Receiver<Result<RequestOutcome, WriteFailed>>, QueueFull> {
        self.enqueue(events, true)
    }

    fn enqueue(
        &self,
        events: Vec<ValidatedEvent>,
        derived: bool,
    ) -> Result<oneshot::Receiver<Result<RequestOutcome, WriteFailed>>, QueueFull> {
        let n = u32::try_from(events.len().max(1)).map_err(|_| QueueFull)?;
        let permits = self
            .permits
            .clone()
            .try_acquire_many_owned(n)
            .map_err(|_| QueueFull)?;
        let (reply, rx) = oneshot::channel();
        self.tx
            .send(Pending {
                events,
                reply,
                permits,
                derived,
                queued_at: std::time::Instant::now(),
            })
            .map_err(|_| QueueFull)?;
        Ok(rx)
    }

    /// Current figures.
    pub fn stats(&self) -> QueueStats {
        QueueStats {
            depth: self.capacity - self.permits.available_permits(),
            capacity: self.capacity,
            committed_events: self.counters.committed_events.load(Ordering::Relaxed),
            commits: self.counters.commits.load(Ordering::Relaxed),
            last_commit_ms: self.counters.last_commit_ms.load(Ordering::Relaxed),
        }
    }
}
