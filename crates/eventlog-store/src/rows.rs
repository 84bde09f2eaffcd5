//! Reading an event row back, shared by both backends: the columns they store alike are
//! decoded here; the cold fields arrive decoded from the payload (or, for rows written
//! before it existed, from their old columns) and the times as the backend stores them.

use std::str::FromStr;

use chrono::{DateTime, Utc};
use eventlog_core::{EventRecord, Importance, Severity, StoredEvent};
use serde_json::Value;
use sqlx::postgres::PgRow;
use sqlx::sqlite::SqliteRow;
use sqlx::{Column, Row};

use crate::payload::Cold;
use crate::StoreError;

/// One stored row's columns, read by position without copying: what sqlx's rows of both
/// backends and the rusqlite rows of SQLite's blocking reads (export, rollups) have in
/// common.
pub(crate) trait RowColumns {
    /// Where column `name` sits in the row's query.
    fn position(&self, name: &'static str) -> Result<usize, StoreError>;
    /// A text column (NULL as `None`).
    fn text(&self, at: usize) -> Result<Option<&str>, StoreError>;
    /// An integer column.
    fn int(&self, at: usize) -> Result<Option<i64>, StoreError>;
    /// A floating-point column.
    fn float(&self, at: usize) -> Result<Option<f64>, StoreError>;
    /// A binary column.
    fn blob(&self, at: usize) -> Result<Option<&[u8]>, StoreError>;
    /// A NOT NULL time column, as the backend stores times.
    fn time(&self, at: usize) -> Result<DateTime<Utc>, StoreError>;

    /// Text column `name`.
    fn text_named(&self, name: &'static str) -> Result<Option<&str>, StoreError> {
        self.text(self.position(name)?)
    }

    /// Text column `name`, which the schema declares NOT NULL.
    fn required_text(&self, name: &'static str) -> Result<&str, StoreError> {
        self.text_named(name)?
            .ok_or_else(|| StoreError::Corrupt(format!("{name} is NULL")))
    }

    /// Integer column `name`, which the schema declares NOT NULL.
    fn required_int(&self, name: &'static str) -> Result<i64, StoreError> {
        self.int(self.position(name)?)?
            .ok_or_else(|| StoreError::Corrupt(format!("{name} is NULL")))
    }
}

/// [`RowColumns`] for a sqlx row type, through its own decoders; `$text` reads text and
/// bytes.
macro_rules! sqlx_row_columns {
    ($row:ty, $time:path, $text:ident) => {
        impl RowColumns for $row {
            fn position(&self, name: &'static str) -> Result<usize, StoreError> {
                Ok(self.try_column(name)?.ordinal())
            }
            fn text(&self, at: usize) -> Result<Option<&str>, StoreError> {
                Ok(self.$text(at)?)
            }
            fn int(&self, at: usize) -> Result<Option<i64>, StoreError> {
                Ok(self.try_get(at)?)
            }
            fn float(&self, at: usize) -> Result<Option<f64>, StoreError> {
                Ok(self.try_get(at)?)
            }
            fn blob(&self, at: usize) -> Result<Option<&[u8]>, StoreError> {
                Ok(self.$text(at)?)
            }
            fn time(&self, at: usize) -> Result<DateTime<Utc>, StoreError> {
                $time(self, at)
            }
        }
    };
}
sqlx_row_columns!(SqliteRow, sqlite_time, try_get);
// PostgreSQL's column types are fixed by the schema (checked at start), and every column
// read as text or bytes is TEXT or BYTEA, so text and bytes skip sqlx's type check: a clone
// of the column's type per value, 10% of an export's CPU. SQLite's types are per value;
// there the check stays.
sqlx_row_columns!(PgRow, postgres_time, try_get_unchecked);

/// SQLite stores times as microseconds since the epoch.
fn sqlite_time(row: &SqliteRow, at: usize) -> Result<DateTime<Utc>, StoreError> {
    from_micros(row.try_get(at)?)
}

/// PostgreSQL stores times as `timestamptz`.
fn postgres_time(row: &PgRow, at: usize) -> Result<DateTime<Utc>, StoreError> {
    Ok(row.try_get(at)?)
}

/// The time `us` microseconds after the epoch.
pub(crate) fn from_micros(us: i64) -> Result<DateTime<Utc>, StoreError> {
    DateTime::from_timestamp_micros(us)
        .ok_or_else(|| StoreError::Corrupt(format!("timestamp {us} out of range")))
}

/// The row's payload; `None` only for a row stored before the payload column (SQL NULL).
pub(crate) fn payload_of<R: RowColumns>(row: &R) -> Result<Option<&[u8]>, StoreError> {
    row.blob(row.position("payload")?)
}

/// The payloads of `rows`, for finding the dictionaries they need. One that does not decode
/// is left out here and reported when its row is read.
pub(crate) fn stored_payloads<R: RowColumns>(rows: &[R]) -> impl Iterator<Item = &[u8]> {
    rows.iter().filter_map(|r| payload_of(r).ok().flatten())
}

/// The old cold columns whose storage differs between the backends (JSON, tags, the HTTP
/// status), decoded by the backend; used for rows stored before the payload column.
pub(crate) struct LegacyColumns {
    pub(crate) related: Option<Value>,
    pub(crate) request_data: Option<Value>,
    pub(crate) response_data: Option<Value>,
    pub(crate) metadata: Option<Value>,
    pub(crate) http_status: Option<u16>,
    pub(crate) tags: Vec<String>,
}

/// The cold fields of a row stored before the payload column, from their own columns.
pub(crate) fn legacy_cold<R: RowColumns>(row: &R, cols: LegacyColumns) -> Result<Cold, StoreError> {
    let text =
        |column: &'static str| Ok::<_, StoreError>(row.text_named(column)?.map(str::to_owned));
    let related = match cols.related {
        Some(Value::Object(m)) => Some(m),
        None => None,
        Some(_) => return Err(StoreError::Corrupt("related is not an object".into())),
    };
    Ok(Cold {
        event_name: row.required_text("event_name")?.to_owned(),
        action: row.required_text("action")?.to_owned(),
        event_description: text("event_description")?,
        user_role: text("user_role")?,
        user_agent: text("user_agent")?,
        resource_name: text("resource_name")?,
        related,
        http_method: text("http_method")?,
        http_status: cols.http_status,
        request_data: cols.request_data,
        response_data: cols.response_data,
        error_message: text("error_message")?,
        error_code: text("error_code")?,
        processing_time_ms: row.float(row.position("processing_time_ms")?)?,
        metadata: cols.metadata,
        tags: cols.tags,
    })
}

/// The event in `row` (selected with the backend's column list), whose cold fields are
/// `cold`, and its `seq`.
pub(crate) fn event_from_row<R: RowColumns>(
    row: &R,
    cold: Cold,
) -> Result<(StoredEvent, i64), StoreError> {
    let corrupt = |what: &str| StoreError::Corrupt(what.to_owned());
    let text =
        |column: &'static str| Ok::<_, StoreError>(row.text_named(column)?.map(str::to_owned));
    let required =
        |column: &'static str| Ok::<_, StoreError>(row.required_text(column)?.to_owned());
    let time = |column: &'static str| row.time(row.position(column)?);
    let record = EventRecord {
        event_id: required("event_id")?,
        event_code: text("event_code")?,
        event_category: required("event_category")?,
        event_type: required("event_type")?,
        event_name: cold.event_name,
        event_description: cold.event_description,
        user_id: text("user_id")?,
        username: text("username")?,
        user_role: cold.user_role,
        tenant_id: text("tenant_id")?,
        ip_address: text("ip_address")?
            .map(|s| s.parse().map_err(|_| corrupt("ip_address")))
            .transpose()?,
        user_agent: cold.user_agent,
        session_id: text("session_id")?,
        correlation_id: text("correlation_id")?,
        source: text("source")?,
        resource_type: text("resource_type")?,
        resource_id: text("resource_id")?,
        resource_name: cold.resource_name,
        related: cold.related,
        action: cold.action,
        status: required("status")?,
        http_method: cold.http_method,
        endpoint: text("endpoint")?,
        http_status: cold.http_status,
        request_data: cold.request_data,
        response_data: cold.response_data,
        error_message: cold.error_message,
        error_code: cold.error_code,
        processing_time_ms: cold.processing_time_ms,
        timestamp: time("timestamp")?,
        metadata: cold.metadata,
        tags: cold.tags,
        severity: Severity::from_str(&required("severity")?).map_err(|()| corrupt("severity"))?,
        importance: Importance::from_str(&required("importance")?)
            .map_err(|()| corrupt("importance"))?,
    };
    let event = StoredEvent {
        record,
        created_at: time("created_at")?,
        processed_at: time("processed_at")?,
    };
    Ok((event, row.required_int("seq")?))
}
