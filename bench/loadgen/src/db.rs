//! Store-level benchmarks: the seeds' baseline, the raw-COPY ceiling, and fast fills.

use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use chrono::Utc;
use clap::Args;
use eventlog_core::ValidatedEvent;
use sqlx::{Connection, Executor, PgConnection};

use crate::events::{validated_chunks, GenOptions, Generator};

/// `url` with its database name replaced by `db` (query string kept).
pub fn with_database(url: &str, db: &str) -> Result<String> {
    let scheme_end = url.find("://").context("a postgres:// URL")? + 3;
    let (base, query) = match url.find('?') {
        Some(q) => (&url[..q], &url[q..]),
        None => (url, ""),
    };
    let host_end = base[scheme_end..]
        .find('/')
        .map_or(base.len(), |i| scheme_end + i);
    Ok(format!("{}/{db}{query}", &base[..host_end]))
}

/// The database name of a postgres URL, if it has one.
fn database_of(url: &str) -> Option<String> {
    let scheme_end = url.find("://")? + 3;
    let base = url.split('?').next()?;
    let slash = base[scheme_end..].find('/')? + scheme_end;
    let name = &base[slash + 1..];
    (!name.is_empty()).then(|| name.to_owned())
}

/// A connection to the server's maintenance database (for CREATE/DROP DATABASE).
async fn admin_conn(url: &str) -> Result<PgConnection> {
    let admin = with_database(url, "postgres")?;
    PgConnection::connect(&admin)
        .await
        .with_context(|| format!("connecting to {}", eventlog_store::redact_url(&admin)))
}

/// Creates database `name` unless it exists; returns whether it was created.
async fn create_database(url: &str, name: &str) -> Result<bool> {
    let mut conn = admin_conn(url).await?;
    let exists: bool =
        sqlx::query_scalar("SELECT EXISTS (SELECT 1 FROM pg_database WHERE datname = $1)")
            .bind(name)
            .fetch_one(&mut conn)
            .await?;
    if !exists {
        check_ident(name)?;
        conn.execute(format!("CREATE DATABASE \"{name}\"").as_str())
            .await?;
    }
    conn.close().await?;
    Ok(!exists)
}

async fn drop_database(url: &str, name: &str) -> Result<()> {
    check_ident(name)?;
    let mut conn = admin_conn(url).await?;
    conn.execute(format!("DROP DATABASE IF EXISTS \"{name}\" WITH (FORCE)").as_str())
        .await?;
    conn.close().await?;
    Ok(())
}

fn check_ident(name: &str) -> Result<()> {
    if name.is_empty()
        || !name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
    {
        bail!("unsupported database name `{name}`");
    }
    Ok(())
}

/// Bytes on disk of eventlog's `events` (all partitions, indexes and TOAST included).
pub async fn pg_events_bytes(pool: &sqlx::PgPool) -> Result<i64> {
    Ok(sqlx::query_scalar(
        "SELECT COALESCE(SUM(pg_total_relation_size(inhrelid)), 0)::bigint \
         FROM pg_inherits WHERE inhparent = 'events'::regclass",
    )
    .fetch_one(pool)
    .await?)
}

// ---------------------------------------------------------------------------------------
// baseline-insert

/// Options of `baseline-insert`.
#[derive(Args, Debug)]
pub struct BaselineArgs {
    /// PostgreSQL URL (the schema is created in this database and dropped at the end).
    #[arg(long)]
    database: String,
    /// Events to insert.
    #[arg(long, default_value_t = 20_000)]
    events: u64,
    /// Seed of the event generator.
    #[arg(long, default_value_t = 2)]
    seed: u64,
}

