//! The embedded default store: one SQLite file in WAL mode, `synchronous=FULL` so that a
//! committed transaction survives power loss. The group commit writes on a connection of
//! its own ([`writer`]), other writes on one sqlx connection, reads on a small pool and on
//! the blocking readers ([`blocking`]).

mod alerts;
mod blocking;
mod export;
mod retention;
mod rollups;
mod security;
mod writer;

use std::path::{Path, PathBuf};
use std::sync::{Arc, Weak};
use std::time::Duration;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use eventlog_core::integrity::LeafSum;
use eventlog_core::{StoredEvent, ValidatedEvent};
use futures::TryStreamExt;
use sqlx::migrate::Migrator;
use sqlx::sqlite::{
    SqliteConnectOptions, SqliteJournalMode, SqlitePool, SqlitePoolOptions, SqliteRow,
    SqliteSynchronous,
};
use sqlx::{ConnectOptions, QueryBuilder, Row};

use self::blocking::{BlockingReaders, SqliteSlices};
use self::writer::EventWriter;
use crate::alerts::{Alert, AlertPage, AlertQuery, NewAlert};
use crate::analytics::{ActivityQuery, RollupQuery, RollupRow};
use crate::integrity::{hash32, opt_hash32, ChainHead, ChainRow, Checkpoint, Pruning};
use crate::keys::{join_origins, split_origins, ApiKey, KeyRole, NewApiKey};
use crate::payload::{self, DictionaryTable, PayloadCodec};
use crate::query::{
    convert_in_order, finish_page, push_text_filters, spawn_chunks, Count, Cursor, EventChunks,
    JsonlChunks, Page, RecentQuery, SqlWriter, UserActivity, USER_ACTIVITY_RECENT,
};
use crate::read_ahead::ReadAhead;
use crate::retention::{ExpiredEvent, ExpiredGroup, Expiry};
use crate::rows::{
    event_from_row, from_micros, legacy_cold, payload_of, stored_payloads, LegacyColumns,
    RowColumns,
};
use crate::schema::{expected_tables, missing_migrations, SchemaReport};
use crate::security::SecuritySummary;
use crate::write::RequestOutcome;
use crate::{Store, StoreError};

static MIGRATOR: Migrator = sqlx::migrate!("./migrations/sqlite");

/// Columns read back, `seq` first.
const SELECT_COLUMNS: &str = "seq, event_id, event_code, event_category, event_type, event_name, \
    event_description, user_id, username, user_role, tenant_id, ip_address, user_agent, \
    session_id, correlation_id, source, resource_type, resource_id, resource_name, related, \
    action, status, http_method, endpoint, http_status, request_data, response_data, \
    error_message, error_code, processing_time_ms, timestamp, metadata, tags, severity, \
    importance, created_at, processed_at, payload";

/// SQLite implementation of [`Store`].
#[derive(Debug, Clone)]
pub struct SqliteStore {
    /// Connections of their own for the reads over many rows (export, rollups).
    blocking: Arc<BlockingReaders>,
    /// The database file (job locks are files beside it).
    path: PathBuf,
    /// The group commit's connection (rusqlite): ingest and rollup rebuilds.
    events_writer: Arc<EventWriter>,
    /// Every other write (keys, alerts, retention, dictionaries, migrations).
    writer: SqlitePool,
    reader: SqlitePool,
    /// Alive while any clone of the store is; the checkpointer stops when it is gone.
    _alive: Arc<()>,
    /// Whether writes keep the rollups (always, but in the rollup-cost benchmark).
    rollups: bool,
    /// Compresses and inflates the events' cold fields.
    payloads: Arc<PayloadCodec>,
    /// Set once the stored payload dictionaries are loaded for writing.
    payloads_started: Arc<tokio::sync::OnceCell<()>>,
}

/// How often the background checkpointer copies the WAL into the database file.
const CHECKPOINT_EVERY: Duration = Duration::from_millis(250);
/// WAL length (4 KiB pages) beyond which the checkpointer makes the writer wait until the
/// log restarts, so the WAL stays bounded (about 256 MiB) when ingest outpaces checkpoints.
const MAX_WAL_PAGES: i64 = 65_536;

