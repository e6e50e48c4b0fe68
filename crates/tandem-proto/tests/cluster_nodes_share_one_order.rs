//! Two clustered `Server`s and a model broker in one process: the broker numbers every
//! message once, both nodes deliver in its order, presence spans both nodes, a client
//! resumes on the other node, and a node that missed messages sends its clients to resume.

#![allow(clippy::unwrap_used)] // tests panic on purpose when an expectation fails

use std::collections::{BTreeMap, HashMap};

use bytes::Bytes;
use serde_json::Value;
use tandem_proto::{
    ConnId, ErrorBody, Instant, Member, MemberChange, ProtocolSelection, RoomState, Server,
    ServerConfig, ServerEvent, ServerTransmit, encode_event_around_seq,
};

#[cfg(target_arch = "wasm32")]
use wasm_bindgen_test::wasm_bindgen_test as test;

const EPOCH: u64 = 77;
const HISTORY: usize = 3;

/// What Redis keeps, reduced to one room map.
#[derive(Default)]
struct Broker {
    seq: HashMap<String, u64>,
    history: HashMap<String, Vec<(u64, Bytes)>>,
    /// room -> user -> number of nodes that have it.
    members: HashMap<String, BTreeMap<String, usize>>,
    /// Whether the broker is reachable: publishes fail when not.
    down: bool,
}

struct Cluster {
    nodes: Vec<Server>,
    broker: Broker,
    now: Instant,
    /// Frames (and closes) each node wrote, per connection.
    inbox: Vec<HashMap<ConnId, Vec<Value>>>,
}

impl Cluster {
    fn new(nodes: usize) -> Self {
        let mut config = ServerConfig::default();
        // The nodes keep the same bound as the broker, as `tandem serve` configures both.
        config.hub.history_len = HISTORY;
        Cluster {
            nodes: (0..nodes)
                .map(|i| {
                    let mut c = config.clone();
                    c.anonymous_prefix = format!("conn-n{i}-");
                    Server::cluster_node(c, i as u64 + 1)
                })
                .collect(),
            broker: Broker::default(),
            now: Instant::from_millis(0),
            inbox: (0..nodes).map(|_| HashMap::new()).collect(),
        }
    }

    fn connect(&mut self, node: usize, conn: ConnId) {
        let server = &mut self.nodes[node];
        let ProtocolSelection::Speak(p) = server.select_protocol(&["tandem.v1.json"]) else {
            panic!("v1 is spoken");
        };
        server.handle_connect(self.now, conn, p);
        self.send(
            node,
            conn,
            r#"{"v":1,"k":"hello","app":{"name":"default","versions":[1]}}"#,
        );
    }

    fn send(&mut self, node: usize, conn: ConnId, text: &str) {
        self.nodes[node].handle_message(self.now, conn, text.as_bytes());
        self.run();
    }

    /// Carries every output until nothing moves.
    fn run(&mut self) {
        loop {
            let mut moved = false;
            for n in 0..self.nodes.len() {
                while let Some(t) = self.nodes[n].poll_transmit() {
                    moved = true;
                    match t {
                        ServerTransmit::Frame(d) => {
                            let v: Value = serde_json::from_slice(&d.frame).unwrap();
                            for c in d.to.iter() {
                                self.inbox[n].entry(c).or_default().push(v.clone());
                            }
                        }
                        ServerTransmit::Close { conn, code, .. } => {
                            let close = serde_json::json!({"k": "close", "code": code});
                            self.inbox[n].entry(conn).or_default().push(close);
                        }
                    }
                }
                while let Some(e) = self.nodes[n].poll_event() {
                    moved = true;
                    self.broker_handles(n, e);
                }
            }
            if !moved {
                return;
            }
        }
    }

