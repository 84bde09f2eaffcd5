//! Exports render each stored row straight to the event's JSON line, byte for byte what
//! `serde_json` writes for the [`StoredEvent`] that the row decodes to, without building it:
//! the cold fields' JSON comes out of the payload already written (by the same serializer,
//! when the event was stored) and is copied as it is, instead of being parsed into values,
//! allocated and escaped again. That halves an export's CPU per event (bench/README.md,
//! "Export"). Rows without a payload (stored by earlier versions) take the ordinary way.

use std::str::FromStr;

use chrono::{DateTime, Utc};
use eventlog_core::{Importance, Severity, StoredEvent};
use serde::Deserialize;
use serde_json::value::RawValue;

use crate::payload::PayloadCodec;
use crate::query::JsonLines;
use crate::rows::RowColumns;
use crate::StoreError;

/// The cold fields of a payload, each as the JSON text it was written as.
#[derive(Deserialize)]
struct ColdText<'a> {
    #[serde(borrow)]
    event_name: &'a RawValue,
    #[serde(borrow)]
    action: &'a RawValue,
    #[serde(borrow, default)]
    event_description: Option<&'a RawValue>,
    #[serde(borrow, default)]
    user_role: Option<&'a RawValue>,
    #[serde(borrow, default)]
    user_agent: Option<&'a RawValue>,
    #[serde(borrow, default)]
    resource_name: Option<&'a RawValue>,
    #[serde(borrow, default)]
    related: Option<&'a RawValue>,
    #[serde(borrow, default)]
    http_method: Option<&'a RawValue>,
    #[serde(borrow, default)]
    http_status: Option<&'a RawValue>,
    #[serde(borrow, default)]
    request_data: Option<&'a RawValue>,
    #[serde(borrow, default)]
    response_data: Option<&'a RawValue>,
    #[serde(borrow, default)]
    error_message: Option<&'a RawValue>,
    #[serde(borrow, default)]
    error_code: Option<&'a RawValue>,
    #[serde(borrow, default)]
    processing_time_ms: Option<&'a RawValue>,
    #[serde(borrow, default)]
    metadata: Option<&'a RawValue>,
    #[serde(borrow, default)]
    tags: Option<&'a RawValue>,
}

/// Where each column the renderer reads sits in the rows of one query (looked up once per
/// chunk: by name, every row would pay a hash lookup per column).
struct HotColumns {
    event_id: usize,
    event_code: usize,
    event_category: usize,
    event_type: usize,
    user_id: usize,
    username: usize,
    tenant_id: usize,
    ip_address: usize,
    session_id: usize,
    correlation_id: usize,
    source: usize,
    resource_type: usize,
    resource_id: usize,
    status: usize,
    endpoint: usize,
    timestamp: usize,
    severity: usize,
    importance: usize,
    created_at: usize,
    processed_at: usize,
    payload: usize,
}

impl HotColumns {
    /// The positions in `row`'s query.
    fn of(row: &impl RowColumns) -> Result<Self, StoreError> {
        let at = |name: &'static str| row.position(name);
        Ok(Self {
            event_id: at("event_id")?,
            event_code: at("event_code")?,
            event_category: at("event_category")?,
            event_type: at("event_type")?,
            user_id: at("user_id")?,
            username: at("username")?,
            tenant_id: at("tenant_id")?,
            ip_address: at("ip_address")?,
            session_id: at("session_id")?,
            correlation_id: at("correlation_id")?,
            source: at("source")?,
            resource_type: at("resource_type")?,
            resource_id: at("resource_id")?,
            status: at("status")?,
            endpoint: at("endpoint")?,
            timestamp: at("timestamp")?,
            severity: at("severity")?,
            importance: at("importance")?,
            created_at: at("created_at")?,
            processed_at: at("processed_at")?,
            payload: at("payload")?,
        })
    }
}

/// Writes one JSON object's fields in order, commas between them.
struct Fields<'o> {
    out: &'o mut Vec<u8>,
    first: bool,
}

