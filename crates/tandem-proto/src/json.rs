//! The JSON the envelope needs, read and written by hand: objects, arrays, strings, whole
//! numbers, booleans, `null`, and any other value kept as its raw text.
//!
//! The frame codec is the only user. Application payloads are never parsed here beyond
//! checking that they are JSON; they stay text ([`crate::Payload`]). Doing this by hand
//! keeps serde_json's deserializer out of the browser's wasm, where it was the largest
//! part of the npm package, and reads a frame in one pass.

use std::borrow::Cow;

/// How deep arrays and objects may nest, as in serde_json.
const MAX_DEPTH: usize = 128;

/// Why a JSON text could not be read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Fault {
    /// The text is not JSON: what was expected, and the byte offset where.
    Syntax {
        /// What the reader expected.
        expected: &'static str,
        /// The byte offset in the text.
        at: usize,
    },
    /// The text is JSON, but a value has another type than its field needs.
    Type {
        /// Where the value is, e.g. `presence[0].user` (empty: the value read itself).
        path: String,
        /// What the field needs, e.g. `a string`.
        expected: &'static str,
        /// What was found, e.g. `a number`.
        found: &'static str,
    },
    /// An object lacks a field it needs.
    Missing(&'static str),
    /// An object has a field twice.
    Duplicate(String),
}

impl Fault {
    /// The fault seen from one level up: inside the field `key`.
    pub(crate) fn in_field(self, key: &str) -> Fault {
        self.under(key)
    }

    /// The fault seen from one level up: inside array element `index`.
    pub(crate) fn in_element(self, index: usize) -> Fault {
        self.under(&format!("[{index}]"))
    }

    /// Prefixes a type fault's path with `segment`, as serde_path_to_error writes paths:
    /// `presence[0].user`.
    fn under(self, segment: &str) -> Fault {
        match self {
            Fault::Type {
                path,
                expected,
                found,
            } => Fault::Type {
                path: if path.is_empty() {
                    segment.to_owned()
                } else if path.starts_with('[') {
                    format!("{segment}{path}")
                } else {
                    format!("{segment}.{path}")
                },
                expected,
                found,
            },
            other => other,
        }
    }

    /// A human-readable account, without the path.
    pub(crate) fn detail(&self) -> String {
        match self {
            Fault::Syntax { expected, at } => format!("expected {expected} at byte {at}"),
            Fault::Type {
                expected, found, ..
            } => format!("expected {expected}, found {found}"),
            Fault::Missing(field) => format!("missing field `{field}`"),
            Fault::Duplicate(field) => format!("the field `{field}` is given twice"),
        }
    }
}

/// What [`Reader::object`] calls with each key: it must read the key's value.
pub(crate) type OnField<'r, 'a> =
    dyn FnMut(&mut Reader<'a>, Cow<'a, str>) -> Result<(), Fault> + 'r;

/// A cursor over one JSON text.
pub(crate) struct Reader<'a> {
    text: &'a str,
    pos: usize,
    depth: usize,
}

impl<'a> Reader<'a> {
    /// A reader at the start of `text`.
    pub(crate) fn new(text: &'a str) -> Reader<'a> {
        Reader {
            text,
            pos: 0,
            depth: 0,
        }
    }

    fn bytes(&self) -> &'a [u8] {
        self.text.as_bytes()
    }

