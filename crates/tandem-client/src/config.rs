//! How a client connects: the protocol settings plus the driver's own.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

use core::time::Duration;
use tandem_proto::{AppSchema, Backoff, ClientConfig, HeartbeatConfig, QueueLimits, TokenError};

/// `Send` natively, nothing in the browser (where JavaScript values never cross threads).
#[cfg(not(target_arch = "wasm32"))]
pub trait MaybeSend: Send {}
#[cfg(not(target_arch = "wasm32"))]
impl<T: Send + ?Sized> MaybeSend for T {}
/// `Send` natively, nothing in the browser (where JavaScript values never cross threads).
#[cfg(target_arch = "wasm32")]
pub trait MaybeSend {}
#[cfg(target_arch = "wasm32")]
impl<T: ?Sized> MaybeSend for T {}

/// `Sync` natively, nothing in the browser.
#[cfg(not(target_arch = "wasm32"))]
pub trait MaybeSync: Sync {}
#[cfg(not(target_arch = "wasm32"))]
impl<T: Sync + ?Sized> MaybeSync for T {}
/// `Sync` natively, nothing in the browser.
#[cfg(target_arch = "wasm32")]
pub trait MaybeSync {}
#[cfg(target_arch = "wasm32")]
impl<T: ?Sized> MaybeSync for T {}

/// A boxed future of a fresh token.
#[cfg(not(target_arch = "wasm32"))]
pub type TokenFuture = Pin<Box<dyn Future<Output = Result<String, TokenError>> + Send + 'static>>;
/// A boxed future of a fresh token.
#[cfg(target_arch = "wasm32")]
pub type TokenFuture = Pin<Box<dyn Future<Output = Result<String, TokenError>> + 'static>>;

/// Where the browser client's token goes once fetched: called once, with the token or
/// the reason there is none.
#[cfg(target_arch = "wasm32")]
pub type TokenReply = Box<dyn FnOnce(Result<String, TokenError>)>;

#[cfg(not(target_arch = "wasm32"))]
pub(crate) type TokenProvider = Arc<dyn Fn() -> TokenFuture + Send + Sync>;
/// In the browser a provider is given where the token goes: a callback needs no future
/// executor in the npm package, and an async provider is run as a local task.
#[cfg(target_arch = "wasm32")]
pub(crate) type TokenProvider = Arc<dyn Fn(TokenReply)>;

/// Everything a [`crate::Client`] is configured with. `Config::default()` connects without
/// a token, speaks application schema `"default"` v1 and reconnects forever with backoff.
#[derive(Clone, Default)]
#[must_use]
pub struct Config {
    pub(crate) protocol: ClientConfig,
    pub(crate) token_provider: Option<TokenProvider>,
    pub(crate) seed: Option<u64>,
    pub(crate) fallback_urls: Vec<String>,
    /// HTTP headers of the WebSocket handshake (native only: a browser sends its own).
    pub(crate) headers: Vec<(String, String)>,
    /// Certificates trusted for `wss://` besides the system's roots (native only).
    #[cfg(not(target_arch = "wasm32"))]
    pub(crate) extra_roots: Vec<rustls::pki_types::CertificateDer<'static>>,
}

impl std::fmt::Debug for Config {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Config")
            .field("app", &self.protocol.app)
            .field("backoff", &self.protocol.backoff)
            .field("token_provider", &self.token_provider.is_some())
            .finish_non_exhaustive()
    }
}

impl Config {
    /// The defaults.
    pub fn new() -> Self {
        Config::default()
    }

    /// More server URLs (nodes of one cluster): after a failure or close the client moves
    /// to the next URL in turn and resumes its session there. Default none.
    pub fn fallback_urls<S: Into<String>>(mut self, urls: impl IntoIterator<Item = S>) -> Self {
        self.fallback_urls = urls.into_iter().map(Into::into).collect();
        self
    }

    /// An HTTP header sent with every WebSocket handshake: a session cookie for a server
    /// mounted in the host's app (`Cookie`), an `Authorization` its auth layer checks.
    /// Native only: in a browser the page's own cookies go with the upgrade.
    pub fn header(mut self, name: impl Into<String>, value: impl Into<String>) -> Self {
        self.headers.push((name.into(), value.into()));
        self
    }

