//! The browser transport: the page's `WebSocket`, gloo timers, and the window's `online`,
//! `offline` and `visibilitychange` events drive the session. Everything is event-driven:
//! each callback feeds the session and then [`pump`]s its outputs. The transport owns every
//! `Closure`, timer and listener, and removes them all when the client is closed or
//! dropped: no leak, no reconnect after close.

use std::cell::RefCell;
use std::rc::{Rc, Weak};

use gloo_timers::callback::Timeout;
use tandem_proto::{Instant, Transmit, close};
use tokio::sync::mpsc;
use wasm_bindgen::JsCast;
use wasm_bindgen::closure::Closure;
use web_sys::{BinaryType, CloseEvent, Event, EventTarget, MessageEvent, WebSocket};

use crate::client::{Command, Outputs};
use crate::config::Config;
use crate::driver::Driver;
use crate::endpoints::Endpoints;
use crate::error::Error;

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

/// One open (or opening) WebSocket and the four handlers it owns.
struct Socket {
    ws: WebSocket,
    _on_open: Closure<dyn FnMut(Event)>,
    _on_message: Closure<dyn FnMut(MessageEvent)>,
    _on_close: Closure<dyn FnMut(CloseEvent)>,
    _on_error: Closure<dyn FnMut(Event)>,
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
        self.ws.set_onerror(None);
    }
}

/// A window listener, removed on drop.
struct Listener {
    target: EventTarget,
    kind: &'static str,
    callback: Closure<dyn FnMut(Event)>,
}

impl Drop for Listener {
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
    listeners: Vec<Listener>,
}

type Shared = Rc<RefCell<Web>>;

/// Starts the client: listeners now, then a local task feeding it the handle's commands.
pub(crate) fn spawn(
    endpoints: Endpoints,
    config: Config,
    mut commands: mpsc::UnboundedReceiver<Command>,
    outputs: Outputs,
) {
    // A seed from the page's random source: 53 random bits.
    #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
    let fresh_seed = || (js_sys::Math::random() * 9_007_199_254_740_992.0) as u64;
    let endpoints = endpoints.map(|url| resolve(&url).unwrap_or(url));
    let web: Shared = Rc::new(RefCell::new(Web {
        driver: Driver::new(config, outputs, fresh_seed),
        endpoints,
        clock: Clock::new(),
        socket: None,
        generation: 0,
        timer: None,
        listeners: Vec::new(),
    }));
    listen(&web);
    {
        let mut w = web.borrow_mut();
        let now = w.clock.now();
        w.driver.session.connect(now);
    }
    pump(&web);
    wasm_bindgen_futures::spawn_local(async move {
        while let Some(command) = commands.recv().await {
            {
                let mut w = web.borrow_mut();
                let now = w.clock.now();
                if w.driver.drops_socket(&command) {
                    // The socket's handlers go with it; the server sees a closed socket.
                    w.generation += 1;
                    if let Some(socket) = w.socket.take() {
                        socket.shut(close::NORMAL, "connection dropped by the application");
                    }
                }
                w.driver.command(now, command);
            }
            pump(&web);
        }
        // Every handle is gone: close for good and let go of everything.
        {
            let mut w = web.borrow_mut();
            let now = w.clock.now();
            w.driver.session.close(now);
        }
        pump(&web);
        teardown(&web);
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
            listeners.push(Listener {
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
    web.borrow_mut().listeners = listeners;
}

/// Runs `f` on the client if it still exists, then pumps.
fn with(weak: &Weak<RefCell<Web>>, f: impl FnOnce(&mut Web, Instant)) {
    let Some(web) = weak.upgrade() else { return };
    {
        let mut w = web.borrow_mut();
        let now = w.clock.now();
        f(&mut w, now);
    }
    pump(&web);
}

/// Writes out what the session wants, routes its events, fetches a token if asked, and
/// arms the timer for its next deadline.
fn pump(web: &Shared) {
    let fetch;
    {
        let mut w = web.borrow_mut();
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
        wasm_bindgen_futures::spawn_local(async move {
            let token = fetch.await;
            with(&weak, |w, now| w.driver.session.handle_token(now, token));
        });
    }
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
            let why = e.as_string().unwrap_or_else(|| format!("{e:?}"));
            w.driver.session.handle_closed(now, None, &why);
            return;
        }
    };
    ws.set_binary_type(BinaryType::Arraybuffer);
    // Each handler acts only while its socket is the current one.
    let current = move |weak: &Weak<RefCell<Web>>, f: &mut dyn FnMut(&mut Web, Instant)| {
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
    let on_message = Closure::<dyn FnMut(MessageEvent)>::new({
        let weak = weak.clone();
        move |e: MessageEvent| {
            let data = e.data();
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
    let on_close = Closure::<dyn FnMut(CloseEvent)>::new({
        let weak = weak.clone();
        move |e: CloseEvent| {
            current(&weak, &mut |w, now| {
                w.socket = None;
                // The browser reports a drop as 1006, which the session treats as one.
                w.driver
                    .session
                    .handle_closed(now, Some(e.code()), &e.reason());
            });
        }
    });
    // An error is always followed by a close event, which does the work.
    let on_error = Closure::<dyn FnMut(Event)>::new(|_: Event| {});
    ws.set_onopen(Some(on_open.as_ref().unchecked_ref()));
    ws.set_onmessage(Some(on_message.as_ref().unchecked_ref()));
    ws.set_onclose(Some(on_close.as_ref().unchecked_ref()));
    ws.set_onerror(Some(on_error.as_ref().unchecked_ref()));
    w.socket = Some(Socket {
        ws,
        _on_open: on_open,
        _on_message: on_message,
        _on_close: on_close,
        _on_error: on_error,
    });
}

/// Drops the socket, the timer and the listeners.
fn teardown(web: &Shared) {
    let mut w = web.borrow_mut();
    w.generation += 1;
    if let Some(socket) = w.socket.take() {
        socket.shut(close::NORMAL, "client closed");
    }
    w.timer = None;
    w.listeners.clear();
}
