//! tandem inside a host's axum app (feature `axum`): the host's router takes the upgrade
//! request on any path, through the host's own middleware (auth extractors, tracing,
//! CORS), and tandem takes the connection from there. What the host's middleware found
//! about the user (a cookie session) can come along as the connection's [`Identity`], so
//! `hello` needs no token.
//!
//! ```no_run
//! # async fn run() -> std::io::Result<()> {
//! use axum::{Router, routing::get};
//!
//! let tandem = tandem_server::Server::builder().build().mount();
//! let app: Router = Router::new()
//!     .route("/", get(|| async { "the host's own page" }))
//!     .route("/rt", tandem.axum_route());
//! let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
//! axum::serve(listener, app).await
//! # }
//! ```
//!
//! After the upgrade a connection is the same task as on tandem's own listener
//! (`connection.rs`), over hyper's upgraded IO instead of the raw socket.

use std::sync::{Arc, Mutex, PoisonError};

use axum::body::Body;
use axum::extract::Request;
use axum::http::{HeaderMap, Method, StatusCode, header};
use axum::response::Response;
use axum::routing::{MethodRouter, get};
use hyper_util::rt::TokioIo;
use tokio::sync::mpsc;
use tokio::task::JoinHandle;
use tokio_tungstenite::WebSocketStream;
use tokio_tungstenite::tungstenite::handshake::derive_accept_key;
use tokio_tungstenite::tungstenite::protocol::Role;

use crate::command::Command;
use crate::connection::{admit, vet_upgrade, ws_config};
use crate::handle::Handle;
use crate::hooks::Upgrade;
use crate::server::{SHUTDOWN_GRACE, Server, Started};
use crate::shared::Shared;

/// Who a connection is, as the host found it before the upgrade (its cookie session, a
/// header its auth layer checked). Put it in the upgrade request's extensions (e.g. with
/// `request.extensions_mut().insert(Identity(user))` in a middleware) and tandem welcomes
/// the connection as this user, without a token in `hello` and without the server's
/// authenticate hook.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Identity(pub String);

/// A tandem server without a listener of its own: a host's HTTP server hands it upgrade
/// requests ([`Mounted::axum_route`], [`Mounted::upgrade`]). Cheap to clone.
#[derive(Clone)]
pub struct Mounted {
    inner: Arc<Inner>,
}

struct Inner {
    shared: Arc<Shared>,
    handle: Handle,
    shutdown_hint: core::time::Duration,
    /// Each connection task holds a clone; dropped at shutdown, to hear them all end.
    alive: Mutex<Option<mpsc::Sender<()>>>,
    stopping: tokio::sync::Mutex<Option<Stopping>>,
}

struct Stopping {
    alive: mpsc::Receiver<()>,
    core: JoinHandle<()>,
    relay: JoinHandle<()>,
}

impl std::fmt::Debug for Mounted {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Mounted").finish_non_exhaustive()
    }
}

impl Server {
    /// Starts the server without a listener, for a host's HTTP server to mount: see
    /// [`Mounted`]. Call it inside a tokio runtime.
    pub fn mount(self) -> Mounted {
        let Started {
            shared,
            handle,
            shutdown_hint,
            core,
            relay,
        } = self.start();
        let (alive, alive_rx) = mpsc::channel(1);
        Mounted {
            inner: Arc::new(Inner {
                shared,
                handle,
                shutdown_hint,
                alive: Mutex::new(Some(alive)),
                stopping: tokio::sync::Mutex::new(Some(Stopping {
                    alive: alive_rx,
                    core,
                    relay,
                })),
            }),
        }
    }
}

/// A plain-text answer.
fn answer(status: StatusCode, body: String) -> Response {
    let mut response = Response::new(Body::from(body));
    *response.status_mut() = status;
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        header::HeaderValue::from_static("text/plain; charset=utf-8"),
    );
    response
}

/// Whether `headers` has a `name` header listing `token` (case-insensitive).
fn lists(headers: &HeaderMap, name: header::HeaderName, token: &str) -> bool {
    headers
        .get_all(name)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .any(|t| t.trim().eq_ignore_ascii_case(token))
}

impl Mounted {
    /// A handle to broadcast and to ask clients things.
    pub fn handle(&self) -> Handle {
        self.inner.handle.clone()
    }

