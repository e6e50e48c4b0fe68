//! The npm package in `pkg/`: built by wasm-pack (profile `wasm-release`), shrunk by wasm-opt, then given
//! its entry module and package.json, and measured.
//!
//! wasm-pack's `web` target exports an `init()` that every page would have to call first,
//! and its declarations describe the raw wasm exports with `any`. The package's entry,
//! `index.js` (from crates/tandem-wasm/js), gives the API classes of `api.js` over the
//! wasm `Core` and loads the module on the first connect, so `import { Client } from
//! "tandem-sdk"` is all a page writes, and importing it on a server (SSR) runs nothing; the
//! init declarations are cut from `tandem.d.ts`, so the public declarations hold no `any`.

use std::path::Path;

use crate::process::{Result, Shell, announce};
use crate::tools;

/// The package's name on npm.
pub const NAME: &str = "tandem-sdk";

/// Where the package is built, relative to the workspace root.
pub const DIR: &str = "pkg";

/// The package's own JavaScript and declarations, copied into `pkg/` beside what wasm-pack
/// writes: the entry (`index.js`, loading the wasm on the first connect), the API classes
/// (`api.js`) and their declarations (`index.d.ts`).
const OWN_FILES: [&str; 3] = ["index.js", "api.js", "index.d.ts"];

/// The line of wasm-pack's declarations where the init API begins.
const INIT_DECLARATIONS: &str = "export type InitInput";

/// Builds `pkg/` and finishes it (entry, declarations, package.json).
pub fn build(shell: &Shell) -> Result<()> {
    // Snippets of an earlier build that the bindings no longer import would ship too.
    let _ = std::fs::remove_dir_all(shell.root().join(DIR).join("snippets"));
    shell
        .cmd("wasm-pack")
        .args([
            "build",
            "crates/tandem-wasm",
            // Cargo.toml's `wasm-release`: the release build, optimized for size.
            "--profile",
            "wasm-release",
            "--target",
            "web",
        ])
        .args(["--out-dir", "../../pkg", "--out-name", "tandem"])
        .run("package (wasm-pack)")?;
    optimize(shell)?;
    finish(&shell.root().join(DIR))?;
    minify(shell)
}

/// Minifies the JavaScript a page loads from the package, each file in place as an ES
/// module (esbuild, no bundling: imports and exports stay as they are). The sources with
/// their comments are in crates/tandem-wasm/js and wasm-bindgen's output; shipped
/// minified, the package's JavaScript is 6.4 KB gz instead of 12.5 KB.
fn minify(shell: &Shell) -> Result<()> {
    let dir = shell.root().join(DIR);
    let mut files: Vec<std::path::PathBuf> = ["tandem.js", "index.js", "api.js"]
        .iter()
        .map(|f| dir.join(f))
        .collect();
    files_under(&dir.join("snippets"), &mut files);
    for file in files {
        let path = file.to_string_lossy().into_owned();
        shell
            .cmd(&tools::esbuild(shell).to_string_lossy())
            .args([
                path.as_str(),
                "--minify",
                "--format=esm",
                "--log-level=warning",
            ])
            .arg(format!("--outfile={path}"))
            .arg("--allow-overwrite")
            .run("package (esbuild --minify, in place)")?;
    }
    Ok(())
}

/// Features of the wasm rustc emits, which wasm-opt must keep.
const WASM_FEATURES: &[&str] = &[
    "--enable-reference-types",
    "--enable-bulk-memory",
    "--enable-sign-ext",
    "--enable-nontrapping-float-to-int",
    "--enable-mutable-globals",
    "--enable-multivalue",
];

/// Runs binaryen's wasm-opt (npm `binaryen`, see tools::ensure_js_tools) for size:
/// `-Oz` until it stops gaining (`--converge`, about 400 B gz more than one pass), and
/// without the `producers` section (which only names the compilers).
fn optimize(shell: &Shell) -> Result<()> {
    let wasm = shell.root().join(DIR).join("tandem_bg.wasm");
    let wasm = wasm.to_string_lossy();
    shell
        .cmd(&tools::wasm_opt(shell).to_string_lossy())
        .args(["-Oz", "--converge", "--strip-producers"])
        .args(WASM_FEATURES.iter().copied())
        .args([wasm.as_ref(), "-o", wasm.as_ref()])
        .run("package (wasm-opt -Oz --converge)")
}

