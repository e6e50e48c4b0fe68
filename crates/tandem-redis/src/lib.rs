//! A Redis broker for tandem: run several `tandem serve` nodes behind a load balancer,
//! joined through one Redis.
//!
//! - Each room's messages are numbered by one Lua script in Redis (`HINCRBY`), so the
//!   whole cluster sees one order, and spread to every node over one pub/sub channel.
//! - The history lives in Redis, bounded by count and age, so a client resumes on any node
//!   and across restarts of every node.
//! - Presence spans the nodes: a user is one member however many nodes it is on, and each
//!   node renews a liveness key; when a node dies its members leave once the key expires.
//! - When Redis cannot be reached the node says so (`/healthz` 503, logs) and sends its
//!   clients away with 1013 and a retry hint; they resume once Redis is back.
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
//! The keys, all under a prefix (default `tandem`): `room:<room>` (epoch, seq),
//! `hist:<room>` (retained events), `pm:<room>` / `pc:<room>` (members' metadata and node
//! counts), `np:<node>` (what each node holds), `node:<node>` (liveness), `nodes`, and the
//! channel `bus`. One Redis (or a primary with replicas), not Redis Cluster: the scripts
//! touch keys of several rooms.

mod broker;
mod error;
mod scripts;
mod wire;
mod worker;

pub use broker::{RedisBroker, RedisOptions};
pub use error::RedisBrokerError;

/// Public wrappers for the fuzz targets in `fuzz/` (feature `fuzzing`, off by default).
#[cfg(feature = "fuzzing")]
#[doc(hidden)]
pub mod fuzzing;
