//! Alerts (issue 6 §4): rules from the `[alerts]` configuration, evaluated every few
//! seconds from the query layer by [`Evaluator`]; firing and resolution recorded in the
//! store (deduplicated: one firing per rule and key), each firing stored as its catalog
//! event through the normal write path, and every change sent to the configured webhooks
//! ([`notify`]) and the server log. [`api::alerts_view`] is what `GET /api/alerts` and the
//! dashboard read. docs/analytics.md describes rules, mapping and signature verification.

pub mod api;
mod evaluator;
pub mod notify;

use eventlog_core::Severity;
use serde::{Deserialize, Serialize};

pub use evaluator::{Evaluator, EvaluatorStop, ALERT_SOURCE};

/// The `[alerts]` table of the server configuration.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(default, deny_unknown_fields)]
pub struct AlertsConfig {
    /// Whether `serve` evaluates the rules at all.
    pub enabled: bool,
    /// Seconds between two evaluations of every rule.
    pub evaluate_every_secs: u64,
    /// Link base for notifications (`{dashboard_url}?id=ALERT_ID`); default
    /// `http://LISTEN/alerts`, the dashboard's alerts page on the bound address.
    pub dashboard_url: Option<String>,
    /// The rules. Listing any replaces the built-in ones (seed 001 thresholds).
    pub rules: Vec<RuleConfig>,
    /// Where firing and resolution are sent.
    pub webhooks: Vec<WebhookConfig>,
}

impl Default for AlertsConfig {
    fn default() -> Self {
        Self {
            enabled: true,
            evaluate_every_secs: 15,
            dashboard_url: None,
            rules: default_rules(),
            webhooks: Vec::new(),
        }
    }
}

/// What a rule watches.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum RuleKind {
    /// Percentage of events with status ERROR in the window; fires above the threshold.
    ErrorRate,
    /// Mean `processing_time_ms` in the window (ms); fires above the threshold.
    AvgResponseTime,
    /// Failed logins per user (username, else user id, else IP) in the window; fires for
    /// each user at or above the threshold.
    FailedLogins,
    /// CRITICAL events in the window (not counting the alerts' own events); fires at or
    /// above the threshold.
    CriticalEvents,
    /// Events waiting in the ingest queue right now; fires above the threshold.
    IngestBacklog,
}

impl RuleKind {
    /// The configuration name.
    pub fn as_str(self) -> &'static str {
        match self {
            RuleKind::ErrorRate => "error_rate",
            RuleKind::AvgResponseTime => "avg_response_time",
            RuleKind::FailedLogins => "failed_logins",
            RuleKind::CriticalEvents => "critical_events",
            RuleKind::IngestBacklog => "ingest_backlog",
        }
    }

    /// Whether `value` breaks `threshold`: counts fire at the threshold ("5 failed
    /// logins", "any CRITICAL event"), rates and levels above it ("error rate > 5%").
    pub fn breaks(self, value: f64, threshold: f64) -> bool {
        match self {
            RuleKind::FailedLogins | RuleKind::CriticalEvents => value >= threshold,
            _ => value > threshold,
        }
    }

    /// The catalog code of the event stored for a firing (docs/analytics.md, "Alert
    /// events").
    pub fn event_code(self) -> &'static str {
        match self {
            RuleKind::ErrorRate => "SYS-008",
            RuleKind::AvgResponseTime => "SYS-007",
            RuleKind::FailedLogins => "SEC-001",
            RuleKind::CriticalEvents | RuleKind::IngestBacklog => "SYS-012",
        }
    }

    /// Whether the rule reads a window of rollups (all but the instant queue reading).
    fn windowed(self) -> bool {
        self != RuleKind::IngestBacklog
    }
}

/// One alert rule.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct RuleConfig {
    /// Unique name; alerts, events and notifications carry it.
    pub name: String,
    /// What it watches.
    pub kind: RuleKind,
    /// The threshold, in the kind's unit (percent, ms, count, events).
    pub threshold: f64,
    /// The window in seconds, counted in whole minutes of rollups (ignored by
    /// `ingest_backlog`, an instant reading).
    #[serde(default = "default_window")]
    pub window_secs: u64,
    /// Severity of the alert and of the event stored for it.
    #[serde(default = "default_severity")]
    pub severity: Severity,
    /// After resolving, the same rule and key does not fire again for this long.
    #[serde(default = "default_cooldown")]
    pub cooldown_secs: u64,
    /// Fewest events (error_rate) or timed events (avg_response_time) in the window for
    /// the rule to judge at all, so one failed request of one is not a 100% error rate.
    #[serde(default = "default_min_events")]
    pub min_events: i64,
    /// Watch only this tenant's events (default: all).
    #[serde(default)]
    pub tenant_id: Option<String>,
}

