//! Operations on a store without a server: `rollups rebuild`, `retention run`,
//! `archive restore` and `export`. Each long one shows a progress bar on a terminal.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use anyhow::{bail, Context};
use chrono::{DateTime, Utc};
use clap::{Args, ValueEnum};
use eventlog_core::validate::{parse_time_bound, Validator};
use eventlog_core::Severity;
use eventlog_core::ValidationPolicy;
use eventlog_server::audit::{record_admin_action, AdminAction};
use eventlog_server::export::{describe, ExportFormat, EXPORT_PAGE};
use eventlog_server::integrity::{signing_key_for, Integrity};
use eventlog_server::retention::{restore, Retention};
use eventlog_server::{load_catalog, ServerConfig};
use eventlog_store::{RecentQuery, Store};
use futures::TryStreamExt;
use indicatif::{ProgressBar, ProgressStyle};

fn bar(template: &str) -> ProgressBar {
    ProgressBar::new(0)
        .with_style(ProgressStyle::with_template(template).expect("a valid progress template"))
}

pub(crate) fn time_arg(name: &str, value: Option<&str>) -> anyhow::Result<Option<DateTime<Utc>>> {
    value
        .map(|v| {
            parse_time_bound(v).with_context(|| {
                format!("{name} `{v}` is not an RFC 3339 time or date (e.g. 2025-06-19 or 2025-06-19T14:30:52Z)")
            })
        })
        .transpose()
}

/// `eventlog rollups rebuild [--since DATE]`: recomputes every rollup of each day that
/// holds events, one transaction per day.
pub(crate) async fn rebuild_rollups(store: &dyn Store, since: Option<&str>) -> anyhow::Result<()> {
    let since = time_arg("--since", since)?;
    let days = store.event_days(since).await?;
    let expected: i64 = days.iter().map(|(_, n)| n).sum();
    let bar = bar("rebuilding rollups {bar:40} {pos}/{len} days ({eta}) {msg}");
    bar.set_length(days.len() as u64);
    let mut events = 0u64;
    for (day, _) in &days {
        bar.set_message(day.format("%Y-%m-%d").to_string());
        events += store.rebuild_rollups(*day).await?;
        bar.inc(1);
    }
    bar.finish_and_clear();
    out!(
        "rebuilt the rollups of {} day(s) from {events} event(s){}",
        days.len(),
        since.map_or(String::new(), |s| format!(" since {}", s.to_rfc3339()))
    );
    if events != expected as u64 {
        out!("note: {expected} event(s) were counted before the rebuild; events arrived meanwhile were counted by their own commits");
    }
    Ok(())
}

/// Opens the signer of checkpoints and pruning records (the same key `serve` uses).
async fn integrity(store: Arc<dyn Store>, key_file: &Path) -> anyhow::Result<Arc<Integrity>> {
    let key = signing_key_for(store.as_ref(), key_file)
        .await
        .with_context(|| {
            format!(
                "the checkpoint signing key {} is needed to sign pruning records",
                key_file.display()
            )
        })?;
    Ok(Arc::new(Integrity::new(store, key)))
}

