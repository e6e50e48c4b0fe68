//! What a server node hands its driver: frames and closes to write, and decisions or
//! notices for the application.

use bytes::Bytes;

use super::{ConnId, Delivery, Start};
use crate::frame::{ErrorBody, Id, Payload};

/// What the driver must do next.
#[derive(Debug, Clone)]
#[must_use]
pub enum ServerTransmit {
    /// Write these bytes, as one text frame, to every recipient.
    Frame(Delivery),
    /// Send a close frame with this code and reason, then drop the connection. The server
    /// has already forgotten it; do not report its later events.
    Close {
        /// The connection.
        conn: ConnId,
        /// The close code.
        code: u16,
        /// The reason (at most 123 bytes).
        reason: String,
    },
}

/// A decision or notice for the application.
#[derive(Debug)]
#[non_exhaustive]
pub enum ServerEvent {
    /// A client said hello: answer with [`super::Server::accept`] or [`super::Server::reject`].
    Authenticate {
        /// The connection.
        conn: ConnId,
        /// The token from `hello`, if any.
        token: Option<String>,
    },
    /// A client wants to join a room: answer with [`super::Server::allow_join`] or [`super::Server::deny_join`].
    AuthorizeJoin {
        /// The connection.
        conn: ConnId,
        /// The authenticated user.
        user: String,
        /// The join's id.
        id: Id,
        /// The room.
        room: String,
    },
    /// A client request: answer with [`super::Server::respond`].
    Request {
        /// The connection.
        conn: ConnId,
        /// The authenticated user.
        user: String,
        /// The request's id.
        id: Id,
        /// The room the request is about, if any.
        room: Option<String>,
        /// The payload.
        data: Payload,
    },
    /// Clustered: a member publishes; the broker numbers and spreads the message, then
    /// answer with [`super::Server::handle_published`]. The event itself comes back to every
    /// node through [`super::Server::handle_remote_event`].
    Publish {
        /// The connection.
        conn: ConnId,
        /// The publish's id.
        id: Id,
        /// The room.
        room: String,
        /// The publishing user.
        from: String,
        /// The payload.
        data: Payload,
    },
    /// Clustered: a join needs the room's state from the broker (recording the user's
    /// arrival first when `arrive`); answer with [`super::Server::handle_synced`].
    Sync {
        /// The connection.
        conn: ConnId,
        /// The join's id.
        id: Id,
        /// The room.
        room: String,
        /// The joining user.
        user: String,
        /// Presence metadata.
        meta: Option<Payload>,
        /// The issuer's presence data for the user (its token's `info`).
        info: Option<Payload>,
        /// Whether the user is new to the room on this node.
        arrive: bool,
        /// Where the joiner starts reading: the broker need send only the history that
        /// serves it (after a resume position, or the last `history` messages).
        start: Start,
    },
    /// Clustered: a member's ephemeral message, delivered on this node already, for the
    /// broker to carry to the other nodes ([`super::Server::handle_remote_ephemeral`]). No
    /// answer.
    Ephemeral {
        /// The room.
        room: String,
        /// The encoded `event` (no seq).
        frame: Bytes,
    },
    /// Clustered: a member's new presence metadata, for the broker to record and announce
    /// to every node; answer with [`super::Server::handle_updated`].
    Update {
        /// The connection.
        conn: ConnId,
        /// The update's id.
        id: Id,
        /// The room.
        room: String,
        /// The user.
        user: String,
        /// The new metadata.
        meta: Payload,
        /// The issuer's presence data for the user (its token's `info`), kept with it.
        info: Option<Payload>,
    },
    /// Clustered: a page of a room's history, from the broker's; answer with
    /// [`super::Server::handle_history`].
    History {
        /// The connection.
        conn: ConnId,
        /// The request's id.
        id: Id,
        /// The room.
        room: String,
        /// Only messages with a seq below this.
        before: Option<u64>,
        /// Most messages (already within the server's maximum).
        limit: u32,
    },
    /// Clustered: `user` has no connection left in `room` on this node; the broker
    /// announces the departure if no other node has the user either.
    Depart {
        /// The room.
        room: String,
        /// The user.
        user: String,
    },
    /// Clustered: this node needs `room`'s messages from the broker (its first join here):
    /// answer with [`super::Server::handle_watched`] once the broker delivers them. The
    /// join's [`ServerEvent::Sync`] comes after, so nothing published between the broker's
    /// snapshot and the subscription is lost.
    Watch {
        /// The room.
        room: String,
    },
    /// Clustered: nobody on this node uses `room` any more; the broker may stop delivering
    /// its messages here. No answer.
    Unwatch {
        /// The room.
        room: String,
    },
    /// A publish waiting for the application's decision (with
    /// [`super::ServerConfig::authorize_publishes`]): answer with
    /// [`super::Server::decide_publish`]. A connection's publishes go out in the order it
    /// sent them, whatever order the decisions come in.
    AuthorizePublish {
        /// The connection.
        conn: ConnId,
        /// The authenticated user.
        user: String,
        /// The publish's id.
        id: Id,
        /// The room.
        room: String,
        /// The payload.
        data: Payload,
        /// Whether it is an ephemeral message (not numbered, not stored).
        ephemeral: bool,
    },
    /// An open session sent a fresh token (`token`): verify it and answer with
    /// [`super::Server::handle_reauthenticated`].
    Reauthenticate {
        /// The connection.
        conn: ConnId,
        /// The `token` frame's id.
        id: Id,
        /// The token.
        token: String,
    },
    /// A connection that had been welcomed is gone (closed by either side).
    Disconnected {
        /// The connection.
        conn: ConnId,
        /// Its user.
        user: String,
    },
    /// The answer to a request made with [`super::Server::request`].
    Response {
        /// The connection.
        conn: ConnId,
        /// The id [`super::Server::request`] returned.
        id: Id,
        /// The answer, or why there is none (`timeout`, `unavailable` when the connection closed).
        result: Result<Payload, ErrorBody>,
    },
}

/// How a message could not be read, as the socket layer found it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Unreadable {
    /// A text message that is not UTF-8.
    NotUtf8,
    /// A message far over the size limit (the socket layer stopped reading it).
    TooBig,
}

/// A page of a room's stored messages, as a cluster's broker answers
/// [`ServerEvent::History`].
#[derive(Debug, Clone, Default)]
pub struct HistoryPage {
    /// The room's epoch.
    pub epoch: u64,
    /// The encoded `event` frames, oldest first.
    pub frames: Vec<Bytes>,
    /// Whether older messages are stored.
    pub more: bool,
}
