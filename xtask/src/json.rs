//! Reading the flat JSON objects `tandem-bench` and the browser benchmark print, one per
//! line, without a JSON library (xtask stays std-only). Only what those lines hold:
//! top-level keys with number or plain string values.

/// The raw text of `key`'s value in the flat object `line`.
fn raw<'a>(line: &'a str, key: &str) -> Option<&'a str> {
    let pattern = format!("\"{key}\":");
    let start = line.find(&pattern)? + pattern.len();
    let rest = line[start..].trim_start();
    if let Some(string) = rest.strip_prefix('"') {
        return string.find('"').map(|end| &string[..end]);
    }
    let end = rest.find([',', '}']).unwrap_or(rest.len());
    Some(rest[..end].trim())
}

/// `key`'s value as a number.
pub fn number(line: &str, key: &str) -> Option<f64> {
    raw(line, key)?.parse().ok()
}

/// `key`'s value as a string (no escapes).
pub fn string<'a>(line: &'a str, key: &str) -> Option<&'a str> {
    raw(line, key)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_numbers_and_strings() {
        let line = r#"{"deliveries_per_s":1234.5,"figure":"fanout","p99_us":7,"first_error":null}"#;
        assert_eq!(number(line, "deliveries_per_s"), Some(1234.5));
        assert_eq!(number(line, "p99_us"), Some(7.0));
        assert_eq!(string(line, "figure"), Some("fanout"));
        assert_eq!(number(line, "first_error"), None);
        assert_eq!(number(line, "missing"), None);
    }
}
