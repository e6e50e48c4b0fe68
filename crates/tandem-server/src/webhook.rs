//! Backend hooks over HTTP: the server POSTs a JSON object with an `"event"` field to one
//! URL of the application's backend, in any language, for `connect`, `join`, `publish`,
//! `request` and `disconnect`, and acts on the answer (README, "Backend hooks over HTTP").
//!
//! Each call is signed (`X-Tandem-Timestamp`, `X-Tandem-Signature: sha256=<hex>` of
//! HMAC-SHA256 over `"<timestamp>.<body>"` with the shared secret), waits for one of
//! [`WebhookConfig::concurrency`] slots and has [`WebhookConfig::timeout`] in all (the wait
//! for a slot included). A backend that is down, too slow, or answers what is not an answer
//! (not JSON, the wrong shape, a 5xx) fails the call: a join or publish is then refused
//! (`forbidden` / `unavailable`) or, with [`WebhookConfig::fail_open`], allowed as sent; a
//! connect is always refused (`unavailable`: there is no user to let in) and a request
//! always fails with `unavailable`. Every path ends in a typed answer.
//!
//! One pooled hyper client over plain `http://` (keep-alive connections are reused);
//! `https://` hooks go through a local proxy for now.

use std::collections::BTreeMap;
use std::fmt;
use std::str::FromStr;
use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

use bytes::Bytes;
use core::time::Duration;
use hmac::{Hmac, Mac};
use http_body_util::{BodyExt, Full, Limited};
use hyper::header::{CONTENT_TYPE, HeaderValue, USER_AGENT};
use hyper::{Method, Request, StatusCode, Uri};
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;
use serde::{Deserialize, Serialize};
use serde_json::value::RawValue;
use sha2::Sha256;
use tandem_proto::{ConnId, ErrorBody, ErrorCode, Payload, PublishDecision, RoomGrants};
use tokio::sync::Semaphore;

use crate::error::AuthError;
use crate::hooks::{Hello, Hooks, JoinContext, PublishContext, RequestContext};
use crate::token::{Authenticated, Claims};

/// How long a hook call may take by default, the wait for a free slot included.
pub const DEFAULT_HOOK_TIMEOUT: Duration = Duration::from_secs(2);
/// How many hook calls may be in flight at once by default.
pub const DEFAULT_HOOK_CONCURRENCY: usize = 64;
/// The upgrade request's headers a `connect` call carries by default (more with
/// [`WebhookConfig::forward_header`]).
pub const FORWARDED_HEADERS: [&str; 6] = [
    "cookie",
    "authorization",
    "origin",
    "user-agent",
    "x-forwarded-for",
    "x-real-ip",
];
/// The largest answer read from the backend.
const MAX_ANSWER_BYTES: usize = 1 << 20;
/// The `exp` given to a connect hook's claims when its answer has no `expires_in`: far
/// enough to never matter, near enough for any clock arithmetic.
const NO_EXPIRY: Duration = Duration::from_secs(10 * 365 * 24 * 3600);
/// How long an idle pooled connection to the backend is kept.
const POOL_IDLE: Duration = Duration::from_secs(30);

/// An event the backend can be told of, each one `"event"` value of the JSON posted.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum HookEvent {
    /// A client said hello: the backend decides who it is (or refuses it).
    Connect,
    /// A user joins a room (or reads its history): allow or refuse.
    Join,
    /// A user publishes (numbered or ephemeral): allow, refuse or rewrite the payload.
    Publish,
    /// A client's request: the backend answers it.
    Request,
    /// A welcomed connection is gone (notice only; the answer is ignored).
    Disconnect,
}

impl HookEvent {
    /// Every event, in the order above.
    pub const ALL: [HookEvent; 5] = [
        HookEvent::Connect,
        HookEvent::Join,
        HookEvent::Publish,
        HookEvent::Request,
        HookEvent::Disconnect,
    ];

