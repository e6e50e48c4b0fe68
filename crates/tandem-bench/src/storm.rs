//! Connect storm: every client starts connecting at the same moment; the time until the
//! last one has joined, and the server's peak RSS (the server must be fresh).

use std::time::Instant;

use futures_util::future::join_all;
use serde_json::json;

use crate::rss;

/// Options of `tandem-bench storm`.
#[derive(Debug, clap::Args)]
pub struct Args {
    #[command(flatten)]
    crowd: crate::Crowd,
    /// Clients connecting at once.
    #[arg(long, default_value_t = 5000)]
    connections: usize,
    /// Attempts per client (a refused or reset connection is retried at once).
    #[arg(long, default_value_t = 3)]
    attempts: u32,
}

/// Runs the connect-storm figure and prints its result line.
pub async fn run(args: Args) -> Result<(), String> {
    let endpoint = args.crowd.endpoint()?;
    let target = endpoint.target();
    let (rss_before, _) = rss::of(args.crowd.pid)?;
    eprintln!(
        "storm {}: {} clients at once",
        target.name(),
        args.connections
    );
    let start = Instant::now();
    let clients = (0..args.connections).map(|index| {
        let endpoint = endpoint.clone();
        tokio::spawn(async move {
            let mut last = String::new();
            for attempt in 0..args.attempts {
                match endpoint.open(index).await {
                    Ok(ws) => return Ok((ws, attempt)),
                    Err(e) => last = e,
                }
            }
            Err(last)
        })
    });
    let results = join_all(clients).await;
    let all_joined = start.elapsed();
    let (_, peak) = rss::of(args.crowd.pid)?;
    let mut failed = 0;
    let mut retried = 0;
    let mut first_error = None;
    let mut open = Vec::with_capacity(args.connections);
    for result in results {
        match result.map_err(|e| e.to_string()).and_then(|r| r) {
            Ok((ws, attempt)) => {
                retried += u32::from(attempt > 0);
                open.push(ws);
            }
            Err(e) => {
                failed += 1;
                first_error.get_or_insert(e);
            }
        }
    }
    crate::report(&json!({
        "figure": "storm",
        "target": target.name(),
        "connections": args.connections,
        "rooms": args.crowd.rooms,
        "all_joined_ms": all_joined.as_secs_f64() * 1000.0,
        "failed": failed,
        "retried": retried,
        "first_error": first_error,
        "rss_before_kib": rss_before,
        "peak_rss_kib": peak,
    }));
    drop(open);
    Ok(())
}
