//! What both room keepers share: the rooms with their subscribers, position and history,
//! each connection's rooms, and the deliveries (a frame is encoded once and shared by
//! every receiver). The keepers decide numbering, presence announcements and when a room
//! may go; this file only carries their decisions out.

use std::collections::{HashMap, VecDeque};
use std::sync::Arc;

use bytes::Bytes;

use super::{ConnId, Delivery, FrameClass, HubConfig, JoinOutcome, JoinRefused, Recipients};
use crate::codec::MemberRef;
use crate::codec::{encode, encode_joined};
use crate::error::ErrorCode;
use crate::frame::{self, Frame, Id, Member};
use crate::rng::Rng;
use crate::server::history::{History, Stored};
use crate::server::policy::{RoomPolicies, RoomPolicy};
use crate::server::presence::{Ending, Presence};
use crate::server::replay::{self, Start};
use crate::time::Instant;

/// One presence change, as a window logs it (`announce.rs`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Change {
    Joined,
    Left,
    Updated,
}

/// The presence changes of one room held until its window closes (`announce.rs`).
pub(crate) struct Window {
    pub closes: Instant,
    /// Arrivals, departures and updates, in order.
    pub log: Vec<(Member, Change)>,
    /// Members that joined during the window, with the length of the log at their
    /// snapshot.
    pub newcomers: Vec<(ConnId, usize)>,
}

/// Which members a `joined` snapshot lists: the room's presence here, or a replica's view
/// of every node. Borrowed as held, never cloned (5,000 members is 5,000 strings a join).
pub(crate) type Members<X> = for<'r> fn(&'r Room<X>) -> Vec<MemberRef<'r>>;

/// One room on this node; `X` is what the keeper adds (nothing, or a replica's state).
pub(crate) struct Room<X> {
    /// What the room keeps and allows, decided when it was created.
    pub policy: RoomPolicy,
    pub epoch: u64,
    pub seq: u64,
    pub history: History,
    pub subscribers: Vec<ConnId>,
    snapshot: Option<Arc<[ConnId]>>,
    /// The users with a connection on this node (counted, lingering after a drop).
    pub presence: Presence,
    /// Presence changes held until the window closes (see `announce.rs`).
    pub window: Option<Window>,
    pub ext: X,
}

impl<X> Room<X> {
    /// The subscribers as one shared list, rebuilt only after a change.
    pub fn recipients(&mut self) -> Arc<[ConnId]> {
        self.snapshot
            .get_or_insert_with(|| Arc::from(self.subscribers.as_slice()))
            .clone()
    }

    /// Forgets every subscriber (they start over elsewhere).
    pub fn clear_subscribers(&mut self) -> Vec<ConnId> {
        self.snapshot = None;
        std::mem::take(&mut self.subscribers)
    }

    fn add_subscriber(&mut self, conn: ConnId) {
        self.subscribers.push(conn);
        self.snapshot = None;
    }

    fn remove_subscriber(&mut self, conn: ConnId) {
        let before = self.subscribers.len();
        self.subscribers.retain(|c| *c != conn);
        if self.subscribers.len() != before {
            self.snapshot = None;
        }
    }

    /// Starts the room over at `epoch`/`seq`, forgetting what it stored.
    pub fn restart_at(&mut self, epoch: u64, seq: u64) {
        self.epoch = epoch;
        self.seq = seq;
        self.history.clear();
    }

    /// Whether no connection here reads or holds the room (the keeper adds its own rule).
    pub fn is_unused(&self) -> bool {
        self.subscribers.is_empty() && self.presence.is_empty()
    }
}

struct ConnInfo {
    user: String,
    rooms: Vec<String>,
}

/// Every room of the node, and what goes out.
pub(crate) struct RoomCore<X> {
    pub config: HubConfig,
    policies: RoomPolicies,
    rng: Rng,
    pub rooms: HashMap<String, Room<X>>,
    conns: HashMap<ConnId, ConnInfo>,
    pub out: VecDeque<Delivery>,
    /// Numbered and ephemeral events sent live, one per receiving connection
    /// (`Stats::deliveries_numbered`, `Stats::deliveries_ephemeral`).
    pub delivered: (u64, u64),
    /// The earliest end of a lingering member.
    pub next_linger: Option<Instant>,
    /// The rooms with a presence window open, and when the first closes.
    pub windows: Vec<String>,
    pub presence_due: Option<Instant>,
}

