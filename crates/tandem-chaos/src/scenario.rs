//! The scenarios: their processes, subscribers, publisher, fault timeline, and the result
//! line.

use std::collections::HashSet;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde::{Deserialize, Serialize};
use tandem_client::{Client, Config, ConnectionState, Event};
use tokio::task::JoinSet;
use tokio::time::Instant;

use crate::Args;
use crate::check::Track;
use crate::procs::{Node, Redis};
use crate::proxy::Proxy;

/// The room every scenario uses.
pub const ROOM: &str = "chaos";

/// Which fault.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Kind {
    /// Subscribers behind a proxy that delays each way and cuts every connection
    /// repeatedly; one node; the publisher beside the proxy.
    Cuts,
    /// One node SIGKILLed and restarted on the same port.
    Kill,
    /// Two nodes over Redis; node 1 (the subscribers' URL, node 2 their fallback) is
    /// SIGKILLed and stays down.
    Failover,
    /// Two nodes over Redis (subscribers split between them); Redis SIGKILLed and
    /// restarted empty.
    RedisRestart,
    /// [`Kind::Kill`] with many more clients: the reconnect storm after the restart.
    Storm,
    /// Chromium pages (the npm package) behind the cutting proxy, as in [`Kind::Cuts`].
    Browser,
    /// Three nodes over a Redis Cluster (three masters, three replicas), a room on each
    /// shard with its publisher; the master of one room's shard SIGKILLed and its replica
    /// promoted ([`crate::sharded`]).
    RedisCluster,
}

impl Kind {
    /// The name in the result line.
    pub fn name(self) -> &'static str {
        match self {
            Kind::Cuts => "cuts",
            Kind::Kill => "kill",
            Kind::Failover => "failover",
            Kind::RedisRestart => "redis-restart",
            Kind::Storm => "storm",
            Kind::Browser => "browser",
            Kind::RedisCluster => "redis-cluster",
        }
    }
}

/// The payload every message carries: the publisher's own running number.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Msg {
    /// 1, 2, 3, … in publishing order.
    pub n: u64,
}

/// The processes of a scenario; everything is killed when dropped.
pub struct Env {
    /// The `tandem serve` nodes.
    pub nodes: Vec<Node>,
    /// The `redis-server`, if any.
    pub redis: Option<Redis>,
    /// The proxy, if any.
    pub proxy: Option<Proxy>,
}

impl Env {
    /// Starts what `kind` needs; `extra` flags go to every node.
    pub async fn start(args: &Args, kind: Kind, extra: &[String]) -> Result<Env, String> {
        std::fs::create_dir_all(&args.logs)
            .map_err(|e| format!("creating {}: {e}", args.logs.display()))?;
        let name = kind.name();
        let mut env = Env {
            nodes: Vec::new(),
            redis: None,
            proxy: None,
        };
        match kind {
            Kind::Failover | Kind::RedisRestart => {
                let redis = Redis::start(&args.redis_server).await?;
                let mut flags = vec!["--redis".to_owned(), redis.url()];
                flags.extend_from_slice(extra);
                env.redis = Some(redis);
                for i in 1..=2 {
                    let node =
                        Node::start(&format!("{name}-node{i}"), &args.tandem, &flags, &args.logs)
                            .await?;
                    node.wait_healthy(Duration::from_secs(30)).await?;
                    env.nodes.push(node);
                }
            }
            _ => {
                let node =
                    Node::start(&format!("{name}-node"), &args.tandem, extra, &args.logs).await?;
                env.nodes.push(node);
            }
        }
        if matches!(kind, Kind::Cuts | Kind::Browser) {
            let delay = Duration::from_millis(args.delay_ms);
            env.proxy = Some(Proxy::start(env.nodes[0].addr, delay).await?);
        }
        Ok(env)
    }

    /// The highest peak RSS of any node process, KiB.
    pub fn peak_kib(&mut self) -> u64 {
        self.nodes.iter_mut().map(Node::peak_kib).max().unwrap_or(0)
    }

    /// Kills every process.
    pub async fn stop(&mut self) {
        for node in &mut self.nodes {
            node.kill().await;
        }
        if let Some(redis) = &mut self.redis {
            redis.kill().await;
        }
        self.proxy = None;
    }
}

