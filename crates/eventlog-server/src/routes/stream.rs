//! `GET /api/events/stream`: the live tail as Server-Sent Events.

use std::convert::Infallible;
use std::time::Duration;

use axum::extract::rejection::QueryRejection;
use axum::extract::{Query, State};
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

/// New events as they are committed, filtered like `recent` (`limit` and `cursor` do not
/// apply). Each event is one SSE message whose `data` is the event as `recent` returns it
/// and whose `id` is its event id. A client too slow to keep up gets an `event: lagged`
/// message with `{"missed": N}` (events dropped for it, before filtering) and continues.
/// Comments keep an idle connection alive. `curl -N` shows it as it happens.
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
    params: Result<Query<RecentParams>, QueryRejection>,
) -> Result<Sse<impl Stream<Item = Result<Event, Infallible>>>, ApiError> {
    let Query(params) = params.map_err(query_error)?;
    let filter = params.into_query(&caller)?;
    let subscription = state.live.subscribe();
    let events = futures::stream::unfold((subscription, filter), |(mut sub, filter)| async move {
        let message = next_message(&mut sub, &filter).await?;
        Some((Ok(message), (sub, filter)))
    });
    Ok(Sse::new(events).keep_alive(KeepAlive::new().interval(KEEP_ALIVE).text("keep-alive")))
}

/// The next message for this subscriber: a matching event, a lag notice, or `None` when
/// the server shuts down.
async fn next_message(
    sub: &mut LiveSubscription,
    filter: &eventlog_store::RecentQuery,
) -> Option<Event> {
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
        }
    }
}
