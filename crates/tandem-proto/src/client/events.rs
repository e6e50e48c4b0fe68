//! What a client session tells its driver (transmits) and the application (events,
//! states, errors).

use core::time::Duration;

use crate::error::ErrorCode;
use crate::frame::{ErrorBody, Id, Member, Payload, Policy};

/// Why a session is closed for good.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum CloseReason {
    /// The application called [`crate::Session::close`].
    #[error("closed by the client")]
    ClientClosed,
    /// The server refused the token and no fresh one helped.
    #[error("unauthorized (close {code}): {message}")]
    Unauthorized {
        /// The close code (4001 or 4002) or 0 when the token provider refused.
        code: u16,
        /// The server's or token provider's explanation.
        message: String,
    },
    /// No common wire protocol version.
    #[error("no common wire protocol: {0}")]
    ProtocolMismatch(String),
    /// No common application schema version.
    #[error("no common application schema version: {0}")]
    AppVersionMismatch(String),
    /// The server closed with a code that means "do not come back" (normal close,
    /// protocol error, policy violation, ...).
    #[error("closed by the server (close {code}): {reason}")]
    ServerClosed {
        /// The close code.
        code: u16,
        /// The close reason.
        reason: String,
    },
    /// The server's TLS certificate was refused (not trusted, expired, for another name):
    /// close code 1015, reported by a native client's transport. Nothing a retry can fix
    /// until the certificate or the client's trusted roots change.
    #[error("TLS handshake failed: {0}")]
    Tls(String),
    /// [`crate::Backoff::max_attempts`] reconnects failed in a row.
    #[error("gave up after {attempts} reconnect attempts")]
    AttemptsExhausted {
        /// How many attempts were made.
        attempts: u32,
    },
}

/// The connection state the application sees.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ConnectionState {
    /// Not started: [`crate::Session::connect`] has not been called.
    Idle,
    /// Opening a socket and negotiating; `attempt` is 0 for the first connection.
    Connecting {
        /// The reconnect attempt (0: first connection).
        attempt: u32,
    },
    /// Welcomed by the server.
    Open,
    /// Waiting before reconnect attempt `attempt`; `delay: None` means waiting for the
    /// network to come back.
    Reconnecting {
        /// The attempt about to be made.
        attempt: u32,
        /// How long until it, or `None` while offline.
        delay: Option<Duration>,
    },
    /// Closed for good.
    Closed(CloseReason),
}

/// Why an operation failed. Every publish, request, join and leave ends in exactly one
/// success event or one [`crate::ClientEvent::Failed`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum OpError {
    /// The offline queue is full (by count or bytes); nothing was queued.
    #[error("offline queue full ({count} frames, {bytes} bytes)")]
    QueueFull {
        /// Frames in the queue.
        count: usize,
        /// Bytes in the queue.
        bytes: usize,
    },
    /// The frame is over the server's size limit; nothing was sent.
    #[error("frame of {size} bytes exceeds the server's limit of {limit} bytes")]
    TooLarge {
        /// The encoded size.
        size: usize,
        /// The limit.
        limit: usize,
    },
    /// The room was not joined (or was left).
    #[error("not joined to room `{room}`")]
    NotJoined {
        /// The room.
        room: String,
    },
    /// No answer within the timeout.
    #[error("timed out")]
    Timeout,
    /// An ephemeral message needs the room joined on an open connection now: it is never
    /// queued.
    #[error("not connected to room `{room}`; ephemeral messages are not queued")]
    NotConnected {
        /// The room.
        room: String,
    },
    /// The rate the server announced is used up for now; an ephemeral message is not
    /// queued.
    #[error("over the server's rate; ephemeral messages are not queued")]
    RateLimited,
    /// The frame was sent but the connection dropped before the answer; it may or may not
    /// have been processed.
    #[error("connection lost before the answer")]
    ConnectionLost,
    /// The session is closed.
    #[error("session closed: {0}")]
    Closed(CloseReason),
    /// The server answered with an error.
    #[error("server error {code}: {message}")]
    Server {
        /// The stable code.
        code: ErrorCode,
        /// The explanation.
        message: String,
    },
    /// The payload could not be encoded or decoded as the application's type.
    #[error("payload: {0}")]
    Payload(String),
}

/// Why the token provider gave no token.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum TokenError {
    /// The user is not allowed in: stop for good.
    #[error("unauthorized: {0}")]
    Unauthorized(String),
    /// The provider failed for now (network...): try again with backoff.
    #[error("token unavailable: {0}")]
    Unavailable(String),
}

/// What the driver must do next.
#[derive(Debug, Clone, PartialEq, Eq)]
#[must_use]
pub enum Transmit {
    /// Open a WebSocket offering these subprotocols, then call [`crate::Session::handle_open`]
    /// (or [`crate::Session::handle_closed`] if it fails).
    Connect {
        /// Subprotocols in preference order.
        protocols: Vec<String>,
    },
    /// Send this text frame.
    Send(String),
    /// Close the socket with this code and reason. The session already treats it as
    /// closed: do not report that socket's later events.
    Close {
        /// The close code.
        code: u16,
        /// The reason.
        reason: String,
    },
}

