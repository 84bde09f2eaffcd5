//! Detectors over the event stream: pure state machines fed one stored event at a time,
//! judging by the events' own timestamps (so a replay gives the same answers).
//!
//! - brute force: N failed logins for one username, or from one IP, in a window
//!   -> SEC-002 (and AUTH-005 account locked for a username);
//! - credential stuffing: one IP failing logins for many usernames -> SEC-001;
//! - privilege escalation: a non-admin on admin routes, or a burst of 403s -> SEC-007;
//! - unauthorized API access: a burst of 401s from one IP -> SEC-005;
//! - anomalies against the user's own history: first-seen IP or user agent, activity at
//!   an hour the user is never active, a request-rate spike -> SEC-009.
//!
//! Memory is bounded: every tracker is a [`bounded::BoundedMap`] of at most
//! `max_tracked_keys` keys, each holding a bounded amount; an attacker who rotates IPs
//! or usernames only makes the detectors forget the least recently seen keys.

mod bounded;
mod window;

use std::collections::VecDeque;
use std::net::IpAddr;

use chrono::{DateTime, Duration, Timelike, Utc};
use serde::{Deserialize, Serialize};
use serde_json::{json, Map, Value};

use crate::event::EventRecord;
use bounded::BoundedMap;
use window::Window;

/// The `source` of events the detectors derive. Callers must not feed such events back to
/// the detectors (the server knows them by how they were queued); clients may not claim
/// this source.
pub const DERIVED_SOURCE: &str = "eventlog-detect";

/// A count within a time window.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Threshold {
    /// How many events raise the alert.
    pub count: u32,
    /// Within how many seconds.
    pub window_secs: u64,
}

impl Threshold {
    fn span(&self) -> Duration {
        Duration::seconds(i64::try_from(self.window_secs).unwrap_or(i64::MAX / 1_000_000))
    }

    fn limit(&self) -> usize {
        self.count.max(1) as usize
    }
}

/// Settings of the anomaly detector.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(default, deny_unknown_fields)]
pub struct AnomalyConfig {
    /// Whether anomalies are reported at all.
    pub enabled: bool,
    /// Events a user must have before anything about them counts as unusual.
    pub min_history: u32,
    /// A minute with this many times the user's usual per-minute rate is a spike...
    pub spike_factor: f64,
    /// ...if it also has at least this many events.
    pub spike_min_per_minute: u32,
    /// Seconds before the same kind of anomaly is reported again for a user.
    pub cooldown_secs: u64,
}

impl Default for AnomalyConfig {
    fn default() -> Self {
        Self {
            enabled: true,
            min_history: 20,
            spike_factor: 5.0,
            spike_min_per_minute: 30,
            cooldown_secs: 3600,
        }
    }
}

/// Thresholds and windows of every stream detector (the server's `[detect]` TOML table).
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(default, deny_unknown_fields)]
pub struct StreamConfig {
    /// Most keys (usernames, IPs, users) each detector remembers.
    pub max_tracked_keys: usize,
    /// Failed logins per username or per IP (seed 001: 5).
    pub brute_force: Threshold,
    /// Distinct usernames failing from one IP.
    pub credential_stuffing: Threshold,
    /// Admin-route requests by a non-admin, or 403s, per user.
    pub escalation: Threshold,
    /// 401s per IP.
    pub unauthorized: Threshold,
    /// Path prefixes of admin routes.
    pub admin_paths: Vec<String>,
    /// Roles allowed on admin routes (compared case-insensitively).
    pub admin_roles: Vec<String>,
    /// Anomalies against a user's own history.
    pub anomaly: AnomalyConfig,
}

impl Default for StreamConfig {
    fn default() -> Self {
        Self {
            max_tracked_keys: 50_000,
            brute_force: Threshold {
                count: 5,
                window_secs: 300,
            },
            credential_stuffing: Threshold {
                count: 10,
                window_secs: 600,
            },
            escalation: Threshold {
                count: 3,
                window_secs: 300,
            },
            unauthorized: Threshold {
                count: 10,
                window_secs: 60,
            },
            admin_paths: vec!["/admin".into(), "/api/admin".into()],
            admin_roles: ["admin", "administrator", "superadmin", "root"]
                .map(String::from)
                .to_vec(),
            anomaly: AnomalyConfig::default(),
        }
    }
}

