//! Ready-made events for what the seed applications log: authentication, CRUD with the
//! changed fields, security and system events, and the licensing portal's platform events
//! (seed 003) with their actor and related entities. Each returns an [`Event`]; the
//! `EventLogger` methods of the same names log it.

use serde_json::{Map, Value};

use crate::Event;

/// An authentication step, mapped to its catalog code.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AuthAction {
    /// A successful login (`AUTH-001`).
    LoginSucceeded,
    /// A failed login (`AUTH-002`).
    LoginFailed,
    /// A logout (`AUTH-003`).
    Logout,
    /// A password change (`AUTH-004`).
    PasswordChanged,
    /// A token issued (`AUTH-006`).
    TokenGenerated,
    /// A token refreshed (`AUTH-008`).
    TokenRefreshed,
    /// Access refused to an authenticated user (`AUTH-009`).
    Unauthorized,
}

impl AuthAction {
    /// The catalog code of this step.
    pub fn code(self) -> &'static str {
        match self {
            AuthAction::LoginSucceeded => "AUTH-001",
            AuthAction::LoginFailed => "AUTH-002",
            AuthAction::Logout => "AUTH-003",
            AuthAction::PasswordChanged => "AUTH-004",
            AuthAction::TokenGenerated => "AUTH-006",
            AuthAction::TokenRefreshed => "AUTH-008",
            AuthAction::Unauthorized => "AUTH-009",
        }
    }
}

/// An authentication event: who (as far as known; a failed login knows only the name
/// tried) and, for a failure, why. Never pass the password: it has no field here.
pub fn auth_event(
    action: AuthAction,
    username: &str,
    user_id: Option<&str>,
    reason: Option<&str>,
) -> Event {
    let mut event = Event::from_code(action.code());
    event.username = Some(username.to_owned());
    event.user_id = user_id.map(str::to_owned);
    if let Some(reason) = reason {
        event.error_message = Some(reason.to_owned());
    }
    event
}

/// What a CRUD event did to its resource.
#[derive(Debug, Clone, PartialEq)]
pub enum CrudAction {
    /// Created, with the new record.
    Create(Value),
    /// Read (listing or viewing).
    Read,
    /// Updated, with the record before and after; only changed fields are logged.
    Update {
        /// The record before the update.
        old: Value,
        /// The record after it.
        new: Value,
    },
    /// About to be deleted, with the record as it was: log this *before* the delete so the
    /// audit trail holds what was removed even if the delete then fails (seed 003).
    Delete(Value),
}

impl CrudAction {
    fn verb(&self) -> &'static str {
        match self {
            CrudAction::Create(_) => "CREATE",
            CrudAction::Read => "READ",
            CrudAction::Update { .. } => "UPDATE",
            CrudAction::Delete(_) => "DELETE",
        }
    }
}

/// The fields whose values differ between `old` and `new` (objects; other JSON compares
/// as a whole), as `{"field": {"old": .., "new": ..}}`.
pub fn changed_fields(old: &Value, new: &Value) -> Map<String, Value> {
    let mut changes = Map::new();
    match (old, new) {
        (Value::Object(o), Value::Object(n)) => {
            for (key, new_value) in n {
                let old_value = o.get(key).unwrap_or(&Value::Null);
                if old_value != new_value {
                    changes.insert(
                        key.clone(),
                        serde_json::json!({"old": old_value, "new": new_value}),
                    );
                }
            }
            for (key, old_value) in o {
                if !n.contains_key(key) {
                    changes.insert(
                        key.clone(),
                        serde_json::json!({"old": old_value, "new": null}),
                    );
                }
            }
        }
        _ if old != new => {
            changes.insert(
                "value".to_owned(),
                serde_json::json!({"old": old, "new": new}),
            );
        }
        _ => {}
    }
    changes
}

