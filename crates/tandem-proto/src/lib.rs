//! The IO-free protocol core of tandem.
//!
//! Nothing here touches a socket, a clock or a global random source. Each side is a state
//! machine: inputs go in (`handle_*(now, ...)` and user commands), outputs come out
//! (`poll_transmit()`, `poll_event()`, `poll_timeout()`). The browser (wasm) and native
//! (tokio) transports are thin drivers of the same machines, so every reconnect, backoff,
//! heartbeat, resume and ack rule is written once here and tested without sleeping.
//!
//! A client driver's run loop:
//!
//! ```
//! use tandem_proto::{ClientConfig, ClientEvent, Instant, Session, Transmit};
//!
//! let mut session = Session::new(ClientConfig::default(), 42);
//! let now = Instant::from_millis(0);
//! session.connect(now);
//! while let Some(t) = session.poll_transmit() {
//!     match t {
//!         Transmit::Connect { protocols } => { /* open a WebSocket offering `protocols` */ }
//!         Transmit::Send(text) => { /* send one text frame */ }
//!         Transmit::Close { code, reason } => { /* close the socket */ }
//!     }
//! }
//! while let Some(event) = session.poll_event() {
//!     if let ClientEvent::StateChanged(state) = event { println!("{state:?}"); }
//! }
//! // Then wait for: the socket opening (`handle_open`), a frame (`handle_message`), the
//! // socket closing (`handle_closed`), the timer at `poll_timeout()` (`handle_timeout`),
//! // or a user command (`join`, `publish`, `request`, `leave`, `close`), and drain again.
//! ```
//!
//! The server side is [`Server`]: one per node, owning every [`ServerConnection`] and the
//! room [`Hub`]; its docs show its run loop. PROTOCOL.md at the repository root is the
//! wire format.

pub mod backoff;
pub mod client;
pub mod close;
pub mod codec;
pub mod error;
mod fifo;
pub mod frame;
pub mod heartbeat;
mod json;
pub mod negotiate;
mod payload;
pub mod rate;
pub mod rng;
pub mod server;
mod table;
pub mod time;

pub use backoff::Backoff;
pub use client::{
    ClientConfig, ClientEvent, CloseReason, ConnectionState, OpError, QueueLimits, Session,
    TokenError, Transmit,
};
pub use close::CloseAction;
pub use codec::{
    DEFAULT_MAX_FRAME_BYTES, DecodeError, decode, decode_from_client, decode_from_server,
    decode_payload, encode, encode_event_around_seq, encode_members, encode_page, encode_payload,
};
pub use error::ErrorCode;
pub use frame::{ErrorBody, Frame, Id, Kind, Member, Payload};
pub use heartbeat::{Heartbeat, HeartbeatAction, HeartbeatConfig};
pub use negotiate::{
    AppSchema, NegotiationError, PROTOCOL_MARKER, PROTOCOL_V1_JSON, ProtocolSelection,
};
pub use rate::RateLimit;
pub use rng::Rng;
pub use server::{Admission, PublishDecision, Right, Rights, RoomGrant, RoomGrants, RoomPattern};
pub use server::{
    ConnId, ConnState, Delivery, FrameClass, HistoryLimits, HistoryPage, Hub, HubConfig,
    JoinRequest, MemberChange, Notice, Recipients, RoomPolicies, RoomPolicy, RoomState, Server,
    ServerConfig, ServerConnection, ServerEvent, ServerTransmit, Start, Stats, Unreadable,
};
pub use time::Instant;

/// Public wrappers for the fuzz targets in `fuzz/` (feature `fuzzing`, off by default).
#[cfg(feature = "fuzzing")]
#[doc(hidden)]
pub mod fuzzing;
