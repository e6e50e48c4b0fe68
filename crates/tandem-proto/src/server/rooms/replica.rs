//! A node of a cluster: a shared broker numbers the messages and keeps each room's
//! history and members on every node; this node's rooms are its replica. Joins wait for
//! the broker's room state, events and member changes come from the broker, and a user
//! leaving this node is reported to the broker, which announces it once the user is gone
//! from every node.

use std::collections::{BTreeMap, VecDeque};

use bytes::Bytes;

use super::shared::{Room, RoomCore, RoomKeeper};
use super::{ConnId, HubConfig, JoinOutcome, JoinRefused, JoinRequest, MemberChange, Notice};
use super::{RoomState, Seen, presence_members};
use crate::codec::MemberRef;
use crate::frame::{Member, Payload};
use crate::server::history::Stored;
use crate::server::policy::RoomPolicies;
use crate::time::Instant;

/// What a replica adds to a room.
#[derive(Default)]
pub(crate) struct Replica {
    /// Whether `epoch` and `seq` come from the broker yet.
    known: bool,
    /// Joins waiting for the broker's room state.
    pending: usize,
    /// The room's members on every node, as the broker reports them.
    view: BTreeMap<String, Seen>,
    /// Whether the broker delivers the room's messages here: asked with the room's first
    /// join, and confirmed before any join's sync goes out, so nothing published between
    /// the broker's snapshot and the subscription is missed.
    watch: Watch,
}

/// Where a replica room's subscription to the broker stands.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
enum Watch {
    /// Not asked.
    #[default]
    None,
    /// Asked ([`Notice::Watch`]), not confirmed yet.
    Asked,
    /// Confirmed: the broker delivers the room's messages.
    Watched,
}

/// A replica room goes once nobody here uses it and no join waits for it (the broker
/// keeps the history and the epoch).
fn removable(room: &Room<Replica>) -> bool {
    room.is_unused() && room.ext.pending == 0
}

/// The rooms of one node of a cluster.
pub(crate) struct ReplicaRooms {
    pub core: RoomCore<Replica>,
    notices: VecDeque<Notice>,
    resets: Vec<ConnId>,
}

impl ReplicaRooms {
    pub fn new(config: HubConfig, seed: u64, policies: RoomPolicies) -> Self {
        ReplicaRooms {
            core: RoomCore::new(config, seed, policies),
            notices: VecDeque::new(),
            resets: Vec::new(),
        }
    }

    /// Checks a join can proceed and holds the room until the broker's state arrives
    /// (events meanwhile are kept). Returns whether `user` is new to the room on this
    /// node, so the broker must count its arrival.
    pub fn prepare_join(
        &mut self,
        conn: ConnId,
        user: &str,
        room: &str,
    ) -> Result<(bool, bool), JoinRefused> {
        self.core.check_limit(conn, room)?;
        let r = self.core.room(room);
        r.ext.pending += 1;
        let arrive = !r.presence.contains(user);
        if r.ext.watch == Watch::None {
            r.ext.watch = Watch::Asked;
            self.notices.push_back(Notice::Watch {
                room: room.to_owned(),
            });
        }
        Ok((arrive, r.ext.watch == Watch::Watched))
    }

    /// The broker delivers `room`'s messages here now.
    pub fn watched(&mut self, room: &str) {
        if let Some(r) = self.core.rooms.get_mut(room) {
            r.ext.watch = Watch::Watched;
        }
    }

    /// The broker could not deliver `room` here: the next join asks again.
    pub fn unwatch(&mut self, room: &str) {
        if let Some(r) = self.core.rooms.get_mut(room) {
            r.ext.watch = Watch::None;
        }
    }

    /// Forgets `room` if nobody uses it, telling the broker it need not deliver it.
    fn release_room(&mut self, room: &str) {
        if self.core.remove_if(room, removable) {
            self.notices.push_back(Notice::Unwatch {
                room: room.to_owned(),
            });
        }
    }

