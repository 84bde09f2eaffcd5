//! SQL query audit: a `tracing` layer that turns sqlx's statement events into audit events.
//!
//! sqlx reports every statement it runs as a `tracing` event (target `sqlx::query`, level
//! DEBUG) carrying the SQL text with placeholders, rows affected and elapsed time; bind
//! values are never part of it. [`SqlAuditLayer`] picks those events up, keeps the writes
//! (or everything, if configured), normalises the statement (literals become `?`, so a
//! value inlined in the SQL text is not stored either), drops repeats of the same statement
//! by the same user within a window, and logs a `DB-001` (write) or `DB-002` (read) event
//! through the [`EventLogger`], with the user and correlation id of the request it ran in
//! (the `eventlog.request` span that [`EventLogLayer`](crate::EventLogLayer) opens).
//! Statements the logger itself runs to deliver events into a store are never audited.
//!
//! ```no_run
//! use tracing_subscriber::prelude::*;
//! # fn setup(logger: eventlog_client::EventLogger) {
//! let audit = eventlog_layer::SqlAuditLayer::new(logger, Default::default());
//! tracing_subscriber::registry()
//!     .with(tracing_subscriber::fmt::layer().with_filter(tracing_subscriber::EnvFilter::new("info")))
//!     .with(audit.with_sqlx_filter())
//!     .init();
//! # }
//! ```
//!
//! Give other layers their filter per layer (`.with_filter(..)`) as above: a global filter
//! at INFO would switch sqlx's DEBUG statement events off for every layer, this one too.

use std::collections::hash_map::DefaultHasher;
use std::collections::HashMap;
use std::fmt;
use std::hash::{Hash, Hasher};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use eventlog_client::{Event, EventLogger};
use tracing::field::{Field, Visit};
use tracing::span::{Attributes, Record};
use tracing::{Event as TracingEvent, Id, Level, Subscriber};
use tracing_subscriber::filter::{Filtered, Targets};
use tracing_subscriber::layer::{Context, Layer};
use tracing_subscriber::registry::LookupSpan;

/// The target of sqlx's statement events.
const SQLX_TARGET: &str = "sqlx::query";
/// The target and name of the span the request layer opens around each handler.
const REQUEST_SPAN_TARGET: &str = "eventlog_layer::request";
const REQUEST_SPAN_NAME: &str = "eventlog.request";
/// The target and name of the span the logger delivers in (eventlog-client's worker).
const DELIVERY_SPAN_TARGET: &str = "eventlog_client::delivery";
const DELIVERY_SPAN_NAME: &str = "eventlog.delivery";

/// What the SQL audit records.
#[derive(Debug, Clone)]
pub struct SqlAuditConfig {
    /// Record reads (`SELECT`, ...) too; by default only statements that change data.
    pub include_reads: bool,
    /// Record only statements run inside a request whose user is known.
    pub authenticated_only: bool,
    /// The same statement by the same user within this window is recorded once.
    pub dedup_window: Duration,
    /// Most statement hashes remembered for deduplication (memory bound).
    pub max_tracked: usize,
    /// Longest statement text kept, in characters (the rest is cut and marked).
    pub max_statement_chars: usize,
}

impl Default for SqlAuditConfig {
    fn default() -> Self {
        Self {
            include_reads: false,
            authenticated_only: false,
            dedup_window: Duration::from_secs(60),
            max_tracked: 10_000,
            max_statement_chars: 2_000,
        }
    }
}

/// The `tracing` layer that audits sqlx statements (see the module docs).
pub struct SqlAuditLayer {
    logger: EventLogger,
    config: SqlAuditConfig,
    seen: Mutex<HashMap<u64, Instant>>,
}

impl fmt::Debug for SqlAuditLayer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SqlAuditLayer")
            .field("config", &self.config)
            .finish_non_exhaustive()
    }
}

impl SqlAuditLayer {
    /// Audits statements into `logger`.
    pub fn new(logger: EventLogger, config: SqlAuditConfig) -> Self {
        Self {
            logger,
            config,
            seen: Mutex::new(HashMap::new()),
        }
    }

