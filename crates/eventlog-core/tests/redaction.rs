//! Secrets in any field of an event are masked by validation, before anything can store
//! them; identifiers are kept as sent.

use chrono::Utc;
use eventlog_core::{parse_event, Catalog, EventRecord, ValidationPolicy, Validator};
use proptest::prelude::*;
use serde_json::{json, Value};

const JWT: &str = "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxIn0.c2lnbmF0dXJl";

fn validated(event: &Value) -> EventRecord {
    let raw = parse_event(event.to_string().as_bytes()).expect("parses");
    Validator::new(ValidationPolicy::default(), Catalog::built_in())
        .validate(raw, Utc::now())
        .expect("valid")
        .record()
        .clone()
}

fn base() -> Value {
    json!({"event_category": "AUTH", "event_type": "LOGIN", "action": "LOGIN"})
}

#[test]
fn event_name_error_code_and_related_are_scanned() {
    let mut event = base();
    event["event_name"] = json!(format!("login with {JWT}"));
    event["error_code"] = json!("password=ec1");
    event["related"] = json!({"token": JWT, "project": "p-9", "note": format!("jwt {JWT}")});
    let r = validated(&event);
    assert_eq!(r.event_name, "login with [REDACTED]");
    assert_eq!(r.error_code.as_deref(), Some("password=[REDACTED]"));
    assert_eq!(
        Value::Object(r.related.unwrap()),
        json!({"token": "[REDACTED]", "project": "p-9", "note": "jwt [REDACTED]"})
    );
}

#[test]
fn identifiers_are_kept() {
    let mut event = base();
    for (field, value) in [
        ("username", "password_admin"),
        ("user_id", "4111111111111111"),
        ("session_id", "sess_8f2a61c0d9e4"),
        ("correlation_id", "token-123"),
        ("resource_id", "4111111111111111"),
        ("tenant_id", "secret-tenant"),
    ] {
        event[field] = json!(value);
    }
    event["ip_address"] = json!("10.0.0.1");
    let r = validated(&event);
    assert_eq!(r.username.as_deref(), Some("password_admin"));
    assert_eq!(r.user_id.as_deref(), Some("4111111111111111"));
    assert_eq!(r.session_id.as_deref(), Some("sess_8f2a61c0d9e4"));
    assert_eq!(r.correlation_id.as_deref(), Some("token-123"));
    assert_eq!(r.resource_id.as_deref(), Some("4111111111111111"));
    assert_eq!(r.tenant_id.as_deref(), Some("secret-tenant"));
}

/// Where a secret can be put: every text field that is scanned, `tags`, `related` and the
/// payloads.
const TEXT_FIELDS: &[&str] = &[
    "event_name",
    "event_type",
    "event_description",
    "error_message",
    "error_code",
    "endpoint",
    "user_agent",
    "user_role",
    "source",
    "resource_type",
    "resource_name",
];

fn key() -> impl Strategy<Value = String> {
    prop::sample::select(vec![
        "password",
        "api_key",
        "Authorization",
        "client_secret",
        "refresh-token",
        "ssn",
        "Email",
        "x_api_key",
    ])
    .prop_map(str::to_owned)
}

/// `key` with the characters picked by `encode` percent-encoded.
fn percent_encoded(key: &str, encode: &[bool]) -> String {
    key.chars()
        .zip(encode.iter().cycle())
        .map(|(c, e)| {
            if *e {
                format!("%{:02X}", c as u32)
            } else {
                c.to_string()
            }
        })
        .collect()
}

/// The ways `key` and `secret` are written in text.
fn as_text(key: &str, secret: &str, encode: &[bool], form: usize) -> String {
    let encoded = percent_encoded(key, encode);
    match form {
        0 => format!("a=1&{key}={secret}"),
        1 => format!("/x?{encoded}={secret}"),
        2 => format!("f[{key}]={secret}"),
        3 => format!("u%5B{encoded}%5D={secret}"),
        4 => format!("{key}: {secret}"),
        5 => format!("<{key}>{secret}</{key}>"),
        6 => format!("next=/x%3F{encoded}%3D{secret}"),
        _ => json!({ key: secret }).to_string(),
    }
}

proptest! {
    #[test]
    fn no_secret_survives_in_any_scanned_field(
        k in key(),
        s in "[A-Za-z0-9]{6,20}".prop_map(|s| format!("S3cr{s}")),
        encode in prop::collection::vec(any::<bool>(), 1..8),
        form in 0usize..8,
        field in 0..TEXT_FIELDS.len() + 5,
    ) {
        let text = as_text(&k, &s, &encode, form);
        let mut event = base();
        match field.checked_sub(TEXT_FIELDS.len()) {
            None => event[TEXT_FIELDS[field]] = json!(text),
            Some(0) => {
                prop_assume!(text.chars().count() <= 64);
                event["tags"] = json!(["a", text]);
            }
            Some(1) => event["related"] = json!({ k.clone(): s.clone(), "note": text }),
            Some(2) => event["request_data"] = json!({"hdrs": [[k.clone(), s.clone()]], "t": text}),
            Some(3) => event["response_data"] = json!([{ k.clone(): s.clone() }, text]),
            _ => event["metadata"] = json!({"form": { format!("f[{k}]"): s.clone() }, "t": text}),
        }
        let stored = serde_json::to_string(&validated(&event)).unwrap();
        prop_assert!(!stored.contains(&s), "{}", stored);
    }
}
