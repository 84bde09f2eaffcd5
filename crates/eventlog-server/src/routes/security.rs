//! `GET /api/events/security`: the security overview, for admins only.

use axum::extract::rejection::QueryRejection;
use axum::extract::{Query, State};
use axum::Json;
use chrono::{Duration, Utc};
use eventlog_store::SecuritySummary;
use serde::Deserialize;
use utoipa::IntoParams;

use super::query_error;
use crate::auth::Caller;
use crate::error::ErrorResponse;
use crate::{ApiError, AppState};

/// Window (and tenant) of the security overview.
#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub(crate) struct SecurityParams {
    /// Hours to look back, 1..=8784 (default 24).
    hours: Option<String>,
    /// Only this tenant (a tenant-bound key always sees only its own).
    tenant_id: Option<String>,
}

/// Failed logins by user and by IP, attacks by type, lockouts, top offending IPs and
/// privilege escalation attempts in the last `hours`. Admin only.
#[utoipa::path(
    get, path = "/api/events/security", tag = "query",
    params(SecurityParams),
    responses(
        (status = 200, body = SecuritySummary),
        (status = 400, body = ErrorResponse), (status = 401, body = ErrorResponse),
        (status = 403, description = "Not an admin key, or another tenant asked for", body = ErrorResponse),
    ),
    security(("api_key" = []))
)]
pub(crate) async fn security(
    State(state): State<AppState>,
    caller: Caller,
    params: Result<Query<SecurityParams>, QueryRejection>,
) -> Result<Json<SecuritySummary>, ApiError> {
    // Admin only: enforced by the access matrix (crate::rbac) before this runs.
    let Query(params) = params.map_err(query_error)?;
    let hours = match params.hours.filter(|h| !h.trim().is_empty()) {
        None => 24,
        Some(h) => h
            .trim()
            .parse::<i64>()
            .ok()
            .filter(|n| (1..=super::MAX_HOURS).contains(n))
            .ok_or_else(|| {
                ApiError::bad_request(
                    "invalid_query",
                    format!(
                        "`{h}` is not a number of hours from 1 to {}",
                        super::MAX_HOURS
                    ),
                )
                .field("hours")
            })?,
    };
    let tenant = caller.scope_tenant(params.tenant_id.filter(|t| !t.is_empty()))?;
    let since = Utc::now() - Duration::hours(hours);
    Ok(Json(
        state
            .store
            .security_summary(since, tenant.as_deref())
            .await?,
    ))
}
