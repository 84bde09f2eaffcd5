use chrono::{DateTime, Utc};
use proptest::prelude::*;
use serde_json::{json, Value};

use super::*;
use crate::event::{Importance, Severity};
use crate::jcs::to_jcs_bytes;

/// The record hash computed the slow, obviously-correct way: serialise with serde, apply
/// the documented adjustments, canonicalise the tree.
fn generic_jcs(record: &EventRecord) -> Vec<u8> {
    let mut v = serde_json::to_value(record).unwrap();
    let map = v.as_object_mut().unwrap();
    map.retain(|_, v| !v.is_null());
    map.insert(
        "timestamp".into(),
        json!(record.timestamp.timestamp_micros()),
    );
    to_jcs_bytes(&v)
}

fn opt(s: &'static str) -> impl Strategy<Value = Option<String>> {
    proptest::option::of(s)
}

fn arb_json() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(|n| json!(n)),
        (-1e12f64..1e12).prop_map(|f| json!(f)),
        ".{0,8}".prop_map(Value::String),
    ];
    leaf.prop_recursive(3, 16, 4, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..4).prop_map(Value::Array),
            prop::collection::btree_map(".{0,6}", inner, 0..4)
                .prop_map(|m| Value::Object(m.into_iter().collect())),
        ]
    })
}

prop_compose! {
    fn arb_record()(
        texts in (".{1,12}", ".{1,12}", ".{1,12}", ".{1,12}", ".{1,8}", ".{1,8}"),
        opts in (opt(".{0,10}"), opt(".{0,10}"), opt(".{0,10}"), opt(".{0,10}"), opt(".{0,10}"), opt(".{0,10}"), opt(".{0,10}")),
        opts2 in (opt(".{0,10}"), opt(".{0,10}"), opt(".{0,10}"), opt(".{0,10}"), opt(".{0,10}"), opt(".{0,10}"), opt(".{0,10}")),
        opts3 in (opt(".{0,10}"), opt(".{0,10}"), opt(".{0,10}"), opt(".{0,10}")),
        ip in proptest::option::of(any::<[u8; 4]>()),
        http_status in proptest::option::of(100u16..600),
        ms in proptest::option::of(0f64..1e6),
        micros in 0i64..4_000_000_000_000_000,
        json in (proptest::option::of(arb_json().prop_filter("null is absent", |v| !v.is_null())), proptest::option::of(arb_json().prop_filter("null is absent", |v| !v.is_null())), proptest::option::of(arb_json())),
        related in proptest::option::of(prop::collection::btree_map("[a-z]{1,6}", ".{0,6}", 0..3)),
        tags in prop::collection::vec("[a-z]{1,8}", 0..4),
        sev in 0usize..5,
        major in any::<bool>(),
    ) -> EventRecord {
        EventRecord {
            event_id: texts.0, event_category: texts.1, event_type: texts.2, event_name: texts.3,
            action: texts.4, status: texts.5,
            event_code: opts.0, event_description: opts.1, user_id: opts.2, username: opts.3,
            user_role: opts.4, tenant_id: opts.5, user_agent: opts.6,
            session_id: opts2.0, correlation_id: opts2.1, source: opts2.2, resource_type: opts2.3,
            resource_id: opts2.4, resource_name: opts2.5, http_method: opts2.6,
            endpoint: opts3.0, error_message: opts3.1, error_code: opts3.2,
            ip_address: ip.map(std::net::IpAddr::from),
            related: related.map(|m| m.into_iter().map(|(k, v)| (k, Value::String(v))).collect()),
            http_status,
            request_data: json.0, response_data: json.1,
            metadata: json.2.map(|v| json!({"v": v})),
            processing_time_ms: ms,
            timestamp: DateTime::<Utc>::from_timestamp_micros(micros).unwrap(),
            tags,
            severity: Severity::ALL[sev],
            importance: if major { Importance::Major } else { Importance::Minor },
        }
        .tap_event_id(opts3.3)
    }
}

trait TapEventId {
    fn tap_event_id(self, suffix: Option<String>) -> Self;
}

impl TapEventId for EventRecord {
    fn tap_event_id(mut self, suffix: Option<String>) -> Self {
        if let Some(s) = suffix {
            self.event_id.push_str(&s);
        }
        self
    }
}

