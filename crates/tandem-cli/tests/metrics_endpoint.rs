//! `GET /metrics` of a `tandem serve` process, read as text (no Prometheus): after native
//! and raw clients connect, join, publish numbered and ephemeral messages, send a bad
//! frame, present a forged token, come from a foreign origin and close, every series shows
//! what they did; no label holds a room or a user; `--metrics-addr` serves the same.

#![allow(clippy::unwrap_used)]

mod support;

use support::metrics::{ServeWithMetrics, http_get, sample};
use support::{Chat, WAIT, chat_client, messages, raw, token, wait_for};
use tandem_client::Event;
use tokio_tungstenite::tungstenite::protocol::CloseFrame;
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;

/// The sample values the load below implies, read once the last close has been counted.
const EXPECTED: [(&str, f64); 20] = [
    ("tandem_connections", 1.0),
    ("tandem_connections_opened_total", 4.0),
    ("tandem_handshakes_refused_total{status=\"403\"}", 1.0),
    ("tandem_handshakes_refused_total{status=\"400\"}", 0.0),
    ("tandem_rooms", 1.0),
    ("tandem_room_members", 1.0),
    ("tandem_publishes_total{kind=\"numbered\"}", 3.0),
    ("tandem_publishes_total{kind=\"ephemeral\"}", 2.0),
    // Numbered: to both members, the publisher too; ephemeral: to the other one.
    ("tandem_deliveries_total{kind=\"numbered\"}", 6.0),
    ("tandem_deliveries_total{kind=\"ephemeral\"}", 2.0),
    ("tandem_sent_frames_total{class=\"ephemeral\"}", 2.0),
    ("tandem_joins_total", 2.0),
    ("tandem_resumes_total{recovered=\"false\"}", 0.0),
    ("tandem_bad_frames_total{class=\"malformed_frame\"}", 1.0),
    ("tandem_bad_frames_total{class=\"wrong_type\"}", 0.0),
    ("tandem_auth_failures_total{code=\"unauthorized\"}", 1.0),
    ("tandem_error_frames_total{code=\"unauthorized\"}", 1.0),
    ("tandem_rate_limited_frames_total", 0.0),
    ("tandem_closes_total{by=\"server\",code=\"4001\"}", 1.0),
    ("tandem_closes_total{by=\"client\",code=\"1000\"}", 2.0),
];

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn metrics_show_what_the_clients_did() {
    let server = ServeWithMetrics::start(&[]).await;
    let url = format!("ws://{}", server.addr);

    // Before anything: every series is there, at zero.
    let (status, head, text) = http_get(server.addr, "/metrics").await;
    assert_eq!(status, 200, "{head}");
    assert!(
        head.contains("Content-Type: application/openmetrics-text; version=1.0.0"),
        "{head}"
    );
    assert_eq!(sample(&text, "tandem_connections_opened_total"), Some(0.0));
    assert_eq!(
        sample(&text, "tandem_publishes_total{kind=\"numbered\"}"),
        Some(0.0)
    );

    let alice = chat_client(&url, "alice").await;
    let bob = chat_client(&url, "bob").await;
    let mut bob_events = bob.events();
    alice.join("lobby").await.unwrap();
    bob.join("lobby").await.unwrap();
    for n in 0..3 {
        alice.publish("lobby", &Chat::new(n)).await.unwrap();
    }
    for n in 0..2 {
        alice
            .broadcast_acked("lobby", &Chat::new(100 + n))
            .await
            .unwrap();
    }
    assert_eq!(messages(&mut bob_events, "lobby", 3).await.len(), 3);
    for n in 0..2 {
        let got = wait_for(&mut bob_events, "an ephemeral message", |e| match e {
            Event::Ephemeral { data: Ok(c), .. } => Some(c),
            _ => None,
        })
        .await;
        assert_eq!(got, Chat::new(100 + n));
    }

    // A bad frame: answered, the connection stays; then a clean close (1000).
    let mut carol = raw::welcomed(server.addr, &token("carol")).await;
    raw::send(&mut carol, "{nope").await;
    assert_eq!(raw::recv(&mut carol).await["code"], "malformed_frame");
    let normal = CloseFrame {
        code: CloseCode::Normal,
        reason: "".into(),
    };
    carol.close(Some(normal)).await.unwrap();
    // A forged token: unauthorized, closed with 4001 by the server.
    let mut forger = raw::open(server.addr, "tandem.v1.json", None)
        .await
        .unwrap();
    raw::send(
        &mut forger,
        r#"{"v":1,"k":"hello","app":{"name":"default","versions":[1]},"token":"forged"}"#,
    )
    .await;
    assert_eq!(raw::until_closed(&mut forger).await.0, Some(4001));
    // A foreign origin: 403 before any WebSocket.
    let foreign = raw::open(server.addr, "tandem.v1.json", Some("http://elsewhere.test")).await;
    assert!(foreign.is_err(), "a foreign origin is refused");
    alice.close().await;

    let text = tokio::time::timeout(WAIT, async {
        loop {
            let (_, _, text) = http_get(server.addr, "/metrics").await;
            let closes = "tandem_closes_total{by=\"client\",code=\"1000\"}";
            if sample(&text, "tandem_connections") == Some(1.0)
                && sample(&text, closes) == Some(2.0)
            {
                return text;
            }
            tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        }
    })
    .await
    .expect("the closes counted within the wait");
    for (name, value) in EXPECTED {
        assert_eq!(sample(&text, name), Some(value), "{name} in\n{text}");
    }
    let positive = [
        "tandem_received_frames_total",
        "tandem_received_bytes_total",
        "tandem_sent_bytes_total{class=\"live\"}",
        "tandem_sent_frames_total{class=\"replay\"}",
        "tandem_outbox_depth_count",
        "tandem_outbox_depth_bucket{le=\"+Inf\"}",
        "tandem_build_info{version=\"0.1.0\"}",
    ];
    for name in positive {
        assert!(
            sample(&text, name).is_some_and(|v| v > 0.0),
            "{name} in\n{text}"
        );
    }
    // Bounded labels: no room name, no user.
    for chosen in ["lobby", "alice", "bob", "carol"] {
        assert!(!text.contains(chosen), "{chosen} in a label:\n{text}");
    }

    // The metrics port answers the same series, and nothing else.
    let (status, head, other) = http_get(server.metrics_addr, "/metrics").await;
    assert_eq!(status, 200, "{head}");
    assert_eq!(
        sample(&other, "tandem_publishes_total{kind=\"numbered\"}"),
        Some(3.0)
    );
    assert_eq!(http_get(server.metrics_addr, "/healthz").await.0, 404);
    server.stop().await;
}
