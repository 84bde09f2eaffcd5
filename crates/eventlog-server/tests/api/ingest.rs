//! Sending events: single, batch, NDJSON, idempotency, all-or-nothing, concurrency, tenants.

use std::collections::HashSet;

use eventlog_store::KeyRole;
use serde_json::{json, Value};

use crate::helpers::{event, seed_samples, send, TestServer};

async fn seed_samples_are_accepted_as_written(s: &TestServer) {
    for sample in seed_samples() {
        let id = sample["event_id"].as_str().unwrap().to_owned();
        let (status, body) = s.post_event(&sample).await;
        if id.starts_with("SEC-002") {
            // 192.168.1.999 is not an address: refused, with the field named.
            assert_eq!(status, 422, "{body}");
            assert_eq!(body["error"]["field"], "ip_address");
            continue;
        }
        assert_eq!(status, 201, "{id}: {body}");
        assert_eq!(body["event_id"], id.as_str());
        let (status, stored) = s.get_json(&format!("/api/events/{id}")).await;
        assert_eq!(status, 200);
        assert_eq!(stored["event_name"], sample["event_name"]);
        assert_eq!(
            stored["user_id"],
            sample
                .get("user_id")
                .map(|u| json!(u.to_string()))
                .unwrap_or(Value::Null)
        );
        assert_eq!(stored["metadata"], sample["metadata"]);
        assert!(stored["created_at"].is_string() && stored["processed_at"].is_string());
    }
}

async fn same_id_same_content_is_a_duplicate_different_content_conflicts(s: &TestServer) {
    let e = event(json!({"event_id": "idem-1", "metadata": {"a": 1, "b": [1, 2]}}));
    let (status, body) = s.post_event(&e).await;
    assert_eq!((status, &body["event_id"]), (201, &json!("idem-1")));
    // Same content, other key order and user_id as a string: still the same event.
    let same = json!({"metadata": {"b": [1, 2], "a": 1}, "user_id": "15", "username": "guru01",
        "event_type": "USER_LOGIN", "event_category": "AUTH", "event_id": "idem-1"});
    let (status, body) = s.post_event(&same).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body, json!({"event_id": "idem-1", "duplicate": true}));
    let (status, body) = s
        .post_event(&event(json!({"event_id": "idem-1", "username": "mallory"})))
        .await;
    assert_eq!(status, 409, "{body}");
    assert_eq!(body["error"]["field"], "event_id");
    let (_, stored) = s.get_json("/api/events/idem-1").await;
    assert_eq!(stored["username"], "guru01");
    let (_, page) = s.get_json("/api/events/recent?limit=10").await;
    assert_eq!(page["events"].as_array().unwrap().len(), 1, "stored once");
}

/// Only an event id makes a delivery recognisable: an event sent twice without one is two
/// events, even with the same content and time (a burst of identical failed logins must
/// all count), as README "Idempotency" says.
async fn events_without_an_id_are_new_each_time(s: &TestServer) {
    let e = event(json!({"username": "burst", "timestamp": "2026-01-05T10:00:00Z"}));
    let (first, second) = (s.post_event(&e).await, s.post_event(&e).await);
    assert_eq!((first.0, second.0), (201, 201), "{first:?} {second:?}");
    assert_ne!(first.1["event_id"], second.1["event_id"]);
    let (_, page) = s
        .get_json("/api/events/recent?username=burst&limit=100")
        .await;
    assert_eq!(page["events"].as_array().unwrap().len(), 2, "{page}");
}

