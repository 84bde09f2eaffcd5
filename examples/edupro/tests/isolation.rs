//! Failure isolation (the seed 000 incident as a test), against real PostgreSQL and a real
//! eventlog server: whatever is wrong with the event log, edupro's login and CRUD answer
//! exactly as without it and quickly; events spool; once the fault is fixed every event
//! arrives exactly once.

use std::time::{Duration, Instant};

use edupro::{Application, Config};
use eventlog_client::EventLogger;
use serde_json::{json, Value};
use tokio::sync::oneshot;

const PASSWORD: &str = "Demo-Pass-2025";
/// The most any request may take in these tests, sink down or not.
const LATENCY_BUDGET: Duration = Duration::from_millis(500);

fn pg_admin_url() -> String {
    std::env::var("EVENTLOG_TEST_POSTGRES_URL")
        .unwrap_or_else(|_| "postgres://root@127.0.0.1:5432/postgres".to_owned())
}

fn db_url(name: &str) -> String {
    let admin = pg_admin_url();
    let (base, _) = admin.rsplit_once('/').unwrap();
    format!("{base}/{name}")
}

/// PostgreSQL, or `None` (loudly) outside CI when it is not running.
async fn admin_pool() -> Option<sqlx::PgPool> {
    match sqlx::PgPool::connect(&pg_admin_url()).await {
        Ok(pool) => Some(pool),
        Err(e) if std::env::var("CI").is_err() => {
            eprintln!(
                "\n!!!! SKIPPED: PostgreSQL is not reachable ({e}). In CI this fails. !!!!\n"
            );
            None
        }
        Err(e) => panic!("PostgreSQL is required in CI: {e}"),
    }
}

async fn drop_db(admin: &sqlx::PgPool, name: &str) {
    sqlx::query(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
        .execute(admin)
        .await
        .unwrap();
}

struct RunningApp {
    url: String,
    logger: Option<EventLogger>,
    stop: Option<oneshot::Sender<()>>,
    done: tokio::task::JoinHandle<()>,
    _dir: tempfile::TempDir,
}

impl RunningApp {
    async fn start(eventlog: impl FnOnce(&mut Config)) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let mut config = Config {
            listen: "127.0.0.1:0".into(),
            database: format!("sqlite://{}/edupro.db", dir.path().display()),
            eventlog_database: None,
            eventlog_url: None,
            eventlog_key: None,
            spool_dir: dir.path().join("spool"),
            no_eventlog: false,
            demo_password: Some(PASSWORD.into()),
        };
        eventlog(&mut config);
        let app = Application::build(&config).await.unwrap();
        let url = format!("http://{}", app.local_addr());
        let logger = app.logger();
        let (stop, stopped) = oneshot::channel::<()>();
        let done = tokio::spawn(async move {
            app.run_until_stopped(async {
                let _ = stopped.await;
            })
            .await
            .unwrap();
        });
        Self {
            url,
            logger,
            stop: Some(stop),
            done,
            _dir: dir,
        }
    }

    async fn stop(mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        let _ = self.done.await;
    }
}