    fn broker_handles(&mut self, node: usize, event: ServerEvent) {
        let now = self.now;
        match event {
            ServerEvent::Publish {
                conn,
                id,
                room,
                from,
                data,
            } => {
                if self.broker.down {
                    let e = ErrorBody {
                        code: tandem_proto::ErrorCode::Unavailable,
                        message: "broker down".into(),
                    };
                    self.nodes[node].handle_published(conn, id, room, Err(e));
                    return;
                }
                let seq = self.broker.seq.entry(room.clone()).or_default();
                *seq += 1;
                let seq = *seq;
                let (head, tail) = encode_event_around_seq(&room, Some(&from), &data);
                let frame = Bytes::from(format!("{head}{seq}{tail}"));
                let history = self.broker.history.entry(room.clone()).or_default();
                history.push((seq, frame.clone()));
                if history.len() > HISTORY {
                    history.remove(0);
                }
                for n in &mut self.nodes {
                    n.handle_remote_event(now, &room, EPOCH, seq, frame.clone());
                }
                self.nodes[node].handle_published(conn, id, room, Ok(seq));
            }
            ServerEvent::Sync {
                conn,
                id,
                room,
                user,
                meta,
                info,
                arrive,
                ..
            } => {
                let members = self.broker.members.entry(room.clone()).or_default();
                if arrive {
                    let count = members.entry(user.clone()).or_default();
                    *count += 1;
                    if *count == 1 {
                        let m = Member { user, meta, info };
                        for n in &mut self.nodes {
                            n.handle_remote_member(now, &room, MemberChange::Joined(m.clone()));
                        }
                    }
                }
                let state = RoomState {
                    epoch: EPOCH,
                    seq: self.broker.seq.get(&room).copied().unwrap_or(0),
                    history: self.broker.history.get(&room).cloned().unwrap_or_default(),
                    members: self.broker.members[&room]
                        .keys()
                        .map(|u| Member {
                            user: u.clone(),
                            meta: None,
                            info: None,
                        })
                        .collect(),
                };
                self.nodes[node].handle_synced(now, conn, id, Ok(state));
            }
            ServerEvent::Depart { room, user } => {
                let members = self.broker.members.entry(room.clone()).or_default();
                if let Some(count) = members.get_mut(&user) {
                    *count -= 1;
                    if *count == 0 {
                        members.remove(&user);
                        for n in &mut self.nodes {
                            n.handle_remote_member(now, &room, MemberChange::Left(user.clone()));
                        }
                    }
                }
            }
            // A notice for the application; nothing for the broker to do.
            ServerEvent::Disconnected { .. } => {}
            // This broker delivers every room to every node.
            ServerEvent::Watch { room } => self.nodes[node].handle_watched(now, &room, Ok(())),
            ServerEvent::Unwatch { .. } => {}
            other => panic!("unexpected event {other:?}"),
        }
    }

    fn take(&mut self, node: usize, conn: ConnId) -> Vec<Value> {
        self.inbox[node].remove(&conn).unwrap_or_default()
    }

    fn of_kind(&mut self, node: usize, conn: ConnId, kind: &str) -> Vec<Value> {
        self.take(node, conn)
            .into_iter()
            .filter(|v| v["k"] == kind)
            .collect()
    }
}

fn seqs(events: &[Value]) -> Vec<(u64, String)> {
    events
        .iter()
        .map(|e| {
            (
                e["seq"].as_u64().unwrap(),
                e["data"]["t"].as_str().unwrap().to_owned(),
            )
        })
        .collect()
}

fn users(joined: &Value) -> Vec<String> {
    let mut u: Vec<String> = joined["presence"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["user"].as_str().unwrap().to_owned())
        .collect();
    u.sort();
    u
}

