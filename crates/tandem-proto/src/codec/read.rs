//! Reading a frame's fields, kind by kind, in one pass over its JSON text.
//!
//! The rules follow the frame types' serde attributes, which PROTOCOL.md documents: keys
//! in any order, unknown keys skipped, a key given twice refused, an absent optional field
//! or `null` is `None` (but `null` is a payload in `meta` and `data`), and the first
//! missing required field in declaration order is the one named. A nested struct must be
//! an object.

use std::borrow::Cow;

use crate::error::ErrorCode;
use crate::frame::{
    Ack, AnnouncedLimits, AppOffer, AppSelected, ErrorBody, ErrorFrame, Event, Frame,
    HeartbeatTimings, Hello, Join, Joined, Kind, Leave, Left, Member, Presence, Publish, Request,
    Response, Resume, Welcome,
};
use crate::json::{Fault, Reader};
use crate::payload::Payload;

/// Why a frame's fields could not be read.
#[derive(Debug)]
pub(super) enum Bad {
    /// Not JSON, or a value of the wrong type.
    Fault(Fault),
    /// A required field is absent.
    Missing(&'static str),
    /// A key appears twice in one object.
    Duplicate(String),
}

impl From<Fault> for Bad {
    fn from(f: Fault) -> Bad {
        Bad::Fault(f)
    }
}

impl Bad {
    fn in_field(self, key: &str) -> Bad {
        match self {
            Bad::Fault(f) => Bad::Fault(f.in_field(key)),
            other => other,
        }
    }

