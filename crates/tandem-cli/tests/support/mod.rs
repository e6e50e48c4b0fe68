//! Shared pieces of the native tests: a `tandem serve` process, a TCP proxy that can cut
//! and delay, and waiting on events with a timeout (never sleeping as synchronisation).

#![allow(dead_code, clippy::unwrap_used)]

pub mod metrics;
pub mod proxy;
pub mod raw;
pub mod redis;
pub mod redis_cluster;

use std::future::Future;
use std::net::SocketAddr;
use std::process::Stdio;
use std::time::Duration;

use serde::{Deserialize, Serialize};
use tandem_client::{Client, Config, ConnectionState, Event, Events};
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::{Child, Command};

/// The longest any single wait in these tests may take.
pub const WAIT: Duration = Duration::from_secs(15);

/// The secret the test servers verify tokens with.
pub const SECRET: &str = "test-secret-do-not-use-in-production";

/// The message type every native test shares between publishers and subscribers.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Chat {
    pub n: u32,
    pub text: String,
}

impl Chat {
    pub fn new(n: u32) -> Self {
        Chat {
            n,
            text: format!("message {n}"),
        }
    }
}

/// Awaits `fut`, failing the test with `what` if it takes longer than [`WAIT`].
pub async fn within<T>(what: &str, fut: impl Future<Output = T>) -> T {
    match tokio::time::timeout(WAIT, fut).await {
        Ok(v) => v,
        Err(_) => panic!("timed out after {WAIT:?} waiting for {what}"),
    }
}

/// Waits for the first event that `pick` maps to `Some`, skipping others.
pub async fn wait_for<M, T>(
    events: &mut Events<M>,
    what: &str,
    mut pick: impl FnMut(Event<M>) -> Option<T>,
) -> T
where
    M: serde::de::DeserializeOwned,
{
    within(what, async {
        loop {
            match events.next().await {
                Some(e) => {
                    if let Some(v) = pick(e) {
                        return v;
                    }
                }
                None => panic!("event stream ended while waiting for {what}"),
            }
        }
    })
    .await
}

/// Collects the next `count` messages of `room` (skipping other events).
pub async fn messages<M: serde::de::DeserializeOwned>(
    events: &mut Events<M>,
    room: &str,
    count: usize,
) -> Vec<(u64, M)> {
    let mut out = Vec::with_capacity(count);
    while out.len() < count {
        let (seq, data) = wait_for(
            events,
            &format!("message {} in {room}", out.len() + 1),
            |e| match e {
                Event::Message {
                    room: r, seq, data, ..
                } if r == room => Some((seq, data)),
                _ => None,
            },
        )
        .await;
        out.push((seq, data));
    }
    out
}

/// Waits for the client's state to match `want`.
pub async fn wait_state<M: serde::de::DeserializeOwned>(
    events: &mut Events<M>,
    what: &str,
    want: impl Fn(&ConnectionState) -> bool,
) -> ConnectionState {
    wait_for(events, what, |e| match e {
        Event::State(s) if want(&s) => Some(s),
        _ => None,
    })
    .await
}

/// Waits for the next `joined` (a join or an automatic resume) and returns its `recovered`.
pub async fn rejoined<M: serde::de::DeserializeOwned>(
    events: &mut Events<M>,
    what: &str,
) -> Option<bool> {
    wait_for(events, what, |e| match e {
        Event::Joined { recovered, .. } => Some(recovered),
        _ => None,
    })
    .await
}

/// A token (HS256 JWT under [`SECRET`]) for `user` valid for an hour.
pub fn token(user: &str) -> String {
    let claims = tandem_server::Claims::for_user(user, Duration::from_secs(3600));
    tandem_server::JwtSigner::hs256(SECRET)
        .sign(&claims)
        .unwrap()
}

/// A client of [`Chat`] connected with a token for `user`.
pub async fn chat_client(url: &str, user: &str) -> Client<Chat> {
    within(
        "connect",
        Client::connect(url, Config::new().token(token(user)).seed(7)),
    )
    .await
    .unwrap()
}

