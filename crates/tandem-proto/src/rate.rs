//! The per-connection rate limit: a token bucket.

use crate::time::Instant;

/// Frames per second a connection may send, with a burst allowance.
/// Default 100 frames/s, bursts of 200; 20 rejected frames in a row close the connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RateLimit {
    /// Sustained frames per second.
    pub per_second: u32,
    /// Frames that may arrive at once.
    pub burst: u32,
    /// Rejected frames in a row after which the connection is closed (1008).
    pub max_strikes: u32,
}

impl Default for RateLimit {
    fn default() -> Self {
        RateLimit {
            per_second: 100,
            burst: 200,
            max_strikes: 20,
        }
    }
}

/// What the limiter says about one frame.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[must_use]
pub enum Verdict {
    /// Within the limit.
    Allow,
    /// Over the limit: reject this frame with `rate_limited`.
    Reject,
    /// Over the limit for too long: close the connection (1008).
    Close,
}

/// A token bucket, in milli-tokens so integer arithmetic is exact.
#[derive(Debug, Clone)]
pub struct RateLimiter {
    limit: RateLimit,
    milli_tokens: u64,
    last: Instant,
    strikes: u32,
}

impl RateLimiter {
    /// A full bucket at `now`.
    pub fn new(limit: RateLimit, now: Instant) -> Self {
        RateLimiter {
            limit,
            milli_tokens: u64::from(limit.burst) * 1000,
            last: now,
            strikes: 0,
        }
    }

    fn refill(&mut self, now: Instant) {
        let elapsed_ms = now.saturating_since(self.last).as_millis();
        self.last = now.max(self.last);
        let refill = u64::try_from(elapsed_ms)
            .unwrap_or(u64::MAX)
            .saturating_mul(u64::from(self.limit.per_second));
        let cap = u64::from(self.limit.burst) * 1000;
        self.milli_tokens = self.milli_tokens.saturating_add(refill).min(cap);
    }

    /// Sender's side: how many frames may go at `now` without waiting.
    pub fn available(&mut self, now: Instant) -> usize {
        self.refill(now);
        usize::try_from(self.milli_tokens / 1000).unwrap_or(usize::MAX)
    }

    /// Sender's side: one frame went at `now` (a frame that could not wait may take the
    /// bucket to empty; it never goes below).
    pub fn spend(&mut self, now: Instant) {
        self.refill(now);
        self.milli_tokens = self.milli_tokens.saturating_sub(1000);
    }

    /// Sender's side: when the next whole token is there (`now` if one is).
    pub fn next_token(&self, now: Instant) -> Instant {
        let missing = 1000u64.saturating_sub(self.milli_tokens);
        let per_ms = u64::from(self.limit.per_second.max(1));
        now + core::time::Duration::from_millis(missing.div_ceil(per_ms))
    }

    /// Takes one token for a frame arriving at `now`.
    pub fn check(&mut self, now: Instant) -> Verdict {
        self.refill(now);
        if self.milli_tokens >= 1000 {
            self.milli_tokens -= 1000;
            self.strikes = 0;
            return Verdict::Allow;
        }
        self.strikes += 1;
        if self.strikes >= self.limit.max_strikes {
            Verdict::Close
        } else {
            Verdict::Reject
        }
    }
}
