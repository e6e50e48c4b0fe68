//! TLS for `wss://` in the native client: rustls (ring provider) trusting the system's root
//! certificates (read once per process) plus those given with
//! [`crate::Config::extra_root_pem`]. A server certificate the verifier refuses closes the
//! session for good as [`tandem_proto::CloseReason::Tls`] (close code 1015): no retry can fix
//! it. Any other failure to connect, a TLS handshake cut short included, is retried.
//!
//! In the browser there is nothing here: the browser does TLS with its own trust store.

use std::sync::{Arc, OnceLock};

use rustls::pki_types::CertificateDer;
use rustls::pki_types::pem::PemObject;
use rustls::{ClientConfig, RootCertStore};
use tandem_proto::close;
use tokio_tungstenite::Connector;
use tokio_tungstenite::tungstenite::Error as WsError;

use crate::error::Error;

/// Why a connection attempt failed: `code` is what the session is told (`None`: a network
/// failure, retried; [`close::TLS_HANDSHAKE`]: a refused certificate, not retried).
#[derive(Debug)]
pub(crate) struct ConnectFailure {
    pub code: Option<u16>,
    pub reason: String,
}

impl From<String> for ConnectFailure {
    fn from(reason: String) -> Self {
        ConnectFailure { code: None, reason }
    }
}

/// Reads every certificate of `pem`; fails when there is none or one does not parse.
pub(crate) fn parse_roots(pem: &[u8]) -> Result<Vec<CertificateDer<'static>>, Error> {
    let certs = CertificateDer::pem_slice_iter(pem)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| Error::Tls(format!("the extra root PEM: {e}")))?;
    if certs.is_empty() {
        return Err(Error::Tls(
            "the extra root PEM holds no certificate (expected a `-----BEGIN CERTIFICATE-----` \
             block)"
                .into(),
        ));
    }
    let mut store = RootCertStore::empty();
    for (n, cert) in certs.iter().enumerate() {
        store.add(cert.clone()).map_err(|e| {
            Error::Tls(format!(
                "certificate {} of the extra root PEM is not a valid certificate: {e}",
                n + 1
            ))
        })?;
    }
    Ok(certs)
}

/// The system's root certificates, read once per process (an empty list when the system
/// has none: then only the extra roots are trusted).
fn system_roots() -> &'static [CertificateDer<'static>] {
    static ROOTS: OnceLock<Vec<CertificateDer<'static>>> = OnceLock::new();
    ROOTS.get_or_init(|| rustls_native_certs::load_native_certs().certs)
}

/// One client's TLS settings: its extra roots, and the rustls configuration built from them
/// on the first `wss://` connection and shared by every later one.
pub(crate) struct Tls {
    extra_roots: Vec<CertificateDer<'static>>,
    config: Option<Arc<ClientConfig>>,
}

impl Tls {
    pub fn new(extra_roots: &[CertificateDer<'static>]) -> Self {
        Tls {
            extra_roots: extra_roots.to_vec(),
            config: None,
        }
    }

    /// The connector for `url`: `None` for `ws://`.
    pub fn connector(&mut self, url: &str) -> Result<Option<Connector>, ConnectFailure> {
        if !url.starts_with("wss://") {
            return Ok(None);
        }
        if let Some(config) = &self.config {
            return Ok(Some(Connector::Rustls(config.clone())));
        }
        let mut roots = RootCertStore::empty();
        // Roots the verifier cannot use are skipped, as browsers do.
        roots.add_parsable_certificates(system_roots().iter().cloned());
        roots.add_parsable_certificates(self.extra_roots.iter().cloned());
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let config = ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .map_err(|e| ConnectFailure {
                code: Some(close::TLS_HANDSHAKE),
                reason: e.to_string(),
            })?
            .with_root_certificates(roots)
            .with_no_client_auth();
        let config = Arc::new(config);
        self.config = Some(config.clone());
        Ok(Some(Connector::Rustls(config)))
    }
}

/// What the session is told about a failed connect: a certificate the verifier refused is
/// [`close::TLS_HANDSHAKE`] with the verifier's reason; anything else a network failure.
pub(crate) fn failure(e: &WsError) -> ConnectFailure {
    let refused = match e {
        WsError::Io(io) => io
            .get_ref()
            .and_then(|inner| inner.downcast_ref::<rustls::Error>())
            .filter(|e| is_refused_certificate(e)),
        _ => None,
    };
    match refused {
        Some(e) => {
            let hint = match e {
                rustls::Error::InvalidCertificate(rustls::CertificateError::UnknownIssuer) => {
                    " (not signed by a trusted root: trust its CA with Config::extra_root_pem)"
                }
                _ => "",
            };
            ConnectFailure {
                code: Some(close::TLS_HANDSHAKE),
                reason: format!("{e}{hint}"),
            }
        }
        None => ConnectFailure::from(e.to_string()),
    }
}

/// Whether the verifier refused the server's certificate (as opposed to the handshake
/// failing on the way).
fn is_refused_certificate(e: &rustls::Error) -> bool {
    matches!(
        e,
        rustls::Error::InvalidCertificate(_) | rustls::Error::NoCertificatesPresented
    )
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    #[test]
    fn extra_roots_must_be_certificates() {
        let key = rcgen::KeyPair::generate().unwrap();
        let params = rcgen::CertificateParams::new(vec!["localhost".to_owned()]).unwrap();
        let cert = params.self_signed(&key).unwrap().pem();
        assert_eq!(parse_roots(cert.as_bytes()).unwrap().len(), 1);
        let two = format!("{cert}{cert}");
        assert_eq!(parse_roots(two.as_bytes()).unwrap().len(), 2);

        let no_cert = parse_roots(key.serialize_pem().as_bytes()).unwrap_err();
        assert!(no_cert.to_string().contains("no certificate"), "{no_cert}");
        let junk = "-----BEGIN CERTIFICATE-----\nAAECAwQFBgcICQ==\n-----END CERTIFICATE-----\n";
        let bad = parse_roots(junk.as_bytes()).unwrap_err();
        assert!(bad.to_string().contains("not a valid certificate"), "{bad}");
    }

    #[test]
    fn a_refused_certificate_is_1015_and_a_reset_is_retried() {
        let refused = rustls::Error::InvalidCertificate(rustls::CertificateError::UnknownIssuer);
        let e = WsError::Io(std::io::Error::new(
            std::io::ErrorKind::InvalidData,
            refused,
        ));
        let f = failure(&e);
        assert_eq!(f.code, Some(close::TLS_HANDSHAKE));
        assert!(f.reason.contains("extra_root_pem"), "{}", f.reason);

        let reset = WsError::Io(std::io::ErrorKind::ConnectionReset.into());
        assert_eq!(failure(&reset).code, None);
        let alert = rustls::Error::AlertReceived(rustls::AlertDescription::InternalError);
        let e = WsError::Io(std::io::Error::new(std::io::ErrorKind::InvalidData, alert));
        assert_eq!(failure(&e).code, None);
    }

    #[test]
    fn ws_urls_get_no_connector_and_wss_urls_share_one() {
        let mut tls = Tls::new(&[]);
        assert!(tls.connector("ws://127.0.0.1:1").unwrap().is_none());
        let Some(Connector::Rustls(a)) = tls.connector("wss://localhost:1").unwrap() else {
            panic!("a rustls connector");
        };
        let Some(Connector::Rustls(b)) = tls.connector("wss://localhost:2").unwrap() else {
            panic!("a rustls connector");
        };
        assert!(Arc::ptr_eq(&a, &b));
    }
}
