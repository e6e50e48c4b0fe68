//! Prometheus metrics: what is counted and how it is rendered (the OpenMetrics text
//! format, with `prometheus-client`); `scrape.rs` serves it (`GET /metrics`,
//! `Handle::serve_metrics`).
//!
//! Counting costs the fan-out nothing it would notice. The core task, which sees every
//! command, frame and close, keeps plain numbers ([`CoreCounters`]); the protocol counts
//! what only it knows ([`tandem_proto::Stats`]). Both are read on a scrape, through a
//! command to the core. What other tasks see (refused handshakes, the time of each
//! broker call) is counted in `prometheus-client`'s atomic metrics ([`Metrics`], shared
//! by every task).
//!
//! No label carries a room name, a user or anything else a client chooses: each label has
//! a fixed, small set of values (a peer's close code outside 1000–1015 counts as `other`).

use std::collections::BTreeMap;
use std::future::Future;

use prometheus_client::encoding::{EncodeLabelSet, EncodeMetric, MetricEncoder, NoLabelSet};
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::metrics::info::Info;
use prometheus_client::metrics::{MetricType, TypedMetric};
use prometheus_client::registry::{Registry, Unit};
use tandem_proto::{ErrorCode, FrameClass, Server as Protocol, Stats};

use crate::broker::{Broker, BrokerError};

/// The `Content-Type` of `/metrics`.
pub(crate) const CONTENT_TYPE: &str = "application/openmetrics-text; version=1.0.0; charset=utf-8";

/// The HTTP statuses a refused handshake gets, each reported from zero.
const REFUSALS: [u16; 5] = [400, 403, 408, 431, 503];

/// The `error` codes of a frame the server could not take (`tandem_bad_frames_total`).
const BAD_FRAMES: [ErrorCode; 5] = [
    ErrorCode::MalformedFrame,
    ErrorCode::UnknownKind,
    ErrorCode::MissingField,
    ErrorCode::WrongType,
    ErrorCode::UnexpectedFrame,
];

/// The `error` codes of a refused hello or join (`tandem_auth_failures_total`).
const AUTH_FAILURES: [ErrorCode; 3] = [
    ErrorCode::Unauthorized,
    ErrorCode::TokenExpired,
    ErrorCode::Forbidden,
];

