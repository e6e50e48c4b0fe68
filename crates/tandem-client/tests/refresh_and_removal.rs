//! The native client's part of issue 23, against a scripted WebSocket server (the frames
//! are exactly the ones written here): the server's `refresh` is answered from the
//! `token_provider` in a `token` frame, on the same connection; a refused fresh token is
//! an `Event::Error`; a `message` is an `Event::ServerMessage` typed as the application's
//! message; `unsubscribed` is an `Event::Unsubscribed` and the room is gone; members
//! carry the issuer's `info`.

#![cfg(not(target_arch = "wasm32"))]
#![allow(clippy::unwrap_used)]

use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};

use core::time::Duration;

use futures_util::{SinkExt, StreamExt};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use tandem_client::{Client, Config, ErrorCode, Event, OpError};
use tokio::net::{TcpListener, TcpStream};
use tokio_tungstenite::WebSocketStream;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::handshake::server::{Request, Response};

#[derive(Debug, Serialize, Deserialize, PartialEq)]
struct Notice {
    notice: String,
}

async fn within<T>(what: &str, fut: impl Future<Output = T>) -> T {
    tokio::time::timeout(Duration::from_secs(15), fut)
        .await
        .unwrap_or_else(|_| panic!("timed out waiting for {what}"))
}

/// The server's side of one connection.
struct Peer(WebSocketStream<TcpStream>);

impl Peer {
    async fn accept(listener: &TcpListener) -> Peer {
        let (tcp, _) = listener.accept().await.unwrap();
        // The handshake callback's error type is tungstenite's, large as it is.
        #[allow(clippy::result_large_err)]
        let select = |_: &Request, mut response: Response| {
            response
                .headers_mut()
                .insert("sec-websocket-protocol", "tandem.v1.json".parse().unwrap());
            Ok(response)
        };
        Peer(
            tokio_tungstenite::accept_hdr_async(tcp, select)
                .await
                .unwrap(),
        )
    }

    async fn send(&mut self, frame: Value) {
        self.0.send(Message::text(frame.to_string())).await.unwrap();
    }

    /// The next frame of `kind` from the client (pings are answered, others skipped).
    async fn expect(&mut self, kind: &str) -> Value {
        loop {
            let message = self.0.next().await.unwrap().unwrap();
            let Message::Text(text) = message else {
                continue;
            };
            let frame: Value = serde_json::from_str(text.as_str()).unwrap();
            if frame["k"] == kind {
                return frame;
            }
            if frame["k"] == "ping" {
                self.send(json!({"v": 1, "k": "pong"})).await;
            }
        }
    }
}

fn welcome() -> Value {
    json!({
        "v": 1, "k": "welcome", "session": "s1", "user": "alice",
        "app": {"name": "default", "version": 1},
        "heartbeat": {"interval_ms": 25_000, "timeout_ms": 10_000},
        "limits": {"max_frame_bytes": 65_536}
    })
}

#[tokio::test]
async fn refresh_message_and_unsubscribed_reach_the_application() {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("ws://{}", listener.local_addr().unwrap());
    let issued = Arc::new(AtomicU32::new(0));
    let config = Config::new().token_provider({
        let issued = issued.clone();
        move || {
            let n = issued.fetch_add(1, Ordering::SeqCst) + 1;
            async move { Ok(format!("t{n}")) }
        }
    });

    let server = tokio::spawn(async move {
        let mut peer = Peer::accept(&listener).await;
        let hello = peer.expect("hello").await;
        assert_eq!(hello["token"], "t1");
        peer.send(welcome()).await;
        let join = peer.expect("join").await;
        peer.send(json!({
            "v": 1, "k": "joined", "id": join["id"], "room": "docs", "epoch": 1, "seq": 0,
            "presence": [{"user": "alice", "meta": {"color": "red"}, "info": {"name": "Alice"}}]
        }))
        .await;

        // The token expires soon: a fresh one comes back on this connection, and is acked.
        peer.send(json!({"v": 1, "k": "refresh", "expires_in_ms": 30_000}))
            .await;
        let token = peer.expect("token").await;
        assert_eq!(token["token"], "t2");
        peer.send(json!({"v": 1, "k": "ack", "id": token["id"]}))
            .await;

        // Another one is refused: the client reports it and stays.
        peer.send(json!({"v": 1, "k": "refresh", "expires_in_ms": 30_000}))
            .await;
        let token = peer.expect("token").await;
        assert_eq!(token["token"], "t3");
        peer.send(json!({
            "v": 1, "k": "error", "id": token["id"], "code": "unauthorized",
            "message": "the token is for another user"
        }))
        .await;

        peer.send(json!({"v": 1, "k": "message", "data": {"notice": "maintenance at noon"}}))
            .await;
        peer.send(json!({"v": 1, "k": "message", "data": [1, 2]}))
            .await;
        peer.send(json!({
            "v": 1, "k": "unsubscribed", "room": "docs", "message": "removed by an operator"
        }))
        .await;
        // Held open until the client closes.
        while let Some(Ok(message)) = peer.0.next().await {
            if let Message::Close(_) = message {
                break;
            }
        }
    });

    let client: Client<Notice> = within("connect", Client::connect(&url, config))
        .await
        .unwrap();
    let mut events = client.events();
    let joined = within("join", client.join("docs")).await.unwrap();
    let info = joined.members[0].info.as_ref().unwrap();
    assert_eq!(
        serde_json::from_str::<Value>(info.get()).unwrap(),
        json!({"name": "Alice"})
    );

    let mut seen = Vec::new();
    loop {
        let event = within("events", events.next()).await.unwrap();
        let last = matches!(event, Event::Unsubscribed { .. });
        seen.push(event);
        if last {
            break;
        }
    }
    let errors: Vec<_> = seen
        .iter()
        .filter_map(|e| match e {
            Event::Error { code, .. } => Some(*code),
            _ => None,
        })
        .collect();
    assert_eq!(errors, vec![ErrorCode::Unauthorized], "{seen:?}");
    let messages: Vec<_> = seen
        .iter()
        .filter_map(|e| match e {
            Event::ServerMessage { data } => Some(data),
            _ => None,
        })
        .collect();
    assert_eq!(messages.len(), 2, "{seen:?}");
    assert_eq!(
        messages[0].as_ref().unwrap(),
        &Notice {
            notice: "maintenance at noon".into()
        }
    );
    let (why, raw) = messages[1].as_ref().unwrap_err();
    assert!(!why.is_empty());
    assert_eq!(raw.get(), "[1,2]");
    assert!(matches!(
        seen.last(),
        Some(Event::Unsubscribed { room, message })
            if room == "docs" && message == "removed by an operator"
    ));

    let error = within("members", client.members("docs")).await.unwrap_err();
    assert!(
        matches!(
            &error,
            tandem_client::Error::Op(OpError::NotJoined { room }) if room == "docs"
        ),
        "{error:?}"
    );
    assert_eq!(
        issued.load(Ordering::SeqCst),
        3,
        "one connection, two refreshes"
    );
    within("close", client.close()).await;
    within("server", server).await.unwrap();
}
