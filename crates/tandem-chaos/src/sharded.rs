//! The `redis-cluster` scenario: three `tandem serve` nodes over a Redis Cluster of three
//! masters and three replicas, a room on each shard with its own publisher, and the
//! subscribers spread over the nodes and the rooms. The master of the first room's shard is
//! SIGKILLed; its replica is promoted after the cluster's node timeout.
//!
//! Checked, besides every subscriber's exactly-once-or-signalled-gap rule: the publishes
//! of the failed shard's room are acknowledged or fail with `unavailable` (or the
//! connection closed, when the node sends the room's clients to resume), never anything
//! else; the rooms on the other shards keep being acknowledged while the shard has no
//! master, and none of their publishes fails; the failed room works again afterwards.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use tokio::task::JoinSet;
use tokio::time::Instant;

use crate::Args;
use crate::cluster::RedisCluster;
use crate::procs::Node;
use crate::scenario::{Final, Kind, Published, Publisher, Subscriber, join_all, result_line, secs};

/// The key prefix (the nodes' default `--redis-prefix`).
const PREFIX: &str = "tandem";

/// Rooms, one per shard.
const ROOMS: usize = 3;

/// The longest the cluster may take to come up, or to fail over.
const SETTLE: Duration = Duration::from_secs(60);

/// Runs the scenario and returns its result line.
pub async fn run(args: &Args) -> Result<String, String> {
    std::fs::create_dir_all(&args.logs)
        .map_err(|e| format!("creating {}: {e}", args.logs.display()))?;
    let dir = args.logs.join("redis-cluster-data");
    eprintln!("tandem-chaos: redis-cluster: starting a Redis Cluster (3 masters, 3 replicas)");
    let mut cluster =
        RedisCluster::start(&args.redis_server, &args.redis_cli, &dir, SETTLE).await?;
    let flags = vec!["--redis".to_owned(), cluster.url()];
    let mut nodes = Vec::new();
    for i in 1..=3 {
        let node = Node::start(
            &format!("redis-cluster-node{i}"),
            &args.tandem,
            &flags,
            &args.logs,
        )
        .await?;
        node.wait_healthy(Duration::from_secs(30)).await?;
        nodes.push(node);
    }
    let result = scenario(args, &mut cluster, &mut nodes).await;
    for node in &mut nodes {
        node.kill().await;
    }
    drop(cluster);
    result
}

/// Every node's URL, `first`'s first.
fn urls_from(urls: &[String], first: usize) -> (String, Vec<String>) {
    let n = urls.len();
    let mut all = (0..n).map(|k| urls[(first + k) % n].clone());
    let url = all.next().unwrap_or_default();
    (url, all.collect())
}

/// What the fault measured.
#[derive(Debug, Default)]
struct Failover {
    /// The killed master's port, and the one serving the room afterwards.
    killed: u16,
    promoted: u16,
    /// From the kill to the cluster settled again.
    took: Duration,
    /// Per room: acknowledgements between the kill and the failover's end.
    acked_meanwhile: Vec<u64>,
}

