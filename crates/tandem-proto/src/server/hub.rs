//! The IO-free room hub: membership, presence, per-room sequence and epoch, bounded history,
//! replay on resume. A broadcast is encoded once; every receiver shares the same bytes.

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::sync::Arc;

use bytes::Bytes;
use core::time::Duration;

use super::history::{Bounds, History, Stored};
use super::replay;
pub use super::replay::Start;
use crate::codec::encode;
use crate::error::ErrorCode;
use crate::frame::{self, Frame, Id, Member, Payload};
use crate::rng::Rng;
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
    /// How long a member whose connection dropped abruptly stays present. Default 5 s.
    pub presence_timeout: Duration,
    /// Rooms one connection may be in. Default 64.
    pub max_rooms_per_conn: usize,
}

impl HubConfig {
    /// The bounds of each room's history.
    pub(crate) fn history_bounds(&self) -> Bounds {
        Bounds {
            len: self.history_len,
            age: self.history_age,
            bytes: self.history_bytes,
        }
    }
}

impl Default for HubConfig {
    fn default() -> Self {
        HubConfig {
            history_len: 100_000,
            history_age: Duration::from_secs(120),
            history_bytes: 1 << 20,
            presence_timeout: Duration::from_secs(5),
            max_rooms_per_conn: 64,
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
}

/// How a driver's bounded outbound queue treats a frame.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FrameClass {
    /// Counts against the receiver's outbound limit; once one is refused, the receiver is
    /// a slow consumer and gets nothing more before its 1013 close.
    Live,
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

struct PresenceEntry {
    meta: Option<Payload>,
    live: usize,
    linger_until: Option<Instant>,
}

struct Room {
    epoch: u64,
    seq: u64,
    history: History,
    subscribers: Vec<ConnId>,
    snapshot: Option<Arc<[ConnId]>>,
    /// The users with a connection on this node (counted, lingering after a drop).
    presence: BTreeMap<String, PresenceEntry>,
    /// Clustered: whether `epoch` and `seq` come from the broker yet.
    known: bool,
    /// Clustered: joins waiting for the broker's room state.
    pending: usize,
    /// Clustered: the room's members on every node, as the broker reports them.
    view: BTreeMap<String, Option<Payload>>,
}

impl Room {
    fn recipients(&mut self) -> Arc<[ConnId]> {
        self.snapshot
            .get_or_insert_with(|| Arc::from(self.subscribers.as_slice()))
            .clone()
    }

    fn remove_subscriber(&mut self, conn: ConnId) -> bool {
        let before = self.subscribers.len();
        self.subscribers.retain(|c| *c != conn);
        let removed = self.subscribers.len() != before;
        if removed {
            self.snapshot = None;
        }
        removed
    }

    fn trim(&mut self, now: Instant, config: &HubConfig) {
        self.history.trim(now, &config.history_bounds());
    }

    fn members(&self, clustered: bool) -> Vec<Member> {
        if clustered {
            return self
                .view
                .iter()
                .map(|(user, meta)| Member {
                    user: user.clone(),
                    meta: meta.clone(),
                })
                .collect();
        }
        self.presence
            .iter()
            .map(|(user, e)| Member {
                user: user.clone(),
                meta: e.meta.clone(),
            })
            .collect()
    }

    /// Whether nothing keeps the room: no member, no presence, no join on its way, and
    /// (on a single node, where the hub is the history) no history.
    fn is_removable(&self, clustered: bool) -> bool {
        self.subscribers.is_empty()
            && self.presence.is_empty()
            && self.pending == 0
            && (clustered || self.history.is_empty())
    }

    /// Starts the room over at `epoch`/`seq`, forgetting what it stored.
    fn restart_at(&mut self, epoch: u64, seq: u64) {
        self.epoch = epoch;
        self.seq = seq;
        self.known = true;
        self.history.clear();
    }

    /// Stores one event (in order, once) and trims.
    fn store(&mut self, now: Instant, config: &HubConfig, seq: u64, frame: Bytes) {
        if config.history_len > 0 && self.history.back().is_none_or(|s| s.seq < seq) {
            self.history.push(Stored {
                seq,
                at: now,
                frame,
            });
            self.trim(now, config);
        }
    }

    /// Takes the broker's state of a clustered room. Members already here that were
    /// reading another epoch are returned: they must start over. Returns the members
    /// new to the view, to announce to the members already here.
    fn merge(
        &mut self,
        now: Instant,
        config: &HubConfig,
        state: RoomState,
        resets: &mut Vec<ConnId>,
    ) -> Vec<Member> {
        let readers = !self.subscribers.is_empty();
        if self.known && self.epoch == state.epoch {
            let mut all: BTreeMap<u64, Stored> = std::mem::take(&mut self.history)
                .into_iter()
                .map(|s| (s.seq, s))
                .collect();
            for (seq, frame) in state.history {
                all.entry(seq).or_insert(Stored {
                    seq,
                    at: now,
                    frame,
                });
            }
            // Keep the contiguous run that ends with the newest message.
            let mut run: Vec<Stored> = Vec::with_capacity(all.len());
            for (_, s) in all.into_iter().rev() {
                if run.last().is_some_and(|next| next.seq != s.seq + 1) {
                    break;
                }
                run.push(s);
            }
            run.reverse();
            self.history = run.into_iter().collect();
            if !readers {
                self.seq = self.seq.max(state.seq);
            }
        } else {
            if self.known && readers {
                resets.extend(self.subscribers.iter().copied());
            }
            self.restart_at(state.epoch, state.seq);
            self.history = state
                .history
                .into_iter()
                .map(|(seq, frame)| Stored {
                    seq,
                    at: now,
                    frame,
                })
                .collect();
        }
        self.trim(now, config);
        let mut arrived = Vec::new();
        if readers {
            for m in state.members {
                if !self.view.contains_key(&m.user) {
                    self.view.insert(m.user.clone(), m.meta.clone());
                    arrived.push(m);
                }
            }
        } else {
            self.view = state
                .members
                .into_iter()
                .map(|m| (m.user, m.meta))
                .collect();
        }
        arrived
    }
}

/// One presence diff for `to`, encoded once.
fn presence_diff(
    room: &str,
    joined: Vec<Member>,
    left: Vec<Member>,
    to: Arc<[ConnId]>,
) -> Delivery {
    let diff = Frame::Presence(frame::Presence {
        room: room.to_owned(),
        joined,
        left,
    });
    Delivery::live(Recipients::Many(to), Bytes::from(encode(&diff)))
}

/// A clustered room as the shared broker has it: the answer to a
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

/// What a clustered hub asks the broker to record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Notice {
    /// `user` has no connection left in `room` on this node.
    Depart {
        /// The room.
        room: String,
        /// The user.
        user: String,
    },
}

/// A change of a clustered room's members, as the broker announces it.
#[derive(Debug, Clone)]
pub enum MemberChange {
    /// The user arrived (on some node).
    Joined(Member),
    /// The user is gone from every node.
    Left(String),
}

struct ConnInfo {
    user: String,
    rooms: Vec<String>,
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
    /// Where to start reading.
    pub start: Start,
}

/// The outcome of a join the hub accepted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
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

/// All rooms of one server node.
///
/// The hub never does IO: it returns [`Delivery`]s through [`Hub::poll_delivery`], and the
/// driver writes each delivery's bytes to every recipient.
pub struct Hub {
    config: HubConfig,
    rng: Rng,
    rooms: HashMap<String, Room>,
    conns: HashMap<ConnId, ConnInfo>,
    out: VecDeque<Delivery>,
    next_linger: Option<Instant>,
    clustered: bool,
    notices: VecDeque<Notice>,
    resets: Vec<ConnId>,
}

impl Hub {
    /// An empty hub. `seed` feeds the room epochs: a restarted server must use a new seed
    /// so clients learn their positions are gone.
    pub fn new(config: HubConfig, seed: u64) -> Self {
        Hub {
            config,
            rng: Rng::new(seed),
            rooms: HashMap::new(),
            conns: HashMap::new(),
            out: VecDeque::new(),
            next_linger: None,
            clustered: false,
            notices: VecDeque::new(),
            resets: Vec::new(),
        }
    }

