//! From request bytes to [`RawEvent`]s, with errors that name the field and the batch index.
//!
//! Parsing only checks shape and JSON types; the rules (enums, lengths, IPs, time bounds,
//! catalog defaults) are applied by [`crate::validate`].

use serde::de::IgnoredAny;
use serde::Deserialize;
use serde_json::value::RawValue;
use serde_json::Value;

use crate::FieldError;

/// An event exactly as a client sent it: every field optional, unknown fields rejected.
///
/// Accepts what the seeds' own clients send: integer or string `user_id`, `event_status`
/// as an alias of `status`, `null` for absent values.
#[derive(Debug, Default, Clone, Deserialize, utoipa::ToSchema)]
#[schema(
    as = EventInput,
    description = "An event as a client sends it. Required: `event_category` and `event_type`, or an `event_code` from the catalog (which fills in the rest). Every other field is optional and means what it means in `EventRecord`; `event_status` is accepted for `status`, and `created_at` / `processed_at` (set by the server) are accepted and ignored. Unknown fields are refused: extra data belongs in `metadata`."
)]
#[serde(deny_unknown_fields)]
#[allow(missing_docs)] // field meanings are documented on `EventRecord`
pub struct RawEvent {
    pub event_id: Option<String>,
    pub event_code: Option<String>,
    pub event_category: Option<String>,
    pub event_type: Option<String>,
    pub event_name: Option<String>,
    pub event_description: Option<String>,
    #[serde(default, deserialize_with = "string_or_integer")]
    #[schema(schema_with = string_or_integer_schema)]
    pub user_id: Option<String>,
    pub username: Option<String>,
    pub user_role: Option<String>,
    #[serde(default, deserialize_with = "string_or_integer")]
    #[schema(schema_with = string_or_integer_schema)]
    pub tenant_id: Option<String>,
    pub ip_address: Option<String>,
    pub user_agent: Option<String>,
    pub session_id: Option<String>,
    pub correlation_id: Option<String>,
    pub source: Option<String>,
    pub resource_type: Option<String>,
    #[serde(default, deserialize_with = "string_or_integer")]
    #[schema(schema_with = string_or_integer_schema)]
    pub resource_id: Option<String>,
    pub resource_name: Option<String>,
    #[schema(value_type = Option<Object>)]
    pub related: Option<Value>,
    pub action: Option<String>,
    #[serde(alias = "event_status")]
    pub status: Option<String>,
    pub http_method: Option<String>,
    pub endpoint: Option<String>,
    pub http_status: Option<u16>,
    #[schema(value_type = Option<Object>)]
    pub request_data: Option<Value>,
    #[schema(value_type = Option<Object>)]
    pub response_data: Option<Value>,
    pub error_message: Option<String>,
    #[serde(default, deserialize_with = "string_or_integer")]
    #[schema(schema_with = string_or_integer_schema)]
    pub error_code: Option<String>,
    pub processing_time_ms: Option<f64>,
    #[schema(format = DateTime)]
    pub timestamp: Option<String>,
    #[schema(value_type = Option<Object>)]
    pub metadata: Option<Value>,
    pub tags: Option<Vec<String>>,
    pub severity: Option<String>,
    pub importance: Option<String>,
    /// Assigned by the server; accepted (so exported events can be re-imported) and ignored.
    #[serde(default, rename = "created_at")]
    #[schema(ignore)]
    _created_at: Option<IgnoredAny>,
    /// Assigned by the server; accepted and ignored, like `created_at`.
    #[serde(default, rename = "processed_at")]
    #[schema(ignore)]
    _processed_at: Option<IgnoredAny>,
}

/// The OpenAPI schema of a field that takes a string or an integer (stored as text).
fn string_or_integer_schema() -> utoipa::openapi::schema::Schema {
    use utoipa::openapi::schema::{ObjectBuilder, OneOfBuilder, Schema, Type};
    Schema::OneOf(
        OneOfBuilder::new()
            .item(ObjectBuilder::new().schema_type(Type::String))
            .item(ObjectBuilder::new().schema_type(Type::Integer))
            .item(ObjectBuilder::new().schema_type(Type::Null))
            .build(),
    )
}

fn string_or_integer<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<String>, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum StringOrInteger {
        S(String),
        I(i64),
        U(u64),
    }
    match Option::<Value>::deserialize(d)? {
        None | Some(Value::Null) => Ok(None),
        Some(v) => match StringOrInteger::deserialize(v) {
            Ok(StringOrInteger::S(s)) => Ok(Some(s)),
            Ok(StringOrInteger::I(i)) => Ok(Some(i.to_string())),
            Ok(StringOrInteger::U(u)) => Ok(Some(u.to_string())),
            Err(_) => Err(serde::de::Error::custom(
                "invalid type: expected a string or an integer",
            )),
        },
    }
}

