//! What an operator does to live sessions, on this node: disconnect a user, take a user
//! out of a room, send a user a message, read a room's members and history. A cluster's
//! driver applies each on every node (the broker carries them).

use bytes::Bytes;

use super::presence::Ending;
use super::{Delivery, HistoryPage, Recipients, Server, ServerTransmit};
use crate::codec::encode;
use crate::frame::{self, Frame, Member, Payload};
use crate::time::Instant;

impl Server {
    /// The open connections of `user` here.
    fn conns_of(&self, user: &str) -> Vec<super::ConnId> {
        let mut conns: Vec<_> = self
            .conns
            .iter()
            .filter(|(_, c)| c.machine.user() == Some(user))
            .map(|(id, _)| *id)
            .collect();
        conns.sort_unstable();
        conns
    }

    /// Closes every connection of `user` here with `code` and `reason` (its members leave
    /// at once). Returns how many.
    pub fn disconnect_user(&mut self, now: Instant, user: &str, code: u16, reason: &str) -> usize {
        let conns = self.conns_of(user);
        for &conn in &conns {
            self.close(now, conn, code, reason.to_owned(), Ending::Clean);
        }
        conns.len()
    }

    /// Takes every connection of `user` here out of `room`, each told `unsubscribed` with
    /// `message`. Returns how many connections were in it.
    pub fn unsubscribe_user(
        &mut self,
        now: Instant,
        user: &str,
        room: &str,
        message: &str,
    ) -> usize {
        let conns: Vec<_> = self
            .conns_of(user)
            .into_iter()
            .filter(|c| self.hub.is_member(*c, room))
            .collect();
        for &conn in &conns {
            self.unsubscribe(now, conn, room.to_owned(), message);
        }
        conns.len()
    }

    /// Sends `message {data}` to every connection of `user` here. Returns how many.
    pub fn send_to_user(&mut self, user: &str, data: &Payload) -> usize {
        let conns = self.conns_of(user);
        if conns.is_empty() {
            return 0;
        }
        let frame = Bytes::from(encode(&Frame::Message(frame::Message {
            data: data.clone(),
        })));
        for &conn in &conns {
            self.transmits
                .push_back(ServerTransmit::Frame(Delivery::live(
                    Recipients::One(conn),
                    frame.clone(),
                )));
        }
        conns.len()
    }

    /// The members of `room` as this node knows them (on a cluster node, the broker's view
    /// while someone here is in the room).
    pub fn members(&self, room: &str) -> Vec<Member> {
        self.hub.members(room)
    }

    /// A page of `room`'s stored messages here, newest `limit` before `before` (a
    /// standalone node holds the whole history; a cluster's is in its broker).
    pub fn page(&self, room: &str, before: Option<u64>, limit: u32) -> HistoryPage {
        let (epoch, frames, more) = self.hub.page(room, before, limit);
        HistoryPage {
            epoch,
            frames,
            more,
        }
    }
}
