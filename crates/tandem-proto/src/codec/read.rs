//! Reading a frame's fields, kind by kind, in one pass over its JSON text.
//!
//! The rules are the frame types' serde attributes, which PROTOCOL.md documents: keys in
//! any order, unknown keys skipped, a key given twice refused, an absent optional field or
//! `null` is `None` (but `null` is a payload in `meta` and `data`), and the first missing
//! required field in declaration order is the one named. A nested struct must be an
//! object. Each side reads only the kinds its peer sends ([`server_frame`],
//! [`client_frame`]), so a browser build carries no reader for the kinds only a server
//! reads.

use std::borrow::Cow;

use crate::error::ErrorCode;
use crate::frame::{
    Ack, AnnouncedLimits, AppOffer, AppSelected, ErrorBody, ErrorFrame, Event, Frame,
    HeartbeatTimings, Hello, History, Join, Joined, Kind, Leave, Left, Member, Message, Page,
    Policy, Presence, Publish, Refresh, Request, Response, Resume, Token, Unsubscribed, Update,
    Welcome,
};
use crate::json::{Fault, Reader};
use crate::payload::Payload;

/// The fields of one object: `slot` reads a key's value and says whether the key was one
/// of its fields; other keys are skipped. A frame's own `v` and `k` (read by the header)
/// are skipped too, but only once each.
fn fields<'a>(
    r: &mut Reader<'a>,
    slot: &mut dyn FnMut(&mut Reader<'a>, &str) -> Result<bool, Fault>,
) -> Result<(), Fault> {
    let (mut v, mut k) = (false, false);
    r.object(&mut |r, key| {
        let header = match &*key {
            "v" => Some(&mut v),
            "k" => Some(&mut k),
            _ => None,
        };
        if let Some(seen) = header {
            if std::mem::replace(seen, true) {
                return Err(Fault::Duplicate(key.into_owned()));
            }
            return r.skip();
        }
        if !slot(r, &key).map_err(|f| f.in_field(&key))? {
            r.skip()?;
        }
        Ok(())
    })
}

/// Reads a field's value into its slot, refusing a second one (before reading it).
fn put<'a, T>(
    slot: &mut Option<T>,
    key: &str,
    r: &mut Reader<'a>,
    read: impl FnOnce(&mut Reader<'a>) -> Result<T, Fault>,
) -> Result<bool, Fault> {
    if slot.is_some() {
        return Err(Fault::Duplicate(key.to_owned()));
    }
    *slot = Some(read(r)?);
    Ok(true)
}

/// A required field's value.
fn need<T>(value: Option<T>, name: &'static str) -> Result<T, Fault> {
    value.ok_or(Fault::Missing(name))
}

/// An optional field's value, where absent is `None` (a payload: `null` is a value).
fn kept<T>(value: Option<T>, _: &str) -> Result<Option<T>, Fault> {
    Ok(value)
}

/// An optional field's value, where absent and `null` are `None`.
fn nullable<T>(value: Option<Option<T>>, _: &str) -> Result<Option<T>, Fault> {
    Ok(value.flatten())
}

/// A list field's value, where absent is empty.
fn empty<T>(value: Option<Vec<T>>, _: &str) -> Result<Vec<T>, Fault> {
    Ok(value.unwrap_or_default())
}

fn string(r: &mut Reader<'_>) -> Result<String, Fault> {
    r.string().map(Cow::into_owned)
}

/// An optional field's value: `null` is `None`.
fn optional<'a, T>(
    r: &mut Reader<'a>,
    read: impl FnOnce(&mut Reader<'a>) -> Result<T, Fault>,
) -> Result<Option<T>, Fault> {
    if r.null()? {
        Ok(None)
    } else {
        read(r).map(Some)
    }
}

// The composite readers fields share, as named functions: each closure would be a type of
// its own, and a copy of `put` and `optional` with it.

fn opt_string(r: &mut Reader<'_>) -> Result<Option<String>, Fault> {
    optional(r, string)
}

