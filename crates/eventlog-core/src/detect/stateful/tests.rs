use chrono::TimeZone;
use serde_json::json;

use super::*;

fn at(h: u32, m: u32, s: u32) -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2025, 6, 19, h, m, s).unwrap()
}

/// An event with the given fields over sensible defaults.
fn event(id: &str, when: DateTime<Utc>, fields: Value) -> EventRecord {
    let mut base = json!({
        "event_id": id, "event_category": "AUTH", "event_type": "USER_LOGIN",
        "event_name": "x", "action": "LOGIN", "status": "SUCCESS",
        "timestamp": when, "tags": [], "severity": "INFO", "importance": "MINOR",
    });
    if let (Value::Object(b), Value::Object(f)) = (&mut base, fields) {
        b.extend(f);
    }
    serde_json::from_value(base).unwrap()
}

fn failed_login(n: u32, user: &str, ip: &str) -> EventRecord {
    event(
        &format!("f{n}-{user}-{ip}"),
        at(10, 0, n % 60),
        json!({"event_code": "AUTH-002", "status": "FAILED", "username": user, "ip_address": ip}),
    )
}

fn codes(alerts: &[Alert]) -> Vec<&'static str> {
    alerts.iter().map(|a| a.code).collect()
}

#[test]
fn five_failed_logins_for_one_user_lock_the_account_once() {
    let mut d = StreamDetectors::new(StreamConfig::default());
    for n in 0..4 {
        assert!(d.observe(&failed_login(n, "guru01", "10.0.0.9")).is_empty());
    }
    let alerts = d.observe(&failed_login(4, "guru01", "10.0.0.9"));
    assert_eq!(codes(&alerts), vec!["SEC-002", "AUTH-005"]);
    assert_eq!(alerts[0].username.as_deref(), Some("guru01"));
    assert_eq!(alerts[0].ip_address, Some("10.0.0.9".parse().unwrap()));
    assert_eq!(alerts[0].details["attempt_count"], 5);
    assert_eq!(alerts[0].trigger_event_id, "f4-guru01-10.0.0.9");
    // The attack goes on: no new alert within the window.
    for n in 5..20 {
        assert!(
            d.observe(&failed_login(n, "guru01", "10.0.0.9")).is_empty(),
            "{n}"
        );
    }
}

#[test]
fn failures_spread_over_more_than_the_window_do_not_alert() {
    let mut d = StreamDetectors::new(StreamConfig::default());
    for n in 0..10 {
        let mut e = failed_login(n, "siti", "10.0.0.1");
        e.timestamp = at(8, 0, 0) + Duration::minutes(i64::from(n) * 2);
        assert!(d.observe(&e).is_empty(), "{n}");
    }
}

#[test]
fn brute_force_from_one_ip_and_credential_stuffing() {
    let mut d = StreamDetectors::new(StreamConfig::default());
    let mut all = Vec::new();
    for n in 0..10 {
        all.extend(d.observe(&failed_login(n, &format!("user{n}"), "203.0.113.7")));
    }
    assert_eq!(codes(&all), vec!["SEC-002", "SEC-001"]);
    assert_eq!(all[0].key, "ip:203.0.113.7");
    assert_eq!(
        all[1].details["targeted_usernames"]
            .as_array()
            .unwrap()
            .len(),
        10
    );
}

#[test]
fn successful_logins_and_other_events_are_not_attacks() {
    let mut d = StreamDetectors::new(StreamConfig::default());
    for n in 0..50 {
        let e = event(
            &format!("ok{n}"),
            at(9, 0, n % 60),
            json!({"event_code": "AUTH-001", "username": "guru01", "user_id": "15", "ip_address": "10.0.0.9", "user_role": "teacher", "endpoint": "/api/grades", "http_status": 200}),
        );
        assert!(d.observe(&e).is_empty(), "{n}");
    }
}

#[test]
fn non_admin_on_admin_routes_is_escalation() {
    let mut d = StreamDetectors::new(StreamConfig::default());
    let hit = |n: u32, status: u16| {
        event(
            &format!("e{n}"),
            at(11, 0, n),
            json!({"event_category": "DATA", "event_type": "API_REQUEST", "action": "READ",
                "user_id": "77", "username": "siswa77", "user_role": "student",
                "endpoint": "/api/admin/users", "http_method": "GET", "http_status": status,
                "ip_address": "10.1.1.1"}),
        )
    };
    assert!(d.observe(&hit(0, 403)).is_empty());
    assert!(d.observe(&hit(1, 403)).is_empty());
    let alerts = d.observe(&hit(2, 403));
    assert_eq!(codes(&alerts), vec!["SEC-007"]);
    assert_eq!(alerts[0].user_id.as_deref(), Some("77"));
    assert_eq!(
        alerts[0].details["attempted_action"],
        "GET /api/admin/users"
    );

    // A non-admin actually served an admin route: at once.
    let mut d = StreamDetectors::new(StreamConfig::default());
    assert_eq!(codes(&d.observe(&hit(0, 200))), vec!["SEC-007"]);
    // An admin on the same route is fine.
    let mut admin = hit(1, 200);
    admin.user_role = Some("Admin".into());
    admin.user_id = Some("1".into());
    assert!(d.observe(&admin).is_empty());
    // "/administrator-guide" is not under "/admin".
    let mut other = hit(2, 200);
    other.endpoint = Some("/administrator-guide".into());
    other.user_id = Some("2".into());
    assert!(d.observe(&other).is_empty());
}

