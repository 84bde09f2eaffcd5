//! The dashboard's pages. Each handler makes the same calls the matching API handler
//! makes (`state.analytics`, `state.store`, `health_report`) and only formats the answer.

use std::collections::HashMap;

use askama::Template;
use axum::extract::rejection::{FormRejection, QueryRejection};
use axum::extract::{Path, Query, RawQuery, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use axum::{Extension, Form};
use chrono::{DateTime, Duration, Utc};
use eventlog_core::{Importance, StoredEvent};
use eventlog_store::alerts::{Alert, AlertState};
use eventlog_store::analytics::{ActivityQuery, Series};
use eventlog_store::query::FAILURE_STATUSES;
use eventlog_store::{Cursor, RecentQuery};
use serde::Deserialize;

use super::session::{set_cookie, SESSION_COOKIE};
use super::svg::{category_color, icon, safe_color, severity_color, stacked_bars};
use super::{may_open, render, secure, urlencode, Lang, PageCtx, NAV};
use crate::alerts::api::{alerts_view, AlertFilter};
use crate::auth::Caller;
use crate::limits::ClientIp;
use crate::routes::query::RecentParams;
use crate::routes::system::health_report;
use crate::{ApiError, AppState};

/// A failed page: rendered as the error page.
pub(super) struct PageError(Box<Response>);

impl IntoResponse for PageError {
    fn into_response(self) -> Response {
        *self.0
    }
}

type PageResult = Result<Response, PageError>;

#[derive(Template)]
#[template(path = "error.html")]
struct ErrorPage<'a> {
    ctx: &'a PageCtx,
    status: u16,
    message: &'a str,
}

/// The error page with `status` and `message`.
pub(super) fn error_page(ctx: &PageCtx, status: StatusCode, message: &str) -> Response {
    let mut r = render(&ErrorPage {
        ctx,
        status: status.as_u16(),
        message,
    });
    *r.status_mut() = status;
    r
}

impl PageCtx {
    /// An API error as an error page (same status and message the API would give).
    fn fail(&self, e: ApiError) -> PageError {
        PageError(Box::new(error_page(self, e.status(), &e.body().message)))
    }

    /// The language, as `en`/`id`.
    pub fn lang_code(&self) -> &'static str {
        self.lang.code()
    }
}

/// A time as the pages show it: RFC 3339 for the browser's formatter, UTC text meanwhile.
#[derive(Debug, Clone)]
pub(super) struct Time {
    iso: String,
    text: String,
}

fn time(t: DateTime<Utc>) -> Time {
    Time {
        iso: t.to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
        text: t.format("%Y-%m-%d %H:%M:%S UTC").to_string(),
    }
}

/// Integer with the language's thousands separator.
fn int(n: i64, lang: Lang) -> String {
    let digits = n.unsigned_abs().to_string();
    let sep = if lang == Lang::Id { '.' } else { ',' };
    let mut out = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(sep);
        }
        out.push(c);
    }
    if n < 0 {
        out.insert(0, '-');
    }
    out
}

/// A decimal with the language's decimal mark.
fn dec(x: f64, places: usize, lang: Lang) -> String {
    let s = format!("{x:.places$}");
    if lang == Lang::Id {
        s.replace('.', ",")
    } else {
        s
    }
}

/// One event as a table row.
#[derive(Debug, Clone)]
pub(super) struct EventRow {
    id: String,
    href: String,
    time: Time,
    severity: &'static str,
    category: String,
    code: String,
    name: String,
    user: String,
    ip: String,
    status: String,
}

fn event_row(e: &StoredEvent) -> EventRow {
    let r = &e.record;
    EventRow {
        id: r.event_id.clone(),
        href: format!("/events/{}", urlencode(&r.event_id)),
        time: time(r.timestamp),
        severity: r.severity.as_str(),
        category: r.event_category.clone(),
        code: r.event_code.clone().unwrap_or_default(),
        name: r.event_name.clone(),
        user: r
            .username
            .clone()
            .or_else(|| r.user_id.clone())
            .unwrap_or_default(),
        ip: r.ip_address.map(|ip| ip.to_string()).unwrap_or_default(),
        status: r.status.clone(),
    }
}

fn rows(events: &[StoredEvent]) -> Vec<EventRow> {
    events.iter().map(event_row).collect()
}

/// A query string from pairs (empty values left out).
fn query_string<'a>(pairs: impl IntoIterator<Item = (&'a str, &'a str)>) -> String {
    pairs
        .into_iter()
        .filter(|(_, v)| !v.is_empty())
        .map(|(k, v)| format!("{}={}", urlencode(k), urlencode(v)))
        .collect::<Vec<_>>()
        .join("&")
}

/// The window in hours from `?hours=` (default 24), 1 hour to a year.
fn hours_param(ctx: &PageCtx, q: &HashMap<String, String>) -> Result<i64, PageError> {
    match q.get("hours").map(|h| h.trim()).filter(|h| !h.is_empty()) {
        None => Ok(24),
        Some(h) => h
            .parse::<i64>()
            .ok()
            .filter(|n| (1..=crate::routes::MAX_HOURS).contains(n))
            .ok_or_else(|| {
                ctx.fail(
                    ApiError::bad_request(
                        "invalid_query",
                        format!(
                            "`{h}` is not a number of hours from 1 to {}",
                            crate::routes::MAX_HOURS
                        ),
                    )
                    .field("hours"),
                )
            }),
    }
}

