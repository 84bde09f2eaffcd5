//! `EventLog`: the service that observes each request and hands its facts to the
//! response future.

use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Instant;

use axum::body::Body;
use axum::extract::MatchedPath;
use eventlog_client::RequestContext;
use http::{Request, Response};
use tokio::task::futures::TaskLocalFuture;
use tower::Service;
use tracing::instrument::{Instrument, Instrumented};
use tracing::Span;

use crate::body::{CaptureBody, ResponseBody, Tap};
use crate::client_ip::client_ip;
use crate::correlation::{correlation_id, session_id, CorrelationId};
use crate::future::ResponseFuture;
use crate::layer::Config;
use crate::record::{capturable, RequestFacts};

/// Wraps a service and records each of its requests (built by
/// [`EventLogLayer`](crate::EventLogLayer)).
#[derive(Clone)]
pub struct EventLog<S> {
    inner: S,
    config: Arc<Config>,
}

impl<S> EventLog<S> {
    pub(crate) fn new(inner: S, config: Arc<Config>) -> Self {
        Self { inner, config }
    }
}

impl<S, ResBody> Service<Request<Body>> for EventLog<S>
where
    S: Service<Request<Body>, Response = Response<ResBody>>,
    S::Error: std::fmt::Display,
{
    type Response = Response<ResponseBody<ResBody>>;
    type Error = S::Error;
    type Future = ResponseFuture<Instrumented<TaskLocalFuture<RequestContext, S::Future>>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, mut req: Request<Body>) -> Self::Future {
        let started = Instant::now();
        let config = &self.config;
        let (route, matched) = match req.extensions().get::<MatchedPath>() {
            Some(path) => (path.as_str().to_owned(), true),
            // No route matched (a 404, or the layer outside a router): the path with its
            // identifiers as `{id}`, so scanners do not make a new event name per URL. The
            // raw path stays in `metadata.path`, where attack detection reads it.
            None => (
                eventlog_core::route::template(req.uri().path()).into_owned(),
                false,
            ),
        };
        let record = catch_unwind(AssertUnwindSafe(|| {
            config.filter.should_record(req.method(), &route)
        }))
        .unwrap_or_else(|_| {
            config.hook_panicked();
            true
        });
        if !record {
            let handler = RequestContext::default().scope(self.inner.call(req));
            return ResponseFuture::new(handler.instrument(Span::none()), None);
        }
        let user = catch_unwind(AssertUnwindSafe(|| {
            config.user.extract(req.headers(), req.extensions())
        }))
        .unwrap_or_else(|_| {
            config.hook_panicked();
            None
        });
        let headers = req.headers();
        let request_tap = config
            .capture
            .as_ref()
            .filter(|c| capturable(headers, &c.content_types))
            .map(|c| Tap::new(c.max_bytes));
        let facts = RequestFacts {
            started,
            method: req.method().clone(),
            matched,
            path: req.uri().path().to_owned(),
            query: req.uri().query().map(str::to_owned),
            user,
            ip: client_ip(headers, req.extensions(), &config.trusted_proxies),
            user_agent: headers
                .get(http::header::USER_AGENT)
                .and_then(|v| v.to_str().ok())
                .map(|ua| ua.chars().take(512).collect()),
            session: session_id(headers, &config.session_cookie),
            correlation: correlation_id(headers),
            request_tap: request_tap.clone(),
            route,
        };
        if let Some(tap) = request_tap {
            req = req.map(|body| Body::new(CaptureBody::new(body, tap)));
        }
        req.extensions_mut()
            .insert(CorrelationId(facts.correlation.clone()));
        let span = request_span(&facts);
        // Domain events the handler logs carry the request's client and user.
        let user = facts.user.as_ref();
        let context = RequestContext {
            ip_address: facts.ip.map(|ip| ip.to_string()),
            user_agent: facts.user_agent.clone(),
            session_id: facts.session.clone(),
            correlation_id: Some(facts.correlation.clone()),
            user_id: user.map(|u| u.id.clone()),
            username: user.and_then(|u| u.name.clone()),
            user_role: user.and_then(|u| u.role.clone()),
            tenant_id: user.and_then(|u| u.tenant.clone()),
        };
        ResponseFuture::new(
            context.scope(self.inner.call(req)).instrument(span),
            Some((self.config.clone(), facts)),
        )
    }
}

/// The span the handler runs in: statements it runs are attributed to its user and
/// correlation id by [`SqlAuditLayer`](crate::SqlAuditLayer). DEBUG, so an INFO log
/// output does not show it.
fn request_span(facts: &RequestFacts) -> Span {
    use tracing::field::Empty;
    // Target and name are `crate::sql_audit::REQUEST_SPAN_{TARGET,NAME}` (macros take literals).
    let span = tracing::debug_span!(
        target: "eventlog_layer::request",
        "eventlog.request",
        route = %facts.route,
        user_id = Empty,
        username = Empty,
        tenant_id = Empty,
        correlation_id = Empty,
    );
    if span.is_disabled() {
        return span;
    }
    if let Some(user) = &facts.user {
        span.record("user_id", user.id.as_str());
        if let Some(name) = &user.name {
            span.record("username", name.as_str());
        }
        if let Some(tenant) = &user.tenant {
            span.record("tenant_id", tenant.as_str());
        }
    }
    span.record("correlation_id", facts.correlation.as_str());
    span
}
