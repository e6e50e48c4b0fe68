//! Application payloads: one JSON value, kept as its text.

use std::fmt;

use serde::{Deserialize, Serialize};
use serde_json::value::RawValue;

use crate::codec::DecodeError;
use crate::json::Reader;

/// An application payload (`data`, `meta`): one JSON value kept as its text, checked once
/// when it is made, so the core never parses it again and the server forwards it as bytes.
/// The application's own types meet it at the edge ([`crate::encode_payload`],
/// [`crate::decode_payload`]).
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct Payload(Box<str>);

impl Payload {
    /// The payload whose text is `json`, once it is checked to be one JSON value.
    /// Whitespace around the value is dropped.
    pub fn from_json(json: impl Into<String>) -> Result<Payload, DecodeError> {
        let json = json.into();
        let mut reader = Reader::new(&json);
        let fault = match reader.raw().and_then(|raw| reader.end().map(|()| raw)) {
            Ok(raw) if raw.len() == json.len() => return Ok(Payload::trusted(json)),
            Ok(raw) => return Ok(Payload::trusted(raw)),
            Err(fault) => fault,
        };
        Err(DecodeError::Malformed {
            detail: format!("a payload must be one JSON value: {}", fault.detail()),
        })
    }

    /// JSON `null`.
    pub fn null() -> Payload {
        Payload::trusted("null")
    }

    /// A payload from text the codec has already read as one JSON value.
    pub(crate) fn trusted(json: impl Into<Box<str>>) -> Payload {
        Payload(json.into())
    }

    /// The JSON text.
    pub fn get(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Payload {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("Payload")
            .field(&format_args!("{}", self.0))
            .finish()
    }
}

impl fmt::Display for Payload {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl From<Box<RawValue>> for Payload {
    fn from(raw: Box<RawValue>) -> Payload {
        Payload(raw.into())
    }
}

/// Serializes as the JSON value itself (with serde_json), not as a string of it.
impl Serialize for Payload {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let raw: &RawValue = serde_json::from_str(&self.0).map_err(serde::ser::Error::custom)?;
        raw.serialize(serializer)
    }
}

/// Deserializes any JSON value (with serde_json), keeping its text.
impl<'de> Deserialize<'de> for Payload {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Payload, D::Error> {
        Box::<RawValue>::deserialize(deserializer).map(Payload::from)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_payload_is_one_json_value() {
        let p = Payload::from_json(" {\"a\": [1, 2]} \n").expect("JSON");
        assert_eq!(p.get(), "{\"a\": [1, 2]}");
        assert_eq!(Payload::from_json("null"), Ok(Payload::null()));
        for bad in ["", "{", "1 2", "nul", "{\"a\":}", "'x'"] {
            assert!(
                matches!(Payload::from_json(bad), Err(DecodeError::Malformed { .. })),
                "{bad:?}"
            );
        }
    }

    #[test]
    fn serde_sees_the_value_not_a_string() {
        let p = Payload::from_json("{\"x\":1}").expect("JSON");
        assert_eq!(serde_json::to_string(&p).expect("JSON"), "{\"x\":1}");
        let back: Payload = serde_json::from_str(" [true] ").expect("JSON");
        assert_eq!(back.get(), "[true]");
    }
}
