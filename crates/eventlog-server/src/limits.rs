//! Protection against floods and slow or huge clients: rate limits per caller and per
//! client address (separately for ingest and for queries, and a tighter one for browser
//! keys), a time limit on every request and on reading its body, and a cap on header size.
//!
//! Limits are GCRA buckets (`governor`) kept in [`BoundedStore`]s: a fixed number of
//! tracked clients, so an attacker rotating addresses cannot grow memory (IPv6 addresses
//! count per /64, which is what one subscriber usually gets).

use std::collections::HashMap;
use std::hash::Hash;
use std::net::{IpAddr, SocketAddr};
use std::num::NonZeroU32;
use std::sync::Mutex;
use std::time::Duration;

use axum::body::Body;
use axum::extract::{ConnectInfo, Request, State};
use axum::http::header;
use axum::http::request::Parts;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use eventlog_core::net::{client_ip, IpRange};
use governor::clock::{Clock, DefaultClock};
use governor::nanos::Nanos;
use governor::state::StateStore;
use governor::{Quota, RateLimiter};
use serde::{Deserialize, Serialize};

use crate::{ApiError, AppState};

/// A bucket: `per_second` sustained, up to `burst` at once. `per_second = 0` turns it off.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Rate {
    /// Requests per second, sustained.
    pub per_second: u32,
    /// Requests allowed at once after a quiet period.
    pub burst: u32,
}

const fn rate(per_second: u32, burst: u32) -> Rate {
    Rate { per_second, burst }
}

/// `[limits]`.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(default, deny_unknown_fields)]
pub struct LimitsConfig {
    /// Rate limits on or off (timeouts and header limits always apply).
    pub enabled: bool,
    /// `POST /api/events[/batch]` per key (or per JWT subject).
    pub ingest_per_key: Rate,
    /// Ingest per client address.
    pub ingest_per_ip: Rate,
    /// Every other route per key.
    pub query_per_key: Rate,
    /// Every other route per client address.
    pub query_per_ip: Rate,
    /// Publishable (browser) keys, per client address: one key is shared by every visitor
    /// of a site, so the address is what tells them apart.
    pub browser_per_ip: Rate,
    /// Most clients tracked per bucket kind; beyond it idle ones are forgotten first.
    pub max_tracked_clients: usize,
    /// Proxies whose `X-Forwarded-For` is believed (addresses or CIDR ranges).
    pub trusted_proxies: Vec<IpRange>,
    /// Longest time a request may take in all, in seconds (503 after).
    pub request_timeout_secs: u64,
    /// Longest time the client may take to send the body, in seconds (408 after).
    pub body_timeout_secs: u64,
    /// Largest total size of the request's header names and values, in bytes (431 beyond).
    pub max_header_bytes: usize,
    /// Longest time a connection may take to send a complete request head, in seconds,
    /// from when it opens or finished its previous request; it is closed after.
    pub header_timeout_secs: u64,
    /// Most connections open at once; more are closed as they arrive.
    pub max_connections: usize,
    /// Most connections open at once from one address (trusted proxies excepted).
    pub max_connections_per_ip: usize,
}

impl Default for LimitsConfig {
    fn default() -> Self {
        Self {
            enabled: true,
            ingest_per_key: rate(2_000, 5_000),
            ingest_per_ip: rate(2_000, 5_000),
            query_per_key: rate(200, 1_000),
            query_per_ip: rate(200, 1_000),
            browser_per_ip: rate(20, 100),
            max_tracked_clients: 100_000,
            trusted_proxies: Vec::new(),
            request_timeout_secs: 60,
            body_timeout_secs: 30,
            max_header_bytes: 32 * 1024,
            header_timeout_secs: 10,
            max_connections: 10_000,
            max_connections_per_ip: 256,
        }
    }
}

/// Which budget a request draws on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Class {
    /// Sending events.
    Ingest,
    /// Everything else.
    Query,
}

