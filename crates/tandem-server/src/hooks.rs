//! The application's hooks: who a token belongs to, who may join a room, and what answers
//! a client's request. Each runs in its own task, so a slow hook never stalls the server.

use std::sync::Arc;

use tandem_proto::{ConnId, ErrorBody, Payload};

use crate::error::AuthError;
use crate::future::BoxFuture;
use crate::handle::Handle;
use crate::token::{Authenticated, Claims};

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

pub(crate) type AuthHook =
    Arc<dyn Fn(Option<String>) -> BoxFuture<Result<Authenticated, AuthError>> + Send + Sync>;
pub(crate) type JoinHook = Arc<dyn Fn(JoinContext) -> BoxFuture<Result<(), String>> + Send + Sync>;
pub(crate) type RequestHook =
    Arc<dyn Fn(RequestContext, Payload) -> BoxFuture<Result<Payload, ErrorBody>> + Send + Sync>;

/// The hooks a server was built with; `None` means the default policy.
#[derive(Clone, Default)]
pub(crate) struct Hooks {
    pub auth: Option<AuthHook>,
    pub join: Option<JoinHook>,
    pub request: Option<RequestHook>,
}
