//! Project tasks for tandem, run as `cargo xtask <command>`.
//!
//! `cargo xtask test` installs the tools the test suite needs (when missing), then runs
//! formatting, clippy, the tests natively and in headless Chromium (wasm32), builds the npm
//! package and the demo, and runs the Playwright tests. `cargo xtask demo` builds and
//! serves the demo. `cargo xtask bench` measures tandem against a bare tokio-tungstenite
//! server, Node `ws` and Socket.IO and writes BENCHMARKS.md. `cargo xtask chaos` runs the
//! fault-tolerance suite and writes CHAOS.md.
//!
//! The crate uses only `std`, so building it costs a couple of seconds.

mod bench;
mod bench_redis;
mod bench_report;
mod chaos;
mod chaos_report;
mod demo;
mod fuzz;
mod json;
mod package;
mod process;
mod services;
mod summary;
mod test;
mod tools;
mod web;
mod workspace;

use std::process::ExitCode;

/// Usage text printed by `cargo xtask help` and on a bad command line.
const USAGE: &str = "\
usage: cargo xtask <command> [options]

commands:
  test [--no-install]  install missing tools, then run fmt, clippy (native and wasm32),
                       the native tests, the wasm32 tests in headless Chromium, build the
                       npm package (pkg/) and the demo (www/), type-check it, run the
                       Playwright tests, the short chaos run and a smoke run of the
                       benchmark; --no-install
                       skips the tool installation step
  demo [--no-install] [--addr HOST:PORT]
                       install what is missing, build the npm package (pkg/) and the web
                       app (www/dist), and serve the demo with tandem serve at
                       http://127.0.0.1:8080 (or --addr) until Ctrl-C
  package              build the npm package (pkg/: wasm-pack, wasm-opt, entry and
                       package.json) and print its size, raw and gzipped
  bench [--quick] [--no-install]
                       build release binaries, start each server (tandem, bare
                       tokio-tungstenite, Node ws, Socket.IO) and drive it with the
                       tandem-bench load generator, plus many nodes over Redis and a
                       Redis Cluster (fan-out, bus bytes per node), the browser,
                       package-size and envelope figures; print a table of medians and
                       write BENCHMARKS.md
                       (--quick: a one-minute smoke run, written to
                       target/xtask/bench-quick.md instead)
  chaos [--quick] [--no-install] [--only SCENARIO]...
                       the fault-tolerance suite: real tandem serve processes (and
                       redis-server) on 127.0.0.1 under cuts, kills, failover, a Redis
                       restart, a reconnect storm and Chromium pages behind a cutting
                       proxy, every subscriber checked for each message exactly once in
                       order or a signalled gap; prints a table and writes CHAOS.md
                       (--quick: a few hundred clients, seconds per scenario, written to
                       target/xtask/chaos-quick.md); fails on any silent loss, duplicate
                       or subscriber not back in the room; --only runs just the named
                       scenarios (cuts, kill, failover, redis-restart, storm, browser),
                       without fuzzing, into target/xtask/chaos-only.md
  help                 print this message
";

/// Usage text for `cargo xtask test --help`.
const TEST_USAGE: &str = "\
usage: cargo xtask test [--no-install]

Runs, in order, stopping at the first failure:
  1. tool installation (skipped with --no-install)
  2. cargo fmt --all -- --check
  3. cargo clippy --workspace --all-targets -- -D warnings, and for wasm32
  4. cargo test --workspace
  5. the tandem-proto and tandem-client tests compiled to wasm32 (headless Chromium)
  6. the npm package: wasm-pack, wasm-opt, entry and package.json; its size
  7. the demo: ts-rs types, npm install, tsc --noEmit, vite build
  8. Playwright through the demo (www/tests)
  9. cargo xtask chaos --quick: the fault-tolerance suite, short (fails on any silent
     loss, duplicate or subscriber not back in its room)
 10. cargo xtask bench --quick: a one-minute smoke run of the benchmark (its figures are
     printed, never checked)
