//! `Core`: the protocol session for the npm package's JavaScript driver (`js/api.js`).
//! Every protocol rule (reconnect, backoff, heartbeat, resume, ordering, the offline
//! queue, acks) is the Rust [`Session`]; the driver in JavaScript only does what a
//! driver does, as `tandem-client`'s native and web drivers do in Rust: it opens, writes
//! and closes the page's `WebSocket`, keeps one timer, feeds the socket's and the
//! window's events in, and hands the session's events to the page.
//!
//! The browser driver and its glue used to be Rust too (`tandem-client`'s `web.rs` with
//! `web-sys`, `gloo` and boxed reply closures): moved to JavaScript, the package lost
//! about 9 KB gzipped of its 76 KB, to meet the 70 KB it must stay within.
//!
//! Calls take the page's clock (`performance.now()`, milliseconds) as `now`. The session
//! answers through [`Core::poll_transmit`] and [`Core::poll_event`], arrays whose first
//! element names the kind, with payloads as JSON text for the page's own `JSON.parse`.

use js_sys::Array;
use tandem_proto::frame::{self, Frame};
use tandem_proto::{
    ClientEvent, ErrorBody, ErrorCode, Id, Instant, Member, OpError, Payload, Session, TokenError,
    Transmit,
};
use wasm_bindgen::prelude::*;

use crate::error::{close_code, js_error};
use crate::types::{ConnectSettings, JoinSettings, State};

/// Whole milliseconds since the page's clock origin.
fn at(now: f64) -> Instant {
    // `performance.now()` is non-negative and far below 2^53.
    #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
    Instant::from_millis(now.max(0.0) as u64)
}

/// A number for JavaScript: ids, seqs and epochs stay below 2^53 (PROTOCOL.md §2).
#[allow(clippy::cast_precision_loss)]
fn num(n: u64) -> JsValue {
    JsValue::from(n as f64)
}

/// A whole number from JavaScript (an id, a seq).
#[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
fn whole(n: f64) -> u64 {
    n as u64
}

fn text(payload: &Payload) -> JsValue {
    payload.get().into()
}

fn or_null(s: Option<String>) -> JsValue {
    s.map_or(JsValue::NULL, JsValue::from)
}

/// `[{ user, meta, info }]` as JSON text.
fn members(list: &[Member]) -> JsValue {
    tandem_proto::encode_members(list).into()
}

/// The stable code and message of an operation's failure.
fn failure(error: &OpError) -> (&'static str, String) {
    let code = match error {
        OpError::QueueFull { .. } => "queue_full",
        OpError::TooLarge { .. } => "too_large",
        OpError::NotJoined { .. } => "not_joined",
        OpError::NotConnected { .. } => "not_connected",
        OpError::RateLimited => "rate_limited",
        OpError::Timeout => "timeout",
        OpError::ConnectionLost => "connection_lost",
        OpError::Closed(reason) => close_code(reason),
        OpError::Server { code, .. } => code.as_str(),
        _ => "payload",
    };
    (code, error.to_string())
}

/// An operation refused at once, as the error `api.js` rejects with.
fn refused(error: &OpError) -> JsValue {
    let (code, message) = failure(error);
    js_error(code, &message)
}

/// A JSON payload from the page's `JSON.stringify`, checked.
fn payload(text: String) -> Result<Payload, JsValue> {
    Payload::from_json(text).map_err(|e| js_error("payload", &e.to_string()))
}

/// An id for JavaScript, or the refusal.
fn id(result: Result<Id, OpError>) -> Result<f64, JsValue> {
    // Ids count up from 1, far below 2^53.
    #[allow(clippy::cast_precision_loss)]
    result.map(|id| id as f64).map_err(|e| refused(&e))
}

/// `{"history":…,"historyMs":…,…}` or `null`: a room's policy as `room.policy`.
fn policy(p: Option<frame::Policy>) -> JsValue {
    let Some(p) = p else {
        return JsValue::NULL;
    };
    let max = p.max_members.map_or("null".to_owned(), |n| n.to_string());
    format!(
        "{{\"history\":{},\"historyMs\":{},\"historyBytes\":{},\"numbered\":{},\"presence\":{},\"maxMembers\":{max}}}",
        p.history, p.history_ms, p.history_bytes, p.numbered, p.presence
    )
    .into()
}

/// The last string turned into a JavaScript string, kept to skip converting it again: a
/// stream of messages in one room, from one sender, crosses those names once.
#[derive(Default)]
struct LastString(Option<(String, JsValue)>);

impl LastString {
    fn get(&mut self, text: String) -> JsValue {
        match &self.0 {
            Some((last, value)) if *last == text => value.clone(),
            _ => {
                let value = JsValue::from(text.as_str());
                self.0 = Some((text, value.clone()));
                value
            }
        }
    }
}

