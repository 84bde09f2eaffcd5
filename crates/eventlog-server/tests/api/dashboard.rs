//! The dashboard over HTTP (no browser): sign-in and sessions, CSRF, security headers,
//! the page access matrix, the session cookie on the API, and pages showing exactly what
//! the API answers. The browser tests (tests/browser.rs) drive the same pages in Chromium.

use std::collections::HashMap;

use eventlog_server::rbac::{Access, DASHBOARD_MATRIX};
use eventlog_store::KeyRole;
use reqwest::header::{HeaderMap, ACCEPT_LANGUAGE, COOKIE, LOCATION, SET_COOKIE};
use serde_json::{json, Value};

use crate::helpers::TestServer;

/// A cookie-keeping client that does not follow redirects.
pub struct Browser {
    client: reqwest::Client,
    base: String,
    cookies: HashMap<String, String>,
    pub lang: Option<&'static str>,
}

pub struct Page {
    pub status: u16,
    pub headers: HeaderMap,
    pub text: String,
}

impl Page {
    pub fn location(&self) -> &str {
        self.headers
            .get(LOCATION)
            .map_or("", |v| v.to_str().unwrap())
    }

    pub fn set_cookies(&self) -> Vec<String> {
        self.headers
            .get_all(SET_COOKIE)
            .iter()
            .map(|v| v.to_str().unwrap().to_owned())
            .collect()
    }

    /// The value of the hidden input `name`.
    pub fn hidden(&self, name: &str) -> String {
        let marker = format!("name=\"{name}\" value=\"");
        let start = self.text.find(&marker).unwrap_or_else(|| {
            panic!("no hidden {name} in {}", self.text);
        }) + marker.len();
        self.text[start..].split('"').next().unwrap().to_owned()
    }
}

impl Browser {
    pub fn new(s: &TestServer) -> Self {
        Self {
            client: reqwest::Client::builder()
                .redirect(reqwest::redirect::Policy::none())
                .build()
                .unwrap(),
            base: s.url.clone(),
            cookies: HashMap::new(),
            lang: None,
        }
    }

    fn remember(&mut self, headers: &HeaderMap) {
        for v in headers.get_all(SET_COOKIE) {
            let v = v.to_str().unwrap();
            let (pair, attrs) = v.split_once(';').unwrap_or((v, ""));
            let (k, val) = pair.split_once('=').unwrap();
            if attrs.contains("Max-Age=0") {
                self.cookies.remove(k);
            } else {
                self.cookies.insert(k.to_owned(), val.to_owned());
            }
        }
    }

    fn cookie_header(&self) -> String {
        self.cookies
            .iter()
            .map(|(k, v)| format!("{k}={v}"))
            .collect::<Vec<_>>()
            .join("; ")
    }

    pub fn cookie(&self, name: &str) -> Option<&String> {
        self.cookies.get(name)
    }

    pub async fn send(&mut self, req: reqwest::RequestBuilder) -> Page {
        let mut req = req.header(COOKIE, self.cookie_header());
        if let Some(l) = self.lang {
            req = req.header(ACCEPT_LANGUAGE, l);
        }
        let resp = req.send().await.unwrap();
        let status = resp.status().as_u16();
        let headers = resp.headers().clone();
        self.remember(&headers);
        let text = resp.text().await.unwrap();
        Page {
            status,
            headers,
            text,
        }
    }

    pub async fn get(&mut self, path: &str) -> Page {
        let req = self.client.get(format!("{}{path}", self.base));
        self.send(req).await
    }

    pub async fn post(&mut self, path: &str, form: &[(&str, &str)]) -> Page {
        let req = self.client.post(format!("{}{path}", self.base)).form(form);
        self.send(req).await
    }

    /// Signs in with `key` through the form; returns the POST's answer.
    pub async fn sign_in(&mut self, key: &str) -> Page {
        let form = self.get("/signin").await;
        assert_eq!(form.status, 200);
        let csrf = form.hidden("csrf");
        self.post("/signin", &[("key", key), ("csrf", &csrf), ("next", "/")])
            .await
    }

    /// The CSRF token of the current page's forms.
    pub async fn csrf(&mut self) -> String {
        self.get("/signin").await.hidden("csrf")
    }
}

