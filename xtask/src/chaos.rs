//! `cargo xtask chaos`: the fault-tolerance suite. Real `tandem serve` processes (and a
//! real `redis-server`, or a Redis Cluster of six) on 127.0.0.1, real native clients and Chromium pages, driven by
//! `tandem-chaos` (one process per scenario, one JSON result line each); every subscriber
//! is checked for each message exactly once in order, or a signalled gap. Any silent loss,
//! duplicate or subscriber left outside the room fails the run. The figures are printed as
//! a table and written to CHAOS.md (`--quick`: target/xtask/chaos-quick.md).

use std::path::{Path, PathBuf};

use crate::chaos_report::{self, Row, Scenario};
use crate::process::{Result, Shell, announce};
use crate::tools::{self, CHROME_ARGS, CHROMIUM};
use crate::{json, package, web, workspace};

/// Options of `cargo xtask chaos`.
pub struct Options {
    /// The short run of `cargo xtask test`: a few hundred clients, seconds per scenario.
    pub quick: bool,
    /// Install missing tools first.
    pub install: bool,
    /// Only these scenarios (`--only NAME`, repeatable), without the fuzzing and hammer
    /// sections; the report then goes to target/xtask/chaos-only.md. Empty: everything.
    pub only: Vec<String>,
}

/// The scenarios, full or quick.
pub fn plan(quick: bool) -> Vec<Scenario> {
    // (clients, rate, publish for, fault at, fault for)
    let q = quick;
    let pick = |full: &str, short: &str| if q { short.to_owned() } else { full.to_owned() };
    let n = |full: usize, short: usize| if q { short } else { full };
    let scenario = |name: &'static str, what: String, args: &[(&str, String)]| Scenario {
        name,
        what,
        args: args
            .iter()
            .flat_map(|(k, v)| [format!("--{k}"), v.clone()])
            .collect(),
    };
    let cuts_for = pick("10", "3");
    vec![
        scenario(
            "cuts",
            format!(
                "{} native clients behind a proxy adding 20 ms each way and cutting every \
                 connection every 1 s for {cuts_for} s; 1 publisher beside the proxy at 100 msg/s \
                 for {} s; one `tandem serve` with default settings",
                n(1000, 200),
                pick("20", "6")
            ),
            &[
                ("clients", n(1000, 200).to_string()),
                ("rate", "100".into()),
                ("publish-for", pick("20", "6")),
                ("fault-at", pick("3", "1")),
                ("fault-for", cuts_for.clone()),
                ("cut-every", "1".into()),
                ("delay-ms", "20".into()),
            ],
        ),
        scenario(
            "kill",
            format!(
                "{} native clients on one node, SIGKILLed {} s into a 100 msg/s stream and \
                 restarted on its port {} s later (history dies with it: `recovered: false` expected)",
                n(1000, 200),
                pick("3", "1"),
                pick("1", "0.5")
            ),
            &[
                ("clients", n(1000, 200).to_string()),
                ("rate", "100".into()),
                ("publish-for", pick("15", "5")),
                ("fault-at", pick("3", "1")),
                ("fault-for", pick("1", "0.5")),
            ],
        ),
        scenario(
            "failover",
            format!(
                "two nodes on one `redis-server`; {} native clients on node 1 with node 2 as \
                 their fallback URL; the publisher on node 2; node 1 SIGKILLed {} s into a \
                 100 msg/s stream",
                n(1000, 200),
                pick("8", "2")
            ),
            &[
                ("clients", n(1000, 200).to_string()),
                ("rate", "100".into()),
                ("publish-for", pick("20", "5")),
                ("fault-at", pick("8", "2")),
            ],
        ),
        scenario(
            "redis-restart",
            format!(
                "two nodes on one `redis-server`, {} native clients split between them (each \
                 with the other as fallback); Redis SIGKILLed {} s into a 100 msg/s stream and \
                 restarted empty {} s later",
                n(1000, 200),
                pick("3", "1"),
                pick("1", "0.5")
            ),
            &[
                ("clients", n(1000, 200).to_string()),
                ("rate", "100".into()),
                ("publish-for", pick("15", "5")),
                ("fault-at", pick("3", "1")),
                ("fault-for", pick("1", "0.5")),
            ],
        ),
        scenario(
            "redis-cluster",
            format!(
                "three nodes over a Redis Cluster (3 masters, 3 replicas, node timeout 2 s); a \
                 room on each shard with its own publisher at {} msg/s; {} native clients spread \
                 over the nodes and rooms (each with the other nodes as fallbacks); the master of \
                 the first room's shard SIGKILLed {} s in and its replica promoted. Publishes in \
                 that room must be acknowledged or fail with `unavailable`; the other shards' \
                 rooms must keep being acknowledged, with no failure",
                pick("100", "50"),
                n(600, 150),
                pick("5", "2")
            ),
            &[
                ("clients", n(600, 150).to_string()),
                ("rate", pick("100", "50")),
                ("publish-for", pick("20", "12")),
                ("fault-at", pick("5", "2")),
                ("tail-secs", pick("60", "30")),
            ],
        ),
        scenario(
            "storm",
            format!(
                "reconnect storm: {} native clients on one node, SIGKILLed {} s into a 10 msg/s \
                 stream and restarted {} s later; all come back at once",
                n(5000, 500),
                pick("3", "1"),
                pick("1", "0.5")
            ),
            &[
                ("clients", n(5000, 500).to_string()),
                ("rate", "10".into()),
                ("publish-for", pick("15", "5")),
                ("fault-at", pick("3", "1")),
                ("fault-for", pick("1", "0.5")),
                ("join-secs", "120".into()),
            ],
        ),
        scenario(
            "browser",
            format!(
                "{} Chromium pages (the npm package) behind the same proxy (20 ms each way, \
                 every connection cut every 1 s for {cuts_for} s); publisher at 100 msg/s for {} s",
                n(4, 2),
                pick("20", "6")
            ),
            &[
                ("clients", n(4, 2).to_string()),
                ("rate", "100".into()),
                ("publish-for", pick("20", "6")),
                ("fault-at", pick("3", "1")),
                ("fault-for", cuts_for.clone()),
                ("cut-every", "1".into()),
                ("delay-ms", "20".into()),
            ],
        ),
    ]
}

