//! Foreign peers written from PROTOCOL.md alone, a Python client on PyPI `websockets` and a
//! Node client on npm `ws` (both installed by `cargo xtask test`), talk to `tandem serve`
//! with a native Rust client in the same room: negotiate, hello, join (with the room's
//! policy), publish, receive, update presence meta, send and receive ephemeral messages,
//! and page through the room's history. Each also sends bad input and gets the answers
//! PROTOCOL.md documents.

#![allow(clippy::unwrap_used)]

mod support;

use std::path::PathBuf;
use std::process::Stdio;

use serde_json::{Value, json};
use support::{Chat, TandemProcess, chat_client, messages, token, wait_for, within};
use tandem_client::Event;
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::Command;

fn foreign_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../tests/foreign")
}

/// The room's policy on the command line, away from every default so `joined` shows it.
const ROOM_POLICY: &str = "mixed:history=50,history-age=10m,max-members=8";

/// The presence meta a peer sets with `update`.
fn peer_meta(name: &str) -> Value {
    json!({"cursor": {"x": 3, "y": 4}, "by": name})
}

/// A payload as JSON, to compare it whatever its spacing.
fn json_of(payload: Option<&tandem_client::Payload>) -> Option<Value> {
    payload.map(|p| serde_json::from_str(p.get()).unwrap())
}

/// Runs a peer next to a Rust client; returns the steps it printed.
async fn exchange(program: &str, script: PathBuf, user: &str) -> Vec<Value> {
    let name = program_name(program);
    let server = TandemProcess::start(&["--room", ROOM_POLICY]).await;
    let rust = chat_client(&server.url(), "rust").await;
    let mut events = rust.events();
    let joined = rust.join("mixed").await.unwrap();
    let policy = joined.policy.expect("joined carries the room's policy");
    assert_eq!((policy.history, policy.history_ms), (50, 600_000));
    assert_eq!(policy.max_members, Some(8));

    let mut child = Command::new(program)
        .arg(&script)
        .args([server.url(), token(user), "mixed".to_owned()])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .kill_on_drop(true)
        .spawn()
        .unwrap_or_else(|e| panic!("cannot run {program} (cargo xtask test installs it): {e}"));
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();

    // The peer's publish reaches the Rust client, typed.
    let got = messages(&mut events, "mixed", 1).await;
    assert_eq!(got[0].1.n, 1);
    assert_eq!(got[0].1.text, format!("from {name}"));
    // The Rust client's publishes reach the peer.
    assert_eq!(rust.publish("mixed", &Chat::new(2)).await.unwrap(), 2);
    assert_eq!(rust.publish("mixed", &Chat::new(3)).await.unwrap(), 3);

    // The peer's presence update reaches the Rust client, and its members have it.
    let updated = wait_for(&mut events, "the peer's presence update", |e| match e {
        Event::Presence { room, updated, .. } if room == "mixed" && !updated.is_empty() => {
            Some(updated)
        }
        _ => None,
    })
    .await;
    assert_eq!(updated.len(), 1, "{updated:?}");
    assert_eq!(updated[0].user, user);
    assert_eq!(json_of(updated[0].meta.as_ref()), Some(peer_meta(name)));
    let members = rust.members("mixed").await.unwrap();
    let meta_of = |who: &str| {
        let member = members.iter().find(|m| m.user == who);
        json_of(
            member
                .unwrap_or_else(|| panic!("{who} in {members:?}"))
                .meta
                .as_ref(),
        )
    };
    assert_eq!(members.len(), 2, "{members:?}");
    assert_eq!(meta_of(user), Some(peer_meta(name)));
    assert_eq!(meta_of("rust"), None);

    // The peer's ephemeral message reaches the Rust client as one, never as a message.
    let (from, data) = wait_for(&mut events, "the peer's ephemeral message", |e| match e {
        Event::Ephemeral { room, from, data } if room == "mixed" => Some((from, data)),
        Event::Message {
            seq, from, data, ..
        } if from.as_deref() != Some("rust") => {
            panic!("a numbered message {seq} from {from:?} instead of an ephemeral one: {data:?}")
        }
        _ => None,
    })
    .await;
    assert_eq!(from.as_deref(), Some(user));
    let data = data.unwrap_or_else(|(e, raw)| panic!("undecodable ephemeral {raw}: {e}"));
    assert_eq!(
        data,
        Chat {
            n: 4,
            text: format!("ephemeral from {name}")
        }
    );
    // The Rust client's ephemeral message reaches the peer.
    let cursor = Chat {
        n: 5,
        text: "ephemeral from rust".to_owned(),
    };
    rust.broadcast("mixed", &cursor).await.unwrap();

    let status = within("the peer to finish", child.wait()).await.unwrap();
    let mut steps = Vec::new();
    while let Ok(Some(line)) = lines.next_line().await {
        steps.push(serde_json::from_str::<Value>(&line).unwrap());
    }
    assert!(status.success(), "{program} peer failed: {steps:?}");
    steps
}

