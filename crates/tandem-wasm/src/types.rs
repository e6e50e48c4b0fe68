//! The shapes JavaScript sees, as Rust types: their TypeScript declarations are generated
//! from these by tsify, so no TypeScript type copies a Rust one by hand. `options.rs` reads
//! and builds the values themselves.

use serde::{Deserialize, Serialize};
use tandem_proto::{AppSchema, ClientConfig, ConnectionState, QueueLimits};
use tsify::Tsify;

use core::time::Duration;

/// The application schema offered in hello.
#[derive(Debug, Clone, Serialize, Deserialize, Tsify)]
pub struct AppOptions {
    /// The schema's name.
    pub name: String,
    /// Supported versions, most preferred first.
    pub versions: Vec<u32>,
}

/// The reconnect schedule (full jitter between 0 and the ceiling).
#[derive(Debug, Clone, Default, Serialize, Deserialize, Tsify)]
#[serde(rename_all = "camelCase")]
pub struct BackoffOptions {
    /// Ceiling of the first retry's delay. Default 250.
    #[tsify(optional)]
    pub initial_ms: Option<u32>,
    /// Largest ceiling. Default 30000.
    #[tsify(optional)]
    pub max_ms: Option<u32>,
    /// Give up after this many failed attempts in a row. Default: never.
    #[tsify(optional)]
    pub max_attempts: Option<u32>,
}

/// Heartbeat timings used until the server announces its own.
#[derive(Debug, Clone, Default, Serialize, Deserialize, Tsify)]
#[serde(rename_all = "camelCase")]
pub struct HeartbeatOptions {
    /// Ping when quiet this long. Default 25000.
    #[tsify(optional)]
    pub interval_ms: Option<u32>,
    /// Dead when nothing arrives this long after a ping. Default 10000.
    #[tsify(optional)]
    pub timeout_ms: Option<u32>,
}

/// Bounds of the offline queue.
#[derive(Debug, Clone, Default, Serialize, Deserialize, Tsify)]
#[serde(rename_all = "camelCase")]
pub struct QueueOptions {
    /// Most frames queued. Default 1000.
    #[tsify(optional)]
    pub max_frames: Option<u32>,
    /// Most bytes queued. Default 1 MiB.
    #[tsify(optional)]
    pub max_bytes: Option<u32>,
}

/// Connection settings (the `getToken` callback is declared beside, in `ConnectOptions`).
#[derive(Debug, Clone, Default, Serialize, Deserialize, Tsify)]
#[serde(rename_all = "camelCase")]
pub struct ConnectSettings {
    /// A fixed token sent in hello.
    #[tsify(optional)]
    pub token: Option<String>,
    /// The application schema. Default `{ name: "default", versions: [1] }`.
    #[tsify(optional)]
    pub app: Option<AppOptions>,
    /// The reconnect schedule.
    #[tsify(optional)]
    pub backoff: Option<BackoffOptions>,
    /// Heartbeat timings.
    #[tsify(optional)]
    pub heartbeat: Option<HeartbeatOptions>,
    /// Offline queue bounds.
    #[tsify(optional)]
    pub queue: Option<QueueOptions>,
    /// How long a request may wait for its answer. Default 10000.
    #[tsify(optional)]
    pub request_timeout_ms: Option<u32>,
    /// How long a publish may wait for its acknowledgement, from when it is sent (time
    /// in the offline queue excluded). Default 10000.
    #[tsify(optional)]
    pub publish_timeout_ms: Option<u32>,
    /// WebSocket subprotocols to offer, in preference order. Default: every protocol
    /// version this client speaks, then the `tandem` marker.
    #[tsify(optional)]
    pub protocols: Option<Vec<String>>,
    /// More server URLs (nodes of one cluster): after a failure or close the client moves
    /// to the next in turn and resumes its session there.
    #[tsify(optional)]
    pub fallback_urls: Option<Vec<String>>,
}

fn ms(v: u32) -> Duration {
    Duration::from_millis(u64::from(v))
}

