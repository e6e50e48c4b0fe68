//! `Core`: one browser client session behind a callback API, the wasm half of the npm
//! package. The public classes (`Client`, `Room`, `TandemError`) are JavaScript, in
//! `js/api.js`: listeners, held events, promises, async iterators, aborts and timeouts are
//! the language's own there, and cost the package less than the Rust glue each would need
//! (the Rust-side `Client`/`Room` with their listener tables and promise plumbing were 19 KB
//! of the module before they moved).
//!
//! Every answer goes to a `done(code, value)` callback: `code` is `undefined` on success,
//! else the error's stable code with `value` its message. Every event goes to the
//! `on_event(kind, room, a, b, c)` function given to [`Core::start`], one call per event,
//! with payloads as JSON text for the page's own `JSON.parse`: a message is never walked
//! value by value.

use std::cell::RefCell;
use std::rc::Rc;

use js_sys::Function;
use tandem_client::{
    CallbackClient, ClientEvent, Config, ErrorBody, ErrorCode, HistoryQuery, JoinOptions, Member,
    Payload, TokenError, TokenReply,
};
use tandem_proto::frame::{self, Frame};
use wasm_bindgen::prelude::*;

use crate::error::{code_of, js_error};
use crate::types::{ConnectSettings, JoinSettings, State};

#[wasm_bindgen]
extern "C" {
    /// The page's event sink: `on_event(kind, room, a, b, c)`.
    #[wasm_bindgen(js_name = Function)]
    type Sink;

    #[wasm_bindgen(method, js_name = call)]
    fn emit(
        this: &Sink,
        this_arg: &JsValue,
        kind: &str,
        room: &JsValue,
        a: &JsValue,
        b: &JsValue,
        c: &JsValue,
    );

    /// An answer: `done(code, value)`.
    #[wasm_bindgen(js_name = Function)]
    type Done;

    #[wasm_bindgen(method, js_name = call)]
    fn answer(this: &Done, this_arg: &JsValue, code: &JsValue, value: &JsValue);
}

impl Done {
    fn ok(&self, value: &JsValue) {
        self.answer(&JsValue::UNDEFINED, &JsValue::UNDEFINED, value);
    }

    fn settle<T>(&self, result: Result<T, tandem_client::Error>, ok: impl FnOnce(T) -> JsValue) {
        match result {
            Ok(v) => self.ok(&ok(v)),
            Err(e) => {
                let message = JsValue::from(e.to_string());
                self.answer(&JsValue::UNDEFINED, &code_of(&e).into(), &message);
            }
        }
    }
}

/// The last string turned into a JavaScript string, kept to skip converting it again: a
/// stream of messages in one room, from one sender, crosses those names once.
#[derive(Default)]
struct LastString(Option<(String, JsValue)>);

impl LastString {
    fn get(&mut self, text: &str) -> JsValue {
        match &self.0 {
            Some((last, value)) if last == text => value.clone(),
            _ => {
                let value = JsValue::from(text);
                self.0 = Some((text.to_owned(), value.clone()));
                value
            }
        }
    }
}

/// Where the session's events go, with the name caches.
struct Events {
    sink: Sink,
    rooms: LastString,
    senders: LastString,
}

/// `[{ user, meta }]` as JSON text.
fn members(list: &[Member]) -> JsValue {
    tandem_proto::encode_members(list).into()
}

fn text(payload: &Payload) -> JsValue {
    payload.get().into()
}

fn or_null(s: Option<String>) -> JsValue {
    s.map_or(JsValue::NULL, JsValue::from)
}

