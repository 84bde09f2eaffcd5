//! Browser ingest with publishable keys: a page sends events straight to eventlog with a
//! key that is public by nature, so nothing in the request body is trusted about who or
//! where the user is.
//!
//! - CORS answers preflights only for the origins stored on active publishable keys, and
//!   a request whose `Origin` is not among its own key's origins is refused (a non-browser
//!   client can forge `Origin`, which is why the key can only write and is rate-limited
//!   per address).
//! - The events are tagged [`CLIENT_REPORTED_TAG`]; `ip_address` and `user_agent` come from
//!   the connection (trusted-proxy aware); `user_id`, `username`, `user_role` and
//!   `tenant_id` come only from a verified application JWT in `X-User-Token` (checked with
//!   `[auth.jwt]`), and are empty without one, whatever the body says.

use std::collections::HashSet;
use std::net::IpAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::http::{header, HeaderMap, HeaderName, HeaderValue, Method};
use eventlog_core::RawEvent;
use eventlog_store::{KeyRole, Store};
use tokio::sync::Mutex;
use tower_http::cors::{AllowOrigin, CorsLayer};

use crate::auth::Caller;
use crate::jwt::TokenUser;
use crate::{ApiError, AppState};

/// The tag every event sent with a publishable key carries.
pub const CLIENT_REPORTED_TAG: &str = "client-reported";

/// The header carrying the application's JWT for the signed-in user.
pub const USER_TOKEN_HEADER: &str = "x-user-token";

/// How long the set of allowed origins is reused before the keys are read again (a new
/// publishable key works from its origin within this time).
const ORIGINS_TTL: Duration = Duration::from_secs(5);

/// The origins of every active publishable key, for CORS preflights (which carry no key).
#[derive(Clone)]
pub struct BrowserOrigins {
    store: Arc<dyn Store>,
    cached: Arc<Mutex<Option<Origins>>>,
}

/// The allowed origins and when they were read.
type Origins = (HashSet<String>, Instant);

impl BrowserOrigins {
    /// Origins read from `store`'s keys.
    pub fn new(store: Arc<dyn Store>) -> Self {
        Self {
            store,
            cached: Arc::default(),
        }
    }

    /// Whether some active publishable key allows `origin`. A store error answers no.
    async fn allows(&self, origin: &str) -> bool {
        let mut cached = self.cached.lock().await;
        let fresh = matches!(&*cached, Some((_, at)) if at.elapsed() < ORIGINS_TTL);
        if !fresh {
            match self.store.list_keys().await {
                Ok(keys) => {
                    let origins = keys
                        .into_iter()
                        .filter(|k| k.role == KeyRole::Publishable && k.revoked_at.is_none())
                        .flat_map(|k| k.origins)
                        .collect();
                    *cached = Some((origins, Instant::now()));
                }
                Err(e) => {
                    tracing::warn!(error = %e, "cannot read publishable keys for CORS");
                    return false;
                }
            }
        }
        cached
            .as_ref()
            .is_some_and(|(origins, _)| origins.contains(origin))
    }
}

/// CORS for the two ingest routes: preflights from a publishable key's origin get the
/// POST method and the headers the browser snippet sends; every other origin and path
/// gets no CORS headers (so the browser refuses).
pub(crate) fn cors(origins: BrowserOrigins) -> CorsLayer {
    CorsLayer::new()
        .allow_origin(AllowOrigin::async_predicate(
            move |origin: HeaderValue, parts: &axum::http::request::Parts| {
                let ingest = matches!(parts.uri.path(), "/api/events" | "/api/events/batch");
                let origins = origins.clone();
                async move {
                    match origin.to_str() {
                        Ok(origin) if ingest => origins.allows(origin).await,
                        _ => false,
                    }
                }
            },
        ))
        .allow_methods([Method::POST])
        .allow_headers([
            header::AUTHORIZATION,
            header::CONTENT_TYPE,
            HeaderName::from_static(USER_TOKEN_HEADER),
        ])
        .max_age(Duration::from_secs(600))
}

/// What the server, not the page, says about a browser event.
#[derive(Debug)]
pub(crate) struct BrowserContext {
    ip: Option<IpAddr>,
    user_agent: Option<String>,
    user: Option<TokenUser>,
}

impl BrowserContext {
    /// For a publishable caller: checks the `Origin` against the key's origins and
    /// verifies `X-User-Token`. `None` for every other caller.
    pub(crate) fn for_caller(
        state: &AppState,
        caller: &Caller,
        headers: &HeaderMap,
        ip: Option<IpAddr>,
    ) -> Result<Option<Self>, ApiError> {
        if caller.role != KeyRole::Publishable {
            return Ok(None);
        }
        // Browsers send `Origin` with every POST; a request without one is not from a page.
        let Some(origin) = headers.get(header::ORIGIN) else {
            return Err(ApiError::forbidden(format!(
                "key `{}` is a publishable key, for browsers, which send `Origin`; this request has none. Server-side applications use an ingest key",
                caller.name
            ))
            .field("Origin"));
        };
        let origin = origin.to_str().unwrap_or_default();
        if !caller.origins.iter().any(|o| o == origin) {
            return Err(ApiError::forbidden(format!(
                "key `{}` may not be used from origin `{origin}`; add it with `eventlog keys create --role publishable --origin {origin}`",
                caller.name
            )));
        }
        let user = match headers.get(USER_TOKEN_HEADER) {
            None => None,
            Some(token) => {
                let verifier = state.jwt.as_deref().ok_or_else(|| {
                    ApiError::unauthorized(
                        "X-User-Token was sent but this server has no [auth.jwt] to verify it",
                    )
                    .field(USER_TOKEN_HEADER)
                })?;
                let token = token.to_str().unwrap_or_default().trim();
                let claims = verifier
                    .verify(token)
                    .map_err(|e| e.field(USER_TOKEN_HEADER))?;
                let user = verifier.user(&claims);
                if let (Some(bound), Some(claimed)) = (caller.tenant(), &user.tenant_id) {
                    if bound != claimed {
                        return Err(ApiError::forbidden(format!(
                            "key `{}` is bound to tenant `{bound}`; the user token is for tenant `{claimed}`",
                            caller.name
                        ))
                        .field(USER_TOKEN_HEADER));
                    }
                }
                Some(user)
            }
        };
        let user_agent = headers
            .get(header::USER_AGENT)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned);
        Ok(Some(Self {
            ip,
            user_agent,
            user,
        }))
    }

    /// Replaces what the page may not say about itself.
    pub(crate) fn apply(&self, event: &mut RawEvent) {
        let user = self.user.as_ref();
        event.user_id = user.and_then(|u| u.user_id.clone());
        event.username = user.and_then(|u| u.username.clone());
        event.user_role = user.and_then(|u| u.user_role.clone());
        event.tenant_id = user.and_then(|u| u.tenant_id.clone());
        event.ip_address = self.ip.map(|ip| ip.to_string());
        event.user_agent = self.user_agent.clone();
        let tags = event.tags.get_or_insert_with(Vec::new);
        if !tags.iter().any(|t| t == CLIENT_REPORTED_TAG) {
            tags.push(CLIENT_REPORTED_TAG.to_owned());
        }
    }
}
