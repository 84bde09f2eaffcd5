//! Health, the catalog and the API description.

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use eventlog_core::CatalogEntry;
use serde::Serialize;
use utoipa::ToSchema;

use crate::error::ErrorResponse;
use crate::ingest::QueueStats;
use crate::AppState;

/// Health of the service.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct Health {
    /// `ok` or `unavailable`.
    pub(crate) status: &'static str,
    /// `sqlite` or `postgres`.
    pub(crate) store: &'static str,
    /// Whether the store answered.
    pub(crate) store_reachable: bool,
    /// Latest migration applied.
    pub(crate) schema_version: Option<i64>,
    /// Ingest queue figures.
    pub(crate) queue: QueueStats,
    /// When the writer last committed (RFC 3339), if it has.
    pub(crate) last_commit_at: Option<String>,
    /// Why the service is unavailable, when it is.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) error: Option<String>,
}

/// Whether the service can take and serve events. Needs no key.
#[utoipa::path(
    get, path = "/api/events/health", tag = "system",
    responses(
        (status = 200, description = "Healthy", body = Health),
        (status = 503, description = "The store is unreachable", body = Health),
    )
)]
pub(crate) async fn health(State(state): State<AppState>) -> Response {
    let body = health_report(&state).await;
    let status = if body.store_reachable {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    (status, Json(body)).into_response()
}

/// The health figures (the endpoint and the dashboard's system page show the same).
pub(crate) async fn health_report(state: &AppState) -> Health {
    let queue = state.queue.stats();
    let last_commit_at = (queue.last_commit_ms > 0)
        .then(|| chrono::DateTime::from_timestamp_millis(queue.last_commit_ms))
        .flatten()
        .map(|t| t.to_rfc3339_opts(chrono::SecondsFormat::Millis, true));
    let check = tokio::time::timeout(
        std::time::Duration::from_secs(3),
        state.store.check_schema(),
    )
    .await;
    let (reachable, version, error) = match check {
        Ok(Ok(report)) => (true, report.applied_version, None),
        Ok(Err(e)) => (false, None, Some(e.to_string())),
        Err(_) => (
            false,
            None,
            Some("the store did not answer within 3 s".to_owned()),
        ),
    };
    Health {
        status: if reachable { "ok" } else { "unavailable" },
        store: state.store.backend(),
        store_reachable: reachable,
        schema_version: version,
        queue,
        last_commit_at,
        error,
    }
}

/// The catalog in use.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct CatalogResponse {
    /// Names of the catalogs loaded.
    sources: Vec<String>,
    /// Every known code.
    events: Vec<CatalogEntry>,
}

/// Every known event code with its defaults, icon and colour.
#[utoipa::path(
    get, path = "/api/catalog", tag = "system",
    responses((status = 200, body = CatalogResponse), (status = 401, body = ErrorResponse)),
    security(("api_key" = []))
)]
pub(crate) async fn catalog(
    State(state): State<AppState>,
) -> Result<Json<CatalogResponse>, crate::ApiError> {
    let catalog = state.validator.catalog();
    Ok(Json(CatalogResponse {
        sources: catalog.sources().to_vec(),
        events: catalog.entries().cloned().collect(),
    }))
}

/// This API's OpenAPI 3.1 document. Needs no key.
#[utoipa::path(
    get, path = "/api/openapi.json", tag = "system",
    responses((status = 200, description = "OpenAPI document", content_type = "application/json"))
)]
pub(crate) async fn openapi_json() -> Json<utoipa::openapi::OpenApi> {
    Json(super::openapi())
}

/// Prometheus metrics in the text exposition format: ingest (accepted, rejected by reason,
/// queue depth, commit latency, rollup lag) and retention results. Admin and analyst keys
/// may scrape it; `[metrics] public = true` serves it without a key.
#[utoipa::path(
    get, path = "/metrics", tag = "system",
    responses(
        (status = 200, description = "OpenMetrics text (Prometheus scrapes it)", content_type = "application/openmetrics-text; version=1.0.0; charset=utf-8", body = String),
        (status = 401, body = ErrorResponse), (status = 403, body = ErrorResponse),
    ),
    security(("api_key" = []))
)]
pub(crate) async fn metrics(State(state): State<AppState>) -> Response {
    (
        [(
            axum::http::header::CONTENT_TYPE,
            "application/openmetrics-text; version=1.0.0; charset=utf-8",
        )],
        state.metrics.render(state.queue.stats()),
    )
        .into_response()
}
