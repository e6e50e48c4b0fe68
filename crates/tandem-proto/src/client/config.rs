//! How a client behaves: one owner for each of its settings.

use core::time::Duration;

use super::queue::QueueLimits;
use crate::backoff::Backoff;
use crate::heartbeat::HeartbeatConfig;
use crate::negotiate::{AppSchema, client_offer};

/// How a client behaves. Every field has a documented default.
#[derive(Debug, Clone)]
pub struct ClientConfig {
    /// The application schema offered in `hello`. Default `"default"` v1.
    pub app: AppSchema,
    /// The token sent in `hello`, if any. Default none.
    pub token: Option<String>,
    /// Ask the driver for a fresh token ([`crate::ClientEvent::TokenRequired`]) before every
    /// connection attempt, and when the server asks for one for the open session
    /// (`refresh`: sent back in `token`). Default false.
    pub refresh_token: bool,
    /// The reconnect schedule.
    pub backoff: Backoff,
    /// Heartbeat timings used until the server's `welcome` announces its own.
    pub heartbeat: HeartbeatConfig,
    /// Bounds of the offline queue.
    pub queue: QueueLimits,
    /// How long a request may wait for its response, queued time included. Default 10 s.
    pub request_timeout: Duration,
    /// How long a sent publish may wait for its ack. Default 10 s.
    pub publish_timeout: Duration,
    /// How long opening the socket plus the hello/welcome step may take. Default 10 s.
    pub handshake_timeout: Duration,
    /// Largest frame accepted from the server. Default 1 MiB.
    pub max_inbound_bytes: usize,
    /// The WebSocket subprotocols offered, in preference order. Default
    /// [`client_offer`]: every protocol version this client speaks, then the `tandem`
    /// marker (so an incompatible server explains itself with close 4005).
    pub protocols: Vec<String>,
}

impl Default for ClientConfig {
    fn default() -> Self {
        ClientConfig {
            app: AppSchema::default(),
            token: None,
            refresh_token: false,
            backoff: Backoff::default(),
            heartbeat: HeartbeatConfig::default(),
            queue: QueueLimits::default(),
            request_timeout: Duration::from_secs(10),
            publish_timeout: Duration::from_secs(10),
            handshake_timeout: Duration::from_secs(10),
            max_inbound_bytes: 1024 * 1024,
            protocols: client_offer(),
        }
    }
}
