//! The IO-free room hub: membership, presence, per-room sequence and epoch, bounded history,
//! replay on resume. A broadcast is encoded once; every receiver shares the same bytes.
//!
//! Two room keepers share one room core ([`shared`]), as socketioxide's cluster adapter
//! wraps its local one: [`local::LocalRooms`] for a node that is the whole server (it
//! numbers messages and announces presence), [`replica::ReplicaRooms`] for a node of a
//! cluster (a broker numbers and announces; it keeps the broker's view, the joins waiting
//! for it, and merges the broker's state). [`Hub`] is whichever one the node is.

mod announce;
mod local;
mod replica;
mod shared;

use std::collections::BTreeMap;
use std::sync::Arc;

use bytes::Bytes;
use core::time::Duration;

use self::local::LocalRooms;
use self::replica::ReplicaRooms;
use self::shared::RoomKeeper;
use super::policy::RoomPolicies;
use super::presence::Ending;
pub use super::replay::Start;
use crate::error::ErrorCode;
use crate::frame::{ErrorBody, Id, Member, Payload};
use crate::time::{Instant, earliest};

/// The server's id for one connection.
pub type ConnId = u64;

/// Room limits and timings. See each field for its default.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HubConfig {
    /// Most messages kept per room for replay. Default 100,000: the bytes and age bounds
    /// are the ones that bite; 0 keeps no history.
    pub history_len: usize,
    /// How long a message stays replayable. Default 2 minutes (as Ably keeps), so a client
    /// back from an outage of up to 2 minutes recovers every message.
    pub history_age: Duration,
    /// Most bytes of history per room (frames plus 64 bytes per entry). Default 1 MiB:
    /// 30 s of a 100 msg/s room with 300-byte frames, and the bound on a room's memory
    /// whatever its rate.
    pub history_bytes: usize,
    /// How long presence changes of a room of 64 members or more are held after one went
    /// out, to be sent together: the first change in a quiet room goes out at once, those
    /// within the next window as one diff when it closes. Default 50 ms (a join storm in
    /// one room sends 20 diffs a second instead of one per arrival to every member); zero
    /// sends each at once.
    pub presence_window: Duration,
    /// How long a member whose connection dropped abruptly stays present. Default 5 s.
    pub presence_timeout: Duration,
    /// Rooms one connection may be in. Default 64.
    pub max_rooms_per_conn: usize,
    /// Most messages in one page of history (a `history` asking for more gets this
    /// many). Default 100.
    pub max_page: u32,
}

impl Default for HubConfig {
    fn default() -> Self {
        HubConfig {
            history_len: 100_000,
            history_age: Duration::from_secs(120),
            history_bytes: 1 << 20,
            presence_window: Duration::from_millis(50),
            presence_timeout: Duration::from_secs(5),
            max_rooms_per_conn: 64,
            max_page: 100,
        }
    }
}

/// Who receives a [`Delivery`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Recipients {
    /// One connection.
    One(ConnId),
    /// Several connections, sharing one list.
    Many(Arc<[ConnId]>),
    /// Every connection of a shared list but one (an ephemeral message's publisher).
    AllBut(Arc<[ConnId]>, ConnId),
}

impl Recipients {
    /// Every receiving connection.
    pub fn iter(&self) -> impl Iterator<Item = ConnId> + '_ {
        let (list, but): (&[ConnId], Option<ConnId>) = match self {
            Recipients::One(c) => (core::slice::from_ref(c), None),
            Recipients::Many(l) => (l, None),
            Recipients::AllBut(l, c) => (l, Some(*c)),
        };
        list.iter().copied().filter(move |c| Some(*c) != but)
    }
}

/// How a driver's bounded outbound queue treats a frame.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FrameClass {
    /// Counts against the receiver's outbound limit; once one is refused, the receiver is
    /// a slow consumer and gets nothing more before its 1013 close.
    Live,
    /// An ephemeral message: dropped, never refused, when the receiver's queue is half
    /// full, so it never pushes a connection to 1013 and a slow consumer sheds it first.
    Ephemeral,
    /// The `joined` answer and the stored messages a join replays: queued past the limit.
    /// They are bounded by the room's history and share its bytes, and a replay cut at
    /// the limit would send a client that is far behind into a loop of 1013s.
    Replay,
}

/// Encoded frame bytes for one or many connections: encoded once, shared by all.
#[derive(Debug, Clone)]
pub struct Delivery {
    /// The receivers.
    pub to: Recipients,
    /// One encoded text frame (valid UTF-8 JSON).
    pub frame: Bytes,
    /// Whether the frame counts against the receiver's outbound limit.
    pub class: FrameClass,
}

