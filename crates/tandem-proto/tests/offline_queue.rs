//! The offline queue: order kept across a reconnect, overflow an error to the caller, and
//! every publish and request resolved (acked, timed out, closed).

#![allow(clippy::unwrap_used)] // tests panic on purpose when an expectation fails

mod support;

use core::time::Duration;

#[cfg(target_arch = "wasm32")]
use wasm_bindgen_test::wasm_bindgen_test as test;

use support::{Net, json};
use tandem_proto::{ClientConfig, ClientEvent, CloseReason, OpError, QueueLimits, ServerConfig};

fn failures(events: &[ClientEvent]) -> Vec<(u64, OpError)> {
    find!(events, ClientEvent::Failed { id, error } => (*id, error.clone()))
}

#[test]
fn order_is_kept_across_a_reconnect() {
    let mut net = Net::new(ServerConfig::default());
    let a = net.client(ClientConfig::default());
    let b = net.client(ClientConfig::default());
    net.join(a, "r", None, 0);
    net.join(b, "r", None, 0);
    net.publish(a, "r", "0").unwrap();
    net.run();
    net.cut(a);
    for n in 1..=50 {
        net.publish(a, "r", &n.to_string()).unwrap();
    }
    net.messages(b);
    assert!(net.advance_until(Duration::from_secs(5), |n| n.is_open(a)));
    let got: Vec<String> = net.messages(b).into_iter().map(|m| m.2).collect();
    let want: Vec<String> = (1..=50).map(|n| n.to_string()).collect();
    assert_eq!(got, want);
}

#[test]
fn overflow_by_count_is_an_error_to_the_caller() {
    let mut net = Net::new(ServerConfig::default());
    let a = net.client(ClientConfig {
        queue: QueueLimits {
            max_count: 3,
            max_bytes: 1 << 20,
        },
        ..ClientConfig::default()
    });
    net.join(a, "r", None, 0);
    net.cut(a);
    for n in 0..3 {
        net.publish(a, "r", &n.to_string()).unwrap();
    }
    let err = net.publish(a, "r", "3").unwrap_err();
    assert!(
        matches!(err, OpError::QueueFull { count: 3, .. }),
        "{err:?}"
    );
    assert_eq!(
        net.peers[a].session.queued(),
        3,
        "nothing dropped, nothing added"
    );
}

#[test]
fn overflow_by_bytes_is_an_error_to_the_caller() {
    let mut net = Net::new(ServerConfig::default());
    let a = net.client(ClientConfig {
        queue: QueueLimits {
            max_count: 100,
            max_bytes: 200,
        },
        ..ClientConfig::default()
    });
    net.join(a, "r", None, 0);
    net.cut(a);
    let big = format!("\"{}\"", "x".repeat(120));
    net.publish(a, "r", &big).unwrap();
    assert!(matches!(
        net.publish(a, "r", &big),
        Err(OpError::QueueFull { count: 1, .. })
    ));
}

#[test]
fn oversize_publish_is_refused_locally() {
    let mut net = Net::new(ServerConfig {
        max_frame_bytes: 1024,
        ..ServerConfig::default()
    });
    let a = net.client(ClientConfig::default());
    net.join(a, "r", None, 0);
    let big = format!("\"{}\"", "x".repeat(2000));
    assert!(matches!(
        net.publish(a, "r", &big),
        Err(OpError::TooLarge { limit: 1024, .. })
    ));
    assert!(net.is_open(a), "the connection is untouched");
}

#[test]
fn pending_requests_reject_on_timeout() {
    let mut net = Net::new(ServerConfig {
        handle_requests: true,
        ..ServerConfig::default()
    });
    let a = net.client(ClientConfig::default());
    net.cut(a);
    let now = net.now;
    // Queued while offline, and the server stays away: it times out from the queue.
    net.server_up = false;
    let id = net.peer(a).session.request(now, None, json("1")).unwrap();
    net.advance(Duration::from_secs(11));
    assert_eq!(failures(&net.take(a)), [(id, OpError::Timeout)]);
    assert_eq!(net.peers[a].session.queued(), 0);
}

#[test]
fn in_flight_operations_reject_when_the_connection_drops() {
    let mut net = Net::new(ServerConfig {
        handle_requests: true,
        ..ServerConfig::default()
    });
    let a = net.client(ClientConfig::default());
    net.join(a, "r", None, 0);
    net.take(a);
    net.peer(a).link_up = false; // sent frames vanish
    let now = net.now;
    let p = net.publish(a, "r", "1").unwrap();
    let q = net.peer(a).session.request(now, None, json("2")).unwrap();
    net.run();
    net.peer(a).link_up = true;
    net.cut(a);
    let mut failed = failures(&net.take(a));
    failed.sort_by_key(|f| f.0);
    assert_eq!(
        failed,
        [(p, OpError::ConnectionLost), (q, OpError::ConnectionLost)]
    );
}

#[test]
fn everything_pending_rejects_on_close() {
    let mut net = Net::new(ServerConfig::default());
    let a = net.client(ClientConfig::default());
    net.join(a, "r", None, 0);
    net.cut(a);
    let now = net.now;
    let p = net.publish(a, "r", "1").unwrap();
    let q = net.peer(a).session.request(now, None, json("1")).unwrap();
    let j = net.peer(a).session.join(now, "other", None, 0).unwrap();
    net.take(a);
    net.peer(a).session.close(now);
    net.run();
    let failed = failures(&net.take(a));
    let closed = OpError::Closed(CloseReason::ClientClosed);
    assert_eq!(
        failed,
        [
            (p, closed.clone()),
            (q, closed.clone()),
            (j, closed.clone())
        ]
    );
    assert!(matches!(net.publish(a, "r", "2"), Err(OpError::Closed(_))));
}

#[test]
fn publish_to_an_unjoined_room_is_refused() {
    let mut net = Net::new(ServerConfig::default());
    let a = net.client(ClientConfig::default());
    assert!(matches!(
        net.publish(a, "nowhere", "1"),
        Err(OpError::NotJoined { .. })
    ));
}
