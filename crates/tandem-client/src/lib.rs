//! The tandem client: one typed API over two transports, chosen by target (tokio +
//! tokio-tungstenite natively; the browser's WebSocket on wasm32). Every protocol rule
//! (reconnect, backoff, heartbeat, resume, offline queue, acks) lives in `tandem-proto`;
//! this crate drives it and types the payloads with the application's own serde types.
//!
//! ```no_run
//! use serde::{Deserialize, Serialize};
//! use tandem_client::{Client, Config, Event};
//!
//! #[derive(Serialize, Deserialize)]
//! struct Chat { text: String }
//!
//! # async fn run() -> Result<(), tandem_client::Error> {
//! let client: Client<Chat> = Client::connect("ws://127.0.0.1:8080", Config::new()).await?;
//! let mut events = client.events();
//! client.join("lobby").await?;
//! client.publish("lobby", &Chat { text: "hi".into() }).await?;
//! while let Some(event) = events.next().await {
//!     if let Event::Message { from, data, .. } = event {
//!         println!("{from:?}: {}", data.text);
//!     }
//! }
//! # Ok(())
//! # }
//! ```

#[cfg(target_arch = "wasm32")]
mod callback;
mod client;
mod command;
mod config;
mod driver;
mod endpoints;
mod error;
mod event;
#[cfg(target_arch = "wasm32")]
mod handover;
mod in_flight;
#[cfg(not(target_arch = "wasm32"))]
mod native;
#[cfg(not(target_arch = "wasm32"))]
mod tls;
#[cfg(target_arch = "wasm32")]
mod web;

/// What [`Client`] starts its driver with, and checks URLs with, on this target.
#[cfg(not(target_arch = "wasm32"))]
use native as transport;
/// What [`Client`] starts its driver with, and checks URLs with, on this target: the
/// callback client over the browser's `WebSocket`.
#[cfg(target_arch = "wasm32")]
mod transport {
    pub(crate) use crate::callback::spawn;
    pub(crate) use crate::web::check_url;
}

#[cfg(target_arch = "wasm32")]
pub use callback::CallbackClient;
pub use client::{Client, Events};
pub use command::{HistoryQuery, JoinOptions};
#[cfg(target_arch = "wasm32")]
pub use config::TokenReply;
pub use config::{Config, MaybeSend, MaybeSync, TokenFuture};
pub use error::Error;
pub use event::{Event, HistoryMessage, HistoryPage, IncomingRequest, Joined};
pub use tandem_proto::{
    AppSchema, Backoff, ClientEvent, CloseReason, ConnectionState, ErrorBody, ErrorCode,
    HeartbeatConfig, Member, OpError, Payload, QueueLimits, TokenError,
};

/// The README's examples, compiled and run as doctests.
#[cfg(doctest)]
#[doc = include_str!("../../../README.md")]
struct ReadmeDoctests;
