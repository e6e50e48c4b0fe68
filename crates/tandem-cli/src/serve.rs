//! `tandem serve` and `tandem token`.

use std::net::SocketAddr;
use std::process::ExitCode;
use std::sync::Arc;

use clap::Args;
use core::time::Duration;
use tandem_proto::{AppSchema, HubConfig, ServerConfig, close};
use tandem_proto::{ErrorBody, ErrorCode};
use tandem_redis::{RedisBroker, RedisOptions};
use tandem_server::{HookEvent, Limits, OriginPolicy, RoomPolicy, Server, TlsConfig};

use crate::admin;
use crate::hooks::HookFlags;
use crate::logs::{self, LogFormat};
use crate::tokens::{self, TokenFlags};
use crate::{duration, rooms};

/// Flags of `tandem serve`. Every limit defaults to tandem_server::Limits::default() (IO
/// limits) or tandem_proto::ServerConfig::default() (protocol limits).
#[derive(Debug, Args)]
pub struct ServeArgs {
    /// Address to listen on; port 0 picks a free port. The chosen address is printed as
    /// `tandem listening on http://<addr>` (`https://` with --tls-cert).
    #[arg(long, env = "TANDEM_ADDR", default_value = "127.0.0.1:8080")]
    addr: SocketAddr,

    /// A browser origin allowed to connect besides the server's own host, as
    /// scheme://host[:port]; repeat for several. By default only pages served from the
    /// same host:port may connect (clients sending no Origin, like native ones, always may).
    #[arg(long = "allow-origin", value_name = "ORIGIN")]
    allow_origins: Vec<String>,

    /// Accept WebSocket upgrades from any browser origin (development only).
    #[arg(long, conflicts_with = "allow_origins")]
    any_origin: bool,

    /// The application schema name clients must offer in hello.
    #[arg(long, default_value = "default")]
    app: String,

    /// An application schema version the server speaks; repeat for several.
    #[arg(long = "app-version", default_values_t = [1u32])]
    app_versions: Vec<u32>,

    /// Largest message in bytes; bigger ones close the connection with 1009.
    #[arg(long, default_value_t = ServerConfig::default().max_frame_bytes)]
    max_message_bytes: usize,

    /// Sustained messages per second per connection; a flood gets `rate_limited` errors,
    /// then close 1008.
    #[arg(long, default_value_t = ServerConfig::default().rate.per_second)]
    rate: u32,

    /// Messages a connection may send at once above --rate.
    #[arg(long, default_value_t = ServerConfig::default().rate.burst)]
    burst: u32,

    /// Frames queued for one connection before it counts as a slow consumer (close 1013).
    #[arg(long, default_value_t = Limits::default().outbound_queue)]
    outbound_queue: usize,

    /// Time a new connection has to send its HTTP upgrade request head (slower: 408).
    #[arg(long, value_parser = duration::parse, default_value = "10s")]
    http_head_timeout: Duration,

    /// Time a connection has, from its WebSocket upgrade, to send hello (slower: close
    /// 4008).
    #[arg(long, value_parser = duration::parse, default_value = "10s")]
    hello_timeout: Duration,

    /// Largest HTTP request head in bytes (bigger: 431).
    #[arg(long, default_value_t = Limits::default().max_header_bytes)]
    max_header_bytes: usize,

    /// Rooms one connection may be in at once.
    #[arg(long, default_value_t = HubConfig::default().max_rooms_per_conn)]
    max_rooms: usize,

    /// WebSocket read buffer per connection in bytes (allocated up front; also the most
    /// one read takes: raise it for many large messages).
    #[arg(long, default_value_t = Limits::default().read_buffer_bytes)]
    read_buffer_bytes: usize,

    /// Most bytes framed and written at once per connection (the buffer is freed once
    /// everything queued is written).
    #[arg(long, default_value_t = Limits::default().write_buffer_bytes)]
    write_buffer_bytes: usize,

    /// Open connections the node accepts (more get 503).
    #[arg(long, default_value_t = Limits::default().max_connections)]
    max_connections: usize,

    /// Connections in their HTTP handshake at once; more wait in the listen backlog (a
    /// reconnect storm costs the node this much at most, and nobody is refused).
    #[arg(long, default_value_t = Limits::default().max_handshakes)]
    max_handshakes: usize,

