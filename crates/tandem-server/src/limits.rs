//! The IO limits of one server node, each with a documented default.

use core::time::Duration;

/// IO limits of one server node: buffers, queues, the HTTP handshake and how many
/// connections. Every field has a default, chosen so that an idle connection costs little
/// memory and no client can make the server's memory grow without bound.
///
/// The protocol's own limits (largest message, rate, rooms per connection, the time until
/// `hello`) are not here: their one owner is [`tandem_proto::ServerConfig`], set through
/// [`crate::ServerBuilder::max_message_bytes`], [`crate::ServerBuilder::rate`],
/// [`crate::ServerBuilder::max_rooms_per_connection`], [`crate::ServerBuilder::hello_timeout`]
/// or [`crate::ServerBuilder::configure`].
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct Limits {
    /// Frames waiting to be written to one connection; when full, the connection is a slow
    /// consumer and is closed with 1013. Default 1,024.
    pub outbound_queue: usize,
    /// Time a new TCP connection has to send its HTTP upgrade request head; a slower one
    /// gets 408. Default 10 s. (The time from the upgrade to `hello` is the protocol's
    /// `ServerConfig::hello_timeout`.)
    pub http_head_timeout: Duration,
    /// Largest HTTP request head (request line and headers) in bytes; a bigger one gets
    /// 431. Default 8 KiB.
    pub max_header_bytes: usize,
    /// WebSocket read buffer per connection, allocated up front (tungstenite's own default
    /// of 128 KiB is far too large for many idle connections), and the most one read takes
    /// from the socket. Default 512 bytes: an idle connection keeps it whole, while client
    /// frames are small; a server taking many large messages reads faster with more.
    pub read_buffer_bytes: usize,
    /// Most bytes framed and written to the socket at once. Queued frames are framed into
    /// a buffer of up to this size (a larger frame on its own), which is freed once the
    /// queue is written: an idle connection keeps no write buffer. Default 8 KiB.
    pub write_buffer_bytes: usize,
    /// Bytes of tungstenite's own frames (pongs, the close handshake) that may pile up
    /// unwritten before the connection is treated as broken. Default 1 MiB.
    pub max_write_buffer_bytes: usize,
    /// Open connections the node accepts; more are refused with 503. Default 100,000.
    pub max_connections: usize,
    /// TCP connections in their HTTP handshake at once; further ones wait in the kernel's
    /// listen backlog until one finishes. This bounds what a reconnect storm costs (5,000
    /// clients returning after a restart) without refusing anyone. Default 512.
    pub max_handshakes: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            outbound_queue: 1024,
            http_head_timeout: Duration::from_secs(10),
            max_header_bytes: 8 * 1024,
            read_buffer_bytes: 512,
            write_buffer_bytes: 8 * 1024,
            max_write_buffer_bytes: 1024 * 1024,
            max_connections: 100_000,
            max_handshakes: 512,
        }
    }
}
