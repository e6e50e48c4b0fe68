//! A client's view of presence: each joined room's member list (the `joined` snapshot
//! with every diff since applied), and this user's own metadata updates, which reach the
//! server now or right after the room's next `joined` (PROTOCOL.md §5.4).

use super::rooms::RoomStatus;
use super::*;

impl Session {
    /// The members of `room` as this client knows them now (the last snapshot and every
    /// diff since), sorted by user, each with its metadata and the issuer's `info`;
    /// `None` if the room is not joined.
    pub fn members(&self, room: &str) -> Option<&[Member]> {
        self.rooms.get(room).map(|r| r.members.as_slice())
    }

    /// Replaces this user's presence metadata in `room` (joined, or joining). The latest
    /// write wins, from whichever of the user's connections. Sent now when the room is
    /// joined on an open connection and the server's rate allows, else as soon as it
    /// does (after the room's next `joined`, or when the pacer has a token); it is also
    /// the meta of every later rejoin. Resolves with [`ClientEvent::Done`] or
    /// [`ClientEvent::Failed`]. An update that has to wait replaces one already waiting,
    /// which resolves as done: a cursor in the meta moved 300 times a second goes out at
    /// the server's rate, latest first, and is never refused `rate_limited`.
    pub fn update(&mut self, now: Instant, room: &str, meta: Payload) -> Result<Id, OpError> {
        if let Some(e) = self.closed_error() {
            return Err(e);
        }
        let text = encode(&Frame::Update(frame::Update {
            id: self.next_id,
            room: room.to_owned(),
            meta: meta.clone(),
        }));
        self.check_size(&text)?;
        let Some(state) = self.rooms.get_mut(room) else {
            return Err(OpError::NotJoined {
                room: room.to_owned(),
            });
        };
        state.meta = Some(meta);
        let waiting = state.update_id.is_some();
        let id = self.new_id();
        if self.room_ready(room) && !waiting && self.can_send(now) {
            self.send_update(now, room, id);
            return Ok(id);
        }
        if let Some(state) = self.rooms.get_mut(room) {
            if let Some(replaced) = state.update_id.replace(id) {
                self.events.push_back(ClientEvent::Done { id: replaced });
            }
        }
        self.schedule_flush(now);
        Ok(id)
    }

    /// Sends the updates that waited for the pacer, for rooms that are joined, within
    /// `budget` frames; returns how many went.
    pub(super) fn flush_updates(&mut self, now: Instant, budget: usize) -> usize {
        let ready: Vec<(String, Id)> = self
            .rooms
            .iter()
            .filter(|(_, r)| r.status == RoomStatus::Joined)
            .filter_map(|(name, r)| r.update_id.map(|id| (name.clone(), id)))
            .take(budget)
            .collect();
        for (room, id) in &ready {
            if let Some(r) = self.rooms.get_mut(room) {
                r.update_id = None;
            }
            self.send_update(now, room, *id);
        }
        ready.len()
    }

    /// Whether an update waits for the pacer in a joined room.
    pub(super) fn updates_waiting(&self) -> bool {
        self.rooms
            .values()
            .any(|r| r.update_id.is_some() && r.status == RoomStatus::Joined)
    }

    /// Sends `room`'s current meta as update `id`.
    pub(super) fn send_update(&mut self, now: Instant, room: &str, id: Id) {
        let Some(meta) = self.rooms.get(room).and_then(|r| r.meta.clone()) else {
            return;
        };
        let deadline = Some(now + self.config.publish_timeout);
        let kind = PendingKind::Acked;
        self.pending.insert(id, Pending { kind, deadline });
        let frame = Frame::Update(frame::Update {
            id,
            room: room.to_owned(),
            meta,
        });
        self.send_text(now, encode(&frame));
    }

    /// A presence diff for a joined room: applied to its member list, then reported.
    pub(super) fn handle_presence(&mut self, p: frame::Presence) {
        let Some(room) = self.rooms.get_mut(&p.room) else {
            return;
        };
        let list = &mut room.members;
        for gone in &p.left {
            if let Ok(at) = list.binary_search_by(|m| m.user.cmp(&gone.user)) {
                list.remove(at);
            }
        }
        for member in p.joined.iter().chain(&p.updated) {
            match list.binary_search_by(|m| m.user.cmp(&member.user)) {
                Ok(at) => {
                    list[at].meta.clone_from(&member.meta);
                    // The issuer's info changes only with a fresh token that says so.
                    if member.info.is_some() {
                        list[at].info.clone_from(&member.info);
                    }
                }
                Err(at) => list.insert(at, member.clone()),
            }
        }
        self.events.push_back(ClientEvent::Presence {
            room: p.room,
            joined: p.joined,
            left: p.left,
            updated: p.updated,
        });
    }
}