/// Something a stream detector concluded, to be stored as an event of `code`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Alert {
    /// Catalog code of the event to store (SEC-001/002/005/007/009, AUTH-005).
    pub code: &'static str,
    /// Which detector: `brute_force`, `credential_stuffing`, `privilege_escalation`,
    /// `unauthorized_access`, `anomaly`.
    pub detector: &'static str,
    /// What was tracked, e.g. `username:guru01` or `ip:10.0.0.9`.
    pub key: String,
    /// The event that crossed the threshold.
    pub trigger_event_id: String,
    /// That event's time (so a replay derives the same alert).
    pub timestamp: DateTime<Utc>,
    /// Tenant of the events.
    pub tenant_id: Option<String>,
    /// The user concerned (the targeted account or the acting user).
    pub user_id: Option<String>,
    /// The username concerned.
    pub username: Option<String>,
    /// The user's role, when known.
    pub user_role: Option<String>,
    /// The offending address.
    pub ip_address: Option<IpAddr>,
    /// The offending client.
    pub user_agent: Option<String>,
    /// The endpoint of the triggering event.
    pub endpoint: Option<String>,
    /// The HTTP method of the triggering event.
    pub http_method: Option<String>,
    /// One sentence for people.
    pub description: String,
    /// Figures for machines (attempt_count, timeframe_seconds, pattern, ...).
    pub details: Map<String, Value>,
}

/// What the detectors need to know about one event.
struct Seen<'a> {
    event: &'a EventRecord,
    tenant: &'a str,
    user: Option<&'a str>,
}

impl<'a> Seen<'a> {
    fn new(event: &'a EventRecord) -> Self {
        Self {
            event,
            tenant: event.tenant_id.as_deref().unwrap_or(""),
            user: event
                .user_id
                .as_deref()
                .or(event.username.as_deref())
                .filter(|u| !u.is_empty()),
        }
    }

    fn code_is(&self, code: &str) -> bool {
        self.event.event_code.as_deref() == Some(code)
    }

    fn failed_login(&self) -> bool {
        self.event.is_failed_login()
    }

    fn alert(&self, code: &'static str, detector: &'static str, key: String) -> Alert {
        let e = self.event;
        Alert {
            code,
            detector,
            key,
            trigger_event_id: e.event_id.clone(),
            timestamp: e.timestamp,
            tenant_id: e.tenant_id.clone(),
            user_id: e.user_id.clone(),
            username: e.username.clone(),
            user_role: e.user_role.clone(),
            ip_address: e.ip_address,
            user_agent: e.user_agent.clone(),
            endpoint: e.endpoint.clone(),
            http_method: e.http_method.clone(),
            description: String::new(),
            details: Map::new(),
        }
    }
}

/// Distinct usernames that failed from one IP, newest last, bounded.
#[derive(Debug, Default)]
struct Usernames {
    recent: VecDeque<(String, DateTime<Utc>)>,
    alert: Window,
}

/// What a user usually does.
#[derive(Debug, Default)]
struct Profile {
    events: u64,
    ips: VecDeque<IpAddr>,
    agents: VecDeque<String>,
    hours: [u32; 24],
    minute: i64,
    in_minute: u32,
    minutes_seen: u32,
    usual_per_minute: f64,
    last_alert: [Option<DateTime<Utc>>; 4],
}

/// Known IPs and user agents remembered per user.
const PROFILE_IPS: usize = 16;
const PROFILE_AGENTS: usize = 8;

#[derive(Clone, Copy)]
enum Anomaly {
    NewIp = 0,
    NewUserAgent = 1,
    UnusualHour = 2,
    RateSpike = 3,
}

impl Anomaly {
    fn as_str(self) -> &'static str {
        match self {
            Anomaly::NewIp => "new_ip",
            Anomaly::NewUserAgent => "new_user_agent",
            Anomaly::UnusualHour => "unusual_hour",
            Anomaly::RateSpike => "rate_spike",
        }
    }
}

/// All stream detectors and their state. Feed it every stored event (but those it derived)
/// with [`StreamDetectors::observe`].
#[derive(Debug)]
pub struct StreamDetectors {
    config: StreamConfig,
    failures_by_user: BoundedMap<(String, String), Window>,
    failures_by_ip: BoundedMap<(String, IpAddr), Window>,
    usernames_by_ip: BoundedMap<(String, IpAddr), Usernames>,
    escalation_by_user: BoundedMap<(String, String), Window>,
    unauthorized_by_ip: BoundedMap<(String, IpAddr), Window>,
    profiles: BoundedMap<(String, String), Profile>,
}

