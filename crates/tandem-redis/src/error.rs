//! Errors of setting the broker up.

/// Why a [`crate::RedisBroker`] could not be made.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum RedisBrokerError {
    /// The URL is not a Redis URL (`redis://host:port[/db]`).
    #[error("bad redis URL {url:?}: {detail}")]
    BadUrl {
        /// The URL given.
        url: String,
        /// What is wrong with it.
        detail: String,
    },
}
