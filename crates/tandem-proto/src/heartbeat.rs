//! Application-level heartbeat (browsers cannot send WebSocket pings), with an interval
//! and a separate timeout, used by both sides.

use core::time::Duration;

use crate::frame::HeartbeatTimings;
use crate::time::Instant;

/// Heartbeat timings. Defaults: interval 25 s, timeout 10 s.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HeartbeatConfig {
    /// The active side pings when either direction has been quiet this long.
    pub interval: Duration,
    /// After a ping, the peer must send something within this long.
    pub timeout: Duration,
}

impl Default for HeartbeatConfig {
    fn default() -> Self {
        HeartbeatConfig {
            interval: Duration::from_secs(25),
            timeout: Duration::from_secs(10),
        }
    }
}

impl HeartbeatConfig {
    /// The timings as announced in `welcome`.
    pub fn timings(&self) -> HeartbeatTimings {
        HeartbeatTimings {
            interval_ms: u64::try_from(self.interval.as_millis()).unwrap_or(u64::MAX),
            timeout_ms: u64::try_from(self.timeout.as_millis()).unwrap_or(u64::MAX),
        }
    }

    /// Timings received in `welcome`.
    pub fn from_timings(t: HeartbeatTimings) -> Self {
        HeartbeatConfig {
            interval: Duration::from_millis(t.interval_ms),
            timeout: Duration::from_millis(t.timeout_ms),
        }
    }
}

/// What the heartbeat wants done now.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[must_use]
pub enum HeartbeatAction {
    /// Nothing.
    Idle,
    /// Send a `ping` frame.
    SendPing,
    /// The peer is silent past its deadline: treat the connection as dead.
    Dead,
}

/// One connection's heartbeat.
///
/// The *active* side (the client) pings when either direction has been quiet for the
/// interval, and declares the peer dead if nothing arrives within the timeout after a
/// ping. The *passive* side (the server) never pings; it declares the peer dead if
/// nothing arrives for interval + timeout, which an active peer always beats.
#[derive(Debug, Clone)]
pub struct Heartbeat {
    config: HeartbeatConfig,
    active: bool,
    last_recv: Instant,
    last_sent: Instant,
    ping_sent: Option<Instant>,
}

impl Heartbeat {
    /// The client's heartbeat, starting at `now`.
    pub fn active(config: HeartbeatConfig, now: Instant) -> Self {
        Heartbeat {
            config,
            active: true,
            last_recv: now,
            last_sent: now,
            ping_sent: None,
        }
    }

    /// The server's heartbeat, starting at `now`.
    pub fn passive(config: HeartbeatConfig, now: Instant) -> Self {
        Heartbeat {
            active: false,
            ..Heartbeat::active(config, now)
        }
    }

    /// Something arrived from the peer.
    pub fn handle_recv(&mut self, now: Instant) {
        self.last_recv = now;
        self.ping_sent = None;
    }

    /// Something was sent to the peer.
    pub fn handle_sent(&mut self, now: Instant) {
        self.last_sent = now;
    }

    /// When [`Heartbeat::handle_timeout`] must next be called.
    pub fn poll_timeout(&self) -> Instant {
        if !self.active {
            return self.last_recv + self.config.interval + self.config.timeout;
        }
        match self.ping_sent {
            Some(at) => at + self.config.timeout,
            None => self.last_recv.min(self.last_sent) + self.config.interval,
        }
    }

    /// Advances the heartbeat to `now`.
    pub fn handle_timeout(&mut self, now: Instant) -> HeartbeatAction {
        if now < self.poll_timeout() {
            return HeartbeatAction::Idle;
        }
        if !self.active || self.ping_sent.is_some() {
            return HeartbeatAction::Dead;
        }
        self.ping_sent = Some(now);
        self.last_sent = now;
        HeartbeatAction::SendPing
    }

    /// Pings now (unless a ping is already out), e.g. when a page becomes visible again
    /// or the network changed, to find a dead connection quickly.
    pub fn probe(&mut self, now: Instant) -> HeartbeatAction {
        if !self.active || self.ping_sent.is_some() {
            return HeartbeatAction::Idle;
        }
        self.ping_sent = Some(now);
        self.last_sent = now;
        HeartbeatAction::SendPing
    }
}