impl Delivery {
    /// A live frame for `to`.
    pub fn live(to: Recipients, frame: Bytes) -> Self {
        Delivery {
            to,
            frame,
            class: FrameClass::Live,
        }
    }
}

/// A room of a cluster as the shared broker has it: the answer to a
/// [`super::ServerEvent::Sync`].
#[derive(Debug, Clone, Default)]
pub struct RoomState {
    /// The room's epoch.
    pub epoch: u64,
    /// The room's latest sequence number.
    pub seq: u64,
    /// The retained events, oldest first: `(seq, encoded event frame)`.
    pub history: Vec<(u64, Bytes)>,
    /// The room's members on every node (the joining user included).
    pub members: Vec<Member>,
}

/// What a cluster node's hub asks the broker to record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Notice {
    /// `user` has no connection left in `room` on this node.
    Depart {
        /// The room.
        room: String,
        /// The user.
        user: String,
    },
    /// The node needs `room`'s messages from the broker (its first join here): answer with
    /// [`Hub::watched`] once the broker delivers them. No join's sync goes out before.
    Watch {
        /// The room.
        room: String,
    },
    /// Nobody here uses `room` any more: the broker may stop delivering its messages.
    Unwatch {
        /// The room.
        room: String,
    },
}

/// A change of the members of a cluster's room, as the broker announces it.
#[derive(Debug, Clone)]
pub enum MemberChange {
    /// The user arrived (on some node).
    Joined(Member),
    /// The user is gone from every node.
    Left(String),
    /// The user's metadata changed (on some node).
    Updated(Member),
}

/// A join or resume, as the hub takes it.
#[derive(Debug, Clone)]
pub struct JoinRequest {
    /// The frame's id, echoed in `joined`.
    pub id: Id,
    /// The room.
    pub room: String,
    /// Presence metadata.
    pub meta: Option<Payload>,
    /// The issuer's presence data for the user (its token's `info`).
    pub info: Option<Payload>,
    /// Where to start reading.
    pub start: Start,
}

/// The outcome of a join the hub accepted.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct JoinOutcome {
    /// The room's epoch.
    pub epoch: u64,
    /// The position before the replayed events.
    pub seq: u64,
    /// For a resume: whether the replay covers the whole gap.
    pub recovered: Option<bool>,
    /// How many events were replayed.
    pub replayed: usize,
}

/// Why the hub refused a join; the connection stays open.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum JoinRefused {
    /// The connection is in as many rooms as allowed.
    TooManyRooms {
        /// Rooms one connection may be in.
        limit: usize,
    },
    /// The room has as many members as its policy allows.
    RoomFull {
        /// The room's member limit.
        limit: usize,
    },
}

impl JoinRefused {
    /// The error a client gets for it.
    pub fn to_error(&self) -> ErrorBody {
        match self {
            JoinRefused::TooManyRooms { limit } => ErrorBody {
                code: ErrorCode::TooManyRooms,
                message: format!("at most {limit} rooms per connection"),
            },
            JoinRefused::RoomFull { limit } => ErrorBody {
                code: ErrorCode::RoomFull,
                message: format!("the room is full: at most {limit} members"),
            },
        }
    }
}

/// What became of a join.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Joining {
    /// Joined: `joined` and the replay are on their way.
    Done(JoinOutcome),
    /// A cluster node waits for the broker's room state; the broker must count the user's
    /// arrival when `arrive`.
    Sync {
        /// Whether the user is new to the room on this node.
        arrive: bool,
        /// Whether the broker delivers the room's messages here already; if not, the sync
        /// waits for [`Hub::watched`].
        watched: bool,
    },
}

/// What became of a member's publish.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Publishing {
    /// Numbered here with this seq, and sent.
    Numbered(u64),
    /// A cluster node hands it to the broker, from this user.
    ToBroker {
        /// The publishing user.
        from: String,
    },
}

/// The room's members on every node, as a list.
fn presence_members(view: &BTreeMap<String, Seen>) -> Vec<Member> {
    view.iter()
        .map(|(user, (meta, info))| Member {
            user: user.clone(),
            meta: meta.clone(),
            info: info.clone(),
        })
        .collect()
}

/// A member as a replica's view of the room holds it: meta, info.
type Seen = (Option<Payload>, Option<Payload>);

/// Which room keeper a node is.
enum Keeper {
    Local(LocalRooms),
    Replica(ReplicaRooms),
}

