//! `Server::stats`: what the node counts of its own work (publishes and deliveries by kind,
//! joins and resumes by outcome, replayed messages, error frames by code), which a driver
//! exports as metrics.

#![allow(clippy::unwrap_used)] // tests panic on purpose when an expectation fails

#[cfg(target_arch = "wasm32")]
use wasm_bindgen_test::wasm_bindgen_test as test;

use tandem_proto::{ErrorCode, Instant, Server, ServerConfig, ServerTransmit};

const HELLO: &str = r#"{"v":1,"k":"hello","app":{"name":"default","versions":[1]}}"#;

struct Node {
    server: Server,
    now: Instant,
}

impl Node {
    fn new(conns: u64) -> Self {
        let mut node = Node {
            server: Server::new(ServerConfig::default(), 7),
            now: Instant::from_millis(0),
        };
        for conn in 1..=conns {
            node.server.handle_connect(node.now, conn, "tandem.v1.json");
            node.send(conn, HELLO);
        }
        node.drain();
        node
    }

    fn send(&mut self, conn: u64, text: &str) {
        self.server.handle_message(self.now, conn, text.as_bytes());
    }

    /// Every frame written so far, as text, with its receivers counted once each.
    fn drain(&mut self) -> Vec<String> {
        let mut out = Vec::new();
        while let Some(t) = self.server.poll_transmit() {
            if let ServerTransmit::Frame(d) = t {
                for _ in d.to.iter() {
                    out.push(String::from_utf8(d.frame.to_vec()).unwrap());
                }
            }
        }
        out
    }
}

#[test]
fn publishes_and_deliveries_count_by_kind() {
    let mut node = Node::new(3);
    for conn in 1..=3 {
        node.send(conn, r#"{"v":1,"k":"join","id":1,"room":"r"}"#);
    }
    node.drain();
    for id in 10..13 {
        node.send(
            1,
            &format!(r#"{{"v":1,"k":"publish","id":{id},"room":"r","data":1}}"#),
        );
    }
    for id in 20..22 {
        node.send(
            1,
            &format!(r#"{{"v":1,"k":"publish","id":{id},"room":"r","data":1,"ephemeral":true}}"#),
        );
    }
    // Outside a room nothing is published.
    node.send(
        2,
        r#"{"v":1,"k":"publish","id":30,"room":"elsewhere","data":1}"#,
    );
    let out = node.drain();
    let events = out.iter().filter(|f| f.contains(r#""k":"event""#)).count();
    let stats = node.server.stats();
    assert_eq!(stats.publishes_numbered, 3);
    assert_eq!(stats.publishes_ephemeral, 2);
    // Numbered: to all three members; ephemeral: to the two others.
    assert_eq!(stats.deliveries_numbered, 9);
    assert_eq!(stats.deliveries_ephemeral, 4);
    assert_eq!(events, 13, "every counted delivery was written: {out:?}");
    assert_eq!(stats.joins, 3);
    assert_eq!(stats.errors(ErrorCode::NotJoined), 1);
    assert_eq!(node.server.hub().subscription_count(), 3);
}

#[test]
fn resumes_count_by_outcome_and_replays_by_message() {
    let mut node = Node::new(2);
    node.send(1, r#"{"v":1,"k":"join","id":1,"room":"r"}"#);
    for id in 10..15 {
        node.send(
            1,
            &format!(r#"{{"v":1,"k":"publish","id":{id},"room":"r","data":1}}"#),
        );
    }
    let (epoch, seq) = node.server.hub().position("r").unwrap();
    assert_eq!(seq, 5);
    // From seq 2: messages 3, 4 and 5 come back, nothing lost.
    node.send(
        2,
        &format!(r#"{{"v":1,"k":"resume","id":2,"room":"r","epoch":{epoch},"seq":2}}"#),
    );
    // Another epoch: the position is gone, the resume is not recovered.
    let other = epoch + 1;
    node.send(
        2,
        &format!(r#"{{"v":1,"k":"resume","id":3,"room":"r","epoch":{other},"seq":2}}"#),
    );
    // A fresh join replaying the last two.
    node.send(2, r#"{"v":1,"k":"join","id":4,"room":"r","history":2}"#);
    node.drain();
    let stats = node.server.stats();
    assert_eq!((stats.resumes_recovered, stats.resumes_lost), (1, 1));
    assert_eq!(stats.joins, 2);
    assert_eq!(stats.replayed, 3 + 5 + 2, "{stats:?}");
}

#[test]
fn error_frames_count_by_code() {
    let mut node = Node::new(1);
    for (text, n) in [
        ("{nope", 2),
        (r#"{"v":1,"k":"warp","id":5}"#, 1),
        (r#"{"v":1,"k":"publish","id":7,"room":9,"data":1}"#, 3),
    ] {
        for _ in 0..n {
            node.send(1, text);
        }
    }
    node.send(1, r#"{"v":1,"k":"welcome","session":"s"}"#);
    let stats = node.server.stats();
    assert_eq!(stats.errors(ErrorCode::MalformedFrame), 2);
    assert_eq!(stats.errors(ErrorCode::UnknownKind), 1);
    assert_eq!(stats.errors(ErrorCode::WrongType), 3);
    assert_eq!(stats.errors(ErrorCode::UnexpectedFrame), 1);
    assert_eq!(stats.errors(ErrorCode::RateLimited), 0);
}

#[test]
fn a_flood_counts_its_rate_limited_frames() {
    let mut config = ServerConfig::default();
    config.rate.per_second = 1;
    config.rate.burst = 2;
    let mut node = Node {
        server: Server::new(config, 7),
        now: Instant::from_millis(0),
    };
    node.server.handle_connect(node.now, 1, "tandem.v1.json");
    node.send(1, HELLO);
    for _ in 0..4 {
        node.send(1, r#"{"v":1,"k":"ping"}"#);
    }
    let out = node.drain();
    let limited = out.iter().filter(|f| f.contains("rate_limited")).count();
    assert!(limited > 0, "{out:?}");
    assert_eq!(
        node.server.stats().errors(ErrorCode::RateLimited),
        limited as u64
    );
}
