//! `query`: latency of the read API, one connection, sequential requests.

use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use clap::Args;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use serde_json::Value;

use crate::stats::{ms, summarise};

/// Makes the request path of one query kind (drawing ids and users as it goes).
type PathMaker<'a> = Box<dyn FnMut() -> String + 'a>;

/// Options of `query`.
#[derive(Args, Debug)]
pub struct QueryArgs {
    /// Base URL of the server.
    #[arg(long)]
    url: String,
    /// API key (admin or analyst).
    #[arg(long, env = "EVENTLOG_KEY")]
    key: String,
    /// Measured requests per kind.
    #[arg(long, default_value_t = 500)]
    requests: usize,
    /// Unmeasured warm-up requests per kind.
    #[arg(long, default_value_t = 20)]
    warmup: usize,
    /// Seed for sampling ids and users.
    #[arg(long, default_value_t = 5)]
    seed: u64,
    /// `recent` (event listing, get by id, user activity) or `analytics` (the summary, the
    /// six seed 002 reports, a time series, activities and alerts).
    #[arg(long, default_value = "recent")]
    suite: String,
}

/// The analytics endpoints, each with the window a dashboard asks for by default.
fn analytics_kinds<'a>() -> Vec<(&'static str, PathMaker<'a>)> {
    [
        ("summary (24 h)", "/api/events/analytics/summary?hours=24"),
        (
            "summary (30 days)",
            "/api/events/analytics/summary?hours=720",
        ),
        (
            "critical (24 h)",
            "/api/events/analytics/critical?hours=24&limit=50",
        ),
        (
            "users (24 h)",
            "/api/events/analytics/users?hours=24&limit=50",
        ),
        ("endpoints (1 h)", "/api/events/analytics/endpoints"),
        ("security (24 h)", "/api/events/analytics/security?hours=24"),
        ("models (24 h)", "/api/events/analytics/models?hours=24"),
        ("performance (1 h)", "/api/events/analytics/performance"),
        (
            "timeseries (24 h per hour)",
            "/api/events/analytics/timeseries?metric=events&interval=hour&hours=24",
        ),
        (
            "activities (MAJOR)",
            "/api/activities?importance=MAJOR&limit=50",
        ),
        ("activities (all)", "/api/activities?limit=50"),
        ("alerts", "/api/alerts?limit=50"),
    ]
    .into_iter()
    .map(|(name, path)| (name, Box::new(move || path.to_owned()) as PathMaker<'a>))
    .collect()
}

struct Api {
    client: reqwest::Client,
    base: String,
    auth: String,
}

impl Api {
    async fn get(&self, path: &str) -> Result<(u16, bytes::Bytes)> {
        let resp = self
            .client
            .get(format!("{}{path}", self.base))
            .header("Authorization", &self.auth)
            .send()
            .await?;
        let status = resp.status().as_u16();
        Ok((status, resp.bytes().await?))
    }

    async fn json(&self, path: &str) -> Result<Value> {
        let (status, body) = self.get(path).await?;
        if status != 200 {
            bail!("GET {path}: {status} {}", String::from_utf8_lossy(&body));
        }
        Ok(serde_json::from_slice(&body)?)
    }
}

/// The event-listing kinds, with ids and users sampled from the store.
async fn recent_kinds<'a>(
    api: &Api,
    args: &QueryArgs,
) -> Result<Vec<(&'static str, PathMaker<'a>)>> {
    // Sample ids and users from a few pages of recent events of several kinds.
    let mut ids = Vec::new();
    let mut users = Vec::new();
    let mut cursors = Vec::new();
    for filter in ["", "&category=AUTH", "&category=DATA", "&category=PRED"] {
        let page = api
            .json(&format!("/api/events/recent?limit=500{filter}"))
            .await
            .context("sampling events")?;
        if let Some(c) = page["next_cursor"].as_str() {
            cursors.push((filter, c.to_owned()));
        }
        for e in page["events"].as_array().into_iter().flatten() {
            if let Some(id) = e["event_id"].as_str() {
                ids.push(id.to_owned());
            }
            if let Some(u) = e["user_id"].as_str() {
                users.push(u.to_owned());
            }
        }
    }
    if ids.is_empty() || users.is_empty() || cursors.is_empty() {
        bail!("the store holds no events to query (at least 501 are needed)");
    }
    Ok(vec![
        (
            "recent, no filter",
            Box::new(|| "/api/events/recent?limit=50".to_owned()),
        ),
        (
            "recent, category=AUTH",
            Box::new(|| "/api/events/recent?limit=50&category=AUTH".to_owned()),
        ),
        (
            "recent, category=AUTH&status=FAILED",
            Box::new(|| "/api/events/recent?limit=50&category=AUTH&status=FAILED".to_owned()),
        ),
        ("recent, user_id=X&category=DATA", {
            let users = users.clone();
            let mut r = StdRng::seed_from_u64(args.seed + 1);
            Box::new(move || {
                format!(
                    "/api/events/recent?limit=50&user_id={}&category=DATA",
                    users[r.gen_range(0..users.len())]
                )
            })
        }),
        ("recent, a later page (cursor)", {
            let mut r = StdRng::seed_from_u64(args.seed + 4);
            Box::new(move || {
                let (filter, cursor) = &cursors[r.gen_range(0..cursors.len())];
                format!("/api/events/recent?limit=50{filter}&cursor={cursor}")
            })
        }),
        (
            "recent, severity=CRITICAL (rare)",
            Box::new(|| "/api/events/recent?limit=50&severity=CRITICAL".to_owned()),
        ),
        ("get by id", {
            let ids = ids.clone();
            let mut r = StdRng::seed_from_u64(args.seed + 2);
            Box::new(move || format!("/api/events/{}", ids[r.gen_range(0..ids.len())]))
        }),
        ("user-activity (30 days)", {
            let users = users.clone();
            let mut r = StdRng::seed_from_u64(args.seed + 3);
            Box::new(move || {
                format!(
                    "/api/events/user-activity/{}",
                    users[r.gen_range(0..users.len())]
                )
            })
        }),
    ])
}