impl Fields<'_> {
    fn key(&mut self, name: &str) {
        self.out
            .extend_from_slice(if self.first { b"{\"" } else { b",\"" });
        self.first = false;
        self.out.extend_from_slice(name.as_bytes());
        self.out.extend_from_slice(b"\":");
    }

    fn text(&mut self, name: &str, value: Option<&str>) {
        self.key(name);
        match value {
            Some(v) => serde_json::to_writer(&mut *self.out, v).expect("writing to a Vec"),
            None => self.out.extend_from_slice(b"null"),
        }
    }

    fn raw(&mut self, name: &str, value: Option<&RawValue>) {
        self.key(name);
        self.out
            .extend_from_slice(value.map_or("null", RawValue::get).as_bytes());
    }

    fn time(&mut self, name: &str, value: &DateTime<Utc>) {
        self.key(name);
        write_time(self.out, value);
    }
}

/// Renders rows of one query (selected with the backend's column list) as JSON lines, one
/// row at a time: from each row's payload, or, for a row stored before the payload column,
/// from the event the backend decodes the ordinary way.
#[derive(Default)]
struct LineRenderer {
    /// Column positions, looked up at the first row.
    columns: Option<HotColumns>,
}

impl LineRenderer {
    /// Appends `row`'s JSON line to `out`. `decode` reads a row without a payload.
    fn render<R: RowColumns>(
        &mut self,
        out: &mut Vec<u8>,
        row: &R,
        payloads: &PayloadCodec,
        decode: impl Fn(&R) -> Result<StoredEvent, StoreError>,
    ) -> Result<(), StoreError> {
        let columns = match &self.columns {
            Some(columns) => columns,
            None => self.columns.insert(HotColumns::of(row)?),
        };
        match row.blob(columns.payload)? {
            Some(payload) => render_row(out, row, columns, &payloads.inflate(payload)?),
            None => {
                render_event(out, &decode(row)?);
                Ok(())
            }
        }
    }
}

/// The JSON lines of `rows`, a chunk of one query (see [`LineRenderer`]).
pub(crate) fn render_rows<R: RowColumns>(
    rows: &[R],
    payloads: &PayloadCodec,
    decode: impl Fn(&R) -> Result<StoredEvent, StoreError>,
) -> Result<JsonLines, StoreError> {
    let mut lines = JsonLines {
        bytes: Vec::with_capacity(rows.len() * 1024),
        events: rows.len(),
    };
    let mut renderer = LineRenderer::default();
    for row in rows {
        renderer.render(&mut lines.bytes, row, payloads, &decode)?;
    }
    Ok(lines)
}

/// Appends the JSON line of the event in `row` (selected with the backend's column list,
/// whose positions are `columns`), whose payload inflated to `cold`.
fn render_row(
    out: &mut Vec<u8>,
    row: &impl RowColumns,
    columns: &HotColumns,
    cold: &[u8],
) -> Result<(), StoreError> {
    let corrupt = |what: &str| StoreError::Corrupt(format!("event {what}"));
    let cold: ColdText<'_> =
        serde_json::from_slice(cold).map_err(|e| corrupt(&format!("payload: {e}")))?;
    let c = columns;
    let text = |column: usize| row.text(column);
    let required = |column: usize| text(column)?.ok_or_else(|| corrupt("column is NULL"));
    // Parsed and written back as the API does, which also refuses what does not parse.
    let ip: Option<std::net::IpAddr> = text(c.ip_address)?
        .map(|s| s.parse().map_err(|_| corrupt("ip_address")))
        .transpose()?;
    let severity = Severity::from_str(required(c.severity)?).map_err(|()| corrupt("severity"))?;
    let importance =
        Importance::from_str(required(c.importance)?).map_err(|()| corrupt("importance"))?;

    let mut f = Fields { out, first: true };
    f.text("event_id", Some(required(c.event_id)?));
    f.text("event_code", text(c.event_code)?);
    f.text("event_category", Some(required(c.event_category)?));
    f.text("event_type", Some(required(c.event_type)?));
    f.raw("event_name", Some(cold.event_name));
    f.raw("event_description", cold.event_description);
    f.text("user_id", text(c.user_id)?);
    f.text("username", text(c.username)?);
    f.raw("user_role", cold.user_role);
    f.text("tenant_id", text(c.tenant_id)?);
    f.key("ip_address");
    serde_json::to_writer(&mut *f.out, &ip).expect("writing to a Vec");
    f.raw("user_agent", cold.user_agent);
    f.text("session_id", text(c.session_id)?);
    f.text("correlation_id", text(c.correlation_id)?);
    f.text("source", text(c.source)?);
    f.text("resource_type", text(c.resource_type)?);
    f.text("resource_id", text(c.resource_id)?);
    f.raw("resource_name", cold.resource_name);
    f.raw("related", cold.related);
    f.raw("action", Some(cold.action));
    f.text("status", Some(required(c.status)?));
    f.raw("http_method", cold.http_method);
    f.text("endpoint", text(c.endpoint)?);
    f.raw("http_status", cold.http_status);
    f.raw("request_data", cold.request_data);
    f.raw("response_data", cold.response_data);
    f.raw("error_message", cold.error_message);
    f.raw("error_code", cold.error_code);
    f.raw("processing_time_ms", cold.processing_time_ms);
    f.time("timestamp", &row.time(c.timestamp)?);
    f.raw("metadata", cold.metadata);
    f.key("tags");
    f.out
        .extend_from_slice(cold.tags.map_or("[]", RawValue::get).as_bytes());
    f.text("severity", Some(severity.as_str()));
    f.text("importance", Some(importance.as_str()));
    f.time("created_at", &row.time(c.created_at)?);
    f.time("processed_at", &row.time(c.processed_at)?);
    f.out.extend_from_slice(b"}\n");
    Ok(())
}

