//! With the default history (2 minutes within 1 MiB per room), a client away for what a
//! 30 s outage of a 100 msg/s room holds (3,000 messages) resumes on another node of the
//! cluster with everything: Redis keeps it, and the resume fetches only what it missed.

#![allow(clippy::unwrap_used)]

mod support;

use support::proxy::Proxy;
use support::redis::{RedisProcess, node};
use support::{Chat, chat_client, rejoined, token, wait_state, within};
use tandem_client::{Client, Config, ConnectionState, Event};

const MISSED: u32 = 3_000;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_resume_after_3000_messages_on_another_node_is_recovered_with_the_defaults() {
    let redis = RedisProcess::start().await;
    // Only the rate is raised, so the test publishes 30 s of messages in a few.
    let flags = ["--rate", "100000", "--burst", "100000"];
    let mut one = node(&redis, &flags).await;
    let two = node(&redis, &flags).await;
    let proxy = Proxy::start(two.addr()).await;
    let config = Config::new()
        .token(token("alice"))
        .seed(11)
        .fallback_urls([proxy.url()]);
    let alice: Client<Chat> = within("alice connects", Client::connect(&one.url(), config))
        .await
        .unwrap();
    let bob = chat_client(&two.url(), "bob").await;
    let mut alice_events = alice.events();
    alice.join("room").await.unwrap();
    bob.join("room").await.unwrap();

    // Node 1 dies; node 2 is out of alice's reach while bob publishes.
    proxy.block(true);
    one.kill().await;
    wait_state(&mut alice_events, "alice reconnecting", |s| {
        matches!(s, ConnectionState::Reconnecting { .. })
    })
    .await;
    for n in 0..MISSED {
        bob.publish("room", &Chat::new(n)).await.unwrap();
    }
    proxy.block(false);

    assert_eq!(
        rejoined(&mut alice_events, "alice's resume on node 2").await,
        Some(true)
    );
    let mut got = Vec::with_capacity(MISSED as usize);
    while got.len() < MISSED as usize {
        let event = support::wait_for(&mut alice_events, "the replay", Some).await;
        match event {
            Event::Message { seq, data, .. } => got.push((seq, data.n)),
            Event::Joined { recovered, .. } => panic!("a second resume ({recovered:?})"),
            _ => {}
        }
    }
    let want: Vec<(u64, u32)> = (0..MISSED).map(|n| (u64::from(n) + 1, n)).collect();
    assert_eq!(got, want, "every message once, in order");
}
