//! Errors of the client API.

use tandem_proto::{CloseReason, OpError};

/// Why a client operation failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The operation failed: queue full, too large, not joined, timeout, connection lost,
    /// or the server's typed error.
    #[error(transparent)]
    Op(OpError),
    /// The client is closed for good, and why (unauthorized, protocol mismatch, closed by
    /// the application or the server).
    #[error("client closed: {0}")]
    Closed(CloseReason),
    /// The URL is not a `ws://` or `wss://` URL.
    #[error("invalid url `{url}`: {reason}")]
    Url {
        /// The URL given.
        url: String,
        /// What is wrong with it.
        reason: String,
    },
    /// A TLS setting is unusable: an extra root certificate that is none
    /// ([`crate::Config::extra_root_pem`]).
    #[error("TLS: {0}")]
    Tls(String),
    /// The payload could not be encoded, or the answer decoded, as the application's type.
    #[error("payload: {0}")]
    Payload(String),
    /// The client's task is gone (its runtime shut down).
    #[error("the client task has stopped")]
    Stopped,
}

impl From<OpError> for Error {
    fn from(e: OpError) -> Self {
        match e {
            OpError::Closed(reason) => Error::Closed(reason),
            other => Error::Op(other),
        }
    }
}