fn finish(dir: &Path) -> Result<()> {
    let read = |name: &str| {
        std::fs::read_to_string(dir.join(name)).map_err(|e| format!("reading pkg/{name}: {e}"))
    };
    let write = |name: &str, text: &str| {
        std::fs::write(dir.join(name), text).map_err(|e| format!("writing pkg/{name}: {e}"))
    };
    let declarations = read("tandem.d.ts")?;
    let api = declarations
        .find(INIT_DECLARATIONS)
        .map_or(declarations.as_str(), |at| &declarations[..at]);
    let api = api.trim_end().to_owned() + "\n";
    if let Some(line) = api.lines().find(|l| mentions_any(l)) {
        return Err(format!(
            "pkg/tandem.d.ts: the public declarations use `any`: {line}"
        ));
    }
    write("tandem.d.ts", &api)?;
    let _ = std::fs::remove_file(dir.join("tandem_bg.wasm.d.ts"));
    let own = dir.join("../crates/tandem-wasm/js");
    for file in OWN_FILES {
        std::fs::copy(own.join(file), dir.join(file))
            .map_err(|e| format!("copying crates/tandem-wasm/js/{file} into pkg/: {e}"))?;
    }
    let entry = read("index.d.ts")?;
    if let Some(line) = entry.lines().find(|l| mentions_any(l)) {
        return Err(format!(
            "pkg/index.d.ts: the public declarations use `any`: {line}"
        ));
    }
    let generated = read("package.json")?;
    let field = |key: &str| json_string(&generated, key).unwrap_or_default();
    write(
        "package.json",
        &package_json(&field("version"), &field("description"), &field("license")),
    )?;
    announce(&format!("finished pkg/ as npm package {NAME}"));
    Ok(())
}

/// Whether a declaration line uses the type `any` (not the word in a comment).
fn mentions_any(line: &str) -> bool {
    let code = line.trim_start();
    if code.starts_with('*') || code.starts_with("/*") || code.starts_with("//") {
        return false;
    }
    code.split(|c: char| !(c.is_alphanumeric() || c == '_'))
        .any(|word| word == "any")
}

/// The first `"key": "value"` string value in a JSON text (wasm-pack's package.json).
fn json_string(json: &str, key: &str) -> Option<String> {
    let after = &json[json.find(&format!("\"{key}\""))? + key.len() + 2..];
    let value = after.trim_start().strip_prefix(':')?.trim_start();
    let value = value.strip_prefix('"')?;
    Some(value[..value.find('"')?].to_owned())
}

/// The package.json: ESM, typed, one entry, the wasm file exported for bundlers.
fn package_json(version: &str, description: &str, license: &str) -> String {
    format!(
        r#"{{
  "name": "{NAME}",
  "version": "{version}",
  "description": "{description}",
  "license": "{license}",
  "repository": {{
    "type": "git",
    "url": "https://example.invalid/tandem",
    "directory": "crates/tandem-wasm"
  }},
  "keywords": ["websocket", "realtime", "wasm", "presence", "pubsub"],
  "type": "module",
  "files": ["index.js", "api.js", "index.d.ts", "tandem.js", "tandem.d.ts", "tandem_bg.wasm", "snippets"],
  "main": "./index.js",
  "module": "./index.js",
  "types": "./index.d.ts",
  "exports": {{
    ".": {{
      "types": "./index.d.ts",
      "import": "./index.js"
    }},
    "./tandem_bg.wasm": "./tandem_bg.wasm",
    "./package.json": "./package.json"
  }},
  "sideEffects": false
}}
"#
    )
}

/// Prints the size of each shipped file, raw and gzipped (`gzip -9`), and the total.
pub fn print_size(shell: &Shell) {
    announce("npm package size (pkg/)");
    for size in sizes(shell) {
        println!(
            "{:<16} {:>8} bytes raw, {:>8} bytes gzipped",
            size.file, size.raw, size.gzipped
        );
    }
}

/// The size of one file of the package (or of all of them: file `total`).
pub struct FileSize {
    /// The file's name in pkg/, or `total`.
    pub file: &'static str,
    /// Bytes on disk.
    pub raw: u64,
    /// Bytes after `gzip -9`.
    pub gzipped: u64,
}

