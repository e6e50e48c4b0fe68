//! The codec: frames to JSON text and back, with a size limit and a typed error per bad input.

use std::borrow::Cow;

use serde::Deserialize;
use serde::de::DeserializeOwned;

use crate::error::ErrorCode;
use crate::frame::{Frame, Id, Kind, Payload, WIRE_VERSION};

/// The default largest frame, in bytes, either side accepts (64 KiB).
pub const DEFAULT_MAX_FRAME_BYTES: usize = 64 * 1024;

/// Why bytes from the wire are not a frame. Each variant names its cause; none loses the
/// connection by itself (see PROTOCOL.md for the close policy).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum DecodeError {
    /// The frame is larger than the limit; it was not parsed.
    #[error("frame of {size} bytes exceeds the limit of {limit} bytes")]
    TooLarge {
        /// The frame's size in bytes.
        size: usize,
        /// The limit in bytes.
        limit: usize,
    },
    /// A binary WebSocket frame arrived; tandem speaks JSON text frames.
    #[error("binary frame received where a JSON text frame was expected")]
    Binary,
    /// The bytes are not JSON, not UTF-8, or not a JSON object.
    #[error("malformed frame: {detail}")]
    Malformed {
        /// What the parser said.
        detail: String,
    },
    /// The frame's `v` is a wire version this side does not speak.
    #[error("unsupported wire version {found} (this side speaks {supported})")]
    UnsupportedVersion {
        /// The version in the frame.
        found: u64,
        /// The version this side speaks.
        supported: u32,
    },
    /// The frame's `k` names no known kind.
    #[error("unknown frame kind {kind:?}")]
    UnknownKind {
        /// The kind as received.
        kind: String,
        /// The frame's `id`, if it had a readable one.
        id: Option<Id>,
    },
    /// A required field is absent.
    #[error("{kind} frame is missing the field `{field}`")]
    MissingField {
        /// The frame's kind, or `"frame"` when `v`/`k` themselves are missing.
        kind: String,
        /// The missing field.
        field: String,
        /// The frame's `id`, if it had a readable one.
        id: Option<Id>,
    },
    /// The frame's kind travels the other way: a server got a kind only servers send, or
    /// a client one only clients send.
    #[error("{kind} frames travel the other way: a {kind} frame is not for this side")]
    WrongDirection {
        /// The frame's kind.
        kind: Kind,
        /// The frame's `id`, if it had a readable one.
        id: Option<Id>,
    },
    /// A field has the wrong JSON type.
    #[error("{kind} frame has a wrong type{}: {detail}", at_field(field))]
    WrongType {
        /// The frame's kind, or `"frame"` for the header fields.
        kind: String,
        /// The path of the offending field, e.g. `presence[0].user`; empty when the
        /// build tracks no paths (the `field-paths` feature, off in the npm package).
        field: String,
        /// What was expected and found.
        detail: String,
        /// The frame's `id`, if it had a readable one.
        id: Option<Id>,
    },
}

impl DecodeError {
    /// The wire error code for this cause.
    pub fn code(&self) -> ErrorCode {
        match self {
            DecodeError::TooLarge { .. } => ErrorCode::TooLarge,
            DecodeError::Binary | DecodeError::Malformed { .. } => ErrorCode::MalformedFrame,
            DecodeError::UnsupportedVersion { .. } => ErrorCode::UnsupportedVersion,
            DecodeError::UnknownKind { .. } => ErrorCode::UnknownKind,
            DecodeError::MissingField { .. } => ErrorCode::MissingField,
            DecodeError::WrongType { .. } => ErrorCode::WrongType,
            DecodeError::WrongDirection { .. } => ErrorCode::UnexpectedFrame,
        }
    }

    /// The id of the offending frame, when it could be read, so an error can answer it.
    pub fn id(&self) -> Option<Id> {
        match self {
            DecodeError::UnknownKind { id, .. }
            | DecodeError::MissingField { id, .. }
            | DecodeError::WrongType { id, .. }
            | DecodeError::WrongDirection { id, .. } => *id,
            _ => None,
        }
    }
}

