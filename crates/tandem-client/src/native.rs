//! The native transport: one tokio task per client drives the session over
//! tokio-tungstenite.

use core::time::Duration;
use futures_util::{SinkExt, StreamExt};
use tandem_proto::{Instant, Transmit};
use tokio::net::TcpStream;
use tokio::sync::mpsc;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::http::HeaderValue;
use tokio_tungstenite::tungstenite::protocol::WebSocketConfig;
use tokio_tungstenite::tungstenite::protocol::frame::CloseFrame;
use tokio_tungstenite::tungstenite::{Message, Utf8Bytes};
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};

use crate::client::Command;
use crate::config::{Config, TokenFuture};
use crate::driver::{Driver, Sink};
use crate::endpoints::Endpoints;
use crate::error::Error;

type Socket = WebSocketStream<MaybeTlsStream<TcpStream>>;
type Opening = std::pin::Pin<
    Box<dyn std::future::Future<Output = Result<(Socket, Option<String>), String>> + Send>,
>;

/// How long a close frame may take before the socket is dropped.
const CLOSE_GRACE: Duration = Duration::from_secs(1);

/// Checks that `url` is a WebSocket URL the transport can open.
pub(crate) fn check_url(url: &str) -> Result<(), Error> {
    let bad = |reason: &str| Error::Url {
        url: url.to_owned(),
        reason: reason.to_owned(),
    };
    if !(url.starts_with("ws://") || url.starts_with("wss://")) {
        return Err(bad("the scheme must be ws:// or wss://"));
    }
    url.into_client_request()
        .map(|_| ())
        .map_err(|e| bad(&e.to_string()))
}

/// Starts the driver task on the current tokio runtime.
pub(crate) fn spawn(
    endpoints: Endpoints,
    config: Config,
    commands: mpsc::UnboundedReceiver<Command>,
    sink: Sink,
) {
    tokio::spawn(run(endpoints, config, commands, sink));
}

/// A seed for the reconnect jitter when the configuration gives none.
fn fresh_seed() -> u64 {
    use std::hash::BuildHasher;
    std::collections::hash_map::RandomState::new().hash_one(0u8)
}

struct Clock(tokio::time::Instant);

impl Clock {
    fn now(&self) -> Instant {
        Instant::from_millis(u64::try_from(self.0.elapsed().as_millis()).unwrap_or(u64::MAX))
    }
    fn at(&self, at: Instant) -> tokio::time::Instant {
        self.0 + Duration::from_millis(at.as_millis())
    }
}

fn open(url: String, protocols: Vec<String>, max_inbound: usize) -> Opening {
    Box::pin(async move {
        let mut request = url.into_client_request().map_err(|e| e.to_string())?;
        let offer = HeaderValue::from_str(&protocols.join(", ")).map_err(|e| e.to_string())?;
        request
            .headers_mut()
            .insert("sec-websocket-protocol", offer);
        let config = WebSocketConfig::default()
            .read_buffer_size(16 * 1024)
            .max_message_size(Some(max_inbound))
            .max_frame_size(Some(max_inbound));
        let (ws, response) =
            tokio_tungstenite::connect_async_with_config(request, Some(config), true)
                .await
                .map_err(|e| e.to_string())?;
        let protocol = response
            .headers()
            .get("sec-websocket-protocol")
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned);
        Ok((ws, protocol))
    })
}

async fn run(
    mut endpoints: Endpoints,
    config: Config,
    mut commands: mpsc::UnboundedReceiver<Command>,
    sink: Sink,
) {
    let mut driver = Driver::new(config, sink, fresh_seed);
    let max_inbound = driver.session.config().max_inbound_bytes;
    let clock = Clock(tokio::time::Instant::now());
    let mut socket: Option<Socket> = None;
    let mut opening: Option<Opening> = None;
    let mut token: Option<TokenFuture> = None;
    let mut handle_gone = false;

    driver.session.connect(clock.now());
    loop {
        // Write out what the session wants, then route its events.
        while let Some(t) = driver.session.poll_transmit() {
            match t {
                Transmit::Connect { protocols } => {
                    socket = None;
                    let url = endpoints.next().to_owned();
                    opening = Some(open(url, protocols, max_inbound));
                }
                Transmit::Send(text) => {
                    let sent = match socket.as_mut() {
                        Some(ws) => ws.send(Message::Text(text.into())).await.is_ok(),
                        None => false,
                    };
                    if !sent {
                        socket = None;
                        driver
                            .session
                            .handle_closed(clock.now(), None, "write failed");
                    }
                }
                Transmit::Close { code, reason } => {
                    opening = None;
                    if let Some(mut ws) = socket.take() {
                        let frame = CloseFrame {
                            code: code.into(),
                            reason: Utf8Bytes::from(reason),
                        };
                        let _ = tokio::time::timeout(CLOSE_GRACE, ws.close(Some(frame))).await;
                    }
                }
            }
        }
        driver.route_events();
        if let Some(fetch) = driver.token_fetch() {
            token = Some(fetch);
        }
        if handle_gone {
            if driver.is_closed() {
                return;
            }
            driver.session.close(clock.now());
            continue;
        }

        let deadline = driver.session.poll_timeout().map(|t| clock.at(t));
        tokio::select! {
            command = commands.recv() => match command {
                Some(c) => {
                    if driver.drops_socket(&c) {
                        socket = None;
                        opening = None;
                    }
                    driver.command(clock.now(), c);
                }
                None => handle_gone = true,
            },
            opened = async { match opening.as_mut() { Some(f) => f.await, None => std::future::pending().await } } => {
                opening = None;
                match opened {
                    Ok((ws, protocol)) => {
                        socket = Some(ws);
                        driver.session.handle_open(clock.now(), protocol.as_deref());
                    }
                    Err(e) => driver.session.handle_closed(clock.now(), None, &e),
                }
            }
            incoming = async { match socket.as_mut() { Some(ws) => ws.next().await, None => std::future::pending().await } } => {
                let now = clock.now();
                match incoming {
                    Some(Ok(Message::Text(text))) => driver.session.handle_message(now, text.as_bytes()),
                    Some(Ok(Message::Binary(bytes))) => driver.session.handle_message(now, &bytes),
                    Some(Ok(Message::Close(frame))) => {
                        if let Some(mut ws) = socket.take() {
                            let _ = tokio::time::timeout(CLOSE_GRACE, ws.flush()).await;
                        }
                        let (code, reason) = match &frame {
                            Some(f) => (Some(u16::from(f.code)), f.reason.as_str()),
                            None => (None, ""),
                        };
                        driver.session.handle_closed(now, code, reason);
                    }
                    Some(Ok(_)) => {}
                    Some(Err(e)) => {
                        socket = None;
                        driver.session.handle_closed(now, None, &e.to_string());
                    }
                    None => {
                        socket = None;
                        driver.session.handle_closed(now, None, "connection lost");
                    }
                }
            }
            fetched = async { match token.as_mut() { Some(f) => f.await, None => std::future::pending().await } } => {
                token = None;
                driver.session.handle_token(clock.now(), fetched);
            }
            () = async { match deadline { Some(at) => tokio::time::sleep_until(at).await, None => std::future::pending().await } } => {
                driver.session.handle_timeout(clock.now());
            }
        }
    }
}
