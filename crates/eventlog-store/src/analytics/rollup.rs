//! What a rollup row counts, and the in-memory aggregation both the ingest path and
//! `rollups rebuild` use, so a rebuilt rollup equals the one kept at ingest.
//!
//! A group commit folds its new events into a [`RollupBatch`] (one cell per grain, bucket,
//! tenant, dimension and value), then the backend writes each touched cell with one upsert
//! that adds counts and sums and keeps maxima. Duplicates never reach the batch: only the
//! events the write plan inserts are folded in.

use std::collections::HashMap;

use chrono::{DateTime, DurationRound, TimeDelta, Utc};
use eventlog_core::{route, EventRecord};

use crate::query::FAILURE_STATUSES;

/// The bucket sizes rollups are kept at.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Grain {
    /// One minute (`event_summary_minute`).
    Minute,
    /// One hour (`event_summary_hourly`).
    Hour,
    /// One UTC day (`event_summary_daily`).
    Day,
}

impl Grain {
    /// All grains, finest first.
    pub const ALL: [Grain; 3] = [Grain::Minute, Grain::Hour, Grain::Day];

    /// The table holding this grain (a constant: never built from input).
    pub fn table(self) -> &'static str {
        match self {
            Grain::Minute => "event_summary_minute",
            Grain::Hour => "event_summary_hourly",
            Grain::Day => "event_summary_daily",
        }
    }

    /// The bucket length.
    pub fn length(self) -> TimeDelta {
        match self {
            Grain::Minute => TimeDelta::minutes(1),
            Grain::Hour => TimeDelta::hours(1),
            Grain::Day => TimeDelta::days(1),
        }
    }

    /// The start of the bucket holding `t`.
    pub fn floor(self, t: DateTime<Utc>) -> DateTime<Utc> {
        t.duration_trunc(self.length()).unwrap_or(t)
    }

    /// The first bucket start at or after `t`.
    pub fn ceil(self, t: DateTime<Utc>) -> DateTime<Utc> {
        let f = self.floor(t);
        if f == t {
            t
        } else {
            f + self.length()
        }
    }

    /// `minute`, `hour` or `day`.
    pub fn as_str(self) -> &'static str {
        match self {
            Grain::Minute => "minute",
            Grain::Hour => "hour",
            Grain::Day => "day",
        }
    }
}

/// Dimension names (the `dimension` column). Each is a constant; values come from events.
pub mod dim {
    /// Every event, value `''`: totals, errors, latency.
    pub const TOTAL: &str = "total";
    /// `event_category`.
    pub const CATEGORY: &str = "category";
    /// `event_type`.
    pub const TYPE: &str = "type";
    /// `event_code` (events with a code).
    pub const CODE: &str = "code";
    /// `severity`.
    pub const SEVERITY: &str = "severity";
    /// `status`.
    pub const STATUS: &str = "status";
    /// `importance` (MAJOR, MINOR).
    pub const IMPORTANCE: &str = "importance";
    /// `endpoint` (events with an endpoint: the requests), as its template
    /// (`/api/siswa/{id}`, [`eventlog_core::route::template`]).
    pub const ENDPOINT: &str = "endpoint";
    /// Events with an endpoint, value `''`: the request count without reading one row per
    /// distinct path.
    pub const REQUEST: &str = "request";
    /// `event_name`, with latency (seed 002 "System Performance Metrics"); paths in it are
    /// templated like `endpoint`.
    pub const EVENT_NAME: &str = "event_name";
    /// `event_type` of SECURITY events (seed 002 "Security Events Dashboard").
    pub const SECURITY_TYPE: &str = "security_type";
    /// Successful individual predictions, value `''`, with confidence (seed 002 "Model
    /// Performance Tracking").
    pub const PREDICTION: &str = "prediction";
    /// Failed logins by username (else user id, else IP), for the failed-login alert.
    /// Minute grain only.
    pub const FAILED_LOGIN: &str = "failed_login";
    /// Events eventlog wrote itself, by `source` (audit trail, detection, alerts): the
    /// alert rules judge the applications' error rate without them. Every grain, as the
    /// `total` it is taken from (a long window reads hours and days).
    pub const OWN: &str = "own";
    /// Latency histogram: value is the bucket index (see [`super::latency_bucket`]).
    pub const LATENCY_BUCKET: &str = "latency_bucket";
    /// Every event's user id and username in one value ([`super::user_name_value`]):
    /// distinct active users (the id part) and seed 002 "User Activity Summary" (the
    /// username part). Hour and day grains only.
    pub const USER_NAME: &str = "user_name";
    /// `user_id` alone: written before `user_name` replaced it (2026-11-24), still read.
    pub const USER: &str = "user";
    /// `username` alone (`''` for events without one): written before `user_name`
    /// replaced it, still read.
    pub const USERNAME: &str = "username";
}

