//! Query shapes shared by both backends.

use std::collections::BTreeMap;

use std::future::Future;
use std::panic::AssertUnwindSafe;
use std::sync::{Arc, LazyLock};

use chrono::{DateTime, Utc};
use eventlog_core::{EventRecord, StoredEvent};
use futures::stream::{BoxStream, StreamExt};
use futures::FutureExt;
use serde::Serialize;
use tokio::sync::{mpsc, Semaphore};
use utoipa::ToSchema;

use crate::StoreError;

/// Chunks of events read by [`crate::Store::stream_recent`]; an error ends the stream.
pub type EventChunks = BoxStream<'static, Result<Vec<StoredEvent>, StoreError>>;

/// Chunks of events rendered as JSON lines ([`crate::Store::stream_recent_jsonl`]).
pub type JsonlChunks = BoxStream<'static, Result<JsonLines, StoreError>>;

/// Consecutive events, each one JSON line: exactly what `serde_json` writes for the
/// [`StoredEvent`], then a newline.
#[derive(Debug, Clone, Default)]
pub struct JsonLines {
    /// The lines.
    pub bytes: Vec<u8>,
    /// How many events they hold.
    pub events: usize,
}

/// Where a chunk producer sends its chunks; a failed send means the consumer is gone.
pub(crate) type ChunkSender<T = Vec<StoredEvent>> = mpsc::Sender<Result<T, StoreError>>;

/// Runs `produce` on its own task and streams what it sends. The read runs ahead of the
/// consumer by the channel's two chunks. A panic of the producer (a bug) ends the stream
/// with an error, not silently, so an export it cut short is not taken for complete.
pub(crate) fn spawn_chunks<T, F, Fut>(produce: F) -> BoxStream<'static, Result<T, StoreError>>
where
    T: Send + 'static,
    F: FnOnce(ChunkSender<T>) -> Fut,
    Fut: Future<Output = Result<(), StoreError>> + Send + 'static,
{
    let (tx, mut rx) = mpsc::channel(2);
    let producing = AssertUnwindSafe(produce(tx.clone())).catch_unwind();
    tokio::spawn(async move {
        let failed = match producing.await {
            Ok(Ok(())) => return,
            Ok(Err(e)) => e,
            Err(_) => StoreError::Config("the read of the events panicked".into()),
        };
        let _ = tx.send(Err(failed)).await;
    });
    Box::pin(futures::stream::poll_fn(move |cx| rx.poll_recv(cx)))
}

/// Conversions running at once in the whole process, over every export: one per core.
static CONVERTERS: LazyLock<Arc<Semaphore>> = LazyLock::new(|| {
    Arc::new(Semaphore::new(
        std::thread::available_parallelism().map_or(2, |n| n.get()),
    ))
});

/// Converts the chunks of `chunks` with `convert` on the blocking pool, several at once, and
/// streams the results in the chunks' order; the stream ends after the first error.
/// Rendering an export's rows is most of its CPU (bench/README.md, "Export"); one thread
/// per export left the second core to the database and the writer alone. Chunks in memory
/// at once: the producer's channel (2) and the one it is sending, the conversions under
/// way or done and waiting for an earlier one (2 to 4), and the consumer's.
pub(crate) fn convert_in_order<I, T, F>(
    chunks: BoxStream<'static, Result<I, StoreError>>,
    convert: F,
) -> BoxStream<'static, Result<T, StoreError>>
where
    I: Send + 'static,
    T: Send + 'static,
    F: Fn(I) -> Result<T, StoreError> + Send + Sync + 'static,
{
    let in_flight = std::thread::available_parallelism().map_or(2, |n| n.get().clamp(2, 4));
    let convert = Arc::new(convert);
    chunks
        .map(move |chunk| {
            let convert = Arc::clone(&convert);
            async move {
                let chunk = chunk?;
                let permit = Arc::clone(&CONVERTERS)
                    .acquire_owned()
                    .await
                    .expect("the semaphore is never closed");
                let converting = tokio::task::spawn_blocking(move || {
                    let _permit = permit;
                    convert(chunk)
                });
                // A panic is a bug of the conversion, not a fault of the data; it ends the
                // stream with an error like the producer's.
                converting.await.unwrap_or_else(|e| {
                    Err(StoreError::Config(format!(
                        "the rendering of the events failed: {e}"
                    )))
                })
            }
        })
        .buffered(in_flight)
        .scan(false, |failed, converted| {
            let next = (!*failed).then(|| {
                *failed = converted.is_err();
                converted
            });
            futures::future::ready(next)
        })
        .boxed()
}

