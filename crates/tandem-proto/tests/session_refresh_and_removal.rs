//! A client session's duties for the frames of issue 23, with a fake clock: `refresh`
//! asks the token provider and sends the fresh token in `token` (its `ack` lets the
//! session go on, its `error` is reported and the session lasts until 4002); without a
//! provider `refresh` changes nothing; `unsubscribed` forgets the room (what waited for
//! it fails typed, it is not rejoined after a reconnect); `message` reaches the
//! application; members keep the issuer's `info`. First against a scripted server (the
//! frames are exactly the ones written here), then end to end with the server core.

#![allow(clippy::unwrap_used)] // tests panic on purpose when an expectation fails

use std::collections::VecDeque;

use core::time::Duration;

#[cfg(target_arch = "wasm32")]
use wasm_bindgen_test::wasm_bindgen_test as test;

use serde_json::{Value, json};
use tandem_proto::frame::{self, AnnouncedLimits, AppSelected, HeartbeatTimings};
use tandem_proto::{
    Admission, ClientConfig, ClientEvent, CloseReason, ConnId, ConnectionState, ErrorCode, Frame,
    Id, Instant, Member, OpError, PROTOCOL_V1_JSON, Payload, ProtocolSelection, Server,
    ServerConfig, ServerEvent, ServerTransmit, Session, TokenError, Transmit, encode,
};

fn payload(v: &Value) -> Payload {
    Payload::from_json(v.to_string()).unwrap()
}

fn with_provider() -> ClientConfig {
    ClientConfig {
        refresh_token: true,
        ..ClientConfig::default()
    }
}

/// One session and a server played by the test: it sees every frame the client sends and
/// writes every frame the client gets.
struct Scripted {
    session: Session,
    now: Instant,
    /// Frames the client sent, as JSON, not read yet.
    sent: Vec<Value>,
    /// Events not read yet.
    events: Vec<ClientEvent>,
    /// Answers for the next token requests; none left: the request waits.
    tokens: VecDeque<Result<String, TokenError>>,
    /// Token requests, answered or not.
    token_asks: u32,
    connects: u32,
    closes: Vec<u16>,
    limits: AnnouncedLimits,
}

impl Scripted {
    fn new(config: ClientConfig, tokens: &[&str]) -> Self {
        let mut s = Scripted {
            session: Session::new(config, 1),
            now: Instant::from_millis(1_000),
            sent: Vec::new(),
            events: Vec::new(),
            tokens: tokens.iter().map(|t| Ok((*t).to_owned())).collect(),
            token_asks: 0,
            connects: 0,
            closes: Vec::new(),
            limits: AnnouncedLimits {
                max_frame_bytes: 65_536,
                rate_per_second: None,
                rate_burst: None,
            },
        };
        s.session.connect(s.now);
        s.pump();
        s
    }

    fn pump(&mut self) {
        loop {
            let mut progress = false;
            while let Some(t) = self.session.poll_transmit() {
                progress = true;
                match t {
                    Transmit::Connect { .. } => self.connects += 1,
                    Transmit::Send(text) => self.sent.push(serde_json::from_str(&text).unwrap()),
                    Transmit::Close { code, .. } => self.closes.push(code),
                }
            }
            while let Some(e) = self.session.poll_event() {
                progress = true;
                if let ClientEvent::TokenRequired = e {
                    self.token_asks += 1;
                    if let Some(token) = self.tokens.pop_front() {
                        self.session.handle_token(self.now, token);
                    }
                }
                self.events.push(e);
            }
            if !progress {
                return;
            }
        }
    }

    /// The socket opens and the server welcomes the client as alice.
    fn open(&mut self) {
        self.session.handle_open(self.now, Some(PROTOCOL_V1_JSON));
        self.pump();
        let hello = self.sent.remove(0);
        assert_eq!(hello["k"], "hello", "the first frame is hello");
        self.recv(&Frame::Welcome(frame::Welcome {
            session: format!("s{}", self.connects),
            user: "alice".into(),
            app: AppSelected {
                name: "default".into(),
                version: 1,
            },
            heartbeat: HeartbeatTimings {
                interval_ms: 25_000,
                timeout_ms: 10_000,
            },
            limits: self.limits,
        }));
    }

    fn recv(&mut self, frame: &Frame) {
        self.session
            .handle_message(self.now, encode(frame).as_bytes());
        self.pump();
    }

