//! `EventLogger::log` (the caller's cost) and spool append with fsync batching, each beside
//! a baseline measured in the same run: serialising the same event to JSON (the least any
//! logger that ships events must do).

use std::time::Duration;

use criterion::{criterion_group, criterion_main, BatchSize, Criterion, Throughput};
use eventlog_client::{
    Event, EventLogger, FsyncPolicy, LoggerConfig, Sink, SinkError, Spool, SpoolConfig,
};

/// Drops batches: isolates the caller's cost from any store.
struct Discard;

#[async_trait::async_trait]
impl Sink for Discard {
    async fn deliver(&self, _events: &[Event]) -> Result<(), SinkError> {
        Ok(())
    }
    fn describe(&self) -> String {
        "discard".to_owned()
    }
}

fn event() -> Event {
    Event::from_code("AUTH-001")
        .user("42", Some("guru01"), Some("teacher"))
        .ip("203.0.113.7")
        .meta("client", "web")
}

fn log(c: &mut Criterion) {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let mut config = LoggerConfig::new(dir.path());
    config.queue_capacity = 1 << 20;
    let logger = runtime.block_on(async { EventLogger::start(config, Discard).unwrap() });
    let mut group = c.benchmark_group("logger");
    group.throughput(Throughput::Elements(1));
    group.bench_function("baseline_serialise_event", |b| {
        b.iter_batched(
            event,
            |e| serde_json::to_vec(&e).unwrap(),
            BatchSize::SmallInput,
        )
    });
    group.bench_function("event_logger_log", |b| {
        b.iter_batched(event, |e| logger.log(e), BatchSize::SmallInput)
    });
    group.finish();
    runtime.block_on(logger.shutdown());
}

fn spool(c: &mut Criterion) {
    let payload = serde_json::to_vec(&event()).unwrap();
    let mut group = c.benchmark_group("spool");
    group.throughput(Throughput::Elements(100));
    let batch: Vec<&[u8]> = vec![&payload; 100];
    group.bench_function("baseline_serialise_100", |b| {
        b.iter(|| {
            (0..100)
                .map(|_| serde_json::to_vec(&event()).unwrap().len())
                .sum::<usize>()
        })
    });
    for (name, fsync) in [
        (
            "append_100_fsync_every_200ms",
            FsyncPolicy::Interval(Duration::from_millis(200)),
        ),
        ("append_100_fsync_every_append", FsyncPolicy::EveryAppend),
    ] {
        let dir = tempfile::tempdir().unwrap();
        let mut spool = Spool::open(
            dir.path(),
            SpoolConfig {
                fsync,
                segment_bytes: 64 << 20,
            },
        )
        .unwrap();
        group.bench_function(name, |b| {
            b.iter(|| {
                spool.append(&batch).unwrap();
                spool.sync_due().unwrap();
            })
        });
    }
    group.finish();
}

criterion_group! {
    name = benches;
    config = Criterion::default().measurement_time(Duration::from_secs(3)).warm_up_time(Duration::from_secs(1));
    targets = log, spool
}
criterion_main!(benches);
