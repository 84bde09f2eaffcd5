//! Reads over many rows run on connections of their own (rusqlite) on blocking threads:
//! the JSON-lines export, its read-ahead and the rollup reads of the query layer. Through
//! sqlx every row crosses from SQLite's worker thread to the async task over a channel, each
//! value copied and freed on the way; over hundreds of thousands of rows that was most of
//! the time (bench/README.md, "Export" and "Analytics"). Here rows are read from SQLite's
//! own buffers while the statement steps (the export copies each chunk out once, to render
//! it on other threads). The group commit has a connection of its own ([`super::writer`]).

use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use rusqlite::types::{FromSqlError, Value, ValueRef};
use rusqlite::{Connection, OpenFlags};
use tokio::sync::Semaphore;

use crate::query::SqlWriter;
use crate::read_ahead::SliceReader;
use crate::rows::{from_micros, RowColumns};
use crate::StoreError;

/// How long a read waits for a lock held by a checkpoint, as sqlx's pool does.
const BUSY_TIMEOUT: Duration = Duration::from_secs(10);
/// Idle connections kept for the next read.
const IDLE_CONNECTIONS: usize = 4;
/// Reads running at once (each on a blocking thread with a connection); more wait.
const CONCURRENT_READS: usize = 16;

/// Read-only rusqlite connections to one database file, opened on demand and kept for reuse
/// (a connection parses the schema again when it is new).
#[derive(Debug)]
pub(super) struct BlockingReaders {
    path: PathBuf,
    idle: Mutex<Vec<Connection>>,
    running: Arc<Semaphore>,
}

impl BlockingReaders {
    pub(super) fn new(path: PathBuf) -> Self {
        Self {
            path,
            idle: Mutex::new(Vec::new()),
            running: Arc::new(Semaphore::new(CONCURRENT_READS)),
        }
    }

    /// Runs `read` with a connection on a blocking thread.
    pub(super) async fn run<T, F>(self: &Arc<Self>, read: F) -> Result<T, StoreError>
    where
        T: Send + 'static,
        F: FnOnce(&Connection) -> Result<T, StoreError> + Send + 'static,
    {
        let permit = Arc::clone(&self.running)
            .acquire_owned()
            .await
            .expect("the semaphore is never closed");
        let readers = Arc::clone(self);
        let joined = tokio::task::spawn_blocking(move || {
            let _permit = permit;
            let conn = readers.take()?;
            let result = read(&conn);
            readers.give_back(conn);
            result
        })
        .await;
        match joined {
            Ok(result) => result,
            // A bug in the read, not a fault of the data: let it surface as the panic it is.
            Err(e) if e.is_panic() => std::panic::resume_unwind(e.into_panic()),
            Err(e) => Err(StoreError::Config(format!(
                "a blocking read was cancelled: {e}"
            ))),
        }
    }

    fn take(&self) -> Result<Connection, StoreError> {
        if let Some(conn) = self.idle.lock().expect("idle connections lock").pop() {
            return Ok(conn);
        }
        let conn = Connection::open_with_flags(
            &self.path,
            OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX,
        )?;
        conn.busy_timeout(BUSY_TIMEOUT)?;
        Ok(conn)
    }

    fn give_back(&self, conn: Connection) {
        // A read that failed half-way may have left its transaction open.
        if !conn.is_autocommit() {
            return;
        }
        let mut idle = self.idle.lock().expect("idle connections lock");
        if idle.len() < IDLE_CONNECTIONS {
            idle.push(conn);
        }
    }
}

/// The export read-ahead's reads ([`crate::read_ahead`]), on connections of their own.
/// SQLite counts a slice through the time index, which for rows appended in time order
/// reads the table's pages forwards.
pub(super) struct SqliteSlices(pub(super) Arc<BlockingReaders>);

