//! The codec: frames to JSON text and back, with a size limit and a typed error per bad input.

mod read;
mod write;

pub(crate) use write::MemberRef;

use serde::de::DeserializeOwned;

use crate::error::ErrorCode;
use crate::frame::{self, Frame, Id, Kind, Member, WIRE_VERSION};
use crate::json::{Fault, Reader, push_u64};
use crate::payload::Payload;

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
    #[error("unknown frame kind `{kind}`")]
    UnknownKind {
        /// The kind as received.
        kind: String,
        /// The frame's `id`, if it had a readable one.
        id: Option<Id>,
    },
    /// A required field is absent.
    #[error("{kind}{} is missing the field `{field}`", frame_word(kind))]
    MissingField {
        /// The frame's kind, `"frame"` when `v`/`k` themselves are missing, or `"payload"`
        /// for an application payload ([`decode_payload`]).
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
    #[error(
        "{kind}{} has a wrong type{}: {detail}",
        frame_word(kind),
        at_field(field)
    )]
    WrongType {
        /// The frame's kind, `"frame"` for the header fields, or `"payload"` for an
        /// application payload ([`decode_payload`]).
        kind: String,
        /// The path of the offending field, e.g. `presence[0].user`. For an application
        /// payload ([`decode_payload`]) it is empty when the build tracks no paths (the
        /// `field-paths` feature); frames always name it.
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

/// What follows a [`DecodeError`]'s kind: ` frame` after a kind (`publish frame`), nothing
/// after `frame` (the header) or `payload`, so no message says `frame frame`.
fn frame_word(kind: &str) -> &'static str {
    match kind {
        "frame" | "payload" => "",
        _ => " frame",
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

/// Decodes one text frame of any kind, refusing anything over `max_bytes`.
///
/// A server decodes with [`decode_from_client`] and a client with [`decode_from_server`]:
/// each accepts only the kinds its peer sends.
pub fn decode(bytes: &[u8], max_bytes: usize) -> Result<Frame, DecodeError> {
    decode_with(bytes, max_bytes, |text, kind| {
        read::client_frame(text, kind).or_else(|| read::server_frame(text, kind))
    })
}

/// Decodes one text frame a client sent (what a server reads). The kinds only a server
/// sends are refused with [`DecodeError::WrongDirection`].
pub fn decode_from_client(bytes: &[u8], max_bytes: usize) -> Result<Frame, DecodeError> {
    decode_with(bytes, max_bytes, read::client_frame)
}

/// Decodes one text frame a server sent (what a client reads). The kinds only a client
/// sends are refused with [`DecodeError::WrongDirection`].
pub fn decode_from_server(bytes: &[u8], max_bytes: usize) -> Result<Frame, DecodeError> {
    decode_with(bytes, max_bytes, read::server_frame)
}

/// Decodes a frame with `reader`, which reads the kinds this side accepts and gives `None`
/// for the others.
fn decode_with(
    bytes: &[u8],
    max_bytes: usize,
    reader: impl FnOnce(&str, Kind) -> Option<Result<Frame, Fault>>,
) -> Result<Frame, DecodeError> {
    if bytes.len() > max_bytes {
        return Err(DecodeError::TooLarge {
            size: bytes.len(),
            limit: max_bytes,
        });
    }
    let text = std::str::from_utf8(bytes).map_err(|e| DecodeError::Malformed {
        detail: format!(
            "a frame must be UTF-8 (invalid at byte {})",
            e.valid_up_to()
        ),
    })?;
    let kind = kind(text)?;
    let Some(frame) = reader(text, kind) else {
        return Err(DecodeError::WrongDirection {
            kind,
            id: frame_id(text),
        });
    };
    frame.map_err(|fault| match fault {
        Fault::Missing(field) => DecodeError::MissingField {
            kind: kind.as_str().to_owned(),
            field: field.to_owned(),
            id: frame_id(text),
        },
        fault @ Fault::Type { .. } => wrong_type(kind.as_str(), fault, text),
        other => malformed(other),
    })
}

/// The start of every frame tandem's own [`encode`] writes, up to the kind's name.
const ENCODED_START: &str = "{\"v\":1,\"k\":\"";

/// Reads the `v` and the `k` of a frame: its kind.
///
/// A frame as tandem writes it, `{"v":1,"k":"<kind>",...`, is recognised without reading
/// the rest; anything else (other field order, spaces, escapes) reads the header fields
/// wherever they are first.
fn kind<'a>(text: &'a str) -> Result<Kind, DecodeError> {
    const _: () = assert!(WIRE_VERSION == 1, "ENCODED_START spells the wire version");
    if let Some(rest) = text.strip_prefix(ENCODED_START) {
        let kind = rest
            .split_once('"')
            .and_then(|(name, _)| Kind::from_wire(name));
        if let Some(kind) = kind {
            return Ok(kind);
        }
    }
    if !text.trim_start().starts_with('{') {
        return Err(DecodeError::Malformed {
            detail: "a frame must be a JSON object".into(),
        });
    }
    let header = read::header(text).map_err(malformed)?;
    let id = header.id();
    let wrong = |fault: Fault| DecodeError::WrongType {
        kind: "frame".into(),
        detail: fault.detail(),
        field: fault_path(fault),
        id,
    };
    let missing = |field: &str| DecodeError::MissingField {
        kind: "frame".into(),
        field: field.into(),
        id,
    };
    // In PROTOCOL.md's order: `v` present, `v == 1`, `k` present, `k` known. The header
    // holds each field's JSON text; `null` is absent.
    let present = |text: Option<&'a str>| text.filter(|t| *t != "null");
    let v = present(header.v).ok_or_else(|| missing("v"))?;
    let version = Reader::new(v).u64().map_err(|f| wrong(f.in_field("v")))?;
    if version != u64::from(WIRE_VERSION) {
        return Err(DecodeError::UnsupportedVersion {
            found: version,
            supported: WIRE_VERSION,
        });
    }
    let k = present(header.k).ok_or_else(|| missing("k"))?;
    let name = Reader::new(k)
        .string()
        .map_err(|f| wrong(f.in_field("k")))?;
    Kind::from_wire(&name).ok_or_else(|| DecodeError::UnknownKind {
        kind: name.into_owned(),
        id,
    })
}

/// The frame's `id`, when its header reads: looked for only on the way to an error, so a
/// good frame is read once.
fn frame_id(text: &str) -> Option<Id> {
    read::header(text).ok()?.id()
}

fn malformed(fault: Fault) -> DecodeError {
    DecodeError::Malformed {
        detail: fault.detail(),
    }
}

fn fault_path(fault: Fault) -> String {
    match fault {
        Fault::Type { path, .. } => path,
        _ => String::new(),
    }
}

fn wrong_type(kind: &str, fault: Fault, text: &str) -> DecodeError {
    DecodeError::WrongType {
        kind: kind.to_owned(),
        detail: fault.detail(),
        field: fault_path(fault),
        id: frame_id(text),
    }
}

impl Payload {
    /// The payload whose text is `json`, once it is checked to be one JSON value.
    /// Whitespace around the value is dropped.
    pub fn from_json(json: impl Into<String>) -> Result<Payload, DecodeError> {
        let json = json.into();
        let mut reader = Reader::new(&json);
        let fault = match reader.raw().and_then(|raw| reader.end().map(|()| raw)) {
            Ok(raw) if raw.len() == json.len() => return Ok(Payload::trusted(json)),
            Ok(raw) => return Ok(Payload::trusted(raw)),
            Err(fault) => fault,
        };
        Err(DecodeError::Malformed {
            detail: format!("a payload must be one JSON value: {}", fault.detail()),
        })
    }
}

/// Decodes a payload (`data`, `meta`) into the application's own type, with serde.
/// The fast path is a plain parse; only a failure pays for locating the bad field.
pub fn decode_payload<T: DeserializeOwned>(payload: &Payload) -> Result<T, DecodeError> {
    let bytes = payload.get().as_bytes();
    let err = match serde_json::from_slice::<T>(bytes) {
        Ok(v) => return Ok(v),
        Err(e) => e,
    };
    use serde_json::error::Category;
    let msg = err.to_string();
    match err.classify() {
        Category::Io | Category::Syntax | Category::Eof => {
            return Err(DecodeError::Malformed { detail: msg });
        }
        Category::Data => {}
    }
    if let Some(rest) = msg.strip_prefix("missing field `") {
        let field = rest.split('`').next().unwrap_or_default().to_owned();
        return Err(DecodeError::MissingField {
            kind: "payload".into(),
            field,
            id: None,
        });
    }
    let path = field_path::<T>(bytes);
    Err(DecodeError::WrongType {
        kind: "payload".into(),
        detail: if path.is_empty() {
            msg
        } else {
            strip_position(&msg)
        },
        field: path,
        id: None,
    })
}

/// Where in `bytes` parsing `T` fails: the field's path, empty when the failure is at the
/// top. Re-parses, so only ever called for a bad payload.
#[cfg(feature = "field-paths")]
fn field_path<T: DeserializeOwned>(bytes: &[u8]) -> String {
    let mut de = serde_json::Deserializer::from_slice(bytes);
    match serde_path_to_error::deserialize::<_, T>(&mut de) {
        Err(e) if e.path().to_string() != "." => e.path().to_string(),
        _ => String::new(),
    }
}

/// Without the `field-paths` feature no path is tracked: the field is left empty and the
/// error's detail keeps serde_json's line and column instead.
#[cfg(not(feature = "field-paths"))]
#[expect(
    clippy::extra_unused_type_parameters,
    reason = "the same signature as with the feature on"
)]
fn field_path<T: DeserializeOwned>(_bytes: &[u8]) -> String {
    String::new()
}

