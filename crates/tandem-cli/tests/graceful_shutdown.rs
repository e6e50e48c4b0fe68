//! Graceful shutdown: on SIGTERM every client gets 1012 (or 1001 when asked) with a retry
//! hint, the process exits cleanly, and clients reconnect once a server is back.

#![allow(clippy::unwrap_used)]

mod support;

use support::raw;
use support::{Chat, TandemProcess, chat_client, messages, token, wait_for, wait_state};
use tandem_client::{ConnectionState, Event};
use tandem_server::Server;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_sends_1012_and_clients_come_back() {
    let mut server = TandemProcess::start(&["--shutdown-hint", "100ms"]).await;
    let alice = chat_client(&server.url(), "alice").await;
    let mut events = alice.events();
    alice.join("room").await.unwrap();
    let mut watcher = raw::welcomed(server.addr(), &token("watcher")).await;

    assert!(server.terminate().await, "clean exit on SIGTERM");
    let (code, _) = raw::until_closed(&mut watcher).await;
    assert_eq!(code, Some(1012));
    wait_state(&mut events, "alice reconnecting", |s| {
        matches!(s, ConnectionState::Reconnecting { .. })
    })
    .await;

    server.restart().await;
    wait_state(&mut events, "alice open again", |s| {
        *s == ConnectionState::Open
    })
    .await;
    let recovered = wait_for(&mut events, "the rejoin", |e| match e {
        Event::Joined { recovered, .. } => Some(recovered),
        _ => None,
    })
    .await;
    assert_eq!(recovered, Some(false));
    let bob = chat_client(&server.url(), "bob").await;
    bob.join("room").await.unwrap();
    bob.publish("room", &Chat::new(7)).await.unwrap();
    assert_eq!(messages(&mut events, "room", 1).await[0].1.n, 7);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn library_shutdown_with_1001_carries_the_retry_hint() {
    let running = Server::builder().build().bind("127.0.0.1:0").await.unwrap();
    let addr = running.local_addr();
    let mut ws = raw::open(addr, "tandem.v1.json", None).await.unwrap();
    raw::send(
        &mut ws,
        r#"{"v":1,"k":"hello","app":{"name":"default","versions":[1]}}"#,
    )
    .await;
    assert_eq!(raw::recv(&mut ws).await["k"], "welcome");
    let closing = tokio::spawn(async move {
        use futures_util::StreamExt;
        loop {
            match ws.next().await {
                Some(Ok(tokio_tungstenite::tungstenite::Message::Close(f))) => return f,
                Some(Ok(_)) => continue,
                _ => return None,
            }
        }
    });
    running.shutdown(1001).await;
    let frame = support::within("the close frame", closing)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(u16::from(frame.code), 1001);
    assert!(frame.reason.contains("retry-after="), "{}", frame.reason);
    // Nothing listens any more.
    assert!(tokio::net::TcpStream::connect(addr).await.is_err());
}
