//! Retention: events older than their policy allows are archived to zstd-compressed JSONL
//! files (one per UTC day, each listed with its SHA-256 in the run's `manifest.json`),
//! each archive is read back from disk and checked, and only then are exactly the archived
//! events deleted. PostgreSQL drops a monthly partition whole when every row in it expired.
//!
//! The tamper-evident chain stays verifiable: a checkpoint is signed first, only events it
//! covers are eligible, and every deletion is accounted for by signed pruning records
//! ([`Integrity::record_pruned`]). Rollups are left as they are, so the numbers of deleted
//! days stay. Every run is recorded as an ADMIN-007 "Log Cleanup" event.
//!
//! [`restore`] re-imports an archive (idempotent: the events keep their ids).

use std::collections::{BTreeMap, HashSet};
use std::fs::File;
use std::io::{BufRead, BufReader, BufWriter, Read, Write};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use chrono::{DateTime, Datelike, NaiveDate, TimeDelta, TimeZone, Utc};
use eventlog_core::validate::Validator;
use eventlog_core::{parse_event, Severity};
use eventlog_store::retention::RETENTION_PAGE;
use eventlog_store::{
    CategoryMatch, ExpiredGroup, Expiry, ExpiryRule, PrunedLeaf, RequestOutcome, Store, StoreError,
};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::audit::{record_admin_action, AdminAction};
use crate::config::RetentionConfig;
use crate::integrity::{Integrity, IntegrityError, PruneTally, SegmentSum};
use crate::metrics::{Metrics, RetentionFigures};

/// The manifest's name in each run's folder.
pub const MANIFEST: &str = "manifest.json";
/// What the manifest's `format` field holds.
const MANIFEST_FORMAT: &str = "eventlog-archive/1";
/// Events restored per transaction.
const RESTORE_BATCH: usize = 1_000;

/// Why retention or a restore stopped. Nothing is deleted after an error in archiving.
#[derive(Debug, thiserror::Error)]
pub enum RetentionError {
    /// The `[retention]` section is wrong.
    #[error("retention config: {0}")]
    Config(String),
    /// The store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// Checkpointing or the pruning records failed.
    #[error(transparent)]
    Integrity(#[from] IntegrityError),
    /// A file could not be written or read.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The OS error.
        source: std::io::Error,
    },
    /// Another retention run or archiving is under way on this store.
    #[error(
        "another retention run or `archive ahead` is under way on this store (by `eventlog serve`'s schedule or another command); nothing was done: try again when it has finished"
    )]
    Busy,
    /// An archive does not match its manifest, or holds something that is not an event.
    #[error("archive {path}: {message}")]
    Archive {
        /// The archive.
        path: PathBuf,
        /// What is wrong.
        message: String,
    },
}

fn io_err(path: &Path) -> impl FnOnce(std::io::Error) -> RetentionError + '_ {
    move |source| RetentionError::Io {
        path: path.to_owned(),
        source,
    }
}

fn archive_err(path: &Path, message: impl Into<String>) -> RetentionError {
    RetentionError::Archive {
        path: path.to_owned(),
        message: message.into(),
    }
}

/// Checks the policy as a whole, before it is ever applied: what [`expiry`] checks, and
/// that every category it overrides is one events can have (a misspelt one would silently
/// never apply).
pub fn check_policy(
    config: &RetentionConfig,
    validation: &eventlog_core::ValidationPolicy,
) -> Result<(), RetentionError> {
    expiry(config, Utc::now())?;
    for category in config.categories.keys() {
        if !validation.knows_category(category) {
            return Err(RetentionError::Config(format!(
                "[retention.categories.{category}]: no event has category `{category}`; expected one of {} or a [validation] extra_categories entry",
                eventlog_core::validate::BUILT_IN_CATEGORIES.join(", ")
            )));
        }
    }
    Ok(())
}

/// Turns the configured policy into the rules in force at `now`.
pub fn expiry(config: &RetentionConfig, now: DateTime<Utc>) -> Result<Expiry, RetentionError> {
    let severity = |name: &str| {
        name.parse::<Severity>().map_err(|_| {
            RetentionError::Config(format!(
                "unknown severity `{name}`; expected DEBUG, INFO, WARNING, ERROR or CRITICAL"
            ))
        })
    };
    // 0 elsewhere in the config means "off"; here it would delete every such event at the
    // next run, which nobody means by it.
    let at_least_a_day = |key: String, days: u32| {
        if days == 0 {
            Err(RetentionError::Config(format!(
                "{key} = 0 would delete every such event at the next run; the least is 1 (day). \
                 To keep events longer, raise it instead"
            )))
        } else {
            Ok(())
        }
    };
    // Severities the file does not name keep the seed 002 default.
    let mut defaults: BTreeMap<Severity, u32> = BTreeMap::new();
    for (name, days) in RetentionConfig::default().days.iter().chain(&config.days) {
        at_least_a_day(format!("retention.days.{name}"), *days)?;
        defaults.insert(severity(name)?, *days);
    }
    let mut overrides: BTreeMap<Severity, Vec<(String, u32)>> = BTreeMap::new();
    for (category, per_severity) in &config.categories {
        for (name, days) in per_severity {
            at_least_a_day(format!("retention.categories.{category}.{name}"), *days)?;
            overrides
                .entry(severity(name)?)
                .or_default()
                .push((category.to_ascii_uppercase(), *days));
        }
    }
    let cutoff = |days: u32| now - TimeDelta::days(i64::from(days));
    let mut rules = Vec::new();
    for s in Severity::ALL {
        let special = overrides.remove(&s).unwrap_or_default();
        if let Some(days) = defaults.get(&s) {
            rules.push(ExpiryRule {
                severity: s.as_str().to_owned(),
                categories: CategoryMatch::AllBut(special.iter().map(|(c, _)| c.clone()).collect()),
                cutoff: cutoff(*days),
            });
        }
        for (category, days) in special {
            rules.push(ExpiryRule {
                severity: s.as_str().to_owned(),
                categories: CategoryMatch::Only(category),
                cutoff: cutoff(days),
            });
        }
    }
    Ok(Expiry {
        rules,
        max_chain_pos: None,
        not_before: None,
    })
}

