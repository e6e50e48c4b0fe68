//! TLS for the server's port: `wss://` upgrades, `/healthz` and static files over `https://`.
//!
//! A [`TlsConfig`] is a rustls [`ServerConfig`](rustls::ServerConfig): give one of your own
//! (certificate resolvers, client authentication, ...) or load one from PEM with
//! [`TlsConfig::from_pem_files`] or [`TlsConfig::from_pem`], which check at once that there
//! is a certificate, that the key parses and that it belongs to the certificate. The
//! accept loop runs each connection's TLS handshake within
//! [`crate::Limits::http_head_timeout`], inside its handshake slot
//! ([`crate::Limits::max_handshakes`]); the HTTP head then has the same time again.

use std::fmt;
use std::io;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use core::time::Duration;
use rustls::pki_types::pem::{self, PemObject};
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use rustls::sign::CertifiedKey;
use rustls::{Error as RustlsError, InconsistentKeys};
use tokio::net::TcpStream;
use tokio_rustls::TlsAcceptor;
use tokio_rustls::server::TlsStream;

/// The TLS settings a server runs with: a rustls server configuration, shared by every
/// connection. Build one from PEM ([`TlsConfig::from_pem_files`], [`TlsConfig::from_pem`])
/// or convert your own `rustls::ServerConfig` (`.into()`); the server speaks HTTP/1.1, so a
/// configuration of your own should offer no ALPN protocol or `http/1.1`.
#[derive(Clone)]
pub struct TlsConfig {
    config: Arc<rustls::ServerConfig>,
}

impl fmt::Debug for TlsConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TlsConfig")
            .field("alpn", &self.config.alpn_protocols)
            .finish_non_exhaustive()
    }
}

impl From<rustls::ServerConfig> for TlsConfig {
    fn from(config: rustls::ServerConfig) -> Self {
        TlsConfig {
            config: Arc::new(config),
        }
    }
}

impl From<Arc<rustls::ServerConfig>> for TlsConfig {
    fn from(config: Arc<rustls::ServerConfig>) -> Self {
        TlsConfig { config }
    }
}

/// Why a certificate or key could not be loaded. Each names the file (or "the certificate
/// PEM" / "the key PEM" when loaded from bytes) and what is wrong with it.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum TlsError {
    /// The file could not be read (missing, unreadable).
    #[error("cannot read {}: {source}", path.display())]
    Read {
        /// The file.
        path: PathBuf,
        /// Why.
        source: io::Error,
    },
    /// No `-----BEGIN CERTIFICATE-----` block.
    #[error("{what}: no certificate found (expected a PEM `-----BEGIN CERTIFICATE-----` block)")]
    NoCertificate {
        /// The file, or "the certificate PEM".
        what: String,
    },
    /// No private key block.
    #[error(
        "{what}: no private key found (expected a PEM `-----BEGIN PRIVATE KEY-----`, \
         `RSA PRIVATE KEY` or `EC PRIVATE KEY` block)"
    )]
    NoKey {
        /// The file, or "the key PEM".
        what: String,
    },
    /// A PEM block that does not decode (bad base64, a missing end line).
    #[error("{what}: malformed PEM: {reason}")]
    Pem {
        /// The file, or "the certificate PEM" / "the key PEM".
        what: String,
        /// What the PEM reader said.
        reason: String,
    },
    /// The certificate does not parse as an X.509 certificate.
    #[error("{what}: not a valid certificate: {source}")]
    BadCertificate {
        /// The file, or "the certificate PEM".
        what: String,
        /// What rustls said.
        source: RustlsError,
    },
    /// The private key does not parse, or is of a kind the crypto provider cannot sign with.
    #[error("{what}: unusable private key: {source}")]
    BadKey {
        /// The file, or "the key PEM".
        what: String,
        /// What rustls said.
        source: RustlsError,
    },
    /// The private key is not the certificate's.
    #[error("the private key in {key} does not belong to the certificate in {cert}")]
    KeyMismatch {
        /// The certificate's file, or "the certificate PEM".
        cert: String,
        /// The key's file, or "the key PEM".
        key: String,
    },
    /// rustls refused the configuration.
    #[error("TLS configuration: {0}")]
    Config(RustlsError),
}

