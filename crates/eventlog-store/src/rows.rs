//! Reading an event row back, shared by both backends: the columns they store alike are
//! decoded here; the cold fields arrive decoded from the payload (or, for rows written
//! before it existed, from their old columns) and the times as the backend stores them.

use std::str::FromStr;

use chrono::{DateTime, Utc};
use eventlog_core::{EventRecord, Importance, Severity, StoredEvent};
use serde_json::Value;
use sqlx::{ColumnIndex, Database, Decode, Row, Type};

use crate::payload::Cold;
use crate::StoreError;

/// The row's payload; `None` only for a row stored before the payload column (SQL NULL).
pub(crate) fn payload_of<'r, R>(row: &'r R) -> Result<Option<&'r [u8]>, StoreError>
where
    R: Row,
    &'static str: ColumnIndex<R>,
    Option<&'r [u8]>: Decode<'r, R::Database> + Type<R::Database>,
{
    Ok(row.try_get::<Option<&[u8]>, _>("payload")?)
}

/// The payloads of `rows`, for finding the dictionaries they need. One that does not decode
/// is left out here and reported when its row is read.
pub(crate) fn stored_payloads<'r, R>(rows: &'r [R]) -> impl Iterator<Item = &'r [u8]>
where
    R: Row,
    &'static str: ColumnIndex<R>,
    Option<&'r [u8]>: Decode<'r, R::Database> + Type<R::Database>,
{
    rows.iter().filter_map(|r| payload_of(r).ok().flatten())
}

/// What the backend decodes itself: the cold fields and the times.
pub(crate) struct BackendColumns {
    pub(crate) cold: Cold,
    pub(crate) timestamp: DateTime<Utc>,
    pub(crate) created_at: DateTime<Utc>,
    pub(crate) processed_at: DateTime<Utc>,
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
pub(crate) fn legacy_cold<'r, R>(row: &'r R, cols: LegacyColumns) -> Result<Cold, StoreError>
where
    R: Row,
    &'static str: ColumnIndex<R>,
    String: Decode<'r, R::Database> + Type<R::Database>,
    Option<String>: Decode<'r, R::Database> + Type<R::Database>,
    Option<f64>: Decode<'r, R::Database> + Type<R::Database>,
    R::Database: Database,
{
    let text = |column: &'static str| row.try_get::<Option<String>, _>(column);
    let related = match cols.related {
        Some(Value::Object(m)) => Some(m),
        None => None,
        Some(_) => return Err(StoreError::Corrupt("related is not an object".into())),
    };
    Ok(Cold {
        event_name: row.try_get("event_name")?,
        action: row.try_get("action")?,
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
        processing_time_ms: row.try_get("processing_time_ms")?,
        metadata: cols.metadata,
        tags: cols.tags,
    })
}

/// The event in `row` (selected with the backend's column list) and its `seq`.
pub(crate) fn event_from_row<'r, R>(
    row: &'r R,
    cols: BackendColumns,
) -> Result<(StoredEvent, i64), StoreError>
where
    R: Row,
    &'static str: ColumnIndex<R>,
    String: Decode<'r, R::Database> + Type<R::Database>,
    Option<String>: Decode<'r, R::Database> + Type<R::Database>,
    i64: Decode<'r, R::Database> + Type<R::Database>,
    R::Database: Database,
{
    let corrupt = |what: &str| StoreError::Corrupt(what.to_owned());
    let text = |column: &'static str| row.try_get::<Option<String>, _>(column);
    let required = |column: &'static str| row.try_get::<String, _>(column);
    let cold = cols.cold;
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
        timestamp: cols.timestamp,
        metadata: cold.metadata,
        tags: cold.tags,
        severity: Severity::from_str(&required("severity")?).map_err(|()| corrupt("severity"))?,
        importance: Importance::from_str(&required("importance")?)
            .map_err(|()| corrupt("importance"))?,
    };
    let event = StoredEvent {
        record,
        created_at: cols.created_at,
        processed_at: cols.processed_at,
    };
    Ok((event, row.try_get("seq")?))
}