/// Creates the database file, if missing, readable and writable by its owner only: it is
/// the audit trail, kept as privately as the key files (SQLite gives its `-wal` and `-shm`
/// files the database file's mode). An empty file is an empty database.
fn create_private(path: &str) -> Result<(), StoreError> {
    #[cfg(unix)]
    if path != ":memory:" && !Path::new(path).exists() {
        use std::os::unix::fs::OpenOptionsExt;
        std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(path)
            .map_err(|e| StoreError::Config(format!("cannot create {path}: {e}")))?;
    }
    Ok(())
}

impl SqliteStore {
    /// Opens (creating file and folder if needed) the database at `path`.
    pub async fn open(path: &str) -> Result<Self, StoreError> {
        if let Some(dir) = Path::new(path)
            .parent()
            .filter(|d| !d.as_os_str().is_empty())
        {
            std::fs::create_dir_all(dir).map_err(|e| {
                StoreError::Config(format!("cannot create folder {}: {e}", dir.display()))
            })?;
        }
        create_private(path)?;
        let options = SqliteConnectOptions::new()
            .filename(path)
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            .synchronous(SqliteSynchronous::Full)
            .busy_timeout(writer::BUSY_TIMEOUT)
            .pragma("cache_size", "-16384")
            .pragma("temp_store", "memory")
            .pragma("journal_size_limit", "67108864");
        // The writer never checkpoints (that would stall ingest); a background connection
        // does, on the other core. Its statements (keys, alerts, checkpoints of the chain,
        // retention) wait for SQLite's lock between group commits: under sustained ingest a
        // wait of a second is expected, so only one past the busy timeout is reported.
        let writer = SqlitePoolOptions::new()
            .max_connections(1)
            .connect_with(
                options
                    .clone()
                    .pragma("wal_autocheckpoint", "0")
                    .log_slow_statements(log::LevelFilter::Warn, writer::BUSY_TIMEOUT),
            )
            .await?;
        // A checkpoint taking seconds under load is expected, not a slow query to report.
        // It copies WAL frames to the file and needs no page cache of its own (2 MiB).
        let checkpointer = SqlitePoolOptions::new()
            .max_connections(1)
            .connect_with(
                options
                    .clone()
                    .disable_statement_logging()
                    .pragma("cache_size", "-2048"),
            )
            .await?;
        let reader = SqlitePoolOptions::new()
            .max_connections(4)
            // 16 MiB of page cache per reader (as the writers), so four busy readers
            // keep the server's memory bounded.
            .connect_with(options.read_only(true).pragma("cache_size", "-16384"))
            .await?;
        let alive = Arc::new(());
        tokio::spawn(checkpoint_loop(checkpointer, Arc::downgrade(&alive)));
        Ok(Self {
            blocking: Arc::new(BlockingReaders::new(PathBuf::from(path))),
            path: PathBuf::from(path),
            events_writer: Arc::new(EventWriter::open(Path::new(path))?),
            writer,
            reader,
            _alive: alive,
            rollups: true,
            payloads: Arc::new(PayloadCodec::new()),
            payloads_started: Arc::new(tokio::sync::OnceCell::new()),
        })
    }

    /// A store that does not keep rollups at ingest: only for measuring what rollups cost
    /// (bench/analytics.sh). Its analytics are wrong until `eventlog rollups rebuild`.
    pub fn without_rollups(mut self) -> Self {
        self.rollups = false;
        self
    }

    /// Loads the stored payload dictionaries before the first write.
    async fn start_payloads(&self) -> Result<(), StoreError> {
        self.payloads_started
            .get_or_try_init(|| payload::start(&self.payloads, &self.writer))
            .await
            .map(|_| ())
    }

