//! The report of `cargo xtask bench`: the machine, the tables of medians with tandem's
//! ratios, and each target met or missed. Markdown, printed and written to BENCHMARKS.md.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use crate::bench::{PEERS, Peer, Plan};
use crate::package::FileSize;
use crate::process::Shell;

/// Every run's value of every server figure, by `<figure>.<key>` and server.
#[derive(Default)]
pub struct Figures {
    values: BTreeMap<(String, Peer), Vec<f64>>,
    notes: Vec<String>,
}

impl Figures {
    /// Stores one run's value.
    pub fn add(&mut self, key: &str, peer: Peer, value: f64) {
        self.values
            .entry((key.to_owned(), peer))
            .or_default()
            .push(value);
    }

    /// Remembers something the report must mention (failed clients, lost requests).
    pub fn note(&mut self, note: String) {
        self.notes.push(note);
    }

    /// tandem's median divided by `peer`'s, when both were measured.
    fn ratio(&self, key: &str, peer: Peer) -> Option<f64> {
        match (self.get(key, Peer::Tandem), self.get(key, peer)) {
            (Some(t), Some(p)) if p > 0.0 => Some(t / p),
            _ => None,
        }
    }

    /// The median over the runs.
    fn get(&self, key: &str, peer: Peer) -> Option<f64> {
        self.values.get(&(key.to_owned(), peer)).map(|v| median(v))
    }
}

/// Figure 5: messages per second delivered to a JS callback.
pub struct Browser {
    /// Through the npm package.
    pub sdk: f64,
    /// Through a plain `WebSocket` + `JSON.parse` page.
    pub plain: f64,
}

/// Figure 7: nanoseconds per message (criterion medians).
pub struct Envelope {
    /// serde_json of the payload alone, to text and back.
    pub payload: f64,
    /// The payload through tandem's envelope, as an app sends and receives it.
    pub typed: f64,
    /// Only the envelope around an already-encoded payload.
    pub raw: f64,
}

/// The median of `values` (mean of the middle two for an even count; 0 for none).
pub fn median(values: &[f64]) -> f64 {
    let mut sorted = values.to_vec();
    sorted.sort_by(f64::total_cmp);
    match sorted.len() {
        0 => 0.0,
        n if n % 2 == 1 => sorted[n / 2],
        n => (sorted[n / 2 - 1] + sorted[n / 2]) / 2.0,
    }
}

/// What the figures were measured on.
pub struct Machine {
    lines: Vec<(String, String)>,
}

impl Machine {
    /// Cores, CPU, memory, kernel, date and the versions of everything compared.
    pub fn describe(shell: &Shell) -> Self {
        let capture = |program: &str, args: &[&str]| {
            shell
                .cmd(program)
                .args(args.iter().copied())
                .capture()
                .unwrap_or_else(|| "unknown".to_owned())
        };
        let cpuinfo = std::fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
        let model = cpuinfo
            .lines()
            .find_map(|l| l.strip_prefix("model name"))
            .map(|rest| rest.trim_start_matches([' ', '\t', ':']).to_owned())
            .unwrap_or_else(|| "unknown".to_owned());
        let meminfo = std::fs::read_to_string("/proc/meminfo").unwrap_or_default();
        let memory = meminfo
            .lines()
            .find_map(|l| l.strip_prefix("MemTotal:"))
            .and_then(|rest| {
                rest.trim()
                    .trim_end_matches("kB")
                    .trim()
                    .parse::<u64>()
                    .ok()
            })
            .map_or_else(
                || "unknown".to_owned(),
                |kib| format!("{:.1} GiB", kib as f64 / 1024.0 / 1024.0),
            );
        let npm_version = |package: &str| {
            let file = shell
                .root()
                .join("bench/node/node_modules")
                .join(package)
                .join("package.json");
            let text = std::fs::read_to_string(file).unwrap_or_default();
            crate::json::string(&text.replace(": \"", ":\""), "version")
                .unwrap_or("unknown")
                .to_owned()
        };
        let lines = vec![
            (
                "date".to_owned(),
                capture("date", &["-u", "+%Y-%m-%d %H:%M UTC"]),
            ),
            (
                "machine".to_owned(),
                format!("{} cores ({model}), {memory} memory", capture("nproc", &[])),
            ),
            ("kernel".to_owned(), capture("uname", &["-sr"])),
            ("rustc".to_owned(), capture("rustc", &["--version"])),
            (
                "tandem".to_owned(),
                format!(
                    "{} (release build)",
                    capture("target/release/tandem", &["--version"])
                ),
            ),
            (
                "tokio-tungstenite (bare)".to_owned(),
                crate::workspace::locked_versions(
                    &std::fs::read_to_string(shell.root().join("Cargo.lock")).unwrap_or_default(),
                    "tokio-tungstenite",
                )
                .join(", "),
            ),
            ("node".to_owned(), capture("node", &["--version"])),
            ("ws (npm)".to_owned(), npm_version("ws")),
            ("socket.io (npm)".to_owned(), npm_version("socket.io")),
            ("chromium".to_owned(), capture("chromium", &["--version"])),
        ];
        Machine { lines }
    }
}

