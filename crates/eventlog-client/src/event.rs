//! The event an application logs: every field of the wire format, all optional, set with
//! builder methods. The logger fills in the id and the time when the event is logged, so
//! every later delivery of it (retry, replay from the spool) is the same event.

use chrono::{DateTime, SecondsFormat, Utc};
use eventlog_core::Severity;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

/// One event as the application describes it; serialises to exactly what the
/// `POST /api/events/batch` API accepts.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
#[allow(missing_docs)] // field meanings are documented on `eventlog_core::EventRecord`
pub struct Event {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub event_id: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub event_code: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub event_category: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub event_type: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub event_name: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub event_description: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub user_id: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub username: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub user_role: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tenant_id: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ip_address: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub user_agent: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub session_id: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub correlation_id: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub source: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub resource_type: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub resource_id: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub resource_name: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub related: Option<Map<String, Value>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub action: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub status: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub http_method: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub endpoint: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub http_status: Option<u16>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub request_data: Option<Value>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub response_data: Option<Value>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error_message: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error_code: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub processing_time_ms: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub timestamp: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub metadata: Option<Value>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub tags: Vec<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub severity: Option<Severity>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub importance: Option<String>,
}

impl Event {
    /// An event of a catalog code (e.g. `AUTH-001`, `TENANT_CREATED`): it inherits the
    /// code's category, type, name, action, status, severity and importance.
    pub fn from_code(code: impl Into<String>) -> Self {
        Self {
            event_code: Some(code.into()),
            ..Self::default()
        }
    }

    /// A custom event outside the catalog, of this category (e.g. `SYSTEM`) and type.
    pub fn custom(category: impl Into<String>, event_type: impl Into<String>) -> Self {
        Self {
            event_category: Some(category.into()),
            event_type: Some(event_type.into()),
            ..Self::default()
        }
    }

    /// Makes this event one of catalog code `code`: the category, type and name it had are
    /// dropped so the catalog's apply (e.g. a CRUD event logged as `DATA-002`).
    pub fn with_code(mut self, code: impl Into<String>) -> Self {
        self.event_code = Some(code.into());
        self.event_category = None;
        self.event_type = None;
        self.event_name = None;
        self
    }

    /// Sets the acting user (id, name and role as far as known).
    pub fn user(mut self, id: impl Into<String>, name: Option<&str>, role: Option<&str>) -> Self {
        self.user_id = Some(id.into());
        self.username = name.map(str::to_owned);
        self.user_role = role.map(str::to_owned);
        self
    }

    /// Sets the resource acted on.
    pub fn resource(mut self, kind: impl Into<String>, id: impl Into<String>) -> Self {
        self.resource_type = Some(kind.into());
        self.resource_id = Some(id.into());
        self
    }

    /// Adds a related entity (`tenant`, `project`, `code`, `device`, ...).
    pub fn related(mut self, kind: &str, id: impl Into<String>) -> Self {
        self.related
            .get_or_insert_with(Map::new)
            .insert(kind.to_owned(), Value::String(id.into()));
        self
    }

    /// Adds one key to `metadata` (an object).
    pub fn meta(mut self, key: &str, value: impl Into<Value>) -> Self {
        let metadata = self
            .metadata
            .get_or_insert_with(|| Value::Object(Map::new()));
        if let Value::Object(map) = metadata {
            map.insert(key.to_owned(), value.into());
        }
        self
    }

    /// Sets the outcome (`SUCCESS`, `FAILED`, ...).
    pub fn status(mut self, status: impl Into<String>) -> Self {
        self.status = Some(status.into());
        self
    }

    /// Sets the action (`LOGIN`, `CREATE`, ...).
    pub fn action(mut self, action: impl Into<String>) -> Self {
        self.action = Some(action.into());
        self
    }

    /// Sets the severity.
    pub fn severity(mut self, severity: Severity) -> Self {
        self.severity = Some(severity);
        self
    }

    /// Sets the description.
    pub fn description(mut self, text: impl Into<String>) -> Self {
        self.event_description = Some(text.into());
        self
    }

    /// Sets the error message (and marks nothing else: the caller chooses the status).
    pub fn error(mut self, message: impl Into<String>) -> Self {
        self.error_message = Some(message.into());
        self
    }

    /// Sets the client IP address.
    pub fn ip(mut self, ip: impl Into<String>) -> Self {
        self.ip_address = Some(ip.into());
        self
    }

    /// Sets the tenant.
    pub fn tenant(mut self, tenant: impl Into<String>) -> Self {
        self.tenant_id = Some(tenant.into());
        self
    }

    /// Sets the correlation id.
    pub fn correlation(mut self, id: impl Into<String>) -> Self {
        self.correlation_id = Some(id.into());
        self
    }

    /// The prefix of the event id the logger assigns: the code, else the category.
    pub(crate) fn id_prefix(&self) -> &str {
        self.event_code
            .as_deref()
            .or(self.event_category.as_deref())
            .filter(|p| eventlog_core::id::is_valid_event_id(p) && p.len() <= 32)
            .unwrap_or("EVT")
    }

    /// Stamps the time (unless set) in RFC 3339 with microseconds.
    pub(crate) fn stamp(&mut self, now: DateTime<Utc>) {
        if self.timestamp.is_none() {
            self.timestamp = Some(now.to_rfc3339_opts(SecondsFormat::Micros, true));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn serialises_only_what_is_set_and_reads_back() {
        let e = Event::from_code("TENANT_CREATED")
            .user("7", Some("admin"), None)
            .related("tenant", "t-1")
            .meta("plan", "pro");
        let json = serde_json::to_value(&e).unwrap();
        assert_eq!(
            json,
            serde_json::json!({"event_code": "TENANT_CREATED", "user_id": "7", "username": "admin",
                "related": {"tenant": "t-1"}, "metadata": {"plan": "pro"}})
        );
        assert_eq!(serde_json::from_value::<Event>(json).unwrap(), e);
    }
}
