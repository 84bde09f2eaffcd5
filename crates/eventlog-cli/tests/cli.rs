//! The `eventlog` binary as a user runs it: first start, migrations and drift, keys, and
//! durability across `kill -9`, against SQLite and PostgreSQL.

use std::collections::{HashMap, HashSet};
use std::path::Path;
use std::process::Stdio;
use std::time::Duration;

use serde_json::{json, Value};
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::{Child, Command};

const BIN: &str = env!("CARGO_BIN_EXE_eventlog");

fn pg_admin_url() -> String {
    std::env::var("EVENTLOG_TEST_POSTGRES_URL")
        .unwrap_or_else(|_| "postgres://root@127.0.0.1:5432/postgres".to_owned())
}

/// A fresh PostgreSQL database URL, or `None` (loudly) outside CI when PostgreSQL is absent.
async fn fresh_pg_database() -> Option<(String, String)> {
    let admin = match sqlx::PgPool::connect(&pg_admin_url()).await {
        Ok(p) => p,
        Err(e) if std::env::var("CI").is_err() => {
            eprintln!(
                "\n!!!! SKIPPED: PostgreSQL not reachable at {} ({e}). In CI this fails. !!!!\n",
                pg_admin_url()
            );
            return None;
        }
        Err(e) => panic!("PostgreSQL is required in CI: {e}"),
    };
    let db = format!("eventlog_clitest_{}", uuid::Uuid::new_v4().simple());
    sqlx::query(&format!("CREATE DATABASE {db}"))
        .execute(&admin)
        .await
        .unwrap();
    let (base, _) = pg_admin_url()
        .rsplit_once('/')
        .map(|(b, d)| (b.to_owned(), d.to_owned()))
        .unwrap();
    Some((format!("{base}/{db}"), db))
}

async fn drop_pg_database(db: &str) {
    let admin = sqlx::PgPool::connect(&pg_admin_url()).await.unwrap();
    sqlx::query(&format!("DROP DATABASE IF EXISTS {db} WITH (FORCE)"))
        .execute(&admin)
        .await
        .unwrap();
}

struct Served {
    child: Child,
    url: String,
    first_key: Option<String>,
    stdout: Vec<String>,
}

/// Starts `eventlog serve` and reads stdout up to the `listening on` line.
async fn serve(database: &str, cwd: &Path) -> Served {
    let mut child = Command::new(BIN)
        .args(["serve", "--listen", "127.0.0.1:0", "--database", database])
        .current_dir(cwd)
        .env_remove("EVENTLOG_DATABASE_URL")
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let mut stdout = Vec::new();
    let url = tokio::time::timeout(Duration::from_secs(60), async {
        while let Some(line) = lines.next_line().await.unwrap() {
            stdout.push(line.clone());
            if let Some(url) = line.strip_prefix("listening on ") {
                return url.to_owned();
            }
        }
        panic!("serve exited before listening: {stdout:?}");
    })
    .await
    .expect("serve starts within 60 s");
    let first_key = stdout.iter().find(|l| l.starts_with("elk_")).cloned();
    Served {
        child,
        url,
        first_key,
        stdout,
    }
}

async fn run(args: &[&str], cwd: &Path) -> (i32, String, String) {
    let out = Command::new(BIN)
        .args(args)
        .current_dir(cwd)
        .env_remove("EVENTLOG_DATABASE_URL")
        .output()
        .await
        .unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[tokio::test]
async fn first_start_prints_an_admin_key_once_and_saves_it_privately() {
    let dir = tempfile::tempdir().unwrap();
    // The documented default: sqlite://eventlog-data/eventlog.db relative to the working directory.
    let mut served = serve("sqlite://eventlog-data/eventlog.db", dir.path()).await;
    let key = served.first_key.clone().expect("first start prints a key");
    let key_file = dir.path().join("eventlog-data/initial-admin.key");
    assert_eq!(std::fs::read_to_string(&key_file).unwrap().trim(), key);
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        assert_eq!(
            std::fs::metadata(&key_file).unwrap().permissions().mode() & 0o777,
            0o600
        );
    }
    let client = reqwest::Client::new();
    let resp = client
        .get(format!("{}/api/events/recent", served.url))
        .bearer_auth(&key)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    served.child.kill().await.unwrap();

    let mut again = serve("sqlite://eventlog-data/eventlog.db", dir.path()).await;
    assert!(
        again.first_key.is_none(),
        "the key is shown only once: {:?}",
        again.stdout
    );
    again.child.kill().await.unwrap();
}

