//! Three `tandem serve` nodes over a real Redis Cluster (three masters, three replicas, on
//! loopback), with rooms spread over the three shards: one order per room on every node, a
//! resume on another node, presence across nodes and slots, and a master SIGKILLed under
//! load (its replica promoted): publishes to its rooms are acknowledged or get a typed
//! error, never an acknowledgement for a message later missing; the other shards keep
//! acknowledging; the affected clients resume with a `recovered` flag that never hides a
//! gap.

#![allow(clippy::unwrap_used)]

mod support;

use std::collections::{BTreeMap, HashMap};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use support::redis_cluster::{PREFIX, RedisCluster, cli, key_slot, node, room_key};
use support::{Chat, TandemProcess, chat_client, cluster_client, within};
use tandem_client::{Client, ConnectionState, Event};
use tandem_proto::{ErrorCode, Member, OpError};

/// The harness itself: the cluster comes up with three masters each serving a third of
/// the slots, the slot arithmetic matches `CLUSTER KEYSLOT`, and a killed master's replica
/// takes its slots over.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_harness_runs_a_cluster_and_fails_a_master_over() {
    let mut cluster = RedisCluster::start().await;
    assert!(cluster.url().starts_with("redis+cluster://127.0.0.1:"));
    let masters = cluster.masters().await;
    assert_eq!(masters.len(), 3, "three masters serve slots");

    let rooms = cluster.rooms_on_distinct_masters(PREFIX, 3).await;
    let mut owners = Vec::new();
    for room in &rooms {
        let key = room_key(PREFIX, room);
        let asked = cli(masters[0], &["CLUSTER", "KEYSLOT", &key])
            .await
            .unwrap();
        assert_eq!(
            asked.trim().parse::<u16>().unwrap(),
            key_slot(&key),
            "{key}"
        );
        owners.push(cluster.master_of(room).await);
    }
    owners.sort_unstable();
    assert_eq!(owners, masters, "one room on each master");

    // A key written on the victim's shard is served again by the promoted replica.
    let victim = &rooms[0];
    let key = room_key(PREFIX, victim);
    let before = cluster.master_of(victim).await;
    cli(before, &["SET", &key, "kept"]).await.unwrap();
    // Replicated before the kill: WAIT for the one replica to have it.
    let acked = cli(before, &["WAIT", "1", "5000"]).await.unwrap();
    assert_eq!(acked.trim(), "1", "the replica has the write");
    let killed = cluster.kill_master_of(victim).await;
    assert_eq!(killed, before);
    within("the failover", cluster.wait_failover()).await;
    let after = cluster.master_of(victim).await;
    assert_ne!(after, before, "a replica was promoted");
    assert!(cluster.live_ports().contains(&after));
    let value = cli(after, &["GET", &key]).await.unwrap();
    assert_eq!(value.trim(), "kept");
    assert_eq!(cluster.masters().await.len(), 3, "three masters again");
}

// ---------------------------------------------------------------------------------------
// What each client saw, recorded by a task of its own, and waited on with a bound.
// ---------------------------------------------------------------------------------------

/// One thing a client saw in a room.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Seen {
    /// A join (`recovered: None`) or a resume (`Some(flag)`), at position `seq`.
    Joined {
        recovered: Option<bool>,
        epoch: u64,
        seq: u64,
    },
    /// A numbered message: its seq and the publisher's number.
    Message { seq: u64, n: u32 },
}

/// Everything a client saw, per room.
#[derive(Debug, Default)]
struct Log {
    rooms: HashMap<String, Vec<Seen>>,
    /// Per room, the users seen arriving and leaving (in order).
    arrived: HashMap<String, Vec<String>>,
    departed: HashMap<String, Vec<String>>,
    /// Times the connection went from open to reconnecting.
    reconnects: u32,
}

impl Log {
    fn seen(&self, room: &str) -> &[Seen] {
        self.rooms.get(room).map_or(&[], Vec::as_slice)
    }

    /// The messages of `room`: `(seq, n)` in arrival order.
    fn messages(&self, room: &str) -> Vec<(u64, u32)> {
        self.seen(room)
            .iter()
            .filter_map(|s| match s {
                Seen::Message { seq, n } => Some((*seq, *n)),
                Seen::Joined { .. } => None,
            })
            .collect()
    }

    /// The `recovered` flags of the resumes in `room` (the first join left out).
    fn resumes(&self, room: &str) -> Vec<bool> {
        self.seen(room)
            .iter()
            .filter_map(|s| match s {
                Seen::Joined { recovered, .. } => *recovered,
                Seen::Message { .. } => None,
            })
            .collect()
    }

