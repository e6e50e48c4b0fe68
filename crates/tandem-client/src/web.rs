//! The browser transport: the page's `WebSocket`, gloo timers, and the window's `online`,
//! `offline` and `visibilitychange` events drive the session. Everything is event-driven:
//! each callback feeds the session and then [`pump`]s its outputs. The transport owns every
//! `Closure`, timer and listener, and removes them all when the client is closed or
//! dropped: no leak, no reconnect after close.

use std::cell::RefCell;
use std::rc::{Rc, Weak};

use gloo_timers::callback::Timeout;
use tandem_proto::{
    ClientEvent, ConnectionState, ErrorBody, Id, Instant, Payload, Transmit, close,
};
use tokio::sync::mpsc;
use wasm_bindgen::JsCast;
use wasm_bindgen::closure::Closure;
use web_sys::{BinaryType, CloseEvent, Event, EventTarget, MessageEvent, WebSocket};

use crate::client::{Command, JoinOptions};
use crate::config::Config;
use crate::driver::{Driver, Reply, Sink};
use crate::endpoints::Endpoints;
use crate::error::Error;
use crate::event::Joined;

/// Resolves `url` for the page: `ws://` and `wss://` as they are; a path (`/ws`) against
/// the page's own host, with `wss://` on https pages.
fn resolve(url: &str) -> Result<String, String> {
    if url.starts_with("ws://") || url.starts_with("wss://") {
        return Ok(url.to_owned());
    }
    if url.starts_with('/') {
        let location = web_sys::window()
            .ok_or("no window to resolve a relative URL against")?
            .location();
        let scheme = match location.protocol().as_deref() {
            Ok("https:") => "wss",
            _ => "ws",
        };
        let host = location.host().map_err(|_| "the page has no host")?;
        return Ok(format!("{scheme}://{host}{url}"));
    }
    Err("the URL must start with ws://, wss:// or / (a path on this page's host)".to_owned())
}

/// Checks that `url` is one the transport can open.
pub(crate) fn check_url(url: &str) -> Result<(), Error> {
    resolve(url).map(|_| ()).map_err(|reason| Error::Url {
        url: url.to_owned(),
        reason,
    })
}

/// Milliseconds since the transport started, from `performance.now()` (`Date.now()`
/// where the page has no `performance`). The `Performance` object is looked up once: the
/// clock is read on every message.
struct Clock {
    performance: Option<web_sys::Performance>,
    origin: f64,
}

impl Clock {
    fn new() -> Self {
        let performance = web_sys::window().and_then(|w| w.performance());
        let mut clock = Clock {
            performance,
            origin: 0.0,
        };
        clock.origin = clock.millis();
        clock
    }
    fn millis(&self) -> f64 {
        self.performance
            .as_ref()
            .map_or_else(js_sys::Date::now, web_sys::Performance::now)
    }
    fn now(&self) -> Instant {
        let ms = (self.millis() - self.origin).max(0.0);
        // Whole milliseconds since start; far below 2^53.
        #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
        Instant::from_millis(ms as u64)
    }
}

/// One open (or opening) WebSocket and the three handlers it owns. (An `error` event is
/// always followed by a `close` event, which does the work, so it has no handler.) The
/// handlers share one type, taking the base `Event`: each closure type costs the package
/// its own glue.
struct Socket {
    ws: WebSocket,
    _on_open: Closure<dyn FnMut(Event)>,
    _on_message: Closure<dyn FnMut(Event)>,
    _on_close: Closure<dyn FnMut(Event)>,
}

impl Socket {
    /// Closes the socket (if still open) with `code`; dropping `self` detaches the
    /// handlers, so none of its later events arrive.
    fn shut(self, code: u16, reason: &str) {
        // Browsers only let pages send 1000 and 3000-4999; other codes travel in the reason.
        let (code, reason) = if code == close::NORMAL || (3000..=4999).contains(&code) {
            (code, reason.to_owned())
        } else {
            (close::NORMAL, format!("{code} {reason}"))
        };
        let reason = close::truncate_reason(&reason, close::MAX_REASON_BYTES);
        let _ = self.ws.close_with_code_and_reason(code, reason);
    }
}

