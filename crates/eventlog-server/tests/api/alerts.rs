//! Alerts end to end: real events through the API, the real evaluator (every second), a
//! real webhook receiver (a small axum server on a random port) that checks the HMAC, and
//! `GET /api/alerts`, on both stores.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::body::Bytes;
use axum::http::{HeaderMap, StatusCode};
use chrono::{DateTime, Utc};
use eventlog_core::Severity;
use eventlog_server::alerts::{RuleConfig, RuleKind, WebhookConfig};
use eventlog_server::{Application, ServerConfig};
use eventlog_store::KeyRole;
use hmac::{Hmac, Mac};
use serde_json::{json, Value};
use sha2::Sha256;
use tokio::net::TcpListener;

use crate::helpers::{send, TestServer};

const SECRET: &str = "test-webhook-secret-0123456789";

/// One request a receiver got.
#[derive(Debug, Clone)]
struct Received {
    body: Vec<u8>,
    signature: String,
    delivery: String,
    at: Instant,
    answered: u16,
}

impl Received {
    fn json(&self) -> Value {
        serde_json::from_slice(&self.body).unwrap()
    }
}

type Log = Arc<Mutex<Vec<Received>>>;

/// A webhook receiver answering 500 to its first `fail_first` requests, 200 after.
async fn receiver(fail_first: usize) -> (String, Log) {
    let log: Log = Arc::default();
    let seen = log.clone();
    let app = axum::Router::new().route(
        "/hook",
        axum::routing::post(move |headers: HeaderMap, body: Bytes| {
            let seen = seen.clone();
            async move {
                let mut seen = seen.lock().unwrap();
                let answered = if seen.len() < fail_first { 500 } else { 200 };
                let header = |name: &str| {
                    headers
                        .get(name)
                        .and_then(|v| v.to_str().ok())
                        .unwrap_or_default()
                        .to_owned()
                };
                seen.push(Received {
                    body: body.to_vec(),
                    signature: header("x-eventlog-signature"),
                    delivery: header("x-eventlog-delivery"),
                    at: Instant::now(),
                    answered,
                });
                StatusCode::from_u16(answered).unwrap()
            }
        }),
    );
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/hook", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    (url, log)
}

/// What a receiver does with the signature header (docs/analytics.md).
fn signed_correctly(r: &Received) -> bool {
    let Some(hex_sig) = r.signature.strip_prefix("sha256=") else {
        return false;
    };
    let Ok(sig) = hex::decode(hex_sig) else {
        return false;
    };
    let mut mac = Hmac::<Sha256>::new_from_slice(SECRET.as_bytes()).unwrap();
    mac.update(&r.body);
    mac.verify_slice(&sig).is_ok()
}

fn rule(name: &str, kind: RuleKind, threshold: f64, window_secs: u64) -> RuleConfig {
    RuleConfig {
        name: name.to_owned(),
        kind,
        threshold,
        window_secs,
        severity: Severity::Critical,
        cooldown_secs: 600,
        min_events: 10,
        tenant_id: None,
    }
}

fn hook(url: &str) -> WebhookConfig {
    WebhookConfig {
        url: url.to_owned(),
        secret: Some(SECRET.to_owned()),
        secret_env: None,
        ca_file: None,
        max_attempts: 5,
        initial_backoff_ms: 100,
        max_backoff_ms: 400,
        timeout_ms: 2000,
    }
}

fn config(rules: Vec<RuleConfig>, hooks: &[&str]) -> ServerConfig {
    let mut c = ServerConfig::default();
    c.alerts.evaluate_every_secs = 1;
    c.alerts.rules = rules;
    c.alerts.webhooks = hooks.iter().map(|u| hook(u)).collect();
    // The failed logins below would also set off the brute-force detector (a CRITICAL
    // SEC-002); these tests are about the alert rules alone.
    c.detect.enabled = false;
    c
}

/// `n` events now, `errors` of them with status ERROR.
fn burst(prefix: &str, n: usize, errors: usize) -> Vec<Value> {
    let now = Utc::now().to_rfc3339();
    (0..n)
        .map(|i| {
            json!({
                "event_id": format!("{prefix}-{i:04}"),
                "event_code": "DATA-001",
                "status": if i < errors { "ERROR" } else { "SUCCESS" },
                "timestamp": now,
            })
        })
        .collect()
}

