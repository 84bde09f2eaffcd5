//! `HttpSink`: posts batches to an `eventlog serve` (`POST /api/events/batch`, API key).

use std::path::Path;
use std::time::Duration;

use async_trait::async_trait;
use serde::Deserialize;

use super::{Rejection, Sink, SinkError};
use crate::{ClientError, Event};

/// Delivers to an eventlog server. 201 is success; 422 and 409 name the refused events;
/// anything else (connection refused, 5xx, 429, 401/403) means retry later.
#[derive(Debug, Clone)]
pub struct HttpSink {
    client: reqwest::Client,
    endpoint: String,
    /// `endpoint` with any password masked, for messages.
    shown_endpoint: String,
    key: String,
}

#[derive(Deserialize)]
struct ErrorResponse {
    error: ErrorBody,
}

#[derive(Deserialize)]
struct ErrorBody {
    message: String,
    #[serde(default)]
    index: Option<usize>,
    #[serde(default)]
    details: Vec<Detail>,
}

#[derive(Deserialize)]
struct Detail {
    #[serde(default)]
    index: Option<usize>,
    #[serde(default)]
    field: Option<String>,
    message: String,
}

impl HttpSink {
    /// A sink for the server at `base_url` (`http://127.0.0.1:8470`, or `https://...`,
    /// whose certificate must chain to a public root of Mozilla's list) using API `key`.
    pub fn new(base_url: &str, key: &str) -> Result<Self, ClientError> {
        Self::build(base_url, key, None)
    }

    /// As [`HttpSink::new`], also trusting the CA certificates in the PEM file `ca_file`
    /// (a private CA in front of an internal server).
    pub fn with_ca_file(
        base_url: &str,
        key: &str,
        ca_file: impl AsRef<Path>,
    ) -> Result<Self, ClientError> {
        Self::build(base_url, key, Some(ca_file.as_ref()))
    }

    fn build(base_url: &str, key: &str, ca_file: Option<&Path>) -> Result<Self, ClientError> {
        if key.is_empty() {
            return Err(ClientError::Config(
                "an eventlog API key is required".to_owned(),
            ));
        }
        let shown = eventlog_store::redact_url(base_url);
        let url = reqwest::Url::parse(base_url)
            .map_err(|e| ClientError::Config(format!("eventlog URL `{shown}`: {e}")))?;
        if !matches!(url.scheme(), "http" | "https") {
            return Err(ClientError::Config(format!(
                "eventlog URL `{shown}`: the scheme must be http:// or https://"
            )));
        }
        eventlog_store::tls::install_default_provider();
        let mut client = reqwest::Client::builder()
            .connect_timeout(Duration::from_secs(2))
            .timeout(Duration::from_secs(10))
            // The server closes a connection idle for its header timeout (10 s by default);
            // letting idle connections go first means a batch never races that close.
            .pool_idle_timeout(Duration::from_secs(5));
        if let Some(path) = ca_file {
            for der in eventlog_store::tls::read_ca_file(path)
                .map_err(|e| ClientError::Config(e.to_string()))?
            {
                let certificate = reqwest::Certificate::from_der(&der)
                    .map_err(|e| ClientError::Config(format!("{}: {e}", path.display())))?;
                client = client.add_root_certificate(certificate);
            }
        }
        let client = client
            .build()
            .map_err(|e| ClientError::Config(e.to_string()))?;
        let endpoint = format!("{}/api/events/batch", base_url.trim_end_matches('/'));
        let shown_endpoint = eventlog_store::redact_url(&endpoint);
        Ok(Self {
            client,
            endpoint,
            shown_endpoint,
            key: key.to_owned(),
        })
    }
}

#[async_trait]
impl Sink for HttpSink {
    async fn deliver(&self, events: &[Event]) -> Result<(), SinkError> {
        let response = self
            .client
            .post(&self.endpoint)
            .bearer_auth(&self.key)
            .json(&serde_json::json!({ "events": events }))
            .send()
            .await
            .map_err(|e| {
                SinkError::Unavailable(format!(
                    "{}: {}",
                    self.shown_endpoint,
                    eventlog_store::tls::with_causes(&e.without_url())
                ))
            })?;
        let status = response.status();
        if status.is_success() {
            return Ok(());
        }
        let text = response.text().await.unwrap_or_default();
        if status == reqwest::StatusCode::PAYLOAD_TOO_LARGE {
            return Err(SinkError::TooLarge(format!(
                "{} answered {status}: {}",
                self.shown_endpoint,
                text.chars().take(200).collect::<String>()
            )));
        }
        if status.as_u16() == 422 || status.as_u16() == 409 {
            if let Ok(body) = serde_json::from_str::<ErrorResponse>(&text) {
                let mut rejections: Vec<Rejection> = body
                    .error
                    .details
                    .iter()
                    .filter_map(|d| {
                        Some(Rejection {
                            index: d.index?,
                            reason: match &d.field {
                                Some(f) => format!("{f}: {}", d.message),
                                None => d.message.clone(),
                            },
                        })
                    })
                    .collect();
                if rejections.is_empty() {
                    if let Some(index) = body.error.index {
                        rejections.push(Rejection {
                            index,
                            reason: body.error.message.clone(),
                        });
                    }
                }
                if !rejections.is_empty() {
                    return Err(SinkError::Rejected(rejections));
                }
            }
        }
        Err(SinkError::Unavailable(format!(
            "{} answered {status}: {}",
            self.shown_endpoint,
            text.chars().take(200).collect::<String>()
        )))
    }

    fn describe(&self) -> String {
        self.shown_endpoint.clone()
    }
}
