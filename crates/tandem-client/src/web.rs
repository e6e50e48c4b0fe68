//! The browser transport: the page's `WebSocket`, gloo timers, and the window's `online`,
//! `offline` and `visibilitychange` events drive the session. Everything is event-driven:
//! each callback feeds the [`Driver`] and then [`pump`]s it. [`Browser`] is the driver's
//! platform here; it owns every `Closure`, timer and listener, and removes them all when the
//! client is closed or dropped: no leak, no reconnect after close. [`Host`] is the client
//! those callbacks reach: the driver, and its [`Handover`] to the application.

use std::cell::RefCell;
use std::rc::{Rc, Weak};

use gloo_timers::callback::Timeout;
use tandem_proto::{Instant, close};
use wasm_bindgen::JsCast;
use wasm_bindgen::closure::Closure;
use web_sys::{BinaryType, CloseEvent, Event, EventTarget, MessageEvent, WebSocket};

use crate::command::Sink;
use crate::config::Config;
use crate::driver::{Driver, Platform};
use crate::endpoints::Endpoints;
use crate::error::Error;
use crate::handover::Handover;

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

/// The driver's platform in the browser: the page's clock and random source, one gloo
/// timer, one `WebSocket`, and the window's listeners.
pub(crate) struct Browser {
    /// The client its callbacks feed.
    host: Weak<Host>,
    clock: Clock,
    socket: Option<Socket>,
    /// Sockets whose open or close is still in flight count as this generation.
    generation: u64,
    timer: Option<(Instant, Timeout)>,
    listeners: Vec<WindowListener>,
}

impl Browser {
    /// The platform of the client `host`, listening to the window's network and
    /// visibility events.
    fn new(host: Weak<Host>) -> Self {
        let listeners = listen(&host);
        Browser {
            host,
            clock: Clock::new(),
            socket: None,
            generation: 0,
            timer: None,
            listeners,
        }
    }

    /// Lets go of the socket, the timer and the listeners (the client is gone).
    pub(crate) fn release(&mut self) {
        self.close(close::NORMAL, "client closed".to_owned());
        self.timer = None;
        self.listeners.clear();
    }
}

impl Platform for Browser {
    fn now(&self) -> Instant {
        self.clock.now()
    }

    fn random_seed(&self) -> u64 {
        // 53 random bits from the page's random source.
        #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
        let seed = (js_sys::Math::random() * 9_007_199_254_740_992.0) as u64;
        seed
    }

    /// Keeps a timer armed for an earlier moment: firing early is harmless
    /// (`handle_timeout` acts only on what is due, then the pump re-arms), and a heartbeat
    /// deadline that moves with every message would otherwise cost a `clearTimeout` and a
    /// `setTimeout` per message.
    fn arm(&mut self, deadline: Option<Instant>) {
        let armed = self.timer.as_ref().map(|(at, _)| *at);
        if let (Some(armed), Some(deadline)) = (armed, deadline)
            && armed <= deadline
        {
            return;
        }
        if deadline.is_none() && armed.is_none() {
            return;
        }
        self.timer = deadline.map(|at| {
            let delay = at.saturating_since(self.clock.now());
            let ms = u32::try_from(delay.as_millis()).unwrap_or(u32::MAX);
            let weak = self.host.clone();
            let timeout = Timeout::new(ms, move || {
                with(&weak, |d| {
                    d.platform.timer = None;
                    d.on_timeout();
                });
            });
            (at, timeout)
        });
    }

    /// Its events feed the session while it is the current socket.
    fn open(&mut self, url: &str, protocols: &[String]) -> Result<(), String> {
        self.generation += 1;
        let generation = self.generation;
        self.socket = None;
        let offer = js_sys::Array::new();
        for p in protocols {
            offer.push(&p.into());
        }
        let ws = WebSocket::new_with_str_sequence(url, &offer).map_err(|e| match e
            .dyn_ref::<js_sys::Error>()
        {
            Some(error) => String::from(error.message()),
            None => e
                .as_string()
                .unwrap_or_else(|| "the WebSocket could not be created".into()),
        })?;
        ws.set_binary_type(BinaryType::Arraybuffer);
        // Each handler acts only while its socket is the current one.
        let current = move |weak: &Weak<Host>, f: &mut dyn FnMut(&mut Driver<Browser>)| {
            with(weak, |d| {
                if d.platform.generation == generation {
                    f(d);
                }
            });
        };
        let weak = self.host.clone();
        let on_open = Closure::<dyn FnMut(Event)>::new({
            let weak = weak.clone();
            move |_: Event| {
                current(&weak, &mut |d| {
                    let protocol = d.platform.socket.as_ref().map(|s| s.ws.protocol());
                    let protocol = protocol.filter(|p| !p.is_empty());
                    d.on_open(protocol.as_deref());
                });
            }
        });
        let on_message = Closure::<dyn FnMut(Event)>::new({
            let weak = weak.clone();
            move |e: Event| {
                let data = e.unchecked_into::<MessageEvent>().data();
                current(&weak, &mut |d| {
                    if let Some(text) = data.as_string() {
                        d.on_message(text.as_bytes());
                    } else if let Some(buf) = data.dyn_ref::<js_sys::ArrayBuffer>() {
                        let bytes = js_sys::Uint8Array::new(buf).to_vec();
                        d.on_message(&bytes);
                    }
                });
            }
        });
        let on_close = Closure::<dyn FnMut(Event)>::new({
            let weak = weak.clone();
            move |e: Event| {
                let e = e.unchecked_into::<CloseEvent>();
                current(&weak, &mut |d| {
                    d.platform.socket = None;
                    // The browser reports a drop as 1006, which the session treats as one.
                    d.on_closed(Some(e.code()), &e.reason());
                });
            }
        });
        ws.set_onopen(Some(on_open.as_ref().unchecked_ref()));
        ws.set_onmessage(Some(on_message.as_ref().unchecked_ref()));
        ws.set_onclose(Some(on_close.as_ref().unchecked_ref()));
        self.socket = Some(Socket {
            ws,
            _on_open: on_open,
            _on_message: on_message,
            _on_close: on_close,
        });
        Ok(())
    }