impl TlsConfig {
    /// Loads a certificate chain (the server's certificate first, then intermediates) and
    /// its private key (PKCS#8, PKCS#1 or SEC1) from PEM files. Fails, naming the file, when
    /// one cannot be read, holds no certificate or key, does not parse, or when the key is
    /// not the certificate's.
    pub fn from_pem_files(
        cert: impl AsRef<Path>,
        key: impl AsRef<Path>,
    ) -> Result<TlsConfig, TlsError> {
        let read = |path: &Path| {
            std::fs::read(path).map_err(|source| TlsError::Read {
                path: path.to_owned(),
                source,
            })
        };
        let (cert, key) = (cert.as_ref(), key.as_ref());
        let (cert_pem, key_pem) = (read(cert)?, read(key)?);
        let names = Names {
            cert: cert.display().to_string(),
            key: key.display().to_string(),
        };
        load(&cert_pem, &key_pem, &names)
    }

    /// Like [`TlsConfig::from_pem_files`], from the PEM text itself.
    pub fn from_pem(cert_pem: &[u8], key_pem: &[u8]) -> Result<TlsConfig, TlsError> {
        let names = Names {
            cert: "the certificate PEM".to_owned(),
            key: "the key PEM".to_owned(),
        };
        load(cert_pem, key_pem, &names)
    }

    /// The rustls configuration.
    pub fn rustls(&self) -> &Arc<rustls::ServerConfig> {
        &self.config
    }

    pub(crate) fn acceptor(&self) -> TlsAcceptor {
        TlsAcceptor::from(self.config.clone())
    }
}

/// How errors name the certificate and the key.
struct Names {
    cert: String,
    key: String,
}

fn load(cert_pem: &[u8], key_pem: &[u8], names: &Names) -> Result<TlsConfig, TlsError> {
    let chain = CertificateDer::pem_slice_iter(cert_pem)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| pem_error(&names.cert, &e))?;
    if chain.is_empty() {
        return Err(TlsError::NoCertificate {
            what: names.cert.clone(),
        });
    }
    let key = PrivateKeyDer::from_pem_slice(key_pem).map_err(|e| match e {
        pem::Error::NoItemsFound => TlsError::NoKey {
            what: names.key.clone(),
        },
        other => pem_error(&names.key, &other),
    })?;
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    // The same checks rustls makes in `with_single_cert`, one by one, to say which file is
    // at fault.
    let signing_key = provider
        .key_provider
        .load_private_key(key.clone_key())
        .map_err(|source| TlsError::BadKey {
            what: names.key.clone(),
            source,
        })?;
    match CertifiedKey::new(chain.clone(), signing_key).keys_match() {
        Ok(()) | Err(RustlsError::InconsistentKeys(InconsistentKeys::Unknown)) => {}
        Err(RustlsError::InconsistentKeys(_)) => {
            return Err(TlsError::KeyMismatch {
                cert: names.cert.clone(),
                key: names.key.clone(),
            });
        }
        Err(source) => {
            return Err(TlsError::BadCertificate {
                what: names.cert.clone(),
                source,
            });
        }
    }
    let mut config = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(TlsError::Config)?
        .with_no_client_auth()
        .with_single_cert(chain, key)
        .map_err(TlsError::Config)?;
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(config.into())
}

fn pem_error(what: &str, e: &pem::Error) -> TlsError {
    TlsError::Pem {
        what: what.to_owned(),
        reason: e.to_string(),
    }
}

