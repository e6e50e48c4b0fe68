//! `cargo xtask test`: tools, formatting, clippy, native tests, wasm tests in headless
//! Chromium, the npm package, the demo and its Playwright tests, the short chaos run and a
//! smoke run of the benchmark, in that order, stopping at the first failing step, then a summary of counts.

use std::path::{Path, PathBuf};

use crate::process::{Result, Shell, announce};
use crate::services;
use crate::summary::Counts;
use crate::tools::{self, CHROME_ARGS, CHROMEDRIVER, WASM_TARGET};
use crate::web;
use crate::workspace;
use crate::{bench, chaos, package};

/// The crates whose tests also run compiled to wasm32, in headless Chromium.
const WASM_CRATES: &[&str] = &["tandem-proto", "tandem-client", "tandem-wasm"];
/// The crates clippy also checks compiled to wasm32.
const WASM_LINTED: &[&str] = &["tandem-proto", "tandem-client", "tandem-wasm"];

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
        print_summary(&[("native", Some(&native))]);
        return Err(error);
    }

    let webdriver_json = write_webdriver_json(shell.root())?;
    // The browser tests talk to a real `tandem serve` and a silent peer, started here, and
    // to a port where nothing listens; their addresses and tokens reach the tests at
    // compile time.
    shell
        .cmd("cargo")
        .args(["build", "-p", "tandem-cli", "--bin", "tandem"])
        .run("build tandem")?;
    let tandem = shell.root().join("target/debug/tandem");
    let secret = services::run_secret();
    let server = services::tandem_serve(&tandem, &secret)?;
    let silent = services::silent_peer(shell.root())?;
    let refused = services::refused_url()?;
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
        .env("TANDEM_TEST_REFUSED_URL", &refused)
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
    if let Err(error) = wasm_result {
        print_summary(&[("native", Some(&native)), (WASM_LABEL, Some(&wasm))]);
        return Err(error);
    }
    if wasm.suites == 0 {
        announce("note: the wasm32 run printed no `test result:` line");
    }

    // The npm package, the demo web app (type-checked with tsc), and Playwright driving
    // Chromium through the demo against real `tandem serve` processes it starts itself.
    let mut browser = Counts::default();
    let browser_result = web::build(&shell).and_then(|dist| {
        package::print_size(&shell);
        web::playwright(&shell, &tandem, &dist, |line| browser.add_tap_line(line))
    });
    // The chaos suite's short run: a silent loss, a duplicate or a subscriber left outside
    // its room fails the run (the figures go to target/xtask/chaos-quick.md).
    let browser_result = browser_result.and_then(|()| {
        announce("chaos smoke run: cargo xtask chaos --quick");
        chaos::run(&chaos::Options {
            quick: true,
            install: false,
            only: Vec::new(),
        })
    });
    // The benchmark's smoke run keeps `cargo xtask bench` working; its figures are printed,
    // never checked.
    let result = browser_result.and_then(|()| {
        announce("benchmark smoke run: cargo xtask bench --quick (figures not checked)");
        // Step 1 installed what the benchmark needs, and step 6 built the package.
        bench::run(&bench::Options {
            quick: true,
            install: false,
            build_package: false,
        })
    });
    print_summary(&[
        ("native", Some(&native)),
        (WASM_LABEL, Some(&wasm)),
        (BROWSER_LABEL, (browser.suites > 0).then_some(&browser)),
    ]);
    result
}

/// How the summary names the wasm-bindgen test run.
const WASM_LABEL: &str = "wasm32 (headless Chromium)";
/// How the summary names the Playwright run.
const BROWSER_LABEL: &str = "demo (Playwright, Chromium)";

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

/// Prints the counts of each run (`None`: not run, or failed before its counts) and the
/// closing line `N passed, M failed`.
fn print_summary(runs: &[(&str, Option<&Counts>)]) {
    let mut total = Counts::default();
    println!();
    announce("summary");
    for (label, counts) in runs {
        match counts {
            Some(counts) => {
                println!("{:<29}{counts}", format!("{label}:"));
                total += **counts;
            }
            None => println!("{:<29}not run or did not finish", format!("{label}:")),
        }
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
