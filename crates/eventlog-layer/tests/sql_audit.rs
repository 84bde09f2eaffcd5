//! The SQL query audit with real sqlx statements: an axum app behind the request layer
//! runs them against its own SQLite database; the audit events land in a real event store.
//!
//! sqlx's SQLite driver runs statements on a thread of its own, so (as in an application)
//! the subscriber must be the global one. It is installed once for this test binary and
//! forwards to the audit layer of the test that holds [`ACTIVE`]; tests take turns.

use std::sync::{Arc, OnceLock, RwLock};

use axum::body::Body;
use axum::extract::{Path, State};
use axum::http::Request;
use axum::routing::{get, post};
use axum::Router;
use eventlog_client::{EventLogger, LoggerConfig, StoreSink};
use eventlog_core::StoredEvent;
use eventlog_layer::{EventLogLayer, SqlAuditConfig, SqlAuditLayer, UserInfo};
use eventlog_store::{RecentQuery, Store};
use sqlx::SqlitePool;
use tower::ServiceExt;
use tracing::span::{Attributes, Id, Record};
use tracing::Subscriber;
use tracing_subscriber::layer::Context;
use tracing_subscriber::prelude::*;
use tracing_subscriber::registry::LookupSpan;
use tracing_subscriber::Layer;

/// The audit layer of the test that runs now.
static ACTIVE: RwLock<Option<Arc<SqlAuditLayer>>> = RwLock::new(None);
/// Held by the test that runs now.
static TURN: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

/// Forwards to the active test's layer.
struct Active;

fn active() -> Option<Arc<SqlAuditLayer>> {
    ACTIVE.read().unwrap().clone()
}

impl<S: Subscriber + for<'a> LookupSpan<'a>> Layer<S> for Active {
    fn on_new_span(&self, attrs: &Attributes<'_>, id: &Id, ctx: Context<'_, S>) {
        if let Some(layer) = active() {
            layer.on_new_span(attrs, id, ctx);
        }
    }
    fn on_record(&self, id: &Id, values: &Record<'_>, ctx: Context<'_, S>) {
        if let Some(layer) = active() {
            layer.on_record(id, values, ctx);
        }
    }
    fn on_event(&self, event: &tracing::Event<'_>, ctx: Context<'_, S>) {
        if let Some(layer) = active() {
            layer.on_event(event, ctx);
        }
    }
}

/// Waits for this test's turn, builds its harness, then audits with `config` until the
/// returned guard drops (the harness's own set-up statements are not audited).
async fn audit_with(config: SqlAuditConfig) -> (Harness, tokio::sync::MutexGuard<'static, ()>) {
    static INSTALLED: OnceLock<()> = OnceLock::new();
    INSTALLED.get_or_init(|| {
        let filter = tracing_subscriber::filter::Targets::new()
            .with_target("sqlx::query", tracing::Level::DEBUG)
            .with_target("eventlog_layer::request", tracing::Level::DEBUG)
            .with_target("eventlog_client::delivery", tracing::Level::DEBUG);
        tracing_subscriber::registry()
            .with(Active.with_filter(filter))
            .init();
    });
    let turn = TURN.lock().await;
    *ACTIVE.write().unwrap() = None;
    let harness = Harness::new().await;
    let layer = SqlAuditLayer::new(harness.logger.clone(), config);
    *ACTIVE.write().unwrap() = Some(Arc::new(layer));
    (harness, turn)
}

struct Harness {
    logger: EventLogger,
    store: Arc<dyn Store>,
    app_db: SqlitePool,
    _dir: tempfile::TempDir,
}

impl Harness {
    async fn new() -> Self {
        let dir = tempfile::tempdir().unwrap();
        let store = eventlog_store::open(&format!("sqlite://{}/events.db", dir.path().display()))
            .await
            .unwrap();
        store.migrate().await.unwrap();
        let logger = EventLogger::start(
            LoggerConfig::new(dir.path().join("spool")).source("sql-audit-test"),
            StoreSink::new(store.clone()),
        )
        .unwrap();
        let app_db = SqlitePool::connect(&format!(
            "sqlite://{}/app.db?mode=rwc",
            dir.path().display()
        ))
        .await
        .unwrap();
        sqlx::query("CREATE TABLE students (id INTEGER PRIMARY KEY, name TEXT NOT NULL)")
            .execute(&app_db)
            .await
            .unwrap();
        Self {
            logger,
            store,
            app_db,
            _dir: dir,
        }
    }

    /// The audit events stored so far (`DB-*`), oldest first.
    async fn audit_events(&self) -> Vec<StoredEvent> {
        self.logger.flush().await;
        let query = RecentQuery {
            limit: 500,
            ..RecentQuery::default()
        };
        let mut events: Vec<StoredEvent> = self
            .store
            .recent(&query)
            .await
            .unwrap()
            .events
            .into_iter()
            .filter(|e| {
                e.record
                    .event_code
                    .as_deref()
                    .is_some_and(|c| c.starts_with("DB-"))
            })
            .collect();
        events.reverse();
        events
    }

    fn app(&self) -> Router {
        Router::new()
            .route("/api/students", post(create_student))
            .route("/api/students/{id}", get(read_student))
            .with_state(self.app_db.clone())
            .layer(EventLogLayer::new(self.logger.clone()))
    }