/// Parses one event from a JSON document, or says every problem of its fields (at most
/// [`MAX_PROBLEMS`]; never an empty list).
pub fn parse_event(bytes: &[u8]) -> Result<RawEvent, Vec<FieldError>> {
    let bytes = without_bom(bytes);
    if first_byte(bytes) == Some(b'[') {
        return Err(vec![FieldError::whole(
            "invalid_type",
            "an event must be a JSON object; POST a list of events to /api/events/batch",
        )]);
    }
    parse_item(bytes)
}

/// The most problems named for one event: enough to fix a client's mapping in one round,
/// without an answer as large as the event.
pub const MAX_PROBLEMS: usize = 20;

/// `bytes` without a leading UTF-8 byte order mark, which Windows tools write and JSON
/// parsers may ignore (RFC 8259 §8.1).
fn without_bom(bytes: &[u8]) -> &[u8] {
    bytes.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(bytes)
}

fn first_byte(bytes: &[u8]) -> Option<u8> {
    bytes.iter().copied().find(|b| !b.is_ascii_whitespace())
}

/// One event, alone or as an item of a batch.
/// The first integer literal of the JSON text `bytes` that no 64-bit integer holds
/// (serde_json would store it as a float, changing its digits), if any.
fn oversized_integer(bytes: &[u8]) -> Option<&str> {
    // Every integer past 64 bits has at least 19 digits in a row; nearly no event has such
    // a run, and looking for one is much cheaper than tracking strings.
    let mut run = 0u8;
    let long_run = bytes.iter().any(|b| {
        run = if b.is_ascii_digit() {
            run.saturating_add(1)
        } else {
            0
        };
        run >= 19
    });
    if !long_run {
        return None;
    }
    let mut in_string = false;
    let mut escaped = false;
    let mut i = 0;
    while i < bytes.len() {
        let b = bytes[i];
        if in_string {
            match (escaped, b) {
                (true, _) => escaped = false,
                (false, b'\\') => escaped = true,
                (false, b'"') => in_string = false,
                _ => {}
            }
            i += 1;
            continue;
        }
        if b == b'"' {
            in_string = true;
            i += 1;
            continue;
        }
        if b == b'-' || b.is_ascii_digit() {
            let start = i;
            i += 1;
            while i < bytes.len() && (bytes[i].is_ascii_digit() || b".eE+-".contains(&bytes[i])) {
                i += 1;
            }
            let token = std::str::from_utf8(&bytes[start..i]).unwrap_or_default();
            let integer = !token.bytes().any(|c| b".eE+".contains(&c));
            if integer && token.parse::<i64>().is_err() && token.parse::<u64>().is_err() {
                return Some(token);
            }
            continue;
        }
        i += 1;
    }
    None
}

fn parse_item(bytes: &[u8]) -> Result<RawEvent, Vec<FieldError>> {
    // An audit trail keeps values as sent: an integer past 64 bits would become a float.
    if let Some(n) = oversized_integer(bytes) {
        let shown: String = n.chars().take(40).collect();
        return Err(vec![FieldError::whole(
            "invalid_value",
            format!(
                "the integer {shown} does not fit in 64 bits and would lose digits; send it as a string"
            ),
        )]);
    }
    // Fast path: plain serde_json. Only a failed parse pays for path tracking, to name
    // the field at fault.
    if let Ok(event) = serde_json::from_slice::<RawEvent>(bytes) {
        return Ok(event);
    }
    // serde also reads a struct from a list (`[1]`): an event sent as a list is no event.
    if first_byte(bytes) == Some(b'[') {
        return Err(vec![FieldError::whole(
            "invalid_type",
            "an event must be a JSON object",
        )]);
    }
    let mut de = serde_json::Deserializer::from_slice(bytes);
    let first = match serde_path_to_error::deserialize::<_, RawEvent>(&mut de) {
        Ok(event) => {
            de.end().map_err(|e| vec![json_error(&e)])?;
            return Ok(event);
        }
        Err(e) => path_error(e),
    };
    // serde stops at the first problem; a field-level one (an unknown field, a wrong
    // type) may have company. Each field is then read on its own to name them all.
    if first.field.is_none() || !matches!(first.code, "unknown_field" | "invalid_type") {
        return Err(vec![first]);
    }
    let Ok(fields) = serde_json::from_slice::<serde_json::Map<String, Value>>(bytes) else {
        return Err(vec![first]);
    };
    let problems: Vec<FieldError> = fields
        .into_iter()
        .filter_map(|(name, value)| {
            let alone = Value::Object(serde_json::Map::from_iter([(name, value)]));
            serde_path_to_error::deserialize::<_, RawEvent>(alone)
                .err()
                .map(path_error)
        })
        .take(MAX_PROBLEMS)
        .collect();
    Err(if problems.is_empty() {
        vec![first]
    } else {
        problems
    })
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct BatchBody<'a> {
    #[serde(borrow)]
    events: Vec<&'a RawValue>,
}

