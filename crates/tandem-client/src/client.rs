//! The client handle the application keeps, the same on every target.

use std::marker::PhantomData;
use std::pin::Pin;
use std::sync::{Arc, Mutex, PoisonError};
use std::task::{Context, Poll};

use serde::Serialize;
use serde::de::DeserializeOwned;
use tandem_proto::{
    ClientEvent, ConnectionState, ErrorBody, Id, Member, Payload, decode_payload, encode_payload,
};
use tokio::sync::{mpsc, oneshot, watch};

use crate::command::{Command, HistoryQuery, JoinOptions, Reply, Sink};
use crate::config::Config;
use crate::endpoints::Endpoints;
use crate::error::Error;
use crate::event::{Event, HistoryMessage, HistoryPage, IncomingRequest, Joined, Responder};

struct Inner {
    commands: mpsc::UnboundedSender<Command>,
    state: watch::Receiver<ConnectionState>,
    /// `(user, session)` from the last `welcome`.
    identity: Arc<Mutex<Option<(String, String)>>>,
    events: Mutex<Option<mpsc::UnboundedReceiver<ClientEvent>>>,
}

/// A connection to a tandem server, typed with the application's message type `M` (the
/// payload of publishes and room messages). Cheap to clone; when the last clone is
/// dropped, the connection closes.
pub struct Client<M> {
    inner: Arc<Inner>,
    _message: PhantomData<fn(M) -> M>,
}

impl<M> Clone for Client<M> {
    fn clone(&self) -> Self {
        Client {
            inner: self.inner.clone(),
            _message: PhantomData,
        }
    }
}

impl<M> std::fmt::Debug for Client<M> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Client")
            .field("state", &*self.inner.state.borrow())
            .finish_non_exhaustive()
    }
}

impl<M: Serialize + DeserializeOwned> Client<M> {
    /// Connects to `url` (`ws://` or `wss://`) and waits until the server has welcomed the
    /// client. Fails only if the client closes for good first (unauthorized, no common
    /// protocol or schema, attempts exhausted); while the server is unreachable it keeps
    /// retrying with backoff.
    pub async fn connect(url: &str, config: Config) -> Result<Self, Error> {
        let client = Self::start(url, config)?;
        client.opened().await?;
        Ok(client)
    }

    /// Waits until the connection is open (now or later), or fails with the reason the
    /// client closed for good.
    pub async fn opened(&self) -> Result<(), Error> {
        let mut state = self.inner.state.clone();
        loop {
            match &*state.borrow_and_update() {
                ConnectionState::Open => return Ok(()),
                ConnectionState::Closed(reason) => return Err(Error::Closed(reason.clone())),
                _ => {}
            }
            if state.changed().await.is_err() {
                return Err(Error::Stopped);
            }
        }
    }

    /// Starts connecting to `url` without waiting: operations made before the connection
    /// opens are queued (within the offline queue's bounds) and sent once it does.
    // In the browser the handle's commands hold JavaScript functions and nothing crosses
    // threads; the handle is the same `Arc` on both targets.
    #[cfg_attr(target_arch = "wasm32", allow(clippy::arc_with_non_send_sync))]
    pub fn start(url: &str, config: Config) -> Result<Self, Error> {
        let endpoints =
            Endpoints::checked(url, &config.fallback_urls, crate::transport::check_url)?;
        let (commands, command_rx) = mpsc::unbounded_channel();
        let (events, event_rx) = mpsc::unbounded_channel();
        let (state, state_rx) = watch::channel(ConnectionState::Idle);
        let identity = Arc::new(Mutex::new(None));
        let welcomed = identity.clone();
        crate::transport::spawn(
            endpoints,
            config,
            command_rx,
            // Dropped when the session closes for good, which ends the event stream.
            Box::new(move |event| {
                match &event {
                    ClientEvent::StateChanged(s) => {
                        state.send_replace(s.clone());
                    }
                    ClientEvent::Welcomed { user, session } => {
                        let mut held = welcomed.lock().unwrap_or_else(PoisonError::into_inner);
                        *held = Some((user.clone(), session.clone()));
                    }
                    _ => {}
                }
                let _ = events.send(event);
            }) as Sink,
        );
        Ok(Client {
            inner: Arc::new(Inner {
                commands,
                state: state_rx,
                identity,
                events: Mutex::new(Some(event_rx)),
            }),
            _message: PhantomData,
        })
    }

    /// The user the server knows this client as (its own messages' `from`, its own
    /// presence member), once welcomed; kept while reconnecting.
    pub fn user(&self) -> Option<String> {
        self.identity().map(|(user, _)| user)
    }

    /// The server's id of the current (or last) connection, once welcomed.
    pub fn session(&self) -> Option<String> {
        self.identity().map(|(_, session)| session)
    }

    fn identity(&self) -> Option<(String, String)> {
        let held = self.inner.identity.lock();
        held.unwrap_or_else(PoisonError::into_inner).clone()
    }

