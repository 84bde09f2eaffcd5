//! The per-event work of ingest, each next to a baseline measured in the same run:
//! parse + validate (+ redact + hash) against a bare `serde_json::Value` parse of the same
//! bytes, and redaction against a deep clone of the same payload.
//!
//! `cargo bench -p eventlog-core --bench hot_paths`; the ratios are in bench/README.md.

use std::hint::black_box;

use chrono::Utc;
use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use eventlog_core::redact::Redactor;
use eventlog_core::validate::Validator;
use eventlog_core::{parse_event, Catalog, ValidationPolicy};
use serde_json::{json, Value};

fn typical_event() -> Vec<u8> {
    json!({
        "event_id": "DATA-002-20250619-143052-00af31",
        "event_code": "DATA-002", "user_id": 1234, "username": "guru0421", "user_role": "GURU",
        "ip_address": "10.12.34.56",
        "user_agent": "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0.0.0 Safari/537.36",
        "session_id": "sess_8f2a61c0d9e4", "http_method": "PUT", "endpoint": "/api/siswa/4821",
        "resource_type": "STUDENT", "resource_id": "STD-2025-4821", "processing_time_ms": 156,
        "request_data": {"nama_lengkap": "Ahmad Rizki", "nis": "12345678", "jenis_kelamin": "L", "password": "x"},
        "metadata": {"grade": "10", "class": "A", "academic_year": "2024/2025", "device_type": "desktop"},
        "tags": ["data_management", "student", "update"],
        "timestamp": "2025-06-19T14:30:52.120Z"
    })
    .to_string()
    .into_bytes()
}

fn ingest_per_event(c: &mut Criterion) {
    let bytes = typical_event();
    let validator = Validator::new(ValidationPolicy::default(), Catalog::built_in());
    let now = Utc::now();
    let mut group = c.benchmark_group("ingest_per_event");
    group.throughput(Throughput::Bytes(bytes.len() as u64));
    group.bench_function("baseline_serde_json_value_parse", |b| {
        b.iter(|| black_box(serde_json::from_slice::<Value>(black_box(&bytes)).unwrap()))
    });
    group.bench_function("parse_validate_redact_hash", |b| {
        b.iter(|| {
            let raw = parse_event(black_box(&bytes)).unwrap();
            black_box(validator.validate(raw, now).unwrap())
        })
    });
    group.finish();
}

fn redaction(c: &mut Criterion) {
    let payload: Value = json!({
        "raw_body": "username=admin&password=admin123&grant_type=password",
        "headers": {"authorization": "Bearer abcdefghijklmnop", "accept": "application/json"},
        "student": {"nama_lengkap": "Ahmad Rizki", "nis": "12345678", "alamat": "Jl. Merdeka 10, Bandung"},
        "items": [{"id": 1, "note": "ok"}, {"id": 2, "note": "paid with 4111 1111 1111 1111"}]
    });
    let redactor = Redactor::default();
    let mut group = c.benchmark_group("redaction");
    group.bench_function("baseline_clone", |b| {
        b.iter(|| black_box(black_box(&payload).clone()))
    });
    group.bench_function("clone_and_redact", |b| {
        b.iter(|| {
            let mut v = black_box(&payload).clone();
            redactor.redact_value(&mut v);
            black_box(v)
        })
    });
    group.finish();
}

criterion_group!(benches, ingest_per_event, redaction);
criterion_main!(benches);
