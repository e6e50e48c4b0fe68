//! Bus bytes per node: several `tandem serve --redis` nodes on one Redis, each hosting the
//! members of its own share of the rooms, and one more node with a member in every room.
//! A fixed number of messages is published into every room (each room's publisher is its
//! member on its home node); the bus proxy (`tandem-bench bus-proxy`, one listener per
//! node) counts the bytes Redis sends each node while they flow.
//!
//! A node that hosts every room receives what every node received when all rooms shared
//! one bus channel, so its count is the single-bus baseline measured in the same run; a
//! home node's count is what per-room channels cost it. Their ratio is the figure.
//!
//! The proxy's listeners are the home nodes in the order of `--url`, then `--all-url`'s.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use futures_util::{SinkExt, StreamExt};
use serde_json::json;
use tokio_tungstenite::tungstenite::Message;

use crate::conn::{Endpoint, Ws};
use crate::target::Target;
use crate::{bus_proxy, cpu, payload};

/// Publishes a room's publisher keeps unacknowledged at most.
const WINDOW: u64 = 8;

/// The longest the messages may take to reach every member.
const AT_MOST: Duration = Duration::from_secs(120);

/// Options of `tandem-bench bus`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// A node hosting its share of the rooms (repeat, one per home node).
    #[arg(long = "url", required = true)]
    homes: Vec<String>,
    /// A node with a member in every room: what a node receives under one shared bus.
    #[arg(long)]
    all_url: String,
    /// The bus proxy's control address.
    #[arg(long)]
    proxy: SocketAddr,
    /// Rooms, spread over the home nodes.
    #[arg(long, default_value_t = 300)]
    rooms: usize,
    /// Messages published into every room.
    #[arg(long, default_value_t = 50)]
    messages: u64,
    /// The Redis server's process id: its CPU time per message is reported.
    #[arg(long)]
    redis_pid: Option<u32>,
    /// The nodes' process ids, in the order of the proxy's listeners (the home nodes,
    /// then the all-rooms node): their CPU time per message is reported.
    #[arg(long = "node-pid")]
    node_pids: Vec<u32>,
}

/// Runs the bus-bytes figure and prints its result line.
pub async fn run(args: Args) -> Result<(), String> {
    let homes = args
        .homes
        .iter()
        .map(|url| Endpoint::new(Target::Tandem, url))
        .collect::<Result<Vec<_>, _>>()?;
    let all = Endpoint::new(Target::Tandem, &args.all_url)?;
    eprintln!(
        "bus: {} rooms over {} home nodes, a member of each on one more node",
        args.rooms,
        homes.len()
    );
    // Room r lives on home node r % homes; its publisher is its member there.
    let opened = futures_util::stream::iter(0..args.rooms)
        .map(|r| {
            let room = format!("bus-{r}");
            let home = homes[r % homes.len()].clone().with_room(&room);
            let all = all.clone().with_room(&room);
            async move {
                let publisher = home.open(r).await?;
                let watcher = all.open(r).await?;
                Ok::<_, String>((room, publisher, watcher))
            }
        })
        .buffer_unordered(32)
        .collect::<Vec<_>>()
        .await
        .into_iter()
        .collect::<Result<Vec<_>, _>>()?;
    // Presence news of the joins and any subscriptions settle before counting.
    tokio::time::sleep(Duration::from_secs(1)).await;

    let (before, before_up) = bus_proxy::counts(args.proxy).await?;
    let redis_before = args.redis_pid.map(cpu::of).transpose()?;
    let nodes_before = args
        .node_pids
        .iter()
        .map(|&pid| cpu::of(pid))
        .collect::<Result<Vec<_>, _>>()?;
    let start = Instant::now();
    let mut tasks = Vec::with_capacity(opened.len() * 2);
    for (room, publisher, watcher) in opened {
        tasks.push(tokio::spawn(publish(publisher, room, args.messages)));
        tasks.push(tokio::spawn(watch(watcher, args.messages)));
    }
    let finished = tokio::time::timeout(AT_MOST, futures_util::future::join_all(tasks))
        .await
        .map_err(|_| format!("the messages did not all arrive within {AT_MOST:?}"))?;
    for result in finished {
        result.map_err(|e| format!("a member's task: {e}"))??;
    }
    let elapsed = start.elapsed().as_secs_f64();
    let (after, after_up) = bus_proxy::counts(args.proxy).await?;
    let nodes_cpu = args
        .node_pids
        .iter()
        .zip(&nodes_before)
        .map(|(&pid, before)| Ok(cpu::of(pid)?.saturating_sub(*before)))
        .collect::<Result<Vec<_>, String>>()?;
    let redis_cpu = match (args.redis_pid, redis_before) {
        (Some(pid), Some(before)) => Some(cpu::of(pid)?.saturating_sub(before)),
        _ => None,
    };

    let nodes = homes.len();
    if after.len() != nodes + 1 {
        return Err(format!(
            "the bus proxy counts {} listeners, not {} (the home nodes and the all-rooms node)",
            after.len(),
            nodes + 1
        ));
    }
    let delta = |a: &[u64], b: &[u64], i: usize| a[i].saturating_sub(b[i]);
    let home_bytes: Vec<u64> = (0..nodes).map(|i| delta(&after, &before, i)).collect();
    let all_bytes = delta(&after, &before, nodes);
    let home_up: Vec<u64> = (0..nodes)
        .map(|i| delta(&after_up, &before_up, i))
        .collect();
    let total = args.rooms as u64 * args.messages;
    let home_mean = home_bytes.iter().sum::<u64>() as f64 / nodes as f64;
    let ratio = home_mean / (all_bytes as f64).max(1.0);
    eprintln!(
        "bus: {total} messages in {elapsed:.1} s; bytes from Redis per home node {home_bytes:?}, \
         to the all-rooms node {all_bytes} (ratio {ratio:.3})"
    );
    let mut result = json!({
        "figure": "bus",
        "rooms": args.rooms,
        "home_nodes": nodes,
        "messages": total,
        "seconds": elapsed,
        "home_bytes": home_bytes,
        "home_mean_bytes": home_mean,
        "home_min_bytes": home_bytes.iter().min().copied().unwrap_or(0),
        "home_max_bytes": home_bytes.iter().max().copied().unwrap_or(0),
        "all_bytes": all_bytes,
        "ratio": ratio,
        "bytes_per_message": all_bytes as f64 / total.max(1) as f64,
        "to_redis_bytes_per_publish": home_up.iter().sum::<u64>() as f64 / total.max(1) as f64,
    });
    if let Some(spent) = redis_cpu {
        result["redis_cpu_us_per_message"] = json!(spent.as_secs_f64() * 1e6 / total.max(1) as f64);
    }
    if nodes_cpu.len() == nodes + 1 {
        // A home node publishes, stores and receives its own rooms' messages; the
        // all-rooms node only receives every message and hands it to one member.
        let per_home = total as f64 / nodes as f64;
        let home_cpu: f64 = nodes_cpu[..nodes].iter().map(Duration::as_secs_f64).sum();
        result["home_cpu_us_per_message"] = json!(home_cpu * 1e6 / nodes as f64 / per_home);
        result["all_cpu_us_per_message"] =
            json!(nodes_cpu[nodes].as_secs_f64() * 1e6 / total.max(1) as f64);
    }
    crate::report(&result);
    Ok(())
}

