//! The eventlog HTTP service.
//!
//! [`app`] builds the router from an [`AppState`] (tests call it without sockets);
//! [`Application`] binds a listener, starts the group-commit writer and serves until
//! stopped. Ingest goes through a bounded [`ingest::IngestQueue`]: a request is answered
//! only after the transaction holding its events has committed.

#![deny(unreachable_pub)]

pub mod alerts;
pub mod audit;
mod auth;
mod auth_failures;
pub mod browser;
pub mod config;
pub mod dashboard;
pub mod detection;
mod error;
pub mod export;
pub mod ingest;
pub mod integrity;
pub mod jwt;
pub mod limits;
mod listen;
pub mod live;
pub mod metrics;
pub mod rbac;
pub mod retention;
mod routes;
mod startup;
mod state;

pub use auth::KeyCache;
pub use config::{
    AuthConfig, DashboardConfig, IntegrityConfig, MetricsConfig, RetentionConfig, ServerConfig,
};
pub use error::{ApiError, ErrorBody, ErrorDetail, ErrorResponse};
pub use routes::{app, openapi};
pub use startup::{bootstrap_admin_key, load_catalog, Application, StartupError};
pub use state::AppState;
