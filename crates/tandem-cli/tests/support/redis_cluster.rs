//! A real Redis Cluster on 127.0.0.1: six `redis-server` processes in cluster mode (three
//! masters, three replicas) created with `redis-cli --cluster create`, without persistence,
//! in a temporary directory of their own. Masters can be SIGKILLed and their replicas'
//! promotion waited for. Everything is killed and the directory removed when dropped.
//!
//! Settings, and why:
//! - `cluster-node-timeout 2000`: a dead master is flagged after 2 s and its replica is
//!   promoted about 1–2 s later; short enough for tests, long enough that a busy 2-core
//!   machine does not flag a live node.
//! - `cluster-replica-validity-factor 0`: a replica always fails over, however long it was
//!   out of touch with its master (the setting for maximum availability).
//! - `cluster-require-full-coverage no`: while one shard has no master, the other shards
//!   keep serving their slots (with `yes`, every node refuses every command until the
//!   failover).
//! - `repl-diskless-sync-delay 0`: replicas get their first sync at once (the default
//!   waits 5 s for more replicas).
//! - `cluster-port`: the bus port is picked free like the client port (not port + 10000,
//!   which may be taken or over 65535).

#![allow(dead_code, clippy::unwrap_used)]

use std::collections::HashMap;
use std::path::PathBuf;
use std::process::Stdio;
use std::time::Duration;

use tokio::process::{Child, Command};

use super::{TandemProcess, within};

/// The key prefix `tandem serve` uses by default (`--redis-prefix`).
pub const PREFIX: &str = "tandem";

/// Slots in a Redis Cluster.
pub const SLOTS: u16 = 16384;

/// The cluster node timeout, ms.
pub const NODE_TIMEOUT_MS: u64 = 2000;

/// One `redis-server` of the cluster.
struct Server {
    port: u16,
    child: Option<Child>,
}

/// A node as one cluster member sees it (a line of `CLUSTER NODES`).
#[derive(Debug, Clone)]
pub struct NodeView {
    /// Its id.
    pub id: String,
    /// Its client port.
    pub port: u16,
    /// Its flags (`myself`, `master`, `slave`, `fail`, `fail?`, ...).
    pub flags: Vec<String>,
    /// The id of its master, for a replica.
    pub master: Option<String>,
    /// Whether the link to it is connected.
    pub connected: bool,
    /// The slot ranges it serves (inclusive), for a master.
    pub slots: Vec<(u16, u16)>,
}

impl NodeView {
    /// A master not flagged as failing.
    pub fn is_live_master(&self) -> bool {
        self.has("master") && !self.has("fail") && !self.has("fail?")
    }

    /// Whether it carries `flag`.
    pub fn has(&self, flag: &str) -> bool {
        self.flags.iter().any(|f| f == flag)
    }

    /// Whether it serves `slot`.
    pub fn serves(&self, slot: u16) -> bool {
        self.slots.iter().any(|&(a, b)| a <= slot && slot <= b)
    }
}

/// A running Redis Cluster of three masters and three replicas.
pub struct RedisCluster {
    dir: PathBuf,
    servers: Vec<Server>,
    /// The client ports of the three masters at creation (the seeds of [`Self::url`]).
    seeds: Vec<u16>,
}

/// A free port on 127.0.0.1 (the system's pick, released at once).
fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// A fresh, unique directory under the system's temporary directory.
fn temp_dir() -> PathBuf {
    use std::sync::atomic::{AtomicU32, Ordering};
    static NEXT: AtomicU32 = AtomicU32::new(0);
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.subsec_nanos())
        .unwrap_or(0);
    let dir = std::env::temp_dir().join(format!(
        "tandem-redis-cluster-{}-{}-{nanos}",
        std::process::id(),
        NEXT.fetch_add(1, Ordering::Relaxed)
    ));
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// Runs `redis-cli -h 127.0.0.1 -p port args…` and returns its stdout, or `None` if it
/// could not run, failed, or the server answered an error.
pub async fn cli(port: u16, args: &[&str]) -> Option<String> {
    let run = Command::new("redis-cli")
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
    // redis-cli exits 0 on an error reply when not on a terminal: it prints `ERR …` (or
    // `(error) …`), `CLUSTERDOWN …`, `MOVED …`, `LOADING …`.
    let error = [
        "ERR",
        "(error)",
        "CLUSTERDOWN",
        "MOVED",
        "LOADING",
        "Could not connect",
    ]
    .iter()
    .any(|e| text.starts_with(e));
    (out.status.success() && !error).then_some(text)
}

