//! The room rules of a client, in one place: joining, resuming from the last position
//! after a reconnect, refusing a seq jump (a gap is resumed, never skipped), retrying a
//! rejoin the server cannot serve now, and leaving (PROTOCOL.md §5.3).

use super::*;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum RoomStatus {
    /// Waiting for an open connection.
    Pending,
    /// `join`/`resume` sent.
    Joining,
    /// `joined` received on this connection.
    Joined,
}

#[derive(Debug)]
pub(super) struct RoomState {
    pub(super) meta: Option<Payload>,
    pub(super) history: u32,
    /// The user's join op, until its first `joined`.
    pub(super) join_id: Option<Id>,
    pub(super) status: RoomStatus,
    /// `(epoch, last seq seen)`.
    pub(super) position: Option<(u64, u64)>,
    /// When to send the rejoin again, after the server could not serve it (`unavailable`).
    pub(super) retry_at: Option<Instant>,
    /// Rejoins refused in a row, for the backoff.
    pub(super) refusals: u32,
    /// A first join is retried after a transient refusal until this time.
    pub(super) join_by: Option<Instant>,
    /// The room's members: the last snapshot with every diff since applied.
    pub(super) members: Vec<Member>,
    /// What the room keeps and allows, from the last `joined`.
    pub(super) policy: Option<frame::Policy>,
    /// A presence update made while the room was not joined, sent after the next
    /// `joined` (its id resolves then).
    pub(super) update_id: Option<Id>,
}

impl Session {
    pub(super) fn send_join(&mut self, now: Instant, name: &str) {
        let Some(room) = self.rooms.get_mut(name) else {
            return;
        };
        let id = match room.join_id {
            Some(id) if !self.pending.contains_key(&id) => id,
            _ => {
                self.next_id += 1;
                self.next_id - 1
            }
        };
        room.status = RoomStatus::Joining;
        room.retry_at = None;
        let frame = match room.position {
            Some((epoch, seq)) => Frame::Resume(frame::Resume {
                id,
                room: name.to_owned(),
                epoch,
                seq,
                meta: room.meta.clone(),
            }),
            None => Frame::Join(frame::Join {
                id,
                room: name.to_owned(),
                meta: room.meta.clone(),
                history: (room.history > 0).then_some(room.history),
            }),
        };
        self.pending.insert(
            id,
            Pending {
                kind: PendingKind::Join {
                    room: name.to_owned(),
                },
                deadline: None,
            },
        );
        self.send_text(now, encode(&frame));
    }

    pub(super) fn handle_joined(&mut self, now: Instant, j: frame::Joined) {
        let Some(Pending {
            kind: PendingKind::Join { room: name },
            ..
        }) = self.pending.remove(&j.id)
        else {
            return;
        };
        let Some(room) = self.rooms.get_mut(&name) else {
            return;
        };
        room.status = RoomStatus::Joined;
        room.refusals = 0;
        // A recovered resume keeps the position: the replay follows and continues it.
        let keep = j.recovered == Some(true) && room.position.is_some_and(|(e, _)| e == j.epoch);
        if !keep {
            room.position = Some((j.epoch, j.seq));
        }
        let id = room.join_id.take();
        room.members.clone_from(&j.presence);
        room.policy = j.policy;
        self.events.push_back(ClientEvent::Joined {
            id,
            room: name.clone(),
            recovered: j.recovered,
            epoch: j.epoch,
            seq: j.seq,
            members: j.presence,
            policy: j.policy,
        });
        // Sends, within the pacer, what waited for this room: publishes and an update.
        self.flush(now);
    }

