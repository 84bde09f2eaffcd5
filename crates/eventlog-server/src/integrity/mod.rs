//! Tamper evidence on the server: the Ed25519 checkpoint key, the task that signs a
//! checkpoint every N events or T seconds, [`verify`] (what `eventlog verify` and
//! `GET /api/integrity/verify` run), and [`Integrity::account_pruned`], the one function
//! retention calls so that deleting expired events keeps the chain verifiable.
//!
//! What each event's hash covers and how links are formed: `eventlog_core::integrity`.
//! Threat model and the checks in order: docs/security-access.md.

mod checkpointer;
mod key;
mod verify;

pub use checkpointer::{Integrity, IntegrityError, PruneTally, SegmentSum};
pub use key::{default_key_path, load_or_create_signing_key, load_verifying_key, signing_key_for};
pub use verify::{verify, Tamper, VerifyReport};
