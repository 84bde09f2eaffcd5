//! `DeadLetters`: events the sink refused as invalid, kept with the reason in
//! `dead-letters.jsonl` of the spool directory, one JSON object a line, so they can be
//! listed, fixed, re-sent or cleared (`eventlog monitor --failed | --retry | --clear`).

use std::fs::{self, OpenOptions};
use std::io::Write;
use std::path::{Path, PathBuf};

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::{ClientError, Event};

/// One refused event and why.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DeadLetter {
    /// When it was refused.
    pub failed_at: DateTime<Utc>,
    /// The sink's reason (e.g. `event_category: unknown category "FOO"`).
    pub reason: String,
    /// The event, as it would have been delivered (already redacted).
    pub event: Event,
}

/// The dead-letter file of a spool directory.
#[derive(Debug, Clone)]
pub struct DeadLetters {
    path: PathBuf,
}

impl DeadLetters {
    /// The dead-letter list kept in `dir`.
    pub fn in_dir(dir: impl AsRef<Path>) -> Self {
        Self {
            path: dir.as_ref().join("dead-letters.jsonl"),
        }
    }

    /// The file's path.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Appends refused events (and fsyncs: these are rare and must not be lost).
    pub fn append(&self, letters: &[DeadLetter]) -> Result<(), ClientError> {
        if letters.is_empty() {
            return Ok(());
        }
        let mut text = String::new();
        for letter in letters {
            text.push_str(
                &serde_json::to_string(letter).map_err(|e| ClientError::Spool(e.to_string()))?,
            );
            text.push('\n');
        }
        if let Some(dir) = self.path.parent() {
            fs::create_dir_all(dir).map_err(|e| ClientError::io(dir, e))?;
        }
        let mut file = OpenOptions::new()
            .create(true)
            .append(true)
            .open(&self.path)
            .map_err(|e| ClientError::io(&self.path, e))?;
        file.write_all(text.as_bytes())
            .and_then(|_| file.sync_data())
            .map_err(|e| ClientError::io(&self.path, e))
    }

    /// Every dead letter, oldest first; lines that do not parse are skipped and counted.
    pub fn list(&self) -> Result<(Vec<DeadLetter>, usize), ClientError> {
        let text = match fs::read_to_string(&self.path) {
            Ok(text) => text,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok((Vec::new(), 0)),
            Err(e) => return Err(ClientError::io(&self.path, e)),
        };
        let mut unreadable = 0;
        let letters = text
            .lines()
            .filter(|l| !l.trim().is_empty())
            .filter_map(|l| serde_json::from_str(l).map_err(|_| unreadable += 1).ok())
            .collect();
        Ok((letters, unreadable))
    }

    /// Replaces the list with `letters` (after a retry: those refused again).
    pub fn replace(&self, letters: &[DeadLetter]) -> Result<(), ClientError> {
        let tmp = self.path.with_extension("jsonl.tmp");
        let mut text = String::new();
        for letter in letters {
            text.push_str(
                &serde_json::to_string(letter).map_err(|e| ClientError::Spool(e.to_string()))?,
            );
            text.push('\n');
        }
        fs::write(&tmp, text).map_err(|e| ClientError::io(&tmp, e))?;
        fs::rename(&tmp, &self.path).map_err(|e| ClientError::io(&self.path, e))
    }

    /// Deletes the list; returns how many letters it held.
    pub fn clear(&self) -> Result<usize, ClientError> {
        let (letters, unreadable) = self.list()?;
        match fs::remove_file(&self.path) {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => return Err(ClientError::io(&self.path, e)),
        }
        Ok(letters.len() + unreadable)
    }
}
