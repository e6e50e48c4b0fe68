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
    HeartbeatTimings, Hello, Join, Joined, Kind, Leave, Left, Member, Presence, Publish, Request,
    Response, Resume, Welcome,
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

fn need<T>(value: Option<T>, name: &'static str) -> Result<T, Fault> {
    value.ok_or(Fault::Missing(name))
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

fn member(r: &mut Reader<'_>) -> Result<Member, Fault> {
    let (mut user, mut meta) = (None, None);
    fields(r, &mut |r, key| match key {
        "user" => put(&mut user, key, r, string),
        "meta" => put(&mut meta, key, r, payload),
        _ => Ok(false),
    })?;
    Ok(Member {
        user: need(user, "user")?,
        meta,
    })
}

fn error_code(r: &mut Reader<'_>) -> Result<ErrorCode, Fault> {
    r.string().map(|s| ErrorCode::from_wire(&s))
}

fn error_body(r: &mut Reader<'_>) -> Result<ErrorBody, Fault> {
    let (mut code, mut message) = (None, None);
    fields(r, &mut |r, key| match key {
        "code" => put(&mut code, key, r, error_code),
        "message" => put(&mut message, key, r, string),
        _ => Ok(false),
    })?;
    Ok(ErrorBody {
        code: need(code, "code")?,
        message: need(message, "message")?,
    })
}

/// Reads the frame of a kind servers send, from the whole text of its object; `None` for
/// the kinds only clients send.
pub(super) fn server_frame(text: &str, kind: Kind) -> Option<Result<Frame, Fault>> {
    let r = &mut Reader::new(text);
    let frame = match kind {
        Kind::Welcome => welcome(r).map(Frame::Welcome),
        Kind::Joined => joined(r).map(Frame::Joined),
        Kind::Left => id_room(r).map(|(id, room)| Frame::Left(Left { id, room })),
        Kind::Ack => ack(r).map(Frame::Ack),
        Kind::Event => event(r).map(Frame::Event),
        Kind::Request => request(r).map(Frame::Request),
        Kind::Response => response(r).map(Frame::Response),
        Kind::Presence => presence(r).map(Frame::Presence),
        Kind::Error => error(r).map(Frame::Error),
        Kind::Ping => fields(r, &mut |_, _| Ok(false)).map(|()| Frame::Ping),
        Kind::Pong => fields(r, &mut |_, _| Ok(false)).map(|()| Frame::Pong),
        _ => return None,
    };
    Some(frame.and_then(|f| r.end().map(|()| f)))
}

/// Reads the frame of a kind clients send, from the whole text of its object; `None` for
/// the kinds only servers send.
pub(super) fn client_frame(text: &str, kind: Kind) -> Option<Result<Frame, Fault>> {
    let r = &mut Reader::new(text);
    let frame = match kind {
        Kind::Hello => hello(r).map(Frame::Hello),
        Kind::Join => join(r).map(Frame::Join),
        Kind::Resume => resume(r).map(Frame::Resume),
        Kind::Leave => id_room(r).map(|(id, room)| Frame::Leave(Leave { id, room })),
        Kind::Publish => publish(r).map(Frame::Publish),
        Kind::Request | Kind::Response | Kind::Ping | Kind::Pong => {
            return server_frame(text, kind);
        }
        _ => return None,
    };
    Some(frame.and_then(|f| r.end().map(|()| f)))
}

fn welcome(r: &mut Reader<'_>) -> Result<Welcome, Fault> {
    let (mut session, mut user, mut app, mut heartbeat, mut limits) =
        (None, None, None, None, None);
    fields(r, &mut |r, key| match key {
        "session" => put(&mut session, key, r, string),
        "user" => put(&mut user, key, r, string),
        "app" => put(&mut app, key, r, app_selected),
        "heartbeat" => put(&mut heartbeat, key, r, heartbeat_timings),
        "limits" => put(&mut limits, key, r, announced_limits),
        _ => Ok(false),
    })?;
    Ok(Welcome {
        session: need(session, "session")?,
        user: need(user, "user")?,
        app: need(app, "app")?,
        heartbeat: need(heartbeat, "heartbeat")?,
        limits: need(limits, "limits")?,
    })
}

fn app_selected(r: &mut Reader<'_>) -> Result<AppSelected, Fault> {
    let (mut name, mut version) = (None, None);
    fields(r, &mut |r, key| match key {
        "name" => put(&mut name, key, r, string),
        "version" => put(&mut version, key, r, u32),
        _ => Ok(false),
    })?;
    Ok(AppSelected {
        name: need(name, "name")?,
        version: need(version, "version")?,
    })
}

fn heartbeat_timings(r: &mut Reader<'_>) -> Result<HeartbeatTimings, Fault> {
    let (mut interval, mut timeout) = (None, None);
    fields(r, &mut |r, key| match key {
        "interval_ms" => put(&mut interval, key, r, Reader::u64),
        "timeout_ms" => put(&mut timeout, key, r, Reader::u64),
        _ => Ok(false),
    })?;
    Ok(HeartbeatTimings {
        interval_ms: need(interval, "interval_ms")?,
        timeout_ms: need(timeout, "timeout_ms")?,
    })
}

fn announced_limits(r: &mut Reader<'_>) -> Result<AnnouncedLimits, Fault> {
    let mut max = None;
    fields(r, &mut |r, key| match key {
        "max_frame_bytes" => put(&mut max, key, r, usize),
        _ => Ok(false),
    })?;
    Ok(AnnouncedLimits {
        max_frame_bytes: need(max, "max_frame_bytes")?,
    })
}

fn joined(r: &mut Reader<'_>) -> Result<Joined, Fault> {
    let (mut id, mut room, mut epoch, mut seq, mut recovered, mut presence) =
        (None, None, None, None, None, None);
    fields(r, &mut |r, key| match key {
        "id" => put(&mut id, key, r, Reader::u64),
        "room" => put(&mut room, key, r, string),
        "epoch" => put(&mut epoch, key, r, Reader::u64),
        "seq" => put(&mut seq, key, r, Reader::u64),
        "recovered" => put(&mut recovered, key, r, |r| optional(r, Reader::bool)),
        "presence" => put(&mut presence, key, r, |r| list(r, member)),
        _ => Ok(false),
    })?;
    Ok(Joined {
        id: need(id, "id")?,
        room: need(room, "room")?,
        epoch: need(epoch, "epoch")?,
        seq: need(seq, "seq")?,
        recovered: recovered.flatten(),
        presence: need(presence, "presence")?,
    })
}

/// The fields of `leave` and `left`.
fn id_room(r: &mut Reader<'_>) -> Result<(u64, String), Fault> {
    let (mut id, mut room) = (None, None);
    fields(r, &mut |r, key| match key {
        "id" => put(&mut id, key, r, Reader::u64),
        "room" => put(&mut room, key, r, string),
        _ => Ok(false),
    })?;
    Ok((need(id, "id")?, need(room, "room")?))
}

fn ack(r: &mut Reader<'_>) -> Result<Ack, Fault> {
    let (mut id, mut seq) = (None, None);
    fields(r, &mut |r, key| match key {
        "id" => put(&mut id, key, r, Reader::u64),
        "seq" => put(&mut seq, key, r, Reader::u64),
        _ => Ok(false),
    })?;
    Ok(Ack {
        id: need(id, "id")?,
        seq: need(seq, "seq")?,
    })
}

fn event(r: &mut Reader<'_>) -> Result<Event, Fault> {
    let (mut room, mut seq, mut from, mut data) = (None, None, None, None);
    fields(r, &mut |r, key| match key {
        "room" => put(&mut room, key, r, string),
        "seq" => put(&mut seq, key, r, Reader::u64),
        "from" => put(&mut from, key, r, |r| optional(r, string)),
        "data" => put(&mut data, key, r, payload),
        _ => Ok(false),
    })?;
    Ok(Event {
        room: need(room, "room")?,
        seq: need(seq, "seq")?,
        from: from.flatten(),
        data: need(data, "data")?,
    })
}

fn request(r: &mut Reader<'_>) -> Result<Request, Fault> {
    let (mut id, mut room, mut data) = (None, None, None);
    fields(r, &mut |r, key| match key {
        "id" => put(&mut id, key, r, Reader::u64),
        "room" => put(&mut room, key, r, |r| optional(r, string)),
        "data" => put(&mut data, key, r, payload),
        _ => Ok(false),
    })?;
    Ok(Request {
        id: need(id, "id")?,
        room: room.flatten(),
        data: need(data, "data")?,
    })
}

fn response(r: &mut Reader<'_>) -> Result<Response, Fault> {
    let (mut id, mut data, mut error) = (None, None, None);
    fields(r, &mut |r, key| match key {
        "id" => put(&mut id, key, r, Reader::u64),
        "data" => put(&mut data, key, r, payload),
        "error" => put(&mut error, key, r, |r| optional(r, error_body)),
        _ => Ok(false),
    })?;
    Ok(Response {
        id: need(id, "id")?,
        data,
        error: error.flatten(),
    })
}

fn presence(r: &mut Reader<'_>) -> Result<Presence, Fault> {
    let (mut room, mut joined, mut left) = (None, None, None);
    fields(r, &mut |r, key| match key {
        "room" => put(&mut room, key, r, string),
        "joined" => put(&mut joined, key, r, |r| list(r, member)),
        "left" => put(&mut left, key, r, |r| list(r, member)),
        _ => Ok(false),
    })?;
    Ok(Presence {
        room: need(room, "room")?,
        joined: joined.unwrap_or_default(),
        left: left.unwrap_or_default(),
    })
}

fn error(r: &mut Reader<'_>) -> Result<ErrorFrame, Fault> {
    let (mut id, mut room, mut code, mut message) = (None, None, None, None);
    fields(r, &mut |r, key| match key {
        "id" => put(&mut id, key, r, |r| optional(r, Reader::u64)),
        "room" => put(&mut room, key, r, |r| optional(r, string)),
        "code" => put(&mut code, key, r, error_code),
        "message" => put(&mut message, key, r, string),
        _ => Ok(false),
    })?;
    Ok(ErrorFrame {
        id: id.flatten(),
        room: room.flatten(),
        code: need(code, "code")?,
        message: need(message, "message")?,
    })
}

fn hello(r: &mut Reader<'_>) -> Result<Hello, Fault> {
    let (mut app, mut token) = (None, None);
    fields(r, &mut |r, key| match key {
        "app" => put(&mut app, key, r, app_offer),
        "token" => put(&mut token, key, r, |r| optional(r, string)),
        _ => Ok(false),
    })?;
    Ok(Hello {
        app: need(app, "app")?,
        token: token.flatten(),
    })
}

fn app_offer(r: &mut Reader<'_>) -> Result<AppOffer, Fault> {
    let (mut name, mut versions) = (None, None);
    fields(r, &mut |r, key| match key {
        "name" => put(&mut name, key, r, string),
        "versions" => put(&mut versions, key, r, |r| list(r, u32)),
        _ => Ok(false),
    })?;
    Ok(AppOffer {
        name: need(name, "name")?,
        versions: need(versions, "versions")?,
    })
}

fn join(r: &mut Reader<'_>) -> Result<Join, Fault> {
    let (mut id, mut room, mut meta, mut history) = (None, None, None, None);
    fields(r, &mut |r, key| match key {
        "id" => put(&mut id, key, r, Reader::u64),
        "room" => put(&mut room, key, r, string),
        "meta" => put(&mut meta, key, r, payload),
        "history" => put(&mut history, key, r, |r| optional(r, u32)),
        _ => Ok(false),
    })?;
    Ok(Join {
        id: need(id, "id")?,
        room: need(room, "room")?,
        meta,
        history: history.flatten(),
    })
}

fn resume(r: &mut Reader<'_>) -> Result<Resume, Fault> {
    let (mut id, mut room, mut epoch, mut seq, mut meta) = (None, None, None, None, None);
    fields(r, &mut |r, key| match key {
        "id" => put(&mut id, key, r, Reader::u64),
        "room" => put(&mut room, key, r, string),
        "epoch" => put(&mut epoch, key, r, Reader::u64),
        "seq" => put(&mut seq, key, r, Reader::u64),
        "meta" => put(&mut meta, key, r, payload),
        _ => Ok(false),
    })?;
    Ok(Resume {
        id: need(id, "id")?,
        room: need(room, "room")?,
        epoch: need(epoch, "epoch")?,
        seq: need(seq, "seq")?,
        meta,
    })
}

fn publish(r: &mut Reader<'_>) -> Result<Publish, Fault> {
    let (mut id, mut room, mut data) = (None, None, None);
    fields(r, &mut |r, key| match key {
        "id" => put(&mut id, key, r, Reader::u64),
        "room" => put(&mut room, key, r, string),
        "data" => put(&mut data, key, r, payload),
        _ => Ok(false),
    })?;
    Ok(Publish {
        id: need(id, "id")?,
        room: need(room, "room")?,
        data: need(data, "data")?,
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
pub(super) fn header(text: &str) -> Result<Header<'_>, Fault> {
    let r = &mut Reader::new(text);
    let (mut v, mut k, mut id) = (None, None, None);
    r.object(&mut |r, key| {
        let mut read = || match &*key {
            "v" => put(&mut v, &key, r, |r| optional(r, Reader::u64)),
            "k" => put(&mut k, &key, r, |r| optional(r, Reader::string)),
            "id" => put(&mut id, &key, r, |r| optional(r, Reader::u64)),
            _ => Ok(false),
        };
        if !read().map_err(|f| f.in_field(&key))? {
            r.skip()?;
        }
        Ok(())
    })?;
    r.end()?;
    Ok(Header {
        v: v.flatten(),
        k: k.flatten(),
        id: id.flatten(),
    })
}