    /// A hub for one node of a cluster: a shared broker numbers the messages, keeps the
    /// history and the members of every node, and this hub is the node's replica. Joins go
    /// through [`Hub::prepare_join`] and [`Hub::join_synced`]; events and member changes
    /// come in through [`Hub::apply_event`] and [`Hub::apply_member`].
    pub fn clustered(config: HubConfig, seed: u64) -> Self {
        Hub {
            clustered: true,
            ..Hub::new(config, seed)
        }
    }

    /// Whether this hub is a node of a cluster.
    pub fn is_clustered(&self) -> bool {
        self.clustered
    }

    /// The room named `name`, created with a fresh epoch if it does not exist.
    fn room_entry<'a>(
        rooms: &'a mut HashMap<String, Room>,
        rng: &mut Rng,
        name: &str,
    ) -> &'a mut Room {
        rooms.entry(name.to_owned()).or_insert_with(|| Room {
            // 53 bits, so the epoch survives JavaScript numbers.
            epoch: rng.next_u64() >> 11,
            seq: 0,
            history: History::default(),
            subscribers: Vec::new(),
            snapshot: None,
            presence: BTreeMap::new(),
            known: false,
            pending: 0,
            view: BTreeMap::new(),
        })
    }

    /// The hub's configuration.
    pub fn config(&self) -> &HubConfig {
        &self.config
    }

    /// Number of rooms with members or presence.
    pub fn room_count(&self) -> usize {
        self.rooms.len()
    }

    /// The current `(epoch, seq)` of a room, if it exists.
    pub fn position(&self, room: &str) -> Option<(u64, u64)> {
        self.rooms.get(room).map(|r| (r.epoch, r.seq))
    }

    /// The presence members of a room.
    pub fn members(&self, room: &str) -> Vec<Member> {
        self.rooms
            .get(room)
            .map(|r| r.members(self.clustered))
            .unwrap_or_default()
    }

    /// Whether `conn` is subscribed to `room`.
    pub fn is_member(&self, conn: ConnId, room: &str) -> bool {
        self.conns
            .get(&conn)
            .is_some_and(|c| c.rooms.iter().any(|r| r == room))
    }

    /// Subscribes `conn` (authenticated as `user`) to `room`, sends it `joined`, the
    /// replay, and tells the other members if `user` is new to the room.
    pub fn join(
        &mut self,
        now: Instant,
        conn: ConnId,
        user: &str,
        request: JoinRequest,
    ) -> Result<JoinOutcome, ErrorCode> {
        self.attach(now, conn, user, request, None)
    }

    /// Clustered: checks a join can proceed and holds the room until the broker's state
    /// arrives (events meanwhile are kept). Returns whether `user` is new to the room on
    /// this node, so the broker must count its arrival.
    pub fn prepare_join(
        &mut self,
        conn: ConnId,
        user: &str,
        room_name: &str,
    ) -> Result<bool, ErrorCode> {
        if let Some(info) = self.conns.get(&conn) {
            let already = info.rooms.iter().any(|r| r == room_name);
            if !already && info.rooms.len() >= self.config.max_rooms_per_conn {
                return Err(ErrorCode::TooManyRooms);
            }
        }
        let room = Self::room_entry(&mut self.rooms, &mut self.rng, room_name);
        room.pending += 1;
        Ok(!room.presence.contains_key(user))
    }

    /// Clustered: completes a join [`Hub::prepare_join`] held, with the broker's `state`.
    pub fn join_synced(
        &mut self,
        now: Instant,
        conn: ConnId,
        user: &str,
        request: JoinRequest,
        state: RoomState,
    ) -> Result<JoinOutcome, ErrorCode> {
        self.release(&request.room);
        self.attach(now, conn, user, request, Some(state))
    }

    /// Clustered: drops a join [`Hub::prepare_join`] held that will not complete.
    pub fn cancel_join(&mut self, room_name: &str) {
        self.release(room_name);
        if self
            .rooms
            .get(room_name)
            .is_some_and(|r| r.is_removable(self.clustered))
        {
            self.rooms.remove(room_name);
        }
    }

    fn release(&mut self, room_name: &str) {
        if let Some(room) = self.rooms.get_mut(room_name) {
            room.pending = room.pending.saturating_sub(1);
        }
    }

    /// Whether `user` has a connection (or a lingering one) in `room` on this node.
    pub fn is_present(&self, room: &str, user: &str) -> bool {
        self.rooms
            .get(room)
            .is_some_and(|r| r.presence.contains_key(user))
    }

    fn attach(
        &mut self,
        now: Instant,
        conn: ConnId,
        user: &str,
        request: JoinRequest,
        state: Option<RoomState>,
    ) -> Result<JoinOutcome, ErrorCode> {
        let JoinRequest {
            id,
            room: room_name,
            meta,
            start,
        } = request;
        let room_name = room_name.as_str();
        let info = self.conns.entry(conn).or_insert_with(|| ConnInfo {
            user: user.to_owned(),
            rooms: Vec::new(),
        });
        let already = info.rooms.iter().any(|r| r == room_name);
        if !already && info.rooms.len() >= self.config.max_rooms_per_conn {
            return Err(ErrorCode::TooManyRooms);
        }
        if !already {
            info.rooms.push(room_name.to_owned());
        }
        let config = self.config;
        let clustered = self.clustered;
        let room = Self::room_entry(&mut self.rooms, &mut self.rng, room_name);
        room.trim(now, &config);
        let mut newcomers = Vec::new();
        if let Some(state) = state {
            let before = self.resets.len();
            newcomers = room.merge(now, &config, state, &mut self.resets);
            if self.resets.len() > before {
                // The members already here start over; the joiner is the first reader.
                room.subscribers.clear();
                room.snapshot = None;
            }
        }
        if !already {
            room.subscribers.push(conn);
            room.snapshot = None;
        }

        // Presence: a user with several connections is one member.
        let mut arrived = None;
        if !already {
            match room.presence.get_mut(user) {
                Some(entry) => {
                    entry.live += 1;
                    entry.linger_until = None;
                }
                None => {
                    room.presence.insert(
                        user.to_owned(),
                        PresenceEntry {
                            meta: meta.clone(),
                            live: 1,
                            linger_until: None,
                        },
                    );
                    // Clustered, the broker announces arrivals to every node.
                    if !clustered {
                        arrived = Some(Member {
                            user: user.to_owned(),
                            meta,
                        });
                    }
                }
            }
        }

        let plan = replay::plan(room.epoch, room.seq, &room.history, start);
        let (seq, recovered) = (plan.seq, plan.recovered);
        let outcome_epoch = room.epoch;
        let presence = room.members(clustered);
        let joined = Frame::Joined(frame::Joined {
            id,
            room: room_name.to_owned(),
            epoch: outcome_epoch,
            seq,
            recovered,
            presence,
        });
        self.out.push_back(Delivery {
            to: Recipients::One(conn),
            frame: Bytes::from(encode(&joined)),
            class: FrameClass::Replay,
        });
        let replayed = plan.replay.len();
        for stored in room.history.range(plan.replay) {
            self.out.push_back(Delivery {
                to: Recipients::One(conn),
                frame: stored.frame.clone(),
                class: FrameClass::Replay,
            });
        }
        newcomers.extend(arrived);
        if !newcomers.is_empty() {
            let others: Arc<[ConnId]> = room
                .subscribers
                .iter()
                .copied()
                .filter(|c| *c != conn)
                .collect();
            if !others.is_empty() {
                let diff = presence_diff(room_name, newcomers, Vec::new(), others);
                self.out.push_back(diff);
            }
        }
        Ok(JoinOutcome {
            epoch: outcome_epoch,
            seq,
            recovered,
            replayed,
        })
    }

    /// Clustered: an event the broker numbered arrives. Members here receive it unless
    /// they already have it; a room that missed messages (a gap, or a new epoch) sends its
    /// members to start over ([`Hub::poll_reset`]), since what they missed is in the
    /// broker's history for their resume.
    pub fn apply_event(
        &mut self,
        now: Instant,
        room_name: &str,
        epoch: u64,
        seq: u64,
        frame: Bytes,
    ) {
        let config = self.config;
        let Some(room) = self.rooms.get_mut(room_name) else {
            // Nobody here reads the room.
            return;
        };
        if !room.known {
            room.restart_at(epoch, seq.saturating_sub(1));
        } else if epoch != room.epoch || seq > room.seq + 1 {
            if !room.subscribers.is_empty() {
                self.resets.append(&mut room.subscribers);
                room.snapshot = None;
            }
            room.restart_at(epoch, seq.saturating_sub(1));
        } else if seq <= room.seq {
            return;
        }
        room.seq = seq;
        room.store(now, &config, seq, frame.clone());
        if !room.subscribers.is_empty() {
            self.out
                .push_back(Delivery::live(Recipients::Many(room.recipients()), frame));
        }
    }

    /// Clustered: the broker announces a member change in `room`.
    pub fn apply_member(&mut self, room_name: &str, change: MemberChange) {
        let Some(room) = self.rooms.get_mut(room_name) else {
            return;
        };
        let (joined, left) = match change {
            MemberChange::Joined(m) => {
                if room.view.contains_key(&m.user) {
                    return;
                }
                room.view.insert(m.user.clone(), m.meta.clone());
                (vec![m], Vec::new())
            }
            MemberChange::Left(user) => match room.view.remove(&user) {
                Some(meta) => (Vec::new(), vec![Member { user, meta }]),
                None => return,
            },
        };
        Self::announce(&mut self.out, room_name, room, joined, left);
    }

    /// Clustered: the next departure to tell the broker about.
    #[must_use]
    pub fn poll_notice(&mut self) -> Option<Notice> {
        self.notices.pop_front()
    }

    /// Clustered: the next connection whose rooms missed messages; close it so its client
    /// resumes (from the broker's history) wherever it reconnects.
    #[must_use]
    pub fn poll_reset(&mut self) -> Option<ConnId> {
        self.resets.pop()
    }

    /// Unsubscribes `conn` from `room`; its user leaves presence now if it has no other
    /// connection there. Returns whether `conn` was a member.
    pub fn leave(&mut self, now: Instant, conn: ConnId, room: &str) -> bool {
        let Some(info) = self.conns.get_mut(&conn) else {
            return false;
        };
        let Some(pos) = info.rooms.iter().position(|r| r == room) else {
            return false;
        };
        info.rooms.swap_remove(pos);
        let user = info.user.clone();
        self.detach(now, conn, &user, room, false);
        true
    }

    /// Forgets `conn` entirely. When `abrupt` (no clean close), its user stays present for
    /// [`HubConfig::presence_timeout`] in case it comes back; otherwise it leaves now.
    pub fn disconnect(&mut self, now: Instant, conn: ConnId, abrupt: bool) {
        let Some(info) = self.conns.remove(&conn) else {
            return;
        };
        for room in &info.rooms {
            self.detach(now, conn, &info.user, room, abrupt);
        }
    }

    fn detach(&mut self, now: Instant, conn: ConnId, user: &str, room_name: &str, linger: bool) {
        let Some(room) = self.rooms.get_mut(room_name) else {
            return;
        };
        room.remove_subscriber(conn);
        let mut gone = None;
        if let Some(entry) = room.presence.get_mut(user) {
            entry.live = entry.live.saturating_sub(1);
            if entry.live == 0 {
                if linger && !self.config.presence_timeout.is_zero() {
                    let until = now + self.config.presence_timeout;
                    entry.linger_until = Some(until);
                    self.next_linger = earliest(self.next_linger, Some(until));
                } else {
                    let meta = entry.meta.take();
                    room.presence.remove(user);
                    gone = Some(Member {
                        user: user.to_owned(),
                        meta,
                    });
                }
            }
        }
        if let Some(member) = gone {
            if self.clustered {
                self.notices.push_back(Notice::Depart {
                    room: room_name.to_owned(),
                    user: member.user,
                });
            } else {
                Self::announce(&mut self.out, room_name, room, Vec::new(), vec![member]);
            }
        }
        if room.is_removable(self.clustered) {
            self.rooms.remove(room_name);
        }
    }

    /// Tells every member of `room` who arrived and who left, if anyone did.
    fn announce(
        out: &mut VecDeque<Delivery>,
        name: &str,
        room: &mut Room,
        joined: Vec<Member>,
        left: Vec<Member>,
    ) {
        if room.subscribers.is_empty() || (joined.is_empty() && left.is_empty()) {
            return;
        }
        out.push_back(presence_diff(name, joined, left, room.recipients()));
    }

    /// Broadcasts `data` in `room` from `conn` (which must be a member), returning the
    /// message's sequence number.
    pub fn publish(
        &mut self,
        now: Instant,
        conn: ConnId,
        room: &str,
        data: &Payload,
    ) -> Result<u64, ErrorCode> {
        let info = self.conns.get(&conn).ok_or(ErrorCode::NotJoined)?;
        if !info.rooms.iter().any(|r| r == room) {
            return Err(ErrorCode::NotJoined);
        }
        let from = info.user.clone();
        Ok(self.broadcast(now, room, Some(from), data))
    }

    /// Broadcasts `data` in `room` on the server's own behalf (no membership needed),
    /// creating the room if needed. Returns the sequence number.
    pub fn broadcast(
        &mut self,
        now: Instant,
        room_name: &str,
        from: Option<String>,
        data: &Payload,
    ) -> u64 {
        let config = self.config;
        let room = Self::room_entry(&mut self.rooms, &mut self.rng, room_name);
        room.seq += 1;
        let seq = room.seq;
        let bytes = Bytes::from(encode(&Frame::Event(frame::Event {
            room: room_name.to_owned(),
            seq,
            from,
            data: data.clone(),
        })));
        room.known = true;
        room.store(now, &config, seq, bytes.clone());
        if !room.subscribers.is_empty() {
            self.out
                .push_back(Delivery::live(Recipients::Many(room.recipients()), bytes));
        }
        seq
    }

    /// When [`Hub::handle_timeout`] must next run (a lingering member's deadline).
    pub fn poll_timeout(&self) -> Option<Instant> {
        self.next_linger
    }

    /// Removes lingering members whose time is up and announces them as left.
    pub fn handle_timeout(&mut self, now: Instant) {
        if self.next_linger.is_none_or(|t| t > now) {
            return;
        }
        let mut next = None;
        let mut empty = Vec::new();
        for (name, room) in self.rooms.iter_mut() {
            let mut left = Vec::new();
            room.presence.retain(|user, e| match e.linger_until {
                Some(t) if e.live == 0 && t <= now => {
                    left.push(Member {
                        user: user.clone(),
                        meta: e.meta.take(),
                    });
                    false
                }
                Some(t) if e.live == 0 => {
                    next = earliest(next, Some(t));
                    true
                }
                _ => true,
            });
            if self.clustered {
                self.notices
                    .extend(left.into_iter().map(|m| Notice::Depart {
                        room: name.clone(),
                        user: m.user,
                    }));
            } else {
                Self::announce(&mut self.out, name, room, Vec::new(), left);
            }
            if room.is_removable(self.clustered) {
                empty.push(name.clone());
            }
        }
        for name in empty {
            self.rooms.remove(&name);
        }
        self.next_linger = next;
    }

    /// Drops history older than [`HubConfig::history_age`] everywhere and forgets rooms
    /// with no member, no presence and no history left, so abandoned rooms free their memory.
    pub fn sweep(&mut self, now: Instant) {
        let config = self.config;
        let clustered = self.clustered;
        self.rooms.retain(|_, room| {
            room.trim(now, &config);
            !room.is_removable(clustered)
        });
    }

    /// The next delivery to write, if any.
    #[must_use]
    pub fn poll_delivery(&mut self) -> Option<Delivery> {
        self.out.pop_front()
    }
}
