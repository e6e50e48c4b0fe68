//! One task per connection: the HTTP request head, then either a plain answer
//! (`/healthz`, refusals) or a WebSocket whose frames go to the core task and whose outbox
//! is written back. An idle connection is this one task, its small buffers and its outbox.
//!
//! The byte stream is any [`Stream`]: a TCP socket, a TLS session over one, or a
//! connection a host's HTTP server upgraded.

use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::Ordering;

use core::time::Duration;
use futures_util::{SinkExt, StreamExt};
use tandem_proto::negotiate::{ProtocolSelection, SUPPORTED_PROTOCOLS, select_protocol};
use tandem_proto::{Unreadable, close};
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::sync::mpsc;
use tokio::time::timeout;
use tokio_tungstenite::WebSocketStream;
use tokio_tungstenite::tungstenite::protocol::frame::CloseFrame;
use tokio_tungstenite::tungstenite::protocol::{Role, WebSocketConfig};
use tokio_tungstenite::tungstenite::{Error as WsError, Message, error::CapacityError};
use tracing::Span;

use crate::command::Command;
use crate::files;
use crate::http::{self, HeadError, RequestHead};
use crate::outbox::{CloseOrder, Inbox, Taken, outbox};
use crate::scrape;
use crate::shared::Shared;
use crate::spans;
use crate::upgrade::Upgrade;
use crate::writer::Writer;

/// What a connection runs over: a TCP socket, a TLS session, an upgraded HTTP connection.
pub(crate) trait Stream: AsyncRead + AsyncWrite + Unpin + Send + 'static {}

impl<S: AsyncRead + AsyncWrite + Unpin + Send + 'static> Stream for S {}

/// How long a close frame may take to go out before the socket is dropped.
const CLOSE_GRACE: Duration = Duration::from_secs(2);

/// Does the HTTP part of one accepted TCP connection: a plain request is answered, an
/// upgrade handed back as a [`Connected`] to run.
pub(crate) async fn serve<S: Stream>(
    mut stream: S,
    peer: SocketAddr,
    shared: Arc<Shared>,
) -> Option<Connected<S>> {
    let limits = &shared.limits;
    // The handshake's futures are boxed, so they cost memory only while they run: a
    // task's size is that of its largest state, and the idle connection's state (the pump)
    // is what every open connection keeps.
    let head = match Box::pin(timeout(
        limits.http_head_timeout,
        http::read_head(&mut stream, limits.max_header_bytes),
    ))
    .await
    {
        Err(_) => {
            tracing::debug!(%peer, "HTTP head timeout");
            shared.metrics.handshake_refused(408);
            refuse(&mut stream, 408, "request timeout\n").await;
            return None;
        }
        Ok(Err(HeadError::TooLarge(max))) => {
            tracing::debug!(%peer, max, "request head too large");
            let body = format!("request head over {max} bytes\n");
            shared.metrics.handshake_refused(431);
            refuse(&mut stream, 431, &body).await;
            Box::pin(http::linger_close(&mut stream)).await;
            return None;
        }
        Ok(Err(e)) => {
            tracing::debug!(%peer, error = %e, "no request head");
            if matches!(e, HeadError::Malformed(_)) {
                shared.metrics.handshake_refused(400);
                refuse(&mut stream, 400, "bad request\n").await;
                Box::pin(http::linger_close(&mut stream)).await;
            }
            return None;
        }
        Ok(Ok(head)) => head,
    };
    let (head, rest) = head;
    match head.websocket_key() {
        Ok(Some(key)) => {
            let key = key.to_owned();
            upgrade(stream, peer, &shared, &head, &key, rest).await
        }
        Ok(None) => {
            Box::pin(answer(&mut stream, &shared, &head)).await;
            None
        }
        Err(why) => {
            shared.metrics.handshake_refused(400);
            refuse(&mut stream, 400, &format!("{why}\n")).await;
            None
        }
    }
}

/// Answers `status` with a plain-text `body`. Boxed, so the answer's future is not part of
/// the connection task's size (see [`Connected`]); a failed write needs no handling, the
/// connection ends either way.
async fn refuse<S: Stream>(stream: &mut S, status: u16, body: &str) {
    let _ = Box::pin(http::respond(stream, status, "text/plain", body)).await;
}

