//! What the tamper-evident chain costs the write path. The chain cannot be switched off
//! (every committed event is hashed and linked inside the write transaction), so the run
//! measures the whole write of a 1,000-event request into SQLite and, beside it, the chain
//! work alone for the same events (RFC 8785 canonical form + SHA-256 record hash, chain
//! link, leaf sum): throughput without the chain would be 1 / (write - chain), and the
//! ratio with/without is (write - chain) / write.
//!
//! `cargo bench -p eventlog-store --bench chain`; figures in bench/README.md.

use std::hint::black_box;
use std::sync::Arc;

use chrono::Utc;
use criterion::{criterion_group, criterion_main, BatchSize, Criterion, Throughput};
use eventlog_core::integrity::{chain_link, record_hash, LeafSum, GENESIS};
use eventlog_core::validate::Validator;
use eventlog_core::{parse_event, Catalog, ValidatedEvent, ValidationPolicy};
use eventlog_store::Store;
use serde_json::json;

const EVENTS: usize = 1_000;

/// 1,000 typical events (~800 B each), each with its own generated id.
fn events(validator: &Validator) -> Vec<ValidatedEvent> {
    (0..EVENTS)
        .map(|i| {
            let bytes = json!({
                "event_code": "DATA-002", "user_id": 1234 + i, "username": format!("guru{i:04}"),
                "user_role": "GURU", "ip_address": "10.12.34.56",
                "user_agent": "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0.0.0 Safari/537.36",
                "session_id": "sess_8f2a61c0d9e4", "http_method": "PUT", "endpoint": "/api/siswa/4821",
                "resource_type": "STUDENT", "resource_id": format!("STD-2025-{i}"), "processing_time_ms": 156,
                "request_data": {"nama_lengkap": "Ahmad Rizki", "nis": "12345678", "jenis_kelamin": "L"},
                "metadata": {"grade": "10", "class": "A", "academic_year": "2024/2025", "device_type": "desktop"},
                "tags": ["data_management", "student", "update"],
            })
            .to_string();
            validator
                .validate(parse_event(bytes.as_bytes()).unwrap(), Utc::now())
                .unwrap()
        })
        .collect()
}

/// The chain work of one write, as the store does it per event.
fn chain(events: &[ValidatedEvent]) -> [u8; 32] {
    let mut head = GENESIS;
    let mut leaves = LeafSum::default();
    let now = Utc::now().timestamp_micros();
    for (pos, event) in (1i64..).zip(events) {
        let hash = record_hash(event.record());
        head = chain_link(&head, &hash, pos, now);
        leaves.add_event(&hash, pos);
    }
    black_box(leaves);
    head
}

fn write_path(c: &mut Criterion) {
    let rt = tokio::runtime::Runtime::new().unwrap();
    let dir = tempfile::tempdir().unwrap();
    let store: Arc<dyn Store> = rt.block_on(async {
        let store = eventlog_store::open(&format!("sqlite://{}/bench.db", dir.path().display()))
            .await
            .unwrap();
        store.migrate().await.unwrap();
        store
    });
    let validator = Validator::new(ValidationPolicy::default(), Catalog::built_in());
    let sample = events(&validator);

    let mut group = c.benchmark_group("chain_cost_1000_events");
    group.throughput(Throughput::Elements(EVENTS as u64));
    group.sample_size(20);
    group.bench_function("sqlite_write_with_chain", |b| {
        b.iter_batched(
            || vec![events(&validator)],
            |batch| rt.block_on(store.write(&batch)).unwrap(),
            BatchSize::PerIteration,
        )
    });
    group.bench_function("chain_hashing_alone", |b| {
        b.iter(|| chain(black_box(&sample)))
    });
    group.finish();
}

criterion_group!(benches, write_path);
criterion_main!(benches);
