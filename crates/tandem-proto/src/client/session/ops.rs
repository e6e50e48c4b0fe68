//! Publishes, requests and answers: sent at once when their room is ready, queued
//! while offline (never dropped silently), each resolved exactly once.

use super::*;

impl Session {
    /// Publishes `data` to `room` (which must have been joined). Sent at once when the room
    /// is joined, else queued. Resolves with [`ClientEvent::Published`] or
    /// [`ClientEvent::Failed`]; a full queue is an error now, never a silent drop.
    pub fn publish(&mut self, now: Instant, room: &str, data: Payload) -> Result<Id, OpError> {
        if let Some(e) = self.closed_error() {
            return Err(e);
        }
        if !self.rooms.contains_key(room) {
            return Err(OpError::NotJoined {
                room: room.to_owned(),
            });
        }
        let id = self.new_id();
        let text = encode(&Frame::Publish(frame::Publish {
            id,
            room: room.to_owned(),
            data,
            ephemeral: None,
            ack: None,
        }));
        self.check_size(&text)?;
        let ready = self.room_ready(room) && !self.queue.has_room(room) && self.can_send(now);
        if ready {
            self.pending.insert(
                id,
                Pending {
                    kind: PendingKind::Publish {
                        room: room.to_owned(),
                    },
                    deadline: Some(now + self.config.publish_timeout),
                },
            );
            self.send_text(now, text);
        } else {
            self.enqueue(Queued {
                id,
                room: Some(room.to_owned()),
                text,
                is_request: false,
                deadline: None,
            })?;
            self.schedule_flush(now);
        }
        Ok(id)
    }

    /// Sends an ephemeral message to `room`'s other connections: no seq, not stored, not
    /// replayed, never queued. It goes now, or fails now: [`OpError::NotConnected`] unless
    /// the room is joined on an open connection, [`OpError::RateLimited`] when the
    /// server's announced rate is used up. With `ack`, it resolves with
    /// [`ClientEvent::Done`] or [`ClientEvent::Failed`]; without, it is done once sent
    /// (a refusal still comes as [`ClientEvent::Error`]).
    pub fn publish_ephemeral(
        &mut self,
        now: Instant,
        room: &str,
        data: Payload,
        ack: bool,
    ) -> Result<Id, OpError> {
        if let Some(e) = self.closed_error() {
            return Err(e);
        }
        if !self.room_ready(room) {
            return Err(OpError::NotConnected {
                room: room.to_owned(),
            });
        }
        if !self.can_send(now) {
            return Err(OpError::RateLimited);
        }
        let id = self.new_id();
        let text = encode(&Frame::Publish(frame::Publish {
            id,
            room: room.to_owned(),
            data,
            ephemeral: Some(true),
            ack: ack.then_some(true),
        }));
        self.check_size(&text)?;
        if ack {
            let deadline = Some(now + self.config.publish_timeout);
            let kind = PendingKind::Acked;
            self.pending.insert(id, Pending { kind, deadline });
        }
        self.send_text(now, text);
        Ok(id)
    }

    /// Asks for a page of `room`'s stored messages: the newest `limit` (at most the
    /// server's maximum) with a seq below `before` (from the newest without). The room
    /// need not be joined. Resolves with [`ClientEvent::Page`] or [`ClientEvent::Failed`]
    /// within [`ClientConfig::request_timeout`]; waits for the connection like a request.
    pub fn history(
        &mut self,
        now: Instant,
        room: &str,
        before: Option<u64>,
        limit: Option<u32>,
    ) -> Result<Id, OpError> {
        let id = self.next_id;
        let frame = Frame::History(frame::History {
            id,
            room: room.to_owned(),
            before,
            limit,
        });
        self.send_or_queue_request(now, encode(&frame))
    }

    /// Sends a request (about `room`, optionally). Resolves with [`ClientEvent::Response`]
    /// or [`ClientEvent::Failed`] within [`ClientConfig::request_timeout`].
    pub fn request(
        &mut self,
        now: Instant,
        room: Option<&str>,
        data: Payload,
    ) -> Result<Id, OpError> {
        let id = self.next_id;
        let text = encode(&Frame::Request(frame::Request {
            id,
            room: room.map(str::to_owned),
            data,
        }));
        self.send_or_queue_request(now, text)
    }

