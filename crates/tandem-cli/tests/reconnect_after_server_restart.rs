//! The server process is killed and started again: clients reconnect, and since the
//! in-memory history is gone they report `recovered: false` honestly.

#![allow(clippy::unwrap_used)]

mod support;

use support::{Chat, TandemProcess, chat_client, messages, wait_for, wait_state};
use tandem_client::{ConnectionState, Event};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn restarted_server_is_reported_as_not_recovered() {
    let mut server = TandemProcess::start(&[]).await;
    let alice = chat_client(&server.url(), "alice").await;
    let bob = chat_client(&server.url(), "bob").await;
    let mut alice_events = alice.events();
    let mut bob_events = bob.events();
    alice.join("room").await.unwrap();
    bob.join("room").await.unwrap();
    alice.publish("room", &Chat::new(1)).await.unwrap();
    messages(&mut bob_events, "room", 1).await;

    server.kill().await;
    for events in [&mut alice_events, &mut bob_events] {
        wait_state(events, "reconnecting", |s| {
            matches!(s, ConnectionState::Reconnecting { .. })
        })
        .await;
    }
    server.restart().await;

    for events in [&mut alice_events, &mut bob_events] {
        wait_state(events, "open again", |s| *s == ConnectionState::Open).await;
        let recovered = wait_for(events, "the rejoin", |e| match e {
            Event::Joined { recovered, .. } => Some(recovered),
            _ => None,
        })
        .await;
        assert_eq!(recovered, Some(false), "history died with the process");
    }
    // The room works again on the new server.
    alice.publish("room", &Chat::new(2)).await.unwrap();
    let got = messages(&mut bob_events, "room", 1).await;
    assert_eq!(got[0].1.n, 2);
}
