//! WebSocket close codes tandem uses, and what a client does after each.

use core::time::Duration;

/// The client or server is done (RFC 6455). The client does not reconnect.
pub const NORMAL: u16 = 1000;
/// The server is going away (shutdown). The client reconnects.
pub const GOING_AWAY: u16 = 1001;
/// The peer broke the protocol (frame order, repeated bad frames). No reconnect.
pub const PROTOCOL_ERROR: u16 = 1002;
/// A binary frame arrived where JSON text was expected. No reconnect.
pub const UNSUPPORTED_DATA: u16 = 1003;
/// No close code was given (reported, never sent).
pub const NO_STATUS: u16 = 1005;
/// The connection dropped without a close frame (reported, never sent). Reconnect.
pub const ABNORMAL: u16 = 1006;
/// Too many malformed frames. No reconnect.
pub const INVALID_PAYLOAD: u16 = 1007;
/// Policy violation: flooding over the rate limit. No reconnect.
pub const POLICY_VIOLATION: u16 = 1008;
/// A frame over the size limit. No reconnect.
pub const MESSAGE_TOO_BIG: u16 = 1009;
/// The server hit a bug. Reconnect.
pub const INTERNAL_ERROR: u16 = 1011;
/// The server is restarting. Reconnect, honouring the reason's `retry-after` hint.
pub const SERVICE_RESTART: u16 = 1012;
/// The server is overloaded or the client was too slow. Reconnect after the hint.
pub const TRY_AGAIN_LATER: u16 = 1013;
/// A gateway failed. Reconnect.
pub const BAD_GATEWAY: u16 = 1014;
/// The TLS handshake failed: the server's certificate was refused (RFC 6455 §7.4.1:
/// reported, never sent). A native client reports it when the certificate is not trusted,
/// expired or for another name; retrying cannot help, so the client stops. (A browser
/// reports a failed TLS handshake as 1006 and retries.)
pub const TLS_HANDSHAKE: u16 = 1015;
/// The token is missing or invalid. Reconnect only with a refreshed token.
pub const UNAUTHORIZED: u16 = 4001;
/// The token has expired. Reconnect only with a refreshed token.
pub const TOKEN_EXPIRED: u16 = 4002;
/// An operator disconnected the user (`Handle::disconnect_user`, the admin API). No
/// reconnect: coming back into the same session would undo the operator's decision.
pub const DISCONNECTED: u16 = 4003;
/// No common application schema version. No reconnect.
pub const APP_VERSION_MISMATCH: u16 = 4004;
/// No common wire protocol version. No reconnect.
pub const PROTOCOL_MISMATCH: u16 = 4005;
/// The peer missed its heartbeat. Reconnect.
pub const HEARTBEAT_TIMEOUT: u16 = 4008;

/// What a client does after the connection closed with a given code.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CloseAction {
    /// Reconnect with backoff; wait at least `hint` when the server gave one.
    Retry {
        /// The server's `retry-after` hint, if any.
        hint: Option<Duration>,
    },
    /// Reconnect only if a fresh token can be had; otherwise stop.
    RefreshToken,
    /// Do not reconnect.
    Stop,
}

/// The client's policy for a close code (`None`: the socket failed without a close frame).
pub fn action(code: Option<u16>, reason: &str) -> CloseAction {
    let hint = retry_hint(reason);
    match code {
        None | Some(NO_STATUS | ABNORMAL | GOING_AWAY | INTERNAL_ERROR | BAD_GATEWAY) => {
            CloseAction::Retry { hint }
        }
        Some(SERVICE_RESTART | TRY_AGAIN_LATER | HEARTBEAT_TIMEOUT) => CloseAction::Retry { hint },
        Some(UNAUTHORIZED | TOKEN_EXPIRED) => CloseAction::RefreshToken,
        Some(NORMAL | PROTOCOL_ERROR | UNSUPPORTED_DATA | INVALID_PAYLOAD | POLICY_VIOLATION) => {
            CloseAction::Stop
        }
        Some(MESSAGE_TOO_BIG | DISCONNECTED | APP_VERSION_MISMATCH | PROTOCOL_MISMATCH) => {
            CloseAction::Stop
        }
        Some(TLS_HANDSHAKE) => CloseAction::Stop,
        // Other 4xxx codes are application decisions: stop. Other 1xxx/2xxx/3xxx: transient.
        Some(c) if (4000..5000).contains(&c) => CloseAction::Stop,
        Some(_) => CloseAction::Retry { hint },
    }
}

const HINT_KEY: &str = "retry-after=";

/// The `retry-after=<ms>` hint at the end of a close reason, if present.
pub fn retry_hint(reason: &str) -> Option<Duration> {
    // By bytes, not `str::rfind`: a substring searcher costs the wasm 3 KB.
    let key = HINT_KEY.as_bytes();
    let at = reason
        .as_bytes()
        .windows(key.len())
        .rposition(|w| w == key)?;
    let digits = &reason.as_bytes()[at + key.len()..];
    let end = digits
        .iter()
        .position(|b| !b.is_ascii_digit())
        .unwrap_or(digits.len());
    let mut ms: u64 = 0;
    for d in &digits[..end] {
        ms = ms.checked_mul(10)?.checked_add(u64::from(d - b'0'))?;
    }
    (end > 0).then(|| Duration::from_millis(ms))
}

/// A close reason carrying a retry hint, e.g. `"server restarting; retry-after=2000"`.
/// Close reasons are at most 123 bytes; the text is shortened to fit.
pub fn reason_with_hint(text: &str, hint: Duration) -> String {
    let suffix = format!("; {HINT_KEY}{}", hint.as_millis());
    let mut reason = truncate_reason(text, MAX_REASON_BYTES - suffix.len()).to_owned();
    reason.push_str(&suffix);
    reason
}

/// The longest close reason RFC 6455 allows, in bytes.
pub const MAX_REASON_BYTES: usize = 123;

/// `text` cut at a character boundary to at most `max` bytes.
pub fn truncate_reason(text: &str, max: usize) -> &str {
    if text.len() <= max {
        return text;
    }
    let mut end = max;
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    crate::json::part(text, 0, end)
}