async fn a_batch_is_all_or_nothing_and_lists_every_invalid_item(s: &TestServer) {
    let events = vec![
        event(json!({"event_id": "b-0"})),
        event(json!({"ip_address": "not-an-ip"})),
        event(json!({"event_id": "b-2"})),
        json!({"event_type": "X", "colour": "red"}),
        event(json!({"severity": "LOUD"})),
    ];
    let (status, body) = s.post_batch(&events).await;
    assert_eq!(status, 422, "{body}");
    let err = &body["error"];
    assert_eq!(err["index"], 1);
    assert_eq!(err["field"], "ip_address");
    let listed: Vec<(u64, String)> = err["details"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| {
            (
                d["index"].as_u64().unwrap(),
                d["field"].as_str().unwrap_or("").to_owned(),
            )
        })
        .collect();
    assert!(listed.contains(&(1, "ip_address".into())), "{listed:?}");
    assert!(listed.contains(&(3, "colour".into())), "{listed:?}");
    assert!(listed.contains(&(4, "severity".into())), "{listed:?}");
    assert!(err["message"]
        .as_str()
        .unwrap()
        .contains("nothing was stored"));
    let (status, _) = s.get_json("/api/events/b-0").await;
    assert_eq!(status, 404, "no part of an invalid batch is stored");
    assert_eq!(s.store.count_events().await.unwrap(), 0);
}

async fn batches_report_accepted_and_duplicates(s: &TestServer) {
    let events: Vec<Value> = (0..50)
        .map(|i| event(json!({"event_id": format!("dup-{i}")})))
        .collect();
    let (status, body) = s.post_batch(&events).await;
    assert_eq!(status, 201, "{body}");
    assert_eq!(
        (body["accepted"].as_u64(), body["duplicates"].as_u64()),
        (Some(50), Some(0))
    );
    assert_eq!(body["event_ids"][7], "dup-7");
    let mut again = events[40..].to_vec();
    again.push(event(json!({})));
    let (status, body) = s.post_batch(&again).await;
    assert_eq!(status, 201, "{body}");
    assert_eq!(
        (body["accepted"].as_u64(), body["duplicates"].as_u64()),
        (Some(1), Some(10))
    );
    assert_eq!(body["event_ids"].as_array().unwrap().len(), 11);
    // One reused id with other content refuses the whole batch.
    let conflicting = vec![
        event(json!({"event_id": "fresh-1"})),
        event(json!({"event_id": "dup-3", "username": "x"})),
    ];
    let (status, body) = s.post_batch(&conflicting).await;
    assert_eq!(status, 409, "{body}");
    assert_eq!(body["error"]["index"], 1);
    assert_eq!(s.get_json("/api/events/fresh-1").await.0, 404);
    assert_eq!(s.store.count_events().await.unwrap(), 51);
}

async fn ndjson_batches(s: &TestServer) {
    let body = "{\"event_code\":\"AUTH-001\",\"username\":\"a\"}\n\n{\"event_code\":\"AUTH-003\",\"username\":\"a\"}\n";
    let (status, resp) = s.post_ndjson(body).await;
    assert_eq!(status, 201, "{resp}");
    assert_eq!(resp["accepted"], 2);
    let id = resp["event_ids"][1].as_str().unwrap();
    assert!(id.starts_with("AUTH-003-"), "{id}");
    let (_, stored) = s.get_json(&format!("/api/events/{id}")).await;
    assert_eq!(stored["event_name"], "User Logout");

    // A file with several bad lines: each one is named, by index, in one answer.
    let before = s.store.count_events().await.unwrap();
    let body = "{\"event_code\":\"AUTH-001\"}\nnot json\n{\"event_category\":\"AUTH\"}\n{\"event_code\":\n";
    let (status, resp) = s.post_ndjson(body).await;
    assert_eq!(status, 400, "{resp}");
    assert_eq!(resp["error"]["code"], "invalid_json", "{resp}");
    assert_eq!(resp["error"]["index"], 1, "{resp}");
    let details = resp["error"]["details"].as_array().expect("details");
    let named: Vec<(u64, &str)> = details
        .iter()
        .map(|d| (d["index"].as_u64().unwrap(), d["code"].as_str().unwrap()))
        .collect();
    assert!(named.contains(&(1, "invalid_json")), "{resp}");
    assert!(named.contains(&(3, "invalid_json")), "{resp}");
    assert!(
        named.iter().any(|(i, _)| *i == 2),
        "the invalid event too: {resp}"
    );
    assert!(!named.iter().any(|(i, _)| *i == 0), "{resp}");
    assert_eq!(
        s.store.count_events().await.unwrap(),
        before,
        "nothing of it stored"
    );
}