fn default_window() -> u64 {
    300
}
fn default_severity() -> Severity {
    Severity::Warning
}
fn default_cooldown() -> u64 {
    600
}
fn default_min_events() -> i64 {
    10
}

/// The seed 001 rules ("Alert Configuration": error rate 5%, response time 1,000 ms,
/// 5 failed logins) plus any CRITICAL event and an ingest backlog at half the default
/// queue.
pub fn default_rules() -> Vec<RuleConfig> {
    let rule = |name: &str, kind, threshold, window_secs, severity| RuleConfig {
        name: name.to_owned(),
        kind,
        threshold,
        window_secs,
        severity,
        cooldown_secs: default_cooldown(),
        min_events: default_min_events(),
        tenant_id: None,
    };
    vec![
        rule(
            "error_rate",
            RuleKind::ErrorRate,
            5.0,
            300,
            Severity::Critical,
        ),
        rule(
            "slow_responses",
            RuleKind::AvgResponseTime,
            1000.0,
            300,
            Severity::Warning,
        ),
        rule(
            "failed_logins",
            RuleKind::FailedLogins,
            5.0,
            900,
            Severity::Warning,
        ),
        rule(
            "critical_event",
            RuleKind::CriticalEvents,
            1.0,
            300,
            Severity::Critical,
        ),
        rule(
            "ingest_backlog",
            RuleKind::IngestBacklog,
            50_000.0,
            0,
            Severity::Critical,
        ),
    ]
}

/// One webhook receiver.
#[derive(Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct WebhookConfig {
    /// `https://` (or `http://`) URL receiving a POST per firing and per resolution. Only
    /// its scheme and host are ever logged: services such as Slack put a secret in the path.
    pub url: String,
    /// PEM file of CA certificates to trust for this webhook beside the public roots (a
    /// receiver with a private CA).
    #[serde(default)]
    pub ca_file: Option<std::path::PathBuf>,
    /// The HMAC-SHA256 key (prefer `secret_env`: a config file is easier to leak).
    #[serde(default, skip_serializing)]
    pub secret: Option<String>,
    /// Name of the environment variable holding the key.
    #[serde(default)]
    pub secret_env: Option<String>,
    /// Tries per notification before giving up (logged).
    #[serde(default = "default_attempts")]
    pub max_attempts: u32,
    /// Wait before the first retry; doubles per retry (with jitter), up to `max_backoff_ms`.
    #[serde(default = "default_backoff")]
    pub initial_backoff_ms: u64,
    /// Longest wait between tries.
    #[serde(default = "default_max_backoff")]
    pub max_backoff_ms: u64,
    /// Time limit of one try.
    #[serde(default = "default_timeout")]
    pub timeout_ms: u64,
}

fn default_attempts() -> u32 {
    8
}
fn default_backoff() -> u64 {
    500
}
fn default_max_backoff() -> u64 {
    60_000
}
fn default_timeout() -> u64 {
    5_000
}

/// Secrets never reach a log line, even through `{:?}` of the whole configuration.
impl std::fmt::Debug for WebhookConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WebhookConfig")
            .field("url", &self.shown_url())
            .field("secret", &self.secret.as_ref().map(|_| "***"))
            .field("secret_env", &self.secret_env)
            .field("max_attempts", &self.max_attempts)
            .finish_non_exhaustive()
    }
}

impl WebhookConfig {
    /// The URL as logs and messages show it: scheme, host and port, the rest elided.
    pub(crate) fn shown_url(&self) -> String {
        match reqwest::Url::parse(&self.url) {
            Ok(url) => {
                let rest = if url.path() != "/" || url.query().is_some() {
                    "/…"
                } else {
                    ""
                };
                let port = url.port().map(|p| format!(":{p}")).unwrap_or_default();
                format!(
                    "{}://{}{port}{rest}",
                    url.scheme(),
                    url.host_str().unwrap_or_default()
                )
            }
            Err(_) => "(not a URL)".to_owned(),
        }
    }

