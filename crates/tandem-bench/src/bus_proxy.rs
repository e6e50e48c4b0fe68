//! `tandem-bench bus-proxy`: a counting TCP proxy between tandem nodes and their Redis, one
//! listener per node, so the bus bytes each node receives are measured outside tandem and
//! whatever the Redis version reports. Every connection a node opens through its listener
//! (commands and subscriptions alike) is counted under that listener.
//!
//! It prints `listening on CONTROL PROXY…` (all `127.0.0.1:PORT`). A connection to CONTROL
//! gets one JSON line, `{"to_node":[…],"to_redis":[…]}`: the bytes so far per listener, in
//! the order printed, then the connection closes.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use serde_json::json;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

/// Options of `tandem-bench bus-proxy`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// The Redis to forward to, `HOST:PORT`.
    #[arg(long)]
    upstream: SocketAddr,
    /// Listeners to open, one per node.
    #[arg(long, default_value_t = 4)]
    listeners: usize,
}

/// Bytes through one listener, each way.
#[derive(Default)]
struct Counts {
    to_node: AtomicU64,
    to_redis: AtomicU64,
}

/// Runs the proxies until killed.
pub async fn serve(args: Args) -> Result<(), String> {
    let bind = || async {
        TcpListener::bind("127.0.0.1:0")
            .await
            .map_err(|e| format!("binding 127.0.0.1:0: {e}"))
    };
    let control = bind().await?;
    let mut addresses = vec![local(&control)?];
    let mut counts = Vec::with_capacity(args.listeners);
    for _ in 0..args.listeners {
        let listener = bind().await?;
        addresses.push(local(&listener)?);
        let count = Arc::new(Counts::default());
        counts.push(count.clone());
        tokio::spawn(accept(listener, args.upstream, count));
    }
    let line: Vec<String> = addresses.iter().map(ToString::to_string).collect();
    println!("listening on {}", line.join(" "));
    loop {
        let Ok((mut asker, _)) = control.accept().await else {
            continue;
        };
        let read = |f: fn(&Counts) -> &AtomicU64| {
            counts
                .iter()
                .map(|c| f(c).load(Ordering::Relaxed))
                .collect::<Vec<_>>()
        };
        let answer = json!({
            "to_node": read(|c| &c.to_node),
            "to_redis": read(|c| &c.to_redis),
        });
        let _ = asker.write_all(format!("{answer}\n").as_bytes()).await;
        let _ = asker.shutdown().await;
    }
}

fn local(listener: &TcpListener) -> Result<SocketAddr, String> {
    listener
        .local_addr()
        .map_err(|e| format!("a listener's address: {e}"))
}

/// Forwards every connection accepted on `listener` to `upstream`, counting under `count`.
async fn accept(listener: TcpListener, upstream: SocketAddr, count: Arc<Counts>) {
    loop {
        let Ok((node, _)) = listener.accept().await else {
            tokio::time::sleep(std::time::Duration::from_millis(10)).await;
            continue;
        };
        let count = count.clone();
        tokio::spawn(async move {
            let Ok(redis) = TcpStream::connect(upstream).await else {
                return;
            };
            let _ = node.set_nodelay(true);
            let _ = redis.set_nodelay(true);
            let (node_read, node_write) = node.into_split();
            let (redis_read, redis_write) = redis.into_split();
            let up = tokio::spawn(copy(node_read, redis_write, count.clone(), false));
            copy(redis_read, node_write, count, true).await;
            up.abort();
        });
    }
}

/// Copies one direction until either side ends, adding every chunk to the count.
async fn copy(
    mut from: tokio::net::tcp::OwnedReadHalf,
    mut to: tokio::net::tcp::OwnedWriteHalf,
    count: Arc<Counts>,
    to_node: bool,
) {
    let mut buffer = vec![0u8; 64 * 1024];
    loop {
        let n = match from.read(&mut buffer).await {
            Ok(0) | Err(_) => break,
            Ok(n) => n,
        };
        let counter = if to_node {
            &count.to_node
        } else {
            &count.to_redis
        };
        counter.fetch_add(n as u64, Ordering::Relaxed);
        if to.write_all(&buffer[..n]).await.is_err() {
            break;
        }
    }
    let _ = to.shutdown().await;
}

/// Asks the proxy at `control` for its counts: (to node, to Redis) per listener.
pub async fn counts(control: SocketAddr) -> Result<(Vec<u64>, Vec<u64>), String> {
    let mut stream = TcpStream::connect(control)
        .await
        .map_err(|e| format!("connecting to the bus proxy at {control}: {e}"))?;
    let mut text = String::new();
    stream
        .read_to_string(&mut text)
        .await
        .map_err(|e| format!("reading the bus proxy's counts: {e}"))?;
    let value: serde_json::Value =
        serde_json::from_str(text.trim()).map_err(|e| format!("the bus proxy said {text}: {e}"))?;
    let list = |key: &str| {
        value[key]
            .as_array()
            .map(|a| a.iter().filter_map(serde_json::Value::as_u64).collect())
            .ok_or_else(|| format!("the bus proxy's answer has no `{key}`: {text}"))
    };
    Ok((list("to_node")?, list("to_redis")?))
}