/// Links to the usual windows, the current one marked.
fn window_links(ctx: &PageCtx, base: &str, hours: i64) -> Vec<(String, &'static str, bool)> {
    [(1, "window.h1"), (24, "window.h24"), (168, "window.d7")]
        .into_iter()
        .map(|(h, key)| (format!("{base}?hours={h}"), ctx.t(key), h == hours))
        .collect()
}

/// A KPI card.
struct Kpi {
    metric: &'static str,
    label: &'static str,
    value: String,
    raw: String,
}

#[derive(Template)]
#[template(path = "overview.html")]
struct Overview<'a> {
    ctx: &'a PageCtx,
    windows: Vec<(String, &'static str, bool)>,
    since: String,
    until: String,
    kpis: Vec<Kpi>,
    by_category: String,
    by_severity: String,
    endpoints: Vec<(String, String, String, String)>,
    critical_count: String,
    critical: Vec<(String, String, String, Time)>,
    queue_depth: String,
    queue_capacity: String,
    committed: String,
    last_commit: Option<Time>,
}

/// Interval of the charts for a window: minutes up to 2 h, hours up to 7 days, else days.
fn interval(hours: i64) -> &'static str {
    if hours <= 2 {
        "minute"
    } else if hours <= 168 {
        "hour"
    } else {
        "day"
    }
}

/// The overview: the seed 001 metrics, events over time by category and severity, top
/// endpoints by error rate, recent critical events and ingest health.
pub(super) async fn overview(
    State(state): State<AppState>,
    Extension(ctx): Extension<PageCtx>,
    caller: Caller,
    Query(q): Query<HashMap<String, String>>,
) -> PageResult {
    let hours = hours_param(&ctx, &q)?;
    let tenant = caller.scope_tenant(None).map_err(|e| ctx.fail(e))?;
    let tenant = tenant.as_deref();
    let until = Utc::now();
    let since = until - Duration::hours(hours);
    let a = &state.analytics;
    let fail = |e: eventlog_store::StoreError| ctx.fail(e.into());
    // Independent reads: run them at once (the reader pool has several connections), so
    // the page costs about its slowest query rather than the sum of five.
    let (summary, by_category, by_severity, endpoints, critical) = tokio::try_join!(
        a.summary(since, until, tenant),
        a.timeseries(
            "events",
            interval(hours),
            Some("category"),
            since,
            until,
            tenant
        ),
        a.timeseries(
            "events",
            interval(hours),
            Some("severity"),
            since,
            until,
            tenant
        ),
        a.endpoints(since, until, tenant),
        a.critical(since, until, 10, tenant),
    )
    .map_err(fail)?;
    let queue = state.queue.stats();
    let lang = ctx.lang;
    let rt = &summary.response_time;
    let ms = |v: Option<f64>| v.map_or("–".to_owned(), |v| format!("{} ms", dec(v, 1, lang)));
    let raw = |v: Option<f64>| v.map_or(String::new(), |v| v.to_string());
    let kpis = vec![
        Kpi {
            metric: "total_events",
            label: ctx.t("overview.total_events"),
            value: int(summary.total_events, lang),
            raw: summary.total_events.to_string(),
        },
        Kpi {
            metric: "requests_per_minute",
            label: ctx.t("overview.requests_per_minute"),
            value: dec(summary.requests_per_minute, 2, lang),
            raw: summary.requests_per_minute.to_string(),
        },
        Kpi {
            metric: "avg_ms",
            label: ctx.t("overview.avg_response"),
            value: ms(rt.avg_ms),
            raw: raw(rt.avg_ms),
        },
        Kpi {
            metric: "p95_ms",
            label: ctx.t("overview.p95_response"),
            value: ms(rt.p95_ms),
            raw: raw(rt.p95_ms),
        },
        Kpi {
            metric: "error_rate_percent",
            label: ctx.t("overview.error_rate"),
            value: format!("{} %", dec(summary.error_rate_percent, 2, lang)),
            raw: summary.error_rate_percent.to_string(),
        },
        Kpi {
            metric: "active_users",
            label: ctx.t("overview.active_users"),
            value: int(summary.active_users, lang),
            raw: summary.active_users.to_string(),
        },
    ];
    let no_data = ctx.t("common.no_data");
    let page = Overview {
        ctx: &ctx,
        windows: window_links(&ctx, "/", hours),
        since: summary.window.since.to_rfc3339(),
        until: summary.window.until.to_rfc3339(),
        kpis,
        by_category: stacked_bars(&by_category.series, category_color, no_data, false),
        by_severity: stacked_bars(
            &by_severity.series,
            |k| Some(severity_color(k)),
            no_data,
            false,
        ),
        endpoints: endpoints
            .endpoints
            .iter()
            .take(10)
            .map(|e| {
                (
                    e.endpoint.clone(),
                    int(e.total_requests, lang),
                    int(e.error_count, lang),
                    format!("{} %", dec(e.error_rate, 2, lang)),
                )
            })
            .collect(),
        critical_count: int(critical.count, lang),
        critical: critical
            .events
            .iter()
            .map(|e| {
                (
                    format!("/events/{}", urlencode(&e.event_id)),
                    e.event_name.clone(),
                    e.username.clone().unwrap_or_default(),
                    time(e.timestamp),
                )
            })
            .collect(),
        queue_depth: int(queue.depth as i64, lang),
        queue_capacity: int(queue.capacity as i64, lang),
        committed: int(queue.committed_events as i64, lang),
        last_commit: (queue.last_commit_ms > 0)
            .then(|| DateTime::from_timestamp_millis(queue.last_commit_ms))
            .flatten()
            .map(time),
    };
    Ok(render(&page))
}