fn opt_u64(r: &mut Reader<'_>) -> Result<Option<u64>, Fault> {
    optional(r, Reader::u64)
}

fn opt_bool(r: &mut Reader<'_>) -> Result<Option<bool>, Fault> {
    optional(r, Reader::bool)
}

fn members(r: &mut Reader<'_>) -> Result<Vec<Member>, Fault> {
    list(r, member)
}

fn payload(r: &mut Reader<'_>) -> Result<Payload, Fault> {
    r.raw().map(Payload::trusted)
}

fn u32(r: &mut Reader<'_>) -> Result<u32, Fault> {
    r.whole(u64::from(u32::MAX))
        .map(|n| u32::try_from(n).unwrap_or(u32::MAX))
}

fn usize(r: &mut Reader<'_>) -> Result<usize, Fault> {
    let max = u64::try_from(usize::MAX).unwrap_or(u64::MAX);
    r.whole(max)
        .map(|n| usize::try_from(n).unwrap_or(usize::MAX))
}

fn list<'a, T>(
    r: &mut Reader<'a>,
    mut read: impl FnMut(&mut Reader<'a>) -> Result<T, Fault>,
) -> Result<Vec<T>, Fault> {
    let mut out = Vec::new();
    r.array(&mut |r, i| {
        out.push(read(r).map_err(|f| f.in_element(i))?);
        Ok(())
    })?;
    Ok(out)
}

/// Writes the reader of one struct from its fields, in declaration order: each field's
/// wire name is its Rust name, its value is read by `read` and then taken by `finish`,
/// one of [`need`], [`kept`], [`nullable`] or [`empty`].
macro_rules! reader {
    ($name:ident -> $ty:ident { $($field:ident: $read:expr => $finish:ident),+ $(,)? }) => {
        fn $name(r: &mut Reader<'_>) -> Result<$ty, Fault> {
            $(let mut $field = None;)+
            fields(r, &mut |r, key| match key {
                $(stringify!($field) => put(&mut $field, key, r, $read),)+
                _ => Ok(false),
            })?;
            Ok($ty {
                $($field: $finish($field, stringify!($field))?,)+
            })
        }
    };
}

fn error_code(r: &mut Reader<'_>) -> Result<ErrorCode, Fault> {
    r.string().map(|s| ErrorCode::from_wire(&s))
}

reader!(member -> Member { user: string => need, meta: payload => kept, info: payload => kept });
reader!(error_body -> ErrorBody { code: error_code => need, message: string => need });
reader!(app_offer -> AppOffer { name: string => need, versions: |r| list(r, u32) => need });
reader!(app_selected -> AppSelected { name: string => need, version: u32 => need });
reader!(heartbeat_timings -> HeartbeatTimings {
    interval_ms: Reader::u64 => need,
    timeout_ms: Reader::u64 => need,
});
reader!(announced_limits -> AnnouncedLimits {
    max_frame_bytes: usize => need,
    rate_per_second: |r| optional(r, u32) => nullable,
    rate_burst: |r| optional(r, u32) => nullable,
});

