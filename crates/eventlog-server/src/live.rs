//! The live tail: every newly committed event, fanned out to `GET /api/events/stream`
//! subscribers.
//!
//! The group-commit writer publishes into a bounded `tokio::sync::broadcast` channel after
//! each commit. Publishing never waits: a subscriber that falls more than the buffer behind
//! loses the oldest events and is told how many (the stream sends a `lagged` event), so a
//! slow browser or `curl` can never hold up ingest.

use std::sync::Arc;

use chrono::{DateTime, Utc};
use eventlog_core::event::stored_precision;
use eventlog_core::{StoredEvent, ValidatedEvent};
use tokio::sync::{broadcast, watch};

/// Publisher and subscription point of the live tail. Cheap to clone.
#[derive(Clone)]
pub struct LiveTail {
    events: broadcast::Sender<Arc<StoredEvent>>,
    /// Flipped to true when the server shuts down, so open streams end and the graceful
    /// shutdown does not wait on them forever.
    closed: Arc<watch::Sender<bool>>,
}

/// One subscriber: its receiver and the shutdown signal.
pub struct LiveSubscription {
    /// Committed events, oldest first.
    pub events: broadcast::Receiver<Arc<StoredEvent>>,
    /// Becomes true when the server stops.
    pub closed: watch::Receiver<bool>,
}

impl LiveTail {
    /// A live tail keeping at most `buffer` events for a subscriber that is behind.
    pub fn new(buffer: usize) -> Self {
        let (events, _) = broadcast::channel(buffer.max(1));
        Self {
            events,
            closed: Arc::new(watch::channel(false).0),
        }
    }

    /// Whether anyone is listening (the writer skips the copies when nobody is).
    pub fn watched(&self) -> bool {
        self.events.receiver_count() > 0
    }

    /// Publishes committed events (called by the writer after the commit), as a read
    /// returns them: stored at `committed_at`, times to the microsecond.
    pub fn publish<'a>(
        &self,
        committed: impl IntoIterator<Item = &'a ValidatedEvent>,
        committed_at: Option<DateTime<Utc>>,
    ) {
        if !self.watched() {
            return;
        }
        let at = committed_at.unwrap_or_else(Utc::now);
        for event in committed {
            let mut record = event.record().clone();
            record.timestamp = stored_precision(record.timestamp);
            // An error only means every subscriber left meanwhile.
            let _ = self.events.send(Arc::new(StoredEvent {
                record,
                created_at: at,
                processed_at: at,
            }));
        }
    }

    /// A new subscriber, receiving events committed from now on.
    pub fn subscribe(&self) -> LiveSubscription {
        LiveSubscription {
            events: self.events.subscribe(),
            closed: self.closed.subscribe(),
        }
    }

    /// Ends every open stream (server shutdown).
    pub fn close(&self) {
        self.closed.send_replace(true);
    }
}
