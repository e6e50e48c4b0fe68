//! A cluster node hears a room's messages only while it has local members in it (a
//! per-room channel): it asks for the room (`Watch`) with the room's first join and asks
//! the broker for the room's state (`Sync`) only once the room is delivered, so a message
//! published between the two is never lost, and never doubled when the snapshot has it
//! too. When the room's last member here goes, the node lets it go (`Unwatch`). Every
//! interleaving is driven by hand here, with the fake clock.

#![allow(clippy::unwrap_used)] // tests panic on purpose when an expectation fails

use bytes::Bytes;
use serde_json::Value;
use tandem_proto::{
    ConnId, ErrorBody, ErrorCode, Instant, MemberChange, ProtocolSelection, RoomState, Server,
    ServerConfig, ServerEvent, ServerTransmit, encode_event_around_seq,
};

#[cfg(target_arch = "wasm32")]
use wasm_bindgen_test::wasm_bindgen_test as test;

const EPOCH: u64 = 9;

struct Node {
    server: Server,
    now: Instant,
}

fn event(room: &str, seq: u64, data: &str) -> Bytes {
    let data = serde_json::from_str(data).unwrap();
    let (head, tail) = encode_event_around_seq(room, Some("bob"), &data);
    Bytes::from(format!("{head}{seq}{tail}"))
}

impl Node {
    fn new() -> Self {
        Node {
            server: Server::cluster_node(ServerConfig::default(), 1),
            now: Instant::from_millis(0),
        }
    }

    fn connect(&mut self, conn: ConnId) {
        let ProtocolSelection::Speak(p) = self.server.select_protocol(&["tandem.v1.json"]) else {
            panic!("v1 is spoken");
        };
        self.server.handle_connect(self.now, conn, p);
        self.send(
            conn,
            r#"{"v":1,"k":"hello","app":{"name":"default","versions":[1]}}"#,
        );
        assert_eq!(self.frames(conn)[0]["k"], "welcome");
    }

    fn send(&mut self, conn: ConnId, text: &str) {
        self.server.handle_message(self.now, conn, text.as_bytes());
    }

