//! One test per bad-input class: each gets its own typed error, naming the cause.

#![allow(clippy::unwrap_used)] // tests panic on purpose when an expectation fails

mod support;

#[cfg(target_arch = "wasm32")]
use wasm_bindgen_test::wasm_bindgen_test as test;

use tandem_proto::{
    DecodeError, ErrorCode, Frame, Kind, decode, decode_from_client, decode_from_server,
    decode_payload,
};

#[test]
fn malformed_json_is_malformed() {
    let e = decode(br#"{"v":1,"k":"publish","#, 1024).unwrap_err();
    assert!(matches!(e, DecodeError::Malformed { .. }), "{e:?}");
    assert_eq!(e.code(), ErrorCode::MalformedFrame);
    let e = decode(b"\xff\xfe", 1024).unwrap_err();
    assert!(matches!(e, DecodeError::Malformed { .. }), "{e:?}");
}

#[test]
fn a_json_value_that_is_not_an_object_is_malformed() {
    for text in [&b"[1,2]"[..], b"\"hello\"", b"42", b"null"] {
        let e = decode(text, 1024).unwrap_err();
        assert!(matches!(e, DecodeError::Malformed { .. }), "{e:?}");
        assert!(e.to_string().contains("JSON object"), "{e}");
    }
}

#[test]
fn unknown_kind_is_named() {
    let e = decode(br#"{"v":1,"k":"teleport","id":4}"#, 1024).unwrap_err();
    assert_eq!(
        e,
        DecodeError::UnknownKind {
            kind: "teleport".into(),
            id: Some(4)
        }
    );
    assert_eq!(e.code(), ErrorCode::UnknownKind);
    assert!(e.to_string().contains("teleport"));
}

#[test]
fn missing_field_names_the_field_and_keeps_the_id() {
    let e = decode(br#"{"v":1,"k":"publish","id":9,"data":{}}"#, 1024).unwrap_err();
    assert_eq!(
        e,
        DecodeError::MissingField {
            kind: "publish".into(),
            field: "room".into(),
            id: Some(9)
        }
    );
    assert_eq!(e.code(), ErrorCode::MissingField);
    let e = decode(br#"{"k":"ping"}"#, 1024).unwrap_err();
    assert!(
        matches!(e, DecodeError::MissingField { ref field, .. } if field == "v"),
        "{e:?}"
    );
    let e = decode(br#"{"v":1}"#, 1024).unwrap_err();
    assert!(
        matches!(e, DecodeError::MissingField { ref field, .. } if field == "k"),
        "{e:?}"
    );
}

#[test]
fn wrong_payload_type_names_the_path() {
    let e = decode(br#"{"v":1,"k":"ack","id":1,"seq":"seven"}"#, 1024).unwrap_err();
    match &e {
        DecodeError::WrongType {
            kind, field, id, ..
        } => {
            assert_eq!(kind, "ack");
            assert_eq!(field, "seq");
            assert_eq!(*id, Some(1));
        }
        other => panic!("expected WrongType, got {other:?}"),
    }
    assert_eq!(e.code(), ErrorCode::WrongType);
    let e = decode(
        br#"{"v":1,"k":"joined","id":1,"room":"r","epoch":1,"seq":0,"presence":[{"user":5}]}"#,
        1024,
    )
    .unwrap_err();
    assert!(
        matches!(e, DecodeError::WrongType { ref field, .. } if field == "presence[0].user"),
        "{e:?}"
    );
}

#[test]
fn wrong_application_payload_type_is_typed() {
    #[derive(Debug, serde::Deserialize)]
    #[allow(dead_code)]
    struct Cursor {
        x: f64,
        y: f64,
    }
    let raw = tandem_proto::Payload::from_json(r#"{"x":1,"y":"up"}"#).unwrap();
    let e = decode_payload::<Cursor>(&raw).unwrap_err();
    assert!(
        matches!(e, DecodeError::WrongType { ref field, .. } if field == "y"),
        "{e:?}"
    );
}

#[test]
fn too_large_is_refused_before_parsing() {
    let big = format!(
        r#"{{"v":1,"k":"publish","id":1,"room":"r","data":"{}"}}"#,
        "x".repeat(2000)
    );
    let e = decode(big.as_bytes(), 1024).unwrap_err();
    assert_eq!(
        e,
        DecodeError::TooLarge {
            size: big.len(),
            limit: 1024
        }
    );
    assert_eq!(e.code(), ErrorCode::TooLarge);
}

#[test]
fn unsupported_version_is_refused() {
    let e = decode(br#"{"v":2,"k":"ping"}"#, 1024).unwrap_err();
    assert_eq!(
        e,
        DecodeError::UnsupportedVersion {
            found: 2,
            supported: 1
        }
    );
    assert_eq!(e.code(), ErrorCode::UnsupportedVersion);
}

#[test]
fn each_side_refuses_the_kinds_only_it_sends() {
    let hello = br#"{"v":1,"k":"hello","id":3,"app":{"name":"a","versions":[1]}}"#;
    let e = decode_from_server(hello, 1024).unwrap_err();
    assert!(
        matches!(
            e,
            DecodeError::WrongDirection {
                kind: Kind::Hello,
                id: Some(3)
            }
        ),
        "{e:?}"
    );
    assert_eq!(e.code(), ErrorCode::UnexpectedFrame);
    assert!(matches!(
        decode_from_client(hello, 1024),
        Ok(Frame::Hello(_))
    ));
    let event = br#"{"v":1,"k":"event","room":"r","seq":4,"data":1}"#;
    let e = decode_from_client(event, 1024).unwrap_err();
    assert!(
        matches!(
            e,
            DecodeError::WrongDirection {
                kind: Kind::Event,
                id: None
            }
        ),
        "{e:?}"
    );
    assert!(matches!(
        decode_from_server(event, 1024),
        Ok(Frame::Event(_))
    ));
    assert!(matches!(decode(event, 1024), Ok(Frame::Event(_))));
}

#[test]
fn a_header_in_another_order_or_spacing_decodes_the_same() {
    let ours = br#"{"v":1,"k":"ack","id":7,"seq":9}"#;
    for other in [
        &br#"{"k":"ack","v":1,"id":7,"seq":9}"#[..],
        br#" { "v" : 1 , "k" : "ack" , "id" : 7 , "seq" : 9 } "#,
        br#"{"v":1,"k":"\u0061ck","id":7,"seq":9}"#,
    ] {
        let (Frame::Ack(a), Frame::Ack(b)) = (
            decode_from_server(other, 1024).expect("a frame"),
            decode_from_server(ours, 1024).expect("a frame"),
        ) else {
            panic!("both are acks");
        };
        assert_eq!((a.id, a.seq), (b.id, b.seq));
        assert_eq!((a.id, a.seq), (7, Some(9)));
    }
    // The header's own checks hold on both paths.
    let e = decode(br#"{"v":1,"k":"teleport","id":4}"#, 1024).unwrap_err();
    assert!(
        matches!(e, DecodeError::UnknownKind { id: Some(4), .. }),
        "{e:?}"
    );
    let e = decode(br#"{"v":1,"k":"left","id":4}"#, 1024).unwrap_err();
    assert!(
        matches!(e, DecodeError::MissingField { ref field, id: Some(4), .. } if field == "room"),
        "{e:?}"
    );
}

/// PROTOCOL.md §2: the header's checks run in its order (`v` present, `v == 1`, `k`
/// present, `k` known) whatever order the fields come in, and an `id` that is not an
/// integer is no id rather than a fault of its own.
#[test]
fn header_checks_run_in_the_documented_order() {
    let e = decode(br#"{"v":1,"k":"nope","id":"x"}"#, 1024).unwrap_err();
    assert_eq!(
        e,
        DecodeError::UnknownKind {
            kind: "nope".into(),
            id: None
        }
    );
    for (text, code, field) in [
        (&br#"{"k":5}"#[..], ErrorCode::MissingField, "v"),
        (
            br#"{"id":[],"k":"nope","v":null}"#,
            ErrorCode::MissingField,
            "v",
        ),
        (br#"{"k":5,"v":"1"}"#, ErrorCode::WrongType, "v"),
        (br#"{"k":5,"v":1.0}"#, ErrorCode::WrongType, "v"),
        (br#"{"k":5,"v":1,"id":3}"#, ErrorCode::WrongType, "k"),
        (br#"{"id":{},"v":1}"#, ErrorCode::MissingField, "k"),
    ] {
        let e = decode(text, 1024).unwrap_err();
        assert_eq!(e.code(), code, "{}: {e:?}", String::from_utf8_lossy(text));
        assert!(
            matches!(&e, DecodeError::MissingField { field: f, .. }
                | DecodeError::WrongType { field: f, .. } if f == field),
            "{}: {e:?}",
            String::from_utf8_lossy(text)
        );
    }
    // `v` comes before `k`: a bad `k` in a frame of another version is that version's.
    let e = decode(br#"{"k":5,"v":2}"#, 1024).unwrap_err();
    assert_eq!(e.code(), ErrorCode::UnsupportedVersion);
    // A header fault keeps a readable id, wherever the id is.
    let e = decode(br#"{"id":3,"k":5,"v":1}"#, 1024).unwrap_err();
    assert_eq!(e.id(), Some(3));
}

#[test]
fn messages_name_the_frame_once() {
    let cases: [(&[u8], &str); 4] = [
        (
            br#"{"v":"1","k":"ping"}"#,
            "frame has a wrong type at `v`: expected a whole number, found a string",
        ),
        (br#"{"k":"ping"}"#, "frame is missing the field `v`"),
        (
            br#"{"v":1,"k":"ack","id":1,"seq":"x"}"#,
            "ack frame has a wrong type at `seq`: expected a whole number, found a string",
        ),
        (
            br#"{"v":1,"k":"left","id":1}"#,
            "left frame is missing the field `room`",
        ),
    ];
    for (text, message) in cases {
        assert_eq!(decode(text, 1024).unwrap_err().to_string(), message);
    }
    #[derive(Debug, serde::Deserialize)]
    #[allow(dead_code)]
    struct Cursor {
        x: f64,
    }
    let raw = tandem_proto::Payload::from_json(r#"{"x":"up"}"#).unwrap();
    let e = decode_payload::<Cursor>(&raw).unwrap_err().to_string();
    assert!(e.starts_with("payload has a wrong type"), "{e}");
    let raw = tandem_proto::Payload::from_json("{}").unwrap();
    let e = decode_payload::<Cursor>(&raw).unwrap_err().to_string();
    assert_eq!(e, "payload is missing the field `x`");
}

/// PROTOCOL.md §2: a key given twice in one object makes a frame malformed, in a payload
/// too. A server refuses such a client frame, so it never relays one; the reference client
/// leaves payloads to the application (a server never sends such a frame).
#[test]
fn a_payload_giving_a_key_twice_is_malformed_for_a_server() {
    for text in [
        &br#"{"v":1,"k":"publish","id":1,"room":"r","data":{"a":1,"a":2}}"#[..],
        br#"{"v":1,"k":"publish","id":1,"room":"r","data":[0,{"x":{"b":1,"c":0,"b":1}}]}"#,
        br#"{"v":1,"k":"publish","id":1,"room":"r","data":{"a":1,"\u0061":2}}"#,
        br#"{"v":1,"k":"join","id":1,"room":"r","meta":{"c":"red","c":"blue"}}"#,
        br#"{"v":1,"k":"resume","id":1,"room":"r","epoch":1,"seq":0,"meta":{"c":1,"c":1}}"#,
        br#"{"v":1,"k":"request","id":1,"data":{"op":1,"op":2}}"#,
        br#"{"v":1,"k":"response","id":1,"data":{"ok":1,"ok":2}}"#,
    ] {
        for e in [
            decode_from_client(text, 1024).unwrap_err(),
            decode(text, 1024).unwrap_err(),
        ] {
            assert!(matches!(e, DecodeError::Malformed { .. }), "{e:?}");
            assert_eq!(e.code(), ErrorCode::MalformedFrame);
            assert!(e.to_string().contains("given twice"), "{e}");
        }
    }
    let e = decode_from_client(
        br#"{"v":1,"k":"publish","id":1,"room":"r","data":{"n":{"a":1,"a":2}}}"#,
        1024,
    )
    .unwrap_err();
    assert_eq!(
        e.to_string(),
        "malformed frame: the field `a` in `data` is given twice"
    );
    // The same key in different objects is fine, as are payloads without objects.
    for text in [
        &br#"{"v":1,"k":"publish","id":1,"room":"r","data":{"a":{"a":1},"b":[{"a":2},{"a":3}]}}"#[..],
        br#"{"v":1,"k":"publish","id":1,"room":"r","data":"{\"a\":1,\"a\":2}"}"#,
        br#"{"v":1,"k":"join","id":1,"room":"r","meta":null}"#,
        br#"{"v":1,"k":"response","id":1,"error":{"code":"rejected","message":"m"}}"#,
    ] {
        assert!(
            decode_from_client(text, 1024).is_ok(),
            "{}",
            String::from_utf8_lossy(text)
        );
    }
    // A client reads payloads as they come: no server sends such a frame.
    let event = br#"{"v":1,"k":"event","room":"r","seq":1,"data":{"a":1,"a":2}}"#;
    assert!(matches!(
        decode_from_server(event, 1024),
        Ok(Frame::Event(_))
    ));
}

/// A payload of 8,000 distinct keys is taken, and the same with one key given twice, far
/// from its twin, is refused. (The check sorts the keys, n log n; its speed is a matter
/// for the benchmark, not a test.)
#[test]
fn a_payload_of_many_keys_is_checked_whole() {
    let keys: Vec<String> = (0..8_000).map(|i| format!("\"{i:x}\":0")).collect();
    let text = format!(
        r#"{{"v":1,"k":"publish","id":1,"room":"r","data":{{{}}}}}"#,
        keys.join(",")
    );
    assert!(decode_from_client(text.as_bytes(), 1 << 20).is_ok());
    let dup = text.replacen("\"1f3f\"", "\"0\"", 1);
    assert!(decode_from_client(dup.as_bytes(), 1 << 20).is_err());
}

#[test]
fn the_new_frames_name_their_bad_fields() {
    let cases: [(&[u8], ErrorCode, &str); 8] = [
        (
            br#"{"v":1,"k":"update","id":"x","room":"r","meta":1}"#,
            ErrorCode::WrongType,
            "id",
        ),
        (
            br#"{"v":1,"k":"update","id":1,"room":5,"meta":1}"#,
            ErrorCode::WrongType,
            "room",
        ),
        (
            br#"{"v":1,"k":"update","id":1,"room":"r"}"#,
            ErrorCode::MissingField,
            "meta",
        ),
        (
            br#"{"v":1,"k":"history","id":1,"room":"r","limit":"x"}"#,
            ErrorCode::WrongType,
            "limit",
        ),
        (
            br#"{"v":1,"k":"history","id":1,"room":"r","before":-1}"#,
            ErrorCode::WrongType,
            "before",
        ),
        (
            br#"{"v":1,"k":"history","id":1}"#,
            ErrorCode::MissingField,
            "room",
        ),
        (
            br#"{"v":1,"k":"publish","id":1,"room":"r","data":1,"ephemeral":"yes"}"#,
            ErrorCode::WrongType,
            "ephemeral",
        ),
        (
            br#"{"v":1,"k":"update","id":1,"room":"r","meta":{"a":1,"a":2}}"#,
            ErrorCode::MalformedFrame,
            "a",
        ),
    ];
    for (text, code, field) in cases {
        let e = decode_from_client(text, 1024).unwrap_err();
        assert_eq!(e.code(), code, "{e}");
        assert!(e.to_string().contains(field), "{e} names {field}");
    }
    // Nulls are absent where PROTOCOL.md says so; `meta: null` is a value.
    let ok = decode_from_client(
        br#"{"v":1,"k":"history","id":1,"room":"r","before":null,"limit":null}"#,
        1024,
    );
    assert!(matches!(ok, Ok(Frame::History(h)) if h.before.is_none() && h.limit.is_none()));
    let ok = decode_from_client(
        br#"{"v":1,"k":"update","id":1,"room":"r","meta":null}"#,
        1024,
    );
    assert!(matches!(ok, Ok(Frame::Update(u)) if u.meta.get() == "null"));
    // A client never sends a page; a server never sends an update.
    assert!(
        decode_from_client(
            br#"{"v":1,"k":"page","id":1,"room":"r","epoch":1,"events":[],"more":false}"#,
            1024
        )
        .is_err()
    );
    assert!(
        decode_from_server(br#"{"v":1,"k":"update","id":1,"room":"r","meta":1}"#, 1024).is_err()
    );
    assert_eq!(Kind::ALL.len(), 23);
}

#[test]
fn the_session_frames_name_their_bad_fields() {
    let cases: [(&[u8], ErrorCode, &str); 4] = [
        (
            br#"{"v":1,"k":"token","id":1}"#,
            ErrorCode::MissingField,
            "token",
        ),
        (
            br#"{"v":1,"k":"token","id":1,"token":7}"#,
            ErrorCode::WrongType,
            "token",
        ),
        (
            br#"{"v":1,"k":"token","token":"t"}"#,
            ErrorCode::MissingField,
            "id",
        ),
        (
            br#"{"v":1,"k":"token","id":1,"token":null}"#,
            ErrorCode::WrongType,
            "token",
        ),
    ];
    for (text, code, field) in cases {
        let e = decode_from_client(text, 1024).unwrap_err();
        assert_eq!(e.code(), code, "{e}");
        assert!(e.to_string().contains(field), "{e} names {field}");
    }
    // A server never sends `token`; a client never sends the server's session frames.
    assert!(decode_from_server(br#"{"v":1,"k":"token","id":1,"token":"t"}"#, 1024).is_err());
    for text in [
        &br#"{"v":1,"k":"refresh","expires_in_ms":5}"#[..],
        br#"{"v":1,"k":"unsubscribed","room":"r","message":"m"}"#,
        br#"{"v":1,"k":"message","data":1}"#,
    ] {
        assert!(decode_from_client(text, 1024).is_err());
        assert!(decode_from_server(text, 1024).is_ok());
    }
}
