//! JWT bearer tokens: `[auth.jwt]` names one verification key (an HS256 secret from a file
//! or an environment variable, an RS256/ES256 public key PEM, or a JWKS file looked up by
//! `kid`), the issuer and audience to insist on, and which claims carry the eventlog role,
//! the tenant and (for browser ingest) the application user.
//!
//! Only the configured algorithm is accepted for a key, whatever the token's header says,
//! so a token cannot pick a weaker check (the classic `alg` confusion attacks).

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};

use eventlog_store::KeyRole;
use jsonwebtoken::errors::ErrorKind;
use jsonwebtoken::jwk::{AlgorithmParameters, EllipticCurve, JwkSet, KeyAlgorithm};
use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use crate::ApiError;

/// Shortest accepted HS256 secret, in bytes (RFC 7518 §3.2: at least the hash size).
const MIN_SECRET_BYTES: usize = 32;

/// The algorithms eventlog verifies.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize)]
pub enum JwtAlgorithm {
    /// HMAC with SHA-256 and a shared secret.
    HS256,
    /// RSA PKCS#1 v1.5 with SHA-256.
    RS256,
    /// ECDSA over P-256 with SHA-256.
    ES256,
}

impl JwtAlgorithm {
    fn algorithm(self) -> Algorithm {
        match self {
            JwtAlgorithm::HS256 => Algorithm::HS256,
            JwtAlgorithm::RS256 => Algorithm::RS256,
            JwtAlgorithm::ES256 => Algorithm::ES256,
        }
    }
}

/// `[auth.jwt]`.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(default, deny_unknown_fields)]
pub struct JwtConfig {
    /// The algorithm tokens must be signed with. Required with `secret_*` and
    /// `public_key_file`; with `jwks_file` it defaults to each key's own `alg` (or its type).
    pub algorithm: Option<JwtAlgorithm>,
    /// HS256: a file holding the shared secret (trailing newline ignored).
    pub secret_file: Option<PathBuf>,
    /// HS256: the environment variable holding the shared secret.
    pub secret_env: Option<String>,
    /// RS256/ES256: the issuer's public key, PEM.
    pub public_key_file: Option<PathBuf>,
    /// A JWKS document (`{"keys": [...]}`) saved to a file; tokens name their key by `kid`.
    pub jwks_file: Option<PathBuf>,
    /// Required `iss`.
    pub issuer: Option<String>,
    /// Required `aud` (one of the token's audiences).
    pub audience: Option<String>,
    /// Clock skew tolerated on `exp` and `nbf`, in seconds.
    pub leeway_secs: u64,
    /// The claim holding the role (a string or an array of strings; dots walk into objects,
    /// e.g. `realm_access.roles`).
    pub role_claim: String,
    /// Claim value -> eventlog role. Empty: the claim must hold an eventlog role name.
    pub roles: BTreeMap<String, KeyRole>,
    /// The claim binding the caller to a tenant (absent claim: not tenant-bound).
    pub tenant_claim: String,
    /// The claim naming the caller in messages and rate limits.
    pub subject_claim: String,
    /// Browser ingest: the claim that becomes the event's `user_id`.
    pub user_id_claim: String,
    /// Browser ingest: the claim that becomes `username`.
    pub username_claim: String,
    /// Browser ingest: the claim that becomes `user_role` (the application's own role;
    /// defaults to `role_claim`).
    pub user_role_claim: Option<String>,
}

impl Default for JwtConfig {
    fn default() -> Self {
        Self {
            algorithm: None,
            secret_file: None,
            secret_env: None,
            public_key_file: None,
            jwks_file: None,
            issuer: None,
            audience: None,
            leeway_secs: 30,
            role_claim: "role".into(),
            roles: BTreeMap::new(),
            tenant_claim: "tenant_id".into(),
            subject_claim: "sub".into(),
            user_id_claim: "sub".into(),
            username_claim: "preferred_username".into(),
            user_role_claim: None,
        }
    }
}

/// Why `[auth.jwt]` could not be loaded.
#[derive(Debug, thiserror::Error)]
#[error("[auth.jwt]: {0}")]
pub struct JwtConfigError(String);

fn config_error(message: impl Into<String>) -> JwtConfigError {
    JwtConfigError(message.into())
}

/// What a verified token says about its holder.
#[derive(Debug, Clone, PartialEq)]
pub struct TokenUser {
    /// The subject (`subject_claim`), if present.
    pub subject: Option<String>,
    /// `user_id_claim`.
    pub user_id: Option<String>,
    /// `username_claim`.
    pub username: Option<String>,
    /// `user_role_claim` (first value when it is an array).
    pub user_role: Option<String>,
    /// `tenant_claim`.
    pub tenant_id: Option<String>,
}