impl Class {
    fn of(parts: &Parts) -> Self {
        let path = parts.uri.path();
        if parts.method == axum::http::Method::POST
            && (path == "/api/events" || path == "/api/events/batch")
        {
            Class::Ingest
        } else {
            Class::Query
        }
    }
}

/// The client address of a request (after the trusted-proxy rule), set by [`guard`].
#[derive(Debug, Clone, Copy)]
pub(crate) struct ClientIp(pub(crate) IpAddr);

/// A keyed GCRA state store holding at most `max` keys. A new key arriving when it is full
/// first drops every idle key (at most once a second), and otherwise replaces an
/// arbitrary one, whose client merely gets a fresh bucket.
pub struct BoundedStore<K> {
    inner: Mutex<Tracked<K>>,
    max: usize,
    /// The time one request adds to a bucket, in nanoseconds.
    increment: u64,
}

struct Tracked<K> {
    tats: HashMap<K, Nanos>,
    last_sweep: u64,
}

impl<K: Hash + Eq + Clone> StateStore for BoundedStore<K> {
    type Key = K;

    fn measure_and_replace<T, F, E>(&self, key: &K, f: F) -> Result<T, E>
    where
        F: Fn(Option<Nanos>) -> Result<(T, Nanos), E>,
    {
        let mut tracked = self.inner.lock().expect("rate limit lock");
        let previous = tracked.tats.get(key).copied();
        let (outcome, tat) = f(previous)?;
        if previous.is_none() && tracked.tats.len() >= self.max {
            // For a fresh key the new arrival time is now + one increment.
            let now = tat.as_u64().saturating_sub(self.increment);
            if now.saturating_sub(tracked.last_sweep) >= 1_000_000_000 {
                tracked.last_sweep = now;
                tracked.tats.retain(|_, t| t.as_u64() > now);
            }
            if tracked.tats.len() >= self.max {
                let victim = tracked.tats.keys().next().cloned();
                if let Some(victim) = victim {
                    tracked.tats.remove(&victim);
                }
            }
        }
        tracked.tats.insert(key.clone(), tat);
        Ok(outcome)
    }
}

impl<K> BoundedStore<K> {
    fn new(max: usize, increment: u64) -> Self {
        Self {
            inner: Mutex::new(Tracked {
                tats: HashMap::new(),
                last_sweep: 0,
            }),
            max: max.max(1),
            increment,
        }
    }

    #[cfg(test)]
    fn len(&self) -> usize {
        self.inner.lock().expect("rate limit lock").tats.len()
    }
}

type Limiter<K> = RateLimiter<K, BoundedStore<K>, DefaultClock>;

/// One kind of bucket, per key `K`; `None` when turned off.
struct Buckets<K: Hash + Eq + Clone> {
    limiter: Option<Limiter<K>>,
    clock: DefaultClock,
}

impl<K: Hash + Eq + Clone> Buckets<K> {
    fn new(rate: Rate, enabled: bool, max: usize) -> Self {
        let clock = DefaultClock::default();
        let limiter = (enabled && rate.per_second > 0).then(|| {
            let per_second = NonZeroU32::new(rate.per_second).expect("checked above");
            let burst = NonZeroU32::new(rate.burst.max(1)).expect("at least 1");
            let quota = Quota::per_second(per_second).allow_burst(burst);
            let increment =
                u64::try_from(quota.replenish_interval().as_nanos()).unwrap_or(u64::MAX);
            RateLimiter::new(quota, BoundedStore::new(max, increment), clock.clone())
        });
        Self { limiter, clock }
    }

    /// `Err(seconds to wait)` when `key` is over its budget.
    fn check(&self, key: &K) -> Result<(), u32> {
        let Some(limiter) = &self.limiter else {
            return Ok(());
        };
        limiter.check_key(key).map(drop).map_err(|not_until| {
            let wait = not_until.wait_time_from(self.clock.now());
            u32::try_from(wait.as_secs() + u64::from(wait.subsec_nanos() > 0)).unwrap_or(u32::MAX)
        })
    }
}

