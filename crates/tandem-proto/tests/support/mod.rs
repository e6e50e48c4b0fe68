//! Test support: an in-process network of client sessions and one server, driven by a
//! fake clock (the quinn `Pair` idea). Nothing sleeps; time moves only in `advance`.
#![allow(dead_code, missing_docs)]

pub mod frames;

use core::time::Duration;

use tandem_proto::{
    ClientConfig, ClientEvent, ConnId, ConnectionState, ErrorBody, ErrorCode, Instant, Payload,
    ProtocolSelection, Server, ServerConfig, ServerEvent, ServerTransmit, Session, TokenError,
    Transmit, encode_payload,
};

#[cfg(target_arch = "wasm32")]
wasm_bindgen_test::wasm_bindgen_test_configure!(run_in_browser);

pub type AuthHook = Box<dyn FnMut(Option<&str>) -> Result<String, (ErrorCode, String)>>;
pub type TokenHook = Box<dyn FnMut() -> Result<String, TokenError>>;
/// Decides, per frame from the server, whether a peer loses it.
pub type LossHook = Box<dyn FnMut(&[u8]) -> bool>;

/// One client of the network.
pub struct Peer {
    pub session: Session,
    pub conn: Option<ConnId>,
    /// When false, frames in both directions are silently lost (a half-open link).
    pub link_up: bool,
    pub events: Vec<ClientEvent>,
    pub tokens: Option<TokenHook>,
    pub connects: u32,
    /// Frames from the server for which this returns true never arrive (a faulty path
    /// that loses a range for one peer while its connection stays up).
    pub lose: Option<LossHook>,
}

/// A server and its clients, with a fake clock.
pub struct Net {
    pub now: Instant,
    pub server: Server,
    pub server_config: ServerConfig,
    pub server_up: bool,
    pub peers: Vec<Peer>,
    pub auth: Option<AuthHook>,
    pub deny_rooms: Vec<String>,
    next_conn: ConnId,
    server_seed: u64,
    /// The server is one node of a cluster (its broker is the test).
    cluster_node: bool,
    /// Every close the server sent: (peer, or usize::MAX if it was gone, code, reason).
    pub closes: Vec<(usize, u16, String)>,
    /// Every server event not handled automatically.
    pub server_events: Vec<ServerEvent>,
}

pub fn payload<T: serde::Serialize>(v: &T) -> Payload {
    encode_payload(v).expect("test payloads serialize")
}

/// A client config that authenticates with `token` (the test auth hook's user id).
pub fn with_token(token: &str) -> ClientConfig {
    ClientConfig {
        token: Some(token.into()),
        ..ClientConfig::default()
    }
}

/// A network where alice and bob (token clients) have both joined `room`.
pub fn alice_and_bob_in_room(config: ServerConfig) -> (Net, usize, usize) {
    let mut net = Net::new(config);
    let a = net.client(with_token("alice"));
    let b = net.client(with_token("bob"));
    for i in [a, b] {
        net.join(i, "room", None, 0);
    }
    net.run();
    (net, a, b)
}

pub fn json(text: &str) -> Payload {
    Payload::from_json(text).expect("valid json")
}

impl Net {
    pub fn new(server_config: ServerConfig) -> Self {
        Net {
            now: Instant::from_millis(1_000),
            server: Server::new(server_config.clone(), 7),
            server_config,
            server_up: true,
            peers: Vec::new(),
            auth: None,
            deny_rooms: Vec::new(),
            next_conn: 1,
            server_seed: 7,
            cluster_node: false,
            closes: Vec::new(),
            server_events: Vec::new(),
        }
    }

    /// A network whose server is one node of a cluster: the test answers its broker
    /// events (`server_events`).
    pub fn cluster_node(server_config: ServerConfig) -> Self {
        let mut net = Net::new(server_config.clone());
        net.server = Server::cluster_node(server_config, net.server_seed);
        net.cluster_node = true;
        net
    }

    /// Adds a client and starts connecting it; returns its index.
    pub fn client(&mut self, config: ClientConfig) -> usize {
        self.client_with(config, None)
    }

    /// Adds a client whose token provider is `tokens`; returns its index.
    pub fn client_with(&mut self, config: ClientConfig, tokens: Option<TokenHook>) -> usize {
        let seed = 100 + self.peers.len() as u64;
        let mut session = Session::new(config, seed);
        session.connect(self.now);
        self.peers.push(Peer {
            session,
            conn: None,
            link_up: true,
            events: Vec::new(),
            tokens,
            connects: 0,
            lose: None,
        });
        self.run();
        self.peers.len() - 1
    }

    pub fn peer(&mut self, i: usize) -> &mut Peer {
        &mut self.peers[i]
    }

    pub fn state(&self, i: usize) -> ConnectionState {
        self.peers[i].session.state().clone()
    }