    /// The event's name on the wire (`"connect"`...).
    pub fn name(self) -> &'static str {
        match self {
            HookEvent::Connect => "connect",
            HookEvent::Join => "join",
            HookEvent::Publish => "publish",
            HookEvent::Request => "request",
            HookEvent::Disconnect => "disconnect",
        }
    }

    fn bit(self) -> u8 {
        1 << (self as u8)
    }
}

impl fmt::Display for HookEvent {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for HookEvent {
    type Err = WebhookError;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        HookEvent::ALL
            .into_iter()
            .find(|e| e.name().eq_ignore_ascii_case(text.trim()))
            .ok_or_else(|| WebhookError::UnknownEvent(text.to_owned()))
    }
}

/// Why a [`WebhookConfig`] cannot be made.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum WebhookError {
    /// The URL is not an `http://host[:port]/path` URL.
    #[error("hook URL {url:?}: {reason}")]
    Url {
        /// The URL given.
        url: String,
        /// What is wrong with it.
        reason: String,
    },
    /// Not one of `connect`, `join`, `publish`, `request`, `disconnect`.
    #[error("unknown hook event {0:?}: use connect, join, publish, request or disconnect")]
    UnknownEvent(String),
}

/// Where and how the server asks the application's backend over HTTP (see the module
/// docs, and [`crate::ServerBuilder::webhook`]).
///
/// ```
/// use std::time::Duration;
/// use tandem_server::{HookEvent, WebhookConfig};
///
/// let hooks = WebhookConfig::new("http://127.0.0.1:9000/tandem")?
///     .secret("a long random secret")
///     .timeout(Duration::from_millis(500))
///     .events([HookEvent::Join, HookEvent::Publish]);
/// # Ok::<(), tandem_server::WebhookError>(())
/// ```
#[derive(Clone)]
pub struct WebhookConfig {
    url: Uri,
    secret: Option<Arc<[u8]>>,
    timeout: Duration,
    concurrency: usize,
    fail_open: bool,
    events: u8,
    headers: Vec<String>,
}

impl fmt::Debug for WebhookConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let events: Vec<_> = self.events_sent().map(HookEvent::name).collect();
        f.debug_struct("WebhookConfig")
            .field("url", &self.url.to_string())
            .field("signed", &self.secret.is_some())
            .field("timeout", &self.timeout)
            .field("concurrency", &self.concurrency)
            .field("fail_open", &self.fail_open)
            .field("events", &events)
            .field("headers", &self.headers)
            .finish()
    }
}

impl WebhookConfig {
    /// Hooks posted to `url` (`http://host[:port]/path`), for every event, unsigned, with
    /// [`DEFAULT_HOOK_TIMEOUT`], [`DEFAULT_HOOK_CONCURRENCY`], failing closed, forwarding
    /// [`FORWARDED_HEADERS`]. `https://` is refused: put a local TLS proxy in between.
    pub fn new(url: &str) -> Result<Self, WebhookError> {
        let bad = |reason: &str| WebhookError::Url {
            url: url.to_owned(),
            reason: reason.to_owned(),
        };
        let uri: Uri = url
            .parse()
            .map_err(|e: hyper::http::uri::InvalidUri| bad(&e.to_string()))?;
        match uri.scheme_str() {
            Some("http") => {}
            Some("https") => {
                return Err(bad(
                    "https hooks are not supported yet; reach the backend over http (a local \
                     TLS proxy can carry it further)",
                ));
            }
            _ => return Err(bad("use an http:// URL")),
        }
        if uri.host().is_none_or(str::is_empty) {
            return Err(bad("the URL names no host"));
        }
        Ok(WebhookConfig {
            url: uri,
            secret: None,
            timeout: DEFAULT_HOOK_TIMEOUT,
            concurrency: DEFAULT_HOOK_CONCURRENCY,
            fail_open: false,
            events: HookEvent::ALL.iter().fold(0, |acc, e| acc | e.bit()),
            headers: FORWARDED_HEADERS.iter().map(|h| (*h).to_owned()).collect(),
        })
    }