/// Runs the fault of `kind` starting `args.fault_at` after `start`; returns when it
/// ended (the last cut, the restarted process listening, the node killed).
pub async fn fault(
    args: &Args,
    kind: Kind,
    env: &mut Env,
    start: Instant,
) -> Result<Instant, String> {
    tokio::time::sleep_until(start + secs(args.fault_at)).await;
    let down = secs(args.fault_for);
    match kind {
        Kind::Cuts | Kind::Browser => {
            let proxy = env.proxy.as_ref().ok_or("no proxy")?;
            let every = secs(args.cut_every.max(0.05));
            let cuts = (args.fault_for / args.cut_every.max(0.05)).round().max(1.0) as u32;
            let mut last = Instant::now();
            for k in 1..=cuts {
                tokio::time::sleep_until(start + secs(args.fault_at) + every * k).await;
                proxy.cut();
                last = Instant::now();
                eprintln!("tandem-chaos: cut {k} of {cuts}");
            }
            Ok(last)
        }
        Kind::Kill | Kind::Storm => {
            let node = &mut env.nodes[0];
            node.kill().await;
            eprintln!("tandem-chaos: node killed; restarting in {down:?}");
            tokio::time::sleep(down).await;
            node.restart().await?;
            eprintln!("tandem-chaos: node restarted");
            Ok(Instant::now())
        }
        Kind::Failover => {
            env.nodes[0].kill().await;
            eprintln!("tandem-chaos: node 1 killed");
            Ok(Instant::now())
        }
        Kind::RedisCluster => Err("the redis-cluster scenario runs its own fault".into()),
        Kind::RedisRestart => {
            let redis = env.redis.as_mut().ok_or("no redis")?;
            redis.kill().await;
            eprintln!("tandem-chaos: redis killed; restarting in {down:?}");
            tokio::time::sleep(down).await;
            redis.restart().await?;
            eprintln!("tandem-chaos: redis restarted");
            Ok(Instant::now())
        }
    }
}

/// `s` seconds.
pub fn secs(s: f64) -> Duration {
    Duration::from_secs_f64(s.max(0.0))
}

/// What the publisher achieved.
#[derive(Debug, Default)]
pub struct Published {
    /// Failures by kind: `unavailable`, `connection_lost`, `timeout`, `other`.
    pub kinds: std::collections::BTreeMap<&'static str, u64>,
    /// Publisher numbers acknowledged.
    pub acked: HashSet<u64>,
    /// The highest acknowledged number: every subscriber must reach it.
    pub last: u64,
    /// Numbers sent.
    pub sent: u64,
    /// Publishes that failed.
    pub failed: u64,
    /// Publishes still unanswered when the wait ended.
    pub unresolved: u64,
    /// Failures by their message.
    pub errors: std::collections::BTreeMap<String, u64>,
    /// Times the publisher was closed for good and replaced.
    pub replaced: u64,
}

/// The kind of a failed publish, for the report.
pub fn failure_kind(e: &tandem_client::Error) -> &'static str {
    use tandem_client::Error;
    use tandem_client::{ErrorCode, OpError};
    match e {
        Error::Op(OpError::Server {
            code: ErrorCode::Unavailable,
            ..
        }) => "unavailable",
        Error::Op(OpError::ConnectionLost) => "connection_lost",
        Error::Op(OpError::Timeout) => "timeout",
        _ => "other",
    }
}

/// The publisher: a native client (never behind the proxy) in its room.
pub struct Publisher {
    client: Client<Msg>,
    url: String,
    fallbacks: Vec<String>,
    room: String,
    /// Publishes acknowledged so far (read while the publisher runs).
    acks: Arc<std::sync::atomic::AtomicU64>,
}

impl Publisher {
    /// Connects to `url` (with `fallbacks`) and joins [`ROOM`].
    pub async fn connect(url: &str, fallbacks: &[String]) -> Result<Publisher, String> {
        Self::connect_to(url, fallbacks, ROOM).await
    }

    /// Connects to `url` (with `fallbacks`) and joins `room`.
    pub async fn connect_to(
        url: &str,
        fallbacks: &[String],
        room: &str,
    ) -> Result<Publisher, String> {
        Ok(Publisher {
            client: Self::client(url, fallbacks, room).await?,
            url: url.to_owned(),
            fallbacks: fallbacks.to_vec(),
            room: room.to_owned(),
            acks: Arc::default(),
        })
    }

