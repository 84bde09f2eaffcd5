//! Exports render stored rows straight to JSON lines; each line must be byte for byte what
//! `serde_json` writes for the event the ordinary read path decodes. Property test over
//! random events, through a real SQLite store (the PostgreSQL path is covered by the API
//! test `exported_lines_are_the_events_as_stored`, which runs on both stores).

use chrono::Utc;
use eventlog_core::validate::Validator;
use eventlog_core::{parse_event, Catalog, ValidationPolicy};
use eventlog_store::RecentQuery;
use futures::TryStreamExt;
use proptest::prelude::*;
use serde_json::{json, Value};

/// Text a client may send in a text field: any printable character, quotes and backslashes
/// included, non-ASCII and astral ones too.
fn text() -> impl Strategy<Value = String> {
    "[ -~\u{a0}-\u{2fff}\u{1f600}-\u{1f64f}\"\\\\]{1,40}"
}

/// A JSON value a client may send inside metadata or request data (control characters
/// are allowed there).
fn value() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::from),
        any::<i64>().prop_map(Value::from),
        any::<f64>()
            .prop_filter("finite", |f| f.is_finite())
            .prop_map(Value::from),
        "\\PC{0,20}|[\u{0}-\u{1f}]{1,4}".prop_map(Value::from),
    ];
    leaf.prop_recursive(3, 16, 4, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..4).prop_map(Value::from),
            prop::collection::btree_map("[a-z_]{1,8}", inner, 0..4)
                .prop_map(|m| Value::Object(m.into_iter().collect())),
        ]
    })
}

fn event() -> impl Strategy<Value = Value> {
    (
        text(),
        prop::option::of(text()),
        prop::option::of(text()),
        prop::option::of(value()),
        prop::collection::vec("[a-z0-9 ü]{1,10}", 0..3),
        prop::option::of(0.0f64..100_000.0),
        prop::option::of(100u16..600),
        prop::option::of(any::<[u16; 8]>()),
    )
        .prop_map(
            |(username, agent, description, metadata, tags, ms, status, ip)| {
                let mut e = json!({
                    "event_code": "DATA-002",
                    "username": username,
                    "tags": tags,
                });
                for (field, v) in [
                    ("user_agent", agent.map(Value::from)),
                    ("event_description", description.map(Value::from)),
                    ("metadata", metadata.map(|m| json!({ "m": m }))),
                    ("processing_time_ms", ms.map(Value::from)),
                    ("http_status", status.map(Value::from)),
                    (
                        "ip_address",
                        ip.map(|s| Value::from(std::net::Ipv6Addr::from(s).to_string())),
                    ),
                ] {
                    if let Some(v) = v {
                        e[field] = v;
                    }
                }
                e
            },
        )
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(24))]

    #[test]
    fn rendered_lines_are_the_events_as_serde_writes_them(
        events in prop::collection::vec(event(), 1..40),
    ) {
        let runtime = tokio::runtime::Runtime::new().unwrap();
        runtime.block_on(async {
            let dir = tempfile::tempdir().unwrap();
            let store = eventlog_store::open(&format!("sqlite://{}/e.db", dir.path().display()))
                .await
                .unwrap();
            store.migrate().await.unwrap();
            let validator = Validator::new(ValidationPolicy::default(), Catalog::built_in());
            let batch: Vec<_> = events
                .iter()
                .filter_map(|e| {
                    let raw = parse_event(e.to_string().as_bytes()).ok()?;
                    validator.validate(raw, Utc::now()).ok()
                })
                .collect();
            prop_assume!(!batch.is_empty());
            store.write(&[batch]).await.unwrap();
            let query = RecentQuery { limit: 7, ..RecentQuery::default() };
            let rendered: Vec<u8> = store
                .stream_recent_jsonl(&query)
                .map_ok(|lines| lines.bytes)
                .try_concat()
                .await
                .unwrap();
            let mut expected = Vec::new();
            for event in store
                .stream_recent(&query)
                .try_concat()
                .await
                .unwrap()
            {
                serde_json::to_writer(&mut expected, &event).unwrap();
                expected.push(b'\n');
            }
            prop_assert_eq!(String::from_utf8(rendered).unwrap(), String::from_utf8(expected).unwrap());
            Ok(())
        })?;
    }
}
