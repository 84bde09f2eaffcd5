//! What the live schema must look like, and a report of how it differs.
//!
//! `serve` refuses to start on drift and `eventlog migrate --check` prints the same report:
//! an event log that cannot write its rows must say so at start-up, not fail each request
//! (the seeds' login outage came from a missing `processed_at` column).

use std::fmt;

/// One column this build reads or writes, with its type on each backend.
#[derive(Debug, Clone, Copy)]
pub struct ExpectedColumn {
    /// Table name.
    pub table: &'static str,
    /// Column name.
    pub name: &'static str,
    /// Declared type in SQLite (`PRAGMA table_info`).
    pub sqlite: &'static str,
    /// Type in PostgreSQL (`information_schema.columns.udt_name`).
    pub postgres: &'static str,
}

macro_rules! columns {
    ($($table:literal . $name:ident : $sqlite:literal, $pg:literal;)*) => {
        &[$(ExpectedColumn { table: $table, name: stringify!($name), sqlite: $sqlite, postgres: $pg }),*]
    };
}

/// Every column the code relies on.
pub const EXPECTED_COLUMNS: &[ExpectedColumn] = columns! {
    "events".seq: "INTEGER", "int8";
    "events".event_id: "TEXT", "text";
    "events".event_code: "TEXT", "text";
    "events".event_category: "TEXT", "text";
    "events".event_type: "TEXT", "text";
    "events".event_name: "TEXT", "text";
    "events".event_description: "TEXT", "text";
    "events".user_id: "TEXT", "text";
    "events".username: "TEXT", "text";
    "events".user_role: "TEXT", "text";
    "events".tenant_id: "TEXT", "text";
    "events".ip_address: "TEXT", "inet";
    "events".user_agent: "TEXT", "text";
    "events".session_id: "TEXT", "text";
    "events".correlation_id: "TEXT", "text";
    "events".source: "TEXT", "text";
    "events".resource_type: "TEXT", "text";
    "events".resource_id: "TEXT", "text";
    "events".resource_name: "TEXT", "text";
    "events".related: "TEXT", "json";
    "events".action: "TEXT", "text";
    "events".status: "TEXT", "text";
    "events".http_method: "TEXT", "text";
    "events".endpoint: "TEXT", "text";
    "events".http_status: "INTEGER", "int2";
    "events".request_data: "TEXT", "json";
    "events".response_data: "TEXT", "json";
    "events".error_message: "TEXT", "text";
    "events".error_code: "TEXT", "text";
    "events".processing_time_ms: "REAL", "float8";
    "events".timestamp: "INTEGER", "timestamptz";
    "events".metadata: "TEXT", "json";
    "events".tags: "TEXT", "_text";
    "events".severity: "TEXT", "text";
    "events".importance: "TEXT", "text";
    "events".content_hash: "BLOB", "bytea";
    "events".created_at: "INTEGER", "timestamptz";
    "events".processed_at: "INTEGER", "timestamptz";
    "api_keys".id: "INTEGER", "int8";
    "api_keys".name: "TEXT", "text";
    "api_keys".role: "TEXT", "text";
    "api_keys".tenant_id: "TEXT", "text";
    "api_keys".prefix: "TEXT", "text";
    "api_keys".key_hash: "TEXT", "text";
    "api_keys".created_at: "INTEGER", "timestamptz";
    "api_keys".revoked_at: "INTEGER", "timestamptz";
    "api_keys".allowed_origins: "TEXT", "text";
    "event_summary_minute".dimension: "TEXT", "text";
    "event_summary_minute".bucket: "INTEGER", "timestamptz";
    "event_summary_minute".tenant_id: "TEXT", "text";
    "event_summary_minute".value: "TEXT", "text";
    "event_summary_minute".events: "INTEGER", "int8";
    "event_summary_minute".errors: "INTEGER", "int8";
    "event_summary_minute".failures: "INTEGER", "int8";
    "event_summary_minute".latency_count: "INTEGER", "int8";
    "event_summary_minute".latency_sum: "REAL", "float8";
    "event_summary_minute".latency_max: "REAL", "float8";
    "event_summary_minute".confidence_count: "INTEGER", "int8";
    "event_summary_minute".confidence_sum: "REAL", "float8";
    "event_summary_minute".last_seen: "INTEGER", "timestamptz";
    "event_summary_hourly".dimension: "TEXT", "text";
    "event_summary_hourly".bucket: "INTEGER", "timestamptz";
    "event_summary_hourly".tenant_id: "TEXT", "text";
    "event_summary_hourly".value: "TEXT", "text";
    "event_summary_hourly".events: "INTEGER", "int8";
    "event_summary_hourly".errors: "INTEGER", "int8";
    "event_summary_hourly".failures: "INTEGER", "int8";
    "event_summary_hourly".latency_count: "INTEGER", "int8";
    "event_summary_hourly".latency_sum: "REAL", "float8";
    "event_summary_hourly".latency_max: "REAL", "float8";
    "event_summary_hourly".confidence_count: "INTEGER", "int8";
    "event_summary_hourly".confidence_sum: "REAL", "float8";
    "event_summary_hourly".last_seen: "INTEGER", "timestamptz";
    "event_summary_daily".dimension: "TEXT", "text";
    "event_summary_daily".bucket: "INTEGER", "timestamptz";
    "event_summary_daily".tenant_id: "TEXT", "text";
    "event_summary_daily".value: "TEXT", "text";
    "event_summary_daily".events: "INTEGER", "int8";
    "event_summary_daily".errors: "INTEGER", "int8";
    "event_summary_daily".failures: "INTEGER", "int8";
    "event_summary_daily".latency_count: "INTEGER", "int8";
    "event_summary_daily".latency_sum: "REAL", "float8";
    "event_summary_daily".latency_max: "REAL", "float8";
    "event_summary_daily".confidence_count: "INTEGER", "int8";
    "event_summary_daily".confidence_sum: "REAL", "float8";
    "event_summary_daily".last_seen: "INTEGER", "timestamptz";
    "rollup_state".id: "INTEGER", "int2";
    "rollup_state".daily_from: "INTEGER", "timestamptz";
    "events".record_hash: "BLOB", "bytea";
    "events".chain_pos: "INTEGER", "int8";
    "events".chain_hash: "BLOB", "bytea";
    "chain_head".id: "INTEGER", "int2";
    "chain_head".chain_pos: "INTEGER", "int8";
    "chain_head".chain_hash: "BLOB", "bytea";
    "chain_head".leaf_sum: "BLOB", "bytea";
    "chain_checkpoints".id: "INTEGER", "int8";
    "chain_checkpoints".chain_pos: "INTEGER", "int8";
    "chain_checkpoints".chain_hash: "BLOB", "bytea";
    "chain_checkpoints".leaf_sum: "BLOB", "bytea";
    "chain_checkpoints".created_at: "INTEGER", "timestamptz";
    "chain_checkpoints".prev_signature: "BLOB", "bytea";
    "chain_checkpoints".public_key: "BLOB", "bytea";
    "chain_checkpoints".signature: "BLOB", "bytea";
    "chain_prunings".id: "INTEGER", "int8";
    "chain_prunings".from_pos: "INTEGER", "int8";
    "chain_prunings".to_pos: "INTEGER", "int8";
    "chain_prunings".pruned: "INTEGER", "int8";
    "chain_prunings".leaf_sum: "BLOB", "bytea";
    "chain_prunings".severity: "TEXT", "text";
    "chain_prunings".cutoff: "INTEGER", "timestamptz";
    "chain_prunings".created_at: "INTEGER", "timestamptz";
    "chain_prunings".public_key: "BLOB", "bytea";
    "chain_prunings".signature: "BLOB", "bytea";
    "alerts".id: "INTEGER", "int8";
    "alerts".rule: "TEXT", "text";
    "alerts".alert_key: "TEXT", "text";
    "alerts".kind: "TEXT", "text";
    "alerts".severity: "TEXT", "text";
    "alerts".tenant_id: "TEXT", "text";
    "alerts".state: "TEXT", "text";
    "alerts".value: "REAL", "float8";
    "alerts".threshold: "REAL", "float8";
    "alerts".window_secs: "INTEGER", "int8";
    "alerts".message: "TEXT", "text";
    "alerts".event_id: "TEXT", "text";
    "alerts".started_at: "INTEGER", "timestamptz";
    "alerts".resolved_at: "INTEGER", "timestamptz";
    "alerts".resolved_value: "REAL", "float8";
    "events".payload: "BLOB", "bytea";
    "payload_dictionaries".id: "INTEGER", "int8";
    "payload_dictionaries".dictionary: "BLOB", "bytea";
    "payload_dictionaries".samples: "INTEGER", "int8";
    "payload_dictionaries".created_at: "INTEGER", "timestamptz";
};

