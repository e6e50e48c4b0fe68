//! Every row of the bad-input table, sent by a raw tokio-tungstenite client to `tandem
//! serve`: the documented close code or typed error arrives, the server stays up, and a
//! healthy client in the same room keeps receiving without loss.

#![allow(clippy::unwrap_used)]

mod support;

use std::net::SocketAddr;

use serde_json::Value;
use support::raw::{self, Raw};

use support::{Chat, TandemProcess, chat_client, messages, token, wait_for, within};
use tandem_client::{Client, Event, Events};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio_tungstenite::tungstenite::Error as WsError;

/// A publisher and a subscriber in `room`; after each bad input the subscriber must get
/// the next message, so nothing is lost or reordered for healthy clients.
struct Witness {
    publisher: Client<Chat>,
    subscriber: Client<Chat>,
    events: Events<Chat>,
    next: u32,
}

impl Witness {
    async fn new(url: &str) -> Witness {
        let publisher = chat_client(url, "publisher").await;
        let subscriber = chat_client(url, "subscriber").await;
        let events = subscriber.events();
        publisher.join("room").await.unwrap();
        subscriber.join("room").await.unwrap();
        Witness {
            publisher,
            subscriber,
            events,
            next: 0,
        }
    }

    /// Publishes the next message and checks it arrives (skipping others' messages).
    async fn still_served(&mut self, server: &TandemProcess, after: &str) {
        assert!(server.healthy().await, "server unhealthy after {after}");
        let n = self.next;
        self.next += 1;
        self.publisher.publish("room", &Chat::new(n)).await.unwrap();
        loop {
            let got = messages(&mut self.events, "room", 1).await;
            if got[0].1.text.starts_with("flood") {
                continue;
            }
            assert_eq!(
                got[0].1.n, n,
                "healthy client lost or reordered a message after {after}"
            );
            break;
        }
        let _ = &self.subscriber;
    }
}

fn code(frame: &Value) -> &str {
    assert_eq!(frame["k"], "error", "{frame}");
    frame["code"].as_str().unwrap()
}

async fn welcomed(addr: SocketAddr) -> Raw {
    raw::welcomed(addr, &token("mallory")).await
}

