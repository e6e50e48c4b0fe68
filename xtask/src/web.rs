//! The web app in `www/`: generating its payload types, installing its npm dependencies,
//! type-checking, building it, and its Playwright tests.

use std::path::PathBuf;

use crate::package;
use crate::process::{Result, Shell, announce};
use crate::tools::CHROME_ARGS;
use crate::tools::CHROMIUM;

/// The web app's directory, relative to the workspace root.
pub const DIR: &str = "www";

/// Builds everything the demo serves: the TypeScript of the payload types (ts-rs), the npm
/// package, the web app's dependencies, then type-checks and builds `www/dist`.
pub fn build(shell: &Shell) -> Result<PathBuf> {
    generate_types(shell)?;
    package::build(shell)?;
    install(shell)?;
    typecheck(shell)?;
    npm(shell, &["run", "build"]).run("www: vite build")?;
    Ok(shell.root().join(DIR).join("dist"))
}

/// Installs the web app's npm dependencies (Vite, TypeScript, playwright-core).
pub fn install(shell: &Shell) -> Result<()> {
    // `npm install` with the committed lockfile rather than `npm ci`: the lockfile holds
    // only the platform packages the registry serves for this machine (rollup's native
    // binary for linux-x64), and `npm ci` refuses a lockfile missing the other optional ones.
    npm(shell, &["install", "--no-audit", "--no-fund"]).run("www: npm install")
}

/// Writes `www/src/generated/*.ts` from the Rust types of crates/tandem-demo.
pub fn generate_types(shell: &Shell) -> Result<()> {
    shell
        .cmd("cargo")
        .args([
            "test",
            "-q",
            "-p",
            "tandem-demo",
            "--lib",
            "export_bindings",
        ])
        .run("www: generate the payload types (ts-rs)")
}

/// `tsc --noEmit` over the web app and the consumer file in `www/typecheck`.
pub fn typecheck(shell: &Shell) -> Result<()> {
    npm(shell, &["run", "typecheck"]).run("www: tsc --noEmit")
}

/// The Playwright tests of `www/tests`, against `tandem` serving `dist`; `on_line` sees
/// each line of their TAP output.
pub fn playwright(
    shell: &Shell,
    tandem: &std::path::Path,
    dist: &std::path::Path,
    on_line: impl FnMut(&str),
) -> Result<()> {
    announce("Playwright drives Debian Chromium through the demo");
    npm(shell, &["test"])
        .env("TANDEM_BIN", tandem.to_string_lossy())
        .env("TANDEM_DEMO_DIST", dist.to_string_lossy())
        .env("CHROMIUM", CHROMIUM)
        .env("CHROMIUM_ARGS", CHROME_ARGS.join(" "))
        .run_tee("www: Playwright tests", on_line)
}

fn npm(shell: &Shell, args: &[&str]) -> crate::process::Cmd {
    shell
        .cmd("npm")
        .args(["--prefix", DIR])
        .args(args.iter().copied())
}

#[cfg(test)]
mod tests {
    /// Each of the README's TypeScript examples is type-checked: it is held verbatim by one
    /// of www/typecheck/readme_*.ts.
    #[test]
    fn the_readme_typescript_examples_are_the_checked_ones() {
        let root = concat!(env!("CARGO_MANIFEST_DIR"), "/..");
        let readme = std::fs::read_to_string(format!("{root}/README.md")).unwrap_or_default();
        let checked: Vec<String> = std::fs::read_dir(format!("{root}/www/typecheck"))
            .map(|dir| {
                dir.flatten()
                    .map(|e| e.path())
                    .filter(|p| {
                        p.file_name()
                            .and_then(|n| n.to_str())
                            .is_some_and(|n| n.starts_with("readme_") && n.ends_with(".ts"))
                    })
                    .filter_map(|p| std::fs::read_to_string(p).ok())
                    .collect()
            })
            .unwrap_or_default();
        let examples: Vec<&str> = readme
            .split("```ts\n")
            .skip(1)
            .filter_map(|rest| rest.split_once("```").map(|(block, _)| block))
            .collect();
        assert!(examples.len() >= 2, "README.md has its ```ts examples");
        for example in examples {
            assert!(
                checked.iter().any(|file| file.contains(example)),
                "a www/typecheck/readme_*.ts must hold this README example verbatim:\n{example}"
            );
        }
    }
}
