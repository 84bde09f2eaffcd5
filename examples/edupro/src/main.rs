//! The `edupro` binary.

use clap::Parser;
use edupro::{Application, Config};
use eventlog_layer::{SqlAuditConfig, SqlAuditLayer};
use tracing_subscriber::prelude::*;
use tracing_subscriber::EnvFilter;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let config = Config::parse();
    let app = Application::build(&config).await?;
    // The SQL audit needs the logger, so the subscriber comes after it. Global (`init`):
    // sqlx's SQLite driver runs statements on a thread of its own.
    let log_output = tracing_subscriber::fmt::layer()
        .with_writer(std::io::stderr)
        .with_filter(EnvFilter::try_from_default_env().unwrap_or_else(|_| "warn".into()));
    let sql_audit = app
        .logger()
        .map(|logger| SqlAuditLayer::new(logger, SqlAuditConfig::default()).with_sqlx_filter());
    tracing_subscriber::registry()
        .with(log_output)
        .with(sql_audit)
        .init();
    println!("listening on http://{}", app.local_addr());
    app.run_until_stopped(async {
        let _ = tokio::signal::ctrl_c().await;
    })
    .await
}
