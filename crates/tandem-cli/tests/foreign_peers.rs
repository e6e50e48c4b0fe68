//! Foreign peers written from PROTOCOL.md alone, a Python client on PyPI `websockets` and a
//! Node client on npm `ws` (both installed by `cargo xtask test`), talk to `tandem serve`
//! with a native Rust client in the same room: negotiate, hello, join, publish, receive.

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