/// The `sh -c` script that raises the open-files limit to the hard limit, then runs
/// `$0 "$@"`: 5,000 clients, their server and the proxy's sockets need more than 1,024.
const RAISE_OPEN_FILES: &str = r#"ulimit -n "$(ulimit -Hn)" 2>/dev/null || true; exec "$0" "$@""#;

/// The profile the suite's binaries are built with (Cargo.toml: release without LTO).
const PROFILE: &str = "chaos";

/// Runs the suite, prints and writes the report; fails if any scenario failed.
pub fn run(options: &Options) -> Result<()> {
    let root = workspace::root()?;
    let shell = Shell::new(root.clone());
    if options.install {
        tools::ensure_bench(&shell)?;
    }
    let report = run_with(&shell, options.quick, &options.only)?;
    let file = if !options.only.is_empty() {
        root.join("target/xtask/chaos-only.md")
    } else if options.quick {
        root.join("target/xtask/chaos-quick.md")
    } else {
        root.join("CHAOS.md")
    };
    if let Some(dir) = file.parent() {
        std::fs::create_dir_all(dir).map_err(|e| format!("creating {}: {e}", dir.display()))?;
    }
    std::fs::write(&file, &report.text).map_err(|e| format!("writing {}: {e}", file.display()))?;
    announce(&format!("wrote {}", file.display()));
    match report.failures.is_empty() {
        true => Ok(()),
        false => Err(format!("chaos: {}", report.failures.join("; "))),
    }
}

/// The rendered report and what failed.
pub struct Report {
    /// Markdown.
    pub text: String,
    /// One line per failed scenario or section.
    pub failures: Vec<String>,
}

