//! `EventLogger`: the cheap, cloneable handle an application logs through.
//!
//! `log` stamps the event (id, time, source), then hands it to a bounded memory queue
//! without waiting. When the queue is full the event is redacted and appended to the
//! spool on the caller's thread (one buffered write, no fsync), so nothing is lost and the
//! caller is never parked. `log` never returns an error and never panics.
//!
//! The caller wakes the worker only for the first event after the worker went idle (and
//! when the queue is half full); otherwise the worker polls for full batches. Waking a
//! parked thread is a syscall that cost `log` more than everything else it does (p99
//! 14 µs against 2 µs at the median when every event woke it).

use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{sync_channel, SyncSender, TrySendError};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use chrono::{DateTime, Utc};
use eventlog_core::redact::{PartialMasking, Redactor};
use eventlog_core::EventIdGenerator;
use serde_json::Value;
use tokio::sync::{mpsc, oneshot, Notify};

use crate::domain::{self, Actor, AuthAction, CrudAction};
use crate::sink::Sink;
use crate::spool::{Spool, SpoolConfig};
use crate::stats::{bump, Stats, StatsSnapshot};
use crate::worker::{Command, Worker};
use crate::{ClientError, Event, RequestContext};

/// An application's own masking step, run before the built-in redaction. A panic in it is
/// contained and counted; the built-in redaction still runs.
pub type RedactHook = Arc<dyn Fn(&mut Event) + Send + Sync>;

/// How a logger batches, spools and redacts.
#[derive(Clone)]
pub struct LoggerConfig {
    /// The application's name, stored as each event's `source` (unless the event sets one).
    pub source: Option<String>,
    /// Events the memory queue holds before `log` spills to the spool.
    pub queue_capacity: usize,
    /// Events per batch (seed 001: 100).
    pub batch_size: usize,
    /// Longest an event waits for its batch to fill (seed 001: 5 s).
    pub flush_interval: Duration,
    /// The spool directory (also holds the dead letters and `stats.json`).
    pub spool_dir: PathBuf,
    /// Spool behaviour (fsync batching, segment size).
    pub spool: SpoolConfig,
    /// First retry delay after a failed delivery.
    pub retry_initial: Duration,
    /// Longest retry delay.
    pub retry_max: Duration,
    /// Longest a single delivery may take before it counts as failed.
    pub sink_timeout: Duration,
    /// Keys masked besides the built-in sensitive keys.
    pub extra_secret_keys: Vec<String>,
    /// Partial masking of emails and phone numbers.
    pub partial_masking: PartialMasking,
    /// The application's own redaction hook.
    pub redact_hook: Option<RedactHook>,
}

impl std::fmt::Debug for LoggerConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LoggerConfig")
            .field("source", &self.source)
            .field("queue_capacity", &self.queue_capacity)
            .field("batch_size", &self.batch_size)
            .field("flush_interval", &self.flush_interval)
            .field("spool_dir", &self.spool_dir)
            .finish_non_exhaustive()
    }
}

impl LoggerConfig {
    /// The defaults (100 events or 5 s per batch, 10,000 queued events, fsync every
    /// 200 ms) with the spool in `spool_dir`.
    pub fn new(spool_dir: impl Into<PathBuf>) -> Self {
        Self {
            source: None,
            queue_capacity: 10_000,
            batch_size: 100,
            flush_interval: Duration::from_secs(5),
            spool_dir: spool_dir.into(),
            spool: SpoolConfig::default(),
            retry_initial: Duration::from_millis(250),
            retry_max: Duration::from_secs(30),
            sink_timeout: Duration::from_secs(10),
            extra_secret_keys: Vec::new(),
            partial_masking: PartialMasking::default(),
            redact_hook: None,
        }
    }

    /// Sets the application name stored as `source`.
    pub fn source(mut self, name: impl Into<String>) -> Self {
        self.source = Some(name.into());
        self
    }
}

