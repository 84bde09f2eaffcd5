//! Login tokens: HS256 JWTs signed with a key generated at start-up (never a default
//! secret), and the `Claims` extractor that routes requiring a login use.

use std::sync::Arc;

use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use jsonwebtoken::{decode, encode, DecodingKey, EncodingKey, Header, Validation};
use rand::RngCore;
use serde::{Deserialize, Serialize};

use crate::error::AppError;
use crate::AppState;

/// What a token says about its user.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Claims {
    /// User id.
    pub sub: String,
    /// User name.
    pub name: String,
    /// Role.
    pub role: String,
    /// Expiry (Unix seconds).
    pub exp: i64,
}

/// Signs and verifies tokens.
#[derive(Clone)]
pub struct Tokens {
    encoding: EncodingKey,
    decoding: DecodingKey,
}

impl std::fmt::Debug for Tokens {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Tokens(..)")
    }
}

impl Tokens {
    /// Keys from `EDUPRO_JWT_SECRET`, else a random key (tokens then last one run).
    pub fn from_env_or_random() -> Arc<Self> {
        let secret = std::env::var("EDUPRO_JWT_SECRET")
            .ok()
            .filter(|s| s.len() >= 32)
            .map(String::into_bytes)
            .unwrap_or_else(|| {
                let mut key = vec![0u8; 32];
                rand::thread_rng().fill_bytes(&mut key);
                key
            });
        Arc::new(Self {
            encoding: EncodingKey::from_secret(&secret),
            decoding: DecodingKey::from_secret(&secret),
        })
    }

    /// A token for this user, valid one hour.
    pub fn issue(&self, id: &str, name: &str, role: &str) -> Result<String, AppError> {
        let claims = Claims {
            sub: id.to_owned(),
            name: name.to_owned(),
            role: role.to_owned(),
            exp: chrono::Utc::now().timestamp() + 3600,
        };
        encode(&Header::default(), &claims, &self.encoding)
            .map_err(|e| AppError::Internal(format!("signing failed: {e}")))
    }

    /// The claims of a valid `Authorization: Bearer` token in `headers`.
    pub fn verify(&self, headers: &http::HeaderMap) -> Option<Claims> {
        let token = headers
            .get(http::header::AUTHORIZATION)?
            .to_str()
            .ok()?
            .strip_prefix("Bearer ")?;
        decode::<Claims>(token, &self.decoding, &Validation::default())
            .ok()
            .map(|data| data.claims)
    }
}

impl FromRequestParts<AppState> for Claims {
    type Rejection = AppError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, AppError> {
        state
            .tokens
            .verify(&parts.headers)
            .ok_or(AppError::Unauthorized)
    }
}
