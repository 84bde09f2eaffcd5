//! The JSON-lines export of a SQLite store. One connection of its own
//! ([`super::blocking`]) steps through the rows and copies each chunk out of SQLite's
//! buffers ([`RowBatch`]); other threads render the chunks to JSON lines
//! ([`crate::query::convert_in_order`]).

use std::sync::Arc;

use chrono::{DateTime, Utc};
use rusqlite::types::ValueRef;
use rusqlite::Connection;

use super::blocking::Statement;
use super::{install_new_dictionaries, row_to_event, select_recent};
use crate::jsonl;
use crate::payload::PayloadCodec;
use crate::query::{ChunkSender, JsonLines, RecentQuery};
use crate::read_ahead::ReadAhead;
use crate::rows::{from_micros, RowColumns};
use crate::StoreError;

/// Sends `q`'s rows, newest first, as batches of `q.limit` rows to `batches`, read in one
/// read transaction: the dictionaries and the events come from one snapshot (the
/// dictionaries are installed in `payloads` before the first batch goes). Tells
/// `read_ahead` how far it got after each batch. Returns early, without error, when the
/// receiver is gone.
pub(super) fn export_rows(
    conn: &Connection,
    read_ahead: &ReadAhead,
    q: &RecentQuery,
    payloads: &PayloadCodec,
    batches: &ChunkSender<RowBatch>,
) -> Result<(), StoreError> {
    let tx = conn.unchecked_transaction()?;
    install_new_dictionaries(&tx, payloads)?;

    let mut statement = Statement::default();
    select_recent(&mut statement, q);
    let mut select = tx.prepare(&statement.sql)?;
    let names = RowBatch::columns_of(&select);
    let timestamp = select.column_index("timestamp")?;
    let size = q.limit.max(1) as usize;
    let mut rows = select.query(statement.params())?;
    let mut batch = RowBatch::new(&names, size);
    while let Some(row) = rows.next()? {
        batch.push(row)?;
        if batch.len() < size {
            continue;
        }
        read_ahead.reached(from_micros(row.get(timestamp)?)?);
        let full = std::mem::replace(&mut batch, RowBatch::new(&names, size));
        if batches.blocking_send(Ok(full)).is_err() {
            return Ok(());
        }
    }
    if batch.len() > 0 {
        let _ = batches.blocking_send(Ok(batch));
    }
    Ok(())
}

/// The JSON lines of `batch`'s rows.
pub(super) fn render(batch: &RowBatch, payloads: &PayloadCodec) -> Result<JsonLines, StoreError> {
    jsonl::render_rows(&batch.rows(), payloads, |row| {
        row_to_event(row, payloads).map(|(e, _)| e)
    })
}

/// Rows of one query, copied out of SQLite's buffers while the statement steps, so that
/// they can be read on another thread.
pub(super) struct RowBatch {
    names: Arc<[String]>,
    /// The rows' values, `names.len()` per row.
    cells: Vec<Cell>,
    /// The bytes of the text values, one after the other, checked as UTF-8 all at once
    /// ([`RowBatch::rows`]): checking each short value on its own was 5% of an export.
    text: Vec<u8>,
    /// The bytes of the blob values.
    blobs: Vec<u8>,
}

/// One value of a row, as SQLite stored it; text and blobs by their place in `text` or
/// `blobs`.
#[derive(Clone, Copy)]
enum Cell {
    Null,
    Integer(i64),
    Real(f64),
    Text(usize, usize),
    Blob(usize, usize),
}

impl RowBatch {
    /// The column names of `select`'s rows, shared by its batches.
    fn columns_of(select: &rusqlite::Statement<'_>) -> Arc<[String]> {
        select
            .column_names()
            .into_iter()
            .map(String::from)
            .collect()
    }

    fn new(names: &Arc<[String]>, rows: usize) -> Self {
        Self {
            names: Arc::clone(names),
            cells: Vec::with_capacity(rows * names.len()),
            text: Vec::with_capacity(rows * 384),
            blobs: Vec::with_capacity(rows * 128),
        }
    }

    /// How many rows it holds.
    fn len(&self) -> usize {
        self.cells.len() / self.names.len().max(1)
    }

    fn push(&mut self, row: &rusqlite::Row<'_>) -> Result<(), StoreError> {
        fn place(to: &mut Vec<u8>, bytes: &[u8]) -> (usize, usize) {
            let start = to.len();
            to.extend_from_slice(bytes);
            (start, to.len())
        }
        for at in 0..self.names.len() {
            let cell = match row.get_ref(at)? {
                ValueRef::Null => Cell::Null,
                ValueRef::Integer(i) => Cell::Integer(i),
                ValueRef::Real(f) => Cell::Real(f),
                ValueRef::Text(t) => {
                    let (start, end) = place(&mut self.text, t);
                    Cell::Text(start, end)
                }
                ValueRef::Blob(b) => {
                    let (start, end) = place(&mut self.blobs, b);
                    Cell::Blob(start, end)
                }
            };
            self.cells.push(cell);
        }
        Ok(())
    }

    /// The rows, in the order they were read.
    fn rows(&self) -> Vec<BatchRow<'_>> {
        // Slices of valid UTF-8 cut where characters begin are valid UTF-8; if the whole is
        // not (a damaged value), each value is checked on its own.
        let text = std::str::from_utf8(&self.text).ok();
        self.cells
            .chunks(self.names.len().max(1))
            .map(|cells| BatchRow {
                batch: self,
                text,
                cells,
            })
            .collect()
    }
}