    /// Delivers everything that can be delivered at the current time.
    pub fn run(&mut self) {
        for _ in 0..10_000 {
            if !self.step() {
                return;
            }
        }
        panic!("network did not settle");
    }

    fn step(&mut self) -> bool {
        let mut progress = false;
        let now = self.now;
        for i in 0..self.peers.len() {
            while let Some(t) = self.peers[i].session.poll_transmit() {
                progress = true;
                match t {
                    Transmit::Connect { protocols } => self.open(i, &protocols),
                    Transmit::Send(text) => {
                        let p = &self.peers[i];
                        if let (Some(conn), true) = (p.conn, p.link_up) {
                            self.server.handle_message(now, conn, text.as_bytes());
                        }
                    }
                    Transmit::Close { code, .. } => {
                        if let Some(conn) = self.peers[i].conn.take() {
                            if self.peers[i].link_up {
                                self.server.handle_closed(now, conn, Some(code));
                            }
                        }
                    }
                }
            }
            while let Some(e) = self.peers[i].session.poll_event() {
                progress = true;
                if let ClientEvent::TokenRequired = e {
                    let token = match self.peers[i].tokens.as_mut() {
                        Some(hook) => hook(),
                        None => Err(TokenError::Unauthorized("no token hook".into())),
                    };
                    self.peers[i].session.handle_token(now, token);
                }
                self.peers[i].events.push(e);
            }
        }
        while let Some(t) = self.server.poll_transmit() {
            progress = true;
            match t {
                ServerTransmit::Frame(d) => {
                    let targets: Vec<ConnId> = d.to.iter().collect();
                    for conn in targets {
                        if let Some(i) = self.peer_of(conn) {
                            let lost = self.peers[i].lose.as_mut().is_some_and(|f| f(&d.frame));
                            if self.peers[i].link_up && !lost {
                                self.peers[i].session.handle_message(now, &d.frame);
                            }
                        }
                    }
                }
                ServerTransmit::Close { conn, code, reason } => {
                    let peer = self.peer_of(conn);
                    self.closes
                        .push((peer.unwrap_or(usize::MAX), code, reason.clone()));
                    if let Some(i) = peer {
                        self.peers[i].conn = None;
                        if self.peers[i].link_up {
                            self.peers[i]
                                .session
                                .handle_closed(now, Some(code), &reason);
                        }
                    }
                }
            }
        }
        while let Some(e) = self.server.poll_event() {
            progress = true;
            match e {
                ServerEvent::Authenticate { conn, token } => {
                    let verdict = match self.auth.as_mut() {
                        Some(hook) => hook(token.as_deref()),
                        None => Ok(token.unwrap_or_else(|| format!("anon{conn}"))),
                    };
                    match verdict {
                        Ok(user) => self.server.accept(now, conn, user),
                        Err((code, msg)) => self.server.reject(now, conn, code, msg),
                    }
                }
                ServerEvent::AuthorizeJoin { conn, id, room, .. } => {
                    if self.deny_rooms.contains(&room) {
                        self.server
                            .deny_join(now, conn, id, format!("no access to {room}"));
                    } else {
                        self.server.allow_join(now, conn, id);
                    }
                }
                ServerEvent::Request { conn, id, data, .. } => {
                    // Echo server: answer {"echo": data}, or fail if asked to.
                    let text = data.get().to_owned();
                    let result = if text.contains("\"fail\"") {
                        Err(ErrorBody {
                            code: ErrorCode::Rejected,
                            message: "asked to fail".into(),
                        })
                    } else if text.contains("\"ignore\"") {
                        continue;
                    } else {
                        Ok(json(&format!("{{\"echo\":{text}}}")))
                    };
                    self.server.respond(conn, id, result);
                }
                // A model broker that delivers a room as soon as it is asked to.
                ServerEvent::Watch { room } => {
                    self.server.handle_watched(self.now, &room, Ok(()));
                }
                other => self.server_events.push(other),
            }
        }
        progress
    }

    fn open(&mut self, i: usize, protocols: &[String]) {
        let now = self.now;
        self.peers[i].connects += 1;
        if !self.server_up || !self.peers[i].link_up {
            self.peers[i]
                .session
                .handle_closed(now, None, "connection refused");
            return;
        }
        let conn = self.next_conn;
        self.next_conn += 1;
        match self.server.select_protocol(protocols) {
            ProtocolSelection::Speak(p) => {
                self.server.handle_connect(now, conn, p);
                self.peers[i].conn = Some(conn);
                self.peers[i].session.handle_open(now, Some(p));
            }
            ProtocolSelection::Explain(_) => {
                self.server
                    .handle_connect(now, conn, tandem_proto::PROTOCOL_MARKER);
                self.peers[i].conn = Some(conn);
                self.peers[i]
                    .session
                    .handle_open(now, Some(tandem_proto::PROTOCOL_MARKER));
            }
            ProtocolSelection::Refuse(e) => {
                self.peers[i]
                    .session
                    .handle_closed(now, None, &e.to_string());
            }
        }
    }

