//! The live junk-frame hammer (`tandem-bench hammer`): many connections send random and
//! mutated frames to a running `tandem serve` for a while, reconnecting whenever they are
//! closed, while one healthy subscriber receives a steady stream from one healthy
//! publisher. It prints one JSON line: frames sent, closes by code, what the healthy
//! subscriber expected and got (missing, duplicated, out of order), and the server's RSS.
//!
//! The junk: valid client frames, the same with bytes flipped, inserted, deleted or
//! duplicated, JSON that is not JSON, kinds that travel the other way or do not exist,
//! ids out of every range, nesting far past the limit, text frames that are not UTF-8,
//! binary frames, frames over the size limit, floods past the rate limit, fragments out of
//! order, pings and closes with odd payloads. Each connection says `hello` first most of
//! the time, so most junk reaches the protocol core and not only the handshake.
//!
//! It judges nothing: `cargo xtask chaos` (xtask/src/fuzz.rs) reads the line and fails on
//! a dead server, a healthy message missed or doubled, or RSS past its bound.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use futures_util::stream::{SplitSink, SplitStream};
use futures_util::{SinkExt, StreamExt};
use serde_json::{Value, json};
use tokio::net::TcpStream;
use tokio_tungstenite::WebSocketStream;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::http::HeaderValue;
use tokio_tungstenite::tungstenite::protocol::frame::coding::{CloseCode, Data, OpCode};
use tokio_tungstenite::tungstenite::protocol::frame::{CloseFrame, Frame};

use crate::rss;

/// Options of `tandem-bench hammer`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// The server's URL, `ws://127.0.0.1:PORT`.
    #[arg(long)]
    url: String,
    /// The server's process id (its RSS is sampled from /proc).
    #[arg(long)]
    pid: u32,
    /// Junk connections at once.
    #[arg(long, default_value_t = 50)]
    connections: usize,
    /// How long the junk is sent, in seconds.
    #[arg(long, default_value_t = 30)]
    seconds: u64,
    /// Messages per second the healthy publisher sends (under the default rate limit).
    #[arg(long, default_value_t = 50)]
    rate: u32,
    /// Seed of the junk (default: from the clock; printed in the result).
    #[arg(long)]
    seed: Option<u64>,
}

type Ws = WebSocketStream<TcpStream>;
type Sink = SplitSink<Ws, Message>;
type Stream = SplitStream<Ws>;

/// How long one handshake step of a healthy connection may take.
const STEP: Duration = Duration::from_secs(10);
/// How long the healthy subscriber may take to receive the last messages after the junk.
const GRACE: Duration = Duration::from_secs(10);
/// The `hello` every connection that says one sends (the server's default schema).
const HELLO: &str = r#"{"v":1,"k":"hello","app":{"name":"default","versions":[1]}}"#;

/// Counters shared by the junk connections.
#[derive(Default)]
struct Junk {
    frames: AtomicU64,
    bytes: AtomicU64,
    connects: AtomicU64,
    connect_failures: AtomicU64,
    errors_received: AtomicU64,
    closes: Mutex<BTreeMap<String, u64>>,
    /// Connections the server dropped without a close frame, by the last junk sent.
    dropped_after: Mutex<BTreeMap<&'static str, u64>>,
}

impl Junk {
    fn closed(&self, how: String, last: &'static str) {
        if how.starts_with("no close frame")
            && let Ok(mut dropped) = self.dropped_after.lock()
        {
            *dropped.entry(last).or_default() += 1;
        }
        if let Ok(mut closes) = self.closes.lock() {
            *closes.entry(how).or_default() += 1;
        }
    }
}

