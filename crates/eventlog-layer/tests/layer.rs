//! The layer in an axum stack, called without sockets; events land in a real SQLite store.

use std::net::SocketAddr;
use std::sync::Arc;

use axum::body::Body;
use axum::extract::ConnectInfo;
use axum::http::{Request, StatusCode};
use axum::response::IntoResponse;
use axum::routing::{get, post};
use axum::{Extension, Router};
use eventlog_client::{AuthAction, CrudAction, EventLogger, LoggerConfig, StoreSink};
use eventlog_core::StoredEvent;
use eventlog_layer::{BodyCapture, CorrelationId, EventLogLayer, UserInfo};
use eventlog_store::{RecentQuery, Store};
use http_body_util::BodyExt;
use tower::ServiceExt;

struct Harness {
    logger: EventLogger,
    store: Arc<dyn Store>,
    _dir: tempfile::TempDir,
}

impl Harness {
    async fn new() -> Self {
        let dir = tempfile::tempdir().unwrap();
        let store = eventlog_store::open(&format!("sqlite://{}/e.db", dir.path().display()))
            .await
            .unwrap();
        store.migrate().await.unwrap();
        let logger = EventLogger::start(
            LoggerConfig::new(dir.path().join("spool")).source("layer-test"),
            StoreSink::new(store.clone()),
        )
        .unwrap();
        Self {
            logger,
            store,
            _dir: dir,
        }
    }

    async fn events(&self) -> Vec<StoredEvent> {
        self.logger.flush().await;
        let query = RecentQuery {
            limit: 100,
            ..RecentQuery::default()
        };
        let mut events = self.store.recent(&query).await.unwrap().events;
        events.reverse();
        events
    }
}

fn app(layer: EventLogLayer) -> Router {
    Router::new()
        .route(
            "/api/students/{id}",
            get(|| async {
                (
                    [("content-type", "application/json")],
                    r#"{"id":7,"name":"Budi"}"#,
                )
            }),
        )
        .route(
            "/api/reset/{token}",
            post(|| async { StatusCode::NO_CONTENT }),
        )
        .route(
            "/api/auth/login",
            post(|body: String| async move {
                let mut response = (StatusCode::OK, format!("got {}", body.len())).into_response();
                response.extensions_mut().insert(UserInfo {
                    id: "1".into(),
                    name: Some("admin".into()),
                    role: Some("admin".into()),
                    tenant: None,
                });
                response
            }),
        )
        .route(
            "/api/broken",
            get(|| async { (StatusCode::SERVICE_UNAVAILABLE, "db down") }),
        )
        .route(
            "/api/panic",
            get(|| async {
                panic!("boom");
                #[allow(unreachable_code)]
                "never"
            }),
        )
        .route("/health", get(|| async { "ok" }))
        .route(
            "/api/correlation",
            get(|Extension(id): Extension<CorrelationId>| async move { id.0 }),
        )
        .layer(layer)
}

async fn call(app: &Router, req: Request<Body>) -> (StatusCode, String) {
    let response = app.clone().oneshot(req).await.unwrap();
    let status = response.status();
    let body = response.into_body().collect().await.unwrap().to_bytes();
    (status, String::from_utf8(body.to_vec()).unwrap())
}