    /// Reads the dictionaries that `rows`' payloads need and this process has not loaded.
    async fn load_dictionaries(&self, rows: &[SqliteRow]) -> Result<(), StoreError> {
        payload::load_missing(&self.payloads, &self.reader, stored_payloads(rows)).await
    }

    /// The events in `rows` (selected with [`SELECT_COLUMNS`]) and their `seq`.
    async fn events_in(&self, rows: &[SqliteRow]) -> Result<Vec<(StoredEvent, i64)>, StoreError> {
        self.load_dictionaries(rows).await?;
        rows.iter()
            .map(|r| row_to_event(r, &self.payloads))
            .collect()
    }

    async fn applied_versions(&self) -> Result<Vec<i64>, StoreError> {
        let exists: i64 = sqlx::query_scalar(
            "SELECT count(*) FROM sqlite_master WHERE type = 'table' AND name = '_sqlx_migrations'",
        )
        .fetch_one(&self.reader)
        .await?;
        if exists == 0 {
            return Ok(Vec::new());
        }
        Ok(sqlx::query_scalar(
            "SELECT version FROM _sqlx_migrations WHERE success ORDER BY version",
        )
        .fetch_all(&self.reader)
        .await?)
    }
}

/// Copies committed WAL frames into the database file until the store is dropped. PASSIVE
/// checkpoints never block the writer; only a WAL longer than [`MAX_WAL_PAGES`] gets a
/// RESTART checkpoint, which holds the writer back until the log starts over.
async fn checkpoint_loop(pool: SqlitePool, alive: Weak<()>) {
    while alive.strong_count() > 0 {
        tokio::time::sleep(CHECKPOINT_EVERY).await;
        let passive: Result<(i64, i64, i64), _> = sqlx::query_as("PRAGMA wal_checkpoint(PASSIVE)")
            .fetch_one(&pool)
            .await;
        let result = match passive {
            Ok((_, wal_pages, _)) if wal_pages > MAX_WAL_PAGES => {
                sqlx::query("PRAGMA wal_checkpoint(RESTART)")
                    .execute(&pool)
                    .await
                    .map(drop)
            }
            other => other.map(drop),
        };
        if let Err(e) = result {
            tracing::warn!(error = %e, "WAL checkpoint failed; will retry");
        }
    }
    pool.close().await;
}

/// `recent`'s query without its limit: the filters, the cursor, newest first.
fn select_recent<W: SqlWriter>(sql: &mut W, q: &RecentQuery) {
    sql.sql("SELECT ")
        .sql(SELECT_COLUMNS)
        .sql(" FROM events WHERE 1 = 1");
    push_text_filters(sql, q);
    if let Some(ip) = q.ip_address {
        sql.sql(" AND ip_address = ").text_value(ip.to_string());
    }
    push_newest_first(sql, q.since, q.until, q.cursor);
}

/// The tail of every newest-first page (`recent`, the export, the activities feed): the time
/// range `[since, until)`, only events before `cursor`, newest first.
fn push_newest_first(
    sql: &mut impl SqlWriter,
    since: Option<DateTime<Utc>>,
    until: Option<DateTime<Utc>>,
    cursor: Option<Cursor>,
) {
    if let Some(since) = since {
        sql.sql(" AND timestamp >= ").int_value(micros(since));
    }
    if let Some(until) = until {
        sql.sql(" AND timestamp < ").int_value(micros(until));
    }
    // Keyset paging, newest first: only events before the cursor. A row value, not
    // `timestamp < ? OR (timestamp = ? AND seq < ?)`: with two separate parameters SQLite
    // cannot tell they are equal, plans a MULTI-INDEX OR and sorts everything from the
    // start of the range on every page.
    if let Some(c) = cursor {
        sql.sql(" AND (timestamp, seq) < (")
            .int_value(c.ts_micros)
            .sql(", ")
            .int_value(c.seq)
            .sql(")");
    }
    sql.sql(" ORDER BY timestamp DESC, seq DESC");
}

fn micros(t: DateTime<Utc>) -> i64 {
    t.timestamp_micros()
}

