//! Serving the metrics: `GET /metrics` on the server's port (`connection.rs`) or a port of
//! its own ([`Handle::serve_metrics`]), and [`Handle::metrics`] for hosts. The numbers and
//! their rendering are `metrics.rs`; here the core is asked for its part through
//! [`Command::Metrics`].

use std::io;
use std::sync::Arc;
use std::sync::atomic::Ordering;

use tokio::io::AsyncWrite;
use tokio::net::TcpListener;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

use crate::command::Command;
use crate::handle::Handle;
use crate::http;
use crate::metrics::{CONTENT_TYPE, render};
use crate::shared::Shared;

/// The metrics text: the core's numbers asked through a command (left out when the core
/// does not answer), the rest read here.
pub(crate) async fn text(shared: &Shared) -> String {
    let (reply, answer) = oneshot::channel();
    let snapshot = match shared.commands.send(Command::Metrics { reply }).await {
        Ok(()) => answer.await.ok(),
        Err(_) => None,
    };
    let open = shared.connections.load(Ordering::Relaxed);
    render(
        &shared.metrics,
        open,
        shared.broker.as_ref(),
        snapshot.as_deref(),
    )
}

/// Answers `GET /metrics`.
pub(crate) async fn respond<S: AsyncWrite + Unpin>(
    stream: &mut S,
    shared: &Shared,
) -> io::Result<()> {
    let body = text(shared).await;
    http::respond(stream, 200, CONTENT_TYPE, &body).await
}

impl Handle {
    /// The server's metrics in the OpenMetrics text format (what `GET /metrics` answers):
    /// for an application that serves them its own way.
    pub async fn metrics(&self) -> String {
        text(self.shared()).await
    }

    /// Serves `GET /metrics` (and 404 for anything else) on `listener`, a port of its own,
    /// until the returned task is aborted or the runtime stops. The request head has the
    /// server's limits ([`crate::Limits::http_head_timeout`], `max_header_bytes`).
    pub fn serve_metrics(&self, listener: TcpListener) -> JoinHandle<()> {
        let shared = self.shared().clone();
        tokio::spawn(async move {
            loop {
                match listener.accept().await {
                    Ok((stream, _)) => {
                        tokio::spawn(answer_metrics(stream, shared.clone()));
                    }
                    Err(e) => {
                        tracing::warn!(error = %e, "metrics listener: accept failed");
                        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
                    }
                }
            }
        })
    }
}

async fn answer_metrics(mut stream: tokio::net::TcpStream, shared: Arc<Shared>) {
    let limits = &shared.limits;
    let read = http::read_head(&mut stream, limits.max_header_bytes);
    let Ok(Ok((head, _))) = tokio::time::timeout(limits.http_head_timeout, read).await else {
        return;
    };
    let path = head.path.split('?').next().unwrap_or_default();
    let result = match (head.method.as_str(), path) {
        ("GET" | "HEAD", "/metrics") => respond(&mut stream, &shared).await,
        _ => http::respond(&mut stream, 404, "text/plain", "not found; try /metrics\n").await,
    };
    if let Err(e) = result {
        tracing::debug!(error = %e, "writing metrics");
    }
}
