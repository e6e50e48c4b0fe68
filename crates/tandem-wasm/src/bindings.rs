//! The `Client` and `Room` classes, over the callback-driven browser client: each call
//! returns at once (promises are settled by the client's callbacks), and listeners are
//! called from the socket's own event, with no task or microtask in between. Payloads cross
//! the boundary as JSON text: the page's own `JSON.stringify` / `JSON.parse` (fast in every
//! engine) on one side, the protocol's raw JSON on the other, so a message is never walked
//! value by value.

use std::cell::{Cell, RefCell};
use std::rc::{Rc, Weak};

use js_sys::{Function, JSON, Promise, Reflect};
use tandem_client::{
    CallbackClient, ClientEvent, Config, ErrorBody, ErrorCode, JoinOptions, Member, Payload,
    TokenError, TokenReply,
};
use wasm_bindgen::prelude::*;

use crate::error::{js_error, to_js};
use crate::types::{ConnectSettings, JoinSettings, State};

/// A listener registration: its id, the event name, the room (for room events).
struct Listener {
    id: u32,
    event: String,
    room: Option<String>,
    callback: Function,
}

/// Room events that arrived before the room had a listener for them (the history replayed
/// on join arrives before `join()` resolves), held for the first listener.
struct Held {
    event: String,
    room: String,
    value: JsValue,
}

/// How many room events are held for listeners not registered yet; later ones are dropped.
const MAX_HELD: usize = 1024;

/// The events `Client.on` listens to (`ClientEvents` in the TypeScript below).
const CLIENT_EVENTS: &[&str] = &["state", "error"];
/// The events `Room.on` listens to (`RoomEvents` in the TypeScript below).
const ROOM_EVENTS: &[&str] = &["message", "presence", "joined", "left"];

/// `event` if it is one of `known`; otherwise the `TandemError` (code `unknown_event`) that
/// `on` throws: a listener under any other name would never be called.
fn known_event(event: String, known: &[&str]) -> Result<String, JsValue> {
    if known.contains(&event.as_str()) {
        return Ok(event);
    }
    // Display, not Debug: Debug's escaping would cost the package its tables.
    let mut message = format!("no event is called \"{event}\"; the events are");
    for name in known {
        message.push(' ');
        message.push_str(name);
    }
    Err(js_error("unknown_event", &message))
}

/// `Client.connect`'s promise until the first welcome (or the reason none will come), and
/// the client itself meanwhile: the page holds no handle to it yet.
struct Connecting {
    settle: Settle,
    client: Rc<Shared>,
}

struct Shared {
    client: RefCell<Option<CallbackClient>>,
    listeners: RefCell<Vec<Listener>>,
    held: RefCell<Vec<Held>>,
    next_id: Cell<u32>,
    connecting: RefCell<Option<Connecting>>,
    /// A stream of messages in one room, from one sender, crosses those names once.
    rooms: RefCell<LastString>,
    senders: RefCell<LastString>,
}