/// One archive file as the manifest lists it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ArchiveEntry {
    /// File name, in the manifest's folder.
    pub file: String,
    /// The UTC day its events happened on.
    pub day: NaiveDate,
    /// The PostgreSQL partition(s) the events were in (empty on SQLite).
    pub partitions: Vec<String>,
    /// Events (lines) in it.
    pub count: u64,
    /// SHA-256 of the file as written (hex).
    pub sha256: String,
    /// Id of the first event (oldest timestamp).
    pub first_event_id: String,
    /// Id of the last event.
    pub last_event_id: String,
    /// Earliest event timestamp.
    pub first_timestamp: DateTime<Utc>,
    /// Latest event timestamp.
    pub last_timestamp: DateTime<Utc>,
    /// Archives made ahead: the day's highest storage `seq` when it was archived (a row
    /// stored later has a higher one).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_seq: Option<i64>,
    /// Archives made ahead: the events' chain leaves per severity and category, summed per
    /// signed segment: what the pruning records need when the partition is dropped.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub leaf_sums: Vec<GroupLeafSums>,
}

/// The chain leaves of one severity and category of an archive made ahead.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct GroupLeafSums {
    /// Severity.
    pub severity: String,
    /// Category.
    pub category: String,
    /// Per signed segment.
    pub segments: Vec<SegmentSum>,
}

/// A run's `manifest.json`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Manifest {
    /// `eventlog-archive/1`.
    pub format: String,
    /// The run, e.g. `retention-20251123T101500Z`.
    pub run_id: String,
    /// When the run started.
    pub created_at: DateTime<Utc>,
    /// `sqlite` or `postgres`.
    pub backend: String,
    /// Every archive of the run, as verified on disk.
    pub archives: Vec<ArchiveEntry>,
}

/// Expired events of one severity and category.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ExpiredCount {
    /// Severity.
    pub severity: String,
    /// Category.
    pub category: String,
    /// The cutoff that applies to them.
    pub cutoff: DateTime<Utc>,
    /// How many.
    pub count: i64,
}

/// What a run found and did.
#[derive(Debug, Clone, Default, Serialize)]
pub struct RetentionReport {
    /// Nothing was archived or deleted.
    pub dry_run: bool,
    /// The run's archive folder (not for dry runs or runs with nothing expired).
    pub run_dir: Option<PathBuf>,
    /// Expired events per severity and category.
    pub expired: Vec<ExpiredCount>,
    /// Events written to verified archives.
    pub archived: u64,
    /// Events of dropped partitions that were archived ahead (`archive_dir/daily`), whose
    /// archives were checked and not written again.
    pub archived_ahead: u64,
    /// Events deleted.
    pub deleted: u64,
    /// PostgreSQL partitions dropped whole.
    pub partitions_dropped: Vec<String>,
    /// The archives written.
    pub archives: Vec<ArchiveEntry>,
    /// Signed pruning records stored.
    pub pruning_records: usize,
}

/// Applies the retention policy to a store.
pub struct Retention {
    store: Arc<dyn Store>,
    integrity: Arc<Integrity>,
    config: RetentionConfig,
    archive_dir: PathBuf,
    metrics: Option<Metrics>,
}

/// The events of one archived day: what deletion names and what the tally needs.
struct DayRows {
    keys: Vec<(DateTime<Utc>, i64)>,
    leaves: Vec<(i64, usize, Option<PrunedLeaf>)>,
}

/// Chain leaves tallied per severity and category (an archive made ahead keeps them, since
/// the policy that will expire them is not known yet).
struct GroupTallies {
    empty: PruneTally,
    tallies: BTreeMap<(String, String), PruneTally>,
}

impl GroupTallies {
    fn add(
        &mut self,
        severity: &str,
        category: &str,
        leaf: &PrunedLeaf,
    ) -> Result<(), IntegrityError> {
        let key = (severity.to_owned(), category.to_owned());
        let empty = &self.empty;
        self.tallies
            .entry(key)
            .or_insert_with(|| empty.clone())
            .add(leaf)
    }

    fn into_sums(self) -> Vec<GroupLeafSums> {
        self.tallies
            .into_iter()
            .map(|((severity, category), tally)| GroupLeafSums {
                severity,
                category,
                segments: tally.segment_sums(),
            })
            .collect()
    }
}

impl Retention {
    /// Retention of `store` by `config`, archiving into `archive_dir`.
    pub fn new(
        store: Arc<dyn Store>,
        integrity: Arc<Integrity>,
        config: RetentionConfig,
        archive_dir: PathBuf,
    ) -> Self {
        Self {
            store,
            integrity,
            config,
            archive_dir,
            metrics: None,
        }
    }

    /// The store-wide retention lock, or [`RetentionError::Busy`].
    async fn lock(&self) -> Result<eventlog_store::JobLock, RetentionError> {
        self.store
            .try_lock_job("retention")
            .await?
            .ok_or(RetentionError::Busy)
    }

