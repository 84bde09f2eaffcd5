//! Tamper evidence end to end: events are chained as they are committed, checkpoints are
//! signed, and rows changed directly in the database (as an attacker with database access
//! would) are named by `GET /api/integrity/verify`. Against SQLite and PostgreSQL.

use eventlog_server::integrity::{load_or_create_signing_key, Integrity};
use eventlog_server::{IntegrityConfig, ServerConfig};
use eventlog_store::{KeyRole, PrunedLeaf};
use serde_json::{json, Value};

use crate::helpers::{event, send, TestServer};

/// Checkpoints only when a test asks (through its own [`Integrity`] with the server's key).
fn manual_checkpoints() -> ServerConfig {
    ServerConfig {
        integrity: IntegrityConfig {
            checkpoint_every_events: 1_000_000_000,
            checkpoint_every_secs: 3_600,
            ..Default::default()
        },
        ..Default::default()
    }
}

macro_rules! integrity_tests {
    ($($name:ident),* $(,)?) => {
        mod sqlite {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    let s = crate::helpers::TestServer::sqlite_with(super::manual_checkpoints()).await;
                    super::$name(&s).await;
                }
            )*
        }
        mod postgres {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    let Some(s) = crate::helpers::TestServer::postgres_with(super::manual_checkpoints()).await else { return };
                    super::$name(&s).await;
                    s.cleanup().await;
                }
            )*
        }
    };
}

integrity_tests!(
    an_untouched_chain_verifies_for_an_auditor,
    a_modified_event_is_named,
    a_deleted_event_is_named,
    an_inserted_row_is_named,
    a_reordered_event_is_named,
    a_deleted_checkpoint_is_detected,
    deleting_the_newest_events_is_detected,
    retention_pruning_is_accounted_and_forged_pruning_is_not,
);

fn signer(s: &TestServer) -> Integrity {
    Integrity::new(
        s.store.clone(),
        load_or_create_signing_key(&s.key_file).unwrap(),
    )
}

/// Stores T-1..=T-n in n requests (so each is its own commit, in order).
async fn events(s: &TestServer, from: u32, to: u32) {
    for i in from..=to {
        let (status, body) = s
            .post_event(&event(
                json!({"event_id": format!("T-{i}"), "username": format!("user{i}"),
                    "metadata": {"n": i}}),
            ))
            .await;
        assert_eq!(status, 201, "{body}");
    }
}

async fn verify(s: &TestServer) -> Value {
    let (status, body) = s.get_json("/api/integrity/verify").await;
    assert_eq!(status, 200, "{body}");
    body
}

fn assert_tamper(report: &Value, kind: &str, event_id: Option<&str>) {
    assert_eq!(report["ok"], json!(false), "{report}");
    assert_eq!(report["tamper"]["kind"], json!(kind), "{report}");
    if let Some(id) = event_id {
        let named = [
            &report["tamper"]["event_id"],
            &report["tamper"]["before_event_id"],
        ];
        assert!(named.contains(&&json!(id)), "expected {id} named: {report}");
    }
}

async fn an_untouched_chain_verifies_for_an_auditor(s: &TestServer) {
    events(s, 1, 4).await;
    signer(s)
        .checkpoint()
        .await
        .unwrap()
        .expect("a new checkpoint");
    events(s, 5, 6).await;
    let auditor = s.key("auditor", KeyRole::Auditor, None).await;
    let (status, report) = send(s.get("/api/integrity/verify", &auditor)).await;
    assert_eq!(status, 200, "{report}");
    assert_eq!(report["ok"], json!(true), "{report}");
    assert_eq!(report["events_checked"], json!(6));
    assert_eq!(report["checkpoints_checked"], json!(1));
    assert_eq!(report["unsigned_events"], json!(2));
    // --since starts at the last checkpoint signed before it.
    let since = chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Micros, true);
    let (_, report) = s
        .get_json(&format!(
            "/api/integrity/verify?since={}",
            since.replace('+', "%2B")
        ))
        .await;
    assert_eq!(report["ok"], json!(true), "{report}");
    assert_eq!(report["from_pos"], json!(4));
    assert_eq!(report["events_checked"], json!(2));
    let analyst = s.key("analyst", KeyRole::Analyst, None).await;
    assert_eq!(send(s.get("/api/integrity/verify", &analyst)).await.0, 403);
}

async fn a_modified_event_is_named(s: &TestServer) {
    events(s, 1, 5).await;
    signer(s).checkpoint().await.unwrap();
    s.sql("UPDATE events SET username = 'mallory' WHERE event_id = 'T-3'")
        .await;
    assert_tamper(&verify(s).await, "modified", Some("T-3"));
    s.sql("UPDATE events SET username = 'user3' WHERE event_id = 'T-3'")
        .await;
    assert_eq!(verify(s).await["ok"], json!(true));
    // Changing the commit time breaks the link even though the content is intact.
    let shift = if s.pg_database.is_some() {
        "UPDATE events SET created_at = created_at + interval '1 second' WHERE event_id = 'T-2'"
    } else {
        "UPDATE events SET created_at = created_at + 1 WHERE event_id = 'T-2'"
    };
    s.sql(shift).await;
    assert_tamper(&verify(s).await, "modified", Some("T-2"));
    // The cold fields (metadata, user agent, ...) are stored compressed in `payload`: another
    // event's payload is a modification too.
    s.sql(
        "UPDATE events SET payload = (SELECT payload FROM events WHERE event_id = 'T-5') \
         WHERE event_id = 'T-1'",
    )
    .await;
    assert_tamper(&verify(s).await, "modified", Some("T-1"));
    // A payload that cannot be read at all is named too, not a failed verification.
    let garbage = if s.pg_database.is_some() {
        "decode('28b52ffd00', 'hex')"
    } else {
        "X'28b52ffd00'"
    };
    s.sql(&format!(
        "UPDATE events SET payload = {garbage} WHERE event_id = 'T-1'"
    ))
    .await;
    let report = verify(s).await;
    assert_tamper(&report, "modified", Some("T-1"));
    assert!(
        report["tamper"]["detail"]
            .as_str()
            .unwrap()
            .contains("cannot be read"),
        "{report}"
    );
}

