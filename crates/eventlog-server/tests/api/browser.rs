//! Browser ingest with a publishable key: CORS for its origins only, the seed 002
//! JavaScript `EventLogger` payloads, user fields only from a verified `X-User-Token`, IP
//! and user agent from the connection.

use eventlog_server::ServerConfig;
use eventlog_store::keys::{generate_secret, new_key};
use eventlog_store::KeyRole;
use serde_json::{json, Value};

use crate::helpers::{send, TestServer};
use crate::jwt::{hs256_config, hs256_token};

const ORIGIN: &str = "https://app.example";

/// The JWT config, and the local proxy trusted for `X-Forwarded-For`.
fn config() -> ServerConfig {
    let mut config = hs256_config();
    config.limits.trusted_proxies = vec!["127.0.0.1".parse().unwrap()];
    config
}

async fn publishable(s: &TestServer, name: &str, tenant: Option<&str>) -> String {
    let secret = generate_secret();
    s.store
        .create_key(
            &new_key(
                name,
                KeyRole::Publishable,
                tenant.map(str::to_owned),
                &secret,
            )
            .with_origins(vec![ORIGIN.to_owned()]),
        )
        .await
        .unwrap();
    secret
}

/// `EventLogger.logUserAction('CREATE', 'STUDENT', {student_name: 'Ahmad Rizki'})` of seed
/// 002, with the user fields the page claims.
fn log_user_action() -> Value {
    json!({
        "event_category": "DATA",
        "event_type": "USER_ACTION",
        "event_name": "CREATE STUDENT",
        "event_description": "User performed CREATE on STUDENT",
        "action": "CREATE",
        "resource_type": "STUDENT",
        "user_id": 1,
        "username": "admin",
        "user_role": "admin",
        "timestamp": chrono::Utc::now().to_rfc3339(),
        "metadata": {"student_name": "Ahmad Rizki"},
        "severity": "INFO",
        "tags": ["user_action", "create", "student"]
    })
}

/// `EventLogger.logSecurityEvent('UNAUTHORIZED_ACCESS', {...})` of seed 002.
fn log_security_event() -> Value {
    json!({
        "event_category": "SECURITY",
        "event_type": "UNAUTHORIZED_ACCESS",
        "event_name": "Security Event: UNAUTHORIZED_ACCESS",
        "event_description": "Attempted access to admin panel",
        "severity": "WARNING",
        "metadata": {"description": "Attempted access to admin panel", "ip_address": "192.168.1.100"},
        "tags": ["security", "unauthorized_access"]
    })
}

fn from_page(s: &TestServer, path: &str, key: &str) -> reqwest::RequestBuilder {
    s.post(path, key)
        .header("origin", ORIGIN)
        .header("user-agent", "Mozilla/5.0 (EduPro test)")
}

async fn stored(s: &TestServer, id: &str) -> Value {
    let (status, body) = s.get_json(&format!("/api/events/{id}")).await;
    assert_eq!(status, 200, "{body}");
    body
}

async fn cors_answers_only_configured_origins(s: &TestServer) {
    publishable(s, "site", None).await;
    let preflight = |origin: &str, path: &str| {
        s.client
            .request(reqwest::Method::OPTIONS, format!("{}{path}", s.url))
            .header("origin", origin)
            .header("access-control-request-method", "POST")
            .header(
                "access-control-request-headers",
                "authorization,content-type,x-user-token",
            )
            .send()
    };
    let ok = preflight(ORIGIN, "/api/events").await.unwrap();
    assert!(ok.status().is_success(), "{}", ok.status());
    assert_eq!(ok.headers()["access-control-allow-origin"], ORIGIN);
    let allowed = ok.headers()["access-control-allow-headers"]
        .to_str()
        .unwrap()
        .to_ascii_lowercase();
    assert!(allowed.contains("x-user-token"), "{allowed}");
    for (origin, path) in [
        ("https://evil.example", "/api/events"),
        (ORIGIN, "/api/events/recent"),
    ] {
        let refused = preflight(origin, path).await.unwrap();
        assert!(
            refused
                .headers()
                .get("access-control-allow-origin")
                .is_none(),
            "{origin} {path} must get no CORS grant"
        );
    }
}

