//! The server side: one [`Server`] per node owns every connection's state machine and the
//! room [`Hub`]. The driver feeds it bytes and decisions and writes what it returns.

mod access;
mod admin;
mod cluster;
mod config;
mod connection;
mod events;
mod gate;
mod grants;
mod history;
mod pattern;
mod policy;
mod presence;
mod replay;
mod rooms;
mod stats;
mod timers;

use access::Access;
pub use access::Admission;
use cluster::PendingSync;
pub use config::ServerConfig;
pub use connection::{ConnState, ServerConnection};
pub use events::{HistoryPage, ServerEvent, ServerTransmit, Unreadable};
pub use gate::PublishDecision;
pub use grants::{Right, Rights, RoomGrant, RoomGrants};
pub use pattern::RoomPattern;
pub use policy::{HistoryLimits, RoomPolicies, RoomPolicy};
pub use rooms::{
    ConnId, Delivery, FrameClass, Hub, HubConfig, JoinOutcome, JoinRefused, JoinRequest, Joining,
    MemberChange, Notice, Publishing, Recipients, RoomState, Start,
};
pub use stats::Stats;

use std::collections::{HashMap, VecDeque};

use bytes::Bytes;
use core::time::Duration;

use crate::close;
use crate::codec::encode;
use crate::error::ErrorCode;
use crate::frame::{self, AnnouncedLimits, ErrorBody, Frame, Id, Payload};
use crate::negotiate::{PROTOCOL_MARKER, ProtocolSelection, SUPPORTED_PROTOCOLS, select_protocol};
use crate::time::Instant;
use connection::Inbound;
use presence::Ending;
use timers::{Timer, TimerTable};

/// How long a client refused because its hello could not be decided waits to try again.
const AUTH_RETRY: Duration = Duration::from_secs(1);

/// One connection's state, boxed in [`Server`]'s table: the table keeps spare room (up to
/// half of it) for growth, and spare room costs a pointer instead of a 300-byte entry.
struct Conn {
    machine: ServerConnection,
    /// Joins, and pages of rooms the connection is not in, waiting for the application's
    /// authorization ([`ServerEvent::AuthorizeJoin`]).
    pending_joins: HashMap<Id, Awaiting>,
    app: Option<frame::AppSelected>,
    /// Who the connection is, when the host's HTTP server established it before the
    /// upgrade (a cookie session): `hello` then needs no token.
    identity: Option<String>,
    /// What the connection may do, from its admission.
    access: Access,
    /// Publishes waiting for the application's decision.
    held: gate::Held,
}

/// What waits for a room's authorization.
enum Awaiting {
    Join(JoinRequest),
    History(frame::History),
}

impl Awaiting {
    fn id(&self) -> Id {
        match self {
            Awaiting::Join(j) => j.id,
            Awaiting::History(h) => h.id,
        }
    }

    fn room(&self) -> &str {
        match self {
            Awaiting::Join(j) => &j.room,
            Awaiting::History(h) => &h.room,
        }
    }
}

/// One server node's protocol state: every connection and the rooms.
///
/// The run loop of a driver:
///
/// ```text
/// loop {
///     accept a socket      -> server.handle_connect(now, conn, &offered_subprotocols)
///     a text frame arrives -> server.handle_message(now, conn, bytes)
///     a binary frame       -> server.handle_binary(now, conn)
///     the socket closed    -> server.handle_closed(now, conn, code)
///     the timer fired      -> server.handle_timeout(now)
///     an event's decision  -> server.accept / reject / allow_join / deny_join / respond
///     then drain:  while let Some(t) = server.poll_transmit() { write it }
///                  while let Some(e) = server.poll_event() { decide }
///                  arm the timer at server.poll_timeout()
/// }
/// ```
pub struct Server {
    config: ServerConfig,
    hub: Hub,
    conns: HashMap<ConnId, Box<Conn>>,
    transmits: VecDeque<ServerTransmit>,
    events: VecDeque<ServerEvent>,
    timers: TimerTable,
    syncs: HashMap<(ConnId, Id), PendingSync>,
    /// Joins whose sync waits for their room's watch, by room.
    unwatched: HashMap<String, Vec<(ConnId, Id)>>,
    unavailable: Option<String>,
    stats: Stats,
}

