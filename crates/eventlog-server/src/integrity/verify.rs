//! Re-walking the chain: `eventlog verify` and `GET /api/integrity/verify`.
//!
//! Order of checks: the checkpoints' signature chain (each must be signed by the trusted
//! key and cite its predecessor's signature, so a deleted checkpoint breaks the next), the
//! pruning records' signatures, then every chained event in position order: positions
//! contiguous (a gap is a deletion unless signed pruning records cover its segment, a repeat
//! is an insertion), storage order following chain order (else reordered), the recomputed
//! record hash equal to the stored one and the link equal to the recomputed one (else
//! modified), the chain equal to each signed checkpoint, and each segment's event count
//! and leaf sum, plus what retention pruned, equal to what the checkpoint signed.

use std::collections::HashMap;

use chrono::{DateTime, Utc};
use ed25519_dalek::{Signature, VerifyingKey};
use eventlog_core::integrity::{
    chain_link, checkpoint_message, pruning_message, record_hash, Hash, LeafSum, GENESIS,
};
use eventlog_store::{Checkpoint, Store};
use serde::Serialize;

use super::IntegrityError;

/// Events read per page.
const PAGE: u32 = 2_000;

/// The first broken link found.
#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Tamper {
    /// An event's stored content or links differ from what was committed.
    Modified {
        /// The event.
        event_id: String,
        /// Its chain position.
        pos: i64,
        /// What differs.
        detail: String,
    },
    /// Chain positions are missing and no signed pruning record accounts for them.
    Deleted {
        /// First missing position.
        from_pos: i64,
        /// Last missing position.
        to_pos: i64,
        /// The surviving event right after the gap, if any.
        before_event_id: Option<String>,
    },
    /// A row was added behind eventlog's back.
    Inserted {
        /// The added event.
        event_id: String,
        /// Why it is not part of the chain.
        detail: String,
    },
    /// Events are stored in another order than they were committed.
    Reordered {
        /// The event out of place.
        event_id: String,
        /// Its chain position.
        pos: i64,
        /// Where it is.
        detail: String,
    },
    /// A checkpoint or pruning record is missing, forged or contradicts the events.
    Checkpoint {
        /// The position it covers.
        pos: i64,
        /// What is wrong.
        detail: String,
    },
}

impl std::fmt::Display for Tamper {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Tamper::Modified {
                event_id,
                pos,
                detail,
            } => {
                write!(
                    f,
                    "event `{event_id}` (chain position {pos}) was modified: {detail}"
                )
            }
            Tamper::Deleted {
                from_pos,
                to_pos,
                before_event_id,
            } => {
                write!(
                    f,
                    "deleted: chain position(s) {from_pos}..={to_pos} are missing"
                )?;
                match before_event_id {
                    Some(id) => write!(f, " (the event(s) right before `{id}`)"),
                    None => write!(f, " (the newest events of their segment)"),
                }
            }
            Tamper::Inserted { event_id, detail } => {
                write!(f, "event `{event_id}` was inserted: {detail}")
            }
            Tamper::Reordered {
                event_id,
                pos,
                detail,
            } => {
                write!(
                    f,
                    "event `{event_id}` (chain position {pos}) was reordered: {detail}"
                )
            }
            Tamper::Checkpoint { pos, detail } => {
                write!(f, "checkpoint at chain position {pos}: {detail}")
            }
        }
    }
}

/// What a verification found.
#[derive(Debug, Clone, Default, Serialize, utoipa::ToSchema)]
pub struct VerifyReport {
    /// True when nothing was found wrong.
    pub ok: bool,
    /// Events whose hash and link were checked.
    pub events_checked: u64,
    /// Signed checkpoints checked.
    pub checkpoints_checked: u64,
    /// Events removed by retention and accounted for by signed pruning records.
    pub pruned_accounted: i64,
    /// Position verification started after (0: the whole chain).
    pub from_pos: i64,
    /// Last chain position.
    pub head_pos: i64,
    /// When the newest checkpoint was signed.
    pub last_checkpoint_at: Option<DateTime<Utc>>,
    /// Events after the newest checkpoint: chained but not yet signed.
    pub unsigned_events: i64,
    /// The first broken link, if any.
    pub tamper: Option<Tamper>,
}

