//! The collaboration primitives through real `tandem serve` processes: presence updates,
//! ephemeral messages and history pages across two nodes sharing a real Redis, room
//! policies from `--room` flags on every node, and a slow reader shedding ephemeral
//! messages without being closed.

#![allow(clippy::unwrap_used)]

mod support;

use serde_json::Value;
use support::raw;
use support::redis::{RedisProcess, node};
use support::{Chat, TandemProcess, chat_client, token, wait_for, within};
use tandem_client::{Error, Event, HistoryQuery};
use tandem_proto::ErrorCode;

const POLICIES: [&str; 4] = [
    "--room",
    "cursors/*:history=0,ephemeral-only,presence=off",
    "--room",
    "small:max-members=2",
];

fn server_code(e: Error) -> ErrorCode {
    match e {
        Error::Op(tandem_proto::OpError::Server { code, .. }) => code,
        other => panic!("expected a server error, got {other:?}"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn updates_ephemeral_messages_and_pages_cross_two_nodes_over_redis() {
    let redis = RedisProcess::start().await;
    let one = node(&redis, &[]).await;
    let two = node(&redis, &[]).await;
    let alice = chat_client(&one.url(), "alice").await;
    let bob = chat_client(&two.url(), "bob").await;
    let mut alice_events = alice.events();
    let mut bob_events = bob.events();
    alice.join("room").await.unwrap();
    bob.join("room").await.unwrap();

    // A presence update on node one reaches bob on node two, and his member list.
    alice
        .set_presence("room", &serde_json::json!({"cursor": [3, 4]}))
        .await
        .unwrap();
    let updated = wait_for(&mut bob_events, "alice's update on node 2", |e| match e {
        Event::Presence { updated, .. } if !updated.is_empty() => Some(updated),
        _ => None,
    })
    .await;
    assert_eq!(updated[0].user, "alice");
    assert_eq!(
        updated[0].meta.as_ref().unwrap().get(),
        r#"{"cursor":[3,4]}"#
    );
    let members = bob.members("room").await.unwrap();
    let alice_meta = members.iter().find(|m| m.user == "alice").unwrap();
    assert_eq!(
        alice_meta.meta.as_ref().unwrap().get(),
        r#"{"cursor":[3,4]}"#
    );
    // Alice's second tab, on node two with another meta, does not revert it: a newcomer
    // on a third node, whose snapshot comes from Redis, still sees the update.
    let tab = chat_client(&two.url(), "alice").await;
    let options = tandem_client::JoinOptions::new().meta("tab two").unwrap();
    tab.join_with("room", options).await.unwrap();
    let three = node(&redis, &[]).await;
    let dee = chat_client(&three.url(), "dee").await;
    let snapshot = dee.join("room").await.unwrap().members;
    let alice_meta = snapshot.iter().find(|m| m.user == "alice").unwrap();
    assert_eq!(
        alice_meta.meta.as_ref().unwrap().get(),
        r#"{"cursor":[3,4]}"#
    );

    // Ephemeral messages cross the nodes, unnumbered, and do not come back to the sender.
    for n in 0..5 {
        alice.broadcast("room", &Chat::new(n)).await.unwrap();
    }
    let mut got = Vec::new();
    while got.len() < 5 {
        let n = wait_for(&mut bob_events, "alice's ephemeral messages", |e| match e {
            Event::Ephemeral { from, data, .. } => {
                assert_eq!(from.as_deref(), Some("alice"));
                Some(data.unwrap().n)
            }
            Event::Message { .. } => panic!("an ephemeral message arrived numbered"),
            _ => None,
        })
        .await;
        got.push(n);
    }
    assert_eq!(got, [0, 1, 2, 3, 4], "in the order sent");

    // Numbered messages are paged from Redis by a client on node two that never joined.
    for n in 0..30 {
        alice.publish("room", &Chat::new(100 + n)).await.unwrap();
    }
    // Alice saw her own numbered messages and none of her ephemeral ones.
    let mine = support::messages(&mut alice_events, "room", 30).await;
    assert_eq!(mine.first().unwrap().1.n, 100);
    let carol = chat_client(&two.url(), "carol").await;
    let mut before = None;
    let mut seen: Vec<u64> = Vec::new();
    loop {
        let query = HistoryQuery {
            before,
            limit: Some(12),
        };
        let page = within("a page", carol.history("room", query))
            .await
            .unwrap();
        let seqs: Vec<u64> = page.messages.iter().map(|m| m.seq).collect();
        assert!(page.messages.iter().all(|m| m.data.n >= 100));
        seen.splice(0..0, seqs.iter().copied());
        if !page.more {
            break;
        }
        before = seqs.first().copied();
    }
    assert_eq!(
        seen,
        (1..=30).collect::<Vec<u64>>(),
        "every message once, across pages"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn room_policies_from_the_command_line_hold_on_every_node() {
    let redis = RedisProcess::start().await;
    let one = node(&redis, &POLICIES).await;
    let two = node(&redis, &POLICIES).await;
    let alice = chat_client(&one.url(), "alice").await;
    let bob = chat_client(&two.url(), "bob").await;
    let mut bob_events = bob.events();

    // An ephemeral-only room without presence or history, announced in `joined`.
    let joined = alice.join("cursors/board").await.unwrap();
    let policy = joined.policy.unwrap();
    assert!(!policy.numbered && !policy.presence);
    assert_eq!(policy.history, 0);
    let joined = bob.join("cursors/board").await.unwrap();
    assert!(joined.members.is_empty(), "no presence snapshot");
    let refused = alice
        .publish("cursors/board", &Chat::new(1))
        .await
        .unwrap_err();
    assert_eq!(server_code(refused), ErrorCode::RoomPolicy);
    alice
        .broadcast_acked("cursors/board", &Chat::new(2))
        .await
        .unwrap();
    let n = wait_for(&mut bob_events, "the cursor move", |e| match e {
        Event::Ephemeral { data, .. } => Some(data.unwrap().n),
        Event::Presence { .. } => panic!("presence in a room without it"),
        _ => None,
    })
    .await;
    assert_eq!(n, 2);

    // A member limit of two, counted across both nodes by Redis.
    alice.join("small").await.unwrap();
    bob.join("small").await.unwrap();
    let carol = chat_client(&one.url(), "carol").await;
    let refused = carol.join("small").await.unwrap_err();
    assert_eq!(server_code(refused), ErrorCode::RoomFull);
    let alice_again = chat_client(&two.url(), "alice").await;
    alice_again.join("small").await.unwrap();
    // A room no pattern names keeps the defaults.
    let lobby = alice.join("lobby").await.unwrap().policy.unwrap();
    assert!(lobby.numbered && lobby.presence && lobby.max_members.is_none());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_reader_that_falls_behind_sheds_ephemeral_messages_and_is_not_closed() {
    let server =
        TandemProcess::start(&["--outbound-queue", "8", "--rate", "5000", "--burst", "5000"]).await;
    let publisher = chat_client(&server.url(), "publisher").await;
    publisher.join("room").await.unwrap();
    // A member that stops reading while the publisher floods it with cursor moves.
    let mut sloth = raw::welcomed(server.addr(), &token("sloth")).await;
    raw::send(&mut sloth, r#"{"v":1,"k":"join","id":1,"room":"room"}"#).await;
    assert_eq!(raw::recv(&mut sloth).await["k"], "joined");
    let blob = "c".repeat(60_000);
    for n in 0..300u32 {
        let chat = Chat {
            n,
            text: blob.clone(),
        };
        publisher.broadcast("room", &chat).await.unwrap();
    }
    // Acked after the server handled every broadcast before it, in order.
    let seq = publisher.publish("room", &Chat::new(1_000)).await.unwrap();
    // Reading again, the sloth finds some cursor moves, then the numbered message: it
    // was never closed (a close would end the stream first).
    let mut ephemeral = 0;
    within("the numbered message after the flood", async {
        loop {
            let frame: Value = raw::recv(&mut sloth).await;
            assert_eq!(frame["k"], "event", "{}", frame["k"]);
            match frame["seq"].as_u64() {
                Some(s) => {
                    assert_eq!(s, seq);
                    break;
                }
                None => ephemeral += 1,
            }
        }
    })
    .await;
    assert!(
        ephemeral < 300,
        "some cursor moves were shed, got {ephemeral}"
    );
    assert!(ephemeral > 0, "the socket buffers held some");
    assert!(server.healthy().await);
}