/// Every way to change one field of `r` (each yields a record that differs from `r`).
fn mutations(r: &EventRecord) -> Vec<(&'static str, EventRecord)> {
    let mut out = Vec::new();
    macro_rules! m {
        ($name:literal, |$x:ident| $body:expr) => {{
            let mut $x = r.clone();
            $body;
            out.push(($name, $x));
        }};
    }
    fn toggle(o: &mut Option<String>) {
        *o = match o.take() {
            Some(mut s) => {
                s.push('x');
                Some(s)
            }
            None => Some(String::new()),
        };
    }
    m!("event_id", |x| x.event_id.push('x'));
    m!("event_category", |x| x.event_category.push('x'));
    m!("event_type", |x| x.event_type.push('x'));
    m!("event_name", |x| x.event_name.push('x'));
    m!("action", |x| x.action.push('x'));
    m!("status", |x| x.status.push('x'));
    m!("event_code", |x| toggle(&mut x.event_code));
    m!("event_description", |x| toggle(&mut x.event_description));
    m!("user_id", |x| toggle(&mut x.user_id));
    m!("username", |x| toggle(&mut x.username));
    m!("user_role", |x| toggle(&mut x.user_role));
    m!("tenant_id", |x| toggle(&mut x.tenant_id));
    m!("user_agent", |x| toggle(&mut x.user_agent));
    m!("session_id", |x| toggle(&mut x.session_id));
    m!("correlation_id", |x| toggle(&mut x.correlation_id));
    m!("source", |x| toggle(&mut x.source));
    m!("resource_type", |x| toggle(&mut x.resource_type));
    m!("resource_id", |x| toggle(&mut x.resource_id));
    m!("resource_name", |x| toggle(&mut x.resource_name));
    m!("http_method", |x| toggle(&mut x.http_method));
    m!("endpoint", |x| toggle(&mut x.endpoint));
    m!("error_message", |x| toggle(&mut x.error_message));
    m!("error_code", |x| toggle(&mut x.error_code));
    m!("ip_address", |x| x.ip_address = match x.ip_address {
        Some(_) => None,
        None => Some([10, 0, 0, 1].into()),
    });
    m!("http_status", |x| x.http_status =
        Some(x.http_status.map_or(200, |s| s + 1)));
    m!("processing_time_ms", |x| x.processing_time_ms =
        Some(x.processing_time_ms.map_or(0.5, |v| v + 0.25)));
    m!("timestamp", |x| x.timestamp +=
        chrono::Duration::microseconds(1));
    m!("tags", |x| x.tags.push("t".into()));
    m!(
        "severity",
        |x| x.severity = if x.severity == Severity::Critical {
            Severity::Debug
        } else {
            Severity::Critical
        }
    );
    m!("importance", |x| x.importance = match x.importance {
        Importance::Major => Importance::Minor,
        Importance::Minor => Importance::Major,
    });
    m!("metadata", |x| x.metadata =
        Some(json!({"changed": x.metadata.clone()})));
    m!("request_data", |x| x.request_data =
        Some(json!([x.request_data.clone()])));
    m!("response_data", |x| x.response_data =
        Some(json!([x.response_data.clone()])));
    m!("related", |x| x.related = Some(
        [("changed".to_owned(), json!(x.related.clone()))]
            .into_iter()
            .collect()
    ));
    out
}

proptest! {
    #[test]
    fn fast_writer_is_exactly_jcs_of_the_record(r in arb_record()) {
        prop_assert_eq!(
            String::from_utf8(record_jcs(&r)).unwrap(),
            String::from_utf8(generic_jcs(&r)).unwrap()
        );
    }

    #[test]
    fn equal_events_hash_equal(r in arb_record()) {
        // Equal after a trip through JSON text, as a stored event is read back.
        let back: EventRecord = serde_json::from_str(&serde_json::to_string(&r).unwrap()).unwrap();
        prop_assert_eq!(record_hash(&back), record_hash(&r));
        prop_assert_eq!(record_hash(&r.clone()), record_hash(&r));
    }

    #[test]
    fn any_field_change_changes_the_hash(r in arb_record()) {
        let original = record_hash(&r);
        for (field, changed) in mutations(&r) {
            prop_assert_ne!(record_hash(&changed), original, "changing {} kept the hash", field);
        }
    }

    #[test]
    fn leaf_sums_are_order_free_and_subtract(hashes in prop::collection::vec(any::<[u8; 32]>(), 0..20)) {
        let mut forward = LeafSum::default();
        for (i, h) in hashes.iter().enumerate() {
            forward.add_event(h, i as i64 + 1);
        }
        let mut backward = LeafSum::default();
        for (i, h) in hashes.iter().enumerate().rev() {
            backward.add_event(h, i as i64 + 1);
        }
        prop_assert_eq!(forward, backward);
        let mut head = LeafSum::default();
        for (i, h) in hashes.iter().enumerate().take(hashes.len() / 2) {
            head.add_event(h, i as i64 + 1);
        }
        let tail = forward.minus(&head);
        let mut again = head;
        again.add(&tail);
        prop_assert_eq!(again, forward);
    }
}

#[test]
fn the_field_list_covers_every_record_field() {
    // A new EventRecord field must be hashed: this fails until record_jcs writes it.
    let r = EventRecord {
        event_id: "e".into(),
        event_code: Some("c".into()),
        event_category: "AUTH".into(),
        event_type: "T".into(),
        event_name: "n".into(),
        event_description: Some("d".into()),
        user_id: Some("1".into()),
        username: Some("u".into()),
        user_role: Some("r".into()),
        tenant_id: Some("t".into()),
        ip_address: Some([1, 2, 3, 4].into()),
        user_agent: Some("ua".into()),
        session_id: Some("s".into()),
        correlation_id: Some("c".into()),
        source: Some("src".into()),
        resource_type: Some("rt".into()),
        resource_id: Some("ri".into()),
        resource_name: Some("rn".into()),
        related: Some([("k".to_owned(), json!("v"))].into_iter().collect()),
        action: "A".into(),
        status: "SUCCESS".into(),
        http_method: Some("GET".into()),
        endpoint: Some("/x".into()),
        http_status: Some(200),
        request_data: Some(json!({"a": 1})),
        response_data: Some(json!([1.5])),
        error_message: Some("m".into()),
        error_code: Some("E".into()),
        processing_time_ms: Some(1.25),
        timestamp: Utc::now(),
        metadata: Some(json!({"z": null})),
        tags: vec!["a".into()],
        severity: Severity::Info,
        importance: Importance::Major,
    };
    let fast: Value = serde_json::from_slice(&record_jcs(&r)).unwrap();
    let all = serde_json::to_value(&r).unwrap();
    let fast_keys: Vec<&String> = fast.as_object().unwrap().keys().collect();
    let all_keys: Vec<&String> = all.as_object().unwrap().keys().collect();
    let mut sorted = all_keys.clone();
    sorted.sort();
    assert_eq!(fast_keys, sorted);
}
