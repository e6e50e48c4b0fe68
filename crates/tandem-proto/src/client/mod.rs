//! The client side: one [`Session`] per logical connection, surviving reconnects.

mod queue;
mod session;

pub use queue::QueueLimits;
pub use session::{
    ClientConfig, ClientEvent, CloseReason, ConnectionState, OpError, Session, TokenError, Transmit,
};
