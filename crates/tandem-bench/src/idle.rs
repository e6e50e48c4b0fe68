//! Idle memory: the server's RSS growth per joined, idle connection.

use serde_json::json;

use crate::conn::{drain, open_many};
use crate::rss;

/// Options of `tandem-bench idle`.
#[derive(Debug, clap::Args)]
pub struct Args {
    #[command(flatten)]
    crowd: crate::Crowd,
    /// Idle connections to open.
    #[arg(long, default_value_t = 10_000)]
    connections: usize,
}

/// Runs the idle-memory figure and prints its result line.
pub async fn run(args: Args) -> Result<(), String> {
    let endpoint = args.crowd.endpoint()?;
    let target = endpoint.target();
    // One connection first, so one-time allocations (buffers, the room) are not counted.
    let warm = drain(target, endpoint.open(0).await?);
    let before = rss::settled(args.crowd.pid).await?;
    eprintln!(
        "idle {}: opening {} connections",
        target.name(),
        args.connections
    );
    let idle: Vec<_> = open_many(&endpoint, args.connections, 256)
        .await?
        .into_iter()
        .map(|ws| drain(target, ws))
        .collect();
    let after = rss::settled(args.crowd.pid).await?;
    let per_connection = (after.saturating_sub(before) * 1024) as f64 / args.connections as f64;
    crate::report(&json!({
        "figure": "idle",
        "target": target.name(),
        "connections": args.connections,
        "rooms": args.crowd.rooms,
        "rss_before_kib": before,
        "rss_after_kib": after,
        "bytes_per_connection": per_connection,
    }));
    for task in idle.iter().chain([&warm]) {
        task.abort();
    }
    Ok(())
}
