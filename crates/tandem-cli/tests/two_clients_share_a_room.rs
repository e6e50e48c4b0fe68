//! `tandem serve` as a process: two native clients in one room see each other's messages
//! in order and each other's presence (snapshot, then diffs); one user with two connections
//! is one presence member.

#![allow(clippy::unwrap_used)]

mod support;

use std::collections::BTreeSet;

use support::{Chat, TandemProcess, chat_client, messages, wait_for};
use tandem_client::{Event, JoinOptions, Member};

fn users(members: &[Member]) -> BTreeSet<String> {
    members.iter().map(|m| m.user.clone()).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_clients_see_messages_in_order_and_presence() {
    let server = TandemProcess::start(&[]).await;
    let alice = chat_client(&server.url(), "alice").await;
    let bob = chat_client(&server.url(), "bob").await;
    let mut alice_events = alice.events();
    let mut bob_events = bob.events();

    let joined = alice
        .join_with("room", JoinOptions::new().meta(&"🦊").unwrap())
        .await
        .unwrap();
    assert_eq!(users(&joined.members), BTreeSet::from(["alice".into()]));
    let joined = bob.join("room").await.unwrap();
    assert_eq!(
        users(&joined.members),
        BTreeSet::from(["alice".into(), "bob".into()]),
        "bob's snapshot has both"
    );
    let alice_meta = joined.members.iter().find(|m| m.user == "alice").unwrap();
    assert_eq!(alice_meta.meta.as_ref().unwrap().get(), "\"🦊\"");
    let arrived = wait_for(&mut alice_events, "bob's arrival", |e| match e {
        Event::Presence { joined, .. } => Some(users(&joined)),
        _ => None,
    })
    .await;
    assert_eq!(arrived, BTreeSet::from(["bob".into()]));

    // Both publish; each sees everything in one order.
    for n in 0..20 {
        let who = if n % 2 == 0 { &alice } else { &bob };
        who.publish("room", &Chat::new(n)).await.unwrap();
    }
    let at_alice = messages(&mut alice_events, "room", 20).await;
    let at_bob = messages(&mut bob_events, "room", 20).await;
    assert_eq!(at_alice, at_bob, "one order for everyone");
    let ns: Vec<u32> = at_bob.iter().map(|(_, c)| c.n).collect();
    assert_eq!(ns, (0..20).collect::<Vec<_>>());
    assert!(
        at_bob.windows(2).all(|w| w[1].0 == w[0].0 + 1),
        "consecutive seqs"
    );

    // A second connection of alice is not a second member.
    let alice2 = chat_client(&server.url(), "alice").await;
    let joined = alice2.join("room").await.unwrap();
    assert_eq!(
        users(&joined.members),
        BTreeSet::from(["alice".into(), "bob".into()])
    );
    // Alice's first connection leaves; she is still present through the second. The
    // server acknowledged the leave before alice2 publishes, so any presence change would
    // reach bob before that message.
    alice.leave("room").await.unwrap();
    alice2.publish("room", &Chat::new(99)).await.unwrap();
    let between = wait_for(&mut bob_events, "alice2's message", |e| match e {
        Event::Presence { joined, left, .. } => Some(Err((users(&joined), users(&left)))),
        Event::Message { data, .. } if data.n == 99 => Some(Ok(())),
        _ => None,
    })
    .await;
    assert_eq!(
        between,
        Ok(()),
        "no presence change while alice has a connection"
    );
    // Her last connection leaves: now she is gone.
    alice2.leave("room").await.unwrap();
    let diff = wait_for(&mut bob_events, "alice's departure", |e| match e {
        Event::Presence { joined, left, .. } => Some((users(&joined), users(&left))),
        _ => None,
    })
    .await;
    assert_eq!(diff, (BTreeSet::new(), BTreeSet::from(["alice".into()])));
    assert!(server.healthy().await);
}
