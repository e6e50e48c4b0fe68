//! The server side of one connection: the hello step, heartbeat, rate limit, frame order
//! and correlation of the server's own requests.

use std::collections::HashMap;

use crate::close;
use crate::codec::{DecodeError, decode_from_client};
use crate::error::ErrorCode;
use crate::frame::{Frame, Id, Kind};
use crate::heartbeat::{Heartbeat, HeartbeatAction};
use crate::rate::{RateLimiter, Verdict};
use crate::server::{ConnId, ServerConfig};
use crate::time::{Instant, earliest};

/// Where a connection is in its life.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum ConnState {
    /// Waiting for the client's `hello`.
    AwaitingHello,
    /// `hello` received; waiting for the auth decision.
    Authenticating,
    /// Welcomed, as this user.
    Open {
        /// The authenticated user id.
        user: String,
    },
    /// Closed; no more frames in or out.
    Closed,
}

/// What one incoming text frame amounts to, after the connection's own checks.
#[derive(Debug)]
pub(crate) enum Inbound {
    /// A frame valid in the current state, for the server to act on.
    Frame(Frame),
    /// Answer with an `error` frame; the connection stays open.
    Error {
        id: Option<Id>,
        code: ErrorCode,
        message: String,
    },
    /// Close the connection with this code and reason.
    Close { code: u16, reason: String },
    /// Nothing to do (the frame was consumed, e.g. a pong).
    Nothing,
}

/// The state of one connection on the server.
pub struct ServerConnection {
    id: ConnId,
    state: ConnState,
    heartbeat: Heartbeat,
    limiter: RateLimiter,
    hello_deadline: Option<Instant>,
    bad_frames: u32,
    requests: HashMap<Id, Instant>,
    next_request: Id,
}

impl ServerConnection {
    pub(crate) fn new(id: ConnId, now: Instant, config: &ServerConfig) -> Self {
        ServerConnection {
            id,
            state: ConnState::AwaitingHello,
            heartbeat: Heartbeat::passive(config.heartbeat, now),
            limiter: RateLimiter::new(config.rate, now),
            hello_deadline: Some(now + config.hello_timeout),
            bad_frames: 0,
            requests: HashMap::new(),
            next_request: 1,
        }
    }

    /// The connection's id.
    pub fn id(&self) -> ConnId {
        self.id
    }

    /// Where the connection is in its life.
    pub fn state(&self) -> &ConnState {
        &self.state
    }

    /// The authenticated user, once open.
    pub fn user(&self) -> Option<&str> {
        match &self.state {
            ConnState::Open { user } => Some(user),
            _ => None,
        }
    }

    pub(crate) fn set_state(&mut self, state: ConnState) {
        if !matches!(state, ConnState::AwaitingHello) {
            self.hello_deadline = None;
        }
        self.state = state;
    }

    /// Runs one incoming text frame through the heartbeat, the rate limit, the codec and
    /// the frame-order rules.
    pub(crate) fn handle_text(
        &mut self,
        now: Instant,
        bytes: &[u8],
        config: &ServerConfig,
    ) -> Inbound {
        if self.state == ConnState::Closed {
            return Inbound::Nothing;
        }
        self.heartbeat.handle_recv(now);
        match self.limiter.check(now) {
            Verdict::Allow => {}
            Verdict::Reject => {
                return Inbound::Error {
                    id: None,
                    code: ErrorCode::RateLimited,
                    message: format!(
                        "over the rate limit of {} frames/s; frame dropped",
                        config.rate.per_second
                    ),
                };
            }
            Verdict::Close => {
                return Inbound::Close {
                    code: close::POLICY_VIOLATION,
                    reason: "rate limit exceeded repeatedly".into(),
                };
            }
        }
        let frame = match decode_from_client(bytes, config.max_frame_bytes) {
            Ok(frame) => frame,
            Err(DecodeError::WrongDirection { kind, .. }) => return self.unexpected(kind, config),
            Err(e) => return self.bad_frame(e, config),
        };
        match (&self.state, frame) {
            (_, Frame::Ping) => Inbound::Frame(Frame::Ping),
            (_, Frame::Pong) => Inbound::Nothing,
            (ConnState::AwaitingHello, f @ Frame::Hello(_)) => Inbound::Frame(f),
            (ConnState::Open { .. }, Frame::Hello(_)) => Inbound::Close {
                code: close::PROTOCOL_ERROR,
                reason: "hello sent twice".into(),
            },
            (
                ConnState::Open { .. },
                f @ (Frame::Join(_)
                | Frame::Resume(_)
                | Frame::Leave(_)
                | Frame::Publish(_)
                | Frame::Update(_)
                | Frame::History(_)
                | Frame::Request(_)
                | Frame::Token(_)),
            ) => Inbound::Frame(f),
            (ConnState::Open { .. }, Frame::Response(r)) => {
                if self.requests.remove(&r.id).is_some() {
                    Inbound::Frame(Frame::Response(r))
                } else {
                    Inbound::Nothing
                }
            }
            (_, f) => self.unexpected(f.kind(), config),
        }
    }

