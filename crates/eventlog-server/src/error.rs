//! Every error the API returns, mapped to a status and the JSON body of DESIGN.md:
//! `{"error": {"code", "message", "field", "index", "details"}}`. Nothing a client sends
//! can produce a 500; a 500 means a bug or a corrupt store.

use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use eventlog_core::FieldError;
use serde::Serialize;
use utoipa::ToSchema;

/// One invalid item of a request.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct ErrorDetail {
    /// Position in the batch (0-based), when the request was a batch.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub index: Option<usize>,
    /// The field at fault.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub field: Option<String>,
    /// Machine-readable kind.
    pub code: String,
    /// What is wrong.
    pub message: String,
}

fn details_of(problems: Vec<(Option<usize>, FieldError)>) -> Vec<ErrorDetail> {
    problems
        .into_iter()
        .map(|(index, e)| ErrorDetail {
            index,
            field: e.field,
            code: e.code.to_owned(),
            message: e.message,
        })
        .collect()
}

/// The body of every error response.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct ErrorBody {
    /// Machine-readable kind, e.g. `invalid_event`, `unauthorized`, `overloaded`.
    pub code: String,
    /// What went wrong and what to do.
    pub message: String,
    /// The field at fault (the first one, when several are).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub field: Option<String>,
    /// The batch index at fault (the first one, when several are).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub index: Option<usize>,
    /// Every problem found, when there is more than the one above.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub details: Vec<ErrorDetail>,
}

/// `{"error": ...}`
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct ErrorResponse {
    /// The error.
    pub error: ErrorBody,
}

/// An API error: a status plus the body.
#[derive(Debug)]
pub struct ApiError {
    status: StatusCode,
    body: Box<ErrorBody>,
    retry_after: Option<u32>,
}

impl ApiError {
    fn new(status: StatusCode, code: &str, message: impl Into<String>) -> Self {
        Self {
            status,
            body: Box::new(ErrorBody {
                code: code.to_owned(),
                message: message.into(),
                field: None,
                index: None,
                details: Vec::new(),
            }),
            retry_after: None,
        }
    }

    /// Names the field at fault.
    pub fn field(mut self, field: impl Into<String>) -> Self {
        self.body.field = Some(field.into());
        self
    }

    /// Names the batch index at fault.
    pub fn index(mut self, index: usize) -> Self {
        self.body.index = Some(index);
        self
    }

    /// Lists every problem of a batch in `details`, besides the one named at top level.
    pub fn with_details(mut self, problems: Vec<(Option<usize>, FieldError)>) -> Self {
        self.body.details = details_of(problems);
        self
    }

