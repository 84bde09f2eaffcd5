//! The writes that carry ingest, on one rusqlite connection of their own: the group commit
//! of events (with their rollups and the chain head) and the rollup rebuild of a day.
//!
//! Through sqlx, each statement of a group commit was a round trip between SQLite's worker
//! thread and the async writer task. Under load the tokio workers are busy validating the
//! next batches, so every round trip waited for a worker: the inserts of 1,000 events took
//! 30-57 ms and those of 3,000 events 57-92 ms, much of it waiting (bench/README.md,
//! "SQLite writes on a connection of their own"). Here the whole transaction runs in one go on one thread,
//! with statements prepared once and values bound straight from the events.

use std::collections::HashMap;
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use chrono::{DateTime, TimeDelta, Utc};
use eventlog_core::ValidatedEvent;
use rusqlite::{params, Connection, OpenFlags, OptionalExtension, TransactionBehavior};

use super::{from_micros, install_new_dictionaries, micros, row_to_event, SELECT_COLUMNS};
use crate::analytics::{Grain, RollupBatch};
use crate::integrity::{link_events, opt_hash32, ChainHead, Link};
use crate::payload::PayloadCodec;
use crate::write::{
    decode_stored_hash, ids_to_check, plan, stamp, stored_hash, RequestOutcome, StoredContent,
};
use crate::StoreError;

/// How long a write waits for another writer (a checkpoint, a key being created).
pub(super) const BUSY_TIMEOUT: Duration = Duration::from_secs(10);

/// The cold fields go into `payload`; their old columns are left out (NULL), but for the
/// two that are NOT NULL (`event_name`, `action`), written empty (see [`crate::payload`]).
const INSERT_EVENT: &str = "INSERT INTO events (event_id, event_code, event_category, \
    event_type, event_name, user_id, username, tenant_id, ip_address, session_id, \
    correlation_id, source, resource_type, resource_id, action, status, endpoint, timestamp, \
    severity, importance, content_hash, created_at, processed_at, record_hash, chain_pos, \
    chain_hash, payload) \
    VALUES (?, ?, ?, ?, '', ?, ?, ?, ?, ?, ?, ?, ?, ?, '', ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)";

const STORED_CONTENT: &str =
    "SELECT content_hash, record_hash, tenant_id FROM events WHERE event_id = ?";

const UPSERT_COLUMNS: &str = "dimension, bucket, tenant_id, value, events, errors, failures, \
    latency_count, latency_sum, latency_max, confidence_count, confidence_sum, last_seen";
const MERGE: &str = "ON CONFLICT (dimension, bucket, tenant_id, value) DO UPDATE SET \
    events = events + excluded.events, errors = errors + excluded.errors, \
    failures = failures + excluded.failures, latency_count = latency_count + excluded.latency_count, \
    latency_sum = latency_sum + excluded.latency_sum, latency_max = max(latency_max, excluded.latency_max), \
    confidence_count = confidence_count + excluded.confidence_count, \
    confidence_sum = confidence_sum + excluded.confidence_sum, last_seen = max(last_seen, excluded.last_seen)";

/// The connection, opened with the store. A mutex, not a pool: SQLite has one writer at a
/// time anyway.
#[derive(Debug)]
pub(super) struct EventWriter {
    conn: Mutex<Connection>,
}

impl EventWriter {
    /// Opens the database file (created and set to WAL by the sqlx pools) for writing, with
    /// the writer's settings: every commit synced (`synchronous=FULL`), no checkpoints of its
    /// own (the store's checkpointer runs them), 16 MiB of page cache. A 64 MiB cache ingested
    /// no faster and the server peaked at 277-337 MiB (over the 300 MiB budget in two runs of
    /// three) instead of 173-211 MiB: the connection runs on whichever thread
    /// tokio lends it, and SQLite's pages then fill one C heap per thread (bench/README.md,
    /// "Server memory under sustained ingest").
    pub(super) fn open(path: &Path) -> Result<Self, StoreError> {
        let conn = Connection::open_with_flags(
            path,
            OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_NO_MUTEX,
        )?;
        conn.busy_timeout(BUSY_TIMEOUT)?;
        conn.execute_batch(
            "PRAGMA synchronous = FULL; PRAGMA wal_autocheckpoint = 0; \
             PRAGMA cache_size = -16384; PRAGMA temp_store = MEMORY; \
             PRAGMA journal_size_limit = 67108864;",
        )?;
        Ok(Self {
            conn: Mutex::new(conn),
        })
    }