    /// Signs every call with this shared secret (HMAC-SHA256; see the module docs). The
    /// backend should refuse unsigned calls and calls whose timestamp is far from its clock.
    pub fn secret(mut self, secret: impl AsRef<[u8]>) -> Self {
        self.secret = Some(Arc::from(secret.as_ref()));
        self
    }

    /// How long a call may take in all, the wait for a free slot included. Default 2 s.
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    /// How many calls may be in flight at once (at least 1); more wait for a slot, within
    /// their timeout. Default 64.
    pub fn concurrency(mut self, calls: usize) -> Self {
        self.concurrency = calls.max(1);
        self
    }

    /// When a call fails (backend down, too slow, a garbage answer): `false` (the default)
    /// refuses the join or publish; `true` allows it unchanged. A connect always fails
    /// closed and a request always fails with `unavailable`.
    pub fn fail_open(mut self, open: bool) -> Self {
        self.fail_open = open;
        self
    }

    /// The events the backend is asked about (default: all). The others keep the server's
    /// own policy: without `connect`, the token flags or [`crate::ServerBuilder::jwt`]
    /// decide hellos.
    pub fn events(mut self, events: impl IntoIterator<Item = HookEvent>) -> Self {
        self.events = events.into_iter().fold(0, |acc, e| acc | e.bit());
        self
    }

    /// Forwards the upgrade request's `name` header in `connect` too (besides
    /// [`FORWARDED_HEADERS`]).
    pub fn forward_header(mut self, name: &str) -> Self {
        let name = name.trim().to_ascii_lowercase();
        if !name.is_empty() && !self.headers.contains(&name) {
            self.headers.push(name);
        }
        self
    }

    /// Whether the backend is asked about `event`.
    pub fn sends(&self, event: HookEvent) -> bool {
        self.events & event.bit() != 0
    }

    /// The events the backend is asked about.
    pub fn events_sent(&self) -> impl Iterator<Item = HookEvent> + '_ {
        HookEvent::ALL.into_iter().filter(|e| self.sends(*e))
    }

    /// The URL posted to.
    pub fn url(&self) -> String {
        self.url.to_string()
    }
}

/// The signature header's value for `body` sent at `timestamp` (Unix seconds):
/// `sha256=` and the lowercase hex of HMAC-SHA256(`secret`, `"<timestamp>.<body>"`).
pub fn signature(secret: &[u8], timestamp: u64, body: &[u8]) -> String {
    use std::fmt::Write;
    // HMAC takes a key of any length; the error cannot happen.
    let Ok(mut mac) = Hmac::<Sha256>::new_from_slice(secret) else {
        return String::new();
    };
    mac.update(timestamp.to_string().as_bytes());
    mac.update(b".");
    mac.update(body);
    let mut out = String::with_capacity(7 + 64);
    out.push_str("sha256=");
    for b in mac.finalize().into_bytes() {
        let _ = write!(out, "{b:02x}");
    }
    out
}

