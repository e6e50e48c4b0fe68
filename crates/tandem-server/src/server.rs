//! Building a server, running it on a listener, and the handle the application keeps.

use std::future::Future;
use std::hash::BuildHasher;
use std::io;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, AtomicUsize};

use core::time::Duration;
use serde::Serialize;
use tandem_proto::{AppSchema, ConnId, ErrorBody, Payload, ServerConfig, close};
use tokio::net::{TcpListener, ToSocketAddrs};
use tokio::sync::{Semaphore, mpsc, oneshot};
use tokio::task::JoinHandle;

use crate::broker::{Broker, BrokerMessage, MemoryBroker};
use crate::clock::Clock;
use crate::connection;
use crate::core::{Command, Core};
use crate::error::ServerError;
use crate::hooks::{AuthError, Hooks, JoinContext, RequestContext};
use crate::limits::Limits;
use crate::origin::OriginPolicy;
use crate::token::HmacTokens;

/// Commands waiting for the core task; senders wait when it is full.
const COMMAND_QUEUE: usize = 8192;
/// How long a graceful shutdown waits for connections to finish closing.
const SHUTDOWN_GRACE: Duration = Duration::from_secs(5);

/// State shared by the accept loop and every connection task.
pub(crate) struct Shared {
    pub limits: Limits,
    pub origins: OriginPolicy,
    pub broker: Arc<dyn Broker>,
    pub commands: mpsc::Sender<Command>,
    pub next_conn: AtomicU64,
    pub connections: AtomicUsize,
    pub static_files: Option<PathBuf>,
}

/// Configures a [`Server`]. Start with [`Server::builder`].
#[must_use]
pub struct ServerBuilder {
    protocol: ServerConfig,
    limits: Limits,
    origins: OriginPolicy,
    hooks: Hooks,
    broker: Arc<dyn Broker>,
    shutdown_hint: Duration,
    seed: Option<u64>,
    static_files: Option<PathBuf>,
}

impl ServerBuilder {
    /// Resource limits (see [`Limits`] for each default).
    pub fn limits(mut self, limits: Limits) -> Self {
        self.limits = limits;
        self
    }

    /// Which browser origins may connect. Default [`OriginPolicy::SameHost`].
    pub fn origins(mut self, origins: OriginPolicy) -> Self {
        self.origins = origins;
        self
    }

    /// The application schema (name and versions) clients must speak.
    pub fn app(mut self, app: AppSchema) -> Self {
        self.protocol.app = app;
        self
    }

    /// Changes protocol settings that have no builder method of their own: heartbeat,
    /// history, presence timeout, request timeout...
    pub fn configure(mut self, f: impl FnOnce(&mut ServerConfig)) -> Self {
        f(&mut self.protocol);
        self
    }

    /// Decides who a hello's token belongs to: return the user id, or why not. Without
    /// this hook every connection is accepted as user `conn-<id>`.
    pub fn authenticate<F, Fut>(mut self, hook: F) -> Self
    where
        F: Fn(Option<String>) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Result<String, AuthError>> + Send + 'static,
    {
        self.hooks.auth = Some(Arc::new(move |token| Box::pin(hook(token))));
        self
    }

    /// Accepts tokens issued by [`HmacTokens`] with this secret (what `tandem serve
    /// --token-secret` does).
    pub fn hmac_tokens(self, tokens: HmacTokens) -> Self {
        self.authenticate(move |token| {
            let result = match token {
                None => Err(AuthError::Missing),
                Some(t) => tokens.verify(&t).map(|c| c.sub),
            };
            async move { result }
        })
    }

    /// Decides whether a user may join a room: `Err(why)` refuses with `forbidden` (the
    /// connection stays open). Without this hook every join is allowed.
    pub fn authorize_join<F, Fut>(mut self, hook: F) -> Self
    where
        F: Fn(JoinContext) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Result<(), String>> + Send + 'static,
    {
        self.hooks.join = Some(Arc::new(move |ctx| Box::pin(hook(ctx))));
        self
    }