/// One client session, for `api.js`'s driver. Not part of the package's public API.
#[wasm_bindgen(skip_typescript)]
pub struct Core {
    session: Session,
    rooms: LastString,
    senders: LastString,
}

#[wasm_bindgen]
impl Core {
    /// A session with `options` (invalid ones are an `invalid_options` error); `refresh`:
    /// a token is fetched before every attempt; `seed` drives the reconnect jitter.
    #[wasm_bindgen(constructor)]
    pub fn new(options: &JsValue, refresh: bool, seed: f64) -> Result<Core, JsValue> {
        let config = ConnectSettings::from_js(options)?.config(refresh);
        Ok(Core {
            session: Session::new(config, whole(seed)),
            rooms: LastString::default(),
            senders: LastString::default(),
        })
    }

    // --- inputs ----------------------------------------------------------------------

    /// Starts the first connection attempt.
    pub fn connect(&mut self, now: f64) {
        self.session.connect(at(now));
    }

    /// The socket opened with subprotocol `protocol` (empty: none).
    #[wasm_bindgen(js_name = handleOpen)]
    pub fn handle_open(&mut self, now: f64, protocol: &str) {
        let protocol = (!protocol.is_empty()).then_some(protocol);
        self.session.handle_open(at(now), protocol);
    }

    /// A text frame arrived.
    #[wasm_bindgen(js_name = handleMessage)]
    pub fn handle_message(&mut self, now: f64, text: &str) {
        self.session.handle_message(at(now), text.as_bytes());
    }

    /// The socket closed (`code` from its close frame; `None` when it failed or dropped).
    #[wasm_bindgen(js_name = handleClosed)]
    pub fn handle_closed(&mut self, now: f64, code: Option<u16>, reason: &str) {
        self.session.handle_closed(at(now), code, reason);
    }

    /// The timer fired.
    #[wasm_bindgen(js_name = handleTimeout)]
    pub fn handle_timeout(&mut self, now: f64) {
        self.session.handle_timeout(at(now));
    }

    /// The answer to a token request: the token (`ok`), or why there is none
    /// (`unauthorized`: stop; otherwise retry with backoff). For the server's `refresh`
    /// of an open session, the token is sent to it, or the failure is an `error` item.
    #[wasm_bindgen(js_name = handleToken)]
    pub fn handle_token(&mut self, now: f64, ok: bool, value: String, unauthorized: bool) {
        let token = match (ok, unauthorized) {
            (true, _) => Ok(value),
            (false, true) => Err(TokenError::Unauthorized(value)),
            (false, false) => Err(TokenError::Unavailable(value)),
        };
        self.session.handle_token(at(now), token);
    }

    /// The browser went offline (`false`) or online (`true`).
    #[wasm_bindgen(js_name = handleNetwork)]
    pub fn handle_network(&mut self, now: f64, online: bool) {
        self.session.handle_network(at(now), online);
    }

    /// The page became visible (`true`) or hidden.
    #[wasm_bindgen(js_name = handleVisibility)]
    pub fn handle_visibility(&mut self, now: f64, visible: bool) {
        self.session.handle_visibility(at(now), visible);
    }

    // --- operations: each gives its id, or throws the refusal -----------------------

    /// Joins `room` with `meta` (JSON text), replaying the `history` the join `settings`
    /// ask for, or resuming from `since` (`[epoch, seq]`).
    pub fn join(
        &mut self,
        now: f64,
        room: &str,
        meta: Option<String>,
        settings: &JsValue,
        since: Option<Box<[f64]>>,
    ) -> Result<f64, JsValue> {
        let history = JoinSettings::from_js(settings)?.history.unwrap_or(0);
        let meta = meta.map(payload).transpose()?;
        let since = match since.as_deref() {
            Some([epoch, seq]) => Some((whole(*epoch), whole(*seq))),
            _ => None,
        };
        id(self.session.join_since(at(now), room, meta, history, since))
    }

    /// Leaves `room`.
    pub fn leave(&mut self, now: f64, room: &str) -> Result<f64, JsValue> {
        id(self.session.leave(at(now), room))
    }

    /// Publishes `data` (JSON text) in `room`.
    pub fn publish(&mut self, now: f64, room: &str, data: String) -> Result<f64, JsValue> {
        let data = payload(data)?;
        id(self.session.publish(at(now), room, data))
    }

    /// Sends `data` (JSON text) as an ephemeral message.
    pub fn broadcast(
        &mut self,
        now: f64,
        room: &str,
        data: String,
        ack: bool,
    ) -> Result<f64, JsValue> {
        let data = payload(data)?;
        id(self.session.publish_ephemeral(at(now), room, data, ack))
    }

