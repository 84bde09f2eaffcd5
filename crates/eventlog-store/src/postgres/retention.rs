//! Retention SQL for PostgreSQL: expired events grouped and paged (each with the monthly
//! partition holding it), deletion by `(timestamp, seq)` so every row is found through the
//! timestamp index of its own partition, and dropping a partition whose every row expired.

use chrono::{DateTime, Datelike, TimeDelta, Utc};
use sqlx::{Postgres, QueryBuilder, Row};

use super::{month_of, row_to_event, PgStore, SELECT_COLUMNS, WRITER_LOCK};
use crate::integrity::opt_hash32;
use crate::retention::{ExpiredEvent, ExpiredGroup, Expiry};
use crate::StoreError;

fn bind_time(qb: &mut QueryBuilder<'_, Postgres>, t: DateTime<Utc>) {
    qb.push_bind(t);
}

/// The partition name of the month starting at `month` (built from a date, never input).
fn partition_name(month: DateTime<Utc>) -> String {
    let m = month_of(month);
    format!("events_p{:04}_{:02}", m.year(), m.month())
}

impl PgStore {
    pub(super) async fn expired_by_group(
        &self,
        expiry: &Expiry,
    ) -> Result<Vec<ExpiredGroup>, StoreError> {
        let mut qb = QueryBuilder::<Postgres>::new(
            "SELECT date_bin('1 day', \"timestamp\", TIMESTAMPTZ '2000-01-01 00:00:00+00') AS d, \
             severity, event_category, count(*) AS n, max(seq) AS max_seq FROM events WHERE TRUE",
        );
        expiry.push_where(&mut qb, bind_time);
        qb.push(" GROUP BY d, severity, event_category ORDER BY d, severity, event_category");
        let rows = qb.build().fetch_all(&self.pool).await?;
        rows.iter()
            .map(|r| {
                Ok(ExpiredGroup {
                    day: r.try_get("d")?,
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
        let mut qb = QueryBuilder::<Postgres>::new(format!(
            "SELECT {SELECT_COLUMNS}, record_hash, chain_pos, tableoid::regclass::text AS part \
             FROM events WHERE \"timestamp\" >= "
        ));
        qb.push_bind(day)
            .push(" AND \"timestamp\" < ")
            .push_bind(day + TimeDelta::days(1));
        if let Some((ts, seq)) = after {
            qb.push(" AND (\"timestamp\", seq) > (")
                .push_bind(ts)
                .push(", ")
                .push_bind(seq)
                .push(")");
        }
        expiry.push_where(&mut qb, bind_time);
        qb.push(" ORDER BY \"timestamp\", seq LIMIT ")
            .push_bind(i64::from(limit));
        let rows = qb.build().fetch_all(&self.pool).await?;
        self.load_dictionaries(&rows).await?;
        rows.iter()
            .map(|row| {
                let (event, seq) = row_to_event(row, &self.payloads)?;
                Ok(ExpiredEvent {
                    seq,
                    chain_pos: row.try_get("chain_pos")?,
                    record_hash: opt_hash32(row.try_get("record_hash")?),
                    partition: row.try_get("part")?,
                    event,
                })
            })
            .collect()
    }

    pub(super) async fn delete_by_key(
        &self,
        keys: &[(DateTime<Utc>, i64)],
    ) -> Result<Vec<i64>, StoreError> {
        let (times, seqs): (Vec<DateTime<Utc>>, Vec<i64>) = keys.iter().copied().unzip();
        Ok(sqlx::query_scalar(
            "DELETE FROM events e USING UNNEST($1::timestamptz[], $2::int8[]) AS k(ts, seq) \
             WHERE e.\"timestamp\" = k.ts AND e.seq = k.seq RETURNING e.seq",
        )
        .bind(times)
        .bind(seqs)
        .fetch_all(&self.pool)
        .await?)
    }

    pub(super) async fn rows_of_partition(
        &self,
        month: DateTime<Utc>,
    ) -> Result<Option<(String, i64)>, StoreError> {
        let name = partition_name(month);
        let exists: bool = sqlx::query_scalar("SELECT to_regclass($1) IS NOT NULL")
            .bind(&name)
            .fetch_one(&self.pool)
            .await?;
        if !exists {
            return Ok(None);
        }
        let rows: i64 = sqlx::query_scalar(&format!("SELECT count(*) FROM {name}"))
            .fetch_one(&self.pool)
            .await?;
        Ok(Some((name, rows)))
    }

    pub(super) async fn drop_whole_partition(
        &self,
        month: DateTime<Utc>,
        expected: i64,
    ) -> Result<bool, StoreError> {
        let name = partition_name(month);
        let mut tx = self.pool.begin().await?;
        // No commit can add a row to it while we look and drop.
        sqlx::query("SELECT pg_advisory_xact_lock($1)")
            .bind(WRITER_LOCK)
            .execute(&mut *tx)
            .await?;
        let exists: bool = sqlx::query_scalar("SELECT to_regclass($1) IS NOT NULL")
            .bind(&name)
            .fetch_one(&mut *tx)
            .await?;
        if !exists {
            return Ok(false);
        }
        let rows: i64 = sqlx::query_scalar(&format!("SELECT count(*) FROM {name}"))
            .fetch_one(&mut *tx)
            .await?;
        if rows != expected {
            return Ok(false);
        }
        sqlx::query(&format!("ALTER TABLE events DETACH PARTITION {name}"))
            .execute(&mut *tx)
            .await?;
        sqlx::query(&format!("DROP TABLE {name}"))
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        // A late event of that month recreates the partition.
        self.partitions
            .lock()
            .expect("partition cache lock")
            .remove(&month_of(month));
        Ok(true)
    }
}