fn strip_position(msg: &str) -> String {
    match msg.rfind(" at line ") {
        Some(i) => msg[..i].to_owned(),
        None => msg.to_owned(),
    }
}

/// Encodes a frame as JSON text, `{"v":1,"k":"<kind>",...}`.
pub fn encode(frame: &Frame) -> String {
    let mut out = String::with_capacity(64);
    out.push_str("{\"v\":");
    push_u64(&mut out, u64::from(WIRE_VERSION));
    out.push_str(",\"k\":\"");
    out.push_str(frame.kind().as_str());
    out.push('"');
    write::fields(&mut out, frame);
    out.push('}');
    out
}

/// A `joined` frame with its presence written from `members` as a room holds them, byte
/// for byte what [`encode`] writes for `joined` with those members: a snapshot of a
/// 5,000-member room costs no 5,000 cloned strings per join. `joined.presence` is not
/// read.
pub(crate) fn encode_joined<'a>(
    joined: &frame::Joined,
    members: impl IntoIterator<Item = MemberRef<'a>>,
) -> String {
    let mut out = String::with_capacity(128);
    out.push_str("{\"v\":");
    push_u64(&mut out, u64::from(WIRE_VERSION));
    out.push_str(",\"k\":\"joined\"");
    write::joined(&mut out, joined, members);
    out.push('}');
    out
}

