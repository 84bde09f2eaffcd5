//! The `eventlog` binary: `serve`, `migrate`, `keys`, `verify`, `rollups`, `retention`,
//! `archive`, `export`, `monitor`.

/// `out!` for the commands' output, ending the program quietly when the reader has
/// gone (`eventlog keys list | head -1`): a pipe closed early is not an error to report.
macro_rules! out {
    ($($arg:tt)*) => {{
        use std::io::Write as _;
        if let Err(e) = writeln!(std::io::stdout().lock(), $($arg)*) {
            $crate::stdout_failed(&e);
        }
    }};
}

mod demo;
mod verify;

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;

use anyhow::{bail, Context};
use clap::{Args, Parser, Subcommand, ValueEnum};
use eventlog_server::audit::{record_admin_action, AdminAction};
use eventlog_server::{bootstrap_admin_key, Application, ServerConfig};
use eventlog_store::keys::{generate_secret, new_key, parse_origin};
use eventlog_store::{KeyRole, Store};

/// mimalloc: the ingest path allocates many small strings on two threads at once, where
/// glibc's allocator spent a quarter of the server's CPU (bench/README.md).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

mod monitor;
mod ops;

const DEFAULT_DATABASE: &str = "sqlite://eventlog-data/eventlog.db";
const DEFAULT_LISTEN: &str = "127.0.0.1:8470";

/// eventlog: a central event log and audit trail for web applications.
#[derive(Parser)]
#[command(
    name = "eventlog",
    version,
    about = "eventlog: a central event log and audit trail for web applications",
    propagate_version = true
)]
struct Cli {
    #[command(flatten)]
    global: GlobalArgs,
    #[command(subcommand)]
    command: Command,
}

#[derive(Args)]
struct GlobalArgs {
    /// Database URL: sqlite://PATH or postgres://USER@HOST/DB [default: sqlite://eventlog-data/eventlog.db]
    #[arg(
        long,
        global = true,
        env = "EVENTLOG_DATABASE_URL",
        hide_env_values = true
    )]
    database: Option<String>,
    /// TOML configuration file (see README, "Configuration").
    #[arg(long, global = true, env = "EVENTLOG_CONFIG")]
    config: Option<PathBuf>,
}

#[derive(Subcommand)]
enum Command {
    /// Run the HTTP API (migrates the database first).
    Serve {
        /// Address to listen on; port 0 picks a free port [default: 127.0.0.1:8470]
        #[arg(long, env = "EVENTLOG_LISTEN")]
        listen: Option<String>,
    },
    /// Apply pending database migrations.
    Migrate {
        /// Only report whether the schema matches this eventlog (exit 1 if not, 2 if it cannot
        /// tell); change nothing.
        #[arg(long)]
        check: bool,
    },
    /// Fill the store with a realistic week of the EduPro school system (logins, CRUD,
    /// predictions, training, admin and platform events, attacks, an error burst), through
    /// the normal ingest path, so the dashboard has something to show.
    Demo(demo::DemoArgs),
    /// Inspect an in-app logger's spool: stats, dead letters (--failed, --retry, --clear), --check.
    Monitor(monitor::MonitorArgs),
    /// Manage API keys.
    Keys {
        #[command(subcommand)]
        command: KeysCommand,
    },
    /// Verify the tamper-evident chain and its signed checkpoints; exit 1 naming the first
    /// event modified, deleted, inserted or reordered (or when the trusted key signed none of
    /// the checkpoints), 2 when it cannot run (no database, no key).
    Verify {
        /// Start at the last checkpoint signed at or before this RFC 3339 time or date.
        #[arg(long)]
        since: Option<String>,
        /// The trusted key: a `.pub` file, the signing `.key` file, or hex
        /// [default: the configured or default signing key file]
        #[arg(long)]
        public_key: Option<PathBuf>,
    },
    /// Recompute rollups from the stored events (after a back-fill or an import).
    Rollups {
        #[command(subcommand)]
        command: RollupsCommand,
    },
    /// Apply the retention policy: archive expired events, verify the archives, delete.
    Retention {
        #[command(subcommand)]
        command: RetentionCommand,
    },
    /// Work with retention archives.
    Archive {
        #[command(subcommand)]
        command: ArchiveCommand,
    },
    /// Write every event matching the filters to a file (JSONL or CSV).
    Export(Box<ops::ExportArgs>),
}

