//! The security overview on SQLite.

use chrono::{DateTime, Utc};
use sqlx::Row;

use super::{counts, micros, SqliteStore, SELECT_COLUMNS};
use crate::security::{
    SecuritySummary, ATTACK, SECURITY_TOP, SQLITE_FAILED_LOGIN as FAILED_LOGIN,
    SQLITE_SECURITY_RELEVANT as SECURITY_RELEVANT,
};
use crate::StoreError;

/// The window and tenant clause every query shares: binds since, tenant, tenant.
const SCOPE: &str = "timestamp >= ? AND (? IS NULL OR tenant_id = ?)";

impl SqliteStore {
    pub(super) async fn security_overview(
        &self,
        since: DateTime<Utc>,
        tenant: Option<&str>,
    ) -> Result<SecuritySummary, StoreError> {
        let since_us = micros(since);
        let grouped = |column: &str, condition: &str| {
            format!(
                "SELECT {column} AS value, count(*) AS n FROM events WHERE {SCOPE} AND {condition} \
                 AND {column} IS NOT NULL GROUP BY {column} ORDER BY n DESC, value LIMIT ?"
            )
        };
        let mut lists = Vec::new();
        for (column, condition) in [
            ("username", FAILED_LOGIN),
            ("ip_address", FAILED_LOGIN),
            ("event_code", ATTACK),
            ("ip_address", SECURITY_RELEVANT),
        ] {
            let rows = sqlx::query(&grouped(column, condition))
                .bind(since_us)
                .bind(tenant)
                .bind(tenant)
                .bind(SECURITY_TOP)
                .fetch_all(&self.reader)
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
        .bind(since_us)
        .bind(tenant)
        .bind(tenant)
        .fetch_one(&self.reader)
        .await?;
        let mut recent = Vec::new();
        for code in ["AUTH-005", "SEC-007"] {
            let rows = sqlx::query(&format!(
                "SELECT {SELECT_COLUMNS} FROM events WHERE {SCOPE} AND event_code = ? \
                 ORDER BY timestamp DESC, seq DESC LIMIT ?"
            ))
            .bind(since_us)
            .bind(tenant)
            .bind(tenant)
            .bind(code)
            .bind(SECURITY_TOP)
            .fetch_all(&self.reader)
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
