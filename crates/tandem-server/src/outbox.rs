//! One connection's outbox: the frames the core has for it, bounded, and the order to
//! close it. The core pushes ([`Outbox`]); the connection's task takes everything queued
//! at once ([`Inbox`]).
//!
//! Overflow is final. Once a frame is refused, every later frame is refused too, until the
//! close: the connection's task empties the queue on another thread meanwhile, and a
//! frame accepted after a refused one would reach the client as `…N, N+k+1…`, a hole its
//! position would then jump past. (Seen: a resume replaying more than the limit lost 510
//! messages silently for one client in a thousand.)
//!
//! The answer to a join and the stored messages it replays ([`FrameClass::Replay`]) are
//! queued past the limit: they are bounded by the room's history and share its bytes
//! (each costs the queue one 32-byte slot), and refusing them would turn a resume from far
//! behind into a loop of 1013s that never catches up. Only live frames count.
//!
//! Ephemeral frames ([`FrameClass::Ephemeral`]) never count against the limit and never
//! overflow it: once the queue is half full they are dropped (shed), so a reader that is
//! behind loses cursor moves before it is closed for numbered messages, and a burst of
//! ephemeral traffic never pushes a healthy connection to 1013.
//!
//! An empty outbox holds no buffer: the queue is handed over whole to the writer, so an
//! idle connection keeps only the small shared header (a tokio channel keeps a block of
//! 32 slots and two cache-padded halves, about 2.3 KB, for as long as it lives).

use std::collections::VecDeque;
use std::sync::{Arc, Mutex, MutexGuard};

use tandem_proto::FrameClass;
use tokio::sync::Notify;
use tokio_tungstenite::tungstenite::Utf8Bytes;

/// Code and reason of a close the core ordered.
pub(crate) type CloseOrder = (u16, String);

/// Why [`Outbox::push`] did not queue a frame.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum PushError {
    /// The outbox holds its limit of live frames, or refused one before: the connection
    /// is a slow consumer, and nothing more is queued before its close.
    Full,
    /// The connection's task is gone (its `Closed` is on the way to the core).
    Gone,
    /// An ephemeral frame was dropped: the queue is half full (its reader is behind).
    Shed,
}

/// What the connection's task takes out.
#[derive(Debug)]
pub(crate) enum Taken {
    /// Every frame queued so far, in order.
    Frames(VecDeque<Utf8Bytes>),
    /// Close: the core's order, or `None` when the core dropped the outbox without one
    /// (the server stopped).
    Close(Option<CloseOrder>),
}

#[derive(Debug, Default)]
struct State {
    frames: VecDeque<Utf8Bytes>,
    /// Live frames among `frames` (replayed ones do not count against the limit).
    live: usize,
    /// A frame was refused: every later one is refused too.
    overflowed: bool,
    close: Option<CloseOrder>,
    /// The core dropped its end.
    core_gone: bool,
    /// The connection's task dropped its end.
    conn_gone: bool,
}

#[derive(Debug)]
struct Shared {
    state: Mutex<State>,
    limit: usize,
    /// Wakes the connection's task: frames after an empty queue, a close, the core gone.
    ready: Notify,
}

impl Shared {
    fn lock(&self) -> MutexGuard<'_, State> {
        // No code panics while holding the lock; a poisoned lock still holds whole data.
        self.state
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

/// A new outbox holding at most `limit` frames: the core's end and the connection's end.
pub(crate) fn outbox(limit: usize) -> (Outbox, Inbox) {
    let shared = Arc::new(Shared {
        state: Mutex::new(State::default()),
        limit: limit.max(1),
        ready: Notify::new(),
    });
    (
        Outbox {
            shared: shared.clone(),
        },
        Inbox { shared },
    )
}

/// The core's end.
#[derive(Debug)]
pub(crate) struct Outbox {
    shared: Arc<Shared>,
}

impl Outbox {
    /// Queues the text frame `frame`, unless the connection is gone or the outbox is full
    /// (a live frame over the limit, or any frame after one was refused).
    #[cfg(test)]
    pub(crate) fn push(&self, frame: Utf8Bytes, class: FrameClass) -> Result<(), PushError> {
        self.push_counted(frame, class).map(|_| ())
    }

