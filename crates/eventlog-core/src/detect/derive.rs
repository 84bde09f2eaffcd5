//! Turning findings and alerts into events (plain JSON, validated by the caller through
//! the normal write path). Ids are derived from the triggering event, so a replay of the
//! same events derives the same ids and the store deduplicates them.

use chrono::{DateTime, Utc};
use serde_json::{json, Map, Value};
use sha2::{Digest, Sha256};

use super::stateful::{Alert, DERIVED_SOURCE};
use super::Finding;
use crate::event::EventRecord;

/// A deterministic event id in the seeds' style:
/// `{code}-{YYYYMMDD}-{HHMMSS}-{12 hex digits of SHA-256(code, trigger, key)}`.
pub fn derived_event_id(
    code: &str,
    at: DateTime<Utc>,
    trigger_event_id: &str,
    key: &str,
) -> String {
    let mut hash = Sha256::new();
    for part in [code, trigger_event_id, key] {
        hash.update(part.as_bytes());
        hash.update([0]);
    }
    let digest = hash.finalize();
    let suffix: String = digest[..6].iter().map(|b| format!("{b:02x}")).collect();
    format!("{code}-{}-{suffix}", at.format("%Y%m%d-%H%M%S"))
}

/// The event reporting `finding` in the request that `source` logged: same user, tenant,
/// IP and client; the endpoint without its query string; the masked excerpt as payload.
pub fn finding_event(source: &EventRecord, finding: &Finding) -> Value {
    let code = finding.kind.code();
    let path = source
        .endpoint
        .as_deref()
        .map(|e| e.split('?').next().unwrap_or(e).to_owned());
    let description = format!(
        "{} in {} of {} {}",
        match finding.kind {
            super::AttackKind::SqlInjection => "SQL injection",
            super::AttackKind::Xss => "Cross-site scripting",
            super::AttackKind::MaliciousUpload => "Malicious upload",
            super::AttackKind::PathTraversal => "Path traversal",
            super::AttackKind::CommandInjection => "Command injection",
        },
        finding.location,
        source.http_method.as_deref().unwrap_or("request"),
        path.as_deref().unwrap_or("(no endpoint)")
    );
    let mut event = json!({
        "event_id": derived_event_id(code, source.timestamp, &source.event_id, &finding.location),
        "event_code": code,
        "event_description": description,
        "endpoint": path,
        "request_data": {"payload": finding.excerpt, "location": finding.location},
        "metadata": {
            "detector": "payload_inspection",
            "attack_type": finding.kind.as_str(),
            "rule": finding.rule,
            "location": finding.location,
            "trigger_event_id": source.event_id,
        },
        "tags": ["security", "attack", finding.kind.as_str()],
    });
    copy_actor(source, &mut event);
    event
}

/// The event reporting a stream detector's `alert`.
pub fn alert_event(alert: &Alert) -> Value {
    let mut metadata: Map<String, Value> = alert.details.clone();
    metadata.insert("trigger_event_id".into(), json!(alert.trigger_event_id));
    metadata.insert("key".into(), json!(alert.key));
    let mut event = json!({
        "event_id": derived_event_id(alert.code, alert.timestamp, &alert.trigger_event_id, &alert.key),
        "event_code": alert.code,
        "event_description": alert.description,
        "timestamp": alert.timestamp,
        "source": DERIVED_SOURCE,
        "metadata": metadata,
        "tags": ["security", alert.detector],
    });
    let fields = [
        ("tenant_id", alert.tenant_id.clone()),
        ("user_id", alert.user_id.clone()),
        ("username", alert.username.clone()),
        ("user_role", alert.user_role.clone()),
        ("ip_address", alert.ip_address.map(|ip| ip.to_string())),
        ("user_agent", alert.user_agent.clone()),
        (
            "endpoint",
            alert
                .endpoint
                .as_deref()
                .map(|e| e.split('?').next().unwrap_or(e).to_owned()),
        ),
        ("http_method", alert.http_method.clone()),
    ];
    let map = event.as_object_mut().expect("built as an object");
    for (name, value) in fields {
        if let Some(value) = value {
            map.insert(name.into(), json!(value));
        }
    }
    event
}

/// Copies who and where from the source event: user, tenant, address, client, session.
fn copy_actor(source: &EventRecord, event: &mut Value) {
    let map = event.as_object_mut().expect("built as an object");
    map.insert("timestamp".into(), json!(source.timestamp));
    map.insert("source".into(), json!(DERIVED_SOURCE));
    let fields = [
        ("tenant_id", source.tenant_id.clone()),
        ("user_id", source.user_id.clone()),
        ("username", source.username.clone()),
        ("user_role", source.user_role.clone()),
        ("ip_address", source.ip_address.map(|ip| ip.to_string())),
        ("user_agent", source.user_agent.clone()),
        ("session_id", source.session_id.clone()),
        ("correlation_id", source.correlation_id.clone()),
        ("http_method", source.http_method.clone()),
    ];
    for (name, value) in fields {
        if let Some(value) = value {
            map.insert(name.into(), json!(value));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_deterministic_valid_and_distinct_per_key() {
        let at = DateTime::parse_from_rfc3339("2025-06-19T14:30:52Z")
            .unwrap()
            .with_timezone(&Utc);
        let a = derived_event_id("SEC-003", at, "AUTH-001-x", "query.q");
        assert_eq!(a, derived_event_id("SEC-003", at, "AUTH-001-x", "query.q"));
        assert_ne!(a, derived_event_id("SEC-003", at, "AUTH-001-x", "query.r"));
        assert!(a.starts_with("SEC-003-20250619-143052-"), "{a}");
        assert!(crate::id::is_valid_event_id(&a));
        assert_eq!(crate::id::code_prefix(&a), Some("SEC-003"));
    }
}
