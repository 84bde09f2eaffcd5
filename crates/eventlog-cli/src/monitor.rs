//! `eventlog monitor --spool DIR`: the seeds' `audit:monitor` for an in-app logger's spool
//! directory: stats, dead letters (list, retry, clear), and an fsck-like check.

use std::io::{BufRead, IsTerminal, Write};
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{bail, Context};
use clap::Args;
use eventlog_client::{
    DeadLetter, DeadLetters, Event, HttpSink, Sink, SinkError, Spool, SpoolConfig, SpoolState,
    StatsSnapshot, StoreSink,
};
use serde::Serialize;

/// Options of `eventlog monitor`.
#[derive(Debug, Args)]
pub(crate) struct MonitorArgs {
    /// The logger's spool directory (its `--spool-dir`).
    #[arg(long)]
    spool: PathBuf,
    /// Queue, spool size and age, dead letters, delivery rate, last error (the default).
    #[arg(long, group = "action")]
    stats: bool,
    /// List dead letters with their reasons.
    #[arg(long, group = "action")]
    failed: bool,
    /// Re-send dead letters (to --url/--key, or to --database); those refused again stay
    /// (exit 2), and an unreachable destination stops it (exit 1).
    #[arg(long, group = "action")]
    retry: bool,
    /// Delete the dead letters (asks on a terminal; elsewhere needs --yes).
    #[arg(long, group = "action")]
    clear: bool,
    /// Verify every spooled record; quarantine damaged ones. Run while the app is stopped.
    #[arg(long, group = "action")]
    check: bool,
    /// Machine-readable output.
    #[arg(long)]
    json: bool,
    /// Do not ask for confirmation.
    #[arg(long)]
    yes: bool,
    /// eventlog server to re-send to (or to report threshold warnings to).
    #[arg(long, env = "EVENTLOG_URL")]
    url: Option<String>,
    /// API key for --url.
    #[arg(long, env = "EVENTLOG_API_KEY", hide_env_values = true)]
    key: Option<String>,
    /// PEM file of CA certificates to trust for an https:// --url, beside the public roots
    /// (without --url it is not used).
    #[arg(long, env = "EVENTLOG_CA_FILE")]
    ca_file: Option<PathBuf>,
    /// Warn when the spool holds more records than this.
    #[arg(long, default_value_t = 10_000)]
    warn_spool_records: u64,
    /// Warn when the oldest undelivered record is older than this many seconds.
    #[arg(long, default_value_t = 900)]
    warn_spool_age_secs: i64,
    /// Warn when there are more dead letters than this.
    #[arg(long, default_value_t = 0)]
    warn_dead_letters: usize,
}

#[derive(Debug, Serialize)]
struct StatsReport {
    spool_dir: String,
    spool: SpoolState,
    oldest_pending_age_secs: Option<i64>,
    /// Every line of the dead-letter file, readable or not.
    dead_letters: usize,
    /// Those of `dead_letters` that cannot be read back (a torn write).
    unreadable_dead_letters: usize,
    logger: Option<StatsSnapshot>,
    warnings: Vec<String>,
}

fn open_spool(dir: &Path) -> anyhow::Result<Spool> {
    if !dir.is_dir() {
        let why = if dir.exists() {
            "it is a file"
        } else {
            "it does not exist"
        };
        bail!("{} is not a spool directory ({why})", dir.display());
    }
    Spool::open(dir, SpoolConfig::default())
        .with_context(|| format!("cannot open the spool in {}", dir.display()))
}

async fn destination(
    args: &MonitorArgs,
    database: Option<&str>,
) -> anyhow::Result<Option<Box<dyn Sink>>> {
    Ok(match (&args.url, database) {
        (Some(url), _) => {
            let key = args.key.as_deref().unwrap_or_default();
            Some(Box::new(match &args.ca_file {
                Some(ca_file) => HttpSink::with_ca_file(url, key, ca_file)?,
                None => HttpSink::new(url, key)?,
            }))
        }
        (None, Some(db)) => Some(Box::new(StoreSink::open(db).await?)),
        (None, None) => None,
    })
}