    /// Reports each run's figures to `metrics`.
    pub fn with_metrics(mut self, metrics: Metrics) -> Self {
        self.metrics = Some(metrics);
        self
    }

    /// Runs the policy once. `dry_run` only counts. `progress(done, total)` is called as
    /// events are archived. `actor` names who ran it in the ADMIN-007 event.
    pub async fn run(
        &self,
        dry_run: bool,
        actor: &str,
        progress: &mut (dyn FnMut(u64, u64) + Send),
    ) -> Result<RetentionReport, RetentionError> {
        let started = Utc::now();
        let mut expiry = expiry(&self.config, started)?;
        // One run at a time per store, or two would archive the same events; a dry run
        // changes nothing and needs no lock.
        let _lock = if dry_run {
            None
        } else {
            Some(self.lock().await?)
        };
        if !dry_run {
            // Only events inside a signed segment may go: the pruning records cite it.
            self.integrity.checkpoint().await?;
            expiry.max_chain_pos =
                Some(self.store.checkpoints().await?.last().map_or(0, |c| c.pos));
        }
        let groups = self.store.expired_groups(&expiry).await?;
        let mut report = RetentionReport {
            dry_run,
            expired: summarize(&expiry, &groups),
            ..Default::default()
        };
        let total: i64 = groups.iter().map(|g| g.count).sum();
        if dry_run {
            return Ok(report);
        }
        let result = if total > 0 {
            self.archive_and_delete(&expiry, &groups, started, &mut report, progress)
                .await
        } else {
            Ok(())
        };
        let mut by_severity: BTreeMap<&str, i64> = BTreeMap::new();
        for e in &report.expired {
            *by_severity.entry(&e.severity).or_default() += e.count;
        }
        let details = serde_json::json!({
            "archived": report.archived,
            "archived_ahead": report.archived_ahead,
            "deleted": report.deleted,
            "expired_by_severity": by_severity,
            "partitions_dropped": report.partitions_dropped,
            "archive_dir": report.run_dir,
            "archives": report.archives.len(),
            "completed": result.is_ok(),
            "error": result.as_ref().err().map(ToString::to_string),
        });
        if let Err(e) = record_admin_action(
            self.store.as_ref(),
            AdminAction::RetentionRun,
            actor,
            None,
            details,
        )
        .await
        {
            tracing::error!(error = %e, "the retention run could not be recorded as ADMIN-007");
        }
        if let Some(m) = &self.metrics {
            m.retention_ran(RetentionFigures {
                archived: report.archived,
                deleted: report.deleted,
                partitions_dropped: report.partitions_dropped.len() as u64,
            });
        }
        result.map(|()| report)
    }

    async fn archive_and_delete(
        &self,
        expiry: &Expiry,
        groups: &[ExpiredGroup],
        started: DateTime<Utc>,
        report: &mut RetentionReport,
        progress: &mut (dyn FnMut(u64, u64) + Send),
    ) -> Result<(), RetentionError> {
        let total = groups.iter().map(|g| g.count as u64).sum();
        let run_id = format!("retention-{}", started.format("%Y%m%dT%H%M%S%.6fZ"));
        let run_dir = self.archive_dir.join(&run_id);
        std::fs::create_dir_all(&run_dir).map_err(io_err(&run_dir))?;
        report.run_dir = Some(run_dir.clone());
        let mut manifest = Manifest {
            format: MANIFEST_FORMAT.to_owned(),
            run_id,
            created_at: started,
            backend: self.store.backend().to_owned(),
            archives: Vec::new(),
        };
        // Days per month: a month is a PostgreSQL partition.
        let mut months: BTreeMap<DateTime<Utc>, BTreeMap<DateTime<Utc>, DayFigures>> =
            BTreeMap::new();
        for g in groups {
            let day = months
                .entry(month_start(g.day))
                .or_default()
                .entry(g.day)
                .or_default();
            day.count += g.count;
            day.max_seq = day.max_seq.max(g.max_seq);
        }
        let empty = self.integrity.tally().await?;
        for (month, days) in months {
            let expected: i64 = days.values().map(|d| d.count).sum();
            let whole = matches!(
                self.store.partition_rows(month).await?,
                Some((_, rows)) if rows == expected
            );
            if whole {
                if let Some(entries) = self.archived_ahead(&days).await? {
                    let mut tallies = vec![empty.clone(); expiry.rules.len()];
                    for entry in &entries {
                        for group in &entry.leaf_sums {
                            let rule = expiry
                                .rule_for(&group.severity, &group.category)
                                .ok_or_else(|| {
                                    archive_err(
                                        Path::new(&entry.file),
                                        format!(
                                            "lists {} {} events, which have not expired",
                                            group.severity, group.category
                                        ),
                                    )
                                })?;
                            for segment in &group.segments {
                                tallies[rule].add_segment(segment)?;
                            }
                        }
                    }
                    // Dropped only if no commit changed the partition since it was counted.
                    if self.store.drop_partition(month, expected).await? {
                        report.deleted += expected as u64;
                        report.archived_ahead += expected as u64;
                        report.partitions_dropped.push(partition_name(month));
                        manifest
                            .archives
                            .extend(entries.into_iter().map(|entry| ArchiveEntry {
                                file: format!("../{DAILY_DIR}/{}", entry.file),
                                ..entry
                            }));
                        write_manifest(&run_dir, &manifest)?;
                        self.record_tallies(expiry, &tallies, report).await?;
                        continue;
                    }
                }
            }
            let mut tallies = vec![empty.clone(); expiry.rules.len()];
            let mut month_rows = DayRows {
                keys: Vec::new(),
                leaves: Vec::new(),
            };
            let mut month_archived = 0u64;
            for day in days.keys() {
                let done = report.archived;
                let (entry, rows) = self
                    .archive_day(
                        expiry,
                        *day,
                        &run_dir,
                        &mut |n| progress(done + n, total),
                        None,
                    )
                    .await?;
                verify_archive(&run_dir.join(&entry.file), &entry).await?;
                report.archived += entry.count;
                month_archived += entry.count;
                manifest.archives.push(entry);
                write_manifest(&run_dir, &manifest)?;
                if whole {
                    month_rows.keys.extend(rows.keys);
                    month_rows.leaves.extend(rows.leaves);
                } else {
                    report.deleted += self.delete(&rows, &mut tallies).await?;
                }
            }
            if whole {
                let dropped = self
                    .store
                    .drop_partition(month, month_archived as i64)
                    .await?;
                if dropped {
                    for (_, rule, leaf) in &month_rows.leaves {
                        if let Some(leaf) = leaf {
                            tallies[*rule].add(leaf)?;
                        }
                    }
                    report.deleted += month_archived;
                    report.partitions_dropped.push(partition_name(month));
                } else {
                    // A late event arrived in the partition: delete row by row instead.
                    report.deleted += self.delete(&month_rows, &mut tallies).await?;
                }
            }
            self.record_tallies(expiry, &tallies, report).await?;
        }
        report.archives = manifest.archives;
        Ok(())
    }

