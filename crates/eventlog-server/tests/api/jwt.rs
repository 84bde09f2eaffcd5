//! JWT bearer tokens: each algorithm and key source, role mapping, expiry and signature
//! failures, and tenant binding on every route.

use std::collections::BTreeMap;
use std::path::PathBuf;

use eventlog_server::jwt::{JwtAlgorithm, JwtConfig};
use eventlog_server::{AuthConfig, ServerConfig};
use eventlog_store::KeyRole;
use jsonwebtoken::{encode, Algorithm, EncodingKey, Header};
use serde_json::{json, Value};

use crate::helpers::{event, send, TestServer};

pub fn fixture(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/jwt")
        .join(name)
}

fn now() -> i64 {
    chrono::Utc::now().timestamp()
}

/// `[auth.jwt]` with an HS256 secret file, issuer and audience, roles from an array claim
/// and the tenant from `tid`.
pub fn hs256_config() -> ServerConfig {
    ServerConfig {
        auth: AuthConfig {
            jwt: Some(JwtConfig {
                algorithm: Some(JwtAlgorithm::HS256),
                secret_file: Some(fixture("hs256.secret")),
                issuer: Some("https://id.example".into()),
                audience: Some("eventlog".into()),
                role_claim: "roles".into(),
                roles: BTreeMap::from([
                    ("eventlog-admin".to_owned(), KeyRole::Admin),
                    ("staff".to_owned(), KeyRole::Analyst),
                    ("app".to_owned(), KeyRole::Ingest),
                ]),
                tenant_claim: "tid".into(),
                ..JwtConfig::default()
            }),
        },
        ..ServerConfig::default()
    }
}

fn hs256_secret() -> Vec<u8> {
    std::fs::read_to_string(fixture("hs256.secret"))
        .unwrap()
        .trim_end()
        .as_bytes()
        .to_vec()
}

/// A token signed with the test HS256 secret: valid issuer, audience and expiry plus `extra`.
pub fn hs256_token(extra: Value) -> String {
    let mut claims =
        json!({"sub": "u-1", "iss": "https://id.example", "aud": "eventlog", "exp": now() + 600});
    claims
        .as_object_mut()
        .unwrap()
        .extend(extra.as_object().unwrap().clone());
    encode(
        &Header::new(Algorithm::HS256),
        &claims,
        &EncodingKey::from_secret(&hs256_secret()),
    )
    .unwrap()
}

async fn error_of(req: reqwest::RequestBuilder) -> (u16, String) {
    let (status, body) = send(req).await;
    (
        status,
        body["error"]["message"]
            .as_str()
            .unwrap_or_default()
            .to_owned(),
    )
}

async fn hs256_roles_expiry_and_signature(s: &TestServer) {
    let admin = hs256_token(json!({"roles": ["eventlog-admin"]}));
    let (status, body) = send(s.post("/api/events", &admin).json(&event(json!({})))).await;
    assert_eq!(status, 201, "{body}");
    assert_eq!(send(s.get("/api/events/security", &admin)).await.0, 200);

    // The first value that maps wins; an analyst reads but may not write.
    let analyst = hs256_token(json!({"roles": ["user", "staff"]}));
    assert_eq!(send(s.get("/api/events/recent", &analyst)).await.0, 200);
    let (status, message) = error_of(s.post("/api/events", &analyst).json(&event(json!({})))).await;
    assert_eq!(status, 403, "{message}");
    assert!(
        message.contains("jwt:u-1") && message.contains("analyst"),
        "{message}"
    );

    let (status, message) = error_of(s.get(
        "/api/events/recent",
        &hs256_token(json!({"roles": ["user"]})),
    ))
    .await;
    assert_eq!(status, 403);
    assert!(message.contains("maps to no eventlog role"), "{message}");
    let (status, message) = error_of(s.get("/api/events/recent", &hs256_token(json!({})))).await;
    assert_eq!(status, 403);
    assert!(message.contains("no `roles` claim"), "{message}");

    let expired = hs256_token(json!({"roles": ["staff"], "exp": now() - 3600}));
    let (status, message) = error_of(s.get("/api/events/recent", &expired)).await;
    assert_eq!(status, 401);
    assert!(message.contains("expired"), "{message}");

    let forged = encode(
        &Header::new(Algorithm::HS256),
        &json!({"sub": "x", "iss": "https://id.example", "aud": "eventlog", "exp": now() + 600, "roles": ["eventlog-admin"]}),
        &EncodingKey::from_secret(b"another secret that is long enough to look real"),
    )
    .unwrap();
    let (status, message) = error_of(s.get("/api/events/recent", &forged)).await;
    assert_eq!(status, 401);
    assert!(message.contains("signature"), "{message}");

    let wrong_issuer = hs256_token(json!({"roles": ["staff"], "iss": "https://evil.example"}));
    let (status, message) = error_of(s.get("/api/events/recent", &wrong_issuer)).await;
    assert_eq!(status, 401);
    assert!(message.contains("issuer"), "{message}");
    let wrong_audience = hs256_token(json!({"roles": ["staff"], "aud": "other-app"}));
    let (status, message) = error_of(s.get("/api/events/recent", &wrong_audience)).await;
    assert_eq!(status, 401);
    assert!(message.contains("audience"), "{message}");
    let no_exp = encode(
        &Header::new(Algorithm::HS256),
        &json!({"sub": "x", "iss": "https://id.example", "aud": "eventlog", "roles": ["staff"]}),
        &EncodingKey::from_secret(&hs256_secret()),
    )
    .unwrap();
    let (status, message) = error_of(s.get("/api/events/recent", &no_exp)).await;
    assert_eq!(status, 401);
    assert!(message.contains("exp"), "{message}");
}

