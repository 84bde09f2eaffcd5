//! The rules that turn a [`RawEvent`] into a [`ValidatedEvent`]: required fields, enums,
//! lengths, IP addresses, time bounds, JSON limits, and the defaults a client may omit.
//!
//! Defaults (documented in the README, "The event"):
//! - `event_code`: taken from a seed-style `event_id` (`AUTH-001-...`) when that code is known.
//! - `event_category`, `event_type`, `event_name`, `action`, `severity`, `importance`: from the
//!   catalog entry of `event_code`; otherwise `event_name` = `event_type`, `action` =
//!   `http_method` or `LOG`, `severity` = `INFO`, `importance` = `MAJOR` for ERROR and
//!   CRITICAL, else `MINOR`.
//! - `status`: the catalog entry's (e.g. FAILED for AUTH-002), else from `http_status`
//!   (`< 400` SUCCESS, `4xx` FAILED, `5xx` ERROR), else SUCCESS.
//! - `timestamp`: the time eventlog received the event. A timestamp without an offset is UTC.
//! - `event_id`: generated ([`crate::id`]).

use std::net::IpAddr;
use std::str::FromStr;

use chrono::{DateTime, NaiveDateTime, Utc};
use serde_json::Value;

use crate::canonical::{write_canonical, write_scalar};
use crate::id::{code_prefix, is_valid_event_id, EventIdGenerator};
use crate::redact::Redactor;
use crate::{Catalog, EventRecord, FieldError, Importance, RawEvent, Severity, ValidatedEvent};
use sha2::{Digest, Sha256};

/// The categories of the seed documents (002: eight; 001: CRUD, ML, FILE) and PLATFORM for
/// the licensing portal's platform events (003).
pub const BUILT_IN_CATEGORIES: &[&str] = &[
    "AUTH",
    "DATA",
    "PRED",
    "MODEL",
    "SYSTEM",
    "SECURITY",
    "ANALYTICS",
    "ADMIN",
    "CRUD",
    "ML",
    "FILE",
    "PLATFORM",
];

/// The statuses the seeds use, plus the usual outcomes of a request or job.
pub const BUILT_IN_STATUSES: &[&str] = &[
    "SUCCESS",
    "FAILED",
    "FAILURE",
    "ERROR",
    "BLOCKED",
    "DENIED",
    "ALERT",
    "PENDING",
    "IN_PROGRESS",
    "CANCELLED",
    "TIMEOUT",
    "PARTIAL",
];

/// The longest `processing_time_ms` accepted (7 days). A bound keeps one absurd value (say
/// 1e308) from turning every latency sum and mean it joins into infinity.
const MAX_PROCESSING_TIME_MS: f64 = 7.0 * 24.0 * 3_600_000.0;

const HTTP_METHODS: &[&str] = &[
    "GET", "HEAD", "POST", "PUT", "DELETE", "CONNECT", "OPTIONS", "TRACE", "PATCH",
];

/// What to do with an `event_code` that no loaded catalog knows.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Deserialize, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum UnknownCodePolicy {
    /// Store it as a custom code (the event must then carry its own category and type).
    #[default]
    Accept,
    /// Reject the event with 422.
    Reject,
}

/// The configurable part of validation.
#[derive(Debug, Clone, serde::Deserialize, serde::Serialize)]
#[serde(default, deny_unknown_fields)]
pub struct ValidationPolicy {
    /// Categories accepted in addition to [`BUILT_IN_CATEGORIES`].
    pub extra_categories: Vec<String>,
    /// Statuses accepted in addition to [`BUILT_IN_STATUSES`].
    pub extra_statuses: Vec<String>,
    /// What to do with unknown `event_code`s.
    pub unknown_codes: UnknownCodePolicy,
    /// How far into the future (by eventlog's clock) a timestamp may be, in seconds.
    pub max_future_skew_secs: i64,
    /// How far into the past a timestamp may be, in days (0: no bound). On PostgreSQL each
    /// month of events is a partition, and every partition costs every read a little:
    /// without a bound, one request with a timestamp per month since 1970 would create
    /// hundreds of them.
    pub max_past_days: u32,
    /// Deepest nesting allowed inside `metadata`, `request_data`, `response_data`, `related`.
    pub max_json_depth: usize,
    /// Most tags per event.
    pub max_tags: usize,
    /// Keys masked in addition to [`crate::redact::SENSITIVE_KEYS`] (matched the same way).
    pub extra_secret_keys: Vec<String>,
}