    /// Signs and stores the pruning records of each rule's deleted events.
    async fn record_tallies(
        &self,
        expiry: &Expiry,
        tallies: &[PruneTally],
        report: &mut RetentionReport,
    ) -> Result<(), RetentionError> {
        for (rule, tally) in expiry.rules.iter().zip(tallies) {
            if tally.events() > 0 {
                report.pruning_records += self
                    .integrity
                    .record_pruned(tally, &rule.severity, rule.cutoff)
                    .await?;
            }
        }
        Ok(())
    }

    /// Where [`Retention::archive_ahead`] writes.
    pub fn daily_dir(&self) -> PathBuf {
        self.archive_dir.join(DAILY_DIR)
    }

    /// Archives every closed UTC day (before today) not archived yet into
    /// `archive_dir/daily`, each with its highest `seq` and its chain leaves, so that a
    /// PostgreSQL partition whose every event expired is later dropped without reading it
    /// again ([`Retention::run`] checks the archives on disk and the day's count and highest
    /// `seq`). Days are archived in order; it stops at the first day whose events are not
    /// all covered by a signed checkpoint yet. Nothing is deleted.
    pub async fn archive_ahead(
        &self,
        progress: &mut (dyn FnMut(u64, u64) + Send),
    ) -> Result<AheadReport, RetentionError> {
        let _lock = self.lock().await?;
        let dir = self.daily_dir();
        std::fs::create_dir_all(&dir).map_err(io_err(&dir))?;
        let mut manifest = read_manifest_if_any(&dir.join(MANIFEST))?.unwrap_or_else(|| Manifest {
            format: MANIFEST_FORMAT.to_owned(),
            run_id: DAILY_DIR.to_owned(),
            created_at: Utc::now(),
            backend: self.store.backend().to_owned(),
            archives: Vec::new(),
        });
        let today = start_of_day(Utc::now());
        let next = manifest
            .archives
            .iter()
            .map(|a| a.day)
            .max()
            .and_then(|d| d.succ_opt())
            .map(|d| Utc.from_utc_datetime(&d.and_time(chrono::NaiveTime::MIN)));
        self.integrity.checkpoint().await?;
        let signed_to = self.store.checkpoints().await?.last().map_or(0, |c| c.pos);
        let everything = Expiry {
            rules: Severity::ALL
                .iter()
                .map(|s| ExpiryRule {
                    severity: s.as_str().to_owned(),
                    categories: CategoryMatch::AllBut(Vec::new()),
                    cutoff: today,
                })
                .collect(),
            max_chain_pos: None,
            not_before: next,
        };
        let signed = Expiry {
            max_chain_pos: Some(signed_to),
            ..everything.clone()
        };
        let all_days = per_day(&self.store.expired_groups(&everything).await?);
        let signed_days = per_day(&self.store.expired_groups(&signed).await?);
        let mut report = AheadReport::default();
        let total: u64 = all_days.values().map(|d| d.count as u64).sum();
        for (day, figures) in &all_days {
            if signed_days.get(day) != Some(figures) {
                // Events of this day lie beyond the last checkpoint: archived next time.
                report.waiting_from = Some(day.date_naive());
                break;
            }
            let done = report.archived;
            let mut groups = GroupTallies {
                empty: self.integrity.tally().await?,
                tallies: BTreeMap::new(),
            };
            let (mut entry, _) = self
                .archive_day(
                    &signed,
                    *day,
                    &dir,
                    &mut |n| progress(done + n, total),
                    Some(&mut groups),
                )
                .await?;
            verify_archive(&dir.join(&entry.file), &entry).await?;
            if entry.count != figures.count as u64 {
                return Err(archive_err(
                    &dir.join(&entry.file),
                    format!(
                        "holds {} events, but the day had {} when counted",
                        entry.count, figures.count
                    ),
                ));
            }
            entry.max_seq = Some(figures.max_seq);
            entry.leaf_sums = groups.into_sums();
            report.archived += entry.count;
            report.days.push(entry.day);
            manifest.archives.push(entry);
            write_manifest(&dir, &manifest)?;
        }
        Ok(report)
    }

