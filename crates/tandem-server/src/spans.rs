//! One tracing span per connection, `conn{id=N user=U}`: every log line of the
//! connection's work (its task, the core handling it, its hooks) is written inside it, so a
//! text line is prefixed with it and a JSON line carries it (`span.id`, `span.user`).
//!
//! The span is at DEBUG level, and the connection's lines are too. When the filter leaves
//! DEBUG out (the default, `info`), the span is disabled and costs nothing: no span is
//! registered, the connection's task keeps a null pointer for it and polls its work
//! directly, and the core keeps no span for it. The user is recorded once the protocol
//! knows it (after `hello`).

use std::collections::HashMap;
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};

use tandem_proto::{ConnId, Server as Protocol};
use tracing::Span;

/// The span of a new connection `conn` (its user comes later, see [`Spans::name`]).
pub(crate) fn connection_span(conn: ConnId) -> Span {
    tracing::debug_span!("conn", id = conn, user = tracing::field::Empty)
}

pin_project_lite::pin_project! {
    /// A future run inside a span, when there is one. Unlike tracing's `Instrumented`, it
    /// keeps the span boxed: every open connection's task holds one of these for its whole
    /// life, and a pointer is a quarter of a span.
    pub(crate) struct InSpan<F> {
        span: Option<Box<Span>>,
        #[pin]
        work: F,
    }
}

/// `work`, entering `span` (if enabled) each time it is polled.
pub(crate) fn in_span<F: Future>(work: F, span: Span) -> InSpan<F> {
    InSpan {
        span: (!span.is_disabled()).then(|| Box::new(span)),
        work,
    }
}

impl<F: Future> Future for InSpan<F> {
    type Output = F::Output;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<F::Output> {
        let this = self.project();
        let _entered = this.span.as_deref().map(Span::enter);
        this.work.poll(cx)
    }
}

/// The core's spans of open connections, only for those whose span is enabled.
#[derive(Default)]
pub(crate) struct Spans {
    /// Each span, and whether its user is recorded.
    open: HashMap<ConnId, (Span, bool)>,
}

impl Spans {
    /// Keeps `span` for `conn` (nothing when it is disabled).
    pub(crate) fn open(&mut self, conn: ConnId, span: Span) {
        if !span.is_disabled() {
            self.open.insert(conn, (span, false));
        }
    }

    /// Records the user of `conn` in its span once the protocol has welcomed it.
    #[inline]
    pub(crate) fn name(&mut self, conn: ConnId, protocol: &Protocol) {
        if self.open.is_empty() {
            return;
        }
        if let Some((span, named @ false)) = self.open.get_mut(&conn) {
            if let Some(user) = protocol.connection(conn).and_then(|c| c.user()) {
                span.record("user", tracing::field::display(user));
                *named = true;
            }
        }
    }

    /// The span of `conn` (a disabled one when there is none), to run its work in.
    pub(crate) fn of(&self, conn: ConnId) -> Span {
        match self.open.get(&conn) {
            Some((span, _)) => span.clone(),
            None => Span::none(),
        }
    }

    /// Forgets `conn`.
    #[inline]
    pub(crate) fn close(&mut self, conn: ConnId) {
        if !self.open.is_empty() {
            self.open.remove(&conn);
        }
    }
}
