//! Export (`GET /api/events/export`, NDJSON and CSV, streamed, tenant-scoped, audited) and
//! Prometheus `/metrics` (scraped after known ingest), against SQLite and PostgreSQL.

use chrono::{DateTime, Duration, Utc};
use eventlog_server::{MetricsConfig, ServerConfig};
use eventlog_store::KeyRole;
use serde_json::{json, Value};

use crate::helpers::{event, send, TestServer};

/// 2,500 events (more than two export chunks), known severities and tenants. System events
/// without a user: 2,500 logins of one user in four minutes would (rightly) make the stream
/// detectors derive SEC events after commit, at a moment the test does not control.
async fn load_known_events(s: &TestServer) -> Vec<Value> {
    let t0 = Utc::now() - Duration::hours(5);
    let events: Vec<Value> = (0..2_500)
        .map(|i| {
            json!({
                "event_code": "SYS-001",
                "source": "ops-test",
                "event_id": format!("x-{i:05}"),
                "severity": if i % 10 == 0 { "ERROR" } else { "INFO" },
                "tenant_id": if i % 2 == 0 { "acme" } else { "globex" },
                "ip_address": if i % 5 == 0 { "10.0.0.5" } else { "10.0.0.9" },
                "event_description": if i == 7 { "comma, \"quote\"\nnewline" } else { "plain" },
                "timestamp": (t0 + Duration::milliseconds(i * 100)).to_rfc3339(),
            })
        })
        .collect();
    for chunk in events.chunks(1_000) {
        let (status, body) = s.post_batch(chunk).await;
        assert_eq!(status, 201, "{body}");
    }
    events
}

async fn export_text(s: &TestServer, key: &str, query: &str) -> (u16, String, String) {
    let resp = s
        .get(&format!("/api/events/export?{query}"), key)
        .send()
        .await
        .unwrap();
    let status = resp.status().as_u16();
    let content_type = resp
        .headers()
        .get("content-type")
        .map(|v| v.to_str().unwrap().to_owned())
        .unwrap_or_default();
    (status, content_type, resp.text().await.unwrap())
}

fn jsonl_ids(body: &str) -> Vec<String> {
    body.lines()
        .map(|l| {
            serde_json::from_str::<Value>(l).unwrap()["event_id"]
                .as_str()
                .unwrap()
                .to_owned()
        })
        .collect()
}