    /// A frame of a kind this connection's state does not take (or one only servers send).
    fn unexpected(&mut self, kind: Kind, config: &ServerConfig) -> Inbound {
        match self.state {
            ConnState::AwaitingHello => Inbound::Close {
                code: close::PROTOCOL_ERROR,
                reason: format!("expected hello, got {kind}"),
            },
            ConnState::Authenticating => Inbound::Close {
                code: close::PROTOCOL_ERROR,
                reason: format!("got {kind} before welcome"),
            },
            ConnState::Open { .. } => {
                self.bad_frames += 1;
                if self.bad_frames > config.max_bad_frames {
                    return Inbound::Close {
                        code: close::PROTOCOL_ERROR,
                        reason: "too many invalid frames".into(),
                    };
                }
                Inbound::Error {
                    id: None,
                    code: ErrorCode::UnexpectedFrame,
                    message: format!("{kind} frames are sent by the server, not the client"),
                }
            }
            ConnState::Closed => Inbound::Nothing,
        }
    }

    fn bad_frame(&mut self, e: DecodeError, config: &ServerConfig) -> Inbound {
        match e {
            DecodeError::TooLarge { .. } => Inbound::Close {
                code: close::MESSAGE_TOO_BIG,
                reason: e.to_string(),
            },
            DecodeError::UnsupportedVersion { .. } => Inbound::Close {
                code: close::PROTOCOL_ERROR,
                reason: e.to_string(),
            },
            DecodeError::Binary => Inbound::Close {
                code: close::UNSUPPORTED_DATA,
                reason: e.to_string(),
            },
            _ => {
                self.bad_frames += 1;
                if self.bad_frames > config.max_bad_frames {
                    return Inbound::Close {
                        code: close::INVALID_PAYLOAD,
                        reason: format!("too many malformed frames; last: {e}"),
                    };
                }
                Inbound::Error {
                    id: e.id(),
                    code: e.code(),
                    message: e.to_string(),
                }
            }
        }
    }

    /// Allocates an id for a request the server sends, due by `deadline`.
    pub(crate) fn start_request(&mut self, deadline: Instant) -> Id {
        let id = self.next_request;
        self.next_request += 1;
        self.requests.insert(id, deadline);
        id
    }

    /// The server's requests on this connection whose deadline has passed.
    pub(crate) fn expired_requests(&mut self, now: Instant) -> Vec<Id> {
        let expired: Vec<Id> = self
            .requests
            .iter()
            .filter(|(_, d)| **d <= now)
            .map(|(id, _)| *id)
            .collect();
        for id in &expired {
            self.requests.remove(id);
        }
        expired
    }

    /// Every outstanding request of the server on this connection (when it closes).
    pub(crate) fn take_requests(&mut self) -> Vec<Id> {
        self.requests.drain().map(|(id, _)| id).collect()
    }

    /// Checks the hello deadline and the heartbeat; `Some(close)` when the client is gone.
    pub(crate) fn handle_timeout(&mut self, now: Instant) -> Option<(u16, String)> {
        if self.hello_deadline.is_some_and(|d| d <= now) {
            return Some((
                close::HEARTBEAT_TIMEOUT,
                "no hello before the handshake timeout".into(),
            ));
        }
        match self.heartbeat.handle_timeout(now) {
            HeartbeatAction::Dead => Some((close::HEARTBEAT_TIMEOUT, "heartbeat timeout".into())),
            HeartbeatAction::Idle | HeartbeatAction::SendPing => None,
        }
    }

    /// The earliest time this connection needs attention (the [`crate::Server`] checks
    /// all connections on a coarse sweep instead).
    pub fn poll_timeout(&self) -> Option<Instant> {
        let req = self.requests.values().min().copied();
        earliest(
            earliest(self.hello_deadline, Some(self.heartbeat.poll_timeout())),
            req,
        )
    }
}