    /// An axum route that takes WebSocket upgrades at whatever path the host mounts it:
    /// `Router::new().route("/rt", tandem.axum_route())`. The host's layers on the
    /// router apply to the upgrade request.
    pub fn axum_route<S: Clone + Send + Sync + 'static>(&self) -> MethodRouter<S> {
        let mounted = self.clone();
        get(move |request: Request| {
            let mounted = mounted.clone();
            async move { mounted.upgrade(request).await }
        })
    }

    /// Answers one upgrade request (for a host that routes it itself): `101 Switching
    /// Protocols` and the connection taken over, or the refusal (403 origin, 400 no
    /// common subprotocol or a bad handshake, 426 not an upgrade, 503 too many
    /// connections), as on tandem's own listener.
    pub async fn upgrade(&self, mut request: Request) -> Response {
        let headers = request.headers();
        let upgrade = request.method() == Method::GET
            && lists(headers, header::CONNECTION, "upgrade")
            && lists(headers, header::UPGRADE, "websocket");
        if !upgrade {
            let body = "tandem: connect with a WebSocket (subprotocol tandem.v1.json)\n";
            return answer(StatusCode::UPGRADE_REQUIRED, body.to_owned());
        }
        let version = headers.get(header::SEC_WEBSOCKET_VERSION);
        let Some(key) = headers
            .get(header::SEC_WEBSOCKET_KEY)
            .filter(|_| version.is_some_and(|v| v == "13"))
        else {
            let body = "a WebSocket upgrade needs Sec-WebSocket-Key and version 13\n";
            return answer(StatusCode::BAD_REQUEST, body.to_owned());
        };
        let accept = derive_accept_key(key.as_bytes());
        let offered: Vec<&str> = headers
            .get_all(header::SEC_WEBSOCKET_PROTOCOL)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .flat_map(|v| v.split(','))
            .map(str::trim)
            .collect();
        let text = |name| headers.get(name).and_then(|v| v.to_str().ok());
        let shared = &self.inner.shared;
        let protocol = match vet_upgrade(shared, text(header::ORIGIN), text(header::HOST), &offered)
        {
            Ok(protocol) => protocol,
            Err((status, body)) => {
                shared.metrics.handshake_refused(status);
                let status = StatusCode::from_u16(status).unwrap_or(StatusCode::BAD_REQUEST);
                return answer(status, body);
            }
        };
        let identity = request.extensions().get::<Identity>().map(|i| i.0.clone());
        // Kept only for a backend's connect hook that wants them.
        let remote = request
            .extensions()
            .get::<axum::extract::ConnectInfo<std::net::SocketAddr>>()
            .map(|c| c.0);
        let kept = shared.forward_headers.as_deref().map(|names| {
            let header = |n: &str| headers.get(n).and_then(|v| v.to_str().ok());
            Upgrade::capture(names, header, remote)
        });
        let alive = self
            .inner
            .alive
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone();
        let Some(alive) = alive else {
            return answer(
                StatusCode::SERVICE_UNAVAILABLE,
                "shutting down\n".to_owned(),
            );
        };
        let upgraded = hyper::upgrade::on(&mut request);
        let shared = shared.clone();
        tokio::spawn(async move {
            let io = match upgraded.await {
                Ok(upgraded) => TokioIo::new(upgraded),
                Err(e) => {
                    tracing::debug!(error = %e, "the host's upgrade failed");
                    return;
                }
            };
            let config = ws_config(&shared);
            let ws = WebSocketStream::from_raw_socket(io, Role::Server, Some(config)).await;
            if let Some(connected) = admit(ws, protocol, &shared, identity, kept).await {
                // A task of its own, sized for the open connection only.
                tokio::spawn(connected.run(alive));
            }
        });
        let mut response = Response::new(Body::empty());
        *response.status_mut() = StatusCode::SWITCHING_PROTOCOLS;
        let h = response.headers_mut();
        h.insert(
            header::UPGRADE,
            header::HeaderValue::from_static("websocket"),
        );
        h.insert(
            header::CONNECTION,
            header::HeaderValue::from_static("Upgrade"),
        );
        if let Ok(v) = header::HeaderValue::from_str(&accept) {
            h.insert(header::SEC_WEBSOCKET_ACCEPT, v);
        }
        h.insert(
            header::SEC_WEBSOCKET_PROTOCOL,
            header::HeaderValue::from_static(protocol),
        );
        response
    }

    /// Closes every connection with `code` (1012 "service restart" or 1001 "going away")
    /// and the retry hint, waits (at most 5 s) for them to finish, and stops the server.
    /// Later upgrade requests get 503.
    pub async fn shutdown(&self, code: u16) {
        let Some(stopping) = self.inner.stopping.lock().await.take() else {
            return;
        };
        let Stopping {
            mut alive,
            core,
            relay,
        } = stopping;
        drop(
            self.inner
                .alive
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .take(),
        );
        let commands = self.inner.handle.commands();
        let hint = self.inner.shutdown_hint;
        let _ = commands.send(Command::Shutdown { code, hint }).await;
        if tokio::time::timeout(SHUTDOWN_GRACE, alive.recv())
            .await
            .is_err()
        {
            tracing::warn!("connections still closing after the grace period; dropped");
        }
        let _ = commands.send(Command::Stop).await;
        let _ = core.await;
        relay.abort();
    }
}