    /// The archives made ahead of the days of `month`, when they hold exactly the rows the
    /// days hold now (count and highest `seq` of each day) and are intact on disk.
    async fn archived_ahead(
        &self,
        days: &BTreeMap<DateTime<Utc>, DayFigures>,
    ) -> Result<Option<Vec<ArchiveEntry>>, RetentionError> {
        let dir = self.daily_dir();
        let Some(manifest) = read_manifest_if_any(&dir.join(MANIFEST))? else {
            return Ok(None);
        };
        let mut entries = Vec::with_capacity(days.len());
        for (day, figures) in days {
            let Some(entry) = manifest.archives.iter().find(|a| a.day == day.date_naive()) else {
                return Ok(None);
            };
            if entry.count != figures.count as u64 || entry.max_seq != Some(figures.max_seq) {
                // Stored or deleted since: this month is archived the ordinary way.
                return Ok(None);
            }
            entries.push(entry.clone());
        }
        // Read back from disk, all files at once: their SHA-256 must be the manifest's.
        let checks: Vec<_> = entries
            .iter()
            .map(|entry| {
                let path = dir.join(&entry.file);
                let expected = entry.sha256.clone();
                tokio::task::spawn_blocking(move || -> Result<(), RetentionError> {
                    let sha = file_sha256(&path)?;
                    if sha == expected {
                        Ok(())
                    } else {
                        Err(archive_err(
                            &path,
                            format!("SHA-256 is {sha}, the manifest says {expected}"),
                        ))
                    }
                })
            })
            .collect();
        for check in checks {
            check
                .await
                .map_err(|e| RetentionError::Config(format!("verification task failed: {e}")))??;
        }
        Ok(Some(entries))
    }

    /// Deletes exactly `rows`, page by page, tallying each event actually deleted.
    async fn delete(
        &self,
        rows: &DayRows,
        tallies: &mut [PruneTally],
    ) -> Result<u64, RetentionError> {
        let mut deleted = 0;
        for (keys, leaves) in rows
            .keys
            .chunks(RETENTION_PAGE as usize)
            .zip(rows.leaves.chunks(RETENTION_PAGE as usize))
        {
            let gone: HashSet<i64> = self.store.delete_events(keys).await?.into_iter().collect();
            for (seq, rule, leaf) in leaves {
                if let (true, Some(leaf)) = (gone.contains(seq), leaf) {
                    tallies[*rule].add(leaf)?;
                }
            }
            deleted += gone.len() as u64;
        }
        Ok(deleted)
    }

    /// Writes the expired events of `day` to a new archive; returns its entry (not yet
    /// verified) and the rows it holds. `progress(n)`: n of the day's events written;
    /// `groups`, when given, also tallies their chain leaves per severity and category.
    async fn archive_day(
        &self,
        expiry: &Expiry,
        day: DateTime<Utc>,
        run_dir: &Path,
        progress: &mut (dyn FnMut(u64) + Send),
        mut groups: Option<&mut GroupTallies>,
    ) -> Result<(ArchiveEntry, DayRows), RetentionError> {
        let file = format!("events-{}.jsonl.zst", day.format("%Y-%m-%d"));
        let path = run_dir.join(&file);
        let out = File::create(&path).map_err(io_err(&path))?;
        let mut encoder = Some(
            zstd::Encoder::new(HashingWriter::new(BufWriter::new(out)), 3)
                .map_err(io_err(&path))?,
        );
        let mut rows = DayRows {
            keys: Vec::new(),
            leaves: Vec::new(),
        };
        let mut partitions: Vec<String> = Vec::new();
        let mut ids: Option<(String, String)> = None;
        let mut range: Option<(DateTime<Utc>, DateTime<Utc>)> = None;
        let mut after = None;
        loop {
            let page = self
                .store
                .expired_page(expiry, day, after, RETENTION_PAGE)
                .await?;
            let Some(last) = page.last() else { break };
            after = Some((last.event.record.timestamp, last.seq));
            for row in &page {
                let r = &row.event.record;
                let rule = expiry
                    .rule_for(r.severity.as_str(), &r.event_category)
                    .ok_or_else(|| {
                        StoreError::Corrupt(format!(
                            "event {} was selected as expired but matches no rule",
                            r.event_id
                        ))
                    })?;
                rows.keys.push((r.timestamp, row.seq));
                let leaf = row
                    .chain_pos
                    .zip(row.record_hash)
                    .map(|(pos, record_hash)| PrunedLeaf { pos, record_hash });
                if let (Some(groups), Some(leaf)) = (groups.as_deref_mut(), &leaf) {
                    groups.add(r.severity.as_str(), &r.event_category, leaf)?;
                }
                rows.leaves.push((row.seq, rule, leaf));
                if let Some(p) = &row.partition {
                    if !partitions.contains(p) {
                        partitions.push(p.clone());
                    }
                }
                match &mut ids {
                    None => ids = Some((r.event_id.clone(), r.event_id.clone())),
                    Some((_, last)) => last.clone_from(&r.event_id),
                }
                range = Some(match range {
                    None => (r.timestamp, r.timestamp),
                    Some((a, b)) => (a.min(r.timestamp), b.max(r.timestamp)),
                });
            }
            // Compression is CPU work: off the async workers.
            let mut enc = encoder
                .take()
                .expect("the encoder is put back after each page");
            let p = path.clone();
            encoder = Some(
                tokio::task::spawn_blocking(move || -> Result<_, RetentionError> {
                    for row in &page {
                        serde_json::to_writer(&mut enc, &row.event)
                            .map_err(|e| io_err(&p)(e.into()))?;
                        enc.write_all(b"\n").map_err(io_err(&p))?;
                    }
                    Ok(enc)
                })
                .await
                .map_err(|e| archive_err(&path, format!("archiving task failed: {e}")))??,
            );
            progress(rows.keys.len() as u64);
        }
        let enc = encoder.take().expect("the encoder is present");
        let p = path.clone();
        let sha256 = tokio::task::spawn_blocking(move || -> Result<String, RetentionError> {
            let hashing = enc.finish().map_err(io_err(&p))?;
            let (writer, digest) = hashing.into_parts();
            let file = writer
                .into_inner()
                .map_err(|e| io_err(&p)(e.into_error()))?;
            file.sync_all().map_err(io_err(&p))?;
            Ok(digest)
        })
        .await
        .map_err(|e| archive_err(&path, format!("archiving task failed: {e}")))??;
        let (Some((first_event_id, last_event_id)), Some((first_timestamp, last_timestamp))) =
            (ids, range)
        else {
            return Err(archive_err(
                &path,
                "no expired events were found for this day",
            ));
        };
        Ok((
            ArchiveEntry {
                file,
                day: day.date_naive(),
                partitions,
                count: rows.keys.len() as u64,
                sha256,
                first_event_id,
                last_event_id,
                first_timestamp,
                last_timestamp,
                max_seq: None,
                leaf_sums: Vec::new(),
            },
            rows,
        ))
    }
}

