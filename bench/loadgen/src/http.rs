//! `http`: sustained ingest through `POST /api/events/batch`.
//!
//! A pool of distinct realistic events is generated and serialised before the clock starts;
//! a generator thread then assembles batch bodies from that pool (a string copy plus a fresh
//! client `event_id` for half the events) into a bounded queue that is full before the
//! measurement begins, so the measured loop only sends pre-serialised bodies and waits for
//! acknowledgements.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use clap::Args;
use serde_json::Value;
use tokio::sync::{mpsc, Mutex};

use crate::events::{GenOptions, Generator};
use crate::stats::{ms, summarise};

/// Options of `http`.
#[derive(Args, Debug)]
pub struct HttpArgs {
    /// Base URL of the server, e.g. http://127.0.0.1:8080.
    #[arg(long)]
    url: String,
    /// API key (ingest or admin).
    #[arg(long, env = "EVENTLOG_KEY")]
    key: String,
    /// Concurrent connections (one task each, one batch in flight per connection).
    #[arg(long, default_value_t = 4)]
    connections: usize,
    /// Events per batch request.
    #[arg(long, default_value_t = 1000)]
    batch: usize,
    /// How long to send for.
    #[arg(long, default_value_t = 60)]
    duration_secs: u64,
    /// Stop after this many events (whichever comes first).
    #[arg(long)]
    max_events: Option<u64>,
    /// Distinct generated events to cycle through (each send gets fresh client ids).
    #[arg(long, default_value_t = 100_000)]
    pool: usize,
    /// Seed of the event generator.
    #[arg(long, default_value_t = 1)]
    seed: u64,
    /// Spread timestamps over this many days before now (0: now).
    #[arg(long, default_value_t = 0)]
    spread_days: u32,
    /// Print a progress line every this many seconds (0: never).
    #[arg(long, default_value_t = 5)]
    progress_secs: u64,
}

/// One pooled event: the start of its client id (if it has one) and the rest of its JSON.
struct Template {
    id_prefix: Option<String>,
    /// The JSON object without its opening brace.
    rest: String,
}

fn templates(args: &HttpArgs) -> Vec<Template> {
    let mut gen = Generator::new(GenOptions {
        seed: args.seed,
        spread_days: args.spread_days,
        ..Default::default()
    });
    (0..args.pool.max(1))
        .map(|_| {
            let mut v = gen.next_value();
            let obj = v.as_object_mut().expect("events are objects");
            let id_prefix = match obj.remove("event_id") {
                Some(Value::String(id)) => {
                    let cut = id.rfind('-').expect("generated ids end in -counter");
                    Some(id[..=cut].to_owned())
                }
                _ => None,
            };
            let text = serde_json::to_string(&v).expect("serialises");
            Template {
                id_prefix,
                rest: text[1..].to_owned(),
            }
        })
        .collect()
}

struct Batch {
    body: bytes::Bytes,
    events: u64,
}

/// Starts the body generator thread; returns the queue and waits until it is full.
fn start_generator(
    pool: Vec<Template>,
    batch: usize,
    total: Option<u64>,
    depth: usize,
    stop: Arc<AtomicBool>,
) -> mpsc::Receiver<Batch> {
    let (tx, rx) = mpsc::channel::<Batch>(depth);
    let (ready_tx, ready_rx) = std::sync::mpsc::channel::<()>();
    std::thread::spawn(move || {
        // Ids unique across runs against the same store: start the counter at the clock.
        let mut counter = chrono::Utc::now().timestamp_micros() as u64;
        let mut next = 0usize;
        let mut left = total.unwrap_or(u64::MAX);
        let mut sent = 0usize;
        let mut ready = Some(ready_tx);
        while left > 0 && !stop.load(Ordering::Relaxed) {
            let n = left.min(batch as u64) as usize;
            let mut body = String::with_capacity(n * 1000 + 16);
            body.push_str("{\"events\":[");
            for i in 0..n {
                if i > 0 {
                    body.push(',');
                }
                let t = &pool[next];
                next = (next + 1) % pool.len();
                match &t.id_prefix {
                    Some(p) => {
                        let _ = write!(body, "{{\"event_id\":\"{p}{counter:x}\",");
                        counter += 1;
                    }
                    None => body.push('{'),
                }
                body.push_str(&t.rest);
            }
            body.push_str("]}");
            left -= n as u64;
            if tx
                .blocking_send(Batch {
                    body: bytes::Bytes::from(body),
                    events: n as u64,
                })
                .is_err()
            {
                return;
            }
            sent += 1;
            if sent >= depth {
                if let Some(r) = ready.take() {
                    let _ = r.send(());
                }
            }
        }
        // Fewer batches than the queue holds: ready when all are queued.
        if let Some(r) = ready.take() {
            let _ = r.send(());
        }
    });
    let _ = ready_rx.recv();
    rx
}

