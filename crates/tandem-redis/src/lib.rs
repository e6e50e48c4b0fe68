//! A Redis broker for tandem: run several `tandem serve` nodes behind a load balancer,
//! joined through one Redis or a Redis Cluster.
//!
//! - Each room's messages are numbered by one Lua script in Redis (`HINCRBY`), so the
//!   whole cluster sees one order, and spread on the room's own channel: a node subscribes
//!   to a room only while it has members in it, so it receives only its rooms' traffic
//!   (sharded pub/sub, `SSUBSCRIBE`/`SPUBLISH`, on a Redis Cluster).
//! - Every key of a room shares its hash tag (`{room}`), so on a Redis Cluster each room
//!   lives on one shard and every script declares its keys and touches one slot.
//! - The history lives in Redis, bounded by count and age, so a client resumes on any node
//!   and across restarts of every node.
//! - Presence spans the nodes: a user is one member however many nodes it is on, and each
//!   node renews its liveness; when a node dies its members leave once it expires.
//! - When Redis cannot be reached the node says so (`/healthz` 503, logs) and sends its
//!   clients away with 1013 and a retry hint; they resume once Redis is back. On a Redis
//!   Cluster a shard's failover fails only that shard's operations (`unavailable`), and
//!   what its rooms' subscriptions missed sends those rooms' clients to resume; a failover
//!   that lost acknowledged messages gives the room a new epoch (`recovered: false`).
//!
//! ```no_run
//! use std::sync::Arc;
//! use tandem_redis::RedisBroker;
//! use tandem_server::Server;
//!
//! # async fn run() -> Result<(), Box<dyn std::error::Error>> {
//! let broker = RedisBroker::new("redis://127.0.0.1:6379")?;
//! let running = Server::builder()
//!     .cluster(Arc::new(broker))
//!     .build()
//!     .bind("127.0.0.1:8080")
//!     .await?;
//! # Ok(())
//! # }
//! ```
//!
//! `RedisBroker::new("redis+cluster://10.0.0.1:7000,10.0.0.2:7000")` joins a Redis Cluster
//! by any of its nodes. Where each thing lives: see `keys.rs`.

mod broker;
mod error;
mod keys;
mod scripts;
mod subscriber;
mod wire;
mod worker;

pub use broker::{RedisBroker, RedisOptions};
pub use error::RedisBrokerError;

/// Public wrappers for the fuzz targets in `fuzz/` (feature `fuzzing`, off by default).
#[cfg(feature = "fuzzing")]
#[doc(hidden)]
pub mod fuzzing;
