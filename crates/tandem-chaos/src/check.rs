//! The exactly-once checker of one subscriber in one room: every numbered message in order,
//! never twice, or a signalled gap (`Joined { recovered: Some(false) }`).
//!
//! The rule, as PROTOCOL.md promises it: a message whose `seq` is the last one plus 1 is
//! fine; a `seq` at or below the last is a duplicate; a `seq` above last + 1 is a loss,
//! *signalled* when a `recovered: false` rejoin came since the last message and *silent*
//! otherwise. After a `recovered: false` the room may have restarted its numbering (a
//! standalone node restarted: a new epoch), so the next message sets the position afresh;
//! how many messages the signalled gap holds is counted with the publisher's own message
//! number `n`, carried in every payload, against the set it saw acknowledged.

/// The checker's view of one subscriber.
#[derive(Debug, Default, Clone)]
pub struct Track {
    /// The last `seq` accepted (0 before the first: every scenario's room starts empty).
    last_seq: u64,
    /// The publisher's number `n` of the last message (0 before the first).
    last_n: u64,
    /// A `recovered: false` rejoin came since the last message.
    signalled: bool,
    /// Messages accepted.
    pub received: u64,
    /// The highest publisher number seen.
    pub max_n: u64,
    /// Messages received at or below the last `seq` (never allowed).
    pub duplicates: u64,
    /// Messages skipped by a `seq` jump without a signal (never allowed).
    pub silent_lost: u64,
    /// `(after, before)`: publisher numbers strictly between them were lost with a signal.
    pub signalled_gaps: Vec<(u64, u64)>,
    /// `recovered: false` rejoins.
    pub not_recovered: u64,
    /// `recovered: true` rejoins.
    pub recovered: u64,
    /// The first silent jump or duplicate, for the report: `(last seq, seq)`.
    pub first_violation: Option<(u64, u64)>,
}

impl Track {
    /// A `Joined` event: `recovered` is `None` for the first join.
    pub fn on_joined(&mut self, recovered: Option<bool>) {
        match recovered {
            Some(false) => {
                self.not_recovered += 1;
                self.signalled = true;
            }
            Some(true) => self.recovered += 1,
            None => {}
        }
    }

    /// A message (`n`: the publisher's number in its payload, `None` if it did not
    /// decode).
    pub fn on_message(&mut self, seq: u64, n: Option<u64>) {
        if self.signalled {
            // A signalled gap: the numbering may have restarted, so no order check across
            // it; what was lost is counted by the publisher's numbers.
            self.signalled = false;
            if let Some(n) = n
                && n > self.last_n + 1
            {
                self.signalled_gaps.push((self.last_n, n));
            }
        } else if seq <= self.last_seq {
            self.duplicates += 1;
            self.first_violation.get_or_insert((self.last_seq, seq));
            return;
        } else if seq > self.last_seq + 1 {
            self.silent_lost += seq - self.last_seq - 1;
            self.first_violation.get_or_insert((self.last_seq, seq));
        }
        self.last_seq = seq;
        self.received += 1;
        if let Some(n) = n {
            self.last_n = n;
            self.max_n = self.max_n.max(n);
        }
    }

    /// Messages lost with a signal: the acknowledged publisher numbers inside the
    /// signalled gaps (`acked(n)` says whether `n` was acknowledged).
    pub fn signalled_lost(&self, acked: impl Fn(u64) -> bool) -> u64 {
        self.signalled_gaps
            .iter()
            .map(|&(after, before)| (after + 1..before).filter(|&n| acked(n)).count() as u64)
            .sum()
    }

    /// Whether every message came exactly once, in order, with no gap of any kind.
    #[cfg(test)]
    fn exact(&self) -> bool {
        self.duplicates == 0 && self.silent_lost == 0 && self.signalled_gaps.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::Track;

    #[test]
    fn consecutive_messages_are_exact() {
        let mut t = Track::default();
        t.on_joined(None);
        for s in 1..=5 {
            t.on_message(s, Some(s));
        }
        assert!(t.exact());
        assert_eq!((t.received, t.max_n), (5, 5));
    }

    #[test]
    fn a_jump_without_a_signal_is_silent_loss() {
        let mut t = Track::default();
        t.on_message(1, Some(1));
        t.on_joined(Some(true));
        t.on_message(5, Some(5));
        assert_eq!(t.silent_lost, 3);
        assert_eq!(t.first_violation, Some((1, 5)));
        assert!(!t.exact());
    }

    #[test]
    fn a_repeat_is_a_duplicate_and_not_accepted() {
        let mut t = Track::default();
        t.on_message(1, Some(1));
        t.on_message(2, Some(2));
        t.on_message(2, Some(2));
        t.on_message(3, Some(3));
        assert_eq!((t.duplicates, t.received, t.silent_lost), (1, 3, 0));
    }

    #[test]
    fn a_signalled_gap_counts_acknowledged_numbers_and_allows_a_new_epoch() {
        let mut t = Track::default();
        t.on_message(1, Some(1));
        t.on_message(2, Some(2));
        t.on_joined(Some(false));
        // The node restarted: its numbering starts again at 1.
        t.on_message(1, Some(7));
        t.on_message(2, Some(8));
        assert_eq!((t.duplicates, t.silent_lost), (0, 0));
        // 3..=6 are inside the gap; 5 was never acknowledged (the publish failed).
        assert_eq!(t.signalled_lost(|n| n != 5), 3);
        assert!(!t.exact());
    }

    #[test]
    fn a_signal_with_nothing_missing_is_still_exact() {
        let mut t = Track::default();
        t.on_message(1, Some(1));
        t.on_joined(Some(false));
        t.on_message(2, Some(2));
        assert!(t.exact());
        assert_eq!(t.not_recovered, 1);
    }
}