/// Installs the backend's hooks for the events `config` sends, replacing the ones set
/// before (see [`crate::ServerBuilder::webhook`]).
pub(crate) fn install(config: WebhookConfig, hooks: &mut Hooks) {
    let hook = Arc::new(Webhook::new(config));
    let c = &hook.config;
    if c.sends(HookEvent::Connect) {
        let h = hook.clone();
        hooks.connect = Some(Arc::new(move |hello| {
            let h = h.clone();
            Box::pin(async move { h.connect(hello).await })
        }));
        // A fresh token sent in band: asked the same way, without the upgrade.
        let h = hook.clone();
        hooks.auth = Some(Arc::new(move |token| {
            let h = h.clone();
            let hello = Hello {
                conn: None,
                token,
                upgrade: None,
            };
            Box::pin(async move { h.connect(hello).await })
        }));
        hooks.forward_headers = Some(c.headers.iter().cloned().collect());
    }
    if c.sends(HookEvent::Join) {
        let h = hook.clone();
        hooks.join = Some(Arc::new(move |ctx| {
            let h = h.clone();
            Box::pin(async move { h.join(ctx).await })
        }));
    }
    if c.sends(HookEvent::Publish) {
        let h = hook.clone();
        hooks.publish = Some(Arc::new(move |ctx| {
            let h = h.clone();
            Box::pin(async move { h.publish(ctx).await })
        }));
    }
    if c.sends(HookEvent::Request) {
        let h = hook.clone();
        hooks.request = Some(Arc::new(move |ctx, data| {
            let h = h.clone();
            Box::pin(async move { h.request(ctx, data).await })
        }));
    }
    if c.sends(HookEvent::Disconnect) {
        let h = hook.clone();
        hooks.disconnect = Some(Arc::new(move |conn, user, code| {
            let h = h.clone();
            Box::pin(async move { h.disconnect(conn, user, code).await })
        }));
    }
}

/// Why a call gave no answer. The client is told [`Failure::public`]; the log gets the
/// detail.
#[derive(Debug)]
enum Failure {
    Timeout(Duration),
    Unreachable(String),
    Status(StatusCode),
    Garbage(String),
}

impl Failure {
    /// What a client may be told (no addresses, no backend internals).
    fn public(&self) -> String {
        match self {
            Failure::Timeout(t) => format!("the backend did not answer within {t:?}"),
            Failure::Unreachable(_) => "the backend is unreachable".to_owned(),
            Failure::Status(s) => format!("the backend failed (HTTP {})", s.as_u16()),
            Failure::Garbage(_) => "the backend's answer was not understood".to_owned(),
        }
    }
}

impl fmt::Display for Failure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Failure::Timeout(t) => write!(f, "no answer within {t:?}"),
            Failure::Unreachable(why) => write!(f, "unreachable: {why}"),
            Failure::Status(s) => write!(f, "answered HTTP {s}"),
            Failure::Garbage(why) => write!(f, "answered garbage: {why}"),
        }
    }
}

/// The backend said no (an `error` field, or a 4xx with a JSON object).
#[derive(Debug)]
struct Refusal {
    /// The `error` code, when it is one of tandem's.
    code: Option<ErrorCode>,
    message: String,
}

/// A call's outcome: the answer's body (a JSON object without `error`), or a refusal.
enum Answer {
    Given(Bytes),
    Refused(Refusal),
}

/// A JSON object, each member kept as its text.
type Fields = BTreeMap<String, Box<RawValue>>;

#[derive(Serialize)]
struct ConnectCall<'a> {
    event: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    conn: Option<ConnId>,
    token: Option<&'a str>,
    headers: BTreeMap<&'a str, &'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    remote: Option<String>,
}

#[derive(Serialize)]
struct JoinCall<'a> {
    event: &'static str,
    conn: ConnId,
    user: &'a str,
    room: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    claims: Option<&'a Claims>,
}

#[derive(Serialize)]
struct PublishCall<'a> {
    event: &'static str,
    conn: ConnId,
    user: &'a str,
    room: &'a str,
    data: &'a Payload,
    ephemeral: bool,
}

#[derive(Serialize)]
struct RequestCall<'a> {
    event: &'static str,
    conn: ConnId,
    user: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    room: Option<&'a str>,
    data: &'a Payload,
    #[serde(skip_serializing_if = "Option::is_none")]
    claims: Option<&'a Claims>,
}

#[derive(Serialize)]
struct DisconnectCall<'a> {
    event: &'static str,
    conn: ConnId,
    user: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    code: Option<u16>,
}

#[derive(Deserialize)]
struct ConnectAnswer {
    user: String,
    #[serde(default)]
    rooms: Option<RoomGrants>,
    #[serde(default)]
    info: Option<serde_json::Value>,
    #[serde(default)]
    expires_in: Option<u64>,
}