/// `eventlog retention run [--dry-run]`.
pub(crate) async fn retention_run(
    store: Arc<dyn Store>,
    config: &ServerConfig,
    key_file: &Path,
    archive_dir: PathBuf,
    dry_run: bool,
) -> anyhow::Result<()> {
    eventlog_server::retention::check_policy(&config.retention, &config.validation)?;
    let integrity = if dry_run {
        // A dry run signs nothing: it needs no key, and must not create one.
        Arc::new(Integrity::ephemeral(store.clone()))
    } else {
        integrity(store.clone(), key_file).await?
    };
    let retention = Retention::new(store, integrity, config.retention.clone(), archive_dir);
    let bar = bar("archiving {bar:40} {pos}/{len} events ({per_sec}, {eta})");
    let report = retention
        .run(dry_run, "cli", &mut |done, total| {
            bar.set_length(total);
            bar.set_position(done);
        })
        .await?;
    bar.finish_and_clear();
    let verb = if dry_run { "would go" } else { "expired" };
    out!(
        "{:<10} {:<16} {:<27} {:>10}",
        "SEVERITY",
        "CATEGORY",
        "OLDER THAN",
        "EVENTS"
    );
    for e in &report.expired {
        out!(
            "{:<10} {:<16} {:<27} {:>10}",
            e.severity,
            e.category,
            e.cutoff.format("%Y-%m-%d %H:%M:%S UTC").to_string(),
            e.count
        );
    }
    let total: i64 = report.expired.iter().map(|e| e.count).sum();
    for s in Severity::ALL {
        let n: i64 = report
            .expired
            .iter()
            .filter(|e| e.severity == s.as_str())
            .map(|e| e.count)
            .sum();
        if n > 0 {
            out!("{:<10} total {n}", s.as_str());
        }
    }
    if dry_run {
        out!("dry run: {total} event(s) {verb}; nothing was archived or deleted");
        return Ok(());
    }
    out!(
        "archived {} event(s) in {} file(s){}; deleted {} event(s); dropped {} partition(s){}; {} signed pruning record(s)",
        report.archived,
        report.archives.len(),
        report
            .run_dir
            .as_ref()
            .map_or(String::new(), |d| format!(" under {}", d.display())),
        report.deleted,
        report.partitions_dropped.len(),
        if report.partitions_dropped.is_empty() {
            String::new()
        } else {
            format!(" ({})", report.partitions_dropped.join(", "))
        },
        report.pruning_records,
    );
    if report.archived_ahead > 0 {
        out!(
            "{} event(s) of the dropped partitions were archived ahead (`eventlog archive ahead`); their archives were checked on disk and are listed in the run's manifest",
            report.archived_ahead
        );
    }
    Ok(())
}

/// `eventlog archive ahead`.
pub(crate) async fn archive_ahead(
    store: Arc<dyn Store>,
    config: &ServerConfig,
    key_file: &Path,
    archive_dir: PathBuf,
) -> anyhow::Result<()> {
    let integrity = integrity(store.clone(), key_file).await?;
    let retention = Retention::new(store, integrity, config.retention.clone(), archive_dir);
    let bar = bar("archiving {bar:40} {pos}/{len} events ({per_sec}, {eta})");
    let report = retention
        .archive_ahead(&mut |done, total| {
            bar.set_length(total);
            bar.set_position(done);
        })
        .await?;
    bar.finish_and_clear();
    let dir = retention.daily_dir();
    match (report.days.first(), report.days.last()) {
        (Some(first), Some(last)) => out!(
            "archived {} event(s) of {} day(s), {first} to {last}, under {}",
            report.archived,
            report.days.len(),
            dir.display()
        ),
        _ => out!(
            "no closed day left to archive; the archives are under {}",
            dir.display()
        ),
    }
    if let Some(day) = report.waiting_from {
        out!(
            "{day} and later wait for the next run: some of their events are not covered by a signed checkpoint yet"
        );
    }
    Ok(())
}

/// `eventlog archive restore FILE`.
pub(crate) async fn archive_restore(
    store: &dyn Store,
    config: &ServerConfig,
    file: &Path,
) -> anyhow::Result<()> {
    // Archived events are old by nature: the bound on past timestamps is for live ingest.
    let policy = ValidationPolicy {
        max_past_days: 0,
        ..config.validation.clone()
    };
    let validator = Validator::new(policy, load_catalog(config)?);
    let bar = bar("restoring {bar:40} {pos}/{len} events ({per_sec}, {eta})");
    let report = restore(store, &validator, file, &mut |done, total| {
        bar.set_length(total);
        bar.set_position(done);
    })
    .await?;
    bar.finish_and_clear();
    out!(
        "{}: {} event(s) in the archive (SHA-256 verified against the manifest); {} restored, {} already stored",
        file.display(),
        report.events,
        report.restored,
        report.already_present
    );
    record_admin_action(
        store,
        AdminAction::ArchiveRestored,
        "cli",
        file.file_name().and_then(|n| n.to_str()),
        serde_json::json!({
            "file": file.display().to_string(),
            "events": report.events,
            "restored": report.restored,
            "already_stored": report.already_present,
        }),
    )
    .await
    .map_err(|e| {
        anyhow::anyhow!(
            "the events are restored, but the audit event of the restore could not be written: {e}"
        )
    })
}