fn signed_by(key: &VerifyingKey, message: &[u8], signature: &[u8]) -> bool {
    Signature::from_slice(signature)
        .map(|sig| key.verify_strict(message, &sig).is_ok())
        .unwrap_or(false)
}

/// Per segment (by its checkpoint's index): events pruned and their leaf sum.
type Pruned = HashMap<usize, (i64, LeafSum)>;

fn check_signatures(
    key: &VerifyingKey,
    cps: &[Checkpoint],
    prunings: &[eventlog_store::Pruning],
) -> Result<Pruned, Tamper> {
    let mut prev: Option<&Checkpoint> = None;
    for cp in cps {
        let bad = |detail: &str| Tamper::Checkpoint {
            pos: cp.pos,
            detail: detail.to_owned(),
        };
        if cp.prev_signature.as_deref() != prev.map(|p| p.signature.as_slice()) {
            return Err(bad("it does not cite the previous checkpoint's signature: a checkpoint before it was deleted or altered"));
        }
        if prev.is_some_and(|p| p.pos >= cp.pos) {
            return Err(bad("checkpoints are out of order"));
        }
        let message = checkpoint_message(
            cp.pos,
            &cp.chain_hash,
            &cp.leaf_sum,
            cp.created_at.timestamp_micros(),
            cp.prev_signature.as_deref(),
        );
        if !signed_by(key, &message, &cp.signature) {
            return Err(bad(
                "its signature does not verify with the trusted key: it was forged or altered",
            ));
        }
        prev = Some(cp);
    }
    let mut pruned = Pruned::new();
    for p in prunings {
        let bad = |detail: &str| Tamper::Checkpoint {
            pos: p.to_pos,
            detail: detail.to_owned(),
        };
        let message = pruning_message(
            p.from_pos,
            p.to_pos,
            p.pruned,
            &p.leaf_sum,
            &p.severity,
            p.cutoff.timestamp_micros(),
            p.created_at.timestamp_micros(),
        );
        if !signed_by(key, &message, &p.signature) {
            return Err(bad(
                "a pruning record's signature does not verify: it was forged or altered",
            ));
        }
        let idx = cps.iter().position(|c| c.pos == p.to_pos);
        let from_ok =
            idx.is_some_and(|i| p.from_pos == if i == 0 { 1 } else { cps[i - 1].pos + 1 });
        let Some(idx) = idx.filter(|_| from_ok) else {
            return Err(bad("a pruning record does not match a checkpoint segment"));
        };
        let entry = pruned.entry(idx).or_default();
        entry.0 += p.pruned;
        entry.1.add(&p.leaf_sum);
    }
    Ok(pruned)
}

/// The walk's running state.
struct Walk<'a> {
    cps: &'a [Checkpoint],
    pruned: &'a Pruned,
    /// Index of the checkpoint closing the current segment.
    next_cp: usize,
    seg_from: i64,
    seg_base: LeafSum,
    seg_count: i64,
    seg_sum: LeafSum,
}