/// Runs the monitor; `database` is the explicitly given `--database`, if any.
pub(crate) async fn run(args: MonitorArgs, database: Option<&str>) -> anyhow::Result<ExitCode> {
    let dead = DeadLetters::in_dir(&args.spool);
    if args.failed {
        let (letters, unreadable) = dead.list()?;
        if args.json {
            out!(
                "{}",
                serde_json::to_string_pretty(
                    &serde_json::json!({"dead_letters": letters, "unreadable": unreadable})
                )?
            );
        } else if letters.is_empty() {
            out!("no dead letters in {}", dead.path().display());
        } else {
            for l in &letters {
                out!(
                    "{}  {}  {}  reason: {}",
                    l.failed_at.format("%Y-%m-%d %H:%M:%S"),
                    l.event.event_id.as_deref().unwrap_or("-"),
                    l.event
                        .event_code
                        .as_deref()
                        .or(l.event.event_type.as_deref())
                        .unwrap_or("-"),
                    l.reason
                );
            }
            out!(
                "{} dead letters{}",
                letters.len() + unreadable,
                unreadable_note(unreadable)
            );
        }
        return Ok(ExitCode::SUCCESS);
    }
    if args.clear {
        let (letters, unreadable) = dead.list()?;
        let n = letters.len() + unreadable;
        if n == 0 {
            if args.json {
                out!("{}", serde_json::json!({"deleted": 0, "unreadable": 0}));
            } else {
                out!("no dead letters to clear");
            }
            return Ok(ExitCode::SUCCESS);
        }
        if !args.yes {
            if !std::io::stdin().is_terminal() {
                bail!("refusing to delete {n} dead letters without confirmation: add --yes");
            }
            print!(
                "Delete {n} dead letters{} from {}? [y/N] ",
                unreadable_note(unreadable),
                dead.path().display()
            );
            std::io::stdout().flush()?;
            let mut answer = String::new();
            std::io::stdin().lock().read_line(&mut answer)?;
            if !matches!(answer.trim(), "y" | "Y" | "yes") {
                out!("nothing deleted");
                return Ok(ExitCode::FAILURE);
            }
        }
        let cleared = dead.clear()?;
        if args.json {
            out!(
                "{}",
                serde_json::json!({"deleted": cleared, "unreadable": unreadable})
            );
        } else {
            out!(
                "deleted {cleared} dead letters{}",
                unreadable_note(unreadable)
            );
        }
        return Ok(ExitCode::SUCCESS);
    }
    if args.retry {
        return retry(&args, &dead, database).await;
    }
    if args.check {
        let mut spool = open_spool(&args.spool)?;
        let report = spool.check()?;
        if args.json {
            out!("{}", serde_json::to_string_pretty(&report)?);
        } else {
            out!(
                "checked {} segments: {} intact records, {} damaged ({} torn writes), {} bytes moved to {}",
                report.segments,
                report.intact,
                report.damaged,
                report.torn,
                report.quarantined_bytes,
                args.spool.join("quarantine").display()
            );
        }
        return Ok(if report.damaged > 0 {
            ExitCode::from(2)
        } else {
            ExitCode::SUCCESS
        });
    }
    stats(&args, &dead, database).await
}

/// Says how many of the dead letters counted are lines that cannot be read back.
fn unreadable_note(unreadable: usize) -> String {
    if unreadable > 0 {
        format!(" ({unreadable} of them unreadable lines)")
    } else {
        String::new()
    }
}