/// The seed 002 table and its six indexes, verbatim.
const SEED_002_DDL: &[&str] = &[
    "CREATE TABLE events (
    id SERIAL PRIMARY KEY,
    event_id VARCHAR(50) UNIQUE NOT NULL,
    event_category VARCHAR(20) NOT NULL,
    event_type VARCHAR(50) NOT NULL,
    event_name VARCHAR(100) NOT NULL,
    event_description TEXT,
    user_id INTEGER,
    username VARCHAR(50),
    user_role VARCHAR(20),
    ip_address INET,
    user_agent TEXT,
    session_id VARCHAR(100),
    resource_type VARCHAR(50),
    resource_id VARCHAR(50),
    resource_name VARCHAR(200),
    action VARCHAR(50) NOT NULL,
    status VARCHAR(20) NOT NULL,
    http_method VARCHAR(10),
    endpoint VARCHAR(200),
    request_data JSONB,
    response_data JSONB,
    error_message TEXT,
    error_code VARCHAR(20),
    processing_time_ms INTEGER,
    timestamp TIMESTAMP WITH TIME ZONE DEFAULT CURRENT_TIMESTAMP,
    metadata JSONB,
    tags TEXT[],
    severity VARCHAR(20) DEFAULT 'INFO',
    created_at TIMESTAMP WITH TIME ZONE DEFAULT CURRENT_TIMESTAMP,
    updated_at TIMESTAMP WITH TIME ZONE DEFAULT CURRENT_TIMESTAMP
)",
    "CREATE INDEX idx_events_category ON events(event_category)",
    "CREATE INDEX idx_events_type ON events(event_type)",
    "CREATE INDEX idx_events_user_id ON events(user_id)",
    "CREATE INDEX idx_events_timestamp ON events(timestamp)",
    "CREATE INDEX idx_events_status ON events(status)",
    "CREATE INDEX idx_events_severity ON events(severity)",
];

const SEED_INSERT: &str = "INSERT INTO events (event_id, event_category, event_type, event_name, \
    event_description, user_id, username, user_role, ip_address, user_agent, session_id, \
    resource_type, resource_id, resource_name, action, status, http_method, endpoint, \
    request_data, response_data, error_message, error_code, processing_time_ms, timestamp, \
    metadata, tags, severity) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9::inet, $10, $11, $12, \
    $13, $14, $15, $16, $17, $18, $19, $20, $21, $22, $23, $24, $25, $26, $27)";

/// Runs `baseline-insert`.
pub async fn baseline_insert(args: BaselineArgs) -> Result<()> {
    let schema = format!("seed_baseline_{}", std::process::id());
    // Generate and validate up front (validation fills in the catalog defaults the seed's
    // client would have set itself); give every event an id, as the seed's client does.
    let mut gen = Generator::new(GenOptions {
        seed: args.seed,
        id_fraction: 1.0,
        ..Default::default()
    });
    let validator =
        eventlog_core::Validator::new(Default::default(), eventlog_core::Catalog::built_in());
    let now = Utc::now();
    let events: Vec<ValidatedEvent> = (0..args.events)
        .map(|_| {
            let raw = eventlog_core::parse_event(gen.next_json().as_bytes())
                .expect("generated events parse");
            validator
                .validate(raw, now)
                .expect("generated events are valid")
        })
        .collect();

    let mut conn = PgConnection::connect(&args.database)
        .await
        .context("connecting to PostgreSQL")?;
    conn.execute(format!("CREATE SCHEMA {schema}").as_str())
        .await?;
    let result = async {
        conn.execute(format!("SET search_path TO {schema}").as_str())
            .await?;
        for ddl in SEED_002_DDL {
            conn.execute(*ddl).await?;
        }
        let start = Instant::now();
        for e in &events {
            let r = e.record();
            // One statement in autocommit mode: one INSERT, one commit, like the seeds.
            sqlx::query(SEED_INSERT)
                .bind(&r.event_id)
                .bind(&r.event_category)
                .bind(&r.event_type)
                .bind(&r.event_name)
                .bind(&r.event_description)
                .bind(r.user_id.as_deref().and_then(|u| u.parse::<i32>().ok()))
                .bind(&r.username)
                .bind(&r.user_role)
                .bind(r.ip_address.map(|ip| ip.to_string()))
                .bind(&r.user_agent)
                .bind(&r.session_id)
                .bind(&r.resource_type)
                .bind(&r.resource_id)
                .bind(&r.resource_name)
                .bind(&r.action)
                .bind(&r.status)
                .bind(&r.http_method)
                .bind(&r.endpoint)
                .bind(&r.request_data)
                .bind(&r.response_data)
                .bind(&r.error_message)
                .bind(&r.error_code)
                .bind(r.processing_time_ms.map(|ms| ms.round() as i32))
                .bind(r.timestamp)
                .bind(&r.metadata)
                .bind(&r.tags)
                .bind(r.severity.as_str())
                .execute(&mut conn)
                .await?;
        }
        let elapsed = start.elapsed();
        let rows: i64 = sqlx::query_scalar("SELECT count(*) FROM events")
            .fetch_one(&mut conn)
            .await?;
        conn.execute("CHECKPOINT").await.ok();
        let bytes: i64 = sqlx::query_scalar("SELECT pg_total_relation_size('events')")
            .fetch_one(&mut conn)
            .await?;
        report_store_bench("baseline-insert", rows as u64, elapsed, bytes);
        anyhow::Ok(())
    }
    .await;
    conn.execute(format!("DROP SCHEMA {schema} CASCADE").as_str())
        .await?;
    result
}

