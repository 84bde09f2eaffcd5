//! `ResponseFuture`: the named, pin-projected future of [`EventLog`](crate::EventLog). It
//! passes the handler's response through unchanged and records the event; a handler
//! panic is recorded as a 500 and then resumed, so the server's own panic handling
//! answers exactly as it would without the layer.

use std::future::Future;
use std::panic::{catch_unwind, resume_unwind, AssertUnwindSafe};
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use http::{Response, StatusCode};
use pin_project_lite::pin_project;
use rand::Rng;

use crate::body::{Emitter, ResponseBody, Tap};
use crate::layer::Config;
use crate::record::{capturable, request_event, PendingEvent, RequestFacts};
use crate::user::UserInfo;

pin_project! {
    /// The response future of [`EventLog`](crate::EventLog).
    pub struct ResponseFuture<F> {
        #[pin]
        inner: F,
        state: Option<(Arc<Config>, RequestFacts)>,
    }

    impl<F> PinnedDrop for ResponseFuture<F> {
        // Dropped before the handler answered: the client went away (or a timeout layer
        // outside gave up) while the handler ran, and it may have changed data by then.
        // Recorded as nginx does, 499, so the audit trail still has the request.
        fn drop(this: Pin<&mut Self>) {
            if let Some((config, facts)) = this.project().state.take() {
                let event = request_event(
                    &config,
                    facts,
                    StatusCode::from_u16(CLIENT_CLOSED_REQUEST).expect("a valid status code"),
                    None,
                    Some("the client closed the connection before the handler answered".to_owned()),
                );
                config.logger.log(event);
            }
        }
    }
}

/// The status nginx records for a request whose client left before the answer.
const CLIENT_CLOSED_REQUEST: u16 = 499;

impl<F> ResponseFuture<F> {
    pub(crate) fn new(inner: F, state: Option<(Arc<Config>, RequestFacts)>) -> Self {
        Self { inner, state }
    }
}

fn panic_message(panic: &(dyn std::any::Any + Send)) -> String {
    panic
        .downcast_ref::<&str>()
        .map(|s| (*s).to_owned())
        .or_else(|| panic.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "a panic without a message".to_owned())
}

impl<F, B, E> Future for ResponseFuture<F>
where
    F: Future<Output = Result<Response<B>, E>>,
    E: std::fmt::Display,
{
    type Output = Result<Response<ResponseBody<B>>, E>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.project();
        let inner = this.inner;
        let result = match catch_unwind(AssertUnwindSafe(|| inner.poll(cx))) {
            Ok(Poll::Pending) => return Poll::Pending,
            Ok(Poll::Ready(result)) => result,
            Err(panic) => {
                if let Some((config, facts)) = this.state.take() {
                    let message = format!("the handler panicked: {}", panic_message(&*panic));
                    let event = request_event(
                        &config,
                        facts,
                        StatusCode::INTERNAL_SERVER_ERROR,
                        None,
                        Some(message),
                    );
                    config.logger.log(event);
                }
                resume_unwind(panic);
            }
        };
        let Some((config, facts)) = this.state.take() else {
            return Poll::Ready(
                result.map(|r| r.map(|b| ResponseBody::new(b, None, Emitter::new(None)))),
            );
        };
        match result {
            Ok(response) => {
                let status = response.status();
                let successful_read = status.as_u16() < 400
                    && (facts.method == http::Method::GET || facts.method == http::Method::HEAD);
                if successful_read
                    && config.read_sample_rate < 1.0
                    && rand::thread_rng().gen::<f64>() >= config.read_sample_rate
                {
                    return Poll::Ready(Ok(
                        response.map(|b| ResponseBody::new(b, None, Emitter::new(None)))
                    ));
                }
                let response_user = response.extensions().get::<UserInfo>().cloned();
                let response_tap = config
                    .capture
                    .as_ref()
                    .filter(|c| capturable(response.headers(), &c.content_types))
                    .map(|c| Tap::new(c.max_bytes));
                let request_tap = facts.request_tap.clone();
                let event = request_event(&config, facts, status, response_user, None);
                let pending = PendingEvent {
                    config,
                    event,
                    request_tap,
                    response_tap: response_tap.clone(),
                };
                Poll::Ready(Ok(response.map(|b| {
                    ResponseBody::new(b, response_tap, Emitter::new(Some(pending)))
                })))
            }
            Err(error) => {
                let message = error.to_string();
                let event = request_event(
                    &config,
                    facts,
                    StatusCode::INTERNAL_SERVER_ERROR,
                    None,
                    Some(message),
                );
                config.logger.log(event);
                Poll::Ready(Err(error))
            }
        }
    }
}
