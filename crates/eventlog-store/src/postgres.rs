//! The production store: PostgreSQL with the events table range-partitioned by month,
//! batches bulk-loaded with `COPY`, and an advisory lock that makes the id check and the
//! load one atomic step across any number of eventlog servers.

mod alerts;
mod copy;
mod retention;
mod rollups;
mod security;

use std::collections::{BTreeSet, HashMap, HashSet};
use std::str::FromStr;
use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use chrono::{DateTime, Datelike, Months, NaiveDate, Utc};
use eventlog_core::integrity::LeafSum;
use eventlog_core::{StoredEvent, ValidatedEvent};
use futures::stream::BoxStream;
use sqlx::migrate::Migrator;
use sqlx::postgres::{PgConnectOptions, PgPool, PgPoolOptions, PgRow};
use sqlx::{Connection, PgConnection, Postgres, QueryBuilder, Row};

use crate::alerts::{Alert, AlertPage, AlertQuery, NewAlert};
use crate::analytics::{ActivityQuery, Grain, RollupBatch, RollupQuery, RollupRow};
use crate::integrity::{hash32, link_events, opt_hash32, ChainHead, ChainRow, Checkpoint, Pruning};
use crate::jsonl;
use crate::keys::{join_origins, split_origins, ApiKey, KeyRole, NewApiKey};
use crate::payload::{self, DictionaryTable, PayloadCodec};
use crate::query::{
    convert_in_order, finish_page, push_text_filters, spawn_chunks, Count, Cursor, EventChunks,
    JsonlChunks, Page, RecentQuery, UserActivity, USER_ACTIVITY_RECENT,
};
use crate::read_ahead::{ReadAhead, SliceReader};
use crate::retention::{ExpiredEvent, ExpiredGroup, Expiry};
use crate::rows::{
    event_from_row, from_micros, legacy_cold, payload_of, stored_payloads, LegacyColumns,
};
use crate::schema::{expected_tables, missing_migrations, SchemaReport};
use crate::security::SecuritySummary;
use crate::write::{decode_stored_hash, ids_to_check, plan, RequestOutcome, StoredContent};
use crate::{Store, StoreError};

static MIGRATOR: Migrator = sqlx::migrate!("./migrations/postgres");

/// Advisory lock key held by the writer for the duration of a group commit ("evlg").
const WRITER_LOCK: i64 = 0x6576_6c67;

/// Months of partitions created ahead of the current one.
const MONTHS_AHEAD: u32 = 2;
/// Rows per COPY message of a write: small enough that PostgreSQL works on one while the
/// writer prepares the next.
const COPY_CHUNK_ROWS: usize = 1_000;

const SELECT_COLUMNS: &str = "seq, event_id, event_code, event_category, event_type, event_name, \
    event_description, user_id, username, user_role, tenant_id, host(ip_address) AS ip_address, \
    user_agent, session_id, correlation_id, source, resource_type, resource_id, resource_name, \
    related, action, status, http_method, endpoint, http_status, request_data, response_data, \
    error_message, error_code, processing_time_ms, \"timestamp\", metadata, tags, severity, \
    importance, created_at, processed_at, payload";

/// PostgreSQL implementation of [`Store`].
#[derive(Debug)]
pub struct PgStore {
    pool: PgPool,
    /// First days of the months whose partition is known to exist.
    partitions: Mutex<HashSet<NaiveDate>>,
    /// Whether writes keep the rollups (always, but in the rollup-cost benchmark).
    rollups: bool,
    /// Compresses and inflates the events' cold fields.
    payloads: Arc<PayloadCodec>,
    /// Set once the stored payload dictionaries are loaded for writing.
    payloads_started: tokio::sync::OnceCell<()>,
}

impl PgStore {
    /// Connects to the database at `url`.
    pub async fn open(url: &str) -> Result<Self, StoreError> {
        crate::tls::install_default_provider();
        // One direct connection first: a pool would only report "timed out", where this
        // says why (refused, unknown database, authentication failed).
        PgConnection::connect(url).await?.close().await?;
        // The analytics group tens of thousands of hourly rollup rows (one per user and
        // hour); with the default 4 MB PostgreSQL sorts them on disk (the users report:
        // 160 ms instead of 65 ms on a 2,000-user day). Over a 10M-event store their
        // estimated cost passes `jit_above_cost`, and compiling the query took longer than
        // running it (60 of the users report's 166 ms): no JIT for these short reads.
        let options =
            PgConnectOptions::from_str(url)?.options([("work_mem", "32MB"), ("jit", "off")]);
        let pool = PgPoolOptions::new()
            .max_connections(8)
            .acquire_timeout(std::time::Duration::from_secs(5))
            .connect_with(options)
            .await?;
        Ok(Self {
            pool,
            partitions: Mutex::new(HashSet::new()),
            rollups: true,
            payloads: Arc::new(PayloadCodec::new()),
            payloads_started: tokio::sync::OnceCell::new(),
        })
    }

