//! Writing a frame's fields as JSON, kind by kind, byte for byte as serde_json writes the
//! frame types: fields in declaration order, optional ones left out when absent.

use crate::frame::{ErrorBody, Frame, Member};
use crate::json::{push_string, push_u64};
use crate::payload::Payload;

/// A member as held anywhere: user, meta, info.
pub(crate) type MemberRef<'a> = (&'a str, Option<&'a Payload>, Option<&'a Payload>);

/// Appends `,"key":` to a frame being written.
fn key(out: &mut String, name: &str) {
    out.push_str(",\"");
    out.push_str(name);
    out.push_str("\":");
}

fn string(out: &mut String, name: &str, value: &str) {
    key(out, name);
    push_string(out, value);
}

fn number(out: &mut String, name: &str, value: u64) {
    key(out, name);
    push_u64(out, value);
}

fn payload(out: &mut String, name: &str, value: &Payload) {
    key(out, name);
    out.push_str(value.get());
}

/// Writes `{` and the fields of an object nested in a frame, then `}`: `fields` writes
/// each with a leading comma, and the first one's is dropped.
fn object(out: &mut String, name: &str, fields: impl FnOnce(&mut String)) {
    key(out, name);
    let start = out.len();
    fields(out);
    if out.len() > start {
        out.replace_range(start..=start, "{");
    } else {
        out.push('{');
    }
    out.push('}');
}

fn members(out: &mut String, name: &str, list: &[Member]) {
    key(out, name);
    member_list(out, list);
}

/// Appends `list` as a JSON array of `{"user":...,"meta":...}` objects.
pub(super) fn member_list(out: &mut String, list: &[Member]) {
    member_pairs(
        out,
        list.iter()
            .map(|m| (m.user.as_str(), m.meta.as_ref(), m.info.as_ref())),
    );
}

/// Appends the members `(user, meta, info)` as [`member_list`] does, from wherever they
/// are held.
pub(super) fn member_pairs<'a>(out: &mut String, list: impl IntoIterator<Item = MemberRef<'a>>) {
    out.push('[');
    for (i, (user, meta, info)) in list.into_iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        out.push_str("{\"user\":");
        push_string(out, user);
        if let Some(meta) = meta {
            payload(out, "meta", meta);
        }
        if let Some(info) = info {
            payload(out, "info", info);
        }
        out.push('}');
    }
    out.push(']');
}

fn error_body(out: &mut String, name: &str, body: &ErrorBody) {
    object(out, name, |out| {
        string(out, "code", body.code.as_str());
        string(out, "message", &body.message);
    });
}

