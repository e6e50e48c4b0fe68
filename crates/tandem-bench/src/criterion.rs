//! Reading the figures criterion saved (`target/criterion/<group>/<bench>/new/estimates.json`).

use std::path::{Path, PathBuf};

use serde_json::{Value, json};

/// Options of `tandem-bench criterion-summary`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// criterion's output directory.
    #[arg(long, default_value = "target/criterion")]
    dir: PathBuf,
    /// The benchmark group to read.
    #[arg(long)]
    group: String,
}

/// Prints `{"figure":"criterion","bench":NAME,"median_ns":X}` for each benchmark in the group.
pub fn run(args: &Args) -> Result<(), String> {
    let group = args.dir.join(&args.group);
    let entries = std::fs::read_dir(&group).map_err(|e| format!("{}: {e}", group.display()))?;
    let mut names: Vec<String> = entries
        .filter_map(Result::ok)
        .filter(|e| e.path().join("new/estimates.json").is_file())
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    if names.is_empty() {
        return Err(format!("no benchmark results under {}", group.display()));
    }
    for name in names {
        let median = median_ns(&group.join(&name).join("new/estimates.json"))?;
        crate::report(&json!({"figure": "criterion", "bench": name, "median_ns": median}));
    }
    Ok(())
}

/// The median's point estimate in nanoseconds.
fn median_ns(file: &Path) -> Result<f64, String> {
    let text = std::fs::read_to_string(file).map_err(|e| format!("{}: {e}", file.display()))?;
    let value: Value =
        serde_json::from_str(&text).map_err(|e| format!("{}: {e}", file.display()))?;
    value["median"]["point_estimate"]
        .as_f64()
        .ok_or_else(|| format!("{}: no median.point_estimate", file.display()))
}