/// A `page` frame whose events are stored `event` frames, embedded whole (their `v` and
/// `k` included, which readers skip): a page of 100 messages is copied, not re-encoded.
pub fn encode_page<'a>(
    id: Id,
    room: &str,
    epoch: u64,
    frames: impl IntoIterator<Item = &'a [u8]>,
    more: bool,
) -> String {
    let mut out = String::with_capacity(256);
    out.push_str("{\"v\":");
    push_u64(&mut out, u64::from(WIRE_VERSION));
    out.push_str(",\"k\":\"page\"");
    write::page_head(&mut out, id, room, epoch);
    for (i, frame) in frames.into_iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        // Stored frames are the server's own encodings: UTF-8 JSON objects.
        out.push_str(core::str::from_utf8(frame).unwrap_or("{}"));
    }
    write::page_tail(&mut out, more);
    out.push('}');
    out
}

/// Encodes a list of members as frames carry them (`joined`'s `presence`, `presence`'s
/// `joined` and `left`): a JSON array of `{"user":...,"meta":...}`, `meta` left out when
/// absent. The browser hands a member list to JavaScript as this text, parsed once.
pub fn encode_members(list: &[Member]) -> String {
    let mut out = String::with_capacity(2 + 32 * list.len());
    write::member_list(&mut out, list);
    out
}