/// A batch split into items: each item parsed or the reasons it could not be, in order.
pub type ParsedBatch = Vec<Result<RawEvent, Vec<FieldError>>>;

/// The item format of a batch body.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BatchFormat {
    /// `{"events": [ ... ]}`
    JsonObject,
    /// One JSON event per line.
    Ndjson,
}

/// Splits a batch body into events. A body that is not a batch at all (malformed JSON, no
/// `events` array) is one error; otherwise each item gets its own result, so every invalid
/// item can be reported with its index. Items larger than `max_item_bytes` are rejected
/// without being parsed.
pub fn parse_batch(
    bytes: &[u8],
    format: BatchFormat,
    max_item_bytes: usize,
) -> Result<ParsedBatch, FieldError> {
    let bytes = without_bom(bytes);
    let item = |raw: &[u8]| {
        if raw.len() > max_item_bytes {
            return Err(vec![FieldError::whole(
                "too_large",
                format!(
                    "event is {} bytes; the limit is {max_item_bytes} bytes per event",
                    raw.len()
                ),
            )]);
        }
        parse_item(raw)
    };
    match format {
        BatchFormat::JsonObject => {
            let body: BatchBody<'_> = serde_json::from_slice(bytes).map_err(|e| {
                let mut err = json_error(&e);
                if let Some(name) = unknown_field(&err.message) {
                    err.field = Some(name.to_owned());
                    err.message =
                        format!("unknown field `{name}`; a batch is {{\"events\": [event, ...]}} and nothing else");
                } else if first_byte(bytes) == Some(b'[') {
                    err.message = "a batch is {\"events\": [event, ...]}, not a bare list (or NDJSON with Content-Type: application/x-ndjson)".to_owned();
                } else if e.is_data() {
                    err.message = format!(
                        "{}; a batch is {{\"events\": [event, ...]}} (or NDJSON with Content-Type: application/x-ndjson)",
                        err.message
                    );
                }
                err
            })?;
            Ok(body
                .events
                .iter()
                .map(|raw| item(raw.get().as_bytes()))
                .collect())
        }
        // Blank lines are skipped, so an event's index is not its line: a malformed line
        // is named by its line number in the body.
        BatchFormat::Ndjson => Ok(bytes
            .split(|b| *b == b'\n')
            .enumerate()
            .map(|(i, line)| (i + 1, line.strip_suffix(b"\r").unwrap_or(line)))
            .filter(|(_, line)| !line.iter().all(u8::is_ascii_whitespace))
            .map(|(line_no, line)| {
                item(line).map_err(|mut problems| {
                    for e in &mut problems {
                        if e.code == "invalid_json" {
                            e.message = e
                                .message
                                .replace("(line 1, ", &format!("(line {line_no}, "));
                        }
                    }
                    problems
                })
            })
            .collect()),
    }
}

/// The name in serde's "unknown field `name`, expected ..." message.
fn unknown_field(message: &str) -> Option<&str> {
    message.strip_prefix("unknown field `")?.split('`').next()
}

/// Message of a serde_json error without its "at line L column C" suffix.
fn bare_message(e: &serde_json::Error) -> String {
    let text = e.to_string();
    match text.rfind(" at line ") {
        Some(i) => text[..i].to_owned(),
        None => text,
    }
}

fn json_error(e: &serde_json::Error) -> FieldError {
    if e.is_data() {
        return FieldError::whole("invalid_type", bare_message(e));
    }
    FieldError::whole(
        "invalid_json",
        format!(
            "malformed JSON: {} (line {}, column {})",
            bare_message(e),
            e.line(),
            e.column()
        ),
    )
}

