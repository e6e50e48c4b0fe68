//! Stable error codes carried on the wire in `error` frames and failed responses.

use serde::{Deserialize, Serialize};

/// A stable, machine-readable error code. New codes may appear; unknown ones decode as
/// [`ErrorCode::Unknown`] so old clients keep working.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum ErrorCode {
    /// The frame is not valid JSON, or not a JSON object.
    MalformedFrame,
    /// The frame's `k` names no kind this side knows.
    UnknownKind,
    /// A required field is absent.
    MissingField,
    /// A field has the wrong JSON type.
    WrongType,
    /// The frame's `v` is a wire version this side does not speak.
    UnsupportedVersion,
    /// The frame is larger than the size limit.
    TooLarge,
    /// The frame is valid but not one this side accepts (e.g. a server-only kind sent by a
    /// client). Frames before `welcome` are not answered but closed with 1002.
    UnexpectedFrame,
    /// The sender is over its rate limit.
    RateLimited,
    /// The token is missing or invalid.
    Unauthorized,
    /// The token has expired; a fresh one may succeed.
    TokenExpired,
    /// The auth hook refused this join.
    Forbidden,
    /// The connection is not a member of the room.
    NotJoined,
    /// The connection is in as many rooms as the server allows.
    TooManyRooms,
    /// The room's policy does not allow this: a numbered publish in a room that takes only
    /// ephemeral messages, a presence update in a room without presence.
    RoomPolicy,
    /// The room has as many members as its policy allows.
    RoomFull,
    /// Client and server share no version of the application schema.
    AppVersionMismatch,
    /// Client and server share no wire protocol version.
    ProtocolMismatch,
    /// Nobody handles requests on the receiving side.
    NoHandler,
    /// The request's handler answered with an error.
    Rejected,
    /// No answer came in time.
    Timeout,
    /// The server is overloaded or a dependency is down; retry later.
    Unavailable,
    /// A bug on the answering side.
    Internal,
    /// A code this version does not know.
    #[serde(other)]
    Unknown,
}

impl ErrorCode {
    /// Every code but [`ErrorCode::Unknown`], in PROTOCOL.md's order.
    pub const KNOWN: [ErrorCode; 22] = [
        ErrorCode::MalformedFrame,
        ErrorCode::UnknownKind,
        ErrorCode::MissingField,
        ErrorCode::WrongType,
        ErrorCode::UnsupportedVersion,
        ErrorCode::TooLarge,
        ErrorCode::UnexpectedFrame,
        ErrorCode::RateLimited,
        ErrorCode::Unauthorized,
        ErrorCode::TokenExpired,
        ErrorCode::Forbidden,
        ErrorCode::NotJoined,
        ErrorCode::TooManyRooms,
        ErrorCode::RoomPolicy,
        ErrorCode::RoomFull,
        ErrorCode::AppVersionMismatch,
        ErrorCode::ProtocolMismatch,
        ErrorCode::NoHandler,
        ErrorCode::Rejected,
        ErrorCode::Timeout,
        ErrorCode::Unavailable,
        ErrorCode::Internal,
    ];

    /// The code with this wire name; [`ErrorCode::Unknown`] for a name this version does
    /// not know.
    pub fn from_wire(name: &str) -> ErrorCode {
        ErrorCode::KNOWN
            .into_iter()
            .find(|c| c.as_str() == name)
            .unwrap_or(ErrorCode::Unknown)
    }

    /// The wire name, e.g. `"not_joined"`.
    pub fn as_str(self) -> &'static str {
        match self {
            ErrorCode::MalformedFrame => "malformed_frame",
            ErrorCode::UnknownKind => "unknown_kind",
            ErrorCode::MissingField => "missing_field",
            ErrorCode::WrongType => "wrong_type",
            ErrorCode::UnsupportedVersion => "unsupported_version",
            ErrorCode::TooLarge => "too_large",
            ErrorCode::UnexpectedFrame => "unexpected_frame",
            ErrorCode::RateLimited => "rate_limited",
            ErrorCode::Unauthorized => "unauthorized",
            ErrorCode::TokenExpired => "token_expired",
            ErrorCode::Forbidden => "forbidden",
            ErrorCode::NotJoined => "not_joined",
            ErrorCode::TooManyRooms => "too_many_rooms",
            ErrorCode::RoomPolicy => "room_policy",
            ErrorCode::RoomFull => "room_full",
            ErrorCode::AppVersionMismatch => "app_version_mismatch",
            ErrorCode::ProtocolMismatch => "protocol_mismatch",
            ErrorCode::NoHandler => "no_handler",
            ErrorCode::Rejected => "rejected",
            ErrorCode::Timeout => "timeout",
            ErrorCode::Unavailable => "unavailable",
            ErrorCode::Internal => "internal",
            ErrorCode::Unknown => "unknown",
        }
    }
}

impl core::fmt::Display for ErrorCode {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str(self.as_str())
    }
}
