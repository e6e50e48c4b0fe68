//! The fuzzing and junk-frame sections of `cargo xtask chaos` (and, short, of
//! `cargo xtask test`).
//!
//! **Fuzzing route: libFuzzer through the `libfuzzer-sys` crate, built by plain
//! `cargo build` on the stable toolchain.** `cargo fuzz` needs nightly only for
//! `-Zsanitizer`; the coverage instrumentation libFuzzer feeds on is stable codegen
//! (`-Cpasses=sancov-module` with `-Cllvm-args=-sanitizer-coverage-*`), and
//! `libfuzzer-sys` compiles libFuzzer itself with the machine's C++ compiler. So the
//! targets in `fuzz/` (its own workspace, excluded from the root one) build with those
//! RUSTFLAGS into `fuzz/target`, leaving the main `target/` and its fingerprints alone.
//! `--target <host>` keeps the flags off build scripts and proc macros. Chosen over
//! cargo-afl because it needs nothing installed (no `cargo install`, no AFL++ build, no
//! fork server, no core-pattern or CPU-governor checks to switch off in CI), runs in
//! process at 10⁵ executions per second here, and stops by itself (`-max_total_time`).
//! No AddressSanitizer (that is the nightly part), which costs little: the workspace
//! forbids `unsafe`. Instead every target is built with debug assertions and overflow
//! checks, so an overflow is a crash like a panic, and a 2 GiB RSS limit makes runaway
//! memory one too.
//!
//! The hammer is `tandem-bench hammer` against a real `tandem serve` started here.

use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use crate::json;
use crate::process::{Result, Shell, announce};

/// The fuzz targets, as `fuzz/Cargo.toml` names them, with what each reads.
const TARGETS: &[(&str, &str)] = &[
    ("frame_client", "frames from clients (`decode_from_client`)"),
    ("frame_server", "frames from servers (`decode_from_server`)"),
    ("json", "the hand JSON reader, against serde_json"),
    ("redis_bus", "the Redis bus messages and history entries"),
    ("http_head", "the HTTP request head, upgrade checks"),
];

/// The coverage instrumentation libFuzzer needs, all stable codegen options (as
/// `cargo fuzz` passes them, less the nightly sanitizer), and `--cfg fuzzing`.
const RUSTFLAGS: &str = "-Cpasses=sancov-module \
    -Cllvm-args=-sanitizer-coverage-level=4 \
    -Cllvm-args=-sanitizer-coverage-inline-8bit-counters \
    -Cllvm-args=-sanitizer-coverage-pc-table \
    -Cllvm-args=-sanitizer-coverage-trace-compares \
    --cfg fuzzing -Cforce-frame-pointers=yes";