/// Builds the binaries, runs every scenario of the plan (or those in `only`) and the fuzz
/// sections (not with `only`), and renders the report (also printed).
pub fn run_with(shell: &Shell, quick: bool, only: &[String]) -> Result<Report> {
    let mut plan = plan(quick);
    if let Some(unknown) = only.iter().find(|o| !plan.iter().any(|s| s.name == *o)) {
        let names: Vec<&str> = plan.iter().map(|s| s.name).collect();
        return Err(format!(
            "chaos: no scenario `{unknown}` (there are: {})",
            names.join(", ")
        ));
    }
    if !only.is_empty() {
        plan.retain(|s| only.iter().any(|o| o == s.name));
    }
    let root = shell.root().to_path_buf();
    shell
        .cmd("cargo")
        .args([
            "build",
            "--profile",
            PROFILE,
            "-p",
            "tandem-cli",
            "-p",
            "tandem-chaos",
        ])
        .args(["--bin", "tandem", "--bin", "tandem-chaos"])
        .run("build (profile chaos)")?;
    let bins = root.join("target").join(PROFILE);
    if plan.iter().any(|s| s.name == "browser") {
        ensure_package(shell)?;
    }
    let logs = root.join("target/xtask/chaos-logs");
    let mut rows = Vec::new();
    for scenario in &plan {
        rows.push(run_scenario(shell, &bins, &logs, scenario));
    }
    let mut sections = Vec::new();
    let mut failures: Vec<String> = rows
        .iter()
        .filter(|r| !r.passed())
        .map(|r| format!("{} failed: {}", r.name, r.reason()))
        .collect();
    let extra = if only.is_empty() {
        extra_sections(shell, quick)
    } else {
        Vec::new()
    };
    for (title, section) in extra {
        match section {
            Ok(text) => sections.push(text),
            Err(e) => {
                failures.push(format!("{title} failed: {e}"));
                sections.push(format!("## {title}\n\nFAILED: {e}\n"));
            }
        }
    }
    let text = chaos_report::render(
        &chaos_report::machine(shell),
        quick,
        &plan,
        &rows,
        &sections,
    );
    println!("\n{text}");
    Ok(Report { text, failures })
}

/// The coverage-guided fuzzing and the live junk-frame hammer (`xtask/src/fuzz.rs`), each
/// a markdown section or the reason it failed.
fn extra_sections(shell: &Shell, quick: bool) -> Vec<(&'static str, Result<String>)> {
    vec![
        ("fuzzing", crate::fuzz::fuzz_section(shell, quick)),
        (
            "junk-frame hammer",
            crate::fuzz::hammer_section(shell, quick),
        ),
    ]
}

/// Builds the npm package (as `cargo xtask bench` does) and installs playwright-core
/// (the web app's dependencies) when either is missing.
fn ensure_package(shell: &Shell) -> Result<()> {
    let root = shell.root();
    if !root.join(package::DIR).join("index.js").exists() {
        announce("the npm package is not built: building it for the browser scenario");
        package::build(shell)?;
    }
    let playwright = root
        .join(web::DIR)
        .join("node_modules/playwright-core/package.json");
    if !playwright.exists() {
        web::install(shell)?;
    }
    Ok(())
}

/// Runs one scenario; a crash or a missing result line becomes a failed row.
fn run_scenario(shell: &Shell, bins: &Path, logs: &Path, scenario: &Scenario) -> Row {
    let load: PathBuf = bins.join("tandem-chaos");
    let mut line = None;
    let root = shell.root();
    let result = shell
        .cmd("sh")
        .args(["-c", RAISE_OPEN_FILES])
        .arg(load.to_string_lossy())
        .arg(scenario.name)
        .args([
            "--tandem".to_owned(),
            bins.join("tandem").to_string_lossy().into_owned(),
        ])
        .args(["--logs".to_owned(), logs.to_string_lossy().into_owned()])
        .args([
            "--browser-script".to_owned(),
            root.join("crates/tandem-chaos/browser/run.mjs")
                .to_string_lossy()
                .into_owned(),
        ])
        .args([
            "--pkg-dir".to_owned(),
            root.join(package::DIR).to_string_lossy().into_owned(),
        ])
        .args([
            "--playwright-from".to_owned(),
            root.join(web::DIR).to_string_lossy().into_owned(),
        ])
        .args(["--chromium", CHROMIUM])
        // `=`: the value starts with a dash.
        .arg(format!("--chromium-args={}", CHROME_ARGS.join(" ")))
        .args(scenario.args.iter().cloned())
        .run_tee(&format!("chaos: {}", scenario.name), |l| {
            if json::string(l, "figure") == Some("chaos") {
                line = Some(l.to_owned());
            }
        });
    match (result, line) {
        (Ok(()), Some(line)) => Row::from_line(scenario.name, &line),
        (Err(e), _) => Row::crashed(scenario.name, e),
        (Ok(()), None) => Row::crashed(scenario.name, "no result line".to_owned()),
    }
}
