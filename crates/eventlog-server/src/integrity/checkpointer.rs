//! Signing checkpoints (every N events or T seconds) and retention's pruning records.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use ed25519_dalek::{Signer, SigningKey, VerifyingKey};
use eventlog_core::event::stored_precision;
use eventlog_core::integrity::{checkpoint_message, pruning_message, LeafSum};
use eventlog_store::{Checkpoint, PrunedLeaf, Pruning, Store, StoreError};

/// Why a checkpoint, a pruning record or a verification could not be made.
#[derive(Debug, thiserror::Error)]
pub enum IntegrityError {
    /// The store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// The key file is missing, unreadable or malformed.
    #[error("checkpoint key: {0}")]
    Key(String),
    /// Retention asked to account for events no checkpoint covers yet.
    #[error("event at chain position {0} is not covered by a checkpoint: call Integrity::checkpoint before deleting")]
    NotCheckpointed(i64),
}

/// The signing side of tamper evidence, shared by the server's tasks and handlers.
pub struct Integrity {
    store: Arc<dyn Store>,
    key: SigningKey,
    /// One checkpoint at a time, so each cites its predecessor's signature.
    serial: tokio::sync::Mutex<()>,
}

impl Integrity {
    /// Signs with a key that lives only as long as this value: for what signs nothing (a
    /// dry run) or a server without a key file.
    pub fn ephemeral(store: Arc<dyn Store>) -> Self {
        Self::new(store, SigningKey::from_bytes(&rand::random::<[u8; 32]>()))
    }

    /// Signs checkpoints of `store` with `key`.
    pub fn new(store: Arc<dyn Store>, key: SigningKey) -> Self {
        Self {
            store,
            key,
            serial: tokio::sync::Mutex::new(()),
        }
    }

    /// The public key verifiers need.
    pub fn verifying_key(&self) -> VerifyingKey {
        self.key.verifying_key()
    }

    /// Signs a checkpoint of the current chain head, unless the last checkpoint already
    /// covers it. Returns the new checkpoint.
    pub async fn checkpoint(&self) -> Result<Option<Checkpoint>, IntegrityError> {
        let _one = self.serial.lock().await;
        let head = self.store.chain_head().await?;
        let last = self.store.checkpoints().await?.pop();
        if head.pos == 0 || last.as_ref().is_some_and(|c| c.pos >= head.pos) {
            return Ok(None);
        }
        let created_at = stored_precision(Utc::now());
        let prev_signature = last.map(|c| c.signature);
        let message = checkpoint_message(
            head.pos,
            &head.hash,
            &head.leaf_sum,
            created_at.timestamp_micros(),
            prev_signature.as_deref(),
        );
        let checkpoint = Checkpoint {
            pos: head.pos,
            chain_hash: head.hash,
            leaf_sum: head.leaf_sum,
            created_at,
            prev_signature,
            public_key: self.key.verifying_key().to_bytes().to_vec(),
            signature: self.key.sign(&message).to_bytes().to_vec(),
        };
        self.store.add_checkpoint(&checkpoint).await?;
        Ok(Some(checkpoint))
    }

    /// Checkpoints whenever `every_events` events were committed since the last one, or
    /// `every` passed with any new event. Runs until the process ends.
    pub async fn run(self: Arc<Self>, every_events: u64, every: Duration) {
        let poll = every.min(Duration::from_millis(500));
        let mut last_at = Instant::now();
        let mut last_pos = 0i64;
        loop {
            tokio::time::sleep(poll).await;
            let head = match self.store.chain_head().await {
                Ok(h) => h.pos,
                Err(e) => {
                    tracing::warn!(error = %e, "cannot read the chain head; will retry");
                    continue;
                }
            };
            let due = (head - last_pos) as u64 >= every_events
                || (head > last_pos && last_at.elapsed() >= every);
            if !due {
                continue;
            }
            match self.checkpoint().await {
                Ok(_) => {
                    last_pos = head;
                    last_at = Instant::now();
                }
                Err(e) => tracing::warn!(error = %e, "checkpoint failed; will retry"),
            }
        }
    }

    /// Records, signed, that retention deleted `leaves` (events of `severity` older than
    /// `cutoff`). Call [`Integrity::checkpoint`] before deleting, so every deleted event is
    /// inside a signed segment; then this records, per segment, how many events and which
    /// leaf sum left, and `eventlog verify` checks remaining + pruned = signed.
    pub async fn account_pruned(
        &self,
        leaves: &[PrunedLeaf],
        severity: &str,
        cutoff: DateTime<Utc>,
    ) -> Result<usize, IntegrityError> {
        let mut tally = self.tally().await?;
        for leaf in leaves {
            tally.add(leaf)?;
        }
        self.record_pruned(&tally, severity, cutoff).await
    }

    /// An empty tally over the current checkpoints, for retention runs too large to hold
    /// every deleted leaf: add leaves as they are deleted, then [`Integrity::record_pruned`].
    pub async fn tally(&self) -> Result<PruneTally, IntegrityError> {
        Ok(PruneTally {
            checkpoints: self
                .store
                .checkpoints()
                .await?
                .iter()
                .map(|c| c.pos)
                .collect(),
            segments: BTreeMap::new(),
        })
    }

