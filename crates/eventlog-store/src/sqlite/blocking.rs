//! Reads over many rows run on connections of their own (rusqlite) on blocking threads: the
//! JSON-lines export and the rollup reads of the query layer. Through sqlx every row
//! crosses from SQLite's worker thread to the async task over a channel, each value copied
//! and freed on the way; over hundreds of thousands of rows that was most of the time
//! (bench/README.md, "Export" and "Analytics"). Here rows are read from SQLite's own
//! buffers while the statement steps. Writes stay with sqlx.

use std::fs::File;
use std::io::{Read, Seek, SeekFrom};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use chrono::{DateTime, Utc};
use rusqlite::types::{FromSqlError, Value, ValueRef};
use rusqlite::{Connection, OpenFlags};

use crate::query::SqlWriter;
use crate::rows::{from_micros, RowColumns};
use crate::StoreError;

/// How long a read waits for a lock held by a checkpoint, as sqlx's pool does.
const BUSY_TIMEOUT: Duration = Duration::from_secs(10);
/// Idle connections kept for the next read; more may be open at once.
const IDLE_CONNECTIONS: usize = 4;

/// Read-only rusqlite connections to one database file, opened on demand and kept for reuse
/// (a connection parses the schema again when it is new).
#[derive(Debug)]
pub(super) struct BlockingReaders {
    path: PathBuf,
    idle: Mutex<Vec<Connection>>,
}

impl BlockingReaders {
    pub(super) fn new(path: PathBuf) -> Self {
        Self {
            path,
            idle: Mutex::new(Vec::new()),
        }
    }

    /// The database file.
    pub(super) fn path(&self) -> &Path {
        &self.path
    }

    /// Runs `read` with a connection on a blocking thread.
    pub(super) async fn run<T, F>(self: &Arc<Self>, read: F) -> Result<T, StoreError>
    where
        T: Send + 'static,
        F: FnOnce(&Connection) -> Result<T, StoreError> + Send + 'static,
    {
        let readers = Arc::clone(self);
        tokio::task::spawn_blocking(move || {
            let conn = readers.take()?;
            let result = read(&conn);
            readers.give_back(conn);
            result
        })
        .await
        .map_err(|e| StoreError::Corrupt(format!("a blocking read failed: {e}")))?
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

/// Block size of [`ReadAhead`]: large reads are what the disk does fast.
const READ_AHEAD_BLOCK: usize = 4 << 20;

/// Reads a database file into the page cache from its end backwards, in large blocks, on a
/// thread of its own, until dropped. A newest-first walk over a store that is not in memory
/// reads SQLite's 4 KiB pages from the end of the file towards its start, and the kernel
/// reads ahead only forwards: each page was a disk read of its own, and a cold 10M export
/// ran at a third of its warm speed (bench/README.md, "Export"). Rows are appended, so the
/// newest are near the end. It stops with the read it serves; what it read beyond that
/// stays in the page cache.
pub(super) struct ReadAhead {
    stop: Arc<AtomicBool>,
}

impl ReadAhead {
    pub(super) fn start(path: &Path) -> Self {
        let stop = Arc::new(AtomicBool::new(false));
        let stopped = Arc::clone(&stop);
        let path = path.to_owned();
        let spawned = std::thread::Builder::new()
            .name("eventlog-read-ahead".into())
            .spawn(move || {
                let Ok(mut file) = File::open(&path) else {
                    return;
                };
                let Ok(meta) = file.metadata() else { return };
                let mut block = vec![0u8; READ_AHEAD_BLOCK];
                let mut end = meta.len();
                while end > 0 && !stopped.load(Ordering::Relaxed) {
                    let start = end.saturating_sub(READ_AHEAD_BLOCK as u64);
                    let len = (end - start) as usize;
                    let read = file
                        .seek(SeekFrom::Start(start))
                        .and_then(|_| file.read_exact(&mut block[..len]));
                    if read.is_err() {
                        return;
                    }
                    end = start;
                }
            });
        if let Err(e) = spawned {
            tracing::debug!(error = %e, "no read-ahead thread");
        }
        Self { stop }
    }
}

impl Drop for ReadAhead {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
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
