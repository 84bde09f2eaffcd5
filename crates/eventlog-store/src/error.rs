/// Errors of the store, in words an operator can act on.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The database URL or options are wrong.
    #[error("{0}")]
    Config(String),
    /// The database could not be reached or failed a statement.
    #[error("database error: {0}")]
    Database(#[from] sqlx::Error),
    /// A migration could not be applied.
    #[error("migration failed: {0}")]
    Migrate(#[from] sqlx::migrate::MigrateError),
    /// The live schema differs from what this build expects.
    #[error("{0}")]
    SchemaDrift(String),
    /// A key name is already used by an active key.
    #[error("an active key named `{0}` already exists")]
    KeyExists(String),
    /// Stored data could not be decoded (a bug or a hand-edited row).
    #[error("stored data is corrupt: {0}")]
    Corrupt(String),
}

impl StoreError {
    /// Whether the error means the database is unreachable (as opposed to a bad statement).
    pub fn is_unavailable(&self) -> bool {
        matches!(
            self,
            StoreError::Database(
                sqlx::Error::Io(_)
                    | sqlx::Error::PoolTimedOut
                    | sqlx::Error::PoolClosed
                    | sqlx::Error::Tls(_)
            )
        )
    }
}
