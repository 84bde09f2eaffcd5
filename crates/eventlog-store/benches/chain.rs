//! What the tamper-evident chain costs the write path. The chain cannot be switched off
//! (every committed event is hashed and linked inside the write transaction), so the run
//! measures the whole write of a 1,000-event request into SQLite and, beside it, the chain
//! work alone for the same events (RFC 8785 canonical form + SHA-256 record hash, chain
//! link, leaf sum): throughput without the chain would be 1 / (write - chain), and the
//! ratio with/without is (write - chain) / write.
//!
//! Run against SQLite (a temporary file) and, when reachable, PostgreSQL (a fresh
//! database on `EVENTLOG_TEST_POSTGRES_URL`, dropped afterwards).
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

async fn open(url: &str) -> Arc<dyn Store> {
    let store = eventlog_store::open(url).await.unwrap();
    store.migrate().await.unwrap();
    store
}

/// A fresh PostgreSQL database (`EVENTLOG_TEST_POSTGRES_URL`, default the local server),
/// or `None` with a loud message when there is none.
async fn fresh_postgres() -> Option<(String, String)> {
    let admin_url = std::env::var("EVENTLOG_TEST_POSTGRES_URL")
        .unwrap_or_else(|_| "postgres://root@127.0.0.1:5432/postgres".to_owned());
    let Ok(admin) = sqlx::PgPool::connect(&admin_url).await else {
        eprintln!("\n!!!! PostgreSQL not reachable at {admin_url}: only SQLite is measured !!!!\n");
        return None;
    };
    let db = format!("eventlog_chain_bench_{}", std::process::id());
    sqlx::query(&format!("CREATE DATABASE {db}"))
        .execute(&admin)
        .await
        .unwrap();
    let (base, _) = admin_url.rsplit_once('/').unwrap();
    Some((admin_url.clone(), format!("{base}/{db}")))
}

async fn drop_postgres(admin_url: &str, url: &str) {
    let db = url.rsplit('/').next().unwrap();
    let admin = sqlx::PgPool::connect(admin_url).await.unwrap();
    sqlx::query(&format!("DROP DATABASE IF EXISTS {db} WITH (FORCE)"))
        .execute(&admin)
        .await
        .unwrap();
}

fn write_path(c: &mut Criterion) {
    let rt = tokio::runtime::Runtime::new().unwrap();
    let dir = tempfile::tempdir().unwrap();
    let sqlite = rt.block_on(open(&format!("sqlite://{}/bench.db", dir.path().display())));
    let postgres = rt.block_on(fresh_postgres());
    let pg_store = postgres.as_ref().map(|(_, url)| rt.block_on(open(url)));
    let validator = Validator::new(ValidationPolicy::default(), Catalog::built_in());
    let sample = events(&validator);

    let mut group = c.benchmark_group("chain_cost_1000_events");
    group.throughput(Throughput::Elements(EVENTS as u64));
    group.sample_size(20);
    let mut stores = vec![("sqlite_write_with_chain", sqlite)];
    stores.extend(pg_store.map(|s| ("postgres_write_with_chain", s)));
    for (name, store) in &stores {
        group.bench_function(*name, |b| {
            b.iter_batched(
                || vec![events(&validator)],
                |batch| rt.block_on(store.write(&batch)).unwrap(),
                BatchSize::PerIteration,
            )
        });
    }
    group.bench_function("chain_hashing_alone", |b| {
        b.iter(|| chain(black_box(&sample)))
    });
    group.finish();
    drop(stores);
    if let Some((admin, url)) = postgres {
        rt.block_on(drop_postgres(&admin, &url));
    }
}

criterion_group!(benches, write_path);
criterion_main!(benches);