    /// The bytes not read yet.
    fn rest(&self) -> &'a [u8] {
        self.bytes().get(self.pos..).unwrap_or_default()
    }

    fn syntax<T>(&self, expected: &'static str) -> Result<T, Fault> {
        Err(Fault::Syntax {
            expected,
            at: self.pos,
        })
    }

    /// The next byte after whitespace, not consumed.
    pub(crate) fn peek(&mut self) -> Option<u8> {
        while let Some(b) = self.bytes().get(self.pos) {
            if !matches!(b, b' ' | b'\t' | b'\n' | b'\r') {
                return Some(*b);
            }
            self.pos += 1;
        }
        None
    }

    fn eat(&mut self, byte: u8, expected: &'static str) -> Result<(), Fault> {
        if self.peek() == Some(byte) {
            self.pos += 1;
            Ok(())
        } else {
            self.syntax(expected)
        }
    }

    /// Checks that nothing but whitespace follows the value read.
    pub(crate) fn end(&mut self) -> Result<(), Fault> {
        match self.peek() {
            None => Ok(()),
            Some(_) => self.syntax("the end of the text"),
        }
    }

    /// What the next value is, for a [`Fault::Type`]: `an object`, `a string`, ...
    fn found(&mut self) -> &'static str {
        match self.peek() {
            Some(b'{') => "an object",
            Some(b'[') => "an array",
            Some(b'"') => "a string",
            Some(b't' | b'f') => "a boolean",
            Some(b'n') => "null",
            _ => "a number",
        }
    }

    /// A type fault for the next value. A scalar is read first, so a bad one is a syntax
    /// fault; an array or object is not, as serde_json does not read them either.
    fn wrong<T>(&mut self, expected: &'static str) -> Result<T, Fault> {
        let found = self.found();
        if !matches!(self.peek(), Some(b'{' | b'[')) {
            self.skip()?;
        }
        Err(Fault::Type {
            path: String::new(),
            expected,
            found,
        })
    }

    /// `true` (and consumed) when the next value is `null`.
    pub(crate) fn null(&mut self) -> Result<bool, Fault> {
        if self.peek() != Some(b'n') {
            return Ok(false);
        }
        self.literal("null")?;
        Ok(true)
    }

    fn literal(&mut self, word: &'static str) -> Result<(), Fault> {
        if self.rest().starts_with(word.as_bytes()) {
            self.pos += word.len();
            Ok(())
        } else {
            self.syntax("a JSON value")
        }
    }

    /// Reads an object, calling `field` with each key; `field` must read the key's value.
    pub(crate) fn object(&mut self, field: &mut OnField<'_, 'a>) -> Result<(), Fault> {
        if self.peek() != Some(b'{') {
            return self.wrong("an object");
        }
        self.items(b'}', "`,` or `}`", &mut |r, _| {
            if r.peek() != Some(b'"') {
                return r.syntax("a string key");
            }
            let key = r.string_body()?;
            r.eat(b':', "`:`")?;
            field(r, key)
        })
    }

    /// Reads an array, calling `element` with each index; `element` must read the value.
    pub(crate) fn array(
        &mut self,
        element: &mut dyn FnMut(&mut Self, usize) -> Result<(), Fault>,
    ) -> Result<(), Fault> {
        if self.peek() != Some(b'[') {
            return self.wrong("an array");
        }
        self.items(b']', "`,` or `]`", element)
    }

    /// Reads the items of the object or array whose opening bracket is next, up to its
    /// `close`, calling `item` for each with its index.
    fn items(
        &mut self,
        close: u8,
        expected: &'static str,
        item: &mut dyn FnMut(&mut Self, usize) -> Result<(), Fault>,
    ) -> Result<(), Fault> {
        self.pos += 1;
        self.nest()?;
        let mut index = 0;
        if self.peek() != Some(close) {
            loop {
                item(self, index)?;
                index += 1;
                match self.peek() {
                    Some(b',') => self.pos += 1,
                    Some(b) if b == close => break,
                    _ => return self.syntax(expected),
                }
            }
        }
        self.pos += 1;
        self.depth -= 1;
        Ok(())
    }

    fn nest(&mut self) -> Result<(), Fault> {
        self.depth += 1;
        if self.depth > MAX_DEPTH {
            return self.syntax("less nesting (at most 128 levels)");
        }
        Ok(())
    }

    /// Reads a string.
    pub(crate) fn string(&mut self) -> Result<Cow<'a, str>, Fault> {
        if self.peek() != Some(b'"') {
            return self.wrong("a string");
        }
        self.string_body()
    }

    /// Reads a string whose opening quote is next.
    fn string_body(&mut self) -> Result<Cow<'a, str>, Fault> {
        self.pos += 1;
        let start = self.pos;
        let bytes = self.bytes();
        let mut owned: Option<String> = None;
        let mut run = start;
        loop {
            let Some(&b) = bytes.get(self.pos) else {
                return self.syntax("a closing `\"`");
            };
            match b {
                b'"' => {
                    let tail = part(self.text, run, self.pos);
                    self.pos += 1;
                    return Ok(match owned {
                        None => Cow::Borrowed(tail),
                        Some(mut s) => {
                            s.push_str(tail);
                            Cow::Owned(s)
                        }
                    });
                }
                b'\\' => {
                    let s = owned.get_or_insert_with(String::new);
                    s.push_str(part(self.text, run, self.pos));
                    self.pos += 1;
                    let c = self.escape()?;
                    s.push(c);
                    run = self.pos;
                }
                0..=0x1f => return self.syntax("no control character inside a string"),
                _ => self.pos += 1,
            }
        }
    }

    /// Reads the escape after a `\`.
    fn escape(&mut self) -> Result<char, Fault> {
        let Some(&b) = self.bytes().get(self.pos) else {
            return self.syntax("an escape");
        };
        self.pos += 1;
        Ok(match b {
            b'"' => '"',
            b'\\' => '\\',
            b'/' => '/',
            b'b' => '\u{8}',
            b'f' => '\u{c}',
            b'n' => '\n',
            b'r' => '\r',
            b't' => '\t',
            b'u' => {
                let first = self.hex4()?;
                let code = if (0xD800..0xDC00).contains(&first) {
                    if !self.rest().starts_with(b"\\u") {
                        return self.syntax("the low half of a surrogate pair");
                    }
                    self.pos += 2;
                    let second = self.hex4()?;
                    if !(0xDC00..0xE000).contains(&second) {
                        return self.syntax("the low half of a surrogate pair");
                    }
                    0x10000 + ((first - 0xD800) << 10) + (second - 0xDC00)
                } else {
                    first
                };
                match char::from_u32(code) {
                    Some(c) => c,
                    None => return self.syntax("no lone surrogate"),
                }
            }
            _ => {
                self.pos -= 1;
                return self.syntax("a valid escape");
            }
        })
    }

    fn hex4(&mut self) -> Result<u32, Fault> {
        let mut n = 0;
        for _ in 0..4 {
            let digit = self
                .bytes()
                .get(self.pos)
                .and_then(|b| char::from(*b).to_digit(16));
            let Some(d) = digit else {
                return self.syntax("four hex digits");
            };
            n = n * 16 + d;
            self.pos += 1;
        }
        Ok(n)
    }

    /// Reads a number's text, checking its grammar: the text, whether it is negative, and
    /// whether it has a fraction or an exponent.
    fn number(&mut self) -> Result<(&'a str, bool), Fault> {
        let bytes = self.bytes();
        let start = self.pos;
        let digits = |pos: &mut usize| {
            let from = *pos;
            while bytes.get(*pos).is_some_and(u8::is_ascii_digit) {
                *pos += 1;
            }
            *pos - from
        };
        let mut pos = self.pos;
        if bytes.get(pos) == Some(&b'-') {
            pos += 1;
        }
        let int_start = pos;
        let n = digits(&mut pos);
        if n == 0 || (n > 1 && bytes[int_start] == b'0') {
            self.pos = pos;
            return self.syntax("a number");
        }
        let mut whole = true;
        if bytes.get(pos) == Some(&b'.') {
            pos += 1;
            whole = false;
            if digits(&mut pos) == 0 {
                self.pos = pos;
                return self.syntax("a digit");
            }
        }
        if matches!(bytes.get(pos), Some(b'e' | b'E')) {
            pos += 1;
            whole = false;
            if matches!(bytes.get(pos), Some(b'+' | b'-')) {
                pos += 1;
            }
            if digits(&mut pos) == 0 {
                self.pos = pos;
                return self.syntax("a digit");
            }
        }
        self.pos = pos;
        Ok((part(self.text, start, pos), whole))
    }

    /// Reads a whole number from 0 to `u64::MAX`.
    pub(crate) fn u64(&mut self) -> Result<u64, Fault> {
        self.whole(u64::MAX)
    }

    /// Reads a whole number from 0 to `max`.
    pub(crate) fn whole(&mut self, max: u64) -> Result<u64, Fault> {
        if !matches!(self.peek(), Some(b'-' | b'0'..=b'9')) {
            return self.wrong("a whole number");
        }
        let (text, whole) = self.number()?;
        let fault = |found| {
            Err(Fault::Type {
                path: String::new(),
                expected: "a whole number",
                found,
            })
        };
        if !whole {
            return fault("a fraction");
        }
        // `-0` is zero, as serde_json reads it.
        let digits = text.strip_prefix('-');
        if digits.is_some_and(|d| d != "0") {
            return fault("a negative number");
        }
        match digits.unwrap_or(text).parse::<u64>() {
            Ok(n) if n <= max => Ok(n),
            _ => fault("a number out of range"),
        }
    }

    /// Reads `true` or `false`.
    pub(crate) fn bool(&mut self) -> Result<bool, Fault> {
        match self.peek() {
            Some(b't') => self.literal("true").map(|()| true),
            Some(b'f') => self.literal("false").map(|()| false),
            _ => self.wrong("a boolean"),
        }
    }

    /// Reads any value, checking it is JSON, and gives its text.
    pub(crate) fn raw(&mut self) -> Result<&'a str, Fault> {
        self.peek();
        let start = self.pos;
        self.skip()?;
        Ok(part(self.text, start, self.pos))
    }

    /// Reads any value, checking it is JSON and that no object in it gives a key twice.
    /// Only a server calls it (on client payloads), so the browser's wasm links none of it.
    pub(crate) fn unique_keys(&mut self) -> Result<(), Fault> {
        match self.peek() {
            Some(b'{') => {
                let mut keys = Vec::new();
                self.object(&mut |r, key| {
                    keys.push(key);
                    r.unique_keys()
                })?;
                // Sorted, so a frame of many keys costs n log n, not n².
                keys.sort_unstable();
                match keys.windows(2).find(|w| w[0] == w[1]) {
                    Some(w) => Err(Fault::Duplicate(w[0].to_string())),
                    None => Ok(()),
                }
            }
            Some(b'[') => self.array(&mut |r, _| r.unique_keys()),
            _ => self.skip(),
        }
    }

    /// Reads any value, checking it is JSON.
    pub(crate) fn skip(&mut self) -> Result<(), Fault> {
        match self.peek() {
            Some(b'{') => self.object(&mut |r, _| r.skip()),
            Some(b'[') => self.array(&mut |r, _| r.skip()),
            Some(b'"') => self.string_body().map(drop),
            Some(b't') => self.literal("true"),
            Some(b'f') => self.literal("false"),
            Some(b'n') => self.literal("null"),
            Some(b'-' | b'0'..=b'9') => self.number().map(drop),
            _ => self.syntax("a JSON value"),
        }
    }
}

