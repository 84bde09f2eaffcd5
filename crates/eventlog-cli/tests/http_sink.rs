//! The library's `HttpSink` against the real `eventlog serve`: what the server answers
//! decides what the logger does with a batch.

use std::time::Duration;

use eventlog_client::{DeadLetters, Event, EventLogger, HttpSink, LoggerConfig};
use serde_json::{json, Value};

mod common;
use common::serve;

/// A server that takes bodies of at most 64 KiB answers 413 to a batch larger than that:
/// the logger sends it again in halves until each part fits, and dead-letters an event too
/// large on its own. Before, the batch was retried whole forever and every later event
/// queued behind it.
#[tokio::test(flavor = "multi_thread")]
async fn batches_too_large_for_the_server_are_split_and_nothing_else_waits() {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("eventlog.toml");
    std::fs::write(&config, "[ingest]\nmax_body_bytes = 65536\n").unwrap();
    let (_server, url, key) = serve(dir.path(), &["--config", config.to_str().unwrap()]).await;

    let spool = tempfile::tempdir().unwrap();
    let mut logger_config = LoggerConfig::new(spool.path()).source("big-bodies");
    logger_config.batch_size = 100;
    logger_config.flush_interval = Duration::from_millis(100);
    let logger = EventLogger::start(logger_config, HttpSink::new(&url, &key).unwrap()).unwrap();
    // 60 events of about 3 KB: a 180 KB batch, in 64 KiB parts.
    for n in 0..60 {
        let mut event = Event::custom("DATA", "REPORT_GENERATED");
        event.event_id = Some(format!("DATA-REPORT-{n:04}"));
        event.metadata = Some(json!({"summary": "x".repeat(3_000)}));
        logger.log(event);
    }
    // 100 KB alone: more than the server takes in one request.
    let mut huge = Event::custom("DATA", "REPORT_GENERATED");
    huge.event_id = Some("DATA-REPORT-HUGE".into());
    huge.metadata = Some(json!({"summary": "y".repeat(100_000)}));
    logger.log(huge);
    logger.shutdown().await;

    let stats = logger.stats();
    assert_eq!(
        (stats.delivered, stats.dead_lettered, stats.spooled),
        (60, 1, 0),
        "{stats:?}"
    );
    let (letters, _) = DeadLetters::in_dir(spool.path()).list().unwrap();
    assert_eq!(letters.len(), 1);
    assert_eq!(
        letters[0].event.event_id.as_deref(),
        Some("DATA-REPORT-HUGE")
    );
    assert!(letters[0].reason.contains("413"), "{}", letters[0].reason);

    let page: Value = reqwest::Client::new()
        .get(format!(
            "{url}/api/events/recent?event_type=REPORT_GENERATED&limit=1000"
        ))
        .bearer_auth(&key)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(page["events"].as_array().unwrap().len(), 60, "{page}");
}
