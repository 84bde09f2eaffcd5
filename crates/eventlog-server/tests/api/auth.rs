//! Keys and roles on every route.

use eventlog_store::KeyRole;
use serde_json::json;

use crate::helpers::{event, send, TestServer};

async fn roles_are_enforced(s: &TestServer) {
    let ingest = s.key("ingest", KeyRole::Ingest, None).await;
    let analyst = s.key("analyst", KeyRole::Analyst, None).await;
    let e = event(json!({}));

    assert_eq!(
        send(s.client.get(format!("{}/api/events/recent", s.url)))
            .await
            .0,
        401
    );
    let (status, body) = send(s.get("/api/events/recent", "elk_wrong")).await;
    assert_eq!(
        (status, &body["error"]["code"]),
        (401, &json!("unauthorized"))
    );
    let (status, _) = send(
        s.client
            .get(format!("{}/api/events/recent", s.url))
            .header("authorization", "Basic x"),
    )
    .await;
    assert_eq!(status, 401);
    // The scheme's name is case-insensitive.
    for scheme in ["bearer", "BEARER", "BeArEr"] {
        let (status, body) = send(
            s.client
                .get(format!("{}/api/events/recent", s.url))
                .header("authorization", format!("{scheme} {}", s.admin_key)),
        )
        .await;
        assert_eq!(status, 200, "{scheme}: {body}");
    }
    // Two credentials, in either order, are refused: neither one's rights apply.
    for (first, second) in [(&s.admin_key, &ingest), (&ingest, &s.admin_key)] {
        let (status, body) = send(
            s.client
                .get(format!("{}/api/events/recent", s.url))
                .header("authorization", format!("Bearer {first}"))
                .header("authorization", format!("Bearer {second}")),
        )
        .await;
        assert_eq!(status, 401, "{body}");
        assert!(body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("one `Authorization`"));
    }

    assert_eq!(send(s.post("/api/events", &ingest).json(&e)).await.0, 201);
    assert_eq!(
        send(
            s.post("/api/events/batch", &ingest)
                .json(&json!({"events": [e]}))
        )
        .await
        .0,
        201
    );
    assert_eq!(send(s.get("/api/events/recent", &ingest)).await.0, 403);
    assert_eq!(
        send(s.get("/api/events/user-activity/15", &ingest)).await.0,
        403
    );
    assert_eq!(send(s.get("/api/catalog", &ingest)).await.0, 200);

    let (status, body) = send(s.post("/api/events", &analyst).json(&e)).await;
    assert_eq!(status, 403, "{body}");
    assert!(body["error"]["message"]
        .as_str()
        .unwrap()
        .contains("analyst"));
    assert_eq!(send(s.get("/api/events/recent", &analyst)).await.0, 200);

    // Health and the API description need no key.
    assert_eq!(
        send(s.client.get(format!("{}/api/events/health", s.url)))
            .await
            .0,
        200
    );
    assert_eq!(
        send(s.client.get(format!("{}/api/openapi.json", s.url)))
            .await
            .0,
        200
    );
}

async fn revoked_keys_stop_working(s: &TestServer) {
    let key = s.key("temp", KeyRole::Analyst, None).await;
    assert_eq!(send(s.get("/api/events/recent", &key)).await.0, 200);
    assert!(s.store.revoke_key("temp").await.unwrap());
    // Verified keys are cached for at most two seconds.
    tokio::time::sleep(std::time::Duration::from_millis(2100)).await;
    assert_eq!(send(s.get("/api/events/recent", &key)).await.0, 401);
}

async fn the_catalog_is_served(s: &TestServer) {
    let (status, body) = s.get_json("/api/catalog").await;
    assert_eq!(status, 200);
    let events = body["events"].as_array().unwrap();
    // The 84 codes of seed 002, the 16 platform events of seed 003, and eventlog's own SEC codes.
    assert!(events.len() >= 100, "{} catalog entries", events.len());
    for code in ["AUTH-001", "ADMIN-010", "SEC-010", "TENANT_CREATED"] {
        assert!(events.iter().any(|e| e["code"] == code), "{code} missing");
    }
    let login = events.iter().find(|e| e["code"] == "AUTH-001").unwrap();
    assert_eq!(login["name"], "User Login Success");
    assert!(login["icon"].is_string() && login["color"].as_str().unwrap().starts_with('#'));
}

/// An application's own catalog, named in the config, is served and its codes' defaults
/// apply to events that name them.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn extra_catalogs_from_the_config_are_loaded() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("shop.json");
    std::fs::write(
        &file,
        r##"{"catalog": "shop", "events": [{"code": "SHOP-001", "name": "Order Placed",
            "description": "A customer placed an order", "category": "DATA", "event_type": "ORDER",
            "action": "CREATE", "severity": "INFO", "importance": "MAJOR", "data_keys": ["order_id"],
            "icon": "shopping-cart", "color": "#16a34a"}]}"##,
    )
    .unwrap();
    let config = eventlog_server::ServerConfig {
        catalog: eventlog_server::config::CatalogConfig { files: vec![file] },
        ..Default::default()
    };
    let s = TestServer::sqlite_with(config).await;
    let (_, catalog) = s.get_json("/api/catalog").await;
    assert!(catalog["sources"]
        .as_array()
        .unwrap()
        .contains(&json!("shop")));
    let (status, body) = s
        .post_event(&json!({"event_code": "SHOP-001", "resource_id": "ORD-9"}))
        .await;
    assert_eq!(status, 201, "{body}");
    let id = body["event_id"].as_str().unwrap();
    assert!(id.starts_with("SHOP-001-"), "{id}");
    let (_, stored) = s.get_json(&format!("/api/events/{id}")).await;
    assert_eq!(
        (stored["event_name"].as_str(), stored["importance"].as_str()),
        (Some("Order Placed"), Some("MAJOR"))
    );
}

crate::store_tests!(
    roles_are_enforced,
    revoked_keys_stop_working,
    the_catalog_is_served
);
