//! A Redis Cluster on 127.0.0.1 for the `redis-cluster` scenario: six `redis-server`s in
//! cluster mode (three masters, three replicas) created with `redis-cli --cluster create`,
//! without persistence, their files in a directory of their own (removed when dropped,
//! with every process killed).
//!
//! The settings (as in the tests' harness, `crates/tandem-cli/tests/support/redis_cluster.rs`):
//! node timeout 2 s (a dead master's replica is promoted about 3–5 s after the kill),
//! `cluster-replica-validity-factor 0` (a replica always fails over),
//! `cluster-require-full-coverage no` (the other shards serve while one has no master),
//! `repl-diskless-sync-delay 0` (replicas sync at once), and a free `cluster-port`.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

use tokio::process::{Child, Command};
use tokio::time::Instant;

use crate::procs::free_port;

/// Slots in a Redis Cluster.
const SLOTS: u32 = 16384;

/// A node as a cluster member sees it (a line of `CLUSTER NODES`).
#[derive(Debug, Clone)]
struct NodeView {
    port: u16,
    flags: Vec<String>,
    master: Option<String>,
    slots: Vec<(u16, u16)>,
}

impl NodeView {
    fn has(&self, flag: &str) -> bool {
        self.flags.iter().any(|f| f == flag)
    }

    fn is_live_master(&self) -> bool {
        self.has("master") && !self.has("fail") && !self.has("fail?")
    }

    fn serves(&self, slot: u16) -> bool {
        self.slots.iter().any(|&(a, b)| a <= slot && slot <= b)
    }
}

/// Parses `CLUSTER NODES`.
fn parse_nodes(text: &str) -> Vec<NodeView> {
    text.lines()
        .filter_map(|line| {
            let fields: Vec<&str> = line.split_whitespace().collect();
            if fields.len() < 8 {
                return None;
            }
            let port = fields[1]
                .split('@')
                .next()?
                .rsplit(':')
                .next()?
                .parse()
                .ok()?;
            let slots = fields[8..]
                .iter()
                .filter(|s| !s.starts_with('['))
                .filter_map(|s| match s.split_once('-') {
                    Some((a, b)) => Some((a.parse().ok()?, b.parse().ok()?)),
                    None => s.parse().ok().map(|a| (a, a)),
                })
                .collect();
            Some(NodeView {
                port,
                flags: fields[2].split(',').map(str::to_owned).collect(),
                master: (fields[3] != "-").then(|| fields[3].to_owned()),
                slots,
            })
        })
        .collect()
}

/// `field:value` lines as a map.
fn fields(text: &str) -> HashMap<String, String> {
    text.lines()
        .filter_map(|l| l.trim_end().split_once(':'))
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .collect()
}

/// The hash slot of `key` (CRC16/XMODEM of its hash tag, or of the key), as `CLUSTER
/// KEYSLOT` computes it.
pub fn key_slot(key: &str) -> u16 {
    let bytes = key.as_bytes();
    let hashed = match bytes.iter().position(|&b| b == b'{') {
        Some(open) => match bytes[open + 1..].iter().position(|&b| b == b'}') {
            Some(len) if len > 0 => &bytes[open + 1..open + 1 + len],
            _ => bytes,
        },
        None => bytes,
    };
    let mut crc: u16 = 0;
    for &b in hashed {
        crc ^= u16::from(b) << 8;
        for _ in 0..8 {
            crc = if crc & 0x8000 != 0 {
                (crc << 1) ^ 0x1021
            } else {
                crc << 1
            };
        }
    }
    crc % 16384
}

/// The key (and sharded channel) of `room` under `prefix`: `prefix:{room}`.
pub fn room_key(prefix: &str, room: &str) -> String {
    format!("{prefix}:{{{room}}}")
}

/// One `redis-server` of the cluster.
struct Server {
    port: u16,
    child: Option<Child>,
}

/// A running Redis Cluster.
pub struct RedisCluster {
    cli: String,
    dir: PathBuf,
    servers: Vec<Server>,
    seeds: Vec<u16>,
}