    /// A store that does not keep rollups at ingest: only for measuring what rollups cost
    /// (bench/analytics.sh). Its analytics are wrong until `eventlog rollups rebuild`.
    pub fn without_rollups(mut self) -> Self {
        self.rollups = false;
        self
    }

    /// The pool (for benchmarks and tests that inspect the database directly).
    pub fn pool(&self) -> &PgPool {
        &self.pool
    }

    /// Bulk-loads events with one `COPY` and nothing else: no id check, no lock. The
    /// ceiling that [`Store::write`] is benchmarked against; not for normal ingest.
    pub async fn copy_raw(&self, events: &[ValidatedEvent]) -> Result<u64, StoreError> {
        self.ensure_partitions(
            events
                .iter()
                .map(|e| month_of(e.record().timestamp))
                .collect(),
        )
        .await?;
        self.start_payloads().await?;
        let now = Utc::now();
        let mut data = Vec::with_capacity(1024 * events.len());
        for event in events {
            copy::encode_row(&mut data, event, now, None, &self.payloads);
        }
        let mut conn = self.pool.acquire().await?;
        let mut copy_in = conn.copy_in_raw(copy::COPY_STATEMENT).await?;
        copy_in.send(data).await?;
        let copied = copy_in.finish().await?;
        payload::learn_in_background(self.payloads.clone(), Arc::new(self.pool.clone()));
        Ok(copied)
    }

    /// Loads the stored payload dictionaries before the first write.
    async fn start_payloads(&self) -> Result<(), StoreError> {
        self.payloads_started
            .get_or_try_init(|| payload::start(&self.payloads, &self.pool))
            .await
            .map(|_| ())
    }

    /// Reads the dictionaries that `rows`' payloads need and this process has not loaded.
    async fn load_dictionaries(&self, rows: &[PgRow]) -> Result<(), StoreError> {
        payload::load_missing(&self.payloads, &self.pool, stored_payloads(rows)).await
    }

    /// The events in `rows` (selected with [`SELECT_COLUMNS`]) and their `seq`.
    async fn events_in(&self, rows: &[PgRow]) -> Result<Vec<(StoredEvent, i64)>, StoreError> {
        self.load_dictionaries(rows).await?;
        rows.iter()
            .map(|r| row_to_event(r, &self.payloads))
            .collect()
    }

    /// Makes sure a partition exists for the month of each of `times`.
    async fn ensure_partitions(&self, months: BTreeSet<NaiveDate>) -> Result<(), StoreError> {
        let missing: Vec<NaiveDate> = {
            let known = self.partitions.lock().expect("partition cache lock");
            months.into_iter().filter(|m| !known.contains(m)).collect()
        };
        for month in missing {
            let next = month + Months::new(1);
            // Identifiers cannot be bound; this name is built from a date, never from input.
            let ddl = format!(
                "CREATE TABLE IF NOT EXISTS events_p{:04}_{:02} PARTITION OF events \
                 FOR VALUES FROM ('{month}') TO ('{next}')",
                month.year(),
                month.month()
            );
            match sqlx::query(&ddl).execute(&self.pool).await {
                Ok(_) => {}
                // Another server created it between our check and our statement.
                Err(sqlx::Error::Database(e)) if e.code().as_deref() == Some("42P07") => {}
                Err(e) => return Err(e.into()),
            }
            self.partitions
                .lock()
                .expect("partition cache lock")
                .insert(month);
        }
        Ok(())
    }

    async fn applied_versions(&self) -> Result<Vec<i64>, StoreError> {
        let exists: bool = sqlx::query_scalar("SELECT to_regclass('_sqlx_migrations') IS NOT NULL")
            .fetch_one(&self.pool)
            .await?;
        if !exists {
            return Ok(Vec::new());
        }
        Ok(sqlx::query_scalar(
            "SELECT version FROM _sqlx_migrations WHERE success ORDER BY version",
        )
        .fetch_all(&self.pool)
        .await?)
    }
}

fn month_of(t: DateTime<Utc>) -> NaiveDate {
    NaiveDate::from_ymd_opt(t.year(), t.month(), 1).expect("first of a month exists")
}

#[async_trait]
impl DictionaryTable for PgPool {
    async fn dictionaries(&self, ids: Option<&[i64]>) -> Result<Vec<(i64, Vec<u8>)>, StoreError> {
        Ok(sqlx::query_as(
            "SELECT id, dictionary FROM payload_dictionaries \
             WHERE $1::int8[] IS NULL OR id = ANY($1) ORDER BY id",
        )
        .bind(ids)
        .fetch_all(self)
        .await?)
    }

