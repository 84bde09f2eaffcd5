use std::sync::atomic::Ordering;
use std::sync::Arc;

use std::time::{Duration, Instant};

use eventlog_core::ValidatedEvent;
use eventlog_store::{RequestOutcome, Store, StoreError};
use tokio::sync::mpsc;

use super::queue::{Counters, Pending};
use super::{IngestQueue, WriteFailed};
use crate::detection::DetectionFeed;
use crate::live::LiveTail;
use crate::metrics::Metrics;

/// Tries per commit while the store is busy or unreachable (waits 50, 200, 800 ms between).
const WRITE_ATTEMPTS: u32 = 4;

/// The single task that writes to the store: it takes every request waiting (up to
/// `max_commit_events` events), commits them in one transaction, then answers each.
/// One fsync for many requests is what makes durable acks fast.
pub struct GroupCommitWriter {
    store: Arc<dyn Store>,
    rx: mpsc::UnboundedReceiver<Pending>,
    max_commit_events: usize,
    counters: Arc<Counters>,
    detection: Option<DetectionFeed>,
    metrics: Option<Metrics>,
    live: Option<LiveTail>,
}

impl GroupCommitWriter {
    /// A queue of `capacity` events and the writer that drains it into `store`.
    pub fn new(
        store: Arc<dyn Store>,
        capacity: usize,
        max_commit_events: usize,
    ) -> (IngestQueue, Self) {
        let (queue, rx) = IngestQueue::new(capacity);
        let counters = queue.counters.clone();
        (
            queue,
            Self {
                store,
                rx,
                max_commit_events,
                counters,
                detection: None,
                metrics: None,
                live: None,
            },
        )
    }

    /// Hands every newly committed event (not repeats, not derived ones) to `feed`.
    pub fn with_detection(mut self, feed: DetectionFeed) -> Self {
        self.detection = Some(feed);
        self
    }

    /// Reports commits (events, latency, rollup lag) to `metrics`.
    pub fn with_metrics(mut self, metrics: Metrics) -> Self {
        self.metrics = Some(metrics);
        self
    }

    /// Publishes every newly committed event (derived ones included) to `live`.
    pub fn with_live(mut self, live: LiveTail) -> Self {
        self.live = Some(live);
        self
    }

    /// Offers the events a request newly stored (not repeats) to the live tail, and to
    /// detection unless they were derived by it.
    fn observe(&self, events: Vec<ValidatedEvent>, outcome: &RequestOutcome, derived: bool) {
        let RequestOutcome::Written(summary) = outcome else {
            return;
        };
        let detection = self.detection.as_ref().filter(|_| !derived);
        let live = self.live.as_ref().filter(|l| l.watched());
        if detection.is_none() && live.is_none() {
            return;
        }
        let fresh: Vec<ValidatedEvent> = events
            .into_iter()
            .zip(
                summary
                    .duplicate_flags
                    .iter()
                    .chain(std::iter::repeat(&false)),
            )
            .filter(|(_, duplicate)| !**duplicate)
            .map(|(event, _)| event)
            .collect();
        if let Some(live) = live {
            live.publish(&fresh, summary.committed_at);
        }
        if let Some(feed) = detection {
            feed.offer(fresh);
        }
    }

    /// Runs until every [`IngestQueue`] handle is dropped and the queue is drained.
    pub async fn run(mut self) {
        while let Some(first) = self.rx.recv().await {
            let mut group = vec![first];
            let mut events = group[0].events.len();
            while events < self.max_commit_events {
                match self.rx.try_recv() {
                    Ok(next) => {
                        events += next.events.len();
                        group.push(next);
                    }
                    Err(_) => break,
                }
            }
            self.commit(group).await;
        }
    }

    /// Writes a group, retrying while the store is only busy or briefly unreachable, so a
    /// checkpoint or a failover costs latency rather than errors.
    async fn write_with_retry(
        &self,
        requests: &[Vec<ValidatedEvent>],
    ) -> Result<Vec<RequestOutcome>, StoreError> {
        let mut delay = Duration::from_millis(50);
        let mut attempt = 1;
        loop {
            match self.store.write(requests).await {
                Err(e) if e.is_unavailable() && attempt < WRITE_ATTEMPTS => {
                    tracing::warn!(error = %e, attempt, "store busy or unreachable; retrying the commit");
                    tokio::time::sleep(delay).await;
                    delay *= 4;
                    attempt += 1;
                }
                other => return other,
            }
        }
    }

    async fn commit(&self, group: Vec<Pending>) {
        let started = Instant::now();
        let oldest = group.iter().map(|p| p.queued_at).min();
        let (requests, replies): (Vec<_>, Vec<_>) = group
            .into_iter()
            .map(|p| (p.events, (p.reply, p.permits, p.derived)))
            .unzip();
        match self.write_with_retry(&requests).await {
            Ok(outcomes) => {
                self.count(&outcomes);
                self.measure(&outcomes, started, oldest);
                for (((reply, _permits, derived), outcome), events) in
                    replies.into_iter().zip(outcomes).zip(requests)
                {
                    self.observe(events, &outcome, derived);
                    let _ = reply.send(Ok(outcome));
                }
            }
            // A failure of the whole group may come from one request; write each alone so
            // one bad request cannot fail its neighbours.
            Err(e) if requests.len() > 1 && !e.is_unavailable() => {
                tracing::warn!(error = %e, "group commit failed; retrying requests one by one");
                for (events, (reply, _permits, derived)) in requests.into_iter().zip(replies) {
                    let result = self.write_with_retry(std::slice::from_ref(&events)).await;
                    let _ = reply.send(match result {
                        Ok(mut outcomes) => {
                            self.count(&outcomes);
                            self.measure(&outcomes, started, oldest);
                            let outcome = outcomes.remove(0);
                            self.observe(events, &outcome, derived);
                            Ok(outcome)
                        }
                        Err(e) => Err(failed(&e)),
                    });
                }
            }
            Err(e) => {
                tracing::error!(error = %e, "commit failed");
                for (reply, _permits, _) in replies {
                    let _ = reply.send(Err(failed(&e)));
                }
            }
        }
    }

    fn measure(&self, outcomes: &[RequestOutcome], started: Instant, oldest: Option<Instant>) {
        if let Some(m) = &self.metrics {
            m.committed(written(outcomes) as u64, started.elapsed());
            if let Some(oldest) = oldest {
                m.rollup_lag(oldest.elapsed());
            }
        }
    }

    fn count(&self, outcomes: &[RequestOutcome]) {
        let written = written(outcomes);
        self.counters
            .committed_events
            .fetch_add(written as u64, Ordering::Relaxed);
        self.counters.commits.fetch_add(1, Ordering::Relaxed);
        self.counters
            .last_commit_ms
            .store(chrono::Utc::now().timestamp_millis(), Ordering::Relaxed);
    }
}

/// Events newly stored by `outcomes`.
fn written(outcomes: &[RequestOutcome]) -> usize {
    outcomes
        .iter()
        .map(|o| match o {
            RequestOutcome::Written(s) => s.accepted,
            RequestOutcome::Conflict { .. } => 0,
        })
        .sum()
}

fn failed(e: &StoreError) -> WriteFailed {
    WriteFailed {
        unavailable: e.is_unavailable(),
        message: e.to_string(),
    }
}
