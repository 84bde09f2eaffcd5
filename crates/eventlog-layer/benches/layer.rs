//! The layer's cost per request: the same axum router called in-process (no sockets) without
//! the layer (the baseline, measured in the same run), with it, and with body capture of a
//! 4 KiB JSON body. The logger delivers to a sink that drops batches, so what is measured is
//! the request path, not a store.
//!
//! Besides criterion's means, a second pass prints p50/p99 of each variant from 20,000
//! timed requests (the budget in issue 4 is p99 overhead < 50 µs).

use std::time::{Duration, Instant};

use axum::body::Body;
use axum::http::Request;
use axum::routing::post;
use axum::Router;
use criterion::{criterion_group, criterion_main, Criterion};
use eventlog_client::{Event, EventLogger, LoggerConfig, Sink, SinkError};
use eventlog_layer::{BodyCapture, EventLogLayer, UserInfo};
use tower::ServiceExt;

/// Drops batches: isolates the request path from any store.
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

fn router() -> Router {
    Router::new().route(
        "/api/students/{id}",
        post(|body: String| async move { format!("{{\"received\":{}}}", body.len()) }),
    )
}

fn body_4k() -> String {
    let mut body = String::from("{\"name\":\"Budi Santoso\",\"notes\":\"");
    while body.len() < 4096 - 2 {
        body.push('x');
    }
    body.push_str("\"}");
    body
}

fn request(body: &str) -> Request<Body> {
    let mut request = Request::post("/api/students/42")
        .header("content-type", "application/json")
        .header("user-agent", "bench/1.0")
        .header("x-forwarded-for", "203.0.113.7")
        .header("x-request-id", "bench-request")
        .body(Body::from(body.to_owned()))
        .unwrap();
    request.extensions_mut().insert(UserInfo {
        id: "42".into(),
        name: Some("guru01".into()),
        role: Some("teacher".into()),
        tenant: None,
    });
    request
}

async fn call(app: &Router, body: &str) {
    let response = app.clone().oneshot(request(body)).await.unwrap();
    // Read the body to its end: the layer records the event when the body finishes.
    let bytes = axum::body::to_bytes(response.into_body(), usize::MAX)
        .await
        .unwrap();
    std::hint::black_box(bytes);
}

fn percentiles(runtime: &tokio::runtime::Runtime, name: &str, app: &Router, body: &str) {
    let mut samples: Vec<Duration> = Vec::with_capacity(20_000);
    runtime.block_on(async {
        for _ in 0..2_000 {
            call(app, body).await;
        }
        for _ in 0..20_000 {
            let started = Instant::now();
            call(app, body).await;
            samples.push(started.elapsed());
        }
    });
    samples.sort();
    let at = |q: f64| samples[((samples.len() as f64 * q) as usize).min(samples.len() - 1)];
    println!(
        "{name:<28} p50 {:>7.2} µs  p99 {:>7.2} µs",
        at(0.50).as_secs_f64() * 1e6,
        at(0.99).as_secs_f64() * 1e6
    );
}

fn layer(c: &mut Criterion) {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let mut config = LoggerConfig::new(dir.path());
    config.queue_capacity = 1 << 20;
    let logger = runtime.block_on(async { EventLogger::start(config, Discard).unwrap() });

    let small = "{\"name\":\"Budi\"}".to_owned();
    let large = body_4k();
    let variants = [
        ("baseline_no_layer", router(), small.clone()),
        (
            "with_layer",
            router().layer(EventLogLayer::new(logger.clone())),
            small.clone(),
        ),
        ("baseline_no_layer_4k", router(), large.clone()),
        (
            "with_layer_capture_4k",
            router().layer(
                EventLogLayer::new(logger.clone()).with_body_capture(BodyCapture::default()),
            ),
            large.clone(),
        ),
    ];

    let mut group = c.benchmark_group("layer");
    for (name, app, body) in &variants {
        // Timed inside the runtime, as a server runs handlers (no block_on per request).
        group.bench_function(*name, |b| {
            b.iter_custom(|iters| {
                runtime.block_on(async {
                    let started = Instant::now();
                    for _ in 0..iters {
                        call(app, body).await;
                    }
                    started.elapsed()
                })
            })
        });
    }
    group.finish();

    for (name, app, body) in &variants {
        percentiles(&runtime, name, app, body);
    }
    runtime.block_on(logger.shutdown());
}

criterion_group! {
    name = benches;
    config = Criterion::default().measurement_time(Duration::from_secs(5));
    targets = layer
}
criterion_main!(benches);
