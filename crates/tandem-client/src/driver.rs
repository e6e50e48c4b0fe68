//! The target-independent half of a client driver: the protocol session, the handle's
//! commands, which operation each answer completes, and what each of the session's
//! [`Transmit`]s does. A target plugs in through [`Platform`] (a clock, a random source,
//! one timer, one WebSocket at a time), the way quinn's `Runtime` lets one endpoint run on
//! several async runtimes; the transports (`native`, `web`) implement it and feed the
//! socket's and the timer's events back in.
//!
//! The driver is generic over its platform rather than holding a `dyn Platform`: each
//! target has exactly one, so the code is built once per target and the calls are direct
//! (the npm package's wasm pays for no vtable and no second copy).

use tandem_proto::{
    ClientEvent, ConnectionState, Instant, OpError, Payload, Session, TokenError, Transmit,
};

use crate::command::{Command, RawPage, Reply, Sink};
#[cfg(not(target_arch = "wasm32"))]
use crate::config::TokenFuture;
#[cfg(target_arch = "wasm32")]
use crate::config::TokenReply;
use crate::config::{Config, TokenProvider};
use crate::endpoints::Endpoints;
use crate::error::Error;
use crate::event::Joined;
use crate::in_flight::InFlight;

/// What a driver needs of its target. The calls are synchronous: a target whose socket
/// writes are asynchronous queues them here and writes them out after [`Driver::pump`].
/// What the socket and the timer report comes back through the driver's `on_*` methods.
pub(crate) trait Platform {
    /// The time now, on the clock the session's deadlines are read against.
    fn now(&self) -> Instant;

    /// A seed for the reconnect jitter, from the target's random source.
    fn random_seed(&self) -> u64;

    /// Sets the one timer to fire at `deadline` (`None`: nothing is due); when it fires
    /// the target calls [`Driver::on_timeout`]. Firing early is harmless.
    fn arm(&mut self, deadline: Option<Instant>);

    /// Starts opening a WebSocket to `url` offering `protocols`, in place of any socket
    /// held (which the session already counts closed). Its outcome comes back through
    /// [`Driver::on_open`] or [`Driver::on_closed`]; `Err` says why it could not start.
    fn open(&mut self, url: &str, protocols: &[String]) -> Result<(), String>;

    /// Sends a text frame on the open socket (or queues it, in order); `false` when there
    /// is no open socket or it refused, in which case the socket is let go of.
    fn send(&mut self, text: String) -> bool;

    /// Closes the socket, opening or open, with `code` and `reason`. The session counts it
    /// closed already, so none of its later events may be reported.
    fn close(&mut self, code: u16, reason: String);

    /// Lets go of the socket, opening or open, as a network failure would.
    fn drop_socket(&mut self);
}

/// An operation waiting for its answer.
enum Waiting {
    Join(Reply<Joined>),
    Leave(Reply<()>),
    Publish(Reply<u64>),
    Request(Reply<Payload>),
    /// An update, or an ephemeral message that asked for an ack.
    Done(Reply<()>),
    Page(Reply<RawPage>),
}

/// The session, the target's platform, and the bookkeeping between them and the handle.
pub(crate) struct Driver<P> {
    pub session: Session,
    pub platform: P,
    endpoints: Endpoints,
    sink: Option<Sink>,
    waiting: InFlight<Waiting>,
    closers: Vec<Reply<()>>,
    token_provider: Option<TokenProvider>,
    /// Whether the session asked for a token the transport has not fetched yet.
    token_wanted: bool,
}

impl<P: Platform> Driver<P> {
    /// A driver for `config` connecting to `endpoints` on `platform`; the jitter seed comes
    /// from the platform when the configuration gives none.
    pub fn new(config: Config, endpoints: Endpoints, platform: P, sink: Sink) -> Self {
        let Config {
            protocol,
            token_provider,
            seed,
            fallback_urls: _,
            headers: _,
            #[cfg(not(target_arch = "wasm32"))]
                extra_roots: _,
        } = config;
        let seed = seed.unwrap_or_else(|| platform.random_seed());
        Driver {
            session: Session::new(protocol, seed),
            platform,
            endpoints,
            sink: Some(sink),
            waiting: InFlight::new(),
            closers: Vec::new(),
            token_provider,
            token_wanted: false,
        }
    }

    /// The platform's time now.
    pub fn now(&self) -> Instant {
        self.platform.now()
    }

    /// Starts the first connection attempt.
    pub fn start(&mut self) {
        let now = self.now();
        self.session.connect(now);
    }

    /// Closes the session for good (the next pump closes its socket).
    pub fn close(&mut self) {
        let now = self.now();
        self.session.close(now);
    }