/// Encodes an `event` frame around its sequence number: `head`, then the number in
/// decimal, then `tail` is exactly [`encode`] of the event. A shared broker that numbers
/// messages (Redis) splices the number in without parsing JSON.
pub fn encode_event_around_seq(room: &str, from: Option<&str>, data: &Payload) -> (String, String) {
    const SEQ: &str = ",\"seq\":0";
    let whole = encode(&Frame::Event(crate::frame::Event {
        room: room.to_owned(),
        seq: Some(0),
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
) -> Result<Payload, serde_json::Error> {
    serde_json::to_string(value).map(Payload::trusted)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_payload_is_one_json_value() {
        let p = Payload::from_json(" {\"a\": [1, 2]} \n").expect("JSON");
        assert_eq!(p.get(), "{\"a\": [1, 2]}");
        assert_eq!(Payload::from_json("null"), Ok(Payload::null()));
        for bad in ["", "{", "1 2", "nul", "{\"a\":}", "'x'"] {
            assert!(
                matches!(Payload::from_json(bad), Err(DecodeError::Malformed { .. })),
                "{bad:?}"
            );
        }
    }

    #[test]
    fn a_joined_written_from_held_members_is_the_joined_frame_byte_for_byte() {
        let meta = Payload::from_json(r#"{"color": "red"}"#).expect("JSON");
        let members = vec![
            Member {
                user: "ada".to_owned(),
                meta: None,
                info: None,
            },
            Member {
                user: "b\"ob".to_owned(),
                meta: Some(meta),
                info: None,
            },
        ];
        for recovered in [None, Some(true), Some(false)] {
            let mut joined = frame::Joined {
                id: 7,
                room: "lobby".to_owned(),
                epoch: 3,
                seq: 41,
                recovered,
                presence: Vec::new(),
                policy: recovered.map(|r| crate::frame::Policy {
                    history: 10,
                    history_ms: 1000,
                    history_bytes: 1 << 20,
                    numbered: r,
                    presence: !r,
                    max_members: r.then_some(5),
                }),
            };
            let held = members
                .iter()
                .map(|m| (m.user.as_str(), m.meta.as_ref(), m.info.as_ref()));
            let written = encode_joined(&joined, held);
            joined.presence = members.clone();
            assert_eq!(written, encode(&Frame::Joined(joined)));
        }
    }

    #[test]
    fn a_member_list_is_written_as_serde_writes_it() {
        let meta = Payload::from_json(r#"{"color": "red"}"#).expect("JSON");
        for list in [
            vec![],
            vec![
                Member {
                    user: "ada".to_owned(),
                    meta: None,
                    info: None,
                },
                Member {
                    user: "b\"ob\u{e9}".to_owned(),
                    meta: Some(meta),
                    info: None,
                },
            ],
        ] {
            assert_eq!(
                encode_members(&list),
                serde_json::to_string(&list).expect("serializable")
            );
        }
    }

    #[test]
    fn an_event_split_around_its_seq_is_the_whole_event_again() {
        let data =
            encode_payload(&serde_json::json!({"seq": 0, "x": ",\"seq\":0"})).expect("a payload");
        for (room, from) in [("plain", Some("alice")), ("tricky,\"seq\":0 \u{e9}", None)] {
            let (head, tail) = encode_event_around_seq(room, from, &data);
            let whole = encode(&Frame::Event(crate::frame::Event {
                room: room.to_owned(),
                seq: Some(4_503_599_627_370_495),
                from: from.map(str::to_owned),
                data: data.clone(),
            }));
            assert_eq!(format!("{head}4503599627370495{tail}"), whole);
        }
    }

    /// The result a response's text is read as, from either side.
    fn response_result(text: &str) -> Result<Payload, crate::frame::ErrorBody> {
        let from_server = decode_from_server(text.as_bytes(), 1024);
        let from_client = decode_from_client(text.as_bytes(), 1024);
        assert_eq!(format!("{from_server:?}"), format!("{from_client:?}"));
        match from_server {
            Ok(Frame::Response(r)) => r.result,
            other => panic!("not a response: {other:?}"),
        }
    }

    #[test]
    fn a_response_with_both_fields_fails_and_one_with_neither_is_missing_a_field() {
        let both =
            r#"{"v":1,"k":"response","id":1,"data":7,"error":{"code":"timeout","message":"m"}}"#;
        let e = response_result(both).expect_err("error wins");
        assert_eq!((e.code, e.message.as_str()), (ErrorCode::Timeout, "m"));
        let e = response_result(r#"{"v":1,"k":"response","id":1}"#).expect_err("neither");
        assert_eq!(e.code, ErrorCode::MissingField);
        let null = response_result(r#"{"v":1,"k":"response","id":1,"data":null}"#);
        assert_eq!(null.expect("null is an answer").get(), "null");
    }

    #[test]
    fn a_client_response_whose_data_gives_a_key_twice_is_malformed_even_beside_an_error() {
        let text = r#"{"v":1,"k":"response","id":1,"data":{"a":1,"a":2},"error":{"code":"timeout","message":"m"}}"#;
        let e = decode_from_client(text.as_bytes(), 1024).expect_err("refused");
        assert!(matches!(e, DecodeError::Malformed { .. }), "{e:?}");
    }
}
