//! Reading the option objects JavaScript passes, and building the state objects it gets,
//! field by field with `Reflect`. The shapes are the Rust types in `types.rs` (tsify writes
//! their TypeScript from them); a generic value converter would cost the package more code
//! than these few fields.

use js_sys::{Array, Object, Reflect};
use wasm_bindgen::JsValue;

use crate::error::js_error;
use crate::types::{
    AppOptions, BackoffOptions, ConnectSettings, HeartbeatOptions, JoinSettings, QueueOptions,
    State,
};

/// An `invalid_options` error about `path`.
fn invalid(path: &str, what: &str) -> JsValue {
    js_error("invalid_options", &format!("`{path}` {what}"))
}

/// `value` as a whole number from 0 to `u32::MAX`, if it is one.
fn whole_u32(value: &JsValue) -> Option<u32> {
    let n = value.as_f64()?;
    // Checked first: a whole number within u32.
    #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
    (n.fract() == 0.0 && (0.0..=f64::from(u32::MAX)).contains(&n)).then_some(n as u32)
}

/// One options object and its path from the argument (`options.backoff`), for errors.
struct Fields<'a> {
    object: &'a JsValue,
    path: String,
}

impl<'a> Fields<'a> {
    /// `value`'s fields; `None` when it is `undefined` or `null`.
    fn of(value: &'a JsValue, path: String) -> Result<Option<Self>, JsValue> {
        if value.is_undefined() || value.is_null() {
            return Ok(None);
        }
        if !value.is_object() || Array::is_array(value) {
            return Err(invalid(&path, "must be an object"));
        }
        Ok(Some(Fields {
            object: value,
            path,
        }))
    }

    fn path(&self, key: &str) -> String {
        format!("{}.{key}", self.path)
    }

    /// The field `key`; `None` when absent, `undefined` or `null`.
    fn get(&self, key: &str) -> Option<JsValue> {
        Reflect::get(self.object, &JsValue::from_str(key))
            .ok()
            .filter(|v| !v.is_undefined() && !v.is_null())
    }