/// Position after the last event of a page: `(timestamp, seq)` of that event. Keyset
/// pagination on this pair is stable under concurrent inserts: no event appears twice and
/// none is skipped between pages.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Cursor {
    /// Event timestamp, microseconds since the epoch.
    pub ts_micros: i64,
    /// Store-assigned sequence number (unique).
    pub seq: i64,
}

impl Cursor {
    /// The opaque text form handed to clients.
    pub fn encode(&self) -> String {
        format!("{:x}.{:x}", self.ts_micros, self.seq)
    }

    /// Parses the text form; `None` if it was not made by [`Cursor::encode`] (a sign, a
    /// leading zero or an upper-case digit is a damaged cursor, not another position).
    pub fn decode(s: &str) -> Option<Self> {
        let (ts, seq) = s.split_once('.')?;
        // `{:x}` writes a negative number as its two's complement: read it back the same way.
        let hex = |part: &str| u64::from_str_radix(part, 16).ok().map(|v| v as i64);
        let cursor = Self {
            ts_micros: hex(ts)?,
            seq: hex(seq)?,
        };
        // Only the years a timestamp can have (1 to 9999): beyond, PostgreSQL could not
        // take the bound value.
        let years = -62_135_596_800_000_000..=253_402_300_799_999_999;
        (cursor.encode() == s && years.contains(&cursor.ts_micros)).then_some(cursor)
    }
}

/// A request for recent events. Every filter is optional; list filters match any value.
#[derive(Debug, Clone, Default)]
pub struct RecentQuery {
    /// Page size, 1..=1000.
    pub limit: u32,
    /// Continue after this position.
    pub cursor: Option<Cursor>,
    /// Only events at or after this time.
    pub since: Option<DateTime<Utc>>,
    /// Only events before this time.
    pub until: Option<DateTime<Utc>>,
    /// `event_category` in this list.
    pub category: Vec<String>,
    /// `event_type` in this list.
    pub event_type: Vec<String>,
    /// `event_code` in this list.
    pub event_code: Vec<String>,
    /// `severity` in this list.
    pub severity: Vec<String>,
    /// `status` in this list.
    pub status: Vec<String>,
    /// Exact user id.
    pub user_id: Option<String>,
    /// Exact username.
    pub username: Option<String>,
    /// Exact client IP.
    pub ip_address: Option<std::net::IpAddr>,
    /// Exact endpoint.
    pub endpoint: Option<String>,
    /// Exact resource type.
    pub resource_type: Option<String>,
    /// Exact resource id.
    pub resource_id: Option<String>,
    /// Exact tenant (forced for tenant-bound credentials).
    pub tenant_id: Option<String>,
    /// Exact session id (the dashboard's related events).
    pub session_id: Option<String>,
    /// Exact correlation id (the dashboard's related events).
    pub correlation_id: Option<String>,
}