    /// A numbered message. Within an epoch, each one must be the last plus one: an older
    /// one is a duplicate and is dropped, a newer one means messages went missing on the
    /// way. A jump is never accepted: the client resumes from its last position, so the
    /// server replays the hole, or answers `recovered: false` if it no longer can.
    pub(super) fn handle_event(&mut self, now: Instant, e: frame::Event) {
        let Some(room) = self.rooms.get_mut(&e.room) else {
            return;
        };
        if room.status != RoomStatus::Joined {
            return;
        }
        // No seq: an ephemeral message, outside the numbered order.
        let Some(seq) = e.seq else {
            let (room, from, data) = (e.room, e.from, e.data);
            self.events
                .push_back(ClientEvent::Ephemeral { room, from, data });
            return;
        };
        if let Some((epoch, last)) = room.position {
            if seq <= last {
                return; // duplicate
            }
            if seq > last + 1 {
                self.send_join(now, &e.room);
                return;
            }
            room.position = Some((epoch, seq));
        }
        self.events.push_back(ClientEvent::Message {
            room: e.room,
            seq,
            from: e.from,
            data: e.data,
        });
    }

    /// The server refused a join or rejoin. When it could not serve it now
    /// (`unavailable`, `rate_limited`, `timeout`, `internal`), a rejoin (the client was in
    /// the room) is retried with backoff for as long as it takes, so a client never stays
    /// connected outside a room it had joined, and a first join likewise until the request
    /// timeout has passed since the call. Any other refusal, or a first join out of time,
    /// fails the join call, or takes the client out of the room with
    /// [`ClientEvent::Left`] and the reason.
    pub(super) fn join_refused(
        &mut self,
        now: Instant,
        name: String,
        code: ErrorCode,
        message: String,
    ) {
        let transient = matches!(
            code,
            ErrorCode::Unavailable
                | ErrorCode::RateLimited
                | ErrorCode::Timeout
                | ErrorCode::Internal
        );
        if let Some(room) = self.rooms.get_mut(&name) {
            // A rejoin is retried for as long as it takes; a first join within the
            // request timeout from the call, then it fails with the last refusal.
            let in_time = room.join_id.is_none() || room.join_by.is_some_and(|t| now < t);
            if transient && in_time {
                room.refusals += 1;
                let delay = self
                    .config
                    .backoff
                    .delay(room.refusals, None, &mut self.rng);
                if let Some(delay) = delay {
                    room.status = RoomStatus::Pending;
                    room.retry_at = Some(now + delay);
                    return;
                }
            }
        }
        let join_id = self.rooms.remove(&name).and_then(|r| r.join_id);
        self.fail_queued_for(&name);
        let event = match join_id {
            Some(id) => ClientEvent::Failed {
                id,
                error: OpError::Server { code, message },
            },
            None => ClientEvent::Left {
                id: None,
                room: name,
                reason: Some(ErrorBody { code, message }),
            },
        };
        self.events.push_back(event);
    }

    pub(super) fn fail_queued_for(&mut self, room: &str) {
        for q in self.queue.take_ready(|q| q.room.as_deref() == Some(room)) {
            self.events.push_back(ClientEvent::Failed {
                id: q.id,
                error: OpError::NotJoined {
                    room: room.to_owned(),
                },
            });
        }
    }

    /// Joins `room` with optional presence `meta`, replaying up to `history` recent messages.
    /// Resolves with [`ClientEvent::Joined`] or [`ClientEvent::Failed`]. While offline the
    /// join waits for the connection; after reconnects the room is resumed automatically.
    pub fn join(
        &mut self,
        now: Instant,
        room: &str,
        meta: Option<Payload>,
        history: u32,
    ) -> Result<Id, OpError> {
        self.join_since(now, room, meta, history, None)
    }

