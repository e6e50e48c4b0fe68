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
    /// A message in a demo room. Chat lines go to the room itself (kept in its history);
    /// cursor moves go to its `<room>/cursors` companion, which keeps no history.
    #[serde(tag = "kind", rename_all = "snake_case")]
    pub enum DemoMessage {
        /// Where the sender's pointer is on the board, as fractions of its size (0 to 1).
        Cursor {
            /// Horizontal position, 0 (left) to 1 (right).
            x: f32,
            /// Vertical position, 0 (top) to 1 (bottom).
            y: f32,
        },
        /// A line of chat.
        Chat {
            /// What was said.
            text: String,
        },
    }
}

exported! {
    /// Presence metadata: how a member appears in the list and on the board.
    pub struct Profile {
        /// A CSS colour for the member's cursor and name.
        pub color: String,
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
        let chat = DemoMessage::Chat { text: "hi".into() };
        assert_eq!(
            serde_json::to_string(&chat).unwrap(),
            r#"{"kind":"chat","text":"hi"}"#
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
    }
}