/// Separates the user id from the username in a `user_name` value.
pub const USER_NAME_SEPARATOR: char = '\u{1f}';

/// The `user_name` value of an event: its user id, U+001F, its username (either may be
/// empty). One row per user and name instead of one per user plus one per name halves
/// what rollups write per commit (bench/README.md "What rollups cost at ingest").
pub fn user_name_value(user_id: Option<&str>, username: Option<&str>) -> String {
    format!(
        "{}{USER_NAME_SEPARATOR}{}",
        user_id.unwrap_or(""),
        username.unwrap_or("")
    )
}

/// The user id (`''` for none) of a row of `dimension`: the id part of a `user_name`
/// value, or the whole value of an older `user` row.
pub fn user_id_of<'a>(dimension: &str, value: &'a str) -> &'a str {
    if dimension == dim::USER_NAME {
        value.split(USER_NAME_SEPARATOR).next().unwrap_or("")
    } else {
        value
    }
}

/// The username (`''` for none) of a row of `dimension`: the name part of a `user_name`
/// value, or the whole value of an older `username` row.
pub fn username_of<'a>(dimension: &str, value: &'a str) -> &'a str {
    if dimension == dim::USER_NAME {
        value
            .split_once(USER_NAME_SEPARATOR)
            .map_or("", |(_, name)| name)
    } else {
        value
    }
}

/// Dimensions kept per hour and per day but not per minute: one row per active user per
/// minute would outnumber the events themselves.
pub const HOURLY_ONLY: &[&str] = &[dim::USER_NAME, dim::USER, dim::USERNAME];

/// Dimensions kept per minute only: the failed-login alert reads minutes, and one row per
/// failing user per hour and per day would be a third of what a commit writes.
pub const MINUTE_ONLY: &[&str] = &[dim::FAILED_LOGIN];

/// Histogram resolution: buckets per doubling of latency. Eight gives bucket bounds about
/// 9% apart, so a percentile read from the histogram is within 9% of the exact one.
pub const LATENCY_BUCKETS_PER_DOUBLING: f64 = 8.0;

/// The histogram bucket of a latency: 0 for up to 1 ms, else `ceil(8 * log2(ms))`, so
/// bucket `i` holds latencies in `(2^((i-1)/8), 2^(i/8)]` ms. Fixed bounds make histograms
/// of any buckets mergeable by adding counts.
pub fn latency_bucket(ms: f64) -> u32 {
    if ms <= 1.0 || !ms.is_finite() {
        0
    } else {
        ((ms.log2() * LATENCY_BUCKETS_PER_DOUBLING).ceil() as u32).min(999)
    }
}

/// The upper bound (ms) of histogram bucket `i`.
pub fn latency_bucket_upper(i: u32) -> f64 {
    (f64::from(i) / LATENCY_BUCKETS_PER_DOUBLING).exp2()
}

/// One rollup row's identity, borrowing its strings from the batch.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct RollupKey<'a> {
    /// Grain (which table).
    pub grain: Grain,
    /// Dimension name, one of [`dim`].
    pub dimension: &'static str,
    /// Bucket start.
    pub bucket: DateTime<Utc>,
    /// Tenant, `''` for events without one.
    pub tenant_id: &'a str,
    /// The dimension's value.
    pub value: &'a str,
}

/// The measures of one rollup row; adding two cells merges them.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct RollupCell {
    /// Events.
    pub events: i64,
    /// Events with status ERROR (the seeds' error-rate numerator).
    pub errors: i64,
    /// Events with a failure status (FAILED, FAILURE, ERROR, DENIED, BLOCKED, TIMEOUT).
    pub failures: i64,
    /// Events with a processing time.
    pub latency_count: i64,
    /// Sum of their processing times (ms).
    pub latency_sum: f64,
    /// Largest processing time (ms), 0 if none.
    pub latency_max: f64,
    /// Events with a numeric `response_data.confidence` (prediction rows only).
    pub confidence_count: i64,
    /// Sum of those confidences.
    pub confidence_sum: f64,
    /// Latest event timestamp in the cell, microseconds since the epoch.
    pub last_seen_micros: i64,
}

