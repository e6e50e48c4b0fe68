//! The in-band token refresh (PROTOCOL.md §3.20): the server's `refresh` asks the driver
//! for a fresh token through the same [`ClientEvent::TokenRequired`] as a connection
//! attempt, and the answer goes back in `token`. The `token` is no operation of the
//! application's and waits for nothing: its `ack` (an id nothing waits for) is ignored,
//! so the session goes on; its `error`, likewise unclaimed, is a [`ClientEvent::Error`],
//! as is a provider that has no token. The server then closes with 4002 at expiry, which
//! reconnects with a fresh token as ever. Without a token provider, `refresh` is ignored:
//! the session ends with 4002.

use super::*;

impl Session {
    /// `refresh`: the session's token expires soon.
    pub(super) fn handle_refresh(&mut self) {
        if self.config.refresh_token && !self.refresh_asked {
            self.refresh_asked = true;
            self.events.push_back(ClientEvent::TokenRequired);
        }
    }

    /// The driver's answer to a `refresh`: the fresh token goes to the server.
    pub(super) fn refreshed(&mut self, now: Instant, token: Result<String, TokenError>) {
        self.refresh_asked = false;
        if !matches!(self.phase, Phase::Open { .. }) {
            return;
        }
        let (code, message) = match token {
            Ok(token) => {
                let id = self.new_id();
                self.send_text(now, encode(&Frame::Token(frame::Token { id, token })));
                return;
            }
            Err(TokenError::Unauthorized(m)) => (ErrorCode::Unauthorized, m),
            Err(TokenError::Unavailable(m)) => (ErrorCode::Unavailable, m),
        };
        self.events.push_back(ClientEvent::Error {
            room: None,
            code,
            message,
        });
    }
}
