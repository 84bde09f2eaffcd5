//! `EventLogLayer`: the configuration, built with `with_*` methods, that wraps services in
//! [`EventLog`](crate::EventLog).

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use eventlog_client::EventLogger;
use eventlog_core::Severity;
use tower::Layer;

use crate::client_ip::IpRange;
use crate::route_filter::{IncludeExclude, RouteFilter};
use crate::service::EventLog;
use crate::user::{ExtractUser, FromExtensions};

/// Size-limited capture of request and response bodies of some content types.
#[derive(Debug, Clone)]
pub struct BodyCapture {
    /// Most bytes kept per body (the event records the full size and that it was cut).
    pub max_bytes: usize,
    /// Content types captured (prefix match), e.g. `application/json`.
    pub content_types: Vec<String>,
}

impl Default for BodyCapture {
    fn default() -> Self {
        Self {
            max_bytes: 4096,
            content_types: vec![
                "application/json".to_owned(),
                "application/x-www-form-urlencoded".to_owned(),
                "text/".to_owned(),
            ],
        }
    }
}

#[derive(Clone)]
pub(crate) struct Config {
    pub(crate) logger: EventLogger,
    pub(crate) user: Arc<dyn ExtractUser>,
    pub(crate) filter: Arc<dyn RouteFilter>,
    pub(crate) trusted_proxies: Vec<IpRange>,
    pub(crate) capture: Option<BodyCapture>,
    pub(crate) read_sample_rate: f64,
    pub(crate) route_severity: HashMap<String, eventlog_core::Severity>,
    pub(crate) session_cookie: String,
    pub(crate) hook_panics: Arc<AtomicU64>,
}

impl Config {
    pub(crate) fn hook_panicked(&self) {
        self.hook_panics.fetch_add(1, Ordering::Relaxed);
        self.logger.count_hook_panic();
    }
}

/// A tower [`Layer`] that records every request as an event through an [`EventLogger`].
///
/// ```no_run
/// # use axum::{Router, routing::get};
/// # fn app(logger: eventlog_client::EventLogger) -> Router {
/// Router::new()
///     .route("/api/students/{id}", get(|| async { "ok" }))
///     .layer(eventlog_layer::EventLogLayer::new(logger).exclude(["/health"]))
/// # }
/// ```
#[derive(Clone)]
pub struct EventLogLayer {
    config: Arc<Config>,
}

impl std::fmt::Debug for EventLogLayer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EventLogLayer").finish_non_exhaustive()
    }
}

impl EventLogLayer {
    /// Records every request (no body capture, no sampling, user from request
    /// extensions, no trusted proxies).
    pub fn new(logger: EventLogger) -> Self {
        Self {
            config: Arc::new(Config {
                logger,
                user: Arc::new(FromExtensions),
                filter: Arc::new(IncludeExclude::default()),
                trusted_proxies: Vec::new(),
                capture: None,
                read_sample_rate: 1.0,
                route_severity: HashMap::new(),
                session_cookie: "session_id".to_owned(),
                hook_panics: Arc::new(AtomicU64::new(0)),
            }),
        }
    }

    fn config(&mut self) -> &mut Config {
        Arc::make_mut(&mut self.config)
    }

    /// Finds the user with `extractor` (e.g. a closure verifying the JWT).
    pub fn with_user_extractor(mut self, extractor: impl ExtractUser) -> Self {
        self.config().user = Arc::new(extractor);
        self
    }

    /// Decides which requests are recorded with `filter`.
    pub fn with_route_filter(mut self, filter: impl RouteFilter) -> Self {
        self.config().filter = Arc::new(filter);
        self
    }

    /// Records only routes matching these templates (a trailing `*` matches a prefix).
    pub fn include<I: IntoIterator<Item = S>, S: Into<String>>(self, routes: I) -> Self {
        self.include_exclude(routes.into_iter().map(Into::into).collect(), Vec::new())
    }

    /// Never records routes matching these templates (e.g. `/health`).
    pub fn exclude<I: IntoIterator<Item = S>, S: Into<String>>(self, routes: I) -> Self {
        self.include_exclude(Vec::new(), routes.into_iter().map(Into::into).collect())
    }

    fn include_exclude(mut self, include: Vec<String>, exclude: Vec<String>) -> Self {
        self.config().filter = Arc::new(IncludeExclude { include, exclude });
        self
    }

    /// Trusts `X-Forwarded-For` from connections of these ranges (`10.0.0.0/8`, `::1`);
    /// unparsable entries are ignored.
    pub fn with_trusted_proxies<I: IntoIterator<Item = S>, S: AsRef<str>>(
        mut self,
        ranges: I,
    ) -> Self {
        self.config().trusted_proxies = ranges
            .into_iter()
            .filter_map(|r| {
                let parsed = IpRange::parse(r.as_ref());
                if parsed.is_none() {
                    tracing::warn!(
                        entry = r.as_ref(),
                        "trusted proxy left out: not an IP address or CIDR range"
                    );
                }
                parsed
            })
            .collect();
        self
    }

    /// Captures request and response bodies (size-limited, some content types).
    pub fn with_body_capture(mut self, capture: BodyCapture) -> Self {
        self.config().capture = Some(capture);
        self
    }

    /// Records only this fraction (0..=1) of successful reads (GET/HEAD below 400);
    /// writes and failures are always recorded.
    pub fn with_read_sampling(mut self, rate: f64) -> Self {
        self.config().read_sample_rate = rate.clamp(0.0, 1.0);
        self
    }

    /// Records requests to `route` with this severity, whatever their status.
    pub fn with_route_severity(mut self, route: impl Into<String>, severity: Severity) -> Self {
        self.config().route_severity.insert(route.into(), severity);
        self
    }

    /// Reads the session id from this cookie (default `session_id`) when the request has
    /// no `X-Session-Id` header.
    pub fn with_session_cookie(mut self, name: impl Into<String>) -> Self {
        self.config().session_cookie = name.into();
        self
    }

    /// How many panics of hooks (user extractor, route filter) were contained so far.
    pub fn hook_panics(&self) -> u64 {
        self.config.hook_panics.load(Ordering::Relaxed)
    }
}

impl<S> Layer<S> for EventLogLayer {
    type Service = EventLog<S>;

    fn layer(&self, inner: S) -> EventLog<S> {
        EventLog::new(inner, self.config.clone())
    }
}
