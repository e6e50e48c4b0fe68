//! Fan-out: one publisher, `subscribers` members of one room. The publisher keeps at most
//! `window` messages in flight (sent but not yet delivered to every subscriber), so every
//! server runs saturated without unbounded queues. Reports deliveries/s received by the
//! subscribers over the measured seconds and the publish-to-receive latency.
//!
//! With `--ephemeral` (tandem only) the messages are ephemeral: no seq, not stored, no ack,
//! delivered to every connection in the room but the publisher's.
//!
//! Every message carries its number, and every delivery is counted. After the measured
//! seconds the publisher stops, the subscribers read until each has received (or skipped
//! past) the last message, or until nothing has arrived for [`QUIET`], and the result line
//! tells `undelivered`: messages sent × subscribers − deliveries received. A numbered
//! message is never dropped (a server closes a slow reader with 1013 instead), so there it
//! must be 0; an ephemeral one may be shed for a reader that is behind, by design, so there
//! it is the count shed (0 in a healthy run). A subscriber that receives a message twice or
//! out of order fails the run, and so does an ephemeral message that arrives with a seq.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use futures_util::{SinkExt, StreamExt};
use serde_json::json;
use tokio::sync::{oneshot, watch};
use tokio_tungstenite::tungstenite::Message;

use crate::conn::{Endpoint, Ws, open_many};
use crate::histogram::Latencies;
use crate::target::Target;
use crate::{cpu, payload};

/// After the publisher stops: how long no delivery may arrive before the subscribers stop
/// waiting for messages that were shed.
const QUIET: Duration = Duration::from_secs(1);

/// After the publisher stops: the longest the subscribers wait for the last messages.
const SETTLE_AT_MOST: Duration = Duration::from_secs(30);

/// Options of `tandem-bench fanout`.
#[derive(Debug, clap::Args)]
pub struct Args {
    #[command(flatten)]
    server: crate::Server,
    /// Subscribers in the room.
    #[arg(long, default_value_t = 1000)]
    subscribers: usize,
    /// Seconds measured (after one second of warm-up).
    #[arg(long, default_value_t = 5.0)]
    seconds: f64,
    /// Messages in flight at most.
    #[arg(long, default_value_t = 32)]
    window: u64,
    /// Another node of the same cluster (repeat for more): the subscribers are split evenly
    /// over `--url` and these nodes (the publisher stays on `--url`), so every message
    /// crosses the broker.
    #[arg(long, value_name = "URL")]
    also_url: Vec<String>,
    /// A server process (repeat for every node): the CPU time all of them spent per
    /// delivery over the measured seconds is reported.
    #[arg(long)]
    pid: Vec<u32>,
    /// A broker process (a Redis; repeat for every shard): the CPU time all of them spent
    /// per message published over the measured seconds is reported.
    #[arg(long)]
    broker_pid: Vec<u32>,
    /// Publish ephemeral messages (tandem only): no seq, not stored, no ack, not sent back
    /// to the publisher, shed for a reader that is behind.
    #[arg(long)]
    ephemeral: bool,
}

/// State shared by the publisher and the subscribers.
struct Shared {
    /// Stamped messages the subscribers received, all of them.
    delivered: AtomicU64,
    /// Over all subscribers, the number of the last message each received: what it
    /// received plus what it skipped (shed) before that. Equal to `delivered` when
    /// nothing was shed.
    settled: AtomicU64,
    /// Messages the publisher has sent.
    sent: AtomicU64,
    measuring: AtomicBool,
}

