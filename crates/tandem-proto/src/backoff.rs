//! Reconnect backoff: exponential with full jitter, a fast first retry, a cap, optional
//! max attempts and a reset after a stable uptime.

use core::time::Duration;

use crate::rng::Rng;

/// The reconnect schedule. Attempt `n` (1-based) waits a uniform random time in
/// `0..=min(max, initial * 2^(n-1))` ("full jitter"); a server hint is added on top.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Backoff {
    /// The ceiling of the first retry's delay. Default 250 ms, so the first retry is fast.
    pub initial: Duration,
    /// The largest ceiling. Default 5 s (as Socket.IO and Phoenix): after the network
    /// heals, a client waits at most this long, whatever happened before.
    pub max: Duration,
    /// Give up after this many failed attempts in a row. Default `None`: never give up.
    pub max_attempts: Option<u32>,
    /// A connection open this long resets the attempt counter. Default 5 s.
    pub stable_after: Duration,
}

impl Default for Backoff {
    fn default() -> Self {
        Backoff {
            initial: Duration::from_millis(250),
            max: Duration::from_secs(5),
            max_attempts: None,
            stable_after: Duration::from_secs(5),
        }
    }
}

impl Backoff {
    /// The ceiling of attempt `attempt`'s delay (before jitter): `min(max, initial * 2^(attempt-1))`.
    pub fn ceiling(&self, attempt: u32) -> Duration {
        let shift = attempt.saturating_sub(1).min(32);
        let ms = u64::try_from(self.initial.as_millis())
            .unwrap_or(u64::MAX)
            .saturating_mul(1u64 << shift);
        Duration::from_millis(ms).min(self.max)
    }

    /// The delay before attempt `attempt` (1-based), or `None` when attempts are exhausted.
    /// With a server `hint`, the delay is the hint plus the jittered delay, so a herd of
    /// clients told to wait spreads out after the wait instead of returning at once.
    pub fn delay(&self, attempt: u32, hint: Option<Duration>, rng: &mut Rng) -> Option<Duration> {
        if self.max_attempts.is_some_and(|max| attempt > max) {
            return None;
        }
        let ceiling = u64::try_from(self.ceiling(attempt).as_millis()).unwrap_or(u64::MAX);
        let jitter = Duration::from_millis(rng.below_or_eq(ceiling));
        Some(hint.unwrap_or_default() + jitter)
    }
}