and ends with a line `N passed, M failed` summing every test run.
";

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let Some((command, rest)) = args.split_first() else {
        eprint!("{USAGE}");
        return ExitCode::from(2);
    };
    match command.as_str() {
        "test" => run_test(rest),
        "demo" => run_demo(rest),
        "package" => run_package(rest),
        "bench" => run_bench(rest),
        "chaos" => run_chaos(rest),
        "help" | "--help" | "-h" => {
            print!("{USAGE}");
            ExitCode::SUCCESS
        }
        other => {
            eprintln!("error: unknown command `{other}`\n");
            eprint!("{USAGE}");
            ExitCode::from(2)
        }
    }
}

/// Parses the options of `cargo xtask test` and runs it.
fn run_test(args: &[String]) -> ExitCode {
    let mut options = test::Options::default();
    for arg in args {
        match arg.as_str() {
            "--no-install" => options.install = false,
            "--help" | "-h" => {
                print!("{TEST_USAGE}");
                return ExitCode::SUCCESS;
            }
            other => {
                eprintln!("error: unknown option `{other}` for `cargo xtask test`\n");
                eprint!("{TEST_USAGE}");
                return ExitCode::from(2);
            }
        }
    }
    exit_code(test::run(&options))
}

/// Parses the options of `cargo xtask demo` and runs it.
fn run_demo(args: &[String]) -> ExitCode {
    let mut options = demo::Options::default();
    let mut args = args.iter();
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--no-install" => options.install = false,
            "--addr" => match args.next() {
                Some(addr) => options.addr.clone_from(addr),
                None => {
                    eprintln!("error: --addr needs HOST:PORT");
                    return ExitCode::from(2);
                }
            },
            "--help" | "-h" => {
                print!("{USAGE}");
                return ExitCode::SUCCESS;
            }
            other => {
                eprintln!("error: unknown option `{other}` for `cargo xtask demo`\n");
                eprint!("{USAGE}");
                return ExitCode::from(2);
            }
        }
    }
    exit_code(demo::run(&options))
}

/// Builds the npm package and prints its size (the tools come from `cargo xtask test`).
fn run_package(args: &[String]) -> ExitCode {
    if let Some(other) = args.first() {
        eprintln!("error: unknown option `{other}` for `cargo xtask package`\n");
        eprint!("{USAGE}");
        return ExitCode::from(2);
    }
    exit_code(workspace::root().and_then(|root| {
        let shell = process::Shell::new(root);
        package::build(&shell)?;
        package::print_size(&shell);
        Ok(())
    }))
}

/// Success, or the failure's message on stderr and exit code 1.
fn exit_code(result: process::Result<()>) -> ExitCode {
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(message) => {
            eprintln!("error: {message}");
            ExitCode::FAILURE
        }
    }
}

/// Parses the options of `cargo xtask bench` and runs it.
fn run_bench(args: &[String]) -> ExitCode {
    let mut options = bench::Options {
        quick: false,
        install: true,
        build_package: true,
    };
    for arg in args {
        match arg.as_str() {
            "--quick" => options.quick = true,
            "--no-install" => options.install = false,
            "--help" | "-h" => {
                print!("{USAGE}");
                return ExitCode::SUCCESS;
            }
            other => {
                eprintln!("error: unknown option `{other}` for `cargo xtask bench`\n");
                eprint!("{USAGE}");
                return ExitCode::from(2);
            }
        }
    }
    exit_code(bench::run(&options))
}

/// Parses the options of `cargo xtask chaos` and runs it.
fn run_chaos(args: &[String]) -> ExitCode {
    let mut options = chaos::Options {
        quick: false,
        install: true,
        only: Vec::new(),
    };
    let mut args = args.iter();
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--quick" => options.quick = true,
            "--only" => match args.next() {
                Some(name) => options.only.push(name.clone()),
                None => {
                    eprintln!("error: --only needs a scenario name");
                    return ExitCode::from(2);
                }
            },
            "--no-install" => options.install = false,
            "--help" | "-h" => {
                print!("{USAGE}");
                return ExitCode::SUCCESS;
            }
            other => {
                eprintln!("error: unknown option `{other}` for `cargo xtask chaos`\n");
                eprint!("{USAGE}");
                return ExitCode::from(2);
            }
        }
    }
    exit_code(chaos::run(&options))
}
