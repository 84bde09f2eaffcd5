//! `GET /api/alerts`: a thin wrapper over [`crate::alerts::api::alerts_view`], which the
//! dashboard calls directly.

use axum::extract::rejection::QueryRejection;
use axum::extract::{Query, State};
use axum::Json;
use eventlog_store::alerts::AlertState;
use serde::Deserialize;
use utoipa::IntoParams;

use super::analytics::limit;
use super::query::{non_empty, time_param};
use super::query_error;
use crate::alerts::api::{alerts_view, AlertFilter, AlertsView};
use crate::auth::Caller;
use crate::error::ErrorResponse;
use crate::{ApiError, AppState};

/// Filters of the alert history.
#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub(crate) struct AlertsParams {
    /// `firing` or `resolved` (history only; `firing` always lists every firing alert).
    state: Option<String>,
    /// Only alerts that started at or after this time (RFC 3339).
    since: Option<String>,
    /// History page size, 1..=1000 (default 50).
    limit: Option<String>,
    /// `next_cursor` of the previous page.
    cursor: Option<String>,
    /// Only alerts of rules watching this tenant (tenant-bound keys always see only their own).
    tenant_id: Option<String>,
}

/// Alerts firing now and the alert history (newest first, cursor-paged): rule, key,
/// state, value, threshold, window, severity, started and resolved times, and the id of
/// the SYS/SEC event stored for each firing.
#[utoipa::path(
    get, path = "/api/alerts", tag = "analytics", params(AlertsParams),
    responses(
        (status = 200, body = AlertsView),
        (status = 400, body = ErrorResponse), (status = 401, body = ErrorResponse), (status = 403, body = ErrorResponse),
    ),
    security(("api_key" = []))
)]
pub(crate) async fn alerts(
    State(state): State<AppState>,
    caller: Caller,
    params: Result<Query<AlertsParams>, QueryRejection>,
) -> Result<Json<AlertsView>, ApiError> {
    let Query(p) = params.map_err(query_error)?;
    let alert_state = match non_empty(p.state) {
        None => None,
        Some(s) => Some(AlertState::parse(&s).ok_or_else(|| {
            ApiError::bad_request(
                "invalid_query",
                format!("`{s}` is not an alert state; expected firing or resolved"),
            )
            .field("state")
        })?),
    };
    let filter = AlertFilter {
        state: alert_state,
        since: time_param("since", p.since)?,
        limit: limit(p.limit, 50, 1000)?,
        cursor: non_empty(p.cursor),
        tenant_id: caller.scope_tenant(non_empty(p.tenant_id))?,
    };
    Ok(Json(alerts_view(&state, &filter).await?))
}