    /// The count of publishes acknowledged so far, live.
    pub fn acks(&self) -> Arc<std::sync::atomic::AtomicU64> {
        self.acks.clone()
    }

    async fn client(url: &str, fallbacks: &[String], room: &str) -> Result<Client<Msg>, String> {
        let config = Config::new().fallback_urls(fallbacks.iter().cloned());
        let client = Client::<Msg>::start(url, config).map_err(|e| format!("publisher: {e}"))?;
        // Its own copies are not checked; drain them.
        let mut events = client.events();
        tokio::spawn(async move { while events.next().await.is_some() {} });
        tokio::time::timeout(Duration::from_secs(30), client.join(room))
            .await
            .map_err(|_| "publisher: join timed out".to_owned())?
            .map_err(|e| format!("publisher: join: {e}"))?;
        Ok(client)
    }

    /// Publishes `rate` numbered messages a second for `length`, from `start`, then waits
    /// (at most 30 s) for the answers.
    ///
    /// A publisher closed for good (the server's rate limit closes it with 1008 when its
    /// queued messages arrive in a burst after an outage) is replaced by a new client, so
    /// the stream goes on; the replacements are counted.
    pub async fn run(&mut self, rate: f64, length: Duration, start: Instant) -> Published {
        let out = Arc::new(Mutex::new(Published::default()));
        let mut tasks = JoinSet::new();
        let every = Duration::from_secs_f64(1.0 / rate.max(0.1));
        let mut tick = tokio::time::interval_at(start, every);
        let mut n = 0u64;
        let mut replaced = 0u64;
        while start.elapsed() < length {
            tick.tick().await;
            if matches!(self.client.state(), ConnectionState::Closed(_)) {
                eprintln!("tandem-chaos: the publisher was closed for good; replacing it");
                if let Ok(client) = Self::client(&self.url, &self.fallbacks, &self.room).await {
                    self.client = client;
                    replaced += 1;
                }
                // The ticks missed meanwhile are not sent in a burst.
                tick.reset();
                continue;
            }
            n += 1;
            let client = self.client.clone();
            let out = out.clone();
            let (room, acks) = (self.room.clone(), self.acks.clone());
            tasks.spawn(async move {
                let result = client.publish(&room, &Msg { n }).await;
                let Ok(mut out) = out.lock() else { return };
                match result {
                    Ok(_) => {
                        out.acked.insert(n);
                        out.last = out.last.max(n);
                        acks.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                    }
                    Err(e) => {
                        out.failed += 1;
                        *out.kinds.entry(failure_kind(&e)).or_default() += 1;
                        *out.errors.entry(e.to_string()).or_default() += 1;
                    }
                }
            });
        }
        let _ = tokio::time::timeout(Duration::from_secs(30), async {
            while tasks.join_next().await.is_some() {}
        })
        .await;
        let unresolved = tasks.len() as u64;
        tasks.abort_all();
        let mut published = out
            .lock()
            .map(|mut o| std::mem::take(&mut *o))
            .unwrap_or_default();
        published.sent = n;
        published.unresolved = unresolved;
        published.replaced = replaced;
        published
    }
}

/// One subscriber's outcome, native or browser.
#[derive(Debug, Default, Clone)]
pub struct Final {
    /// Joined at the start.
    pub joined: bool,
    /// Open and caught up with the publisher's last acknowledged message at the end.
    pub back: bool,
    /// Every message exactly once in order, and back.
    pub exact: bool,
    /// Duplicates received.
    pub duplicates: u64,
    /// Messages lost without a signal.
    pub silent_lost: u64,
    /// Messages lost with a `recovered: false`.
    pub signalled_lost: u64,
    /// `recovered: false` rejoins.
    pub not_recovered: u64,
    /// `recovered: true` rejoins.
    pub recovered: u64,
    /// From the fault's end to the last time it became open (0 if it never dropped
    /// after), in ms; `None` if not open at the end.
    pub open_ms: Option<f64>,
    /// Errors the client reported (`Event::Error`).
    pub errors: u64,
    /// The first problem worth reporting.
    pub problem: Option<String>,
}

/// What a native subscriber's event task keeps.
#[derive(Debug, Default)]
struct Sub {
    track: Track,
    open: bool,
    last_open: Option<Instant>,
    left: bool,
    closed: Option<String>,
    errors: u64,
    first_error: Option<String>,
}