    /// The server answers every `join` or `resume` sent so far with `joined`.
    fn answer_joins(&mut self, presence: &[Member]) {
        let joins: Vec<Value> = self
            .sent
            .iter()
            .filter(|f| f["k"] == "join" || f["k"] == "resume")
            .cloned()
            .collect();
        self.sent.retain(|f| f["k"] != "join" && f["k"] != "resume");
        for j in joins {
            self.recv(&Frame::Joined(frame::Joined {
                id: j["id"].as_u64().unwrap(),
                room: j["room"].as_str().unwrap().to_owned(),
                epoch: 1,
                seq: 0,
                recovered: j.get("epoch").map(|_| true),
                presence: presence.to_vec(),
                policy: None,
            }));
        }
    }

    /// The connection drops; the session waits out its backoff and connects again.
    fn reconnect(&mut self) {
        self.session
            .handle_closed(self.now, None, "connection reset");
        self.pump();
        let connects = self.connects;
        for _ in 0..100 {
            if self.connects > connects {
                return;
            }
            let at = self
                .session
                .poll_timeout()
                .expect("a reconnect is scheduled");
            self.now = self.now.max(at);
            self.session.handle_timeout(self.now);
            self.pump();
        }
        panic!("no reconnect");
    }

    fn take_sent(&mut self, kind: &str) -> Vec<Value> {
        let (of_kind, rest) = std::mem::take(&mut self.sent)
            .into_iter()
            .partition(|f| f["k"] == kind);
        self.sent = rest;
        of_kind
    }

    fn take_events(&mut self) -> Vec<ClientEvent> {
        std::mem::take(&mut self.events)
    }

    fn join(&mut self, room: &str) -> Id {
        let id = self.session.join(self.now, room, None, 0).unwrap();
        self.pump();
        id
    }
}

/// A client with a token provider, open, in rooms `a` and `b`.
fn open_in_two_rooms(tokens: &[&str]) -> Scripted {
    let mut s = Scripted::new(with_provider(), tokens);
    s.open();
    s.join("a");
    s.join("b");
    s.answer_joins(&[]);
    s.take_events();
    s
}

fn errors(events: &[ClientEvent]) -> Vec<(ErrorCode, String)> {
    events
        .iter()
        .filter_map(|e| match e {
            ClientEvent::Error { code, message, .. } => Some((*code, message.clone())),
            _ => None,
        })
        .collect()
}

#[test]
fn refresh_asks_the_provider_and_sends_the_fresh_token_whose_ack_lets_the_session_go_on() {
    let mut s = open_in_two_rooms(&["t1", "t2"]);
    assert_eq!(s.token_asks, 1, "one token for the connection");

    s.recv(&Frame::Refresh(frame::Refresh {
        expires_in_ms: 60_000,
    }));
    assert_eq!(s.token_asks, 2, "refresh asks the provider once more");
    let sent = s.take_sent("token");
    assert_eq!(sent.len(), 1, "one fresh token sent: {sent:?}");
    assert_eq!(sent[0]["token"], "t2");
    let id = sent[0]["id"].as_u64().unwrap();

    s.recv(&Frame::Ack(frame::Ack { id, seq: None }));
    let events = s.take_events();
    assert!(
        events
            .iter()
            .all(|e| matches!(e, ClientEvent::TokenRequired)),
        "nothing but the token request for the application: {events:?}"
    );
    assert_eq!(s.session.state(), &ConnectionState::Open);
    assert_eq!((s.connects, s.closes.len()), (1, 0), "no reconnect");

    // The next refresh (a later expiry) asks again.
    s.tokens.push_back(Ok("t3".into()));
    s.recv(&Frame::Refresh(frame::Refresh {
        expires_in_ms: 60_000,
    }));
    assert_eq!(s.take_sent("token")[0]["token"], "t3");
}