/// The filter fields of the events page: (name, locale key), all of `recent`'s.
const FILTERS: &[(&str, &str)] = &[
    ("category", "filter.category"),
    ("severity", "filter.severity"),
    ("status", "filter.status"),
    ("event_code", "filter.event_code"),
    ("event_type", "filter.event_type"),
    ("username", "filter.username"),
    ("user_id", "filter.user_id"),
    ("ip_address", "filter.ip_address"),
    ("endpoint", "filter.endpoint"),
    ("resource_type", "filter.resource_type"),
    ("resource_id", "filter.resource_id"),
    ("tenant_id", "filter.tenant_id"),
    ("session_id", "filter.session_id"),
    ("correlation_id", "filter.correlation_id"),
    ("since", "filter.since"),
    ("until", "filter.until"),
];

/// A filter input: name, label, current value.
struct Field {
    name: &'static str,
    label: &'static str,
    value: String,
}

#[derive(Template)]
#[template(path = "events.html")]
struct EventsPage<'a> {
    ctx: &'a PageCtx,
    fields: Vec<Field>,
    rows: Vec<EventRow>,
    next: Option<String>,
    first: Option<String>,
    error: Option<String>,
}

/// The events explorer: every filter of `recent` in the query string, keyset paging.
pub(super) async fn events(
    State(state): State<AppState>,
    Extension(ctx): Extension<PageCtx>,
    caller: Caller,
    RawQuery(raw): RawQuery,
    params: Result<Query<RecentParams>, QueryRejection>,
) -> PageResult {
    let pairs: Vec<(String, String)> = raw
        .as_deref()
        .map(|r| {
            axum::extract::Query::<Vec<(String, String)>>::try_from_uri(
                &format!("/?{r}").parse().unwrap_or_default(),
            )
            .map(|q| q.0)
            .unwrap_or_default()
        })
        .unwrap_or_default();
    let value = |name: &str| {
        pairs
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.clone())
            .unwrap_or_default()
    };
    let fields = FILTERS
        .iter()
        .map(|(name, key)| Field {
            name,
            label: ctx.t(key),
            value: value(name),
        })
        .collect();
    let query = params
        .map_err(crate::routes::query_error)
        .and_then(|Query(p)| p.into_query(&caller, state.validator.policy()));
    let (rows, next, error, status) = match query {
        Ok(q) => {
            let page = state
                .store
                .recent(&q)
                .await
                .map_err(|e| ctx.fail(e.into()))?;
            let filters = pairs
                .iter()
                .filter(|(k, _)| k != "cursor")
                .map(|(k, v)| (k.as_str(), v.as_str()));
            let next = page.next_cursor.map(|c| {
                let base = query_string(filters.clone());
                let sep = if base.is_empty() { "" } else { "&" };
                format!("/events?{base}{sep}cursor={}", urlencode(&c))
            });
            (rows(&page.events), next, None, StatusCode::OK)
        }
        Err(e) => (Vec::new(), None, Some(e.body().message.clone()), e.status()),
    };
    let first = pairs.iter().any(|(k, _)| k == "cursor").then(|| {
        format!(
            "/events?{}",
            query_string(
                pairs
                    .iter()
                    .filter(|(k, _)| k != "cursor")
                    .map(|(k, v)| (k.as_str(), v.as_str()))
            )
        )
    });
    let mut r = render(&EventsPage {
        ctx: &ctx,
        fields,
        rows,
        next,
        first,
        error,
    });
    *r.status_mut() = status;
    Ok(r)
}

/// A related-events section: title, link to the full list, rows.
struct Related {
    title: &'static str,
    href: String,
    rows: Vec<EventRow>,
}

#[derive(Template)]
#[template(path = "event.html")]
struct EventPage<'a> {
    ctx: &'a PageCtx,
    id: String,
    name: String,
    time: Time,
    severity: &'static str,
    fields: Vec<Field2>,
    json: String,
    related: Vec<Related>,
}

/// One field of the detail view.
struct Field2 {
    name: String,
    text: String,
    link: Option<String>,
    is_time: bool,
}

/// The order fields are shown in: what happened, who, where, what on, outcome, payloads.
const FIELD_ORDER: &[&str] = &[
    "event_id",
    "event_code",
    "event_name",
    "event_category",
    "event_type",
    "event_description",
    "timestamp",
    "severity",
    "importance",
    "status",
    "action",
    "user_id",
    "username",
    "user_role",
    "tenant_id",
    "ip_address",
    "user_agent",
    "session_id",
    "correlation_id",
    "source",
    "resource_type",
    "resource_id",
    "resource_name",
    "related",
    "http_method",
    "endpoint",
    "http_status",
    "processing_time_ms",
    "error_message",
    "error_code",
    "request_data",
    "response_data",
    "metadata",
    "tags",
    "created_at",
    "processed_at",
];

/// Pretty JSON of `map` with keys in `order` first.
fn json_pretty(order: &[&str], map: &serde_json::Map<String, serde_json::Value>) -> String {
    let mut out = String::from("{\n");
    let keys: Vec<&str> = order
        .iter()
        .copied()
        .filter(|k| map.contains_key(*k))
        .chain(
            map.keys()
                .map(String::as_str)
                .filter(|k| !order.contains(k)),
        )
        .collect();
    for (i, k) in keys.iter().enumerate() {
        let v = serde_json::to_string_pretty(&map[*k]).unwrap_or_default();
        out.push_str(&format!("  {:?}: {}", k, v.replace('\n', "\n  ")));
        out.push_str(if i + 1 < keys.len() { ",\n" } else { "\n" });
    }
    out.push('}');
    out
}

