//! Building and running the service: open the store, migrate, verify the schema, load the
//! catalogs, start the writer, bind, serve, drain on shutdown.

use std::future::Future;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use eventlog_core::redact::Redactor;
use eventlog_core::validate::Validator;
use eventlog_core::Catalog;
use eventlog_store::analytics::Analytics;
use eventlog_store::keys::{generate_secret, new_key};
use eventlog_store::{KeyRole, Store, StoreError};
use serde_json::json;
use tokio::net::TcpListener;
use tokio::task::JoinHandle;

use crate::alerts::{Evaluator, EvaluatorStop};
use crate::audit::{record_admin_action, AdminAction};
use crate::auth_failures::AuthFailures;
use crate::browser::BrowserOrigins;
use crate::dashboard::session::Sessions;
use crate::detection::{DetectionStop, DetectionTask};
use crate::ingest::GroupCommitWriter;
use crate::integrity::{signing_key_for, Integrity};
use crate::jwt::JwtVerifier;
use crate::limits::RateLimits;
use crate::live::LiveTail;
use crate::metrics::Metrics;
use crate::retention::Retention;
use crate::{app, AppState, KeyCache, ServerConfig};

/// Why the service could not start.
#[derive(Debug, thiserror::Error)]
pub enum StartupError {
    /// The store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// The live schema differs from what this build needs.
    #[error("{0}\neventlog did not start, so that no request fails on a schema mismatch.")]
    Schema(String),
    /// A catalog file could not be loaded.
    #[error("catalog file {path}: {message}")]
    Catalog {
        /// The file.
        path: PathBuf,
        /// What is wrong.
        message: String,
    },
    /// The checkpoint signing key could not be read or created.
    #[error(transparent)]
    Integrity(#[from] crate::integrity::IntegrityError),
    /// `[auth.jwt]` could not be loaded.
    #[error(transparent)]
    Jwt(#[from] crate::jwt::JwtConfigError),
    /// The `[alerts]` configuration is wrong.
    #[error("[alerts] {0}")]
    Alerts(String),
    /// The `[retention]` policy is invalid.
    #[error("{0}")]
    Retention(String),
    /// The listen address could not be bound.
    #[error("cannot listen on {addr}: {source}")]
    Bind {
        /// The address.
        addr: String,
        /// The OS error.
        source: std::io::Error,
    },
}

/// A built service, bound and ready to serve.
pub struct Application {
    listener: TcpListener,
    state: AppState,
    writer: JoinHandle<()>,
    detection: Option<(JoinHandle<()>, DetectionStop)>,
    alerts: Option<(JoinHandle<()>, EvaluatorStop)>,
    checkpointer: JoinHandle<()>,
    retention: Option<JoinHandle<()>>,
}

impl Application {
    /// Migrates and verifies `store`, loads the catalogs of `config`, starts the writer
    /// and binds `listen` (port 0 picks a free port).
    pub async fn build(
        config: &ServerConfig,
        store: Arc<dyn Store>,
        listen: &str,
    ) -> Result<Self, StartupError> {
        if config.alerts.enabled {
            config.alerts.validate().map_err(StartupError::Alerts)?;
        }
        let applied = store.migrate().await?;
        if let (Some(first), Some(last)) = (applied.first(), applied.last()) {
            tracing::info!(count = applied.len(), %first, %last, "applied migrations");
        }
        let report = store.check_schema().await?;
        if !report.is_ok() {
            return Err(StartupError::Schema(report.to_string()));
        }
        let catalog = load_catalog(config)?;
        let jwt = match &config.auth.jwt {
            Some(jwt) => {
                let verifier = JwtVerifier::from_config(jwt)?;
                tracing::info!(source = %verifier.describe(), "JWT bearer tokens accepted");
                // Which key eventlog trusts is a security-relevant setting: leave a trace.
                record_admin_action(
                    store.as_ref(),
                    AdminAction::ConfigChanged,
                    "eventlog",
                    Some("auth.jwt"),
                    json!({
                        "setting": "auth.jwt",
                        "key": verifier.describe(),
                        "issuer": jwt.issuer,
                        "audience": jwt.audience,
                        "role_claim": jwt.role_claim,
                        "tenant_claim": jwt.tenant_claim,
                    }),
                )
                .await?;
                Some(Arc::new(verifier))
            }
            None => None,
        };
        let limits = config.ingest.clone();
        let capacity = limits.queue_capacity_events.max(limits.max_batch_events);
        let live = LiveTail::new(config.dashboard.live_tail_buffer);
        let (queue, writer) =
            GroupCommitWriter::new(store.clone(), capacity, limits.max_commit_events);
        let writer = writer.with_live(live.clone());
        let validator = Arc::new(Validator::new(config.validation.clone(), catalog.clone()));
        let (writer, detection) = if config.detect.enabled {
            let redactor = Redactor::new(&config.validation.extra_secret_keys);
            let (task, feed, stop) =
                DetectionTask::new(&config.detect, validator.clone(), redactor, queue.clone());
            (
                writer.with_detection(feed),
                Some((tokio::spawn(task.run()), stop)),
            )
        } else {
            (writer, None)
        };
        let metrics = Metrics::new();
        let writer = tokio::spawn(writer.with_metrics(metrics.clone()).run());
        let integrity = Arc::new(match &config.integrity.signing_key_file {
            Some(path) => {
                Integrity::new(store.clone(), signing_key_for(store.as_ref(), path).await?)
            }
            None => {
                tracing::warn!("no integrity.signing_key_file configured: checkpoints are signed with a key that lives only as long as this process, so `eventlog verify` cannot check them later");
                Integrity::ephemeral(store.clone())
            }
        });
        let checkpointer = tokio::spawn(integrity.clone().run(
            config.integrity.checkpoint_every_events.max(1),
            std::time::Duration::from_secs(config.integrity.checkpoint_every_secs.max(1)),
        ));
        let retention = if config.retention.schedule_secs > 0 {
            // Checked now, so a bad policy stops start-up instead of failing a day later.
            crate::retention::check_policy(&config.retention, &config.validation)
                .map_err(|e| StartupError::Retention(e.to_string()))?;
            let dir = config
                .retention
                .archive_dir
                .clone()
                .unwrap_or_else(|| PathBuf::from("eventlog-data/archive"));
            let retention = Retention::new(
                store.clone(),
                integrity.clone(),
                config.retention.clone(),
                dir,
            )
            .with_metrics(metrics.clone());
            Some(tokio::spawn(crate::retention::schedule(
                Arc::new(retention),
                std::time::Duration::from_secs(config.retention.schedule_secs),
            )))
        } else {
            None
        };
        let listener = TcpListener::bind(listen)
            .await
            .map_err(|source| StartupError::Bind {
                addr: listen.to_owned(),
                source,
            })?;
        let analytics = Analytics::new(store.clone(), Arc::new(catalog.clone()));
        let state = AppState {
            store: store.clone(),
            validator,
            queue: queue.clone(),
            limits: Arc::new(limits),
            keys: KeyCache::default(),
            analytics,
            integrity,
            metrics,
            metrics_config: Arc::new(config.metrics.clone()),
            jwt,
            rate_limits: Arc::new(RateLimits::new(&config.limits)),
            browser_origins: BrowserOrigins::new(store.clone()),
            live,
            sessions: Sessions::new(std::time::Duration::from_secs(
                config.dashboard.session_idle_minutes.max(1) * 60,
            )),
            dashboard: Arc::new(config.dashboard.clone()),
            auth_failures: AuthFailures::start(
                queue.clone(),
                std::time::Duration::from_secs(if config.detect.enabled {
                    config.detect.auth_failures_report_secs
                } else {
                    0
                }),
            ),
        };
        let alerts = if config.alerts.enabled {
            let dashboard_url = match &config.alerts.dashboard_url {
                Some(url) => url.clone(),
                None => format!(
                    "http://{}/alerts",
                    listener.local_addr().map_err(|source| StartupError::Bind {
                        addr: listen.to_owned(),
                        source,
                    })?
                ),
            };
            let (evaluator, stop) = Evaluator::new(&config.alerts, state.clone(), &dashboard_url)
                .map_err(StartupError::Alerts)?;
            Some((tokio::spawn(evaluator.run()), stop))
        } else {
            None
        };
        Ok(Self {
            listener,
            state,
            writer,
            detection,
            alerts,
            checkpointer,
            retention,
        })
    }

    /// Validates `events` (JSON as `POST /api/events/batch` takes them) and commits them
    /// through the ingest queue and the group-commit writer, exactly as that route does
    /// (all or nothing; rollups, chain, live tail and detection see them). For commands
    /// that fill a store, such as `eventlog demo`.
    pub async fn ingest(
        &self,
        events: &[serde_json::Value],
    ) -> Result<eventlog_store::WriteSummary, crate::ApiError> {
        let now = chrono::Utc::now();
        let mut problems = Vec::new();
        let mut valid = Vec::with_capacity(events.len());
        for (index, event) in events.iter().enumerate() {
            let bytes = serde_json::to_vec(event).map_err(crate::ApiError::internal)?;
            match eventlog_core::parse_event(&bytes)
                .and_then(|raw| self.state.validator.validate(raw, now))
            {
                Ok(e) => valid.push(e),
                Err(errors) => problems.extend(errors.into_iter().map(|e| (Some(index), e))),
            }
        }
        if !problems.is_empty() {
            return Err(crate::ApiError::invalid(problems, events.len()));
        }
        crate::routes::ingest::commit(&self.state, valid).await
    }

    /// The bound address.
    pub fn local_addr(&self) -> SocketAddr {
        self.listener
            .local_addr()
            .expect("a bound listener has an address")
    }

    /// Serves until `shutdown` resolves, then finishes in-flight requests and commits
    /// everything queued before returning.
    pub async fn run_until_stopped(
        self,
        shutdown: impl Future<Output = ()> + Send + 'static,
    ) -> std::io::Result<()> {
        let integrity = self.state.integrity.clone();
        let live = self.state.live.clone();
        // Live-tail streams never end on their own: close them when shutdown begins, or
        // the graceful shutdown would wait for them forever.
        let shutdown = async move {
            shutdown.await;
            live.close();
        };
        let limits = self.state.rate_limits.config().clone();
        let router = app(self.state);
        let served = crate::listen::serve(self.listener, router, &limits, shutdown).await;
        // The router is gone; once the alert evaluator and detection let go of their queue
        // handles too, the writer drains and ends.
        if let Some((task, stop)) = self.alerts {
            stop.stop();
            let _ = task.await;
        }
        if let Some((task, stop)) = self.detection {
            stop.stop();
            let _ = task.await;
        }
        let _ = self.writer.await;
        // Sign what the last commits added, so a clean stop leaves nothing unsigned.
        self.checkpointer.abort();
        if let Some(retention) = self.retention {
            retention.abort();
        }
        if let Err(e) = integrity.checkpoint().await {
            tracing::warn!(error = %e, "final checkpoint failed");
        }
        served
    }
}

/// The built-in catalogs plus the files of `config.catalog`.
pub fn load_catalog(config: &ServerConfig) -> Result<Catalog, StartupError> {
    let mut catalog = Catalog::built_in();
    for path in &config.catalog.files {
        let text = std::fs::read_to_string(path).map_err(|e| StartupError::Catalog {
            path: path.clone(),
            message: e.to_string(),
        })?;
        catalog
            .extend_from_json(&path.display().to_string(), &text)
            .map_err(|e| StartupError::Catalog {
                path: path.clone(),
                message: e.to_string(),
            })?;
    }
    Ok(catalog)
}

/// On a store with no keys at all, creates an admin key and returns its secret, which the
/// caller shows once. For SQLite the secret is also written to `initial-admin.key`
/// (mode 0600) beside the database file.
pub async fn bootstrap_admin_key(
    store: &dyn Store,
    sqlite_path: Option<&Path>,
) -> Result<Option<(String, Option<PathBuf>)>, StoreError> {
    if !store.list_keys().await?.is_empty() {
        return Ok(None);
    }
    let secret = generate_secret();
    store
        .create_key(&new_key("initial-admin", KeyRole::Admin, None, &secret))
        .await?;
    let file = match sqlite_path {
        Some(db) => {
            let path = db
                .parent()
                .unwrap_or(Path::new("."))
                .join("initial-admin.key");
            write_private(&path, &format!("{secret}\n"))
                .map_err(|e| StoreError::Config(format!("cannot write {}: {e}", path.display())))?;
            Some(path)
        }
        None => None,
    };
    Ok(Some((secret, file)))
}

#[cfg(unix)]
fn write_private(path: &Path, contents: &str) -> std::io::Result<()> {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(path)?;
    f.write_all(contents.as_bytes())
}

#[cfg(not(unix))]
fn write_private(path: &Path, contents: &str) -> std::io::Result<()> {
    std::fs::write(path, contents)
}