impl Events {
    fn dispatch(&mut self, event: ClientEvent) {
        let nothing = JsValue::UNDEFINED;
        let (kind, room, a, b, c) = match event {
            ClientEvent::StateChanged(s) => (
                "state",
                nothing.clone(),
                State::from(&s).to_js(),
                nothing.clone(),
                nothing,
            ),
            ClientEvent::Welcomed { user, session } => (
                "welcomed",
                nothing.clone(),
                user.into(),
                session.into(),
                nothing,
            ),
            ClientEvent::Message {
                room,
                seq,
                from,
                data,
            } => {
                let from = from.map_or(JsValue::NULL, |f| self.senders.get(&f));
                // Seqs stay below 2^53 (PROTOCOL.md §2).
                #[allow(clippy::cast_precision_loss)]
                let seq = JsValue::from(seq as f64);
                ("message", self.rooms.get(&room), seq, from, text(&data))
            }
            ClientEvent::Ephemeral { room, from, data } => {
                let from = from.map_or(JsValue::NULL, |f| self.senders.get(&f));
                (
                    "ephemeral",
                    self.rooms.get(&room),
                    from,
                    text(&data),
                    nothing,
                )
            }
            ClientEvent::Presence {
                room,
                joined,
                left,
                updated,
            } => (
                "presence",
                room.into(),
                members(&joined),
                members(&left),
                members(&updated),
            ),
            // A first join is answered through its promise; rejoins are events.
            ClientEvent::Joined {
                id: None,
                room,
                recovered,
                members: list,
                ..
            } => {
                let recovered = recovered.map_or(JsValue::NULL, JsValue::from_bool);
                ("joined", room.into(), recovered, members(&list), nothing)
            }
            ClientEvent::Left { room, reason, .. } => {
                let (code, message) = match reason {
                    Some(e) => (JsValue::from(e.code.as_str()), JsValue::from(e.message)),
                    None => (JsValue::NULL, JsValue::NULL),
                };
                ("left", room.into(), code, message, nothing)
            }
            ClientEvent::Error {
                room,
                code,
                message,
            } => (
                "error",
                or_null(room),
                code.as_str().into(),
                message.into(),
                nothing,
            ),
            ClientEvent::Request { id, room, data } => {
                // Request ids stay below 2^53.
                #[allow(clippy::cast_precision_loss)]
                let id = JsValue::from(id as f64);
                ("request", or_null(room), id, text(&data), nothing)
            }
            _ => return,
        };
        self.sink.emit(&JsValue::UNDEFINED, kind, &room, &a, &b, &c);
    }
}

/// `{"epoch":…,"seq":…,"recovered":…,"members":[…],"policy":{…}|null}`: a join's answer.
fn joined_json(j: &tandem_client::Joined) -> String {
    let recovered = match j.recovered {
        Some(true) => "true",
        Some(false) => "false",
        None => "null",
    };
    let mut out = format!(
        "{{\"epoch\":{},\"seq\":{},\"recovered\":{recovered},\"members\":{},\"policy\":",
        j.epoch,
        j.seq,
        tandem_proto::encode_members(&j.members)
    );
    match &j.policy {
        Some(p) => {
            let max = p.max_members.map_or("null".to_owned(), |n| n.to_string());
            out.push_str(&format!(
                "{{\"history\":{},\"historyMs\":{},\"historyBytes\":{},\"numbered\":{},\"presence\":{},\"maxMembers\":{max}}}",
                p.history, p.history_ms, p.history_bytes, p.numbered, p.presence
            ));
        }
        None => out.push_str("null"),
    }
    out.push('}');
    out
}

/// `{"epoch":…,"more":…,"messages":[event frames]}`: a page's answer.
fn page_json((epoch, messages, more): (u64, Vec<frame::Event>, bool)) -> String {
    let mut out = format!("{{\"epoch\":{epoch},\"more\":{more},\"messages\":[");
    for (i, e) in messages.into_iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        out.push_str(&tandem_proto::encode(&Frame::Event(e)));
    }
    out.push_str("]}");
    out
}

/// A JSON payload from the page's `JSON.stringify`, checked.
fn payload(text: String) -> Result<Payload, JsValue> {
    Payload::from_json(text).map_err(|e| js_error("payload", &e.to_string()))
}

