//! What a connection's token lets it do, checked on every operation; the issuer's presence
//! info; the in-band token refresh and 4002; publishes held for the application's
//! decision; an operator's actions on live sessions. Fake clock, raw frames.

#![allow(clippy::unwrap_used)] // tests panic on purpose when an expectation fails

use std::collections::HashMap;
use std::sync::Arc;

use core::time::Duration;

use tandem_proto::{
    Admission, ErrorBody, ErrorCode, Instant, Payload, ProtocolSelection, PublishDecision,
    Recipients, RoomGrants, Server, ServerConfig, ServerEvent, ServerTransmit, close,
};

/// Raw connections straight to a `Server` that authenticates every hello.
struct Raw {
    server: Server,
    now: Instant,
    /// Frames and closes written so far, by connection, not yet read.
    unread: HashMap<u64, Vec<String>>,
    open: Vec<u64>,
}

fn grants(json: &str) -> Option<Arc<RoomGrants>> {
    Some(Arc::new(serde_json::from_str(json).unwrap()))
}

fn payload(json: &str) -> Payload {
    serde_json::from_str(json).unwrap()
}

impl Raw {
    fn new(config: ServerConfig) -> Self {
        let config = ServerConfig {
            authenticate: true,
            ..config
        };
        Raw {
            server: Server::new(config, 1),
            now: Instant::from_millis(0),
            unread: HashMap::new(),
            open: Vec::new(),
        }
    }

    /// Connects `conn` and admits it as `admission` says.
    fn connect(&mut self, conn: u64, admission: Admission) {
        let ProtocolSelection::Speak(p) = self.server.select_protocol(&["tandem.v1.json"]) else {
            panic!("v1 is spoken");
        };
        self.server.handle_connect(self.now, conn, p);
        self.send(
            conn,
            r#"{"v":1,"k":"hello","app":{"name":"default","versions":[1]},"token":"t"}"#,
        );
        assert!(matches!(
            self.server.poll_event(),
            Some(ServerEvent::Authenticate { .. })
        ));
        self.server.accept_with(self.now, conn, admission);
        assert!(self.out(conn)[0].contains("welcome"));
        self.open.push(conn);
    }

    fn send(&mut self, conn: u64, text: &str) {
        self.server.handle_message(self.now, conn, text.as_bytes());
    }

    /// Frames to `conn` (as text) and its closes (as "close <code>"), heartbeat answers
    /// left out.
    fn out(&mut self, conn: u64) -> Vec<String> {
        while let Some(t) = self.server.poll_transmit() {
            match t {
                ServerTransmit::Frame(d) => {
                    let text = String::from_utf8(d.frame.to_vec()).unwrap();
                    if text.contains(r#""k":"pong""#) {
                        continue;
                    }
                    for c in d.to.iter() {
                        self.unread.entry(c).or_default().push(text.clone());
                    }
                }
                ServerTransmit::Close { conn, code, .. } => {
                    self.unread
                        .entry(conn)
                        .or_default()
                        .push(format!("close {code}"));
                }
            }
        }
        self.unread.remove(&conn).unwrap_or_default()
    }