    /// Signs and stores one pruning record per segment of `tally` (see
    /// [`Integrity::account_pruned`]). Returns the number of records.
    pub async fn record_pruned(
        &self,
        tally: &PruneTally,
        severity: &str,
        cutoff: DateTime<Utc>,
    ) -> Result<usize, IntegrityError> {
        let created_at = stored_precision(Utc::now());
        let cutoff = stored_precision(cutoff);
        for ((from_pos, to_pos), (pruned, leaf_sum)) in &tally.segments {
            let message = pruning_message(
                *from_pos,
                *to_pos,
                *pruned,
                leaf_sum,
                severity,
                cutoff.timestamp_micros(),
                created_at.timestamp_micros(),
            );
            self.store
                .add_pruning(&Pruning {
                    from_pos: *from_pos,
                    to_pos: *to_pos,
                    pruned: *pruned,
                    leaf_sum: *leaf_sum,
                    severity: severity.to_owned(),
                    cutoff,
                    created_at,
                    public_key: self.key.verifying_key().to_bytes().to_vec(),
                    signature: self.key.sign(&message).to_bytes().to_vec(),
                })
                .await?;
        }
        Ok(tally.segments.len())
    }
}

/// Deleted leaves summed per signed segment: a count and a leaf sum per checkpoint, so a
/// retention run of millions of events needs memory per segment, not per event.
#[derive(Debug, Clone)]
pub struct PruneTally {
    /// Positions of the checkpoints, in chain order.
    checkpoints: Vec<i64>,
    /// (first, last position of the segment) -> (events pruned, their leaf sum).
    segments: BTreeMap<(i64, i64), (i64, LeafSum)>,
}

impl PruneTally {
    /// Adds one deleted event.
    pub fn add(&mut self, leaf: &PrunedLeaf) -> Result<(), IntegrityError> {
        let end = self.checkpoints.partition_point(|pos| *pos < leaf.pos);
        let Some(cp) = self.checkpoints.get(end) else {
            return Err(IntegrityError::NotCheckpointed(leaf.pos));
        };
        let from = if end == 0 {
            1
        } else {
            self.checkpoints[end - 1] + 1
        };
        let entry = self.segments.entry((from, *cp)).or_default();
        entry.0 += 1;
        entry.1.add_event(&leaf.record_hash, leaf.pos);
        Ok(())
    }

    /// Events added.
    pub fn events(&self) -> i64 {
        self.segments.values().map(|(n, _)| n).sum()
    }

    /// The tally per signed segment, to be kept (an archive made ahead keeps its own) and
    /// added back later with [`PruneTally::add_segment`].
    pub fn segment_sums(&self) -> Vec<SegmentSum> {
        self.segments
            .iter()
            .map(|((from_pos, to_pos), (events, sum))| SegmentSum {
                from_pos: *from_pos,
                to_pos: *to_pos,
                events: *events,
                leaf_sum: hex::encode(sum.0),
            })
            .collect()
    }

    /// Adds a segment's sum kept by [`PruneTally::segment_sums`]. Checkpoints are only ever
    /// appended, so a segment found then is still one of this tally's segments.
    pub fn add_segment(&mut self, sum: &SegmentSum) -> Result<(), IntegrityError> {
        let end = self.checkpoints.partition_point(|pos| *pos < sum.to_pos);
        let from = match end {
            0 => 1,
            e => self.checkpoints[e - 1] + 1,
        };
        if self.checkpoints.get(end) != Some(&sum.to_pos) || from != sum.from_pos {
            return Err(IntegrityError::NotCheckpointed(sum.from_pos));
        }
        let leaf_sum = hex::decode(&sum.leaf_sum)
            .ok()
            .and_then(|b| <[u8; 32]>::try_from(b).ok())
            .ok_or_else(|| IntegrityError::NotCheckpointed(sum.from_pos))?;
        let entry = self.segments.entry((from, sum.to_pos)).or_default();
        entry.0 += sum.events;
        entry.1.add(&LeafSum(leaf_sum));
        Ok(())
    }
}

/// One signed segment's share of a [`PruneTally`]: events and their leaf sum (hex).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct SegmentSum {
    /// First chain position of the segment.
    pub from_pos: i64,
    /// Its checkpoint's position.
    pub to_pos: i64,
    /// Events of the segment counted.
    pub events: i64,
    /// Their leaves summed (mod 2^256), hex.
    pub leaf_sum: String,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn leaf(pos: i64) -> PrunedLeaf {
        PrunedLeaf {
            pos,
            record_hash: [pos as u8; 32],
        }
    }

    /// Sums kept per segment and added back later equal the leaves added one by one.
    #[test]
    fn segment_sums_added_back_equal_the_leaves_added_one_by_one() {
        let empty = PruneTally {
            checkpoints: vec![10, 20, 30],
            segments: BTreeMap::new(),
        };
        let mut direct = empty.clone();
        let (mut first, mut second) = (empty.clone(), empty.clone());
        for pos in [3, 9, 10, 11, 25] {
            direct.add(&leaf(pos)).unwrap();
            let half = if pos % 2 == 0 {
                &mut first
            } else {
                &mut second
            };
            half.add(&leaf(pos)).unwrap();
        }
        let mut merged = empty.clone();
        for sum in first.segment_sums().iter().chain(&second.segment_sums()) {
            merged.add_segment(sum).unwrap();
        }
        assert_eq!(merged.segments, direct.segments);
        assert_eq!(merged.events(), 5);

        // A segment that is not one of the checkpoints' is refused.
        let mut wrong = direct.segment_sums()[0].clone();
        wrong.from_pos += 1;
        assert!(empty.clone().add_segment(&wrong).is_err());
        wrong.from_pos -= 1;
        wrong.to_pos = 15;
        assert!(empty.clone().add_segment(&wrong).is_err());
    }
}
