//! The native transport: one tokio task per client drives the session over
//! tokio-tungstenite. The task waits on the handle's commands, the socket, a token fetch
//! and the timer, feeds what comes to the [`Driver`], and pumps it.

use core::time::Duration;
use std::future::Future;

use futures_util::{SinkExt, StreamExt};
use tandem_proto::Instant;
use tokio::net::TcpStream;
use tokio::sync::mpsc;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::http::HeaderValue;
use tokio_tungstenite::tungstenite::protocol::WebSocketConfig;
use tokio_tungstenite::tungstenite::protocol::frame::CloseFrame;
use tokio_tungstenite::tungstenite::{Error as WsError, Message, Utf8Bytes};
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};

use crate::command::{Command, Sink};
use crate::config::{Config, TokenFuture};
use crate::driver::{Driver, Platform};
use crate::endpoints::Endpoints;
use crate::error::Error;
use crate::tls::{ConnectFailure, Tls};

type Socket = WebSocketStream<MaybeTlsStream<TcpStream>>;
type Opening = std::pin::Pin<
    Box<dyn std::future::Future<Output = Result<(Socket, Option<String>), ConnectFailure>> + Send>,
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

/// The tokio platform: the runtime's clock and timer, one tokio-tungstenite socket.
/// Writes are asynchronous, so [`Platform::send`] and [`Platform::close`] queue them and
/// [`Tokio::flush`] writes them out after each pump, in order.
struct Tokio {
    start: tokio::time::Instant,
    max_inbound: usize,
    /// Headers of every handshake (`Config::header`).
    headers: std::sync::Arc<[(String, String)]>,
    /// `wss://` settings (`Config::extra_root_pem`).
    tls: Tls,
    socket: Option<Socket>,
    opening: Option<Opening>,
    /// Text frames for `socket` (or for `closing`, queued before it closed).
    outbox: Vec<String>,
    /// The socket the session closed, with its close frame.
    closing: Option<(Socket, CloseFrame)>,
    deadline: Option<tokio::time::Instant>,
}

impl Tokio {
    fn new(max_inbound: usize, headers: &[(String, String)], tls: Tls) -> Self {
        Tokio {
            start: tokio::time::Instant::now(),
            max_inbound,
            headers: headers.into(),
            tls,
            socket: None,
            opening: None,
            outbox: Vec::new(),
            closing: None,
            deadline: None,
        }
    }

    /// Writes out what the last pump queued: the frames, then the close frame of a socket
    /// being closed (given at most [`CLOSE_GRACE`]). `false` when a write on the open
    /// socket failed; it is let go of, and the rest of the queue with it.
    async fn flush(&mut self) -> bool {
        let outbox = std::mem::take(&mut self.outbox);
        if let Some((mut ws, frame)) = self.closing.take() {
            // Once a socket is closing nothing is queued for another (sends fail until the
            // next one opens, after this flush), so the queue is all its own. The session
            // counts it closed already: a failed write only ends it sooner.
            for text in outbox {
                if ws.send(Message::Text(text.into())).await.is_err() {
                    return true;
                }
            }
            let _ = tokio::time::timeout(CLOSE_GRACE, ws.close(Some(frame))).await;
            return true;
        }
        let Some(ws) = self.socket.as_mut() else {
            return true;
        };
        for text in outbox {
            if ws.send(Message::Text(text.into())).await.is_err() {
                self.socket = None;
                return false;
            }
        }
        true
    }
}

impl Platform for Tokio {
    fn now(&self) -> Instant {
        Instant::from_millis(u64::try_from(self.start.elapsed().as_millis()).unwrap_or(u64::MAX))
    }

    fn random_seed(&self) -> u64 {
        use std::hash::BuildHasher;
        std::collections::hash_map::RandomState::new().hash_one(0u8)
    }

    fn arm(&mut self, deadline: Option<Instant>) {
        self.deadline = deadline.map(|at| self.start + Duration::from_millis(at.as_millis()));
    }

    fn open(&mut self, url: &str, protocols: &[String]) -> Result<(), String> {
        // The session asks for a socket only once it counts the last one closed: what was
        // queued for that one is dropped with it.
        self.socket = None;
        self.outbox.clear();
        let headers = self.headers.clone();
        let connector = self.tls.connector(url);
        self.opening = Some(open(
            url.to_owned(),
            protocols.to_vec(),
            self.max_inbound,
            headers,
            connector,
        ));
        Ok(())
    }

    fn send(&mut self, text: String) -> bool {
        if self.socket.is_none() {
            return false;
        }
        self.outbox.push(text);
        true
    }

    fn close(&mut self, code: u16, reason: String) {
        self.opening = None;
        if let Some(ws) = self.socket.take() {
            let frame = CloseFrame {
                code: code.into(),
                reason: Utf8Bytes::from(reason),
            };
            self.closing = Some((ws, frame));
        }
    }

    fn drop_socket(&mut self) {
        self.socket = None;
        self.opening = None;
    }
}

