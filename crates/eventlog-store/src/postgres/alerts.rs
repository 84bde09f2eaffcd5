//! Alert state and history on PostgreSQL.

use chrono::{DateTime, Utc};
use sqlx::postgres::PgRow;
use sqlx::{Postgres, QueryBuilder, Row};

use super::PgStore;
use crate::alerts::{finish_alert_page, Alert, AlertPage, AlertQuery, AlertState, NewAlert};
use crate::StoreError;

const ALERT_COLUMNS: &str = "id, rule, alert_key, kind, severity, tenant_id, state, value, \
    threshold, window_secs, message, event_id, started_at, resolved_at, resolved_value";

fn row_to_alert(row: &PgRow) -> Result<Alert, StoreError> {
    let state: String = row.try_get("state")?;
    Ok(Alert {
        id: row.try_get("id")?,
        rule: row.try_get("rule")?,
        kind: row.try_get("kind")?,
        key: row.try_get("alert_key")?,
        severity: row.try_get("severity")?,
        tenant_id: row.try_get("tenant_id")?,
        state: AlertState::parse(&state)
            .ok_or_else(|| StoreError::Corrupt(format!("alert state `{state}`")))?,
        value: row.try_get("value")?,
        threshold: row.try_get("threshold")?,
        window_secs: row.try_get("window_secs")?,
        message: row.try_get("message")?,
        event_id: row.try_get("event_id")?,
        started_at: row.try_get("started_at")?,
        resolved_at: row.try_get("resolved_at")?,
        resolved_value: row.try_get("resolved_value")?,
    })
}

impl PgStore {
    pub(super) async fn insert_alert(&self, a: &NewAlert) -> Result<Option<Alert>, StoreError> {
        let row = sqlx::query(&format!(
            "INSERT INTO alerts (rule, alert_key, kind, severity, tenant_id, state, value, \
             threshold, window_secs, message, event_id, started_at) \
             VALUES ($1, $2, $3, $4, $5, 'firing', $6, $7, $8, $9, $10, $11) \
             ON CONFLICT DO NOTHING RETURNING {ALERT_COLUMNS}"
        ))
        .bind(&a.rule)
        .bind(&a.key)
        .bind(&a.kind)
        .bind(&a.severity)
        .bind(&a.tenant_id)
        .bind(a.value)
        .bind(a.threshold)
        .bind(a.window_secs)
        .bind(&a.message)
        .bind(&a.event_id)
        .bind(a.started_at)
        .fetch_optional(&self.pool)
        .await?;
        row.as_ref().map(row_to_alert).transpose()
    }

    pub(super) async fn close_alert(
        &self,
        id: i64,
        at: DateTime<Utc>,
        value: f64,
    ) -> Result<Option<Alert>, StoreError> {
        let row = sqlx::query(&format!(
            "UPDATE alerts SET state = 'resolved', resolved_at = $1, resolved_value = $2 \
             WHERE id = $3 AND state = 'firing' RETURNING {ALERT_COLUMNS}"
        ))
        .bind(at)
        .bind(value)
        .bind(id)
        .fetch_optional(&self.pool)
        .await?;
        row.as_ref().map(row_to_alert).transpose()
    }

    pub(super) async fn latest_alert_rows(&self) -> Result<Vec<Alert>, StoreError> {
        let rows = sqlx::query(&format!(
            "SELECT {ALERT_COLUMNS} FROM alerts WHERE id IN \
             (SELECT max(id) FROM alerts GROUP BY rule, alert_key) ORDER BY id"
        ))
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(row_to_alert).collect()
    }

    pub(super) async fn alert_page(&self, q: &AlertQuery) -> Result<AlertPage, StoreError> {
        let mut qb = QueryBuilder::<Postgres>::new(format!(
            "SELECT {ALERT_COLUMNS} FROM alerts WHERE 1 = 1"
        ));
        if let Some(state) = q.state {
            qb.push(" AND state = ").push_bind(state.as_str());
        }
        if let Some(since) = q.since {
            qb.push(" AND started_at >= ").push_bind(since);
        }
        if let Some(tenant) = &q.tenant_id {
            qb.push(" AND tenant_id = ").push_bind(tenant.as_str());
        }
        if let Some(before) = q.before_id {
            qb.push(" AND id < ").push_bind(before);
        }
        qb.push(" ORDER BY id DESC LIMIT ")
            .push_bind(i64::from(q.limit) + 1);
        let rows = qb.build().fetch_all(&self.pool).await?;
        let alerts = rows.iter().map(row_to_alert).collect::<Result<_, _>>()?;
        Ok(finish_alert_page(alerts, q.limit))
    }
}