/// A page route with its parameters filled in.
fn concrete(path: &str) -> String {
    path.replace("{event_id}", "x")
        .replace("{user_id}", "15")
        .replace("{file}", "dashboard.css")
}

async fn every_role_on_every_page(s: &TestServer) {
    let mut checked = 0;
    for role in [KeyRole::Admin, KeyRole::Analyst, KeyRole::Auditor] {
        let key = s.key(&format!("dash-{}", role.as_str()), role, None).await;
        let mut b = Browser::new(s);
        let signed = b.sign_in(&key).await;
        assert_eq!(signed.status, 303, "{}", signed.text);
        for rule in DASHBOARD_MATRIX.iter().filter(|r| r.method == "GET") {
            let path = concrete(rule.path);
            let page = b.get(&path).await;
            let allowed = match rule.access {
                Access::Public => true,
                Access::Roles(roles) => roles.contains(&role),
            };
            if allowed {
                assert!(
                    [200, 404].contains(&page.status),
                    "{path} as {}: {}",
                    role.as_str(),
                    page.status
                );
            } else {
                assert_eq!(page.status, 403, "{path} must refuse {}", role.as_str());
            }
            checked += 1;
        }
        let nav = b.get("/").await.text;
        assert_eq!(
            nav.contains("href=\"/security\""),
            role == KeyRole::Admin,
            "the security page is in the navigation for admins only ({})",
            role.as_str()
        );
    }
    assert!(checked >= 3 * 10);
    // Strangers are sent to the sign-in form, which brings them back afterwards.
    let mut stranger = Browser::new(s);
    for rule in DASHBOARD_MATRIX.iter().filter(|r| r.method == "GET") {
        let page = stranger.get(&concrete(rule.path)).await;
        match rule.access {
            Access::Public => assert_eq!(page.status, 200, "{}", rule.path),
            Access::Roles(_) => {
                assert_eq!(page.status, 303, "{}", rule.path);
                assert!(
                    page.location().starts_with("/signin?next=%2F"),
                    "{}",
                    page.location()
                );
            }
        }
    }
    assert_eq!(stranger.get("/nowhere").await.status, 404);
    // A page asked with a method it does not take: 405 and the page's way of saying so.
    let mut admin = Browser::new(s);
    admin.sign_in(&s.admin_key).await;
    let wrong = admin.post("/events", &[]).await;
    assert_eq!(wrong.status, 405, "{}", wrong.text);
    assert!(
        wrong.text.contains("does not take that method"),
        "{}",
        wrong.text
    );
    // An ingest key cannot open any page, so it cannot sign in.
    let ingest = s.key("dash-ingest", KeyRole::Ingest, None).await;
    let refused = Browser::new(s).sign_in(&ingest).await;
    assert_eq!(refused.status, 403);
    assert!(
        refused.text.contains("may only send events"),
        "{}",
        refused.text
    );
    let bad = Browser::new(s).sign_in("not-a-key").await;
    assert_eq!(bad.status, 401);
}

