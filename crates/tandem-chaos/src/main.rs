//! `tandem-chaos`: the load generator behind `cargo xtask chaos`.
//!
//! Each run is one scenario, bounded in time, on 127.0.0.1: it starts its own `tandem
//! serve` nodes (and `redis-server`), many native `tandem_client::Client` subscribers (or
//! Chromium pages through the npm package), one publisher, and the fault (cuts through a
//! proxy in this process, a node or Redis SIGKILLed and restarted, a Redis Cluster master
//! SIGKILLed and its replica promoted). Every subscriber is
//! checked for each message exactly once in order, or a signalled gap. The result is one
//! JSON line on stdout (`"figure":"chaos"`); progress goes to stderr. The exit status is 0
//! whenever a result line was printed, whatever its verdict: the caller reads the verdict.

mod browser;
mod check;
mod cluster;
mod procs;
mod proxy;
mod scenario;
mod sharded;

use std::process::ExitCode;

use clap::Parser;

/// Command line of `tandem-chaos`.
#[derive(Debug, Parser)]
#[command(version, about)]
pub struct Args {
    /// The scenario.
    #[arg(value_enum)]
    pub scenario: scenario::Kind,
    /// The `tandem` binary to run as the server.
    #[arg(long)]
    pub tandem: std::path::PathBuf,
    /// The `redis-server` binary (scenarios with Redis).
    #[arg(long, default_value = "redis-server")]
    pub redis_server: String,
    /// The `redis-cli` binary (`redis-cluster`: creates the cluster and watches it).
    #[arg(long, default_value = "redis-cli")]
    pub redis_cli: String,
    /// Subscribers (native clients, or pages for `browser`).
    #[arg(long, default_value_t = 1000)]
    pub clients: usize,
    /// Messages per second the publisher sends.
    #[arg(long, default_value_t = 100.0)]
    pub rate: f64,
    /// Seconds the publisher runs (from its first message).
    #[arg(long, default_value_t = 20.0)]
    pub publish_for: f64,
    /// Seconds after the first message when the fault starts.
    #[arg(long, default_value_t = 2.0)]
    pub fault_at: f64,
    /// Seconds the fault lasts: the cutting window, or the time a killed process stays
    /// down before its restart.
    #[arg(long, default_value_t = 10.0)]
    pub fault_for: f64,
    /// Seconds between two cuts of every connection (`cuts`, `browser`).
    #[arg(long, default_value_t = 1.0)]
    pub cut_every: f64,
    /// Milliseconds the proxy adds each way (`cuts`, `browser`).
    #[arg(long, default_value_t = 20)]
    pub delay_ms: u64,
    /// Seconds the subscribers have to join at the start.
    #[arg(long, default_value_t = 60.0)]
    pub join_secs: f64,
    /// Seconds the subscribers have, after the publisher's end, to be open and to have
    /// every message up to the last one acknowledged.
    #[arg(long, default_value_t = 60.0)]
    pub tail_secs: f64,
    /// Directory for the servers' logs.
    #[arg(long, default_value = "target/xtask/chaos-logs")]
    pub logs: std::path::PathBuf,
    /// The browser driver (`browser`).
    #[arg(long, default_value = "crates/tandem-chaos/browser/run.mjs")]
    pub browser_script: std::path::PathBuf,
    /// The npm package directory (`browser`).
    #[arg(long, default_value = "pkg")]
    pub pkg_dir: std::path::PathBuf,
    /// A directory whose node_modules holds playwright-core (`browser`).
    #[arg(long, default_value = "www")]
    pub playwright_from: std::path::PathBuf,
    /// Chromium (`browser`).
    #[arg(long, default_value = "/usr/bin/chromium")]
    pub chromium: String,
    /// Chromium's flags, space separated (`browser`).
    #[arg(
        long,
        allow_hyphen_values = true,
        default_value = "--headless --no-sandbox --disable-gpu --disable-dev-shm-usage"
    )]
    pub chromium_args: String,
}

fn main() -> ExitCode {
    let args = Args::parse();
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(r) => r,
        Err(e) => {
            eprintln!("tandem-chaos: starting the runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    let ran = runtime.block_on(async {
        match args.scenario {
            scenario::Kind::Browser => browser::run(&args).await,
            scenario::Kind::RedisCluster => sharded::run(&args).await,
            _ => scenario::run(&args).await,
        }
    });
    match ran {
        Ok(line) => {
            println!("{line}");
            // Clients and tasks still running are not waited for.
            runtime.shutdown_background();
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("tandem-chaos: error: {e}");
            runtime.shutdown_background();
            ExitCode::FAILURE
        }
    }
}