    /// Does what the session wants done: opens, writes and closes sockets, routes its
    /// events to the waiting operations and the event stream, and arms the timer for its
    /// next deadline. Every transport calls it after each input it feeds the session.
    pub fn pump(&mut self) {
        while let Some(transmit) = self.session.poll_transmit() {
            match transmit {
                Transmit::Connect { protocols } => {
                    let url = self.endpoints.next();
                    if let Err(why) = self.platform.open(url, &protocols) {
                        self.on_closed(None, &why);
                    }
                }
                Transmit::Send(text) => {
                    if !self.platform.send(text) {
                        self.on_closed(None, "write failed");
                    }
                }
                Transmit::Close { code, reason } => self.platform.close(code, reason),
            }
        }
        self.route_events();
        self.platform.arm(self.session.poll_timeout());
    }

    /// The socket opened with subprotocol `protocol` (`None`: the server chose none).
    pub fn on_open(&mut self, protocol: Option<&str>) {
        let now = self.now();
        self.session.handle_open(now, protocol);
    }

    /// A message arrived on the socket.
    pub fn on_message(&mut self, bytes: &[u8]) {
        let now = self.now();
        self.session.handle_message(now, bytes);
    }

    /// The socket closed (`code` from its close frame) or failed (`None`); the platform
    /// has let go of it.
    pub fn on_closed(&mut self, code: Option<u16>, reason: &str) {
        let now = self.now();
        self.session.handle_closed(now, code, reason);
    }

    /// The timer fired.
    pub fn on_timeout(&mut self) {
        let now = self.now();
        self.session.handle_timeout(now);
    }

    /// A token fetch the session asked for ([`Driver::token_fetch`]) finished.
    pub fn on_token(&mut self, token: Result<String, TokenError>) {
        let now = self.now();
        self.session.handle_token(now, token);
    }

    /// Whether the session asked for a token, once per ask.
    fn token_asked(&mut self) -> bool {
        std::mem::take(&mut self.token_wanted)
    }

    /// The token fetch the session asked for, if any, to be awaited by the transport and
    /// its result given to [`Session::handle_token`]. Without a provider the answer is
    /// "unauthorized".
    #[cfg(not(target_arch = "wasm32"))]
    pub fn token_fetch(&mut self) -> Option<TokenFuture> {
        if !self.token_asked() {
            return None;
        }
        Some(match &self.token_provider {
            Some(provider) => provider(),
            None => Box::pin(async { Err(no_provider()) }),
        })
    }

