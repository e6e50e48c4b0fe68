//! `cargo xtask bench`: tandem against a bare tokio-tungstenite server, Node `ws` and
//! Socket.IO on this machine in one run, driven by one load generator (`tandem-bench`),
//! reported as a markdown table of medians with tandem's ratios, written to BENCHMARKS.md.
//!
//! Every measurement starts a fresh server process, so one figure's connections and peak
//! memory never leak into the next. Runs are interleaved (run 1 of every figure and server,
//! then run 2, …) so a slow moment of this shared machine does not land on one server only.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;

use crate::bench_redis::{self, Cluster};
use crate::bench_report::{self, Browser, Envelope, Figures};
use crate::process::{Result, Shell, announce};
use crate::services::Service;
use crate::tools::CHROME_ARGS;
use crate::tools::{self, CHROMIUM};
use crate::{json, package, web, workspace};

/// Options of `cargo xtask bench`.
pub struct Options {
    /// The one-minute smoke run: small counts, one run, nothing written to BENCHMARKS.md.
    pub quick: bool,
    /// Install missing tools first.
    pub install: bool,
    /// Build the npm package (and install the web app's npm dependencies, where
    /// playwright-core comes from) first; `cargo xtask test` has just done both.
    pub build_package: bool,
}

/// How much each figure does.
pub struct Plan {
    /// Runs of each figure; the table shows medians.
    pub runs: usize,
    /// Fan-out subscribers.
    pub subscribers: usize,
    /// Fan-out seconds measured (after 1 s of warm-up).
    pub fanout_seconds: f64,
    /// Echo connections.
    pub echo_connections: usize,
    /// Echo requests per second offered, over all connections.
    pub echo_rate: u32,
    /// Echo seconds of sending.
    pub echo_seconds: f64,
    /// Idle connections.
    pub idle: usize,
    /// Connect-storm clients.
    pub storm: usize,
    /// Messages streamed to the browser per run.
    pub browser_count: u64,
    /// Rooms of the bus-bytes figure, spread over three nodes.
    pub bus_rooms: usize,
    /// Messages published into every room of the bus-bytes figure.
    pub bus_messages: u64,
    /// Browser runs per page.
    pub browser_runs: usize,
    /// criterion's warm-up and measurement seconds.
    pub criterion_seconds: (u32, u32),
}

impl Plan {
    /// The full benchmark (about ten minutes on two cores, builds excluded).
    fn full() -> Self {
        Plan {
            runs: 3,
            subscribers: 1000,
            fanout_seconds: 5.0,
            echo_connections: 50,
            echo_rate: 5000,
            echo_seconds: 5.0,
            idle: 10_000,
            storm: 5000,
            bus_rooms: 300,
            bus_messages: 100,
            browser_count: 50_000,
            browser_runs: 3,
            criterion_seconds: (1, 3),
        }
    }

    /// The smoke run: every figure once, small.
    fn quick() -> Self {
        Plan {
            runs: 1,
            subscribers: 100,
            fanout_seconds: 1.0,
            echo_connections: 10,
            echo_rate: 1000,
            echo_seconds: 1.0,
            idle: 1000,
            storm: 500,
            bus_rooms: 300,
            bus_messages: 20,
            browser_count: 5000,
            browser_runs: 1,
            criterion_seconds: (1, 1),
        }
    }
}

/// A server under test.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Peer {
    /// `tandem serve` (release).
    Tandem,
    /// `tandem-bench bare-server` (release).
    Bare,
    /// bench/node/ws_server.mjs.
    Ws,
    /// bench/node/socketio_server.mjs.
    Socketio,
}

/// Every server, in table order.
pub const PEERS: [Peer; 4] = [Peer::Tandem, Peer::Bare, Peer::Ws, Peer::Socketio];

