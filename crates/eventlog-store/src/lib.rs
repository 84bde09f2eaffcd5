//! Storage for eventlog: one [`Store`] trait, implemented for SQLite (the embedded
//! default) and PostgreSQL (production), with versioned migrations and a start-up schema
//! check that names exactly what differs.
//!
//! What this crate must never do: drop or rewrite stored events (migrations only add), or
//! build SQL by pasting values into strings (every value is a bind parameter or COPY data).

#![deny(unreachable_pub)]

pub mod alerts;
pub mod analytics;
mod error;
pub mod integrity;
mod jsonl;
pub mod keys;
mod payload;
mod postgres;
pub mod query;
mod read_ahead;
pub mod retention;
mod rows;
pub mod schema;
pub mod security;
mod sqlite;
pub mod tls;
pub mod write;

use std::sync::Arc;

use alerts::{Alert, AlertPage, AlertQuery, NewAlert};
use analytics::{ActivityQuery, RollupQuery, RollupRow};
use async_trait::async_trait;
use chrono::{DateTime, Utc};
use eventlog_core::{StoredEvent, ValidatedEvent};

pub use error::StoreError;
pub use integrity::{ChainHead, ChainRow, Checkpoint, PrunedLeaf, Pruning};
pub use keys::{ApiKey, KeyRole, NewApiKey};
pub use postgres::PgStore;
pub use query::{
    codes_in_any_case, Cursor, EventChunks, JsonLines, JsonlChunks, Page, RecentQuery, UserActivity,
};
pub use retention::{CategoryMatch, ExpiredEvent, ExpiredGroup, Expiry, ExpiryRule};
pub use schema::SchemaReport;
pub use security::SecuritySummary;
pub use sqlite::SqliteStore;
pub use write::{RequestOutcome, WriteSummary};

