//! The native client against a real `tandem-server` for issue 23: a session whose tokens
//! live three seconds at most outlives several of them on one connection (the server's `refresh`
//! answered from the `token_provider`), members show the token's `info`, an operator's
//! unsubscribe reaches the client and is not undone by a reconnect, and an operator's
//! message to the user arrives as `Event::ServerMessage`. Every wait is on an event.

#![cfg(not(target_arch = "wasm32"))]
#![allow(clippy::unwrap_used)]

use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

use core::time::Duration;

use serde_json::{Value, json};
use tandem_client::{Client, Config, ConnectionState, Event, Member};
use tandem_server::{Authenticated, Claims, Server};
use tokio::sync::mpsc;

async fn within<T>(what: &str, fut: impl Future<Output = T>) -> T {
    tokio::time::timeout(Duration::from_secs(15), fut)
        .await
        .unwrap_or_else(|_| panic!("timed out waiting for {what}"))
}

fn unix_now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs()
}

/// A server that admits any token as alice, for two to three seconds (`exp` is in whole
/// seconds), with presence `info`.
async fn short_tokens_server() -> tandem_server::Running {
    let server = Server::builder()
        .authenticate_with(|token| async move {
            let token = token.ok_or(tandem_server::AuthError::Missing)?;
            let claims = Claims {
                sub: "alice".into(),
                exp: unix_now() + 3,
                nbf: None,
                iat: None,
                iss: None,
                aud: Vec::new(),
                rooms: None,
                info: Some(json!({ "name": "Alice", "token": token })),
            };
            Ok(Authenticated::from(claims))
        })
        // Deadlines checked every 100 ms: a refresh goes out on time for a short token.
        .configure(|c| c.sweep_interval = Duration::from_millis(100))
        .build();
    server.bind("127.0.0.1:0").await.unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_session_outlives_its_tokens_and_an_operators_actions_reach_it() {
    let running = short_tokens_server().await;
    let handle = running.handle();
    let url = format!("ws://{}", running.local_addr());
    let issued = Arc::new(AtomicU32::new(0));
    let (fetched, mut fetches) = mpsc::unbounded_channel();
    let config = Config::new().token_provider({
        let issued = issued.clone();
        move || {
            let n = issued.fetch_add(1, Ordering::SeqCst) + 1;
            let _ = fetched.send(n);
            async move { Ok(format!("t{n}")) }
        }
    });
    let client: Client<Value> = within("connect", Client::connect(&url, config))
        .await
        .unwrap();
    let mut events = client.events();
    let session = client.session();
    client.join("a").await.unwrap();
    let joined = client.join("b").await.unwrap();
    let info: Value = serde_json::from_str(joined.members[0].info.as_ref().unwrap().get()).unwrap();
    assert_eq!(info["name"], "Alice", "members show the token's info");

    // Two fresh tokens later (each lived two to three seconds): the same connection.
    within("two refreshes", async {
        while fetches.recv().await.unwrap() < 3 {}
    })
    .await;
    assert_eq!(client.session(), session, "no reconnect");
    assert_eq!(client.state(), ConnectionState::Open);

    // An operator takes alice out of room a, and writes to her.
    handle.unsubscribe("alice", "a").await.unwrap();
    handle
        .send_to_user("alice", &json!({ "notice": "maintenance" }))
        .await
        .unwrap();
    let (mut unsubscribed, mut message) = (None, None);
    within("the operator's actions", async {
        while unsubscribed.is_none() || message.is_none() {
            match events.next().await.unwrap() {
                Event::Unsubscribed { room, .. } => unsubscribed = Some(room),
                Event::ServerMessage { data } => message = Some(data.unwrap()),
                Event::State(s @ ConnectionState::Reconnecting { .. }) => panic!("{s:?}"),
                _ => {}
            }
        }
    })
    .await;
    assert_eq!(unsubscribed.as_deref(), Some("a"));
    assert_eq!(message, Some(json!({ "notice": "maintenance" })));
    assert_eq!(client.session(), session, "still the first connection");

    // After a reconnect the client is back in b, not in a.
    client.drop_connection();
    within("the rejoin of b", async {
        loop {
            if let Some(Event::Joined { room, .. }) = events.next().await {
                assert_eq!(room, "b", "only b is rejoined");
                return;
            }
        }
    })
    .await;
    let members = |list: Vec<Member>| -> Vec<String> { list.into_iter().map(|m| m.user).collect() };
    assert_eq!(members(handle.members("b").await.unwrap()), vec!["alice"]);
    assert!(members(handle.members("a").await.unwrap()).is_empty());
    client.close().await;
}
