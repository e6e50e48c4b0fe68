//! A room's history: the stored event frames, oldest first, bounded by count, age and
//! bytes. The bytes bound is what keeps a room's memory in check whatever its rate; the
//! age bound is what a client can count on to resume after an outage.

use core::ops::Deref;
use std::collections::VecDeque;

use bytes::Bytes;

use core::time::Duration;

use crate::time::Instant;

/// What one stored frame costs besides its bytes: the entry (48 bytes) and its share of
/// the deque, rounded up. Counted so a room of tiny messages is bounded too.
const ENTRY_OVERHEAD: usize = 64;

/// How much one room keeps (from `HubConfig`).
#[derive(Debug, Clone, Copy)]
pub(crate) struct Bounds {
    /// Most frames.
    pub len: usize,
    /// Oldest frame's age.
    pub age: Duration,
    /// Most bytes, frames plus [`ENTRY_OVERHEAD`] each.
    pub bytes: usize,
}

/// One stored event frame.
pub(crate) struct Stored {
    pub seq: u64,
    pub at: Instant,
    pub frame: Bytes,
}

impl Stored {
    fn cost(&self) -> usize {
        self.frame.len() + ENTRY_OVERHEAD
    }
}

/// The stored frames of one room, in seq order, with their total cost. Read through
/// `Deref`; changed only here, so the cost stays true.
#[derive(Default)]
pub(crate) struct History {
    entries: VecDeque<Stored>,
    bytes: usize,
}

impl Deref for History {
    type Target = VecDeque<Stored>;

    fn deref(&self) -> &VecDeque<Stored> {
        &self.entries
    }
}

impl FromIterator<Stored> for History {
    fn from_iter<I: IntoIterator<Item = Stored>>(iter: I) -> Self {
        let entries: VecDeque<Stored> = iter.into_iter().collect();
        let bytes = entries.iter().map(Stored::cost).sum();
        History { entries, bytes }
    }
}

impl IntoIterator for History {
    type Item = Stored;
    type IntoIter = std::collections::vec_deque::IntoIter<Stored>;

    fn into_iter(self) -> Self::IntoIter {
        self.entries.into_iter()
    }
}

impl History {
    /// Appends `stored` (the caller keeps seq order).
    pub fn push(&mut self, stored: Stored) {
        self.bytes += stored.cost();
        self.entries.push_back(stored);
    }

    /// Forgets everything.
    pub fn clear(&mut self) {
        self.entries.clear();
        self.bytes = 0;
    }

    /// The cost of what is stored: frame bytes plus a fixed overhead per entry.
    #[cfg(test)]
    pub fn bytes(&self) -> usize {
        self.bytes
    }

    /// Drops the oldest frames until every bound holds.
    pub fn trim(&mut self, now: Instant, bounds: &Bounds) {
        while let Some(oldest) = self.entries.front() {
            let over = self.entries.len() > bounds.len
                || self.bytes > bounds.bytes
                || now.saturating_since(oldest.at) > bounds.age;
            if !over {
                break;
            }
            self.bytes -= oldest.cost();
            self.entries.pop_front();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn stored(seq: u64, at_ms: u64, len: usize) -> Stored {
        Stored {
            seq,
            at: Instant::from_millis(at_ms),
            frame: Bytes::from(vec![b'x'; len]),
        }
    }

    fn config(len: usize, age_s: u64, bytes: usize) -> Bounds {
        Bounds {
            len,
            age: Duration::from_secs(age_s),
            bytes,
        }
    }

    fn seqs(h: &History) -> Vec<u64> {
        h.iter().map(|s| s.seq).collect()
    }

    #[test]
    fn the_bytes_bound_drops_the_oldest_frames_first() {
        let mut h = History::default();
        for seq in 1..=10 {
            h.push(stored(seq, 0, 100 - ENTRY_OVERHEAD));
        }
        assert_eq!(h.bytes(), 1_000);
        h.trim(Instant::from_millis(0), &config(100, 60, 450));
        assert_eq!(seqs(&h), [7, 8, 9, 10]);
        assert_eq!(h.bytes(), 400);
    }

    #[test]
    fn the_age_and_count_bounds_hold_too() {
        let mut h: History = (1..=5).map(|seq| stored(seq, seq * 1_000, 10)).collect();
        h.trim(Instant::from_millis(7_500), &config(100, 4, usize::MAX));
        assert_eq!(seqs(&h), [4, 5], "older than 4 s at 7.5 s");
        h.trim(Instant::from_millis(7_500), &config(1, 60, usize::MAX));
        assert_eq!(seqs(&h), [5]);
        h.clear();
        assert_eq!((h.len(), h.bytes()), (0, 0));
    }
}
