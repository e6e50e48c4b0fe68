//! The hand-written codec against serde_json and the frame types' serde derives, which
//! it replaced: the same text for every frame, and for any text (good frames, and frames
//! with fields retyped, removed, added, reordered, cut short or corrupted) the same frame
//! or the same error: its code, its id, and the field it names.

#![allow(clippy::unwrap_used)] // tests panic on purpose when an expectation fails

mod support;

#[cfg(target_arch = "wasm32")]
use wasm_bindgen_test::wasm_bindgen_test as test;

use proptest::prelude::*;
use proptest::test_runner::{Config, TestRunner};
use std::collections::HashSet;

use serde::Deserialize;
use serde::de::{DeserializeOwned, MapAccess, SeqAccess, Visitor};
use serde_json::value::RawValue;
use support::frames::frame;
use tandem_proto::{
    DecodeError, Frame, Kind, decode, decode_from_client, decode_from_server, encode,
};

/// What the codec wrote with serde_json: the body struct, spliced after the header.
fn serde_encode(frame: &Frame) -> String {
    fn body<T: serde::Serialize>(b: &T) -> String {
        serde_json::to_string(b).unwrap()
    }
    let body = match frame {
        Frame::Hello(b) => body(b),
        Frame::Welcome(b) => body(b),
        Frame::Join(b) => body(b),
        Frame::Resume(b) => body(b),
        Frame::Joined(b) => body(b),
        Frame::Leave(b) => body(b),
        Frame::Left(b) => body(b),
        Frame::Publish(b) => body(b),
        Frame::Ack(b) => body(b),
        Frame::Event(b) => body(b),
        Frame::Request(b) => body(b),
        Frame::Response(b) => body(b),
        Frame::Presence(b) => body(b),
        Frame::Error(b) => body(b),
        Frame::Update(b) => body(b),
        Frame::History(b) => body(b),
        Frame::Page(b) => body(b),
        Frame::Refresh(b) => body(b),
        Frame::Token(b) => body(b),
        Frame::Unsubscribed(b) => body(b),
        Frame::Message(b) => body(b),
        _ => "{}".to_owned(),
    };
    let sep = if body.len() > 2 { "," } else { "" };
    format!("{{\"v\":1,\"k\":\"{}\"{sep}{}", frame.kind(), &body[1..])
}

/// The header fields as their JSON text, so their checks run in PROTOCOL.md's order.
#[derive(Deserialize)]
struct Header {
    v: Option<Box<RawValue>>,
    k: Option<Box<RawValue>>,
    id: Option<Box<RawValue>>,
}

impl Header {
    /// `id` when it is an integer; anything else is no id.
    fn id(&self) -> Option<u64> {
        serde_json::from_str(self.id.as_ref()?.get()).ok()
    }
}

fn serde_id(bytes: &[u8]) -> Option<u64> {
    serde_json::from_slice::<Header>(bytes).ok()?.id()
}

/// Whether an object anywhere in `json` gives a key twice (serde_json keeps the last).
fn duplicate_keys(json: &str) -> bool {
    struct Dup(bool);
    struct Check;
    impl<'de> Visitor<'de> for Check {
        type Value = Dup;
        fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
            f.write_str("JSON")
        }
        fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Dup, A::Error> {
            let (mut seen, mut dup) = (HashSet::new(), false);
            while let Some(key) = map.next_key::<String>()? {
                dup |= !seen.insert(key);
                dup |= map.next_value::<Dup>()?.0;
            }
            Ok(Dup(dup))
        }
        fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Dup, A::Error> {
            let mut dup = false;
            while let Some(d) = seq.next_element::<Dup>()? {
                dup |= d.0;
            }
            Ok(Dup(dup))
        }
        fn visit_bool<E>(self, _: bool) -> Result<Dup, E> {
            Ok(Dup(false))
        }
        fn visit_i64<E>(self, _: i64) -> Result<Dup, E> {
            Ok(Dup(false))
        }
        fn visit_u64<E>(self, _: u64) -> Result<Dup, E> {
            Ok(Dup(false))
        }
        fn visit_f64<E>(self, _: f64) -> Result<Dup, E> {
            Ok(Dup(false))
        }
        fn visit_str<E>(self, _: &str) -> Result<Dup, E> {
            Ok(Dup(false))
        }
        fn visit_unit<E>(self) -> Result<Dup, E> {
            Ok(Dup(false))
        }
    }
    impl<'de> Deserialize<'de> for Dup {
        fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Dup, D::Error> {
            d.deserialize_any(Check)
        }
    }
    serde_json::from_str::<Dup>(json).is_ok_and(|d| d.0)
}

