//! The demo's payloads: room messages, presence metadata, and the request the page asks
//! the server.

use serde::{Deserialize, Serialize};
use ts_rs::TS;

/// Where the generated declarations go, relative to this crate (ts-rs joins it to
/// `TS_RS_EXPORT_DIR` when set).
macro_rules! exported {
    ($item:item) => {
        #[derive(Debug, Clone, PartialEq, Serialize, Deserialize, TS)]
        #[ts(export, export_to = "../../../www/src/generated/")]
        $item
    };
}

exported! {
    /// A message in a demo room. Chat lines are numbered messages of the room itself (kept
    /// in its history); everything else is an ephemeral message (`room.broadcast`) of its
    /// `<room>/cursors` companion, which keeps no history and has no presence.
    #[serde(tag = "kind", rename_all = "snake_case")]
    pub enum DemoMessage {
        /// Where the sender's pointer is on the board, as fractions of its size (0 to 1).
        Cursor {
            /// Horizontal position, 0 (left) to 1 (right).
            x: f32,
            /// Vertical position, 0 (top) to 1 (bottom).
            y: f32,
        },
        /// The sender's pointer left the board: hide its cursor.
        CursorHidden,
        /// A line of chat.
        Chat {
            /// What was said.
            text: String,
            /// When it was written, in milliseconds since 1970 by the sender's clock
            /// (absent from lines written before the demo sent it).
            #[serde(default, skip_serializing_if = "Option::is_none")]
            #[ts(optional)]
            at: Option<f64>,
        },
        /// A tab of the sender is open in the room. Each tab says so when it joins (with
        /// `hello`, which asks every other tab to answer at once) and then every few
        /// seconds, so pages can count the tabs of each user: presence metadata is per
        /// user, one value for all of a user's tabs, so it cannot count them.
        Here {
            /// A random id of the tab, fixed for the page's life.
            tab: String,
            /// `true` from a tab that just joined: the others answer with a `Here` of their own.
            hello: bool,
        },
        /// A tab of the sender is closing or leaving the room.
        Gone {
            /// The tab's id, as in [`DemoMessage::Here`].
            tab: String,
        },
    }
}

exported! {
    /// Presence metadata: how a member appears in the list, in the chat and on the board.
    /// One value per user (the latest update wins across the user's tabs).
    pub struct Profile {
        /// A CSS colour for the member's cursor, avatar and name, from the demo's palette.
        pub color: String,
        /// Whether the member is typing a chat line right now.
        #[serde(default)]
        pub typing: bool,
    }
}

exported! {
    /// What the page may ask the server.
    #[serde(tag = "kind", rename_all = "snake_case")]
    pub enum DemoRequest {
        /// The server's version and load.
        ServerInfo,
    }
}

exported! {
    /// The server's answers to [`DemoRequest`].
    #[serde(tag = "kind", rename_all = "snake_case")]
    pub enum DemoReply {
        /// Answers [`DemoRequest::ServerInfo`].
        ServerInfo {
            /// The server's crate version.
            version: String,
            /// Open WebSocket connections on this node.
            connections: u32,
        },
    }
}

/// The server's answer to `request`, given its open connection count.
pub fn answer(request: &DemoRequest, connections: usize) -> DemoReply {
    match request {
        DemoRequest::ServerInfo => DemoReply::ServerInfo {
            version: env!("CARGO_PKG_VERSION").to_owned(),
            connections: u32::try_from(connections).unwrap_or(u32::MAX),
        },
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn messages_are_tagged_by_kind() {
        let chat = DemoMessage::Chat {
            text: "hi".into(),
            at: None,
        };
        assert_eq!(
            serde_json::to_string(&chat).unwrap(),
            r#"{"kind":"chat","text":"hi"}"#
        );
        let dated: DemoMessage =
            serde_json::from_str(r#"{"kind":"chat","text":"hi","at":1700000000000}"#).unwrap();
        assert_eq!(
            dated,
            DemoMessage::Chat {
                text: "hi".into(),
                at: Some(1_700_000_000_000.0)
            }
        );
        let hidden: DemoMessage = serde_json::from_str(r#"{"kind":"cursor_hidden"}"#).unwrap();
        assert_eq!(hidden, DemoMessage::CursorHidden);
        let here: DemoMessage =
            serde_json::from_str(r#"{"kind":"here","tab":"t1","hello":true}"#).unwrap();
        assert_eq!(
            here,
            DemoMessage::Here {
                tab: "t1".into(),
                hello: true
            }
        );
        let cursor: DemoMessage =
            serde_json::from_str(r#"{"kind":"cursor","x":0.5,"y":1}"#).unwrap();
        assert_eq!(cursor, DemoMessage::Cursor { x: 0.5, y: 1.0 });
        assert!(serde_json::from_str::<DemoMessage>(r#"{"kind":"shout"}"#).is_err());
    }

    #[test]
    fn the_server_info_answer_names_the_version() {
        let reply = answer(&DemoRequest::ServerInfo, 3);
        let json = serde_json::to_value(&reply).unwrap();
        assert_eq!(json["kind"], "server_info");
        assert_eq!(json["connections"], 3);
        assert_eq!(json["version"], env!("CARGO_PKG_VERSION"));
    }

    #[test]
    fn the_typescript_matches_the_json() {
        let decl = DemoMessage::decl(&ts_rs::Config::new());
        assert!(decl.contains(r#""kind": "cursor""#), "{decl}");
        assert!(decl.contains(r#""kind": "chat""#), "{decl}");
        assert!(decl.contains("at?: number"), "{decl}");
        assert!(decl.contains(r#""kind": "cursor_hidden""#), "{decl}");
        let profile = Profile::decl(&ts_rs::Config::new());
        assert!(profile.contains("typing: boolean"), "{profile}");
    }

    #[test]
    fn a_profile_without_typing_is_not_typing() {
        let profile: Profile = serde_json::from_str(r##"{"color":"#123456"}"##).unwrap();
        assert!(!profile.typing);
    }
}
