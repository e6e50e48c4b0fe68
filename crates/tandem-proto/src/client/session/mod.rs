//! The client session state machine: connect, negotiate, rejoin and resume, heartbeat,
//! backoff, offline queue, and the resolution of every operation.

use core::time::Duration;

mod ops;
mod presence;
mod reconnect;
mod refresh;
mod rooms;

use rooms::{RoomState, RoomStatus};

use super::config::ClientConfig;
use super::events::{ClientEvent, CloseReason, ConnectionState, OpError, TokenError, Transmit};
use super::queue::{OfflineQueue, Queued};
use crate::close::{self, CloseAction};
use crate::codec::{DEFAULT_MAX_FRAME_BYTES, decode_from_server, encode};
use crate::error::ErrorCode;
use crate::fifo::Fifo;
use crate::frame::{self, ErrorBody, Frame, Id, Member, Payload};
use crate::heartbeat::{Heartbeat, HeartbeatAction, HeartbeatConfig};
use crate::negotiate::{PROTOCOL_MARKER, SUPPORTED_PROTOCOLS, client_offer};
use crate::rate::{RateLimit, RateLimiter};
use crate::rng::Rng;
use crate::table::Table;
use crate::time::{Instant, earliest};

#[derive(Debug)]
enum PendingKind {
    Join {
        room: String,
    },
    Leave {
        room: String,
    },
    Publish {
        room: String,
    },
    /// An ephemeral publish that asked for an ack, or a presence update: resolved by
    /// [`ClientEvent::Done`].
    Acked,
    /// A request or a page of history: resolved by its answer.
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
    /// The server asked for a fresh token (`refresh`) and the driver has not answered yet.
    refresh_asked: bool,
    auth_failures: u32,
    online: bool,
    heartbeat: Option<Heartbeat>,
    max_frame_bytes: usize,
    rooms: Table<String, RoomState>,
    pending: Table<Id, Pending>,
    queue: OfflineQueue,
    next_id: Id,
    handshake_error: Option<ErrorBody>,
    /// Paces what goes out within the rate the server announced (`ops.rs`).
    pacer: Option<RateLimiter>,
    /// When the offline queue may send more, once the pacer has tokens again.
    flush_at: Option<Instant>,
    transmits: Fifo<Transmit>,
    events: Fifo<ClientEvent>,
}