/// Answers a plain HTTP request.
async fn answer<S: Stream>(stream: &mut S, shared: &Shared, head: &RequestHead) {
    let path = head.path.split('?').next().unwrap_or_default();
    let result = match (head.method.as_str(), path) {
        ("GET" | "HEAD", "/healthz") => {
            let healthy = shared.broker.is_healthy();
            let body = serde_json::json!({
                "status": if healthy { "ok" } else { "degraded" },
                "connections": shared.connections.load(Ordering::Relaxed),
                "broker": shared.broker.name(),
            })
            .to_string();
            let status = if healthy { 200 } else { 503 };
            http::respond(stream, status, "application/json", &body).await
        }
        ("GET" | "HEAD", "/metrics") => scrape::respond(stream, shared).await,
        ("GET" | "HEAD", _) if shared.static_files.is_some() => {
            let root = shared.static_files.as_deref().unwrap_or(Path::new("."));
            match files::serve(stream, root, path, head).await {
                Ok(true) => Ok(()),
                Ok(false) => http::respond(stream, 404, "text/plain", "not found\n").await,
                Err(e) => Err(e),
            }
        }
        ("GET", "/") => {
            http::respond(
                stream,
                426,
                "text/plain",
                "tandem: connect with a WebSocket (subprotocol tandem.v1.json)\n",
            )
            .await
        }
        _ => http::respond(stream, 404, "text/plain", "not found\n").await,
    };
    if let Err(e) = result {
        tracing::debug!(error = %e, "writing an HTTP answer");
    }
}

async fn upgrade<S: Stream>(
    mut stream: S,
    peer: SocketAddr,
    shared: &Arc<Shared>,
    head: &RequestHead,
    key: &str,
    rest: Vec<u8>,
) -> Option<Connected<S>> {
    let offered = head.tokens("sec-websocket-protocol");
    let protocol = match vet_upgrade(shared, head.header("origin"), head.header("host"), &offered) {
        Ok(protocol) => protocol,
        Err((status, body)) => {
            tracing::info!(%peer, status, "upgrade refused: {}", body.trim_end());
            shared.metrics.handshake_refused(status);
            refuse(&mut stream, status, &body).await;
            return None;
        }
    };
    if let Err(e) = Box::pin(http::switch_protocols(&mut stream, key, protocol)).await {
        tracing::debug!(%peer, error = %e, "writing 101");
        return None;
    }
    // Kept only for a backend's connect hook that wants them.
    let kept = shared
        .forward_headers
        .as_deref()
        .map(|names| Upgrade::capture(names, |n| head.header(n), Some(peer)));
    let ws =
        WebSocketStream::from_partially_read(stream, rest, Role::Server, Some(ws_config(shared)))
            .await;
    admit(ws, protocol, shared, None, kept).await
}

/// Whether an upgrade may go on: its origin allowed, a subprotocol both sides speak (or
/// the marker, to explain the mismatch in a close), room for one more connection. The
/// subprotocol, or the HTTP status and body of the refusal.
pub(crate) fn vet_upgrade<T: AsRef<str>>(
    shared: &Shared,
    origin: Option<&str>,
    host: Option<&str>,
    offered: &[T],
) -> Result<&'static str, (u16, String)> {
    if !shared.origins.allows(origin, host) {
        let body = format!(
            "origin {} is not allowed; this server admits {}\n",
            origin.unwrap_or_default(),
            shared.origins.describe()
        );
        return Err((403, body));
    }
    let protocol = match select_protocol(offered, SUPPORTED_PROTOCOLS) {
        ProtocolSelection::Speak(p) => p,
        ProtocolSelection::Explain(_) => tandem_proto::PROTOCOL_MARKER,
        ProtocolSelection::Refuse(e) => return Err((400, format!("{e}\n"))),
    };
    if shared.connections.load(Ordering::Relaxed) >= shared.limits.max_connections {
        return Err((503, "too many connections; try again later\n".to_owned()));
    }
    Ok(protocol)
}

/// The WebSocket settings of every connection: small read buffers, the core's frames
/// written by the connection's own `Writer`, oversize messages cut off.
pub(crate) fn ws_config(shared: &Shared) -> WebSocketConfig {
    let limits = &shared.limits;
    WebSocketConfig::default()
        .read_buffer_size(limits.read_buffer_bytes)
        // tungstenite writes only its own frames (pongs, the close handshake), at once;
        // the core's frames go through this connection's `Writer`.
        .write_buffer_size(0)
        .max_write_buffer_size(limits.max_write_buffer_bytes.max(1))
        // Frames up to twice the limit reach the protocol, which answers with a typed
        // error and 1009; anything larger is cut off here.
        .max_message_size(Some(shared.max_message_bytes.saturating_mul(2)))
        .max_frame_size(Some(shared.max_message_bytes.saturating_mul(2)))
}