#[tokio::test]
async fn keys_create_list_revoke() {
    let dir = tempfile::tempdir().unwrap();
    let db = "sqlite://keys.db";
    assert_eq!(run(&["migrate", "--database", db], dir.path()).await.0, 0);
    let (code, out, err) = run(
        &[
            "keys",
            "create",
            "--role",
            "ingest",
            "--name",
            "app",
            "--tenant",
            "acme",
            "--database",
            db,
        ],
        dir.path(),
    )
    .await;
    assert_eq!(code, 0, "{err}");
    assert!(
        out.trim().starts_with("elk_") && out.lines().count() == 1,
        "stdout is only the key: {out:?}"
    );
    let (code, _, err) = run(
        &[
            "keys",
            "create",
            "--role",
            "ingest",
            "--name",
            "app",
            "--database",
            db,
        ],
        dir.path(),
    )
    .await;
    assert_eq!(code, 1);
    assert!(err.contains("already exists"), "{err}");
    let (_, list, _) = run(&["keys", "list", "--database", db], dir.path()).await;
    assert!(
        list.contains("app")
            && list.contains("ingest")
            && list.contains("acme")
            && list.contains("active"),
        "{list}"
    );
    assert!(!list.contains(out.trim()), "secrets are never listed");
    assert_eq!(
        run(&["keys", "revoke", "app", "--database", db], dir.path())
            .await
            .0,
        0
    );
    let (code, _, err) = run(&["keys", "revoke", "app", "--database", db], dir.path()).await;
    assert_eq!(code, 1);
    assert!(err.contains("no active key"), "{err}");
    let (_, list, _) = run(&["keys", "list", "--database", db], dir.path()).await;
    assert!(list.contains("revoked"), "{list}");
    let (code, _, err) = run(
        &[
            "keys",
            "create",
            "--role",
            "root",
            "--name",
            "x",
            "--database",
            db,
        ],
        dir.path(),
    )
    .await;
    assert_eq!(code, 2, "clap rejects unknown roles: {err}");
}

/// Removes `events.processed_at` behind eventlog's back (the seed 000 outage).
async fn drop_processed_at(database: &str) {
    if let Some(path) = database.strip_prefix("sqlite://") {
        let pool = sqlx::SqlitePool::connect(&format!("sqlite://{path}"))
            .await
            .unwrap();
        sqlx::query("ALTER TABLE events DROP COLUMN processed_at")
            .execute(&pool)
            .await
            .unwrap();
        pool.close().await;
    } else {
        let pool = sqlx::PgPool::connect(database).await.unwrap();
        sqlx::query("ALTER TABLE events DROP COLUMN processed_at")
            .execute(&pool)
            .await
            .unwrap();
        pool.close().await;
    }
}

