//! Errors at the JavaScript boundary: every rejection is a `TandemError` (a subclass of
//! `Error`) with a stable `code`.

use tandem_client::{CloseReason, Error, OpError};
use wasm_bindgen::prelude::*;

#[wasm_bindgen(module = "/js/errors.js")]
extern "C" {
    /// The JavaScript `TandemError` class.
    #[wasm_bindgen(extends = js_sys::Error)]
    pub type TandemError;

    #[wasm_bindgen(constructor)]
    fn new(code: &str, message: &str) -> TandemError;
}

/// A `TandemError` with `code` and `message`, as a `JsValue`.
pub fn js_error(code: &str, message: &str) -> JsValue {
    TandemError::new(code, message).into()
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

/// The JavaScript error for a client error.
pub fn to_js(error: &Error) -> JsValue {
    let code = match error {
        Error::Closed(reason) => close_code(reason),
        Error::Op(op) => match op {
            OpError::QueueFull { .. } => "queue_full",
            OpError::TooLarge { .. } => "too_large",
            OpError::NotJoined { .. } => "not_joined",
            OpError::Timeout => "timeout",
            OpError::ConnectionLost => "connection_lost",
            OpError::Closed(reason) => close_code(reason),
            OpError::Server { code, .. } => code.as_str(),
            _ => "payload",
        },
        Error::Url { .. } => "invalid_url",
        Error::Payload(_) => "payload",
        _ => "stopped",
    };
    js_error(code, &error.to_string())
}