impl Shared {
    /// A promise for one operation on the client, its answer turned by `ok`; a client
    /// already let go of rejects with `stopped`.
    fn ask<T: 'static>(
        &self,
        op: impl FnOnce(&CallbackClient, Answer<T>),
        ok: impl FnOnce(T) -> JsValue + 'static,
    ) -> Promise {
        promise(|settle| {
            let reply: Answer<T> =
                Box::new(move |result| settle(result.map(ok).map_err(|e| to_js(&e))));
            match &*self.client.borrow() {
                Some(client) => op(client, reply),
                None => reply(Err(tandem_client::Error::Stopped)),
            }
        })
    }

    /// Registers a listener for good; gives its id.
    fn listen(&self, event: String, room: Option<String>, callback: Function) -> u32 {
        let id = self.next_id.get();
        self.next_id.set(id + 1);
        self.listeners.borrow_mut().push(Listener {
            id,
            event,
            room,
            callback,
        });
        id
    }

    /// Registers a listener; gives the function that removes it.
    fn add(self: &Rc<Self>, event: String, room: Option<String>, callback: Function) -> Function {
        // Events held for this room and event go to the first listener, in order, right
        // after `on` returns.
        let mut held = Vec::new();
        if let Some(room) = &room {
            self.held.borrow_mut().retain(|h| {
                let mine = h.event == event && &h.room == room;
                if mine {
                    held.push(h.value.clone());
                }
                !mine
            });
        }
        if !held.is_empty() {
            let callback = callback.clone();
            // A microtask runs after `on` has returned.
            queue_microtask(&Closure::once_into_js(move || {
                for value in held {
                    if let Err(e) = callback.call1(&JsValue::NULL, &value) {
                        web_sys_console_error(&e);
                    }
                }
            }));
        }
        let id = self.listen(event, room, callback);
        let weak = Rc::downgrade(self);
        Closure::once_into_js(move || {
            if let Some(shared) = weak.upgrade() {
                shared.listeners.borrow_mut().retain(|l| l.id != id);
            }
        })
        .unchecked_into()
    }

    /// Calls every listener of `event` (in `room`, for room events) with `value`.
    fn emit(&self, event: &str, room: Option<&str>, value: &JsValue) {
        let targets: Vec<Function> = self
            .listeners
            .borrow()
            .iter()
            .filter(|l| l.event == event && l.room.as_deref() == room)
            .map(|l| l.callback.clone())
            .collect();
        if let (true, Some(room)) = (targets.is_empty(), room) {
            let mut held = self.held.borrow_mut();
            if held.len() < MAX_HELD {
                held.push(Held {
                    event: event.to_owned(),
                    room: room.to_owned(),
                    value: value.clone(),
                });
            }
            return;
        }
        for f in targets {
            // A throwing listener must not stop the others or the event loop.
            if let Err(e) = f.call1(&JsValue::NULL, value) {
                web_sys_console_error(&e);
            }
        }
    }

    /// Feeds one of the client's events to the JavaScript listeners.
    fn dispatch(self: &Rc<Self>, event: ClientEvent) {
        match event {
            ClientEvent::StateChanged(s) => {
                self.settle_connect(&s);
                self.emit("state", None, &State::from(&s).to_js());
            }
            ClientEvent::Message {
                room,
                seq,
                from,
                data,
            } => {
                let from = from.map_or(JsValue::NULL, |f| self.senders.borrow_mut().get(&f));
                let name = self.rooms.borrow_mut().get(&room);
                let o = message_event(&name, seq as f64, &from, data.get());
                self.emit("message", Some(&room), &o);
            }
            ClientEvent::Presence {
                room,
                joined,
                left,
                updated,
            } => {
                let o = js_sys::Object::new();
                set(&o, "room", &room.as_str().into());
                set(&o, "joined", &members(&joined));
                set(&o, "left", &members(&left));
                set(&o, "updated", &members(&updated));
                self.emit("presence", Some(&room), &o);
            }
            ClientEvent::Joined {
                room,
                recovered,
                members: list,
                ..
            } => {
                let o = js_sys::Object::new();
                set(&o, "room", &room.as_str().into());
                set(
                    &o,
                    "recovered",
                    &recovered.map_or(JsValue::NULL, JsValue::from_bool),
                );
                set(&o, "members", &members(&list));
                self.emit("joined", Some(&room), &o);
            }
            ClientEvent::Left { room, reason, .. } => {
                let o = js_sys::Object::new();
                set(&o, "room", &room.as_str().into());
                let reason =
                    reason.map_or(JsValue::NULL, |e| js_error(e.code.as_str(), &e.message));
                set(&o, "reason", &reason);
                self.emit("left", Some(&room), &o);
            }
            ClientEvent::Error {
                room,
                code,
                message,
            } => {
                let e = js_error(code.as_str(), &message);
                if let Some(r) = &room {
                    set(e.unchecked_ref(), "room", &r.as_str().into());
                }
                self.emit("error", None, &e);
            }
            // Requests from the server are answered `rejected` until the JS API grows a
            // request handler.
            ClientEvent::Request { id, .. } => {
                if let Some(client) = &*self.client.borrow() {
                    client.respond(
                        id,
                        Err(ErrorBody {
                            code: ErrorCode::Rejected,
                            message: "this client answers no requests".to_owned(),
                        }),
                    );
                }
            }
            _ => {}
        }
    }

    /// Settles `Client.connect`'s promise at the first welcome, or when the client closes
    /// for good before it.
    fn settle_connect(self: &Rc<Self>, state: &tandem_client::ConnectionState) {
        use tandem_client::ConnectionState as S;
        if !matches!(state, S::Open | S::Closed(_)) {
            return;
        }
        let Some(connecting) = self.connecting.borrow_mut().take() else {
            return;
        };
        match state {
            S::Closed(reason) => {
                (connecting.settle)(Err(to_js(&tandem_client::Error::Closed(reason.clone()))));
            }
            _ => (connecting.settle)(Ok(Client {
                shared: connecting.client,
            }
            .into())),
        }
    }
}