/// Everything eventlog needs from a database. Both backends pass the same test suite.
#[async_trait]
pub trait Store: Send + Sync + 'static {
    /// `sqlite` or `postgres`.
    fn backend(&self) -> &'static str;

    /// Applies pending migrations; returns the descriptions of those applied.
    async fn migrate(&self) -> Result<Vec<String>, StoreError>;

    /// Compares the live schema with what this build expects, without changing anything.
    async fn check_schema(&self) -> Result<SchemaReport, StoreError>;

    /// Whether the database answers.
    async fn ping(&self) -> Result<(), StoreError>;

    /// Writes several requests' events in one transaction (group commit) and returns one
    /// outcome per request, in order. A request whose events conflict with stored ones is
    /// left out entirely (all or nothing per request); the others are committed.
    /// Returns only after the transaction is durable.
    async fn write(
        &self,
        requests: &[Vec<ValidatedEvent>],
    ) -> Result<Vec<RequestOutcome>, StoreError>;

    /// One event by id; `tenant` restricts the lookup to that tenant.
    async fn get_event(
        &self,
        event_id: &str,
        tenant: Option<&str>,
    ) -> Result<Option<StoredEvent>, StoreError>;

    /// Newest events first, filtered, one keyset page at a time.
    async fn recent(&self, query: &RecentQuery) -> Result<Page, StoreError>;

    /// Every event matching `query`, newest first, from its cursor on, in chunks of
    /// `query.limit` events: one statement over one snapshot, read and converted ahead of
    /// the consumer by a few chunks (at most about eight, whatever the size of the export),
    /// planned once. The stream ends after an error. Dropping the stream stops the read.
    fn stream_recent(&self, query: &RecentQuery) -> EventChunks;

    /// [`Store::stream_recent`]'s events as JSON lines, rendered from the stored rows without
    /// building each event (exports).
    fn stream_recent_jsonl(&self, query: &RecentQuery) -> JsonlChunks;

    /// What one user did since `since`.
    async fn user_activity(
        &self,
        user_id: &str,
        since: DateTime<Utc>,
        tenant: Option<&str>,
    ) -> Result<UserActivity, StoreError>;

    /// Stores a new API key (already hashed).
    async fn create_key(&self, key: &NewApiKey) -> Result<ApiKey, StoreError>;

    /// All keys, revoked ones included, oldest first.
    async fn list_keys(&self) -> Result<Vec<ApiKey>, StoreError>;

    /// Revokes the active key called `name`; false if there is none.
    async fn revoke_key(&self, name: &str) -> Result<bool, StoreError>;

    /// The active key with this hash.
    async fn find_key(&self, key_hash: &str) -> Result<Option<ApiKey>, StoreError>;

    /// Number of events stored (for status pages and tests; exact, so not free).
    async fn count_events(&self) -> Result<i64, StoreError>;

    /// Failed logins, attacks, lockouts, offending IPs and escalation attempts since
    /// `since`; `tenant` restricts it to that tenant.
    async fn security_summary(
        &self,
        since: DateTime<Utc>,
        tenant: Option<&str>,
    ) -> Result<SecuritySummary, StoreError>;
    /// Rollup rows summed per dimension and value (and per bucket when asked) over the
    /// ranges of `query`. The query layer ([`analytics::Analytics`]) is the only caller
    /// meant to turn these into numbers.
    async fn rollup_rows(&self, query: &RollupQuery) -> Result<Vec<RollupRow>, StoreError>;
    /// The distinct values of the query's one dimension with events in its ranges (its
    /// `per_bucket` and `measures` are ignored): active users without summing one row per
    /// user and hour.
    async fn rollup_values(&self, query: &RollupQuery) -> Result<Vec<String>, StoreError>;
    /// The first UTC day whose day rollups are not folded yet (`rollup_state.daily_from`):
    /// the day table is complete only before it; later days are read from the hours.
    async fn daily_from(&self) -> Result<DateTime<Utc>, StoreError>;

    /// Recomputes every rollup of the UTC day starting at `day` from the stored events,
    /// in one transaction that holds the write lock (so concurrent ingest cannot be
    /// counted twice or missed). Returns the number of events read.
    async fn rebuild_rollups(&self, day: DateTime<Utc>) -> Result<u64, StoreError>;

    /// The UTC days (start, number of events) that hold events at or after `since`.
    async fn event_days(
        &self,
        since: Option<DateTime<Utc>>,
    ) -> Result<Vec<(DateTime<Utc>, i64)>, StoreError>;

    /// The activities feed: events newest first filtered by importance, category and
    /// tenant, one keyset page at a time.
    async fn activities(&self, query: &ActivityQuery) -> Result<Page, StoreError>;
    /// The end of the tamper-evident chain (as of the last commit).
    async fn chain_head(&self) -> Result<ChainHead, StoreError>;

    /// Chained events after position/seq `after`, in chain order, at most `limit`.
    async fn chain_rows(&self, after: (i64, i64), limit: u32) -> Result<Vec<ChainRow>, StoreError>;

    /// The first event (seq, event id) without a chain position stored after chaining
    /// began: a row inserted behind eventlog's back.
    async fn first_unchained(&self) -> Result<Option<(i64, String)>, StoreError>;

    /// Stores a signed checkpoint.
    async fn add_checkpoint(&self, checkpoint: &Checkpoint) -> Result<(), StoreError>;

    /// Every checkpoint, in chain order.
    async fn checkpoints(&self) -> Result<Vec<Checkpoint>, StoreError>;

    /// Stores a signed pruning record (retention deleted chained events).
    async fn add_pruning(&self, pruning: &Pruning) -> Result<(), StoreError>;

    /// Every pruning record, oldest first.
    async fn prunings(&self) -> Result<Vec<Pruning>, StoreError>;

    /// Records a firing, unless the same rule and key is firing already (then `None`: the
    /// deduplication holds across restarts and servers).
    async fn open_alert(&self, alert: &NewAlert) -> Result<Option<Alert>, StoreError>;

    /// Resolves the firing alert `id` at `at` with the value then; `None` if it was not
    /// firing (resolved already, by another server).
    async fn resolve_alert(
        &self,
        id: i64,
        at: DateTime<Utc>,
        value: f64,
    ) -> Result<Option<Alert>, StoreError>;

    /// The newest alert of every rule and key: what the evaluator starts from (which are
    /// firing, when each last resolved for the cool-down).
    async fn latest_alerts(&self) -> Result<Vec<Alert>, StoreError>;

    /// Alert history, newest first, one page at a time.
    async fn alerts(&self, query: &AlertQuery) -> Result<AlertPage, StoreError>;

    /// Events that `expiry` says have expired, counted per UTC day, severity and category.
    async fn expired_groups(&self, expiry: &Expiry) -> Result<Vec<ExpiredGroup>, StoreError>;

    /// Expired events of the UTC day starting at `day` after the position `after`
    /// (`(timestamp, seq)` of the previous page's last event), oldest first, at most
    /// `limit` (retention archives them page by page, along the timestamp index).
    async fn expired_page(
        &self,
        expiry: &Expiry,
        day: DateTime<Utc>,
        after: Option<(DateTime<Utc>, i64)>,
        limit: u32,
    ) -> Result<Vec<ExpiredEvent>, StoreError>;

    /// Deletes the events named by `(timestamp, seq)` and returns the `seq`s actually
    /// deleted (an event already gone is not reported, so two retention runs can never
    /// account for one deletion twice).
    async fn delete_events(&self, keys: &[(DateTime<Utc>, i64)]) -> Result<Vec<i64>, StoreError>;

    /// The partition holding the UTC month starting at `month` and its row count, where
    /// the backend partitions (PostgreSQL); `None` otherwise.
    async fn partition_rows(
        &self,
        month: DateTime<Utc>,
    ) -> Result<Option<(String, i64)>, StoreError>;

    /// Takes the store-wide lock of `job` (retention), held until the returned guard is
    /// dropped or the process ends, or `None` when another process or task holds it. Two
    /// retention runs at once (`serve`'s schedule and a cron job) would each archive the
    /// same events.
    async fn try_lock_job(&self, job: &str) -> Result<Option<JobLock>, StoreError>;

    /// Detaches and drops the partition of the UTC month starting at `month` if, under the
    /// writer lock, it holds exactly `expected` rows; returns whether it did. Only
    /// retention deletes events, so equal counts mean the partition holds exactly the
    /// rows retention archived.
    async fn drop_partition(&self, month: DateTime<Utc>, expected: i64)
        -> Result<bool, StoreError>;
}