impl Drop for Socket {
    fn drop(&mut self) {
        self.ws.set_onopen(None);
        self.ws.set_onmessage(None);
        self.ws.set_onclose(None);
    }
}

/// A window listener, removed on drop.
struct WindowListener {
    target: EventTarget,
    kind: &'static str,
    callback: Closure<dyn FnMut(Event)>,
}

impl Drop for WindowListener {
    fn drop(&mut self) {
        let _ = self
            .target
            .remove_event_listener_with_callback(self.kind, self.callback.as_ref().unchecked_ref());
    }
}

/// Everything one browser client owns.
struct Web {
    driver: Driver,
    endpoints: Endpoints,
    clock: Clock,
    socket: Option<Socket>,
    /// Sockets whose open or close is still in flight count as this generation.
    generation: u64,
    timer: Option<(Instant, Timeout)>,
    listeners: Vec<WindowListener>,
}

/// What waits to reach the application. It is handed over only once the client is no
/// longer borrowed, so an event listener or an answer may call the client again.
enum Out {
    Event(ClientEvent),
    Answer(Box<dyn FnOnce()>),
}

/// The client, and what it hands to the application.
struct Host {
    web: RefCell<Web>,
    /// What waits to be handed to the application, oldest first.
    out: Rc<RefCell<Vec<Out>>>,
    /// The application's event callback; let go once the client is closed for good.
    on_event: RefCell<Option<Sink>>,
}

type Shared = Rc<Host>;

/// The browser client driven by callbacks rather than futures: every call returns at
/// once, and answers and events arrive through the callbacks given, on the page's event
/// loop. This is what the npm package's bindings use (they answer with promises of their
/// own); [`Client`](crate::Client) in the browser is built on it.
///
/// Callbacks never run inside another call on the client, so a callback may call the
/// client again. Dropping the client closes it for good and removes its socket, timer and
/// window listeners.
pub struct CallbackClient {
    host: Shared,
}

impl std::fmt::Debug for CallbackClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CallbackClient").finish_non_exhaustive()
    }
}

impl CallbackClient {
    /// Starts connecting to `url` (`ws://`, `wss://`, or a path on this page's host) and
    /// its fallbacks; `on_event` gets every event of the session, in order.
    pub fn start(
        url: &str,
        config: Config,
        on_event: impl FnMut(ClientEvent) + 'static,
    ) -> Result<Self, Error> {
        let endpoints = crate::client::endpoints(url, &config)?;
        Ok(Self::launch(endpoints, config, Box::new(on_event)))
    }

    fn launch(endpoints: Endpoints, config: Config, on_event: Sink) -> Self {
        // A seed from the page's random source: 53 random bits.
        #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
        let fresh_seed = || (js_sys::Math::random() * 9_007_199_254_740_992.0) as u64;
        let endpoints = endpoints.map(|url| resolve(&url).unwrap_or(url));
        let out: Rc<RefCell<Vec<Out>>> = Rc::default();
        let sink = {
            let out = out.clone();
            Box::new(move |event| out.borrow_mut().push(Out::Event(event)))
        };
        let host: Shared = Rc::new(Host {
            web: RefCell::new(Web {
                driver: Driver::new(config, sink, fresh_seed),
                endpoints,
                clock: Clock::new(),
                socket: None,
                generation: 0,
                timer: None,
                listeners: Vec::new(),
            }),
            out,
            on_event: RefCell::new(Some(on_event)),
        });
        listen(&host);
        run(&host, |w, now| w.driver.session.connect(now));
        CallbackClient { host }
    }

    /// The connection state now.
    pub fn state(&self) -> ConnectionState {
        self.host.web.borrow().driver.session.state().clone()
    }

