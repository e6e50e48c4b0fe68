//! The page's side of the in-band token refresh, the server's removal from a room and its
//! messages to a user, through the package's JavaScript API in headless Chromium, against
//! a scripted server (a fake `WebSocket`, `tests/js/refresh_and_removal_cases.js`): the
//! server's `refresh` calls `getToken` and sends the fresh token on the same connection
//! (a refusal is an `error` event), `message` reaches `client.on("message")`,
//! `unsubscribed` reaches `room.on("unsubscribed")` and the room is left for good (not
//! rejoined after a reconnect), and members carry the issuer's `info`.
//!
//! Native builds compile this file to nothing.

#![cfg(target_arch = "wasm32")]
#![allow(clippy::unwrap_used)]

mod support;

use support::{api, settle};
use wasm_bindgen::prelude::*;
use wasm_bindgen_test::{wasm_bindgen_test, wasm_bindgen_test_configure};

wasm_bindgen_test_configure!(run_in_browser);

#[wasm_bindgen(module = "/tests/js/refresh_and_removal_cases.js")]
extern "C" {
    fn refresh_message_and_unsubscribed(api: JsValue) -> js_sys::Promise;
}

#[wasm_bindgen_test]
async fn refresh_message_and_unsubscribed_reach_the_page() {
    if let Err(e) = settle(refresh_message_and_unsubscribed(api())).await {
        let message = js_sys::Reflect::get(&e, &"message".into())
            .ok()
            .and_then(|m| m.as_string());
        panic!("{}", message.unwrap_or_else(|| format!("{e:?}")));
    }
}
