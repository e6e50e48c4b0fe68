//! The processes a scenario runs: `tandem serve` nodes and a `redis-server`, each on
//! 127.0.0.1, killed with SIGKILL on demand and when dropped, with their peak memory.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::process::{Child, Command};

/// How long a process may take to start listening.
const STARTUP: Duration = Duration::from_secs(30);

/// `VmHWM` (peak resident set) of `pid` in KiB, if it can be read.
pub fn peak_rss_kib(pid: u32) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    status
        .lines()
        .find_map(|line| line.strip_prefix("VmHWM:"))
        .and_then(|rest| rest.trim().trim_end_matches("kB").trim().parse().ok())
}

/// A free port on 127.0.0.1 (the system's pick, released at once).
pub fn free_port() -> Result<u16, String> {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .map_err(|e| format!("finding a free port: {e}"))
}

/// One `tandem serve` node; restartable on the same address.
pub struct Node {
    name: String,
    tandem: PathBuf,
    args: Vec<String>,
    log: PathBuf,
    child: Option<Child>,
    /// Where it listens (fixed after the first start).
    pub addr: SocketAddr,
    /// The highest `VmHWM` of every process of this node so far, KiB.
    peak_kib: u64,
}

impl Node {
    /// Starts `tandem serve --addr 127.0.0.1:0 args…`, logging to `logs/<name>.log`.
    pub async fn start(
        name: &str,
        tandem: &Path,
        args: &[String],
        logs: &Path,
    ) -> Result<Node, String> {
        let mut node = Node {
            name: name.to_owned(),
            tandem: tandem.to_owned(),
            args: args.to_vec(),
            log: logs.join(format!("{name}.log")),
            child: None,
            addr: SocketAddr::from(([127, 0, 0, 1], 0)),
            peak_kib: 0,
        };
        // A fresh log per scenario run; restarts append to it.
        std::fs::write(&node.log, "").map_err(|e| format!("{}: {e}", node.log.display()))?;
        node.spawn().await?;
        Ok(node)
    }

    /// The node's WebSocket URL.
    pub fn url(&self) -> String {
        format!("ws://{}", self.addr)
    }

    async fn spawn(&mut self) -> Result<(), String> {
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&self.log)
            .map_err(|e| format!("opening {}: {e}", self.log.display()))?;
        let mut child = Command::new(&self.tandem)
            .arg("serve")
            .args(["--addr", &self.addr.to_string()])
            .args(["--log", "warn"])
            .args(&self.args)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(log)
            .kill_on_drop(true)
            .spawn()
            .map_err(|e| format!("starting {}: {e}", self.tandem.display()))?;
        let stdout = child.stdout.take().ok_or("tandem serve: no stdout")?;
        let mut lines = BufReader::new(stdout).lines();
        let first = tokio::time::timeout(STARTUP, lines.next_line())
            .await
            .map_err(|_| format!("{}: no address printed in {STARTUP:?}", self.name))?
            .map_err(|e| format!("{}: reading its output: {e}", self.name))?
            .ok_or_else(|| {
                format!(
                    "{}: exited before listening (see {})",
                    self.name,
                    self.log.display()
                )
            })?;
        let addr = first
            .strip_prefix("tandem listening on http://")
            .and_then(|a| a.trim().parse().ok())
            .ok_or_else(|| format!("{}: unexpected first line {first:?}", self.name))?;
        self.addr = addr;
        // Keep draining stdout so the pipe never fills.
        tokio::spawn(async move { while let Ok(Some(_)) = lines.next_line().await {} });
        self.child = Some(child);
        Ok(())
    }

    /// Notes the running process's peak memory.
    fn sample(&mut self) {
        if let Some(kib) = self
            .child
            .as_ref()
            .and_then(Child::id)
            .and_then(peak_rss_kib)
        {
            self.peak_kib = self.peak_kib.max(kib);
        }
    }

    /// The highest peak RSS of this node's processes so far (the running one included).
    pub fn peak_kib(&mut self) -> u64 {
        self.sample();
        self.peak_kib
    }

    /// SIGKILLs the running process.
    pub async fn kill(&mut self) {
        self.sample();
        if let Some(mut child) = self.child.take() {
            let _ = child.kill().await;
        }
    }

    /// Starts the node again on the same address with the same flags.
    pub async fn restart(&mut self) -> Result<(), String> {
        self.kill().await;
        self.spawn().await
    }

    /// Waits (bounded) until `GET /healthz` answers 200: a node of a cluster serves once
    /// it has joined Redis.
    pub async fn wait_healthy(&self, within: Duration) -> Result<(), String> {
        let deadline = tokio::time::Instant::now() + within;
        loop {
            if http_status(self.addr, "/healthz").await == Some(200) {
                return Ok(());
            }
            if tokio::time::Instant::now() >= deadline {
                return Err(format!("{} not healthy within {within:?}", self.name));
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
}

/// The status code of a plain `GET path`, or `None` if nothing answered in 2 s.
async fn http_status(addr: SocketAddr, path: &str) -> Option<u16> {
    let ask = async {
        let mut s = tokio::net::TcpStream::connect(addr).await.ok()?;
        let req = format!("GET {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n");
        s.write_all(req.as_bytes()).await.ok()?;
        let mut head = [0u8; 12];
        s.read_exact(&mut head).await.ok()?;
        std::str::from_utf8(&head[9..12]).ok()?.parse().ok()
    };
    tokio::time::timeout(Duration::from_secs(2), ask)
        .await
        .ok()
        .flatten()
}

/// A `redis-server` without persistence (a restart loses everything, as a crashed cache
/// would), on a fixed free port.
pub struct Redis {
    program: String,
    port: u16,
    child: Option<Child>,
}

impl Redis {
    /// Starts `program` on a free port and waits until it answers PING.
    pub async fn start(program: &str) -> Result<Redis, String> {
        let mut redis = Redis {
            program: program.to_owned(),
            port: free_port()?,
            child: None,
        };
        redis.spawn().await?;
        Ok(redis)
    }

    /// The URL nodes connect with.
    pub fn url(&self) -> String {
        format!("redis://127.0.0.1:{}", self.port)
    }

    async fn spawn(&mut self) -> Result<(), String> {
        let child = Command::new(&self.program)
            .args(["--port", &self.port.to_string(), "--bind", "127.0.0.1"])
            .args(["--save", "", "--appendonly", "no", "--loglevel", "warning"])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .kill_on_drop(true)
            .spawn()
            .map_err(|e| {
                format!(
                    "starting {}: {e} (is redis-server installed?)",
                    self.program
                )
            })?;
        self.child = Some(child);
        let deadline = tokio::time::Instant::now() + STARTUP;
        while !self.answers().await {
            if tokio::time::Instant::now() >= deadline {
                return Err(format!("redis-server did not answer PING in {STARTUP:?}"));
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        Ok(())
    }

    async fn answers(&self) -> bool {
        let ask = async {
            let mut s = tokio::net::TcpStream::connect(("127.0.0.1", self.port))
                .await
                .ok()?;
            s.write_all(b"PING\r\n").await.ok()?;
            let mut buf = [0u8; 7];
            s.read_exact(&mut buf).await.ok()?;
            Some(&buf == b"+PONG\r\n")
        };
        tokio::time::timeout(Duration::from_secs(1), ask)
            .await
            .ok()
            .flatten()
            .unwrap_or(false)
    }

    /// SIGKILLs it (everything in it is lost).
    pub async fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill().await;
        }
    }

    /// Starts a new, empty one on the same port.
    pub async fn restart(&mut self) -> Result<(), String> {
        self.kill().await;
        self.spawn().await
    }
}
