//! Fan-out: one publisher, `subscribers` members of one room. The publisher keeps at most
//! `window` messages in flight (sent but not yet delivered to every subscriber), so every
//! server runs saturated without unbounded queues. Reports deliveries/s received by the
//! subscribers over the measured seconds and the publish-to-receive latency.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use futures_util::{SinkExt, StreamExt};
use serde_json::json;
use tokio::sync::watch;
use tokio_tungstenite::tungstenite::Message;

use crate::conn::{Endpoint, Ws, open_many};
use crate::histogram::Latencies;
use crate::payload;
use crate::target::Target;

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
    /// A second node of the same cluster: half the subscribers join there (the publisher
    /// stays on `--url`), so every message crosses the broker.
    #[arg(long, value_name = "URL")]
    also_url: Option<String>,
}

/// State shared by the publisher and the subscribers.
struct Shared {
    delivered: AtomicU64,
    measuring: AtomicBool,
}

/// Runs the fan-out figure and prints its result line.
pub async fn run(args: Args) -> Result<(), String> {
    let endpoint = Endpoint::new(args.server.target, &args.server.url)?;
    let target = endpoint.target();
    eprintln!(
        "fanout {}: opening {} subscribers",
        target.name(),
        args.subscribers
    );
    let mut subscribers = Vec::with_capacity(args.subscribers);
    match &args.also_url {
        Some(url) => {
            let second = Endpoint::new(args.server.target, url)?;
            let half = args.subscribers / 2;
            subscribers.extend(open_many(&endpoint, args.subscribers - half, 128).await?);
            subscribers.extend(open_many(&second, half, 128).await?);
        }
        None => subscribers.extend(open_many(&endpoint, args.subscribers, 128).await?),
    }
    let publisher = endpoint.open(args.subscribers).await?;

    let shared = Arc::new(Shared {
        delivered: AtomicU64::new(0),
        measuring: AtomicBool::new(false),
    });
    let (stop_tx, stop_rx) = watch::channel(false);
    let tasks: Vec<_> = subscribers
        .into_iter()
        .map(|ws| tokio::spawn(subscribe(target, ws, shared.clone(), stop_rx.clone())))
        .collect();
    let publishing = tokio::spawn(publish(
        target,
        publisher,
        shared.clone(),
        args.subscribers as u64,
        args.window,
        stop_rx,
    ));

    tokio::time::sleep(Duration::from_secs(1)).await;
    let start = Instant::now();
    let before = shared.delivered.load(Ordering::Relaxed);
    shared.measuring.store(true, Ordering::Relaxed);
    tokio::time::sleep(Duration::from_secs_f64(args.seconds)).await;
    shared.measuring.store(false, Ordering::Relaxed);
    let delivered = shared.delivered.load(Ordering::Relaxed) - before;
    let elapsed = start.elapsed().as_secs_f64();
    let _ = stop_tx.send(true);

    let published = publishing.await.map_err(|e| format!("publisher: {e}"))??;
    let mut latencies = Latencies::new();
    for task in tasks {
        let histogram = task.await.map_err(|e| format!("subscriber: {e}"))??;
        latencies.merge(&histogram);
    }
    crate::report(&json!({
        "figure": "fanout",
        "target": target.name(),
        "subscribers": args.subscribers,
        "published": published,
        "deliveries_per_s": delivered as f64 / elapsed,
        "p50_us": latencies.micros_at(0.5),
        "p99_us": latencies.micros_at(0.99),
        "samples": latencies.len(),
    }));
    Ok(())
}

/// One subscriber: counts stamped frames and records their latency while measuring.
async fn subscribe(
    target: Target,
    mut ws: Ws,
    shared: Arc<Shared>,
    mut stop: watch::Receiver<bool>,
) -> Result<Latencies, String> {
    let mut latencies = Latencies::new();
    loop {
        let message = tokio::select! {
            message = ws.next() => message,
            _ = stop.changed() => break,
        };
        let Some(Ok(Message::Text(text))) = message else {
            return Err(format!("a subscriber lost its connection: {message:?}"));
        };
        if let Some(age) = payload::age(&text, Instant::now()) {
            shared.delivered.fetch_add(1, Ordering::Relaxed);
            if shared.measuring.load(Ordering::Relaxed) {
                latencies.record(age);
            }
        } else if let Some(answer) = target.answer(&text) {
            crate::conn::send(&mut ws, answer).await?;
        }
    }
    let _ = ws.close(None).await;
    Ok(latencies)
}

/// The publisher: sends while fewer than `window` messages are in flight; its own
/// incoming frames (acks, its copy of events) are drained by a separate task.
async fn publish(
    target: Target,
    ws: Ws,
    shared: Arc<Shared>,
    subscribers: u64,
    window: u64,
    stop: watch::Receiver<bool>,
) -> Result<u64, String> {
    let (mut sink, mut stream) = ws.split();
    let (answers_tx, mut answers) = tokio::sync::mpsc::unbounded_channel();
    let drain = tokio::spawn(async move {
        while let Some(Ok(message)) = stream.next().await {
            if let Message::Text(text) = message
                && let Some(answer) = target.answer(&text)
            {
                let _ = answers_tx.send(answer);
            }
        }
    });
    let mut sent = 0u64;
    let result = loop {
        if *stop.borrow() {
            break Ok(sent);
        }
        if let Ok(answer) = answers.try_recv()
            && let Err(e) = sink.send(Message::text(answer)).await
        {
            break Err(format!("publisher: {e}"));
        }
        let complete = shared.delivered.load(Ordering::Relaxed) / subscribers.max(1);
        if sent.saturating_sub(complete) < window {
            sent += 1;
            let frame = target.publish(sent, &payload::stamped(Instant::now()));
            if let Err(e) = sink.send(Message::text(frame)).await {
                break Err(format!("publisher: {e}"));
            }
        } else {
            tokio::time::sleep(Duration::from_micros(500)).await;
        }
    };
    let _ = sink.close().await;
    drain.abort();
    result
}
