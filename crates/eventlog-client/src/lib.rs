//! In-app event logging for Rust services.
//!
//! An [`EventLogger`] is a cheap cloneable handle: [`EventLogger::log`] stamps the event
//! and queues it without blocking, failing or panicking. A background worker batches
//! events (100 or 5 s by default), masks secrets ([`eventlog_core::redact`]), and delivers
//! them to a [`Sink`]: straight into a store ([`StoreSink`]) or to an `eventlog serve`
//! ([`HttpSink`]). When the sink is down the batches go to a durable [`Spool`] and are
//! replayed in order with backoff; events the sink refuses as invalid go to
//! [`DeadLetters`] with the reason. Event ids are assigned at `log` time, so a replay is
//! recognised by the store as a repeat: every event is stored exactly once.
//!
//! ```no_run
//! use eventlog_client::{EventLogger, LoggerConfig, HttpSink, AuthAction};
//! # async fn run() -> Result<(), eventlog_client::ClientError> {
//! let sink = HttpSink::new("http://127.0.0.1:8470", "KEY")?;
//! let logger = EventLogger::start(LoggerConfig::new("/var/lib/myapp/spool").source("myapp"), sink)?;
//! logger.log_auth_event(AuthAction::LoginSucceeded, "budi", Some("7"), None);
//! logger.shutdown().await; // delivered or on disk
//! # Ok(()) }
//! ```

#![deny(unreachable_pub)]

mod backoff;
mod dead_letter;
pub mod domain;
mod error;
mod event;
mod logger;
mod request_context;
pub mod sink;
pub mod spool;
mod stats;
mod worker;

pub use backoff::Backoff;
pub use dead_letter::{DeadLetter, DeadLetters};
pub use domain::{crud_event, Actor, AuthAction, CrudAction};
pub use error::ClientError;
pub use event::Event;
pub use eventlog_core::redact::PartialMasking;
pub use eventlog_core::Severity;
pub use logger::{EventLogger, LoggerConfig, RedactHook};
pub use request_context::RequestContext;
pub use sink::{HttpSink, Rejection, Sink, SinkError, StoreSink};
pub use spool::{CheckReport, FsyncPolicy, Spool, SpoolConfig, SpoolState};
pub use stats::StatsSnapshot;
