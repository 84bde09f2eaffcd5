//! [`Analytics`]: the typed API every endpoint, CLI command and dashboard page calls.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use chrono::{DateTime, Utc};
use eventlog_core::{Catalog, StoredEvent};

use super::report::*;
use super::rollup::{dim, latency_bucket_upper, user_id_of, username_of, Grain, RollupCell};
use super::window::{cover, GrainRange, Window};
use super::{hours_into_days, ActivityQuery, Measures, RollupQuery, RollupRow};
use crate::query::{most_first, Count, RecentQuery};
use crate::{Store, StoreError};

/// Most buckets a time series may have (e.g. 7 days of minutes is 10,080).
const MAX_POINTS: i64 = 10_080;

/// Most rows the critical and users reports return.
const MAX_ROWS: u32 = 1000;

/// The query layer over a store. Cheap to clone.
#[derive(Clone)]
pub struct Analytics {
    store: Arc<dyn Store>,
    catalog: Arc<Catalog>,
}

fn invalid(parameter: &'static str, message: impl Into<String>) -> StoreError {
    StoreError::InvalidQuery {
        parameter,
        message: message.into(),
    }
}

fn round2(x: f64) -> f64 {
    (x * 100.0).round() / 100.0
}

fn time(micros: i64) -> DateTime<Utc> {
    DateTime::from_timestamp_micros(micros).unwrap_or_default()
}

fn percent(part: i64, whole: i64) -> f64 {
    if whole == 0 {
        0.0
    } else {
        round2(part as f64 * 100.0 / whole as f64)
    }
}

/// The cell of a dimension kept with the single value `''` (`total`, `request`); zeros when
/// the window holds no such row.
fn cell_of(rows: &[RollupRow], dimension: &str) -> RollupCell {
    rows.iter()
        .find(|r| r.dimension == dimension)
        .map(|r| r.cell)
        .unwrap_or_default()
}

/// Counts of one dimension, most first, then by value.
fn counts(rows: &[RollupRow], dimension: &str) -> Vec<Count> {
    most_first(
        rows.iter()
            .filter(|r| r.dimension == dimension)
            .map(|r| Count {
                value: r.value.clone(),
                count: r.cell.events,
            })
            .collect(),
    )
}

/// Latency figures from the total cell and the histogram rows.
fn latency(total: &RollupCell, histogram: &[(u32, i64)]) -> LatencyStats {
    if total.latency_count == 0 {
        return LatencyStats::default();
    }
    let max = total.latency_max;
    let rank = |p: f64| {
        let target = (p * total.latency_count as f64).ceil().max(1.0) as i64;
        let mut seen = 0;
        for (bucket, n) in histogram {
            seen += n;
            if seen >= target {
                return Some(latency_bucket_upper(*bucket).min(max));
            }
        }
        Some(max)
    };
    LatencyStats {
        count: total.latency_count,
        avg_ms: Some(total.latency_sum / total.latency_count as f64),
        p50_ms: rank(0.50),
        p95_ms: rank(0.95),
        p99_ms: rank(0.99),
        max_ms: Some(max),
    }
}

/// The histogram rows of `rows`, ascending by bucket.
fn histogram<'a>(rows: impl Iterator<Item = &'a RollupRow>) -> Vec<(u32, i64)> {
    let mut h: BTreeMap<u32, i64> = BTreeMap::new();
    for r in rows.filter(|r| r.dimension == dim::LATENCY_BUCKET) {
        if let Ok(b) = r.value.parse() {
            *h.entry(b).or_default() += r.cell.events;
        }
    }
    h.into_iter().collect()
}