async fn export_streams_every_matching_event_as_jsonl_and_csv(s: &TestServer) {
    let events = load_known_events(s).await;
    let (status, ctype, body) = export_text(s, &s.admin_key, "format=jsonl").await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(ctype, "application/x-ndjson");
    let all = jsonl_ids(&body);
    let others: Vec<&str> = body
        .lines()
        .filter(|l| !l.contains("\"event_id\":\"x-"))
        .collect();
    assert_eq!(
        all.len(),
        2_500,
        "every event, across keyset pages; others: {others:?}"
    );
    let mut want: Vec<String> = (0..2_500).rev().map(|i| format!("x-{i:05}")).collect();
    assert_eq!(all, want, "newest first, none twice, none missing");

    // The filters of `recent`, and `limit` as the page size.
    let (_, _, body) = export_text(s, &s.admin_key, "severity=ERROR&tenant_id=acme&limit=7").await;
    want = (0..2_500)
        .rev()
        .filter(|i| i % 10 == 0)
        .map(|i| format!("x-{i:05}"))
        .collect();
    assert_eq!(jsonl_ids(&body), want);

    // An address and a time window together: text and integer parameters in one query.
    let at = |i: usize| {
        let t = events[i]["timestamp"].as_str().unwrap();
        DateTime::parse_from_rfc3339(t)
            .unwrap()
            .to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
    };
    let (status, _, body) = export_text(
        s,
        &s.admin_key,
        &format!("ip_address=10.0.0.5&since={}&until={}", at(100), at(200)),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    want = (100..200)
        .rev()
        .filter(|i| i % 5 == 0)
        .map(|i| format!("x-{i:05}"))
        .collect();
    assert_eq!(jsonl_ids(&body), want);

    // `cursor` starts the export after a page of `recent`: the rest, in order, once each.
    let (_, page) = s
        .get_json("/api/events/recent?tenant_id=acme&limit=100")
        .await;
    let cursor = page["next_cursor"].as_str().unwrap();
    let (status, _, body) = export_text(
        s,
        &s.admin_key,
        &format!("tenant_id=acme&cursor={cursor}&limit=33"),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    want = (0..2_500)
        .rev()
        .filter(|i| i % 2 == 0)
        .skip(100)
        .map(|i| format!("x-{i:05}"))
        .collect();
    assert_eq!(jsonl_ids(&body), want);

    let (status, ctype, body) = export_text(s, &s.admin_key, "format=csv&severity=ERROR").await;
    assert_eq!(status, 200);
    assert!(ctype.starts_with("text/csv"), "{ctype}");
    let mut reader = csv::Reader::from_reader(body.as_bytes());
    let header = reader.headers().unwrap().clone();
    assert_eq!(&header[0], "event_id");
    assert!(header.iter().any(|h| h == "severity"));
    let rows: Vec<csv::StringRecord> = reader.records().map(Result::unwrap).collect();
    assert_eq!(rows.len(), 250);
    assert!(rows.iter().all(|r| r.len() == header.len()));
    let (_, _, body) = export_text(s, &s.admin_key, "format=csv&event_id_is_not_a_filter=1").await;
    assert!(
        body.contains("event_id_is_not_a_filter"),
        "unknown filters are named: {body}"
    );
    let (_, _, body) = export_text(
        s,
        &s.admin_key,
        "format=csv&tenant_id=globex&since=2000-01-01T00:00:00Z",
    )
    .await;
    let quoted = csv::Reader::from_reader(body.as_bytes())
        .records()
        .map(Result::unwrap)
        .find(|r| &r[0] == "x-00007")
        .unwrap();
    assert_eq!(
        &quoted[5], "comma, \"quote\"\nnewline",
        "CSV quoting round-trips"
    );

    // Bad input: 400 naming the parameter.
    let (status, body) = send(s.get("/api/events/export?format=xml", &s.admin_key)).await;
    assert_eq!(status, 400);
    assert_eq!(body["error"]["field"], "format", "{body}");
    let (status, body) = send(s.get("/api/events/export?since=yesterday", &s.admin_key)).await;
    assert_eq!(status, 400);
    assert_eq!(body["error"]["field"], "since", "{body}");

    // Tenant-bound readers export their tenant only; ingest keys may not export.
    let acme = s.key("acme-reader", KeyRole::Analyst, Some("acme")).await;
    let (status, _, body) = export_text(s, &acme, "").await;
    assert_eq!(status, 200);
    let ids = jsonl_ids(&body);
    assert_eq!(ids.len(), 1_250);
    let (status, _, _) = export_text(s, &acme, "tenant_id=globex").await;
    assert_eq!(status, 403);
    let ingest = s.key("app", KeyRole::Ingest, None).await;
    let (status, _, _) = export_text(s, &ingest, "").await;
    assert_eq!(status, 403);

    // Every export is audited: who, filters, count.
    let mut audit = Value::Null;
    for _ in 0..50 {
        let (_, page) = s
            .get_json("/api/events/recent?event_code=ADMIN-006&username=acme-reader")
            .await;
        if !page["events"].as_array().unwrap().is_empty() {
            audit = page["events"][0].clone();
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    assert_eq!(audit["action"], "EXPORT", "{audit}");
    assert_eq!(audit["metadata"]["count"], 1_250, "{audit}");
    assert_eq!(audit["metadata"]["filters"]["tenant_id"], "acme", "{audit}");
    assert_eq!(audit["metadata"]["completed"], true, "{audit}");
    assert_eq!(
        audit["tenant_id"], "acme",
        "a tenant's own auditors see its exports: {audit}"
    );
}

fn metric(text: &str, name: &str) -> f64 {
    text.lines()
        .find(|l| l.starts_with(name) && l[name.len()..].starts_with(' '))
        .unwrap_or_else(|| panic!("no {name} in\n{text}"))
        .rsplit(' ')
        .next()
        .unwrap()
        .parse()
        .unwrap()
}

async fn metrics_count_ingest_and_rejections(s: &TestServer) {
    let (status, _) = send(s.client.get(format!("{}/metrics", s.url))).await;
    assert_eq!(status, 401, "a key is needed by default");
    let ingest = s.key("app", KeyRole::Ingest, None).await;
    let (status, _) = send(s.get("/metrics", &ingest)).await;
    assert_eq!(status, 403, "ingest keys may not scrape");

    let events: Vec<Value> = (0..30)
        .map(|i| event(json!({"metadata": {"i": i}})))
        .collect();
    assert_eq!(s.post_batch(&events).await.0, 201);
    assert_eq!(s.post_batch(&events[..5]).await.0, 201, "repeats");
    let (status, _) = s
        .post_event(&json!({"event_category": "AUTH", "bogus": 1}))
        .await;
    assert_eq!(status, 422);
    let (status, _) = s
        .post_event(&json!({"event_category": "AUTH", "x": 2}))
        .await;
    assert_eq!(status, 422);

    let analyst = s.key("grafana", KeyRole::Analyst, None).await;
    let resp = s.get("/metrics", &analyst).send().await.unwrap();
    assert_eq!(resp.status(), 200);
    // The body is OpenMetrics (counters named `..._total`, a closing `# EOF`), and the
    // content type says so, or a 0.0.4 parser would take the counters for untyped.
    assert!(resp.headers()["content-type"]
        .to_str()
        .unwrap()
        .starts_with("application/openmetrics-text; version=1.0.0"));
    let text = resp.text().await.unwrap();
    assert!(text.trim_end().ends_with("# EOF"), "{text}");
    // Events without ids are new each time: 30 + 5, and the SEC-005 event that records
    // the first request's missing key (queued before them, so committed before them).
    assert_eq!(
        metric(&text, "eventlog_events_accepted_total"),
        36.0,
        "{text}"
    );
    assert_eq!(
        metric(
            &text,
            "eventlog_ingest_rejected_requests_total{reason=\"invalid_event\"}"
        ),
        2.0,
        "{text}"
    );
    assert!(metric(&text, "eventlog_commit_duration_seconds_count") >= 2.0);
    assert!(metric(&text, "eventlog_commit_duration_seconds_sum") > 0.0);
    assert_eq!(metric(&text, "eventlog_ingest_queue_depth"), 0.0);
    assert!(metric(&text, "eventlog_ingest_queue_capacity") > 0.0);
    assert!(metric(&text, "eventlog_rollup_lag_seconds") >= 0.0);
    assert_eq!(
        metric(&text, "eventlog_retention_deleted_events_total"),
        0.0
    );
    assert_eq!(
        metric(&text, "eventlog_retention_last_run_timestamp_seconds"),
        0.0
    );
}

/// Events whose fields are hard to write as JSON: escapes, control characters (where
/// accepted: in JSON values), non-ASCII,
/// numbers that are easy to round, IPv6, nesting, empty and absent fields.
fn awkward(i: usize) -> Value {
    let code = ["AUTH-001", "DATA-002", "SEC-001", "PRED-001"][i % 4];
    let ip = ["2001:db8::1", "::ffff:10.0.0.1", "10.1.2.3", "fe80::1:2"][i % 4];
    let ms = [0.1, 1e-7, 123456789.125, 3.0][i % 4];
    let tags = if i.is_multiple_of(2) {
        json!([])
    } else {
        json!(["ü", "x y"])
    };
    let mut e = json!({
        "event_id": format!("awk-{i}"),
        "event_code": code,
        "username": format!("pénélope \"{i}\" \\ ✓"),
        "user_id": i,
        "ip_address": ip,
        "user_agent": "Mozilla/5.0 \t(tab) \u{2028} </script>",
        "event_description": "línea 1\nlínea 2\r\nend 🙂",
        "processing_time_ms": ms,
        "http_status": 200 + i,
        "metadata": {"nested": {"a": [1, 2.5, -0.0, 1e300, {"b": null}]},
                     "big": 9_007_199_254_740_993_u64, "emoji": "😀", "esc": "\"\\/\u{8}\u{c}"},
        "related": {"kelas": "7A"},
        "tags": tags,
    });
    if i.is_multiple_of(3) {
        e["request_data"] = json!({"q": "' OR 1=1 --"});
        e["response_data"] = json!([1, "two", null]);
        e["error_message"] = json!("boom [31m \\x1b");
        e["error_code"] = json!("E\u{e9}");
    }
    e
}

async fn exported_lines_are_the_events_as_stored(s: &TestServer) {
    let events: Vec<Value> = (0..40).map(awkward).collect();
    let (status, body) = s.post_batch(&events).await;
    assert_eq!(status, 201, "{body}");
    // A row stored before the payload column existed, with its fields in their own columns.
    s.insert_legacy_row("awk-legacy", "awk-0").await;
    let (status, _, body) = export_text(s, &s.admin_key, "format=jsonl").await;
    assert_eq!(status, 200, "{body}");
    let mut seen = 0;
    for line in body.lines() {
        let id = serde_json::from_str::<Value>(line).unwrap()["event_id"]
            .as_str()
            .unwrap()
            .to_owned();
        if !id.starts_with("awk-") {
            continue;
        }
        let event = s.store.get_event(&id, None).await.unwrap().unwrap();
        assert_eq!(line, serde_json::to_string(&event).unwrap(), "{id}");
        seen += 1;
    }
    assert_eq!(seen, 41);
}

crate::store_tests!(
    exported_lines_are_the_events_as_stored,
    export_streams_every_matching_event_as_jsonl_and_csv,
    metrics_count_ingest_and_rejections,
);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn metrics_can_be_made_public() {
    let s = TestServer::sqlite_with(ServerConfig {
        metrics: MetricsConfig { public: true },
        ..Default::default()
    })
    .await;
    let resp = s
        .client
        .get(format!("{}/metrics", s.url))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    assert!(resp
        .text()
        .await
        .unwrap()
        .contains("eventlog_events_accepted_total"));
}
