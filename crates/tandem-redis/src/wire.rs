//! What travels on the `bus` channel and in the history lists, as the scripts write it.
//!
//! - `E<epoch> <seq> <room length>:<room><event frame>`: a numbered message;
//! - `J<room length>:<room><user length>:<user><meta JSON or nothing>`: a member arrived;
//! - `L<room length>:<room><user>`: a member left every node;
//! - `U<room length>:<room><user length>:<user><meta JSON>`: a member's new metadata;
//! - `X<node length>:<node><room length>:<room><event frame>`: an ephemeral message
//!   from that node (which delivered it itself, and skips its own);
//! - an operator's action ([`AdminMessage`]), which every node applies, the sender too:
//!   `AD<user length>:<user><reason>` (disconnect the user),
//!   `AU<room length>:<room><user length>:<user><message>` (unsubscribe the user from the
//!   room), `AM<user length>:<user><data JSON>` (send to the user);
//! - a history entry is `<seq> <ms> <event frame>`.
//!
//! Lengths are in bytes. Anything else is reported and skipped, never trusted.

use bytes::Bytes;
use tandem_proto::{Member, MemberChange, Payload};
use tandem_server::{AdminMessage, BrokerMessage};

/// Why a bus message or history entry could not be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unreadable broker message: {0}")]
pub(crate) struct Unreadable(&'static str);

/// Reads one message from the bus, for the node named `me`: `None` for its own
/// ephemeral messages.
pub(crate) fn parse_bus(message: &[u8], me: &str) -> Result<Option<BrokerMessage>, Unreadable> {
    let (&tag, rest) = message.split_first().ok_or(Unreadable("empty"))?;
    if tag == b'X' {
        let (node, rest) = sized(rest)?;
        if node == me {
            return Ok(None);
        }
        let (room, frame) = sized(rest)?;
        let frame = Bytes::copy_from_slice(frame);
        return Ok(Some(BrokerMessage::Ephemeral { room, frame }));
    }
    parse_shared(tag, rest).map(Some)
}

/// The bus messages every node reads alike.
fn parse_shared(tag: u8, rest: &[u8]) -> Result<BrokerMessage, Unreadable> {
    match tag {
        b'E' => {
            let (epoch, rest) = number_until(rest, b' ')?;
            let (seq, rest) = number_until(rest, b' ')?;
            let (room, frame) = sized(rest)?;
            Ok(BrokerMessage::Event {
                room,
                epoch,
                seq,
                frame: Bytes::copy_from_slice(frame),
            })
        }
        b'J' => {
            let (room, rest) = sized(rest)?;
            let (user, data) = sized(rest)?;
            let (meta, info) = member(data)?;
            Ok(BrokerMessage::Member {
                room,
                change: MemberChange::Joined(Member { user, meta, info }),
            })
        }
        b'U' => {
            let (room, rest) = sized(rest)?;
            let (user, data) = sized(rest)?;
            let (meta, info) = member(data)?;
            Ok(BrokerMessage::Member {
                room,
                change: MemberChange::Updated(Member { user, meta, info }),
            })
        }
        b'L' => {
            let (room, user) = sized(rest)?;
            let user = String::from_utf8(user.to_vec()).map_err(|_| Unreadable("user"))?;
            Ok(BrokerMessage::Member {
                room,
                change: MemberChange::Left(user),
            })
        }
        b'A' => parse_admin(rest).map(BrokerMessage::Admin),
        _ => Err(Unreadable("unknown tag")),
    }
}

/// An operator's action, after its `A`.
fn parse_admin(message: &[u8]) -> Result<AdminMessage, Unreadable> {
    let (&kind, rest) = message.split_first().ok_or(Unreadable("admin kind"))?;
    let text = |bytes: &[u8]| String::from_utf8(bytes.to_vec()).map_err(|_| Unreadable("text"));
    match kind {
        b'D' => {
            let (user, reason) = sized(rest)?;
            Ok(AdminMessage::Disconnect {
                user,
                reason: text(reason)?,
            })
        }
        b'U' => {
            let (room, rest) = sized(rest)?;
            let (user, message) = sized(rest)?;
            Ok(AdminMessage::Unsubscribe {
                user,
                room,
                message: text(message)?,
            })
        }
        b'M' => {
            let (user, data) = sized(rest)?;
            let data = payload(data)?.ok_or(Unreadable("data"))?;
            Ok(AdminMessage::Send { user, data })
        }
        _ => Err(Unreadable("unknown admin kind")),
    }
}

/// An operator's action as it goes on the bus (see the module docs); `None` for a kind
/// this crate does not know yet.
pub(crate) fn write_admin(message: &AdminMessage) -> Option<Vec<u8>> {
    let sized = |s: &str| format!("{}:{s}", s.len());
    let text = match message {
        AdminMessage::Disconnect { user, reason } => format!("AD{}{reason}", sized(user)),
        AdminMessage::Unsubscribe {
            user,
            room,
            message,
        } => format!("AU{}{}{message}", sized(room), sized(user)),
        AdminMessage::Send { user, data } => format!("AM{}{}", sized(user), data.get()),
        _ => return None,
    };
    Some(text.into_bytes())
}

/// Reads one history entry: its sequence number and event frame.
pub(crate) fn parse_entry(entry: &[u8]) -> Result<(u64, Bytes), Unreadable> {
    let (seq, rest) = number_until(entry, b' ')?;
    let (_ms, frame) = number_until(rest, b' ')?;
    Ok((seq, Bytes::copy_from_slice(frame)))
}

/// A member's presence data as stored and announced: its meta (JSON, or nothing), after
/// `I<length>:<info JSON>` when the issuer gave info. No JSON text starts with `I`.
pub(crate) fn member_data(meta: Option<&Payload>, info: Option<&Payload>) -> String {
    let meta = meta.map_or("", |m| m.get());
    match info {
        Some(info) => format!("I{}:{}{meta}", info.get().len(), info.get()),
        None => meta.to_owned(),
    }
}

/// The meta and info of [`member_data`].
pub(crate) fn member(data: &[u8]) -> Result<(Option<Payload>, Option<Payload>), Unreadable> {
    let Some(rest) = data.strip_prefix(b"I") else {
        return Ok((payload(data)?, None));
    };
    let (len, rest) = number_until(rest, b':')?;
    let len = usize::try_from(len).map_err(|_| Unreadable("info"))?;
    if rest.len() < len {
        return Err(Unreadable("info"));
    }
    let (info, meta) = rest.split_at(len);
    Ok((payload(meta)?, payload(info)?))
}

/// Presence metadata as stored: JSON, or nothing.
pub(crate) fn payload(meta: &[u8]) -> Result<Option<Payload>, Unreadable> {
    if meta.is_empty() {
        return Ok(None);
    }
    let text = String::from_utf8(meta.to_vec()).map_err(|_| Unreadable("meta"))?;
    Payload::from_json(text)
        .map(Some)
        .map_err(|_| Unreadable("meta"))
}

fn number_until(bytes: &[u8], end: u8) -> Result<(u64, &[u8]), Unreadable> {
    let at = bytes
        .iter()
        .position(|b| *b == end)
        .ok_or(Unreadable("number"))?;
    let n = std::str::from_utf8(&bytes[..at])
        .ok()
        .and_then(|s| s.parse().ok())
        .ok_or(Unreadable("number"))?;
    Ok((n, &bytes[at + 1..]))
}

/// `<length>:<that many bytes>` (UTF-8), then the rest.
fn sized(bytes: &[u8]) -> Result<(String, &[u8]), Unreadable> {
    let (len, rest) = number_until(bytes, b':')?;
    let len = usize::try_from(len).map_err(|_| Unreadable("length"))?;
    if rest.len() < len {
        return Err(Unreadable("short"));
    }
    let (text, rest) = rest.split_at(len);
    let text = String::from_utf8(text.to_vec()).map_err(|_| Unreadable("text"))?;
    Ok((text, rest))
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    #[test]
    fn reads_what_the_scripts_write() {
        let room = "r:1 é";
        let e = format!(
            "E9007199254740991 42 {}:{room}{{\"k\":\"event\"}}",
            room.len()
        );
        let parse = |m: &[u8]| parse_bus(m, "n1").unwrap().unwrap();
        match parse(e.as_bytes()) {
            BrokerMessage::Event {
                room: r,
                epoch,
                seq,
                frame,
            } => {
                assert_eq!((r.as_str(), epoch, seq), (room, 9_007_199_254_740_991, 42));
                assert_eq!(&frame[..], b"{\"k\":\"event\"}");
            }
            other => panic!("{other:?}"),
        }
        let j = format!("J{}:{room}5:alice{{\"c\":1}}", room.len());
        match parse(j.as_bytes()) {
            BrokerMessage::Member {
                change: MemberChange::Joined(m),
                ..
            } => {
                assert_eq!(m.user, "alice");
                assert_eq!(m.meta.unwrap().get(), "{\"c\":1}");
            }
            other => panic!("{other:?}"),
        }
        let l = format!("L{}:{room}bob", room.len());
        assert!(matches!(
            parse(l.as_bytes()),
            BrokerMessage::Member { change: MemberChange::Left(u), .. } if u == "bob"
        ));
        let u = format!("U{}:{room}3:bob{{\"x\":2}}", room.len());
        assert!(matches!(
            parse(u.as_bytes()),
            BrokerMessage::Member { change: MemberChange::Updated(m), .. } if m.user == "bob"
        ));
        let x = format!("X2:n2{}:{room}{{\"k\":\"event\"}}", room.len());
        assert!(matches!(
            parse(x.as_bytes()),
            BrokerMessage::Ephemeral { .. }
        ));
        let own = format!("X2:n1{}:{room}{{}}", room.len());
        assert!(
            parse_bus(own.as_bytes(), "n1").unwrap().is_none(),
            "a node skips its own"
        );
        assert_eq!(parse_entry(b"7 1700000000000 {}").unwrap().0, 7);
    }

    #[test]
    fn admin_messages_read_back_as_written() {
        let data = Payload::from_json("{\"hi\":[1,\"é\"]}".to_owned()).unwrap();
        for message in [
            AdminMessage::Disconnect {
                user: "al:ice é".into(),
                reason: "banned; see you".into(),
            },
            AdminMessage::Disconnect {
                user: String::new(),
                reason: String::new(),
            },
            AdminMessage::Unsubscribe {
                user: "bob".into(),
                room: "docs/1:2".into(),
                message: "removed".into(),
            },
            AdminMessage::Send {
                user: "carol".into(),
                data,
            },
        ] {
            let bytes = write_admin(&message).unwrap();
            match parse_bus(&bytes, "n1").unwrap().unwrap() {
                BrokerMessage::Admin(back) => assert_eq!(back, message),
                other => panic!("{other:?}"),
            }
        }
    }

    #[test]
    fn garbage_is_an_error_not_a_panic() {
        for bad in [
            &b""[..],
            b"X",
            b"E",
            b"E1 2 ",
            b"E1 2 99:short",
            b"Jx:",
            b"J3:abc9:al",
            b"J1:a5:alice{not json",
            b"L",
            b"E18446744073709551616 1 1:a{}",
            b"U1:a5:alice{no",
            b"X9:n",
            b"X2:n21",
            b"A",
            b"AZ1:a",
            b"AD",
            b"AD9:short",
            b"AU1:a",
            b"AU1:a5:bob",
            b"AM5:alice",
            b"AM5:alice{bad",
            b"AD1:a\xff",
        ] {
            assert!(parse_bus(bad, "n1").is_err(), "{bad:?}");
        }
        assert!(parse_entry(b"7").is_err());
    }
}
