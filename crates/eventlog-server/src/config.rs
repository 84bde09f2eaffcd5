//! Server settings, read from the `--config` TOML file (every key optional).

use std::collections::BTreeMap;
use std::path::PathBuf;

use eventlog_core::ValidationPolicy;
use serde::{Deserialize, Serialize};

/// All server settings. Command-line flags and environment variables override
/// `listen` and `database`.
#[derive(Debug, Clone, Default, Deserialize, Serialize)]
#[serde(default, deny_unknown_fields)]
pub struct ServerConfig {
    /// Address to listen on (default `127.0.0.1:8470`).
    pub listen: Option<String>,
    /// Database URL (default `sqlite://eventlog-data/eventlog.db`).
    pub database: Option<String>,
    /// Ingest limits and queue sizes.
    pub ingest: IngestConfig,
    /// Validation rules.
    pub validation: ValidationPolicy,
    /// Extra catalogs.
    pub catalog: CatalogConfig,
    /// Attack detection at ingest (docs/security.md).
    pub detect: crate::detection::DetectConfig,
    /// Tamper evidence: checkpoint key and frequency.
    pub integrity: IntegrityConfig,
    /// Credentials beyond API keys: JWT bearer tokens (docs/security-access.md).
    pub auth: AuthConfig,
    /// Rate limits, timeouts, header limits and trusted proxies (docs/security-access.md).
    pub limits: crate::limits::LimitsConfig,
    /// The web dashboard, its sessions and the live tail (docs/dashboard.md).
    pub dashboard: DashboardConfig,
    /// Alert rules, evaluation interval and webhooks (docs/analytics.md).
    pub alerts: crate::alerts::AlertsConfig,
    /// Retention and archives (docs/operations.md).
    pub retention: RetentionConfig,
    /// Who may scrape `/metrics` (docs/operations.md).
    pub metrics: MetricsConfig,
}

/// How long events are kept, where they are archived before deletion, and how often
/// `serve` applies the policy.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(default, deny_unknown_fields)]
pub struct RetentionConfig {
    /// Days to keep events of each severity (seed 002: DEBUG 7, INFO 30, WARNING 90,
    /// ERROR 180, CRITICAL 365). Keys are severity names; those not named keep the default.
    pub days: BTreeMap<String, u32>,
    /// Per-category overrides: category -> severity -> days, e.g.
    /// `[retention.categories.SECURITY] INFO = 365`. Severities not named keep `days`.
    pub categories: BTreeMap<String, BTreeMap<String, u32>>,
    /// Folder for the archives (default `eventlog-archive` beside the SQLite database, or
    /// `eventlog-data/archive`).
    pub archive_dir: Option<PathBuf>,
    /// `serve` applies the policy every this many seconds; 0 turns the schedule off.
    /// Default 86400 (daily): the seeds keep events by policy, not by hand.
    pub schedule_secs: u64,
    /// PostgreSQL: before each scheduled run, also archive every closed day not archived
    /// yet (`archive_dir/daily`), so a monthly partition whose every event expired is
    /// dropped without reading it again. Costs archive space for the whole retention
    /// period (about a tenth of the events' size). Default on.
    pub archive_ahead: bool,
}

impl Default for RetentionConfig {
    fn default() -> Self {
        Self {
            days: [
                ("DEBUG", 7),
                ("INFO", 30),
                ("WARNING", 90),
                ("ERROR", 180),
                ("CRITICAL", 365),
            ]
            .into_iter()
            .map(|(s, d)| (s.to_owned(), d))
            .collect(),
            categories: BTreeMap::new(),
            archive_dir: None,
            schedule_secs: 86_400,
            archive_ahead: true,
        }
    }
}

/// Access to `GET /metrics`.
#[derive(Debug, Clone, Default, Deserialize, Serialize)]
#[serde(default, deny_unknown_fields)]
pub struct MetricsConfig {
    /// Serve `/metrics` without a key. Off by default: queue depth and ingest rates tell
    /// an outsider about the applications behind eventlog. When off, admin and analyst
    /// keys may scrape it.
    pub public: bool,
}

/// Credentials beyond API keys.
#[derive(Debug, Clone, Default, Deserialize, Serialize)]
#[serde(default, deny_unknown_fields)]
pub struct AuthConfig {
    /// `[auth.jwt]`: accept JWT bearer tokens (and verify browser `X-User-Token`s) with
    /// this key and these claim mappings. Absent: only API keys.
    pub jwt: Option<crate::jwt::JwtConfig>,
}

/// The web dashboard, its sign-in sessions and the live tail.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(default, deny_unknown_fields)]
pub struct DashboardConfig {
    /// A dashboard session ends after this many minutes without a request.
    pub session_idle_minutes: u64,
    /// Mark the session cookie `Secure` on every response, not only on requests that came
    /// over TLS (`X-Forwarded-Proto: https`).
    pub secure_cookies: bool,
    /// Events kept for a live-tail subscriber that is behind; beyond that it loses the
    /// oldest and is told how many.
    pub live_tail_buffer: usize,
}

impl Default for DashboardConfig {
    fn default() -> Self {
        Self {
            session_idle_minutes: 30,
            secure_cookies: false,
            live_tail_buffer: 4096,
        }
    }
}

/// Tamper evidence: where the Ed25519 checkpoint key lives and how often checkpoints are
/// signed.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(default, deny_unknown_fields)]
pub struct IntegrityConfig {
    /// The signing key file (hex, created 0600 on first start if absent). The `eventlog`
    /// binary defaults it to `checkpoint-signing.key` beside the SQLite database (or in
    /// `eventlog-data/`); an embedding application without one gets a per-process key and
    /// a warning.
    pub signing_key_file: Option<PathBuf>,
    /// Sign a checkpoint once this many events were committed since the last one...
    pub checkpoint_every_events: u64,
    /// ...or once this many seconds passed with any new event.
    pub checkpoint_every_secs: u64,
}

impl Default for IntegrityConfig {
    fn default() -> Self {
        Self {
            signing_key_file: None,
            checkpoint_every_events: 10_000,
            checkpoint_every_secs: 10,
        }
    }
}

/// Ingest limits and queue sizes.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(default, deny_unknown_fields)]
pub struct IngestConfig {
    /// Events that may wait for the writer at once; beyond this requests get 503.
    pub queue_capacity_events: usize,
    /// Most events in one batch request.
    pub max_batch_events: usize,
    /// Largest request body, in bytes.
    pub max_body_bytes: usize,
    /// Largest single event, in bytes of JSON.
    pub max_event_bytes: usize,
    /// Most events the writer commits in one transaction.
    pub max_commit_events: usize,
}

impl Default for IngestConfig {
    fn default() -> Self {
        Self {
            queue_capacity_events: 100_000,
            max_batch_events: 10_000,
            max_body_bytes: 32 * 1024 * 1024,
            max_event_bytes: 256 * 1024,
            max_commit_events: 20_000,
        }
    }
}

/// Where extra catalogs come from.
#[derive(Debug, Clone, Default, Deserialize, Serialize)]
#[serde(default, deny_unknown_fields)]
pub struct CatalogConfig {
    /// Catalog files (same JSON format as the built-in ones), loaded after them.
    pub files: Vec<PathBuf>,
}
