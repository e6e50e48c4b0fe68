//! The presence rule, in one place: who is in a room on this node. A user with several
//! connections (tabs) is one member; the member's `meta` is its first connection's, until
//! any of them sends an `update` (the latest write wins). A
//! connection that ends cleanly leaves at once; one that drops lingers for the presence
//! timeout, so a quick reconnect does not flicker (PROTOCOL.md §5.4).

use std::collections::BTreeMap;

use core::time::Duration;

use crate::codec::MemberRef;
use crate::frame::{Member, Payload};
use crate::time::{Instant, earliest};

/// How a connection ended, which decides whether its user lingers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Ending {
    /// Clean close (1000, 1001, or the server's own decision): the user leaves at once.
    Clean,
    /// Dropped (no close frame, a timeout, a slow consumer): the user lingers for the
    /// presence timeout in case it comes back.
    Abrupt,
}

struct Entry {
    meta: Option<Payload>,
    /// The issuer's presence data for the user (its token's `info`), as its first
    /// connection brought it.
    info: Option<Payload>,
    /// Connections of the user in the room.
    live: usize,
    /// When a user with no connection left stops lingering.
    linger_until: Option<Instant>,
}

/// The users of one room on this node, by name (so members are listed sorted by user).
#[derive(Default)]
pub(crate) struct Presence {
    users: BTreeMap<String, Entry>,
}

impl Presence {
    /// Whether `user` has a connection (or a lingering one) here.
    pub fn contains(&self, user: &str) -> bool {
        self.users.contains_key(user)
    }

    /// How many users are here, lingering included.
    pub fn len(&self) -> usize {
        self.users.len()
    }

    /// `user` (here) now has `meta`: the latest write wins, from whichever of its
    /// connections. Returns the member as it now is.
    pub fn update(&mut self, user: &str, meta: Payload) -> Option<Member> {
        let entry = self.users.get_mut(user)?;
        entry.meta = Some(meta.clone());
        Some(Member {
            user: user.to_owned(),
            meta: Some(meta),
            info: entry.info.clone(),
        })
    }

    /// Whether nobody is here, lingering included.
    pub fn is_empty(&self) -> bool {
        self.users.is_empty()
    }

    /// Every member, sorted by user.
    pub fn members(&self) -> Vec<Member> {
        self.users
            .iter()
            .map(|(user, e)| Member {
                user: user.clone(),
                meta: e.meta.clone(),
                info: e.info.clone(),
            })
            .collect()
    }

    /// Every member as `(user, meta, info)`, borrowed, sorted by user.
    pub fn pairs(&self) -> Vec<MemberRef<'_>> {
        self.users
            .iter()
            .map(|(user, e)| (user.as_str(), e.meta.as_ref(), e.info.as_ref()))
            .collect()
    }

    /// One more connection of `user`. Returns the member when the user is new to the room
    /// (a lingering user coming back is not: nobody saw it leave).
    pub fn arrive(
        &mut self,
        user: &str,
        meta: Option<Payload>,
        info: Option<Payload>,
    ) -> Option<Member> {
        if let Some(entry) = self.users.get_mut(user) {
            entry.live += 1;
            entry.linger_until = None;
            return None;
        }
        self.users.insert(
            user.to_owned(),
            Entry {
                meta: meta.clone(),
                info: info.clone(),
                live: 1,
                linger_until: None,
            },
        );
        Some(Member {
            user: user.to_owned(),
            meta,
            info,
        })
    }

    /// One connection of `user` is gone. With no connection left, the user leaves now
    /// (returned), or, after an abrupt end with a non-zero `timeout`, lingers until
    /// `now + timeout` (which is then merged into `next_linger`).
    pub fn depart(
        &mut self,
        now: Instant,
        user: &str,
        ending: Ending,
        timeout: Duration,
        next_linger: &mut Option<Instant>,
    ) -> Option<Member> {
        let entry = self.users.get_mut(user)?;
        entry.live = entry.live.saturating_sub(1);
        if entry.live > 0 {
            return None;
        }
        if ending == Ending::Abrupt && !timeout.is_zero() {
            let until = now + timeout;
            entry.linger_until = Some(until);
            *next_linger = earliest(*next_linger, Some(until));
            return None;
        }
        let e = self.users.remove(user)?;
        Some(Member {
            user: user.to_owned(),
            meta: e.meta,
            info: e.info,
        })
    }

    /// Removes the users whose linger ended by `now` and returns them; the next linger
    /// deadline still to come is merged into `next`.
    pub fn expire(&mut self, now: Instant, next: &mut Option<Instant>) -> Vec<Member> {
        let mut gone = Vec::new();
        self.users.retain(|user, e| match e.linger_until {
            Some(t) if e.live == 0 && t <= now => {
                gone.push(Member {
                    user: user.clone(),
                    meta: e.meta.take(),
                    info: e.info.take(),
                });
                false
            }
            Some(t) if e.live == 0 => {
                *next = earliest(*next, Some(t));
                true
            }
            _ => true,
        });
        gone
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const LINGER: Duration = Duration::from_secs(5);

    fn at(ms: u64) -> Instant {
        Instant::from_millis(ms)
    }

    #[test]
    fn a_user_with_two_connections_is_one_member_until_the_last_leaves() {
        let mut p = Presence::default();
        let mut next = None;
        assert!(p.arrive("ada", None, None).is_some(), "new to the room");
        assert!(p.arrive("ada", None, None).is_none(), "a second tab");
        assert!(
            p.depart(at(0), "ada", Ending::Clean, LINGER, &mut next)
                .is_none()
        );
        let gone = p.depart(at(0), "ada", Ending::Clean, LINGER, &mut next);
        assert_eq!(gone.map(|m| m.user), Some("ada".to_owned()));
        assert!(p.is_empty() && next.is_none());
    }

    #[test]
    fn a_dropped_user_lingers_for_the_timeout_then_leaves() {
        let mut p = Presence::default();
        let mut next = None;
        p.arrive("ada", None, None);
        assert!(
            p.depart(at(1_000), "ada", Ending::Abrupt, LINGER, &mut next)
                .is_none()
        );
        assert_eq!(next, Some(at(6_000)));
        let mut later = None;
        assert!(
            p.expire(at(5_999), &mut later).is_empty(),
            "still lingering"
        );
        assert_eq!(later, Some(at(6_000)));
        let gone = p.expire(at(6_000), &mut None);
        assert_eq!(gone.len(), 1);
        assert!(p.is_empty());
    }

    #[test]
    fn coming_back_while_lingering_is_no_arrival_and_cancels_the_linger() {
        let mut p = Presence::default();
        let mut next = None;
        p.arrive("ada", None, None);
        p.depart(at(0), "ada", Ending::Abrupt, LINGER, &mut next);
        assert!(
            p.arrive("ada", None, None).is_none(),
            "peers never saw ada leave"
        );
        assert!(p.expire(at(10_000), &mut None).is_empty());
        assert!(p.contains("ada"));
    }

    #[test]
    fn a_zero_timeout_means_no_linger() {
        let mut p = Presence::default();
        p.arrive("ada", None, None);
        let gone = p.depart(at(0), "ada", Ending::Abrupt, Duration::ZERO, &mut None);
        assert!(gone.is_some());
    }
}
