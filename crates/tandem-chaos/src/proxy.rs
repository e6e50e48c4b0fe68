//! A TCP proxy in this process between the clients and a server: it adds latency each way
//! (every chunk is held for the delay, without slowing the stream down to one chunk per
//! delay) and cuts every open connection on demand, with a reset (`SO_LINGER` 0) as a
//! network failure or a dead middlebox would, so no socket lingers in TIME_WAIT.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::tcp::{OwnedReadHalf, OwnedWriteHalf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{mpsc, watch};
use tokio::time::Instant;

/// A running proxy; dropping it stops accepting and cuts every connection.
pub struct Proxy {
    addr: SocketAddr,
    cuts: watch::Sender<u64>,
    accepted: Arc<AtomicU64>,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for Proxy {
    fn drop(&mut self) {
        self.task.abort();
        self.cuts.send_modify(|g| *g += 1);
    }
}

impl Proxy {
    /// Listens on a free 127.0.0.1 port and forwards to `upstream`, holding each chunk
    /// for `delay` in each direction.
    pub async fn start(upstream: SocketAddr, delay: Duration) -> Result<Proxy, String> {
        let listener = TcpListener::bind("127.0.0.1:0")
            .await
            .map_err(|e| format!("proxy: binding 127.0.0.1:0: {e}"))?;
        let addr = listener
            .local_addr()
            .map_err(|e| format!("proxy: its address: {e}"))?;
        let (cuts, _) = watch::channel(0u64);
        let accepted = Arc::new(AtomicU64::new(0));
        let task = {
            let cuts = cuts.clone();
            let accepted = accepted.clone();
            tokio::spawn(async move {
                loop {
                    let Ok((client, _)) = listener.accept().await else {
                        // Out of descriptors, say: back off a little instead of spinning.
                        tokio::time::sleep(Duration::from_millis(10)).await;
                        continue;
                    };
                    accepted.fetch_add(1, Ordering::Relaxed);
                    let cut = cuts.subscribe();
                    tokio::spawn(connection(client, upstream, delay, cut));
                }
            })
        };
        Ok(Proxy {
            addr,
            cuts,
            accepted,
            task,
        })
    }

    /// The proxy's address.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// Resets every open connection at once.
    pub fn cut(&self) {
        self.cuts.send_modify(|g| *g += 1);
    }

    /// Connections accepted so far.
    pub fn accepted(&self) -> u64 {
        self.accepted.load(Ordering::Relaxed)
    }
}

/// Forwards one connection both ways until both sides have closed (each end's FIN is
/// passed on once everything before it was written) or a cut comes (a reset both ways).
async fn connection(
    client: TcpStream,
    upstream: SocketAddr,
    delay: Duration,
    mut cut: watch::Receiver<u64>,
) {
    cut.borrow_and_update();
    let Ok(server) = TcpStream::connect(upstream).await else {
        let _ = client.set_zero_linger();
        return;
    };
    let _ = client.set_nodelay(true);
    let _ = server.set_nodelay(true);
    let (mut cr, mut cw) = client.into_split();
    let (mut sr, mut sw) = server.into_split();
    let cutting = tokio::select! {
        _ = async { tokio::join!(pipe(&mut cr, &mut sw, delay), pipe(&mut sr, &mut cw, delay)) } => false,
        _ = cut.changed() => true,
    };
    if cutting {
        // Reset, not FIN: a cut is a failure, not a goodbye.
        let _ = cr.as_ref().set_zero_linger();
        let _ = sr.as_ref().set_zero_linger();
    }
}

/// Copies `from` to `to`, each chunk written `delay` after it was read; at the end of
/// `from` (or an error), shuts `to` down once everything read was written.
async fn pipe(from: &mut OwnedReadHalf, to: &mut OwnedWriteHalf, delay: Duration) {
    let (tx, mut rx) = mpsc::unbounded_channel::<(Instant, Vec<u8>)>();
    let writer = async {
        while let Some((due, chunk)) = rx.recv().await {
            // Simulated network latency, not synchronisation.
            tokio::time::sleep_until(due).await;
            if to.write_all(&chunk).await.is_err() {
                return;
            }
        }
        let _ = to.shutdown().await;
    };
    let reader = async move {
        let mut buf = vec![0u8; 16 * 1024];
        loop {
            let n = match from.read(&mut buf).await {
                Ok(0) | Err(_) => return,
                Ok(n) => n,
            };
            if tx
                .send((Instant::now() + delay, buf[..n].to_vec()))
                .is_err()
            {
                return;
            }
        }
    };
    // The writer ends when the reader has ended and everything read was written.
    let ((), ()) = tokio::join!(reader, writer);
}
