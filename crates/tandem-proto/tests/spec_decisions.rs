//! What PROTOCOL.md decides where it once left a question open (issue 18, point 8), each
//! checked against the IO-free server: no error frame before a bad-input close, the
//! default application schema, `joined.seq` when a resume finds nothing stored, when a
//! room is discarded (and gets a new epoch), and the order of a presence snapshot.

#![allow(clippy::unwrap_used)] // tests panic on purpose when an expectation fails

use core::time::Duration;

#[cfg(target_arch = "wasm32")]
use wasm_bindgen_test::wasm_bindgen_test as test;

use serde_json::{Value, json};
use tandem_proto::{
    ConnId, HeartbeatConfig, HubConfig, Instant, ProtocolSelection, RateLimit, Server,
    ServerConfig, ServerEvent, ServerTransmit,
};

/// Raw connections straight to one `Server`, with a clock moved by hand.
struct Wire {
    server: Server,
    now: Instant,
}

impl Wire {
    fn new(config: ServerConfig) -> Self {
        Wire {
            server: Server::new(config, 1),
            now: Instant::from_millis(0),
        }
    }

    /// Opens `conn` and says hello; returns the welcome. With `authenticate` on, `conn`
    /// is accepted as `user`.
    fn open(&mut self, conn: ConnId, user: &str, app: &str) -> Value {
        let ProtocolSelection::Speak(p) = self.server.select_protocol(&["tandem.v1.json"]) else {
            panic!("v1 is spoken");
        };
        self.server.handle_connect(self.now, conn, p);
        self.send(conn, &format!(r#"{{"v":1,"k":"hello","app":{app}}}"#));
        while let Some(e) = self.server.poll_event() {
            if let ServerEvent::Authenticate { conn: c, .. } = e {
                self.server.accept(self.now, c, user);
            }
        }
        self.out(conn).remove(0)
    }

    fn send(&mut self, conn: ConnId, text: &str) {
        self.server.handle_message(self.now, conn, text.as_bytes());
    }

    /// What went to `conn` since the last call: frames as JSON, closes as
    /// `{"close": code}`. Frames to others are dropped.
    fn out(&mut self, conn: ConnId) -> Vec<Value> {
        let mut out = Vec::new();
        while let Some(t) = self.server.poll_transmit() {
            match t {
                ServerTransmit::Frame(d) => {
                    let to_me = d.to.iter().any(|c| c == conn);
                    if to_me {
                        out.push(serde_json::from_slice(&d.frame).unwrap());
                    }
                }
                ServerTransmit::Close { conn: c, code, .. } if c == conn => {
                    out.push(json!({ "close": code }));
                }
                ServerTransmit::Close { .. } => {}
            }
        }
        out
    }

    /// Moves the clock by `d`, firing the server's timers on the way.
    fn advance(&mut self, d: Duration) {
        let target = self.now + d;
        while let Some(t) = self.server.poll_timeout().filter(|t| *t <= target) {
            self.now = self.now.max(t);
            self.server.handle_timeout(self.now);
        }
        self.now = target;
    }

    /// `conn` joins (or resumes, `how` giving the fields) `room`; returns `joined` and
    /// whatever followed it.
    fn join(&mut self, conn: ConnId, room: &str, how: &str) -> (Value, Vec<Value>) {
        self.send(
            conn,
            &format!(r#"{{"v":1,"k":"{how}","id":1,"room":"{room}"}}"#),
        );
        let all = self.out(conn);
        let mut out = all.clone().into_iter();
        let joined = out
            .find(|f| f["k"] == "joined")
            .unwrap_or_else(|| panic!("no joined: {all:?}"));
        (joined, out.collect())
    }

    fn publish(&mut self, conn: ConnId, room: &str, n: u32) {
        self.send(
            conn,
            &format!(r#"{{"v":1,"k":"publish","id":9,"room":"{room}","data":{n}}}"#),
        );
        self.out(conn);
    }
}

/// Heartbeat timings under which idle test connections stay open for an hour.
fn quiet() -> HeartbeatConfig {
    HeartbeatConfig {
        interval: Duration::from_secs(3_600),
        timeout: Duration::from_secs(10),
    }
}

const APP: &str = r#"{"name":"default","versions":[1]}"#;

fn resume(epoch: &Value, seq: u64) -> String {
    format!(r#"resume","epoch":{epoch},"seq":{seq},"x":""#)
}

/// §8.2: a close for bad input comes alone; its reason says why. The frames before it
/// each got their own error.
#[test]
fn a_bad_input_close_comes_without_an_error_frame() {
    let mut wire = Wire::new(ServerConfig::default());
    wire.open(1, "u", APP);
    for _ in 0..10 {
        wire.send(1, "[]");
        let out = wire.out(1);
        assert_eq!(out.len(), 1);
        assert_eq!(out[0]["code"], "malformed_frame");
    }
    wire.send(1, "[]");
    assert_eq!(wire.out(1), [json!({"close": 1007})]);

    let mut wire = Wire::new(ServerConfig {
        rate: RateLimit {
            per_second: 1,
            burst: 1,
            max_strikes: 3,
        },
        ..ServerConfig::default()
    });
    wire.open(1, "u", APP);
    for _ in 0..2 {
        wire.send(1, r#"{"v":1,"k":"ping"}"#);
        assert_eq!(wire.out(1)[0]["code"], "rate_limited");
    }
    wire.send(1, r#"{"v":1,"k":"ping"}"#);
    assert_eq!(wire.out(1), [json!({"close": 1008})]);
}

/// §3.1: a server that was given no schema speaks `"default"`, version 1 only.
#[test]
fn the_default_schema_is_default_version_1() {
    let mut wire = Wire::new(ServerConfig::default());
    let welcome = wire.open(1, "u", r#"{"name":"default","versions":[2,1]}"#);
    assert_eq!(welcome["app"], json!({"name": "default", "version": 1}));
    let refused = wire.open(2, "u", r#"{"name":"default","versions":[2]}"#);
    assert_eq!(refused["code"], "app_version_mismatch");
    let refused = wire.open(3, "u", r#"{"name":"whiteboard","versions":[1]}"#);
    assert_eq!(refused["code"], "app_version_mismatch");
}

/// §5.2: a resume that cannot be recovered, in a room that stores nothing, is answered
/// with the current room seq and no replay.
#[test]
fn a_resume_that_finds_nothing_stored_gets_the_room_seq() {
    let mut wire = Wire::new(ServerConfig {
        hub: HubConfig {
            history_age: Duration::from_secs(60),
            ..HubConfig::default()
        },
        heartbeat: quiet(),
        ..ServerConfig::default()
    });
    wire.open(1, "a", APP);
    let (joined, _) = wire.join(1, "r", "join");
    let epoch = joined["epoch"].clone();
    for n in 1..=3 {
        wire.publish(1, "r", n);
    }
    // Everything stored ages out; `a` stays, so the room (and its epoch) stays.
    wire.advance(Duration::from_secs(61));
    wire.open(2, "b", APP);
    for (given, seq) in [(epoch.clone(), 1), (json!(12345), 1), (json!(12345), 3)] {
        let (joined, after) = wire.join(2, "r", &resume(&given, seq));
        assert_eq!(joined["recovered"], false, "{joined}");
        assert_eq!(joined["seq"], 3, "{joined}");
        assert_eq!(joined["epoch"], epoch, "the room's own epoch");
        assert!(after.is_empty(), "nothing is replayed: {after:?}");
    }
    // Caught up in the same epoch: recovered, with nothing to replay.
    let (joined, after) = wire.join(2, "r", &resume(&epoch, 3));
    assert_eq!(joined["recovered"], true);
    assert_eq!(joined["seq"], 3);
    assert!(after.is_empty());
}

/// §5.1: a room is discarded (and a later join gets a new epoch) only once it has no
/// subscriber, no member (a lingering one included) and no stored message.
#[test]
fn a_room_is_discarded_only_when_nothing_keeps_it() {
    let mut wire = Wire::new(ServerConfig {
        hub: HubConfig {
            history_age: Duration::from_secs(60),
            ..HubConfig::default()
        },
        heartbeat: quiet(),
        ..ServerConfig::default()
    });
    let leave = r#"{"v":1,"k":"leave","id":2,"room":"r"}"#;
    wire.open(1, "a", APP);
    let (first, _) = wire.join(1, "r", "join");
    wire.publish(1, "r", 1);
    // Nobody in it, but its history keeps it: the same epoch.
    wire.send(1, leave);
    wire.out(1);
    assert_eq!(wire.server.hub().room_count(), 1);
    let (again, _) = wire.join(1, "r", "join");
    assert_eq!(again["epoch"], first["epoch"]);
    wire.send(1, leave);
    wire.out(1);
    // Its history aged out: discarded at the next sweep, and a join makes it anew.
    wire.advance(Duration::from_secs(62));
    assert_eq!(wire.server.hub().room_count(), 0);
    let (fresh, _) = wire.join(1, "r", "join");
    assert_ne!(fresh["epoch"], first["epoch"]);
    assert_eq!(fresh["seq"], 0);
    // No history, but a member lingering after an abrupt drop (5 s) keeps it.
    wire.server.handle_closed(wire.now, 1, None);
    wire.advance(Duration::from_secs(4));
    assert_eq!(wire.server.hub().room_count(), 1);
    wire.advance(Duration::from_secs(2));
    assert_eq!(wire.server.hub().room_count(), 0);
}

/// §5.4: a snapshot lists members by user id in byte order of its UTF-8 (code point
/// order: capitals before small letters, `é` after `z`).
#[test]
fn presence_is_sorted_by_the_bytes_of_the_user_id() {
    let mut wire = Wire::new(ServerConfig {
        authenticate: true,
        ..ServerConfig::default()
    });
    let users = [
        "bob",
        "\u{e9}ve",
        "alice",
        "Zed",
        "a",
        "\u{1f600}",
        "\u{ff5e}",
    ];
    for (i, user) in users.iter().enumerate() {
        let conn = i as ConnId + 1;
        wire.open(conn, user, APP);
        wire.join(conn, "r", "join");
    }
    wire.open(99, "zoe", APP);
    let (joined, _) = wire.join(99, "r", "join");
    let listed: Vec<&str> = joined["presence"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["user"].as_str().unwrap())
        .collect();
    let mut expected: Vec<&str> = users.iter().copied().chain(["zoe"]).collect();
    expected.sort_by(|a, b| a.as_bytes().cmp(b.as_bytes()));
    assert_eq!(listed, expected);
    assert_eq!(
        listed,
        [
            "Zed",
            "a",
            "alice",
            "bob",
            "zoe",
            "\u{e9}ve",
            "\u{ff5e}",
            "\u{1f600}"
        ]
    );
}
