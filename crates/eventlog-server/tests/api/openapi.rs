//! The OpenAPI document describes every route the router serves.

use serde_json::Value;

use crate::helpers::{send, TestServer};

/// Every route of DESIGN.md's HTTP interface (later routes are checked the same way below,
/// and the access-matrix test makes sure each has an access rule).
const ROUTES: &[(&str, &str)] = &[
    ("post", "/api/events"),
    ("post", "/api/events/batch"),
    ("get", "/api/events/recent"),
    ("get", "/api/events/stream"),
    ("get", "/api/events/{event_id}"),
    ("get", "/api/events/user-activity/{user_id}"),
    ("get", "/api/events/security"),
    ("get", "/api/events/analytics/summary"),
    ("get", "/api/events/analytics/critical"),
    ("get", "/api/events/analytics/users"),
    ("get", "/api/events/analytics/endpoints"),
    ("get", "/api/events/analytics/security"),
    ("get", "/api/events/analytics/models"),
    ("get", "/api/events/analytics/performance"),
    ("get", "/api/events/analytics/timeseries"),
    ("get", "/api/activities"),
    ("get", "/api/events/health"),
    ("get", "/api/catalog"),
    ("get", "/api/openapi.json"),
];

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_served_route_is_documented_and_every_documented_route_is_served() {
    let s = TestServer::sqlite().await;
    let (status, doc) = send(s.client.get(format!("{}/api/openapi.json", s.url))).await;
    assert_eq!(status, 200);
    let paths = doc["paths"].as_object().unwrap();
    for (method, path) in ROUTES {
        assert!(
            paths.get(*path).and_then(|p| p.get(*method)).is_some(),
            "{method} {path} missing from the OpenAPI document"
        );
    }
    for (path, item) in paths {
        for method in item.as_object().unwrap().keys() {
            let concrete = path.replace("{event_id}", "X-1").replace("{user_id}", "15");
            let req = match method.as_str() {
                "get" => s.get(&concrete, &s.admin_key),
                "post" => s
                    .post(&concrete, &s.admin_key)
                    .header("content-type", "application/json")
                    .body("{}"),
                other => panic!("unexpected method {other}"),
            };
            let (_, body) = send(req).await;
            let message = body["error"]["message"].as_str().unwrap_or_default();
            assert!(
                !message.starts_with("no such route"),
                "{method} {path} is documented but not served"
            );
        }
    }
    assert!(doc["components"]["securitySchemes"]["api_key"].is_object());
    // Code generators name a client's methods by operationId: each is unique.
    let mut ids: Vec<&str> = paths
        .values()
        .flat_map(|item| item.as_object().unwrap().values())
        .map(|op| op["operationId"].as_str().expect("an operationId"))
        .collect();
    let count = ids.len();
    ids.sort_unstable();
    ids.dedup();
    assert_eq!(ids.len(), count, "duplicate operationIds among {ids:?}");
    // What a client sends is described as it is taken: nothing required (a code alone
    // will do), ids as strings or integers, unknown fields refused; a batch holds those.
    let input = &doc["components"]["schemas"]["EventInput"];
    assert!(input["required"].is_null(), "{input}");
    assert_eq!(input["additionalProperties"], false, "{input}");
    let user_id = input["properties"]["user_id"]["oneOf"].to_string();
    assert!(
        user_id.contains("string") && user_id.contains("integer"),
        "{user_id}"
    );
    let single = &paths["/api/events"]["post"]["requestBody"]["content"]["application/json"];
    assert_eq!(single["schema"]["$ref"], "#/components/schemas/EventInput");
    let batch = &doc["components"]["schemas"]["BatchBody"]["properties"]["events"];
    assert_eq!(
        batch["items"]["$ref"], "#/components/schemas/EventInput",
        "{batch}"
    );
    let unknown: Value = send(s.get("/api/nope", &s.admin_key)).await.1;
    assert_eq!(unknown["error"]["code"], "not_found");
    let (status, wrong_method) = send(s.client.delete(format!("{}/api/events/batch", s.url))).await;
    assert_eq!(
        (status, &wrong_method["error"]["code"]),
        (405, &serde_json::json!("method_not_allowed"))
    );
}
