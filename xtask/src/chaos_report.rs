//! The report of `cargo xtask chaos`: one row per scenario from `tandem-chaos`'s result
//! line, the machine, what each scenario does, and the fuzz sections. Markdown, printed
//! and written to CHAOS.md.

use std::fmt::Write as _;

/// One scenario of a plan: its name for `tandem-chaos`, what it does, and its arguments.
pub struct Scenario {
    /// `tandem-chaos`'s scenario name.
    pub name: &'static str,
    /// What it does, for the report.
    pub what: String,
    /// Its arguments after the name.
    pub args: Vec<String>,
}

use crate::json;
use crate::process::Shell;

/// One scenario's figures.
pub struct Row {
    /// The scenario.
    pub name: String,
    /// Its result line, when it printed one.
    line: Option<String>,
    /// Why it printed none.
    crash: Option<String>,
}

impl Row {
    /// A row from a result line.
    pub fn from_line(name: &str, line: &str) -> Row {
        Row {
            name: name.to_owned(),
            line: Some(line.to_owned()),
            crash: None,
        }
    }

    /// A scenario that ended without a result.
    pub fn crashed(name: &str, error: String) -> Row {
        Row {
            name: name.to_owned(),
            line: None,
            crash: Some(error),
        }
    }

    fn num(&self, key: &str) -> Option<f64> {
        self.line.as_deref().and_then(|l| json::number(l, key))
    }

    fn text(&self, key: &str) -> Option<&str> {
        self.line
            .as_deref()
            .and_then(|l| json::string(l, key))
            .filter(|t| !t.is_empty())
    }

    /// Whether the scenario passed: a result line with verdict `pass`.
    pub fn passed(&self) -> bool {
        self.text("verdict") == Some("pass")
    }

    /// Why it failed.
    pub fn reason(&self) -> String {
        match &self.crash {
            Some(crash) => crash.clone(),
            None => self.text("reason").unwrap_or("no verdict").to_owned(),
        }
    }
}

/// What the figures were measured on.
pub fn machine(shell: &Shell) -> Vec<(String, String)> {
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
    vec![
        (
            "date".to_owned(),
            capture("date", &["-u", "+%Y-%m-%d %H:%M UTC"]),
        ),
        (
            "machine".to_owned(),
            format!("{} cores ({model})", capture("nproc", &[])),
        ),
        ("kernel".to_owned(), capture("uname", &["-sr"])),
        ("rustc".to_owned(), capture("rustc", &["--version"])),
        (
            "tandem".to_owned(),
            format!(
                "{} (profile `chaos`: release without LTO)",
                capture("target/chaos/tandem", &["--version"])
            ),
        ),
        (
            "redis-server".to_owned(),
            capture("redis-server", &["--version"]),
        ),
        ("chromium".to_owned(), capture("chromium", &["--version"])),
    ]
}

/// A count cell.
fn count(row: &Row, key: &str) -> String {
    row.num(key)
        .map_or_else(|| "—".to_owned(), |v| group(v.round() as u64))
}

