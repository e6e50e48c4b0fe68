//! The tandem server on tokio: a thin driver of the protocol core in `tandem-proto`.
//!
//! It accepts TCP connections, reads the HTTP request head under a size limit and a
//! timeout, checks the `Origin`, negotiates the subprotocol, upgrades to a WebSocket with
//! small buffers, and feeds every frame to one core task that owns the protocol state
//! (rooms, presence, history, resume, limits). A broadcast is encoded once; every receiver
//! gets the same bytes. `GET /healthz` and `GET /metrics` (Prometheus; also
//! [`Handle::metrics`], [`Handle::serve_metrics`]) answer on the same port.
//!
//! ```no_run
//! use tandem_server::{JwtVerifier, Server};
//!
//! # async fn run() -> std::io::Result<()> {
//! let running = Server::builder()
//!     .jwt(JwtVerifier::hs256("a long random secret").audience("tandem"))
//!     .build()
//!     .bind("127.0.0.1:8080")
//!     .await?;
//! println!("listening on {}", running.local_addr());
//! tokio::signal::ctrl_c().await?;
//! running.shutdown(tandem_proto::close::SERVICE_RESTART).await;
//! # Ok(())
//! # }
//! ```

mod broker;
mod clock;
mod command;
mod connection;
mod core;
mod error;
mod files;
mod future;
mod handle;
mod hooks;
mod http;
mod jwks;
mod limits;
mod metrics;
#[cfg(feature = "axum")]
mod mount;
mod origin;
mod outbox;
mod scrape;
mod server;
mod shared;
mod spans;
mod tls;
mod token;
mod upgrade;
mod webhook;
mod writer;

pub use broker::{
    AdminMessage, Broker, BrokerError, BrokerMessage, ClusterBroker, MemoryBroker, Reach,
    SyncRequest,
};
pub use error::{AuthError, ServerError};
pub use future::BoxFuture;
pub use handle::Handle;
pub use hooks::{JoinContext, RequestContext};
/// The JWT signature algorithms (`HS256`, `RS256`, `ES256`, `EdDSA`...), from `jsonwebtoken`.
pub use jsonwebtoken::Algorithm as JwtAlgorithm;
pub use limits::Limits;
#[cfg(feature = "axum")]
pub use mount::{Identity, Mounted};
pub use origin::OriginPolicy;
pub use server::{LISTEN_BACKLOG, Running, Server, ServerBuilder};
pub use tls::{TlsConfig, TlsError};
pub use token::{
    Authenticated, Claims, DEFAULT_LEEWAY, JWKS_REFETCH_INTERVAL, JwtSigner, JwtVerifier,
    MAX_TOKEN_BYTES, TokenKeyError,
};
pub use webhook::{
    DEFAULT_HOOK_CONCURRENCY, DEFAULT_HOOK_TIMEOUT, FORWARDED_HEADERS, HookEvent, WebhookConfig,
    WebhookError, signature as webhook_signature,
};

pub use rustls;
pub use tandem_proto;
pub use tandem_proto::{
    Admission, HistoryLimits, PublishDecision, Right, Rights, RoomGrant, RoomGrants, RoomPattern,
    RoomPolicy,
};

/// Public wrappers for the fuzz targets in `fuzz/` (feature `fuzzing`, off by default).
#[cfg(feature = "fuzzing")]
#[doc(hidden)]
pub mod fuzzing;