    /// Most messages kept per room for replay on join and resume (0: no history). The
    /// age and bytes bounds are the ones that usually bite.
    #[arg(long, default_value_t = HubConfig::default().history_len)]
    history_len: usize,

    /// How long a message stays replayable: a client back from an outage this long
    /// recovers every message, unless the room outgrew --history-bytes meanwhile.
    #[arg(long, value_parser = duration::parse, default_value = "2m")]
    history_age: Duration,

    /// Most bytes of history per room (frames plus 64 bytes per entry); the bound on a
    /// room's memory whatever its rate. The default, 1 MiB, holds 30 s of a 100 msg/s
    /// room with 300-byte frames.
    #[arg(long, default_value_t = HubConfig::default().history_bytes)]
    history_bytes: usize,

    /// A policy for the rooms matching PATTERN, as `PATTERN:SETTINGS`; repeatable, the
    /// first match decides. `*` in PATTERN stands for any run of characters. SETTINGS is
    /// a comma-separated list of: history=N (messages kept; 0: none), history-age=DURATION,
    /// history-bytes=N, ephemeral-only (numbered publishes refused with `room_policy`),
    /// presence=on|off, max-members=N (joins beyond get `room_full`). Settings not given
    /// keep the defaults above. Clients learn a room's policy in `joined`.
    /// Example: --room 'cursors/*:history=0,ephemeral-only,presence=off'
    #[arg(long = "room", value_name = "PATTERN:SETTINGS", value_parser = rooms::parse)]
    rooms: Vec<rooms::RoomRule>,

    /// How long a member whose connection dropped stays in presence (and, with --redis,
    /// how long a node that stopped renewing its liveness keeps its members).
    #[arg(long, value_parser = duration::parse, default_value = "5s")]
    presence_timeout: Duration,

    /// Join a cluster of nodes through this Redis (`redis://host:port[/db]`), or this Redis
    /// Cluster (`redis+cluster://host1:port1,host2:port2,...`, any of its nodes): one order
    /// per room, history and presence shared by every node; each node hears only the rooms
    /// it has members in. Without it, this node stands alone.
    #[arg(long, env = "TANDEM_REDIS", value_name = "URL")]
    redis: Option<String>,

    /// Prefix of the Redis keys and channels (no braces); nodes with the same prefix form
    /// one cluster.
    #[arg(long, default_value = "tandem", requires = "redis")]
    redis_prefix: String,

    /// This node's name in the cluster (default: random).
    #[arg(long, requires = "redis")]
    node_name: Option<String>,

    /// Heartbeat interval announced to clients (they ping when quiet this long).
    #[arg(long, value_parser = duration::parse, default_value = "25s")]
    heartbeat_interval: Duration,

    /// How long after a ping an answer may take before the connection counts as dead.
    #[arg(long, value_parser = duration::parse, default_value = "10s")]
    heartbeat_timeout: Duration,

    /// How long the server waits for a client's answer to its request.
    #[arg(long, value_parser = duration::parse, default_value = "10s")]
    request_timeout: Duration,

    /// Close code sent to every client on SIGINT/SIGTERM: 1012 (service restart) or 1001
    /// (going away). Clients reconnect after --shutdown-hint plus jitter either way.
    #[arg(long, default_value_t = close::SERVICE_RESTART, value_parser = shutdown_code)]
    shutdown_code: u16,

    /// The retry hint sent with the shutdown close.
    #[arg(long, value_parser = duration::parse, default_value = "1s")]
    shutdown_hint: Duration,

    /// Answer every client request with its own payload, except `{"ask": Q}`, which is
    /// asked back: the server sends `Q` to the client as a request of its own (about the
    /// same room) and answers with the client's answer. For testing clients' request
    /// handlers; without it requests get `no_handler`, as this binary has no application
    /// logic.
    #[arg(long)]
    echo_requests: bool,

    /// Serve the files of this directory (a built web app, e.g. the demo's `www/dist`) to
    /// plain HTTP GETs on the same port; `/` is its index.html.
    #[arg(long, value_name = "DIR")]
    static_dir: Option<std::path::PathBuf>,

