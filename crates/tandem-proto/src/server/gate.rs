//! Publishes waiting for the application's decision (`ServerConfig::authorize_publishes`):
//! allowed as sent, rewritten, or refused. Decisions may come in any order (each hook call
//! runs on its own); a connection's publishes still go out in the order it sent them,
//! which its peers and its own acks rely on.

use std::collections::VecDeque;

use super::{Server, ServerEvent};
use crate::frame::{self, ErrorBody, Id, Payload};
use crate::time::Instant;

/// The application's decision on a publish ([`ServerEvent::AuthorizePublish`]).
#[derive(Debug, Clone)]
pub enum PublishDecision {
    /// Publish as sent.
    Allow,
    /// Publish this payload instead.
    Rewrite(Payload),
    /// Refuse: the client gets this error (code and message) with the room.
    Deny(ErrorBody),
}

/// One connection's publishes waiting for decisions, in the order they came.
#[derive(Debug, Default)]
pub(super) struct Held(VecDeque<(frame::Publish, Option<PublishDecision>)>);

impl Server {
    /// Holds `p` for the application's decision.
    pub(super) fn hold_publish(&mut self, conn: super::ConnId, p: frame::Publish) {
        let user = self.user(conn);
        let Some(c) = self.conns.get_mut(&conn) else {
            return;
        };
        self.events.push_back(ServerEvent::AuthorizePublish {
            conn,
            user,
            id: p.id,
            room: p.room.clone(),
            data: p.data.clone(),
            ephemeral: p.is_ephemeral(),
        });
        c.held.0.push_back((p, None));
    }

    /// The application decided on the publish `id` of `conn`; every publish of the
    /// connection decided by now, from the oldest, goes out (or is refused).
    pub fn decide_publish(
        &mut self,
        now: Instant,
        conn: super::ConnId,
        id: Id,
        decision: PublishDecision,
    ) {
        let Some(c) = self.conns.get_mut(&conn) else {
            return;
        };
        let Some(slot) = c.held.0.iter_mut().find(|(p, d)| p.id == id && d.is_none()) else {
            return;
        };
        slot.1 = Some(decision);
        loop {
            let Some(c) = self.conns.get_mut(&conn) else {
                return;
            };
            if !matches!(c.held.0.front(), Some((_, Some(_)))) {
                break;
            }
            let Some((mut p, Some(decision))) = c.held.0.pop_front() else {
                break;
            };
            match decision {
                PublishDecision::Allow => {}
                PublishDecision::Rewrite(data) => p.data = data,
                PublishDecision::Deny(e) => {
                    self.send_error(conn, Some(p.id), Some(p.room), e.code, e.message);
                    continue;
                }
            }
            self.release_publish(now, conn, p);
        }
    }
}
