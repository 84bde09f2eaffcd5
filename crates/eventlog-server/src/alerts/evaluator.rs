//! The evaluator: every `evaluate_every_secs` it reads each rule's value from the query
//! layer and moves alerts between firing and resolved.
//!
//! A rule and key that breaks its threshold fires unless it is firing already
//! (deduplication, also enforced by the store's unique index) or resolved less than
//! `cooldown_secs` ago. A firing alert whose rule and key no longer breaks resolves. The
//! state lives in the store and is read back at start, so a restart neither re-fires what
//! is firing nor forgets a cool-down.

use std::collections::{HashMap, HashSet};
use std::time::Duration;

use chrono::{DateTime, TimeDelta, Utc};
use eventlog_core::detect::derive::derived_event_id;
use eventlog_core::{parse_event, Severity};
use eventlog_store::alerts::{Alert, AlertQuery, AlertState, NewAlert};
use eventlog_store::StoreError;
use serde_json::{json, Value};
use tokio::sync::oneshot;

use super::notify::Notifier;
use super::{AlertsConfig, RuleConfig, RuleKind};
use crate::AppState;

/// `source` of the events alerts store; the critical-events rule does not count them.
pub const ALERT_SOURCE: &str = "eventlog-alerts";

/// One value a rule measured: for a key (a user for `failed_logins`, `''` otherwise).
struct Reading {
    key: String,
    value: f64,
    /// Whether the rule breaks on it (enough data and over the threshold).
    breaks: bool,
    /// Whether there was enough data to judge (`min_events`). A reading that is not is
    /// no evidence either way: a firing alert stays firing.
    judged: bool,
}

/// Whether a firing alert resolves on `reading` (`None`: its key was not measured at all,
/// e.g. a user with no failed logins left in the window): only a judged reading under the
/// threshold, or no reading, ends it.
fn ends_firing(reading: Option<&Reading>) -> bool {
    reading.is_none_or(|r| r.judged && !r.breaks)
}

/// Stops the [`Evaluator`] (it lets go of its ingest queue handle, so the writer can drain).
pub struct EvaluatorStop(oneshot::Sender<()>);

impl EvaluatorStop {
    /// Asks the task to end after the evaluation in progress.
    pub fn stop(self) {
        let _ = self.0.send(());
    }
}

/// The task evaluating the rules.
pub struct Evaluator {
    state: AppState,
    rules: Vec<RuleConfig>,
    every: Duration,
    notifier: Notifier,
    /// The newest alert of each (rule, key), as in the store.
    latest: HashMap<(String, String), Alert>,
    loaded: bool,
    stop: oneshot::Receiver<()>,
}

fn minutes(secs: i64) -> String {
    if secs % 60 == 0 {
        format!("{} min", secs / 60)
    } else {
        format!("{secs} s")
    }
}

impl Evaluator {
    /// The evaluator of `config` over `state`; notifications link to `dashboard_url`.
    pub fn new(
        config: &AlertsConfig,
        state: AppState,
        dashboard_url: &str,
    ) -> Result<(Self, EvaluatorStop), String> {
        config.validate()?;
        let (tx, stop) = oneshot::channel();
        Ok((
            Self {
                state,
                rules: config.rules.clone(),
                every: Duration::from_secs(config.evaluate_every_secs),
                notifier: Notifier::new(&config.webhooks, dashboard_url)?,
                latest: HashMap::new(),
                loaded: false,
                stop,
            },
            EvaluatorStop(tx),
        ))
    }