#[async_trait]
impl SliceReader for SqliteSlices {
    async fn time_range(
        &self,
        since: Option<DateTime<Utc>>,
        until: Option<DateTime<Utc>>,
    ) -> Result<Option<(DateTime<Utc>, DateTime<Utc>)>, StoreError> {
        let (since, until) = (
            since.map(|t| t.timestamp_micros()),
            until.map(|t| t.timestamp_micros()),
        );
        self.0
            .run(move |conn| {
                let (oldest, newest): (Option<i64>, Option<i64>) = conn.query_row(
                    "SELECT min(timestamp), max(timestamp) FROM events \
                     WHERE (?1 IS NULL OR timestamp >= ?1) AND (?2 IS NULL OR timestamp < ?2)",
                    (since, until),
                    |row| Ok((row.get(0)?, row.get(1)?)),
                )?;
                match (oldest, newest) {
                    (Some(o), Some(n)) => Ok(Some((from_micros(o)?, from_micros(n)?))),
                    _ => Ok(None),
                }
            })
            .await
    }

    async fn read_slice(
        &self,
        lower: DateTime<Utc>,
        upper: DateTime<Utc>,
    ) -> Result<i64, StoreError> {
        let (lower, upper) = (lower.timestamp_micros(), upper.timestamp_micros());
        self.0
            .run(move |conn| {
                Ok(conn.query_row(
                    "SELECT count(payload) FROM events WHERE timestamp >= ? AND timestamp < ?",
                    (lower, upper),
                    |row| row.get(0),
                )?)
            })
            .await
    }
}

/// SQL text with `?` placeholders and the values they bind, in order.
#[derive(Default)]
pub(super) struct Statement {
    pub(super) sql: String,
    values: Vec<Value>,
}

impl Statement {
    /// The bound values, for `query`.
    pub(super) fn params(&self) -> impl rusqlite::Params + '_ {
        rusqlite::params_from_iter(self.values.iter())
    }
}

impl SqlWriter for Statement {
    fn sql(&mut self, text: &str) -> &mut Self {
        self.sql.push_str(text);
        self
    }

    fn text_value(&mut self, value: String) -> &mut Self {
        self.sql.push('?');
        self.values.push(Value::Text(value));
        self
    }

    fn int_value(&mut self, value: i64) -> &mut Self {
        self.sql.push('?');
        self.values.push(Value::Integer(value));
        self
    }
}

impl RowColumns for rusqlite::Row<'_> {
    fn position(&self, name: &'static str) -> Result<usize, StoreError> {
        Ok(self.as_ref().column_index(name)?)
    }

    fn text(&self, at: usize) -> Result<Option<&str>, StoreError> {
        self.get_ref(at)?
            .as_str_or_null()
            .map_err(|e| wrong_type(self, at, e))
    }

    fn int(&self, at: usize) -> Result<Option<i64>, StoreError> {
        self.get_ref(at)?
            .as_i64_or_null()
            .map_err(|e| wrong_type(self, at, e))
    }

    fn float(&self, at: usize) -> Result<Option<f64>, StoreError> {
        // A REAL column keeps a whole number as an integer on disk when it fits.
        match self.get_ref(at)? {
            ValueRef::Integer(i) => Ok(Some(i as f64)),
            other => other.as_f64_or_null().map_err(|e| wrong_type(self, at, e)),
        }
    }

    fn blob(&self, at: usize) -> Result<Option<&[u8]>, StoreError> {
        self.get_ref(at)?
            .as_blob_or_null()
            .map_err(|e| wrong_type(self, at, e))
    }

    fn time(&self, at: usize) -> Result<DateTime<Utc>, StoreError> {
        from_micros(
            self.get_ref(at)?
                .as_i64()
                .map_err(|e| wrong_type(self, at, e))?,
        )
    }
}

/// A stored value of another type than its column's.
fn wrong_type(row: &rusqlite::Row<'_>, at: usize, e: FromSqlError) -> StoreError {
    let column = row.as_ref().column_name(at).unwrap_or("?");
    StoreError::Corrupt(format!("column {column}: {e}"))
}
