//! Reading an export's rows into the page cache ahead of it. An export walks the time index
//! newest first, so it reads the table from the end of its file (SQLite) or of each
//! partition (PostgreSQL) backwards, one page at a time, and the kernel reads ahead only
//! forwards: on a store the page cache did not hold, a 10M export ran at a third to two
//! thirds of its warm speed (bench/README.md, "Export"). A second connection counts the rows
//! of the next time slices of the export's range, which the database reads in page order,
//! a few slices ahead of the export and no further, and stops with it. It reads through the
//! database, not the files: on SQLite, closing a file handle of our own on the database
//! would drop the locks SQLite holds on it.

use std::sync::atomic::{AtomicBool, AtomicI64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use chrono::{DateTime, TimeDelta, Utc};

use crate::query::RecentQuery;
use crate::StoreError;

/// Rows a slice should hold; its width in time is adjusted to the density met so far.
const SLICE_ROWS: i64 = 100_000;
/// The first slice's width, before any density is known.
const FIRST_SLICE: TimeDelta = TimeDelta::hours(1);
/// Slices read before the export reaches them.
const SLICES_AHEAD: usize = 2;
/// How often a read ahead that is far enough checks the export's position.
const POLL: Duration = Duration::from_millis(20);

/// What a store does for the read-ahead.
#[async_trait]
pub(crate) trait SliceReader: Send + Sync + 'static {
    /// The oldest and newest event times in `[since, until)`, if any.
    async fn time_range(
        &self,
        since: Option<DateTime<Utc>>,
        until: Option<DateTime<Utc>>,
    ) -> Result<Option<(DateTime<Utc>, DateTime<Utc>)>, StoreError>;
    /// Reads the rows of `[lower, upper)` in page order; returns how many there are.
    async fn read_slice(
        &self,
        lower: DateTime<Utc>,
        upper: DateTime<Utc>,
    ) -> Result<i64, StoreError>;
}

/// The export's side: reports how far it got; dropping it stops the reading ahead.
pub(crate) struct ReadAhead {
    state: Arc<State>,
}

struct State {
    /// Timestamp (µs) of the last row the export read; `i64::MAX` before the first.
    position: AtomicI64,
    stopped: AtomicBool,
}

impl ReadAhead {
    /// Starts reading ahead of an export of `q`'s events with `reader`, on a task of its
    /// own: over `q`'s time range, and nothing newer than its cursor.
    pub(crate) fn start(reader: impl SliceReader, q: &RecentQuery) -> Self {
        let after_cursor = q
            .cursor
            .and_then(|c| DateTime::from_timestamp_micros(c.ts_micros.saturating_add(1)));
        let until = match (q.until, after_cursor) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        };
        let since = q.since;
        let state = Arc::new(State {
            position: AtomicI64::new(i64::MAX),
            stopped: AtomicBool::new(false),
        });
        let shared = Arc::clone(&state);
        tokio::spawn(async move {
            if let Err(e) = read_ahead(&reader, since, until, &shared).await {
                // Only a loss of speed: the export reads the rows itself.
                tracing::debug!(error = %e, "export read-ahead stopped");
            }
        });
        Self { state }
    }

    /// The export has read every row newer than `timestamp`.
    pub(crate) fn reached(&self, timestamp: DateTime<Utc>) {
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
    reader: &impl SliceReader,
    since: Option<DateTime<Utc>>,
    until: Option<DateTime<Utc>>,
    state: &State,
) -> Result<(), StoreError> {
    let Some((oldest, newest)) = reader.time_range(since, until).await? else {
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
        // Nothing the export has passed already.
        let position = state.position.load(Ordering::Relaxed);
        if let Some(at) = DateTime::from_timestamp_micros(position.saturating_add(1)) {
            upper = upper.min(at);
        }
        if upper <= oldest {
            break;
        }
        let lower = (upper - width).max(oldest);
        let rows = reader.read_slice(lower, upper).await?;
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

#[cfg(test)]
mod tests {
    use std::sync::Mutex;

    use super::*;

    /// A slice read: `[lower, upper)`.
    type Slice = (DateTime<Utc>, DateTime<Utc>);

    /// Records the slices asked for; every slice holds `SLICE_ROWS` rows, so each is an hour.
    #[derive(Clone)]
    struct Recorder {
        start: DateTime<Utc>,
        slices: Arc<Mutex<Vec<Slice>>>,
    }

    #[async_trait]
    impl SliceReader for Recorder {
        async fn time_range(
            &self,
            _since: Option<DateTime<Utc>>,
            _until: Option<DateTime<Utc>>,
        ) -> Result<Option<(DateTime<Utc>, DateTime<Utc>)>, StoreError> {
            Ok(Some((self.start, self.start + TimeDelta::hours(10))))
        }

        async fn read_slice(
            &self,
            lower: DateTime<Utc>,
            upper: DateTime<Utc>,
        ) -> Result<i64, StoreError> {
            self.slices.lock().unwrap().push((lower, upper));
            Ok(SLICE_ROWS)
        }
    }

    async fn settle() {
        tokio::time::sleep(Duration::from_millis(400)).await;
    }

    #[tokio::test]
    async fn reads_two_slices_ahead_of_the_export_skips_what_it_passed_and_stops_with_it() {
        let start = DateTime::from_timestamp(1_700_000_000, 0).unwrap();
        let at = |hours: i64, minutes: i64| {
            start + TimeDelta::hours(hours) + TimeDelta::minutes(minutes)
        };
        let recorder = Recorder {
            start,
            slices: Arc::default(),
        };
        let slices = || recorder.slices.lock().unwrap().clone();
        let lowers = || slices().iter().map(|(lower, _)| *lower).collect::<Vec<_>>();

        // Slices end one microsecond after an event time: the newest event is in the first.
        let e = TimeDelta::microseconds(1);
        let read_ahead = ReadAhead::start(recorder.clone(), &RecentQuery::default());
        settle().await;
        assert_eq!(
            lowers(),
            [at(9, 0) + e, at(8, 0) + e],
            "two slices before the export starts"
        );

        // Still in the newest slice: nothing more.
        read_ahead.reached(at(9, 30));
        settle().await;
        assert_eq!(slices().len(), 2);

        // Into the second slice: one more, still two ahead.
        read_ahead.reached(at(8, 59));
        settle().await;
        assert_eq!(lowers(), [at(9, 0) + e, at(8, 0) + e, at(7, 0) + e]);

        // The export jumped ahead (a selective filter): what it passed is not read.
        read_ahead.reached(at(2, 0));
        settle().await;
        assert_eq!(
            slices()[3..],
            [(at(1, 0) + e, at(2, 0) + e), (at(0, 0) + e, at(1, 0) + e)]
        );

        // The last slice reaches the oldest event, and then it is done.
        read_ahead.reached(at(0, 30));
        settle().await;
        assert_eq!(slices()[5..], [(at(0, 0), at(0, 0) + e)]);
        read_ahead.reached(at(0, 0));
        settle().await;
        assert_eq!(slices().len(), 6);

        // Dropped with the export: it stops waiting and reads nothing more.
        let other = Recorder {
            start,
            slices: Arc::default(),
        };
        let read_ahead = ReadAhead::start(other.clone(), &RecentQuery::default());
        settle().await;
        drop(read_ahead);
        settle().await;
        assert_eq!(other.slices.lock().unwrap().len(), 2);
    }
}
