//! The client's one error type. `EventLogger::log` never returns it: these errors come from
//! building a logger, from the spool and dead-letter files, and from sinks.

use std::path::Path;

/// What went wrong, in words an operator can act on.
#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    /// A file of the spool or dead-letter list could not be read or written.
    #[error("{path}: {source}")]
    Io {
        /// The file or directory.
        path: String,
        /// The cause.
        source: std::io::Error,
    },
    /// The spool failed an operation.
    #[error("spool: {0}")]
    Spool(String),
    /// The logger's configuration is unusable.
    #[error("{0}")]
    Config(String),
    /// Opening the store failed.
    #[error(transparent)]
    Store(#[from] eventlog_store::StoreError),
}

impl ClientError {
    pub(crate) fn io(path: &Path, source: std::io::Error) -> Self {
        ClientError::Io {
            path: path.display().to_string(),
            source,
        }
    }
}