/// The TLS handshake of an accepted connection, within `limit`; `None` (logged) when it
/// fails or takes longer.
///
/// The session comes boxed: an open connection's task then keeps the size it has over
/// plain TCP (`an_open_connections_task_stays_small`), and the session (1.2 KB of rustls
/// state, plus rustls's 4 KiB read buffer and the keys it points to) is an allocation of
/// its own.
pub(crate) async fn handshake(
    acceptor: &TlsAcceptor,
    stream: TcpStream,
    peer: SocketAddr,
    limit: Duration,
) -> Option<Box<TlsStream<TcpStream>>> {
    // Boxed too: the handshake's state is large and lives only while it runs.
    match Box::pin(tokio::time::timeout(limit, acceptor.accept(stream))).await {
        Ok(Ok(stream)) => Some(Box::new(stream)),
        Ok(Err(e)) => {
            tracing::debug!(%peer, error = %e, "TLS handshake failed");
            None
        }
        Err(_) => {
            tracing::debug!(%peer, "TLS handshake timeout");
            None
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    fn cert_and_key(name: &str) -> (String, String) {
        let key = rcgen::KeyPair::generate().unwrap();
        let params = rcgen::CertificateParams::new(vec![name.to_owned()]).unwrap();
        let cert = params.self_signed(&key).unwrap();
        (cert.pem(), key.serialize_pem())
    }

    #[test]
    fn a_matching_certificate_and_key_load_and_offer_http_1_1() {
        let (cert, key) = cert_and_key("localhost");
        let tls = TlsConfig::from_pem(cert.as_bytes(), key.as_bytes()).unwrap();
        assert_eq!(tls.rustls().alpn_protocols, vec![b"http/1.1".to_vec()]);
    }

    #[test]
    fn each_bad_input_is_named() {
        let (cert, key) = cert_and_key("localhost");
        let (_, other_key) = cert_and_key("localhost");
        let err = |c: &str, k: &str| TlsConfig::from_pem(c.as_bytes(), k.as_bytes()).unwrap_err();

        let e = err(&cert, &other_key);
        assert!(matches!(e, TlsError::KeyMismatch { .. }), "{e:?}");
        assert!(e.to_string().contains("does not belong"), "{e}");

        // The key where the certificate should be: no certificate in it.
        let e = err(&key, &key);
        assert!(matches!(e, TlsError::NoCertificate { .. }), "{e:?}");
        assert!(
            e.to_string()
                .starts_with("the certificate PEM: no certificate"),
            "{e}"
        );

        let e = err("garbage", &key);
        assert!(matches!(e, TlsError::NoCertificate { .. }), "{e:?}");

        let e = err(&cert, &cert);
        assert!(matches!(e, TlsError::NoKey { .. }), "{e:?}");

        // A certificate block whose content is not a certificate.
        let junk = "-----BEGIN CERTIFICATE-----\nAAECAwQFBgcICQ==\n-----END CERTIFICATE-----\n";
        let e = err(junk, &key);
        assert!(matches!(e, TlsError::BadCertificate { .. }), "{e:?}");

        // A block cut short.
        let cut = &cert[..cert.len() / 2];
        let e = err(cut, &key);
        assert!(matches!(e, TlsError::Pem { .. }), "{e:?}");

        let junk_key = "-----BEGIN PRIVATE KEY-----\nAAECAwQFBgcICQ==\n-----END PRIVATE KEY-----\n";
        let e = err(&cert, junk_key);
        assert!(matches!(e, TlsError::BadKey { .. }), "{e:?}");
    }

    #[test]
    fn a_missing_file_is_named() {
        let e =
            TlsConfig::from_pem_files("/nonexistent/cert.pem", "/nonexistent/key.pem").unwrap_err();
        assert!(matches!(e, TlsError::Read { .. }), "{e:?}");
        assert!(e.to_string().contains("/nonexistent/cert.pem"), "{e}");
    }
}

#[cfg(test)]
mod size {
    use super::*;
    use crate::connection::Connected;
    use tokio::sync::mpsc;

    fn size_of_run<S, F, Fut>(_: F) -> usize
    where
        F: Fn(Connected<S>, mpsc::Sender<()>) -> Fut,
    {
        std::mem::size_of::<Fut>()
    }

    /// An open TLS connection's task is no larger than a plain one's (see
    /// `an_open_connections_task_stays_small` for the 920-byte bound): the session, which
    /// [`handshake`] boxes, is its own allocation. Inline, the future was 2,040 bytes.
    #[test]
    fn an_open_tls_connections_task_stays_small() {
        let tcp = size_of_run(Connected::<TcpStream>::run);
        let tls = size_of_run(Connected::<Box<TlsStream<TcpStream>>>::run);
        assert!(tls <= tcp, "over TLS {tls} bytes, over TCP {tcp}");
        assert!(
            tls <= 920,
            "Connected::run's future over TLS is {tls} bytes"
        );
    }
}
