//! `POST /api/events` and `POST /api/events/batch`.

use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::State;
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Extension;
use axum::Json;
use chrono::Utc;
use eventlog_core::event::OWN_SOURCES;
use eventlog_core::parse::BatchFormat;
use eventlog_core::{parse_batch, parse_event, FieldError, RawEvent, ValidatedEvent};
use eventlog_store::{RequestOutcome, WriteSummary};
use serde::Serialize;
use utoipa::ToSchema;

use crate::auth::Caller;
use crate::browser::BrowserContext;
use crate::error::ErrorResponse;
use crate::limits::ClientIp;
use crate::{ApiError, AppState};

/// Answer to a single event.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct EventAccepted {
    /// The stored event's id (generated when the client gave none).
    event_id: String,
    /// Present and true when the event was already stored with the same content.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    duplicate: bool,
}

/// Answer to a batch.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct BatchAccepted {
    /// Events newly stored.
    accepted: usize,
    /// Events already stored with the same content.
    duplicates: usize,
    /// Every event's id, in request order.
    event_ids: Vec<String>,
}

fn body(body: Result<Bytes, BytesRejection>, limit: usize) -> Result<Bytes, ApiError> {
    body.map_err(|rejection| {
        if rejection.status() == StatusCode::PAYLOAD_TOO_LARGE {
            ApiError::too_large(format!(
                "the request body is larger than the {limit}-byte limit"
            ))
        } else {
            ApiError::bad_request("unreadable_body", rejection.body_text())
        }
    })
}

fn media_type(headers: &HeaderMap) -> Option<String> {
    let value = headers.get(header::CONTENT_TYPE)?.to_str().ok()?;
    Some(
        value
            .split(';')
            .next()
            .unwrap_or_default()
            .trim()
            .to_ascii_lowercase(),
    )
}

fn parse_problem(mut problems: Vec<FieldError>, index: Option<usize>) -> ApiError {
    if problems.len() == 1 && problems[0].code == "invalid_json" {
        let err = ApiError::bad_request("invalid_json", problems.remove(0).message);
        return match index {
            Some(i) => err.index(i),
            None => err,
        };
    }
    ApiError::invalid(problems.into_iter().map(|e| (index, e)).collect(), 1)
}

/// Submits one request's events and waits for their commit.
pub(crate) async fn commit(
    state: &AppState,
    events: Vec<ValidatedEvent>,
) -> Result<WriteSummary, ApiError> {
    let pending = state.queue.submit(events).map_err(|_| {
        ApiError::unavailable(
            "overloaded",
            "the ingest queue is full; retry after a moment",
            1,
        )
    })?;
    let outcome = pending.await.map_err(|_| {
        ApiError::unavailable("shutting_down", "the server is shutting down; retry", 1)
    })?;
    match outcome {
        Ok(RequestOutcome::Written(summary)) => Ok(summary),
        Ok(RequestOutcome::Conflict { index, event_id }) => {
            Err(ApiError::conflict(&event_id, Some(index)))
        }
        Err(failed) if failed.unavailable => Err(ApiError::unavailable(
            "store_unavailable",
            "the event store is unreachable; nothing was stored; retry later",
            5,
        )),
        Err(failed) => Err(ApiError::internal(failed.message)),
    }
}

/// A `source` only eventlog itself writes (its audit trail, the events detection derives):
/// a client claiming one could pass its events off as eventlog's own.
fn reserved_source(raw: &RawEvent) -> Option<FieldError> {
    let source = raw.source.as_deref()?.trim();
    OWN_SOURCES
        .iter()
        .any(|r| source.eq_ignore_ascii_case(r))
        .then(|| {
            FieldError::new(
                "reserved_value",
                "source",
                format!("`{source}` is reserved for the events eventlog writes itself"),
            )
        })
}

fn bind_tenant(
    caller: &Caller,
    event: &mut ValidatedEvent,
    index: Option<usize>,
) -> Result<(), ApiError> {
    match caller.tenant() {
        Some(tenant) if !event.bind_tenant(tenant) => {
            let err = ApiError::forbidden(format!(
                "this key is bound to tenant `{tenant}` and cannot write events of another tenant"
            ))
            .field("tenant_id");
            Err(match index {
                Some(i) => err.index(i),
                None => err,
            })
        }
        _ => Ok(()),
    }
}

