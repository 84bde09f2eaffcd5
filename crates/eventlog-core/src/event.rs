//! The event as eventlog stores and serves it.

use std::fmt;
use std::net::IpAddr;
use std::str::FromStr;
use std::sync::OnceLock;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use utoipa::ToSchema;

use crate::integrity::Hash;

/// How serious an event is; drives retention and alerting.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize, ToSchema,
)]
#[serde(rename_all = "UPPERCASE")]
pub enum Severity {
    /// Detail for debugging (kept 7 days by default).
    Debug,
    /// Normal operation (30 days).
    Info,
    /// Needs attention (90 days).
    Warning,
    /// Needs investigation (180 days).
    Error,
    /// Needs immediate action (365 days).
    Critical,
}

impl Severity {
    /// All severities, least serious first.
    pub const ALL: [Severity; 5] = [
        Severity::Debug,
        Severity::Info,
        Severity::Warning,
        Severity::Error,
        Severity::Critical,
    ];

    /// The upper-case name used on the wire and in storage.
    pub fn as_str(self) -> &'static str {
        match self {
            Severity::Debug => "DEBUG",
            Severity::Info => "INFO",
            Severity::Warning => "WARNING",
            Severity::Error => "ERROR",
            Severity::Critical => "CRITICAL",
        }
    }
}

impl FromStr for Severity {
    type Err = ();
    /// Case-insensitive; `WARN` and `FATAL` are accepted as the names other loggers use.
    fn from_str(s: &str) -> Result<Self, ()> {
        match s.to_ascii_uppercase().as_str() {
            "DEBUG" | "TRACE" => Ok(Severity::Debug),
            "INFO" => Ok(Severity::Info),
            "WARNING" | "WARN" => Ok(Severity::Warning),
            "ERROR" => Ok(Severity::Error),
            "CRITICAL" | "FATAL" => Ok(Severity::Critical),
            _ => Err(()),
        }
    }
}

impl fmt::Display for Severity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Whether an event is a headline change (MAJOR) or routine (MINOR), as the activity feed
/// of the licensing portal distinguishes them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "UPPERCASE")]
pub enum Importance {
    /// An important change.
    Major,
    /// A routine activity.
    Minor,
}

impl Importance {
    /// The upper-case name used on the wire and in storage.
    pub fn as_str(self) -> &'static str {
        match self {
            Importance::Major => "MAJOR",
            Importance::Minor => "MINOR",
        }
    }
}

impl FromStr for Importance {
    type Err = ();
    fn from_str(s: &str) -> Result<Self, ()> {
        match s.to_ascii_uppercase().as_str() {
            "MAJOR" => Ok(Importance::Major),
            "MINOR" => Ok(Importance::Minor),
            _ => Err(()),
        }
    }
}

/// Every field of an event, with client defaults filled in. This is plain data: the only
/// way to obtain one that is known to be valid is [`ValidatedEvent`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct EventRecord {
    /// Unique, human-readable id, e.g. `AUTH-001-20250619-143052-7f3a9c04e1b2`.
    pub event_id: String,
    /// Catalog code, e.g. `AUTH-001`.
    pub event_code: Option<String>,
    /// Category, e.g. `AUTH`.
    pub event_category: String,
    /// Type, e.g. `USER_LOGIN`.
    pub event_type: String,
    /// Human name, e.g. `User Login Success`.
    pub event_name: String,
    /// Free-text description.
    pub event_description: Option<String>,
    /// The acting user's id (numbers are accepted and stored as text).
    pub user_id: Option<String>,
    /// The acting user's name.
    pub username: Option<String>,
    /// The acting user's role.
    pub user_role: Option<String>,
    /// Tenant the event belongs to.
    pub tenant_id: Option<String>,
    /// Client IP address.
    #[schema(value_type = Option<String>)]
    pub ip_address: Option<IpAddr>,
    /// Client user agent.
    pub user_agent: Option<String>,
    /// Session id.
    pub session_id: Option<String>,
    /// Correlation (request/trace) id.
    pub correlation_id: Option<String>,
    /// Which application sent the event.
    pub source: Option<String>,
    /// Type of the resource acted on, e.g. `STUDENT`.
    pub resource_type: Option<String>,
    /// Id of the resource acted on.
    pub resource_id: Option<String>,
    /// Display name of the resource acted on.
    pub resource_name: Option<String>,
    /// Related entities by kind, e.g. `{"tenant": "t-1", "project": "p-9"}`.
    #[schema(value_type = Option<Object>)]
    pub related: Option<serde_json::Map<String, Value>>,
    /// What was done, e.g. `LOGIN`, `CREATE`.
    pub action: String,
    /// Outcome, e.g. `SUCCESS`, `FAILED`.
    pub status: String,
    /// HTTP method of the request that caused the event.
    pub http_method: Option<String>,
    /// Endpoint (route) of that request.
    pub endpoint: Option<String>,
    /// HTTP status of the response.
    pub http_status: Option<u16>,
    /// Request payload (masked of secrets).
    #[schema(value_type = Option<Object>)]
    pub request_data: Option<Value>,
    /// Response payload.
    #[schema(value_type = Option<Object>)]
    pub response_data: Option<Value>,
    /// Error message, if the action failed.
    pub error_message: Option<String>,
    /// Error code, if the action failed.
    pub error_code: Option<String>,
    /// How long the action took, in milliseconds.
    pub processing_time_ms: Option<f64>,
    /// When it happened (UTC).
    pub timestamp: DateTime<Utc>,
    /// Free-form extra data (a JSON object).
    #[schema(value_type = Option<Object>)]
    pub metadata: Option<Value>,
    /// Tags.
    pub tags: Vec<String>,
    /// Severity.
    pub severity: Severity,
    /// Importance.
    pub importance: Importance,
}