impl Server {
    /// A node that is the whole server, with no connections. `seed` must differ between
    /// runs of a node (it makes the room epochs, which tell clients when history was lost).
    pub fn new(config: ServerConfig, seed: u64) -> Self {
        let hub = Hub::with_policies(config.hub, seed, config.policies.clone());
        Self::with_hub(config, hub)
    }

    /// One node of a cluster: a shared broker numbers messages and keeps history and
    /// presence, through [`ServerEvent::Publish`], [`ServerEvent::Sync`] and
    /// [`ServerEvent::Depart`], answered with [`Server::handle_published`],
    /// [`Server::handle_synced`], [`Server::handle_remote_event`] and
    /// [`Server::handle_remote_member`].
    pub fn cluster_node(config: ServerConfig, seed: u64) -> Self {
        let hub = Hub::replica(config.hub, seed, config.policies.clone());
        Self::with_hub(config, hub)
    }

    fn with_hub(config: ServerConfig, hub: Hub) -> Self {
        Server {
            hub,
            config,
            conns: HashMap::new(),
            transmits: VecDeque::new(),
            events: VecDeque::new(),
            timers: TimerTable::default(),
            syncs: HashMap::new(),
            unwatched: HashMap::new(),
            unavailable: None,
            stats: Stats::default(),
        }
    }

    /// The configuration.
    pub fn config(&self) -> &ServerConfig {
        &self.config
    }

    /// The rooms.
    pub fn hub(&self) -> &Hub {
        &self.hub
    }

    /// Number of live connections.
    pub fn connection_count(&self) -> usize {
        self.conns.len()
    }

    /// What the node counted since it started (for metrics).
    pub fn stats(&self) -> Stats {
        let mut stats = self.stats.clone();
        (stats.deliveries_numbered, stats.deliveries_ephemeral) = self.hub.delivered();
        stats
    }

    /// One connection's state machine.
    pub fn connection(&self, conn: ConnId) -> Option<&ServerConnection> {
        self.conns.get(&conn).map(|c| &c.machine)
    }

    /// Chooses the subprotocol for a WebSocket upgrade offering `offered`.
    pub fn select_protocol<S: AsRef<str>>(&self, offered: &[S]) -> ProtocolSelection {
        select_protocol(offered, SUPPORTED_PROTOCOLS)
    }

    /// A socket was accepted with subprotocol `protocol` (see [`Server::select_protocol`]).
    /// With the negotiation marker, the connection is closed at once with the reason.
    pub fn handle_connect(&mut self, now: Instant, conn: ConnId, protocol: &str) {
        self.handle_connect_as(now, conn, protocol, None);
    }

    /// [`Server::handle_connect`] for a connection whose user the host already knows
    /// (`identity`, e.g. from its own cookie session): its `hello` is welcomed as that user
    /// without a token or [`ServerEvent::Authenticate`].
    pub fn handle_connect_as(
        &mut self,
        now: Instant,
        conn: ConnId,
        protocol: &str,
        identity: Option<String>,
    ) {
        if protocol == PROTOCOL_MARKER || !SUPPORTED_PROTOCOLS.contains(&protocol) {
            let reason = format!(
                "no common wire protocol; server speaks {}",
                SUPPORTED_PROTOCOLS.join(", ")
            );
            self.transmits.push_back(ServerTransmit::Close {
                conn,
                code: close::PROTOCOL_MISMATCH,
                reason: close::truncate_reason(&reason, close::MAX_REASON_BYTES).to_owned(),
            });
            return;
        }
        if let Some(reason) = &self.unavailable {
            self.transmits.push_back(ServerTransmit::Close {
                conn,
                code: close::TRY_AGAIN_LATER,
                reason: reason.clone(),
            });
            return;
        }
        self.conns.insert(
            conn,
            Box::new(Conn {
                machine: ServerConnection::new(conn, now, &self.config),
                pending_joins: HashMap::new(),
                app: None,
                identity,
                access: Access::default(),
                held: gate::Held::default(),
            }),
        );
        if self.timers.get(Timer::Sweep).is_none() {
            let at = now + self.config.sweep_interval;
            self.timers.set(Timer::Sweep, Some(at));
        }
    }

