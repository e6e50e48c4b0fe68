//! The bare baseline: tokio-tungstenite doing the benchmark's job with nothing else — no
//! envelope, rooms, presence, history or recovery. Every connection is in the one room:
//! a text frame starting with `b` goes verbatim to every other connection, one starting
//! with `e` back to its sender. Each connection has a writer task fed by a bounded
//! channel, which flushes when its queue is empty (the same batching tandem does).

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::{Arc, RwLock};

use futures_util::{SinkExt, StreamExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::mpsc;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::protocol::WebSocketConfig;

/// Frames queued for one connection; a full queue drops the frame (the load generator
/// never lets it fill).
const QUEUE: usize = 1024;

/// Every open connection's queue, by connection number.
type Peers = Arc<RwLock<HashMap<u64, mpsc::Sender<Message>>>>;

/// Listens on `addr` with a backlog of 4,096, as tandem's own listener does (a connect
/// storm waits there, it is not refused), and prints `listening on ws://ADDR`.
pub fn listen(addr: SocketAddr) -> Result<TcpListener, String> {
    let socket = match addr {
        SocketAddr::V4(_) => tokio::net::TcpSocket::new_v4(),
        SocketAddr::V6(_) => tokio::net::TcpSocket::new_v6(),
    }
    .map_err(|e| format!("socket: {e}"))?;
    socket
        .set_reuseaddr(true)
        .map_err(|e| format!("reuseaddr: {e}"))?;
    socket.bind(addr).map_err(|e| format!("bind {addr}: {e}"))?;
    let listener = socket.listen(4096).map_err(|e| format!("listen: {e}"))?;
    let local = listener.local_addr().map_err(|e| e.to_string())?;
    println!("listening on ws://{local}");
    Ok(listener)
}

/// Serves until the process is killed.
pub async fn serve(addr: SocketAddr) -> Result<(), String> {
    let listener = listen(addr)?;
    let peers: Peers = Arc::default();
    let mut next = 0u64;
    loop {
        let Ok((stream, _)) = listener.accept().await else {
            continue;
        };
        next += 1;
        tokio::spawn(connection(next, stream, peers.clone()));
    }
}

/// One connection: upgrade, register, relay until it closes.
async fn connection(id: u64, stream: TcpStream, peers: Peers) {
    let _ = stream.set_nodelay(true);
    // A 4 KiB read buffer: tungstenite's 128 KiB default costs 138 KB per idle connection.
    let config = WebSocketConfig::default().read_buffer_size(4096);
    let Ok(ws) = tokio_tungstenite::accept_async_with_config(stream, Some(config)).await else {
        return;
    };
    let (mut sink, mut source) = ws.split();
    let (tx, mut rx) = mpsc::channel::<Message>(QUEUE);
    if let Ok(mut peers) = peers.write() {
        peers.insert(id, tx.clone());
    }
    let writer = tokio::spawn(async move {
        while let Some(message) = rx.recv().await {
            if sink.feed(message).await.is_err() {
                return;
            }
            while let Ok(message) = rx.try_recv() {
                if sink.feed(message).await.is_err() {
                    return;
                }
            }
            if sink.flush().await.is_err() {
                return;
            }
        }
    });
    while let Some(Ok(message)) = source.next().await {
        let Message::Text(text) = message else {
            continue;
        };
        let first = text.as_bytes().first().copied();
        match first {
            Some(b'b') => {
                let message = Message::Text(text);
                if let Ok(peers) = peers.read() {
                    for (other, queue) in peers.iter() {
                        if *other != id {
                            let _ = queue.try_send(message.clone());
                        }
                    }
                }
            }
            Some(b'e') if tx.send(Message::Text(text)).await.is_err() => break,
            _ => {}
        }
    }
    if let Ok(mut peers) = peers.write() {
        peers.remove(&id);
    }
    drop(tx);
    let _ = writer.await;
}