/// serde's Rust type names in words a client of any language reads.
fn plain_types(message: &str) -> String {
    [
        ("expected f64", "expected a number"),
        ("expected u16", "expected a whole number from 0 to 65535"),
        ("expected i64", "expected a whole number"),
        ("expected u64", "expected a whole number of 0 or more"),
        ("expected u32", "expected a whole number of 0 or more"),
    ]
    .iter()
    .fold(message.to_owned(), |m, (rust, plain)| {
        m.replace(rust, plain)
    })
}

fn path_error(e: serde_path_to_error::Error<serde_json::Error>) -> FieldError {
    let inner = e.inner();
    if !inner.is_data() {
        return json_error(inner);
    }
    let message = bare_message(inner);
    if let Some(name) = unknown_field(&message).map(str::to_owned) {
        return FieldError::new(
            "unknown_field",
            name.clone(),
            format!("unknown field `{name}`; put extra data in `metadata`"),
        );
    }
    if let Some(rest) = message.strip_prefix("duplicate field `") {
        let name = rest.split('`').next().unwrap_or_default().to_owned();
        return FieldError::new(
            "duplicate_field",
            name.clone(),
            format!("`{name}` appears twice; send each field once"),
        );
    }
    let path = e.path().to_string();
    if path == "." || path.is_empty() {
        let hint = if message.contains("expected struct RawEvent") {
            "an event must be a JSON object".to_owned()
        } else {
            message
        };
        return FieldError::whole("invalid_type", hint);
    }
    FieldError::new("invalid_type", path, plain_types(&message))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_integer_user_id_and_event_status_alias() {
        let e = parse_event(br#"{"user_id": 15, "event_status": "FAILED"}"#).unwrap();
        assert_eq!(e.user_id.as_deref(), Some("15"));
        assert_eq!(e.status.as_deref(), Some("FAILED"));
    }

    #[test]
    fn a_list_is_pointed_at_the_batch_endpoint() {
        let err = parse_event(br#" [{"event_category": "AUTH", "event_type": "X"}]"#)
            .unwrap_err()
            .remove(0);
        assert_eq!(err.code, "invalid_type");
        assert!(err.message.contains("/api/events/batch"), "{}", err.message);
    }

    #[test]
    fn a_batch_names_its_own_unknown_field_and_refuses_a_bare_list() {
        let err = parse_batch(
            br#"{"events": [], "source": "x"}"#,
            BatchFormat::JsonObject,
            1024,
        )
        .unwrap_err();
        assert_eq!(err.field.as_deref(), Some("source"), "{}", err.message);
        let err = parse_batch(
            br#"[{"event_code": "AUTH-001"}]"#,
            BatchFormat::JsonObject,
            1024,
        )
        .unwrap_err();
        assert!(err.message.contains("not a bare list"), "{}", err.message);
    }

    #[test]
    fn names_a_field_sent_twice() {
        let err = parse_event(br#"{"event_type": "X", "username": "a", "username": "b"}"#)
            .unwrap_err()
            .remove(0);
        assert_eq!(err.code, "duplicate_field");
        assert_eq!(err.field.as_deref(), Some("username"), "{}", err.message);
    }

    #[test]
    fn names_unknown_fields() {
        let err = parse_event(br#"{"event_type": "X", "usernme": "bob"}"#)
            .unwrap_err()
            .remove(0);
        assert_eq!(err.code, "unknown_field");
        assert_eq!(err.field.as_deref(), Some("usernme"));
    }

    #[test]
    fn names_every_unknown_field_and_wrong_type_at_once() {
        let problems = parse_event(
            br#"{"event_type": "X", "foo": 1, "bar": 2, "usernmae": "x", "http_status": "ok", "tags": [1]}"#,
        )
        .unwrap_err();
        let mut named: Vec<(&str, &str)> = problems
            .iter()
            .map(|e| (e.code, e.field.as_deref().unwrap()))
            .collect();
        named.sort();
        assert_eq!(
            named,
            [
                ("invalid_type", "http_status"),
                ("invalid_type", "tags[0]"),
                ("unknown_field", "bar"),
                ("unknown_field", "foo"),
                ("unknown_field", "usernmae"),
            ]
        );
        let many: String = (0..50).map(|n| format!(r#""extra{n}": 1,"#)).collect();
        let problems =
            parse_event(format!("{{{many} \"event_type\": \"X\"}}").as_bytes()).unwrap_err();
        assert_eq!(problems.len(), MAX_PROBLEMS);
    }

    #[test]
    fn names_fields_with_wrong_types() {
        let err = parse_event(br#"{"http_status": "two hundred"}"#)
            .unwrap_err()
            .remove(0);
        assert_eq!(err.code, "invalid_type");
        assert_eq!(err.field.as_deref(), Some("http_status"));
        let err = parse_event(br#"{"user_id": {"a": 1}}"#)
            .unwrap_err()
            .remove(0);
        assert_eq!(err.field.as_deref(), Some("user_id"));
        let err = parse_event(br#"{"tags": ["a", 3]}"#).unwrap_err().remove(0);
        assert_eq!(err.field.as_deref(), Some("tags[1]"));
    }

    #[test]
    fn malformed_json_and_non_objects() {
        assert_eq!(
            parse_event(b"{").unwrap_err().remove(0).code,
            "invalid_json"
        );
        assert_eq!(
            parse_event(b"[1]").unwrap_err().remove(0).code,
            "invalid_type"
        );
        assert_eq!(
            parse_event(b"\xff\xfe").unwrap_err().remove(0).code,
            "invalid_json"
        );
        assert_eq!(
            parse_event(b"{} {}").unwrap_err().remove(0).code,
            "invalid_json"
        );
    }

    #[test]
    fn batch_items_fail_individually() {
        let body = br#"{"events": [{"event_type": "A"}, {"bogus": 1}, 7]}"#;
        let items = parse_batch(body, BatchFormat::JsonObject, 1 << 16).unwrap();
        assert!(items[0].is_ok());
        assert_eq!(items[1].as_ref().unwrap_err()[0].code, "unknown_field");
        assert!(items[2].is_err());
        assert!(parse_batch(br#"{"evnts": []}"#, BatchFormat::JsonObject, 100).is_err());
        assert!(parse_batch(br#"[]"#, BatchFormat::JsonObject, 100).is_err());
    }

    #[test]
    fn ndjson_batches_skip_blank_lines_and_limit_item_size() {
        let body = b"{\"event_type\":\"A\"}\r\n\n{\"event_type\":\"B\"}\n";
        let items = parse_batch(body, BatchFormat::Ndjson, 1 << 16).unwrap();
        assert_eq!(items.len(), 2);
        let items = parse_batch(body, BatchFormat::Ndjson, 5).unwrap();
        assert_eq!(items[0].as_ref().unwrap_err()[0].code, "too_large");
    }

    #[test]
    fn integers_past_64_bits_are_refused_not_rounded() {
        let big = br#"{"event_type":"A","metadata":{"n":18446744073709551616}}"#;
        let err = parse_item(big).unwrap_err().remove(0);
        assert!(
            err.message.contains("18446744073709551616"),
            "{}",
            err.message
        );
        assert!(
            parse_item(br#"{"event_type":"A","metadata":{"n":-9223372036854775809}}"#).is_err()
        );
        // The limits themselves, floats, and digits inside strings are fine.
        for ok in [
            &br#"{"event_type":"A","metadata":{"a":18446744073709551615,"b":-9223372036854775808}}"#[..],
            br#"{"event_type":"A","metadata":{"f":1.8446744073709552e19,"g":-0.5}}"#,
            br#"{"event_type":"A","metadata":{"s":"184467440737095516161844674407370955161","t":"a\"99999999999999999999"}}"#,
        ] {
            assert!(parse_item(ok).is_ok(), "{}", String::from_utf8_lossy(ok));
        }
    }

    #[test]
    fn a_byte_order_mark_is_ignored() {
        assert!(parse_event(b"\xEF\xBB\xBF{\"event_type\":\"A\"}").is_ok());
        let items = parse_batch(
            b"\xEF\xBB\xBF{\"event_type\":\"A\"}\n",
            BatchFormat::Ndjson,
            100,
        )
        .unwrap();
        assert!(items[0].is_ok());
    }

    #[test]
    fn a_list_is_no_event_and_types_are_named_in_words() {
        let err = parse_item(b"[1]").unwrap_err().remove(0);
        assert_eq!(err.message, "an event must be a JSON object");
        let err = parse_item(br#"{"processing_time_ms":"12"}"#)
            .unwrap_err()
            .remove(0);
        assert_eq!(err.field.as_deref(), Some("processing_time_ms"));
        assert!(err.message.contains("expected a number"), "{}", err.message);
    }

    #[test]
    fn a_malformed_ndjson_line_is_named_by_its_line_in_the_body() {
        let body = b"{\"event_type\":\"A\"}\n\noops\n";
        let items = parse_batch(body, BatchFormat::Ndjson, 1 << 16).unwrap();
        let err = &items[1].as_ref().unwrap_err()[0];
        assert_eq!(err.code, "invalid_json");
        assert!(
            err.message.contains("(line 3, column 1)"),
            "{}",
            err.message
        );
    }
}