impl ValidationPolicy {
    /// Whether events may have `status` (built in, upper case, or configured; any case).
    pub fn knows_status(&self, status: &str) -> bool {
        BUILT_IN_STATUSES.contains(&status)
            || self
                .extra_statuses
                .iter()
                .any(|x| x.eq_ignore_ascii_case(status))
    }

    /// The categories events may have, listed for an error message.
    pub fn categories_listed(&self) -> String {
        listed(BUILT_IN_CATEGORIES, &self.extra_categories)
    }

    /// The statuses events may have, listed for an error message.
    pub fn statuses_listed(&self) -> String {
        listed(BUILT_IN_STATUSES, &self.extra_statuses)
    }

    /// Whether events may have `category` (built in or configured; any case).
    pub fn knows_category(&self, category: &str) -> bool {
        BUILT_IN_CATEGORIES
            .iter()
            .copied()
            .chain(self.extra_categories.iter().map(String::as_str))
            .any(|c| c.eq_ignore_ascii_case(category))
    }
}

impl Default for ValidationPolicy {
    fn default() -> Self {
        Self {
            extra_categories: Vec::new(),
            extra_statuses: Vec::new(),
            unknown_codes: UnknownCodePolicy::Accept,
            max_future_skew_secs: 300,
            max_past_days: 3_660,
            max_json_depth: 16,
            max_tags: 32,
            extra_secret_keys: Vec::new(),
        }
    }
}

/// Everything validation needs besides the event.
#[derive(Debug)]
pub struct Validator {
    policy: ValidationPolicy,
    catalog: Catalog,
    ids: EventIdGenerator,
    redactor: Redactor,
}

/// Longest accepted value of each text field, in characters.
fn max_len(field: &str) -> usize {
    match field {
        "event_description" | "error_message" => 8_192,
        "user_agent" | "endpoint" => 2_048,
        "event_name" | "resource_name" => 256,
        "event_category" | "http_method" => 32,
        _ => 128,
    }
}

impl Validator {
    /// A validator with this policy and catalog.
    pub fn new(policy: ValidationPolicy, catalog: Catalog) -> Self {
        Self {
            redactor: Redactor::new(&policy.extra_secret_keys),
            policy,
            catalog,
            ids: EventIdGenerator::new(),
        }
    }

    /// The catalog in use.
    pub fn catalog(&self) -> &Catalog {
        &self.catalog
    }

    /// The policy in use.
    pub fn policy(&self) -> &ValidationPolicy {
        &self.policy
    }

    /// Validates `raw`, received at `now`. On failure every problem found is returned, not
    /// just the first, so a client can fix an event in one round trip.
    pub fn validate(
        &self,
        raw: RawEvent,
        now: DateTime<Utc>,
    ) -> Result<ValidatedEvent, Vec<FieldError>> {
        let mut errors = Vec::new();
        let hash = client_content_hash(&raw);

        let text = |errors: &mut Vec<FieldError>, field: &'static str, value: Option<String>| {
            let value = value.filter(|v| !v.is_empty())?;
            let limit = max_len(field);
            let chars = value.chars().count();
            if chars > limit {
                errors.push(FieldError::new(
                    "too_long",
                    field,
                    format!("is {chars} characters; the limit is {limit}"),
                ));
                return None;
            }
            if value
                .chars()
                .any(|c| c.is_control() && c != '\n' && c != '\t' && c != '\r')
            {
                errors.push(FieldError::new(
                    "invalid_value",
                    field,
                    "contains control characters",
                ));
                return None;
            }
            Some(value)
        };

        // Identity and catalog defaults.
        // Only an absent id (or null) means "generate one": "" is a client bug, refused.
        let supplied_id = raw.event_id;
        if let Some(id) = &supplied_id {
            if !is_valid_event_id(id) {
                errors.push(FieldError::new(
                    "invalid_value",
                    "event_id",
                    "must be 1..=128 characters of A-Z a-z 0-9 - _ . :",
                ));
            }
        }
        // Catalog codes match ignoring case (`auth-002` is AUTH-002); custom codes are kept
        // as sent.
        let explicit_code = text(&mut errors, "event_code", raw.event_code).map(|c| {
            let upper = c.to_ascii_uppercase();
            if self.catalog.get(&c).is_none() && self.catalog.get(&upper).is_some() {
                upper
            } else {
                c
            }
        });
        let code = explicit_code.clone().or_else(|| {
            supplied_id
                .as_deref()
                .and_then(code_prefix)
                .filter(|c| self.catalog.get(c).is_some())
                .map(str::to_owned)
        });
        let entry = code.as_deref().and_then(|c| self.catalog.get(c));
        if let (Some(c), None) = (&explicit_code, entry) {
            if self.policy.unknown_codes == UnknownCodePolicy::Reject {
                errors.push(FieldError::new(
                    "unknown_code",
                    "event_code",
                    format!("`{c}` is not in the catalog (GET /api/catalog lists the known codes)"),
                ));
            }
        }

