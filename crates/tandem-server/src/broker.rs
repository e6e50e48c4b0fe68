//! The `Broker` seam: what joins the nodes of a cluster.
//!
//! A single node needs nothing more than [`MemoryBroker`], the default: the node numbers
//! messages, keeps history and presence itself, and the broker only hands server-side
//! broadcasts back to it. A cluster broker (`tandem-redis`) takes those jobs over for
//! every node: it numbers each room's messages in one order, keeps the history (so a client
//! resumes on any node) and the members of every node, and tells each node what happened
//! through [`BrokerMessage`]s.

use std::sync::Arc;

use bytes::Bytes;
use tandem_proto::{
    HistoryPage, HubConfig, Member, MemberChange, Payload, RoomPolicies, RoomState, Start,
};
use tokio::sync::broadcast;

use crate::future::BoxFuture;

/// What a broker tells the node attached to it.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub enum BrokerMessage {
    /// A server-side broadcast for the node to number itself (a standalone node's broker).
    Broadcast {
        /// The room.
        room: String,
        /// The payload, already JSON.
        data: Arc<Payload>,
    },
    /// Clustered: a message the broker numbered, as the encoded `event` frame.
    Event {
        /// The room.
        room: String,
        /// The room's epoch.
        epoch: u64,
        /// The message's sequence number.
        seq: u64,
        /// The encoded `event` frame, shared by every receiver.
        frame: Bytes,
    },
    /// Clustered: an ephemeral message published on another node, as the encoded
    /// `event` frame (no seq).
    Ephemeral {
        /// The room.
        room: String,
        /// The encoded `event` frame.
        frame: Bytes,
    },
    /// Clustered: a member arrived in, left, or updated its metadata in a room (on some
    /// node).
    Member {
        /// The room.
        room: String,
        /// What changed.
        change: MemberChange,
    },
    /// Clustered: where a room stands in the broker now (after its subscription was
    /// disturbed): a node that is behind it, or on another epoch, sends the room's clients
    /// to resume.
    Position {
        /// The room.
        room: String,
        /// The room's epoch.
        epoch: u64,
        /// The room's latest sequence number.
        seq: u64,
    },
    /// Clustered: the broker cannot be reached, or messages from it were lost. Nothing can
    /// be published until [`BrokerMessage::Up`]; the node sends its clients away with 1013.
    Down {
        /// Why, for the logs.
        why: String,
    },
    /// Clustered: the broker is reachable again (and the node's stale presence is cleared).
    Up,
    /// Clustered: an operator's action (from any node's [`crate::Handle`]) for this node to
    /// apply to its own connections.
    Admin(AdminMessage),
}

/// An operator's action on live sessions, applied by every node to its own connections
/// (see [`crate::Handle::admin`]).
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum AdminMessage {
    /// Close every connection of `user` with 4003 (`tandem_proto::close::DISCONNECTED`,
    /// the client does not reconnect) and `reason`.
    Disconnect {
        /// The user.
        user: String,
        /// The close reason (cut to 123 bytes).
        reason: String,
    },
    /// Remove `user`'s connections from `room`; each gets `unsubscribed` with `message`
    /// and does not rejoin by itself.
    Unsubscribe {
        /// The user.
        user: String,
        /// The room.
        room: String,
        /// Why, for people.
        message: String,
    },
    /// Send `data` to every connection of `user` as a `message` frame.
    Send {
        /// The user.
        user: String,
        /// The payload, already JSON.
        data: Payload,
    },
}

/// Why a broker could not do what it was asked.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum BrokerError {
    /// The backend cannot be reached; try again later.
    #[error("broker unavailable: {0}")]
    Unavailable(String),
    /// The room has as many members as its policy allows (a join).
    #[error("the room is full: it has as many members as its policy allows")]
    RoomFull,
}

/// A join as a cluster broker takes it.
#[derive(Debug, Clone)]
pub struct SyncRequest {
    /// The room.
    pub room: String,
    /// The joining user.
    pub user: String,
    /// Presence metadata.
    pub meta: Option<Payload>,
    /// The issuer's presence data for the user (its token's `info`).
    pub info: Option<Payload>,
    /// Whether the user is new to the room on this node (count its arrival).
    pub arrive: bool,
    /// Where the joiner starts reading: only the history after a resume position (or
    /// the last `history` messages of a fresh join) need come back. A failover resumes
    /// a thousand clients at once; each asking for the whole history timed the
    /// broker's pipeline out.
    pub start: Start,
}

/// How far an admin operation ([`crate::Handle::admin`]) reached.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Reach {
    /// A standalone node applied it to this many of its connections.
    Connections(usize),
    /// A node of a cluster handed it to this many nodes (itself included), each of which
    /// applies it to its own connections. How many connections that was is not gathered:
    /// no node waits for the others.
    Nodes(usize),
}

