//! Payloads that carry their send time, so any receiver can tell the latency.

use std::sync::OnceLock;
use std::time::{Duration, Instant};

/// Bytes of every payload (before the protocol wraps it).
pub const SIZE: usize = 100;

/// Digits of the timestamp inside a payload.
const DIGITS: usize = 20;

/// The instant all stamps count from (this process only: sender and receiver are both
/// the load generator). `main` fixes it first thing, so no stamp predates it.
pub fn origin() -> Instant {
    static ORIGIN: OnceLock<Instant> = OnceLock::new();
    *ORIGIN.get_or_init(Instant::now)
}

/// A 100-byte payload `t=<nanoseconds since origin>;xxx…`, safe inside a JSON string.
pub fn stamped(at: Instant) -> String {
    let nanos = at.saturating_duration_since(origin()).as_nanos();
    let mut text = format!("t={nanos:0DIGITS$};");
    text.extend(std::iter::repeat_n('x', SIZE.saturating_sub(text.len())));
    text
}

/// A 100-byte payload `t=<nanoseconds since origin>;n=<number>;xxx…`: [`stamped`] that
/// also carries the message's number, so a receiver can tell a message it skipped.
pub fn stamped_numbered(at: Instant, number: u64) -> String {
    let nanos = at.saturating_duration_since(origin()).as_nanos();
    let mut text = format!("t={nanos:0DIGITS$};n={number:0DIGITS$};");
    text.extend(std::iter::repeat_n('x', SIZE.saturating_sub(text.len())));
    text
}

/// The number inside `frame`, if it holds a [`stamped_numbered`] payload.
pub fn number(frame: &str) -> Option<u64> {
    let start = frame.find("t=")? + 2 + DIGITS;
    let rest = frame.get(start..)?.strip_prefix(";n=")?;
    rest.get(..DIGITS)?.parse().ok()
}

/// The time since the stamp inside `frame`, if it holds one.
pub fn age(frame: &str, now: Instant) -> Option<Duration> {
    let start = frame.find("t=")? + 2;
    let digits = frame.get(start..start + DIGITS)?;
    let nanos: u64 = digits.parse().ok()?;
    let sent = origin() + Duration::from_nanos(nanos);
    Some(now.saturating_duration_since(sent))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_stamp_reads_back_inside_any_envelope() {
        let _ = origin();
        let sent = Instant::now();
        let payload = stamped(sent);
        assert_eq!(payload.len(), SIZE);
        let frame = format!(r#"{{"k":"event","data":"{payload}"}}"#);
        let later = sent + Duration::from_millis(3);
        let age = age(&frame, later).expect("a stamp");
        assert!(
            age >= Duration::from_millis(3) && age < Duration::from_millis(4),
            "{age:?}"
        );
        assert_eq!(super::age("no stamp here", later), None);
        assert_eq!(number(&frame), None);
    }

    #[test]
    fn a_numbered_stamp_reads_back_its_number_and_its_time() {
        let _ = origin();
        let sent = Instant::now();
        let payload = stamped_numbered(sent, 12_345);
        assert_eq!(payload.len(), SIZE);
        let frame = format!(r#"{{"k":"event","room":"bench","data":"{payload}"}}"#);
        assert_eq!(number(&frame), Some(12_345));
        let later = sent + Duration::from_millis(3);
        let age = age(&frame, later).expect("a stamp");
        assert!(
            age >= Duration::from_millis(3) && age < Duration::from_millis(4),
            "{age:?}"
        );
    }
}
