//! Reading events: every filter of `recent`, keyset paging, get by id, user activity.

use std::collections::HashSet;

use chrono::{DateTime, Duration, Utc};
use serde_json::{json, Value};

use crate::helpers::{event, TestServer};

fn ids(page: &Value) -> Vec<String> {
    page["events"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["event_id"].as_str().unwrap().to_owned())
        .collect()
}

async fn every_filter_of_recent_selects_exactly_its_events(s: &TestServer) {
    let t0 = Utc::now() - Duration::hours(3);
    let ts = |m: i64| (t0 + Duration::minutes(m)).to_rfc3339();
    let events = vec![
        json!({"event_id": "f-1", "event_code": "AUTH-001", "user_id": 1, "username": "guru01", "ip_address": "10.0.0.1", "timestamp": ts(0)}),
        json!({"event_id": "f-2", "event_code": "AUTH-002", "user_id": 1, "username": "guru01", "status": "FAILED", "ip_address": "::ffff:10.0.0.2", "timestamp": ts(10)}),
        json!({"event_id": "f-3", "event_code": "DATA-001", "user_id": 2, "username": "admin01", "resource_type": "STUDENT", "resource_id": "STD-1",
               "endpoint": "/api/siswa", "tenant_id": "acme", "session_id": "s-9", "correlation_id": "c-7", "timestamp": ts(20)}),
        json!({"event_id": "f-4", "event_code": "SEC-003", "ip_address": "2001:db8::1", "endpoint": "/api/siswa", "timestamp": ts(30)}),
        json!({"event_id": "f-5", "event_category": "SYSTEM", "event_type": "API_REQUEST", "severity": "debug", "timestamp": ts(40)}),
    ];
    let (status, body) = s.post_batch(&events).await;
    assert_eq!(status, 201, "{body}");
    let cases: &[(&str, &[&str])] = &[
        ("", &["f-5", "f-4", "f-3", "f-2", "f-1"]),
        ("category=AUTH", &["f-2", "f-1"]),
        ("category=auth,data", &["f-3", "f-2", "f-1"]),
        ("event_type=USER_LOGIN", &["f-2", "f-1"]),
        ("event_code=SEC-003", &["f-4"]),
        ("event_code=sec-003", &["f-4"]),
        ("severity=CRITICAL", &["f-4"]),
        ("severity=WARNING,DEBUG", &["f-5", "f-2"]),
        ("status=FAILED", &["f-2"]),
        ("user_id=1", &["f-2", "f-1"]),
        ("username=admin01", &["f-3"]),
        // Sent as IPv4-mapped IPv6 (a dual-stack server's view), stored as IPv4.
        ("ip_address=10.0.0.2", &["f-2"]),
        ("ip_address=::ffff:10.0.0.2", &["f-2"]),
        ("ip_address=2001:db8:0:0::1", &["f-4"]),
        ("endpoint=/api/siswa", &["f-4", "f-3"]),
        ("resource_type=STUDENT", &["f-3"]),
        ("resource_id=STD-1", &["f-3"]),
        ("tenant_id=acme", &["f-3"]),
        ("session_id=s-9", &["f-3"]),
        ("correlation_id=c-7", &["f-3"]),
        ("user_id=1&status=SUCCESS", &["f-1"]),
    ];
    for (filter, want) in cases {
        let (status, page) = s.get_json(&format!("/api/events/recent?{filter}")).await;
        assert_eq!(status, 200, "{filter}: {page}");
        assert_eq!(ids(&page), *want, "filter {filter}");
    }
    let since = urlencoding(&ts(10));
    let until = urlencoding(&ts(30));
    let (_, page) = s
        .get_json(&format!("/api/events/recent?since={since}&until={until}"))
        .await;
    assert_eq!(
        ids(&page),
        ["f-3", "f-2"],
        "since is inclusive, until exclusive"
    );
    // A date is its midnight UTC, as the CLI reads it.
    let (status, page) = s
        .get_json("/api/events/recent?since=2000-01-01&limit=10")
        .await;
    assert_eq!((status, ids(&page).len()), (200, 5), "{page}");
    let (status, page) = s.get_json("/api/events/recent?until=2000-01-01").await;
    assert_eq!((status, ids(&page).len()), (200, 0), "{page}");
}

fn urlencoding(s: &str) -> String {
    s.replace('+', "%2B").replace(':', "%3A")
}