    /// This layer behind a per-layer filter that passes sqlx's statement events and the
    /// request spans (and nothing else), whatever the other layers' filters.
    pub fn with_sqlx_filter<S>(self) -> Filtered<Self, Targets, S>
    where
        S: Subscriber + for<'a> LookupSpan<'a>,
    {
        let targets = Targets::new()
            .with_target(SQLX_TARGET, Level::DEBUG)
            .with_target(REQUEST_SPAN_TARGET, Level::DEBUG)
            .with_target(DELIVERY_SPAN_TARGET, Level::DEBUG);
        self.with_filter(targets)
    }

    /// True the first time `key` is seen within the window; forgets expired keys when the
    /// table is full, and everything if that is not enough.
    fn first_in_window(&self, key: u64) -> bool {
        let now = Instant::now();
        let Ok(mut seen) = self.seen.lock() else {
            return true;
        };
        if let Some(at) = seen.get(&key) {
            if now.duration_since(*at) < self.config.dedup_window {
                return false;
            }
        }
        if seen.len() >= self.config.max_tracked {
            let window = self.config.dedup_window;
            seen.retain(|_, at| now.duration_since(*at) < window);
            if seen.len() >= self.config.max_tracked {
                seen.clear();
            }
        }
        seen.insert(key, now);
        true
    }

    fn audit(&self, statement: Statement, request: Option<&RequestContext>) {
        let sql = statement.sql();
        let kind = classify(sql);
        let write = match kind {
            StatementKind::Write => true,
            StatementKind::Read if self.config.include_reads => false,
            StatementKind::Read | StatementKind::Control => return,
        };
        let user = request.and_then(|r| r.user_id.as_deref());
        if self.config.authenticated_only && user.is_none() {
            return;
        }
        let normalised = normalise(sql, self.config.max_statement_chars);
        let query_hash = hash_of(&normalised);
        let mut dedup = DefaultHasher::new();
        (query_hash, user).hash(&mut dedup);
        if !self.first_in_window(dedup.finish()) {
            return;
        }
        let mut event = Event::from_code(if write { "DB-001" } else { "DB-002" })
            .action(verb(sql))
            .meta("statement", normalised)
            .meta("query_hash", format!("{query_hash:016x}"))
            .meta("rows_affected", statement.rows_affected)
            .meta("rows_returned", statement.rows_returned);
        event.processing_time_ms = Some(statement.elapsed_secs * 1000.0);
        if let Some(request) = request {
            if let Some(id) = &request.user_id {
                event = event.user(id.clone(), request.username.as_deref(), None);
            }
            if let Some(tenant) = &request.tenant_id {
                event = event.tenant(tenant.clone());
            }
            if let Some(correlation) = &request.correlation_id {
                event = event.correlation(correlation.clone());
            }
        }
        self.logger.log(event);
    }
}

impl<S> Layer<S> for SqlAuditLayer
where
    S: Subscriber + for<'a> LookupSpan<'a>,
{
    fn on_new_span(&self, attrs: &Attributes<'_>, id: &Id, ctx: Context<'_, S>) {
        if attrs.metadata().name() != REQUEST_SPAN_NAME {
            return;
        }
        let mut request = RequestContext::default();
        attrs.record(&mut request);
        if let Some(span) = ctx.span(id) {
            span.extensions_mut().insert(request);
        }
    }

    fn on_record(&self, id: &Id, values: &Record<'_>, ctx: Context<'_, S>) {
        if let Some(span) = ctx.span(id) {
            if let Some(request) = span.extensions_mut().get_mut::<RequestContext>() {
                values.record(request);
            }
        }
    }

    fn on_event(&self, event: &TracingEvent<'_>, ctx: Context<'_, S>) {
        if event.metadata().target() != SQLX_TARGET {
            return;
        }
        let mut request = None;
        for span in ctx.event_scope(event).into_iter().flatten() {
            if span.name() == DELIVERY_SPAN_NAME {
                // The logger writing events to a store: auditing it would feed back.
                return;
            }
            if request.is_none() {
                request = span.extensions().get::<RequestContext>().cloned();
            }
        }
        let mut statement = Statement::default();
        event.record(&mut statement);
        self.audit(statement, request.as_ref());
    }
}

