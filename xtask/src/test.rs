//! `cargo xtask test`: tools, formatting, clippy, native tests and wasm tests in headless
//! Chromium, in that order, stopping at the first failing step, then a summary of counts.

use std::path::{Path, PathBuf};

use crate::process::{Result, Shell, announce};
use crate::services;
use crate::summary::Counts;
use crate::tools::{self, CHROMEDRIVER, WASM_TARGET};
use crate::workspace;

/// The crates whose tests also run compiled to wasm32, in headless Chromium.
const WASM_CRATES: &[&str] = &["tandem-proto", "tandem-client"];
/// The crates clippy also checks compiled to wasm32.
const WASM_LINTED: &[&str] = &["tandem-proto", "tandem-client", "tandem-wasm"];

/// Chrome arguments for the wasm tests. Chromium runs as root here, which needs
/// `--no-sandbox`; the rest keeps a headless test browser quiet and off the network.
/// (wasm-bindgen-test-runner adds `headless`, `no-sandbox` and `disable-dev-shm-usage`
/// itself as well; repeating them is harmless and keeps this file self-explanatory.)
const CHROME_ARGS: &[&str] = &[
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-dev-shm-usage",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
];

/// Options of `cargo xtask test`.
#[derive(Debug)]
pub struct Options {
    /// Whether to install missing tools first (`--no-install` turns this off).
    pub install: bool,
}

impl Default for Options {
    fn default() -> Self {
        Self { install: true }
    }
}

/// Runs every step; the error names the step that failed.
pub fn run(options: &Options) -> Result<()> {
    let root = workspace::root()?;
    let shell = Shell::new(root);
    announce(&format!(
        "cargo xtask test in {}",
        shell.root().to_string_lossy()
    ));

    if options.install {
        announce("checking tools (skip with --no-install)");
        tools::ensure_all(&shell)?;
    } else {
        announce("skipping tool installation (--no-install)");
    }

    shell
        .cmd("cargo")
        .args(["fmt", "--all", "--", "--check"])
        .run("format")?;
    shell
        .cmd("cargo")
        .args([
            "clippy",
            "--workspace",
            "--all-targets",
            "--",
            "-D",
            "warnings",
        ])
        .run("clippy (native)")?;
    shell
        .cmd("cargo")
        .arg("clippy")
        .args(WASM_LINTED.iter().flat_map(|c| ["-p", c]))
        .args(["--target", WASM_TARGET])
        .args(["--all-targets", "--", "-D", "warnings"])
        .run("clippy (wasm32)")?;

    let mut native = Counts::default();
    let native_result = shell
        .cmd("cargo")
        .args(["test", "--workspace"])
        .run_tee("tests (native)", |line| native.add_line(line));
    if let Err(error) = native_result {
        print_summary(&native, None);
        return Err(error);
    }

    let webdriver_json = write_webdriver_json(shell.root())?;
    // The browser tests talk to a real `tandem serve` and a silent peer, started here; their
    // addresses and tokens reach the tests at compile time.
    shell
        .cmd("cargo")
        .args(["build", "-p", "tandem-cli", "--bin", "tandem"])
        .run("build tandem")?;
    let tandem = shell.root().join("target/debug/tandem");
    let secret = services::run_secret();
    let server = services::tandem_serve(&tandem, &secret)?;
    let silent = services::silent_peer(shell.root())?;
    let alice = services::token(&tandem, &secret, "alice")?;
    let bob = services::token(&tandem, &secret, "bob")?;
    let mut wasm = Counts::default();
    let wasm_result = shell
        .cmd("cargo")
        // `--tests` (unit and integration tests) leaves out doc-tests: cargo would hand
        // them to the runner too, which runs no doc-test code and would count them passed.
        .arg("test")
        .args(WASM_CRATES.iter().flat_map(|c| ["-p", c]))
        .args(["--target", WASM_TARGET, "--tests"])
        .env("TANDEM_TEST_URL", &server.url)
        .env("TANDEM_TEST_SILENT_URL", &silent.url)
        .env("TANDEM_TEST_TOKEN_ALICE", alice)
        .env("TANDEM_TEST_TOKEN_BOB", bob)
        .env(
            "CARGO_TARGET_WASM32_UNKNOWN_UNKNOWN_RUNNER",
            "wasm-bindgen-test-runner",
        )
        .env("CHROMEDRIVER", CHROMEDRIVER)
        .env("WASM_BINDGEN_TEST_TIMEOUT", "120")
        // Test binaries without `wasm_bindgen_test_configure!(run_in_browser)` would
        // otherwise run in Node.js; this sends them to the browser too.
        .env("WASM_BINDGEN_USE_BROWSER", "1")
        // The runner reads browser capabilities from this file (default: `webdriver.json`
        // in the test's working directory, which cargo sets to the crate directory).
        .env(
            "WASM_BINDGEN_TEST_WEBDRIVER_JSON",
            webdriver_json.to_string_lossy(),
        )
        // Other drivers named in the environment would take precedence over chromedriver.
        .env_remove("GECKODRIVER")
        .env_remove("SAFARIDRIVER")
        .env_remove("MSEDGEDRIVER")
        .env_remove("CHROMEDRIVER_REMOTE")
        .env_remove("GECKODRIVER_REMOTE")
        .env_remove("SAFARIDRIVER_REMOTE")
        .env_remove("MSEDGEDRIVER_REMOTE")
        .env_remove("NO_HEADLESS")
        .run_tee("tests (wasm32, headless Chromium)", |line| {
            wasm.add_line(line)
        });
    drop((server, silent));
    let package_result = match &wasm_result {
        Ok(()) => package(&shell),
        Err(_) => Ok(()),
    };
    print_summary(&native, Some(&wasm));
    wasm_result?;
    package_result?;
    if wasm.suites == 0 {
        announce(
            "note: the wasm32 run printed no `test result:` line (no wasm-bindgen tests in \
             the wasm crates yet?)",
        );
    }
    Ok(())
}

