//! End-to-end API tests: each starts the real server on a random port, against SQLite
//! and against PostgreSQL (a fresh database per test, dropped afterwards).

mod helpers;

mod alerts;
mod analytics;
mod auth;
mod bad_input;
mod browser;
mod dashboard;
mod ingest;
mod integrity;
mod jwt;
mod limits;
mod openapi;
mod ops;
mod query;
mod rbac;
mod security;
mod stream;