    /// A binary frame arrived: tandem speaks text, so the connection is closed with 1003.
    pub fn handle_binary(&mut self, now: Instant, conn: ConnId) {
        if self.conns.contains_key(&conn) {
            self.close(
                now,
                conn,
                close::UNSUPPORTED_DATA,
                "binary frames are not supported; send JSON text".into(),
                Ending::Clean,
            );
        }
    }

    /// The socket layer could not take a message as one: `why` says how. The connection is
    /// closed for the violation (1007 or 1009, RFC 6455 §7.4.1), a clean end: its member
    /// leaves presence at once (PROTOCOL.md §5.4).
    pub fn handle_unreadable(&mut self, now: Instant, conn: ConnId, why: Unreadable) {
        let (code, reason) = match why {
            Unreadable::NotUtf8 => (close::INVALID_PAYLOAD, "invalid UTF-8 in a text message"),
            Unreadable::TooBig => (close::MESSAGE_TOO_BIG, "message too big"),
        };
        self.close(now, conn, code, reason.into(), Ending::Clean);
    }

    /// A text frame arrived on `conn`.
    pub fn handle_message(&mut self, now: Instant, conn: ConnId, bytes: &[u8]) {
        let Some(c) = self.conns.get_mut(&conn) else {
            return;
        };
        match c.machine.handle_text(now, bytes, &self.config) {
            Inbound::Nothing => {}
            Inbound::Error { id, code, message } => self.send_error(conn, id, None, code, message),
            Inbound::Close { code, reason } => self.close(now, conn, code, reason, Ending::Clean),
            Inbound::Frame(frame) => self.dispatch(now, conn, frame),
        }
    }

    fn dispatch(&mut self, now: Instant, conn: ConnId, frame: Frame) {
        match frame {
            Frame::Ping => self.send(conn, &Frame::Pong),
            Frame::Hello(hello) => self.handle_hello(now, conn, hello),
            Frame::Join(j) => {
                let start = Start::Fresh {
                    history: j.history.unwrap_or(0),
                };
                let (id, room, meta) = (j.id, j.room, j.meta);
                let req = JoinRequest {
                    id,
                    room,
                    meta,
                    info: self.info(conn),
                    start,
                };
                self.handle_join(now, conn, req);
            }
            Frame::Resume(r) => {
                let start = Start::After {
                    epoch: r.epoch,
                    seq: r.seq,
                };
                let (id, room, meta) = (r.id, r.room, r.meta);
                let req = JoinRequest {
                    id,
                    room,
                    meta,
                    info: self.info(conn),
                    start,
                };
                self.handle_join(now, conn, req);
            }
            Frame::Leave(l) => self.handle_leave(now, conn, l),
            Frame::Publish(p) if !self.permit(conn, p.id, &p.room, Right::Publish) => {}
            Frame::Publish(p) if self.config.authorize_publishes => self.hold_publish(conn, p),
            Frame::Publish(p) => self.release_publish(now, conn, p),
            Frame::Update(u) if self.permit(conn, u.id, &u.room, Right::Presence) => {
                self.handle_update(now, conn, u);
            }
            Frame::History(h) if self.permit(conn, h.id, &h.room, Right::History) => {
                self.handle_history_request(conn, h);
            }
            Frame::Request(r) => {
                let room = r.room.clone();
                if room.is_none_or(|room| self.permit(conn, r.id, &room, Right::Subscribe)) {
                    self.handle_request(conn, r);
                }
            }
            Frame::Token(t) => self.handle_token(conn, t),
            Frame::Response(r) => self.events.push_back(ServerEvent::Response {
                conn,
                id: r.id,
                result: r.result,
            }),
            // The connection machine passes on nothing else.
            _ => {}
        }
    }

    /// A publish the connection's rights (and the application, when it decides) allow.
    fn release_publish(&mut self, now: Instant, conn: ConnId, p: frame::Publish) {
        if p.is_ephemeral() {
            self.handle_ephemeral(conn, p);
        } else {
            self.handle_publish(now, conn, p);
        }
    }