    /// [`Session::join`], resuming from a stored position `since` (`(epoch, seq)` from an
    /// earlier [`ClientEvent::Joined`] and the messages after it): the join is a `resume`,
    /// so it is `recovered: true` when the server still holds every message after it, and
    /// `false` otherwise (refetch), as after a reconnect. `history` applies without one.
    pub fn join_since(
        &mut self,
        now: Instant,
        room: &str,
        meta: Option<Payload>,
        history: u32,
        since: Option<(u64, u64)>,
    ) -> Result<Id, OpError> {
        if let Some(e) = self.closed_error() {
            return Err(e);
        }
        let id = self.new_id();
        if let Some(existing) = self.rooms.get_mut(room) {
            // Already joined: resolve at once with the known state.
            existing.meta = meta;
            if let (RoomStatus::Joined, Some((epoch, seq))) = (existing.status, existing.position) {
                self.events.push_back(ClientEvent::Joined {
                    id: Some(id),
                    room: room.to_owned(),
                    recovered: None,
                    epoch,
                    seq,
                    members: existing.members.clone(),
                    policy: existing.policy,
                });
            }
            return Ok(id);
        }
        self.rooms.insert(
            room.to_owned(),
            RoomState {
                meta,
                history,
                join_id: Some(id),
                status: RoomStatus::Pending,
                position: since,
                retry_at: None,
                refusals: 0,
                join_by: Some(now + self.config.request_timeout),
                members: Vec::new(),
                policy: None,
                update_id: None,
            },
        );
        if matches!(self.phase, Phase::Open { .. }) {
            self.send_join(now, room);
        }
        Ok(id)
    }

    /// Leaves `room`. Resolves with [`ClientEvent::Left`]; queued publishes to the room fail.
    pub fn leave(&mut self, now: Instant, room: &str) -> Result<Id, OpError> {
        if let Some(e) = self.closed_error() {
            return Err(e);
        }
        let Some(state) = self.forget_room(room) else {
            return Err(OpError::NotJoined {
                room: room.to_owned(),
            });
        };
        let id = self.new_id();
        if matches!(self.phase, Phase::Open { .. }) && state.status != RoomStatus::Pending {
            self.pending.insert(
                id,
                Pending {
                    kind: PendingKind::Leave {
                        room: room.to_owned(),
                    },
                    deadline: Some(now + self.config.request_timeout),
                },
            );
            let frame = Frame::Leave(frame::Leave {
                id,
                room: room.to_owned(),
            });
            self.send_text(now, encode(&frame));
        } else {
            self.events.push_back(ClientEvent::Left {
                id: Some(id),
                room: room.to_owned(),
                reason: None,
            });
        }
        Ok(id)
    }

    /// Drops `room` from the session (no rejoin after a reconnect): what waited for it
    /// fails with [`OpError::NotJoined`] (its first join, a presence update, the queued
    /// frames). Gives its state back, if it was there.
    fn forget_room(&mut self, room: &str) -> Option<RoomState> {
        let state = self.rooms.remove(room)?;
        self.pending
            .retain(|_, p| !matches!(&p.kind, PendingKind::Join { room: r } if r == room));
        for id in [state.update_id, state.join_id].into_iter().flatten() {
            self.events.push_back(ClientEvent::Failed {
                id,
                error: OpError::NotJoined {
                    room: room.to_owned(),
                },
            });
        }
        self.fail_queued_for(room);
        Some(state)
    }

    /// `unsubscribed`: the server took this connection out of `room`. The room is
    /// forgotten, never rejoined by the session itself (PROTOCOL.md §3.22).
    pub(super) fn unsubscribed(&mut self, room: String, message: String) {
        // Unknown: the application left it meanwhile, and its leave resolves as ever.
        if self.forget_room(&room).is_some() {
            self.events
                .push_back(ClientEvent::Unsubscribed { room, message });
        }
    }

    /// Sends again the rejoins whose backoff is over.
    pub(super) fn retry_rejoins(&mut self, now: Instant) {
        let due: Vec<String> = self
            .rooms
            .iter()
            .filter(|(_, r)| r.retry_at.is_some_and(|t| t <= now))
            .map(|(name, _)| name.clone())
            .collect();
        for name in due {
            self.send_join(now, &name);
        }
    }
}
