//! Reading events: recent (filtered, keyset-paged), one by id, a user's activity.

use axum::extract::rejection::{PathRejection, QueryRejection};
use axum::extract::{Path, Query, State};
use axum::Json;
use chrono::{DateTime, Duration, Utc};
use eventlog_core::validate::parse_time_bound;
use eventlog_core::{Severity, StoredEvent, ValidationPolicy};
use eventlog_store::{Cursor, Page, RecentQuery, UserActivity};
use serde::Deserialize;
use utoipa::IntoParams;

use super::{path_error, query_error};
use crate::auth::Caller;
use crate::error::ErrorResponse;
use crate::{ApiError, AppState};

/// Filters of `GET /api/events/recent`. List filters take comma-separated values.
#[derive(Debug, Default, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub(crate) struct RecentParams {
    /// Page size, 1..=1000 (default 50).
    limit: Option<String>,
    /// `next_cursor` of the previous page.
    cursor: Option<String>,
    /// Events at or after this RFC 3339 time.
    since: Option<String>,
    /// Events before this RFC 3339 time.
    until: Option<String>,
    /// Categories, e.g. `AUTH,SECURITY`.
    category: Option<String>,
    /// Event types.
    event_type: Option<String>,
    /// Catalog codes.
    event_code: Option<String>,
    /// Severities, e.g. `ERROR,CRITICAL`.
    severity: Option<String>,
    /// Statuses, e.g. `FAILED`.
    status: Option<String>,
    /// User id.
    user_id: Option<String>,
    /// Username.
    username: Option<String>,
    /// Client IP address.
    ip_address: Option<String>,
    /// Endpoint.
    endpoint: Option<String>,
    /// Resource type.
    resource_type: Option<String>,
    /// Resource id.
    resource_id: Option<String>,
    /// Tenant.
    tenant_id: Option<String>,
    /// Session id.
    session_id: Option<String>,
    /// Correlation (request/trace) id.
    correlation_id: Option<String>,
}

pub(super) fn list(value: Option<String>, upper: bool) -> Vec<String> {
    value
        .map(|v| {
            v.split(',')
                .map(str::trim)
                .filter(|s| !s.is_empty())
                .map(|s| {
                    if upper {
                        s.to_ascii_uppercase()
                    } else {
                        s.to_owned()
                    }
                })
                .collect()
        })
        .unwrap_or_default()
}

pub(super) fn time_param(
    name: &str,
    value: Option<String>,
) -> Result<Option<DateTime<Utc>>, ApiError> {
    value
        .filter(|v| !v.is_empty())
        .map(|v| {
            parse_time_bound(&v).ok_or_else(|| {
                // `+01:00` sent unencoded arrives as ` 01:00`: say how to send it.
                let hint = if v.contains(' ') {
                    "; a `+` in a URL must be written %2B"
                } else {
                    ""
                };
                ApiError::bad_request(
                    "invalid_query",
                    format!("`{v}` is not an RFC 3339 time or a date (e.g. 2025-06-19T14:30:52Z or 2025-06-19){hint}"),
                )
                .field(name)
            })
        })
        .transpose()
}

pub(super) fn non_empty(v: Option<String>) -> Option<String> {
    v.filter(|s| !s.is_empty())
}

impl RecentParams {
    /// The query of an export: `limit` is the chunk size read at a time (default
    /// [`crate::export::EXPORT_PAGE`]).
    pub(super) fn into_export_query(
        mut self,
        caller: &Caller,
        policy: &ValidationPolicy,
    ) -> Result<RecentQuery, ApiError> {
        if non_empty(self.limit.clone()).is_none() {
            self.limit = Some(crate::export::EXPORT_PAGE.to_string());
        }
        self.into_query(caller, policy)
    }