/// Polls `f` every 200 ms until it returns something (20 s at most).
async fn until<T, F, Fut>(what: &str, mut f: F) -> T
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Option<T>>,
{
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        if let Some(v) = f().await {
            return v;
        }
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

async fn alerts(s: &TestServer, query: &str) -> Value {
    let (status, body) = s.get_json(&format!("/api/alerts{query}")).await;
    assert_eq!(status, 200, "{body}");
    body
}

/// History entries of `rule`, oldest first.
async fn history(s: &TestServer, rule: &str) -> Vec<Value> {
    let body = alerts(s, "?limit=1000").await;
    let mut out: Vec<Value> = body["alerts"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|a| a["rule"] == rule)
        .cloned()
        .collect();
    out.reverse();
    out
}

fn time(v: &Value) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(v.as_str().unwrap())
        .unwrap()
        .with_timezone(&Utc)
}

fn by_state(log: &Log, state: &str) -> Vec<Received> {
    log.lock()
        .unwrap()
        .iter()
        .filter(|r| r.answered == 200 && r.json()["state"] == state)
        .cloned()
        .collect()
}

/// An error burst fires the error-rate rule once; the webhook gets a signed body; the
/// SYS-008 event is stored; a restart does not re-fire; recovery resolves; the cool-down
/// holds back a second firing; a failing receiver is retried until it takes the call.
async fn run_error_burst(s: &TestServer, good: &Log, flaky: &Log) {
    let (status, body) = s.post_batch(&burst("burst1", 20, 10)).await;
    assert_eq!(status, 201, "{body}");
    let firing = until("the error-rate alert to fire", || async {
        let body = alerts(s, "").await;
        body["firing"]
            .as_array()
            .unwrap()
            .iter()
            .find(|a| a["rule"] == "error_rate")
            .cloned()
    })
    .await;
    assert_eq!(firing["state"], "firing");
    assert_eq!(firing["kind"], "error_rate");
    assert_eq!(firing["value"], 50.0);
    assert_eq!(firing["threshold"], 5.0);
    assert_eq!(firing["window_secs"], 300);
    assert_eq!(firing["severity"], "CRITICAL");
    assert!(firing["resolved_at"].is_null());

    // The receiver got exactly this alert, signed with the shared secret.
    let notes = until("the firing notification", || async {
        Some(by_state(good, "firing")).filter(|v| !v.is_empty())
    })
    .await;
    let note = notes[0].json();
    assert!(signed_correctly(&notes[0]), "signature checks out");
    assert_eq!(note["rule"], "error_rate");
    assert_eq!(note["id"], firing["id"]);
    assert_eq!(note["value"], 50.0);
    assert_eq!(note["threshold"], 5.0);
    assert_eq!(note["window_secs"], 300);
    assert_eq!(note["started_at"], firing["started_at"]);
    assert!(note["link"]
        .as_str()
        .unwrap()
        .ends_with(&format!("/alerts?id={}", firing["id"])));
    // A tampered body does not verify.
    let mut tampered = notes[0].clone();
    tampered.body[5] ^= 1;
    assert!(!signed_correctly(&tampered));

    // The firing is stored as SYS-008 through the normal write path.
    let event_id = firing["event_id"].as_str().unwrap().to_owned();
    assert!(event_id.starts_with("SYS-008-"), "{event_id}");
    let event = until("the SYS-008 event", || async {
        let (status, e) = s.get_json(&format!("/api/events/{event_id}")).await;
        (status == 200).then_some(e)
    })
    .await;
    assert_eq!(event["event_code"], "SYS-008");
    assert_eq!(event["event_name"], "Error Rate High");
    assert_eq!(event["source"], "eventlog-alerts");
    assert_eq!(event["severity"], "CRITICAL");
    assert_eq!(event["metadata"]["error_rate_percent"], 50.0);
    assert_eq!(event["metadata"]["time_window"], "5 min");

    // The state is also a Prometheus gauge (set at the end of the evaluation round).
    let metrics = until("the firing gauge", || async {
        let text = s.metrics_text().await;
        text.contains(r#"eventlog_alerts_firing{rule="error_rate"} 1"#)
            .then_some(text)
    })
    .await;
    assert!(
        metrics.contains(r#"eventlog_alerts_firing{rule="critical_event"} 0"#),
        "{metrics}"
    );

    // Dedup: the condition still holds for several evaluations, one firing only.
    tokio::time::sleep(Duration::from_millis(2500)).await;
    assert_eq!(history(s, "error_rate").await.len(), 1);
    assert_eq!(by_state(good, "firing").len(), 1);

    // A restart (a second server over the same store, same rules) does not re-fire.
    let mut config = config(vec![rule("error_rate", RuleKind::ErrorRate, 5.0, 300)], &[]);
    config.alerts.rules[0].cooldown_secs = 3;
    let second = Application::build(&config, s.store.clone(), "127.0.0.1:0")
        .await
        .unwrap();
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let running = tokio::spawn(second.run_until_stopped(async {
        let _ = stopped.await;
    }));
    tokio::time::sleep(Duration::from_millis(2500)).await;
    let _ = stop.send(());
    running.await.unwrap().unwrap();
    assert_eq!(history(s, "error_rate").await.len(), 1, "no second firing");

    // Recovery: enough successes bring the rate to 10/320 = 3.125%: resolved.
    let (status, _) = s.post_batch(&burst("ok1", 300, 0)).await;
    assert_eq!(status, 201);
    let resolved = until("the alert to resolve", || async {
        let h = history(s, "error_rate").await;
        (h[0]["state"] == "resolved").then(|| h[0].clone())
    })
    .await;
    assert_eq!(resolved["id"], firing["id"]);
    // 10 / 320 (the alert's own SYS-008 event is not the applications'), to 2 decimals.
    assert_eq!(resolved["resolved_value"], 3.13);
    assert!(time(&resolved["resolved_at"]) > time(&resolved["started_at"]));
    let body = alerts(s, "").await;
    assert!(body["firing"].as_array().unwrap().is_empty(), "{body}");
    let notes = until("the resolved notification", || async {
        Some(by_state(good, "resolved")).filter(|v| !v.is_empty())
    })
    .await;
    assert!(signed_correctly(&notes[0]));
    assert_eq!(notes[0].json()["resolved_at"], resolved["resolved_at"]);

    // Cool-down (3 s): a new burst breaks the rule at once, but the second firing starts
    // only once the cool-down since the resolution has passed.
    let (status, _) = s.post_batch(&burst("burst2", 100, 100)).await;
    assert_eq!(status, 201);
    let h = until("the second firing", || async {
        let h = history(s, "error_rate").await;
        (h.len() == 2).then_some(h)
    })
    .await;
    let gap = time(&h[1]["started_at"]) - time(&h[0]["resolved_at"]);
    assert!(
        gap >= chrono::TimeDelta::seconds(3),
        "fired {gap} after resolving"
    );
    assert_eq!(h[1]["state"], "firing");
    assert_ne!(h[1]["event_id"], h[0]["event_id"]);

    // The flaky receiver answered 500 twice, then took the third try of the same body.
    let tries = until("the flaky receiver's third try", || async {
        let log = flaky.lock().unwrap().clone();
        (log.len() >= 3).then_some(log)
    })
    .await;
    let first = &tries[0];
    assert_eq!(first.json()["state"], "firing");
    assert_eq!(
        tries[..3].iter().map(|t| t.answered).collect::<Vec<_>>(),
        [500, 500, 200]
    );
    for t in &tries[1..3] {
        assert_eq!(t.body, first.body, "the same body is retried");
        assert_eq!(t.delivery, first.delivery);
        assert!(signed_correctly(t));
    }
    // Backoff 100 ms then 200 ms, each with jitter down to half.
    assert!(tries[1].at - tries[0].at >= Duration::from_millis(50));
    assert!(tries[2].at - tries[1].at >= Duration::from_millis(100));
}

/// `GET /api/alerts` filters, pages and refuses bad input by field; a tenant-bound key
/// sees none of the installation-wide alerts.
async fn check_listing(s: &TestServer) {
    let resolved = alerts(s, "?state=resolved").await;
    let list = resolved["alerts"].as_array().unwrap();
    assert!(!list.is_empty());
    assert!(list.iter().all(|a| a["state"] == "resolved"));
    let page1 = alerts(s, "?limit=1").await;
    assert_eq!(page1["alerts"].as_array().unwrap().len(), 1);
    let cursor = page1["next_cursor"].as_str().unwrap().to_owned();
    let page2 = alerts(s, &format!("?limit=1&cursor={cursor}")).await;
    assert!(page2["alerts"][0]["id"].as_i64() < page1["alerts"][0]["id"].as_i64());
    let future = alerts(s, "?since=2999-01-01T00:00:00Z").await;
    assert!(future["alerts"].as_array().unwrap().is_empty());

    for (query, field) in [
        ("?state=burning", "state"),
        ("?cursor=zz", "cursor"),
        ("?limit=0", "limit"),
        ("?since=yesterday", "since"),
        ("?colour=red", "colour"),
    ] {
        let (status, body) = s.get_json(&format!("/api/alerts{query}")).await;
        assert_eq!(status, 400, "{query}: {body}");
        assert_eq!(body["error"]["field"], field, "{query}: {body}");
    }

    let tenant_key = s.key("acme-analyst", KeyRole::Analyst, Some("acme")).await;
    let (status, body) = send(s.get("/api/alerts", &tenant_key)).await;
    assert_eq!(status, 200);
    assert!(body["firing"].as_array().unwrap().is_empty(), "{body}");
    assert!(body["alerts"].as_array().unwrap().is_empty(), "{body}");
    let ingest_key = s.key("ingest", KeyRole::Ingest, None).await;
    let (status, _) = send(s.get("/api/alerts", &ingest_key)).await;
    assert_eq!(status, 403);
}

/// Five failed logins of one user fire `failed_logins` for that user only (stored as
/// SEC-001); the error-rate alert's own CRITICAL event does not set off the
/// critical-events rule, a real CRITICAL event does; slow requests fire SYS-007.
async fn check_failed_logins_and_critical(s: &TestServer) {
    let now = Utc::now().to_rfc3339();
    let login = |i: usize, user: &str| {
        json!({"event_id": format!("login-{user}-{i}"), "event_category": "AUTH",
               "event_type": "USER_LOGIN", "status": "FAILED", "username": user,
               "timestamp": now})
    };
    let mut events: Vec<Value> = (0..5).map(|i| login(i, "mallory")).collect();
    events.extend((0..4).map(|i| login(i, "alice")));
    let (status, body) = s.post_batch(&events).await;
    assert_eq!(status, 201, "{body}");
    let alert = until("the failed-logins alert", || async {
        history(s, "failed_logins").await.into_iter().next()
    })
    .await;
    assert_eq!(alert["key"], "mallory");
    assert_eq!(alert["value"], 5.0);
    let event_id = alert["event_id"].as_str().unwrap().to_owned();
    let event = until("the SEC-001 event", || async {
        let (status, e) = s.get_json(&format!("/api/events/{event_id}")).await;
        (status == 200).then_some(e)
    })
    .await;
    assert_eq!(event["event_code"], "SEC-001");
    assert_eq!(event["metadata"]["user"], "mallory");
    assert_eq!(event["metadata"]["login_attempts"], 5.0);
    tokio::time::sleep(Duration::from_millis(1500)).await;
    assert_eq!(
        history(s, "failed_logins").await.len(),
        1,
        "alice stays below 5"
    );

    // The error-rate alerts stored CRITICAL SYS-008 events, yet no critical alert so far.
    assert!(history(s, "critical_event").await.is_empty());
    let (status, _) = s
        .post_event(&json!({"event_code": "SYS-012", "severity": "CRITICAL", "timestamp": now}))
        .await;
    assert_eq!(status, 201);
    let alert = until("the critical-event alert", || async {
        history(s, "critical_event").await.into_iter().next()
    })
    .await;
    assert_eq!(alert["value"], 1.0);
    assert!(alert["event_id"].as_str().unwrap().starts_with("SYS-012-"));

    // Ten requests averaging 1,500 ms: the slow-responses rule fires as SYS-007.
    let slow: Vec<Value> = (0..10)
        .map(|i| {
            json!({"event_id": format!("slow-{i}"), "event_code": "DATA-001", "status": "SUCCESS",
                   "endpoint": "/api/siswa", "processing_time_ms": 1000 + 100 * i, "timestamp": now})
        })
        .collect();
    let (status, _) = s.post_batch(&slow).await;
    assert_eq!(status, 201);
    let alert = until("the slow-responses alert", || async {
        history(s, "slow_responses").await.into_iter().next()
    })
    .await;
    assert_eq!(alert["value"], 1450.0);
    assert_eq!(alert["kind"], "avg_response_time");
    let event_id = alert["event_id"].as_str().unwrap().to_owned();
    let event = until("the SYS-007 event", || async {
        let (status, e) = s.get_json(&format!("/api/events/{event_id}")).await;
        (status == 200).then_some(e)
    })
    .await;
    assert_eq!(event["event_code"], "SYS-007");
    assert_eq!(event["metadata"]["response_time"], 1450.0);
    assert_eq!(event["metadata"]["threshold"], 1000.0);
}

/// The webhook receivers of one test: one that always answers 200, one that fails twice.
struct Receivers {
    good: Log,
    flaky: Log,
}

async fn setup() -> (ServerConfig, Receivers) {
    let (good_url, good) = receiver(0).await;
    let (flaky_url, flaky) = receiver(2).await;
    let mut error_rate = rule("error_rate", RuleKind::ErrorRate, 5.0, 300);
    error_rate.cooldown_secs = 3;
    let mut failed = rule("failed_logins", RuleKind::FailedLogins, 5.0, 900);
    failed.severity = Severity::Warning;
    let config = config(
        vec![
            error_rate,
            failed,
            rule("critical_event", RuleKind::CriticalEvents, 1.0, 300),
            rule("slow_responses", RuleKind::AvgResponseTime, 1000.0, 300),
        ],
        &[&good_url, &flaky_url],
    );
    (config, Receivers { good, flaky })
}

async fn alerts_fire_notify_resolve_and_list(s: &TestServer, r: Receivers) {
    run_error_burst(s, &r.good, &r.flaky).await;
    check_listing(s).await;
    check_failed_logins_and_critical(s).await;
}

crate::store_tests!(setup = setup; alerts_fire_notify_resolve_and_list);

/// eventlog's own events (here the audit record of every export) are not the
/// applications' traffic: a reader exporting in a loop cannot dilute the error rate below
/// the threshold and keep the alert quiet.
mod own_events {
    use super::*;

    async fn exports_cannot_dilute_the_error_rate(s: &TestServer) {
        let analyst = s.key("exporter", KeyRole::Analyst, None).await;
        for _ in 0..60 {
            let response = s
                .get("/api/events/export?user_id=nobody", &analyst)
                .send()
                .await
                .unwrap();
            assert_eq!(response.status(), 200);
            response.bytes().await.unwrap();
        }
        until("the 60 export audit records", || async {
            let (_, body) = s
                .get_json("/api/events/recent?event_code=ADMIN-006&limit=100")
                .await;
            (body["events"].as_array().unwrap().len() >= 60).then_some(())
        })
        .await;
        // 2 errors in 20 application events: 10%, over the 5% threshold (with the 60
        // audit records counted it would read 2.5%).
        let (status, body) = s.post_batch(&burst("diluted", 20, 2)).await;
        assert_eq!(status, 201, "{body}");
        let firing = until("the error-rate alert to fire", || async {
            history(s, "error_rate").await.into_iter().next()
        })
        .await;
        assert_eq!(firing["value"], 10.0, "{firing}");
    }

    /// A window of hours reads whole hours from the hourly rollups: eventlog's own events
    /// are left out there too.
    async fn own_events_are_left_out_of_long_windows_too(s: &TestServer) {
        let two_hours_ago = (Utc::now() - chrono::TimeDelta::hours(2)).to_rfc3339();
        let validator = eventlog_core::Validator::new(
            eventlog_core::ValidationPolicy::default(),
            eventlog_core::Catalog::built_in(),
        );
        let own: Vec<_> = (0..60)
            .map(|i| {
                let raw = json!({"event_id": format!("own-{i}"), "event_code": "ADMIN-006",
                    "source": "eventlog", "timestamp": two_hours_ago});
                let raw = eventlog_core::parse_event(raw.to_string().as_bytes()).unwrap();
                validator.validate(raw, Utc::now()).unwrap()
            })
            .collect();
        s.store.write(&[own]).await.unwrap();
        let mut app = burst("long", 20, 2);
        for e in &mut app {
            e["timestamp"] = json!(two_hours_ago);
        }
        let (status, body) = s.post_batch(&app).await;
        assert_eq!(status, 201, "{body}");
        let firing = until("the 3-hour error-rate alert to fire", || async {
            history(s, "error_rate_3h").await.into_iter().next()
        })
        .await;
        assert_eq!(firing["value"], 10.0, "{firing}");
    }

    fn rules() -> ServerConfig {
        config(
            vec![
                rule("error_rate", RuleKind::ErrorRate, 5.0, 300),
                rule("error_rate_3h", RuleKind::ErrorRate, 5.0, 3 * 3600),
            ],
            &[],
        )
    }

    crate::store_tests!(
        config = super::rules();
        exports_cannot_dilute_the_error_rate,
        own_events_are_left_out_of_long_windows_too
    );
}