/// Figures about the detectors' memory, for tests and metrics.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct StreamStats {
    /// Keys held over all trackers.
    pub tracked_keys: usize,
    /// Keys forgotten to stay within `max_tracked_keys`.
    pub evicted_keys: u64,
}

impl StreamDetectors {
    /// Detectors with `config`'s thresholds and empty state.
    pub fn new(config: StreamConfig) -> Self {
        let cap = config.max_tracked_keys;
        Self {
            failures_by_user: BoundedMap::new(cap),
            failures_by_ip: BoundedMap::new(cap),
            usernames_by_ip: BoundedMap::new(cap),
            escalation_by_user: BoundedMap::new(cap),
            unauthorized_by_ip: BoundedMap::new(cap),
            profiles: BoundedMap::new(cap),
            config,
        }
    }

    /// Memory figures.
    pub fn stats(&self) -> StreamStats {
        StreamStats {
            tracked_keys: self.failures_by_user.len()
                + self.failures_by_ip.len()
                + self.usernames_by_ip.len()
                + self.escalation_by_user.len()
                + self.unauthorized_by_ip.len()
                + self.profiles.len(),
            evicted_keys: self.failures_by_user.evicted()
                + self.failures_by_ip.evicted()
                + self.usernames_by_ip.evicted()
                + self.escalation_by_user.evicted()
                + self.unauthorized_by_ip.evicted()
                + self.profiles.evicted(),
        }
    }

    /// Feeds one stored event; returns the alerts it raises (usually none).
    pub fn observe(&mut self, event: &EventRecord) -> Vec<Alert> {
        let mut alerts = Vec::new();
        let seen = Seen::new(event);
        if seen.failed_login() {
            self.brute_force(&seen, &mut alerts);
            self.credential_stuffing(&seen, &mut alerts);
        }
        self.escalation(&seen, &mut alerts);
        self.unauthorized(&seen, &mut alerts);
        if self.config.anomaly.enabled {
            self.anomaly(&seen, &mut alerts);
        }
        alerts
    }

    fn brute_force(&mut self, seen: &Seen<'_>, alerts: &mut Vec<Alert>) {
        let t = self.config.brute_force;
        let at = seen.event.timestamp;
        let mut account_alerted = false;
        if let Some(username) = seen.event.username.as_deref().or(seen.user) {
            let window = self.failures_by_user.entry(
                &(seen.tenant.to_owned(), username.to_owned()),
                Window::default,
            );
            let count = window.record(at, t.span(), t.limit());
            if count >= t.limit() && window.may_alert(at, t.span()) {
                account_alerted = true;
                let details = |pattern: &str| {
                    json!({
                        "attempt_count": count,
                        "timeframe_seconds": t.window_secs,
                        "pattern": pattern,
                        "detector": "brute_force",
                    })
                };
                let mut attack =
                    seen.alert("SEC-002", "brute_force", format!("username:{username}"));
                attack.description = format!(
                    "Brute force: {count} failed logins for `{username}` within {} s",
                    t.window_secs
                );
                attack.details = as_map(details("failed_logins_per_username"));
                let mut locked =
                    seen.alert("AUTH-005", "brute_force", format!("username:{username}"));
                locked.description = format!(
                    "Account `{username}` locked after {count} failed logins within {} s",
                    t.window_secs
                );
                locked.details = as_map(details("account_locked"));
                alerts.push(attack);
                alerts.push(locked);
            }
        }
        if let Some(ip) = seen.event.ip_address {
            let window = self
                .failures_by_ip
                .entry(&(seen.tenant.to_owned(), ip), Window::default);
            let count = window.record(at, t.span(), t.limit());
            if count >= t.limit() {
                if account_alerted {
                    // The account alert already names this IP; one alert per attack.
                    window.mark_alerted(at);
                } else if window.may_alert(at, t.span()) {
                    let mut attack = seen.alert("SEC-002", "brute_force", format!("ip:{ip}"));
                    attack.description = format!(
                        "Brute force: {count} failed logins from {ip} within {} s",
                        t.window_secs
                    );
                    attack.details = as_map(json!({
                        "attempt_count": count,
                        "timeframe_seconds": t.window_secs,
                        "pattern": "failed_logins_per_ip",
                        "detector": "brute_force",
                    }));
                    alerts.push(attack);
                }
            }
        }
    }

