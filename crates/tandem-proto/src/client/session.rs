//! The client session state machine: connect, negotiate, rejoin and resume, heartbeat,
//! backoff, offline queue, and the resolution of every operation.

use core::time::Duration;

use super::queue::{OfflineQueue, QueueLimits, Queued};
use crate::backoff::Backoff;
use crate::close::{self, CloseAction};
use crate::codec::{DEFAULT_MAX_FRAME_BYTES, decode_from_server, encode};
use crate::error::ErrorCode;
use crate::fifo::Fifo;
use crate::frame::{self, ErrorBody, Frame, Id, Member, Payload};
use crate::heartbeat::{Heartbeat, HeartbeatAction, HeartbeatConfig};
use crate::negotiate::{AppSchema, PROTOCOL_MARKER, SUPPORTED_PROTOCOLS, client_offer};
use crate::rng::Rng;
use crate::table::Table;
use crate::time::{Instant, earliest};

/// How a client behaves. Every field has a documented default.
#[derive(Debug, Clone)]
pub struct ClientConfig {
    /// The application schema offered in `hello`. Default `"default"` v1.
    pub app: AppSchema,
    /// The token sent in `hello`, if any. Default none.
    pub token: Option<String>,
    /// Ask the driver for a fresh token ([`ClientEvent::TokenRequired`]) before every
    /// connection attempt. Default false.
    pub refresh_token: bool,
    /// The reconnect schedule.
    pub backoff: Backoff,
    /// Heartbeat timings used until the server's `welcome` announces its own.
    pub heartbeat: HeartbeatConfig,
    /// Bounds of the offline queue.
    pub queue: QueueLimits,
    /// How long a request may wait for its response, queued time included. Default 10 s.
    pub request_timeout: Duration,
    /// How long a sent publish may wait for its ack. Default 10 s.
    pub publish_timeout: Duration,
    /// How long opening the socket plus the hello/welcome step may take. Default 10 s.
    pub handshake_timeout: Duration,
    /// Largest frame accepted from the server. Default 1 MiB.
    pub max_inbound_bytes: usize,
    /// The WebSocket subprotocols offered, in preference order. Default
    /// [`client_offer`]: every protocol version this client speaks, then the `tandem`
    /// marker (so an incompatible server explains itself with close 4005).
    pub protocols: Vec<String>,
}

impl Default for ClientConfig {
    fn default() -> Self {
        ClientConfig {
            app: AppSchema::default(),
            token: None,
            refresh_token: false,
            backoff: Backoff::default(),
            heartbeat: HeartbeatConfig::default(),
            queue: QueueLimits::default(),
            request_timeout: Duration::from_secs(10),
            publish_timeout: Duration::from_secs(10),
            handshake_timeout: Duration::from_secs(10),
            max_inbound_bytes: 1024 * 1024,
            protocols: client_offer(),
        }
    }
}

/// Why a session is closed for good.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum CloseReason {
    /// The application called [`Session::close`].
    #[error("closed by the client")]
    ClientClosed,
    /// The server refused the token and no fresh one helped.
    #[error("unauthorized (close {code}): {message}")]
    Unauthorized {
        /// The close code (4001 or 4002) or 0 when the token provider refused.
        code: u16,
        /// The server's or token provider's explanation.
        message: String,
    },
    /// No common wire protocol version.
    #[error("no common wire protocol: {0}")]
    ProtocolMismatch(String),
    /// No common application schema version.
    #[error("no common application schema version: {0}")]
    AppVersionMismatch(String),
    /// The server closed with a code that means "do not come back" (normal close,
    /// protocol error, policy violation, ...).
    #[error("closed by the server (close {code}): {reason}")]
    ServerClosed {
        /// The close code.
        code: u16,
        /// The close reason.
        reason: String,
    },
    /// [`Backoff::max_attempts`] reconnects failed in a row.
    #[error("gave up after {attempts} reconnect attempts")]
    AttemptsExhausted {
        /// How many attempts were made.
        attempts: u32,
    },
}

/// The connection state the application sees.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ConnectionState {
    /// Not started: [`Session::connect`] has not been called.
    Idle,
    /// Opening a socket and negotiating; `attempt` is 0 for the first connection.
    Connecting {
        /// The reconnect attempt (0: first connection).
        attempt: u32,
    },
    /// Welcomed by the server.
    Open,
    /// Waiting before reconnect attempt `attempt`; `delay: None` means waiting for the
    /// network to come back.
    Reconnecting {
        /// The attempt about to be made.
        attempt: u32,
        /// How long until it, or `None` while offline.
        delay: Option<Duration>,
    },
    /// Closed for good.
    Closed(CloseReason),
}