#[test]
fn a_refused_fresh_token_is_reported_and_4002_reconnects_with_a_fresh_one() {
    let mut s = open_in_two_rooms(&["t1", "t2"]);
    s.recv(&Frame::Refresh(frame::Refresh {
        expires_in_ms: 5_000,
    }));
    let id = s.take_sent("token")[0]["id"].as_u64().unwrap();
    s.recv(&Frame::Error(frame::ErrorFrame {
        id: Some(id),
        room: None,
        code: ErrorCode::Unauthorized,
        message: "the token is for user \"mallory\"".into(),
    }));
    let events = s.take_events();
    let reported = errors(&events);
    assert_eq!(reported.len(), 1, "the refusal is reported: {events:?}");
    assert_eq!(reported[0].0, ErrorCode::Unauthorized);
    assert!(
        !events
            .iter()
            .any(|e| matches!(e, ClientEvent::Failed { .. })),
        "no operation of the application's failed: {events:?}"
    );
    assert_eq!(s.session.state(), &ConnectionState::Open, "it goes on");

    // At expiry the server closes with 4002: the session asks for a fresh token and
    // connects again, its rooms with it.
    s.tokens.push_back(Ok("t3".into()));
    s.session.handle_closed(
        s.now,
        Some(tandem_proto::close::TOKEN_EXPIRED),
        "token expired",
    );
    s.pump();
    let at = s.session.poll_timeout().unwrap();
    s.now = s.now.max(at);
    s.session.handle_timeout(s.now);
    s.pump();
    assert_eq!((s.token_asks, s.connects), (3, 2));
    s.open();
    let rooms: Vec<Value> = s
        .take_sent("resume")
        .iter()
        .map(|f| f["room"].clone())
        .collect();
    assert_eq!(rooms.len(), 2, "both rooms resumed: {rooms:?}");
}

#[test]
fn a_provider_with_no_fresh_token_is_reported_and_nothing_is_sent() {
    let mut s = open_in_two_rooms(&["t1"]);
    s.tokens.push_back(Err(TokenError::Unavailable(
        "the auth service is down".into(),
    )));
    s.recv(&Frame::Refresh(frame::Refresh {
        expires_in_ms: 5_000,
    }));
    assert!(s.take_sent("token").is_empty());
    let reported = errors(&s.take_events());
    assert_eq!(reported.len(), 1);
    assert_eq!(reported[0].0, ErrorCode::Unavailable);
    assert!(reported[0].1.contains("the auth service is down"));
    assert_eq!(s.session.state(), &ConnectionState::Open);
}

#[test]
fn an_answer_that_comes_after_the_connection_is_gone_is_not_sent() {
    let mut s = open_in_two_rooms(&["t1"]);
    s.recv(&Frame::Refresh(frame::Refresh {
        expires_in_ms: 5_000,
    }));
    assert_eq!(s.token_asks, 2, "asked, not answered yet");
    s.session.close(s.now);
    s.pump();
    s.session.handle_token(s.now, Ok("late".into()));
    s.pump();
    assert!(s.take_sent("token").is_empty());
}

#[test]
fn without_a_token_provider_refresh_changes_nothing_and_4002_ends_the_session() {
    let config = ClientConfig {
        token: Some("fixed".into()),
        ..ClientConfig::default()
    };
    let mut s = Scripted::new(config, &[]);
    s.open();
    s.recv(&Frame::Refresh(frame::Refresh {
        expires_in_ms: 5_000,
    }));
    assert_eq!(s.token_asks, 0);
    assert!(s.sent.is_empty(), "nothing sent: {:?}", s.sent);
    assert!(
        s.take_events()
            .iter()
            .all(|e| !matches!(e, ClientEvent::Error { .. } | ClientEvent::TokenRequired))
    );
    s.session.handle_closed(
        s.now,
        Some(tandem_proto::close::TOKEN_EXPIRED),
        "token expired",
    );
    s.pump();
    assert!(matches!(
        s.session.state(),
        ConnectionState::Closed(CloseReason::Unauthorized { code: 4002, .. })
    ));
}