/// Verifies tokens against the configured key(s). Built once at start-up.
pub struct JwtVerifier {
    config: JwtConfig,
    /// The one key, or the JWKS keys by `kid`; each with the only algorithm it accepts.
    keys: Keys,
}

enum Keys {
    Single(Algorithm, DecodingKey),
    ByKid(HashMap<String, (Algorithm, DecodingKey)>),
}

impl std::fmt::Debug for JwtVerifier {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("JwtVerifier")
            .field("source", &self.describe())
            .finish()
    }
}

fn read(path: &Path) -> Result<Vec<u8>, JwtConfigError> {
    std::fs::read(path).map_err(|e| config_error(format!("cannot read {}: {e}", path.display())))
}

impl JwtVerifier {
    /// Loads the key material `config` names. Exactly one source must be given.
    pub fn from_config(config: &JwtConfig) -> Result<Self, JwtConfigError> {
        let sources = [
            config.secret_file.is_some(),
            config.secret_env.is_some(),
            config.public_key_file.is_some(),
            config.jwks_file.is_some(),
        ];
        if sources.iter().filter(|s| **s).count() != 1 {
            return Err(config_error(
                "give exactly one of secret_file, secret_env (HS256), public_key_file (RS256/ES256) or jwks_file",
            ));
        }
        if config.roles.values().any(|r| *r == KeyRole::Publishable) {
            return Err(config_error(
                "roles: a token cannot map to `publishable` (browser keys are API keys)",
            ));
        }
        let keys = if let Some(path) = &config.jwks_file {
            Keys::ByKid(load_jwks(&read(path)?, config.algorithm)?)
        } else {
            let alg = config
                .algorithm
                .ok_or_else(|| config_error("algorithm is required (HS256, RS256 or ES256)"))?;
            let key = match (alg, &config.public_key_file) {
                (JwtAlgorithm::HS256, None) => {
                    let secret = match (&config.secret_file, &config.secret_env) {
                        (Some(path), _) => read(path)?,
                        (_, Some(var)) => std::env::var(var)
                            .map_err(|_| config_error(format!("secret_env: ${var} is not set")))?
                            .into_bytes(),
                        _ => unreachable!("one source is given"),
                    };
                    let secret = secret.trim_ascii_end();
                    if secret.len() < MIN_SECRET_BYTES {
                        return Err(config_error(format!(
                            "the HS256 secret is {} bytes; use at least {MIN_SECRET_BYTES} random bytes",
                            secret.len()
                        )));
                    }
                    DecodingKey::from_secret(secret)
                }
                (JwtAlgorithm::HS256, Some(_)) => {
                    return Err(config_error(
                        "HS256 takes secret_file or secret_env, not public_key_file",
                    ))
                }
                (_, None) => {
                    return Err(config_error(format!(
                        "{alg:?} takes public_key_file (PEM) or jwks_file"
                    )))
                }
                (JwtAlgorithm::RS256, Some(path)) => DecodingKey::from_rsa_pem(&read(path)?)
                    .map_err(|e| config_error(format!("{}: {e}", path.display())))?,
                (JwtAlgorithm::ES256, Some(path)) => DecodingKey::from_ec_pem(&read(path)?)
                    .map_err(|e| config_error(format!("{}: {e}", path.display())))?,
            };
            Keys::Single(alg.algorithm(), key)
        };
        Ok(Self {
            config: config.clone(),
            keys,
        })
    }

    /// Where the keys come from, for logs and the ADMIN event (never the secret).
    pub fn describe(&self) -> String {
        let c = &self.config;
        match &self.keys {
            Keys::Single(alg, _) => {
                let from = c
                    .secret_file
                    .as_ref()
                    .or(c.public_key_file.as_ref())
                    .map(|p| p.display().to_string())
                    .or_else(|| c.secret_env.as_ref().map(|v| format!("${v}")))
                    .unwrap_or_default();
                format!("{alg:?} key from {from}")
            }
            Keys::ByKid(keys) => format!(
                "JWKS {} ({} keys)",
                c.jwks_file
                    .as_ref()
                    .map(|p| p.display().to_string())
                    .unwrap_or_default(),
                keys.len()
            ),
        }
    }

    /// The configuration it was built from.
    pub fn config(&self) -> &JwtConfig {
        &self.config
    }