async fn scenario(
    args: &Args,
    cluster: &mut RedisCluster,
    nodes: &mut [Node],
) -> Result<String, String> {
    let rooms = cluster
        .rooms_on_distinct_masters(PREFIX, "chaos", ROOMS)
        .await?;
    let victim = rooms[0].clone();
    let urls: Vec<String> = nodes.iter().map(Node::url).collect();
    eprintln!(
        "tandem-chaos: redis-cluster: rooms {rooms:?} (one per shard; {victim} on the shard \
         that fails); starting {} subscribers",
        args.clients
    );
    // Subscriber i: on node i % 3 (the others as fallbacks), in room (i / 3) % 3, so every
    // room has subscribers on every node.
    let mut subs = Vec::with_capacity(args.clients);
    let mut sub_room = Vec::with_capacity(args.clients);
    for i in 0..args.clients {
        let (url, fallbacks) = urls_from(&urls, i % urls.len());
        let r = (i / urls.len()) % ROOMS;
        subs.push(Subscriber::start_in(&url, &fallbacks, &rooms[r])?);
        sub_room.push(r);
    }
    let (joined, join_error, _) =
        join_all(&subs, |i| rooms[sub_room[i]].clone(), secs(args.join_secs)).await;
    eprintln!(
        "tandem-chaos: {} of {} joined",
        joined.iter().filter(|j| **j).count(),
        subs.len()
    );

    // A publisher per room, on the node after the room's index.
    let mut publishers = Vec::new();
    for (r, room) in rooms.iter().enumerate() {
        let (url, fallbacks) = urls_from(&urls, (r + 1) % urls.len());
        publishers.push(Publisher::connect_to(&url, &fallbacks, room).await?);
    }
    let acks: Vec<Arc<AtomicU64>> = publishers.iter().map(Publisher::acks).collect();
    let start = Instant::now();
    let length = secs(args.publish_for);
    let mut running = JoinSet::new();
    for (r, mut publisher) in publishers.into_iter().enumerate() {
        let rate = args.rate;
        running.spawn(async move { (r, publisher.run(rate, length, start).await) });
    }
    let collect = async {
        let mut published: Vec<Published> = (0..ROOMS).map(|_| Published::default()).collect();
        while let Some(done) = running.join_next().await {
            if let Ok((r, p)) = done {
                published[r] = p;
            }
        }
        published
    };
    let (published, fault) = tokio::join!(collect, fail_over(args, cluster, &victim, &acks, start));
    let (failover, fault_end) = fault?;
    eprintln!(
        "tandem-chaos: master {} killed, replica {} promoted after {:.2} s; acknowledged \
         meanwhile per room: {:?}",
        failover.killed,
        failover.promoted,
        failover.took.as_secs_f64(),
        failover.acked_meanwhile
    );
    for (room, p) in rooms.iter().zip(&published) {
        eprintln!(
            "tandem-chaos: {room}: published {} ({} acknowledged, {} failed {:?}, {} unanswered)",
            p.sent,
            p.acked.len(),
            p.failed,
            p.kinds,
            p.unresolved
        );
    }

    // The tail: every subscriber open, in its room, past its publisher's last ack.
    let tail_end = Instant::now() + secs(args.tail_secs);
    loop {
        let behind = subs
            .iter()
            .zip(&sub_room)
            .filter(|(s, r)| !s.caught_up(published[**r].last))
            .count();
        if behind == 0 || Instant::now() >= tail_end {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let finals: Vec<Final> = subs
        .iter()
        .zip(&joined)
        .zip(&sub_room)
        .map(|((s, j), r)| s.finish(*j, published[*r].last, fault_end, &published[*r]))
        .collect();
    let peak = nodes.iter_mut().map(Node::peak_kib).max().unwrap_or(0);

    // The shard-specific verdict and figures.
    let mut reasons = Vec::new();
    let victim_kinds = &published[0].kinds;
    let odd: Vec<String> = victim_kinds
        .iter()
        .filter(|(k, _)| **k != "unavailable" && **k != "connection_lost")
        .map(|(k, n)| format!("{n} x {k}"))
        .collect();
    if !odd.is_empty() {
        reasons.push(format!(
            "publishes in the failed shard's room failed otherwise than unavailable: {}",
            odd.join(", ")
        ));
    }
    for (r, (room, p)) in rooms.iter().zip(&published).enumerate().skip(1) {
        if p.failed > 0 {
            reasons.push(format!(
                "{} publishes failed in {room}, whose shard never failed ({:?})",
                p.failed, p.kinds
            ));
        }
        if failover.acked_meanwhile.get(r).copied().unwrap_or(0) == 0 {
            reasons.push(format!(
                "{room} got no acknowledgement while another shard failed over"
            ));
        }
    }
    let in_room = |r: usize, f: fn(&Final) -> u64| -> u64 {
        finals
            .iter()
            .zip(&sub_room)
            .filter(|(_, sr)| **sr == r)
            .map(|(x, _)| f(x))
            .sum()
    };
    let kind = |k: &str| victim_kinds.get(k).copied().unwrap_or(0);
    let figures = serde_json::json!({
        "failover_s": failover.took.as_secs_f64(),
        "victim_acked": published[0].acked.len(),
        "victim_unavailable": kind("unavailable"),
        "victim_connection_lost": kind("connection_lost"),
        "victim_other_errors": kind("timeout") + kind("other"),
        "victim_resumes": in_room(0, |f| f.recovered + f.not_recovered),
        "victim_not_recovered": in_room(0, |f| f.not_recovered),
        "victim_not_back": finals.iter().zip(&sub_room)
            .filter(|(f, r)| **r == 0 && f.joined && !f.back).count(),
        "others_acked_during_failover": failover.acked_meanwhile.iter().skip(1).min().copied().unwrap_or(0),
        "others_failed": published.iter().skip(1).map(|p| p.failed).sum::<u64>(),
        "others_resumes": (1..ROOMS).map(|r| in_room(r, |f| f.recovered + f.not_recovered)).sum::<u64>(),
    });
    let mut notes = Vec::new();
    if let Some(e) = join_error {
        notes.push(format!("join error: {e}"));
    }
    let all = merge(&published);
    let line = result_line(Kind::RedisCluster, args, &finals, &all, peak, notes);
    Ok(amend(&line, &reasons, figures))
}

/// Kills the victim room's master `args.fault_at` after `start` and waits for the
/// failover; returns what it measured and when it ended.
async fn fail_over(
    args: &Args,
    cluster: &mut RedisCluster,
    victim: &str,
    acks: &[Arc<AtomicU64>],
    start: Instant,
) -> Result<(Failover, Instant), String> {
    tokio::time::sleep_until(start + secs(args.fault_at)).await;
    let killed = cluster.master_of(PREFIX, victim).await?;
    cluster.kill(killed).await;
    let killed_at = Instant::now();
    let before: Vec<u64> = acks.iter().map(|a| a.load(Ordering::Relaxed)).collect();
    eprintln!("tandem-chaos: master {killed} (serving {victim}) killed");
    cluster.wait_settled(SETTLE).await?;
    let took = killed_at.elapsed();
    let acked_meanwhile = acks
        .iter()
        .zip(&before)
        .map(|(a, b)| a.load(Ordering::Relaxed).saturating_sub(*b))
        .collect();
    let promoted = cluster.master_of(PREFIX, victim).await?;
    Ok((
        Failover {
            killed,
            promoted,
            took,
            acked_meanwhile,
        },
        Instant::now(),
    ))
}

/// The rooms' publishers as one, for the result line's totals (numbers kept apart per
/// room).
fn merge(published: &[Published]) -> Published {
    let mut all = Published::default();
    for (r, p) in published.iter().enumerate() {
        let base = (r as u64) << 40;
        all.acked.extend(p.acked.iter().map(|n| base + n));
        all.last = all.last.max(p.last);
        all.sent += p.sent;
        all.failed += p.failed;
        all.unresolved += p.unresolved;
        all.replaced += p.replaced;
        for (k, v) in &p.errors {
            *all.errors.entry(k.clone()).or_default() += v;
        }
        for (k, v) in &p.kinds {
            *all.kinds.entry(k).or_default() += v;
        }
    }
    all
}

/// The result line with the scenario's own figures, and its reasons added to the verdict.
fn amend(line: &str, reasons: &[String], figures: serde_json::Value) -> String {
    let Ok(mut value) = serde_json::from_str::<serde_json::Value>(line) else {
        return line.to_owned();
    };
    if let (Some(out), Some(add)) = (value.as_object_mut(), figures.as_object()) {
        for (k, v) in add {
            out.insert(k.clone(), v.clone());
        }
    }
    if !reasons.is_empty() {
        let mut all: Vec<String> = value["reason"]
            .as_str()
            .filter(|r| !r.is_empty())
            .map(|r| vec![r.to_owned()])
            .unwrap_or_default();
        all.extend(reasons.iter().cloned());
        value["verdict"] = "FAIL".into();
        value["reason"] = crate::scenario::plain(&all.join("; ")).into();
    }
    value.to_string()
}