/// The `source` of every event eventlog writes itself: its audit trail (`eventlog`), what
/// detection derives (`eventlog-detect`) and what alert rules store (`eventlog-alerts`).
/// Clients may not claim them.
pub const OWN_SOURCES: [&str; 3] = ["eventlog", "eventlog-detect", "eventlog-alerts"];

/// Statuses that make a login event a failed login.
pub const FAILED_LOGIN_STATUSES: [&str; 4] = ["FAILED", "FAILURE", "DENIED", "BLOCKED"];

impl EventRecord {
    /// Whether eventlog wrote this event itself (its `source` is one of [`OWN_SOURCES`]).
    pub fn written_by_eventlog(&self) -> bool {
        self.source
            .as_deref()
            .is_some_and(|s| OWN_SOURCES.contains(&s))
    }

    /// Whether this is a failed login, the one definition every count of eventlog uses
    /// (rollups, the security report, the `failed_logins` alert, brute-force detection):
    /// the catalog's AUTH-002; an `event_type` LOGIN_FAILED (seed 001's query), whatever the
    /// status; or an `event_type` USER_LOGIN (seed 002) whose status is one of
    /// [`FAILED_LOGIN_STATUSES`]. Types match in any case (`user_login` too).
    pub fn is_failed_login(&self) -> bool {
        self.event_code.as_deref() == Some("AUTH-002")
            || self.event_type.eq_ignore_ascii_case("LOGIN_FAILED")
            || (self.event_type.eq_ignore_ascii_case("USER_LOGIN")
                && FAILED_LOGIN_STATUSES
                    .iter()
                    .any(|s| self.status.eq_ignore_ascii_case(s)))
    }
}

/// An event that passed validation: the only input the stores accept.
///
/// Constructed by [`crate::validate`]; its fields cannot be changed afterwards, so whatever
/// holds one knows it is valid.
#[derive(Debug, Clone)]
pub struct ValidatedEvent {
    record: EventRecord,
    content_hash: [u8; 32],
    id_supplied: bool,
    /// [`crate::integrity::record_hash`] of `record`, once asked for.
    record_hash: OnceLock<Hash>,
}

impl PartialEq for ValidatedEvent {
    /// Equal when the events are; whether a hash was computed yet does not matter.
    fn eq(&self, other: &Self) -> bool {
        self.record == other.record
            && self.content_hash == other.content_hash
            && self.id_supplied == other.id_supplied
    }
}

impl ValidatedEvent {
    pub(crate) fn new(record: EventRecord, content_hash: [u8; 32], id_supplied: bool) -> Self {
        Self {
            record,
            content_hash,
            id_supplied,
            record_hash: OnceLock::new(),
        }
    }

    /// The event's fields.
    pub fn record(&self) -> &EventRecord {
        &self.record
    }

    /// SHA-256 over the canonical form of what the client sent (see [`crate::canonical`]):
    /// two deliveries of the same event have the same hash, whatever their formatting.
    pub fn content_hash(&self) -> &[u8; 32] {
        &self.content_hash
    }

    /// Whether the client chose the event id (then a repeat is an idempotent retry).
    pub fn id_supplied(&self) -> bool {
        self.id_supplied
    }

    /// The hash of the record as stored, which the tamper-evident chain links
    /// ([`crate::integrity::record_hash`]). Computed once, by whichever thread asks first: a
    /// server asks on the request's thread, so the single writer does not have to.
    pub fn record_hash(&self) -> &Hash {
        self.record_hash
            .get_or_init(|| crate::integrity::record_hash(&self.record))
    }

    /// Binds the event to `tenant` (for tenant-bound credentials): an event without a
    /// tenant gets this one; an event of another tenant is refused (returns false).
    pub fn bind_tenant(&mut self, tenant: &str) -> bool {
        match &self.record.tenant_id {
            Some(t) => t == tenant,
            None => {
                self.record.tenant_id = Some(tenant.to_owned());
                self.record_hash = OnceLock::new();
                true
            }
        }
    }
}

/// `t` to the microsecond: the precision both stores keep times in, so a time shown or
/// signed before a read is the one a read returns.
pub fn stored_precision(t: DateTime<Utc>) -> DateTime<Utc> {
    DateTime::from_timestamp_micros(t.timestamp_micros()).unwrap_or(t)
}

/// An event as read back from a store: its fields plus what the store assigned.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct StoredEvent {
    /// The event.
    #[serde(flatten)]
    pub record: EventRecord,
    /// When eventlog received it.
    pub created_at: DateTime<Utc>,
    /// When it was durably committed.
    pub processed_at: DateTime<Utc>,
}
