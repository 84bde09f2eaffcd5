//! Turning what the layer saw into one event: `SYSTEM / HTTP_REQUEST`, named
//! `METHOD /route/{template}`, with status, latency, user, client and correlation.

use std::sync::Arc;
use std::time::Instant;

use eventlog_client::Event;
use eventlog_core::redact::{Redactor, MASK};
use eventlog_core::Severity;
use http::{HeaderMap, StatusCode};
use serde_json::Value;

use crate::body::Tap;
use crate::layer::Config;
use crate::user::UserInfo;

/// What the layer knows about a request before its response.
pub(crate) struct RequestFacts {
    pub(crate) started: Instant,
    pub(crate) method: http::Method,
    pub(crate) route: String,
    pub(crate) matched: bool,
    pub(crate) path: String,
    pub(crate) query: Option<String>,
    pub(crate) user: Option<UserInfo>,
    pub(crate) ip: Option<std::net::IpAddr>,
    pub(crate) user_agent: Option<String>,
    pub(crate) session: Option<String>,
    pub(crate) correlation: String,
    pub(crate) request_tap: Option<Arc<Tap>>,
}

/// An event waiting for its response body to finish.
pub(crate) struct PendingEvent {
    pub(crate) config: Arc<Config>,
    pub(crate) event: Event,
    pub(crate) request_tap: Option<Arc<Tap>>,
    pub(crate) response_tap: Option<Arc<Tap>>,
}

impl PendingEvent {
    pub(crate) fn emit(self) {
        let mut event = self.event;
        if let Some(tap) = self.request_tap {
            let (bytes, total, cut) = tap.take();
            if total > 0 {
                event.request_data = Some(captured(&bytes, total, cut));
            }
        }
        if let Some(tap) = self.response_tap {
            let (bytes, total, cut) = tap.take();
            if total > 0 {
                event.response_data = Some(captured(&bytes, total, cut));
            }
        }
        self.config.logger.log(event);
    }
}

/// A captured body as JSON when it is complete JSON, else as text (form bodies are masked
/// by the logger's redactor either way), with its size and whether it was cut.
fn captured(bytes: &[u8], total: usize, cut: bool) -> Value {
    let body = (!cut)
        .then(|| serde_json::from_slice::<Value>(bytes).ok())
        .flatten()
        .unwrap_or_else(|| Value::String(String::from_utf8_lossy(bytes).into_owned()));
    serde_json::json!({ "body": body, "bytes": total, "truncated": cut })
}

/// Whether a response with `status` and these headers is a content type worth capturing.
pub(crate) fn capturable(headers: &HeaderMap, content_types: &[String]) -> bool {
    let Some(ct) = headers
        .get(http::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
    else {
        return false;
    };
    content_types
        .iter()
        .any(|wanted| ct.starts_with(wanted.as_str()))
}

/// The event of a request that got `status` (or panicked / failed with `error`).
pub(crate) fn request_event(
    config: &Config,
    facts: RequestFacts,
    status: StatusCode,
    response_user: Option<UserInfo>,
    error: Option<String>,
) -> Event {
    let elapsed_ms = facts.started.elapsed().as_secs_f64() * 1000.0;
    let mut event = Event::custom("SYSTEM", "HTTP_REQUEST");
    event.event_name = Some(format!("{} {}", facts.method, facts.route));
    event.action = Some(facts.method.as_str().to_owned());
    event.http_method = Some(facts.method.as_str().to_owned());
    event.endpoint = Some(facts.route.clone());
    event.http_status = Some(status.as_u16());
    event.processing_time_ms = Some(elapsed_ms);
    event.ip_address = facts.ip.map(|ip| ip.to_string());
    event.user_agent = facts.user_agent;
    event.session_id = facts.session;
    event.correlation_id = Some(facts.correlation);
    if let Some(user) = response_user.or(facts.user) {
        event.user_id = Some(user.id);
        event.username = user.name;
        event.user_role = user.role;
        event.tenant_id = user.tenant;
    }
    let mut metadata = serde_json::Map::new();
    if facts.path != facts.route {
        let path = if facts.matched {
            mask_secret_params(&facts.route, facts.path)
        } else {
            facts.path
        };
        metadata.insert("path".into(), Value::String(path));
    }
    if let Some(query) = facts.query {
        metadata.insert("query".into(), Value::String(query));
    }
    if !facts.matched {
        metadata.insert("unmatched_route".into(), Value::Bool(true));
    }
    if status.is_server_error() || error.is_some() {
        event.error_message =
            Some(error.unwrap_or_else(|| format!("the handler answered {status}")));
        event.error_code = Some(status.as_u16().to_string());
    }
    if !metadata.is_empty() {
        event.metadata = Some(Value::Object(metadata));
    }
    event.severity = Some(config.route_severity.get(&facts.route).copied().unwrap_or(
        if status.is_server_error() {
            Severity::Error
        } else if status.is_client_error() {
            Severity::Warning
        } else {
            Severity::Info
        },
    ));
    event
}

/// The request's path with the values of secret-named route parameters masked:
/// `/reset/{token}` keeps `/reset/[REDACTED]`, `/students/{id}` keeps `/students/42`.
fn mask_secret_params(route: &str, path: String) -> String {
    let redactor = Redactor::default();
    let secret = |segment: &str| {
        let name = segment
            .strip_prefix('{')
            .and_then(|s| s.strip_suffix('}'))
            .or_else(|| segment.strip_prefix(':'))
            .or_else(|| segment.strip_prefix('*'));
        name.map(|n| n.trim_start_matches('*'))
            .filter(|n| redactor.is_sensitive_key(n))
            .map(|_| segment.starts_with("{*") || segment.starts_with('*'))
    };
    if !route.split('/').any(|segment| secret(segment).is_some()) {
        return path;
    }
    let mut out = Vec::new();
    let mut parts = path.split('/');
    for segment in route.split('/') {
        match secret(segment) {
            // A secret wildcard: the rest of the path is its value.
            Some(true) => {
                out.push(MASK);
                return out.join("/");
            }
            Some(false) => {
                parts.next();
                out.push(MASK);
            }
            None => out.extend(parts.next()),
        }
    }
    out.extend(parts);
    out.join("/")
}

#[cfg(test)]
mod tests {
    use super::mask_secret_params;

    #[test]
    fn secret_route_parameters_are_masked_in_the_stored_path() {
        for (route, path, kept) in [
            ("/students/{id}", "/students/42", "/students/42"),
            (
                "/reset/{token}/confirm",
                "/reset/abcdef123456/confirm",
                "/reset/[REDACTED]/confirm",
            ),
            (
                "/users/{id}/keys/{api_key}",
                "/users/7/keys/k-99",
                "/users/7/keys/[REDACTED]",
            ),
            ("/files/{*secret_path}", "/files/a/b/c", "/files/[REDACTED]"),
            ("/files/{*rest}", "/files/a/b/c", "/files/a/b/c"),
            ("/invite/:token", "/invite/xyz", "/invite/[REDACTED]"),
        ] {
            assert_eq!(mask_secret_params(route, path.to_owned()), kept, "{route}");
        }
    }
}
