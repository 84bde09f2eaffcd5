//! The ingest path after validation: a bounded queue and the group-commit writer.
//!
//! Bounded by events, not requests: a request takes as many permits as it has events and
//! gives them back when its transaction has committed (or failed). When no permits are
//! left the request is refused with 503 + `Retry-After` at once; memory never grows with
//! load.

mod queue;
mod writer;

pub use queue::{IngestQueue, QueueFull, QueueStats, WriteFailed};
pub use writer::GroupCommitWriter;