/// Why an operation failed. Every publish, request, join and leave ends in exactly one
/// success event or one [`ClientEvent::Failed`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum OpError {
    /// The offline queue is full (by count or bytes); nothing was queued.
    #[error("offline queue full ({count} frames, {bytes} bytes)")]
    QueueFull {
        /// Frames in the queue.
        count: usize,
        /// Bytes in the queue.
        bytes: usize,
    },
    /// The frame is over the server's size limit; nothing was sent.
    #[error("frame of {size} bytes exceeds the server's limit of {limit} bytes")]
    TooLarge {
        /// The encoded size.
        size: usize,
        /// The limit.
        limit: usize,
    },
    /// The room was not joined (or was left).
    #[error("not joined to room `{room}`")]
    NotJoined {
        /// The room.
        room: String,
    },
    /// No answer within the timeout.
    #[error("timed out")]
    Timeout,
    /// The frame was sent but the connection dropped before the answer; it may or may not
    /// have been processed.
    #[error("connection lost before the answer")]
    ConnectionLost,
    /// The session is closed.
    #[error("session closed: {0}")]
    Closed(CloseReason),
    /// The server answered with an error.
    #[error("server error {code}: {message}")]
    Server {
        /// The stable code.
        code: ErrorCode,
        /// The explanation.
        message: String,
    },
    /// The payload could not be encoded or decoded as the application's type.
    #[error("payload: {0}")]
    Payload(String),
}

/// Why the token provider gave no token.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum TokenError {
    /// The user is not allowed in: stop for good.
    #[error("unauthorized: {0}")]
    Unauthorized(String),
    /// The provider failed for now (network...): try again with backoff.
    #[error("token unavailable: {0}")]
    Unavailable(String),
}

/// What the driver must do next.
#[derive(Debug, Clone, PartialEq, Eq)]
#[must_use]
pub enum Transmit {
    /// Open a WebSocket offering these subprotocols, then call [`Session::handle_open`]
    /// (or [`Session::handle_closed`] if it fails).
    Connect {
        /// Subprotocols in preference order.
        protocols: Vec<String>,
    },
    /// Send this text frame.
    Send(String),
    /// Close the socket with this code and reason. The session already treats it as
    /// closed: do not report that socket's later events.
    Close {
        /// The close code.
        code: u16,
        /// The reason.
        reason: String,
    },
}

/// What happened, for the application.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub enum ClientEvent {
    /// The connection state changed.
    StateChanged(ConnectionState),
    /// A fresh token is needed before connecting: call [`Session::handle_token`].
    TokenRequired,
    /// A room was joined, first or again after a reconnect.
    Joined {
        /// The id [`Session::join`] returned, for the first join; `None` for rejoins.
        id: Option<Id>,
        /// The room.
        room: String,
        /// After a resume: `true` if every missed message follows, `false` if some were
        /// lost (refetch). `None` for a first join.
        recovered: Option<bool>,
        /// The presence snapshot.
        members: Vec<Member>,
    },
    /// A message in a joined room, in order, never twice.
    Message {
        /// The room.
        room: String,
        /// Its sequence number.
        seq: u64,
        /// The publishing user, if any.
        from: Option<String>,
        /// The payload.
        data: Payload,
    },
    /// Members arrived in or left a room.
    Presence {
        /// The room.
        room: String,
        /// Arrivals.
        joined: Vec<Member>,
        /// Departures.
        left: Vec<Member>,
    },
    /// The client is out of a room: a leave completed (`id` is the one
    /// [`Session::leave`] returned, `reason` is `None`), or the server refused to take
    /// the client back into a room it had joined (`id` is `None`, `reason` says why, e.g.
    /// `forbidden`). Rejoins the server cannot serve now (`unavailable`) are retried with
    /// backoff instead, never abandoned.
    Left {
        /// The leave's id, when the application asked to leave.
        id: Option<Id>,
        /// The room.
        room: String,
        /// Why the server took the client out, when it did.
        reason: Option<ErrorBody>,
    },
    /// A publish was acknowledged.
    Published {
        /// The id [`Session::publish`] returned.
        id: Id,
        /// The room.
        room: String,
        /// The sequence number it got.
        seq: u64,
    },
    /// A request was answered.
    Response {
        /// The id [`Session::request`] returned.
        id: Id,
        /// The answer.
        data: Payload,
    },
    /// An operation failed.
    Failed {
        /// The operation's id.
        id: Id,
        /// Why.
        error: OpError,
    },
    /// The server asks something: answer with [`Session::respond`].
    Request {
        /// The request's id.
        id: Id,
        /// The room it is about, if any.
        room: Option<String>,
        /// The payload.
        data: Payload,
    },
    /// The server reported an error not tied to an operation.
    Error {
        /// The room concerned, if any.
        room: Option<String>,
        /// The stable code.
        code: ErrorCode,
        /// The explanation.
        message: String,
    },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum RoomStatus {
    /// Waiting for an open connection.
    Pending,
    /// `join`/`resume` sent.
    Joining,
    /// `joined` received on this connection.
    Joined,
}