    /// Sends a request as `user` (if any) with correlation id `request_id`.
    async fn call(&self, method: &str, uri: &str, user: Option<&str>, request_id: &str) {
        let mut request = Request::builder()
            .method(method)
            .uri(uri)
            .header("x-request-id", request_id)
            .body(Body::empty())
            .unwrap();
        if let Some(user) = user {
            request.extensions_mut().insert(UserInfo {
                id: user.to_owned(),
                name: Some(format!("user-{user}")),
                role: None,
                tenant: Some("acme".to_owned()),
            });
        }
        let response = self.app().oneshot(request).await.unwrap();
        assert!(response.status().is_success(), "{}", response.status());
    }
}

async fn create_student(State(db): State<SqlitePool>) -> &'static str {
    let mut tx = db.begin().await.unwrap();
    sqlx::query("INSERT INTO students (name) VALUES (?)")
        .bind("Siti Rahayu")
        .execute(&mut *tx)
        .await
        .unwrap();
    // A value inlined in the SQL text: the audit must not keep it either.
    sqlx::query("UPDATE students SET name = 'Dewi Lestari' WHERE id = 1")
        .execute(&mut *tx)
        .await
        .unwrap();
    tx.commit().await.unwrap();
    "created"
}

async fn read_student(State(db): State<SqlitePool>, Path(id): Path<i64>) -> String {
    let row: Option<(String,)> = sqlx::query_as("SELECT name FROM students WHERE id = ?")
        .bind(id)
        .fetch_optional(&db)
        .await
        .unwrap();
    row.map(|r| r.0).unwrap_or_default()
}

fn meta<'a>(event: &'a StoredEvent, key: &str) -> &'a serde_json::Value {
    &event.record.metadata.as_ref().expect("metadata")[key]
}

#[tokio::test]
async fn writes_are_audited_with_the_request_user_without_values_and_once_per_window() {
    let (h, _turn) = audit_with(SqlAuditConfig::default()).await;

    h.call("POST", "/api/students", Some("12"), "req-1").await;
    h.call("GET", "/api/students/1", Some("12"), "req-2").await;
    let events = h.audit_events().await;
    let statements: Vec<&str> = events
        .iter()
        .map(|e| meta(e, "statement").as_str().unwrap())
        .collect();
    assert_eq!(
        statements,
        [
            "INSERT INTO students (name) VALUES (?)",
            "UPDATE students SET name = ? WHERE id = ?"
        ],
        "writes only (no SELECT, no BEGIN/COMMIT), normalised"
    );
    for event in &events {
        assert_eq!(event.record.event_code.as_deref(), Some("DB-001"));
        assert_eq!(event.record.event_category, "DATA");
        assert_eq!(event.record.user_id.as_deref(), Some("12"));
        assert_eq!(event.record.username.as_deref(), Some("user-12"));
        assert_eq!(event.record.tenant_id.as_deref(), Some("acme"));
        assert_eq!(event.record.correlation_id.as_deref(), Some("req-1"));
        assert_eq!(meta(event, "rows_affected"), 1);
        let raw = serde_json::to_string(&event.record).unwrap();
        assert!(!raw.contains("Siti") && !raw.contains("Dewi"), "{raw}");
    }

    // The same statements by the same user within the window: not recorded again.
    h.call("POST", "/api/students", Some("12"), "req-3").await;
    assert_eq!(h.audit_events().await.len(), 2);
    // Another user's are.
    h.call("POST", "/api/students", Some("13"), "req-4").await;
    let events = h.audit_events().await;
    assert_eq!(events.len(), 4);
    assert!(events[2..]
        .iter()
        .all(|e| e.record.user_id.as_deref() == Some("13")));
}

#[tokio::test]
async fn reads_and_anonymous_statements_follow_the_config() {
    let config = SqlAuditConfig {
        include_reads: true,
        authenticated_only: true,
        ..SqlAuditConfig::default()
    };
    let (h, _turn) = audit_with(config).await;

    // Outside any request, and in a request without a user: not recorded.
    sqlx::query("INSERT INTO students (name) VALUES ('batch job')")
        .execute(&h.app_db)
        .await
        .unwrap();
    h.call("POST", "/api/students", None, "anon").await;
    assert!(h.audit_events().await.is_empty());

    h.call("GET", "/api/students/1", Some("7"), "read-1").await;
    let events = h.audit_events().await;
    assert_eq!(events.len(), 1, "{events:?}");
    assert_eq!(events[0].record.event_code.as_deref(), Some("DB-002"));
    assert_eq!(
        meta(&events[0], "statement"),
        "SELECT name FROM students WHERE id = ?"
    );
    assert_eq!(meta(&events[0], "rows_returned"), 1);
    assert_eq!(events[0].record.action, "SELECT");
}

#[tokio::test]
async fn the_loggers_own_store_writes_are_not_audited() {
    // Writes outside requests are audited by default: the logger's own are the exception.
    let (h, _turn) = audit_with(SqlAuditConfig::default()).await;

    h.call("POST", "/api/students", Some("1"), "one").await;
    sqlx::query("DELETE FROM students WHERE id = 99")
        .execute(&h.app_db)
        .await
        .unwrap();
    let events = h.audit_events().await;
    assert_eq!(
        events.len(),
        3,
        "two in the request, one outside: {events:?}"
    );
    assert_eq!(events[2].record.user_id, None);
    // Delivering those events ran INSERTs into the event store; had they been audited,
    // more events would keep arriving.
    for _ in 0..3 {
        h.logger.flush().await;
    }
    let events = h.audit_events().await;
    assert_eq!(events.len(), 3);
    assert!(events
        .iter()
        .all(|e| !meta(e, "statement").as_str().unwrap().contains("events")));
}