pub(crate) struct Shared {
    pub(crate) stats: Stats,
    pub(crate) spool: Mutex<Spool>,
    pub(crate) redactor: Redactor,
    pub(crate) redact_hook: Option<RedactHook>,
    pub(crate) started: DateTime<Utc>,
    /// Wakes the worker: the first event after it went idle, or a half-full queue.
    pub(crate) wake: Notify,
    /// Set by the worker when it waits for the next event with nothing queued.
    pub(crate) worker_idle: AtomicBool,
}

impl Shared {
    /// Masks secrets in every free-form part of the event: the hook first (contained),
    /// then the built-in redactor.
    pub(crate) fn redact(&self, event: &mut Event) {
        if let Some(hook) = &self.redact_hook {
            let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| hook(event)));
            if result.is_err() {
                bump(&self.stats.hook_panics, 1);
            }
        }
        let r = &self.redactor;
        for value in [
            &mut event.request_data,
            &mut event.response_data,
            &mut event.metadata,
        ]
        .into_iter()
        .flatten()
        {
            r.redact_value(value);
        }
        if let Some(related) = &mut event.related {
            r.redact_object(related);
        }
        // The free-text fields the server scans (identifiers are left as sent).
        for text in [
            &mut event.event_name,
            &mut event.event_type,
            &mut event.action,
            &mut event.event_description,
            &mut event.error_message,
            &mut event.error_code,
            &mut event.endpoint,
            &mut event.user_agent,
            &mut event.user_role,
            &mut event.source,
            &mut event.resource_type,
            &mut event.resource_name,
        ]
        .into_iter()
        .flatten()
        .chain(event.tags.iter_mut())
        {
            r.redact_string(text);
        }
    }

    pub(crate) fn snapshot(&self) -> StatsSnapshot {
        let spool = self.spool.lock().ok().and_then(|s| s.state().ok());
        self.stats.snapshot(spool, self.started)
    }
}

struct Inner {
    /// Events, boxed so that the queue's preallocated slots stay small.
    events: SyncSender<Box<Event>>,
    /// Flush and shutdown requests; its closing (the last handle dropped) stops the worker.
    control: mpsc::Sender<Command>,
    /// `log` wakes the worker when this many events are queued, so a burst faster than
    /// its polling does not spill to the spool.
    wake_at_depth: u64,
    ids: EventIdGenerator,
    source: Option<String>,
    shared: Arc<Shared>,
}

/// The handle applications log through: cheap to clone (one `Arc`), safe to share.
#[derive(Clone)]
pub struct EventLogger {
    inner: Arc<Inner>,
}

impl std::fmt::Debug for EventLogger {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EventLogger")
            .field("source", &self.inner.source)
            .finish_non_exhaustive()
    }
}

impl EventLogger {
    /// Starts a logger delivering to `sink` (spawns its worker on the current Tokio
    /// runtime). Fails only if the spool directory cannot be opened.
    pub fn start(config: LoggerConfig, sink: impl Sink) -> Result<Self, ClientError> {
        if config.batch_size == 0 || config.queue_capacity == 0 {
            return Err(ClientError::Config(
                "batch_size and queue_capacity must be at least 1".to_owned(),
            ));
        }
        let spool = Spool::open(&config.spool_dir, config.spool.clone())?;
        let shared = Arc::new(Shared {
            stats: Stats::default(),
            spool: Mutex::new(spool),
            redactor: Redactor::new(&config.extra_secret_keys)
                .with_partial_masking(config.partial_masking),
            redact_hook: config.redact_hook.clone(),
            started: Utc::now(),
            wake: Notify::new(),
            worker_idle: AtomicBool::new(true),
        });
        let (events, queue) = sync_channel(config.queue_capacity);
        let (control, commands) = mpsc::channel(4);
        let worker = Worker::new(
            config.clone(),
            Box::new(sink),
            shared.clone(),
            queue,
            commands,
        );
        tokio::spawn(worker.run());
        Ok(Self {
            inner: Arc::new(Inner {
                events,
                control,
                wake_at_depth: (config.queue_capacity as u64 / 2).max(1),
                ids: EventIdGenerator::new(),
                source: config.source,
                shared,
            }),
        })
    }