async fn migrations_and_drift(database: &str, cwd: &Path) {
    let (code, _, err) = run(&["migrate", "--check", "--database", database], cwd).await;
    assert_eq!(code, 1, "a fresh database has pending migrations: {err}");
    assert!(
        err.contains("is not applied") && err.contains("eventlog migrate"),
        "{err}"
    );
    let (code, out, err) = run(&["migrate", "--database", database], cwd).await;
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("applied migration"), "{out}");
    let (code, out, _) = run(&["migrate", "--check", "--database", database], cwd).await;
    assert_eq!(code, 0);
    assert!(out.contains("schema OK"), "{out}");

    drop_processed_at(database).await;
    let (code, _, err) = run(&["migrate", "--check", "--database", database], cwd).await;
    assert_eq!(code, 1);
    assert!(err.contains("table events: column processed_at"), "{err}");
    assert!(
        err.contains("ALTER TABLE events ADD COLUMN processed_at"),
        "{err}"
    );
    let (code, _, err) = run(
        &["serve", "--listen", "127.0.0.1:0", "--database", database],
        cwd,
    )
    .await;
    assert_eq!(code, 1, "serve refuses to start on drift");
    assert!(
        err.contains("column processed_at") && err.contains("did not start"),
        "{err}"
    );
}

#[tokio::test]
async fn migrate_check_and_refusing_to_start_on_drift_sqlite() {
    let dir = tempfile::tempdir().unwrap();
    let db = format!("sqlite://{}/drift.db", dir.path().display());
    migrations_and_drift(&db, dir.path()).await;
}

#[tokio::test]
async fn migrate_check_and_refusing_to_start_on_drift_postgres() {
    let Some((url, db)) = fresh_pg_database().await else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    migrations_and_drift(&url, dir.path()).await;
    drop_pg_database(&db).await;
}

/// Streams batches from 4 clients, kills the server with SIGKILL mid-stream, restarts it,
/// and checks that every acknowledged batch is wholly stored and no batch is half stored.
async fn acknowledged_events_survive_kill_9(database: &str, cwd: &Path) {
    const BATCH: usize = 100;
    let mut served = serve(database, cwd).await;
    let key = served.first_key.clone().unwrap();
    let url = served.url.clone();
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let senders: Vec<_> = (0..4)
        .map(|t| {
            let (url, key, stop) = (url.clone(), key.clone(), stop.clone());
            tokio::spawn(async move {
                let client = reqwest::Client::new();
                let mut acked = Vec::new();
                for b in 0.. {
                    if stop.load(std::sync::atomic::Ordering::Relaxed) {
                        break;
                    }
                    let tag = format!("c{t}-b{b}");
                    let events: Vec<Value> = (0..BATCH)
                        .map(|i| json!({"event_code": "DATA-002", "user_id": t, "correlation_id": tag, "metadata": {"i": i}}))
                        .collect();
                    let sent = client.post(format!("{url}/api/events/batch")).bearer_auth(&key).json(&json!({"events": events})).send().await;
                    match sent {
                        Ok(resp) if resp.status() == 201 => acked.push(tag),
                        _ => break,
                    }
                }
                acked
            })
        })
        .collect();
    tokio::time::sleep(Duration::from_millis(1500)).await;
    served.child.start_kill().unwrap(); // SIGKILL
    served.child.wait().await.unwrap();
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    let mut acked = HashSet::new();
    for s in senders {
        acked.extend(s.await.unwrap());
    }
    assert!(
        acked.len() >= 4,
        "the server acknowledged batches before the kill"
    );

    let mut restarted = serve(database, cwd).await;
    let client = reqwest::Client::new();
    let mut per_tag: HashMap<String, usize> = HashMap::new();
    let mut cursor: Option<String> = None;
    loop {
        let mut req = client
            .get(format!("{}/api/events/recent?limit=1000", restarted.url))
            .bearer_auth(&key);
        if let Some(c) = &cursor {
            req = req.query(&[("cursor", c)]);
        }
        let page: Value = req.send().await.unwrap().json().await.unwrap();
        for e in page["events"].as_array().unwrap() {
            *per_tag
                .entry(e["correlation_id"].as_str().unwrap().to_owned())
                .or_default() += 1;
        }
        match page["next_cursor"].as_str() {
            Some(c) => cursor = Some(c.to_owned()),
            None => break,
        }
    }
    for tag in &acked {
        assert_eq!(
            per_tag.get(tag),
            Some(&BATCH),
            "acknowledged batch {tag} is wholly stored"
        );
    }
    for (tag, n) in &per_tag {
        assert_eq!(*n, BATCH, "batch {tag} is not half stored");
    }
    restarted.child.kill().await.unwrap();
}