    /// Joins `room`; `reply` gets the presence snapshot, or why not.
    pub fn join(
        &self,
        room: &str,
        options: JoinOptions,
        reply: impl FnOnce(Result<Joined, Error>) + 'static,
    ) {
        let (meta, history) = options.into_parts();
        self.command(Command::Join {
            room: room.to_owned(),
            meta,
            history,
            reply: self.later(reply),
        });
    }

    /// Leaves `room`; `reply` gets the server's answer.
    pub fn leave(&self, room: &str, reply: impl FnOnce(Result<(), Error>) + 'static) {
        self.command(Command::Leave {
            room: room.to_owned(),
            reply: self.later(reply),
        });
    }

    /// Publishes raw JSON `data` in `room`; `reply` gets its sequence number once the
    /// server acknowledged it.
    pub fn publish(
        &self,
        room: &str,
        data: Payload,
        reply: impl FnOnce(Result<u64, Error>) + 'static,
    ) {
        self.command(Command::Publish {
            room: room.to_owned(),
            data,
            reply: self.later(reply),
        });
    }

    /// Asks the server, about `room` if given; `reply` gets the raw JSON answer.
    pub fn request(
        &self,
        room: Option<&str>,
        data: Payload,
        reply: impl FnOnce(Result<Payload, Error>) + 'static,
    ) {
        self.command(Command::Request {
            room: room.map(str::to_owned),
            data,
            reply: self.later(reply),
        });
    }

    /// Answers the server's request `id` (from [`ClientEvent::Request`]).
    pub fn respond(&self, id: Id, result: Result<Payload, ErrorBody>) {
        self.command(Command::Respond { id, result });
    }

    /// Drops the connection as a network failure would; the client reconnects and resumes.
    pub fn drop_connection(&self) {
        self.command(Command::DropConnection);
    }

    /// Reconnects now when waiting out a backoff delay; does nothing otherwise.
    pub fn reconnect_now(&self) {
        self.command(Command::ReconnectNow);
    }

    /// Closes for good; `done` runs once closed. Pending operations fail with `closed`.
    pub fn close(&self, done: impl FnOnce() + 'static) {
        let reply = self.later(move |_: Result<(), Error>| done());
        self.command(Command::Close { reply });
    }

    /// `reply`, called once the client is no longer borrowed.
    fn later<T: 'static>(&self, reply: impl FnOnce(Result<T, Error>) + 'static) -> Reply<T> {
        let out = self.host.out.clone();
        Box::new(move |result| {
            out.borrow_mut()
                .push(Out::Answer(Box::new(move || reply(result))));
        })
    }

    /// Applies one command, then pumps.
    pub(crate) fn command(&self, command: Command) {
        run(&self.host, |w, now| {
            if w.driver.drops_socket(&command) {
                // The socket's handlers go with it; the server sees a closed socket.
                w.generation += 1;
                if let Some(socket) = w.socket.take() {
                    socket.shut(close::NORMAL, "connection dropped by the application");
                }
            }
            w.driver.command(now, command);
        });
    }
}

impl Drop for CallbackClient {
    /// Closes for good and lets go of the socket, the timer and the listeners.
    fn drop(&mut self) {
        run(&self.host, |w, now| w.driver.session.close(now));
        let mut w = self.host.web.borrow_mut();
        w.generation += 1;
        if let Some(socket) = w.socket.take() {
            socket.shut(close::NORMAL, "client closed");
        }
        w.timer = None;
        w.listeners.clear();
    }
}

/// Starts the client behind a [`Client`](crate::Client): a local task feeds it the
/// handle's commands until every handle is gone, then drops it (closing it for good).
pub(crate) fn spawn(
    endpoints: Endpoints,
    config: Config,
    mut commands: mpsc::UnboundedReceiver<Command>,
    sink: Sink,
) {
    let client = CallbackClient::launch(endpoints, config, sink);
    wasm_bindgen_futures::spawn_local(async move {
        while let Some(command) = commands.recv().await {
            client.command(command);
        }
    });
}

