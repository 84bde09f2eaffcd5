//! `eventlog monitor --spool DIR` as a script runs it: stats with thresholds, dead letters
//! (list, retry into a real store, clear with confirmation), and the fsck-like check.

use std::process::{Command, Output, Stdio};

use eventlog_client::{DeadLetter, DeadLetters, Event, Spool, SpoolConfig};
use serde_json::Value;

const BIN: &str = env!("CARGO_BIN_EXE_eventlog");

fn monitor(args: &[&str]) -> Output {
    Command::new(BIN)
        .arg("monitor")
        .args(args)
        .stdin(Stdio::null())
        .output()
        .unwrap()
}

fn letter(event: Event, reason: &str) -> DeadLetter {
    DeadLetter {
        failed_at: chrono::Utc::now(),
        reason: reason.to_owned(),
        event,
    }
}

/// A spool with 3 records (one damaged) and 2 dead letters: one valid now, one not.
fn spool_dir() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    let mut spool = Spool::open(dir.path(), SpoolConfig::default()).unwrap();
    spool
        .append(&["{\"a\":1}", "{\"a\":2}", "{\"a\":3}"])
        .unwrap();
    drop(spool);
    let segment = std::fs::read_dir(dir.path().join("segments"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .next()
        .unwrap();
    let mut bytes = std::fs::read(&segment).unwrap();
    bytes[12 + 7 + 12 + 2] ^= 0x01;
    std::fs::write(&segment, bytes).unwrap();
    let mut valid = Event::from_code("SYS-001");
    valid.event_id = Some("SYS-001-20250619-143052-retry1".into());
    valid.timestamp = Some("2025-06-19T14:30:52Z".into());
    DeadLetters::in_dir(dir.path())
        .append(&[
            letter(valid, "store was missing a category at the time"),
            letter(
                Event::custom("NOT_A_CATEGORY", "X"),
                "event_category: unknown",
            ),
        ])
        .unwrap();
    dir
}

#[test]
fn stats_report_the_spool_and_warn_past_thresholds() {
    let dir = spool_dir();
    let d = dir.path().to_str().unwrap();
    let out = monitor(&["--spool", d, "--stats", "--json"]);
    assert_eq!(
        out.status.code(),
        Some(2),
        "dead letters pass the default threshold of 0"
    );
    let report: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(
        report["spool"]["pending_records"], 2,
        "the damaged record is not counted"
    );
    assert_eq!(report["dead_letters"], 2);
    assert!(String::from_utf8_lossy(&out.stderr).contains("WARNING: 2 dead letters"));

    // A logger's snapshot: its last error is shown with its time, beside the last delivery,
    // so an error from before the sink recovered reads as history.
    let at = |s: &str| chrono::DateTime::parse_from_rfc3339(s).unwrap().to_utc();
    eventlog_client::StatsSnapshot {
        written_at: at("2025-06-19T15:00:00Z"),
        started_at: at("2025-06-19T14:00:00Z"),
        logged: 10,
        queued: 0,
        delivered: 10,
        spooled: 4,
        replayed: 4,
        dead_lettered: 0,
        dropped: 0,
        overflowed: 0,
        hook_panics: 0,
        delivery_rate_per_sec: 0.1,
        last_delivery_at: Some(at("2025-06-19T14:59:00Z")),
        last_error_at: Some(at("2025-06-19T14:10:00Z")),
        last_error: Some("connection refused".into()),
        spool: None,
    }
    .write_to(dir.path())
    .unwrap();
    let out = monitor(&["--spool", d, "--warn-dead-letters", "5"]);
    assert_eq!(out.status.code(), Some(0));
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("undelivered events  2"), "{text}");
    assert!(
        text.contains("last error          connection refused (at 2025-06-19 14:10:00 UTC)"),
        "{text}"
    );
    assert!(
        text.contains("last delivery       2025-06-19 14:59:00 UTC"),
        "{text}"
    );

    let out = monitor(&["--spool", "/nonexistent/spool"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("does not exist"));
}

#[test]
fn check_quarantines_damaged_records() {
    let dir = spool_dir();
    let d = dir.path().to_str().unwrap();
    let out = monitor(&["--spool", d, "--check", "--json"]);
    assert_eq!(out.status.code(), Some(2));
    let report: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(
        (report["intact"].as_u64(), report["damaged"].as_u64()),
        (Some(2), Some(1))
    );
    assert_eq!(
        std::fs::read_dir(dir.path().join("quarantine"))
            .unwrap()
            .count(),
        1
    );
    assert_eq!(monitor(&["--spool", d, "--check"]).status.code(), Some(0));
}

#[test]
fn dead_letters_are_listed_retried_into_a_store_and_cleared() {
    let dir = spool_dir();
    let d = dir.path().to_str().unwrap();
    let out = monitor(&["--spool", d, "--failed"]);
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("reason: event_category: unknown"), "{text}");
    assert!(text.contains("2 dead letters"));

    let db_dir = tempfile::tempdir().unwrap();
    let db = format!("sqlite://{}/e.db", db_dir.path().display());
    let migrated = Command::new(BIN)
        .args(["migrate", "--database", &db])
        .output()
        .unwrap();
    assert!(migrated.status.success());
    // An unreachable server stops the retry (exit 1), naming the cause but not the URL's
    // password; nothing is lost.
    let out = monitor(&[
        "--spool",
        d,
        "--retry",
        "--url",
        "http://user:hunter2@127.0.0.1:1",
        "--key",
        "k",
    ]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(!err.contains("hunter2"), "{err}");
    assert!(err.contains("user:***@127.0.0.1:1"), "{err}");
    assert!(err.to_lowercase().contains("connection refused"), "{err}");
    assert_eq!(DeadLetters::in_dir(dir.path()).list().unwrap().0.len(), 2);
    let out = monitor(&[
        "--spool",
        d,
        "--retry",
        "--url",
        "ftp://x.example",
        "--key",
        "k",
    ]);
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("must be http:// or https://"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );

    // One letter is delivered; the store refuses the other again: exit 2, and it stays.
    let out = monitor(&["--spool", d, "--retry", "--database", &db, "--json"]);
    assert_eq!(
        out.status.code(),
        Some(2),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let result: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(
        (result["delivered"].as_u64(), result["still_dead"].as_u64()),
        (Some(1), Some(1))
    );
    let (left, _) = DeadLetters::in_dir(dir.path()).list().unwrap();
    assert_eq!(left.len(), 1);
    assert!(
        left[0].reason.contains("event_category"),
        "{}",
        left[0].reason
    );

    let out = monitor(&["--spool", d, "--clear"]);
    assert!(!out.status.success(), "no confirmation on a script's stdin");
    assert!(String::from_utf8_lossy(&out.stderr).contains("--yes"));
    // A line that cannot be read back counts as a dead letter everywhere, said as such.
    let file = DeadLetters::in_dir(dir.path()).path().to_owned();
    let mut text = std::fs::read_to_string(&file).unwrap();
    text.push_str("{\"torn\": \n");
    std::fs::write(&file, text).unwrap();
    let stats = monitor(&["--spool", d]);
    let stats_text = String::from_utf8_lossy(&stats.stdout);
    assert!(
        stats_text.contains("dead letters        2 (1 of them unreadable lines)"),
        "{stats_text}"
    );
    assert!(
        String::from_utf8_lossy(&stats.stderr).contains("WARNING: 2 dead letters (1 of them"),
        "{}",
        String::from_utf8_lossy(&stats.stderr)
    );
    let listed = monitor(&["--spool", d, "--failed"]);
    assert!(String::from_utf8_lossy(&listed.stdout)
        .contains("2 dead letters (1 of them unreadable lines)"));
    let out = monitor(&["--spool", d, "--clear", "--yes", "--json"]);
    assert!(out.status.success());
    let cleared: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(
        (cleared["deleted"].as_u64(), cleared["unreadable"].as_u64()),
        (Some(2), Some(1))
    );
    assert!(DeadLetters::in_dir(dir.path()).list().unwrap().0.is_empty());
    let out = monitor(&["--spool", d, "--clear", "--yes"]);
    assert!(String::from_utf8_lossy(&out.stdout).contains("no dead letters to clear"));
}