    /// Evaluates every rule every interval until stopped.
    pub async fn run(mut self) {
        let mut interval = tokio::time::interval(self.every);
        interval.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                _ = interval.tick() => self.evaluate(Utc::now()).await,
                _ = &mut self.stop => break,
            }
        }
    }

    /// One round over every rule.
    async fn evaluate(&mut self, now: DateTime<Utc>) {
        if !self.loaded {
            // Without the stored state a restart could re-fire or skip a cool-down: wait.
            match self.state.store.latest_alerts().await {
                Ok(rows) => {
                    self.latest = rows
                        .into_iter()
                        .map(|a| ((a.rule.clone(), a.key.clone()), a))
                        .collect();
                    self.loaded = true;
                }
                Err(e) => {
                    tracing::warn!(error = %e, "cannot read alert state; alerts are not evaluated until the store answers");
                    return;
                }
            }
        }
        for i in 0..self.rules.len() {
            let rule = self.rules[i].clone();
            match self.measure(&rule, now).await {
                Ok(readings) => self.apply(&rule, readings, now).await,
                Err(e) => {
                    tracing::warn!(rule = %rule.name, error = %e, "alert rule not evaluated")
                }
            }
        }
        // Alerts of rules taken out of the configuration resolve rather than fire forever.
        let configured: HashSet<&str> = self.rules.iter().map(|r| r.name.as_str()).collect();
        let orphans: Vec<Alert> = self
            .latest
            .values()
            .filter(|a| a.state == AlertState::Firing && !configured.contains(a.rule.as_str()))
            .cloned()
            .collect();
        for alert in orphans {
            self.resolve(alert, 0.0, now).await;
        }
        for rule in &self.rules {
            let firing = self
                .latest
                .values()
                .filter(|a| a.rule == rule.name && a.state == AlertState::Firing)
                .count();
            self.state.metrics.alerts_firing(&rule.name, firing);
        }
    }

    /// The rule's readings now.
    async fn measure(
        &self,
        rule: &RuleConfig,
        now: DateTime<Utc>,
    ) -> Result<Vec<Reading>, StoreError> {
        let since = now - TimeDelta::seconds(rule.window_secs as i64);
        let tenant = rule.tenant_id.as_deref();
        let one = |value: f64, judged: bool| {
            vec![Reading {
                key: String::new(),
                value,
                breaks: judged && rule.kind.breaks(value, rule.threshold),
                judged,
            }]
        };
        let analytics = &self.state.analytics;
        Ok(match rule.kind {
            RuleKind::IngestBacklog => one(self.state.queue.stats().depth as f64, true),
            RuleKind::ErrorRate => {
                let h = analytics.health(since, now, tenant).await?;
                one(h.error_rate_percent, h.events >= rule.min_events)
            }
            RuleKind::AvgResponseTime => {
                let h = analytics.health(since, now, tenant).await?;
                one(
                    h.avg_response_ms.unwrap_or(0.0),
                    h.latency_count >= rule.min_events.max(1),
                )
            }
            RuleKind::CriticalEvents => {
                let h = analytics.health(since, now, tenant).await?;
                let mut count = h.critical_events;
                if count > 0 {
                    count -= self.own_critical_events(rule, h.window).await?;
                }
                one(count.max(0) as f64, true)
            }
            RuleKind::FailedLogins => analytics
                .failed_logins(since, now, tenant)
                .await?
                .into_iter()
                .map(|c| Reading {
                    breaks: rule.kind.breaks(c.count as f64, rule.threshold),
                    key: c.value,
                    value: c.count as f64,
                    judged: true,
                })
                .collect(),
        })
    }

    /// CRITICAL events the alerts themselves stored in `window` (an error-rate alert is a
    /// CRITICAL SYS-008 event; it must not set off the critical-events rule).
    async fn own_critical_events(
        &self,
        rule: &RuleConfig,
        window: eventlog_store::analytics::Window,
    ) -> Result<i64, StoreError> {
        let page = self
            .state
            .store
            .alerts(&AlertQuery {
                since: Some(window.since),
                tenant_id: rule.tenant_id.clone(),
                limit: 1000,
                ..Default::default()
            })
            .await?;
        Ok(page
            .alerts
            .iter()
            .filter(|a| {
                a.severity == Severity::Critical.as_str()
                    && a.event_id.is_some()
                    && a.started_at < window.until
            })
            .count() as i64)
    }

    /// Fires what breaks (unless firing or cooling down) and resolves what stopped.
    async fn apply(&mut self, rule: &RuleConfig, readings: Vec<Reading>, now: DateTime<Utc>) {
        let cooldown = TimeDelta::seconds(rule.cooldown_secs as i64);
        let mut values = HashMap::new();
        let mut held = HashSet::new();
        for r in readings {
            values.insert(r.key.clone(), r.value);
            if !ends_firing(Some(&r)) {
                held.insert(r.key.clone());
            }
            if !r.breaks {
                continue;
            }
            match self.latest.get(&(rule.name.clone(), r.key.clone())) {
                Some(a) if a.state == AlertState::Firing => {}
                Some(Alert {
                    resolved_at: Some(at),
                    ..
                }) if now < *at + cooldown => {
                    tracing::debug!(rule = %rule.name, key = %r.key, "alert cooling down");
                }
                _ => self.fire(rule, r.key, r.value, now).await,
            }
        }
        let stopped: Vec<Alert> = self
            .latest
            .values()
            .filter(|a| {
                a.rule == rule.name && a.state == AlertState::Firing && !held.contains(&a.key)
            })
            .cloned()
            .collect();
        for alert in stopped {
            let value = values.get(&alert.key).copied().unwrap_or(0.0);
            self.resolve(alert, value, now).await;
        }
    }

    async fn fire(&mut self, rule: &RuleConfig, key: String, value: f64, now: DateTime<Utc>) {
        let code = rule.kind.event_code();
        let new = NewAlert {
            rule: rule.name.clone(),
            kind: rule.kind.as_str().to_owned(),
            severity: rule.severity.as_str().to_owned(),
            tenant_id: rule.tenant_id.clone(),
            value,
            threshold: rule.threshold,
            window_secs: if rule.kind.windowed() {
                rule.window_secs as i64
            } else {
                0
            },
            message: describe(rule, &key, value, now),
            event_id: Some(derived_event_id(
                code,
                now,
                &format!("alert:{}", rule.name),
                &key,
            )),
            key,
            started_at: now,
        };
        match self.state.store.open_alert(&new).await {
            Ok(Some(alert)) => {
                tracing::warn!(
                    rule = %alert.rule, key = %alert.key, value = alert.value,
                    threshold = alert.threshold, severity = %alert.severity,
                    event_id = alert.event_id.as_deref().unwrap_or_default(),
                    "alert firing: {}", alert.message
                );
                self.store_event(rule, &alert);
                self.notifier.notify(&alert);
                self.latest
                    .insert((alert.rule.clone(), alert.key.clone()), alert);
            }
            // Another server fired it first: take its row as ours.
            Ok(None) => self.reload().await,
            Err(e) => tracing::warn!(rule = %new.rule, error = %e, "cannot record a firing alert"),
        }
    }

    async fn resolve(&mut self, alert: Alert, value: f64, now: DateTime<Utc>) {
        match self.state.store.resolve_alert(alert.id, now, value).await {
            Ok(Some(resolved)) => {
                tracing::info!(rule = %resolved.rule, key = %resolved.key, value, "alert resolved: {}", resolved.message);
                self.notifier.notify(&resolved);
                self.latest
                    .insert((resolved.rule.clone(), resolved.key.clone()), resolved);
            }
            Ok(None) => self.reload().await,
            Err(e) => tracing::warn!(rule = %alert.rule, error = %e, "cannot resolve an alert"),
        }
    }

    /// Re-reads the state after another server changed it.
    async fn reload(&mut self) {
        self.loaded = false;
        if let Ok(rows) = self.state.store.latest_alerts().await {
            self.latest = rows
                .into_iter()
                .map(|a| ((a.rule.clone(), a.key.clone()), a))
                .collect();
            self.loaded = true;
        }
    }

    /// Stores the firing as its catalog event through the normal write path, without
    /// waiting for the commit (the queue may be the very thing that is backed up).
    fn store_event(&self, rule: &RuleConfig, alert: &Alert) {
        let value = alert_event(rule, alert);
        let validated = serde_json::to_vec(&value)
            .ok()
            .and_then(|bytes| parse_event(&bytes).ok())
            .map(|raw| self.state.validator.validate(raw, Utc::now()));
        let event = match validated {
            Some(Ok(event)) => event,
            Some(Err(errors)) => {
                tracing::error!(?errors, rule = %alert.rule, "the alert's event did not validate");
                return;
            }
            None => {
                tracing::error!(rule = %alert.rule, "the alert's event did not parse");
                return;
            }
        };
        let event_id = alert.event_id.clone().unwrap_or_default();
        match self.state.queue.submit_derived(vec![event]) {
            Ok(reply) => {
                tokio::spawn(async move {
                    match reply.await {
                        Ok(Ok(_)) => {}
                        Ok(Err(failed)) => {
                            tracing::error!(event_id, error = %failed.message, "storing an alert event failed")
                        }
                        Err(_) => {
                            tracing::warn!(
                                event_id,
                                "writer stopped before an alert event was stored"
                            )
                        }
                    }
                });
            }
            Err(_) => tracing::warn!(event_id, "ingest queue full; alert event dropped"),
        }
    }
}

