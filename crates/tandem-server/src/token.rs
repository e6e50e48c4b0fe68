//! HMAC-SHA256 signed tokens: what `tandem serve --token-secret` verifies, and how a
//! backend issues them.
//!
//! A token is `<claims>.<signature>`, both base64url without padding: `claims` is the JSON
//! `{"sub": "<user>", "exp": <unix seconds>}` and `signature` is HMAC-SHA256 of the
//! `claims` text under the shared secret.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use hmac::{Hmac, Mac};
use serde::{Deserialize, Serialize};
use sha2::Sha256;

use crate::error::AuthError;

type HmacSha256 = Hmac<Sha256>;

/// What a token says.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Claims {
    /// The user id.
    pub sub: String,
    /// Expiry, in seconds since the Unix epoch.
    pub exp: u64,
}

/// Issues and verifies HMAC-signed tokens under one secret.
#[derive(Clone)]
pub struct HmacTokens {
    secret: Vec<u8>,
}

impl std::fmt::Debug for HmacTokens {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("HmacTokens { secret: <hidden> }")
    }
}

fn unix_now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

impl HmacTokens {
    /// Tokens signed with `secret` (use at least 32 random bytes).
    pub fn new(secret: impl AsRef<[u8]>) -> Self {
        HmacTokens {
            secret: secret.as_ref().to_vec(),
        }
    }

    fn mac(&self) -> HmacSha256 {
        // HMAC takes a key of any length.
        match HmacSha256::new_from_slice(&self.secret) {
            Ok(mac) => mac,
            Err(_) => unreachable!("HMAC accepts keys of any length"),
        }
    }

    /// A token for `user` valid for `ttl` from now.
    pub fn issue(&self, user: &str, ttl: Duration) -> String {
        self.issue_claims(&Claims {
            sub: user.to_owned(),
            exp: unix_now().saturating_add(ttl.as_secs()),
        })
    }

    /// A token carrying exactly `claims` (an `exp` in the past makes an expired token).
    pub fn issue_claims(&self, claims: &Claims) -> String {
        let json = serde_json::to_vec(claims).unwrap_or_default();
        let body = URL_SAFE_NO_PAD.encode(json);
        let mut mac = self.mac();
        mac.update(body.as_bytes());
        let sig = URL_SAFE_NO_PAD.encode(mac.finalize().into_bytes());
        format!("{body}.{sig}")
    }

    /// Checks the signature and expiry of `token` at the current time.
    pub fn verify(&self, token: &str) -> Result<Claims, AuthError> {
        self.verify_at(token, unix_now())
    }

    /// Checks the signature and expiry of `token` at `now` (Unix seconds).
    pub fn verify_at(&self, token: &str, now: u64) -> Result<Claims, AuthError> {
        let invalid = |why: &str| AuthError::Invalid(why.to_owned());
        let (body, sig) = token
            .split_once('.')
            .ok_or_else(|| invalid("expected <claims>.<signature>"))?;
        let sig = URL_SAFE_NO_PAD
            .decode(sig)
            .map_err(|_| invalid("signature is not base64url"))?;
        let mut mac = self.mac();
        mac.update(body.as_bytes());
        mac.verify_slice(&sig)
            .map_err(|_| invalid("bad signature"))?;
        let json = URL_SAFE_NO_PAD
            .decode(body)
            .map_err(|_| invalid("claims are not base64url"))?;
        let claims: Claims =
            serde_json::from_slice(&json).map_err(|e| invalid(&format!("claims: {e}")))?;
        if claims.exp <= now {
            return Err(AuthError::Expired);
        }
        Ok(claims)
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn issued_tokens_verify_until_they_expire() {
        let t = HmacTokens::new("secret");
        let token = t.issue_claims(&Claims {
            sub: "ada".into(),
            exp: 1000,
        });
        assert_eq!(t.verify_at(&token, 999).unwrap().sub, "ada");
        assert_eq!(t.verify_at(&token, 1000), Err(AuthError::Expired));
    }

    #[test]
    fn tampered_or_foreign_tokens_are_invalid() {
        let t = HmacTokens::new("secret");
        let token = t.issue("ada", Duration::from_secs(60));
        let other = HmacTokens::new("other").issue("ada", Duration::from_secs(60));
        assert!(matches!(t.verify(&other), Err(AuthError::Invalid(_))));
        let (body, sig) = token.split_once('.').unwrap();
        let forged = format!("{}x.{sig}", body);
        assert!(matches!(t.verify(&forged), Err(AuthError::Invalid(_))));
        assert!(matches!(t.verify("nodot"), Err(AuthError::Invalid(_))));
        assert!(matches!(t.verify("a.!!"), Err(AuthError::Invalid(_))));
    }
}