#[test]
fn an_unsubscribed_room_is_forgotten_and_not_rejoined_after_a_reconnect() {
    let mut s = Scripted::new(with_provider(), &["t1", "t2"]);
    // A server rate of one frame a second: after the joins, publishes wait in the queue.
    s.limits.rate_per_second = Some(1);
    s.limits.rate_burst = Some(1);
    s.open();
    s.join("a");
    s.join("b");
    s.answer_joins(&[]);
    s.take_events();
    let queued: Vec<Id> = (0..3)
        .map(|n| {
            let data = payload(&json!({ "n": n }));
            s.session.publish(s.now, "a", data).unwrap()
        })
        .collect();
    s.pump();
    assert!(s.take_sent("publish").is_empty(), "the pacer holds them");
    assert_eq!(s.session.queued(), 3);

    s.recv(&Frame::Unsubscribed(frame::Unsubscribed {
        room: "a".into(),
        message: "removed by an operator".into(),
    }));
    let events = s.take_events();
    assert!(
        matches!(events.last(), Some(ClientEvent::Unsubscribed { room, message })
            if room == "a" && message == "removed by an operator"),
        "told, after what waited failed: {events:?}"
    );
    let failed: Vec<Id> = events
        .iter()
        .filter_map(|e| match e {
            ClientEvent::Failed {
                id,
                error: OpError::NotJoined { room },
            } if room == "a" => Some(*id),
            _ => None,
        })
        .collect();
    assert_eq!(failed, queued, "each queued publish fails, typed, in order");
    assert_eq!(s.session.queued(), 0);
    assert!(s.session.members("a").is_none());
    assert!(s.session.position("a").is_none());
    assert!(matches!(
        s.session.publish(s.now, "a", payload(&json!(1))),
        Err(OpError::NotJoined { .. })
    ));
    assert!(s.sent.iter().all(|f| f["k"] != "leave"), "no leave is sent");

    s.reconnect();
    s.open();
    let rejoined: Vec<Value> = s.sent.iter().map(|f| f["room"].clone()).collect();
    assert_eq!(
        rejoined,
        vec![json!("b")],
        "only b comes back: {:?}",
        s.sent
    );

    // Joining it again is the application's call, and works.
    s.answer_joins(&[]);
    s.join("a");
    assert_eq!(s.take_sent("join")[0]["room"], "a");
}

#[test]
fn unsubscribed_from_a_room_the_application_left_meanwhile_is_ignored() {
    let mut s = open_in_two_rooms(&["t1"]);
    let leave = s.session.leave(s.now, "a").unwrap();
    s.pump();
    s.recv(&Frame::Unsubscribed(frame::Unsubscribed {
        room: "a".into(),
        message: "removed".into(),
    }));
    s.recv(&Frame::Error(frame::ErrorFrame {
        id: Some(leave),
        room: Some("a".into()),
        code: ErrorCode::NotJoined,
        message: "not a member".into(),
    }));
    let events = s.take_events();
    assert!(
        !events
            .iter()
            .any(|e| matches!(e, ClientEvent::Unsubscribed { .. })),
        "{events:?}"
    );
    assert!(
        events
            .iter()
            .any(|e| matches!(e, ClientEvent::Left { id: Some(id), .. } if *id == leave))
    );
}

#[test]
fn a_message_from_the_server_reaches_the_application() {
    let mut s = open_in_two_rooms(&["t1"]);
    s.recv(&Frame::Message(frame::Message {
        data: payload(&json!({ "notice": "maintenance at noon" })),
    }));
    let events = s.take_events();
    assert_eq!(events.len(), 1, "{events:?}");
    let ClientEvent::ServerMessage { data } = &events[0] else {
        panic!("a server message: {events:?}");
    };
    let data: Value = serde_json::from_str(data.get()).unwrap();
    assert_eq!(data, json!({ "notice": "maintenance at noon" }));
}

fn member(user: &str, meta: Option<Value>, info: Option<Value>) -> Member {
    Member {
        user: user.into(),
        meta: meta.as_ref().map(payload),
        info: info.as_ref().map(payload),
    }
}

fn view(list: &[Member]) -> Vec<(String, Option<Value>, Option<Value>)> {
    let parse = |p: &Option<Payload>| p.as_ref().map(|p| serde_json::from_str(p.get()).unwrap());
    list.iter()
        .map(|m| (m.user.clone(), parse(&m.meta), parse(&m.info)))
        .collect()
}

#[test]
fn members_keep_the_issuers_info_through_joins_and_updates() {
    let mut s = Scripted::new(with_provider(), &["t1"]);
    s.open();
    s.join("a");
    let alice = member(
        "alice",
        Some(json!({ "color": "red" })),
        Some(json!({ "name": "Alice", "role": "admin" })),
    );
    s.answer_joins(std::slice::from_ref(&alice));
    let joined = s.take_events();
    let snapshot = joined
        .iter()
        .find_map(|e| match e {
            ClientEvent::Joined { members, .. } => Some(view(members)),
            _ => None,
        })
        .unwrap();
    assert_eq!(snapshot, view(std::slice::from_ref(&alice)));

    s.recv(&Frame::Presence(frame::Presence {
        room: "a".into(),
        joined: vec![member("bob", None, Some(json!({ "name": "Bob" })))],
        left: vec![],
        // A metadata update carries no info: the issuer's stays.
        updated: vec![member("alice", Some(json!({ "color": "green" })), None)],
    }));
    assert_eq!(
        view(s.session.members("a").unwrap()),
        vec![
            (
                "alice".into(),
                Some(json!({ "color": "green" })),
                Some(json!({ "name": "Alice", "role": "admin" }))
            ),
            ("bob".into(), None, Some(json!({ "name": "Bob" }))),
        ]
    );
}