/// How far around an event "nearby" and the related lists look.
const NEARBY: Duration = Duration::minutes(5);
const RELATED_SPAN: Duration = Duration::days(1);

/// One event: every field, the pretty JSON, a copyable id and related events (same
/// correlation id, session, user; nearby in time).
pub(super) async fn event(
    State(state): State<AppState>,
    Extension(ctx): Extension<PageCtx>,
    caller: Caller,
    Path(event_id): Path<String>,
) -> PageResult {
    let fail = |e: ApiError| ctx.fail(e);
    let event = state
        .store
        .get_event(&event_id, caller.tenant())
        .await
        .map_err(|e| fail(e.into()))?
        .ok_or_else(|| {
            fail(ApiError::not_found(format!("no event with id `{event_id}`")).field("event_id"))
        })?;
    let r = &event.record;
    let tenant = caller.tenant().map(str::to_owned);
    let around = |span: Duration| RecentQuery {
        limit: 11,
        since: Some(r.timestamp - span),
        until: Some(r.timestamp + span + Duration::microseconds(1)),
        tenant_id: tenant.clone(),
        ..Default::default()
    };
    let mut related = Vec::new();
    let mut wanted: Vec<(&'static str, RecentQuery, String)> = Vec::new();
    if let Some(c) = &r.correlation_id {
        wanted.push((
            "event.same_correlation",
            RecentQuery {
                correlation_id: Some(c.clone()),
                ..around(RELATED_SPAN)
            },
            query_string([("correlation_id", c.as_str())]),
        ));
    }
    if let Some(s) = &r.session_id {
        wanted.push((
            "event.same_session",
            RecentQuery {
                session_id: Some(s.clone()),
                ..around(RELATED_SPAN)
            },
            query_string([("session_id", s.as_str())]),
        ));
    }
    if let Some(u) = &r.user_id {
        wanted.push((
            "event.same_user",
            RecentQuery {
                user_id: Some(u.clone()),
                ..around(RELATED_SPAN)
            },
            query_string([("user_id", u.as_str())]),
        ));
    }
    let nearby_since = (r.timestamp - NEARBY).to_rfc3339();
    let nearby_until = (r.timestamp + NEARBY).to_rfc3339();
    wanted.push((
        "event.nearby",
        around(NEARBY),
        query_string([
            ("since", nearby_since.as_str()),
            ("until", nearby_until.as_str()),
        ]),
    ));
    for (key, query, filter) in wanted {
        let page = state
            .store
            .recent(&query)
            .await
            .map_err(|e| fail(e.into()))?;
        let rows: Vec<EventRow> = page
            .events
            .iter()
            .filter(|e| e.record.event_id != r.event_id)
            .take(10)
            .map(event_row)
            .collect();
        if !rows.is_empty() {
            related.push(Related {
                title: ctx.t(key),
                href: format!("/events?{filter}"),
                rows,
            });
        }
    }
    // Fields in the event's own order (the JSON pane shows the same), absent ones left out.
    let mut value = serde_json::to_value(&event).unwrap_or_default();
    if let Some(map) = value.as_object_mut() {
        map.retain(|_, v| !v.is_null() && v.as_array().is_none_or(|a| !a.is_empty()));
    }
    let map = value.as_object().cloned().unwrap_or_default();
    let mut fields = Vec::new();
    for k in FIELD_ORDER.iter().copied().chain(
        map.keys()
            .map(String::as_str)
            .filter(|k| !FIELD_ORDER.contains(k)),
    ) {
        let Some(v) = map.get(k) else { continue };
        let text = match v {
            serde_json::Value::String(s) => s.clone(),
            serde_json::Value::Object(_) | serde_json::Value::Array(_) => {
                serde_json::to_string(v).unwrap_or_default()
            }
            other => other.to_string(),
        };
        let link = match k {
            "user_id" => Some(format!("/users/{}", urlencode(&text))),
            "username" | "ip_address" | "endpoint" | "tenant_id" | "session_id"
            | "correlation_id" | "resource_id" | "event_code" => {
                Some(format!("/events?{}", query_string([(k, text.as_str())])))
            }
            _ => None,
        };
        let is_time = matches!(k, "timestamp" | "created_at" | "processed_at");
        fields.push(Field2 {
            name: k.to_owned(),
            text,
            link,
            is_time,
        });
    }
    let json = json_pretty(FIELD_ORDER, &map);
    Ok(render(&EventPage {
        ctx: &ctx,
        id: r.event_id.clone(),
        name: r.event_name.clone(),
        time: time(r.timestamp),
        severity: r.severity.as_str(),
        fields,
        json,
        related,
    }))
}

/// One activity of the feed, ready to show.
struct ActivityRow {
    icon: String,
    color: String,
    message: String,
    importance: String,
    actor: Option<(String, String)>,
    entities: Vec<(String, String, String)>,
    href: String,
    time: Time,
}

#[derive(Template)]
#[template(path = "activities.html")]
struct ActivitiesPage<'a> {
    ctx: &'a PageCtx,
    filters: Vec<(String, &'static str, bool)>,
    rows: Vec<ActivityRow>,
    next: Option<String>,
}

/// The activities feed of seed 003: sentences with icon and colour, MAJOR/MINOR filter,
/// actor and related entities as links.
pub(super) async fn activities(
    State(state): State<AppState>,
    Extension(ctx): Extension<PageCtx>,
    caller: Caller,
    Query(q): Query<HashMap<String, String>>,
) -> PageResult {
    let importance = match q.get("importance").map(|s| s.trim().to_ascii_uppercase()) {
        None => None,
        Some(s) if s.is_empty() => None,
        Some(s) => Some(s.parse::<Importance>().map_err(|_| {
            ctx.fail(
                ApiError::bad_request(
                    "invalid_query",
                    format!("unknown importance `{s}`; expected MAJOR or MINOR"),
                )
                .field("importance"),
            )
        })?),
    };
    let cursor = match q.get("cursor").filter(|c| !c.is_empty()) {
        None => None,
        Some(c) => Some(Cursor::decode(c).ok_or_else(|| {
            ctx.fail(
                ApiError::bad_request(
                    "invalid_query",
                    "not a cursor this server issued; pass next_cursor unchanged",
                )
                .field("cursor"),
            )
        })?),
    };
    let query = ActivityQuery {
        limit: 50,
        cursor,
        importance,
        tenant_id: caller.scope_tenant(None).map_err(|e| ctx.fail(e))?,
        ..Default::default()
    };
    let page = state
        .analytics
        .activities(&query)
        .await
        .map_err(|e| ctx.fail(e.into()))?;
    let current = importance.map_or("", |i| i.as_str());
    let rows = page
        .activities
        .iter()
        .map(|a| {
            let r = &a.event.record;
            ActivityRow {
                icon: icon(&a.icon, &a.color),
                color: safe_color(&a.color).to_owned(),
                message: a.message.clone(),
                importance: a.importance.clone(),
                actor: a.actor.as_ref().map(|name| {
                    let href = match &r.user_id {
                        Some(id) => format!("/users/{}", urlencode(id)),
                        None => format!("/events?{}", query_string([("username", name.as_str())])),
                    };
                    (name.clone(), href)
                }),
                entities: a
                    .related
                    .iter()
                    .map(|(kind, id)| {
                        let id = id.as_str().map_or_else(|| id.to_string(), str::to_owned);
                        let filter = if kind == "tenant" {
                            "tenant_id"
                        } else {
                            "resource_id"
                        };
                        let href = format!("/events?{}", query_string([(filter, id.as_str())]));
                        (kind.clone(), id, href)
                    })
                    .collect(),
                href: format!("/events/{}", urlencode(&r.event_id)),
                time: time(r.timestamp),
            }
        })
        .collect();
    let next = page.next_cursor.map(|c| {
        format!(
            "/activities?{}",
            query_string([("importance", current), ("cursor", c.as_str())])
        )
    });
    Ok(render(&ActivitiesPage {
        ctx: &ctx,
        filters: [
            ("", "activities.all"),
            ("MAJOR", "activities.major"),
            ("MINOR", "activities.minor"),
        ]
        .into_iter()
        .map(|(v, key)| {
            (
                format!("/activities?{}", query_string([("importance", v)])),
                ctx.t(key),
                v == current,
            )
        })
        .collect(),
        rows,
        next,
    }))
}

/// Rows of value, count, link.
type CountRows = Vec<(String, String, String)>;

#[derive(Template)]
#[template(path = "security.html")]
struct SecurityPage<'a> {
    ctx: &'a PageCtx,
    windows: Vec<(String, &'static str, bool)>,
    failed_logins: String,
    security_events: String,
    lockout_count: String,
    escalation_count: String,
    /// Failed logins by user and by IP, attacks by type, offending IPs: (title, rows of
    /// value, count, link).
    lists: Vec<(&'static str, CountRows)>,
    lockouts: Vec<EventRow>,
    escalations: Vec<EventRow>,
    attack_events: Vec<(EventRow, String)>,
}

/// The security view (admin only): failed logins by user and IP, attacks by type with
/// their masked payload excerpts, lockouts, top offending IPs, escalation attempts.
pub(super) async fn security(
    State(state): State<AppState>,
    Extension(ctx): Extension<PageCtx>,
    caller: Caller,
    Query(q): Query<HashMap<String, String>>,
) -> PageResult {
    let hours = hours_param(&ctx, &q)?;
    let tenant = caller.scope_tenant(None).map_err(|e| ctx.fail(e))?;
    let since = Utc::now() - Duration::hours(hours);
    let s = state
        .store
        .security_summary(since, tenant.as_deref())
        .await
        .map_err(|e| ctx.fail(e.into()))?;
    let attacks = state
        .store
        .recent(&RecentQuery {
            limit: 20,
            since: Some(since),
            category: vec!["SECURITY".into()],
            tenant_id: tenant.clone(),
            ..Default::default()
        })
        .await
        .map_err(|e| ctx.fail(e.into()))?;
    let lang = ctx.lang;
    let counts =
        |list: &[eventlog_store::query::Count], filter: &str| -> Vec<(String, String, String)> {
            list.iter()
                .map(|c| {
                    (
                        c.value.clone(),
                        int(c.count, lang),
                        format!("/events?{}", query_string([(filter, c.value.as_str())])),
                    )
                })
                .collect()
        };
    Ok(render(&SecurityPage {
        ctx: &ctx,
        windows: window_links(&ctx, "/security", hours),
        failed_logins: int(s.failed_logins, lang),
        security_events: int(s.security_events, lang),
        lockout_count: int(s.lockout_count, lang),
        escalation_count: int(s.escalation_count, lang),
        lists: vec![
            (
                ctx.t("security.by_user"),
                counts(&s.failed_logins_by_user, "username"),
            ),
            (
                ctx.t("security.by_ip"),
                counts(&s.failed_logins_by_ip, "ip_address"),
            ),
            (ctx.t("security.attacks"), {
                let catalog = state.validator.catalog();
                let mut rows = counts(&s.attacks_by_type, "event_code");
                for row in &mut rows {
                    if let Some(entry) = catalog.get(&row.0) {
                        row.0 = format!("{} {}", row.0, entry.name);
                    }
                }
                rows
            }),
            (
                ctx.t("security.offenders"),
                counts(&s.top_offending_ips, "ip_address"),
            ),
        ],
        lockouts: rows(&s.lockouts),
        escalations: rows(&s.escalation_attempts),
        attack_events: attacks
            .events
            .iter()
            .map(|e| {
                let r = &e.record;
                let excerpt = r
                    .event_description
                    .clone()
                    .or_else(|| r.error_message.clone())
                    .unwrap_or_default();
                (event_row(e), excerpt)
            })
            .collect(),
    }))
}

#[derive(Template)]
#[template(path = "users.html")]
struct UsersPage<'a> {
    ctx: &'a PageCtx,
    windows: Vec<(String, &'static str, bool)>,
    users: Vec<(String, String, String, Time)>,
}

/// Most active users of the window (the seed 002 user summary) and a user lookup.
pub(super) async fn users(
    State(state): State<AppState>,
    Extension(ctx): Extension<PageCtx>,
    caller: Caller,
    Query(q): Query<HashMap<String, String>>,
) -> PageResult {
    if let Some(id) = q.get("user_id").map(|s| s.trim()).filter(|s| !s.is_empty()) {
        return Ok(Redirect::to(&format!("/users/{}", urlencode(id))).into_response());
    }
    let hours = hours_param(&ctx, &q)?;
    let tenant = caller.scope_tenant(None).map_err(|e| ctx.fail(e))?;
    let until = Utc::now();
    let report = state
        .analytics
        .users(until - Duration::hours(hours), until, 50, tenant.as_deref())
        .await
        .map_err(|e| ctx.fail(e.into()))?;
    let lang = ctx.lang;
    Ok(render(&UsersPage {
        ctx: &ctx,
        windows: window_links(&ctx, "/users", hours),
        users: report
            .users
            .iter()
            .map(|u| {
                let name = u.username.clone().unwrap_or_default();
                let href = format!("/events?{}", query_string([("username", name.as_str())]));
                (name, href, int(u.event_count, lang), time(u.last_activity))
            })
            .collect(),
    }))
}

#[derive(Template)]
#[template(path = "user.html")]
struct UserPage<'a> {
    ctx: &'a PageCtx,
    user_id: String,
    events_href: String,
    total: String,
    failures: String,
    last_login: Option<Time>,
    last_activity: Option<Time>,
    by_category: Vec<(String, String)>,
    by_status: Vec<(String, String)>,
    timeline: Vec<EventRow>,
    failed: Vec<EventRow>,
}

/// One user's activity (`user-activity`, 30 days), timeline and failures.
pub(super) async fn user(
    State(state): State<AppState>,
    Extension(ctx): Extension<PageCtx>,
    caller: Caller,
    Path(user_id): Path<String>,
) -> PageResult {
    let since = Utc::now() - Duration::days(30);
    let activity = state
        .store
        .user_activity(&user_id, since, caller.tenant())
        .await
        .map_err(|e| ctx.fail(e.into()))?;
    let failed = state
        .store
        .recent(&RecentQuery {
            limit: 20,
            since: Some(since),
            user_id: Some(user_id.clone()),
            status: FAILURE_STATUSES.iter().map(|s| (*s).to_owned()).collect(),
            tenant_id: caller.tenant().map(str::to_owned),
            ..Default::default()
        })
        .await
        .map_err(|e| ctx.fail(e.into()))?;
    let lang = ctx.lang;
    let counts = |list: &[eventlog_store::query::Count]| {
        list.iter()
            .map(|c| (c.value.clone(), int(c.count, lang)))
            .collect()
    };
    Ok(render(&UserPage {
        ctx: &ctx,
        events_href: format!("/events?{}", query_string([("user_id", user_id.as_str())])),
        user_id,
        total: int(activity.total_events, lang),
        failures: int(activity.failures, lang),
        last_login: activity.last_login.map(time),
        last_activity: activity.last_activity.map(time),
        by_category: counts(&activity.by_category),
        by_status: counts(&activity.by_status),
        timeline: rows(&activity.recent_events),
        failed: rows(&failed.events),
    }))
}

#[derive(Template)]
#[template(path = "system.html")]
struct SystemPage<'a> {
    ctx: &'a PageCtx,
    ok: bool,
    store: &'static str,
    schema_version: String,
    error: Option<String>,
    queue_depth: String,
    queue_capacity: String,
    committed: String,
    commits: String,
    last_commit: Option<Time>,
    ingest_chart: String,
    chain_pos: String,
    checkpoints: String,
    last_checkpoint: Option<(String, Time)>,
}