#[derive(Subcommand)]
enum RollupsCommand {
    /// Recompute the rollups of every day holding events (at or after --since).
    Rebuild {
        /// First day to rebuild (RFC 3339 time or YYYY-MM-DD) [default: all days]
        #[arg(long)]
        since: Option<String>,
    },
}

#[derive(Subcommand)]
enum RetentionCommand {
    /// Archive and delete expired events now (see docs/operations.md).
    Run {
        /// Only print what would be archived and deleted.
        #[arg(long)]
        dry_run: bool,
    },
}

#[derive(Subcommand)]
enum ArchiveCommand {
    /// Archive every closed UTC day not archived yet into ARCHIVE_DIR/daily (deletes
    /// nothing). PostgreSQL then drops an expired month's partition without reading it
    /// again; `serve` does this before each scheduled retention run.
    Ahead,
    /// Re-import an archive file (checked against its manifest; idempotent).
    Restore {
        /// The `.jsonl.zst` archive; its `manifest.json` must be beside it.
        file: PathBuf,
    },
}

#[derive(Subcommand)]
enum KeysCommand {
    /// Create a key and print it (only this once) on stdout.
    Create {
        /// What the key may do.
        #[arg(long, value_enum)]
        role: RoleArg,
        /// A unique name for the key.
        #[arg(long)]
        name: String,
        /// Bind the key to one tenant: it reads and writes only that tenant's events.
        #[arg(long)]
        tenant: Option<String>,
        /// A browser origin (`https://app.example`) a publishable key may be used from;
        /// repeat for several. Required for, and only for, `--role publishable`.
        #[arg(long = "origin", value_name = "ORIGIN")]
        origins: Vec<String>,
    },
    /// List keys (never their secrets).
    List,
    /// Revoke the active key with this name.
    Revoke {
        /// The key's name.
        name: String,
    },
}

#[derive(Clone, Copy, ValueEnum)]
enum RoleArg {
    Admin,
    Analyst,
    Auditor,
    Ingest,
    Publishable,
}

impl From<RoleArg> for KeyRole {
    fn from(r: RoleArg) -> Self {
        match r {
            RoleArg::Admin => KeyRole::Admin,
            RoleArg::Analyst => KeyRole::Analyst,
            RoleArg::Auditor => KeyRole::Auditor,
            RoleArg::Ingest => KeyRole::Ingest,
            RoleArg::Publishable => KeyRole::Publishable,
        }
    }
}

fn load_config(path: Option<&Path>) -> anyhow::Result<ServerConfig> {
    let Some(path) = path else {
        return Ok(ServerConfig::default());
    };
    let text = std::fs::read_to_string(path)
        .with_context(|| format!("cannot read config file {}", path.display()))?;
    toml::from_str(&text).with_context(|| format!("invalid config file {}", path.display()))
}

/// The SQLite file a URL names (without its `?options`), if it names one.
fn sqlite_path(url: &str) -> Option<PathBuf> {
    eventlog_store::sqlite_path(url)
        .map(|path| PathBuf::from(path.split('?').next().unwrap_or(path)))
}

async fn open_store(url: &str) -> anyhow::Result<Arc<dyn Store>> {
    eventlog_store::open(url).await.map_err(|e| {
        // A server certificate that does not verify: say what usually mends it.
        let hint = if e.to_string().contains("invalid peer certificate") {
            " (if a private CA signed the server's certificate, add sslrootcert=/path/to/ca.pem to the URL; if the certificate names another host, connect by that name)"
        } else {
            ""
        };
        anyhow::Error::new(e).context(format!(
            "cannot open database {}{hint}",
            eventlog_store::redact_url(url)
        ))
    })
}

