//! The client's offline queue: bounded by count and bytes, kept in order.

use crate::fifo::Fifo;
use crate::frame::Id;
use crate::time::Instant;

/// Bounds of the offline queue. Defaults: 1,000 frames, 1 MiB.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct QueueLimits {
    /// Most frames waiting.
    pub max_count: usize,
    /// Most bytes waiting (encoded frames).
    pub max_bytes: usize,
}

impl Default for QueueLimits {
    fn default() -> Self {
        QueueLimits {
            max_count: 1000,
            max_bytes: 1024 * 1024,
        }
    }
}

/// One frame waiting to be sent.
#[derive(Debug, Clone)]
pub(crate) struct Queued {
    pub id: Id,
    /// The room the frame needs joined first, if any.
    pub room: Option<String>,
    pub text: String,
    pub is_request: bool,
    pub deadline: Option<Instant>,
}

/// Frames waiting for the connection (or their room) to be ready.
#[derive(Debug, Default)]
pub(crate) struct OfflineQueue {
    items: Fifo<Queued>,
    bytes: usize,
}

impl OfflineQueue {
    /// Adds `item` at the back, or gives it back when that would overflow `limits`.
    pub fn push(&mut self, item: Queued, limits: &QueueLimits) -> Result<(), Queued> {
        if self.items.len() >= limits.max_count || self.bytes + item.text.len() > limits.max_bytes {
            return Err(item);
        }
        self.bytes += item.text.len();
        self.items.push_back(item);
        Ok(())
    }

    pub fn len(&self) -> usize {
        self.items.len()
    }

    pub fn bytes(&self) -> usize {
        self.bytes
    }

    pub fn has_room(&self, room: &str) -> bool {
        self.items.iter().any(|q| q.room.as_deref() == Some(room))
    }

    /// Removes, in order, every item `ready` accepts.
    pub fn take_ready(&mut self, mut ready: impl FnMut(&Queued) -> bool) -> Vec<Queued> {
        let mut out = Vec::new();
        let mut keep = Fifo::new();
        for item in self.items.drain() {
            if ready(&item) {
                self.bytes -= item.text.len();
                out.push(item);
            } else {
                keep.push_back(item);
            }
        }
        self.items = keep;
        out
    }

    pub fn next_deadline(&self) -> Option<Instant> {
        self.items.iter().filter_map(|q| q.deadline).min()
    }
}
