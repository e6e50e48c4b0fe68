//! Every subscriber gets each numbered message in order, never twice, or is told a gap was
//! lost; a client never stays connected outside a room it had joined; and it comes back
//! quickly after the network heals. Driven by the fake-clock network in `support`.

#![allow(clippy::unwrap_used)] // tests panic on purpose when an expectation fails

mod support;

use core::time::Duration;

#[cfg(target_arch = "wasm32")]
use wasm_bindgen_test::wasm_bindgen_test as test;

use support::{LossHook, Net, alice_and_bob_in_room, with_token};
use tandem_proto::{
    ClientEvent, ConnectionState, ErrorBody, ErrorCode, Member, RoomState, ServerConfig,
    ServerEvent,
};

fn server_config() -> ServerConfig {
    ServerConfig {
        authenticate: true,
        ..ServerConfig::default()
    }
}

/// The seq of an encoded `event` frame, if `frame` is one.
/// A filter that loses each event of `range` the first time it comes (a replay gets through).
fn lose_once(range: std::ops::RangeInclusive<u64>) -> LossHook {
    let mut lost = Vec::new();
    Box::new(move |f| match event_seq(f) {
        Some(s) if range.contains(&s) && !lost.contains(&s) => {
            lost.push(s);
            true
        }
        _ => false,
    })
}

