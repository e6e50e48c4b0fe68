//! A client far behind resumes in one go: the replay of 1,000 missed messages passes an
//! outbound queue limit of 150 (it is bounded by the room's history and shares its bytes),
//! instead of being cut into a loop of 1013 closes that never catches up.

#![allow(clippy::unwrap_used)]

mod support;

use support::proxy::Proxy;
use support::{Chat, TandemProcess, token, wait_for, wait_state, within};
use tandem_client::{Client, Config, ConnectionState, Event};

const MISSED: u32 = 1_000;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_replay_larger_than_the_outbound_queue_arrives_whole_and_once() {
    let server = TandemProcess::start(&[
        "--outbound-queue",
        "150",
        "--rate",
        "100000",
        "--burst",
        "100000",
    ])
    .await;
    let proxy = Proxy::start(server.addr()).await;
    let alice = support::chat_client(&server.url(), "alice").await;
    let bob: Client<Chat> = within(
        "bob connects through the proxy",
        Client::connect(&proxy.url(), Config::new().token(token("bob")).seed(5)),
    )
    .await
    .unwrap();
    let mut bob_events = bob.events();
    alice.join("room").await.unwrap();
    bob.join("room").await.unwrap();

    proxy.block(true);
    proxy.cut();
    wait_state(&mut bob_events, "bob reconnecting", |s| {
        matches!(s, ConnectionState::Reconnecting { .. })
    })
    .await;
    for n in 0..MISSED {
        alice.publish("room", &Chat::new(n)).await.unwrap();
    }
    proxy.block(false);

    // Everything bob hears from here: one resume, the replay, and no close in between.
    let mut rejoins = Vec::new();
    let mut got = Vec::new();
    let mut closes = 0;
    while got.len() < MISSED as usize {
        let event = wait_for(&mut bob_events, "bob's resume and replay", Some).await;
        match event {
            Event::Joined { recovered, .. } => rejoins.push(recovered),
            Event::Message { seq, data, .. } => got.push((seq, data.n)),
            // (Attempts refused while the proxy blocked come before the resume.)
            Event::State(ConnectionState::Reconnecting { .. }) if !rejoins.is_empty() => {
                closes += 1
            }
            _ => {}
        }
    }
    assert_eq!(rejoins, [Some(true)], "one resume, recovered");
    assert_eq!(closes, 0, "no 1013 loop: the replay passed the queue limit");
    let ns: Vec<u32> = got.iter().map(|(_, n)| *n).collect();
    assert_eq!(ns, (0..MISSED).collect::<Vec<_>>(), "each once, in order");
    assert!(got.windows(2).all(|w| w[1].0 == w[0].0 + 1), "no seq jump");
}