async fn cursor_pages_are_complete_and_stable_under_concurrent_inserts(s: &TestServer) {
    let base = Utc::now() - Duration::minutes(30);
    // Many events share a timestamp, so the tie-break on seq matters.
    let events: Vec<Value> = (0..230)
        .map(|i| event(json!({"event_id": format!("p-{i:03}"), "timestamp": (base + Duration::seconds(i / 7)).to_rfc3339()})))
        .collect();
    assert_eq!(s.post_batch(&events).await.0, 201);
    let mut seen = Vec::new();
    let mut cursor: Option<String> = None;
    let mut pages = 0;
    loop {
        let path = match &cursor {
            Some(c) => format!("/api/events/recent?limit=50&cursor={c}"),
            None => "/api/events/recent?limit=50".to_owned(),
        };
        let (status, page) = s.get_json(&path).await;
        assert_eq!(status, 200, "{page}");
        seen.extend(ids(&page));
        pages += 1;
        // Newer events arriving mid-way do not shift later pages.
        let newer: Vec<Value> = (0..5)
            .map(|i| event(json!({"event_id": format!("new-{pages}-{i}")})))
            .collect();
        assert_eq!(s.post_batch(&newer).await.0, 201);
        match page["next_cursor"].as_str() {
            Some(c) => cursor = Some(c.to_owned()),
            None => break,
        }
    }
    assert_eq!(pages, 5);
    let unique: HashSet<&String> = seen.iter().collect();
    assert_eq!(unique.len(), seen.len(), "no event twice");
    let expected: Vec<String> = (0..230).rev().map(|i| format!("p-{i:03}")).collect();
    let got: Vec<String> = seen.into_iter().filter(|id| id.starts_with("p-")).collect();
    let mut got_sorted = got.clone();
    got_sorted.sort();
    got_sorted.reverse();
    assert_eq!(got_sorted, expected, "no event skipped");
}

async fn get_by_id_and_user_activity(s: &TestServer) {
    let now = Utc::now();
    let events = vec![
        json!({"event_code": "AUTH-001", "user_id": 42, "timestamp": (now - Duration::hours(2)).to_rfc3339()}),
        json!({"event_code": "AUTH-002", "user_id": 42, "status": "FAILED"}),
        json!({"event_code": "DATA-002", "user_id": 42}),
        json!({"event_code": "DATA-002", "user_id": 42, "timestamp": (now - Duration::days(40)).to_rfc3339()}),
        json!({"event_code": "DATA-002", "user_id": 7}),
    ];
    let (status, body) = s.post_batch(&events).await;
    assert_eq!(status, 201, "{body}");
    let (status, activity) = s.get_json("/api/events/user-activity/42").await;
    assert_eq!(status, 200, "{activity}");
    assert_eq!(activity["total_events"], 3, "30 days by default");
    assert_eq!(activity["failures"], 1);
    assert_eq!(
        activity["by_category"],
        json!([{"value": "AUTH", "count": 2}, {"value": "DATA", "count": 1}])
    );
    assert_eq!(
        activity["by_status"],
        json!([{"value": "SUCCESS", "count": 2}, {"value": "FAILED", "count": 1}])
    );
    // The successful AUTH-001 two hours ago, not the failed AUTH-002 since.
    let last_login = DateTime::parse_from_rfc3339(activity["last_login"].as_str().unwrap())
        .unwrap()
        .with_timezone(&Utc);
    let login_at = now - Duration::hours(2);
    assert!(
        (last_login - login_at).num_milliseconds().abs() < 1,
        "{last_login} vs {login_at}"
    );
    assert_eq!(activity["recent_events"].as_array().unwrap().len(), 3);
    let (_, activity) = s.get_json("/api/events/user-activity/42?days=60").await;
    assert_eq!(activity["total_events"], 4);
    let (_, nobody) = s.get_json("/api/events/user-activity/nobody").await;
    assert_eq!(nobody["total_events"], 0);

    let (status, err) = s.get_json("/api/events/NO-SUCH-ID").await;
    assert_eq!((status, &err["error"]["code"]), (404, &json!("not_found")));
}

async fn bad_query_parameters_are_named(s: &TestServer) {
    for (query, field) in [
        ("limit=0", "limit"),
        ("limit=1001", "limit"),
        ("limit=ten", "limit"),
        ("cursor=garbage", "cursor"),
        ("since=yesterday", "since"),
        (
            "since=2026-11-25T00:00:00Z&until=2026-11-24T00:00:00Z",
            "since",
        ),
        ("severity=LOUD", "severity"),
        // No event can have these: a typo is said, not answered with an empty page.
        ("category=AUTH,FOO", "category"),
        ("status=OK", "status"),
        ("ip_address=1.2.3", "ip_address"),
        ("catgory=AUTH", "catgory"),
        ("username=a%00b", "username"),
        ("category=AUTH&tenant_id=%00", "tenant_id"),
    ] {
        let (status, body) = s.get_json(&format!("/api/events/recent?{query}")).await;
        assert_eq!(status, 400, "{query}: {body}");
        assert_eq!(body["error"]["field"], field, "{query}: {body}");
    }
    let (status, body) = s.get_json("/api/events/user-activity/1?days=0").await;
    assert_eq!((status, &body["error"]["field"]), (400, &json!("days")));
    // A NUL character is refused before any store sees it (PostgreSQL cannot compare it).
    for path in [
        "/api/events/a%00b",
        "/api/events/user-activity/a%00b",
        "/api/events/analytics/summary?tenant_id=a%00b",
        "/api/events/export?username=%00",
    ] {
        let (status, body) = s.get_json(path).await;
        assert_eq!(status, 400, "{path}: {body}");
        assert!(
            body["error"]["message"].as_str().unwrap().contains("NUL"),
            "{path}: {body}"
        );
    }
}

crate::store_tests!(
    every_filter_of_recent_selects_exactly_its_events,
    cursor_pages_are_complete_and_stable_under_concurrent_inserts,
    get_by_id_and_user_activity,
    bad_query_parameters_are_named,
);
