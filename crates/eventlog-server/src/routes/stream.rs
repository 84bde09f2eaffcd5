//! `GET /api/events/stream`: the live tail as Server-Sent Events.

use std::convert::Infallible;
use std::time::Duration;

use axum::extract::rejection::QueryRejection;
use axum::extract::{Query, State};
use axum::http::request::Parts;
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::sse::{Event, KeepAlive, Sse};
use futures::Stream;
use tokio::sync::broadcast::error::RecvError;

use super::query::RecentParams;
use super::query_error;
use crate::auth::Caller;
use crate::error::ErrorResponse;
use crate::live::LiveSubscription;
use crate::{ApiError, AppState};

/// How often an idle stream sends a comment, so proxies keep the connection open.
const KEEP_ALIVE: Duration = Duration::from_secs(15);

/// How often a stream checks its credential again: a revoked key, an expired JWT or a
/// signed-out session ends its open streams within this (plus the key cache's 2 s).
const RECHECK: Duration = Duration::from_secs(2);

/// What an open stream carries from one message to the next.
struct Tail {
    sub: LiveSubscription,
    filter: eventlog_store::RecentQuery,
    state: AppState,
    /// The request's headers: the credential is checked again with them.
    credential: Parts,
    recheck: tokio::time::Interval,
    ended: bool,
}

/// New events as they are committed, filtered like `recent` (`limit` and `cursor` do not
/// apply). Each event is one SSE message whose `data` is the event as `recent` returns it
/// and whose `id` is its event id. A client too slow to keep up gets an `event: lagged`
/// message with `{"missed": N}` (events dropped for it, before filtering) and continues.
/// Comments keep an idle connection alive. The credential is checked again every few
/// seconds: once it no longer holds (a revoked key), an `event: unauthorized` message
/// says why and the stream ends. `curl -N` shows it as it happens.
#[utoipa::path(
    get, path = "/api/events/stream", tag = "query", params(RecentParams),
    responses(
        (status = 200, description = "An endless text/event-stream of newly committed events", content_type = "text/event-stream", body = String),
        (status = 400, body = ErrorResponse), (status = 401, body = ErrorResponse), (status = 403, body = ErrorResponse),
    ),
    security(("api_key" = []))
)]
pub(crate) async fn stream(
    State(state): State<AppState>,
    caller: Caller,
    headers: HeaderMap,
    params: Result<Query<RecentParams>, QueryRejection>,
) -> Result<Sse<impl Stream<Item = Result<Event, Infallible>>>, ApiError> {
    let Query(params) = params.map_err(query_error)?;
    let filter = params.into_query(&caller, state.validator.policy())?;
    let (mut credential, ()) = axum::http::Request::get("/api/events/stream")
        .body(())
        .expect("a constant request")
        .into_parts();
    credential.headers = headers;
    let mut recheck = tokio::time::interval(RECHECK);
    recheck.reset();
    let tail = Tail {
        sub: state.live.subscribe(),
        filter,
        state,
        credential,
        recheck,
        ended: false,
    };
    let events = futures::stream::unfold(tail, |mut tail| async move {
        if tail.ended {
            return None;
        }
        let message = next_message(&mut tail).await?;
        Some((Ok(message), tail))
    });
    Ok(Sse::new(events).keep_alive(KeepAlive::new().interval(KEEP_ALIVE).text("keep-alive")))
}

/// The next message for this subscriber: a matching event, a lag notice, the notice that
/// the credential no longer holds (the last message), or `None` when the server shuts down.
async fn next_message(tail: &mut Tail) -> Option<Event> {
    let Tail {
        sub,
        filter,
        state,
        credential,
        recheck,
        ended,
    } = tail;
    loop {
        if *sub.closed.borrow() {
            return None;
        }
        tokio::select! {
            received = sub.events.recv() => match received {
                Ok(event) if filter.matches(&event.record) => {
                    return Event::default()
                        .id(event.record.event_id.clone())
                        .json_data(&*event)
                        .ok();
                }
                Ok(_) => {}
                Err(RecvError::Lagged(missed)) => {
                    return Some(
                        Event::default()
                            .event("lagged")
                            .data(format!("{{\"missed\":{missed}}}")),
                    );
                }
                Err(RecvError::Closed) => return None,
            },
            _ = sub.closed.changed() => return None,
            _ = recheck.tick() => {
                if let Err(e) = still_authorised(credential, state).await {
                    *ended = true;
                    let body = serde_json::json!({ "error": e.body() });
                    return Some(Event::default().event("unauthorized").data(body.to_string()));
                }
            }
        }
    }
}

/// Whether the stream's credential still holds: the `Authorization` header's key or token,
/// or the dashboard session it was opened with (looked at without keeping it alive). A
/// 401 or a 403 (a token whose role no longer maps) ends the stream; a store that cannot
/// answer right now does not.
async fn still_authorised(credential: &Parts, state: &AppState) -> Result<(), ApiError> {
    let checked = if credential.headers.contains_key(header::AUTHORIZATION) {
        Caller::authenticate(credential, state).await
    } else {
        match state.sessions.peek_bearer(&credential.headers) {
            Some(bearer) => Caller::verify_bearer(&bearer, state).await,
            None => Err(ApiError::unauthorized(
                "the dashboard session ended; sign in again",
            )),
        }
    };
    match checked {
        Err(e) if matches!(e.status(), StatusCode::UNAUTHORIZED | StatusCode::FORBIDDEN) => Err(e),
        _ => Ok(()),
    }
}
