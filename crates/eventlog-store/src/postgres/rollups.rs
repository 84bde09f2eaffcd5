//! Rollup SQL for PostgreSQL: the upsert run inside the group commit (one statement per
//! grain, the rows passed as arrays and expanded with `UNNEST`), the grouped read the
//! query layer uses, the per-day rebuild, and the activities feed.

use chrono::{DateTime, TimeDelta, Utc};
use futures::TryStreamExt;
use sqlx::postgres::PgRow;
use sqlx::{PgConnection, Postgres, QueryBuilder, Row};

use super::{
    from_micros, load_new_dictionaries, push_newest_first, row_to_event, PgStore, SELECT_COLUMNS,
    WRITER_LOCK,
};
use crate::analytics::{ActivityQuery, Grain, RollupBatch, RollupCell, RollupQuery, RollupRow};
use crate::query::{finish_page, Page};
use crate::StoreError;

fn upsert_sql(table: &str) -> String {
    format!(
        "INSERT INTO {table} AS r (dimension, bucket, tenant_id, value, events, errors, failures, \
         latency_count, latency_sum, latency_max, confidence_count, confidence_sum, last_seen) \
         SELECT * FROM UNNEST($1::text[], $2::timestamptz[], $3::text[], $4::text[], $5::int8[], \
         $6::int8[], $7::int8[], $8::int8[], $9::float8[], $10::float8[], $11::int8[], \
         $12::float8[], $13::timestamptz[]) \
         ON CONFLICT (dimension, bucket, tenant_id, value) DO UPDATE SET \
         events = r.events + EXCLUDED.events, errors = r.errors + EXCLUDED.errors, \
         failures = r.failures + EXCLUDED.failures, \
         latency_count = r.latency_count + EXCLUDED.latency_count, \
         latency_sum = r.latency_sum + EXCLUDED.latency_sum, \
         latency_max = GREATEST(r.latency_max, EXCLUDED.latency_max), \
         confidence_count = r.confidence_count + EXCLUDED.confidence_count, \
         confidence_sum = r.confidence_sum + EXCLUDED.confidence_sum, \
         last_seen = GREATEST(r.last_seen, EXCLUDED.last_seen)"
    )
}

/// Adds `batch` to the rollup tables, on the writer's open transaction. Day rows are
/// written only for days before `daily_from`; later days are folded from the hour rows
/// when they are over ([`fold_closed_days`]).
pub(super) async fn upsert(
    conn: &mut PgConnection,
    batch: &RollupBatch,
    daily_from: DateTime<Utc>,
) -> Result<(), StoreError> {
    for grain in Grain::ALL {
        let cells = batch.cells_to_write(grain, daily_from);
        if cells.is_empty() {
            continue;
        }
        let n = cells.len();
        let mut dimension = Vec::with_capacity(n);
        let mut bucket = Vec::with_capacity(n);
        let mut tenant = Vec::with_capacity(n);
        let mut value = Vec::with_capacity(n);
        let mut events = Vec::with_capacity(n);
        let mut errors = Vec::with_capacity(n);
        let mut failures = Vec::with_capacity(n);
        let mut latency_count = Vec::with_capacity(n);
        let mut latency_sum = Vec::with_capacity(n);
        let mut latency_max = Vec::with_capacity(n);
        let mut confidence_count = Vec::with_capacity(n);
        let mut confidence_sum = Vec::with_capacity(n);
        let mut last_seen = Vec::with_capacity(n);
        for (k, c) in cells {
            dimension.push(k.dimension);
            bucket.push(k.bucket);
            tenant.push(k.tenant_id);
            value.push(k.value);
            events.push(c.events);
            errors.push(c.errors);
            failures.push(c.failures);
            latency_count.push(c.latency_count);
            latency_sum.push(c.latency_sum);
            latency_max.push(c.latency_max);
            confidence_count.push(c.confidence_count);
            confidence_sum.push(c.confidence_sum);
            last_seen.push(from_micros(c.last_seen_micros)?);
        }
        sqlx::query(&upsert_sql(grain.table()))
            .bind(dimension)
            .bind(bucket)
            .bind(tenant)
            .bind(value)
            .bind(events)
            .bind(errors)
            .bind(failures)
            .bind(latency_count)
            .bind(latency_sum)
            .bind(latency_max)
            .bind(confidence_count)
            .bind(confidence_sum)
            .bind(last_seen)
            .execute(&mut *conn)
            .await?;
    }
    Ok(())
}