/// Upper bounds of the outbox depth histogram, in frames.
const DEPTH_BOUNDS: [u64; 13] = [1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024, 4096, 16384];

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct StatusLabel {
    status: u16,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct OpLabel {
    op: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct KindLabel {
    kind: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ClassLabel {
    class: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct CodeLabel {
    code: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct CloseLabel {
    by: &'static str,
    code: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ReasonLabel {
    reason: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RecoveredLabel {
    recovered: bool,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct BrokerLabel {
    broker: &'static str,
}

/// A cluster broker's call, timed by [`Metrics::timed`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum BrokerOp {
    Publish,
    Sync,
    Depart,
    Update,
    History,
    Watch,
}

impl BrokerOp {
    fn name(self) -> &'static str {
        match self {
            BrokerOp::Publish => "publish",
            BrokerOp::Sync => "sync",
            BrokerOp::Depart => "depart",
            BrokerOp::Update => "update",
            BrokerOp::History => "history",
            BrokerOp::Watch => "watch",
        }
    }
}

/// What tasks other than the core count: atomics, shared by every task.
#[derive(Debug)]
pub(crate) struct Metrics {
    refused: Family<StatusLabel, Counter>,
    broker_seconds: Family<OpLabel, Histogram>,
    broker_errors: Family<OpLabel, Counter>,
}

impl Default for Metrics {
    fn default() -> Self {
        let refused = Family::<StatusLabel, Counter>::default();
        for status in REFUSALS {
            let _ = refused.get_or_create(&StatusLabel { status });
        }
        Metrics {
            refused,
            // 100 µs to about 13 s.
            broker_seconds: Family::new_with_constructor(|| {
                Histogram::new(exponential_buckets(0.0001, 2.0, 18))
            }),
            broker_errors: Family::default(),
        }
    }
}

impl Metrics {
    /// A handshake was answered with `status` instead of an upgrade.
    pub(crate) fn handshake_refused(&self, status: u16) {
        self.refused.get_or_create(&StatusLabel { status }).inc();
    }

    /// `call`, with its time from now to its answer recorded as a `op` call (and its
    /// failure counted).
    pub(crate) fn timed<T, F>(
        &self,
        op: BrokerOp,
        call: F,
    ) -> impl Future<Output = Result<T, BrokerError>> + use<T, F>
    where
        F: Future<Output = Result<T, BrokerError>>,
    {
        let label = OpLabel { op: op.name() };
        let seconds = self.broker_seconds.get_or_create_owned(&label);
        let errors = self.broker_errors.clone();
        let started = std::time::Instant::now();
        async move {
            let result = call.await;
            seconds.observe(started.elapsed().as_secs_f64());
            if result.is_err() {
                errors.get_or_create(&label).inc();
            }
            result
        }
    }
}

/// Who closed a connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) enum Side {
    /// The server (a protocol rule, a slow consumer, a shutdown).
    Server,
    /// The peer's close frame, or the socket dropping.
    Client,
}

/// A peer's close without a code (the socket dropped).
const NO_CODE: u16 = 0;
/// A peer's close code outside 1000–1015 (so a client cannot make new series).
const OTHER_CODE: u16 = u16::MAX;

/// The outbox depth histogram: plain counts, kept by the core.
#[derive(Debug, Clone, Default)]
pub(crate) struct Depth {
    /// Per bucket of [`DEPTH_BOUNDS`], then beyond the last.
    counts: [u64; DEPTH_BOUNDS.len() + 1],
    sum: u64,
}

impl Depth {
    fn observe(&mut self, depth: usize) {
        let d = depth as u64;
        let i = if d <= 1024 {
            // The first power of two at or above `d`: 1 -> 0, 2 -> 1, 3..=4 -> 2, ...
            (u64::BITS - d.saturating_sub(1).leading_zeros()) as usize
        } else {
            DEPTH_BOUNDS
                .iter()
                .position(|&b| d <= b)
                .unwrap_or(DEPTH_BOUNDS.len())
        };
        self.counts[i] += 1;
        self.sum += d;
    }
}

impl TypedMetric for Depth {
    const TYPE: MetricType = MetricType::Histogram;
}

impl EncodeMetric for Depth {
    fn encode(&self, mut encoder: MetricEncoder) -> Result<(), std::fmt::Error> {
        let buckets: Vec<(f64, u64)> = DEPTH_BOUNDS
            .iter()
            .map(|&b| b as f64)
            .chain([f64::MAX])
            .zip(self.counts)
            .collect();
        let count = self.counts.iter().sum();
        encoder.encode_histogram::<NoLabelSet>(self.sum as f64, count, &buckets, None)
    }

    fn metric_type(&self) -> MetricType {
        MetricType::Histogram
    }
}

/// What the core task counts: plain numbers, only the core writes them.
#[derive(Debug, Clone, Default)]
pub(crate) struct CoreCounters {
    /// WebSocket connections handed to the core.
    pub connects: u64,
    /// Text messages received, and their bytes.
    frames_in: u64,
    bytes_in: u64,
    /// Frames queued for connections, and their bytes, by [`FrameClass`].
    frames_out: [u64; 3],
    bytes_out: [u64; 3],
    /// Ephemeral frames dropped for a reader that is behind.
    pub shed: u64,
    /// Frames refused to a slow consumer (the first of them closes it).
    pub refused: u64,
    /// Connections closed as slow consumers.
    pub slow_consumers: u64,
    closes: BTreeMap<(Side, u16), u64>,
    depth: Depth,
}

fn class_index(class: FrameClass) -> usize {
    match class {
        FrameClass::Live => 0,
        FrameClass::Ephemeral => 1,
        FrameClass::Replay => 2,
    }
}

const CLASSES: [&str; 3] = ["live", "ephemeral", "replay"];

impl CoreCounters {
    /// A text message of `bytes` arrived.
    #[inline]
    pub(crate) fn received(&mut self, bytes: usize) {
        self.frames_in += 1;
        self.bytes_in += bytes as u64;
    }

    /// A frame of `bytes` was queued; the connection's queue now holds `depth` frames.
    #[inline]
    pub(crate) fn pushed(&mut self, class: FrameClass, bytes: usize, depth: usize) {
        let i = class_index(class);
        self.frames_out[i] += 1;
        self.bytes_out[i] += bytes as u64;
        self.depth.observe(depth);
    }

    /// A connection closed, by `side`, with `code` (`None`: the socket dropped).
    pub(crate) fn closed(&mut self, side: Side, code: Option<u16>) {
        let code = match code {
            None => NO_CODE,
            Some(c) if side == Side::Server || (1000..=1015).contains(&c) => c,
            Some(_) => OTHER_CODE,
        };
        *self.closes.entry((side, code)).or_default() += 1;
    }
}

/// What a scrape reads from the core.
#[derive(Debug)]
pub(crate) struct Snapshot {
    counters: CoreCounters,
    stats: Stats,
    rooms: usize,
    subscriptions: usize,
}

impl Snapshot {
    /// The core's numbers now.
    pub(crate) fn of(protocol: &Protocol, counters: &CoreCounters) -> Box<Self> {
        Box::new(Snapshot {
            counters: counters.clone(),
            stats: protocol.stats(),
            rooms: protocol.hub().room_count(),
            subscriptions: protocol.hub().subscription_count(),
        })
    }
}

fn counter(value: u64) -> Counter {
    let c = Counter::default();
    c.inc_by(value);
    c
}

fn gauge(value: u64) -> Gauge {
    let g = Gauge::default();
    g.set(i64::try_from(value).unwrap_or(i64::MAX));
    g
}

fn counters<L, I>(values: I) -> Family<L, Counter>
where
    L: EncodeLabelSet + Clone + std::hash::Hash + Eq + std::fmt::Debug + Send + Sync + 'static,
    I: IntoIterator<Item = (L, u64)>,
{
    let family = Family::<L, Counter>::default();
    for (label, value) in values {
        family.get_or_create(&label).inc_by(value);
    }
    family
}

/// Renders every metric in the OpenMetrics text format: `metrics`, the `open`
/// connections, the `broker`'s state and the `core`'s numbers (`None` when the core task did
/// not answer, as the server stops: its series are left out).
pub(crate) fn render(
    metrics: &Metrics,
    open: usize,
    broker: &dyn Broker,
    core: Option<&Snapshot>,
) -> String {
    let mut r = Registry::with_prefix("tandem");
    let mut build = vec![("version", env!("CARGO_PKG_VERSION"))];
    if let Some(git) = option_env!("TANDEM_GIT_HASH").filter(|g| !g.is_empty()) {
        build.push(("git", git));
    }
    r.register(
        "build",
        "The server's version (and git commit, when built with TANDEM_GIT_HASH)",
        Info::new(build),
    );
    r.register(
        "connections",
        "Open WebSocket connections",
        gauge(open as u64),
    );
    r.register(
        "handshakes_refused",
        "HTTP handshakes answered with an error status instead of an upgrade",
        metrics.refused.clone(),
    );
    let up = u64::from(broker.is_healthy());
    let broker = BrokerLabel {
        broker: broker.name(),
    };
    r.register(
        "broker_up",
        "Whether the broker is reachable (1) or not (0)",
        broker_gauge(broker, up),
    );
    r.register_with_unit(
        "broker_request_duration",
        "Time of each call to the cluster's broker, until its answer",
        Unit::Seconds,
        metrics.broker_seconds.clone(),
    );
    r.register(
        "broker_errors",
        "Calls to the cluster's broker that failed",
        metrics.broker_errors.clone(),
    );
    if let Some(s) = core {
        register_core(&mut r, s);
    }
    let mut text = String::new();
    // Writing into a String cannot fail.
    let _ = prometheus_client::encoding::text::encode(&mut text, &r);
    text
}

fn broker_gauge(label: BrokerLabel, value: u64) -> Family<BrokerLabel, Gauge> {
    let family = Family::<BrokerLabel, Gauge>::default();
    family
        .get_or_create(&label)
        .set(i64::try_from(value).unwrap_or(i64::MAX));
    family
}

fn register_core(r: &mut Registry, s: &Snapshot) {
    let (c, stats) = (&s.counters, &s.stats);
    r.register(
        "connections_opened",
        "WebSocket connections accepted since the start",
        counter(c.connects),
    );
    r.register("rooms", "Rooms this node keeps", gauge(s.rooms as u64));
    r.register(
        "room_members",
        "Connections in rooms on this node (a connection once per room)",
        gauge(s.subscriptions as u64),
    );
    let kinds = |numbered, ephemeral| {
        counters([
            (KindLabel { kind: "numbered" }, numbered),
            (KindLabel { kind: "ephemeral" }, ephemeral),
        ])
    };
    r.register(
        "publishes",
        "Members' publishes taken, numbered or ephemeral",
        kinds(stats.publishes_numbered, stats.publishes_ephemeral),
    );
    r.register(
        "deliveries",
        "Events sent live, one per receiving connection, numbered or ephemeral",
        kinds(stats.deliveries_numbered, stats.deliveries_ephemeral),
    );
    r.register(
        "received_frames",
        "Text messages received from clients",
        counter(c.frames_in),
    );
    r.register_with_unit(
        "received",
        "Bytes of text messages received from clients",
        Unit::Bytes,
        counter(c.bytes_in),
    );
    let by_class = |values: [u64; 3]| {
        counters(
            CLASSES
                .into_iter()
                .zip(values)
                .map(|(class, v)| (ClassLabel { class }, v)),
        )
    };
    r.register(
        "sent_frames",
        "Frames queued for clients, by class (live, ephemeral, replay)",
        by_class(c.frames_out),
    );
    r.register_with_unit(
        "sent",
        "Bytes of frames queued for clients (before WebSocket framing), by class",
        Unit::Bytes,
        by_class(c.bytes_out),
    );
    r.register(
        "dropped_frames",
        "Frames not queued: ephemeral ones shed for a reader that is behind, and those refused to a slow consumer",
        counters([
            (ReasonLabel { reason: "shed" }, c.shed),
            (ReasonLabel { reason: "slow_consumer" }, c.refused),
        ]),
    );
    r.register(
        "slow_consumers",
        "Connections closed with 1013 because their outbound queue was full",
        counter(c.slow_consumers),
    );
    r.register("joins", "Fresh joins done", counter(stats.joins));
    r.register(
        "resumes",
        "Resumes done, by whether the replay covered the whole gap",
        counters([
            (RecoveredLabel { recovered: true }, stats.resumes_recovered),
            (RecoveredLabel { recovered: false }, stats.resumes_lost),
        ]),
    );
    r.register(
        "replayed_messages",
        "Stored messages replayed by joins and resumes",
        counter(stats.replayed),
    );
    let closes = c.closes.iter().map(|(&(side, code), &n)| {
        let by = match side {
            Side::Server => "server",
            Side::Client => "client",
        };
        let code = match code {
            NO_CODE => "none".to_owned(),
            OTHER_CODE => "other".to_owned(),
            c => c.to_string(),
        };
        (CloseLabel { by, code }, n)
    });
    r.register(
        "closes",
        "Connections closed, by who closed (server, client) and the close code (none: the socket dropped)",
        counters(closes),
    );
    let by_code = |codes: &[ErrorCode]| {
        counters(codes.iter().map(|&code| {
            let label = CodeLabel {
                code: code.as_str(),
            };
            (label, stats.errors(code))
        }))
    };
    r.register(
        "bad_frames",
        "Frames answered with an error because they could not be taken, by class",
        {
            let family = Family::<ClassLabel, Counter>::default();
            for code in BAD_FRAMES {
                let class = code.as_str();
                family
                    .get_or_create(&ClassLabel { class })
                    .inc_by(stats.errors(code));
            }
            family
        },
    );
    r.register(
        "rate_limited_frames",
        "Frames dropped with a rate_limited error",
        counter(stats.errors(ErrorCode::RateLimited)),
    );
    r.register(
        "auth_failures",
        "Refused hellos (unauthorized, token_expired) and joins (forbidden)",
        by_code(&AUTH_FAILURES),
    );
    let mut all = ErrorCode::KNOWN.to_vec();
    all.push(ErrorCode::Unknown);
    r.register(
        "error_frames",
        "Every error frame sent, by code",
        by_code(&all),
    );
    r.register(
        "outbox_depth",
        "Frames queued for a connection, observed at each push",
        c.depth.clone(),
    );
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    /// The value of the sample `name` (with its labels, as written) in `text`.
    fn sample(text: &str, name: &str) -> Option<f64> {
        text.lines()
            .find_map(|l| l.strip_prefix(name)?.strip_prefix(' '))
            .and_then(|v| v.parse().ok())
    }

    #[test]
    fn depth_buckets_are_powers_of_two_then_wider() {
        let mut d = Depth::default();
        for depth in [1, 2, 3, 4, 5, 1024, 1025, 5000, 100_000] {
            d.observe(depth);
        }
        assert_eq!(d.counts[0], 1); // 1
        assert_eq!(d.counts[1], 1); // 2
        assert_eq!(d.counts[2], 2); // 3, 4
        assert_eq!(d.counts[3], 1); // 5
        assert_eq!(d.counts[10], 1); // 1024
        assert_eq!(d.counts[11], 1); // 1025 within 4096
        assert_eq!(d.counts[12], 1); // 5000 within 16384
        assert_eq!(d.counts[13], 1); // beyond
        assert_eq!(d.sum, 1 + 2 + 3 + 4 + 5 + 1024 + 1025 + 5000 + 100_000);
    }

    #[tokio::test]
    async fn broker_calls_are_timed_by_operation_and_failures_counted() {
        let metrics = Metrics::default();
        let ok = metrics.timed(BrokerOp::Publish, async { Ok::<u64, BrokerError>(1) });
        assert_eq!(ok.await, Ok(1));
        let down = BrokerError::Unavailable("down".into());
        let failed = metrics.timed(BrokerOp::Publish, async { Err::<u64, _>(down) });
        assert!(failed.await.is_err());
        let synced = metrics.timed(BrokerOp::Sync, async { Ok::<(), BrokerError>(()) });
        synced.await.unwrap();
        let broker = crate::broker::MemoryBroker::default();
        let text = render(&metrics, 0, &broker, None);
        let count = "tandem_broker_request_duration_seconds_count";
        assert_eq!(
            sample(&text, &format!("{count}{{op=\"publish\"}}")),
            Some(2.0)
        );
        assert_eq!(sample(&text, &format!("{count}{{op=\"sync\"}}")), Some(1.0));
        let errors = "tandem_broker_errors_total";
        assert_eq!(
            sample(&text, &format!("{errors}{{op=\"publish\"}}")),
            Some(1.0)
        );
        assert_eq!(sample(&text, &format!("{errors}{{op=\"sync\"}}")), None);
        assert!(text.contains("# UNIT tandem_broker_request_duration_seconds seconds"));
    }

    #[test]
    fn a_peer_cannot_make_new_close_series() {
        let mut c = CoreCounters::default();
        c.closed(Side::Client, Some(1000));
        c.closed(Side::Client, Some(4321));
        c.closed(Side::Client, Some(3999));
        c.closed(Side::Client, None);
        c.closed(Side::Server, Some(4001));
        let keys: Vec<_> = c.closes.keys().copied().collect();
        assert_eq!(
            keys,
            [
                (Side::Server, 4001),
                (Side::Client, NO_CODE),
                (Side::Client, 1000),
                (Side::Client, OTHER_CODE)
            ]
        );
        assert_eq!(c.closes[&(Side::Client, OTHER_CODE)], 2);
    }

    #[test]
    fn the_text_has_every_series_with_its_value() {
        let mut counters = CoreCounters {
            connects: 3,
            slow_consumers: 1,
            shed: 4,
            ..CoreCounters::default()
        };
        counters.received(10);
        counters.pushed(FrameClass::Live, 100, 1);
        counters.pushed(FrameClass::Ephemeral, 7, 3);
        counters.closed(Side::Server, Some(1013));
        counters.closed(Side::Client, None);
        let mut protocol = Protocol::new(tandem_proto::ServerConfig::default(), 1);
        let now = tandem_proto::Instant::from_millis(0);
        protocol.handle_connect(now, 1, "tandem.v1.json");
        let hello = r#"{"v":1,"k":"hello","app":{"name":"default","versions":[1]}}"#;
        protocol.handle_message(now, 1, hello.as_bytes());
        protocol.handle_message(now, 1, b"{nope");
        let snapshot = Snapshot::of(&protocol, &counters);
        let metrics = Metrics::default();
        metrics.handshake_refused(403);
        let broker = crate::broker::MemoryBroker::default();
        let text = render(&metrics, 2, &broker, Some(&snapshot));
        for (name, value) in [
            ("tandem_connections", 2.0),
            ("tandem_connections_opened_total", 3.0),
            ("tandem_handshakes_refused_total{status=\"403\"}", 1.0),
            ("tandem_handshakes_refused_total{status=\"408\"}", 0.0),
            ("tandem_broker_up{broker=\"memory\"}", 1.0),
            ("tandem_received_frames_total", 1.0),
            ("tandem_received_bytes_total", 10.0),
            ("tandem_sent_frames_total{class=\"live\"}", 1.0),
            ("tandem_sent_bytes_total{class=\"ephemeral\"}", 7.0),
            ("tandem_dropped_frames_total{reason=\"shed\"}", 4.0),
            ("tandem_slow_consumers_total", 1.0),
            ("tandem_closes_total{by=\"server\",code=\"1013\"}", 1.0),
            ("tandem_closes_total{by=\"client\",code=\"none\"}", 1.0),
            ("tandem_bad_frames_total{class=\"malformed_frame\"}", 1.0),
            ("tandem_bad_frames_total{class=\"wrong_type\"}", 0.0),
            ("tandem_error_frames_total{code=\"malformed_frame\"}", 1.0),
            ("tandem_auth_failures_total{code=\"unauthorized\"}", 0.0),
            ("tandem_publishes_total{kind=\"numbered\"}", 0.0),
            ("tandem_resumes_total{recovered=\"false\"}", 0.0),
            ("tandem_outbox_depth_count", 2.0),
            ("tandem_outbox_depth_sum", 4.0),
            ("tandem_outbox_depth_bucket{le=\"1.0\"}", 1.0),
            ("tandem_outbox_depth_bucket{le=\"4.0\"}", 2.0),
            ("tandem_outbox_depth_bucket{le=\"+Inf\"}", 2.0),
        ] {
            assert_eq!(sample(&text, name), Some(value), "{name} in\n{text}");
        }
        assert!(text.contains("tandem_build_info{version=\""), "{text}");
        assert!(text.ends_with("# EOF\n"), "{text}");
        // Without the core (stopping), its series are left out and the rest stays.
        let text = render(&metrics, 0, &broker, None);
        assert!(!text.contains("tandem_publishes"), "{text}");
        assert!(text.contains("tandem_handshakes_refused_total"), "{text}");
    }
}