    /// The connection state now.
    pub fn state(&self) -> ConnectionState {
        self.inner.state.borrow().clone()
    }

    /// The stream of events. There is one stream per client: the first call takes it and
    /// later calls get a stream that ends at once.
    pub fn events(&self) -> Events<M> {
        let rx = self.inner.events.lock().ok().and_then(|mut e| e.take());
        Events {
            rx,
            commands: self.inner.commands.downgrade(),
            _message: PhantomData,
        }
    }

    async fn ask<T>(&self, make: impl FnOnce(Reply<T>) -> Command) -> Result<T, Error>
    where
        T: Send + 'static,
    {
        let (reply, answer) = oneshot::channel();
        self.inner
            .commands
            .send(make(Box::new(move |result| {
                let _ = reply.send(result);
            })))
            .map_err(|_| Error::Stopped)?;
        answer.await.map_err(|_| Error::Stopped)?
    }

    /// Joins `room` with no metadata and no history; resolves with the presence snapshot.
    pub async fn join(&self, room: &str) -> Result<Joined, Error> {
        self.join_with(room, JoinOptions::new()).await
    }

    /// Joins `room` with presence metadata and/or history replay.
    pub async fn join_with(&self, room: &str, options: JoinOptions) -> Result<Joined, Error> {
        self.ask(|reply| Command::Join {
            room: room.to_owned(),
            options,
            reply,
        })
        .await
    }

    /// Leaves `room`.
    pub async fn leave(&self, room: &str) -> Result<(), Error> {
        self.ask(|reply| Command::Leave {
            room: room.to_owned(),
            reply,
        })
        .await
    }

    /// Publishes `message` in `room`; resolves with its sequence number once the server
    /// has acknowledged it. While offline it waits in the offline queue.
    pub async fn publish(&self, room: &str, message: &M) -> Result<u64, Error> {
        let data = encode_payload(message).map_err(|e| Error::Payload(e.to_string()))?;
        self.ask(|reply| Command::Publish {
            room: room.to_owned(),
            data,
            reply,
        })
        .await
    }

    /// Sends `message` to the other members of `room` as an ephemeral message (cursors,
    /// typing): no seq, not stored or replayed, never queued, and dropped for a reader
    /// that cannot keep up. Done once sent; fails at once with `NotConnected` unless the
    /// room is joined on an open connection, or `RateLimited` over the server's rate.
    pub async fn broadcast(&self, room: &str, message: &M) -> Result<(), Error> {
        self.send_ephemeral(room, message, false).await
    }

    /// [`Client::broadcast`], resolving once the server has taken the message.
    pub async fn broadcast_acked(&self, room: &str, message: &M) -> Result<(), Error> {
        self.send_ephemeral(room, message, true).await
    }

    async fn send_ephemeral(&self, room: &str, message: &M, ack: bool) -> Result<(), Error> {
        let data = encode_payload(message).map_err(|e| Error::Payload(e.to_string()))?;
        self.ask(|reply| Command::Broadcast {
            room: room.to_owned(),
            data,
            ack,
            reply,
        })
        .await
    }

    /// Replaces this user's presence metadata in `room` (a cursor, a status): every
    /// member sees it as `updated`, and later rejoins carry it. The latest write wins,
    /// from whichever of the user's connections. Resolves once the server has it.
    pub async fn set_presence<P: Serialize + ?Sized>(
        &self,
        room: &str,
        meta: &P,
    ) -> Result<(), Error> {
        let meta = encode_payload(meta).map_err(|e| Error::Payload(e.to_string()))?;
        self.ask(|reply| Command::SetPresence {
            room: room.to_owned(),
            meta,
            reply,
        })
        .await
    }

    /// The members of `room` now: the join's snapshot with every change since.
    pub async fn members(&self, room: &str) -> Result<Vec<Member>, Error> {
        self.ask(|reply| Command::Members {
            room: room.to_owned(),
            reply,
        })
        .await
    }

    /// A page of `room`'s stored messages, newest first by page, oldest first within it;
    /// the room need not be joined (the server asks its join authorization then).
    pub async fn history(&self, room: &str, query: HistoryQuery) -> Result<HistoryPage<M>, Error> {
        let page = self
            .ask(|reply| Command::History {
                room: room.to_owned(),
                query,
                reply,
            })
            .await?;
        let mut messages = Vec::with_capacity(page.messages.len());
        for e in page.messages {
            let data = decode_payload(&e.data).map_err(|e| Error::Payload(e.to_string()))?;
            messages.push(HistoryMessage {
                seq: e.seq.unwrap_or_default(),
                from: e.from,
                data,
            });
        }
        Ok(HistoryPage {
            epoch: page.epoch,
            messages,
            more: page.more,
        })
    }