/// Builds the npm package into `pkg/` (wasm-pack, release, wasm-opt) and prints its size.
fn package(shell: &Shell) -> Result<()> {
    shell
        .cmd("wasm-pack")
        .args([
            "build",
            "crates/tandem-wasm",
            "--release",
            "--target",
            "web",
        ])
        .args(["--out-dir", "../../pkg", "--out-name", "tandem"])
        .run("package (wasm-pack)")?;
    announce("npm package size (pkg/)");
    for file in ["tandem_bg.wasm", "tandem.js"] {
        let path = shell.root().join("pkg").join(file);
        let raw = std::fs::metadata(&path).map(|m| m.len()).unwrap_or(0);
        let gzipped = shell
            .cmd("sh")
            .arg("-c")
            .arg(format!("gzip -9 -c '{}' | wc -c", path.display()))
            .capture()
            .and_then(|s| s.trim().parse::<u64>().ok())
            .unwrap_or(0);
        println!("{file:<16} {raw:>8} bytes raw, {gzipped:>8} bytes gzipped");
    }
    Ok(())
}

/// Writes the webdriver capabilities for Chromium to `target/xtask/webdriver.json` (under
/// `/target`, which git ignores) and returns its absolute path.
fn write_webdriver_json(root: &Path) -> Result<PathBuf> {
    let dir = root.join("target").join("xtask");
    std::fs::create_dir_all(&dir).map_err(|e| format!("creating {}: {e}", dir.display()))?;
    let path = dir.join("webdriver.json");
    std::fs::write(&path, webdriver_json())
        .map_err(|e| format!("writing {}: {e}", path.display()))?;
    announce(&format!(
        "wrote Chromium options to {}",
        path.to_string_lossy()
    ));
    Ok(path)
}

/// The webdriver capabilities JSON: `{"goog:chromeOptions": {"args": [...]}}`.
fn webdriver_json() -> String {
    let args: Vec<String> = CHROME_ARGS.iter().map(|a| format!("\"{a}\"")).collect();
    format!(
        "{{\n  \"goog:chromeOptions\": {{\n    \"args\": [{}]\n  }}\n}}\n",
        args.join(", ")
    )
}

/// Prints the counts of each run and the closing line `N passed, M failed`.
fn print_summary(native: &Counts, wasm: Option<&Counts>) {
    let mut total = *native;
    println!();
    announce("summary");
    println!("native:                      {native}");
    match wasm {
        Some(wasm) => {
            println!("wasm32 (headless Chromium):  {wasm}");
            total += *wasm;
        }
        None => println!("wasm32 (headless Chromium):  not run"),
    }
    println!("{} passed, {} failed", total.passed, total.failed);
}

#[cfg(test)]
mod tests {
    use super::webdriver_json;

    #[test]
    fn webdriver_json_has_chrome_args() {
        let json = webdriver_json();
        assert!(json.contains("\"goog:chromeOptions\""));
        assert!(json.contains("\"--no-sandbox\""));
        assert!(json.contains("\"--headless\""));
    }
}
