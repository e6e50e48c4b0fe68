//! The collaboration primitives on a fake clock: presence that changes, ephemeral
//! messages, per-room policy and history paging, each with its bad input.

#![allow(clippy::unwrap_used)] // tests panic on purpose when an expectation fails

mod support;

#[cfg(target_arch = "wasm32")]
use wasm_bindgen_test::wasm_bindgen_test as test;

use core::time::Duration;
use support::{Net, alice_and_bob_in_room, json, with_token};
use tandem_proto::{
    ClientEvent, ErrorCode, HistoryLimits, OpError, RoomPolicies, RoomPolicy, ServerConfig,
};

fn server_config() -> ServerConfig {
    ServerConfig {
        authenticate: true,
        ..ServerConfig::default()
    }
}

/// `user=meta` for each member, as a peer's session lists them.
fn members(net: &Net, i: usize, room: &str) -> Vec<String> {
    let list = net.peers[i].session.members(room).unwrap_or_default();
    list.iter()
        .map(|m| format!("{}={}", m.user, m.meta.as_ref().map_or("-", |p| p.get())))
        .collect()
}

/// The `updated` members of every presence diff among `events`, as `user=meta`.
fn updates(events: &[ClientEvent]) -> Vec<String> {
    find!(events, ClientEvent::Presence { updated, .. } => updated.clone())
        .into_iter()
        .flatten()
        .map(|m| format!("{}={}", m.user, m.meta.as_ref().map_or("-", |p| p.get())))
        .collect()
}

fn failure(events: &[ClientEvent], id: u64) -> Option<ErrorCode> {
    find!(events, ClientEvent::Failed { id: i, error: OpError::Server { code, .. } } if *i == id => *code)
        .first()
        .copied()
}

