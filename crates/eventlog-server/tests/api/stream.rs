//! `GET /api/events/stream`: the live tail over Server-Sent Events, read with reqwest as
//! `curl -N` would.

use std::time::Duration;

use eventlog_server::ServerConfig;
use eventlog_store::KeyRole;
use serde_json::{json, Value};

use crate::helpers::{event, TestServer};

/// Reads SSE messages from a streaming response.
pub struct SseReader {
    response: reqwest::Response,
    buffer: String,
}

/// One SSE message: its `event:` name (`message` by default) and its `data:`.
#[derive(Debug)]
pub struct SseMessage {
    pub event: String,
    pub data: String,
}

impl SseReader {
    pub async fn open(server: &TestServer, query: &str, key: &str) -> Self {
        let response = server
            .get(&format!("/api/events/stream?{query}"), key)
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 200, "stream {query}");
        assert_eq!(
            response.headers()["content-type"].to_str().unwrap(),
            "text/event-stream"
        );
        Self {
            response,
            buffer: String::new(),
        }
    }

    /// The next message (comments skipped), or `None` after `wait` without one.
    pub async fn next(&mut self, wait: Duration) -> Option<SseMessage> {
        let deadline = tokio::time::Instant::now() + wait;
        loop {
            if let Some(end) = self.buffer.find("\n\n") {
                let block: String = self.buffer.drain(..end + 2).collect();
                let mut message = SseMessage {
                    event: "message".into(),
                    data: String::new(),
                };
                for line in block.lines() {
                    if let Some(v) = line.strip_prefix("event:") {
                        message.event = v.trim().to_owned();
                    } else if let Some(v) = line.strip_prefix("data:") {
                        message.data.push_str(v.trim_start());
                    }
                }
                if !message.data.is_empty() {
                    return Some(message);
                }
                continue;
            }
            let chunk = tokio::time::timeout_at(deadline, self.response.chunk())
                .await
                .ok()?
                .unwrap()?;
            self.buffer.push_str(&String::from_utf8_lossy(&chunk));
        }
    }

    /// The ids of the next `n` events whose id starts with `prefix` (others, such as
    /// detection findings, are skipped), failing after 10 s without one.
    pub async fn ids(&mut self, prefix: &str, n: usize) -> Vec<String> {
        let mut out = Vec::new();
        while out.len() < n {
            let m = self
                .next(Duration::from_secs(10))
                .await
                .expect("an event within 10 s");
            assert_eq!(m.event, "message", "{}", m.data);
            let e: Value = serde_json::from_str(&m.data).unwrap();
            let id = e["event_id"].as_str().unwrap();
            if id.starts_with(prefix) {
                out.push(id.to_owned());
            }
        }
        out
    }
}

fn ids(page: &Value) -> Vec<String> {
    page["events"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["event_id"].as_str().unwrap().to_owned())
        .collect()
}

/// Every filter of `recent` selects the same events on the stream as on `recent`, and
/// only committed, new events arrive (a duplicate is not sent again).
async fn the_stream_filters_exactly_like_recent(s: &TestServer) {
    let filters = [
        "",
        "category=AUTH",
        "severity=CRITICAL,ERROR",
        "status=FAILED&username=guru01",
        "ip_address=10.0.0.2",
        "event_code=SEC-003",
        "tenant_id=acme",
        "session_id=s-1",
        "correlation_id=c-1",
        "resource_type=STUDENT&resource_id=STD-1",
        "endpoint=/api/siswa",
    ];
    let mut readers = Vec::new();
    for f in filters {
        readers.push(SseReader::open(s, f, &s.admin_key).await);
    }
    let events = vec![
        json!({"event_id": "l-1", "event_code": "AUTH-001", "user_id": 1, "username": "guru01", "ip_address": "10.0.0.1", "session_id": "s-1"}),
        json!({"event_id": "l-2", "event_code": "AUTH-002", "username": "guru01", "status": "FAILED", "ip_address": "10.0.0.2", "session_id": "s-1"}),
        json!({"event_id": "l-3", "event_code": "DATA-001", "resource_type": "STUDENT", "resource_id": "STD-1", "endpoint": "/api/siswa",
               "tenant_id": "acme", "correlation_id": "c-1"}),
        json!({"event_id": "l-4", "event_code": "SEC-003", "endpoint": "/api/siswa", "correlation_id": "c-1"}),
        json!({"event_id": "l-5", "event_category": "SYSTEM", "event_type": "API_ERROR", "severity": "ERROR"}),
    ];
    let (status, body) = s.post_batch(&events).await;
    assert_eq!(status, 201, "{body}");
    // The same event again is a duplicate: nothing new is committed, nothing is streamed.
    let (status, _) = s.post_event(&events[0]).await;
    assert_eq!(status, 200);
    let marker = json!({"event_id": "l-end", "severity": "CRITICAL", "username": "guru01", "status": "FAILED", "ip_address": "10.0.0.2",
                        "tenant_id": "acme", "session_id": "s-1", "correlation_id": "c-1", "event_code": "SEC-003",
                        "resource_type": "STUDENT", "resource_id": "STD-1", "endpoint": "/api/siswa"});
    // The marker matches every filter but category=AUTH, so each stream ends with it.
    let (status, _) = s.post_event(&marker).await;
    assert_eq!(status, 201);
    let (_, auth_end) = s
        .post_event(&event(json!({"event_id": "l-auth-end"})))
        .await;
    assert_eq!(auth_end["event_id"], "l-auth-end");
    for (filter, reader) in filters.iter().zip(readers.iter_mut()) {
        let (status, page) = s
            .get_json(&format!("/api/events/recent?limit=1000&{filter}"))
            .await;
        assert_eq!(status, 200, "{page}");
        let mut want: Vec<String> = ids(&page)
            .into_iter()
            .filter(|id| id.starts_with("l-"))
            .collect();
        want.reverse();
        let got = reader.ids("l-", want.len()).await;
        assert_eq!(got, want, "stream filter `{filter}`");
    }
    // Nothing beyond (in particular no second l-1).
    while let Some(m) = readers[0].next(Duration::from_millis(300)).await {
        assert!(!m.data.contains("\"event_id\":\"l-"), "{}", m.data);
    }

    // A streamed event is the stored one, field for field (times as stored, to the µs).
    let mut reader = SseReader::open(s, "event_code=SEC-003", &s.admin_key).await;
    let (status, _) = s
        .post_event(&json!({"event_id": "l-exact", "event_code": "SEC-003",
                            "timestamp": "2026-11-24T08:37:17.164555891Z"}))
        .await;
    assert_eq!(status, 201);
    let streamed = loop {
        let m = reader
            .next(Duration::from_secs(10))
            .await
            .expect("streamed");
        let v: Value = serde_json::from_str(&m.data).unwrap();
        if v["event_id"] == "l-exact" {
            break v;
        }
    };
    let (_, stored) = s.get_json("/api/events/l-exact").await;
    assert_eq!(streamed, stored);
}