    async fn next_dictionary_id(&self) -> Result<i64, StoreError> {
        Ok(
            sqlx::query_scalar("SELECT coalesce(max(id), 0) + 1 FROM payload_dictionaries")
                .fetch_one(self)
                .await?,
        )
    }

    async fn insert_dictionary(
        &self,
        id: i64,
        dictionary: &[u8],
        samples: i64,
    ) -> Result<bool, StoreError> {
        let done = sqlx::query(
            "INSERT INTO payload_dictionaries (id, dictionary, samples, created_at) \
             VALUES ($1, $2, $3, now()) ON CONFLICT (id) DO NOTHING",
        )
        .bind(id)
        .bind(dictionary)
        .bind(samples)
        .execute(self)
        .await?;
        Ok(done.rows_affected() == 1)
    }
}

/// Loads, on `conn`, the dictionaries this process has not seen. Called inside the
/// transaction that then reads events (after its cursor is declared, so with a snapshot at
/// least as new), no row it reads can need one it does not have, and a long read never waits
/// for a second connection.
async fn load_new_dictionaries(
    conn: &mut PgConnection,
    payloads: &PayloadCodec,
) -> Result<(), StoreError> {
    let stored: Vec<(i64, Vec<u8>)> =
        sqlx::query_as("SELECT id, dictionary FROM payload_dictionaries WHERE NOT (id = ANY($1))")
            .bind(payloads.known_ids())
            .fetch_all(&mut *conn)
            .await?;
    payloads.install_readers(stored)
}

fn row_to_event(row: &PgRow, payloads: &PayloadCodec) -> Result<(StoredEvent, i64), StoreError> {
    let cold = match payload_of(row)? {
        Some(bytes) => payloads.decode(bytes)?,
        None => legacy_cold(
            row,
            LegacyColumns {
                related: row.try_get("related")?,
                request_data: row.try_get("request_data")?,
                response_data: row.try_get("response_data")?,
                metadata: row.try_get("metadata")?,
                http_status: row
                    .try_get::<Option<i16>, _>("http_status")?
                    .map(|s| s as u16),
                tags: row
                    .try_get::<Option<Vec<String>>, _>("tags")?
                    .unwrap_or_default(),
            },
        )?,
    };
    event_from_row(row, cold)
}

impl PgStore {
    /// `q`'s rows, newest first, through one cursor over one snapshot, each chunk converted
    /// by `convert`. A cursor, not a plain SELECT: planned once, for a fast start
    /// (PostgreSQL's cursor_tuple_fraction), so it walks the timestamp index instead of
    /// sorting the whole range first. The chunks are converted on other threads
    /// ([`convert_in_order`]) while PostgreSQL reads the next ones.
    fn stream_rows<T, F>(
        &self,
        q: &RecentQuery,
        convert: F,
    ) -> BoxStream<'static, Result<T, StoreError>>
    where
        T: Send + 'static,
        F: Fn(&[PgRow], &PayloadCodec) -> Result<T, StoreError> + Send + Sync + 'static,
    {
        let pool = self.pool.clone();
        let payloads = self.payloads.clone();
        let q = q.clone();
        let fetching = Arc::clone(&payloads);
        let rows = spawn_chunks(move |chunks| async move {
            let mut tx = pool.begin().await?;
            sqlx::query("SET TRANSACTION READ ONLY")
                .execute(&mut *tx)
                .await?;
            select_recent("DECLARE export_events NO SCROLL CURSOR FOR ", &q)?
                .build()
                .persistent(false)
                .execute(&mut *tx)
                .await?;
            load_new_dictionaries(&mut tx, &fetching).await?;
            let read_ahead = ReadAhead::start(PgSlices(pool.clone()), &q);
            let fetch = format!("FETCH {} FROM export_events", q.limit.max(1));
            loop {
                let rows = sqlx::query(&fetch).fetch_all(&mut *tx).await?;
                if let Some(last) = rows.last() {
                    read_ahead.reached(last.try_get("timestamp")?);
                }
                if rows.is_empty() || chunks.send(Ok(rows)).await.is_err() {
                    break;
                }
            }
            tx.rollback().await?;
            Ok(())
        });
        convert_in_order(rows, move |rows: Vec<PgRow>| convert(&rows, &payloads))
    }
}

/// The export read-ahead's reads ([`crate::read_ahead`]). PostgreSQL counts a slice of the
/// time index with a bitmap or sequential scan: in page order.
struct PgSlices(PgPool);