/// Builds the fuzz targets, runs each for a bounded time (quick: 12 s, full: 60 s) on its
/// committed seeds, and returns a markdown section with each target's executions and
/// crashes. Fails, naming the crashing input, if any target crashed.
pub fn fuzz_section(shell: &Shell, quick: bool) -> Result<String> {
    let root = shell.root().to_path_buf();
    ensure_cxx(shell)?;
    let host = host_triple(shell)?;
    let started = Instant::now();
    shell
        .cmd("cargo")
        .args([
            "build",
            "--release",
            "--bins",
            "--manifest-path",
            "fuzz/Cargo.toml",
        ])
        .args(["--target", host.as_str(), "--target-dir", "fuzz/target"])
        .env("RUSTFLAGS", RUSTFLAGS)
        .env_remove("CARGO_ENCODED_RUSTFLAGS")
        .env_remove("CARGO_BUILD_RUSTFLAGS")
        .env_remove("CARGO_TARGET_DIR")
        .run("fuzz: build the targets (stable, libFuzzer)")?;
    let build = started.elapsed();
    let bins = root.join("fuzz/target").join(&host).join("release");
    let seconds = if quick { 12 } else { 60 };

    let mut runs = Vec::new();
    for (name, _) in TARGETS {
        runs.push(run_target(&root, &bins, name, seconds)?);
    }
    let mut text = format!(
        "## Fuzzing\n\nCoverage-guided, on the stable toolchain: libFuzzer (`libfuzzer-sys`) \
         over sancov instrumentation, debug assertions and overflow checks on, from the \
         seeds in `fuzz/corpus/`; {seconds} s per target (build: {:.0} s).\n\n\
         | target | reads | seconds | executions | exec/s | coverage (edges) | new inputs | crashes |\n\
         | --- | --- | ---: | ---: | ---: | ---: | ---: | ---: |\n",
        build.as_secs_f64()
    );
    for (run, (_, what)) in runs.iter().zip(TARGETS) {
        text.push_str(&format!(
            "| {} | {what} | {:.0} | {} | {} | {} | {} | {} |\n",
            run.name,
            run.elapsed.as_secs_f64(),
            run.executions,
            run.executions / run.elapsed.as_secs().max(1),
            run.coverage,
            run.new_units,
            run.crashes.len()
        ));
    }
    let crashed: Vec<String> = runs
        .iter()
        .flat_map(|run| run.crashes.iter().map(move |c| (run, c)))
        .map(|(run, crash)| {
            format!(
                "`{}` crashed on {} ({}; reproduce: `{} {}`)",
                run.name,
                crash.display(),
                run.cause,
                bins.join(run.name).display(),
                crash.display()
            )
        })
        .collect();
    if crashed.is_empty() {
        text.push_str("\nNo crash.\n");
        Ok(text)
    } else {
        text.push_str(&format!("\n**Crashes:** {}\n", crashed.join("; ")));
        println!("{text}");
        Err(crashed.join("; "))
    }
}

/// One target's run.
struct Run {
    name: &'static str,
    elapsed: Duration,
    executions: u64,
    coverage: u64,
    new_units: u64,
    /// The crashing inputs libFuzzer wrote.
    crashes: Vec<PathBuf>,
    /// What the log says about the crash (the panic message), if any.
    cause: String,
}

/// Runs `name` for `seconds` on a fresh working corpus (`fuzz/runs/<name>`: libFuzzer
/// adds new inputs to its first directory, so the committed seeds stay as they are),
/// writing crashing inputs to `fuzz/artifacts/<name>/` and its log to
/// `fuzz/runs/<name>.log`.
fn run_target(root: &Path, bins: &Path, name: &'static str, seconds: u64) -> Result<Run> {
    let work = root.join("fuzz/runs").join(name);
    let artifacts = root.join("fuzz/artifacts").join(name);
    let seeds = root.join("fuzz/corpus").join(name);
    let log_path = root.join("fuzz/runs").join(format!("{name}.log"));
    let _ = fs::remove_dir_all(&work);
    for dir in [&work, &artifacts] {
        fs::create_dir_all(dir).map_err(|e| format!("creating {}: {e}", dir.display()))?;
    }
    let before = listing(&artifacts);
    let log =
        fs::File::create(&log_path).map_err(|e| format!("creating {}: {e}", log_path.display()))?;
    let log_err = log
        .try_clone()
        .map_err(|e| format!("{}: {e}", log_path.display()))?;
    let bin = bins.join(name);
    let args = [
        format!("-max_total_time={seconds}"),
        "-print_final_stats=1".to_owned(),
        // A slow input (10 s) or 2 GiB of memory is a finding too.
        "-timeout=10".to_owned(),
        "-rss_limit_mb=2048".to_owned(),
        format!("-artifact_prefix={}/", artifacts.display()),
        work.display().to_string(),
        seeds.display().to_string(),
    ];
    announce(&format!(
        "fuzz {name}: {} {} (log: {})",
        bin.display(),
        args.join(" "),
        log_path.display()
    ));
    let started = Instant::now();
    let mut child = Command::new(&bin)
        .args(&args)
        .env("RUST_BACKTRACE", "1")
        .stdin(Stdio::null())
        .stdout(log)
        .stderr(log_err)
        .spawn()
        .map_err(|e| format!("fuzz {name}: starting {}: {e}", bin.display()))?;
    // libFuzzer stops itself; this bounds a run that would not.
    let limit = Duration::from_secs(seconds + 60);
    let status = loop {
        match child.try_wait() {
            Ok(Some(status)) => break Some(status),
            Ok(None) if started.elapsed() > limit => {
                let _ = child.kill();
                let _ = child.wait();
                break None;
            }
            Ok(None) => std::thread::sleep(Duration::from_millis(100)),
            Err(e) => return Err(format!("fuzz {name}: waiting: {e}")),
        }
    };
    let elapsed = started.elapsed();
    let text = fs::read_to_string(&log_path).unwrap_or_default();
    let stat = |key: &str| {
        text.lines()
            .find_map(|l| l.strip_prefix(key))
            .and_then(|v| v.trim().parse::<u64>().ok())
            .unwrap_or(0)
    };
    let crashes: Vec<PathBuf> = listing(&artifacts)
        .into_iter()
        .filter(|p| !before.contains(p))
        .collect();
    let cause = text
        .lines()
        .find(|l| l.contains("panicked at") || l.contains("ERROR: libFuzzer"))
        .map(|l| {
            let at = text.find(l).unwrap_or(0) + l.len();
            let next = text[at..].lines().nth(1).unwrap_or_default();
            format!("{} {}", l.trim(), next.trim())
        })
        .unwrap_or_else(|| "see the log".to_owned());
    let run = Run {
        name,
        elapsed,
        executions: stat("stat::number_of_executed_units:"),
        coverage: coverage(&text),
        new_units: stat("stat::new_units_added:"),
        crashes,
        cause,
    };
    announce(&format!(
        "fuzz {name}: {} executions in {:.0} s, {} edges, {} crash(es)",
        run.executions,
        elapsed.as_secs_f64(),
        run.coverage,
        run.crashes.len()
    ));
    match status {
        Some(s) if s.success() || !run.crashes.is_empty() => Ok(run),
        Some(s) => Err(format!(
            "fuzz {name}: libFuzzer exited with {s} and wrote no input; see {}",
            log_path.display()
        )),
        None => Err(format!(
            "fuzz {name}: still running {} s past its {seconds} s; see {}",
            limit.as_secs() - seconds,
            log_path.display()
        )),
    }
}

