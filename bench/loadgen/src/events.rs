//! A deterministic generator of realistic EduPro events (seed 002's school system).
//!
//! The mix is weighted like a working school day: many logins (AUTH-001), lots of data CRUD
//! (DATA-*), predictions (PRED-*), API-request events without a catalog code (SYSTEM
//! `API_REQUEST`), analytics page views, occasional failed logins (AUTH-002) and rare
//! security or critical events. Events are 600-900 bytes of JSON on average.

use std::fmt::Write as _;

use chrono::{DateTime, Duration, Utc};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use serde_json::{json, Map, Value};

/// Real browser and client user agents (about 100-130 bytes each).
const USER_AGENTS: &[&str] = &[
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/124.0.0.0 Safari/537.36",
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/126.0.0.0 Safari/537.36 Edg/126.0.0.0",
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64; rv:127.0) Gecko/20100101 Firefox/127.0",
    "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.5 Safari/605.1.15",
    "Mozilla/5.0 (Linux; Android 13; SM-A245F) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/125.0.6422.165 Mobile Safari/537.36",
    "Mozilla/5.0 (Linux; Android 12; Redmi Note 11) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/124.0.6367.179 Mobile Safari/537.36",
    "Mozilla/5.0 (iPhone; CPU iPhone OS 17_5 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.5 Mobile/15E148 Safari/604.1",
    "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/125.0.0.0 Safari/537.36",
    "Mozilla/5.0 (Linux; Android 14; vivo 1906) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/126.0.6478.71 Mobile Safari/537.36",
    "Mozilla/5.0 (Windows NT 6.1; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/109.0.0.0 Safari/537.36 OPR/95.0.0.0",
];

const FIRST_NAMES: &[&str] = &[
    "Ahmad", "Siti", "Budi", "Dewi", "Rizki", "Putri", "Andi", "Nur", "Agus", "Rina", "Fajar",
    "Ayu", "Dimas", "Intan", "Yoga", "Wulan", "Hendra", "Lestari", "Bayu", "Citra",
];
const LAST_NAMES: &[&str] = &[
    "Pratama",
    "Saputra",
    "Wijaya",
    "Hidayat",
    "Santoso",
    "Kusuma",
    "Nugroho",
    "Rahmawati",
    "Setiawan",
    "Permata",
    "Halim",
    "Susanto",
    "Firmansyah",
    "Maharani",
];
const SUBJECTS: &[&str] = &[
    "Matematika",
    "Bahasa Indonesia",
    "Bahasa Inggris",
    "Fisika",
    "Kimia",
    "Biologi",
    "Sejarah",
    "Ekonomi",
    "Geografi",
    "PPKn",
];
const ROLES_TAGS: &[&str] = &["web", "mobile", "internal", "api", "school-portal"];

#[derive(Clone)]
struct User {
    id: u32,
    username: String,
    role: &'static str,
}