/// An address as a bucket key: IPv4 as is, IPv6 by its /64.
pub(crate) fn ip_key(ip: IpAddr) -> u128 {
    match ip {
        IpAddr::V4(v4) => u128::from(u32::from(v4)),
        IpAddr::V6(v6) => u128::from(v6) & !((1u128 << 64) - 1),
    }
}

/// Every bucket of the server.
pub struct RateLimits {
    ingest_key: Buckets<String>,
    ingest_ip: Buckets<u128>,
    query_key: Buckets<String>,
    query_ip: Buckets<u128>,
    browser_ip: Buckets<u128>,
    config: LimitsConfig,
}

impl RateLimits {
    /// The buckets `config` describes.
    pub fn new(config: &LimitsConfig) -> Self {
        let (on, max) = (config.enabled, config.max_tracked_clients);
        Self {
            ingest_key: Buckets::new(config.ingest_per_key, on, max),
            ingest_ip: Buckets::new(config.ingest_per_ip, on, max),
            query_key: Buckets::new(config.query_per_key, on, max),
            query_ip: Buckets::new(config.query_per_ip, on, max),
            browser_ip: Buckets::new(config.browser_per_ip, on, max),
            config: config.clone(),
        }
    }

    /// The settings.
    pub fn config(&self) -> &LimitsConfig {
        &self.config
    }

    fn client_ip(&self, parts: &Parts) -> Option<IpAddr> {
        let peer = parts
            .extensions
            .get::<ConnectInfo<SocketAddr>>()
            .map(|ConnectInfo(addr)| addr.ip());
        let forwarded = parts
            .headers
            .get_all("x-forwarded-for")
            .iter()
            .filter_map(|v| v.to_str().ok());
        client_ip(peer, forwarded, &self.config.trusted_proxies)
    }

    /// The per-caller budget, checked once the caller is known (publishable keys are
    /// limited by address instead: one key serves a whole site's visitors).
    pub(crate) fn check_caller(
        &self,
        parts: &Parts,
        name: &str,
        publishable: bool,
    ) -> Result<(), ApiError> {
        if publishable {
            return match parts.extensions.get::<ClientIp>() {
                Some(ClientIp(ip)) => self
                    .browser_ip
                    .check(&ip_key(*ip))
                    .map_err(|wait| limited("this address (browser key)", wait)),
                None => Ok(()),
            };
        }
        let buckets = match Class::of(parts) {
            Class::Ingest => &self.ingest_key,
            Class::Query => &self.query_key,
        };
        // Keys are few and verified, so their names are safe bucket keys.
        buckets
            .check(&name.to_owned())
            .map_err(|wait| limited(&format!("key `{name}`"), wait))
    }
}

fn limited(who: &str, wait: u32) -> ApiError {
    ApiError::too_many_requests(
        format!("rate limit reached for {who}; retry after {wait} s"),
        wait,
    )
}

/// The outer guard of every route: header size, the per-address budget, and the overall
/// time limit. Records the client address for the handlers.
pub(crate) async fn guard(State(state): State<AppState>, request: Request, next: Next) -> Response {
    let limits = &state.rate_limits;
    let (mut parts, body) = request.into_parts();
    let header_bytes: usize = parts
        .headers
        .iter()
        .map(|(name, value)| name.as_str().len() + value.len())
        .sum();
    if header_bytes > limits.config.max_header_bytes {
        return ApiError::headers_too_large(format!(
            "the request headers take {header_bytes} bytes; the limit is {}",
            limits.config.max_header_bytes
        ))
        .into_response();
    }
    if let Some(ip) = limits.client_ip(&parts) {
        let buckets = match Class::of(&parts) {
            Class::Ingest => &limits.ingest_ip,
            Class::Query => &limits.query_ip,
        };
        if let Err(wait) = buckets.check(&ip_key(ip)) {
            return limited(&format!("address {ip}"), wait).into_response();
        }
        parts.extensions.insert(ClientIp(ip));
    }
    let timeout = Duration::from_secs(limits.config.request_timeout_secs.max(1));
    match tokio::time::timeout(timeout, next.run(Request::from_parts(parts, body))).await {
        Ok(response) => response,
        Err(_) => ApiError::unavailable(
            "timeout",
            format!(
                "the request took longer than {} s; if it sent events, retry with the same event ids",
                timeout.as_secs()
            ),
            1,
        )
        .into_response(),
    }
}

