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
        for private in ["initial-admin.key", "eventlog.db", "eventlog.db-wal"] {
            let path = dir.path().join("eventlog-data").join(private);
            assert_eq!(
                std::fs::metadata(&path).unwrap().permissions().mode() & 0o777,
                0o600,
                "{private}"
            );
        }
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
    // Names and tenants that no event field could hold are refused before anything is
    // stored (they used to panic after storing the key).
    let long = "n".repeat(129);
    for (flag, value, expect) in [
        ("--name", "a\nb\u{1b}[31m", "control characters"),
        ("--name", long.as_str(), "the limit is 128"),
        ("--tenant", "", "must not be empty"),
        ("--tenant", long.as_str(), "the limit is 128"),
    ] {
        let mut args = vec!["keys", "create", "--role", "ingest", "--database", db];
        if flag == "--tenant" {
            args.extend(["--name", "tenant-key"]);
        }
        args.extend([flag, value]);
        let (code, _, err) = run(&args, dir.path()).await;
        assert_eq!(code, 1, "{flag} {value:?}: {err}");
        assert!(err.contains(flag) && err.contains(expect), "{err}");
        assert!(!err.contains("panicked"), "{err}");
    }
    let (_, list, _) = run(&["keys", "list", "--database", db], dir.path()).await;
    assert!(
        !list.contains("tenant-key") && !list.contains("nnnn"),
        "{list}"
    );
}

/// `keys create` and `keys revoke` leave ADMIN events (who, which key, role, origins); a
/// publishable key needs origins and only it takes them.
#[tokio::test]
async fn key_changes_are_admin_events() {
    let dir = tempfile::tempdir().unwrap();
    let db = "sqlite://audit.db";
    assert_eq!(run(&["migrate", "--database", db], dir.path()).await.0, 0);
    let create = |role: &'static str, extra: &'static [&'static str]| {
        let mut args = vec![
            "keys",
            "create",
            "--role",
            role,
            "--name",
            "web",
            "--database",
            db,
        ];
        args.extend_from_slice(extra);
        args
    };
    let (code, _, err) = run(&create("publishable", &[]), dir.path()).await;
    assert_eq!(code, 1);
    assert!(err.contains("--origin"), "{err}");
    let (code, _, err) = run(
        &create("ingest", &["--origin", "https://app.example"]),
        dir.path(),
    )
    .await;
    assert_eq!(code, 1);
    assert!(err.contains("only for --role publishable"), "{err}");
    let (code, _, err) = run(
        &create("publishable", &["--origin", "app.example"]),
        dir.path(),
    )
    .await;
    assert_eq!(code, 1);
    assert!(err.contains("https://"), "{err}");
    let (code, out, err) = run(
        &create(
            "publishable",
            &[
                "--origin",
                "https://App.example/",
                "--origin",
                "http://localhost:3000",
            ],
        ),
        dir.path(),
    )
    .await;
    assert_eq!(code, 0, "{err}");
    assert_eq!(
        run(&["keys", "revoke", "web", "--database", db], dir.path())
            .await
            .0,
        0
    );

    let store = eventlog_store::open(&format!("sqlite://{}/audit.db", dir.path().display()))
        .await
        .unwrap();
    let mut page = store
        .recent(&RecentQuery {
            category: vec!["ADMIN".into()],
            limit: 10,
            ..RecentQuery::default()
        })
        .await
        .unwrap();
    page.events.reverse();
    let rows: Vec<(String, String, String, String)> = page
        .events
        .iter()
        .map(|e| {
            let r = &e.record;
            (
                r.event_code.clone().unwrap_or_default(),
                r.resource_id.clone().unwrap_or_default(),
                r.username.clone().unwrap_or_default(),
                r.metadata
                    .as_ref()
                    .map(Value::to_string)
                    .unwrap_or_default(),
            )
        })
        .collect();
    assert_eq!(rows.len(), 2, "{rows:?}");
    assert_eq!(
        (rows[0].0.as_str(), rows[0].1.as_str(), rows[0].2.as_str()),
        ("ADMIN-001", "web", "cli")
    );
    let created: Value = serde_json::from_str(&rows[0].3).unwrap();
    assert_eq!(created["role"], json!("publishable"));
    assert_eq!(
        created["origins"],
        json!(["https://app.example", "http://localhost:3000"])
    );
    assert!(
        !rows[0].3.contains(out.trim()),
        "the secret is never in the audit trail"
    );
    assert_eq!(
        (rows[1].0.as_str(), rows[1].1.as_str()),
        ("ADMIN-003", "web")
    );
    let names: Vec<&str> = page
        .events
        .iter()
        .map(|e| e.record.event_name.as_str())
        .collect();
    assert_eq!(names, ["API Key Created", "API Key Revoked"]);
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
    match eventlog_store::sqlite_path(database) {
        // A check changes nothing: it does not create the file it was asked about.
        Some(file) => assert!(
            err.contains("there is no database") && !Path::new(file).exists(),
            "{err}"
        ),
        None => assert!(
            err.contains("is not applied") && err.contains("eventlog migrate"),
            "{err}"
        ),
    }
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

// ---- Operations: rollups rebuild, retention + archive restore, export ----

use chrono::{Duration as TimeDelta, Utc};
use eventlog_core::validate::Validator;
use eventlog_core::{parse_event, Catalog, ValidatedEvent, ValidationPolicy};
use eventlog_store::{RecentQuery, Store};

/// A valid event with this id, severity and category, `age` before `now`.
fn aged_at(
    id: &str,
    severity: &str,
    category: &str,
    now: chrono::DateTime<Utc>,
    age: TimeDelta,
) -> ValidatedEvent {
    let raw = json!({
        "event_id": id,
        "event_category": category,
        "event_type": "RETENTION_TEST",
        "severity": severity,
        "user_id": 7,
        "metadata": {"note": format!("event {id}")},
        "timestamp": (now - age).to_rfc3339(),
    });
    Validator::new(ValidationPolicy::default(), Catalog::built_in())
        .validate(parse_event(raw.to_string().as_bytes()).unwrap(), Utc::now())
        .unwrap()
}

/// A valid event with this id, severity and category, `age` before now.
fn aged(id: &str, severity: &str, category: &str, age: TimeDelta) -> ValidatedEvent {
    aged_at(id, severity, category, Utc::now(), age)
}

/// Every stored event, newest first (through the store, as the API pages).
async fn all_events(store: &dyn Store) -> Vec<eventlog_core::StoredEvent> {
    let mut q = RecentQuery {
        limit: 1000,
        ..Default::default()
    };
    let mut out = Vec::new();
    loop {
        let page = store.recent(&q).await.unwrap();
        out.extend(page.events);
        match page
            .next_cursor
            .as_deref()
            .and_then(eventlog_store::Cursor::decode)
        {
            Some(c) => q.cursor = Some(c),
            None => return out,
        }
    }
}

/// Ids of the stored events that are not eventlog's own ADMIN audit events.
async fn app_ids(store: &dyn Store) -> HashSet<String> {
    all_events(store)
        .await
        .into_iter()
        .filter(|e| e.record.event_category != "ADMIN")
        .map(|e| e.record.event_id)
        .collect()
}

fn db_args<'a>(database: &'a str, config: &'a str) -> [&'a str; 4] {
    ["--database", database, "--config", config]
}

