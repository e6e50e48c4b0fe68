//! Opening a connection and doing each protocol's handshake and room join.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use tokio::net::{TcpSocket, TcpStream};
use tokio_tungstenite::WebSocketStream;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::http::HeaderValue;
use tokio_tungstenite::tungstenite::protocol::WebSocketConfig;

use crate::target::{ROOM, Target};

/// An open, joined connection.
pub type Ws = WebSocketStream<TcpStream>;

/// How long one handshake step may take.
const STEP: Duration = Duration::from_secs(30);

/// Where a server listens.
#[derive(Debug, Clone)]
pub struct Endpoint {
    target: Target,
    addr: SocketAddr,
    url: String,
    room: String,
    rooms: usize,
}

impl Endpoint {
    /// Parses `ws://HOST:PORT[/path]` for `target`.
    pub fn new(target: Target, url: &str) -> Result<Self, String> {
        let rest = url
            .strip_prefix("ws://")
            .ok_or_else(|| format!("{url}: expected ws://HOST:PORT"))?;
        let authority = rest.split('/').next().unwrap_or(rest);
        let addr: SocketAddr = authority
            .parse()
            .map_err(|e| format!("{url}: {e} (use an IP address and port)"))?;
        let url = match target {
            Target::Socketio => format!("ws://{addr}/socket.io/?EIO=4&transport=websocket"),
            _ => format!("ws://{addr}/"),
        };
        Ok(Self {
            target,
            addr,
            url,
            room: ROOM.to_owned(),
            rooms: 1,
        })
    }

    /// The same server, joining `room` instead of the bench room.
    pub fn with_room(mut self, room: &str) -> Self {
        room.clone_into(&mut self.room);
        self
    }

    /// The same server, spreading connections over `rooms` rooms (`<room>-<index % rooms>`)
    /// instead of one.
    pub fn spread_over(mut self, rooms: usize) -> Self {
        self.rooms = rooms.max(1);
        self
    }

    /// The protocol spoken.
    pub fn target(&self) -> Target {
        self.target
    }

    /// Connects (from one of many loopback source addresses, so tens of thousands of
    /// connections never run out of ports), upgrades, and joins its room.
    pub async fn open(&self, index: usize) -> Result<Ws, String> {
        let mut ws = tokio::time::timeout(STEP, self.upgrade(index))
            .await
            .map_err(|_| format!("connecting to {}: timed out", self.url))??;
        let room = if self.rooms > 1 {
            format!("{}-{}", self.room, index % self.rooms)
        } else {
            self.room.clone()
        };
        tokio::time::timeout(STEP, join(self.target, &room, &mut ws))
            .await
            .map_err(|_| format!("joining on {}: timed out", self.url))??;
        Ok(ws)
    }

    async fn upgrade(&self, index: usize) -> Result<Ws, String> {
        let socket = TcpSocket::new_v4().map_err(|e| format!("socket: {e}"))?;
        if self.addr.ip().is_loopback() {
            let source = Ipv4Addr::new(127, 0, 1, 1 + (index % 250) as u8);
            socket
                .bind(SocketAddr::new(IpAddr::V4(source), 0))
                .map_err(|e| format!("bind {source}: {e}"))?;
        }
        let stream = socket
            .connect(self.addr)
            .await
            .map_err(|e| format!("connect {}: {e}", self.addr))?;
        stream
            .set_nodelay(true)
            .map_err(|e| format!("nodelay: {e}"))?;
        let mut request = self
            .url
            .as_str()
            .into_client_request()
            .map_err(|e| format!("{}: {e}", self.url))?;
        if self.target == Target::Tandem {
            request.headers_mut().insert(
                "Sec-WebSocket-Protocol",
                HeaderValue::from_static("tandem.v1.json"),
            );
        }
        // Small buffers: the load generator holds up to 10,000 connections itself.
        let config = WebSocketConfig::default()
            .read_buffer_size(4096)
            .write_buffer_size(0);
        let (ws, _) = tokio_tungstenite::client_async_with_config(request, stream, Some(config))
            .await
            .map_err(|e| format!("upgrade {}: {e}", self.url))?;
        Ok(ws)
    }
}

/// Does the protocol's own handshake and joins the bench room.
async fn join(target: Target, room: &str, ws: &mut Ws) -> Result<(), String> {
    match target {
        Target::Bare | Target::Ws => Ok(()),
        Target::Tandem => {
            send(
                ws,
                r#"{"v":1,"k":"hello","app":{"name":"default","versions":[1]}}"#,
            )
            .await?;
            expect(target, ws, |f| f.contains(r#""k":"welcome""#)).await?;
            let room = serde_json::to_string(room).map_err(|e| e.to_string())?;
            send(ws, &format!(r#"{{"v":1,"k":"join","id":1,"room":{room}}}"#)).await?;
            expect(target, ws, |f| f.contains(r#""k":"joined""#)).await
        }
        Target::Socketio => {
            expect(target, ws, |f| f.starts_with("0{")).await?;
            send(ws, "40").await?;
            expect(target, ws, |f| f.starts_with("40")).await?;
            let room = serde_json::to_string(room).map_err(|e| e.to_string())?;
            send(ws, &format!(r#"420["join",{room}]"#)).await?;
            expect(target, ws, |f| f.starts_with("430")).await
        }
    }
}

/// Sends one text frame.
pub async fn send(ws: &mut Ws, text: &str) -> Result<(), String> {
    ws.send(Message::text(text))
        .await
        .map_err(|e| format!("send: {e}"))
}

/// Reads until a text frame satisfies `wanted`, answering pings on the way; an error
/// envelope or the end of the stream fails.
async fn expect(target: Target, ws: &mut Ws, wanted: impl Fn(&str) -> bool) -> Result<(), String> {
    loop {
        let message = ws
            .next()
            .await
            .ok_or("the server closed the connection")?
            .map_err(|e| format!("read: {e}"))?;
        let Message::Text(text) = message else {
            continue;
        };
        if wanted(&text) {
            return Ok(());
        }
        if let Some(answer) = target.answer(&text) {
            send(ws, answer).await?;
        } else if text.contains(r#""k":"error""#) {
            return Err(format!("the server refused: {text}"));
        }
    }
}

/// Opens `count` joined connections, at most `parallel` handshakes at a time.
pub async fn open_many(
    endpoint: &Endpoint,
    count: usize,
    parallel: usize,
) -> Result<Vec<Ws>, String> {
    let mut opened = Vec::with_capacity(count);
    let mut pending = futures_util::stream::iter(0..count)
        .map(|index| endpoint.open(index))
        .buffer_unordered(parallel.max(1));
    while let Some(ws) = pending.next().await {
        opened.push(ws?);
    }
    Ok(opened)
}

/// Keeps `ws` read (answering pings, dropping everything else) until it ends, as a real
/// idle client would: frames nobody reads would pile up in the server.
pub fn drain(target: Target, mut ws: Ws) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        while let Some(Ok(message)) = ws.next().await {
            if let Message::Text(text) = message
                && let Some(answer) = target.answer(&text)
                && send(&mut ws, answer).await.is_err()
            {
                return;
            }
        }
    })
}
