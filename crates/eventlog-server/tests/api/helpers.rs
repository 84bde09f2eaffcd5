//! `TestServer`: the real application on 127.0.0.1:0 over a fresh store.

use std::sync::Arc;

use eventlog_server::{Application, ServerConfig};
use eventlog_store::keys::{generate_secret, new_key};
use eventlog_store::{KeyRole, Store};
use serde_json::Value;
use tokio::sync::oneshot;

/// Runs one async test body against SQLite and against PostgreSQL.
#[macro_export]
macro_rules! store_tests {
    // `config` is an expression giving the server's `ServerConfig`.
    (config = $config:expr; $($name:ident),* $(,)?) => {
        mod sqlite {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    let server = $crate::helpers::TestServer::sqlite_with($config).await;
                    super::$name(&server).await;
                }
            )*
        }
        mod postgres {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    let Some(server) = $crate::helpers::TestServer::postgres_with($config).await else { return };
                    super::$name(&server).await;
                    server.cleanup().await;
                }
            )*
        }
    };
    // `setup` returns the server's config and a context handed to each body (for tests
    // whose server needs e.g. a webhook receiver started first).
    (setup = $setup:ident; $($name:ident),* $(,)?) => {
        mod sqlite {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    let (config, context) = super::$setup().await;
                    let server = $crate::helpers::TestServer::sqlite_with(config).await;
                    super::$name(&server, context).await;
                }
            )*
        }
        mod postgres {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    let (config, context) = super::$setup().await;
                    let Some(server) = $crate::helpers::TestServer::postgres_with(config).await else { return };
                    super::$name(&server, context).await;
                    server.cleanup().await;
                }
            )*
        }
    };
    ($($name:ident),* $(,)?) => {
        mod sqlite {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    let server = $crate::helpers::TestServer::sqlite().await;
                    super::$name(&server).await;
                }
            )*
        }
        mod postgres {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    let Some(server) = $crate::helpers::TestServer::postgres().await else { return };
                    super::$name(&server).await;
                    server.cleanup().await;
                }
            )*
        }
    };
}

/// The origin of the pages that use the publishable keys made by [`TestServer::key`].
pub const PAGE_ORIGIN: &str = "https://app.example";

pub struct TestServer {
    pub url: String,
    pub admin_key: String,
    pub store: Arc<dyn Store>,
    pub client: reqwest::Client,
    stop: Option<oneshot::Sender<()>>,
    done: Option<tokio::task::JoinHandle<()>>,
    pub pg_database: Option<String>,
    /// The database URL, for tests that touch rows behind the server's back.
    pub db_url: String,
    /// The checkpoint signing key file.
    pub key_file: std::path::PathBuf,
    _dir: Option<tempfile::TempDir>,
}

/// The default configuration without the alert evaluator: its SYS events would change the
/// counts of tests about something else (tests/api/alerts.rs runs it).
fn quiet() -> ServerConfig {
    let mut config = ServerConfig::default();
    config.alerts.enabled = false;
    config
}

pub fn postgres_admin_url() -> String {
    std::env::var("EVENTLOG_TEST_POSTGRES_URL")
        .unwrap_or_else(|_| "postgres://root@127.0.0.1:5432/postgres".to_owned())
}

fn with_database(url: &str, db: &str) -> String {
    let (base, _) = url
        .rsplit_once('/')
        .expect("a postgres URL ends in /DATABASE");
    format!("{base}/{db}")
}

impl TestServer {
    pub async fn sqlite() -> Self {
        Self::sqlite_with(quiet()).await
    }