/// The request a statement ran in, from the `eventlog.request` span's fields.
#[derive(Debug, Clone, Default)]
struct RequestContext {
    user_id: Option<String>,
    username: Option<String>,
    tenant_id: Option<String>,
    correlation_id: Option<String>,
}

impl Visit for RequestContext {
    fn record_str(&mut self, field: &Field, value: &str) {
        let slot = match field.name() {
            "user_id" => &mut self.user_id,
            "username" => &mut self.username,
            "tenant_id" => &mut self.tenant_id,
            "correlation_id" => &mut self.correlation_id,
            _ => return,
        };
        *slot = Some(value.to_owned());
    }

    fn record_debug(&mut self, field: &Field, value: &dyn fmt::Debug) {
        self.record_str(field, format!("{value:?}").trim_matches('"'));
    }
}

/// The fields of one sqlx statement event.
#[derive(Debug, Default)]
struct Statement {
    summary: String,
    full: String,
    rows_affected: u64,
    rows_returned: u64,
    elapsed_secs: f64,
}

impl Statement {
    /// sqlx puts the whole SQL in `db.statement` only when it is longer than the summary
    /// (its first four words); otherwise the summary is the statement.
    fn sql(&self) -> &str {
        let full = self.full.trim();
        if full.is_empty() {
            self.summary.trim()
        } else {
            full
        }
    }
}

impl Visit for Statement {
    fn record_str(&mut self, field: &Field, value: &str) {
        match field.name() {
            "summary" => self.summary = value.to_owned(),
            "db.statement" => self.full = value.to_owned(),
            _ => {}
        }
    }

    fn record_u64(&mut self, field: &Field, value: u64) {
        match field.name() {
            "rows_affected" => self.rows_affected = value,
            "rows_returned" => self.rows_returned = value,
            _ => {}
        }
    }

    fn record_i64(&mut self, field: &Field, value: i64) {
        self.record_u64(field, value.max(0).unsigned_abs());
    }

    fn record_f64(&mut self, field: &Field, value: f64) {
        if field.name() == "elapsed_secs" {
            self.elapsed_secs = value;
        }
    }

    fn record_debug(&mut self, field: &Field, value: &dyn fmt::Debug) {
        if matches!(field.name(), "summary" | "db.statement") {
            self.record_str(field, &format!("{value:?}"));
        }
    }
}

/// Whether a statement changes data, reads it, or controls the session.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum StatementKind {
    Write,
    Read,
    Control,
}

/// The statement's first keyword, upper-cased (`INSERT`, `SELECT`, ...).
fn verb(sql: &str) -> String {
    sql.trim_start_matches(|c: char| c == '(' || c.is_whitespace())
        .split(|c: char| !c.is_ascii_alphabetic())
        .next()
        .unwrap_or_default()
        .to_ascii_uppercase()
}

fn classify(sql: &str) -> StatementKind {
    const WRITES: &[&str] = &[
        "INSERT", "UPDATE", "DELETE", "MERGE", "REPLACE", "UPSERT", "CREATE", "ALTER", "DROP",
        "TRUNCATE", "GRANT", "REVOKE", "COPY",
    ];
    const CONTROL: &[&str] = &[
        "BEGIN",
        "COMMIT",
        "ROLLBACK",
        "SAVEPOINT",
        "RELEASE",
        "START",
        "END",
        "SET",
        "RESET",
        "PRAGMA",
        "LISTEN",
        "UNLISTEN",
        "DEALLOCATE",
        "",
    ];
    let verb = verb(sql);
    if WRITES.contains(&verb.as_str()) {
        return StatementKind::Write;
    }
    if CONTROL.contains(&verb.as_str()) {
        return StatementKind::Control;
    }
    // `WITH x AS (...) INSERT ...` and friends write too.
    let upper = sql.to_ascii_uppercase();
    let writes_inside = upper
        .split(|c: char| !c.is_ascii_alphabetic())
        .any(|word| matches!(word, "INSERT" | "UPDATE" | "DELETE" | "MERGE"));
    if verb == "WITH" && writes_inside {
        StatementKind::Write
    } else {
        StatementKind::Read
    }
}

