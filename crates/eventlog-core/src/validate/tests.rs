use super::*;
use crate::parse_event;
use chrono::TimeZone;
use serde_json::json;

fn validator() -> Validator {
    Validator::new(ValidationPolicy::default(), Catalog::built_in())
}

fn now() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2025, 6, 19, 15, 0, 0).unwrap()
}

fn check(json: &str) -> Result<ValidatedEvent, Vec<FieldError>> {
    validator().validate(parse_event(json.as_bytes()).expect("parses"), now())
}

fn fields(errors: &[FieldError]) -> Vec<&str> {
    errors.iter().filter_map(|e| e.field.as_deref()).collect()
}

#[test]
fn seed_002_samples_are_accepted_as_written() {
    let samples: Vec<Value> = serde_json::from_str(include_str!(
        "../../../../fixtures/seed002-sample-events.json"
    ))
    .unwrap();
    for sample in samples {
        let id = sample["event_id"].as_str().unwrap().to_owned();
        let result = check(&sample.to_string());
        if id.starts_with("SEC-002") {
            // The seed's brute-force sample carries 192.168.1.999, which is no IP address.
            let errors = result.unwrap_err();
            assert_eq!(fields(&errors), ["ip_address"]);
            continue;
        }
        let event = result.unwrap_or_else(|e| panic!("{id}: {e:?}"));
        let r = event.record();
        assert_eq!(r.event_id, id);
        assert_eq!(
            r.event_code.as_deref(),
            Some(&id[..id.find("-2025").unwrap()])
        );
        assert!(event.id_supplied());
    }
}

#[test]
fn integer_user_id_is_kept_as_text() {
    let e = check(r#"{"event_category":"AUTH","event_type":"USER_LOGIN","user_id":15}"#).unwrap();
    assert_eq!(e.record().user_id.as_deref(), Some("15"));
}

#[test]
fn javascript_logger_events_get_defaults() {
    // What the seed's JavaScript EventLogger.logSecurityEvent posts: no status, no action.
    let e = check(
        r#"{"event_category":"SECURITY","event_type":"UNAUTHORIZED_ACCESS",
            "event_name":"Security Event: UNAUTHORIZED_ACCESS",
            "event_description":"Attempted access to admin panel","severity":"WARNING",
            "metadata":{"description":"x","ip_address":"192.168.1.100"},
            "tags":["security","unauthorized_access"],"timestamp":"2025-06-19T14:30:52.123Z"}"#,
    )
    .unwrap();
    let r = e.record();
    assert_eq!(r.status, "SUCCESS");
    assert_eq!(r.action, "LOG");
    assert_eq!(r.severity, Severity::Warning);
    assert_eq!(r.importance, Importance::Minor);
    assert!(
        r.event_id.starts_with("SECURITY-20250619-143052-"),
        "{}",
        r.event_id
    );
    assert!(!e.id_supplied());
}