#[derive(Default)]
struct TaskResult {
    latencies: Vec<Duration>,
    acked: u64,
    duplicates: u64,
    retries_503: u64,
    errors: BTreeMap<String, u64>,
    first_error: Option<String>,
}

fn retry_after(resp: &reqwest::Response) -> Duration {
    resp.headers()
        .get(reqwest::header::RETRY_AFTER)
        .and_then(|v| v.to_str().ok())
        .and_then(|s| s.trim().parse::<f64>().ok())
        .map(|s| Duration::from_secs_f64(s.clamp(0.0, 60.0)))
        .unwrap_or(Duration::from_secs(1))
}

/// Runs `http`.
pub async fn run(args: HttpArgs) -> Result<()> {
    if args.batch == 0 || args.connections == 0 {
        bail!("--batch and --connections must be positive");
    }
    let t_gen = Instant::now();
    let pool = templates(&args);
    let avg_bytes = pool.iter().map(|t| t.rest.len() + 1).sum::<usize>() as f64 / pool.len() as f64
        + if pool.iter().any(|t| t.id_prefix.is_some()) {
            20.0
        } else {
            0.0
        };
    let stop = Arc::new(AtomicBool::new(false));
    let depth = (args.connections * 4).max(16);
    let rx = start_generator(pool, args.batch, args.max_events, depth, stop.clone());
    eprintln!(
        "loadgen: {} pooled events (~{avg_bytes:.0} B each) and {depth} batch bodies ready in {:.1}s",
        args.pool,
        t_gen.elapsed().as_secs_f64()
    );

    let client = reqwest::Client::builder()
        .pool_max_idle_per_host(args.connections)
        .tcp_nodelay(true)
        .timeout(Duration::from_secs(120))
        .build()?;
    let url = format!("{}/api/events/batch", args.url.trim_end_matches('/'));
    let auth = format!("Bearer {}", args.key);

    // Check the key and URL before measuring.
    let probe = client
        .get(format!(
            "{}/api/events/recent?limit=1",
            args.url.trim_end_matches('/')
        ))
        .header("Authorization", &auth)
        .send()
        .await
        .with_context(|| format!("cannot reach {}", args.url))?;
    if probe.status() == reqwest::StatusCode::UNAUTHORIZED {
        bail!("the server refused the key (401)");
    }

    let rx = Arc::new(Mutex::new(rx));
    let acked = Arc::new(AtomicU64::new(0));
    let start = Instant::now();
    let deadline = start + Duration::from_secs(args.duration_secs);
    let mut tasks = Vec::new();
    for _ in 0..args.connections {
        let rx = rx.clone();
        let client = client.clone();
        let url = url.clone();
        let auth = auth.clone();
        let acked = acked.clone();
        tasks.push(tokio::spawn(async move {
            let mut r = TaskResult::default();
            loop {
                if Instant::now() >= deadline {
                    break;
                }
                let Some(batch) = rx.lock().await.recv().await else {
                    break;
                };
                let sent_at = Instant::now();
                loop {
                    let resp = client
                        .post(&url)
                        .header("Authorization", &auth)
                        .header("Content-Type", "application/json")
                        .body(batch.body.clone())
                        .send()
                        .await;
                    match resp {
                        Ok(resp) if resp.status() == reqwest::StatusCode::CREATED => {
                            let body = resp.bytes().await.unwrap_or_default();
                            r.latencies.push(sent_at.elapsed());
                            let v: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
                            let a = v["accepted"].as_u64().unwrap_or(batch.events);
                            r.acked += a;
                            r.duplicates += v["duplicates"].as_u64().unwrap_or(0);
                            acked.fetch_add(a, Ordering::Relaxed);
                            break;
                        }
                        Ok(resp) if resp.status() == reqwest::StatusCode::SERVICE_UNAVAILABLE => {
                            r.retries_503 += 1;
                            let wait = retry_after(&resp);
                            let _ = resp.bytes().await;
                            tokio::time::sleep(wait).await;
                        }
                        Ok(resp) => {
                            let status = resp.status().as_u16().to_string();
                            let text = resp.text().await.unwrap_or_default();
                            *r.errors.entry(status.clone()).or_default() += 1;
                            r.first_error.get_or_insert_with(|| {
                                format!("{status}: {}", text.chars().take(400).collect::<String>())
                            });
                            break;
                        }
                        Err(e) => {
                            *r.errors.entry("transport".into()).or_default() += 1;
                            r.first_error
                                .get_or_insert_with(|| format!("transport: {e}"));
                            tokio::time::sleep(Duration::from_millis(200)).await;
                            break;
                        }
                    }
                }
            }
            r
        }));
    }

    let progress = if args.progress_secs > 0 {
        let acked = acked.clone();
        let every = Duration::from_secs(args.progress_secs);
        Some(tokio::spawn(async move {
            let mut last = 0u64;
            let mut tick = tokio::time::interval_at(tokio::time::Instant::now() + every, every);
            loop {
                tick.tick().await;
                let now = acked.load(Ordering::Relaxed);
                println!(
                    "{{\"t_s\":{:.0},\"acked\":{now},\"interval_events_per_s\":{:.0}}}",
                    start.elapsed().as_secs_f64(),
                    (now - last) as f64 / every.as_secs_f64()
                );
                last = now;
            }
        }))
    } else {
        None
    };

    let mut total = TaskResult::default();
    for t in tasks {
        let r = t.await?;
        total.latencies.extend(r.latencies);
        total.acked += r.acked;
        total.duplicates += r.duplicates;
        total.retries_503 += r.retries_503;
        for (k, v) in r.errors {
            *total.errors.entry(k).or_default() += v;
        }
        if total.first_error.is_none() {
            total.first_error = r.first_error;
        }
    }
    let elapsed = start.elapsed();
    stop.store(true, Ordering::Relaxed);
    if let Some(p) = progress {
        p.abort();
    }
    let s = summarise(&mut total.latencies);
    let rate = total.acked as f64 / elapsed.as_secs_f64();
    let errors = serde_json::to_string(&total.errors)?;
    println!(
        "{{\"bench\":\"http\",\"connections\":{},\"batch\":{},\"events_acked\":{},\"duplicates\":{},\"batches\":{},\"elapsed_s\":{:.3},\"events_per_s\":{:.0},\"avg_event_bytes\":{:.0},\"ack_ms\":{{\"p50\":{},\"p95\":{},\"p99\":{},\"max\":{},\"mean\":{}}},\"retries_503\":{},\"errors\":{errors}}}",
        args.connections, args.batch, total.acked, total.duplicates, s.count,
        elapsed.as_secs_f64(), rate, avg_bytes, ms(s.p50), ms(s.p95), ms(s.p99), ms(s.max), ms(s.mean),
        total.retries_503,
    );
    println!(
        "--- http ingest: {} connections x {} events/batch ---",
        args.connections, args.batch
    );
    println!(
        "events acked     {} (duplicates {})",
        total.acked, total.duplicates
    );
    println!("elapsed          {:.1} s", elapsed.as_secs_f64());
    println!("throughput       {rate:.0} events/s");
    println!(
        "ack latency/batch p50 {:.1} ms  p95 {:.1} ms  p99 {:.1} ms  max {:.1} ms  ({} batches)",
        ms(s.p50),
        ms(s.p95),
        ms(s.p99),
        ms(s.max),
        s.count
    );
    println!("503 retries      {}", total.retries_503);
    println!("errors           {errors}");
    if let Some(e) = total.first_error {
        println!("first error      {e}");
    }
    Ok(())
}