    fn has(&self, room: &str, n: u32) -> bool {
        self.seen(room)
            .iter()
            .any(|s| matches!(s, Seen::Message { n: m, .. } if *m == n))
    }
}

/// A client's log, filled by a task draining its events.
struct Watch {
    log: Arc<Mutex<Log>>,
    changed: tokio::sync::watch::Receiver<u64>,
}

impl Watch {
    fn start(client: &Client<Chat>) -> Watch {
        let log = Arc::new(Mutex::new(Log::default()));
        let (tx, changed) = tokio::sync::watch::channel(0u64);
        let mut events = client.events();
        let shared = log.clone();
        tokio::spawn(async move {
            let mut open = false;
            while let Some(event) = events.next().await {
                {
                    let mut log = shared.lock().unwrap();
                    match event {
                        Event::State(ConnectionState::Open) => open = true,
                        Event::State(_) if open => {
                            open = false;
                            log.reconnects += 1;
                        }
                        Event::Joined {
                            room,
                            recovered,
                            epoch,
                            seq,
                            ..
                        } => log.rooms.entry(room).or_default().push(Seen::Joined {
                            recovered,
                            epoch,
                            seq,
                        }),
                        Event::Message {
                            room, seq, data, ..
                        } => log
                            .rooms
                            .entry(room)
                            .or_default()
                            .push(Seen::Message { seq, n: data.n }),
                        Event::Presence {
                            room, joined, left, ..
                        } => {
                            let users = |ms: Vec<Member>| ms.into_iter().map(|m| m.user);
                            log.arrived
                                .entry(room.clone())
                                .or_default()
                                .extend(users(joined));
                            log.departed.entry(room).or_default().extend(users(left));
                        }
                        _ => {}
                    }
                }
                tx.send_modify(|v| *v += 1);
            }
        });
        Watch { log, changed }
    }

    /// Waits (bounded) until `pick` maps the log to `Some`.
    async fn until<T>(&mut self, what: &str, mut pick: impl FnMut(&Log) -> Option<T>) -> T {
        within(what, async {
            loop {
                if let Some(v) = pick(&self.log.lock().unwrap()) {
                    return v;
                }
                self.changed
                    .changed()
                    .await
                    .unwrap_or_else(|_| panic!("the event stream ended while waiting for {what}"));
            }
        })
        .await
    }

    /// Waits until `room` has `count` messages; returns them.
    async fn messages(&mut self, room: &str, count: usize) -> Vec<(u64, u32)> {
        self.until(&format!("{count} messages in {room}"), |log| {
            let all = log.messages(room);
            (all.len() >= count).then_some(all)
        })
        .await
    }

    fn log(&self) -> std::sync::MutexGuard<'_, Log> {
        self.log.lock().unwrap()
    }
}

/// A Redis Cluster, three `tandem serve` nodes on it with `flags`, and `rooms` room names
/// spread over the three masters (room `i` on master `i % 3`).
async fn three_nodes(
    flags: &[&str],
    rooms: usize,
) -> (RedisCluster, Vec<TandemProcess>, Vec<String>) {
    let cluster = RedisCluster::start().await;
    let mut nodes = Vec::new();
    for _ in 0..3 {
        nodes.push(node(&cluster, flags).await);
    }
    let rooms = cluster.rooms_on_distinct_masters(PREFIX, rooms).await;
    (cluster, nodes, rooms)
}

/// Every node: `urls[i]` first, then the others.
fn urls_from(nodes: &[TandemProcess], first: usize) -> Vec<String> {
    (0..nodes.len())
        .map(|k| nodes[(first + k) % nodes.len()].url())
        .collect()
}