/// Logs in, works on students, predicts, and tries the admin page as a teacher; returns
/// every status, and checks each answer came within the latency budget.
async fn scenario(base: &str) -> Vec<u16> {
    let client = reqwest::Client::new();
    let mut statuses = Vec::new();
    let mut timed = |status: u16, started: Instant, what: &str| {
        let took = started.elapsed();
        assert!(took < LATENCY_BUDGET, "{what} took {took:?}");
        statuses.push(status);
    };
    let t = Instant::now();
    let r = client
        .post(format!("{base}/api/auth/login"))
        .form(&[("username", "admin"), ("password", "wrong")])
        .send()
        .await
        .unwrap();
    timed(r.status().as_u16(), t, "failed login");
    let t = Instant::now();
    let r = client
        .post(format!("{base}/api/auth/login"))
        .form(&[("username", "admin"), ("password", PASSWORD)])
        .send()
        .await
        .unwrap();
    timed(r.status().as_u16(), t, "form login");
    let admin: Value = r.json().await.unwrap();
    let admin = admin["access_token"].as_str().unwrap().to_owned();
    let t = Instant::now();
    let r = client
        .post(format!("{base}/api/auth/login"))
        .json(&json!({"username": "guru01", "password": PASSWORD}))
        .send()
        .await
        .unwrap();
    timed(r.status().as_u16(), t, "JSON login");
    let guru: Value = r.json().await.unwrap();
    let guru = guru["access_token"].as_str().unwrap().to_owned();

    let t = Instant::now();
    let r = client
        .post(format!("{base}/api/students"))
        .bearer_auth(&guru)
        .json(&json!({"nis": "1001", "name": "Budi Santoso", "class": "X-1", "score": 81.5}))
        .send()
        .await
        .unwrap();
    timed(r.status().as_u16(), t, "create");
    let id = r.json::<Value>().await.unwrap()["id"].as_i64().unwrap();
    let calls = [
        ("GET", "/api/students?search=budi".to_owned(), None, &guru),
        ("GET", "/api/students".to_owned(), None, &String::new()),
        (
            "PUT",
            format!("/api/students/{id}"),
            Some(json!({"nis": "1001", "name": "Budi Santoso", "class": "XI-2", "score": 84.0})),
            &guru,
        ),
        ("GET", format!("/api/students/{id}"), None, &guru),
        (
            "POST",
            "/api/predictions".to_owned(),
            Some(json!({"student_id": id})),
            &guru,
        ),
        ("GET", "/api/admin/stats".to_owned(), None, &guru),
        ("GET", "/api/admin/stats".to_owned(), None, &admin),
        ("DELETE", format!("/api/students/{id}"), None, &admin),
        ("GET", format!("/api/students/{id}"), None, &admin),
    ];
    for (method, path, body, token) in calls {
        let mut req = client.request(method.parse().unwrap(), format!("{base}{path}"));
        if !token.is_empty() {
            req = req.bearer_auth(token);
        }
        if let Some(body) = body {
            req = req.json(&body);
        }
        let t = Instant::now();
        let r = req.send().await.unwrap();
        timed(r.status().as_u16(), t, &format!("{method} {path}"));
    }
    statuses
}

async fn baseline() -> Vec<u16> {
    let app = RunningApp::start(|c| c.no_eventlog = true).await;
    let statuses = scenario(&app.url).await;
    app.stop().await;
    assert_eq!(
        statuses,
        [401, 200, 200, 201, 200, 401, 200, 200, 200, 403, 200, 204, 404]
    );
    statuses
}