/// Appends the fields of `frame`, each after a comma, to its header `{"v":1,"k":"..."`.
pub(super) fn fields(out: &mut String, frame: &Frame) {
    match frame {
        Frame::Hello(b) => {
            object(out, "app", |out| {
                string(out, "name", &b.app.name);
                key(out, "versions");
                out.push('[');
                for (i, v) in b.app.versions.iter().enumerate() {
                    if i > 0 {
                        out.push(',');
                    }
                    push_u64(out, u64::from(*v));
                }
                out.push(']');
            });
            if let Some(token) = &b.token {
                string(out, "token", token);
            }
        }
        Frame::Welcome(b) => {
            string(out, "session", &b.session);
            string(out, "user", &b.user);
            object(out, "app", |out| {
                string(out, "name", &b.app.name);
                number(out, "version", u64::from(b.app.version));
            });
            object(out, "heartbeat", |out| {
                number(out, "interval_ms", b.heartbeat.interval_ms);
                number(out, "timeout_ms", b.heartbeat.timeout_ms);
            });
            object(out, "limits", |out| {
                let max = u64::try_from(b.limits.max_frame_bytes).unwrap_or(u64::MAX);
                number(out, "max_frame_bytes", max);
                if let Some(n) = b.limits.rate_per_second {
                    number(out, "rate_per_second", u64::from(n));
                }
                if let Some(n) = b.limits.rate_burst {
                    number(out, "rate_burst", u64::from(n));
                }
            });
        }
        Frame::Join(b) => {
            number(out, "id", b.id);
            string(out, "room", &b.room);
            if let Some(meta) = &b.meta {
                payload(out, "meta", meta);
            }
            if let Some(history) = b.history {
                number(out, "history", u64::from(history));
            }
        }
        Frame::Resume(b) => {
            number(out, "id", b.id);
            string(out, "room", &b.room);
            number(out, "epoch", b.epoch);
            number(out, "seq", b.seq);
            if let Some(meta) = &b.meta {
                payload(out, "meta", meta);
            }
        }
        Frame::Joined(b) => joined(
            out,
            b,
            b.presence
                .iter()
                .map(|m| (m.user.as_str(), m.meta.as_ref(), m.info.as_ref())),
        ),
        Frame::Leave(b) => {
            number(out, "id", b.id);
            string(out, "room", &b.room);
        }
        Frame::Left(b) => {
            number(out, "id", b.id);
            string(out, "room", &b.room);
        }
        Frame::Publish(b) => {
            number(out, "id", b.id);
            string(out, "room", &b.room);
            payload(out, "data", &b.data);
            flag(out, "ephemeral", b.ephemeral);
            flag(out, "ack", b.ack);
        }
        Frame::Ack(b) => {
            number(out, "id", b.id);
            if let Some(seq) = b.seq {
                number(out, "seq", seq);
            }
        }
        Frame::Event(b) => event(out, b),
        Frame::Request(b) => {
            number(out, "id", b.id);
            if let Some(room) = &b.room {
                string(out, "room", room);
            }
            payload(out, "data", &b.data);
        }
        Frame::Response(b) => {
            number(out, "id", b.id);
            match &b.result {
                Ok(data) => payload(out, "data", data),
                Err(error) => error_body(out, "error", error),
            }
        }
        Frame::Presence(b) => {
            string(out, "room", &b.room);
            if !b.joined.is_empty() {
                members(out, "joined", &b.joined);
            }
            if !b.left.is_empty() {
                members(out, "left", &b.left);
            }
            if !b.updated.is_empty() {
                members(out, "updated", &b.updated);
            }
        }
        Frame::Update(b) => {
            number(out, "id", b.id);
            string(out, "room", &b.room);
            payload(out, "meta", &b.meta);
        }
        Frame::History(b) => {
            number(out, "id", b.id);
            string(out, "room", &b.room);
            if let Some(before) = b.before {
                number(out, "before", before);
            }
            if let Some(limit) = b.limit {
                number(out, "limit", u64::from(limit));
            }
        }
        Frame::Page(b) => {
            page_head(out, b.id, &b.room, b.epoch);
            for (i, e) in b.events.iter().enumerate() {
                out.push_str(if i == 0 { "{" } else { ",{" });
                let start = out.len();
                event(out, e);
                // The first field's comma is the object's opening.
                out.replace_range(start..=start, "");
                out.push('}');
            }
            page_tail(out, b.more);
        }
        Frame::Error(b) => {
            if let Some(id) = b.id {
                number(out, "id", id);
            }
            if let Some(room) = &b.room {
                string(out, "room", room);
            }
            string(out, "code", b.code.as_str());
            string(out, "message", &b.message);
        }
        Frame::Refresh(b) => number(out, "expires_in_ms", b.expires_in_ms),
        Frame::Token(b) => {
            number(out, "id", b.id);
            string(out, "token", &b.token);
        }
        Frame::Unsubscribed(b) => {
            string(out, "room", &b.room);
            string(out, "message", &b.message);
        }
        Frame::Message(b) => payload(out, "data", &b.data),
        Frame::Ping | Frame::Pong => {}
    }
}

/// Appends `,"name":true` (or `false`) when `value` is set.
fn flag(out: &mut String, name: &str, value: Option<bool>) {
    if let Some(v) = value {
        key(out, name);
        out.push_str(if v { "true" } else { "false" });
    }
}

fn event(out: &mut String, b: &crate::frame::Event) {
    string(out, "room", &b.room);
    if let Some(seq) = b.seq {
        number(out, "seq", seq);
    }
    if let Some(from) = &b.from {
        string(out, "from", from);
    }
    payload(out, "data", &b.data);
}

/// A `page` frame's fields up to the opening of its `events` array.
pub(super) fn page_head(out: &mut String, id: u64, room: &str, epoch: u64) {
    number(out, "id", id);
    string(out, "room", room);
    number(out, "epoch", epoch);
    key(out, "events");
    out.push('[');
}

/// A `page` frame's fields after its last event.
pub(super) fn page_tail(out: &mut String, more: bool) {
    out.push(']');
    flag(out, "more", Some(more));
}

/// The fields of a `joined` frame, its presence written from `members` (in place of
/// `b.presence`).
pub(super) fn joined<'a>(
    out: &mut String,
    b: &crate::frame::Joined,
    members: impl IntoIterator<Item = MemberRef<'a>>,
) {
    number(out, "id", b.id);
    string(out, "room", &b.room);
    number(out, "epoch", b.epoch);
    number(out, "seq", b.seq);
    if let Some(recovered) = b.recovered {
        key(out, "recovered");
        out.push_str(if recovered { "true" } else { "false" });
    }
    key(out, "presence");
    member_pairs(out, members);
    if let Some(p) = &b.policy {
        object(out, "policy", |out| {
            number(out, "history", p.history);
            number(out, "history_ms", p.history_ms);
            number(out, "history_bytes", p.history_bytes);
            flag(out, "numbered", Some(p.numbered));
            flag(out, "presence", Some(p.presence));
            if let Some(n) = p.max_members {
                number(out, "max_members", n);
            }
        });
    }
}