#[async_trait]
impl DictionaryTable for SqlitePool {
    async fn dictionaries(&self, ids: Option<&[i64]>) -> Result<Vec<(i64, Vec<u8>)>, StoreError> {
        // The id list as JSON, or NULL for every dictionary.
        let wanted = ids.map(|ids| serde_json::to_string(ids).unwrap_or_default());
        Ok(sqlx::query_as(
            "SELECT id, dictionary FROM payload_dictionaries \
             WHERE ? IS NULL OR id IN (SELECT value FROM json_each(?)) ORDER BY id",
        )
        .bind(&wanted)
        .bind(&wanted)
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
             VALUES (?, ?, ?, ?) ON CONFLICT (id) DO NOTHING",
        )
        .bind(id)
        .bind(dictionary)
        .bind(samples)
        .bind(micros(Utc::now()))
        .execute(self)
        .await?;
        Ok(done.rows_affected() == 1)
    }
}

/// The stored dictionaries whose ids are not in the bound JSON list: those a process has not
/// loaded yet (here, and on the export's own connection).
const NEW_DICTIONARIES: &str = "SELECT id, dictionary FROM payload_dictionaries \
    WHERE id NOT IN (SELECT value FROM json_each(?))";

/// [`load_new_dictionaries`] on a rusqlite connection (the export's reader, the writer).
fn install_new_dictionaries(
    conn: &rusqlite::Connection,
    payloads: &PayloadCodec,
) -> Result<(), StoreError> {
    let stored = conn
        .prepare(NEW_DICTIONARIES)?
        .query_map([known_dictionaries(payloads)], |row| {
            Ok((row.get(0)?, row.get(1)?))
        })?
        .collect::<Result<Vec<(i64, Vec<u8>)>, _>>()?;
    payloads.install_readers(stored)
}

/// The ids of the dictionaries `payloads` has loaded, as [`NEW_DICTIONARIES`] binds them.
fn known_dictionaries(payloads: &PayloadCodec) -> String {
    serde_json::to_string(&payloads.known_ids()).unwrap_or_default()
}

/// Loads, on `conn`, the dictionaries this process has not seen. Called inside the
/// transaction that then reads events, no row it reads can need one it does not have, and a
/// long read never waits for a second connection.
async fn load_new_dictionaries(
    conn: &mut sqlx::SqliteConnection,
    payloads: &PayloadCodec,
) -> Result<(), StoreError> {
    let stored: Vec<(i64, Vec<u8>)> = sqlx::query_as(NEW_DICTIONARIES)
        .bind(known_dictionaries(payloads))
        .fetch_all(&mut *conn)
        .await?;
    payloads.install_readers(stored)
}

/// The event in `row` (selected with [`SELECT_COLUMNS`], by sqlx or by the export's own
/// connection) and its `seq`.
fn row_to_event<R: RowColumns>(
    row: &R,
    payloads: &PayloadCodec,
) -> Result<(StoredEvent, i64), StoreError> {
    let cold = match payload_of(row)? {
        Some(bytes) => payloads.decode(bytes)?,
        None => {
            fn json<T: serde::de::DeserializeOwned>(
                row: &impl RowColumns,
                column: &'static str,
            ) -> Result<Option<T>, StoreError> {
                row.text_named(column)?
                    .map(serde_json::from_str)
                    .transpose()
                    .map_err(|e| StoreError::Corrupt(format!("{column}: {e}")))
            }
            legacy_cold(
                row,
                LegacyColumns {
                    related: json(row, "related")?,
                    request_data: json(row, "request_data")?,
                    response_data: json(row, "response_data")?,
                    metadata: json(row, "metadata")?,
                    http_status: row.int(row.position("http_status")?)?.map(|s| s as u16),
                    tags: json(row, "tags")?.unwrap_or_default(),
                },
            )?
        }
    };
    event_from_row(row, cold)
}

