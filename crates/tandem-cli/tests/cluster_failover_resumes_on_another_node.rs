//! Node 1 of two is killed: its client moves to node 2 (its fallback URL) and resumes with
//! nothing lost and nothing twice, while node 2's publisher never stops; a member only node
//! 1 had leaves presence on node 2 once node 1's liveness runs out.

#![allow(clippy::unwrap_used)]

mod support;

use support::redis::{RedisProcess, node};
use support::{Chat, chat_client, cluster_client, messages, rejoined, wait_for, wait_state};
use tandem_client::{ConnectionState, Event};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_of_a_dead_node_resumes_on_the_other_with_no_loss_or_duplicate() {
    let redis = RedisProcess::start().await;
    let flags = ["--presence-timeout", "1s"];
    let mut one = node(&redis, &flags).await;
    let two = node(&redis, &flags).await;
    let alice = cluster_client(&[one.url(), two.url()], "alice").await;
    let carol = chat_client(&one.url(), "carol").await;
    let bob = chat_client(&two.url(), "bob").await;
    let mut alice_events = alice.events();
    let mut bob_events = bob.events();
    for c in [&alice, &carol, &bob] {
        c.join("room").await.unwrap();
    }
    for n in 0..5 {
        bob.publish("room", &Chat::new(n)).await.unwrap();
    }
    let before = messages(&mut alice_events, "room", 5).await;

    one.kill().await;
    // Bob keeps publishing while alice is away and moving over.
    let publishing = tokio::spawn(async move {
        for n in 5..40 {
            bob.publish("room", &Chat::new(n)).await.unwrap();
        }
        bob
    });
    wait_state(&mut alice_events, "alice reconnecting", |s| {
        matches!(s, ConnectionState::Reconnecting { .. })
    })
    .await;
    let recovered = rejoined(&mut alice_events, "alice's resume on node 2").await;
    assert_eq!(
        recovered,
        Some(true),
        "node 2 has the room's history from Redis"
    );
    let bob = publishing.await.unwrap();
    let after = messages(&mut alice_events, "room", 35).await;
    let all: Vec<(u64, u32)> = before
        .iter()
        .chain(after.iter())
        .map(|(s, m)| (*s, m.n))
        .collect();
    let want: Vec<(u64, u32)> = (0..40).map(|n| (u64::from(n) + 1, n)).collect();
    assert_eq!(all, want, "every message once, in order, across the move");

    // Carol was only on node 1: she leaves once node 1's liveness (1 s) runs out.
    let left = wait_for(&mut bob_events, "carol to leave", |e| match e {
        Event::Presence { left, .. } => left.iter().any(|m| m.user == "carol").then_some(left),
        _ => None,
    })
    .await;
    assert!(
        left.iter().all(|m| m.user != "alice"),
        "alice is still here, on node 2"
    );
    drop((bob, carol, alice));
}
