//! Tamper evidence, the pure part: what is hashed for each event, how hashes are chained,
//! the multiset sum that lets retention delete events without breaking verification, and
//! the exact bytes a checkpoint or a pruning record signs.
//!
//! Exactly what is hashed (`record_hash`): SHA-256 over the RFC 8785 (JCS) form of the
//! event as stored, i.e. the JSON object of every [`EventRecord`] field that is present
//! (absent optional fields are left out, `tags` is always there, possibly `[]`),
//! with `timestamp` as integer microseconds since the Unix epoch (the precision stored) and
//! `ip_address` in its canonical text form. `created_at`/`processed_at` are not part of the
//! record hash; the chain link covers `created_at` instead.
//!
//! The chain: `chain_hash(n) = SHA-256("eventlog-chain-v1" || chain_hash(n-1) ||
//! record_hash(n) || be64(n) || be64(created_at_micros(n)))`, with 32 zero bytes before
//! position 1. Positions are contiguous (1, 2, 3, ...) in commit order.
//!
//! Nothing here does I/O; signing and storage live in the store and server crates.

use sha2::{Digest, Sha256};

use crate::event::EventRecord;
use crate::jcs::{write_f64, write_jcs, write_string};

/// A SHA-256 digest.
pub type Hash = [u8; 32];

/// The link before the first event.
pub const GENESIS: Hash = [0; 32];

/// The JCS bytes of `record` as described in the module docs. Written field by field
/// (members in sorted order) because it runs for every event committed.
pub fn record_jcs(record: &EventRecord) -> Vec<u8> {
    let r = record;
    let mut out = Vec::with_capacity(1024);
    out.push(b'{');
    let mut first = true;
    let mut key = |out: &mut Vec<u8>, name: &str| {
        if !first {
            out.push(b',');
        }
        first = false;
        write_string(name, out);
        out.push(b':');
    };
    macro_rules! text {
        ($($name:ident),*) => {$(
            key(&mut out, stringify!($name));
            write_string(&r.$name, &mut out);
        )*};
    }
    macro_rules! opt_text {
        ($($name:ident),*) => {$(
            if let Some(v) = &r.$name {
                key(&mut out, stringify!($name));
                write_string(v, &mut out);
            }
        )*};
    }
    macro_rules! opt_json {
        ($($name:ident),*) => {$(
            if let Some(v) = &r.$name {
                key(&mut out, stringify!($name));
                write_jcs(v, &mut out);
            }
        )*};
    }
    // Member names are ASCII, so byte order is UTF-16 order; a test checks this list is
    // sorted and complete.
    text!(action);
    opt_text!(correlation_id, endpoint, error_code, error_message);
    text!(event_category);
    opt_text!(event_code, event_description);
    text!(event_id, event_name, event_type);
    opt_text!(http_method);
    if let Some(v) = r.http_status {
        key(&mut out, "http_status");
        out.extend_from_slice(v.to_string().as_bytes());
    }
    key(&mut out, "importance");
    write_string(r.importance.as_str(), &mut out);
    if let Some(ip) = r.ip_address {
        key(&mut out, "ip_address");
        write_string(&ip.to_string(), &mut out);
    }
    opt_json!(metadata);
    if let Some(v) = r.processing_time_ms {
        key(&mut out, "processing_time_ms");
        write_f64(v, &mut out);
    }
    if let Some(related) = &r.related {
        key(&mut out, "related");
        write_jcs(&serde_json::Value::Object(related.clone()), &mut out);
    }
    opt_json!(request_data);
    opt_text!(resource_id, resource_name, resource_type);
    opt_json!(response_data);
    opt_text!(session_id);
    key(&mut out, "severity");
    write_string(r.severity.as_str(), &mut out);
    opt_text!(source);
    text!(status);
    key(&mut out, "tags");
    out.push(b'[');
    for (i, tag) in r.tags.iter().enumerate() {
        if i > 0 {
            out.push(b',');
        }
        write_string(tag, &mut out);
    }
    out.push(b']');
    opt_text!(tenant_id);
    key(&mut out, "timestamp");
    out.extend_from_slice(r.timestamp.timestamp_micros().to_string().as_bytes());
    opt_text!(user_agent, user_id, user_role, username);
    out.push(b'}');
    out
}