    fn nested(&self, key: &str, value: &'a JsValue) -> Result<Option<Fields<'a>>, JsValue> {
        Fields::of(value, self.path(key))
    }

    fn u32(&self, key: &str) -> Result<Option<u32>, JsValue> {
        let Some(value) = self.get(key) else {
            return Ok(None);
        };
        whole_u32(&value).map(Some).ok_or_else(|| {
            invalid(
                &self.path(key),
                "must be a whole number from 0 to 4294967295",
            )
        })
    }

    fn string(&self, key: &str) -> Result<Option<String>, JsValue> {
        self.get(key)
            .map(|v| {
                v.as_string()
                    .ok_or_else(|| invalid(&self.path(key), "must be a string"))
            })
            .transpose()
    }

    fn list<T>(
        &self,
        key: &str,
        item: impl Fn(&JsValue) -> Option<T>,
        what: &str,
    ) -> Result<Option<Vec<T>>, JsValue> {
        let Some(value) = self.get(key) else {
            return Ok(None);
        };
        let bad = || invalid(&self.path(key), what);
        if !Array::is_array(&value) {
            return Err(bad());
        }
        Array::from(&value)
            .iter()
            .map(|v| item(&v).ok_or_else(bad))
            .collect::<Result<_, _>>()
            .map(Some)
    }

    fn strings(&self, key: &str) -> Result<Option<Vec<String>>, JsValue> {
        self.list(key, JsValue::as_string, "must be an array of strings")
    }
}

impl ConnectSettings {
    /// The settings in `Client.connect`'s options (the defaults when none are given).
    pub(crate) fn from_js(options: &JsValue) -> Result<Self, JsValue> {
        let Some(f) = Fields::of(options, "options".to_owned())? else {
            return Ok(ConnectSettings::default());
        };
        let (app, backoff, heartbeat, queue) = (
            f.get("app").unwrap_or_default(),
            f.get("backoff").unwrap_or_default(),
            f.get("heartbeat").unwrap_or_default(),
            f.get("queue").unwrap_or_default(),
        );
        let app = match f.nested("app", &app)? {
            Some(a) => Some(AppOptions {
                name: a
                    .string("name")?
                    .ok_or_else(|| invalid(&a.path("name"), "is required"))?,
                versions: a
                    .list("versions", whole_u32, "must be an array of whole numbers")?
                    .ok_or_else(|| invalid(&a.path("versions"), "is required"))?,
            }),
            None => None,
        };
        let backoff = match f.nested("backoff", &backoff)? {
            Some(b) => Some(BackoffOptions {
                initial_ms: b.u32("initialMs")?,
                max_ms: b.u32("maxMs")?,
                max_attempts: b.u32("maxAttempts")?,
            }),
            None => None,
        };
        let heartbeat = match f.nested("heartbeat", &heartbeat)? {
            Some(h) => Some(HeartbeatOptions {
                interval_ms: h.u32("intervalMs")?,
                timeout_ms: h.u32("timeoutMs")?,
            }),
            None => None,
        };
        let queue = match f.nested("queue", &queue)? {
            Some(q) => Some(QueueOptions {
                max_frames: q.u32("maxFrames")?,
                max_bytes: q.u32("maxBytes")?,
            }),
            None => None,
        };
        Ok(ConnectSettings {
            token: f.string("token")?,
            app,
            backoff,
            heartbeat,
            queue,
            request_timeout_ms: f.u32("requestTimeoutMs")?,
            publish_timeout_ms: f.u32("publishTimeoutMs")?,
            protocols: f.strings("protocols")?,
            fallback_urls: f.strings("fallbackUrls")?,
        })
    }
}

impl JoinSettings {
    /// The settings in `client.join`'s options (the defaults when none are given).
    pub(crate) fn from_js(options: &JsValue) -> Result<Self, JsValue> {
        let Some(f) = Fields::of(options, "options".to_owned())? else {
            return Ok(JoinSettings::default());
        };
        Ok(JoinSettings {
            history: f.u32("history")?,
        })
    }
}

impl State {
    /// The state as JavaScript sees it: `{ kind: "reconnecting", attempt, delayMs }`.
    pub(crate) fn to_js(&self) -> JsValue {
        let o = Object::new();
        let set = |key: &str, value: JsValue| {
            let _ = Reflect::set(&o, &JsValue::from_str(key), &value);
        };
        match self {
            State::Idle => set("kind", "idle".into()),
            State::Connecting { attempt } => {
                set("kind", "connecting".into());
                set("attempt", (*attempt).into());
            }
            State::Open => set("kind", "open".into()),
            State::Reconnecting { attempt, delay_ms } => {
                set("kind", "reconnecting".into());
                set("attempt", (*attempt).into());
                set("delayMs", delay_ms.map_or(JsValue::NULL, JsValue::from));
            }
            State::Closed { code, reason } => {
                set("kind", "closed".into());
                set("code", code.as_str().into());
                set("reason", reason.as_str().into());
            }
        }
        o.into()
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;
    use wasm_bindgen_test::wasm_bindgen_test;

    wasm_bindgen_test::wasm_bindgen_test_configure!(run_in_browser);

    fn js(json: &str) -> JsValue {
        js_sys::JSON::parse(json).unwrap()
    }

    /// The error's `code` and `message`.
    fn error(e: &JsValue) -> (String, String) {
        let field = |k: &str| Reflect::get(e, &k.into()).unwrap().as_string().unwrap();
        (field("code"), field("message"))
    }

    #[wasm_bindgen_test]
    fn reads_every_connect_setting() {
        let s = ConnectSettings::from_js(&js(r#"{
            "token": "t", "app": {"name": "board", "versions": [2, 1]},
            "backoff": {"initialMs": 100, "maxMs": 5000, "maxAttempts": 3},
            "heartbeat": {"intervalMs": 1000, "timeoutMs": 500},
            "queue": {"maxFrames": 10, "maxBytes": 4096},
            "requestTimeoutMs": 250, "protocols": ["tandem.v1"],
            "fallbackUrls": ["ws://b"], "unknown": true
        }"#))
        .unwrap();
        assert_eq!(s.token.as_deref(), Some("t"));
        let app = s.app.unwrap();
        assert_eq!((app.name.as_str(), app.versions), ("board", vec![2, 1]));
        let b = s.backoff.unwrap();
        assert_eq!(
            (b.initial_ms, b.max_ms, b.max_attempts),
            (Some(100), Some(5000), Some(3))
        );
        let h = s.heartbeat.unwrap();
        assert_eq!((h.interval_ms, h.timeout_ms), (Some(1000), Some(500)));
        let q = s.queue.unwrap();
        assert_eq!((q.max_frames, q.max_bytes), (Some(10), Some(4096)));
        assert_eq!(s.request_timeout_ms, Some(250));
        assert_eq!(s.protocols.unwrap(), ["tandem.v1"]);
        assert_eq!(s.fallback_urls.unwrap(), ["ws://b"]);
    }

    #[wasm_bindgen_test]
    fn absent_and_null_settings_are_defaults() {
        for options in [
            JsValue::UNDEFINED,
            JsValue::NULL,
            js("{}"),
            js(r#"{"backoff": null}"#),
        ] {
            let s = ConnectSettings::from_js(&options).unwrap();
            assert!(s.token.is_none() && s.backoff.is_none() && s.protocols.is_none());
        }
        assert_eq!(
            JoinSettings::from_js(&js(r#"{"history": 5}"#))
                .unwrap()
                .history,
            Some(5)
        );
        assert_eq!(
            JoinSettings::from_js(&JsValue::UNDEFINED).unwrap().history,
            None
        );
    }

    #[wasm_bindgen_test]
    fn a_bad_setting_is_an_invalid_options_error_naming_it() {
        for (options, path) in [
            (r#"{"backoff": {"maxMs": -1}}"#, "`options.backoff.maxMs`"),
            (r#"{"backoff": {"maxMs": 1.5}}"#, "`options.backoff.maxMs`"),
            (
                r#"{"requestTimeoutMs": "10"}"#,
                "`options.requestTimeoutMs`",
            ),
            (r#"{"protocols": "tandem.v1"}"#, "`options.protocols`"),
            (r#"{"fallbackUrls": [1]}"#, "`options.fallbackUrls`"),
            (r#"{"app": {"versions": [1]}}"#, "`options.app.name`"),
            (
                r#"{"app": {"name": "a", "versions": [-2]}}"#,
                "`options.app.versions`",
            ),
            (r#"{"queue": []}"#, "`options.queue`"),
            (r#""lobby""#, "`options`"),
        ] {
            let e = ConnectSettings::from_js(&js(options)).unwrap_err();
            let (code, message) = error(&e);
            assert_eq!(code, "invalid_options", "{options}");
            assert!(message.starts_with(path), "{options}: {message}");
        }
        let e = JoinSettings::from_js(&js(r#"{"history": true}"#)).unwrap_err();
        assert!(error(&e).1.starts_with("`options.history`"));
    }

    #[wasm_bindgen_test]
    fn states_are_the_declared_objects() {
        let text = |s: State| {
            js_sys::JSON::stringify(&s.to_js())
                .unwrap()
                .as_string()
                .unwrap()
        };
        assert_eq!(text(State::Open), r#"{"kind":"open"}"#);
        assert_eq!(
            text(State::Reconnecting {
                attempt: 2,
                delay_ms: None
            }),
            r#"{"kind":"reconnecting","attempt":2,"delayMs":null}"#
        );
        assert_eq!(
            text(State::Closed {
                code: "closed".into(),
                reason: "bye".into()
            }),
            r#"{"kind":"closed","code":"closed","reason":"bye"}"#
        );
    }
}