#[tokio::test]
async fn records_route_template_status_user_client_and_correlation() {
    let h = Harness::new().await;
    let app = app(EventLogLayer::new(h.logger.clone()).with_trusted_proxies(["10.0.0.0/8"]));
    let mut req = Request::get("/api/students/7?page=2&token=abcdef123")
        .header(
            "traceparent",
            "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
        )
        .header("x-forwarded-for", "203.0.113.9")
        .header("user-agent", "pytest/1")
        .header("cookie", "session_id=s-77")
        .body(Body::empty())
        .unwrap();
    req.extensions_mut()
        .insert(ConnectInfo(SocketAddr::from(([10, 0, 0, 2], 4000))));
    let (status, body) = call(&app, req).await;
    assert_eq!(
        (status, body.as_str()),
        (StatusCode::OK, r#"{"id":7,"name":"Budi"}"#)
    );
    let (status, _) = call(
        &app,
        Request::post("/api/auth/login")
            .body(Body::from("x"))
            .unwrap(),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    let (status, _) = call(
        &app,
        Request::post("/api/reset/s3cr3t-reset-token-0002")
            .body(Body::empty())
            .unwrap(),
    )
    .await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    // No route: the name and endpoint are the path templated like the rollups do; the
    // path as sent is kept in `metadata`, where attack detection reads it.
    let (status, _) = call(
        &app,
        Request::get("/reset-password/s3cr3t-reset-token-0001")
            .body(Body::empty())
            .unwrap(),
    )
    .await;
    assert_eq!(status, StatusCode::NOT_FOUND);

    let events = h.events().await;
    assert_eq!(events.len(), 4);
    let unmatched = events
        .iter()
        .find(|e| e.record.http_status == Some(404))
        .expect("the 404 is recorded");
    assert_eq!(
        unmatched.record.endpoint.as_deref(),
        Some("/reset-password/{id}")
    );
    assert_eq!(unmatched.record.event_name, "GET /reset-password/{id}");
    assert_eq!(
        unmatched.record.metadata.as_ref().unwrap()["path"],
        "/reset-password/s3cr3t-reset-token-0001"
    );
    // A route parameter named like a secret is masked in the stored path.
    let reset = events
        .iter()
        .find(|e| e.record.http_status == Some(204))
        .expect("the reset is recorded");
    assert_eq!(reset.record.endpoint.as_deref(), Some("/api/reset/{token}"));
    assert_eq!(
        reset.record.metadata.as_ref().unwrap()["path"],
        "/api/reset/[REDACTED]"
    );
    assert!(!format!("{:?}", reset.record).contains("s3cr3t"));
    let get = &events[0].record;
    assert_eq!(get.endpoint.as_deref(), Some("/api/students/{id}"));
    assert_eq!(get.event_name, "GET /api/students/{id}");
    assert_eq!(get.http_status, Some(200));
    assert_eq!(get.status, "SUCCESS");
    assert_eq!(get.ip_address, Some("203.0.113.9".parse().unwrap()));
    assert_eq!(get.user_agent.as_deref(), Some("pytest/1"));
    // The session cookie is a credential: only a digest of it is kept.
    let session = get.session_id.as_deref().unwrap();
    assert!(
        session.starts_with("cookie-") && !session.contains("s-77"),
        "{session}"
    );
    assert_eq!(
        get.correlation_id.as_deref(),
        Some("4bf92f3577b34da6a3ce929d0e0e4736")
    );
    let metadata = get.metadata.as_ref().unwrap();
    assert_eq!(metadata["path"], "/api/students/7");
    assert_eq!(metadata["query"], "page=2&token=[REDACTED]");
    assert!(get.processing_time_ms.is_some());
    let login = &events[1].record;
    assert_eq!(
        login.username.as_deref(),
        Some("admin"),
        "user from the response"
    );
}

/// A handler reads the request's correlation id, so its domain events join the request.
#[tokio::test]
async fn handlers_get_the_correlation_id_of_the_request_event() {
    let h = Harness::new().await;
    let app = app(EventLogLayer::new(h.logger.clone()));
    let (status, body) = call(
        &app,
        Request::get("/api/correlation")
            .header("x-request-id", "req-42")
            .body(Body::empty())
            .unwrap(),
    )
    .await;
    assert_eq!((status, body.as_str()), (StatusCode::OK, "req-42"));
    let (_, generated) = call(
        &app,
        Request::get("/api/correlation")
            .body(Body::empty())
            .unwrap(),
    )
    .await;
    let events = h.events().await;
    assert_eq!(events[0].record.correlation_id.as_deref(), Some("req-42"));
    assert_eq!(
        events[1].record.correlation_id.as_deref(),
        Some(generated.as_str()),
        "a generated id is the one the handler saw"
    );
}

/// Domain events a handler logs carry its request's client and user: a failed login its
/// address (which brute-force detection counts by), a change who made it.
#[tokio::test]
async fn domain_events_logged_in_a_handler_carry_the_request_client_and_user() {
    let h = Harness::new().await;
    let logger = h.logger.clone();
    let app = Router::new()
        .route(
            "/login",
            post({
                let logger = logger.clone();
                move || async move {
                    logger.log_auth_event(AuthAction::LoginFailed, "guru01", None, Some("bad"));
                    StatusCode::UNAUTHORIZED
                }
            }),
        )
        .route(
            "/students/{id}",
            axum::routing::delete(move || async move {
                logger.log_crud_event(
                    "student",
                    "42",
                    CrudAction::Delete(serde_json::json!({"id": 42})),
                );
                StatusCode::NO_CONTENT
            }),
        )
        .layer(EventLogLayer::new(h.logger.clone()).with_trusted_proxies(["10.0.0.0/8"]));
    let request = |method: &str, path: &str| {
        let mut req = Request::builder()
            .method(method)
            .uri(path)
            .header("x-forwarded-for", "203.0.113.9")
            .header("x-request-id", format!("req{}", path.replace('/', "-")))
            .header("user-agent", "curl/8")
            .body(Body::empty())
            .unwrap();
        req.extensions_mut()
            .insert(ConnectInfo(SocketAddr::from(([10, 0, 0, 2], 4000))));
        req
    };
    assert_eq!(
        call(&app, request("POST", "/login")).await.0,
        StatusCode::UNAUTHORIZED
    );
    let mut delete = request("DELETE", "/students/42");
    delete.extensions_mut().insert(UserInfo {
        id: "7".into(),
        name: Some("admin01".into()),
        role: Some("admin".into()),
        tenant: None,
    });
    assert_eq!(call(&app, delete).await.0, StatusCode::NO_CONTENT);

    let events = h.events().await;
    let login = events
        .iter()
        .find(|e| e.record.event_code.as_deref() == Some("AUTH-002"))
        .expect("the failed login is logged");
    assert_eq!(
        login.record.ip_address,
        Some("203.0.113.9".parse().unwrap())
    );
    assert_eq!(login.record.correlation_id.as_deref(), Some("req-login"));
    assert_eq!(login.record.user_agent.as_deref(), Some("curl/8"));
    assert_eq!(login.record.username.as_deref(), Some("guru01"));
    let deleted = events
        .iter()
        .find(|e| e.record.event_category == "CRUD")
        .expect("the delete is logged");
    assert_eq!(deleted.record.user_id.as_deref(), Some("7"));
    assert_eq!(deleted.record.username.as_deref(), Some("admin01"));
    assert_eq!(
        deleted.record.ip_address,
        Some("203.0.113.9".parse().unwrap())
    );
    assert_eq!(
        deleted.record.correlation_id.as_deref(),
        Some("req-students-42")
    );
}

/// A client that gives up while the handler runs (hyper then drops the handler's future)
/// is still on the audit trail: the handler may have changed data by then.
#[tokio::test]
async fn a_request_the_client_abandons_is_recorded_as_499() {
    let h = Harness::new().await;
    let app = Router::new()
        .route(
            "/slow",
            post(|| async {
                tokio::time::sleep(std::time::Duration::from_secs(30)).await;
                StatusCode::OK
            }),
        )
        .layer(EventLogLayer::new(h.logger.clone()));
    let request = Request::post("/slow")
        .header("x-request-id", "gone-1")
        .body(Body::empty())
        .unwrap();
    let abandoned =
        tokio::time::timeout(std::time::Duration::from_millis(200), app.oneshot(request)).await;
    assert!(abandoned.is_err(), "the handler was still running");

    let events = h.events().await;
    assert_eq!(events.len(), 1, "{events:?}");
    let record = &events[0].record;
    assert_eq!(record.http_status, Some(499));
    assert_eq!(record.correlation_id.as_deref(), Some("gone-1"));
    assert_eq!(record.event_name, "POST /slow");
    assert!(record
        .error_message
        .as_deref()
        .is_some_and(|m| m.contains("closed the connection")));
}

#[tokio::test]
async fn server_errors_and_panics_are_recorded_and_the_client_gets_what_the_handler_produced() {
    let h = Harness::new().await;
    let app = app(EventLogLayer::new(h.logger.clone()));
    let (status, body) = call(
        &app,
        Request::get("/api/broken").body(Body::empty()).unwrap(),
    )
    .await;
    assert_eq!(
        (status, body.as_str()),
        (StatusCode::SERVICE_UNAVAILABLE, "db down")
    );

    let panicking = tokio::spawn({
        let app = app.clone();
        async move {
            app.oneshot(Request::get("/api/panic").body(Body::empty()).unwrap())
                .await
        }
    });
    assert!(
        panicking.await.unwrap_err().is_panic(),
        "the panic is resumed, not swallowed"
    );

    let events = h.events().await;
    assert_eq!(events.len(), 2);
    assert_eq!(events[0].record.severity, eventlog_core::Severity::Error);
    assert_eq!(events[0].record.status, "ERROR");
    assert_eq!(events[1].record.http_status, Some(500));
    assert!(events[1]
        .record
        .error_message
        .as_deref()
        .unwrap()
        .contains("boom"));
}

#[tokio::test]
async fn a_panicking_hook_is_contained_and_counted() {
    let h = Harness::new().await;
    let layer = EventLogLayer::new(h.logger.clone()).with_user_extractor(
        |_: &http::HeaderMap, _: &http::Extensions| -> Option<UserInfo> { panic!("extractor bug") },
    );
    let app = app(layer.clone());
    let (status, _) = call(&app, Request::get("/health").body(Body::empty()).unwrap()).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(layer.hook_panics(), 1);
    assert_eq!(h.events().await.len(), 1);
    assert_eq!(h.logger.stats().hook_panics, 1);
}

#[tokio::test]
async fn bodies_are_captured_size_limited_and_masked() {
    let h = Harness::new().await;
    let app = app(
        EventLogLayer::new(h.logger.clone()).with_body_capture(BodyCapture {
            max_bytes: 64,
            ..BodyCapture::default()
        }),
    );
    let (status, body) = call(
        &app,
        Request::post("/api/auth/login")
            .header("content-type", "application/x-www-form-urlencoded")
            .body(Body::from("username=admin&password=admin123"))
            .unwrap(),
    )
    .await;
    assert_eq!((status, body.as_str()), (StatusCode::OK, "got 32"));
    call(
        &app,
        Request::get("/api/students/7").body(Body::empty()).unwrap(),
    )
    .await;
    let long = format!("username={}", "x".repeat(500));
    call(
        &app,
        Request::post("/api/auth/login")
            .header("content-type", "application/x-www-form-urlencoded")
            .body(Body::from(long))
            .unwrap(),
    )
    .await;

    let events = h.events().await;
    let login = events[0].record.request_data.as_ref().unwrap();
    assert_eq!(login["body"], "username=admin&password=[REDACTED]");
    assert!(!serde_json::to_string(&events).unwrap().contains("admin123"));
    let student = events[1].record.response_data.as_ref().unwrap();
    assert_eq!(student["body"]["name"], "Budi");
    let cut = events[2].record.request_data.as_ref().unwrap();
    assert_eq!(
        (cut["bytes"].as_u64(), cut["truncated"].as_bool()),
        (Some(509), Some(true))
    );
    assert_eq!(cut["body"].as_str().unwrap().len(), 64);
}

#[tokio::test]
async fn excluded_routes_and_sampled_reads_are_not_recorded() {
    let h = Harness::new().await;
    let app = app(EventLogLayer::new(h.logger.clone())
        .exclude(["/health"])
        .with_read_sampling(0.0)
        .with_route_severity("/api/auth/login", eventlog_core::Severity::Warning));
    call(&app, Request::get("/health").body(Body::empty()).unwrap()).await;
    call(
        &app,
        Request::get("/api/students/1").body(Body::empty()).unwrap(),
    )
    .await;
    call(
        &app,
        Request::get("/api/broken").body(Body::empty()).unwrap(),
    )
    .await;
    call(
        &app,
        Request::post("/api/auth/login")
            .body(Body::empty())
            .unwrap(),
    )
    .await;
    let events = h.events().await;
    let routes: Vec<_> = events
        .iter()
        .map(|e| e.record.event_name.as_str())
        .collect();
    assert_eq!(routes, ["GET /api/broken", "POST /api/auth/login"]);
    assert_eq!(events[1].record.severity, eventlog_core::Severity::Warning);
}
