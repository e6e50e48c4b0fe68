//! What a server node counts about its own work, for a driver to export (tandem-server
//! renders these on `/metrics`): plain numbers added to as the node works, no clock, no IO,
//! no dependency. Only what the protocol alone knows is here; a driver counts bytes,
//! connections and closes itself.

use crate::error::ErrorCode;

/// One slot per [`ErrorCode`], [`ErrorCode::Unknown`] included.
const CODES: usize = ErrorCode::KNOWN.len() + 1;

/// Counts since the node started ([`super::Server::stats`]). Every field only grows.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct Stats {
    /// Members' numbered publishes the node took (numbered here, or handed to a cluster's
    /// broker).
    pub publishes_numbered: u64,
    /// Members' ephemeral publishes the node took.
    pub publishes_ephemeral: u64,
    /// Numbered events handed to subscribers live, one per receiving connection (replays
    /// not included).
    pub deliveries_numbered: u64,
    /// Ephemeral events handed to connections, one per receiving connection (before a
    /// driver sheds any for a reader that is behind).
    pub deliveries_ephemeral: u64,
    /// Fresh joins done (`join`).
    pub joins: u64,
    /// Resumes done whose replay covered the whole gap (`joined.recovered: true`).
    pub resumes_recovered: u64,
    /// Resumes done that lost messages (`joined.recovered: false`).
    pub resumes_lost: u64,
    /// Stored messages replayed by joins and resumes.
    pub replayed: u64,
    /// `error` frames sent, by code (see [`Stats::errors`]).
    errors: [u64; CODES],
}

impl Default for Stats {
    fn default() -> Self {
        Stats {
            publishes_numbered: 0,
            publishes_ephemeral: 0,
            deliveries_numbered: 0,
            deliveries_ephemeral: 0,
            joins: 0,
            resumes_recovered: 0,
            resumes_lost: 0,
            replayed: 0,
            errors: [0; CODES],
        }
    }
}

impl Stats {
    /// `error` frames sent with `code`: bad frames (`malformed_frame`, `unknown_kind`,
    /// `missing_field`, `wrong_type`, `unexpected_frame`), `rate_limited`, refused
    /// hellos (`unauthorized`, `token_expired`), refused operations (`forbidden`,
    /// `not_joined`, ...). A frame that closes the connection instead (too large, too many
    /// bad frames) is not an `error` frame and is not counted here.
    pub fn errors(&self, code: ErrorCode) -> u64 {
        self.errors[code as usize]
    }

    pub(crate) fn error_sent(&mut self, code: ErrorCode) {
        self.errors[code as usize] += 1;
    }

    /// Counts a join or resume the hub completed.
    pub(crate) fn joined(&mut self, recovered: Option<bool>, replayed: usize) {
        match recovered {
            None => self.joins += 1,
            Some(true) => self.resumes_recovered += 1,
            Some(false) => self.resumes_lost += 1,
        }
        self.replayed += replayed as u64;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_code_has_its_own_slot() {
        let mut stats = Stats::default();
        for (n, code) in ErrorCode::KNOWN.into_iter().enumerate() {
            for _ in 0..=n {
                stats.error_sent(code);
            }
        }
        stats.error_sent(ErrorCode::Unknown);
        for (n, code) in ErrorCode::KNOWN.into_iter().enumerate() {
            assert_eq!(stats.errors(code), n as u64 + 1, "{code}");
        }
        assert_eq!(stats.errors(ErrorCode::Unknown), 1);
    }

    #[test]
    fn joins_count_by_outcome() {
        let mut stats = Stats::default();
        stats.joined(None, 3);
        stats.joined(Some(true), 2);
        stats.joined(Some(false), 0);
        stats.joined(Some(false), 1);
        assert_eq!(
            (stats.joins, stats.resumes_recovered, stats.resumes_lost),
            (1, 1, 2)
        );
        assert_eq!(stats.replayed, 6);
    }
}
