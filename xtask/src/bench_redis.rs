//! The Redis servers of the many-node figures: one `redis-server`, or a Redis Cluster of
//! masters without replicas, on free loopback ports, without persistence; stopped when
//! dropped.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use crate::process::{Result, Shell};
use crate::services::Service;

/// How long a new cluster may take to agree that every slot is served.
const CLUSTER_READY: Duration = Duration::from_secs(30);

/// A port nobody listens on now; held by `keep` until the caller has picked them all.
fn free_port(keep: &mut Vec<std::net::TcpListener>) -> Result<u16> {
    let listener = std::net::TcpListener::bind("127.0.0.1:0")
        .map_err(|e| format!("finding a free port for redis-server: {e}"))?;
    let port = listener
        .local_addr()
        .map_err(|e| format!("reading a free port: {e}"))?
        .port();
    keep.push(listener);
    Ok(port)
}

/// `redis-server` on `port` with `extra` settings, started once it is ready.
fn server(name: &str, port: u16, extra: &[&str], dir: Option<&Path>) -> Result<Service> {
    let mut command = Command::new("redis-server");
    command
        .args(["--port", &port.to_string(), "--bind", "127.0.0.1"])
        .args(["--save", "", "--appendonly", "no"])
        .args(extra);
    if let Some(dir) = dir {
        command.current_dir(dir);
    }
    let url = format!("redis://127.0.0.1:{port}");
    Service::start_when(name, command, "Ready to accept", |line| {
        line.contains("Ready to accept").then(|| url.clone())
    })
}

/// One `redis-server` on a free port; its URL is `redis://127.0.0.1:PORT`.
pub fn single() -> Result<Service> {
    let mut keep = Vec::new();
    let port = free_port(&mut keep)?;
    drop(keep);
    server("redis-server", port, &[], None)
}

/// A Redis Cluster of masters (no replicas), every slot assigned.
pub struct Cluster {
    masters: Vec<Service>,
    ports: Vec<u16>,
    dir: PathBuf,
}

impl Drop for Cluster {
    fn drop(&mut self) {
        self.masters.clear();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

impl Cluster {
    /// Starts `masters` cluster-enabled servers (each with its own cluster bus port and
    /// `nodes.conf` under target/xtask), joins them with `redis-cli --cluster create`, and
    /// waits until each reports `cluster_state:ok`.
    pub fn start(shell: &Shell, masters: usize) -> Result<Cluster> {
        let dir = shell
            .root()
            .join(format!("target/xtask/redis-cluster-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        let mut keep = Vec::new();
        let mut pairs = Vec::with_capacity(masters);
        for _ in 0..masters {
            pairs.push((free_port(&mut keep)?, free_port(&mut keep)?));
        }
        drop(keep);
        let mut cluster = Cluster {
            masters: Vec::with_capacity(masters),
            ports: pairs.iter().map(|(port, _)| *port).collect(),
            dir,
        };
        for (i, (port, bus)) in pairs.iter().enumerate() {
            let own = cluster.dir.join(port.to_string());
            std::fs::create_dir_all(&own)
                .map_err(|e| format!("creating {}: {e}", own.display()))?;
            let bus = bus.to_string();
            let settings = [
                "--cluster-enabled",
                "yes",
                "--cluster-port",
                &bus,
                "--cluster-config-file",
                "nodes.conf",
                "--cluster-node-timeout",
                "5000",
            ];
            let name = format!("redis-server (cluster master {})", i + 1);
            cluster
                .masters
                .push(server(&name, *port, &settings, Some(&own))?);
        }
        let addrs: Vec<String> = cluster
            .ports
            .iter()
            .map(|port| format!("127.0.0.1:{port}"))
            .collect();
        shell
            .cmd("redis-cli")
            .args(["--cluster", "create"])
            .args(addrs.iter().cloned())
            .args(["--cluster-replicas", "0", "--cluster-yes"])
            .run("create the Redis Cluster")?;
        let deadline = Instant::now() + CLUSTER_READY;
        for port in &cluster.ports {
            loop {
                let info = shell
                    .cmd("redis-cli")
                    .args(["-p", &port.to_string(), "cluster", "info"])
                    .capture()
                    .unwrap_or_default();
                if info.contains("cluster_state:ok") {
                    break;
                }
                if Instant::now() >= deadline {
                    return Err(format!(
                        "the Redis Cluster was not ready in {CLUSTER_READY:?} (port {port}: {info})"
                    ));
                }
                std::thread::sleep(Duration::from_millis(100));
            }
        }
        Ok(cluster)
    }

    /// `--redis` for tandem: `redis+cluster://127.0.0.1:P1,127.0.0.1:P2,…`.
    pub fn url(&self) -> String {
        let seeds: Vec<String> = self
            .ports
            .iter()
            .map(|port| format!("127.0.0.1:{port}"))
            .collect();
        format!("redis+cluster://{}", seeds.join(","))
    }

    /// The masters' process ids.
    pub fn pids(&self) -> Vec<u32> {
        self.masters.iter().map(Service::pid).collect()
    }
}
