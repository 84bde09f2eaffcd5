//! The logger's background task: takes events off the memory queue in batches (when a
//! batch is full, or when the first queued event has waited the flush interval), redacts
//! them, delivers them, and when the sink fails spools them and replays the
//! spool in order with exponential backoff. While the spool holds anything, new batches go
//! behind it, so delivery order is the order of logging (except events that overflowed a
//! full queue, which may overtake queued ones).

use std::collections::HashSet;
use std::sync::atomic::Ordering;
use std::sync::mpsc::Receiver;
use std::sync::Arc;
use std::time::Duration;

use chrono::Utc;
use tokio::sync::{mpsc, oneshot};
use tokio::time::{sleep_until, Instant};
use tracing::Instrument;

use crate::backoff::Backoff;
use crate::dead_letter::{DeadLetter, DeadLetters};
use crate::logger::{LoggerConfig, Shared};
use crate::sink::{Sink, SinkError};
use crate::stats::bump;
use crate::Event;

/// Replay at most this many batches per tick, so intake keeps flowing during a long replay.
const REPLAY_BATCHES_PER_TICK: usize = 20;
const TICK: Duration = Duration::from_millis(100);
/// While events are queued, how often the worker looks for full batches. The worker polls
/// rather than having `log` wake it per batch: a wake-up is a syscall on the caller's
/// thread, and `log` must stay in the low microseconds.
const POLL: Duration = Duration::from_millis(10);

/// What a logger handle asks of its worker besides delivering events.
pub(crate) enum Command {
    Flush(oneshot::Sender<()>),
    Shutdown(oneshot::Sender<()>),
}

pub(crate) struct Worker {
    config: LoggerConfig,
    sink: Box<dyn Sink>,
    shared: Arc<Shared>,
    queue: Receiver<Box<Event>>,
    commands: mpsc::Receiver<Command>,
    dead: DeadLetters,
    backoff: Backoff,
    /// Set while the sink is failing: no direct delivery before this instant.
    retry_at: Option<Instant>,
    /// Ids dead-lettered by this worker, so a spooled batch retried after a partial
    /// refusal does not dead-letter the same event twice.
    dead_ids: HashSet<String>,
}

/// The batch that failed and those waiting behind it, in their order.
fn undelivered(mut failed: Vec<Event>, waiting: Vec<Vec<Event>>) -> Vec<Event> {
    failed.extend(waiting.into_iter().rev().flatten());
    failed
}

enum Outcome {
    Delivered,
    /// The sink failed; these events (the batch minus any dead-lettered) are undelivered.
    SinkDown(Vec<Event>),
}

impl Worker {
    pub(crate) fn new(
        config: LoggerConfig,
        sink: Box<dyn Sink>,
        shared: Arc<Shared>,
        queue: Receiver<Box<Event>>,
        commands: mpsc::Receiver<Command>,
    ) -> Self {
        Self {
            dead: DeadLetters::in_dir(&config.spool_dir),
            backoff: Backoff::new(config.retry_initial, config.retry_max),
            config,
            sink,
            shared,
            queue,
            commands,
            retry_at: None,
            dead_ids: HashSet::new(),
        }
    }

    pub(crate) async fn run(mut self) {
        let mut batch: Vec<Event> = Vec::with_capacity(self.config.batch_size);
        // When the oldest event waiting in the queue has waited the flush interval.
        let mut flush_at: Option<Instant> = None;
        let mut ticker = tokio::time::interval(TICK);
        ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let mut stats_written = Instant::now();
        loop {
            while self.queued() >= self.config.batch_size {
                self.drain_queue(&mut batch, self.config.batch_size);
                if batch.is_empty() {
                    break; // counted by `log` but not sent yet
                }
                self.flush(&mut batch).await;
                flush_at = None;
            }
            if self.queued() > 0 {
                flush_at.get_or_insert_with(|| Instant::now() + self.config.flush_interval);
            } else {
                flush_at = None;
            }
            let idle = flush_at.is_none();
            // Asks `log` to wake us for the next event; re-checked after, so an event
            // counted in between is not missed (both sides use SeqCst).
            self.shared.worker_idle.store(idle, Ordering::SeqCst);
            if idle && self.queued() > 0 {
                continue;
            }
            tokio::select! {
                biased;
                command = self.commands.recv() => {
                    self.drain_queue(&mut batch, usize::MAX);
                    self.flush(&mut batch).await;
                    flush_at = None;
                    match command {
                        Some(Command::Flush(ack)) => {
                            self.retry_at = None;
                            self.replay(usize::MAX).await;
                            self.sync_spool(true);
                            self.write_stats();
                            let _ = ack.send(());
                        }
                        Some(Command::Shutdown(ack)) => {
                            self.sync_spool(true);
                            self.write_stats();
                            let _ = ack.send(());
                            return;
                        }
                        // Every handle is gone.
                        None => {
                            self.sync_spool(true);
                            self.write_stats();
                            return;
                        }
                    }
                }
                // The first event after idling, or the queue half full.
                () = self.shared.wake.notified() => {}
                () = sleep_until(flush_at.unwrap_or_else(Instant::now)), if !idle => {
                    self.drain_queue(&mut batch, usize::MAX);
                    self.flush(&mut batch).await;
                    flush_at = None;
                }
                () = tokio::time::sleep(POLL), if !idle => {}
                _ = ticker.tick() => {
                    if self.retry_at.is_none_or(|at| Instant::now() >= at) {
                        self.replay(REPLAY_BATCHES_PER_TICK).await;
                    }
                    self.sync_spool(false);
                    if stats_written.elapsed() >= Duration::from_secs(1) {
                        self.write_stats();
                        stats_written = Instant::now();
                    }
                }
            }
        }
    }