#[test]
fn a_presence_update_reaches_every_member_and_their_member_lists() {
    let (mut net, a, b) = alice_and_bob_in_room(server_config());
    net.take(a);
    net.take(b);
    let now = net.now;
    let id = net.peers[a]
        .session
        .update(now, "room", json(r#"{"x":1}"#))
        .unwrap();
    net.run();
    let mine = net.take(a);
    assert_eq!(find!(mine, ClientEvent::Done { id } => *id), [id]);
    assert_eq!(
        updates(&mine),
        [r#"alice={"x":1}"#],
        "its own tabs learn it too"
    );
    assert_eq!(updates(&net.take(b)), [r#"alice={"x":1}"#]);
    assert_eq!(members(&net, b, "room"), [r#"alice={"x":1}"#, "bob=-"]);
    assert_eq!(members(&net, a, "room"), [r#"alice={"x":1}"#, "bob=-"]);
    // A newcomer's snapshot has the new meta.
    let c = net.client(with_token("carol"));
    net.join(c, "room", None, 0);
    assert_eq!(
        members(&net, c, "room"),
        [r#"alice={"x":1}"#, "bob=-", "carol=-"]
    );
}

#[test]
fn the_latest_update_from_any_tab_wins_and_a_leaving_tab_does_not_revert_it() {
    let mut net = Net::new(server_config());
    let tab1 = net.client(with_token("alice"));
    let tab2 = net.client(with_token("alice"));
    let bob = net.client(with_token("bob"));
    net.join(tab1, "room", Some(json("1")), 0);
    net.join(tab2, "room", Some(json("2")), 0);
    net.join(bob, "room", None, 0);
    assert_eq!(
        members(&net, bob, "room"),
        ["alice=1", "bob=-"],
        "first join's meta"
    );
    let now = net.now;
    net.peers[tab2]
        .session
        .update(now, "room", json("3"))
        .unwrap();
    net.run();
    net.peers[tab1]
        .session
        .update(now, "room", json("4"))
        .unwrap();
    net.run();
    assert_eq!(updates(&net.take(bob)), ["alice=3", "alice=4"]);
    assert_eq!(
        updates(&net.take(tab2)),
        ["alice=3", "alice=4"],
        "every tab hears"
    );
    net.peers[tab1].session.leave(now, "room").unwrap();
    net.run();
    assert!(net.take(bob).is_empty(), "alice is still here in tab 2");
    assert_eq!(members(&net, bob, "room"), ["alice=4", "bob=-"]);
}

#[test]
fn an_update_made_while_offline_goes_out_after_the_rejoin() {
    let (mut net, a, b) = alice_and_bob_in_room(server_config());
    net.cut(a);
    let now = net.now;
    let first = net.peers[a].session.update(now, "room", json("1")).unwrap();
    let second = net.peers[a].session.update(now, "room", json("2")).unwrap();
    net.take(b);
    assert!(net.advance_until(Duration::from_secs(10), |n| n.is_open(a)));
    net.run();
    let events = net.take(a);
    assert_eq!(
        find!(events, ClientEvent::Done { id } => *id),
        [first, second],
        "the replaced update resolves, then the sent one"
    );
    assert_eq!(members(&net, b, "room"), ["alice=2", "bob=-"]);
}

#[test]
fn updates_in_a_room_not_joined_or_without_presence_are_refused() {
    let mut config = server_config();
    config.policies = RoomPolicies::new(|room| RoomPolicy {
        presence: !room.starts_with("quiet"),
        ..RoomPolicy::default()
    });
    let mut net = Net::new(config);
    let a = net.client(with_token("alice"));
    let now = net.now;
    let e = net.peers[a].session.update(now, "nowhere", json("1"));
    assert!(matches!(e, Err(OpError::NotJoined { .. })), "{e:?}");
    net.join(a, "quiet", Some(json("1")), 0);
    let b = net.client(with_token("bob"));
    net.join(b, "quiet", None, 0);
    let joined =
        find!(net.take(b), ClientEvent::Joined { members, policy, .. } => (members.len(), *policy));
    let (listed, policy) = joined[0];
    assert_eq!(listed, 0, "no snapshot in a room without presence");
    assert!(!policy.unwrap().presence);
    assert!(
        net.take(a)
            .iter()
            .all(|e| !matches!(e, ClientEvent::Presence { .. })),
        "no diffs"
    );
    let id = net.peers[a]
        .session
        .update(now, "quiet", json("2"))
        .unwrap();
    net.run();
    assert_eq!(failure(&net.take(a), id), Some(ErrorCode::RoomPolicy));
}

#[test]
fn ephemeral_messages_are_not_numbered_stored_replayed_or_echoed() {
    let (mut net, a, b) = alice_and_bob_in_room(server_config());
    net.take(b);
    let now = net.now;
    net.publish(a, "room", "1").unwrap();
    let e = net.peers[a]
        .session
        .publish_ephemeral(now, "room", json(r#"{"cursor":[1,2]}"#), false)
        .unwrap();
    net.publish(a, "room", "2").unwrap();
    net.run();
    let got = net.take(b);
    let order: Vec<String> = got
        .iter()
        .filter_map(|ev| match ev {
            ClientEvent::Message { seq, .. } => Some(format!("#{seq}")),
            ClientEvent::Ephemeral { from, data, .. } => {
                Some(format!("{}:{}", from.as_deref().unwrap_or("?"), data.get()))
            }
            _ => None,
        })
        .collect();
    assert_eq!(order, ["#1", r#"alice:{"cursor":[1,2]}"#, "#2"]);
    assert_eq!(
        net.peers[b].session.position("room").unwrap().1,
        2,
        "no gap seen"
    );
    let mine = net.take(a);
    assert!(
        find!(mine, ClientEvent::Ephemeral { .. } => ()).is_empty(),
        "not echoed"
    );
    assert!(
        find!(mine, ClientEvent::Done { id } if *id == e => ()).is_empty(),
        "no ack asked"
    );
    // A newcomer's replay and a page hold the numbered messages only.
    let c = net.client(with_token("carol"));
    net.join(c, "room", None, 10);
    assert_eq!(net.messages(c).len(), 2);
    let now = net.now;
    let id = net.peers[c]
        .session
        .history(now, "room", None, None)
        .unwrap();
    net.run();
    let pages = find!(net.take(c), ClientEvent::Page { id: i, messages, .. } if *i == id => messages.clone());
    let seqs: Vec<Option<u64>> = pages[0].iter().map(|m| m.seq).collect();
    assert_eq!(seqs, [Some(1), Some(2)]);
}

#[test]
fn an_ephemeral_message_goes_now_or_fails_now_and_is_acked_only_when_asked() {
    let mut net = Net::new(server_config());
    let a = net.client(with_token("alice"));
    let now = net.now;
    let e = net.peers[a].session.join(now, "room", None, 0).unwrap();
    let not_yet = net.peers[a]
        .session
        .publish_ephemeral(now, "room", json("1"), false);
    assert!(
        matches!(not_yet, Err(OpError::NotConnected { .. })),
        "{not_yet:?}"
    );
    net.run();
    let _ = e;
    let id = net.peers[a]
        .session
        .publish_ephemeral(now, "room", json("2"), true)
        .unwrap();
    net.run();
    assert_eq!(find!(net.take(a), ClientEvent::Done { id } => *id), [id]);
    net.cut(a);
    let now = net.now;
    let offline = net.peers[a]
        .session
        .publish_ephemeral(now, "room", json("3"), false);
    assert!(
        matches!(offline, Err(OpError::NotConnected { .. })),
        "{offline:?}"
    );
    assert_eq!(net.peers[a].session.queued(), 0, "never queued");
}

#[test]
fn a_room_policy_is_announced_in_joined_and_enforced() {
    let mut config = server_config();
    config.policies = RoomPolicies::new(|room| match room {
        r if r.starts_with("cursors/") => RoomPolicy {
            history: HistoryLimits {
                len: 0,
                ..RoomPolicy::default().history
            },
            numbered: false,
            ..RoomPolicy::default()
        },
        "small" => RoomPolicy {
            max_members: Some(2),
            ..RoomPolicy::default()
        },
        _ => RoomPolicy::default(),
    });
    let mut net = Net::new(config);
    let a = net.client(with_token("alice"));
    net.join(a, "cursors/1", None, 0);
    let policy = find!(net.take(a), ClientEvent::Joined { policy, .. } => *policy)[0].unwrap();
    assert!(!policy.numbered && policy.presence);
    assert_eq!(policy.history, 0);
    let id = net.publish(a, "cursors/1", "1").unwrap();
    net.run();
    assert_eq!(failure(&net.take(a), id), Some(ErrorCode::RoomPolicy));
    let now = net.now;
    net.peers[a]
        .session
        .publish_ephemeral(now, "cursors/1", json("1"), true)
        .unwrap();
    net.run();
    assert_eq!(find!(net.take(a), ClientEvent::Done { .. } => ()).len(), 1);

    let b = net.client(with_token("bob"));
    let c = net.client(with_token("carol"));
    let alice_again = net.client(with_token("alice"));
    net.join(a, "small", None, 0);
    net.join(b, "small", None, 0);
    let now = net.now;
    let id = net.peers[c].session.join(now, "small", None, 0).unwrap();
    net.run();
    assert_eq!(failure(&net.take(c), id), Some(ErrorCode::RoomFull));
    net.join(alice_again, "small", None, 0);
    let ok = find!(net.take(alice_again), ClientEvent::Joined { room, .. } => room.clone());
    assert_eq!(ok, ["small"], "another tab of a member is admitted");
}

#[test]
fn history_pages_cover_the_whole_history_once_newest_first() {
    let mut config = server_config();
    config.hub.max_page = 10;
    let (mut net, a, b) = alice_and_bob_in_room(config);
    for n in 1..=25 {
        net.publish(a, "room", &n.to_string()).unwrap();
        net.run();
    }
    let c = net.client(with_token("carol"));
    let mut before = None;
    let mut seen = Vec::new();
    let mut pages = 0;
    loop {
        let now = net.now;
        // Asking for more than the maximum gets the maximum.
        let id = net.peers[c]
            .session
            .history(now, "room", before, Some(500))
            .unwrap();
        net.run();
        let page = find!(net.take(c), ClientEvent::Page { id: i, messages, more, .. } if *i == id => (messages.clone(), *more));
        let (messages, more) = page.into_iter().next().unwrap();
        assert!(messages.len() <= 10);
        let seqs: Vec<u64> = messages.iter().map(|m| m.seq.unwrap()).collect();
        assert!(
            seqs.windows(2).all(|w| w[1] == w[0] + 1),
            "oldest first: {seqs:?}"
        );
        seen.splice(0..0, seqs.iter().copied());
        pages += 1;
        if !more {
            break;
        }
        before = seqs.first().copied();
    }
    assert_eq!(seen, (1..=25).collect::<Vec<u64>>(), "every message once");
    assert_eq!(pages, 3);
    // A room nobody knows has an empty page.
    let now = net.now;
    let id = net.peers[b]
        .session
        .history(now, "nowhere", None, Some(5))
        .unwrap();
    net.run();
    let empty = find!(net.take(b), ClientEvent::Page { id: i, epoch, messages, more, .. } if *i == id => (*epoch, messages.len(), *more));
    assert_eq!(empty, [(0, 0, false)]);
}

#[test]
fn a_page_of_a_room_not_joined_asks_the_join_authorization() {
    let mut config = server_config();
    config.authorize_joins = true;
    let mut net = Net::new(config);
    net.deny_rooms.push("secret".into());
    let a = net.client(with_token("alice"));
    net.join(a, "open", None, 0);
    net.publish(a, "open", "1").unwrap();
    net.run();
    let b = net.client(with_token("bob"));
    let now = net.now;
    let open = net.peers[b]
        .session
        .history(now, "open", None, None)
        .unwrap();
    let secret = net.peers[b]
        .session
        .history(now, "secret", None, None)
        .unwrap();
    net.run();
    let events = net.take(b);
    let pages = find!(events, ClientEvent::Page { id, messages, .. } => (*id, messages.len()));
    assert_eq!(pages, [(open, 1)]);
    assert_eq!(failure(&events, secret), Some(ErrorCode::Forbidden));
}

#[test]
fn a_flood_of_updates_goes_out_at_the_servers_rate_latest_first_and_is_never_refused() {
    let mut config = server_config();
    config.rate.per_second = 10;
    config.rate.burst = 12;
    let (mut net, a, b) = alice_and_bob_in_room(config);
    let now = net.now;
    let ids: Vec<u64> = (0..300)
        .map(|n| {
            let meta = json(&n.to_string());
            net.peers[a].session.update(now, "room", meta).unwrap()
        })
        .collect();
    assert!(net.advance_until(Duration::from_secs(5), |n| {
        n.peers[b].session.members("room").unwrap()[0]
            .meta
            .as_ref()
            .map(|m| m.get())
            == Some("299")
    }));
    net.advance(Duration::from_secs(1));
    let events = net.take(a);
    let mut done = find!(events, ClientEvent::Done { id } => *id);
    done.sort_unstable();
    assert_eq!(done, ids, "every update resolves once");
    let refused = find!(events, ClientEvent::Error { code, .. } => *code);
    assert!(refused.is_empty(), "never rate_limited: {refused:?}");
    let sent = updates(&net.take(b)).len();
    assert!(sent < 30, "coalesced to the rate, not 300 frames: {sent}");
}
