//! Test counts read from libtest's closing lines, e.g.
//! `test result: ok. 12 passed; 0 failed; 1 ignored; 0 measured; 0 filtered out; ...`.
//! wasm-bindgen-test prints the same line, so native and wasm runs are counted alike.

use std::fmt;

/// Summed counts of one or more `test result:` lines.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Counts {
    /// Tests that passed.
    pub passed: u64,
    /// Tests that failed.
    pub failed: u64,
    /// Tests that were ignored.
    pub ignored: u64,
    /// How many `test result:` lines were summed (one per test binary or doc-test run).
    pub suites: u64,
}

impl Counts {
    /// Adds the counts of `line` if it is a `test result:` line; other lines are ignored.
    pub fn add_line(&mut self, line: &str) {
        if let Some(counts) = parse_result_line(line) {
            *self += counts;
        }
    }
}

impl Counts {
    /// Adds the counts of `line` if it is one of the closing lines of Node's TAP reporter
    /// (`# pass N`, `# fail N`, `# skipped N`; `# tests N` counts one suite).
    pub fn add_tap_line(&mut self, line: &str) {
        let Some((key, n)) = line.strip_prefix("# ").and_then(|l| l.split_once(' ')) else {
            return;
        };
        let Ok(n) = n.trim().parse::<u64>() else {
            return;
        };
        match key {
            "pass" => self.passed += n,
            "fail" => self.failed += n,
            "skipped" => self.ignored += n,
            "tests" => self.suites += 1,
            _ => {}
        }
    }
}

impl std::ops::AddAssign for Counts {
    fn add_assign(&mut self, other: Self) {
        self.passed += other.passed;
        self.failed += other.failed;
        self.ignored += other.ignored;
        self.suites += other.suites;
    }
}

impl fmt::Display for Counts {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} passed, {} failed, {} ignored ({} test {})",
            self.passed,
            self.failed,
            self.ignored,
            self.suites,
            if self.suites == 1 { "suite" } else { "suites" }
        )
    }
}

/// Parses one `test result:` line; `None` if `line` is not one.
///
/// Tolerates a prefix before `test result:` and colour codes around `ok`/`FAILED`:
/// only `<number> passed|failed|ignored` word pairs are read.
pub fn parse_result_line(line: &str) -> Option<Counts> {
    let rest = &line[line.find("test result:")? + "test result:".len()..];
    let words: Vec<&str> = rest
        .split(|c: char| c.is_whitespace() || c == ';' || c == ',')
        .filter(|w| !w.is_empty())
        .collect();
    let mut counts = Counts {
        suites: 1,
        ..Counts::default()
    };
    let (mut saw_passed, mut saw_failed) = (false, false);
    for pair in words.windows(2) {
        let Ok(n) = pair[0].parse::<u64>() else {
            continue;
        };
        match pair[1] {
            "passed" => (counts.passed, saw_passed) = (n, true),
            "failed" => (counts.failed, saw_failed) = (n, true),
            "ignored" => counts.ignored = n,
            _ => {}
        }
    }
    (saw_passed && saw_failed).then_some(counts)
}

#[cfg(test)]
mod tests {
    use super::{Counts, parse_result_line};

    #[test]
    fn reads_node_tap_totals() {
        let mut counts = Counts::default();
        for line in [
            "# tests 4",
            "# suites 0",
            "# pass 3",
            "# fail 1",
            "# skipped 0",
            "ok 1 - x",
            "# Subtest: a",
        ] {
            counts.add_tap_line(line);
        }
        assert_eq!(
            counts,
            Counts {
                passed: 3,
                failed: 1,
                ignored: 0,
                suites: 1
            }
        );
    }

    #[test]
    fn parses_an_ok_line() {
        let line = "test result: ok. 12 passed; 0 failed; 3 ignored; 0 measured; 0 filtered out; finished in 0.01s";
        assert_eq!(
            parse_result_line(line),
            Some(Counts {
                passed: 12,
                failed: 0,
                ignored: 3,
                suites: 1
            })
        );
    }

    #[test]
    fn parses_a_failed_line_and_wasm_bindgen_test_format() {
        let line =
            "test result: FAILED. 4 passed; 2 failed; 0 ignored; 0 filtered out; finished in 1.50s";
        let counts = parse_result_line(line).expect("a result line");
        assert_eq!((counts.passed, counts.failed), (4, 2));
    }

    #[test]
    fn tolerates_colour_codes() {
        let line = "test result: \u{1b}[32mok\u{1b}[0m. 7 passed; 0 failed; 0 ignored; 0 measured; 0 filtered out";
        assert_eq!(parse_result_line(line).map(|c| c.passed), Some(7));
    }

    #[test]
    fn ignores_other_lines() {
        assert_eq!(parse_result_line("test codec::roundtrip ... ok"), None);
        assert_eq!(parse_result_line("running 12 tests"), None);
        assert_eq!(parse_result_line("test result: garbage"), None);
    }

    #[test]
    fn sums_lines() {
        let mut total = Counts::default();
        total
            .add_line("test result: ok. 2 passed; 0 failed; 1 ignored; 0 measured; 0 filtered out");
        total.add_line("   Doc-tests tandem_proto");
        total
            .add_line("test result: ok. 5 passed; 1 failed; 0 ignored; 0 measured; 0 filtered out");
        assert_eq!(
            total,
            Counts {
                passed: 7,
                failed: 1,
                ignored: 1,
                suites: 2
            }
        );
    }
}