/// The configuration `options` give, with the `fetchToken(done)` function `api.js` puts
/// there for the page's `getToken`, if any.
fn config(options: &JsValue) -> Result<Config, JsValue> {
    let mut config = ConnectSettings::from_js(options)?.config();
    let fetch = js_sys::Reflect::get(options, &"fetchToken".into())
        .ok()
        .and_then(|f| f.dyn_into::<Function>().ok());
    if let Some(fetch) = fetch {
        config = config.token_callback(move |reply: TokenReply| {
            let done = Closure::once_into_js(move |ok: bool, value: JsValue| {
                reply(match (ok, value.as_string()) {
                    (true, Some(token)) => Ok(token),
                    (true, None) => Err(TokenError::Unauthorized("getToken gave no string".into())),
                    (false, reason) => Err(TokenError::Unavailable(
                        reason.unwrap_or_else(|| "getToken failed".into()),
                    )),
                });
            });
            let _ = fetch.call1(&JsValue::UNDEFINED, &done);
        });
    }
    Ok(config)
}

/// One client session, for `api.js`. Not part of the package's public API.
#[wasm_bindgen(skip_typescript)]
pub struct Core {
    client: CallbackClient,
    identity: Rc<RefCell<Option<(String, String)>>>,
}

#[wasm_bindgen]
impl Core {
    /// Starts connecting to `url` (`ws://`, `wss://`, or a path on this page's host) with
    /// `options`; `on_event` hears every event from the first attempt on.
    pub fn start(url: String, options: JsValue, on_event: Function) -> Result<Core, JsValue> {
        let config = config(&options)?;
        let identity = Rc::new(RefCell::new(None));
        let mut events = Events {
            sink: on_event.unchecked_into(),
            rooms: LastString::default(),
            senders: LastString::default(),
        };
        let welcomed = identity.clone();
        let client = CallbackClient::start(&url, config, move |event| {
            if let ClientEvent::Welcomed { user, session } = &event {
                *welcomed.borrow_mut() = Some((user.clone(), session.clone()));
            }
            events.dispatch(event);
        })
        .map_err(|e| crate::error::to_js(&e))?;
        Ok(Core { client, identity })
    }

    /// The connection state now.
    pub fn state(&self) -> JsValue {
        State::from(&self.client.state()).to_js()
    }

    /// The user the server knows this client as, once welcomed.
    pub fn user(&self) -> Option<String> {
        self.identity.borrow().as_ref().map(|(u, _)| u.clone())
    }

    /// The server's id of the current (or last) connection, once welcomed.
    pub fn session(&self) -> Option<String> {
        self.identity.borrow().as_ref().map(|(_, s)| s.clone())
    }

    /// Joins `room` with `meta` (JSON text), replaying the `history` the join `settings`
    /// ask for, or resuming from `since` (`[epoch, seq]`); `done` gets the join's answer
    /// as JSON text.
    pub fn join(
        &self,
        room: String,
        meta: Option<String>,
        settings: JsValue,
        since: Option<Box<[f64]>>,
        done: Function,
    ) -> Result<(), JsValue> {
        let history = JoinSettings::from_js(&settings)?.history.unwrap_or(0);
        let mut options = JoinOptions::new().history(history);
        if let Some(meta) = meta {
            options = options.raw_meta(payload(meta)?);
        }
        if let Some([epoch, seq]) = since.as_deref() {
            // Whole numbers below 2^53 from the page's stored position.
            #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
            let position = (*epoch as u64, *seq as u64);
            options = options.since(position.0, position.1);
        }
        let done: Done = done.unchecked_into();
        self.client.join(&room, options, move |r| {
            done.settle(r, |j| joined_json(&j).into());
        });
        Ok(())
    }

    /// Leaves `room`.
    pub fn leave(&self, room: String, done: Function) {
        let done: Done = done.unchecked_into();
        self.client
            .leave(&room, move |r| done.settle(r, |()| JsValue::UNDEFINED));
    }

    /// Publishes `data` (JSON text); `done` gets its seq once acknowledged.
    pub fn publish(&self, room: String, data: String, done: Function) -> Result<(), JsValue> {
        let data = payload(data)?;
        let done: Done = done.unchecked_into();
        self.client.publish(&room, data, move |r| {
            // Seqs stay below 2^53.
            #[allow(clippy::cast_precision_loss)]
            done.settle(r, |seq| JsValue::from(seq as f64));
        });
        Ok(())
    }