    /// Replaces this user's presence metadata in `room` with `meta` (JSON text).
    #[wasm_bindgen(js_name = setPresence)]
    pub fn set_presence(&mut self, now: f64, room: &str, meta: String) -> Result<f64, JsValue> {
        let meta = payload(meta)?;
        id(self.session.update(at(now), room, meta))
    }

    /// Asks for a page of `room`'s history.
    pub fn history(
        &mut self,
        now: f64,
        room: &str,
        before: Option<f64>,
        limit: Option<u32>,
    ) -> Result<f64, JsValue> {
        id(self
            .session
            .history(at(now), room, before.map(whole), limit))
    }

    /// Asks the server (about `room`, if given) with `data` (JSON text).
    pub fn request(
        &mut self,
        now: f64,
        room: Option<String>,
        data: String,
    ) -> Result<f64, JsValue> {
        let data = payload(data)?;
        id(self.session.request(at(now), room.as_deref(), data))
    }

    /// Answers the server's request `id`: with `data` (JSON text), or with the error
    /// `code` and `message` when `data` is absent.
    pub fn respond(
        &mut self,
        now: f64,
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
        self.session.respond(at(now), whole(id), result);
    }

    /// Skips the rest of a backoff wait.
    #[wasm_bindgen(js_name = reconnectNow)]
    pub fn reconnect_now(&mut self, now: f64) {
        self.session.reconnect_now(at(now));
    }

    /// Closes for good.
    pub fn close(&mut self, now: f64) {
        self.session.close(at(now));
    }

    // --- getters ---------------------------------------------------------------------

    /// The connection state now.
    pub fn state(&self) -> JsValue {
        State::from(self.session.state()).to_js()
    }

    /// Whether a socket is open or opening (what a simulated network loss drops).
    #[wasm_bindgen(js_name = hasConnection)]
    pub fn has_connection(&self) -> bool {
        use tandem_proto::ConnectionState as S;
        matches!(self.session.state(), S::Open | S::Connecting { .. })
    }

    /// The members of `room` now, as JSON text, if joined.
    pub fn members(&self, room: &str) -> Option<String> {
        self.session.members(room).map(tandem_proto::encode_members)
    }

    /// `[epoch, seq]` of the last message of `room` this client has, if joined once.
    pub fn position(&self, room: &str) -> Option<Box<[f64]>> {
        // Epochs and seqs stay below 2^53.
        #[allow(clippy::cast_precision_loss)]
        self.session
            .position(room)
            .map(|(e, s)| vec![e as f64, s as f64].into_boxed_slice())
    }

    // --- outputs ---------------------------------------------------------------------

    /// Hands out everything the session has for the driver, in order, one call of
    /// `sink(kind, a, b, c, d, e, f, g)` each (numbered kinds, see `api.js`): first what
    /// to do with the socket, then the events; returns when the timer is next due. One
    /// crossing per item, no array built in the module: a `message` per call costs the
    /// browser figure less than a call per field (0.67x plain JS with arrays and a call
    /// per output).
    pub fn drain(&mut self, sink: &js_sys::Function) -> Option<f64> {
        let sink: &Sink = sink.unchecked_ref();
        while let Some(t) = self.session.poll_transmit() {
            match t {
                Transmit::Connect { protocols } => {
                    let offer: Array = protocols
                        .iter()
                        .map(|p| JsValue::from(p.as_str()))
                        .collect();
                    sink.item(out::CONNECT, &[offer.into()]);
                }
                Transmit::Send(text) => sink.item(out::SEND, &[text.into()]),
                Transmit::Close { code, reason } => {
                    sink.item(out::CLOSE, &[code.into(), reason.into()]);
                }
            }
        }
        while let Some(event) = self.session.poll_event() {
            self.event(sink, event);
        }
        // Milliseconds far below 2^53.
        #[allow(clippy::cast_precision_loss)]
        self.session.poll_timeout().map(|t| t.as_millis() as f64)
    }