    /// Sends a request-like frame whose id is the next one (a request, a page of
    /// history), or queues it while not open; its answer resolves it.
    fn send_or_queue_request(&mut self, now: Instant, text: String) -> Result<Id, OpError> {
        if let Some(e) = self.closed_error() {
            return Err(e);
        }
        self.check_size(&text)?;
        let id = self.new_id();
        let deadline = now + self.config.request_timeout;
        let open = matches!(self.phase, Phase::Open { .. });
        if open && self.queue.len() == 0 && self.can_send(now) {
            self.pending.insert(
                id,
                Pending {
                    kind: PendingKind::Request,
                    deadline: Some(deadline),
                },
            );
            self.send_text(now, text);
        } else {
            self.enqueue(Queued {
                id,
                room: None,
                text,
                is_request: true,
                deadline: Some(deadline),
            })?;
            self.schedule_flush(now);
        }
        Ok(id)
    }

    /// Answers the server's request `id`. Dropped if the connection it came on is gone
    /// (the server then fails it on its side).
    pub fn respond(&mut self, now: Instant, id: Id, result: Result<Payload, ErrorBody>) {
        if !matches!(self.phase, Phase::Open { .. }) {
            return;
        }
        self.send_text(
            now,
            encode(&Frame::Response(frame::Response { id, result })),
        );
    }

    pub(super) fn check_size(&self, text: &str) -> Result<(), OpError> {
        if text.len() > self.max_frame_bytes {
            return Err(OpError::TooLarge {
                size: text.len(),
                limit: self.max_frame_bytes,
            });
        }
        Ok(())
    }

    pub(super) fn room_ready(&self, room: &str) -> bool {
        matches!(self.phase, Phase::Open { .. })
            && self
                .rooms
                .get(room)
                .is_some_and(|r| r.status == RoomStatus::Joined)
    }

    pub(super) fn enqueue(&mut self, item: Queued) -> Result<(), OpError> {
        let (count, bytes) = (self.queue.len(), self.queue.bytes());
        self.queue
            .push(item, &self.config.queue)
            .map_err(|_| OpError::QueueFull { count, bytes })
    }

    /// Whether the pacer lets a frame go now (always, before the server said its rate).
    pub(super) fn can_send(&mut self, now: Instant) -> bool {
        self.pacer.as_mut().is_none_or(|p| p.available(now) > 0)
    }

    /// Flushes again once the pacer has a token, if anything waits.
    pub(super) fn schedule_flush(&mut self, now: Instant) {
        let waiting = self.queue.len() > 0 || self.updates_waiting();
        if let (Some(p), Phase::Open { .. }) = (&self.pacer, &self.phase) {
            if self.flush_at.is_none() && waiting {
                self.flush_at = Some(p.next_token(now));
            }
        }
    }

    /// Sends, in order, every queued frame whose room is ready, as fast as the pacer lets
    /// them go; the rest follow as it refills.
    pub(super) fn flush(&mut self, now: Instant) {
        if !matches!(self.phase, Phase::Open { .. }) {
            return;
        }
        let budget = self.pacer.as_mut().map_or(usize::MAX, |p| p.available(now));
        let mut taken = 0;
        let rooms = &self.rooms;
        let ready = self.queue.take_ready(|q| {
            let ready = taken < budget
                && match &q.room {
                    None => true,
                    Some(r) => rooms.get(r).is_some_and(|r| r.status == RoomStatus::Joined),
                };
            taken += usize::from(ready);
            ready
        });
        let updates = self.flush_updates(now, budget.saturating_sub(taken));
        if taken + updates == budget {
            self.schedule_flush(now);
        }
        for q in ready {
            let kind = match q.room {
                Some(room) if !q.is_request => PendingKind::Publish { room },
                _ => PendingKind::Request,
            };
            let deadline = if q.is_request {
                q.deadline
            } else {
                Some(now + self.config.publish_timeout)
            };
            self.pending.insert(q.id, Pending { kind, deadline });
            self.send_text(now, q.text);
        }
    }
}