/// A value with thousands separators and `decimals` decimals.
fn num(value: f64, decimals: usize) -> String {
    let text = format!("{:.*}", decimals, value.abs());
    let (int, frac) = text
        .split_once('.')
        .map_or((text.as_str(), None), |(i, f)| (i, Some(f)));
    let mut grouped = String::new();
    for (i, c) in int.chars().enumerate() {
        if i > 0 && (int.len() - i) % 3 == 0 {
            grouped.push(',');
        }
        grouped.push(c);
    }
    let sign = if value < 0.0 { "-" } else { "" };
    match frac {
        Some(f) => format!("{sign}{grouped}.{f}"),
        None => format!("{sign}{grouped}"),
    }
}

/// One row of the server table: a label, how to read the key, and the unit scaling.
struct Row {
    label: String,
    key: &'static str,
    scale: f64,
    decimals: usize,
}

/// The whole report.
pub fn render(
    machine: &Machine,
    plan: &Plan,
    figures: &Figures,
    browser: &Browser,
    envelope: &Envelope,
    package: &[FileSize],
) -> String {
    let mut out = String::new();
    let _ = writeln!(out, "# tandem benchmarks\n");
    let _ = writeln!(
        out,
        "Written by `cargo xtask bench`; every figure below is a median of {} runs, all \
         servers measured in the same run on this machine. Re-run it to refresh this file.\n",
        plan.runs
    );
    for (name, value) in &machine.lines {
        let _ = writeln!(out, "- **{name}**: {value}");
    }

    let rows = [
        Row {
            label: format!(
                "1. fan-out 1→{}: deliveries/s",
                num(plan.subscribers as f64, 0)
            ),
            key: "fanout.deliveries_per_s",
            scale: 1.0,
            decimals: 0,
        },
        Row {
            label: "1. fan-out: p99 publish→receive (ms)".to_owned(),
            key: "fanout.p99_us",
            scale: 1e-3,
            decimals: 1,
        },
        Row {
            label: "1. fan-out: server CPU per delivery (ns)".to_owned(),
            key: "fanout.server_cpu_ns_per_delivery",
            scale: 1.0,
            decimals: 0,
        },
        Row {
            label: "1b. fan-out, two tandem nodes over Redis (subscribers split): deliveries/s"
                .to_owned(),
            key: "fanout2.deliveries_per_s",
            scale: 1.0,
            decimals: 0,
        },
        Row {
            label: "1b. two nodes: p99 publish→receive (ms)".to_owned(),
            key: "fanout2.p99_us",
            scale: 1e-3,
            decimals: 1,
        },
        Row {
            label: "1b. two nodes: CPU per delivery, both nodes together (ns)".to_owned(),
            key: "fanout2.server_cpu_ns_per_delivery",
            scale: 1.0,
            decimals: 0,
        },
        Row {
            label: "1b. two nodes: Redis CPU per message (µs)".to_owned(),
            key: "fanout2.broker_cpu_us_per_message",
            scale: 1.0,
            decimals: 1,
        },
        Row {
            label: format!(
                "1c. fan-out 1→{}, ephemeral: deliveries/s",
                num(plan.subscribers as f64, 0)
            ),
            key: "fanout_eph.deliveries_per_s",
            scale: 1.0,
            decimals: 0,
        },
        Row {
            label: "1c. ephemeral: p99 publish→receive (ms)".to_owned(),
            key: "fanout_eph.p99_us",
            scale: 1e-3,
            decimals: 1,
        },
        Row {
            label: "1c. ephemeral: messages shed (sent × subscribers − received; healthy: 0)"
                .to_owned(),
            key: "fanout_eph.undelivered",
            scale: 1.0,
            decimals: 0,
        },
        Row {
            label: "1d. fan-out, three tandem nodes over a Redis Cluster of 3 masters \
                    (subscribers split): deliveries/s"
                .to_owned(),
            key: "fanout3.deliveries_per_s",
            scale: 1.0,
            decimals: 0,
        },
        Row {
            label: "1d. three nodes: p99 publish→receive (ms)".to_owned(),
            key: "fanout3.p99_us",
            scale: 1e-3,
            decimals: 1,
        },
        Row {
            label: "1d. three nodes: CPU per delivery, all nodes together (ns)".to_owned(),
            key: "fanout3.server_cpu_ns_per_delivery",
            scale: 1.0,
            decimals: 0,
        },
        Row {
            label: "1d. three nodes: Redis CPU per message, all masters (µs)".to_owned(),
            key: "fanout3.broker_cpu_us_per_message",
            scale: 1.0,
            decimals: 1,
        },
        Row {
            label: format!(
                "2. echo at {} req/s: p50 (ms)",
                num(f64::from(plan.echo_rate), 0)
            ),
            key: "echo.p50_us",
            scale: 1e-3,
            decimals: 2,
        },
        Row {
            label: "2. echo: p99 (ms)".to_owned(),
            key: "echo.p99_us",
            scale: 1e-3,
            decimals: 2,
        },
        Row {
            label: "2. echo: p99.9 (ms)".to_owned(),
            key: "echo.p999_us",
            scale: 1e-3,
            decimals: 2,
        },
        Row {
            label: format!(
                "3. idle RSS per connection at {} (bytes)",
                num(plan.idle as f64, 0)
            ),
            key: "idle.bytes_per_connection",
            scale: 1.0,
            decimals: 0,
        },
        Row {
            label: "3b. idle RSS per connection, tandem mounted in axum (bytes)".to_owned(),
            key: "idle_mounted.bytes_per_connection",
            scale: 1.0,
            decimals: 0,
        },
        Row {
            label: format!(
                "4. connect storm {}: all joined (ms)",
                num(plan.storm as f64, 0)
            ),
            key: "storm.all_joined_ms",
            scale: 1.0,
            decimals: 0,
        },
        Row {
            label: "4. connect storm: server peak RSS (MiB)".to_owned(),
            key: "storm.peak_rss_kib",
            scale: 1.0 / 1024.0,
            decimals: 1,
        },
        Row {
            label: format!(
                "4b. connect storm {} into one room: all joined (ms; target < 2,000)",
                num(plan.storm as f64, 0)
            ),
            key: "storm1.all_joined_ms",
            scale: 1.0,
            decimals: 0,
        },
    ];
    let _ = writeln!(out, "\n## Servers\n");
    let mut heading = String::from("| figure |");
    let mut rule = String::from("|---|");
    for peer in PEERS {
        let _ = write!(heading, " {} |", peer.label());
        rule.push_str("---:|");
    }
    for peer in &PEERS[1..] {
        let _ = write!(heading, " tandem ÷ {} |", peer.label());
        rule.push_str("---:|");
    }
    let _ = writeln!(out, "{heading}\n{rule}");
    for row in &rows {
        let mut line = format!("| {} |", row.label);
        for peer in PEERS {
            let cell = figures
                .get(row.key, peer)
                .map_or_else(|| "—".to_owned(), |v| num(v * row.scale, row.decimals));
            let _ = write!(line, " {cell} |");
        }
        for peer in &PEERS[1..] {
            let cell = figures
                .ratio(row.key, *peer)
                .map_or_else(|| "—".to_owned(), |r| format!("{r:.2}×"));
            let _ = write!(line, " {cell} |");
        }
        let _ = writeln!(out, "{line}");
    }

    bus_section(&mut out, plan, figures);

    let _ = writeln!(out, "\n## Browser (5) and envelope cost (7)\n");
    let _ = writeln!(out, "| figure | value |\n|---|---:|");
    let _ = writeln!(
        out,
        "| 5. Chromium, npm package → JS callback (messages/s) | {} |",
        num(browser.sdk, 0)
    );
    let _ = writeln!(
        out,
        "| 5. Chromium, plain `WebSocket` + `JSON.parse` (messages/s) | {} |",
        num(browser.plain, 0)
    );
    let _ = writeln!(
        out,
        "| 5. package ÷ plain | {:.2}× |",
        browser.sdk / browser.plain.max(1.0)
    );
    let _ = writeln!(
        out,
        "| 7. serde_json of a 100-byte payload, encode + decode (ns) | {} |",
        num(envelope.payload, 0)
    );
    let _ = writeln!(
        out,
        "| 7. the same payload through tandem's `event` envelope, typed (ns) | {} ({:.1}×) |",
        num(envelope.typed, 0),
        envelope.typed / envelope.payload.max(1.0)
    );
    let _ = writeln!(
        out,
        "| 7. the envelope around an encoded payload, as the server forwards it (ns) | {} |",
        num(envelope.raw, 0)
    );

    let _ = writeln!(out, "\n## npm package (6)\n");
    let _ = writeln!(
        out,
        "| file | raw bytes | gzipped bytes (`gzip -9`) |\n|---|---:|---:|"
    );
    for size in package {
        let file = match size.file {
            "bundled" => {
                "as a page's bundle carries it: esbuild `--bundle --minify` of index.js, plus the wasm"
            }
            file => file,
        };
        let _ = writeln!(
            out,
            "| {} | {} | {} |",
            file,
            num(size.raw as f64, 0),
            num(size.gzipped as f64, 0)
        );
    }

    let _ = writeln!(out, "\n## Targets\n");
    for (target, verdict) in targets(figures, browser, package) {
        let _ = writeln!(out, "- {target}: **{verdict}**");
    }
    if !figures.notes.is_empty() {
        let _ = writeln!(out, "\n## Notes from this run\n");
        for note in &figures.notes {
            let _ = writeln!(out, "- {note}");
        }
    }
    out.push_str(METHOD);
    out
}