/// Health, ingest rate, queue depth, schema version, tamper-evidence chain and
/// checkpoints.
pub(super) async fn system(
    State(state): State<AppState>,
    Extension(ctx): Extension<PageCtx>,
    caller: Caller,
) -> PageResult {
    let health = health_report(&state).await;
    let tenant = caller.scope_tenant(None).map_err(|e| ctx.fail(e))?;
    let until = Utc::now();
    let rate = state
        .analytics
        .timeseries(
            "events",
            "minute",
            None,
            until - Duration::hours(1),
            until,
            tenant.as_deref(),
        )
        .await
        .map_err(|e| ctx.fail(e.into()))?;
    let fail = |e: eventlog_store::StoreError| ctx.fail(e.into());
    let head = state.store.chain_head().await.map_err(fail)?;
    let checkpoints = state.store.checkpoints().await.map_err(fail)?;
    let lang = ctx.lang;
    let q = &health.queue;
    let series: Vec<Series> = rate.series;
    Ok(render(&SystemPage {
        ctx: &ctx,
        ok: health.store_reachable,
        store: health.store,
        schema_version: health
            .schema_version
            .map_or("–".to_owned(), |v| v.to_string()),
        error: health.error.clone(),
        queue_depth: int(q.depth as i64, lang),
        queue_capacity: int(q.capacity as i64, lang),
        committed: int(q.committed_events as i64, lang),
        commits: int(q.commits as i64, lang),
        last_commit: (q.last_commit_ms > 0)
            .then(|| DateTime::from_timestamp_millis(q.last_commit_ms))
            .flatten()
            .map(time),
        ingest_chart: stacked_bars(&series, |_| Some("#2563eb"), ctx.t("common.no_data"), true),
        chain_pos: int(head.pos, lang),
        checkpoints: int(checkpoints.len() as i64, lang),
        last_checkpoint: checkpoints
            .last()
            .map(|c| (int(c.pos, lang), time(c.created_at))),
    }))
}