// ---------------------------------------------------------------------------------------
// (a) One order per room on every node.
// ---------------------------------------------------------------------------------------

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rooms_on_three_shards_keep_one_order_seen_alike_on_every_node() {
    let (cluster, nodes, rooms) = three_nodes(&[], 6).await;
    let mut masters: Vec<u16> = Vec::new();
    for room in &rooms {
        masters.push(cluster.master_of(room).await);
    }
    masters.sort_unstable();
    masters.dedup();
    assert_eq!(masters.len(), 3, "the rooms sit on all three shards");

    let mut clients = Vec::new();
    let mut watches = Vec::new();
    for (i, node) in nodes.iter().enumerate() {
        let client = chat_client(&node.url(), &format!("user{i}")).await;
        watches.push(Watch::start(&client));
        for room in &rooms {
            client.join(room).await.unwrap();
        }
        clients.push(client);
    }

    // Each client publishes 10 messages to every room, all rooms and clients at once; a
    // client's messages to one room go one after the other.
    const EACH: u32 = 10;
    let mut publishing = Vec::new();
    for (i, client) in clients.iter().enumerate() {
        for room in &rooms {
            let (client, room) = (client.clone(), room.clone());
            publishing.push(async move {
                for k in 0..EACH {
                    client
                        .publish(&room, &Chat::new(i as u32 * 100 + k))
                        .await
                        .unwrap();
                }
            });
        }
    }
    within(
        "every publish acknowledged",
        futures_util::future::join_all(publishing),
    )
    .await;

    let total = 3 * EACH as usize;
    for room in &rooms {
        let mut orders = Vec::new();
        for watch in &mut watches {
            orders.push(watch.messages(room, total).await);
        }
        let first = &orders[0];
        assert_eq!(
            first.len(),
            total,
            "{room}: nothing more than was published"
        );
        assert!(
            orders.iter().all(|o| o == first),
            "{room}: one order on every node: {orders:?}"
        );
        let seqs: Vec<u64> = first.iter().map(|(s, _)| *s).collect();
        assert_eq!(
            seqs,
            (1..=total as u64).collect::<Vec<_>>(),
            "{room}: no gap"
        );
        for i in 0..3u32 {
            let own: Vec<u32> = first
                .iter()
                .map(|(_, n)| *n)
                .filter(|n| n / 100 == i)
                .collect();
            let want: Vec<u32> = (0..EACH).map(|k| i * 100 + k).collect();
            assert_eq!(own, want, "{room}: each publisher's order kept, each once");
        }
    }
    drop(clients);
}

// ---------------------------------------------------------------------------------------
// (b) A resume on another node.
// ---------------------------------------------------------------------------------------

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_resumes_on_another_node_with_nothing_lost_or_repeated() {
    let (_cluster, mut nodes, rooms) = three_nodes(&[], 3).await;
    let alice = cluster_client(&urls_from(&nodes, 0), "alice").await;
    let bob = chat_client(&nodes[2].url(), "bob").await;
    let mut alice_log = Watch::start(&alice);
    for room in &rooms {
        alice.join(room).await.unwrap();
        bob.join(room).await.unwrap();
    }
    for room in &rooms {
        for n in 0..5 {
            bob.publish(room, &Chat::new(n)).await.unwrap();
        }
    }
    for room in &rooms {
        alice_log.messages(room, 5).await;
    }

    // Node 0 dies; bob (on node 2) keeps publishing to every room while alice moves to
    // node 1.
    nodes[0].kill().await;
    let publishing = tokio::spawn({
        let (bob, rooms) = (bob.clone(), rooms.clone());
        async move {
            for n in 5..40 {
                for room in &rooms {
                    bob.publish(room, &Chat::new(n)).await.unwrap();
                }
            }
        }
    });
    for room in &rooms {
        let resumes = alice_log
            .until(&format!("alice's resume of {room} on node 1"), |log| {
                let r = log.resumes(room);
                (!r.is_empty()).then_some(r)
            })
            .await;
        assert_eq!(resumes, [true], "{room}: the shard has the room's history");
    }
    within("bob's publishes", publishing).await.unwrap();
    let want: Vec<(u64, u32)> = (0..40).map(|n| (u64::from(n) + 1, n)).collect();
    for room in &rooms {
        let got = alice_log.messages(room, 40).await;
        assert_eq!(
            got, want,
            "{room}: every message once, in order, across the move"
        );
    }
    assert_eq!(alice_log.log().reconnects, 1);
    drop((alice, bob));
}

// ---------------------------------------------------------------------------------------
// (c) Presence across nodes and shards; per-room channels only where members are.
// ---------------------------------------------------------------------------------------

/// The users of a member list, sorted.
fn users(members: &[Member]) -> Vec<String> {
    let mut users: Vec<String> = members.iter().map(|m| m.user.clone()).collect();
    users.sort();
    users
}

