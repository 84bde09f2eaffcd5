//! `eventlog verify [--since TIME] [--public-key KEY]`: re-walk the tamper-evident chain and
//! the signed checkpoints; exit 1 naming the first event modified, deleted, inserted or
//! reordered.

use std::path::Path;
use std::process::ExitCode;

use anyhow::Context;
use eventlog_server::audit::{record_admin_action, AdminAction};
use eventlog_server::integrity::{load_verifying_key, verify, IntegrityError};
use eventlog_store::{Store, StoreError};
use indicatif::{ProgressBar, ProgressStyle};

/// Runs the verification and prints the outcome.
pub(crate) async fn run(
    store: &dyn Store,
    key_source: &Path,
    since: Option<&str>,
) -> anyhow::Result<ExitCode> {
    let key = load_verifying_key(&key_source.display().to_string())
        .with_context(|| "the trusted checkpoint key is needed (--public-key FILE or HEX)")?;
    let since = crate::ops::time_arg("--since", since)?;
    // Checkpoints none of which the trusted key signed mean the wrong key was given (a
    // command run from another folder, a `.pub` of another store), or checkpoints
    // re-signed wholesale: either way nothing can be verified, and saying "tampered" about
    // the first one would send an auditor after a forgery that may not exist.
    let trusted = key.to_bytes();
    let signers: std::collections::BTreeSet<Vec<u8>> = store
        .checkpoints()
        .await?
        .into_iter()
        .map(|c| c.public_key)
        .collect();
    if !signers.is_empty() && !signers.iter().any(|k| k[..] == trusted[..]) {
        // Not verified (exit 1, as for tampering), but said as what is known.
        let signers: Vec<String> = signers.iter().map(hex::encode).collect();
        out!(
            "NOT VERIFIED: the trusted key {} ({}) signed none of this store's checkpoints, \
             which are signed by {}. If the trusted key is not the one `eventlog serve` signs \
             with, pass that one (--public-key FILE.pub, its .key file or hex); if it is, \
             every checkpoint was re-signed by someone else.",
            hex::encode(trusted),
            key_source.display(),
            signers.join(", ")
        );
        return Ok(ExitCode::FAILURE);
    }
    let bar = ProgressBar::new(0).with_style(
        ProgressStyle::with_template("verifying {bar:40} {pos}/{len} events ({per_sec}, {eta})")
            .expect("a valid progress template"),
    );
    let report = match verify(store, &key, since, &mut |done, total| {
        bar.set_length(total);
        bar.set_position(done);
    })
    .await
    {
        Ok(report) => report,
        // A stored row that cannot even be decoded was altered behind eventlog's back.
        Err(IntegrityError::Store(e @ StoreError::Corrupt(_))) => {
            bar.finish_and_clear();
            out!("TAMPERED: {e}");
            return Ok(ExitCode::FAILURE);
        }
        Err(e) => return Err(e.into()),
    };
    bar.finish_and_clear();
    let summary = serde_json::json!({
        "ok": report.ok,
        "events_checked": report.events_checked,
        "checkpoints_checked": report.checkpoints_checked,
    });
    // Verification is itself audited (best effort: a read-only database must not fail it).
    if let Err(e) =
        record_admin_action(store, AdminAction::IntegrityVerified, "cli", None, summary).await
    {
        eprintln!("note: could not record the verification in the audit trail: {e}");
    }
    let last = report
        .last_checkpoint_at
        .map_or("none".to_owned(), |t| t.to_rfc3339());
    match &report.tamper {
        None => {
            out!(
                "OK: {} events and {} signed checkpoints verified (chain positions {}..={}); {} pruned by retention and accounted for",
                report.events_checked,
                report.checkpoints_checked,
                report.from_pos + 1,
                report.head_pos,
                report.pruned_accounted
            );
            out!(
                "last checkpoint: {last}; {} newer events are chained but not yet signed",
                report.unsigned_events
            );
            Ok(ExitCode::SUCCESS)
        }
        Some(tamper) => {
            out!("TAMPERED: {tamper}");
            out!(
                "({} events verified before it; last checkpoint: {last})",
                report.events_checked
            );
            Ok(ExitCode::FAILURE)
        }
    }
}
