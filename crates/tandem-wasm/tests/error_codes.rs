//! `ErrorCode` in the package's declarations (`js/index.d.ts`) is exactly the codes a page
//! can see: every code of the Rust `ErrorCode` (the server's, on the wire, and `unknown`),
//! and every code the client makes itself, in Rust (`src/error.rs`, `src/options.rs`) or in
//! JavaScript (`js/api.js`). A code added on either side without the declaration fails
//! here.

#![cfg(not(target_arch = "wasm32"))]
#![allow(clippy::unwrap_used)]

use std::collections::BTreeSet;

use tandem_proto::ErrorCode;

fn read(path: &str) -> String {
    let root = env!("CARGO_MANIFEST_DIR");
    std::fs::read_to_string(format!("{root}/{path}")).unwrap()
}

/// The names of the `ErrorCode` union: every `| "name"` after `export type ErrorCode =`.
fn declared() -> BTreeSet<String> {
    let text = read("js/index.d.ts");
    let start = text.find("export type ErrorCode =").unwrap();
    let end = start + text[start..].find(';').unwrap();
    text[start..end]
        .lines()
        .filter_map(|l| l.trim().strip_prefix("| \""))
        .map(|l| l.trim_end_matches('"').to_owned())
        .collect()
}

/// The string literals that follow `marker` in `text` (`"code"` arms, `new TandemError("code"`).
fn literals_after(text: &str, marker: &str) -> BTreeSet<String> {
    text.match_indices(marker)
        .filter_map(|(at, _)| {
            let rest = &text[at + marker.len()..];
            let rest = rest.trim_start().strip_prefix('"')?;
            Some(rest[..rest.find('"')?].to_owned())
        })
        .collect()
}

#[test]
fn the_declared_error_codes_are_the_ones_a_page_can_see() {
    let wire: BTreeSet<String> = ErrorCode::KNOWN
        .iter()
        .map(|c| c.as_str().to_owned())
        .chain(["unknown".to_owned()])
        .collect();
    let mut client = literals_after(&read("src/error.rs"), "=>");
    client.extend(literals_after(&read("src/options.rs"), "js_error("));
    client.extend(literals_after(&read("src/bindings.rs"), "js_error("));
    client.extend(literals_after(&read("src/bindings.rs"), "=>"));
    client.extend(literals_after(&read("js/api.js"), "new TandemError("));
    client.extend(literals_after(&read("js/api.js"), "code ?? "));
    let seen: BTreeSet<String> = wire.union(&client).cloned().collect();
    let declared = declared();
    assert!(declared.len() > 30, "the union was read: {declared:?}");
    let missing: Vec<_> = seen.difference(&declared).collect();
    let extra: Vec<_> = declared.difference(&seen).collect();
    assert!(
        missing.is_empty(),
        "codes a page can see but the declaration lacks: {missing:?}"
    );
    assert!(extra.is_empty(), "declared codes nothing makes: {extra:?}");
}
