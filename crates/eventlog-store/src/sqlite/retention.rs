//! Retention SQL for SQLite: expired events grouped and paged, and deletion by `seq`
//! (SQLite does not partition, so there is nothing to drop).

use chrono::{DateTime, Utc};
use sqlx::{QueryBuilder, Row, Sqlite};

use super::{from_micros, micros, row_to_event, SqliteStore, SELECT_COLUMNS};
use crate::integrity::opt_hash32;
use crate::retention::{ExpiredEvent, ExpiredGroup, Expiry};
use crate::StoreError;

const DAY_US: i64 = 86_400_000_000;

fn bind_time(qb: &mut QueryBuilder<'_, Sqlite>, t: DateTime<Utc>) {
    qb.push_bind(micros(t));
}

impl SqliteStore {
    pub(super) async fn expired_by_group(
        &self,
        expiry: &Expiry,
    ) -> Result<Vec<ExpiredGroup>, StoreError> {
        let mut qb = QueryBuilder::<Sqlite>::new(
            "SELECT timestamp / 86400000000 AS d, severity, event_category, count(*) AS n, \
             max(seq) AS max_seq FROM events WHERE 1 = 1",
        );
        expiry.push_where(&mut qb, bind_time);
        qb.push(" GROUP BY d, severity, event_category ORDER BY d, severity, event_category");
        let rows = qb.build().fetch_all(&self.reader).await?;
        rows.iter()
            .map(|r| {
                Ok(ExpiredGroup {
                    day: from_micros(r.try_get::<i64, _>("d")? * DAY_US)?,
                    severity: r.try_get("severity")?,
                    category: r.try_get("event_category")?,
                    count: r.try_get("n")?,
                    max_seq: r.try_get("max_seq")?,
                })
            })
            .collect()
    }

    pub(super) async fn expired_rows(
        &self,
        expiry: &Expiry,
        day: DateTime<Utc>,
        after: Option<(DateTime<Utc>, i64)>,
        limit: u32,
    ) -> Result<Vec<ExpiredEvent>, StoreError> {
        let mut qb = QueryBuilder::<Sqlite>::new(format!(
            "SELECT {SELECT_COLUMNS}, record_hash, chain_pos FROM events WHERE timestamp >= "
        ));
        qb.push_bind(micros(day))
            .push(" AND timestamp < ")
            .push_bind(micros(day) + DAY_US);
        if let Some((ts, seq)) = after {
            qb.push(" AND (timestamp, seq) > (")
                .push_bind(micros(ts))
                .push(", ")
                .push_bind(seq)
                .push(")");
        }
        expiry.push_where(&mut qb, bind_time);
        qb.push(" ORDER BY timestamp, seq LIMIT ")
            .push_bind(i64::from(limit));
        let rows = qb.build().fetch_all(&self.reader).await?;
        self.load_dictionaries(&rows).await?;
        rows.iter()
            .map(|row| {
                let (event, seq) = row_to_event(row, &self.payloads)?;
                Ok(ExpiredEvent {
                    seq,
                    chain_pos: row.try_get("chain_pos")?,
                    record_hash: opt_hash32(row.try_get("record_hash")?),
                    partition: None,
                    event,
                })
            })
            .collect()
    }

    pub(super) async fn delete_by_seq(
        &self,
        keys: &[(DateTime<Utc>, i64)],
    ) -> Result<Vec<i64>, StoreError> {
        let mut deleted = Vec::with_capacity(keys.len());
        // Under SQLite's bound-parameter limit.
        for chunk in keys.chunks(30_000) {
            let mut qb = QueryBuilder::<Sqlite>::new("DELETE FROM events WHERE seq IN (");
            let mut sep = qb.separated(", ");
            for (_, seq) in chunk {
                sep.push_bind(*seq);
            }
            sep.push_unseparated(") RETURNING seq");
            let rows = qb.build().fetch_all(&self.writer).await?;
            for row in rows {
                deleted.push(row.try_get("seq")?);
            }
        }
        Ok(deleted)
    }
}
