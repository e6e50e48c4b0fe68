//! An in-process client + server pair: negotiate, join, publish to two clients,
//! request/response, lose the connection, back off, reconnect, resume.

#![allow(clippy::unwrap_used)] // tests panic on purpose when an expectation fails

mod support;

use core::time::Duration;

#[cfg(target_arch = "wasm32")]
use wasm_bindgen_test::wasm_bindgen_test as test;

use support::{Net, alice_and_bob_in_room, json, with_token};
use tandem_proto::{ClientEvent, ConnectionState, ErrorCode, HubConfig, OpError, ServerConfig};

fn server_config() -> ServerConfig {
    ServerConfig {
        authenticate: true,
        handle_requests: true,
        ..ServerConfig::default()
    }
}

fn joined(net: &mut Net, i: usize, room: &str) -> Option<bool> {
    let events = net.take(i);
    let found =
        find!(events, ClientEvent::Joined { room: r, recovered, .. } if r == room => *recovered);
    assert_eq!(
        found.len(),
        1,
        "peer {i} should have joined {room} once: {events:?}"
    );
    found[0]
}

#[test]
fn negotiates_joins_and_publishes_to_two_clients_in_order() {
    let mut net = Net::new(server_config());
    let a = net.client(with_token("alice"));
    let b = net.client(with_token("bob"));
    assert!(net.is_open(a) && net.is_open(b));

    net.join(a, "lobby", Some(json(r#"{"color":"red"}"#)), 0);
    net.run();
    assert_eq!(joined(&mut net, a, "lobby"), None);
    net.join(b, "lobby", None, 0);
    net.run();
    // b's snapshot has both users; a gets a presence diff with bob.
    let events = net.take(b);
    let members = find!(events, ClientEvent::Joined { members, .. } => members.clone());
    let users: Vec<&str> = members[0].iter().map(|m| m.user.as_str()).collect();
    assert_eq!(users, ["alice", "bob"]);
    let events = net.take(a);
    let arrivals = find!(events, ClientEvent::Presence { joined, .. } => joined.clone());
    assert_eq!(arrivals.len(), 1);
    assert_eq!(arrivals[0][0].user, "bob");

    let now = net.now;
    for n in 0..5 {
        net.peer(a)
            .session
            .publish(now, "lobby", json(&format!("{{\"n\":{n}}}")))
            .unwrap();
    }
    net.run();
    for i in [a, b] {
        let got = net.messages(i);
        let seqs: Vec<u64> = got.iter().map(|m| m.1).collect();
        assert_eq!(seqs, [1, 2, 3, 4, 5], "peer {i}");
        assert_eq!(got[4].2, r#"{"n":4}"#);
    }
}

#[test]
fn request_and_response_in_both_directions() {
    let mut net = Net::new(server_config());
    let a = net.client(with_token("alice"));
    let now = net.now;
    let ok = net.request(a, None, r#"{"q":1}"#);
    let bad = net.request(a, Some("lobby"), r#"{"fail":true}"#);
    net.run();
    let events = net.take(a);
    let answers = find!(events, ClientEvent::Response { id, data } => (*id, data.get().to_owned()));
    assert_eq!(answers, [(ok, r#"{"echo":{"q":1}}"#.to_owned())]);
    let failures = find!(events, ClientEvent::Failed { id, error } => (*id, error.clone()));
    assert!(
        matches!(&failures[..], [(id, OpError::Server { code: ErrorCode::Rejected, .. })] if *id == bad)
    );

    // Server to client.
    let conn = net.peers[a].conn.unwrap();
    let sid = net
        .server
        .request(now, conn, None, json(r#"{"ask":"name"}"#))
        .unwrap();
    net.run();
    let events = net.take(a);
    let asked =
        find!(events, ClientEvent::Request { id, data, .. } => (*id, data.get().to_owned()));
    assert_eq!(asked, [(sid, r#"{"ask":"name"}"#.to_owned())]);
    net.peer(a)
        .session
        .respond(now, sid, Ok(json(r#""alice""#)));
    net.run();
    let answers: Vec<_> = net
        .server_events
        .drain(..)
        .filter_map(|e| match e {
            tandem_proto::ServerEvent::Response { id, result, .. } => {
                Some((id, result.map(|d| d.get().to_owned())))
            }
            _ => None,
        })
        .collect();
    assert_eq!(answers, [(sid, Ok(r#""alice""#.to_owned()))]);
}

#[test]
fn requests_time_out_in_both_directions() {
    let mut net = Net::new(server_config());
    let a = net.client(with_token("alice"));
    let now = net.now;
    let id = net.request(a, None, r#"{"ignore":1}"#);
    let conn = net.peers[a].conn.unwrap();
    let sid = net.server.request(now, conn, None, json("1")).unwrap();
    net.advance(Duration::from_millis(9_900));
    assert!(
        find!(net.peers[a].events, ClientEvent::Failed { id: f, .. } if *f == id => ()).is_empty()
    );
    net.advance(Duration::from_millis(1_200));
    let events = net.take(a);
    assert!(matches!(
        &find!(events, ClientEvent::Failed { id: f, error } if *f == id => error.clone())[..],
        [OpError::Timeout]
    ));
    let server_side: Vec<_> = net
        .server_events
        .drain(..)
        .filter_map(|e| match e {
            tandem_proto::ServerEvent::Response {
                id, result: Err(e), ..
            } => Some((id, e.code)),
            _ => None,
        })
        .collect();
    assert_eq!(server_side, [(sid, ErrorCode::Timeout)]);
}

#[test]
fn reconnects_with_backoff_and_resumes_without_loss_or_duplicate() {
    let (mut net, a, b) = alice_and_bob_in_room(server_config());
    let now = net.now;
    net.peer(a).session.publish(now, "room", json("1")).unwrap();
    net.run();
    assert_eq!(net.messages(b).len(), 1);
    net.take(a);

    // b's connection drops; a keeps publishing while b is away.
    net.cut(b);
    let state = net.state(b);
    let ConnectionState::Reconnecting {
        attempt: 1,
        delay: Some(delay),
    } = state
    else {
        panic!("expected the first reconnect, got {state:?}");
    };
    assert!(
        delay <= Duration::from_millis(250),
        "first retry is fast: {delay:?}"
    );
    let now = net.now;
    for n in 2..=4 {
        net.peer(a)
            .session
            .publish(now, "room", json(&n.to_string()))
            .unwrap();
    }
    net.run();
    net.advance(delay);
    assert!(net.is_open(b));
    let events = net.take(b);
    let recovered = find!(events, ClientEvent::Joined { recovered, .. } => *recovered);
    assert_eq!(recovered, [Some(true)]);
    let seqs = find!(events, ClientEvent::Message { seq, .. } => *seq);
    assert_eq!(seqs, [2, 3, 4], "exactly the missed messages, in order");

    // A duplicate from the server (same seq again) is dropped by the client.
    let dup = br#"{"v":1,"k":"event","room":"room","seq":4,"data":4}"#;
    let now = net.now;
    net.peer(b).session.handle_message(now, dup);
    net.run();
    assert!(net.messages(b).is_empty());

    // Live traffic continues after the resume.
    net.peer(a).session.publish(now, "room", json("5")).unwrap();
    net.run();
    assert_eq!(net.messages(b).iter().map(|m| m.1).collect::<Vec<_>>(), [5]);
}

#[test]
fn reports_not_recovered_when_history_is_too_short() {
    let config = ServerConfig {
        hub: HubConfig {
            history_len: 2,
            ..HubConfig::default()
        },
        ..server_config()
    };
    let (mut net, a, b) = alice_and_bob_in_room(config);
    net.cut(b);
    let now = net.now;
    for n in 1..=5 {
        net.peer(a)
            .session
            .publish(now, "room", json(&n.to_string()))
            .unwrap();
    }
    net.run();
    net.take(b);
    assert!(net.advance_until(Duration::from_secs(5), |n| n.is_open(b)));
    let events = net.take(b);
    let recovered = find!(events, ClientEvent::Joined { recovered, .. } => *recovered);
    assert_eq!(
        recovered,
        [Some(false)],
        "3 of 5 messages are gone: the gap is reported"
    );
    assert_eq!(
        find!(events, ClientEvent::Message { seq, .. } => *seq),
        [4, 5],
        "what is retained still follows the gap"
    );
    assert_eq!(net.peers[b].session.position("room").map(|p| p.1), Some(5));
}

#[test]
fn server_restart_reports_not_recovered() {
    let mut net = Net::new(server_config());
    let a = net.client(with_token("alice"));
    net.join(a, "room", None, 0);
    net.run();
    net.publish(a, "room", "1").unwrap();
    net.run();
    net.take(a);
    net.kill_server();
    net.advance(Duration::from_secs(3));
    assert!(!net.is_open(a));
    net.start_server();
    assert!(net.advance_until(Duration::from_secs(30), |n| n.is_open(a)));
    let events = net.take(a);
    let recovered = find!(events, ClientEvent::Joined { recovered, .. } => *recovered);
    assert_eq!(recovered, [Some(false)], "a new epoch: history is gone");
    let states = find!(events, ClientEvent::StateChanged(s) => s.clone());
    assert!(
        states
            .iter()
            .any(|s| matches!(s, ConnectionState::Reconnecting { attempt, .. } if *attempt > 1))
    );
}

#[test]
fn publishes_made_offline_are_delivered_once_in_order_after_reconnect() {
    let (mut net, a, b) = alice_and_bob_in_room(server_config());
    net.cut(a);
    let now = net.now;
    let ids: Vec<u64> = (1..=3)
        .map(|n| {
            net.peer(a)
                .session
                .publish(now, "room", json(&n.to_string()))
                .unwrap()
        })
        .collect();
    assert_eq!(net.peers[a].session.queued(), 3);
    assert!(net.advance_until(Duration::from_secs(5), |n| n.is_open(a)));
    let got = net.messages(b);
    assert_eq!(
        got.iter().map(|m| m.2.as_str()).collect::<Vec<_>>(),
        ["1", "2", "3"]
    );
    let events = net.take(a);
    let acked = find!(events, ClientEvent::Published { id, .. } => *id);
    assert_eq!(acked, ids, "every queued publish is acked, in order");
}