/// Runs the fan-out figure and prints its result line.
pub async fn run(args: Args) -> Result<(), String> {
    let endpoint = Endpoint::new(args.server.target, &args.server.url)?;
    let target = endpoint.target();
    if args.ephemeral && target.publish_ephemeral(0, "").is_none() {
        return Err(format!("{} has no ephemeral messages", target.name()));
    }
    let mode = if args.ephemeral {
        "ephemeral"
    } else {
        "numbered"
    };
    eprintln!(
        "fanout {} ({mode}): opening {} subscribers",
        target.name(),
        args.subscribers
    );
    let mut subscribers = Vec::with_capacity(args.subscribers);
    let mut nodes = vec![endpoint.clone()];
    for url in &args.also_url {
        nodes.push(Endpoint::new(args.server.target, url)?);
    }
    for (i, node) in nodes.iter().enumerate() {
        // The first node takes the remainder.
        let share = args.subscribers / nodes.len()
            + if i == 0 {
                args.subscribers % nodes.len()
            } else {
                0
            };
        subscribers.extend(open_many(node, share, 128).await?);
    }
    let publisher = endpoint.open(args.subscribers).await?;

    let shared = Arc::new(Shared {
        delivered: AtomicU64::new(0),
        settled: AtomicU64::new(0),
        sent: AtomicU64::new(0),
        measuring: AtomicBool::new(false),
    });
    let (stop_tx, stop_rx) = watch::channel(false);
    let (enough_tx, enough_rx) = watch::channel(false);
    let (published_tx, published_rx) = oneshot::channel();
    let tasks: Vec<_> = subscribers
        .into_iter()
        .map(|ws| {
            let reader = Subscriber {
                target,
                ephemeral: args.ephemeral,
                shared: shared.clone(),
            };
            tokio::spawn(reader.run(ws, stop_rx.clone()))
        })
        .collect();
    let publishing = tokio::spawn(
        Publisher {
            target,
            ephemeral: args.ephemeral,
            shared: shared.clone(),
            subscribers: args.subscribers as u64,
            window: args.window,
        }
        .run(publisher, enough_rx, published_tx, stop_rx),
    );

    tokio::time::sleep(Duration::from_secs(1)).await;
    let start = Instant::now();
    let before = shared.delivered.load(Ordering::Relaxed);
    let published_before = shared.sent.load(Ordering::Relaxed);
    let cpu_before = (cpu::of_all(&args.pid)?, cpu::of_all(&args.broker_pid)?);
    shared.measuring.store(true, Ordering::Relaxed);
    tokio::time::sleep(Duration::from_secs_f64(args.seconds)).await;
    shared.measuring.store(false, Ordering::Relaxed);
    let delivered = shared.delivered.load(Ordering::Relaxed) - before;
    let published_measured = shared.sent.load(Ordering::Relaxed) - published_before;
    let cpu_after = (cpu::of_all(&args.pid)?, cpu::of_all(&args.broker_pid)?);
    let elapsed = start.elapsed().as_secs_f64();

    // Stop publishing, then let every message sent reach (or be shed for) every subscriber.
    let _ = enough_tx.send(true);
    let published = match published_rx.await {
        Ok(published) => published,
        Err(_) => {
            let _ = stop_tx.send(true);
            publishing.await.map_err(|e| format!("publisher: {e}"))??;
            return Err("the publisher stopped without telling what it sent".to_owned());
        }
    };
    let expected = published * args.subscribers as u64;
    settle(&shared, expected).await;
    let _ = stop_tx.send(true);

    publishing.await.map_err(|e| format!("publisher: {e}"))??;
    let mut latencies = Latencies::new();
    for task in tasks {
        let histogram = task.await.map_err(|e| format!("subscriber: {e}"))??;
        latencies.merge(&histogram);
    }
    let received = shared.delivered.load(Ordering::Relaxed);
    let undelivered = expected.checked_sub(received).ok_or_else(|| {
        format!("{received} deliveries received, more than the {expected} sent × subscribers")
    })?;
    eprintln!(
        "fanout {} ({mode}): {published} messages × {} subscribers = {expected} deliveries \
         expected, {received} received, {undelivered} {}",
        target.name(),
        args.subscribers,
        if args.ephemeral { "shed" } else { "missing" },
    );
    let mut result = json!({
        "figure": "fanout",
        "target": target.name(),
        "mode": mode,
        "subscribers": args.subscribers,
        "published": published,
        "expected": expected,
        "received": received,
        "undelivered": undelivered,
        "deliveries_per_s": delivered as f64 / elapsed,
        "p50_us": latencies.micros_at(0.5),
        "p99_us": latencies.micros_at(0.99),
        "samples": latencies.len(),
        "nodes": nodes.len(),
    });
    if !args.pid.is_empty() {
        let spent = cpu_after.0.saturating_sub(cpu_before.0).as_secs_f64();
        result["server_cpu_ns_per_delivery"] = json!(spent * 1e9 / delivered.max(1) as f64);
        result["server_cpu_cores"] = json!(spent / elapsed);
    }
    if !args.broker_pid.is_empty() {
        let spent = cpu_after.1.saturating_sub(cpu_before.1).as_secs_f64();
        result["broker_cpu_us_per_message"] = json!(spent * 1e6 / published_measured.max(1) as f64);
        result["broker_cpu_cores"] = json!(spent / elapsed);
    }
    crate::report(&result);
    Ok(())
}