    /// Answers clients' requests. Without this hook they fail with `no_handler`.
    pub fn on_request<F, Fut>(mut self, hook: F) -> Self
    where
        F: Fn(RequestContext, Payload) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Result<Payload, ErrorBody>> + Send + 'static,
    {
        self.hooks.request = Some(Arc::new(move |ctx, data| Box::pin(hook(ctx, data))));
        self
    }

    /// Where server-side broadcasts meet across nodes. Default [`MemoryBroker`].
    pub fn broker(mut self, broker: Arc<dyn Broker>) -> Self {
        self.broker = broker;
        self
    }

    /// How long clients are told to wait before reconnecting after a graceful shutdown.
    /// Default 1 s (each client adds its own jitter).
    pub fn shutdown_hint(mut self, hint: Duration) -> Self {
        self.shutdown_hint = hint;
        self
    }

    /// Serves the files under `dir` to plain HTTP GETs on the same port (a built web app:
    /// `/` is `dir/index.html`). `/healthz` and WebSocket upgrades keep their meaning.
    pub fn static_files(mut self, dir: impl Into<PathBuf>) -> Self {
        self.static_files = Some(dir.into());
        self
    }

    /// Seeds the room epochs (tests only; by default each run draws a fresh seed).
    pub fn seed(mut self, seed: u64) -> Self {
        self.seed = Some(seed);
        self
    }

    /// The server, ready to [`Server::serve`].
    pub fn build(self) -> Server {
        let mut protocol = self.protocol;
        protocol.max_frame_bytes = self.limits.max_message_bytes;
        protocol.rate.per_second = self.limits.rate_per_second;
        protocol.rate.burst = self.limits.rate_burst;
        protocol.hub.max_rooms_per_conn = self.limits.max_rooms_per_connection;
        protocol.handshake_timeout = self.limits.handshake_timeout;
        protocol.authenticate = self.hooks.auth.is_some();
        protocol.authorize_joins = self.hooks.join.is_some();
        protocol.handle_requests = self.hooks.request.is_some();
        Server {
            protocol,
            limits: self.limits,
            origins: self.origins,
            hooks: self.hooks,
            broker: self.broker,
            shutdown_hint: self.shutdown_hint,
            seed: self.seed.unwrap_or_else(fresh_seed),
            static_files: self.static_files,
        }
    }
}

fn fresh_seed() -> u64 {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos());
    std::collections::hash_map::RandomState::new().hash_one((nanos, std::process::id()))
}

/// A configured tandem server node, not yet running.
pub struct Server {
    protocol: ServerConfig,
    limits: Limits,
    origins: OriginPolicy,
    hooks: Hooks,
    broker: Arc<dyn Broker>,
    shutdown_hint: Duration,
    seed: u64,
    static_files: Option<PathBuf>,
}

impl std::fmt::Debug for Server {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Server")
            .field("limits", &self.limits)
            .field("origins", &self.origins)
            .field("broker", &self.broker.name())
            .finish_non_exhaustive()
    }
}

impl Server {
    /// A builder with every default: no authentication (users are `conn-<id>`), every join
    /// allowed, no request handler, same-host origins, the in-memory broker.
    pub fn builder() -> ServerBuilder {
        ServerBuilder {
            protocol: ServerConfig::default(),
            limits: Limits::default(),
            origins: OriginPolicy::default(),
            hooks: Hooks::default(),
            broker: Arc::new(MemoryBroker::default()),
            shutdown_hint: Duration::from_secs(1),
            seed: None,
            static_files: None,
        }
    }

    /// The protocol configuration the server runs with (limits already applied).
    pub fn config(&self) -> &ServerConfig {
        &self.protocol
    }

    /// Binds `addr` (the first of its addresses that binds) with a listen backlog of
    /// [`LISTEN_BACKLOG`], and serves on it.
    pub async fn bind(self, addr: impl ToSocketAddrs) -> io::Result<Running> {
        let mut last_error = None;
        for addr in tokio::net::lookup_host(addr).await? {
            match listen(addr) {
                Ok(listener) => return self.serve(listener),
                Err(e) => last_error = Some(e),
            }
        }
        Err(last_error
            .unwrap_or_else(|| io::Error::new(io::ErrorKind::InvalidInput, "no address to bind")))
    }

