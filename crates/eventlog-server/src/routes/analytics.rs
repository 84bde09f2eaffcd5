//! Analytics endpoints: thin wrappers that parse the window and call the query layer
//! (`eventlog_store::analytics::Analytics`). No handler computes a number itself.

use axum::extract::rejection::QueryRejection;
use axum::extract::{Query, State};
use axum::Json;
use chrono::{DateTime, Duration, Utc};
use eventlog_core::Importance;
use eventlog_store::analytics::{
    ActivityPage, ActivityQuery, CriticalReport, EndpointsReport, ModelsReport, PerformanceReport,
    SecurityReport, Summary, Timeseries, UsersReport,
};
use eventlog_store::Cursor;
use serde::Deserialize;
use utoipa::IntoParams;

use super::query::{list, non_empty, time_param};
use super::query_error;
use crate::auth::Caller;
use crate::error::ErrorResponse;
use crate::{ApiError, AppState};

use super::MAX_HOURS;

/// The window of an analytics request: `since`/`until` (RFC 3339), else the last `hours`.
struct Span {
    since: DateTime<Utc>,
    until: DateTime<Utc>,
}

fn span(
    hours: Option<String>,
    since: Option<String>,
    until: Option<String>,
    default_hours: i64,
) -> Result<Span, ApiError> {
    let (hours, since) = (non_empty(hours), non_empty(since));
    if hours.is_some() && since.is_some() {
        // Both set the window's start: which one the caller meant is a guess.
        return Err(ApiError::bad_request(
            "invalid_query",
            "give `hours` or `since`, not both (`hours` counts back from `until`, or from now)",
        )
        .field("hours"));
    }
    let until = time_param("until", until)?.unwrap_or_else(Utc::now);
    let hours = match hours {
        None => default_hours,
        Some(h) => h
            .parse::<i64>()
            .ok()
            .filter(|n| (1..=MAX_HOURS).contains(n))
            .ok_or_else(|| {
                ApiError::bad_request(
                    "invalid_query",
                    format!("`{h}` is not a number of hours from 1 to {MAX_HOURS}"),
                )
                .field("hours")
            })?,
    };
    let since = time_param("since", since)?.unwrap_or(until - Duration::hours(hours));
    if since >= until {
        return Err(
            ApiError::bad_request("invalid_query", "`since` must be before `until`").field("since"),
        );
    }
    Ok(Span { since, until })
}

pub(super) fn limit(value: Option<String>, default: u32, max: u32) -> Result<u32, ApiError> {
    match non_empty(value) {
        None => Ok(default),
        Some(l) => l
            .parse::<u32>()
            .ok()
            .filter(|n| (1..=max).contains(n))
            .ok_or_else(|| {
                ApiError::bad_request(
                    "invalid_query",
                    format!("`{l}` is not a number from 1 to {max}"),
                )
                .field("limit")
            }),
    }
}

/// The window of an analytics report.
#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub(crate) struct WindowParams {
    /// Hours back from `until` (default: 24; 1 for endpoints and performance).
    hours: Option<String>,
    /// Start (RFC 3339); overrides `hours`.
    since: Option<String>,
    /// End (RFC 3339, exclusive; default now).
    until: Option<String>,
    /// Only this tenant (tenant-bound keys always see only their own).
    tenant_id: Option<String>,
}

/// The window of a listing report, and its length.
#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub(crate) struct ListParams {
    /// Hours back from `until` (default 24).
    hours: Option<String>,
    /// Start (RFC 3339); overrides `hours`.
    since: Option<String>,
    /// End (RFC 3339, exclusive; default now).
    until: Option<String>,
    /// Only this tenant.
    tenant_id: Option<String>,
    /// Most rows, 1..=1000 (default 100).
    limit: Option<String>,
}

