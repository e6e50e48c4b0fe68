//! Building a server, running it on a listener, and the handle the application keeps.

use std::future::Future;
use std::hash::BuildHasher;
use std::io;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, AtomicUsize};

use core::time::Duration;
use tandem_proto::{AppSchema, ErrorBody, Payload, RoomPolicies, RoomPolicy, ServerConfig, close};
use tokio::net::{TcpListener, ToSocketAddrs};
use tokio::sync::{Semaphore, mpsc, oneshot};
use tokio::task::JoinHandle;

use crate::broker::{Broker, BrokerMessage, ClusterBroker, MemoryBroker};
use crate::clock::Clock;
use crate::command::Command;
use crate::connection;
use crate::core::Core;
use crate::error::AuthError;
use crate::handle::Handle;
use crate::hooks::{Hooks, JoinContext, RequestContext};
use crate::limits::Limits;
use crate::metrics::Metrics;
use crate::origin::OriginPolicy;
use crate::shared::Shared;
use crate::tls::{self, TlsConfig};
use crate::token::Authenticated;
use crate::token::JwtVerifier;
use crate::webhook::{self, WebhookConfig};

/// Commands waiting for the core task; senders wait when it is full.
const COMMAND_QUEUE: usize = 8192;
/// How long a graceful shutdown waits for connections to finish closing.
pub(crate) const SHUTDOWN_GRACE: Duration = Duration::from_secs(5);

/// Configures a [`Server`]. Start with [`Server::builder`].
#[must_use]
pub struct ServerBuilder {
    protocol: ServerConfig,
    limits: Limits,
    origins: OriginPolicy,
    hooks: Hooks,
    broker: Arc<dyn Broker>,
    /// The broker's cluster side, when the node is one node of a cluster.
    cluster: Option<Arc<dyn ClusterBroker>>,
    shutdown_hint: Duration,
    seed: Option<u64>,
    static_files: Option<PathBuf>,
    tls: Option<TlsConfig>,
}

impl ServerBuilder {
    /// IO limits: buffers, queues, the HTTP handshake, connections (see [`Limits`] for
    /// each default). The protocol's limits have methods of their own.
    pub fn limits(mut self, limits: Limits) -> Self {
        self.limits = limits;
        self
    }

    /// Largest accepted message in bytes; a bigger one closes the connection with 1009.
    /// Default 64 KiB. (`ServerConfig::max_frame_bytes`.)
    pub fn max_message_bytes(mut self, bytes: usize) -> Self {
        self.protocol.max_frame_bytes = bytes;
        self
    }

    /// Messages per second per connection, sustained and at once (a flood gets
    /// `rate_limited` errors, then 1008). Default 100 per second, bursts of 200.
    /// (`ServerConfig::rate`.)
    pub fn rate(mut self, per_second: u32, burst: u32) -> Self {
        self.protocol.rate.per_second = per_second;
        self.protocol.rate.burst = burst;
        self
    }

    /// Rooms one connection may be in at once. Default 64.
    /// (`HubConfig::max_rooms_per_conn`.)
    pub fn max_rooms_per_connection(mut self, rooms: usize) -> Self {
        self.protocol.hub.max_rooms_per_conn = rooms;
        self
    }

    /// Decides each room's policy from its name: history bounds, whether numbered
    /// publishes are allowed, presence on or off, a member limit. Called once per room
    /// (and by a cluster's broker): give the same answer for the same name every time.
    /// Rooms get the defaults without it. (`ServerConfig::policies`.)
    pub fn room_policy(
        mut self,
        decide: impl Fn(&str) -> RoomPolicy + Send + Sync + 'static,
    ) -> Self {
        self.protocol.policies = RoomPolicies::new(decide);
        self
    }

