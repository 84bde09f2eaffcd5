//! The query layer: every number of the analytics endpoints equals the same number
//! computed here from the raw events (read back through `GET /api/events/recent`).

use std::collections::{BTreeMap, HashSet};

use chrono::{DateTime, Duration, DurationRound, Utc};
use eventlog_store::KeyRole;
use serde_json::{json, Value};

use crate::helpers::{send, TestServer};

const CODES: &[&str] = &[
    "AUTH-001", "AUTH-002", "DATA-001", "SEC-003", "SEC-004", "PRED-002", "SYS-001", "SYS-008",
];

/// The raw request path of event `i` (ids in it, as seed 002's middleware logs them).
fn endpoint(i: usize) -> String {
    match i % 3 {
        0 => format!("/api/siswa/{i}"),
        1 => "/api/auth/login".to_owned(),
        _ => format!("/api/prediksi/{i:08x}-9d4a-4e7b-8f21-{i:012x}/result?v=2"),
    }
}

/// The template the reports group a raw path under, written out by hand (the rule under
/// test is `eventlog_core::route::template`).
fn expected_template(raw: &str) -> String {
    if raw.starts_with("/api/siswa/") {
        "/api/siswa/{id}".to_owned()
    } else if raw.starts_with("/api/prediksi/") {
        "/api/prediksi/{id}/result".to_owned()
    } else {
        raw.to_owned()
    }
}

/// A deterministic mix: codes, statuses, endpoints, latencies, users, tenants and times
/// spread over the last `hours` (so windows cross minute, hour and day buckets).
fn mixed_events(prefix: &str, n: usize, hours: i64) -> Vec<Value> {
    let now = Utc::now();
    (0..n)
        .map(|i| {
            let code = CODES[i % CODES.len()];
            let mut e = json!({
                "event_id": format!("{prefix}-{i:04}"),
                "event_code": code,
                "timestamp": (now - Duration::minutes((i as i64 * 37) % (hours * 60))).to_rfc3339(),
            });
            let o = e.as_object_mut().unwrap();
            if i % 3 != 0 {
                o.insert("user_id".into(), json!(i % 11));
                o.insert("username".into(), json!(format!("user{}", i % 11)));
            }
            if i % 2 == 0 {
                o.insert("endpoint".into(), json!(endpoint(i)));
                if i % 4 == 0 {
                    o.insert("event_name".into(), json!(format!("GET {}", endpoint(i))));
                }
                o.insert(
                    "processing_time_ms".into(),
                    json!(((i * 7919) % 2500) as f64 + 0.5),
                );
            }
            if i % 9 == 4 {
                o.insert("status".into(), json!("ERROR"));
            }
            if i % 5 == 1 {
                o.insert("tenant_id".into(), json!("acme"));
            }
            if code == "PRED-002" {
                o.insert("status".into(), json!("SUCCESS"));
                o.insert(
                    "response_data".into(),
                    json!({"confidence": (i % 10) as f64 / 10.0}),
                );
            }
            e
        })
        .collect()
}

/// Every event of `[since, until)` via the public API, following cursors.
async fn raw_events(s: &TestServer, since: &str, until: &str, tenant: Option<&str>) -> Vec<Value> {
    let mut out = Vec::new();
    let mut cursor = String::new();
    loop {
        let mut path = format!(
            "/api/events/recent?limit=1000&since={}&until={}",
            enc(since),
            enc(until)
        );
        if let Some(t) = tenant {
            path.push_str(&format!("&tenant_id={t}"));
        }
        if !cursor.is_empty() {
            path.push_str(&format!("&cursor={cursor}"));
        }
        let (status, page) = s.get_json(&path).await;
        assert_eq!(status, 200, "{page}");
        out.extend(page["events"].as_array().unwrap().iter().cloned());
        match page["next_cursor"].as_str() {
            Some(c) => cursor = c.to_owned(),
            None => return out,
        }
    }
}

fn enc(s: &str) -> String {
    s.replace('+', "%2B").replace(':', "%3A")
}