#[derive(Deserialize)]
struct Verdict {
    allow: bool,
    #[serde(default)]
    message: Option<String>,
    /// A publish's rewritten payload.
    #[serde(default)]
    data: Option<Payload>,
}

#[derive(Deserialize)]
struct Reply {
    reply: Payload,
}

/// The backend, its pooled client and its slots.
pub(crate) struct Webhook {
    config: WebhookConfig,
    client: Client<HttpConnector, Full<Bytes>>,
    slots: Semaphore,
}

impl Webhook {
    fn new(config: WebhookConfig) -> Self {
        let mut connector = HttpConnector::new();
        connector.set_nodelay(true);
        connector.set_connect_timeout(Some(config.timeout));
        let client = Client::builder(TokioExecutor::new())
            .pool_idle_timeout(POOL_IDLE)
            .pool_max_idle_per_host(config.concurrency)
            .build(connector);
        let slots = Semaphore::new(config.concurrency);
        Webhook {
            config,
            client,
            slots,
        }
    }

    /// Posts `body`, within the timeout: an answer or a refusal, or why there is neither.
    async fn call(&self, event: HookEvent, body: Vec<u8>) -> Result<Answer, Failure> {
        let timeout = self.config.timeout;
        let exchange = async {
            let _slot = self
                .slots
                .acquire()
                .await
                .map_err(|_| Failure::Unreachable("hook slots closed".to_owned()))?;
            let request = self.post(event, body)?;
            let response = self
                .client
                .request(request)
                .await
                .map_err(|e| Failure::Unreachable(chain(&e)))?;
            let status = response.status();
            let body = Limited::new(response.into_body(), MAX_ANSWER_BYTES)
                .collect()
                .await
                .map_err(|e| Failure::Garbage(format!("reading the answer: {e}")))?
                .to_bytes();
            Ok::<_, Failure>((status, body))
        };
        let (status, body) = tokio::time::timeout(timeout, exchange)
            .await
            .map_err(|_| Failure::Timeout(timeout))??;
        classify(status, body)
    }

    fn post(&self, event: HookEvent, body: Vec<u8>) -> Result<Request<Full<Bytes>>, Failure> {
        let mut request = Request::builder()
            .method(Method::POST)
            .uri(self.config.url.clone())
            .header(CONTENT_TYPE, HeaderValue::from_static("application/json"))
            .header(USER_AGENT, HeaderValue::from_static("tandem"))
            .header("x-tandem-event", HeaderValue::from_static(event.name()));
        if let Some(secret) = &self.config.secret {
            let now = SystemTime::now()
                .duration_since(UNIX_EPOCH)
                .map_or(0, |d| d.as_secs());
            request = request
                .header("x-tandem-timestamp", now)
                .header("x-tandem-signature", signature(secret, now, &body));
        }
        request
            .body(Full::new(Bytes::from(body)))
            .map_err(|e| Failure::Unreachable(format!("building the request: {e}")))
    }

    /// Calls with `body`, logging a failure.
    async fn ask(&self, event: HookEvent, body: &impl Serialize) -> Result<Answer, Failure> {
        let body = serde_json::to_vec(body)
            .map_err(|e| Failure::Garbage(format!("encoding the call: {e}")))?;
        let outcome = self.call(event, body).await;
        if let Err(e) = &outcome {
            tracing::warn!(event = event.name(), error = %e, "backend hook failed");
        }
        outcome
    }