/// Publishes `messages` numbered messages into `room`, at most [`WINDOW`] unacknowledged,
/// and returns once every one is acknowledged and came back (the node delivers its
/// publisher's own copy too, after it crossed the bus).
async fn publish(ws: Ws, room: String, messages: u64) -> Result<(), String> {
    let (mut sink, mut stream) = ws.split();
    let room = serde_json::to_string(&room).map_err(|e| e.to_string())?;
    let (mut sent, mut acked, mut echoed) = (0u64, 0u64, 0u64);
    while acked < messages || echoed < messages {
        while sent < messages && sent - acked < WINDOW {
            sent += 1;
            let data = payload::stamped_numbered(Instant::now(), sent);
            let frame =
                format!(r#"{{"v":1,"k":"publish","id":{sent},"room":{room},"data":"{data}"}}"#);
            sink.send(Message::text(frame))
                .await
                .map_err(|e| format!("publisher: {e}"))?;
        }
        let text = next_text(&mut stream).await?;
        if text.contains(r#""k":"ack""#) {
            acked += 1;
        } else if text.contains(r#""k":"event""#) {
            echoed += 1;
        } else if let Some(answer) = Target::Tandem.answer(&text) {
            sink.send(Message::text(answer))
                .await
                .map_err(|e| format!("publisher: {e}"))?;
        } else if text.contains(r#""k":"error""#) {
            return Err(format!("the server refused a publish: {text}"));
        }
    }
    let _ = sink.close().await;
    Ok(())
}

/// Reads until `messages` events arrived.
async fn watch(mut ws: Ws, messages: u64) -> Result<(), String> {
    let mut received = 0;
    while received < messages {
        let message = ws
            .next()
            .await
            .ok_or("a member's connection closed")?
            .map_err(|e| format!("a member: {e}"))?;
        let Message::Text(text) = message else {
            continue;
        };
        if text.contains(r#""k":"event""#) {
            received += 1;
        } else if let Some(answer) = Target::Tandem.answer(&text) {
            crate::conn::send(&mut ws, answer).await?;
        }
    }
    let _ = ws.close(None).await;
    Ok(())
}

/// The next text frame of a publisher's stream.
async fn next_text(
    stream: &mut futures_util::stream::SplitStream<Ws>,
) -> Result<tokio_tungstenite::tungstenite::Utf8Bytes, String> {
    loop {
        let message = stream
            .next()
            .await
            .ok_or("a publisher's connection closed")?
            .map_err(|e| format!("a publisher: {e}"))?;
        if let Message::Text(text) = message {
            return Ok(text);
        }
    }
}