#[wasm_bindgen]
extern "C" {
    #[wasm_bindgen(js_namespace = console, js_name = error)]
    fn web_sys_console_error(e: &JsValue);
}

#[wasm_bindgen(module = "/js/events.js")]
extern "C" {
    /// `{ room, seq, from, data: JSON.parse(data) }`, built on the JavaScript side: one
    /// crossing per message instead of one per field.
    #[wasm_bindgen(js_name = messageEvent)]
    fn message_event(room: &JsValue, seq: f64, from: &JsValue, data: &str) -> JsValue;

    /// Calls `getToken` and hands `done(true, value)` what it gives (awaited, if a
    /// promise), or `done(false, reason)` what it throws or rejects with; always on a
    /// later microtask.
    #[wasm_bindgen(js_name = fetchToken)]
    fn fetch_token(get_token: &Function, done: &JsValue);
}

#[wasm_bindgen]
extern "C" {
    /// The page's `queueMicrotask`.
    #[wasm_bindgen(js_name = queueMicrotask)]
    fn queue_microtask(callback: &JsValue);
}

/// Settles a promise: `Ok` resolves it, `Err` rejects it.
type Settle = Box<dyn FnOnce(Result<JsValue, JsValue>)>;

/// A promise settled by whatever `start` does with its [`Settle`].
fn promise(start: impl FnOnce(Settle)) -> Promise {
    let mut start = Some(start);
    Promise::new(&mut |resolve: Function, reject: Function| {
        if let Some(start) = start.take() {
            start(Box::new(move |result| {
                let _ = match result {
                    Ok(value) => resolve.call1(&JsValue::UNDEFINED, &value),
                    Err(error) => reject.call1(&JsValue::UNDEFINED, &error),
                };
            }));
        }
    })
}

/// Where the client's answer to one operation goes.
type Answer<T> = Box<dyn FnOnce(Result<T, tandem_client::Error>)>;

fn parse(raw: &Payload) -> JsValue {
    JSON::parse(raw.get()).unwrap_or(JsValue::UNDEFINED)
}

fn stringify(value: &JsValue) -> Result<Payload, JsValue> {
    let text = JSON::stringify(value)
        .ok()
        .and_then(|s| s.as_string())
        .ok_or_else(|| js_error("payload", "the value cannot be sent as JSON"))?;
    Payload::from_json(text).map_err(|e| js_error("payload", &e.to_string()))
}

fn set(obj: &js_sys::Object, key: &str, value: &JsValue) {
    let _ = Reflect::set(obj, &key.into(), value);
}

/// `[{ user, meta }]`: the list is written as JSON and parsed by the engine, one crossing
/// for the whole list.
fn members(list: &[Member]) -> JsValue {
    JSON::parse(&tandem_proto::encode_members(list)).unwrap_or_else(|_| js_sys::Array::new().into())
}

/// The function `options` give under `key`, if any.
fn function(options: &JsValue, key: &str) -> Option<Function> {
    Reflect::get(options, &key.into())
        .ok()
        .and_then(|f| f.dyn_into::<Function>().ok())
}

/// The configuration `options` give, with its `getToken` callback, if any.
fn config(options: &JsValue) -> Result<Config, JsValue> {
    let mut config = ConnectSettings::from_js(options)?.config();
    if let Some(get_token) = function(options, "getToken") {
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
            fetch_token(&get_token, &done);
        });
    }
    Ok(config)
}

/// A connection to a tandem server. `Client.connect` resolves once the server has
/// welcomed the client.
#[wasm_bindgen(skip_typescript)]
pub struct Client {
    shared: Rc<Shared>,
}

#[wasm_bindgen]
impl Client {
    /// Connects to `url` (`ws://`, `wss://`, or a path on this page's host).
    pub fn connect(url: String, options: JsValue) -> Promise {
        let config = match config(&options) {
            Ok(config) => config,
            Err(e) => return Promise::reject(&e),
        };
        let shared = Rc::new(Shared {
            client: RefCell::new(None),
            listeners: RefCell::new(Vec::new()),
            held: RefCell::new(Vec::new()),
            next_id: Cell::new(1),
            connecting: RefCell::new(None),
            rooms: RefCell::default(),
            senders: RefCell::default(),
        });
        // `onState` hears every state from the first attempt on, before the promise
        // settles too: a page can show the retries while the server cannot be reached.
        if let Some(on_state) = function(&options, "onState") {
            shared.listen("state".to_owned(), None, on_state);
        }
        promise(|settle| {
            *shared.connecting.borrow_mut() = Some(Connecting {
                settle,
                client: shared.clone(),
            });
            let weak: Weak<Shared> = Rc::downgrade(&shared);
            let started = CallbackClient::start(&url, config, move |event| {
                if let Some(shared) = weak.upgrade() {
                    shared.dispatch(event);
                }
            });
            match started {
                Ok(client) => *shared.client.borrow_mut() = Some(client),
                Err(e) => {
                    let connecting = shared.connecting.borrow_mut().take();
                    if let Some(connecting) = connecting {
                        (connecting.settle)(Err(to_js(&e)));
                    }
                }
            }
        })
    }