/// Runs `query`.
pub async fn run(args: QueryArgs) -> Result<()> {
    let api = Api {
        client: reqwest::Client::builder()
            .pool_max_idle_per_host(1)
            .tcp_nodelay(true)
            .timeout(Duration::from_secs(60))
            .build()?,
        base: args.url.trim_end_matches('/').to_owned(),
        auth: format!("Bearer {}", args.key),
    };
    let kinds = match args.suite.as_str() {
        "recent" => recent_kinds(&api, &args).await?,
        "analytics" => analytics_kinds(),
        other => bail!("unknown suite `{other}`: recent or analytics"),
    };

    let mut rows = Vec::new();
    for (name, mut path) in kinds {
        for _ in 0..args.warmup {
            api.get(&path()).await?;
        }
        let mut lat = Vec::with_capacity(args.requests);
        let mut non_200 = 0u64;
        let mut first_bad = None;
        for _ in 0..args.requests {
            let p = path();
            let t = Instant::now();
            let (status, body) = api.get(&p).await?;
            lat.push(t.elapsed());
            if status != 200 {
                non_200 += 1;
                first_bad.get_or_insert_with(|| {
                    format!(
                        "{status} {p}: {}",
                        String::from_utf8_lossy(&body[..body.len().min(200)])
                    )
                });
            }
        }
        let s = summarise(&mut lat);
        println!(
            "{{\"bench\":\"query\",\"kind\":\"{name}\",\"requests\":{},\"p50_ms\":{},\"p95_ms\":{},\"p99_ms\":{},\"max_ms\":{},\"non_200\":{non_200}}}",
            s.count, ms(s.p50), ms(s.p95), ms(s.p99), ms(s.max)
        );
        if let Some(b) = first_bad {
            eprintln!("query: {name}: {b}");
        }
        rows.push((name, s, non_200));
    }
    println!(
        "--- query latency: {} requests per kind, one connection, sequential ---",
        args.requests
    );
    println!(
        "{:<38} {:>9} {:>9} {:>9} {:>9} {:>7}",
        "kind", "p50 ms", "p95 ms", "p99 ms", "max ms", "non-200"
    );
    for (name, s, bad) in rows {
        println!(
            "{:<38} {:>9.2} {:>9.2} {:>9.2} {:>9.2} {:>7}",
            name,
            ms(s.p50),
            ms(s.p95),
            ms(s.p99),
            ms(s.max),
            bad
        );
    }
    Ok(())
}