    /// Serves on `listener` in background tasks of the current tokio runtime.
    pub fn serve(self, listener: TcpListener) -> io::Result<Running> {
        let local_addr = listener.local_addr()?;
        let (commands, command_rx) = mpsc::channel(COMMAND_QUEUE);
        let shared = Arc::new(Shared {
            limits: self.limits,
            origins: self.origins,
            broker: self.broker.clone(),
            commands: commands.clone(),
            next_conn: AtomicU64::new(1),
            connections: AtomicUsize::new(0),
            static_files: self.static_files,
        });
        let handle = Handle {
            commands: commands.clone(),
            shared: shared.clone(),
        };
        let clock = Clock::start();
        let mut config = self.protocol;
        if self.broker.is_clustered() {
            config.clustered = true;
            config.anonymous_prefix = format!("conn-{}-", self.broker.node());
        }
        let clustered = config.clustered;
        let messages = self.broker.attach(&config.hub);
        let mut protocol = tandem_proto::Server::new(config, self.seed);
        if clustered {
            // Until the broker reports itself reachable.
            protocol.set_unavailable(
                clock.now(),
                Some(("broker connecting", Duration::from_secs(1))),
            );
        }
        let core = tokio::spawn(
            Core::new(
                protocol,
                self.broker.clone(),
                clock,
                self.hooks,
                handle.clone(),
            )
            .run(command_rx),
        );

        let relay = tokio::spawn(relay(messages, commands.clone()));
        let (stop, stop_rx) = oneshot::channel();
        let (alive, alive_rx) = mpsc::channel::<()>(1);
        let accept = tokio::spawn(accept_loop(listener, shared, stop_rx, alive));
        tracing::info!(%local_addr, "tandem server listening");
        Ok(Running {
            local_addr,
            handle,
            shutdown_hint: self.shutdown_hint,
            stop: Some(stop),
            accept,
            core,
            relay,
            alive: alive_rx,
        })
    }
}

/// Feeds what the broker says into the core. Messages lost to a lagging relay are
/// reported as the broker being down, so clients resume from the broker's history.
async fn relay(
    mut from: tokio::sync::broadcast::Receiver<BrokerMessage>,
    commands: mpsc::Sender<Command>,
) {
    use tokio::sync::broadcast::error::RecvError;
    loop {
        let message = match from.recv().await {
            Ok(m) => m,
            Err(RecvError::Lagged(n)) => {
                tracing::warn!(n, "broker relay lagged; messages lost");
                BrokerMessage::Down {
                    why: format!("{n} broker messages lost to a lagging relay"),
                }
            }
            Err(RecvError::Closed) => return,
        };
        if commands.send(Command::Broker(message)).await.is_err() {
            return;
        }
    }
}

/// Pending connections the kernel queues before `accept` (capped by `net.core.somaxconn`).
/// std's default of 128 drops the SYNs of a connect storm, and each dropped client waits a
/// one-second retransmit.
pub const LISTEN_BACKLOG: u32 = 4096;

/// A listener on `addr` with [`LISTEN_BACKLOG`] and `SO_REUSEADDR` (a restarted server can
/// bind again while old connections are in TIME_WAIT).
fn listen(addr: SocketAddr) -> io::Result<TcpListener> {
    let socket = if addr.is_ipv4() {
        tokio::net::TcpSocket::new_v4()?
    } else {
        tokio::net::TcpSocket::new_v6()?
    };
    socket.set_reuseaddr(true)?;
    socket.bind(addr)?;
    socket.listen(LISTEN_BACKLOG)
}

