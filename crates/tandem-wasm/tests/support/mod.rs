//! The package's JavaScript API (`js/api.js`) over this build's wasm `Core`, for the tests:
//! what `index.js` does for a page, with the module already loaded.

#![allow(dead_code, clippy::unwrap_used)]

use js_sys::{Function, Promise, Reflect};
use tandem_wasm::Core;
use wasm_bindgen::prelude::*;
use wasm_bindgen_futures::JsFuture;

#[wasm_bindgen(module = "/js/api.js")]
extern "C" {
    fn install(core: &JsValue, load: &JsValue) -> JsValue;
}

/// `{ Client, Room, TandemError }`.
pub fn api() -> JsValue {
    let make = Closure::<dyn FnMut(JsValue, bool, f64) -> Result<JsValue, JsValue>>::new(
        |options: JsValue, refresh: bool, seed: f64| {
            Core::new(&options, refresh, seed).map(JsValue::from)
        },
    )
    .into_js_value();
    let load = Function::new_no_args("return Promise.resolve()");
    install(&make, &load.into())
}

/// `Client.connect(url, options)`.
pub fn connect(url: &str, options: &JsValue) -> Promise {
    let client = Reflect::get(&api(), &"Client".into()).unwrap();
    call(&client, "connect", &[url.into(), options.clone()])
        .unwrap()
        .into()
}

/// Calls `target.method(args...)` as JavaScript would.
pub fn call(target: &JsValue, method: &str, args: &[JsValue]) -> Result<JsValue, JsValue> {
    let f: Function = Reflect::get(target, &method.into()).unwrap().into();
    f.apply(target, &args.iter().collect())
}

/// `value[key]`.
pub fn get(value: &JsValue, key: &str) -> JsValue {
    Reflect::get(value, &key.into()).unwrap()
}

/// A setting `cargo xtask test` compiles in.
pub fn setting(value: Option<&'static str>, name: &str) -> &'static str {
    value.unwrap_or_else(|| panic!("{name} is set by `cargo xtask test`; run the suite with it"))
}

/// Awaits `promise`, failing the test after 15 s.
pub async fn settle(promise: Promise) -> Result<JsValue, JsValue> {
    let timeout = Function::new_no_args(
        "return new Promise((_, reject) => setTimeout(() => reject(new Error('timed out')), 15000))",
    );
    let timeout: Promise = timeout.call0(&JsValue::NULL).unwrap().into();
    let race = Promise::race(&js_sys::Array::of2(&promise, &timeout));
    JsFuture::from(race).await
}

/// Awaits `target.method(args...)`'s promise.
pub async fn await_call(
    target: &JsValue,
    method: &str,
    args: &[JsValue],
) -> Result<JsValue, JsValue> {
    settle(call(target, method, args)?.into()).await
}

/// The error's `code`.
pub fn code(error: &JsValue) -> String {
    Reflect::get(error, &"code".into())
        .ok()
        .and_then(|c| c.as_string())
        .unwrap_or_else(|| format!("no code on {error:?}"))
}

/// A JavaScript value from JSON text.
pub fn js(json: &str) -> JsValue {
    js_sys::JSON::parse(json).unwrap()
}