/// SHA-256 of [`record_jcs`].
pub fn record_hash(record: &EventRecord) -> Hash {
    Sha256::digest(record_jcs(record)).into()
}

/// The chain hash at position `pos`, following `prev`.
pub fn chain_link(prev: &Hash, record_hash: &Hash, pos: i64, created_at_micros: i64) -> Hash {
    let mut h = Sha256::new();
    h.update(b"eventlog-chain-v1");
    h.update(prev);
    h.update(record_hash);
    h.update(pos.to_be_bytes());
    h.update(created_at_micros.to_be_bytes());
    h.finalize().into()
}

/// A multiset hash: the sum modulo 2^256 of one leaf per event (`SHA-256("eventlog-leaf-v1"
/// || record_hash || be64(pos))`). Order-free, so a segment's sum is the remaining events'
/// sum plus the pruned events' sum, whatever retention deleted.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct LeafSum(pub Hash);

impl LeafSum {
    /// The leaf of one event.
    pub fn leaf(record_hash: &Hash, pos: i64) -> Hash {
        let mut h = Sha256::new();
        h.update(b"eventlog-leaf-v1");
        h.update(record_hash);
        h.update(pos.to_be_bytes());
        h.finalize().into()
    }

    /// Adds one event's leaf.
    pub fn add_event(&mut self, record_hash: &Hash, pos: i64) {
        self.add(&LeafSum(Self::leaf(record_hash, pos)));
    }

    /// `self += other` (mod 2^256, big-endian).
    pub fn add(&mut self, other: &LeafSum) {
        let mut carry = 0u16;
        for i in (0..32).rev() {
            let s = u16::from(self.0[i]) + u16::from(other.0[i]) + carry;
            self.0[i] = s as u8;
            carry = s >> 8;
        }
    }

    /// `self - other` (mod 2^256): the sum of a segment from two cumulative sums.
    pub fn minus(&self, other: &LeafSum) -> LeafSum {
        let mut out = [0u8; 32];
        let mut borrow = 0i16;
        for i in (0..32).rev() {
            let mut d = i16::from(self.0[i]) - i16::from(other.0[i]) - borrow;
            borrow = 0;
            if d < 0 {
                d += 256;
                borrow = 1;
            }
            out[i] = d as u8;
        }
        LeafSum(out)
    }
}

/// What a checkpoint signs: the chain up to `pos`, the cumulative leaf sum of positions
/// 1..=pos, when it was made, and the previous checkpoint's signature (none for the first),
/// so a deleted or altered checkpoint breaks the next one.
pub fn checkpoint_message(
    pos: i64,
    chain_hash: &Hash,
    leaf_sum: &LeafSum,
    created_at_micros: i64,
    prev_signature: Option<&[u8]>,
) -> Vec<u8> {
    let mut m = Vec::with_capacity(200);
    m.extend_from_slice(b"eventlog-checkpoint-v1");
    m.extend_from_slice(&pos.to_be_bytes());
    m.extend_from_slice(chain_hash);
    m.extend_from_slice(&leaf_sum.0);
    m.extend_from_slice(&created_at_micros.to_be_bytes());
    match prev_signature {
        Some(sig) => {
            m.push(1);
            m.extend_from_slice(sig);
        }
        None => m.push(0),
    }
    m
}

/// What a pruning record signs: retention deleted `count` events with leaf sum `sum` from
/// the segment of positions `from_pos..=to_pos` (two consecutive checkpoints), because they
/// were older than `cutoff_micros` for their severity `severity`.
pub fn pruning_message(
    from_pos: i64,
    to_pos: i64,
    count: i64,
    sum: &LeafSum,
    severity: &str,
    cutoff_micros: i64,
    created_at_micros: i64,
) -> Vec<u8> {
    let mut m = Vec::with_capacity(128);
    m.extend_from_slice(b"eventlog-pruning-v1");
    m.extend_from_slice(&from_pos.to_be_bytes());
    m.extend_from_slice(&to_pos.to_be_bytes());
    m.extend_from_slice(&count.to_be_bytes());
    m.extend_from_slice(&sum.0);
    m.extend_from_slice(&(severity.len() as u64).to_be_bytes());
    m.extend_from_slice(severity.as_bytes());
    m.extend_from_slice(&cutoff_micros.to_be_bytes());
    m.extend_from_slice(&created_at_micros.to_be_bytes());
    m
}

#[cfg(test)]
mod tests;
