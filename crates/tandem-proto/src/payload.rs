//! Application payloads: one JSON value, kept as its text.

use std::fmt;

use serde::{Deserialize, Serialize};
use serde_json::value::RawValue;

/// An application payload (`data`, `meta`): one JSON value kept as its text, checked once
/// when it is made, so the core never parses it again and the server forwards it as bytes.
/// The application's own types meet it at the edge ([`crate::encode_payload`],
/// [`crate::decode_payload`]); text becomes one with [`Payload::from_json`], which the
/// codec defines, as it owns reading JSON and its errors.
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct Payload(Box<str>);

impl Payload {
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
    fn serde_sees_the_value_not_a_string() {
        let p = Payload::trusted("{\"x\":1}");
        assert_eq!(serde_json::to_string(&p).expect("JSON"), "{\"x\":1}");
        let back: Payload = serde_json::from_str(" [true] ").expect("JSON");
        assert_eq!(back.get(), "[true]");
    }
}