/// One line, literals replaced by `?` (quoted strings, numbers outside identifiers), cut
/// at `max_chars`. Placeholders (`$1`, `?`) stay as they are.
fn normalise(sql: &str, max_chars: usize) -> String {
    let mut out = String::with_capacity(sql.len().min(max_chars + 8));
    let mut chars = sql.chars().peekable();
    let mut prev: char = ' ';
    while let Some(c) = chars.next() {
        match c {
            '\'' => {
                // A string literal ('' is an escaped quote inside it).
                while let Some(next) = chars.next() {
                    if next == '\'' {
                        if chars.peek() == Some(&'\'') {
                            chars.next();
                        } else {
                            break;
                        }
                    }
                }
                out.push('?');
                prev = '?';
            }
            c if c.is_ascii_digit() && !(prev.is_alphanumeric() || prev == '_' || prev == '$') => {
                while chars
                    .peek()
                    .is_some_and(|n| n.is_ascii_digit() || *n == '.' || *n == '_')
                {
                    chars.next();
                }
                out.push('?');
                prev = '?';
            }
            c if c.is_whitespace() => {
                if prev != ' ' {
                    out.push(' ');
                }
                prev = ' ';
            }
            c => {
                out.push(c);
                prev = c;
            }
        }
        if out.len() > max_chars {
            let cut = (0..=max_chars)
                .rev()
                .find(|i| out.is_char_boundary(*i))
                .unwrap_or(0);
            out.truncate(cut);
            out.push('…');
            return out;
        }
    }
    out.trim_end().to_owned()
}

fn hash_of(text: &str) -> u64 {
    let mut hasher = DefaultHasher::new();
    text.hash(&mut hasher);
    hasher.finish()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn classifies_statements() {
        assert_eq!(
            classify("INSERT INTO students VALUES ($1)"),
            StatementKind::Write
        );
        assert_eq!(
            classify("  update students set name = $1"),
            StatementKind::Write
        );
        assert_eq!(classify("SELECT * FROM students"), StatementKind::Read);
        assert_eq!(
            classify("WITH d AS (DELETE FROM t RETURNING *) SELECT count(*) FROM d"),
            StatementKind::Write
        );
        assert_eq!(
            classify("WITH r AS (SELECT 1) SELECT * FROM r"),
            StatementKind::Read
        );
        assert_eq!(classify("BEGIN"), StatementKind::Control);
        assert_eq!(classify("PRAGMA foreign_keys = ON"), StatementKind::Control);
    }

    #[test]
    fn literals_become_placeholders() {
        assert_eq!(
            normalise(
                "SELECT *\n  FROM users WHERE name = 'O''Brien' AND age > 42 AND t2.x = $1",
                100
            ),
            "SELECT * FROM users WHERE name = ? AND age > ? AND t2.x = $1"
        );
        assert_eq!(
            normalise("UPDATE s SET pw = 'hunter2' WHERE id = 7", 100),
            "UPDATE s SET pw = ? WHERE id = ?"
        );
    }

    #[test]
    fn long_statements_are_cut_on_a_char_boundary() {
        let sql = format!("INSERT INTO t (c) VALUES ({})", "é,".repeat(100));
        let out = normalise(&sql, 40);
        assert!(out.ends_with('…'));
        assert!(out.chars().count() <= 41);
    }

    #[test]
    fn unterminated_literal_does_not_panic() {
        assert_eq!(normalise("SELECT 'abc", 100), "SELECT ?");
    }
}
