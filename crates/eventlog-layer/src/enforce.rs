//! Optional, fail2ban-like enforcement: the stream detectors of `eventlog-core` watch the
//! app's own requests, and when they conclude an attack the offending address is refused
//! (429) or the account locked (403) for a while. Off unless you add [`Enforcer::layer`].
//!
//! The layer sees the route, the status and the user of every request. A request to one
//! of `login_routes` answered 401 or 403 is a failed login; the attempted username is the
//! [`UserInfo`] the login handler puts in its response's extensions (the layer cannot read
//! it from the body before the handler does). A login handler should also ask
//! [`Enforcer::locked_for`] before checking a password, since an anonymous login request
//! carries no user for the layer to refuse.

use std::collections::HashMap;
use std::future::Future;
use std::hash::Hash;
use std::net::IpAddr;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use axum::body::Body;
use axum::extract::MatchedPath;
use axum::response::{IntoResponse, Response};
use eventlog_client::{Event, EventLogger};
use eventlog_core::detect::stateful::{Alert, StreamConfig, StreamDetectors};
use eventlog_core::net::IpRange;
use eventlog_core::{EventRecord, Importance, Severity};
use http::{Request, StatusCode};
use tower::{Layer, Service};

use crate::client_ip::client_ip;
use crate::user::UserInfo;

/// What is watched and what is blocked, and for how long.
#[derive(Debug, Clone)]
pub struct EnforceConfig {
    /// Thresholds of the detectors (brute force: 5 failed logins in 300 s by default).
    /// Anomaly detection (SEC-009) is off here: unusual is not hostile.
    pub detectors: StreamConfig,
    /// Route templates (as registered, e.g. `/api/auth/login`) whose 401/403 answers are
    /// failed logins.
    pub login_routes: Vec<String>,
    /// Alert codes that block the client address: SEC-001 credential stuffing, SEC-002
    /// brute force, SEC-005 bursts of 401s.
    pub block_ip_on: Vec<String>,
    /// Alert codes that lock the account: AUTH-005.
    pub lock_account_on: Vec<String>,
    /// How long an address stays blocked.
    pub ip_block: Duration,
    /// How long an account stays locked.
    pub account_lock: Duration,
    /// Addresses and ranges never blocked (your office, your health checks).
    pub allow: Vec<IpRange>,
    /// Proxies whose `X-Forwarded-For` is believed.
    pub trusted_proxies: Vec<IpRange>,
    /// Most blocked addresses and locked accounts held; expired ones are dropped first,
    /// and beyond it no new block is added (memory stays bounded under any attack).
    pub max_blocked: usize,
}

impl Default for EnforceConfig {
    fn default() -> Self {
        let mut detectors = StreamConfig::default();
        detectors.anomaly.enabled = false;
        Self {
            detectors,
            login_routes: vec![
                "/login".into(),
                "/api/login".into(),
                "/api/auth/login".into(),
            ],
            block_ip_on: vec!["SEC-001".into(), "SEC-002".into(), "SEC-005".into()],
            lock_account_on: vec!["AUTH-005".into()],
            ip_block: Duration::from_secs(900),
            account_lock: Duration::from_secs(900),
            allow: Vec::new(),
            trusted_proxies: Vec::new(),
            max_blocked: 100_000,
        }
    }
}

/// Blocks with an expiry, bounded in size.
struct Blocks<K> {
    until: Mutex<HashMap<K, Instant>>,
    max: usize,
}

impl<K: Hash + Eq> Blocks<K> {
    fn new(max: usize) -> Self {
        Self {
            until: Mutex::new(HashMap::new()),
            max: max.max(1),
        }
    }

    /// Time left on `key`'s block, if any.
    fn remaining(&self, key: &K) -> Option<Duration> {
        let mut until = self.until.lock().expect("enforcement lock");
        let left = until
            .get(key)
            .map(|t| t.saturating_duration_since(Instant::now()))?;
        if left.is_zero() {
            until.remove(key);
            return None;
        }
        Some(left)
    }

    /// Blocks `key` for `span`; false when full of live blocks.
    fn block(&self, key: K, span: Duration) -> bool {
        let mut until = self.until.lock().expect("enforcement lock");
        let now = Instant::now();
        if until.len() >= self.max && !until.contains_key(&key) {
            until.retain(|_, t| *t > now);
            if until.len() >= self.max {
                return false;
            }
        }
        until.insert(key, now + span);
        true
    }
}

struct Inner {
    config: EnforceConfig,
    detectors: Mutex<StreamDetectors>,
    ips: Blocks<IpAddr>,
    accounts: Blocks<String>,
    logger: Option<EventLogger>,
}

