//! The pure core of eventlog: what an event is, how raw client JSON becomes a
//! [`ValidatedEvent`], the event catalog, readable event ids, canonical content hashing,
//! attack detection ([`detect`]) and the endpoint templates reports group by ([`route`]).
//!
//! This crate does no I/O: no files, no network, no clock reads except through the `now`
//! arguments callers pass in, so every rule here is testable in isolation.

#![deny(unreachable_pub)]

pub mod canonical;
pub mod catalog;
pub mod detect;
mod error;
pub mod event;
pub mod id;
pub mod integrity;
pub mod jcs;
pub mod net;
pub mod parse;
pub mod redact;
pub mod route;
pub mod validate;

pub use catalog::{Catalog, CatalogEntry};
pub use error::{CoreError, FieldError};
pub use event::{EventRecord, Importance, Severity, StoredEvent, ValidatedEvent};
pub use id::EventIdGenerator;
pub use parse::{parse_batch, parse_event, RawEvent};
pub use validate::{UnknownCodePolicy, ValidationPolicy, Validator};
