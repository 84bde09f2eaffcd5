//! Webhook notifications: a JSON body per firing and per resolution, signed with
//! HMAC-SHA256 (`X-Eventlog-Signature: sha256=HEX` over the raw body), each delivery in
//! its own task with exponential backoff and jitter, so a slow or dead receiver never
//! delays the evaluator.

use std::sync::Arc;
use std::time::Duration;

use eventlog_store::alerts::Alert;
use hmac::{Hmac, Mac};
use rand::Rng;
use serde::Serialize;
use sha2::Sha256;

use super::WebhookConfig;

/// The header holding the signature.
pub const SIGNATURE_HEADER: &str = "X-Eventlog-Signature";

/// `sha256=HEX` of HMAC-SHA256(`secret`, `body`): what a receiver recomputes and compares
/// (in constant time) with the header.
pub fn signature(secret: &[u8], body: &[u8]) -> String {
    let mut mac = Hmac::<Sha256>::new_from_slice(secret).expect("HMAC takes keys of any length");
    mac.update(body);
    format!("sha256={}", hex::encode(mac.finalize().into_bytes()))
}

/// The notification body.
#[derive(Debug, Serialize)]
pub struct Notification<'a> {
    /// The alert as `GET /api/alerts` shows it (rule, state, value, threshold, window,
    /// started/resolved at...).
    #[serde(flatten)]
    pub alert: &'a Alert,
    /// The dashboard's page for it.
    pub link: String,
}

struct Hook {
    /// A client per webhook: each may trust a CA of its own.
    client: reqwest::Client,
    url: String,
    /// `url` as logged (see [`WebhookConfig::shown_url`]).
    shown: String,
    secret: Vec<u8>,
    max_attempts: u32,
    initial_backoff: Duration,
    max_backoff: Duration,
    timeout: Duration,
}

/// Sends notifications to every configured webhook. Cheap to clone.
#[derive(Clone)]
pub struct Notifier {
    hooks: Arc<Vec<Hook>>,
    dashboard_url: Arc<str>,
}

impl Notifier {
    /// A notifier for `webhooks` (validated: each has a secret), linking to `dashboard_url`.
    pub fn new(webhooks: &[WebhookConfig], dashboard_url: &str) -> Result<Self, String> {
        let hooks = webhooks
            .iter()
            .map(|w| {
                Ok(Hook {
                    client: client_for(w)?,
                    url: w.url.clone(),
                    shown: w.shown_url(),
                    secret: w.resolve_secret()?,
                    max_attempts: w.max_attempts.max(1),
                    initial_backoff: Duration::from_millis(w.initial_backoff_ms),
                    max_backoff: Duration::from_millis(w.max_backoff_ms.max(w.initial_backoff_ms)),
                    timeout: Duration::from_millis(w.timeout_ms.max(1)),
                })
            })
            .collect::<Result<Vec<_>, String>>()?;
        Ok(Self {
            hooks: Arc::new(hooks),
            dashboard_url: dashboard_url.into(),
        })
    }

    /// Starts delivering `alert`'s current state to every webhook and returns at once.
    pub fn notify(&self, alert: &Alert) {
        if self.hooks.is_empty() {
            return;
        }
        let body = Notification {
            alert,
            link: format!("{}?id={}", self.dashboard_url, alert.id),
        };
        let body = match serde_json::to_vec(&body) {
            Ok(b) => axum::body::Bytes::from(b),
            Err(e) => {
                tracing::error!(error = %e, "cannot serialise an alert notification");
                return;
            }
        };
        let delivery = format!("{}-{}", alert.id, alert.state.as_str());
        for index in 0..self.hooks.len() {
            let this = self.clone();
            let body = body.clone();
            let delivery = delivery.clone();
            tokio::spawn(async move { this.deliver(index, body, &delivery).await });
        }
    }

    async fn deliver(&self, index: usize, body: axum::body::Bytes, delivery: &str) {
        let hook = &self.hooks[index];
        let signature = signature(&hook.secret, &body);
        let mut backoff = hook.initial_backoff;
        for attempt in 1..=hook.max_attempts {
            let sent = hook
                .client
                .post(&hook.url)
                .timeout(hook.timeout)
                .header(reqwest::header::CONTENT_TYPE, "application/json")
                .header(SIGNATURE_HEADER, &signature)
                .header("X-Eventlog-Delivery", delivery)
                .body(body.clone())
                .send()
                .await;
            let problem = match sent {
                Ok(resp) if resp.status().is_success() => {
                    tracing::info!(url = %hook.shown, delivery, attempt, "alert notification delivered");
                    return;
                }
                Ok(resp) => format!("answered {}", resp.status()),
                Err(e) => eventlog_store::tls::with_causes(&e.without_url()),
            };
            if attempt == hook.max_attempts {
                tracing::error!(url = %hook.shown, delivery, attempt, problem = %problem, "alert notification not delivered; giving up");
                return;
            }
            let wait = jitter(backoff);
            tracing::warn!(url = %hook.shown, delivery, attempt, problem = %problem, retry_in_ms = wait.as_millis() as u64, "alert notification failed; retrying");
            tokio::time::sleep(wait).await;
            backoff = (backoff * 2).min(hook.max_backoff);
        }
    }
}

/// An HTTP client trusting the public roots and the webhook's `ca_file`, if any.
fn client_for(webhook: &WebhookConfig) -> Result<reqwest::Client, String> {
    let mut client = reqwest::Client::builder();
    if let Some(path) = &webhook.ca_file {
        let shown = webhook.shown_url();
        for der in eventlog_store::tls::read_ca_file(path)
            .map_err(|e| format!("webhook {shown}: `ca_file`: {e}"))?
        {
            let certificate = reqwest::Certificate::from_der(&der)
                .map_err(|e| format!("webhook {shown}: `ca_file` {}: {e}", path.display()))?;
            client = client.add_root_certificate(certificate);
        }
    }
    client
        .build()
        .map_err(|e| format!("webhook {}: {e}", webhook.shown_url()))
}

/// "Equal jitter": half the backoff plus a random part of the other half, so receivers
/// coming back are not hit by every retry at the same instant.
fn jitter(backoff: Duration) -> Duration {
    backoff.mul_f64(rand::thread_rng().gen_range(0.5..=1.0))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signature_matches_rfc_4231_case_2() {
        // RFC 4231 test case 2: key "Jefe", data "what do ya want for nothing?".
        assert_eq!(
            signature(b"Jefe", b"what do ya want for nothing?"),
            "sha256=5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"
        );
    }

    #[test]
    fn jitter_stays_within_half_and_whole() {
        for _ in 0..100 {
            let j = jitter(Duration::from_millis(1000));
            assert!((500..=1000).contains(&(j.as_millis() as u64)));
        }
    }
}