    /// Serve TLS with this certificate chain (PEM: the server's certificate first, then any
    /// intermediates): clients connect to wss://, and /healthz and --static-dir answer
    /// over https://, on the one port. Needs --tls-key. A file that cannot be read, holds
    /// no certificate or does not parse stops the server at startup with the reason.
    #[arg(
        long,
        env = "TANDEM_TLS_CERT",
        value_name = "PEM",
        requires = "tls_key"
    )]
    tls_cert: Option<std::path::PathBuf>,

    /// The private key of --tls-cert (PEM: PKCS#8, PKCS#1 or SEC1); it must belong to the
    /// certificate.
    #[arg(
        long,
        env = "TANDEM_TLS_KEY",
        value_name = "PEM",
        requires = "tls_cert"
    )]
    tls_key: Option<std::path::PathBuf>,

    /// Accept a token `guest:<name>` as user <name> without any check, so a page can pick
    /// a name and several tabs of one name are one member (demos and development only).
    /// Other tokens still need a --token-* flag.
    #[arg(long)]
    guest_names: bool,

    /// Answer the demo web app's requests (tandem_demo::DemoRequest).
    #[arg(long, conflicts_with = "echo_requests")]
    demo: bool,

    /// Log filter (tracing-subscriber EnvFilter syntax). A connection's own lines, inside
    /// its span `conn{id, user}`, are at debug: `--log debug`.
    #[arg(long, env = "RUST_LOG", default_value = "info")]
    log: String,

    /// How log lines are written to stderr: text (coloured only on a terminal) or json
    /// (one object a line, with the connection's span: `span.id`, `span.user`).
    #[arg(long, env = "TANDEM_LOG_FORMAT", value_enum, default_value = "text")]
    log_format: LogFormat,

    /// Also serve `GET /metrics` (Prometheus, OpenMetrics text) on this address, a port of
    /// its own (e.g. one only the monitoring network reaches). `/metrics` answers on --addr
    /// either way. The address is printed as `tandem metrics on http://<addr>/metrics`.
    #[arg(long, env = "TANDEM_METRICS_ADDR", value_name = "ADDR")]
    metrics_addr: Option<SocketAddr>,

    /// Serve the admin HTTP API on this address (disconnect a user, unsubscribe one from
    /// a room, send to one, read a room's members and history; across every node with
    /// --redis). A loopback address unless --admin-token is given. The address is printed
    /// as `tandem admin on http://<addr>`.
    #[arg(long, env = "TANDEM_ADMIN_ADDR", value_name = "ADDR")]
    admin_addr: Option<SocketAddr>,

    /// The bearer token every admin API request must carry (`Authorization: Bearer
    /// <token>`; 401 otherwise). Required when --admin-addr is not a loopback address.
    #[arg(
        long,
        env = "TANDEM_ADMIN_TOKEN",
        value_name = "TOKEN",
        requires = "admin_addr",
        hide_env_values = true
    )]
    admin_token: Option<String>,

    /// The application's backend over HTTP (the --hook-* flags, under their own heading).
    #[command(flatten)]
    hooks: HookFlags,

    /// How tokens are checked (the --token-* flags, last in --help: their heading applies
    /// to every flag after them). Without any, every connection is accepted as user
    /// `conn-<id>`.
    #[command(flatten)]
    tokens: TokenFlags,
}

fn shutdown_code(text: &str) -> Result<u16, String> {
    match text {
        "1012" => Ok(close::SERVICE_RESTART),
        "1001" => Ok(close::GOING_AWAY),
        _ => Err(format!(
            "{text:?}: use 1012 (service restart) or 1001 (going away)"
        )),
    }
}

/// The IO limits; the protocol's are set on the builder in [`serve`].
fn limits(args: &ServeArgs) -> Limits {
    let mut limits = Limits::default();
    limits.outbound_queue = args.outbound_queue;
    limits.http_head_timeout = args.http_head_timeout;
    limits.max_header_bytes = args.max_header_bytes;
    limits.read_buffer_bytes = args.read_buffer_bytes;
    limits.write_buffer_bytes = args.write_buffer_bytes;
    limits.max_connections = args.max_connections;
    limits.max_handshakes = args.max_handshakes;
    limits
}