/// Waits until the event database holds every event the app logged, then checks each is
/// there exactly once.
async fn assert_all_arrived_once(logger: &EventLogger, db: &str) {
    let pool = sqlx::PgPool::connect(&db_url(db)).await.unwrap();
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        logger.flush().await;
        let (rows, distinct): (i64, i64) = sqlx::query_as(
            "SELECT COUNT(*), COUNT(DISTINCT event_id) FROM events WHERE source = 'edupro'",
        )
        .fetch_one(&pool)
        .await
        .unwrap();
        let stats = logger.stats();
        assert_eq!(rows, distinct, "no event is stored twice");
        if rows as u64 == stats.logged && stats.spool.as_ref().unwrap().pending_records == 0 {
            assert_eq!((stats.dead_lettered, stats.dropped), (0, 0), "{stats:?}");
            assert!(
                rows >= 20,
                "the scenario's requests and domain events: {rows}"
            );
            break;
        }
        assert!(
            Instant::now() < deadline,
            "only {rows} of {} events arrived: {stats:?}",
            stats.logged
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    pool.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_missing_column_in_the_event_table_changes_nothing_for_users() {
    let Some(admin) = admin_pool().await else {
        return;
    };
    let expected = baseline().await;
    let db = format!("edupro_iso_a_{}", uuid::Uuid::new_v4().simple());
    sqlx::query(&format!("CREATE DATABASE {db}"))
        .execute(&admin)
        .await
        .unwrap();
    let store = eventlog_store::open(&db_url(&db)).await.unwrap();
    store.migrate().await.unwrap();
    let pool = sqlx::PgPool::connect(&db_url(&db)).await.unwrap();
    sqlx::query("ALTER TABLE events DROP COLUMN processed_at")
        .execute(&pool)
        .await
        .unwrap();

    let app = RunningApp::start(|c| c.eventlog_database = Some(db_url(&db))).await;
    assert_eq!(scenario(&app.url).await, expected);
    let logger = app.logger.clone().unwrap();
    logger.flush().await;
    let stats = logger.stats();
    assert!(stats.spooled > 0 && stats.delivered == 0, "{stats:?}");
    assert!(stats.last_error.unwrap().contains("processed_at"));

    // The fix `eventlog migrate --check` prints for a column dropped outside eventlog.
    sqlx::query("ALTER TABLE events ADD COLUMN processed_at TIMESTAMPTZ")
        .execute(&pool)
        .await
        .unwrap();
    assert_all_arrived_once(&logger, &db).await;
    app.stop().await;
    pool.close().await;
    drop_db(&admin, &db).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unreachable_event_database_changes_nothing_for_users() {
    let Some(admin) = admin_pool().await else {
        return;
    };
    let expected = baseline().await;
    let db = format!("edupro_iso_b_{}", uuid::Uuid::new_v4().simple());
    // The database does not exist yet: every connection attempt is refused.
    let app = RunningApp::start(|c| c.eventlog_database = Some(db_url(&db))).await;
    assert_eq!(scenario(&app.url).await, expected);
    let logger = app.logger.clone().unwrap();
    logger.flush().await;
    assert!(logger.stats().spooled > 0);

    sqlx::query(&format!("CREATE DATABASE {db}"))
        .execute(&admin)
        .await
        .unwrap();
    eventlog_store::open(&db_url(&db))
        .await
        .unwrap()
        .migrate()
        .await
        .unwrap();
    assert_all_arrived_once(&logger, &db).await;
    app.stop().await;
    drop_db(&admin, &db).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_eventlog_server_that_is_down_changes_nothing_for_users() {
    let Some(admin) = admin_pool().await else {
        return;
    };
    let expected = baseline().await;
    let db = format!("edupro_iso_c_{}", uuid::Uuid::new_v4().simple());
    sqlx::query(&format!("CREATE DATABASE {db}"))
        .execute(&admin)
        .await
        .unwrap();
    let store = eventlog_store::open(&db_url(&db)).await.unwrap();
    store.migrate().await.unwrap();
    let key = eventlog_store::keys::generate_secret();
    store
        .create_key(&eventlog_store::keys::new_key(
            "edupro",
            eventlog_store::KeyRole::Ingest,
            None,
            &key,
        ))
        .await
        .unwrap();
    // A port nothing listens on yet.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let server_url = format!("http://127.0.0.1:{port}");
    let app = RunningApp::start(|c| {
        c.eventlog_url = Some(server_url.clone());
        c.eventlog_key = Some(key.clone());
    })
    .await;
    assert_eq!(scenario(&app.url).await, expected);
    let logger = app.logger.clone().unwrap();
    logger.flush().await;
    assert!(logger.stats().spooled > 0);

    let server = eventlog_server::Application::build(
        &eventlog_server::ServerConfig::default(),
        store.clone(),
        &format!("127.0.0.1:{port}"),
    )
    .await
    .unwrap();
    let (stop, stopped) = oneshot::channel::<()>();
    let serving = tokio::spawn(server.run_until_stopped(async {
        let _ = stopped.await;
    }));
    assert_all_arrived_once(&logger, &db).await;
    app.stop().await;
    let _ = stop.send(());
    let _ = serving.await;
    drop_db(&admin, &db).await;
}