    /// Checks signature, algorithm, `exp` (required), `nbf`, issuer and audience; returns
    /// the claims. Every failure is a 401 saying what was wrong.
    pub fn verify(&self, token: &str) -> Result<Map<String, Value>, ApiError> {
        let header = jsonwebtoken::decode_header(token)
            .map_err(|_| ApiError::unauthorized("malformed JWT: its header cannot be read"))?;
        let (alg, key) = match &self.keys {
            Keys::Single(alg, key) => (*alg, key),
            Keys::ByKid(keys) => {
                let kid = header.kid.as_deref().ok_or_else(|| {
                    ApiError::unauthorized("the JWT names no key (`kid`); this server uses a JWKS")
                })?;
                let (alg, key) = keys.get(kid).ok_or_else(|| {
                    ApiError::unauthorized(format!("the JWT's key `{kid}` is not in the JWKS"))
                })?;
                (*alg, key)
            }
        };
        if header.alg != alg {
            return Err(ApiError::unauthorized(format!(
                "the JWT is signed with {:?}; this server accepts only {alg:?}",
                header.alg
            )));
        }
        let mut validation = Validation::new(alg);
        validation.leeway = self.config.leeway_secs;
        validation.validate_nbf = true;
        validation.set_required_spec_claims(&["exp"]);
        if let Some(iss) = &self.config.issuer {
            validation.set_issuer(&[iss]);
        }
        match &self.config.audience {
            Some(aud) => validation.set_audience(&[aud]),
            None => validation.validate_aud = false,
        }
        jsonwebtoken::decode::<Map<String, Value>>(token, key, &validation)
            .map(|data| data.claims)
            .map_err(|e| {
                ApiError::unauthorized(match e.kind() {
                    ErrorKind::ExpiredSignature => "the JWT has expired".to_owned(),
                    ErrorKind::ImmatureSignature => "the JWT is not valid yet (nbf)".to_owned(),
                    ErrorKind::InvalidSignature => "the JWT's signature does not verify".to_owned(),
                    ErrorKind::InvalidIssuer => format!(
                        "the JWT's issuer is not `{}`",
                        self.config.issuer.as_deref().unwrap_or_default()
                    ),
                    ErrorKind::InvalidAudience => format!(
                        "the JWT's audience does not include `{}`",
                        self.config.audience.as_deref().unwrap_or_default()
                    ),
                    ErrorKind::MissingRequiredClaim(c) => format!("the JWT has no `{c}` claim"),
                    _ => format!("invalid JWT: {e}"),
                })
            })
    }

    /// The eventlog role the claims map to: the first value of `role_claim` that maps
    /// (403 when none does; a valid token without a usable role is authenticated but not
    /// authorised).
    pub fn role(&self, claims: &Map<String, Value>) -> Result<KeyRole, ApiError> {
        let claim = &self.config.role_claim;
        let values = strings(claim_at(claims, claim));
        if values.is_empty() {
            return Err(ApiError::forbidden(format!(
                "the JWT has no `{claim}` claim to take a role from"
            ))
            .field(claim.clone()));
        }
        let mapped = values.iter().find_map(|v| {
            if self.config.roles.is_empty() {
                KeyRole::parse(v).filter(|r| *r != KeyRole::Publishable)
            } else {
                self.config.roles.get(v.as_str()).copied()
            }
        });
        mapped.ok_or_else(|| {
            ApiError::forbidden(format!(
                "the JWT's `{claim}` ({}) maps to no eventlog role; see [auth.jwt] roles",
                values.join(", ")
            ))
            .field(claim.clone())
        })
    }

    /// The holder as the claims describe them.
    pub fn user(&self, claims: &Map<String, Value>) -> TokenUser {
        let first = |name: &str| strings(claim_at(claims, name)).into_iter().next();
        let c = &self.config;
        TokenUser {
            subject: first(&c.subject_claim),
            user_id: first(&c.user_id_claim),
            username: first(&c.username_claim),
            user_role: first(c.user_role_claim.as_deref().unwrap_or(&c.role_claim)),
            tenant_id: first(&c.tenant_claim),
        }
    }
}

/// A JWT is three base64url segments; API keys (`elk_...`) never contain a dot, so a
/// token of this shape is never looked up as a key.
pub fn looks_like_jwt(token: &str) -> bool {
    let mut parts = token.split('.');
    let ok = |p: Option<&str>| {
        p.is_some_and(|p| {
            !p.is_empty()
                && p.bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
        })
    };
    ok(parts.next()) && ok(parts.next()) && ok(parts.next()) && parts.next().is_none()
}

