//! What a browser client hands to the application, and when. Events and answers wait here
//! while the client is borrowed (inside a pump), and are handed over once it is not, so an
//! event listener or an answer may call the client again.

use std::cell::RefCell;
use std::rc::Rc;

use tandem_proto::ClientEvent;

use crate::command::{Reply, Sink};
use crate::error::Error;

/// Something waiting to reach the application.
enum Out {
    Event(ClientEvent),
    Answer(Box<dyn FnOnce()>),
}

/// The queue to the application, and its event callback.
pub(crate) struct Handover {
    /// What waits to be handed to the application, oldest first.
    out: Rc<RefCell<Vec<Out>>>,
    /// The application's event callback; let go once the client is closed for good.
    on_event: RefCell<Option<Sink>>,
}

impl Handover {
    /// A handover to `on_event`, with nothing waiting.
    pub fn new(on_event: Sink) -> Self {
        Handover {
            out: Rc::default(),
            on_event: RefCell::new(Some(on_event)),
        }
    }

    /// Where the driver puts the session's events.
    pub fn sink(&self) -> Sink {
        let out = self.out.clone();
        Box::new(move |event| out.borrow_mut().push(Out::Event(event)))
    }

    /// `reply`, called once the client is no longer borrowed.
    pub fn later<T: 'static>(&self, reply: impl FnOnce(Result<T, Error>) + 'static) -> Reply<T> {
        let out = self.out.clone();
        Box::new(move |result| {
            out.borrow_mut()
                .push(Out::Answer(Box::new(move || reply(result))));
        })
    }

    /// Hands what waits to the application, then lets go of the event callback if the
    /// client is `closed` for good. A callback that calls the client again lands here while
    /// an outer call is handing over; that outer loop hands over what it adds.
    pub fn deliver(&self, closed: impl FnOnce() -> bool) {
        let Ok(mut on_event) = self.on_event.try_borrow_mut() else {
            return;
        };
        loop {
            // Taken a batch at a time: what the callbacks add comes after the whole batch, so
            // the order holds, and a `Vec` is the least code in the wasm.
            let batch = std::mem::take(&mut *self.out.borrow_mut());
            if batch.is_empty() {
                break;
            }
            for next in batch {
                match next {
                    Out::Event(event) => {
                        if let Some(f) = on_event.as_mut() {
                            f(event);
                        }
                    }
                    Out::Answer(answer) => answer(),
                }
            }
        }
        if closed() {
            *on_event = None;
        }
    }
}