    fn send(&mut self, text: String) -> bool {
        let sent = self.socket.as_ref().map(|s| s.ws.send_with_str(&text));
        if !matches!(sent, Some(Ok(()))) {
            self.socket = None;
            return false;
        }
        true
    }

    fn close(&mut self, code: u16, reason: String) {
        self.generation += 1;
        if let Some(socket) = self.socket.take() {
            socket.shut(code, &reason);
        }
    }

    /// The socket's handlers go with it; the server sees a closed socket.
    /// A page cannot drop a socket without a close frame, so it closes with 4000, an
    /// application code the server counts as an abrupt end (PROTOCOL.md §5.4): the member
    /// lingers as after a real network loss. With 1000 (before) peers saw a leave and a
    /// rejoin.
    fn drop_socket(&mut self) {
        self.close(SIMULATED_LOSS, "simulated network loss".to_owned());
    }
}

/// The close code of [`Platform::drop_socket`] in a browser: an application code (4000 to
/// 4999), which the server treats as an abrupt end, as it does a drop.
const SIMULATED_LOSS: u16 = 4000;

/// Registers the window's network and visibility listeners for the client `host`.
fn listen(host: &Weak<Host>) -> Vec<WindowListener> {
    let mut listeners = Vec::new();
    let Some(window) = web_sys::window() else {
        return listeners;
    };
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
        let weak = host.clone();
        add(
            window.clone().into(),
            kind,
            Box::new(move |_| {
                with(&weak, |d| {
                    let now = d.now();
                    d.session.handle_network(now, online);
                });
            }),
        );
    }
    if let Some(document) = window.document() {
        let weak = host.clone();
        let doc = document.clone();
        add(
            document.into(),
            "visibilitychange",
            Box::new(move |_| {
                let visible = doc.visibility_state() == web_sys::VisibilityState::Visible;
                with(&weak, |d| {
                    let now = d.now();
                    d.session.handle_visibility(now, visible);
                });
            }),
        );
    }
    listeners
}

/// One browser client: the driver its callbacks feed, and what it hands to the
/// application.
pub(crate) struct Host {
    pub(crate) driver: RefCell<Driver<Browser>>,
    pub(crate) handover: Handover,
}

impl Host {
    /// Starts a client connecting to `endpoints` (paths resolved against the page);
    /// `on_event` gets every event of the session, in order.
    pub(crate) fn start(endpoints: Endpoints, config: Config, on_event: Sink) -> Rc<Host> {
        let endpoints = endpoints.map(|url| resolve(&url).unwrap_or(url));
        let handover = Handover::new(on_event);
        let sink = handover.sink();
        let host = Rc::new_cyclic(|weak: &Weak<Host>| {
            let browser = Browser::new(weak.clone());
            Host {
                driver: RefCell::new(Driver::new(config, endpoints, browser, sink)),
                handover,
            }
        });
        run(&host, Driver::start);
        host
    }
}

/// Runs `f` on the client if it still exists, then pumps.
fn with(weak: &Weak<Host>, f: impl FnOnce(&mut Driver<Browser>)) {
    if let Some(host) = weak.upgrade() {
        run(&host, f);
    }
}

/// Runs `f` on the client, then pumps.
pub(crate) fn run(host: &Rc<Host>, f: impl FnOnce(&mut Driver<Browser>)) {
    f(&mut host.driver.borrow_mut());
    pump(host);
}

/// Pumps the driver, starts the token fetch it asks for (once the client is no longer
/// borrowed: the answer may come at once), and hands what waits to the application.
fn pump(host: &Rc<Host>) {
    let fetch = {
        let mut d = host.driver.borrow_mut();
        d.pump();
        d.token_fetch()
    };
    if let Some(fetch) = fetch {
        let weak = Rc::downgrade(host);
        fetch(Box::new(move |token| with(&weak, |d| d.on_token(token))));
    }
    host.handover
        .deliver(|| host.driver.try_borrow().is_ok_and(|d| d.is_closed()));
}