#[async_trait]
impl SliceReader for PgSlices {
    async fn time_range(
        &self,
        since: Option<DateTime<Utc>>,
        until: Option<DateTime<Utc>>,
    ) -> Result<Option<(DateTime<Utc>, DateTime<Utc>)>, StoreError> {
        let (oldest, newest): (Option<DateTime<Utc>>, Option<DateTime<Utc>>) = sqlx::query_as(
            "SELECT min(\"timestamp\"), max(\"timestamp\") FROM events \
             WHERE ($1::timestamptz IS NULL OR \"timestamp\" >= $1) \
             AND ($2::timestamptz IS NULL OR \"timestamp\" < $2)",
        )
        .bind(since)
        .bind(until)
        .fetch_one(&self.0)
        .await?;
        Ok(oldest.zip(newest))
    }

    async fn read_slice(
        &self,
        lower: DateTime<Utc>,
        upper: DateTime<Utc>,
    ) -> Result<i64, StoreError> {
        Ok(sqlx::query_scalar(
            "SELECT count(payload) FROM events WHERE \"timestamp\" >= $1 AND \"timestamp\" < $2",
        )
        .bind(lower)
        .bind(upper)
        .fetch_one(&self.0)
        .await?)
    }
}

/// `recent`'s query without its limit (the filters, the cursor, newest first), after `prefix`.
fn select_recent(
    prefix: &str,
    q: &RecentQuery,
) -> Result<QueryBuilder<'static, Postgres>, StoreError> {
    let mut qb = QueryBuilder::<Postgres>::new(format!(
        "{prefix}SELECT {SELECT_COLUMNS} FROM events WHERE TRUE"
    ));
    push_text_filters(&mut qb, q);
    if !q.severity.is_empty() && !q.severity.iter().any(|s| s == "INFO") {
        // Implied by the filter; spelled out so that PostgreSQL may use the partial
        // severity index, which leaves INFO out.
        qb.push(" AND severity <> 'INFO'");
    }
    if let Some(ip) = q.ip_address {
        qb.push(" AND ip_address = CAST(")
            .push_bind(ip.to_string())
            .push(" AS inet)");
    }
    push_newest_first(&mut qb, q.since, q.until, q.cursor)?;
    Ok(qb)
}

/// The tail of every newest-first page (`recent`, the export, the activities feed): the time
/// range `[since, until)`, only events before `cursor`, newest first.
fn push_newest_first(
    qb: &mut QueryBuilder<'_, Postgres>,
    since: Option<DateTime<Utc>>,
    until: Option<DateTime<Utc>>,
    cursor: Option<Cursor>,
) -> Result<(), StoreError> {
    if let Some(since) = since {
        qb.push(" AND \"timestamp\" >= ").push_bind(since);
    }
    if let Some(until) = until {
        qb.push(" AND \"timestamp\" < ").push_bind(until);
    }
    if let Some(c) = cursor {
        qb.push(" AND (\"timestamp\", seq) < (")
            .push_bind(from_micros(c.ts_micros)?)
            .push(", ")
            .push_bind(c.seq)
            .push(")");
    }
    qb.push(" ORDER BY \"timestamp\" DESC, seq DESC");
    Ok(())
}

async fn read_head(conn: &mut PgConnection) -> Result<ChainHead, StoreError> {
    let row = sqlx::query_as(ChainHead::SELECT)
        .fetch_optional(conn)
        .await?;
    ChainHead::from_row(row)
}

fn row_to_checkpoint(row: &PgRow) -> Result<Checkpoint, StoreError> {
    Ok(Checkpoint {
        pos: row.try_get("chain_pos")?,
        chain_hash: hash32(row.try_get("chain_hash")?, "checkpoint chain_hash")?,
        leaf_sum: LeafSum(hash32(row.try_get("leaf_sum")?, "checkpoint leaf_sum")?),
        created_at: row.try_get("created_at")?,
        prev_signature: row.try_get("prev_signature")?,
        public_key: row.try_get("public_key")?,
        signature: row.try_get("signature")?,
    })
}

fn row_to_pruning(row: &PgRow) -> Result<Pruning, StoreError> {
    Ok(Pruning {
        from_pos: row.try_get("from_pos")?,
        to_pos: row.try_get("to_pos")?,
        pruned: row.try_get("pruned")?,
        leaf_sum: LeafSum(hash32(row.try_get("leaf_sum")?, "pruning leaf_sum")?),
        severity: row.try_get("severity")?,
        cutoff: row.try_get("cutoff")?,
        created_at: row.try_get("created_at")?,
        public_key: row.try_get("public_key")?,
        signature: row.try_get("signature")?,
    })
}

fn row_to_key(row: &PgRow) -> Result<ApiKey, StoreError> {
    let role: String = row.try_get("role")?;
    Ok(ApiKey {
        name: row.try_get("name")?,
        role: KeyRole::parse(&role).ok_or_else(|| StoreError::Corrupt(format!("role {role}")))?,
        tenant_id: row.try_get("tenant_id")?,
        prefix: row.try_get("prefix")?,
        origins: split_origins(row.try_get("allowed_origins")?),
        created_at: row.try_get("created_at")?,
        revoked_at: row.try_get("revoked_at")?,
    })
}

