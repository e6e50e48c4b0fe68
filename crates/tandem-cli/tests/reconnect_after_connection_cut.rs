//! A connection cut mid-stream (by a TCP proxy): the client backs off, reconnects and
//! resumes; what was published meanwhile arrives exactly once, in order, and what it
//! published while offline is delivered once.

#![allow(clippy::unwrap_used)]

mod support;

use std::time::Duration;

use support::proxy::Proxy;
use support::{Chat, TandemProcess, messages, token, wait_for, wait_state, within};
use tandem_client::{Client, Config, ConnectionState, Event};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cut_connection_resumes_without_loss_or_duplicate() {
    let server = TandemProcess::start(&[]).await;
    let proxy = Proxy::start(server.addr()).await;
    let alice = support::chat_client(&server.url(), "alice").await;
    let bob: Client<Chat> = within(
        "bob connects through the proxy",
        Client::connect(&proxy.url(), Config::new().token(token("bob")).seed(3)),
    )
    .await
    .unwrap();
    let mut bob_events = bob.events();
    let mut alice_events = alice.events();
    alice.join("room").await.unwrap();
    bob.join("room").await.unwrap();

    // A slow network first: delayed, but nothing lost or reordered.
    proxy.delay(Duration::from_millis(20));
    for n in 0..5 {
        alice.publish("room", &Chat::new(n)).await.unwrap();
    }
    let got = messages(&mut bob_events, "room", 5).await;
    assert_eq!(
        got.iter().map(|(_, c)| c.n).collect::<Vec<_>>(),
        [0, 1, 2, 3, 4]
    );
    proxy.delay(Duration::ZERO);

    // Cut, and keep bob out while alice publishes.
    proxy.block(true);
    proxy.cut();
    let state = wait_state(&mut bob_events, "bob reconnecting", |s| {
        matches!(s, ConnectionState::Reconnecting { .. })
    })
    .await;
    let ConnectionState::Reconnecting { attempt, delay } = state else {
        unreachable!()
    };
    assert_eq!(attempt, 1, "the first retry after a drop");
    assert!(
        delay.is_some_and(|d| d <= Duration::from_millis(250)),
        "first retry is fast"
    );
    for n in 5..15 {
        alice.publish("room", &Chat::new(n)).await.unwrap();
    }
    // Bob publishes while offline: it waits in his queue.
    let offline = {
        let bob = bob.clone();
        tokio::spawn(async move { bob.publish("room", &Chat::new(100)).await })
    };
    // A few failed attempts pass (each is refused by the blocked proxy).
    wait_state(
        &mut bob_events,
        "a second reconnect attempt",
        |s| matches!(s, ConnectionState::Reconnecting { attempt, .. } if *attempt >= 2),
    )
    .await;
    proxy.block(false);

    let recovered = wait_for(&mut bob_events, "bob's resume", |e| match e {
        Event::Joined { recovered, .. } => Some(recovered),
        _ => None,
    })
    .await;
    assert_eq!(recovered, Some(true));
    let got = messages(&mut bob_events, "room", 11).await;
    let ns: Vec<u32> = got.iter().map(|(_, c)| c.n).collect();
    assert_eq!(
        ns,
        [5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 100],
        "each once, in order"
    );
    within("bob's offline publish", offline)
        .await
        .unwrap()
        .unwrap();
    // Alice saw bob's message exactly once too.
    let at_alice = messages(&mut alice_events, "room", 16).await;
    assert_eq!(at_alice.iter().filter(|(_, c)| c.n == 100).count(), 1);
    assert_eq!(at_alice.last().unwrap().1.n, 100);
}
