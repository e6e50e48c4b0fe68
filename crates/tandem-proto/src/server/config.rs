//! A server node's protocol settings: the one owner of each (the driver's IO limits live
//! in the driver).

use core::time::Duration;

use super::HubConfig;
use super::policy::RoomPolicies;
use crate::codec::DEFAULT_MAX_FRAME_BYTES;
use crate::heartbeat::HeartbeatConfig;
use crate::negotiate::AppSchema;
use crate::rate::RateLimit;

/// Everything a server node is configured with. Every field has a documented default.
#[derive(Debug, Clone)]
pub struct ServerConfig {
    /// The application schema the server speaks. Default `"default"` v1.
    pub app: AppSchema,
    /// Heartbeat timings announced to clients. Default 25 s interval, 10 s timeout.
    pub heartbeat: HeartbeatConfig,
    /// Largest accepted frame in bytes. Default 64 KiB.
    pub max_frame_bytes: usize,
    /// Per-connection rate limit. Default 100 frames/s, burst 200.
    pub rate: RateLimit,
    /// Rooms, presence and history.
    pub hub: HubConfig,
    /// Each room's policy by its name. Default: every room gets the hub's history bounds,
    /// numbered and ephemeral messages, presence, and no member limit.
    pub policies: RoomPolicies,
    /// How long the server waits for a client's answer to its request. Default 10 s.
    pub request_timeout: Duration,
    /// How long a new connection has, from its upgrade, to send `hello`. Default 10 s.
    pub hello_timeout: Duration,
    /// Malformed frames tolerated (each answered with `error`) before closing 1007. Default 10.
    pub max_bad_frames: u32,
    /// Emit [`super::ServerEvent::Authenticate`] for each hello (else everyone is accepted,
    /// as user `conn-<id>`). Default false.
    pub authenticate: bool,
    /// Emit [`super::ServerEvent::AuthorizeJoin`] for each join (else every join is allowed). Default false.
    pub authorize_joins: bool,
    /// Emit [`super::ServerEvent::AuthorizePublish`] for each publish (else every publish a
    /// connection's rights allow goes out at once). Default false.
    pub authorize_publishes: bool,
    /// How long before a session's token expires the client is sent `refresh` (at most
    /// half the token's life). Default 60 s.
    pub token_refresh_ahead: Duration,
    /// Emit [`super::ServerEvent::Request`] for client requests (else they fail with `no_handler`). Default false.
    pub handle_requests: bool,
    /// How often connection deadlines are checked. Default 1 s.
    pub sweep_interval: Duration,
    /// Longest room name in bytes. Default 256.
    pub max_room_name: usize,
    /// User ids of connections accepted without authentication are this prefix and the
    /// connection id. Default `"conn-"`; a cluster node adds its own name so ids stay
    /// unique across nodes.
    pub anonymous_prefix: String,
}

impl Default for ServerConfig {
    fn default() -> Self {
        ServerConfig {
            app: AppSchema::default(),
            heartbeat: HeartbeatConfig::default(),
            max_frame_bytes: DEFAULT_MAX_FRAME_BYTES,
            rate: RateLimit::default(),
            hub: HubConfig::default(),
            policies: RoomPolicies::default(),
            request_timeout: Duration::from_secs(10),
            hello_timeout: Duration::from_secs(10),
            max_bad_frames: 10,
            authenticate: false,
            authorize_joins: false,
            authorize_publishes: false,
            token_refresh_ahead: Duration::from_secs(60),
            handle_requests: false,
            sweep_interval: Duration::from_secs(1),
            max_room_name: 256,
            anonymous_prefix: String::from("conn-"),
        }
    }
}