    async fn connect(&self, hello: Hello) -> Result<Authenticated, AuthError> {
        let upgrade = hello.upgrade.as_deref();
        let call = ConnectCall {
            event: "connect",
            conn: hello.conn,
            token: hello.token.as_deref(),
            headers: upgrade
                .map(|u| {
                    u.headers
                        .iter()
                        .map(|(n, v)| (n.as_str(), v.as_str()))
                        .collect()
                })
                .unwrap_or_default(),
            remote: upgrade.and_then(|u| u.remote).map(|a| a.to_string()),
        };
        let answer = match self.ask(HookEvent::Connect, &call).await {
            Ok(Answer::Given(body)) => body,
            Ok(Answer::Refused(r)) => {
                return Err(match r.code {
                    Some(ErrorCode::TokenExpired) => AuthError::Expired,
                    _ => AuthError::Refused(r.message),
                });
            }
            // Nobody to let in: a connect always fails closed.
            Err(e) => return Err(AuthError::Unavailable(e.public())),
        };
        let accept = match serde_json::from_slice::<ConnectAnswer>(&answer) {
            Ok(a) if !a.user.is_empty() => a,
            Ok(_) => return Err(garbage(HookEvent::Connect, "an empty `user`")),
            Err(e) => return Err(garbage(HookEvent::Connect, &e.to_string())),
        };
        if accept.rooms.is_none() && accept.info.is_none() && accept.expires_in.is_none() {
            return Ok(Authenticated::user(accept.user));
        }
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_secs());
        let ttl = accept.expires_in.unwrap_or(NO_EXPIRY.as_secs());
        let mut claims = Claims::new(accept.user, now.saturating_add(ttl));
        claims.iat = Some(now);
        claims.rooms = accept.rooms;
        claims.info = accept.info;
        Ok(Authenticated::from(claims))
    }

    async fn join(&self, ctx: JoinContext) -> Result<(), String> {
        let call = JoinCall {
            event: "join",
            conn: ctx.conn,
            user: &ctx.user,
            room: &ctx.room,
            claims: ctx.claims.as_deref(),
        };
        let failed = |e: Failure| {
            if self.config.fail_open {
                Ok(())
            } else {
                Err(format!("backend hook unavailable: {}", e.public()))
            }
        };
        match self.ask(HookEvent::Join, &call).await {
            Ok(Answer::Given(body)) => match serde_json::from_slice::<Verdict>(&body) {
                Ok(v) if v.allow => Ok(()),
                Ok(v) => Err(v
                    .message
                    .unwrap_or_else(|| format!("the backend refuses room {:?}", ctx.room))),
                Err(e) => {
                    let e = Failure::Garbage(e.to_string());
                    tracing::warn!(event = "join", error = %e, "backend hook failed");
                    failed(e)
                }
            },
            Ok(Answer::Refused(r)) => Err(r.message),
            Err(e) => failed(e),
        }
    }

    async fn publish(&self, ctx: PublishContext) -> PublishDecision {
        let call = PublishCall {
            event: "publish",
            conn: ctx.conn,
            user: &ctx.user,
            room: &ctx.room,
            data: &ctx.data,
            ephemeral: ctx.ephemeral,
        };
        let failed = |e: Failure| {
            if self.config.fail_open {
                PublishDecision::Allow
            } else {
                PublishDecision::Deny(ErrorBody {
                    code: ErrorCode::Unavailable,
                    message: format!("backend hook unavailable: {}", e.public()),
                })
            }
        };
        let forbidden = |message: Option<String>| {
            PublishDecision::Deny(ErrorBody {
                code: ErrorCode::Forbidden,
                message: message.unwrap_or_else(|| {
                    format!("the backend refuses this message in room {:?}", ctx.room)
                }),
            })
        };
        match self.ask(HookEvent::Publish, &call).await {
            Ok(Answer::Given(body)) => match serde_json::from_slice::<Verdict>(&body) {
                Ok(Verdict {
                    allow: true,
                    data: Some(data),
                    ..
                }) => PublishDecision::Rewrite(data),
                Ok(Verdict { allow: true, .. }) => PublishDecision::Allow,
                Ok(v) => forbidden(v.message),
                Err(e) => {
                    let e = Failure::Garbage(e.to_string());
                    tracing::warn!(event = "publish", error = %e, "backend hook failed");
                    failed(e)
                }
            },
            Ok(Answer::Refused(r)) => forbidden(Some(r.message)),
            Err(e) => failed(e),
        }
    }

    async fn request(&self, ctx: RequestContext, data: Payload) -> Result<Payload, ErrorBody> {
        let call = RequestCall {
            event: "request",
            conn: ctx.conn,
            user: &ctx.user,
            room: ctx.room.as_deref(),
            data: &data,
            claims: ctx.claims.as_deref(),
        };
        let unavailable = |e: Failure| ErrorBody {
            code: ErrorCode::Unavailable,
            message: format!("backend hook unavailable: {}", e.public()),
        };
        match self.ask(HookEvent::Request, &call).await {
            Ok(Answer::Given(body)) => match serde_json::from_slice::<Reply>(&body) {
                Ok(reply) => Ok(reply.reply),
                Err(e) => {
                    let e = Failure::Garbage(e.to_string());
                    tracing::warn!(event = "request", error = %e, "backend hook failed");
                    Err(unavailable(e))
                }
            },
            Ok(Answer::Refused(r)) => Err(ErrorBody {
                code: r.code.unwrap_or(ErrorCode::Rejected),
                message: r.message,
            }),
            Err(e) => Err(unavailable(e)),
        }
    }

    async fn disconnect(&self, conn: ConnId, user: String, code: Option<u16>) {
        let call = DisconnectCall {
            event: "disconnect",
            conn,
            user: &user,
            code,
        };
        // A notice: the answer does not matter, a failure is logged by `ask`.
        let _ = self.ask(HookEvent::Disconnect, &call).await;
    }
}

