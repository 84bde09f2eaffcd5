//! eventlog's own audit trail: security-relevant actions on eventlog itself (keys created
//! or revoked, retention runs, configuration changes, exports, verifications) are stored as
//! ADMIN events of the seed 002 catalog, `source = "eventlog"`, chained like every other
//! event. Read them with `GET /api/events/recent?category=ADMIN&source=...` or as auditor.

use std::sync::OnceLock;

use chrono::Utc;
use eventlog_core::validate::Validator;
use eventlog_core::{parse_event, Catalog, ValidatedEvent, ValidationPolicy};
use eventlog_store::{Store, StoreError};
use serde_json::{json, Value};

use crate::AppState;

/// The `source` of eventlog's own audit events; clients may not claim it.
pub const AUDIT_SOURCE: &str = "eventlog";

/// A security-relevant action on eventlog itself.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AdminAction {
    /// An API key was created (ADMIN-001, named "API Key Created").
    KeyCreated,
    /// An API key was revoked (ADMIN-003, named "API Key Revoked").
    KeyRevoked,
    /// The configuration changed (ADMIN-005).
    ConfigChanged,
    /// Events were exported (ADMIN-006, named "Events Exported", action EXPORT).
    Export,
    /// Retention deleted expired events (ADMIN-007, log cleanup).
    RetentionRun,
    /// Events were re-imported from an archive (ADMIN-006, named "Archive Restored").
    ArchiveRestored,
    /// The tamper-evident chain was verified (ADMIN-008, security audit).
    IntegrityVerified,
}

impl AdminAction {
    /// The catalog code, the action, and a name where the code's own name would mislead
    /// (an API key is not a user account; an export is not maintenance).
    fn code_action_name(self) -> (&'static str, &'static str, Option<&'static str>) {
        match self {
            AdminAction::KeyCreated => ("ADMIN-001", "CREATE", Some("API Key Created")),
            AdminAction::KeyRevoked => ("ADMIN-003", "REVOKE", Some("API Key Revoked")),
            AdminAction::ConfigChanged => ("ADMIN-005", "UPDATE", None),
            AdminAction::Export => ("ADMIN-006", "EXPORT", Some("Events Exported")),
            AdminAction::RetentionRun => ("ADMIN-007", "DELETE", None),
            AdminAction::ArchiveRestored => ("ADMIN-006", "RESTORE", Some("Archive Restored")),
            AdminAction::IntegrityVerified => ("ADMIN-008", "VERIFY", None),
        }
    }
}

/// The ADMIN event for `action` by `actor` (a key name, `cli`, `retention`...) on
/// `resource` (e.g. the key's name), with `details` as metadata.
pub fn admin_event(
    action: AdminAction,
    actor: &str,
    resource: Option<&str>,
    details: Value,
) -> ValidatedEvent {
    let (code, verb, name) = action.code_action_name();
    let details = if details.is_object() {
        details
    } else {
        json!({ "details": details })
    };
    let mut raw = json!({
        "event_code": code,
        "action": verb,
        "username": fit(actor),
        "source": AUDIT_SOURCE,
        "resource_type": "EVENTLOG",
        "resource_id": resource.map(fit),
        "metadata": details,
    });
    if let Some(name) = name {
        raw["event_name"] = json!(name);
    }
    own_event(&raw).expect("the admin event passes validation")
}

/// An event eventlog writes itself, from its JSON, validated against the built-in catalog.
pub(crate) fn own_event(raw: &Value) -> Result<ValidatedEvent, String> {
    // Built once: a validator parses the built-in catalog.
    static VALIDATOR: OnceLock<Validator> = OnceLock::new();
    let validator =
        VALIDATOR.get_or_init(|| Validator::new(ValidationPolicy::default(), Catalog::built_in()));
    let raw = parse_event(raw.to_string().as_bytes()).map_err(|problems| {
        problems
            .iter()
            .map(ToString::to_string)
            .collect::<Vec<_>>()
            .join("; ")
    })?;
    validator
        .validate(raw, Utc::now())
        .map_err(|errors| format!("{errors:?}"))
}

/// `text` as an event's short text field takes it: control characters dropped, at most
/// 128 characters (names come from the CLI and the config, whose checks may differ).
pub(crate) fn fit(text: &str) -> String {
    text.chars().filter(|c| !c.is_control()).take(128).collect()
}

/// Records `action` through the ingest queue (hashed and chained like any event), as an
/// event of `tenant` when a tenant-bound caller acted. Never fails the caller: a store
/// that cannot take the event is logged.
pub async fn audit_admin_action(
    state: &AppState,
    action: AdminAction,
    actor: &str,
    resource: Option<&str>,
    tenant: Option<&str>,
    details: Value,
) {
    let mut event = admin_event(action, actor, resource, details);
    if let Some(tenant) = tenant {
        event.bind_tenant(tenant);
    }
    match state.queue.submit(vec![event]) {
        Ok(pending) => match pending.await {
            Ok(Ok(_)) => {}
            Ok(Err(e)) => tracing::error!(error = %e.message, ?action, "audit event not stored"),
            Err(_) => tracing::error!(?action, "audit event not stored: shutting down"),
        },
        Err(_) => tracing::error!(?action, "audit event not stored: ingest queue full"),
    }
}

/// Records `action` straight into `store`, for commands that run without a server (the
/// CLI's `keys create` / `keys revoke`).
pub async fn record_admin_action(
    store: &dyn Store,
    action: AdminAction,
    actor: &str,
    resource: Option<&str>,
    details: Value,
) -> Result<(), StoreError> {
    store
        .write(&[vec![admin_event(action, actor, resource, details)]])
        .await
        .map(drop)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_source_eventlog_writes_is_one_of_its_own() {
        for source in [
            AUDIT_SOURCE,
            crate::alerts::ALERT_SOURCE,
            eventlog_core::detect::stateful::DERIVED_SOURCE,
        ] {
            assert!(
                eventlog_core::event::OWN_SOURCES.contains(&source),
                "{source}"
            );
        }
    }
}