/// All rooms of one server node: a standalone node's ([`Hub::new`]) or a cluster node's
/// ([`Hub::replica`]).
///
/// The hub never does IO: it returns [`Delivery`]s through [`Hub::poll_delivery`], and the
/// driver writes each delivery's bytes to every recipient.
pub struct Hub {
    keeper: Keeper,
}

/// `$body` with `$c` bound to the shared core of whichever keeper the hub is (the two
/// cores differ in what a room holds, so each arm is typed on its own).
macro_rules! with_core {
    ($hub:expr, $c:ident => $body:expr) => {
        match &$hub.keeper {
            Keeper::Local(l) => {
                let $c = &l.core;
                $body
            }
            Keeper::Replica(r) => {
                let $c = &r.core;
                $body
            }
        }
    };
    (mut $hub:expr, $c:ident => $body:expr) => {
        match &mut $hub.keeper {
            Keeper::Local(l) => {
                let $c = &mut l.core;
                $body
            }
            Keeper::Replica(r) => {
                let $c = &mut r.core;
                $body
            }
        }
    };
}

impl Hub {
    /// The rooms of a node that is the whole server. `seed` feeds the room epochs: a
    /// restarted server must use a new seed so clients learn their positions are gone.
    pub fn new(config: HubConfig, seed: u64) -> Self {
        Self::with_policies(config, seed, RoomPolicies::default())
    }

    /// [`Hub::new`], each room keeping and allowing what `policies` says.
    pub fn with_policies(config: HubConfig, seed: u64, policies: RoomPolicies) -> Self {
        Hub {
            keeper: Keeper::Local(LocalRooms::new(config, seed, policies)),
        }
    }

    /// The rooms of one node of a cluster: a shared broker numbers the messages, keeps the
    /// history and the members of every node, and this hub is the node's replica. Joins
    /// wait for [`Hub::join_synced`]; events and member changes come in through
    /// [`Hub::apply_event`] and [`Hub::apply_member`].
    pub fn replica(config: HubConfig, seed: u64, policies: RoomPolicies) -> Self {
        Hub {
            keeper: Keeper::Replica(ReplicaRooms::new(config, seed, policies)),
        }
    }

    // --- getters ---------------------------------------------------------------------

    /// Whether this hub is a node of a cluster.
    pub fn is_replica(&self) -> bool {
        matches!(self.keeper, Keeper::Replica(_))
    }

    /// The hub's configuration.
    pub fn config(&self) -> &HubConfig {
        with_core!(self, c => &c.config)
    }

    /// Number of rooms this node keeps.
    pub fn room_count(&self) -> usize {
        with_core!(self, c => c.rooms.len())
    }

    /// Subscriptions on this node: connections in rooms, a connection once per room.
    pub fn subscription_count(&self) -> usize {
        with_core!(self, c => c.rooms.values().map(|r| r.subscribers.len()).sum())
    }

    /// Numbered and ephemeral events sent live so far, one per receiving connection.
    pub(crate) fn delivered(&self) -> (u64, u64) {
        with_core!(self, c => c.delivered)
    }

    /// The current `(epoch, seq)` of a room, if it exists.
    pub fn position(&self, room: &str) -> Option<(u64, u64)> {
        with_core!(self, c => c.rooms.get(room).map(|r| (r.epoch, r.seq)))
    }

    /// The presence members of a room (on every node, for a cluster node).
    pub fn members(&self, room: &str) -> Vec<Member> {
        match &self.keeper {
            Keeper::Local(l) => l.core.rooms.get(room).map(LocalRooms::room_members),
            Keeper::Replica(r) => r.core.rooms.get(room).map(ReplicaRooms::room_members),
        }
        .unwrap_or_default()
    }

    /// Whether `conn` is subscribed to `room`.
    /// The rooms `conn` is subscribed to.
    pub fn rooms_of(&self, conn: ConnId) -> Vec<String> {
        with_core!(self, c => c.rooms_of(conn))
    }

    /// Whether `conn` is subscribed to `room`.
    pub fn is_member(&self, conn: ConnId, room: &str) -> bool {
        with_core!(self, c => c.is_member(conn, room))
    }

    /// Whether `user` has a connection (or a lingering one) in `room` on this node.
    pub fn is_present(&self, room: &str, user: &str) -> bool {
        with_core!(self, c => c
            .rooms
            .get(room)
            .is_some_and(|r| r.presence.contains(user)))
    }

    // --- mutators --------------------------------------------------------------------

