//! Who a connection is and what it may do: the rooms its token grants, checked on every
//! operation (a refusal is `forbidden` with the room; the connection stays open), the
//! issuer's presence data, and the token's expiry with its in-band refresh (`refresh` →
//! `token` → `ack`, or close 4002). PROTOCOL.md §5.8 and §3.20.

use std::sync::Arc;

use core::time::Duration;

use super::grants::{Right, RoomGrants};
use super::timers::Timer;
use super::{ConnState, Server, ServerEvent};
use crate::close;
use crate::error::ErrorCode;
use crate::frame::{self, ErrorBody, Frame, Id, Payload};
use crate::time::{Instant, earliest};

/// How the application admits a connection (after [`ServerEvent::Authenticate`], with
/// [`Server::accept_with`]) or renews its session (after [`ServerEvent::Reauthenticate`]).
#[derive(Debug, Clone, Default)]
pub struct Admission {
    /// The user.
    pub user: String,
    /// The rooms the connection may use and its rights in each; `None` grants every room
    /// every right.
    pub grants: Option<Arc<RoomGrants>>,
    /// Presence data set by the issuer (a token's `info`), shown with the user's member
    /// in every room it joins; the client cannot change it.
    pub info: Option<Payload>,
    /// When the session's credentials expire: the client is asked for a fresh token
    /// ahead of it, and the connection closes with 4002 at it without one.
    pub expires_at: Option<Instant>,
}

impl Admission {
    /// `user`, with every right, no info, no expiry.
    pub fn user(user: impl Into<String>) -> Self {
        Admission {
            user: user.into(),
            ..Admission::default()
        }
    }
}

/// What a welcomed connection may do, and until when.
#[derive(Debug, Default)]
pub(super) struct Access {
    grants: Option<Arc<RoomGrants>>,
    pub(super) info: Option<Payload>,
    expires_at: Option<Instant>,
    /// When to send `refresh`; `None` once sent (or with no expiry).
    refresh_at: Option<Instant>,
}

impl Access {
    fn new(now: Instant, a: &Admission, ahead: Duration) -> Self {
        let refresh_at = a.expires_at.map(|at| {
            // Half the token's life when it is shorter than twice `ahead`, so a short
            // token is not asked for again the moment it arrives.
            let life = at.saturating_since(now);
            Instant::from_millis(at.as_millis().saturating_sub(millis(ahead.min(life / 2))))
        });
        Access {
            grants: a.grants.clone(),
            info: a.info.clone(),
            expires_at: a.expires_at,
            refresh_at,
        }
    }

    /// The next deadline of the connection's token: the `refresh` to send, or the expiry.
    fn next_deadline(&self) -> Option<Instant> {
        self.refresh_at.or(self.expires_at)
    }

    /// Whether the connection has `right` in `room`.
    pub(super) fn allows(&self, room: &str, right: Right) -> bool {
        self.grants
            .as_ref()
            .is_none_or(|g| g.rights(room).contains(right))
    }
}

impl Server {
    /// Accepts the hello of `conn` as `admission` says (after [`ServerEvent::Authenticate`]):
    /// its user, its rooms and rights, its presence info and its expiry.
    pub fn accept_with(&mut self, now: Instant, conn: ConnId, admission: Admission) {
        let ahead = self.config.token_refresh_ahead;
        let Some(c) = self.conns.get_mut(&conn) else {
            return;
        };
        if *c.machine.state() != ConnState::Authenticating {
            return;
        }
        c.access = Access::new(now, &admission, ahead);
        let next = c.access.next_deadline();
        self.arm_tokens(next);
        self.welcome(conn, admission.user);
    }

    /// Whether `conn` has `right` in `room`; if not, it is told so (`forbidden` with the
    /// room, answering `id`).
    pub(super) fn permit(&mut self, conn: ConnId, id: Id, room: &str, right: Right) -> bool {
        let allowed = self
            .conns
            .get(&conn)
            .is_some_and(|c| c.access.allows(room, right));
        if !allowed {
            let message = format!("your token grants no `{right}` right in room {room:?}");
            self.send_error(
                conn,
                Some(id),
                Some(room.to_owned()),
                ErrorCode::Forbidden,
                message,
            );
        }
        allowed
    }