/// Figure 8: the bus bytes each node receives from Redis, per-room channels against one
/// shared bus.
fn bus_section(out: &mut String, plan: &Plan, figures: &Figures) {
    let get = |key: &str| figures.get(key, Peer::Tandem);
    let Some(all) = get("bus.all_bytes") else {
        return;
    };
    let _ = writeln!(out, "\n## Many nodes over Redis (8)\n");
    let _ = writeln!(
        out,
        "Four `tandem serve --redis` nodes on one `redis-server`; {} rooms, {} messages \
         published into each ({} in all). Nodes A, B and C each host the members of a third \
         of the rooms; node D has a member in every room, so it receives what every node \
         received when all rooms shared one bus channel.\n",
        num(plan.bus_rooms as f64, 0),
        num(plan.bus_messages as f64, 0),
        num(plan.bus_rooms as f64 * plan.bus_messages as f64, 0)
    );
    let _ = writeln!(out, "| figure | value |\n|---|---:|");
    let third = plan.bus_rooms / 3;
    let value = |key: &str, decimals: usize| get(key).map(|v| num(v, decimals));
    let range = match (get("bus.home_min_bytes"), get("bus.home_max_bytes")) {
        (Some(min), Some(max)) => Some(format!("{} – {}", num(min, 0), num(max, 0))),
        _ => None,
    };
    let rows = [
        (
            format!(
                "8. bytes from Redis to a node hosting {} rooms (A, B, C: mean)",
                num(third as f64, 0)
            ),
            value("bus.home_mean_bytes", 0),
        ),
        ("8. the same, fewest and most of A, B, C".to_owned(), range),
        (
            format!(
                "8. bytes from Redis to a node hosting all {} rooms (D: one shared bus)",
                num(plan.bus_rooms as f64, 0)
            ),
            Some(num(all, 0)),
        ),
        (
            "8. hosting a third ÷ hosting all (goal: about 0.33)".to_owned(),
            value("bus.ratio", 3),
        ),
        (
            "8. bytes from Redis per message, to a node with a member in its room".to_owned(),
            value("bus.bytes_per_message", 1),
        ),
        (
            "8. bytes to Redis per publish, from the publisher's node".to_owned(),
            value("bus.to_redis_bytes_per_publish", 1),
        ),
        (
            "8. Redis CPU per message, 4 nodes subscribed (µs)".to_owned(),
            value("bus.redis_cpu_us_per_message", 1),
        ),
        (
            "8. CPU of a home node per message of its rooms: take the publish, store it \
             in Redis, ack, deliver to its member (µs)"
                .to_owned(),
            value("bus.home_cpu_us_per_message", 1),
        ),
        (
            "8. CPU of node D per message: receive it from Redis, deliver to one member (µs)"
                .to_owned(),
            value("bus.all_cpu_us_per_message", 1),
        ),
    ];
    for (label, cell) in rows {
        if let Some(cell) = cell {
            let _ = writeln!(out, "| {label} | {cell} |");
        }
    }
    let _ = writeln!(
        out,
        "\nOn this 2-core machine every node, every Redis and the load generator share the \
         same two cores: figures 1b, 1d and 8 show the work per node and per message \
         (bytes, CPU time), not a speed-up from adding nodes or shards."
    );
}

