//! The one query layer (issue 6): every number an endpoint, a CLI command or the dashboard
//! shows comes from [`Analytics`], which reads rollups kept at ingest (see [`rollup`]) and
//! derives rates, averages and percentiles in one place. Nothing else computes a number;
//! the seeds were burnt when two pages counted the same thing two ways.
//!
//! The SQL per backend lives beside each store (`sqlite/rollups.rs`,
//! `postgres/rollups.rs`); this module holds what both share.

mod layer;
mod report;
pub mod rollup;
pub mod window;

use std::collections::HashMap;

use chrono::{DateTime, Utc};
use eventlog_core::Importance;

pub use layer::Analytics;
pub use report::*;
pub use rollup::{Grain, RollupBatch, RollupCell};
pub use window::{GrainRange, Window};

use crate::query::Cursor;

/// Which rollup rows to read and how to group them.
#[derive(Debug, Clone)]
pub struct RollupQuery {
    /// The stretches of time to read, each from its grain's table.
    pub ranges: Vec<GrainRange>,
    /// Dimensions to read (constants of [`rollup::dim`]).
    pub dimensions: Vec<&'static str>,
    /// Only this tenant (`None`: all tenants summed).
    pub tenant_id: Option<String>,
    /// Keep buckets apart (for time series) instead of summing over the window.
    pub per_bucket: bool,
    /// Which measures to sum.
    pub measures: Measures,
}

impl RollupQuery {
    /// This query with its day ranges from `daily_from` on read from the hour table, and
    /// whether any was. Day rollups are folded from the hour ones once a day is over
    /// (`rollup_state.daily_from`), so the day table is complete only before that day.
    pub(crate) fn with_unfolded_days_as_hours(
        &self,
        daily_from: DateTime<Utc>,
    ) -> (RollupQuery, bool) {
        let mut ranges = Vec::with_capacity(self.ranges.len() + 1);
        let mut rewritten = false;
        for r in &self.ranges {
            if r.grain != Grain::Day || r.to <= daily_from {
                ranges.push(*r);
                continue;
            }
            rewritten = true;
            if r.from < daily_from {
                ranges.push(GrainRange {
                    to: daily_from,
                    ..*r
                });
            }
            ranges.push(GrainRange {
                grain: Grain::Hour,
                from: r.from.max(daily_from),
                to: r.to,
            });
        }
        (
            RollupQuery {
                ranges,
                ..self.clone()
            },
            rewritten,
        )
    }
}

/// The rows of a per-bucket read whose day ranges were read as hours
/// ([`RollupQuery::with_unfolded_days_as_hours`]), with the hour rows from `daily_from` on
/// summed into their days. Per-bucket reads (time series) read one grain only, so every
/// row from `daily_from` on is such an hour row.
pub(crate) fn hours_into_days(rows: Vec<RollupRow>, daily_from: DateTime<Utc>) -> Vec<RollupRow> {
    let mut out = Vec::with_capacity(rows.len());
    let mut days: HashMap<(String, String, DateTime<Utc>), RollupCell> = HashMap::new();
    for row in rows {
        match row.bucket {
            Some(b) if b >= daily_from => days
                .entry((row.dimension, row.value, Grain::Day.floor(b)))
                .or_default()
                .merge(&row.cell),
            _ => out.push(row),
        }
    }
    out.extend(
        days.into_iter()
            .map(|((dimension, value, day), cell)| RollupRow {
                dimension,
                value,
                bucket: Some(day),
                cell,
            }),
    );
    out
}

/// The measures a rollup read sums. Each aggregate costs: over the 48,000 hourly `user`
/// rows of a busy day, summing all ten takes SQLite about 2.5 times as long as the counts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Measures {
    /// Every measure of [`RollupCell`].
    #[default]
    All,
    /// `events`, `errors`, `failures` and `last_seen`; latency and confidence read as zero.
    Counts,
}

impl Measures {
    /// The columns each range's rows are read with: a read over several ranges (minutes at
    /// the edges, hours or days inside) is a UNION ALL that SQLite materialises, so every
    /// column not summed is cost (the endpoints report over 24 h: 236 ms with all, 93 ms
    /// with the counts).
    pub(crate) fn columns(self) -> &'static str {
        match self {
            Measures::All => {
                "dimension, value, bucket, events, errors, failures, latency_count, \
                 latency_sum, latency_max, confidence_count, confidence_sum, last_seen"
            }
            Measures::Counts => "dimension, value, bucket, events, errors, failures, last_seen",
        }
    }

    /// PostgreSQL's SELECT list of the aggregates, in the column names its `cell_from_row`
    /// reads (`sum` of int8 is numeric in PostgreSQL, hence the casts). SQLite sums the rows
    /// itself (`sqlite::rollups`).
    pub(crate) fn select_list(self) -> &'static str {
        match self {
            Measures::All => {
                "sum(events)::int8 AS events, sum(errors)::int8 AS errors, \
                 sum(failures)::int8 AS failures, sum(latency_count)::int8 AS latency_count, \
                 sum(latency_sum) AS latency_sum, max(latency_max) AS latency_max, \
                 sum(confidence_count)::int8 AS confidence_count, \
                 sum(confidence_sum) AS confidence_sum, max(last_seen) AS last_seen"
            }
            Measures::Counts => {
                "sum(events)::int8 AS events, sum(errors)::int8 AS errors, \
                 sum(failures)::int8 AS failures, 0::int8 AS latency_count, \
                 0::float8 AS latency_sum, 0::float8 AS latency_max, \
                 0::int8 AS confidence_count, 0::float8 AS confidence_sum, \
                 max(last_seen) AS last_seen"
            }
        }
    }
}

/// Rollup measures summed for one dimension value (and bucket, when asked).
#[derive(Debug, Clone, PartialEq)]
pub struct RollupRow {
    /// Dimension name.
    pub dimension: String,
    /// The dimension's value.
    pub value: String,
    /// Bucket start, when the query kept buckets apart.
    pub bucket: Option<DateTime<Utc>>,
    /// The summed measures.
    pub cell: RollupCell,
}

/// A page request of the activities feed.
#[derive(Debug, Clone, Default)]
pub struct ActivityQuery {
    /// Page size, 1..=200.
    pub limit: u32,
    /// Continue after this position.
    pub cursor: Option<Cursor>,
    /// Only MAJOR or only MINOR events.
    pub importance: Option<Importance>,
    /// Only these categories.
    pub category: Vec<String>,
    /// Only this tenant.
    pub tenant_id: Option<String>,
    /// Only events at or after this time.
    pub since: Option<DateTime<Utc>>,
    /// Only events before this time.
    pub until: Option<DateTime<Utc>>,
}
