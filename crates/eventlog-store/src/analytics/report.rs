//! The answers of the query layer, as the API serialises them.

use chrono::{DateTime, Utc};
use eventlog_core::StoredEvent;
use serde::Serialize;
use utoipa::ToSchema;

use super::window::Window;
use crate::query::Count;

/// `GET /api/events/analytics/summary`: the numbers of the seeds' dashboard.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct Summary {
    /// The window counted (aligned to whole minutes).
    pub window: Window,
    /// Events in the window.
    pub total_events: i64,
    /// Events by category, most first.
    pub by_category: Vec<Count>,
    /// Events by severity, most first.
    pub by_severity: Vec<Count>,
    /// Events by status, most first.
    pub by_status: Vec<Count>,
    /// Events with status ERROR.
    pub errors: i64,
    /// `errors` as a percentage of `total_events` (0 when there are none), 2 decimals.
    pub error_rate_percent: f64,
    /// Events with a failure status (FAILED, FAILURE, ERROR, DENIED, BLOCKED, TIMEOUT).
    pub failures: i64,
    /// Latency over events with a `processing_time_ms`.
    pub response_time: LatencyStats,
    /// Events with an endpoint (HTTP requests).
    pub requests: i64,
    /// `requests` per minute of the window.
    pub requests_per_minute: f64,
    /// Distinct user ids with at least one event in `users_window`.
    pub active_users: i64,
    /// The window `active_users` counts: `window` widened to whole hours (users are rolled
    /// up per hour, not per minute).
    pub users_window: Window,
}

/// Response-time figures. Percentiles come from a log-bucket histogram (8 buckets per
/// doubling) and are the upper bound of the bucket holding the rank, capped at the maximum:
/// within 9% of the exact value.
#[derive(Debug, Clone, Copy, Default, Serialize, ToSchema)]
pub struct LatencyStats {
    /// Events with a processing time.
    pub count: i64,
    /// Mean (ms), null without data.
    pub avg_ms: Option<f64>,
    /// Median (ms).
    pub p50_ms: Option<f64>,
    /// 95th percentile (ms).
    pub p95_ms: Option<f64>,
    /// 99th percentile (ms).
    pub p99_ms: Option<f64>,
    /// Maximum (ms).
    pub max_ms: Option<f64>,
}

/// Seed 002 "Recent Critical Events".
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct CriticalReport {
    /// The window (aligned to whole minutes).
    pub window: Window,
    /// CRITICAL events in the window (all of them, also beyond `events`).
    pub count: i64,
    /// The newest CRITICAL events, newest first (at most `limit`).
    pub events: Vec<CriticalEvent>,
}

/// One row of [`CriticalReport`], the columns of the seed query plus the id.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct CriticalEvent {
    /// Event id.
    pub event_id: String,
    /// Event name.
    pub event_name: String,
    /// Description.
    pub event_description: Option<String>,
    /// Username.
    pub username: Option<String>,
    /// When it happened.
    pub timestamp: DateTime<Utc>,
}

/// Seed 002 "User Activity Summary".
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct UsersReport {
    /// The window (aligned to whole hours).
    pub window: Window,
    /// Users, most events first (events without a username form one row with `null`).
    pub users: Vec<UserRow>,
}

/// One user of [`UsersReport`].
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct UserRow {
    /// Username.
    pub username: Option<String>,
    /// Events in the window.
    pub event_count: i64,
    /// Their latest timestamp.
    pub last_activity: DateTime<Utc>,
}

/// Seed 002 "Error Rate by Endpoint".
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct EndpointsReport {
    /// The window (aligned to whole minutes).
    pub window: Window,
    /// Endpoints with more than 10 requests, highest error rate first.
    pub endpoints: Vec<EndpointRow>,
}

/// One endpoint of [`EndpointsReport`].
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct EndpointRow {
    /// Endpoint template: record ids in the path are `{id}` (`eventlog_core::route`).
    pub endpoint: String,
    /// Requests.
    pub total_requests: i64,
    /// Requests with status ERROR.
    pub error_count: i64,
    /// `error_count` as a percentage of `total_requests`, 2 decimals.
    pub error_rate: f64,
}

