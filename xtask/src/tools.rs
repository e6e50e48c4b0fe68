//! Installing what the test suite needs, only where it is missing, saying so each time.

use std::io::IsTerminal;
use std::path::{Path, PathBuf};

use crate::process::{Result, Shell, announce};
use crate::workspace;

/// The Rust target the browser build uses.
pub const WASM_TARGET: &str = "wasm32-unknown-unknown";
/// Debian's Chromium binary.
pub const CHROMIUM: &str = "/usr/bin/chromium";
/// Debian's chromedriver binary (package `chromium-driver`).
/// Chromium's arguments wherever the tasks start it (wasm tests, Playwright, bench, chaos). Chromium runs as root here, which needs
/// `--no-sandbox`; the rest keeps a headless test browser quiet and off the network.
/// (wasm-bindgen-test-runner adds `headless`, `no-sandbox` and `disable-dev-shm-usage`
/// itself as well; repeating them is harmless and keeps this file self-explanatory.)
pub const CHROME_ARGS: &[&str] = &[
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-dev-shm-usage",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
];

pub const CHROMEDRIVER: &str = "/usr/bin/chromedriver";

/// Where the npm build tools are installed, relative to the workspace root.
const JS_TOOLS: &str = "xtask/js-tools";

/// The step name used in messages.
const STEP: &str = "install tools";

/// Ensures every tool is present, installing what is missing.
pub fn ensure_all(shell: &Shell) -> Result<()> {
    ensure_wasm_target(shell)?;
    ensure_components(shell)?;
    ensure_wasm_bindgen_cli(shell)?;
    ensure_wasm_pack(shell)?;
    ensure_chromium(shell)?;
    ensure_redis(shell)?;
    ensure_prometheus(shell)?;
    ensure_foreign_peers(shell)?;
    ensure_bench_peers(shell)?;
    ensure_js_tools(shell)
}

/// What `cargo xtask demo` needs: the wasm target, wasm-pack, wasm-opt, Node and npm.
pub fn ensure_web(shell: &Shell) -> Result<()> {
    ensure_wasm_target(shell)?;
    ensure_wasm_pack(shell)?;
    ensure_node(shell)?;
    ensure_js_tools(shell)
}

/// What `cargo xtask bench` needs: the web tools (the npm package is measured and loaded in
/// Chromium), Chromium, redis-server (the two-node figure), and the Node peers of `bench/node`.
pub fn ensure_bench(shell: &Shell) -> Result<()> {
    ensure_web(shell)?;
    ensure_chromium(shell)?;
    ensure_redis(shell)?;
    ensure_bench_peers(shell)
}

/// The benchmark's Node peers (ws, Socket.IO) in `bench/node`, from their lockfile.
fn ensure_bench_peers(shell: &Shell) -> Result<()> {
    let peers = shell.root().join("bench/node/node_modules");
    if ["socket.io", "ws"]
        .iter()
        .all(|p| peers.join(p).join("package.json").exists())
    {
        announce("ok: the Node peers (ws, socket.io) are installed in bench/node");
        return Ok(());
    }
    announce("installing the Node peers (ws, socket.io) in bench/node (npm ci)");
    shell
        .cmd("npm")
        .args(["ci", "--no-audit", "--no-fund", "--prefix", "bench/node"])
        .run(STEP)
}

/// The oldest Node the web app's tools run on (Vite 7 needs 20.19).
const NODE_MIN: (u32, u32) = (20, 19);

/// Node and npm (Debian's packages) unless present; then fails clearly if that Node is
/// older than [`NODE_MIN`] (Debian 12's own is 18), rather than letting Vite fail later.
fn ensure_node(shell: &Shell) -> Result<()> {
    if shell.version_of("node").is_none() || shell.version_of("npm").is_none() {
        apt_install(shell, &["nodejs", "npm"], "node and npm")?;
    }
    let version = shell.version_of("node").unwrap_or_default();
    match node_version(&version) {
        Some(v) if v >= NODE_MIN => Ok(()),
        _ => Err(format!(
            "step `{STEP}` failed: node `{version}` is too old or missing; Vite 7 needs Node \
             {}.{} or newer (install it from nodejs.org or NodeSource, then run again)",
            NODE_MIN.0, NODE_MIN.1
        )),
    }
}

/// `(major, minor)` of a `node --version` answer like `v20.20.2`.
fn node_version(text: &str) -> Option<(u32, u32)> {
    let mut parts = text.trim().trim_start_matches('v').split('.');
    Some((parts.next()?.parse().ok()?, parts.next()?.parse().ok()?))
}