/// Waits (bounded) until `room`'s sharded channel has `want` subscribed connections.
async fn wait_subscribers(cluster: &RedisCluster, room: &str, want: u64) {
    let mut now = None;
    let reached = tokio::time::timeout(support::WAIT, async {
        loop {
            let count = cluster.shard_subscribers(room).await;
            if count == want {
                return;
            }
            now = Some(count);
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    })
    .await;
    assert!(
        reached.is_ok(),
        "{room}'s sharded channel {} on its master: {now:?} subscribers after {:?}, want {want}",
        room_key(PREFIX, room),
        support::WAIT
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn presence_spans_nodes_and_shards_and_a_leave_is_seen_everywhere() {
    let (cluster, mut nodes, rooms) = three_nodes(&["--presence-timeout", "1s"], 3).await;
    let alice = chat_client(&nodes[0].url(), "alice").await;
    let bob = chat_client(&nodes[1].url(), "bob").await;
    let carol = chat_client(&nodes[2].url(), "carol").await;
    let mut alice_log = Watch::start(&alice);
    let mut bob_log = Watch::start(&bob);

    for room in &rooms {
        alice.join(room).await.unwrap();
        bob.join(room).await.unwrap();
        // A node subscribes to a room's channel (on the room's shard) only while it has
        // members there: nodes 0 and 1 now, not node 2.
        assert_eq!(
            cluster.shard_subscribers(room).await,
            2,
            "{room}: the two nodes with members subscribe ({})",
            room_key(PREFIX, room)
        );
        let joined = carol.join(room).await.unwrap();
        assert_eq!(
            users(&joined.members),
            ["alice", "bob", "carol"],
            "{room}: carol's snapshot spans the three nodes"
        );
        assert_eq!(cluster.shard_subscribers(room).await, 3, "{room}");
    }
    for room in &rooms {
        for log in [&mut alice_log, &mut bob_log] {
            log.until(&format!("carol's arrival in {room}"), |l| {
                l.arrived
                    .get(room)?
                    .iter()
                    .any(|u| u == "carol")
                    .then_some(())
            })
            .await;
        }
        assert_eq!(
            users(&alice.members(room).await.unwrap()),
            ["alice", "bob", "carol"]
        );
    }

    // Carol leaves the first room: seen on the other two nodes; node 2 drops the channel.
    carol.leave(&rooms[0]).await.unwrap();
    for log in [&mut alice_log, &mut bob_log] {
        log.until("carol's leave", |l| {
            l.departed
                .get(&rooms[0])?
                .iter()
                .any(|u| u == "carol")
                .then_some(())
        })
        .await;
    }
    assert_eq!(
        users(&bob.members(&rooms[0]).await.unwrap()),
        ["alice", "bob"]
    );
    wait_subscribers(&cluster, &rooms[0], 2).await;

    // Node 2 dies with carol in the other two rooms (on two other shards): once its
    // liveness runs out, she leaves both, on both remaining nodes.
    nodes[2].kill().await;
    for room in &rooms[1..] {
        for log in [&mut alice_log, &mut bob_log] {
            log.until(&format!("carol's departure from {room}"), |l| {
                l.departed
                    .get(room)?
                    .iter()
                    .any(|u| u == "carol")
                    .then_some(())
            })
            .await;
        }
        assert_eq!(users(&alice.members(room).await.unwrap()), ["alice", "bob"]);
    }
    {
        let log = alice_log.log();
        for room in &rooms {
            let gone = &log.departed[room];
            assert!(
                gone.iter().all(|u| u == "carol"),
                "{room}: only carol left: {gone:?}"
            );
        }
    }

    // Everybody leaves: no node stays subscribed to any room's channel.
    for room in &rooms {
        alice.leave(room).await.unwrap();
        bob.leave(room).await.unwrap();
    }
    for room in &rooms {
        wait_subscribers(&cluster, room, 0).await;
    }
    drop((alice, bob, carol));
}

// ---------------------------------------------------------------------------------------
// (d) A master SIGKILLed under load.
// ---------------------------------------------------------------------------------------

/// What a publisher's load got back.
#[derive(Debug, Default)]
struct Outcomes {
    /// `n` → the acknowledged seq.
    acked: BTreeMap<u32, u64>,
    /// `n` → the error.
    failed: BTreeMap<u32, tandem_client::Error>,
}

/// A publisher keeping up to 8 publishes in flight in `room`, one every 5 ms at most,
/// until `stop` (at most 5,000).
struct Load {
    outcomes: Arc<Mutex<Outcomes>>,
    task: tokio::task::JoinHandle<()>,
}

impl Load {
    fn start(client: Client<Chat>, room: String, stop: Arc<AtomicBool>) -> Load {
        let outcomes = Arc::new(Mutex::new(Outcomes::default()));
        let shared = outcomes.clone();
        let task = tokio::spawn(async move {
            let mut in_flight = tokio::task::JoinSet::new();
            // Pacing of the load (not a synchronisation): at most 200 messages a second.
            let mut tick = tokio::time::interval(Duration::from_millis(5));
            for n in 0..5_000u32 {
                if stop.load(Ordering::Relaxed) {
                    break;
                }
                tick.tick().await;
                if in_flight.len() >= 8 {
                    in_flight.join_next().await;
                }
                let (client, room, out) = (client.clone(), room.clone(), shared.clone());
                in_flight.spawn(async move {
                    let result = client.publish(&room, &Chat::new(n)).await;
                    let mut out = out.lock().unwrap();
                    match result {
                        Ok(seq) => out.acked.insert(n, seq),
                        Err(e) => out.failed.insert(n, e).map(|_| 0),
                    };
                });
            }
            // Every publish resolves: acknowledged or a typed error.
            while in_flight.join_next().await.is_some() {}
        });
        Load { outcomes, task }
    }

    fn acked(&self) -> usize {
        self.outcomes.lock().unwrap().acked.len()
    }

    /// Waits (bounded) until `count` publishes were acknowledged in all.
    async fn wait_acked(&self, what: &str, count: usize) {
        within(what, async {
            while self.acked() < count {
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
        })
        .await;
    }
}

/// Whether `e` is what a publish in flight during a shard's failover may get: the typed
/// `unavailable`, or the connection closed before the answer (the node sends the clients
/// of a room that missed messages away with 1013, to resume).
fn allowed_failure(e: &tandem_client::Error) -> bool {
    matches!(
        e,
        tandem_client::Error::Op(OpError::Server {
            code: ErrorCode::Unavailable,
            ..
        }) | tandem_client::Error::Op(OpError::ConnectionLost)
    )
}

/// Checks one subscriber's view of one room against what the publisher was told. Returns
/// the problems found (empty: fine).
///
/// - In order, never twice: each message's seq is the last + 1, except right after a
///   `recovered: false` resume (the room's numbering may have moved on or restarted).
/// - Nothing acknowledged silently missing: every acknowledged message arrived with the
///   acknowledged seq, or a `recovered: false` resume said a gap was lost.
fn check_room(seen: &[Seen], outcomes: &Outcomes) -> Vec<String> {
    let mut problems = Vec::new();
    let mut last: Option<u64> = None;
    let mut signalled = false;
    let mut ns = BTreeMap::new();
    for s in seen {
        match *s {
            Seen::Joined {
                recovered: None,
                seq,
                ..
            } => last = Some(seq),
            Seen::Joined {
                recovered: Some(true),
                ..
            } => {}
            Seen::Joined {
                recovered: Some(false),
                ..
            } => signalled = true,
            Seen::Message { seq, n } => {
                match last {
                    _ if signalled => signalled = false,
                    Some(l) if seq == l + 1 => {}
                    l => problems.push(format!("seq {seq} (n {n}) after {l:?}")),
                }
                last = Some(seq);
                if ns.insert(n, seq).is_some() {
                    problems.push(format!("n {n} twice"));
                }
            }
        }
    }
    let gap_signalled = seen.iter().any(|s| {
        matches!(
            s,
            Seen::Joined {
                recovered: Some(false),
                ..
            }
        )
    });
    for (&n, &seq) in &outcomes.acked {
        match ns.get(&n) {
            Some(&got) if got != seq => problems.push(format!(
                "n {n} acknowledged as seq {seq}, delivered as {got}"
            )),
            Some(_) => {}
            None if gap_signalled => {}
            None => problems.push(format!(
                "n {n} (seq {seq}) acknowledged, never delivered, no recovered: false"
            )),
        }
    }
    problems
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_master_killed_under_load_loses_nothing_acknowledged_silently() {
    // The load runs above the default per-connection rate limit.
    let flags = ["--rate", "100000", "--burst", "100000"];
    let (mut cluster, nodes, rooms) = three_nodes(&flags, 3).await;
    let victim = rooms[0].clone();

    // A subscriber on each node, in every room (with the other nodes as fallbacks).
    let mut subscribers = Vec::new();
    let mut watches = Vec::new();
    for i in 0..3 {
        let client = cluster_client(&urls_from(&nodes, i), &format!("sub{i}")).await;
        watches.push(Watch::start(&client));
        for room in &rooms {
            client.join(room).await.unwrap();
        }
        subscribers.push(client);
    }
    // A publisher per room, each on another node, in its room only.
    let stop = Arc::new(AtomicBool::new(false));
    let mut loads = Vec::new();
    let mut publishers = Vec::new();
    for (r, room) in rooms.iter().enumerate() {
        let client = cluster_client(&urls_from(&nodes, (r + 1) % 3), &format!("pub{r}")).await;
        client.join(room).await.unwrap();
        loads.push(Load::start(client.clone(), room.clone(), stop.clone()));
        publishers.push(client);
    }
    let started = std::time::Instant::now();
    for (load, room) in loads.iter().zip(&rooms) {
        load.wait_acked(&format!("50 acknowledged in {room}"), 50)
            .await;
    }
    let warm: Vec<usize> = loads.iter().map(Load::acked).collect();
    println!("warm-up: {warm:?} acknowledged in {:?}", started.elapsed());

    // SIGKILL the victim room's master; its replica takes over after the node timeout.
    let killed = cluster.kill_master_of(&victim).await;
    let at_kill: Vec<usize> = loads.iter().map(Load::acked).collect();
    let killed_at = std::time::Instant::now();
    cluster.wait_failover().await;
    println!("failover took {:?}", killed_at.elapsed());
    let at_failover: Vec<usize> = loads.iter().map(Load::acked).collect();
    let promoted = cluster.master_of(&victim).await;
    assert_ne!(promoted, killed);
    println!(
        "master {killed} of {victim} killed; replica {promoted} promoted; acknowledged per \
         room at the kill {at_kill:?}, at the failover {at_failover:?}"
    );
    // The other shards kept acknowledging while the victim's had no master.
    for r in 1..rooms.len() {
        assert!(
            at_failover[r] >= at_kill[r] + 20,
            "{}: only {} acknowledged while another shard failed over",
            rooms[r],
            at_failover[r] - at_kill[r]
        );
    }
    // Every node has members in every room: each is subscribed to every room's channel,
    // the victim's on the promoted replica too.
    for room in &rooms {
        wait_subscribers(&cluster, room, 3).await;
    }
    // The victim room works again on the promoted replica.
    loads[0]
        .wait_acked(
            &format!("acknowledgements in {victim} after the failover"),
            at_failover[0] + 50,
        )
        .await;
    stop.store(true, Ordering::Relaxed);
    for load in &mut loads {
        within("the load to stop, every publish resolved", &mut load.task)
            .await
            .unwrap();
    }

    // Every subscriber catches up to the last acknowledged message of every room.
    for (room, load) in rooms.iter().zip(&loads) {
        let last = *load.outcomes.lock().unwrap().acked.keys().last().unwrap();
        for (i, watch) in watches.iter_mut().enumerate() {
            watch
                .until(
                    &format!("sub{i} to get {room}'s last message {last}"),
                    |log| log.has(room, last).then_some(()),
                )
                .await;
        }
    }

    let mut problems = Vec::new();
    for (r, (room, load)) in rooms.iter().zip(&loads).enumerate() {
        let outcomes = load.outcomes.lock().unwrap();
        let kinds: BTreeMap<String, usize> =
            outcomes
                .failed
                .values()
                .fold(BTreeMap::new(), |mut kinds, e| {
                    *kinds.entry(format!("{e:?}")).or_default() += 1;
                    kinds
                });
        println!(
            "{room}{}: {} acknowledged, {} failed {kinds:?}",
            if r == 0 { " (victim)" } else { "" },
            outcomes.acked.len(),
            outcomes.failed.len()
        );
        for (n, e) in &outcomes.failed {
            if r != 0 {
                problems.push(format!("{room}: a shard that never failed: n {n}: {e:?}"));
            } else if !allowed_failure(e) {
                problems.push(format!("{room}: n {n} failed with {e:?}"));
            }
        }
        for (i, watch) in watches.iter().enumerate() {
            let log = watch.log();
            let resumes = log.resumes(room);
            println!(
                "  sub{i}: resumes {resumes:?}, {} messages",
                log.messages(room).len()
            );
            if r != 0 && resumes.contains(&false) {
                problems.push(format!(
                    "{room}: sub{i} told of a gap on a shard that never failed"
                ));
            }
            for p in check_room(log.seen(room), &outcomes) {
                problems.push(format!("{room}: sub{i}: {p}"));
            }
        }
    }
    assert!(
        problems.is_empty(),
        "{} problems: {problems:#?}",
        problems.len()
    );
    drop((subscribers, publishers));
}
