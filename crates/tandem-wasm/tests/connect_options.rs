//! `Client.connect`'s callbacks, through the package's own JavaScript API, in headless
//! Chromium against the `tandem serve` that `cargo xtask test` starts (its URL and tokens
//! come in at compile time):
//! - `getToken`: a token given as a promise or as a string connects; a rejected fetch is
//!   retried with backoff; a fetch that gives no string stops the client as unauthorized;
//! - `onState`: while nothing listens at the URL, it hears each retry before `connect`
//!   rejects.
//!
//! Native builds compile this file to nothing.

#![cfg(target_arch = "wasm32")]
#![allow(clippy::unwrap_used)]

mod support;

use std::cell::Cell;
use std::rc::Rc;

use js_sys::{Function, Object, Promise, Reflect};
use wasm_bindgen::prelude::*;
use wasm_bindgen_futures::JsFuture;
use wasm_bindgen_test::{wasm_bindgen_test, wasm_bindgen_test_configure};

wasm_bindgen_test_configure!(run_in_browser);

fn setting(value: Option<&'static str>, name: &str) -> &'static str {
    value.unwrap_or_else(|| panic!("{name} is set by `cargo xtask test`; run the suite with it"))
}

fn server_url() -> String {
    setting(option_env!("TANDEM_TEST_URL"), "TANDEM_TEST_URL").to_owned()
}

fn alice() -> &'static str {
    setting(
        option_env!("TANDEM_TEST_TOKEN_ALICE"),
        "TANDEM_TEST_TOKEN_ALICE",
    )
}

/// Connect options with a fast first retry, a bounded number of attempts, and `callback`
/// under `key`.
fn options(key: &str, callback: &JsValue) -> JsValue {
    let backoff = Object::new();
    Reflect::set(&backoff, &"initialMs".into(), &10.into()).unwrap();
    Reflect::set(&backoff, &"maxMs".into(), &50.into()).unwrap();
    Reflect::set(&backoff, &"maxAttempts".into(), &5.into()).unwrap();
    let options = Object::new();
    Reflect::set(&options, &"backoff".into(), &backoff).unwrap();
    Reflect::set(&options, &key.into(), callback).unwrap();
    options.into()
}

/// `getToken` as a Rust closure that counts its calls; `answer` gets the call's number.
fn counted(answer: impl Fn(u32) -> JsValue + 'static) -> (JsValue, Rc<Cell<u32>>) {
    let calls = Rc::new(Cell::new(0));
    let seen = calls.clone();
    let f = Closure::<dyn FnMut() -> JsValue>::new(move || {
        seen.set(seen.get() + 1);
        answer(seen.get())
    });
    (f.into_js_value(), calls)
}

/// Awaits `promise`, failing the test after 15 s.
async fn settle(promise: Promise) -> Result<JsValue, JsValue> {
    let timeout = Function::new_no_args(
        "return new Promise((_, reject) => setTimeout(() => reject(new Error('timed out')), 15000))",
    );
    let timeout: Promise = timeout.call0(&JsValue::NULL).unwrap().into();
    let race = Promise::race(&js_sys::Array::of2(&promise, &timeout));
    JsFuture::from(race).await
}

/// Calls the connected client's `close()`.
fn close(client: &JsValue) {
    let close: Function = Reflect::get(client, &"close".into()).unwrap().into();
    close.call0(client).unwrap();
}

fn code(error: &JsValue) -> String {
    Reflect::get(error, &"code".into())
        .ok()
        .and_then(|c| c.as_string())
        .unwrap_or_else(|| format!("no code on {error:?}"))
}

/// Connects with `getToken` answering `answer(call number)`; checks it took `fetches`
/// calls, then closes.
async fn connects_after(fetches: u32, answer: impl Fn(u32) -> JsValue + 'static) {
    let (get_token, calls) = counted(answer);
    let client = settle(support::connect(
        &server_url(),
        &options("getToken", &get_token),
    ))
    .await
    .expect("connects");
    assert_eq!(calls.get(), fetches);
    close(&client);
}

#[wasm_bindgen_test]
async fn a_token_given_by_a_promise_connects() {
    connects_after(1, |_| Promise::resolve(&JsValue::from(alice())).into()).await;
}

#[wasm_bindgen_test]
async fn a_token_given_as_a_string_connects() {
    connects_after(1, |_| alice().into()).await;
}

#[wasm_bindgen_test]
async fn a_rejected_fetch_is_retried() {
    connects_after(2, |n| match n {
        1 => Promise::reject(&"token service down".into()).into(),
        _ => alice().into(),
    })
    .await;
}

#[wasm_bindgen_test]
async fn a_fetch_giving_no_string_stops_as_unauthorized() {
    let (get_token, calls) = counted(|_| 42.into());
    let error = settle(support::connect(
        &server_url(),
        &options("getToken", &get_token),
    ))
    .await
    .expect_err("never connects");
    assert_eq!(code(&error), "unauthorized");
    assert_eq!(calls.get(), 1, "an unauthorized answer is not retried");
}

#[wasm_bindgen_test]
async fn on_state_hears_the_retries_before_connect_settles() {
    let url = setting(
        option_env!("TANDEM_TEST_REFUSED_URL"),
        "TANDEM_TEST_REFUSED_URL",
    );
    let states = js_sys::Array::new();
    let seen = states.clone();
    let on_state = Closure::<dyn FnMut(JsValue)>::new(move |state: JsValue| {
        seen.push(&state);
    })
    .into_js_value();
    let error = settle(support::connect(url, &options("onState", &on_state)))
        .await
        .expect_err("nothing listens there");
    assert_eq!(code(&error), "attempts_exhausted");
    let field = |state: &JsValue, key: &str| Reflect::get(state, &key.into()).unwrap();
    let kinds: Vec<String> = states
        .iter()
        .map(|s| field(&s, "kind").as_string().unwrap())
        .collect();
    assert_eq!(kinds.first().map(String::as_str), Some("connecting"));
    assert_eq!(kinds.last().map(String::as_str), Some("closed"));
    let retries: Vec<JsValue> = states
        .iter()
        .filter(|s| field(s, "kind").as_string().as_deref() == Some("reconnecting"))
        .collect();
    assert!(!retries.is_empty(), "no retry heard in {kinds:?}");
    assert!(
        retries
            .iter()
            .all(|s| field(s, "delayMs").as_f64().is_some()),
        "each retry says when"
    );
    let closed = states.get(states.length() - 1);
    assert_eq!(
        field(&closed, "code").as_string().unwrap(),
        "attempts_exhausted"
    );
}
