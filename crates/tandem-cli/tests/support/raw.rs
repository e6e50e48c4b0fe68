//! A raw tokio-tungstenite client that speaks tandem frames by hand, to send what a
//! well-behaved client never would.

#![allow(dead_code, clippy::unwrap_used)]

use std::net::SocketAddr;

use futures_util::{SinkExt, StreamExt};
use serde_json::Value;
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::http::HeaderValue;
use tokio_tungstenite::tungstenite::protocol::frame::Frame;
use tokio_tungstenite::tungstenite::protocol::frame::coding::{Data, OpCode};
use tokio_tungstenite::tungstenite::{Bytes, Error, Message};
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};

use super::within;

/// A raw socket.
pub type Raw = WebSocketStream<MaybeTlsStream<TcpStream>>;

/// Opens a WebSocket offering `protocols`, with an `Origin` header if given.
pub async fn open(addr: SocketAddr, protocols: &str, origin: Option<&str>) -> Result<Raw, Error> {
    let mut req = format!("ws://{addr}/").into_client_request().unwrap();
    req.headers_mut().insert(
        "sec-websocket-protocol",
        HeaderValue::from_str(protocols).unwrap(),
    );
    if let Some(o) = origin {
        req.headers_mut()
            .insert("origin", HeaderValue::from_str(o).unwrap());
    }
    within("the upgrade", tokio_tungstenite::connect_async(req))
        .await
        .map(|(ws, _)| ws)
}

/// Opens a socket and completes hello/welcome with `token`.
pub async fn welcomed(addr: SocketAddr, token: &str) -> Raw {
    let mut ws = open(addr, "tandem.v1.json, tandem", None).await.unwrap();
    send(
        &mut ws,
        &format!(
            r#"{{"v":1,"k":"hello","app":{{"name":"default","versions":[1]}},"token":"{token}"}}"#
        ),
    )
    .await;
    let welcome = recv(&mut ws).await;
    assert_eq!(welcome["k"], "welcome", "{welcome}");
    ws
}

/// Sends one text frame.
pub async fn send(ws: &mut Raw, text: &str) {
    ws.send(Message::text(text)).await.unwrap();
}

/// Sends one binary frame.
pub async fn send_binary(ws: &mut Raw, bytes: &[u8]) {
    ws.send(Message::Binary(Bytes::copy_from_slice(bytes)))
        .await
        .unwrap();
}

/// Sends one text message as WebSocket frames holding `parts` (continuations after the
/// first), unchecked: the bytes need not be UTF-8, as a well-behaved client's would be.
pub async fn send_fragments(ws: &mut Raw, parts: &[&[u8]]) {
    for (i, part) in parts.iter().enumerate() {
        let opcode = OpCode::Data(if i == 0 { Data::Text } else { Data::Continue });
        let frame = Frame::message(Bytes::copy_from_slice(part), opcode, i + 1 == parts.len());
        ws.send(Message::Frame(frame)).await.unwrap();
    }
}

/// The next text frame as JSON; panics on close or a non-text frame.
pub async fn recv(ws: &mut Raw) -> Value {
    loop {
        match within("a frame", ws.next()).await {
            Some(Ok(Message::Text(t))) => return serde_json::from_str(&t).unwrap(),
            Some(Ok(Message::Ping(_) | Message::Pong(_))) => continue,
            other => panic!("expected a text frame, got {other:?}"),
        }
    }
}

/// Reads until the server closes; returns the close code (`None`: dropped without one) and
/// the text frames seen before it.
pub async fn until_closed(ws: &mut Raw) -> (Option<u16>, Vec<Value>) {
    let mut frames = Vec::new();
    loop {
        match within("the close", ws.next()).await {
            Some(Ok(Message::Text(t))) => frames.push(serde_json::from_str(&t).unwrap()),
            Some(Ok(Message::Close(f))) => return (f.map(|f| u16::from(f.code)), frames),
            Some(Ok(_)) => {}
            Some(Err(_)) | None => return (None, frames),
        }
    }
}

/// Reads until the server closes; returns the close code and reason (`None`: dropped
/// without a close frame) and the text frames seen before it.
pub async fn until_closed_with_reason(ws: &mut Raw) -> (Option<(u16, String)>, Vec<Value>) {
    let mut frames = Vec::new();
    loop {
        match within("the close", ws.next()).await {
            Some(Ok(Message::Text(t))) => frames.push(serde_json::from_str(&t).unwrap()),
            Some(Ok(Message::Close(f))) => {
                return (f.map(|f| (u16::from(f.code), f.reason.to_string())), frames);
            }
            Some(Ok(_)) => {}
            Some(Err(_)) | None => return (None, frames),
        }
    }
}