    /// The token fetch the session asked for, if any, to be started by the transport (once
    /// it holds no borrow the answer needs) with where the token goes.
    #[cfg(target_arch = "wasm32")]
    pub fn token_fetch(&mut self) -> Option<impl FnOnce(TokenReply) + 'static> {
        if !self.token_asked() {
            return None;
        }
        let provider = self.token_provider.clone();
        Some(move |reply: TokenReply| match provider {
            Some(provider) => provider(reply),
            None => reply(Err(no_provider())),
        })
    }

    /// Whether the session is closed for good.
    pub fn is_closed(&self) -> bool {
        matches!(self.session.state(), ConnectionState::Closed(_))
    }

    /// Applies one command from the handle.
    pub fn command(&mut self, command: Command) {
        let now = self.now();
        let s = &mut self.session;
        match command {
            Command::Join {
                room,
                options,
                reply,
            } => {
                let (meta, history, since) = options.into_parts();
                match s.join_since(now, &room, meta, history, since) {
                    Ok(id) => {
                        self.waiting.insert(id, Waiting::Join(reply));
                    }
                    Err(e) => reply(Err(e.into())),
                }
            }
            Command::Leave { room, reply } => match s.leave(now, &room) {
                Ok(id) => {
                    self.waiting.insert(id, Waiting::Leave(reply));
                }
                Err(e) => {
                    reply(Err(e.into()));
                }
            },
            Command::Publish { room, data, reply } => match s.publish(now, &room, data) {
                Ok(id) => {
                    self.waiting.insert(id, Waiting::Publish(reply));
                }
                Err(e) => {
                    reply(Err(e.into()));
                }
            },
            Command::Request { room, data, reply } => match s.request(now, room.as_deref(), data) {
                Ok(id) => {
                    self.waiting.insert(id, Waiting::Request(reply));
                }
                Err(e) => {
                    reply(Err(e.into()));
                }
            },
            Command::Broadcast {
                room,
                data,
                ack,
                reply,
            } => match s.publish_ephemeral(now, &room, data, ack) {
                Ok(id) if ack => {
                    self.waiting.insert(id, Waiting::Done(reply));
                }
                Ok(_) => reply(Ok(())),
                Err(e) => reply(Err(e.into())),
            },
            Command::SetPresence { room, meta, reply } => match s.update(now, &room, meta) {
                Ok(id) => {
                    self.waiting.insert(id, Waiting::Done(reply));
                }
                Err(e) => reply(Err(e.into())),
            },
            Command::History { room, query, reply } => {
                match s.history(now, &room, query.before, query.limit) {
                    Ok(id) => {
                        self.waiting.insert(id, Waiting::Page(reply));
                    }
                    Err(e) => reply(Err(e.into())),
                }
            }
            Command::Members { room, reply } => match s.members(&room) {
                Some(list) => reply(Ok(list.to_vec())),
                None => reply(Err(OpError::NotJoined { room }.into())),
            },
            Command::Respond { id, result } => s.respond(now, id, result),
            Command::Close { reply } => {
                s.close(now);
                self.closers.push(reply);
            }
            Command::DropConnection => self.drop_connection(now),
            Command::ReconnectNow => s.reconnect_now(now),
        }
    }

    /// Drops the connection, when there is one, as a network failure would: the platform
    /// lets go of the socket (so none of its later events arrive), then the session is
    /// told it was lost.
    fn drop_connection(&mut self, now: Instant) {
        if self.has_connection() {
            self.platform.drop_socket();
            self.session
                .handle_closed(now, None, "connection dropped by the application");
        }
    }

    /// Whether a socket is open or opening.
    fn has_connection(&self) -> bool {
        matches!(
            self.session.state(),
            ConnectionState::Open | ConnectionState::Connecting { .. }
        )
    }

    /// Routes every pending session event: answers to their waiting operations, the rest
    /// to the event stream.
    fn route_events(&mut self) {
        while let Some(event) = self.session.poll_event() {
            self.route(event);
        }
        if self.is_closed() {
            self.sink = None;
            for closer in self.closers.drain(..) {
                closer(Ok(()));
            }
        }
    }

    fn emit(&mut self, event: ClientEvent) {
        if let Some(sink) = &mut self.sink {
            sink(event);
        }
    }

    /// Answers a waiting operation, or forwards the event to the stream (Joined and Left
    /// do both: the stream shows every join and leave).
    fn route(&mut self, event: ClientEvent) {
        match event {
            ClientEvent::TokenRequired => self.token_wanted = true,
            ClientEvent::Published { id, seq, .. } => {
                if let Some(Waiting::Publish(reply)) = self.waiting.remove(&id) {
                    reply(Ok(seq));
                }
            }
            ClientEvent::Response { id, data } => {
                if let Some(Waiting::Request(reply)) = self.waiting.remove(&id) {
                    reply(Ok(data));
                }
            }
            ClientEvent::Done { id } => {
                if let Some(Waiting::Done(reply)) = self.waiting.remove(&id) {
                    reply(Ok(()));
                }
            }
            ClientEvent::Page {
                id,
                epoch,
                messages,
                more,
                ..
            } => {
                if let Some(Waiting::Page(reply)) = self.waiting.remove(&id) {
                    reply(Ok(RawPage {
                        epoch,
                        messages,
                        more,
                    }));
                }
            }
            ClientEvent::Failed { id, error } => {
                let error = Error::from(error);
                match self.waiting.remove(&id) {
                    Some(Waiting::Join(r)) => r(Err(error)),
                    Some(Waiting::Leave(r)) => r(Err(error)),
                    Some(Waiting::Publish(r)) => r(Err(error)),
                    Some(Waiting::Request(r)) => r(Err(error)),
                    Some(Waiting::Done(r)) => r(Err(error)),
                    Some(Waiting::Page(r)) => r(Err(error)),
                    None => {}
                }
            }
            event => {
                match &event {
                    ClientEvent::Joined {
                        id: Some(id),
                        room,
                        recovered,
                        epoch,
                        seq,
                        members,
                        policy,
                    } => {
                        if let Some(Waiting::Join(reply)) = self.waiting.remove(id) {
                            reply(Ok(Joined {
                                room: room.clone(),
                                recovered: *recovered,
                                epoch: *epoch,
                                seq: *seq,
                                members: members.clone(),
                                policy: *policy,
                            }));
                        }
                    }
                    ClientEvent::Left { id: Some(id), .. } => {
                        if let Some(Waiting::Leave(reply)) = self.waiting.remove(id) {
                            reply(Ok(()));
                        }
                    }
                    _ => {}
                }
                self.emit(event);
            }
        }
    }
}

/// What a token fetch gives when the configuration has no provider.
fn no_provider() -> TokenError {
    TokenError::Unauthorized("no token provider".to_owned())
}
