//! Rollups on SQLite: the reads the query layer uses (summed in Rust, on the blocking
//! readers) and the activities feed. The rollups are written by [`super::writer`], in the
//! group commit and in the per-day rebuild.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;

use chrono::{DateTime, Utc};
use rusqlite::Connection;
use sqlx::{QueryBuilder, Sqlite};

use super::blocking::Statement;
use super::{from_micros, micros, push_newest_first, SqliteStore, SELECT_COLUMNS};
use crate::analytics::{ActivityQuery, Measures, RollupCell, RollupQuery, RollupRow};
use crate::query::{finish_page, Page, SqlWriter};
use crate::rows::RowColumns;
use crate::StoreError;

/// The first day whose day rollups are read from the hour rows (`rollup_state`).
pub(super) async fn daily_from<'c>(
    conn: impl sqlx::Executor<'c, Database = Sqlite>,
) -> Result<DateTime<Utc>, StoreError> {
    let from: i64 = sqlx::query_scalar("SELECT daily_from FROM rollup_state WHERE id = 1")
        .fetch_one(conn)
        .await?;
    from_micros(from)
}

/// `(SELECT <columns> FROM <grain table> WHERE <dimensions, range, tenant> UNION ALL ...)`:
/// the rollup rows of every range of `q`, with only `columns` (what the outer query reads).
fn push_ranges(sql: &mut impl SqlWriter, q: &RollupQuery, columns: &str) {
    sql.sql("(");
    for (i, range) in q.ranges.iter().enumerate() {
        if i > 0 {
            sql.sql(" UNION ALL ");
        }
        sql.sql("SELECT ")
            .sql(columns)
            .sql(" FROM ")
            .sql(range.grain.table())
            .sql(" WHERE dimension IN (");
        for (k, d) in q.dimensions.iter().enumerate() {
            if k > 0 {
                sql.sql(", ");
            }
            sql.text_value((*d).to_owned());
        }
        sql.sql(") AND bucket >= ")
            .int_value(micros(range.from))
            .sql(" AND bucket < ")
            .int_value(micros(range.to));
        if let Some(t) = &q.tenant_id {
            sql.sql(" AND tenant_id = ").text_value(t.clone());
        }
    }
    sql.sql(")");
}

/// The rows of `q` summed per dimension and value (and bucket, if `q` keeps them apart),
/// ordered by them. Summed here, in a hash map, not by a GROUP BY: SQLite sorts to group,
/// and sorting the 95,000 hourly `user_name` rows of a busy day was two thirds of the
/// users report (bench/README.md, "Analytics").
fn read_rollups(conn: &Connection, q: &RollupQuery) -> Result<Vec<RollupRow>, StoreError> {
    let columns = q.measures.columns();
    let mut statement = Statement::default();
    statement.sql("SELECT ").sql(columns).sql(" FROM ");
    push_ranges(&mut statement, q, columns);
    let mut select = conn.prepare_cached(&statement.sql)?;
    let all = q.measures == Measures::All;
    let at = |name: &str| select.column_index(name);
    let (dimension, value, bucket) = (at("dimension")?, at("value")?, at("bucket")?);
    let (events, errors, failures, last_seen) = (
        at("events")?,
        at("errors")?,
        at("failures")?,
        at("last_seen")?,
    );
    let latency = if all {
        Some([at("latency_count")?, at("latency_sum")?, at("latency_max")?])
    } else {
        None
    };
    let confidence = if all {
        Some([at("confidence_count")?, at("confidence_sum")?])
    } else {
        None
    };
    let mut summed: Vec<RollupRow> = Vec::new();
    let mut index: HashMap<String, usize> = HashMap::new();
    let mut key = String::new();
    let mut rows = select.query(statement.params())?;
    while let Some(row) = rows.next()? {
        let int = |at: usize| row.int(at).map(Option::unwrap_or_default);
        let float = |at: usize| row.float(at).map(Option::unwrap_or_default);
        let mut cell = RollupCell {
            events: int(events)?,
            errors: int(errors)?,
            failures: int(failures)?,
            last_seen_micros: int(last_seen)?,
            ..RollupCell::default()
        };
        if let Some([count, sum, max]) = latency {
            cell.latency_count = int(count)?;
            cell.latency_sum = float(sum)?;
            cell.latency_max = float(max)?;
        }
        if let Some([count, sum]) = confidence {
            cell.confidence_count = int(count)?;
            cell.confidence_sum = float(sum)?;
        }
        let text = |at: usize| {
            row.text(at)?
                .ok_or_else(|| StoreError::Corrupt("a rollup row without its key".into()))
        };
        let (dimension, value) = (text(dimension)?, text(value)?);
        let bucket = if q.per_bucket {
            Some(int(bucket)?)
        } else {
            None
        };
        key.clear();
        key.push_str(dimension);
        key.push('\u{1f}');
        key.push_str(value);
        if let Some(b) = bucket {
            key.push('\u{1f}');
            key.push_str(&b.to_string());
        }
        match index.get(key.as_str()) {
            Some(&i) => summed[i].cell.merge(&cell),
            None => {
                index.insert(key.clone(), summed.len());
                summed.push(RollupRow {
                    dimension: dimension.to_owned(),
                    value: value.to_owned(),
                    bucket: bucket.map(from_micros).transpose()?,
                    cell,
                });
            }
        }
    }
    summed.sort_by(|a, b| {
        (&a.dimension, &a.value, a.bucket).cmp(&(&b.dimension, &b.value, b.bucket))
    });
    Ok(summed)
}