/// A connect answer that is not one, logged; the client gets `unavailable`.
fn garbage(event: HookEvent, why: &str) -> AuthError {
    let e = Failure::Garbage(why.to_owned());
    tracing::warn!(event = event.name(), error = %e, "backend hook failed");
    AuthError::Unavailable(e.public())
}

/// Sorts an HTTP answer: a 2xx or 4xx JSON object is an answer or (with `error`, or any
/// 4xx) a refusal; anything else is a failure.
fn classify(status: StatusCode, body: Bytes) -> Result<Answer, Failure> {
    if !status.is_success() && !status.is_client_error() {
        return Err(Failure::Status(status));
    }
    let fields: Fields = serde_json::from_slice(&body).map_err(|e| {
        let what = if status.is_success() {
            ""
        } else {
            " (with HTTP error)"
        };
        Failure::Garbage(format!("not a JSON object{what}: {e}"))
    })?;
    if let Some(error) = fields.get("error") {
        return Ok(Answer::Refused(refusal(
            error,
            fields.get("message").map(|m| &**m),
        )));
    }
    if status.is_client_error() {
        let message = fields
            .get("message")
            .and_then(|m| serde_json::from_str::<String>(m.get()).ok())
            .unwrap_or_else(|| format!("refused by the backend (HTTP {})", status.as_u16()));
        return Ok(Answer::Refused(Refusal {
            code: None,
            message,
        }));
    }
    Ok(Answer::Given(body))
}

/// A refusal from `error` (a code, or `{"code", "message"}`) and `message`.
fn refusal(error: &RawValue, message: Option<&RawValue>) -> Refusal {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum ErrorField {
        Code(String),
        Body {
            #[serde(default)]
            code: Option<String>,
            #[serde(default)]
            message: Option<String>,
        },
    }
    let text = |raw: &RawValue| serde_json::from_str::<String>(raw.get()).ok();
    let (code, inner) = match serde_json::from_str::<ErrorField>(error.get()) {
        Ok(ErrorField::Code(code)) => (Some(code), None),
        Ok(ErrorField::Body { code, message }) => (code, message),
        Err(_) => (None, None),
    };
    let known = code
        .as_deref()
        .and_then(|c| serde_json::from_value::<ErrorCode>(serde_json::Value::from(c)).ok())
        .filter(|c| *c != ErrorCode::Unknown);
    let message = inner
        .or_else(|| message.and_then(text))
        .or(code)
        .unwrap_or_else(|| "refused by the backend".to_owned());
    Refusal {
        code: known,
        message,
    }
}