macro_rules! window_report {
    ($name:ident, $path:literal, $body:ty, $default_hours:expr, $what:literal) => {
        #[doc = $what]
        #[utoipa::path(
            get, path = $path, tag = "analytics", params(WindowParams),
            operation_id = concat!("analytics_", stringify!($name)),
            description = $what,
            responses(
                (status = 200, body = $body),
                (status = 400, body = ErrorResponse), (status = 401, body = ErrorResponse), (status = 403, body = ErrorResponse),
            ),
            security(("api_key" = []))
        )]
        pub(crate) async fn $name(
            State(state): State<AppState>,
            caller: Caller,
            params: Result<Query<WindowParams>, QueryRejection>,
        ) -> Result<Json<$body>, ApiError> {
            let Query(p) = params.map_err(query_error)?;
            let tenant = caller.scope_tenant(non_empty(p.tenant_id))?;
            let s = span(p.hours, p.since, p.until, $default_hours)?;
            Ok(Json(
                state
                    .analytics
                    .$name(s.since, s.until, tenant.as_deref())
                    .await?,
            ))
        }
    };
}

window_report!(
    summary,
    "/api/events/analytics/summary",
    Summary,
    24,
    "Totals; by category, severity and status; error rate; response-time average and percentiles; requests per minute; active users."
);
window_report!(
    endpoints,
    "/api/events/analytics/endpoints",
    EndpointsReport,
    1,
    "Error rate by endpoint (seed 002): endpoint templates (`/api/siswa/{id}`: record ids in paths become `{id}`) with more than 10 requests in the window (default the last hour), highest error rate first."
);
window_report!(
    security,
    "/api/events/analytics/security",
    SecurityReport,
    24,
    "Security events dashboard (seed 002): SECURITY events by type with count and latest time."
);
window_report!(
    models,
    "/api/events/analytics/models",
    ModelsReport,
    24,
    "Model performance (seed 002): per hour, mean response_data.confidence and count of successful individual predictions."
);
window_report!(
    performance,
    "/api/events/analytics/performance",
    PerformanceReport,
    1,
    "System performance (seed 002): per event name (paths in it templated like endpoints), mean and max processing time and count, over the last hour by default."
);

/// Recent critical events (seed 002): how many in the window, and the newest of them.
#[utoipa::path(
    get, path = "/api/events/analytics/critical", tag = "analytics", params(ListParams),
    responses(
        (status = 200, body = CriticalReport),
        (status = 400, body = ErrorResponse), (status = 401, body = ErrorResponse), (status = 403, body = ErrorResponse),
    ),
    security(("api_key" = []))
)]
pub(crate) async fn critical(
    State(state): State<AppState>,
    caller: Caller,
    params: Result<Query<ListParams>, QueryRejection>,
) -> Result<Json<CriticalReport>, ApiError> {
    let Query(p) = params.map_err(query_error)?;
    let tenant = caller.scope_tenant(non_empty(p.tenant_id))?;
    let s = span(p.hours, p.since, p.until, 24)?;
    let limit = limit(p.limit, 100, 1000)?;
    Ok(Json(
        state
            .analytics
            .critical(s.since, s.until, limit, tenant.as_deref())
            .await?,
    ))
}

/// User activity summary (seed 002): events and last activity per username, most active
/// first.
#[utoipa::path(
    get, path = "/api/events/analytics/users", tag = "analytics", params(ListParams),
    responses(
        (status = 200, body = UsersReport),
        (status = 400, body = ErrorResponse), (status = 401, body = ErrorResponse), (status = 403, body = ErrorResponse),
    ),
    security(("api_key" = []))
)]
pub(crate) async fn users(
    State(state): State<AppState>,
    caller: Caller,
    params: Result<Query<ListParams>, QueryRejection>,
) -> Result<Json<UsersReport>, ApiError> {
    let Query(p) = params.map_err(query_error)?;
    let tenant = caller.scope_tenant(non_empty(p.tenant_id))?;
    let s = span(p.hours, p.since, p.until, 24)?;
    let limit = limit(p.limit, 100, 1000)?;
    Ok(Json(
        state
            .analytics
            .users(s.since, s.until, limit, tenant.as_deref())
            .await?,
    ))
}

/// Parameters of `GET /api/events/analytics/timeseries`.
#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub(crate) struct TimeseriesParams {
    /// events (default), errors, failures, error_rate, requests, avg_response_ms,
    /// p95_response_ms, active_users.
    metric: Option<String>,
    /// minute, hour (default) or day.
    interval: Option<String>,
    /// One series per value of: category, type, code, severity, status, importance,
    /// endpoint, event_name.
    group_by: Option<String>,
    /// Hours back from `until` (default 24).
    hours: Option<String>,
    /// Start (RFC 3339); overrides `hours`.
    since: Option<String>,
    /// End (RFC 3339, exclusive; default now).
    until: Option<String>,
    /// Only this tenant.
    tenant_id: Option<String>,
}

