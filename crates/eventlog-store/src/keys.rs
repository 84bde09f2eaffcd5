//! API keys as stored: a name, a role, an optional tenant, and the SHA-256 of the secret.
//! The secret itself is shown once at creation and never stored.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

/// What a key may do.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum KeyRole {
    /// Everything, including reading every tenant and managing keys.
    Admin,
    /// Read and analyse events.
    Analyst,
    /// Read events, verify the tamper-evident chain and read eventlog's own audit trail;
    /// never writes anything.
    Auditor,
    /// Send events only.
    Ingest,
    /// A browser's key, public by nature: may only send events through the browser ingest
    /// route, from configured origins, rate-limited per IP.
    Publishable,
}

impl KeyRole {
    /// Every role.
    pub const ALL: [KeyRole; 5] = [
        KeyRole::Admin,
        KeyRole::Analyst,
        KeyRole::Auditor,
        KeyRole::Ingest,
        KeyRole::Publishable,
    ];

    /// The lower-case name used in storage and on the CLI.
    pub fn as_str(self) -> &'static str {
        match self {
            KeyRole::Admin => "admin",
            KeyRole::Analyst => "analyst",
            KeyRole::Auditor => "auditor",
            KeyRole::Ingest => "ingest",
            KeyRole::Publishable => "publishable",
        }
    }

    /// Parses a stored or typed role name.
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "admin" => Some(KeyRole::Admin),
            "analyst" => Some(KeyRole::Analyst),
            "auditor" => Some(KeyRole::Auditor),
            "ingest" => Some(KeyRole::Ingest),
            "publishable" => Some(KeyRole::Publishable),
            _ => None,
        }
    }
}

/// A key to be stored.
#[derive(Debug, Clone)]
pub struct NewApiKey {
    /// Unique name among active keys.
    pub name: String,
    /// Role.
    pub role: KeyRole,
    /// Tenant the key is bound to, if any.
    pub tenant_id: Option<String>,
    /// First characters of the secret, to recognise it in listings.
    pub prefix: String,
    /// Hex SHA-256 of the secret.
    pub hash: String,
    /// Origins a publishable key may be used from (empty for other keys).
    pub origins: Vec<String>,
}

impl NewApiKey {
    /// The same key, usable from these browser origins (publishable keys).
    pub fn with_origins(mut self, origins: Vec<String>) -> Self {
        self.origins = origins;
        self
    }
}

/// A stored key (without its secret).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ApiKey {
    /// Name.
    pub name: String,
    /// Role.
    pub role: KeyRole,
    /// Tenant binding.
    pub tenant_id: Option<String>,
    /// First characters of the secret.
    pub prefix: String,
    /// Browser origins a publishable key may be used from (`https://app.example`).
    pub origins: Vec<String>,
    /// When it was created.
    pub created_at: DateTime<Utc>,
    /// When it was revoked, if it was.
    pub revoked_at: Option<DateTime<Utc>>,
}

/// A fresh random secret: `elk_` and 40 base-62 characters (about 238 bits).
pub fn generate_secret() -> String {
    use rand::distributions::Alphanumeric;
    use rand::Rng;
    let body: String = rand::thread_rng()
        .sample_iter(&Alphanumeric)
        .take(40)
        .map(char::from)
        .collect();
    format!("elk_{body}")
}

/// The hash under which a secret is stored and looked up. Secrets are long random
/// strings, so a plain SHA-256 is enough (no password stretching needed).
pub fn hash_secret(secret: &str) -> String {
    hex::encode(Sha256::digest(secret.as_bytes()))
}

/// The new key for `secret` with these properties.
pub fn new_key(name: &str, role: KeyRole, tenant_id: Option<String>, secret: &str) -> NewApiKey {
    NewApiKey {
        name: name.to_owned(),
        role,
        tenant_id,
        prefix: secret.chars().take(10).collect(),
        hash: hash_secret(secret),
        origins: Vec::new(),
    }
}

/// Checks and normalises a browser origin as typed on the CLI: `scheme://host[:port]`,
/// lower-case, no path, no trailing slash (the form browsers send in `Origin`).
pub fn parse_origin(origin: &str) -> Result<String, String> {
    let lower = origin.trim().trim_end_matches('/').to_ascii_lowercase();
    let rest = lower
        .strip_prefix("https://")
        .or_else(|| lower.strip_prefix("http://"))
        .ok_or_else(|| format!("origin `{origin}` must start with https:// or http://"))?;
    let host_ok = !rest.is_empty()
        && rest
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | ':' | '[' | ']'));
    if !host_ok {
        return Err(format!(
            "origin `{origin}` must be scheme://host[:port], without a path"
        ));
    }
    Ok(lower)
}

/// Origins as stored: one space-separated column, NULL when there are none.
pub(crate) fn join_origins(origins: &[String]) -> Option<String> {
    (!origins.is_empty()).then(|| origins.join(" "))
}

/// The stored column back into a list.
pub(crate) fn split_origins(column: Option<String>) -> Vec<String> {
    column
        .map(|c| c.split_whitespace().map(str::to_owned).collect())
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn origins_are_normalised_and_checked() {
        assert_eq!(
            parse_origin("HTTPS://App.Example:8443/").unwrap(),
            "https://app.example:8443"
        );
        assert!(parse_origin("app.example").is_err());
        assert!(parse_origin("https://app.example/path").is_err());
        assert!(parse_origin("https://").is_err());
        let stored = join_origins(&["https://a.example".into(), "http://b.example".into()]);
        assert_eq!(
            split_origins(stored),
            vec!["https://a.example", "http://b.example"]
        );
        assert_eq!(join_origins(&[]), None);
    }
}