    fn credential_stuffing(&mut self, seen: &Seen<'_>, alerts: &mut Vec<Alert>) {
        let (Some(ip), Some(username)) = (
            seen.event.ip_address,
            seen.event.username.as_deref().or(seen.user),
        ) else {
            return;
        };
        let t = self.config.credential_stuffing;
        let at = seen.event.timestamp;
        let tracked = self
            .usernames_by_ip
            .entry(&(seen.tenant.to_owned(), ip), Usernames::default);
        tracked.recent.retain(|(u, _)| u != username);
        tracked.recent.push_back((username.to_owned(), at));
        while tracked.recent.len() > t.limit() {
            tracked.recent.pop_front();
        }
        let start = at - t.span();
        let distinct: Vec<&str> = tracked
            .recent
            .iter()
            .filter(|(_, when)| *when > start && *when <= at)
            .map(|(u, _)| u.as_str())
            .collect();
        if distinct.len() >= t.limit() && tracked.alert.may_alert(at, t.span()) {
            let mut alert = seen.alert("SEC-001", "credential_stuffing", format!("ip:{ip}"));
            alert.description = format!(
                "Credential stuffing: failed logins for {} different usernames from {ip} within {} s",
                distinct.len(),
                t.window_secs
            );
            alert.details = as_map(json!({
                "login_attempts": distinct.len(),
                "targeted_usernames": distinct,
                "timeframe_seconds": t.window_secs,
                "pattern": "many_usernames_one_ip",
                "detector": "credential_stuffing",
            }));
            alerts.push(alert);
        }
    }

    fn is_admin_route(&self, endpoint: &str) -> bool {
        let path = endpoint.split('?').next().unwrap_or(endpoint);
        self.config.admin_paths.iter().any(|prefix| {
            path.strip_prefix(prefix.as_str())
                .is_some_and(|rest| rest.is_empty() || rest.starts_with('/'))
        })
    }

    fn is_admin_role(&self, role: &str) -> bool {
        self.config
            .admin_roles
            .iter()
            .any(|r| r.eq_ignore_ascii_case(role))
    }

    fn escalation(&mut self, seen: &Seen<'_>, alerts: &mut Vec<Alert>) {
        let Some(user) = seen.user else { return };
        let e = seen.event;
        let forbidden = e.http_status == Some(403) || seen.code_is("AUTH-009");
        let non_admin = e
            .user_role
            .as_deref()
            .is_some_and(|r| !self.is_admin_role(r));
        let admin_route = non_admin
            && e.endpoint
                .as_deref()
                .is_some_and(|p| self.is_admin_route(p));
        if !forbidden && !admin_route {
            return;
        }
        let succeeded = admin_route && e.http_status.is_some_and(|s| (200..300).contains(&s));
        let t = self.config.escalation;
        let window = self
            .escalation_by_user
            .entry(&(seen.tenant.to_owned(), user.to_owned()), Window::default);
        let count = window.record(e.timestamp, t.span(), t.limit());
        if (succeeded || count >= t.limit()) && window.may_alert(e.timestamp, t.span()) {
            let mut alert = seen.alert("SEC-007", "privilege_escalation", format!("user:{user}"));
            let action = format!(
                "{} {}",
                e.http_method.as_deref().unwrap_or(&e.action),
                e.endpoint.as_deref().unwrap_or(&e.event_type)
            );
            alert.description = if succeeded {
                format!("Privilege escalation: non-admin `{user}` was served admin route {action}")
            } else {
                format!(
                    "Privilege escalation attempts: {count} admin-route or forbidden requests by `{user}` within {} s",
                    t.window_secs
                )
            };
            alert.details = as_map(json!({
                "attempted_action": action,
                "attempt_count": count,
                "timeframe_seconds": t.window_secs,
                "admin_route": admin_route,
                "succeeded": succeeded,
                "detector": "privilege_escalation",
            }));
            alerts.push(alert);
        }
    }

    fn unauthorized(&mut self, seen: &Seen<'_>, alerts: &mut Vec<Alert>) {
        let e = seen.event;
        let (Some(401), Some(ip)) = (e.http_status, e.ip_address) else {
            return;
        };
        let t = self.config.unauthorized;
        let window = self
            .unauthorized_by_ip
            .entry(&(seen.tenant.to_owned(), ip), Window::default);
        let count = window.record(e.timestamp, t.span(), t.limit());
        if count >= t.limit() && window.may_alert(e.timestamp, t.span()) {
            let mut alert = seen.alert("SEC-005", "unauthorized_access", format!("ip:{ip}"));
            alert.description = format!(
                "Unauthorized API access: {count} requests without valid credentials from {ip} within {} s",
                t.window_secs
            );
            alert.details = as_map(json!({
                "attempt_count": count,
                "timeframe_seconds": t.window_secs,
                "detector": "unauthorized_access",
            }));
            alerts.push(alert);
        }
    }