/// The npm tools of `xtask/js-tools` (binaryen's wasm-opt, esbuild), from their lockfile.
fn ensure_js_tools(shell: &Shell) -> Result<()> {
    let modules = shell.root().join(JS_TOOLS).join("node_modules");
    if ["binaryen", "esbuild"]
        .iter()
        .all(|tool| modules.join(tool).join("package.json").exists())
    {
        announce("ok: npm binaryen (wasm-opt) and esbuild are installed in xtask/js-tools");
        return Ok(());
    }
    announce("installing npm binaryen (wasm-opt) and esbuild in xtask/js-tools (npm ci)");
    shell
        .cmd("npm")
        .args(["ci", "--no-audit", "--no-fund", "--prefix", JS_TOOLS])
        .run(STEP)
}

/// binaryen's wasm-opt from `xtask/js-tools`.
pub fn wasm_opt(shell: &Shell) -> PathBuf {
    shell
        .root()
        .join(JS_TOOLS)
        .join("node_modules/.bin/wasm-opt")
}

/// esbuild from `xtask/js-tools`, to measure the package as a page's bundle carries it.
pub fn esbuild(shell: &Shell) -> PathBuf {
    shell
        .root()
        .join(JS_TOOLS)
        .join("node_modules/.bin/esbuild")
}

/// `rustup target add wasm32-unknown-unknown` unless it is installed.
fn ensure_wasm_target(shell: &Shell) -> Result<()> {
    let installed = rustup_list(shell, &["target", "list", "--installed"])?;
    if installed.lines().any(|line| line.trim() == WASM_TARGET) {
        announce(&format!("ok: rust target {WASM_TARGET} is installed"));
        return Ok(());
    }
    announce(&format!("installing rust target {WASM_TARGET}"));
    shell
        .cmd("rustup")
        .args(["target", "add", WASM_TARGET])
        .run(STEP)
}

/// `rustup component add` for rustfmt and clippy where missing.
fn ensure_components(shell: &Shell) -> Result<()> {
    let installed = rustup_list(shell, &["component", "list", "--installed"])?;
    // Installed components are listed as `<name>-<host triple>`, e.g. `clippy-x86_64-...`.
    let missing: Vec<&str> = ["rustfmt", "clippy"]
        .into_iter()
        .filter(|name| {
            !installed
                .lines()
                .any(|line| line.trim().starts_with(&format!("{name}-")))
        })
        .collect();
    if missing.is_empty() {
        announce("ok: rustup components rustfmt and clippy are installed");
        return Ok(());
    }
    announce(&format!(
        "installing rustup components: {}",
        missing.join(", ")
    ));
    shell
        .cmd("rustup")
        .args(["component", "add"])
        .args(missing)
        .run(STEP)
}

/// The output of a `rustup ... list` command, or an error saying rustup is needed.
fn rustup_list(shell: &Shell, args: &[&str]) -> Result<String> {
    shell
        .cmd("rustup")
        .args(args.iter().copied())
        .capture()
        .ok_or_else(|| {
            format!(
                "step `{STEP}` failed: `rustup {}` did not run; rustup is needed to add the \
             {WASM_TARGET} target and the rustfmt/clippy components (or run with --no-install \
             after installing them yourself)",
                args.join(" ")
            )
        })
}

/// `cargo install wasm-bindgen-cli --version X` where X is the `wasm-bindgen` version in
/// Cargo.lock, unless `wasm-bindgen` and `wasm-bindgen-test-runner` already report X.
/// Skipped when Cargo.lock has no `wasm-bindgen`.
fn ensure_wasm_bindgen_cli(shell: &Shell) -> Result<()> {
    let lock_path = shell.root().join("Cargo.lock");
    if !lock_path.exists() {
        // A checkout without a lock file: create it so the pinned version can be read.
        shell.cmd("cargo").arg("generate-lockfile").run(STEP)?;
    }
    let lock = std::fs::read_to_string(&lock_path)
        .map_err(|e| format!("step `{STEP}` failed: reading {}: {e}", lock_path.display()))?;
    let mut versions = workspace::locked_versions(&lock, "wasm-bindgen");
    versions.dedup();
    let wanted = match versions.as_slice() {
        [] => {
            announce("skipping wasm-bindgen-cli: Cargo.lock has no wasm-bindgen package");
            return Ok(());
        }
        [one] => one.clone(),
        several => {
            return Err(format!(
                "step `{STEP}` failed: Cargo.lock has several wasm-bindgen versions ({}); \
                 wasm-bindgen-test-runner must match exactly one",
                several.join(", ")
            ));
        }
    };
    let found = reported_version(shell, "wasm-bindgen");
    let runner = reported_version(shell, "wasm-bindgen-test-runner");
    if found.as_deref() == Some(wanted.as_str()) && runner.as_deref() == Some(wanted.as_str()) {
        announce(&format!(
            "ok: wasm-bindgen-cli {wanted} is installed (matches Cargo.lock)"
        ));
        return Ok(());
    }
    announce(&format!(
        "installing wasm-bindgen-cli {wanted} (Cargo.lock pins wasm-bindgen {wanted}; found {}; \
         this builds from source and takes a few minutes)",
        found.map_or_else(|| "none".to_owned(), |v| format!("wasm-bindgen {v}"))
    ));
    // No `--locked`: it fails against the registry mirror these machines use.
    shell
        .cmd("cargo")
        .args(["install", "wasm-bindgen-cli", "--version", wanted.as_str()])
        .run(STEP)?;
    match reported_version(shell, "wasm-bindgen-test-runner") {
        Some(v) if v == wanted => Ok(()),
        other => Err(format!(
            "step `{STEP}` failed: after installing wasm-bindgen-cli {wanted}, \
             wasm-bindgen-test-runner reports {} (is another copy earlier on PATH?)",
            other.unwrap_or_else(|| "nothing".to_owned())
        )),
    }
}