/// A native subscriber of one room.
pub struct Subscriber {
    /// Its client.
    pub client: Client<Msg>,
    state: Arc<Mutex<Sub>>,
}

impl Subscriber {
    /// Starts a client on `url` (with `fallbacks`) checking [`ROOM`] (not joined yet).
    pub fn start(url: &str, fallbacks: &[String]) -> Result<Subscriber, String> {
        Self::start_in(url, fallbacks, ROOM)
    }

    /// Starts a client on `url` (with `fallbacks`) checking `room` (not joined yet).
    pub fn start_in(url: &str, fallbacks: &[String], room: &str) -> Result<Subscriber, String> {
        let watched = room.to_owned();
        let config = Config::new().fallback_urls(fallbacks.iter().cloned());
        let client = Client::<Msg>::start(url, config).map_err(|e| e.to_string())?;
        let state = Arc::new(Mutex::new(Sub::default()));
        let mut events = client.events();
        let shared = state.clone();
        tokio::spawn(async move {
            while let Some(event) = events.next().await {
                let Ok(mut s) = shared.lock() else { return };
                match event {
                    Event::State(ConnectionState::Open) => {
                        s.open = true;
                        s.last_open = Some(Instant::now());
                    }
                    Event::State(ConnectionState::Closed(reason)) => {
                        s.open = false;
                        s.closed = Some(format!("{reason:?}"));
                    }
                    Event::State(_) => s.open = false,
                    Event::Joined {
                        room, recovered, ..
                    } if room == watched => {
                        s.left = false;
                        s.track.on_joined(recovered);
                    }
                    Event::Message {
                        room, seq, data, ..
                    } if room == watched => {
                        s.track.on_message(seq, Some(data.n));
                    }
                    Event::Undecodable { room, seq, .. } if room == watched => {
                        s.track.on_message(seq, None);
                    }
                    Event::Left { room, .. } if room == watched => s.left = true,
                    Event::Error {
                        room,
                        code,
                        message,
                    } => {
                        s.errors += 1;
                        s.first_error.get_or_insert_with(|| {
                            format!("error {code:?} in {room:?}: {message}")
                        });
                    }
                    _ => {}
                }
            }
        });
        Ok(Subscriber { client, state })
    }

    /// Its outcome, once the run is over.
    pub fn finish(
        &self,
        joined: bool,
        last: u64,
        fault_end: Instant,
        published: &Published,
    ) -> Final {
        let Ok(s) = self.state.lock() else {
            return Final {
                problem: Some("state poisoned".to_owned()),
                ..Final::default()
            };
        };
        let back = s.open && !s.left && s.track.max_n >= last;
        let problem = if !joined {
            Some("never joined".to_owned())
        } else if let Some(reason) = &s.closed {
            Some(format!("closed for good: {reason}"))
        } else if !s.open {
            Some("not open at the end".to_owned())
        } else if s.left {
            Some("left the room".to_owned())
        } else if s.track.max_n < last {
            Some(format!(
                "open but stuck at message {} of {last}{}",
                s.track.max_n,
                s.first_error
                    .as_ref()
                    .map(|e| format!(" (after {e})"))
                    .unwrap_or_default()
            ))
        } else if let Some((from, to)) = s.track.first_violation {
            Some(format!("seq {from} then {to}"))
        } else {
            None
        };
        let signalled_lost = s.track.signalled_lost(|n| published.acked.contains(&n));
        Final {
            joined,
            back,
            // A `recovered: false` whose gap held nothing acknowledged lost nothing.
            exact: back
                && s.track.duplicates == 0
                && s.track.silent_lost == 0
                && signalled_lost == 0,
            duplicates: s.track.duplicates,
            silent_lost: s.track.silent_lost,
            signalled_lost,
            not_recovered: s.track.not_recovered,
            recovered: s.track.recovered,
            open_ms: s.open.then(|| {
                s.last_open.map_or(0.0, |t| {
                    t.saturating_duration_since(fault_end).as_secs_f64() * 1e3
                })
            }),
            errors: s.errors,
            problem,
        }
    }

    /// Open, in the room, and past the publisher's last acknowledged message.
    pub fn caught_up(&self, last: u64) -> bool {
        self.state
            .lock()
            .is_ok_and(|s| s.open && !s.left && s.track.max_n >= last)
    }
}

