//! The dashboard in a real browser: Debian's Chromium, headless, driven over WebDriver
//! (`chromedriver`) with fantoccini, against the real server on a random port.
//!
//! Signs in, compares the overview's figures with `GET /api/events/analytics/summary`,
//! filters events, opens one, follows a related event, switches language, sees the
//! activities feed after a tenant is created through the API, watches the live tail
//! receive an event, and checks that an analyst gets no security page. Every page is
//! saved under `target/screenshots/`.
//!
//! Needs `chromium` and `chromium-driver` (`.ci/run` installs them). Without them the test
//! fails in CI (`CI` set) and prints a loud SKIPPED banner elsewhere.

#[path = "api/helpers.rs"]
#[allow(dead_code)]
mod helpers;

use std::net::TcpListener;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use eventlog_store::KeyRole;
use fantoccini::{Client, ClientBuilder, Locator};
use helpers::TestServer;
use serde_json::{json, Value};

/// chromedriver on a free port, killed when dropped.
struct Driver {
    child: Child,
    url: String,
}

impl Drop for Driver {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn find(names: &[&str]) -> Option<PathBuf> {
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .flat_map(|dir| names.iter().map(move |n| dir.join(n)))
        .find(|p| p.is_file())
}

/// Starts chromedriver, or says loudly why not (a failure in CI).
fn start_driver() -> Option<Driver> {
    let (Some(driver), Some(_)) = (
        find(&["chromedriver"]),
        find(&["chromium", "chromium-browser"]),
    ) else {
        let msg = "chromium and chromedriver are not installed (apt-get install -y chromium chromium-driver)";
        if std::env::var_os("CI").is_some() {
            panic!("{msg}; the browser tests must run in CI");
        }
        eprintln!("\n!!!! SKIPPED: {msg}. The dashboard browser tests did not run. !!!!\n");
        return None;
    };
    let port = TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let child = Command::new(driver)
        .arg(format!("--port={port}"))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("chromedriver starts");
    let deadline = Instant::now() + Duration::from_secs(20);
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(Instant::now() < deadline, "chromedriver did not listen");
        std::thread::sleep(Duration::from_millis(100));
    }
    Some(Driver {
        child,
        url: format!("http://127.0.0.1:{port}"),
    })
}