/// Opens an existing store and refuses to go on if its schema is not this build's. A
/// SQLite file that is not there is named, not created: a mistyped path must not leave an
/// empty database behind and report its schema as wrong.
async fn open_checked(url: &str) -> anyhow::Result<Arc<dyn Store>> {
    require_sqlite_file(url)?;
    let store = open_store(url).await?;
    let report = store.check_schema().await?;
    if !report.is_ok() {
        if report.pending.is_empty() {
            // Migrations cannot mend drift: the report names the statement that does.
            bail!("{report}");
        }
        bail!("{report}run `eventlog migrate` first");
    }
    Ok(store)
}

/// Fails, naming the path, when `url` is a SQLite file that does not exist.
fn require_sqlite_file(url: &str) -> anyhow::Result<()> {
    let Some(path) = sqlite_path(url) else {
        return Ok(());
    };
    let memory = path.as_os_str().is_empty() || path.to_string_lossy().starts_with(':');
    if !memory && !path.exists() {
        bail!(
            "there is no database at {}; `eventlog serve` or `eventlog migrate` creates it",
            path.display()
        );
    }
    Ok(())
}

/// Where archives go by default: `eventlog-archive` beside the SQLite database, else
/// `eventlog-data/archive`.
fn default_archive_dir(sqlite: Option<&Path>) -> PathBuf {
    match sqlite {
        Some(db) => db
            .parent()
            .filter(|p| !p.as_os_str().is_empty())
            .unwrap_or(Path::new("."))
            .join("eventlog-archive"),
        None => PathBuf::from("eventlog-data/archive"),
    }
}

async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! { _ = ctrl_c => {}, _ = term => {} }
    tracing::info!("shutting down: finishing requests and committing queued events");
}

