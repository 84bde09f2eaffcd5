//! Attack detection, pure: what a request carries (path, query values, form and JSON
//! values at any depth, selected headers) goes in; findings with a catalog code, the
//! place they were found and a masked excerpt come out.
//!
//! Every value is decoded first ([`decode`]: percent, double percent, HTML entities,
//! unicode escapes), then judged by tokenizers rather than keyword lists: libinjection's
//! SQL and HTML tokenizers for SQL injection and XSS, a shell-shaped parse for command
//! injection, path steps for traversal, and file names and types for uploads.
//!
//! [`stateful`] holds the detectors that watch the event stream over time (brute force,
//! credential stuffing, escalation, bursts, anomalies).
//!
//! What this module must never do: panic on any input, or keep more than a bounded
//! excerpt of a payload (findings end up in stored events).

pub mod decode;
pub mod derive;

mod command;
mod injection;
pub mod stateful;
mod traversal;
mod upload;

use std::fmt;

use serde::Serialize;
use serde_json::Value;

use crate::redact::Redactor;

/// Longest excerpt of a payload kept in a finding, in characters.
pub const EXCERPT_CHARS: usize = 160;
/// Most findings reported for one request; a request that trips this many is plainly
/// hostile and the rest would say nothing new.
pub const MAX_FINDINGS: usize = 16;
/// Deepest JSON nesting inspected; deeper values are counted but not walked (and the
/// depth itself is reported by the server's own limits long before this).
const MAX_DEPTH: usize = 64;

/// The kinds of attack the engine recognises, each with its catalog code.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum AttackKind {
    /// SQL injection (SEC-003).
    SqlInjection,
    /// Cross-site scripting (SEC-004).
    Xss,
    /// A script or executable uploaded by name or type (SEC-008).
    MaliciousUpload,
    /// Path traversal (SEC-011).
    PathTraversal,
    /// OS command injection (SEC-012).
    CommandInjection,
}

impl AttackKind {
    /// Every kind, in code order.
    pub const ALL: [AttackKind; 5] = [
        AttackKind::SqlInjection,
        AttackKind::Xss,
        AttackKind::MaliciousUpload,
        AttackKind::PathTraversal,
        AttackKind::CommandInjection,
    ];

    /// The catalog code of events reporting this kind.
    pub fn code(self) -> &'static str {
        match self {
            AttackKind::SqlInjection => "SEC-003",
            AttackKind::Xss => "SEC-004",
            AttackKind::MaliciousUpload => "SEC-008",
            AttackKind::PathTraversal => "SEC-011",
            AttackKind::CommandInjection => "SEC-012",
        }
    }

    /// A short snake_case name, as used in tags and metadata.
    pub fn as_str(self) -> &'static str {
        match self {
            AttackKind::SqlInjection => "sql_injection",
            AttackKind::Xss => "xss",
            AttackKind::MaliciousUpload => "malicious_upload",
            AttackKind::PathTraversal => "path_traversal",
            AttackKind::CommandInjection => "command_injection",
        }
    }
}

impl fmt::Display for AttackKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One attack found in a request.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Finding {
    /// What kind of attack.
    pub kind: AttackKind,
    /// Where it was: `path`, `query.q`, `form.comment`, `body.user.name`, `body.items[2]`,
    /// `header.user-agent`.
    pub location: String,
    /// Which rule matched, e.g. `libinjection:s&1c` (the SQL token fingerprint).
    pub rule: String,
    /// The decoded value, secrets masked, at most [`EXCERPT_CHARS`] characters.
    pub excerpt: String,
}

