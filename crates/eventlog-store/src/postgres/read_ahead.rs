//! Reading an export's rows into the page cache ahead of it. The export walks the time
//! index newest first, so it reads the heap from the end of each partition backwards, one
//! 8 KiB page at a time, and the kernel reads ahead only forwards: on a store the page cache
//! did not hold, a 10M export ran at 160,000 events/s against 233,000 once the heap was
//! cached (bench/README.md, "Export"). A second connection reads the next time slices of
//! the export's range with a plain count, which PostgreSQL runs in page order (a bitmap or
//! sequential scan), a few slices ahead of the export and no further, and stops with it.

use std::sync::atomic::{AtomicBool, AtomicI64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, TimeDelta, Utc};
use sqlx::PgPool;

/// Rows a slice should hold; its width in time is adjusted to the density met so far.
const SLICE_ROWS: i64 = 100_000;
/// The first slice's width, before any density is known.
const FIRST_SLICE: TimeDelta = TimeDelta::hours(1);
/// Slices read before the export reaches them.
const SLICES_AHEAD: usize = 2;
/// How often a read ahead that is far enough checks the export's position.
const POLL: Duration = Duration::from_millis(20);

/// The export's side: reports how far it got; dropping it stops the reading ahead.
pub(super) struct ReadAhead {
    state: Arc<State>,
}

struct State {
    /// Timestamp (µs) of the last row the export fetched; `i64::MAX` before the first.
    position: AtomicI64,
    stopped: AtomicBool,
}

impl ReadAhead {
    /// Starts reading ahead over `[since, until)` on a connection of `pool`.
    pub(super) fn start(
        pool: PgPool,
        since: Option<DateTime<Utc>>,
        until: Option<DateTime<Utc>>,
    ) -> Self {
        let state = Arc::new(State {
            position: AtomicI64::new(i64::MAX),
            stopped: AtomicBool::new(false),
        });
        let reader = Arc::clone(&state);
        tokio::spawn(async move {
            if let Err(e) = read_ahead(&pool, since, until, &reader).await {
                // Only a loss of speed: the export reads the rows itself.
                tracing::debug!(error = %e, "export read-ahead stopped");
            }
        });
        Self { state }
    }

    /// The export has read every row newer than `timestamp`.
    pub(super) fn reached(&self, timestamp: DateTime<Utc>) {
        self.state
            .position
            .store(timestamp.timestamp_micros(), Ordering::Relaxed);
    }
}

impl Drop for ReadAhead {
    fn drop(&mut self) {
        self.state.stopped.store(true, Ordering::Relaxed);
    }
}

async fn read_ahead(
    pool: &PgPool,
    since: Option<DateTime<Utc>>,
    until: Option<DateTime<Utc>>,
    state: &State,
) -> Result<(), sqlx::Error> {
    let (oldest, newest): (Option<DateTime<Utc>>, Option<DateTime<Utc>>) = sqlx::query_as(
        "SELECT min(\"timestamp\"), max(\"timestamp\") FROM events \
         WHERE ($1::timestamptz IS NULL OR \"timestamp\" >= $1) \
         AND ($2::timestamptz IS NULL OR \"timestamp\" < $2)",
    )
    .bind(since)
    .bind(until)
    .fetch_one(pool)
    .await?;
    let (Some(oldest), Some(newest)) = (oldest, newest) else {
        return Ok(());
    };
    let mut upper = newest + TimeDelta::microseconds(1);
    let mut width = FIRST_SLICE;
    // Lower bounds of the slices read so far, newest first.
    let mut read: Vec<DateTime<Utc>> = Vec::new();
    while upper > oldest {
        // Wait until the export has entered the slice `SLICES_AHEAD` back.
        if let Some(bound) = read.len().checked_sub(SLICES_AHEAD).map(|k| read[k]) {
            loop {
                if state.stopped.load(Ordering::Relaxed) {
                    return Ok(());
                }
                if state.position.load(Ordering::Relaxed) < bound.timestamp_micros() {
                    break;
                }
                tokio::time::sleep(POLL).await;
            }
        }
        if state.stopped.load(Ordering::Relaxed) {
            return Ok(());
        }
        let lower = (upper - width).max(oldest);
        let rows: i64 = sqlx::query_scalar(
            "SELECT count(payload) FROM events WHERE \"timestamp\" >= $1 AND \"timestamp\" < $2",
        )
        .bind(lower)
        .bind(upper)
        .fetch_one(pool)
        .await?;
        read.push(lower);
        upper = lower;
        // Aim the next slice at `SLICE_ROWS` rows at the density just met.
        let scale = if rows > 0 {
            SLICE_ROWS as f64 / rows as f64
        } else {
            4.0
        };
        let micros = (width.num_microseconds().unwrap_or(i64::MAX) as f64 * scale.min(4.0))
            .clamp(60e6, 7.0 * 86_400e6);
        width = TimeDelta::microseconds(micros as i64);
    }
    Ok(())
}