/// The tables [`EXPECTED_COLUMNS`] names, for the live-schema queries.
pub fn expected_tables() -> Vec<&'static str> {
    let mut tables: Vec<&'static str> = EXPECTED_COLUMNS.iter().map(|c| c.table).collect();
    tables.sort_unstable();
    tables.dedup();
    tables
}

/// One difference between the live schema and [`EXPECTED_COLUMNS`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Drift {
    /// A table is missing.
    MissingTable {
        /// Table name.
        table: String,
    },
    /// A column is missing.
    MissingColumn {
        /// Table name.
        table: String,
        /// Column name.
        column: String,
        /// The type it should have.
        expected: String,
    },
    /// A column has another type.
    WrongType {
        /// Table name.
        table: String,
        /// Column name.
        column: String,
        /// Type found.
        found: String,
        /// Type expected.
        expected: String,
    },
}

/// The result of comparing the live schema with this build.
#[derive(Debug, Clone, Default)]
pub struct SchemaReport {
    /// `sqlite` or `postgres`.
    pub backend: &'static str,
    /// Latest migration applied to the database, if any.
    pub applied_version: Option<i64>,
    /// Latest migration this build knows.
    pub expected_version: i64,
    /// Migrations this build has that the database lacks (`version description`).
    pub pending: Vec<String>,
    /// Migrations the database has that this build does not know (a newer eventlog wrote it).
    pub unknown_applied: Vec<i64>,
    /// Column-level differences.
    pub drift: Vec<Drift>,
}