/// ` at `field`` for a [`DecodeError::WrongType`] that knows its field, else nothing.
fn at_field(field: &str) -> String {
    if field.is_empty() {
        String::new()
    } else {
        format!(" at `{field}`")
    }
}

#[derive(Deserialize)]
struct Header<'a> {
    v: Option<u64>,
    #[serde(borrow)]
    k: Option<Cow<'a, str>>,
    id: Option<Id>,
}

/// Decodes one text frame of any kind, refusing anything over `max_bytes`.
///
/// A server decodes with [`decode_from_client`] and a client with [`decode_from_server`]:
/// each accepts only the kinds its peer sends, and a client built for the browser then
/// carries no decoder for the kinds only a server reads.
pub fn decode(bytes: &[u8], max_bytes: usize) -> Result<Frame, DecodeError> {
    let (kind, k) = header(bytes, max_bytes)?;
    client_frame(bytes, kind, k)
        .or_else(|| server_frame(bytes, kind, k))
        .unwrap_or_else(|| Err(misdirected(bytes, kind)))
}

/// Decodes one text frame a client sent (what a server reads). The kinds only a server
/// sends are refused with [`DecodeError::WrongDirection`].
pub fn decode_from_client(bytes: &[u8], max_bytes: usize) -> Result<Frame, DecodeError> {
    let (kind, k) = header(bytes, max_bytes)?;
    client_frame(bytes, kind, k).unwrap_or_else(|| Err(misdirected(bytes, kind)))
}

/// Decodes one text frame a server sent (what a client reads). The kinds only a client
/// sends are refused with [`DecodeError::WrongDirection`].
pub fn decode_from_server(bytes: &[u8], max_bytes: usize) -> Result<Frame, DecodeError> {
    let (kind, k) = header(bytes, max_bytes)?;
    server_frame(bytes, kind, k).unwrap_or_else(|| Err(misdirected(bytes, kind)))
}

/// A frame of a kind clients send, parsed; `None` for the kinds only a server sends.
fn client_frame(bytes: &[u8], kind: Kind, k: &str) -> Option<Result<Frame, DecodeError>> {
    Some(match kind {
        Kind::Hello => parse(bytes, k).map(Frame::Hello),
        Kind::Join => parse(bytes, k).map(Frame::Join),
        Kind::Resume => parse(bytes, k).map(Frame::Resume),
        Kind::Leave => parse(bytes, k).map(Frame::Leave),
        Kind::Publish => parse(bytes, k).map(Frame::Publish),
        Kind::Request | Kind::Response | Kind::Ping | Kind::Pong => {
            return server_frame(bytes, kind, k);
        }
        _ => return None,
    })
}

/// A frame of a kind servers send, parsed; `None` for the kinds only a client sends.
fn server_frame(bytes: &[u8], kind: Kind, k: &str) -> Option<Result<Frame, DecodeError>> {
    Some(match kind {
        Kind::Welcome => parse(bytes, k).map(Frame::Welcome),
        Kind::Joined => parse(bytes, k).map(Frame::Joined),
        Kind::Left => parse(bytes, k).map(Frame::Left),
        Kind::Ack => parse(bytes, k).map(Frame::Ack),
        Kind::Event => parse(bytes, k).map(Frame::Event),
        Kind::Request => parse(bytes, k).map(Frame::Request),
        Kind::Response => parse(bytes, k).map(Frame::Response),
        Kind::Presence => parse(bytes, k).map(Frame::Presence),
        Kind::Error => parse(bytes, k).map(Frame::Error),
        Kind::Ping => Ok(Frame::Ping),
        Kind::Pong => Ok(Frame::Pong),
        _ => return None,
    })
}

fn misdirected(bytes: &[u8], kind: Kind) -> DecodeError {
    DecodeError::WrongDirection {
        kind,
        id: frame_id(bytes),
    }
}

/// The start of every frame tandem's own [`encode`] writes, up to the kind's name.
const ENCODED_START: &[u8] = b"{\"v\":1,\"k\":\"";

