//! The browser scenario: Chromium pages using the npm package, behind the same cutting,
//! delaying proxy as the `cuts` scenario. The pages come from `tandem serve --static-dir`
//! through the proxy (so they are same-origin with the WebSocket); `browser/run.mjs`
//! drives them with Playwright and reports each page's checker (`browser/page.js`).

use std::path::Path;
use std::process::Stdio;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde_json::Value;
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::process::Command;
use tokio::time::Instant;

use crate::Args;
use crate::scenario::{self, Env, Final, Kind, Publisher};

/// Copies `from` into `to` recursively.
fn copy_dir(from: &Path, to: &Path) -> Result<(), String> {
    std::fs::create_dir_all(to).map_err(|e| format!("creating {}: {e}", to.display()))?;
    let entries =
        std::fs::read_dir(from).map_err(|e| format!("reading {}: {e}", from.display()))?;
    for entry in entries {
        let entry = entry.map_err(|e| format!("reading {}: {e}", from.display()))?;
        let path = entry.path();
        let target = to.join(entry.file_name());
        if path.is_dir() {
            copy_dir(&path, &target)?;
        } else {
            std::fs::copy(&path, &target)
                .map_err(|e| format!("copying {}: {e}", path.display()))?;
        }
    }
    Ok(())
}

/// Milliseconds since the Unix epoch of the monotonic instant `at`.
fn epoch_ms(at: Instant) -> f64 {
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default()
        .as_secs_f64()
        * 1e3;
    let ago = Instant::now().saturating_duration_since(at).as_secs_f64() * 1e3;
    now - ago
}

/// Runs the browser scenario.
pub async fn run(args: &Args) -> Result<String, String> {
    let here = args
        .browser_script
        .parent()
        .ok_or("--browser-script has no directory")?;
    if !args.pkg_dir.join("index.js").exists() {
        return Err(format!(
            "{} holds no index.js: build the npm package first",
            args.pkg_dir.display()
        ));
    }
    let site = args.logs.join("browser-site");
    let _ = std::fs::remove_dir_all(&site);
    std::fs::create_dir_all(&site).map_err(|e| format!("creating {}: {e}", site.display()))?;
    for file in ["index.html", "page.js"] {
        std::fs::copy(here.join(file), site.join(file))
            .map_err(|e| format!("copying {file}: {e}"))?;
    }
    copy_dir(&args.pkg_dir, &site.join("pkg"))?;
    let site_arg = std::path::absolute(&site)
        .map_err(|e| format!("{}: {e}", site.display()))?
        .to_string_lossy()
        .into_owned();
    let mut env = Env::start(args, Kind::Browser, &["--static-dir".to_owned(), site_arg]).await?;
    let result = pages(args, &mut env).await;
    env.stop().await;
    result
}

async fn pages(args: &Args, env: &mut Env) -> Result<String, String> {
    let proxy = env.proxy.as_ref().ok_or("no proxy")?.addr();
    let ready_ms = (args.join_secs * 1e3) as u64 + 60_000;
    let tail_ms = (args.tail_secs * 1e3) as u64;
    let mut child = Command::new("node")
        .arg(&args.browser_script)
        .env("PAGE_URL", format!("http://{proxy}/index.html"))
        .env("PAGES", args.clients.to_string())
        .env("PLAYWRIGHT_FROM", &args.playwright_from)
        .env("CHROMIUM", &args.chromium)
        .env("CHROMIUM_ARGS", &args.chromium_args)
        .env("READY_MS", ready_ms.to_string())
        .env("TAIL_MS", tail_ms.to_string())
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .map_err(|e| format!("starting node {}: {e}", args.browser_script.display()))?;
    let mut stdin = child.stdin.take().ok_or("node: no stdin")?;
    let stdout = child.stdout.take().ok_or("node: no stdout")?;
    let mut lines = BufReader::new(stdout).lines();
    let mut next = async |ms: u64| -> Result<Option<Value>, String> {
        let line = tokio::time::timeout(Duration::from_millis(ms), lines.next_line())
            .await
            .map_err(|_| format!("run.mjs said nothing within {ms} ms"))?
            .map_err(|e| format!("reading run.mjs: {e}"))?;
        Ok(line.and_then(|l| serde_json::from_str(&l).ok()))
    };
    match next(ready_ms + 30_000).await? {
        Some(v) if v.get("ready").is_some() => {}
        other => return Err(format!("run.mjs: the pages did not get ready ({other:?})")),
    }
    eprintln!("tandem-chaos: {} pages joined", args.clients);

    let mut publisher = Publisher::connect(&env.nodes[0].url(), &[]).await?;
    let start = Instant::now();
    let (published, fault_end) = tokio::join!(
        publisher.run(args.rate, scenario::secs(args.publish_for), start),
        scenario::fault(args, Kind::Browser, env, start)
    );
    let fault_end = epoch_ms(fault_end?);
    let last = published.last;
    stdin
        .write_all(format!("{{\"last\":{last}}}\n").as_bytes())
        .await
        .map_err(|e| format!("writing to run.mjs: {e}"))?;
    let mut finals = Vec::new();
    while let Some(page) = next(tail_ms + 60_000).await? {
        if page.get("page").is_none() {
            continue;
        }
        let num = |key: &str| page.get(key).and_then(Value::as_u64).unwrap_or(0);
        let flag = |key: &str| page.get(key).and_then(Value::as_bool).unwrap_or(false);
        let gaps: Vec<(u64, u64)> = page
            .get("gaps")
            .and_then(Value::as_array)
            .map(|a| {
                a.iter()
                    .filter_map(|g| Some((g.get(0)?.as_u64()?, g.get(1)?.as_u64()?)))
                    .collect()
            })
            .unwrap_or_default();
        let open = flag("open");
        let back = open && !flag("left") && num("maxN") >= last;
        let (duplicates, silent_lost) = (num("duplicates"), num("silentLost"));
        let last_open = page.get("lastOpen").and_then(Value::as_f64).unwrap_or(0.0);
        let signalled_lost = gaps
            .iter()
            .map(|&(a, b)| (a + 1..b).filter(|n| published.acked.contains(n)).count() as u64)
            .sum();
        finals.push(Final {
            joined: true,
            back,
            exact: back && duplicates == 0 && silent_lost == 0 && signalled_lost == 0,
            duplicates,
            silent_lost,
            signalled_lost,
            not_recovered: num("notRecovered"),
            // The pages count only the rejoins that lost something.
            recovered: 0,
            open_ms: open.then(|| (last_open - fault_end).max(0.0)),
            errors: num("errors"),
            problem: page
                .get("problem")
                .and_then(Value::as_str)
                .map(str::to_owned)
                .or_else(|| (!back).then(|| format!("not back: stuck at {}", num("maxN")))),
        });
    }
    let _ = child.wait().await;
    if finals.len() != args.clients {
        return Err(format!(
            "run.mjs reported {} pages of {}",
            finals.len(),
            args.clients
        ));
    }
    let peak = env.peak_kib();
    Ok(scenario::result_line(
        Kind::Browser,
        args,
        &finals,
        &published,
        peak,
        Vec::new(),
    ))
}