impl<X: Default> RoomCore<X> {
    pub fn new(config: HubConfig, seed: u64, policies: RoomPolicies) -> Self {
        RoomCore {
            config,
            policies,
            rng: Rng::new(seed),
            rooms: HashMap::new(),
            conns: HashMap::new(),
            out: VecDeque::new(),
            delivered: (0, 0),
            next_linger: None,
            windows: Vec::new(),
            presence_due: None,
        }
    }

    /// The room named `name`, created with a fresh epoch if it does not exist.
    pub fn room(&mut self, name: &str) -> &mut Room<X> {
        // Looked up first: `entry` would allocate the name on every call (every publish).
        if !self.rooms.contains_key(name) {
            self.create(name);
        }
        self.rooms.get_mut(name).expect("present or just created")
    }

    /// The policy of `room`: the one it was created with, or what it would get.
    pub fn policy_of(&self, room: &str) -> RoomPolicy {
        match self.rooms.get(room) {
            Some(r) => r.policy,
            None => self.policies.of(room, &self.config),
        }
    }

    fn create(&mut self, name: &str) {
        let policy = self.policies.of(name, &self.config);
        let rng = &mut self.rng;
        self.rooms.entry(name.to_owned()).or_insert_with(|| Room {
            policy,
            // 53 bits, so the epoch survives JavaScript numbers.
            epoch: rng.next_u64() >> 11,
            seq: 0,
            history: History::default(),
            subscribers: Vec::new(),
            snapshot: None,
            presence: Presence::default(),
            window: None,
            ext: X::default(),
        });
    }

    /// Whether `conn` may join `room`: returns whether it is in already, or the refusal
    /// when it is in as many rooms as allowed.
    pub fn check_limit(&self, conn: ConnId, room: &str) -> Result<bool, JoinRefused> {
        let Some(info) = self.conns.get(&conn) else {
            return Ok(false);
        };
        let already = info.rooms.iter().any(|r| r == room);
        let limit = self.config.max_rooms_per_conn;
        if !already && info.rooms.len() >= limit {
            return Err(JoinRefused::TooManyRooms { limit });
        }
        Ok(already)
    }

    /// Records `conn` (as `user`) in `room`'s list of its rooms, within the limit. Returns
    /// whether it was in already.
    fn enter(&mut self, conn: ConnId, user: &str, room: &str) -> Result<bool, JoinRefused> {
        let already = self.check_limit(conn, room)?;
        let info = self.conns.entry(conn).or_insert_with(|| ConnInfo {
            user: user.to_owned(),
            rooms: Vec::new(),
        });
        if !already {
            info.rooms.push(room.to_owned());
        }
        Ok(already)
    }

    /// The start of every join: records `conn` (as `user`) in `room` within the room limit,
    /// creates the room if needed and trims its history. Returns whether `conn` was in
    /// already.
    pub fn admit(
        &mut self,
        now: Instant,
        conn: ConnId,
        user: &str,
        room: &str,
    ) -> Result<bool, JoinRefused> {
        let already = self.enter(conn, user, room)?;
        let r = self.room(room);
        let bounds = r.policy.history;
        r.history.trim(now, &bounds);
        Ok(already)
    }

    /// Subscribes `conn` to `room` and counts `user` present; returns the member when the
    /// user is new to the room.
    pub fn seat(
        &mut self,
        conn: ConnId,
        user: &str,
        room: &str,
        meta: Option<frame::Payload>,
        info: Option<frame::Payload>,
    ) -> Option<Member> {
        let r = self.room(room);
        r.add_subscriber(conn);
        r.presence.arrive(user, meta, info)
    }

    /// Whether `conn` may act in `room`: a member (else `not_joined`), in a room whose
    /// policy `allows` it (else `room_policy`).
    pub fn check_member(
        &self,
        conn: ConnId,
        room: &str,
        allows: impl Fn(&RoomPolicy) -> bool,
    ) -> Result<(), ErrorCode> {
        if !self.is_member(conn, room) {
            return Err(ErrorCode::NotJoined);
        }
        match self.rooms.get(room) {
            Some(r) if !allows(&r.policy) => Err(ErrorCode::RoomPolicy),
            _ => Ok(()),
        }
    }