#[derive(Debug)]
struct RoomState {
    meta: Option<Payload>,
    history: u32,
    /// The user's join op, until its first `joined`.
    join_id: Option<Id>,
    status: RoomStatus,
    /// `(epoch, last seq seen)`.
    position: Option<(u64, u64)>,
    /// When to send the rejoin again, after the server could not serve it (`unavailable`).
    retry_at: Option<Instant>,
    /// Rejoins refused in a row, for the backoff.
    refusals: u32,
}

#[derive(Debug)]
enum PendingKind {
    Join { room: String },
    Leave { room: String },
    Publish { room: String },
    Request,
}

#[derive(Debug)]
struct Pending {
    kind: PendingKind,
    deadline: Option<Instant>,
}

#[derive(Debug)]
enum Phase {
    Idle,
    AwaitingToken {
        attempt: u32,
    },
    Connecting {
        attempt: u32,
        deadline: Instant,
    },
    Handshaking {
        attempt: u32,
        deadline: Instant,
    },
    /// `attempt`: the attempt that opened it, kept until the connection proves stable.
    Open {
        since: Instant,
        attempt: u32,
    },
    Waiting {
        attempt: u32,
        at: Option<Instant>,
    },
    Closed(CloseReason),
}

/// One client's protocol state, across every reconnect.
///
/// The run loop of a driver:
///
/// ```text
/// session.connect(now)
/// loop {
///     while let Some(t) = session.poll_transmit() { open / send / close the socket }
///     while let Some(e) = session.poll_event() { hand it to the application }
///     wait for the first of: socket opened  -> session.handle_open(now, protocol)
///                            text frame     -> session.handle_message(now, bytes)
///                            socket closed  -> session.handle_closed(now, code, reason)
///                            a timer at session.poll_timeout() -> session.handle_timeout(now)
///                            a user command -> session.join / publish / request / leave / close
/// }
/// ```
pub struct Session {
    config: ClientConfig,
    rng: Rng,
    phase: Phase,
    public_state: ConnectionState,
    token: Option<String>,
    auth_failures: u32,
    online: bool,
    heartbeat: Option<Heartbeat>,
    max_frame_bytes: usize,
    rooms: Table<String, RoomState>,
    pending: Table<Id, Pending>,
    queue: OfflineQueue,
    next_id: Id,
    handshake_error: Option<ErrorBody>,
    transmits: Fifo<Transmit>,
    events: Fifo<ClientEvent>,
}

impl Session {
    /// A session that has not connected yet. `seed` drives the backoff jitter.
    pub fn new(config: ClientConfig, seed: u64) -> Self {
        Session {
            token: config.token.clone(),
            config,
            rng: Rng::new(seed),
            phase: Phase::Idle,
            public_state: ConnectionState::Idle,
            auth_failures: 0,
            online: true,
            heartbeat: None,
            max_frame_bytes: DEFAULT_MAX_FRAME_BYTES,
            rooms: Table::new(),
            pending: Table::new(),
            queue: OfflineQueue::default(),
            next_id: 1,
            handshake_error: None,
            transmits: Fifo::new(),
            events: Fifo::new(),
        }
    }

    /// The connection state.
    pub fn state(&self) -> &ConnectionState {
        &self.public_state
    }

    /// The configuration.
    pub fn config(&self) -> &ClientConfig {
        &self.config
    }

    /// Frames waiting in the offline queue.
    pub fn queued(&self) -> usize {
        self.queue.len()
    }

    /// `(epoch, last seq)` seen in `room`, if joined once.
    pub fn position(&self, room: &str) -> Option<(u64, u64)> {
        self.rooms.get(room).and_then(|r| r.position)
    }

    /// Starts connecting.
    pub fn connect(&mut self, now: Instant) {
        if matches!(self.phase, Phase::Idle) {
            self.begin_attempt(now, 0);
        }
    }

    fn begin_attempt(&mut self, now: Instant, attempt: u32) {
        if self.config.refresh_token {
            self.phase = Phase::AwaitingToken { attempt };
            self.set_state(ConnectionState::Connecting { attempt });
            self.events.push_back(ClientEvent::TokenRequired);
        } else {
            self.open_socket(now, attempt);
        }
    }

