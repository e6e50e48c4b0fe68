//! What connection tasks, hooks, handles and the broker relay tell the core task.

use core::time::Duration;
use tandem_proto::{
    ConnId, ErrorBody, HistoryPage, Id, Member, Payload, PublishDecision, RoomState, Unreadable,
};
use tokio::sync::oneshot;
use tokio_tungstenite::tungstenite::Utf8Bytes;

use crate::broker::Reach;
use crate::broker::{AdminMessage, BrokerError, BrokerMessage};
use crate::error::AuthError;
use crate::metrics::Snapshot;
use crate::outbox::Outbox;
use crate::token::Authenticated;
use crate::upgrade::Upgrade;

/// What the core task is told.
pub(crate) enum Command {
    /// A WebSocket was accepted with this subprotocol.
    Connect {
        conn: ConnId,
        protocol: &'static str,
        outbox: Outbox,
        /// The user, when the host's HTTP server knows it (see `Identity`).
        identity: Option<String>,
        /// The connection's log span (`crate::spans`).
        span: tracing::Span,
    },
    /// Just before its `Connect`, only when a backend's connect hook wants them: the
    /// upgrade's headers (a command of its own, so `Connect`, which every connection task
    /// may hold, stays as small as without hooks).
    Upgrade { conn: ConnId, upgrade: Box<Upgrade> },
    /// A text frame arrived.
    Text { conn: ConnId, text: Utf8Bytes },
    /// A binary frame arrived.
    Binary { conn: ConnId },
    /// A message the socket layer could not read (not UTF-8, far too big).
    Unreadable { conn: ConnId, why: Unreadable },
    /// The socket closed (with the peer's close code, if any).
    Closed { conn: ConnId, code: Option<u16> },
    /// The authentication hook decided.
    Authenticated {
        conn: ConnId,
        result: Result<Authenticated, AuthError>,
    },
    /// The authentication hook decided on an open session's fresh token (`token`).
    Reauthenticated {
        conn: ConnId,
        id: Id,
        result: Result<Authenticated, AuthError>,
    },
    /// The join hook decided.
    JoinDecided {
        conn: ConnId,
        id: Id,
        result: Result<(), String>,
    },
    /// The publish hook decided.
    PublishDecided {
        conn: ConnId,
        id: Id,
        decision: PublishDecision,
    },
    /// The request hook answered.
    Respond {
        conn: ConnId,
        id: Id,
        result: Result<Payload, ErrorBody>,
    },
    /// The application asks a client something.
    Request {
        conn: ConnId,
        room: Option<String>,
        data: Payload,
        reply: oneshot::Sender<Result<Payload, ErrorBody>>,
    },
    /// The broker says something.
    Broker(BrokerMessage),
    /// The broker numbered (or refused) a member's publish.
    Published {
        conn: ConnId,
        id: Id,
        room: String,
        result: Result<u64, ErrorBody>,
    },
    /// The broker answered a cluster node's join.
    Synced {
        conn: ConnId,
        id: Id,
        result: Result<RoomState, ErrorBody>,
    },
    /// The broker delivers a room's messages here now (or could not).
    Watched {
        room: String,
        result: Result<(), ErrorBody>,
    },
    /// The broker recorded (or refused) a member's presence update.
    Updated {
        conn: ConnId,
        id: Id,
        room: String,
        result: Result<(), ErrorBody>,
    },
    /// The broker answered a page of history.
    Paged {
        conn: ConnId,
        id: Id,
        room: String,
        result: Result<HistoryPage, ErrorBody>,
    },
    /// Close every connection with `code`, telling clients to come back after `hint`.
    Shutdown { code: u16, hint: Duration },
    /// A scrape of `/metrics` asks for the core's numbers.
    Metrics {
        reply: oneshot::Sender<Box<Snapshot>>,
    },
    /// The application's admin operation (`Handle::admin`): applied here on a standalone
    /// node, handed to the broker for every node on a node of a cluster.
    Admin {
        message: AdminMessage,
        reply: oneshot::Sender<Result<Reach, BrokerError>>,
    },
    /// The application asks for a room's members (from the broker on a node of a cluster).
    Members {
        room: String,
        reply: oneshot::Sender<Result<Vec<Member>, BrokerError>>,
    },
    /// The application asks for a page of a room's history.
    History {
        room: String,
        before: Option<u64>,
        limit: u32,
        reply: oneshot::Sender<Result<HistoryPage, BrokerError>>,
    },
    /// Stop the task.
    Stop,
}
