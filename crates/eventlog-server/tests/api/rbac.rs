//! The whole role x route matrix, over every route of the OpenAPI document: a route
//! without a row in the access matrix fails here, saying what to add.

use eventlog_server::rbac::{access_for, Access};
use eventlog_store::KeyRole;
use serde_json::{json, Value};

use crate::helpers::{send, TestServer};

async fn every_role_on_every_route(s: &TestServer) {
    let mut keys = Vec::new();
    for role in KeyRole::ALL {
        keys.push((
            role,
            s.key(&format!("matrix-{}", role.as_str()), role, None)
                .await,
        ));
    }
    let doc = serde_json::to_value(eventlog_server::openapi()).unwrap();
    let paths = doc["paths"]
        .as_object()
        .expect("paths in the OpenAPI document");
    let mut checked = 0;
    for (path, item) in paths {
        for method in item.as_object().unwrap().keys() {
            let Ok(m) = method.to_uppercase().parse::<axum::http::Method>() else {
                continue;
            };
            if !["GET", "POST", "PUT", "PATCH", "DELETE"].contains(&m.as_str()) {
                continue;
            }
            let access = access_for(&m, path).unwrap_or_else(|| {
                panic!(
                    "{m} {path} has no row in the access matrix: add \
                     `rule(Method::{m}, \"{path}\", <roles>)` to ACCESS_MATRIX in \
                     crates/eventlog-server/src/rbac.rs and a line to the table in \
                     docs/security-access.md"
                )
            });
            let url = format!("{}{}", s.url, concrete(path));
            let request = |key: Option<&str>| {
                // Browsers send `Origin`; publishable keys need it, the others ignore it.
                let mut r = s
                    .client
                    .request(m.clone(), &url)
                    .header("origin", crate::helpers::PAGE_ORIGIN);
                if let Some(k) = key {
                    r = r.bearer_auth(k);
                }
                if m != axum::http::Method::GET {
                    r = r.json(&json!({}));
                }
                r
            };
            let (status, body) = send(request(None)).await;
            match access {
                Access::Public => assert!(
                    status != 401 && status != 403,
                    "{m} {path} is public but answered {status} {body}"
                ),
                Access::Roles(_) => assert_eq!(status, 401, "{m} {path} without a key: {body}"),
            }
            for (role, key) in &keys {
                let (status, body) = send(request(Some(key))).await;
                let allowed = match access {
                    Access::Public => true,
                    Access::Roles(roles) => roles.contains(role),
                };
                if allowed {
                    assert!(
                        status != 401 && status != 403,
                        "{m} {path} allows {} but answered {status} {body}",
                        role.as_str()
                    );
                } else {
                    assert_eq!(
                        status,
                        403,
                        "{m} {path} must refuse {}: {body}",
                        role.as_str()
                    );
                    assert_eq!(body["error"]["code"], json!("forbidden"), "{body}");
                }
                checked += 1;
            }
        }
    }
    assert!(
        checked >= 9 * KeyRole::ALL.len(),
        "only {checked} role x route pairs"
    );
}

/// `/api/events/{event_id}` -> `/api/events/x`.
fn concrete(path: &str) -> String {
    let mut out = String::new();
    let mut in_param = false;
    for c in path.chars() {
        match c {
            '{' => {
                in_param = true;
                out.push('x');
            }
            '}' => in_param = false,
            _ if in_param => {}
            _ => out.push(c),
        }
    }
    out
}

crate::store_tests!(every_role_on_every_route);

#[test]
fn every_matrix_row_is_a_real_route() {
    let doc: Value = serde_json::to_value(eventlog_server::openapi()).unwrap();
    for rule in eventlog_server::rbac::ACCESS_MATRIX {
        let method = rule.method.as_str().to_lowercase();
        assert!(
            doc["paths"][rule.path][&method].is_object(),
            "ACCESS_MATRIX lists {} {}, which the API does not serve: remove or fix the row",
            rule.method,
            rule.path
        );
    }
}
