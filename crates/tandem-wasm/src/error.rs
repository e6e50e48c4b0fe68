//! Errors at the JavaScript boundary. The wasm side gives `{ code, message }`; the package's
//! entry (`js/api.js`) turns it into a `TandemError`, a real `Error` subclass, so a page's
//! `instanceof TandemError` holds for every rejection whichever side made it.

use js_sys::{Object, Reflect};
use tandem_proto::CloseReason;
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