/// The targets of issue 5, each with `met (…)` or `missed (…)`.
fn targets(figures: &Figures, browser: &Browser, package: &[FileSize]) -> Vec<(String, String)> {
    let verdict = |ok: bool, detail: String| {
        if ok {
            format!("met ({detail})")
        } else {
            format!("missed ({detail})")
        }
    };
    let mut out = Vec::new();
    if let Some(r) = figures.ratio("fanout.deliveries_per_s", Peer::Bare) {
        out.push((
            "fan-out ≥ 0.8× bare".to_owned(),
            verdict(r >= 0.8, format!("{r:.2}×")),
        ));
    }
    if let (Some(ephemeral), Some(numbered)) = (
        figures.get("fanout_eph.deliveries_per_s", Peer::Tandem),
        figures.get("fanout.deliveries_per_s", Peer::Tandem),
    ) && numbered > 0.0
    {
        let r = ephemeral / numbered;
        out.push((
            "ephemeral fan-out ≥ numbered".to_owned(),
            verdict(r >= 1.0, format!("{r:.2}×")),
        ));
    }
    if let Some(bytes) = figures.get("idle.bytes_per_connection", Peer::Tandem) {
        out.push((
            "≤ 4 KiB (4,096 bytes) RSS per idle connection".to_owned(),
            verdict(bytes <= 4096.0, format!("{} bytes", num(bytes, 0))),
        ));
    }
    if let Some(bytes) = figures.get("idle_mounted.bytes_per_connection", Peer::Tandem) {
        out.push((
            "≤ 4 KiB (4,096 bytes) RSS per idle connection, mounted in axum".to_owned(),
            verdict(bytes <= 4096.0, format!("{} bytes", num(bytes, 0))),
        ));
    }
    for (key, name) in [("echo.p50_us", "p50"), ("echo.p99_us", "p99")] {
        if let Some(r) = figures.ratio(key, Peer::Bare) {
            out.push((
                format!("echo {name} ≤ 1.5× bare"),
                verdict(r <= 1.5, format!("{r:.2}×")),
            ));
        }
    }
    if let Some(total) = package.iter().find(|s| s.file == "total") {
        // The peers' sizes in the target are esbuild-minified; tandem's are given both ways.
        let bundled = package.iter().find(|s| s.file == "bundled");
        let size = bundled.map_or(total.gzipped, |b| b.gzipped);
        let mut figure = format!("{} bytes as shipped", num(total.gzipped as f64, 0));
        if let Some(b) = bundled {
            let _ = write!(figure, ", {} bytes bundled", num(b.gzipped as f64, 0));
        }
        out.push((
            "npm package ≤ 40 KB (40,960 bytes) gzipped".to_owned(),
            verdict(size <= 40 * 1024, figure),
        ));
    }
    if let Some(r) = figures.get("bus.ratio", Peer::Tandem) {
        out.push((
            "bus bytes per node hosting a third of the rooms ≤ 0.4× one shared bus".to_owned(),
            verdict(r <= 0.4, format!("{r:.3}×")),
        ));
    }
    let r = browser.sdk / browser.plain.max(1.0);
    out.push((
        "browser ≥ 0.7× plain JS".to_owned(),
        verdict(r >= 0.7, format!("{r:.2}×")),
    ));
    out
}

