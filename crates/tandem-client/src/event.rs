//! What a client's event stream yields, typed with the application's message type.

use serde::Serialize;
use serde::de::DeserializeOwned;
use tandem_proto::frame::Policy;
use tandem_proto::{ConnectionState, ErrorBody, ErrorCode, Id, Member, Payload};

use crate::error::Error;

/// Something that happened on the connection or in a joined room.
#[derive(Debug)]
#[non_exhaustive]
pub enum Event<M> {
    /// The connection state changed (connecting, open, reconnecting with attempt and
    /// delay, closed with the reason).
    State(ConnectionState),
    /// A room was joined, first (`recovered: None`) or again after a reconnect
    /// (`Some(true)`: every missed message follows; `Some(false)`: some were lost, refetch).
    Joined {
        /// The room.
        room: String,
        /// Whether the resume recovered everything, for rejoins.
        recovered: Option<bool>,
        /// The room's epoch (with a message's seq, a position to store).
        epoch: u64,
        /// The position just before the first message that follows.
        seq: u64,
        /// The presence snapshot (each member with its metadata and the issuer's `info`).
        members: Vec<Member>,
        /// What the room keeps and allows.
        policy: Option<Policy>,
    },
    /// A message in a joined room, in order, never twice.
    Message {
        /// The room.
        room: String,
        /// Its sequence number in the room.
        seq: u64,
        /// The publishing user (`None` for the server's own broadcasts).
        from: Option<String>,
        /// The message.
        data: M,
    },
    /// A message whose payload is not a valid `M` (a peer speaking another schema).
    Undecodable {
        /// The room.
        room: String,
        /// Its sequence number.
        seq: u64,
        /// Why it did not decode.
        error: String,
        /// The raw payload.
        data: Payload,
    },
    /// An ephemeral message in a joined room ([`crate::Client::broadcast`]): not
    /// numbered, not stored, never replayed; it may be dropped for a slow reader.
    Ephemeral {
        /// The room.
        room: String,
        /// The publishing user.
        from: Option<String>,
        /// The message, or the raw payload with why it is not a valid `M`.
        data: Result<M, (String, Payload)>,
    },
    /// Members arrived in, left or changed their metadata in a room (after the snapshot
    /// in [`Event::Joined`]); [`crate::Client::members`] already has the change.
    Presence {
        /// The room.
        room: String,
        /// Arrivals.
        joined: Vec<Member>,
        /// Departures.
        left: Vec<Member>,
        /// Members with new metadata.
        updated: Vec<Member>,
    },
    /// The client is out of a room: the application left it (`reason: None`), or the
    /// server refused to take the client back in after a reconnect (`reason` says why,
    /// e.g. `forbidden`). A rejoin the server cannot serve now (`unavailable`) is retried
    /// with backoff, never abandoned.
    Left {
        /// The room.
        room: String,
        /// Why the server took the client out, when it did.
        reason: Option<ErrorBody>,
    },
    /// The server took the client out of a room (an operator, or a fresh token without
    /// the room). The client does not rejoin it, now or after a reconnect; operations
    /// waiting for it failed with [`tandem_proto::OpError::NotJoined`]. Joining it again
    /// is the application's call.
    Unsubscribed {
        /// The room.
        room: String,
        /// Why, for people.
        message: String,
    },
    /// A message from the server to this user, outside any room (an operator's or the
    /// backend's, on every connection of the user; not numbered, not stored).
    ServerMessage {
        /// The message, or the raw payload with why it is not a valid `M` (decode it as
        /// another type with [`tandem_proto::decode_payload`]).
        data: Result<M, (String, Payload)>,
    },
    /// The server asks something: answer with [`IncomingRequest::respond`].
    Request(IncomingRequest),
    /// The server reported an error not tied to an operation, or a fresh token was refused
    /// or could not be had (`unauthorized`, `token_expired`, `unavailable`): the session
    /// goes on until its token expires, then reconnects with a fresh one.
    Error {
        /// The room concerned, if any.
        room: Option<String>,
        /// The stable code.
        code: ErrorCode,
        /// The explanation.
        message: String,
    },
}

/// Where a request's answer goes.
pub(crate) trait Responder: crate::config::MaybeSend + crate::config::MaybeSync {
    fn respond(&self, id: Id, result: Result<Payload, ErrorBody>);
}

/// A request from the server. Answer it once; dropping it unanswered answers `rejected`.
pub struct IncomingRequest {
    pub(crate) id: Id,
    pub(crate) room: Option<String>,
    pub(crate) data: Payload,
    pub(crate) responder: Option<Box<dyn Responder>>,
}

impl std::fmt::Debug for IncomingRequest {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("IncomingRequest")
            .field("id", &self.id)
            .field("room", &self.room)
            .field("data", &self.data)
            .finish_non_exhaustive()
    }
}

impl IncomingRequest {
    /// The room the request is about, if any.
    pub fn room(&self) -> Option<&str> {
        self.room.as_deref()
    }

    /// The raw payload.
    pub fn raw(&self) -> &Payload {
        &self.data
    }

    /// The payload as the application's type.
    pub fn data<T: DeserializeOwned>(&self) -> Result<T, Error> {
        tandem_proto::decode_payload(&self.data).map_err(|e| Error::Payload(e.to_string()))
    }

    /// Answers with `value`.
    pub fn respond<T: Serialize + ?Sized>(mut self, value: &T) -> Result<(), Error> {
        let payload =
            tandem_proto::encode_payload(value).map_err(|e| Error::Payload(e.to_string()))?;
        if let Some(r) = self.responder.take() {
            r.respond(self.id, Ok(payload));
        }
        Ok(())
    }

    /// Answers with an error.
    pub fn reject(mut self, code: ErrorCode, message: impl Into<String>) {
        if let Some(r) = self.responder.take() {
            r.respond(
                self.id,
                Err(ErrorBody {
                    code,
                    message: message.into(),
                }),
            );
        }
    }
}

impl Drop for IncomingRequest {
    fn drop(&mut self) {
        if let Some(r) = self.responder.take() {
            r.respond(
                self.id,
                Err(ErrorBody {
                    code: ErrorCode::Rejected,
                    message: "the application dropped the request unanswered".to_owned(),
                }),
            );
        }
    }
}

/// The answer to a join.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct Joined {
    /// The room.
    pub room: String,
    /// For a join from a stored position ([`crate::JoinOptions::since`]): whether every
    /// message after it follows. `None` for a plain join.
    pub recovered: Option<bool>,
    /// The room's epoch: store it with the seq of the last message handled, to join
    /// `since` that position later.
    pub epoch: u64,
    /// The position just before the first message that follows.
    pub seq: u64,
    /// The presence snapshot.
    pub members: Vec<Member>,
    /// What the room keeps and allows.
    pub policy: Option<Policy>,
}

/// A page of a room's history ([`crate::Client::history`]).
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct HistoryPage<M> {
    /// The room's epoch the seqs belong to.
    pub epoch: u64,
    /// The messages, oldest first.
    pub messages: Vec<HistoryMessage<M>>,
    /// Whether older messages are stored (ask again with `before` the first seq here).
    pub more: bool,
}

/// One stored message.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct HistoryMessage<M> {
    /// Its sequence number.
    pub seq: u64,
    /// The publishing user, if any.
    pub from: Option<String>,
    /// The message.
    pub data: M,
}
