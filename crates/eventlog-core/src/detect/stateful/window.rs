//! Counting events of one key inside a sliding time window, in bounded space.

use std::collections::VecDeque;

use chrono::{DateTime, Duration, Utc};

/// The times of the most recent events of one key, at most `limit` of them (that is all
/// a threshold of `limit` needs), and when this key last raised an alert.
#[derive(Debug, Default)]
pub(super) struct Window {
    times: VecDeque<DateTime<Utc>>,
    last_alert: Option<DateTime<Utc>>,
}

impl Window {
    /// Records an event at `at`; returns how many events fall in `span` up to `at`.
    pub(super) fn record(&mut self, at: DateTime<Utc>, span: Duration, limit: usize) -> usize {
        self.times.push_back(at);
        while self.times.len() > limit.max(1) {
            self.times.pop_front();
        }
        let start = at - span;
        self.times
            .iter()
            .filter(|t| **t > start && **t <= at)
            .count()
    }

    /// Whether an alert may be raised at `at`: none was raised within `span` before, so one
    /// sustained attack raises one alert per window, not one per attempt.
    pub(super) fn may_alert(&mut self, at: DateTime<Utc>, span: Duration) -> bool {
        match self.last_alert {
            Some(last) if at >= last && at - last < span => false,
            _ => {
                self.last_alert = Some(at);
                true
            }
        }
    }

    /// Marks an alert as raised at `at` without checking (a related alert covered it).
    pub(super) fn mark_alerted(&mut self, at: DateTime<Utc>) {
        self.last_alert = Some(at);
    }
}