/// Joins every subscriber to its room (`room_of` its index) at once, waiting at most
/// `within`: which joined, the first refusal, and whether the wait ran out.
pub async fn join_all(
    subs: &[Subscriber],
    room_of: impl Fn(usize) -> String,
    within: Duration,
) -> (Vec<bool>, Option<String>, bool) {
    let mut joins = JoinSet::new();
    for (i, sub) in subs.iter().enumerate() {
        let client = sub.client.clone();
        let room = room_of(i);
        joins.spawn(async move { (i, client.join(&room).await.map_err(|e| e.to_string())) });
    }
    let mut joined = vec![false; subs.len()];
    let mut join_error = None;
    let waited = tokio::time::timeout(within, async {
        while let Some(done) = joins.join_next().await {
            if let Ok((i, result)) = done {
                match result {
                    Ok(_) => joined[i] = true,
                    Err(e) => {
                        join_error.get_or_insert(e);
                    }
                }
            }
        }
    })
    .await;
    joins.abort_all();
    (joined, join_error, waited.is_err())
}

/// Runs a scenario of native clients on one set of nodes and returns its result line
/// (the browser and Redis Cluster scenarios have their own `run`).
pub async fn run(args: &Args) -> Result<String, String> {
    let kind = args.scenario;
    let mut env = Env::start(args, kind, &[]).await?;
    let result = native(args, kind, &mut env).await;
    env.stop().await;
    result
}