// --- end to end, with the server core ---------------------------------------------------

/// One session and one `Server`, every frame delivered at once; the server admits each
/// token `tN` as alice until `expires`, and answers fresh tokens the same way.
struct Pair {
    server: Server,
    session: Session,
    conn: Option<ConnId>,
    next_conn: ConnId,
    now: Instant,
    issued: u32,
    /// How long an admitted token lasts.
    life: Duration,
    /// Token verdicts: the user each fresh token is for.
    fresh_user: &'static str,
    events: Vec<ClientEvent>,
    closes: Vec<u16>,
}

impl Pair {
    fn new(life: Duration) -> Self {
        let config = ServerConfig {
            authenticate: true,
            token_refresh_ahead: Duration::from_secs(10),
            ..ServerConfig::default()
        };
        let now = Instant::from_millis(0);
        let mut pair = Pair {
            server: Server::new(config, 3),
            session: Session::new(with_provider(), 4),
            conn: None,
            next_conn: 1,
            now,
            issued: 0,
            life,
            fresh_user: "alice",
            events: Vec::new(),
            closes: Vec::new(),
        };
        pair.session.connect(now);
        pair.run();
        pair
    }

    fn admission(&self, user: &str) -> Admission {
        Admission {
            user: user.into(),
            info: Some(payload(&json!({ "name": "Alice" }))),
            expires_at: Some(self.now + self.life),
            ..Admission::default()
        }
    }

    fn run(&mut self) {
        for _ in 0..10_000 {
            if !self.step() {
                return;
            }
        }
        panic!("did not settle");
    }

    fn step(&mut self) -> bool {
        let now = self.now;
        let mut progress = false;
        while let Some(t) = self.session.poll_transmit() {
            progress = true;
            match t {
                Transmit::Connect { protocols } => {
                    let conn = self.next_conn;
                    self.next_conn += 1;
                    let ProtocolSelection::Speak(p) = self.server.select_protocol(&protocols)
                    else {
                        panic!("speaks v1");
                    };
                    self.server.handle_connect(now, conn, p);
                    self.conn = Some(conn);
                    self.session.handle_open(now, Some(p));
                }
                Transmit::Send(text) => {
                    if let Some(conn) = self.conn {
                        self.server.handle_message(now, conn, text.as_bytes());
                    }
                }
                Transmit::Close { code, .. } => {
                    if let Some(conn) = self.conn.take() {
                        self.server.handle_closed(now, conn, Some(code));
                    }
                }
            }
        }
        while let Some(e) = self.session.poll_event() {
            progress = true;
            if let ClientEvent::TokenRequired = e {
                self.issued += 1;
                let token = format!("t{}", self.issued);
                self.session.handle_token(now, Ok(token));
            }
            self.events.push(e);
        }
        while let Some(t) = self.server.poll_transmit() {
            progress = true;
            match t {
                ServerTransmit::Frame(d) => {
                    if d.to.iter().any(|c| Some(c) == self.conn) {
                        self.session.handle_message(now, &d.frame);
                    }
                }
                ServerTransmit::Close { conn, code, reason } => {
                    self.closes.push(code);
                    if self.conn == Some(conn) {
                        self.conn = None;
                        self.session.handle_closed(now, Some(code), &reason);
                    }
                }
            }
        }
        while let Some(e) = self.server.poll_event() {
            progress = true;
            match e {
                ServerEvent::Authenticate { conn, .. } => {
                    let admission = self.admission("alice");
                    self.server.accept_with(now, conn, admission);
                }
                ServerEvent::Reauthenticate { conn, id, .. } => {
                    let admission = self.admission(self.fresh_user);
                    self.server
                        .handle_reauthenticated(now, conn, id, Ok(admission));
                }
                ServerEvent::AuthorizeJoin { conn, id, .. } => {
                    self.server.allow_join(now, conn, id);
                }
                _ => {}
            }
        }
        progress
    }