/// `s[from..to]`, for bounds found at character boundaries (beside an ASCII byte). `get`
/// rather than indexing keeps core's formatting of a slicing panic, some 5 KB of code, out
/// of the browser's wasm; a bound off a boundary would give an empty string, not a panic.
pub(crate) fn part(s: &str, from: usize, to: usize) -> &str {
    s.get(from..to).unwrap_or_default()
}

/// Appends `s` as a JSON string, escaped exactly as serde_json escapes it.
pub(crate) fn push_string(out: &mut String, s: &str) {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    out.push('"');
    let mut run = 0;
    for (i, b) in s.bytes().enumerate() {
        let escaped: &str = match b {
            b'"' => "\\\"",
            b'\\' => "\\\\",
            b'\n' => "\\n",
            b'\r' => "\\r",
            b'\t' => "\\t",
            0x08 => "\\b",
            0x0c => "\\f",
            0..=0x1f => "",
            _ => continue,
        };
        out.push_str(part(s, run, i));
        if escaped.is_empty() {
            out.push_str("\\u00");
            out.push(char::from(HEX[usize::from(b >> 4)]));
            out.push(char::from(HEX[usize::from(b & 0xf)]));
        } else {
            out.push_str(escaped);
        }
        run = i + 1;
    }
    out.push_str(part(s, run, s.len()));
    out.push('"');
}