async fn concurrent_writers_lose_and_duplicate_nothing(s: &TestServer) {
    let tasks: Vec<_> = (0..8)
        .map(|t| {
            let client = s.client.clone();
            let url = format!("{}/api/events/batch", s.url);
            let key = s.admin_key.clone();
            tokio::spawn(async move {
                let mut ids = Vec::new();
                for b in 0..10 {
                    let events: Vec<Value> = (0..40)
                        .map(|i| event(json!({"correlation_id": format!("t{t}-b{b}"), "metadata": {"i": i}})))
                        .collect();
                    let (status, body) =
                        send(client.post(&url).bearer_auth(&key).json(&json!({ "events": events }))).await;
                    assert_eq!(status, 201, "{body}");
                    ids.extend(body["event_ids"].as_array().unwrap().iter().map(|v| v.as_str().unwrap().to_owned()));
                }
                ids
            })
        })
        .collect();
    let mut all = HashSet::new();
    for t in tasks {
        for id in t.await.unwrap() {
            assert!(all.insert(id), "generated ids never collide");
        }
    }
    assert_eq!(all.len(), 8 * 10 * 40);
    assert_eq!(s.store.count_events().await.unwrap(), 3200);
}

async fn tenant_bound_keys_write_and_read_only_their_tenant(s: &TestServer) {
    let acme = s.key("acme-ingest", KeyRole::Ingest, Some("acme")).await;
    let acme_reader = s.key("acme-read", KeyRole::Analyst, Some("acme")).await;
    let (status, body) = send(
        s.post("/api/events", &acme)
            .json(&event(json!({"event_id": "t-1"}))),
    )
    .await;
    assert_eq!(status, 201, "{body}");
    let (status, body) = send(
        s.post("/api/events", &acme)
            .json(&event(json!({"event_id": "t-2", "tenant_id": "globex"}))),
    )
    .await;
    assert_eq!(
        (status, &body["error"]["field"]),
        (403, &json!("tenant_id"))
    );
    s.post_event(&event(json!({"event_id": "g-1", "tenant_id": "globex"})))
        .await;

    let (_, stored) = s.get_json("/api/events/t-1").await;
    assert_eq!(
        stored["tenant_id"], "acme",
        "an event without tenant takes the key's"
    );
    let (_, page) = send(s.get("/api/events/recent", &acme_reader)).await;
    let ids: Vec<&str> = page["events"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["event_id"].as_str().unwrap())
        .collect();
    assert_eq!(ids, ["t-1"]);
    assert_eq!(send(s.get("/api/events/g-1", &acme_reader)).await.0, 404);
    assert_eq!(
        send(s.get("/api/events/recent?tenant_id=globex", &acme_reader))
            .await
            .0,
        403
    );
    let (_, activity) = send(s.get("/api/events/user-activity/15", &acme_reader)).await;
    assert_eq!(activity["total_events"], 1);

    // A repeat is a repeat within its tenant only: the same body from another tenant's key
    // is refused (the id is taken), never silently answered as already stored.
    let globex = s
        .key("globex-ingest", KeyRole::Ingest, Some("globex"))
        .await;
    let body = event(json!({"event_id": "t-1"}));
    assert_eq!(send(s.post("/api/events", &acme).json(&body)).await.0, 200);
    let (status, answer) = send(s.post("/api/events", &globex).json(&body)).await;
    assert_eq!(status, 409, "{answer}");
    // The stored event, which spells out the tenant the key bound, is the same event.
    let (status, answer) = send(s.post("/api/events", &acme).json(&stored)).await;
    assert_eq!(
        (status, &answer["duplicate"]),
        (200, &json!(true)),
        "{answer}"
    );
}