impl ConnectSettings {
    /// The session configuration these settings describe (`refresh`: a token callback
    /// gives a fresh token before every attempt).
    pub fn config(&self, refresh: bool) -> ClientConfig {
        let mut config = ClientConfig {
            token: self.token.clone(),
            refresh_token: refresh,
            ..ClientConfig::default()
        };
        if let Some(protocols) = &self.protocols {
            config.protocols.clone_from(protocols);
        }
        if let Some(app) = &self.app {
            config.app = AppSchema::new(app.name.clone(), app.versions.clone());
        }
        let b = self.backoff.clone().unwrap_or_default();
        let backoff = &mut config.backoff;
        backoff.initial = b.initial_ms.map_or(backoff.initial, ms);
        backoff.max = b.max_ms.map_or(backoff.max, ms);
        backoff.max_attempts = b.max_attempts.or(backoff.max_attempts);
        let h = self.heartbeat.clone().unwrap_or_default();
        let heartbeat = &mut config.heartbeat;
        heartbeat.interval = h.interval_ms.map_or(heartbeat.interval, ms);
        heartbeat.timeout = h.timeout_ms.map_or(heartbeat.timeout, ms);
        let q = self.queue.clone().unwrap_or_default();
        let queue: &mut QueueLimits = &mut config.queue;
        queue.max_count = q.max_frames.map_or(queue.max_count, |n| n as usize);
        queue.max_bytes = q.max_bytes.map_or(queue.max_bytes, |n| n as usize);
        if let Some(t) = self.request_timeout_ms {
            config.request_timeout = ms(t);
        }
        if let Some(t) = self.publish_timeout_ms {
            config.publish_timeout = ms(t);
        }
        config
    }
}

/// The connection state, as `client.state` and the `state` event give it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Tsify)]
#[serde(tag = "kind", rename_all = "camelCase")]
pub enum State {
    /// Not started.
    Idle,
    /// Opening a socket and negotiating; `attempt` 0 is the first connection.
    Connecting {
        /// The attempt.
        attempt: u32,
    },
    /// Welcomed by the server.
    Open,
    /// Waiting `delayMs` before attempt `attempt` (`null` while the browser is offline).
    #[serde(rename_all = "camelCase")]
    Reconnecting {
        /// The attempt about to be made.
        attempt: u32,
        /// Milliseconds until it, or `null` while offline.
        #[tsify(type = "number | null")]
        delay_ms: Option<u32>,
    },
    /// Closed for good: `code` is stable (`closed`, `unauthorized`, `token_expired`,
    /// `protocol_mismatch`, `app_version_mismatch`, `attempts_exhausted`,
    /// `server_closed`), `reason` explains.
    Closed {
        /// The stable code.
        code: String,
        /// The explanation.
        reason: String,
    },
}

impl From<&ConnectionState> for State {
    fn from(s: &ConnectionState) -> Self {
        match s {
            ConnectionState::Idle => State::Idle,
            ConnectionState::Connecting { attempt } => State::Connecting { attempt: *attempt },
            ConnectionState::Open => State::Open,
            ConnectionState::Reconnecting { attempt, delay } => State::Reconnecting {
                attempt: *attempt,
                delay_ms: delay.map(|d| u32::try_from(d.as_millis()).unwrap_or(u32::MAX)),
            },
            ConnectionState::Closed(reason) => {
                let err = crate::error::close_code(reason);
                State::Closed {
                    code: err.to_owned(),
                    reason: reason.to_string(),
                }
            }
        }
    }
}

/// Options of `client.join`.
#[derive(Debug, Clone, Default, Serialize, Deserialize, Tsify)]
pub struct JoinSettings {
    /// Replay up to this many recent messages on join.
    #[tsify(optional)]
    pub history: Option<u32>,
}

/// The error type the declarations below name, from the package's own declarations.
#[wasm_bindgen::prelude::wasm_bindgen(typescript_custom_section)]
const TS_IMPORTS: &'static str = r#"import type { TandemError } from "./index.js";"#;

// The event objects the listeners receive. bindings.rs builds them field by field (with
// the page's own JSON.parse for payloads, so they are never walked value by value); these
// types declare their TypeScript shape, generic over the application's message type `M`
// and presence metadata type `P`.

/// A member of a room's presence: one per user, however many tabs.
#[allow(dead_code)]
#[derive(Tsify)]
pub struct Member<P> {
    /// The user id.
    pub user: String,
    /// The metadata the member joined with.
    #[tsify(optional)]
    pub meta: Option<P>,
    /// Presence data the token's issuer set (its `info` claim): no client can change it.
    #[tsify(optional, type = "unknown")]
    pub info: Option<()>,
}

