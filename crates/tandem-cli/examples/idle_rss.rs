//! Measures a running server's resident memory per idle connection: reads its VmRSS,
//! opens N WebSocket connections that each say hello and join one room, reads VmRSS again
//! and prints the difference per connection. A figure, not a test.
//!
//! ```sh
//! tandem serve --addr 127.0.0.1:8080 &
//! ulimit -n 20000
//! cargo run --release -p tandem-cli --example idle_rss -- ws://127.0.0.1:8080 $! 1000
//! ```

#![allow(clippy::unwrap_used)]

use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::http::HeaderValue;

fn rss_kib(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap()
}

#[tokio::main(flavor = "current_thread")]
async fn main() {
    let args: Vec<String> = std::env::args().collect();
    let [_, url, pid, count] = args.as_slice() else {
        eprintln!("usage: idle_rss <ws-url> <server-pid> <connections>");
        std::process::exit(2);
    };
    let pid: u32 = pid.parse().unwrap();
    let count: usize = count.parse().unwrap();
    let before = rss_kib(pid);
    let mut sockets = Vec::with_capacity(count);
    for i in 0..count {
        let mut req = url.as_str().into_client_request().unwrap();
        req.headers_mut().insert(
            "sec-websocket-protocol",
            HeaderValue::from_static("tandem.v1.json"),
        );
        let (mut ws, _) = tokio_tungstenite::connect_async(req).await.unwrap();
        let hello = r#"{"v":1,"k":"hello","app":{"name":"default","versions":[1]}}"#;
        ws.send(Message::text(hello)).await.unwrap();
        ws.next().await.unwrap().unwrap();
        let join = format!(r#"{{"v":1,"k":"join","id":1,"room":"idle-{}"}}"#, i % 10);
        ws.send(Message::text(join)).await.unwrap();
        ws.next().await.unwrap().unwrap();
        sockets.push(ws);
    }
    // Let the server's allocator settle; this is a measurement, not a test.
    tokio::time::sleep(Duration::from_secs(2)).await;
    let after = rss_kib(pid);
    let per = (after.saturating_sub(before) * 1024) as f64 / count as f64;
    println!(
        "{count} idle connections: server RSS {before} KiB -> {after} KiB, {per:.0} bytes per connection"
    );
    drop(sockets);
}