    fn open_socket(&mut self, now: Instant, attempt: u32) {
        self.phase = Phase::Connecting {
            attempt,
            deadline: now + self.config.handshake_timeout,
        };
        self.handshake_error = None;
        self.set_state(ConnectionState::Connecting { attempt });
        self.transmits.push_back(Transmit::Connect {
            protocols: self.config.protocols.clone(),
        });
    }

    /// The answer to [`ClientEvent::TokenRequired`].
    pub fn handle_token(&mut self, now: Instant, token: Result<String, TokenError>) {
        let Phase::AwaitingToken { attempt } = self.phase else {
            return;
        };
        match token {
            Ok(t) => {
                self.token = Some(t);
                self.open_socket(now, attempt);
            }
            Err(TokenError::Unauthorized(message)) => {
                self.finish(CloseReason::Unauthorized { code: 0, message });
            }
            Err(TokenError::Unavailable(_)) => {
                self.phase = Phase::Waiting { attempt, at: None };
                self.schedule_reconnect(now, None, false);
            }
        }
    }

    /// The socket opened with subprotocol `protocol` (`None`: the server chose none).
    pub fn handle_open(&mut self, _now: Instant, protocol: Option<&str>) {
        let Phase::Connecting { attempt, deadline } = self.phase else {
            return;
        };
        match protocol {
            Some(p) if SUPPORTED_PROTOCOLS.contains(&p) => {
                self.phase = Phase::Handshaking { attempt, deadline };
                let hello = Frame::Hello(frame::Hello {
                    app: self.config.app.offer(),
                    token: self.token.clone(),
                });
                self.transmits.push_back(Transmit::Send(encode(&hello)));
            }
            // The server speaks none of our versions; its close (4005) says why.
            Some(PROTOCOL_MARKER) => self.phase = Phase::Handshaking { attempt, deadline },
            other => {
                let mut reason = format!(
                    "server selected subprotocol `{}`; client offered",
                    other.unwrap_or_default()
                );
                for p in client_offer() {
                    reason.push(' ');
                    reason.push_str(&p);
                }
                self.transmits.push_back(Transmit::Close {
                    code: close::PROTOCOL_ERROR,
                    reason: "no common subprotocol".into(),
                });
                self.finish(CloseReason::ProtocolMismatch(reason));
            }
        }
    }

    fn has_socket(&self) -> bool {
        matches!(
            self.phase,
            Phase::Connecting { .. } | Phase::Handshaking { .. } | Phase::Open { .. }
        )
    }

    /// The socket closed: `code` from the close frame, `None` if it failed or dropped.
    pub fn handle_closed(&mut self, now: Instant, code: Option<u16>, reason: &str) {
        if !self.has_socket() {
            return;
        }
        let was_open_since = match self.phase {
            Phase::Open { since, .. } => Some(since),
            _ => None,
        };
        let attempt = self.attempt();
        self.heartbeat = None;
        self.drop_connection_ops();
        // A connection that stayed up long enough resets the backoff.
        let stable = was_open_since
            .is_some_and(|s| now.saturating_since(s) >= self.config.backoff.stable_after);
        let attempt = if stable { 0 } else { attempt };
        self.phase = Phase::Waiting { attempt, at: None };
        let server_says = self.handshake_error.take();
        let reason_text = match (&server_says, reason.is_empty()) {
            (Some(e), true) => e.message.clone(),
            _ => reason.to_owned(),
        };
        match close::action(code, reason) {
            CloseAction::Retry { hint } => self.schedule_reconnect(now, hint, false),
            CloseAction::RefreshToken if self.config.refresh_token && self.auth_failures == 0 => {
                self.auth_failures += 1;
                self.schedule_reconnect(now, None, true);
            }
            CloseAction::RefreshToken => self.finish(CloseReason::Unauthorized {
                code: code.unwrap_or(close::UNAUTHORIZED),
                message: reason_text,
            }),
            CloseAction::Stop => {
                let code = code.unwrap_or(close::NORMAL);
                let why = match code {
                    close::PROTOCOL_MISMATCH => CloseReason::ProtocolMismatch(reason_text),
                    close::APP_VERSION_MISMATCH => CloseReason::AppVersionMismatch(reason_text),
                    _ => CloseReason::ServerClosed {
                        code,
                        reason: reason_text,
                    },
                };
                self.finish(why);
            }
        }
    }

    fn attempt(&self) -> u32 {
        match self.phase {
            Phase::AwaitingToken { attempt }
            | Phase::Connecting { attempt, .. }
            | Phase::Handshaking { attempt, .. }
            | Phase::Waiting { attempt, .. }
            | Phase::Open { attempt, .. } => attempt,
            _ => 0,
        }
    }