fn publish(c: &mut Cluster, node: usize, conn: ConnId, id: u64, text: &str) {
    c.send(
        node,
        conn,
        &format!(r#"{{"v":1,"k":"publish","id":{id},"room":"r","data":{{"t":"{text}"}}}}"#),
    );
}

#[test]
fn members_on_two_nodes_see_one_order_and_each_other() {
    let mut c = Cluster::new(2);
    c.connect(0, 1);
    c.connect(1, 1);
    c.send(0, 1, r#"{"v":1,"k":"join","id":1,"room":"r"}"#);
    c.send(1, 1, r#"{"v":1,"k":"join","id":1,"room":"r"}"#);
    let joined = c.of_kind(1, 1, "joined");
    assert_eq!(users(&joined[0]), ["conn-n0-1", "conn-n1-1"]);
    let diff = c.of_kind(0, 1, "presence");
    assert_eq!(diff.len(), 1, "node 0's member hears of node 1's: {diff:?}");
    assert_eq!(diff[0]["joined"][0]["user"], "conn-n1-1");

    publish(&mut c, 0, 1, 2, "a");
    publish(&mut c, 1, 1, 2, "b");
    publish(&mut c, 0, 1, 3, "c");
    let want = vec![
        (1, "a".to_owned()),
        (2, "b".to_owned()),
        (3, "c".to_owned()),
    ];
    for node in 0..2 {
        let all = c.take(node, 1);
        let events: Vec<Value> = all.iter().filter(|v| v["k"] == "event").cloned().collect();
        assert_eq!(seqs(&events), want, "node {node}");
        let acks = all.iter().filter(|v| v["k"] == "ack").count();
        assert_eq!(acks, [2, 1][node], "node {node}");
    }
}

#[test]
fn a_client_resumes_on_the_other_node_with_nothing_lost_or_repeated() {
    let mut c = Cluster::new(2);
    c.connect(0, 1);
    c.connect(1, 1);
    c.send(0, 1, r#"{"v":1,"k":"join","id":1,"room":"r"}"#);
    c.send(1, 1, r#"{"v":1,"k":"join","id":1,"room":"r"}"#);
    publish(&mut c, 1, 1, 2, "a");
    c.take(0, 1);
    // Node 0's client drops (its position: seq 1) while node 1 publishes on.
    c.nodes[0].handle_closed(c.now, 1, None);
    c.run();
    publish(&mut c, 1, 1, 3, "b");
    publish(&mut c, 1, 1, 4, "c");
    c.connect(1, 2);
    c.take(1, 2);
    c.send(
        1,
        2,
        &format!(r#"{{"v":1,"k":"resume","id":5,"room":"r","epoch":{EPOCH},"seq":1}}"#),
    );
    let out = c.take(1, 2);
    assert_eq!(out[0]["k"], "joined");
    assert_eq!(out[0]["recovered"], true);
    assert_eq!(out[0]["seq"], 1);
    let events: Vec<Value> = out.iter().filter(|v| v["k"] == "event").cloned().collect();
    assert_eq!(seqs(&events), [(2, "b".into()), (3, "c".into())]);

    // Past the broker's history (3 messages), the resume says so and replays what is left.
    for (i, t) in ["d", "e", "f", "g"].iter().enumerate() {
        publish(&mut c, 1, 1, 10 + i as u64, t);
    }
    c.connect(1, 3);
    c.take(1, 3);
    c.send(
        1,
        3,
        &format!(r#"{{"v":1,"k":"resume","id":5,"room":"r","epoch":{EPOCH},"seq":2}}"#),
    );
    let out = c.take(1, 3);
    assert_eq!(out[0]["recovered"], false);
    assert_eq!(
        out[0]["seq"], 4,
        "the position before the oldest retained message"
    );
    let events: Vec<Value> = out.iter().filter(|v| v["k"] == "event").cloned().collect();
    assert_eq!(
        seqs(&events),
        [(5, "e".into()), (6, "f".into()), (7, "g".into())]
    );
}

#[test]
fn a_departure_is_announced_once_the_user_is_gone_from_every_node() {
    let mut c = Cluster::new(2);
    c.connect(0, 1);
    c.connect(1, 1);
    c.send(0, 1, r#"{"v":1,"k":"join","id":1,"room":"r"}"#);
    c.send(1, 1, r#"{"v":1,"k":"join","id":1,"room":"r"}"#);
    c.take(0, 1);
    c.send(1, 1, r#"{"v":1,"k":"leave","id":2,"room":"r"}"#);
    let diff = c.of_kind(0, 1, "presence");
    assert_eq!(diff.len(), 1);
    assert_eq!(diff[0]["left"][0]["user"], "conn-n1-1");
}

#[test]
fn a_node_that_missed_messages_sends_its_clients_to_resume() {
    let mut c = Cluster::new(1);
    c.connect(0, 1);
    c.send(0, 1, r#"{"v":1,"k":"join","id":1,"room":"r"}"#);
    publish(&mut c, 0, 1, 2, "a");
    c.take(0, 1);
    // Seq 2 never reached this node (its subscription dropped it); 3 arrives.
    let data = tandem_proto::encode_payload(&serde_json::json!({"t": "c"})).unwrap();
    let (head, tail) = encode_event_around_seq("r", None, &data);
    let now = c.now;
    c.nodes[0].handle_remote_event(now, "r", EPOCH, 3, Bytes::from(format!("{head}3{tail}")));
    c.run();
    let out = c.take(0, 1);
    assert_eq!(out.len(), 1, "no event past the gap: {out:?}");
    assert_eq!(out[0]["k"], "close");
    assert_eq!(out[0]["code"], 1013);
}

#[test]
fn a_publish_the_broker_cannot_take_is_an_error_not_an_ack() {
    let mut c = Cluster::new(1);
    c.connect(0, 1);
    c.send(0, 1, r#"{"v":1,"k":"join","id":1,"room":"r"}"#);
    c.take(0, 1);
    c.broker.down = true;
    publish(&mut c, 0, 1, 2, "a");
    let out = c.take(0, 1);
    assert_eq!(out.len(), 1);
    assert_eq!(out[0]["k"], "error");
    assert_eq!(out[0]["code"], "unavailable");
    assert_eq!(out[0]["id"], 2);
}