/// One alert, ready to show.
struct AlertRow {
    rule: String,
    key: String,
    severity: String,
    state: &'static str,
    message: String,
    value: String,
    threshold: String,
    started: Time,
    resolved: Option<Time>,
    event: Option<String>,
}

#[derive(Template)]
#[template(path = "alerts.html")]
struct AlertsPage<'a> {
    ctx: &'a PageCtx,
    filters: Vec<(String, &'static str, bool)>,
    firing: Vec<AlertRow>,
    history: Vec<AlertRow>,
    next: Option<String>,
}

/// Alerts firing now and the history, from the function `GET /api/alerts` answers with.
pub(super) async fn alerts(
    State(state): State<AppState>,
    Extension(ctx): Extension<PageCtx>,
    caller: Caller,
    Query(q): Query<HashMap<String, String>>,
) -> PageResult {
    let wanted = q.get("state").map(|s| s.trim()).filter(|s| !s.is_empty());
    let alert_state = match wanted {
        None => None,
        Some(s) => Some(AlertState::parse(s).ok_or_else(|| {
            ctx.fail(
                ApiError::bad_request(
                    "invalid_query",
                    format!("`{s}` is not an alert state; expected firing or resolved"),
                )
                .field("state"),
            )
        })?),
    };
    let filter = AlertFilter {
        state: alert_state,
        since: None,
        limit: 50,
        cursor: q.get("cursor").filter(|c| !c.is_empty()).cloned(),
        tenant_id: caller.scope_tenant(None).map_err(|e| ctx.fail(e))?,
    };
    let view = alerts_view(&state, &filter)
        .await
        .map_err(|e| ctx.fail(e))?;
    let lang = ctx.lang;
    let row = |a: &Alert| AlertRow {
        rule: a.rule.clone(),
        key: a.key.clone(),
        severity: a.severity.clone(),
        state: a.state.as_str(),
        message: a.message.clone(),
        value: dec(a.value, 2, lang),
        threshold: dec(a.threshold, 2, lang),
        started: time(a.started_at),
        resolved: a.resolved_at.map(time),
        event: a
            .event_id
            .as_ref()
            .map(|id| format!("/events/{}", urlencode(id))),
    };
    let current = alert_state.map_or("", |s| s.as_str());
    Ok(render(&AlertsPage {
        ctx: &ctx,
        filters: [
            ("", "alerts.all"),
            ("firing", "alerts.firing"),
            ("resolved", "alerts.resolved"),
        ]
        .into_iter()
        .map(|(v, key)| {
            (
                format!("/alerts?{}", query_string([("state", v)])),
                ctx.t(key),
                v == current,
            )
        })
        .collect(),
        firing: view.firing.iter().map(row).collect(),
        history: view.alerts.iter().map(row).collect(),
        next: view.next_cursor.map(|c| {
            format!(
                "/alerts?{}",
                query_string([("state", current), ("cursor", c.as_str())])
            )
        }),
    }))
}