    /// Fails what was in flight on the dropped connection; rooms go back to pending.
    fn drop_connection_ops(&mut self) {
        for (id, p) in std::mem::take(&mut self.pending).drain() {
            match p.kind {
                PendingKind::Publish { .. } | PendingKind::Request => {
                    self.events.push_back(ClientEvent::Failed {
                        id,
                        error: OpError::ConnectionLost,
                    })
                }
                // The server forgets the membership with the connection.
                PendingKind::Leave { room } => self.events.push_back(ClientEvent::Left {
                    id: Some(id),
                    room,
                    reason: None,
                }),
                PendingKind::Join { .. } => {}
            }
        }
        for room in self.rooms.values_mut() {
            room.status = RoomStatus::Pending;
            room.retry_at = None;
        }
    }

    fn schedule_reconnect(&mut self, now: Instant, hint: Option<Duration>, immediate: bool) {
        let attempt = self.attempt() + 1;
        let delay = if immediate {
            Some(Duration::ZERO)
        } else {
            self.config.backoff.delay(attempt, hint, &mut self.rng)
        };
        let Some(delay) = delay else {
            self.finish(CloseReason::AttemptsExhausted {
                attempts: attempt - 1,
            });
            return;
        };
        if self.online {
            self.phase = Phase::Waiting {
                attempt,
                at: Some(now + delay),
            };
            self.set_state(ConnectionState::Reconnecting {
                attempt,
                delay: Some(delay),
            });
        } else {
            self.phase = Phase::Waiting { attempt, at: None };
            self.set_state(ConnectionState::Reconnecting {
                attempt,
                delay: None,
            });
        }
    }

    /// The network went away (`false`) or came back (`true`), e.g. the browser's
    /// `offline`/`online` events. Offline pauses reconnecting; online reconnects at once.
    pub fn handle_network(&mut self, now: Instant, online: bool) {
        self.online = online;
        match self.phase {
            Phase::Waiting { attempt, .. } if online => self.begin_attempt(now, attempt),
            Phase::Waiting {
                attempt,
                at: Some(_),
            } => {
                self.phase = Phase::Waiting { attempt, at: None };
                self.set_state(ConnectionState::Reconnecting {
                    attempt,
                    delay: None,
                });
            }
            Phase::Open { .. } => self.probe(now),
            _ => {}
        }
    }

    /// The page became visible (`true`) or hidden. On becoming visible, an open
    /// connection is checked at once with a ping, and one waiting to reconnect tries now:
    /// the user is looking, and one tab returning is no herd.
    pub fn handle_visibility(&mut self, now: Instant, visible: bool) {
        if !visible {
            return;
        }
        match self.phase {
            Phase::Open { .. } => self.probe(now),
            Phase::Waiting { .. } => self.reconnect_now(now),
            _ => {}
        }
    }

    /// Skips the rest of the backoff wait and reconnects now (a "retry now" button, or
    /// the application knowing the server is back). The attempt counter is kept, so a
    /// failed attempt backs off as before. Nothing happens unless the session is waiting
    /// to reconnect.
    pub fn reconnect_now(&mut self, now: Instant) {
        if let Phase::Waiting { attempt, .. } = self.phase {
            self.begin_attempt(now, attempt);
        }
    }

    fn probe(&mut self, now: Instant) {
        if let Some(hb) = self.heartbeat.as_mut() {
            if hb.probe(now) == HeartbeatAction::SendPing {
                self.transmits
                    .push_back(Transmit::Send(encode(&Frame::Ping)));
            }
        }
    }