/// A scenario with native subscribers.
async fn native(args: &Args, kind: Kind, env: &mut Env) -> Result<String, String> {
    // Where the subscribers and the publisher connect, and their fallbacks.
    let node_urls: Vec<String> = env.nodes.iter().map(Node::url).collect();
    let sub_target = |i: usize| -> (String, Vec<String>) {
        match kind {
            Kind::Cuts => (
                format!(
                    "ws://{}",
                    env.proxy.as_ref().map_or(env.nodes[0].addr, Proxy::addr)
                ),
                Vec::new(),
            ),
            Kind::Failover => (node_urls[0].clone(), vec![node_urls[1].clone()]),
            Kind::RedisRestart => {
                let (a, b) = if i % 2 == 0 { (0, 1) } else { (1, 0) };
                (node_urls[a].clone(), vec![node_urls[b].clone()])
            }
            _ => (node_urls[0].clone(), Vec::new()),
        }
    };
    let (pub_url, pub_fallbacks) = match kind {
        Kind::Failover | Kind::RedisRestart => (node_urls[1].clone(), vec![node_urls[0].clone()]),
        _ => (node_urls[0].clone(), Vec::new()),
    };

    eprintln!(
        "tandem-chaos: {}: starting {} subscribers",
        kind.name(),
        args.clients
    );
    let mut subs = Vec::with_capacity(args.clients);
    for i in 0..args.clients {
        let (url, fallbacks) = sub_target(i);
        subs.push(Subscriber::start(&url, &fallbacks)?);
    }
    let (joined, join_error, timed_out) =
        join_all(&subs, |_| ROOM.to_owned(), secs(args.join_secs)).await;
    let joined_count = joined.iter().filter(|j| **j).count();
    eprintln!(
        "tandem-chaos: {joined_count} of {} joined{}",
        subs.len(),
        if timed_out {
            " (join wait timed out)"
        } else {
            ""
        }
    );

    let mut publisher = Publisher::connect(&pub_url, &pub_fallbacks).await?;
    let start = Instant::now();
    let (published, fault_end) = tokio::join!(
        publisher.run(args.rate, secs(args.publish_for), start),
        fault(args, kind, env, start)
    );
    let fault_end = fault_end?;
    eprintln!(
        "tandem-chaos: published {} ({} acknowledged, {} failed, {} unanswered); waiting for the tail",
        published.sent,
        published.acked.len(),
        published.failed,
        published.unresolved
    );
    let last = published.last;
    let tail_end = Instant::now() + secs(args.tail_secs);
    loop {
        let behind = subs.iter().filter(|s| !s.caught_up(last)).count();
        if behind == 0 || Instant::now() >= tail_end {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let finals: Vec<Final> = subs
        .iter()
        .zip(&joined)
        .map(|(s, j)| s.finish(*j, last, fault_end, &published))
        .collect();
    let peak = env.peak_kib();
    let mut extra = Vec::new();
    if let Some(proxy) = &env.proxy {
        extra.push(format!(
            "{} connections through the proxy",
            proxy.accepted()
        ));
    }
    if let Some(e) = join_error {
        extra.push(format!("join error: {e}"));
    }
    Ok(result_line(kind, args, &finals, &published, peak, extra))
}

/// The value at `q` (0–1) of sorted `values`.
fn quantile(sorted: &[f64], q: f64) -> Option<f64> {
    if sorted.is_empty() {
        return None;
    }
    let i = ((sorted.len() as f64 * q).ceil() as usize).clamp(1, sorted.len()) - 1;
    Some(sorted[i])
}

/// Text safe inside the flat JSON the xtask reads (no quotes or backslashes).
pub fn plain(text: &str) -> String {
    text.chars()
        .map(|c| {
            if c == '"' || c == '\\' || c.is_control() {
                '\''
            } else {
                c
            }
        })
        .take(300)
        .collect()
}

/// The scenario's result line, with its verdict: FAIL on any silent loss, duplicate, or
/// subscriber not back in the room with every message.
pub fn result_line(
    kind: Kind,
    args: &Args,
    finals: &[Final],
    published: &Published,
    peak_kib: u64,
    mut notes: Vec<String>,
) -> String {
    let sum = |f: fn(&Final) -> u64| finals.iter().map(f).sum::<u64>();
    let count = |f: fn(&Final) -> bool| finals.iter().filter(|x| f(x)).count();
    let mut open: Vec<f64> = finals
        .iter()
        .filter(|f| f.joined)
        .filter_map(|f| f.open_ms)
        .collect();
    open.sort_by(f64::total_cmp);
    let within_10s = open.iter().filter(|ms| **ms <= 10_000.0).count();
    let silent = sum(|f| f.silent_lost);
    let duplicates = sum(|f| f.duplicates);
    let not_joined = finals.len() - count(|f| f.joined);
    let not_back = count(|f| f.joined && !f.back);
    let mut reasons = Vec::new();
    if silent > 0 {
        reasons.push(format!("{silent} messages lost silently"));
    }
    if duplicates > 0 {
        reasons.push(format!("{duplicates} duplicates"));
    }
    if not_joined > 0 {
        reasons.push(format!(
            "{not_joined} subscribers never joined at the start (before the fault)"
        ));
    }
    if not_back > 0 {
        reasons.push(format!("{not_back} subscribers not back in the room"));
    }
    if published.last == 0 {
        reasons.push("the publisher got no message acknowledged".to_owned());
    }
    if let Some(problem) = finals.iter().find_map(|f| f.problem.clone()) {
        notes.push(format!("first subscriber problem: {problem}"));
    }
    if published.failed > 0 {
        let kinds: Vec<String> = published
            .errors
            .iter()
            .map(|(e, n)| format!("{n} x {e}"))
            .collect();
        notes.push(format!("publishes failed: {}", kinds.join(", ")));
    }
    if published.replaced > 0 {
        notes.push(format!(
            "the publisher was closed for good and replaced {} times",
            published.replaced
        ));
    }
    let errors = sum(|f| f.errors);
    let value = serde_json::json!({
        "figure": "chaos",
        "scenario": kind.name(),
        "verdict": if reasons.is_empty() { "pass" } else { "FAIL" },
        "subscribers": finals.len(),
        "joined": count(|f| f.joined),
        "exact": count(|f| f.exact),
        "back": count(|f| f.back),
        "lost_signalled": sum(|f| f.signalled_lost),
        "lost_silent": silent,
        "duplicates": duplicates,
        "not_recovered_rejoins": sum(|f| f.not_recovered),
        "recovered_rejoins": sum(|f| f.recovered),
        "client_errors": errors,
        "open_p50_ms": quantile(&open, 0.5).unwrap_or(-1.0),
        "open_p99_ms": quantile(&open, 0.99).unwrap_or(-1.0),
        "open_max_ms": open.last().copied().unwrap_or(-1.0),
        "open_within_10s": within_10s,
        "rss_peak_kib": peak_kib,
        "published": published.acked.len(),
        "publish_failed": published.failed,
        "publish_unanswered": published.unresolved,
        "rate": args.rate,
        "reason": plain(&reasons.join("; ")),
        "notes": plain(&notes.join("; ")),
    });
    value.to_string()
}
