//! Reconnecting: the backoff schedule applied (`backoff.rs` holds the rule), the
//! browser's `online`/`offline` and `visibilitychange`, and "retry now" (PROTOCOL.md §10).

use super::*;

impl Session {
    pub(super) fn schedule_reconnect(
        &mut self,
        now: Instant,
        hint: Option<Duration>,
        immediate: bool,
    ) {
        let attempt = self.attempt() + 1;
        let delay = if immediate {
            Some(Duration::ZERO)
        } else {
            self.config.backoff.delay(attempt, hint, &mut self.rng)
        };
        let Some(delay) = delay else {
            self.finish(CloseReason::AttemptsExhausted {
                attempts: attempt - 1,
            });
            return;
        };
        if self.online {
            self.phase = Phase::Waiting {
                attempt,
                at: Some(now + delay),
            };
            self.set_state(ConnectionState::Reconnecting {
                attempt,
                delay: Some(delay),
            });
        } else {
            self.phase = Phase::Waiting { attempt, at: None };
            self.set_state(ConnectionState::Reconnecting {
                attempt,
                delay: None,
            });
        }
    }

    /// The network went away (`false`) or came back (`true`), e.g. the browser's
    /// `offline`/`online` events. Offline pauses reconnecting; online reconnects at once.
    pub fn handle_network(&mut self, now: Instant, online: bool) {
        self.online = online;
        match self.phase {
            Phase::Waiting { attempt, .. } if online => self.begin_attempt(now, attempt),
            Phase::Waiting {
                attempt,
                at: Some(_),
            } => {
                self.phase = Phase::Waiting { attempt, at: None };
                self.set_state(ConnectionState::Reconnecting {
                    attempt,
                    delay: None,
                });
            }
            Phase::Open { .. } => self.probe(now),
            _ => {}
        }
    }

    /// The page became visible (`true`) or hidden. On becoming visible, an open
    /// connection is checked at once with a ping, and one waiting to reconnect tries now:
    /// the user is looking, and one tab returning is no herd.
    pub fn handle_visibility(&mut self, now: Instant, visible: bool) {
        if !visible {
            return;
        }
        match self.phase {
            Phase::Open { .. } => self.probe(now),
            Phase::Waiting { .. } => self.reconnect_now(now),
            _ => {}
        }
    }

    /// Skips the rest of the backoff wait and reconnects now (a "retry now" button, or
    /// the application knowing the server is back). The attempt counter is kept, so a
    /// failed attempt backs off as before. Nothing happens unless the session is waiting
    /// to reconnect.
    pub fn reconnect_now(&mut self, now: Instant) {
        if let Phase::Waiting { attempt, .. } = self.phase {
            self.begin_attempt(now, attempt);
        }
    }

    pub(super) fn probe(&mut self, now: Instant) {
        if let Some(hb) = self.heartbeat.as_mut() {
            if hb.probe(now) == HeartbeatAction::SendPing {
                self.transmits
                    .push_back(Transmit::Send(encode(&Frame::Ping)));
            }
        }
    }
}