/// `1234567` as `1,234,567`.
fn group(value: u64) -> String {
    let digits = value.to_string();
    let mut out = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

/// Milliseconds as seconds with two decimals (`—` when unknown or negative).
fn seconds(row: &Row, key: &str) -> String {
    match row.num(key) {
        Some(ms) if ms >= 0.0 => format!("{:.2}", ms / 1000.0),
        _ => "—".to_owned(),
    }
}

/// The whole report; `sections` (fuzzing, the hammer) are appended as they are.
pub fn render(
    machine: &[(String, String)],
    quick: bool,
    plan: &[Scenario],
    rows: &[Row],
    sections: &[String],
) -> String {
    let mut out = String::new();
    let _ = writeln!(out, "# tandem chaos suite\n");
    let _ = writeln!(
        out,
        "Written by `cargo xtask chaos`{}. Every scenario runs real `tandem serve` processes \
         (and `redis-server`) on 127.0.0.1 with real clients, and checks each subscriber for \
         every message **exactly once, in order**, or a gap signalled by a rejoin with \
         `recovered: false`. A silent loss, a duplicate or a subscriber not back in the room \
         with the last message fails the run. Re-run it to refresh this file.\n",
        if quick { " --quick" } else { "" }
    );
    for (name, value) in machine {
        let _ = writeln!(out, "- **{name}**: {value}");
    }
    let _ = writeln!(out, "\n## Results\n");
    let _ = writeln!(
        out,
        "| scenario | subscribers | exactly once, in order | lost with `recovered: false` | \
         lost silently | duplicates | not back | open again p50 / p99 / max (s) | open ≤ 10 s | \
         server peak RSS (MiB) | verdict |"
    );
    let _ = writeln!(
        out,
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|"
    );
    for row in rows {
        let not_back = match (row.num("subscribers"), row.num("back")) {
            (Some(s), Some(b)) => group((s - b).max(0.0) as u64),
            _ => "—".to_owned(),
        };
        let rss = row
            .num("rss_peak_kib")
            .map_or_else(|| "—".to_owned(), |k| format!("{:.1}", k / 1024.0));
        let verdict = if row.passed() { "pass" } else { "**FAIL**" };
        let _ = writeln!(
            out,
            "| {} | {} | {} | {} | {} | {} | {} | {} / {} / {} | {} | {} | {} |",
            row.name,
            count(row, "subscribers"),
            count(row, "exact"),
            count(row, "lost_signalled"),
            count(row, "lost_silent"),
            count(row, "duplicates"),
            not_back,
            seconds(row, "open_p50_ms"),
            seconds(row, "open_p99_ms"),
            seconds(row, "open_max_ms"),
            count(row, "open_within_10s"),
            rss,
            verdict,
        );
    }
    let _ = writeln!(out, "\n## Scenarios\n");
    for scenario in plan {
        let _ = writeln!(out, "- **{}**: {}.", scenario.name, scenario.what);
    }
    let _ = writeln!(out, "\n## Notes from this run\n");
    for row in rows {
        let mut notes = Vec::new();
        if let Some(crash) = &row.crash {
            notes.push(format!("no result: {crash}"));
        }
        if let Some(reason) = row.text("reason") {
            notes.push(format!("FAILED: {reason}"));
        }
        if let (Some(p), Some(f)) = (row.num("published"), row.num("publish_failed")) {
            let rejoins = count(row, "not_recovered_rejoins");
            notes.push(format!(
                "{} messages acknowledged ({} publishes failed, {} unanswered when the \
                 publisher stopped waiting); {rejoins} rejoins with `recovered: false`; {} \
                 client errors",
                group(p as u64),
                group(f as u64),
                count(row, "publish_unanswered"),
                count(row, "client_errors")
            ));
        }
        if let Some(took) = row.num("failover_s") {
            notes.push(format!(
                "replica promoted {took:.2} s after the kill; the failed shard's room: {} \
                 acknowledged, {} `unavailable`, {} connection lost, {} other errors, {} resumes \
                 ({} with `recovered: false`), {} subscribers not back; the other shards' rooms: \
                 at least {} acknowledged during the failover each, {} publishes failed, {} resumes",
                count(row, "victim_acked"),
                count(row, "victim_unavailable"),
                count(row, "victim_connection_lost"),
                count(row, "victim_other_errors"),
                count(row, "victim_resumes"),
                count(row, "victim_not_recovered"),
                count(row, "victim_not_back"),
                count(row, "others_acked_during_failover"),
                count(row, "others_failed"),
                count(row, "others_resumes"),
            ));
        }
        if let Some(text) = row.text("notes") {
            notes.push(text.to_owned());
        }
        let _ = writeln!(out, "- **{}**: {}", row.name, notes.join("; "));
    }
    for section in sections {
        let _ = writeln!(out, "\n{}", section.trim_end());
    }
    out.push_str(METHOD);
    out
}

/// How the figures are measured.
const METHOD: &str = "
## Method

`crates/tandem-chaos` runs each scenario as its own process: it starts the servers (the
binaries of the `chaos` profile, release without LTO), the subscribers, then one publisher
(a native client never behind the proxy) that publishes a running number `n` at a fixed
rate; the fault runs on a timeline from the first message. Subscribers all join before the
first message, so each knows the room starts empty.

- **exactly once, in order**: each subscriber keeps its last `seq`. `seq = last + 1` is
  fine; `seq ≤ last` is a duplicate; `seq > last + 1` is a loss, *signalled* if a
  `Joined { recovered: Some(false) }` came since the last message, *silent* otherwise.
  After a `recovered: false` the numbering may restart (a standalone node restarted), so
  the next message sets the position afresh and the signalled loss is counted with the
  publisher's numbers: those acknowledged that fall inside the gap. A subscriber counts as
  exactly-once when it had no gap of either kind and no duplicate, and is back.
- **not back**: at the end (after the publisher stopped, waiting at most 60 s, 30 s in the
  quick run) a subscriber must be `Open`, still in the room, and have received the
  publisher's last acknowledged message.
- **open again**: for each subscriber, the last time it became `Open` minus the end of the
  fault (the last cut; the restarted process listening; the node killed, for failover);
  0 when it never dropped after the fault's end.
- **redis-cluster**: six `redis-server`s in cluster mode (`redis-cli --cluster create`,
  3 masters and 3 replicas, node timeout 2 s, `cluster-replica-validity-factor 0`,
  `cluster-require-full-coverage no`); the failover ends when every server reports
  `cluster_state:ok` with every slot on a running master. A publish is counted
  acknowledged only on an ack; with asynchronous replication an acknowledged message may
  be lost in the failover, and then the subscribers must be told (`recovered: false`).
- **server peak RSS**: the highest `VmHWM` of any `tandem serve` process of the scenario
  (read from `/proc` before each kill and at the end).
- The proxy (in `tandem-chaos`) holds each chunk for the delay in each direction and cuts
  with a TCP reset (`SO_LINGER` 0) on both sides. The browser pages are served by
  `tandem serve --static-dir` through the proxy and driven by Playwright
  (`crates/tandem-chaos/browser/run.mjs`, Debian Chromium), each checking with the same
  rule in JavaScript (`page.js`).
";
