//! The stored side of tamper evidence: each committed event's chain link (computed inside
//! the write transaction, so every writer — server, CLI, several servers on one PostgreSQL —
//! extends the same chain), the chain head, signed checkpoints and retention's signed
//! pruning records. Signing and verification live in the server crate; this module only
//! stores and reads.

use chrono::{DateTime, Utc};
use eventlog_core::integrity::{chain_link, Hash, LeafSum, GENESIS};
use eventlog_core::{StoredEvent, ValidatedEvent};

use crate::StoreError;

/// The end of the chain: the last position, its chain hash and the cumulative leaf sum.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ChainHead {
    /// Last position used (0 before the first event).
    pub pos: i64,
    /// Chain hash at `pos` ([`GENESIS`] before the first event).
    pub hash: Hash,
    /// Sum of the leaves of positions 1..=pos.
    pub leaf_sum: LeafSum,
}

impl Default for ChainHead {
    fn default() -> Self {
        Self {
            pos: 0,
            hash: GENESIS,
            leaf_sum: LeafSum::default(),
        }
    }
}

impl ChainHead {
    /// The SQL (both stores) that reads the head's row; no row is the empty chain.
    pub(crate) const SELECT: &'static str =
        "SELECT chain_pos, chain_hash, leaf_sum FROM chain_head WHERE id = 1";

    /// The head from [`ChainHead::SELECT`]'s row.
    pub(crate) fn from_row(row: Option<(i64, Vec<u8>, Vec<u8>)>) -> Result<Self, StoreError> {
        Ok(match row {
            None => Self::default(),
            Some((pos, hash, sum)) => Self {
                pos,
                hash: hash32(hash, "chain_head.chain_hash")?,
                leaf_sum: LeafSum(hash32(sum, "chain_head.leaf_sum")?),
            },
        })
    }
}

/// One new event's chain columns.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Link {
    pub(crate) record_hash: Hash,
    pub(crate) pos: i64,
    pub(crate) chain_hash: Hash,
}

/// Links `events` (in commit order) after `head`, advancing it.
pub(crate) fn link_events<'a>(
    head: &mut ChainHead,
    events: impl Iterator<Item = &'a ValidatedEvent>,
    created_at_micros: i64,
) -> Vec<Link> {
    events
        .map(|event| {
            let record_hash = *event.record_hash();
            let pos = head.pos + 1;
            let chain_hash = chain_link(&head.hash, &record_hash, pos, created_at_micros);
            head.leaf_sum.add_event(&record_hash, pos);
            head.pos = pos;
            head.hash = chain_hash;
            Link {
                record_hash,
                pos,
                chain_hash,
            }
        })
        .collect()
}

/// A stored event with its chain columns, as verification reads it.
#[derive(Debug, Clone)]
pub struct ChainRow {
    /// Storage order.
    pub seq: i64,
    /// Chain position.
    pub pos: i64,
    /// Stored record hash (`None` if the column was emptied).
    pub record_hash: Option<Hash>,
    /// Stored chain hash.
    pub chain_hash: Option<Hash>,
    /// `created_at` in microseconds, as linked.
    pub created_at_micros: i64,
    /// The stored event id.
    pub event_id: String,
    /// The event as read back, or why it cannot be (a damaged row is evidence to report,
    /// not a reason for verification to stop).
    pub event: Result<StoredEvent, String>,
}

/// A signed statement that the chain reached `pos` with `chain_hash` and `leaf_sum`.
#[derive(Debug, Clone, PartialEq)]
pub struct Checkpoint {
    /// Last position covered.
    pub pos: i64,
    /// Chain hash at `pos`.
    pub chain_hash: Hash,
    /// Cumulative leaf sum of 1..=pos.
    pub leaf_sum: LeafSum,
    /// When it was made (microsecond precision).
    pub created_at: DateTime<Utc>,
    /// The previous checkpoint's signature (none for the first).
    pub prev_signature: Option<Vec<u8>>,
    /// The Ed25519 public key that signed it.
    pub public_key: Vec<u8>,
    /// Ed25519 signature over [`eventlog_core::integrity::checkpoint_message`].
    pub signature: Vec<u8>,
}

/// A signed statement by retention: it deleted `pruned` events, with leaf sum `leaf_sum`,
/// of severity `severity` older than `cutoff` from the segment `from_pos..=to_pos`.
#[derive(Debug, Clone, PartialEq)]
pub struct Pruning {
    /// First position of the segment.
    pub from_pos: i64,
    /// Last position of the segment (a checkpoint's position).
    pub to_pos: i64,
    /// Events deleted from the segment.
    pub pruned: i64,
    /// Their leaf sum.
    pub leaf_sum: LeafSum,
    /// Their severity.
    pub severity: String,
    /// The retention cutoff they were older than.
    pub cutoff: DateTime<Utc>,
    /// When retention ran.
    pub created_at: DateTime<Utc>,
    /// The Ed25519 public key that signed it.
    pub public_key: Vec<u8>,
    /// Ed25519 signature over [`eventlog_core::integrity::pruning_message`].
    pub signature: Vec<u8>,
}

/// An event removed by retention, as [`Pruning`] accounts for it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PrunedLeaf {
    /// Its chain position.
    pub pos: i64,
    /// Its stored record hash.
    pub record_hash: Hash,
}

pub(crate) fn hash32(bytes: Vec<u8>, what: &str) -> Result<Hash, StoreError> {
    bytes
        .try_into()
        .map_err(|_| StoreError::Corrupt(format!("{what} is not 32 bytes")))
}

pub(crate) fn opt_hash32(bytes: Option<Vec<u8>>) -> Option<Hash> {
    bytes.and_then(|b| b.try_into().ok())
}
