//! The rights a token's `rooms` claim grants, enforced by `tandem serve` on every
//! operation, one test per right; the `info` claim shown with the member on every node; a
//! session renewing its token in band, and closed with 4002 without a fresh one.
//! Raw WebSocket clients, so each frame the server sends is seen as it is.

#![allow(clippy::unwrap_used)]

mod support;

use std::time::{SystemTime, UNIX_EPOCH};

use serde_json::{Value, json};
use support::raw::{Raw, recv, send, until_closed, welcomed};
use support::redis::{RedisProcess, node};
use support::{SECRET, TandemProcess};
use tandem_server::{Claims, JwtSigner, RoomGrants};

fn now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs()
}

/// A token for `user` granting `rooms` (the claim's JSON), with `info`, for `ttl`.
fn token(user: &str, rooms: Option<Value>, info: Option<Value>, ttl: u64) -> String {
    let mut claims = Claims::new(user, now() + ttl);
    claims.rooms = rooms.map(|r| serde_json::from_value::<RoomGrants>(r).unwrap());
    claims.info = info;
    JwtSigner::hs256(SECRET).sign(&claims).unwrap()
}

/// A connection of `user` with these `rooms`, welcomed.
async fn client(server: &TandemProcess, user: &str, rooms: Value) -> Raw {
    welcomed(server.addr(), &token(user, Some(rooms), None, 3600)).await
}

/// Sends `frame` and returns the server's next frame (its answer).
async fn ask(ws: &mut Raw, frame: Value) -> Value {
    send(ws, &frame.to_string()).await;
    recv(ws).await
}

/// Skips frames until one of kind `k` with `id` (when given) arrives.
async fn answer(ws: &mut Raw, k: &str, id: Option<u64>) -> Value {
    loop {
        let f = recv(ws).await;
        if f["k"] == k && id.is_none_or(|id| f["id"] == id) {
            return f;
        }
    }
}

