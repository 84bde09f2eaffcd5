use std::sync::Arc;

use eventlog_core::validate::Validator;
use eventlog_store::analytics::Analytics;
use eventlog_store::Store;

use crate::auth::KeyCache;
use crate::auth_failures::AuthFailures;
use crate::browser::BrowserOrigins;
use crate::config::{DashboardConfig, IngestConfig, MetricsConfig};
use crate::dashboard::session::Sessions;
use crate::ingest::IngestQueue;
use crate::integrity::Integrity;
use crate::jwt::JwtVerifier;
use crate::limits::RateLimits;
use crate::live::LiveTail;
use crate::metrics::Metrics;

/// What every handler shares. Cheap to clone.
#[derive(Clone)]
pub struct AppState {
    /// The event store.
    pub store: Arc<dyn Store>,
    /// Validation rules and the catalog.
    pub validator: Arc<Validator>,
    /// The ingest queue in front of the group-commit writer.
    pub queue: IngestQueue,
    /// Ingest limits.
    pub limits: Arc<IngestConfig>,
    /// Recently verified API keys.
    pub keys: KeyCache,
    /// The query layer: every number the API reports comes from it.
    pub analytics: Analytics,
    /// Checkpoint signing and pruning records.
    pub integrity: Arc<Integrity>,
    /// Prometheus metrics; register more with [`Metrics::register`].
    pub metrics: Metrics,
    /// Who may scrape `/metrics`.
    pub metrics_config: Arc<MetricsConfig>,
    /// `[auth.jwt]`, when JWT bearer tokens are accepted.
    pub jwt: Option<Arc<JwtVerifier>>,
    /// Rate limits, timeouts and header limits.
    pub rate_limits: Arc<RateLimits>,
    /// Origins of the publishable keys, for CORS.
    pub browser_origins: BrowserOrigins,
    /// Newly committed events for `GET /api/events/stream`.
    pub live: LiveTail,
    /// Dashboard sign-in sessions.
    pub sessions: Sessions,
    /// Dashboard settings.
    pub dashboard: Arc<DashboardConfig>,
    /// Failed authentications against eventlog, recorded as SEC-005 events.
    pub auth_failures: Arc<AuthFailures>,
}