/// The distinct values of `q`'s rows, in order. Every rollup row counts at least one event
/// (rows are only ever added by upserts of folded events), so the primary key alone
/// answers this.
fn rollup_values(conn: &Connection, q: &RollupQuery) -> Result<Vec<String>, StoreError> {
    let mut statement = Statement::default();
    statement.sql("SELECT value FROM ");
    push_ranges(&mut statement, q, "value");
    let mut select = conn.prepare_cached(&statement.sql)?;
    let mut values: HashSet<String> = HashSet::new();
    let mut rows = select.query(statement.params())?;
    while let Some(row) = rows.next()? {
        let value = row.text(0)?.unwrap_or_default();
        if !values.contains(value) {
            values.insert(value.to_owned());
        }
    }
    let mut values: Vec<String> = values.into_iter().collect();
    values.sort_unstable();
    Ok(values)
}

impl SqliteStore {
    pub(super) async fn read_rollups(&self, q: &RollupQuery) -> Result<Vec<RollupRow>, StoreError> {
        if q.ranges.is_empty() || q.dimensions.is_empty() {
            return Ok(Vec::new());
        }
        let q = q.clone();
        self.blocking.run(move |conn| read_rollups(conn, &q)).await
    }

    pub(super) async fn rollup_values(&self, q: &RollupQuery) -> Result<Vec<String>, StoreError> {
        if q.ranges.is_empty() || q.dimensions.is_empty() {
            return Ok(Vec::new());
        }
        let q = q.clone();
        self.blocking.run(move |conn| rollup_values(conn, &q)).await
    }

    pub(super) async fn rebuild_day(&self, day: DateTime<Utc>) -> Result<u64, StoreError> {
        let payloads = Arc::clone(&self.payloads);
        self.events_writer
            .run_owned(move |conn| super::writer::rebuild_day(conn, &payloads, day))
            .await
    }

    pub(super) async fn days_with_events(
        &self,
        since: Option<DateTime<Utc>>,
    ) -> Result<Vec<(DateTime<Utc>, i64)>, StoreError> {
        const DAY_US: i64 = 86_400_000_000;
        let rows: Vec<(i64, i64)> = sqlx::query_as(
            "SELECT timestamp / 86400000000 AS d, count(*) FROM events WHERE timestamp >= ? GROUP BY d ORDER BY d",
        )
        .bind(since.map_or(i64::MIN, micros))
        .fetch_all(&self.reader)
        .await?;
        rows.into_iter()
            .map(|(d, n)| Ok((from_micros(d * DAY_US)?, n)))
            .collect()
    }

    pub(super) async fn activity_page(&self, q: &ActivityQuery) -> Result<Page, StoreError> {
        let mut qb =
            QueryBuilder::<Sqlite>::new(format!("SELECT {SELECT_COLUMNS} FROM events WHERE 1 = 1"));
        if let Some(i) = q.importance {
            qb.push(" AND importance = ").push_bind(i.as_str());
        }
        if !q.category.is_empty() {
            qb.push(" AND event_category IN (");
            let mut sep = qb.separated(", ");
            for c in &q.category {
                sep.push_bind(c.as_str());
            }
            qb.push(")");
        }
        if let Some(t) = &q.tenant_id {
            qb.push(" AND tenant_id = ").push_bind(t.as_str());
        }
        push_newest_first(&mut qb, q.since, q.until, q.cursor);
        qb.push(" LIMIT ").push_bind(i64::from(q.limit) + 1);
        let rows = qb.build().fetch_all(&self.reader).await?;
        Ok(finish_page(self.events_in(&rows).await?, q.limit))
    }
}