    /// Moves the clock to `until`, firing every timer on the way.
    fn advance(&mut self, d: Duration) {
        let until = self.now + d;
        loop {
            let next = [self.session.poll_timeout(), self.server.poll_timeout()]
                .into_iter()
                .flatten()
                .min();
            match next {
                Some(t) if t <= until => {
                    self.now = self.now.max(t);
                    if self.session.poll_timeout().is_some_and(|t| t <= self.now) {
                        self.session.handle_timeout(self.now);
                    }
                    if self.server.poll_timeout().is_some_and(|t| t <= self.now) {
                        self.server.handle_timeout(self.now);
                    }
                    self.run();
                }
                _ => break,
            }
        }
        self.now = until;
        self.run();
    }

    fn join(&mut self, room: &str) {
        self.session.join(self.now, room, None, 0).unwrap();
        self.run();
    }
}

#[test]
fn with_the_server_core_a_session_outlives_its_tokens_through_refreshes() {
    let mut pair = Pair::new(Duration::from_secs(30));
    pair.join("a");
    assert_eq!(pair.session.state(), &ConnectionState::Open);
    // Four token lifetimes later: the same connection, with three fresh tokens.
    pair.advance(Duration::from_secs(120));
    assert_eq!(pair.session.state(), &ConnectionState::Open);
    assert!(pair.closes.is_empty(), "never closed: {:?}", pair.closes);
    assert!(
        pair.issued >= 4,
        "fresh tokens were fetched: {}",
        pair.issued
    );
    assert_eq!(pair.next_conn, 2, "one connection");
    assert!(errors(&pair.events).is_empty(), "{:?}", pair.events);
    let members = view(pair.session.members("a").unwrap());
    assert_eq!(
        members[0].2,
        Some(json!({ "name": "Alice" })),
        "info rides along"
    );
}

#[test]
fn with_the_server_core_a_refused_fresh_token_ends_in_4002_and_a_reconnect() {
    let mut pair = Pair::new(Duration::from_secs(30));
    pair.join("a");
    pair.fresh_user = "mallory";
    pair.advance(Duration::from_secs(31));
    let reported = errors(&pair.events);
    assert!(
        reported.iter().any(|(c, _)| *c == ErrorCode::Unauthorized),
        "the refusal is reported: {:?}",
        pair.events
    );
    assert_eq!(pair.closes, vec![tandem_proto::close::TOKEN_EXPIRED]);
    // The session came back on a new connection, with a fresh token, in its room.
    pair.advance(Duration::from_secs(1));
    assert_eq!(pair.session.state(), &ConnectionState::Open);
    assert_eq!(pair.next_conn, 3);
    assert!(pair.session.members("a").is_some());
}

#[test]
fn with_the_server_core_an_operators_unsubscribe_sticks_across_a_reconnect() {
    let mut pair = Pair::new(Duration::from_secs(3_600));
    pair.join("a");
    pair.join("b");
    let now = pair.now;
    assert_eq!(pair.server.unsubscribe_user(now, "alice", "a", "bye"), 1);
    pair.run();
    assert!(pair.events.iter().any(
        |e| matches!(e, ClientEvent::Unsubscribed { room, message } if room == "a" && message == "bye")
    ));
    // The connection drops; the client comes back into b only.
    if let Some(conn) = pair.conn.take() {
        pair.server.handle_closed(now, conn, None);
    }
    pair.session.handle_closed(now, None, "connection reset");
    pair.run();
    pair.advance(Duration::from_secs(60));
    assert_eq!(pair.session.state(), &ConnectionState::Open);
    assert_eq!(pair.next_conn, 3, "reconnected once");
    let users = |room: &str| -> Vec<String> {
        pair.server
            .members(room)
            .into_iter()
            .map(|m| m.user)
            .collect()
    };
    assert_eq!(users("b"), vec!["alice".to_owned()]);
    assert!(users("a").is_empty(), "not rejoined: {:?}", users("a"));

    let sent = pair
        .server
        .send_to_user("alice", &payload(&json!({ "hi": 1 })));
    assert_eq!(sent, 1);
    pair.run();
    assert!(
        pair.events
            .iter()
            .any(|e| matches!(e, ClientEvent::ServerMessage { .. }))
    );
}