/// A held store-wide job lock ([`Store::try_lock_job`]); dropping it releases the lock.
pub struct JobLock {
    _held: Box<dyn Send + Sync>,
}

impl JobLock {
    pub(crate) fn new(held: impl Send + Sync + 'static) -> Self {
        Self {
            _held: Box::new(held),
        }
    }
}

/// Opens the store a database URL names: `sqlite://PATH` (created with its folder if
/// missing) or `postgres://...`.
pub async fn open(url: &str) -> Result<Arc<dyn Store>, StoreError> {
    if let Some(path) = sqlite_path(url) {
        if path.trim().is_empty() {
            return Err(StoreError::Config(format!(
                "`{url}` names no file: use sqlite://PATH, e.g. sqlite://eventlog-data/eventlog.db"
            )));
        }
        Ok(Arc::new(SqliteStore::open(path).await?))
    } else if url.starts_with("postgres://") || url.starts_with("postgresql://") {
        Ok(Arc::new(PgStore::open(url).await?))
    } else {
        Err(StoreError::Config(format!(
            "unsupported database URL `{}`: use sqlite://PATH or postgres://USER@HOST/DB",
            redact_url(url)
        )))
    }
}

/// The file of a `sqlite://PATH` (or `sqlite:PATH`) URL; `None` for other URLs.
pub fn sqlite_path(url: &str) -> Option<&str> {
    url.strip_prefix("sqlite://")
        .or_else(|| url.strip_prefix("sqlite:"))
}

/// A database URL with any password replaced by `***`, for messages and logs.
pub fn redact_url(url: &str) -> String {
    match (url.find("://"), url.find('@')) {
        (Some(scheme_end), Some(at)) if at > scheme_end => {
            let creds = &url[scheme_end + 3..at];
            match creds.find(':') {
                Some(colon) => format!(
                    "{}{}:***{}",
                    &url[..scheme_end + 3],
                    &creds[..colon],
                    &url[at..]
                ),
                None => url.to_owned(),
            }
        }
        _ => url.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::redact_url;

    #[test]
    fn passwords_never_print() {
        assert_eq!(
            redact_url("postgres://u:secret@h/db"),
            "postgres://u:***@h/db"
        );
        assert_eq!(redact_url("postgres://u@h/db"), "postgres://u@h/db");
        assert_eq!(redact_url("sqlite://x.db"), "sqlite://x.db");
    }
}