/// Seed 002 "Security Events Dashboard".
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct SecurityReport {
    /// The window (aligned to whole minutes).
    pub window: Window,
    /// SECURITY events by type, most first.
    pub types: Vec<SecurityRow>,
}

/// One type of [`SecurityReport`].
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct SecurityRow {
    /// Event type.
    pub event_type: String,
    /// Events.
    pub count: i64,
    /// Latest timestamp.
    pub latest: DateTime<Utc>,
}

/// Seed 002 "Model Performance Tracking".
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct ModelsReport {
    /// The window (aligned to whole hours).
    pub window: Window,
    /// Hours with successful individual predictions, newest first.
    pub hours: Vec<ModelHour>,
}

/// One hour of [`ModelsReport`].
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct ModelHour {
    /// Start of the hour.
    pub hour: DateTime<Utc>,
    /// Mean `response_data.confidence` (null if none carried one).
    pub avg_confidence: Option<f64>,
    /// Successful individual predictions.
    pub prediction_count: i64,
}

/// Seed 002 "System Performance Metrics".
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct PerformanceReport {
    /// The window (aligned to whole minutes).
    pub window: Window,
    /// Event names with a processing time, slowest average first.
    pub events: Vec<PerformanceRow>,
}

/// One event name of [`PerformanceReport`].
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct PerformanceRow {
    /// Event name, paths in it templated (`GET /api/siswa/{id}`).
    pub event_name: String,
    /// Mean processing time (ms).
    pub avg_response_time: f64,
    /// Largest processing time (ms).
    pub max_response_time: f64,
    /// Events with a processing time.
    pub request_count: i64,
}

/// `GET /api/events/analytics/timeseries`.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct Timeseries {
    /// The metric.
    pub metric: String,
    /// The bucket size.
    pub interval: String,
    /// The grouping dimension, if any.
    pub group_by: Option<String>,
    /// The window (aligned to whole intervals).
    pub window: Window,
    /// One series per group value (one series with `key` null without grouping).
    pub series: Vec<Series>,
}

/// One series of [`Timeseries`].
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct Series {
    /// The group value.
    pub key: Option<String>,
    /// One point per bucket of the window, oldest first.
    pub points: Vec<Point>,
}

/// One point of a [`Series`].
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct Point {
    /// Bucket start.
    pub t: DateTime<Utc>,
    /// The value; null where a mean or percentile has no data.
    pub value: Option<f64>,
}

/// One entry of the activities feed (seed 003): the event with a sentence, an icon and a
/// colour for display.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct Activity {
    /// A human sentence, e.g. "Tenant Acme created by alice".
    pub message: String,
    /// Icon name from the catalog (`circle` for codes the catalog does not know).
    pub icon: String,
    /// Display colour from the catalog.
    pub color: String,
    /// MAJOR or MINOR.
    pub importance: String,
    /// Who did it (username, else user id), if known.
    pub actor: Option<String>,
    /// Entities the event concerns: its resource and its `related` entities (tenant,
    /// project, device, code ...), as `{type: id}`.
    pub related: serde_json::Map<String, serde_json::Value>,
    /// The event.
    pub event: StoredEvent,
}

/// A page of the activities feed.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct ActivityPage {
    /// Activities, newest first.
    pub activities: Vec<Activity>,
    /// Pass as `cursor` for the next page; null on the last.
    pub next_cursor: Option<String>,
}

/// The few numbers the alert rules watch, read from the minute rollups in one query.
#[derive(Debug, Clone, Copy, Serialize, ToSchema)]
pub struct Health {
    /// The window counted (aligned to whole minutes).
    pub window: Window,
    /// The applications' events in the window: not those eventlog wrote itself (its audit
    /// trail, detection's findings, alert events), so that reading or exporting cannot
    /// dilute the error rate.
    pub events: i64,
    /// Of those, events with status ERROR.
    pub errors: i64,
    /// `errors` as a percentage of `events` (0 when there are none), 2 decimals.
    pub error_rate_percent: f64,
    /// Events with a processing time.
    pub latency_count: i64,
    /// Their mean processing time (ms), null without data.
    pub avg_response_ms: Option<f64>,
    /// Events with severity CRITICAL.
    pub critical_events: i64,
}