/// One row of a [`RowBatch`].
pub(super) struct BatchRow<'a> {
    batch: &'a RowBatch,
    /// The batch's text, if all of it is UTF-8.
    text: Option<&'a str>,
    cells: &'a [Cell],
}

impl BatchRow<'_> {
    fn cell(&self, at: usize) -> Result<Cell, StoreError> {
        self.cells
            .get(at)
            .copied()
            .ok_or_else(|| StoreError::Corrupt(format!("no column {at}")))
    }

    fn wrong_type(&self, at: usize, wanted: &str) -> StoreError {
        let column = self.batch.names.get(at).map_or("?", String::as_str);
        StoreError::Corrupt(format!("column {column}: not {wanted}"))
    }
}

impl RowColumns for BatchRow<'_> {
    fn position(&self, name: &'static str) -> Result<usize, StoreError> {
        self.batch
            .names
            .iter()
            .position(|n| n == name)
            .ok_or_else(|| StoreError::Corrupt(format!("no column {name}")))
    }

    fn text(&self, at: usize) -> Result<Option<&str>, StoreError> {
        match self.cell(at)? {
            Cell::Null => Ok(None),
            Cell::Text(start, end) => self
                .text
                .and_then(|text| text.get(start..end))
                .or_else(|| std::str::from_utf8(&self.batch.text[start..end]).ok())
                .map(Some)
                .ok_or_else(|| self.wrong_type(at, "UTF-8 text")),
            _ => Err(self.wrong_type(at, "text")),
        }
    }

    fn int(&self, at: usize) -> Result<Option<i64>, StoreError> {
        match self.cell(at)? {
            Cell::Null => Ok(None),
            Cell::Integer(i) => Ok(Some(i)),
            _ => Err(self.wrong_type(at, "an integer")),
        }
    }

    fn float(&self, at: usize) -> Result<Option<f64>, StoreError> {
        match self.cell(at)? {
            Cell::Null => Ok(None),
            // A REAL column keeps a whole number as an integer on disk when it fits.
            Cell::Integer(i) => Ok(Some(i as f64)),
            Cell::Real(f) => Ok(Some(f)),
            _ => Err(self.wrong_type(at, "a number")),
        }
    }

    fn blob(&self, at: usize) -> Result<Option<&[u8]>, StoreError> {
        match self.cell(at)? {
            Cell::Null => Ok(None),
            Cell::Blob(start, end) => Ok(Some(&self.batch.blobs[start..end])),
            _ => Err(self.wrong_type(at, "a blob")),
        }
    }

    fn time(&self, at: usize) -> Result<DateTime<Utc>, StoreError> {
        match self.cell(at)? {
            Cell::Integer(us) => from_micros(us),
            _ => Err(self.wrong_type(at, "a time")),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::RowBatch;
    use crate::rows::RowColumns;

    /// The rows of `sql`, in one batch.
    fn batch_of(sql: &str) -> RowBatch {
        let conn = rusqlite::Connection::open_in_memory().unwrap();
        let mut select = conn.prepare(sql).unwrap();
        let mut batch = RowBatch::new(&RowBatch::columns_of(&select), 2);
        let mut rows = select.query([]).unwrap();
        while let Some(row) = rows.next().unwrap() {
            batch.push(row).unwrap();
        }
        batch
    }

    #[test]
    fn a_batch_keeps_each_value_as_sqlite_stored_it() {
        let batch = batch_of(
            "SELECT 'tëxt' AS t, 7 AS i, 2.5 AS r, 3 AS whole, x'00ff' AS b, NULL AS n, \
             1750343452000123 AS ts, CAST(x'ff' AS TEXT) AS bad \
             UNION ALL SELECT 'second', 8, 0.5, 4, x'01', NULL, 0, 'ok'",
        );
        assert_eq!(batch.len(), 2);
        let rows = batch.rows();
        let first = &rows[0];
        assert_eq!(first.text_named("t").unwrap(), Some("tëxt"));
        assert_eq!(first.int(1).unwrap(), Some(7));
        assert_eq!(first.float(2).unwrap(), Some(2.5));
        assert_eq!(first.float(3).unwrap(), Some(3.0));
        assert_eq!(first.blob(4).unwrap(), Some(&[0u8, 0xff][..]));
        assert_eq!(first.text(5).unwrap(), None);
        assert_eq!(
            first.time(6).unwrap().timestamp_micros(),
            1_750_343_452_000_123
        );
        assert_eq!(rows[1].text(0).unwrap(), Some("second"));
        assert_eq!(rows[1].blob(4).unwrap(), Some(&[1u8][..]));
        // The wrong type for a column, a missing column: errors naming it, not panics.
        assert!(first.int(0).unwrap_err().to_string().contains("column t"));
        assert!(first.text(1).is_err());
        assert!(first.time(0).is_err());
        assert!(first.text(99).is_err());
        assert!(first.position("nope").is_err());
        assert!(first.text(7).unwrap_err().to_string().contains("UTF-8"));
        assert!(first.text(4).is_err(), "a blob is not text");
    }

    #[test]
    fn text_halves_of_one_character_are_not_text() {
        // "é" is C3 A9: together the batch's text is valid UTF-8, each half is not.
        let batch =
            batch_of("SELECT CAST(x'c3' AS TEXT) AS a, CAST(x'a9' AS TEXT) AS b, 'fine' AS c");
        let rows = batch.rows();
        assert!(rows[0].text(0).is_err());
        assert!(rows[0].text(1).is_err());
        assert_eq!(rows[0].text(2).unwrap(), Some("fine"));
    }
}