#[tokio::test]
async fn acknowledged_events_survive_kill_9_sqlite() {
    let dir = tempfile::tempdir().unwrap();
    let db = format!("sqlite://{}/crash.db", dir.path().display());
    acknowledged_events_survive_kill_9(&db, dir.path()).await;
}

#[tokio::test]
async fn acknowledged_events_survive_kill_9_postgres() {
    let Some((url, db)) = fresh_pg_database().await else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    acknowledged_events_survive_kill_9(&url, dir.path()).await;
    drop_pg_database(&db).await;
}

/// `eventlog demo` fills a store through the normal write path: the requested number of
/// events, over the requested days, every page's material present (platform events,
/// failed logins, errors, predictions with confidences), rollups kept (the summary counts
/// them all), detection run (SQL injection found), the same seed writing the same events.
async fn demo_fills_a_living_store(database: &str, cwd: &Path) {
    let (code, out, err) = run(
        &[
            "demo",
            "--events",
            "3000",
            "--days",
            "3",
            "--seed",
            "7",
            "--database",
            database,
        ],
        cwd,
    )
    .await;
    assert_eq!(code, 0, "{out}{err}");
    assert!(out.contains("demo events over 3 days"), "{out}");
    let served = serve(database, cwd).await;
    let key = match &served.first_key {
        Some(k) => k.clone(),
        None => panic!(
            "a fresh store gets its first admin key: {:?}",
            served.stdout
        ),
    };
    let client = reqwest::Client::new();
    let get = |path: &str| {
        client
            .get(format!("{}{path}", served.url))
            .bearer_auth(&key)
            .send()
    };
    let summary: Value = get("/api/events/analytics/summary?hours=96")
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let total = summary["total_events"].as_i64().unwrap();
    assert!(
        (3000..3600).contains(&total),
        "about 3000 plus detections: {summary}"
    );
    assert!(summary["error_rate_percent"].as_f64().unwrap() > 0.0);
    assert!(summary["active_users"].as_i64().unwrap() >= 10);
    for (filter, what) in [
        ("category=PLATFORM", "platform events"),
        ("event_code=AUTH-002", "failed logins"),
        ("event_code=PRED-002", "predictions"),
        ("event_code=SEC-003", "detected SQL injection"),
        ("event_code=AUTH-005", "the brute-force lockout"),
    ] {
        let page: Value = get(&format!("/api/events/recent?{filter}&limit=1"))
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        assert_eq!(page["events"].as_array().unwrap().len(), 1, "{what}");
    }
    let since = (chrono::Utc::now() - chrono::Duration::days(3) - chrono::Duration::hours(1))
        .to_rfc3339()
        .replace('+', "%2B");
    let older: Value = get(&format!("/api/events/recent?until={since}&limit=1"))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert!(
        older["events"].as_array().unwrap().is_empty(),
        "within --days"
    );
    drop(served);
    let (code, _, err) = run(&["demo", "--days", "0", "--database", database], cwd).await;
    assert_eq!(code, 1);
    assert!(err.contains("--days must be at least 1"), "{err}");
}

#[tokio::test]
async fn demo_fills_a_living_store_sqlite() {
    let dir = tempfile::tempdir().unwrap();
    let db = format!("sqlite://{}/demo.db", dir.path().display());
    demo_fills_a_living_store(&db, dir.path()).await;
}

#[tokio::test]
async fn demo_fills_a_living_store_postgres() {
    let Some((url, db)) = fresh_pg_database().await else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    demo_fills_a_living_store(&url, dir.path()).await;
    drop_pg_database(&db).await;
}