/// The body of a request, as far as the engine cares.
#[derive(Debug, Clone, Copy)]
pub enum Body<'a> {
    /// No body, or one not worth inspecting (binary).
    None,
    /// A JSON document.
    Json(&'a Value),
    /// `application/x-www-form-urlencoded`.
    Form(&'a str),
    /// Any other text.
    Text(&'a str),
}

/// What a request carries, borrowed from wherever the caller holds it.
#[derive(Debug, Clone, Copy)]
pub struct RequestView<'a> {
    /// The path, without the query string (percent-encoded as received).
    pub path: &'a str,
    /// The raw query string, without `?`.
    pub query: Option<&'a str>,
    /// Request headers as `(name, value)`; only [`INSPECTED_HEADERS`] are looked at.
    pub headers: &'a [(&'a str, &'a str)],
    /// The body.
    pub body: Body<'a>,
}

impl<'a> RequestView<'a> {
    /// A view of an endpoint as logged (`/path?query`), with an optional body.
    pub fn from_endpoint(endpoint: &'a str, body: Body<'a>) -> Self {
        let (path, query) = match endpoint.split_once('?') {
            Some((p, q)) => (p, Some(q)),
            None => (endpoint, None),
        };
        Self {
            path,
            query,
            headers: &[],
            body,
        }
    }
}

/// Headers whose values attackers control and applications log or reflect.
pub const INSPECTED_HEADERS: &[&str] = &[
    "user-agent",
    "referer",
    "x-forwarded-for",
    "x-forwarded-host",
    "x-real-ip",
    "cookie",
    "content-disposition",
    "x-file-name",
];

/// The detection engine: stateless and cheap to share.
#[derive(Debug, Clone, Default)]
pub struct Detector {
    redactor: Redactor,
}

impl Detector {
    /// An engine that masks excerpts with `redactor` (the one events are stored with).
    pub fn new(redactor: Redactor) -> Self {
        Self { redactor }
    }

    /// Every attack in `request`, at most [`MAX_FINDINGS`], one per kind and location.
    pub fn inspect(&self, request: &RequestView<'_>) -> Vec<Finding> {
        let mut scan = Scan::new(self);
        scan.path(request.path);
        if let Some(query) = request.query {
            scan.form("query", query);
        }
        for (name, value) in request.headers {
            let name = name.to_ascii_lowercase();
            if !INSPECTED_HEADERS.contains(&name.as_str()) {
                continue;
            }
            let location = format!("header.{name}");
            match name.as_str() {
                "content-disposition" | "x-file-name" => {
                    let file = upload::disposition_file_name(value).unwrap_or(value);
                    scan.file_name(&location, file);
                }
                "referer" => {
                    // A URL: its path and each query value, like the request's own.
                    let (path, query) = value.split_once('?').unwrap_or((value, ""));
                    if let Some(rule) = traversal::path_traversal(&decode::decode(path).text) {
                        scan.report(AttackKind::PathTraversal, &location, rule, value);
                    }
                    scan.form(&location, query);
                }
                "cookie" => {
                    for pair in value.split(';') {
                        let (cookie, v) = pair.trim().split_once('=').unwrap_or(("", pair));
                        scan.value(&format!("{location}.{cookie}"), v);
                    }
                }
                _ => scan.value(&location, value),
            }
        }
        match request.body {
            Body::None => {}
            Body::Json(value) => scan.json("body", None, value, 0),
            Body::Form(form) => scan.form("form", form),
            Body::Text(text) => scan.value("body", text),
        }
        scan.findings
    }

    /// The attacks in one value found at `location` (the whole engine on one string).
    pub fn inspect_value(&self, location: &str, value: &str) -> Vec<Finding> {
        let mut scan = Scan::new(self);
        scan.value(location, value);
        scan.findings
    }

    /// The text kept as evidence: decoded, secrets masked, control characters shown as
    /// `\u{..}`, cut to [`EXCERPT_CHARS`].
    pub fn excerpt(&self, decoded: &str) -> String {
        let masked = self.redactor.redact_text(decoded);
        let mut out = String::new();
        let mut kept = 0;
        for c in masked.chars() {
            // Control characters are shown escaped, and the escape counts towards the
            // limit (found by `cargo fuzz run detect`).
            let shown: String = if c.is_control() {
                c.escape_unicode().collect()
            } else {
                c.to_string()
            };
            let width = shown.chars().count();
            if kept + width > EXCERPT_CHARS {
                out.push('…');
                break;
            }
            out.push_str(&shown);
            kept += width;
        }
        out
    }
}

/// One request's walk: collects findings, one per kind and location.
struct Scan<'d> {
    detector: &'d Detector,
    findings: Vec<Finding>,
}

impl<'d> Scan<'d> {
    fn new(detector: &'d Detector) -> Self {
        Self {
            detector,
            findings: Vec::new(),
        }
    }

    fn full(&self) -> bool {
        self.findings.len() >= MAX_FINDINGS
    }