#[derive(Template)]
#[template(path = "live.html")]
struct LivePage<'a> {
    ctx: &'a PageCtx,
    fields: Vec<Field>,
    stream: String,
}

/// The live tail: the page script reads `GET /api/events/stream` (the session cookie
/// authenticates it) with the filters of the form.
pub(super) async fn live(
    Extension(ctx): Extension<PageCtx>,
    Query(q): Query<HashMap<String, String>>,
) -> PageResult {
    let names = ["category", "severity", "status", "username", "ip_address"];
    let fields = FILTERS
        .iter()
        .filter(|(n, _)| names.contains(n))
        .map(|(name, key)| Field {
            name,
            label: ctx.t(key),
            value: q.get(*name).cloned().unwrap_or_default(),
        })
        .collect::<Vec<_>>();
    let stream = format!(
        "/api/events/stream?{}",
        query_string(fields.iter().map(|f| (f.name, f.value.as_str())))
    );
    Ok(render(&LivePage {
        ctx: &ctx,
        fields,
        stream,
    }))
}

#[derive(Template)]
#[template(path = "signin.html")]
struct SigninPage<'a> {
    ctx: &'a PageCtx,
    next: String,
    error: Option<&'a str>,
}

/// Only local paths are followed after sign-in (no open redirect).
fn local_path(next: Option<&str>) -> String {
    match next {
        // Browsers drop tabs and newlines from a URL (`/\t/evil.example` is
        // `//evil.example`), and a control character cannot go into a Location header.
        Some(n)
            if n.starts_with('/')
                && !n.starts_with("//")
                && !n.contains('\\')
                && !n.chars().any(|c| c.is_control() || c.is_whitespace()) =>
        {
            n.to_owned()
        }
        _ => "/".to_owned(),
    }
}