    fn handle_leave(&mut self, now: Instant, conn: ConnId, l: frame::Leave) {
        self.hub.leave(now, conn, &l.room);
        self.drain_hub(now);
        let left = frame::Left {
            id: l.id,
            room: l.room,
        };
        self.send(conn, &Frame::Left(left));
    }

    fn handle_request(&mut self, conn: ConnId, r: frame::Request) {
        if !self.config.handle_requests {
            let e = ErrorBody {
                code: ErrorCode::NoHandler,
                message: "this server handles no requests".into(),
            };
            self.respond(conn, r.id, Err(e));
            return;
        }
        let user = self.user(conn);
        self.events.push_back(ServerEvent::Request {
            conn,
            user,
            id: r.id,
            room: r.room,
            data: r.data,
        });
    }

    fn handle_publish(&mut self, now: Instant, conn: ConnId, p: frame::Publish) {
        let published = self.hub.publish(now, conn, &p.room, &p.data);
        self.stats.publishes_numbered += u64::from(published.is_ok());
        match published {
            Ok(Publishing::Numbered(seq)) => {
                self.drain_hub(now);
                self.send_ack(conn, p.id, Some(seq));
            }
            Ok(Publishing::ToBroker { from }) => self.events.push_back(ServerEvent::Publish {
                conn,
                id: p.id,
                room: p.room,
                from,
                data: p.data,
            }),
            Err(code) => self.refuse_in_room(conn, p.id, p.room, code),
        }
    }

    /// An ephemeral message goes out at once to the room's other connections here (and,
    /// on a cluster node, to the broker for the other nodes); acked only when asked.
    fn handle_ephemeral(&mut self, conn: ConnId, p: frame::Publish) {
        match self.hub.publish_ephemeral(conn, &p.room, &p.data) {
            Ok(frame) => {
                self.stats.publishes_ephemeral += 1;
                while let Some(d) = self.hub.poll_delivery() {
                    self.transmits.push_back(ServerTransmit::Frame(d));
                }
                if self.hub.is_replica() {
                    let room = p.room.clone();
                    self.events
                        .push_back(ServerEvent::Ephemeral { room, frame });
                }
                if p.ack == Some(true) {
                    self.send_ack(conn, p.id, None);
                }
            }
            Err(code) => self.refuse_in_room(conn, p.id, p.room, code),
        }
    }

    fn handle_update(&mut self, now: Instant, conn: ConnId, u: frame::Update) {
        let meta = u.meta.clone();
        let info = self.info(conn);
        match self.hub.update(now, conn, &u.room, u.meta) {
            Ok(None) => {
                self.drain_hub(now);
                self.send_ack(conn, u.id, None);
            }
            Ok(Some(user)) => self.events.push_back(ServerEvent::Update {
                conn,
                id: u.id,
                room: u.room,
                user,
                meta,
                info,
            }),
            Err(code) => self.refuse_in_room(conn, u.id, u.room, code),
        }
    }

    /// A page of history: for a member at once; for a room the connection has not joined,
    /// once the application allows it to join (when it decides joins).
    fn handle_history_request(&mut self, conn: ConnId, h: frame::History) {
        if self.config.authorize_joins && !self.hub.is_member(conn, &h.room) {
            self.authorize(conn, Awaiting::History(h));
        } else {
            self.serve_history(conn, h);
        }
    }

    fn serve_history(&mut self, conn: ConnId, h: frame::History) {
        let limit = h
            .limit
            .unwrap_or(self.config.hub.max_page)
            .min(self.config.hub.max_page);
        if self.hub.is_replica() {
            self.events.push_back(ServerEvent::History {
                conn,
                id: h.id,
                room: h.room,
                before: h.before,
                limit,
            });
            return;
        }
        let (epoch, frames, more) = self.hub.page(&h.room, h.before, limit);
        let page = HistoryPage {
            epoch,
            frames,
            more,
        };
        self.handle_history(conn, h.id, h.room, Ok(page));
    }