/// The folder (under `archive_dir`) of the archives made ahead, one per closed day.
pub const DAILY_DIR: &str = "daily";

/// What [`Retention::archive_ahead`] did.
#[derive(Debug, Clone, Default, Serialize)]
pub struct AheadReport {
    /// The days archived.
    pub days: Vec<NaiveDate>,
    /// Events archived.
    pub archived: u64,
    /// The first closed day left for a later run: some of its events are not covered by a
    /// signed checkpoint yet.
    pub waiting_from: Option<NaiveDate>,
}

/// A day's event count and highest storage `seq`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
struct DayFigures {
    count: i64,
    max_seq: i64,
}

fn per_day(groups: &[ExpiredGroup]) -> BTreeMap<DateTime<Utc>, DayFigures> {
    let mut days: BTreeMap<DateTime<Utc>, DayFigures> = BTreeMap::new();
    for g in groups {
        let d = days.entry(g.day).or_default();
        d.count += g.count;
        d.max_seq = d.max_seq.max(g.max_seq);
    }
    days
}

fn start_of_day(t: DateTime<Utc>) -> DateTime<Utc> {
    Utc.from_utc_datetime(&t.date_naive().and_time(chrono::NaiveTime::MIN))
}

fn read_manifest(path: &Path) -> Result<Manifest, RetentionError> {
    let text = std::fs::read(path).map_err(io_err(path))?;
    let manifest: Manifest = serde_json::from_slice(&text)
        .map_err(|e| archive_err(path, format!("not an archive manifest: {e}")))?;
    if manifest.format != MANIFEST_FORMAT {
        return Err(archive_err(
            path,
            format!("unknown manifest format `{}`", manifest.format),
        ));
    }
    Ok(manifest)
}

/// The manifest at `path`, or `None` where none was written yet.
fn read_manifest_if_any(path: &Path) -> Result<Option<Manifest>, RetentionError> {
    match read_manifest(path) {
        Ok(m) => Ok(Some(m)),
        Err(RetentionError::Io { source, .. }) if source.kind() == std::io::ErrorKind::NotFound => {
            Ok(None)
        }
        Err(e) => Err(e),
    }
}

/// Per severity and category, summed over days, with the cutoff that applies.
fn summarize(expiry: &Expiry, groups: &[ExpiredGroup]) -> Vec<ExpiredCount> {
    let mut sums: BTreeMap<(String, String), i64> = BTreeMap::new();
    for g in groups {
        *sums
            .entry((g.severity.clone(), g.category.clone()))
            .or_default() += g.count;
    }
    sums.into_iter()
        .filter_map(|((severity, category), count)| {
            let rule = expiry.rule_for(&severity, &category)?;
            Some(ExpiredCount {
                cutoff: expiry.rules[rule].cutoff,
                severity,
                category,
                count,
            })
        })
        .collect()
}

/// The name of the PostgreSQL partition of the month starting at `month`.
fn partition_name(month: DateTime<Utc>) -> String {
    format!("events_p{:04}_{:02}", month.year(), month.month())
}

fn month_start(day: DateTime<Utc>) -> DateTime<Utc> {
    Utc.with_ymd_and_hms(day.year(), day.month(), 1, 0, 0, 0)
        .single()
        .expect("the first of a month exists")
}

fn write_manifest(run_dir: &Path, manifest: &Manifest) -> Result<(), RetentionError> {
    let path = run_dir.join(MANIFEST);
    let tmp = run_dir.join(format!("{MANIFEST}.tmp"));
    let text = serde_json::to_vec_pretty(manifest).map_err(|e| io_err(&tmp)(e.into()))?;
    let mut f = File::create(&tmp).map_err(io_err(&tmp))?;
    f.write_all(&text).map_err(io_err(&tmp))?;
    f.sync_all().map_err(io_err(&tmp))?;
    std::fs::rename(&tmp, &path).map_err(io_err(&path))
}

/// A writer that hashes what passes through it.
struct HashingWriter<W> {
    inner: W,
    hasher: Sha256,
}

impl<W: Write> HashingWriter<W> {
    fn new(inner: W) -> Self {
        Self {
            inner,
            hasher: Sha256::new(),
        }
    }

    fn into_parts(self) -> (W, String) {
        (self.inner, hex::encode(self.hasher.finalize()))
    }
}