impl Session {
    /// A session that has not connected yet. `seed` drives the backoff jitter.
    pub fn new(config: ClientConfig, seed: u64) -> Self {
        Session {
            token: config.token.clone(),
            refresh_asked: false,
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
            pacer: None,
            flush_at: None,
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

    /// The answer to [`ClientEvent::TokenRequired`]: before connecting, the token of the
    /// attempt; on an open connection whose server asked (`refresh`), the fresh token sent.
    pub fn handle_token(&mut self, now: Instant, token: Result<String, TokenError>) {
        if self.refresh_asked {
            self.refreshed(now, token);
            return;
        }
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
                    close::TLS_HANDSHAKE => CloseReason::Tls(reason_text),
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
        self.refresh_asked = false;
        for (id, p) in std::mem::take(&mut self.pending).drain() {
            match p.kind {
                PendingKind::Publish { .. } | PendingKind::Request | PendingKind::Acked => {
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
            self.handle_handshake_frame(now, frame);
        } else {
            self.handle_frame(now, frame);
        }
    }

    /// A frame before `welcome`: only `welcome` or the `error` that explains a refusal.
    fn handle_handshake_frame(&mut self, now: Instant, frame: Frame) {
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
    }

    /// A frame on an open connection.
    fn handle_frame(&mut self, now: Instant, frame: Frame) {
        match frame {
            Frame::Event(e) => self.handle_event(now, e),
            Frame::Joined(j) => self.handle_joined(now, j),
            Frame::Ack(a) => {
                let id = a.id;
                match (self.pending.remove(&id).map(|p| p.kind), a.seq) {
                    (Some(PendingKind::Publish { room }), Some(seq)) => self
                        .events
                        .push_back(ClientEvent::Published { id, room, seq }),
                    (Some(PendingKind::Acked), _) => {
                        self.events.push_back(ClientEvent::Done { id });
                    }
                    (Some(_), _) => self.events.push_back(ClientEvent::Failed {
                        id,
                        error: OpError::Server {
                            code: ErrorCode::MissingField,
                            message: "the server acked a publish without its seq".into(),
                        },
                    }),
                    (None, _) => {}
                }
            }
            Frame::Page(p) if self.pending.remove(&p.id).is_some() => {
                self.events.push_back(ClientEvent::Page {
                    id: p.id,
                    room: p.room,
                    epoch: p.epoch,
                    messages: p.events,
                    more: p.more,
                });
            }
            Frame::Left(l) => {
                if let Some(Pending {
                    kind: PendingKind::Leave { room },
                    ..
                }) = self.pending.remove(&l.id)
                {
                    let id = Some(l.id);
                    let reason = None;
                    self.events
                        .push_back(ClientEvent::Left { id, room, reason });
                }
            }
            Frame::Response(r) if self.pending.remove(&r.id).is_some() => {
                let id = r.id;
                self.events.push_back(match r.result {
                    Ok(data) => ClientEvent::Response { id, data },
                    Err(e) => {
                        let (code, message) = (e.code, e.message);
                        let error = OpError::Server { code, message };
                        ClientEvent::Failed { id, error }
                    }
                });
            }
            Frame::Presence(p) if self.is_joined(&p.room) => self.handle_presence(p),
            Frame::Request(r) => {
                let (id, room, data) = (r.id, r.room, r.data);
                self.events
                    .push_back(ClientEvent::Request { id, room, data });
            }
            Frame::Ping => self.send_text(now, encode(&Frame::Pong)),
            Frame::Error(e) => self.handle_error(now, e),
            Frame::Refresh(_) => self.handle_refresh(),
            Frame::Unsubscribed(u) => self.unsubscribed(u.room, u.message),
            Frame::Message(m) => self
                .events
                .push_back(ClientEvent::ServerMessage { data: m.data }),
            // Nothing else is for a client: ignore.
            _ => {}
        }
    }

    /// Whether `room`'s `joined` arrived on this connection.
    fn is_joined(&self, room: &str) -> bool {
        self.rooms
            .get(room)
            .is_some_and(|r| r.status == RoomStatus::Joined)
    }

    fn handle_welcome(&mut self, now: Instant, w: frame::Welcome) {
        self.heartbeat = Some(Heartbeat::active(
            HeartbeatConfig::from_timings(w.heartbeat),
            now,
        ));
        self.max_frame_bytes = w.limits.max_frame_bytes;
        self.pacer = pacer(&w.limits, now);
        self.flush_at = None;
        self.auth_failures = 0;
        self.phase = Phase::Open {
            since: now,
            attempt: self.attempt(),
        };
        self.events.push_back(ClientEvent::Welcomed {
            user: w.user,
            session: w.session,
        });
        self.set_state(ConnectionState::Open);
        let names: Vec<String> = self.rooms.keys().cloned().collect();
        for name in names {
            self.send_join(now, &name);
        }
        self.flush(now);
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
            // Not an operation's answer: about the connection, or a refused fresh token
            // (`refresh.rs`).
            None => self.events.push_back(ClientEvent::Error {
                room: e.room,
                code: e.code,
                message: e.message,
            }),
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

    fn send_text(&mut self, now: Instant, text: String) {
        if let Some(hb) = self.heartbeat.as_mut() {
            hb.handle_sent(now);
        }
        if let Some(p) = self.pacer.as_mut() {
            p.spend(now);
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
                let beat = self.heartbeat.as_ref().map(Heartbeat::poll_timeout);
                earliest(earliest(beat, rejoin), self.flush_at)
            }
            _ => None,
        };
        let ops = self.pending.values().filter_map(|p| p.deadline).min();
        earliest(earliest(phase, ops), self.queue.next_deadline())
    }

    /// Fires due timers: reconnect, handshake and heartbeat deadlines, op timeouts.
    pub fn handle_timeout(&mut self, now: Instant) {
        self.expire_operations(now);
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
                self.retry_rejoins(now);
                if self.flush_at.is_some_and(|t| t <= now) {
                    self.flush_at = None;
                    self.flush(now);
                }
                self.heartbeat_timeout(now);
            }
            _ => {}
        }
    }

    /// Fails the operations whose time is up (a leave counts as done).
    fn expire_operations(&mut self, now: Instant) {
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
        let due = |q: &Queued| q.deadline.is_some_and(|d| d <= now);
        for q in self.queue.take_ready(due) {
            let error = OpError::Timeout;
            self.events
                .push_back(ClientEvent::Failed { id: q.id, error });
        }
    }

    fn heartbeat_timeout(&mut self, now: Instant) {
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

/// The pacer for a connection whose server announced `limits`: its rate, and three
/// quarters of its burst, so the frames that cannot wait (joins, pongs, answers) and the
/// network's bunching keep a margin of a quarter of the burst. A client that flushed 300 queued publishes at once after an outage was
/// rate-limited 20 times in a row and closed for good (1008); paced, it never is.
fn pacer(limits: &frame::AnnouncedLimits, now: Instant) -> Option<RateLimiter> {
    let rate = limits.rate_per_second?;
    let burst = limits.rate_burst.unwrap_or(rate);
    let limit = RateLimit {
        per_second: rate.max(1),
        burst: (burst / 4 * 3).max(1),
        max_strikes: u32::MAX,
    };
    Some(RateLimiter::new(limit, now))
}