/// What every broker does: carry server-side broadcasts to every node, and say whether
/// its backend is reachable. A broker that also keeps rooms for a cluster implements
/// [`ClusterBroker`] too, and is given to the node with [`crate::ServerBuilder::cluster`].
pub trait Broker: Send + Sync + 'static {
    /// A short name for logs and `/healthz`.
    fn name(&self) -> &'static str;

    /// This node's name in the cluster (part of anonymous user ids). Default `"local"`.
    fn node(&self) -> &str {
        "local"
    }

    /// Attaches a node whose rooms keep history and presence as `rooms` and each room's
    /// policy say: every later message for it arrives on the receiver.
    fn attach(
        &self,
        rooms: &HubConfig,
        policies: &RoomPolicies,
    ) -> broadcast::Receiver<BrokerMessage>;

    /// A server-side broadcast, to every node.
    fn broadcast(&self, room: String, data: Arc<Payload>) -> BoxFuture<Result<(), BrokerError>>;

    /// Whether the backend is reachable now.
    fn is_healthy(&self) -> bool;
}

/// A broker that joins the nodes of a cluster: it numbers each room's messages in one
/// order, keeps the history and the members of every node. See the module docs.
pub trait ClusterBroker: Send + Sync + 'static {
    /// Numbers, stores and spreads a member's message; returns its sequence number. Calls
    /// from one node are numbered in the order they are made.
    fn publish(
        &self,
        room: String,
        from: String,
        data: Payload,
    ) -> BoxFuture<Result<u64, BrokerError>>;

    /// Records an arrival (if the request says so) and returns the room's state.
    fn sync(&self, request: SyncRequest) -> BoxFuture<Result<RoomState, BrokerError>>;

    /// `user` has no connection left in `room` on this node.
    fn depart(&self, room: String, user: String) -> BoxFuture<Result<(), BrokerError>>;

    /// Records `user`'s new presence metadata in `room` and announces it to every node
    /// ([`BrokerMessage::Member`] with [`MemberChange::Updated`]).
    fn update(
        &self,
        room: String,
        user: String,
        meta: Payload,
        info: Option<Payload>,
    ) -> BoxFuture<Result<(), BrokerError>>;

    /// Carries an ephemeral message (already delivered on this node) to the other nodes,
    /// as [`BrokerMessage::Ephemeral`]; best effort, in the order of the calls.
    fn ephemeral(&self, room: String, frame: Bytes);

    /// A page of `room`'s stored messages: the newest `limit` with a seq below `before`.
    fn history(
        &self,
        room: String,
        before: Option<u64>,
        limit: u32,
    ) -> BoxFuture<Result<HistoryPage, BrokerError>>;

    /// Spreads an operator's action to every node, this one included: each gets it as
    /// [`BrokerMessage::Admin`] and applies it to its own connections. Answers how many
    /// nodes received it.
    fn admin(&self, message: AdminMessage) -> BoxFuture<Result<usize, BrokerError>>;

    /// The members of `room` on every node, as the broker records them.
    fn members(&self, room: String) -> BoxFuture<Result<Vec<Member>, BrokerError>>;

    /// Starts delivering `room`'s messages and member changes to this node; resolves once
    /// they are delivered (the node's joins of the room ask for its state only then, so
    /// nothing published in between is missed). A broker that delivers every room to
    /// every node answers at once.
    fn watch(&self, room: String) -> BoxFuture<Result<(), BrokerError>> {
        let _ = room;
        Box::pin(async { Ok(()) })
    }

    /// Stops delivering `room` to this node (nobody here uses it).
    fn unwatch(&self, room: String) {
        let _ = room;
    }
}

/// The in-process broker: every node attached to one `MemoryBroker` (normally just one)
/// receives every server-side broadcast, and numbers it itself. The default.
#[derive(Debug, Clone)]
pub struct MemoryBroker {
    tx: broadcast::Sender<BrokerMessage>,
}

impl Default for MemoryBroker {
    fn default() -> Self {
        // A lagging node loses the oldest broadcasts beyond this many and logs it.
        let (tx, _) = broadcast::channel(1024);
        MemoryBroker { tx }
    }
}

impl Broker for MemoryBroker {
    fn name(&self) -> &'static str {
        "memory"
    }

    fn attach(
        &self,
        _rooms: &HubConfig,
        _policies: &RoomPolicies,
    ) -> broadcast::Receiver<BrokerMessage> {
        self.tx.subscribe()
    }

    fn broadcast(&self, room: String, data: Arc<Payload>) -> BoxFuture<Result<(), BrokerError>> {
        // No receivers only means no node is running; nothing to deliver.
        let _ = self.tx.send(BrokerMessage::Broadcast { room, data });
        Box::pin(async { Ok(()) })
    }

    fn is_healthy(&self) -> bool {
        true
    }
}