    /// A text frame arrived.
    pub fn handle_message(&mut self, now: Instant, bytes: &[u8]) {
        if !matches!(self.phase, Phase::Handshaking { .. } | Phase::Open { .. }) {
            return;
        }
        if let Some(hb) = self.heartbeat.as_mut() {
            hb.handle_recv(now);
        }
        let frame = match decode_from_server(bytes, self.config.max_inbound_bytes) {
            Ok(f) => f,
            Err(e) => {
                self.events.push_back(ClientEvent::Error {
                    room: None,
                    code: e.code(),
                    message: format!("bad frame from the server: {e}"),
                });
                return;
            }
        };
        if let Phase::Handshaking { .. } = self.phase {
            match frame {
                Frame::Welcome(w) => self.handle_welcome(now, w),
                Frame::Error(e) => {
                    self.handshake_error = Some(ErrorBody {
                        code: e.code,
                        message: e.message,
                    })
                }
                _ => {}
            }
            return;
        }
        match frame {
            Frame::Event(e) => self.handle_event(now, e),
            Frame::Joined(j) => self.handle_joined(now, j),
            Frame::Ack(a) => {
                if let Some(Pending {
                    kind: PendingKind::Publish { room },
                    ..
                }) = self.pending.remove(&a.id)
                {
                    self.events.push_back(ClientEvent::Published {
                        id: a.id,
                        room,
                        seq: a.seq,
                    });
                }
            }
            Frame::Left(l) => {
                if let Some(Pending {
                    kind: PendingKind::Leave { room },
                    ..
                }) = self.pending.remove(&l.id)
                {
                    self.events.push_back(ClientEvent::Left {
                        id: Some(l.id),
                        room,
                        reason: None,
                    });
                }
            }
            Frame::Response(r) if self.pending.remove(&r.id).is_some() => {
                let ev = match r.result {
                    Ok(data) => ClientEvent::Response { id: r.id, data },
                    Err(e) => ClientEvent::Failed {
                        id: r.id,
                        error: OpError::Server {
                            code: e.code,
                            message: e.message,
                        },
                    },
                };
                self.events.push_back(ev);
            }
            Frame::Presence(p)
                if self
                    .rooms
                    .get(&p.room)
                    .is_some_and(|r| r.status == RoomStatus::Joined) =>
            {
                self.events.push_back(ClientEvent::Presence {
                    room: p.room,
                    joined: p.joined,
                    left: p.left,
                });
            }
            Frame::Request(r) => self.events.push_back(ClientEvent::Request {
                id: r.id,
                room: r.room,
                data: r.data,
            }),
            Frame::Ping => self.send_text(now, encode(&Frame::Pong)),
            Frame::Error(e) => self.handle_error(now, e),
            Frame::Pong | Frame::Welcome(_) | Frame::Hello(_) => {}
            // Client-to-server kinds from the server: ignore.
            _ => {}
        }
    }

    fn handle_welcome(&mut self, now: Instant, w: frame::Welcome) {
        self.heartbeat = Some(Heartbeat::active(
            HeartbeatConfig::from_timings(w.heartbeat),
            now,
        ));
        self.max_frame_bytes = w.limits.max_frame_bytes;
        self.auth_failures = 0;
        self.phase = Phase::Open {
            since: now,
            attempt: self.attempt(),
        };
        self.set_state(ConnectionState::Open);
        let names: Vec<String> = self.rooms.keys().cloned().collect();
        for name in names {
            self.send_join(now, &name);
        }
        self.flush(now);
    }

