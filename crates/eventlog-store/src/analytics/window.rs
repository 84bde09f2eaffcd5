//! Time windows and how a window is covered by rollup buckets: whole days from the daily
//! table, whole hours at the edges from the hourly one, minutes at the very edges from the
//! minute one. A 30-day window thus reads about 30 + 2·23 + 2·59 rows per value instead of
//! 43,200.

use chrono::{DateTime, Utc};
use serde::Serialize;
use utoipa::ToSchema;

use super::rollup::Grain;

/// A half-open time window `[since, until)`, aligned to whole buckets of some grain.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, ToSchema)]
pub struct Window {
    /// Start (inclusive).
    pub since: DateTime<Utc>,
    /// End (exclusive).
    pub until: DateTime<Utc>,
}

impl Window {
    /// The window `[since, until)` widened to whole buckets of `grain`.
    pub fn aligned(since: DateTime<Utc>, until: DateTime<Utc>, grain: Grain) -> Self {
        Self {
            since: grain.floor(since),
            until: grain.ceil(until).max(grain.floor(since)),
        }
    }

    /// Length in minutes (at least 1, for rates).
    pub fn minutes(&self) -> i64 {
        (self.until - self.since).num_minutes().max(1)
    }
}

/// One stretch of a window read from one grain's table.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct GrainRange {
    /// Which table.
    pub grain: Grain,
    /// First bucket start (inclusive).
    pub from: DateTime<Utc>,
    /// Last bucket end (exclusive).
    pub to: DateTime<Utc>,
}

/// Covers `window` (aligned to `finest`) with the fewest buckets: days inside, hours at
/// the edges, and minutes at the very edges when `finest` is [`Grain::Minute`].
pub fn cover(window: Window, finest: Grain) -> Vec<GrainRange> {
    let mut out = Vec::new();
    split(window.since, window.until, Grain::Day, finest, &mut out);
    out
}

fn split(
    from: DateTime<Utc>,
    to: DateTime<Utc>,
    grain: Grain,
    finest: Grain,
    out: &mut Vec<GrainRange>,
) {
    if from >= to {
        return;
    }
    if grain == finest {
        out.push(GrainRange { grain, from, to });
        return;
    }
    let finer = match grain {
        Grain::Day => Grain::Hour,
        _ => Grain::Minute,
    };
    let (inner_from, inner_to) = (grain.ceil(from), grain.floor(to));
    if inner_from < inner_to {
        split(from, inner_from, finer, finest, out);
        out.push(GrainRange {
            grain,
            from: inner_from,
            to: inner_to,
        });
        split(inner_to, to, finer, finest, out);
    } else {
        split(from, to, finer, finest, out);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(s: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc)
    }

    #[test]
    fn covers_days_inside_hours_and_minutes_at_the_edges_without_gaps() {
        let w = Window::aligned(
            t("2025-06-17T22:58:10Z"),
            t("2025-06-20T01:02:00Z"),
            Grain::Minute,
        );
        let ranges = cover(w, Grain::Minute);
        let grains: Vec<_> = ranges.iter().map(|r| r.grain.as_str()).collect();
        assert_eq!(grains, ["minute", "hour", "day", "hour", "minute"]);
        assert_eq!(ranges[0].from, t("2025-06-17T22:58:00Z"));
        assert_eq!(ranges[2].from, t("2025-06-18T00:00:00Z"));
        assert_eq!(ranges[2].to, t("2025-06-20T00:00:00Z"));
        for pair in ranges.windows(2) {
            assert_eq!(pair[0].to, pair[1].from, "contiguous");
        }
        assert_eq!(ranges.last().unwrap().to, t("2025-06-20T01:02:00Z"));
    }

    #[test]
    fn a_short_window_is_minutes_only_and_hour_windows_never_use_minutes() {
        let w = Window::aligned(
            t("2025-06-17T10:05:00Z"),
            t("2025-06-17T10:20:00Z"),
            Grain::Minute,
        );
        assert_eq!(cover(w, Grain::Minute).len(), 1);
        let w = Window::aligned(
            t("2025-06-17T10:05:00Z"),
            t("2025-06-18T10:20:00Z"),
            Grain::Hour,
        );
        assert!(cover(w, Grain::Hour)
            .iter()
            .all(|r| r.grain != Grain::Minute));
        assert_eq!(w.since, t("2025-06-17T10:00:00Z"));
        assert_eq!(w.until, t("2025-06-18T11:00:00Z"));
    }
}
