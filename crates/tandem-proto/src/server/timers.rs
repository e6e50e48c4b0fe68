//! Every deadline of a server node in one table (quinn's `TimerTable`): the driver arms one
//! timer at [`TimerTable::next`], and `handle_timeout` fires each timer that is due.

use crate::time::Instant;

/// A server node's timers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Timer {
    /// The sweep over connections (hello and heartbeat deadlines, request timeouts) and
    /// rooms (aged history, rooms nothing keeps). Runs every `sweep_interval` while there
    /// are connections.
    Sweep = 0,
    /// The rooms' earliest deadline: a lingering member's end, or a presence window's.
    Rooms = 1,
    /// The sessions' earliest token deadline: when to send a `refresh`, or to close a
    /// session whose token expired (4002). Kept exact rather than on the sweep, so a
    /// token with seconds to live still gets its `refresh` before it runs out.
    Tokens = 2,
}

/// When each [`Timer`] fires, if armed.
#[derive(Debug, Default)]
pub(crate) struct TimerTable {
    at: [Option<Instant>; 3],
}

impl TimerTable {
    /// Arms `timer` at `at`, or stops it with `None`.
    pub fn set(&mut self, timer: Timer, at: Option<Instant>) {
        self.at[timer as usize] = at;
    }

    /// When `timer` fires, if armed.
    pub fn get(&self, timer: Timer) -> Option<Instant> {
        self.at[timer as usize]
    }

    /// Whether `timer` is armed and due at `now`.
    pub fn is_due(&self, timer: Timer, now: Instant) -> bool {
        self.get(timer).is_some_and(|t| t <= now)
    }

    /// The earliest armed timer.
    pub fn next(&self) -> Option<Instant> {
        self.at.iter().flatten().min().copied()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_next_deadline_is_the_earliest_armed_timer() {
        let mut t = TimerTable::default();
        assert_eq!(t.next(), None);
        t.set(Timer::Sweep, Some(Instant::from_millis(2_000)));
        t.set(Timer::Rooms, Some(Instant::from_millis(1_500)));
        assert_eq!(t.next(), Some(Instant::from_millis(1_500)));
        assert!(t.is_due(Timer::Rooms, Instant::from_millis(1_500)));
        assert!(!t.is_due(Timer::Sweep, Instant::from_millis(1_500)));
        t.set(Timer::Rooms, None);
        assert_eq!(t.next(), Some(Instant::from_millis(2_000)));
    }
}
