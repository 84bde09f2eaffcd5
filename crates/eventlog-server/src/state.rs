use std::sync::Arc;

use eventlog_core::validate::Validator;
use eventlog_store::analytics::Analytics;
use eventlog_store::Store;

use crate::auth::KeyCache;
use crate::config::{DashboardConfig, IngestConfig};
use crate::dashboard::session::Sessions;
use crate::ingest::IngestQueue;
use crate::integrity::Integrity;
use crate::live::LiveTail;

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
    /// Newly committed events for `GET /api/events/stream`.
    pub live: LiveTail,
    /// Dashboard sign-in sessions.
    pub sessions: Sessions,
    /// Dashboard settings.
    pub dashboard: Arc<DashboardConfig>,
}
