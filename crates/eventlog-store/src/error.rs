/// Errors of the store, in words an operator can act on.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The database URL or options are wrong.
    #[error("{0}")]
    Config(String),
    /// The database could not be reached or failed a statement.
    #[error("database error: {0}")]
    Database(#[from] sqlx::Error),
    /// A rusqlite connection (the group commit's writer, the blocking readers of exports
    /// and rollup reads) could not open the file or failed a statement.
    #[error("database error: {0}")]
    Sqlite(#[from] rusqlite::Error),
    /// A migration could not be applied.
    #[error("migration failed: {0}")]
    Migrate(#[from] sqlx::migrate::MigrateError),
    /// The live schema differs from what this build expects.
    #[error("{0}")]
    SchemaDrift(String),
    /// A key name is already used by an active key.
    #[error("an active key named `{0}` already exists")]
    KeyExists(String),
    /// A query parameter is out of range or unknown (the caller's mistake: a 400).
    #[error("{parameter}: {message}")]
    InvalidQuery {
        /// The parameter at fault.
        parameter: &'static str,
        /// What is wrong with it.
        message: String,
    },
    /// Stored data could not be decoded (a bug or a hand-edited row).
    #[error("stored data is corrupt: {0}")]
    Corrupt(String),
}

impl StoreError {
    /// Whether the error is about the database's state rather than the statement: it is
    /// unreachable or busy (SQLite lock, PostgreSQL serialization failure, deadlock, too
    /// many connections, shutdown). Retrying later may succeed.
    pub fn is_unavailable(&self) -> bool {
        match self {
            StoreError::Database(
                sqlx::Error::Io(_)
                | sqlx::Error::PoolTimedOut
                | sqlx::Error::PoolClosed
                | sqlx::Error::Tls(_),
            ) => true,
            StoreError::Database(sqlx::Error::Database(e)) => {
                let code = e.code().unwrap_or_default();
                // SQLite BUSY/LOCKED and their extended codes. PostgreSQL: class 08
                // (connection), serialization failure and deadlock (40001, 40P01), too many
                // connections (53300), shutdown (57P01..03), and what refusing a connection
                // looks like: database not accepting connections (55000) or gone (3D000),
                // authentication failed (28000, 28P01).
                matches!(
                    code.as_ref(),
                    "5" | "6"
                        | "261"
                        | "517"
                        | "40001"
                        | "40P01"
                        | "53300"
                        | "57P01"
                        | "57P02"
                        | "57P03"
                        | "55000"
                        | "3D000"
                        | "28000"
                        | "28P01"
                ) || code.starts_with("08")
            }
            StoreError::Sqlite(rusqlite::Error::SqliteFailure(e, _)) => matches!(
                e.code,
                rusqlite::ErrorCode::DatabaseBusy | rusqlite::ErrorCode::DatabaseLocked
            ),
            _ => false,
        }
    }
}
