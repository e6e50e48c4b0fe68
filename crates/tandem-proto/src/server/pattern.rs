//! Room name patterns: `*` stands for any run of characters (`/` included), everything
//! else for itself. `cursors/*` matches `cursors/board-1`, `*` every room, `docs/*/draft`
//! `docs/a/b/draft`. Used by `tandem serve --room` (and room rights in tokens).
//!
//! Hand-written: `*` is the only wildcard users need here, a pattern is matched once per
//! room a node creates, and `globset` would add a regex engine to the server for it.

/// A room name pattern. See the module docs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RoomPattern {
    /// The pieces between the `*`s; a pattern without `*` is one piece.
    pieces: Vec<String>,
}

impl RoomPattern {
    /// The pattern `text` (`*` is the wildcard).
    pub fn new(text: &str) -> Self {
        RoomPattern {
            pieces: text.split('*').map(str::to_owned).collect(),
        }
    }

    /// Whether `room` matches: the first piece starts it, the last ends it, and the ones
    /// between come in order (the leftmost fit of each is the right one: any later fit
    /// leaves less room for the rest).
    pub fn matches(&self, room: &str) -> bool {
        let (first, rest) = match self.pieces.split_first() {
            Some(split) => split,
            None => return room.is_empty(),
        };
        let Some(mut left) = room.strip_prefix(first.as_str()) else {
            return false;
        };
        let Some((last, middle)) = rest.split_last() else {
            return left.is_empty();
        };
        for piece in middle {
            match left.find(piece.as_str()) {
                Some(at) => left = &left[at + piece.len()..],
                None => return false,
            }
        }
        left.ends_with(last.as_str())
    }
}

impl core::fmt::Display for RoomPattern {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str(&self.pieces.join("*"))
    }
}

#[cfg(test)]
mod tests {
    use super::RoomPattern;

    #[test]
    fn a_star_stands_for_any_run_of_characters() {
        let cases = [
            ("cursors/*", "cursors/board-1", true),
            ("cursors/*", "cursors/", true),
            ("cursors/*", "cursor/x", false),
            ("*", "", true),
            ("*", "any/thing", true),
            ("lobby", "lobby", true),
            ("lobby", "lobby2", false),
            ("docs/*/draft", "docs/a/b/draft", true),
            ("docs/*/draft", "docs/draft", false),
            ("*-chat", "team-chat", true),
            ("a*a", "a", false),
            ("a*a", "aa", true),
            ("*b*c*", "abxc", true),
            ("*b*c*", "acb", false),
        ];
        for (pattern, room, expected) in cases {
            assert_eq!(
                RoomPattern::new(pattern).matches(room),
                expected,
                "{pattern} ~ {room}"
            );
        }
    }
}