async fn sessions_are_strict_cookies_guarded_by_csrf(s: &TestServer) {
    let mut b = Browser::new(s);
    // No CSRF token, no sign-in.
    let page = b.get("/signin").await;
    let pre = page
        .set_cookies()
        .into_iter()
        .find(|c| c.starts_with("eventlog_csrf="))
        .expect("a CSRF cookie for the sign-in form");
    assert!(
        pre.contains("HttpOnly") && pre.contains("SameSite=Strict"),
        "{pre}"
    );
    let forged = b
        .post(
            "/signin",
            &[("key", &s.admin_key), ("csrf", "0000"), ("next", "/")],
        )
        .await;
    assert_eq!(forged.status, 403);
    // A form another site (or a sibling subdomain) posts is refused even with a valid
    // token pair, as the browser labels it; the same form from this origin signs in.
    let csrf = b.csrf().await;
    for site in ["cross-site", "same-site"] {
        let req = b
            .client
            .post(format!("{}/signin", s.url))
            .header("sec-fetch-site", site)
            .form(&[
                ("key", s.admin_key.as_str()),
                ("csrf", &csrf),
                ("next", "/"),
            ]);
        assert_eq!(b.send(req).await.status, 403, "{site}");
    }
    let mut own = Browser::new(s);
    let csrf = own.csrf().await;
    let req = own
        .client
        .post(format!("{}/signin", s.url))
        .header("sec-fetch-site", "same-origin")
        .form(&[
            ("key", s.admin_key.as_str()),
            ("csrf", &csrf),
            ("next", "/"),
        ]);
    assert_eq!(own.send(req).await.status, 303);
    // A form without its token, or not a form at all, gets the page back, not plain text.
    for (body, content_type) in [
        (
            format!("key={}&next=/", s.admin_key),
            "application/x-www-form-urlencoded",
        ),
        (
            format!("{{\"key\":\"{}\"}}", s.admin_key),
            "application/json",
        ),
    ] {
        let resp = s
            .client
            .post(format!("{}/signin", s.url))
            .header("content-type", content_type)
            .body(body)
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), 400);
        assert!(resp.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/html"));
        assert!(resp.text().await.unwrap().contains("<form"));
    }
    let signed = b.sign_in(&s.admin_key).await;
    assert_eq!(signed.status, 303);
    assert_eq!(signed.location(), "/");
    let cookie = signed
        .set_cookies()
        .into_iter()
        .find(|c| c.starts_with("eventlog_session="))
        .unwrap();
    assert_eq!(
        &cookie[cookie.find(';').unwrap()..],
        "; Path=/; HttpOnly; SameSite=Strict",
        "{cookie}"
    );
    let id = b.cookie("eventlog_session").unwrap().clone();
    assert_eq!(id.len(), 64);
    // Behind a TLS proxy the cookie is Secure.
    let mut tls = Browser::new(s);
    let csrf = tls.csrf().await;
    let req = tls
        .client
        .post(format!("{}/signin", s.url))
        .header("x-forwarded-proto", "https")
        .form(&[("key", s.admin_key.as_str()), ("csrf", &csrf)]);
    let page = tls.send(req).await;
    assert!(
        page.set_cookies()
            .iter()
            .any(|c| c.starts_with("eventlog_session=") && c.ends_with("; Secure")),
        "{:?}",
        page.set_cookies()
    );
    // Only local paths are followed after sign-in; a browser drops tabs and newlines from
    // a URL, so `/\t/evil.example` would be `//evil.example`; a newline is no 500.
    for next in [
        "//evil.example/",
        "/\t/evil.example",
        "/\n/x",
        "/\r/x",
        "/ /x",
    ] {
        let mut b2 = Browser::new(s);
        let csrf = b2.csrf().await;
        let page = b2
            .post(
                "/signin",
                &[("key", &s.admin_key), ("csrf", &csrf), ("next", next)],
            )
            .await;
        assert_eq!((page.status, page.location()), (303, "/"), "{next:?}");
    }

    let page = b.get("/").await;
    assert_eq!(page.status, 200);
    let csrf = page.hidden("csrf");
    // Sign-out and the language switch need the session's token.
    assert_eq!(b.post("/signout", &[("csrf", "nope")]).await.status, 403);
    let unreadable = b.post("/signout", &[]).await;
    assert_eq!(unreadable.status, 400);
    assert!(unreadable.text.contains("<html"), "{}", unreadable.text);
    assert_eq!(
        b.post("/lang", &[("csrf", "nope"), ("lang", "id")])
            .await
            .status,
        403
    );
    let switched = b
        .post(
            "/lang",
            &[("csrf", &csrf), ("lang", "id"), ("next", "/events")],
        )
        .await;
    assert_eq!(switched.status, 303);
    assert_eq!(switched.location(), "/events");
    let page = b.get("/events").await;
    assert!(page.text.contains("<html lang=\"id\">"));
    assert!(page.text.contains("Terapkan"), "Indonesian strings");
    let out = b.post("/signout", &[("csrf", &csrf)]).await;
    assert_eq!(out.status, 303);
    assert!(b.cookie("eventlog_session").is_none(), "cookie deleted");
    // The old session id no longer works.
    let req = b
        .client
        .get(format!("{}/", s.url))
        .header(COOKIE, format!("eventlog_session={id}"));
    assert_eq!(req.send().await.unwrap().status(), 303);
}