/// Checks the size, the `v` and the `k` of a frame: its kind, and the kind's wire name.
///
/// A frame as tandem writes it, `{"v":1,"k":"<kind>",...`, is recognised without a parse,
/// so a frame is parsed once; anything else (other field order, spaces, escapes) takes
/// the general path, which parses the header fields first.
fn header(bytes: &[u8], max_bytes: usize) -> Result<(Kind, &'static str), DecodeError> {
    if bytes.len() > max_bytes {
        return Err(DecodeError::TooLarge {
            size: bytes.len(),
            limit: max_bytes,
        });
    }
    const _: () = assert!(WIRE_VERSION == 1, "ENCODED_START spells the wire version");
    if let Some(rest) = bytes.strip_prefix(ENCODED_START) {
        let name = rest.iter().position(|b| *b == b'"').map(|end| &rest[..end]);
        let kind = name
            .and_then(|n| std::str::from_utf8(n).ok())
            .and_then(Kind::from_wire);
        if let Some(kind) = kind {
            return Ok((kind, kind.as_str()));
        }
    }
    // serde would accept a struct written as an array; a frame is an object, nothing else.
    if bytes.iter().find(|b| !b.is_ascii_whitespace()) != Some(&b'{') {
        return Err(DecodeError::Malformed {
            detail: "a frame must be a JSON object".into(),
        });
    }
    let header: Header<'_> = parse(bytes, "frame")?;
    let version = header.v.ok_or_else(|| DecodeError::MissingField {
        kind: "frame".into(),
        field: "v".into(),
        id: header.id,
    })?;
    if version != u64::from(WIRE_VERSION) {
        return Err(DecodeError::UnsupportedVersion {
            found: version,
            supported: WIRE_VERSION,
        });
    }
    let name = header.k.ok_or_else(|| DecodeError::MissingField {
        kind: "frame".into(),
        field: "k".into(),
        id: header.id,
    })?;
    let kind = Kind::from_wire(&name).ok_or_else(|| DecodeError::UnknownKind {
        kind: name.clone().into_owned(),
        id: header.id,
    })?;
    Ok((kind, kind.as_str()))
}

/// The frame's `id`, when it has a readable one: read only on the way to an error, so a
/// good frame is parsed once.
fn frame_id(bytes: &[u8]) -> Option<Id> {
    serde_json::from_slice::<Header<'_>>(bytes).ok()?.id
}

/// Parses `bytes` as `T`, turning serde's error into the matching [`DecodeError`].
/// The fast path is a plain parse; only a failure pays for locating the bad field.
fn parse<'a, T: Deserialize<'a>>(bytes: &'a [u8], kind: &str) -> Result<T, DecodeError> {
    let err = match serde_json::from_slice::<T>(bytes) {
        Ok(v) => return Ok(v),
        Err(e) => e,
    };
    use serde_json::error::Category;
    match err.classify() {
        Category::Io | Category::Syntax | Category::Eof => {
            return Err(DecodeError::Malformed {
                detail: err.to_string(),
            });
        }
        Category::Data => {}
    }
    let msg = err.to_string();
    if let Some(rest) = msg.strip_prefix("missing field `") {
        let field = rest.split('`').next().unwrap_or_default().to_owned();
        return Err(DecodeError::MissingField {
            kind: kind.to_owned(),
            field,
            id: frame_id(bytes),
        });
    }
    let Some(path) = field_path::<T>(bytes) else {
        return Err(DecodeError::Malformed {
            detail: format!("a frame must be a JSON object ({msg})"),
        });
    };
    Err(DecodeError::WrongType {
        kind: kind.to_owned(),
        detail: if path.is_empty() {
            msg
        } else {
            strip_position(&msg)
        },
        field: path,
        id: frame_id(bytes),
    })
}

/// Where in `bytes` parsing `T` fails: the field's path, or `None` when the failure is at
/// the top (the frame is no object). Re-parses, so only ever called for a bad frame.
#[cfg(feature = "field-paths")]
fn field_path<'a, T: Deserialize<'a>>(bytes: &'a [u8]) -> Option<String> {
    let mut de = serde_json::Deserializer::from_slice(bytes);
    let path = match serde_path_to_error::deserialize::<_, T>(&mut de) {
        Ok(_) => String::new(),
        Err(e) => e.path().to_string(),
    };
    (!path.is_empty() && path != ".").then_some(path)
}

