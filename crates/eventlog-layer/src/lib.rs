//! A tower layer that records every HTTP request of an axum app as an eventlog event:
//! method, matched route template, status, latency, user, client IP (trusted-proxy aware),
//! user agent, session and correlation id, and optionally size-limited bodies.
//!
//! Shaped like tower-http's trace middleware: [`EventLogLayer`] (configuration, `with_*`
//! builders) builds [`EventLog`] services whose calls return a named [`ResponseFuture`];
//! the response body is wrapped in [`ResponseBody`], which passes every byte through and
//! records the event when the body ends. Hooks are small traits with defaults:
//! [`ExtractUser`], [`RouteFilter`].
//!
//! What this layer must never do: change the response, fail the request, or wait for the
//! event log. Events go to [`eventlog_client::EventLogger::log`], which never blocks; a
//! panicking hook is contained and counted; a handler panic is recorded and resumed.
//!
//! The one opt-in exception is [`Enforcer`]: a separate layer that, when you add it,
//! refuses addresses and accounts the stream detectors caught attacking (fail2ban-like;
//! docs/security-access.md).

#![deny(unreachable_pub)]

mod body;
mod client_ip;
mod correlation;
mod enforce;
mod future;
mod layer;
mod record;
mod route_filter;
mod service;
pub mod sql_audit;
mod user;

pub use body::{CaptureBody, ResponseBody};
pub use client_ip::IpRange;
pub use correlation::CorrelationId;
pub use enforce::{Enforce, EnforceConfig, EnforceLayer, Enforcer};
pub use future::ResponseFuture;
pub use layer::{BodyCapture, EventLogLayer};
pub use route_filter::{IncludeExclude, RouteFilter};
pub use service::EventLog;
pub use sql_audit::{SqlAuditConfig, SqlAuditLayer};
pub use user::{ExtractUser, FromExtensions, UserInfo};
