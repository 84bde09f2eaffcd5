//! Body wrappers: [`CaptureBody`] copies the first bytes of a body as it streams through
//! (for size-limited capture), and [`ResponseBody`] records the request's event when the
//! response body ends or is dropped (a client that hangs up is still recorded).

use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};

use bytes::Bytes;
use http_body::{Body, Frame, SizeHint};
use pin_project_lite::pin_project;

use crate::record::PendingEvent;

/// The first `limit` bytes of a body, and its total size.
#[derive(Debug)]
pub(crate) struct Tap {
    limit: usize,
    seen: Mutex<(Vec<u8>, usize)>,
}

impl Tap {
    pub(crate) fn new(limit: usize) -> Arc<Self> {
        Arc::new(Self {
            limit,
            seen: Mutex::new((Vec::new(), 0)),
        })
    }

    fn record(&self, data: &[u8]) {
        if let Ok(mut seen) = self.seen.lock() {
            let room = self.limit.saturating_sub(seen.0.len());
            seen.0.extend_from_slice(&data[..room.min(data.len())]);
            seen.1 += data.len();
        }
    }

    /// The captured bytes, the total size, and whether the capture was cut.
    pub(crate) fn take(&self) -> (Vec<u8>, usize, bool) {
        match self.seen.lock() {
            Ok(mut seen) => {
                let total = seen.1;
                let bytes = std::mem::take(&mut seen.0);
                let cut = total > bytes.len();
                (bytes, total, cut)
            }
            Err(_) => (Vec::new(), 0, false),
        }
    }
}

pin_project! {
    /// A body that copies its first bytes into a [`Tap`] as they pass.
    pub struct CaptureBody<B> {
        #[pin]
        inner: B,
        tap: Arc<Tap>,
    }
}

impl<B> CaptureBody<B> {
    pub(crate) fn new(inner: B, tap: Arc<Tap>) -> Self {
        Self { inner, tap }
    }
}

impl<B: Body<Data = Bytes>> Body for CaptureBody<B> {
    type Data = Bytes;
    type Error = B::Error;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, B::Error>>> {
        let this = self.project();
        let polled = this.inner.poll_frame(cx);
        if let Poll::Ready(Some(Ok(frame))) = &polled {
            if let Some(data) = frame.data_ref() {
                this.tap.record(data);
            }
        }
        polled
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}

/// Records the pending event once, when fired or dropped.
pub(crate) struct Emitter(Option<PendingEvent>);

impl Emitter {
    pub(crate) fn new(pending: Option<PendingEvent>) -> Self {
        Self(pending)
    }

    fn fire(&mut self) {
        if let Some(pending) = self.0.take() {
            pending.emit();
        }
    }
}

impl Drop for Emitter {
    fn drop(&mut self) {
        self.fire();
    }
}

pin_project! {
    /// The response body as the handler produced it, byte for byte; the request's event
    /// is recorded when it ends or is dropped.
    pub struct ResponseBody<B> {
        #[pin]
        inner: B,
        tap: Option<Arc<Tap>>,
        emitter: Emitter,
    }
}

impl<B> ResponseBody<B> {
    pub(crate) fn new(inner: B, tap: Option<Arc<Tap>>, emitter: Emitter) -> Self {
        Self {
            inner,
            tap,
            emitter,
        }
    }
}

impl<B: Body<Data = Bytes>> Body for ResponseBody<B> {
    type Data = Bytes;
    type Error = B::Error;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, B::Error>>> {
        let this = self.project();
        let polled = this.inner.poll_frame(cx);
        match &polled {
            Poll::Ready(Some(Ok(frame))) => {
                if let (Some(tap), Some(data)) = (this.tap.as_ref(), frame.data_ref()) {
                    tap.record(data);
                }
            }
            Poll::Ready(None) | Poll::Ready(Some(Err(_))) => this.emitter.fire(),
            Poll::Pending => {}
        }
        polled
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}
