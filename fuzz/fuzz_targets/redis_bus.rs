//! The Redis bus parser (crates/tandem-redis/src/wire.rs): messages on the `bus` channel
//! (operators' admin actions included) and history entries. Whatever arrives, it answers a
//! message or an error; what it reads writes back (as the Lua scripts and the broker write
//! it) to a message it reads the same.
#![no_main]

use tandem_proto::MemberChange;
use tandem_redis::fuzzing::{parse_bus, parse_entry};
use tandem_server::{AdminMessage, BrokerMessage};

/// The node reading the bus, and another node whose ephemeral messages it reads.
const ME: &str = "me";
const OTHER: &str = "other";

/// The message as the scripts write it.
fn write(message: &BrokerMessage) -> Option<Vec<u8>> {
    let sized = |s: &str| format!("{}:{s}", s.len());
    Some(match message {
        BrokerMessage::Event {
            room,
            epoch,
            seq,
            frame,
        } => {
            let mut out = format!("E{epoch} {seq} {}", sized(room)).into_bytes();
            out.extend_from_slice(frame);
            out
        }
        BrokerMessage::Member {
            room,
            change: MemberChange::Joined(member),
        } => {
            let meta = member_data(member);
            format!("J{}{}{meta}", sized(room), sized(&member.user)).into_bytes()
        }
        BrokerMessage::Member {
            room,
            change: MemberChange::Left(user),
        } => format!("L{}{user}", sized(room)).into_bytes(),
        BrokerMessage::Member {
            room,
            change: MemberChange::Updated(member),
        } => {
            let meta = member_data(member);
            format!("U{}{}{meta}", sized(room), sized(&member.user)).into_bytes()
        }
        BrokerMessage::Ephemeral { room, frame } => {
            let mut out = format!("X{}{}", sized(OTHER), sized(room)).into_bytes();
            out.extend_from_slice(frame);
            out
        }
        BrokerMessage::Admin(AdminMessage::Disconnect { user, reason }) => {
            format!("AD{}{reason}", sized(user)).into_bytes()
        }
        BrokerMessage::Admin(AdminMessage::Unsubscribe {
            user,
            room,
            message,
        }) => format!("AU{}{}{message}", sized(room), sized(user)).into_bytes(),
        BrokerMessage::Admin(AdminMessage::Send { user, data }) => {
            format!("AM{}{}", sized(user), data.get()).into_bytes()
        }
        _ => return None,
    })
}

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    if let Ok(Some(message)) = parse_bus(data, ME) {
        let Some(bytes) = write(&message) else {
            panic!("the bus parser made a message the scripts never write: {message:?}");
        };
        let again = parse_bus(&bytes, ME)
            .unwrap_or_else(|e| panic!("{e}: {message:?}"))
            .unwrap_or_else(|| panic!("a message written back was skipped: {message:?}"));
        assert_eq!(format!("{message:?}"), format!("{again:?}"));
    }
    if let Ok((seq, frame)) = parse_entry(data) {
        let mut bytes = format!("{seq} 0 ").into_bytes();
        bytes.extend_from_slice(&frame);
        let again = parse_entry(&bytes).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!((seq, frame), again);
    }
});

/// A member's stored presence data: its meta, after `I<length>:<info>` when it has info.
fn member_data(member: &tandem_proto::Member) -> String {
    let meta = member.meta.as_ref().map(|m| m.get()).unwrap_or_default();
    match &member.info {
        Some(info) => format!("I{}:{}{meta}", info.get().len(), info.get()),
        None => meta.to_owned(),
    }
}