impl RecentQuery {
    /// Whether `e` passes every filter (cursor and limit aside): the live tail applies the
    /// same filters in memory that [`push_text_filters`] and the stores apply in SQL.
    pub fn matches(&self, e: &EventRecord) -> bool {
        fn any_of(list: &[String], value: &str) -> bool {
            list.is_empty() || list.iter().any(|v| v == value)
        }
        fn exact(filter: &Option<String>, value: &Option<String>) -> bool {
            filter.is_none() || filter == value
        }
        self.since.is_none_or(|s| e.timestamp >= s)
            && self.until.is_none_or(|u| e.timestamp < u)
            && any_of(&self.category, &e.event_category)
            && any_of(&self.event_type, &e.event_type)
            && (self.event_code.is_empty()
                || e.event_code
                    .as_deref()
                    .is_some_and(|c| any_of(&self.event_code, c)))
            && any_of(&self.severity, e.severity.as_str())
            && any_of(&self.status, &e.status)
            && exact(&self.user_id, &e.user_id)
            && exact(&self.username, &e.username)
            && self.ip_address.is_none_or(|ip| e.ip_address == Some(ip))
            && exact(&self.endpoint, &e.endpoint)
            && exact(&self.resource_type, &e.resource_type)
            && exact(&self.resource_id, &e.resource_id)
            && exact(&self.tenant_id, &e.tenant_id)
            && exact(&self.session_id, &e.session_id)
            && exact(&self.correlation_id, &e.correlation_id)
    }
}

/// One page of events, newest first.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct Page {
    /// The events.
    pub events: Vec<StoredEvent>,
    /// Pass as `cursor` to get the next page; `null` on the last page.
    pub next_cursor: Option<String>,
}

/// A count of events with one value of a field.
#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
pub struct Count {
    /// The value (e.g. a category).
    pub value: String,
    /// How many events have it.
    pub count: i64,
}

/// What one user did in a window (the user-activity view of the seeds).
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct UserActivity {
    /// The user.
    pub user_id: String,
    /// Start of the window.
    pub since: DateTime<Utc>,
    /// Events in the window.
    pub total_events: i64,
    /// Events by category, most first.
    pub by_category: Vec<Count>,
    /// Events by status, most first.
    pub by_status: Vec<Count>,
    /// Events whose status is a failure (FAILED, FAILURE, ERROR, DENIED, BLOCKED, TIMEOUT).
    pub failures: i64,
    /// Last successful login (USER_LOGIN or AUTH-001 with status SUCCESS), any time.
    pub last_login: Option<DateTime<Utc>>,
    /// Last event in the window.
    pub last_activity: Option<DateTime<Utc>>,
    /// The 20 most recent events in the window.
    pub recent_events: Vec<StoredEvent>,
}

impl UserActivity {
    /// Assembles the answer from `(category, status, count)` groups (one grouped pass over
    /// the user's events gives both breakdowns), the last login and the newest events;
    /// totals, failures and last activity are derived here, so both stores count alike.
    pub(crate) fn assemble(
        user_id: &str,
        since: DateTime<Utc>,
        groups: Vec<(String, String, i64)>,
        last_login: Option<DateTime<Utc>>,
        recent_events: Vec<StoredEvent>,
    ) -> Self {
        let mut categories: BTreeMap<String, i64> = BTreeMap::new();
        let mut statuses: BTreeMap<String, i64> = BTreeMap::new();
        for (category, status, n) in groups {
            *categories.entry(category).or_default() += n;
            *statuses.entry(status).or_default() += n;
        }
        let counts = |map: BTreeMap<String, i64>| {
            most_first(
                map.into_iter()
                    .map(|(value, count)| Count { value, count })
                    .collect(),
            )
        };
        let by_status = counts(statuses);
        Self {
            user_id: user_id.to_owned(),
            since,
            total_events: by_status.iter().map(|c| c.count).sum(),
            failures: by_status
                .iter()
                .filter(|c| FAILURE_STATUSES.contains(&c.value.as_str()))
                .map(|c| c.count)
                .sum(),
            by_category: counts(categories),
            by_status,
            last_login,
            last_activity: recent_events.first().map(|e| e.record.timestamp),
            recent_events,
        }
    }
}

