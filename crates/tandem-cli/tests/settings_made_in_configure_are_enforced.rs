//! A protocol limit set through `ServerBuilder::configure` is the one the server enforces:
//! building (and setting IO `Limits` afterwards) copies nothing over it.

#![allow(clippy::unwrap_used)]

mod support;

use support::raw;
use tandem_server::{Limits, Server};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rate_rooms_and_message_size_set_in_configure_are_enforced() {
    let running = Server::builder()
        .configure(|c| {
            c.rate.per_second = 1;
            c.rate.burst = 4;
            c.hub.max_rooms_per_conn = 1;
            c.max_frame_bytes = 300;
        })
        // IO limits set after the protocol's leave them alone.
        .limits(Limits::default())
        .build()
        .bind("127.0.0.1:0")
        .await
        .unwrap();
    let addr = running.local_addr();

    // One room per connection: the second join is refused (the default allows 64).
    let mut ws = raw::welcomed(addr, "any").await;
    raw::send(&mut ws, r#"{"v":1,"k":"join","id":1,"room":"a"}"#).await;
    assert_eq!(raw::recv(&mut ws).await["k"], "joined");
    raw::send(&mut ws, r#"{"v":1,"k":"join","id":2,"room":"b"}"#).await;
    let refused = raw::recv(&mut ws).await;
    assert_eq!(refused["code"], "too_many_rooms", "{refused}");

    // A burst of 4 at 1 per second: of ten more frames at once, some are `rate_limited`
    // (the default, 200 at once, would take them all).
    for id in 3..13 {
        raw::send(
            &mut ws,
            &format!(r#"{{"v":1,"k":"leave","id":{id},"room":"b"}}"#),
        )
        .await;
    }
    let mut limited = 0;
    for _ in 3..13 {
        let frame = raw::recv(&mut ws).await;
        if frame["code"] == "rate_limited" {
            limited += 1;
        }
    }
    assert!(limited > 0, "no frame was rate limited");
    // Gone before the shutdown, which would otherwise wait out its close handshake.
    drop(ws);

    // A message over 300 bytes closes with 1009 (the default allows 64 KiB).
    let mut ws = raw::welcomed(addr, "any").await;
    raw::send(
        &mut ws,
        &format!(
            r#"{{"v":1,"k":"join","id":1,"room":"{}"}}"#,
            "x".repeat(400)
        ),
    )
    .await;
    assert_eq!(raw::until_closed(&mut ws).await.0, Some(1009));
    drop(ws);

    running.shutdown(tandem_proto::close::SERVICE_RESTART).await;
}
