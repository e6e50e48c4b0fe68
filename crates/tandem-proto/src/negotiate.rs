//! Negotiation at two levels: the wire protocol as the WebSocket subprotocol, and the
//! application's own schema (name + version) in `hello` / `welcome`.

use crate::frame::{AppOffer, AppSelected};

/// Wire version 1, JSON text frames.
pub const PROTOCOL_V1_JSON: &str = "tandem.v1.json";

/// The bare marker a client offers last. A server with no common version selects it so the
/// handshake completes and it can close with [`crate::close::PROTOCOL_MISMATCH`] and a
/// reason a browser can read (browsers hide failed-handshake responses from scripts).
pub const PROTOCOL_MARKER: &str = "tandem";

/// The wire protocols this build speaks, most preferred first.
pub const SUPPORTED_PROTOCOLS: &[&str] = &[PROTOCOL_V1_JSON];

/// The subprotocol list a client offers: every supported protocol, then the marker.
pub fn client_offer() -> Vec<String> {
    SUPPORTED_PROTOCOLS
        .iter()
        .chain(core::iter::once(&PROTOCOL_MARKER))
        .map(|s| (*s).to_owned())
        .collect()
}

/// Why negotiation failed. Both sides report it; neither hangs.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum NegotiationError {
    /// No offered subprotocol is one this side speaks.
    #[error("no common wire protocol: offered [{}], supported [{}]", offered.join(", "), supported.join(", "))]
    NoCommonProtocol {
        /// What the client offered.
        offered: Vec<String>,
        /// What the server speaks.
        supported: Vec<String>,
    },
    /// The client's application schema has another name than the server's.
    #[error("application schema mismatch: client speaks {client:?}, server speaks {server:?}")]
    AppNameMismatch {
        /// The client's schema name.
        client: String,
        /// The server's schema name.
        server: String,
    },
    /// Same schema, but no version in common.
    #[error(
        "no common version of application schema {name:?}: client offers {offered:?}, server supports {supported:?}"
    )]
    NoCommonAppVersion {
        /// The schema's name.
        name: String,
        /// The client's versions.
        offered: Vec<u32>,
        /// The server's versions.
        supported: Vec<u32>,
    },
}

/// What a server answers to a client's subprotocol offer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ProtocolSelection {
    /// Speak this protocol.
    Speak(&'static str),
    /// No common version, but the client offered [`PROTOCOL_MARKER`]: complete the handshake
    /// with the marker, then close with the error as the reason.
    Explain(NegotiationError),
    /// No common version and no marker: refuse the handshake (HTTP 400) with the error.
    Refuse(NegotiationError),
}

/// Selects the first protocol in the client's preference order that `supported` contains.
pub fn select_protocol<S: AsRef<str>>(
    offered: &[S],
    supported: &[&'static str],
) -> ProtocolSelection {
    for o in offered {
        if let Some(s) = supported.iter().find(|s| **s == o.as_ref()) {
            return ProtocolSelection::Speak(s);
        }
    }
    let err = NegotiationError::NoCommonProtocol {
        offered: offered.iter().map(|s| s.as_ref().to_owned()).collect(),
        supported: supported.iter().map(|s| (*s).to_owned()).collect(),
    };
    if offered.iter().any(|o| o.as_ref() == PROTOCOL_MARKER) {
        ProtocolSelection::Explain(err)
    } else {
        ProtocolSelection::Refuse(err)
    }
}

/// The application schema a server speaks: a name and the versions it supports.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AppSchema {
    /// The schema's name.
    pub name: String,
    /// Supported versions.
    pub versions: Vec<u32>,
}

impl AppSchema {
    /// A schema with one name and the given versions.
    pub fn new(name: impl Into<String>, versions: impl Into<Vec<u32>>) -> Self {
        AppSchema {
            name: name.into(),
            versions: versions.into(),
        }
    }

    /// What a client speaking this schema offers in `hello`.
    pub fn offer(&self) -> AppOffer {
        AppOffer {
            name: self.name.clone(),
            versions: self.versions.clone(),
        }
    }

    /// Picks the first version in the client's preference order that this schema supports.
    pub fn select(&self, offer: &AppOffer) -> Result<AppSelected, NegotiationError> {
        if offer.name != self.name {
            return Err(NegotiationError::AppNameMismatch {
                client: offer.name.clone(),
                server: self.name.clone(),
            });
        }
        offer
            .versions
            .iter()
            .find(|v| self.versions.contains(v))
            .map(|v| AppSelected {
                name: self.name.clone(),
                version: *v,
            })
            .ok_or_else(|| NegotiationError::NoCommonAppVersion {
                name: self.name.clone(),
                offered: offer.versions.clone(),
                supported: self.versions.clone(),
            })
    }
}

impl Default for AppSchema {
    /// The schema `"default"`, version 1.
    fn default() -> Self {
        AppSchema::new("default", [1])
    }
}