fn ip(client_ip: Option<Extension<ClientIp>>) -> Option<std::net::IpAddr> {
    client_ip.map(|Extension(ClientIp(ip))| ip)
}

/// Store one event.
#[utoipa::path(
    post, path = "/api/events", tag = "ingest",
    request_body(content = eventlog_core::RawEvent, description = "An event. Only `event_category` and `event_type` (or an `event_code` from the catalog) are required; unknown fields are refused. With a publishable (browser) key the user fields come from `X-User-Token`, IP and user agent from the connection, and the event is tagged `client-reported`."),
    responses(
        (status = 201, description = "Stored (durably committed)", body = EventAccepted),
        (status = 200, description = "Already stored with the same content (idempotent repeat)", body = EventAccepted),
        (status = 400, description = "Malformed JSON", body = ErrorResponse),
        (status = 401, body = ErrorResponse), (status = 403, body = ErrorResponse),
        (status = 409, description = "The event_id is stored with different content", body = ErrorResponse),
        (status = 413, body = ErrorResponse), (status = 415, body = ErrorResponse),
        (status = 422, description = "Invalid event; every problem listed", body = ErrorResponse),
        (status = 503, description = "Overloaded or store down; see Retry-After", body = ErrorResponse),
    ),
    security(("api_key" = []))
)]
pub(crate) async fn post_event(
    State(state): State<AppState>,
    caller: Caller,
    client_ip: Option<Extension<ClientIp>>,
    headers: HeaderMap,
    raw: Result<Bytes, BytesRejection>,
) -> Result<Response, ApiError> {
    let result = accept_event(&state, caller, ip(client_ip), headers, raw).await;
    if let Err(e) = &result {
        state.metrics.rejected(e.code());
    }
    result
}

async fn accept_event(
    state: &AppState,
    caller: Caller,
    client_ip: Option<std::net::IpAddr>,
    headers: HeaderMap,
    raw: Result<Bytes, BytesRejection>,
) -> Result<Response, ApiError> {
    let browser = BrowserContext::for_caller(state, &caller, &headers, client_ip)?;
    if media_type(&headers).as_deref() != Some("application/json") {
        return Err(ApiError::unsupported_media_type(
            "send the event with `Content-Type: application/json`",
        ));
    }
    let bytes = body(raw, state.limits.max_body_bytes)?;
    if bytes.len() > state.limits.max_event_bytes {
        return Err(ApiError::too_large(format!(
            "the event is {} bytes; the limit is {} bytes per event",
            bytes.len(),
            state.limits.max_event_bytes
        )));
    }
    let mut raw_event = parse_event(&bytes).map_err(|e| parse_problem(e, None))?;
    if let Some(browser) = &browser {
        browser.apply(&mut raw_event);
    }
    if let Some(reserved) = reserved_source(&raw_event) {
        return Err(ApiError::invalid(vec![(None, reserved)], 1));
    }
    let mut event = state
        .validator
        .validate(raw_event, Utc::now())
        .map_err(|errors| ApiError::invalid(errors.into_iter().map(|e| (None, e)).collect(), 1))?;
    bind_tenant(&caller, &mut event, None)?;
    event.record_hash();
    let summary = commit(state, vec![event]).await?;
    let duplicate = summary.duplicate_flags.first().copied().unwrap_or(false);
    let status = if duplicate {
        StatusCode::OK
    } else {
        StatusCode::CREATED
    };
    let event_id = summary.event_ids.into_iter().next().unwrap_or_default();
    Ok((
        status,
        Json(EventAccepted {
            event_id,
            duplicate,
        }),
    )
        .into_response())
}

/// The JSON form of a batch (for the OpenAPI document; the parser reads it in place).
#[derive(utoipa::ToSchema)]
#[allow(dead_code)] // only its schema is used
struct BatchBody {
    /// The events, all stored or none.
    events: Vec<eventlog_core::RawEvent>,
}