/// Runs the hammer and prints its result line.
pub async fn run(args: Args) -> Result<(), String> {
    let addr = address(&args.url)?;
    let seed = args.seed.unwrap_or_else(|| {
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(1, |d| d.as_nanos() as u64)
    });
    let room = format!("hammer-healthy-{seed:x}");
    let (rss_before, _) = rss::of(args.pid)?;
    eprintln!(
        "hammer: {} junk connections for {} s, healthy stream at {}/s (seed {seed})",
        args.connections, args.seconds, args.rate
    );

    // The healthy pair first: both joined before any junk arrives.
    let mut subscriber = Healthy::open(addr, &room).await?;
    let mut publisher = Healthy::open(addr, &room).await?;
    let first_seq = subscriber.joined_seq;

    let stop = Arc::new(AtomicBool::new(false));
    let junk = Arc::new(Junk::default());
    let deadline = Instant::now() + Duration::from_secs(args.seconds);
    let half = Instant::now() + Duration::from_secs(args.seconds) / 2;
    let sampler = tokio::spawn(sample_rss(args.pid, half, stop.clone()));
    let workers: Vec<_> = (0..args.connections)
        .map(|i| {
            let junk = junk.clone();
            let rng = Rng::new(seed ^ (i as u64 + 1).wrapping_mul(0x9E37_79B9_7F4A_7C15));
            tokio::spawn(hammer_one(addr, rng, deadline, junk))
        })
        .collect();

    // The healthy stream: the publisher sends at a steady rate until the deadline; the
    // subscriber checks every message is the next one.
    let progress = Arc::new(Progress::default());
    let watching = progress.clone();
    let receiving = tokio::spawn(async move {
        let outcome = subscriber.receive(first_seq, deadline, &watching).await;
        (subscriber, outcome)
    });
    let published = publisher
        .publish(&room, args.rate, deadline, &progress)
        .await;
    for worker in workers {
        let _ = worker.await;
    }
    let (_subscriber, mut check) = receiving
        .await
        .map_err(|e| format!("the healthy subscriber's task: {e}"))?;
    let (published, acked, publisher_error) = published;
    check.expected = acked;
    let tail = acked.saturating_sub(check.highest);
    check.missing += tail;
    if tail > 0 && check.error.is_none() {
        check.error = Some(format!(
            "the last {tail} of {acked} messages did not arrive within {GRACE:?} of the end"
        ));
    }
    stop.store(true, Ordering::Relaxed);
    let rss = sampler.await.map_err(|e| format!("the RSS sampler: {e}"))?;
    let answers_after = Healthy::open(addr, &format!("{room}-after")).await.is_ok();
    let alive = rss::of(args.pid).is_ok();

    let closes: serde_json::Map<String, Value> = junk
        .closes
        .lock()
        .map(|c| c.iter().map(|(k, v)| (k.clone(), json!(v))).collect())
        .unwrap_or_default();
    let dropped: serde_json::Map<String, Value> = junk
        .dropped_after
        .lock()
        .map(|c| c.iter().map(|(k, v)| ((*k).to_owned(), json!(v))).collect())
        .unwrap_or_default();
    crate::report(&json!({
        "figure": "hammer",
        "seed": seed,
        "seconds": args.seconds,
        "connections": args.connections,
        "frames_sent": junk.frames.load(Ordering::Relaxed),
        "bytes_sent": junk.bytes.load(Ordering::Relaxed),
        "connects": junk.connects.load(Ordering::Relaxed),
        "connect_failures": junk.connect_failures.load(Ordering::Relaxed),
        "errors_received": junk.errors_received.load(Ordering::Relaxed),
        "closes": closes,
        "dropped_after": dropped,
        "healthy_published": published,
        "healthy_expected": check.expected,
        "healthy_received": check.received,
        "healthy_missing": check.missing,
        "healthy_duplicates": check.duplicates,
        "healthy_out_of_order": check.out_of_order,
        "healthy_error": publisher_error.or(check.error),
        "rss_before_kib": rss_before,
        "rss_start_kib": rss.start,
        "rss_mid_kib": rss.mid,
        "rss_peak_kib": rss.peak,
        "rss_end_kib": rss.end,
        "server_alive": alive && rss.alive,
        "server_answers_after": answers_after,
    }));
    Ok(())
}

/// `ws://HOST:PORT[/...]` as a socket address.
fn address(url: &str) -> Result<SocketAddr, String> {
    let rest = url
        .strip_prefix("ws://")
        .ok_or_else(|| format!("{url}: expected ws://HOST:PORT"))?;
    rest.split('/')
        .next()
        .unwrap_or(rest)
        .parse()
        .map_err(|e| format!("{url}: {e}"))
}

