//! `GET /api/integrity/verify`: re-walk the tamper-evident chain and its signed checkpoints.

use axum::extract::rejection::QueryRejection;
use axum::extract::{Query, State};
use axum::Json;
use eventlog_core::validate::parse_timestamp;
use serde::Deserialize;
use utoipa::IntoParams;

use super::query_error;
use crate::error::ErrorResponse;
use crate::integrity::{verify, VerifyReport};
use crate::{ApiError, AppState};

/// Where verification starts.
#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub(crate) struct VerifyParams {
    /// Start at the last checkpoint signed at or before this RFC 3339 time (default: the
    /// whole chain).
    since: Option<String>,
}

/// Verify the chain (with this server's checkpoint key): `ok`, counts, and the first
/// event modified, deleted, inserted or reordered.
#[utoipa::path(
    get, path = "/api/integrity/verify", tag = "integrity",
    params(VerifyParams),
    responses(
        (status = 200, description = "Verification finished; `ok` false names the first broken link", body = VerifyReport),
        (status = 400, body = ErrorResponse), (status = 401, body = ErrorResponse), (status = 403, body = ErrorResponse),
    ),
    security(("api_key" = []))
)]
pub(crate) async fn verify_chain(
    State(state): State<AppState>,
    params: Result<Query<VerifyParams>, QueryRejection>,
) -> Result<Json<VerifyReport>, ApiError> {
    let Query(params) = params.map_err(query_error)?;
    let since = match params.since.filter(|s| !s.is_empty()) {
        None => None,
        Some(s) => Some(parse_timestamp(&s).ok_or_else(|| {
            ApiError::bad_request("invalid_query", format!("`{s}` is not an RFC 3339 time"))
                .field("since")
        })?),
    };
    let key = state.integrity.verifying_key();
    let report = verify(state.store.as_ref(), &key, since, &mut |_, _| {})
        .await
        .map_err(|e| match e {
            crate::integrity::IntegrityError::Store(e) => ApiError::from(e),
            other => ApiError::internal(other.to_string()),
        })?;
    Ok(Json(report))
}