    /// Events counted into the queue by `log` and not yet taken out.
    fn queued(&self) -> usize {
        self.shared.stats.queued.load(Ordering::Relaxed) as usize
    }

    /// Moves up to `max` queued events into the batch.
    fn drain_queue(&mut self, batch: &mut Vec<Event>, max: usize) {
        while batch.len() < max {
            let Ok(event) = self.queue.try_recv() else {
                break;
            };
            self.shared.stats.queued.fetch_sub(1, Ordering::Relaxed);
            batch.push(*event);
        }
    }

    /// Delivers the batch, or spools it when the sink is down or the spool is not empty.
    async fn flush(&mut self, batch: &mut Vec<Event>) {
        if batch.is_empty() {
            return;
        }
        let mut events = std::mem::take(batch);
        for event in &mut events {
            self.shared.redact(event);
        }
        let spool_first = self.retry_at.is_some() || self.spool_pending() > 0;
        for chunk in events.chunks(self.config.batch_size) {
            if spool_first || self.retry_at.is_some() {
                self.spool(chunk);
                continue;
            }
            if let Outcome::SinkDown(undelivered) = self.deliver(chunk.to_vec()).await {
                self.spool(&undelivered);
            }
        }
    }

    /// Delivers `events`: refused ones go to the dead letters and the rest is re-sent; a
    /// batch too large for the sink is sent again in halves.
    async fn deliver(&mut self, events: Vec<Event>) -> Outcome {
        // Batches still to send, the next one last. Each round delivers a batch, removes
        // at least one refused event, or halves a batch, so this ends.
        let mut waiting = vec![events];
        while let Some(mut events) = waiting.pop() {
            if events.is_empty() {
                continue;
            }
            let delivery = self.sink.deliver(&events).instrument(delivery_span());
            let result = tokio::time::timeout(self.config.sink_timeout, delivery)
                .await
                .unwrap_or_else(|_| {
                    Err(SinkError::Unavailable(format!(
                        "{} did not answer within {:?}",
                        self.sink.describe(),
                        self.config.sink_timeout
                    )))
                });
            match result {
                Ok(()) => {
                    self.shared.stats.delivered_now(events.len() as u64);
                    self.backoff.reset();
                    self.retry_at = None;
                }
                Err(SinkError::Rejected(rejections)) => {
                    let mut refused = vec![None; events.len()];
                    for r in rejections {
                        if let Some(slot) = refused.get_mut(r.index) {
                            *slot = Some(r.reason);
                        }
                    }
                    if refused.iter().all(Option::is_none) {
                        self.failed("the sink refused events without naming them".to_owned());
                        return Outcome::SinkDown(undelivered(events, waiting));
                    }
                    let mut letters = Vec::new();
                    let mut rest = Vec::new();
                    for (event, reason) in events.into_iter().zip(refused) {
                        match reason {
                            Some(reason) => letters.push(DeadLetter {
                                failed_at: Utc::now(),
                                reason,
                                event,
                            }),
                            None => rest.push(event),
                        }
                    }
                    self.dead_letter(letters);
                    waiting.push(rest);
                }
                Err(SinkError::TooLarge(message)) if events.len() == 1 => {
                    self.dead_letter(vec![DeadLetter {
                        failed_at: Utc::now(),
                        reason: format!("too large for the sink on its own: {message}"),
                        event: events.remove(0),
                    }]);
                }
                Err(SinkError::TooLarge(_)) => {
                    let second = events.split_off(events.len() / 2);
                    waiting.push(second);
                    waiting.push(events);
                }
                Err(SinkError::Unavailable(message)) => {
                    self.failed(message);
                    return Outcome::SinkDown(undelivered(events, waiting));
                }
            }
        }
        Outcome::Delivered
    }

