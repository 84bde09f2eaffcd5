//! Who is calling: `Authorization: Bearer KEY` resolved to a stored key or a verified JWT
//! ([`crate::jwt`]), and the role and tenant checks every route applies.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use axum::http::{header, Method};
use eventlog_store::keys::hash_secret;
use eventlog_store::{ApiKey, KeyRole, Store};

use crate::jwt::looks_like_jwt;
use crate::{ApiError, AppState};

/// How long a verified key is trusted before it is looked up again (so a revocation takes
/// effect within this time).
const KEY_TTL: Duration = Duration::from_secs(2);
/// Most keys remembered; the cache is cleared when full (only valid keys are cached, so
/// guessing keys cannot fill it).
const KEY_CACHE_MAX: usize = 10_000;

/// Verified keys by secret hash, with the time they were looked up.
#[derive(Clone, Default)]
pub struct KeyCache {
    inner: Arc<Mutex<HashMap<String, (ApiKey, Instant)>>>,
}

impl KeyCache {
    async fn lookup(&self, store: &dyn Store, secret: &str) -> Result<Option<ApiKey>, ApiError> {
        let hash = hash_secret(secret);
        if let Some((key, at)) = self.inner.lock().expect("key cache lock").get(&hash) {
            if at.elapsed() < KEY_TTL {
                return Ok(Some(key.clone()));
            }
        }
        let found = store.find_key(&hash).await?;
        let mut cache = self.inner.lock().expect("key cache lock");
        match &found {
            Some(key) => {
                if cache.len() >= KEY_CACHE_MAX {
                    cache.clear();
                }
                cache.insert(hash, (key.clone(), Instant::now()));
            }
            None => {
                cache.remove(&hash);
            }
        }
        Ok(found)
    }
}

/// The authenticated caller of a request: an API key or a verified JWT.
#[derive(Debug, Clone)]
pub(crate) struct Caller {
    /// The key's name, or `jwt:SUBJECT` for a token.
    pub(crate) name: String,
    /// What it may do.
    pub(crate) role: KeyRole,
    /// The tenant it is bound to, if any.
    pub(crate) tenant_id: Option<String>,
    /// Browser origins a publishable key may be used from.
    pub(crate) origins: Vec<String>,
}

impl From<ApiKey> for Caller {
    fn from(key: ApiKey) -> Self {
        Caller {
            name: key.name,
            role: key.role,
            tenant_id: key.tenant_id,
            origins: key.origins,
        }
    }
}

impl Caller {
    /// The tenant the caller is bound to, if any.
    pub(crate) fn tenant(&self) -> Option<&str> {
        self.tenant_id.as_deref()
    }

    /// The tenant filter to apply to a read: the caller's own for a tenant-bound key (which
    /// may not ask for another), else whatever was asked.
    pub(crate) fn scope_tenant(&self, asked: Option<String>) -> Result<Option<String>, ApiError> {
        match (self.tenant(), asked) {
            (Some(own), Some(asked)) if own != asked => Err(ApiError::forbidden(format!(
                "this key is bound to tenant `{own}` and cannot read tenant `{asked}`"
            ))
            .field("tenant_id")),
            (Some(own), _) => Ok(Some(own.to_owned())),
            (None, asked) => Ok(asked),
        }
    }
}

impl Caller {
    /// Resolves the `Authorization: Bearer KEY` header, or, for a GET, a dashboard session
    /// cookie (so the dashboard's pages and its live tail can call the API), to a caller.
    pub(crate) async fn authenticate(parts: &Parts, state: &AppState) -> Result<Self, ApiError> {
        // Two credentials are ambiguous: which one a proxy or this server would pick is a
        // guess, and a request must not get the rights of the one it did not mean.
        if parts
            .headers
            .get_all(header::AUTHORIZATION)
            .iter()
            .nth(1)
            .is_some()
        {
            return Err(ApiError::unauthorized(
                "send one `Authorization` header, not several",
            ));
        }
        let Some(header) = parts.headers.get(header::AUTHORIZATION) else {
            let read_only = parts.method == Method::GET || parts.method == Method::HEAD;
            if let Some(bearer) = read_only
                .then(|| state.sessions.bearer(&parts.headers))
                .flatten()
            {
                return Self::verify_bearer(&bearer, state).await;
            }
            return Err(ApiError::unauthorized(
                "missing `Authorization: Bearer KEY` header",
            ));
        };
        let secret = header
            .to_str()
            .ok()
            // The scheme's name is case-insensitive (RFC 9110 §11.1).
            .and_then(|v| v.split_once(' '))
            .filter(|(scheme, _)| scheme.eq_ignore_ascii_case("bearer"))
            .map(|(_, secret)| secret.trim())
            .filter(|s| !s.is_empty())
            .ok_or_else(|| {
                ApiError::unauthorized("the Authorization header must be `Bearer KEY`")
            })?;
        Self::verify_bearer(secret, state).await
    }

    /// Verifies a bearer credential, wherever it came from: the `Authorization` header,
    /// the dashboard's sign-in form, or a dashboard session (which keeps the credential and
    /// re-verifies it on every request, so a revoked key ends its sessions too). Every way
    /// in goes through here. A JWT-shaped token is verified against `[auth.jwt]` (401 on a
    /// bad or expired one, 403 when its role claim maps to no role); anything else must be
    /// an active API key.
    pub(crate) async fn verify_bearer(secret: &str, state: &AppState) -> Result<Self, ApiError> {
        if looks_like_jwt(secret) {
            let verifier = state.jwt.as_deref().ok_or_else(|| {
                ApiError::unauthorized(
                    "this server does not accept JWTs ([auth.jwt] is not configured); use an API key",
                )
            })?;
            let claims = verifier.verify(secret)?;
            let role = verifier.role(&claims)?;
            let user = verifier.user(&claims);
            return Ok(Caller {
                name: format!("jwt:{}", user.subject.as_deref().unwrap_or("-")),
                role,
                tenant_id: user.tenant_id,
                origins: Vec::new(),
            });
        }
        match state.keys.lookup(state.store.as_ref(), secret).await? {
            Some(key) => Ok(key.into()),
            None => Err(ApiError::unauthorized("unknown or revoked API key")),
        }
    }
}

/// Handlers take the caller [`crate::rbac::enforce`] authenticated and authorised.
impl FromRequestParts<AppState> for Caller {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        match parts.extensions.get::<Caller>() {
            Some(caller) => Ok(caller.clone()),
            None => Self::authenticate(parts, state).await,
        }
    }
}
