//! `tandem serve`'s logs written to a pipe: with `--log-format json` every line is one
//! JSON object, and the lines of a connection's work carry its span (its id, and its user
//! once welcomed); as text they carry the span too, and no ANSI colour codes.

#![allow(clippy::unwrap_used)]

mod support;

use std::process::Stdio;

use serde_json::Value;
use support::{Chat, SECRET, chat_client, within};
use tokio::io::{AsyncBufReadExt, BufReader, Lines};
use tokio::process::{Child, ChildStderr, Command};

/// A `tandem serve` logging at debug in `format`, its stderr piped here.
async fn start(format: &str) -> (Child, String, Lines<BufReader<ChildStderr>>) {
    let mut child = Command::new(env!("CARGO_BIN_EXE_tandem"))
        .args(["serve", "--addr", "127.0.0.1:0", "--token-secret", SECRET])
        .args(["--log-format", format, "--log", "debug"])
        .env_remove("RUST_LOG")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .expect("the tandem binary starts");
    let mut stdout = BufReader::new(child.stdout.take().unwrap()).lines();
    let line = within("the address", stdout.next_line())
        .await
        .unwrap()
        .unwrap();
    let addr = line
        .strip_prefix("tandem listening on http://")
        .unwrap()
        .to_owned();
    tokio::spawn(async move { while let Ok(Some(_)) = stdout.next_line().await {} });
    let stderr = BufReader::new(child.stderr.take().unwrap()).lines();
    (child, format!("ws://{addr}"), stderr)
}

/// One connection's life: welcomed as `dora`, joins, publishes, closes. Returns its id.
async fn one_connection(url: &str) -> u64 {
    let client = chat_client(url, "dora").await;
    let session = client.session().unwrap();
    client.join("room").await.unwrap();
    client.publish("room", &Chat::new(1)).await.unwrap();
    client.close().await;
    session.strip_prefix('c').unwrap().parse().unwrap()
}

/// Reads stderr up to the line for which `last` holds, then (after SIGTERM) to its end.
async fn lines_until(
    child: &mut Child,
    stderr: &mut Lines<BufReader<ChildStderr>>,
    last: impl Fn(&str) -> bool,
) -> Vec<String> {
    let mut lines = Vec::new();
    within("the connection's last log line", async {
        while let Some(line) = stderr.next_line().await.unwrap() {
            let done = last(&line);
            lines.push(line);
            if done {
                return;
            }
        }
        panic!("stderr ended before the line; got {lines:#?}");
    })
    .await;
    let pid = child.id().unwrap().to_string();
    let status = std::process::Command::new("kill")
        .args(["-TERM", &pid])
        .status()
        .unwrap();
    assert!(status.success());
    within("the rest of the log", async {
        while let Some(line) = stderr.next_line().await.unwrap() {
            lines.push(line);
        }
    })
    .await;
    within("the server to stop", child.wait()).await.unwrap();
    lines
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn json_lines_parse_and_carry_the_connection() {
    let (mut child, url, mut stderr) = start("json").await;
    let conn = one_connection(&url).await;
    let lines = lines_until(&mut child, &mut stderr, |l| l.contains("\"disconnected\"")).await;
    let parsed: Vec<Value> = lines
        .iter()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("not JSON ({e}): {l:?}")))
        .collect();
    for line in &parsed {
        assert!(line["timestamp"].is_string(), "{line}");
        assert!(line["level"].is_string(), "{line}");
        assert!(line["fields"].is_object(), "{line}");
    }
    let message = |l: &Value, m: &str| l["fields"]["message"] == m;
    let about = |m: &str| {
        parsed
            .iter()
            .find(|l| message(l, m) && l["fields"]["conn"] == conn)
            .unwrap_or_else(|| panic!("no {m:?} line for conn {conn}: {lines:#?}"))
    };
    let connected = about("connected");
    assert_eq!(connected["span"]["name"], "conn", "{connected}");
    assert_eq!(connected["span"]["id"], conn, "{connected}");
    let disconnected = about("disconnected");
    assert_eq!(disconnected["span"]["id"], conn, "{disconnected}");
    assert_eq!(
        disconnected["span"]["user"], "dora",
        "the user is known once welcomed: {disconnected}"
    );
    // Every line inside a connection's span names that connection.
    for line in parsed.iter().filter(|l| l["span"]["name"] == "conn") {
        assert_eq!(line["span"]["id"], conn, "{line}");
    }
    assert!(
        parsed.iter().any(|l| message(l, "shutting down")),
        "the whole log, to the end: {lines:#?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn text_to_a_pipe_has_no_colour_codes_and_carries_the_connection() {
    let (mut child, url, mut stderr) = start("text").await;
    let conn = one_connection(&url).await;
    let lines = lines_until(&mut child, &mut stderr, |l| l.contains("disconnected")).await;
    for line in &lines {
        assert!(!line.contains("\x1b["), "an ANSI code in {line:?}");
    }
    let span = format!("conn{{id={conn} user=dora}}");
    assert!(
        lines
            .iter()
            .any(|l| l.contains(&span) && l.contains("disconnected")),
        "no line in {span}: {lines:#?}"
    );
}