    /// [`Outbox::push`], returning how many frames the queue holds now (for metrics).
    pub(crate) fn push_counted(
        &self,
        frame: Utf8Bytes,
        class: FrameClass,
    ) -> Result<usize, PushError> {
        let (was_empty, depth) = {
            let mut state = self.shared.lock();
            if state.conn_gone {
                return Err(PushError::Gone);
            }
            if state.overflowed {
                return Err(PushError::Full);
            }
            match class {
                FrameClass::Live => {
                    if state.live >= self.shared.limit {
                        state.overflowed = true;
                        return Err(PushError::Full);
                    }
                    state.live += 1;
                }
                FrameClass::Ephemeral if state.frames.len() >= self.shared.limit / 2 => {
                    return Err(PushError::Shed);
                }
                FrameClass::Ephemeral | FrameClass::Replay => {}
            }
            state.frames.push_back(frame);
            (state.frames.len() == 1, state.frames.len())
        };
        // A queue that was not empty already has a wake-up on the way: the task takes
        // the whole queue each time it wakes.
        if was_empty {
            self.shared.ready.notify_one();
        }
        Ok(depth)
    }

    /// Orders the connection closed with `code` and `reason`, after what is queued.
    pub(crate) fn close(self, code: u16, reason: String) {
        self.shared.lock().close = Some((code, reason));
        // Dropping `self` wakes the task.
    }
}

impl Drop for Outbox {
    fn drop(&mut self) {
        self.shared.lock().core_gone = true;
        self.shared.ready.notify_one();
    }
}

/// The connection task's end.
#[derive(Debug)]
pub(crate) struct Inbox {
    shared: Arc<Shared>,
}

impl Inbox {
    /// Waits until there are frames (all of them are taken) or a close.
    pub(crate) async fn take(&mut self) -> Taken {
        loop {
            if let Some(taken) = self.try_take() {
                return taken;
            }
            self.shared.ready.notified().await;
        }
    }

    /// What [`Inbox::take`] would return now, if anything. Queued frames come before a
    /// close.
    pub(crate) fn try_take(&mut self) -> Option<Taken> {
        let mut state = self.shared.lock();
        if !state.frames.is_empty() {
            state.live = 0;
            return Some(Taken::Frames(std::mem::take(&mut state.frames)));
        }
        if let Some(order) = state.close.take() {
            return Some(Taken::Close(Some(order)));
        }
        state.core_gone.then_some(Taken::Close(None))
    }