/// A caller bound to tenant-one (here an admin token, which reaches every route) sees
/// nothing of tenant-two on any GET route, with or without asking for it.
async fn a_tenant_token_never_reads_another_tenant(s: &TestServer) {
    let (status, body) = s
        .post_batch(&[
            event(json!({"tenant_id": "tenant-one", "username": "alice-one", "user_id": "u-one"})),
            event(
                json!({"tenant_id": "tenant-two", "username": "secret-t2-user", "user_id": "u-two",
                "event_category": "SECURITY", "event_type": "LOGIN_FAILED", "status": "FAILED"}),
            ),
        ])
        .await;
    assert_eq!(status, 201, "{body}");
    let t2_event = body["event_ids"][1].as_str().unwrap().to_owned();
    // The unbound admin key does see tenant-two, so the checks below can fail.
    let (_, all) = s.get_json("/api/events/recent?tenant_id=tenant-two").await;
    assert!(all.to_string().contains("secret-t2-user"), "{all}");

    let bound = hs256_token(json!({"roles": ["eventlog-admin"], "tid": "tenant-one"}));
    let doc = serde_json::to_value(eventlog_server::openapi()).unwrap();
    let mut checked = 0;
    for (path, item) in doc["paths"].as_object().unwrap() {
        if item.get("get").is_none() {
            continue;
        }
        let concrete = path
            .replace("{event_id}", &t2_event)
            .replace("{user_id}", "u-two");
        for query in [
            "",
            "?tenant_id=tenant-two",
            "?tenant_id=tenant-two&hours=24&days=7",
        ] {
            let (status, body) = send(s.get(&format!("{concrete}{query}"), &bound)).await;
            let text = body.to_string();
            assert!(
                !text.contains("secret-t2-user"),
                "GET {concrete}{query} leaked tenant-two ({status}): {text}"
            );
            if path == "/api/events/{event_id}" {
                assert_eq!(status, 404, "{text}");
            }
            if !query.is_empty()
                && status == 200
                && !path.contains("health")
                && !path.contains("openapi")
                && !path.contains("catalog")
            {
                assert!(
                    !text.contains("tenant-two"),
                    "GET {concrete}{query}: {text}"
                );
            }
            checked += 1;
        }
    }
    assert!(checked > 30, "{checked}");
    // Figures of every tenant together are not for a tenant-bound credential at all.
    for path in ["/metrics", "/api/integrity/verify"] {
        let (status, body) = send(s.get(path, &bound)).await;
        assert_eq!(status, 403, "{path}: {body}");
        assert!(
            body["error"]["message"]
                .as_str()
                .unwrap()
                .contains("tenant-one"),
            "{path}: {body}"
        );
        assert_eq!(send(s.get(path, &s.admin_key)).await.0, 200, "{path}");
    }
    let (status, body) = send(s.get("/api/events/recent?tenant_id=tenant-two", &bound)).await;
    assert_eq!(status, 403, "{body}");
    assert_eq!(body["error"]["field"], json!("tenant_id"));
    // Its own tenant it reads.
    let (status, body) = send(s.get("/api/events/recent", &bound)).await;
    assert_eq!(status, 200);
    assert!(body.to_string().contains("alice-one"), "{body}");
    // And it writes only its own tenant.
    let (status, body) = send(
        s.post("/api/events", &bound)
            .json(&event(json!({"tenant_id": "tenant-two"}))),
    )
    .await;
    assert_eq!(status, 403, "{body}");
}

crate::store_tests!(config = super::hs256_config(); hs256_roles_expiry_and_signature, a_tenant_token_never_reads_another_tenant);

fn pem_config(alg: JwtAlgorithm, public: &str) -> ServerConfig {
    ServerConfig {
        auth: AuthConfig {
            jwt: Some(JwtConfig {
                algorithm: Some(alg),
                public_key_file: Some(fixture(public)),
                ..JwtConfig::default()
            }),
        },
        ..ServerConfig::default()
    }
}