/// The last `cov: N` libFuzzer printed: the edges covered.
fn coverage(log: &str) -> u64 {
    log.lines()
        .rev()
        .find_map(|l| {
            let rest = &l[l.find(" cov: ")? + 6..];
            rest.split_whitespace().next()?.parse().ok()
        })
        .unwrap_or(0)
}

/// The files in `dir`, sorted.
fn listing(dir: &Path) -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = fs::read_dir(dir)
        .map(|d| d.filter_map(|e| e.ok().map(|e| e.path())).collect())
        .unwrap_or_default();
    files.sort();
    files
}

/// The host's target triple, from `rustc -vV`.
fn host_triple(shell: &Shell) -> Result<String> {
    shell
        .cmd("rustc")
        .arg("-vV")
        .capture()
        .and_then(|v| {
            v.lines()
                .find_map(|l| l.strip_prefix("host: ").map(str::to_owned))
        })
        .ok_or_else(|| "fuzz: `rustc -vV` named no host triple".to_owned())
}

/// A C++ compiler (libfuzzer-sys builds libFuzzer with it): Debian's g++ when missing.
fn ensure_cxx(shell: &Shell) -> Result<()> {
    if shell.version_of("c++").is_some() {
        announce("ok: a C++ compiler (c++) is installed, for libFuzzer");
        return Ok(());
    }
    announce("installing g++ (libfuzzer-sys compiles libFuzzer with it)");
    let is_root = shell.cmd("id").arg("-u").capture().as_deref() == Some("0");
    let apt = |args: &[&str]| {
        let cmd = if is_root {
            shell.cmd("apt-get")
        } else {
            // `-n`: fail at once rather than wait for a password nobody can type.
            shell.cmd("sudo").args(["-n", "apt-get"])
        };
        cmd.env("DEBIAN_FRONTEND", "noninteractive")
            .args(args.iter().copied())
    };
    apt(&["update"]).run("fuzz: install g++")?;
    apt(&["install", "-y", "g++"]).run("fuzz: install g++")
}