/// How each figure is measured.
const METHOD: &str = "
## Method

One load generator (`crates/tandem-bench`, Rust, tokio) runs as its own process and drives
every server the same way; each measurement starts a fresh server on 127.0.0.1 and the
client sockets come from many loopback source addresses. Payloads are 100 bytes and carry
their send time. Servers: `tandem serve` (release; per-connection rate limit raised out of
the way, echo of requests on); a bare tokio-tungstenite server in `tandem-bench` (every
connection in one room, 4 KiB read buffer, a writer task per connection, no envelope, rooms,
presence or recovery); Node `ws` with a plain broadcast loop; Socket.IO with
`socket.to(room).emit` (the load generator speaks Engine.IO v4 framing itself). Both Node
servers listen with backlog 4096 like the Rust ones.

1. **Fan-out**: 1 publisher and N subscribers joined to one room; the publisher keeps at
   most 32 messages in flight (sent, not yet received by every subscriber), so each server
   runs saturated without unbounded queues; deliveries/s counted at the subscribers over the
   measured seconds after 1 s of warm-up; p99 of publish→receive. tandem also sends the
   publisher its ack and its own copy of the event (not counted). Every message carries
   its number and every delivery is counted: after the measured seconds the publisher
   stops and the subscribers read until each has the last message (or nothing arrived for
   1 s); a message received twice or out of order fails the run. **1c**: the same against
   tandem with ephemeral messages (`\"ephemeral\":true`: no seq, not stored, no ack, not
   sent back to the publisher), measured right after tandem's figure 1 run. tandem sheds an
   ephemeral frame for a reader whose queue is half full instead of closing it, so the
   messages shed (sent × subscribers − deliveries received) are their own row, not an
   error; a healthy run sheds none. The other servers have no such mode. **Server CPU per
   delivery**: the server process's user + system CPU time (`/proc/<pid>/stat`, all its
   threads, 10 ms ticks) over the measured seconds ÷ the deliveries in them; with several
   nodes, all nodes' time together. **1b** and **1d**: the same fan-out with the
   subscribers split evenly over two nodes on one fresh `redis-server` (1b) or three nodes
   on a fresh Redis Cluster of three masters without replicas (1d: `redis-cli --cluster
   create`, `--redis redis+cluster://…`); the publisher is on the first node; Redis CPU
   per message is the Redis processes' CPU time over the measured seconds ÷ the messages
   published in them.