#[test]
fn catalog_code_supplies_defaults() {
    let e = check(r#"{"event_code":"AUTH-005","username":"guru01"}"#).unwrap();
    let r = e.record();
    assert_eq!(r.event_category, "AUTH");
    assert_eq!(r.event_name, "Account Locked");
    assert_eq!(r.severity, Severity::Critical);
    assert_eq!(r.importance, Importance::Major);
    assert!(r.event_id.starts_with("AUTH-005-"));
    assert_eq!(r.status, "BLOCKED");
    let failed = check(r#"{"event_code":"AUTH-002","username":"guru01"}"#).unwrap();
    assert_eq!(
        failed.record().status,
        "FAILED",
        "a failed login is not a success"
    );
    let explicit = check(r#"{"event_code":"AUTH-002","status":"ERROR"}"#).unwrap();
    assert_eq!(explicit.record().status, "ERROR");
    // Explicit values win over catalog defaults; a contradicting category does not.
    let e = check(r#"{"event_code":"AUTH-005","severity":"info"}"#).unwrap();
    assert_eq!(e.record().severity, Severity::Info);
    let errors = check(r#"{"event_code":"AUTH-005","event_category":"DATA"}"#).unwrap_err();
    assert_eq!(fields(&errors), ["event_category"]);
    // Catalog codes match ignoring case; an unknown code says why it gives no category.
    let lower = check(r#"{"event_code":"auth-002","username":"guru01"}"#).unwrap();
    assert_eq!(lower.record().event_code.as_deref(), Some("AUTH-002"));
    assert_eq!(lower.record().event_category, "AUTH");
    let errors = check(r#"{"event_code":"auth-999"}"#).unwrap_err();
    let category = errors
        .iter()
        .find(|e| e.field.as_deref() == Some("event_category"));
    assert!(
        category
            .unwrap()
            .message
            .contains("`auth-999` is not in the catalog"),
        "{errors:?}"
    );
}

#[test]
fn unknown_codes_follow_the_policy() {
    let json = r#"{"event_code":"SHOP-1","event_category":"DATA","event_type":"ORDER"}"#;
    assert!(check(json).is_ok());
    let strict = Validator::new(
        ValidationPolicy {
            unknown_codes: UnknownCodePolicy::Reject,
            ..Default::default()
        },
        Catalog::built_in(),
    );
    let errors = strict
        .validate(parse_event(json.as_bytes()).unwrap(), now())
        .unwrap_err();
    assert_eq!(errors[0].code, "unknown_code");
}

#[test]
fn status_comes_from_http_status_and_event_status_is_an_alias() {
    let e = check(r#"{"event_category":"SYSTEM","event_type":"API_REQUEST","http_status":503}"#)
        .unwrap();
    assert_eq!(e.record().status, "ERROR");
    let e = check(
        r#"{"event_category":"SYSTEM","event_type":"SYSTEM_STARTUP","event_status":"failed"}"#,
    )
    .unwrap();
    assert_eq!(e.record().status, "FAILED");
}

#[test]
fn every_problem_is_reported_with_its_field() {
    let errors = check(
        r#"{"event_category":"NOPE","severity":"LOUD","ip_address":"999.1.1.1",
            "timestamp":"yesterday","http_method":"FETCH","http_status":42,
            "status":"MAYBE","importance":"HUGE","tags":[""],"processing_time_ms":-1,
            "metadata":[1],"username":"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"}"#,
    )
    .unwrap_err();
    let mut got = fields(&errors);
    got.sort_unstable();
    let mut want = vec![
        "event_category",
        "event_type",
        "severity",
        "ip_address",
        "timestamp",
        "http_method",
        "http_status",
        "status",
        "importance",
        "tags[0]",
        "processing_time_ms",
        "metadata",
        "username",
    ];
    want.sort_unstable();
    assert_eq!(got, want, "{errors:#?}");
}

#[test]
fn timestamps_older_than_the_bound_are_refused() {
    let old = (now() - chrono::Duration::days(3_661)).to_rfc3339();
    let json = format!(r#"{{"event_code":"AUTH-001","timestamp":"{old}"}}"#);
    let errors = check(&json).unwrap_err();
    assert_eq!(fields(&errors), ["timestamp"], "{errors:?}");
    assert_eq!(errors[0].code, "too_old");
    let within = (now() - chrono::Duration::days(3_600)).to_rfc3339();
    assert!(check(&format!(
        r#"{{"event_code":"AUTH-001","timestamp":"{within}"}}"#
    ))
    .is_ok());
    let unbounded = ValidationPolicy {
        max_past_days: 0,
        ..ValidationPolicy::default()
    };
    let raw = parse_event(json.as_bytes()).unwrap();
    assert!(Validator::new(unbounded, Catalog::built_in())
        .validate(raw, now())
        .is_ok());
}

#[test]
fn tags_refuse_control_characters() {
    for tag in [r"\u0000", r"a\u0001", r"\n", r"\u001b[31m", r"\u007f"] {
        let json = format!(r#"{{"event_code":"AUTH-001","tags":["ok","{tag}"]}}"#);
        let errors = check(&json).unwrap_err();
        assert_eq!(fields(&errors), ["tags[1]"], "{tag}: {errors:?}");
    }
}

#[test]
fn processing_time_is_bounded_so_latency_sums_stay_finite() {
    let ok = r#"{"event_category":"SYSTEM","event_type":"X","processing_time_ms":604800000}"#;
    assert_eq!(
        check(ok).unwrap().record().processing_time_ms,
        Some(604_800_000.0)
    );
    for bad in ["1.7e308", "604800000.5", "-0.5"] {
        let json =
            format!(r#"{{"event_category":"SYSTEM","event_type":"X","processing_time_ms":{bad}}}"#);
        let errors = check(&json).unwrap_err();
        assert_eq!(fields(&errors), ["processing_time_ms"], "{bad}: {errors:?}");
    }
}

#[test]
fn timestamps_rfc3339_naive_and_future_bound() {
    let base = r#"{"event_category":"AUTH","event_type":"T","timestamp":"#;
    for ts in [
        "\"2025-06-19T14:30:52+07:00\"",
        "\"2025-06-19T14:30:52.5\"",
        "\"2025-06-19 14:30:52\"",
    ] {
        assert!(check(&format!("{base}{ts}}}")).is_ok(), "{ts}");
    }
    let e = check(&format!("{base}\"2025-06-19T21:30:52+07:00\"}}")).unwrap();
    assert_eq!(
        e.record().timestamp,
        Utc.with_ymd_and_hms(2025, 6, 19, 14, 30, 52).unwrap()
    );
    // Four minutes ahead is clock skew; ten minutes ahead is refused.
    assert!(check(&format!("{base}\"2025-06-19T15:04:00Z\"}}")).is_ok());
    let errors = check(&format!("{base}\"2025-06-19T15:10:00Z\"}}")).unwrap_err();
    assert_eq!(errors[0].code, "in_future");
}

#[test]
fn json_depth_is_bounded() {
    let deep = format!("{}1{}", "[".repeat(20), "]".repeat(20));
    let errors = check(&format!(
        r#"{{"event_category":"AUTH","event_type":"T","request_data":{deep}}}"#
    ))
    .unwrap_err();
    assert_eq!(errors[0].code, "too_deep");
}

#[test]
fn same_content_hashes_the_same_whatever_the_formatting() {
    let a = check(r#"{"event_id":"X-1","event_category":"AUTH","event_type":"T","user_id":7,"metadata":{"a":1,"b":2}}"#).unwrap();
    let b = check(r#"{ "metadata": {"b":2, "a":1}, "user_id":"7", "event_type":"T", "event_category":"AUTH", "event_id":"X-1" }"#).unwrap();
    let c = check(r#"{"event_id":"X-1","event_category":"AUTH","event_type":"T","user_id":8}"#)
        .unwrap();
    assert_eq!(a.content_hash(), b.content_hash());
    assert_ne!(a.content_hash(), c.content_hash());
}

#[test]
fn related_entities_must_be_ids() {
    assert!(
        check(r#"{"event_code":"TENANT_CREATED","related":{"tenant":"t-1","project":9}}"#).is_ok()
    );
    let errors =
        check(r#"{"event_code":"TENANT_CREATED","related":{"tenant":{"x":1}}}"#).unwrap_err();
    assert_eq!(fields(&errors), ["related.tenant"]);
}

#[test]
fn nul_characters_are_refused_where_they_cannot_be_stored() {
    let errors = check(r#"{"event_category":"AUTH","event_type":"T","metadata":{"k":"a\u0000b"}}"#)
        .unwrap_err();
    assert_eq!(fields(&errors), ["metadata"]);
    let errors =
        check(r#"{"event_category":"AUTH","event_type":"T","username":"a\u0000b"}"#).unwrap_err();
    assert_eq!(fields(&errors), ["username"]);
}

#[test]
fn secrets_are_masked_before_the_event_is_valid() {
    let e = check(
        r#"{"event_category":"AUTH","event_type":"USER_LOGIN","endpoint":"/api/auth/token?password=admin123",
            "request_data":{"raw_body":"username=admin&password=admin123&grant_type=password"},
            "metadata":{"headers":{"authorization":"Bearer abcdefghijklmnop"}},
            "error_message":"login failed for {\"password\": \"admin123\"}"}"#,
    )
    .unwrap();
    let stored = serde_json::to_string(e.record()).unwrap();
    assert!(!stored.contains("admin123"), "{stored}");
    assert!(!stored.contains("abcdefghijklmnop"), "{stored}");
    assert_eq!(
        e.record().request_data.as_ref().unwrap()["raw_body"],
        "username=admin&password=[REDACTED]&grant_type=password"
    );
}

#[test]
fn client_content_hash_is_the_canonical_hash_of_what_was_sent() {
    let sent = json!({
        "event_id": "E-1", "event_code": "AUTH-001", "event_category": "AUTH", "event_type": "T",
        "event_name": "n", "event_description": "d", "user_id": "15", "username": "u", "user_role": "r",
        "tenant_id": "t", "ip_address": "10.0.0.1", "user_agent": "ua", "session_id": "s",
        "correlation_id": "c", "source": "src", "resource_type": "rt", "resource_id": "ri",
        "resource_name": "rn", "related": {"tenant": "t"}, "action": "A", "status": "SUCCESS",
        "http_method": "GET", "endpoint": "/e", "http_status": 200, "request_data": {"b": 1, "a": [2]},
        "response_data": [1], "error_message": "m", "error_code": "ec", "processing_time_ms": 1.5,
        "metadata": {"z": null}, "tags": ["x"], "severity": "INFO", "importance": "MINOR",
        "timestamp": "2025-06-19T14:30:52Z"
    });
    let raw = parse_event(sent.to_string().as_bytes()).unwrap();
    let mut expected = sent.clone();
    expected["timestamp"] = json!(1_750_343_452_000_000i64);
    assert_eq!(
        client_content_hash(&raw),
        crate::canonical::canonical_hash(&expected)
    );
}

#[test]
fn an_empty_event_id_is_refused_and_only_an_absent_one_is_generated() {
    let errors = check(r#"{"event_id":"","event_category":"AUTH","event_type":"T"}"#).unwrap_err();
    assert_eq!(fields(&errors), ["event_id"]);
    for absent in [
        r#"{"event_id":null,"event_category":"AUTH","event_type":"T"}"#,
        r#"{"event_category":"AUTH","event_type":"T"}"#,
    ] {
        assert!(!check(absent).unwrap().record().event_id.is_empty());
    }
}

#[test]
fn a_code_missing_from_the_catalog_is_named_as_the_reason() {
    let errors = check(r#"{"event_code":"NOPE-999","event_category":"AUTH"}"#).unwrap_err();
    let e = errors
        .iter()
        .find(|e| e.field.as_deref() == Some("event_type"))
        .unwrap();
    assert!(
        e.message.contains("`NOPE-999` is not in the catalog"),
        "{}",
        e.message
    );
}

#[test]
fn the_record_hash_follows_the_record_through_tenant_binding() {
    let mut event =
        check(r#"{"event_category": "AUTH", "event_type": "USER_LOGIN", "event_id": "h-1"}"#)
            .unwrap();
    let before = *event.record_hash();
    assert_eq!(before, crate::integrity::record_hash(event.record()));
    assert!(event.bind_tenant("acme"));
    assert_eq!(event.record().tenant_id.as_deref(), Some("acme"));
    assert_eq!(
        *event.record_hash(),
        crate::integrity::record_hash(event.record()),
        "the hash of the bound record, not the one computed before"
    );
    assert_ne!(*event.record_hash(), before);
}