    /// Sends `data` (JSON text) as an ephemeral message.
    pub fn broadcast(
        &self,
        room: String,
        data: String,
        ack: bool,
        done: Function,
    ) -> Result<(), JsValue> {
        let data = payload(data)?;
        let done: Done = done.unchecked_into();
        self.client.broadcast(&room, data, ack, move |r| {
            done.settle(r, |()| JsValue::UNDEFINED)
        });
        Ok(())
    }

    /// Replaces this user's presence metadata in `room` with `meta` (JSON text).
    #[wasm_bindgen(js_name = setPresence)]
    pub fn set_presence(&self, room: String, meta: String, done: Function) -> Result<(), JsValue> {
        let meta = payload(meta)?;
        let done: Done = done.unchecked_into();
        self.client.set_presence(&room, meta, move |r| {
            done.settle(r, |()| JsValue::UNDEFINED)
        });
        Ok(())
    }

    /// A page of `room`'s history; `done` gets it as JSON text.
    pub fn history(&self, room: String, before: Option<f64>, limit: Option<u32>, done: Function) {
        // Whole numbers below 2^53 from the page.
        #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
        let query = HistoryQuery {
            before: before.map(|b| b as u64),
            limit,
        };
        let done: Done = done.unchecked_into();
        self.client.history(&room, query, move |r| {
            done.settle(r, |p| page_json(p).into())
        });
    }

    /// Asks the server (about `room`, if given) with `data` (JSON text); `done` gets the
    /// answer as JSON text.
    pub fn request(
        &self,
        room: Option<String>,
        data: String,
        done: Function,
    ) -> Result<(), JsValue> {
        let data = payload(data)?;
        let done: Done = done.unchecked_into();
        self.client.request(room.as_deref(), data, move |r| {
            done.settle(r, |answer: Payload| answer.get().into());
        });
        Ok(())
    }

    /// Answers the server's request `id`: with `data` (JSON text), or with the error
    /// `code` and `message` when `data` is absent.
    pub fn respond(
        &self,
        id: f64,
        data: Option<String>,
        code: Option<String>,
        message: Option<String>,
    ) {
        let result = match data.map(Payload::from_json) {
            Some(Ok(data)) => Ok(data),
            Some(Err(e)) => Err(ErrorBody {
                code: ErrorCode::Internal,
                message: format!("the answer is not JSON: {e}"),
            }),
            None => Err(ErrorBody {
                code: ErrorCode::from_wire(code.as_deref().unwrap_or("rejected")),
                message: message.unwrap_or_default(),
            }),
        };
        // Ids come from the request event: whole numbers below 2^53.
        #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
        self.client.respond(id as u64, result);
    }

    /// The members of `room` now, as JSON text, if joined.
    pub fn members(&self, room: &str) -> Option<String> {
        self.client
            .members(room)
            .map(|list| tandem_proto::encode_members(&list))
    }

    /// `[epoch, seq]` of the last message of `room` this client has, if joined once.
    pub fn position(&self, room: &str) -> Option<Box<[f64]>> {
        // Epochs and seqs stay below 2^53.
        #[allow(clippy::cast_precision_loss)]
        self.client
            .position(room)
            .map(|(e, s)| vec![e as f64, s as f64].into_boxed_slice())
    }

    /// Drops the connection as a network failure would; the client reconnects and
    /// resumes.
    #[wasm_bindgen(js_name = dropConnection)]
    pub fn drop_connection(&self) {
        self.client.drop_connection();
    }

    /// Reconnects now when waiting out a backoff delay; does nothing otherwise.
    #[wasm_bindgen(js_name = reconnectNow)]
    pub fn reconnect_now(&self) {
        self.client.reconnect_now();
    }

    /// Closes for good; `done` runs once closed.
    pub fn close(&self, done: Function) {
        let done: Done = done.unchecked_into();
        self.client.close(move || done.ok(&JsValue::UNDEFINED));
    }
}
