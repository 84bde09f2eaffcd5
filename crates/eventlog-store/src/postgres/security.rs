//! The security overview on PostgreSQL.

use chrono::{DateTime, Utc};
use sqlx::Row;

use super::{counts, PgStore, SELECT_COLUMNS};
use crate::security::{
    SecuritySummary, ATTACK, PG_FAILED_LOGIN as FAILED_LOGIN,
    PG_SECURITY_RELEVANT as SECURITY_RELEVANT, SECURITY_TOP,
};
use crate::StoreError;

/// The window and tenant clause every query shares: binds $1 since, $2 tenant.
const SCOPE: &str = "\"timestamp\" >= $1 AND ($2::text IS NULL OR tenant_id = $2)";

impl PgStore {
    pub(super) async fn security_overview(
        &self,
        since: DateTime<Utc>,
        tenant: Option<&str>,
    ) -> Result<SecuritySummary, StoreError> {
        let grouped = |column: &str, condition: &str| {
            format!(
                "SELECT {column} AS value, count(*) AS n FROM events WHERE {SCOPE} AND {condition} \
                 AND {column} IS NOT NULL GROUP BY 1 ORDER BY n DESC, value LIMIT $3"
            )
        };
        let mut lists = Vec::new();
        for (column, condition) in [
            ("username", FAILED_LOGIN),
            ("host(ip_address)", FAILED_LOGIN),
            ("event_code", ATTACK),
            ("host(ip_address)", SECURITY_RELEVANT),
        ] {
            let rows = sqlx::query(&grouped(column, condition))
                .bind(since)
                .bind(tenant)
                .bind(SECURITY_TOP)
                .fetch_all(&self.pool)
                .await?;
            lists.push(counts(rows)?);
        }
        let totals = sqlx::query(&format!(
            "SELECT count(*) FILTER (WHERE {FAILED_LOGIN}) AS failed, \
             count(*) FILTER (WHERE {ATTACK}) AS security, \
             count(*) FILTER (WHERE event_code = 'AUTH-005') AS lockouts, \
             count(*) FILTER (WHERE event_code = 'SEC-007') AS escalations \
             FROM events WHERE {SCOPE} AND {SECURITY_RELEVANT}"
        ))
        .bind(since)
        .bind(tenant)
        .fetch_one(&self.pool)
        .await?;
        let mut recent = Vec::new();
        for code in ["AUTH-005", "SEC-007"] {
            let rows = sqlx::query(&format!(
                "SELECT {SELECT_COLUMNS} FROM events WHERE {SCOPE} AND event_code = $3 \
                 ORDER BY \"timestamp\" DESC, seq DESC LIMIT $4"
            ))
            .bind(since)
            .bind(tenant)
            .bind(code)
            .bind(SECURITY_TOP)
            .fetch_all(&self.pool)
            .await?;
            recent.push(
                self.events_in(&rows)
                    .await?
                    .into_iter()
                    .map(|(e, _)| e)
                    .collect(),
            );
        }
        let mut lists = lists.into_iter();
        let mut recent = recent.into_iter();
        Ok(SecuritySummary {
            since,
            failed_logins: totals.try_get("failed")?,
            failed_logins_by_user: lists.next().unwrap_or_default(),
            failed_logins_by_ip: lists.next().unwrap_or_default(),
            security_events: totals.try_get("security")?,
            attacks_by_type: lists.next().unwrap_or_default(),
            top_offending_ips: lists.next().unwrap_or_default(),
            lockout_count: totals.try_get("lockouts")?,
            lockouts: recent.next().unwrap_or_default(),
            escalation_count: totals.try_get("escalations")?,
            escalation_attempts: recent.next().unwrap_or_default(),
        })
    }
}
