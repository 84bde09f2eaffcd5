//! `EventLogger::log` (the caller's cost) and spool append with fsync batching, each beside
//! a baseline measured in the same run: serialising the same event to JSON (the least any
//! logger that ships events must do). Before criterion's means, a paced pass prints
//! p50/p99 of 20,000 single calls of each (the budget in issue 4 is `log` p99 < 5 µs).

use std::time::{Duration, Instant};

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
    // The paced percentile pass first: after criterion's loops the worker is still
    // draining a million queued events and would disturb it.
    percentiles("baseline_serialise_event", |e| {
        std::hint::black_box(serde_json::to_vec(&e).unwrap());
    });
    percentiles("event_logger_log", |e| logger.log(e));
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

/// Times 20,000 single calls of `f` (after 2,000 warm-ups), each on a fresh event, and
/// prints p50/p99. The calls are paced (one every 20 µs, 50k events/s) so the logger's
/// worker keeps up, as it would in a service: the figure is the caller's cost, not a full
/// queue's.
fn percentiles(name: &str, mut f: impl FnMut(Event)) {
    let mut samples = Vec::with_capacity(20_000);
    for i in 0..22_000 {
        let e = event();
        let started = Instant::now();
        f(e);
        let took = started.elapsed();
        if i >= 2_000 {
            samples.push(took);
        }
        while started.elapsed() < Duration::from_micros(20) {
            std::hint::spin_loop();
        }
    }
    samples.sort();
    let at = |q: f64| samples[((samples.len() as f64 * q) as usize).min(samples.len() - 1)];
    println!(
        "{name:<28} p50 {:>7.2} µs  p99 {:>7.2} µs",
        at(0.50).as_secs_f64() * 1e6,
        at(0.99).as_secs_f64() * 1e6
    );
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