    /// Subscribes `conn` (as `user`) to the room: at once on a standalone node (sending
    /// `joined`, the replay, and the arrival to the other members), or, on a cluster node,
    /// once the broker's state comes ([`Hub::join_synced`]).
    pub fn join(
        &mut self,
        now: Instant,
        conn: ConnId,
        user: &str,
        request: JoinRequest,
    ) -> Result<Joining, JoinRefused> {
        match &mut self.keeper {
            Keeper::Local(l) => l.join(now, conn, user, request).map(Joining::Done),
            Keeper::Replica(r) => r
                .prepare_join(conn, user, &request.room)
                .map(|(arrive, watched)| Joining::Sync { arrive, watched }),
        }
    }

    /// Cluster node: the broker now delivers `room`'s messages here (after
    /// [`Notice::Watch`]).
    pub fn watched(&mut self, room: &str) {
        if let Keeper::Replica(r) = &mut self.keeper {
            r.watched(room);
        }
    }

    /// Cluster node: the broker's position of `room` now; connections of a room that fell
    /// behind it go to the resets.
    pub fn apply_position(&mut self, room: &str, epoch: u64, seq: u64) {
        if let Keeper::Replica(r) = &mut self.keeper {
            r.apply_position(room, epoch, seq);
        }
    }

    /// Cluster node: the broker could not deliver `room` here; its next join asks again.
    pub fn unwatch(&mut self, room: &str) {
        if let Keeper::Replica(r) = &mut self.keeper {
            r.unwatch(room);
        }
    }

    /// Cluster node: completes a join [`Hub::join`] held, with the broker's `state`.
    pub fn join_synced(
        &mut self,
        now: Instant,
        conn: ConnId,
        user: &str,
        request: JoinRequest,
        state: RoomState,
    ) -> Result<JoinOutcome, JoinRefused> {
        match &mut self.keeper {
            Keeper::Replica(r) => r.join_synced(now, conn, user, request, state),
            // A standalone node holds no join for a broker.
            Keeper::Local(l) => l.join(now, conn, user, request),
        }
    }

    /// Cluster node: drops a join [`Hub::join`] held that will not complete.
    pub fn cancel_join(&mut self, room: &str) {
        if let Keeper::Replica(r) = &mut self.keeper {
            r.cancel_join(room);
        }
    }

    /// Cluster node: an event the broker numbered arrives. Members here receive it unless
    /// they have it already; a room that missed messages (a gap, or a new epoch) sends
    /// its members to resume ([`Hub::poll_reset`]) from the broker's history.
    pub fn apply_event(&mut self, now: Instant, room: &str, epoch: u64, seq: u64, frame: Bytes) {
        if let Keeper::Replica(r) = &mut self.keeper {
            r.apply_event(now, room, epoch, seq, frame);
        }
    }

    /// Cluster node: the broker announces a member change in `room`.
    pub fn apply_member(&mut self, now: Instant, room: &str, change: MemberChange) {
        if let Keeper::Replica(r) = &mut self.keeper {
            r.apply_member(now, room, change);
        }
    }

    /// A member's publish: numbered and sent here, or, on a cluster node, for the broker.
    /// `conn` must be a member of `room`, and the room must take numbered messages.
    pub fn publish(
        &mut self,
        now: Instant,
        conn: ConnId,
        room: &str,
        data: &Payload,
    ) -> Result<Publishing, ErrorCode> {
        with_core!(self, c => c.check_member(conn, room, |p| p.numbered))?;
        match &mut self.keeper {
            Keeper::Local(l) => Ok(Publishing::Numbered(l.publish(now, conn, room, data))),
            Keeper::Replica(r) => Ok(Publishing::ToBroker {
                from: r.core.user_of(conn).unwrap_or_default().to_owned(),
            }),
        }
    }

    /// A member's ephemeral message: sent now to every other connection in `room` on this
    /// node, unnumbered and unstored. Returns the encoded `event`, which a cluster node
    /// hands the broker for the other nodes.
    pub fn publish_ephemeral(
        &mut self,
        conn: ConnId,
        room: &str,
        data: &Payload,
    ) -> Result<Bytes, ErrorCode> {
        with_core!(mut self, c => {
            c.check_member(conn, room, |_| true)?;
            let from = c.user_of(conn).map(str::to_owned);
            Ok(c.ephemeral(room, from, data, Some(conn)))
        })
    }

    /// Cluster node: an ephemeral message from another node, for every connection here.
    pub fn apply_ephemeral(&mut self, room: &str, frame: Bytes) {
        with_core!(mut self, c => c.deliver_ephemeral(room, frame, None));
    }