/// Admits an upgraded WebSocket speaking `protocol` (a connection of the host's own HTTP
/// server, or of [`serve`]): the core hears of it, as `identity` when the host knows the
/// user already (with the `upgrade`'s headers when a backend's connect hook wants them),
/// and it is handed back to run.
pub(crate) async fn admit<S: Stream>(
    ws: WebSocketStream<S>,
    protocol: &'static str,
    shared: &Arc<Shared>,
    identity: Option<String>,
    upgrade: Option<Box<Upgrade>>,
) -> Option<Connected<S>> {
    let conn = shared.next_conn.fetch_add(1, Ordering::Relaxed);
    let (outbox, inbox) = outbox(shared.limits.outbound_queue);
    let commands = shared.commands.clone();
    let span = spans::connection_span(conn);
    let connect = Command::Connect {
        conn,
        protocol,
        outbox,
        identity,
        span: span.clone(),
    };
    if let Some(upgrade) = upgrade {
        if commands
            .send(Command::Upgrade { conn, upgrade })
            .await
            .is_err()
        {
            return None;
        }
    }
    if commands.send(connect).await.is_err() {
        return None;
    }
    shared.connections.fetch_add(1, Ordering::Relaxed);
    span.in_scope(|| tracing::debug!(conn, protocol, "connected"));
    Some(Connected {
        ws,
        conn,
        commands,
        inbox,
        shared: shared.clone(),
        span,
    })
}

/// An upgraded connection, handed back by [`serve`] so it runs in a task of its own: a
/// task is as large as its largest state, and the handshake's states are larger than the
/// pump that every open connection keeps for its whole life.
pub(crate) struct Connected<S> {
    ws: WebSocketStream<S>,
    conn: u64,
    commands: mpsc::Sender<Command>,
    inbox: Inbox,
    shared: Arc<Shared>,
    /// Its log span (`crate::spans`), entered while the task runs.
    span: Span,
}

impl<S: Stream> Connected<S> {
    /// Moves frames until the connection ends, then tells the core; `alive` is dropped
    /// last (the server waits for every connection's `alive` when it stops).
    ///
    /// Spawn the returned future itself: a block awaiting it would keep `self` beside it.
    /// Not an `async fn` for the same reason: its future would keep `self` whole beside
    /// the parts moved out of it, and the pump would hold the socket a second time. The
    /// block below owns each part once, and the pump borrows the socket (see
    /// `an_open_connections_task_stays_small`).
    pub(crate) fn run(self, alive: mpsc::Sender<()>) -> impl Future<Output = ()> {
        let Connected {
            mut ws,
            conn,
            commands,
            mut inbox,
            shared,
            span,
        } = self;
        let run = async move {
            let mut writer = Writer::new(shared.limits.write_buffer_bytes);
            let ended = pump(&mut ws, conn, &commands, &mut inbox, &mut writer).await;
            drop(ws);
            shared.connections.fetch_sub(1, Ordering::Relaxed);
            if let Some(code) = ended {
                let _ = Box::pin(commands.send(Command::Closed { conn, code })).await;
            }
            tracing::debug!(conn, "disconnected");
            drop(alive);
        };
        spans::in_span(run, span)
    }
}

/// Moves frames both ways until the socket ends or the core closes it. Returns `Some(code)`
/// when the core must still be told the socket closed (`code` from the peer's close frame).
///
/// Outside the write arm the writer is idle, so tungstenite may write its own frames
/// (pongs, the close reply) while reading.
async fn pump<S: Stream>(
    ws: &mut WebSocketStream<S>,
    conn: u64,
    commands: &mpsc::Sender<Command>,
    inbox: &mut Inbox,
    writer: &mut Writer,
) -> Option<Option<u16>> {
    loop {
        // Each arm only decides; the awaits come after the select, so neither the taken
        // queue nor the select's output stays in the task while it writes or waits.
        let step = tokio::select! {
            taken = inbox.take() => match taken {
                Taken::Frames(frames) => {
                    writer.extend(frames);
                    Step::Write
                }
                Taken::Close(order) => Step::Close(order),
            },
            incoming = ws.next() => match incoming {
                Some(Ok(Message::Text(text))) => Step::Send(Command::Text { conn, text }),
                Some(Ok(Message::Binary(_))) => Step::Send(Command::Binary { conn }),
                Some(Ok(Message::Ping(_) | Message::Pong(_) | Message::Frame(_))) => continue,
                Some(Ok(Message::Close(frame))) => Step::PeerClosed(frame.map(|f| u16::from(f.code))),
                Some(Err(WsError::Capacity(CapacityError::MessageTooLong { size, max_size }))) => {
                    tracing::debug!(conn, size, max_size, "message far over the size limit");
                    Step::Refuse(Unreadable::TooBig)
                }
                // RFC 6455 §8.1: a text message that is not UTF-8 fails the connection
                // (the core closes it with 1007, PROTOCOL.md §8.2).
                Some(Err(WsError::Utf8(detail))) => {
                    tracing::debug!(conn, %detail, "text message not UTF-8");
                    Step::Refuse(Unreadable::NotUtf8)
                }
                Some(Err(e)) => {
                    tracing::debug!(conn, error = %e, "socket error");
                    return Some(None);
                }
                None => return Some(None),
            },
        };
        match step {
            Step::Write => tokio::select! {
                written = write(ws, writer) => if written.is_err() { return Some(None) },
                order = inbox.closed() => {
                    Box::pin(close_with(ws, writer, inbox, order)).await;
                    return None;
                }
            },
            Step::Close(order) => {
                Box::pin(close_with(ws, writer, inbox, order)).await;
                return None;
            }
            // Boxed only when the core is behind: the send future holds a whole command,
            // and every open connection's task is as large as its largest state.
            Step::Send(command) => match commands.try_send(command) {
                Ok(()) => {}
                Err(mpsc::error::TrySendError::Full(command)) => {
                    if Box::pin(commands.send(command)).await.is_err() {
                        return None;
                    }
                }
                Err(mpsc::error::TrySendError::Closed(_)) => return None,
            },
            Step::PeerClosed(code) => {
                let _ = Box::pin(timeout(CLOSE_GRACE, ws.flush())).await;
                return Some(code);
            }
            Step::Refuse(why) => {
                Box::pin(refuse_unreadable(ws, conn, commands, inbox, writer, why)).await;
                return None;
            }
        }
    }
}