fn signed(alg: Algorithm, key: &EncodingKey, kid: Option<&str>, role: &str) -> String {
    let mut header = Header::new(alg);
    header.kid = kid.map(str::to_owned);
    encode(
        &header,
        &json!({"sub": "svc", "exp": now() + 600, "role": role}),
        key,
    )
    .unwrap()
}

fn private(name: &str) -> Vec<u8> {
    std::fs::read(fixture(name)).unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rs256_public_key_pem() {
    let s = TestServer::sqlite_with(pem_config(JwtAlgorithm::RS256, "rs256-public.pem")).await;
    let key = EncodingKey::from_rsa_pem(&private("rs256-private.pem")).unwrap();
    let token = signed(Algorithm::RS256, &key, None, "analyst");
    assert_eq!(send(s.get("/api/events/recent", &token)).await.0, 200);
    let ingest = signed(Algorithm::RS256, &key, None, "ingest");
    assert_eq!(
        send(s.post("/api/events", &ingest).json(&event(json!({}))))
            .await
            .0,
        201
    );
    // Role names map to themselves without a [auth.jwt] roles table; publishable never.
    let (status, _) = send(s.get(
        "/api/events/recent",
        &signed(Algorithm::RS256, &key, None, "publishable"),
    ))
    .await;
    assert_eq!(status, 403);
    // The classic confusion: an HS256 token "signed" with the public key as the secret.
    let confused = signed(
        Algorithm::HS256,
        &EncodingKey::from_secret(&private("rs256-public.pem")),
        None,
        "admin",
    );
    let (status, message) = error_of(s.get("/api/events/recent", &confused)).await;
    assert_eq!(status, 401);
    assert!(message.contains("accepts only RS256"), "{message}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn es256_public_key_pem() {
    let s = TestServer::sqlite_with(pem_config(JwtAlgorithm::ES256, "es256-public.pem")).await;
    let key = EncodingKey::from_ec_pem(&private("es256-private.pem")).unwrap();
    assert_eq!(
        send(s.get(
            "/api/events/recent",
            &signed(Algorithm::ES256, &key, None, "auditor")
        ))
        .await
        .0,
        200
    );
    let rsa = EncodingKey::from_rsa_pem(&private("rs256-private.pem")).unwrap();
    let (status, _) = send(s.get(
        "/api/events/recent",
        &signed(Algorithm::RS256, &rsa, None, "admin"),
    ))
    .await;
    assert_eq!(status, 401);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn jwks_file_by_kid() {
    let config = ServerConfig {
        auth: AuthConfig {
            jwt: Some(JwtConfig {
                jwks_file: Some(fixture("jwks.json")),
                ..JwtConfig::default()
            }),
        },
        ..ServerConfig::default()
    };
    let s = TestServer::sqlite_with(config).await;
    let rsa = EncodingKey::from_rsa_pem(&private("rs256-private.pem")).unwrap();
    let ec = EncodingKey::from_ec_pem(&private("es256-private.pem")).unwrap();
    let ok = |t: String| {
        let req = s.get("/api/events/recent", &t);
        async move { send(req).await.0 }
    };
    assert_eq!(
        ok(signed(Algorithm::RS256, &rsa, Some("rsa-1"), "analyst")).await,
        200
    );
    assert_eq!(
        ok(signed(Algorithm::ES256, &ec, Some("ec-1"), "analyst")).await,
        200
    );
    // The right key under the wrong kid, an unknown kid, no kid: refused.
    assert_eq!(
        ok(signed(Algorithm::ES256, &ec, Some("rsa-1"), "analyst")).await,
        401
    );
    let (status, message) = error_of(s.get(
        "/api/events/recent",
        &signed(Algorithm::RS256, &rsa, Some("gone"), "analyst"),
    ))
    .await;
    assert_eq!(status, 401);
    assert!(message.contains("`gone` is not in the JWKS"), "{message}");
    assert_eq!(
        ok(signed(Algorithm::RS256, &rsa, None, "analyst")).await,
        401
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_jwt_config_tokens_are_refused_clearly() {
    let s = TestServer::sqlite().await;
    let token = hs256_token(json!({"roles": ["eventlog-admin"]}));
    let (status, body) = send(s.get("/api/events/recent", &token)).await;
    assert_eq!(status, 401);
    assert_eq!(body["error"]["code"], json!("unauthorized"));
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("[auth.jwt]"),
        "{body}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn loading_the_jwt_config_is_an_admin_event() {
    let s = TestServer::sqlite_with(hs256_config()).await;
    let (status, body) = s
        .get_json("/api/events/recent?category=ADMIN&event_code=ADMIN-005")
        .await;
    assert_eq!(status, 200, "{body}");
    let events = body["events"].as_array().unwrap();
    assert_eq!(events.len(), 1, "{body}");
    let text = events[0].to_string();
    assert!(
        text.contains("auth.jwt") && text.contains("hs256.secret"),
        "{text}"
    );
    let secret = String::from_utf8(hs256_secret()).unwrap();
    assert!(!text.contains(&secret), "the secret must never be logged");
}
