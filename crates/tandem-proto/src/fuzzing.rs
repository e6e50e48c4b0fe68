//! Hooks for the fuzz targets in `fuzz/` at the repository root: thin public wrappers over
//! the crate-private JSON reader and writer, compiled only with the `fuzzing` feature (off
//! by default, never used by the library itself). They add no behaviour: each calls what
//! the codec calls.

use crate::json::{Reader, push_string, push_u64};

/// Reads `text` as exactly one JSON value (what a payload must be), as the codec checks a
/// payload: the value's text without the whitespace around it, or the fault's account.
pub fn json_value(text: &str) -> Result<&str, String> {
    let mut reader = Reader::new(text);
    let raw = reader.raw().map_err(|f| f.detail())?;
    reader.end().map_err(|f| f.detail())?;
    Ok(raw)
}

/// Reads `text` as exactly one JSON string, its escapes decoded.
pub fn json_string(text: &str) -> Result<String, String> {
    let mut reader = Reader::new(text);
    let s = reader.string().map_err(|f| f.detail())?.into_owned();
    reader.end().map_err(|f| f.detail())?;
    Ok(s)
}

/// Reads `text` as exactly one whole number from 0 to `u64::MAX`.
pub fn json_u64(text: &str) -> Result<u64, String> {
    let mut reader = Reader::new(text);
    let n = reader.u64().map_err(|f| f.detail())?;
    reader.end().map_err(|f| f.detail())?;
    Ok(n)
}

/// Reads `text` as exactly one JSON boolean.
pub fn json_bool(text: &str) -> Result<bool, String> {
    let mut reader = Reader::new(text);
    let b = reader.bool().map_err(|f| f.detail())?;
    reader.end().map_err(|f| f.detail())?;
    Ok(b)
}

/// `s` written as a JSON string, as the codec writes strings.
pub fn json_write_string(s: &str) -> String {
    let mut out = String::new();
    push_string(&mut out, s);
    out
}

/// `n` written in decimal, as the codec writes numbers.
pub fn json_write_u64(n: u64) -> String {
    let mut out = String::new();
    push_u64(&mut out, n);
    out
}