async fn exported_events_sent_back_are_duplicates(s: &TestServer) {
    // Catalog defaults, a generated timestamp and masked secrets: the export spells out
    // what the original left to eventlog.
    let originals = vec![
        json!({"event_id": "rt-1", "event_code": "AUTH-002", "username": "guru01"}),
        json!({"event_id": "rt-2", "event_code": "DATA-001", "user_id": 12,
               "request_data": {"password": "hunter2", "nis": "1"}}),
        json!({"event_id": "rt-3", "event_category": "system", "event_type": "X",
               "http_status": 503, "tags": ["a"]}),
    ];
    assert_eq!(s.post_batch(&originals).await.0, 201);
    let resp = s
        .get("/api/events/export?format=jsonl", &s.admin_key)
        .send()
        .await
        .unwrap();
    let exported = resp.text().await.unwrap();
    assert_eq!(exported.lines().count(), 3, "{exported}");
    let (status, body) = s.post_ndjson(exported.clone()).await;
    assert_eq!(status, 201, "{body}");
    assert_eq!(
        (body["accepted"].as_u64(), body["duplicates"].as_u64()),
        (Some(0), Some(3)),
        "{body}"
    );
    // A changed field under the same id is still a conflict.
    let changed = exported
        .lines()
        .find(|l| l.contains("guru01"))
        .unwrap()
        .replace("guru01", "guru02");
    let (status, body) = s.post_ndjson(changed).await;
    assert_eq!(status, 409, "{body}");
}

async fn secrets_are_masked_before_storage(s: &TestServer) {
    // The seed 000 login body, a token in a query string, headers and a JWT in a message.
    let e = json!({"event_id": "secret-1", "event_category": "AUTH", "event_type": "USER_LOGIN",
        "endpoint": "/api/auth/token?password=admin123",
        "request_data": {"raw_body": "username=admin&password=admin123&grant_type=password",
                         "nested": [{"API_KEY": "k-admin123"}]},
        "metadata": {"headers": {"Authorization": "Bearer admin123admin123", "cookie": "sid=admin123"}},
        "error_message": "token eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxIn0.c2lnbmF0dXJl rejected"});
    assert_eq!(s.post_event(&e).await.0, 201);
    let (_, stored) = s.get_json("/api/events/secret-1").await;
    let text = stored.to_string();
    assert!(!text.contains("admin123"), "{text}");
    assert!(!text.contains("eyJzdWIiOiIxIn0"), "{text}");
    assert_eq!(
        stored["request_data"]["raw_body"],
        "username=admin&password=[REDACTED]&grant_type=password"
    );
    // The same event again is still recognised as a duplicate.
    assert_eq!(s.post_event(&e).await.0, 200);
}

/// An event rich in the fields stored compressed in `payload`.
fn rich(i: usize) -> Value {
    let mut e = event(json!({
        "event_id": format!("rich-{i}"),
        "event_name": format!("Login {}", i % 7),
        "event_description": "User signed in with a password",
        "user_role": "guru",
        "user_agent": format!("Mozilla/5.0 (Windows NT 10.0; Win64; x64) Chrome/{}.0.0.0 Safari/537.36", 100 + i % 40),
        "resource_name": "Kelas 7A",
        "related": {"class_id": i % 30},
        "http_method": "POST",
        "http_status": 200 + (i % 3) as u16,
        "request_data": {"remember_me": i.is_multiple_of(2), "fields": ["username", "password"]},
        "response_data": {"ok": true},
        "processing_time_ms": 12.25 + i as f64 / 8.0,
        "metadata": {"attempt": i % 3, "mfa": "totp", "login_method": "password"},
        "tags": ["auth", format!("shard-{}", i % 4)],
    }));
    if i.is_multiple_of(10) {
        e["error_message"] = json!("slow second factor");
        e["error_code"] = json!("E_SLOW");
    }
    e
}

/// The fields of `sent` as the API gives them back (user_id is stored as a string).
fn assert_stored_as_sent(stored: &Value, sent: &Value) {
    for (field, value) in sent.as_object().unwrap() {
        let expected = match (field.as_str(), value) {
            ("user_id", Value::Number(n)) => json!(n.to_string()),
            _ => value.clone(),
        };
        assert_eq!(stored[field], expected, "{field} of {}", sent["event_id"]);
    }
}

