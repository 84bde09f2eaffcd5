//! What `GET /api/alerts` answers, as a plain function the dashboard calls too, so the
//! alerts page and the API can never disagree.

use chrono::{DateTime, Utc};
use eventlog_store::alerts::{Alert, AlertQuery, AlertState};
use serde::Serialize;
use utoipa::ToSchema;

use crate::{ApiError, AppState};

/// Most alerts the `firing` list holds.
const MAX_FIRING: u32 = 1000;

/// Which alert history to show.
#[derive(Debug, Clone, Default)]
pub struct AlertFilter {
    /// Only firing or only resolved alerts in the history.
    pub state: Option<AlertState>,
    /// Only alerts that started at or after this time.
    pub since: Option<DateTime<Utc>>,
    /// History page size, 1..=1000.
    pub limit: u32,
    /// `next_cursor` of the previous page.
    pub cursor: Option<String>,
    /// Only alerts of rules watching this tenant (set for tenant-bound callers).
    pub tenant_id: Option<String>,
}

/// Current alerts and a page of history.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct AlertsView {
    /// Every alert firing now, newest first (not paged, not filtered by `state`/`since`).
    pub firing: Vec<Alert>,
    /// History (firing and resolved), newest first, filtered.
    pub alerts: Vec<Alert>,
    /// Pass as `cursor` for the next page; null on the last one.
    pub next_cursor: Option<String>,
}

/// Current alerts and one page of history for `filter`.
pub async fn alerts_view(state: &AppState, filter: &AlertFilter) -> Result<AlertsView, ApiError> {
    let before_id = match filter.cursor.as_deref() {
        None => None,
        Some(c) => Some(c.parse::<i64>().ok().filter(|id| *id > 0).ok_or_else(|| {
            ApiError::bad_request(
                "invalid_query",
                "`cursor` is not one this endpoint handed out",
            )
            .field("cursor")
        })?),
    };
    let firing = state
        .store
        .alerts(&AlertQuery {
            state: Some(AlertState::Firing),
            tenant_id: filter.tenant_id.clone(),
            limit: MAX_FIRING,
            ..Default::default()
        })
        .await?;
    let page = state
        .store
        .alerts(&AlertQuery {
            state: filter.state,
            since: filter.since,
            tenant_id: filter.tenant_id.clone(),
            limit: filter.limit.clamp(1, 1000),
            before_id,
        })
        .await?;
    Ok(AlertsView {
        firing: firing.alerts,
        alerts: page.alerts,
        next_cursor: page.next_before_id.map(|id| id.to_string()),
    })
}