    fn report(&mut self, kind: AttackKind, location: &str, rule: &str, decoded: &str) {
        if self.full()
            || self
                .findings
                .iter()
                .any(|f| f.kind == kind && f.location == location)
        {
            return;
        }
        self.findings.push(Finding {
            kind,
            location: location.to_owned(),
            rule: rule.to_owned(),
            excerpt: self.detector.excerpt(decoded),
        });
    }

    /// The path: traversal over the whole of it, the value rules per segment.
    fn path(&mut self, path: &str) {
        let decoded = decode::decode(path);
        if let Some(rule) = traversal::path_traversal(&decoded.text) {
            self.report(AttackKind::PathTraversal, "path", rule, &decoded.text);
        }
        for segment in path.split('/').filter(|s| !s.is_empty()) {
            let decoded = decode::decode(segment);
            self.rules(
                "path",
                &decoded.text,
                &[
                    AttackKind::SqlInjection,
                    AttackKind::Xss,
                    AttackKind::CommandInjection,
                ],
            );
        }
    }

    /// A query string or form body: each value under `prefix.name`; file-name fields are
    /// also judged as uploads.
    fn form(&mut self, prefix: &str, form: &str) {
        for (name, value) in decode::form_pairs(form) {
            if self.full() {
                return;
            }
            let name = decode::decode(&name).text.into_owned();
            let location = format!("{prefix}.{name}");
            self.field(&location, Some(&name), &value);
        }
    }

    /// A JSON value at any depth.
    fn json(&mut self, location: &str, key: Option<&str>, value: &Value, depth: usize) {
        if self.full() || depth > MAX_DEPTH {
            return;
        }
        match value {
            Value::String(s) => self.field(location, key, s),
            Value::Array(items) => {
                for (i, item) in items.iter().enumerate() {
                    self.json(&format!("{location}[{i}]"), key, item, depth + 1);
                }
            }
            Value::Object(map) => {
                for (k, v) in map {
                    self.json(&format!("{location}.{k}"), Some(k), v, depth + 1);
                }
            }
            Value::Null | Value::Bool(_) | Value::Number(_) => {}
        }
    }

    /// One named value: upload rules by the name, every value rule on the value.
    fn field(&mut self, location: &str, key: Option<&str>, raw: &str) {
        if let Some(key) = key {
            if upload::is_file_name_key(key) {
                self.file_name(location, raw);
            } else if upload::is_file_type_key(key) {
                if let Some(rule) = upload::dangerous_file_type(raw) {
                    self.report(AttackKind::MaliciousUpload, location, rule, raw);
                }
            }
        }
        self.value(location, raw);
    }

    fn file_name(&mut self, location: &str, raw: &str) {
        let decoded = decode::decode(raw);
        if let Some(rule) = upload::dangerous_file_name(&decoded.text) {
            self.report(AttackKind::MaliciousUpload, location, rule, &decoded.text);
        }
    }

    /// Every value rule on one raw value.
    fn value(&mut self, location: &str, raw: &str) {
        if raw.is_empty() || self.full() {
            return;
        }
        let decoded = decode::decode(raw);
        self.rules(
            location,
            &decoded.text,
            &[
                AttackKind::SqlInjection,
                AttackKind::Xss,
                AttackKind::PathTraversal,
                AttackKind::CommandInjection,
            ],
        );
    }

    fn rules(&mut self, location: &str, text: &str, kinds: &[AttackKind]) {
        if is_plain(text) {
            return;
        }
        for &kind in kinds {
            let rule: Option<std::borrow::Cow<'static, str>> = match kind {
                AttackKind::SqlInjection => injection::sql_injection(text).map(Into::into),
                AttackKind::Xss => injection::cross_site_scripting(text).map(Into::into),
                AttackKind::PathTraversal => traversal::path_traversal(text).map(Into::into),
                AttackKind::CommandInjection => command::command_injection(text).map(Into::into),
                AttackKind::MaliciousUpload => None,
            };
            if let Some(rule) = rule {
                self.report(kind, location, &rule, text);
            }
        }
    }
}

/// Letters, digits and `_ . @ -` only (names, ids, e-mail addresses, numbers, UUIDs): no
/// rule can match such a value, so the common case costs one scan.
fn is_plain(text: &str) -> bool {
    text.bytes()
        .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'.' | b'@' | b'-'))
}

#[cfg(test)]
mod tests;