    fn event(&mut self, sink: &Sink, event: ClientEvent) {
        let nothing = JsValue::NULL;
        let opt_id = |id: Option<Id>| id.map_or(JsValue::NULL, num);
        match event {
            ClientEvent::StateChanged(s) => sink.item(out::STATE, &[State::from(&s).to_js()]),
            ClientEvent::Welcomed { user, session } => {
                sink.item(out::WELCOMED, &[user.into(), session.into()]);
            }
            ClientEvent::TokenRequired => sink.item(out::TOKEN, &[]),
            ClientEvent::Joined {
                id,
                room,
                recovered,
                epoch,
                seq,
                members: list,
                policy: p,
            } => {
                let recovered = recovered.map_or(JsValue::NULL, JsValue::from_bool);
                let values = [
                    opt_id(id),
                    room.into(),
                    recovered,
                    num(epoch),
                    num(seq),
                    members(&list),
                    policy(p),
                ];
                sink.item(out::JOINED, &values);
            }
            ClientEvent::Message {
                room,
                seq,
                from,
                data,
            } => {
                let from = from.map_or(JsValue::NULL, |f| self.senders.get(f));
                sink.item(
                    out::MESSAGE,
                    &[self.rooms.get(room), num(seq), from, text(&data)],
                );
            }
            ClientEvent::Ephemeral { room, from, data } => {
                let from = from.map_or(JsValue::NULL, |f| self.senders.get(f));
                sink.item(out::EPHEMERAL, &[self.rooms.get(room), from, text(&data)]);
            }
            ClientEvent::Presence {
                room,
                joined,
                left,
                updated,
            } => sink.item(
                out::PRESENCE,
                &[
                    room.into(),
                    members(&joined),
                    members(&left),
                    members(&updated),
                ],
            ),
            ClientEvent::Left { id, room, reason } => {
                let (code, message) = match reason {
                    Some(e) => (JsValue::from(e.code.as_str()), JsValue::from(e.message)),
                    None => (nothing.clone(), nothing),
                };
                sink.item(out::LEFT, &[opt_id(id), room.into(), code, message]);
            }
            ClientEvent::Published { id, seq, .. } => {
                sink.item(out::PUBLISHED, &[num(id), num(seq)])
            }
            ClientEvent::Done { id } => sink.item(out::DONE, &[num(id)]),
            ClientEvent::Page {
                id,
                epoch,
                messages,
                more,
                ..
            } => {
                let mut list = String::from("[");
                for (i, e) in messages.into_iter().enumerate() {
                    if i > 0 {
                        list.push(',');
                    }
                    list.push_str(&tandem_proto::encode(&Frame::Event(e)));
                }
                list.push(']');
                sink.item(out::PAGE, &[num(id), num(epoch), list.into(), more.into()]);
            }
            ClientEvent::Response { id, data } => sink.item(out::RESPONSE, &[num(id), text(&data)]),
            ClientEvent::Failed { id, error } => {
                let (code, message) = failure(&error);
                sink.item(out::FAILED, &[num(id), code.into(), message.into()]);
            }
            ClientEvent::Request { id, room, data } => {
                sink.item(out::REQUEST, &[num(id), or_null(room), text(&data)]);
            }
            ClientEvent::Error {
                room,
                code,
                message,
            } => {
                sink.item(
                    out::ERROR,
                    &[or_null(room), code.as_str().into(), message.into()],
                );
            }
            ClientEvent::Unsubscribed { room, message } => {
                sink.item(out::UNSUBSCRIBED, &[room.into(), message.into()]);
            }
            ClientEvent::ServerMessage { data } => sink.item(out::SERVER_MESSAGE, &[text(&data)]),
            // A kind this driver does not know yet: nothing to hand out.
            _ => {}
        }
    }
}

/// The kinds `Core::drain` hands out, as `api.js` numbers them.
mod out {
    pub const CONNECT: u8 = 0;
    pub const SEND: u8 = 1;
    pub const CLOSE: u8 = 2;
    pub const STATE: u8 = 3;
    pub const WELCOMED: u8 = 4;
    pub const TOKEN: u8 = 5;
    pub const JOINED: u8 = 6;
    pub const MESSAGE: u8 = 7;
    pub const EPHEMERAL: u8 = 8;
    pub const PRESENCE: u8 = 9;
    pub const LEFT: u8 = 10;
    pub const PUBLISHED: u8 = 11;
    pub const DONE: u8 = 12;
    pub const PAGE: u8 = 13;
    pub const RESPONSE: u8 = 14;
    pub const FAILED: u8 = 15;
    pub const REQUEST: u8 = 16;
    pub const ERROR: u8 = 17;
    pub const UNSUBSCRIBED: u8 = 18;
    pub const SERVER_MESSAGE: u8 = 19;
}

#[wasm_bindgen]
extern "C" {
    /// The driver's sink: `sink(kind, a, b, c, d, e, f, g)`.
    #[wasm_bindgen(js_name = Function)]
    type Sink;

    #[wasm_bindgen(method, js_name = call)]
    #[allow(clippy::too_many_arguments)]
    fn emit(
        this: &Sink,
        this_arg: &JsValue,
        kind: u8,
        a: &JsValue,
        b: &JsValue,
        c: &JsValue,
        d: &JsValue,
        e: &JsValue,
        f: &JsValue,
        g: &JsValue,
    );
}

impl Sink {
    /// One item: `kind` and up to seven values (the rest `undefined`).
    fn item(&self, kind: u8, values: &[JsValue]) {
        let none = JsValue::UNDEFINED;
        let v = |i: usize| values.get(i).unwrap_or(&none);
        self.emit(&none, kind, v(0), v(1), v(2), v(3), v(4), v(5), v(6));
    }
}
