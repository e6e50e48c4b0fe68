//! An application can store a room position and start from it on a fresh session (a
//! reloaded page, a restarted app), and knows who the server says it is.

#![allow(clippy::unwrap_used)] // tests panic on purpose when an expectation fails

mod support;

#[cfg(target_arch = "wasm32")]
use wasm_bindgen_test::wasm_bindgen_test as test;

use support::{Net, json, with_token};
use tandem_proto::{ClientEvent, ServerConfig};

fn server_config() -> ServerConfig {
    ServerConfig {
        authenticate: true,
        ..ServerConfig::default()
    }
}

/// `(epoch, seq)` of the `Joined` among `events`, and its `recovered`.
fn joined(events: &[ClientEvent]) -> ((u64, u64), Option<bool>) {
    let found = find!(events, ClientEvent::Joined { epoch, seq, recovered, .. } => ((*epoch, *seq), *recovered));
    assert_eq!(found.len(), 1, "one joined: {events:?}");
    found[0]
}

/// Alice publishes `range` into `room`.
fn publish(net: &mut Net, a: usize, range: std::ops::RangeInclusive<u32>) {
    for n in range {
        net.publish(a, "room", &format!("{{\"n\":{n}}}")).unwrap();
        net.run();
    }
}

#[test]
fn a_fresh_session_joining_since_a_stored_position_gets_what_it_missed() {
    let mut net = Net::new(server_config());
    let a = net.client(with_token("alice"));
    net.join(a, "room", None, 0);
    let b = net.client(with_token("bob"));
    net.join(b, "room", None, 0);
    let ((epoch, start), recovered) = joined(&net.take(b));
    assert_eq!(recovered, None, "a plain join");
    publish(&mut net, a, 1..=5);
    let last = net.messages(b).last().unwrap().1;
    assert_eq!((start, last), (0, 5));
    // Bob's app stops for good, keeping (epoch, 5); more happens meanwhile.
    let now = net.now;
    net.peer(b).session.close(now);
    net.run();
    publish(&mut net, a, 6..=8);

    let c = net.client(with_token("bob"));
    let now = net.now;
    net.peer(c)
        .session
        .join_since(now, "room", None, 0, Some((epoch, last)))
        .unwrap();
    net.run();
    let events = net.take(c);
    assert_eq!(joined(&events), ((epoch, 5), Some(true)));
    let got: Vec<u64> = find!(events, ClientEvent::Message { seq, .. } => *seq);
    assert_eq!(got, [6, 7, 8], "exactly what it missed");
}

#[test]
fn a_stored_position_the_history_no_longer_covers_is_not_recovered() {
    let mut config = server_config();
    config.hub.history_len = 2;
    let mut net = Net::new(config);
    let a = net.client(with_token("alice"));
    net.join(a, "room", None, 0);
    let ((epoch, _), _) = joined(&net.take(a));
    publish(&mut net, a, 1..=6);
    let c = net.client(with_token("carol"));
    let now = net.now;
    net.peer(c)
        .session
        .join_since(now, "room", None, 0, Some((epoch, 1)))
        .unwrap();
    net.run();
    let events = net.take(c);
    assert_eq!(joined(&events), ((epoch, 4), Some(false)), "refetch");
    let got: Vec<u64> = find!(events, ClientEvent::Message { seq, .. } => *seq);
    assert_eq!(got, [5, 6], "what is still held follows");

    // Another incarnation of the room (the server restarted): not recovered either.
    net.kill_server();
    net.start_server();
    net.run();
    let d = net.client(with_token("dave"));
    let now = net.now;
    net.peer(d)
        .session
        .join_since(now, "room", Some(json("{}")), 0, Some((epoch, 6)))
        .unwrap();
    net.run();
    let (_, recovered) = joined(&net.take(d));
    assert_eq!(recovered, Some(false));
}

#[test]
fn a_client_learns_its_user_and_session_on_every_welcome() {
    let mut net = Net::new(server_config());
    let a = net.client(with_token("alice"));
    let welcomed = find!(net.take(a), ClientEvent::Welcomed { user, session } => (user.clone(), session.clone()));
    assert_eq!(welcomed.len(), 1);
    assert_eq!(welcomed[0].0, "alice");
    assert!(!welcomed[0].1.is_empty());
    net.cut(a);
    assert!(net.advance_until(core::time::Duration::from_secs(5), |n| n.is_open(a)));
    let again = find!(net.take(a), ClientEvent::Welcomed { session, .. } => session.clone());
    assert_eq!(again.len(), 1);
    assert_ne!(
        again[0], welcomed[0].1,
        "a new connection, a new session id"
    );
}