    /// Sends a request (about `room`, optionally) and decodes the answer as `R`.
    pub async fn request<Q, R>(&self, room: Option<&str>, query: &Q) -> Result<R, Error>
    where
        Q: Serialize + ?Sized,
        R: DeserializeOwned,
    {
        let data = encode_payload(query).map_err(|e| Error::Payload(e.to_string()))?;
        let answer = self
            .ask(|reply| Command::Request {
                room: room.map(str::to_owned),
                data,
                reply,
            })
            .await?;
        decode_payload(&answer).map_err(|e| Error::Payload(e.to_string()))
    }

    /// Drops the current connection as a network failure would: the client reconnects
    /// with backoff and resumes its rooms, like after a real cut. For demos and tests of
    /// recovery; does nothing while not connected.
    pub fn drop_connection(&self) {
        let _ = self.inner.commands.send(Command::DropConnection);
    }

    /// Reconnects now when the client is waiting out a backoff delay (a "retry now"
    /// button, or the application knowing the server is back); does nothing otherwise.
    /// A failed attempt backs off as before.
    pub fn reconnect_now(&self) {
        let _ = self.inner.commands.send(Command::ReconnectNow);
    }

    /// Closes the connection for good (pending operations fail with `Closed`).
    pub async fn close(&self) {
        let (reply, done) = oneshot::channel();
        let reply: Reply<()> = Box::new(move |_| {
            let _ = reply.send(());
        });
        if self.inner.commands.send(Command::Close { reply }).is_ok() {
            let _ = done.await;
        }
    }
}

/// The stream of a client's [`Event`]s. Ends after the client closes for good.
pub struct Events<M> {
    rx: Option<mpsc::UnboundedReceiver<ClientEvent>>,
    commands: mpsc::WeakUnboundedSender<Command>,
    _message: PhantomData<fn() -> M>,
}

impl<M> std::fmt::Debug for Events<M> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Events").finish_non_exhaustive()
    }
}

struct ChannelResponder(mpsc::WeakUnboundedSender<Command>);

impl Responder for ChannelResponder {
    fn respond(&self, id: Id, result: Result<Payload, ErrorBody>) {
        if let Some(tx) = self.0.upgrade() {
            let _ = tx.send(Command::Respond { id, result });
        }
    }
}

impl<M: DeserializeOwned> Events<M> {
    /// Types one of the session's events. The driver forwards only the events that are
    /// not answers to an operation; anything else yields `None`.
    fn typed(commands: &mpsc::WeakUnboundedSender<Command>, raw: ClientEvent) -> Option<Event<M>> {
        Some(match raw {
            ClientEvent::StateChanged(s) => Event::State(s),
            ClientEvent::Joined {
                room,
                recovered,
                epoch,
                seq,
                members,
                policy,
                ..
            } => Event::Joined {
                room,
                recovered,
                epoch,
                seq,
                members,
                policy,
            },
            ClientEvent::Ephemeral { room, from, data } => Event::Ephemeral {
                room,
                from,
                data: decode_payload::<M>(&data).map_err(|e| (e.to_string(), data)),
            },
            ClientEvent::Message {
                room,
                seq,
                from,
                data,
            } => match decode_payload::<M>(&data) {
                Ok(value) => Event::Message {
                    room,
                    seq,
                    from,
                    data: value,
                },
                Err(e) => Event::Undecodable {
                    room,
                    seq,
                    error: e.to_string(),
                    data,
                },
            },
            ClientEvent::Presence {
                room,
                joined,
                left,
                updated,
            } => Event::Presence {
                room,
                joined,
                left,
                updated,
            },
            ClientEvent::Left { room, reason, .. } => Event::Left { room, reason },
            ClientEvent::Unsubscribed { room, message } => Event::Unsubscribed { room, message },
            ClientEvent::ServerMessage { data } => Event::ServerMessage {
                data: decode_payload::<M>(&data).map_err(|e| (e.to_string(), data)),
            },
            ClientEvent::Request { id, room, data } => Event::Request(IncomingRequest {
                id,
                room,
                data,
                responder: Some(Box::new(ChannelResponder(commands.clone()))),
            }),
            ClientEvent::Error {
                room,
                code,
                message,
            } => Event::Error {
                room,
                code,
                message,
            },
            _ => return None,
        })
    }

    /// The next event, or `None` once the client is closed for good.
    pub async fn next(&mut self) -> Option<Event<M>> {
        std::future::poll_fn(|cx| self.poll_event(cx)).await
    }

    fn poll_event(&mut self, cx: &mut Context<'_>) -> Poll<Option<Event<M>>> {
        let Some(rx) = self.rx.as_mut() else {
            return Poll::Ready(None);
        };
        loop {
            match rx.poll_recv(cx) {
                Poll::Ready(Some(raw)) => {
                    if let Some(event) = Self::typed(&self.commands, raw) {
                        return Poll::Ready(Some(event));
                    }
                }
                Poll::Ready(None) => return Poll::Ready(None),
                Poll::Pending => return Poll::Pending,
            }
        }
    }
}

impl<M: DeserializeOwned> futures_core::Stream for Events<M> {
    type Item = Event<M>;

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Event<M>>> {
        self.get_mut().poll_event(cx)
    }
}