/// A client of [`Chat`] for `user` that tries `urls` in turn (the first, then the next after
/// each failure), connected to one of them.
pub async fn cluster_client(urls: &[String], user: &str) -> Client<Chat> {
    let config = Config::new()
        .token(token(user))
        .seed(7)
        .fallback_urls(urls[1..].iter().cloned());
    within("connect", Client::connect(&urls[0], config))
        .await
        .unwrap()
}

/// A `tandem serve` process on 127.0.0.1.
pub struct TandemProcess {
    child: Child,
    addr: SocketAddr,
    args: Vec<String>,
}

impl TandemProcess {
    /// Starts `tandem serve` on a free port with the token secret and `extra` flags.
    pub async fn start(extra: &[&str]) -> Self {
        let secret = ["--token-secret", SECRET];
        Self::start_with(&[&secret[..], extra].concat()).await
    }

    /// Starts `tandem serve` on a free port with exactly these flags (say how tokens are
    /// checked, if at all).
    pub async fn start_with(args: &[&str]) -> Self {
        Self::start_on("127.0.0.1:0", args.iter().map(|s| s.to_string()).collect()).await
    }

    async fn start_on(addr: &str, args: Vec<String>) -> Self {
        let mut child = Command::new(env!("CARGO_BIN_EXE_tandem"))
            .args(["serve", "--addr", addr])
            .args(&args)
            .env("RUST_LOG", "warn")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .kill_on_drop(true)
            .spawn()
            .expect("the tandem binary starts");
        let stdout = child.stdout.take().unwrap();
        let mut lines = BufReader::new(stdout).lines();
        let line = within("tandem serve to print its address", lines.next_line())
            .await
            .unwrap()
            .expect("tandem serve printed its address");
        let addr = line
            .strip_prefix("tandem listening on http://")
            .unwrap_or_else(|| panic!("unexpected first line {line:?}"))
            .parse()
            .unwrap();
        // Keep draining stdout so the process never blocks on a full pipe.
        tokio::spawn(async move { while let Ok(Some(_)) = lines.next_line().await {} });
        TandemProcess { child, addr, args }
    }

    /// The listening address.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// The WebSocket URL.
    pub fn url(&self) -> String {
        format!("ws://{}", self.addr)
    }

    /// Kills the process at once (SIGKILL): no close frames, in-memory state gone.
    pub async fn kill(&mut self) {
        self.child.kill().await.unwrap();
    }

    /// Sends SIGTERM and waits for the process to exit; returns whether it exited cleanly.
    pub async fn terminate(&mut self) -> bool {
        let pid = self.child.id().unwrap().to_string();
        let status = std::process::Command::new("kill")
            .args(["-TERM", &pid])
            .status()
            .unwrap();
        assert!(status.success());
        within("tandem serve to exit", self.child.wait())
            .await
            .unwrap()
            .success()
    }

    /// Starts a new process on the same address with the same flags.
    pub async fn restart(&mut self) {
        let _ = self.child.kill().await;
        let next = Self::start_on(&self.addr.to_string(), self.args.clone()).await;
        *self = next;
    }

    /// `GET /healthz` answered 200.
    pub async fn healthy(&self) -> bool {
        http_get(self.addr, "/healthz")
            .await
            .starts_with("HTTP/1.1 200")
    }

    /// Waits until `/healthz` says `healthy` (200) or not (503), asking every 20 ms.
    pub async fn wait_healthy(&self, healthy: bool) {
        within(&format!("/healthz to be healthy={healthy}"), async {
            while self.healthy().await != healthy {
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
        })
        .await;
    }

    /// Whether the process is still running (it did not exit or panic).
    pub fn is_running(&mut self) -> bool {
        matches!(self.child.try_wait(), Ok(None))
    }
}

/// A raw HTTP/1.1 GET; returns the whole response text.
pub async fn http_get(addr: SocketAddr, path: &str) -> String {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    within("an HTTP answer", async {
        let mut s = tokio::net::TcpStream::connect(addr).await.unwrap();
        let req = format!("GET {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n");
        s.write_all(req.as_bytes()).await.unwrap();
        let mut out = String::new();
        s.read_to_string(&mut out).await.unwrap();
        out
    })
    .await
}