async fn every_dashboard_response_has_the_security_headers(s: &TestServer) {
    let mut b = Browser::new(s);
    b.sign_in(&s.admin_key).await;
    for path in [
        "/",
        "/signin",
        "/events",
        "/assets/dashboard.js",
        "/no-such-page",
        "/events/none",
    ] {
        let page = b.get(path).await;
        let h = |name: &str| {
            page.headers
                .get(name)
                .map(|v| v.to_str().unwrap().to_owned())
                .unwrap_or_else(|| panic!("{path} lacks {name}"))
        };
        if path == "/no-such-page" {
            continue;
        }
        let csp = h("content-security-policy");
        assert!(csp.contains("script-src 'self'"), "{csp}");
        assert!(!csp.contains("unsafe-inline"), "{csp}");
        assert!(csp.contains("frame-ancestors 'none'"), "{csp}");
        assert_eq!(h("x-content-type-options"), "nosniff");
        assert_eq!(h("referrer-policy"), "same-origin");
    }
    // A cacheable asset carries no CSRF token cookie for a shared cache to hand on.
    let asset = Browser::new(s).get("/assets/dashboard.js").await;
    assert!(asset.set_cookies().is_empty(), "{:?}", asset.set_cookies());
    assert!(!Browser::new(s)
        .get("/signin")
        .await
        .set_cookies()
        .is_empty());
    // No inline script anywhere: every <script> has a src.
    let page = b.get("/").await.text;
    assert_eq!(
        page.matches("<script").count(),
        page.matches("<script src=").count()
    );
    assert!(
        !page.contains(" style=\""),
        "no inline style attributes (CSP)"
    );
}

async fn the_session_cookie_reads_the_api_as_its_key(s: &TestServer) {
    let acme = s.key("acme-analyst", KeyRole::Analyst, Some("acme")).await;
    let (status, _) = s
        .post_batch(&[
            json!({"event_id": "c-acme", "event_code": "AUTH-001", "tenant_id": "acme", "user_id": 1}),
            json!({"event_id": "c-globex", "event_code": "AUTH-001", "tenant_id": "globex", "user_id": 2}),
        ])
        .await;
    assert_eq!(status, 201);
    let mut b = Browser::new(s);
    assert_eq!(b.sign_in(&acme).await.status, 303);
    let page = b.get("/api/events/recent").await;
    assert_eq!(page.status, 200, "{}", page.text);
    let body: Value = serde_json::from_str(&page.text).unwrap();
    let ids: Vec<&str> = body["events"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["event_id"].as_str().unwrap())
        .collect();
    assert_eq!(ids, ["c-acme"], "tenant exactly as the key's");
    assert_eq!(
        b.get("/api/events/recent?tenant_id=globex").await.status,
        403
    );
    assert_eq!(
        b.get("/api/events/security").await.status,
        403,
        "role as the key's"
    );
    // Only GETs: a cookie cannot send events (no CSRF on the API).
    let req = b
        .client
        .post(format!("{}/api/events", s.url))
        .json(&json!({"event_code": "AUTH-001"}));
    assert_eq!(b.send(req).await.status, 401);
    // The events page of a tenant-bound viewer shows only its tenant.
    let page = b.get("/events").await;
    assert!(page.text.contains("c-acme") && !page.text.contains("c-globex"));
    assert_eq!(b.get("/events/c-globex").await.status, 404);
    // Revoking the key ends its sessions (within the 2 s key cache).
    s.store.revoke_key("acme-analyst").await.unwrap();
    tokio::time::sleep(std::time::Duration::from_millis(2100)).await;
    assert_eq!(b.get("/api/events/recent").await.status, 401);
    assert_eq!(b.get("/").await.status, 303);
}