/// Bytes of `path` after `gzip -9` (0 when it cannot be read).
fn gzipped(shell: &Shell, path: &Path) -> u64 {
    shell
        .cmd("sh")
        .arg("-c")
        .arg(format!("gzip -9 -c '{}' | wc -c", path.display()))
        .capture()
        .and_then(|s| s.trim().parse::<u64>().ok())
        .unwrap_or(0)
}

/// The sizes of the files a browser loads from the package, then their total, then
/// `bundled`: what a page's bundle carries for `import { Client } from "tandem-sdk"`
/// (esbuild `--bundle --minify` of `index.js`, the way the peers' sizes in the target
/// were measured) plus the wasm.
pub fn sizes(shell: &Shell) -> Vec<FileSize> {
    let dir = shell.root().join(DIR);
    let mut sizes: Vec<FileSize> = ["tandem_bg.wasm", "tandem.js", "index.js", "api.js"]
        .into_iter()
        .map(|file| {
            let path = dir.join(file);
            let raw = std::fs::metadata(&path).map(|m| m.len()).unwrap_or(0);
            let gzipped = gzipped(shell, &path);
            FileSize { file, raw, gzipped }
        })
        .collect();
    // The bindings' own JavaScript, which `tandem.js` imports: one row for all of it.
    let mut snippets = Vec::new();
    files_under(&dir.join("snippets"), &mut snippets);
    sizes.push(FileSize {
        file: "snippets/",
        raw: snippets
            .iter()
            .filter_map(|p| std::fs::metadata(p).ok())
            .map(|m| m.len())
            .sum(),
        gzipped: snippets.iter().map(|p| gzipped(shell, p)).sum(),
    });
    let total = FileSize {
        file: "total",
        raw: sizes.iter().map(|s| s.raw).sum(),
        gzipped: sizes.iter().map(|s| s.gzipped).sum(),
    };
    let bundled = bundle(shell).map(|js| FileSize {
        file: "bundled",
        raw: js.raw + sizes[0].raw,
        gzipped: js.gzipped + sizes[0].gzipped,
    });
    sizes.push(total);
    sizes.extend(bundled);
    sizes
}

/// Every file under `dir`, at any depth, added to `out`.
fn files_under(dir: &Path, out: &mut Vec<std::path::PathBuf>) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for entry in entries.flatten() {
        let path = entry.path();
        if path.is_dir() {
            files_under(&path, out);
        } else {
            out.push(path);
        }
    }
}

/// The package's JavaScript as a bundler ships it: `index.js` and what it imports,
/// bundled and minified by esbuild (npm, `xtask/js-tools`) into `target/package-bundle/`.
fn bundle(shell: &Shell) -> Option<FileSize> {
    let out = shell.root().join("target/package-bundle/index.min.js");
    shell
        .cmd(&tools::esbuild(shell).to_string_lossy())
        .arg(
            shell
                .root()
                .join(DIR)
                .join("index.js")
                .to_string_lossy()
                .as_ref(),
        )
        .args([
            "--bundle",
            "--minify",
            "--format=esm",
            "--log-level=warning",
        ])
        .arg(format!("--outfile={}", out.display()))
        .run("package (esbuild --bundle --minify, to measure)")
        .ok()?;
    let raw = std::fs::metadata(&out).ok()?.len();
    Some(FileSize {
        file: "index.min.js",
        raw,
        gzipped: gzipped(shell, &out),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_any_only_as_a_type() {
        assert!(mentions_any("    readonly f: (a: number) => any;"));
        assert!(mentions_any("export type X = any[];"));
        assert!(!mentions_any(
            "     * Replay up to this many recent messages"
        ));
        assert!(!mentions_any("/** one per user, however many tabs. */"));
        assert!(!mentions_any("  company: string;"));
    }

    #[test]
    fn reads_string_fields() {
        let json = r#"{ "name": "x", "version" : "0.1.0", "license": "MIT" }"#;
        assert_eq!(json_string(json, "version").as_deref(), Some("0.1.0"));
        assert_eq!(json_string(json, "license").as_deref(), Some("MIT"));
        assert_eq!(json_string(json, "missing"), None);
    }
}