/// The claim at a dotted path (`realm_access.roles`); a literal claim name with dots wins.
fn claim_at<'a>(claims: &'a Map<String, Value>, path: &str) -> Option<&'a Value> {
    if let Some(v) = claims.get(path) {
        return Some(v);
    }
    let mut parts = path.split('.');
    let mut value = claims.get(parts.next()?)?;
    for part in parts {
        value = value.as_object()?.get(part)?;
    }
    Some(value)
}

/// A string, number or array of them, as strings.
fn strings(value: Option<&Value>) -> Vec<String> {
    match value {
        Some(Value::String(s)) => vec![s.clone()],
        Some(Value::Number(n)) => vec![n.to_string()],
        Some(Value::Array(items)) => items
            .iter()
            .filter_map(|v| match v {
                Value::String(s) => Some(s.clone()),
                Value::Number(n) => Some(n.to_string()),
                _ => None,
            })
            .collect(),
        _ => Vec::new(),
    }
}

/// The JWKS keys by `kid`, each bound to one algorithm: its `alg`, else the configured
/// one, else what its type implies (RSA -> RS256, P-256 -> ES256). Keys of other types
/// and keys for encryption are skipped; a JWKS with no usable key is an error.
fn load_jwks(
    bytes: &[u8],
    configured: Option<JwtAlgorithm>,
) -> Result<HashMap<String, (Algorithm, DecodingKey)>, JwtConfigError> {
    let set: JwkSet = serde_json::from_slice(bytes)
        .map_err(|e| config_error(format!("jwks_file is not a JWKS document: {e}")))?;
    let mut keys = HashMap::new();
    for jwk in &set.keys {
        let Some(kid) = jwk.common.key_id.clone() else {
            continue;
        };
        let implied = match &jwk.algorithm {
            AlgorithmParameters::RSA(_) => Some(Algorithm::RS256),
            AlgorithmParameters::EllipticCurve(p) if p.curve == EllipticCurve::P256 => {
                Some(Algorithm::ES256)
            }
            _ => None,
        };
        let declared = match jwk.common.key_algorithm {
            Some(KeyAlgorithm::RS256) => Some(Algorithm::RS256),
            Some(KeyAlgorithm::ES256) => Some(Algorithm::ES256),
            Some(other) => {
                return Err(config_error(format!(
                    "jwks_file: key `{kid}` is for {other:?}; eventlog verifies RS256 and ES256"
                )))
            }
            None => None,
        };
        let Some(alg) = declared
            .or(configured.map(JwtAlgorithm::algorithm))
            .or(implied)
        else {
            continue;
        };
        if Some(alg) != implied {
            return Err(config_error(format!(
                "jwks_file: key `{kid}` cannot be used with {alg:?}"
            )));
        }
        let key = DecodingKey::from_jwk(jwk)
            .map_err(|e| config_error(format!("jwks_file: key `{kid}`: {e}")))?;
        keys.insert(kid, (alg, key));
    }
    if keys.is_empty() {
        return Err(config_error(
            "jwks_file holds no RS256/ES256 key with a `kid`",
        ));
    }
    Ok(keys)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn jwt_shape() {
        assert!(looks_like_jwt("eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxIn0.c2ln"));
        assert!(!looks_like_jwt("elk_abcdef"));
        assert!(!looks_like_jwt("a.b"));
        assert!(!looks_like_jwt("a.b.c.d"));
        assert!(!looks_like_jwt("a..c"));
    }

    #[test]
    fn claims_by_dotted_path_and_arrays() {
        let claims = json!({"realm_access": {"roles": ["x", "admin"]}, "tid": 7, "a.b": "lit"});
        let claims = claims.as_object().unwrap();
        assert_eq!(
            strings(claim_at(claims, "realm_access.roles")),
            vec!["x", "admin"]
        );
        assert_eq!(strings(claim_at(claims, "tid")), vec!["7"]);
        assert_eq!(strings(claim_at(claims, "a.b")), vec!["lit"]);
        assert!(claim_at(claims, "realm_access.nope").is_none());
    }

    #[test]
    fn one_key_source_and_a_long_secret() {
        let dir = tempfile::tempdir().unwrap();
        let short = dir.path().join("short");
        std::fs::write(&short, "too-short\n").unwrap();
        let config = JwtConfig {
            algorithm: Some(JwtAlgorithm::HS256),
            secret_file: Some(short),
            ..JwtConfig::default()
        };
        let err = JwtVerifier::from_config(&config).unwrap_err().to_string();
        assert!(err.contains("at least 32"), "{err}");
        let none = JwtConfig::default();
        assert!(JwtVerifier::from_config(&none).is_err());
    }
}
