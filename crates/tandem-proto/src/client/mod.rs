//! The client side: one [`Session`] per logical connection, surviving reconnects.

mod config;
mod events;
mod queue;
mod session;

pub use config::ClientConfig;
pub use events::{ClientEvent, CloseReason, ConnectionState, OpError, TokenError, Transmit};
pub use queue::QueueLimits;
pub use session::Session;