    /// The page of history `id` asked for, or why there is none: sent to `conn`.
    pub fn handle_history(
        &mut self,
        conn: ConnId,
        id: Id,
        room: String,
        result: Result<HistoryPage, ErrorBody>,
    ) {
        match result {
            Ok(page) => {
                let frames = page.frames.iter().map(|f| &f[..]);
                let text = crate::codec::encode_page(id, &room, page.epoch, frames, page.more);
                self.transmits
                    .push_back(ServerTransmit::Frame(Delivery::live(
                        Recipients::One(conn),
                        Bytes::from(text),
                    )));
            }
            Err(e) => self.send_error(conn, Some(id), Some(room), e.code, e.message),
        }
    }

    fn send_ack(&mut self, conn: ConnId, id: Id, seq: Option<u64>) {
        self.send(conn, &Frame::Ack(frame::Ack { id, seq }));
    }

    /// Refuses an operation in `room` with `code` (`not_joined` or `room_policy`).
    fn refuse_in_room(&mut self, conn: ConnId, id: Id, room: String, code: ErrorCode) {
        let message = match code {
            ErrorCode::RoomPolicy => format!("the policy of room {room:?} does not allow this"),
            _ => format!("not a member of room {room:?}; join it first"),
        };
        self.send_error(conn, Some(id), Some(room), code, message);
    }

    fn handle_hello(&mut self, now: Instant, conn: ConnId, hello: frame::Hello) {
        let app = match self.config.app.select(&hello.app) {
            Ok(app) => app,
            Err(e) => {
                self.send_error(
                    conn,
                    None,
                    None,
                    ErrorCode::AppVersionMismatch,
                    e.to_string(),
                );
                let reason =
                    close::truncate_reason(&e.to_string(), close::MAX_REASON_BYTES).to_owned();
                self.close(
                    now,
                    conn,
                    close::APP_VERSION_MISMATCH,
                    reason,
                    Ending::Clean,
                );
                return;
            }
        };
        let mut known = None;
        if let Some(c) = self.conns.get_mut(&conn) {
            c.machine.set_state(ConnState::Authenticating);
            c.app = Some(app);
            known = c.identity.clone();
        }
        if let Some(user) = known {
            self.welcome(conn, user);
        } else if self.config.authenticate {
            self.events.push_back(ServerEvent::Authenticate {
                conn,
                token: hello.token,
            });
        } else {
            let user = format!("{}{conn}", self.config.anonymous_prefix);
            self.welcome(conn, user);
        }
    }

    fn welcome(&mut self, conn: ConnId, user: String) {
        let Some(c) = self.conns.get_mut(&conn) else {
            return;
        };
        let Some(app) = c.app.clone() else {
            return;
        };
        c.machine.set_state(ConnState::Open { user: user.clone() });
        let welcome = Frame::Welcome(frame::Welcome {
            session: format!("c{conn}"),
            user,
            app,
            heartbeat: self.config.heartbeat.timings(),
            limits: AnnouncedLimits {
                max_frame_bytes: self.config.max_frame_bytes,
                rate_per_second: Some(self.config.rate.per_second),
                rate_burst: Some(self.config.rate.burst),
            },
        });
        self.send(conn, &welcome);
    }

    /// Accepts the hello of `conn` as `user` (after [`ServerEvent::Authenticate`]), with
    /// every right and no expiry; [`Server::accept_with`] says more.
    pub fn accept(&mut self, now: Instant, conn: ConnId, user: impl Into<String>) {
        self.accept_with(now, conn, Admission::user(user));
    }

    /// Refuses the hello of `conn`: an `error` frame, then close 4001, or 4002 when `code`
    /// is [`ErrorCode::TokenExpired`], or 1013 with a retry hint when it is
    /// [`ErrorCode::Unavailable`] (the authentication could not be asked).
    pub fn reject(
        &mut self,
        now: Instant,
        conn: ConnId,
        code: ErrorCode,
        message: impl Into<String>,
    ) {
        let message = message.into();
        self.send_error(conn, None, None, code, message.clone());
        let (close_code, reason) = match code {
            ErrorCode::TokenExpired => (close::TOKEN_EXPIRED, message),
            // Whoever decides hellos could not be asked (a backend down): the client
            // comes back after the hint rather than stopping for good.
            ErrorCode::Unavailable => (
                close::TRY_AGAIN_LATER,
                close::reason_with_hint(&message, AUTH_RETRY),
            ),
            _ => (close::UNAUTHORIZED, message),
        };
        let reason = close::truncate_reason(&reason, close::MAX_REASON_BYTES).to_owned();
        self.close(now, conn, close_code, reason, Ending::Clean);
    }