reader!(hello -> Hello { app: app_offer => need, token: opt_string => nullable });
reader!(welcome -> Welcome {
    session: string => need,
    user: string => need,
    app: app_selected => need,
    heartbeat: heartbeat_timings => need,
    limits: announced_limits => need,
});
reader!(join -> Join {
    id: Reader::u64 => need,
    room: string => need,
    meta: payload => kept,
    history: |r| optional(r, u32) => nullable,
});
reader!(resume -> Resume {
    id: Reader::u64 => need,
    room: string => need,
    epoch: Reader::u64 => need,
    seq: Reader::u64 => need,
    meta: payload => kept,
});
reader!(room_policy -> Policy {
    history: Reader::u64 => need,
    history_ms: Reader::u64 => need,
    history_bytes: Reader::u64 => need,
    numbered: Reader::bool => need,
    presence: Reader::bool => need,
    max_members: opt_u64 => nullable,
});
reader!(joined -> Joined {
    id: Reader::u64 => need,
    room: string => need,
    epoch: Reader::u64 => need,
    seq: Reader::u64 => need,
    recovered: opt_bool => nullable,
    presence: members => need,
    policy: |r| optional(r, room_policy) => nullable,
});
reader!(leave -> Leave { id: Reader::u64 => need, room: string => need });
reader!(left -> Left { id: Reader::u64 => need, room: string => need });
reader!(publish -> Publish {
    id: Reader::u64 => need,
    room: string => need,
    data: payload => need,
    ephemeral: opt_bool => nullable,
    ack: opt_bool => nullable,
});
reader!(ack -> Ack { id: Reader::u64 => need, seq: opt_u64 => nullable });
reader!(event -> Event {
    room: string => need,
    seq: opt_u64 => nullable,
    from: opt_string => nullable,
    data: payload => need,
});
reader!(request -> Request {
    id: Reader::u64 => need,
    room: opt_string => nullable,
    data: payload => need,
});
/// A response's two wire fields, before [`Response::from_wire`] makes them one result.
struct WireResponse {
    id: u64,
    data: Option<Payload>,
    error: Option<ErrorBody>,
}

impl WireResponse {
    fn into_frame(self) -> Frame {
        Frame::Response(Response::from_wire(self.id, self.data, self.error))
    }
}

reader!(wire_response -> WireResponse {
    id: Reader::u64 => need,
    data: payload => kept,
    error: |r| optional(r, error_body) => nullable,
});
reader!(presence -> Presence {
    room: string => need,
    joined: members => empty,
    left: members => empty,
    updated: members => empty,
});
reader!(update -> Update { id: Reader::u64 => need, room: string => need, meta: payload => need });
reader!(history -> History {
    id: Reader::u64 => need,
    room: string => need,
    before: opt_u64 => nullable,
    limit: |r| optional(r, u32) => nullable,
});
reader!(page -> Page {
    id: Reader::u64 => need,
    room: string => need,
    epoch: Reader::u64 => need,
    events: |r| list(r, event) => need,
    more: Reader::bool => need,
});
reader!(refresh -> Refresh { expires_in_ms: Reader::u64 => need });
reader!(token -> Token { id: Reader::u64 => need, token: string => need });
reader!(unsubscribed -> Unsubscribed { room: string => need, message: string => need });
reader!(message -> Message { data: payload => need });
reader!(error -> ErrorFrame {
    id: opt_u64 => nullable,
    room: opt_string => nullable,
    code: error_code => need,
    message: string => need,
});

/// Reads the frame of a kind servers send, from the whole text of its object; `None` for
/// the kinds only clients send.
pub(super) fn server_frame(text: &str, kind: Kind) -> Option<Result<Frame, Fault>> {
    let r = &mut Reader::new(text);
    let frame = match kind {
        Kind::Welcome => welcome(r).map(Frame::Welcome),
        Kind::Joined => joined(r).map(Frame::Joined),
        Kind::Left => left(r).map(Frame::Left),
        Kind::Ack => ack(r).map(Frame::Ack),
        Kind::Event => event(r).map(Frame::Event),
        Kind::Request => request(r).map(Frame::Request),
        Kind::Response => wire_response(r).map(WireResponse::into_frame),
        Kind::Presence => presence(r).map(Frame::Presence),
        Kind::Error => error(r).map(Frame::Error),
        Kind::Page => page(r).map(Frame::Page),
        Kind::Refresh => refresh(r).map(Frame::Refresh),
        Kind::Unsubscribed => unsubscribed(r).map(Frame::Unsubscribed),
        Kind::Message => message(r).map(Frame::Message),
        Kind::Ping => fields(r, &mut |_, _| Ok(false)).map(|()| Frame::Ping),
        Kind::Pong => fields(r, &mut |_, _| Ok(false)).map(|()| Frame::Pong),
        _ => return None,
    };
    Some(frame.and_then(|f| r.end().map(|()| f)))
}

