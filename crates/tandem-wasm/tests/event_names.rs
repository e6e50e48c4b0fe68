//! `on` of `Client` and `Room`, through the package's own JavaScript API, in headless
//! Chromium against the `tandem serve` that `cargo xtask test` starts (its URL and token
//! come in at compile time): each event name the TypeScript declarations list registers a
//! listener and gives the function that removes it; any other name (a typo, or the other
//! class's event) throws a `TandemError` with code `unknown_event`, rather than registering
//! a listener that would never be called.
//!
//! Native builds compile this file to nothing.

#![cfg(target_arch = "wasm32")]
#![allow(clippy::unwrap_used)]

mod support;

use js_sys::{Function, Object, Promise, Reflect};
use wasm_bindgen::prelude::*;
use wasm_bindgen_futures::JsFuture;
use wasm_bindgen_test::{wasm_bindgen_test, wasm_bindgen_test_configure};

wasm_bindgen_test_configure!(run_in_browser);

fn setting(value: Option<&'static str>, name: &str) -> &'static str {
    value.unwrap_or_else(|| panic!("{name} is set by `cargo xtask test`; run the suite with it"))
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

/// Calls `target.method(args...)` as JavaScript would.
fn call(target: &JsValue, method: &str, args: &[JsValue]) -> Result<JsValue, JsValue> {
    let f: Function = Reflect::get(target, &method.into()).unwrap().into();
    f.apply(target, &args.iter().collect())
}

/// `target.on(event, () => {})`.
fn on(target: &JsValue, event: &str) -> Result<JsValue, JsValue> {
    let listener = Closure::<dyn FnMut(JsValue)>::new(|_: JsValue| {}).into_js_value();
    call(target, "on", &[event.into(), listener])
}

fn field(value: &JsValue, key: &str) -> Option<String> {
    Reflect::get(value, &key.into()).ok()?.as_string()
}

/// Checks that `target.on` takes each of `known` (and that the function it gives removes
/// the listener without complaint) and throws `unknown_event` for each of `unknown`.
fn check(target: &JsValue, what: &str, known: &[&str], unknown: &[&str]) {
    for event in known {
        let unsubscribe = on(target, event)
            .unwrap_or_else(|e| panic!("{what}.on({event:?}) threw {e:?}"))
            .dyn_into::<Function>()
            .unwrap_or_else(|v| panic!("{what}.on({event:?}) gave {v:?}, not a function"));
        unsubscribe.call0(&JsValue::NULL).unwrap();
    }
    for event in unknown {
        let error = on(target, event).expect_err(&format!("{what}.on({event:?}) must throw"));
        assert!(
            error.is_instance_of::<js_sys::Error>(),
            "{error:?} is an Error"
        );
        assert_eq!(field(&error, "name").as_deref(), Some("TandemError"));
        assert_eq!(field(&error, "code").as_deref(), Some("unknown_event"));
        let message = field(&error, "message").unwrap();
        assert!(message.contains(event), "{message:?} names {event:?}");
    }
}

#[wasm_bindgen_test]
async fn on_throws_for_an_event_name_it_does_not_know() {
    let url = setting(option_env!("TANDEM_TEST_URL"), "TANDEM_TEST_URL");
    let token = setting(
        option_env!("TANDEM_TEST_TOKEN_ALICE"),
        "TANDEM_TEST_TOKEN_ALICE",
    );
    let get_token = Closure::<dyn FnMut() -> JsValue>::new(move || token.into()).into_js_value();
    let options = Object::new();
    Reflect::set(&options, &"getToken".into(), &get_token).unwrap();
    let client = settle(support::connect(url, &options.into()))
        .await
        .expect("connects");
    check(
        &client,
        "client",
        &["state", "error", "message"],
        &["presence", "State", "errors", "messages", ""],
    );

    let joining = call(
        &client,
        "join",
        &["event-names".into(), Object::new().into()],
    )
    .unwrap();
    let room = settle(joining.into()).await.expect("joins");
    check(
        &room,
        "room",
        &[
            "message",
            "ephemeral",
            "presence",
            "joined",
            "left",
            "unsubscribed",
            "error",
        ],
        &["mesage", "state", "Message", "members"],
    );

    settle(call(&client, "close", &[]).unwrap().into())
        .await
        .expect("closes");
}
