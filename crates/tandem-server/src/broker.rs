//! The `Broker` seam: how one node's server-side broadcasts reach every node of a cluster.
//!
//! A single node needs nothing more than [`MemoryBroker`], the default: it hands each
//! broadcast straight back to the nodes attached to it in this process. A multi-node
//! backend (Redis) implements the same trait.

use std::sync::Arc;

use tandem_proto::Payload;
use tokio::sync::broadcast;

use crate::hooks::BoxFuture;

/// One server-side broadcast travelling between nodes.
#[derive(Debug, Clone)]
pub struct Publication {
    /// The room.
    pub room: String,
    /// The payload, already JSON.
    pub data: Arc<Payload>,
}

/// Why a broker could not take a publication.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum BrokerError {
    /// The backend cannot be reached; try again later.
    #[error("broker unavailable: {0}")]
    Unavailable(String),
}

/// Carries server-side broadcasts between the nodes of a cluster.
pub trait Broker: Send + Sync + 'static {
    /// A short name for logs and `/healthz`.
    fn name(&self) -> &'static str;
    /// Publishes to every attached node, this one included.
    fn publish(&self, publication: Publication) -> BoxFuture<Result<(), BrokerError>>;
    /// Attaches a node: every later publication arrives on the receiver.
    fn subscribe(&self) -> broadcast::Receiver<Publication>;
    /// Whether the backend is reachable now.
    fn is_healthy(&self) -> bool;
}

/// The in-process broker: every node attached to one `MemoryBroker` (normally just one)
/// receives every publication. The default.
#[derive(Debug, Clone)]
pub struct MemoryBroker {
    tx: broadcast::Sender<Publication>,
}

impl Default for MemoryBroker {
    fn default() -> Self {
        // A lagging node loses the oldest broadcasts beyond this many and logs it.
        let (tx, _) = broadcast::channel(1024);
        MemoryBroker { tx }
    }
}

impl Broker for MemoryBroker {
    fn name(&self) -> &'static str {
        "memory"
    }

    fn publish(&self, publication: Publication) -> BoxFuture<Result<(), BrokerError>> {
        // No receivers only means no node is running; nothing to deliver.
        let _ = self.tx.send(publication);
        Box::pin(async { Ok(()) })
    }

    fn subscribe(&self) -> broadcast::Receiver<Publication> {
        self.tx.subscribe()
    }

    fn is_healthy(&self) -> bool {
        true
    }
}