async fn accept_loop(
    listener: TcpListener,
    shared: Arc<Shared>,
    mut stop: oneshot::Receiver<()>,
    alive: mpsc::Sender<()>,
) {
    let handshakes = Arc::new(Semaphore::new(shared.limits.max_handshakes.max(1)));
    loop {
        // A connection is accepted only with a handshake slot free; the rest wait in the
        // listen backlog.
        let slot = tokio::select! {
            _ = &mut stop => return,
            slot = handshakes.clone().acquire_owned() => match slot {
                Ok(slot) => slot,
                Err(_) => return, // never closed
            },
        };
        tokio::select! {
            _ = &mut stop => return,
            accepted = listener.accept() => match accepted {
                Ok((stream, peer)) => {
                    let _ = stream.set_nodelay(true);
                    let shared = shared.clone();
                    let alive = alive.clone();
                    tokio::spawn(async move {
                        let connected = connection::serve(stream, peer, shared).await;
                        drop(slot);
                        if let Some(connected) = connected {
                            // A task of its own, sized for the open connection only.
                            tokio::spawn(connected.run(alive));
                        }
                    });
                }
                Err(e) => {
                    // Out of file descriptors and the like: back off instead of spinning.
                    tracing::warn!(error = %e, "accept failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                }
            }
        }
    }
}

/// A running server. Dropping it leaves the server running until the runtime stops; call
/// [`Running::shutdown`] to close every connection gracefully.
#[derive(Debug)]
pub struct Running {
    local_addr: SocketAddr,
    handle: Handle,
    shutdown_hint: Duration,
    stop: Option<oneshot::Sender<()>>,
    accept: JoinHandle<()>,
    core: JoinHandle<()>,
    relay: JoinHandle<()>,
    alive: mpsc::Receiver<()>,
}

impl Running {
    /// The address the server listens on.
    pub fn local_addr(&self) -> SocketAddr {
        self.local_addr
    }

    /// A handle to broadcast and to ask clients things.
    pub fn handle(&self) -> Handle {
        self.handle.clone()
    }

    /// Stops accepting, closes every connection with `code` (1012 "service restart" or
    /// 1001 "going away") and the retry hint, and waits (at most 5 s) for them to finish.
    pub async fn shutdown(mut self, code: u16) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        let _ = (&mut self.accept).await;
        let hint = self.shutdown_hint;
        let _ = self
            .handle
            .commands
            .send(Command::Shutdown { code, hint })
            .await;
        // Every connection task holds a clone of the sender; `None` means all have ended.
        if tokio::time::timeout(SHUTDOWN_GRACE, self.alive.recv())
            .await
            .is_err()
        {
            tracing::warn!("connections still closing after the grace period; dropped");
        }
        let _ = self.handle.commands.send(Command::Stop).await;
        let _ = (&mut self.core).await;
        self.relay.abort();
        tracing::info!(code, "tandem server stopped");
    }

    /// Shuts down with 1012 ("service restart": clients come back after the hint).
    pub async fn restart_shutdown(self) {
        self.shutdown(close::SERVICE_RESTART).await;
    }
}

/// A cheap, cloneable handle to a running server.
#[derive(Clone)]
pub struct Handle {
    commands: mpsc::Sender<Command>,
    shared: Arc<Shared>,
}

impl std::fmt::Debug for Handle {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Handle").finish_non_exhaustive()
    }
}

impl Handle {
    pub(crate) fn commands(&self) -> &mpsc::Sender<Command> {
        &self.commands
    }

    /// Open WebSocket connections right now.
    pub fn connections(&self) -> usize {
        self.shared
            .connections
            .load(std::sync::atomic::Ordering::Relaxed)
    }

    /// Broadcasts `data` in `room` on the server's behalf, through the broker (so every
    /// node's members receive it).
    pub async fn broadcast<T: Serialize + ?Sized>(
        &self,
        room: &str,
        data: &T,
    ) -> Result<(), ServerError> {
        let data =
            tandem_proto::encode_payload(data).map_err(|e| ServerError::Payload(e.to_string()))?;
        self.shared
            .broker
            .broadcast(room.to_owned(), Arc::new(data))
            .await
            .map_err(ServerError::Broker)
    }

    /// Asks the client on `conn` something and waits for its answer (or the protocol's
    /// request timeout).
    pub async fn request<T: Serialize + ?Sized>(
        &self,
        conn: ConnId,
        room: Option<&str>,
        data: &T,
    ) -> Result<Payload, ServerError> {
        let data =
            tandem_proto::encode_payload(data).map_err(|e| ServerError::Payload(e.to_string()))?;
        let (reply, answer) = oneshot::channel();
        self.commands
            .send(Command::Request {
                conn,
                room: room.map(str::to_owned),
                data,
                reply,
            })
            .await
            .map_err(|_| ServerError::Stopped)?;
        answer
            .await
            .map_err(|_| ServerError::Stopped)?
            .map_err(ServerError::Client)
    }
}