fn report_store_bench(name: &str, rows: u64, elapsed: Duration, bytes: i64) {
    let rate = rows as f64 / elapsed.as_secs_f64();
    let per = bytes as f64 / rows.max(1) as f64;
    println!(
        "{{\"bench\":\"{name}\",\"events\":{rows},\"elapsed_s\":{:.3},\"events_per_s\":{rate:.0},\"bytes_on_disk\":{bytes},\"bytes_per_event\":{per:.0}}}",
        elapsed.as_secs_f64()
    );
    println!(
        "--- {name}: {rows} events in {:.1} s = {rate:.0} events/s; {per:.0} bytes/event on disk (table + indexes) ---",
        elapsed.as_secs_f64()
    );
}

// ---------------------------------------------------------------------------------------
// raw-copy

/// Options of `raw-copy`.
#[derive(Args, Debug)]
pub struct RawCopyArgs {
    /// PostgreSQL URL of the server (a fresh database is created on it and dropped).
    #[arg(long)]
    database: String,
    /// Events to load.
    #[arg(long, default_value_t = 200_000)]
    events: u64,
    /// Events per COPY.
    #[arg(long, default_value_t = 1000)]
    chunk: usize,
    /// Seed of the event generator.
    #[arg(long, default_value_t = 3)]
    seed: u64,
    /// Drop this index of eventlog's schema before loading, to measure what it costs
    /// (repeatable; e.g. events_user_timestamp).
    #[arg(long = "without-index")]
    without_index: Vec<String>,
}

/// Runs `raw-copy`.
pub async fn raw_copy(args: RawCopyArgs) -> Result<()> {
    let name = format!("eventlog_rawcopy_{}", std::process::id());
    let url = with_database(&args.database, &name)?;
    // Generate and validate everything before the clock starts.
    let rx = validated_chunks(
        GenOptions {
            seed: args.seed,
            ..Default::default()
        },
        args.events,
        args.chunk,
        (args.events as usize).div_ceil(args.chunk.max(1)) + 1,
    );
    let chunks: Vec<Vec<ValidatedEvent>> = rx.iter().map(|(c, _)| c).collect();
    create_database(&args.database, &name).await?;
    let result = async {
        let store = eventlog_store::PgStore::open(&url).await?;
        eventlog_store::Store::migrate(&store).await?;
        for index in &args.without_index {
            // An identifier cannot be a bind parameter; accept only plain names.
            anyhow::ensure!(
                !index.is_empty() && index.chars().all(|c| c.is_ascii_alphanumeric() || c == '_'),
                "--without-index takes an index name such as events_user_timestamp"
            );
            sqlx::query(&format!("DROP INDEX {index}"))
                .execute(store.pool())
                .await?;
            println!("(loading without index {index})");
        }
        let start = Instant::now();
        let mut rows = 0;
        for chunk in &chunks {
            rows += store.copy_raw(chunk).await?;
        }
        let elapsed = start.elapsed();
        sqlx::query("CHECKPOINT").execute(store.pool()).await.ok();
        let bytes = pg_events_bytes(store.pool()).await?;
        report_store_bench("raw-copy", rows, elapsed, bytes);
        store.pool().close().await;
        anyhow::Ok(())
    }
    .await;
    drop_database(&args.database, &name).await?;
    result
}

// ---------------------------------------------------------------------------------------
// fill