#[test]
fn bursts_of_401_from_one_ip() {
    let mut d = StreamDetectors::new(StreamConfig::default());
    let mut all = Vec::new();
    for n in 0..10 {
        let e = event(
            &format!("u{n}"),
            at(12, 0, n),
            json!({"event_category": "SYSTEM", "event_type": "API_REQUEST", "action": "READ",
                "endpoint": "/api/students", "http_status": 401, "ip_address": "198.51.100.4",
                "user_agent": "python-requests/2.32"}),
        );
        all.extend(d.observe(&e));
    }
    assert_eq!(codes(&all), vec!["SEC-005"]);
    assert_eq!(all[0].trigger_event_id, "u9");
}

fn routine(n: u32, when: DateTime<Utc>) -> EventRecord {
    event(
        &format!("r{n}"),
        when,
        json!({"event_category": "DATA", "event_type": "API_REQUEST", "action": "READ",
            "user_id": "15", "username": "guru01", "ip_address": "10.0.0.9",
            "user_agent": "Firefox/128", "endpoint": "/api/grades", "http_status": 200}),
    )
}

#[test]
fn anomalies_against_the_users_own_history() {
    let mut d = StreamDetectors::new(StreamConfig::default());
    // A history: 30 events over 10 working-hour minutes, one IP, one browser.
    for n in 0..30 {
        let e = routine(n, at(9, n / 3, n % 3));
        assert!(d.observe(&e).is_empty(), "{n}");
    }
    let mut new_ip = routine(100, at(9, 20, 0));
    new_ip.ip_address = Some("185.220.101.1".parse().unwrap());
    let alerts = d.observe(&new_ip);
    assert_eq!(codes(&alerts), vec!["SEC-009"]);
    assert_eq!(alerts[0].details["behavior_pattern"], "new_ip");

    let mut night = routine(101, at(3, 0, 0) + Duration::days(1));
    night.user_agent = Some("curl/8.0".into());
    let patterns: Vec<_> = d
        .observe(&night)
        .iter()
        .map(|a| a.details["behavior_pattern"].clone())
        .collect();
    assert_eq!(
        patterns,
        vec![json!("new_user_agent"), json!("unusual_hour")]
    );

    // A burst of 40 requests in one minute against ~3 a minute.
    let mut spikes = Vec::new();
    for n in 0..40 {
        spikes.extend(d.observe(&routine(200 + n, at(9, 30, n % 60) + Duration::days(1))));
    }
    let patterns: Vec<_> = spikes
        .iter()
        .map(|a| a.details["behavior_pattern"].clone())
        .collect();
    assert_eq!(patterns, vec![json!("rate_spike")]);
}

#[test]
fn a_user_whose_address_changes_with_every_request_is_flagged_once_per_cooldown() {
    let mut d = StreamDetectors::new(StreamConfig::default());
    for n in 0..30 {
        assert!(
            d.observe(&routine(n, at(9, n / 3, n % 3))).is_empty(),
            "{n}"
        );
    }
    let mut alerts = Vec::new();
    for n in 0..200u32 {
        let mut e = routine(100 + n, at(9, 10 + n / 20, n % 60));
        e.ip_address = Some(
            format!("100.64.{}.{}", n / 250, n % 250 + 1)
                .parse()
                .unwrap(),
        );
        alerts.extend(d.observe(&e));
    }
    let new_ip = alerts
        .iter()
        .filter(|a| a.details["behavior_pattern"] == "new_ip")
        .count();
    assert_eq!(new_ip, 1, "{alerts:?}");
    // An hour later the next new address is news again.
    let mut later = routine(400, at(10, 30, 0));
    later.ip_address = Some("198.51.100.7".parse().unwrap());
    let patterns: Vec<_> = d
        .observe(&later)
        .iter()
        .map(|a| a.details["behavior_pattern"].clone())
        .collect();
    assert!(patterns.contains(&json!("new_ip")), "{patterns:?}");
}

#[test]
fn new_users_are_learned_not_flagged() {
    let mut d = StreamDetectors::new(StreamConfig::default());
    for n in 0..10 {
        let mut e = routine(n, at(n % 24, 0, 0));
        e.ip_address = Some(format!("10.9.0.{n}").parse().unwrap());
        assert!(d.observe(&e).is_empty());
    }
}

#[test]
fn claiming_the_derived_source_does_not_hide_an_attack() {
    let mut d = StreamDetectors::new(StreamConfig::default());
    let mut alerts = Vec::new();
    for n in 0..10 {
        let mut e = failed_login(n, "guru01", "10.0.0.9");
        e.source = Some(DERIVED_SOURCE.into());
        alerts.extend(d.observe(&e));
    }
    assert!(
        !alerts.is_empty(),
        "failed logins are failed logins, whatever their source"
    );
}

#[test]
fn rotating_ips_and_usernames_cannot_exhaust_memory() {
    let config = StreamConfig {
        max_tracked_keys: 1_000,
        ..StreamConfig::default()
    };
    let mut d = StreamDetectors::new(config);
    for n in 0..20_000u32 {
        let ip = std::net::Ipv4Addr::from(0x0a00_0000 + n);
        let e = event(
            &format!("x{n}"),
            at(10, 0, 0) + Duration::milliseconds(i64::from(n)),
            json!({"event_code": "AUTH-002", "status": "FAILED", "username": format!("u{n}"),
                "user_id": format!("{n}"), "ip_address": ip.to_string(), "http_status": 401,
                "user_role": "student", "endpoint": "/admin", "user_agent": format!("bot/{n}")}),
        );
        d.observe(&e);
    }
    let stats = d.stats();
    assert!(stats.tracked_keys <= 6 * 1_000, "{stats:?}");
    assert!(stats.evicted_keys > 0, "{stats:?}");
    // Still detecting after the flood.
    let mut alerts = Vec::new();
    for n in 0..5 {
        alerts.extend(d.observe(&failed_login(n, "kepsek", "10.200.0.1")));
    }
    assert!(codes(&alerts).contains(&"AUTH-005"));
}