/// A tenant-bound key streams only its tenant and cannot ask for another; a writer-only
/// key and a missing key are refused; a bad filter is a 400 naming it.
async fn the_stream_is_tenant_scoped_and_guarded(s: &TestServer) {
    let acme = s.key("acme-reader", KeyRole::Analyst, Some("acme")).await;
    let ingest = s.key("writer", KeyRole::Ingest, None).await;
    let mut reader = SseReader::open(s, "", &acme).await;
    let (status, _) = s
        .post_batch(&[
            event(json!({"event_id": "t-other", "tenant_id": "globex"})),
            event(json!({"event_id": "t-acme", "tenant_id": "acme"})),
        ])
        .await;
    assert_eq!(status, 201);
    assert_eq!(reader.ids("t-", 1).await, ["t-acme"]);
    assert!(reader.next(Duration::from_millis(300)).await.is_none());

    let status = |r: reqwest::RequestBuilder| async move { r.send().await.unwrap().status() };
    assert_eq!(
        status(s.get("/api/events/stream?tenant_id=globex", &acme)).await,
        403
    );
    assert_eq!(status(s.get("/api/events/stream", &ingest)).await, 403);
    assert_eq!(
        status(s.client.get(format!("{}/api/events/stream", s.url))).await,
        401
    );
    let (code, body) =
        crate::helpers::send(s.get("/api/events/stream?severity=LOUD", &s.admin_key)).await;
    assert_eq!(code, 400);
    assert_eq!(body["error"]["field"], "severity");
}

/// A stream opened before its key was revoked ends within seconds, saying why; it does not
/// go on delivering what the key may no longer read.
async fn a_revoked_key_ends_its_open_streams(s: &TestServer) {
    let key = s.key("soon-revoked", KeyRole::Analyst, None).await;
    let mut reader = SseReader::open(s, "", &key).await;
    assert_eq!(
        s.post_event(&event(json!({"event_id": "rv-before"})))
            .await
            .0,
        201
    );
    assert_eq!(reader.ids("rv-", 1).await, ["rv-before"]);

    assert!(s.store.revoke_key("soon-revoked").await.unwrap());
    let notice = loop {
        let m = reader
            .next(Duration::from_secs(10))
            .await
            .expect("the stream says it ends within 10 s of the revocation");
        if m.event != "message" {
            break m;
        }
    };
    assert_eq!(notice.event, "unauthorized", "{}", notice.data);
    let body: Value = serde_json::from_str(&notice.data).unwrap();
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("revoked"),
        "{body}"
    );
    assert_eq!(
        s.post_event(&event(json!({"event_id": "rv-after"})))
            .await
            .0,
        201
    );
    let after = tokio::time::timeout(Duration::from_secs(5), reader.response.chunk())
        .await
        .expect("the stream is closed, not left hanging");
    assert!(matches!(after, Ok(None)), "nothing more is sent: {after:?}");
}

crate::store_tests!(
    the_stream_filters_exactly_like_recent,
    the_stream_is_tenant_scoped_and_guarded,
    a_revoked_key_ends_its_open_streams
);

/// A client that does not read falls behind; it is told how many events it missed, and
/// every event is either delivered or counted as missed. Ingest never waits for it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_slow_client_is_told_what_it_missed_and_never_blocks_ingest() {
    let mut config = ServerConfig::default();
    config.dashboard.live_tail_buffer = 16;
    config.detect.enabled = false;
    let s = TestServer::sqlite_with(config).await;
    let mut reader = SseReader::open(&s, "", &s.admin_key).await;
    let total = 3000;
    let batch: Vec<Value> = (0..total)
        .map(|i| event(json!({"event_id": format!("slow-{i}")})))
        .collect();
    let started = std::time::Instant::now();
    let (status, _) = s.post_batch(&batch).await;
    assert_eq!(status, 201);
    assert!(
        started.elapsed() < Duration::from_secs(10),
        "ingest was not held up"
    );
    let (mut delivered, mut missed) = (0u64, 0u64);
    while delivered + missed < total {
        let m = reader
            .next(Duration::from_secs(10))
            .await
            .expect("every event is delivered or counted as missed");
        match m.event.as_str() {
            "lagged" => {
                let v: Value = serde_json::from_str(&m.data).unwrap();
                missed += v["missed"].as_u64().unwrap();
            }
            _ => delivered += 1,
        }
    }
    assert_eq!(delivered + missed, total);
    assert!(
        missed > 0,
        "a 16-event buffer cannot hold a 3000-event commit"
    );
}