/// The profile the hammer's binaries are built with: the chaos suite's (release without
/// LTO) when the workspace defines it, else the dev profile.
fn hammer_profile(root: &Path) -> (&'static str, &'static str) {
    let manifest = fs::read_to_string(root.join("Cargo.toml")).unwrap_or_default();
    if manifest.contains("[profile.chaos]") {
        ("chaos", "chaos")
    } else {
        ("dev", "debug")
    }
}

/// The RSS the server may gain under the hammer, per junk connection, in KiB: the
/// largest message it assembles (twice the 64 KiB frame limit reaches the protocol, 128
/// KiB), its write buffer's cap (1 MiB, `Limits::max_write_buffer_bytes`) and its outbox
/// of error frames (1,024 × ~200 B), about 1.35 MiB, rounded up to 1.5 MiB for the
/// allocator. Past this, memory is not bounded per connection.
const RSS_PER_CONNECTION_KIB: u64 = 1536;

/// Starts `tandem serve` on a free loopback port, runs `tandem-bench hammer` against it
/// (50 junk connections; quick: 5 s, full: 30 s), stops the server, and returns a
/// markdown section. Fails if the server died or stopped answering, the healthy
/// subscriber missed, doubled or reordered a message, or the server's RSS grew past
/// [`RSS_PER_CONNECTION_KIB`] per junk connection.
pub fn hammer_section(shell: &Shell, quick: bool) -> Result<String> {
    let root = shell.root().to_path_buf();
    let (profile, dir) = hammer_profile(&root);
    shell
        .cmd("cargo")
        .args(["build", "--profile", profile, "-p", "tandem-cli", "-p"])
        .args(["tandem-bench", "--bin", "tandem", "--bin", "tandem-bench"])
        .run(&format!("hammer: build (profile {profile})"))?;
    let bins = root.join("target").join(dir);
    let connections: u64 = 50;
    let seconds = if quick { 5 } else { 30 };

    let mut command = Command::new(bins.join("tandem"));
    command.args(["serve", "--addr", "127.0.0.1:0", "--log", "error"]);
    let server = crate::services::Service::start("tandem serve", command, "tandem listening on ")?;
    let url = server.url.replacen("http://", "ws://", 1);
    let pid = server.pid();
    let mut line = None;
    let result = shell
        .cmd(&bins.join("tandem-bench").display().to_string())
        .args(["hammer", "--url", url.as_str(), "--pid", &pid.to_string()])
        .args(["--connections", &connections.to_string()])
        .args(["--seconds", &seconds.to_string()])
        .run_tee("hammer", |l| {
            if json::string(l, "figure") == Some("hammer") {
                line = Some(l.to_owned());
            }
        });
    let alive_at_end = Path::new(&format!("/proc/{pid}")).exists();
    drop(server);
    result?;
    let line = line.ok_or("hammer: no result line")?;
    let n = |key: &str| json::number(&line, key).unwrap_or(-1.0);
    let flag = |key: &str| line.contains(&format!("\"{key}\":true"));
    let object = |key: &str| {
        let pattern = format!("\"{key}\":{{");
        line.find(&pattern)
            .and_then(|at| line[at + pattern.len()..].split('}').next())
            .unwrap_or_default()
            .replace('"', "")
            .replace(',', ", ")
    };
    let (closes, dropped) = (object("closes"), object("dropped_after"));
    let (start, peak) = (n("rss_start_kib"), n("rss_peak_kib"));
    let bound = start + (connections * RSS_PER_CONNECTION_KIB) as f64;
    let error = json::string(&line, "healthy_error").filter(|e| !e.is_empty());

    let mut failures = Vec::new();
    if !(flag("server_alive") && alive_at_end) {
        failures.push("the server died".to_owned());
    }
    if !flag("server_answers_after") {
        failures.push("the server did not answer a new client after the junk".to_owned());
    }
    for key in [
        "healthy_missing",
        "healthy_duplicates",
        "healthy_out_of_order",
    ] {
        if n(key) != 0.0 {
            failures.push(format!("{key}: {}", n(key)));
        }
    }
    if n("healthy_received") != n("healthy_expected") || n("healthy_expected") <= 0.0 {
        failures.push(format!(
            "the healthy subscriber got {} of {} messages",
            n("healthy_received"),
            n("healthy_expected")
        ));
    }
    if line.contains("\"healthy_error\":\"") {
        failures.push(format!("healthy client: {}", error.unwrap_or("error")));
    }
    if peak > bound {
        failures.push(format!(
            "server RSS peaked at {peak} KiB, over the bound of {bound} KiB"
        ));
    }
    let mib = |kib: f64| kib / 1024.0;
    let text = format!(
        "## Junk-frame hammer\n\n{connections} connections sent random and mutated frames \
         for {seconds} s to a `tandem serve` (profile {profile}, default limits), \
         reconnecting when closed, while a healthy publisher sent a steady stream to a \
         healthy subscriber (seed {seed}).\n\n\
         | figure | value |\n| --- | ---: |\n\
         | junk frames sent | {frames} ({mb:.0} MB) |\n\
         | junk connections opened | {connects} |\n\
         | error frames received | {errors} |\n\
         | healthy messages expected / received | {expected} / {received} |\n\
         | healthy missing / duplicates / out of order | {missing} / {dups} / {ooo} |\n\
         | server RSS start / half way / peak / end | {s:.1} / {m:.1} / {p:.1} / {e:.1} MiB |\n\
         | RSS bound (start + {connections} × {per} KiB) | {b:.1} MiB |\n\
         | server alive and answering after | {alive} |\n\n\
         Closes by code (or how the connection ended): {closes}. A junk connection \
         goes on sending after the server's close frame, so the server's TCP close can \
         reset it before that frame is read (`no close frame`).\n\n\
         Connections the server dropped without a close frame, by the last junk sent: \
         {dropped}.\n\n{verdict}\n",
        seed = json::string(&line, "seed").unwrap_or("?"),
        frames = n("frames_sent"),
        mb = n("bytes_sent") / 1e6,
        connects = n("connects"),
        errors = n("errors_received"),
        expected = n("healthy_expected"),
        received = n("healthy_received"),
        missing = n("healthy_missing"),
        dups = n("healthy_duplicates"),
        ooo = n("healthy_out_of_order"),
        s = mib(start),
        m = mib(n("rss_mid_kib")),
        p = mib(peak),
        e = mib(n("rss_end_kib")),
        per = RSS_PER_CONNECTION_KIB,
        b = mib(bound),
        alive = flag("server_alive") && alive_at_end && flag("server_answers_after"),
        verdict = if failures.is_empty() {
            "Passed.".to_owned()
        } else {
            format!("**Failed:** {}.", failures.join("; "))
        },
    );
    if failures.is_empty() {
        Ok(text)
    } else {
        println!("{text}");
        Err(format!("hammer: {}", failures.join("; ")))
    }
}

