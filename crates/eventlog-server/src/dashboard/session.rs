//! Dashboard sign-in sessions: a random id in an HttpOnly, SameSite=Strict cookie, the
//! credential it was opened with kept server-side in memory, idle expiry, and a CSRF token
//! per session.
//!
//! The session keeps the credential itself (not the key it resolved to) and every request
//! verifies it again through [`crate::auth::Caller::verify_bearer`] (cached for 2 s), so
//! role and tenant are exactly the credential's, a revoked key or an expired token ends the
//! session too, and sessions die with the process.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::http::{header, HeaderMap};

/// Name of the session cookie.
pub const SESSION_COOKIE: &str = "eventlog_session";
/// Name of the cookie holding the CSRF token of a visitor not signed in (sign-in form,
/// language switch): a double-submit token.
pub const CSRF_COOKIE: &str = "eventlog_csrf";
/// Most sessions held at once; at the limit the oldest idle ones are dropped first.
const MAX_SESSIONS: usize = 10_000;

/// One signed-in browser.
#[derive(Clone)]
struct Session {
    bearer: String,
    csrf: String,
    last_seen: Instant,
}

/// The in-memory session store. Cheap to clone.
#[derive(Clone)]
pub struct Sessions {
    inner: Arc<Mutex<HashMap<String, Session>>>,
    idle: Duration,
}

/// A live session as a request sees it.
#[derive(Debug, Clone)]
pub struct SessionView {
    /// The session id (cookie value).
    pub id: String,
    /// The credential the session was opened with.
    pub bearer: String,
    /// The session's CSRF token.
    pub csrf: String,
}

/// A new random token: 32 bytes from the OS-seeded CSPRNG, hex.
pub fn random_token() -> String {
    hex::encode(rand::random::<[u8; 32]>())
}

/// The value of cookie `name` in the request's `Cookie` headers.
pub fn cookie(headers: &HeaderMap, name: &str) -> Option<String> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v.trim().to_owned())
}

impl Sessions {
    /// A store whose sessions end after `idle` without a request.
    pub fn new(idle: Duration) -> Self {
        Self {
            inner: Arc::default(),
            idle,
        }
    }

    /// Opens a session for a verified credential; returns it (id and CSRF token).
    pub fn open(&self, bearer: &str) -> SessionView {
        let mut map = self.inner.lock().expect("session lock");
        let now = Instant::now();
        map.retain(|_, s| now.duration_since(s.last_seen) < self.idle);
        if map.len() >= MAX_SESSIONS {
            if let Some(oldest) = map
                .iter()
                .min_by_key(|(_, s)| s.last_seen)
                .map(|(id, _)| id.clone())
            {
                map.remove(&oldest);
            }
        }
        let view = SessionView {
            id: random_token(),
            bearer: bearer.to_owned(),
            csrf: random_token(),
        };
        map.insert(
            view.id.clone(),
            Session {
                bearer: view.bearer.clone(),
                csrf: view.csrf.clone(),
                last_seen: now,
            },
        );
        view
    }

    /// The live session named by the request's cookie, marked as used now; an idle-expired
    /// one is removed and not returned.
    pub fn get(&self, headers: &HeaderMap) -> Option<SessionView> {
        self.lookup(headers, true)
    }

    /// The credential of the request's live session, without counting the lookup as use:
    /// an open live tail checking its credential must not keep an idle session alive.
    pub fn peek_bearer(&self, headers: &HeaderMap) -> Option<String> {
        self.lookup(headers, false).map(|s| s.bearer)
    }

    fn lookup(&self, headers: &HeaderMap, used: bool) -> Option<SessionView> {
        let id = cookie(headers, SESSION_COOKIE)?;
        let mut map = self.inner.lock().expect("session lock");
        let session = map.get_mut(&id)?;
        let now = Instant::now();
        if now.duration_since(session.last_seen) >= self.idle {
            map.remove(&id);
            return None;
        }
        if used {
            session.last_seen = now;
        }
        Some(SessionView {
            id,
            bearer: session.bearer.clone(),
            csrf: session.csrf.clone(),
        })
    }

    /// The credential of the request's session, if it has a live one.
    pub fn bearer(&self, headers: &HeaderMap) -> Option<String> {
        self.get(headers).map(|s| s.bearer)
    }

    /// Ends a session.
    pub fn close(&self, id: &str) {
        self.inner.lock().expect("session lock").remove(id);
    }
}

/// A `Set-Cookie` value: path `/`, HttpOnly, SameSite=Strict, `Secure` when asked;
/// `max_age` `Some(0)` deletes the cookie, `None` makes it last until the browser closes.
pub fn set_cookie(name: &str, value: &str, max_age: Option<u64>, secure: bool) -> String {
    let mut c = format!("{name}={value}; Path=/; HttpOnly; SameSite=Strict");
    if let Some(age) = max_age {
        c.push_str(&format!("; Max-Age={age}"));
    }
    if secure {
        c.push_str("; Secure");
    }
    c
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::HeaderValue;

    fn with_cookie(v: &str) -> HeaderMap {
        let mut h = HeaderMap::new();
        h.insert(header::COOKIE, HeaderValue::from_str(v).unwrap());
        h
    }

    #[test]
    fn a_session_is_found_by_its_cookie_and_expires_when_idle() {
        let sessions = Sessions::new(Duration::from_millis(200));
        let s = sessions.open("key-1");
        assert_eq!(s.id.len(), 64);
        let headers = with_cookie(&format!("a=b; {SESSION_COOKIE}={}; c=d", s.id));
        assert_eq!(sessions.bearer(&headers).as_deref(), Some("key-1"));
        assert!(sessions
            .get(&with_cookie("eventlog_session=forged"))
            .is_none());
        std::thread::sleep(Duration::from_millis(250));
        assert!(sessions.get(&headers).is_none(), "idle expiry");
    }

    #[test]
    fn use_keeps_a_session_alive_and_close_ends_it() {
        let sessions = Sessions::new(Duration::from_millis(300));
        let s = sessions.open("key-2");
        let headers = with_cookie(&format!("{SESSION_COOKIE}={}", s.id));
        for _ in 0..4 {
            std::thread::sleep(Duration::from_millis(100));
            assert!(sessions.get(&headers).is_some());
        }
        sessions.close(&s.id);
        assert!(sessions.get(&headers).is_none());
    }

    #[test]
    fn cookies_are_http_only_strict_and_secure_on_request() {
        let c = set_cookie("n", "v", None, true);
        assert_eq!(c, "n=v; Path=/; HttpOnly; SameSite=Strict; Secure");
        assert!(set_cookie("n", "", Some(0), false).ends_with("Max-Age=0"));
    }
}
