//! The metrics tests' pieces: a `tandem serve` with `--metrics-addr`, a plain HTTP GET,
//! reading a sample out of the OpenMetrics text, and a real Prometheus (Debian's
//! `prometheus`) scraping a target, queried through its HTTP API.

#![allow(dead_code, clippy::unwrap_used)]

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::Stdio;
use std::time::Duration;

use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::process::{Child, Command};

use super::{SECRET, within};

/// How long a wait on Prometheus may take: it starts, then scrapes once a second.
pub const PROMETHEUS_WAIT: Duration = Duration::from_secs(60);

/// A `tandem serve` with `--metrics-addr` on a free port, and its two addresses.
pub struct ServeWithMetrics {
    pub child: Child,
    pub addr: SocketAddr,
    pub metrics_addr: SocketAddr,
}

impl ServeWithMetrics {
    /// Starts `tandem serve --metrics-addr 127.0.0.1:0` with the test token secret and
    /// `extra` flags.
    pub async fn start(extra: &[&str]) -> Self {
        let mut child = Command::new(env!("CARGO_BIN_EXE_tandem"))
            .args(["serve", "--addr", "127.0.0.1:0", "--token-secret", SECRET])
            .args(["--metrics-addr", "127.0.0.1:0"])
            .args(extra)
            .env("RUST_LOG", "warn")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .kill_on_drop(true)
            .spawn()
            .expect("the tandem binary starts");
        let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
        let first = next_line(&mut lines).await;
        let addr = first
            .strip_prefix("tandem listening on http://")
            .unwrap_or_else(|| panic!("unexpected first line {first:?}"))
            .parse()
            .unwrap();
        let second = next_line(&mut lines).await;
        let metrics_addr = second
            .strip_prefix("tandem metrics on http://")
            .and_then(|rest| rest.strip_suffix("/metrics"))
            .unwrap_or_else(|| panic!("unexpected second line {second:?}"))
            .parse()
            .unwrap();
        tokio::spawn(async move { while let Ok(Some(_)) = lines.next_line().await {} });
        ServeWithMetrics {
            child,
            addr,
            metrics_addr,
        }
    }

    /// Stops it (SIGKILL) and waits for it to end.
    pub async fn stop(mut self) {
        self.child.kill().await.unwrap();
    }
}

async fn next_line(lines: &mut tokio::io::Lines<BufReader<tokio::process::ChildStdout>>) -> String {
    within("a line of tandem serve", lines.next_line())
        .await
        .unwrap()
        .expect("tandem serve printed a line")
}

/// A plain HTTP/1.1 GET: the status, the head's lines and the body.
pub async fn http_get(addr: SocketAddr, target: &str) -> (u16, String, String) {
    within(&format!("GET {target}"), async {
        let mut s = tokio::net::TcpStream::connect(addr).await.unwrap();
        let request = format!("GET {target} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n");
        s.write_all(request.as_bytes()).await.unwrap();
        let mut answer = Vec::new();
        s.read_to_end(&mut answer).await.unwrap();
        let answer = String::from_utf8(answer).unwrap();
        let (head, body) = answer.split_once("\r\n\r\n").unwrap();
        let status = head.split(' ').nth(1).unwrap().parse().unwrap();
        (status, head.to_owned(), body.to_owned())
    })
    .await
}

/// The value of the sample written `name` (labels included, as the text writes them).
pub fn sample(text: &str, name: &str) -> Option<f64> {
    text.lines()
        .find_map(|l| l.strip_prefix(name)?.strip_prefix(' '))
        .and_then(|v| v.split(' ').next()?.parse().ok())
}

/// A free port on 127.0.0.1.
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// A real Prometheus scraping one target every second, on a free port, with its data in
/// a directory of its own (removed when stopped).
pub struct PrometheusProcess {
    child: Child,
    addr: SocketAddr,
    dir: PathBuf,
}

