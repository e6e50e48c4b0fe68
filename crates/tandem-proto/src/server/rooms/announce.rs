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
//! is in neither list.

use std::collections::BTreeMap;
use std::sync::Arc;

use bytes::Bytes;

use super::shared::{RoomCore, Window};
use super::{ConnId, Delivery, Recipients};
use crate::codec::encode;
use crate::frame::{self, Frame, Member};
use crate::time::{Instant, earliest};

/// Members from which a room holds its presence changes for a window. Below it, a change
/// costs at most this many frames and goes out at once (a small room sees every arrival
/// without delay).
pub(crate) const COALESCE_FROM: usize = 64;

/// The net change over `log`: who is present at its end and was not at its start, and
/// the reverse (each list sorted by user).
fn net(log: &[(Member, bool)]) -> (Vec<Member>, Vec<Member>) {
    let mut users: BTreeMap<&str, (bool, &(Member, bool))> = BTreeMap::new();
    for change in log {
        let (member, present) = change;
        users
            .entry(member.user.as_str())
            .and_modify(|(_, last)| *last = change)
            .or_insert((!present, change));
    }
    let (mut joined, mut left) = (Vec::new(), Vec::new());
    for (was, (member, is)) in users.into_values() {
        match (was, *is) {
            (false, true) => joined.push(member.clone()),
            (true, false) => left.push(member.clone()),
            _ => {}
        }
    }
    (joined, left)
}

/// One presence diff for `to`, encoded once.
fn presence_diff(room: &str, joined: Vec<Member>, left: Vec<Member>, to: Recipients) -> Delivery {
    let diff = Frame::Presence(frame::Presence {
        room: room.to_owned(),
        joined,
        left,
    });
    Delivery::live(to, Bytes::from(encode(&diff)))
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
        let window = self.config.presence_window;
        let Some(r) = self.rooms.get_mut(room) else {
            return;
        };
        let changes = left.into_iter().map(|m| (m, false));
        let changes: Vec<(Member, bool)> = changes
            .chain(joined.into_iter().map(|m| (m, true)))
            .collect();
        if let Some(w) = r.window.as_mut() {
            w.log.extend(changes);
            w.newcomers.extend(newcomer.map(|c| (c, w.log.len())));
            return;
        }
        if changes.is_empty() {
            return;
        }
        let (joined, left): (Vec<_>, Vec<_>) = changes.into_iter().partition(|(_, p)| *p);
        let strip = |v: Vec<(Member, bool)>| v.into_iter().map(|(m, _)| m).collect();
        let to: Arc<[ConnId]> = r
            .subscribers
            .iter()
            .copied()
            .filter(|c| Some(*c) != newcomer)
            .collect();
        if !to.is_empty() {
            let diff = presence_diff(room, strip(joined), strip(left), Recipients::Many(to));
            self.out.push_back(diff);
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
            let (joined, left) = net(&w.log);
            let changed = !joined.is_empty() || !left.is_empty();
            if changed && !others.is_empty() {
                let diff = presence_diff(&name, joined, left, Recipients::Many(others));
                self.out.push_back(diff);
            }
            for (conn, seen) in &w.newcomers {
                let (joined, left) = net(&w.log[*seen..]);
                let here = r.subscribers.contains(conn);
                let changed = !joined.is_empty() || !left.is_empty();
                if here && changed {
                    let diff = presence_diff(&name, joined, left, Recipients::One(*conn));
                    self.out.push_back(diff);
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
        }
    }

    fn users(list: &[Member]) -> Vec<&str> {
        list.iter().map(|m| m.user.as_str()).collect()
    }

    #[test]
    fn a_diff_is_the_net_change_over_the_window() {
        let log = vec![
            (m("ada"), true),
            (m("bob"), false),
            (m("cy"), true),
            (m("cy"), false),
            (m("bob"), true),
            (m("dee"), false),
        ];
        let (joined, left) = net(&log);
        assert_eq!(
            users(&joined),
            ["ada"],
            "cy came and went; bob went and came back"
        );
        assert_eq!(users(&left), ["dee"]);
        let (joined, left) = net(&log[3..]);
        assert_eq!(
            (users(&joined), users(&left)),
            (vec!["bob"], vec!["cy", "dee"])
        );
    }
}