async fn run(cli: Cli) -> anyhow::Result<ExitCode> {
    let mut config = load_config(cli.global.config.as_deref())?;
    let explicit_database = cli.global.database.clone();
    let database = cli
        .global
        .database
        .or_else(|| config.database.clone())
        .unwrap_or_else(|| DEFAULT_DATABASE.to_owned());
    let key_file = config
        .integrity
        .signing_key_file
        .get_or_insert_with(|| {
            eventlog_server::integrity::default_key_path(sqlite_path(&database).as_deref())
        })
        .clone();
    let archive_dir = config
        .retention
        .archive_dir
        .get_or_insert_with(|| default_archive_dir(sqlite_path(&database).as_deref()))
        .clone();
    match cli.command {
        Command::Monitor(args) => monitor::run(args, explicit_database.as_deref()).await,
        Command::Serve { listen } => {
            let listen = listen
                .or_else(|| config.listen.clone())
                .unwrap_or_else(|| DEFAULT_LISTEN.to_owned());
            let store = open_store(&database).await?;
            let app = Application::build(&config, store.clone(), &listen).await?;
            if let Some((secret, file)) =
                bootstrap_admin_key(store.as_ref(), sqlite_path(&database).as_deref()).await?
            {
                out!("created the first admin key (shown only this once):");
                out!("{secret}");
                if let Some(file) = file {
                    out!("it is also saved in {} (mode 0600)", file.display());
                }
            }
            let addr = app.local_addr();
            out!("listening on http://{addr}");
            tracing::info!(database = %eventlog_store::redact_url(&database), %addr, "eventlog serving");
            app.run_until_stopped(shutdown_signal()).await?;
            Ok(ExitCode::SUCCESS)
        }
        Command::Demo(args) => {
            args.check(config.validation.max_past_days)?;
            let store = open_store(&database).await?;
            if !args.into_existing && store.check_schema().await?.is_ok() {
                let held = store.count_events().await?;
                if held > 0 {
                    bail!(
                        "{} already holds {held} events: demo events would mix with them and stay in its tamper-evident chain. Give an empty database (--database sqlite://demo.db), or add --into-existing",
                        eventlog_store::redact_url(&database)
                    );
                }
            }
            let app = Application::build(&config, store.clone(), "127.0.0.1:0").await?;
            let started = std::time::Instant::now();
            let written = demo::run(&app, &args).await?;
            // Drain: detection findings are committed and a checkpoint signed.
            app.run_until_stopped(async {}).await?;
            out!(
                "wrote {written} demo events over {} days to {} in {:.1} s; now run `eventlog serve` and open the dashboard",
                args.days,
                eventlog_store::redact_url(&database),
                started.elapsed().as_secs_f64()
            );
            Ok(ExitCode::SUCCESS)
        }
        Command::Migrate { check } => {
            // A check changes nothing, so it does not create the database it was asked about;
            // a database not there yet lacks every migration (exit 1, not a failure to tell).
            if check {
                if let Err(missing) = require_sqlite_file(&database) {
                    eprintln!("{missing}");
                    return Ok(ExitCode::FAILURE);
                }
            }
            let store = open_store(&database).await?;
            if !check {
                let applied = store.migrate().await?;
                if applied.is_empty() {
                    out!("no pending migrations");
                }
                for m in applied {
                    out!("applied migration {m}");
                }
            }
            let report = store.check_schema().await?;
            if report.is_ok() {
                out!("{report}");
                Ok(ExitCode::SUCCESS)
            } else {
                eprint!("{report}");
                Ok(ExitCode::FAILURE)
            }
        }
        Command::Keys { command } => {
            let store = open_checked(&database).await?;
            match command {
                KeysCommand::Create {
                    role,
                    name,
                    tenant,
                    origins,
                } => {
                    check_label("--name", &name)?;
                    if let Some(tenant) = &tenant {
                        check_label("--tenant", tenant)?;
                    }
                    let role = KeyRole::from(role);
                    match (role, origins.is_empty()) {
                        (KeyRole::Publishable, true) => bail!(
                            "a publishable key needs at least one --origin (e.g. --origin https://app.example)"
                        ),
                        (KeyRole::Publishable, false) | (_, true) => {}
                        (_, false) => bail!("--origin is only for --role publishable"),
                    }
                    let origins = origins
                        .iter()
                        .map(|o| parse_origin(o))
                        .collect::<Result<Vec<_>, _>>()
                        .map_err(|e| anyhow::anyhow!("--origin: {e}"))?;
                    let secret = generate_secret();
                    let key = store
                        .create_key(&new_key(&name, role, tenant, &secret).with_origins(origins))
                        .await?;
                    record_admin_action(
                        store.as_ref(),
                        AdminAction::KeyCreated,
                        "cli",
                        Some(&name),
                        serde_json::json!({"role": key.role.as_str(), "tenant_id": key.tenant_id, "origins": key.origins, "creator": "cli"}),
                    )
                    .await?;
                    out!("{secret}");
                }
                KeysCommand::List => {
                    let keys = store.list_keys().await?;
                    out!(
                        "{:<24} {:<11} {:<16} {:<12} {:<25} STATUS",
                        "NAME",
                        "ROLE",
                        "TENANT",
                        "PREFIX",
                        "CREATED"
                    );
                    for k in keys {
                        let status = match k.revoked_at {
                            Some(t) => format!("revoked {}", t.format("%Y-%m-%d %H:%M")),
                            None => "active".to_owned(),
                        };
                        out!(
                            "{:<24} {:<11} {:<16} {:<12} {:<25} {status}",
                            k.name,
                            k.role.as_str(),
                            k.tenant_id.as_deref().unwrap_or("-"),
                            k.prefix,
                            k.created_at.format("%Y-%m-%d %H:%M:%S UTC").to_string(),
                        );
                    }
                }
                KeysCommand::Revoke { name } => {
                    if !store.revoke_key(&name).await? {
                        bail!("no active key named `{name}` (see `eventlog keys list`)");
                    }
                    record_admin_action(
                        store.as_ref(),
                        AdminAction::KeyRevoked,
                        "cli",
                        Some(&name),
                        serde_json::json!({"deleter": "cli"}),
                    )
                    .await?;
                    out!("revoked key `{name}`");
                }
            }
            Ok(ExitCode::SUCCESS)
        }
        Command::Verify { since, public_key } => {
            let store = open_checked(&database).await?;
            let key = public_key.unwrap_or(key_file);
            verify::run(store.as_ref(), &key, since.as_deref()).await
        }
        Command::Rollups {
            command: RollupsCommand::Rebuild { since },
        } => {
            let store = open_checked(&database).await?;
            ops::rebuild_rollups(store.as_ref(), since.as_deref()).await?;
            Ok(ExitCode::SUCCESS)
        }
        Command::Retention {
            command: RetentionCommand::Run { dry_run },
        } => {
            let store = open_checked(&database).await?;
            ops::retention_run(store, &config, &key_file, archive_dir, dry_run).await?;
            Ok(ExitCode::SUCCESS)
        }
        Command::Archive {
            command: ArchiveCommand::Ahead,
        } => {
            let store = open_checked(&database).await?;
            ops::archive_ahead(store, &config, &key_file, archive_dir).await?;
            Ok(ExitCode::SUCCESS)
        }
        Command::Archive {
            command: ArchiveCommand::Restore { file },
        } => {
            // A file that is no archive is named before any database is opened.
            eventlog_server::retention::manifest_entry(&file)?;
            let store = open_checked(&database).await?;
            ops::archive_restore(store.as_ref(), &config, &file).await?;
            Ok(ExitCode::SUCCESS)
        }
        Command::Export(args) => {
            ops::refuse_store_as_output(&args.output, &database)?;
            let store = open_checked(&database).await?;
            ops::export(store.as_ref(), &args).await?;
            Ok(ExitCode::SUCCESS)
        }
    }
}

