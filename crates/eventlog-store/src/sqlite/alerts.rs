//! Alert state and history on SQLite.

use chrono::{DateTime, Utc};
use sqlx::sqlite::SqliteRow;
use sqlx::{QueryBuilder, Row, Sqlite};

use super::{from_micros, micros, SqliteStore};
use crate::alerts::{finish_alert_page, Alert, AlertPage, AlertQuery, AlertState, NewAlert};
use crate::StoreError;

const ALERT_COLUMNS: &str = "id, rule, alert_key, kind, severity, tenant_id, state, value, \
    threshold, window_secs, message, event_id, started_at, resolved_at, resolved_value";

fn row_to_alert(row: &SqliteRow) -> Result<Alert, StoreError> {
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
        started_at: from_micros(row.try_get("started_at")?)?,
        resolved_at: row
            .try_get::<Option<i64>, _>("resolved_at")?
            .map(from_micros)
            .transpose()?,
        resolved_value: row.try_get("resolved_value")?,
    })
}

impl SqliteStore {
    pub(super) async fn insert_alert(&self, a: &NewAlert) -> Result<Option<Alert>, StoreError> {
        let row = sqlx::query(&format!(
            "INSERT INTO alerts (rule, alert_key, kind, severity, tenant_id, state, value, \
             threshold, window_secs, message, event_id, started_at) \
             VALUES (?, ?, ?, ?, ?, 'firing', ?, ?, ?, ?, ?, ?) \
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
        .bind(micros(a.started_at))
        .fetch_optional(&self.writer)
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
            "UPDATE alerts SET state = 'resolved', resolved_at = ?, resolved_value = ? \
             WHERE id = ? AND state = 'firing' RETURNING {ALERT_COLUMNS}"
        ))
        .bind(micros(at))
        .bind(value)
        .bind(id)
        .fetch_optional(&self.writer)
        .await?;
        row.as_ref().map(row_to_alert).transpose()
    }

    pub(super) async fn latest_alert_rows(&self) -> Result<Vec<Alert>, StoreError> {
        let rows = sqlx::query(&format!(
            "SELECT {ALERT_COLUMNS} FROM alerts WHERE id IN \
             (SELECT max(id) FROM alerts GROUP BY rule, alert_key) ORDER BY id"
        ))
        .fetch_all(&self.reader)
        .await?;
        rows.iter().map(row_to_alert).collect()
    }

    pub(super) async fn alert_page(&self, q: &AlertQuery) -> Result<AlertPage, StoreError> {
        let mut qb =
            QueryBuilder::<Sqlite>::new(format!("SELECT {ALERT_COLUMNS} FROM alerts WHERE 1 = 1"));
        if let Some(state) = q.state {
            qb.push(" AND state = ").push_bind(state.as_str());
        }
        if let Some(since) = q.since {
            qb.push(" AND started_at >= ").push_bind(micros(since));
        }
        if let Some(tenant) = &q.tenant_id {
            qb.push(" AND tenant_id = ").push_bind(tenant.as_str());
        }
        if let Some(before) = q.before_id {
            qb.push(" AND id < ").push_bind(before);
        }
        qb.push(" ORDER BY id DESC LIMIT ")
            .push_bind(i64::from(q.limit) + 1);
        let rows = qb.build().fetch_all(&self.reader).await?;
        let alerts = rows.iter().map(row_to_alert).collect::<Result<_, _>>()?;
        Ok(finish_alert_page(alerts, q.limit))
    }
}
