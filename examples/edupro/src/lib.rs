//! EduPro in miniature: the seeds' school system as an axum app that records every request
//! with [`eventlog_layer::EventLogLayer`] and its domain events with an
//! [`eventlog_client::EventLogger`]. [`Application`] builds and runs it (tests start it on
//! port 0).

#![deny(unreachable_pub)]

pub mod auth;
pub mod config;
pub mod db;
pub mod error;
pub mod routes;

use std::net::SocketAddr;
use std::sync::Arc;

use axum::routing::{get, post};
use axum::Router;
use eventlog_client::{EventLogger, HttpSink, LoggerConfig, StoreSink};
use eventlog_layer::{EventLogLayer, UserInfo};
use tokio::net::TcpListener;

pub use config::Config;

/// What every handler can reach.
#[derive(Clone, Debug)]
pub struct AppState {
    /// The app's database.
    pub db: db::Db,
    /// Token signing.
    pub tokens: Arc<auth::Tokens>,
    /// The event logger; `None` with `--no-eventlog`.
    pub logger: Option<EventLogger>,
}

impl AppState {
    /// Runs `f` with the logger, if eventlog is on.
    pub fn log(&self, f: impl FnOnce(&EventLogger)) {
        if let Some(logger) = &self.logger {
            f(logger);
        }
    }
}

/// The router; with a logger, wrapped in the event log layer.
pub fn app(state: AppState) -> Router {
    let router = Router::new()
        .route("/api/auth/login", post(routes::login))
        .route(
            "/api/students",
            get(routes::list_students).post(routes::create_student),
        )
        .route(
            "/api/students/{id}",
            get(routes::get_student)
                .put(routes::update_student)
                .delete(routes::delete_student),
        )
        .route("/api/predictions", post(routes::predict))
        .route("/api/admin/stats", get(routes::admin_stats))
        .route("/health", get(routes::health));
    let router = match &state.logger {
        Some(logger) => {
            let tokens = state.tokens.clone();
            router.layer(
                EventLogLayer::new(logger.clone())
                    .exclude(["/health"])
                    .with_user_extractor(move |headers: &http::HeaderMap, _: &http::Extensions| {
                        tokens.verify(headers).map(|c| UserInfo {
                            id: c.sub,
                            name: Some(c.name),
                            role: Some(c.role),
                            tenant: None,
                        })
                    }),
            )
        }
        None => router,
    };
    router.with_state(state)
}

/// A built, bound application.
#[derive(Debug)]
pub struct Application {
    listener: TcpListener,
    router: Router,
    logger: Option<EventLogger>,
}

impl Application {
    /// Opens the database, creates demo users if asked, starts the logger and binds.
    pub async fn build(config: &Config) -> anyhow::Result<Self> {
        let db = db::Db::open(&config.database).await?;
        if let Some(password) = &config.demo_password {
            db.create_demo_users(password).await?;
        }
        let logger = if config.no_eventlog {
            None
        } else {
            let logger_config = LoggerConfig::new(&config.spool_dir).source("edupro");
            Some(match (&config.eventlog_database, &config.eventlog_url) {
                (Some(url), _) => EventLogger::start(logger_config, StoreSink::connect_lazily(url))?,
                (None, Some(url)) => EventLogger::start(
                    logger_config,
                    HttpSink::new(url, config.eventlog_key.as_deref().unwrap_or_default())?,
                )?,
                (None, None) => anyhow::bail!(
                    "say where events go: --eventlog-database URL, or --eventlog-url URL --eventlog-key KEY, or --no-eventlog"
                ),
            })
        };
        let state = AppState {
            db,
            tokens: auth::Tokens::from_env_or_random(),
            logger: logger.clone(),
        };
        if let Some(logger) = &logger {
            logger.log_system_event("SYS-001", "edupro started");
        }
        let listener = TcpListener::bind(&config.listen).await?;
        Ok(Self {
            listener,
            router: app(state),
            logger,
        })
    }

    /// The bound address.
    pub fn local_addr(&self) -> SocketAddr {
        self.listener
            .local_addr()
            .expect("a bound listener has an address")
    }

    /// The event logger, if eventlog is on.
    pub fn logger(&self) -> Option<EventLogger> {
        self.logger.clone()
    }

    /// Serves until `stop` resolves, then flushes or spools every event.
    pub async fn run_until_stopped(
        self,
        stop: impl std::future::Future<Output = ()> + Send + 'static,
    ) -> anyhow::Result<()> {
        axum::serve(
            self.listener,
            self.router
                .into_make_service_with_connect_info::<SocketAddr>(),
        )
        .with_graceful_shutdown(stop)
        .await?;
        if let Some(logger) = self.logger {
            logger.log_system_event("SYS-002", "edupro stopped");
            logger.shutdown().await;
        }
        Ok(())
    }
}