impl Peer {
    /// The load generator's `--target`.
    fn target(self) -> &'static str {
        match self {
            Peer::Tandem => "tandem",
            Peer::Bare => "bare",
            Peer::Ws => "ws",
            Peer::Socketio => "socketio",
        }
    }

    /// The column heading.
    pub fn label(self) -> &'static str {
        match self {
            Peer::Tandem => "tandem",
            Peer::Bare => "bare tokio-tungstenite",
            Peer::Ws => "Node ws",
            Peer::Socketio => "Socket.IO",
        }
    }

    /// Starts a fresh server on a free loopback port, with the open-files limit raised.
    fn start(self, bins: &Bins, root: &Path) -> Result<Service> {
        self.start_with(bins, root, &[])
    }

    /// [`Peer::start`] with `extra` arguments for the server.
    fn start_with(self, bins: &Bins, root: &Path, extra: &[&str]) -> Result<Service> {
        let (program, mut args): (PathBuf, Vec<&str>) = match self {
            Peer::Tandem => (
                bins.tandem.clone(),
                vec![
                    "serve",
                    "--addr",
                    "127.0.0.1:0",
                    "--echo-requests",
                    // The load generator publishes and requests far above the default
                    // per-connection rate limit; the other servers have none.
                    "--rate",
                    "10000000",
                    "--burst",
                    "10000000",
                    // Idle connections do not ping during the measurement.
                    "--heartbeat-interval",
                    "10m",
                    "--log",
                    "warn",
                ],
            ),
            Peer::Bare => (
                bins.load.clone(),
                vec!["bare-server", "--addr", "127.0.0.1:0"],
            ),
            Peer::Ws => (
                PathBuf::from("node"),
                vec!["bench/node/ws_server.mjs", "--addr", "127.0.0.1:0"],
            ),
            Peer::Socketio => (
                PathBuf::from("node"),
                vec!["bench/node/socketio_server.mjs", "--addr", "127.0.0.1:0"],
            ),
        };
        args.extend_from_slice(extra);
        let mut command = with_open_files_raised(&program, &args);
        command.current_dir(root);
        let prefix = match self {
            Peer::Tandem => "tandem listening on ",
            _ => "listening on ",
        };
        let mut service = Service::start(self.label(), command, prefix)?;
        service.url = service.url.replacen("http://", "ws://", 1);
        Ok(service)
    }
}

/// The `sh -c` script that raises the open-files limit to the hard limit, then runs
/// `$0 "$@"`: 10,000 connections need more than the usual soft limit of 1,024. Both the
/// servers and the load generator run under it.
const RAISE_OPEN_FILES: &str = r#"ulimit -n "$(ulimit -Hn)" 2>/dev/null || true; exec "$0" "$@""#;

/// `program args…` under [`RAISE_OPEN_FILES`].
fn with_open_files_raised(program: &Path, args: &[&str]) -> Command {
    let mut command = Command::new("sh");
    command
        .args(["-c", RAISE_OPEN_FILES])
        .arg(program)
        .args(args);
    command
}

/// The release binaries.
struct Bins {
    tandem: PathBuf,
    load: PathBuf,
}

