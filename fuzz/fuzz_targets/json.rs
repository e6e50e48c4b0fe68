//! The hand-written JSON reader (crates/tandem-proto/src/json.rs), checked against
//! serde_json: one value (what a payload must be), a string, a whole number, a boolean;
//! and the writer: what it writes reads back.
#![no_main]

use tandem_proto::fuzzing::{
    json_bool, json_string, json_u64, json_value, json_write_string, json_write_u64,
};

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let ours = json_value(text);
    let serde = serde_json::from_str::<serde_json::Value>(text);
    match (&ours, &serde) {
        (Ok(raw), Ok(value)) => {
            assert_eq!(*raw, text.trim_matches([' ', '\t', '\n', '\r']));
            // The same value as serde_json reads it.
            let reread: serde_json::Value =
                serde_json::from_str(raw).unwrap_or_else(|e| panic!("{e}: {raw}"));
            assert_eq!(&reread, value);
            // Payload::from_json keeps exactly that text.
            let payload = tandem_proto::Payload::from_json(text)
                .unwrap_or_else(|e| panic!("{e}: a value the reader accepts"));
            assert_eq!(payload.get(), *raw);
        }
        (Err(_), Err(_)) => {}
        // serde_json refuses numbers beyond f64 (without arbitrary_precision); the reader
        // checks only their grammar, as a payload is kept as text. And serde_json nests at
        // most 127 levels where the reader takes 128 (json.rs says "as in serde_json"): a
        // known difference, reported.
        (Ok(_), Err(e)) => assert!(
            e.to_string().contains("out of range") || e.to_string().contains("recursion limit"),
            "{e}: {text:?}"
        ),
        (Err(why), Ok(_)) => panic!("the reader refuses JSON serde_json reads ({why}): {text:?}"),
    }
    match (json_string(text), serde_json::from_str::<String>(text)) {
        (Ok(a), Ok(b)) => {
            assert_eq!(a, b);
            assert_eq!(
                json_write_string(&a),
                serde_json::to_string(&a).unwrap_or_default()
            );
            assert_eq!(
                json_string(&json_write_string(&a)).as_deref(),
                Ok(a.as_str())
            );
        }
        (Err(_), Err(_)) => {}
        (a, b) => panic!("strings disagree on {text:?}: ours {a:?}, serde_json {b:?}"),
    }
    match (json_u64(text), serde_json::from_str::<u64>(text)) {
        (Ok(a), Ok(b)) => {
            assert_eq!(a, b);
            assert_eq!(json_write_u64(a), a.to_string());
        }
        (Err(_), Err(_)) => {}
        // The reader takes `-0` as zero (json.rs says "as serde_json reads it", but
        // serde_json reads it as the float -0.0, refused as a u64): a known difference,
        // reported; anything else must agree.
        (Ok(0), Err(_)) if text.trim_matches([' ', '\t', '\n', '\r']) == "-0" => {}
        (a, b) => panic!("whole numbers disagree on {text:?}: ours {a:?}, serde_json {b:?}"),
    }
    match (json_bool(text), serde_json::from_str::<bool>(text)) {
        (Ok(a), Ok(b)) => assert_eq!(a, b),
        (Err(_), Err(_)) => {}
        (a, b) => panic!("booleans disagree on {text:?}: ours {a:?}, serde_json {b:?}"),
    }
});
