//! Strategies for every frame kind, for the property tests.

use proptest::prelude::*;
use tandem_proto::frame::*;
use tandem_proto::{ErrorCode, Frame};

pub fn text() -> impl Strategy<Value = String> {
    "[a-zA-Z0-9 _\\-\"\\\\é😀\u{1}\n\t/]{0,12}"
}

/// JSON payloads: scalars, strings with escapes, nested arrays and objects.
pub fn payload() -> impl Strategy<Value = Payload> {
    let leaf = prop_oneof![
        Just(serde_json::Value::Null),
        any::<bool>().prop_map(serde_json::Value::from),
        any::<i64>().prop_map(serde_json::Value::from),
        text().prop_map(serde_json::Value::from),
    ];
    leaf.prop_recursive(3, 16, 4, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..4).prop_map(serde_json::Value::from),
            prop::collection::btree_map(text(), inner, 0..4)
                .prop_map(|m| serde_json::Value::Object(m.into_iter().collect())),
        ]
    })
    .prop_map(|v| tandem_proto::encode_payload(&v).expect("json values serialize"))
}

pub fn id() -> impl Strategy<Value = u64> {
    prop_oneof![0..(1u64 << 53), any::<u64>()]
}

pub fn member() -> impl Strategy<Value = Member> {
    (
        text(),
        prop::option::of(payload()),
        prop::option::of(payload()),
    )
        .prop_map(|(user, meta, info)| Member { user, meta, info })
}

pub fn event() -> impl Strategy<Value = Event> {
    (
        text(),
        prop::option::of(id()),
        prop::option::of(text()),
        payload(),
    )
        .prop_map(|(room, seq, from, data)| Event {
            room,
            seq,
            from,
            data,
        })
}

pub fn policy() -> impl Strategy<Value = Policy> {
    (
        id(),
        id(),
        id(),
        any::<bool>(),
        any::<bool>(),
        prop::option::of(id()),
    )
        .prop_map(
            |(history, history_ms, history_bytes, numbered, presence, max_members)| Policy {
                history,
                history_ms,
                history_bytes,
                numbered,
                presence,
                max_members,
            },
        )
}

pub fn code() -> impl Strategy<Value = ErrorCode> {
    prop_oneof![
        Just(ErrorCode::MalformedFrame),
        Just(ErrorCode::NotJoined),
        Just(ErrorCode::Forbidden),
        Just(ErrorCode::RoomPolicy),
        Just(ErrorCode::RoomFull),
        Just(ErrorCode::RateLimited),
        Just(ErrorCode::Timeout),
        Just(ErrorCode::Unknown),
    ]
}

pub fn frame() -> impl Strategy<Value = Frame> {
    prop_oneof![
        (
            text(),
            prop::collection::vec(any::<u32>(), 0..4),
            prop::option::of(text())
        )
            .prop_map(|(name, versions, token)| Frame::Hello(Hello {
                app: AppOffer { name, versions },
                token
            })),
        (
            text(),
            text(),
            text(),
            any::<u32>(),
            id(),
            id(),
            (
                0usize..1_000_000,
                prop::option::of(any::<u32>()),
                prop::option::of(any::<u32>())
            )
        )
            .prop_map(|(session, user, name, version, i, t, (max, rate, burst))| {
                Frame::Welcome(Welcome {
                    session,
                    user,
                    app: AppSelected { name, version },
                    heartbeat: HeartbeatTimings {
                        interval_ms: i,
                        timeout_ms: t,
                    },
                    limits: AnnouncedLimits {
                        max_frame_bytes: max,
                        rate_per_second: rate,
                        rate_burst: burst,
                    },
                })
            }),
        (
            id(),
            text(),
            prop::option::of(payload()),
            prop::option::of(any::<u32>())
        )
            .prop_map(|(id, room, meta, history)| Frame::Join(Join {
                id,
                room,
                meta,
                history
            })),
        (id(), text(), id(), id(), prop::option::of(payload())).prop_map(
            |(id, room, epoch, seq, meta)| {
                Frame::Resume(Resume {
                    id,
                    room,
                    epoch,
                    seq,
                    meta,
                })
            }
        ),
        (
            id(),
            text(),
            id(),
            id(),
            prop::option::of(any::<bool>()),
            prop::collection::vec(member(), 0..3),
            prop::option::of(policy())
        )
            .prop_map(|(id, room, epoch, seq, recovered, presence, policy)| {
                Frame::Joined(Joined {
                    id,
                    room,
                    epoch,
                    seq,
                    recovered,
                    presence,
                    policy,
                })
            }),
        (id(), text()).prop_map(|(id, room)| Frame::Leave(Leave { id, room })),
        (id(), text()).prop_map(|(id, room)| Frame::Left(Left { id, room })),
        (
            id(),
            text(),
            payload(),
            prop::option::of(any::<bool>()),
            prop::option::of(any::<bool>())
        )
            .prop_map(|(id, room, data, ephemeral, ack)| Frame::Publish(Publish {
                id,
                room,
                data,
                ephemeral,
                ack,
            })),
        (id(), prop::option::of(id())).prop_map(|(id, seq)| Frame::Ack(Ack { id, seq })),
        event().prop_map(Frame::Event),
        (id(), text(), payload()).prop_map(|(id, room, meta)| Frame::Update(Update {
            id,
            room,
            meta
        })),
        (
            id(),
            text(),
            prop::option::of(id()),
            prop::option::of(any::<u32>())
        )
            .prop_map(|(id, room, before, limit)| Frame::History(History {
                id,
                room,
                before,
                limit
            })),
        (
            id(),
            text(),
            id(),
            prop::collection::vec(event(), 0..3),
            any::<bool>()
        )
            .prop_map(|(id, room, epoch, events, more)| Frame::Page(Page {
                id,
                room,
                epoch,
                events,
                more
            })),
        (id(), prop::option::of(text()), payload())
            .prop_map(|(id, room, data)| Frame::Request(Request { id, room, data })),
        (id(), prop::result::maybe_ok(payload(), (code(), text()))).prop_map(|(id, result)| {
            Frame::Response(Response {
                id,
                result: result.map_err(|(code, message)| ErrorBody { code, message }),
            })
        }),
        (
            text(),
            prop::collection::vec(member(), 0..3),
            prop::collection::vec(member(), 0..3),
            prop::collection::vec(member(), 0..2)
        )
            .prop_map(|(room, joined, left, updated)| Frame::Presence(Presence {
                room,
                joined,
                left,
                updated
            })),
        Just(Frame::Ping),
        Just(Frame::Pong),
        id().prop_map(|expires_in_ms| Frame::Refresh(Refresh { expires_in_ms })),
        (id(), text()).prop_map(|(id, token)| Frame::Token(Token { id, token })),
        (text(), text())
            .prop_map(|(room, message)| Frame::Unsubscribed(Unsubscribed { room, message })),
        payload().prop_map(|data| Frame::Message(Message { data })),
        (
            prop::option::of(id()),
            prop::option::of(text()),
            code(),
            text()
        )
            .prop_map(|(id, room, code, message)| {
                Frame::Error(ErrorFrame {
                    id,
                    room,
                    code,
                    message,
                })
            }),
    ]
}