/// Runs the benchmark and prints (and, unless quick, writes) the report.
pub fn run(options: &Options) -> Result<()> {
    let root = workspace::root()?;
    let shell = Shell::new(root.clone());
    if options.install {
        tools::ensure_bench(&shell)?;
    }
    let plan = if options.quick {
        Plan::quick()
    } else {
        Plan::full()
    };
    shell
        .cmd("cargo")
        .args([
            "build",
            "--release",
            "-p",
            "tandem-cli",
            "-p",
            "tandem-bench",
            // `--bin` filters every selected package: name both binaries.
            "--bin",
            "tandem",
            "--bin",
            "tandem-bench",
        ])
        .run("build (release)")?;
    let bins = Bins {
        tandem: root.join("target/release/tandem"),
        load: root.join("target/release/tandem-bench"),
    };

    // The npm package: measured, and loaded by the browser figure.
    if options.build_package {
        package::build(&shell)?;
        web::install(&shell)?;
    }
    let package = package::sizes(&shell);

    let mut figures = Figures::default();
    for run in 1..=plan.runs {
        announce(&format!("run {run} of {}", plan.runs));
        for peer in PEERS {
            fanout(&shell, &bins, &plan, peer, &mut figures)?;
            if peer == Peer::Tandem {
                fanout_ephemeral(&shell, &bins, &plan, &mut figures)?;
            }
        }
        fanout_two_nodes(&shell, &bins, &plan, &mut figures)?;
        fanout_cluster(&shell, &bins, &plan, &mut figures)?;
        bus_bytes(&shell, &bins, &plan, &mut figures)?;
        for peer in PEERS {
            echo(&shell, &bins, &plan, peer, &mut figures)?;
        }
        for peer in PEERS {
            idle(&shell, &bins, &plan, peer, &mut figures)?;
        }
        idle_mounted(&shell, &bins, &plan, &mut figures)?;
        for peer in PEERS {
            storm(&shell, &bins, &plan, peer, &mut figures)?;
        }
        storm_one_room(&shell, &bins, &plan, &mut figures)?;
    }
    let browser = browser(&shell, &bins, &plan)?;
    let envelope = envelope(&shell, &bins, &plan)?;

    let report = bench_report::render(
        &bench_report::Machine::describe(&shell),
        &plan,
        &figures,
        &browser,
        &envelope,
        &package,
    );
    println!("\n{report}");
    let file = if options.quick {
        root.join("target/xtask/bench-quick.md")
    } else {
        root.join("BENCHMARKS.md")
    };
    if let Some(dir) = file.parent() {
        std::fs::create_dir_all(dir).map_err(|e| format!("creating {}: {e}", dir.display()))?;
    }
    std::fs::write(&file, report).map_err(|e| format!("writing {}: {e}", file.display()))?;
    announce(&format!("wrote {}", file.display()));
    Ok(())
}

/// Starts a fresh `peer`, runs `tandem-bench <figure> --target --url [--pid] extra…`, and
/// stores each of `keys` from its result line in `figures` under `<figure>.<key>`.
fn measure(
    shell: &Shell,
    bins: &Bins,
    peer: Peer,
    figure: &str,
    extra: &[String],
    keys: &[&str],
    figures: &mut Figures,
) -> Result<()> {
    let server = peer.start(bins, shell.root())?;
    let pid = server.pid().to_string();
    let mut args = vec![
        figure.to_owned(),
        "--target".to_owned(),
        peer.target().to_owned(),
        "--url".to_owned(),
        server.url.clone(),
    ];
    if matches!(figure, "idle" | "storm" | "fanout") {
        args.extend(["--pid".to_owned(), pid]);
    }
    args.extend(extra.iter().cloned());
    let label = format!("{figure} ({})", peer.label());
    let line = run_load(shell, bins, figure, &label, &args);
    drop(server);
    record(figures, figure, peer, &label, &line?, keys)
}

/// Runs the load generator with `args` (raising the open-files limit) and returns its
/// result line for `figure`.
fn run_load(
    shell: &Shell,
    bins: &Bins,
    figure: &str,
    label: &str,
    args: &[String],
) -> Result<String> {
    let load = bins.load.to_string_lossy().into_owned();
    let mut result = None;
    shell
        .cmd("sh")
        .args(["-c", RAISE_OPEN_FILES])
        .arg(load)
        .args(args)
        .run_tee(label, |line| {
            if json::string(line, "figure") == Some(figure) {
                result = Some(line.to_owned());
            }
        })?;
    result.ok_or_else(|| format!("{label}: no result line"))
}