#[cfg(test)]
mod tests {
    use super::{coverage, fuzz_section, hammer_section};
    use crate::process::Shell;

    #[test]
    fn reads_the_last_coverage_figure() {
        let log = "#2\tINITED cov: 10 ft: 12 corp: 1/1b\n#9\tNEW    cov: 15 ft: 20\nDone 9 runs";
        assert_eq!(coverage(log), 15);
        assert_eq!(coverage("nothing"), 0);
    }

    /// Both sections as `cargo xtask chaos --quick` runs them (a minute or two), or in
    /// full with `TANDEM_CHAOS_FULL=1` (six minutes):
    /// `cargo test -p xtask -- --ignored fuzz:: --nocapture`.
    #[test]
    #[ignore = "builds and runs the fuzzers and the hammer"]
    fn sections() {
        let quick = std::env::var_os("TANDEM_CHAOS_FULL").is_none();
        let root = crate::workspace::root().expect("the workspace root");
        let shell = Shell::new(root);
        let fuzz = fuzz_section(&shell, quick);
        let hammer = hammer_section(&shell, quick);
        println!(
            "{}\n{}",
            fuzz.clone().unwrap_or_else(|e| e),
            hammer.clone().unwrap_or_else(|e| e)
        );
        assert!(fuzz.is_ok() && hammer.is_ok());
    }
}