2. **Echo**: open loop at a fixed offered rate spread over the connections; each request
   carries the time it was due, so a stalled server cannot hide its latency. tandem:
   `request` → `response`; bare and ws: an echoed frame; Socket.IO: an emit with an ack.
3. **Idle memory**: server RSS (`/proc/<pid>/status`) after one warm connection, then
   after N more connections have joined and the RSS has settled; the growth ÷ N. tandem
   and Socket.IO clients join one of 100 rooms (tandem: hello, welcome, join, joined with
   the room's presence, and a presence diff to the room per arrival); the bare and ws
   servers have no rooms. The clients keep reading, as real ones do.
4. **Connect storm**: N clients start connecting and joining (100 rooms, as above) at the
   same instant; time until the last has joined (a refused connection is retried, at most
   3 attempts); the server's peak RSS (`VmHWM`). **4b**: the same storm against tandem
   with every client in one room, so each arrival is presence news to all the others
   (coalesced per 50 ms window in rooms of 64 members or more).
5. **Browser**: headless Chromium; a page using the npm package (`room.on(\"message\")`)
   and a page using a bare `WebSocket` with `JSON.parse`, speaking the same protocol to the
   same release `tandem serve`, each receiving a stream published by `tandem-bench stream`;
   messages/s from the first to the last message.
6. **npm package**: the files a page loads from `pkg/` (the wasm, `tandem.js`, `index.js`
   and the bindings' own modules in `snippets/`), raw and `gzip -9`; then the
   package as a page's bundle carries it (esbuild `--bundle --minify` of `index.js`, as
   the target's peer sizes were measured, plus the wasm).
7. **Envelope**: criterion (`crates/tandem-bench/benches/envelope.rs`).
8. **Bus bytes per node**: four `tandem serve --redis` nodes on one fresh `redis-server`;
   each node reaches Redis through its own listener of a counting TCP proxy
   (`tandem-bench bus-proxy`), which counts every byte Redis sends that node on every
   connection (subscriptions and command replies), whatever the Redis version reports
   (7.0 has no per-client byte counters). Room r's members are on node r mod 3 (A, B, C):
   its publisher is its member there; node D has one more member in every room. After the
   joins have settled, every room's publisher sends its messages (at most 8
   unacknowledged) and the bytes are counted until each has its acks and its own copies
   and each member on D has every message. D receives every room's messages, which is
   what any node received when all rooms shared one bus channel (the design before
   per-room channels), so the single-bus baseline is measured in the same run rather than
   on an older build; A, B and C also receive the replies to their own publishes (a few
   bytes each), which D does not.
";