    /// Encodes an ephemeral message (no seq) and sends it to the room's connections here
    /// but `except`; returns the frame.
    pub fn ephemeral(
        &mut self,
        room: &str,
        from: Option<String>,
        data: &frame::Payload,
        except: Option<ConnId>,
    ) -> Bytes {
        let bytes = Bytes::from(encode(&Frame::Event(frame::Event {
            room: room.to_owned(),
            seq: None,
            from,
            data: data.clone(),
        })));
        self.deliver_ephemeral(room, bytes.clone(), except);
        bytes
    }

    /// Sends an ephemeral `frame` to the room's connections here but `except`.
    pub fn deliver_ephemeral(&mut self, room: &str, frame: Bytes, except: Option<ConnId>) {
        let Some(r) = self.rooms.get_mut(room) else {
            return;
        };
        let all = r.recipients();
        // `except` is the publisher, a member: every other one receives it.
        let receivers = all.len().saturating_sub(usize::from(except.is_some()));
        let to = match except {
            Some(c) if all.len() == 1 && all[0] == c => return,
            Some(c) => Recipients::AllBut(all, c),
            None if all.is_empty() => return,
            None => Recipients::Many(all),
        };
        self.delivered.1 += receivers as u64;
        self.out.push_back(Delivery {
            to,
            frame,
            class: FrameClass::Ephemeral,
        });
    }

    /// Whether `conn` is subscribed to `room`.
    /// The rooms `conn` is subscribed to.
    pub fn rooms_of(&self, conn: ConnId) -> Vec<String> {
        self.conns
            .get(&conn)
            .map(|c| c.rooms.clone())
            .unwrap_or_default()
    }

    /// Whether `conn` is subscribed to `room`.
    pub fn is_member(&self, conn: ConnId, room: &str) -> bool {
        self.conns
            .get(&conn)
            .is_some_and(|c| c.rooms.iter().any(|r| r == room))
    }

    /// The user of `conn`, if it is in any room.
    pub fn user_of(&self, conn: ConnId) -> Option<&str> {
        self.conns.get(&conn).map(|c| c.user.as_str())
    }

    /// Stores event `seq` of `room` (in order, once; trimmed) and sends it to every
    /// subscriber: one lookup, on every message's path.
    pub fn store_and_deliver(&mut self, now: Instant, room: &str, seq: u64, frame: Bytes) {
        let Some(r) = self.rooms.get_mut(room) else {
            return;
        };
        let bounds = r.policy.history;
        if bounds.len > 0 && r.history.back().is_none_or(|s| s.seq < seq) {
            r.history.push(Stored {
                seq,
                at: now,
                frame: frame.clone(),
            });
            r.history.trim(now, &bounds);
        }
        if !r.subscribers.is_empty() {
            self.delivered.0 += r.subscribers.len() as u64;
            let to = Recipients::Many(r.recipients());
            self.out.push_back(Delivery::live(to, frame));
        }
    }

    /// Numbers `frame`'s event as the room's next message, stores and delivers it.
    pub fn number(
        &mut self,
        now: Instant,
        room: &str,
        from: Option<String>,
        data: &frame::Payload,
    ) -> u64 {
        let r = self.room(room);
        r.seq += 1;
        let seq = r.seq;
        let bytes = Bytes::from(encode(&Frame::Event(frame::Event {
            room: room.to_owned(),
            seq: Some(seq),
            from,
            data: data.clone(),
        })));
        self.store_and_deliver(now, room, seq, bytes);
        seq
    }

    /// Sends `conn` its `joined` for `room` (with `members`) and the replay `start` asks
    /// for. Both pass the outbound limit ([`FrameClass::Replay`]).
    pub fn send_joined(
        &mut self,
        conn: ConnId,
        id: Id,
        room: &str,
        members: Members<X>,
        start: Start,
    ) -> JoinOutcome {
        let Some(r) = self.rooms.get(room) else {
            return JoinOutcome::default();
        };
        let plan = replay::plan(r.epoch, r.seq, &r.history, start);
        let joined = frame::Joined {
            id,
            room: room.to_owned(),
            epoch: r.epoch,
            seq: plan.seq,
            recovered: plan.recovered,
            presence: Vec::new(),
            policy: Some(r.policy.to_wire()),
        };
        let listed = if r.policy.presence {
            members(r)
        } else {
            Vec::new()
        };
        let text = encode_joined(&joined, listed);
        let replay = |frame| Delivery {
            to: Recipients::One(conn),
            frame,
            class: FrameClass::Replay,
        };
        self.out.push_back(replay(Bytes::from(text)));
        for stored in r.history.range(plan.replay.clone()) {
            self.out.push_back(replay(stored.frame.clone()));
        }
        JoinOutcome {
            epoch: r.epoch,
            seq: plan.seq,
            recovered: plan.recovered,
            replayed: plan.replay.len(),
        }
    }

