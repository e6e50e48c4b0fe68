//! Each point of the package's JavaScript API in headless Chromium, against the `tandem
//! serve` that `cargo xtask test` starts: live presence and `setPresence`, identity,
//! ephemeral messages, history pages, joining since a stored position, held events bounded
//! per kind with a typed drop report, `once`/`off`/async iteration, connect's abort and
//! timeout, and requests answered both ways. The scenarios are JavaScript
//! (`tests/js/api_cases.js`), as a page would write them.
//!
//! Native builds compile this file to nothing.

#![cfg(target_arch = "wasm32")]
#![allow(clippy::unwrap_used)]

mod support;

use support::{api, setting, settle};
use wasm_bindgen::prelude::*;
use wasm_bindgen_test::{wasm_bindgen_test, wasm_bindgen_test_configure};

wasm_bindgen_test_configure!(run_in_browser);

#[wasm_bindgen(module = "/tests/js/api_cases.js")]
extern "C" {
    fn presence_is_live(api: JsValue, url: &str, alice: &str, bob: &str) -> js_sys::Promise;
    fn ephemeral_messages_and_history_pages(
        api: JsValue,
        url: &str,
        alice: &str,
        bob: &str,
    ) -> js_sys::Promise;
    fn join_since_a_stored_position(
        api: JsValue,
        url: &str,
        alice: &str,
        bob: &str,
    ) -> js_sys::Promise;
    fn held_events_are_bounded_per_kind_and_never_dropped_silently(
        api: JsValue,
        url: &str,
        alice: &str,
        bob: &str,
    ) -> js_sys::Promise;
    fn once_off_and_async_iteration(api: JsValue, url: &str, alice: &str) -> js_sys::Promise;
    fn connect_aborts_and_times_out(api: JsValue, refused: &str, alice: &str) -> js_sys::Promise;
    fn requests_are_answered_both_ways(api: JsValue, url: &str, alice: &str) -> js_sys::Promise;
}

fn url() -> &'static str {
    setting(option_env!("TANDEM_TEST_URL"), "TANDEM_TEST_URL")
}

fn alice() -> &'static str {
    setting(
        option_env!("TANDEM_TEST_TOKEN_ALICE"),
        "TANDEM_TEST_TOKEN_ALICE",
    )
}

fn bob() -> &'static str {
    setting(
        option_env!("TANDEM_TEST_TOKEN_BOB"),
        "TANDEM_TEST_TOKEN_BOB",
    )
}

async fn passes(scenario: js_sys::Promise) {
    if let Err(e) = settle(scenario).await {
        let message = js_sys::Reflect::get(&e, &"message".into())
            .ok()
            .and_then(|m| m.as_string());
        panic!("{}", message.unwrap_or_else(|| format!("{e:?}")));
    }
}

#[wasm_bindgen_test]
async fn members_are_live_and_set_presence_reaches_everyone() {
    passes(presence_is_live(api(), url(), alice(), bob())).await;
}

#[wasm_bindgen_test]
async fn broadcast_is_ephemeral_and_history_pages_back() {
    passes(ephemeral_messages_and_history_pages(
        api(),
        url(),
        alice(),
        bob(),
    ))
    .await;
}

#[wasm_bindgen_test]
async fn a_join_since_a_stored_position_gets_what_it_missed() {
    passes(join_since_a_stored_position(api(), url(), alice(), bob())).await;
}

#[wasm_bindgen_test]
async fn held_events_are_bounded_and_a_drop_is_reported() {
    passes(held_events_are_bounded_per_kind_and_never_dropped_silently(
        api(),
        url(),
        alice(),
        bob(),
    ))
    .await;
}

#[wasm_bindgen_test]
async fn once_off_and_for_await_work_with_backpressure() {
    passes(once_off_and_async_iteration(api(), url(), alice())).await;
}

#[wasm_bindgen_test]
async fn connect_can_be_aborted_and_timed_out() {
    let refused = setting(
        option_env!("TANDEM_TEST_REFUSED_URL"),
        "TANDEM_TEST_REFUSED_URL",
    );
    passes(connect_aborts_and_times_out(api(), refused, alice())).await;
}

#[wasm_bindgen_test]
async fn requests_from_the_server_are_answered_by_handlers() {
    passes(requests_are_answered_both_ways(api(), url(), alice())).await;
}
