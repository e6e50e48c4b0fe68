//! What a client's handles ask its driver (the commands, a join's options), and where the
//! answers and events go. Both the handles (`client`, `callback`) and the driver use these
//! types, so they live apart from either: neither has to import the other.

use serde::Serialize;
use tandem_proto::{ClientEvent, ErrorBody, Id, Member, Payload, encode_payload};

use crate::error::Error;
use crate::event::Joined;

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

/// What a handle asks the driver.
pub(crate) enum Command {
    Join {
        room: String,
        options: JoinOptions,
        reply: Reply<Joined>,
    },
    Leave {
        room: String,
        reply: Reply<()>,
    },
    Publish {
        room: String,
        data: Payload,
        reply: Reply<u64>,
    },
    Request {
        room: Option<String>,
        data: Payload,
        reply: Reply<Payload>,
    },
    /// An ephemeral message; `ack` waits for the server's, else it is done once sent.
    Broadcast {
        room: String,
        data: Payload,
        ack: bool,
        reply: Reply<()>,
    },
    SetPresence {
        room: String,
        meta: Payload,
        reply: Reply<()>,
    },
    History {
        room: String,
        query: HistoryQuery,
        reply: Reply<RawPage>,
    },
    Members {
        room: String,
        reply: Reply<Vec<Member>>,
    },
    Respond {
        id: Id,
        result: Result<Payload, ErrorBody>,
    },
    Close {
        reply: Reply<()>,
    },
    /// Drop the transport as a network failure would.
    DropConnection,
    /// Skip the backoff wait and reconnect now.
    ReconnectNow,
}

/// Options of a join.
#[derive(Debug, Clone, Default)]
#[must_use]
pub struct JoinOptions {
    meta: Option<Payload>,
    history: u32,
    since: Option<(u64, u64)>,
}

impl JoinOptions {
    /// No presence metadata, no history.
    pub fn new() -> Self {
        JoinOptions::default()
    }

    /// Presence metadata shown to the room's members (a name, a colour...).
    pub fn meta<T: Serialize + ?Sized>(mut self, meta: &T) -> Result<Self, Error> {
        self.meta = Some(encode_payload(meta).map_err(|e| Error::Payload(e.to_string()))?);
        Ok(self)
    }

    /// Presence metadata already encoded as JSON.
    pub fn raw_meta(mut self, meta: Payload) -> Self {
        self.meta = Some(meta);
        self
    }

    /// Replays up to `n` recent messages on join (as [`Event::Message`]s).
    ///
    /// [`Event::Message`]: crate::Event::Message
    pub fn history(mut self, n: u32) -> Self {
        self.history = n;
        self
    }

    /// Starts from a stored position: the room's `epoch` (from [`Joined::epoch`]) and the
    /// last `seq` the application kept. The join then answers like a resume after a
    /// reconnect: [`Joined::recovered`] is `Some(true)` when every message after it
    /// follows, `Some(false)` when some are gone (refetch). For a reloaded page or a
    /// restarted app; it replaces [`JoinOptions::history`].
    ///
    /// [`Joined::epoch`]: crate::Joined::epoch
    /// [`Joined::recovered`]: crate::Joined::recovered
    pub fn since(mut self, epoch: u64, seq: u64) -> Self {
        self.since = Some((epoch, seq));
        self
    }

    /// The metadata, the history count and the stored position.
    pub(crate) fn into_parts(self) -> (Option<Payload>, u32, Option<(u64, u64)>) {
        (self.meta, self.history, self.since)
    }
}

/// Which page of a room's history to read: the newest `limit` messages with a seq below
/// `before` (from the newest, without). `limit` absent or over the server's maximum (100
/// by default) is the maximum.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct HistoryQuery {
    /// Only messages with a seq below this one.
    pub before: Option<u64>,
    /// Most messages in the page.
    pub limit: Option<u32>,
}

/// A page as the session has it, before its payloads are typed.
pub(crate) struct RawPage {
    pub epoch: u64,
    pub messages: Vec<tandem_proto::frame::Event>,
    pub more: bool,
}