    pub async fn sqlite_with(config: ServerConfig) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let url = format!("sqlite://{}/eventlog.db", dir.path().display());
        let store = eventlog_store::open(&url).await.unwrap();
        let mut server = Self::start(config, store, url, &dir).await;
        server._dir = Some(dir);
        server
    }

    /// A server over a fresh PostgreSQL database, or `None` (loudly) when PostgreSQL is
    /// not reachable outside CI. In CI an absent PostgreSQL fails the test.
    pub async fn postgres() -> Option<Self> {
        Self::postgres_with(quiet()).await
    }

    pub async fn postgres_with(config: ServerConfig) -> Option<Self> {
        let admin_url = postgres_admin_url();
        let admin = match sqlx::PgPool::connect(&admin_url).await {
            Ok(pool) => pool,
            Err(e) if std::env::var("CI").is_err() => {
                eprintln!("\n!!!! SKIPPED: PostgreSQL is not reachable at {admin_url} ({e}); set EVENTLOG_TEST_POSTGRES_URL or start it. In CI this fails. !!!!\n");
                return None;
            }
            Err(e) => panic!("PostgreSQL is required in CI but not reachable at {admin_url}: {e}"),
        };
        let db = format!("eventlog_test_{}", uuid::Uuid::new_v4().simple());
        sqlx::query(&format!("CREATE DATABASE {db}"))
            .execute(&admin)
            .await
            .unwrap();
        admin.close().await;
        let url = with_database(&admin_url, &db);
        let store = eventlog_store::open(&url).await.unwrap();
        let dir = tempfile::tempdir().unwrap();
        let mut server = Self::start(config, store, url, &dir).await;
        server.pg_database = Some(db);
        server._dir = Some(dir);
        Some(server)
    }

    async fn start(
        mut config: ServerConfig,
        store: Arc<dyn Store>,
        db_url: String,
        dir: &tempfile::TempDir,
    ) -> Self {
        let key_file = config
            .integrity
            .signing_key_file
            .get_or_insert_with(|| dir.path().join("checkpoint-signing.key"))
            .clone();
        let app = Application::build(&config, store.clone(), "127.0.0.1:0")
            .await
            .unwrap();
        let admin_key = generate_secret();
        store
            .create_key(&new_key("test-admin", KeyRole::Admin, None, &admin_key))
            .await
            .unwrap();
        let url = format!("http://{}", app.local_addr());
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
            admin_key,
            store,
            client: reqwest::Client::new(),
            stop: Some(stop),
            done: Some(done),
            pg_database: None,
            db_url,
            key_file,
            _dir: None,
        }
    }

    /// Runs `statement` directly on the database, as an attacker with database access would.
    pub async fn sql(&self, statement: &str) {
        if self.pg_database.is_some() {
            let pool = sqlx::PgPool::connect(&self.db_url).await.unwrap();
            sqlx::raw_sql(statement).execute(&pool).await.unwrap();
            pool.close().await;
        } else {
            let pool = sqlx::SqlitePool::connect(&self.db_url).await.unwrap();
            sqlx::raw_sql(statement).execute(&pool).await.unwrap();
            pool.close().await;
        }
    }

    /// Stores event `id` the way versions before the payload column did (its fields in their
    /// own columns, no payload), with the time and hashes of the stored event `like`:
    /// name "Old login", action LOGIN, user agent `curl/8.0`, metadata `{"k": 1}`, tags
    /// `["old"]`, HTTP status 404, processing time 2.5 ms.
    pub async fn insert_legacy_row(&self, id: &str, like: &str) {
        let (tags, timestamp) = if self.pg_database.is_some() {
            ("ARRAY['old']", "\"timestamp\"")
        } else {
            ("'[\"old\"]'", "timestamp")
        };
        self.sql(&format!(
            "INSERT INTO events (event_id, event_category, event_type, event_name, action, status, \
             {timestamp}, severity, importance, content_hash, created_at, processed_at, user_agent, \
             metadata, tags, http_status, processing_time_ms) \
             SELECT '{id}', 'AUTH', 'USER_LOGIN', 'Old login', 'LOGIN', 'SUCCESS', {timestamp}, \
             'INFO', 'MAJOR', content_hash, created_at, processed_at, 'curl/8.0', '{{\"k\": 1}}', \
             {tags}, 404, 2.5 FROM events WHERE event_id = '{like}'"
        ))
        .await;
    }

    /// The single integer that `query` selects, read directly from the database.
    pub async fn sql_i64(&self, query: &str) -> i64 {
        if self.pg_database.is_some() {
            let pool = sqlx::PgPool::connect(&self.db_url).await.unwrap();
            let n = sqlx::query_scalar(query).fetch_one(&pool).await.unwrap();
            pool.close().await;
            n
        } else {
            let pool = sqlx::SqlitePool::connect(&self.db_url).await.unwrap();
            let n = sqlx::query_scalar(query).fetch_one(&pool).await.unwrap();
            pool.close().await;
            n
        }
    }

    /// Stops the server and drops its PostgreSQL database.
    pub async fn cleanup(mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(done) = self.done.take() {
            let _ = done.await;
        }
        if let Some(db) = self.pg_database.take() {
            let admin = sqlx::PgPool::connect(&postgres_admin_url()).await.unwrap();
            sqlx::query(&format!("DROP DATABASE IF EXISTS {db} WITH (FORCE)"))
                .execute(&admin)
                .await
                .unwrap();
        }
    }

    /// A new key with this role (and tenant).
    /// A new key; a publishable one is for pages of [`PAGE_ORIGIN`].
    pub async fn key(&self, name: &str, role: KeyRole, tenant: Option<&str>) -> String {
        let secret = generate_secret();
        let mut key = new_key(name, role, tenant.map(str::to_owned), &secret);
        if role == KeyRole::Publishable {
            key = key.with_origins(vec![PAGE_ORIGIN.to_owned()]);
        }
        self.store.create_key(&key).await.unwrap();
        secret
    }

    pub fn post(&self, path: &str, key: &str) -> reqwest::RequestBuilder {
        self.client
            .post(format!("{}{path}", self.url))
            .bearer_auth(key)
    }

    pub fn get(&self, path: &str, key: &str) -> reqwest::RequestBuilder {
        self.client
            .get(format!("{}{path}", self.url))
            .bearer_auth(key)
    }

    /// POST /api/events as admin; returns status and JSON body.
    pub async fn post_event(&self, event: &Value) -> (u16, Value) {
        send(self.post("/api/events", &self.admin_key).json(event)).await
    }

    /// POST /api/events/batch as admin.
    pub async fn post_batch(&self, events: &[Value]) -> (u16, Value) {
        send(
            self.post("/api/events/batch", &self.admin_key)
                .json(&serde_json::json!({ "events": events })),
        )
        .await
    }

    /// POST /api/events/batch as admin, the body as NDJSON (one event per line).
    pub async fn post_ndjson(&self, body: impl Into<reqwest::Body>) -> (u16, Value) {
        send(
            self.post("/api/events/batch", &self.admin_key)
                .header("content-type", "application/x-ndjson")
                .body(body),
        )
        .await
    }

    /// GET as admin.
    /// `GET /metrics` with the admin key: the exposition text (a 200 is asserted).
    pub async fn metrics_text(&self) -> String {
        let resp = self.get("/metrics", &self.admin_key).send().await.unwrap();
        assert_eq!(resp.status(), 200, "GET /metrics");
        resp.text().await.unwrap()
    }

    pub async fn get_json(&self, path: &str) -> (u16, Value) {
        send(self.get(path, &self.admin_key)).await
    }
}

