//! Rate limits (per key and per address, ingest and query apart), header size and slow
//! bodies, through the real server.

use eventlog_server::limits::Rate;
use eventlog_server::ServerConfig;
use eventlog_store::KeyRole;
use serde_json::json;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use crate::helpers::{event, send, TestServer};

const WIDE: Rate = Rate {
    per_second: 10_000,
    burst: 10_000,
};

fn tight_per_key() -> ServerConfig {
    let mut config = ServerConfig::default();
    config.limits.query_per_key = Rate {
        per_second: 1,
        burst: 3,
    };
    config.limits.query_per_ip = WIDE;
    config
}

async fn a_burst_beyond_the_key_limit_gets_429_and_other_keys_do_not(s: &TestServer) {
    let a = s.key("reader-a", KeyRole::Analyst, None).await;
    let b = s.key("reader-b", KeyRole::Analyst, None).await;
    for _ in 0..3 {
        assert_eq!(send(s.get("/api/events/recent", &a)).await.0, 200);
    }
    let response = s.get("/api/events/recent", &a).send().await.unwrap();
    assert_eq!(response.status(), 429);
    let retry: u64 = response.headers()["retry-after"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!((1..=2).contains(&retry), "Retry-After {retry}");
    let body: serde_json::Value = response.json().await.unwrap();
    assert_eq!(body["error"]["code"], json!("rate_limited"));
    assert!(body["error"]["message"]
        .as_str()
        .unwrap()
        .contains("reader-a"));
    // Another key is unaffected, and ingest is a separate budget.
    assert_eq!(send(s.get("/api/events/recent", &b)).await.0, 200);
    assert_eq!(
        send(s.post("/api/events", &a).json(&event(json!({}))))
            .await
            .0,
        403
    );
    let ingest = s.key("writer", KeyRole::Ingest, None).await;
    for _ in 0..5 {
        assert_eq!(
            send(s.post("/api/events", &ingest).json(&event(json!({}))))
                .await
                .0,
            201
        );
    }
    // After the wait the key is served again.
    tokio::time::sleep(std::time::Duration::from_secs(retry)).await;
    assert_eq!(send(s.get("/api/events/recent", &a)).await.0, 200);
}

crate::store_tests!(config = super::tight_per_key(); a_burst_beyond_the_key_limit_gets_429_and_other_keys_do_not);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_address_limit_applies_across_keys_and_before_authentication() {
    let mut config = ServerConfig::default();
    config.limits.ingest_per_ip = Rate {
        per_second: 1,
        burst: 2,
    };
    let s = TestServer::sqlite_with(config).await;
    let one = s.key("one", KeyRole::Ingest, None).await;
    let two = s.key("two", KeyRole::Ingest, None).await;
    assert_eq!(
        send(s.post("/api/events", &one).json(&event(json!({}))))
            .await
            .0,
        201
    );
    assert_eq!(
        send(s.post("/api/events", &two).json(&event(json!({}))))
            .await
            .0,
        201
    );
    let (status, body) = send(s.post("/api/events", &two).json(&event(json!({})))).await;
    assert_eq!(status, 429, "{body}");
    assert!(body["error"]["message"]
        .as_str()
        .unwrap()
        .contains("127.0.0.1"));
    // Guessing keys from the same address is throttled too.
    assert_eq!(
        send(s.post("/api/events", "elk_guess").json(&event(json!({}))))
            .await
            .0,
        429
    );
    // Queries draw on their own budget.
    assert_eq!(s.get_json("/api/events/recent").await.0, 200);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn browser_keys_are_limited_per_address() {
    let mut config = ServerConfig::default();
    config.limits.browser_per_ip = Rate {
        per_second: 1,
        burst: 2,
    };
    let s = TestServer::sqlite_with(config).await;
    let secret = eventlog_store::keys::generate_secret();
    s.store
        .create_key(
            &eventlog_store::keys::new_key("site", KeyRole::Publishable, None, &secret)
                .with_origins(vec!["https://app.example".into()]),
        )
        .await
        .unwrap();
    let from_page = || {
        s.post("/api/events", &secret)
            .header("origin", "https://app.example")
            .json(&event(json!({})))
    };
    for _ in 0..2 {
        assert_eq!(send(from_page()).await.0, 201);
    }
    let (status, body) = send(from_page()).await;
    assert_eq!(status, 429, "{body}");
    assert!(body["error"]["message"]
        .as_str()
        .unwrap()
        .contains("browser key"));
    // A server-side ingest key from the same address is not held back by the page's budget.
    assert_eq!(s.post_event(&event(json!({}))).await.0, 201);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn oversized_headers_get_431_json() {
    let mut config = ServerConfig::default();
    config.limits.max_header_bytes = 2048;
    let s = TestServer::sqlite_with(config).await;
    let (status, body) = send(
        s.get("/api/events/recent", &s.admin_key)
            .header("x-padding", "a".repeat(4096)),
    )
    .await;
    assert_eq!(status, 431);
    assert_eq!(body["error"]["code"], json!("headers_too_large"));
    assert_eq!(s.get_json("/api/events/recent").await.0, 200);
}

/// Reads until the server closes the connection; how long that took.
async fn time_until_closed(stream: &mut tokio::net::TcpStream) -> std::time::Duration {
    let started = std::time::Instant::now();
    let mut buf = [0u8; 1024];
    loop {
        let read = tokio::time::timeout(std::time::Duration::from_secs(10), stream.read(&mut buf))
            .await
            .expect("the server closes the connection");
        if matches!(read, Ok(0) | Err(_)) {
            return started.elapsed();
        }
    }
}

/// A slowloris (a request head that never ends) and a connection that sends nothing are
/// both closed after `header_timeout_secs`; the server answers others all along.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn connections_without_a_complete_request_head_are_closed() {
    let mut config = ServerConfig::default();
    config.limits.header_timeout_secs = 1;
    let s = TestServer::sqlite_with(config).await;
    let addr = s.url.trim_start_matches("http://").to_owned();
    let mut slow = tokio::net::TcpStream::connect(&addr).await.unwrap();
    slow.write_all(b"GET /api/events/health HTTP/1.1\r\nHost: x\r\n")
        .await
        .unwrap();
    let mut silent = tokio::net::TcpStream::connect(&addr).await.unwrap();
    assert_eq!(s.get_json("/api/events/health").await.0, 200);
    let (slow_closed, silent_closed) =
        tokio::join!(time_until_closed(&mut slow), time_until_closed(&mut silent));
    for took in [slow_closed, silent_closed] {
        assert!(took < std::time::Duration::from_secs(5), "{took:?}");
    }
    // A new connection: the test client's pooled one sat idle past the same 1 s limit, so
    // the server may have closed it under the client (it reconnects on its next request).
    let fresh = reqwest::Client::builder()
        .pool_max_idle_per_host(0)
        .build()
        .unwrap();
    let status = fresh
        .get(format!("{}/api/events/health", s.url))
        .send()
        .await
        .unwrap()
        .status();
    assert_eq!(status, 200, "still serving");
}

/// A connection from 127.0.0.2 (loopback too), so the test client's own pooled
/// connections from 127.0.0.1 do not count against the address under test.
async fn connect_from_second_loopback(addr: &str) -> tokio::net::TcpStream {
    let socket = tokio::net::TcpSocket::new_v4().unwrap();
    socket.bind("127.0.0.2:0".parse().unwrap()).unwrap();
    socket.connect(addr.parse().unwrap()).await.unwrap()
}

/// One address may hold `max_connections_per_ip` connections; the next is closed at once,
/// a slot frees when one of them closes, and other addresses are served all along.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_address_cannot_hold_every_connection() {
    let mut config = ServerConfig::default();
    config.limits.max_connections_per_ip = 3;
    let s = TestServer::sqlite_with(config).await;
    let addr = s.url.trim_start_matches("http://").to_owned();
    let mut held = Vec::new();
    for _ in 0..3 {
        held.push(connect_from_second_loopback(&addr).await);
    }
    let mut extra = connect_from_second_loopback(&addr).await;
    assert!(time_until_closed(&mut extra).await < std::time::Duration::from_secs(2));
    assert_eq!(
        s.get_json("/api/events/health").await.0,
        200,
        "127.0.0.1 is served"
    );
    held.pop();
    // The server notices the close when it next reads; retry briefly.
    let mut status = 0;
    for _ in 0..50 {
        let mut probe = connect_from_second_loopback(&addr).await;
        probe
            .write_all(b"GET /api/events/health HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
            .await
            .unwrap();
        let mut answer = Vec::new();
        let _ = probe.read_to_end(&mut answer).await;
        if answer.starts_with(b"HTTP/1.1 200") {
            status = 200;
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    assert_eq!(status, 200, "a freed slot is usable again");
}

/// A client that announces a body and then stalls gets a 408 JSON answer instead of holding
/// the connection.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stalled_body_gets_408() {
    let mut config = ServerConfig::default();
    config.limits.body_timeout_secs = 1;
    let s = TestServer::sqlite_with(config).await;
    let addr = s.url.trim_start_matches("http://").to_owned();
    let mut stream = tokio::net::TcpStream::connect(&addr).await.unwrap();
    let head = format!(
        "POST /api/events HTTP/1.1\r\nHost: {addr}\r\nAuthorization: Bearer {}\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n{{\"event_cat",
        s.admin_key
    );
    stream.write_all(head.as_bytes()).await.unwrap();
    let started = std::time::Instant::now();
    let mut answer = Vec::new();
    let mut buf = [0u8; 4096];
    while !answer.windows(4).any(|w| w == b"\r\n\r\n") || !answer.ends_with(b"}") {
        let n = tokio::time::timeout(std::time::Duration::from_secs(10), stream.read(&mut buf))
            .await
            .expect("the server answers a stalled body")
            .unwrap();
        if n == 0 {
            break;
        }
        answer.extend_from_slice(&buf[..n]);
    }
    let text = String::from_utf8_lossy(&answer);
    assert!(text.starts_with("HTTP/1.1 408"), "{text}");
    assert!(text.contains("\"request_timeout\""), "{text}");
    assert!(started.elapsed() < std::time::Duration::from_secs(5));
}

/// A request still unanswered after `request_timeout_secs` gets a 503 JSON answer: here the
/// store is held locked by another connection, so the ingest cannot commit in time.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_request_past_its_time_limit_gets_503_json() {
    let mut config = ServerConfig::default();
    config.limits.request_timeout_secs = 1;
    let s = TestServer::sqlite_with(config).await;
    let pool = sqlx::SqlitePool::connect(&s.db_url).await.unwrap();
    let mut lock = pool.acquire().await.unwrap();
    sqlx::query("BEGIN EXCLUSIVE")
        .execute(&mut *lock)
        .await
        .unwrap();
    let started = std::time::Instant::now();
    let response = s
        .post("/api/events", &s.admin_key)
        .json(&event(json!({})))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 503);
    assert!(response.headers().contains_key("retry-after"));
    let body: serde_json::Value = response.json().await.unwrap();
    assert_eq!(body["error"]["code"], json!("timeout"), "{body}");
    assert!(started.elapsed() < std::time::Duration::from_secs(5));
    sqlx::query("ROLLBACK").execute(&mut *lock).await.unwrap();
}