    /// Runs `write` with the connection, on a runtime with several workers: the current
    /// worker hands its other tasks over for the duration ([`tokio::task::block_in_place`])
    /// and `write` borrows what it needs. A timeout around the calling future fires only
    /// once the write is done (SQLite's busy timeout bounds the wait for its lock). Callers
    /// elsewhere use [`EventWriter::run_owned`].
    pub(super) fn run_in_place<T>(
        &self,
        write: impl FnOnce(&mut Connection) -> Result<T, StoreError>,
    ) -> Result<T, StoreError> {
        tokio::task::block_in_place(|| self.locked(write))
    }

    /// Runs `write` with the connection on tokio's blocking pool, so that a runtime with
    /// one thread goes on with its other tasks meanwhile.
    pub(super) async fn run_owned<T: Send + 'static>(
        self: &Arc<Self>,
        write: impl FnOnce(&mut Connection) -> Result<T, StoreError> + Send + 'static,
    ) -> Result<T, StoreError> {
        let writer = Arc::clone(self);
        match tokio::task::spawn_blocking(move || writer.locked(write)).await {
            Ok(result) => result,
            Err(e) if e.is_panic() => std::panic::resume_unwind(e.into_panic()),
            Err(e) => Err(StoreError::Config(format!("a write was cancelled: {e}"))),
        }
    }

    fn locked<T>(
        &self,
        write: impl FnOnce(&mut Connection) -> Result<T, StoreError>,
    ) -> Result<T, StoreError> {
        let mut conn = self.conn.lock().unwrap_or_else(|e| e.into_inner());
        // A transaction an earlier write left open (a panic, a failed rollback) would make
        // this write's BEGIN fail, and every one after it.
        if !conn.is_autocommit() {
            conn.execute_batch("ROLLBACK")?;
        }
        write(&mut conn)
    }
}

/// Whether the current runtime has several workers (then [`EventWriter::run_in_place`]).
pub(super) fn in_place_possible() -> bool {
    tokio::runtime::Handle::try_current()
        .is_ok_and(|rt| rt.runtime_flavor() == tokio::runtime::RuntimeFlavor::MultiThread)
}

/// Writes a group of requests in one transaction: checks supplied ids against what is
/// stored, inserts the new events (`packed`: their compressed payloads, in request order),
/// links them into the chain, adds them to the rollups (when `rollups`), commits.
pub(super) fn write_group(
    conn: &mut Connection,
    requests: &[Vec<ValidatedEvent>],
    packed: &[Vec<Vec<u8>>],
    rollups: bool,
) -> Result<Vec<RequestOutcome>, StoreError> {
    // IMMEDIATE takes the write lock up front, waiting (busy_timeout) for a checkpoint to
    // finish, instead of failing when a read snapshot cannot be upgraded to a write.
    let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
    let mut known = HashMap::new();
    {
        let mut stored = tx.prepare_cached(STORED_CONTENT)?;
        for id in ids_to_check(requests) {
            let row = stored
                .query_row([id], |r| {
                    Ok((
                        r.get::<_, Vec<u8>>(0)?,
                        r.get::<_, Option<Vec<u8>>>(1)?,
                        r.get::<_, Option<String>>(2)?,
                    ))
                })
                .optional()?;
            if let Some((sent, record, tenant)) = row {
                let content = StoredContent {
                    sent: decode_stored_hash(sent)?,
                    record: opt_hash32(record),
                    tenant,
                };
                known.insert(id.to_owned(), content);
            }
        }
    }
    let (mut outcomes, inserts) = plan(requests, known);
    let now = micros(Utc::now());
    stamp(&mut outcomes, from_micros(now)?);
    let rows: Vec<(&ValidatedEvent, &[u8])> = inserts
        .iter()
        .zip(requests)
        .zip(packed)
        .flat_map(|((idx, events), packed)| {
            idx.iter()
                .map(move |i| (&events[*i], packed[*i].as_slice()))
        })
        .collect();
    let mut head = read_head(&tx)?;
    let links = link_events(&mut head, rows.iter().map(|(e, _)| *e), now);
    insert_events(&tx, &rows, &links, now)?;
    if rollups {
        // Rollups of exactly the rows inserted (repeats were left out by the plan), written
        // in the same transaction: they can never disagree with the events.
        let mut batch = RollupBatch::new();
        for (event, _) in &rows {
            batch.add(event.record());
        }
        let daily_from = fold_closed_days(&tx, Grain::Day.floor(Utc::now()))?;
        upsert_rollups(&tx, &batch, daily_from)?;
    }
    if !rows.is_empty() {
        tx.prepare_cached(
            "INSERT INTO chain_head (id, chain_pos, chain_hash, leaf_sum) VALUES (1, ?, ?, ?) \
             ON CONFLICT (id) DO UPDATE SET chain_pos = excluded.chain_pos, \
             chain_hash = excluded.chain_hash, leaf_sum = excluded.leaf_sum",
        )?
        .execute(params![head.pos, &head.hash[..], &head.leaf_sum.0[..]])?;
    }
    tx.commit()?;
    Ok(outcomes)
}

