//! Echo / request round trips at a fixed offered rate, open loop: each request is stamped
//! with the time it was due, so a slow server cannot hide latency by slowing the sender.

use std::time::{Duration, Instant};

use futures_util::{SinkExt, StreamExt};
use serde_json::json;
use tokio::time::MissedTickBehavior;
use tokio_tungstenite::tungstenite::Message;

use crate::conn::{Endpoint, Ws, open_many};
use crate::histogram::Latencies;
use crate::payload;
use crate::target::Target;

/// Options of `tandem-bench echo`.
#[derive(Debug, clap::Args)]
pub struct Args {
    #[command(flatten)]
    server: crate::Server,
    /// Connections sending requests.
    #[arg(long, default_value_t = 50)]
    connections: usize,
    /// Requests per second offered, over all connections.
    #[arg(long, default_value_t = 5000)]
    rate: u32,
    /// Seconds of sending.
    #[arg(long, default_value_t = 5.0)]
    seconds: f64,
}

/// How long a connection may stay silent before its missing answers count as lost.
const GRACE: Duration = Duration::from_secs(2);

/// Runs the echo figure and prints its result line.
pub async fn run(args: Args) -> Result<(), String> {
    let endpoint = Endpoint::new(args.server.target, &args.server.url)?;
    let target = endpoint.target();
    let connections = args.connections.max(1);
    eprintln!(
        "echo {}: {} connections, {} requests/s",
        target.name(),
        connections,
        args.rate
    );
    let sockets = open_many(&endpoint, connections, 64).await?;
    let period = Duration::from_secs_f64(connections as f64 / f64::from(args.rate.max(1)));
    let requests = (args.seconds / period.as_secs_f64()).ceil() as u64;
    let start = Instant::now() + Duration::from_millis(100);
    let tasks: Vec<_> = sockets
        .into_iter()
        .enumerate()
        .map(|(i, ws)| {
            // Spread the connections' schedules evenly over one period.
            let first = start + period.mul_f64(i as f64 / connections as f64);
            tokio::spawn(requester(target, ws, first, period, requests))
        })
        .collect();
    let mut latencies = Latencies::new();
    let mut lost = 0;
    for task in tasks {
        let (histogram, missing) = task.await.map_err(|e| format!("requester: {e}"))??;
        latencies.merge(&histogram);
        lost += missing;
    }
    crate::report(&json!({
        "figure": "echo",
        "target": target.name(),
        "rate": args.rate,
        "answered": latencies.len(),
        "lost": lost,
        "p50_us": latencies.micros_at(0.5),
        "p99_us": latencies.micros_at(0.99),
        "p999_us": latencies.micros_at(0.999),
    }));
    Ok(())
}

/// One connection: sends `requests` requests, one per `period` from `first`, while
/// reading the answers; returns their latencies and how many never came.
async fn requester(
    target: Target,
    ws: Ws,
    first: Instant,
    period: Duration,
    requests: u64,
) -> Result<(Latencies, u64), String> {
    let (mut sink, mut stream) = ws.split();
    let (answers_tx, mut answers) = tokio::sync::mpsc::unbounded_channel();
    let reader = tokio::spawn(async move {
        let mut latencies = Latencies::new();
        while latencies.len() < requests {
            let Ok(Some(Ok(message))) = tokio::time::timeout(GRACE, stream.next()).await else {
                break;
            };
            let Message::Text(text) = message else {
                continue;
            };
            if let Some(age) = payload::age(&text, Instant::now()) {
                latencies.record(age);
            } else if let Some(answer) = target.answer(&text) {
                let _ = answers_tx.send(answer);
            }
        }
        latencies
    });
    let mut ticks = tokio::time::interval_at(first.into(), period);
    ticks.set_missed_tick_behavior(MissedTickBehavior::Burst);
    for id in 1..=requests {
        let due = ticks.tick().await.into_std();
        while let Ok(answer) = answers.try_recv() {
            sink.send(Message::text(answer))
                .await
                .map_err(|e| format!("send: {e}"))?;
        }
        let frame = target.echo(id, &payload::stamped(due));
        sink.send(Message::text(frame))
            .await
            .map_err(|e| format!("send: {e}"))?;
    }
    // The reader ends with the last answer, or after GRACE without any.
    let latencies = reader.await.map_err(|e| format!("reader: {e}"))?;
    let _ = sink.close().await;
    let lost = requests - latencies.len().min(requests);
    Ok((latencies, lost))
}
