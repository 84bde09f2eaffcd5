use serde::Serialize;

/// One problem with one field of one event, in words a client developer can act on.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, thiserror::Error)]
#[error("{}{message}", field.as_deref().map(|f| format!("{f}: ")).unwrap_or_default())]
pub struct FieldError {
    /// Machine-readable kind of problem, e.g. `unknown_field`, `invalid_value`, `too_long`.
    pub code: &'static str,
    /// The offending field (a JSON path such as `metadata.user`), when one can be named.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub field: Option<String>,
    /// What is wrong and, where possible, how to fix it.
    pub message: String,
}

impl FieldError {
    /// A problem with a named field.
    pub fn new(code: &'static str, field: impl Into<String>, message: impl Into<String>) -> Self {
        Self {
            code,
            field: Some(field.into()),
            message: message.into(),
        }
    }

    /// A problem with the document as a whole (e.g. malformed JSON).
    pub fn whole(code: &'static str, message: impl Into<String>) -> Self {
        Self {
            code,
            field: None,
            message: message.into(),
        }
    }
}

/// Errors of the core crate that are not about one event's fields.
#[derive(Debug, thiserror::Error)]
pub enum CoreError {
    /// A catalog file could not be read as a catalog.
    #[error("catalog {name}: {message}")]
    Catalog {
        /// Which catalog (file name or built-in name).
        name: String,
        /// What is wrong with it.
        message: String,
    },
}