fn program_name(program: &str) -> &str {
    if program.starts_with("python") {
        "python"
    } else {
        "node"
    }
}

/// The `(seq, from, n)` of each event a `history` or `page` step reports.
fn stored(step: &Value) -> Vec<(u64, &str, u64)> {
    step["events"]
        .as_array()
        .unwrap_or_else(|| panic!("no events in {step}"))
        .iter()
        .map(|e| {
            assert_eq!(e["room"], "mixed", "{step}");
            let seq = e["seq"].as_u64().unwrap_or_else(|| panic!("no seq in {e}"));
            (seq, e["from"].as_str().unwrap(), e["n"].as_u64().unwrap())
        })
        .collect()
}

fn check(steps: &[Value], user: &str, name: &str) {
    let step = |name: &str| {
        steps
            .iter()
            .find(|s| s["step"] == name)
            .unwrap_or_else(|| panic!("no {name} step in {steps:?}"))
    };
    let all = |name: &'static str| steps.iter().filter(move |s| s["step"] == name);
    assert_eq!(step("negotiated")["protocol"], "tandem.v1.json");
    assert_eq!(step("welcome")["user"], user);
    let joined = step("joined");
    let members: Vec<&str> = joined["members"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m.as_str().unwrap())
        .collect();
    assert_eq!(members, [user, "rust"]);
    // The policy `joined` announces: every documented field, with the room's values.
    let policy = &joined["policy"];
    assert!(policy.is_object(), "joined without a policy: {joined}");
    assert_eq!(policy["history"], 50, "{policy}");
    assert_eq!(policy["history_ms"], 600_000, "{policy}");
    assert_eq!(policy["history_bytes"], 1 << 20, "{policy}");
    assert_eq!(policy["numbered"], true, "{policy}");
    assert_eq!(policy["presence"], true, "{policy}");
    assert_eq!(policy["max_members"], 8, "{policy}");
    let epoch = joined["epoch"].as_u64().unwrap();

    assert_eq!(step("ack")["seq"], 1);
    let events: Vec<(&Value, &Value, &Value)> = all("event")
        .map(|e| (&e["sender"], &e["data"]["n"], &e["seq"]))
        .collect();
    assert_eq!(
        events,
        [
            (&json!("rust"), &json!(2), &json!(2)),
            (&json!("rust"), &json!(3), &json!(3))
        ]
    );

    // update: an ack without seq, and `updated` on the updater's own connection too.
    let ack = step("update_ack");
    assert_eq!(
        (&ack["id"], &ack["has_seq"]),
        (&json!(3), &json!(false)),
        "{ack}"
    );
    let presence = step("presence_updated");
    assert_eq!(presence["room"], "mixed");
    assert_eq!(
        presence["updated"],
        json!([{"user": user, "meta": peer_meta(name)}])
    );

    // ephemeral: acked without seq, never echoed; the Rust client's arrives without seq.
    let ack = step("ephemeral_ack");
    assert_eq!(
        (&ack["id"], &ack["has_seq"]),
        (&json!(4), &json!(false)),
        "{ack}"
    );
    assert_eq!(
        ack["echoed"], false,
        "the publisher got its own ephemeral message back"
    );
    let ephemeral = step("ephemeral_event");
    assert_eq!(ephemeral["sender"], "rust");
    assert_eq!(
        ephemeral["data"],
        json!({"n": 5, "text": "ephemeral from rust"})
    );
    assert_eq!(ephemeral["has_seq"], false, "{ephemeral}");

    // history: the three numbered messages (not the ephemeral ones), oldest first.
    let published = [(1, user, 1), (2, "rust", 2), (3, "rust", 3)];
    let whole = step("history");
    assert_eq!(whole["epoch"], epoch, "{whole}");
    assert_eq!(stored(whole), published);
    assert_eq!(whole["more"], false, "{whole}");
    // Pages of 2 from the newest, each older than the last: every message exactly once.
    let pages: Vec<&Value> = all("page").collect();
    assert_eq!(pages.len(), 2, "{pages:?}");
    assert_eq!(pages[0]["query"], json!({"limit": 2}));
    assert_eq!(stored(pages[0]), published[1..]);
    assert_eq!(pages[0]["more"], true, "{}", pages[0]);
    assert_eq!(pages[1]["query"], json!({"before": 2, "limit": 2}));
    assert_eq!(stored(pages[1]), published[..1]);
    assert_eq!(pages[1]["more"], false, "{}", pages[1]);
    for page in &pages {
        assert_eq!(page["epoch"], epoch, "{page}");
    }
    let nowhere = step("unknown_room_page");
    assert_eq!(nowhere["room"], "mixed/nobody-here");
    assert_eq!(
        (&nowhere["epoch"], &nowhere["more"]),
        (&json!(0), &json!(false))
    );
    assert_eq!(nowhere["events"], json!([]));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn python_websockets_peer_talks_to_a_rust_client() {
    let steps = exchange("python3", foreign_dir().join("python/peer.py"), "py").await;
    check(&steps, "py", "python");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn node_ws_peer_talks_to_a_rust_client() {
    let steps = exchange("node", foreign_dir().join("node/peer.mjs"), "js").await;
    check(&steps, "js", "node");
}

/// Runs a bad-input peer against `tandem serve`; returns the answers it printed.
async fn bad_input(program: &str, script: PathBuf) -> Vec<Value> {
    let server = TandemProcess::start(&[]).await;
    let mut child = Command::new(program)
        .arg(&script)
        .args([server.url(), token("mallory"), "lobby".to_owned()])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .kill_on_drop(true)
        .spawn()
        .unwrap_or_else(|e| panic!("cannot run {program} (cargo xtask test installs it): {e}"));
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let status = within("the peer to finish", child.wait()).await.unwrap();
    let mut steps = Vec::new();
    while let Ok(Some(line)) = lines.next_line().await {
        steps.push(serde_json::from_str::<Value>(&line).unwrap());
    }
    assert!(status.success(), "{program} peer failed: {steps:?}");
    assert!(server.healthy().await, "the server stays up");
    steps
}

/// The answers PROTOCOL.md gives, as a peer written from it sees them: `unknown_kind`
/// before the id's type, a payload giving a key twice refused, `update` and `history`
/// fields of the wrong type and an `update` outside the room refused, invalid UTF-8 closed
/// 1007.
fn check_bad_input(steps: &[Value]) {
    let step = |name: &str| {
        steps
            .iter()
            .find(|s| s["step"] == name)
            .unwrap_or_else(|| panic!("no {name} step in {steps:?}"))
    };
    let unknown = step("unknown_kind");
    assert_eq!(unknown["code"], "unknown_kind", "{unknown}");
    assert_eq!(unknown["has_id"], false, "{unknown}");
    let twice = step("duplicate_keys");
    assert_eq!(twice["code"], "malformed_frame", "{twice}");
    assert!(
        twice["message"].as_str().unwrap().contains("twice"),
        "{twice}"
    );
    // update and history, bad: the type named by its path, or the room not joined.
    let id = step("update_id_type");
    assert_eq!(id["code"], "wrong_type", "{id}");
    assert_eq!(id["has_id"], false, "{id}");
    assert!(id["message"].as_str().unwrap().contains("`id`"), "{id}");
    let room = step("update_room_type");
    assert_eq!(
        (&room["code"], &room["id"]),
        (&json!("wrong_type"), &json!(3)),
        "{room}"
    );
    assert!(
        room["message"].as_str().unwrap().contains("`room`"),
        "{room}"
    );
    let elsewhere = step("update_not_joined");
    assert_eq!(elsewhere["code"], "not_joined", "{elsewhere}");
    assert_eq!(elsewhere["id"], 4, "{elsewhere}");
    assert_eq!(elsewhere["room"], "lobby/elsewhere", "{elsewhere}");
    let limit = step("history_limit_type");
    assert_eq!(
        (&limit["code"], &limit["id"]),
        (&json!("wrong_type"), &json!(5)),
        "{limit}"
    );
    assert!(
        limit["message"].as_str().unwrap().contains("`limit`"),
        "{limit}"
    );
    let utf8 = step("invalid_utf8");
    assert_eq!(utf8["code"], 1007, "{utf8}");
    assert!(utf8["reason"].as_str().unwrap().contains("UTF-8"), "{utf8}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn python_websockets_peer_gets_the_documented_answers_to_bad_input() {
    let steps = bad_input("python3", foreign_dir().join("python/bad_input.py")).await;
    check_bad_input(&steps);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn node_ws_peer_gets_the_documented_answers_to_bad_input() {
    let steps = bad_input("node", foreign_dir().join("node/bad_input.mjs")).await;
    check_bad_input(&steps);
}
