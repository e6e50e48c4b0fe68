//! Two `tandem serve` nodes sharing a real Redis: a client on each, in one room, see every
//! message once and in one order, and presence shows both.

#![allow(clippy::unwrap_used)]

mod support;

use support::redis::{RedisProcess, node};
use support::{Chat, chat_client, messages, within};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn clients_on_two_nodes_see_one_order_and_each_other() {
    let redis = RedisProcess::start().await;
    let one = node(&redis, &[]).await;
    let two = node(&redis, &[]).await;
    let alice = chat_client(&one.url(), "alice").await;
    let bob = chat_client(&two.url(), "bob").await;
    let mut alice_events = alice.events();
    let mut bob_events = bob.events();
    alice.join("room").await.unwrap();
    let joined = bob.join("room").await.unwrap();
    let mut members: Vec<String> = joined.members.iter().map(|m| m.user.clone()).collect();
    members.sort();
    assert_eq!(members, ["alice", "bob"], "bob's snapshot spans both nodes");
    support::wait_for(&mut alice_events, "bob's arrival on node 2", |e| match e {
        tandem_client::Event::Presence { joined, .. } => {
            joined.iter().any(|m| m.user == "bob").then_some(())
        }
        _ => None,
    })
    .await;

    // Both publish at once, 25 each: the cluster numbers all 50 in one order.
    let (a, b) = tokio::join!(
        async {
            for n in 0..25 {
                alice.publish("room", &Chat::new(n)).await.unwrap();
            }
        },
        async {
            for n in 100..125 {
                bob.publish("room", &Chat::new(n)).await.unwrap();
            }
        }
    );
    let ((), ()) = (a, b);
    let at_alice = within("alice's 50", messages(&mut alice_events, "room", 50)).await;
    let at_bob = within("bob's 50", messages(&mut bob_events, "room", 50)).await;
    assert_eq!(at_alice, at_bob, "one order on both nodes");
    let seqs: Vec<u64> = at_alice.iter().map(|(s, _)| *s).collect();
    assert_eq!(seqs, (1..=50).collect::<Vec<_>>(), "numbered once, no gap");
    let mut ns: Vec<u32> = at_alice.iter().map(|(_, m)| m.n).collect();
    let alice_order: Vec<u32> = ns.iter().copied().filter(|n| *n < 100).collect();
    assert_eq!(
        alice_order,
        (0..25).collect::<Vec<_>>(),
        "each publisher's order kept"
    );
    ns.sort();
    ns.dedup();
    assert_eq!(ns.len(), 50, "every message exactly once");
}
