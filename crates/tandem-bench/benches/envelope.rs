//! Figure 7 of `cargo xtask bench`: what tandem's envelope costs per message, against
//! serde_json of the same payload alone.
//!
//! - `payload_serde_json`: the application's value to JSON text and back (the floor:
//!   any JSON protocol pays this).
//! - `envelope_typed`: the same value through tandem as an app sends and receives it:
//!   encode the payload, wrap it in an `event` envelope, encode, decode, decode the payload.
//! - `envelope_raw`: only the envelope around an already-encoded payload (what the server
//!   does: it forwards payloads verbatim).

#![allow(missing_docs)]

use std::hint::black_box;

use criterion::{Criterion, criterion_group, criterion_main};
use serde::{Deserialize, Serialize};
use tandem_proto::codec::{decode, decode_payload, encode, encode_payload};
use tandem_proto::frame::{Event, Frame};

/// A chat-like payload of about 100 bytes of JSON.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
struct Chat {
    text: String,
}

fn chat() -> Chat {
    // {"text":"…"} with 89 characters of text is 100 bytes of JSON.
    Chat {
        text: "x".repeat(89),
    }
}

fn event(payload: tandem_proto::Payload) -> Frame {
    Frame::Event(Event {
        room: "bench".to_owned(),
        seq: Some(123_456),
        from: Some("alice".to_owned()),
        data: payload,
    })
}

fn envelope(c: &mut Criterion) {
    let value = chat();
    assert_eq!(
        serde_json::to_string(&value).map(|s| s.len()).ok(),
        Some(100)
    );
    let mut group = c.benchmark_group("envelope");
    group.bench_function("payload_serde_json", |b| {
        b.iter(|| {
            let text = serde_json::to_string(black_box(&value)).unwrap_or_default();
            let back: Option<Chat> = serde_json::from_str(black_box(&text)).ok();
            back
        });
    });
    group.bench_function("envelope_typed", |b| {
        b.iter(|| {
            let payload = encode_payload(black_box(&value)).ok()?;
            let text = encode(&event(payload));
            let Ok(Frame::Event(event)) = decode(black_box(text.as_bytes()), 65_536) else {
                return None;
            };
            decode_payload::<Chat>(&event.data).ok()
        });
    });
    let raw = encode_payload(&value).unwrap_or_else(|_| unreachable!("a plain struct"));
    group.bench_function("envelope_raw", |b| {
        b.iter(|| {
            let text = encode(&event(black_box(raw.clone())));
            decode(black_box(text.as_bytes()), 65_536).ok()
        });
    });
    group.finish();
}

criterion_group!(benches, envelope);
criterion_main!(benches);
