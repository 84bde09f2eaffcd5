//! The detection engine on one typical request, beside a baseline measured in the same
//! run: the same walk over the same request that only decodes every value (what any
//! inspection costs before a single rule runs). Also an attack request, and the stream
//! detectors per event.
//!
//! `cargo bench -p eventlog-core --bench detect`; the figures are in bench/README.md.

use std::hint::black_box;

use chrono::{Duration, Utc};
use criterion::{criterion_group, criterion_main, Criterion};
use eventlog_core::detect::decode::{decode, form_pairs};
use eventlog_core::detect::stateful::{StreamConfig, StreamDetectors};
use eventlog_core::detect::{Body, Detector, RequestView};
use eventlog_core::EventRecord;
use serde_json::{json, Value};

const PATH: &str = "/api/siswa/4821/nilai";
const QUERY: &str = "semester=1&tahun=2024%2F2025&sort=-created_at&search=Ahmad+Rizki";
const HEADERS: &[(&str, &str)] = &[
    ("user-agent", "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0.0.0 Safari/537.36"),
    ("referer", "https://sekolah.example.id/siswa/4821?tab=nilai"),
    ("cookie", "session=sess_8f2a61c0d9e4; theme=dark; lang=id"),
    ("accept", "application/json"),
];

fn typical_body() -> Value {
    json!({
        "nama_lengkap": "Ahmad Rizki", "nis": "12345678", "jenis_kelamin": "L",
        "alamat": "Jl. Merdeka No. 10, Jakarta", "catatan": "Nilai naik 12% dibanding semester lalu; pertahankan!",
        "orang_tua": {"nama": "H. Abdul Ma'ruf", "telepon": "[REDACTED]"},
        "nilai": [{"mapel": "Matematika", "nilai": 88}, {"mapel": "Bahasa Indonesia", "nilai": 91}],
        "tags": ["semester-1", "kelas-7A"]
    })
}

fn attack_body() -> Value {
    json!({"nama_lengkap": "x' UNION SELECT password FROM users--", "catatan": "<img src=x onerror=alert(1)>",
        "file": "../../../etc/passwd", "host": "8.8.8.8; cat /etc/shadow"})
}

/// The baseline: the engine's walk (path segments, query pairs, headers, JSON strings)
/// with decoding only.
fn decode_walk(request: &RequestView<'_>) -> usize {
    fn json(value: &Value, total: &mut usize) {
        match value {
            Value::String(s) => *total += decode(s).text.len(),
            Value::Array(items) => items.iter().for_each(|v| json(v, total)),
            Value::Object(map) => map.iter().for_each(|(k, v)| {
                *total += black_box(format!("body.{k}")).len();
                json(v, total)
            }),
            _ => {}
        }
    }
    let mut total = decode(request.path).text.len();
    for segment in request.path.split('/') {
        total += decode(segment).text.len();
    }
    for (name, value) in form_pairs(request.query.unwrap_or_default()) {
        total += black_box(format!("query.{name}")).len() + decode(&value).text.len();
    }
    for (_, value) in request.headers {
        total += decode(value).text.len();
    }
    if let Body::Json(body) = request.body {
        json(body, &mut total);
    }
    total
}

fn engine(c: &mut Criterion) {
    let detector = Detector::default();
    let typical = typical_body();
    let attack = attack_body();
    let request = |body| RequestView {
        path: PATH,
        query: Some(QUERY),
        headers: HEADERS,
        body: Body::Json(body),
    };
    assert!(detector.inspect(&request(&typical)).is_empty());
    assert_eq!(detector.inspect(&request(&attack)).len(), 4);
    let mut group = c.benchmark_group("detect_per_request");
    group.bench_function("baseline_decode_walk", |b| {
        b.iter(|| black_box(decode_walk(black_box(&request(&typical)))))
    });
    group.bench_function("inspect_typical_request", |b| {
        b.iter(|| black_box(detector.inspect(black_box(&request(&typical)))))
    });
    group.bench_function("inspect_attack_request", |b| {
        b.iter(|| black_box(detector.inspect(black_box(&request(&attack)))))
    });
    group.finish();
}

fn stream(c: &mut Criterion) {
    let event: EventRecord = serde_json::from_value(json!({
        "event_id": "AUTH-002-x", "event_code": "AUTH-002", "event_category": "AUTH",
        "event_type": "USER_LOGIN", "event_name": "x", "action": "LOGIN", "status": "FAILED",
        "username": "guru01", "user_id": "15", "ip_address": "10.0.0.9", "user_agent": "Firefox/128",
        "endpoint": "/api/auth/login", "http_status": 401, "timestamp": Utc::now(), "tags": [],
        "severity": "WARNING", "importance": "MINOR"
    }))
    .unwrap();
    let mut detectors = StreamDetectors::new(StreamConfig::default());
    let mut n = 0i64;
    c.bench_function("stream_detectors_per_event", |b| {
        b.iter(|| {
            n += 1;
            let mut e = event.clone();
            e.timestamp += Duration::seconds(n);
            black_box(detectors.observe(black_box(&e)))
        })
    });
}

criterion_group!(benches, engine, stream);
criterion_main!(benches);