/// Reads the frame of a kind clients send, from the whole text of its object; `None` for
/// the kinds only servers send. A server relays payloads verbatim, so here a payload that
/// gives a key twice, at any depth, makes the frame malformed: no receiver ever gets one.
pub(super) fn client_frame(text: &str, kind: Kind) -> Option<Result<Frame, Fault>> {
    let frame = match kind {
        Kind::Response => {
            // `data` is checked even when `error` wins over it: whatever else a response
            // says, a payload giving a key twice makes it malformed.
            let r = &mut Reader::new(text);
            let read = wire_response(r).and_then(|w| {
                r.end()?;
                unique_keys("data", w.data.as_ref())?;
                Ok(w.into_frame())
            });
            return Some(read);
        }
        Kind::Request | Kind::Ping | Kind::Pong => server_frame(text, kind)?,
        _ => {
            let r = &mut Reader::new(text);
            let frame = match kind {
                Kind::Hello => hello(r).map(Frame::Hello),
                Kind::Join => join(r).map(Frame::Join),
                Kind::Resume => resume(r).map(Frame::Resume),
                Kind::Leave => leave(r).map(Frame::Leave),
                Kind::Publish => publish(r).map(Frame::Publish),
                Kind::Update => update(r).map(Frame::Update),
                Kind::History => history(r).map(Frame::History),
                Kind::Token => token(r).map(Frame::Token),
                _ => return None,
            };
            frame.and_then(|f| r.end().map(|()| f))
        }
    };
    Some(frame.and_then(|f| unique_payload_keys(&f).map(|()| f)))
}

/// Refuses a client frame whose payload (`meta`, `data`) gives a key twice in one object.
fn unique_payload_keys(frame: &Frame) -> Result<(), Fault> {
    let (field, payload) = match frame {
        Frame::Join(Join { meta, .. }) | Frame::Resume(Resume { meta, .. }) => {
            ("meta", meta.as_ref())
        }
        Frame::Update(Update { meta, .. }) => ("meta", Some(meta)),
        Frame::Publish(Publish { data, .. }) | Frame::Request(Request { data, .. }) => {
            ("data", Some(data))
        }
        _ => return Ok(()),
    };
    unique_keys(field, payload)
}

/// Refuses a payload (of the field named `field`) that gives a key twice in one object.
fn unique_keys(field: &str, payload: Option<&Payload>) -> Result<(), Fault> {
    match payload {
        // Only an object or an array holds keys.
        Some(p) if p.get().starts_with(['{', '[']) => {
            Reader::new(p.get()).unique_keys().map_err(|f| match f {
                Fault::Duplicate(key) => Fault::Duplicate(format!("{key}` in `{field}")),
                other => other,
            })
        }
        _ => Ok(()),
    }
}

/// A frame's header fields, read from anywhere in its object: each one's JSON text, so
/// their checks can run in the order PROTOCOL.md gives (`v`, then `k`), whatever order
/// the fields come in.
#[derive(Default)]
pub(super) struct Header<'a> {
    /// `v`.
    pub(super) v: Option<&'a str>,
    /// `k`.
    pub(super) k: Option<&'a str>,
    /// `id`, when the frame has one.
    id: Option<&'a str>,
}

impl<'a> Header<'a> {
    /// The frame's `id` when it is a readable integer; anything else is no id.
    pub(super) fn id(&self) -> Option<u64> {
        Reader::new(self.id?).u64().ok()
    }
}

/// Reads the header fields of a frame, checking that the whole text is one JSON object
/// and that none of them is given twice.
pub(super) fn header(text: &str) -> Result<Header<'_>, Fault> {
    let r = &mut Reader::new(text);
    let mut h = Header::default();
    r.object(&mut |r, key| {
        let slot = match &*key {
            "v" => &mut h.v,
            "k" => &mut h.k,
            "id" => &mut h.id,
            _ => return r.skip(),
        };
        put(slot, &key, r, Reader::raw).map(drop)
    })?;
    r.end()?;
    Ok(h)
}
