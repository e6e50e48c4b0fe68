//! The server's answer to bad input, rate floods, presence across tabs and drops, and
//! join authorization; one client's bad input never affects another.

#![allow(clippy::unwrap_used)] // tests panic on purpose when an expectation fails

mod support;

use core::time::Duration;

#[cfg(target_arch = "wasm32")]
use wasm_bindgen_test::wasm_bindgen_test as test;

use support::{Net, with_token};
use tandem_proto::{
    ClientConfig, ClientEvent, ErrorCode, HubConfig, Instant, OpError, ProtocolSelection,
    RateLimit, Recipients, Server, ServerConfig, ServerTransmit, close,
};

/// A raw connection straight to a `Server`, bypassing the client session.
struct Raw {
    server: Server,
    now: Instant,
}

impl Raw {
    fn new(config: ServerConfig) -> Self {
        let mut server = Server::new(config, 1);
        let now = Instant::from_millis(0);
        let ProtocolSelection::Speak(p) = server.select_protocol(&["tandem.v1.json"]) else {
            panic!("v1 is spoken");
        };
        server.handle_connect(now, 1, p);
        let mut raw = Raw { server, now };
        raw.send(r#"{"v":1,"k":"hello","app":{"name":"default","versions":[1]}}"#);
        assert!(raw.out()[0].contains("welcome"));
        raw
    }

    fn send(&mut self, text: &str) {
        self.server.handle_message(self.now, 1, text.as_bytes());
    }

    /// Frames to conn 1 (as text) and closes (as "close <code>").
    fn out(&mut self) -> Vec<String> {
        let mut out = Vec::new();
        while let Some(t) = self.server.poll_transmit() {
            match t {
                ServerTransmit::Frame(d) if d.to == Recipients::One(1) => {
                    out.push(String::from_utf8(d.frame.to_vec()).unwrap())
                }
                ServerTransmit::Frame(_) => {}
                ServerTransmit::Close { code, .. } => out.push(format!("close {code}")),
            }
        }
        out
    }
}

#[test]
fn malformed_frames_get_a_typed_error_and_the_connection_stays() {
    let mut raw = Raw::new(ServerConfig::default());
    for (text, code) in [
        ("{nope", "malformed_frame"),
        (r#"{"v":1,"k":"warp","id":5}"#, "unknown_kind"),
        (r#"{"v":1,"k":"publish","id":6,"data":1}"#, "missing_field"),
        (
            r#"{"v":1,"k":"publish","id":7,"room":9,"data":1}"#,
            "wrong_type",
        ),
    ] {
        raw.send(text);
        let out = raw.out();
        assert_eq!(out.len(), 1, "{out:?}");
        assert!(
            out[0].contains(&format!("\"code\":\"{code}\"")),
            "{text} -> {out:?}"
        );
    }
    raw.send(r#"{"v":1,"k":"ping"}"#);
    assert_eq!(raw.out(), [r#"{"v":1,"k":"pong"}"#]);
}

#[test]
fn errors_answer_the_frame_id_when_readable() {
    let mut raw = Raw::new(ServerConfig::default());
    raw.send(r#"{"v":1,"k":"publish","id":6,"data":1}"#);
    assert!(raw.out()[0].contains("\"id\":6"));
    raw.send(r#"{"v":1,"k":"publish","id":8,"room":"r","data":1}"#);
    let out = raw.out();
    assert!(
        out[0].contains("\"id\":8") && out[0].contains("not_joined"),
        "{out:?}"
    );
}

#[test]
fn too_many_malformed_frames_close_1007() {
    let mut raw = Raw::new(ServerConfig::default());
    for _ in 0..10 {
        raw.send("garbage");
    }
    assert!(!raw.out().iter().any(|o| o.starts_with("close")));
    raw.send("garbage");
    assert_eq!(raw.out(), ["close 1007"]);
}

#[test]
fn oversize_binary_out_of_order_and_bad_version_close_with_their_codes() {
    let mut raw = Raw::new(ServerConfig {
        max_frame_bytes: 100,
        ..ServerConfig::default()
    });
    raw.send(&"x".repeat(101));
    assert_eq!(raw.out(), ["close 1009"]);

    let mut raw = Raw::new(ServerConfig::default());
    raw.server.handle_binary(raw.now, 1);
    assert_eq!(raw.out(), ["close 1003"]);

    let mut raw = Raw::new(ServerConfig::default());
    raw.send(r#"{"v":1,"k":"hello","app":{"name":"default","versions":[1]}}"#);
    assert_eq!(raw.out(), ["close 1002"]);

    let mut raw = Raw::new(ServerConfig::default());
    raw.send(r#"{"v":7,"k":"ping"}"#);
    assert_eq!(raw.out(), ["close 1002"]);
}

#[test]
fn frames_before_hello_close_1002() {
    let mut server = Server::new(ServerConfig::default(), 1);
    let now = Instant::ZERO;
    server.handle_connect(now, 1, "tandem.v1.json");
    server.handle_message(now, 1, br#"{"v":1,"k":"join","id":1,"room":"r"}"#);
    assert!(matches!(
        server.poll_transmit(),
        Some(ServerTransmit::Close { code: 1002, .. })
    ));
}

#[test]
fn a_flood_gets_rate_limited_then_closed_1008() {
    let mut raw = Raw::new(ServerConfig {
        rate: RateLimit {
            per_second: 10,
            burst: 5,
            max_strikes: 3,
        },
        ..ServerConfig::default()
    });
    let mut out = Vec::new();
    for _ in 0..9 {
        raw.send(r#"{"v":1,"k":"ping"}"#);
        out.extend(raw.out());
    }
    let pongs = out.iter().filter(|o| o.contains("pong")).count();
    assert_eq!(pongs, 4, "burst of 5 minus the hello: {out:?}");
    assert!(out.iter().any(|o| o.contains("rate_limited")));
    assert_eq!(out.last().map(String::as_str), Some("close 1008"));
}

#[test]
fn the_rate_refills_over_time() {
    let mut raw = Raw::new(ServerConfig {
        rate: RateLimit {
            per_second: 10,
            burst: 2,
            max_strikes: 100,
        },
        ..ServerConfig::default()
    });
    raw.send(r#"{"v":1,"k":"ping"}"#);
    raw.send(r#"{"v":1,"k":"ping"}"#);
    assert!(raw.out().iter().any(|o| o.contains("rate_limited")));
    raw.now = raw.now + Duration::from_millis(100);
    raw.send(r#"{"v":1,"k":"ping"}"#);
    assert_eq!(raw.out(), [r#"{"v":1,"k":"pong"}"#]);
}

#[test]
fn one_clients_bad_input_does_not_affect_another() {
    let mut net = Net::new(ServerConfig::default());
    let good = net.client(ClientConfig::default());
    let sender = net.client(ClientConfig::default());
    net.join(good, "r", None, 0);
    net.join(sender, "r", None, 0);
    let bad_conn = net.client(ClientConfig::default());
    let conn = net.peers[bad_conn].conn.unwrap();
    let now = net.now;
    net.server.handle_message(now, conn, &vec![b'x'; 70_000]);
    net.run();
    assert!(
        net.closes
            .iter()
            .any(|(p, code, _)| *p == bad_conn && *code == close::MESSAGE_TOO_BIG)
    );
    net.messages(good);
    for n in 0..3 {
        net.publish(sender, "r", &n.to_string()).unwrap();
    }
    net.run();
    assert_eq!(net.messages(good).len(), 3);
    assert!(net.is_open(good));
}

#[test]
fn one_user_with_two_connections_is_one_member() {
    let mut net = Net::new(ServerConfig {
        authenticate: true,
        ..ServerConfig::default()
    });
    let watcher = net.client(with_token("wendy"));
    net.join(watcher, "r", None, 0);
    let tab1 = net.client(with_token("alice"));
    let tab2 = net.client(with_token("alice"));
    net.join(tab1, "r", None, 0);
    net.join(tab2, "r", None, 0);
    let events = net.take(watcher);
    let arrivals = find!(events, ClientEvent::Presence { joined, .. } => joined.len());
    assert_eq!(arrivals, [1], "alice arrives once");
    assert_eq!(net.server.hub().members("r").len(), 2);

    // One tab leaves cleanly: alice is still present.
    let now = net.now;
    net.peer(tab1).session.close(now);
    net.run();
    assert!(
        find!(net.take(watcher), ClientEvent::Presence { left, .. } if !left.is_empty() => ())
            .is_empty()
    );
    // The last tab leaves: alice leaves.
    net.peer(tab2).session.leave(now, "r").unwrap();
    net.run();
    let events = net.take(watcher);
    let gone = find!(events, ClientEvent::Presence { left, .. } => left[0].user.clone());
    assert_eq!(gone, ["alice"]);
}

/// A watcher and bob, both in room "r".
fn watcher_and_bob(net: &mut Net) -> (usize, usize) {
    let watcher = net.client(ClientConfig::default());
    net.join(watcher, "r", None, 0);
    let bob = net.client(with_token("bob"));
    net.join(bob, "r", None, 0);
    (watcher, bob)
}

#[test]
fn an_abrupt_drop_leaves_presence_after_the_timeout() {
    let mut net = Net::new(ServerConfig {
        authenticate: true,
        hub: HubConfig {
            presence_timeout: Duration::from_secs(5),
            ..HubConfig::default()
        },
        ..ServerConfig::default()
    });
    let (watcher, bob) = watcher_and_bob(&mut net);
    net.server_up = false; // bob cannot come back
    net.cut(bob);
    net.take(watcher);
    net.advance(Duration::from_millis(4_900));
    assert!(
        find!(net.take(watcher), ClientEvent::Presence { .. } => ()).is_empty(),
        "not before the timeout"
    );
    net.advance(Duration::from_millis(200));
    let events = net.take(watcher);
    assert_eq!(
        find!(events, ClientEvent::Presence { left, .. } => left[0].user.clone()),
        ["bob"]
    );
}

#[test]
fn a_quick_reconnect_does_not_flicker_presence() {
    let mut net = Net::new(ServerConfig {
        authenticate: true,
        ..ServerConfig::default()
    });
    let (watcher, bob) = watcher_and_bob(&mut net);
    net.take(watcher);
    net.cut(bob);
    assert!(net.advance_until(Duration::from_secs(2), |n| n.is_open(bob)));
    net.advance(Duration::from_secs(10));
    assert!(find!(net.take(watcher), ClientEvent::Presence { .. } => ()).is_empty());
}

#[test]
fn an_unauthorized_join_is_a_typed_error_and_the_connection_stays() {
    let mut net = Net::new(ServerConfig {
        authorize_joins: true,
        ..ServerConfig::default()
    });
    net.deny_rooms.push("vault".into());
    let a = net.client(ClientConfig::default());
    let id = net.join(a, "vault", None, 0);
    let events = net.take(a);
    let failed = find!(events, ClientEvent::Failed { id: f, error } if *f == id => error.clone());
    assert!(
        matches!(
            &failed[..],
            [OpError::Server {
                code: ErrorCode::Forbidden,
                ..
            }]
        ),
        "{failed:?}"
    );
    assert!(net.is_open(a));
    net.join(a, "lobby", None, 0);
    assert_eq!(
        find!(net.take(a), ClientEvent::Joined { room, .. } => room.clone()),
        ["lobby"]
    );
}

#[test]
fn rooms_per_connection_are_bounded() {
    let mut net = Net::new(ServerConfig {
        hub: HubConfig {
            max_rooms_per_conn: 2,
            ..HubConfig::default()
        },
        ..ServerConfig::default()
    });
    let a = net.client(ClientConfig::default());
    net.join(a, "1", None, 0);
    net.join(a, "2", None, 0);
    let id = net.join(a, "3", None, 0);
    let events = net.take(a);
    let failed = find!(events, ClientEvent::Failed { id: f, error } if *f == id => error.clone());
    assert!(matches!(
        &failed[..],
        [OpError::Server {
            code: ErrorCode::TooManyRooms,
            ..
        }]
    ));
}

#[test]
fn join_with_history_replays_recent_messages() {
    let mut net = Net::new(ServerConfig::default());
    let a = net.client(ClientConfig::default());
    net.join(a, "chat", None, 0);
    for n in 1..=5 {
        net.publish(a, "chat", &n.to_string()).unwrap();
    }
    net.run();
    let b = net.client(ClientConfig::default());
    net.join(b, "chat", None, 3);
    let got: Vec<u64> = net.messages(b).into_iter().map(|m| m.1).collect();
    assert_eq!(got, [3, 4, 5]);
}

#[test]
fn abandoned_rooms_are_forgotten_once_their_history_expires() {
    let mut net = Net::new(ServerConfig {
        hub: HubConfig {
            history_age: Duration::from_secs(60),
            ..HubConfig::default()
        },
        ..ServerConfig::default()
    });
    let a = net.client(ClientConfig::default());
    net.join(a, "old", None, 0);
    net.publish(a, "old", "1").unwrap();
    net.run();
    let now = net.now;
    net.peer(a).session.leave(now, "old").unwrap();
    net.run();
    assert_eq!(
        net.server.hub().room_count(),
        1,
        "history keeps the room for resumes"
    );
    net.advance(Duration::from_secs(59));
    assert_eq!(net.server.hub().room_count(), 1);
    net.advance(Duration::from_secs(2));
    assert_eq!(net.server.hub().room_count(), 0);
}

#[test]
fn graceful_shutdown_tells_clients_to_come_back() {
    let mut net = Net::new(ServerConfig::default());
    let a = net.client(ClientConfig::default());
    let now = net.now;
    net.server
        .shutdown(now, close::SERVICE_RESTART, Duration::from_secs(2));
    net.run();
    let ConnectionState::Reconnecting { delay: Some(d), .. } = net.state(a) else {
        panic!("{:?}", net.state(a));
    };
    assert!(d >= Duration::from_secs(2));
    assert!(net.advance_until(Duration::from_secs(5), |n| n.is_open(a)));
}

use tandem_proto::ConnectionState;

#[test]
fn presence_updates_count_against_the_rate_like_publishes() {
    let mut raw = Raw::new(ServerConfig {
        rate: RateLimit {
            per_second: 5,
            burst: 10,
            max_strikes: 100,
        },
        ..ServerConfig::default()
    });
    raw.send(r#"{"v":1,"k":"join","id":1,"room":"r"}"#);
    assert!(raw.out()[0].contains("joined"));
    for id in 2..40 {
        raw.send(&format!(
            r#"{{"v":1,"k":"update","id":{id},"room":"r","meta":{{"n":{id}}}}}"#
        ));
    }
    let out = raw.out();
    let acked = out.iter().filter(|o| o.contains(r#""k":"ack""#)).count();
    let limited = out.iter().filter(|o| o.contains("rate_limited")).count();
    assert_eq!(acked, 8, "the burst, less the hello and the join: {out:?}");
    assert_eq!(limited, 38 - 8);
    assert!(
        out.iter().all(|o| !o.contains(r#""seq""#)),
        "an update's ack has no seq"
    );
}

#[test]
fn updates_pages_and_ephemeral_messages_outside_a_room_get_typed_answers() {
    let mut raw = Raw::new(ServerConfig::default());
    raw.send(r#"{"v":1,"k":"update","id":2,"room":"r","meta":1}"#);
    raw.send(r#"{"v":1,"k":"publish","id":3,"room":"r","data":1,"ephemeral":true}"#);
    raw.send(r#"{"v":1,"k":"history","id":4,"room":"r","limit":1000000}"#);
    let out = raw.out();
    assert!(
        out[0].contains(r#""id":2"#) && out[0].contains("not_joined"),
        "{}",
        out[0]
    );
    assert!(
        out[1].contains(r#""id":3"#) && out[1].contains("not_joined"),
        "{}",
        out[1]
    );
    assert_eq!(
        out[2],
        r#"{"v":1,"k":"page","id":4,"room":"r","epoch":0,"events":[],"more":false}"#
    );
    assert_eq!(out.len(), 3, "the connection stays open: {out:?}");
}
