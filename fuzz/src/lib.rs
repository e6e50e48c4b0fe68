//! Checks shared by the frame targets (`frame_client`, `frame_server`).

use tandem_proto::{DecodeError, Frame, encode};

/// The limit the targets decode with: tandem's default largest frame.
pub const MAX: usize = tandem_proto::DEFAULT_MAX_FRAME_BYTES;

/// What every decode must satisfy, whatever the bytes:
/// - an error's code, id and message can be produced (no panic formatting it);
/// - a frame that decodes is valid JSON to serde_json too (the hand reader accepts no
///   more than JSON; serde_json alone refuses numbers beyond f64, which payloads may hold);
/// - it re-encodes, and the encoding decodes to the same frame and re-encodes to the very
///   same text (the encoding is canonical);
/// - with `any_agrees`, `decode` (either direction) reads the same frame. It reads a kind
///   both sides send (`request`, `response`, `ping`, `pong`) as a client's, so this holds
///   for the client direction only: a server's `request` whose payload gives a key twice
///   is accepted by a client and refused by `decode`, as a client's would be by a server.
pub fn check(
    data: &[u8],
    decode_one_way: fn(&[u8], usize) -> Result<Frame, DecodeError>,
    any_agrees: bool,
) {
    let frame = match decode_one_way(data, MAX) {
        Ok(frame) => frame,
        Err(error) => {
            let _ = (error.code(), error.id(), error.to_string());
            return;
        }
    };
    if let Err(e) = serde_json::from_slice::<serde_json::Value>(data) {
        assert!(
            e.to_string().contains("out of range") || e.to_string().contains("recursion"),
            "the codec accepted a frame serde_json refuses ({e}): {:?}",
            String::from_utf8_lossy(data)
        );
    }
    let text = encode(&frame);
    let again = decode_one_way(text.as_bytes(), usize::MAX)
        .unwrap_or_else(|e| panic!("an encoded frame does not decode ({e}): {text}"));
    assert_eq!(
        format!("{frame:?}"),
        format!("{again:?}"),
        "decode(encode(frame)) differs: {text}"
    );
    assert_eq!(encode(&again), text, "encoding is not canonical");
    if any_agrees {
        let any = tandem_proto::decode(data, MAX)
            .unwrap_or_else(|e| panic!("decode refuses what one direction accepts: {e}"));
        assert_eq!(format!("{frame:?}"), format!("{any:?}"));
    }
}
