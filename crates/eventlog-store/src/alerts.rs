//! Alert state and history: one row per firing of a rule for a key (a user, or `''` for a
//! rule-wide alert), resolved in place. The server's evaluator decides when a rule fires or
//! resolves; the store guarantees that a rule and key have at most one firing row (a
//! partial unique index), so a restart or a second server never fires the same alert
//! twice.

use chrono::{DateTime, Utc};
use serde::Serialize;
use utoipa::ToSchema;

/// Whether an alert is still firing.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum AlertState {
    /// The condition holds.
    Firing,
    /// The condition stopped holding at `resolved_at`.
    Resolved,
}

impl AlertState {
    /// `firing` or `resolved` (the stored form).
    pub fn as_str(self) -> &'static str {
        match self {
            AlertState::Firing => "firing",
            AlertState::Resolved => "resolved",
        }
    }

    /// Parses the stored form.
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "firing" => Some(AlertState::Firing),
            "resolved" => Some(AlertState::Resolved),
            _ => None,
        }
    }
}

/// A firing about to be recorded.
#[derive(Debug, Clone)]
pub struct NewAlert {
    /// Rule name (from the configuration).
    pub rule: String,
    /// What the rule watches for (`error_rate`, `failed_logins`...).
    pub kind: String,
    /// The key within the rule: the user for `failed_logins`, `''` otherwise.
    pub key: String,
    /// The rule's severity.
    pub severity: String,
    /// The tenant the rule watches, `None` for all.
    pub tenant_id: Option<String>,
    /// The measured value that crossed the threshold.
    pub value: f64,
    /// The threshold.
    pub threshold: f64,
    /// The window the value was measured over, in seconds (0 for an instant reading).
    pub window_secs: i64,
    /// One sentence for people.
    pub message: String,
    /// The event recording the firing (stored through the normal write path).
    pub event_id: Option<String>,
    /// When it started firing.
    pub started_at: DateTime<Utc>,
}

/// One alert, firing or resolved.
#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
pub struct Alert {
    /// Store-assigned id, increasing.
    pub id: i64,
    /// Rule name.
    pub rule: String,
    /// What the rule watches for.
    pub kind: String,
    /// The key within the rule (`''` for a rule-wide alert).
    pub key: String,
    /// The rule's severity.
    pub severity: String,
    /// The tenant the rule watches, `null` for all.
    pub tenant_id: Option<String>,
    /// `firing` or `resolved`.
    pub state: AlertState,
    /// The value when it fired.
    pub value: f64,
    /// The threshold.
    pub threshold: f64,
    /// Window in seconds (0 for an instant reading).
    pub window_secs: i64,
    /// One sentence for people.
    pub message: String,
    /// The SYS/SEC event stored for the firing.
    pub event_id: Option<String>,
    /// When it started firing.
    pub started_at: DateTime<Utc>,
    /// When it resolved.
    pub resolved_at: Option<DateTime<Utc>>,
    /// The value when it resolved.
    pub resolved_value: Option<f64>,
}

/// A page request of alert history, newest first.
#[derive(Debug, Clone, Default)]
pub struct AlertQuery {
    /// Only firing or only resolved alerts.
    pub state: Option<AlertState>,
    /// Only alerts that started at or after this time.
    pub since: Option<DateTime<Utc>>,
    /// Only alerts of this tenant's rules (tenant-bound callers).
    pub tenant_id: Option<String>,
    /// Page size, 1..=1000.
    pub limit: u32,
    /// Continue below this id.
    pub before_id: Option<i64>,
}

/// One page of alerts, newest first.
#[derive(Debug, Clone)]
pub struct AlertPage {
    /// The alerts.
    pub alerts: Vec<Alert>,
    /// Id to continue below, when there may be more.
    pub next_before_id: Option<i64>,
}

/// Cuts a fetched `limit + 1` rows down to a page.
pub(crate) fn finish_alert_page(mut alerts: Vec<Alert>, limit: u32) -> AlertPage {
    let more = alerts.len() > limit as usize;
    alerts.truncate(limit as usize);
    AlertPage {
        next_before_id: more.then(|| alerts.last().map(|a| a.id)).flatten(),
        alerts,
    }
}
