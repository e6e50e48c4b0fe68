//! Facts about the workspace: where its root is and which versions Cargo.lock pins.

use std::path::{Path, PathBuf};

use crate::process::Result;

/// The workspace root: the nearest directory at or above this crate's manifest directory
/// whose `Cargo.toml` has a `[workspace]` table.
pub fn root() -> Result<PathBuf> {
    // `cargo run` sets CARGO_MANIFEST_DIR at run time; the compile-time value is the
    // fallback for running the binary directly.
    let start = std::env::var_os("CARGO_MANIFEST_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")));
    start
        .ancestors()
        .find(|dir| is_workspace_root(dir))
        .map(Path::to_path_buf)
        .ok_or_else(|| {
            format!(
                "no Cargo.toml with a [workspace] table at or above {}",
                start.display()
            )
        })
}

/// Whether `dir/Cargo.toml` exists and declares a workspace.
fn is_workspace_root(dir: &Path) -> bool {
    std::fs::read_to_string(dir.join("Cargo.toml"))
        .map(|text| text.lines().any(|line| line.trim() == "[workspace]"))
        .unwrap_or(false)
}

/// The versions of package `name` recorded in the text of a Cargo.lock, in file order.
///
/// Cargo.lock is a list of `[[package]]` tables whose first keys are
/// `name = "..."` and `version = "..."`.
pub fn locked_versions(lock: &str, name: &str) -> Vec<String> {
    let mut versions = Vec::new();
    let mut in_package = false;
    for line in lock.lines().map(str::trim) {
        if line.starts_with('[') {
            in_package = false;
        } else if let Some(value) = string_value(line, "name") {
            in_package = value == name;
        } else if let Some(version) = string_value(line, "version").filter(|_| in_package) {
            versions.push(version.to_owned());
            in_package = false;
        }
    }
    versions
}

/// The value of a `key = "value"` line, if `line` is one for `key`.
fn string_value<'a>(line: &'a str, key: &str) -> Option<&'a str> {
    let rest = line.strip_prefix(key)?.trim_start().strip_prefix('=')?;
    rest.trim().strip_prefix('"')?.strip_suffix('"')
}

#[cfg(test)]
mod tests {
    use super::locked_versions;

    const LOCK: &str = r#"
version = 4

[[package]]
name = "wasm-bindgen"
version = "0.2.130"
source = "registry+https://github.com/rust-lang/crates.io-index"
dependencies = [
 "wasm-bindgen-macro",
]

[[package]]
name = "wasm-bindgen-macro"
version = "0.2.130"

[[package]]
name = "wasm-bindgen-test"
version = "0.3.80"
"#;

    #[test]
    fn finds_the_exact_package_only() {
        assert_eq!(locked_versions(LOCK, "wasm-bindgen"), vec!["0.2.130"]);
        assert_eq!(locked_versions(LOCK, "wasm-bindgen-test"), vec!["0.3.80"]);
    }

    #[test]
    fn missing_package_gives_nothing() {
        assert!(locked_versions(LOCK, "wasm-pack").is_empty());
        assert!(locked_versions("", "wasm-bindgen").is_empty());
    }

    #[test]
    fn does_not_take_the_lockfile_format_version() {
        assert!(locked_versions("version = 4\n", "wasm-bindgen").is_empty());
    }
}
