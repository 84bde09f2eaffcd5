//! Enforcement through a real axum app: brute force against a login route blocks the
//! address (429) and locks the account (403), the allow-list is respected, blocks expire,
//! and each block is recorded as an event in a real SQLite store.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use axum::body::Body;
use axum::extract::{ConnectInfo, State};
use axum::http::{Request, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use eventlog_client::{EventLogger, LoggerConfig, StoreSink};
use eventlog_core::detect::stateful::Threshold;
use eventlog_layer::{EnforceConfig, Enforcer, UserInfo};
use eventlog_store::{RecentQuery, Store};
use http_body_util::BodyExt;
use serde_json::{json, Value};
use tower::ServiceExt;

/// A login that names the attempted user in its response (for the layer) and refuses a
/// locked account before looking at the password.
async fn login(State(enforcer): State<Enforcer>, Json(login): Json<Value>) -> Response {
    let username = login["username"].as_str().unwrap_or_default().to_owned();
    let user = UserInfo {
        id: username.clone(),
        name: Some(username.clone()),
        role: None,
        tenant: None,
    };
    let mut response = if enforcer.locked_for(&username).is_some() {
        (StatusCode::FORBIDDEN, "account locked").into_response()
    } else if login["password"] == "right" {
        (StatusCode::OK, "welcome").into_response()
    } else {
        (StatusCode::UNAUTHORIZED, "wrong password").into_response()
    };
    response.extensions_mut().insert(user);
    response
}

fn app(enforcer: &Enforcer) -> Router {
    Router::new()
        .route("/api/auth/login", post(login))
        .route("/api/students", get(|| async { "students" }))
        .with_state(enforcer.clone())
        .layer(enforcer.layer())
}

fn config(block: Duration) -> EnforceConfig {
    let mut config = EnforceConfig::default();
    config.detectors.brute_force = Threshold {
        count: 3,
        window_secs: 300,
    };
    config.ip_block = block;
    config.account_lock = block;
    config.allow = vec!["10.0.0.0/8".parse().unwrap()];
    config
}

fn from(ip: &str, req: axum::http::request::Builder, body: Body) -> Request<Body> {
    let mut req = req.body(body).unwrap();
    req.extensions_mut()
        .insert(ConnectInfo(SocketAddr::new(ip.parse().unwrap(), 40000)));
    req
}

async fn attempt(
    app: &Router,
    ip: &str,
    user: &str,
    password: &str,
) -> (StatusCode, Option<String>, String) {
    let req = from(
        ip,
        Request::post("/api/auth/login").header("content-type", "application/json"),
        Body::from(json!({"username": user, "password": password}).to_string()),
    );
    call(app, req).await
}

async fn students(
    app: &Router,
    ip: &str,
    user: Option<&str>,
) -> (StatusCode, Option<String>, String) {
    let mut req = from(ip, Request::get("/api/students"), Body::empty());
    if let Some(user) = user {
        req.extensions_mut().insert(UserInfo {
            id: user.into(),
            name: Some(user.into()),
            role: None,
            tenant: None,
        });
    }
    call(app, req).await
}

async fn call(app: &Router, req: Request<Body>) -> (StatusCode, Option<String>, String) {
    let response = app.clone().oneshot(req).await.unwrap();
    let status = response.status();
    let retry = response
        .headers()
        .get("retry-after")
        .map(|v| v.to_str().unwrap().to_owned());
    let body = response.into_body().collect().await.unwrap().to_bytes();
    (status, retry, String::from_utf8_lossy(&body).into_owned())
}

#[tokio::test]
async fn brute_force_blocks_the_address_and_locks_the_account() {
    let dir = tempfile::tempdir().unwrap();
    let store: Arc<dyn Store> =
        eventlog_store::open(&format!("sqlite://{}/e.db", dir.path().display()))
            .await
            .unwrap();
    store.migrate().await.unwrap();
    let logger = EventLogger::start(
        LoggerConfig::new(dir.path().join("spool")).source("enforce-test"),
        StoreSink::new(store.clone()),
    )
    .unwrap();
    let enforcer = Enforcer::with_logger(config(Duration::from_secs(600)), logger.clone());
    let app = app(&enforcer);
    let attacker = "203.0.113.5";

    for _ in 0..3 {
        assert_eq!(
            attempt(&app, attacker, "alice", "guess").await.0,
            StatusCode::UNAUTHORIZED
        );
    }
    // The address is refused before the app sees it, with a reason and a Retry-After.
    let (status, retry, body) = students(&app, attacker, None).await;
    assert_eq!(status, StatusCode::TOO_MANY_REQUESTS, "{body}");
    let retry: u64 = retry.expect("Retry-After").parse().unwrap();
    assert!((590..=600).contains(&retry), "{retry}");
    let body: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(body["error"]["code"], json!("ip_blocked"));
    assert_eq!(
        attempt(&app, attacker, "alice", "right").await.0,
        StatusCode::TOO_MANY_REQUESTS
    );

    // The account is locked from everywhere: the login handler asks, the layer refuses
    // the signed-in user's other requests.
    assert_eq!(
        attempt(&app, "198.51.100.7", "alice", "right").await.0,
        StatusCode::FORBIDDEN
    );
    let (status, _, body) = students(&app, "198.51.100.8", Some("alice")).await;
    assert_eq!(status, StatusCode::FORBIDDEN, "{body}");
    assert!(body.contains("account_locked"), "{body}");
    // Others are untouched.
    assert_eq!(
        students(&app, "198.51.100.8", Some("bob")).await.0,
        StatusCode::OK
    );
    assert_eq!(
        attempt(&app, "198.51.100.9", "carol", "right").await.0,
        StatusCode::OK
    );

    // Each block is an event.
    logger.flush().await;
    let events = store
        .recent(&RecentQuery {
            limit: 100,
            ..RecentQuery::default()
        })
        .await
        .unwrap()
        .events;
    let blocks: Vec<_> = events
        .iter()
        .filter(|e| e.record.event_type == "ACCESS_BLOCKED")
        .collect();
    assert_eq!(blocks.len(), 2, "{blocks:?}");
    let ip_block = blocks
        .iter()
        .find(|e| e.record.metadata.as_ref().unwrap()["blocked"] == json!("ip"))
        .expect("an ip block event");
    assert_eq!(ip_block.record.ip_address, Some(attacker.parse().unwrap()));
    assert_eq!(
        ip_block.record.metadata.as_ref().unwrap()["reason_code"],
        json!("SEC-002")
    );
    let account = blocks
        .iter()
        .find(|e| e.record.metadata.as_ref().unwrap()["blocked"] == json!("account"))
        .expect("an account lock event");
    assert_eq!(account.record.username.as_deref(), Some("alice"));
}

#[tokio::test]
async fn allow_listed_addresses_are_never_blocked_and_blocks_expire() {
    let enforcer = Enforcer::new(config(Duration::from_secs(1)));
    let app = app(&enforcer);
    for _ in 0..4 {
        attempt(&app, "10.1.2.3", "bob", "guess").await;
    }
    assert_eq!(students(&app, "10.1.2.3", None).await.0, StatusCode::OK);
    assert!(
        enforcer.locked_for("bob").is_some(),
        "the account still locks"
    );

    for _ in 0..3 {
        attempt(&app, "203.0.113.77", "dave", "guess").await;
    }
    assert_eq!(
        students(&app, "203.0.113.77", None).await.0,
        StatusCode::TOO_MANY_REQUESTS
    );
    tokio::time::sleep(Duration::from_millis(1100)).await;
    assert_eq!(students(&app, "203.0.113.77", None).await.0, StatusCode::OK);
    assert!(enforcer.locked_for("bob").is_none());
}
