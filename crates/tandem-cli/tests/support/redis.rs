//! A real `redis-server` on 127.0.0.1 and a free port, without persistence (a restart
//! loses everything, as a crashed cache would), stopped when dropped.

#![allow(dead_code, clippy::unwrap_used)]

use std::process::Stdio;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::process::{Child, Command};

use super::{TandemProcess, within};

/// A running `redis-server`.
pub struct RedisProcess {
    child: Child,
    port: u16,
}

impl RedisProcess {
    /// Starts one on a free port and waits until it answers PING.
    pub async fn start() -> Self {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        Self::start_on(port).await
    }

    async fn start_on(port: u16) -> Self {
        let child = Command::new("redis-server")
            .args(["--port", &port.to_string(), "--bind", "127.0.0.1"])
            .args(["--save", "", "--appendonly", "no", "--loglevel", "warning"])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .kill_on_drop(true)
            .spawn()
            .expect("redis-server is installed (cargo xtask test installs it)");
        let redis = RedisProcess { child, port };
        within("redis-server to answer PING", async {
            while !redis.answers().await {
                tokio::time::sleep(std::time::Duration::from_millis(20)).await;
            }
        })
        .await;
        redis
    }

    /// Whether it answers PING now.
    async fn answers(&self) -> bool {
        let Ok(mut s) = tokio::net::TcpStream::connect(("127.0.0.1", self.port)).await else {
            return false;
        };
        if s.write_all(b"PING\r\n").await.is_err() {
            return false;
        }
        let mut buf = [0u8; 7];
        s.read_exact(&mut buf).await.is_ok() && &buf == b"+PONG\r\n"
    }

    /// The URL nodes connect with.
    pub fn url(&self) -> String {
        format!("redis://127.0.0.1:{}", self.port)
    }

    /// Kills it (SIGKILL: everything in it is lost) and starts a new, empty one on the
    /// same port.
    pub async fn restart(&mut self) {
        self.child.kill().await.unwrap();
        *self = Self::start_on(self.port).await;
    }

    /// Kills it.
    pub async fn kill(&mut self) {
        self.child.kill().await.unwrap();
    }
}

/// Starts a `tandem serve` node on this Redis with `extra` flags and waits until it is
/// joined (`/healthz` ok).
pub async fn node(redis: &RedisProcess, extra: &[&str]) -> TandemProcess {
    let url = redis.url();
    let mut args = vec!["--redis", url.as_str()];
    args.extend_from_slice(extra);
    let node = TandemProcess::start(&args).await;
    node.wait_healthy(true).await;
    node
}