impl RedisCluster {
    /// Starts six `server`s in cluster mode with their files under `dir`, creates the
    /// cluster with `cli` and waits (at most `within`) until it is settled.
    pub async fn start(
        server: &str,
        cli: &str,
        dir: &Path,
        within: Duration,
    ) -> Result<RedisCluster, String> {
        let _ = std::fs::remove_dir_all(dir);
        std::fs::create_dir_all(dir).map_err(|e| format!("creating {}: {e}", dir.display()))?;
        let mut cluster = RedisCluster {
            cli: cli.to_owned(),
            dir: dir.to_owned(),
            servers: Vec::new(),
            seeds: Vec::new(),
        };
        for _ in 0..6 {
            let (port, bus) = (free_port()?, free_port()?);
            let conf = dir.join(format!("nodes-{port}.conf"));
            let child = Command::new(server)
                .args(["--port", &port.to_string(), "--bind", "127.0.0.1"])
                .args(["--cluster-enabled", "yes"])
                .args(["--cluster-port", &bus.to_string()])
                .arg("--cluster-config-file")
                .arg(&conf)
                .args(["--cluster-node-timeout", "2000"])
                .args(["--cluster-replica-validity-factor", "0"])
                .args(["--cluster-require-full-coverage", "no"])
                .args(["--repl-diskless-sync-delay", "0"])
                .args(["--save", "", "--appendonly", "no", "--loglevel", "warning"])
                .arg("--dir")
                .arg(dir)
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .kill_on_drop(true)
                .spawn()
                .map_err(|e| format!("starting {server}: {e} (is redis-server installed?)"))?;
            cluster.servers.push(Server {
                port,
                child: Some(child),
            });
        }
        let deadline = Instant::now() + within;
        for port in cluster.ports() {
            while cluster.ask(port, &["PING"]).await.as_deref().map(str::trim) != Some("PONG") {
                if Instant::now() >= deadline {
                    return Err(format!("redis-server on {port} did not answer PING"));
                }
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
        }
        let mut create = Command::new(cli);
        create.args(["--cluster", "create"]);
        for port in cluster.ports() {
            create.arg(format!("127.0.0.1:{port}"));
        }
        let out = tokio::time::timeout(
            within,
            create
                .args(["--cluster-replicas", "1", "--cluster-yes"])
                .stdin(Stdio::null())
                .kill_on_drop(true)
                .output(),
        )
        .await
        .map_err(|_| "redis-cli --cluster create timed out".to_owned())?
        .map_err(|e| format!("running {cli}: {e} (is redis-tools installed?)"))?;
        if !out.status.success() {
            return Err(format!(
                "redis-cli --cluster create failed: {}",
                String::from_utf8_lossy(&out.stdout)
            ));
        }
        cluster
            .wait_settled(deadline.saturating_duration_since(Instant::now()))
            .await?;
        let mut seeds: Vec<u16> = cluster
            .view()
            .await?
            .iter()
            .filter(|n| n.is_live_master() && !n.slots.is_empty())
            .map(|n| n.port)
            .collect();
        seeds.sort_unstable();
        cluster.seeds = seeds;
        Ok(cluster)
    }

    fn ports(&self) -> Vec<u16> {
        self.servers.iter().map(|s| s.port).collect()
    }

    fn live_ports(&self) -> Vec<u16> {
        self.servers
            .iter()
            .filter(|s| s.child.is_some())
            .map(|s| s.port)
            .collect()
    }

    /// `redis-cli -p port args…`'s output, or `None` on any failure or error reply.
    async fn ask(&self, port: u16, args: &[&str]) -> Option<String> {
        let run = Command::new(&self.cli)
            .args(["-h", "127.0.0.1", "-p", &port.to_string()])
            .args(args)
            .stdin(Stdio::null())
            .stderr(Stdio::null())
            .kill_on_drop(true)
            .output();
        let out = tokio::time::timeout(Duration::from_secs(5), run)
            .await
            .ok()?
            .ok()?;
        let text = String::from_utf8(out.stdout).ok()?;
        let error = ["ERR", "CLUSTERDOWN", "MOVED", "LOADING"]
            .iter()
            .any(|e| text.starts_with(e));
        (out.status.success() && !error).then_some(text)
    }

    /// The `--redis` URL: `redis+cluster://` and the masters at creation.
    pub fn url(&self) -> String {
        let seeds: Vec<String> = self
            .seeds
            .iter()
            .map(|p| format!("127.0.0.1:{p}"))
            .collect();
        format!("redis+cluster://{}", seeds.join(","))
    }

    async fn view(&self) -> Result<Vec<NodeView>, String> {
        for port in self.live_ports() {
            if let Some(text) = self.ask(port, &["CLUSTER", "NODES"]).await {
                return Ok(parse_nodes(&text));
            }
        }
        Err("no redis-server answered CLUSTER NODES".into())
    }

    /// The port of the master serving `room`'s slot under `prefix`.
    pub async fn master_of(&self, prefix: &str, room: &str) -> Result<u16, String> {
        let slot = key_slot(&room_key(prefix, room));
        self.view()
            .await?
            .iter()
            .find(|n| n.is_live_master() && n.serves(slot))
            .map(|n| n.port)
            .ok_or_else(|| format!("no live master serves slot {slot}"))
    }

    /// `n` room names starting with `stem`, room `i` on the `i % masters`-th master.
    pub async fn rooms_on_distinct_masters(
        &self,
        prefix: &str,
        stem: &str,
        n: usize,
    ) -> Result<Vec<String>, String> {
        let view = self.view().await?;
        let mut masters: Vec<&NodeView> = view
            .iter()
            .filter(|v| v.is_live_master() && !v.slots.is_empty())
            .collect();
        masters.sort_by_key(|m| m.port);
        if masters.is_empty() {
            return Err("the cluster has no master".into());
        }
        (0..n)
            .map(|i| {
                let master = masters[i % masters.len()];
                (0..100_000)
                    .map(|k| format!("{stem}{i}-{k}"))
                    .find(|room| master.serves(key_slot(&room_key(prefix, room))))
                    .ok_or_else(|| format!("no room name on master {}", master.port))
            })
            .collect()
    }

    /// SIGKILLs the server on `port` (it stays down).
    pub async fn kill(&mut self, port: u16) {
        if let Some(server) = self.servers.iter_mut().find(|s| s.port == port)
            && let Some(mut child) = server.child.take()
        {
            let _ = child.kill().await;
        }
    }

    /// Waits (at most `within`) until every live server reports `cluster_state:ok`, knows
    /// all six nodes and sees every slot served by a running master (the same ones
    /// everywhere), and every running server without slots is a replica in sync.
    pub async fn wait_settled(&self, within: Duration) -> Result<(), String> {
        let deadline = Instant::now() + within;
        while !self.settled().await {
            if Instant::now() >= deadline {
                return Err(format!("the redis cluster did not settle in {within:?}"));
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        Ok(())
    }

    async fn settled(&self) -> bool {
        let live = self.live_ports();
        let mut owners_seen: Option<Vec<u16>> = None;
        for &port in &live {
            let Some(info) = self.ask(port, &["CLUSTER", "INFO"]).await else {
                return false;
            };
            let info = fields(&info);
            if info.get("cluster_state").map(String::as_str) != Some("ok")
                || info.get("cluster_known_nodes") != Some(&self.servers.len().to_string())
            {
                return false;
            }
            let Some(nodes) = self.ask(port, &["CLUSTER", "NODES"]).await else {
                return false;
            };
            let nodes = parse_nodes(&nodes);
            let owners: Vec<&NodeView> = nodes
                .iter()
                .filter(|n| n.is_live_master() && !n.slots.is_empty())
                .collect();
            let served: u32 = owners
                .iter()
                .flat_map(|n| n.slots.iter())
                .map(|&(a, b)| u32::from(b.saturating_sub(a)) + 1)
                .sum();
            if served != SLOTS || owners.iter().any(|n| !live.contains(&n.port)) {
                return false;
            }
            let mut ports: Vec<u16> = owners.iter().map(|n| n.port).collect();
            ports.sort_unstable();
            if owners_seen.get_or_insert_with(|| ports.clone()) != &ports {
                return false;
            }
            if nodes
                .iter()
                .filter(|n| live.contains(&n.port))
                .any(|n| n.slots.is_empty() && !(n.has("slave") && n.master.is_some()))
            {
                return false;
            }
            let Some(me) = nodes.iter().find(|n| n.has("myself")) else {
                return false;
            };
            if me.slots.is_empty() {
                let Some(repl) = self.ask(port, &["INFO", "replication"]).await else {
                    return false;
                };
                if fields(&repl).get("master_link_status").map(String::as_str) != Some("up") {
                    return false;
                }
            }
        }
        true
    }
}

impl Drop for RedisCluster {
    fn drop(&mut self) {
        for server in &mut self.servers {
            if let Some(child) = server.child.as_mut() {
                let _ = child.start_kill();
            }
        }
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

#[cfg(test)]
mod tests {
    use super::{key_slot, parse_nodes};

    #[test]
    fn slots_follow_the_hash_tag() {
        // `CLUSTER KEYSLOT` of these, from Redis 7.
        assert_eq!(key_slot("foo"), 12182);
        assert_eq!(key_slot("tandem:{foo}"), 12182);
        assert_eq!(key_slot("tandem:{foo}:hist"), 12182);
        assert_eq!(key_slot("{}foo"), key_slot("{}foo"));
        assert_ne!(key_slot("{}foo"), key_slot("foo"));
    }

    #[test]
    fn cluster_nodes_lines_parse() {
        let text = "d9 127.0.0.1:27000@28000 myself,master - 0 0 1 connected 0-5460\n\
                    81 127.0.0.1:27004@28004 slave d9 0 0 1 connected\n\
                    bd 127.0.0.1:27001@28001 master,fail - 0 0 2 disconnected 5461 5462-10922\n";
        let nodes = parse_nodes(text);
        assert_eq!(nodes.len(), 3);
        assert!(nodes[0].is_live_master() && nodes[0].serves(5460));
        assert_eq!(nodes[1].master.as_deref(), Some("d9"));
        assert!(!nodes[2].is_live_master());
        assert_eq!(nodes[2].slots, [(5461, 5461), (5462, 10922)]);
    }
}