    /// Logs `event`: never blocks, never fails, never panics. The event gets its id and
    /// time now, so every later delivery of it is recognised as the same event.
    pub fn log(&self, mut event: Event) {
        let now = Utc::now();
        event.stamp(now);
        if event.event_id.is_none() {
            event.event_id = Some(self.inner.ids.next(event.id_prefix(), now));
        }
        if event.source.is_none() {
            event.source.clone_from(&self.inner.source);
        }
        RequestContext::fill(&mut event);
        let shared = &self.inner.shared;
        bump(&shared.stats.logged, 1);
        // Counted before it is sent, so the worker never sees more events than the count.
        let queued = shared.stats.queued.fetch_add(1, Ordering::SeqCst) + 1;
        match self.inner.events.try_send(Box::new(event)) {
            Ok(()) => {
                let idle = shared.worker_idle.load(Ordering::SeqCst)
                    && shared.worker_idle.swap(false, Ordering::SeqCst);
                if idle || queued == self.inner.wake_at_depth {
                    shared.wake.notify_one();
                }
            }
            Err(TrySendError::Full(event) | TrySendError::Disconnected(event)) => {
                shared.stats.queued.fetch_sub(1, Ordering::Relaxed);
                self.spill(*event);
            }
        }
    }

    /// The queue is full (or the worker gone): redact and append to the spool directly.
    fn spill(&self, mut event: Event) {
        let shared = &self.inner.shared;
        shared.redact(&mut event);
        let written = serde_json::to_vec(&event).ok().and_then(|bytes| {
            let mut spool = shared.spool.lock().ok()?;
            spool.append(&[bytes]).ok()
        });
        match written {
            Some(()) => {
                bump(&shared.stats.overflowed, 1);
                bump(&shared.stats.spooled, 1);
            }
            None => bump(&shared.stats.dropped, 1),
        }
    }

    /// Logs an authentication step (see [`domain::auth_event`]).
    pub fn log_auth_event(
        &self,
        action: AuthAction,
        username: &str,
        user_id: Option<&str>,
        reason: Option<&str>,
    ) {
        self.log(domain::auth_event(action, username, user_id, reason));
    }

    /// Logs a CRUD action (see [`domain::crud_event`]); log a delete *before* deleting.
    pub fn log_crud_event(&self, resource_type: &str, resource_id: &str, action: CrudAction) {
        self.log(domain::crud_event(resource_type, resource_id, action));
    }

    /// Logs a security event of a `SEC-*` code.
    pub fn log_security_event(&self, code: &str, description: &str, ip: Option<&str>) {
        self.log(domain::security_event(code, description, ip));
    }

    /// Logs a system event of a `SYS-*` code.
    pub fn log_system_event(&self, code: &str, description: &str) {
        self.log(domain::system_event(code, description));
    }

    /// Logs a platform event of seed 003 with its actor and related entities.
    pub fn log_platform_event(&self, code: &str, actor: Option<&Actor>, related: &[(&str, &str)]) {
        self.log(domain::platform_event(code, actor, related));
    }

    /// Logs `TENANT_CREATED`.
    pub fn tenant_created(&self, actor: &Actor, tenant_id: &str, tenant_name: &str) {
        self.log(
            domain::platform_event("TENANT_CREATED", Some(actor), &[("tenant", tenant_id)])
                .meta("tenant_name", tenant_name),
        );
    }

    /// Logs `TENANT_UPDATED` with the changed fields.
    pub fn tenant_updated(&self, actor: &Actor, tenant_id: &str, old: &Value, new: &Value) {
        self.log(
            domain::platform_event("TENANT_UPDATED", Some(actor), &[("tenant", tenant_id)]).meta(
                "changed_fields",
                Value::Object(domain::changed_fields(old, new)),
            ),
        );
    }

