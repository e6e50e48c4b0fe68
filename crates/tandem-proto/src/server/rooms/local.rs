//! A standalone node's rooms: this node numbers every message, keeps the history, and
//! announces presence changes itself.

use super::shared::{Room, RoomCore, RoomKeeper};
use super::{ConnId, HubConfig, JoinOutcome, JoinRefused, JoinRequest};
use crate::frame::{Member, Payload};
use crate::server::policy::RoomPolicies;
use crate::time::Instant;

/// The rooms of a node that is the whole server.
pub(crate) struct LocalRooms {
    pub core: RoomCore<()>,
}

/// A standalone room goes once nobody uses it and its history is gone (the node is the
/// history: a room with stored messages keeps its epoch, so resumes still recover).
fn removable(room: &Room<()>) -> bool {
    room.is_unused() && room.history.is_empty()
}

impl LocalRooms {
    pub fn new(config: HubConfig, seed: u64, policies: RoomPolicies) -> Self {
        LocalRooms {
            core: RoomCore::new(config, seed, policies),
        }
    }

    /// Subscribes `conn` (as `user`), sends it `joined` and the replay, and tells the
    /// other members if `user` is new to the room.
    pub fn join(
        &mut self,
        now: Instant,
        conn: ConnId,
        user: &str,
        request: JoinRequest,
    ) -> Result<JoinOutcome, JoinRefused> {
        let JoinRequest {
            id,
            room,
            meta,
            info,
            start,
        } = request;
        let r = self.core.room(&room);
        if let Some(limit) = r.policy.max_members {
            if r.presence.len() >= limit && !r.presence.contains(user) {
                self.core.remove_if(&room, removable);
                return Err(JoinRefused::RoomFull { limit });
            }
        }
        let already = self.core.admit(now, conn, user, &room)?;
        let arrived = (!already)
            .then(|| self.core.seat(conn, user, &room, meta, info))
            .flatten();
        let outcome = self
            .core
            .send_joined(conn, id, &room, |r| r.presence.pairs(), start);
        let arrived = arrived.into_iter().collect();
        self.core
            .announce(now, &room, arrived, Vec::new(), Some(conn));
        Ok(outcome)
    }

    /// Numbers and sends `data` in `room` from `conn`, a member (the hub checked).
    pub fn publish(&mut self, now: Instant, conn: ConnId, room: &str, data: &Payload) -> u64 {
        let from = self.core.user_of(conn).map(str::to_owned);
        self.core.number(now, room, from, data)
    }

    /// `conn`'s user now has `meta` in `room` (a member; the hub checked): every member
    /// hears of it.
    pub fn update(&mut self, now: Instant, conn: ConnId, room: &str, meta: Payload) {
        let Some(user) = self.core.user_of(conn).map(str::to_owned) else {
            return;
        };
        if let Some(r) = self.core.rooms.get_mut(room) {
            if let Some(member) = r.presence.update(&user, meta) {
                self.core.announce_update(now, room, member);
            }
        }
    }

    /// Ends the lingers due and announces those members as left.
    pub fn handle_timeout(&mut self, now: Instant) {
        for (room, left) in self.core.expire(now) {
            self.core.announce(now, &room, Vec::new(), left, None);
            self.core.remove_if(&room, removable);
        }
    }
}

impl RoomKeeper for LocalRooms {
    type Ext = ();

    fn core_mut(&mut self) -> &mut RoomCore<()> {
        &mut self.core
    }

    /// A standalone node announces the departure itself.
    fn departed(&mut self, now: Instant, room: &str, gone: Option<Member>) {
        if let Some(member) = gone {
            self.core
                .announce(now, room, Vec::new(), vec![member], None);
        }
        self.core.remove_if(room, removable);
    }

    fn room_members(room: &Room<()>) -> Vec<Member> {
        room.presence.members()
    }

    fn sweep(&mut self, now: Instant) {
        self.core.sweep(now, removable);
    }
}
