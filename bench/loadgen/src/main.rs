//! Load generator and baselines for eventlog's benchmarks (see bench/README.md).

mod db;
mod events;
mod http;
mod query;
mod stats;

use anyhow::Result;
use clap::{Parser, Subcommand};

/// eventlog's load generator and baselines.
#[derive(Parser)]
#[command(name = "eventlog-loadgen", version)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Sustained ingest through the HTTP batch API.
    Http(http::HttpArgs),
    /// The seeds' way: one INSERT and one commit per event into the seed 002 table.
    BaselineInsert(db::BaselineArgs),
    /// The ceiling: eventlog's own table filled by one COPY per chunk, nothing else.
    RawCopy(db::RawCopyArgs),
    /// Fills a store fast (for query benchmarks).
    Fill(db::FillArgs),
    /// Query latencies through the HTTP API.
    Query(query::QueryArgs),
    /// Prints a few generated events (to inspect the generator) and their average size.
    Sample {
        /// How many events to print.
        #[arg(long, default_value_t = 3)]
        count: usize,
        /// How many events to measure the average size over.
        #[arg(long, default_value_t = 100_000)]
        measure: usize,
        /// Seed of the generator.
        #[arg(long, default_value_t = 1)]
        seed: u64,
    },
}

fn main() -> Result<()> {
    let cli = Cli::parse();
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?;
    match cli.command {
        Command::Http(a) => rt.block_on(http::run(a)),
        Command::BaselineInsert(a) => rt.block_on(db::baseline_insert(a)),
        Command::RawCopy(a) => rt.block_on(db::raw_copy(a)),
        Command::Fill(a) => rt.block_on(db::fill(a)),
        Command::Query(a) => rt.block_on(query::run(a)),
        Command::Sample {
            count,
            measure,
            seed,
        } => {
            let mut gen = events::Generator::new(events::GenOptions {
                seed,
                ..Default::default()
            });
            for _ in 0..count {
                println!("{}", serde_json::to_string_pretty(&gen.next_value())?);
            }
            let mut total = 0usize;
            let mut min = usize::MAX;
            let mut max = 0;
            let t = std::time::Instant::now();
            for _ in 0..measure {
                let n = gen.next_json().len();
                total += n;
                min = min.min(n);
                max = max.max(n);
            }
            println!(
                "{{\"sample_events\":{measure},\"avg_bytes\":{:.0},\"min_bytes\":{min},\"max_bytes\":{max},\"gen_us_per_event\":{:.2}}}",
                total as f64 / measure as f64,
                t.elapsed().as_secs_f64() * 1e6 / measure as f64
            );
            Ok(())
        }
    }
}