    fn handle_join(&mut self, now: Instant, conn: ConnId, req: JoinRequest) {
        if req.room.is_empty() || req.room.len() > self.config.max_room_name {
            let message = format!("room names are 1 to {} bytes", self.config.max_room_name);
            self.send_error(
                conn,
                Some(req.id),
                Some(req.room),
                ErrorCode::WrongType,
                message,
            );
            return;
        }
        let (id, room) = (req.id, req.room.as_str());
        let history = matches!(req.start, Start::Fresh { history } if history > 0);
        if !self.permit(conn, id, room, Right::Subscribe)
            || (req.meta.is_some() && !self.permit(conn, id, room, Right::Presence))
            || (history && !self.permit(conn, id, room, Right::History))
        {
            return;
        }
        if self.config.authorize_joins {
            self.authorize(conn, Awaiting::Join(req));
        } else {
            self.join_now(now, conn, req);
        }
    }

    /// Holds `awaiting` until the application decides whether `conn` may use its room
    /// ([`ServerEvent::AuthorizeJoin`], answered by [`Server::allow_join`] or
    /// [`Server::deny_join`]).
    fn authorize(&mut self, conn: ConnId, awaiting: Awaiting) {
        let user = self.user(conn);
        let (id, room) = (awaiting.id(), awaiting.room().to_owned());
        if let Some(c) = self.conns.get_mut(&conn) {
            c.pending_joins.insert(id, awaiting);
        }
        self.events.push_back(ServerEvent::AuthorizeJoin {
            conn,
            user,
            id,
            room,
        });
    }

    fn join_now(&mut self, now: Instant, conn: ConnId, req: JoinRequest) {
        let user = self.user(conn);
        match self.hub.join(now, conn, &user, req.clone()) {
            Ok(Joining::Done(o)) => {
                self.stats.joined(o.recovered, o.replayed);
                self.drain_hub(now);
            }
            Ok(Joining::Sync { arrive, watched }) => {
                let id = req.id;
                let pending = PendingSync {
                    request: req,
                    user,
                    arrive,
                };
                if watched {
                    self.events.push_back(pending.event(conn, id));
                } else {
                    // Held until the broker delivers the room here ([`Server::handle_watched`]).
                    let room = pending.request.room.clone();
                    self.unwatched.entry(room).or_default().push((conn, id));
                }
                self.syncs.insert((conn, id), pending);
                // The room's first join here asked for a watch.
                self.drain_hub(now);
            }
            Err(refused) => self.send_refusal(conn, req.id, req.room, refused.to_error()),
        }
    }

    fn send_refusal(&mut self, conn: ConnId, id: Id, room: String, e: ErrorBody) {
        self.send_error(conn, Some(id), Some(room), e.code, e.message);
    }

    fn take_pending_join(&mut self, conn: ConnId, id: Id) -> Option<Awaiting> {
        self.conns.get_mut(&conn)?.pending_joins.remove(&id)
    }

    /// Lets the join `id` of `conn` proceed (after [`ServerEvent::AuthorizeJoin`]); for a
    /// page of history, the page is served.
    pub fn allow_join(&mut self, now: Instant, conn: ConnId, id: Id) {
        match self.take_pending_join(conn, id) {
            Some(Awaiting::Join(p)) => self.join_now(now, conn, p),
            Some(Awaiting::History(h)) => self.serve_history(conn, h),
            None => {}
        }
    }

    /// Refuses the join (or page of history) `id` of `conn` with `forbidden`; the
    /// connection stays open.
    pub fn deny_join(&mut self, _now: Instant, conn: ConnId, id: Id, message: impl Into<String>) {
        let Some(p) = self.take_pending_join(conn, id) else {
            return;
        };
        self.send_error(
            conn,
            Some(id),
            Some(p.room().to_owned()),
            ErrorCode::Forbidden,
            message.into(),
        );
    }

