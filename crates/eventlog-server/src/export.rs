//! Export formats shared by `GET /api/events/export` and `eventlog export`: NDJSON (one
//! event per line, the same JSON as the API returns) and CSV (a header row, then one row
//! per event; JSON fields as JSON text, quoted by the `csv` crate).
//!
//! Both callers read [`ExportFormat::chunks`] and write each chunk as it arrives, so memory
//! stays at a few chunks whatever the size of the export. JSON lines are rendered by the store
//! straight from the stored rows ([`eventlog_store::Store::stream_recent_jsonl`]); CSV rows
//! are encoded here from the events.

use std::str::FromStr;

use eventlog_core::StoredEvent;
use eventlog_store::{JsonLines, JsonlChunks, RecentQuery, Store};
use futures::TryStreamExt;
use serde_json::{json, Value};

/// Events read per chunk when exporting.
pub const EXPORT_PAGE: u32 = 1_000;

/// An export format.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ExportFormat {
    /// One JSON event per line (`application/x-ndjson`).
    Jsonl,
    /// Comma-separated values with a header row (`text/csv`).
    Csv,
}

impl FromStr for ExportFormat {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s.to_ascii_lowercase().as_str() {
            "jsonl" | "ndjson" => Ok(ExportFormat::Jsonl),
            "csv" => Ok(ExportFormat::Csv),
            _ => Err(format!("unknown format `{s}`; expected jsonl or csv")),
        }
    }
}

impl ExportFormat {
    /// The HTTP content type.
    pub fn content_type(self) -> &'static str {
        match self {
            ExportFormat::Jsonl => "application/x-ndjson",
            ExportFormat::Csv => "text/csv; charset=utf-8",
        }
    }

    /// The name used in `?format=` and in the audit trail.
    pub fn as_str(self) -> &'static str {
        match self {
            ExportFormat::Jsonl => "jsonl",
            ExportFormat::Csv => "csv",
        }
    }

    /// What comes before the first event (the CSV header row).
    pub fn header(self) -> Vec<u8> {
        match self {
            ExportFormat::Jsonl => Vec::new(),
            ExportFormat::Csv => {
                let mut w = csv::Writer::from_writer(Vec::new());
                w.write_record(CSV_COLUMNS)
                    .expect("writing to a Vec cannot fail");
                w.into_inner().expect("writing to a Vec cannot fail")
            }
        }
    }

    /// The export of `query`, chunk by chunk: the encoded bytes and how many events they
    /// hold.
    pub fn chunks(self, store: &dyn Store, query: &RecentQuery) -> JsonlChunks {
        match self {
            ExportFormat::Jsonl => store.stream_recent_jsonl(query),
            ExportFormat::Csv => Box::pin(store.stream_recent(query).map_ok(|events| {
                let mut bytes = Vec::with_capacity(events.len() * 1024);
                encode_csv(&events, &mut bytes);
                JsonLines {
                    bytes,
                    events: events.len(),
                }
            })),
        }
    }
}

/// Appends `events` to `out` as CSV rows.
fn encode_csv(events: &[StoredEvent], out: &mut Vec<u8>) {
    let mut w = csv::WriterBuilder::new()
        .has_headers(false)
        .from_writer(&mut *out);
    for e in events {
        w.write_record(csv_row(e))
            .expect("writing to a Vec cannot fail");
    }
    w.flush().expect("writing to a Vec cannot fail");
}

/// The CSV columns, in order: every event field, then when it was stored.
pub const CSV_COLUMNS: [&str; 36] = [
    "event_id",
    "event_code",
    "event_category",
    "event_type",
    "event_name",
    "event_description",
    "user_id",
    "username",
    "user_role",
    "tenant_id",
    "ip_address",
    "user_agent",
    "session_id",
    "correlation_id",
    "source",
    "resource_type",
    "resource_id",
    "resource_name",
    "related",
    "action",
    "status",
    "http_method",
    "endpoint",
    "http_status",
    "request_data",
    "response_data",
    "error_message",
    "error_code",
    "processing_time_ms",
    "timestamp",
    "metadata",
    "tags",
    "severity",
    "importance",
    "created_at",
    "processed_at",
];

/// Characters that start a formula in a spreadsheet cell, full-width forms included.
const FORMULA_STARTS: [char; 8] = ['=', '+', '-', '@', '＝', '＋', '－', '＠'];

/// `value` made safe to open in a spreadsheet: text a client sent that starts like a
/// formula (`=`, `+`, `-`, `@` or their full-width forms, also after leading spaces or line
/// breaks, which some spreadsheets skip; a tab; a carriage return) gets a leading `'`, so
/// Excel or LibreOffice shows it instead of evaluating it (CSV injection).
fn spreadsheet_safe(value: String) -> String {
    let after_blanks = value.trim_start_matches([' ', '\n', '\r', '\t']);
    if value.starts_with(['\t', '\r']) || after_blanks.starts_with(FORMULA_STARTS) {
        format!("'{value}")
    } else {
        value
    }
}