    /// The connection state now.
    #[wasm_bindgen(getter)]
    pub fn state(&self) -> JsValue {
        let state = self
            .shared
            .client
            .borrow()
            .as_ref()
            .map(CallbackClient::state);
        state.map_or(JsValue::NULL, |s| State::from(&s).to_js())
    }

    /// Listens to `state` or `error` events; returns a function that unsubscribes. Throws a
    /// `TandemError` (code `unknown_event`) for any other name.
    pub fn on(&self, event: String, listener: Function) -> Result<Function, JsValue> {
        let event = known_event(event, CLIENT_EVENTS)?;
        Ok(self.shared.add(event, None, listener))
    }

    /// Joins `room`, with presence metadata (`meta`) and history replay (`history`).
    pub fn join(&self, room: String, options: JsValue) -> Promise {
        let prepared = JoinSettings::from_js(&options).and_then(|settings| {
            let mut join = JoinOptions::new().history(settings.history.unwrap_or(0));
            if let Ok(meta) = Reflect::get(&options, &"meta".into()) {
                if !meta.is_undefined() {
                    join = join.raw_meta(stringify(&meta)?);
                }
            }
            Ok(join)
        });
        let join = match prepared {
            Ok(join) => join,
            Err(e) => return Promise::reject(&e),
        };
        let shared = self.shared.clone();
        let name = room.clone();
        self.shared.ask(
            |c, reply| c.join(&room, join, reply),
            move |joined: tandem_client::Joined| {
                Room {
                    shared,
                    name,
                    members: RefCell::new(joined.members),
                }
                .into()
            },
        )
    }

    /// Drops the connection as a network failure would; the client reconnects and
    /// resumes (to watch recovery in a demo, or test it).
    #[wasm_bindgen(js_name = dropConnection)]
    pub fn drop_connection(&self) {
        if let Some(client) = &*self.shared.client.borrow() {
            client.drop_connection();
        }
    }

    /// Reconnects now when the client is waiting out a backoff delay (a "retry now"
    /// button); does nothing otherwise.
    #[wasm_bindgen(js_name = reconnectNow)]
    pub fn reconnect_now(&self) {
        if let Some(client) = &*self.shared.client.borrow() {
            client.reconnect_now();
        }
    }

    /// Closes the connection for good.
    pub fn close(&self) -> Promise {
        self.shared.ask(
            |c, reply| c.close(move || reply(Ok(()))),
            |()| JsValue::UNDEFINED,
        )
    }
}

/// The last string turned into a JavaScript string, kept to skip converting it again.
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

/// A joined room.
#[wasm_bindgen(skip_typescript)]
pub struct Room {
    shared: Rc<Shared>,
    name: String,
    members: RefCell<Vec<Member>>,
}

#[wasm_bindgen]
impl Room {
    /// The room's name.
    #[wasm_bindgen(getter)]
    pub fn name(&self) -> String {
        self.name.clone()
    }

    /// The presence snapshot taken when the room was joined.
    #[wasm_bindgen(getter)]
    pub fn members(&self) -> JsValue {
        members(&self.members.borrow())
    }

    /// Publishes `data`; resolves with its sequence number once acknowledged.
    pub fn publish(&self, data: JsValue) -> Promise {
        let raw = match stringify(&data) {
            Ok(raw) => raw,
            Err(e) => return Promise::reject(&e),
        };
        self.shared.ask(
            |c, reply| c.publish(&self.name, raw, reply),
            |seq| JsValue::from(seq as f64),
        )
    }

    /// Sends a request about this room; resolves with the answer.
    pub fn request(&self, data: JsValue) -> Promise {
        let raw = match stringify(&data) {
            Ok(raw) => raw,
            Err(e) => return Promise::reject(&e),
        };
        self.shared.ask(
            |c, reply| c.request(Some(&self.name), raw, reply),
            |answer: Payload| parse(&answer),
        )
    }