/// Appends `n` in decimal.
pub(crate) fn push_u64(out: &mut String, mut n: u64) {
    let mut digits = [0u8; 20];
    let mut at = digits.len();
    loop {
        at -= 1;
        // `n % 10` is below 10: the cast keeps it whole.
        digits[at] = b'0' + (n % 10) as u8;
        n /= 10;
        if n == 0 {
            break;
        }
    }
    for d in &digits[at..] {
        out.push(char::from(*d));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn strings_escape_as_serde_json_does() {
        let all: String = (0u8..=0x7f).map(char::from).chain("é✓𝄞".chars()).collect();
        let mut out = String::new();
        push_string(&mut out, &all);
        assert_eq!(out, serde_json::to_string(&all).expect("a string"));
        let mut r = Reader::new(&out);
        assert_eq!(r.string().expect("a string"), all);
    }

    #[test]
    fn numbers_print_as_decimal() {
        for n in [0, 7, 10, 99, 4_503_599_627_370_495, u64::MAX] {
            let mut out = String::new();
            push_u64(&mut out, n);
            assert_eq!(out, n.to_string());
        }
    }

    #[test]
    fn paths_read_as_serde_path_to_error_writes_them() {
        let f = Fault::Type {
            path: String::new(),
            expected: "a string",
            found: "a number",
        };
        let f = f.in_field("user").in_element(0).in_field("presence");
        assert!(matches!(f, Fault::Type { ref path, .. } if path == "presence[0].user"));
    }

    #[test]
    fn raw_values_keep_their_text_and_nesting_is_bounded() {
        let mut r = Reader::new(" {\"a\": [1, -2.5e3, \"x\\u00e9\", true, null]} ");
        assert_eq!(
            r.raw().expect("JSON"),
            "{\"a\": [1, -2.5e3, \"x\\u00e9\", true, null]}"
        );
        assert_eq!(r.end(), Ok(()));
        let deep = "[".repeat(129) + &"]".repeat(129);
        assert!(matches!(
            Reader::new(&deep).skip(),
            Err(Fault::Syntax { .. })
        ));
        let ok = "[".repeat(128) + &"]".repeat(128);
        assert_eq!(Reader::new(&ok).skip(), Ok(()));
        for bad in [
            "01",
            "1.",
            "-",
            "1e",
            "tru",
            "\"\\ud800\"",
            "\"a\u{1}\"",
            "{1:2}",
            "[1,]",
        ] {
            assert!(
                matches!(Reader::new(bad).skip(), Err(Fault::Syntax { .. })),
                "{bad}"
            );
        }
    }
}