/// One sentence for the alert.
/// The alert's message. The rollups count whole minutes, so the window named is the one
/// counted: from the minute `window_secs` before `now` began.
fn describe(rule: &RuleConfig, key: &str, value: f64, now: DateTime<Utc>) -> String {
    let start = eventlog_store::analytics::Grain::Minute
        .floor(now - TimeDelta::seconds(rule.window_secs as i64));
    let window = format!(
        "{} (since {} UTC)",
        minutes(rule.window_secs as i64),
        start.format("%H:%M")
    );
    let t = rule.threshold;
    let mut s = match rule.kind {
        RuleKind::ErrorRate => {
            format!("Error rate {value:.2}% over the last {window} is above {t}%")
        }
        RuleKind::AvgResponseTime => {
            format!("Average response time {value:.0} ms over the last {window} is above {t} ms")
        }
        RuleKind::FailedLogins => {
            let logins = if value == 1.0 { "login" } else { "logins" };
            format!("{value} failed {logins} for `{key}` in the last {window} (threshold {t})")
        }
        RuleKind::CriticalEvents => {
            let events = if value == 1.0 { "event" } else { "events" };
            format!("{value} CRITICAL {events} in the last {window} (threshold {t})")
        }
        RuleKind::IngestBacklog => {
            format!("Ingest queue holds {value} events (threshold {t})")
        }
    };
    if let Some(tenant) = &rule.tenant_id {
        s.push_str(&format!(" (tenant {tenant})"));
    }
    s
}