async fn cold_fields_are_stored_compressed_and_read_back_whole(s: &TestServer) {
    // The first 4,000 events a store takes train its payload dictionary (in the background).
    for chunk in (0..4_200).collect::<Vec<_>>().chunks(1_000) {
        let batch: Vec<Value> = chunk.iter().map(|i| rich(*i)).collect();
        assert_eq!(s.post_batch(&batch).await.0, 201);
    }
    let mut waited = 0;
    while s.sql_i64("SELECT count(*) FROM payload_dictionaries").await == 0 {
        waited += 1;
        assert!(waited < 200, "no payload dictionary after 20 s");
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    let batch: Vec<Value> = (5_000..5_200).map(rich).collect();
    assert_eq!(s.post_batch(&batch).await.0, 201);

    for i in [0, 1, 10, 3_999, 4_100, 5_000, 5_010, 5_199] {
        let (status, stored) = s.get_json(&format!("/api/events/rich-{i}")).await;
        assert_eq!(status, 200, "rich-{i}");
        assert_stored_as_sent(&stored, &rich(i));
    }
    // Nothing of the cold fields is left in their old columns, and payloads compressed with
    // the dictionary are a fraction of those compressed before it existed.
    let spilled = s
        .sql_i64("SELECT count(*) FROM events WHERE user_agent IS NOT NULL OR metadata IS NOT NULL")
        .await;
    assert_eq!(spilled, 0);
    let length = if s.pg_database.is_some() {
        "octet_length"
    } else {
        "length"
    };
    let average = |ids: &str| {
        format!(
            "SELECT CAST(avg({length}(payload)) AS BIGINT) FROM events WHERE event_id IN ({ids})"
        )
    };
    let before = s
        .sql_i64(&average("'rich-1', 'rich-2', 'rich-3', 'rich-4'"))
        .await;
    let after = s
        .sql_i64(&average(
            "'rich-5001', 'rich-5002', 'rich-5003', 'rich-5004'",
        ))
        .await;
    assert!(
        after * 2 < before,
        "{after} bytes per payload, {before} without a dictionary"
    );

    // Another process (here a second store handle) reads rows compressed with a dictionary
    // it did not train: it loads it from the table.
    let other = eventlog_store::open(&s.db_url).await.unwrap();
    let page = other
        .recent(&eventlog_store::RecentQuery {
            limit: 300,
            ..Default::default()
        })
        .await
        .unwrap();
    assert_eq!(page.events.len(), 300);
    for e in &page.events {
        let i: usize = e.record.event_id["rich-".len()..].parse().unwrap();
        assert_stored_as_sent(&serde_json::to_value(e).unwrap(), &rich(i));
    }
    // ... and writes with the store's dictionary: a process that starts later does not train
    // another one.
    let validator = eventlog_core::validate::Validator::new(
        eventlog_core::ValidationPolicy::default(),
        eventlog_core::Catalog::built_in(),
    );
    let later: Vec<_> = (6_000..10_200)
        .map(|i| {
            let raw = eventlog_core::parse_event(rich(i).to_string().as_bytes()).unwrap();
            validator.validate(raw, chrono::Utc::now()).unwrap()
        })
        .collect();
    for chunk in later.chunks(1_000) {
        other.write(&[chunk.to_vec()]).await.unwrap();
    }
    tokio::time::sleep(std::time::Duration::from_millis(500)).await;
    assert_eq!(
        s.sql_i64("SELECT count(*) FROM payload_dictionaries").await,
        1
    );
    let (_, stored) = s.get_json("/api/events/rich-10199").await;
    assert_stored_as_sent(&stored, &rich(10_199));

    // A row stored before the payload column existed keeps its fields in their own columns.
    s.insert_legacy_row("legacy-1", "rich-0").await;
    let (status, legacy) = s.get_json("/api/events/legacy-1").await;
    assert_eq!(status, 200, "{legacy}");
    assert_eq!(
        (
            &legacy["event_name"],
            &legacy["action"],
            &legacy["user_agent"]
        ),
        (&json!("Old login"), &json!("LOGIN"), &json!("curl/8.0"))
    );
    assert_eq!(
        (
            &legacy["metadata"],
            &legacy["tags"],
            &legacy["http_status"],
            &legacy["processing_time_ms"]
        ),
        (&json!({"k": 1}), &json!(["old"]), &json!(404), &json!(2.5))
    );
}

crate::store_tests!(
    cold_fields_are_stored_compressed_and_read_back_whole,
    back_filled_and_future_month_events_find_their_partition,
    secrets_are_masked_before_storage,
    seed_samples_are_accepted_as_written,
    same_id_same_content_is_a_duplicate_different_content_conflicts,
    events_without_an_id_are_new_each_time,
    a_batch_is_all_or_nothing_and_lists_every_invalid_item,
    batches_report_accepted_and_duplicates,
    ndjson_batches,
    concurrent_writers_lose_and_duplicate_nothing,
    tenant_bound_keys_write_and_read_only_their_tenant,
    exported_events_sent_back_are_duplicates,
);

/// A SQLite file has more than one writer: the ingest connection and those of everything
/// else (keys, alerts, a second `eventlog` process). A batch that arrives while another
/// connection holds the write lock waits for it and is then stored: no 500, no 503.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_batch_waits_while_another_connection_writes_the_sqlite_file() {
    use sqlx::Connection;
    use std::sync::atomic::{AtomicBool, Ordering};

    let s = TestServer::sqlite().await;
    let mut other = sqlx::SqliteConnection::connect(&s.db_url).await.unwrap();
    sqlx::query("BEGIN IMMEDIATE")
        .execute(&mut other)
        .await
        .unwrap();
    let answered = AtomicBool::new(false);
    let events: Vec<Value> = (0..50)
        .map(|i| event(json!({"metadata": {"i": i}})))
        .collect();
    let post = async {
        let answer = s.post_batch(&events).await;
        answered.store(true, Ordering::SeqCst);
        answer
    };
    let hold = async {
        tokio::time::sleep(std::time::Duration::from_millis(700)).await;
        let waited = !answered.load(Ordering::SeqCst);
        sqlx::query("COMMIT").execute(&mut other).await.unwrap();
        waited
    };
    let ((status, body), waited) = tokio::join!(post, hold);
    assert!(
        waited,
        "the batch was answered while another connection held the lock"
    );
    assert_eq!(status, 201, "{body}");
    assert_eq!(body["accepted"], 50);
    assert_eq!(s.store.count_events().await.unwrap(), 50);
}