fn insert_events(
    tx: &Connection,
    rows: &[(&ValidatedEvent, &[u8])],
    links: &[Link],
    now: i64,
) -> Result<(), StoreError> {
    let mut insert = tx.prepare_cached(INSERT_EVENT)?;
    for ((event, payload), link) in rows.iter().zip(links) {
        let r = event.record();
        insert.execute(params![
            r.event_id,
            r.event_code,
            r.event_category.as_str(),
            r.event_type.as_str(),
            r.user_id,
            r.username,
            r.tenant_id,
            r.ip_address.map(|ip| ip.to_string()),
            r.session_id,
            r.correlation_id,
            r.source,
            r.resource_type,
            r.resource_id,
            r.status.as_str(),
            r.endpoint,
            micros(r.timestamp),
            r.severity.as_str(),
            r.importance.as_str(),
            &stored_hash(event)[..],
            now,
            now,
            &link.record_hash[..],
            link.pos,
            &link.chain_hash[..],
            payload,
        ])?;
    }
    Ok(())
}

/// Recomputes the rollups of the day starting at `day` from its stored events; returns the
/// events read.
pub(super) fn rebuild_day(
    conn: &mut Connection,
    payloads: &PayloadCodec,
    day: DateTime<Utc>,
) -> Result<u64, StoreError> {
    let (from, to) = (micros(day), micros(day + TimeDelta::days(1)));
    let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
    for grain in Grain::ALL {
        tx.execute(
            &format!(
                "DELETE FROM {} WHERE bucket >= ? AND bucket < ?",
                grain.table()
            ),
            [from, to],
        )?;
    }
    install_new_dictionaries(&tx, payloads)?;
    let mut batch = RollupBatch::new();
    let mut read = 0u64;
    {
        let mut select = tx.prepare(&format!(
            "SELECT {SELECT_COLUMNS} FROM events WHERE timestamp >= ? AND timestamp < ?"
        ))?;
        let mut rows = select.query([from, to])?;
        while let Some(row) = rows.next()? {
            let (event, _) = row_to_event(row, payloads)?;
            batch.add(&event.record);
            read += 1;
        }
    }
    let daily_from = daily_from(&tx)?;
    upsert_rollups(&tx, &batch, daily_from)?;
    tx.commit()?;
    Ok(read)
}

fn read_head(conn: &Connection) -> Result<ChainHead, StoreError> {
    let row = conn
        .prepare_cached(ChainHead::SELECT)?
        .query_row([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))
        .optional()?;
    ChainHead::from_row(row)
}

