//! The app's errors and their HTTP answers.

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;

/// What went wrong in a request.
#[derive(Debug, thiserror::Error)]
pub enum AppError {
    /// No or invalid token.
    #[error("login required")]
    Unauthorized,
    /// Wrong username or password.
    #[error("invalid username or password")]
    BadCredentials,
    /// The role may not do this.
    #[error("not allowed for your role")]
    Forbidden,
    /// No such record.
    #[error("not found")]
    NotFound,
    /// The record conflicts with an existing one.
    #[error("{0}")]
    Conflict(String),
    /// The input is unusable.
    #[error("{0}")]
    BadRequest(String),
    /// The app's database failed.
    #[error("database error")]
    Database(#[from] sqlx::Error),
    /// Anything else.
    #[error("{0}")]
    Internal(String),
}

impl IntoResponse for AppError {
    fn into_response(self) -> Response {
        let status = match &self {
            AppError::Unauthorized | AppError::BadCredentials => StatusCode::UNAUTHORIZED,
            AppError::Forbidden => StatusCode::FORBIDDEN,
            AppError::NotFound => StatusCode::NOT_FOUND,
            AppError::Conflict(_) => StatusCode::CONFLICT,
            AppError::BadRequest(_) => StatusCode::BAD_REQUEST,
            AppError::Database(e) => {
                tracing::error!("database: {e}");
                StatusCode::INTERNAL_SERVER_ERROR
            }
            AppError::Internal(e) => {
                tracing::error!("{e}");
                StatusCode::INTERNAL_SERVER_ERROR
            }
        };
        (
            status,
            Json(serde_json::json!({"error": {"message": self.to_string()}})),
        )
            .into_response()
    }
}
