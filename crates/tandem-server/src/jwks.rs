//! A JWKS served over HTTP (`tandem serve --token-jwks http://…`): fetched at startup, and
//! again when a token names a key the set lacks (key rotation: the issuer publishes the new
//! key beside the old one, then signs with it). Refetches are spaced by
//! [`JWKS_REFETCH_INTERVAL`], so tokens with made-up `kid`s cannot make tandem hammer the
//! key service; callers arriving during a fetch wait for it rather than fetch again.

use core::time::Duration;
use std::time::Instant;

use bytes::Bytes;
use http_body_util::{BodyExt, Empty, Limited};
use hyper::Uri;
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;
use tokio::sync::Mutex;

/// The shortest time between two fetches of a JWKS URL, by default.
pub const JWKS_REFETCH_INTERVAL: Duration = Duration::from_secs(10);

/// How long one fetch may take.
const FETCH_TIMEOUT: Duration = Duration::from_secs(5);

/// The largest JWKS document read: a set of ten RSA-4096 keys is about 8 KB.
const MAX_JWKS_BYTES: usize = 256 * 1024;

/// Where a JWKS comes from, and when it was last fetched.
pub(crate) struct JwksSource {
    url: Uri,
    client: Client<HttpConnector, Empty<Bytes>>,
    last: Mutex<Option<Instant>>,
    pub(crate) interval: Duration,
}

impl JwksSource {
    pub(crate) fn new(url: &str) -> Result<Self, String> {
        let bad = |why: &str| format!("{url}: {why}");
        let uri: Uri = url.parse().map_err(|_| bad("not a URL"))?;
        if uri.scheme_str() != Some("http") || uri.host().is_none() {
            return Err(bad("only http://host[:port]/path URLs are fetched"));
        }
        Ok(JwksSource {
            url: uri,
            client: Client::builder(TokioExecutor::new()).build_http(),
            last: Mutex::new(None),
            interval: JWKS_REFETCH_INTERVAL,
        })
    }

    /// Fetches the set now: the JWKS document.
    pub(crate) async fn fetch(&self) -> Result<Bytes, String> {
        *self.last.lock().await = Some(Instant::now());
        self.get().await
    }

    /// Fetches the set again unless it was fetched within the interval;
    /// `None` when it was, or the fetch failed (the old keys stay).
    pub(crate) async fn refetch(&self) -> Option<Bytes> {
        let mut last = self.last.lock().await;
        if last.is_some_and(|at| at.elapsed() < self.interval) {
            return None;
        }
        *last = Some(Instant::now());
        match self.get().await {
            Ok(json) => Some(json),
            Err(e) => {
                tracing::warn!(url = %self.url, error = %e, "JWKS refetch failed; keeping the old keys");
                None
            }
        }
    }

    async fn get(&self) -> Result<Bytes, String> {
        let bad = |why: String| format!("{}: {why}", self.url);
        let asked = self.client.get(self.url.clone());
        let response = tokio::time::timeout(FETCH_TIMEOUT, asked)
            .await
            .map_err(|_| bad(format!("no answer within {FETCH_TIMEOUT:?}")))?
            .map_err(|e| bad(e.to_string()))?;
        if !response.status().is_success() {
            return Err(bad(format!("HTTP {}", response.status())));
        }
        let body = Limited::new(response.into_body(), MAX_JWKS_BYTES);
        let body = tokio::time::timeout(FETCH_TIMEOUT, body.collect())
            .await
            .map_err(|_| bad(format!("body not read within {FETCH_TIMEOUT:?}")))?
            .map_err(|e| bad(e.to_string()))?
            .to_bytes();
        Ok(body)
    }
}
