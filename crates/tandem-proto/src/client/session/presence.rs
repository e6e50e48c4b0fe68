//! A client's view of presence: each joined room's member list (the `joined` snapshot
//! with every diff since applied), and this user's own metadata updates, which reach the
//! server now or right after the room's next `joined` (PROTOCOL.md §5.4).

use super::*;

impl Session {
    /// The members of `room` as this client knows them now (the last snapshot and every
    /// diff since), sorted by user; `None` if the room is not joined.
    pub fn members(&self, room: &str) -> Option<&[Member]> {
        self.rooms.get(room).map(|r| r.members.as_slice())
    }

    /// Replaces this user's presence metadata in `room` (joined, or joining). The latest
    /// write wins, from whichever of the user's connections. Sent now when the room is
    /// joined on an open connection, else right after its next `joined`; it is also the
    /// meta of every later rejoin. Resolves with [`ClientEvent::Done`] or
    /// [`ClientEvent::Failed`]; an update made while another waits for the room's
    /// `joined` replaces it, and the replaced one resolves as done.
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
        let id = self.new_id();
        if self.room_ready(room) {
            self.send_update(now, room, id);
        } else if let Some(state) = self.rooms.get_mut(room) {
            if let Some(replaced) = state.update_id.replace(id) {
                self.events.push_back(ClientEvent::Done { id: replaced });
            }
        }
        Ok(id)
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
                Ok(at) => list[at].meta.clone_from(&member.meta),
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