    fn send_join(&mut self, now: Instant, name: &str) {
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

    fn handle_joined(&mut self, now: Instant, j: frame::Joined) {
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
        self.events.push_back(ClientEvent::Joined {
            id,
            room: name,
            recovered: j.recovered,
            members: j.presence,
        });
        self.flush(now);
    }

    /// A numbered message. Within an epoch, each one must be the last plus one: an older
    /// one is a duplicate and is dropped, a newer one means messages went missing on the
    /// way. A jump is never accepted: the client resumes from its last position, so the
    /// server replays the hole, or answers `recovered: false` if it no longer can.
    fn handle_event(&mut self, now: Instant, e: frame::Event) {
        let Some(room) = self.rooms.get_mut(&e.room) else {
            return;
        };
        if room.status != RoomStatus::Joined {
            return;
        }
        if let Some((epoch, last)) = room.position {
            if e.seq <= last {
                return; // duplicate
            }
            if e.seq > last + 1 {
                self.send_join(now, &e.room);
                return;
            }
            room.position = Some((epoch, e.seq));
        }
        self.events.push_back(ClientEvent::Message {
            room: e.room,
            seq: e.seq,
            from: e.from,
            data: e.data,
        });
    }

    fn handle_error(&mut self, now: Instant, e: frame::ErrorFrame) {
        let pending =
            e.id.and_then(|id| self.pending.remove(&id).map(|p| (id, p)));
        let error = OpError::Server {
            code: e.code,
            message: e.message.clone(),
        };
        match pending {
            Some((
                _,
                Pending {
                    kind: PendingKind::Join { room },
                    ..
                },
            )) => self.join_refused(now, room, e.code, e.message),
            Some((
                id,
                Pending {
                    kind: PendingKind::Leave { room },
                    ..
                },
            )) => {
                self.events.push_back(ClientEvent::Left {
                    id: Some(id),
                    room,
                    reason: None,
                });
            }
            Some((id, _)) => self.events.push_back(ClientEvent::Failed { id, error }),
            None => self.events.push_back(ClientEvent::Error {
                room: e.room,
                code: e.code,
                message: e.message,
            }),
        }
    }

    /// The server refused a join or rejoin. A first join fails to the application. A
    /// rejoin (the client was in the room) is retried with backoff when the server could
    /// not serve it now (`unavailable`, `rate_limited`, `timeout`, `internal`), so a client
    /// never stays connected outside a room it had joined; any other refusal takes the
    /// client out of the room with [`ClientEvent::Left`] and the reason.
    fn join_refused(&mut self, now: Instant, name: String, code: ErrorCode, message: String) {
        let transient = matches!(
            code,
            ErrorCode::Unavailable
                | ErrorCode::RateLimited
                | ErrorCode::Timeout
                | ErrorCode::Internal
        );
        if let Some(room) = self.rooms.get_mut(&name) {
            if transient && room.join_id.is_none() {
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

    fn fail_queued_for(&mut self, room: &str) {
        for q in self.queue.take_ready(|q| q.room.as_deref() == Some(room)) {
            self.events.push_back(ClientEvent::Failed {
                id: q.id,
                error: OpError::NotJoined {
                    room: room.to_owned(),
                },
            });
        }
    }

    fn new_id(&mut self) -> Id {
        let id = self.next_id;
        self.next_id += 1;
        id
    }

    fn closed_error(&self) -> Option<OpError> {
        match &self.phase {
            Phase::Closed(r) => Some(OpError::Closed(r.clone())),
            _ => None,
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
        if let Some(e) = self.closed_error() {
            return Err(e);
        }
        let id = self.new_id();
        if let Some(existing) = self.rooms.get_mut(room) {
            // Already joined: resolve at once with the known state.
            existing.meta = meta;
            if existing.status == RoomStatus::Joined {
                self.events.push_back(ClientEvent::Joined {
                    id: Some(id),
                    room: room.to_owned(),
                    recovered: None,
                    members: Vec::new(),
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
                position: None,
                retry_at: None,
                refusals: 0,
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
        let Some(state) = self.rooms.remove(room) else {
            return Err(OpError::NotJoined {
                room: room.to_owned(),
            });
        };
        if let Some(join_id) = state.join_id {
            self.pending
                .retain(|_, p| !matches!(&p.kind, PendingKind::Join { room: r } if r == room));
            self.events.push_back(ClientEvent::Failed {
                id: join_id,
                error: OpError::NotJoined {
                    room: room.to_owned(),
                },
            });
        }
        self.fail_queued_for(room);
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
        }));
        self.check_size(&text)?;
        let ready = self.room_ready(room) && !self.queue.has_room(room);
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
        }
        Ok(id)
    }

    /// Sends a request (about `room`, optionally). Resolves with [`ClientEvent::Response`]
    /// or [`ClientEvent::Failed`] within [`ClientConfig::request_timeout`].
    pub fn request(
        &mut self,
        now: Instant,
        room: Option<&str>,
        data: Payload,
    ) -> Result<Id, OpError> {
        if let Some(e) = self.closed_error() {
            return Err(e);
        }
        let id = self.new_id();
        let text = encode(&Frame::Request(frame::Request {
            id,
            room: room.map(str::to_owned),
            data,
        }));
        self.check_size(&text)?;
        let deadline = now + self.config.request_timeout;
        if matches!(self.phase, Phase::Open { .. }) && self.queue.len() == 0 {
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

    fn check_size(&self, text: &str) -> Result<(), OpError> {
        if text.len() > self.max_frame_bytes {
            return Err(OpError::TooLarge {
                size: text.len(),
                limit: self.max_frame_bytes,
            });
        }
        Ok(())
    }

    fn room_ready(&self, room: &str) -> bool {
        matches!(self.phase, Phase::Open { .. })
            && self
                .rooms
                .get(room)
                .is_some_and(|r| r.status == RoomStatus::Joined)
    }

    fn enqueue(&mut self, item: Queued) -> Result<(), OpError> {
        let (count, bytes) = (self.queue.len(), self.queue.bytes());
        self.queue
            .push(item, &self.config.queue)
            .map_err(|_| OpError::QueueFull { count, bytes })
    }

    /// Sends, in order, every queued frame whose room is ready.
    fn flush(&mut self, now: Instant) {
        if !matches!(self.phase, Phase::Open { .. }) {
            return;
        }
        let rooms = &self.rooms;
        let ready = self.queue.take_ready(|q| match &q.room {
            None => true,
            Some(r) => rooms.get(r).is_some_and(|r| r.status == RoomStatus::Joined),
        });
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

    fn send_text(&mut self, now: Instant, text: String) {
        if let Some(hb) = self.heartbeat.as_mut() {
            hb.handle_sent(now);
        }
        self.transmits.push_back(Transmit::Send(text));
    }

    /// Closes the session for good: the socket closes with 1000 and every pending
    /// operation fails with [`OpError::Closed`].
    pub fn close(&mut self, _now: Instant) {
        if matches!(self.phase, Phase::Closed(_)) {
            return;
        }
        if self.has_socket() {
            self.transmits.push_back(Transmit::Close {
                code: close::NORMAL,
                reason: "client closed".into(),
            });
        }
        self.finish(CloseReason::ClientClosed);
    }

    fn finish(&mut self, reason: CloseReason) {
        self.heartbeat = None;
        let error = OpError::Closed(reason.clone());
        // Each id once, in order. (Kept sorted by hand: a sort costs the wasm 4 KB.)
        let mut failed: Vec<Id> = Vec::new();
        let ids = self.pending.drain().map(|(id, _)| id);
        let ids = ids.chain(self.queue.take_ready(|_| true).into_iter().map(|q| q.id));
        for id in ids.chain(self.rooms.values().filter_map(|r| r.join_id)) {
            if let Err(at) = failed.binary_search(&id) {
                failed.insert(at, id);
            }
        }
        for id in failed {
            self.events.push_back(ClientEvent::Failed {
                id,
                error: error.clone(),
            });
        }
        self.phase = Phase::Closed(reason.clone());
        self.set_state(ConnectionState::Closed(reason));
    }

    fn set_state(&mut self, state: ConnectionState) {
        if self.public_state != state {
            self.public_state = state.clone();
            self.events.push_back(ClientEvent::StateChanged(state));
        }
    }

    /// When [`Session::handle_timeout`] must next be called.
    pub fn poll_timeout(&self) -> Option<Instant> {
        let phase = match self.phase {
            Phase::Connecting { deadline, .. } | Phase::Handshaking { deadline, .. } => {
                Some(deadline)
            }
            Phase::Waiting { at, .. } => at,
            Phase::Open { .. } => {
                let rejoin = self.rooms.values().filter_map(|r| r.retry_at).min();
                earliest(self.heartbeat.as_ref().map(Heartbeat::poll_timeout), rejoin)
            }
            _ => None,
        };
        let ops = self.pending.values().filter_map(|p| p.deadline).min();
        earliest(earliest(phase, ops), self.queue.next_deadline())
    }

    /// Fires due timers: reconnect, handshake and heartbeat deadlines, op timeouts.
    pub fn handle_timeout(&mut self, now: Instant) {
        let expired: Vec<Id> = self
            .pending
            .iter()
            .filter(|(_, p)| p.deadline.is_some_and(|d| d <= now))
            .map(|(id, _)| *id)
            .collect();
        for id in expired {
            if let Some(p) = self.pending.remove(&id) {
                let ev = match p.kind {
                    PendingKind::Leave { room } => ClientEvent::Left {
                        id: Some(id),
                        room,
                        reason: None,
                    },
                    _ => ClientEvent::Failed {
                        id,
                        error: OpError::Timeout,
                    },
                };
                self.events.push_back(ev);
            }
        }
        for q in self
            .queue
            .take_ready(|q| q.deadline.is_some_and(|d| d <= now))
        {
            self.events.push_back(ClientEvent::Failed {
                id: q.id,
                error: OpError::Timeout,
            });
        }
        match self.phase {
            Phase::Waiting {
                attempt,
                at: Some(at),
            } if at <= now => self.begin_attempt(now, attempt),
            Phase::Connecting { deadline, .. } | Phase::Handshaking { deadline, .. }
                if deadline <= now =>
            {
                self.transmits.push_back(Transmit::Close {
                    code: close::HEARTBEAT_TIMEOUT,
                    reason: "handshake timeout".into(),
                });
                self.handle_closed(now, None, "handshake timeout");
            }
            Phase::Open { .. } => {
                let due: Vec<String> = self
                    .rooms
                    .iter()
                    .filter(|(_, r)| r.retry_at.is_some_and(|t| t <= now))
                    .map(|(name, _)| name.clone())
                    .collect();
                for name in due {
                    self.send_join(now, &name);
                }
                let action = self.heartbeat.as_mut().map(|hb| hb.handle_timeout(now));
                match action {
                    Some(HeartbeatAction::SendPing) => self
                        .transmits
                        .push_back(Transmit::Send(encode(&Frame::Ping))),
                    Some(HeartbeatAction::Dead) => {
                        self.transmits.push_back(Transmit::Close {
                            code: close::HEARTBEAT_TIMEOUT,
                            reason: "heartbeat timeout".into(),
                        });
                        self.handle_closed(now, None, "heartbeat timeout");
                    }
                    _ => {}
                }
            }
            _ => {}
        }
    }

    /// The next thing for the driver to do.
    #[must_use]
    pub fn poll_transmit(&mut self) -> Option<Transmit> {
        self.transmits.pop_front()
    }

    /// The next event for the application.
    #[must_use]
    pub fn poll_event(&mut self) -> Option<ClientEvent> {
        self.events.pop_front()
    }
}
