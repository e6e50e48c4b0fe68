//! How presence changes reach a room's members. In a quiet room a change goes out at once.
//! In a room of [`COALESCE_FROM`] members or more, the changes that follow within the
//! presence window are held and sent together when it closes, as one diff, and the window
//! stays open while changes keep coming. Without this, every arrival in a room of N
//! members costs N frames: 5,000 clients joining one room sent 12.5 million diffs and took
//! 23-41 s.
//!
//! A member that joined during a window has a snapshot of the room as it was then; it gets
//! its own diff of what changed after its snapshot, everyone else the change over the
//! whole window. A diff is the net change: a user who left and came back within a window
//! is in neither list (unless its meta changed: then it is `updated`), and a member that
//! updated its meta many times is `updated` once, with the latest.

use std::collections::BTreeMap;
use std::sync::Arc;

use bytes::Bytes;

use super::shared::{Change, RoomCore, Window};
use super::{ConnId, Delivery, Recipients};
use crate::codec::encode;
use crate::frame::{self, Frame, Member};
use crate::time::{Instant, earliest};

/// Members from which a room holds its presence changes for a window. Below it, a change
/// costs at most this many frames and goes out at once (a small room sees every arrival
/// without delay).
pub(crate) const COALESCE_FROM: usize = 64;

/// The net change over `log`: who is present at its end and was not at its start, the
/// reverse, and who stayed with a new meta (each list sorted by user).
fn net(log: &[(Member, Change)]) -> Diff {
    // Per user: present at the start, the first `left` member's meta, touched by an update.
    struct Seen<'a> {
        was: bool,
        left_meta: Option<&'a Option<crate::frame::Payload>>,
        updated: bool,
        last: &'a (Member, Change),
    }
    let mut users: BTreeMap<&str, Seen<'_>> = BTreeMap::new();
    for change in log {
        let (member, kind) = change;
        let seen = users.entry(member.user.as_str()).or_insert(Seen {
            was: *kind != Change::Joined,
            left_meta: None,
            updated: false,
            last: change,
        });
        seen.last = change;
        match kind {
            Change::Updated => seen.updated = true,
            Change::Left => {
                seen.left_meta.get_or_insert(&member.meta);
            }
            Change::Joined => {}
        }
    }
    let mut diff = Diff::default();
    for seen in users.into_values() {
        let (member, last) = seen.last;
        let is = *last != Change::Left;
        match (seen.was, is) {
            (false, true) => diff.joined.push(member.clone()),
            (true, false) => diff.left.push(member.clone()),
            (true, true) if seen.updated || seen.left_meta.is_some_and(|m| *m != member.meta) => {
                diff.updated.push(member.clone());
            }
            _ => {}
        }
    }
    diff
}

/// The members of one presence diff.
#[derive(Default)]
struct Diff {
    joined: Vec<Member>,
    left: Vec<Member>,
    updated: Vec<Member>,
}

impl Diff {
    fn is_empty(&self) -> bool {
        self.joined.is_empty() && self.left.is_empty() && self.updated.is_empty()
    }

    /// The diff for `to`, encoded once.
    fn deliver(self, room: &str, to: Recipients) -> Delivery {
        let diff = Frame::Presence(frame::Presence {
            room: room.to_owned(),
            joined: self.joined,
            left: self.left,
            updated: self.updated,
        });
        Delivery::live(to, Bytes::from(encode(&diff)))
    }
}

impl<X: Default> RoomCore<X> {
    /// `joined` arrived in `room` and `left` left it. `newcomer` is a connection joining now
    /// whose snapshot already has these changes: it gets none of them.
    pub fn announce(
        &mut self,
        now: Instant,
        room: &str,
        joined: Vec<Member>,
        left: Vec<Member>,
        newcomer: Option<ConnId>,
    ) {
        let changes = left.into_iter().map(|m| (m, Change::Left));
        let changes = changes.chain(joined.into_iter().map(|m| (m, Change::Joined)));
        self.log_changes(now, room, changes.collect(), newcomer);
    }

    /// `member` has a new meta in `room`: every member hears of it, the updating user's
    /// own connections included (its other tabs learn it so).
    pub fn announce_update(&mut self, now: Instant, room: &str, member: Member) {
        self.log_changes(now, room, vec![(member, Change::Updated)], None);
    }

    fn log_changes(
        &mut self,
        now: Instant,
        room: &str,
        changes: Vec<(Member, Change)>,
        newcomer: Option<ConnId>,
    ) {
        let window = self.config.presence_window;
        let Some(r) = self.rooms.get_mut(room) else {
            return;
        };
        if !r.policy.presence {
            return;
        }
        if let Some(w) = r.window.as_mut() {
            w.log.extend(changes);
            w.newcomers.extend(newcomer.map(|c| (c, w.log.len())));
            return;
        }
        if changes.is_empty() {
            return;
        }
        let mut diff = Diff::default();
        for (m, change) in changes {
            match change {
                Change::Joined => diff.joined.push(m),
                Change::Left => diff.left.push(m),
                Change::Updated => diff.updated.push(m),
            }
        }
        let to: Arc<[ConnId]> = r
            .subscribers
            .iter()
            .copied()
            .filter(|c| Some(*c) != newcomer)
            .collect();
        if !to.is_empty() {
            self.out.push_back(diff.deliver(room, Recipients::Many(to)));
        }
        if !window.is_zero() && r.subscribers.len() >= COALESCE_FROM {
            self.open_window(now + window, room);
        }
    }