async fn http_status(err: WsError) -> u16 {
    match err {
        WsError::Http(resp) => resp.status().as_u16(),
        other => panic!("expected an HTTP refusal, got {other:?}"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_bad_input_gets_its_documented_answer() {
    let server = TandemProcess::start(&[
        "--rate",
        "20",
        "--burst",
        "20",
        "--http-head-timeout",
        "1s",
        "--hello-timeout",
        "1s",
    ])
    .await;
    let addr = server.addr();
    let mut witness = Witness::new(&server.url()).await;
    witness.still_served(&server, "setup").await;

    // Malformed JSON: a typed error naming the cause; the connection stays open...
    let mut ws = welcomed(addr).await;
    raw::send(&mut ws, "{not json").await;
    let e = raw::recv(&mut ws).await;
    assert_eq!(code(&e), "malformed_frame");
    // ...unknown kind...
    raw::send(&mut ws, r#"{"v":1,"k":"teleport","id":4}"#).await;
    let e = raw::recv(&mut ws).await;
    assert_eq!(code(&e), "unknown_kind");
    assert_eq!(e["id"], 4, "the error names the frame");
    // ...wrong payload type, naming the field...
    raw::send(&mut ws, r#"{"v":1,"k":"join","id":5,"room":42}"#).await;
    let e = raw::recv(&mut ws).await;
    assert_eq!(code(&e), "wrong_type");
    assert!(e["message"].as_str().unwrap().contains("room"), "{e}");
    // ...and still usable: a ping gets its pong.
    raw::send(&mut ws, r#"{"v":1,"k":"ping"}"#).await;
    assert_eq!(raw::recv(&mut ws).await["k"], "pong");
    // Persisting in bad frames closes with 1007.
    for _ in 0..10 {
        raw::send(&mut ws, "[]").await;
    }
    let (close, _) = raw::until_closed(&mut ws).await;
    assert_eq!(close, Some(1007));
    witness.still_served(&server, "malformed frames").await;

    // A binary frame: close 1003.
    let mut ws = welcomed(addr).await;
    raw::send_binary(&mut ws, &[1, 2, 3]).await;
    assert_eq!(raw::until_closed(&mut ws).await.0, Some(1003));
    witness.still_served(&server, "a binary frame").await;

    // Over the size limit (64 KiB): close 1009 (PROTOCOL.md: the reason names the sizes).
    let mut ws = welcomed(addr).await;
    let big = format!(
        r#"{{"v":1,"k":"publish","id":1,"room":"room","data":"{}"}}"#,
        "x".repeat(70_000)
    );
    raw::send(&mut ws, &big).await;
    assert_eq!(raw::until_closed(&mut ws).await.0, Some(1009));
    // Far over it (cut off before the protocol even parses it): still 1009.
    let mut ws = welcomed(addr).await;
    raw::send(&mut ws, &"y".repeat(1_000_000)).await;
    assert_eq!(raw::until_closed(&mut ws).await.0, Some(1009));
    witness.still_served(&server, "oversized messages").await;

    // A flood over the rate limit (20/s here): `rate_limited` errors, then 1008.
    let mut ws = welcomed(addr).await;
    raw::send(&mut ws, r#"{"v":1,"k":"join","id":1,"room":"room"}"#).await;
    assert_eq!(raw::recv(&mut ws).await["k"], "joined");
    for i in 0..200 {
        let frame = format!(
            r#"{{"v":1,"k":"publish","id":{},"room":"room","data":{{"n":{i},"text":"flood {i}"}}}}"#,
            i + 2
        );
        if futures_util::SinkExt::send(
            &mut ws,
            tokio_tungstenite::tungstenite::Message::text(frame),
        )
        .await
        .is_err()
        {
            break;
        }
    }
    let (close, frames) = raw::until_closed(&mut ws).await;
    assert_eq!(close, Some(1008));
    assert!(
        frames
            .iter()
            .any(|f| f["k"] == "error" && f["code"] == "rate_limited"),
        "rate_limited errors come before the close"
    );
    witness.still_served(&server, "a flood").await;

    // No common subprotocol: without the marker the upgrade is refused (400)...
    let err = raw::open(addr, "tandem.v9.json", None).await.unwrap_err();
    assert_eq!(http_status(err).await, 400);
    // ...with it, the socket opens with the marker and closes 4005 with the reason.
    let mut ws = raw::open(addr, "tandem.v9.json, tandem", None)
        .await
        .unwrap();
    assert_eq!(raw::until_closed(&mut ws).await.0, Some(4005));
    // No common application schema version: a typed error and 4004.
    let mut ws = raw::open(addr, "tandem.v1.json", None).await.unwrap();
    let hello = format!(
        r#"{{"v":1,"k":"hello","app":{{"name":"default","versions":[7]}},"token":"{}"}}"#,
        token("x")
    );
    raw::send(&mut ws, &hello).await;
    let (close, frames) = raw::until_closed(&mut ws).await;
    assert_eq!(close, Some(4004));
    assert_eq!(code(&frames[0]), "app_version_mismatch");
    witness.still_served(&server, "negotiation failures").await;

    // A bad token: a typed error and 4001.
    let mut ws = raw::open(addr, "tandem.v1.json", None).await.unwrap();
    raw::send(
        &mut ws,
        r#"{"v":1,"k":"hello","app":{"name":"default","versions":[1]},"token":"x.y"}"#,
    )
    .await;
    let (close, frames) = raw::until_closed(&mut ws).await;
    assert_eq!(close, Some(4001));
    assert_eq!(code(&frames[0]), "unauthorized");
    witness.still_served(&server, "a bad token").await;

    // An Origin not on the allow-list: 403. The server's own host is fine.
    let err = raw::open(addr, "tandem.v1.json", Some("https://evil.example"))
        .await
        .unwrap_err();
    assert_eq!(http_status(err).await, 403);
    let own = format!("http://{addr}");
    raw::open(addr, "tandem.v1.json", Some(&own)).await.unwrap();

    // A slow handshake: 408 after the handshake timeout (1 s here); a socket that never
    // says hello is closed too.
    let mut slow = tokio::net::TcpStream::connect(addr).await.unwrap();
    slow.write_all(b"GET / HTTP/1.1\r\nHost: x\r\n")
        .await
        .unwrap();
    witness
        .still_served(&server, "a slow handshake in progress")
        .await;
    let mut answer = String::new();
    within("the 408", slow.read_to_string(&mut answer))
        .await
        .unwrap();
    assert!(answer.starts_with("HTTP/1.1 408"), "{answer}");
    let mut silent = raw::open(addr, "tandem.v1.json", None).await.unwrap();
    let (close, _) = raw::until_closed(&mut silent).await;
    assert_eq!(close, Some(4008), "no hello within the handshake timeout");

    // Oversized headers: 431.
    let mut big = tokio::net::TcpStream::connect(addr).await.unwrap();
    let head = format!(
        "GET / HTTP/1.1\r\nHost: x\r\nX-Big: {}\r\n\r\n",
        "z".repeat(20_000)
    );
    let _ = big.write_all(head.as_bytes()).await;
    let mut answer = String::new();
    let _ = within("the 431", big.read_to_string(&mut answer)).await;
    assert!(answer.starts_with("HTTP/1.1 431"), "{answer}");
    witness.still_served(&server, "handshake abuse").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn slow_consumer_is_closed_and_others_keep_up() {
    let server =
        TandemProcess::start(&["--outbound-queue", "8", "--rate", "1000", "--burst", "1000"]).await;
    let addr = server.addr();
    let mut witness = Witness::new(&server.url()).await;
    // A member that never reads.
    let mut sloth = welcomed(addr).await;
    raw::send(&mut sloth, r#"{"v":1,"k":"join","id":1,"room":"room"}"#).await;
    assert_eq!(raw::recv(&mut sloth).await["k"], "joined");
    // Big messages fill the socket buffers, then its 8-frame outbox.
    let blob = "b".repeat(60_000);
    for n in 0..300u32 {
        witness
            .publisher
            .publish(
                "room",
                &Chat {
                    n: 1000 + n,
                    text: format!("flood {blob}"),
                },
            )
            .await
            .unwrap();
    }
    // The healthy subscriber got all 300.
    let got = messages(&mut witness.events, "room", 300).await;
    assert!(got.windows(2).all(|w| w[1].0 == w[0].0 + 1));
    // The sloth was cut off: reading now ends in its close (1013) or a dropped socket,
    // having received fewer than all the messages.
    let (close, frames) = raw::until_closed(&mut sloth).await;
    assert!(matches!(close, Some(1013) | None), "{close:?}");
    assert!(
        frames.len() < 300,
        "the sloth was closed, not served forever"
    );
    witness.still_served(&server, "a slow consumer").await;
}

/// The answers PROTOCOL.md gives where an independent client found the spec and the server
/// apart (issue 18, point 8), on the wire.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn what_the_spec_says_is_what_the_wire_does() {
    // A lingering member would stay a minute: a departure seen within the wait below can
    // only be the clean one.
    let server = TandemProcess::start(&["--presence-timeout", "60s"]).await;
    let addr = server.addr();
    let mut witness = Witness::new(&server.url()).await;
    witness.still_served(&server, "setup").await;

    // A text message that is not UTF-8 (RFC 6455 §8.1): close 1007 with a reason, and no
    // error frame before it; in one frame or across fragments.
    // The member leaves presence at once: a close for a protocol violation is clean.
    let manglers: [&[&[u8]]; 2] = [
        &[b"{\"v\":1,\"k\":\"ping\",\"x\":\"\xff\"}"],
        &[b"{\"v\":1,\"k\":\"ping\",\"x\":\"\xe2", b"\x28\"}"],
    ];
    for (i, parts) in manglers.into_iter().enumerate() {
        let user = format!("mangler{i}");
        let mut ws = raw::welcomed(addr, &token(&user)).await;
        raw::send(&mut ws, r#"{"v":1,"k":"join","id":1,"room":"room"}"#).await;
        assert_eq!(raw::recv(&mut ws).await["k"], "joined");
        wait_for(&mut witness.events, "the mangler's arrival", |e| match e {
            Event::Presence { joined, .. } => joined.iter().any(|m| m.user == user).then_some(()),
            _ => None,
        })
        .await;
        raw::send_fragments(&mut ws, parts).await;
        let (close, frames) = raw::until_closed_with_reason(&mut ws).await;
        let (close_code, reason) = close.expect("a close frame, not a dropped socket");
        assert_eq!(close_code, 1007);
        assert!(reason.contains("UTF-8"), "{reason}");
        assert!(
            frames.is_empty(),
            "no error frame precedes the close: {frames:?}"
        );
        wait_for(
            &mut witness.events,
            "the mangler's departure",
            |e| match e {
                Event::Presence { left, .. } => left.iter().any(|m| m.user == user).then_some(()),
                _ => None,
            },
        )
        .await;
        witness.still_served(&server, "invalid UTF-8").await;
    }

    // Fragments: a message is one frame of the protocol, whatever its WebSocket frames;
    // the size limit counts the whole message.
    let mut ws = welcomed(addr).await;
    raw::send_fragments(&mut ws, &[b"{\"v\":1,", b"\"k\":", b"\"ping\"}"]).await;
    assert_eq!(raw::recv(&mut ws).await["k"], "pong");
    let half = format!(r#"{{"v":1,"k":"ping","x":"{}"#, "x".repeat(40_000));
    let rest = format!(r#"{}"}}"#, "x".repeat(40_000));
    let size = half.len() + rest.len();
    raw::send_fragments(&mut ws, &[half.as_bytes(), rest.as_bytes()]).await;
    let (close, frames) = raw::until_closed_with_reason(&mut ws).await;
    let (close_code, reason) = close.unwrap();
    assert_eq!(close_code, 1009);
    assert!(reason.contains(&size.to_string()), "{reason}");
    assert!(frames.is_empty(), "{frames:?}");
    witness.still_served(&server, "fragments").await;

    // The header's checks in the documented order: an unknown kind with an id that is
    // not an integer is `unknown_kind`, without an id.
    let mut ws = welcomed(addr).await;
    raw::send(&mut ws, r#"{"v":1,"k":"nope","id":"x"}"#).await;
    let e = raw::recv(&mut ws).await;
    assert_eq!(code(&e), "unknown_kind", "{e}");
    assert!(e.get("id").is_none(), "{e}");
    assert!(
        !e["message"].as_str().unwrap().contains("frame frame"),
        "{e}"
    );
    // A payload giving a key twice is malformed; it is not numbered nor relayed (the
    // witness's next message is the next it gets).
    raw::send(&mut ws, r#"{"v":1,"k":"join","id":1,"room":"room"}"#).await;
    assert_eq!(raw::recv(&mut ws).await["k"], "joined");
    raw::send(
        &mut ws,
        r#"{"v":1,"k":"publish","id":2,"room":"room","data":{"n":900,"text":"twice","n":901}}"#,
    )
    .await;
    let e = loop {
        let f = raw::recv(&mut ws).await;
        if f["k"] != "presence" {
            break f;
        }
    };
    assert_eq!(code(&e), "malformed_frame", "{e}");
    assert!(e["message"].as_str().unwrap().contains("twice"), "{e}");
    witness
        .still_served(&server, "a payload giving a key twice")
        .await;

    // Origin: the server's own host is the Origin's host:port equal to the Host header,
    // under any scheme; another port or another name for the same host is foreign.
    raw::open(addr, "tandem.v1.json", Some(&format!("https://{addr}")))
        .await
        .unwrap();
    for foreign in [
        format!("http://127.0.0.1:{}", addr.port().wrapping_add(1)),
        format!("http://localhost:{}", addr.port()),
    ] {
        let err = raw::open(addr, "tandem.v1.json", Some(&foreign))
            .await
            .unwrap_err();
        assert_eq!(http_status(err).await, 403, "{foreign}");
    }

    // The default application schema is "default", version 1.
    let mut ws = raw::open(addr, "tandem.v1.json", None).await.unwrap();
    let hello = format!(
        r#"{{"v":1,"k":"hello","app":{{"name":"default","versions":[3,1]}},"token":"{}"}}"#,
        token("d")
    );
    raw::send(&mut ws, &hello).await;
    let welcome = raw::recv(&mut ws).await;
    assert_eq!(
        welcome["app"],
        serde_json::json!({"name": "default", "version": 1})
    );
    witness
        .still_served(&server, "the spec's open questions")
        .await;
}

/// The number of open WebSocket connections, from `/healthz`.
async fn connections(addr: SocketAddr) -> u64 {
    let answer = support::http_get(addr, "/healthz").await;
    let body = answer.split("\r\n\r\n").nth(1).unwrap_or_default();
    serde_json::from_str::<Value>(body).unwrap()["connections"]
        .as_u64()
        .unwrap()
}

/// PROTOCOL.md §9: a slow consumer is closed with 1013, but one that reads nothing at all
/// for the close grace (2 s) gets no close frame: its socket is dropped, and it sees 1006.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_consumer_stalled_past_the_close_grace_sees_1006() {
    let server =
        TandemProcess::start(&["--outbound-queue", "8", "--rate", "1000", "--burst", "1000"]).await;
    let addr = server.addr();
    let publisher = chat_client(&server.url(), "publisher").await;
    publisher.join("room").await.unwrap();
    let mut sloth = welcomed(addr).await;
    raw::send(&mut sloth, r#"{"v":1,"k":"join","id":1,"room":"room"}"#).await;
    assert_eq!(raw::recv(&mut sloth).await["k"], "joined");
    assert_eq!(connections(addr).await, 2);
    // Big messages fill the sloth's socket buffers, then its outbox: the server gives up
    // on it, and its connection ends once the close could not be written in time.
    let text = format!("flood {}", "b".repeat(60_000));
    let mut n = 0;
    while connections(addr).await > 1 {
        assert!(n < 5_000, "the sloth was never closed");
        for _ in 0..20 {
            let chat = Chat {
                n,
                text: text.clone(),
            };
            publisher.publish("room", &chat).await.unwrap();
            n += 1;
        }
    }
    let (close, frames) = raw::until_closed(&mut sloth).await;
    assert_eq!(close, None, "dropped without a close frame (1006)");
    assert!(
        frames.len() < n as usize,
        "the sloth was not served in full"
    );
}
