//! The resume rule, in one place: where a join starts reading a room, what `joined`
//! reports, and which stored messages follow it (PROTOCOL.md §5.2).

use core::ops::Range;

use super::history::History;

/// Where a join starts reading the room.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Start {
    /// From now, after replaying up to this many recent messages.
    Fresh {
        /// How many recent messages to replay.
        history: u32,
    },
    /// After this position, replaying everything missed if the history still has it.
    After {
        /// The room epoch of the position.
        epoch: u64,
        /// The last sequence number seen.
        seq: u64,
    },
}

/// What a join gets: the position `joined` reports, whether a resume recovered, and the
/// stored messages replayed after it (indices into the history).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Plan {
    /// `joined.seq`: the position just before the first replayed message.
    pub seq: u64,
    /// For a resume: whether the replay covers the whole gap. `None` for a fresh join.
    pub recovered: Option<bool>,
    /// The stored messages to replay, oldest first.
    pub replay: Range<usize>,
}

/// Plans a join at `start` into a room at `(epoch, seq)` holding `history`. Only stored
/// messages at or before `seq` are replayed: a replica may hold newer ones from the
/// broker's state, which arrive live next.
pub(crate) fn plan(epoch: u64, seq: u64, history: &History, start: Start) -> Plan {
    let settled = history.partition_point(|s| s.seq <= seq);
    match start {
        Start::Fresh { history: n } => {
            let from = settled - (n as usize).min(settled);
            let at = history.get(from).map_or(seq, |s| s.seq - 1);
            Plan {
                seq: at,
                recovered: None,
                replay: from..settled,
            }
        }
        Start::After {
            epoch: theirs,
            seq: last,
        } => {
            let oldest = history.front().map_or(seq + 1, |s| s.seq);
            if theirs == epoch && last <= seq && last + 1 >= oldest {
                // Everything missed is still stored.
                let from = history.partition_point(|s| s.seq <= last).min(settled);
                Plan {
                    seq: last,
                    recovered: Some(true),
                    replay: from..settled,
                }
            } else if theirs != epoch || last < seq {
                // A gap the client cannot fill: messages aged out, or another incarnation
                // of the room (a restarted server). What is retained still follows, so
                // nothing retained is lost to it.
                Plan {
                    seq: oldest - 1,
                    recovered: Some(false),
                    replay: 0..settled,
                }
            } else {
                // A position ahead of the room in its own epoch.
                Plan {
                    seq,
                    recovered: Some(false),
                    replay: 0..0,
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::server::history::Stored;
    use crate::time::Instant;
    use bytes::Bytes;

    /// A room history holding `seqs`.
    fn stored(seqs: Range<u64>) -> History {
        seqs.map(|seq| Stored {
            seq,
            at: Instant::from_millis(0),
            frame: Bytes::from_static(b"{}"),
        })
        .collect()
    }

    fn after(epoch: u64, seq: u64) -> Start {
        Start::After { epoch, seq }
    }

    #[test]
    fn a_fresh_join_replays_the_last_n_and_reports_the_seq_before_them() {
        let h = stored(11..21);
        let p = plan(7, 20, &h, Start::Fresh { history: 3 });
        assert_eq!((p.seq, p.recovered, p.replay), (17, None, 7..10));
        let p = plan(7, 20, &h, Start::Fresh { history: 0 });
        assert_eq!((p.seq, p.replay), (20, 10..10), "no replay: the room's seq");
        let p = plan(7, 20, &h, Start::Fresh { history: 99 });
        assert_eq!((p.seq, p.replay), (10, 0..10), "at most what is stored");
    }

    #[test]
    fn a_resume_in_the_epoch_with_its_gap_stored_is_recovered() {
        let h = stored(11..21);
        let p = plan(7, 20, &h, after(7, 15));
        assert_eq!((p.seq, p.recovered, p.replay), (15, Some(true), 5..10));
        let p = plan(7, 20, &h, after(7, 10));
        assert_eq!((p.seq, p.recovered, p.replay), (10, Some(true), 0..10));
        let p = plan(7, 20, &h, after(7, 20));
        assert_eq!(
            (p.recovered, p.replay),
            (Some(true), 10..10),
            "nothing missed"
        );
    }

    #[test]
    fn a_resume_past_the_history_or_from_another_epoch_is_not_recovered() {
        let h = stored(11..21);
        let aged = plan(7, 20, &h, after(7, 5));
        assert_eq!(
            (aged.seq, aged.recovered, aged.replay),
            (10, Some(false), 0..10)
        );
        let restarted = plan(8, 20, &h, after(7, 15));
        assert_eq!(restarted.recovered, Some(false));
        assert_eq!(
            (restarted.seq, restarted.replay),
            (10, 0..10),
            "all retained follows"
        );
        let ahead = plan(7, 20, &h, after(7, 25));
        assert_eq!(
            (ahead.seq, ahead.recovered, ahead.replay),
            (20, Some(false), 0..0)
        );
    }

    #[test]
    fn with_nothing_stored_a_resume_that_missed_nothing_is_recovered() {
        let h = History::default();
        let p = plan(7, 20, &h, after(7, 20));
        assert_eq!((p.seq, p.recovered, p.replay), (20, Some(true), 0..0));
        let p = plan(7, 20, &h, after(7, 12));
        assert_eq!(
            (p.seq, p.recovered),
            (20, Some(false)),
            "seq: the room's seq"
        );
    }

    #[test]
    fn messages_newer_than_the_room_position_are_left_for_the_live_stream() {
        // A replica holding 21..22 from the broker's state, not yet seen live.
        let h = stored(11..23);
        let p = plan(7, 20, &h, after(7, 15));
        assert_eq!(p.replay, 5..10);
        let p = plan(7, 20, &h, Start::Fresh { history: 2 });
        assert_eq!((p.seq, p.replay), (18, 8..10));
    }
}
