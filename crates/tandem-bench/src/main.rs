//! `tandem-bench`: the load generator behind `cargo xtask bench`, and the bare
//! tokio-tungstenite server it compares tandem with.
//!
//! One process drives every server the same way: it speaks tandem's envelopes, the bare
//! servers' one-letter frames (`b…` broadcast, `e…` echo) and Socket.IO's Engine.IO v4
//! framing. Each measuring command prints its result as one JSON line on stdout; progress
//! goes to stderr.

mod bare;
mod bus;
mod bus_proxy;
mod conn;
mod cpu;
mod criterion;
mod echo;
mod fanout;
mod hammer;
mod histogram;
mod idle;
mod mounted;
mod payload;
mod rss;
mod storm;
mod stream;
mod target;

use std::process::ExitCode;

use clap::{Parser, Subcommand};

use crate::target::Target;

/// Command line of `tandem-bench`.
#[derive(Debug, Parser)]
#[command(version, about)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

/// The server to drive and where it listens.
#[derive(Debug, clap::Args)]
struct Server {
    /// Which protocol the server speaks.
    #[arg(long, value_enum)]
    target: Target,
    /// The server's base URL, `ws://127.0.0.1:PORT`.
    #[arg(long)]
    url: String,
}

/// A server measured in memory, with its connections spread over rooms (idle, storm).
#[derive(Debug, clap::Args)]
struct Crowd {
    #[command(flatten)]
    server: Server,
    /// Rooms the connections are spread over (tandem and Socket.IO; the bare and ws
    /// servers have no rooms). Every member of a tandem room sees the others' presence.
    #[arg(long, default_value_t = 100)]
    rooms: usize,
    /// The server's process id (its RSS is read from /proc).
    #[arg(long)]
    pid: u32,
}

impl Crowd {
    /// Where to connect, spreading connections over the rooms.
    fn endpoint(&self) -> Result<conn::Endpoint, String> {
        Ok(conn::Endpoint::new(self.server.target, &self.server.url)?.spread_over(self.rooms))
    }
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Run the bare tokio-tungstenite server: `b…` frames go to every other connection,
    /// `e…` frames back to the sender. Prints `listening on ws://ADDR`.
    BareServer {
        /// Address to listen on (port 0: a free port).
        #[arg(long, default_value = "127.0.0.1:0")]
        addr: std::net::SocketAddr,
    },
    /// Run tandem mounted in an axum app at `/` (figure 3b). Prints `listening on
    /// ws://ADDR`.
    AxumServer {
        /// Address to listen on (port 0: a free port).
        #[arg(long, default_value = "127.0.0.1:0")]
        addr: std::net::SocketAddr,
    },
    /// Bus bytes per node: nodes of one Redis each hosting a share of the rooms, one node
    /// hosting every room, messages published into every room; the bytes Redis sends each
    /// node, counted by `bus-proxy`.
    Bus(bus::Args),
    /// The counting TCP proxy between nodes and their Redis (one listener per node). Prints
    /// `listening on CONTROL PROXY…`.
    BusProxy(bus_proxy::Args),
    /// Fan-out: one publisher, many subscribers in one room; deliveries/s and latency.
    Fanout(fanout::Args),
    /// Echo / request round trips at a fixed offered rate; latency percentiles.
    Echo(echo::Args),
    /// Server RSS per idle connection.
    Idle(idle::Args),
    /// Many clients connecting at once: time until all joined, server peak RSS.
    Storm(storm::Args),
    /// Junk frames from many connections while a healthy subscriber must get every message.
    Hammer(hammer::Args),
    /// Publish a stream of small tandem messages into a room (for the browser figure).
    Stream(stream::Args),
    /// Print the medians criterion saved under a directory, as JSON lines.
    CriterionSummary(criterion::Args),
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let _ = payload::origin();
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(e) => {
            eprintln!("error: starting the runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    let result = runtime.block_on(async move {
        match cli.command {
            Command::BareServer { addr } => bare::serve(addr).await,
            Command::AxumServer { addr } => mounted::serve(addr).await,
            Command::Bus(args) => bus::run(args).await,
            Command::BusProxy(args) => bus_proxy::serve(args).await,
            Command::Fanout(args) => fanout::run(args).await,
            Command::Echo(args) => echo::run(args).await,
            Command::Idle(args) => idle::run(args).await,
            Command::Storm(args) => storm::run(args).await,
            Command::Hammer(args) => hammer::run(args).await,
            Command::Stream(args) => stream::run(args).await,
            Command::CriterionSummary(args) => criterion::run(&args),
        }
    });
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(message) => {
            eprintln!("error: {message}");
            ExitCode::FAILURE
        }
    }
}

/// Prints one result line (a JSON object) on stdout.
fn report(value: &serde_json::Value) {
    println!("{value}");
}