/// Registers the window's network and visibility listeners.
fn listen(web: &Shared) {
    let Some(window) = web_sys::window() else {
        return;
    };
    let mut listeners = Vec::new();
    let mut add = |target: EventTarget, kind: &'static str, f: Box<dyn FnMut(Event)>| {
        let callback = Closure::<dyn FnMut(Event)>::wrap(f);
        if target
            .add_event_listener_with_callback(kind, callback.as_ref().unchecked_ref())
            .is_ok()
        {
            listeners.push(WindowListener {
                target,
                kind,
                callback,
            });
        }
    };
    for (kind, online) in [("online", true), ("offline", false)] {
        let weak = Rc::downgrade(web);
        add(
            window.clone().into(),
            kind,
            Box::new(move |_| {
                with(&weak, |w, now| w.driver.session.handle_network(now, online));
            }),
        );
    }
    if let Some(document) = window.document() {
        let weak = Rc::downgrade(web);
        let doc = document.clone();
        add(
            document.into(),
            "visibilitychange",
            Box::new(move |_| {
                let visible = doc.visibility_state() == web_sys::VisibilityState::Visible;
                with(&weak, |w, now| {
                    w.driver.session.handle_visibility(now, visible)
                });
            }),
        );
    }
    web.web.borrow_mut().listeners = listeners;
}

/// Runs `f` on the client if it still exists, then pumps.
fn with(weak: &Weak<Host>, f: impl FnOnce(&mut Web, Instant)) {
    if let Some(host) = weak.upgrade() {
        run(&host, f);
    }
}

/// Runs `f` on the client, then pumps.
fn run(host: &Shared, f: impl FnOnce(&mut Web, Instant)) {
    {
        let mut w = host.web.borrow_mut();
        let now = w.clock.now();
        f(&mut w, now);
    }
    pump(host);
}

/// Hands what waits to the application. A callback that calls the client again lands
/// here while an outer call is handing over; that outer loop hands over what it adds.
fn deliver(host: &Host) {
    let Ok(mut on_event) = host.on_event.try_borrow_mut() else {
        return;
    };
    loop {
        // Taken a batch at a time: what the callbacks add comes after the whole batch, so
        // the order holds, and a `Vec` is the least code in the wasm.
        let batch = std::mem::take(&mut *host.out.borrow_mut());
        if batch.is_empty() {
            break;
        }
        for next in batch {
            match next {
                Out::Event(event) => {
                    if let Some(f) = on_event.as_mut() {
                        f(event);
                    }
                }
                Out::Answer(answer) => answer(),
            }
        }
    }
    if host.web.try_borrow().is_ok_and(|w| w.driver.is_closed()) {
        *on_event = None;
    }
}

/// Writes out what the session wants, routes its events, fetches a token if asked, and
/// arms the timer for its next deadline.
fn pump(web: &Shared) {
    let fetch;
    {
        let mut w = web.web.borrow_mut();
        while let Some(t) = w.driver.session.poll_transmit() {
            match t {
                Transmit::Connect { protocols } => open(web, &mut w, &protocols),
                Transmit::Send(text) => {
                    let sent = w.socket.as_ref().map(|s| s.ws.send_with_str(&text));
                    if !matches!(sent, Some(Ok(()))) {
                        w.socket = None;
                        let now = w.clock.now();
                        w.driver.session.handle_closed(now, None, "send failed");
                    }
                }
                Transmit::Close { code, reason } => {
                    w.generation += 1;
                    if let Some(socket) = w.socket.take() {
                        socket.shut(code, &reason);
                    }
                }
            }
        }
        w.driver.route_events();
        fetch = w.driver.token_fetch();
        arm(web, &mut w);
    }
    if let Some(fetch) = fetch {
        let weak = Rc::downgrade(web);
        fetch(Box::new(move |token| {
            with(&weak, |w, now| w.driver.session.handle_token(now, token));
        }));
    }
    deliver(web);
}