/// Stores each of `keys` from a result `line` in `figures` under `<prefix>.<key>` for
/// `peer`, and notes clients that never joined and requests left unanswered.
fn record(
    figures: &mut Figures,
    prefix: &str,
    peer: Peer,
    label: &str,
    line: &str,
    keys: &[&str],
) -> Result<()> {
    for key in keys {
        let value =
            json::number(line, key).ok_or_else(|| format!("{label}: no `{key}` in {line}"))?;
        figures.add(&format!("{prefix}.{key}"), peer, value);
    }
    if let Some(failed) = json::number(line, "failed").filter(|f| *f > 0.0) {
        figures.note(format!(
            "{label}: {failed} clients never joined ({})",
            json::string(line, "first_error").unwrap_or("no error text")
        ));
    }
    if let Some(lost) = json::number(line, "lost").filter(|l| *l > 0.0) {
        figures.note(format!("{label}: {lost} requests unanswered"));
    }
    if let Some(undelivered) = json::number(line, "undelivered").filter(|u| *u > 0.0) {
        let what = if json::string(line, "mode") == Some("ephemeral") {
            "ephemeral deliveries shed"
        } else {
            "deliveries missing"
        };
        figures.note(format!(
            "{label}: {undelivered} {what} (messages sent × subscribers − deliveries received)"
        ));
    }
    Ok(())
}

fn fanout(
    shell: &Shell,
    bins: &Bins,
    plan: &Plan,
    peer: Peer,
    figures: &mut Figures,
) -> Result<()> {
    measure(
        shell,
        bins,
        peer,
        "fanout",
        &fanout_args(plan),
        &FANOUT_KEYS,
        figures,
    )
}

/// What the fan-out figures keep from a result line.
const FANOUT_KEYS: [&str; 3] = ["deliveries_per_s", "p99_us", "server_cpu_ns_per_delivery"];

/// What the fan-out figures over Redis keep: figure 1's, and Redis's CPU per message.
const FANOUT_REDIS_KEYS: [&str; 4] = [
    "deliveries_per_s",
    "p99_us",
    "server_cpu_ns_per_delivery",
    "broker_cpu_us_per_message",
];

/// The fan-out's size and length, for one node or two.
fn fanout_args(plan: &Plan) -> [String; 4] {
    [
        "--subscribers".to_owned(),
        plan.subscribers.to_string(),
        "--seconds".to_owned(),
        plan.fanout_seconds.to_string(),
    ]
}

/// What figure 1c keeps: figure 1's, and the deliveries shed.
const FANOUT_EPHEMERAL_KEYS: [&str; 3] = ["deliveries_per_s", "p99_us", "undelivered"];

/// Figure 1c: figure 1 against tandem with ephemeral messages (no seq, not stored, no ack;
/// shed for a reader that is behind), right after figure 1's tandem run. The other servers
/// have no such mode.
fn fanout_ephemeral(shell: &Shell, bins: &Bins, plan: &Plan, figures: &mut Figures) -> Result<()> {
    let server = Peer::Tandem.start(bins, shell.root())?;
    let mut args: Vec<String> = ["fanout", "--target", "tandem", "--url", &server.url]
        .into_iter()
        .map(str::to_owned)
        .collect();
    args.extend(fanout_args(plan));
    args.push("--ephemeral".to_owned());
    let label = "fanout (tandem, ephemeral)";
    let line = run_load(shell, bins, "fanout", label, &args);
    drop(server);
    record(
        figures,
        "fanout_eph",
        Peer::Tandem,
        label,
        &line?,
        &FANOUT_EPHEMERAL_KEYS,
    )
}

/// Figure 1b: the fan-out over two tandem nodes joined by a fresh `redis-server`: the
/// publisher on node 1, half the subscribers on each node.
fn fanout_two_nodes(shell: &Shell, bins: &Bins, plan: &Plan, figures: &mut Figures) -> Result<()> {
    let redis = bench_redis::single()?;
    let label = "fanout (tandem, two nodes over Redis)";
    fanout_nodes(
        shell,
        bins,
        plan,
        &redis.url,
        2,
        &[redis.pid()],
        label,
        "fanout2",
        figures,
    )
}

