//! Foreign peers written from PROTOCOL.md alone, a Python client on PyPI `websockets` and a
//! Node client on npm `ws` (both installed by `cargo xtask test`), talk to `tandem serve`
//! with a native Rust client in the same room: negotiate, hello, join, publish, receive.
//! Each also sends bad input and gets the answers PROTOCOL.md documents.

#![allow(clippy::unwrap_used)]

mod support;

use std::path::PathBuf;
use std::process::Stdio;

use serde_json::Value;
use support::{Chat, TandemProcess, chat_client, messages, token, within};
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::Command;

fn foreign_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../tests/foreign")
}

/// Runs a peer next to a Rust client; returns the steps it printed.
async fn exchange(program: &str, script: PathBuf, user: &str) -> Vec<Value> {
    let server = TandemProcess::start(&[]).await;
    let rust = chat_client(&server.url(), "rust").await;
    let mut events = rust.events();
    rust.join("mixed").await.unwrap();

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
    assert_eq!(got[0].1.text, format!("from {}", program_name(program)));
    // The Rust client's publish reaches the peer.
    rust.publish("mixed", &Chat::new(2)).await.unwrap();

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

fn check(steps: &[Value], user: &str) {
    let step = |name: &str| {
        steps
            .iter()
            .find(|s| s["step"] == name)
            .unwrap_or_else(|| panic!("no {name} step in {steps:?}"))
    };
    assert_eq!(step("negotiated")["protocol"], "tandem.v1.json");
    assert_eq!(step("welcome")["user"], user);
    let members: Vec<&str> = step("joined")["members"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m.as_str().unwrap())
        .collect();
    assert_eq!(members, [user, "rust"]);
    assert_eq!(step("ack")["seq"], 1);
    let event = step("event");
    assert_eq!(event["sender"], "rust");
    assert_eq!(event["data"]["n"], 2);
    assert_eq!(event["seq"], 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn python_websockets_peer_talks_to_a_rust_client() {
    let steps = exchange("python3", foreign_dir().join("python/peer.py"), "py").await;
    check(&steps, "py");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn node_ws_peer_talks_to_a_rust_client() {
    let steps = exchange("node", foreign_dir().join("node/peer.mjs"), "js").await;
    check(&steps, "js");
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
/// before the id's type, a payload giving a key twice refused, invalid UTF-8 closed 1007.
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
