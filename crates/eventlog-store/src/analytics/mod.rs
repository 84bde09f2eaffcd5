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