    /// Completes a join [`ReplicaRooms::prepare_join`] held, with the broker's `state`.
    pub fn join_synced(
        &mut self,
        now: Instant,
        conn: ConnId,
        user: &str,
        request: JoinRequest,
        state: RoomState,
    ) -> Result<JoinOutcome, JoinRefused> {
        self.release(&request.room);
        let JoinRequest {
            id,
            room,
            meta,
            info,
            start,
        } = request;
        let already = self.core.admit(now, conn, user, &room)?;
        let newcomers = self.merge(now, &room, state);
        if !already {
            // Counted here, announced by the broker to every node.
            let _ = self.core.seat(conn, user, &room, meta, info);
        }
        let outcome = self.core.send_joined(conn, id, &room, view_pairs, start);
        self.core
            .announce(now, &room, newcomers, Vec::new(), Some(conn));
        Ok(outcome)
    }

    /// Drops a join [`ReplicaRooms::prepare_join`] held that will not complete.
    pub fn cancel_join(&mut self, room: &str) {
        self.release(room);
        self.release_room(room);
    }

    fn release(&mut self, room: &str) {
        if let Some(r) = self.core.rooms.get_mut(room) {
            r.ext.pending = r.ext.pending.saturating_sub(1);
        }
    }

    /// Takes the broker's state of a room. Members already here that were reading another
    /// epoch must start over (they go to the resets). Returns the members new to the
    /// view, to announce to the members already here.
    fn merge(&mut self, now: Instant, name: &str, state: RoomState) -> Vec<Member> {
        let r = self.core.room(name);
        let bounds = r.policy.history;
        let readers = !r.subscribers.is_empty();
        if r.ext.known && r.epoch == state.epoch {
            r.history = contiguous_union(std::mem::take(&mut r.history), state.history, now);
            if !readers {
                r.seq = r.seq.max(state.seq);
            }
        } else {
            if r.ext.known && readers {
                // The members already here start over; the joiner is the first reader.
                self.resets.extend(r.clear_subscribers());
            }
            r.restart_at(state.epoch, state.seq);
            r.ext.known = true;
            r.history = state
                .history
                .into_iter()
                .map(|(seq, frame)| Stored {
                    seq,
                    at: now,
                    frame,
                })
                .collect();
        }
        r.history.trim(now, &bounds);
        if !readers {
            r.ext.view = state
                .members
                .into_iter()
                .map(|m| (m.user, (m.meta, m.info)))
                .collect();
            return Vec::new();
        }
        let mut arrived = Vec::new();
        for m in state.members {
            if !r.ext.view.contains_key(&m.user) {
                r.ext
                    .view
                    .insert(m.user.clone(), (m.meta.clone(), m.info.clone()));
                arrived.push(m);
            }
        }
        arrived
    }

    /// An event the broker numbered arrives. Members here receive it unless they have it
    /// already; a room that missed messages (a gap, or a new epoch) sends its members to
    /// start over ([`ReplicaRooms::poll_reset`]), since what they missed is in the
    /// broker's history for their resume.
    pub fn apply_event(&mut self, now: Instant, name: &str, epoch: u64, seq: u64, frame: Bytes) {
        let Some(r) = self.core.rooms.get_mut(name) else {
            // Nobody here reads the room.
            return;
        };
        if !r.ext.known {
            r.restart_at(epoch, seq.saturating_sub(1));
            r.ext.known = true;
        } else if epoch != r.epoch || seq > r.seq + 1 {
            self.resets.extend(r.clear_subscribers());
            r.restart_at(epoch, seq.saturating_sub(1));
        } else if seq <= r.seq {
            return;
        }
        r.seq = seq;
        self.core.store_and_deliver(now, name, seq, frame);
    }

    /// The broker's position of `room` now: if this node is behind it (messages were
    /// missed) or on another epoch, the room's members start over.
    pub fn apply_position(&mut self, name: &str, epoch: u64, seq: u64) {
        let Some(r) = self.core.rooms.get_mut(name) else {
            return;
        };
        if r.ext.known && (epoch != r.epoch || seq > r.seq) {
            self.resets.extend(r.clear_subscribers());
            r.restart_at(epoch, seq);
        }
    }