    fn in_element(self, index: usize) -> Bad {
        match self {
            Bad::Fault(f) => Bad::Fault(f.in_element(index)),
            other => other,
        }
    }
}

/// The fields of one object: `slot` reads a key's value and says whether the key was one
/// of its fields; other keys are skipped, and a field given twice is refused.
fn fields<'a>(
    r: &mut Reader<'a>,
    mut slot: impl FnMut(&mut Reader<'a>, &str) -> Result<bool, Bad>,
) -> Result<(), Bad> {
    let mut seen: u32 = 0;
    r.object(|r, key| {
        if !slot(r, &key).map_err(|bad| bad.in_field(&key))? {
            r.skip()?;
            return Ok(());
        }
        let bit = key_bit(&key);
        if seen & bit != 0 {
            return Err(Bad::Duplicate(key.into_owned()));
        }
        seen |= bit;
        Ok(())
    })
}

/// One bit per known field name, to find a key given twice.
fn key_bit(key: &str) -> u32 {
    const NAMES: [&str; 29] = [
        "v",
        "k",
        "id",
        "room",
        "meta",
        "history",
        "epoch",
        "seq",
        "recovered",
        "presence",
        "data",
        "from",
        "error",
        "joined",
        "left",
        "code",
        "message",
        "session",
        "user",
        "app",
        "heartbeat",
        "limits",
        "token",
        "name",
        "versions",
        "version",
        "interval_ms",
        "timeout_ms",
        "max_frame_bytes",
    ];
    NAMES.iter().position(|n| *n == key).map_or(0, |i| 1 << i)
}

fn need<T>(value: Option<T>, name: &'static str) -> Result<T, Bad> {
    value.ok_or(Bad::Missing(name))
}

fn string(r: &mut Reader<'_>) -> Result<String, Fault> {
    r.string().map(Cow::into_owned)
}

/// An optional field: `null` is `None`.
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

fn members(r: &mut Reader<'_>) -> Result<Vec<Member>, Bad> {
    let mut out = Vec::new();
    r.array(|r, i| {
        out.push(member(r).map_err(|bad| bad.in_element(i))?);
        Ok::<_, Bad>(())
    })?;
    Ok(out)
}

fn member(r: &mut Reader<'_>) -> Result<Member, Bad> {
    let (mut user, mut meta) = (None, None);
    fields(r, |r, key| {
        match key {
            "user" => user = Some(string(r)?),
            "meta" => meta = Some(payload(r)?),
            _ => return Ok(false),
        }
        Ok(true)
    })?;
    Ok(Member {
        user: need(user, "user")?,
        meta,
    })
}

fn error_code(r: &mut Reader<'_>) -> Result<ErrorCode, Fault> {
    r.string().map(|s| ErrorCode::from_wire(&s))
}

fn error_body(r: &mut Reader<'_>) -> Result<ErrorBody, Bad> {
    let (mut code, mut message) = (None, None);
    fields(r, |r, key| {
        match key {
            "code" => code = Some(error_code(r)?),
            "message" => message = Some(string(r)?),
            _ => return Ok(false),
        }
        Ok(true)
    })?;
    Ok(ErrorBody {
        code: need(code, "code")?,
        message: need(message, "message")?,
    })
}

fn app_offer(r: &mut Reader<'_>) -> Result<AppOffer, Bad> {
    let (mut name, mut versions) = (None, None);
    fields(r, |r, key| {
        match key {
            "name" => name = Some(string(r)?),
            "versions" => {
                let mut list = Vec::new();
                r.array(|r, i| {
                    list.push(u32(r).map_err(|f| f.in_element(i))?);
                    Ok::<_, Fault>(())
                })?;
                versions = Some(list);
            }
            _ => return Ok(false),
        }
        Ok(true)
    })?;
    Ok(AppOffer {
        name: need(name, "name")?,
        versions: need(versions, "versions")?,
    })
}

fn app_selected(r: &mut Reader<'_>) -> Result<AppSelected, Bad> {
    let (mut name, mut version) = (None, None);
    fields(r, |r, key| {
        match key {
            "name" => name = Some(string(r)?),
            "version" => version = Some(u32(r)?),
            _ => return Ok(false),
        }
        Ok(true)
    })?;
    Ok(AppSelected {
        name: need(name, "name")?,
        version: need(version, "version")?,
    })
}

fn heartbeat(r: &mut Reader<'_>) -> Result<HeartbeatTimings, Bad> {
    let (mut interval, mut timeout) = (None, None);
    fields(r, |r, key| {
        match key {
            "interval_ms" => interval = Some(r.u64()?),
            "timeout_ms" => timeout = Some(r.u64()?),
            _ => return Ok(false),
        }
        Ok(true)
    })?;
    Ok(HeartbeatTimings {
        interval_ms: need(interval, "interval_ms")?,
        timeout_ms: need(timeout, "timeout_ms")?,
    })
}

fn limits(r: &mut Reader<'_>) -> Result<AnnouncedLimits, Bad> {
    let mut max = None;
    fields(r, |r, key| {
        match key {
            "max_frame_bytes" => max = Some(usize(r)?),
            _ => return Ok(false),
        }
        Ok(true)
    })?;
    Ok(AnnouncedLimits {
        max_frame_bytes: need(max, "max_frame_bytes")?,
    })
}

/// The fields every frame kind may have, read in one pass; each kind then takes its own.
#[derive(Default)]
struct Body {
    id: Option<u64>,
    room: Option<String>,
    meta: Option<Payload>,
    history: Option<u32>,
    epoch: Option<u64>,
    seq: Option<u64>,
    recovered: Option<bool>,
    presence: Option<Vec<Member>>,
    data: Option<Payload>,
    from: Option<String>,
    error: Option<ErrorBody>,
    joined: Option<Vec<Member>>,
    left: Option<Vec<Member>>,
    code: Option<ErrorCode>,
    message: Option<String>,
    session: Option<String>,
    user: Option<String>,
    app_offer: Option<AppOffer>,
    app_selected: Option<AppSelected>,
    heartbeat: Option<HeartbeatTimings>,
    limits: Option<AnnouncedLimits>,
    token: Option<String>,
}

/// The body fields `kind` has, by wire name.
fn has(kind: Kind, key: &str) -> bool {
    let names: &[&str] = match kind {
        Kind::Hello => &["app", "token"],
        Kind::Welcome => &["session", "user", "app", "heartbeat", "limits"],
        Kind::Join => &["id", "room", "meta", "history"],
        Kind::Resume => &["id", "room", "epoch", "seq", "meta"],
        Kind::Joined => &["id", "room", "epoch", "seq", "recovered", "presence"],
        Kind::Leave | Kind::Left => &["id", "room"],
        Kind::Publish => &["id", "room", "data"],
        Kind::Ack => &["id", "seq"],
        Kind::Event => &["room", "seq", "from", "data"],
        Kind::Request => &["id", "room", "data"],
        Kind::Response => &["id", "data", "error"],
        Kind::Presence => &["room", "joined", "left"],
        Kind::Error => &["id", "room", "code", "message"],
        Kind::Ping | Kind::Pong => &[],
    };
    names.contains(&key)
}

/// Reads the frame of `kind` from the whole text of its object.
pub(super) fn frame(text: &str, kind: Kind) -> Result<Frame, Bad> {
    let mut r = Reader::new(text);
    let mut b = Body::default();
    fields(&mut r, |r, key| {
        if key == "v" || key == "k" {
            // Read by the header; here only a second one is looked for.
            r.skip()?;
            return Ok(true);
        }
        if !has(kind, key) {
            return Ok(false);
        }
        if key != "meta" && key != "data" && r.null()? {
            // `null` is `None` for an optional field, and the wrong type for the others.
            return if nullable(kind, key) {
                Ok(true)
            } else {
                Err(Bad::Fault(null_fault(key)))
            };
        }
        match key {
            "id" => b.id = Some(r.u64()?),
            "room" => b.room = Some(string(r)?),
            "meta" => b.meta = Some(payload(r)?),
            "history" => b.history = Some(u32(r)?),
            "epoch" => b.epoch = Some(r.u64()?),
            "seq" => b.seq = Some(r.u64()?),
            "recovered" => b.recovered = Some(r.bool()?),
            "presence" => b.presence = Some(members(r)?),
            "data" => b.data = Some(payload(r)?),
            "from" => b.from = Some(string(r)?),
            "error" => b.error = Some(error_body(r)?),
            "joined" => b.joined = Some(members(r)?),
            "left" => b.left = Some(members(r)?),
            "code" => b.code = Some(error_code(r)?),
            "message" => b.message = Some(string(r)?),
            "session" => b.session = Some(string(r)?),
            "user" => b.user = Some(string(r)?),
            "app" if kind == Kind::Hello => b.app_offer = Some(app_offer(r)?),
            "app" => b.app_selected = Some(app_selected(r)?),
            "heartbeat" => b.heartbeat = Some(heartbeat(r)?),
            "limits" => b.limits = Some(limits(r)?),
            "token" => b.token = Some(string(r)?),
            _ => return Ok(false),
        }
        Ok(true)
    })?;
    let frame = build(kind, b)?;
    r.end()?;
    Ok(frame)
}

/// Whether `key` is an optional field of `kind`, where `null` is `None`.
fn nullable(kind: Kind, key: &str) -> bool {
    matches!(
        (kind, key),
        (_, "history" | "recovered" | "from" | "token")
            | (Kind::Request | Kind::Error, "room")
            | (Kind::Response, "error")
            | (Kind::Error, "id")
    )
}

/// The type fault for `null` in the field `key`, which cannot be `null`.
fn null_fault(key: &str) -> Fault {
    let expected = match key {
        "id" | "epoch" | "seq" => "a whole number",
        "presence" | "joined" | "left" => "an array",
        "app" | "heartbeat" | "limits" => "an object",
        _ => "a string",
    };
    Fault::Type {
        path: String::new(),
        expected,
        found: "null",
    }
}

/// Takes the fields of `kind` out of what was read, naming the first one missing.
fn build(kind: Kind, b: Body) -> Result<Frame, Bad> {
    Ok(match kind {
        Kind::Hello => Frame::Hello(Hello {
            app: need(b.app_offer, "app")?,
            token: b.token,
        }),
        Kind::Welcome => Frame::Welcome(Welcome {
            session: need(b.session, "session")?,
            user: need(b.user, "user")?,
            app: need(b.app_selected, "app")?,
            heartbeat: need(b.heartbeat, "heartbeat")?,
            limits: need(b.limits, "limits")?,
        }),
        Kind::Join => Frame::Join(Join {
            id: need(b.id, "id")?,
            room: need(b.room, "room")?,
            meta: b.meta,
            history: b.history,
        }),
        Kind::Resume => Frame::Resume(Resume {
            id: need(b.id, "id")?,
            room: need(b.room, "room")?,
            epoch: need(b.epoch, "epoch")?,
            seq: need(b.seq, "seq")?,
            meta: b.meta,
        }),
        Kind::Joined => Frame::Joined(Joined {
            id: need(b.id, "id")?,
            room: need(b.room, "room")?,
            epoch: need(b.epoch, "epoch")?,
            seq: need(b.seq, "seq")?,
            recovered: b.recovered,
            presence: need(b.presence, "presence")?,
        }),
        Kind::Leave => Frame::Leave(Leave {
            id: need(b.id, "id")?,
            room: need(b.room, "room")?,
        }),
        Kind::Left => Frame::Left(Left {
            id: need(b.id, "id")?,
            room: need(b.room, "room")?,
        }),
        Kind::Publish => Frame::Publish(Publish {
            id: need(b.id, "id")?,
            room: need(b.room, "room")?,
            data: need(b.data, "data")?,
        }),
        Kind::Ack => Frame::Ack(Ack {
            id: need(b.id, "id")?,
            seq: need(b.seq, "seq")?,
        }),
        Kind::Event => Frame::Event(Event {
            room: need(b.room, "room")?,
            seq: need(b.seq, "seq")?,
            from: b.from,
            data: need(b.data, "data")?,
        }),
        Kind::Request => Frame::Request(Request {
            id: need(b.id, "id")?,
            room: b.room,
            data: need(b.data, "data")?,
        }),
        Kind::Response => Frame::Response(Response {
            id: need(b.id, "id")?,
            data: b.data,
            error: b.error,
        }),
        Kind::Presence => Frame::Presence(Presence {
            room: need(b.room, "room")?,
            joined: b.joined.unwrap_or_default(),
            left: b.left.unwrap_or_default(),
        }),
        Kind::Ping => Frame::Ping,
        Kind::Pong => Frame::Pong,
        Kind::Error => Frame::Error(ErrorFrame {
            id: b.id,
            room: b.room,
            code: need(b.code, "code")?,
            message: need(b.message, "message")?,
        }),
    })
}

/// A frame's header fields, read from anywhere in its object.
#[derive(Default)]
pub(super) struct Header<'a> {
    /// `v`.
    pub(super) v: Option<u64>,
    /// `k`.
    pub(super) k: Option<Cow<'a, str>>,
    /// `id`, when the frame has one.
    pub(super) id: Option<u64>,
}

/// Reads the header fields of a frame, skipping the rest.
pub(super) fn header(text: &str) -> Result<Header<'_>, Bad> {
    let mut r = Reader::new(text);
    let mut h = Header::default();
    fields(&mut r, |r, key| {
        match key {
            "v" => h.v = optional(r, Reader::u64)?,
            "k" => h.k = optional(r, Reader::string)?,
            "id" => h.id = optional(r, Reader::u64)?,
            _ => return Ok(false),
        }
        Ok(true)
    })?;
    r.end()?;
    Ok(h)
}