/// The first day whose day rollups are read from the hour rows (`rollup_state`).
pub(super) async fn daily_from<'c>(
    conn: impl sqlx::Executor<'c, Database = Postgres>,
) -> Result<DateTime<Utc>, StoreError> {
    Ok(
        sqlx::query_scalar("SELECT daily_from FROM rollup_state WHERE id = 1")
            .fetch_one(conn)
            .await?,
    )
}

/// Folds the hour rows of every day before `today` not folded yet into day rows, on the
/// writer's open transaction, and returns the new `daily_from`. Replacing the day rows of
/// those days (not adding to them) makes a repeated or partial fold harmless.
pub(super) async fn fold_closed_days(
    conn: &mut PgConnection,
    today: DateTime<Utc>,
) -> Result<DateTime<Utc>, StoreError> {
    let from = daily_from(&mut *conn).await?;
    if from >= today {
        return Ok(from);
    }
    sqlx::query("DELETE FROM event_summary_daily WHERE bucket >= $1 AND bucket < $2")
        .bind(from)
        .bind(today)
        .execute(&mut *conn)
        .await?;
    sqlx::query(
        "INSERT INTO event_summary_daily (dimension, bucket, tenant_id, value, events, errors, \
         failures, latency_count, latency_sum, latency_max, confidence_count, confidence_sum, \
         last_seen) \
         SELECT dimension, date_bin('1 day', bucket, TIMESTAMPTZ '2000-01-01 00:00:00+00') AS day, \
         tenant_id, value, sum(events)::int8, sum(errors)::int8, sum(failures)::int8, \
         sum(latency_count)::int8, sum(latency_sum), max(latency_max), \
         sum(confidence_count)::int8, sum(confidence_sum), max(last_seen) \
         FROM event_summary_hourly WHERE bucket >= $1 AND bucket < $2 \
         GROUP BY dimension, day, tenant_id, value",
    )
    .bind(from)
    .bind(today)
    .execute(&mut *conn)
    .await?;
    sqlx::query("UPDATE rollup_state SET daily_from = $1 WHERE id = 1")
        .bind(today)
        .execute(&mut *conn)
        .await?;
    Ok(today)
}

fn cell_from_row(row: &PgRow) -> Result<RollupCell, StoreError> {
    let last_seen: DateTime<Utc> = row.try_get("last_seen")?;
    Ok(RollupCell {
        events: row.try_get("events")?,
        errors: row.try_get("errors")?,
        failures: row.try_get("failures")?,
        latency_count: row.try_get("latency_count")?,
        latency_sum: row.try_get("latency_sum")?,
        latency_max: row.try_get("latency_max")?,
        confidence_count: row.try_get("confidence_count")?,
        confidence_sum: row.try_get("confidence_sum")?,
        last_seen_micros: last_seen.timestamp_micros(),
    })
}

/// `(SELECT <columns> FROM <grain table> WHERE <dimensions, range, tenant> UNION ALL ...)`:
/// the rollup rows of every range of `q`, with only `columns` (what the outer query reads).
fn push_ranges(qb: &mut QueryBuilder<'_, Postgres>, q: &RollupQuery, columns: &str) {
    qb.push("(");
    for (i, range) in q.ranges.iter().enumerate() {
        if i > 0 {
            qb.push(" UNION ALL ");
        }
        qb.push(format!(
            "SELECT {} FROM {} WHERE dimension = ANY(",
            columns,
            range.grain.table()
        ));
        qb.push_bind(q.dimensions.clone())
            .push(") AND bucket >= ")
            .push_bind(range.from)
            .push(" AND bucket < ")
            .push_bind(range.to);
        if let Some(t) = &q.tenant_id {
            qb.push(" AND tenant_id = ").push_bind(t.clone());
        }
    }
    qb.push(")");
}

