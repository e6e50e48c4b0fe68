//! The target-independent half of a client driver: the protocol session, the handle's
//! commands, and which operation each answer completes. The transports (`native`, `wasm`)
//! only move bytes and time in and out.

use tandem_proto::{ClientEvent, ConnectionState, Instant, Payload, Session, TokenError};

use crate::client::Command;
#[cfg(not(target_arch = "wasm32"))]
use crate::config::TokenFuture;
#[cfg(target_arch = "wasm32")]
use crate::config::TokenReply;
use crate::config::{Config, TokenProvider};
use crate::error::Error;
use crate::event::Joined;
use crate::in_flight::InFlight;

/// Where an operation's answer goes: called once, with the result. (`Send` natively, where
/// the driver runs on a tokio task; not in the browser, where it may hold JS functions.)
#[cfg(not(target_arch = "wasm32"))]
pub(crate) type Reply<T> = Box<dyn FnOnce(Result<T, Error>) + Send>;
/// Where an operation's answer goes: called once, with the result.
#[cfg(target_arch = "wasm32")]
pub(crate) type Reply<T> = Box<dyn FnOnce(Result<T, Error>)>;

/// Where the session's events go, in order; dropped once the session is closed for good.
#[cfg(not(target_arch = "wasm32"))]
pub(crate) type Sink = Box<dyn FnMut(ClientEvent) + Send>;
/// Where the session's events go, in order; dropped once the session is closed for good.
#[cfg(target_arch = "wasm32")]
pub(crate) type Sink = Box<dyn FnMut(ClientEvent)>;

/// An operation waiting for its answer.
enum Waiting {
    Join(Reply<Joined>),
    Leave(Reply<()>),
    Publish(Reply<u64>),
    Request(Reply<Payload>),
}

/// The session plus the bookkeeping between it and the handle.
pub(crate) struct Driver {
    pub session: Session,
    sink: Option<Sink>,
    waiting: InFlight<Waiting>,
    closers: Vec<Reply<()>>,
    token_provider: Option<TokenProvider>,
    /// Whether the session asked for a token the transport has not fetched yet.
    token_wanted: bool,
}

impl Driver {
    /// A driver for `config`; `fresh_seed` draws the jitter seed when the configuration
    /// gives none (each target has its own random source).
    pub fn new(config: Config, sink: Sink, fresh_seed: impl FnOnce() -> u64) -> Self {
        let Config {
            protocol,
            token_provider,
            seed,
            fallback_urls: _,
        } = config;
        Driver {
            session: Session::new(protocol, seed.unwrap_or_else(fresh_seed)),
            sink: Some(sink),
            waiting: InFlight::new(),
            closers: Vec::new(),
            token_provider,
            token_wanted: false,
        }
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
    pub fn command(&mut self, now: Instant, command: Command) {
        let s = &mut self.session;
        match command {
            Command::Join {
                room,
                meta,
                history,
                reply,
            } => match s.join(now, &room, meta, history) {
                Ok(id) => {
                    self.waiting.insert(id, Waiting::Join(reply));
                }
                Err(e) => {
                    reply(Err(e.into()));
                }
            },
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
            Command::Respond { id, result } => s.respond(now, id, result),
            Command::Close { reply } => {
                s.close(now);
                self.closers.push(reply);
            }
            Command::DropConnection => self.drop_connection(now),
            Command::ReconnectNow => s.reconnect_now(now),
        }
    }

    /// Tells the session its connection was lost, when it has one (the transport lets go
    /// of the socket itself).
    fn drop_connection(&mut self, now: Instant) {
        if self.has_connection() {
            self.session
                .handle_closed(now, None, "connection dropped by the application");
        }
    }

    /// Whether `command` makes the transport drop its socket.
    pub fn drops_socket(&self, command: &Command) -> bool {
        matches!(command, Command::DropConnection) && self.has_connection()
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
    pub fn route_events(&mut self) {
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
            ClientEvent::Failed { id, error } => {
                let error = Error::from(error);
                match self.waiting.remove(&id) {
                    Some(Waiting::Join(r)) => r(Err(error)),
                    Some(Waiting::Leave(r)) => r(Err(error)),
                    Some(Waiting::Publish(r)) => r(Err(error)),
                    Some(Waiting::Request(r)) => r(Err(error)),
                    None => {}
                }
            }
            event => {
                match &event {
                    ClientEvent::Joined {
                        id: Some(id),
                        room,
                        members,
                        ..
                    } => {
                        if let Some(Waiting::Join(reply)) = self.waiting.remove(id) {
                            reply(Ok(Joined {
                                room: room.clone(),
                                members: members.clone(),
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
