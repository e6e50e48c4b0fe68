//! `cargo xtask demo`: installs what is missing, builds the npm package and the web app,
//! and runs `tandem serve` serving the demo until Ctrl-C.

use crate::process::{Result, Shell, announce};
use crate::tools;
use crate::web;
use crate::workspace;

/// Options of `cargo xtask demo`.
#[derive(Debug)]
pub struct Options {
    /// Whether to install missing tools first.
    pub install: bool,
    /// Where the demo listens.
    pub addr: String,
}

impl Default for Options {
    fn default() -> Self {
        Self {
            install: true,
            addr: "127.0.0.1:8080".to_owned(),
        }
    }
}

/// The policy of the demo's `<room>/cursors` companions: cursor moves and tab pings are
/// ephemeral messages, nothing is kept, and the chat room itself carries the presence.
/// (www/tests/demo.test.mjs starts its servers with the same flag.)
const CURSORS_ROOM_POLICY: &str = "*/cursors:history=0,ephemeral-only,presence=off";

/// Builds everything and serves the demo; returns when the server exits.
pub fn run(options: &Options) -> Result<()> {
    let shell = Shell::new(workspace::root()?);
    if options.install {
        announce("checking tools (skip with --no-install)");
        tools::ensure_web(&shell)?;
    }
    let dist = web::build(&shell)?;
    shell
        .cmd("cargo")
        .args(["build", "-p", "tandem-cli", "--bin", "tandem"])
        .run("build tandem")?;
    let tandem = shell.root().join("target/debug/tandem");
    announce(&format!(
        "the demo: open http://{}/ in two tabs (same #room); Ctrl-C stops it",
        options.addr
    ));
    shell
        .cmd(&tandem.to_string_lossy())
        .args(["serve", "--addr", options.addr.as_str()])
        .args(["--static-dir", &dist.to_string_lossy()])
        .args(["--guest-names", "--demo"])
        .args(["--room", CURSORS_ROOM_POLICY])
        .run("tandem serve (the demo)")
}