        let category =
            text(&mut errors, "event_category", raw.event_category).map(|c| c.to_ascii_uppercase());
        let category = match (category, entry) {
            (Some(c), Some(e)) if c != e.category => {
                errors.push(FieldError::new(
                    "invalid_value",
                    "event_category",
                    format!(
                        "`{c}` contradicts event_code {} (category {})",
                        e.code, e.category
                    ),
                ));
                None
            }
            (Some(c), _) => {
                if !self.policy.knows_category(&c) {
                    errors.push(FieldError::new(
                        "invalid_value",
                        "event_category",
                        format!(
                            "unknown category `{c}`; expected one of {}",
                            self.policy.categories_listed()
                        ),
                    ));
                }
                Some(c)
            }
            (None, Some(e)) => Some(e.category.clone()),
            (None, None) => {
                let why = match &explicit_code {
                    Some(c) => format!(
                        "is required: event_code `{c}` is not in the catalog, so it gives no category"
                    ),
                    None => "is required (or name a catalog event_code)".to_owned(),
                };
                errors.push(FieldError::new("missing_field", "event_category", why));
                None
            }
        };
        let event_type = text(&mut errors, "event_type", raw.event_type)
            .or_else(|| entry.map(|e| e.event_type.clone()));
        if event_type.is_none()
            && !errors
                .iter()
                .any(|e| e.field.as_deref() == Some("event_type"))
        {
            errors.push(FieldError::new(
                "missing_field",
                "event_type",
                match &explicit_code {
                    Some(c) => format!(
                        "is required: event_code `{c}` is not in the catalog, so it gives no type"
                    ),
                    None => "is required (or name a catalog event_code)".to_owned(),
                },
            ));
        }
        let event_name = text(&mut errors, "event_name", raw.event_name)
            .or_else(|| entry.map(|e| e.name.clone()))
            .or_else(|| event_type.clone());

        // Request facts.
        let http_method =
            text(&mut errors, "http_method", raw.http_method).map(|m| m.to_ascii_uppercase());
        if let Some(m) = &http_method {
            if !HTTP_METHODS.contains(&m.as_str()) {
                errors.push(FieldError::new(
                    "invalid_value",
                    "http_method",
                    format!(
                        "`{m}` is not an HTTP method; expected one of {}",
                        HTTP_METHODS.join(", ")
                    ),
                ));
            }
        }
        if let Some(s) = raw.http_status {
            if !(100..=599).contains(&s) {
                errors.push(FieldError::new(
                    "invalid_value",
                    "http_status",
                    "must be 100..=599",
                ));
            }
        }
        if let Some(ms) = raw.processing_time_ms {
            if !(0.0..=MAX_PROCESSING_TIME_MS).contains(&ms) {
                errors.push(FieldError::new(
                    "invalid_value",
                    "processing_time_ms",
                    "must be a number of milliseconds from 0 to 604800000 (7 days)",
                ));
            }
        }
        let ip_address = raw.ip_address.filter(|s| !s.is_empty()).and_then(|s| {
            match IpAddr::from_str(s.trim()) {
                // `::ffff:10.0.0.1` (a dual-stack server's view of an IPv4 client) is
                // stored as the IPv4 address it is, so one client is one address.
                Ok(ip) => Some(ip.to_canonical()),
                Err(_) => {
                    errors.push(FieldError::new(
                        "invalid_value",
                        "ip_address",
                        format!("`{}` is not a valid IPv4 or IPv6 address", truncate(&s, 64)),
                    ));
                    None
                }
            }
        });