/// `version description` of each migration of `migrator` not in `applied`.
pub(crate) fn missing_migrations(
    migrator: &sqlx::migrate::Migrator,
    applied: &[i64],
) -> Vec<String> {
    migrator
        .iter()
        .filter(|m| !applied.contains(&m.version))
        .map(|m| format!("{} {}", m.version, m.description))
        .collect()
}

impl SchemaReport {
    /// The migration part of the report: what `applied` lacks of `migrator` and has beyond
    /// it. Columns are compared afterwards with [`SchemaReport::compare_columns`].
    pub(crate) fn from_migrations(
        backend: &'static str,
        migrator: &sqlx::migrate::Migrator,
        applied: &[i64],
    ) -> Self {
        Self {
            backend,
            applied_version: applied.last().copied(),
            expected_version: migrator.iter().map(|m| m.version).max().unwrap_or(0),
            pending: missing_migrations(migrator, applied),
            unknown_applied: applied
                .iter()
                .filter(|v| !migrator.iter().any(|m| m.version == **v))
                .copied()
                .collect(),
            drift: Vec::new(),
        }
    }

    /// Whether the database matches this build exactly.
    pub fn is_ok(&self) -> bool {
        self.pending.is_empty() && self.unknown_applied.is_empty() && self.drift.is_empty()
    }

    /// Compares live columns `(table, column, type)` with the expectation for `backend`.
    pub fn compare_columns(&mut self, live: &[(String, String, String)]) {
        let mut tables_missing: Vec<&str> = Vec::new();
        for col in EXPECTED_COLUMNS {
            let expected = if self.backend == "sqlite" {
                col.sqlite
            } else {
                col.postgres
            };
            if !live.iter().any(|(t, _, _)| t == col.table) {
                if !tables_missing.contains(&col.table) {
                    tables_missing.push(col.table);
                    self.drift.push(Drift::MissingTable {
                        table: col.table.to_owned(),
                    });
                }
                continue;
            }
            match live
                .iter()
                .find(|(t, c, _)| t == col.table && c == col.name)
            {
                None => self.drift.push(Drift::MissingColumn {
                    table: col.table.to_owned(),
                    column: col.name.to_owned(),
                    expected: expected.to_owned(),
                }),
                Some((_, _, found)) if !found.eq_ignore_ascii_case(expected) => {
                    self.drift.push(Drift::WrongType {
                        table: col.table.to_owned(),
                        column: col.name.to_owned(),
                        found: found.clone(),
                        expected: expected.to_owned(),
                    })
                }
                Some(_) => {}
            }
        }
    }
}