impl RollupCell {
    fn add(&mut self, m: &Measures) {
        self.events += 1;
        self.errors += i64::from(m.error);
        self.failures += i64::from(m.failure);
        if let Some(ms) = m.latency {
            self.latency_count += 1;
            self.latency_sum += ms;
            self.latency_max = self.latency_max.max(ms);
        }
        self.last_seen_micros = self.last_seen_micros.max(m.ts_micros);
    }

    /// Merges `other` into this cell (what the upsert does in SQL).
    pub fn merge(&mut self, other: &RollupCell) {
        self.events += other.events;
        self.errors += other.errors;
        self.failures += other.failures;
        self.latency_count += other.latency_count;
        self.latency_sum += other.latency_sum;
        self.latency_max = self.latency_max.max(other.latency_max);
        self.confidence_count += other.confidence_count;
        self.confidence_sum += other.confidence_sum;
        self.last_seen_micros = self.last_seen_micros.max(other.last_seen_micros);
    }
}

struct Measures {
    error: bool,
    failure: bool,
    latency: Option<f64>,
    ts_micros: i64,
}

/// The rollup increments of a set of events, one cell per key.
///
/// Folding touches about thirty cells per event, so cells are keyed by interned string ids:
/// a lookup hashes two integers and allocates nothing once a value has been seen.
#[derive(Debug, Default)]
pub struct RollupBatch {
    cells: HashMap<CellId, RollupCell>,
    strings: Vec<Box<str>>,
    ids: HashMap<Box<str>, u32>,
}

