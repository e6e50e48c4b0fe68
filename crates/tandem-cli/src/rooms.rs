//! `tandem serve --room PATTERN:SETTINGS`: per-room policies from the command line.
//!
//! `PATTERN` is a room name where `*` stands for any run of characters; `SETTINGS` is a
//! comma-separated list of `history=N`, `history-age=DURATION`, `history-bytes=N`,
//! `ephemeral-only`, `presence=on|off` and `max-members=N`. Settings not given keep the
//! server-wide defaults (`--history-len`, ...). The first `--room` whose pattern matches
//! a room decides its policy.

use tandem_server::{RoomPattern, RoomPolicy};

use crate::duration;

/// One `--room` flag: a pattern and the settings it changes.
#[derive(Debug, Clone)]
pub struct RoomRule {
    pattern: RoomPattern,
    settings: Vec<Setting>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Setting {
    History(usize),
    HistoryAge(core::time::Duration),
    HistoryBytes(usize),
    EphemeralOnly,
    Presence(bool),
    MaxMembers(usize),
}

const SETTINGS: &str = "history=N, history-age=DURATION, history-bytes=N, ephemeral-only, presence=on|off, max-members=N";

/// Parses `PATTERN:SETTINGS` (the last `:` splits them, so a pattern may hold `:`).
pub fn parse(text: &str) -> Result<RoomRule, String> {
    let (pattern, list) = text.rsplit_once(':').ok_or_else(|| {
        format!("{text:?}: expected PATTERN:SETTINGS, e.g. 'cursors/*:history=0,ephemeral-only'")
    })?;
    if pattern.is_empty() {
        return Err(format!(
            "{text:?}: the room pattern is empty (use * for every room)"
        ));
    }
    let settings = list
        .split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(setting)
        .collect::<Result<Vec<_>, _>>()?;
    if settings.is_empty() {
        return Err(format!("{text:?}: no settings; give some of: {SETTINGS}"));
    }
    Ok(RoomRule {
        pattern: RoomPattern::new(pattern),
        settings,
    })
}

fn setting(text: &str) -> Result<Setting, String> {
    let number = |v: &str| {
        v.parse::<usize>()
            .map_err(|_| format!("{text:?}: {v:?} is not a whole number"))
    };
    match text.split_once('=') {
        None if text == "ephemeral-only" => Ok(Setting::EphemeralOnly),
        Some(("history", v)) => number(v).map(Setting::History),
        Some(("history-age", v)) => duration::parse(v).map(Setting::HistoryAge),
        Some(("history-bytes", v)) => number(v).map(Setting::HistoryBytes),
        Some(("presence", "on")) => Ok(Setting::Presence(true)),
        Some(("presence", "off")) => Ok(Setting::Presence(false)),
        Some(("max-members", v)) => number(v).map(Setting::MaxMembers),
        _ => Err(format!("unknown room setting {text:?}; use {SETTINGS}")),
    }
}

/// The policy function of a server given `rules`: the first matching rule changes the
/// `defaults`; a room no rule matches gets them as they are.
pub fn policy(rules: &[RoomRule], defaults: RoomPolicy, room: &str) -> RoomPolicy {
    let mut policy = defaults;
    let Some(rule) = rules.iter().find(|r| r.pattern.matches(room)) else {
        return policy;
    };
    for s in &rule.settings {
        match *s {
            Setting::History(n) => policy.history.len = n,
            Setting::HistoryAge(d) => policy.history.age = d,
            Setting::HistoryBytes(n) => policy.history.bytes = n,
            Setting::EphemeralOnly => policy.numbered = false,
            Setting::Presence(on) => policy.presence = on,
            Setting::MaxMembers(n) => policy.max_members = Some(n),
        }
    }
    policy
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    #[test]
    fn the_first_matching_rule_sets_what_it_names_and_keeps_the_rest() {
        let rules = [
            parse("cursors/*:history=0,ephemeral-only,presence=off").unwrap(),
            parse("chat/*:history-age=1h,max-members=50").unwrap(),
            parse("*:history=5").unwrap(),
        ];
        let defaults = RoomPolicy::default();
        let cursors = policy(&rules, defaults, "cursors/board");
        assert_eq!(cursors.history.len, 0);
        assert!(!cursors.numbered && !cursors.presence);
        assert_eq!(cursors.history.age, defaults.history.age);
        let chat = policy(&rules, defaults, "chat/general");
        assert_eq!(chat.history.age, core::time::Duration::from_secs(3600));
        assert_eq!(chat.max_members, Some(50));
        assert_eq!(chat.history.len, defaults.history.len, "first match only");
        assert_eq!(policy(&rules, defaults, "lobby").history.len, 5);
        assert_eq!(policy(&[], defaults, "lobby"), defaults);
    }

    #[test]
    fn a_bad_rule_is_refused_with_what_to_write() {
        for bad in [
            "cursors",
            ":history=0",
            "cursors/*:",
            "cursors/*:history=x",
            "cursors/*:presence=maybe",
            "cursors/*:colour=blue",
            "cursors/*:history-age=5",
        ] {
            assert!(parse(bad).is_err(), "{bad}");
        }
        assert!(
            parse("room:with:colons:history=1")
                .unwrap()
                .pattern
                .matches("room:with:colons")
        );
    }
}