/// Without the `field-paths` feature no path is tracked: the field is left empty and the
/// error's detail keeps serde_json's line and column instead.
#[cfg(not(feature = "field-paths"))]
#[expect(
    clippy::extra_unused_type_parameters,
    reason = "the same signature as with the feature on"
)]
fn field_path<'a, T: Deserialize<'a>>(_bytes: &'a [u8]) -> Option<String> {
    Some(String::new())
}

fn strip_position(msg: &str) -> String {
    match msg.rfind(" at line ") {
        Some(i) => msg[..i].to_owned(),
        None => msg.to_owned(),
    }
}

/// Decodes a payload (`data`, `meta`) into the application's own type.
pub fn decode_payload<T: DeserializeOwned>(
    payload: &serde_json::value::RawValue,
) -> Result<T, DecodeError> {
    parse(payload.get().as_bytes(), "payload")
}

/// Encodes a frame as JSON text, `{"v":1,"k":"<kind>",...}`.
pub fn encode(frame: &Frame) -> String {
    let body = match frame {
        Frame::Hello(b) => to_body(b),
        Frame::Welcome(b) => to_body(b),
        Frame::Join(b) => to_body(b),
        Frame::Resume(b) => to_body(b),
        Frame::Joined(b) => to_body(b),
        Frame::Leave(b) => to_body(b),
        Frame::Left(b) => to_body(b),
        Frame::Publish(b) => to_body(b),
        Frame::Ack(b) => to_body(b),
        Frame::Event(b) => to_body(b),
        Frame::Request(b) => to_body(b),
        Frame::Response(b) => to_body(b),
        Frame::Presence(b) => to_body(b),
        Frame::Error(b) => to_body(b),
        Frame::Ping | Frame::Pong => String::from("{}"),
    };
    let mut out = String::with_capacity(body.len() + 24);
    out.push_str("{\"v\":");
    out.push_str(&WIRE_VERSION.to_string());
    out.push_str(",\"k\":\"");
    out.push_str(frame.kind().as_str());
    out.push('"');
    // `body` is a JSON object: `{}` or `{"field":...}`; splice its fields after the header.
    if body.len() > 2 {
        out.push(',');
    }
    out.push_str(&body[1..]);
    out
}

fn to_body<T: serde::Serialize>(body: &T) -> String {
    // Frame bodies are plain structs with string keys: serializing them cannot fail.
    serde_json::to_string(body).unwrap_or_else(|_| String::from("{}"))
}

/// Encodes an `event` frame around its sequence number: `head`, then the number in
/// decimal, then `tail` is exactly [`encode`] of the event. A shared broker that numbers
/// messages (Redis) splices the number in without parsing JSON.
pub fn encode_event_around_seq(room: &str, from: Option<&str>, data: &Payload) -> (String, String) {
    const SEQ: &str = ",\"seq\":0";
    let whole = encode(&Frame::Event(crate::frame::Event {
        room: room.to_owned(),
        seq: 0,
        from: from.map(str::to_owned),
        data: data.clone(),
    }));
    // Quotes inside the room name are escaped, so the first `,"seq":0` is the field.
    match whole.find(SEQ) {
        Some(at) => {
            let split = at + SEQ.len() - 1;
            (whole[..split].to_owned(), whole[split + 1..].to_owned())
        }
        None => (whole, String::new()),
    }
}

/// Encodes an application payload for a frame.
pub fn encode_payload<T: serde::Serialize + ?Sized>(
    value: &T,
) -> Result<crate::frame::Payload, serde_json::Error> {
    serde_json::value::to_raw_value(value)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_event_split_around_its_seq_is_the_whole_event_again() {
        let data =
            encode_payload(&serde_json::json!({"seq": 0, "x": ",\"seq\":0"})).expect("a payload");
        for (room, from) in [("plain", Some("alice")), ("tricky,\"seq\":0 \u{e9}", None)] {
            let (head, tail) = encode_event_around_seq(room, from, &data);
            let whole = encode(&Frame::Event(crate::frame::Event {
                room: room.to_owned(),
                seq: 4_503_599_627_370_495,
                from: from.map(str::to_owned),
                data: data.clone(),
            }));
            assert_eq!(format!("{head}4503599627370495{tail}"), whole);
        }
    }
}