    /// Takes `conn` out of `room`. Returns its user and the member that left presence, if
    /// the user has no connection left there (`None` inside when it lingers or stays).
    pub fn leave(&mut self, now: Instant, conn: ConnId, room: &str) -> Option<Option<Member>> {
        let info = self.conns.get_mut(&conn)?;
        let pos = info.rooms.iter().position(|r| r == room)?;
        info.rooms.swap_remove(pos);
        let user = info.user.clone();
        Some(self.detach(now, conn, &user, room, Ending::Clean))
    }

    /// Forgets `conn` entirely; returns each room it was in with the member that left
    /// presence there, if any.
    pub fn disconnect(
        &mut self,
        now: Instant,
        conn: ConnId,
        ending: Ending,
    ) -> Vec<(String, Option<Member>)> {
        let Some(info) = self.conns.remove(&conn) else {
            return Vec::new();
        };
        info.rooms
            .into_iter()
            .map(|room| {
                let gone = self.detach(now, conn, &info.user, &room, ending);
                (room, gone)
            })
            .collect()
    }

    fn detach(
        &mut self,
        now: Instant,
        conn: ConnId,
        user: &str,
        room: &str,
        ending: Ending,
    ) -> Option<Member> {
        let timeout = self.config.presence_timeout;
        let r = self.rooms.get_mut(room)?;
        r.remove_subscriber(conn);
        r.presence
            .depart(now, user, ending, timeout, &mut self.next_linger)
    }

    /// Ends the lingers due by `now`: every room with the members that left.
    pub fn expire(&mut self, now: Instant) -> Vec<(String, Vec<Member>)> {
        if self.next_linger.is_none_or(|t| t > now) {
            return Vec::new();
        }
        let mut next = None;
        let mut gone = Vec::new();
        for (name, room) in self.rooms.iter_mut() {
            let left = room.presence.expire(now, &mut next);
            gone.push((name.clone(), left));
        }
        self.next_linger = next;
        gone
    }

    /// Forgets `room` if `removable` says nothing keeps it.
    pub fn remove_if(&mut self, room: &str, removable: impl Fn(&Room<X>) -> bool) -> bool {
        let remove = self.rooms.get(room).is_some_and(removable);
        if remove {
            self.rooms.remove(room);
        }
        remove
    }

    /// Trims every history and forgets the rooms `removable` lets go; returns their names.
    pub fn sweep(&mut self, now: Instant, removable: impl Fn(&Room<X>) -> bool) -> Vec<String> {
        let mut gone = Vec::new();
        self.rooms.retain(|name, room| {
            let bounds = room.policy.history;
            room.history.trim(now, &bounds);
            let keep = !removable(room);
            if !keep {
                gone.push(name.clone());
            }
            keep
        });
        gone
    }
}

/// What the two keepers do alike over their core: a connection leaves a room, or goes,
/// through the core, and each keeper says what a member's departure means (a presence
/// diff, or a notice to the broker).
pub(crate) trait RoomKeeper {
    /// What the keeper adds to a room.
    type Ext: Default;

    fn core_mut(&mut self) -> &mut RoomCore<Self::Ext>;

    /// `gone` left `room` on this node (or nobody did); the room may go.
    fn departed(&mut self, now: Instant, room: &str, gone: Option<Member>);

    /// The members a `joined` snapshot of `room` lists, as the keeper knows them.
    fn room_members(room: &Room<Self::Ext>) -> Vec<Member>;

    /// Drops aged history and forgets the rooms nothing keeps.
    fn sweep(&mut self, now: Instant);

    /// Takes `conn` out of `room`; returns whether it was in.
    fn leave(&mut self, now: Instant, conn: ConnId, room: &str) -> bool {
        let Some(gone) = self.core_mut().leave(now, conn, room) else {
            return false;
        };
        self.departed(now, room, gone);
        true
    }

    /// Forgets `conn`; its users leave, or linger after an abrupt end.
    fn disconnect(&mut self, now: Instant, conn: ConnId, ending: Ending) {
        for (room, gone) in self.core_mut().disconnect(now, conn, ending) {
            self.departed(now, &room, gone);
        }
    }
}
