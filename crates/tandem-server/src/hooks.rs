//! The application's hooks: who a token belongs to, who may join a room or publish, what
//! answers a client's request, and who left. Each runs in its own task, so a slow hook
//! never stalls the server.

use std::sync::Arc;

use tandem_proto::{ConnId, ErrorBody, Payload, PublishDecision};

use crate::error::AuthError;
use crate::future::BoxFuture;
use crate::handle::Handle;
use crate::token::{Authenticated, Claims};
pub(crate) use crate::upgrade::Upgrade;

/// A join waiting for the application's decision.
#[derive(Debug, Clone)]
pub struct JoinContext {
    /// The connection asking.
    pub conn: ConnId,
    /// The authenticated user.
    pub user: String,
    /// The room.
    pub room: String,
    /// The claims of the connection's token, when it had any (see [`Authenticated`]).
    pub claims: Option<Arc<Claims>>,
}

/// A client request waiting for the application's answer.
#[derive(Clone)]
pub struct RequestContext {
    /// The connection asking.
    pub conn: ConnId,
    /// The authenticated user.
    pub user: String,
    /// The room the request is about, if any.
    pub room: Option<String>,
    /// The claims of the connection's token, when it had any (see [`Authenticated`]).
    pub claims: Option<Arc<Claims>>,
    /// The server, to broadcast or ask the client something back.
    pub server: Handle,
}

/// A hello for the connect hook of a backend over HTTP (`crate::webhook`): its token, and
/// the upgrade request's selected headers when the connection task kept them.
pub(crate) struct Hello {
    /// The connection (`None` for a fresh token sent in band, which has no upgrade).
    pub conn: Option<ConnId>,
    pub token: Option<String>,
    pub upgrade: Option<Box<Upgrade>>,
}

/// A publish waiting for the application's decision.
pub(crate) struct PublishContext {
    pub conn: ConnId,
    pub user: String,
    pub room: String,
    pub data: Payload,
    pub ephemeral: bool,
}

pub(crate) type AuthHook =
    Arc<dyn Fn(Option<String>) -> BoxFuture<Result<Authenticated, AuthError>> + Send + Sync>;
pub(crate) type ConnectHook =
    Arc<dyn Fn(Hello) -> BoxFuture<Result<Authenticated, AuthError>> + Send + Sync>;
pub(crate) type JoinHook = Arc<dyn Fn(JoinContext) -> BoxFuture<Result<(), String>> + Send + Sync>;
pub(crate) type RequestHook =
    Arc<dyn Fn(RequestContext, Payload) -> BoxFuture<Result<Payload, ErrorBody>> + Send + Sync>;
pub(crate) type PublishHook =
    Arc<dyn Fn(PublishContext) -> BoxFuture<PublishDecision> + Send + Sync>;
/// Told of a welcomed connection that is gone: its id, user and close code when known.
pub(crate) type DisconnectHook =
    Arc<dyn Fn(ConnId, String, Option<u16>) -> BoxFuture<()> + Send + Sync>;

/// The hooks a server was built with; `None` means the default policy.
#[derive(Clone, Default)]
pub(crate) struct Hooks {
    pub auth: Option<AuthHook>,
    /// Decides a hello instead of `auth`, seeing the upgrade's headers (a backend over
    /// HTTP); `auth` still decides fresh tokens sent in band.
    pub connect: Option<ConnectHook>,
    /// The upgrade headers `connect` wants (lowercase names): the connection tasks keep
    /// these, and nothing when `None`.
    pub forward_headers: Option<Arc<[String]>>,
    pub join: Option<JoinHook>,
    pub request: Option<RequestHook>,
    pub publish: Option<PublishHook>,
    pub disconnect: Option<DisconnectHook>,
}