/// The store's other writes take turns with back-to-back group commits: keys created while
/// batches stream in without pause are created in well under SQLite's 10 s lock timeout.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn keys_are_created_while_batches_stream_in_sqlite() {
    use std::sync::atomic::{AtomicBool, Ordering};
    use std::sync::Arc;
    use std::time::{Duration, Instant};

    let s = TestServer::sqlite().await;
    let streaming = Arc::new(AtomicBool::new(true));
    let senders: Vec<_> = (0..4)
        .map(|t| {
            let client = s.client.clone();
            let url = format!("{}/api/events/batch", s.url);
            let key = s.admin_key.clone();
            let streaming = Arc::clone(&streaming);
            tokio::spawn(async move {
                let mut b = 0;
                while streaming.load(Ordering::SeqCst) {
                    let events: Vec<Value> = (0..300)
                        .map(|i| event(json!({"correlation_id": format!("t{t}-b{b}"), "metadata": {"i": i}})))
                        .collect();
                    let (status, body) =
                        send(client.post(&url).bearer_auth(&key).json(&json!({ "events": events }))).await;
                    assert_eq!(status, 201, "{body}");
                    b += 1;
                }
                b
            })
        })
        .collect();
    tokio::time::sleep(Duration::from_millis(300)).await;
    for k in 0..5 {
        let started = Instant::now();
        let secret = eventlog_store::keys::generate_secret();
        s.store
            .create_key(&eventlog_store::keys::new_key(
                &format!("during-ingest-{k}"),
                KeyRole::Ingest,
                None,
                &secret,
            ))
            .await
            .unwrap();
        let took = started.elapsed();
        assert!(took < Duration::from_secs(3), "key {k} took {took:?}");
    }
    streaming.store(false, Ordering::SeqCst);
    let mut batches = 0;
    for sender in senders {
        batches += sender.await.unwrap();
    }
    assert!(
        batches > 4,
        "the batches kept coming while the keys were created"
    );
    assert_eq!(s.store.count_events().await.unwrap(), batches * 300);
}