impl<W: Write> Write for HashingWriter<W> {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let n = self.inner.write(buf)?;
        self.hasher.update(&buf[..n]);
        Ok(n)
    }

    fn flush(&mut self) -> std::io::Result<()> {
        self.inner.flush()
    }
}

/// SHA-256 (hex) of a file, read in chunks.
fn file_sha256(path: &Path) -> Result<String, RetentionError> {
    let mut f = File::open(path).map_err(io_err(path))?;
    let mut hasher = Sha256::new();
    let mut buf = vec![0u8; 1 << 20];
    loop {
        let n = f.read(&mut buf).map_err(io_err(path))?;
        if n == 0 {
            break;
        }
        hasher.update(&buf[..n]);
    }
    Ok(hex::encode(hasher.finalize()))
}

/// The event id of one archive line.
fn line_event_id(path: &Path, line: &str) -> Result<String, RetentionError> {
    #[derive(Deserialize)]
    struct Id {
        event_id: String,
    }
    serde_json::from_str::<Id>(line)
        .map(|i| i.event_id)
        .map_err(|e| archive_err(path, format!("a line is not an archived event: {e}")))
}

/// Reads the archive back from disk: its SHA-256, line count and first and last event id
/// must be what `entry` says. Retention deletes nothing until this passed.
pub async fn verify_archive(path: &Path, entry: &ArchiveEntry) -> Result<(), RetentionError> {
    let path = path.to_owned();
    let entry = entry.clone();
    tokio::task::spawn_blocking(move || {
        let sha = file_sha256(&path)?;
        if sha != entry.sha256 {
            return Err(archive_err(
                &path,
                format!("SHA-256 is {sha}, the manifest says {}", entry.sha256),
            ));
        }
        let file = File::open(&path).map_err(io_err(&path))?;
        let decoder = zstd::Decoder::new(file).map_err(io_err(&path))?;
        let mut count = 0u64;
        let mut first = None;
        let mut last = String::new();
        for line in BufReader::new(decoder).lines() {
            let line = line.map_err(io_err(&path))?;
            count += 1;
            if first.is_none() {
                first = Some(line_event_id(&path, &line)?);
            }
            last = line;
        }
        if count != entry.count {
            return Err(archive_err(
                &path,
                format!("holds {count} events, the manifest says {}", entry.count),
            ));
        }
        if count > 0
            && (first.as_deref() != Some(entry.first_event_id.as_str())
                || line_event_id(&path, &last)? != entry.last_event_id)
        {
            return Err(archive_err(
                &path,
                "its first or last event is not the one the manifest names",
            ));
        }
        Ok(())
    })
    .await
    .map_err(|e| RetentionError::Config(format!("verification task failed: {e}")))?
}

/// What a restore did.
#[derive(Debug, Clone, Default, Serialize)]
pub struct RestoreReport {
    /// Events in the archive.
    pub events: u64,
    /// Events stored again.
    pub restored: u64,
    /// Events already stored (restored before, or never deleted).
    pub already_present: u64,
}