    fn join(&mut self, conn: ConnId, id: u64, room: &str) {
        let join = format!(r#"{{"v":1,"k":"join","id":{id},"room":"{room}"}}"#);
        self.send(conn, &join);
    }

    /// What the node asked the broker, as short names (`watch r`, `sync r`, `unwatch r`,
    /// `depart r`); anything else is dropped.
    fn asked(&mut self) -> Vec<String> {
        std::iter::from_fn(|| self.server.poll_event())
            .filter_map(|e| match e {
                ServerEvent::Watch { room } => Some(format!("watch {room}")),
                ServerEvent::Unwatch { room } => Some(format!("unwatch {room}")),
                ServerEvent::Sync { room, .. } => Some(format!("sync {room}")),
                ServerEvent::Depart { room, .. } => Some(format!("depart {room}")),
                _ => None,
            })
            .collect()
    }

    fn frames(&mut self, conn: ConnId) -> Vec<Value> {
        let mut out = Vec::new();
        while let Some(t) = self.server.poll_transmit() {
            if let ServerTransmit::Frame(d) = t {
                if d.to.iter().any(|c| c == conn) {
                    out.push(serde_json::from_slice(&d.frame).unwrap());
                }
            }
        }
        out
    }

    /// The broker's state of `room`: its last seq and the retained events up to it.
    fn synced(&mut self, conn: ConnId, id: u64, room: &str, seq: u64) {
        let history = (1..=seq)
            .map(|s| (s, event(room, s, &s.to_string())))
            .collect();
        let state = RoomState {
            epoch: EPOCH,
            seq,
            history,
            members: Vec::new(),
        };
        self.server.handle_synced(self.now, conn, id, Ok(state));
    }

    /// The seqs of the `event`s `conn` got, in order.
    fn seqs(frames: &[Value]) -> Vec<u64> {
        frames
            .iter()
            .filter(|f| f["k"] == "event")
            .map(|f| f["seq"].as_u64().unwrap())
            .collect()
    }
}

#[test]
fn the_first_join_asks_for_the_room_and_its_state_only_once_the_room_is_delivered() {
    let mut node = Node::new();
    node.connect(1);
    node.join(1, 1, "doc");
    assert_eq!(node.asked(), ["watch doc"], "no sync before the watch");
    // A second join of the same room meanwhile waits too, without a second watch.
    node.connect(2);
    node.join(2, 1, "doc");
    assert_eq!(node.asked(), Vec::<String>::new());
    node.server.handle_watched(node.now, "doc", Ok(()));
    assert_eq!(node.asked(), ["sync doc", "sync doc"]);
    // Later joins of a delivered room sync at once.
    node.connect(3);
    node.join(3, 1, "doc");
    assert_eq!(node.asked(), ["sync doc"]);
}

#[test]
fn a_message_published_between_the_watch_and_the_snapshot_is_delivered_once() {
    // `snapshot`: the last seq the broker's state has when it answers; message 3 came
    // live (the room was watched) before that answer, and 4 after.
    for snapshot in [2, 3] {
        let mut node = Node::new();
        node.connect(1);
        node.send(1, r#"{"v":1,"k":"join","id":1,"room":"doc","history":10}"#);
        node.server.handle_watched(node.now, "doc", Ok(()));
        node.asked();
        node.server
            .handle_remote_event(node.now, "doc", EPOCH, 3, event("doc", 3, "3"));
        node.synced(1, 1, "doc", snapshot);
        node.server
            .handle_remote_event(node.now, "doc", EPOCH, 4, event("doc", 4, "4"));
        assert_eq!(
            Node::seqs(&node.frames(1)),
            [1, 2, 3, 4],
            "snapshot at {snapshot}: each message once, in order"
        );
    }
}

#[test]
fn a_joined_member_after_the_watch_misses_nothing_published_later() {
    let mut node = Node::new();
    node.connect(1);
    node.send(1, r#"{"v":1,"k":"join","id":1,"room":"doc","history":10}"#);
    node.server.handle_watched(node.now, "doc", Ok(()));
    node.asked();
    node.synced(1, 1, "doc", 2);
    for seq in 3..=5 {
        node.server
            .handle_remote_event(node.now, "doc", EPOCH, seq, event("doc", seq, "0"));
    }
    assert_eq!(Node::seqs(&node.frames(1)), [1, 2, 3, 4, 5]);
}

#[test]
fn the_last_member_leaving_lets_the_room_go_and_the_next_join_asks_again() {
    let mut node = Node::new();
    node.connect(1);
    node.join(1, 1, "doc");
    node.server.handle_watched(node.now, "doc", Ok(()));
    node.asked();
    node.synced(1, 1, "doc", 0);
    node.frames(1);
    node.send(1, r#"{"v":1,"k":"leave","id":2,"room":"doc"}"#);
    assert_eq!(node.asked(), ["depart doc", "unwatch doc"]);
    // Events for a room let go are not for anyone here.
    node.server
        .handle_remote_member(node.now, "doc", MemberChange::Left("x".into()));
    node.join(1, 3, "doc");
    assert_eq!(node.asked(), ["watch doc"]);
}

#[test]
fn a_watch_the_broker_cannot_make_fails_the_waiting_joins_and_is_asked_again() {
    let mut node = Node::new();
    node.connect(1);
    node.join(1, 1, "doc");
    node.asked();
    let down = ErrorBody {
        code: ErrorCode::Unavailable,
        message: "redis down".into(),
    };
    node.server.handle_watched(node.now, "doc", Err(down));
    let refused = node.frames(1);
    assert_eq!(refused[0]["k"], "error");
    assert_eq!(refused[0]["code"], "unavailable");
    assert_eq!(refused[0]["id"], 1);
    // The failed join's arrival was never counted; the room was let go.
    assert_eq!(node.asked(), ["unwatch doc"]);
    node.join(1, 2, "doc");
    assert_eq!(node.asked(), ["watch doc"]);
}

/// Closes `conn` got, as close codes.
fn closes(node: &mut Node, conn: ConnId) -> Vec<u16> {
    std::iter::from_fn(|| node.server.poll_transmit())
        .filter_map(|t| match t {
            ServerTransmit::Close { conn: c, code, .. } if c == conn => Some(code),
            _ => None,
        })
        .collect()
}

#[test]
fn a_room_behind_the_brokers_position_or_on_another_epoch_sends_its_clients_to_resume() {
    for (epoch, seq, resumes) in [(EPOCH, 2, false), (EPOCH, 5, true), (EPOCH + 1, 2, true)] {
        let mut node = Node::new();
        node.connect(1);
        node.join(1, 1, "doc");
        node.server.handle_watched(node.now, "doc", Ok(()));
        node.asked();
        node.synced(1, 1, "doc", 2);
        node.frames(1);
        // The room's delivery was disturbed (a shard's failover): where is it now?
        node.server
            .handle_remote_position(node.now, "doc", epoch, seq);
        let closed = closes(&mut node, 1);
        if resumes {
            assert_eq!(
                closed,
                [tandem_proto::close::TRY_AGAIN_LATER],
                "{epoch}/{seq}"
            );
        } else {
            assert!(closed.is_empty(), "up to date at {epoch}/{seq}: {closed:?}");
        }
    }
}