/// Orders counts most first, then by value: every breakdown the API answers.
pub(crate) fn most_first(mut counts: Vec<Count>) -> Vec<Count> {
    counts.sort_by(|a, b| b.count.cmp(&a.count).then_with(|| a.value.cmp(&b.value)));
    counts
}

/// Statuses counted as failures.
pub const FAILURE_STATUSES: &[&str] =
    &["FAILED", "FAILURE", "ERROR", "DENIED", "BLOCKED", "TIMEOUT"];

/// How many recent events a user-activity answer carries.
pub const USER_ACTIVITY_RECENT: i64 = 20;

/// Where a query's SQL text goes, with the values it binds in order: a sqlx `QueryBuilder`,
/// or a statement of SQLite's blocking readers (exports, rollup reads). The filters are
/// written once for all of them.
pub(crate) trait SqlWriter {
    /// Appends SQL text.
    fn sql(&mut self, text: &str) -> &mut Self;
    /// Appends a placeholder bound to a text value.
    fn text_value(&mut self, value: String) -> &mut Self;
    /// Appends a placeholder bound to an integer.
    fn int_value(&mut self, value: i64) -> &mut Self;
}

impl<'a, DB> SqlWriter for sqlx::QueryBuilder<'a, DB>
where
    DB: sqlx::Database,
    String: sqlx::Encode<'a, DB> + sqlx::Type<DB>,
    i64: sqlx::Encode<'a, DB> + sqlx::Type<DB>,
{
    fn sql(&mut self, text: &str) -> &mut Self {
        self.push(text)
    }

    fn text_value(&mut self, value: String) -> &mut Self {
        self.push_bind(value)
    }

    fn int_value(&mut self, value: i64) -> &mut Self {
        self.push_bind(value)
    }
}

/// Appends the text and list filters of `q` (everything but time, cursor and IP, whose
/// encoding differs per backend) as `AND ...` clauses with bound values.
pub(crate) fn push_text_filters(sql: &mut impl SqlWriter, q: &RecentQuery) {
    let lists: [(&str, &Vec<String>); 5] = [
        ("event_category", &q.category),
        ("event_type", &q.event_type),
        ("event_code", &q.event_code),
        ("severity", &q.severity),
        ("status", &q.status),
    ];
    for (column, values) in lists {
        if values.is_empty() {
            continue;
        }
        sql.sql(" AND ").sql(column).sql(" IN (");
        for (i, v) in values.iter().enumerate() {
            if i > 0 {
                sql.sql(", ");
            }
            sql.text_value(v.clone());
        }
        sql.sql(")");
    }
    let exact: [(&str, &Option<String>); 8] = [
        ("user_id", &q.user_id),
        ("username", &q.username),
        ("endpoint", &q.endpoint),
        ("resource_type", &q.resource_type),
        ("resource_id", &q.resource_id),
        ("tenant_id", &q.tenant_id),
        ("session_id", &q.session_id),
        ("correlation_id", &q.correlation_id),
    ];
    for (column, value) in exact {
        if let Some(v) = value {
            sql.sql(" AND ")
                .sql(column)
                .sql(" = ")
                .text_value(v.clone());
        }
    }
}

/// Splits a fetched page of `limit + 1` rows into the page and its next cursor.
pub(crate) fn finish_page(mut rows: Vec<(StoredEvent, i64)>, limit: u32) -> Page {
    let more = rows.len() > limit as usize;
    rows.truncate(limit as usize);
    let next_cursor = if more {
        rows.last().map(|(e, seq)| {
            Cursor {
                ts_micros: e.record.timestamp.timestamp_micros(),
                seq: *seq,
            }
            .encode()
        })
    } else {
        None
    };
    Page {
        events: rows.into_iter().map(|(e, _)| e).collect(),
        next_cursor,
    }
}

