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
        assert_eq!((a.id, a.seq), (7, 9));
    }
    // The header's own checks hold on both paths.
    let e = decode(br#"{"v":1,"k":"teleport","id":4}"#, 1024).unwrap_err();
    assert!(
        matches!(e, DecodeError::UnknownKind { id: Some(4), .. }),
        "{e:?}"
    );
    let e = decode(br#"{"v":1,"k":"ack","id":4}"#, 1024).unwrap_err();
    assert!(
        matches!(e, DecodeError::MissingField { ref field, id: Some(4), .. } if field == "seq"),
        "{e:?}"
    );
}