/// Runs the server until a signal.
pub fn run(args: ServeArgs) -> ExitCode {
    logs::init(args.log_format, &args.log);
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("tandem: cannot start the runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    runtime.block_on(serve(args))
}

async fn serve(args: ServeArgs) -> ExitCode {
    // Checked before anything listens: an open admin API is worse than none.
    if let Some(addr) = args.admin_addr
        && let Err(e) = admin::check(addr, args.admin_token.as_deref())
    {
        eprintln!("tandem: {e}");
        return ExitCode::FAILURE;
    }
    // Checked first: a bad certificate or key stops the server before anything starts.
    let tls = match (&args.tls_cert, &args.tls_key) {
        (Some(cert), Some(key)) => match TlsConfig::from_pem_files(cert, key) {
            Ok(tls) => Some(tls),
            Err(e) => {
                eprintln!("tandem: TLS: {e}");
                return ExitCode::FAILURE;
            }
        },
        _ => None,
    };
    let origins = if args.any_origin {
        OriginPolicy::Any
    } else if args.allow_origins.is_empty() {
        OriginPolicy::SameHost
    } else {
        OriginPolicy::List(args.allow_origins.clone())
    };
    tracing::info!("origins: {}", origins.describe());
    let app = AppSchema::new(args.app.clone(), args.app_versions.clone());
    let mut builder = Server::builder()
        .limits(limits(&args))
        .max_message_bytes(args.max_message_bytes)
        .rate(args.rate, args.burst)
        .max_rooms_per_connection(args.max_rooms)
        .hello_timeout(args.hello_timeout)
        .origins(origins)
        .app(app)
        .shutdown_hint(args.shutdown_hint)
        .configure(|c| {
            c.hub.history_len = args.history_len;
            c.hub.history_age = args.history_age;
            c.hub.history_bytes = args.history_bytes;
            c.hub.presence_timeout = args.presence_timeout;
            c.heartbeat.interval = args.heartbeat_interval;
            c.heartbeat.timeout = args.heartbeat_timeout;
            c.request_timeout = args.request_timeout;
        });
    if !args.rooms.is_empty() {
        let rules = args.rooms.clone();
        let hub = HubConfig {
            history_len: args.history_len,
            history_age: args.history_age,
            history_bytes: args.history_bytes,
            ..HubConfig::default()
        };
        let defaults = RoomPolicy::from_config(&hub);
        builder = builder.room_policy(move |room| rooms::policy(&rules, defaults, room));
    }
    if args.echo_requests {
        builder = builder.on_request(|ctx, data| async move { echo(ctx, data).await });
    }
    if args.demo {
        builder = builder.on_request(|ctx, data| async move {
            let error = |code, e: serde_json::Error| ErrorBody {
                code,
                message: e.to_string(),
            };
            let request: tandem_demo::DemoRequest =
                serde_json::from_str(data.get()).map_err(|e| error(ErrorCode::WrongType, e))?;
            let reply = tandem_demo::answer(&request, ctx.server.connections());
            tandem_proto::encode_payload(&reply).map_err(|e| error(ErrorCode::Internal, e))
        });
    }
    if let Some(dir) = &args.static_dir {
        tracing::info!(dir = %dir.display(), "serving static files");
        builder = builder.static_files(dir);
    }
    let verifier = match args.tokens.verifier().await {
        Ok(verifier) => verifier,
        Err(e) => {
            eprintln!("tandem: {e}");
            return ExitCode::FAILURE;
        }
    };
    let webhook = match args.hooks.config() {
        Ok(webhook) => webhook,
        Err(e) => {
            eprintln!("tandem: {e}");
            return ExitCode::FAILURE;
        }
    };
    // One rule: with connect among the hook's events the backend alone decides hellos.
    let backend_connects = webhook
        .as_ref()
        .is_some_and(|w| w.sends(HookEvent::Connect));
    if backend_connects && (verifier.is_some() || args.guest_names) {
        eprintln!(
            "tandem: --hook-url asks the backend who each hello is (connect), and --token-* or \
             --guest-names would decide it too: drop them, or leave connect out of --hook-events"
        );
        return ExitCode::FAILURE;
    }
    match &verifier {
        Some(v) => tracing::info!(algorithms = ?v.algorithms(), "tokens: JWT"),
        None if backend_connects => {}
        None if !args.guest_names => {
            tracing::warn!("no --token-* flag: every connection is accepted without a token");
        }
        None => {}
    }
    if verifier.is_some() || args.guest_names {
        let guest_names = args.guest_names;
        builder =
            builder.authenticate_with(move |token| {
                let verifier = verifier.clone();
                async move {
                    tokens::authenticate(token.as_deref(), verifier.as_ref(), guest_names).await
                }
            });
    }
    if let Some(webhook) = webhook {
        let events: Vec<_> = webhook.events_sent().map(HookEvent::name).collect();
        tracing::info!(url = %webhook.url(), ?events, "backend hooks over HTTP");
        if args.hooks.unsigned() {
            tracing::warn!("no --hook-secret: the backend cannot tell tandem's calls from others");
        }
        // Last: the backend answers requests, not --echo-requests or --demo.
        builder = builder.webhook(webhook);
    }
    if let Some(url) = &args.redis {
        let options = RedisOptions {
            prefix: args.redis_prefix.clone(),
            node: args.node_name.clone(),
            ..RedisOptions::default()
        };
        match RedisBroker::with_options(url, options) {
            Ok(broker) => {
                tracing::info!(redis = %url, "clustered through redis");
                builder = builder.cluster(Arc::new(broker));
            }
            Err(e) => {
                eprintln!("tandem: {e}");
                return ExitCode::FAILURE;
            }
        }
    }
    let scheme = match tls {
        Some(tls) => {
            builder = builder.tls(tls);
            "https"
        }
        None => "http",
    };
    let metrics = match args.metrics_addr {
        Some(addr) => match tokio::net::TcpListener::bind(addr).await {
            Ok(listener) => Some(listener),
            Err(e) => {
                eprintln!("tandem: cannot listen for metrics on {addr}: {e}");
                return ExitCode::FAILURE;
            }
        },
        None => None,
    };
    let admin = match args.admin_addr {
        Some(addr) => match tokio::net::TcpListener::bind(addr).await {
            Ok(listener) => Some(listener),
            Err(e) => {
                eprintln!("tandem: cannot listen for the admin API on {addr}: {e}");
                return ExitCode::FAILURE;
            }
        },
        None => None,
    };
    let running = match builder.build().bind(args.addr).await {
        Ok(r) => r,
        Err(e) => {
            eprintln!("tandem: cannot listen on {}: {e}", args.addr);
            return ExitCode::FAILURE;
        }
    };
    println!("tandem listening on {scheme}://{}", running.local_addr());
    if let Some(listener) = metrics {
        if let Ok(addr) = listener.local_addr() {
            println!("tandem metrics on http://{addr}/metrics");
        }
        running.handle().serve_metrics(listener);
    }
    if let Some(listener) = admin {
        if let Ok(addr) = listener.local_addr() {
            println!("tandem admin on http://{addr}");
        }
        let token = args.admin_token.clone();
        admin::serve(listener, running.handle(), token, args.max_message_bytes);
    }
    let signal = wait_for_signal().await;
    tracing::info!(signal, code = args.shutdown_code, "shutting down");
    running.shutdown(args.shutdown_code).await;
    ExitCode::SUCCESS
}

/// Waits for SIGINT or SIGTERM and names it.
/// `--echo-requests`: the payload back, or `{"ask": Q}` asked back to the client.
async fn echo(
    ctx: tandem_server::RequestContext,
    data: tandem_proto::Payload,
) -> Result<tandem_proto::Payload, ErrorBody> {
    let asked = serde_json::from_str::<serde_json::Value>(data.get())
        .ok()
        .and_then(|v| v.get("ask").cloned());
    let Some(question) = asked else {
        return Ok(data);
    };
    let answer = ctx
        .server
        .request(ctx.conn, ctx.room.as_deref(), &question)
        .await;
    answer.map_err(|e| match e {
        tandem_server::ServerError::Client(body) => body,
        other => ErrorBody {
            code: ErrorCode::Unavailable,
            message: other.to_string(),
        },
    })
}

async fn wait_for_signal() -> &'static str {
    use tokio::signal::unix::{SignalKind, signal};
    let (Ok(mut term), Ok(mut int)) = (
        signal(SignalKind::terminate()),
        signal(SignalKind::interrupt()),
    ) else {
        tracing::error!("cannot listen for signals; stop with SIGKILL");
        return std::future::pending().await;
    };
    tokio::select! {
        _ = term.recv() => "SIGTERM",
        _ = int.recv() => "SIGINT",
    }
}