/// An error with its sources, for the log.
fn chain(e: &dyn std::error::Error) -> String {
    let mut text = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        text.push_str(": ");
        text.push_str(&s.to_string());
        source = s.source();
    }
    text
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn the_signature_is_hmac_sha256_of_timestamp_dot_body_in_hex() {
        // python3 -c 'import hmac, hashlib; print(hmac.new(b"hook-secret",
        //   b"1700000000.{\"event\":\"join\"}", hashlib.sha256).hexdigest())'
        let sig = signature(b"hook-secret", 1_700_000_000, br#"{"event":"join"}"#);
        assert_eq!(
            sig,
            "sha256=8668d9a69953762e8f223c0964ceed7e0743d455259ee70d2882448d82817c05"
        );
        // Any change to the timestamp, the body or the secret changes it.
        assert_ne!(
            sig,
            signature(b"hook-secret", 1_700_000_001, br#"{"event":"join"}"#)
        );
        assert_ne!(
            sig,
            signature(b"hook-secret", 1_700_000_000, br#"{"event":"jOin"}"#)
        );
        assert_ne!(
            sig,
            signature(b"another", 1_700_000_000, br#"{"event":"join"}"#)
        );
    }

    #[test]
    fn urls_must_be_http_with_a_host() {
        assert!(WebhookConfig::new("http://127.0.0.1:9000/hook").is_ok());
        assert!(WebhookConfig::new("http://backend/").is_ok());
        for bad in ["https://backend/hook", "ftp://x/", "/hook", "not a url", ""] {
            assert!(WebhookConfig::new(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn events_parse_and_select() {
        let c = WebhookConfig::new("http://h/")
            .unwrap()
            .events(["join".parse().unwrap(), "Publish".parse().unwrap()]);
        assert!(c.sends(HookEvent::Join) && c.sends(HookEvent::Publish));
        assert!(!c.sends(HookEvent::Connect) && !c.sends(HookEvent::Disconnect));
        assert!("leave".parse::<HookEvent>().is_err());
        let all = WebhookConfig::new("http://h/").unwrap();
        assert_eq!(all.events_sent().count(), 5);
    }

    fn sorted(status: u16, body: &str) -> Result<Answer, Failure> {
        classify(
            StatusCode::from_u16(status).unwrap(),
            Bytes::from(body.to_owned()),
        )
    }

    #[test]
    fn answers_refusals_and_failures_are_told_apart() {
        assert!(matches!(
            sorted(200, r#"{"allow":true}"#),
            Ok(Answer::Given(_))
        ));
        let Ok(Answer::Refused(r)) = sorted(401, r#"{"error":"unauthorized","message":"who?"}"#)
        else {
            panic!("a 401 with an error is a refusal");
        };
        assert_eq!(
            (r.code, r.message.as_str()),
            (Some(ErrorCode::Unauthorized), "who?")
        );
        let Ok(Answer::Refused(r)) =
            sorted(200, r#"{"error":{"code":"not_a_code","message":"no"}}"#)
        else {
            panic!("an error field is a refusal");
        };
        assert_eq!((r.code, r.message.as_str()), (None, "no"));
        let Ok(Answer::Refused(r)) = sorted(200, r#"{"error":"token_expired"}"#) else {
            panic!("an error code alone is a refusal");
        };
        assert_eq!(r.code, Some(ErrorCode::TokenExpired));
        assert!(matches!(sorted(403, "{}"), Ok(Answer::Refused(_))));
        assert!(matches!(sorted(200, "not json"), Err(Failure::Garbage(_))));
        assert!(matches!(sorted(200, "[1]"), Err(Failure::Garbage(_))));
        assert!(matches!(sorted(404, "<html>"), Err(Failure::Garbage(_))));
        assert!(matches!(sorted(500, "{}"), Err(Failure::Status(_))));
        assert!(matches!(sorted(302, "{}"), Err(Failure::Status(_))));
    }
}