impl Drop for TestServer {
    fn drop(&mut self) {
        if let Some(db) = self.pg_database.take() {
            // The test panicked before cleanup: drop its database from a fresh runtime.
            let _ = std::thread::spawn(move || {
                let rt = tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()
                    .unwrap();
                rt.block_on(async {
                    if let Ok(admin) = sqlx::PgPool::connect(&postgres_admin_url()).await {
                        let _ = sqlx::query(&format!("DROP DATABASE IF EXISTS {db} WITH (FORCE)"))
                            .execute(&admin)
                            .await;
                    }
                });
            })
            .join();
        }
    }
}

/// Sends a request; returns the status and the body as JSON (`Value::Null` if empty or not JSON).
pub async fn send(req: reqwest::RequestBuilder) -> (u16, Value) {
    let resp = req.send().await.expect("request reaches the server");
    let status = resp.status().as_u16();
    // The live tail never ends: its headers are the answer.
    if resp
        .headers()
        .get("content-type")
        .is_some_and(|v| v.as_bytes().starts_with(b"text/event-stream"))
    {
        return (status, Value::Null);
    }
    let bytes = resp.bytes().await.unwrap();
    (
        status,
        serde_json::from_slice(&bytes).unwrap_or(Value::Null),
    )
}

/// A small valid event.
pub fn event(extra: Value) -> Value {
    let mut e = serde_json::json!({"event_category": "AUTH", "event_type": "USER_LOGIN", "username": "guru01", "user_id": 15});
    if let (Value::Object(base), Value::Object(more)) = (&mut e, extra) {
        base.extend(more);
    }
    e
}

/// The sample events of seed 002, as written.
pub fn seed_samples() -> Vec<Value> {
    serde_json::from_str(include_str!(
        "../../../../fixtures/seed002-sample-events.json"
    ))
    .unwrap()
}