/// With its database unreachable the server answers 503 + Retry-After (never 500), health
/// says so, and it recovers by itself when the database is back.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn store_outage_is_a_503_and_recovers_postgres() {
    let Some(s) = TestServer::postgres().await else {
        return;
    };
    let db = s.pg_database.clone().unwrap();
    assert_eq!(
        s.post_event(&event(json!({}))).await.0,
        201,
        "warms the key cache"
    );
    let admin = sqlx::PgPool::connect(&crate::helpers::postgres_admin_url())
        .await
        .unwrap();
    sqlx::query(&format!("ALTER DATABASE {db} ALLOW_CONNECTIONS false"))
        .execute(&admin)
        .await
        .unwrap();
    sqlx::query("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = $1 AND pid <> pg_backend_pid()")
        .bind(&db)
        .execute(&admin)
        .await
        .unwrap();

    // The key is still cached, so the request reaches the writer, which cannot commit.
    let resp = s
        .post("/api/events", &s.admin_key)
        .json(&event(json!({})))
        .send()
        .await
        .unwrap();
    let status = resp.status().as_u16();
    let retry_after = resp.headers().get("retry-after").cloned();
    let body: Value = resp.json().await.unwrap();
    assert_eq!(status, 503, "{body}");
    assert!(retry_after.is_some(), "503 carries Retry-After");
    let (status, health) = send(s.client.get(format!("{}/api/events/health", s.url))).await;
    assert_eq!(status, 503, "{health}");
    assert_eq!(health["store_reachable"], false);

    sqlx::query(&format!("ALTER DATABASE {db} ALLOW_CONNECTIONS true"))
        .execute(&admin)
        .await
        .unwrap();
    let (status, body) = s
        .post_event(&event(json!({"event_id": "after-outage"})))
        .await;
    assert_eq!(status, 201, "recovers without a restart: {body}");
    s.cleanup().await;
}

/// A full queue refuses with 503 + Retry-After at once instead of buffering without bound;
/// everything acknowledged is stored and nothing refused is.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_full_queue_answers_503_and_loses_nothing() {
    let config = eventlog_server::ServerConfig {
        ingest: eventlog_server::config::IngestConfig {
            queue_capacity_events: 200,
            max_batch_events: 200,
            ..Default::default()
        },
        ..Default::default()
    };
    let s = TestServer::sqlite_with(config).await;
    let tasks: Vec<_> = (0..32)
        .map(|t| {
            let req = s.post("/api/events/batch", &s.admin_key).json(&json!({
                "events": (0..200).map(|i| event(json!({"correlation_id": format!("q{t}"), "metadata": {"i": i}}))).collect::<Vec<_>>()
            }));
            tokio::spawn(async move {
                let resp = req.send().await.unwrap();
                (resp.status().as_u16(), resp.headers().get("retry-after").is_some())
            })
        })
        .collect();
    let mut accepted = 0;
    let mut refused = 0;
    for t in tasks {
        match t.await.unwrap() {
            (201, _) => accepted += 1,
            (503, true) => refused += 1,
            other => panic!("unexpected answer {other:?}"),
        }
    }
    assert!(accepted >= 1, "some batches get through");
    assert!(
        refused >= 1,
        "32 concurrent batches of 200 cannot all fit a 200-event queue"
    );
    assert_eq!(s.store.count_events().await.unwrap(), accepted * 200);
}

async fn back_filled_and_future_month_events_find_their_partition(s: &TestServer) {
    // Months far from now have no partition yet on PostgreSQL: it is created on demand.
    let events = vec![
        event(json!({"event_id": "old-1", "timestamp": "2019-03-15T08:00:00Z"})),
        event(json!({"event_id": "old-2", "timestamp": "2023-12-31T23:59:59.999999Z"})),
        event(json!({"event_id": "now-1"})),
    ];
    let (status, body) = s.post_batch(&events).await;
    assert_eq!(status, 201, "{body}");
    let (_, old) = s.get_json("/api/events/old-1").await;
    assert_eq!(old["timestamp"], "2019-03-15T08:00:00Z");
    let (_, page) = s
        .get_json("/api/events/recent?until=2024-01-01T00:00:00Z")
        .await;
    let ids: Vec<&str> = page["events"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["event_id"].as_str().unwrap())
        .collect();
    assert_eq!(ids, ["old-2", "old-1"]);
}