/// Arms (or re-arms) the one timer at the session's next deadline. A timer armed for an
/// earlier moment is kept: firing early is harmless (`handle_timeout` acts only on what is
/// due, then this re-arms), and a heartbeat deadline that moves with every message would
/// otherwise cost a `clearTimeout` and a `setTimeout` per message.
fn arm(web: &Shared, w: &mut Web) {
    let deadline = w.driver.session.poll_timeout();
    let armed = w.timer.as_ref().map(|(at, _)| *at);
    if let (Some(armed), Some(deadline)) = (armed, deadline)
        && armed <= deadline
    {
        return;
    }
    if deadline.is_none() && armed.is_none() {
        return;
    }
    w.timer = deadline.map(|at| {
        let delay = at.saturating_since(w.clock.now());
        let ms = u32::try_from(delay.as_millis()).unwrap_or(u32::MAX);
        let weak = Rc::downgrade(web);
        let timeout = Timeout::new(ms, move || {
            with(&weak, |w, now| {
                w.timer = None;
                w.driver.session.handle_timeout(now);
            });
        });
        (at, timeout)
    });
}

/// Opens a WebSocket offering `protocols`; its events feed the session while it is current.
fn open(web: &Shared, w: &mut Web, protocols: &[String]) {
    w.generation += 1;
    let generation = w.generation;
    w.socket = None;
    let offer = js_sys::Array::new();
    for p in protocols {
        offer.push(&p.into());
    }
    let url = w.endpoints.next().to_owned();
    let ws = match WebSocket::new_with_str_sequence(&url, &offer) {
        Ok(ws) => ws,
        Err(e) => {
            let now = w.clock.now();
            let why = match e.dyn_ref::<js_sys::Error>() {
                Some(error) => String::from(error.message()),
                None => e
                    .as_string()
                    .unwrap_or_else(|| "the WebSocket could not be created".into()),
            };
            w.driver.session.handle_closed(now, None, &why);
            return;
        }
    };
    ws.set_binary_type(BinaryType::Arraybuffer);
    // Each handler acts only while its socket is the current one.
    let current = move |weak: &Weak<Host>, f: &mut dyn FnMut(&mut Web, Instant)| {
        with(weak, |w, now| {
            if w.generation == generation {
                f(w, now);
            }
        });
    };
    let weak = Rc::downgrade(web);
    let on_open = Closure::<dyn FnMut(Event)>::new({
        let weak = weak.clone();
        move |_: Event| {
            current(&weak, &mut |w, now| {
                let protocol = w.socket.as_ref().map(|s| s.ws.protocol());
                let protocol = protocol.filter(|p| !p.is_empty());
                w.driver.session.handle_open(now, protocol.as_deref());
            });
        }
    });
    let on_message = Closure::<dyn FnMut(Event)>::new({
        let weak = weak.clone();
        move |e: Event| {
            let data = e.unchecked_into::<MessageEvent>().data();
            current(&weak, &mut |w, now| {
                if let Some(text) = data.as_string() {
                    w.driver.session.handle_message(now, text.as_bytes());
                } else if let Some(buf) = data.dyn_ref::<js_sys::ArrayBuffer>() {
                    let bytes = js_sys::Uint8Array::new(buf).to_vec();
                    w.driver.session.handle_message(now, &bytes);
                }
            });
        }
    });
    let on_close = Closure::<dyn FnMut(Event)>::new({
        let weak = weak.clone();
        move |e: Event| {
            let e = e.unchecked_into::<CloseEvent>();
            current(&weak, &mut |w, now| {
                w.socket = None;
                // The browser reports a drop as 1006, which the session treats as one.
                w.driver
                    .session
                    .handle_closed(now, Some(e.code()), &e.reason());
            });
        }
    });
    ws.set_onopen(Some(on_open.as_ref().unchecked_ref()));
    ws.set_onmessage(Some(on_message.as_ref().unchecked_ref()));
    ws.set_onclose(Some(on_close.as_ref().unchecked_ref()));
    w.socket = Some(Socket {
        ws,
        _on_open: on_open,
        _on_message: on_message,
        _on_close: on_close,
    });
}
