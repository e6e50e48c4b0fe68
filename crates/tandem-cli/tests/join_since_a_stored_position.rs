//! An app that stored its room position (a reloaded page, a restarted app) joins from it
//! on a brand-new client and gets exactly what it missed; a client knows its own user.

#![allow(clippy::unwrap_used)]

mod support;

use support::{Chat, TandemProcess, chat_client, messages};
use tandem_client::JoinOptions;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_new_client_joining_since_a_stored_position_gets_what_it_missed() {
    let server = TandemProcess::start(&[]).await;
    let alice = chat_client(&server.url(), "alice").await;
    alice.join("room").await.unwrap();
    let bob = chat_client(&server.url(), "bob").await;
    assert_eq!(
        bob.user().as_deref(),
        Some("bob"),
        "who the server says bob is"
    );
    assert!(bob.session().is_some());
    let mut bob_events = bob.events();
    let joined = bob.join("room").await.unwrap();
    for n in 0..5 {
        alice.publish("room", &Chat::new(n)).await.unwrap();
    }
    let seen = messages(&mut bob_events, "room", 5).await;
    let stored = (joined.epoch, seen.last().unwrap().0);
    bob.close().await;
    drop((bob, bob_events));
    for n in 5..8 {
        alice.publish("room", &Chat::new(n)).await.unwrap();
    }

    let again = chat_client(&server.url(), "bob").await;
    let mut events = again.events();
    let options = JoinOptions::new().since(stored.0, stored.1);
    let joined = again.join_with("room", options).await.unwrap();
    assert_eq!(joined.recovered, Some(true));
    let got = messages(&mut events, "room", 3).await;
    let ns: Vec<u32> = got.iter().map(|(_, c)| c.n).collect();
    assert_eq!(ns, [5, 6, 7], "exactly what it missed, once");
}