async fn stats(
    args: &MonitorArgs,
    dead: &DeadLetters,
    database: Option<&str>,
) -> anyhow::Result<ExitCode> {
    let spool = open_spool(&args.spool)?.state()?;
    let (letters, unreadable) = dead.list()?;
    let age = spool
        .oldest_pending_unix
        .map(|t| chrono::Utc::now().timestamp() - t);
    let mut warnings = Vec::new();
    if spool.pending_records > args.warn_spool_records {
        warnings.push(format!(
            "the spool holds {} undelivered events (threshold {})",
            spool.pending_records, args.warn_spool_records
        ));
    }
    if let Some(age) = age.filter(|a| *a > args.warn_spool_age_secs) {
        warnings.push(format!(
            "the oldest undelivered event waits for {age} s (threshold {} s)",
            args.warn_spool_age_secs
        ));
    }
    if letters.len() + unreadable > args.warn_dead_letters {
        warnings.push(format!(
            "{} dead letters{} (threshold {}): see `eventlog monitor --spool {} --failed`",
            letters.len() + unreadable,
            unreadable_note(unreadable),
            args.warn_dead_letters,
            args.spool.display()
        ));
    }
    let report = StatsReport {
        spool_dir: args.spool.display().to_string(),
        oldest_pending_age_secs: age,
        dead_letters: letters.len() + unreadable,
        unreadable_dead_letters: unreadable,
        logger: StatsSnapshot::read_from(&args.spool),
        spool,
        warnings,
    };
    if args.json {
        out!("{}", serde_json::to_string_pretty(&report)?);
    } else {
        print_stats(&report);
    }
    if !report.warnings.is_empty() {
        for w in &report.warnings {
            eprintln!("WARNING: {w}");
        }
        if let Some(sink) = destination(args, database).await? {
            let event = Event::from_code("SYS-012")
                .description(format!(
                    "eventlog spool {}: {}",
                    report.spool_dir,
                    report.warnings.join("; ")
                ))
                .meta("pending_records", report.spool.pending_records)
                .meta("dead_letters", report.dead_letters as u64)
                .status("ALERT");
            if let Err(e) = sink.deliver(&[event]).await {
                eprintln!("could not report the warning to {}: {e}", sink.describe());
            }
        }
        return Ok(ExitCode::from(2));
    }
    Ok(ExitCode::SUCCESS)
}

fn print_stats(r: &StatsReport) {
    out!("spool {}", r.spool_dir);
    out!("  undelivered events  {}", r.spool.pending_records);
    out!("  undelivered bytes   {}", r.spool.pending_bytes);
    out!("  segments            {}", r.spool.segments);
    match r.oldest_pending_age_secs {
        Some(age) => out!("  oldest waiting      {age} s"),
        None => out!("  oldest waiting      -"),
    }
    out!(
        "  dead letters        {}{}",
        r.dead_letters,
        unreadable_note(r.unreadable_dead_letters)
    );
    if let Some(l) = &r.logger {
        out!(
            "logger (as of {})",
            l.written_at.format("%Y-%m-%d %H:%M:%S UTC")
        );
        out!(
            "  logged {}  delivered {}  queued {}",
            l.logged,
            l.delivered,
            l.queued
        );
        out!(
            "  spooled {}  replayed {}  dead-lettered {}  dropped {}",
            l.spooled,
            l.replayed,
            l.dead_lettered,
            l.dropped
        );
        out!(
            "  delivery rate       {:.1} events/s",
            l.delivery_rate_per_sec
        );
        // With its time: an error from before the sink recovered is history, not news.
        match (&l.last_error, l.last_error_at) {
            (Some(error), Some(at)) => out!(
                "  last error          {} (at {})",
                error,
                at.format("%Y-%m-%d %H:%M:%S UTC")
            ),
            (Some(error), None) => out!("  last error          {error}"),
            (None, _) => out!("  last error          -"),
        }
        out!(
            "  last delivery       {}",
            l.last_delivery_at.map_or("-".to_owned(), |at| at
                .format("%Y-%m-%d %H:%M:%S UTC")
                .to_string())
        );
    }
}

