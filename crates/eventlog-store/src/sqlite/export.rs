//! The JSON-lines export of a SQLite store, read on a connection of its own
//! ([`super::blocking`]) and rendered straight from SQLite's buffers while the statement
//! steps.

use rusqlite::Connection;

use super::blocking::Statement;
use super::{known_dictionaries, row_to_event, select_recent, NEW_DICTIONARIES};
use crate::jsonl::LineRenderer;
use crate::payload::PayloadCodec;
use crate::query::{ChunkSender, JsonLines, RecentQuery};
use crate::read_ahead::ReadAhead;
use crate::rows::RowColumns;
use crate::StoreError;

/// Sends `q`'s events, newest first, as chunks of `q.limit` JSON lines to `chunks`, read in
/// one read transaction: the dictionaries and the events come from one snapshot. Tells
/// `read_ahead` how far it got after each chunk. Returns early, without error, when the
/// receiver is gone.
pub(super) fn export_jsonl(
    conn: &Connection,
    read_ahead: &ReadAhead,
    q: &RecentQuery,
    payloads: &PayloadCodec,
    chunks: &ChunkSender<JsonLines>,
) -> Result<(), StoreError> {
    let tx = conn.unchecked_transaction()?;
    let mut dictionaries = tx.prepare(NEW_DICTIONARIES)?;
    let stored = dictionaries
        .query_map([known_dictionaries(payloads)], |row| {
            Ok((row.get(0)?, row.get(1)?))
        })?
        .collect::<Result<Vec<(i64, Vec<u8>)>, _>>()?;
    payloads.install_readers(stored)?;

    let mut statement = Statement::default();
    select_recent(&mut statement, q);
    let mut select = tx.prepare(&statement.sql)?;
    let mut rows = select.query(statement.params())?;
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
        if lines.events < size {
            continue;
        }
        read_ahead.reached(row.time(row.position("timestamp")?)?);
        if chunks
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