/// The overview's figures are the summary endpoint's, for the same window.
async fn the_overview_shows_what_the_api_answers(s: &TestServer) {
    let now = chrono::Utc::now();
    let mut events = Vec::new();
    for i in 0..30 {
        events.push(json!({
            "event_category": "SYSTEM", "event_type": "API_REQUEST", "http_method": "GET",
            "endpoint": "/api/siswa", "http_status": if i % 5 == 0 { 500 } else { 200 },
            "processing_time_ms": 10.0 * i as f64, "user_id": i % 4, "username": format!("u{}", i % 4),
            "timestamp": (now - chrono::Duration::minutes(i)).to_rfc3339(),
        }));
    }
    events.push(json!({"event_code": "SYS-001", "severity": "CRITICAL", "event_id": "crit-1"}));
    let (status, body) = s.post_batch(&events).await;
    assert_eq!(status, 201, "{body}");
    let mut b = Browser::new(s);
    b.sign_in(&s.admin_key).await;
    let page = b.get("/?hours=24").await;
    assert_eq!(page.status, 200);
    let attr = |text: &str, marker: &str| {
        let i = text.find(marker).unwrap_or_else(|| panic!("{marker}")) + marker.len();
        text[i..].split('"').next().unwrap().to_owned()
    };
    let since = attr(&page.text, "data-since=\"");
    let until = attr(&page.text, "data-until=\"");
    let enc = |t: &str| t.replace('+', "%2B");
    let (status, summary) = s
        .get_json(&format!(
            "/api/events/analytics/summary?since={}&until={}",
            enc(&since),
            enc(&until)
        ))
        .await;
    assert_eq!(status, 200, "{summary}");
    let cases = [
        ("total_events", &summary["total_events"]),
        ("requests_per_minute", &summary["requests_per_minute"]),
        ("avg_ms", &summary["response_time"]["avg_ms"]),
        ("p95_ms", &summary["response_time"]["p95_ms"]),
        ("error_rate_percent", &summary["error_rate_percent"]),
        ("active_users", &summary["active_users"]),
    ];
    for (metric, want) in cases {
        let shown = attr(
            &page.text,
            &format!("data-metric=\"{metric}\" data-value=\""),
        );
        assert_eq!(
            shown.parse::<f64>().unwrap(),
            want.as_f64().unwrap(),
            "{metric}"
        );
    }
    assert_eq!(summary["total_events"], 31);
    assert!(
        page.text.contains("/events/crit-1"),
        "recent critical listed"
    );
    assert!(page.text.contains("/api/siswa"), "top endpoints listed");
    assert!(page.text.contains("<svg class=\"chart\""));
}

/// The explorer filters like `recent`, pages with the cursor, and the detail view lists
/// related events.
async fn events_explorer_filters_pages_and_relates(s: &TestServer) {
    let mut events = Vec::new();
    for i in 0..60 {
        events.push(json!({"event_id": format!("ex-{i:02}"), "event_code": "DATA-003", "user_id": 7,
                           "session_id": "sess-7", "correlation_id": if i < 3 { "corr-1" } else { "corr-x" }}));
    }
    events.push(json!({"event_id": "ex-other", "event_code": "AUTH-002", "username": "budi", "status": "FAILED"}));
    let (status, _) = s.post_batch(&events).await;
    assert_eq!(status, 201);
    let mut b = Browser::new(s);
    b.sign_in(&s.admin_key).await;
    let page = b.get("/events?category=AUTH&status=FAILED").await;
    assert!(page.text.contains("ex-other") && !page.text.contains("ex-01"));
    assert!(
        page.text.contains("value=\"AUTH\""),
        "filters stay in the form"
    );
    let first = b.get("/events?user_id=7").await;
    assert_eq!(first.text.matches("class=\"event-link\"").count(), 50);
    let next = {
        let i = first.text.find("id=\"next-page\"").expect("a next page");
        let h = first.text[..i].rfind("href=\"").unwrap() + 6;
        first.text[h..]
            .split('"')
            .next()
            .unwrap()
            .replace("&#38;", "&")
            .replace("&amp;", "&")
    };
    assert!(
        next.contains("user_id=7") && next.contains("cursor="),
        "{next}"
    );
    let second = b.get(&next).await;
    // 60 events of user 7, plus whatever detection derived about them.
    let (_, all) = s.get_json("/api/events/recent?user_id=7&limit=1000").await;
    let total = all["events"].as_array().unwrap().len();
    assert!(total >= 60);
    assert_eq!(
        second.text.matches("class=\"event-link\"").count(),
        (total - 50).min(50)
    );
    assert!(
        !second.text.contains("data-id=\"ex-59\""),
        "page 2 starts after page 1"
    );
    let bad = b.get("/events?severity=LOUD").await;
    assert_eq!(bad.status, 400);
    assert!(bad.text.contains("unknown severity"));
    let detail = b.get("/events/ex-01").await;
    assert_eq!(detail.status, 200);
    assert!(detail.text.contains("data-copy=\"ex-01\""));
    assert!(
        detail.text.contains("&#34;event_id&#34;: &#34;ex-01&#34;"),
        "pretty JSON"
    );
    assert!(detail.text.contains("Same correlation id"));
    assert!(detail.text.contains("/events/ex-00") && detail.text.contains("/events/ex-02"));
    assert!(detail.text.contains("Same session") && detail.text.contains("Same user"));
    assert_eq!(b.get("/events/none").await.status, 404);
}