/// A metric per minute, hour or day, for charts; optionally one series per group.
#[utoipa::path(
    get, path = "/api/events/analytics/timeseries", tag = "analytics", params(TimeseriesParams),
    responses(
        (status = 200, body = Timeseries),
        (status = 400, body = ErrorResponse), (status = 401, body = ErrorResponse), (status = 403, body = ErrorResponse),
    ),
    security(("api_key" = []))
)]
pub(crate) async fn timeseries(
    State(state): State<AppState>,
    caller: Caller,
    params: Result<Query<TimeseriesParams>, QueryRejection>,
) -> Result<Json<Timeseries>, ApiError> {
    let Query(p) = params.map_err(query_error)?;
    let tenant = caller.scope_tenant(non_empty(p.tenant_id))?;
    let s = span(p.hours, p.since, p.until, 24)?;
    let metric = non_empty(p.metric).unwrap_or_else(|| "events".into());
    let interval = non_empty(p.interval).unwrap_or_else(|| "hour".into());
    Ok(Json(
        state
            .analytics
            .timeseries(
                &metric,
                &interval,
                non_empty(p.group_by).as_deref(),
                s.since,
                s.until,
                tenant.as_deref(),
            )
            .await?,
    ))
}

/// Parameters of `GET /api/activities`.
#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub(crate) struct ActivityParams {
    /// MAJOR or MINOR (default both).
    importance: Option<String>,
    /// Categories, comma-separated, e.g. `PLATFORM`.
    category: Option<String>,
    /// Page size, 1..=200 (default 50).
    limit: Option<String>,
    /// `next_cursor` of the previous page.
    cursor: Option<String>,
    /// Only events at or after this RFC 3339 time.
    since: Option<String>,
    /// Only events before this RFC 3339 time.
    until: Option<String>,
    /// Only this tenant.
    tenant_id: Option<String>,
}

/// The activities feed (seed 003): newest first, as sentences with icon, colour, actor
/// and related entities; MAJOR/MINOR filter; cursor pagination.
#[utoipa::path(
    get, path = "/api/activities", tag = "analytics", params(ActivityParams),
    responses(
        (status = 200, body = ActivityPage),
        (status = 400, body = ErrorResponse), (status = 401, body = ErrorResponse), (status = 403, body = ErrorResponse),
    ),
    security(("api_key" = []))
)]
pub(crate) async fn activities(
    State(state): State<AppState>,
    caller: Caller,
    params: Result<Query<ActivityParams>, QueryRejection>,
) -> Result<Json<ActivityPage>, ApiError> {
    let Query(p) = params.map_err(query_error)?;
    let importance = non_empty(p.importance)
        .map(|i| {
            i.trim()
                .to_ascii_uppercase()
                .parse::<Importance>()
                .map_err(|_| {
                    ApiError::bad_request(
                        "invalid_query",
                        format!("unknown importance `{i}`; expected MAJOR or MINOR"),
                    )
                    .field("importance")
                })
        })
        .transpose()?;
    let cursor = non_empty(p.cursor)
        .map(|c| {
            Cursor::decode(&c).ok_or_else(|| {
                ApiError::bad_request(
                    "invalid_query",
                    "not a cursor this server issued; pass next_cursor unchanged",
                )
                .field("cursor")
            })
        })
        .transpose()?;
    let query = ActivityQuery {
        limit: limit(p.limit, 50, 200)?,
        cursor,
        importance,
        category: list(p.category, true),
        tenant_id: caller.scope_tenant(non_empty(p.tenant_id))?,
        since: time_param("since", p.since)?,
        until: time_param("until", p.until)?,
    };
    Ok(Json(state.analytics.activities(&query).await?))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hours_and_since_together_are_refused_and_hours_counts_back_from_until() {
        let err = span(
            Some("2".into()),
            Some("2026-01-01T00:00:00Z".into()),
            None,
            24,
        )
        .err()
        .expect("refused");
        assert_eq!(err.body().field.as_deref(), Some("hours"));
        let s = span(
            Some("2".into()),
            None,
            Some("2026-01-01T00:00:00Z".into()),
            24,
        )
        .unwrap();
        assert_eq!(s.until - s.since, Duration::hours(2));
    }
}