#[track_caller]
fn assert_forbidden(answer: &Value, id: u64, room: &str, right: &str) {
    assert_eq!(answer["k"], "error", "{answer}");
    assert_eq!(answer["code"], "forbidden", "{answer}");
    assert_eq!(answer["id"], id, "{answer}");
    assert_eq!(answer["room"], room, "{answer}");
    let message = answer["message"].as_str().unwrap();
    assert!(message.contains(right), "{message}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_subscribe_right_decides_which_rooms_a_connection_joins() {
    let server = TandemProcess::start(&[]).await;
    let mut ws = client(&server, "ada", json!(["lobby", "docs/*"])).await;
    for (id, room) in [(1, "secret"), (2, "docs")] {
        let a = ask(&mut ws, json!({"v":1,"k":"join","id":id,"room":room})).await;
        assert_forbidden(&a, id, room, "subscribe");
    }
    // Refused, the connection stays open and joins what the token grants.
    for (id, room) in [(3, "lobby"), (4, "docs/plan")] {
        let a = ask(&mut ws, json!({"v":1,"k":"join","id":id,"room":room})).await;
        assert_eq!(a["k"], "joined", "{a}");
    }
    // A request about a room needs the same right.
    let a = ask(
        &mut ws,
        json!({"v":1,"k":"request","id":5,"room":"secret","data":1}),
    )
    .await;
    assert_forbidden(&a, 5, "secret", "subscribe");
    // A token without `rooms` may join every room.
    let mut free = welcomed(server.addr(), &token("bob", None, None, 3600)).await;
    let a = ask(&mut free, json!({"v":1,"k":"join","id":1,"room":"secret"})).await;
    assert_eq!(a["k"], "joined", "{a}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_publish_right_decides_numbered_and_ephemeral_messages() {
    let server = TandemProcess::start(&[]).await;
    let rooms = json!({"talk": ["subscribe", "publish"], "stage": ["subscribe"]});
    let mut ws = client(&server, "ada", rooms).await;
    for (id, room) in [(1, "talk"), (2, "stage")] {
        let a = ask(&mut ws, json!({"v":1,"k":"join","id":id,"room":room})).await;
        assert_eq!(a["k"], "joined", "{a}");
    }
    let a = ask(
        &mut ws,
        json!({"v":1,"k":"publish","id":3,"room":"stage","data":"hi"}),
    )
    .await;
    assert_forbidden(&a, 3, "stage", "publish");
    let a = ask(
        &mut ws,
        json!({"v":1,"k":"publish","id":4,"room":"stage","data":"hi","ephemeral":true,"ack":true}),
    )
    .await;
    assert_forbidden(&a, 4, "stage", "publish");
    send(
        &mut ws,
        &json!({"v":1,"k":"publish","id":5,"room":"talk","data":"hi"}).to_string(),
    )
    .await;
    let ack = answer(&mut ws, "ack", Some(5)).await;
    assert_eq!(ack["seq"], 1, "{ack}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_presence_right_decides_who_sets_presence_state() {
    let server = TandemProcess::start(&[]).await;
    let rooms = json!({"board": ["subscribe", "presence"], "hall": ["subscribe"]});
    let mut ws = client(&server, "ada", rooms).await;
    let a = ask(
        &mut ws,
        json!({"v":1,"k":"join","id":1,"room":"hall","meta":{"name":"Ada"}}),
    )
    .await;
    assert_forbidden(&a, 1, "hall", "presence");
    let a = ask(&mut ws, json!({"v":1,"k":"join","id":2,"room":"hall"})).await;
    assert_eq!(a["k"], "joined", "{a}");
    let a = ask(
        &mut ws,
        json!({"v":1,"k":"update","id":3,"room":"hall","meta":{"typing":true}}),
    )
    .await;
    assert_forbidden(&a, 3, "hall", "presence");
    let a = ask(
        &mut ws,
        json!({"v":1,"k":"join","id":4,"room":"board","meta":{"name":"Ada"}}),
    )
    .await;
    assert_eq!(a["k"], "joined", "{a}");
    send(
        &mut ws,
        &json!({"v":1,"k":"update","id":5,"room":"board","meta":{"typing":true}}).to_string(),
    )
    .await;
    answer(&mut ws, "ack", Some(5)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_history_right_decides_who_reads_stored_messages() {
    let server = TandemProcess::start(&[]).await;
    let mut writer = client(&server, "bob", json!(["log"])).await;
    let a = ask(&mut writer, json!({"v":1,"k":"join","id":1,"room":"log"})).await;
    assert_eq!(a["k"], "joined", "{a}");
    let published = json!({"v":1,"k":"publish","id":2,"room":"log","data":"entry"});
    send(&mut writer, &published.to_string()).await;
    answer(&mut writer, "ack", Some(2)).await;

    let mut reader = client(&server, "ada", json!({"log": ["subscribe"]})).await;
    let a = ask(
        &mut reader,
        json!({"v":1,"k":"history","id":1,"room":"log"}),
    )
    .await;
    assert_forbidden(&a, 1, "log", "history");
    let a = ask(
        &mut reader,
        json!({"v":1,"k":"join","id":2,"room":"log","history":10}),
    )
    .await;
    assert_forbidden(&a, 2, "log", "history");

    let mut archivist = client(&server, "eve", json!({"log": ["subscribe", "history"]})).await;
    let page = ask(
        &mut archivist,
        json!({"v":1,"k":"history","id":1,"room":"log"}),
    )
    .await;
    assert_eq!(page["k"], "page", "{page}");
    assert_eq!(page["events"][0]["data"], "entry", "{page}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_info_claim_rides_with_the_member_on_every_node() {
    let redis = RedisProcess::start().await;
    let one = node(&redis, &[]).await;
    let two = node(&redis, &[]).await;
    let info = json!({"name": "Ada Lovelace", "role": "editor"});
    let mut bob = welcomed(two.addr(), &token("bob", None, None, 3600)).await;
    let a = ask(&mut bob, json!({"v":1,"k":"join","id":1,"room":"doc"})).await;
    assert_eq!(a["k"], "joined", "{a}");

    let ada_token = token("ada", None, Some(info.clone()), 3600);
    let mut ada = welcomed(one.addr(), &ada_token).await;
    let joined = ask(
        &mut ada,
        json!({"v":1,"k":"join","id":1,"room":"doc","meta":{"c":1}}),
    )
    .await;
    assert_eq!(joined["k"], "joined", "{joined}");
    let arrived = answer(&mut bob, "presence", None).await;
    assert_eq!(arrived["joined"][0]["user"], "ada", "{arrived}");
    assert_eq!(arrived["joined"][0]["info"], info, "{arrived}");
    assert_eq!(arrived["joined"][0]["meta"], json!({"c":1}), "{arrived}");

    // An update changes the meta; the issuer's info stays, whatever the client sends.
    let update = json!({"v":1,"k":"update","id":2,"room":"doc","meta":{"info":"forged"}});
    send(&mut ada, &update.to_string()).await;
    let updated = answer(&mut bob, "presence", None).await;
    assert_eq!(updated["updated"][0]["info"], info, "{updated}");
    assert_eq!(updated["updated"][0]["meta"], json!({"info":"forged"}));

    // A newcomer on the other node reads it from Redis.
    let mut carol = welcomed(two.addr(), &token("carol", None, None, 3600)).await;
    let snapshot = ask(&mut carol, json!({"v":1,"k":"join","id":1,"room":"doc"})).await;
    let listed = snapshot["presence"].as_array().unwrap();
    let ada_listed = listed.iter().find(|m| m["user"] == "ada").unwrap();
    assert_eq!(ada_listed["info"], info, "{snapshot}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_session_renews_its_token_in_band_and_without_one_closes_with_4002() {
    let server = TandemProcess::start(&[]).await;
    // Four seconds of life: the server asks at half of it.
    let mut ws = welcomed(server.addr(), &token("ada", None, None, 4)).await;
    let a = ask(&mut ws, json!({"v":1,"k":"join","id":1,"room":"r"})).await;
    assert_eq!(a["k"], "joined", "{a}");
    let refresh = answer(&mut ws, "refresh", None).await;
    assert!(
        refresh["expires_in_ms"].as_u64().unwrap() <= 4_000,
        "{refresh}"
    );

    // A token for someone else is refused; the session goes on.
    let foreign = token("mallory", None, None, 3600);
    let a = ask(&mut ws, json!({"v":1,"k":"token","id":2,"token":foreign})).await;
    assert_eq!(a["code"], "unauthorized", "{a}");
    assert_eq!(a["id"], 2, "{a}");

    // Another short token: its own refresh comes after the first token expired, and
    // the session is still open and in its room.
    let fresh = token("ada", None, None, 6);
    let a = ask(&mut ws, json!({"v":1,"k":"token","id":3,"token":fresh})).await;
    assert_eq!(a, json!({"v":1,"k":"ack","id":3}));
    answer(&mut ws, "refresh", None).await;
    send(
        &mut ws,
        &json!({"v":1,"k":"publish","id":4,"room":"r","data":1}).to_string(),
    )
    .await;
    answer(&mut ws, "ack", Some(4)).await;

    // No fresh token this time: `error` `token_expired`, then 4002.
    let (code, frames) = until_closed(&mut ws).await;
    assert_eq!(code, Some(4002), "{frames:?}");
    assert!(
        frames.iter().any(|f| f["code"] == "token_expired"),
        "{frames:?}"
    );
    assert!(server.healthy().await);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_fresh_token_with_fewer_rooms_takes_the_session_out_of_the_others() {
    let server = TandemProcess::start(&[]).await;
    let mut ws = client(&server, "ada", json!(["a", "b"])).await;
    for (id, room) in [(1, "a"), (2, "b")] {
        let a = ask(&mut ws, json!({"v":1,"k":"join","id":id,"room":room})).await;
        assert_eq!(a["k"], "joined", "{a}");
    }
    let narrower = token("ada", Some(json!(["a"])), None, 3600);
    send(
        &mut ws,
        &json!({"v":1,"k":"token","id":3,"token":narrower}).to_string(),
    )
    .await;
    let out = recv(&mut ws).await;
    assert_eq!(out["k"], "unsubscribed", "{out}");
    assert_eq!(out["room"], "b", "{out}");
    assert_eq!(recv(&mut ws).await, json!({"v":1,"k":"ack","id":3}));
}