/// Appends `t` as a JSON string, as chrono's serializer writes it (RFC 3339, UTC as `Z`,
/// as many fractional digits as it needs: none, 3, 6 or 9), without going through
/// `fmt::Write` one character at a time (three times per exported event).
fn write_time(out: &mut Vec<u8>, time: &DateTime<Utc>) {
    use chrono::{Datelike, Timelike};
    // Each of `DateTime`'s accessors converts to the naive time again; once is enough.
    let t = time.naive_utc();
    let nanos = t.nanosecond();
    if !(0..=9999).contains(&t.year()) || nanos >= 1_000_000_000 {
        // Years of other widths and leap seconds: chrono's own way.
        serde_json::to_writer(&mut *out, time).expect("writing to a Vec");
        return;
    }
    fn digits(out: &mut Vec<u8>, value: u32, width: u32) {
        for i in (0..width).rev() {
            out.push(b'0' + (value / 10u32.pow(i) % 10) as u8);
        }
    }
    out.push(b'"');
    digits(out, t.year() as u32, 4);
    out.push(b'-');
    digits(out, t.month(), 2);
    out.push(b'-');
    digits(out, t.day(), 2);
    out.push(b'T');
    digits(out, t.hour(), 2);
    out.push(b':');
    digits(out, t.minute(), 2);
    out.push(b':');
    digits(out, t.second(), 2);
    if nanos != 0 {
        out.push(b'.');
        if nanos.is_multiple_of(1_000_000) {
            digits(out, nanos / 1_000_000, 3);
        } else if nanos.is_multiple_of(1_000) {
            digits(out, nanos / 1_000, 6);
        } else {
            digits(out, nanos, 9);
        }
    }
    out.extend_from_slice(b"Z\"");
}

/// Appends the JSON line of an event decoded the ordinary way.
fn render_event(out: &mut Vec<u8>, event: &StoredEvent) {
    serde_json::to_writer(&mut *out, event).expect("an event serializes");
    out.push(b'\n');
}

#[cfg(test)]
mod tests {
    use super::write_time;
    use chrono::DateTime;
    use proptest::prelude::*;

    fn as_chrono_writes(t: &DateTime<chrono::Utc>) -> String {
        serde_json::to_string(t).unwrap()
    }

    proptest! {
        #[test]
        fn times_are_written_as_chrono_writes_them(
            secs in -80_000_000_000i64..300_000_000_000i64,
            nanos in prop_oneof![Just(0u32), 0u32..1_000_000_000, (0u32..1_000).prop_map(|m| m * 1_000_000), (0u32..1_000_000).prop_map(|u| u * 1_000)],
        ) {
            let t = DateTime::from_timestamp(secs, nanos).unwrap();
            let mut out = Vec::new();
            write_time(&mut out, &t);
            prop_assert_eq!(String::from_utf8(out).unwrap(), as_chrono_writes(&t));
        }
    }

    #[test]
    fn a_leap_second_is_written_as_chrono_writes_it() {
        let t = DateTime::from_timestamp(1_483_228_799, 1_500_000_000).unwrap();
        let mut out = Vec::new();
        write_time(&mut out, &t);
        assert_eq!(String::from_utf8(out).unwrap(), as_chrono_writes(&t));
    }
}
