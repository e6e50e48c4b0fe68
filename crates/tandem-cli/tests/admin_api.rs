//! The admin HTTP API of `tandem serve --admin-addr`, through real processes: on two nodes
//! sharing a real Redis, an operation asked of one node acts on the user's connections on
//! both (disconnect with 4003, unsubscribe, send to a user), members and history are the
//! cluster's; the same on a standalone node; the admin token is enforced, and an admin
//! API off loopback without one is refused at startup.

#![allow(clippy::unwrap_used)]

mod support;

use std::net::SocketAddr;
use std::process::Stdio;

use serde_json::{Value, json};
use support::raw::{self, Raw};
use support::redis::RedisProcess;
use support::{Chat, SECRET, token, wait_for, within};
use tandem_client::{Client, Config, ConnectionState, Event};
use tandem_proto::{CloseReason, close};
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::process::{Child, Command};

/// A `tandem serve` with `--admin-addr 127.0.0.1:0`: its WebSocket and admin addresses.
struct AdminNode {
    /// Killed when the node is dropped.
    _child: Child,
    addr: SocketAddr,
    admin: SocketAddr,
}

impl AdminNode {
    /// Starts one with the test token secret and `extra` flags; with `redis`, waits until
    /// it has joined the cluster.
    async fn start(redis: Option<&RedisProcess>, extra: &[&str]) -> Self {
        let mut command = Command::new(env!("CARGO_BIN_EXE_tandem"));
        command
            .args(["serve", "--addr", "127.0.0.1:0", "--token-secret", SECRET])
            .args(["--admin-addr", "127.0.0.1:0"])
            .args(extra);
        if let Some(redis) = redis {
            command.args(["--redis", &redis.url()]);
        }
        let mut child = command
            .env("RUST_LOG", "warn")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .kill_on_drop(true)
            .spawn()
            .expect("the tandem binary starts");
        let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
        let (mut addr, mut admin) = (None, None);
        while addr.is_none() || admin.is_none() {
            let line = within("tandem serve to print its addresses", lines.next_line())
                .await
                .unwrap()
                .expect("tandem serve printed its addresses");
            if let Some(a) = line.strip_prefix("tandem listening on http://") {
                addr = Some(a.parse().unwrap());
            } else if let Some(a) = line.strip_prefix("tandem admin on http://") {
                admin = Some(a.parse().unwrap());
            }
        }
        tokio::spawn(async move { while let Ok(Some(_)) = lines.next_line().await {} });
        let node = AdminNode {
            _child: child,
            addr: addr.unwrap(),
            admin: admin.unwrap(),
        };
        if redis.is_some() {
            within("the node to join the cluster", async {
                while !support::http_get(node.addr, "/healthz")
                    .await
                    .starts_with("HTTP/1.1 200")
                {
                    tokio::time::sleep(std::time::Duration::from_millis(20)).await;
                }
            })
            .await;
        }
        node
    }

    fn url(&self) -> String {
        format!("ws://{}", self.addr)
    }

    /// An admin API call without a token: the status and the JSON body.
    async fn call(&self, method: &str, path: &str, body: Option<&str>) -> (u16, Value) {
        request(self.admin, method, path, &[], body).await
    }
}

/// One HTTP/1.1 request with `headers`; the status and the body read as JSON.
async fn request(
    addr: SocketAddr,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: Option<&str>,
) -> (u16, Value) {
    within(&format!("{method} {path}"), async {
        let mut s = tokio::net::TcpStream::connect(addr).await.unwrap();
        let body = body.unwrap_or("");
        let mut head = format!(
            "{method} {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\
             Content-Type: application/json\r\nContent-Length: {}\r\n",
            body.len()
        );
        for (name, value) in headers {
            head.push_str(&format!("{name}: {value}\r\n"));
        }
        head.push_str("\r\n");
        s.write_all(head.as_bytes()).await.unwrap();
        s.write_all(body.as_bytes()).await.unwrap();
        let mut answer = Vec::new();
        s.read_to_end(&mut answer).await.unwrap();
        let answer = String::from_utf8(answer).unwrap();
        let (head, body) = answer.split_once("\r\n\r\n").unwrap();
        let status = head.split(' ').nth(1).unwrap().parse().unwrap();
        assert!(
            head.to_ascii_lowercase()
                .contains("content-type: application/json"),
            "{head}"
        );
        (status, serde_json::from_str(body).unwrap())
    })
    .await
}

