//! The security overview (`GET /api/events/security`): failed logins, attacks, lockouts,
//! offending IPs and escalation attempts in a window, counted the same way by both
//! backends (the conditions below are shared; only placeholders and IP text differ).

use chrono::{DateTime, Utc};
use eventlog_core::StoredEvent;
use serde::Serialize;
use utoipa::ToSchema;

use crate::query::Count;

/// How many rows each "top" list and each recent-event list holds.
pub const SECURITY_TOP: i64 = 20;

/// [`eventlog_core::EventRecord::is_failed_login`] in SQL: the same rule for the reports
/// that read events as for the rollups and detection that see them arrive. `$c` is the
/// collation that makes `upper()` change ASCII letters only, as Rust's comparison does
/// (SQLite's `upper()` does by itself; PostgreSQL's follows the database's locale).
macro_rules! failed_login_sql {
    ($c:literal) => {
        concat!(
            "(event_code = 'AUTH-002' OR upper(event_type",
            $c,
            ") = 'LOGIN_FAILED' ",
            "OR (upper(event_type",
            $c,
            ") = 'USER_LOGIN' ",
            "AND upper(status",
            $c,
            ") IN ('FAILED', 'FAILURE', 'DENIED', 'BLOCKED')))"
        )
    };
}

/// Events an overview looks at: failed logins, security events, lockouts.
macro_rules! security_relevant_sql {
    ($c:literal) => {
        concat!(
            "(event_category = 'SECURITY' OR event_code IN ('AUTH-005', 'AUTH-009') OR ",
            failed_login_sql!($c),
            ")"
        )
    };
}

/// A failed login, in SQLite.
pub(crate) const SQLITE_FAILED_LOGIN: &str = failed_login_sql!("");
/// A failed login, in PostgreSQL.
pub(crate) const PG_FAILED_LOGIN: &str = failed_login_sql!(" COLLATE \"C\"");
/// What the security overview looks at, in SQLite.
pub(crate) const SQLITE_SECURITY_RELEVANT: &str = security_relevant_sql!("");
/// What the security overview looks at, in PostgreSQL.
pub(crate) const PG_SECURITY_RELEVANT: &str = security_relevant_sql!(" COLLATE \"C\"");

/// A security event that reports an attack: not the events the alert rules store about
/// their own firings (source `eventlog-alerts`), which say what was counted, not that
/// another attack happened. Detection's findings (`eventlog-detect`) are attacks.
pub(crate) const ATTACK: &str = "(event_category = 'SECURITY' \
    AND (source IS NULL OR source <> 'eventlog-alerts'))";

/// What happened security-wise since `since`.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct SecuritySummary {
    /// Start of the window.
    pub since: DateTime<Utc>,
    /// Failed logins in the window.
    pub failed_logins: i64,
    /// Failed logins per username, most first.
    pub failed_logins_by_user: Vec<Count>,
    /// Failed logins per client IP, most first.
    pub failed_logins_by_ip: Vec<Count>,
    /// Events of category SECURITY in the window (not counting the alert rules' own).
    pub security_events: i64,
    /// SECURITY events per code (SEC-001 ... SEC-012), most first (not counting the alert
    /// rules' own).
    pub attacks_by_type: Vec<Count>,
    /// IPs behind the most failed logins and security events.
    pub top_offending_ips: Vec<Count>,
    /// Accounts locked (AUTH-005) in the window.
    pub lockout_count: i64,
    /// The most recent lockouts.
    pub lockouts: Vec<StoredEvent>,
    /// Privilege escalation attempts (SEC-007) in the window.
    pub escalation_count: i64,
    /// The most recent escalation attempts.
    pub escalation_attempts: Vec<StoredEvent>,
}