/// A response's `data` as its JSON text, kept even when `error` wins over it.
#[derive(Deserialize)]
struct ResponseData {
    data: Option<Box<RawValue>>,
}

/// What a server must refuse on top of serde's rules: a client payload giving a key twice
/// (in a response, `data` counts even when `error` won, so it is read from `bytes`).
fn payload_with_duplicate_keys(frame: &Frame, bytes: &[u8]) -> bool {
    let payload = match frame {
        Frame::Join(j) => j.meta.as_ref().map(|p| p.get()),
        Frame::Resume(r) => r.meta.as_ref().map(|p| p.get()),
        Frame::Publish(p) => Some(p.data.get()),
        Frame::Update(u) => Some(u.meta.get()),
        Frame::Request(r) => Some(r.data.get()),
        Frame::Response(_) => {
            let data = serde_json::from_slice::<ResponseData>(bytes).ok();
            return data
                .and_then(|r| r.data)
                .is_some_and(|d| duplicate_keys(d.get()));
        }
        _ => None,
    };
    payload.is_some_and(duplicate_keys)
}

/// `bytes` read as `T` by serde, its errors sorted into the codec's.
fn parse<T: DeserializeOwned>(bytes: &[u8], kind: &str) -> Result<T, DecodeError> {
    let err = match serde_json::from_slice::<T>(bytes) {
        Ok(v) => return Ok(v),
        Err(e) => e,
    };
    let malformed = DecodeError::Malformed {
        detail: err.to_string(),
    };
    if !err.is_data() {
        return Err(malformed);
    }
    let msg = err.to_string();
    if let Some(rest) = msg.strip_prefix("missing field `") {
        return Err(DecodeError::MissingField {
            kind: kind.into(),
            field: rest.split('`').next().unwrap().into(),
            id: serde_id(bytes),
        });
    }
    let mut de = serde_json::Deserializer::from_slice(bytes);
    let path = match serde_path_to_error::deserialize::<_, T>(&mut de) {
        Ok(_) => String::new(),
        Err(e) => e.path().to_string(),
    };
    if path.is_empty() || path == "." {
        return Err(malformed);
    }
    Err(DecodeError::WrongType {
        kind: kind.into(),
        field: path,
        detail: msg,
        id: serde_id(bytes),
    })
}