        // Outcome.
        let status = text(&mut errors, "status", raw.status)
            .map(|s| s.to_ascii_uppercase())
            .or_else(|| entry.and_then(|e| e.status.clone()))
            .unwrap_or_else(|| match raw.http_status {
                Some(s) if s >= 500 => "ERROR".to_owned(),
                Some(s) if s >= 400 => "FAILED".to_owned(),
                _ => "SUCCESS".to_owned(),
            });
        if !self.policy.knows_status(&status) {
            errors.push(FieldError::new(
                "invalid_value",
                "status",
                format!(
                    "unknown status `{status}`; expected one of {}",
                    self.policy.statuses_listed()
                ),
            ));
        }
        let action = text(&mut errors, "action", raw.action)
            .map(|a| a.to_ascii_uppercase())
            .or_else(|| entry.and_then(|e| e.action.clone()))
            .or_else(|| http_method.clone())
            .unwrap_or_else(|| "LOG".to_owned());
        let severity = match raw.severity.filter(|s| !s.is_empty()) {
            Some(s) => Severity::from_str(&s).unwrap_or_else(|()| {
                errors.push(FieldError::new(
                    "invalid_value",
                    "severity",
                    format!(
                        "unknown severity `{}`; expected DEBUG, INFO, WARNING, ERROR or CRITICAL",
                        truncate(&s, 32)
                    ),
                ));
                Severity::Info
            }),
            None => entry.map_or(Severity::Info, |e| e.severity),
        };
        let importance = match raw.importance.filter(|s| !s.is_empty()) {
            Some(s) => Importance::from_str(&s).unwrap_or_else(|()| {
                errors.push(FieldError::new(
                    "invalid_value",
                    "importance",
                    format!(
                        "unknown importance `{}`; expected MAJOR or MINOR",
                        truncate(&s, 32)
                    ),
                ));
                Importance::Minor
            }),
            None => entry.map_or(
                if severity >= Severity::Error {
                    Importance::Major
                } else {
                    Importance::Minor
                },
                |e| e.importance,
            ),
        };

        // Time.
        let timestamp = match raw.timestamp.filter(|s| !s.is_empty()) {
            Some(s) => match parse_timestamp(&s) {
                Some(ts) => {
                    let ahead = (ts - now).num_seconds();
                    if ahead > self.policy.max_future_skew_secs {
                        errors.push(FieldError::new(
                            "in_future",
                            "timestamp",
                            format!(
                                "is {ahead} s ahead of the server clock; at most {} s of clock skew is allowed",
                                self.policy.max_future_skew_secs
                            ),
                        ));
                    }
                    if ts.timestamp() < 0 {
                        errors.push(FieldError::new(
                            "invalid_value",
                            "timestamp",
                            "is before 1970",
                        ));
                    } else if self.policy.max_past_days > 0
                        && (now - ts).num_days() > i64::from(self.policy.max_past_days)
                    {
                        errors.push(FieldError::new(
                            "too_old",
                            "timestamp",
                            format!(
                                "is {} days in the past; at most {} are allowed (validation.max_past_days)",
                                (now - ts).num_days(),
                                self.policy.max_past_days
                            ),
                        ));
                    }
                    ts
                }
                None => {
                    errors.push(FieldError::new(
                        "invalid_value",
                        "timestamp",
                        format!(
                            "`{}` is not an RFC 3339 timestamp (e.g. 2025-06-19T14:30:52Z)",
                            truncate(&s, 64)
                        ),
                    ));
                    now
                }
            },
            None => now,
        };

        // JSON payloads.
        for (field, value) in [
            ("request_data", &raw.request_data),
            ("response_data", &raw.response_data),
            ("metadata", &raw.metadata),
            ("related", &raw.related),
        ] {
            if let Some(v) = value {
                if contains_nul(v) {
                    errors.push(FieldError::new(
                        "invalid_value",
                        field,
                        "contains a NUL character (\\u0000), which cannot be stored",
                    ));
                }
                if json_depth(v) > self.policy.max_json_depth {
                    errors.push(FieldError::new(
                        "too_deep",
                        field,
                        format!("nests deeper than {} levels", self.policy.max_json_depth),
                    ));
                }
            }
        }
        let metadata = raw.metadata.filter(|v| !v.is_null());
        if let Some(m) = &metadata {
            if !m.is_object() {
                errors.push(FieldError::new(
                    "invalid_type",
                    "metadata",
                    "must be a JSON object",
                ));
            }
        }
        let related = match raw.related.filter(|v| !v.is_null()) {
            None => None,
            Some(Value::Object(map)) => {
                if let Some((k, _)) = map.iter().find(|(_, v)| !(v.is_string() || v.is_number())) {
                    errors.push(FieldError::new(
                        "invalid_type",
                        format!("related.{k}"),
                        "must be a string or a number (an entity id)",
                    ));
                }
                Some(map)
            }
            Some(_) => {
                errors.push(FieldError::new(
                    "invalid_type",
                    "related",
                    "must be an object of entity ids, e.g. {\"tenant\": \"t-1\", \"project\": \"p-9\"}",
                ));
                None
            }
        };
        let tags = raw.tags.unwrap_or_default();
        if tags.len() > self.policy.max_tags {
            errors.push(FieldError::new(
                "too_long",
                "tags",
                format!(
                    "has {} tags; the limit is {}",
                    tags.len(),
                    self.policy.max_tags
                ),
            ));
        }
        if let Some(i) = tags
            .iter()
            .position(|t| t.is_empty() || t.chars().count() > 64 || t.chars().any(char::is_control))
        {
            errors.push(FieldError::new(
                "invalid_value",
                format!("tags[{i}]"),
                "tags must be 1..=64 characters, without control characters",
            ));
        }