fn counts_of(events: &[Value], field: &str) -> BTreeMap<String, i64> {
    let mut m = BTreeMap::new();
    for e in events {
        *m.entry(e[field].as_str().unwrap().to_owned()).or_default() += 1;
    }
    m
}

fn counts_from_api(v: &Value) -> BTreeMap<String, i64> {
    v.as_array()
        .unwrap()
        .iter()
        .map(|c| {
            (
                c["value"].as_str().unwrap().to_owned(),
                c["count"].as_i64().unwrap(),
            )
        })
        .collect()
}

fn exact_percentile(mut xs: Vec<f64>, p: f64) -> f64 {
    xs.sort_by(f64::total_cmp);
    let rank = ((p * xs.len() as f64).ceil() as usize).max(1);
    xs[rank - 1]
}

async fn summary_numbers_equal_the_raw_events(s: &TestServer) {
    let events = mixed_events("sum", 400, 50);
    let (status, body) = s.post_batch(&events).await;
    assert_eq!(status, 201, "{body}");
    // Repeats are answered as duplicates and must not be counted again.
    let (status, body) = s.post_batch(&events[..50]).await;
    assert_eq!(
        (status, body["duplicates"].as_i64()),
        (201, Some(50)),
        "{body}"
    );

    for (query, tenant) in [
        ("hours=50", None),
        ("hours=7", None),
        ("hours=50", Some("acme")),
    ] {
        let mut path = format!("/api/events/analytics/summary?{query}");
        if let Some(t) = tenant {
            path.push_str(&format!("&tenant_id={t}"));
        }
        let (status, sum) = s.get_json(&path).await;
        assert_eq!(status, 200, "{sum}");
        let since = sum["window"]["since"].as_str().unwrap();
        let until = sum["window"]["until"].as_str().unwrap();
        let raw = raw_events(s, since, until, tenant).await;
        assert!(!raw.is_empty());
        assert_eq!(
            sum["total_events"].as_i64().unwrap(),
            raw.len() as i64,
            "{query}"
        );
        assert_eq!(
            counts_from_api(&sum["by_category"]),
            counts_of(&raw, "event_category")
        );
        assert_eq!(
            counts_from_api(&sum["by_severity"]),
            counts_of(&raw, "severity")
        );
        assert_eq!(
            counts_from_api(&sum["by_status"]),
            counts_of(&raw, "status")
        );
        let errors = raw.iter().filter(|e| e["status"] == "ERROR").count() as i64;
        assert_eq!(sum["errors"].as_i64().unwrap(), errors);
        let rate = (errors as f64 * 10000.0 / raw.len() as f64).round() / 100.0;
        assert_eq!(sum["error_rate_percent"].as_f64().unwrap(), rate);
        let failures = raw
            .iter()
            .filter(|e| ["FAILED", "ERROR"].contains(&e["status"].as_str().unwrap()))
            .count() as i64;
        assert_eq!(sum["failures"].as_i64().unwrap(), failures);
        let latencies: Vec<f64> = raw
            .iter()
            .filter_map(|e| e["processing_time_ms"].as_f64())
            .collect();
        let rt = &sum["response_time"];
        assert_eq!(rt["count"].as_i64().unwrap(), latencies.len() as i64);
        let avg = latencies.iter().sum::<f64>() / latencies.len() as f64;
        assert!((rt["avg_ms"].as_f64().unwrap() - avg).abs() < 1e-6);
        let max = latencies.iter().copied().fold(0.0, f64::max);
        assert_eq!(rt["max_ms"].as_f64().unwrap(), max);
        for (p, key) in [(0.5, "p50_ms"), (0.95, "p95_ms"), (0.99, "p99_ms")] {
            let exact = exact_percentile(latencies.clone(), p);
            let got = rt[key].as_f64().unwrap();
            assert!(
                got >= exact && got <= exact * 1.091,
                "{key}: histogram {got} vs exact {exact}"
            );
        }
        let requests = raw.iter().filter(|e| e["endpoint"].is_string()).count() as i64;
        assert_eq!(sum["requests"].as_i64().unwrap(), requests);
        let minutes = (DateTime::parse_from_rfc3339(until).unwrap()
            - DateTime::parse_from_rfc3339(since).unwrap())
        .num_minutes();
        let rpm = (requests as f64 / minutes as f64 * 100.0).round() / 100.0;
        assert_eq!(sum["requests_per_minute"].as_f64().unwrap(), rpm);
        let users_raw = raw_events(
            s,
            sum["users_window"]["since"].as_str().unwrap(),
            sum["users_window"]["until"].as_str().unwrap(),
            tenant,
        )
        .await;
        let users: HashSet<&str> = users_raw
            .iter()
            .filter_map(|e| e["user_id"].as_str())
            .collect();
        assert_eq!(sum["active_users"].as_i64().unwrap(), users.len() as i64);
    }
}