/// The enforcement state, shared by the layer and the app's login handler. Cheap to clone.
#[derive(Clone)]
pub struct Enforcer {
    inner: Arc<Inner>,
}

impl std::fmt::Debug for Enforcer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Enforcer").finish_non_exhaustive()
    }
}

impl Enforcer {
    /// Enforcement with `config`; blocks are not recorded anywhere.
    pub fn new(config: EnforceConfig) -> Self {
        Self::build(config, None)
    }

    /// Enforcement that records each block as a `SECURITY / ACCESS_BLOCKED` event.
    pub fn with_logger(config: EnforceConfig, logger: EventLogger) -> Self {
        Self::build(config, Some(logger))
    }

    fn build(config: EnforceConfig, logger: Option<EventLogger>) -> Self {
        Self {
            inner: Arc::new(Inner {
                detectors: Mutex::new(StreamDetectors::new(config.detectors.clone())),
                ips: Blocks::new(config.max_blocked),
                accounts: Blocks::new(config.max_blocked),
                config,
                logger,
            }),
        }
    }

    /// The tower layer that refuses blocked clients and feeds the detectors.
    pub fn layer(&self) -> EnforceLayer {
        EnforceLayer {
            enforcer: self.clone(),
        }
    }

    /// How long `username` stays locked, if it is.
    pub fn locked_for(&self, username: &str) -> Option<Duration> {
        self.inner.accounts.remaining(&username.to_owned())
    }

    /// How long `ip` stays blocked, if it is.
    pub fn blocked_for(&self, ip: IpAddr) -> Option<Duration> {
        self.inner.ips.remaining(&ip)
    }

    fn allowed(&self, ip: IpAddr) -> bool {
        self.inner.config.allow.iter().any(|r| r.contains(ip))
    }

    /// Feeds one finished request to the detectors and applies what they conclude.
    fn observe(&self, seen: Observed) {
        let record = seen.record(&self.inner.config.login_routes);
        let alerts = self
            .inner
            .detectors
            .lock()
            .expect("detectors lock")
            .observe(&record);
        for alert in alerts {
            self.apply(&alert);
        }
    }

    fn apply(&self, alert: &Alert) {
        let config = &self.inner.config;
        let code = alert.code.to_owned();
        if config.block_ip_on.contains(&code) {
            if let Some(ip) = alert.ip_address.filter(|ip| !self.allowed(*ip)) {
                if self.inner.ips.block(ip, config.ip_block) {
                    self.record_block(alert, "ip", &ip.to_string(), config.ip_block);
                }
            }
        }
        if config.lock_account_on.contains(&code) {
            if let Some(user) = alert.username.as_deref().or(alert.user_id.as_deref()) {
                if self
                    .inner
                    .accounts
                    .block(user.to_owned(), config.account_lock)
                {
                    self.record_block(alert, "account", user, config.account_lock);
                }
            }
        }
    }

    fn record_block(&self, alert: &Alert, kind: &str, target: &str, span: Duration) {
        let Some(logger) = &self.inner.logger else {
            return;
        };
        let mut event = Event::custom("SECURITY", "ACCESS_BLOCKED")
            .action("BLOCK")
            .status("BLOCKED")
            .severity(Severity::Warning)
            .description(format!(
                "{kind} `{target}` blocked for {} s: {}",
                span.as_secs(),
                alert.description
            ))
            .meta("blocked", kind)
            .meta("target", target)
            .meta("reason_code", alert.code)
            .meta("block_seconds", span.as_secs())
            .meta("trigger_event_id", alert.trigger_event_id.clone());
        event.username = alert.username.clone();
        event.user_id = alert.user_id.clone();
        event.ip_address = alert.ip_address.map(|ip| ip.to_string());
        event.tenant_id = alert.tenant_id.clone();
        logger.log(event);
    }
}

/// What the layer saw of one request.
struct Observed {
    route: String,
    method: http::Method,
    status: StatusCode,
    ip: Option<IpAddr>,
    user: Option<UserInfo>,
    user_agent: Option<String>,
}

