//! A room's history: the stored event frames, oldest first, bounded by count, age and
//! bytes. The bytes bound is what keeps a room's memory in check whatever its rate; the
//! age bound is what a client can count on to resume after an outage.

use core::ops::Deref;
use std::collections::VecDeque;

use bytes::Bytes;

use crate::time::Instant;

/// What one stored frame costs besides its bytes: the entry (48 bytes) and its share of
/// the deque, rounded up. Counted so a room of tiny messages is bounded too.
const ENTRY_OVERHEAD: usize = 64;

/// How much one room keeps (its policy's history limits).
pub(crate) type Bounds = super::policy::HistoryLimits;

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

    /// The newest `limit` frames with a seq below `before` (all, without), oldest first,
    /// and whether older ones are stored.
    pub fn page(&self, before: Option<u64>, limit: usize) -> (impl Iterator<Item = &Stored>, bool) {
        let end = match before {
            Some(b) => self.entries.partition_point(|s| s.seq < b),
            None => self.entries.len(),
        };
        let start = end.saturating_sub(limit);
        (self.entries.range(start..end), start > 0)
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
    use core::time::Duration;

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

    #[test]
    fn a_page_is_the_newest_before_a_seq_with_whether_older_ones_exist() {
        let h: History = (5..=14).map(|seq| stored(seq, 0, 10)).collect();
        let page = |before, limit| {
            let (items, more) = h.page(before, limit);
            (items.map(|s| s.seq).collect::<Vec<_>>(), more)
        };
        assert_eq!(page(None, 3), (vec![12, 13, 14], true));
        assert_eq!(page(Some(12), 3), (vec![9, 10, 11], true));
        assert_eq!(page(Some(8), 3), (vec![5, 6, 7], false));
        assert_eq!(page(Some(7), 3), (vec![5, 6], false));
        assert_eq!(page(Some(5), 3), (vec![], false));
        assert_eq!(page(Some(100), 20), ((5..=14).collect(), false));
    }
}