impl fmt::Display for SchemaReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.is_ok() {
            return write!(
                f,
                "schema OK ({} migration {})",
                self.backend, self.expected_version
            );
        }
        writeln!(
            f,
            "the {} schema does not match this eventlog (database at migration {}, eventlog expects {}):",
            self.backend,
            self.applied_version.map_or("none".to_owned(), |v| v.to_string()),
            self.expected_version
        )?;
        if self.applied_version.is_none() {
            // No migration ever ran here, yet some of eventlog's tables exist: they belong
            // to something else, and `eventlog migrate` would fail on them.
            let foreign: Vec<&str> = expected_tables()
                .into_iter()
                .filter(|t| {
                    !self
                        .drift
                        .iter()
                        .any(|d| matches!(d, Drift::MissingTable { table } if table == t))
                })
                .collect();
            if !foreign.is_empty() {
                return writeln!(
                    f,
                    "  - this database has table(s) {} that eventlog did not create (it never migrated this database): give eventlog a database of its own",
                    foreign.join(", ")
                );
            }
        }
        for m in &self.pending {
            writeln!(
                f,
                "  - migration {m} is not applied: run `eventlog migrate`"
            )?;
        }
        for v in &self.unknown_applied {
            writeln!(
                f,
                "  - migration {v} was applied by a newer eventlog: upgrade this eventlog (never downgrade a database)"
            )?;
        }
        let migrations_current = self.pending.is_empty();
        for d in &self.drift {
            match d {
                Drift::MissingTable { table } if !migrations_current => {
                    writeln!(f, "  - table {table} is missing: run `eventlog migrate`")?
                }
                Drift::MissingTable { table } => writeln!(
                    f,
                    "  - table {table} is missing although every migration is recorded as applied: it was dropped outside eventlog; restore it from a backup"
                )?,
                Drift::MissingColumn { table, column, expected } if !migrations_current => writeln!(
                    f,
                    "  - table {table}: column {column} ({expected}) is missing: run `eventlog migrate`"
                )?,
                Drift::MissingColumn { table, column, expected } => writeln!(
                    f,
                    "  - table {table}: column {column} ({expected}) is missing although every migration is applied (changed outside eventlog): run `ALTER TABLE {table} ADD COLUMN {column} {expected}` or restore from a backup"
                )?,
                Drift::WrongType { table, column, found, expected } => writeln!(
                    f,
                    "  - table {table}: column {column} has type {found}, expected {expected} (changed outside eventlog): run `ALTER TABLE {table} ALTER COLUMN {column} TYPE {expected}` on PostgreSQL, or restore from a backup"
                )?,
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn live_sqlite() -> Vec<(String, String, String)> {
        EXPECTED_COLUMNS
            .iter()
            .map(|c| (c.table.to_owned(), c.name.to_owned(), c.sqlite.to_owned()))
            .collect()
    }

    #[test]
    fn tables_of_another_application_are_named_as_such() {
        let live = vec![("events".to_owned(), "id".to_owned(), "INTEGER".to_owned())];
        let mut report = SchemaReport {
            backend: "sqlite",
            applied_version: None,
            expected_version: 1,
            pending: vec!["1 init".to_owned()],
            ..Default::default()
        };
        report.compare_columns(&live);
        let text = report.to_string();
        assert!(
            text.contains("table(s) events that eventlog did not create"),
            "{text}"
        );
        assert!(!text.contains("run `eventlog migrate`"), "{text}");
    }

    #[test]
    fn names_the_missing_column_and_the_fix() {
        let mut live = live_sqlite();
        live.retain(|(t, c, _)| !(t == "events" && c == "processed_at"));
        let mut report = SchemaReport {
            backend: "sqlite",
            applied_version: Some(1),
            expected_version: 1,
            ..Default::default()
        };
        report.compare_columns(&live);
        assert!(!report.is_ok());
        let text = report.to_string();
        assert!(
            text.contains("table events: column processed_at (INTEGER) is missing"),
            "{text}"
        );
        assert!(
            text.contains("ALTER TABLE events ADD COLUMN processed_at INTEGER"),
            "{text}"
        );
    }

    #[test]
    fn a_matching_schema_is_ok() {
        let mut report = SchemaReport {
            backend: "sqlite",
            applied_version: Some(1),
            expected_version: 1,
            ..Default::default()
        };
        report.compare_columns(&live_sqlite());
        assert!(report.is_ok(), "{report}");
    }

    #[test]
    fn migrations_never_drop_or_rewrite_data() {
        for dir in ["migrations/sqlite", "migrations/postgres"] {
            for entry in
                std::fs::read_dir(concat!(env!("CARGO_MANIFEST_DIR"), "/").to_owned() + dir)
                    .unwrap()
            {
                let path = entry.unwrap().path();
                let sql: String = std::fs::read_to_string(&path)
                    .unwrap()
                    .lines()
                    .filter(|l| !l.trim_start().starts_with("--"))
                    .collect::<Vec<_>>()
                    .join("\n")
                    .to_uppercase()
                    // Dropping a CHECK constraint to widen it, or an index to rebuild it
                    // wider, changes no row.
                    .replace("DROP CONSTRAINT", "")
                    .replace("DROP INDEX", "");
                for forbidden in ["DROP ", "DELETE ", "TRUNCATE", "UPDATE ", "ALTER COLUMN"] {
                    assert!(
                        !sql.contains(forbidden),
                        "{} contains {forbidden}",
                        path.display()
                    );
                }
            }
        }
    }
}