/// The version a tool reports as `<name> <version>` on `--version`, if it runs.
fn reported_version(shell: &Shell, program: &str) -> Option<String> {
    let output = shell.version_of(program)?;
    output.split_whitespace().nth(1).map(str::to_owned)
}

/// `cargo install wasm-pack` unless `wasm-pack --version` runs.
fn ensure_wasm_pack(shell: &Shell) -> Result<()> {
    if let Some(version) = shell.version_of("wasm-pack") {
        announce(&format!("ok: {version} is installed"));
        return Ok(());
    }
    announce("installing wasm-pack (builds from source and takes a few minutes)");
    shell.cmd("cargo").args(["install", "wasm-pack"]).run(STEP)
}

/// Debian `redis-server`, which the multi-node tests and the two-node benchmark start
/// themselves on free loopback ports (never a system service).
/// `redis-cli` (Debian's redis-tools, a dependency of redis-server) creates and watches
/// the Redis Cluster of the cluster tests and the `redis-cluster` chaos scenario.
pub fn ensure_redis(shell: &Shell) -> Result<()> {
    let server = shell.version_of("redis-server");
    let cli = shell.version_of("redis-cli");
    if let (Some(version), Some(_)) = (&server, &cli) {
        announce(&format!("ok: {version} and redis-cli are installed"));
        return Ok(());
    }
    announce("installing Debian redis-server and redis-tools (redis-cli)");
    apt_install(shell, &["redis-server", "redis-tools"], "redis-server")?;
    for program in ["redis-server", "redis-cli"] {
        if shell.version_of(program).is_none() {
            return Err(format!(
                "step `{STEP}` failed: {program} is still missing after apt-get install"
            ));
        }
    }
    Ok(())
}

/// Debian `prometheus`, which the metrics test starts itself (scraping a `tandem serve` on a
/// free loopback port, with its data in a temporary directory; never a system service).
pub fn ensure_prometheus(shell: &Shell) -> Result<()> {
    if let Some(version) = shell.version_of("prometheus") {
        let first = version.lines().next().unwrap_or_default();
        announce(&format!("ok: {first} is installed"));
        return Ok(());
    }
    announce("installing Debian prometheus");
    apt_install(shell, &["prometheus"], "prometheus")?;
    if shell.version_of("prometheus").is_none() {
        return Err(format!(
            "step `{STEP}` failed: prometheus is still missing after apt-get install"
        ));
    }
    Ok(())
}

/// Debian `chromium` and `chromium-driver` unless both binaries exist.
fn ensure_chromium(shell: &Shell) -> Result<()> {
    let missing: Vec<&str> = [CHROMIUM, CHROMEDRIVER]
        .into_iter()
        .filter(|path| !Path::new(path).exists())
        .collect();
    if missing.is_empty() {
        announce(&format!("ok: {CHROMIUM} and {CHROMEDRIVER} are installed"));
        return Ok(());
    }
    announce(&format!(
        "installing Debian chromium and chromium-driver (missing: {})",
        missing.join(", ")
    ));
    apt_install(
        shell,
        &["chromium", "chromium-driver"],
        &missing.join(" and "),
    )?;
    for path in [CHROMIUM, CHROMEDRIVER] {
        if !Path::new(path).exists() {
            return Err(format!(
                "step `{STEP}` failed: {path} is still missing after apt-get install"
            ));
        }
    }
    Ok(())
}