async fn late_events_land_in_their_own_buckets(s: &TestServer) {
    let day = (Utc::now() - Duration::days(5))
        .duration_trunc(Duration::days(1))
        .unwrap();
    let late = json!({"event_id": "late-1", "event_code": "SEC-003", "timestamp": (day + Duration::hours(3)).to_rfc3339()});
    assert_eq!(s.post_event(&late).await.0, 201);
    let q = format!(
        "since={}&until={}",
        enc(&day.to_rfc3339()),
        enc(&(day + Duration::days(1)).to_rfc3339())
    );
    let (_, sum) = s
        .get_json(&format!("/api/events/analytics/summary?{q}"))
        .await;
    assert_eq!(sum["total_events"], 1, "{sum}");
    let (_, sec) = s
        .get_json(&format!("/api/events/analytics/security?{q}"))
        .await;
    assert_eq!(sec["types"][0]["event_type"], "ATTACK_DETECTION", "{sec}");
    let (_, now) = s.get_json("/api/events/analytics/summary?hours=24").await;
    assert_eq!(
        now["total_events"], 0,
        "the late event is not counted today: {now}"
    );
}

async fn the_six_seed_queries_match_the_raw_events(s: &TestServer) {
    let events = mixed_events("six", 300, 30);
    assert_eq!(s.post_batch(&events).await.0, 201);

    // critical: SEC-003 and SYS-008 are CRITICAL by default.
    let (status, crit) = s
        .get_json("/api/events/analytics/critical?hours=24&limit=5")
        .await;
    assert_eq!(status, 200, "{crit}");
    let w = &crit["window"];
    let raw = raw_events(
        s,
        w["since"].as_str().unwrap(),
        w["until"].as_str().unwrap(),
        None,
    )
    .await;
    let critical: Vec<&Value> = raw.iter().filter(|e| e["severity"] == "CRITICAL").collect();
    assert_eq!(crit["count"].as_i64().unwrap(), critical.len() as i64);
    let listed: Vec<&str> = crit["events"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["event_id"].as_str().unwrap())
        .collect();
    let newest: Vec<&str> = critical
        .iter()
        .take(5)
        .map(|e| e["event_id"].as_str().unwrap())
        .collect();
    assert_eq!(listed, newest);

    // users: per username (null for none), count and last activity.
    let (_, users) = s.get_json("/api/events/analytics/users?hours=24").await;
    let w = &users["window"];
    let raw = raw_events(
        s,
        w["since"].as_str().unwrap(),
        w["until"].as_str().unwrap(),
        None,
    )
    .await;
    let mut want: BTreeMap<Option<String>, (i64, String)> = BTreeMap::new();
    for e in &raw {
        let entry = want
            .entry(e["username"].as_str().map(str::to_owned))
            .or_insert((0, String::new()));
        entry.0 += 1;
        let t = e["timestamp"].as_str().unwrap().to_owned();
        if parse(&t) > parse_or_min(&entry.1) {
            entry.1 = t;
        }
    }
    let rows = users["users"].as_array().unwrap();
    assert_eq!(rows.len(), want.len());
    for r in rows {
        let (n, last) = &want[&r["username"].as_str().map(str::to_owned)];
        assert_eq!(r["event_count"].as_i64().unwrap(), *n);
        assert_eq!(parse(r["last_activity"].as_str().unwrap()), parse(last));
    }
    let counts: Vec<i64> = rows
        .iter()
        .map(|r| r["event_count"].as_i64().unwrap())
        .collect();
    assert!(counts.windows(2).all(|w| w[0] >= w[1]), "most active first");

    // endpoints: templated paths with more than 10 requests, error rate with 2 decimals.
    let (_, eps) = s.get_json("/api/events/analytics/endpoints?hours=30").await;
    let w = &eps["window"];
    let raw = raw_events(
        s,
        w["since"].as_str().unwrap(),
        w["until"].as_str().unwrap(),
        None,
    )
    .await;
    let mut want: BTreeMap<String, (i64, i64)> = BTreeMap::new();
    for e in raw.iter().filter(|e| e["endpoint"].is_string()) {
        let c = want
            .entry(expected_template(e["endpoint"].as_str().unwrap()))
            .or_default();
        c.0 += 1;
        c.1 += i64::from(e["status"] == "ERROR");
    }
    want.retain(|_, (n, _)| *n > 10);
    let rows = eps["endpoints"].as_array().unwrap();
    assert_eq!(rows.len(), want.len(), "{eps}");
    assert!(
        rows.iter().any(|r| r["endpoint"] == "/api/siswa/{id}"),
        "one row for every student's path: {eps}"
    );
    for r in rows {
        let (n, errs) = want[r["endpoint"].as_str().unwrap()];
        assert_eq!(r["total_requests"].as_i64().unwrap(), n);
        assert_eq!(r["error_count"].as_i64().unwrap(), errs);
        assert_eq!(
            r["error_rate"].as_f64().unwrap(),
            (errs as f64 * 10000.0 / n as f64).round() / 100.0
        );
    }
    let (_, few) = s.get_json("/api/events/analytics/endpoints?hours=1").await;
    assert!(
        few["endpoints"]
            .as_array()
            .unwrap()
            .iter()
            .all(|r| r["total_requests"].as_i64().unwrap() > 10),
        "{few}"
    );

    // security: by type with latest.
    let (_, sec) = s.get_json("/api/events/analytics/security?hours=24").await;
    let w = &sec["window"];
    let raw = raw_events(
        s,
        w["since"].as_str().unwrap(),
        w["until"].as_str().unwrap(),
        None,
    )
    .await;
    let sec_raw: Vec<&Value> = raw
        .iter()
        .filter(|e| e["event_category"] == "SECURITY")
        .collect();
    let total: i64 = sec["types"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["count"].as_i64().unwrap())
        .sum();
    assert_eq!(total, sec_raw.len() as i64);
    assert_eq!(
        parse(sec["types"][0]["latest"].as_str().unwrap()),
        parse(sec_raw[0]["timestamp"].as_str().unwrap()),
        "raw events are newest first"
    );

    // models: per hour, mean confidence of successful individual predictions.
    let (_, models) = s.get_json("/api/events/analytics/models?hours=24").await;
    let w = &models["window"];
    let raw = raw_events(
        s,
        w["since"].as_str().unwrap(),
        w["until"].as_str().unwrap(),
        None,
    )
    .await;
    let mut want: BTreeMap<DateTime<Utc>, (i64, f64)> = BTreeMap::new();
    for e in raw.iter().filter(|e| {
        e["event_category"] == "PRED"
            && e["event_type"] == "INDIVIDUAL_PREDICTION"
            && e["status"] == "SUCCESS"
    }) {
        let hour = parse(e["timestamp"].as_str().unwrap())
            .duration_trunc(Duration::hours(1))
            .unwrap();
        let c = want.entry(hour).or_default();
        c.0 += 1;
        c.1 += e["response_data"]["confidence"].as_f64().unwrap();
    }
    let hours = models["hours"].as_array().unwrap();
    assert_eq!(hours.len(), want.len(), "{models}");
    for h in hours {
        let (n, sum) = want[&parse(h["hour"].as_str().unwrap())];
        assert_eq!(h["prediction_count"].as_i64().unwrap(), n);
        assert!((h["avg_confidence"].as_f64().unwrap() - sum / n as f64).abs() < 1e-9);
    }

    // performance: per event name (paths in it templated), avg/max/count of events with a
    // processing time.
    let (_, perf) = s
        .get_json("/api/events/analytics/performance?hours=6")
        .await;
    let w = &perf["window"];
    let raw = raw_events(
        s,
        w["since"].as_str().unwrap(),
        w["until"].as_str().unwrap(),
        None,
    )
    .await;
    let mut want: BTreeMap<String, Vec<f64>> = BTreeMap::new();
    for e in &raw {
        if let Some(ms) = e["processing_time_ms"].as_f64() {
            let name = e["event_name"].as_str().unwrap();
            let name = match name.strip_prefix("GET ") {
                Some(path) => format!("GET {}", expected_template(path)),
                None => name.to_owned(),
            };
            want.entry(name).or_default().push(ms);
        }
    }
    let rows = perf["events"].as_array().unwrap();
    assert_eq!(rows.len(), want.len(), "{perf}");
    for r in rows {
        let xs = &want[r["event_name"].as_str().unwrap()];
        assert_eq!(r["request_count"].as_i64().unwrap(), xs.len() as i64);
        assert!(
            (r["avg_response_time"].as_f64().unwrap() - xs.iter().sum::<f64>() / xs.len() as f64)
                .abs()
                < 1e-6
        );
        assert_eq!(
            r["max_response_time"].as_f64().unwrap(),
            xs.iter().copied().fold(0.0, f64::max)
        );
    }
}