impl Walk<'_> {
    /// Index of the segment (checkpoint) holding `pos`.
    fn segment_of(&self, pos: i64) -> Option<usize> {
        let i = self.cps.partition_point(|c| c.pos < pos);
        (i < self.cps.len()).then_some(i)
    }

    /// Whether signed pruning records cover every segment of positions `from..=to`.
    fn gap_pruned(&self, from: i64, to: i64) -> bool {
        match (self.segment_of(from), self.segment_of(to)) {
            (Some(a), Some(b)) => (a..=b).all(|i| self.pruned.contains_key(&i)),
            _ => false,
        }
    }

    /// Closes the current segment: remaining + pruned must equal what its checkpoint signed.
    /// `first_missing` is the position after the last event seen.
    fn close_segment(
        &mut self,
        report: &mut VerifyReport,
        first_missing: i64,
    ) -> Result<(), Tamper> {
        let cp = &self.cps[self.next_cp];
        let (pruned, pruned_sum) = self.pruned.get(&self.next_cp).copied().unwrap_or_default();
        let expected = cp.pos - self.seg_from + 1;
        if self.seg_count + pruned < expected {
            return Err(Tamper::Deleted {
                from_pos: first_missing.clamp(self.seg_from, cp.pos),
                to_pos: cp.pos,
                before_event_id: None,
            });
        }
        let mut sum = self.seg_sum;
        sum.add(&pruned_sum);
        if self.seg_count + pruned != expected || sum != cp.leaf_sum.minus(&self.seg_base) {
            return Err(Tamper::Checkpoint {
                pos: cp.pos,
                detail: format!(
                    "the events of positions {}..={} no longer add up to what was signed at {}: events were altered and re-hashed, or a pruning record is false",
                    self.seg_from, cp.pos, cp.created_at
                ),
            });
        }
        report.pruned_accounted += pruned;
        report.checkpoints_checked += 1;
        self.seg_from = cp.pos + 1;
        self.seg_base = cp.leaf_sum;
        self.seg_count = 0;
        self.seg_sum = LeafSum::default();
        self.next_cp += 1;
        Ok(())
    }
}

/// Verifies the chain of `store` with the trusted `key`, from the last checkpoint signed
/// at or before `since` (or from the start). `progress(done, total)` is called per page.
pub async fn verify(
    store: &dyn Store,
    key: &VerifyingKey,
    since: Option<DateTime<Utc>>,
    progress: &mut (dyn FnMut(u64, u64) + Send),
) -> Result<VerifyReport, IntegrityError> {
    let cps = store.checkpoints().await?;
    let prunings = store.prunings().await?;
    let head = store.chain_head().await?;
    let mut report = VerifyReport {
        head_pos: head.pos,
        last_checkpoint_at: cps.last().map(|c| c.created_at),
        unsigned_events: head.pos - cps.last().map_or(0, |c| c.pos),
        ..Default::default()
    };
    match walk(store, key, since, &cps, &prunings, &mut report, progress).await? {
        Ok(()) => {
            if let Some((_, event_id)) = store.first_unchained().await? {
                report.tamper = Some(Tamper::Inserted {
                    event_id,
                    detail: "it has no chain position although it was stored after chaining began"
                        .into(),
                });
            }
        }
        Err(tamper) => report.tamper = Some(tamper),
    }
    report.ok = report.tamper.is_none();
    Ok(report)
}