    /// Answers the client request `id` on `conn`.
    pub fn respond(&mut self, conn: ConnId, id: Id, result: Result<Payload, ErrorBody>) {
        self.send(conn, &Frame::Response(frame::Response { id, result }));
    }

    /// Sends a request to the client on `conn`; the answer comes as [`ServerEvent::Response`].
    pub fn request(
        &mut self,
        now: Instant,
        conn: ConnId,
        room: Option<String>,
        data: Payload,
    ) -> Option<Id> {
        let deadline = now + self.config.request_timeout;
        let c = self.conns.get_mut(&conn)?;
        c.machine.user()?;
        let id = c.machine.start_request(deadline);
        self.send(conn, &Frame::Request(frame::Request { id, room, data }));
        Some(id)
    }

    /// Broadcasts `data` in `room` on the server's behalf; returns the sequence number.
    pub fn broadcast(&mut self, now: Instant, room: &str, data: &Payload) -> u64 {
        let seq = self.hub.broadcast(now, room, data);
        self.drain_hub(now);
        seq
    }

    /// The driver could not keep up writing to `conn` (its bounded queue is full):
    /// close it with 1013 and a retry hint.
    pub fn handle_slow_consumer(&mut self, now: Instant, conn: ConnId) {
        let reason =
            close::reason_with_hint("slow consumer: outbound queue full", Duration::from_secs(1));
        self.close(now, conn, close::TRY_AGAIN_LATER, reason, Ending::Abrupt);
    }

    /// The socket of `conn` closed (`code` from the client's close frame, `None` if it dropped).
    pub fn handle_closed(&mut self, now: Instant, conn: ConnId, code: Option<u16>) {
        let ending = match code {
            Some(close::NORMAL | close::GOING_AWAY) => Ending::Clean,
            _ => Ending::Abrupt,
        };
        self.forget(now, conn, ending);
    }

    /// Clustered: while the broker cannot be reached, every connection is closed with 1013,
    /// `why` and the retry `hint`, and new ones at once; `None` serves again.
    pub fn set_unavailable(&mut self, now: Instant, unavailable: Option<(&str, Duration)>) {
        self.unavailable = unavailable.map(|(why, hint)| close::reason_with_hint(why, hint));
        if let Some((why, hint)) = unavailable {
            // No lingering: the broker clears this node's presence when it is back.
            self.close_all(now, close::TRY_AGAIN_LATER, why, hint, false);
        }
    }

    /// Closes every connection (graceful shutdown): `code` is 1001 or 1012, and clients are
    /// told to come back after `hint`.
    pub fn shutdown(&mut self, now: Instant, code: u16, hint: Duration) {
        self.close_all(now, code, "server shutting down", hint, true);
    }

    /// Closes every connection with `code` and `why`, telling clients to come back after
    /// `hint` (1013 when the broker is unreachable: nothing can be published meanwhile).
    /// With `linger`, their users stay in presence for the presence timeout (they are
    /// expected back); without, they leave at once.
    pub fn close_all(&mut self, now: Instant, code: u16, why: &str, hint: Duration, linger: bool) {
        let reason = close::reason_with_hint(why, hint);
        let ending = if linger {
            Ending::Abrupt
        } else {
            Ending::Clean
        };
        let conns: Vec<ConnId> = self.conns.keys().copied().collect();
        for conn in conns {
            self.close(now, conn, code, reason.clone(), ending);
        }
    }

    fn close(&mut self, now: Instant, conn: ConnId, code: u16, reason: String, ending: Ending) {
        if !self.conns.contains_key(&conn) {
            return;
        }
        self.transmits
            .push_back(ServerTransmit::Close { conn, code, reason });
        self.forget(now, conn, ending);
    }

