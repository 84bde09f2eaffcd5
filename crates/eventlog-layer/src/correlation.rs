//! Correlation and session ids: a propagated W3C `traceparent` (its trace id) or
//! `X-Request-Id` / `X-Correlation-Id`, else a fresh id; the session from `X-Session-Id` or
//! a session cookie.

use http::HeaderMap;
use rand::Rng;

fn acceptable(id: &str) -> bool {
    !id.is_empty()
        && id.len() <= 128
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b':'))
}

/// The correlation id the layer gave a request, in its extensions: a handler takes it
/// (`Extension(CorrelationId(id)): Extension<CorrelationId>`) and passes it to its domain
/// events (`Event::correlation`), so they join the request's own event.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CorrelationId(pub String);

/// The correlation id of a request.
pub(crate) fn correlation_id(headers: &HeaderMap) -> String {
    let header = |name: &str| headers.get(name).and_then(|v| v.to_str().ok());
    if let Some(trace_id) = header("traceparent")
        .and_then(|tp| tp.split('-').nth(1))
        .filter(|id| id.len() == 32 && id.bytes().all(|b| b.is_ascii_hexdigit()))
    {
        return trace_id.to_owned();
    }
    header("x-request-id")
        .or_else(|| header("x-correlation-id"))
        .filter(|id| acceptable(id))
        .map(str::to_owned)
        .unwrap_or_else(|| format!("{:032x}", rand::thread_rng().gen::<u128>()))
}

/// The session id of a request, if it carries one: `X-Session-Id` as sent, or a digest of
/// the session cookie. The cookie's value is a credential (whoever holds it is signed in),
/// so it is never stored; its digest still ties a session's requests together.
pub(crate) fn session_id(headers: &HeaderMap, cookie_name: &str) -> Option<String> {
    if let Some(id) = headers
        .get("x-session-id")
        .and_then(|v| v.to_str().ok())
        .filter(|id| acceptable(id))
    {
        return Some(id.to_owned());
    }
    headers
        .get_all(http::header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(name, value)| *name == cookie_name && acceptable(value))
        .map(|(_, value)| cookie_digest(value))
}

/// `cookie-` and the first 16 bytes of the SHA-256 of a session cookie's value, in hex.
fn cookie_digest(value: &str) -> String {
    use sha2::{Digest, Sha256};
    format!(
        "cookie-{}",
        hex::encode(&Sha256::digest(value.as_bytes())[..16])
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn traceparent_wins_then_request_id_then_fresh() {
        let mut h = HeaderMap::new();
        h.insert("x-request-id", "req-1".parse().unwrap());
        assert_eq!(correlation_id(&h), "req-1");
        h.insert(
            "traceparent",
            "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"
                .parse()
                .unwrap(),
        );
        assert_eq!(correlation_id(&h), "4bf92f3577b34da6a3ce929d0e0e4736");
        assert_eq!(correlation_id(&HeaderMap::new()).len(), 32);
    }

    #[test]
    fn session_from_header_or_cookie() {
        let mut h = HeaderMap::new();
        h.insert(
            http::header::COOKIE,
            "theme=dark; session_id=abc123".parse().unwrap(),
        );
        // The cookie is a credential: only its digest is kept, the same for each request.
        let digest = session_id(&h, "session_id").unwrap();
        assert!(
            digest.starts_with("cookie-") && !digest.contains("abc123"),
            "{digest}"
        );
        assert_eq!(digest.len(), "cookie-".len() + 32);
        assert_eq!(session_id(&h, "session_id"), Some(digest));
        assert_eq!(session_id(&h, "sid"), None);
        h.insert("x-session-id", "S-42".parse().unwrap());
        assert_eq!(session_id(&h, "session_id").as_deref(), Some("S-42"));
    }
}
