//! A TCP proxy between a client and the server that can cut every connection, refuse new
//! ones, and delay traffic: a network failure on loopback, on demand.

#![allow(dead_code, clippy::unwrap_used)]

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;

struct State {
    blocked: AtomicBool,
    delay_ms: AtomicU64,
    cuts: watch::Sender<u64>,
}

/// A running proxy; dropping it stops accepting.
pub struct Proxy {
    addr: SocketAddr,
    state: Arc<State>,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for Proxy {
    fn drop(&mut self) {
        self.task.abort();
        self.state.cuts.send_modify(|g| *g += 1);
    }
}

impl Proxy {
    /// Listens on a free 127.0.0.1 port and forwards to `upstream`.
    pub async fn start(upstream: SocketAddr) -> Proxy {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let (cuts, _) = watch::channel(0);
        let state = Arc::new(State {
            blocked: AtomicBool::new(false),
            delay_ms: AtomicU64::new(0),
            cuts,
        });
        let s = state.clone();
        let task = tokio::spawn(async move {
            while let Ok((client, _)) = listener.accept().await {
                if s.blocked.load(Ordering::SeqCst) {
                    drop(client);
                    continue;
                }
                let s = s.clone();
                tokio::spawn(async move {
                    let Ok(server) = TcpStream::connect(upstream).await else {
                        return;
                    };
                    let mut cut = s.cuts.subscribe();
                    let (cr, cw) = client.into_split();
                    let (sr, sw) = server.into_split();
                    tokio::select! {
                        _ = pipe(cr, sw, s.clone()) => {}
                        _ = pipe(sr, cw, s.clone()) => {}
                        _ = cut.changed() => {}
                    }
                });
            }
        });
        Proxy { addr, state, task }
    }

    /// The WebSocket URL through the proxy.
    pub fn url(&self) -> String {
        format!("ws://{}", self.addr)
    }

    /// Drops every open connection at once, without a close frame or FIN handshake.
    pub fn cut(&self) {
        self.state.cuts.send_modify(|g| *g += 1);
    }

    /// While blocked, new connections are accepted and dropped at once.
    pub fn block(&self, blocked: bool) {
        self.state.blocked.store(blocked, Ordering::SeqCst);
    }

    /// Delays each chunk of traffic, both ways, by `delay`.
    pub fn delay(&self, delay: Duration) {
        self.state
            .delay_ms
            .store(delay.as_millis() as u64, Ordering::SeqCst);
    }
}

async fn pipe(
    mut from: tokio::net::tcp::OwnedReadHalf,
    mut to: tokio::net::tcp::OwnedWriteHalf,
    state: Arc<State>,
) {
    let mut buf = vec![0u8; 16 * 1024];
    loop {
        let n = match from.read(&mut buf).await {
            Ok(0) | Err(_) => return,
            Ok(n) => n,
        };
        let delay = state.delay_ms.load(Ordering::SeqCst);
        if delay > 0 {
            // Simulated network latency, not synchronisation.
            tokio::time::sleep(Duration::from_millis(delay)).await;
        }
        if to.write_all(&buf[..n]).await.is_err() {
            return;
        }
    }
}