fn open(
    url: String,
    protocols: Vec<String>,
    max_inbound: usize,
    headers: std::sync::Arc<[(String, String)]>,
    connector: Result<Option<tokio_tungstenite::Connector>, ConnectFailure>,
) -> Opening {
    Box::pin(async move {
        let connector = connector?;
        let mut request = url.into_client_request().map_err(|e| e.to_string())?;
        for (name, value) in headers.iter() {
            let name =
                tokio_tungstenite::tungstenite::http::HeaderName::from_bytes(name.as_bytes())
                    .map_err(|e| format!("header {name:?}: {e}"))?;
            let value = HeaderValue::from_str(value).map_err(|e| format!("header {name}: {e}"))?;
            request.headers_mut().append(name, value);
        }
        let offer = HeaderValue::from_str(&protocols.join(", ")).map_err(|e| e.to_string())?;
        request
            .headers_mut()
            .insert("sec-websocket-protocol", offer);
        let config = WebSocketConfig::default()
            .read_buffer_size(16 * 1024)
            .max_message_size(Some(max_inbound))
            .max_frame_size(Some(max_inbound));
        let (ws, response) = tokio_tungstenite::connect_async_tls_with_config(
            request,
            Some(config),
            true,
            connector,
        )
        .await
        .map_err(|e| crate::tls::failure(&e))?;
        let protocol = response
            .headers()
            .get("sec-websocket-protocol")
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned);
        Ok((ws, protocol))
    })
}

/// `future`'s output once it completes; never, when there is none.
async fn maybe<F: Future + Unpin>(future: Option<&mut F>) -> F::Output {
    match future {
        Some(f) => f.await,
        None => std::future::pending().await,
    }
}

/// The next message of `socket`; never, when there is none.
async fn incoming(socket: Option<&mut Socket>) -> Option<Result<Message, WsError>> {
    match socket {
        Some(ws) => ws.next().await,
        None => std::future::pending().await,
    }
}

/// Completes at `deadline`; never, when there is none.
async fn until(deadline: Option<tokio::time::Instant>) {
    match deadline {
        Some(at) => tokio::time::sleep_until(at).await,
        None => std::future::pending().await,
    }
}

/// The driver task: pumps, writes out what the pump queued, then waits for the next input
/// (a command, the socket opening, a message, a token, the timer) and feeds it in. Once
/// every handle is gone it closes the session and ends.
async fn run(
    endpoints: Endpoints,
    config: Config,
    mut commands: mpsc::UnboundedReceiver<Command>,
    sink: Sink,
) {
    let tls = Tls::new(&config.extra_roots);
    let platform = Tokio::new(config.protocol.max_inbound_bytes, &config.headers, tls);
    let mut driver = Driver::new(config, endpoints, platform, sink);
    let mut token: Option<TokenFuture> = None;
    let mut handle_gone = false;

    driver.start();
    loop {
        driver.pump();
        if !driver.platform.flush().await {
            driver.on_closed(None, "write failed");
            continue;
        }
        if let Some(fetch) = driver.token_fetch() {
            token = Some(fetch);
        }
        if handle_gone {
            if driver.is_closed() {
                return;
            }
            driver.close();
            continue;
        }

        // The futures borrow the platform's fields; `select!` drops them before the chosen
        // branch runs, so each branch has the whole driver.
        let p = &mut driver.platform;
        tokio::select! {
            command = commands.recv() => match command {
                Some(c) => driver.command(c),
                None => handle_gone = true,
            },
            opened = maybe(p.opening.as_mut()) => {
                driver.platform.opening = None;
                match opened {
                    Ok((ws, protocol)) => {
                        driver.platform.socket = Some(ws);
                        driver.on_open(protocol.as_deref());
                    }
                    Err(e) => driver.on_closed(e.code, &e.reason),
                }
            }
            message = incoming(p.socket.as_mut()) => received(&mut driver, message).await,
            fetched = maybe(token.as_mut()) => {
                token = None;
                driver.on_token(fetched);
            }
            () = until(p.deadline) => driver.on_timeout(),
        }
    }
}

/// Feeds what the socket gave to the session.
async fn received(driver: &mut Driver<Tokio>, message: Option<Result<Message, WsError>>) {
    match message {
        Some(Ok(Message::Text(text))) => driver.on_message(text.as_bytes()),
        Some(Ok(Message::Binary(bytes))) => driver.on_message(&bytes),
        Some(Ok(Message::Close(frame))) => {
            if let Some(mut ws) = driver.platform.socket.take() {
                let _ = tokio::time::timeout(CLOSE_GRACE, ws.flush()).await;
            }
            let (code, reason) = match &frame {
                Some(f) => (Some(u16::from(f.code)), f.reason.as_str()),
                None => (None, ""),
            };
            driver.on_closed(code, reason);
        }
        Some(Ok(_)) => {}
        Some(Err(e)) => {
            driver.platform.socket = None;
            driver.on_closed(None, &e.to_string());
        }
        None => {
            driver.platform.socket = None;
            driver.on_closed(None, "connection lost");
        }
    }
}