/// Export formats on the command line.
#[derive(Clone, Copy, ValueEnum)]
pub(crate) enum FormatArg {
    /// One JSON event per line.
    Jsonl,
    /// CSV with a header row.
    Csv,
}

/// `eventlog export` arguments: the filters of `GET /api/events/recent`.
#[derive(Args)]
pub(crate) struct ExportArgs {
    /// Output format.
    #[arg(long, value_enum, default_value = "jsonl")]
    format: FormatArg,
    /// Output file; `-` writes to stdout.
    #[arg(short = 'o', long)]
    pub(crate) output: PathBuf,
    /// Events at or after this RFC 3339 time or date.
    #[arg(long)]
    since: Option<String>,
    /// Events before this RFC 3339 time or date.
    #[arg(long)]
    until: Option<String>,
    /// Categories (comma-separated).
    #[arg(long, value_delimiter = ',')]
    category: Vec<String>,
    /// Event types (comma-separated).
    #[arg(long, value_delimiter = ',')]
    event_type: Vec<String>,
    /// Catalog codes (comma-separated).
    #[arg(long, value_delimiter = ',')]
    event_code: Vec<String>,
    /// Severities (comma-separated).
    #[arg(long, value_delimiter = ',')]
    severity: Vec<String>,
    /// Statuses (comma-separated).
    #[arg(long, value_delimiter = ',')]
    status: Vec<String>,
    /// User id.
    #[arg(long)]
    user_id: Option<String>,
    /// Username.
    #[arg(long)]
    username: Option<String>,
    /// Client IP address.
    #[arg(long)]
    ip_address: Option<std::net::IpAddr>,
    /// Endpoint.
    #[arg(long)]
    endpoint: Option<String>,
    /// Resource type.
    #[arg(long)]
    resource_type: Option<String>,
    /// Resource id.
    #[arg(long)]
    resource_id: Option<String>,
    /// Tenant.
    #[arg(long)]
    tenant_id: Option<String>,
    /// Session id.
    #[arg(long)]
    session_id: Option<String>,
    /// Correlation id.
    #[arg(long)]
    correlation_id: Option<String>,
}

impl ExportArgs {
    fn query(&self) -> anyhow::Result<RecentQuery> {
        let upper = |v: &Vec<String>| v.iter().map(|s| s.to_ascii_uppercase()).collect();
        let mut severity = Vec::new();
        for s in &self.severity {
            match s.parse::<Severity>() {
                Ok(s) => severity.push(s.as_str().to_owned()),
                Err(()) => bail!(
                    "--severity `{s}` is unknown; expected DEBUG, INFO, WARNING, ERROR or CRITICAL"
                ),
            }
        }
        let since = time_arg("--since", self.since.as_deref())?;
        let until = time_arg("--until", self.until.as_deref())?;
        if let (Some(s), Some(u)) = (since, until) {
            if s >= u {
                bail!("--since must be before --until");
            }
        }
        Ok(RecentQuery {
            limit: EXPORT_PAGE,
            cursor: None,
            since,
            until,
            category: upper(&self.category),
            event_type: self.event_type.clone(),
            event_code: eventlog_store::codes_in_any_case(self.event_code.clone()),
            severity,
            status: upper(&self.status),
            user_id: self.user_id.clone(),
            username: self.username.clone(),
            ip_address: self.ip_address,
            endpoint: self.endpoint.clone(),
            resource_type: self.resource_type.clone(),
            resource_id: self.resource_id.clone(),
            tenant_id: self.tenant_id.clone(),
            session_id: self.session_id.clone(),
            correlation_id: self.correlation_id.clone(),
        })
    }
}