        let record = EventRecord {
            event_id: String::new(),
            event_code: code,
            event_category: category.unwrap_or_default(),
            event_type: event_type.unwrap_or_default(),
            event_name: event_name.unwrap_or_default(),
            event_description: text(&mut errors, "event_description", raw.event_description),
            user_id: text(&mut errors, "user_id", raw.user_id),
            username: text(&mut errors, "username", raw.username),
            user_role: text(&mut errors, "user_role", raw.user_role),
            tenant_id: text(&mut errors, "tenant_id", raw.tenant_id),
            ip_address,
            user_agent: text(&mut errors, "user_agent", raw.user_agent),
            session_id: text(&mut errors, "session_id", raw.session_id),
            correlation_id: text(&mut errors, "correlation_id", raw.correlation_id),
            source: text(&mut errors, "source", raw.source),
            resource_type: text(&mut errors, "resource_type", raw.resource_type),
            resource_id: text(&mut errors, "resource_id", raw.resource_id),
            resource_name: text(&mut errors, "resource_name", raw.resource_name),
            related,
            action,
            status,
            http_method,
            endpoint: text(&mut errors, "endpoint", raw.endpoint),
            http_status: raw.http_status,
            request_data: raw.request_data.filter(|v| !v.is_null()),
            response_data: raw.response_data.filter(|v| !v.is_null()),
            error_message: text(&mut errors, "error_message", raw.error_message),
            error_code: text(&mut errors, "error_code", raw.error_code),
            processing_time_ms: raw.processing_time_ms,
            timestamp,
            metadata,
            tags,
            severity,
            importance,
        };
        if !errors.is_empty() {
            return Err(errors);
        }
        let record = self.redact(record);
        let id_supplied = supplied_id.is_some();
        let event_id = supplied_id.unwrap_or_else(|| {
            let prefix = record
                .event_code
                .as_deref()
                .unwrap_or(&record.event_category);
            self.ids.next(prefix, timestamp)
        });
        Ok(ValidatedEvent::new(
            EventRecord { event_id, ..record },
            hash,
            id_supplied,
        ))
    }

    /// Masks secrets in every field that may carry free text or payloads, before the
    /// event can reach a store. Identifiers (`event_id`, `event_code`, `user_id`,
    /// `username`, `tenant_id`, `session_id`, `correlation_id`, `resource_id`, the IP) are
    /// left as sent: they are how events are found, and masking one would merge users.
    fn redact(&self, mut r: EventRecord) -> EventRecord {
        for payload in [&mut r.request_data, &mut r.response_data, &mut r.metadata]
            .into_iter()
            .flatten()
        {
            self.redactor.redact_value(payload);
        }
        if let Some(related) = &mut r.related {
            self.redactor.redact_object(related);
        }
        for text in [
            Some(&mut r.event_name),
            Some(&mut r.event_type),
            Some(&mut r.action),
            r.event_description.as_mut(),
            r.error_message.as_mut(),
            r.error_code.as_mut(),
            r.endpoint.as_mut(),
            r.user_agent.as_mut(),
            r.user_role.as_mut(),
            r.source.as_mut(),
            r.resource_type.as_mut(),
            r.resource_name.as_mut(),
        ]
        .into_iter()
        .flatten()
        .chain(r.tags.iter_mut())
        {
            self.redactor.redact_string(text);
        }
        r
    }
}