    /// Trusts the certificates in `pem` for `wss://`, besides the system's root
    /// certificates: a private CA's certificate, or a self-signed server's own. `pem` holds
    /// one or more `-----BEGIN CERTIFICATE-----` blocks; call again to add more. Fails with
    /// [`crate::Error::Tls`] when it holds no certificate or one does not parse.
    ///
    /// A server certificate the client does not trust (or one expired, or for another
    /// name) closes the client for good with [`tandem_proto::CloseReason::Tls`] and the
    /// verifier's reason: no retry could fix it. Native only: in the browser, the
    /// browser's own trust store decides.
    #[cfg(not(target_arch = "wasm32"))]
    pub fn extra_root_pem(mut self, pem: impl AsRef<[u8]>) -> Result<Self, crate::Error> {
        self.extra_roots
            .extend(crate::tls::parse_roots(pem.as_ref())?);
        Ok(self)
    }

    /// A fixed token sent in every hello.
    pub fn token(mut self, token: impl Into<String>) -> Self {
        self.protocol.token = Some(token.into());
        self
    }

    /// Calls `provider` for a fresh token before every connection attempt (the first one
    /// included), and when the server asks for one because the session's token expires
    /// soon: the session then goes on without a reconnect. Before a connection,
    /// `Err(TokenError::Unauthorized)` stops the client for good and
    /// `Err(TokenError::Unavailable)` retries with backoff; for an open session, an error
    /// (or the server refusing the token) is an [`crate::Event::Error`], and the session
    /// lasts until its token expires, then reconnects with a fresh one.
    pub fn token_provider<F, Fut>(mut self, provider: F) -> Self
    where
        F: Fn() -> Fut + MaybeSend + MaybeSync + 'static,
        Fut: Future<Output = Result<String, TokenError>> + MaybeSend + 'static,
    {
        self.protocol.refresh_token = true;
        #[cfg(not(target_arch = "wasm32"))]
        {
            self.token_provider = Some(Arc::new(move || Box::pin(provider())));
        }
        #[cfg(target_arch = "wasm32")]
        {
            self.token_provider = Some(Arc::new(move |reply: TokenReply| {
                let fetch = provider();
                wasm_bindgen_futures::spawn_local(async move { reply(fetch.await) });
            }));
        }
        self
    }

    /// Like [`Config::token_provider`], with a callback for the browser: `provider` is
    /// given where the token goes and may answer at once or later. (The npm package uses
    /// it, so it carries no future executor.)
    #[cfg(target_arch = "wasm32")]
    pub fn token_callback(mut self, provider: impl Fn(TokenReply) + 'static) -> Self {
        self.protocol.refresh_token = true;
        self.token_provider = Some(Arc::new(provider));
        self
    }

    /// The application schema offered in hello.
    pub fn app(mut self, app: AppSchema) -> Self {
        self.protocol.app = app;
        self
    }

    /// The reconnect schedule.
    pub fn backoff(mut self, backoff: Backoff) -> Self {
        self.protocol.backoff = backoff;
        self
    }

    /// Heartbeat timings used until the server announces its own.
    pub fn heartbeat(mut self, heartbeat: HeartbeatConfig) -> Self {
        self.protocol.heartbeat = heartbeat;
        self
    }

    /// Bounds of the offline queue.
    pub fn queue(mut self, queue: QueueLimits) -> Self {
        self.protocol.queue = queue;
        self
    }

    /// The WebSocket subprotocols to offer, in preference order (default: every version
    /// this client speaks, then the `tandem` marker).
    pub fn protocols(mut self, protocols: Vec<String>) -> Self {
        self.protocol.protocols = protocols;
        self
    }

    /// How long a request may wait for its answer. Default 10 s.
    pub fn request_timeout(mut self, timeout: Duration) -> Self {
        self.protocol.request_timeout = timeout;
        self
    }

    /// How long a publish may wait for its acknowledgement. Default 10 s.
    pub fn publish_timeout(mut self, timeout: Duration) -> Self {
        self.protocol.publish_timeout = timeout;
        self
    }

    /// Changes any other protocol setting.
    pub fn configure(mut self, f: impl FnOnce(&mut ClientConfig)) -> Self {
        f(&mut self.protocol);
        self
    }

    /// Seeds the reconnect jitter (tests; by default each client draws its own).
    pub fn seed(mut self, seed: u64) -> Self {
        self.seed = Some(seed);
        self
    }
}
