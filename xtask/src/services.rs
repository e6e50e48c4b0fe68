//! Servers the browser tests talk to, started on 127.0.0.1 with free ports for the length
//! of a run and killed when dropped.

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use crate::process::{Result, announce};

/// How long a service may take to print its address.
const STARTUP: Duration = Duration::from_secs(30);

/// A running background process; killed on drop.
pub struct Service {
    name: String,
    child: Child,
    /// The address the service printed, as a URL.
    pub url: String,
}

impl Drop for Service {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        announce(&format!("stopped {}", self.name));
    }
}

impl Service {
    /// The process id.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Starts `command` and waits for its first stdout line that starts with `prefix`; the
    /// rest of that line is the service's URL.
    pub fn start(name: &str, command: Command, prefix: &str) -> Result<Service> {
        Self::start_when(name, command, prefix, |line| {
            line.strip_prefix(prefix).map(|url| url.trim().to_owned())
        })
    }

    /// Starts `command` and waits for the first stdout line `ready` maps to the service's
    /// URL; `waiting_for` names that line in the error.
    pub fn start_when(
        name: &str,
        mut command: Command,
        waiting_for: &str,
        mut ready: impl FnMut(&str) -> Option<String>,
    ) -> Result<Service> {
        let mut child = command
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .map_err(|e| format!("starting {name}: {e}"))?;
        let stdout = child.stdout.take().ok_or("no stdout")?;
        let (tx, rx) = mpsc::channel();
        std::thread::spawn(move || {
            // Forward lines until the process ends, so its pipe never fills.
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                let _ = tx.send(line);
            }
        });
        let mut service = Service {
            name: name.to_owned(),
            child,
            url: String::new(),
        };
        loop {
            match rx.recv_timeout(STARTUP) {
                Ok(line) => {
                    if let Some(url) = ready(&line) {
                        service.url = url;
                        announce(&format!("started {name} at {}", service.url));
                        return Ok(service);
                    }
                }
                Err(_) => {
                    return Err(format!(
                        "{name} printed no `{waiting_for}` line in {STARTUP:?}"
                    ));
                }
            }
        }
    }
}

/// A secret for this run's test server.
pub fn run_secret() -> String {
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos());
    format!("xtask-{}-{nanos}", std::process::id())
}

/// `tandem serve` on a free port, admitting any origin (the test pages come from the
/// wasm-bindgen test runner's own port), echoing requests, verifying tokens with `secret`.
pub fn tandem_serve(tandem: &Path, secret: &str) -> Result<Service> {
    let mut command = Command::new(tandem);
    command
        .args([
            "serve",
            "--addr",
            "127.0.0.1:0",
            "--any-origin",
            "--echo-requests",
        ])
        .args(["--token-secret", secret])
        .env("RUST_LOG", "warn");
    let mut service = Service::start("tandem serve", command, "tandem listening on ")?;
    service.url = service.url.replacen("http://", "ws://", 1);
    Ok(service)
}

/// A token for `user` from `tandem token`.
pub fn token(tandem: &Path, secret: &str, user: &str) -> Result<String> {
    let out = Command::new(tandem)
        .args(["token", "--secret", secret, "--user", user])
        .output()
        .map_err(|e| format!("running tandem token: {e}"))?;
    if !out.status.success() {
        return Err(format!(
            "tandem token failed: {}",
            String::from_utf8_lossy(&out.stderr)
        ));
    }
    Ok(String::from_utf8_lossy(&out.stdout).trim().to_owned())
}

/// The Python peer that welcomes a client and then stays silent.
pub fn silent_peer(root: &Path) -> Result<Service> {
    let mut command = Command::new("python3");
    command.arg(root.join("tests/browser/silent_peer.py"));
    Service::start("silent peer", command, "silent peer listening on ")
}

/// A `ws://` URL on 127.0.0.1 where nothing listens: a port the system just gave out and
/// took back, so a connection there is refused at once (the tests of reconnecting).
pub fn refused_url() -> Result<String> {
    let listener = std::net::TcpListener::bind("127.0.0.1:0")
        .map_err(|e| format!("binding a free port on 127.0.0.1: {e}"))?;
    let port = listener
        .local_addr()
        .map_err(|e| format!("reading a bound port: {e}"))?
        .port();
    Ok(format!("ws://127.0.0.1:{port}"))
}