fn row_to_checkpoint(row: &SqliteRow) -> Result<Checkpoint, StoreError> {
    Ok(Checkpoint {
        pos: row.try_get("chain_pos")?,
        chain_hash: hash32(row.try_get("chain_hash")?, "checkpoint chain_hash")?,
        leaf_sum: LeafSum(hash32(row.try_get("leaf_sum")?, "checkpoint leaf_sum")?),
        created_at: from_micros(row.try_get("created_at")?)?,
        prev_signature: row.try_get("prev_signature")?,
        public_key: row.try_get("public_key")?,
        signature: row.try_get("signature")?,
    })
}

fn row_to_pruning(row: &SqliteRow) -> Result<Pruning, StoreError> {
    Ok(Pruning {
        from_pos: row.try_get("from_pos")?,
        to_pos: row.try_get("to_pos")?,
        pruned: row.try_get("pruned")?,
        leaf_sum: LeafSum(hash32(row.try_get("leaf_sum")?, "pruning leaf_sum")?),
        severity: row.try_get("severity")?,
        cutoff: from_micros(row.try_get("cutoff")?)?,
        created_at: from_micros(row.try_get("created_at")?)?,
        public_key: row.try_get("public_key")?,
        signature: row.try_get("signature")?,
    })
}

fn row_to_key(row: &SqliteRow) -> Result<ApiKey, StoreError> {
    let role: String = row.try_get("role")?;
    Ok(ApiKey {
        name: row.try_get("name")?,
        role: KeyRole::parse(&role).ok_or_else(|| StoreError::Corrupt(format!("role {role}")))?,
        tenant_id: row.try_get("tenant_id")?,
        prefix: row.try_get("prefix")?,
        origins: split_origins(row.try_get("allowed_origins")?),
        created_at: from_micros(row.try_get("created_at")?)?,
        revoked_at: row
            .try_get::<Option<i64>, _>("revoked_at")?
            .map(from_micros)
            .transpose()?,
    })
}