/// Figure 1d: the fan-out over three tandem nodes of a Redis Cluster of three masters (no
/// replicas): the publisher on node 1, a third of the subscribers on each node. The room's
/// keys and channel live on one master; the figure shows the work per node and per
/// message, not a speed-up (every process shares this machine's cores).
fn fanout_cluster(shell: &Shell, bins: &Bins, plan: &Plan, figures: &mut Figures) -> Result<()> {
    let cluster = Cluster::start(shell, 3)?;
    let label = "fanout (tandem, three nodes over a Redis Cluster)";
    let result = fanout_nodes(
        shell,
        bins,
        plan,
        &cluster.url(),
        3,
        &cluster.pids(),
        label,
        "fanout3",
        figures,
    );
    drop(cluster);
    result
}

/// The fan-out over `count` fresh tandem nodes with `--redis redis_url`, the subscribers
/// split evenly, the CPU time of the nodes and of `redis_pids` measured; stored under
/// `prefix`.
#[allow(clippy::too_many_arguments)]
fn fanout_nodes(
    shell: &Shell,
    bins: &Bins,
    plan: &Plan,
    redis_url: &str,
    count: usize,
    redis_pids: &[u32],
    label: &str,
    prefix: &str,
    figures: &mut Figures,
) -> Result<()> {
    let flags = ["--redis", redis_url];
    let nodes = (0..count)
        .map(|_| Peer::Tandem.start_with(bins, shell.root(), &flags))
        .collect::<Result<Vec<_>>>()?;
    // A node serves once it has reached Redis.
    for node in &nodes {
        wait_healthy(&node.url)?;
    }
    let mut args: Vec<String> = ["fanout", "--target", "tandem", "--url", &nodes[0].url]
        .into_iter()
        .map(str::to_owned)
        .collect();
    for node in &nodes[1..] {
        args.extend(["--also-url".to_owned(), node.url.clone()]);
    }
    for node in &nodes {
        args.extend(["--pid".to_owned(), node.pid().to_string()]);
    }
    for pid in redis_pids {
        args.extend(["--broker-pid".to_owned(), pid.to_string()]);
    }
    args.extend(fanout_args(plan));
    let line = run_load(shell, bins, "fanout", label, &args);
    drop(nodes);
    record(
        figures,
        prefix,
        Peer::Tandem,
        label,
        &line?,
        &FANOUT_REDIS_KEYS,
    )
}

/// What figure 8 keeps from a result line.
const BUS_KEYS: [&str; 10] = [
    "home_mean_bytes",
    "home_min_bytes",
    "home_max_bytes",
    "all_bytes",
    "ratio",
    "bytes_per_message",
    "to_redis_bytes_per_publish",
    "redis_cpu_us_per_message",
    "home_cpu_us_per_message",
    "all_cpu_us_per_message",
];

/// Figure 8: bus bytes per node. Three nodes on one `redis-server` each host the members
/// of a third of the rooms, a fourth node has a member in every room (what every node
/// receives when all rooms share one bus), and each node reaches Redis through its own
/// listener of `tandem-bench bus-proxy`, which counts the bytes Redis sends it.
fn bus_bytes(shell: &Shell, bins: &Bins, plan: &Plan, figures: &mut Figures) -> Result<()> {
    let redis = bench_redis::single()?;
    let upstream = redis.url.trim_start_matches("redis://").to_owned();
    let command = with_open_files_raised(
        &bins.load,
        &["bus-proxy", "--upstream", &upstream, "--listeners", "4"],
    );
    let proxy = Service::start("bus proxy", command, "listening on ")?;
    let mut addrs = proxy.url.split_whitespace();
    let control = addrs
        .next()
        .ok_or("the bus proxy printed no control address")?
        .to_owned();
    let nodes = addrs
        .map(|addr| {
            let url = format!("redis://{addr}");
            Peer::Tandem.start_with(bins, shell.root(), &["--redis", &url])
        })
        .collect::<Result<Vec<_>>>()?;
    if nodes.len() != 4 {
        return Err(format!(
            "the bus proxy opened {} listeners, not 4",
            nodes.len()
        ));
    }
    for node in &nodes {
        wait_healthy(&node.url)?;
    }
    let mut args = vec!["bus".to_owned()];
    for node in &nodes[..3] {
        args.extend(["--url".to_owned(), node.url.clone()]);
    }
    args.extend([
        "--all-url".to_owned(),
        nodes[3].url.clone(),
        "--proxy".to_owned(),
        control,
        "--rooms".to_owned(),
        plan.bus_rooms.to_string(),
        "--messages".to_owned(),
        plan.bus_messages.to_string(),
        "--redis-pid".to_owned(),
        redis.pid().to_string(),
    ]);
    for node in &nodes {
        args.extend(["--node-pid".to_owned(), node.pid().to_string()]);
    }
    let label = "bus bytes per node (tandem, four nodes over Redis)";
    let line = run_load(shell, bins, "bus", label, &args);
    drop((nodes, proxy, redis));
    record(figures, "bus", Peer::Tandem, label, &line?, &BUS_KEYS)
}