/// The manifest entry of the archive `file` (the `manifest.json` beside it).
pub fn manifest_entry(file: &Path) -> Result<ArchiveEntry, RetentionError> {
    if std::fs::metadata(file).map_err(io_err(file))?.is_dir() {
        return Err(archive_err(
            file,
            "is a folder; name one of its .jsonl.zst archives",
        ));
    }
    let dir = file
        .parent()
        .filter(|d| !d.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    let manifest_path = dir.join(MANIFEST);
    let manifest = read_manifest(&manifest_path).map_err(|e| match e {
        RetentionError::Io { path, source } if source.kind() == std::io::ErrorKind::NotFound => {
            archive_err(
                file,
                format!(
                    "no {} beside it: an archive is restored with the manifest written with it ({source})",
                    path.display()
                ),
            )
        }
        other => other,
    })?;
    let name = file
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    manifest
        .archives
        .into_iter()
        .find(|a| a.file == name)
        .ok_or_else(|| {
            archive_err(
                file,
                format!("{} does not list it", manifest_path.display()),
            )
        })
}

/// Re-imports the archive `file` after checking it against its manifest. Each event is
/// validated again and written with its own id, so restoring twice stores nothing new and
/// an event that is still stored is left alone. `progress(done, total)` per batch.
pub async fn restore(
    store: &dyn Store,
    validator: &Validator,
    file: &Path,
    progress: &mut (dyn FnMut(u64, u64) + Send),
) -> Result<RestoreReport, RetentionError> {
    let entry = manifest_entry(file)?;
    let path = file.to_owned();
    let sha = {
        let p = path.clone();
        tokio::task::spawn_blocking(move || file_sha256(&p))
            .await
            .map_err(|e| archive_err(&path, format!("hashing task failed: {e}")))??
    };
    if sha != entry.sha256 {
        return Err(archive_err(
            &path,
            format!(
                "SHA-256 is {sha}, the manifest says {}: the file was changed or damaged; nothing restored",
                entry.sha256
            ),
        ));
    }
    let reader = BufReader::new(
        zstd::Decoder::new(File::open(&path).map_err(io_err(&path))?).map_err(io_err(&path))?,
    );
    let mut report = RestoreReport::default();
    let mut batch = Vec::with_capacity(RESTORE_BATCH);
    let mut lines = reader.lines();
    loop {
        let line = lines.next().transpose().map_err(io_err(&path))?;
        let end = line.is_none();
        if let Some(line) = line {
            report.events += 1;
            batch.push(revalidate(validator, &path, report.events, &line)?);
        }
        if batch.len() >= RESTORE_BATCH || (end && !batch.is_empty()) {
            // One request per event: an event still stored under its id (with the content
            // hash of its original delivery) is refused alone, not with its neighbours.
            let requests: Vec<_> = batch.drain(..).map(|e| vec![e]).collect();
            for outcome in store.write(&requests).await? {
                match outcome {
                    RequestOutcome::Written(s) => {
                        report.restored += s.accepted as u64;
                        report.already_present += s.duplicates as u64;
                    }
                    RequestOutcome::Conflict { .. } => report.already_present += 1,
                }
            }
            progress(report.events, entry.count);
        }
        if end {
            break;
        }
    }
    if report.events != entry.count {
        return Err(archive_err(
            &path,
            format!(
                "holds {} events, the manifest says {}",
                report.events, entry.count
            ),
        ));
    }
    Ok(report)
}

/// An archived event as a validated event again (its stored times are not event fields).
fn revalidate(
    validator: &Validator,
    path: &Path,
    line_no: u64,
    line: &str,
) -> Result<eventlog_core::ValidatedEvent, RetentionError> {
    let bad = |m: String| archive_err(path, format!("line {line_no}: {m}"));
    let mut value: serde_json::Value =
        serde_json::from_str(line).map_err(|e| bad(e.to_string()))?;
    let Some(object) = value.as_object_mut() else {
        return Err(bad("not a JSON object".into()));
    };
    object.remove("created_at");
    object.remove("processed_at");
    let raw = parse_event(value.to_string().as_bytes()).map_err(|problems| {
        bad(problems
            .iter()
            .map(ToString::to_string)
            .collect::<Vec<_>>()
            .join("; "))
    })?;
    validator.validate(raw, Utc::now()).map_err(|errors| {
        bad(errors
            .iter()
            .map(ToString::to_string)
            .collect::<Vec<_>>()
            .join("; "))
    })
}

/// Runs retention every `every` until the process ends (the `serve` schedule). The first
/// run is one interval after start, so a restart loop never hammers the store.
pub async fn schedule(retention: Arc<Retention>, every: std::time::Duration) {
    loop {
        tokio::time::sleep(every).await;
        if retention.config.archive_ahead && retention.store.backend() == "postgres" {
            match retention.archive_ahead(&mut |_, _| {}).await {
                Ok(r) => tracing::info!(
                    days = r.days.len(),
                    archived = r.archived,
                    "closed days archived ahead"
                ),
                Err(RetentionError::Busy) => {
                    tracing::info!("archiving ahead skipped: {}", RetentionError::Busy)
                }
                Err(e) => tracing::error!(error = %e, "archiving closed days ahead failed"),
            }
        }
        match retention
            .run(false, "retention-schedule", &mut |_, _| {})
            .await
        {
            Ok(r) => tracing::info!(
                archived = r.archived,
                archived_ahead = r.archived_ahead,
                deleted = r.deleted,
                partitions_dropped = r.partitions_dropped.len(),
                "retention run finished"
            ),
            // Another server on the same database runs it now: not a failure.
            Err(RetentionError::Busy) => {
                tracing::info!("retention run skipped: {}", RetentionError::Busy)
            }
            Err(e) => {
                tracing::error!(error = %e, "retention run failed; nothing unarchived was deleted")
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn overridden_categories_must_exist() {
        let mut config = RetentionConfig::default();
        config.categories.insert(
            "NOPE".to_owned(),
            [("INFO".to_owned(), 3)].into_iter().collect(),
        );
        let mut validation = eventlog_core::ValidationPolicy::default();
        let err = check_policy(&config, &validation).unwrap_err().to_string();
        assert!(err.contains("[retention.categories.NOPE]"), "{err}");
        validation.extra_categories.push("nope".to_owned());
        check_policy(&config, &validation).unwrap();
        config.categories.clear();
        config.categories.insert(
            "security".to_owned(),
            [("INFO".to_owned(), 365)].into_iter().collect(),
        );
        check_policy(&config, &eventlog_core::ValidationPolicy::default()).unwrap();
    }

    #[test]
    fn policy_defaults_overrides_and_bad_names() {
        let mut config = RetentionConfig {
            days: [("DEBUG".to_owned(), 3)].into_iter().collect(),
            categories: [(
                "security".to_owned(),
                [("INFO".to_owned(), 365)].into_iter().collect(),
            )]
            .into_iter()
            .collect(),
            ..Default::default()
        };
        let now = Utc::now();
        let e = expiry(&config, now).unwrap();
        let cutoff = |sev: &str, cat: &str| e.rules[e.rule_for(sev, cat).unwrap()].cutoff;
        assert_eq!(cutoff("DEBUG", "AUTH"), now - TimeDelta::days(3));
        assert_eq!(
            cutoff("INFO", "AUTH"),
            now - TimeDelta::days(30),
            "unnamed severities keep the seed default"
        );
        assert_eq!(cutoff("INFO", "SECURITY"), now - TimeDelta::days(365));
        assert_eq!(cutoff("CRITICAL", "SECURITY"), now - TimeDelta::days(365));
        assert_eq!(cutoff("ERROR", "DATA"), now - TimeDelta::days(180));
        config.categories = [(
            "AUTH".to_owned(),
            [("NOTICE".to_owned(), 1)].into_iter().collect(),
        )]
        .into_iter()
        .collect();
        let err = expiry(&config, now).unwrap_err().to_string();
        assert!(err.contains("unknown severity `NOTICE`"), "{err}");
        config.categories.clear();
        config.days = [("INFO".to_owned(), 0)].into_iter().collect();
        let err = expiry(&config, now).unwrap_err().to_string();
        assert!(err.contains("retention.days.INFO = 0"), "{err}");
    }
}
