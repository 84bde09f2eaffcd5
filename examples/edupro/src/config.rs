//! Command-line configuration of edupro.

use std::path::PathBuf;

use clap::Parser;

/// EduPro: a small school information system that records its events with eventlog.
#[derive(Debug, Clone, Parser)]
#[command(name = "edupro", version)]
pub struct Config {
    /// Address to listen on; port 0 picks a free port.
    #[arg(long, default_value = "127.0.0.1:8080")]
    pub listen: String,
    /// The app's own database (`sqlite://PATH` or `postgres://...`).
    #[arg(long, default_value = "sqlite://edupro-data/edupro.db")]
    pub database: String,
    /// Write events straight into this eventlog store.
    #[arg(long, conflicts_with = "eventlog_url")]
    pub eventlog_database: Option<String>,
    /// Send events to this eventlog server (with --eventlog-key).
    #[arg(long, requires = "eventlog_key")]
    pub eventlog_url: Option<String>,
    /// API key (ingest role) for --eventlog-url.
    #[arg(long, env = "EDUPRO_EVENTLOG_KEY", hide_env_values = true)]
    pub eventlog_key: Option<String>,
    /// Where undelivered events are spooled.
    #[arg(long, default_value = "edupro-data/eventlog-spool")]
    pub spool_dir: PathBuf,
    /// Run without the event log layer (for overhead comparisons).
    #[arg(long)]
    pub no_eventlog: bool,
    /// Create the demo users admin, guru01 and siswa01 with this password (none without it).
    #[arg(long, env = "EDUPRO_DEMO_PASSWORD", hide_env_values = true)]
    pub demo_password: Option<String>,
}