async fn walk(
    store: &dyn Store,
    key: &VerifyingKey,
    since: Option<DateTime<Utc>>,
    cps: &[Checkpoint],
    prunings: &[eventlog_store::Pruning],
    report: &mut VerifyReport,
    progress: &mut (dyn FnMut(u64, u64) + Send),
) -> Result<Result<(), Tamper>, IntegrityError> {
    let pruned = match check_signatures(key, cps, prunings) {
        Ok(p) => p,
        Err(t) => return Ok(Err(t)),
    };
    let anchor = since.and_then(|t| cps.iter().rposition(|c| c.created_at <= t));
    let (start_pos, mut prev_hash, base): (i64, Hash, LeafSum) = match anchor {
        Some(i) => (cps[i].pos, cps[i].chain_hash, cps[i].leaf_sum),
        None => (0, GENESIS, LeafSum::default()),
    };
    report.from_pos = start_pos;
    let mut w = Walk {
        cps,
        pruned: &pruned,
        next_cp: anchor.map_or(0, |i| i + 1),
        seg_from: start_pos + 1,
        seg_base: base,
        seg_count: 0,
        seg_sum: LeafSum::default(),
    };
    let total = u64::try_from(report.head_pos - start_pos).unwrap_or(0);
    let mut expected = start_pos + 1;
    let mut prev: Option<(i64, String)> = None;
    let mut after = (start_pos, i64::MAX);
    loop {
        let rows = store.chain_rows(after, PAGE).await?;
        if rows.is_empty() {
            break;
        }
        for row in rows {
            after = (row.pos, row.seq);
            let id = row.event_id.clone();
            if row.pos < expected {
                let holder = prev.as_ref().map_or("another event", |(_, id)| id.as_str());
                return Ok(Err(Tamper::Inserted {
                    event_id: id,
                    detail: format!(
                        "it claims chain position {}, already held by `{holder}`",
                        row.pos
                    ),
                }));
            }
            let relinked = row.pos > expected;
            if relinked && !w.gap_pruned(expected, row.pos - 1) {
                return Ok(Err(Tamper::Deleted {
                    from_pos: expected,
                    to_pos: row.pos - 1,
                    before_event_id: Some(id),
                }));
            }
            while w.next_cp < cps.len() && cps[w.next_cp].pos < row.pos {
                if let Err(t) = w.close_segment(report, expected) {
                    return Ok(Err(t));
                }
            }
            if let Some((prev_seq, prev_id)) = &prev {
                if row.seq < *prev_seq {
                    return Ok(Err(Tamper::Reordered {
                        event_id: id,
                        pos: row.pos,
                        detail: format!(
                            "it is stored before `{prev_id}`, which was committed before it"
                        ),
                    }));
                }
            }
            let event = match &row.event {
                Ok(event) => event,
                Err(why) => {
                    return Ok(Err(Tamper::Modified {
                        event_id: id,
                        pos: row.pos,
                        detail: format!("its stored content cannot be read ({why})"),
                    }))
                }
            };
            let rh = record_hash(&event.record);
            if row.record_hash != Some(rh) {
                return Ok(Err(Tamper::Modified {
                    event_id: id,
                    pos: row.pos,
                    detail: "its content no longer matches the hash taken when it was committed"
                        .into(),
                }));
            }
            let Some(stored_link) = row.chain_hash else {
                return Ok(Err(Tamper::Modified {
                    event_id: id,
                    pos: row.pos,
                    detail: "its chain link was erased".into(),
                }));
            };
            if !relinked
                && stored_link != chain_link(&prev_hash, &rh, row.pos, row.created_at_micros)
            {
                return Ok(Err(Tamper::Modified {
                    event_id: id,
                    pos: row.pos,
                    detail: "its commit time (created_at) or chain link was altered".into(),
                }));
            }
            prev_hash = stored_link;
            w.seg_count += 1;
            w.seg_sum.add_event(&rh, row.pos);
            if w.next_cp < cps.len() && cps[w.next_cp].pos == row.pos {
                if cps[w.next_cp].chain_hash != stored_link {
                    return Ok(Err(Tamper::Checkpoint {
                        pos: row.pos,
                        detail: format!(
                            "the chain differs from the one signed at {}: events up to position {} were altered and re-hashed",
                            cps[w.next_cp].created_at, row.pos
                        ),
                    }));
                }
                if let Err(t) = w.close_segment(report, expected) {
                    return Ok(Err(t));
                }
            }
            expected = row.pos + 1;
            prev = Some((row.seq, id));
            report.events_checked += 1;
        }
        progress(report.events_checked, total);
    }
    while w.next_cp < cps.len() {
        if let Err(t) = w.close_segment(report, expected) {
            return Ok(Err(t));
        }
    }
    if expected <= report.head_pos {
        return Ok(Err(Tamper::Deleted {
            from_pos: expected,
            to_pos: report.head_pos,
            before_event_id: None,
        }));
    }
    Ok(Ok(()))
}