/// What happened, for the application.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub enum ClientEvent {
    /// The connection state changed.
    StateChanged(ConnectionState),
    /// The server welcomed the connection as `user`, with this session id (on every
    /// connection: a new token may name another user).
    Welcomed {
        /// The user the server knows this client as: its own messages' `from`, its own
        /// presence member.
        user: String,
        /// The server's id of this connection.
        session: String,
    },
    /// A fresh token is needed: before connecting, or because the server asked for one
    /// for the open session (`refresh`, when the token expires soon). Call
    /// [`crate::Session::handle_token`]. Only with [`crate::ClientConfig::refresh_token`].
    TokenRequired,
    /// A room was joined, first or again after a reconnect.
    Joined {
        /// The id [`crate::Session::join`] returned, for the first join; `None` for rejoins.
        id: Option<Id>,
        /// The room.
        room: String,
        /// After a resume: `true` if every missed message follows, `false` if some were
        /// lost (refetch). `None` for a first join, unless it started from a stored
        /// position (`since`).
        recovered: Option<bool>,
        /// The room's epoch: with a message's seq, the position to store and join
        /// `since` later (a reloaded page, a restarted app).
        epoch: u64,
        /// The position just before the first message that follows.
        seq: u64,
        /// The presence snapshot.
        members: Vec<Member>,
        /// What the room keeps and allows, as the server announced it.
        policy: Option<Policy>,
    },
    /// A message in a joined room, in order, never twice.
    Message {
        /// The room.
        room: String,
        /// Its sequence number.
        seq: u64,
        /// The publishing user, if any.
        from: Option<String>,
        /// The payload.
        data: Payload,
    },
    /// An ephemeral message in a joined room: not numbered, not stored, never replayed.
    Ephemeral {
        /// The room.
        room: String,
        /// The publishing user, if any.
        from: Option<String>,
        /// The payload.
        data: Payload,
    },
    /// Members arrived in, left, or changed their metadata in a room. The room's member
    /// list ([`crate::Session::members`]) already has the change.
    Presence {
        /// The room.
        room: String,
        /// Arrivals.
        joined: Vec<Member>,
        /// Departures.
        left: Vec<Member>,
        /// Members with new metadata (the new one).
        updated: Vec<Member>,
    },
    /// The client is out of a room: a leave completed (`id` is the one
    /// [`crate::Session::leave`] returned, `reason` is `None`), or the server refused to take
    /// the client back into a room it had joined (`id` is `None`, `reason` says why, e.g.
    /// `forbidden`). Rejoins the server cannot serve now (`unavailable`) are retried with
    /// backoff instead, never abandoned.
    Left {
        /// The leave's id, when the application asked to leave.
        id: Option<Id>,
        /// The room.
        room: String,
        /// Why the server took the client out, when it did.
        reason: Option<ErrorBody>,
    },
    /// A publish was acknowledged.
    Published {
        /// The id [`crate::Session::publish`] returned.
        id: Id,
        /// The room.
        room: String,
        /// The sequence number it got.
        seq: u64,
    },
    /// An operation without a result succeeded: a presence update, or an ephemeral
    /// publish that asked for an ack.
    Done {
        /// The operation's id.
        id: Id,
    },
    /// A page of history, the answer to [`crate::Session::history`].
    Page {
        /// The id [`crate::Session::history`] returned.
        id: Id,
        /// The room.
        room: String,
        /// The room's epoch the seqs belong to.
        epoch: u64,
        /// The messages, oldest first.
        messages: Vec<crate::frame::Event>,
        /// Whether older messages are stored.
        more: bool,
    },
    /// A request was answered.
    Response {
        /// The id [`crate::Session::request`] returned.
        id: Id,
        /// The answer.
        data: Payload,
    },
    /// An operation failed.
    Failed {
        /// The operation's id.
        id: Id,
        /// Why.
        error: OpError,
    },
    /// The server asks something: answer with [`crate::Session::respond`].
    Request {
        /// The request's id.
        id: Id,
        /// The room it is about, if any.
        room: Option<String>,
        /// The payload.
        data: Payload,
    },
    /// The server took the client out of a room (an operator, or a fresh token without
    /// the room). The room is forgotten: it is not rejoined, now or after a reconnect;
    /// what was queued for it failed with [`OpError::NotJoined`]. Joining it again is the
    /// application's decision.
    Unsubscribed {
        /// The room.
        room: String,
        /// Why, for people.
        message: String,
    },
    /// A message from the server to this user, outside any room (on every connection of
    /// the user; not numbered, not stored).
    ServerMessage {
        /// The payload.
        data: Payload,
    },
    /// The server reported an error not tied to an operation (a refused fresh token too:
    /// `unauthorized` or `token_expired`, the session going on until its token expires).
    Error {
        /// The room concerned, if any.
        room: Option<String>,
        /// The stable code.
        code: ErrorCode,
        /// The explanation.
        message: String,
    },
}