/// Waits until every subscriber has received or skipped past the last of the messages
/// sent (`expected` settled in all), or no delivery arrived for [`QUIET`] (the last
/// messages were shed for someone), or [`SETTLE_AT_MOST`].
async fn settle(shared: &Shared, expected: u64) {
    let deadline = Instant::now() + SETTLE_AT_MOST;
    let mut last = shared.delivered.load(Ordering::Relaxed);
    let mut last_change = Instant::now();
    while shared.settled.load(Ordering::Relaxed) < expected {
        let now = Instant::now();
        if now >= deadline || now.duration_since(last_change) >= QUIET {
            return;
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
        let delivered = shared.delivered.load(Ordering::Relaxed);
        if delivered != last {
            last = delivered;
            last_change = Instant::now();
        }
    }
}

/// One subscriber: counts every stamped frame and records its latency while measuring.
struct Subscriber {
    target: Target,
    ephemeral: bool,
    shared: Arc<Shared>,
}

impl Subscriber {
    async fn run(self, mut ws: Ws, mut stop: watch::Receiver<bool>) -> Result<Latencies, String> {
        let mut latencies = Latencies::new();
        // The number of the last message received (messages count from 1).
        let mut last = 0;
        loop {
            let message = tokio::select! {
                message = ws.next() => message,
                _ = stop.changed() => break,
            };
            let Some(Ok(Message::Text(text))) = message else {
                return Err(format!("a subscriber lost its connection: {message:?}"));
            };
            if let Some(age) = payload::age(&text, Instant::now()) {
                let number = payload::number(&text)
                    .ok_or_else(|| format!("a message without its number: {text}"))?;
                if number <= last {
                    return Err(format!(
                        "a subscriber received message {number} after message {last} \
                         (a duplicate or out of order)"
                    ));
                }
                if self.ephemeral && text.contains(r#""seq":"#) {
                    return Err(format!("an ephemeral message arrived with a seq: {text}"));
                }
                self.shared.delivered.fetch_add(1, Ordering::Relaxed);
                self.shared
                    .settled
                    .fetch_add(number - last, Ordering::Relaxed);
                last = number;
                if self.shared.measuring.load(Ordering::Relaxed) {
                    latencies.record(age);
                }
            } else if let Some(answer) = self.target.answer(&text) {
                crate::conn::send(&mut ws, answer).await?;
            }
        }
        let _ = ws.close(None).await;
        Ok(latencies)
    }
}

/// The publisher: sends while fewer than `window` messages are in flight; its own
/// incoming frames (acks, its copy of numbered events) are drained by a separate task,
/// which fails the run on an error frame.
struct Publisher {
    target: Target,
    ephemeral: bool,
    shared: Arc<Shared>,
    subscribers: u64,
    window: u64,
}

impl Publisher {
    /// Publishes until `enough`, tells `published` how many messages it sent, and keeps
    /// its connection open (so nothing it sent is cut short) until `stop`.
    async fn run(
        self,
        ws: Ws,
        enough: watch::Receiver<bool>,
        published: oneshot::Sender<u64>,
        mut stop: watch::Receiver<bool>,
    ) -> Result<(), String> {
        let target = self.target;
        let (mut sink, mut stream) = ws.split();
        let (answers_tx, mut answers) = tokio::sync::mpsc::unbounded_channel();
        let drain = tokio::spawn(async move {
            while let Some(Ok(message)) = stream.next().await {
                if let Message::Text(text) = message {
                    if let Some(answer) = target.answer(&text) {
                        let _ = answers_tx.send(Ok(answer));
                    } else if target == Target::Tandem && text.contains(r#""k":"error""#) {
                        let _ = answers_tx.send(Err(format!("the server refused: {text}")));
                    }
                }
            }
        });
        let mut sent = 0u64;
        let result = loop {
            if *enough.borrow() {
                break Ok(sent);
            }
            match answers.try_recv() {
                Ok(Ok(answer)) => {
                    if let Err(e) = sink.send(Message::text(answer)).await {
                        break Err(format!("publisher: {e}"));
                    }
                }
                Ok(Err(refused)) => break Err(format!("publisher: {refused}")),
                Err(_) => {}
            }
            let complete = self.shared.settled.load(Ordering::Relaxed) / self.subscribers.max(1);
            if sent.saturating_sub(complete) < self.window {
                sent += 1;
                self.shared.sent.store(sent, Ordering::Relaxed);
                let payload = payload::stamped_numbered(Instant::now(), sent);
                let frame = if self.ephemeral {
                    target.publish_ephemeral(sent, &payload).unwrap_or_default()
                } else {
                    target.publish(sent, &payload)
                };
                if let Err(e) = sink.send(Message::text(frame)).await {
                    break Err(format!("publisher: {e}"));
                }
            } else {
                tokio::time::sleep(Duration::from_micros(500)).await;
            }
        };
        if let Ok(sent) = result {
            let _ = published.send(sent);
            // Pings are answered while the subscribers catch up.
            loop {
                tokio::select! {
                    _ = stop.changed() => break,
                    answer = answers.recv() => match answer {
                        Some(Ok(answer)) => {
                            let _ = sink.send(Message::text(answer)).await;
                        }
                        Some(Err(refused)) => {
                            drain.abort();
                            return Err(format!("publisher: {refused}"));
                        }
                        None => break,
                    },
                }
            }
        }
        let _ = sink.close().await;
        drain.abort();
        result.map(|_| ())
    }
}