/// Store many events, all or nothing.
#[utoipa::path(
    post, path = "/api/events/batch", tag = "ingest",
    request_body(
        description = "`{\"events\": [event, ...]}` as application/json, or one event per line as application/x-ndjson",
        content(
            (BatchBody = "application/json"),
            (eventlog_core::RawEvent = "application/x-ndjson"),
        )
    ),
    responses(
        (status = 201, description = "All events stored (or already stored)", body = BatchAccepted),
        (status = 400, body = ErrorResponse), (status = 401, body = ErrorResponse), (status = 403, body = ErrorResponse),
        (status = 409, description = "An event_id is stored with different content; nothing stored", body = ErrorResponse),
        (status = 413, description = "Body or batch too large", body = ErrorResponse),
        (status = 415, body = ErrorResponse),
        (status = 422, description = "Invalid events, each listed with its index; nothing stored", body = ErrorResponse),
        (status = 503, body = ErrorResponse),
    ),
    security(("api_key" = []))
)]
pub(crate) async fn post_batch(
    State(state): State<AppState>,
    caller: Caller,
    client_ip: Option<Extension<ClientIp>>,
    headers: HeaderMap,
    raw: Result<Bytes, BytesRejection>,
) -> Result<Response, ApiError> {
    let result = accept_batch(&state, caller, ip(client_ip), headers, raw).await;
    if let Err(e) = &result {
        state.metrics.rejected(e.code());
    }
    result
}

async fn accept_batch(
    state: &AppState,
    caller: Caller,
    client_ip: Option<std::net::IpAddr>,
    headers: HeaderMap,
    raw: Result<Bytes, BytesRejection>,
) -> Result<Response, ApiError> {
    let browser = BrowserContext::for_caller(state, &caller, &headers, client_ip)?;
    let format = match media_type(&headers).as_deref() {
        Some("application/json") => BatchFormat::JsonObject,
        Some("application/x-ndjson" | "application/ndjson" | "application/jsonl") => {
            BatchFormat::Ndjson
        }
        _ => return Err(ApiError::unsupported_media_type(
            "send `Content-Type: application/json` ({\"events\": [...]}) or `application/x-ndjson`",
        )),
    };
    let bytes = body(raw, state.limits.max_body_bytes)?;
    let items = parse_batch(&bytes, format, state.limits.max_event_bytes).map_err(|e| {
        let code = if e.code == "invalid_json" {
            "invalid_json"
        } else {
            "invalid_batch"
        };
        // The body's own field at fault (`{"events": [...], "source": 1}` names `source`).
        let field = e.field.unwrap_or_else(|| "events".to_owned());
        ApiError::bad_request(code, e.message).field(field)
    })?;
    let total = items.len();
    if total == 0 {
        return Err(ApiError::invalid(
            vec![(
                None,
                FieldError::new("empty_batch", "events", "the batch holds no events"),
            )],
            0,
        ));
    }
    if total > state.limits.max_batch_events {
        return Err(ApiError::too_large(format!(
            "the batch holds {total} events; the limit is {} per batch",
            state.limits.max_batch_events
        ))
        .field("events"));
    }
    let now = Utc::now();
    let mut problems = Vec::new();
    let mut events = Vec::with_capacity(total);
    for (index, item) in items.into_iter().enumerate() {
        match item.and_then(|mut raw| {
            if let Some(browser) = &browser {
                browser.apply(&mut raw);
            }
            match reserved_source(&raw) {
                Some(reserved) => Err(vec![reserved]),
                None => state.validator.validate(raw, now),
            }
        }) {
            Ok(mut event) => {
                bind_tenant(&caller, &mut event, Some(index))?;
                // Hashed here, on one of many request threads, not in the single writer.
                event.record_hash();
                events.push(event);
            }
            Err(errors) => problems.extend(errors.into_iter().map(|e| (Some(index), e))),
        }
    }
    let malformed = problems
        .iter()
        .filter(|(_, e)| e.code == "invalid_json")
        .count();
    if let Some((index, first)) = problems.iter().find(|(_, e)| e.code == "invalid_json") {
        // A line of NDJSON that is not JSON at all: the body is malformed (400), not invalid.
        // Every bad line is listed, so a client fixes its file in one round.
        let mut err = parse_problem(vec![first.clone()], *index);
        if problems.len() > 1 {
            err = ApiError::bad_request(
                "invalid_json",
                format!(
                    "{malformed} of {total} lines are not JSON and {} are invalid events (see details); nothing was stored",
                    problems.len() - malformed
                ),
            )
            .index(index.unwrap_or_default())
            .with_details(problems);
        }
        return Err(err);
    }
    if !problems.is_empty() {
        return Err(ApiError::invalid(problems, total));
    }
    let summary = commit(state, events).await?;
    Ok((
        StatusCode::CREATED,
        Json(BatchAccepted {
            accepted: summary.accepted,
            duplicates: summary.duplicates,
            event_ids: summary.event_ids,
        }),
    )
        .into_response())
}