/// SHA-256 over what the client said, in canonical form: the fields it sent, sorted by
/// name, absent ones left out, the timestamp as microseconds. Retries of the same event hash
/// the same even if they reorder keys, change whitespace, or send `user_id` as a number one
/// time and a string the next. Written field by field (no intermediate JSON tree) because it
/// runs for every event ingested.
fn client_content_hash(raw: &RawEvent) -> [u8; 32] {
    let mut out = Vec::with_capacity(1024);
    out.push(b'{');
    let mut first = true;
    let mut key = |out: &mut Vec<u8>, name: &str| {
        if !first {
            out.push(b',');
        }
        first = false;
        write_scalar(name, out);
        out.push(b':');
    };
    macro_rules! text {
        ($($name:ident),*) => {$(
            if let Some(v) = &raw.$name {
                key(&mut out, stringify!($name));
                write_scalar(v.as_str(), &mut out);
            }
        )*};
    }
    macro_rules! json {
        ($($name:ident),*) => {$(
            if let Some(v) = &raw.$name {
                key(&mut out, stringify!($name));
                write_canonical(v, &mut out);
            }
        )*};
    }
    // Keys in byte order, as canonical JSON requires.
    text!(
        action,
        correlation_id,
        endpoint,
        error_code,
        error_message,
        event_category,
        event_code,
        event_description,
        event_id,
        event_name,
        event_type,
        http_method
    );
    if let Some(v) = raw.http_status {
        key(&mut out, "http_status");
        write_scalar(&v, &mut out);
    }
    text!(importance, ip_address);
    json!(metadata);
    if let Some(v) = raw.processing_time_ms {
        key(&mut out, "processing_time_ms");
        write_scalar(&v, &mut out);
    }
    json!(related, request_data);
    text!(resource_id, resource_name, resource_type);
    json!(response_data);
    text!(session_id, severity, source, status);
    if let Some(tags) = &raw.tags {
        key(&mut out, "tags");
        write_scalar(tags, &mut out);
    }
    text!(tenant_id);
    if let Some(ts) = &raw.timestamp {
        key(&mut out, "timestamp");
        match parse_timestamp(ts) {
            Some(t) => write_scalar(&t.timestamp_micros(), &mut out),
            None => write_scalar(ts.as_str(), &mut out),
        }
    }
    text!(user_agent, user_id, user_role, username);
    out.push(b'}');
    Sha256::digest(&out).into()
}

/// A time bound of a query or a command: what [`parse_timestamp`] reads, or a date
/// (`2025-06-19`, its midnight UTC).
pub fn parse_time_bound(s: &str) -> Option<DateTime<Utc>> {
    parse_timestamp(s).or_else(|| {
        chrono::NaiveDate::parse_from_str(s, "%Y-%m-%d")
            .ok()
            .map(|d| d.and_time(chrono::NaiveTime::MIN).and_utc())
    })
}

/// RFC 3339, or ISO 8601 without an offset (taken as UTC, as Python's `isoformat()` of a
/// naive datetime produces).
pub fn parse_timestamp(s: &str) -> Option<DateTime<Utc>> {
    if let Ok(t) = DateTime::parse_from_rfc3339(s) {
        return Some(t.with_timezone(&Utc));
    }
    ["%Y-%m-%dT%H:%M:%S%.f", "%Y-%m-%d %H:%M:%S%.f"]
        .iter()
        .find_map(|f| NaiveDateTime::parse_from_str(s, f).ok())
        .map(|n| n.and_utc())
}

fn contains_nul(v: &Value) -> bool {
    match v {
        Value::String(s) => s.contains('\0'),
        Value::Array(items) => items.iter().any(contains_nul),
        Value::Object(map) => map.iter().any(|(k, v)| k.contains('\0') || contains_nul(v)),
        _ => false,
    }
}

fn json_depth(v: &Value) -> usize {
    match v {
        Value::Array(items) => 1 + items.iter().map(json_depth).max().unwrap_or(0),
        Value::Object(map) => 1 + map.values().map(json_depth).max().unwrap_or(0),
        _ => 0,
    }
}

fn truncate(s: &str, max: usize) -> String {
    if s.chars().count() <= max {
        s.to_owned()
    } else {
        format!("{}…", s.chars().take(max).collect::<String>())
    }
}

/// `A, B, C` of the built-in values and the configured ones.
fn listed(built_in: &[&str], extra: &[String]) -> String {
    built_in
        .iter()
        .copied()
        .chain(extra.iter().map(String::as_str))
        .collect::<Vec<_>>()
        .join(", ")
}

#[cfg(test)]
mod tests;
