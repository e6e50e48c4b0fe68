//! The four kinds of server and the frames each one speaks for the same jobs.

use clap::ValueEnum;

/// The room every benchmark uses.
pub const ROOM: &str = "bench";

/// A server under test, by the protocol it speaks.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Target {
    /// `tandem serve`: tandem envelopes (`tandem.v1.json`).
    Tandem,
    /// The bare tokio-tungstenite server: `b…` broadcast, `e…` echo.
    Bare,
    /// Node `ws` (bench/node/ws_server.mjs): the same frames as `bare`.
    Ws,
    /// Socket.IO 4.8 (bench/node/socketio_server.mjs): Engine.IO v4 websocket framing.
    Socketio,
}

impl Target {
    /// The frame that publishes `payload` (a JSON-safe string) into the bench room.
    pub fn publish(self, id: u64, payload: &str) -> String {
        match self {
            Target::Tandem => {
                format!(r#"{{"v":1,"k":"publish","id":{id},"room":"{ROOM}","data":"{payload}"}}"#)
            }
            Target::Bare | Target::Ws => format!("b{payload}"),
            Target::Socketio => format!(r#"42["pub","{ROOM}","{payload}"]"#),
        }
    }

    /// The frame that publishes `payload` as an ephemeral message (no seq, not stored, no
    /// ack, delivered to every other connection in the room), if the protocol has them:
    /// only tandem's does.
    pub fn publish_ephemeral(self, id: u64, payload: &str) -> Option<String> {
        match self {
            Target::Tandem => Some(format!(
                r#"{{"v":1,"k":"publish","id":{id},"room":"{ROOM}","data":"{payload}","ephemeral":true}}"#
            )),
            Target::Bare | Target::Ws | Target::Socketio => None,
        }
    }

    /// The frame that asks the server to send `payload` straight back.
    pub fn echo(self, id: u64, payload: &str) -> String {
        match self {
            Target::Tandem => format!(r#"{{"v":1,"k":"request","id":{id},"data":"{payload}"}}"#),
            Target::Bare | Target::Ws => format!("e{payload}"),
            Target::Socketio => format!(r#"42{id}["echo","{payload}"]"#),
        }
    }

    /// The answer a frame from the server needs, if any (Socket.IO's ping `2` → pong `3`).
    pub fn answer(self, frame: &str) -> Option<&'static str> {
        match (self, frame) {
            (Target::Socketio, "2") => Some("3"),
            (Target::Tandem, _) if frame.contains(r#""k":"ping""#) => Some(r#"{"v":1,"k":"pong"}"#),
            _ => None,
        }
    }

    /// The label used in reports.
    pub fn name(self) -> &'static str {
        match self {
            Target::Tandem => "tandem",
            Target::Bare => "bare",
            Target::Ws => "ws",
            Target::Socketio => "socketio",
        }
    }
}