async fn a_deleted_event_is_named(s: &TestServer) {
    events(s, 1, 5).await;
    signer(s).checkpoint().await.unwrap();
    s.sql("DELETE FROM events WHERE event_id = 'T-2'").await;
    let report = verify(s).await;
    assert_tamper(&report, "deleted", Some("T-3"));
    assert_eq!(report["tamper"]["from_pos"], json!(2), "{report}");
}

async fn an_inserted_row_is_named(s: &TestServer) {
    events(s, 1, 3).await;
    let copy = |id: &str, chain: &str| {
        format!(
            "INSERT INTO events (event_id, event_category, event_type, event_name, action, status, \
             timestamp, severity, importance, content_hash, created_at, processed_at, payload{chain}) \
             SELECT '{id}', event_category, event_type, event_name, action, status, timestamp, \
             severity, importance, content_hash, created_at, processed_at, payload{chain} \
             FROM events WHERE event_id = 'T-1'"
        )
    };
    let quote_ts = |sql: String| {
        if s.pg_database.is_some() {
            sql.replace("timestamp,", "\"timestamp\",")
        } else {
            sql
        }
    };
    s.sql(&quote_ts(copy("EVIL-1", ""))).await;
    assert_tamper(&verify(s).await, "inserted", Some("EVIL-1"));
    s.sql("DELETE FROM events WHERE event_id = 'EVIL-1'").await;
    // A copy that claims a position already held.
    s.sql(&quote_ts(copy(
        "EVIL-2",
        ", record_hash, chain_pos, chain_hash",
    )))
    .await;
    assert_tamper(&verify(s).await, "inserted", Some("EVIL-2"));
}

async fn a_reordered_event_is_named(s: &TestServer) {
    events(s, 1, 4).await;
    s.sql("UPDATE events SET seq = seq + 1000 WHERE event_id = 'T-2'")
        .await;
    assert_tamper(&verify(s).await, "reordered", Some("T-3"));
}

async fn a_deleted_checkpoint_is_detected(s: &TestServer) {
    let signer = signer(s);
    events(s, 1, 2).await;
    signer.checkpoint().await.unwrap();
    events(s, 3, 4).await;
    signer.checkpoint().await.unwrap();
    events(s, 5, 6).await;
    signer.checkpoint().await.unwrap();
    assert_eq!(verify(s).await["checkpoints_checked"], json!(3));
    s.sql("DELETE FROM chain_checkpoints WHERE chain_pos = 4")
        .await;
    let report = verify(s).await;
    assert_tamper(&report, "checkpoint", None);
    assert_eq!(report["tamper"]["pos"], json!(6), "{report}");
}

async fn deleting_the_newest_events_is_detected(s: &TestServer) {
    events(s, 1, 4).await;
    signer(s).checkpoint().await.unwrap();
    s.sql("DELETE FROM events WHERE event_id IN ('T-3', 'T-4')")
        .await;
    let report = verify(s).await;
    assert_tamper(&report, "deleted", None);
    assert_eq!(
        (&report["tamper"]["from_pos"], &report["tamper"]["to_pos"]),
        (&json!(3), &json!(4)),
        "{report}"
    );
}

async fn retention_pruning_is_accounted_and_forged_pruning_is_not(s: &TestServer) {
    let signer = signer(s);
    events(s, 1, 5).await;
    signer.checkpoint().await.unwrap();
    events(s, 6, 7).await;
    // Retention: checkpoint first, read what it will delete, delete, account for it.
    signer.checkpoint().await.unwrap();
    let rows = s.store.chain_rows((0, 0), 100).await.unwrap();
    let doomed: Vec<PrunedLeaf> = rows
        .iter()
        .filter(|r| ["T-2", "T-3", "T-6"].contains(&r.event_id.as_str()))
        .map(|r| PrunedLeaf {
            pos: r.pos,
            record_hash: r.record_hash.unwrap(),
        })
        .collect();
    s.sql("DELETE FROM events WHERE event_id IN ('T-2', 'T-3', 'T-6')")
        .await;
    let segments = signer
        .account_pruned(&doomed, "INFO", chrono::Utc::now())
        .await
        .unwrap();
    assert_eq!(segments, 2);
    let report = verify(s).await;
    assert_eq!(report["ok"], json!(true), "{report}");
    assert_eq!(report["pruned_accounted"], json!(3));
    assert_eq!(report["events_checked"], json!(4));
    // Deleting one more, unaccounted, is caught; so is a pruning record an attacker wrote.
    s.sql("DELETE FROM events WHERE event_id = 'T-4'").await;
    assert_tamper(&verify(s).await, "deleted", None);
    s.sql(
        "INSERT INTO chain_prunings (from_pos, to_pos, pruned, leaf_sum, severity, cutoff, created_at, public_key, signature) \
         SELECT from_pos, to_pos, 1, leaf_sum, severity, cutoff, created_at, public_key, signature FROM chain_prunings WHERE to_pos = 5",
    )
    .await;
    assert_tamper(&verify(s).await, "checkpoint", None);
}