    /// The broker announces a member change in `room`.
    pub fn apply_member(&mut self, now: Instant, name: &str, change: MemberChange) {
        let Some(r) = self.core.rooms.get_mut(name) else {
            return;
        };
        let (joined, left) = match change {
            MemberChange::Joined(m) => {
                if r.ext.view.contains_key(&m.user) {
                    return;
                }
                r.ext
                    .view
                    .insert(m.user.clone(), (m.meta.clone(), m.info.clone()));
                (vec![m], Vec::new())
            }
            MemberChange::Left(user) => match r.ext.view.remove(&user) {
                Some((meta, info)) => (Vec::new(), vec![Member { user, meta, info }]),
                None => return,
            },
            MemberChange::Updated(m) => {
                let Some((meta, _)) = r.ext.view.get_mut(&m.user) else {
                    return;
                };
                meta.clone_from(&m.meta);
                // This node's own count keeps the meta too, for its next snapshot.
                if let Some(new) = m.meta.clone() {
                    let _ = r.presence.update(&m.user, new);
                }
                self.core.announce_update(now, name, m);
                return;
            }
        };
        self.core.announce(now, name, joined, left, None);
    }

    /// Numbers a server broadcast on this node (as a standalone node would).
    pub fn broadcast(&mut self, now: Instant, room: &str, data: &Payload) -> u64 {
        let seq = self.core.number(now, room, None, data);
        self.core.room(room).ext.known = true;
        seq
    }

    /// Ends the lingers due; the broker hears of each departure.
    pub fn handle_timeout(&mut self, now: Instant) {
        for (room, left) in self.core.expire(now) {
            self.notices
                .extend(left.into_iter().map(|m| Notice::Depart {
                    room: room.clone(),
                    user: m.user,
                }));
            self.release_room(&room);
        }
    }

    /// The next departure to tell the broker about.
    pub fn poll_notice(&mut self) -> Option<Notice> {
        self.notices.pop_front()
    }

    /// The next connection whose rooms missed messages; close it so its client resumes
    /// (from the broker's history) wherever it reconnects.
    pub fn poll_reset(&mut self) -> Option<ConnId> {
        self.resets.pop()
    }
}

impl RoomKeeper for ReplicaRooms {
    type Ext = Replica;

    fn core_mut(&mut self) -> &mut RoomCore<Replica> {
        &mut self.core
    }

    /// A cluster node tells the broker, which announces the departure once the user is
    /// gone from every node.
    fn departed(&mut self, _now: Instant, room: &str, gone: Option<Member>) {
        if let Some(member) = gone {
            self.notices.push_back(Notice::Depart {
                room: room.to_owned(),
                user: member.user,
            });
        }
        self.release_room(room);
    }

    fn room_members(room: &Room<Replica>) -> Vec<Member> {
        presence_members(&room.ext.view)
    }

    fn sweep(&mut self, now: Instant) {
        for room in self.core.sweep(now, removable) {
            self.notices.push_back(Notice::Unwatch { room });
        }
    }
}

/// The room's members on every node, as the broker reports them, borrowed.
fn view_pairs(r: &Room<Replica>) -> Vec<MemberRef<'_>> {
    r.ext
        .view
        .iter()
        .map(|(u, (m, i))| (u.as_str(), m.as_ref(), i.as_ref()))
        .collect()
}

/// This node's stored events and the broker's, as the contiguous run that ends with the
/// newest message.
fn contiguous_union(
    mine: crate::server::history::History,
    theirs: Vec<(u64, Bytes)>,
    now: Instant,
) -> crate::server::history::History {
    let mut all: BTreeMap<u64, Stored> = mine.into_iter().map(|s| (s.seq, s)).collect();
    for (seq, frame) in theirs {
        all.entry(seq).or_insert(Stored {
            seq,
            at: now,
            frame,
        });
    }
    let mut run: Vec<Stored> = Vec::with_capacity(all.len());
    for (_, s) in all.into_iter().rev() {
        if run.last().is_some_and(|next| next.seq != s.seq + 1) {
            break;
        }
        run.push(s);
    }
    run.reverse();
    run.into_iter().collect()
}