/// The hash slot of `key` (CRC16/XMODEM of the key, or of its hash tag: what lies between
/// the first `{` and the next `}`, when not empty), as `CLUSTER KEYSLOT` computes it.
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
    crc % SLOTS
}

/// The key of `room` under `prefix` (its hash tag is the room): `prefix:{room}`, also the
/// name of the room's sharded channel.
pub fn room_key(prefix: &str, room: &str) -> String {
    format!("{prefix}:{{{room}}}")
}

/// Parses `CLUSTER NODES`.
pub fn parse_nodes(text: &str) -> Vec<NodeView> {
    text.lines()
        .filter_map(|line| {
            let fields: Vec<&str> = line.split_whitespace().collect();
            if fields.len() < 8 {
                return None;
            }
            // `ip:port@cport[,hostname]`
            let port = fields[1]
                .split('@')
                .next()?
                .rsplit(':')
                .next()?
                .parse()
                .ok()?;
            let slots = fields[8..]
                .iter()
                // `[slot->-id]` / `[slot-<-id]`: a slot being moved.
                .filter(|s| !s.starts_with('['))
                .filter_map(|s| match s.split_once('-') {
                    Some((a, b)) => Some((a.parse().ok()?, b.parse().ok()?)),
                    None => s.parse().ok().map(|a| (a, a)),
                })
                .collect();
            Some(NodeView {
                id: fields[0].to_owned(),
                port,
                flags: fields[2].split(',').map(str::to_owned).collect(),
                master: (fields[3] != "-").then(|| fields[3].to_owned()),
                connected: fields[7] == "connected",
                slots,
            })
        })
        .collect()
}

/// `field:value` lines (`CLUSTER INFO`, `INFO`) as a map.
fn fields(text: &str) -> HashMap<String, String> {
    text.lines()
        .filter_map(|l| l.trim_end().split_once(':'))
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .collect()
}

