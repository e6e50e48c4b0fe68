//! Where everything lives in Redis. Every key and the channel of room `R` share the hash
//! tag `{R}`, so a room is one slot of a Redis Cluster: its scripts touch one shard and its
//! messages travel on that shard's sharded pub/sub. The node registry is under `{}`: an
//! empty tag hashes the whole key, and no room has an empty name, so no room's keys or
//! channel can ever be the registry's.
//!
//! - `<p>:{R}:room` (hash: epoch, seq), `<p>:{R}:hist` (retained events), `<p>:{R}:hb`
//!   (their bytes), `<p>:{R}:pm` (members' meta), `<p>:{R}:pc` (members' node counts),
//!   `<p>:{R}:np` (which node holds which user);
//! - channel `<p>:{R}`: the room's events, member changes and ephemeral messages;
//! - `<p>:{}:alive` (node → liveness deadline), `<p>:{}:rooms:<node>` (the rooms a node has
//!   members in, to reap them when it dies), channel `<p>:{}` (operators' actions, for
//!   every node).

/// The keys of one room.
pub(crate) struct RoomKeys {
    pub room: String,
    pub hist: String,
    pub hb: String,
    pub pm: String,
    pub pc: String,
    pub np: String,
}

impl RoomKeys {
    pub fn new(prefix: &str, room: &str) -> Self {
        let base = format!("{prefix}:{{{room}}}");
        RoomKeys {
            room: format!("{base}:room"),
            hist: format!("{base}:hist"),
            hb: format!("{base}:hb"),
            pm: format!("{base}:pm"),
            pc: format!("{base}:pc"),
            np: format!("{base}:np"),
        }
    }
}

/// The channel of `room`'s announcements.
pub(crate) fn room_channel(prefix: &str, room: &str) -> String {
    format!("{prefix}:{{{room}}}")
}

/// The channel every node listens on (operators' actions).
pub(crate) fn nodes_channel(prefix: &str) -> String {
    format!("{prefix}:{{}}")
}

/// The node registry: node → liveness deadline (ms, Redis time).
pub(crate) fn alive(prefix: &str) -> String {
    format!("{prefix}:{{}}:alive")
}

/// The rooms `node` has members in.
pub(crate) fn node_rooms(prefix: &str, node: &str) -> String {
    format!("{prefix}:{{}}:rooms:{node}")
}

/// Whether `prefix` can prefix keys: no braces (they would move the hash tag off the room).
pub(crate) fn valid_prefix(prefix: &str) -> bool {
    !prefix.is_empty() && !prefix.contains(['{', '}'])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_rooms_keys_and_channel_share_its_hash_tag() {
        let k = RoomKeys::new("t", "docs/a");
        for key in [&k.room, &k.hist, &k.hb, &k.pm, &k.pc, &k.np] {
            assert!(key.starts_with("t:{docs/a}:"), "{key}");
        }
        assert_eq!(room_channel("t", "docs/a"), "t:{docs/a}");
        // Only a room with an empty name, which no room has, would share it.
        assert_eq!(nodes_channel("t"), "t:{}");
        assert!(node_rooms("t", "n1").starts_with("t:{}:"));
        assert!(!valid_prefix("a{b"));
    }
}