    /// The store query these parameters ask for, scoped to the caller's tenant. A category
    /// or status no event can have (`policy`) is a typo: refused, not answered with nothing.
    pub(crate) fn into_query(
        self,
        caller: &Caller,
        policy: &ValidationPolicy,
    ) -> Result<RecentQuery, ApiError> {
        let limit = match non_empty(self.limit) {
            None => 50,
            Some(l) => l
                .parse::<u32>()
                .ok()
                .filter(|n| (1..=1000).contains(n))
                .ok_or_else(|| {
                    ApiError::bad_request(
                        "invalid_query",
                        format!("`{l}` is not a number from 1 to 1000"),
                    )
                    .field("limit")
                })?,
        };
        let cursor = non_empty(self.cursor)
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
        let severity = list(self.severity, true);
        if let Some(bad) = severity.iter().find(|s| s.parse::<Severity>().is_err()) {
            return Err(ApiError::bad_request(
                "invalid_query",
                format!(
                    "unknown severity `{bad}`; expected DEBUG, INFO, WARNING, ERROR or CRITICAL"
                ),
            )
            .field("severity"));
        }
        let severity = severity
            .iter()
            .filter_map(|s| s.parse::<Severity>().ok())
            .map(|s| s.as_str().to_owned())
            .collect();
        let category = list(self.category, true);
        if let Some(bad) = category.iter().find(|c| !policy.knows_category(c)) {
            return Err(ApiError::bad_request(
                "invalid_query",
                format!(
                    "unknown category `{bad}`; expected one of {}",
                    policy.categories_listed()
                ),
            )
            .field("category"));
        }
        let status = list(self.status, true);
        if let Some(bad) = status.iter().find(|s| !policy.knows_status(s)) {
            return Err(ApiError::bad_request(
                "invalid_query",
                format!(
                    "unknown status `{bad}`; expected one of {}",
                    policy.statuses_listed()
                ),
            )
            .field("status"));
        }
        let ip_address = non_empty(self.ip_address)
            .map(|ip| {
                ip.trim()
                    .parse::<std::net::IpAddr>()
                    .map(|ip| ip.to_canonical())
                    .map_err(|_| {
                        ApiError::bad_request(
                            "invalid_query",
                            format!("`{ip}` is not an IP address"),
                        )
                        .field("ip_address")
                    })
            })
            .transpose()?;
        let since = time_param("since", self.since)?;
        let until = time_param("until", self.until)?;
        if let (Some(since), Some(until)) = (since, until) {
            if since >= until {
                return Err(ApiError::bad_request(
                    "invalid_query",
                    "`since` must be before `until`",
                )
                .field("since"));
            }
        }
        Ok(RecentQuery {
            limit,
            cursor,
            since,
            until,
            category,
            event_type: list(self.event_type, false),
            event_code: eventlog_store::codes_in_any_case(list(self.event_code, false)),
            severity,
            status,
            user_id: non_empty(self.user_id),
            username: non_empty(self.username),
            ip_address,
            endpoint: non_empty(self.endpoint),
            resource_type: non_empty(self.resource_type),
            resource_id: non_empty(self.resource_id),
            tenant_id: caller.scope_tenant(non_empty(self.tenant_id))?,
            session_id: non_empty(self.session_id),
            correlation_id: non_empty(self.correlation_id),
        })
    }
}

/// Recent events, newest first, filtered, one page at a time.
#[utoipa::path(
    get, path = "/api/events/recent", tag = "query", params(RecentParams),
    responses(
        (status = 200, description = "A page of events; pass next_cursor as cursor for the next", body = Page),
        (status = 400, body = ErrorResponse), (status = 401, body = ErrorResponse), (status = 403, body = ErrorResponse),
    ),
    security(("api_key" = []))
)]
pub(crate) async fn recent(
    State(state): State<AppState>,
    caller: Caller,
    params: Result<Query<RecentParams>, QueryRejection>,
) -> Result<Json<Page>, ApiError> {
    let Query(params) = params.map_err(query_error)?;
    let query = params.into_query(&caller, state.validator.policy())?;
    Ok(Json(state.store.recent(&query).await?))
}

/// One event by id.
#[utoipa::path(
    get, path = "/api/events/{event_id}", tag = "query",
    params(("event_id" = String, Path, description = "The event id")),
    responses(
        (status = 200, body = StoredEvent),
        (status = 401, body = ErrorResponse), (status = 403, body = ErrorResponse), (status = 404, body = ErrorResponse),
    ),
    security(("api_key" = []))
)]
pub(crate) async fn get_event(
    State(state): State<AppState>,
    caller: Caller,
    event_id: Result<Path<String>, PathRejection>,
) -> Result<Json<StoredEvent>, ApiError> {
    let Path(event_id) = event_id.map_err(|e| path_error("event_id", e))?;
    state
        .store
        .get_event(&event_id, caller.tenant())
        .await?
        .map(Json)
        .ok_or_else(|| {
            ApiError::not_found(format!("no event with id `{event_id}`")).field("event_id")
        })
}

/// Window of `GET /api/events/user-activity/{user_id}`.
#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub(crate) struct ActivityParams {
    /// Days to look back, 1..=3650 (default 30).
    days: Option<String>,
}

/// What one user did: counts by category and status, failures, last login, recent events.
#[utoipa::path(
    get, path = "/api/events/user-activity/{user_id}", tag = "query",
    params(("user_id" = String, Path, description = "The user id"), ActivityParams),
    responses(
        (status = 200, body = UserActivity),
        (status = 400, body = ErrorResponse), (status = 401, body = ErrorResponse), (status = 403, body = ErrorResponse),
    ),
    security(("api_key" = []))
)]
pub(crate) async fn user_activity(
    State(state): State<AppState>,
    caller: Caller,
    user_id: Result<Path<String>, PathRejection>,
    params: Result<Query<ActivityParams>, QueryRejection>,
) -> Result<Json<UserActivity>, ApiError> {
    let Path(user_id) = user_id.map_err(|e| path_error("user_id", e))?;
    let Query(params) = params.map_err(query_error)?;
    let days = match non_empty(params.days) {
        None => 30,
        Some(d) => d
            .parse::<i64>()
            .ok()
            .filter(|n| (1..=3650).contains(n))
            .ok_or_else(|| {
                ApiError::bad_request(
                    "invalid_query",
                    format!("`{d}` is not a number of days from 1 to 3650"),
                )
                .field("days")
            })?,
    };
    let since = Utc::now() - Duration::days(days);
    Ok(Json(
        state
            .store
            .user_activity(&user_id, since, caller.tenant())
            .await?,
    ))
}