impl PrometheusProcess {
    /// Starts one scraping `target` (`host:port`, `/metrics`) and waits until it is ready.
    pub async fn start(target: SocketAddr) -> Self {
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_nanos();
        let dir =
            std::env::temp_dir().join(format!("tandem-prometheus-{}-{nanos}", std::process::id()));
        std::fs::create_dir_all(dir.join("data")).unwrap();
        let config = format!(
            "global:\n  scrape_interval: 1s\n  scrape_timeout: 1s\n  evaluation_interval: 1s\n\
             scrape_configs:\n  - job_name: tandem\n    static_configs:\n      - targets: ['{target}']\n"
        );
        let config_file = dir.join("prometheus.yml");
        std::fs::write(&config_file, config).unwrap();
        let addr: SocketAddr = format!("127.0.0.1:{}", free_port()).parse().unwrap();
        let child = Command::new("prometheus")
            .arg(format!("--config.file={}", config_file.display()))
            .arg(format!(
                "--storage.tsdb.path={}",
                dir.join("data").display()
            ))
            .arg(format!("--web.listen-address={addr}"))
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .kill_on_drop(true)
            .spawn()
            .expect("prometheus is installed (cargo xtask test installs Debian's prometheus)");
        let prometheus = PrometheusProcess { child, addr, dir };
        tokio::time::timeout(PROMETHEUS_WAIT, async {
            while !prometheus.ready().await {
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        })
        .await
        .expect("prometheus ready within a minute");
        prometheus
    }

    async fn ready(&self) -> bool {
        let Ok(mut s) = tokio::net::TcpStream::connect(self.addr).await else {
            return false;
        };
        let request = format!(
            "GET /-/ready HTTP/1.1\r\nHost: {}\r\nConnection: close\r\n\r\n",
            self.addr
        );
        if s.write_all(request.as_bytes()).await.is_err() {
            return false;
        }
        let mut answer = Vec::new();
        let _ = s.read_to_end(&mut answer).await;
        answer.starts_with(b"HTTP/1.1 200")
    }

    /// The value of the instant query `expr` now: the sum of its series, `None` when it has
    /// none (not scraped yet).
    pub async fn query(&self, expr: &str) -> Option<f64> {
        let target = format!("/api/v1/query?query={}", encode(expr));
        let (status, _, body) = http_get(self.addr, &target).await;
        assert_eq!(status, 200, "query {expr}: {body}");
        let answer: serde_json::Value = serde_json::from_str(&body).unwrap();
        assert_eq!(answer["status"], "success", "{body}");
        let result = answer["data"]["result"].as_array()?;
        if result.is_empty() {
            return None;
        }
        let values = result
            .iter()
            .map(|r| r["value"][1].as_str().unwrap().parse::<f64>().unwrap());
        Some(values.sum())
    }

    /// Polls `expr` until `want` holds for its value, for at most [`PROMETHEUS_WAIT`];
    /// fails the test with the last value otherwise.
    pub async fn wait_for(&self, expr: &str, want: impl Fn(f64) -> bool) -> f64 {
        let deadline = tokio::time::Instant::now() + PROMETHEUS_WAIT;
        loop {
            let value = self.query(expr).await;
            if let Some(v) = value.filter(|v| want(*v)) {
                return v;
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "Prometheus: {expr} is {value:?} after {PROMETHEUS_WAIT:?}"
            );
            tokio::time::sleep(Duration::from_millis(250)).await;
        }
    }

    /// Stops it and waits for it to end (its data goes when it is dropped).
    pub async fn stop(mut self) {
        self.child.kill().await.unwrap();
    }
}

impl Drop for PrometheusProcess {
    fn drop(&mut self) {
        // The process is killed on drop too (a failed test); its data goes either way.
        let _ = self.child.start_kill();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// `text` percent-encoded for a query string.
fn encode(text: &str) -> String {
    let mut out = String::new();
    for b in text.bytes() {
        if b.is_ascii_alphanumeric() || b"-_.~".contains(&b) {
            out.push(char::from(b));
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}
