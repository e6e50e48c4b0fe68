//! The state the accept loop, every connection task and every [`crate::Handle`] share.

use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, AtomicUsize};

use tokio::sync::mpsc;

use crate::broker::Broker;
use crate::command::Command;
use crate::limits::Limits;
use crate::metrics::Metrics;
use crate::origin::OriginPolicy;

/// State shared by the accept loop and every connection task.
pub(crate) struct Shared {
    pub limits: Limits,
    /// The protocol's largest message (`ServerConfig::max_frame_bytes`, its one owner),
    /// read here to size the WebSocket's own cut-off.
    pub max_message_bytes: usize,
    pub origins: OriginPolicy,
    pub broker: Arc<dyn Broker>,
    pub commands: mpsc::Sender<Command>,
    pub next_conn: AtomicU64,
    pub connections: AtomicUsize,
    pub static_files: Option<PathBuf>,
    /// What the connection tasks and broker calls count (`/metrics`).
    pub metrics: Metrics,
    /// The upgrade headers a backend's connect hook wants (`crate::webhook`): each
    /// connection keeps these until its hello is decided; `None` keeps nothing.
    pub forward_headers: Option<Arc<[String]>>,
}