    fn forget(&mut self, now: Instant, conn: ConnId, ending: Ending) {
        let Some(mut c) = self.conns.remove(&conn) else {
            return;
        };
        if let Some(user) = c.machine.user() {
            let user = user.to_owned();
            self.events
                .push_back(ServerEvent::Disconnected { conn, user });
        }
        c.machine.set_state(ConnState::Closed);
        for id in c.machine.take_requests() {
            self.events.push_back(ServerEvent::Response {
                conn,
                id,
                result: Err(ErrorBody {
                    code: ErrorCode::Unavailable,
                    message: "connection closed before the answer".into(),
                }),
            });
        }
        self.hub.disconnect(now, conn, ending);
        self.drain_hub(now);
        if self.conns.is_empty() && self.hub.poll_timeout().is_none() {
            self.timers.set(Timer::Sweep, None);
        }
    }

    /// When [`Server::handle_timeout`] must next be called.
    pub fn poll_timeout(&self) -> Option<Instant> {
        self.timers.next()
    }

    /// Checks deadlines: hello and heartbeat timeouts, request timeouts, lingering presence.
    pub fn handle_timeout(&mut self, now: Instant) {
        if self.timers.is_due(Timer::Tokens, now) {
            self.handle_tokens(now);
        }
        if self.timers.is_due(Timer::Rooms, now) {
            self.hub.handle_timeout(now);
            self.drain_hub(now);
        }
        if !self.timers.is_due(Timer::Sweep, now) {
            return;
        }
        self.hub.sweep(now);
        let mut dead = Vec::new();
        let mut expired = Vec::new();
        for (id, c) in self.conns.iter_mut() {
            if let Some(close) = c.machine.handle_timeout(now) {
                dead.push((*id, close));
            }
            for req in c.machine.expired_requests(now) {
                expired.push((*id, req));
            }
        }
        for (conn, id) in expired {
            self.events.push_back(ServerEvent::Response {
                conn,
                id,
                result: Err(ErrorBody {
                    code: ErrorCode::Timeout,
                    message: "no response within the request timeout".into(),
                }),
            });
        }
        for (conn, (code, reason)) in dead {
            self.close(now, conn, code, reason, Ending::Abrupt);
        }
        let next = (!self.conns.is_empty()).then(|| now + self.config.sweep_interval);
        self.timers.set(Timer::Sweep, next);
    }

    /// The next thing to write.
    #[must_use]
    pub fn poll_transmit(&mut self) -> Option<ServerTransmit> {
        self.transmits.pop_front()
    }

    /// The next decision or notice for the application.
    #[must_use]
    pub fn poll_event(&mut self) -> Option<ServerEvent> {
        self.events.pop_front()
    }

    fn user(&self, conn: ConnId) -> String {
        self.conns
            .get(&conn)
            .and_then(|c| c.machine.user())
            .unwrap_or_default()
            .to_owned()
    }

    fn drain_hub(&mut self, now: Instant) {
        loop {
            while let Some(d) = self.hub.poll_delivery() {
                self.transmits.push_back(ServerTransmit::Frame(d));
            }
            while let Some(notice) = self.hub.poll_notice() {
                self.events.push_back(match notice {
                    Notice::Depart { room, user } => ServerEvent::Depart { room, user },
                    Notice::Watch { room } => ServerEvent::Watch { room },
                    Notice::Unwatch { room } => ServerEvent::Unwatch { room },
                });
            }
            let Some(conn) = self.hub.poll_reset() else {
                break;
            };
            let reason = close::reason_with_hint(
                "this node missed messages of a room; resume",
                Duration::ZERO,
            );
            self.close(now, conn, close::TRY_AGAIN_LATER, reason, Ending::Abrupt);
        }
        self.timers.set(Timer::Rooms, self.hub.poll_timeout());
    }

    fn send(&mut self, conn: ConnId, frame: &Frame) {
        self.transmits
            .push_back(ServerTransmit::Frame(Delivery::live(
                Recipients::One(conn),
                Bytes::from(encode(frame)),
            )));
    }

    fn send_error(
        &mut self,
        conn: ConnId,
        id: Option<Id>,
        room: Option<String>,
        code: ErrorCode,
        message: String,
    ) {
        self.stats.error_sent(code);
        self.send(
            conn,
            &Frame::Error(frame::ErrorFrame {
                id,
                room,
                code,
                message,
            }),
        );
    }
}