/// Opens a WebSocket to `addr` offering `protocols`.
async fn connect(addr: SocketAddr, protocols: &'static str) -> Result<Ws, String> {
    let stream = TcpStream::connect(addr)
        .await
        .map_err(|e| format!("connect {addr}: {e}"))?;
    let _ = stream.set_nodelay(true);
    let mut request = format!("ws://{addr}/")
        .into_client_request()
        .map_err(|e| e.to_string())?;
    request.headers_mut().insert(
        "Sec-WebSocket-Protocol",
        HeaderValue::from_static(protocols),
    );
    let (ws, _) = tokio_tungstenite::client_async(request, stream)
        .await
        .map_err(|e| format!("upgrade: {e}"))?;
    Ok(ws)
}

/// RSS readings of the server, in KiB.
struct RssSamples {
    start: u64,
    /// Half way through the junk: with `start` and `end`, whether it keeps growing.
    mid: u64,
    peak: u64,
    end: u64,
    alive: bool,
}

/// Reads the server's RSS every 100 ms until `stop`, noting it at `half`.
async fn sample_rss(pid: u32, half: Instant, stop: Arc<AtomicBool>) -> RssSamples {
    let mut samples = RssSamples {
        start: 0,
        mid: 0,
        peak: 0,
        end: 0,
        alive: true,
    };
    loop {
        match rss::of(pid) {
            Ok((now, _)) => {
                if samples.start == 0 {
                    samples.start = now;
                }
                if samples.mid == 0 && Instant::now() >= half {
                    samples.mid = now;
                }
                samples.peak = samples.peak.max(now);
                samples.end = now;
            }
            Err(_) => {
                samples.alive = false;
                return samples;
            }
        }
        if stop.load(Ordering::Relaxed) {
            return samples;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// One junk connection, again and again until `deadline`.
async fn hammer_one(addr: SocketAddr, mut rng: Rng, deadline: Instant, junk: Arc<Junk>) {
    while Instant::now() < deadline {
        // Now and then no common subprotocol (the server explains and closes).
        let protocols = if rng.chance(5) {
            "tandem"
        } else {
            "tandem.v1.json, tandem"
        };
        let ws = match tokio::time::timeout(STEP, connect(addr, protocols)).await {
            Ok(Ok(ws)) => ws,
            _ => {
                junk.connect_failures.fetch_add(1, Ordering::Relaxed);
                tokio::time::sleep(Duration::from_millis(50)).await;
                continue;
            }
        };
        junk.connects.fetch_add(1, Ordering::Relaxed);
        let (mut sink, stream) = ws.split();
        let reader = tokio::spawn(read_until_closed(stream, junk.clone()));
        if rng.chance(80) {
            let mut opening = vec![HELLO.to_owned()];
            if rng.chance(70) {
                opening.push(format!(
                    r#"{{"v":1,"k":"join","id":1,"room":"junk-{}"}}"#,
                    rng.below(5)
                ));
            }
            for text in opening {
                if sink.send(Message::text(text)).await.is_err() {
                    break;
                }
            }
        }
        let burst = 1 + rng.below(300);
        let mut sent = 0;
        let mut last = "hello";
        'burst: while sent < burst && Instant::now() < deadline && !reader.is_finished() {
            let (kind, messages) = junk_messages(&mut rng);
            last = kind;
            for message in messages {
                let len = message.len() as u64;
                if sink.send(message).await.is_err() {
                    break 'burst;
                }
                junk.frames.fetch_add(1, Ordering::Relaxed);
                junk.bytes.fetch_add(len, Ordering::Relaxed);
                sent += 1;
            }
            if rng.chance(20) {
                tokio::time::sleep(Duration::from_millis(rng.below(10))).await;
            }
        }
        // End it: a clean close, or the TCP connection simply dropped.
        let wait = if rng.chance(50) {
            let _ = sink.send(Message::Close(None)).await;
            Duration::from_secs(2)
        } else {
            Duration::from_millis(100)
        };
        let how = match tokio::time::timeout(wait, reader).await {
            Ok(Ok(how)) => how,
            Ok(Err(_)) => "reader failed".to_owned(),
            Err(_) => "open (dropped by the hammer)".to_owned(),
        };
        junk.closed(how, last);
    }
}

/// Reads a junk connection until it ends, counting error frames; returns how it ended.
async fn read_until_closed(mut stream: Stream, junk: Arc<Junk>) -> String {
    loop {
        match stream.next().await {
            Some(Ok(Message::Text(text))) => {
                if text.contains(r#""k":"error""#) {
                    junk.errors_received.fetch_add(1, Ordering::Relaxed);
                }
            }
            Some(Ok(Message::Close(Some(frame)))) => return u16::from(frame.code).to_string(),
            Some(Ok(Message::Close(None))) => return "close without code".to_owned(),
            Some(Ok(_)) => {}
            Some(Err(e)) => return format!("no close frame ({})", short(&e.to_string())),
            None => return "no close frame (stream ended)".to_owned(),
        }
    }
}

/// An error's text up to its first `:` (`Connection reset by peer (os error 104)`).
fn short(error: &str) -> String {
    error.chars().take(70).collect()
}

/// The next junk to send, and what kind of junk it is: usually one message, a flood or a
/// fragmented message sometimes.
fn junk_messages(rng: &mut Rng) -> (&'static str, Vec<Message>) {
    let text = |s: String| vec![Message::text(s)];
    let kind = rng.below(16);
    let messages = match kind {
        0 | 1 => text(valid_frame(rng)),
        2..=4 => {
            let mutated = mutate(valid_frame(rng).into_bytes(), rng);
            vec![text_bytes(mutated)]
        }
        5 => text(garbage(rng)),
        6 => text(wrong_kind(rng)),
        7 => text(odd_number(rng)),
        8 => text(deep(rng)),
        9 => {
            let mut bytes = valid_frame(rng).into_bytes();
            let at = rng.below(bytes.len() as u64) as usize;
            bytes.insert(at, [0xff, 0xc3, 0xed, 0x80][rng.below(4) as usize]);
            vec![text_bytes(bytes)]
        }
        10 => vec![Message::binary(random_bytes(rng, 1, 512))],
        11 => {
            // Over the 64 KiB limit, sometimes over twice it (cut off by the socket).
            let size = 65_537 + rng.below(140_000) as usize;
            text(format!(
                r#"{{"v":1,"k":"publish","id":7,"room":"junk-0","data":"{}"}}"#,
                "x".repeat(size)
            ))
        }
        12 => (0..50 + rng.below(400))
            .map(|i| {
                Message::text(format!(
                    r#"{{"v":1,"k":"publish","id":{i},"room":"junk-{}","data":{i}}}"#,
                    rng.below(5)
                ))
            })
            .collect(),
        13 => fragments(rng),
        14 => vec![Message::Ping(random_bytes(rng, 0, 126).into())],
        _ => {
            let code = [
                1000, 1001, 1002, 1003, 1005, 1006, 1007, 1015, 2999, 3000, 4999, 5000,
            ];
            let code = code[rng.below(code.len() as u64) as usize];
            vec![Message::Close(Some(CloseFrame {
                code: CloseCode::from(code),
                reason: "hammer".into(),
            }))]
        }
    };
    let name = match kind {
        0 | 1 => "valid",
        2..=4 => "mutated",
        5 => "not JSON",
        6 => "wrong kind",
        7 => "odd number",
        8 => "deep nesting",
        9 => "invalid UTF-8",
        10 => "binary",
        11 => "oversize",
        12 => "flood",
        13 => "fragments",
        14 => "ping",
        _ => "close with a code",
    };
    (name, messages)
}

/// A text frame of any bytes: a `Text` message when they are UTF-8, else a raw text frame
/// (tungstenite's messages are always UTF-8; the server must see the bad ones too).
fn text_bytes(bytes: Vec<u8>) -> Message {
    match String::from_utf8(bytes) {
        Ok(text) => Message::text(text),
        Err(e) => Message::Frame(Frame::message(
            e.into_bytes(),
            OpCode::Data(Data::Text),
            true,
        )),
    }
}

/// A fragmented text message: in order, or a continuation with no start, or a start
/// followed by another start.
fn fragments(rng: &mut Rng) -> Vec<Message> {
    let frame = valid_frame(rng).into_bytes();
    let at = rng.below(frame.len() as u64) as usize;
    let (head, tail) = frame.split_at(at);
    let text = OpCode::Data(Data::Text);
    let more = OpCode::Data(Data::Continue);
    let raw = |bytes: &[u8], op, last| Message::Frame(Frame::message(bytes.to_vec(), op, last));
    match rng.below(3) {
        0 => vec![raw(head, text, false), raw(tail, more, true)],
        1 => vec![raw(tail, more, true)],
        _ => vec![raw(head, text, false), raw(&frame, text, true)],
    }
}

/// A frame a client may send, with random fields.
fn valid_frame(rng: &mut Rng) -> String {
    let id = rng.below(1000);
    let room = format!("junk-{}", rng.below(5));
    match rng.below(9) {
        0 => HELLO.to_owned(),
        1 => format!(r#"{{"v":1,"k":"join","id":{id},"room":"{room}"}}"#),
        2 => format!(
            r#"{{"v":1,"k":"join","id":{id},"room":"{room}","meta":{{"color":"red"}},"history":{}}}"#,
            rng.below(200)
        ),
        3 => format!(
            r#"{{"v":1,"k":"resume","id":{id},"room":"{room}","epoch":{},"seq":{}}}"#,
            rng.next(),
            rng.below(1 << 53)
        ),
        4 => format!(r#"{{"v":1,"k":"leave","id":{id},"room":"{room}"}}"#),
        5 => format!(
            r#"{{"v":1,"k":"publish","id":{id},"room":"{room}","data":{{"text":"hi","n":[1,2.5,null,true]}}}}"#
        ),
        6 => format!(r#"{{"v":1,"k":"request","id":{id},"room":"{room}","data":{{"op":"x"}}}}"#),
        7 => r#"{"v":1,"k":"ping"}"#.to_owned(),
        _ => r#"{"v":1,"k":"pong"}"#.to_owned(),
    }
}

/// `bytes` with one to four random edits.
fn mutate(mut bytes: Vec<u8>, rng: &mut Rng) -> Vec<u8> {
    const INTERESTING: &[u8] = b"{}[]\",:\\0-1e.nt \x00\x7f\xff\xc3";
    for _ in 0..1 + rng.below(4) {
        if bytes.is_empty() {
            bytes.push(b'{');
        }
        let len = bytes.len() as u64;
        let at = rng.below(len) as usize;
        let span = 1 + rng.below(len - at as u64) as usize;
        match rng.below(6) {
            0 => bytes[at] ^= 1 << rng.below(8),
            1 => bytes[at] = INTERESTING[rng.below(INTERESTING.len() as u64) as usize],
            2 => bytes.insert(
                at,
                INTERESTING[rng.below(INTERESTING.len() as u64) as usize],
            ),
            3 => {
                bytes.drain(at..at + span);
            }
            4 => {
                let copy = bytes[at..at + span].to_vec();
                bytes.splice(at..at, copy);
            }
            _ => bytes.truncate(at),
        }
    }
    bytes
}

/// Text that is not JSON, or JSON that is not an object.
fn garbage(rng: &mut Rng) -> String {
    match rng.below(6) {
        0 => String::new(),
        1 => "{".repeat(1 + rng.below(50) as usize),
        2 => "[1,2,3]".to_owned(),
        3 => "null".to_owned(),
        4 => r#"{"v":1,"k":"publish","id":1,"room":"junk-0","data":{"a":1,"a":2}}"#.to_owned(),
        _ => random_bytes(rng, 1, 200)
            .into_iter()
            .map(|b| char::from(b' ' + b % 95))
            .collect(),
    }
}

/// Kinds that travel the other way, do not exist, or are not strings.
fn wrong_kind(rng: &mut Rng) -> String {
    let kinds = [
        r#""event""#,
        r#""welcome""#,
        r#""joined""#,
        r#""ack""#,
        r#""error""#,
        r#""nope""#,
        r#""""#,
        "7",
        "null",
        r#"["join"]"#,
    ];
    let kind = kinds[rng.below(kinds.len() as u64) as usize];
    format!(
        r#"{{"v":1,"k":{kind},"id":{},"room":"junk-1","seq":1,"data":1}}"#,
        rng.below(9)
    )
}

/// Ids and numbers out of every range, and versions that do not exist.
fn odd_number(rng: &mut Rng) -> String {
    let numbers = [
        "18446744073709551615",
        "18446744073709551616",
        "99999999999999999999999999999",
        "9007199254740993",
        "-1",
        "-0",
        "1.5",
        "1e308",
        "1e999",
        r#""1""#,
        "true",
    ];
    let n = numbers[rng.below(numbers.len() as u64) as usize];
    match rng.below(4) {
        0 => format!(r#"{{"v":1,"k":"join","id":{n},"room":"junk-2"}}"#),
        1 => format!(r#"{{"v":{n},"k":"ping"}}"#),
        2 => format!(r#"{{"v":1,"k":"resume","id":3,"room":"junk-2","epoch":{n},"seq":{n}}}"#),
        _ => format!(r#"{{"v":1,"k":"join","id":4,"room":"junk-2","history":{n}}}"#),
    }
}

/// Payloads and frames nested deeper than any reader allows.
fn deep(rng: &mut Rng) -> String {
    let depth = 100 + rng.below(20_000) as usize;
    let (open, close) = if rng.chance(50) {
        ("[", "]")
    } else {
        (r#"{"a":"#, "}")
    };
    let value = format!("{}1{}", open.repeat(depth), close.repeat(depth));
    if rng.chance(50) {
        format!(r#"{{"v":1,"k":"publish","id":5,"room":"junk-3","data":{value}}}"#)
    } else {
        value
    }
}

/// `least` to `least + spread - 1` random bytes.
fn random_bytes(rng: &mut Rng, least: u64, spread: u64) -> Vec<u8> {
    let len = least + rng.below(spread);
    (0..len).map(|_| rng.next() as u8).collect()
}

/// A small, seedable generator (splitmix64): the junk is reproducible from the seed.
struct Rng(u64);

impl Rng {
    fn new(seed: u64) -> Self {
        Rng(seed)
    }

    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// A number in `0..n` (0 when `n` is 0).
    fn below(&mut self, n: u64) -> u64 {
        if n == 0 { 0 } else { self.next() % n }
    }

    /// True `percent` times in a hundred.
    fn chance(&mut self, percent: u64) -> bool {
        self.below(100) < percent
    }
}

/// How far the healthy publisher got: the subscriber stops once it has every message.
#[derive(Default)]
struct Progress {
    published: AtomicU64,
    done: AtomicBool,
}

/// What the healthy subscriber saw.
#[derive(Default)]
struct Check {
    expected: u64,
    received: u64,
    missing: u64,
    duplicates: u64,
    out_of_order: u64,
    /// The highest number received in order.
    highest: u64,
    error: Option<String>,
}

/// A well-behaved tandem client: hello, welcome, join, joined, then a stream.
struct Healthy {
    sink: Sink,
    stream: Stream,
    joined_seq: u64,
}

impl Healthy {
    /// Connects, says hello and joins `room`.
    async fn open(addr: SocketAddr, room: &str) -> Result<Healthy, String> {
        let ws = tokio::time::timeout(STEP, connect(addr, "tandem.v1.json"))
            .await
            .map_err(|_| "healthy connect: timed out".to_owned())??;
        let (sink, stream) = ws.split();
        let mut healthy = Healthy {
            sink,
            stream,
            joined_seq: 0,
        };
        healthy.send(HELLO).await?;
        healthy.expect("welcome").await?;
        let room_json = serde_json::to_string(room).map_err(|e| e.to_string())?;
        healthy
            .send(&format!(
                r#"{{"v":1,"k":"join","id":1,"room":{room_json}}}"#
            ))
            .await?;
        let joined = healthy.expect("joined").await?;
        healthy.joined_seq = joined["seq"].as_u64().unwrap_or(0);
        Ok(healthy)
    }

    async fn send(&mut self, text: &str) -> Result<(), String> {
        self.sink
            .send(Message::text(text))
            .await
            .map_err(|e| format!("healthy send: {e}"))
    }

    /// The next frame (answering pings), or why there is none.
    async fn next(&mut self) -> Result<Value, String> {
        loop {
            let message = self
                .stream
                .next()
                .await
                .ok_or("the server closed a healthy connection")?
                .map_err(|e| format!("healthy read: {e}"))?;
            let text = match message {
                Message::Text(text) => text,
                Message::Close(frame) => {
                    return Err(format!("the server closed a healthy connection: {frame:?}"));
                }
                _ => continue,
            };
            let frame: Value =
                serde_json::from_str(&text).map_err(|e| format!("healthy read: {e}: {text}"))?;
            if frame["k"] == "ping" {
                self.send(r#"{"v":1,"k":"pong"}"#).await?;
                continue;
            }
            return Ok(frame);
        }
    }

    /// Reads until a frame of `kind`; an error frame fails.
    async fn expect(&mut self, kind: &str) -> Result<Value, String> {
        tokio::time::timeout(STEP, async {
            loop {
                let frame = self.next().await?;
                if frame["k"] == kind {
                    return Ok(frame);
                }
                if frame["k"] == "error" {
                    return Err(format!("the server refused a healthy client: {frame}"));
                }
            }
        })
        .await
        .map_err(|_| format!("no `{kind}` within {STEP:?}"))?
    }

    /// Publishes `1, 2, 3, …` into `room` at `rate` per second until `deadline`, reading
    /// acks meanwhile; then waits for the last acks. Returns (published, acked, error).
    async fn publish(
        &mut self,
        room: &str,
        rate: u32,
        deadline: Instant,
        progress: &Progress,
    ) -> (u64, u64, Option<String>) {
        let room = serde_json::to_string(room).unwrap_or_default();
        let mut tick = tokio::time::interval(Duration::from_secs(1) / rate.max(1));
        let (mut published, mut acked) = (0u64, 0u64);
        loop {
            tokio::select! {
                _ = tick.tick() => {
                    if Instant::now() >= deadline {
                        break;
                    }
                    published += 1;
                    progress.published.store(published, Ordering::Relaxed);
                    let frame = format!(
                        r#"{{"v":1,"k":"publish","id":{published},"room":{room},"data":{published}}}"#
                    );
                    if let Err(e) = self.send(&frame).await {
                        return (published, acked, Some(format!("healthy publisher: {e}")));
                    }
                }
                frame = self.next() => match frame {
                    Ok(f) if f["k"] == "ack" => acked += 1,
                    Ok(f) if f["k"] == "error" => {
                        return (published, acked, Some(format!("healthy publisher got {f}")));
                    }
                    Ok(_) => {}
                    Err(e) => return (published, acked, Some(format!("healthy publisher: {e}"))),
                },
            }
        }
        progress.done.store(true, Ordering::Relaxed);
        let waited = tokio::time::timeout(GRACE, async {
            while acked < published {
                match self.next().await {
                    Ok(f) if f["k"] == "ack" => acked += 1,
                    Ok(_) => {}
                    Err(e) => return Some(e),
                }
            }
            None
        })
        .await;
        let error = match waited {
            Ok(error) => error.map(|e| format!("healthy publisher: {e}")),
            Err(_) => Some(format!("{acked} of {published} publishes acked")),
        };
        (published, acked, error)
    }

    /// Receives the healthy stream: each event must carry the next seq and the next
    /// number. Pings the server every 5 s (a quiet client would be taken for dead); stops
    /// once the publisher is done and every message is in, or [`GRACE`] after `deadline`.
    async fn receive(&mut self, first_seq: u64, deadline: Instant, progress: &Progress) -> Check {
        let mut check = Check::default();
        let mut last_seq = first_seq;
        let mut next_data = 1u64;
        let mut ping = tokio::time::interval(Duration::from_secs(5));
        loop {
            let complete = progress.done.load(Ordering::Relaxed)
                && next_data > progress.published.load(Ordering::Relaxed);
            if complete || Instant::now() >= deadline + GRACE {
                return check;
            }
            tokio::select! {
                _ = ping.tick() => {
                    if let Err(e) = self.send(r#"{"v":1,"k":"ping"}"#).await {
                        check.error = Some(e);
                        return check;
                    }
                }
                _ = tokio::time::sleep(Duration::from_millis(200)) => {}
                frame = self.next() => {
                    let frame = match frame {
                        Ok(frame) => frame,
                        Err(e) => {
                            check.error = Some(e);
                            return check;
                        }
                    };
                    if frame["k"] != "event" {
                        continue;
                    }
                    let seq = frame["seq"].as_u64().unwrap_or(0);
                    let data = frame["data"].as_u64().unwrap_or(0);
                    check.received += 1;
                    if seq <= last_seq || data < next_data {
                        check.duplicates += 1;
                        continue;
                    }
                    if seq != last_seq + 1 || data != next_data {
                        check.out_of_order += 1;
                        check.missing += data.saturating_sub(next_data);
                    }
                    last_seq = seq;
                    next_data = data + 1;
                    check.highest = data;
                }
            }
        }
    }
}