    fn open_window(&mut self, closes: Instant, room: &str) {
        if let Some(r) = self.rooms.get_mut(room) {
            r.window = Some(Window {
                closes,
                log: Vec::new(),
                newcomers: Vec::new(),
            });
            self.windows.push(room.to_owned());
            self.presence_due = earliest(self.presence_due, Some(closes));
        }
    }

    /// Sends what the windows that closed by `now` hold; a window that held something
    /// opens again, so a busy room stays coalesced.
    pub fn flush_presence(&mut self, now: Instant) {
        if self.presence_due.is_none_or(|t| t > now) {
            return;
        }
        let window = self.config.presence_window;
        let mut open = Vec::new();
        let mut due = None;
        for name in std::mem::take(&mut self.windows) {
            let Some(r) = self.rooms.get_mut(&name) else {
                continue;
            };
            let Some(w) = r.window.take_if(|w| w.closes <= now) else {
                if let Some(w) = &r.window {
                    due = earliest(due, Some(w.closes));
                    open.push(name);
                }
                continue;
            };
            let busy = !w.log.is_empty();
            let newcomer = |c: &ConnId| w.newcomers.iter().any(|(n, _)| n == c);
            let others: Arc<[ConnId]> = r
                .subscribers
                .iter()
                .copied()
                .filter(|c| !newcomer(c))
                .collect();
            let diff = net(&w.log);
            if !diff.is_empty() && !others.is_empty() {
                self.out
                    .push_back(diff.deliver(&name, Recipients::Many(others)));
            }
            for (conn, seen) in &w.newcomers {
                let diff = net(&w.log[*seen..]);
                if r.subscribers.contains(conn) && !diff.is_empty() {
                    self.out
                        .push_back(diff.deliver(&name, Recipients::One(*conn)));
                }
            }
            if busy && !window.is_zero() {
                let closes = now + window;
                r.window = Some(Window {
                    closes,
                    log: Vec::new(),
                    newcomers: Vec::new(),
                });
                due = earliest(due, Some(closes));
                open.push(name);
            }
        }
        self.windows = open;
        self.presence_due = due;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn m(user: &str) -> Member {
        Member {
            user: user.into(),
            meta: None,
            info: None,
        }
    }

    fn users(list: &[Member]) -> Vec<&str> {
        list.iter().map(|m| m.user.as_str()).collect()
    }

    fn with_meta(user: &str, meta: &str) -> Member {
        Member {
            user: user.into(),
            meta: crate::frame::Payload::from_json(meta.to_owned()).ok(),
            info: None,
        }
    }

    #[test]
    fn a_diff_is_the_net_change_over_the_window() {
        use Change::{Joined, Left};
        let log = vec![
            (m("ada"), Joined),
            (m("bob"), Left),
            (m("cy"), Joined),
            (m("cy"), Left),
            (m("bob"), Joined),
            (m("dee"), Left),
        ];
        let diff = net(&log);
        assert_eq!(
            users(&diff.joined),
            ["ada"],
            "cy came and went; bob went and came back"
        );
        assert_eq!(users(&diff.left), ["dee"]);
        assert!(diff.updated.is_empty());
        let diff = net(&log[3..]);
        assert_eq!(
            (users(&diff.joined), users(&diff.left)),
            (vec!["bob"], vec!["cy", "dee"])
        );
    }

    #[test]
    fn many_updates_in_a_window_are_one_with_the_latest_meta() {
        use Change::{Joined, Left, Updated};
        let log = vec![
            (with_meta("ada", "1"), Updated),
            (with_meta("ada", "2"), Updated),
            (with_meta("bob", "1"), Left),
            (with_meta("bob", "2"), Joined),
            (with_meta("cy", "1"), Joined),
            (with_meta("cy", "3"), Updated),
            (with_meta("dee", "1"), Updated),
            (with_meta("dee", "1"), Left),
        ];
        let diff = net(&log);
        let metas = |l: &[Member]| -> Vec<String> {
            l.iter()
                .map(|m| format!("{}={}", m.user, m.meta.as_ref().map_or("", |p| p.get())))
                .collect()
        };
        assert_eq!(
            metas(&diff.updated),
            ["ada=2", "bob=2"],
            "bob came back with another meta"
        );
        assert_eq!(
            metas(&diff.joined),
            ["cy=3"],
            "an arrival carries its latest meta"
        );
        assert_eq!(metas(&diff.left), ["dee=1"]);
    }
}
