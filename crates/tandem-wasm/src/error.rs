//! Errors at the JavaScript boundary. The wasm side gives `{ code, message }`; the package's
//! entry (`js/api.js`) turns it into a `TandemError`, a real `Error` subclass, so a page's
//! `instanceof TandemError` holds for every rejection whichever side made it.

use js_sys::{Object, Reflect};
use tandem_client::{CloseReason, Error, OpError};
use wasm_bindgen::prelude::*;

/// `{ code, message }`, which `api.js` makes a `TandemError`.
pub fn js_error(code: &str, message: &str) -> JsValue {
    let o = Object::new();
    let _ = Reflect::set(&o, &"code".into(), &code.into());
    let _ = Reflect::set(&o, &"message".into(), &message.into());
    o.into()
}

/// The stable code of a closed session's reason.
pub(crate) fn close_code(reason: &CloseReason) -> &'static str {
    match reason {
        CloseReason::ClientClosed => "closed",
        CloseReason::Unauthorized { code: 4002, .. } => "token_expired",
        CloseReason::Unauthorized { .. } => "unauthorized",
        CloseReason::ProtocolMismatch(_) => "protocol_mismatch",
        CloseReason::AppVersionMismatch(_) => "app_version_mismatch",
        CloseReason::AttemptsExhausted { .. } => "attempts_exhausted",
        _ => "server_closed",
    }
}

/// The stable code of a client error: the server's own code, or one of the client's
/// (`ErrorCode` in `index.d.ts` lists them all; a test checks the list against these).
pub fn code_of(error: &Error) -> &'static str {
    match error {
        Error::Closed(reason) => close_code(reason),
        Error::Op(op) => match op {
            OpError::QueueFull { .. } => "queue_full",
            OpError::TooLarge { .. } => "too_large",
            OpError::NotJoined { .. } => "not_joined",
            OpError::NotConnected { .. } => "not_connected",
            OpError::RateLimited => "rate_limited",
            OpError::Timeout => "timeout",
            OpError::ConnectionLost => "connection_lost",
            OpError::Closed(reason) => close_code(reason),
            OpError::Server { code, .. } => code.as_str(),
            _ => "payload",
        },
        Error::Url { .. } => "invalid_url",
        Error::Payload(_) => "payload",
        _ => "stopped",
    }
}

/// The JavaScript error for a client error.
pub fn to_js(error: &Error) -> JsValue {
    js_error(code_of(error), &error.to_string())
}