impl RedisCluster {
    /// Starts six `redis-server`s in cluster mode, creates the cluster (three masters,
    /// one replica each) and waits until every node reports `cluster_state:ok` with all
    /// 16384 slots served, and every replica is in sync with its master.
    pub async fn start() -> Self {
        let dir = temp_dir();
        let mut cluster = RedisCluster {
            dir,
            servers: Vec::new(),
            seeds: Vec::new(),
        };
        for _ in 0..6 {
            let server = cluster.spawn(free_port(), free_port());
            cluster.servers.push(server);
        }
        let ports = cluster.ports();
        within("six redis-servers to answer PING", async {
            for &port in &ports {
                while cli(port, &["PING"]).await.as_deref().map(str::trim) != Some("PONG") {
                    tokio::time::sleep(Duration::from_millis(20)).await;
                }
            }
        })
        .await;
        let mut create = Command::new("redis-cli");
        create.arg("--cluster").arg("create");
        for port in &ports {
            create.arg(format!("127.0.0.1:{port}"));
        }
        let out = within(
            "redis-cli --cluster create",
            create
                .args(["--cluster-replicas", "1", "--cluster-yes"])
                .stdin(Stdio::null())
                .kill_on_drop(true)
                .output(),
        )
        .await
        .expect("redis-cli is installed (it comes with redis-server: Debian's redis-tools)");
        assert!(
            out.status.success(),
            "redis-cli --cluster create failed: {}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        cluster.wait_settled("the new cluster to be ok").await;
        cluster.seeds = cluster
            .view()
            .await
            .iter()
            .filter(|n| n.is_live_master() && !n.slots.is_empty())
            .map(|n| n.port)
            .collect();
        cluster.seeds.sort_unstable();
        assert_eq!(cluster.seeds.len(), 3, "three masters");
        cluster
    }

    fn spawn(&self, port: u16, bus: u16) -> Server {
        let conf = self.dir.join(format!("nodes-{port}.conf"));
        let child = Command::new("redis-server")
            .args(["--port", &port.to_string(), "--bind", "127.0.0.1"])
            .args(["--cluster-enabled", "yes"])
            .args(["--cluster-port", &bus.to_string()])
            .arg("--cluster-config-file")
            .arg(&conf)
            .args(["--cluster-node-timeout", &NODE_TIMEOUT_MS.to_string()])
            .args(["--cluster-replica-validity-factor", "0"])
            .args(["--cluster-require-full-coverage", "no"])
            .args(["--repl-diskless-sync-delay", "0"])
            .args(["--save", "", "--appendonly", "no", "--loglevel", "warning"])
            .arg("--dir")
            .arg(&self.dir)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .kill_on_drop(true)
            .spawn()
            .expect("redis-server is installed (cargo xtask test installs it)");
        Server {
            port,
            child: Some(child),
        }
    }

    /// Client ports of every server started (dead or alive).
    pub fn ports(&self) -> Vec<u16> {
        self.servers.iter().map(|s| s.port).collect()
    }

    /// Client ports of the servers still running.
    pub fn live_ports(&self) -> Vec<u16> {
        self.servers
            .iter()
            .filter(|s| s.child.is_some())
            .map(|s| s.port)
            .collect()
    }

    /// The `--redis` URL of `tandem serve`: the masters at creation as seeds,
    /// `redis+cluster://127.0.0.1:p1,127.0.0.1:p2,127.0.0.1:p3`.
    pub fn url(&self) -> String {
        let seeds: Vec<String> = self
            .seeds
            .iter()
            .map(|p| format!("127.0.0.1:{p}"))
            .collect();
        format!("redis+cluster://{}", seeds.join(","))
    }

    /// `CLUSTER NODES` as the first live server that answers sees it.
    pub async fn view(&self) -> Vec<NodeView> {
        for port in self.live_ports() {
            if let Some(text) = cli(port, &["CLUSTER", "NODES"]).await {
                return parse_nodes(&text);
            }
        }
        panic!("no live redis-server answered CLUSTER NODES");
    }

    /// The client ports of the masters serving slots now.
    pub async fn masters(&self) -> Vec<u16> {
        let mut masters: Vec<u16> = self
            .view()
            .await
            .iter()
            .filter(|n| n.is_live_master() && !n.slots.is_empty())
            .map(|n| n.port)
            .collect();
        masters.sort_unstable();
        masters
    }

    /// The client port of the master serving `slot` now.
    pub async fn master_of_slot(&self, slot: u16) -> u16 {
        self.view()
            .await
            .iter()
            .find(|n| n.is_live_master() && n.serves(slot))
            .map(|n| n.port)
            .unwrap_or_else(|| panic!("no live master serves slot {slot}"))
    }

    /// The client port of the master serving `room`'s keys and channel (under
    /// [`PREFIX`]).
    pub async fn master_of(&self, room: &str) -> u16 {
        self.master_of_slot(key_slot(&room_key(PREFIX, room))).await
    }

    /// `n` room names whose slots are spread over the masters (under `prefix`): room `i`
    /// on the `i % 3`-th master, in port order.
    pub async fn rooms_on_distinct_masters(&self, prefix: &str, n: usize) -> Vec<String> {
        let view = self.view().await;
        let mut masters: Vec<&NodeView> = view
            .iter()
            .filter(|v| v.is_live_master() && !v.slots.is_empty())
            .collect();
        masters.sort_by_key(|m| m.port);
        assert!(!masters.is_empty(), "the cluster has masters");
        (0..n)
            .map(|i| {
                let master = masters[i % masters.len()];
                (0..10_000)
                    .map(|k| format!("room{i}-{k}"))
                    .find(|room| master.serves(key_slot(&room_key(prefix, room))))
                    .expect("a room name on every master within 10,000 tries")
            })
            .collect()
    }

    /// SIGKILLs the master serving `room` (under [`PREFIX`]); returns its port.
    pub async fn kill_master_of(&mut self, room: &str) -> u16 {
        let port = self.master_of(room).await;
        self.kill(port).await;
        port
    }

    /// SIGKILLs the server on `port` (it stays down).
    pub async fn kill(&mut self, port: u16) {
        let server = self
            .servers
            .iter_mut()
            .find(|s| s.port == port)
            .unwrap_or_else(|| panic!("no redis-server on port {port}"));
        if let Some(mut child) = server.child.take() {
            child.kill().await.unwrap();
        }
    }

    /// Waits (bounded) until a replica of every killed master has been promoted and every
    /// live server agrees: `cluster_state:ok`, every slot served by a live master.
    pub async fn wait_failover(&self) {
        self.wait_settled("the failover (a replica promoted, every slot served)")
            .await;
    }

    /// Whether every live server reports `cluster_state:ok`, knows all six nodes, and sees
    /// all 16384 slots served by running masters (the same ones on every server); and
    /// every running server that serves no slot is a replica in sync with its master.
    async fn settled(&self) -> bool {
        let live = self.live_ports();
        let mut owners_seen: Option<Vec<u16>> = None;
        for &port in &live {
            let Some(info) = cli(port, &["CLUSTER", "INFO"]).await else {
                return false;
            };
            let info = fields(&info);
            if info.get("cluster_state").map(String::as_str) != Some("ok")
                || info.get("cluster_known_nodes") != Some(&self.servers.len().to_string())
            {
                return false;
            }
            let Some(nodes) = cli(port, &["CLUSTER", "NODES"]).await else {
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
                .map(|&(a, b)| u32::from(b - a) + 1)
                .sum();
            if served != u32::from(SLOTS) || owners.iter().any(|n| !live.contains(&n.port)) {
                return false;
            }
            let mut ports: Vec<u16> = owners.iter().map(|n| n.port).collect();
            ports.sort_unstable();
            if owners_seen.get_or_insert_with(|| ports.clone()) != &ports {
                return false;
            }
            // Every running server it knows serves slots or replicates a master.
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
                if !me.has("slave") {
                    return false;
                }
                let Some(repl) = cli(port, &["INFO", "replication"]).await else {
                    return false;
                };
                if fields(&repl).get("master_link_status").map(String::as_str) != Some("up") {
                    return false;
                }
            }
        }
        true
    }

    async fn wait_settled(&self, what: &str) {
        within(what, async {
            while !self.settled().await {
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
        })
        .await;
    }

    /// How many connections are subscribed to `room`'s sharded channel (`PUBSUB
    /// SHARDNUMSUB prefix:{room}` on the room's master).
    pub async fn shard_subscribers(&self, room: &str) -> u64 {
        let channel = room_key(PREFIX, room);
        let master = self.master_of(room).await;
        let out = cli(master, &["PUBSUB", "SHARDNUMSUB", &channel])
            .await
            .expect("PUBSUB SHARDNUMSUB answers");
        out.lines()
            .nth(1)
            .and_then(|n| n.trim().parse().ok())
            .unwrap_or_else(|| panic!("unexpected SHARDNUMSUB answer {out:?}"))
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

/// Starts a `tandem serve` node on this cluster with `extra` flags and waits until it is
/// joined (`/healthz` ok).
pub async fn node(cluster: &RedisCluster, extra: &[&str]) -> TandemProcess {
    let url = cluster.url();
    let mut args = vec!["--redis", url.as_str()];
    args.extend_from_slice(extra);
    let node = TandemProcess::start(&args).await;
    node.wait_healthy(true).await;
    node
}