    /// 400: the request could not be read.
    pub fn bad_request(code: &str, message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, code, message)
    }

    /// 401: no or unknown credentials.
    pub fn unauthorized(message: impl Into<String>) -> Self {
        Self::new(StatusCode::UNAUTHORIZED, "unauthorized", message)
    }

    /// 403: the credentials may not do this.
    pub fn forbidden(message: impl Into<String>) -> Self {
        Self::new(StatusCode::FORBIDDEN, "forbidden", message)
    }

    /// 404.
    pub fn not_found(message: impl Into<String>) -> Self {
        Self::new(StatusCode::NOT_FOUND, "not_found", message)
    }

    /// 405.
    pub fn method_not_allowed(message: impl Into<String>) -> Self {
        Self::new(
            StatusCode::METHOD_NOT_ALLOWED,
            "method_not_allowed",
            message,
        )
    }

    /// 409: an event id is already used by different content.
    pub fn conflict(event_id: &str, index: Option<usize>) -> Self {
        let mut e = Self::new(
            StatusCode::CONFLICT,
            "conflict",
            format!("event_id `{event_id}` is already used, by a stored event or an earlier one in this batch, with different content; nothing was stored"),
        )
        .field("event_id");
        e.body.index = index;
        e
    }

    /// 413.
    pub fn too_large(message: impl Into<String>) -> Self {
        Self::new(StatusCode::PAYLOAD_TOO_LARGE, "too_large", message)
    }

    /// 415.
    pub fn unsupported_media_type(message: impl Into<String>) -> Self {
        Self::new(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "unsupported_media_type",
            message,
        )
    }

    /// 422 for invalid events: every problem listed, the first one also at top level.
    pub fn invalid(problems: Vec<(Option<usize>, FieldError)>, total: usize) -> Self {
        let details = details_of(problems);
        let first = details.first().cloned();
        let invalid_items = {
            let mut idx: Vec<Option<usize>> = details.iter().map(|d| d.index).collect();
            idx.dedup();
            idx.len()
        };
        let message = match &first {
            Some(d) if details.len() == 1 => format!(
                "{}{}; nothing was stored",
                d.field
                    .as_deref()
                    .map(|f| format!("{f}: "))
                    .unwrap_or_default(),
                d.message
            ),
            _ if first.as_ref().is_some_and(|d| d.index.is_some()) => format!(
                "{invalid_items} of {total} events are invalid (see details); nothing was stored"
            ),
            _ => format!(
                "the event has {} problems (see details); nothing was stored",
                details.len()
            ),
        };
        let mut e = Self::new(StatusCode::UNPROCESSABLE_ENTITY, "invalid_event", message);
        if let Some(d) = first {
            e.body.field = d.field;
            e.body.index = d.index;
        }
        e.body.details = details;
        e
    }

    /// 503 with `Retry-After`: overloaded or the store is down.
    pub fn unavailable(code: &str, message: impl Into<String>, retry_after_secs: u32) -> Self {
        let mut e = Self::new(StatusCode::SERVICE_UNAVAILABLE, code, message);
        e.retry_after = Some(retry_after_secs);
        e
    }

    /// 429 with `Retry-After`: a rate limit was reached.
    pub fn too_many_requests(message: impl Into<String>, retry_after_secs: u32) -> Self {
        let mut e = Self::new(StatusCode::TOO_MANY_REQUESTS, "rate_limited", message);
        e.retry_after = Some(retry_after_secs.max(1));
        e
    }

    /// 408: the client did not send its request in time.
    pub fn request_timeout(message: impl Into<String>) -> Self {
        Self::new(StatusCode::REQUEST_TIMEOUT, "request_timeout", message)
    }

    /// 431: the request's headers are too large.
    pub fn headers_too_large(message: impl Into<String>) -> Self {
        Self::new(
            StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE,
            "headers_too_large",
            message,
        )
    }

    /// 500: a bug or a corrupt store; the detail goes to the server log, not the client.
    pub fn internal(detail: impl std::fmt::Display) -> Self {
        tracing::error!(%detail, "internal error");
        Self::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "internal",
            "internal error; the server log has the details",
        )
    }

    /// The HTTP status.
    pub fn status(&self) -> StatusCode {
        self.status
    }

    /// The machine-readable error code (e.g. `invalid_event`, `overloaded`).
    pub fn code(&self) -> &str {
        &self.body.code
    }

    /// The body (the dashboard shows its message on an error page).
    pub fn body(&self) -> &ErrorBody {
        &self.body
    }
}

impl From<eventlog_store::StoreError> for ApiError {
    fn from(e: eventlog_store::StoreError) -> Self {
        if let eventlog_store::StoreError::InvalidQuery { parameter, message } = &e {
            return ApiError::bad_request("invalid_query", message.clone()).field(*parameter);
        }
        if e.is_unavailable() {
            tracing::warn!(error = %e, "store unavailable");
            ApiError::unavailable(
                "store_unavailable",
                "the event store is unreachable; retry later",
                5,
            )
        } else {
            ApiError::internal(e)
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let mut response = (self.status, Json(ErrorResponse { error: *self.body })).into_response();
        if let Some(secs) = self.retry_after {
            response
                .headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from(secs));
        }
        response
    }
}
