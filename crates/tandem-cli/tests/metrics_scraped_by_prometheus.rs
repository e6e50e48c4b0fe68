//! A real Prometheus (Debian's `prometheus`) scrapes a `tandem serve` process every second
//! while native clients connect, join, publish numbered and ephemeral messages, send a bad
//! frame and close; its query API then shows the series with the values the load implies.
//! Every wait polls the query API within a bound; nothing sleeps to synchronise.

#![allow(clippy::unwrap_used)]

mod support;

use support::metrics::{PrometheusProcess, ServeWithMetrics};
use support::{Chat, chat_client, messages, raw, token, wait_for};
use tandem_client::Event;
use tokio_tungstenite::tungstenite::protocol::CloseFrame;
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;

/// Numbered and ephemeral messages the publisher sends.
const NUMBERED: u32 = 5;
const EPHEMERAL: u32 = 4;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn prometheus_scrapes_what_the_clients_did() {
    let server = ServeWithMetrics::start(&[]).await;
    let prometheus = PrometheusProcess::start(server.addr).await;
    // Scraped, healthy, and the build is known.
    prometheus
        .wait_for(r#"up{job="tandem"}"#, |v| v == 1.0)
        .await;
    prometheus
        .wait_for(r#"tandem_build_info{version="0.1.0"}"#, |v| v == 1.0)
        .await;
    prometheus
        .wait_for("tandem_connections_opened_total", |v| v == 0.0)
        .await;

    let url = format!("ws://{}", server.addr);
    let alice = chat_client(&url, "alice").await;
    let bob = chat_client(&url, "bob").await;
    let mut bob_events = bob.events();
    alice.join("room").await.unwrap();
    bob.join("room").await.unwrap();
    for n in 0..NUMBERED {
        alice.publish("room", &Chat::new(n)).await.unwrap();
    }
    for n in 0..EPHEMERAL {
        alice.broadcast_acked("room", &Chat::new(n)).await.unwrap();
    }
    messages(&mut bob_events, "room", NUMBERED as usize).await;
    for _ in 0..EPHEMERAL {
        wait_for(&mut bob_events, "an ephemeral message", |e| match e {
            Event::Ephemeral { .. } => Some(()),
            _ => None,
        })
        .await;
    }
    // While three are open, the gauge shows them.
    let mut carol = raw::welcomed(server.addr, &token("carol")).await;
    prometheus
        .wait_for("tandem_connections", |v| v == 3.0)
        .await;
    raw::send(&mut carol, r#"{"v":1,"k":"join","id":1,"room":7}"#).await;
    assert_eq!(raw::recv(&mut carol).await["code"], "wrong_type");
    let normal = CloseFrame {
        code: CloseCode::Normal,
        reason: "".into(),
    };
    carol.close(Some(normal)).await.unwrap();
    alice.close().await;

    let (n, e) = (f64::from(NUMBERED), f64::from(EPHEMERAL));
    for (expr, want) in [
        (r#"tandem_publishes_total{kind="numbered"}"#, n),
        (r#"tandem_publishes_total{kind="ephemeral"}"#, e),
        // To both members (the publisher too); ephemeral only to the other one.
        (r#"tandem_deliveries_total{kind="numbered"}"#, 2.0 * n),
        (r#"tandem_deliveries_total{kind="ephemeral"}"#, e),
        (r#"tandem_bad_frames_total{class="wrong_type"}"#, 1.0),
        (r#"tandem_bad_frames_total{class="malformed_frame"}"#, 0.0),
        (r#"tandem_closes_total{by="client",code="1000"}"#, 2.0),
        ("tandem_connections_opened_total", 3.0),
        ("tandem_connections", 1.0),
        ("tandem_rooms", 1.0),
        ("tandem_room_members", 1.0),
        ("tandem_joins_total", 2.0),
        (r#"tandem_handshakes_refused_total{status="403"}"#, 0.0),
        (r#"tandem_broker_up{broker="memory"}"#, 1.0),
    ] {
        prometheus.wait_for(expr, |v| v == want).await;
    }
    // What PromQL computes over the scraped series.
    prometheus
        .wait_for("sum(tandem_sent_bytes_total) > 0", |v| v > 0.0)
        .await;
    prometheus
        .wait_for(
            r#"histogram_quantile(0.99, rate(tandem_outbox_depth_bucket[1m])) >= 1"#,
            |v| v >= 1.0,
        )
        .await;
    prometheus.stop().await;
    server.stop().await;
}