fn counts(rows: Vec<SqliteRow>) -> Result<Vec<Count>, StoreError> {
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
impl Store for SqliteStore {
    fn backend(&self) -> &'static str {
        "sqlite"
    }

    async fn migrate(&self) -> Result<Vec<String>, StoreError> {
        let before = self.applied_versions().await?;
        MIGRATOR.run(&self.writer).await?;
        Ok(missing_migrations(&MIGRATOR, &before))
    }

    async fn check_schema(&self) -> Result<SchemaReport, StoreError> {
        let applied = self.applied_versions().await?;
        let mut report = SchemaReport::from_migrations("sqlite", &MIGRATOR, &applied);
        let live: Vec<(String, String, String)> = sqlx::query_as(
            "SELECT m.name, p.name, p.type FROM sqlite_master m, pragma_table_info(m.name) p \
             WHERE m.type = 'table' AND m.name IN (SELECT value FROM json_each(?))",
        )
        .bind(serde_json::to_string(&expected_tables()).unwrap_or_default())
        .fetch_all(&self.reader)
        .await?;
        report.compare_columns(&live);
        Ok(report)
    }

    async fn ping(&self) -> Result<(), StoreError> {
        sqlx::query("SELECT 1").execute(&self.reader).await?;
        Ok(())
    }

    async fn write(
        &self,
        requests: &[Vec<ValidatedEvent>],
    ) -> Result<Vec<RequestOutcome>, StoreError> {
        // Compressed before the write lock is taken (the few repeats found under it are
        // compressed for nothing).
        self.start_payloads().await?;
        let packed: Vec<Vec<Vec<u8>>> = requests
            .iter()
            .map(|events| {
                events
                    .iter()
                    .map(|e| self.payloads.encode(e.record()))
                    .collect()
            })
            .collect();
        let rollups = self.rollups;
        let outcomes = if writer::in_place_possible() {
            self.events_writer
                .run_in_place(|conn| writer::write_group(conn, requests, &packed, rollups))?
        } else {
            let requests = requests.to_vec();
            self.events_writer
                .run_owned(move |conn| writer::write_group(conn, &requests, &packed, rollups))
                .await?
        };
        payload::learn_in_background(self.payloads.clone(), Arc::new(self.writer.clone()));
        Ok(outcomes)
    }

    async fn get_event(
        &self,
        event_id: &str,
        tenant: Option<&str>,
    ) -> Result<Option<StoredEvent>, StoreError> {
        let sql = format!(
            "SELECT {SELECT_COLUMNS} FROM events WHERE event_id = ? AND (? IS NULL OR tenant_id = ?)"
        );
        let row = sqlx::query(&sql)
            .bind(event_id)
            .bind(tenant)
            .bind(tenant)
            .fetch_optional(&self.reader)
            .await?;
        let Some(row) = row else { return Ok(None) };
        Ok(self
            .events_in(std::slice::from_ref(&row))
            .await?
            .pop()
            .map(|(e, _)| e))
    }

    async fn recent(&self, q: &RecentQuery) -> Result<Page, StoreError> {
        let mut qb = QueryBuilder::new("");
        select_recent(&mut qb, q);
        qb.push(" LIMIT ").push_bind(i64::from(q.limit) + 1);
        let rows = qb.build().fetch_all(&self.reader).await?;
        Ok(finish_page(self.events_in(&rows).await?, q.limit))
    }

    /// `q`'s events, newest first, in chunks of `q.limit`. One statement reads one snapshot
    /// (SQLite holds the read transaction until the statement ends), walking the timestamp
    /// index newest first.
    fn stream_recent(&self, q: &RecentQuery) -> EventChunks {
        let reader = self.reader.clone();
        let payloads = self.payloads.clone();
        let q = q.clone();
        spawn_chunks(move |chunks| async move {
            // One read transaction: the dictionaries and the events from one snapshot.
            let mut tx = reader.begin().await?;
            load_new_dictionaries(&mut tx, &payloads).await?;
            let mut qb = QueryBuilder::new("");
            select_recent(&mut qb, &q);
            let mut rows = qb.build().fetch(&mut *tx);
            let size = q.limit.max(1) as usize;
            let mut chunk = Vec::with_capacity(size);
            loop {
                let row = rows.try_next().await?;
                let last = row.is_none();
                chunk.extend(row);
                if chunk.len() == size || (last && !chunk.is_empty()) {
                    let events = chunk
                        .iter()
                        .map(|r| row_to_event(r, &payloads).map(|(e, _)| e))
                        .collect();
                    if chunks.send(events).await.is_err() {
                        return Ok(());
                    }
                    chunk.clear();
                }
                if last {
                    return Ok(());
                }
            }
        })
    }

    fn stream_recent_jsonl(&self, q: &RecentQuery) -> JsonlChunks {
        let blocking = self.blocking.clone();
        let payloads = self.payloads.clone();
        let q = q.clone();
        let reading = Arc::clone(&payloads);
        let batches = spawn_chunks(move |batches| async move {
            let read_ahead = ReadAhead::start(SqliteSlices(blocking.clone()), &q);
            blocking
                .run(move |conn| export::export_rows(conn, &read_ahead, &q, &reading, &batches))
                .await
        });
        convert_in_order(batches, move |batch| export::render(&batch, &payloads))
    }

    async fn user_activity(
        &self,
        user_id: &str,
        since: DateTime<Utc>,
        tenant: Option<&str>,
    ) -> Result<UserActivity, StoreError> {
        let since_us = micros(since);
        let scope = "user_id = ? AND timestamp >= ? AND (? IS NULL OR tenant_id = ?)";
        // One pass over the user's events gives both breakdowns.
        let groups: Vec<(String, String, i64)> = sqlx::query_as(&format!(
            "SELECT event_category, status, count(*) FROM events WHERE {scope} \
             GROUP BY event_category, status"
        ))
        .bind(user_id)
        .bind(since_us)
        .bind(tenant)
        .bind(tenant)
        .fetch_all(&self.reader)
        .await?;
        // Walks the (user_id, timestamp) index backwards and stops at the first login.
        let last_login: Option<i64> = sqlx::query_scalar(
            "SELECT timestamp FROM events WHERE user_id = ? AND (? IS NULL OR tenant_id = ?) \
             AND (event_type = 'USER_LOGIN' OR event_code = 'AUTH-001') AND status = 'SUCCESS' \
             ORDER BY timestamp DESC LIMIT 1",
        )
        .bind(user_id)
        .bind(tenant)
        .bind(tenant)
        .fetch_optional(&self.reader)
        .await?;
        let recent = sqlx::query(&format!(
            "SELECT {SELECT_COLUMNS} FROM events WHERE {scope} ORDER BY timestamp DESC, seq DESC LIMIT ?"
        ))
        .bind(user_id).bind(since_us).bind(tenant).bind(tenant).bind(USER_ACTIVITY_RECENT)
        .fetch_all(&self.reader).await?;
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
            last_login.map(from_micros).transpose()?,
            recent_events,
        ))
    }

    async fn create_key(&self, key: &NewApiKey) -> Result<ApiKey, StoreError> {
        let now = Utc::now();
        let result = sqlx::query(
            "INSERT INTO api_keys (name, role, tenant_id, prefix, key_hash, created_at, allowed_origins) VALUES (?, ?, ?, ?, ?, ?, ?)",
        )
        .bind(&key.name)
        .bind(key.role.as_str())
        .bind(&key.tenant_id)
        .bind(&key.prefix)
        .bind(&key.hash)
        .bind(micros(now))
        .bind(join_origins(&key.origins))
        .execute(&self.writer)
        .await;
        match result {
            Err(sqlx::Error::Database(e)) if e.is_unique_violation() => {
                Err(StoreError::KeyExists(key.name.clone()))
            }
            Err(e) => Err(e.into()),
            Ok(_) => Ok(ApiKey {
                name: key.name.clone(),
                role: key.role,
                tenant_id: key.tenant_id.clone(),
                prefix: key.prefix.clone(),
                origins: key.origins.clone(),
                created_at: from_micros(micros(now))?,
                revoked_at: None,
            }),
        }
    }

    async fn list_keys(&self) -> Result<Vec<ApiKey>, StoreError> {
        let rows = sqlx::query("SELECT name, role, tenant_id, prefix, created_at, revoked_at, allowed_origins FROM api_keys ORDER BY id")
            .fetch_all(&self.reader)
            .await?;
        rows.iter().map(row_to_key).collect()
    }

    async fn revoke_key(&self, name: &str) -> Result<bool, StoreError> {
        let done =
            sqlx::query("UPDATE api_keys SET revoked_at = ? WHERE name = ? AND revoked_at IS NULL")
                .bind(micros(Utc::now()))
                .bind(name)
                .execute(&self.writer)
                .await?;
        Ok(done.rows_affected() > 0)
    }

    async fn find_key(&self, key_hash: &str) -> Result<Option<ApiKey>, StoreError> {
        let row = sqlx::query(
            "SELECT name, role, tenant_id, prefix, created_at, revoked_at, allowed_origins FROM api_keys WHERE key_hash = ? AND revoked_at IS NULL",
        )
        .bind(key_hash)
        .fetch_optional(&self.reader)
        .await?;
        row.as_ref().map(row_to_key).transpose()
    }

    async fn count_events(&self) -> Result<i64, StoreError> {
        Ok(sqlx::query_scalar("SELECT count(*) FROM events")
            .fetch_one(&self.reader)
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
        rollups::daily_from(&self.reader).await
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
        let row = sqlx::query_as(ChainHead::SELECT)
            .fetch_optional(&self.reader)
            .await?;
        ChainHead::from_row(row)
    }

    async fn chain_rows(&self, after: (i64, i64), limit: u32) -> Result<Vec<ChainRow>, StoreError> {
        let sql = format!(
            "SELECT {SELECT_COLUMNS}, record_hash, chain_pos, chain_hash FROM events \
             WHERE chain_pos IS NOT NULL AND (chain_pos, seq) > (?, ?) ORDER BY chain_pos, seq LIMIT ?"
        );
        let rows = sqlx::query(&sql)
            .bind(after.0)
            .bind(after.1)
            .bind(i64::from(limit))
            .fetch_all(&self.reader)
            .await?;
        self.load_dictionaries(&rows).await?;
        rows.iter()
            .map(|row| {
                Ok(ChainRow {
                    seq: row.try_get("seq")?,
                    pos: row.try_get("chain_pos")?,
                    record_hash: opt_hash32(row.try_get("record_hash")?),
                    chain_hash: opt_hash32(row.try_get("chain_hash")?),
                    created_at_micros: row.try_get("created_at")?,
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
        .fetch_optional(&self.reader)
        .await?)
    }

    async fn add_checkpoint(&self, c: &Checkpoint) -> Result<(), StoreError> {
        sqlx::query(
            "INSERT INTO chain_checkpoints (chain_pos, chain_hash, leaf_sum, created_at, \
             prev_signature, public_key, signature) VALUES (?, ?, ?, ?, ?, ?, ?)",
        )
        .bind(c.pos)
        .bind(c.chain_hash.to_vec())
        .bind(c.leaf_sum.0.to_vec())
        .bind(micros(c.created_at))
        .bind(c.prev_signature.as_deref())
        .bind(c.public_key.as_slice())
        .bind(c.signature.as_slice())
        .execute(&self.writer)
        .await?;
        Ok(())
    }

    async fn checkpoints(&self) -> Result<Vec<Checkpoint>, StoreError> {
        let rows = sqlx::query("SELECT * FROM chain_checkpoints ORDER BY chain_pos, id")
            .fetch_all(&self.reader)
            .await?;
        rows.iter().map(row_to_checkpoint).collect()
    }

    async fn add_pruning(&self, p: &Pruning) -> Result<(), StoreError> {
        sqlx::query(
            "INSERT INTO chain_prunings (from_pos, to_pos, pruned, leaf_sum, severity, cutoff, \
             created_at, public_key, signature) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
        )
        .bind(p.from_pos)
        .bind(p.to_pos)
        .bind(p.pruned)
        .bind(p.leaf_sum.0.to_vec())
        .bind(&p.severity)
        .bind(micros(p.cutoff))
        .bind(micros(p.created_at))
        .bind(p.public_key.as_slice())
        .bind(p.signature.as_slice())
        .execute(&self.writer)
        .await?;
        Ok(())
    }

    async fn prunings(&self) -> Result<Vec<Pruning>, StoreError> {
        let rows = sqlx::query("SELECT * FROM chain_prunings ORDER BY id")
            .fetch_all(&self.reader)
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
        self.delete_by_seq(keys).await
    }

    async fn partition_rows(
        &self,
        _month: DateTime<Utc>,
    ) -> Result<Option<(String, i64)>, StoreError> {
        Ok(None)
    }

    async fn try_lock_job(&self, job: &str) -> Result<Option<crate::JobLock>, StoreError> {
        // A lock file beside the database, locked with flock: released by the kernel when
        // the process ends, however it ends. Every process using the file sees it.
        // Named from the real path, so a symlink to the database meets the same lock.
        let db = std::fs::canonicalize(&self.path).unwrap_or_else(|_| self.path.clone());
        let mut name = db.into_os_string();
        name.push(format!(".{job}.lock"));
        let path = PathBuf::from(name);
        let file = std::fs::OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&path)
            .map_err(|e| StoreError::Config(format!("cannot open {}: {e}", path.display())))?;
        match file.try_lock() {
            Ok(()) => Ok(Some(crate::JobLock::new(file))),
            Err(std::fs::TryLockError::WouldBlock) => Ok(None),
            Err(std::fs::TryLockError::Error(e)) => Err(StoreError::Config(format!(
                "cannot lock {}: {e}",
                path.display()
            ))),
        }
    }

    async fn drop_partition(
        &self,
        _month: DateTime<Utc>,
        _expected: i64,
    ) -> Result<bool, StoreError> {
        Ok(false)
    }
}
