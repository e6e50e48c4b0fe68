//! Errors of the server API, and why a token was refused.

use tandem_proto::ErrorBody;

use crate::broker::BrokerError;

/// Why a [`crate::Handle`] operation failed.
#[derive(Debug, Clone, thiserror::Error)]
#[non_exhaustive]
pub enum ServerError {
    /// The server has stopped.
    #[error("the server has stopped")]
    Stopped,
    /// The payload could not be encoded as JSON.
    #[error("payload: {0}")]
    Payload(String),
    /// The broker refused the broadcast.
    #[error(transparent)]
    Broker(BrokerError),
    /// The client answered with an error, did not answer in time (`timeout`) or went away
    /// (`unavailable`).
    #[error("client answered {}: {}", .0.code, .0.message)]
    Client(ErrorBody),
}

/// Why a hello's token was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum AuthError {
    /// The hello carried no token but one is required.
    #[error("a token is required")]
    Missing,
    /// The token is not valid (bad signature, malformed, unknown user...).
    #[error("invalid token: {0}")]
    Invalid(String),
    /// The token was valid but has expired: the client should fetch a fresh one.
    #[error("token expired")]
    Expired,
    /// The application's backend refused the connection (its connect hook answered with
    /// an error), saying why.
    #[error("{0}")]
    Refused(String),
    /// The application's backend could not be asked (down, too slow, an answer that is
    /// not one): the connection is refused with `unavailable`.
    #[error("{0}")]
    Unavailable(String),
}
