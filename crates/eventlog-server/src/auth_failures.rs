//! Failed authentications against eventlog itself (a missing, malformed, unknown or
//! revoked key, a bad JWT, a wrong key in the dashboard's sign-in form) become SEC-005
//! "Unauthorized API Access" events on its own audit trail: an attack on the audit trail
//! is part of what it records.
//!
//! The first failure from an address is recorded at once; later ones are counted and
//! reported together, one event per address per `[detect] auth_failures_report_secs`
//! (`metadata.attempts`), so a flood of guesses cannot flood the store.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::{Arc, Mutex, Weak};
use std::time::Duration;

use serde_json::json;

use crate::audit::{fit, own_event, AUDIT_SOURCE};
use crate::ingest::IngestQueue;

/// Addresses tracked at once; failures from further ones are counted under "unknown".
const MAX_TRACKED: usize = 10_000;

/// Failures from one address not reported yet.
#[derive(Debug, Default)]
struct Tally {
    attempts: u64,
    reason: String,
    path: String,
}

/// The failures seen, and the queue their events go through.
pub struct AuthFailures {
    queue: IngestQueue,
    /// Per address (`None`: not known, or past [`MAX_TRACKED`]); an entry exists from the
    /// first failure until a report period passes without one.
    tallies: Mutex<HashMap<Option<IpAddr>, Tally>>,
    enabled: bool,
}

impl AuthFailures {
    /// Records through `queue`; `report_every` of zero records nothing.
    pub fn start(queue: IngestQueue, report_every: Duration) -> Arc<Self> {
        let this = Arc::new(Self {
            queue,
            tallies: Mutex::new(HashMap::new()),
            enabled: !report_every.is_zero(),
        });
        if this.enabled {
            tokio::spawn(report(Arc::downgrade(&this), report_every));
        }
        this
    }

    /// Notes a refused credential from `ip` on `path`, for `reason` (the 401's message).
    pub(crate) fn record(&self, ip: Option<IpAddr>, path: &str, reason: &str) {
        if !self.enabled {
            return;
        }
        let mut tallies = self.tallies.lock().unwrap_or_else(|e| e.into_inner());
        let key = if tallies.len() >= MAX_TRACKED && !tallies.contains_key(&ip) {
            None
        } else {
            ip
        };
        match tallies.get_mut(&key) {
            Some(tally) => {
                tally.attempts += 1;
                tally.reason = reason.to_owned();
                tally.path = path.to_owned();
            }
            None => {
                tallies.insert(key, Tally::default());
                drop(tallies);
                self.submit(key, 1, path, reason, None);
            }
        }
    }

    /// Reports what was counted since the last period, and forgets addresses that were
    /// quiet for a whole period (their next failure is recorded at once again).
    fn report_period(&self, period: Duration) {
        let due: Vec<(Option<IpAddr>, Tally)> = {
            let mut tallies = self.tallies.lock().unwrap_or_else(|e| e.into_inner());
            tallies.retain(|_, t| t.attempts > 0);
            tallies
                .iter_mut()
                .map(|(ip, t)| (*ip, std::mem::take(t)))
                .collect()
        };
        for (ip, tally) in due {
            self.submit(ip, tally.attempts, &tally.path, &tally.reason, Some(period));
        }
    }

    fn submit(
        &self,
        ip: Option<IpAddr>,
        attempts: u64,
        path: &str,
        reason: &str,
        period: Option<Duration>,
    ) {
        let raw = json!({
            "event_code": "SEC-005",
            "action": "AUTHENTICATE",
            "status": "DENIED",
            "source": AUDIT_SOURCE,
            "ip_address": ip.map(|ip| ip.to_string()),
            "endpoint": fit(path),
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
                return;
            }
        };
        // The answer is not awaited: the refused request must not wait for a commit.
        if self.queue.submit_derived(vec![event]).is_err() {
            tracing::warn!(
                ?ip,
                attempts,
                "failed-authentication event not stored: ingest queue full"
            );
        }
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