/// The socket reads nothing more: the core decides the close (code, reason, and that the
/// member leaves at once) and orders it through the outbox. Boxed by the caller, so its
/// states stay out of every open connection's task.
async fn refuse_unreadable<S: Stream>(
    ws: &mut WebSocketStream<S>,
    conn: u64,
    commands: &mpsc::Sender<Command>,
    inbox: &mut Inbox,
    writer: &mut Writer,
    why: Unreadable,
) {
    let order = match commands.send(Command::Unreadable { conn, why }).await {
        Ok(()) => inbox.closed().await,
        Err(_) => None,
    };
    close_with(ws, writer, inbox, order).await;
}

/// What the pump does after a wake-up.
enum Step {
    /// Write the frames just taken.
    Write,
    /// The core ordered a close (`None`: the server stopped).
    Close(Option<CloseOrder>),
    /// Hand a command to the core.
    Send(Command),
    /// The peer sent a close frame, with this code.
    PeerClosed(Option<u16>),
    /// The peer sent what its WebSocket layer refuses (a message far over the limit, a
    /// text message that is not UTF-8): the core closes the connection.
    Refuse(Unreadable),
}

/// Writes what tungstenite still holds (a pong cut off by a full socket), then the
/// writer's frames. Cancel safe, like [`Writer::write_to`]; tungstenite holds nothing once
/// the writer has begun, since nothing reads meanwhile.
async fn write<S: Stream>(ws: &mut WebSocketStream<S>, writer: &mut Writer) -> Result<(), WsError> {
    ws.flush().await?;
    writer.write_to(ws.get_mut()).await?;
    Ok(())
}

/// Writes what is still queued (an error frame often precedes its close), then a close
/// frame (1001 when the order never came because the server stopped), and waits briefly
/// for the peer's answer. A peer that reads nothing gets at most [`CLOSE_GRACE`].
async fn close_with<S: Stream>(
    ws: &mut WebSocketStream<S>,
    writer: &mut Writer,
    inbox: &mut Inbox,
    order: Option<CloseOrder>,
) {
    let (code, reason) = order.unwrap_or_else(|| (close::GOING_AWAY, "server stopped".to_owned()));
    let frame = CloseFrame {
        code: code.into(),
        reason: reason.into(),
    };
    let _ = timeout(CLOSE_GRACE, async {
        while let Some(Taken::Frames(pending)) = inbox.try_take() {
            writer.extend(pending);
        }
        write(ws, writer).await?;
        ws.close(Some(frame)).await?;
        // Wait for the peer's close reply so the close handshake completes.
        while let Some(msg) = ws.next().await {
            msg?;
        }
        Ok::<(), WsError>(())
    })
    .await;
}

#[cfg(test)]
mod tests {
    use super::*;

    fn size_of_run<S, F, Fut>(_: F) -> usize
    where
        F: Fn(Connected<S>, mpsc::Sender<()>) -> Fut,
    {
        std::mem::size_of::<Fut>()
    }

    /// Every open connection keeps its task for its whole life, so that task must not
    /// carry the handshake's states (a 4 KiB stack buffer once made it 4.7 KB) nor hold
    /// a part twice. tokio adds 104 bytes (header, ids, trailer) and rounds a task up to
    /// 128: up to 920 bytes of future the task is 1 KiB of the 4 KiB an idle connection
    /// may cost; one byte more makes it 1,152.
    #[test]
    fn an_open_connections_task_stays_small() {
        let size = size_of_run(Connected::<tokio::net::TcpStream>::run);
        assert!(size <= 920, "Connected::run's future is {size} bytes");
    }
}
