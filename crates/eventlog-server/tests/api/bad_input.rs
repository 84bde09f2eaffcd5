//! Hostile and broken input: every answer is the specified 4xx with a JSON error body,
//! nothing is half-stored, and the server keeps serving.

use eventlog_server::config::IngestConfig;
use eventlog_server::ServerConfig;
use proptest::prelude::*;
use serde_json::{json, Value};

use crate::helpers::{event, send, TestServer};

fn small_limits() -> ServerConfig {
    ServerConfig {
        ingest: IngestConfig {
            max_body_bytes: 64 * 1024,
            max_event_bytes: 8 * 1024,
            max_batch_events: 20,
            ..Default::default()
        },
        ..Default::default()
    }
}

/// (description, path, content type, body, expected status, expected field)
type Case = (
    &'static str,
    &'static str,
    &'static str,
    Vec<u8>,
    u16,
    Option<&'static str>,
);

fn corpus() -> Vec<Case> {
    let big_string = "x".repeat(300);
    let deep = format!("{}1{}", "[".repeat(40), "]".repeat(40));
    let very_deep = format!("{}1{}", "[".repeat(200), "]".repeat(200));
    let many: Vec<Value> = (0..21).map(|_| event(json!({}))).collect();
    vec![
        (
            "malformed JSON",
            "/api/events",
            "application/json",
            b"{\"event_type\": ".to_vec(),
            400,
            None,
        ),
        (
            "not an object",
            "/api/events",
            "application/json",
            b"[1,2]".to_vec(),
            422,
            None,
        ),
        (
            "empty body",
            "/api/events",
            "application/json",
            Vec::new(),
            400,
            None,
        ),
        (
            "invalid UTF-8",
            "/api/events",
            "application/json",
            b"{\"event_type\": \"\xff\xfe\"}".to_vec(),
            400,
            None,
        ),
        (
            "wrong content type",
            "/api/events",
            "text/plain",
            b"{}".to_vec(),
            415,
            None,
        ),
        (
            "form body",
            "/api/events",
            "application/x-www-form-urlencoded",
            b"username=admin&password=admin123".to_vec(),
            415,
            None,
        ),
        (
            "unknown field",
            "/api/events",
            "application/json",
            br#"{"event_category":"AUTH","event_type":"X","usrname":"a"}"#.to_vec(),
            422,
            Some("usrname"),
        ),
        (
            "wrong type",
            "/api/events",
            "application/json",
            br#"{"event_category":"AUTH","event_type":"X","http_status":"ok"}"#.to_vec(),
            422,
            Some("http_status"),
        ),
        (
            "array user_id",
            "/api/events",
            "application/json",
            br#"{"event_category":"AUTH","event_type":"X","user_id":[1]}"#.to_vec(),
            422,
            Some("user_id"),
        ),
        (
            "missing category",
            "/api/events",
            "application/json",
            br#"{"event_type":"X"}"#.to_vec(),
            422,
            Some("event_category"),
        ),
        (
            "bad ip",
            "/api/events",
            "application/json",
            br#"{"event_category":"AUTH","event_type":"X","ip_address":"999.999.999.999"}"#
                .to_vec(),
            422,
            Some("ip_address"),
        ),
        (
            "bad timestamp",
            "/api/events",
            "application/json",
            br#"{"event_category":"AUTH","event_type":"X","timestamp":"19/06/2025"}"#.to_vec(),
            422,
            Some("timestamp"),
        ),
        (
            "future timestamp",
            "/api/events",
            "application/json",
            br#"{"event_category":"AUTH","event_type":"X","timestamp":"2999-01-01T00:00:00Z"}"#
                .to_vec(),
            422,
            Some("timestamp"),
        ),
        (
            "huge string",
            "/api/events",
            "application/json",
            format!(r#"{{"event_category":"AUTH","event_type":"X","username":"{big_string}"}}"#)
                .into_bytes(),
            422,
            Some("username"),
        ),
        (
            "deep nesting",
            "/api/events",
            "application/json",
            format!(r#"{{"event_category":"AUTH","event_type":"X","metadata":{{"a":{deep}}}}}"#)
                .into_bytes(),
            422,
            Some("metadata"),
        ),
        (
            "nesting beyond the parser",
            "/api/events",
            "application/json",
            format!(r#"{{"event_category":"AUTH","event_type":"X","request_data":{very_deep}}}"#)
                .into_bytes(),
            400,
            None,
        ),
        (
            "event over size",
            "/api/events",
            "application/json",
            format!(
                r#"{{"event_category":"AUTH","event_type":"X","metadata":{{"a":"{}"}}}}"#,
                "y".repeat(9000)
            )
            .into_bytes(),
            413,
            None,
        ),
        (
            "body over limit",
            "/api/events/batch",
            "application/json",
            format!(
                r#"{{"events":[{{"metadata":{{"a":"{}"}}}}]}}"#,
                "y".repeat(70_000)
            )
            .into_bytes(),
            413,
            None,
        ),
        (
            "batch too long",
            "/api/events/batch",
            "application/json",
            json!({"events": many}).to_string().into_bytes(),
            413,
            Some("events"),
        ),
        (
            "batch not an object",
            "/api/events/batch",
            "application/json",
            br#"[{"event_type":"X"}]"#.to_vec(),
            400,
            Some("events"),
        ),
        (
            "eventlog's own source claimed by a client",
            "/api/events",
            "application/json",
            br#"{"event_code":"DATA-001","source":"eventlog-detect","endpoint":"/x?id=1' UNION SELECT password FROM users--"}"#.to_vec(),
            422,
            Some("source"),
        ),
        (
            "the alerts' source claimed by a client",
            "/api/events",
            "application/json",
            br#"{"event_code":"SEC-003","source":"eventlog-alerts"}"#.to_vec(),
            422,
            Some("source"),
        ),
        (
            "eventlog's audit source claimed in a batch",
            "/api/events/batch",
            "application/json",
            br#"{"events":[{"event_code":"AUTH-001"},{"event_code":"ADMIN-001","source":"EventLog"}]}"#.to_vec(),
            422,
            Some("source"),
        ),
        (
            "a field sent twice",
            "/api/events",
            "application/json",
            br#"{"event_code":"AUTH-001","username":"a","username":"b"}"#.to_vec(),
            422,
            Some("username"),
        ),
        (
            "batch with a misspelt events",
            "/api/events/batch",
            "application/json",
            br#"{"evnts":[]}"#.to_vec(),
            400,
            Some("evnts"),
        ),
        (
            "batch with a field beside events",
            "/api/events/batch",
            "application/json",
            br#"{"events":[{"event_code":"AUTH-001"}],"source":"x"}"#.to_vec(),
            400,
            Some("source"),
        ),
        (
            "batch without events",
            "/api/events/batch",
            "application/json",
            br#"{}"#.to_vec(),
            400,
            Some("events"),
        ),
        (
            "empty batch",
            "/api/events/batch",
            "application/json",
            br#"{"events":[]}"#.to_vec(),
            422,
            Some("events"),
        ),
        (
            "batch item invalid",
            "/api/events/batch",
            "application/json",
            br#"{"events":[{"event_category":"AUTH","event_type":"X"},{"event_category":"AUTH"}]}"#
                .to_vec(),
            422,
            Some("event_type"),
        ),
        (
            "ndjson garbage line",
            "/api/events/batch",
            "application/x-ndjson",
            b"{\"event_category\":\"AUTH\",\"event_type\":\"X\"}\nnot json\n".to_vec(),
            400,
            None,
        ),
        (
            "batch wrong content type",
            "/api/events/batch",
            "text/csv",
            b"a,b".to_vec(),
            415,
            None,
        ),
    ]
}

async fn the_bad_input_corpus_gets_precise_4xx_and_stores_nothing(s: &TestServer) {
    for (what, path, content_type, body, status, field) in corpus() {
        let (got, resp) = send(
            s.post(path, &s.admin_key)
                .header("content-type", content_type)
                .body(body),
        )
        .await;
        assert_eq!(got, status, "{what}: {resp}");
        assert!(
            resp["error"]["code"].is_string(),
            "{what}: error body {resp}"
        );
        assert!(
            resp["error"]["message"].is_string(),
            "{what}: error body {resp}"
        );
        if let Some(field) = field {
            assert_eq!(resp["error"]["field"], field, "{what}: {resp}");
        }
    }
    // "batch item invalid" names the index too.
    let (_, resp) = send(
        s.post("/api/events/batch", &s.admin_key)
            .header("content-type", "application/json")
            .body(r#"{"events":[{"event_category":"AUTH","event_type":"X"},{"event_category":"AUTH"}]}"#),
    )
    .await;
    assert_eq!(resp["error"]["index"], 1);
    // Every unknown field and wrong type is named at once, alone and in a batch.
    let several = json!({"event_category": "AUTH", "event_type": "X", "foo": 1, "usernmae": "x",
        "http_status": "ok"});
    let named = |resp: &Value| {
        let mut fields: Vec<String> = resp["error"]["details"]
            .as_array()
            .unwrap_or_else(|| panic!("{resp}"))
            .iter()
            .map(|d| format!("{}@{}", d["field"].as_str().unwrap(), d["index"]))
            .collect();
        fields.sort();
        fields
    };
    let (got, resp) = s.post_event(&several).await;
    assert_eq!(got, 422, "{resp}");
    assert_eq!(
        named(&resp),
        ["foo@null", "http_status@null", "usernmae@null"]
    );
    let (got, resp) = s.post_batch(&[event(json!({})), several]).await;
    assert_eq!(got, 422, "{resp}");
    assert_eq!(named(&resp), ["foo@1", "http_status@1", "usernmae@1"]);
    assert_eq!(
        s.store.count_events().await.unwrap(),
        0,
        "nothing of a refused request is stored"
    );
    // Path parameters that are not UTF-8 once percent-decoded: a JSON 400 naming them.
    for (path, field) in [
        ("/api/events/%FF%FE", "event_id"),
        ("/api/events/user-activity/%C0%AF", "user_id"),
    ] {
        let (got, resp) = s.get_json(path).await;
        assert_eq!(got, 400, "{path}: {resp}");
        assert_eq!(resp["error"]["field"], field, "{path}: {resp}");
    }
    // An unencoded `+` in a time arrives as a space: the error says how to send it.
    let (got, resp) = s
        .get_json("/api/events/recent?since=2025-06-19T00:00:00+01:00")
        .await;
    assert_eq!(
        (got, &resp["error"]["field"]),
        (400, &json!("since")),
        "{resp}"
    );
    assert!(
        resp["error"]["message"].as_str().unwrap().contains("%2B"),
        "{resp}"
    );
    // A secret hidden behind percent-escapes is masked, and the decoding brings back no
    // control character (a NUL would make PostgreSQL's COPY fail: a 500).
    let (got, resp) = s
        .post_event(&event(
            json!({"event_id": "encoded-1", "endpoint": "/x?next=%00%26password%3Dx"}),
        ))
        .await;
    assert_eq!(got, 201, "{resp}");
    let (_, stored) = s.get_json("/api/events/encoded-1").await;
    assert_eq!(stored["endpoint"], "/x?next=%00&password=[REDACTED]");
    // An id of dots only could not be read back (URL paths resolve `.` and `..`).
    let (got, resp) = s.post_event(&event(json!({"event_id": ".."}))).await;
    assert_eq!(
        (got, &resp["error"]["field"]),
        (422, &json!("event_id")),
        "{resp}"
    );
    assert_eq!(
        s.post_event(&event(json!({}))).await.0,
        201,
        "still serving"
    );
}

fn gzip(bytes: &[u8]) -> Vec<u8> {
    use std::io::Write;
    let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    enc.write_all(bytes).unwrap();
    enc.finish().unwrap()
}

/// Log shippers compress their batches: gzip, deflate and zstd bodies are inflated, the
/// body limit counts the inflated bytes (a "zip bomb" meets a 413), and a broken stream or
/// an unknown encoding is a 4xx with a JSON body; nothing of a refused body is stored.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn compressed_bodies_are_inflated_within_the_body_limit() {
    let s = crate::helpers::TestServer::sqlite_with(small_limits()).await;
    let batch = |n: usize| {
        let events: Vec<Value> = (0..n)
            .map(|i| event(json!({"event_id": format!("gz-{n}-{i}")})))
            .collect();
        json!({ "events": events }).to_string().into_bytes()
    };
    let post = |encoding: &'static str, body: Vec<u8>| {
        send(
            s.post("/api/events/batch", &s.admin_key)
                .header("content-type", "application/json")
                .header("content-encoding", encoding)
                .body(body),
        )
    };

    let (status, resp) = post("gzip", gzip(&batch(3))).await;
    assert_eq!(status, 201, "{resp}");
    assert_eq!(resp["accepted"], 3, "{resp}");
    let (status, resp) = post("zstd", zstd::encode_all(&batch(2)[..], 3).unwrap()).await;
    assert_eq!(status, 201, "{resp}");
    assert_eq!(resp["accepted"], 2, "{resp}");
    assert_eq!(s.store.count_events().await.unwrap(), 5);

    // 2 MB of spaces inside a valid batch: a few KB on the wire, 32x the 64 KB limit inflated.
    let mut bomb = batch(1);
    bomb.splice(1..1, std::iter::repeat_n(b' ', 2 << 20));
    let wire = gzip(&bomb);
    assert!(wire.len() < 64 * 1024, "the bomb is small on the wire");
    let (status, resp) = post("gzip", wire).await;
    assert_eq!(status, 413, "{resp}");
    assert_eq!(resp["error"]["code"], "too_large", "{resp}");

    let mut broken = gzip(&batch(4));
    broken.truncate(broken.len() / 2);
    let (status, resp) = post("gzip", broken).await;
    assert_eq!(status, 400, "{resp}");
    assert!(resp["error"]["message"].is_string(), "{resp}");
    // Anything after the gzip stream that is not another member is refused, not ignored.
    let mut trailing = gzip(&batch(4));
    trailing.extend_from_slice(b"garbage");
    assert_eq!(post("gzip", trailing).await.0, 400);

    // Concatenated gzip members are one body (RFC 1952), codings are case-insensitive,
    // and codings applied twice are undone twice.
    let ndjson = |id: &str| format!("{}\n", event(json!({ "event_id": id })));
    let mut members = gzip(ndjson("member-1").as_bytes());
    members.extend(gzip(ndjson("member-2").as_bytes()));
    let (status, resp) = send(
        s.post("/api/events/batch", &s.admin_key)
            .header("content-type", "application/x-ndjson")
            .header("content-encoding", "GZIP")
            .body(members),
    )
    .await;
    assert_eq!(status, 201, "{resp}");
    assert_eq!(resp["accepted"], 2, "every member is read: {resp}");
    let (status, resp) = post(
        "gzip, zstd",
        zstd::encode_all(&gzip(&batch(6))[..], 3).unwrap(),
    )
    .await;
    assert_eq!(status, 201, "{resp}");
    assert_eq!(s.store.count_events().await.unwrap(), 13);

    let (status, resp) = post("br", batch(1)).await;
    assert_eq!(status, 415, "{resp}");
    assert_eq!(resp["error"]["field"], "Content-Encoding", "{resp}");
    assert!(
        resp["error"]["message"].as_str().unwrap().contains("gzip"),
        "{resp}"
    );
    assert_eq!(
        s.store.count_events().await.unwrap(),
        13,
        "nothing of a refused body is stored"
    );
    // Refused before the handler, still counted as refused.
    let metrics = s.metrics_text().await;
    assert!(
        metrics.contains(r#"eventlog_ingest_rejected_requests_total{reason="too_large"} 1"#),
        "{metrics}"
    );
}

mod sqlite_limits {
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn corpus() {
        let s = crate::helpers::TestServer::sqlite_with(super::small_limits()).await;
        super::the_bad_input_corpus_gets_precise_4xx_and_stores_nothing(&s).await;
    }
}

mod postgres_limits {
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn corpus() {
        let Some(s) = crate::helpers::TestServer::postgres_with(super::small_limits()).await else {
            return;
        };
        super::the_bad_input_corpus_gets_precise_4xx_and_stores_nothing(&s).await;
        s.cleanup().await;
    }
}

fn arb_json() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(|n| json!(n)),
        any::<f64>()
            .prop_filter("finite", |f| f.is_finite())
            .prop_map(|f| json!(f)),
        "\\PC{0,20}".prop_map(Value::String),
    ];
    leaf.prop_recursive(3, 24, 5, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..4).prop_map(Value::Array),
            prop::collection::btree_map(
                prop_oneof![
                    Just("event_category".to_owned()),
                    Just("event_type".to_owned()),
                    Just("user_id".to_owned()),
                    Just("ip_address".to_owned()),
                    Just("timestamp".to_owned()),
                    Just("metadata".to_owned()),
                    Just("tags".to_owned()),
                    Just("severity".to_owned()),
                    Just("http_status".to_owned()),
                    "[a-z_]{1,10}",
                ],
                inner,
                0..6,
            )
            .prop_map(|m| Value::Object(m.into_iter().collect())),
        ]
    })
}

#[test]
fn arbitrary_json_and_bytes_never_cause_a_server_error() {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let server = rt.block_on(TestServer::sqlite());
    let config = ProptestConfig {
        cases: 200,
        ..ProptestConfig::default()
    };
    proptest!(config, |(value in arb_json(), bytes in prop::collection::vec(any::<u8>(), 0..64))| {
        rt.block_on(async {
            for (path, body) in [
                ("/api/events", value.to_string().into_bytes()),
                ("/api/events/batch", json!({"events": [value.clone()]}).to_string().into_bytes()),
                ("/api/events", bytes.clone()),
            ] {
                let (status, resp) = send(server.post(path, &server.admin_key).header("content-type", "application/json").body(body)).await;
                assert!(status < 500, "{path} -> {status} {resp}");
                if status >= 400 {
                    assert!(resp["error"]["code"].is_string(), "{resp}");
                }
            }
        });
    });
}