fn event_seq(frame: &[u8]) -> Option<u64> {
    let text = std::str::from_utf8(frame).ok()?;
    if !text.contains(r#""k":"event""#) {
        return None;
    }
    let at = text.find(r#""seq":"#)? + 6;
    let digits: String = text[at..]
        .chars()
        .take_while(char::is_ascii_digit)
        .collect();
    digits.parse().ok()
}

#[test]
fn a_range_lost_on_the_way_is_resumed_not_skipped() {
    let (mut net, a, b) = alice_and_bob_in_room(server_config());
    net.take(b);
    // Events 4 to 6 never reach bob, though his connection stays up (as when a server's
    // queue refused them and accepted later ones).
    net.peer(b).lose = Some(lose_once(4..=6));
    for n in 1..=10 {
        net.publish(a, "room", &format!("{{\"n\":{n}}}")).unwrap();
        net.run();
    }
    let events = net.take(b);
    let got: Vec<u64> = find!(events, ClientEvent::Message { seq, .. } => *seq);
    // Not 1, 2, 3, 7…: the jump to 7 is refused, the client resumes from 3, and the
    // server replays what it missed.
    assert_eq!(got, (1..=10).collect::<Vec<_>>());
    let rejoins = find!(events, ClientEvent::Joined { recovered, .. } => *recovered);
    assert_eq!(rejoins, [Some(true)]);
    assert!(net.is_open(b));
}

#[test]
fn a_gap_the_server_can_no_longer_fill_is_reported_as_not_recovered() {
    let mut config = server_config();
    config.hub.history_len = 2;
    let (mut net, a, b) = alice_and_bob_in_room(config);
    net.take(b);
    // Bob misses 2 to 6; by the time he sees 7, history keeps only the last two.
    net.peer(b).lose = Some(lose_once(2..=6));
    for n in 1..=7 {
        net.publish(a, "room", &format!("{{\"n\":{n}}}")).unwrap();
        net.run();
    }
    let events = net.take(b);
    let rejoins = find!(events, ClientEvent::Joined { recovered, .. } => *recovered);
    assert_eq!(rejoins, [Some(false)], "the loss is signalled");
    let got: Vec<u64> = find!(events, ClientEvent::Message { seq, .. } => *seq);
    assert_eq!(got, [1, 6, 7], "what is retained follows the signal, once");
}

/// A cluster node without a broker: the test answers each `Sync` itself.
struct ClusterNet {
    net: Net,
}

impl ClusterNet {
    fn new() -> Self {
        ClusterNet {
            net: Net::cluster_node(server_config()),
        }
    }

    /// Answers every pending `Sync` with `answer`; returns how many there were.
    fn answer_syncs(&mut self, answer: impl Fn() -> Result<RoomState, ErrorBody>) -> usize {
        let now = self.net.now;
        let events = std::mem::take(&mut self.net.server_events);
        let mut n = 0;
        for e in events {
            if let ServerEvent::Sync { conn, id, .. } = e {
                self.net.server.handle_synced(now, conn, id, answer());
                n += 1;
            }
        }
        self.net.run();
        n
    }
}

fn alice_only() -> Result<RoomState, ErrorBody> {
    Ok(RoomState {
        epoch: 9,
        seq: 0,
        history: Vec::new(),
        members: vec![Member {
            user: "alice".into(),
            meta: None,
            info: None,
        }],
    })
}

fn unavailable() -> Result<RoomState, ErrorBody> {
    Err(ErrorBody {
        code: ErrorCode::Unavailable,
        message: "broker unavailable: timed out; try again".into(),
    })
}

#[test]
fn a_rejoin_the_broker_cannot_serve_is_retried_until_it_is_served() {
    let mut c = ClusterNet::new();
    let a = c.net.client(with_token("alice"));
    c.net.join(a, "room", None, 0);
    assert_eq!(c.answer_syncs(alice_only), 1);
    c.net.take(a);

    c.net.cut(a);
    assert!(
        c.net
            .advance_until(Duration::from_secs(10), |n| n.is_open(a))
    );
    // The resume after a failover: the broker times out, three times in a row.
    for _ in 0..3 {
        assert!(
            c.net
                .advance_until(Duration::from_secs(10), |n| !n.server_events.is_empty())
        );
        assert_eq!(c.answer_syncs(unavailable), 1);
    }
    let events = c.net.take(a);
    assert!(
        find!(events, ClientEvent::Error { .. } => ()).is_empty()
            && find!(events, ClientEvent::Left { .. } => ()).is_empty(),
        "a transient refusal is neither an error nor a leave: {events:?}"
    );
    assert!(
        c.net
            .advance_until(Duration::from_secs(10), |n| !n.server_events.is_empty())
    );
    assert_eq!(c.answer_syncs(alice_only), 1);
    let events = c.net.take(a);
    let rejoins = find!(events, ClientEvent::Joined { room, .. } => room.clone());
    assert_eq!(rejoins, ["room"], "back in the room: {events:?}");
    assert!(c.net.is_open(a));
}

#[test]
fn a_rejoin_refused_for_good_ends_with_left_and_the_reason() {
    let mut net = Net::new(ServerConfig {
        authorize_joins: true,
        ..server_config()
    });
    let a = net.client(with_token("alice"));
    net.join(a, "room", None, 0);
    net.take(a);
    // Her rights to the room are withdrawn while she is away.
    net.deny_rooms.push("room".into());
    net.cut(a);
    assert!(net.advance_until(Duration::from_secs(10), |n| n.is_open(a)));
    net.run();
    let events = net.take(a);
    let left = find!(events, ClientEvent::Left { id, room, reason } => (*id, room.clone(), reason.clone()));
    assert_eq!(left.len(), 1, "{events:?}");
    let (id, room, reason) = &left[0];
    assert_eq!((*id, room.as_str()), (None, "room"));
    assert_eq!(reason.as_ref().map(|r| r.code), Some(ErrorCode::Forbidden));
    // Out of the room, so publishing there is refused at once.
    assert!(net.publish(a, "room", "{}").is_err());
}

#[test]
fn reconnect_now_skips_the_rest_of_the_wait() {
    let mut net = Net::new(server_config());
    let a = net.client(with_token("alice"));
    net.kill_server();
    // Several failed attempts: the wait grows.
    net.advance(Duration::from_secs(3));
    assert!(matches!(
        net.state(a),
        ConnectionState::Reconnecting { delay: Some(_), .. }
    ));
    net.start_server();
    let now = net.now;
    net.peer(a).session.reconnect_now(now);
    net.run();
    assert!(net.is_open(a), "open without the clock moving");
}

#[test]
fn after_a_flaky_minute_a_client_waits_at_most_five_seconds() {
    let mut net = Net::new(server_config());
    let a = net.client(with_token("alice"));
    // Cut every second for a minute: the attempt counter never resets.
    for _ in 0..60 {
        net.advance_until(Duration::from_secs(10), |n| n.is_open(a));
        net.advance(Duration::from_secs(1));
        net.cut(a);
    }
    net.kill_server();
    let mut longest = Duration::ZERO;
    for _ in 0..20 {
        if let ConnectionState::Reconnecting { delay: Some(d), .. } = net.state(a) {
            longest = longest.max(d);
        }
        net.advance(Duration::from_millis(500));
    }
    assert!(longest <= Duration::from_secs(5), "waited {longest:?}");
    net.start_server();
    assert!(net.advance_until(Duration::from_secs(6), |n| n.is_open(a)));
}

#[test]
fn becoming_visible_reconnects_a_waiting_page_at_once() {
    let mut net = Net::new(server_config());
    let a = net.client(with_token("alice"));
    net.kill_server();
    net.advance(Duration::from_secs(3));
    net.start_server();
    let now = net.now;
    net.peer(a).session.handle_visibility(now, true);
    net.run();
    assert!(net.is_open(a));
}

#[test]
fn with_the_default_history_a_30_s_outage_in_a_100_msg_per_s_room_is_recovered() {
    let (mut net, a, b) = alice_and_bob_in_room(server_config());
    net.take(b);
    net.cut(b);
    net.peer(b).link_up = false;
    // 30 s at 100 msg/s, each message a cursor-and-text payload of about 100 bytes.
    for n in 0..3_000 {
        let data = format!(r#"{{"x":{n},"y":{n},"text":"{:0>64}"}}"#, n);
        net.publish(a, "room", &data).unwrap();
        net.advance(Duration::from_millis(10));
    }
    net.peer(b).link_up = true;
    assert!(net.advance_until(Duration::from_secs(10), |n| n.is_open(b)));
    net.run();
    let events = net.take(b);
    let rejoins = find!(events, ClientEvent::Joined { recovered, .. } => *recovered);
    assert_eq!(rejoins, [Some(true)], "recovered with the defaults");
    let got: Vec<u64> = find!(events, ClientEvent::Message { seq, .. } => *seq);
    assert_eq!(got, (1..=3_000).collect::<Vec<_>>());
}

#[test]
fn a_first_join_the_broker_cannot_serve_now_is_retried_within_the_request_timeout() {
    let mut c = ClusterNet::new();
    let a = c.net.client(with_token("alice"));
    let now = c.net.now;
    let id = c.net.peer(a).session.join(now, "room", None, 0).unwrap();
    c.net.run();
    assert_eq!(c.answer_syncs(unavailable), 1);
    let events = c.net.take(a);
    assert!(
        find!(events, ClientEvent::Failed { .. } => ()).is_empty(),
        "{events:?}"
    );
    // (The broker also hears that the refused arrival will not stay: a Depart.)
    let sync_asked = |n: &Net| {
        n.server_events
            .iter()
            .any(|e| matches!(e, ServerEvent::Sync { .. }))
    };
    assert!(c.net.advance_until(Duration::from_secs(5), sync_asked));
    assert_eq!(c.answer_syncs(alice_only), 1);
    let joined = find!(c.net.take(a), ClientEvent::Joined { id: Some(j), .. } => *j);
    assert_eq!(joined, [id], "the join call resolves");

    // Refused past the request timeout (10 s): the call fails with the refusal.
    let now = c.net.now;
    let id = c.net.peer(a).session.join(now, "other", None, 0).unwrap();
    c.net.run();
    let mut failed = Vec::new();
    for _ in 0..40 {
        c.answer_syncs(unavailable);
        failed = find!(c.net.take(a), ClientEvent::Failed { id: f, error } => (*f, error.clone()));
        if !failed.is_empty() {
            break;
        }
        c.net.advance(Duration::from_secs(1));
    }
    assert_eq!(failed.len(), 1, "the call fails once, in the end");
    assert_eq!(failed[0].0, id);
    assert!(c.net.now.saturating_since(now) >= Duration::from_secs(10));
}

#[test]
fn a_queue_flushed_after_an_outage_is_paced_within_the_servers_rate() {
    let (mut net, a, b) = alice_and_bob_in_room(server_config());
    net.cut(a);
    net.peer(a).link_up = false;
    // Offline for 5 s at 100 msg/s: 500 publishes queue up (the server allows a burst of 200).
    let mut ids = Vec::new();
    for n in 0..500 {
        ids.push(net.publish(a, "room", &format!("{{\"n\":{n}}}")).unwrap());
        net.advance(Duration::from_millis(10));
    }
    net.take(a);
    net.take(b);
    net.peer(a).link_up = true;
    let all_acked = |n: &Net| {
        let acked = find!(n.peers[a].events, ClientEvent::Published { .. } => ()).len();
        acked == 500
    };
    assert!(
        net.advance_until(Duration::from_secs(30), all_acked),
        "every publish acknowledged"
    );
    let events = net.take(a);
    assert!(
        find!(events, ClientEvent::Failed { .. } => ()).is_empty(),
        "none refused: {:?}",
        find!(events, ClientEvent::Failed { error, .. } => error.clone())
    );
    assert!(net.is_open(a), "never closed for its rate");
    let got: Vec<u64> = find!(net.take(b), ClientEvent::Message { seq, .. } => *seq);
    assert_eq!(got, (1..=500).collect::<Vec<_>>());
}
