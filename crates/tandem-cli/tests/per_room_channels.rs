//! Per-room channels through real `tandem serve` processes on a real Redis: a node is
//! subscribed to a room's channel exactly while it has members there, and a member that
//! joins on one node while another node publishes without pause sees every message once,
//! in order, with nothing lost between its node's subscription and its snapshot.

#![allow(clippy::unwrap_used)]

mod support;

use serde_json::{Value, json};
use support::raw::{self, Raw};
use support::redis::{RedisProcess, node};
use support::{token, within};
use tokio::process::Command;

/// How many nodes are subscribed to `room`'s channel (Redis `PUBSUB NUMSUB`).
async fn subscribers(redis: &RedisProcess, room: &str) -> u64 {
    let port = redis.url().rsplit(':').next().unwrap().to_owned();
    let out = Command::new("redis-cli")
        .args([
            "-p",
            &port,
            "PUBSUB",
            "NUMSUB",
            &format!("tandem:{{{room}}}"),
        ])
        .output()
        .await
        .unwrap();
    let text = String::from_utf8(out.stdout).unwrap();
    text.lines().nth(1).unwrap().trim().parse().unwrap()
}

/// Waits until `room`'s channel has `n` subscribed nodes.
async fn until_subscribers(redis: &RedisProcess, room: &str, n: u64) {
    within(&format!("{n} nodes on {room}'s channel"), async {
        while subscribers(redis, room).await != n {
            tokio::time::sleep(std::time::Duration::from_millis(20)).await;
        }
    })
    .await;
}

async fn ask(ws: &mut Raw, frame: Value) -> Value {
    raw::send(ws, &frame.to_string()).await;
    loop {
        let f = raw::recv(ws).await;
        if f["id"] == frame["id"] {
            return f;
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_node_listens_to_a_room_exactly_while_it_has_members_there() {
    let redis = RedisProcess::start().await;
    let one = node(&redis, &[]).await;
    let two = node(&redis, &[]).await;
    let mut ada = raw::welcomed(one.addr(), &token("ada")).await;
    let mut bob = raw::welcomed(two.addr(), &token("bob")).await;
    assert_eq!(subscribers(&redis, "only-one").await, 0);
    let joined = ask(&mut ada, json!({"v":1,"k":"join","id":1,"room":"only-one"})).await;
    assert_eq!(joined["k"], "joined");
    // Subscribed before `joined`: no wait here.
    assert_eq!(subscribers(&redis, "only-one").await, 1);
    let joined = ask(&mut bob, json!({"v":1,"k":"join","id":1,"room":"both"})).await;
    assert_eq!(joined["k"], "joined");
    let joined = ask(&mut ada, json!({"v":1,"k":"join","id":2,"room":"both"})).await;
    assert_eq!(joined["k"], "joined");
    assert_eq!(subscribers(&redis, "both").await, 2);
    // Node two never hears `only-one`, node one keeps hearing `both` until ada leaves it.
    let left = ask(&mut ada, json!({"v":1,"k":"leave","id":3,"room":"both"})).await;
    assert_eq!(left["k"], "left");
    until_subscribers(&redis, "both", 1).await;
    let left = ask(
        &mut ada,
        json!({"v":1,"k":"leave","id":4,"room":"only-one"}),
    )
    .await;
    assert_eq!(left["k"], "left");
    until_subscribers(&redis, "only-one", 0).await;
    // Back again: subscribed again.
    let joined = ask(&mut ada, json!({"v":1,"k":"join","id":5,"room":"only-one"})).await;
    assert_eq!(joined["k"], "joined");
    assert_eq!(subscribers(&redis, "only-one").await, 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn members_joining_during_a_stream_of_messages_see_each_once_in_order() {
    let redis = RedisProcess::start().await;
    // The writer publishes faster than a person would: no rate limit in its way.
    let one = node(&redis, &["--rate", "100000", "--burst", "100000"]).await;
    let two = node(&redis, &[]).await;
    let mut writer = raw::welcomed(one.addr(), &token("writer")).await;
    let joined = ask(
        &mut writer,
        json!({"v":1,"k":"join","id":1,"room":"stream"}),
    )
    .await;
    assert_eq!(joined["k"], "joined");
    // The writer publishes without pause while readers join on the other node, each a
    // new first member there (the room's channel is subscribed and let go every time).
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let stopped = stop.clone();
    let publishing = tokio::spawn(async move {
        // Bounded: at most 200,000 messages, and each is acked before the next, so the
        // writer never outruns its node.
        for id in 2..200_000u64 {
            if stopped.load(std::sync::atomic::Ordering::Relaxed) {
                break;
            }
            let publish = json!({"v":1,"k":"publish","id":id,"room":"stream","data":id});
            let ack = ask(&mut writer, publish).await;
            assert_eq!(ack["k"], "ack", "{ack}");
        }
        writer
    });
    for reader in 0..10 {
        let mut ws = raw::welcomed(two.addr(), &token(&format!("reader{reader}"))).await;
        let join = json!({"v":1,"k":"join","id":1,"room":"stream","history":100_000});
        raw::send(&mut ws, &join.to_string()).await;
        let mut seqs = Vec::new();
        let mut joined_at = None;
        // Read until 50 live messages past the snapshot.
        within("the reader's messages", async {
            loop {
                let f = raw::recv(&mut ws).await;
                match f["k"].as_str() {
                    Some("joined") => joined_at = f["seq"].as_u64(),
                    Some("event") => {
                        let seq = f["seq"].as_u64().unwrap();
                        seqs.push(seq);
                        let live = joined_at.map_or(0, |j| seq.saturating_sub(j));
                        if live >= 50 {
                            return;
                        }
                    }
                    _ => {}
                }
            }
        })
        .await;
        let first = seqs[0];
        assert_eq!(first, 1, "reader {reader} got the whole history");
        let expected: Vec<u64> = (1..=*seqs.last().unwrap()).collect();
        assert_eq!(
            seqs, expected,
            "reader {reader}: each message once, in order"
        );
        let left = ask(&mut ws, json!({"v":1,"k":"leave","id":2,"room":"stream"})).await;
        assert_eq!(left["k"], "left");
    }
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    let _ = within("the writer", publishing).await.unwrap();
}
