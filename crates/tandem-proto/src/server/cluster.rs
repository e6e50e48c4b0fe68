//! A cluster node's side of the broker: the answers to what it asked (`Sync`, `Publish`)
//! and what the broker tells every node (events, member changes).

use bytes::Bytes;

use super::{ConnId, JoinRequest, MemberChange, RoomState, Server, ServerEvent};
use crate::error::ErrorCode;
use crate::frame::{self, ErrorBody, Frame, Id};
use crate::time::Instant;

/// A cluster node's join waiting for the broker.
pub(super) struct PendingSync {
    pub request: JoinRequest,
    pub user: String,
    pub arrive: bool,
}

impl PendingSync {
    /// The [`ServerEvent::Sync`] that asks the broker for the join's room.
    pub(super) fn event(&self, conn: ConnId, id: Id) -> ServerEvent {
        let r = &self.request;
        ServerEvent::Sync {
            conn,
            id,
            room: r.room.clone(),
            user: self.user.clone(),
            meta: r.meta.clone(),
            info: r.info.clone(),
            arrive: self.arrive,
            start: r.start,
        }
    }
}

impl Server {
    /// Cluster node: the broker's answer to [`ServerEvent::Watch`]: it now delivers the
    /// room's messages here, and the joins waiting for that ask for the room's state; or
    /// it could not, and they fail with its error (a later join asks again).
    pub fn handle_watched(&mut self, now: Instant, room: &str, result: Result<(), ErrorBody>) {
        let waiting = self.unwatched.remove(room).unwrap_or_default();
        match result {
            Ok(()) => {
                self.hub.watched(room);
                for (conn, id) in waiting {
                    if let Some(pending) = self.syncs.get(&(conn, id)) {
                        self.events.push_back(pending.event(conn, id));
                    }
                }
            }
            Err(e) => {
                self.hub.unwatch(room);
                for (conn, id) in waiting {
                    // Never asked of the broker: no arrival of it to take back.
                    if let Some(pending) = self.syncs.get_mut(&(conn, id)) {
                        pending.arrive = false;
                    }
                    self.handle_synced(now, conn, id, Err(e.clone()));
                }
            }
        }
        self.drain_hub(now);
    }

    /// Cluster node: the broker's answer to [`ServerEvent::Sync`]. The join completes with
    /// the room's state, or fails with the broker's error (the connection stays open).
    pub fn handle_synced(
        &mut self,
        now: Instant,
        conn: ConnId,
        id: Id,
        result: Result<RoomState, ErrorBody>,
    ) {
        let Some(PendingSync {
            request,
            user,
            arrive,
        }) = self.syncs.remove(&(conn, id))
        else {
            return;
        };
        let room = request.room.clone();
        let outcome = match result {
            Ok(state) if self.conns.contains_key(&conn) => self
                .hub
                .join_synced(now, conn, &user, request, state)
                .map_err(|refused| refused.to_error()),
            // The connection is gone: nobody to tell.
            Ok(_) => Err(ErrorBody {
                code: ErrorCode::Unavailable,
                message: String::new(),
            }),
            Err(e) => Err(e),
        };
        if let Ok(o) = &outcome {
            self.stats.joined(o.recovered, o.replayed);
        }
        if let Err(e) = outcome {
            self.hub.cancel_join(&room);
            // The broker counted an arrival that will not stay.
            if arrive && !self.hub.is_present(&room, &user) {
                self.events.push_back(ServerEvent::Depart {
                    room: room.clone(),
                    user,
                });
            }
            if self.conns.contains_key(&conn) {
                self.send_refusal(conn, id, room, e);
            }
        }
        self.drain_hub(now);
    }

    /// Cluster node: the broker's answer to [`ServerEvent::Publish`]: the sequence number it
    /// gave the message (acknowledged to the publisher), or why it could not take it.
    pub fn handle_published(
        &mut self,
        conn: ConnId,
        id: Id,
        room: String,
        result: Result<u64, ErrorBody>,
    ) {
        match result {
            Ok(seq) => self.send(conn, &Frame::Ack(frame::Ack { id, seq: Some(seq) })),
            Err(e) => self.send_error(conn, Some(id), Some(room), e.code, e.message),
        }
    }

    /// Cluster node: an event the broker numbered (`frame` is the encoded `event`).
    /// Connections of a room that missed messages are closed with 1013, so their clients
    /// resume from the broker's history.
    pub fn handle_remote_event(
        &mut self,
        now: Instant,
        room: &str,
        epoch: u64,
        seq: u64,
        frame: Bytes,
    ) {
        self.hub.apply_event(now, room, epoch, seq, frame);
        self.drain_hub(now);
    }

    /// Cluster node: where `room` stands in the broker now (its delivery was disturbed):
    /// if this node is behind it or on another epoch, the room's connections are closed
    /// with 1013, so their clients resume from the broker's history.
    pub fn handle_remote_position(&mut self, now: Instant, room: &str, epoch: u64, seq: u64) {
        self.hub.apply_position(room, epoch, seq);
        self.drain_hub(now);
    }

    /// Cluster node: the broker's answer to [`ServerEvent::Update`]: recorded (its
    /// announcement comes through [`Server::handle_remote_member`]), or why not.
    pub fn handle_updated(
        &mut self,
        conn: ConnId,
        id: Id,
        room: String,
        result: Result<(), ErrorBody>,
    ) {
        match result {
            Ok(()) => self.send(conn, &Frame::Ack(frame::Ack { id, seq: None })),
            Err(e) => self.send_error(conn, Some(id), Some(room), e.code, e.message),
        }
    }

    /// Cluster node: another node's ephemeral message in `room`, for every connection here.
    pub fn handle_remote_ephemeral(&mut self, now: Instant, room: &str, frame: Bytes) {
        self.hub.apply_ephemeral(room, frame);
        self.drain_hub(now);
    }

    /// Cluster node: the broker announces a member change in `room`.
    pub fn handle_remote_member(&mut self, now: Instant, room: &str, change: MemberChange) {
        self.hub.apply_member(now, room, change);
        self.drain_hub(now);
    }
}