    /// The issuer's presence data of `conn`.
    pub(super) fn info(&self, conn: ConnId) -> Option<Payload> {
        self.conns.get(&conn).and_then(|c| c.access.info.clone())
    }

    /// `token`: the application verifies it ([`ServerEvent::Reauthenticate`]).
    pub(super) fn handle_token(&mut self, conn: ConnId, t: frame::Token) {
        self.events.push_back(ServerEvent::Reauthenticate {
            conn,
            id: t.id,
            token: t.token,
        });
    }

    /// The application's verdict on the fresh token `id` of `conn`. Accepted for the
    /// session's user, the new rights and expiry replace the old ones (rooms the
    /// connection may no longer subscribe to are left, each with `unsubscribed`) and the
    /// client gets `ack`; refused, or for another user, it gets `error` and the session
    /// keeps its old token (and expiry).
    pub fn handle_reauthenticated(
        &mut self,
        now: Instant,
        conn: ConnId,
        id: Id,
        result: Result<Admission, ErrorBody>,
    ) {
        let ahead = self.config.token_refresh_ahead;
        let Some(user) = self.conns.get(&conn).and_then(|c| c.machine.user()) else {
            return;
        };
        let user = user.to_owned();
        let admission = match result {
            Ok(a) if a.user == user => a,
            Ok(a) => {
                let message = format!(
                    "the token is for user {:?}, the session's is {user:?}",
                    a.user
                );
                self.send_error(conn, Some(id), None, ErrorCode::Unauthorized, message);
                return;
            }
            Err(e) => {
                self.send_error(conn, Some(id), None, e.code, e.message);
                return;
            }
        };
        let access = Access::new(now, &admission, ahead);
        let revoked: Vec<String> = self
            .hub
            .rooms_of(conn)
            .into_iter()
            .filter(|room| !access.allows(room, Right::Subscribe))
            .collect();
        let next = access.next_deadline();
        if let Some(c) = self.conns.get_mut(&conn) {
            c.access = access;
        }
        self.arm_tokens(next);
        for room in revoked {
            self.unsubscribe(now, conn, room, "your fresh token does not grant this room");
        }
        self.send_ack(conn, id, None);
    }

    /// Removes `conn` from `room` on the server's initiative, telling it `unsubscribed`.
    pub(super) fn unsubscribe(&mut self, now: Instant, conn: ConnId, room: String, why: &str) {
        if !self.hub.leave(now, conn, &room) {
            return;
        }
        self.drain_hub(now);
        let message = why.to_owned();
        self.send(
            conn,
            &Frame::Unsubscribed(frame::Unsubscribed { room, message }),
        );
    }

    /// Arms the token timer for `at` too, if it comes before the one armed.
    fn arm_tokens(&mut self, at: Option<Instant>) {
        let next = earliest(self.timers.get(Timer::Tokens), at);
        self.timers.set(Timer::Tokens, next);
    }

    /// When the token timer fires: asks for a fresh token ahead of each expiry, and closes
    /// the sessions whose token expired with 4002; then arms the timer for the next.
    pub(super) fn handle_tokens(&mut self, now: Instant) {
        let mut expired = Vec::new();
        let mut ask = Vec::new();
        for (id, c) in self.conns.iter_mut() {
            let a = &mut c.access;
            match (a.expires_at, a.refresh_at) {
                (Some(at), _) if at <= now => expired.push(*id),
                (Some(at), Some(refresh)) if refresh <= now => {
                    a.refresh_at = None;
                    ask.push((*id, at.saturating_since(now)));
                }
                _ => {}
            }
        }
        for (conn, left) in ask {
            let expires_in_ms = millis(left);
            self.send(conn, &Frame::Refresh(frame::Refresh { expires_in_ms }));
        }
        let next = self
            .conns
            .values()
            .filter_map(|c| c.access.next_deadline())
            .filter(|at| *at > now)
            .min();
        self.timers.set(Timer::Tokens, next);
        for conn in expired {
            self.send_error(
                conn,
                None,
                None,
                ErrorCode::TokenExpired,
                "token expired and no fresh one came".into(),
            );
            self.close(
                now,
                conn,
                close::TOKEN_EXPIRED,
                "token expired".into(),
                super::presence::Ending::Clean,
            );
        }
    }
}

use super::ConnId;

fn millis(d: Duration) -> u64 {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX)
}