    /// Time passes in heartbeat-sized steps, every connection pinging as clients do.
    fn advance(&mut self, by: Duration) {
        let step = Duration::from_secs(5);
        let mut left = by;
        while !left.is_zero() {
            let d = left.min(step);
            left -= d;
            self.now = self.now + d;
            for conn in self.open.clone() {
                self.send(conn, r#"{"v":1,"k":"ping"}"#);
            }
            self.server.handle_timeout(self.now);
        }
    }

    fn events(&mut self) -> Vec<ServerEvent> {
        std::iter::from_fn(|| self.server.poll_event()).collect()
    }
}

fn forbidden(out: &[String], id: u64, room: &str) -> bool {
    out.len() == 1
        && out[0].contains(r#""code":"forbidden""#)
        && out[0].contains(&format!(r#""id":{id},"#))
        && out[0].contains(&format!(r#""room":"{room}""#))
}

#[test]
fn a_room_the_token_does_not_grant_is_forbidden_and_the_connection_stays_open() {
    let mut raw = Raw::new(ServerConfig::default());
    let admission = Admission {
        grants: grants(r#"["lobby", "docs/*"]"#),
        ..Admission::user("ada")
    };
    raw.connect(1, admission);
    raw.send(1, r#"{"v":1,"k":"join","id":1,"room":"secret"}"#);
    assert!(forbidden(&raw.out(1), 1, "secret"));
    raw.send(1, r#"{"v":1,"k":"join","id":2,"room":"docs/plan"}"#);
    assert!(raw.out(1)[0].contains(r#""k":"joined""#));
    raw.send(1, r#"{"v":1,"k":"history","id":3,"room":"secret"}"#);
    assert!(forbidden(&raw.out(1), 3, "secret"));
}

#[test]
fn each_right_is_checked_on_its_own_operation() {
    let mut raw = Raw::new(ServerConfig::default());
    let admission = Admission {
        grants: grants(r#"{"docs/*": ["subscribe"], "chat": ["subscribe", "publish"]}"#),
        ..Admission::user("ada")
    };
    raw.connect(1, admission);
    raw.send(1, r#"{"v":1,"k":"join","id":1,"room":"docs/a"}"#);
    assert!(raw.out(1)[0].contains(r#""k":"joined""#));
    for (id, frame) in [
        (
            2,
            r#"{"v":1,"k":"publish","id":2,"room":"docs/a","data":1}"#,
        ),
        (
            3,
            r#"{"v":1,"k":"publish","id":3,"room":"docs/a","data":1,"ephemeral":true}"#,
        ),
        (
            4,
            r#"{"v":1,"k":"update","id":4,"room":"docs/a","meta":{}}"#,
        ),
        (5, r#"{"v":1,"k":"history","id":5,"room":"docs/a"}"#),
        (
            6,
            r#"{"v":1,"k":"join","id":6,"room":"docs/b","meta":{"n":1}}"#,
        ),
        (
            7,
            r#"{"v":1,"k":"join","id":7,"room":"docs/b","history":5}"#,
        ),
        (8, r#"{"v":1,"k":"request","id":8,"room":"other","data":1}"#),
    ] {
        raw.send(1, frame);
        let out = raw.out(1);
        assert!(forbidden(&out, id, frame_room(frame)), "{frame} -> {out:?}");
    }
    // A right the token gives passes its check (here to the next answer: no handler).
    raw.send(
        1,
        r#"{"v":1,"k":"request","id":9,"room":"docs/a","data":1}"#,
    );
    assert!(raw.out(1)[0].contains("no_handler"));
    raw.send(1, r#"{"v":1,"k":"join","id":10,"room":"chat"}"#);
    raw.out(1);
    raw.send(1, r#"{"v":1,"k":"publish","id":11,"room":"chat","data":1}"#);
    let out = raw.out(1);
    assert!(
        out.iter().any(|f| f.contains(r#""k":"ack","id":11"#)),
        "{out:?}"
    );
}

fn frame_room(frame: &str) -> &str {
    let at = frame.find(r#""room":""#).unwrap() + 8;
    let end = frame[at..].find('"').unwrap();
    &frame[at..at + end]
}

#[test]
fn the_issuers_info_rides_with_the_member_and_the_client_cannot_change_it() {
    let mut raw = Raw::new(ServerConfig::default());
    let ada = Admission {
        info: Some(payload(r#"{"name":"Ada","role":"editor"}"#)),
        ..Admission::user("ada")
    };
    raw.connect(1, ada);
    raw.connect(2, Admission::user("bob"));
    raw.send(2, r#"{"v":1,"k":"join","id":1,"room":"r"}"#);
    raw.out(2);
    raw.send(1, r#"{"v":1,"k":"join","id":1,"room":"r","meta":{"c":1}}"#);
    raw.out(1);
    let out = raw.out(2);
    assert!(
        out.iter().any(|f| f.contains(
            r#""joined":[{"user":"ada","meta":{"c":1},"info":{"name":"Ada","role":"editor"}}]"#
        )),
        "{out:?}"
    );
    raw.send(
        1,
        r#"{"v":1,"k":"update","id":2,"room":"r","meta":{"info":"forged"}}"#,
    );
    raw.out(1);
    let out = raw.out(2);
    assert!(
        out.iter()
            .any(|f| f.contains(r#""info":{"name":"Ada","role":"editor"}"#)),
        "{out:?}"
    );
}

#[test]
fn a_session_is_asked_for_a_fresh_token_and_goes_on_with_it() {
    let mut raw = Raw::new(ServerConfig::default());
    let expiring = |now: Instant, secs| Admission {
        expires_at: Some(now + Duration::from_secs(secs)),
        ..Admission::user("ada")
    };
    raw.connect(1, expiring(raw.now, 120));
    raw.send(1, r#"{"v":1,"k":"join","id":1,"room":"r"}"#);
    raw.out(1);
    raw.advance(Duration::from_secs(59));
    assert_eq!(raw.out(1), Vec::<String>::new(), "not yet");
    raw.advance(Duration::from_secs(1));
    assert_eq!(
        raw.out(1),
        [r#"{"v":1,"k":"refresh","expires_in_ms":60000}"#]
    );
    raw.send(1, r#"{"v":1,"k":"token","id":7,"token":"fresh"}"#);
    let Some(ServerEvent::Reauthenticate {
        conn: 1,
        id: 7,
        token,
    }) = raw.server.poll_event()
    else {
        panic!("the application verifies the fresh token");
    };
    assert_eq!(token, "fresh");
    let fresh = expiring(raw.now, 600);
    raw.server.handle_reauthenticated(raw.now, 1, 7, Ok(fresh));
    assert_eq!(raw.out(1), [r#"{"v":1,"k":"ack","id":7}"#]);
    // Past the first token's expiry, the session is open and in its room.
    raw.advance(Duration::from_secs(120));
    assert_eq!(raw.out(1), Vec::<String>::new());
    raw.send(1, r#"{"v":1,"k":"publish","id":8,"room":"r","data":1}"#);
    assert!(raw.out(1).iter().any(|f| f.contains(r#""k":"ack","id":8"#)));
}

#[test]
fn without_a_fresh_token_in_time_the_session_closes_with_4002() {
    let mut raw = Raw::new(ServerConfig::default());
    let admission = Admission {
        expires_at: Some(raw.now + Duration::from_secs(10)),
        ..Admission::user("ada")
    };
    raw.connect(1, admission);
    // A short token is asked for at half its life.
    raw.advance(Duration::from_secs(5));
    assert_eq!(
        raw.out(1),
        [r#"{"v":1,"k":"refresh","expires_in_ms":5000}"#]
    );
    raw.advance(Duration::from_secs(5));
    let out = raw.out(1);
    assert!(out[0].contains("token_expired"), "{out:?}");
    assert_eq!(out[1], format!("close {}", close::TOKEN_EXPIRED));
}

#[test]
fn a_refused_or_foreign_fresh_token_is_an_error_and_the_old_one_holds() {
    let mut raw = Raw::new(ServerConfig::default());
    raw.connect(1, Admission::user("ada"));
    raw.send(1, r#"{"v":1,"k":"token","id":1,"token":"x"}"#);
    raw.events();
    raw.server
        .handle_reauthenticated(raw.now, 1, 1, Ok(Admission::user("mallory")));
    let out = raw.out(1);
    assert!(
        out[0].contains(r#""id":1,"#) && out[0].contains("unauthorized"),
        "{out:?}"
    );
    let expired = ErrorBody {
        code: ErrorCode::TokenExpired,
        message: "token expired".into(),
    };
    raw.send(1, r#"{"v":1,"k":"token","id":2,"token":"y"}"#);
    raw.server
        .handle_reauthenticated(raw.now, 1, 2, Err(expired));
    let out = raw.out(1);
    assert!(
        out[0].contains("token_expired") && out.len() == 1,
        "{out:?}"
    );
    raw.send(1, r#"{"v":1,"k":"join","id":3,"room":"r"}"#);
    assert!(raw.out(1)[0].contains(r#""k":"joined""#));
}

#[test]
fn a_fresh_token_without_a_room_takes_the_connection_out_of_it() {
    let mut raw = Raw::new(ServerConfig::default());
    raw.connect(1, Admission::user("ada"));
    for (id, room) in [(1, "keep"), (2, "drop")] {
        raw.send(
            1,
            &format!(r#"{{"v":1,"k":"join","id":{id},"room":"{room}"}}"#),
        );
    }
    raw.out(1);
    raw.send(1, r#"{"v":1,"k":"token","id":3,"token":"narrower"}"#);
    raw.events();
    let narrower = Admission {
        grants: grants(r#"["keep"]"#),
        ..Admission::user("ada")
    };
    raw.server
        .handle_reauthenticated(raw.now, 1, 3, Ok(narrower));
    let out = raw.out(1);
    assert_eq!(
        out,
        [
            r#"{"v":1,"k":"unsubscribed","room":"drop","message":"your fresh token does not grant this room"}"#,
            r#"{"v":1,"k":"ack","id":3}"#
        ]
    );
    raw.send(1, r#"{"v":1,"k":"publish","id":4,"room":"drop","data":1}"#);
    assert!(forbidden(&raw.out(1), 4, "drop"));
}

#[test]
fn held_publishes_go_out_in_the_order_sent_whatever_order_the_decisions_come_in() {
    let mut raw = Raw::new(ServerConfig {
        authorize_publishes: true,
        ..ServerConfig::default()
    });
    raw.connect(1, Admission::user("ada"));
    raw.connect(2, Admission::user("bob"));
    for conn in [1, 2] {
        raw.send(conn, r#"{"v":1,"k":"join","id":1,"room":"r"}"#);
        raw.out(conn);
    }
    for id in 2..=5 {
        raw.send(
            1,
            &format!(r#"{{"v":1,"k":"publish","id":{id},"room":"r","data":{id}}}"#),
        );
    }
    let asked: Vec<u64> = raw
        .events()
        .into_iter()
        .filter_map(|e| match e {
            ServerEvent::AuthorizePublish { id, .. } => Some(id),
            _ => None,
        })
        .collect();
    assert_eq!(asked, [2, 3, 4, 5]);
    let deny = PublishDecision::Deny(ErrorBody {
        code: ErrorCode::Forbidden,
        message: "not today".into(),
    });
    raw.server
        .decide_publish(raw.now, 1, 4, PublishDecision::Allow);
    raw.server.decide_publish(raw.now, 1, 3, deny);
    assert_eq!(raw.out(2), Vec::<String>::new(), "2 is undecided");
    raw.server
        .decide_publish(raw.now, 1, 2, PublishDecision::Rewrite(payload(r#""two""#)));
    let seen: Vec<String> = raw.out(2);
    assert_eq!(seen.len(), 2, "{seen:?}");
    assert!(
        seen[0].contains(r#""seq":1,"from":"ada","data":"two""#),
        "{seen:?}"
    );
    assert!(
        seen[1].contains(r#""seq":2,"from":"ada","data":4"#),
        "{seen:?}"
    );
    let own = raw.out(1);
    assert!(
        own.iter()
            .any(|f| f.contains(r#""code":"forbidden""#) && f.contains(r#""id":3"#))
    );
    raw.server
        .decide_publish(raw.now, 1, 5, PublishDecision::Allow);
    assert!(raw.out(2)[0].contains(r#""data":5"#));
}

#[test]
fn an_operator_disconnects_a_user_takes_it_out_of_a_room_and_sends_it_a_message() {
    let mut raw = Raw::new(ServerConfig::default());
    raw.connect(1, Admission::user("ada"));
    raw.connect(2, Admission::user("ada"));
    raw.connect(3, Admission::user("bob"));
    for conn in [1, 2, 3] {
        raw.send(conn, r#"{"v":1,"k":"join","id":1,"room":"r"}"#);
        raw.out(conn);
    }
    assert_eq!(raw.server.send_to_user("ada", &payload(r#"{"hi":1}"#)), 2);
    let frames: Vec<_> = std::iter::from_fn(|| raw.server.poll_transmit()).collect();
    let to: Vec<u64> = frames
        .iter()
        .filter_map(|t| match t {
            ServerTransmit::Frame(d) => match d.to {
                Recipients::One(c) => Some(c),
                _ => None,
            },
            ServerTransmit::Close { .. } => None,
        })
        .collect();
    assert_eq!(to, [1, 2]);
    assert_eq!(
        raw.server
            .unsubscribe_user(raw.now, "bob", "r", "moderated"),
        1
    );
    assert_eq!(
        raw.out(3),
        [r#"{"v":1,"k":"unsubscribed","room":"r","message":"moderated"}"#]
    );
    let members: Vec<_> = raw
        .server
        .members("r")
        .into_iter()
        .map(|m| m.user)
        .collect();
    assert_eq!(members, ["ada"]);
    raw.events();
    assert_eq!(
        raw.server
            .disconnect_user(raw.now, "ada", close::DISCONNECTED, "bye"),
        2
    );
    let gone: Vec<_> = raw
        .events()
        .into_iter()
        .filter_map(|e| match e {
            ServerEvent::Disconnected { conn, user } => Some((conn, user)),
            _ => None,
        })
        .collect();
    assert_eq!(gone, [(1, "ada".to_owned()), (2, "ada".to_owned())]);
    assert!(raw.server.members("r").is_empty());
}

#[test]
fn a_token_with_a_second_to_live_is_still_asked_for_before_it_runs_out() {
    let mut raw = Raw::new(ServerConfig::default());
    let admission = Admission {
        expires_at: Some(raw.now + Duration::from_millis(1_500)),
        ..Admission::user("ada")
    };
    raw.connect(1, admission);
    // The token's own deadline, not the once-a-second sweep.
    let at = raw.server.poll_timeout().unwrap();
    assert_eq!(at, Instant::from_millis(750));
    raw.now = at;
    raw.server.handle_timeout(at);
    assert_eq!(raw.out(1), [r#"{"v":1,"k":"refresh","expires_in_ms":750}"#]);
    let at = raw.server.poll_timeout().unwrap();
    assert_eq!(at, Instant::from_millis(1_000), "the sweep comes first");
    raw.now = Instant::from_millis(1_500);
    raw.server.handle_timeout(raw.now);
    assert_eq!(raw.out(1)[1], format!("close {}", close::TOKEN_EXPIRED));
}