/// The catalog event of a firing: the code's data keys in `metadata`, plus the alert.
fn alert_event(rule: &RuleConfig, alert: &Alert) -> Value {
    let window = minutes(alert.window_secs);
    let data = match rule.kind {
        RuleKind::ErrorRate => json!({
            "error_rate_percent": alert.value,
            "time_window": window,
        }),
        RuleKind::AvgResponseTime => json!({
            "endpoint": "*",
            "response_time": alert.value,
            "threshold": alert.threshold,
        }),
        RuleKind::FailedLogins => json!({
            "login_attempts": alert.value,
            "pattern": "failed_logins_per_user",
            "user": alert.key,
        }),
        RuleKind::CriticalEvents => json!({
            "component": "events",
            "check_type": "critical_events",
            "error": alert.message,
        }),
        RuleKind::IngestBacklog => json!({
            "component": "ingest",
            "check_type": "queue_depth",
            "error": alert.message,
        }),
    };
    let mut metadata = data.as_object().cloned().unwrap_or_default();
    metadata.insert(
        "alert".into(),
        json!({
            "id": alert.id,
            "rule": alert.rule,
            "kind": alert.kind,
            "key": alert.key,
            "value": alert.value,
            "threshold": alert.threshold,
            "window_secs": alert.window_secs,
        }),
    );
    let mut event = json!({
        "event_id": alert.event_id,
        "event_code": rule.kind.event_code(),
        "event_description": alert.message,
        "timestamp": alert.started_at,
        "severity": alert.severity,
        "source": ALERT_SOURCE,
        "metadata": metadata,
        "tags": ["alert", alert.kind],
    });
    if let Some(tenant) = &alert.tenant_id {
        event["tenant_id"] = json!(tenant);
    }
    event
}

#[cfg(test)]
mod tests {
    use super::*;

    fn reading(breaks: bool, judged: bool) -> Reading {
        Reading {
            key: String::new(),
            value: 11.1,
            breaks,
            judged,
        }
    }

    #[test]
    fn only_enough_data_under_the_threshold_or_none_resolves() {
        assert!(ends_firing(None));
        assert!(ends_firing(Some(&reading(false, true))));
        assert!(!ends_firing(Some(&reading(true, true))));
        // Too few events to judge: still firing, whatever the value.
        assert!(!ends_firing(Some(&reading(false, false))));
    }
}