/// A weighted kind of event.
#[derive(Clone, Copy)]
enum Kind {
    Login,
    LoginFailed,
    Logout,
    Token,
    Data(&'static str),
    Pred(&'static str),
    Model(&'static str),
    ApiRequest,
    Analytics(&'static str),
    Admin(&'static str),
    Security(&'static str),
    SysCritical,
}

/// Weights (per 1000) of the event mix.
const MIX: &[(u32, Kind)] = &[
    (200, Kind::Login),
    (25, Kind::LoginFailed),
    (60, Kind::Logout),
    (40, Kind::Token),
    (60, Kind::Data("DATA-002")),
    (50, Kind::Data("DATA-004")),
    (40, Kind::Data("DATA-005")),
    (50, Kind::Data("DATA-006")),
    (15, Kind::Data("DATA-001")),
    (5, Kind::Data("DATA-003")),
    (8, Kind::Data("DATA-010")),
    (5, Kind::Data("DATA-012")),
    (60, Kind::Pred("PRED-002")),
    (20, Kind::Pred("PRED-001")),
    (20, Kind::Pred("PRED-007")),
    (4, Kind::Pred("PRED-003")),
    (6, Kind::Pred("PRED-009")),
    (3, Kind::Model("MODEL-005")),
    (1, Kind::Model("MODEL-002")),
    (230, Kind::ApiRequest),
    (40, Kind::Analytics("ANLY-001")),
    (20, Kind::Analytics("ANLY-002")),
    (10, Kind::Analytics("ANLY-006")),
    (5, Kind::Admin("ADMIN-002")),
    (2, Kind::Admin("ADMIN-001")),
    (1, Kind::Admin("ADMIN-004")),
    (2, Kind::Security("SEC-001")),
    (1, Kind::Security("SEC-002")),
    (2, Kind::Security("SEC-005")),
    (1, Kind::Security("SEC-004")),
    (1, Kind::SysCritical),
];

/// Options of the generator.
#[derive(Clone, Debug)]
pub struct GenOptions {
    /// Seed of the pseudo-random sequence.
    pub seed: u64,
    /// Timestamps are spread uniformly over this many days before `now` (0: all "now").
    pub spread_days: u32,
    /// The spread ends this many days before `now` (0: at `now`), e.g. to fill one
    /// month that retention has expired.
    pub end_days_ago: u32,
    /// Fraction of events that carry a client-chosen `event_id` (default 0.5).
    pub id_fraction: f64,
    /// First value of the id counter (so several generators never share ids).
    pub counter_start: u64,
    /// `Some(n)`: the generator will make `n` events, and their timestamps rise through
    /// the spread in that order (with a second of jitter), as events arrive from running
    /// applications. `None`: each timestamp is drawn anywhere in the spread (a back-fill
    /// in random order, the worst case for the time index).
    pub arrival_order: Option<u64>,
}

impl Default for GenOptions {
    fn default() -> Self {
        Self {
            seed: 1,
            spread_days: 0,
            end_days_ago: 0,
            id_fraction: 0.5,
            counter_start: 0,
            arrival_order: None,
        }
    }
}

/// The event generator.
pub struct Generator {
    rng: StdRng,
    opts: GenOptions,
    users: Vec<User>,
    ips: Vec<String>,
    now: DateTime<Utc>,
    counter: u64,
    total_weight: u32,
    /// Events generated so far.
    made: u64,
}

impl Generator {
    /// A generator; same options, same sequence (apart from `now`).
    pub fn new(opts: GenOptions) -> Self {
        let mut rng = StdRng::seed_from_u64(opts.seed);
        let mut users = Vec::with_capacity(2000);
        // ~2,000 users: 10 admins, 190 teachers, 1,800 students.
        for i in 0..2000u32 {
            let (username, role) = if i < 10 {
                (format!("admin{:02}", i + 1), "ADMIN")
            } else if i < 200 {
                (format!("guru{:02}", i - 9), "GURU")
            } else {
                (format!("siswa{:04}", i - 199), "SISWA")
            };
            users.push(User {
                id: 1 + i * 3 + (i % 7),
                username,
                role,
            });
        }
        // ~5,000 IPs: school LAN, home broadband, mobile carriers, a few IPv6.
        let mut ips = Vec::with_capacity(5000);
        for i in 0..5000u32 {
            let ip = match i % 10 {
                0..=2 => format!("192.168.{}.{}", rng.gen_range(0..8), rng.gen_range(2..255)),
                3..=4 => format!(
                    "10.{}.{}.{}",
                    rng.gen_range(0..4),
                    rng.gen_range(0..255),
                    rng.gen_range(2..255)
                ),
                5..=8 => format!(
                    "{}.{}.{}.{}",
                    [36, 103, 114, 110, 182, 180, 125, 139][rng.gen_range(0..8)],
                    rng.gen_range(0..255),
                    rng.gen_range(0..255),
                    rng.gen_range(1..255)
                ),
                _ => format!(
                    "2001:448a:{:x}:{:x}::{:x}",
                    rng.gen_range(0x1000..0xffff),
                    rng.gen_range(0..0xffff),
                    rng.gen_range(1..0xffff)
                ),
            };
            ips.push(ip);
        }
        let total_weight = MIX.iter().map(|(w, _)| w).sum();
        let counter = opts.counter_start;
        Self {
            rng,
            opts,
            users,
            ips,
            now: Utc::now(),
            counter,
            total_weight,
            made: 0,
        }
    }

    fn pick<'a, T>(&mut self, items: &'a [T]) -> &'a T {
        &items[self.rng.gen_range(0..items.len())]
    }

    fn person(&mut self) -> String {
        let f = *self.pick(FIRST_NAMES);
        let l = *self.pick(LAST_NAMES);
        format!("{f} {l}")
    }

    fn kind(&mut self) -> Kind {
        let mut r = self.rng.gen_range(0..self.total_weight);
        for (w, k) in MIX {
            if r < *w {
                return *k;
            }
            r -= w;
        }
        MIX[0].1
    }

    /// Generates the next event as a JSON value.
    pub fn next_value(&mut self) -> Value {
        let kind = self.kind();
        let user = match kind {
            Kind::Admin(_) | Kind::Model(_) => self.users[self.rng.gen_range(0..10)].clone(),
            Kind::Pred(_) | Kind::Analytics(_) => self.users[self.rng.gen_range(0..200)].clone(),
            _ => {
                // Teachers and admins are far more active per head than students.
                if self.rng.gen_bool(0.45) {
                    self.users[self.rng.gen_range(0..200)].clone()
                } else {
                    self.users[self.rng.gen_range(200..2000)].clone()
                }
            }
        };
        let ip = self.ips[self.rng.gen_range(0..self.ips.len())].clone();
        let ua = *self.pick(USER_AGENTS);
        let end = self.now - Duration::days(i64::from(self.opts.end_days_ago));
        let span_ms = i64::from(self.opts.spread_days) * 86_400_000;
        let ts = match self.opts.arrival_order {
            _ if span_ms == 0 => end,
            Some(total) => {
                let done = self.made as f64 / total.max(1) as f64;
                let jitter = self.rng.gen_range(0..1_000);
                end - Duration::milliseconds(span_ms - (span_ms as f64 * done) as i64 + jitter)
            }
            None => end - Duration::milliseconds(self.rng.gen_range(0..span_ms)),
        };
        self.made += 1;
        let session = format!("sess_{:016x}", self.rng.gen::<u64>());
        let correlation = format!("req-{:012x}", self.rng.gen::<u64>() >> 16);
        let student_no = self.rng.gen_range(1..1800u32);
        let student_id = format!("STD-2025-{student_no:04}");
        let mut ev = Map::new();
        let mut code: Option<&'static str> = None;
        let mut tags: Vec<&str> = Vec::with_capacity(4);
        let mut meta = Map::new();
        let platform = if ua.contains("Mobile") {
            "mobile"
        } else {
            "desktop"
        };
        let pt: f64 = (self.rng.gen_range(5.0..400.0f64) * 10.0).round() / 10.0;

        match kind {
            Kind::Login | Kind::LoginFailed | Kind::Logout | Kind::Token => {
                let (c, action, status, ep, desc) = match kind {
                    Kind::Login => (
                        "AUTH-001",
                        "LOGIN",
                        "SUCCESS",
                        "/api/auth/login",
                        format!("User {} berhasil login ke sistem EduPro", user.username),
                    ),
                    Kind::LoginFailed => (
                        "AUTH-002",
                        "LOGIN",
                        "FAILED",
                        "/api/auth/login",
                        format!("Gagal login untuk {}: kredensial salah", user.username),
                    ),
                    Kind::Logout => (
                        "AUTH-003",
                        "LOGOUT",
                        "SUCCESS",
                        "/api/auth/logout",
                        format!("User {} logout dari sistem", user.username),
                    ),
                    _ => (
                        "AUTH-008",
                        "REFRESH",
                        "SUCCESS",
                        "/api/auth/refresh",
                        format!("Token JWT untuk {} diperbarui", user.username),
                    ),
                };
                code = Some(c);
                ev.insert("event_category".into(), json!("AUTH"));
                ev.insert("action".into(), json!(action));
                ev.insert("status".into(), json!(status));
                ev.insert("http_method".into(), json!("POST"));
                ev.insert("endpoint".into(), json!(ep));
                ev.insert("event_description".into(), json!(desc));
                meta.insert(
                    "login_method".into(),
                    json!(if self.rng.gen_bool(0.9) {
                        "password"
                    } else {
                        "google_sso"
                    }),
                );
                meta.insert("browser".into(), json!(browser(ua)));
                meta.insert("device_type".into(), json!(platform));
                if matches!(kind, Kind::LoginFailed) {
                    ev.insert("http_status".into(), json!(401));
                    ev.insert(
                        "error_message".into(),
                        json!("Username atau password salah"),
                    );
                    ev.insert("error_code".into(), json!("AUTH_INVALID_CRED"));
                    meta.insert("attempt_count".into(), json!(self.rng.gen_range(1..5)));
                    tags.extend(["authentication", "login", "failed"]);
                } else {
                    ev.insert("http_status".into(), json!(200));
                    if matches!(kind, Kind::Logout) {
                        meta.insert(
                            "session_duration_s".into(),
                            json!(self.rng.gen_range(60..14_400)),
                        );
                    }
                    tags.extend(["authentication", action_tag(action), "success"]);
                }
            }
            Kind::Data(c) => {
                code = Some(c);
                let name = self.person();
                let (action, method, ep, rtype) = match c {
                    "DATA-001" => ("CREATE", "POST", "/api/siswa".to_owned(), "STUDENT"),
                    "DATA-002" => (
                        "UPDATE",
                        "PUT",
                        format!("/api/siswa/{student_no}"),
                        "STUDENT",
                    ),
                    "DATA-003" => (
                        "DELETE",
                        "DELETE",
                        format!("/api/siswa/{student_no}"),
                        "STUDENT",
                    ),
                    "DATA-004" => (
                        "CREATE",
                        "POST",
                        format!("/api/nilai/{student_no}"),
                        "SCORE",
                    ),
                    "DATA-005" => ("UPDATE", "PUT", format!("/api/nilai/{student_no}"), "SCORE"),
                    "DATA-006" => (
                        "CREATE",
                        "POST",
                        format!("/api/presensi/{student_no}"),
                        "ATTENDANCE",
                    ),
                    "DATA-010" => (
                        "VALIDATE",
                        "POST",
                        "/api/siswa/import".to_owned(),
                        "STUDENT",
                    ),
                    _ => ("EXPORT", "GET", "/api/siswa/export".to_owned(), "STUDENT"),
                };
                ev.insert("event_category".into(), json!("DATA"));
                ev.insert("action".into(), json!(action));
                ev.insert("http_method".into(), json!(method));
                ev.insert("endpoint".into(), json!(ep));
                ev.insert("resource_type".into(), json!(rtype));
                ev.insert("resource_id".into(), json!(student_id));
                ev.insert("resource_name".into(), json!(name));
                let subject = *self.pick(SUBJECTS);
                if c == "DATA-010" {
                    ev.insert("status".into(), json!("FAILED"));
                    ev.insert("http_status".into(), json!(422));
                    ev.insert(
                        "error_message".into(),
                        json!(format!("Validasi gagal: NIS {student_no} sudah terdaftar")),
                    );
                    ev.insert("error_code".into(), json!("VALIDATION_ERROR"));
                    ev.insert(
                        "event_description".into(),
                        json!(format!("Validasi data siswa {name} gagal")),
                    );
                } else {
                    ev.insert("status".into(), json!("SUCCESS"));
                    ev.insert(
                        "http_status".into(),
                        json!(if method == "POST" { 201 } else { 200 }),
                    );
                    ev.insert(
                        "event_description".into(),
                        json!(format!(
                            "Data {} siswa '{name}' berhasil diproses ({action})",
                            rtype.to_lowercase()
                        )),
                    );
                }
                if method != "GET" && method != "DELETE" {
                    let rd = match rtype {
                        "SCORE" => {
                            json!({"student_id": student_id, "subject": subject, "score": self.rng.gen_range(55..100), "semester": self.rng.gen_range(1..3)})
                        }
                        "ATTENDANCE" => {
                            json!({"student_id": student_id, "date": ts.format("%Y-%m-%d").to_string(), "status": (["HADIR", "SAKIT", "IZIN", "ALPA"][self.rng.gen_range(0..4)])})
                        }
                        _ => {
                            json!({"nama_lengkap": name, "nis": format!("{:08}", 12_000_000 + student_no), "jenis_kelamin": if self.rng.gen_bool(0.5) { "L" } else { "P" }})
                        }
                    };
                    ev.insert("request_data".into(), rd);
                }
                meta.insert(
                    "grade".into(),
                    json!(["10", "11", "12"][self.rng.gen_range(0..3)]),
                );
                meta.insert(
                    "class".into(),
                    json!(["A", "B", "C", "D"][self.rng.gen_range(0..4)]),
                );
                meta.insert("academic_year".into(), json!("2024/2025"));
                if self.rng.gen_bool(0.5) {
                    meta.insert("subject".into(), json!(subject));
                }
                tags.extend(["data_management", "student", action_tag(action)]);
            }
            Kind::Pred(c) => {
                code = Some(c);
                let name = self.person();
                let failed = c == "PRED-003";
                ev.insert("event_category".into(), json!("PRED"));
                ev.insert(
                    "action".into(),
                    json!(if c == "PRED-007" { "VIEW" } else { "PREDICT" }),
                );
                ev.insert(
                    "status".into(),
                    json!(if failed { "FAILED" } else { "SUCCESS" }),
                );
                ev.insert(
                    "http_method".into(),
                    json!(if c == "PRED-007" { "GET" } else { "POST" }),
                );
                ev.insert(
                    "endpoint".into(),
                    json!(if c == "PRED-007" {
                        format!("/api/prediksi/riwayat/{student_no}")
                    } else {
                        "/api/prediksi/individual".to_owned()
                    }),
                );
                ev.insert("resource_type".into(), json!("STUDENT"));
                ev.insert("resource_id".into(), json!(student_id));
                ev.insert("resource_name".into(), json!(name));
                ev.insert(
                    "event_description".into(),
                    json!(format!("Prediksi prestasi siswa {name}")),
                );
                if c == "PRED-002" || c == "PRED-009" {
                    let conf: f64 = (self.rng.gen_range(45.0..98.0f64) * 10.0).round() / 10.0;
                    ev.insert("response_data".into(), json!({"prediction": (["TINGGI", "SEDANG", "RENDAH"][self.rng.gen_range(0..3)]), "confidence": conf}));
                }
                if failed {
                    ev.insert("http_status".into(), json!(500));
                    ev.insert(
                        "error_message".into(),
                        json!("Data nilai semester belum lengkap"),
                    );
                    ev.insert("error_code".into(), json!("PRED_INCOMPLETE_DATA"));
                } else {
                    ev.insert("http_status".into(), json!(200));
                }
                meta.insert("model_version".into(), json!("v2025.06.15.001"));
                meta.insert("algorithm".into(), json!("C4.5"));
                meta.insert("feature_count".into(), json!(8));
                tags.extend([
                    "prediction",
                    "individual",
                    if failed { "failed" } else { "success" },
                ]);
            }
            Kind::Model(c) => {
                code = Some(c);
                ev.insert("event_category".into(), json!("MODEL"));
                ev.insert("status".into(), json!("SUCCESS"));
                ev.insert("resource_type".into(), json!("MODEL"));
                ev.insert(
                    "resource_id".into(),
                    json!(format!("model-c45-{}", self.rng.gen_range(100..999))),
                );
                ev.insert(
                    "event_description".into(),
                    json!("Evaluasi model C4.5 selesai"),
                );
                ev.insert(
                    "response_data".into(),
                    json!({"accuracy": 0.874, "precision": 0.861, "recall": 0.852, "f1": 0.856}),
                );
                meta.insert("algorithm".into(), json!("C4.5"));
                meta.insert("dataset_size".into(), json!(self.rng.gen_range(800..2000)));
                meta.insert("training_time_s".into(), json!(self.rng.gen_range(10..300)));
                tags.extend(["model", "ml", "evaluation"]);
            }
            Kind::ApiRequest => {
                // SYSTEM events without a catalog code: the request log of the API.
                let (method, ep, rtype) = match self.rng.gen_range(0..6) {
                    0 => ("GET", format!("/api/siswa/{student_no}"), "STUDENT"),
                    1 => (
                        "GET",
                        format!("/api/nilai/{student_no}?semester=2"),
                        "SCORE",
                    ),
                    2 => ("GET", "/api/siswa?page=3&per_page=25".to_owned(), "STUDENT"),
                    3 => ("GET", format!("/api/presensi/{student_no}"), "ATTENDANCE"),
                    4 => ("POST", "/api/prediksi/individual".to_owned(), "PREDICTION"),
                    _ => ("GET", "/api/dashboard/statistik".to_owned(), "DASHBOARD"),
                };
                let st = match self.rng.gen_range(0..100) {
                    0..=93 => 200,
                    94..=96 => 404,
                    97..=98 => 403,
                    _ => 500,
                };
                ev.insert("event_category".into(), json!("SYSTEM"));
                ev.insert("event_type".into(), json!("API_REQUEST"));
                ev.insert(
                    "event_name".into(),
                    json!(format!("{method} {}", ep.split('?').next().unwrap_or(&ep))),
                );
                ev.insert("http_method".into(), json!(method));
                ev.insert("endpoint".into(), json!(ep));
                ev.insert("http_status".into(), json!(st));
                ev.insert("resource_type".into(), json!(rtype));
                if st >= 400 {
                    ev.insert(
                        "error_message".into(),
                        json!(match st {
                            404 => "Resource tidak ditemukan",
                            403 => "Akses ditolak",
                            _ => "Internal server error",
                        }),
                    );
                }
                meta.insert(
                    "response_size".into(),
                    json!(self.rng.gen_range(200..40_000)),
                );
                meta.insert(
                    "cache".into(),
                    json!(if self.rng.gen_bool(0.3) {
                        "HIT"
                    } else {
                        "MISS"
                    }),
                );
                meta.insert("db_queries".into(), json!(self.rng.gen_range(1..12)));
                tags.extend(["api", "request", if st < 400 { "ok" } else { "error" }]);
            }
            Kind::Analytics(c) => {
                code = Some(c);
                ev.insert("event_category".into(), json!("ANALYTICS"));
                ev.insert("status".into(), json!("SUCCESS"));
                ev.insert("http_method".into(), json!("GET"));
                ev.insert(
                    "endpoint".into(),
                    json!(if c == "ANLY-002" {
                        "/api/laporan/semester"
                    } else {
                        "/api/dashboard"
                    }),
                );
                ev.insert("http_status".into(), json!(200));
                ev.insert(
                    "event_description".into(),
                    json!(format!("{} membuka dashboard analitik", user.username)),
                );
                meta.insert(
                    "dashboard_type".into(),
                    json!(["overview", "kelas", "prediksi"][self.rng.gen_range(0..3)]),
                );
                meta.insert("widget_count".into(), json!(self.rng.gen_range(3..12)));
                meta.insert("load_time_ms".into(), json!(self.rng.gen_range(80..1500)));
                tags.extend(["analytics", "dashboard"]);
            }
            Kind::Admin(c) => {
                code = Some(c);
                let target = self.users[self.rng.gen_range(10..2000)].clone();
                ev.insert("event_category".into(), json!("ADMIN"));
                ev.insert("status".into(), json!("SUCCESS"));
                ev.insert(
                    "http_method".into(),
                    json!(if c == "ADMIN-001" { "POST" } else { "PUT" }),
                );
                ev.insert(
                    "endpoint".into(),
                    json!(format!("/api/admin/users/{}", target.id)),
                );
                ev.insert("http_status".into(), json!(200));
                ev.insert("resource_type".into(), json!("USER"));
                ev.insert("resource_id".into(), json!(target.id.to_string()));
                ev.insert("resource_name".into(), json!(target.username));
                ev.insert(
                    "request_data".into(),
                    json!({"role": target.role, "is_active": true}),
                );
                meta.insert("changed_fields".into(), json!(["role", "is_active"]));
                meta.insert("admin_ui".into(), json!("v2"));
                meta.insert(
                    "reason".into(),
                    json!("penyesuaian hak akses semester baru"),
                );
                tags.extend(["admin", "user_management", "audit"]);
            }
            Kind::Security(c) => {
                code = Some(c);
                ev.insert("event_category".into(), json!("SECURITY"));
                ev.insert(
                    "status".into(),
                    json!(if c == "SEC-005" { "DENIED" } else { "BLOCKED" }),
                );
                ev.insert("http_method".into(), json!("POST"));
                ev.insert(
                    "endpoint".into(),
                    json!(if c == "SEC-004" {
                        "/api/siswa/search"
                    } else {
                        "/api/auth/login"
                    }),
                );
                ev.insert("http_status".into(), json!(403));
                ev.insert(
                    "event_description".into(),
                    json!(format!("Aktivitas mencurigakan terdeteksi dari {ip}")),
                );
                meta.insert("failed_attempts".into(), json!(self.rng.gen_range(5..60)));
                meta.insert("time_window_min".into(), json!(10));
                meta.insert("blocked".into(), json!(true));
                meta.insert(
                    "geo".into(),
                    json!(["ID", "SG", "US", "RU", "CN"][self.rng.gen_range(0..5)]),
                );
                tags.extend(["security", "threat", "blocked"]);
            }
            Kind::SysCritical => {
                code = Some("SYS-008");
                ev.insert("event_category".into(), json!("SYSTEM"));
                ev.insert("status".into(), json!("ALERT"));
                ev.insert(
                    "event_description".into(),
                    json!("Rasio error API melebihi ambang batas"),
                );
                meta.insert("error_rate".into(), json!(self.rng.gen_range(5.0..25.0f64)));
                meta.insert("threshold".into(), json!(5.0));
                meta.insert("window_s".into(), json!(300));
                tags.extend(["system", "alert", "critical"]);
            }
        }
        if let Some(c) = code {
            ev.insert("event_code".into(), json!(c));
        }
        if tags.len() < 4 && self.rng.gen_bool(0.3) {
            tags.push(*self.pick(ROLES_TAGS));
        }
        // Identity, client and request context.
        ev.insert("user_id".into(), json!(user.id.to_string()));
        ev.insert("username".into(), json!(user.username));
        ev.insert("user_role".into(), json!(user.role));
        if self.rng.gen_bool(0.3) {
            ev.insert(
                "tenant_id".into(),
                json!(["sman1-bandung", "smkn2-surabaya", "sma-harapan"][self.rng.gen_range(0..3)]),
            );
        }
        ev.insert("ip_address".into(), json!(ip));
        ev.insert("user_agent".into(), json!(ua));
        ev.insert("session_id".into(), json!(session));
        ev.insert("correlation_id".into(), json!(correlation));
        ev.insert(
            "source".into(),
            json!(if platform == "mobile" {
                "edupro-mobile"
            } else {
                "edupro-web"
            }),
        );
        ev.insert("processing_time_ms".into(), json!(pt));
        ev.insert(
            "timestamp".into(),
            json!(ts.to_rfc3339_opts(chrono::SecondsFormat::Millis, true)),
        );
        ev.insert("metadata".into(), Value::Object(meta));
        ev.insert("tags".into(), json!(tags));
        let _ = kind;
        if self.rng.gen_bool(self.opts.id_fraction) {
            let mut id = String::with_capacity(48);
            let prefix = code.unwrap_or("API-000");
            let _ = write!(
                id,
                "{prefix}-{}-{:x}",
                ts.format("%Y%m%d-%H%M%S"),
                self.counter
            );
            self.counter += 1;
            ev.insert("event_id".into(), json!(id));
        }
        Value::Object(ev)
    }

    /// Generates the next event as JSON text.
    pub fn next_json(&mut self) -> String {
        serde_json::to_string(&self.next_value()).expect("a JSON value serialises")
    }
}

fn browser(ua: &str) -> &'static str {
    if ua.contains("Edg/") {
        "Edge 126"
    } else if ua.contains("OPR/") {
        "Opera 95"
    } else if ua.contains("Firefox") {
        "Firefox 127"
    } else if ua.contains("Chrome") {
        "Chrome 125"
    } else {
        "Safari 17.5"
    }
}

fn action_tag(action: &str) -> &'static str {
    match action {
        "LOGIN" => "login",
        "LOGOUT" => "logout",
        "REFRESH" => "token",
        "CREATE" => "create",
        "UPDATE" => "update",
        "DELETE" => "delete",
        "EXPORT" => "export",
        _ => "validate",
    }
}

/// Events in chunks of validated events (for the store-level benchmarks), generated and
/// validated on a separate thread so that the writer only writes.
pub fn validated_chunks(
    opts: GenOptions,
    total: u64,
    chunk: usize,
    depth: usize,
) -> std::sync::mpsc::Receiver<(Vec<eventlog_core::ValidatedEvent>, u64)> {
    let (tx, rx) = std::sync::mpsc::sync_channel(depth);
    std::thread::spawn(move || {
        let mut gen = Generator::new(opts);
        let validator =
            eventlog_core::Validator::new(Default::default(), eventlog_core::Catalog::built_in());
        let mut left = total;
        while left > 0 {
            let n = left.min(chunk as u64) as usize;
            let mut events = Vec::with_capacity(n);
            let mut bytes = 0u64;
            let now = Utc::now();
            for _ in 0..n {
                let text = gen.next_json();
                bytes += text.len() as u64;
                let raw =
                    eventlog_core::parse_event(text.as_bytes()).expect("generated events parse");
                match validator.validate(raw, now) {
                    Ok(v) => events.push(v),
                    Err(e) => panic!("generated event is invalid: {e:?}\n{text}"),
                }
            }
            left -= n as u64;
            if tx.send((events, bytes)).is_err() {
                return;
            }
        }
    });
    rx
}
