//! Heartbeat: a silent peer is declared dead after the timeout, not before, on both sides.

#![allow(clippy::unwrap_used)] // tests panic on purpose when an expectation fails

mod support;

use core::time::Duration;

#[cfg(target_arch = "wasm32")]
use wasm_bindgen_test::wasm_bindgen_test as test;

use support::Net;
use tandem_proto::{
    ClientConfig, ConnectionState, Heartbeat, HeartbeatAction, HeartbeatConfig, Instant,
    ServerConfig, close,
};

fn config() -> HeartbeatConfig {
    HeartbeatConfig {
        interval: Duration::from_secs(25),
        timeout: Duration::from_secs(10),
    }
}

#[test]
fn active_side_pings_after_the_interval_and_declares_death_after_the_timeout() {
    let t0 = Instant::from_millis(0);
    let mut hb = Heartbeat::active(config(), t0);
    assert_eq!(
        hb.handle_timeout(t0 + Duration::from_millis(24_999)),
        HeartbeatAction::Idle
    );
    let ping_at = t0 + Duration::from_secs(25);
    assert_eq!(hb.poll_timeout(), ping_at);
    assert_eq!(hb.handle_timeout(ping_at), HeartbeatAction::SendPing);
    assert_eq!(
        hb.handle_timeout(ping_at + Duration::from_millis(9_999)),
        HeartbeatAction::Idle,
        "not before"
    );
    assert_eq!(
        hb.handle_timeout(ping_at + Duration::from_secs(10)),
        HeartbeatAction::Dead
    );
}

#[test]
fn an_answer_keeps_the_connection_alive() {
    let t0 = Instant::from_millis(0);
    let mut hb = Heartbeat::active(config(), t0);
    let ping_at = t0 + Duration::from_secs(25);
    assert_eq!(hb.handle_timeout(ping_at), HeartbeatAction::SendPing);
    hb.handle_recv(ping_at + Duration::from_secs(1));
    assert_eq!(
        hb.handle_timeout(ping_at + Duration::from_secs(11)),
        HeartbeatAction::Idle
    );
}

#[test]
fn passive_side_waits_interval_plus_timeout() {
    let t0 = Instant::from_millis(0);
    let mut hb = Heartbeat::passive(config(), t0);
    assert_eq!(
        hb.handle_timeout(t0 + Duration::from_millis(34_999)),
        HeartbeatAction::Idle
    );
    assert_eq!(
        hb.handle_timeout(t0 + Duration::from_secs(35)),
        HeartbeatAction::Dead
    );
}

#[test]
fn half_open_connection_is_found_by_both_sides() {
    let mut net = Net::new(ServerConfig::default());
    let c = net.client(ClientConfig::default());
    assert!(net.is_open(c));
    // An idle but healthy link stays up across many intervals.
    net.advance(Duration::from_secs(120));
    assert!(net.is_open(c));
    assert_eq!(net.peers[c].connects, 1);

    // The link goes silent in both directions without any close.
    net.peer(c).link_up = false;
    let ping_at = net.peers[c].session.poll_timeout().unwrap();
    net.advance(ping_at - net.now); // the ping goes out and is lost
    net.advance(Duration::from_millis(9_999));
    assert!(net.is_open(c), "not declared dead before the timeout");
    net.advance(Duration::from_millis(1));
    assert!(
        matches!(
            net.state(c),
            ConnectionState::Reconnecting { .. } | ConnectionState::Connecting { .. }
        ),
        "{:?}",
        net.state(c)
    );
    // The server notices too (passive: interval + timeout, checked on its sweep).
    net.advance(Duration::from_secs(3));
    assert_eq!(net.server.connection_count(), 0);
    assert!(
        net.closes
            .iter()
            .any(|(_, code, _)| *code == close::HEARTBEAT_TIMEOUT)
    );

    // When the link heals, the client reconnects.
    net.peer(c).link_up = true;
    assert!(net.advance_until(Duration::from_secs(60), |n| n.is_open(c)));
}

#[test]
fn visibility_and_network_changes_probe_at_once() {
    let mut net = Net::new(ServerConfig::default());
    let c = net.client(ClientConfig::default());
    net.peer(c).link_up = false;
    let now = net.now;
    net.peer(c).session.handle_visibility(now, true);
    net.run();
    net.advance(Duration::from_secs(10));
    assert!(
        !net.is_open(c),
        "a probe on becoming visible finds the dead link within the timeout"
    );
}

#[test]
fn offline_pauses_reconnecting_and_online_resumes_at_once() {
    let mut net = Net::new(ServerConfig::default());
    let c = net.client(ClientConfig::default());
    let now = net.now;
    net.peer(c).session.handle_network(now, false);
    net.cut(c);
    assert_eq!(
        net.state(c),
        ConnectionState::Reconnecting {
            attempt: 1,
            delay: None
        }
    );
    net.advance(Duration::from_secs(600));
    assert_eq!(net.peers[c].connects, 1, "no attempts while offline");
    let now = net.now;
    net.peer(c).session.handle_network(now, true);
    net.run();
    assert!(net.is_open(c), "online reconnects at once");
}
