//! Failed authentications against eventlog itself (a missing, malformed, unknown or
//! revoked key, a bad JWT, a wrong key in the dashboard's sign-in form) become SEC-005
//! "Unauthorized API Access" events on its own audit trail: an attack on the audit trail
//! is part of what it records.
//!
//! The first failure from an address is recorded at once; later ones are counted and
//! reported together, one event per address per `[detect] auth_failures_report_secs`
//! (`metadata.attempts`), so a flood of guesses cannot flood the store. Addresses count as
//! the rate limits count them (IPv6 by /64), and the events one period can cost are
//! bounded whatever the number of addresses.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::{Arc, Mutex, Weak};
use std::time::Duration;

use axum::http::StatusCode;
use serde_json::json;

use crate::audit::{fit, own_event, AUDIT_SOURCE};
use crate::ingest::IngestQueue;
use crate::limits::ip_key;
use crate::ApiError;

/// Addresses (IPv6: /64 networks) tracked at once; failures from further ones are counted
/// under one event without an address.
const MAX_TRACKED: usize = 1_000;

/// New addresses recorded at once per period; after that, a new address's first failure
/// waits for the period's report like the rest.
const IMMEDIATE_PER_PERIOD: usize = 100;

/// Longest report period: a day (a longer one would only delay the counts).
const MAX_PERIOD: Duration = Duration::from_secs(86_400);

/// Failures from one address not reported yet.
#[derive(Debug, Default)]
struct Tally {
    /// The latest address (within an IPv6 /64, the one that failed last).
    ip: Option<IpAddr>,
    attempts: u64,
    reason: String,
    path: String,
}

#[derive(Debug, Default)]
struct Tallies {
    /// Keyed by [`ip_key`]; `None`: no address, or past [`MAX_TRACKED`]. An entry exists
    /// from the first failure until a report period passes without one.
    by_address: HashMap<Option<u128>, Tally>,
    /// Immediate events left this period.
    immediate_left: usize,
}

/// The failures seen, and the queue their events go through.
pub struct AuthFailures {
    queue: IngestQueue,
    tallies: Mutex<Tallies>,
    enabled: bool,
}

impl AuthFailures {
    /// Records through `queue`, reporting every `report_every` (at most a day); zero
    /// records nothing.
    pub fn start(queue: IngestQueue, report_every: Duration) -> Arc<Self> {
        let this = Arc::new(Self {
            queue,
            tallies: Mutex::new(Tallies {
                by_address: HashMap::new(),
                immediate_left: IMMEDIATE_PER_PERIOD,
            }),
            enabled: !report_every.is_zero(),
        });
        if this.enabled {
            tokio::spawn(report(Arc::downgrade(&this), report_every.min(MAX_PERIOD)));
        }
        this
    }

    /// Notes the answer `refusal` that a request from `ip` on `path` got when its
    /// credential was checked: a 401 is a refused credential; anything else (a store that
    /// cannot answer, a role that does not fit) is not.
    pub(crate) fn record(&self, ip: Option<IpAddr>, path: &str, refusal: &ApiError) {
        if !self.enabled || refusal.status() != StatusCode::UNAUTHORIZED {
            return;
        }
        let reason = refusal.body().message.as_str();
        let mut tallies = self.tallies.lock().unwrap_or_else(|e| e.into_inner());
        let Tallies {
            by_address,
            immediate_left,
        } = &mut *tallies;
        let mut key = ip.map(ip_key);
        if by_address.len() >= MAX_TRACKED && !by_address.contains_key(&key) {
            key = None;
        }
        let known = by_address.contains_key(&key);
        let tally = by_address.entry(key).or_default();
        tally.ip = if key.is_some() { ip } else { None };
        tally.reason = reason.to_owned();
        tally.path = path.to_owned();
        if known || *immediate_left == 0 {
            tally.attempts += 1;
            return;
        }
        *immediate_left -= 1;
        let ip = tally.ip;
        drop(tallies);
        if !self.submit(ip, 1, path, reason, None) {
            self.count_again(key, 1);
        }
    }

    /// Reports what was counted since the last period, and forgets addresses that were
    /// quiet for a whole period (their next failure is recorded at once again).
    fn report_period(&self, period: Duration) {
        let due: Vec<(Option<u128>, Tally)> = {
            let mut tallies = self.tallies.lock().unwrap_or_else(|e| e.into_inner());
            tallies.immediate_left = IMMEDIATE_PER_PERIOD;
            tallies.by_address.retain(|_, t| t.attempts > 0);
            tallies
                .by_address
                .iter_mut()
                .map(|(key, t)| {
                    let taken = Tally {
                        ip: t.ip,
                        attempts: std::mem::take(&mut t.attempts),
                        reason: std::mem::take(&mut t.reason),
                        path: std::mem::take(&mut t.path),
                    };
                    (*key, taken)
                })
                .collect()
        };
        for (key, tally) in due {
            let sent = self.submit(
                tally.ip,
                tally.attempts,
                &tally.path,
                &tally.reason,
                Some(period),
            );
            if !sent {
                self.count_again(key, tally.attempts);
            }
        }
    }

    /// Puts back `attempts` an event could not take (a full queue): the next report says
    /// them.
    fn count_again(&self, key: Option<u128>, attempts: u64) {
        let mut tallies = self.tallies.lock().unwrap_or_else(|e| e.into_inner());
        tallies.by_address.entry(key).or_default().attempts += attempts;
    }

    /// Queues the event; false when the queue cannot take it.
    fn submit(
        &self,
        ip: Option<IpAddr>,
        attempts: u64,
        path: &str,
        reason: &str,
        period: Option<Duration>,
    ) -> bool {
        let raw = json!({
            "event_code": "SEC-005",
            "action": "AUTHENTICATE",
            "status": "DENIED",
            "source": AUDIT_SOURCE,
            "ip_address": ip.map(|ip| ip.to_string()),
            "endpoint": fit(path),
            "http_status": 401,
            "resource_type": "EVENTLOG",
            "metadata": {
                "attempts": attempts,
                "reason": fit(reason),
                "period_secs": period.map(|p| p.as_secs()),
            },
        });
        let event = match own_event(&raw) {
            Ok(event) => event,
            Err(e) => {
                tracing::error!(error = %e, "failed-authentication event not valid");
                return true;
            }
        };
        // The answer is not awaited: the refused request must not wait for a commit.
        if self.queue.submit_derived(vec![event]).is_err() {
            tracing::warn!(
                ?ip,
                attempts,
                "failed-authentication event not stored yet: ingest queue full"
            );
            return false;
        }
        true
    }
}

/// Reports every `period` for as long as the server's state holds the recorder.
async fn report(recorder: Weak<AuthFailures>, period: Duration) {
    let mut ticks = tokio::time::interval(period);
    ticks.reset();
    loop {
        ticks.tick().await;
        match recorder.upgrade() {
            Some(recorder) => recorder.report_period(period),
            None => return,
        }
    }
}