/// Grain, dimension, bucket, tenant id and value id (indexes into `strings`).
type CellId = (Grain, &'static str, DateTime<Utc>, u32, u32);

impl RollupBatch {
    /// An empty batch.
    pub fn new() -> Self {
        Self::default()
    }

    fn intern(&mut self, s: &str) -> u32 {
        if let Some(&id) = self.ids.get(s) {
            return id;
        }
        let id = u32::try_from(self.strings.len()).expect("fewer than 2^32 distinct values");
        self.strings.push(s.into());
        self.ids.insert(s.into(), id);
        id
    }

    /// Folds one stored event into the batch.
    pub fn add(&mut self, r: &EventRecord) {
        let status = r.status.as_str();
        let m = Measures {
            error: status == "ERROR",
            failure: FAILURE_STATUSES.contains(&status),
            latency: r.processing_time_ms.filter(|ms| ms.is_finite()),
            ts_micros: r.timestamp.timestamp_micros(),
        };
        let tenant = self.intern(r.tenant_id.as_deref().unwrap_or(""));
        let event_name = route::template_name(&r.event_name);
        let endpoint = r.endpoint.as_deref().map(route::template);
        let user_name = user_name_value(r.user_id.as_deref(), r.username.as_deref());
        let mut values: Vec<(&'static str, &str)> = vec![
            (dim::TOTAL, ""),
            (dim::CATEGORY, &r.event_category),
            (dim::TYPE, &r.event_type),
            (dim::SEVERITY, r.severity.as_str()),
            (dim::STATUS, status),
            (dim::IMPORTANCE, r.importance.as_str()),
            (dim::EVENT_NAME, &event_name),
            (dim::USER_NAME, &user_name),
        ];
        if let Some(code) = &r.event_code {
            values.push((dim::CODE, code));
        }
        if let Some(ep) = &endpoint {
            values.push((dim::ENDPOINT, ep));
            values.push((dim::REQUEST, ""));
        }
        if r.event_category == "SECURITY" {
            values.push((dim::SECURITY_TYPE, &r.event_type));
        }
        if r.written_by_eventlog() {
            if let Some(source) = &r.source {
                values.push((dim::OWN, source));
            }
        }
        let failed_login = r.is_failed_login();
        // Formatted only where it is needed: one allocation less per event.
        let ip = failed_login
            .then(|| r.ip_address.map(|ip| ip.to_string()))
            .flatten();
        if failed_login {
            if let Some(who) = r
                .username
                .as_deref()
                .or(r.user_id.as_deref())
                .or(ip.as_deref())
            {
                values.push((dim::FAILED_LOGIN, who));
            }
        }
        let bucket_label = m.latency.map(|ms| format!("{:03}", latency_bucket(ms)));
        if let Some(label) = &bucket_label {
            values.push((dim::LATENCY_BUCKET, label));
        }
        let confidence = is_successful_prediction(r)
            .then(|| confidence(r))
            .map(|c| (c.is_some(), c.unwrap_or(0.0)));
        let values: Vec<(&'static str, u32)> = values
            .into_iter()
            .map(|(dimension, value)| (dimension, self.intern(value)))
            .collect();
        let empty = self.intern("");
        // Each event is folded at its finest grain only; `cells_of` merges those cells into
        // the coarser grains, which is a third of the lookups of folding every grain.
        let minute = Grain::Minute.floor(r.timestamp);
        let hour = Grain::Hour.floor(r.timestamp);
        for &(dimension, value) in &values {
            let (grain, bucket) = if HOURLY_ONLY.contains(&dimension) {
                (Grain::Hour, hour)
            } else {
                (Grain::Minute, minute)
            };
            self.cell(grain, dimension, bucket, tenant, value).add(&m);
        }
        if let Some((has, c)) = confidence {
            let cell = self.cell(Grain::Minute, dim::PREDICTION, minute, tenant, empty);
            cell.add(&m);
            cell.confidence_count += i64::from(has);
            cell.confidence_sum += c;
        }
    }

    fn cell(
        &mut self,
        grain: Grain,
        dimension: &'static str,
        bucket: DateTime<Utc>,
        tenant: u32,
        value: u32,
    ) -> &mut RollupCell {
        self.cells
            .entry((grain, dimension, bucket, tenant, value))
            .or_default()
    }

    /// Whether nothing was added.
    pub fn is_empty(&self) -> bool {
        self.cells.is_empty()
    }

    /// The cells of `grain` a writer adds to its table: all of them, but day cells only for
    /// days before `daily_from` (later days are folded from the hour rows once over).
    pub fn cells_to_write(
        &self,
        grain: Grain,
        daily_from: DateTime<Utc>,
    ) -> Vec<(RollupKey<'_>, RollupCell)> {
        let mut cells = self.cells_of(grain);
        if grain == Grain::Day {
            cells.retain(|(key, _)| key.bucket < daily_from);
        }
        cells
    }

    /// The cells of one grain: the cells folded at that grain merged with the finer ones
    /// they contain. In no particular order: one writer upserts at a time (the stores'
    /// writer lock), so no two upserts can lock rows in opposite orders.
    pub fn cells_of(&self, grain: Grain) -> Vec<(RollupKey<'_>, RollupCell)> {
        let mut merged: HashMap<CellId, RollupCell> = HashMap::new();
        for (&(folded_at, dimension, bucket, tenant, value), cell) in &self.cells {
            if folded_at == grain || folded_at < grain && !MINUTE_ONLY.contains(&dimension) {
                merged
                    .entry((grain, dimension, grain.floor(bucket), tenant, value))
                    .or_default()
                    .merge(cell);
            }
        }
        merged
            .into_iter()
            .map(|((grain, dimension, bucket, tenant, value), cell)| {
                let key = RollupKey {
                    grain,
                    dimension,
                    bucket,
                    tenant_id: &self.strings[tenant as usize],
                    value: &self.strings[value as usize],
                };
                (key, cell)
            })
            .collect()
    }
}

/// What seed 002's model query selects: category PRED, type INDIVIDUAL_PREDICTION, status
/// SUCCESS.
fn is_successful_prediction(r: &EventRecord) -> bool {
    r.event_category == "PRED" && r.event_type == "INDIVIDUAL_PREDICTION" && r.status == "SUCCESS"
}

/// `response_data.confidence` as a number (a numeric string counts, as PostgreSQL's
/// `CAST(response_data->>'confidence' AS FLOAT)` would take it).
fn confidence(r: &EventRecord) -> Option<f64> {
    match r.response_data.as_ref()?.get("confidence")? {
        serde_json::Value::Number(n) => n.as_f64(),
        serde_json::Value::String(s) => s.trim().parse().ok(),
        _ => None,
    }
    // A confidence is a probability (0..1) or a percentage (0..100). Anything else is a
    // client bug, and one 1e308 would make the hour's sum infinite: it is not averaged.
    .filter(|c: &f64| (0.0..=100.0).contains(c))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_confidences_from_0_to_100_are_averaged() {
        let with = |c: serde_json::Value| {
            let mut r = stored(
                r#"{"event_category":"PRED","event_type":"INDIVIDUAL_PREDICTION","status":"SUCCESS"}"#,
            );
            r.response_data = Some(serde_json::json!({ "confidence": c }));
            confidence(&r)
        };
        assert_eq!(with(serde_json::json!(0.87)), Some(0.87));
        assert_eq!(with(serde_json::json!("87.5")), Some(87.5));
        assert_eq!(with(serde_json::json!(1e308)), None);
        assert_eq!(with(serde_json::json!(-0.5)), None);
    }

    #[test]
    fn latency_buckets_are_monotonic_and_bound_their_values() {
        let mut last = 0;
        for ms in [0.5, 1.0, 1.5, 2.0, 10.0, 99.0, 100.0, 1000.0, 123_456.0] {
            let b = latency_bucket(ms);
            assert!(b >= last);
            last = b;
            assert!(latency_bucket_upper(b) >= ms, "{ms} <= upper of {b}");
            if b > 0 {
                assert!(
                    latency_bucket_upper(b - 1) < ms,
                    "{ms} > upper of {}",
                    b - 1
                );
            }
        }
    }

    fn stored(json: &str) -> EventRecord {
        use eventlog_core::validate::Validator;
        use eventlog_core::{parse_event, Catalog, ValidationPolicy};
        let now = DateTime::parse_from_rfc3339("2025-06-20T00:00:00Z")
            .unwrap()
            .with_timezone(&Utc);
        Validator::new(ValidationPolicy::default(), Catalog::built_in())
            .validate(parse_event(json.as_bytes()).unwrap(), now)
            .unwrap()
            .record()
            .clone()
    }

    #[test]
    fn coarser_grains_are_the_finer_cells_merged_and_each_dimension_keeps_its_grains() {
        let mut batch = RollupBatch::new();
        for (ts, ms) in [("14:05:10", 10.0), ("14:05:50", 30.0), ("15:40:00", 20.0)] {
            batch.add(&stored(&format!(
                r#"{{"event_code":"AUTH-002","user_id":"7","username":"ann","status":"FAILED",
                   "processing_time_ms":{ms},"timestamp":"2025-06-19T{ts}Z"}}"#
            )));
        }
        let total = |grain| -> Vec<(String, RollupCell)> {
            let mut cells: Vec<_> = batch
                .cells_of(grain)
                .into_iter()
                .filter(|(k, _)| k.dimension == dim::TOTAL)
                .map(|(k, c)| (k.bucket.format("%d %H:%M").to_string(), c))
                .collect();
            cells.sort_by(|a, b| a.0.cmp(&b.0));
            cells
        };
        let minutes = total(Grain::Minute);
        assert_eq!(minutes.len(), 2);
        assert_eq!((minutes[0].1.events, minutes[0].1.latency_sum), (2, 40.0));
        let hours = total(Grain::Hour);
        assert_eq!(hours.len(), 2);
        assert_eq!(hours[0].0, "19 14:00");
        let day = total(Grain::Day);
        assert_eq!(day.len(), 1);
        let c = day[0].1;
        assert_eq!((c.events, c.failures, c.latency_count), (3, 3, 3));
        assert_eq!((c.latency_sum, c.latency_max), (60.0, 30.0));

        let dimensions = |grain| -> Vec<&str> {
            let mut d: Vec<_> = batch
                .cells_of(grain)
                .into_iter()
                .map(|(k, _)| k.dimension)
                .collect();
            d.sort_unstable();
            d.dedup();
            d
        };
        assert!(dimensions(Grain::Minute).contains(&dim::FAILED_LOGIN));
        assert!(!dimensions(Grain::Minute).contains(&dim::USER_NAME));
        for grain in [Grain::Hour, Grain::Day] {
            assert!(dimensions(grain).contains(&dim::USER_NAME), "{grain:?}");
            assert!(!dimensions(grain).contains(&dim::FAILED_LOGIN), "{grain:?}");
        }
    }

    #[test]
    fn grains_floor_and_ceil() {
        let t = DateTime::parse_from_rfc3339("2025-06-19T14:30:52Z")
            .unwrap()
            .with_timezone(&Utc);
        assert_eq!(
            Grain::Hour.floor(t).to_rfc3339(),
            "2025-06-19T14:00:00+00:00"
        );
        assert_eq!(
            Grain::Hour.ceil(t).to_rfc3339(),
            "2025-06-19T15:00:00+00:00"
        );
        assert_eq!(Grain::Day.ceil(Grain::Day.floor(t)), Grain::Day.floor(t));
    }
}
