//! Per-room policy: what a room keeps and allows, decided once by the application for each
//! room name (a cursor room keeps no history and takes only ephemeral messages; a chat
//! keeps an hour). The rule lives here; the rooms apply it, and `joined` announces it.

use std::sync::Arc;

use core::time::Duration;

use super::HubConfig;
use crate::frame;

/// How much history a room keeps: the first bound reached drops the oldest message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HistoryLimits {
    /// Most messages (0: the room keeps none, and a resume never recovers).
    pub len: usize,
    /// How long a message stays stored.
    pub age: Duration,
    /// Most bytes, frames plus 64 bytes per entry.
    pub bytes: usize,
}

/// What one room keeps and allows. [`RoomPolicy::default`] is what a room gets without a
/// policy function: the hub's history bounds, numbered and ephemeral messages, presence,
/// and no member limit.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RoomPolicy {
    /// The room's history bounds.
    pub history: HistoryLimits,
    /// Whether members may publish numbered messages (`false`: ephemeral only; a numbered
    /// publish gets `room_policy`).
    pub numbered: bool,
    /// Whether the room keeps presence: without, `joined` lists nobody, no diffs go out,
    /// and an `update` gets `room_policy`.
    pub presence: bool,
    /// Most users in the room at once (a join beyond gets `room_full`).
    pub max_members: Option<usize>,
}

impl RoomPolicy {
    /// The policy of a room the application says nothing about, from the hub's defaults.
    pub fn from_config(config: &HubConfig) -> Self {
        RoomPolicy {
            history: HistoryLimits {
                len: config.history_len,
                age: config.history_age,
                bytes: config.history_bytes,
            },
            numbered: true,
            presence: true,
            max_members: None,
        }
    }

    /// The policy as `joined` announces it.
    pub fn to_wire(&self) -> frame::Policy {
        let wide = |n: usize| u64::try_from(n).unwrap_or(u64::MAX);
        frame::Policy {
            history: wide(self.history.len),
            history_ms: u64::try_from(self.history.age.as_millis()).unwrap_or(u64::MAX),
            history_bytes: wide(self.history.bytes),
            numbered: self.numbered,
            presence: self.presence,
            max_members: self.max_members.map(wide),
        }
    }
}

impl Default for RoomPolicy {
    fn default() -> Self {
        Self::from_config(&HubConfig::default())
    }
}

/// The application's policy function: a room's policy from its name. It must give the
/// same answer for the same name every time, on every node (a cluster's broker asks it
/// too). Without one, every room gets the hub's defaults.
#[derive(Clone, Default)]
pub struct RoomPolicies {
    decide: Option<Decide>,
}

/// A policy function, shared by every clone of the configuration.
type Decide = Arc<dyn Fn(&str) -> RoomPolicy + Send + Sync>;

impl RoomPolicies {
    /// Policies decided by `decide` for each room name.
    pub fn new(decide: impl Fn(&str) -> RoomPolicy + Send + Sync + 'static) -> Self {
        RoomPolicies {
            decide: Some(Arc::new(decide)),
        }
    }

    /// The policy of `room`, or the defaults from `config` without a function.
    pub fn of(&self, room: &str, config: &HubConfig) -> RoomPolicy {
        match &self.decide {
            Some(decide) => decide(room),
            None => RoomPolicy::from_config(config),
        }
    }
}

impl core::fmt::Debug for RoomPolicies {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("RoomPolicies")
            .field("custom", &self.decide.is_some())
            .finish()
    }
}