impl PgStore {
    pub(super) async fn read_rollups(&self, q: &RollupQuery) -> Result<Vec<RollupRow>, StoreError> {
        if q.ranges.is_empty() || q.dimensions.is_empty() {
            return Ok(Vec::new());
        }
        let bucket = if q.per_bucket {
            "bucket"
        } else {
            "NULL::timestamptz"
        };
        let mut qb = QueryBuilder::<Postgres>::new(format!(
            "SELECT dimension, value, {bucket} AS b, {} FROM ",
            q.measures.select_list()
        ));
        push_ranges(&mut qb, q, q.measures.columns());
        qb.push(" s GROUP BY dimension, value, b");
        let rows = qb.build().fetch_all(&self.pool).await?;
        rows.iter()
            .map(|r| {
                Ok(RollupRow {
                    dimension: r.try_get("dimension")?,
                    value: r.try_get("value")?,
                    bucket: r.try_get("b")?,
                    cell: cell_from_row(r)?,
                })
            })
            .collect()
    }

    pub(super) async fn rollup_values(&self, q: &RollupQuery) -> Result<Vec<String>, StoreError> {
        if q.ranges.is_empty() || q.dimensions.is_empty() {
            return Ok(Vec::new());
        }
        // Every rollup row counts at least one event (rows are only ever added by
        // upserts of folded events), so no `events > 0` filter: without it PostgreSQL can
        // answer from the primary key alone (an index-only scan).
        let mut qb = QueryBuilder::<Postgres>::new("SELECT DISTINCT value FROM ");
        push_ranges(&mut qb, q, "value");
        qb.push(" s");
        Ok(qb.build_query_scalar().fetch_all(&self.pool).await?)
    }

    pub(super) async fn rebuild_day(&self, day: DateTime<Utc>) -> Result<u64, StoreError> {
        let until = day + TimeDelta::days(1);
        let mut tx = self.pool.begin().await?;
        sqlx::query("SELECT pg_advisory_xact_lock($1)")
            .bind(WRITER_LOCK)
            .execute(&mut *tx)
            .await?;
        for grain in Grain::ALL {
            sqlx::query(&format!(
                "DELETE FROM {} WHERE bucket >= $1 AND bucket < $2",
                grain.table()
            ))
            .bind(day)
            .bind(until)
            .execute(&mut *tx)
            .await?;
        }
        let mut batch = RollupBatch::new();
        let mut read = 0u64;
        {
            let sql = format!(
                "SELECT {SELECT_COLUMNS} FROM events WHERE \"timestamp\" >= $1 AND \"timestamp\" < $2"
            );
            load_new_dictionaries(&mut tx, &self.payloads).await?;
            let mut rows = sqlx::query(&sql).bind(day).bind(until).fetch(&mut *tx);
            while let Some(row) = rows.try_next().await? {
                let (event, _) = row_to_event(&row, &self.payloads)?;
                batch.add(&event.record);
                read += 1;
            }
        }
        let daily_from = daily_from(&mut *tx).await?;
        upsert(&mut tx, &batch, daily_from).await?;
        tx.commit().await?;
        Ok(read)
    }

    pub(super) async fn days_with_events(
        &self,
        since: Option<DateTime<Utc>>,
    ) -> Result<Vec<(DateTime<Utc>, i64)>, StoreError> {
        Ok(sqlx::query_as(
            "SELECT date_bin('1 day', \"timestamp\", TIMESTAMPTZ '2000-01-01 00:00:00+00') AS d, count(*) \
             FROM events WHERE ($1::timestamptz IS NULL OR \"timestamp\" >= $1) GROUP BY d ORDER BY d",
        )
        .bind(since)
        .fetch_all(&self.pool)
        .await?)
    }

    pub(super) async fn activity_page(&self, q: &ActivityQuery) -> Result<Page, StoreError> {
        let mut qb = QueryBuilder::<Postgres>::new(format!(
            "SELECT {SELECT_COLUMNS} FROM events WHERE TRUE"
        ));
        if let Some(i) = q.importance {
            qb.push(" AND importance = ").push_bind(i.as_str());
        }
        if !q.category.is_empty() {
            qb.push(" AND event_category = ANY(")
                .push_bind(q.category.clone())
                .push(")");
        }
        if let Some(t) = &q.tenant_id {
            qb.push(" AND tenant_id = ").push_bind(t.clone());
        }
        push_newest_first(&mut qb, q.since, q.until, q.cursor)?;
        qb.push(" LIMIT ").push_bind(i64::from(q.limit) + 1);
        let rows = qb.build().fetch_all(&self.pool).await?;
        Ok(finish_page(self.events_in(&rows).await?, q.limit))
    }
}