async fn retry(
    args: &MonitorArgs,
    dead: &DeadLetters,
    database: Option<&str>,
) -> anyhow::Result<ExitCode> {
    let Some(sink) = destination(args, database).await? else {
        bail!("say where to re-send: --url URL --key KEY, or --database URL");
    };
    let (letters, unreadable) = dead.list()?;
    if unreadable > 0 {
        eprintln!(
            "{unreadable} unreadable lines in {} are left out",
            dead.path().display()
        );
    }
    let bar = indicatif::ProgressBar::new(letters.len() as u64);
    if args.json || !std::io::stderr().is_terminal() {
        bar.set_draw_target(indicatif::ProgressDrawTarget::hidden());
    }
    let mut still_dead: Vec<DeadLetter> = Vec::new();
    let mut delivered = 0usize;
    let mut unavailable = None;
    // Positions in `still_dead` of the letters the destination refused again in this run.
    let mut refused_again: Vec<usize> = Vec::new();
    for chunk in letters.chunks(100) {
        if unavailable.is_some() {
            still_dead.extend_from_slice(chunk);
            continue;
        }
        let mut pending: Vec<DeadLetter> = chunk.to_vec();
        // Each round removes at least one refused letter, so this ends.
        while !pending.is_empty() {
            let events: Vec<Event> = pending.iter().map(|l| l.event.clone()).collect();
            match sink.deliver(&events).await {
                Ok(()) => {
                    delivered += pending.len();
                    pending.clear();
                }
                Err(SinkError::Rejected(rejections)) => {
                    let mut refused: Vec<_> = rejections
                        .into_iter()
                        .filter(|r| r.index < pending.len())
                        .collect();
                    if refused.is_empty() {
                        still_dead.append(&mut pending);
                        break;
                    }
                    refused.sort_by_key(|r| std::cmp::Reverse(r.index));
                    for r in refused {
                        let mut letter = pending.remove(r.index);
                        letter.reason = r.reason;
                        letter.failed_at = chrono::Utc::now();
                        refused_again.push(still_dead.len());
                        still_dead.push(letter);
                    }
                }
                // Too large together: each on its own; one too large alone stays dead.
                Err(SinkError::TooLarge(_)) => {
                    for mut letter in std::mem::take(&mut pending) {
                        if unavailable.is_some() {
                            still_dead.push(letter);
                            continue;
                        }
                        match sink.deliver(std::slice::from_ref(&letter.event)).await {
                            Ok(()) => delivered += 1,
                            Err(SinkError::Unavailable(e)) => {
                                unavailable = Some(e);
                                still_dead.push(letter);
                            }
                            Err(refused) => {
                                letter.reason = match refused {
                                    SinkError::Rejected(r) if !r.is_empty() => r[0].reason.clone(),
                                    other => other.to_string(),
                                };
                                letter.failed_at = chrono::Utc::now();
                                refused_again.push(still_dead.len());
                                still_dead.push(letter);
                            }
                        }
                    }
                }
                Err(SinkError::Unavailable(e)) => {
                    unavailable = Some(e);
                    still_dead.append(&mut pending);
                }
            }
        }
        bar.inc(chunk.len() as u64);
    }
    bar.finish_and_clear();
    dead.replace(&still_dead)?;
    if args.json {
        out!(
            "{}",
            serde_json::json!({"delivered": delivered, "still_dead": still_dead.len(), "error": unavailable})
        );
    } else {
        out!(
            "re-sent {delivered} dead letters; {} remain",
            still_dead.len()
        );
        for &at in refused_again.iter().take(10) {
            let letter = &still_dead[at];
            let id = letter.event.event_id.as_deref().unwrap_or("(no id)");
            eprintln!("refused again: {id}: {}", letter.reason);
        }
        if refused_again.len() > 10 {
            eprintln!(
                "... and {} more (`eventlog monitor --failed` lists them)",
                refused_again.len() - 10
            );
        }
    }
    if let Some(e) = unavailable {
        eprintln!("stopped early: {e}");
        return Ok(ExitCode::FAILURE);
    }
    // Refused again: the script that retried must see that some are still there.
    Ok(if still_dead.is_empty() {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(2)
    })
}
