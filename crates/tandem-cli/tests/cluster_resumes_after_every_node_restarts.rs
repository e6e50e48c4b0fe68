//! Every node of the cluster is killed and started again: the history lives in Redis, so a
//! client resumes from its last sequence with `recovered: true` while that is retained, and
//! with `recovered: false` (and what is retained) once it is past the history window.

#![allow(clippy::unwrap_used)]

mod support;

use support::raw::{recv, send, welcomed};
use support::redis::{RedisProcess, node};
use support::{Chat, cluster_client, messages, rejoined, token, wait_state};
use tandem_client::ConnectionState;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn resume_after_restarting_every_node_recovers_within_the_window_only() {
    let redis = RedisProcess::start().await;
    let flags = ["--history-len", "5"];
    let mut one = node(&redis, &flags).await;
    let mut two = node(&redis, &flags).await;
    let alice = cluster_client(&[one.url(), two.url()], "alice").await;
    let bob = cluster_client(&[two.url(), one.url()], "bob").await;
    let mut alice_events = alice.events();
    let mut bob_events = bob.events();
    alice.join("room").await.unwrap();
    bob.join("room").await.unwrap();
    for n in 1..=3 {
        bob.publish("room", &Chat::new(n)).await.unwrap();
    }
    assert_eq!(messages(&mut alice_events, "room", 3).await[2].0, 3);

    one.kill().await;
    two.kill().await;
    // Once bob's client has seen its connection go (before, a publish could still leave
    // on the dying socket and fail with `ConnectionLost`, as an op in flight does).
    wait_state(&mut bob_events, "bob reconnecting", |s| {
        matches!(s, ConnectionState::Reconnecting { .. })
    })
    .await;
    // Sent while no node runs: held in bob's offline queue.
    let held = tokio::spawn(async move {
        let four = bob.publish("room", &Chat::new(4)).await.unwrap();
        let five = bob.publish("room", &Chat::new(5)).await.unwrap();
        (bob, four, five)
    });
    one.restart().await;
    two.restart().await;
    let recovered = rejoined(&mut alice_events, "alice's resume").await;
    assert_eq!(
        recovered,
        Some(true),
        "resumed from seq 3 on restarted nodes"
    );
    let (bob, four, five) = held.await.unwrap();
    assert_eq!((four, five), (4, 5));
    let got: Vec<(u64, u32)> = messages(&mut alice_events, "room", 2)
        .await
        .into_iter()
        .map(|(s, m)| (s, m.n))
        .collect();
    assert_eq!(
        got,
        [(4, 4), (5, 5)],
        "nothing lost or repeated across the restart"
    );

    // Past the window: 6 more messages, 5 retained (7..=11); a client last at 3 resumes.
    for n in 6..=11 {
        bob.publish("room", &Chat::new(n)).await.unwrap();
    }
    let mut carol = welcomed(two.addr(), &token("carol")).await;
    send(&mut carol, r#"{"v":1,"k":"join","id":1,"room":"room"}"#).await;
    let joined = recv(&mut carol).await;
    let epoch = joined["epoch"].as_u64().unwrap();
    let mut late = welcomed(one.addr(), &token("carol")).await;
    let resume = format!(r#"{{"v":1,"k":"resume","id":2,"room":"room","epoch":{epoch},"seq":3}}"#);
    send(&mut late, &resume).await;
    let joined = recv(&mut late).await;
    assert_eq!(joined["k"], "joined", "{joined}");
    assert_eq!(joined["recovered"], false, "4..=6 aged out of the window");
    assert_eq!(
        joined["seq"], 6,
        "the position before the oldest retained message"
    );
    let mut replayed = Vec::new();
    for _ in 0..5 {
        let e = recv(&mut late).await;
        assert_eq!(e["k"], "event", "{e}");
        replayed.push(e["seq"].as_u64().unwrap());
    }
    assert_eq!(
        replayed,
        [7, 8, 9, 10, 11],
        "what is retained still follows"
    );
    drop((alice, bob));
}