/// Options of `fill`.
#[derive(Args, Debug)]
pub struct FillArgs {
    /// Store URL: sqlite://PATH or postgres://... (the database is created if missing).
    #[arg(long)]
    database: String,
    /// Events to write.
    #[arg(long, default_value_t = 10_000_000)]
    events: u64,
    /// Spread timestamps over this many days before now.
    #[arg(long, default_value_t = 30)]
    spread_days: u32,
    /// End the spread this many days before now (e.g. to fill a month retention expired).
    #[arg(long, default_value_t = 0)]
    end_days_ago: u32,
    /// Events per write (one transaction each).
    #[arg(long, default_value_t = 10_000)]
    chunk: usize,
    /// Seed of the event generator.
    #[arg(long, default_value_t = 4)]
    seed: u64,
    /// Generator threads (generation and validation run beside the writer).
    #[arg(long, default_value_t = 1)]
    threads: u64,
    /// Write without keeping rollups: the baseline of what rollups cost (the store's
    /// analytics are then wrong until `eventlog rollups rebuild`).
    #[arg(long)]
    no_rollups: bool,
    /// Timestamps rise through the spread as the events are written, as they arrive from
    /// running applications (default: each drawn anywhere in the spread, a back-fill in
    /// random order).
    #[arg(long)]
    arrival_order: bool,
}

/// Runs `fill`.
pub async fn fill(args: FillArgs) -> Result<()> {
    if args.database.starts_with("postgres") {
        let name = database_of(&args.database).context("the postgres URL names no database")?;
        if create_database(&args.database, &name).await? {
            eprintln!("fill: created database {name}");
        }
    }
    let store: std::sync::Arc<dyn eventlog_store::Store> =
        match (args.no_rollups, args.database.strip_prefix("sqlite://")) {
            (false, _) => eventlog_store::open(&args.database).await?,
            (true, Some(path)) => std::sync::Arc::new(
                eventlog_store::SqliteStore::open(path)
                    .await?
                    .without_rollups(),
            ),
            (true, None) => std::sync::Arc::new(
                eventlog_store::PgStore::open(&args.database)
                    .await?
                    .without_rollups(),
            ),
        };
    store.migrate().await?;
    let threads = args.threads.max(1);
    let receivers: Vec<_> = (0..threads)
        .map(|i| {
            let share = args.events / threads + u64::from(i < args.events % threads);
            validated_chunks(
                GenOptions {
                    seed: args.seed.wrapping_mul(1000).wrapping_add(i),
                    spread_days: args.spread_days,
                    end_days_ago: args.end_days_ago,
                    counter_start: (i << 40) | (Utc::now().timestamp() as u64 & 0xff_ffff) << 16,
                    arrival_order: args.arrival_order.then_some(share),
                    ..Default::default()
                },
                share,
                args.chunk,
                4,
            )
        })
        .collect();
    let bar = indicatif::ProgressBar::new(args.events);
    bar.set_style(
        indicatif::ProgressStyle::with_template(
            "{elapsed_precise} [{bar:40}] {pos}/{len} events ({per_sec}, eta {eta})",
        )?
        .progress_chars("=> "),
    );
    let start = Instant::now();
    let mut written = 0u64;
    let mut json_bytes = 0u64;
    let mut live: Vec<_> = receivers.into_iter().map(Some).collect();
    loop {
        let mut any = false;
        for slot in &mut live {
            let Some(rx) = slot else { continue };
            // Receive on a blocking thread so the writer's runtime keeps running.
            let r = tokio::task::block_in_place(|| rx.recv());
            match r {
                Ok((chunk, bytes)) => {
                    any = true;
                    let outcomes = store.write(std::slice::from_ref(&chunk)).await?;
                    for o in outcomes {
                        if let eventlog_store::RequestOutcome::Conflict { event_id, .. } = o {
                            bail!("fill: id conflict on {event_id} (the store already holds these events?)");
                        }
                    }
                    written += chunk.len() as u64;
                    json_bytes += bytes;
                    bar.inc(chunk.len() as u64);
                }
                Err(_) => *slot = None,
            }
        }
        if !any {
            break;
        }
    }
    bar.finish();
    let elapsed = start.elapsed();
    let total = store.count_events().await?;
    println!(
        "{{\"bench\":\"fill\",\"backend\":\"{}\",\"rollups\":{},\"events_written\":{written},\"events_in_store\":{total},\"elapsed_s\":{:.1},\"events_per_s\":{:.0},\"avg_json_bytes\":{:.0}}}",
        store.backend(),
        !args.no_rollups,
        elapsed.as_secs_f64(),
        written as f64 / elapsed.as_secs_f64(),
        json_bytes as f64 / written.max(1) as f64
    );
    Ok(())
}