/// Event codes as sent and upper-cased: ingest stores catalog codes upper-case whatever
/// case they came in (`auth-001` is AUTH-001) and custom codes as sent, so a filter
/// matches either way.
pub fn codes_in_any_case(codes: Vec<String>) -> Vec<String> {
    let mut all = Vec::with_capacity(codes.len() * 2);
    for code in codes {
        let upper = code.to_ascii_uppercase();
        if upper != code {
            all.push(upper);
        }
        all.push(code);
    }
    all
}

#[cfg(test)]
mod tests {
    use super::{codes_in_any_case, convert_in_order, spawn_chunks, ChunkSender, Cursor};
    use crate::StoreError;
    use futures::{StreamExt, TryStreamExt};

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn conversions_come_out_in_the_chunks_order_and_stop_at_an_error() {
        // Earlier chunks take longer, so later ones finish first.
        let slow_first = |n: u64| {
            std::thread::sleep(std::time::Duration::from_millis(20 - n));
            Ok::<_, StoreError>(n * 10)
        };
        let chunks = futures::stream::iter((0..20u64).map(Ok)).boxed();
        let converted: Vec<u64> = convert_in_order(chunks, slow_first)
            .try_collect()
            .await
            .unwrap();
        assert_eq!(converted, (0..20u64).map(|n| n * 10).collect::<Vec<_>>());

        let failing = futures::stream::iter(vec![
            Ok(1u64),
            Err(StoreError::Corrupt("chunk 2".into())),
            Ok(3),
        ])
        .boxed();
        let mut out = convert_in_order(failing, slow_first);
        assert_eq!(out.next().await.unwrap().unwrap(), 10);
        assert!(matches!(out.next().await, Some(Err(StoreError::Corrupt(m))) if m == "chunk 2"));
        assert!(
            out.next().await.is_none(),
            "the stream ends at its first error"
        );

        let panicking = futures::stream::iter(vec![Ok(1u64), Ok(2)]).boxed();
        let mut out = convert_in_order(panicking, |n| {
            assert!(n < 2, "a bug");
            Ok(n)
        });
        assert_eq!(out.next().await.unwrap().unwrap(), 1);
        assert!(matches!(out.next().await, Some(Err(StoreError::Config(_)))));
        assert!(out.next().await.is_none());
    }

    #[tokio::test]
    async fn a_producer_that_panics_ends_the_stream_with_an_error() {
        let mut out = spawn_chunks(|chunks: ChunkSender<u64>| async move {
            chunks.send(Ok(1)).await.unwrap();
            panic!("a bug");
        });
        assert_eq!(out.next().await.unwrap().unwrap(), 1);
        assert!(matches!(out.next().await, Some(Err(StoreError::Config(_)))));
        assert!(out.next().await.is_none());
    }

    #[test]
    fn cursor_round_trips_and_rejects_garbage() {
        let c = Cursor {
            ts_micros: 1_750_343_452_000_000,
            seq: 42,
        };
        assert_eq!(Cursor::decode(&c.encode()), Some(c));
        assert_eq!(Cursor::decode("nope"), None);
        assert_eq!(Cursor::decode("1.z"), None);
        for damaged in ["-1.-1", "+1.5", "01.5", "A.5", "1.5.", ".5", "1."] {
            assert_eq!(Cursor::decode(damaged), None, "{damaged}");
        }
        let before_1970 = Cursor {
            ts_micros: -86_400_000_000,
            seq: 7,
        };
        assert_eq!(Cursor::decode(&before_1970.encode()), Some(before_1970));
        let far = Cursor {
            ts_micros: i64::MIN,
            seq: 1,
        };
        assert_eq!(Cursor::decode(&far.encode()), None, "before year 1");
    }

    #[test]
    fn code_filters_match_catalog_codes_in_any_case() {
        let codes = codes_in_any_case(vec!["auth-001".into(), "CUSTOM_X".into()]);
        assert_eq!(codes, ["AUTH-001", "auth-001", "CUSTOM_X"]);
    }
}
