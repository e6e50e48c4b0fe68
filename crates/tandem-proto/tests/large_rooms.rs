//! In a large room, presence changes are coalesced over a short window: arrivals cost a
//! few frames per member instead of one per arrival, and every member's view (snapshot
//! plus diffs) still ends up the room's true member list.

#![allow(clippy::unwrap_used)] // tests panic on purpose when an expectation fails

mod support;

use core::time::Duration;
use std::collections::BTreeSet;

#[cfg(target_arch = "wasm32")]
use wasm_bindgen_test::wasm_bindgen_test as test;

use support::{Net, with_token};
use tandem_proto::{ClientEvent, ServerConfig};

const WINDOW: Duration = Duration::from_millis(50);

fn server_config() -> ServerConfig {
    ServerConfig {
        authenticate: true,
        ..ServerConfig::default()
    }
}

/// Peer `i`'s view of the room's members, built from its events as an app would.
fn view(net: &mut Net, i: usize, into: &mut BTreeSet<String>) -> usize {
    let mut diffs = 0;
    for e in net.take(i) {
        match e {
            ClientEvent::Joined { members, .. } => {
                *into = members.into_iter().map(|m| m.user).collect();
            }
            ClientEvent::Presence { joined, left, .. } => {
                diffs += 1;
                into.extend(joined.into_iter().map(|m| m.user));
                for m in left {
                    into.remove(&m.user);
                }
            }
            _ => {}
        }
    }
    diffs
}

#[test]
fn arrivals_in_a_large_room_are_coalesced_and_every_view_ends_true() {
    let mut net = Net::new(server_config());
    let mut peers = Vec::new();
    for n in 0..64 {
        let p = net.client(with_token(&format!("u{n:03}")));
        net.join(p, "big", None, 0);
        peers.push(p);
    }
    let mut views: Vec<BTreeSet<String>> = vec![BTreeSet::new(); 100];
    for &p in &peers {
        view(&mut net, p, &mut views[p]);
    }
    // 36 more arrive at once, and one early member leaves and comes back meanwhile.
    for n in 64..100 {
        let p = net.client(with_token(&format!("u{n:03}")));
        net.join(p, "big", None, 0);
        peers.push(p);
        if n == 80 {
            let now = net.now;
            net.peer(peers[1]).session.leave(now, "big").unwrap();
            net.run();
            net.join(peers[1], "big", None, 0);
        }
    }
    net.advance(WINDOW * 3);
    let truth: BTreeSet<String> = (0..100).map(|n| format!("u{n:03}")).collect();
    let diffs_at_0 = view(&mut net, peers[0], &mut views[0]);
    assert!(
        diffs_at_0 <= 3,
        "36 arrivals reached an early member in {diffs_at_0} diffs"
    );
    for &p in &peers {
        let mut v = std::mem::take(&mut views[p]);
        view(&mut net, p, &mut v);
        assert_eq!(v, truth, "peer {p}'s view");
    }
}

#[test]
fn a_member_who_joined_mid_window_hears_what_changed_after_its_snapshot() {
    let mut net = Net::new(server_config());
    let mut peers = Vec::new();
    for n in 0..66 {
        let p = net.client(with_token(&format!("u{n:03}")));
        net.join(p, "big", None, 0);
        peers.push(p);
    }
    // A window is open now (u065's arrival went out at once). u010 leaves within it,
    // after late's snapshot, which still has u010.
    let late = net.client(with_token("late"));
    net.join(late, "big", None, 0);
    let now = net.now;
    net.peer(peers[10]).session.close(now);
    net.run();
    let mut v = BTreeSet::new();
    view(&mut net, late, &mut v);
    assert!(v.contains("u010"), "the snapshot had u010");
    net.advance(WINDOW * 2);
    view(&mut net, late, &mut v);
    assert!(!v.contains("u010"), "and the window's diff takes it out");
    assert_eq!(v.len(), 66);
}
