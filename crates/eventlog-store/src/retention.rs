//! What retention asks of a store: which events have expired (grouped per day, severity
//! and category), the expired events of one day in storage order, deleting exactly the
//! events that were archived, and (PostgreSQL) dropping a partition whose every row was.
//!
//! The policy itself (days per severity and category) lives in the server; here it is
//! already turned into an [`Expiry`]: a list of rules, each one severity, a category
//! selection and a cutoff time.

use chrono::{DateTime, Utc};
use eventlog_core::integrity::Hash;
use eventlog_core::StoredEvent;
use sqlx::QueryBuilder;

/// Which categories a rule covers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CategoryMatch {
    /// Exactly this category (a per-category override).
    Only(String),
    /// Every category except these (the severity's default, minus overridden categories).
    AllBut(Vec<String>),
}

/// Events of `severity` in the categories of `categories` older than `cutoff` expire.
#[derive(Debug, Clone, PartialEq)]
pub struct ExpiryRule {
    /// Upper-case severity.
    pub severity: String,
    /// The categories covered.
    pub categories: CategoryMatch,
    /// Events with a timestamp before this have expired.
    pub cutoff: DateTime<Utc>,
}

/// The whole policy at one instant. Rules never overlap: for each severity there is one
/// default rule (`AllBut` the overridden categories) and one rule per override.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Expiry {
    /// The rules.
    pub rules: Vec<ExpiryRule>,
    /// Only events chained at or before this position (the last signed checkpoint), so
    /// every deleted event lies in a signed segment; `None`: any position.
    pub max_chain_pos: Option<i64>,
    /// Only events at or after this time (archiving ahead reads the days not archived yet).
    pub not_before: Option<DateTime<Utc>>,
}

impl Expiry {
    /// The index of the rule an event of `severity` and `category` falls under.
    pub fn rule_for(&self, severity: &str, category: &str) -> Option<usize> {
        self.rules.iter().position(|r| {
            r.severity == severity
                && match &r.categories {
                    CategoryMatch::Only(c) => c == category,
                    CategoryMatch::AllBut(excluded) => !excluded.iter().any(|c| c == category),
                }
        })
    }

    /// Appends ` AND (<rule> OR <rule> ...)` with bound values; `bind_time` binds a time
    /// in the backend's encoding.
    pub(crate) fn push_where<'a, DB>(
        &self,
        qb: &mut QueryBuilder<'a, DB>,
        bind_time: impl Fn(&mut QueryBuilder<'a, DB>, DateTime<Utc>),
    ) where
        DB: sqlx::Database,
        String: sqlx::Encode<'a, DB> + sqlx::Type<DB>,
        i64: sqlx::Encode<'a, DB> + sqlx::Type<DB>,
    {
        if self.rules.is_empty() {
            qb.push(" AND FALSE");
            return;
        }
        qb.push(" AND (");
        for (i, rule) in self.rules.iter().enumerate() {
            if i > 0 {
                qb.push(" OR ");
            }
            qb.push("(severity = ").push_bind(rule.severity.clone());
            match &rule.categories {
                CategoryMatch::Only(c) => {
                    qb.push(" AND event_category = ").push_bind(c.clone());
                }
                CategoryMatch::AllBut(excluded) if !excluded.is_empty() => {
                    qb.push(" AND event_category NOT IN (");
                    let mut sep = qb.separated(", ");
                    for c in excluded {
                        sep.push_bind(c.clone());
                    }
                    sep.push_unseparated(")");
                }
                CategoryMatch::AllBut(_) => {}
            }
            qb.push(" AND \"timestamp\" < ");
            bind_time(qb, rule.cutoff);
            qb.push(")");
        }
        qb.push(")");
        if let Some(start) = self.not_before {
            qb.push(" AND \"timestamp\" >= ");
            bind_time(qb, start);
        }
        if let Some(max) = self.max_chain_pos {
            qb.push(" AND (chain_pos IS NULL OR chain_pos <= ")
                .push_bind(max)
                .push(")");
        }
    }
}

/// Expired events of one UTC day, severity and category.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExpiredGroup {
    /// Start of the UTC day.
    pub day: DateTime<Utc>,
    /// Severity.
    pub severity: String,
    /// Category.
    pub category: String,
    /// How many.
    pub count: i64,
    /// The highest storage sequence number among them. Commits are serialised and each
    /// takes higher numbers than the last, so a day whose count and highest `seq` are what
    /// an archive recorded holds exactly the archived rows.
    pub max_seq: i64,
}

/// One expired event, with what retention needs besides its content.
#[derive(Debug, Clone)]
pub struct ExpiredEvent {
    /// Storage sequence (what deletion names).
    pub seq: i64,
    /// Chain position, if the event is chained.
    pub chain_pos: Option<i64>,
    /// Stored record hash (for the pruning record's leaf sum).
    pub record_hash: Option<Hash>,
    /// The partition holding it (PostgreSQL), e.g. `events_p2025_06`.
    pub partition: Option<String>,
    /// The event.
    pub event: StoredEvent,
}

/// Rows retention reads and deletes per statement.
pub const RETENTION_PAGE: u32 = 5_000;