async fn run_ok(args: &[&str], cwd: &Path) -> String {
    let (code, out, err) = run(args, cwd).await;
    assert_eq!(code, 0, "{args:?}\nstdout: {out}\nstderr: {err}");
    out
}

/// Reads every line of a zstd JSONL archive.
fn archive_lines(path: &Path) -> Vec<Value> {
    use std::io::BufRead;
    let decoder = zstd::Decoder::new(std::fs::File::open(path).unwrap()).unwrap();
    std::io::BufReader::new(decoder)
        .lines()
        .map(|l| serde_json::from_str(&l.unwrap()).unwrap())
        .collect()
}

/// Writes `cwd/NAME.toml`: checkpoints signed with `cwd/NAME.key`, archives under
/// `cwd/archive`, then `extra` TOML. Returns its path for `--config`.
fn retention_config(cwd: &Path, name: &str, extra: &str) -> String {
    let file = cwd.join(format!("{name}.toml"));
    std::fs::write(
        &file,
        format!(
            "[integrity]\nsigning_key_file = {:?}\n[retention]\narchive_dir = {:?}\n{extra}",
            cwd.join(format!("{name}.key")),
            cwd.join("archive")
        ),
    )
    .unwrap();
    file.display().to_string()
}

/// The folder of the (only) retention run under `cwd/archive`, and its manifest.
fn run_manifest(cwd: &Path) -> (std::path::PathBuf, Value) {
    let run_dir = std::fs::read_dir(cwd.join("archive"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .find(|p| {
            p.file_name()
                .unwrap()
                .to_string_lossy()
                .starts_with("retention-")
        })
        .expect("a run folder");
    let manifest =
        serde_json::from_slice(&std::fs::read(run_dir.join("manifest.json")).unwrap()).unwrap();
    (run_dir, manifest)
}

async fn retention_archives_exactly_what_it_deletes(database: &str, cwd: &Path) {
    let config = retention_config(
        cwd,
        "eventlog",
        "[retention.categories.SECURITY]\nINFO = 365\n",
    );
    let args = db_args(database, &config);
    run_ok(&["migrate", args[0], args[1]], cwd).await;
    let store = eventlog_store::open(database).await.unwrap();
    let day = TimeDelta::days(1);
    let mut events = Vec::new();
    let mut expired = HashSet::new();
    let mut kept = HashSet::new();
    let mut add = |id: String, severity: &str, category: &str, age: TimeDelta, expires: bool| {
        events.push(aged(&id, severity, category, age));
        if expires {
            expired.insert(id)
        } else {
            kept.insert(id)
        };
    };
    for i in 0..3 {
        add(format!("debug-old-{i}"), "DEBUG", "AUTH", day * 10, true);
    }
    for i in 0..2 {
        add(format!("debug-new-{i}"), "DEBUG", "AUTH", day * 2, false);
    }
    for i in 0..4 {
        add(
            format!("info-old-{i}"),
            "INFO",
            "AUTH",
            day * 40 + TimeDelta::hours(i),
            true,
        );
    }
    for i in 0..2 {
        // The per-category override keeps SECURITY INFO for 365 days.
        add(
            format!("security-info-{i}"),
            "INFO",
            "SECURITY",
            day * 40,
            false,
        );
    }
    add("critical-old".into(), "CRITICAL", "AUTH", day * 100, false);
    for i in 0..5 {
        // Alone in their month: PostgreSQL drops the partition whole.
        add(
            format!("debug-ancient-{i}"),
            "DEBUG",
            "AUTH",
            day * 200 + TimeDelta::minutes(i),
            true,
        );
    }
    let requests: Vec<Vec<ValidatedEvent>> = events.into_iter().map(|e| vec![e]).collect();
    store.write(&requests).await.unwrap();
    assert_eq!(app_ids(store.as_ref()).await.len(), 17);

    let out = run_ok(
        &[
            "retention",
            "run",
            "--dry-run",
            args[0],
            args[1],
            args[2],
            args[3],
        ],
        cwd,
    )
    .await;
    assert!(out.contains("dry run: 12 event(s) would go"), "{out}");
    assert!(
        out.contains("DEBUG      total 8") && out.contains("INFO       total 4"),
        "{out}"
    );
    assert_eq!(
        app_ids(store.as_ref()).await.len(),
        17,
        "a dry run deletes nothing"
    );

    let out = run_ok(
        &["retention", "run", args[0], args[1], args[2], args[3]],
        cwd,
    )
    .await;
    assert!(
        out.contains("archived 12 event(s)") && out.contains("deleted 12 event(s)"),
        "{out}"
    );
    if database.starts_with("postgres") {
        assert!(out.contains("dropped 1 partition(s)"), "{out}");
    }
    assert_eq!(
        app_ids(store.as_ref()).await,
        kept,
        "exactly the expired events are gone"
    );

    // The archives hold exactly the deleted events, as the manifest says.
    let (run_dir, manifest) = run_manifest(cwd);
    let mut archived = HashSet::new();
    let mut files = Vec::new();
    for entry in manifest["archives"].as_array().unwrap() {
        let file = run_dir.join(entry["file"].as_str().unwrap());
        let lines = archive_lines(&file);
        assert_eq!(lines.len() as u64, entry["count"].as_u64().unwrap());
        assert_eq!(lines[0]["event_id"], entry["first_event_id"]);
        for l in &lines {
            assert!(
                archived.insert(l["event_id"].as_str().unwrap().to_owned()),
                "archived once"
            );
        }
        files.push(file);
    }
    assert_eq!(archived, expired, "archived exactly what was deleted");
    // One archive per UTC day: 10, 40 and 200 days ago (a day more where hours cross midnight).
    assert!((3..=5).contains(&files.len()), "{files:?}");

    let out = run_ok(&["verify", args[0], args[1], args[2], args[3]], cwd).await;
    assert!(
        out.starts_with("OK") && out.contains("12 pruned by retention"),
        "{out}"
    );

    let admin = all_events(store.as_ref())
        .await
        .into_iter()
        .find(|e| e.record.event_code.as_deref() == Some("ADMIN-007"))
        .expect("the run is recorded as ADMIN-007");
    let meta = admin.record.metadata.unwrap();
    assert_eq!(
        (meta["archived"].as_u64(), meta["deleted"].as_u64()),
        (Some(12), Some(12))
    );
    assert_eq!(admin.record.event_name, "Log Cleanup");

    // Restore brings the same events back; a second restore stores nothing new.
    for file in &files {
        let out = run_ok(
            &[
                "archive",
                "restore",
                &file.display().to_string(),
                args[0],
                args[1],
                args[2],
                args[3],
            ],
            cwd,
        )
        .await;
        assert!(out.contains("restored"), "{out}");
    }
    let mut all: HashSet<String> = kept.clone();
    all.extend(expired.iter().cloned());
    assert_eq!(app_ids(store.as_ref()).await, all);
    for file in &files {
        for line in archive_lines(file) {
            let back = store
                .get_event(line["event_id"].as_str().unwrap(), None)
                .await
                .unwrap()
                .unwrap();
            let mut back = serde_json::to_value(&back.record).unwrap();
            let mut line = line.clone();
            for v in [&mut back, &mut line] {
                let m = v.as_object_mut().unwrap();
                m.remove("created_at");
                m.remove("processed_at");
            }
            assert_eq!(back, line, "the restored event is the archived one");
        }
        let out = run_ok(
            &[
                "archive",
                "restore",
                &file.display().to_string(),
                args[0],
                args[1],
                args[2],
                args[3],
            ],
            cwd,
        )
        .await;
        assert!(out.contains("; 0 restored"), "{out}");
    }
    assert_eq!(app_ids(store.as_ref()).await.len(), 17);
    // Each restore is on the audit trail, with what it brought back.
    let restores: Vec<_> = all_events(store.as_ref())
        .await
        .into_iter()
        .filter(|e| e.record.event_name == "Archive Restored")
        .map(|e| e.record.metadata.unwrap())
        .collect();
    assert_eq!(restores.len(), 2 * files.len(), "{restores:?}");
    let restored: u64 = restores
        .iter()
        .map(|m| m["restored"].as_u64().unwrap())
        .sum();
    assert_eq!(restored as usize, expired.len(), "{restores:?}");
    let out = run_ok(&["verify", args[0], args[1], args[2], args[3]], cwd).await;
    assert!(out.starts_with("OK"), "{out}");

    // A changed archive is refused before anything is imported.
    let mut bytes = std::fs::read(&files[0]).unwrap();
    let last = bytes.len() - 1;
    bytes[last] ^= 0xff;
    std::fs::write(&files[0], bytes).unwrap();
    let (code, _, err) = run(
        &[
            "archive",
            "restore",
            &files[0].display().to_string(),
            args[0],
            args[1],
            args[2],
            args[3],
        ],
        cwd,
    )
    .await;
    assert_eq!(code, 1);
    assert!(err.contains("SHA-256"), "{err}");
}

#[tokio::test]
async fn retention_archives_exactly_what_it_deletes_sqlite() {
    let dir = tempfile::tempdir().unwrap();
    let db = format!("sqlite://{}/ret.db", dir.path().display());
    retention_archives_exactly_what_it_deletes(&db, dir.path()).await;
}

#[tokio::test]
async fn retention_archives_exactly_what_it_deletes_postgres() {
    let Some((url, db)) = fresh_pg_database().await else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    retention_archives_exactly_what_it_deletes(&url, dir.path()).await;
    drop_pg_database(&db).await;
}

/// A store whose checkpoints are signed refuses a key file that is missing (a command run
/// from another folder) or holds another key, instead of signing with a second key that
/// `verify` would then report as tampering; a dry run needs no key at all.
#[tokio::test]
async fn signing_needs_the_key_that_signed_the_store() {
    let dir = tempfile::tempdir().unwrap();
    let cwd = dir.path();
    let database = format!("sqlite://{}/keyed.db", cwd.display());
    let (first, other) = (
        retention_config(cwd, "first", ""),
        retention_config(cwd, "other", ""),
    );
    run_ok(&["migrate", "--database", &database], cwd).await;
    let store = eventlog_store::open(&database).await.unwrap();
    store
        .write(&[vec![aged(
            "keyed-old",
            "DEBUG",
            "AUTH",
            TimeDelta::days(10),
        )]])
        .await
        .unwrap();
    run_ok(
        &[
            "retention",
            "run",
            "--database",
            &database,
            "--config",
            &first,
        ],
        cwd,
    )
    .await;

    let dry = [
        "retention",
        "run",
        "--dry-run",
        "--database",
        &database,
        "--config",
        &other,
    ];
    run_ok(&dry, cwd).await;
    assert!(!cwd.join("other.key").exists(), "a dry run creates no key");
    let real_run = [
        "retention",
        "run",
        "--database",
        &database,
        "--config",
        &other,
    ];
    let (code, _, err) = run(&real_run, cwd).await;
    assert_eq!(code, 1, "{err}");
    assert!(err.contains("checkpoints are signed"), "{err}");
    assert!(!cwd.join("other.key").exists());
    // Another key is refused as well.
    std::fs::write(cwd.join("other.key"), format!("{}\n", "11".repeat(32))).unwrap();
    let (code, _, err) = run(&real_run, cwd).await;
    assert_eq!(code, 1, "{err}");
    assert!(
        err.contains("but this store's checkpoints are signed by"),
        "{err}"
    );
    let out = run_ok(
        &["verify", "--database", &database, "--config", &first],
        cwd,
    )
    .await;
    assert!(out.starts_with("OK"), "{out}");
}

/// Archiving ahead: closed days are archived once; a month whose days are unchanged since
/// is dropped without being archived again (and its pruning is accounted from the leaves
/// the archives kept: `verify` says OK); a month that got a late event is archived the
/// ordinary way, late event included; the daily archives restore.
async fn archives_made_ahead_let_retention_drop_a_month_unread(database: &str, cwd: &Path) {
    let config = retention_config(cwd, "eventlog", "");
    let args = db_args(database, &config);
    run_ok(&["migrate", args[0], args[1]], cwd).await;
    let store = eventlog_store::open(database).await.unwrap();
    let day = TimeDelta::days(1);
    let mut events = Vec::new();
    for i in 0..5 {
        let severity = ["DEBUG", "INFO", "WARNING", "ERROR", "INFO"][i];
        let category = ["AUTH", "DATA", "SECURITY", "SYSTEM", "AUTH"][i];
        events.push(aged(
            &format!("ahead-untouched-{i}"),
            severity,
            category,
            day * 400 + TimeDelta::minutes(i as i64),
        ));
    }
    for i in 0..3 {
        events.push(aged(
            &format!("ahead-late-month-{i}"),
            "INFO",
            "AUTH",
            day * 500 + TimeDelta::minutes(i),
        ));
    }
    events.push(aged("ahead-recent", "INFO", "AUTH", day * 2));
    events.push(aged("ahead-today", "INFO", "AUTH", TimeDelta::zero()));
    let requests: Vec<Vec<ValidatedEvent>> = events.into_iter().map(|e| vec![e]).collect();
    store.write(&requests).await.unwrap();

    let out = run_ok(
        &["archive", "ahead", args[0], args[1], args[2], args[3]],
        cwd,
    )
    .await;
    // Today is not over: the other 9 are archived, on 3 to 6 days (minutes may cross midnight).
    assert!(out.contains("archived 9 event(s) of "), "{out}");
    let out = run_ok(
        &["archive", "ahead", args[0], args[1], args[2], args[3]],
        cwd,
    )
    .await;
    assert!(out.contains("no closed day left to archive"), "{out}");
    let daily = cwd.join("archive").join("daily");
    let manifest: Value =
        serde_json::from_slice(&std::fs::read(daily.join("manifest.json")).unwrap()).unwrap();
    let entries = manifest["archives"].as_array().unwrap();
    assert!(entries.iter().all(|e| e["max_seq"].is_i64()), "{manifest}");

    // A late event for a day of the older month, which was archived ahead already.
    store
        .write(&[vec![aged(
            "ahead-late-arrival",
            "INFO",
            "AUTH",
            day * 500 + TimeDelta::minutes(30),
        )]])
        .await
        .unwrap();

    let out = run_ok(
        &["retention", "run", args[0], args[1], args[2], args[3]],
        cwd,
    )
    .await;
    assert!(out.contains("dropped 2 partition(s)"), "{out}");
    assert!(out.contains("deleted 9 event(s)"), "{out}");
    // The untouched month was not archived again; the month with the late event was.
    assert!(out.contains("archived 4 event(s)"), "{out}");
    assert!(
        out.contains("5 event(s) of the dropped partitions were archived ahead"),
        "{out}"
    );
    let left = app_ids(store.as_ref()).await;
    assert_eq!(
        left,
        ["ahead-recent", "ahead-today"]
            .into_iter()
            .map(String::from)
            .collect::<HashSet<_>>()
    );
    let out = run_ok(&["verify", args[0], args[1], args[2], args[3]], cwd).await;
    assert!(
        out.starts_with("OK") && out.contains("9 pruned by retention"),
        "{out}"
    );

    // The run's manifest names every deleted event's archive: the daily ones it reused and
    // the one it wrote; the late event is in the latter.
    let (run_dir, run_manifest) = run_manifest(cwd);
    let mut archived = HashSet::new();
    for entry in run_manifest["archives"].as_array().unwrap() {
        for line in archive_lines(&run_dir.join(entry["file"].as_str().unwrap())) {
            archived.insert(line["event_id"].as_str().unwrap().to_owned());
        }
    }
    assert_eq!(archived.len(), 9, "{archived:?}");
    assert!(archived.contains("ahead-late-arrival"), "{archived:?}");

    // The daily archives restore like any other.
    for entry in entries {
        let file = daily.join(entry["file"].as_str().unwrap());
        run_ok(
            &[
                "archive",
                "restore",
                &file.display().to_string(),
                args[0],
                args[1],
                args[2],
                args[3],
            ],
            cwd,
        )
        .await;
    }
    assert!(app_ids(store.as_ref()).await.contains("ahead-untouched-3"));
}

#[tokio::test]
async fn archives_made_ahead_let_retention_drop_a_month_unread_postgres() {
    let Some((url, db)) = fresh_pg_database().await else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    archives_made_ahead_let_retention_drop_a_month_unread(&url, dir.path()).await;
    drop_pg_database(&db).await;
}

/// Events per severity in the daily rollup of the UTC day starting at `day`.
async fn daily_rollup_events(database: &str, day: chrono::DateTime<Utc>) -> i64 {
    let sql = "SELECT CAST(COALESCE(sum(events), 0) AS BIGINT) FROM event_summary_daily \
               WHERE dimension = 'severity' AND bucket = ";
    if let Some(path) = database.strip_prefix("sqlite://") {
        let pool = sqlx::SqlitePool::connect(&format!("sqlite://{path}"))
            .await
            .unwrap();
        let n = sqlx::query_scalar(&format!("{sql}?"))
            .bind(day.timestamp_micros())
            .fetch_one(&pool)
            .await
            .unwrap();
        pool.close().await;
        n
    } else {
        let pool = sqlx::PgPool::connect(database).await.unwrap();
        let n = sqlx::query_scalar(&format!("{sql}$1"))
            .bind(day)
            .fetch_one(&pool)
            .await
            .unwrap();
        pool.close().await;
        n
    }
}

async fn wipe_rollups(database: &str) {
    let tables = [
        "event_summary_minute",
        "event_summary_hourly",
        "event_summary_daily",
    ];
    if let Some(path) = database.strip_prefix("sqlite://") {
        let pool = sqlx::SqlitePool::connect(&format!("sqlite://{path}"))
            .await
            .unwrap();
        for t in tables {
            sqlx::query(&format!("DELETE FROM {t}"))
                .execute(&pool)
                .await
                .unwrap();
        }
        pool.close().await;
    } else {
        let pool = sqlx::PgPool::connect(database).await.unwrap();
        for t in tables {
            sqlx::query(&format!("DELETE FROM {t}"))
                .execute(&pool)
                .await
                .unwrap();
        }
        pool.close().await;
    }
}

async fn rollups_rebuild_recomputes_from_events(database: &str, cwd: &Path) {
    run_ok(&["migrate", "--database", database], cwd).await;
    let store = eventlog_store::open(database).await.unwrap();
    let day = (Utc::now() - TimeDelta::days(3))
        .date_naive()
        .and_hms_opt(0, 0, 0)
        .unwrap()
        .and_utc();
    let ev = |id: &str, t: chrono::DateTime<Utc>| {
        let raw = json!({"event_id": id, "event_category": "AUTH", "event_type": "USER_LOGIN", "timestamp": t.to_rfc3339()});
        Validator::new(ValidationPolicy::default(), Catalog::built_in())
            .validate(parse_event(raw.to_string().as_bytes()).unwrap(), Utc::now())
            .unwrap()
    };
    store
        .write(&[(0..3)
            .map(|i| ev(&format!("r-{i}"), day + TimeDelta::hours(9 + i)))
            .collect()])
        .await
        .unwrap();
    // The rollups are lost (a bulk load or a dump without them), then a late event of
    // that day is back-filled.
    wipe_rollups(database).await;
    store
        .write(&[vec![ev("late-1", day + TimeDelta::hours(23))]])
        .await
        .unwrap();
    assert_eq!(daily_rollup_events(database, day).await, 1);
    let (code, _, err) = run(
        &[
            "rollups",
            "rebuild",
            "--since",
            "yesterday",
            "--database",
            database,
        ],
        cwd,
    )
    .await;
    assert_eq!(code, 1);
    assert!(err.contains("--since `yesterday`"), "{err}");
    let since = (day - TimeDelta::days(1)).format("%Y-%m-%d").to_string();
    let out = run_ok(
        &[
            "rollups",
            "rebuild",
            "--since",
            &since,
            "--database",
            database,
        ],
        cwd,
    )
    .await;
    assert!(
        out.contains("rebuilt the rollups of 1 day(s) from 4 event(s)"),
        "{out}"
    );
    assert_eq!(
        daily_rollup_events(database, day).await,
        4,
        "the late event is in its day"
    );
    let today = Utc::now()
        .date_naive()
        .and_hms_opt(0, 0, 0)
        .unwrap()
        .and_utc();
    assert_eq!(
        daily_rollup_events(database, today).await,
        0,
        "not in the day it arrived"
    );
}

#[tokio::test]
async fn rollups_rebuild_recomputes_from_events_sqlite() {
    let dir = tempfile::tempdir().unwrap();
    let db = format!("sqlite://{}/roll.db", dir.path().display());
    rollups_rebuild_recomputes_from_events(&db, dir.path()).await;
}

#[tokio::test]
async fn rollups_rebuild_recomputes_from_events_postgres() {
    let Some((url, db)) = fresh_pg_database().await else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    rollups_rebuild_recomputes_from_events(&url, dir.path()).await;
    drop_pg_database(&db).await;
}

async fn export_writes_the_filtered_events(database: &str, cwd: &Path) {
    run_ok(&["migrate", "--database", database], cwd).await;
    let store = eventlog_store::open(database).await.unwrap();
    let now = Utc::now();
    let events: Vec<ValidatedEvent> = (0..1_500)
        .map(|i| {
            let severity = if i % 3 == 0 { "ERROR" } else { "INFO" };
            aged_at(
                &format!("e-{i:04}"),
                severity,
                "DATA",
                now,
                TimeDelta::seconds(3_000 - i),
            )
        })
        .collect();
    store.write(&[events]).await.unwrap();
    let out_file = cwd.join("errors.jsonl");
    let out = run_ok(
        &[
            "export",
            "--format",
            "jsonl",
            "--severity",
            "error",
            "-o",
            &out_file.display().to_string(),
            "--database",
            database,
        ],
        cwd,
    )
    .await;
    assert!(out.contains("exported 500 event(s)"), "{out}");
    let ids: Vec<String> = std::fs::read_to_string(&out_file)
        .unwrap()
        .lines()
        .map(|l| {
            serde_json::from_str::<Value>(l).unwrap()["event_id"]
                .as_str()
                .unwrap()
                .to_owned()
        })
        .collect();
    let want: Vec<String> = (0..1_500)
        .rev()
        .filter(|i| i % 3 == 0)
        .map(|i| format!("e-{i:04}"))
        .collect();
    assert_eq!(ids, want);
    // `-o -` writes the same lines to stdout (the summary goes to stderr).
    let (code, stdout, stderr) = run(
        &[
            "export",
            "--severity",
            "error",
            "-o",
            "-",
            "--database",
            database,
        ],
        cwd,
    )
    .await;
    assert_eq!(code, 0, "{stderr}");
    assert!(stderr.contains("exported 500 event(s)"), "{stderr}");
    assert_eq!(stdout, std::fs::read_to_string(&out_file).unwrap());

    let csv_file = cwd.join("window.csv");
    let since = (now - TimeDelta::seconds(2_000)).to_rfc3339();
    run_ok(
        &[
            "export",
            "--format",
            "csv",
            "--since",
            &since,
            "--category",
            "data",
            "-o",
            &csv_file.display().to_string(),
            "--database",
            database,
        ],
        cwd,
    )
    .await;
    let mut reader = csv::Reader::from_path(&csv_file).unwrap();
    assert_eq!(&reader.headers().unwrap()[0], "event_id");
    let rows = reader.records().count();
    // Events at now - (3000 - i) s: those at or after now - 2000 s are i >= 1000.
    assert_eq!(rows, 500);

    let audit = all_events(store.as_ref())
        .await
        .into_iter()
        .filter(|e| e.record.event_code.as_deref() == Some("ADMIN-006"))
        .count();
    assert_eq!(audit, 3, "each export is recorded");
}

#[tokio::test]
async fn export_writes_the_filtered_events_sqlite() {
    let dir = tempfile::tempdir().unwrap();
    let db = format!("sqlite://{}/exp.db", dir.path().display());
    export_writes_the_filtered_events(&db, dir.path()).await;
}

#[tokio::test]
async fn export_writes_the_filtered_events_postgres() {
    let Some((url, db)) = fresh_pg_database().await else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    export_writes_the_filtered_events(&url, dir.path()).await;
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
    let (code, _, err) = run(&["demo", "--events", "10", "--database", database], cwd).await;
    assert_eq!(code, 1, "a store with events is not filled again unasked");
    assert!(err.contains("--into-existing"), "{err}");
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

/// Guard rails a mistyped command meets: an export onto the database it reads is refused
/// before anything is truncated; a SQLite path that does not exist is named, and no empty
/// database is left behind; `verify` with a key that signed none of the checkpoints says so
/// (exit 1) instead of naming a forged checkpoint; a reader that leaves an export early
/// (`| head`) ends it quietly.
#[tokio::test]
async fn mistakes_are_named_and_destroy_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let cwd = dir.path();
    let db_file = cwd.join("guarded.db");
    let database = format!("sqlite://{}", db_file.display());
    run_ok(&["migrate", "--database", &database], cwd).await;
    let store = eventlog_store::open(&database).await.unwrap();
    let now = Utc::now();
    let events: Vec<ValidatedEvent> = (0..3_000)
        .map(|i| {
            aged_at(
                &format!("g-{i:04}"),
                "INFO",
                "DATA",
                now,
                TimeDelta::seconds(i),
            )
        })
        .collect();
    store.write(&[events]).await.unwrap();
    drop(store);

    std::fs::hard_link(&db_file, cwd.join("linked.db")).unwrap();
    for target in [
        "guarded.db",
        "./guarded.db",
        "linked.db",
        "guarded.db-wal",
        "guarded.db-shm",
        "guarded.db-journal",
    ] {
        let (code, _, err) = run(&["export", "--database", &database, "-o", target], cwd).await;
        assert_eq!(code, 1, "{target}: {err}");
        assert!(
            err.contains("is the database being exported"),
            "{target}: {err}"
        );
    }
    assert!(!cwd.join("guarded.db-journal").exists());
    // Every event is still there (the file's size is no witness: the closed store's
    // checkpointer may still be copying its log into it).
    let out = run_ok(&["export", "--database", &database, "-o", "-"], cwd).await;
    assert_eq!(out.lines().count(), 3_000);

    let typo = format!("sqlite://{}/nosuch/typo.db", cwd.display());
    for args in [
        vec!["keys", "list", "--database", &typo],
        vec!["export", "--database", &typo, "-o", "-"],
        vec!["retention", "run", "--dry-run", "--database", &typo],
        vec!["rollups", "rebuild", "--database", &typo],
    ] {
        let (code, _, err) = run(&args, cwd).await;
        assert_eq!(code, 1, "{args:?}: {err}");
        assert!(err.contains("there is no database at"), "{args:?}: {err}");
    }
    let (code, _, err) = run(&["verify", "--database", &typo], cwd).await;
    assert_eq!(code, 2, "{err}");
    assert!(
        !cwd.join("nosuch").exists(),
        "nothing is created for a mistyped path"
    );

    // A retention run signs a checkpoint with the key it creates beside the store; another
    // key cannot verify.
    run_ok(&["retention", "run", "--database", &database], cwd).await;
    let signed = run_ok(&["verify", "--database", &database], cwd).await;
    assert!(signed.starts_with("OK"), "{signed}");
    let (code, out, err) = run(
        &[
            "verify",
            "--database",
            &database,
            "--public-key",
            &"22".repeat(32),
        ],
        cwd,
    )
    .await;
    assert_eq!(code, 1, "{out}{err}");
    assert!(!out.contains("TAMPERED"), "{out}");
    assert!(
        out.starts_with("NOT VERIFIED") && out.contains("signed none of this store's checkpoints"),
        "{err}"
    );
    let (code, _, err) = run(
        &[
            "verify",
            "--database",
            &database,
            "--public-key",
            "missing.pub",
        ],
        cwd,
    )
    .await;
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("there is no key file missing.pub"), "{err}");

    // A reader that takes one line and leaves.
    let mut child = Command::new(BIN)
        .args(["export", "--database", &database, "-o", "-"])
        .current_dir(cwd)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    assert!(lines.next_line().await.unwrap().is_some());
    drop(lines);
    let out = child.wait_with_output().await.unwrap();
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// Two retention runs on one store at once would archive the same events twice: while one
/// holds the store's retention lock (here the test, as `serve`'s schedule would), another
/// `retention run` or `archive ahead` refuses to start and changes nothing; a dry run still
/// reports; once the lock is released the run goes ahead.
async fn one_retention_run_at_a_time(database: &str, cwd: &Path) {
    run_ok(&["migrate", "--database", database], cwd).await;
    let store = eventlog_store::open(database).await.unwrap();
    store
        .write(&[vec![aged(
            "locked-old",
            "DEBUG",
            "AUTH",
            TimeDelta::days(10),
        )]])
        .await
        .unwrap();
    let lock = store
        .try_lock_job("retention")
        .await
        .unwrap()
        .expect("free");
    assert!(
        store.try_lock_job("retention").await.unwrap().is_none(),
        "held once at a time, within one process too"
    );
    for args in [
        vec!["retention", "run", "--database", database],
        vec!["archive", "ahead", "--database", database],
    ] {
        let (code, _, err) = run(&args, cwd).await;
        assert_eq!(code, 1, "{args:?}: {err}");
        assert!(err.contains("another retention run"), "{args:?}: {err}");
    }
    let dry = run_ok(
        &["retention", "run", "--dry-run", "--database", database],
        cwd,
    )
    .await;
    assert!(dry.contains("DEBUG"), "{dry}");
    assert_eq!(store.count_events().await.unwrap(), 1, "nothing deleted");
    drop(lock);
    // PostgreSQL ends the dropped connection's session, and its lock, a moment later.
    let mut free = None;
    for _ in 0..100 {
        free = store.try_lock_job("retention").await.unwrap();
        if free.is_some() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    drop(free.expect("released when dropped"));
    run_ok(&["retention", "run", "--database", database], cwd).await;
    assert!(
        app_ids(store.as_ref()).await.is_empty(),
        "deleted once unlocked"
    );
}

#[tokio::test]
async fn one_retention_run_at_a_time_sqlite() {
    let dir = tempfile::tempdir().unwrap();
    let database = format!("sqlite://{}/locked.db", dir.path().display());
    one_retention_run_at_a_time(&database, dir.path()).await;
}

#[tokio::test]
async fn one_retention_run_at_a_time_postgres() {
    let Some((database, db)) = fresh_pg_database().await else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    one_retention_run_at_a_time(&database, dir.path()).await;
    drop_pg_database(&db).await;
}

/// PostgreSQL over TLS, as managed databases require it: `sslmode=require` connects
/// encrypted; `verify-full` refuses a certificate no trusted CA signed (this machine's
/// PostgreSQL uses a self-signed one) and says where a private CA's certificate goes.
#[tokio::test]
async fn postgres_over_tls() {
    let Some((database, db)) = fresh_pg_database().await else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let admin = sqlx::PgPool::connect(&pg_admin_url()).await.unwrap();
    let ssl: String = sqlx::query_scalar("SHOW ssl")
        .fetch_one(&admin)
        .await
        .unwrap();
    let require = format!("{database}?sslmode=require");
    let (code, out, err) = run(&["migrate", "--database", &require], dir.path()).await;
    if ssl == "on" {
        assert_eq!(code, 0, "{out}{err}");
        let encrypted: bool =
            sqlx::query_scalar("SELECT ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()")
                .fetch_one(&sqlx::PgPool::connect(&require).await.unwrap())
                .await
                .unwrap();
        assert!(encrypted, "sslmode=require gives an encrypted session");
        let (code, _, err) = run(
            &[
                "keys",
                "list",
                "--database",
                &format!("{database}?sslmode=verify-full"),
            ],
            dir.path(),
        )
        .await;
        assert_eq!(code, 1, "{err}");
        assert!(err.contains("sslrootcert="), "{err}");
        // verify-ca takes rustls's process-wide provider, which two compiled-in backends
        // (sqlx's and reqwest's) leave unset unless the store sets it: refused, no panic.
        let (code, _, err) = run(
            &[
                "keys",
                "list",
                "--database",
                &format!("{database}?sslmode=verify-ca"),
            ],
            dir.path(),
        )
        .await;
        assert_eq!(code, 1, "{err}");
        assert!(!err.contains("panicked"), "{err}");
    } else {
        // A server without TLS: `require` is refused, not silently sent in the clear.
        assert_eq!(code, 1, "{out}{err}");
    }
    drop_pg_database(&db).await;
}