/// The error and its causes, each said once: library errors often repeat their source's
/// text in their own message.
fn error_chain(e: &anyhow::Error) -> String {
    let mut out = String::new();
    for cause in e.chain().map(ToString::to_string) {
        if !out.contains(&cause) {
            if !out.is_empty() {
                out.push_str(": ");
            }
            out.push_str(&cause);
        }
    }
    out
}

#[tokio::main]
async fn main() -> ExitCode {
    use std::io::IsTerminal as _;
    // One TLS backend for every connection the process makes (PostgreSQL, webhooks).
    eventlog_store::tls::install_default_provider();
    tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        // Colour codes only for a terminal, not in a log file or a journal.
        .with_ansi(std::io::stderr().is_terminal() && std::env::var_os("NO_COLOR").is_none())
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_env("EVENTLOG_LOG")
                .unwrap_or_else(|_| "info,sqlx=warn".into()),
        )
        .init();
    let cli = Cli::parse();
    // The checks say 1 for "found a difference", so their own failures need another code.
    let checking = matches!(
        cli.command,
        Command::Verify { .. } | Command::Migrate { check: true }
    );
    match run(cli).await {
        Ok(code) => code,
        Err(e) => {
            eprintln!("error: {}", error_chain(&e));
            ExitCode::from(if checking { 2 } else { 1 })
        }
    }
}

/// A key's name or tenant: 1 to 128 characters without control characters (what an event's
/// text fields accept, since both end up in the ADMIN audit events and in `keys list`).
fn check_label(flag: &str, value: &str) -> anyhow::Result<()> {
    let chars = value.chars().count();
    if value.trim().is_empty() {
        bail!("{flag} must not be empty");
    }
    if chars > 128 {
        bail!("{flag} is {chars} characters; the limit is 128");
    }
    if value.chars().any(char::is_control) {
        bail!("{flag} must not contain control characters (newlines, escapes, tabs)");
    }
    Ok(())
}

/// Ends the program after a failed write to stdout: quietly (status 0) when the reader
/// closed the pipe, with the error otherwise.
fn stdout_failed(e: &std::io::Error) -> ! {
    if e.kind() == std::io::ErrorKind::BrokenPipe {
        std::process::exit(0);
    }
    eprintln!("error: writing to stdout: {e}");
    std::process::exit(1)
}