/// Refuses an export file that is the SQLite store being read (or its `-wal`, `-shm`,
/// `-journal`, there or not yet): creating it would truncate the database, or give SQLite a
/// journal that is not one, before a single event is read.
pub(crate) fn refuse_store_as_output(output: &Path, database: &str) -> anyhow::Result<()> {
    let Some(db) = crate::sqlite_path(database) else {
        return Ok(());
    };
    let (Ok(db), Some(out)) = (std::fs::canonicalize(db), resolved(output)) else {
        return Ok(()); // no database there (nothing to destroy), or no such folder
    };
    for suffix in ["", "-wal", "-shm", "-journal"] {
        let mut file = db.clone().into_os_string();
        file.push(suffix);
        let file = PathBuf::from(file);
        if out == file || same_file(&out, &file) {
            bail!(
                "-o {} is the database being exported ({}); choose another file",
                output.display(),
                file.display()
            );
        }
    }
    Ok(())
}

/// `path` with its folder's real path (the file itself may not exist yet).
fn resolved(path: &Path) -> Option<PathBuf> {
    if let Ok(real) = std::fs::canonicalize(path) {
        return Some(real);
    }
    let folder = path
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    Some(std::fs::canonicalize(folder).ok()?.join(path.file_name()?))
}

/// Whether `a` and `b` are one file (a hard link has another name).
#[cfg(unix)]
fn same_file(a: &Path, b: &Path) -> bool {
    use std::os::unix::fs::MetadataExt;
    match (std::fs::metadata(a), std::fs::metadata(b)) {
        (Ok(a), Ok(b)) => a.dev() == b.dev() && a.ino() == b.ino(),
        _ => false,
    }
}

#[cfg(not(unix))]
fn same_file(_: &Path, _: &Path) -> bool {
    false
}

/// `eventlog export`: chunks of one snapshot written as they are read, so memory stays at
/// a few chunks.
pub(crate) async fn export(store: &dyn Store, args: &ExportArgs) -> anyhow::Result<()> {
    let format = match args.format {
        FormatArg::Jsonl => ExportFormat::Jsonl,
        FormatArg::Csv => ExportFormat::Csv,
    };
    let query = args.query()?;
    let to_stdout = args.output.as_os_str() == "-";
    let sink: Box<dyn Write> = if to_stdout {
        Box::new(std::io::stdout().lock())
    } else {
        Box::new(
            std::fs::File::create(&args.output)
                .with_context(|| format!("cannot create {}", args.output.display()))?,
        )
    };
    let mut out = std::io::BufWriter::with_capacity(1 << 20, sink);
    let bar = ProgressBar::new_spinner().with_style(
        ProgressStyle::with_template("exporting {spinner} {pos} events ({per_sec})")
            .expect("a valid progress template"),
    );
    let mut count = 0u64;
    // A reader that leaves early (`eventlog export -o - | head`) ends the export quietly,
    // as it ends `keys list`; the audit record then says it was not completed.
    // `Ok(false)`: the reader has gone.
    let written = |result: std::io::Result<()>| -> anyhow::Result<bool> {
        match result {
            Ok(()) => Ok(true),
            Err(e) if to_stdout && e.kind() == std::io::ErrorKind::BrokenPipe => Ok(false),
            Err(e) => Err(e).with_context(|| format!("cannot write {}", args.output.display())),
        }
    };
    let mut completed = written(out.write_all(&format.header()))?;
    let mut chunks = format.chunks(store, &query);
    while completed {
        let Some(lines) = chunks.try_next().await? else {
            break;
        };
        completed = written(out.write_all(&lines.bytes))?;
        if completed {
            count += lines.events as u64;
            bar.set_position(count);
        }
    }
    if completed {
        completed = written(out.flush())?;
    }
    bar.finish_and_clear();
    record_admin_action(
        store,
        AdminAction::Export,
        "cli",
        None,
        serde_json::json!({
            "format": format.as_str(),
            "filters": describe(&query),
            "count": count,
            "completed": completed,
            "via": "cli",
            "file": args.output.display().to_string(),
        }),
    )
    .await?;
    if !completed {
        return Ok(());
    }
    if to_stdout {
        // stdout holds the events: the summary goes with the progress, to stderr.
        eprintln!("exported {count} event(s) ({})", format.as_str());
    } else {
        out!(
            "exported {count} event(s) to {} ({})",
            args.output.display(),
            format.as_str()
        );
    }
    Ok(())
}