/// Refuses a request whose path or query string carries a NUL character (`%00`), naming
/// the parameter: no stored text can contain one, and PostgreSQL answers a comparison with
/// one by an encoding error, so the request could only fail later, and less clearly.
pub(crate) async fn refuse_nul(request: Request, next: Next) -> Response {
    let uri = request.uri();
    if let Some(query) = uri.query() {
        let bad = form_urlencoded::parse(query.as_bytes())
            .find(|(name, value)| name.contains('\0') || value.contains('\0'));
        if let Some((name, _)) = bad {
            return ApiError::bad_request(
                "invalid_query",
                "contains a NUL character (%00), which no stored text can hold",
            )
            .field(name.replace('\0', ""))
            .into_response();
        }
    }
    if percent_encoding::percent_decode_str(uri.path()).any(|b| b == 0) {
        return ApiError::bad_request(
            "invalid_path",
            "the path contains a NUL character (%00), which no stored text can hold",
        )
        .into_response();
    }
    next.run(request).await
}

/// The request body encodings the server inflates (`Content-Encoding`).
const BODY_ENCODINGS: [&str; 3] = ["gzip", "deflate", "zstd"];

/// Reads the whole body within `[limits] body_timeout_secs` (408 for a client that sends
/// too slowly, 413 beyond `limit` bytes), inflates it if it came compressed (the limit
/// counts the inflated bytes too, so a "zip bomb" is a 413 after at most `limit` bytes of
/// work), and hands the request on with it buffered.
pub(crate) async fn buffer_body(
    state: &AppState,
    mut parts: Parts,
    body: Body,
) -> Result<Request, ApiError> {
    let limit = state.limits.max_body_bytes;
    let timeout = Duration::from_secs(state.rate_limits.config.body_timeout_secs.max(1));
    let bytes = match tokio::time::timeout(timeout, axum::body::to_bytes(body, limit)).await {
        Err(_) => {
            return Err(ApiError::request_timeout(format!(
                "the request body did not arrive within {} s",
                timeout.as_secs()
            )))
        }
        Ok(Err(e)) => {
            let too_large = std::error::Error::source(&e)
                .is_some_and(|s| s.is::<http_body_util::LengthLimitError>());
            return Err(if too_large {
                too_large_body(limit)
            } else {
                ApiError::bad_request(
                    "unreadable_body",
                    format!("the body could not be read: {e}"),
                )
            });
        }
        Ok(Ok(bytes)) => bytes,
    };
    let codings = content_codings(&parts.headers)?;
    if codings.is_empty() {
        return Ok(Request::from_parts(parts, Body::from(bytes)));
    }
    let inflated = tokio::task::spawn_blocking(move || inflate(bytes.to_vec(), &codings, limit))
        .await
        .map_err(|e| ApiError::internal(format!("inflating the body failed: {e}")))??;
    parts.headers.remove(header::CONTENT_ENCODING);
    parts.headers.remove(header::CONTENT_LENGTH);
    Ok(Request::from_parts(parts, Body::from(inflated)))
}

fn too_large_body(limit: usize) -> ApiError {
    ApiError::too_large(format!(
        "the request body is larger than the {limit}-byte limit"
    ))
}

