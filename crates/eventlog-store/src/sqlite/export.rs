//! The JSON-lines export of a SQLite store, read on a connection of its own (rusqlite) on a
//! blocking thread. Through sqlx every row crosses from SQLite's worker thread to the async
//! task over a channel, with each of its 38 values copied and freed on the way: that was
//! most of an export's time (bench/README.md, "Export"). Here each row is rendered straight
//! from SQLite's own buffers while the statement steps.

use std::path::Path;
use std::time::Duration;

use chrono::{DateTime, Utc};
use rusqlite::types::{FromSqlError, Value, ValueRef};
use rusqlite::{Connection, OpenFlags};

use super::{row_to_event, select_recent};
use crate::jsonl::LineRenderer;
use crate::payload::PayloadCodec;
use crate::query::{ChunkSender, JsonLines, RecentQuery, SqlWriter};
use crate::rows::{from_micros, RowColumns};
use crate::StoreError;

/// How long the export waits for a lock held by a writer's checkpoint, as sqlx's pool does.
const BUSY_TIMEOUT: Duration = Duration::from_secs(10);

/// SQL text with `?` placeholders and the values they bind, in order.
#[derive(Default)]
struct Statement {
    sql: String,
    values: Vec<Value>,
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

/// Sends `q`'s events, newest first, as chunks of `q.limit` JSON lines to `chunks`, read from
/// the database file at `path` in one read transaction: the dictionaries and the events come
/// from one snapshot. Returns early, without error, when the receiver is gone.
pub(super) fn export_jsonl(
    path: &Path,
    q: &RecentQuery,
    payloads: &PayloadCodec,
    chunks: &ChunkSender<JsonLines>,
) -> Result<(), StoreError> {
    let mut conn = Connection::open_with_flags(
        path,
        OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX,
    )?;
    conn.busy_timeout(BUSY_TIMEOUT)?;
    let tx = conn.transaction()?;
    let known = payloads.known_ids();
    let mut dictionaries = tx.prepare("SELECT id, dictionary FROM payload_dictionaries")?;
    let stored = dictionaries
        .query_map([], |row| {
            Ok((row.get::<_, i64>(0)?, row.get::<_, Vec<u8>>(1)?))
        })?
        .filter(|stored| !matches!(stored, Ok((id, _)) if known.contains(id)))
        .collect::<Result<Vec<_>, _>>()?;
    payloads.install_readers(stored)?;

    let mut statement = Statement::default();
    select_recent(&mut statement, q);
    let mut select = tx.prepare(&statement.sql)?;
    let mut rows = select.query(rusqlite::params_from_iter(statement.values.iter()))?;
    let size = q.limit.max(1) as usize;
    let new_chunk = || JsonLines {
        bytes: Vec::with_capacity(size * 1024),
        events: 0,
    };
    let mut lines = new_chunk();
    let mut renderer = LineRenderer::default();
    let decode = |row: &rusqlite::Row<'_>| row_to_event(row, payloads).map(|(e, _)| e);
    while let Some(row) = rows.next()? {
        renderer.render(&mut lines.bytes, row, payloads, decode)?;
        lines.events += 1;
        if lines.events == size
            && chunks
                .blocking_send(Ok(std::mem::replace(&mut lines, new_chunk())))
                .is_err()
        {
            return Ok(());
        }
    }
    if lines.events > 0 {
        let _ = chunks.blocking_send(Ok(lines));
    }
    Ok(())
}