/// What the codec read with serde_json: the header, then the body struct, with serde's
/// errors sorted into the codec's.
fn serde_decode(bytes: &[u8], expected: fn(Kind) -> bool) -> Result<Frame, DecodeError> {
    // tandem's own frames were recognised by their start, without reading the header.
    let fast = bytes
        .strip_prefix(br#"{"v":1,"k":""#)
        .and_then(|rest| Some(&rest[..rest.iter().position(|b| *b == b'"')?]))
        .and_then(|name| std::str::from_utf8(name).ok())
        .and_then(Kind::from_wire);
    let kind = match fast {
        Some(kind) => kind,
        None => serde_kind(bytes)?,
    };
    if !expected(kind) {
        return Err(DecodeError::WrongDirection {
            kind,
            id: serde_id(bytes),
        });
    }
    let k = kind.as_str();
    let frame = match kind {
        Kind::Hello => Frame::Hello(parse(bytes, k)?),
        Kind::Welcome => Frame::Welcome(parse(bytes, k)?),
        Kind::Join => Frame::Join(parse(bytes, k)?),
        Kind::Resume => Frame::Resume(parse(bytes, k)?),
        Kind::Joined => Frame::Joined(parse(bytes, k)?),
        Kind::Leave => Frame::Leave(parse(bytes, k)?),
        Kind::Left => Frame::Left(parse(bytes, k)?),
        Kind::Publish => Frame::Publish(parse(bytes, k)?),
        Kind::Ack => Frame::Ack(parse(bytes, k)?),
        Kind::Event => Frame::Event(parse(bytes, k)?),
        Kind::Request => Frame::Request(parse(bytes, k)?),
        Kind::Response => Frame::Response(parse(bytes, k)?),
        Kind::Presence => Frame::Presence(parse(bytes, k)?),
        Kind::Error => Frame::Error(parse(bytes, k)?),
        Kind::Update => Frame::Update(parse(bytes, k)?),
        Kind::History => Frame::History(parse(bytes, k)?),
        Kind::Page => Frame::Page(parse(bytes, k)?),
        Kind::Refresh => Frame::Refresh(parse(bytes, k)?),
        Kind::Token => Frame::Token(parse(bytes, k)?),
        Kind::Unsubscribed => Frame::Unsubscribed(parse(bytes, k)?),
        Kind::Message => Frame::Message(parse(bytes, k)?),
        // serde_json took these without reading on; the codec checks they are JSON.
        Kind::Ping => parse::<serde::de::IgnoredAny>(bytes, k).map(|_| Frame::Ping)?,
        _ => parse::<serde::de::IgnoredAny>(bytes, k).map(|_| Frame::Pong)?,
    };
    // What a server reads (client kinds, where `decode` reads them as a server does)
    // refuses a payload with a key given twice.
    if expected(Kind::Hello) && kind.sent_by_client() && payload_with_duplicate_keys(&frame, bytes)
    {
        return Err(DecodeError::Malformed { detail: "".into() });
    }
    Ok(frame)
}

fn serde_kind(bytes: &[u8]) -> Result<Kind, DecodeError> {
    if std::str::from_utf8(bytes).is_err() || bytes.trim_ascii_start().first() != Some(&b'{') {
        return Err(DecodeError::Malformed { detail: "".into() });
    }
    let header: Header = parse(bytes, "frame")?;
    let id = header.id();
    let missing = |field: &str| DecodeError::MissingField {
        kind: "frame".into(),
        field: field.into(),
        id,
    };
    // A header field read as `T`, with serde's errors sorted as `parse` sorts them; `None`
    // when absent or `null`.
    fn field<T: DeserializeOwned>(
        raw: &Option<Box<RawValue>>,
        name: &str,
        id: Option<u64>,
    ) -> Result<Option<T>, DecodeError> {
        let Some(raw) = raw else { return Ok(None) };
        serde_json::from_str::<Option<T>>(raw.get()).map_err(|e| {
            if e.is_data() {
                DecodeError::WrongType {
                    kind: "frame".into(),
                    field: name.into(),
                    detail: e.to_string(),
                    id,
                }
            } else {
                DecodeError::Malformed {
                    detail: e.to_string(),
                }
            }
        })
    }
    // In PROTOCOL.md's order: `v` present, `v == 1`, `k` present, `k` known.
    let v: u64 = field(&header.v, "v", id)?.ok_or_else(|| missing("v"))?;
    if v != 1 {
        return Err(DecodeError::UnsupportedVersion {
            found: v,
            supported: 1,
        });
    }
    let name: String = field(&header.k, "k", id)?.ok_or_else(|| missing("k"))?;
    Kind::from_wire(&name).ok_or(DecodeError::UnknownKind { kind: name, id })
}

/// The parts of a result both codecs must agree on.
fn gist(result: &Result<Frame, DecodeError>) -> String {
    match result {
        Ok(frame) => format!("{frame:?}"),
        Err(e) => {
            let field = match e {
                DecodeError::MissingField { kind, field, .. }
                | DecodeError::WrongType { kind, field, .. } => format!("{kind} {field}"),
                DecodeError::UnknownKind { kind, .. } => kind.clone(),
                DecodeError::WrongDirection { kind, .. } => kind.to_string(),
                DecodeError::UnsupportedVersion { found, .. } => found.to_string(),
                _ => String::new(),
            };
            format!("error {} id {:?} {field}", e.code(), e.id())
        }
    }
}

fn agree(text: &[u8]) -> Result<(), TestCaseError> {
    type Decoder = fn(&[u8], usize) -> Result<Frame, DecodeError>;
    type Direction = (fn(Kind) -> bool, Decoder);
    let directions: [Direction; 3] = [
        (|_| true, decode),
        (Kind::sent_by_client, decode_from_client),
        (Kind::sent_by_server, decode_from_server),
    ];
    for (expected, ours) in directions {
        if std::str::from_utf8(text).is_err() {
            // Checked first now: serde found it only once it read that far.
            let e = ours(text, usize::MAX);
            prop_assert!(matches!(e, Err(DecodeError::Malformed { .. })), "{:?}", e);
            continue;
        }
        let theirs = serde_decode(text, expected);
        let ours = ours(text, usize::MAX);
        if let Err(DecodeError::Malformed { detail }) = &theirs {
            // serde_json refuses a number too large for an f64; JSON does not.
            if detail.starts_with("number out of range") {
                continue;
            }
        }
        if let Err(DecodeError::WrongType { detail, .. }) = &ours {
            // serde reads a struct written as an array; the codec wants an object.
            if detail == "expected an object, found an array" {
                continue;
            }
        }
        if let Err(DecodeError::WrongType { field, .. }) = &ours {
            // An error code is a string. serde read the enum by its own rules: `null` as a
            // syntax error, an object as `{"variant": ...}`.
            if field == "code" || field.ends_with(".code") {
                continue;
            }
        }
        prop_assert_eq!(
            gist(&ours),
            gist(&theirs),
            "on {}: ours {:?}, serde's {:?}",
            String::from_utf8_lossy(text),
            ours,
            theirs
        );
    }
    Ok(())
}

/// JSON values to put in a field's place: every type, edge numbers, near-miss shapes.
const VALUES: &[&str] = &[
    "null",
    "true",
    "0",
    "7",
    "-1",
    "-0",
    "1.5",
    "1e3",
    "4294967296",
    "18446744073709551615",
    "18446744073709551616",
    "\"\"",
    "\"x\\u00e9\"",
    "\"not_joined\"",
    "\"no_such_code\"",
    "{}",
    "{\"user\":\"u\"}",
    "{\"name\":\"n\",\"version\":1}",
    "{\"interval_ms\":1,\"timeout_ms\":2}",
    "{\"code\":\"timeout\",\"message\":\"m\"}",
    "[]",
    "[1]",
    "[{\"user\":\"u\",\"meta\":null}]",
    "[{\"user\":1}]",
    "[{}]",
];

#[derive(Debug, Clone)]
enum Change {
    /// The fields sorted by name (so `k` or `v` may come late) and spaced out.
    Reformat,
    Replace(usize, usize),
    Remove(usize),
    Add(String, usize),
    Cut(usize),
    Corrupt(usize, u8),
}

fn change() -> impl Strategy<Value = Change> {
    prop_oneof![
        Just(Change::Reformat),
        (any::<usize>(), 0..VALUES.len()).prop_map(|(f, v)| Change::Replace(f, v)),
        any::<usize>().prop_map(Change::Remove),
        ("[a-z_]{1,10}", 0..VALUES.len()).prop_map(|(k, v)| Change::Add(k, v)),
        any::<usize>().prop_map(Change::Cut),
        (any::<usize>(), any::<u8>()).prop_map(|(at, b)| Change::Corrupt(at, b)),
    ]
}

/// `text` changed; `None` for a change whose outcome serde reads by a rule the codec
/// drops on purpose: a nested struct written as an array.
fn apply(text: &str, change: &Change) -> Option<Vec<u8>> {
    let mut map: serde_json::Map<String, serde_json::Value> = serde_json::from_str(text).unwrap();
    let keys: Vec<String> = map.keys().cloned().collect();
    let value = |v: usize| serde_json::from_str::<serde_json::Value>(VALUES[v]).unwrap();
    let bytes = text.as_bytes();
    match change {
        Change::Reformat => return Some(serde_json::to_vec_pretty(&map).unwrap()),
        Change::Replace(f, v) => {
            let key = &keys[f % keys.len()];
            let structs = ["app", "heartbeat", "limits", "error"];
            if structs.contains(&key.as_str()) && VALUES[*v].starts_with('[') {
                return None;
            }
            map.insert(key.clone(), value(*v));
        }
        Change::Remove(f) => {
            map.remove(&keys[f % keys.len()]);
        }
        Change::Add(k, v) => {
            if map.contains_key(k) {
                return None;
            }
            map.insert(k.clone(), value(*v));
        }
        Change::Cut(at) => return Some(bytes[..at % bytes.len()].to_vec()),
        Change::Corrupt(at, b) => {
            let mut out = bytes.to_vec();
            out[at % bytes.len()] = *b;
            return Some(out);
        }
    }
    Some(serde_json::to_vec(&map).unwrap())
}

fn runner(cases: u32) -> TestRunner {
    TestRunner::new(Config {
        cases,
        failure_persistence: None,
        ..Config::default()
    })
}

#[test]
fn every_frame_is_written_as_serde_wrote_it_and_read_as_serde_read_it() {
    runner(1024)
        .run(&frame(), |f| {
            let text = encode(&f);
            prop_assert_eq!(&text, &serde_encode(&f));
            agree(text.as_bytes())
        })
        .unwrap();
}

#[test]
fn a_changed_frame_gets_the_same_frame_or_error_as_serde_gave() {
    runner(4096)
        .run(&(frame(), change()), |(f, change)| {
            if let Some(text) = apply(&encode(&f), &change) {
                agree(&text)?;
            }
            Ok(())
        })
        .unwrap();
}

#[test]
fn a_field_given_twice_is_malformed() {
    for text in [
        &br#"{"v":1,"k":"ack","id":1,"seq":2,"seq":3}"#[..],
        br#"{"v":1,"k":"ack","v":1,"id":1,"seq":2}"#,
        br#"{"k":"ack","v":1,"id":1,"seq":2,"k":"ping"}"#,
        br#"{"v":1,"k":"joined","id":1,"room":"r","epoch":1,"seq":0,"presence":[{"user":"a","user":"b"}]}"#,
    ] {
        let e = decode(text, 1024).unwrap_err();
        assert!(matches!(e, DecodeError::Malformed { .. }), "{e:?}");
        assert!(e.to_string().contains("twice"), "{e}");
    }
    // In a payload too, for what a server reads: the oracle agrees.
    let text = br#"{"v":1,"k":"publish","id":1,"room":"r","data":{"a":1,"a":2}}"#;
    assert!(agree(text).is_ok());
    assert!(matches!(
        decode_from_client(text, 1024),
        Err(DecodeError::Malformed { .. })
    ));
}

#[test]
fn a_nested_struct_must_be_an_object() {
    let text = br#"{"v":1,"k":"welcome","session":"s","user":"u","app":["a",1],"heartbeat":{"interval_ms":1,"timeout_ms":2},"limits":{"max_frame_bytes":9}}"#;
    let e = decode(text, 1024).unwrap_err();
    assert!(
        matches!(e, DecodeError::WrongType { ref field, .. } if field == "app"),
        "{e:?}"
    );
}