    /// Waits for a close (the core's order, or `None` when the core is gone), leaving
    /// queued frames where they are.
    pub(crate) async fn closed(&mut self) -> Option<CloseOrder> {
        loop {
            {
                let mut state = self.shared.lock();
                if let Some(order) = state.close.take() {
                    return Some(order);
                }
                if state.core_gone {
                    return None;
                }
            }
            self.shared.ready.notified().await;
        }
    }
}

impl Drop for Inbox {
    fn drop(&mut self) {
        let mut state = self.shared.lock();
        state.conn_gone = true;
        state.frames = VecDeque::new();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn text(s: &str) -> Utf8Bytes {
        Utf8Bytes::from(s)
    }

    /// Pushes a live frame.
    fn push(outbox: &Outbox, s: &str) -> Result<(), PushError> {
        outbox.push(text(s), FrameClass::Live)
    }

    fn frames(taken: Option<Taken>) -> Vec<String> {
        match taken {
            Some(Taken::Frames(f)) => f.into_iter().map(|t| t.to_string()).collect(),
            other => panic!("expected frames, got {other:?}"),
        }
    }

    #[test]
    fn frames_come_out_in_order_all_at_once_and_then_the_queue_holds_no_buffer() {
        let (outbox, mut inbox) = outbox(8);
        for s in ["a", "b", "c"] {
            assert_eq!(push(&outbox, s), Ok(()));
        }
        assert_eq!(frames(inbox.try_take()), ["a", "b", "c"]);
        assert!(inbox.try_take().is_none());
        assert_eq!(inbox.shared.lock().frames.capacity(), 0);
    }

    #[test]
    fn a_full_outbox_refuses_and_a_gone_connection_refuses() {
        let (outbox, inbox) = outbox(2);
        assert_eq!(push(&outbox, "1"), Ok(()));
        assert_eq!(push(&outbox, "2"), Ok(()));
        assert_eq!(push(&outbox, "3"), Err(PushError::Full));
        drop(inbox);
        assert_eq!(push(&outbox, "4"), Err(PushError::Gone));
    }

    #[test]
    fn once_a_frame_is_refused_nothing_more_is_queued_even_after_the_queue_drains() {
        let (outbox, mut inbox) = outbox(2);
        assert_eq!(push(&outbox, "1"), Ok(()));
        assert_eq!(push(&outbox, "2"), Ok(()));
        assert_eq!(push(&outbox, "3"), Err(PushError::Full));
        // The connection's task empties the queue meanwhile (another thread, in the server).
        assert_eq!(frames(inbox.try_take()), ["1", "2"]);
        // Frame 4 would reach the client right after 2: a hole. It is refused, and so is
        // a replayed frame.
        assert_eq!(push(&outbox, "4"), Err(PushError::Full));
        assert_eq!(
            outbox.push(text("replayed"), FrameClass::Replay),
            Err(PushError::Full)
        );
        assert!(inbox.try_take().is_none());
        outbox.close(1013, "slow".into());
        assert!(matches!(
            inbox.try_take(),
            Some(Taken::Close(Some((1013, _))))
        ));
    }

    #[test]
    fn a_replay_is_queued_past_the_limit_and_live_frames_still_count() {
        let (outbox, mut inbox) = outbox(2);
        for i in 0..10 {
            let frame = text(&format!("r{i}"));
            assert_eq!(outbox.push(frame, FrameClass::Replay), Ok(()));
        }
        assert_eq!(push(&outbox, "live1"), Ok(()));
        assert_eq!(push(&outbox, "live2"), Ok(()));
        assert_eq!(push(&outbox, "live3"), Err(PushError::Full));
        let taken = frames(inbox.try_take());
        assert_eq!(taken.len(), 12);
        assert_eq!(taken[..2], ["r0", "r1"]);
        assert_eq!(taken[10..], ["live1", "live2"]);
    }

    #[test]
    fn the_limit_counts_live_frames_queued_since_the_last_take() {
        let (outbox, mut inbox) = outbox(2);
        assert_eq!(push(&outbox, "1"), Ok(()));
        assert_eq!(push(&outbox, "2"), Ok(()));
        assert_eq!(frames(inbox.try_take()), ["1", "2"]);
        assert_eq!(push(&outbox, "3"), Ok(()));
        assert_eq!(push(&outbox, "4"), Ok(()));
        assert_eq!(frames(inbox.try_take()), ["3", "4"]);
    }

    #[test]
    fn queued_frames_go_out_before_the_close_order() {
        let (outbox, mut inbox) = outbox(8);
        assert_eq!(push(&outbox, "last words"), Ok(()));
        outbox.close(4000, "bye".into());
        assert_eq!(frames(inbox.try_take()), ["last words"]);
        assert!(matches!(
            inbox.try_take(),
            Some(Taken::Close(Some((4000, ref why)))) if why == "bye"
        ));
    }

    #[test]
    fn a_dropped_core_end_means_close_without_an_order() {
        let (outbox, mut inbox) = outbox(8);
        drop(outbox);
        assert!(matches!(inbox.try_take(), Some(Taken::Close(None))));
    }

    #[tokio::test]
    async fn the_task_wakes_for_frames_pushed_while_it_waits() {
        let (outbox, mut inbox) = outbox(8);
        let waiter = tokio::spawn(async move {
            let taken = inbox.take().await;
            (taken, inbox)
        });
        assert_eq!(push(&outbox, "x"), Ok(()));
        let (taken, mut inbox) = tokio::time::timeout(std::time::Duration::from_secs(5), waiter)
            .await
            .expect("woken within 5 s")
            .expect("the task ran");
        assert_eq!(frames(Some(taken)), ["x"]);
        outbox.close(1000, String::new());
        let order = tokio::time::timeout(std::time::Duration::from_secs(5), inbox.closed()).await;
        assert_eq!(
            order.expect("woken within 5 s"),
            Some((1000, String::new()))
        );
    }
}