impl Observed {
    /// The request as an event the stream detectors understand: a login (failed on 401 or
    /// 403) on a login route, else an HTTP request with its status.
    fn record(self, login_routes: &[String]) -> EventRecord {
        let login = login_routes.contains(&self.route);
        let failed = self.status.is_client_error() || self.status.is_server_error();
        let (event_type, action) = if login {
            ("USER_LOGIN".to_owned(), "LOGIN".to_owned())
        } else {
            ("HTTP_REQUEST".to_owned(), self.method.as_str().to_owned())
        };
        let login_failed = login
            && (self.status == StatusCode::UNAUTHORIZED || self.status == StatusCode::FORBIDDEN);
        let status = if login_failed || (!login && failed) {
            "FAILED"
        } else {
            "SUCCESS"
        };
        let user = self.user;
        EventRecord {
            event_id: String::new(),
            event_code: None,
            event_category: if login { "AUTH" } else { "SYSTEM" }.to_owned(),
            event_name: format!("{} {}", self.method, self.route),
            event_type,
            event_description: None,
            user_id: user.as_ref().map(|u| u.id.clone()),
            username: user.as_ref().and_then(|u| u.name.clone()),
            user_role: user.as_ref().and_then(|u| u.role.clone()),
            tenant_id: user.as_ref().and_then(|u| u.tenant.clone()),
            ip_address: self.ip,
            user_agent: self.user_agent,
            session_id: None,
            correlation_id: None,
            source: None,
            resource_type: None,
            resource_id: None,
            resource_name: None,
            related: None,
            action,
            status: status.to_owned(),
            http_method: Some(self.method.as_str().to_owned()),
            endpoint: Some(self.route),
            http_status: Some(self.status.as_u16()),
            request_data: None,
            response_data: None,
            error_message: None,
            error_code: None,
            processing_time_ms: None,
            timestamp: chrono::Utc::now(),
            metadata: None,
            tags: Vec::new(),
            severity: Severity::Info,
            importance: Importance::Minor,
        }
    }
}

/// Built by [`Enforcer::layer`].
#[derive(Clone, Debug)]
pub struct EnforceLayer {
    enforcer: Enforcer,
}

impl<S> Layer<S> for EnforceLayer {
    type Service = Enforce<S>;

    fn layer(&self, inner: S) -> Enforce<S> {
        Enforce {
            inner,
            enforcer: self.enforcer.clone(),
        }
    }
}

/// The service of [`EnforceLayer`].
#[derive(Clone, Debug)]
pub struct Enforce<S> {
    inner: S,
    enforcer: Enforcer,
}

/// 429 (address) or 403 (account) with `Retry-After` and a JSON reason.
fn refusal(status: StatusCode, code: &str, message: String, left: Duration) -> Response {
    let secs = left.as_secs() + u64::from(left.subsec_nanos() > 0);
    let body = serde_json::json!({"error": {"code": code, "message": message}});
    let mut response = (status, axum::Json(body)).into_response();
    response
        .headers_mut()
        .insert(http::header::RETRY_AFTER, http::HeaderValue::from(secs));
    response
}

impl<S> Service<Request<Body>> for Enforce<S>
where
    S: Service<Request<Body>, Response = Response> + Send + 'static,
    S::Future: Send + 'static,
{
    type Response = Response;
    type Error = S::Error;
    type Future = Pin<Box<dyn Future<Output = Result<Response, S::Error>> + Send>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, req: Request<Body>) -> Self::Future {
        let enforcer = self.enforcer.clone();
        let config = &enforcer.inner.config;
        let ip = client_ip(req.headers(), req.extensions(), &config.trusted_proxies);
        if let Some(ip) = ip.filter(|ip| !enforcer.allowed(*ip)) {
            if let Some(left) = enforcer.blocked_for(ip) {
                let message = format!("too many suspicious requests from {ip}; try again later");
                return Box::pin(async move {
                    Ok(refusal(
                        StatusCode::TOO_MANY_REQUESTS,
                        "ip_blocked",
                        message,
                        left,
                    ))
                });
            }
        }
        let user = req.extensions().get::<UserInfo>().cloned();
        if let Some(name) = user.as_ref().map(|u| u.name.as_deref().unwrap_or(&u.id)) {
            if let Some(left) = enforcer.locked_for(name) {
                let message = format!("account `{name}` is locked after repeated failed logins");
                return Box::pin(async move {
                    Ok(refusal(
                        StatusCode::FORBIDDEN,
                        "account_locked",
                        message,
                        left,
                    ))
                });
            }
        }
        let route = req
            .extensions()
            .get::<MatchedPath>()
            .map_or_else(|| req.uri().path().to_owned(), |p| p.as_str().to_owned());
        let method = req.method().clone();
        let user_agent = req
            .headers()
            .get(http::header::USER_AGENT)
            .and_then(|v| v.to_str().ok())
            .map(|ua| ua.chars().take(512).collect());
        let future = self.inner.call(req);
        Box::pin(async move {
            let response = future.await?;
            let user = response.extensions().get::<UserInfo>().cloned().or(user);
            enforcer.observe(Observed {
                route,
                method,
                status: response.status(),
                ip,
                user,
                user_agent,
            });
            Ok(response)
        })
    }
}
