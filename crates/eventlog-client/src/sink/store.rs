//! `StoreSink`: writes batches straight into an eventlog store (SQLite or PostgreSQL),
//! validating each event with the same rules as the server's ingest API.

use std::sync::Arc;

use async_trait::async_trait;
use chrono::Utc;
use eventlog_core::{parse_event, Catalog, ValidationPolicy, Validator};
use eventlog_store::{RequestOutcome, Store};

use super::{Rejection, Sink, SinkError};
use crate::{ClientError, Event};

/// Delivers into a store opened from a database URL; duplicates (same event id, same
/// content) are recognised by the store and not stored twice.
pub struct StoreSink {
    store: tokio::sync::OnceCell<Arc<dyn Store>>,
    url: Option<String>,
    validator: Validator,
}

impl std::fmt::Debug for StoreSink {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StoreSink")
            .field("backend", &self.store.get().map(|s| s.backend()))
            .finish()
    }
}

impl StoreSink {
    /// A sink over an open store, validating with the built-in catalog and default policy.
    pub fn new(store: Arc<dyn Store>) -> Self {
        Self::with_validator(
            store,
            Validator::new(ValidationPolicy::default(), Catalog::built_in()),
        )
    }

    /// A sink with the application's own validation policy and catalog.
    pub fn with_validator(store: Arc<dyn Store>, validator: Validator) -> Self {
        Self {
            store: tokio::sync::OnceCell::new_with(Some(store)),
            url: None,
            validator,
        }
    }

    /// Opens the store at `url` (`sqlite://PATH` or `postgres://...`) now. It does not
    /// migrate: the schema belongs to `eventlog migrate`.
    pub async fn open(url: &str) -> Result<Self, ClientError> {
        Ok(Self::new(eventlog_store::open(url).await?))
    }

    /// A sink that connects to `url` at its first delivery, so an application starts (and
    /// spools) while the event database is unreachable; a failed connect is retried like
    /// any failed delivery.
    pub fn connect_lazily(url: &str) -> Self {
        Self {
            store: tokio::sync::OnceCell::new(),
            url: Some(url.to_owned()),
            validator: Validator::new(ValidationPolicy::default(), Catalog::built_in()),
        }
    }

    /// The store, connected (and its schema checked) at the first delivery. A database
    /// that exists but is not fully migrated yet (`eventlog migrate` still running, or not
    /// run) is unavailable like an unreachable one: writing between two migrations could
    /// collide with what the next one adds, so events wait in the spool instead.
    async fn store(&self) -> Result<&Arc<dyn Store>, SinkError> {
        self.store
            .get_or_try_init(|| async {
                let url = self.url.as_deref().unwrap_or_default();
                let store = eventlog_store::open(url)
                    .await
                    .map_err(|e| SinkError::Unavailable(e.to_string()))?;
                let report = store
                    .check_schema()
                    .await
                    .map_err(|e| SinkError::Unavailable(e.to_string()))?;
                if !report.pending.is_empty() || !report.drift.is_empty() {
                    return Err(SinkError::Unavailable(format!(
                        "the event database is not ready: {report}"
                    )));
                }
                Ok(store)
            })
            .await
    }
}

#[async_trait]
impl Sink for StoreSink {
    async fn deliver(&self, events: &[Event]) -> Result<(), SinkError> {
        let now = Utc::now();
        let mut valid = Vec::with_capacity(events.len());
        let mut rejected = Vec::new();
        for (index, event) in events.iter().enumerate() {
            let checked = serde_json::to_vec(event)
                .map_err(|e| {
                    vec![eventlog_core::FieldError::whole(
                        "invalid_value",
                        e.to_string(),
                    )]
                })
                .and_then(|bytes| parse_event(&bytes))
                .and_then(|raw| self.validator.validate(raw, now));
            match checked {
                Ok(v) => valid.push(v),
                Err(errors) => rejected.push(Rejection {
                    index,
                    reason: errors
                        .iter()
                        .map(ToString::to_string)
                        .collect::<Vec<_>>()
                        .join("; "),
                }),
            }
        }
        if !rejected.is_empty() {
            return Err(SinkError::Rejected(rejected));
        }
        let outcomes = self
            .store()
            .await?
            .write(&[valid])
            .await
            .map_err(|e| SinkError::Unavailable(e.to_string()))?;
        match outcomes.into_iter().next() {
            Some(RequestOutcome::Written(_)) => Ok(()),
            Some(RequestOutcome::Conflict { index, event_id }) => {
                Err(SinkError::Rejected(vec![Rejection {
                    index,
                    reason: format!("event_id {event_id} is already stored with different content"),
                }]))
            }
            None => Err(SinkError::Unavailable(
                "the store returned no outcome".to_owned(),
            )),
        }
    }

    fn describe(&self) -> String {
        match (self.store.get(), &self.url) {
            (Some(store), _) => format!("store:{}", store.backend()),
            (None, Some(url)) => format!("store:{}", eventlog_store::redact_url(url)),
            (None, None) => "store".to_owned(),
        }
    }
}