fn csv_row(e: &StoredEvent) -> Vec<String> {
    let r = &e.record;
    let text = |v: &Option<String>| spreadsheet_safe(v.clone().unwrap_or_default());
    let json_text = |v: Option<String>| v.unwrap_or_default();
    let time =
        |t: chrono::DateTime<chrono::Utc>| t.to_rfc3339_opts(chrono::SecondsFormat::Micros, true);
    vec![
        spreadsheet_safe(r.event_id.clone()),
        text(&r.event_code),
        r.event_category.clone(),
        spreadsheet_safe(r.event_type.clone()),
        spreadsheet_safe(r.event_name.clone()),
        text(&r.event_description),
        text(&r.user_id),
        text(&r.username),
        text(&r.user_role),
        text(&r.tenant_id),
        r.ip_address.map(|ip| ip.to_string()).unwrap_or_default(),
        text(&r.user_agent),
        text(&r.session_id),
        text(&r.correlation_id),
        text(&r.source),
        text(&r.resource_type),
        text(&r.resource_id),
        text(&r.resource_name),
        json_text(
            r.related
                .as_ref()
                .map(|m| Value::Object(m.clone()).to_string()),
        ),
        spreadsheet_safe(r.action.clone()),
        r.status.clone(),
        text(&r.http_method),
        text(&r.endpoint),
        r.http_status.map(|s| s.to_string()).unwrap_or_default(),
        json_text(r.request_data.as_ref().map(Value::to_string)),
        json_text(r.response_data.as_ref().map(Value::to_string)),
        text(&r.error_message),
        text(&r.error_code),
        r.processing_time_ms
            .map(|v| v.to_string())
            .unwrap_or_default(),
        time(r.timestamp),
        json_text(r.metadata.as_ref().map(Value::to_string)),
        if r.tags.is_empty() {
            String::new()
        } else {
            Value::from(r.tags.clone()).to_string()
        },
        r.severity.as_str().to_owned(),
        r.importance.as_str().to_owned(),
        time(e.created_at),
        time(e.processed_at),
    ]
}

/// The filters of `query`, for the audit trail.
pub fn describe(query: &RecentQuery) -> Value {
    let list = |v: &Vec<String>| (!v.is_empty()).then(|| v.clone());
    let mut out = json!({
        "since": query.since,
        "until": query.until,
        "category": list(&query.category),
        "event_type": list(&query.event_type),
        "event_code": list(&query.event_code),
        "severity": list(&query.severity),
        "status": list(&query.status),
        "user_id": query.user_id,
        "username": query.username,
        "ip_address": query.ip_address.map(|ip| ip.to_string()),
        "endpoint": query.endpoint,
        "resource_type": query.resource_type,
        "resource_id": query.resource_id,
        "tenant_id": query.tenant_id,
    });
    if let Some(map) = out.as_object_mut() {
        map.retain(|_, v| !v.is_null());
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::Utc;
    use eventlog_core::validate::Validator;
    use eventlog_core::{parse_event, Catalog, ValidationPolicy};

    /// The CSV export (header and one row) of the event `json` sends.
    fn csv_of(json: &[u8]) -> Vec<u8> {
        let v = Validator::new(ValidationPolicy::default(), Catalog::built_in());
        let raw = parse_event(json).unwrap();
        let record = v.validate(raw, Utc::now()).unwrap().record().clone();
        let event = StoredEvent {
            record,
            created_at: Utc::now(),
            processed_at: Utc::now(),
        };
        let mut out = ExportFormat::Csv.header();
        encode_csv(std::slice::from_ref(&event), &mut out);
        out
    }

    #[test]
    fn csv_rows_match_the_header_and_quote_what_needs_quoting() {
        let out = csv_of(
            br#"{"event_code":"DATA-002","event_description":"a, \"quoted\"\nline","tags":["x","y"],"metadata":{"k":1}}"#,
        );
        let mut reader = csv::Reader::from_reader(out.as_slice());
        let header = reader.headers().unwrap().clone();
        assert_eq!(header.len(), CSV_COLUMNS.len());
        let row = reader.records().next().unwrap().unwrap();
        assert_eq!(row.len(), header.len());
        assert_eq!(&row[5], "a, \"quoted\"\nline");
        assert_eq!(&row[31], r#"["x","y"]"#);
        assert_eq!(&row[30], r#"{"k":1}"#);
    }

    #[test]
    fn text_that_looks_like_a_formula_is_not_one_in_a_spreadsheet() {
        let out = csv_of(
            br#"{"event_code":"AUTH-002","username":"=HYPERLINK(A1)","user_agent":"@SUM(1)","error_message":"-2+3","processing_time_ms":12.5}"#,
        );
        let mut reader = csv::Reader::from_reader(out.as_slice());
        let row = reader.records().next().unwrap().unwrap();
        let column = |name: &str| &row[CSV_COLUMNS.iter().position(|c| *c == name).unwrap()];
        assert_eq!(column("username"), "'=HYPERLINK(A1)");
        assert_eq!(column("user_agent"), "'@SUM(1)");
        assert_eq!(column("error_message"), "'-2+3");
        assert_eq!(column("processing_time_ms"), "12.5", "numbers stay numbers");
        for (text, safe) in [
            (" =1+1", "' =1+1"),
            ("\n=1+1", "'\n=1+1"),
            ("＝1+1", "'＝1+1"),
            ("a=1", "a=1"),
            ("   ", "   "),
        ] {
            assert_eq!(spreadsheet_safe(text.to_owned()), safe, "{text:?}");
        }
    }
}