/// A raw socket of `user` on `addr`, joined to `room`.
async fn joined(addr: SocketAddr, user: &str, room: &str) -> Raw {
    let mut ws = raw::welcomed(addr, &token(user)).await;
    raw::send(
        &mut ws,
        &format!(r#"{{"v":1,"k":"join","id":1,"room":"{room}"}}"#),
    )
    .await;
    let joined = next_kind(&mut ws, "joined").await;
    assert_eq!(joined["room"], room);
    ws
}

/// The next frame of kind `kind`, skipping others (presence, events...).
async fn next_kind(ws: &mut Raw, kind: &str) -> Value {
    loop {
        let frame = raw::recv(ws).await;
        if frame["k"] == kind {
            return frame;
        }
    }
}

/// Publishes `data` in `room` and waits for the ack; returns its seq.
async fn publish(ws: &mut Raw, id: u64, room: &str, data: Value) -> u64 {
    let frame = json!({"v": 1, "k": "publish", "id": id, "room": room, "data": data});
    raw::send(ws, &frame.to_string()).await;
    let ack = next_kind(ws, "ack").await;
    assert_eq!(ack["id"], id, "{ack}");
    ack["seq"].as_u64().unwrap()
}

/// Sends `user` a marker and checks it is the next `message` the socket gets: whatever
/// was sent to others before it (on the same node, in order) did not reach this socket.
async fn marker_is_next(node: &AdminNode, user: &str, ws: &mut Raw, marker: u32) {
    let (status, _) = node
        .call(
            "POST",
            &format!("/users/{user}/messages"),
            Some(&json!({ "marker": marker }).to_string()),
        )
        .await;
    assert_eq!(status, 200);
    let message = next_kind(ws, "message").await;
    assert_eq!(message["data"], json!({ "marker": marker }), "{user}");
}

/// The users a members answer lists, sorted.
fn users(answer: &Value) -> Vec<String> {
    let mut users: Vec<String> = answer["members"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["user"].as_str().unwrap().to_owned())
        .collect();
    users.sort();
    users
}

/// A native client of `user`, to see how the reference client takes a close.
async fn client(url: &str, user: &str) -> Client<Chat> {
    let config = Config::new().token(token(user)).seed(7);
    within("connect", Client::connect(url, config))
        .await
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn admin_operations_reach_every_node_of_a_cluster() {
    let redis = RedisProcess::start().await;
    let a = AdminNode::start(Some(&redis), &[]).await;
    let b = AdminNode::start(Some(&redis), &[]).await;
    // alice on both nodes, bob on node B, carol on node A, all in the lobby.
    let mut alice_a = joined(a.addr, "alice", "lobby").await;
    let mut alice_b = joined(b.addr, "alice", "lobby").await;
    let mut bob = joined(b.addr, "bob", "lobby").await;
    let mut carol = joined(a.addr, "carol", "lobby").await;

    // Members: the cluster's, asked of either node.
    for node in [&a, &b] {
        let (status, answer) = node.call("GET", "/rooms/lobby/members", None).await;
        assert_eq!(status, 200, "{answer}");
        assert_eq!(answer["room"], "lobby");
        assert_eq!(users(&answer), ["alice", "bob", "carol"]);
    }
    let (_, empty) = a.call("GET", "/rooms/nobody-here/members", None).await;
    assert_eq!(empty["members"], json!([]));

    // History: pages from Redis, newest first, with the `before` that asks for the rest.
    let mut seqs = Vec::new();
    for n in 0..3 {
        seqs.push(publish(&mut bob, 10 + n, "lobby", json!({ "n": n })).await);
    }
    let (status, page) = a.call("GET", "/rooms/lobby/history?limit=2", None).await;
    assert_eq!(status, 200, "{page}");
    assert_eq!(page["more"], true);
    let messages = page["messages"].as_array().unwrap();
    assert_eq!(messages.len(), 2, "{page}");
    assert_eq!(messages[0]["seq"], seqs[1]);
    assert_eq!(messages[1]["seq"], seqs[2]);
    assert_eq!(messages[1]["from"], "bob");
    assert_eq!(messages[1]["data"], json!({ "n": 2 }));
    assert_eq!(page["before"], seqs[1]);
    let older = format!("/rooms/lobby/history?before={}&limit=2", seqs[1]);
    let (_, page) = b.call("GET", &older, None).await;
    assert_eq!(page["messages"][0]["seq"], seqs[0], "{page}");
    assert_eq!(page["more"], false);

    // Send to a user: both of alice's connections, on both nodes, and nobody else.
    let (status, answer) = a
        .call(
            "POST",
            "/users/alice/messages",
            Some(r#"{"hello":"alice"}"#),
        )
        .await;
    assert_eq!(status, 200, "{answer}");
    assert_eq!(answer, json!({"user": "alice", "nodes": 2}));
    for ws in [&mut alice_a, &mut alice_b] {
        let message = next_kind(ws, "message").await;
        assert_eq!(message["data"], json!({"hello": "alice"}));
    }
    marker_is_next(&a, "bob", &mut bob, 1).await;
    marker_is_next(&a, "carol", &mut carol, 2).await;

    // Unsubscribe bob (on node B) through node A: he is told, leaves the room's presence,
    // and stays connected; the others stay in the room.
    let (status, answer) = a.call("DELETE", "/rooms/lobby/members/bob", None).await;
    assert_eq!(status, 200, "{answer}");
    assert_eq!(answer, json!({"room": "lobby", "user": "bob", "nodes": 2}));
    let unsubscribed = next_kind(&mut bob, "unsubscribed").await;
    assert_eq!(unsubscribed["room"], "lobby");
    assert!(unsubscribed["message"].is_string(), "{unsubscribed}");
    within("bob to leave carol's presence", async {
        loop {
            let presence = next_kind(&mut carol, "presence").await;
            if presence["left"].to_string().contains("\"bob\"") {
                break;
            }
        }
    })
    .await;
    let (_, answer) = b.call("GET", "/rooms/lobby/members", None).await;
    assert_eq!(users(&answer), ["alice", "carol"]);
    let seq = publish(&mut carol, 20, "lobby", json!({"after": "unsubscribe"})).await;
    for ws in [&mut alice_a, &mut alice_b] {
        while next_kind(ws, "event").await["seq"] != seq {}
    }
    // Bob is still connected, and the room's event (on the bus before this message) did
    // not reach him: the message is the next frame he gets.
    let (status, _) = a
        .call("POST", "/users/bob/messages", Some(r#""still here""#))
        .await;
    assert_eq!(status, 200);
    let next = raw::recv(&mut bob).await;
    assert_eq!(
        (&next["k"], &next["data"]),
        (&json!("message"), &json!("still here"))
    );

    // Disconnect alice through node A: every connection of hers, on both nodes, closes
    // with 4003; the reference client stops instead of reconnecting.
    let alice_client = client(&b.url(), "alice").await;
    let mut alice_events = alice_client.events();
    let (status, answer) = a.call("POST", "/users/alice/disconnect", None).await;
    assert_eq!(status, 200, "{answer}");
    assert_eq!(answer, json!({"user": "alice", "nodes": 2}));
    for ws in [&mut alice_a, &mut alice_b] {
        let (closed, _) = raw::until_closed_with_reason(ws).await;
        let (code, reason) = closed.expect("a close frame");
        assert_eq!(code, close::DISCONNECTED);
        assert_eq!(code, 4003);
        assert_eq!(reason, "disconnected by the server");
    }
    let reason = wait_for(&mut alice_events, "alice's client to stop", |e| match e {
        Event::State(ConnectionState::Closed(reason)) => Some(reason),
        Event::State(ConnectionState::Reconnecting { .. }) => {
            panic!("a client disconnected by an operator reconnected")
        }
        _ => None,
    })
    .await;
    assert!(
        matches!(reason, CloseReason::ServerClosed { code: 4003, .. }),
        "{reason:?}"
    );
    // Bob and carol are still connected.
    marker_is_next(&b, "bob", &mut bob, 3).await;
    marker_is_next(&b, "carol", &mut carol, 4).await;

    // A reason of the operator's own.
    let mut again = joined(b.addr, "alice", "lobby").await;
    let (status, _) = b
        .call(
            "POST",
            "/users/alice/disconnect",
            Some(r#"{"reason":"banned for spam"}"#),
        )
        .await;
    assert_eq!(status, 200);
    let (closed, _) = raw::until_closed_with_reason(&mut again).await;
    assert_eq!(closed, Some((4003, "banned for spam".to_owned())));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn admin_operations_on_a_standalone_node() {
    // A small largest message, so the oversized body below is small too.
    let node = AdminNode::start(None, &["--max-message-bytes", "1000"]).await;
    let mut alice_1 = joined(node.addr, "alice", "lobby").await;
    let mut alice_2 = joined(node.addr, "alice", "lobby").await;
    let mut bob = joined(node.addr, "bob", "lobby").await;

    let (status, answer) = node.call("GET", "/rooms/lobby/members", None).await;
    assert_eq!(status, 200, "{answer}");
    assert_eq!(users(&answer), ["alice", "bob"]);

    let mut seqs = Vec::new();
    for n in 0..3 {
        seqs.push(publish(&mut bob, 10 + n, "lobby", json!({ "n": n })).await);
    }
    let (status, page) = node.call("GET", "/rooms/lobby/history?limit=2", None).await;
    assert_eq!(status, 200, "{page}");
    assert_eq!(page["more"], true);
    assert_eq!(page["messages"][0]["seq"], seqs[1]);
    assert_eq!(page["messages"][1]["data"], json!({"n": 2}));
    let older = format!("/rooms/lobby/history?before={}", page["before"]);
    let (_, page) = node.call("GET", &older, None).await;
    assert_eq!(page["messages"].as_array().unwrap().len(), 1, "{page}");
    assert_eq!(page["more"], false);

    // A standalone node counts the connections it acted on.
    let (status, answer) = node
        .call("POST", "/users/alice/messages", Some(r#"[1,2,3]"#))
        .await;
    assert_eq!(status, 200, "{answer}");
    assert_eq!(answer, json!({"user": "alice", "connections": 2}));
    for ws in [&mut alice_1, &mut alice_2] {
        assert_eq!(next_kind(ws, "message").await["data"], json!([1, 2, 3]));
    }
    marker_is_next(&node, "bob", &mut bob, 1).await;

    let (_, answer) = node
        .call("DELETE", "/rooms/lobby/members/alice", None)
        .await;
    assert_eq!(
        answer,
        json!({"room": "lobby", "user": "alice", "connections": 2})
    );
    for ws in [&mut alice_1, &mut alice_2] {
        assert_eq!(next_kind(ws, "unsubscribed").await["room"], "lobby");
    }
    let (_, answer) = node.call("GET", "/rooms/lobby/members", None).await;
    assert_eq!(users(&answer), ["bob"]);

    let (_, answer) = node.call("POST", "/users/alice/disconnect", None).await;
    assert_eq!(answer, json!({"user": "alice", "connections": 2}));
    for ws in [&mut alice_1, &mut alice_2] {
        assert_eq!(raw::until_closed(ws).await.0, Some(close::DISCONNECTED));
    }
    let (_, answer) = node.call("POST", "/users/nobody/disconnect", None).await;
    assert_eq!(answer, json!({"user": "nobody", "connections": 0}));
    marker_is_next(&node, "bob", &mut bob, 2).await;

    // Bad requests get typed JSON errors.
    let (status, answer) = node
        .call("POST", "/users/bob/messages", Some("{not json"))
        .await;
    assert_eq!(
        (status, &answer["error"]["code"]),
        (400, &json!("bad_json"))
    );
    let (status, answer) = node
        .call("POST", "/users/bob/disconnect", Some(r#"{"reason":7}"#))
        .await;
    assert_eq!(
        (status, &answer["error"]["code"]),
        (400, &json!("bad_json"))
    );
    let (status, answer) = node
        .call("GET", "/rooms/lobby/history?limit=zero", None)
        .await;
    assert_eq!(
        (status, &answer["error"]["code"]),
        (400, &json!("bad_query"))
    );
    let (status, answer) = node.call("GET", "/nowhere", None).await;
    assert_eq!(
        (status, &answer["error"]["code"]),
        (404, &json!("not_found"))
    );
    let (status, answer) = node.call("GET", "/users/bob/disconnect", None).await;
    assert_eq!(
        (status, &answer["error"]["code"]),
        (405, &json!("method_not_allowed"))
    );
    let big = format!("\"{}\"", "x".repeat(2_000));
    let (status, answer) = node.call("POST", "/users/bob/messages", Some(&big)).await;
    assert_eq!(
        (status, &answer["error"]["code"]),
        (413, &json!("too_large"))
    );
    // A room name with a slash, percent-encoded in the path.
    let _carol = joined(node.addr, "carol", "docs/1").await;
    let (_, answer) = node.call("GET", "/rooms/docs%2F1/members", None).await;
    assert_eq!(answer["room"], "docs/1");
    assert_eq!(users(&answer), ["carol"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_admin_token_is_required_when_set() {
    let node = AdminNode::start(None, &["--admin-token", "s3cret-admin"]).await;
    let path = "/rooms/lobby/members";
    for headers in [
        &[][..],
        &[("Authorization", "Bearer wrong")][..],
        &[("Authorization", "Bearer s3cret-admi")][..],
        &[("Authorization", "Bearer s3cret-admin2")][..],
        &[("Authorization", "s3cret-admin")][..],
        &[("Authorization", "Basic s3cret-admin")][..],
    ] {
        let (status, answer) = request(node.admin, "GET", path, headers, None).await;
        assert_eq!(status, 401, "{headers:?}");
        assert_eq!(answer["error"]["code"], "unauthorized", "{headers:?}");
    }
    // Nothing is told without the token, not even which paths exist.
    let (status, _) = request(node.admin, "GET", "/nowhere", &[], None).await;
    assert_eq!(status, 401);
    let (status, _) = request(node.admin, "POST", "/users/x/disconnect", &[], None).await;
    assert_eq!(status, 401);
    let good = [("Authorization", "Bearer s3cret-admin")];
    let (status, answer) = request(node.admin, "GET", path, &good, None).await;
    assert_eq!(status, 200, "{answer}");
    assert_eq!(answer["members"], json!([]));
    let lower = [("Authorization", "bearer s3cret-admin")];
    let (status, _) = request(node.admin, "GET", path, &lower, None).await;
    assert_eq!(status, 200, "the scheme is case-insensitive");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_admin_api_off_loopback_needs_a_token() {
    let refused = within(
        "tandem serve to refuse",
        Command::new(env!("CARGO_BIN_EXE_tandem"))
            .args(["serve", "--addr", "127.0.0.1:0", "--token-secret", SECRET])
            .args(["--admin-addr", "0.0.0.0:0"])
            .stdin(Stdio::null())
            .kill_on_drop(true)
            .output(),
    )
    .await
    .unwrap();
    assert!(!refused.status.success());
    let stdout = String::from_utf8_lossy(&refused.stdout);
    assert!(!stdout.contains("listening"), "it did not start: {stdout}");
    let stderr = String::from_utf8_lossy(&refused.stderr);
    assert!(stderr.contains("--admin-token"), "{stderr}");

    // With a token it starts (on every interface: only loopback is reached here).
    let mut child = Command::new(env!("CARGO_BIN_EXE_tandem"))
        .args(["serve", "--addr", "127.0.0.1:0", "--token-secret", SECRET])
        .args(["--admin-addr", "0.0.0.0:0", "--admin-token", "t0ken"])
        .env("RUST_LOG", "warn")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let admin = within("the admin line", async {
        loop {
            let line = lines.next_line().await.unwrap().expect("a line");
            if let Some(rest) = line.strip_prefix("tandem admin on http://0.0.0.0:") {
                return rest.parse::<u16>().unwrap();
            }
        }
    })
    .await;
    let addr = SocketAddr::from(([127, 0, 0, 1], admin));
    let (status, _) = request(addr, "GET", "/rooms/r/members", &[], None).await;
    assert_eq!(status, 401);
    let good = [("Authorization", "Bearer t0ken")];
    let (status, _) = request(addr, "GET", "/rooms/r/members", &good, None).await;
    assert_eq!(status, 200);
    child.kill().await.unwrap();
}