async fn seed_payloads_take_user_and_address_from_the_server(s: &TestServer) {
    let key = publishable(s, "site", None).await;
    let user = hs256_token(
        json!({"sub": "u-42", "preferred_username": "siti", "roles": ["teacher"], "tid": "school-7"}),
    );

    // With a verified user token: the token's user, the connection's address and agent.
    let response = from_page(s, "/api/events", &key)
        .header("x-user-token", &user)
        .header("x-forwarded-for", "203.0.113.9")
        .json(&log_user_action())
        .send()
        .await
        .unwrap();
    assert_eq!(response.headers()["access-control-allow-origin"], ORIGIN);
    assert_eq!(response.status(), 201);
    let body: Value = response.json().await.unwrap();
    let e = stored(s, body["event_id"].as_str().unwrap()).await;
    assert_eq!(e["user_id"], json!("u-42"), "{e}");
    assert_eq!(e["username"], json!("siti"));
    assert_eq!(e["user_role"], json!("teacher"));
    assert_eq!(e["tenant_id"], json!("school-7"));
    assert_eq!(
        e["ip_address"],
        json!("203.0.113.9"),
        "trusted proxy's X-Forwarded-For"
    );
    assert_eq!(e["user_agent"], json!("Mozilla/5.0 (EduPro test)"));
    assert!(
        e["tags"]
            .as_array()
            .unwrap()
            .contains(&json!("client-reported")),
        "{e}"
    );
    assert_eq!(e["metadata"]["student_name"], json!("Ahmad Rizki"));

    // Without one: no user at all, whatever the body claimed.
    let (status, body) = send(from_page(s, "/api/events", &key).json(&log_user_action())).await;
    assert_eq!(status, 201, "{body}");
    let e = stored(s, body["event_id"].as_str().unwrap()).await;
    for field in ["user_id", "username", "user_role", "tenant_id"] {
        assert_eq!(
            e[field],
            Value::Null,
            "{field} must not come from the body: {e}"
        );
    }
    assert_eq!(e["ip_address"], json!("127.0.0.1"));

    // The batch route, with the security event's shape.
    let (status, body) = send(
        from_page(s, "/api/events/batch", &key)
            .header("x-user-token", &user)
            .json(&json!({"events": [log_security_event(), log_user_action()]})),
    )
    .await;
    assert_eq!(status, 201, "{body}");
    let e = stored(s, body["event_ids"][0].as_str().unwrap()).await;
    assert_eq!(e["username"], json!("siti"));
    assert_eq!(
        e["ip_address"],
        json!("127.0.0.1"),
        "metadata's ip_address is not the event's"
    );
    assert!(e["tags"]
        .as_array()
        .unwrap()
        .contains(&json!("client-reported")));

    // Another origin, a bad user token: refused with a JSON reason.
    let (status, body) = send(
        s.post("/api/events", &key)
            .header("origin", "https://evil.example")
            .json(&log_user_action()),
    )
    .await;
    assert_eq!(status, 403, "{body}");
    assert!(body["error"]["message"]
        .as_str()
        .unwrap()
        .contains("evil.example"));
    // No Origin at all: not from a page, so not for this key.
    let (status, body) = send(s.post("/api/events", &key).json(&log_user_action())).await;
    assert_eq!(status, 403, "{body}");
    assert_eq!(body["error"]["field"], json!("Origin"));
    let expired = hs256_token(json!({"sub": "u-42", "exp": chrono::Utc::now().timestamp() - 3600}));
    let (status, body) = send(
        from_page(s, "/api/events", &key)
            .header("x-user-token", expired)
            .json(&log_user_action()),
    )
    .await;
    assert_eq!(status, 401, "{body}");
    assert_eq!(body["error"]["field"], json!("x-user-token"));

    // A key bound to a tenant accepts no user token of another tenant.
    let bound = publishable(s, "site-school-8", Some("school-8")).await;
    let (status, body) = send(
        from_page(s, "/api/events", &bound)
            .header("x-user-token", &user)
            .json(&log_user_action()),
    )
    .await;
    assert_eq!(status, 403, "{body}");

    // Write only: nothing to read.
    let (status, _) = send(s.get("/api/events/recent", &key)).await;
    assert_eq!(status, 403);
}

crate::store_tests!(config = super::config(); cors_answers_only_configured_origins, seed_payloads_take_user_and_address_from_the_server);

/// Without a trusted proxy, `X-Forwarded-For` is the client's word and is ignored.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn forwarded_for_is_ignored_from_untrusted_peers() {
    let s = TestServer::sqlite().await;
    let key = publishable(&s, "site", None).await;
    let (status, body) = send(
        from_page(&s, "/api/events", &key)
            .header("x-forwarded-for", "203.0.113.9")
            .json(&log_user_action()),
    )
    .await;
    assert_eq!(status, 201, "{body}");
    let e = stored(&s, body["event_id"].as_str().unwrap()).await;
    assert_eq!(e["ip_address"], json!("127.0.0.1"));
}