/// A message in a room, live or replayed.
#[allow(dead_code)]
#[derive(Tsify)]
pub struct MessageEvent<M> {
    /// The room.
    pub room: String,
    /// The room's sequence number: consecutive, never repeated.
    #[tsify(type = "number")]
    pub seq: u64,
    /// The publishing user, or `null` for the server's own broadcasts.
    #[tsify(type = "string | null")]
    pub from: Option<String>,
    /// The payload.
    pub data: M,
}

/// An ephemeral message in a room (`room.broadcast`): no seq, never stored or replayed.
#[allow(dead_code)]
#[derive(Tsify)]
pub struct EphemeralEvent<M> {
    /// The room.
    pub room: String,
    /// The publishing user.
    #[tsify(type = "string | null")]
    pub from: Option<String>,
    /// The payload.
    pub data: M,
}

/// A change of a room's presence, with the room's members after it.
#[allow(dead_code)]
#[derive(Tsify)]
pub struct PresenceEvent<P> {
    /// The room.
    pub room: String,
    /// Members who arrived.
    pub joined: Vec<Member<P>>,
    /// Members who left.
    pub left: Vec<Member<P>>,
    /// Members whose metadata changed (with the new metadata).
    pub updated: Vec<Member<P>>,
    /// The room's members now.
    pub members: Vec<Member<P>>,
}

/// The room was joined again after a reconnect.
#[allow(dead_code)]
#[derive(Tsify)]
pub struct JoinedEvent<P> {
    /// The room.
    pub room: String,
    /// `true` if every missed message follows, `false` if some were lost (refetch).
    #[tsify(type = "boolean | null")]
    pub recovered: Option<bool>,
    /// The presence snapshot.
    pub members: Vec<Member<P>>,
}

/// The client is out of the room: the application left it (`reason` null), or the
/// server refused to take it back in after a reconnect (`reason` says why, e.g.
/// `forbidden`). A rejoin the server cannot serve now is retried, never abandoned.
#[allow(dead_code)]
#[derive(Tsify)]
pub struct LeftEvent {
    /// The room.
    pub room: String,
    /// Why the server took the client out, when it did.
    #[tsify(type = "TandemError | null")]
    pub reason: Option<String>,
}

/// The server took the client out of the room (an operator, or a fresh token without the
/// room). The room is left: it is not rejoined, now or after a reconnect, and what waited
/// for it rejects with `not_joined`. Joining it again is the page's call.
#[allow(dead_code)]
#[derive(Tsify)]
pub struct UnsubscribedEvent {
    /// The room.
    pub room: String,
    /// Why, for people.
    pub message: String,
}

/// A position in a room: store it, and join `since` it later (a reloaded page).
#[allow(dead_code)]
#[derive(Tsify)]
pub struct Position {
    /// The room's epoch: seqs compare only within one.
    #[tsify(type = "number")]
    pub epoch: u64,
    /// The seq of the last message handled.
    #[tsify(type = "number")]
    pub seq: u64,
}

/// What a room keeps and allows, as the server announced it when it was joined.
#[allow(dead_code)]
#[derive(Serialize, Tsify)]
#[serde(rename_all = "camelCase")]
pub struct RoomPolicy {
    /// Most messages kept for replay and paging (0: none).
    pub history: u32,
    /// How long a message stays stored, in milliseconds.
    pub history_ms: u32,
    /// Most bytes of history kept.
    pub history_bytes: u32,
    /// Whether numbered messages (`publish`) are allowed; without, only `broadcast`.
    pub numbered: bool,
    /// Whether the room keeps presence.
    pub presence: bool,
    /// Most members the room admits, if bounded.
    #[tsify(type = "number | null")]
    pub max_members: Option<u32>,
}

/// A page of a room's history (`room.history`).
#[allow(dead_code)]
#[derive(Tsify)]
pub struct HistoryPage<M> {
    /// The room's epoch the seqs belong to.
    #[tsify(type = "number")]
    pub epoch: u64,
    /// The messages, oldest first.
    pub messages: Vec<MessageEvent<M>>,
    /// Whether older messages are stored: ask again with `before` the first seq here.
    pub more: bool,
}