    /// The signing key: `secret`, else the variable `secret_env` names.
    fn resolve_secret(&self) -> Result<Vec<u8>, String> {
        let secret = match (&self.secret, &self.secret_env) {
            (Some(s), _) => s.clone(),
            (None, Some(var)) => std::env::var(var).map_err(|_| {
                format!(
                    "webhook {}: environment variable `{var}` (secret_env) is not set",
                    self.shown_url()
                )
            })?,
            (None, None) => {
                return Err(format!(
                    "webhook {}: needs `secret_env` (or `secret`) to sign notifications",
                    self.shown_url()
                ))
            }
        };
        if secret.len() < 16 {
            return Err(format!(
                "webhook {}: the secret must be at least 16 characters",
                self.shown_url()
            ));
        }
        Ok(secret.into_bytes())
    }
}

impl AlertsConfig {
    /// Checks the rules and webhooks, so a typo fails `serve` at start-up rather than
    /// silently never alerting.
    pub fn validate(&self) -> Result<(), String> {
        let mut names = std::collections::HashSet::new();
        for rule in &self.rules {
            if rule.name.trim().is_empty() {
                return Err("a rule has an empty `name`".into());
            }
            if !names.insert(rule.name.as_str()) {
                return Err(format!("two rules are named `{}`", rule.name));
            }
            if !rule.threshold.is_finite() || rule.threshold < 0.0 {
                return Err(format!(
                    "rule `{}`: `threshold` must be a number >= 0",
                    rule.name
                ));
            }
            if rule.kind.windowed()
                && (!(60..=7 * 86_400).contains(&rule.window_secs) || rule.window_secs % 60 != 0)
            {
                return Err(format!(
                    "rule `{}`: `window_secs` = {} must be whole minutes from 60 to 604800 (rollups count whole minutes)",
                    rule.name, rule.window_secs
                ));
            }
        }
        if self.evaluate_every_secs == 0 {
            return Err("`evaluate_every_secs` must be at least 1".into());
        }
        for hook in &self.webhooks {
            let shown = hook.shown_url();
            match reqwest::Url::parse(&hook.url) {
                Ok(url) if matches!(url.scheme(), "http" | "https") && url.has_host() => {}
                Ok(_) => {
                    return Err(format!(
                        "webhook {shown}: `url` must be an https:// or http:// URL with a host"
                    ))
                }
                Err(e) => return Err(format!("webhook `url`: not a URL ({e})")),
            }
            if let Some(ca_file) = &hook.ca_file {
                eventlog_store::tls::read_ca_file(ca_file)
                    .map_err(|e| format!("webhook {shown}: `ca_file`: {e}"))?;
            }
            if hook.max_attempts == 0 {
                return Err(format!(
                    "webhook {shown}: `max_attempts` must be at least 1"
                ));
            }
            hook.resolve_secret()?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_are_the_seed_thresholds_and_validate() {
        let config = AlertsConfig::default();
        config.validate().unwrap();
        let find = |k| config.rules.iter().find(|r| r.kind == k).unwrap();
        assert_eq!(find(RuleKind::ErrorRate).threshold, 5.0);
        assert_eq!(find(RuleKind::ErrorRate).window_secs, 300);
        assert_eq!(find(RuleKind::AvgResponseTime).threshold, 1000.0);
        assert_eq!(find(RuleKind::FailedLogins).threshold, 5.0);
        assert_eq!(find(RuleKind::FailedLogins).window_secs, 900);
        assert!(RuleKind::FailedLogins.breaks(5.0, 5.0));
        assert!(!RuleKind::ErrorRate.breaks(5.0, 5.0));
    }

    #[test]
    fn bad_rules_and_webhooks_are_refused_by_name() {
        let text = r#"
            [[rules]]
            name = "fast"
            kind = "error_rate"
            threshold = 1
            window_secs = 10
        "#;
        let mut config: AlertsConfig = toml::from_str(text).unwrap();
        assert!(config.validate().unwrap_err().contains("window_secs"));
        config.rules[0].window_secs = 90;
        assert!(config.validate().unwrap_err().contains("whole minutes"));
        let text = r#"
            [[webhooks]]
            url = "http://127.0.0.1:9/hook"
        "#;
        let config: AlertsConfig = toml::from_str(text).unwrap();
        assert!(config.validate().unwrap_err().contains("secret_env"));
        let hook = WebhookConfig {
            secret: Some("0123456789abcdef-secret".into()),
            ..config.webhooks[0].clone()
        };
        assert!(!format!("{hook:?}").contains("0123456789abcdef"));
    }
}