/// Installs Debian `packages` with apt-get (through `sudo` when not root), without prompts
/// when nobody can answer them. `missing` names what they provide, for the error.
fn apt_install(shell: &Shell, packages: &[&str], missing: &str) -> Result<()> {
    if shell.version_of("apt-get").is_none() {
        return Err(format!(
            "step `{STEP}` failed: {missing} missing and apt-get is not available; install \
             {} by hand, then re-run",
            packages.join(" ")
        ));
    }
    let is_root = shell.cmd("id").arg("-u").capture().as_deref() == Some("0");
    // No prompts when nobody can answer them: in CI, or without a terminal on stdin.
    let noninteractive =
        std::env::var("CI").is_ok_and(|v| v == "true") || !std::io::stdin().is_terminal();
    let apt = |args: &[&str]| {
        let cmd = match (is_root, noninteractive) {
            (true, false) => shell.cmd("apt-get"),
            (true, true) => shell
                .cmd("apt-get")
                .env("DEBIAN_FRONTEND", "noninteractive"),
            (false, false) => shell.cmd("sudo").arg("apt-get"),
            // sudo resets the environment, so the variable goes through `env`; `-n` fails
            // at once instead of waiting for a password nobody can type.
            (false, true) => {
                shell
                    .cmd("sudo")
                    .args(["-n", "env", "DEBIAN_FRONTEND=noninteractive", "apt-get"])
            }
        };
        cmd.args(args.iter().copied())
    };
    apt(&["update"]).run(STEP)?;
    apt(&["install", "-y"])
        .args(packages.iter().copied())
        .run(STEP)
}

/// The foreign peers' runtimes and libraries: Python with PyPI `websockets`, `PyJWT` and
/// `cryptography` at the versions in tests/foreign/python/requirements.txt, and Node with
/// npm `ws` and `jose` from the lockfile in tests/foreign/node.
fn ensure_foreign_peers(shell: &Shell) -> Result<()> {
    let root = shell.root().to_path_buf();
    let requirements = root.join("tests/foreign/python/requirements.txt");
    let wanted = std::fs::read_to_string(&requirements).map_err(|e| {
        format!(
            "step `{STEP}` failed: reading {}: {e}",
            requirements.display()
        )
    })?;
    // Each pinned package as (import name, version).
    let pins: Vec<(String, String)> = wanted
        .lines()
        .filter_map(|l| l.trim().split_once("=="))
        .map(|(name, version)| (import_name(name), version.to_owned()))
        .collect();
    if shell.version_of("python3").is_none() {
        apt_install(shell, &["python3", "python3-pip"], "python3")?;
    }
    let probe: String = pins
        .iter()
        .map(|(module, _)| format!("import {module}; print({module}.__version__); "))
        .collect();
    let have = shell.cmd("python3").args(["-c", probe.as_str()]).capture();
    let have: Vec<&str> = have.as_deref().map_or(Vec::new(), |h| h.lines().collect());
    let wanted_versions: Vec<&str> = pins.iter().map(|(_, v)| v.as_str()).collect();
    let listed = wanted.split_whitespace().collect::<Vec<_>>().join(" ");
    if have == wanted_versions {
        announce(&format!("ok: Python {listed} are installed"));
    } else {
        announce(&format!("installing Python {listed} with pip"));
        let requirements = requirements.to_string_lossy().into_owned();
        shell
            .cmd("python3")
            .args([
                "-m",
                "pip",
                "install",
                "--quiet",
                "--disable-pip-version-check",
            ])
            .args(["-r", requirements.as_str()])
            .run(STEP)?;
    }

    ensure_node(shell)?;
    let node_dir = root.join("tests/foreign/node");
    let installed = ["ws", "jose"].iter().all(|m| {
        node_dir
            .join("node_modules")
            .join(m)
            .join("package.json")
            .exists()
    });
    if installed {
        announce("ok: npm ws and jose are installed in tests/foreign/node");
        return Ok(());
    }
    announce("installing npm ws and jose in tests/foreign/node (npm ci)");
    let dir = node_dir.to_string_lossy().into_owned();
    shell
        .cmd("npm")
        .args(["ci", "--no-audit", "--no-fund", "--prefix", dir.as_str()])
        .run(STEP)
}

/// The module a PyPI package is imported as.
fn import_name(package: &str) -> String {
    match package {
        "PyJWT" => "jwt".to_owned(),
        other => other.to_lowercase().replace('-', "_"),
    }
}

#[cfg(test)]
mod tests {
    use super::{NODE_MIN, import_name, node_version};

    #[test]
    fn names_the_modules_of_pypi_packages() {
        assert_eq!(import_name("PyJWT"), "jwt");
        assert_eq!(import_name("websockets"), "websockets");
        assert_eq!(import_name("cryptography"), "cryptography");
    }

    #[test]
    fn reads_node_versions() {
        assert_eq!(node_version("v20.20.2\n"), Some((20, 20)));
        assert_eq!(node_version("v18.19.0"), Some((18, 19)));
        assert!(node_version("v18.19.0") < Some(NODE_MIN));
        assert!(node_version("v20.19.0") >= Some(NODE_MIN));
        assert_eq!(node_version("not node"), None);
    }
}
