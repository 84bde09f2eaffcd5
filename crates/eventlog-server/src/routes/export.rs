//! `GET /api/events/export`: every event matching the filters of `recent`, streamed as
//! NDJSON or CSV in constant memory (one chunk at a time, read from one snapshot), and audited.

use axum::body::{Body, Bytes};
use axum::extract::{Query, State};
use axum::http::{header, Uri};
use axum::response::{IntoResponse, Response};
use eventlog_store::JsonlChunks;
use futures::StreamExt;
use serde::Deserialize;
use utoipa::IntoParams;

use super::query::RecentParams;
use super::query_error;
use crate::audit::{audit_admin_action, AdminAction};
use crate::auth::Caller;
use crate::error::ErrorResponse;
use crate::export::{describe, ExportFormat};
use crate::{ApiError, AppState};

/// The format of `GET /api/events/export` (the other parameters are those of `recent`).
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub(crate) struct FormatParam {
    /// `jsonl` (NDJSON, default) or `csv`.
    #[allow(dead_code)] // read from the query string by hand; here for the OpenAPI document
    format: Option<String>,
}

/// Records the export in the audit trail when the stream ends, however it ends (a client
/// that disconnects mid-way is recorded with what it received).
struct ExportAudit {
    state: AppState,
    actor: String,
    /// The caller's tenant: a tenant's own admins and auditors see its exports.
    tenant: Option<String>,
    format: ExportFormat,
    filters: serde_json::Value,
    count: u64,
    completed: bool,
}

impl Drop for ExportAudit {
    fn drop(&mut self) {
        let state = self.state.clone();
        let actor = std::mem::take(&mut self.actor);
        let tenant = self.tenant.take();
        let details = serde_json::json!({
            "format": self.format.as_str(),
            "filters": std::mem::take(&mut self.filters),
            "count": self.count,
            "completed": self.completed,
            "via": "http",
        });
        tokio::spawn(async move {
            audit_admin_action(
                &state,
                AdminAction::Export,
                &actor,
                None,
                tenant.as_deref(),
                details,
            )
            .await;
        });
    }
}

struct Exporting {
    chunks: JsonlChunks,
    header: Option<Vec<u8>>,
    done: bool,
    audit: ExportAudit,
}

/// Every event matching the filters of `GET /api/events/recent`, newest first, streamed.
#[utoipa::path(
    get, path = "/api/events/export", tag = "query", params(FormatParam, RecentParams),
    responses(
        (status = 200, description = "The events: NDJSON (one event per line, as `recent` returns them) or CSV with a header row. One read of one snapshot, newest first. `limit` is the chunk size read at a time (default 1000); `cursor` starts after a position.", content_type = "application/x-ndjson", body = String),
        (status = 400, body = ErrorResponse), (status = 401, body = ErrorResponse), (status = 403, body = ErrorResponse),
    ),
    security(("api_key" = []))
)]
pub(crate) async fn export(
    State(state): State<AppState>,
    caller: Caller,
    uri: Uri,
) -> Result<Response, ApiError> {
    let mut format = ExportFormat::Jsonl;
    let mut rest = Vec::new();
    for pair in uri.query().unwrap_or_default().split('&') {
        match pair.split_once('=') {
            Some(("format", value)) => {
                format = value.parse().map_err(|e: String| {
                    ApiError::bad_request("invalid_query", e).field("format")
                })?;
            }
            _ if pair.is_empty() => {}
            _ => rest.push(pair),
        }
    }
    let filters: Uri = format!("/?{}", rest.join("&"))
        .parse()
        .map_err(|_| ApiError::bad_request("invalid_query", "the query string is malformed"))?;
    let Query(params) = Query::<RecentParams>::try_from_uri(&filters).map_err(query_error)?;
    let query = params.into_export_query(&caller, state.validator.policy())?;
    let audit = ExportAudit {
        state: state.clone(),
        actor: caller.name.clone(),
        tenant: caller.tenant().map(str::to_owned),
        format,
        filters: describe(&query),
        count: 0,
        completed: false,
    };
    let start = Exporting {
        chunks: format.chunks(state.store.as_ref(), &query),
        header: Some(format.header()),
        done: false,
        audit,
    };
    let stream = futures::stream::unfold(start, move |mut s| async move {
        if s.done {
            return None;
        }
        let mut out = s.header.take().unwrap_or_default();
        match s.chunks.next().await {
            Some(Ok(lines)) => {
                out.extend_from_slice(&lines.bytes);
                s.audit.count += lines.events as u64;
            }
            None => {
                s.done = true;
                s.audit.completed = true;
                if out.is_empty() {
                    return None;
                }
            }
            Some(Err(e)) => {
                // The status line is sent; a broken stream is the only way left to tell.
                tracing::error!(error = %e, "export stopped: the store failed");
                s.done = true;
                return Some((Err(std::io::Error::other(e.to_string())), s));
            }
        }
        Some((Ok::<_, std::io::Error>(Bytes::from(out)), s))
    });
    let name = format!("events.{}", format.as_str());
    Ok((
        [
            (header::CONTENT_TYPE, format.content_type().to_owned()),
            (
                header::CONTENT_DISPOSITION,
                format!("attachment; filename=\"{name}\""),
            ),
        ],
        Body::from_stream(stream),
    )
        .into_response())
}