    fn peer_of(&self, conn: ConnId) -> Option<usize> {
        self.peers.iter().position(|p| p.conn == Some(conn))
    }

    fn next_timeout(&self) -> Option<Instant> {
        self.peers
            .iter()
            .filter_map(|p| p.session.poll_timeout())
            .chain(self.server.poll_timeout())
            .min()
    }

    /// Moves the clock forward by `d`, firing every timer on the way in order.
    pub fn advance(&mut self, d: Duration) {
        let target = self.now + d;
        for _ in 0..100_000 {
            match self.next_timeout() {
                Some(t) if t <= target => {
                    self.now = self.now.max(t);
                    let now = self.now;
                    for p in &mut self.peers {
                        if p.session.poll_timeout().is_some_and(|t| t <= now) {
                            p.session.handle_timeout(now);
                        }
                    }
                    if self.server.poll_timeout().is_some_and(|t| t <= now) {
                        self.server.handle_timeout(now);
                    }
                    self.run();
                }
                _ => break,
            }
        }
        self.now = target;
        self.run();
    }

    /// Advances in small steps until `cond` holds, at most `limit`; returns whether it held.
    pub fn advance_until(&mut self, limit: Duration, mut cond: impl FnMut(&Net) -> bool) -> bool {
        let end = self.now + limit;
        while self.now < end {
            if cond(self) {
                return true;
            }
            self.advance(Duration::from_millis(50));
        }
        cond(self)
    }

    /// The TCP connection of peer `i` drops (both sides notice, no close frame).
    pub fn cut(&mut self, i: usize) {
        let now = self.now;
        if let Some(conn) = self.peers[i].conn.take() {
            self.server.handle_closed(now, conn, None);
        }
        self.peers[i]
            .session
            .handle_closed(now, None, "connection reset");
        self.run();
    }

    /// The server process dies: every socket drops and all state is lost.
    pub fn kill_server(&mut self) {
        self.server_up = false;
        let now = self.now;
        for p in &mut self.peers {
            if p.conn.take().is_some() {
                p.session.handle_closed(now, None, "connection reset");
            }
        }
        self.run();
    }

    /// A new server process starts (fresh state, fresh epochs).
    pub fn start_server(&mut self) {
        self.server_seed += 1;
        self.server = if self.cluster_node {
            Server::cluster_node(self.server_config.clone(), self.server_seed)
        } else {
            Server::new(self.server_config.clone(), self.server_seed)
        };
        self.server_up = true;
        self.run();
    }

    /// Drains the events of peer `i`.
    pub fn take(&mut self, i: usize) -> Vec<ClientEvent> {
        std::mem::take(&mut self.peers[i].events)
    }

    /// The messages peer `i` received since the last `take`, as (room, seq, data).
    pub fn messages(&mut self, i: usize) -> Vec<(String, u64, String)> {
        self.take(i)
            .into_iter()
            .filter_map(|e| match e {
                ClientEvent::Message {
                    room, seq, data, ..
                } => Some((room, seq, data.get().to_owned())),
                _ => None,
            })
            .collect()
    }

    /// Peer `i` joins `room` at the current time and the network settles.
    pub fn join(
        &mut self,
        i: usize,
        room: &str,
        meta: Option<Payload>,
        history: u32,
    ) -> tandem_proto::Id {
        let now = self.now;
        let id = self.peers[i]
            .session
            .join(now, room, meta, history)
            .expect("join accepted");
        self.run();
        id
    }

    /// Peer `i` publishes raw JSON `data` to `room` (the network does not run yet).
    pub fn publish(
        &mut self,
        i: usize,
        room: &str,
        data: &str,
    ) -> Result<tandem_proto::Id, tandem_proto::OpError> {
        let now = self.now;
        self.peers[i].session.publish(now, room, json(data))
    }

    /// Peer `i` sends a request with raw JSON `data` (the network does not run yet).
    pub fn request(&mut self, i: usize, room: Option<&str>, data: &str) -> tandem_proto::Id {
        let now = self.now;
        self.peers[i]
            .session
            .request(now, room, json(data))
            .expect("request accepted")
    }

    /// Whether peer `i` is open.
    pub fn is_open(&self, i: usize) -> bool {
        self.peers[i].session.state() == &ConnectionState::Open
    }
}

/// The events of a kind, by pattern.
#[macro_export]
macro_rules! find {
    ($events:expr, $pat:pat $(if $cond:expr)? => $out:expr) => {
        $events.iter().filter_map(|e| match e { $pat $(if $cond)? => Some($out), _ => None }).collect::<Vec<_>>()
    };
}