fn counts(rows: Vec<PgRow>) -> Result<Vec<Count>, StoreError> {
    rows.iter()
        .map(|r| {
            Ok(Count {
                value: r.try_get("value")?,
                count: r.try_get("n")?,
            })
        })
        .collect()
}

#[async_trait]
impl Store for PgStore {
    fn backend(&self) -> &'static str {
        "postgres"
    }

    async fn migrate(&self) -> Result<Vec<String>, StoreError> {
        let before = self.applied_versions().await?;
        MIGRATOR.run(&self.pool).await?;
        let now = month_of(Utc::now());
        self.ensure_partitions((0..=MONTHS_AHEAD).map(|i| now + Months::new(i)).collect())
            .await?;
        Ok(missing_migrations(&MIGRATOR, &before))
    }

    async fn check_schema(&self) -> Result<SchemaReport, StoreError> {
        let applied = self.applied_versions().await?;
        let mut report = SchemaReport::from_migrations("postgres", &MIGRATOR, &applied);
        let live: Vec<(String, String, String)> = sqlx::query_as(
            "SELECT table_name::text, column_name::text, udt_name::text FROM information_schema.columns \
             WHERE table_schema = current_schema() AND table_name = ANY($1)",
        )
        .bind(expected_tables())
        .fetch_all(&self.pool)
        .await?;
        report.compare_columns(&live);
        Ok(report)
    }

    async fn ping(&self) -> Result<(), StoreError> {
        sqlx::query("SELECT 1").execute(&self.pool).await?;
        Ok(())
    }

    async fn write(
        &self,
        requests: &[Vec<ValidatedEvent>],
    ) -> Result<Vec<RequestOutcome>, StoreError> {
        self.ensure_partitions(
            requests
                .iter()
                .flatten()
                .map(|e| month_of(e.record().timestamp))
                .collect(),
        )
        .await?;
        self.start_payloads().await?;
        let mut tx = self.pool.begin().await?;
        sqlx::query("SELECT pg_advisory_xact_lock($1)")
            .bind(WRITER_LOCK)
            .execute(&mut *tx)
            .await?;
        let check: Vec<&str> = ids_to_check(requests);
        let mut known = HashMap::new();
        if !check.is_empty() {
            // Always by the event_id index, never a scan of the events: planned afresh each
            // time (a cached generic plan was made while a month's partition was empty), and
            // with sequential scans off for this one statement, since a partition that was
            // never analyzed (autovacuum off, a fresh bulk load) made the planner scan it
            // whole for every batch (15 s per batch at 500,000 events; ingest fell to a
            // third over a minute).
            sqlx::query("SET LOCAL enable_seqscan = off")
                .execute(&mut *tx)
                .await?;
            let rows: Vec<(String, Vec<u8>, Option<Vec<u8>>, Option<String>)> = sqlx::query_as(
                "SELECT event_id, content_hash, record_hash, tenant_id FROM events \
                 WHERE event_id = ANY($1)",
            )
            .persistent(false)
            .bind(&check)
            .fetch_all(&mut *tx)
            .await?;
            sqlx::query("SET LOCAL enable_seqscan = on")
                .execute(&mut *tx)
                .await?;
            for (id, sent, record, tenant) in rows {
                let content = StoredContent {
                    sent: decode_stored_hash(sent)?,
                    record: opt_hash32(record),
                    tenant,
                };
                known.insert(id, content);
            }
        }
        let (mut outcomes, inserts) = plan(requests, known);
        // Microsecond precision, as stored, so the chain links what verify reads back.
        let now = from_micros(Utc::now().timestamp_micros())?;
        crate::write::stamp(&mut outcomes, now);
        let rows: Vec<&ValidatedEvent> = inserts
            .iter()
            .zip(requests)
            .flat_map(|(idx, events)| idx.iter().map(move |i| &events[*i]))
            .collect();
        let mut head = read_head(&mut tx).await?;
        // Rollups of exactly the rows inserted (repeats were left out by the plan), in the
        // same transaction: they can never disagree with the events.
        let mut batch = RollupBatch::new();
        if !rows.is_empty() {
            // Sent in chunks, so PostgreSQL stores one chunk while the next is linked into the
            // chain, encoded and folded into the rollups here.
            let mut copy_in = tx.copy_in_raw(copy::COPY_STATEMENT).await?;
            for chunk in rows.chunks(COPY_CHUNK_ROWS) {
                let links = link_events(&mut head, chunk.iter().copied(), now.timestamp_micros());
                let mut data = Vec::with_capacity(1024 * chunk.len());
                for (event, link) in chunk.iter().zip(&links) {
                    copy::encode_row(&mut data, event, now, Some(link), &self.payloads);
                    if self.rollups {
                        batch.add(event.record());
                    }
                }
                copy_in.send(data).await?;
            }
            copy_in.finish().await?;
            sqlx::query(
                "INSERT INTO chain_head (id, chain_pos, chain_hash, leaf_sum) VALUES (1, $1, $2, $3) \
                 ON CONFLICT (id) DO UPDATE SET chain_pos = excluded.chain_pos, \
                 chain_hash = excluded.chain_hash, leaf_sum = excluded.leaf_sum",
            )
            .bind(head.pos)
            .bind(head.hash.to_vec())
            .bind(head.leaf_sum.0.to_vec())
            .execute(&mut *tx)
            .await?;
        }
        if self.rollups {
            let daily_from =
                rollups::fold_closed_days(&mut tx, Grain::Day.floor(Utc::now())).await?;
            rollups::upsert(&mut tx, &batch, daily_from).await?;
        }
        tx.commit().await?;
        payload::learn_in_background(self.payloads.clone(), Arc::new(self.pool.clone()));
        Ok(outcomes)
    }

    async fn get_event(
        &self,
        event_id: &str,
        tenant: Option<&str>,
    ) -> Result<Option<StoredEvent>, StoreError> {
        let sql = format!(
            "SELECT {SELECT_COLUMNS} FROM events WHERE event_id = $1 AND ($2::text IS NULL OR tenant_id = $2) LIMIT 1"
        );
        let row = sqlx::query(&sql)
            .bind(event_id)
            .bind(tenant)
            .fetch_optional(&self.pool)
            .await?;
        let Some(row) = row else { return Ok(None) };
        Ok(self
            .events_in(std::slice::from_ref(&row))
            .await?
            .pop()
            .map(|(e, _)| e))
    }

    async fn recent(&self, q: &RecentQuery) -> Result<Page, StoreError> {
        let mut qb = select_recent("", q)?;
        qb.push(" LIMIT ").push_bind(i64::from(q.limit) + 1);
        let rows = qb.build().fetch_all(&self.pool).await?;
        Ok(finish_page(self.events_in(&rows).await?, q.limit))
    }

    fn stream_recent(&self, q: &RecentQuery) -> EventChunks {
        self.stream_rows(q, |rows, payloads| {
            rows.iter()
                .map(|r| row_to_event(r, payloads).map(|(e, _)| e))
                .collect()
        })
    }

    fn stream_recent_jsonl(&self, q: &RecentQuery) -> JsonlChunks {
        self.stream_rows(q, |rows, payloads| {
            jsonl::render_rows(rows, payloads, |row| {
                row_to_event(row, payloads).map(|(e, _)| e)
            })
        })
    }

    async fn user_activity(
        &self,
        user_id: &str,
        since: DateTime<Utc>,
        tenant: Option<&str>,
    ) -> Result<UserActivity, StoreError> {
        let scope = "user_id = $1 AND \"timestamp\" >= $2 AND ($3::text IS NULL OR tenant_id = $3)";
        // One pass over the user's events gives both breakdowns.
        let groups: Vec<(String, String, i64)> = sqlx::query_as(&format!(
            "SELECT event_category, status, count(*) FROM events WHERE {scope} \
             GROUP BY event_category, status"
        ))
        .bind(user_id)
        .bind(since)
        .bind(tenant)
        .fetch_all(&self.pool)
        .await?;
        // Walks the (user_id, timestamp) index backwards and stops at the first login.
        let last_login: Option<DateTime<Utc>> = sqlx::query_scalar(
            "SELECT \"timestamp\" FROM events WHERE user_id = $1 AND ($2::text IS NULL OR tenant_id = $2) \
             AND (event_type = 'USER_LOGIN' OR event_code = 'AUTH-001') AND status = 'SUCCESS' \
             ORDER BY \"timestamp\" DESC LIMIT 1",
        )
        .bind(user_id)
        .bind(tenant)
        .fetch_optional(&self.pool)
        .await?;
        let recent = sqlx::query(&format!(
            "SELECT {SELECT_COLUMNS} FROM events WHERE {scope} ORDER BY \"timestamp\" DESC, seq DESC LIMIT $4"
        ))
        .bind(user_id).bind(since).bind(tenant).bind(USER_ACTIVITY_RECENT)
        .fetch_all(&self.pool).await?;
        let recent_events: Vec<StoredEvent> = self
            .events_in(&recent)
            .await?
            .into_iter()
            .map(|(e, _)| e)
            .collect();
        Ok(UserActivity::assemble(
            user_id,
            since,
            groups,
            last_login,
            recent_events,
        ))
    }

    async fn create_key(&self, key: &NewApiKey) -> Result<ApiKey, StoreError> {
        let row = sqlx::query(
            "INSERT INTO api_keys (name, role, tenant_id, prefix, key_hash, created_at, allowed_origins) VALUES ($1, $2, $3, $4, $5, now(), $6) \
             RETURNING name, role, tenant_id, prefix, created_at, revoked_at, allowed_origins",
        )
        .bind(&key.name)
        .bind(key.role.as_str())
        .bind(&key.tenant_id)
        .bind(&key.prefix)
        .bind(&key.hash)
        .bind(join_origins(&key.origins))
        .fetch_one(&self.pool)
        .await;
        match row {
            Err(sqlx::Error::Database(e)) if e.is_unique_violation() => {
                Err(StoreError::KeyExists(key.name.clone()))
            }
            Err(e) => Err(e.into()),
            Ok(row) => row_to_key(&row),
        }
    }

    async fn list_keys(&self) -> Result<Vec<ApiKey>, StoreError> {
        let rows = sqlx::query("SELECT name, role, tenant_id, prefix, created_at, revoked_at, allowed_origins FROM api_keys ORDER BY id")
            .fetch_all(&self.pool)
            .await?;
        rows.iter().map(row_to_key).collect()
    }

    async fn revoke_key(&self, name: &str) -> Result<bool, StoreError> {
        let done = sqlx::query(
            "UPDATE api_keys SET revoked_at = now() WHERE name = $1 AND revoked_at IS NULL",
        )
        .bind(name)
        .execute(&self.pool)
        .await?;
        Ok(done.rows_affected() > 0)
    }

    async fn find_key(&self, key_hash: &str) -> Result<Option<ApiKey>, StoreError> {
        let row = sqlx::query(
            "SELECT name, role, tenant_id, prefix, created_at, revoked_at, allowed_origins FROM api_keys WHERE key_hash = $1 AND revoked_at IS NULL",
        )
        .bind(key_hash)
        .fetch_optional(&self.pool)
        .await?;
        row.as_ref().map(row_to_key).transpose()
    }

    async fn count_events(&self) -> Result<i64, StoreError> {
        Ok(sqlx::query_scalar("SELECT count(*) FROM events")
            .fetch_one(&self.pool)
            .await?)
    }

    async fn security_summary(
        &self,
        since: DateTime<Utc>,
        tenant: Option<&str>,
    ) -> Result<SecuritySummary, StoreError> {
        self.security_overview(since, tenant).await
    }

    async fn rollup_rows(&self, query: &RollupQuery) -> Result<Vec<RollupRow>, StoreError> {
        self.read_rollups(query).await
    }

    async fn rollup_values(&self, query: &RollupQuery) -> Result<Vec<String>, StoreError> {
        self.rollup_values(query).await
    }

    async fn daily_from(&self) -> Result<DateTime<Utc>, StoreError> {
        rollups::daily_from(&self.pool).await
    }

    async fn rebuild_rollups(&self, day: DateTime<Utc>) -> Result<u64, StoreError> {
        self.rebuild_day(day).await
    }

    async fn event_days(
        &self,
        since: Option<DateTime<Utc>>,
    ) -> Result<Vec<(DateTime<Utc>, i64)>, StoreError> {
        self.days_with_events(since).await
    }

    async fn activities(&self, query: &ActivityQuery) -> Result<Page, StoreError> {
        self.activity_page(query).await
    }

    async fn chain_head(&self) -> Result<ChainHead, StoreError> {
        let mut conn = self.pool.acquire().await?;
        read_head(&mut conn).await
    }

    async fn chain_rows(&self, after: (i64, i64), limit: u32) -> Result<Vec<ChainRow>, StoreError> {
        let sql = format!(
            "SELECT {SELECT_COLUMNS}, record_hash, chain_pos, chain_hash FROM events \
             WHERE chain_pos IS NOT NULL AND (chain_pos, seq) > ($1, $2) ORDER BY chain_pos, seq LIMIT $3"
        );
        let rows = sqlx::query(&sql)
            .bind(after.0)
            .bind(after.1)
            .bind(i64::from(limit))
            .fetch_all(&self.pool)
            .await?;
        self.load_dictionaries(&rows).await?;
        rows.iter()
            .map(|row| {
                let created_at: DateTime<Utc> = row.try_get("created_at")?;
                Ok(ChainRow {
                    seq: row.try_get("seq")?,
                    pos: row.try_get("chain_pos")?,
                    record_hash: opt_hash32(row.try_get("record_hash")?),
                    chain_hash: opt_hash32(row.try_get("chain_hash")?),
                    created_at_micros: created_at.timestamp_micros(),
                    event_id: row.try_get("event_id")?,
                    event: row_to_event(row, &self.payloads)
                        .map(|(e, _)| e)
                        .map_err(|e| e.to_string()),
                })
            })
            .collect()
    }

    async fn first_unchained(&self) -> Result<Option<(i64, String)>, StoreError> {
        Ok(sqlx::query_as(
            "SELECT seq, event_id FROM events WHERE chain_pos IS NULL AND seq > \
             (SELECT min(seq) FROM events WHERE chain_pos IS NOT NULL) ORDER BY seq LIMIT 1",
        )
        .fetch_optional(&self.pool)
        .await?)
    }

    async fn add_checkpoint(&self, c: &Checkpoint) -> Result<(), StoreError> {
        sqlx::query(
            "INSERT INTO chain_checkpoints (chain_pos, chain_hash, leaf_sum, created_at, \
             prev_signature, public_key, signature) VALUES ($1, $2, $3, $4, $5, $6, $7)",
        )
        .bind(c.pos)
        .bind(c.chain_hash.to_vec())
        .bind(c.leaf_sum.0.to_vec())
        .bind(c.created_at)
        .bind(c.prev_signature.as_deref())
        .bind(c.public_key.as_slice())
        .bind(c.signature.as_slice())
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    async fn checkpoints(&self) -> Result<Vec<Checkpoint>, StoreError> {
        let rows = sqlx::query("SELECT * FROM chain_checkpoints ORDER BY chain_pos, id")
            .fetch_all(&self.pool)
            .await?;
        rows.iter().map(row_to_checkpoint).collect()
    }

    async fn add_pruning(&self, p: &Pruning) -> Result<(), StoreError> {
        sqlx::query(
            "INSERT INTO chain_prunings (from_pos, to_pos, pruned, leaf_sum, severity, cutoff, \
             created_at, public_key, signature) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
        )
        .bind(p.from_pos)
        .bind(p.to_pos)
        .bind(p.pruned)
        .bind(p.leaf_sum.0.to_vec())
        .bind(&p.severity)
        .bind(p.cutoff)
        .bind(p.created_at)
        .bind(p.public_key.as_slice())
        .bind(p.signature.as_slice())
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    async fn prunings(&self) -> Result<Vec<Pruning>, StoreError> {
        let rows = sqlx::query("SELECT * FROM chain_prunings ORDER BY id")
            .fetch_all(&self.pool)
            .await?;
        rows.iter().map(row_to_pruning).collect()
    }

    async fn open_alert(&self, alert: &NewAlert) -> Result<Option<Alert>, StoreError> {
        self.insert_alert(alert).await
    }

    async fn resolve_alert(
        &self,
        id: i64,
        at: DateTime<Utc>,
        value: f64,
    ) -> Result<Option<Alert>, StoreError> {
        self.close_alert(id, at, value).await
    }

    async fn latest_alerts(&self) -> Result<Vec<Alert>, StoreError> {
        self.latest_alert_rows().await
    }

    async fn alerts(&self, query: &AlertQuery) -> Result<AlertPage, StoreError> {
        self.alert_page(query).await
    }

    async fn expired_groups(&self, expiry: &Expiry) -> Result<Vec<ExpiredGroup>, StoreError> {
        self.expired_by_group(expiry).await
    }

    async fn expired_page(
        &self,
        expiry: &Expiry,
        day: DateTime<Utc>,
        after: Option<(DateTime<Utc>, i64)>,
        limit: u32,
    ) -> Result<Vec<ExpiredEvent>, StoreError> {
        self.expired_rows(expiry, day, after, limit).await
    }

    async fn delete_events(&self, keys: &[(DateTime<Utc>, i64)]) -> Result<Vec<i64>, StoreError> {
        self.delete_by_key(keys).await
    }

    async fn partition_rows(
        &self,
        month: DateTime<Utc>,
    ) -> Result<Option<(String, i64)>, StoreError> {
        self.rows_of_partition(month).await
    }

    async fn try_lock_job(&self, job: &str) -> Result<Option<crate::JobLock>, StoreError> {
        // A session advisory lock on a connection taken out of the pool: it ends, and the
        // lock with it, when the guard drops the connection or the process dies.
        let mut conn = self.pool.acquire().await?.detach();
        let locked: bool =
            sqlx::query_scalar("SELECT pg_try_advisory_lock(hashtextextended($1, 0))")
                .bind(format!("eventlog.{job}"))
                .fetch_one(&mut conn)
                .await?;
        Ok(locked.then(|| crate::JobLock::new(conn)))
    }

    async fn drop_partition(
        &self,
        month: DateTime<Utc>,
        expected: i64,
    ) -> Result<bool, StoreError> {
        self.drop_whole_partition(month, expected).await
    }
}