/// Waits (at most 10 s) until the node at `url` answers `/healthz` with 200.
fn wait_healthy(url: &str) -> Result<()> {
    use std::io::{Read, Write};
    let addr = url.trim_start_matches("ws://").trim_end_matches('/');
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    while std::time::Instant::now() < deadline {
        if let Ok(mut s) = std::net::TcpStream::connect(addr) {
            let ask = format!("GET /healthz HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n");
            let mut answer = String::new();
            if s.write_all(ask.as_bytes()).is_ok()
                && s.read_to_string(&mut answer).is_ok()
                && answer.starts_with("HTTP/1.1 200")
            {
                return Ok(());
            }
        }
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    Err(format!("the node at {url} did not become healthy in 10 s"))
}

fn echo(shell: &Shell, bins: &Bins, plan: &Plan, peer: Peer, figures: &mut Figures) -> Result<()> {
    let extra = [
        "--connections".to_owned(),
        plan.echo_connections.to_string(),
        "--rate".to_owned(),
        plan.echo_rate.to_string(),
        "--seconds".to_owned(),
        plan.echo_seconds.to_string(),
    ];
    let keys = ["p50_us", "p99_us", "p999_us"];
    measure(shell, bins, peer, "echo", &extra, &keys, figures)
}

fn idle(shell: &Shell, bins: &Bins, plan: &Plan, peer: Peer, figures: &mut Figures) -> Result<()> {
    let extra = ["--connections".to_owned(), plan.idle.to_string()];
    let keys = ["bytes_per_connection"];
    measure(shell, bins, peer, "idle", &extra, &keys, figures)
}

/// Figure 3b: figure 3 against tandem mounted in an axum app (`tandem-bench axum-server`):
/// what hyper's HTTP server and upgrade cost per connection beside tandem's own listener.
fn idle_mounted(shell: &Shell, bins: &Bins, plan: &Plan, figures: &mut Figures) -> Result<()> {
    let mut command = with_open_files_raised(&bins.load, &["axum-server", "--addr", "127.0.0.1:0"]);
    command.current_dir(shell.root());
    let server = Service::start("tandem in axum", command, "listening on ")?;
    let args: Vec<String> = [
        "idle",
        "--target",
        "tandem",
        "--url",
        &server.url,
        "--pid",
        &server.pid().to_string(),
        "--connections",
        &plan.idle.to_string(),
    ]
    .into_iter()
    .map(str::to_owned)
    .collect();
    let label = "idle (tandem mounted in axum)";
    let line = run_load(shell, bins, "idle", label, &args);
    drop(server);
    record(
        figures,
        "idle_mounted",
        Peer::Tandem,
        label,
        &line?,
        &["bytes_per_connection"],
    )
}

fn storm(shell: &Shell, bins: &Bins, plan: &Plan, peer: Peer, figures: &mut Figures) -> Result<()> {
    let extra = ["--connections".to_owned(), plan.storm.to_string()];
    let keys = ["all_joined_ms", "peak_rss_kib"];
    measure(shell, bins, peer, "storm", &extra, &keys, figures)
}

/// Figure 4b: the connect storm with every client in one room, so each arrival is presence
/// news to everyone already there (tandem only: the bare and ws servers have no rooms).
fn storm_one_room(shell: &Shell, bins: &Bins, plan: &Plan, figures: &mut Figures) -> Result<()> {
    let server = Peer::Tandem.start(bins, shell.root())?;
    let args: Vec<String> = [
        "storm",
        "--target",
        "tandem",
        "--url",
        &server.url,
        "--pid",
        &server.pid().to_string(),
        "--connections",
        &plan.storm.to_string(),
        "--rooms",
        "1",
    ]
    .into_iter()
    .map(str::to_owned)
    .collect();
    let label = "storm into one room (tandem)";
    let line = run_load(shell, bins, "storm", label, &args);
    drop(server);
    record(
        figures,
        "storm1",
        Peer::Tandem,
        label,
        &line?,
        &["all_joined_ms"],
    )
}

/// Figure 5: bench/browser/run.mjs drives Chromium through the npm package and through a
/// plain WebSocket page, both fed by `tandem-bench stream` via a release `tandem serve`.
fn browser(shell: &Shell, bins: &Bins, plan: &Plan) -> Result<Browser> {
    let publisher = format!(
        "[\"{}\",\"stream\"]",
        bins.load
            .to_string_lossy()
            .replace('\\', "\\\\")
            .replace('"', "\\\"")
    );
    let mut runs: BTreeMap<String, Vec<f64>> = BTreeMap::new();
    shell
        .cmd("node")
        .arg("bench/browser/run.mjs")
        .env("TANDEM_BIN", bins.tandem.to_string_lossy())
        .env("PKG_DIR", shell.root().join(package::DIR).to_string_lossy())
        .env(
            "PLAYWRIGHT_FROM",
            shell.root().join(web::DIR).to_string_lossy(),
        )
        .env("PUBLISHER", publisher)
        .env("COUNT", plan.browser_count.to_string())
        .env("RUNS", plan.browser_runs.to_string())
        .env("CHROMIUM", CHROMIUM)
        .env("CHROMIUM_ARGS", CHROME_ARGS.join(" "))
        .run_tee("browser (Chromium)", |line| {
            if json::string(line, "figure") == Some("browser")
                && let (Some(mode), Some(rate)) = (
                    json::string(line, "mode"),
                    json::number(line, "messages_per_s"),
                )
            {
                runs.entry(mode.to_owned()).or_default().push(rate);
            }
        })?;
    let median_of = |mode: &str| {
        runs.get(mode)
            .map(|v| bench_report::median(v))
            .ok_or_else(|| format!("the browser benchmark printed no `{mode}` result"))
    };
    Ok(Browser {
        sdk: median_of("sdk")?,
        plain: median_of("plain")?,
    })
}

/// Figure 7: the criterion benchmark of the envelope, then its medians.
fn envelope(shell: &Shell, bins: &Bins, plan: &Plan) -> Result<Envelope> {
    let (warm_up, measure) = plan.criterion_seconds;
    shell
        .cmd("cargo")
        .args(["bench", "-p", "tandem-bench", "--bench", "envelope", "--"])
        .args(["--warm-up-time", &warm_up.to_string()])
        .args(["--measurement-time", &measure.to_string()])
        .run("envelope (criterion)")?;
    let mut medians = BTreeMap::new();
    shell
        .cmd(&bins.load.to_string_lossy())
        .args(["criterion-summary", "--group", "envelope"])
        .run_tee("envelope (criterion medians)", |line| {
            if let (Some(name), Some(ns)) =
                (json::string(line, "bench"), json::number(line, "median_ns"))
            {
                medians.insert(name.to_owned(), ns);
            }
        })?;
    let get = |name: &str| {
        medians
            .get(name)
            .copied()
            .ok_or_else(|| format!("criterion saved no `{name}` result"))
    };
    Ok(Envelope {
        payload: get("payload_serde_json")?,
        typed: get("envelope_typed")?,
        raw: get("envelope_raw")?,
    })
}