    fn anomaly(&mut self, seen: &Seen<'_>, alerts: &mut Vec<Alert>) {
        let Some(user) = seen.user else { return };
        let config = &self.config.anomaly;
        let e = seen.event;
        let at = e.timestamp;
        let profile = self
            .profiles
            .entry(&(seen.tenant.to_owned(), user.to_owned()), Profile::default);
        let established = profile.events >= u64::from(config.min_history);
        let mut found: Vec<(Anomaly, Value)> = Vec::new();

        if let Some(ip) = e.ip_address {
            if !profile.ips.contains(&ip) {
                if established {
                    found.push((
                        Anomaly::NewIp,
                        json!({"ip_address": ip, "known_ips": profile.ips.len()}),
                    ));
                }
                profile.ips.push_back(ip);
                if profile.ips.len() > PROFILE_IPS {
                    profile.ips.pop_front();
                }
            }
        }
        if let Some(agent) = e.user_agent.as_deref().filter(|a| !a.is_empty()) {
            if !profile.agents.iter().any(|a| a == agent) {
                if established {
                    found.push((Anomaly::NewUserAgent, json!({"user_agent": agent})));
                }
                profile.agents.push_back(agent.chars().take(256).collect());
                if profile.agents.len() > PROFILE_AGENTS {
                    profile.agents.pop_front();
                }
            }
        }
        let hour = at.hour() as usize;
        // Unusual: fewer than 1% of the user's events fall in this hour of the day.
        if established && u64::from(profile.hours[hour]) * 100 < profile.events {
            found.push((Anomaly::UnusualHour, json!({"hour_utc": hour, "events_in_hour": profile.hours[hour], "events_total": profile.events})));
        }
        profile.hours[hour] = profile.hours[hour].saturating_add(1);

        let minute = at.timestamp().div_euclid(60);
        if minute > profile.minute {
            if profile.in_minute > 0 {
                profile.usual_per_minute = if profile.minutes_seen == 0 {
                    f64::from(profile.in_minute)
                } else {
                    0.8 * profile.usual_per_minute + 0.2 * f64::from(profile.in_minute)
                };
                profile.minutes_seen = profile.minutes_seen.saturating_add(1);
            }
            profile.minute = minute;
            profile.in_minute = 0;
        }
        if minute == profile.minute {
            profile.in_minute = profile.in_minute.saturating_add(1);
            let spike = f64::from(profile.in_minute)
                >= (config.spike_factor * profile.usual_per_minute)
                    .max(f64::from(config.spike_min_per_minute));
            if established && profile.minutes_seen >= 3 && spike {
                found.push((Anomaly::RateSpike, json!({"events_this_minute": profile.in_minute, "usual_per_minute": (profile.usual_per_minute * 10.0).round() / 10.0})));
            }
        }
        profile.events += 1;

        let cooldown =
            Duration::seconds(i64::try_from(config.cooldown_secs).unwrap_or(i64::MAX / 1_000_000));
        for (kind, facts) in found {
            let last = &mut profile.last_alert[kind as usize];
            // Each kind at most once per user per cool-down, new IPs and agents included: a
            // user behind a rotating address (a mobile carrier's NAT, a proxy pool) would
            // otherwise derive one event per request and double the store's intake. The
            // profile still learns every address.
            if !last.is_none_or(|l| at < l || at - l >= cooldown) {
                continue;
            }
            *last = Some(at);
            let mut alert = seen.alert(
                "SEC-009",
                "anomaly",
                format!("user:{user}:{}", kind.as_str()),
            );
            alert.description = format!(
                "Anomalous behaviour of `{user}`: {}",
                kind.as_str().replace('_', " ")
            );
            let mut details = as_map(facts);
            details.insert("behavior_pattern".into(), json!(kind.as_str()));
            details.insert("detector".into(), json!("anomaly"));
            alert.details = details;
            alerts.push(alert);
        }
    }
}

fn as_map(value: Value) -> Map<String, Value> {
    match value {
        Value::Object(map) => map,
        _ => Map::new(),
    }
}

#[cfg(test)]
mod tests;