    fn dead_letter(&mut self, letters: Vec<DeadLetter>) {
        bump(&self.shared.stats.dead_lettered, letters.len() as u64);
        if self.dead_ids.len() > 100_000 {
            self.dead_ids.clear();
        }
        self.dead_ids
            .extend(letters.iter().filter_map(|l| l.event.event_id.clone()));
        if let Err(e) = self.dead.append(&letters) {
            bump(&self.shared.stats.dropped, letters.len() as u64);
            self.shared.stats.error(format!("dead letters: {e}"));
        }
    }

    fn failed(&mut self, message: String) {
        tracing::warn!(sink = %self.sink.describe(), "event delivery failed, spooling: {message}");
        self.shared.stats.error(message);
        self.retry_at = Some(Instant::now() + self.backoff.next_delay());
    }

    fn spool(&mut self, events: &[Event]) {
        let payloads: Vec<Vec<u8>> = events
            .iter()
            .filter_map(|e| serde_json::to_vec(e).ok())
            .collect();
        let result = match self.shared.spool.lock() {
            Ok(mut spool) => spool.append(&payloads),
            Err(_) => Err(crate::ClientError::Spool("spool lock poisoned".to_owned())),
        };
        match result {
            Ok(()) => bump(&self.shared.stats.spooled, payloads.len() as u64),
            Err(e) => {
                bump(&self.shared.stats.dropped, events.len() as u64);
                self.shared.stats.error(format!("spool: {e}"));
            }
        }
    }

    fn spool_pending(&self) -> u64 {
        self.shared.spool.lock().map(|s| s.pending()).unwrap_or(0)
    }

    /// Replays up to `max_batches` batches from the spool, oldest first, stopping at the
    /// first failure (the backoff then decides when to try again).
    async fn replay(&mut self, max_batches: usize) {
        for _ in 0..max_batches {
            let read = match self.shared.spool.lock() {
                Ok(mut spool) => spool.read_batch(self.config.batch_size),
                Err(_) => return,
            };
            let batch = match read {
                Ok(Some(batch)) => batch,
                Ok(None) => return,
                Err(e) => {
                    self.shared.stats.error(format!("spool: {e}"));
                    return;
                }
            };
            let mut events = Vec::with_capacity(batch.payloads.len());
            let mut unreadable = Vec::new();
            for payload in &batch.payloads {
                match serde_json::from_slice::<Event>(payload) {
                    Ok(event)
                        if event
                            .event_id
                            .as_ref()
                            .is_some_and(|id| self.dead_ids.contains(id)) => {}
                    Ok(event) => events.push(event),
                    Err(e) => unreadable.push(e.to_string()),
                }
            }
            // A record with a valid checksum that is not an event was written by another
            // program or version: count it as damage, it cannot be delivered.
            if !unreadable.is_empty() {
                self.shared.stats.error(format!(
                    "{} spooled records are not events: {}",
                    unreadable.len(),
                    unreadable[0]
                ));
            }
            let count = events.len() as u64;
            match self.deliver(events).await {
                Outcome::Delivered => {
                    bump(&self.shared.stats.replayed, count);
                    if let Ok(mut spool) = self.shared.spool.lock() {
                        if let Err(e) = spool.ack(batch) {
                            self.shared.stats.error(format!("spool: {e}"));
                        }
                    }
                }
                Outcome::SinkDown(_) => return,
            }
        }
    }

    fn sync_spool(&mut self, now: bool) {
        if let Ok(mut spool) = self.shared.spool.lock() {
            let result = if now { spool.sync() } else { spool.sync_due() };
            if let Err(e) = result {
                self.shared.stats.error(format!("spool: {e}"));
            }
        }
    }

    fn write_stats(&self) {
        let _ = self.shared.snapshot().write_to(&self.config.spool_dir);
    }
}

/// The span a delivery runs in. The SQL query audit (eventlog-layer) skips statements run
/// inside it, so the logger's own writes to a store are not audited back into the log.
/// Created per delivery, so a subscriber installed after the logger started still sees it.
fn delivery_span() -> tracing::Span {
    tracing::debug_span!(target: "eventlog_client::delivery", "eventlog.delivery")
}