    /// Time a connection has, from its WebSocket upgrade, to send `hello` (else close
    /// 4008). Default 10 s. The HTTP head before it is [`Limits::http_head_timeout`].
    /// (`ServerConfig::hello_timeout`.)
    pub fn hello_timeout(mut self, timeout: Duration) -> Self {
        self.protocol.hello_timeout = timeout;
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

    /// Changes any protocol setting, those with builder methods of their own too: this and
    /// those methods write into the one [`ServerConfig`], so the last write wins.
    pub fn configure(mut self, f: impl FnOnce(&mut ServerConfig)) -> Self {
        f(&mut self.protocol);
        self
    }

    /// Decides who a hello's token belongs to: return the user id, or why not. Without
    /// this hook (or [`ServerBuilder::jwt`], [`ServerBuilder::authenticate_with`]) every
    /// connection is accepted as user `conn-<id>`.
    pub fn authenticate<F, Fut>(self, hook: F) -> Self
    where
        F: Fn(Option<String>) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Result<String, AuthError>> + Send + 'static,
    {
        self.authenticate_with(move |token| {
            let user = hook(token);
            async move { user.await.map(Authenticated::user) }
        })
    }

    /// Like [`ServerBuilder::authenticate`], returning the user with the token's claims,
    /// which stay with the connection ([`JoinContext::claims`], [`RequestContext::claims`]).
    pub fn authenticate_with<F, Fut>(mut self, hook: F) -> Self
    where
        F: Fn(Option<String>) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Result<Authenticated, AuthError>> + Send + 'static,
    {
        self.hooks.auth = Some(Arc::new(move |token| Box::pin(hook(token))));
        // This hook decides hellos now, not a backend's connect hook.
        self.hooks.connect = None;
        self.hooks.forward_headers = None;
        self
    }

    /// Requires a JSON Web Token in hello, checked by `verifier` (what `tandem serve
    /// --token-secret`, `--token-public-key` and `--token-jwks` do): the user is its `sub`,
    /// and its claims stay with the connection. An expired token closes with 4002
    /// (`token_expired`), any other refusal with 4001 (`unauthorized`).
    pub fn jwt(self, verifier: JwtVerifier) -> Self {
        self.authenticate_with(move |token| {
            let verifier = verifier.clone();
            async move {
                match token {
                    None => Err(AuthError::Missing),
                    Some(t) => verifier.verify_fresh(&t).await.map(Authenticated::from),
                }
            }
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

    /// Asks the application's backend over HTTP (any language) about the events `config`
    /// selects: who a hello is (`connect`, with the upgrade's cookie and authorization
    /// headers), who may join, whether a publish goes out as sent, rewritten or not at all,
    /// what answers a request, and who left (`disconnect`). See [`WebhookConfig`] and the
    /// README's "Backend hooks over HTTP" for the JSON of each event and answer.
    ///
    /// Each selected event replaces the hook set for it before ([`Self::authenticate`],
    /// [`Self::jwt`], [`Self::authorize_join`], [`Self::on_request`]); a hook set after
    /// replaces the backend's for its event. Without `connect` selected, hellos are decided
    /// as without this call (e.g. by [`Self::jwt`]).
    pub fn webhook(mut self, config: WebhookConfig) -> Self {
        webhook::install(config, &mut self.hooks);
        self
    }

    /// Where server-side broadcasts meet across nodes, for a node that is the whole
    /// server. Default [`MemoryBroker`].
    pub fn broker(mut self, broker: Arc<dyn Broker>) -> Self {
        self.broker = broker;
        self.cluster = None;
        self
    }

    /// Makes this node one node of a cluster joined by `broker` (`tandem-redis`'s
    /// `RedisBroker`): the broker numbers messages and keeps history and presence for
    /// every node.
    pub fn cluster<B: Broker + ClusterBroker>(mut self, broker: Arc<B>) -> Self {
        self.cluster = Some(broker.clone());
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

    /// Serves TLS on the listener: `wss://` upgrades, and `/healthz` and static files over
    /// `https://`, all on the one port. Each connection's TLS handshake has
    /// [`Limits::http_head_timeout`] and takes one of the [`Limits::max_handshakes`] slots.
    /// Give a [`TlsConfig`] (from PEM: [`TlsConfig::from_pem_files`]) or a
    /// `rustls::ServerConfig`.
    pub fn tls(mut self, tls: impl Into<TlsConfig>) -> Self {
        self.tls = Some(tls.into());
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
        // Whether the core asks for a decision follows from which hooks there are.
        protocol.authenticate = self.hooks.auth.is_some() || self.hooks.connect.is_some();
        protocol.authorize_publishes = self.hooks.publish.is_some();
        protocol.authorize_joins = self.hooks.join.is_some();
        protocol.handle_requests = self.hooks.request.is_some();
        Server {
            protocol,
            limits: self.limits,
            origins: self.origins,
            hooks: self.hooks,
            broker: self.broker,
            cluster: self.cluster,
            shutdown_hint: self.shutdown_hint,
            seed: self.seed.unwrap_or_else(fresh_seed),
            static_files: self.static_files,
            tls: self.tls,
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
    /// The broker's cluster side, when the node is one node of a cluster.
    cluster: Option<Arc<dyn ClusterBroker>>,
    shutdown_hint: Duration,
    seed: u64,
    static_files: Option<PathBuf>,
    tls: Option<TlsConfig>,
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
            cluster: None,
            shutdown_hint: Duration::from_secs(1),
            seed: None,
            static_files: None,
            tls: None,
        }
    }

    /// The protocol configuration the server runs with.
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
        let tls = self.tls.as_ref().map(TlsConfig::acceptor);
        let started = self.start();
        let (stop, stop_rx) = oneshot::channel();
        let (alive, alive_rx) = mpsc::channel::<()>(1);
        let shared = started.shared.clone();
        let accept = tokio::spawn(accept_loop(listener, shared, tls, stop_rx, alive));
        tracing::info!(%local_addr, "tandem server listening");
        Ok(Running {
            local_addr,
            handle: started.handle,
            shutdown_hint: started.shutdown_hint,
            stop: Some(stop),
            accept,
            core: started.core,
            relay: started.relay,
            alive: alive_rx,
        })
    }

    /// Starts the core and the broker relay: everything but a listener.
    pub(crate) fn start(self) -> Started {
        let (commands, command_rx) = mpsc::channel(COMMAND_QUEUE);
        let shared = Arc::new(Shared {
            limits: self.limits,
            max_message_bytes: self.protocol.max_frame_bytes,
            origins: self.origins,
            broker: self.broker.clone(),
            commands: commands.clone(),
            next_conn: AtomicU64::new(1),
            connections: AtomicUsize::new(0),
            static_files: self.static_files,
            metrics: Metrics::default(),
            forward_headers: self.hooks.forward_headers.clone(),
        });
        let handle = Handle::new(commands.clone(), shared.clone());
        let clock = Clock::start();
        let mut config = self.protocol;
        let messages = self.broker.attach(&config.hub, &config.policies);
        // The kind of broker given decides the node's kind.
        let protocol = match &self.cluster {
            None => tandem_proto::Server::new(config, self.seed),
            Some(_) => {
                config.anonymous_prefix = format!("conn-{}-", self.broker.node());
                let mut node = tandem_proto::Server::cluster_node(config, self.seed);
                // Until the broker reports itself reachable.
                let hint = Duration::from_secs(1);
                node.set_unavailable(clock.now(), Some(("broker connecting", hint)));
                node
            }
        };
        let core = tokio::spawn(
            Core::new(
                protocol,
                self.cluster.clone(),
                clock,
                self.hooks,
                handle.clone(),
            )
            .run(command_rx),
        );
        let relay = tokio::spawn(relay(messages, commands));
        Started {
            shared,
            handle,
            shutdown_hint: self.shutdown_hint,
            core,
            relay,
        }
    }
}

/// A server's core and relay, running, without a listener of its own.
pub(crate) struct Started {
    pub shared: Arc<Shared>,
    pub handle: Handle,
    pub shutdown_hint: Duration,
    pub core: JoinHandle<()>,
    pub relay: JoinHandle<()>,
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
    tls: Option<tokio_rustls::TlsAcceptor>,
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
                    let tls = tls.clone();
                    tokio::spawn(async move {
                        match tls {
                            None => admit(stream, peer, shared, slot, alive).await,
                            Some(tls) => {
                                let limit = shared.limits.http_head_timeout;
                                if let Some(stream) = tls::handshake(&tls, stream, peer, limit).await {
                                    admit(stream, peer, shared, slot, alive).await;
                                }
                            }
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

/// Does the HTTP part of an accepted connection (over TCP or TLS) in its handshake `slot`,
/// then runs it.
async fn admit<S: connection::Stream>(
    stream: S,
    peer: SocketAddr,
    shared: Arc<Shared>,
    slot: tokio::sync::OwnedSemaphorePermit,
    alive: mpsc::Sender<()>,
) {
    let connected = connection::serve(stream, peer, shared).await;
    drop(slot);
    if let Some(connected) = connected {
        // A task of its own, sized for the open connection only.
        tokio::spawn(connected.run(alive));
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
            .commands()
            .send(Command::Shutdown { code, hint })
            .await;
        // Every connection task holds a clone of the sender; `None` means all have ended.
        if tokio::time::timeout(SHUTDOWN_GRACE, self.alive.recv())
            .await
            .is_err()
        {
            tracing::warn!("connections still closing after the grace period; dropped");
        }
        let _ = self.handle.commands().send(Command::Stop).await;
        let _ = (&mut self.core).await;
        self.relay.abort();
        tracing::info!(code, "tandem server stopped");
    }

    /// Shuts down with 1012 ("service restart": clients come back after the hint).
    pub async fn restart_shutdown(self) {
        self.shutdown(close::SERVICE_RESTART).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn protocol_limits_set_in_configure_survive_limits_and_build() {
        let server = Server::builder()
            .configure(|c| {
                c.max_frame_bytes = 1000;
                c.rate.per_second = 7;
                c.rate.burst = 9;
                c.hub.max_rooms_per_conn = 3;
                c.hello_timeout = Duration::from_secs(2);
            })
            .limits(Limits::default())
            .build();
        let c = server.config();
        assert_eq!(c.max_frame_bytes, 1000);
        assert_eq!((c.rate.per_second, c.rate.burst), (7, 9));
        assert_eq!(c.hub.max_rooms_per_conn, 3);
        assert_eq!(c.hello_timeout, Duration::from_secs(2));
    }

    #[test]
    fn builder_methods_and_configure_write_one_setting_and_the_last_wins() {
        let server = Server::builder()
            .rate(5, 6)
            .max_message_bytes(100)
            .configure(|c| c.rate.burst = 8)
            .max_rooms_per_connection(2)
            .configure(|c| c.hub.max_rooms_per_conn = 4)
            .hello_timeout(Duration::from_secs(3))
            .build();
        let c = server.config();
        assert_eq!((c.rate.per_second, c.rate.burst), (5, 8));
        assert_eq!(c.max_frame_bytes, 100);
        assert_eq!(c.hub.max_rooms_per_conn, 4);
        assert_eq!(c.hello_timeout, Duration::from_secs(3));
    }
}