async fn every_page_renders_in_both_languages(s: &TestServer) {
    let (status, _) = s
        .post_batch(&[
            json!({"event_code": "TENANT_CREATED", "username": "alice", "resource_name": "Acme", "tenant_id": "acme"}),
            json!({"event_code": "AUTH-002", "username": "budi", "ip_address": "10.0.0.9"}),
            json!({"event_code": "SEC-003", "ip_address": "10.0.0.9", "request_data": {"q": "1' OR '1'='1"}}),
        ])
        .await;
    assert_eq!(status, 201);
    for (lang, word) in [
        ("en-US,en;q=0.9", "Overview"),
        ("id-ID,id;q=0.9", "Ringkasan"),
    ] {
        let mut b = Browser::new(s);
        b.lang = Some(lang);
        b.sign_in(&s.admin_key).await;
        for path in [
            "/",
            "/events",
            "/activities",
            "/activities?importance=MAJOR",
            "/security",
            "/users",
            "/users/15",
            "/system",
            "/live",
        ] {
            let page = b.get(path).await;
            assert_eq!(page.status, 200, "{path} {lang}: {}", page.text);
            assert!(page.text.contains(word), "{path} in {lang}");
            assert!(
                !page.text.contains("??"),
                "{path}: a string is missing from the locale"
            );
        }
        let feed = b.get("/activities").await.text;
        assert!(feed.contains("Tenant Acme created by alice"), "{feed}");
        // The SEC-003 event has no username: a row that says so, not an empty link.
        let users = b.get("/users").await.text;
        assert!(
            users.contains("Events without a username")
                || users.contains("Event tanpa nama pengguna"),
            "{users}"
        );
        assert!(!users.contains("href=\"/events?\""), "{users}");
    }
}

crate::store_tests!(
    every_role_on_every_page,
    sessions_are_strict_cookies_guarded_by_csrf,
    every_dashboard_response_has_the_security_headers,
    the_session_cookie_reads_the_api_as_its_key,
    the_overview_shows_what_the_api_answers,
    events_explorer_filters_pages_and_relates,
    every_page_renders_in_both_languages,
);

#[test]
fn every_dashboard_row_is_unique() {
    let mut seen = std::collections::HashSet::new();
    for r in DASHBOARD_MATRIX {
        assert!(
            seen.insert((r.method.clone(), r.path)),
            "{} {} twice",
            r.method,
            r.path
        );
    }
}

/// The alerts page lists what `GET /api/alerts` answers: a CRITICAL event fires the
/// "any CRITICAL event" rule, and the page shows it as firing with a link to its event.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_alerts_page_shows_what_the_api_answers() {
    let mut config = eventlog_server::ServerConfig::default();
    config.alerts.evaluate_every_secs = 1;
    let s = TestServer::sqlite_with(config).await;
    let (status, _) = s
        .post_event(&json!({"event_code": "SYS-012", "severity": "CRITICAL"}))
        .await;
    assert_eq!(status, 201);
    let mut firing = Value::Null;
    for _ in 0..100 {
        let (_, view) = s.get_json("/api/alerts").await;
        if !view["firing"].as_array().unwrap().is_empty() {
            firing = view["firing"].clone();
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    let firing = firing.as_array().expect("an alert fires within 10 s");
    let mut b = Browser::new(&s);
    b.sign_in(&s.admin_key).await;
    let page = b.get("/alerts").await;
    assert_eq!(page.status, 200);
    for alert in firing {
        assert!(
            page.text.contains(alert["rule"].as_str().unwrap()),
            "{alert}"
        );
        if let Some(id) = alert["event_id"].as_str() {
            assert!(page.text.contains(&format!("/events/{id}")), "{id}");
        }
    }
    assert!(page.text.contains("alert-firing"));
    assert_eq!(b.get("/alerts?state=loud").await.status, 400);
    s.cleanup().await;
}