/// The sign-in form.
pub(super) async fn signin_form(
    Extension(ctx): Extension<PageCtx>,
    Query(q): Query<HashMap<String, String>>,
) -> Response {
    render(&SigninPage {
        ctx: &ctx,
        next: local_path(q.get("next").map(String::as_str)),
        error: None,
    })
}

/// The sign-in form's fields.
#[derive(Deserialize)]
pub(super) struct SigninForm {
    key: String,
    csrf: String,
    next: Option<String>,
}

/// Exchanges a credential for a session cookie. The credential is verified exactly as an
/// `Authorization: Bearer` one ([`Caller::verify_bearer`]), so whatever the API accepts
/// signs in, with the same role and tenant.
pub(super) async fn signin(
    State(state): State<AppState>,
    Extension(ctx): Extension<PageCtx>,
    client_ip: Option<Extension<ClientIp>>,
    headers: HeaderMap,
    form: Result<Form<SigninForm>, FormRejection>,
) -> Response {
    // A form that cannot be read (no token, another content type) is one to reload.
    let Ok(Form(form)) = form else {
        let mut r = render(&SigninPage {
            ctx: &ctx,
            next: "/".to_owned(),
            error: Some(ctx.t("signin.expired_form")),
        });
        *r.status_mut() = StatusCode::BAD_REQUEST;
        return r;
    };
    let next = local_path(form.next.as_deref());
    let refuse = |status: StatusCode, key: &str| {
        let mut r = render(&SigninPage {
            ctx: &ctx,
            next: next.clone(),
            error: Some(ctx.t(key)),
        });
        *r.status_mut() = status;
        r
    };
    if form.csrf != ctx.csrf {
        return refuse(StatusCode::FORBIDDEN, "signin.expired_form");
    }
    let key = form.key.trim();
    let caller = match Caller::verify_bearer(key, &state).await {
        Ok(c) => c,
        Err(e) => {
            let ip = client_ip.map(|Extension(ClientIp(ip))| ip);
            state.auth_failures.record(ip, "/signin", &e);
            return refuse(StatusCode::UNAUTHORIZED, "signin.bad_key");
        }
    };
    if !NAV.iter().any(|(href, _)| may_open(caller.role, href)) {
        return refuse(StatusCode::FORBIDDEN, "signin.no_pages");
    }
    if let Some(old) = state.sessions.get(&headers) {
        state.sessions.close(&old.id);
    }
    let session = state.sessions.open(key);
    let mut r = Redirect::to(&next).into_response();
    if let Ok(v) = HeaderValue::from_str(&set_cookie(
        SESSION_COOKIE,
        &session.id,
        None,
        secure(&state, &headers),
    )) {
        r.headers_mut().append(header::SET_COOKIE, v);
    }
    r
}

/// Fields of the small POST forms (sign-out, language).
#[derive(Deserialize)]
pub(super) struct SmallForm {
    csrf: String,
    lang: Option<String>,
    next: Option<String>,
}

/// Ends the session.
pub(super) async fn signout(
    State(state): State<AppState>,
    Extension(ctx): Extension<PageCtx>,
    headers: HeaderMap,
    form: Result<Form<SmallForm>, FormRejection>,
) -> Response {
    let Ok(Form(form)) = form else {
        return error_page(&ctx, StatusCode::BAD_REQUEST, ctx.t("signin.expired_form"));
    };
    if form.csrf != ctx.csrf {
        return error_page(&ctx, StatusCode::FORBIDDEN, ctx.t("signin.expired_form"));
    }
    if let Some(s) = state.sessions.get(&headers) {
        state.sessions.close(&s.id);
    }
    let mut r = Redirect::to("/signin").into_response();
    if let Ok(v) = HeaderValue::from_str(&set_cookie(
        SESSION_COOKIE,
        "",
        Some(0),
        secure(&state, &headers),
    )) {
        r.headers_mut().append(header::SET_COOKIE, v);
    }
    r
}

/// Switches the language (a cookie for a year) and returns to the page.
pub(super) async fn switch_language(
    State(state): State<AppState>,
    Extension(ctx): Extension<PageCtx>,
    headers: HeaderMap,
    form: Result<Form<SmallForm>, FormRejection>,
) -> Response {
    let Ok(Form(form)) = form else {
        return error_page(&ctx, StatusCode::BAD_REQUEST, ctx.t("signin.expired_form"));
    };
    if form.csrf != ctx.csrf {
        return error_page(&ctx, StatusCode::FORBIDDEN, ctx.t("signin.expired_form"));
    }
    let Some(lang) = form.lang.as_deref().and_then(Lang::parse) else {
        return error_page(&ctx, StatusCode::BAD_REQUEST, ctx.t("error.bad_language"));
    };
    let mut r = Redirect::to(&local_path(form.next.as_deref())).into_response();
    if let Ok(v) = HeaderValue::from_str(&set_cookie(
        super::i18n::LANG_COOKIE,
        lang.code(),
        Some(365 * 24 * 3600),
        secure(&state, &headers),
    )) {
        r.headers_mut().append(header::SET_COOKIE, v);
    }
    r
}
