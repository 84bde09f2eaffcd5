//! Where batches go: directly into a store ([`StoreSink`]) or to an `eventlog` server's
//! batch API ([`HttpSink`]). A sink either stores the whole batch, refuses named events as
//! invalid (nothing stored; the logger dead-letters them and re-sends the rest), refuses it
//! as too large (nothing stored; the logger sends it again in halves, and dead-letters an
//! event too large on its own), or is unavailable (nothing stored; the logger spools and
//! retries).

mod http;
mod store;

use async_trait::async_trait;

pub use self::http::HttpSink;
pub use self::store::StoreSink;
use crate::Event;

/// One event of a batch refused as invalid.
#[derive(Debug, Clone, PartialEq)]
pub struct Rejection {
    /// Its position in the batch.
    pub index: usize,
    /// Why, in the sink's words.
    pub reason: String,
}

/// Why a batch was not stored.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum SinkError {
    /// The sink could not take the batch now (down, overloaded, schema mismatch, auth):
    /// retry later, the batch is fine.
    #[error("sink unavailable: {0}")]
    Unavailable(String),
    /// These events are invalid; nothing of the batch was stored.
    #[error("{} events refused as invalid", .0.len())]
    Rejected(Vec<Rejection>),
    /// The batch is larger than the sink takes (an HTTP 413); nothing of it was stored.
    #[error("batch too large: {0}")]
    TooLarge(String),
}

/// A destination for batches of events. Delivery must be idempotent by event id: the
/// same event delivered twice is stored once.
#[async_trait]
pub trait Sink: Send + Sync + 'static {
    /// Stores `events` (all or nothing) or says why not.
    async fn deliver(&self, events: &[Event]) -> Result<(), SinkError>;

    /// A short name for messages (`store:postgres`, `http://host:port`).
    fn describe(&self) -> String;
}