/// A CRUD event on `resource_type`/`resource_id` (category `CRUD`, type
/// `{RESOURCE}_{ACTION}`, e.g. `STUDENT_UPDATE`). An update carries only the changed
/// fields' old and new values in `request_data.changes`. To log a catalog code instead
/// (e.g. `DATA-002`), call [`Event::with_code`] on the result.
pub fn crud_event(resource_type: &str, resource_id: &str, action: CrudAction) -> Event {
    let verb = action.verb();
    let kind = resource_type.to_ascii_uppercase();
    let mut event = Event::custom("CRUD", format!("{kind}_{verb}"))
        .action(verb)
        .resource(kind, resource_id);
    event.event_name = Some(format!("{} {}", resource_type, verb.to_ascii_lowercase()));
    event.request_data = match action {
        CrudAction::Create(record) => Some(serde_json::json!({ "new": record })),
        CrudAction::Read => None,
        CrudAction::Update { old, new } => {
            Some(serde_json::json!({ "changes": changed_fields(&old, &new) }))
        }
        CrudAction::Delete(record) => Some(serde_json::json!({ "old": record })),
    };
    event
}

/// A security event of a `SEC-*` code (e.g. `SEC-002` brute force) with what was seen.
pub fn security_event(code: &str, description: &str, ip: Option<&str>) -> Event {
    let mut event = Event::from_code(code).description(description);
    event.ip_address = ip.map(str::to_owned);
    event
}

/// A system event of a `SYS-*` code (e.g. `SYS-001` application started).
pub fn system_event(code: &str, description: &str) -> Event {
    Event::from_code(code).description(description)
}

/// Who performed a platform action (seed 003's "actor").
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Actor {
    /// The actor's user id.
    pub user_id: String,
    /// The actor's name.
    pub username: Option<String>,
    /// The actor's role.
    pub role: Option<String>,
}

impl Actor {
    /// An actor known by id and name.
    pub fn new(user_id: impl Into<String>, username: impl Into<String>) -> Self {
        Self {
            user_id: user_id.into(),
            username: Some(username.into()),
            role: None,
        }
    }
}

/// A platform event of seed 003 (`TENANT_CREATED` ... `CONFIG_UPDATED`) by `actor`, with
/// its related entities as `(kind, id)` pairs (`tenant`, `project`, `code`, `device`). The
/// tenant, if related, also becomes the event's `tenant_id`.
pub fn platform_event(code: &str, actor: Option<&Actor>, related: &[(&str, &str)]) -> Event {
    let mut event = Event::from_code(code);
    if let Some(actor) = actor {
        event = event.user(
            actor.user_id.clone(),
            actor.username.as_deref(),
            actor.role.as_deref(),
        );
    }
    for (kind, id) in related {
        if *kind == "tenant" {
            event.tenant_id = Some((*id).to_owned());
        }
        event = event.related(kind, *id);
    }
    if let Some((kind, id)) = related
        .iter()
        .find(|(k, _)| *k != "tenant")
        .or(related.first())
    {
        event = event.resource(kind.to_ascii_uppercase(), *id);
    }
    event
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn an_update_logs_only_changed_fields_with_old_and_new() {
        let e = crud_event(
            "student",
            "42",
            CrudAction::Update {
                old: json!({"name": "Budi", "class": "X-1", "nis": "1001"}),
                new: json!({"name": "Budi", "class": "XI-2", "nis": "1001"}),
            },
        );
        assert_eq!(e.event_type.as_deref(), Some("STUDENT_UPDATE"));
        assert_eq!(
            e.request_data,
            Some(json!({"changes": {"class": {"old": "X-1", "new": "XI-2"}}}))
        );
    }

    #[test]
    fn platform_events_carry_actor_and_related_entities() {
        let actor = Actor::new("1", "admin");
        let e = platform_event(
            "DEVICE_ENROLLED",
            Some(&actor),
            &[("tenant", "t-1"), ("device", "d-9")],
        );
        assert_eq!(e.tenant_id.as_deref(), Some("t-1"));
        assert_eq!(e.resource_type.as_deref(), Some("DEVICE"));
        assert_eq!(e.related.unwrap()["device"], "d-9");
        assert_eq!(e.username.as_deref(), Some("admin"));
    }
}
