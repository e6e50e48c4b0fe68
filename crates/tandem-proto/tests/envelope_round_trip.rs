//! Every envelope kind survives encode → decode → encode unchanged.

#![allow(clippy::unwrap_used)] // tests panic on purpose when an expectation fails

mod support;

#[cfg(target_arch = "wasm32")]
use wasm_bindgen_test::wasm_bindgen_test as test;

use proptest::prelude::*;
use proptest::test_runner::{Config, TestRunner};
use support::frames::frame;
use tandem_proto::frame::*;
use tandem_proto::{Frame, Kind, decode, encode};

#[test]
fn every_kind_round_trips() {
    let mut runner = TestRunner::new(Config {
        cases: 512,
        failure_persistence: None,
        ..Config::default()
    });
    let seen = std::cell::RefCell::new(std::collections::HashSet::new());
    runner
        .run(&frame(), |f| {
            seen.borrow_mut().insert(f.kind());
            let text = encode(&f);
            let back = decode(text.as_bytes(), usize::MAX)
                .map_err(|e| TestCaseError::fail(format!("{e}: {text}")))?;
            prop_assert_eq!(back.kind(), f.kind());
            prop_assert_eq!(encode(&back), text.clone());
            prop_assert_eq!(format!("{back:?}"), format!("{f:?}"));
            let header = format!("{{\"v\":1,\"k\":\"{}\"", f.kind());
            prop_assert!(text.starts_with(&header));
            Ok(())
        })
        .expect("round trip");
    assert_eq!(
        seen.borrow().len(),
        Kind::ALL.len(),
        "every kind was generated"
    );
}

#[test]
fn ping_encodes_as_a_bare_header() {
    assert_eq!(encode(&Frame::Ping), r#"{"v":1,"k":"ping"}"#);
    assert_eq!(encode(&Frame::Pong), r#"{"v":1,"k":"pong"}"#);
}

#[test]
fn unknown_fields_are_ignored_for_forward_compatibility() {
    let f = decode(
        br#"{"v":1,"k":"ack","id":3,"seq":9,"future":{"x":1}}"#,
        1024,
    )
    .unwrap();
    assert!(matches!(
        f,
        Frame::Ack(Ack {
            id: 3,
            seq: Some(9)
        })
    ));
}