async fn browser(driver: &Driver) -> Client {
    let binary = find(&["chromium", "chromium-browser"]).unwrap();
    let caps = json!({
        "goog:chromeOptions": {
            "binary": binary,
            "args": ["--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                     "--window-size=1440,1000", "--lang=en-US", "--force-device-scale-factor=1"]
        }
    });
    let Value::Object(caps) = caps else {
        unreachable!()
    };
    // fantoccini builds its TLS settings from rustls's process default, which the two
    // backends compiled into the workspace (sqlx's aws-lc-rs, reqwest's ring) leave unset.
    let _ = rustls::crypto::aws_lc_rs::default_provider().install_default();
    ClientBuilder::rustls()
        .expect("TLS roots")
        .capabilities(caps)
        .connect(&driver.url)
        .await
        .expect("a Chromium session")
}

fn screenshots() -> PathBuf {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../target/screenshots");
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

async fn shot(c: &Client, name: &str) {
    let png = c.screenshot().await.unwrap();
    std::fs::write(screenshots().join(format!("{name}.png")), png).unwrap();
}

/// Waits until `css` matches an element whose text contains `text`.
async fn wait_text(c: &Client, css: &str, text: &str) -> fantoccini::elements::Element {
    let deadline = Instant::now() + Duration::from_secs(15);
    loop {
        for e in c.find_all(Locator::Css(css)).await.unwrap() {
            if e.text().await.unwrap_or_default().contains(text) {
                return e;
            }
        }
        assert!(
            Instant::now() < deadline,
            "no `{css}` containing `{text}` on {}",
            c.current_url().await.unwrap()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

async fn sign_in(c: &Client, s: &TestServer, key: &str) {
    c.goto(&format!("{}/", s.url)).await.unwrap();
    assert!(c.current_url().await.unwrap().path().starts_with("/signin"));
    c.find(Locator::Css("#key"))
        .await
        .unwrap()
        .send_keys(key)
        .await
        .unwrap();
    c.find(Locator::Css("#signin"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    c.wait().for_element(Locator::Css("#kpis")).await.unwrap();
}

async fn seed(s: &TestServer) {
    let now = chrono::Utc::now();
    let mut events = Vec::new();
    for i in 0..40 {
        events.push(json!({
            "event_category": "SYSTEM", "event_type": "API_REQUEST", "event_name": "GET /api/students",
            "http_method": "GET", "endpoint": "/api/students", "http_status": if i % 8 == 0 { 500 } else { 200 },
            "processing_time_ms": 20.0 + 7.0 * i as f64, "user_id": 100 + i % 5, "username": format!("guru0{}", i % 5),
            "timestamp": (now - chrono::Duration::minutes(3 * i)).to_rfc3339(),
        }));
    }
    events.push(json!({"event_id": "b-login", "event_code": "AUTH-001", "user_id": 101, "username": "guru01",
        "session_id": "sess-b", "correlation_id": "corr-b", "ip_address": "10.1.2.3"}));
    events.push(json!({"event_id": "b-student", "event_code": "DATA-001", "user_id": 101, "username": "guru01",
        "session_id": "sess-b", "correlation_id": "corr-b", "resource_type": "STUDENT", "resource_id": "STD-2025-001",
        "resource_name": "Budi Santoso"}));
    events.push(
        json!({"event_code": "AUTH-002", "username": "admin", "ip_address": "198.51.100.23"}),
    );
    events.push(json!({"event_code": "SYS-012", "severity": "CRITICAL"}));
    let (status, body) = s.post_batch(&events).await;
    assert_eq!(status, 201, "{body}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_dashboard_works_in_chromium() {
    let Some(driver) = start_driver() else { return };
    let s = TestServer::sqlite().await;
    seed(&s).await;
    let c = browser(&driver).await;

    // Sign in, then the overview shows exactly what the summary endpoint answers for the
    // same window.
    sign_in(&c, &s, &s.admin_key).await;
    shot(&c, "overview").await;
    let kpis = c.find(Locator::Css("#kpis")).await.unwrap();
    let since = kpis.attr("data-since").await.unwrap().unwrap();
    let until = kpis.attr("data-until").await.unwrap().unwrap();
    let (status, summary) = s
        .get_json(&format!(
            "/api/events/analytics/summary?since={}&until={}",
            since.replace('+', "%2B"),
            until.replace('+', "%2B")
        ))
        .await;
    assert_eq!(status, 200, "{summary}");
    for (metric, want) in [
        ("total_events", &summary["total_events"]),
        ("requests_per_minute", &summary["requests_per_minute"]),
        ("avg_ms", &summary["response_time"]["avg_ms"]),
        ("p95_ms", &summary["response_time"]["p95_ms"]),
        ("error_rate_percent", &summary["error_rate_percent"]),
        ("active_users", &summary["active_users"]),
    ] {
        let card = c
            .find(Locator::Css(&format!(".kpi[data-metric='{metric}']")))
            .await
            .unwrap();
        let shown: f64 = card
            .attr("data-value")
            .await
            .unwrap()
            .unwrap()
            .parse()
            .unwrap();
        assert_eq!(shown, want.as_f64().unwrap(), "{metric}");
        assert!(!card.text().await.unwrap().is_empty());
    }
    assert_eq!(summary["total_events"], 44);

    // Filter events through the form; the filter lands in the URL.
    c.goto(&format!("{}/events", s.url)).await.unwrap();
    c.find(Locator::Css("input[name='category']"))
        .await
        .unwrap()
        .send_keys("AUTH")
        .await
        .unwrap();
    c.find(Locator::Css("#apply"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    wait_text(&c, "table.events", "User Login").await;
    assert!(c
        .current_url()
        .await
        .unwrap()
        .query()
        .unwrap()
        .contains("category=AUTH"));
    let rows = c
        .find_all(Locator::Css("table.events tbody tr"))
        .await
        .unwrap();
    assert_eq!(rows.len(), 2, "AUTH-001 and AUTH-002");
    for row in rows {
        assert!(row.text().await.unwrap().contains("AUTH"));
    }
    shot(&c, "events").await;

    // Open one, then follow a related event (same correlation id).
    c.find(Locator::Css("a.event-link[data-id='b-login']"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    let id = wait_text(&c, "#event-id", "b-login").await;
    assert_eq!(id.text().await.unwrap(), "b-login");
    assert!(c
        .find(Locator::Css("#event-json"))
        .await
        .unwrap()
        .text()
        .await
        .unwrap()
        .contains("\"correlation_id\": \"corr-b\""));
    shot(&c, "event").await;
    c.find(Locator::Css(".related a.event-link[data-id='b-student']"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    wait_text(&c, "#event-id", "b-student").await;

    // Switch language and back.
    c.find(Locator::Css("button[data-lang='id']"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    wait_text(&c, ".top nav", "Ringkasan").await;
    assert!(c
        .current_url()
        .await
        .unwrap()
        .path()
        .starts_with("/events/"));
    c.goto(&format!("{}/", s.url)).await.unwrap();
    wait_text(&c, "main h1", "Ringkasan").await;
    shot(&c, "overview-id").await;
    c.find(Locator::Css("button[data-lang='en']"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    wait_text(&c, ".top nav", "Overview").await;

    // A tenant created through the API shows in the activities feed.
    let (status, _) = s
        .post_event(&json!({"event_code": "TENANT_CREATED", "username": "alice", "tenant_id": "nusantara",
            "resource_type": "TENANT", "resource_id": "nusantara", "resource_name": "Sekolah Nusantara"}))
        .await;
    assert_eq!(status, 201);
    c.goto(&format!("{}/activities", s.url)).await.unwrap();
    wait_text(&c, "#feed", "Tenant Sekolah Nusantara created by alice").await;
    shot(&c, "activities").await;

    // The live tail receives an event sent while the page is open.
    c.goto(&format!("{}/live", s.url)).await.unwrap();
    wait_text(&c, "#live-status", "Live").await;
    let (status, _) = s
        .post_event(&json!({"event_id": "live-1", "event_code": "AUTH-002", "username": "budi", "ip_address": "10.9.9.9"}))
        .await;
    assert_eq!(status, 201);
    wait_text(&c, "#live-events", "User Login Failed").await;
    c.find(Locator::Css("#live-events a[data-id='live-1']"))
        .await
        .expect("the streamed event links to its page");
    shot(&c, "live").await;

    for page in ["security", "users", "alerts", "system"] {
        c.goto(&format!("{}/{page}", s.url)).await.unwrap();
        c.wait().for_element(Locator::Css("main h1")).await.unwrap();
        shot(&c, page).await;
    }
    c.goto(&format!("{}/users/101", s.url)).await.unwrap();
    wait_text(&c, "main", "guru01").await;
    shot(&c, "user").await;

    // Sign out; an analyst sees no security page, in the navigation or by URL.
    c.find(Locator::Css("#signout"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    c.wait().for_element(Locator::Css("#key")).await.unwrap();
    let analyst = s.key("browser-analyst", KeyRole::Analyst, None).await;
    sign_in(&c, &s, &analyst).await;
    let nav = c
        .find(Locator::Css(".top nav"))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(nav.contains("Events") && !nav.contains("Security"), "{nav}");
    c.goto(&format!("{}/security", s.url)).await.unwrap();
    wait_text(&c, "main", "may not open this page").await;
    shot(&c, "security-analyst").await;

    // On a narrow screen the header wraps: nothing runs off its right edge, and the
    // current page's navigation item is in view.
    c.set_window_size(500, 900).await.unwrap();
    c.goto(&format!("{}/alerts", s.url)).await.unwrap();
    c.wait()
        .for_element(Locator::Css("#signout"))
        .await
        .unwrap();
    let fits = c
        .execute(
            "const w = document.documentElement.clientWidth; \
             const nav = document.querySelector('.top nav').getBoundingClientRect(); \
             const a = document.querySelector('.top nav a.active').getBoundingClientRect(); \
             return [document.getElementById('signout').getBoundingClientRect().right <= w, \
                     a.left >= nav.left - 1 && a.right <= nav.right + 1];",
            vec![],
        )
        .await
        .unwrap();
    assert_eq!(
        fits,
        json!([true, true]),
        "sign-out visible, current item in view"
    );
    shot(&c, "alerts-narrow").await;

    c.close().await.unwrap();
    s.cleanup().await;
}