    /// Logs `TENANT_DELETED`; call it before deleting.
    pub fn tenant_deleted(&self, actor: &Actor, tenant_id: &str, tenant_name: &str) {
        self.log(
            domain::platform_event("TENANT_DELETED", Some(actor), &[("tenant", tenant_id)])
                .meta("tenant_name", tenant_name),
        );
    }

    /// Logs `PROJECT_CREATED`.
    pub fn project_created(&self, actor: &Actor, tenant_id: &str, project_id: &str, name: &str) {
        self.log(
            domain::platform_event(
                "PROJECT_CREATED",
                Some(actor),
                &[("tenant", tenant_id), ("project", project_id)],
            )
            .meta("project_name", name),
        );
    }

    /// Logs `CODE_GENERATED` for `count` activation codes.
    pub fn code_generated(&self, actor: &Actor, tenant_id: &str, count: u64) {
        self.log(
            domain::platform_event("CODE_GENERATED", Some(actor), &[("tenant", tenant_id)])
                .meta("code_count", count),
        );
    }

    /// Logs `CODE_REVOKED`.
    pub fn code_revoked(&self, actor: &Actor, tenant_id: &str, code_id: &str) {
        self.log(domain::platform_event(
            "CODE_REVOKED",
            Some(actor),
            &[("tenant", tenant_id), ("code", code_id)],
        ));
    }

    /// Logs `CODE_ACTIVATED` by a device.
    pub fn code_activated(&self, tenant_id: &str, code_id: &str, device_id: &str) {
        self.log(domain::platform_event(
            "CODE_ACTIVATED",
            None,
            &[
                ("tenant", tenant_id),
                ("code", code_id),
                ("device", device_id),
            ],
        ));
    }

    /// Logs `DEVICE_ENROLLED`.
    pub fn device_enrolled(&self, tenant_id: &str, device_id: &str, code_id: &str) {
        self.log(domain::platform_event(
            "DEVICE_ENROLLED",
            None,
            &[
                ("tenant", tenant_id),
                ("device", device_id),
                ("code", code_id),
            ],
        ));
    }

    /// Logs `DEVICE_REVOKED`.
    pub fn device_revoked(&self, actor: &Actor, tenant_id: &str, device_id: &str) {
        self.log(domain::platform_event(
            "DEVICE_REVOKED",
            Some(actor),
            &[("tenant", tenant_id), ("device", device_id)],
        ));
    }

    /// Logs `CONFIG_UPDATED` (values pass through redaction like everything else).
    pub fn config_updated(&self, actor: &Actor, key: &str, old: Value, new: Value) {
        self.log(
            domain::platform_event("CONFIG_UPDATED", Some(actor), &[])
                .meta("config_key", key)
                .meta("old_value", old)
                .meta("new_value", new),
        );
    }

    /// Delivers everything queued so far (or spools it if the sink is down) and tries
    /// one replay of the spool; returns when done.
    pub async fn flush(&self) {
        let (ack, done) = oneshot::channel();
        if self.inner.control.send(Command::Flush(ack)).await.is_ok() {
            let _ = done.await;
        }
    }

    /// Flushes, fsyncs the spool and stops the worker: every event logged before is then
    /// either delivered or on disk. Later `log` calls go straight to the spool.
    pub async fn shutdown(&self) {
        let (ack, done) = oneshot::channel();
        if self
            .inner
            .control
            .send(Command::Shutdown(ack))
            .await
            .is_ok()
        {
            let _ = done.await;
        }
    }

    /// The logger's delivery figures now.
    pub fn stats(&self) -> StatsSnapshot {
        self.inner.shared.snapshot()
    }

    /// Counts a contained panic of an application hook (used by the tower layer).
    pub fn count_hook_panic(&self) {
        bump(&self.inner.shared.stats.hook_panics, 1);
    }
}