    /// A member replaces its user's presence metadata in `room` (the latest write wins, from
    /// whichever of the user's connections). On a standalone node the change goes out
    /// now; a cluster node returns the user, for the broker to record and announce.
    pub fn update(
        &mut self,
        now: Instant,
        conn: ConnId,
        room: &str,
        meta: Payload,
    ) -> Result<Option<String>, ErrorCode> {
        with_core!(self, c => c.check_member(conn, room, |p| p.presence))?;
        match &mut self.keeper {
            Keeper::Local(l) => {
                l.update(now, conn, room, meta);
                Ok(None)
            }
            // The broker records it and announces it to every node, this one included.
            Keeper::Replica(r) => Ok(Some(r.core.user_of(conn).unwrap_or_default().to_owned())),
        }
    }

    /// The stored messages of `room` before `before`, at most `limit` (within
    /// [`HubConfig::max_page`]): `(epoch, frames oldest first, whether older ones exist)`.
    /// A room this node does not know has none.
    pub fn page(&self, room: &str, before: Option<u64>, limit: u32) -> (u64, Vec<Bytes>, bool) {
        with_core!(self, c => {
            let limit = limit.min(c.config.max_page) as usize;
            match c.rooms.get(room) {
                Some(r) => {
                    let (items, more) = r.history.page(before, limit);
                    (r.epoch, items.map(|s| s.frame.clone()).collect(), more)
                }
                None => (0, Vec::new(), false),
            }
        })
    }

    /// The policy of `room`: the application's answer for its name.
    pub fn policy(&self, room: &str) -> super::RoomPolicy {
        with_core!(self, c => c.policy_of(room))
    }

    /// Broadcasts `data` in `room` on the server's own behalf (no membership needed),
    /// creating the room if needed. Returns the sequence number.
    pub fn broadcast(&mut self, now: Instant, room: &str, data: &Payload) -> u64 {
        match &mut self.keeper {
            Keeper::Local(l) => l.core.number(now, room, None, data),
            Keeper::Replica(r) => r.broadcast(now, room, data),
        }
    }

    /// Unsubscribes `conn` from `room`; its user leaves presence now if it has no other
    /// connection there. Returns whether `conn` was a member.
    pub fn leave(&mut self, now: Instant, conn: ConnId, room: &str) -> bool {
        match &mut self.keeper {
            Keeper::Local(l) => l.leave(now, conn, room),
            Keeper::Replica(r) => r.leave(now, conn, room),
        }
    }

    /// Forgets `conn` entirely. After an abrupt end its user stays present for
    /// [`HubConfig::presence_timeout`] in case it comes back; otherwise it leaves now.
    pub(crate) fn disconnect(&mut self, now: Instant, conn: ConnId, ending: Ending) {
        match &mut self.keeper {
            Keeper::Local(l) => l.disconnect(now, conn, ending),
            Keeper::Replica(r) => r.disconnect(now, conn, ending),
        }
    }

    /// Drops history older than [`HubConfig::history_age`] everywhere and forgets rooms
    /// nothing keeps, so abandoned rooms free their memory.
    pub fn sweep(&mut self, now: Instant) {
        match &mut self.keeper {
            Keeper::Local(l) => l.sweep(now),
            Keeper::Replica(r) => r.sweep(now),
        }
    }

    // --- timers and output -----------------------------------------------------------

    /// When [`Hub::handle_timeout`] must next run (a lingering member's deadline).
    pub fn poll_timeout(&self) -> Option<Instant> {
        with_core!(self, c => earliest(c.next_linger, c.presence_due))
    }

    /// Ends the lingers that are due (the members leave), then sends the presence
    /// changes whose window closed.
    pub fn handle_timeout(&mut self, now: Instant) {
        match &mut self.keeper {
            Keeper::Local(l) => l.handle_timeout(now),
            Keeper::Replica(r) => r.handle_timeout(now),
        }
        with_core!(mut self, c => c.flush_presence(now));
    }

    /// The next delivery to write, if any.
    #[must_use]
    pub fn poll_delivery(&mut self) -> Option<Delivery> {
        with_core!(mut self, c => c.out.pop_front())
    }

    /// Cluster node: the next departure to tell the broker about.
    #[must_use]
    pub fn poll_notice(&mut self) -> Option<Notice> {
        match &mut self.keeper {
            Keeper::Replica(r) => r.poll_notice(),
            Keeper::Local(_) => None,
        }
    }

    /// Cluster node: the next connection whose rooms missed messages; close it so its
    /// client resumes (from the broker's history) wherever it reconnects.
    #[must_use]
    pub fn poll_reset(&mut self) -> Option<ConnId> {
        match &mut self.keeper {
            Keeper::Replica(r) => r.poll_reset(),
            Keeper::Local(_) => None,
        }
    }
}
