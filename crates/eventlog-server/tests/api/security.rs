//! Detection at ingest and the security overview, through the HTTP API: attacks become
//! the right SEC/AUTH events (user, IP, masked payload), benign traffic becomes nothing,
//! replays derive nothing twice.

use std::time::Duration;

use chrono::{DurationRound, Utc};
use eventlog_store::KeyRole;
use serde_json::{json, Value};

use crate::helpers::{send, TestServer};

/// Derived events of `code` once at least `n` exist (detection runs after commit).
async fn wait_for(s: &TestServer, code: &str, n: usize) -> Vec<Value> {
    for _ in 0..100 {
        let (status, body) = s
            .get_json(&format!("/api/events/recent?event_code={code}&limit=100"))
            .await;
        assert_eq!(status, 200, "{body}");
        let events = body["events"].as_array().unwrap().clone();
        if events.len() >= n {
            return events;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("no {n} {code} event(s) were derived within 10 s");
}

/// Sends a request that is certain to derive an event and waits for it: detection works
/// in order, so everything sent before has been judged once it is there.
async fn barrier(s: &TestServer, tag: &str) {
    let event = json!({"event_category": "DATA", "event_type": "API_REQUEST", "action": "READ",
        "event_id": format!("barrier-{tag}"), "endpoint": format!("/barrier/{tag}?q=%3Cscript%3Ealert(1)%3C/script%3E")});
    assert_eq!(s.post_event(&event).await.0, 201);
    for _ in 0..100 {
        let (_, body) = s
            .get_json("/api/events/recent?event_code=SEC-004&limit=100")
            .await;
        if body["events"]
            .as_array()
            .unwrap()
            .iter()
            .any(|e| e["metadata"]["trigger_event_id"] == format!("barrier-{tag}"))
        {
            return;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("barrier {tag} was not judged within 10 s");
}

async fn count(s: &TestServer, code: &str) -> usize {
    let (_, body) = s
        .get_json(&format!("/api/events/recent?event_code={code}&limit=1000"))
        .await;
    body["events"].as_array().unwrap().len()
}

fn failed_login(n: usize, username: &str, ip: &str) -> Value {
    json!({"event_id": format!("login-{username}-{ip}-{n}"), "event_code": "AUTH-002",
        "username": username, "user_id": format!("id-{username}"), "ip_address": ip,
        "endpoint": "/api/auth/login", "http_method": "POST", "http_status": 401,
        "request_data": {"username": username, "password": "hunter2"}})
}

async fn brute_force_locks_the_account_once(s: &TestServer) {
    let batch: Vec<Value> = (0..5)
        .map(|n| failed_login(n, "guru01", "10.0.0.9"))
        .collect();
    let (status, body) = s.post_batch(&batch).await;
    assert_eq!(status, 201, "{body}");
    let attacks = wait_for(s, "SEC-002", 1).await;
    let locked = wait_for(s, "AUTH-005", 1).await;
    for e in [&attacks[0], &locked[0]] {
        assert_eq!(e["username"], "guru01");
        assert_eq!(e["user_id"], "id-guru01");
        assert_eq!(e["ip_address"], "10.0.0.9");
        assert_eq!(e["metadata"]["attempt_count"], 5);
        assert_eq!(e["source"], "eventlog-detect");
        assert!(!e.to_string().contains("hunter2"), "{e}");
    }
    assert_eq!(attacks[0]["event_category"], "SECURITY");
    assert_eq!(attacks[0]["severity"], "CRITICAL");
    assert_eq!(locked[0]["event_category"], "AUTH");

    // The client retries the same batch: repeats are not attacks, nothing new is derived.
    let (status, body) = s.post_batch(&batch).await;
    assert_eq!(
        (status, body["duplicates"].clone()),
        (201, json!(5)),
        "{body}"
    );
    barrier(s, "replay").await;
    assert_eq!(count(s, "SEC-002").await, 1);
    assert_eq!(count(s, "AUTH-005").await, 1);
}

async fn benign_traffic_derives_nothing(s: &TestServer) {
    let mut batch: Vec<Value> = (0..4)
        .map(|n| failed_login(n, "siti", "10.0.0.10"))
        .collect();
    batch.push(json!({"event_code": "AUTH-001", "username": "siti", "ip_address": "10.0.0.10"}));
    batch.push(json!({"event_category": "DATA", "event_type": "STUDENT_UPDATED", "action": "UPDATE",
        "user_id": 15, "username": "guru01", "user_role": "teacher",
        "endpoint": "/api/students/42?fields=name,grade&q=O%27Brien", "http_status": 200,
        "request_data": {"name": "Siobhán O'Brien", "note": "Please select the best option from the list",
            "html": "<p>Nilai <b>naik</b></p>", "file": "rapor-7A.pdf"}}));
    let (status, body) = s.post_batch(&batch).await;
    assert_eq!(status, 201, "{body}");
    barrier(s, "benign").await;
    let (_, body) = s
        .get_json("/api/events/recent?category=SECURITY&limit=100")
        .await;
    let derived: Vec<&Value> = body["events"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["metadata"]["trigger_event_id"] != "barrier-benign")
        .collect();
    assert!(derived.is_empty(), "{derived:#?}");
    assert_eq!(count(s, "AUTH-005").await, 0);
}

async fn payload_attacks_become_sec_events_with_masked_payloads(s: &TestServer) {
    let event = json!({"event_id": "req-1", "event_category": "DATA", "event_type": "API_REQUEST",
        "action": "READ", "user_id": 77, "username": "siswa77", "user_role": "student",
        "ip_address": "203.0.113.50", "http_method": "POST",
        "endpoint": "/api/students?id=1%20UNION%20SELECT%20password%20FROM%20users--",
        "request_data": {"profile": {"bio": "<img src=x onerror=alert(document.cookie)>"},
            "avatar": {"filename": "me.jpg.php"}, "path": "../../../etc/passwd",
            "host": "8.8.8.8; cat /etc/shadow", "password": "hunter2"}});
    let (status, body) = s.post_event(&event).await;
    assert_eq!(status, 201, "{body}");
    for (code, location, needle) in [
        ("SEC-003", "query.id", "UNION SELECT"),
        ("SEC-004", "body.profile.bio", "onerror=alert"),
        ("SEC-008", "body.avatar.filename", "me.jpg.php"),
        ("SEC-011", "body.path", "../../../etc/passwd"),
        ("SEC-012", "body.host", "cat /etc/shadow"),
    ] {
        let events = wait_for(s, code, 1).await;
        let e = events
            .iter()
            .find(|e| e["metadata"]["trigger_event_id"] == "req-1")
            .unwrap_or_else(|| panic!("{code}: {events:#?}"));
        assert_eq!(e["user_id"], "77", "{code}");
        assert_eq!(e["username"], "siswa77", "{code}");
        assert_eq!(e["ip_address"], "203.0.113.50", "{code}");
        assert_eq!(
            e["endpoint"], "/api/students",
            "{code}: the query is not copied"
        );
        assert_eq!(e["request_data"]["location"], location, "{code}");
        let payload = e["request_data"]["payload"].as_str().unwrap();
        assert!(payload.contains(needle), "{code}: {payload}");
        assert!(!e.to_string().contains("hunter2"), "{code}: {e}");
    }
}

async fn credential_stuffing_escalation_unauthorized_and_anomalies(s: &TestServer) {
    // One IP, ten usernames.
    let batch: Vec<Value> = (0..10)
        .map(|n| failed_login(0, &format!("user{n}"), "198.51.100.7"))
        .collect();
    assert_eq!(s.post_batch(&batch).await.0, 201);
    let stuffing = wait_for(s, "SEC-001", 1).await;
    assert_eq!(stuffing[0]["ip_address"], "198.51.100.7");
    assert_eq!(
        stuffing[0]["metadata"]["targeted_usernames"]
            .as_array()
            .unwrap()
            .len(),
        10
    );

    // A student on admin routes.
    let batch: Vec<Value> = (0..3)
        .map(|n| json!({"event_category": "DATA", "event_type": "API_REQUEST", "action": "READ",
            "event_id": format!("esc-{n}"), "user_id": 88, "username": "siswa88", "user_role": "student",
            "ip_address": "10.2.2.2", "endpoint": "/api/admin/users", "http_method": "GET", "http_status": 403}))
        .collect();
    assert_eq!(s.post_batch(&batch).await.0, 201);
    let escalation = wait_for(s, "SEC-007", 1).await;
    assert_eq!(escalation[0]["user_id"], "88");
    assert_eq!(
        escalation[0]["metadata"]["attempted_action"],
        "GET /api/admin/users"
    );

    // Ten 401s from one scanner.
    let batch: Vec<Value> = (0..10)
        .map(|n| {
            json!({"event_category": "SYSTEM", "event_type": "API_REQUEST", "action": "READ",
            "event_id": format!("scan-{n}"), "ip_address": "192.0.2.99", "user_agent": "sqlmap/1.8",
            "endpoint": format!("/api/v1/item{n}"), "http_status": 401})
        })
        .collect();
    assert_eq!(s.post_batch(&batch).await.0, 201);
    // (The stuffing attempts above were 401s from one IP too: that is a burst as well.)
    let unauthorized = wait_for(s, "SEC-005", 2).await;
    let scanner = unauthorized
        .iter()
        .find(|e| e["ip_address"] == "192.0.2.99")
        .unwrap_or_else(|| panic!("{unauthorized:#?}"));
    assert_eq!(scanner["user_agent"], "sqlmap/1.8");
    assert_eq!(scanner["metadata"]["attempt_count"], 10);

    // A user with a history, then a login from a never-seen address, all within one clock
    // hour (a history that crossed an hour boundary made the login's hour "unusual" too,
    // depending on when the test ran).
    let start = (Utc::now() - chrono::Duration::hours(2))
        .duration_trunc(chrono::Duration::hours(1))
        .unwrap()
        + chrono::Duration::minutes(5);
    let history: Vec<Value> = (0..20)
        .map(|n| {
            json!({"event_code": "AUTH-001", "event_id": format!("hist-{n}"), "user_id": 501,
            "username": "kepsek", "ip_address": "10.5.5.5", "user_agent": "Firefox/128",
            "timestamp": (start + chrono::Duration::minutes(n)).to_rfc3339()})
        })
        .collect();
    assert_eq!(s.post_batch(&history).await.0, 201);
    let odd = json!({"event_code": "AUTH-001", "event_id": "odd-login", "user_id": 501,
        "username": "kepsek", "ip_address": "185.220.101.4", "user_agent": "Firefox/128",
        "timestamp": (start + chrono::Duration::minutes(21)).to_rfc3339()});
    assert_eq!(s.post_event(&odd).await.0, 201);
    let anomalies = wait_for(s, "SEC-009", 1).await;
    assert_eq!(anomalies[0]["user_id"], "501");
    assert_eq!(anomalies[0]["ip_address"], "185.220.101.4");
    assert_eq!(anomalies[0]["metadata"]["behavior_pattern"], "new_ip");
}

async fn security_overview_is_admin_only_and_tenant_bound(s: &TestServer) {
    let mut batch: Vec<Value> = (0..5)
        .map(|n| failed_login(n, "guru02", "10.0.0.20"))
        .collect();
    for e in &mut batch {
        e["tenant_id"] = json!("school-a");
    }
    batch.push(json!({"event_code": "AUTH-002", "username": "other", "ip_address": "10.9.9.9", "tenant_id": "school-b"}));
    assert_eq!(s.post_batch(&batch).await.0, 201);
    wait_for(s, "AUTH-005", 1).await;
    // What an alert rule stores about its own firing is no attack of its own.
    let alert_event = eventlog_core::validate::Validator::new(
        eventlog_core::ValidationPolicy::default(),
        eventlog_core::Catalog::built_in(),
    )
    .validate(
        eventlog_core::parse_event(
            br#"{"event_code":"SEC-001","source":"eventlog-alerts","username":"guru02"}"#,
        )
        .unwrap(),
        chrono::Utc::now(),
    )
    .unwrap();
    s.store.write(&[vec![alert_event]]).await.unwrap();

    let (status, body) = s.get_json("/api/events/security?hours=24").await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["failed_logins"], 6, "{body}");
    assert_eq!(
        body["failed_logins_by_user"][0],
        json!({"value": "guru02", "count": 5})
    );
    assert_eq!(
        body["failed_logins_by_ip"][0],
        json!({"value": "10.0.0.20", "count": 5})
    );
    assert_eq!(body["lockout_count"], 1);
    assert_eq!(body["lockouts"][0]["username"], "guru02");
    assert!(
        body["attacks_by_type"]
            .as_array()
            .unwrap()
            .contains(&json!({"value": "SEC-002", "count": 1})),
        "{body}"
    );
    assert!(
        !body["attacks_by_type"]
            .as_array()
            .unwrap()
            .iter()
            .any(|c| c["value"] == "SEC-001"),
        "{body}"
    );
    assert_eq!(body["top_offending_ips"][0]["value"], "10.0.0.20", "{body}");
    assert_eq!(body["escalation_count"], 0);

    let tenant_admin = s.key("admin-b", KeyRole::Admin, Some("school-b")).await;
    let (status, body) = send(s.get("/api/events/security", &tenant_admin)).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["failed_logins"], 1, "{body}");
    assert_eq!(body["lockout_count"], 0, "{body}");
    let (status, body) =
        send(s.get("/api/events/security?tenant_id=school-a", &tenant_admin)).await;
    assert_eq!(
        (status, body["error"]["field"].clone()),
        (403, json!("tenant_id")),
        "{body}"
    );

    let analyst = s.key("analyst", KeyRole::Analyst, None).await;
    let (status, body) = send(s.get("/api/events/security", &analyst)).await;
    assert_eq!(status, 403, "{body}");
    let (status, body) = s.get_json("/api/events/security?hours=0").await;
    assert_eq!(
        (status, body["error"]["field"].clone()),
        (400, json!("hours")),
        "{body}"
    );
    let (status, _) = send(s.client.get(format!("{}/api/events/security", s.url))).await;
    assert_eq!(status, 401);
}

/// Seed 001 counts `event_type = 'LOGIN_FAILED'`, seed 002 AUTH-002 or USER_LOGIN with a
/// failed status, clients write types in any case: every spelling is one failed login for
/// detection (the lockout), the security report and the rollups the alert reads alike.
async fn every_spelling_of_a_failed_login_counts_the_same_everywhere(s: &TestServer) {
    let login = |n: usize, fields: Value| {
        let mut e = json!({"event_id": format!("spell-{n}"), "event_category": "AUTH",
            "username": "mixed", "ip_address": "10.0.0.77"});
        e.as_object_mut()
            .unwrap()
            .extend(fields.as_object().unwrap().clone());
        e
    };
    let batch = vec![
        login(1, json!({"event_type": "user_login", "status": "FAILED"})),
        login(2, json!({"event_type": "LOGIN_FAILED"})),
        login(3, json!({"event_type": "USER_LOGIN", "status": "BLOCKED"})),
        login(4, json!({"event_code": "AUTH-002"})),
        login(5, json!({"event_type": "User_Login", "status": "denied"})),
        // Not failed logins: a server error during a login, a success.
        login(6, json!({"event_type": "USER_LOGIN", "status": "ERROR"})),
        login(7, json!({"event_type": "user_login", "status": "SUCCESS"})),
    ];
    let (status, body) = s.post_batch(&batch).await;
    assert_eq!(status, 201, "{body}");

    let locked = wait_for(s, "AUTH-005", 1).await;
    assert_eq!(locked[0]["username"], "mixed", "{locked:?}");
    let (status, body) = s.get_json("/api/events/security?hours=1").await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["failed_logins"], 5, "{body}");
    assert_eq!(
        body["failed_logins_by_user"][0],
        json!({"value": "mixed", "count": 5}),
        "{body}"
    );
    let analytics = eventlog_store::analytics::Analytics::new(
        s.store.clone(),
        std::sync::Arc::new(eventlog_core::Catalog::built_in()),
    );
    let now = Utc::now();
    let counted = analytics
        .failed_logins(
            now - chrono::Duration::hours(1),
            now + chrono::Duration::minutes(1),
            None,
        )
        .await
        .unwrap();
    assert_eq!(counted.len(), 1, "{counted:?}");
    assert_eq!((counted[0].value.as_str(), counted[0].count), ("mixed", 5));
}

/// The tower layer stores a request's route template as `endpoint` and the path and query
/// the client sent in `metadata`: attacks there are found too.
async fn attacks_in_a_layer_recorded_path_or_query_are_found(s: &TestServer) {
    let request = |id: &str, route: &str, path: &str, query: Option<&str>| {
        let mut metadata = json!({"path": path});
        if let Some(query) = query {
            metadata["query"] = json!(query);
        }
        json!({"event_id": id, "event_category": "SYSTEM", "event_type": "HTTP_REQUEST",
            "action": "GET", "http_method": "GET", "endpoint": route, "http_status": 200,
            "ip_address": "203.0.113.77", "metadata": metadata})
    };
    let batch = [
        request(
            "layer-xss",
            "/api/search",
            "/api/search",
            Some("q=%3Cscript%3Ealert(1)%3C%2Fscript%3E"),
        ),
        request(
            "layer-sqli",
            "/api/search",
            "/api/search",
            Some("q=1%27%20UNION%20SELECT%20password%20FROM%20users--"),
        ),
        request(
            "layer-traversal",
            "/api/reset/{token}",
            "/api/reset/..%2F..%2F..%2Fetc%2Fpasswd",
            None,
        ),
    ];
    let (status, body) = s.post_batch(&batch).await;
    assert_eq!(status, 201, "{body}");
    for (code, trigger) in [
        ("SEC-004", "layer-xss"),
        ("SEC-003", "layer-sqli"),
        ("SEC-011", "layer-traversal"),
    ] {
        // Each code has this one trigger here: the first event of it must be its finding.
        let events = wait_for(s, code, 1).await;
        assert!(
            events
                .iter()
                .any(|e| e["metadata"]["trigger_event_id"] == trigger),
            "no {code} for {trigger}: {events:#?}"
        );
    }
}

crate::store_tests!(
    every_spelling_of_a_failed_login_counts_the_same_everywhere,
    brute_force_locks_the_account_once,
    benign_traffic_derives_nothing,
    payload_attacks_become_sec_events_with_masked_payloads,
    attacks_in_a_layer_recorded_path_or_query_are_found,
    credential_stuffing_escalation_unauthorized_and_anomalies,
    security_overview_is_admin_only_and_tenant_bound,
);

/// Refused credentials on eventlog's own API and sign-in form are on its audit trail as
/// SEC-005 events: the first at once, the rest counted per address and period, so a
/// flood of guesses is recorded in full without flooding the store.
mod own_auth_failures {
    use super::*;
    use eventlog_server::ServerConfig;

    /// eventlog's own SEC-005 events, and the attempts they add up to.
    async fn recorded(s: &TestServer) -> (Vec<Value>, u64) {
        let (status, body) = s
            .get_json("/api/events/recent?event_code=SEC-005&limit=1000")
            .await;
        assert_eq!(status, 200, "{body}");
        let events: Vec<Value> = body["events"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|e| e["source"] == "eventlog")
            .cloned()
            .collect();
        let attempts = events
            .iter()
            .map(|e| e["metadata"]["attempts"].as_u64().unwrap())
            .sum();
        (events, attempts)
    }

    async fn refused_credentials_are_recorded_without_flooding(s: &TestServer) {
        // A wrong key in the dashboard's sign-in form: recorded at once.
        let form = s
            .client
            .get(format!("{}/signin", s.url))
            .send()
            .await
            .unwrap();
        let cookie = form.headers()["set-cookie"].to_str().unwrap().to_owned();
        let cookie = cookie.split(';').next().unwrap().to_owned();
        let page = form.text().await.unwrap();
        let csrf = page.split("name=\"csrf\" value=\"").nth(1).unwrap();
        let csrf = csrf.split('"').next().unwrap();
        let refused = s
            .client
            .post(format!("{}/signin", s.url))
            .header("cookie", cookie)
            .form(&[("key", "elk_not_a_key"), ("csrf", csrf), ("next", "/")])
            .send()
            .await
            .unwrap();
        assert_eq!(refused.status(), 401);
        let first = until_recorded(s, 1).await;
        let e = &first[0];
        assert_eq!(e["event_category"], "SECURITY", "{e}");
        assert_eq!(e["ip_address"], "127.0.0.1", "{e}");
        assert_eq!(e["endpoint"], "/signin", "{e}");
        assert_eq!(e["http_status"], 401, "{e}");
        assert_eq!(e["metadata"]["attempts"], 1, "{e}");
        let reason = e["metadata"]["reason"].as_str().unwrap();
        assert!(reason.contains("unknown or revoked"), "{e}");
        assert!(
            !e.to_string().contains("elk_not_a_key"),
            "the guessed key is not stored: {e}"
        );

        // The same address again, on the API: counted into the period's event.
        let (status, _) = send(s.get("/api/events/recent", "elk_not_a_key")).await;
        assert_eq!(status, 401);
        let events = until_recorded(s, 2).await;
        assert_eq!(events[0]["endpoint"], "/api/events/recent", "{events:?}");
        assert_eq!(events[0]["metadata"]["period_secs"], 1, "{events:?}");

        // A flood: 200 more refusals (bad keys, no key) in a few periods' events.
        let requests = (0..200).map(|i| {
            let get = if i % 2 == 0 {
                s.get("/api/events/recent", &format!("elk_guess_{i}"))
            } else {
                s.client.get(format!("{}/api/events/recent", s.url))
            };
            async move { get.send().await.unwrap().status() }
        });
        for status in futures::future::join_all(requests).await {
            assert_eq!(status, 401);
        }
        let events = until_recorded(s, 202).await;
        assert!(
            events.len() <= 7,
            "{} events for 202 refusals",
            events.len()
        );
        let (_, attempts) = recorded(s).await;
        assert_eq!(attempts, 202, "each refusal counted once");
    }

    /// Waits (10 s at most) until the SEC-005 events add up to `attempts`.
    async fn until_recorded(s: &TestServer, attempts: u64) -> Vec<Value> {
        for _ in 0..100 {
            let (events, counted) = recorded(s).await;
            if counted >= attempts {
                return events;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        panic!("the refusals did not add up to {attempts} within 10 s");
    }

    fn config() -> ServerConfig {
        let mut c = ServerConfig::default();
        c.detect.auth_failures_report_secs = 1;
        c
    }

    crate::store_tests!(config = super::config(); refused_credentials_are_recorded_without_flooding);
}