/// Adds `batch` to the rollup tables. Day rows are written only for days before
/// `daily_from`; later days are folded from the hour rows when they are over
/// ([`fold_closed_days`]).
fn upsert_rollups(
    conn: &Connection,
    batch: &RollupBatch,
    daily_from: DateTime<Utc>,
) -> Result<(), StoreError> {
    for grain in Grain::ALL {
        let cells = batch.cells_to_write(grain, daily_from);
        if cells.is_empty() {
            continue;
        }
        let mut upsert = conn.prepare_cached(&format!(
            "INSERT INTO {} ({UPSERT_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) {MERGE}",
            grain.table()
        ))?;
        for (key, cell) in &cells {
            upsert.execute(params![
                key.dimension,
                micros(key.bucket),
                key.tenant_id,
                key.value,
                cell.events,
                cell.errors,
                cell.failures,
                cell.latency_count,
                cell.latency_sum,
                cell.latency_max,
                cell.confidence_count,
                cell.confidence_sum,
                cell.last_seen_micros,
            ])?;
        }
    }
    Ok(())
}

/// The first day whose day rollups are read from the hour rows (`rollup_state`).
fn daily_from(conn: &Connection) -> Result<DateTime<Utc>, StoreError> {
    let from: i64 = conn
        .prepare_cached("SELECT daily_from FROM rollup_state WHERE id = 1")?
        .query_row([], |r| r.get(0))?;
    from_micros(from)
}

/// Folds the hour rows of every day before `today` not folded yet into day rows and
/// returns the new `daily_from`. Replacing the day rows of those days (not adding to them)
/// makes a repeated or partial fold harmless.
fn fold_closed_days(conn: &Connection, today: DateTime<Utc>) -> Result<DateTime<Utc>, StoreError> {
    let from = daily_from(conn)?;
    if from >= today {
        return Ok(from);
    }
    let (from, to) = (micros(from), micros(today));
    conn.execute(
        "DELETE FROM event_summary_daily WHERE bucket >= ? AND bucket < ?",
        [from, to],
    )?;
    conn.execute(
        "INSERT INTO event_summary_daily (dimension, bucket, tenant_id, value, events, errors, \
         failures, latency_count, latency_sum, latency_max, confidence_count, confidence_sum, \
         last_seen) \
         SELECT dimension, bucket - bucket % 86400000000 AS day, tenant_id, value, sum(events), \
         sum(errors), sum(failures), sum(latency_count), sum(latency_sum), max(latency_max), \
         sum(confidence_count), sum(confidence_sum), max(last_seen) \
         FROM event_summary_hourly WHERE bucket >= ? AND bucket < ? \
         GROUP BY dimension, day, tenant_id, value",
        [from, to],
    )?;
    conn.execute("UPDATE rollup_state SET daily_from = ? WHERE id = 1", [to])?;
    Ok(today)
}

#[cfg(test)]
mod tests {
    use std::time::{Duration, Instant};

    use eventlog_core::validate::Validator;
    use eventlog_core::{parse_event, Catalog, ValidationPolicy};

    use super::super::SqliteStore;
    use crate::Store;

    /// On a runtime with one thread, a write waiting for another connection's lock leaves
    /// the runtime running: here the task that releases the lock runs meanwhile.
    #[tokio::test]
    async fn a_waiting_write_leaves_a_one_thread_runtime_running() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("events.db");
        let store = SqliteStore::open(path.to_str().unwrap()).await.unwrap();
        store.migrate().await.unwrap();
        let raw = parse_event(br#"{"event_category": "AUTH", "event_type": "USER_LOGIN"}"#);
        let event = Validator::new(ValidationPolicy::default(), Catalog::built_in())
            .validate(raw.unwrap(), chrono::Utc::now())
            .unwrap();

        let other = rusqlite::Connection::open(&path).unwrap();
        other.execute_batch("BEGIN IMMEDIATE").unwrap();
        let requests = [vec![event]];
        let started = Instant::now();
        let (written, ()) = tokio::join!(store.write(&requests), async {
            tokio::time::sleep(Duration::from_millis(300)).await;
            other.execute_batch("COMMIT").unwrap();
        });
        written.unwrap();
        // Blocking the runtime would have kept the lock held until SQLite gave up (10 s).
        assert!(started.elapsed() < Duration::from_secs(5));
        assert_eq!(store.count_events().await.unwrap(), 1);
    }
}