/// The codings of `Content-Encoding`, in the order they were applied (`identity` left out).
fn content_codings(headers: &axum::http::HeaderMap) -> Result<Vec<String>, ApiError> {
    let mut codings = Vec::new();
    for value in headers.get_all(header::CONTENT_ENCODING) {
        for coding in value.to_str().unwrap_or("?").split(',') {
            let coding = coding.trim().to_ascii_lowercase();
            match coding.as_str() {
                "" | "identity" => {}
                "x-gzip" => codings.push("gzip".to_owned()),
                c if BODY_ENCODINGS.contains(&c) => codings.push(coding),
                _ => {
                    return Err(ApiError::unsupported_media_type(format!(
                        "the body is sent with Content-Encoding `{coding}`; send it uncompressed or as {}",
                        BODY_ENCODINGS.join(", ")
                    ))
                    .field("Content-Encoding"))
                }
            }
        }
    }
    Ok(codings)
}

/// Undoes `codings` (last applied first), each result at most `limit` bytes. Every gzip
/// member and zstd frame is read; anything after them that is not one is an error.
fn inflate(mut bytes: Vec<u8>, codings: &[String], limit: usize) -> Result<Vec<u8>, ApiError> {
    use std::io::Read;
    for coding in codings.iter().rev() {
        let source = std::io::Cursor::new(bytes);
        let reader: Box<dyn Read> = match coding.as_str() {
            "gzip" => Box::new(flate2::read::MultiGzDecoder::new(source)),
            "deflate" => Box::new(flate2::read::ZlibDecoder::new(source)),
            _ => {
                Box::new(zstd::stream::read::Decoder::new(source).map_err(|e| broken(coding, &e))?)
            }
        };
        let mut out = Vec::new();
        reader
            .take(limit as u64 + 1)
            .read_to_end(&mut out)
            .map_err(|e| broken(coding, &e))?;
        if out.len() > limit {
            return Err(too_large_body(limit));
        }
        bytes = out;
    }
    Ok(bytes)
}

fn broken(coding: &str, e: &std::io::Error) -> ApiError {
    ApiError::bad_request(
        "unreadable_body",
        format!("the body is not valid {coding}: {e}"),
    )
    .field("Content-Encoding")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_burst_beyond_the_limit_is_refused_and_others_are_not() {
        let buckets = Buckets::<String>::new(rate(1, 3), true, 100);
        let a = "a".to_owned();
        for _ in 0..3 {
            assert!(buckets.check(&a).is_ok());
        }
        let wait = buckets.check(&a).unwrap_err();
        assert!((1..=2).contains(&wait), "{wait}");
        assert!(buckets.check(&"b".to_owned()).is_ok());
    }

    #[test]
    fn rotating_keys_cannot_grow_the_state() {
        let store = BoundedStore::<u64>::new(64, 1_000);
        for i in 0..10_000u64 {
            let at = Nanos::new(5_000_000_000 + i * 1_000);
            let _: Result<(), ()> = store.measure_and_replace(&i, |_| Ok(((), at)));
            assert!(store.len() <= 64, "{} keys tracked", store.len());
        }
        // Idle keys go first: once every tracked bucket has drained, one sweep empties it.
        let later = Nanos::new(60_000_000_000);
        let _: Result<(), ()> = store.measure_and_replace(&u64::MAX, |_| Ok(((), later)));
        assert_eq!(store.len(), 1);
    }

    #[test]
    fn ipv6_counts_per_64() {
        let a: IpAddr = "2001:db8:1:2::1".parse().unwrap();
        let b: IpAddr = "2001:db8:1:2:ffff::9".parse().unwrap();
        let c: IpAddr = "2001:db8:1:3::1".parse().unwrap();
        assert_eq!(ip_key(a), ip_key(b));
        assert_ne!(ip_key(a), ip_key(c));
    }
}