fn parse(s: &str) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc)
}

fn parse_or_min(s: &str) -> DateTime<Utc> {
    if s.is_empty() {
        DateTime::<Utc>::MIN_UTC
    } else {
        parse(s)
    }
}

async fn timeseries_points_add_up_to_the_summary(s: &TestServer) {
    let events = mixed_events("ts", 200, 20);
    assert_eq!(s.post_batch(&events).await.0, 201);
    let (status, ts) = s
        .get_json("/api/events/analytics/timeseries?metric=events&interval=hour&hours=24")
        .await;
    assert_eq!(status, 200, "{ts}");
    let w = &ts["window"];
    let points = ts["series"][0]["points"].as_array().unwrap();
    assert_eq!(
        points.len(),
        25,
        "24 hours back from now touch 25 hour buckets"
    );
    let total: f64 = points.iter().map(|p| p["value"].as_f64().unwrap()).sum();
    let (_, sum) = s
        .get_json(&format!(
            "/api/events/analytics/summary?since={}&until={}",
            enc(w["since"].as_str().unwrap()),
            enc(w["until"].as_str().unwrap())
        ))
        .await;
    assert_eq!(total as i64, sum["total_events"].as_i64().unwrap());

    let (_, by) = s
        .get_json("/api/events/analytics/timeseries?metric=events&interval=day&group_by=severity&hours=24")
        .await;
    let per_key: BTreeMap<String, f64> = by["series"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| {
            (
                s["key"].as_str().unwrap().to_owned(),
                s["points"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .map(|p| p["value"].as_f64().unwrap())
                    .sum(),
            )
        })
        .collect();
    let w = &by["window"];
    let raw = raw_events(
        s,
        w["since"].as_str().unwrap(),
        w["until"].as_str().unwrap(),
        None,
    )
    .await;
    let want: BTreeMap<String, f64> = counts_of(&raw, "severity")
        .into_iter()
        .map(|(k, v)| (k, v as f64))
        .collect();
    assert_eq!(per_key, want);

    for (query, field) in [
        ("metric=nope", "metric"),
        ("interval=week", "interval"),
        ("group_by=password", "group_by"),
        ("metric=active_users&interval=minute", "interval"),
        ("interval=minute&hours=8000", "interval"),
        ("hours=0", "hours"),
        ("since=yesterday", "since"),
        ("colour=red", "colour"),
        ("hours=1&hours=2", "hours"),
    ] {
        let (status, body) = s
            .get_json(&format!("/api/events/analytics/timeseries?{query}"))
            .await;
        assert_eq!(status, 400, "{query}: {body}");
        assert_eq!(body["error"]["field"], field, "{query}: {body}");
    }
    // A week of minutes is allowed, whether or not now falls on a whole minute.
    let (status, body) = s
        .get_json("/api/events/analytics/timeseries?metric=events&interval=minute&hours=168")
        .await;
    assert_eq!(status, 200, "{body}");
}

async fn tenant_keys_see_only_their_tenant_and_ingest_keys_nothing(s: &TestServer) {
    let events = mixed_events("ten", 100, 10);
    assert_eq!(s.post_batch(&events).await.0, 201);
    let acme = s.key("acme-analyst", KeyRole::Analyst, Some("acme")).await;
    let (status, own) = send(s.get("/api/events/analytics/summary", &acme)).await;
    assert_eq!(status, 200, "{own}");
    let (_, all_acme) = s
        .get_json("/api/events/analytics/summary?tenant_id=acme")
        .await;
    assert_eq!(own["total_events"], all_acme["total_events"]);
    assert_eq!(
        own["total_events"].as_i64().unwrap(),
        events.iter().filter(|e| e["tenant_id"] == "acme").count() as i64
    );
    let (status, body) = send(s.get("/api/events/analytics/users?tenant_id=other", &acme)).await;
    assert_eq!(
        (status, body["error"]["field"].as_str()),
        (403, Some("tenant_id")),
        "{body}"
    );
    let ingest = s.key("ingest-only", KeyRole::Ingest, None).await;
    for path in [
        "/api/events/analytics/summary",
        "/api/activities",
        "/api/events/analytics/models",
    ] {
        assert_eq!(send(s.get(path, &ingest)).await.0, 403, "{path}");
    }
}

/// Day rollups are folded from the hour rollups once a day is over. Until then (and for a
/// store whose days were never folded) the day figures are read from the hours; after the
/// fold they come from the day rows alone, and equal.
async fn days_are_read_from_hours_until_folded_then_from_day_rows(s: &TestServer) {
    let events = mixed_events("fold", 240, 72);
    assert_eq!(s.post_batch(&events).await.0, 201);
    let series =
        "/api/events/analytics/timeseries?metric=events&interval=day&group_by=severity&hours=96";
    let users = "/api/events/analytics/timeseries?metric=active_users&interval=day&hours=96";
    let summary = "/api/events/analytics/summary?hours=96";
    let read = || async {
        let (_, by_severity) = s.get_json(series).await;
        let (_, active) = s.get_json(users).await;
        let (_, sum) = s.get_json(summary).await;
        (
            by_severity["series"].clone(),
            active["series"].clone(),
            sum["total_events"].clone(),
            sum["active_users"].clone(),
        )
    };
    let folded_at_ingest = read().await;
    assert_eq!(folded_at_ingest.2, 240, "{folded_at_ingest:?}");

    // As if the last four days had not been folded yet: no day rows, daily_from before them.
    let today = Utc::now().duration_trunc(Duration::days(1)).unwrap();
    let from = today - Duration::days(4);
    let (from_sql, today_sql) = if s.pg_database.is_some() {
        (
            format!("TIMESTAMPTZ '{}'", from.to_rfc3339()),
            format!("TIMESTAMPTZ '{}'", today.to_rfc3339()),
        )
    } else {
        (
            from.timestamp_micros().to_string(),
            today.timestamp_micros().to_string(),
        )
    };
    s.sql(&format!(
        "DELETE FROM event_summary_daily WHERE bucket >= {from_sql}; \
         UPDATE rollup_state SET daily_from = {from_sql}"
    ))
    .await;
    assert_eq!(
        read().await,
        folded_at_ingest,
        "days read from the hour rows"
    );

    // The next commit folds the days that are over; their hour rows are then not needed.
    let now = json!({"event_id": "fold-now", "event_code": "SYS-001"});
    assert_eq!(s.post_event(&now).await.0, 201);
    s.sql(&format!(
        "DELETE FROM event_summary_hourly WHERE bucket >= {from_sql} AND bucket < {today_sql}"
    ))
    .await;
    let after = read().await;
    let before_today = |series: &Value| -> Vec<Value> {
        let mut points: Vec<Value> = series
            .as_array()
            .unwrap()
            .iter()
            .flat_map(|s| {
                s["points"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .filter(|p| parse(p["t"].as_str().unwrap()) < today && p["value"] != 0.0)
                    .map(|p| json!([s["key"], p["t"], p["value"]]))
                    .collect::<Vec<_>>()
            })
            .collect();
        points.sort_by_key(|p| p.to_string());
        points
    };
    assert_eq!(before_today(&after.0), before_today(&folded_at_ingest.0));
    assert_eq!(before_today(&after.1), before_today(&folded_at_ingest.1));
    assert!(
        !before_today(&after.0).is_empty(),
        "the window holds earlier days"
    );
}

/// Stores upgraded from before `user_name` hold `user` and `username` rows: their users
/// still count, once, beside the new rows.
async fn user_rows_of_the_older_format_are_still_read(s: &TestServer) {
    let events = vec![
        json!({"event_id": "fmt-1", "event_code": "AUTH-001", "user_id": "1", "username": "ann"}),
        json!({"event_id": "fmt-2", "event_code": "AUTH-001", "user_id": "2"}),
        json!({"event_id": "fmt-3", "event_code": "SYS-001"}),
    ];
    assert_eq!(s.post_batch(&events).await.0, 201);
    let hour = Utc::now().duration_trunc(Duration::hours(1)).unwrap();
    let (bucket, seen) = if s.pg_database.is_some() {
        let t = format!("TIMESTAMPTZ '{}'", hour.to_rfc3339());
        (t.clone(), t)
    } else {
        let t = hour.timestamp_micros().to_string();
        (t.clone(), t)
    };
    // An older `user` row for user 1 (already counted by the new rows) and user 9, and an
    // older `username` row for bob.
    s.sql(&format!(
        "INSERT INTO event_summary_hourly (dimension, bucket, tenant_id, value, events, errors, \
         failures, latency_count, latency_sum, latency_max, confidence_count, confidence_sum, \
         last_seen) VALUES \
         ('user', {bucket}, '', '1', 2, 0, 0, 0, 0, 0, 0, 0, {seen}), \
         ('user', {bucket}, '', '9', 1, 0, 0, 0, 0, 0, 0, 0, {seen}), \
         ('username', {bucket}, '', 'bob', 4, 0, 0, 0, 0, 0, 0, 0, {seen})"
    ))
    .await;
    let (_, sum) = s.get_json("/api/events/analytics/summary?hours=2").await;
    assert_eq!(sum["active_users"], 3, "users 1, 2 and 9: {sum}");
    let (_, ts) = s
        .get_json("/api/events/analytics/timeseries?metric=active_users&interval=hour&hours=2")
        .await;
    let peak = ts["series"][0]["points"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|p| p["value"].as_f64())
        .fold(0.0, f64::max);
    assert_eq!(peak, 3.0, "{ts}");
    let (_, users) = s.get_json("/api/events/analytics/users?hours=2").await;
    let per_name: BTreeMap<String, i64> = users["users"]
        .as_array()
        .unwrap()
        .iter()
        .map(|u| {
            (
                u["username"].as_str().unwrap_or("(none)").to_owned(),
                u["event_count"].as_i64().unwrap(),
            )
        })
        .collect();
    let want: BTreeMap<String, i64> = [("ann", 1), ("bob", 4), ("(none)", 2)]
        .into_iter()
        .map(|(k, v)| (k.to_owned(), v))
        .collect();
    assert_eq!(per_name, want, "{users}");
}

crate::store_tests!(
    summary_numbers_equal_the_raw_events,
    late_events_land_in_their_own_buckets,
    the_six_seed_queries_match_the_raw_events,
    timeseries_points_add_up_to_the_summary,
    days_are_read_from_hours_until_folded_then_from_day_rows,
    user_rows_of_the_older_format_are_still_read,
    tenant_keys_see_only_their_tenant_and_ingest_keys_nothing,
);
