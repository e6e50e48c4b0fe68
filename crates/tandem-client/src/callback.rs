//! The browser client driven by callbacks: the API the npm package's bindings use, and
//! what [`Client`](crate::Client) runs on in the browser. The transport under it is `web`.

use std::rc::Rc;

use tandem_proto::{ClientEvent, ConnectionState, ErrorBody, Id, Payload};
use tokio::sync::mpsc;

use crate::command::{Command, JoinOptions, Sink};
use crate::config::Config;
use crate::driver::Driver;
use crate::endpoints::Endpoints;
use crate::error::Error;
use crate::event::Joined;
use crate::web::{Host, check_url, run};

/// The browser client driven by callbacks rather than futures: every call returns at
/// once, and answers and events arrive through the callbacks given, on the page's event
/// loop. This is what the npm package's bindings use (they answer with promises of their
/// own); [`Client`](crate::Client) in the browser is built on it.
///
/// Callbacks never run inside another call on the client, so a callback may call the
/// client again. Dropping the client closes it for good and removes its socket, timer and
/// window listeners.
pub struct CallbackClient {
    host: Rc<Host>,
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
        let endpoints = Endpoints::checked(url, &config.fallback_urls, check_url)?;
        Ok(Self::launch(endpoints, config, Box::new(on_event)))
    }

    fn launch(endpoints: Endpoints, config: Config, on_event: Sink) -> Self {
        CallbackClient {
            host: Host::start(endpoints, config, on_event),
        }
    }

    /// The connection state now.
    pub fn state(&self) -> ConnectionState {
        self.host.driver.borrow().session.state().clone()
    }

    /// Joins `room`; `reply` gets the presence snapshot, or why not.
    pub fn join(
        &self,
        room: &str,
        options: JoinOptions,
        reply: impl FnOnce(Result<Joined, Error>) + 'static,
    ) {
        self.command(Command::Join {
            room: room.to_owned(),
            options,
            reply: self.host.handover.later(reply),
        });
    }

    /// Leaves `room`; `reply` gets the server's answer.
    pub fn leave(&self, room: &str, reply: impl FnOnce(Result<(), Error>) + 'static) {
        self.command(Command::Leave {
            room: room.to_owned(),
            reply: self.host.handover.later(reply),
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
            reply: self.host.handover.later(reply),
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
            reply: self.host.handover.later(reply),
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
        let reply = self.host.handover.later(move |_: Result<(), Error>| done());
        self.command(Command::Close { reply });
    }

    /// Applies one command, then pumps.
    pub(crate) fn command(&self, command: Command) {
        run(&self.host, |d| d.command(command));
    }
}

impl Drop for CallbackClient {
    /// Closes for good and lets go of the socket, the timer and the listeners.
    fn drop(&mut self) {
        run(&self.host, Driver::close);
        self.host.driver.borrow_mut().platform.release();
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