    /// Listens to `message`, `presence`, `joined` (after a reconnect, with `recovered`) or
    /// `left`; returns a function that unsubscribes. Events that came before the room's
    /// first listener of their kind (the history replayed on join) are delivered to it
    /// right after `on` returns. Throws a `TandemError` (code `unknown_event`) for any other
    /// name.
    pub fn on(&self, event: String, listener: Function) -> Result<Function, JsValue> {
        let event = known_event(event, ROOM_EVENTS)?;
        Ok(self.shared.add(event, Some(self.name.clone()), listener))
    }

    /// Leaves the room.
    pub fn leave(&self) -> Promise {
        self.shared
            .held
            .borrow_mut()
            .retain(|h| h.room != self.name);
        self.shared.ask(
            |c, reply| c.leave(&self.name, reply),
            |()| JsValue::UNDEFINED,
        )
    }
}

/// The TypeScript face of `Client` and `Room`: generic over the application's message type
/// `M`, so a wrong payload shape fails to type-check. The option and state types it uses
/// are generated from the Rust types by tsify.
#[wasm_bindgen(typescript_custom_section)]
const TS_API: &'static str = r#"
/** Calling it removes the listener. */
export type Unsubscribe = () => void;

/** Options of `Client.connect`: the settings, plus a token callback run before each connection attempt. */
export interface ConnectOptions extends ConnectSettings {
  /** A fresh token; a rejected promise retries with backoff. */
  getToken?: () => Promise<string> | string;
  /**
   * Hears every state change from the first attempt on, before `connect` settles too (as
   * the `state` event does afterwards), so a page can show the retries while the server
   * cannot be reached.
   */
  onState?: (state: State) => void;
}

/** Options of `client.join`. */
export interface JoinOptions<P = unknown> extends JoinSettings {
  /** Presence metadata shown to the room's members. */
  meta?: P;
}

/**
 * Every promise of this package rejects with a `TandemError`: an `Error` with a stable
 * `code`. `on` throws one (code `unknown_event`) for an event name it does not know.
 */
export interface TandemError extends Error {
  readonly name: "TandemError";
  /** Stable and machine-readable: `timeout`, `queue_full`, `not_joined`, `forbidden`, `unauthorized`, `unknown_event`, ... */
  readonly code: string;
  /** The room concerned, for server errors about a room. */
  readonly room?: string;
}

export interface RoomEvents<M, P = unknown> {
  message: MessageEvent<M>;
  presence: PresenceEvent<P>;
  joined: JoinedEvent<P>;
  left: LeftEvent;
}

export interface ClientEvents {
  state: State;
  error: TandemError;
}

/**
 * A connection to a tandem server, typed with the application's message type `M` and its
 * presence metadata type `P`.
 */
export class Client<M = unknown, P = unknown> {
  private constructor();
  /** Connects and resolves once the server has welcomed the client; rejects only if it closes for good first. */
  static connect<M = unknown, P = unknown>(url: string, options?: ConnectOptions): Promise<Client<M, P>>;
  /** The connection state now. */
  readonly state: State;
  /** Listens to `state` or `error`; throws a `TandemError` (code `unknown_event`) for any other name. */
  on<K extends keyof ClientEvents>(event: K, listener: (event: ClientEvents[K]) => void): Unsubscribe;
  join(room: string, options?: JoinOptions<P>): Promise<Room<M, P>>;
  /** Drops the connection as a network failure would: the client reconnects and resumes. */
  dropConnection(): void;
  /** Reconnects now when waiting out a backoff delay (a "retry now" button); otherwise nothing. */
  reconnectNow(): void;
  /** Closes for good: pending operations reject with code `closed`. */
  close(): Promise<void>;
  /** Frees the wasm memory of this handle. */
  free(): void;
}

/** A joined room. */
export class Room<M = unknown, P = unknown> {
  private constructor();
  readonly name: string;
  /** The presence snapshot taken at join. */
  readonly members: Member<P>[];
  /** Resolves with the message's sequence number once the server acknowledged it. */
  publish(data: M): Promise<number>;
  /** Asks the server; resolves with its answer (typed `R` by the caller). */
  request<R = unknown, Q = unknown>(data: Q): Promise<R>;
  /**
   * Listens to the room's events. Events that came before the room's first listener of
   * their kind (the history replayed on join) are delivered to it right after `on` returns.
   * Throws a `TandemError` (code `unknown_event`) for any other name.
   */
  on<K extends keyof RoomEvents<M, P>>(event: K, listener: (event: RoomEvents<M, P>[K]) => void): Unsubscribe;
  leave(): Promise<void>;
  free(): void;
}
"#;
