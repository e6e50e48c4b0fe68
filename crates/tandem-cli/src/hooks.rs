//! Backend hooks on the command line: the `--hook-*` flags of `tandem serve`.

use clap::Args;
use core::time::Duration;
use tandem_server::{DEFAULT_HOOK_CONCURRENCY, HookEvent, WebhookConfig};

use crate::duration;

/// Asks the application's backend over HTTP: `tandem serve` POSTs one JSON object with an
/// `"event"` field (connect, join, publish, request, disconnect) to --hook-url and acts on
/// the answer (README, "Backend hooks over HTTP").
#[derive(Debug, Args)]
#[command(next_help_heading = "Backend hooks over HTTP")]
pub struct HookFlags {
    /// POST each event (see --hook-events) as JSON to this http:// URL of the application's
    /// backend and act on its answer: connect (the hello's token and the upgrade's cookie,
    /// authorization and origin headers -> {"user", "rooms"?, "info"?, "expires_in"?} or
    /// {"error", "message"}), join ({"allow", "message"?}), publish ({"allow", "data"?:
    /// a rewritten payload, "message"?}), request ({"reply"} or {"error": {"code",
    /// "message"}}) and disconnect (notice only). With connect among the events, the
    /// backend decides who a hello is: --token-* and --guest-names are refused then (drop
    /// connect from --hook-events to keep them). https:// is not supported yet: put a local
    /// proxy in between.
    #[arg(long, env = "TANDEM_HOOK_URL", value_name = "URL")]
    hook_url: Option<String>,

    /// The events posted to --hook-url, comma-separated, among connect, join, publish,
    /// request and disconnect. The others keep the server's own policy (a join allowed,
    /// a request answered by --echo-requests or refused with no_handler).
    #[arg(
        long,
        value_name = "EVENTS",
        value_delimiter = ',',
        value_parser = event,
        default_value = "connect,join,publish,request,disconnect",
        requires = "hook_url"
    )]
    hook_events: Vec<HookEvent>,

    /// Sign every call: headers X-Tandem-Timestamp (Unix seconds) and X-Tandem-Signature
    /// (`sha256=` and the hex HMAC-SHA256 of "<timestamp>.<body>" with this secret). The
    /// backend should refuse calls without a valid one.
    #[arg(
        long,
        env = "TANDEM_HOOK_SECRET",
        hide_env_values = true,
        requires = "hook_url"
    )]
    hook_secret: Option<String>,

    /// How long a call may take in all, the wait for a free slot (--hook-concurrency)
    /// included. Past it the call fails (see --hook-fail-open).
    #[arg(long, value_parser = duration::parse, default_value = "2s")]
    hook_timeout: Duration,

    /// Calls in flight at once; more wait for a slot within their --hook-timeout.
    #[arg(long, default_value_t = DEFAULT_HOOK_CONCURRENCY)]
    hook_concurrency: usize,

    /// When a call fails (backend down, too slow, answering garbage or 5xx), allow the join
    /// or publish as sent. Without it (fail-closed) the join is refused with forbidden and
    /// the publish with unavailable. A connect always fails closed (unavailable, close
    /// 1013: the client retries) and a request always fails with unavailable.
    #[arg(long, requires = "hook_url")]
    hook_fail_open: bool,

    /// Forward this upgrade request header in connect too, besides cookie, authorization,
    /// origin, user-agent, x-forwarded-for and x-real-ip; repeat for several.
    #[arg(
        long = "hook-forward-header",
        value_name = "NAME",
        requires = "hook_url"
    )]
    hook_forward_headers: Vec<String>,
}

fn event(text: &str) -> Result<HookEvent, String> {
    text.parse()
        .map_err(|e: tandem_server::WebhookError| e.to_string())
}

impl HookFlags {
    /// Whether calls would go out unsigned (no --hook-secret).
    pub fn unsigned(&self) -> bool {
        self.hook_secret.is_none()
    }

    /// The backend's configuration (`None`: no --hook-url), or why the URL is unusable.
    pub fn config(&self) -> Result<Option<WebhookConfig>, String> {
        let Some(url) = &self.hook_url else {
            return Ok(None);
        };
        let mut config = WebhookConfig::new(url)
            .map_err(|e| format!("--hook-url: {e}"))?
            .events(self.hook_events.iter().copied())
            .timeout(self.hook_timeout)
            .concurrency(self.hook_concurrency)
            .fail_open(self.hook_fail_open);
        if let Some(secret) = &self.hook_secret {
            config = config.secret(secret);
        }
        for name in &self.hook_forward_headers {
            config = config.forward_header(name);
        }
        Ok(Some(config))
    }
}