/// A read of `dimensions` summed over `window`, covered by the coarsest grains down to
/// `finest`.
fn summed(
    window: Window,
    finest: Grain,
    dimensions: &[&'static str],
    tenant: Option<&str>,
    measures: Measures,
) -> RollupQuery {
    RollupQuery {
        ranges: cover(window, finest),
        dimensions: dimensions.to_vec(),
        tenant_id: tenant.map(str::to_owned),
        per_bucket: false,
        measures,
    }
}

impl Analytics {
    /// The query layer over `store`; `catalog` gives the activities feed its icons.
    pub fn new(store: Arc<dyn Store>, catalog: Arc<Catalog>) -> Self {
        Self { store, catalog }
    }

    /// The rollup rows of `query`, its day ranges from `daily_from` on read from the
    /// hours (day rollups are folded only once a day is over; see `rollup_state`).
    async fn read(&self, query: &RollupQuery) -> Result<Vec<RollupRow>, StoreError> {
        let daily_from = self.store.daily_from().await?;
        let (query, hours_read) = query.with_unfolded_days_as_hours(daily_from);
        let rows = self.store.rollup_rows(&query).await?;
        Ok(if hours_read && query.per_bucket {
            hours_into_days(rows, daily_from)
        } else {
            rows
        })
    }

    /// The distinct values of `query`'s dimension, read like [`Self::read`].
    async fn values(&self, query: &RollupQuery) -> Result<Vec<String>, StoreError> {
        let daily_from = self.store.daily_from().await?;
        let (query, _) = query.with_unfolded_days_as_hours(daily_from);
        self.store.rollup_values(&query).await
    }

    async fn rows(
        &self,
        window: Window,
        finest: Grain,
        dimensions: &[&'static str],
        tenant: Option<&str>,
    ) -> Result<Vec<RollupRow>, StoreError> {
        self.rows_of(window, finest, dimensions, tenant, Measures::All)
            .await
    }

    async fn rows_of(
        &self,
        window: Window,
        finest: Grain,
        dimensions: &[&'static str],
        tenant: Option<&str>,
        measures: Measures,
    ) -> Result<Vec<RollupRow>, StoreError> {
        self.read(&summed(window, finest, dimensions, tenant, measures))
            .await
    }

    /// Totals, breakdowns, error rate, latency, request rate and active users of the
    /// window `[since, until)` widened to whole minutes.
    pub async fn summary(
        &self,
        since: DateTime<Utc>,
        until: DateTime<Utc>,
        tenant: Option<&str>,
    ) -> Result<Summary, StoreError> {
        let window = Window::aligned(since, until, Grain::Minute);
        let users_window = Window::aligned(since, until, Grain::Hour);
        // Two independent reads, at once: the distinct-user count over one row per active
        // user per hour is the slower of the two.
        // One dimension per read: SQLite answers a single dimension's distinct values
        // from the primary key alone.
        let users_query = |dimension| {
            summed(
                users_window,
                Grain::Hour,
                &[dimension],
                tenant,
                Measures::Counts,
            )
        };
        let (names_query, older_query) = (users_query(dim::USER_NAME), users_query(dim::USER));
        let (rows, user_names, older_users) = tokio::try_join!(
            self.rows(
                window,
                Grain::Minute,
                &[
                    dim::TOTAL,
                    dim::CATEGORY,
                    dim::SEVERITY,
                    dim::STATUS,
                    dim::REQUEST,
                    dim::LATENCY_BUCKET,
                ],
                tenant,
            ),
            self.values(&names_query),
            self.values(&older_query),
        )?;
        let active_users: BTreeSet<&str> = user_names
            .iter()
            .map(|v| user_id_of(dim::USER_NAME, v))
            .chain(older_users.iter().map(|v| user_id_of(dim::USER, v)))
            .filter(|id| !id.is_empty())
            .collect();
        let active_users = active_users.len() as i64;
        let total = cell_of(&rows, dim::TOTAL);
        let requests = cell_of(&rows, dim::REQUEST).events;
        Ok(Summary {
            window,
            total_events: total.events,
            by_category: counts(&rows, dim::CATEGORY),
            by_severity: counts(&rows, dim::SEVERITY),
            by_status: counts(&rows, dim::STATUS),
            errors: total.errors,
            error_rate_percent: percent(total.errors, total.events),
            failures: total.failures,
            response_time: latency(&total, &histogram(rows.iter())),
            requests,
            requests_per_minute: round2(requests as f64 / window.minutes() as f64),
            active_users,
            users_window,
        })
    }

    /// Seed 002 "Recent Critical Events": how many, and the newest `limit` of them.
    pub async fn critical(
        &self,
        since: DateTime<Utc>,
        until: DateTime<Utc>,
        limit: u32,
        tenant: Option<&str>,
    ) -> Result<CriticalReport, StoreError> {
        let window = Window::aligned(since, until, Grain::Minute);
        let rows = self
            .rows(window, Grain::Minute, &[dim::SEVERITY], tenant)
            .await?;
        let count = rows
            .iter()
            .find(|r| r.value == "CRITICAL")
            .map_or(0, |r| r.cell.events);
        // The list itself comes from the (severity, timestamp) index: rollups count, they
        // cannot list.
        let page = self
            .store
            .recent(&RecentQuery {
                limit: limit.clamp(1, MAX_ROWS),
                since: Some(window.since),
                until: Some(window.until),
                severity: vec!["CRITICAL".into()],
                tenant_id: tenant.map(str::to_owned),
                ..Default::default()
            })
            .await?;
        Ok(CriticalReport {
            window,
            count,
            events: page
                .events
                .into_iter()
                .map(|e| CriticalEvent {
                    event_id: e.record.event_id,
                    event_name: e.record.event_name,
                    event_description: e.record.event_description,
                    username: e.record.username,
                    timestamp: e.record.timestamp,
                })
                .collect(),
        })
    }

    /// Seed 002 "User Activity Summary" over the window widened to whole hours.
    pub async fn users(
        &self,
        since: DateTime<Utc>,
        until: DateTime<Utc>,
        limit: u32,
        tenant: Option<&str>,
    ) -> Result<UsersReport, StoreError> {
        let window = Window::aligned(since, until, Grain::Hour);
        // One dimension per read (see `summary`); `username` rows exist only in stores
        // written before `user_name`.
        let (rows, older) = tokio::try_join!(
            self.rows_of(
                window,
                Grain::Hour,
                &[dim::USER_NAME],
                tenant,
                Measures::Counts
            ),
            self.rows_of(
                window,
                Grain::Hour,
                &[dim::USERNAME],
                tenant,
                Measures::Counts
            ),
        )?;
        // One row per user and name (older stores: per name), summed per name.
        let mut per_name: BTreeMap<&str, RollupCell> = BTreeMap::new();
        for r in rows.iter().chain(&older) {
            per_name
                .entry(username_of(&r.dimension, &r.value))
                .or_default()
                .merge(&r.cell);
        }
        let mut users: Vec<UserRow> = per_name
            .into_iter()
            .map(|(name, cell)| UserRow {
                username: (!name.is_empty()).then(|| name.to_owned()),
                event_count: cell.events,
                last_activity: time(cell.last_seen_micros),
            })
            .collect();
        users.sort_by(|a, b| {
            b.event_count
                .cmp(&a.event_count)
                .then_with(|| a.username.cmp(&b.username))
        });
        users.truncate(limit.clamp(1, MAX_ROWS) as usize);
        Ok(UsersReport { window, users })
    }

    /// Seed 002 "Error Rate by Endpoint": endpoints with more than 10 requests.
    pub async fn endpoints(
        &self,
        since: DateTime<Utc>,
        until: DateTime<Utc>,
        tenant: Option<&str>,
    ) -> Result<EndpointsReport, StoreError> {
        let window = Window::aligned(since, until, Grain::Minute);
        // Thousands of distinct paths per day: read only the counts the report shows.
        let rows = self
            .rows_of(
                window,
                Grain::Minute,
                &[dim::ENDPOINT],
                tenant,
                Measures::Counts,
            )
            .await?;
        let mut endpoints: Vec<EndpointRow> = rows
            .iter()
            .filter(|r| r.cell.events > 10)
            .map(|r| EndpointRow {
                endpoint: r.value.clone(),
                total_requests: r.cell.events,
                error_count: r.cell.errors,
                error_rate: percent(r.cell.errors, r.cell.events),
            })
            .collect();
        endpoints.sort_by(|a, b| {
            b.error_rate
                .total_cmp(&a.error_rate)
                .then_with(|| b.total_requests.cmp(&a.total_requests))
                .then_with(|| a.endpoint.cmp(&b.endpoint))
        });
        Ok(EndpointsReport { window, endpoints })
    }

    /// Seed 002 "Security Events Dashboard".
    pub async fn security(
        &self,
        since: DateTime<Utc>,
        until: DateTime<Utc>,
        tenant: Option<&str>,
    ) -> Result<SecurityReport, StoreError> {
        let window = Window::aligned(since, until, Grain::Minute);
        let rows = self
            .rows_of(
                window,
                Grain::Minute,
                &[dim::SECURITY_TYPE],
                tenant,
                Measures::Counts,
            )
            .await?;
        let mut types: Vec<SecurityRow> = rows
            .iter()
            .map(|r| SecurityRow {
                event_type: r.value.clone(),
                count: r.cell.events,
                latest: time(r.cell.last_seen_micros),
            })
            .collect();
        types.sort_by(|a, b| {
            b.count
                .cmp(&a.count)
                .then_with(|| a.event_type.cmp(&b.event_type))
        });
        Ok(SecurityReport { window, types })
    }

    /// Seed 002 "Model Performance Tracking": per hour, newest first.
    pub async fn models(
        &self,
        since: DateTime<Utc>,
        until: DateTime<Utc>,
        tenant: Option<&str>,
    ) -> Result<ModelsReport, StoreError> {
        let window = Window::aligned(since, until, Grain::Hour);
        let rows = self
            .read(&RollupQuery {
                ranges: vec![GrainRange {
                    grain: Grain::Hour,
                    from: window.since,
                    to: window.until,
                }],
                dimensions: vec![dim::PREDICTION],
                tenant_id: tenant.map(str::to_owned),
                per_bucket: true,
                measures: Measures::All,
            })
            .await?;
        let mut hours: Vec<ModelHour> = rows
            .iter()
            .filter_map(|r| {
                Some(ModelHour {
                    hour: r.bucket?,
                    avg_confidence: (r.cell.confidence_count > 0)
                        .then(|| r.cell.confidence_sum / r.cell.confidence_count as f64),
                    prediction_count: r.cell.events,
                })
            })
            .collect();
        hours.sort_by_key(|h| std::cmp::Reverse(h.hour));
        Ok(ModelsReport { window, hours })
    }

    /// Seed 002 "System Performance Metrics": per event name, slowest first.
    pub async fn performance(
        &self,
        since: DateTime<Utc>,
        until: DateTime<Utc>,
        tenant: Option<&str>,
    ) -> Result<PerformanceReport, StoreError> {
        let window = Window::aligned(since, until, Grain::Minute);
        let rows = self
            .rows(window, Grain::Minute, &[dim::EVENT_NAME], tenant)
            .await?;
        let mut events: Vec<PerformanceRow> = rows
            .iter()
            .filter(|r| r.cell.latency_count > 0)
            .map(|r| PerformanceRow {
                event_name: r.value.clone(),
                avg_response_time: r.cell.latency_sum / r.cell.latency_count as f64,
                max_response_time: r.cell.latency_max,
                request_count: r.cell.latency_count,
            })
            .collect();
        events.sort_by(|a, b| {
            b.avg_response_time
                .total_cmp(&a.avg_response_time)
                .then_with(|| a.event_name.cmp(&b.event_name))
        });
        Ok(PerformanceReport { window, events })
    }

    /// Error rate, mean response time and CRITICAL events of the window `[since, until)`
    /// widened to whole minutes: what the alert rules watch, in one rollup read.
    pub async fn health(
        &self,
        since: DateTime<Utc>,
        until: DateTime<Utc>,
        tenant: Option<&str>,
    ) -> Result<Health, StoreError> {
        let window = Window::aligned(since, until, Grain::Minute);
        let rows = self
            .rows(
                window,
                Grain::Minute,
                &[dim::TOTAL, dim::SEVERITY, dim::OWN],
                tenant,
            )
            .await?;
        let total = cell_of(&rows, dim::TOTAL);
        let own = rows.iter().filter(|r| r.dimension == dim::OWN);
        let (own_events, own_errors) =
            own.fold((0, 0), |(n, e), r| (n + r.cell.events, e + r.cell.errors));
        let (events, errors) = (total.events - own_events, total.errors - own_errors);
        Ok(Health {
            window,
            events,
            errors,
            error_rate_percent: percent(errors, events),
            latency_count: total.latency_count,
            avg_response_ms: (total.latency_count > 0)
                .then(|| total.latency_sum / total.latency_count as f64),
            critical_events: rows
                .iter()
                .find(|r| r.dimension == dim::SEVERITY && r.value == "CRITICAL")
                .map_or(0, |r| r.cell.events),
        })
    }

    /// Failed logins per user (username, else user id, else IP) in the window, most first.
    pub async fn failed_logins(
        &self,
        since: DateTime<Utc>,
        until: DateTime<Utc>,
        tenant: Option<&str>,
    ) -> Result<Vec<Count>, StoreError> {
        let window = Window::aligned(since, until, Grain::Minute);
        // Kept per minute only (the alert's window is minutes long): no coarser ranges.
        let rows = self
            .read(&RollupQuery {
                ranges: vec![GrainRange {
                    grain: Grain::Minute,
                    from: window.since,
                    to: window.until,
                }],
                dimensions: vec![dim::FAILED_LOGIN],
                tenant_id: tenant.map(str::to_owned),
                per_bucket: false,
                measures: Measures::All,
            })
            .await?;
        Ok(counts(&rows, dim::FAILED_LOGIN))
    }

    /// A time series of `metric` per `interval`, optionally one series per value of
    /// `group_by`. Metrics: events, errors, failures, error_rate, requests,
    /// avg_response_ms, p95_response_ms, active_users.
    pub async fn timeseries(
        &self,
        metric: &str,
        interval: &str,
        group_by: Option<&str>,
        since: DateTime<Utc>,
        until: DateTime<Utc>,
        tenant: Option<&str>,
    ) -> Result<Timeseries, StoreError> {
        let grain = match interval {
            "minute" => Grain::Minute,
            "hour" => Grain::Hour,
            "day" => Grain::Day,
            other => {
                return Err(invalid(
                    "interval",
                    format!("unknown interval `{other}`; expected minute, hour or day"),
                ))
            }
        };
        const METRICS: &[&str] = &[
            "events",
            "errors",
            "failures",
            "error_rate",
            "requests",
            "avg_response_ms",
            "p95_response_ms",
            "active_users",
        ];
        if !METRICS.contains(&metric) {
            return Err(invalid(
                "metric",
                format!(
                    "unknown metric `{metric}`; expected one of {}",
                    METRICS.join(", ")
                ),
            ));
        }
        const GROUPS: &[&str] = &[
            dim::CATEGORY,
            dim::TYPE,
            dim::CODE,
            dim::SEVERITY,
            dim::STATUS,
            dim::IMPORTANCE,
            dim::ENDPOINT,
            dim::EVENT_NAME,
        ];
        let group = match group_by {
            None => None,
            Some(g) => Some(*GROUPS.iter().find(|d| **d == g).ok_or_else(|| {
                invalid(
                    "group_by",
                    format!(
                        "cannot group by `{g}`; expected one of {}",
                        GROUPS.join(", ")
                    ),
                )
            })?),
        };
        if group.is_some() && matches!(metric, "p95_response_ms" | "active_users" | "requests") {
            return Err(invalid(
                "group_by",
                format!("metric `{metric}` is not kept per group; drop group_by"),
            ));
        }
        if metric == "active_users" && grain == Grain::Minute {
            return Err(invalid(
                "interval",
                "active_users is kept per hour and per day; use interval=hour or day",
            ));
        }
        let window = Window::aligned(since, until, grain);
        let buckets = (window.until - window.since).num_seconds() / grain.length().num_seconds();
        // Widening a window to whole buckets adds one: 7 days of minutes that do not start
        // on a minute are 10,081 buckets, and are still asked for as 7 days.
        if buckets > MAX_POINTS + 1 {
            return Err(invalid(
                "interval",
                format!("{buckets} {interval}s is more than {MAX_POINTS} points; use a larger interval or a shorter window"),
            ));
        }
        let dimensions: Vec<&'static str> = match (metric, group) {
            (_, Some(g)) => vec![g],
            ("requests", None) => vec![dim::REQUEST],
            ("active_users", None) => vec![dim::USER_NAME, dim::USER],
            ("p95_response_ms", None) => vec![dim::TOTAL, dim::LATENCY_BUCKET],
            _ => vec![dim::TOTAL],
        };
        let rows = self
            .read(&RollupQuery {
                ranges: vec![GrainRange {
                    grain,
                    from: window.since,
                    to: window.until,
                }],
                dimensions,
                tenant_id: tenant.map(str::to_owned),
                per_bucket: true,
                measures: Measures::All,
            })
            .await?;
        // Group rows by series key, then by bucket.
        let mut per_series: BTreeMap<Option<String>, BTreeMap<DateTime<Utc>, Vec<&RollupRow>>> =
            BTreeMap::new();
        for r in &rows {
            let Some(bucket) = r.bucket else { continue };
            let key = group.map(|_| r.value.clone());
            per_series
                .entry(key)
                .or_default()
                .entry(bucket)
                .or_default()
                .push(r);
        }
        if group.is_none() {
            per_series.entry(None).or_default();
        }
        let value_of = |rows: &[&RollupRow]| -> Option<f64> {
            let mut cell = RollupCell::default();
            for r in rows.iter().filter(|r| r.dimension != dim::LATENCY_BUCKET) {
                cell.merge(&r.cell);
            }
            match metric {
                "events" => Some(cell.events as f64),
                "errors" => Some(cell.errors as f64),
                "failures" => Some(cell.failures as f64),
                "error_rate" => Some(percent(cell.errors, cell.events)),
                "requests" => Some(cell.events as f64),
                "active_users" => Some(
                    rows.iter()
                        .filter(|r| r.cell.events > 0)
                        .map(|r| user_id_of(&r.dimension, &r.value))
                        .filter(|id| !id.is_empty())
                        .collect::<BTreeSet<_>>()
                        .len() as f64,
                ),
                "avg_response_ms" => {
                    (cell.latency_count > 0).then(|| cell.latency_sum / cell.latency_count as f64)
                }
                _ => latency(&cell, &histogram(rows.iter().copied())).p95_ms,
            }
        };
        let empty_value = match metric {
            "avg_response_ms" | "p95_response_ms" => None,
            _ => Some(0.0),
        };
        let series = per_series
            .into_iter()
            .map(|(key, by_bucket)| {
                let mut points = Vec::with_capacity(buckets as usize);
                let mut t = window.since;
                while t < window.until {
                    let value = by_bucket.get(&t).map_or(empty_value, |rows| value_of(rows));
                    points.push(Point { t, value });
                    t += grain.length();
                }
                Series { key, points }
            })
            .collect();
        Ok(Timeseries {
            metric: metric.to_owned(),
            interval: grain.as_str().to_owned(),
            group_by: group.map(str::to_owned),
            window,
            series,
        })
    }

    /// The activities feed: events newest first as sentences with icon and colour.
    pub async fn activities(&self, query: &ActivityQuery) -> Result<ActivityPage, StoreError> {
        let page = self.store.activities(query).await?;
        Ok(ActivityPage {
            activities: page.events.into_iter().map(|e| self.activity(e)).collect(),
            next_cursor: page.next_cursor,
        })
    }

    fn activity(&self, event: StoredEvent) -> Activity {
        let r = &event.record;
        let entry = r
            .event_code
            .as_deref()
            .and_then(|c| self.catalog.get(c))
            .or_else(|| self.catalog.get(&r.event_type));
        let (icon, color) = entry.map_or(("circle".to_owned(), "#64748b".to_owned()), |e| {
            (e.icon.clone(), e.color.clone())
        });
        let metadata = r.metadata.as_ref().and_then(|m| m.as_object());
        let meta_str = |k: &str| {
            metadata
                .and_then(|m| m.get(k))
                .and_then(|v| v.as_str())
                .map(str::to_owned)
        };
        let actor = r
            .username
            .clone()
            .or_else(|| r.user_id.clone())
            .or_else(|| meta_str("actor"));
        let mut related = r.related.clone().unwrap_or_default();
        if let (Some(t), Some(id)) = (&r.resource_type, &r.resource_id) {
            related
                .entry(t.to_ascii_lowercase())
                .or_insert_with(|| id.clone().into());
        }
        if let Some(t) = &r.tenant_id {
            related
                .entry("tenant".to_owned())
                .or_insert_with(|| t.clone().into());
        }
        Activity {
            message: sentence(
                &r.event_name,
                r.resource_name.clone(),
                metadata,
                actor.as_deref(),
            ),
            icon,
            color,
            importance: r.importance.as_str().to_owned(),
            actor,
            related,
            event,
        }
    }
}

/// "Tenant Acme created by alice": for a name like "Tenant Created" whose last word is a
/// past participle, the noun, the object's name and the verb; otherwise the event name,
/// the object's name in parentheses, and the actor.
fn sentence(
    event_name: &str,
    resource_name: Option<String>,
    metadata: Option<&serde_json::Map<String, serde_json::Value>>,
    actor: Option<&str>,
) -> String {
    let (noun, verb) = match event_name.rsplit_once(' ') {
        Some((noun, verb)) if verb.ends_with("ed") => (Some(noun), Some(verb.to_lowercase())),
        _ => (None, None),
    };
    let object = resource_name.or_else(|| {
        let key = format!("{}_name", noun?.to_ascii_lowercase().replace(' ', "_"));
        metadata?.get(&key)?.as_str().map(str::to_owned)
    });
    let mut s = match (noun, verb, &object) {
        (Some(noun), Some(verb), Some(object)) => format!("{noun} {object} {verb}"),
        (_, _, Some(object)) => format!("{event_name} ({object})"),
        _ => event_name.to_owned(),
    };
    if let Some(actor) = actor {
        s.push_str(" by ");
        s.push_str(actor);
    }
    s
}

#[cfg(test)]
mod tests {
    use super::sentence;
    use serde_json::json;

    #[test]
    fn sentences_read_like_the_seed_feed() {
        let meta = json!({"tenant_name": "Acme"});
        assert_eq!(
            sentence("Tenant Created", None, meta.as_object(), Some("alice")),
            "Tenant Acme created by alice"
        );
        assert_eq!(
            sentence("Code Revoked", Some("ABC-123".into()), None, None),
            "Code ABC-123 revoked"
        );
        assert_eq!(
            sentence("User Login Success", None, None, Some("guru01")),
            "User Login Success by guru01"
        );
    }
}
