//! JSON Web Tokens (RFC 7519): what `tandem serve --token-*` verifies ([`JwtVerifier`]),
//! what `tandem token` mints ([`JwtSigner`]), and what they say ([`Claims`]).
//!
//! Keys: HS256 with a shared secret; RS256/RS384/RS512/PS256/PS384/PS512, ES256/ES384 or
//! EdDSA with a public key (PEM), the algorithm taken from the key unless given; or a JWKS
//! whose keys are picked by the token's `kid`. A token is accepted only in the algorithm of
//! its key: `alg: none`, an HS256 token presented to a public-key server (the key-confusion
//! attack) or an RS384 token for an RS256 key are refused before anything else is read.
//!
//! Checked: the signature, `aud` and `iss` when the verifier names them (the claim is then
//! required), `exp` (required), `nbf` and `iat` (not in the future), each with a leeway for
//! clock skew (default [`DEFAULT_LEEWAY`]). An expired token is [`AuthError::Expired`]
//! (close 4002, the client fetches a fresh one); everything else is
//! [`AuthError::Invalid`] (close 4001).
//!
//! Claims besides those: `sub` is the user; `rooms` grants rooms (see [`RoomGrants`]) and
//! `info` is presence data set by the token's issuer. The protocol core enforces the rights
//! on every operation and shows `info` with the user's member (`Authenticated::admission`);
//! the hooks see the claims too ([`crate::JoinContext::claims`]).

use std::sync::{Arc, RwLock};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use jsonwebtoken::errors::ErrorKind;
use jsonwebtoken::jwk::{AlgorithmParameters, EllipticCurve, JwkSet};
use jsonwebtoken::{Algorithm, AlgorithmFamily, DecodingKey, EncodingKey, Header, Validation};
use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::error::AuthError;
pub use crate::jwks::JWKS_REFETCH_INTERVAL;
use crate::jwks::JwksSource;
use tandem_proto::{Admission, Instant, Rights, RoomGrants};

/// The longest token a verifier reads, in bytes: a JWT with a long `rooms` claim is a few
/// hundred bytes; anything near the frame limit is an attack on the decoder, refused before
/// any base64 or JSON is read.
pub const MAX_TOKEN_BYTES: usize = 8 * 1024;

/// The clock skew a verifier allows by default on `exp`, `nbf` and `iat`.
pub const DEFAULT_LEEWAY: Duration = Duration::from_secs(30);

/// What a verified token says.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Claims {
    /// The user id.
    pub sub: String,
    /// Expiry, in seconds since the Unix epoch (required).
    pub exp: u64,
    /// Not valid before, in seconds since the Unix epoch.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub nbf: Option<u64>,
    /// Issued at, in seconds since the Unix epoch.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub iat: Option<u64>,
    /// The issuer.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub iss: Option<String>,
    /// The audiences (`aud` is one string or a list on the wire).
    #[serde(
        default,
        skip_serializing_if = "Vec::is_empty",
        deserialize_with = "one_or_many",
        serialize_with = "one_or_many_out"
    )]
    pub aud: Vec<String>,
    /// The rooms the token grants; `None` (no claim): every room, every right. Parsed and
    /// kept; not enforced yet (enforcement is next).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rooms: Option<RoomGrants>,
    /// Presence data set by the token's issuer, which the client cannot forge. Parsed and
    /// kept; not yet shown in presence (that is next).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub info: Option<serde_json::Value>,
}

fn one_or_many<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Vec<String>, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum OneOrMany {
        One(String),
        Many(Vec<String>),
    }
    Ok(match OneOrMany::deserialize(deserializer)? {
        OneOrMany::One(one) => vec![one],
        OneOrMany::Many(many) => many,
    })
}

fn one_or_many_out<S: Serializer>(aud: &[String], serializer: S) -> Result<S::Ok, S::Error> {
    match aud {
        [one] => serializer.serialize_str(one),
        many => many.serialize(serializer),
    }
}

impl Claims {
    /// Claims for `user` expiring at `exp` (Unix seconds), with nothing else.
    pub fn new(user: impl Into<String>, exp: u64) -> Self {
        Claims {
            sub: user.into(),
            exp,
            nbf: None,
            iat: None,
            iss: None,
            aud: Vec::new(),
            rooms: None,
            info: None,
        }
    }

    /// Claims for `user` issued now and valid for `ttl`.
    pub fn for_user(user: impl Into<String>, ttl: Duration) -> Self {
        let now = unix_now();
        let mut claims = Claims::new(user, now.saturating_add(ttl.as_secs()));
        claims.iat = Some(now);
        claims
    }

    /// The rights the token grants in `room`: every right without a `rooms` claim.
    pub fn rights(&self, room: &str) -> Rights {
        match &self.rooms {
            None => Rights::ALL,
            Some(grants) => grants.rights(room),
        }
    }
}

/// Why a key could not be used to verify or sign tokens.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum TokenKeyError {
    /// The PEM holds no key of a kind the PEM loader knows (RSA, P-256/P-384, Ed25519).
    #[error("no RSA, EC or Ed25519 {0} key in the PEM (PKCS#8, or PKCS#1 for RSA)")]
    Pem(&'static str),
    /// The algorithm asked for does not go with the key.
    #[error("algorithm {alg:?} does not go with a {family:?} key")]
    Mismatch {
        /// The algorithm asked for.
        alg: Algorithm,
        /// What the key is.
        family: AlgorithmFamily,
    },
    /// The JWKS does not parse, is empty, or has a key that cannot be used.
    #[error("JWKS: {0}")]
    Jwks(String),
    /// Signing failed.
    #[error("signing: {0}")]
    Sign(String),
}

fn family_of(alg: Algorithm) -> AlgorithmFamily {
    match alg {
        Algorithm::HS256 | Algorithm::HS384 | Algorithm::HS512 => AlgorithmFamily::Hmac,
        Algorithm::ES256 | Algorithm::ES384 => AlgorithmFamily::Ec,
        Algorithm::EdDSA => AlgorithmFamily::Ed,
        _ => AlgorithmFamily::Rsa,
    }
}

/// The algorithm a key of `family` is used with unless told otherwise.
fn default_alg(family: AlgorithmFamily) -> Algorithm {
    match family {
        AlgorithmFamily::Hmac => Algorithm::HS256,
        AlgorithmFamily::Rsa => Algorithm::RS256,
        AlgorithmFamily::Ec => Algorithm::ES256,
        AlgorithmFamily::Ed => Algorithm::EdDSA,
    }
}

/// `alg` if given and fit for `family`, else the family's default.
fn pick_alg(family: AlgorithmFamily, alg: Option<Algorithm>) -> Result<Algorithm, TokenKeyError> {
    match alg {
        None => Ok(default_alg(family)),
        Some(alg) if family_of(alg) == family => Ok(alg),
        Some(alg) => Err(TokenKeyError::Mismatch { alg, family }),
    }
}

/// One verification key.
#[derive(Clone)]
struct Key {
    kid: Option<String>,
    alg: Algorithm,
    key: DecodingKey,
}

/// Verifies tokens: see the module docs for what is checked.
#[derive(Clone)]
pub struct JwtVerifier {
    /// The keys; a JWKS fetched from a URL replaces them when it rotates.
    keys: Arc<RwLock<Arc<Vec<Key>>>>,
    /// Where a JWKS comes from, when it is fetched from a URL.
    source: Option<Arc<JwksSource>>,
    /// Whether keys are picked by `kid` (a JWKS) rather than the one key taken whatever
    /// the token's `kid`.
    by_kid: bool,
    audience: Option<String>,
    issuer: Option<String>,
    leeway: Duration,
}

impl std::fmt::Debug for JwtVerifier {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let keys: Vec<String> = self
            .key_set()
            .iter()
            .map(|k| match &k.kid {
                Some(kid) => format!("{:?} (kid {kid})", k.alg),
                None => format!("{:?}", k.alg),
            })
            .collect();
        f.debug_struct("JwtVerifier")
            .field("keys", &keys)
            .field("audience", &self.audience)
            .field("issuer", &self.issuer)
            .field("leeway", &self.leeway)
            .finish_non_exhaustive()
    }
}

fn unix_now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

impl JwtVerifier {
    fn of(keys: Vec<Key>, by_kid: bool) -> Self {
        JwtVerifier {
            keys: Arc::new(RwLock::new(Arc::new(keys))),
            source: None,
            by_kid,
            audience: None,
            issuer: None,
            leeway: DEFAULT_LEEWAY,
        }
    }

    /// HS256 tokens signed with `secret` (use at least 32 random bytes).
    pub fn hs256(secret: impl AsRef<[u8]>) -> Self {
        let key = Key {
            kid: None,
            alg: Algorithm::HS256,
            key: DecodingKey::from_secret(secret.as_ref()),
        };
        JwtVerifier::of(vec![key], false)
    }

    /// Tokens signed by the private half of this public key (PEM: `PUBLIC KEY`, or
    /// `RSA PUBLIC KEY`). The algorithm is `alg`, or by default the key's: RS256 for RSA,
    /// ES256 for EC (give ES384 for a P-384 key), EdDSA for Ed25519.
    pub fn from_public_key_pem(pem: &[u8], alg: Option<Algorithm>) -> Result<Self, TokenKeyError> {
        let key = DecodingKey::from_rsa_pem(pem)
            .or_else(|_| DecodingKey::from_ec_pem(pem))
            .or_else(|_| DecodingKey::from_ed_pem(pem))
            .map_err(|_| TokenKeyError::Pem("public"))?;
        let alg = pick_alg(key.family(), alg)?;
        Ok(JwtVerifier::of(
            vec![Key {
                kid: None,
                alg,
                key,
            }],
            false,
        ))
    }

    /// Tokens signed by any key of this JWKS (`{"keys": [...]}`), chosen by the token's
    /// `kid` (a token without `kid` is accepted only when the set has one key). Each key's
    /// algorithm is its `alg`, or by default its type's (RS256, ES256 or ES384 by curve,
    /// EdDSA, HS256 for `oct`). Rotation: publish the new key beside the old one.
    pub fn from_jwks(json: &[u8]) -> Result<Self, TokenKeyError> {
        Ok(JwtVerifier::of(jwks_keys(json)?, true))
    }

    /// Tokens signed by any key of the JWKS served at `url` (plain `http://`, meant for a
    /// key service on loopback or a private network), fetched now. Keys rotate: a token
    /// naming a `kid` the set lacks makes the verifier fetch the set again (at most once
    /// per [`JWKS_REFETCH_INTERVAL`]) before it decides, so a key published beside the old
    /// one is taken without a restart.
    pub async fn from_jwks_url(url: &str) -> Result<Self, TokenKeyError> {
        let source = JwksSource::new(url).map_err(TokenKeyError::Jwks)?;
        let json = source.fetch().await.map_err(TokenKeyError::Jwks)?;
        let keys = jwks_keys(&json)?;
        let mut verifier = JwtVerifier::of(keys, true);
        verifier.source = Some(Arc::new(source));
        Ok(verifier)
    }

    /// The shortest time between two fetches of a JWKS URL (default
    /// [`JWKS_REFETCH_INTERVAL`]); no effect on other verifiers.
    #[must_use]
    pub fn jwks_refetch_interval(mut self, interval: Duration) -> Self {
        if let Some(source) = self.source.as_mut().and_then(Arc::get_mut) {
            source.interval = interval;
        }
        self
    }

    /// Verifies `token` now, first fetching the JWKS again when the token names a key the
    /// set lacks and the keys come from a URL ([`JwtVerifier::from_jwks_url`]).
    pub async fn verify_fresh(&self, token: &str) -> Result<Claims, AuthError> {
        if let Some(source) = &self.source {
            let unknown = jsonwebtoken::decode_header(token)
                .ok()
                .and_then(|h| h.kid)
                .filter(|kid| !self.key_set().iter().any(|k| k.kid.as_ref() == Some(kid)));
            if unknown.is_some() {
                match source.refetch().await.map(|json| jwks_keys(&json)) {
                    Some(Ok(keys)) => match self.keys.write() {
                        Ok(mut slot) => *slot = Arc::new(keys),
                        Err(poisoned) => *poisoned.into_inner() = Arc::new(keys),
                    },
                    Some(Err(e)) => {
                        tracing::warn!(error = %e, "the fetched JWKS is unusable; keeping the old keys")
                    }
                    None => {}
                }
            }
        }
        self.verify(token)
    }
}

/// The keys of a JWKS document (`{"keys": [...]}`).
fn jwks_keys(json: &[u8]) -> Result<Vec<Key>, TokenKeyError> {
    {
        let set: JwkSet =
            serde_json::from_slice(json).map_err(|e| TokenKeyError::Jwks(e.to_string()))?;
        if set.keys.is_empty() {
            return Err(TokenKeyError::Jwks("no keys".into()));
        }
        let mut keys = Vec::with_capacity(set.keys.len());
        for (i, jwk) in set.keys.iter().enumerate() {
            let name = jwk.common.key_id.clone().unwrap_or_else(|| format!("#{i}"));
            let bad = |why: String| TokenKeyError::Jwks(format!("key {name}: {why}"));
            let key = DecodingKey::from_jwk(jwk).map_err(|e| bad(e.to_string()))?;
            let alg = match jwk.common.key_algorithm {
                Some(named) => Some(
                    named
                        .to_string()
                        .parse::<Algorithm>()
                        .map_err(|_| bad(format!("algorithm {named} is not for signatures")))?,
                ),
                None => match &jwk.algorithm {
                    AlgorithmParameters::EllipticCurve(p) if p.curve == EllipticCurve::P384 => {
                        Some(Algorithm::ES384)
                    }
                    _ => None,
                },
            };
            let alg = pick_alg(key.family(), alg).map_err(|e| bad(e.to_string()))?;
            keys.push(Key {
                kid: jwk.common.key_id.clone(),
                alg,
                key,
            });
        }
        Ok(keys)
    }
}

impl JwtVerifier {
    /// Requires `aud` to be (or to contain) `audience`.
    #[must_use]
    pub fn audience(mut self, audience: impl Into<String>) -> Self {
        self.audience = Some(audience.into());
        self
    }

    /// Requires `iss` to be `issuer`.
    #[must_use]
    pub fn issuer(mut self, issuer: impl Into<String>) -> Self {
        self.issuer = Some(issuer.into());
        self
    }

    /// The clock skew allowed on `exp`, `nbf` and `iat`. Default [`DEFAULT_LEEWAY`].
    #[must_use]
    pub fn leeway(mut self, leeway: Duration) -> Self {
        self.leeway = leeway;
        self
    }

    /// The algorithms accepted, one per key.
    pub fn algorithms(&self) -> Vec<Algorithm> {
        self.key_set().iter().map(|k| k.alg).collect()
    }

    /// Verifies `token` at the current time.
    pub fn verify(&self, token: &str) -> Result<Claims, AuthError> {
        self.verify_at(token, unix_now())
    }

    /// Verifies `token` at `now` (Unix seconds).
    pub fn verify_at(&self, token: &str, now: u64) -> Result<Claims, AuthError> {
        let invalid = |why: String| AuthError::Invalid(why);
        if token.len() > MAX_TOKEN_BYTES {
            return Err(invalid(format!(
                "token too long: {} bytes, at most {MAX_TOKEN_BYTES}",
                token.len()
            )));
        }
        let header = jsonwebtoken::decode_header(token)
            .map_err(|e| invalid(format!("malformed token: {}", describe(e.kind()))))?;
        let keys = self.key_set();
        let key = self.key_for(&keys, &header)?;
        if header.alg != key.alg {
            return Err(invalid(format!(
                "algorithm {:?} is not accepted (this key takes {:?})",
                header.alg, key.alg
            )));
        }
        let mut validation = Validation::new(key.alg);
        // Times are checked below, at `now`, with the leeway.
        validation.validate_exp = false;
        validation.validate_nbf = false;
        let mut required = vec!["exp", "sub"];
        validation.validate_aud = self.audience.is_some();
        if let Some(audience) = &self.audience {
            validation.set_audience(&[audience]);
            required.push("aud");
        }
        if let Some(issuer) = &self.issuer {
            validation.set_issuer(&[issuer]);
            required.push("iss");
        }
        validation.set_required_spec_claims(&required);
        let data = jsonwebtoken::decode::<Claims>(token, &key.key, &validation)
            .map_err(|e| invalid(describe(e.kind())))?;
        let claims = data.claims;
        let leeway = self.leeway.as_secs();
        if claims.exp.saturating_add(leeway) <= now {
            return Err(AuthError::Expired);
        }
        let future = |t: Option<u64>| t.filter(|t| *t > now.saturating_add(leeway));
        if let Some(nbf) = future(claims.nbf) {
            return Err(invalid(format!(
                "not valid before {nbf} (nbf); now is {now}"
            )));
        }
        if let Some(iat) = future(claims.iat) {
            return Err(invalid(format!(
                "issued in the future (iat {iat}; now is {now})"
            )));
        }
        Ok(claims)
    }

    /// The keys now (a fetched JWKS may replace them at any time).
    fn key_set(&self) -> Arc<Vec<Key>> {
        match self.keys.read() {
            Ok(keys) => keys.clone(),
            // A writer panicked mid-swap; the keys it held are still whole (one Arc store).
            Err(poisoned) => poisoned.into_inner().clone(),
        }
    }

    fn key_for<'k>(&self, keys: &'k [Key], header: &Header) -> Result<&'k Key, AuthError> {
        let invalid = |why: String| Err(AuthError::Invalid(why));
        if !self.by_kid {
            return match keys.first() {
                Some(key) => Ok(key),
                None => invalid("no key".into()),
            };
        }
        match (&header.kid, keys) {
            (Some(kid), keys) => match keys.iter().find(|k| k.kid.as_ref() == Some(kid)) {
                Some(key) => Ok(key),
                None => invalid(format!("unknown key id (kid) {kid:?}")),
            },
            (None, [only]) => Ok(only),
            (None, _) => {
                invalid("the token names no key id (kid) and the key set has several".into())
            }
        }
    }
}

/// A refusal's reason as the client reads it.
fn describe(kind: &ErrorKind) -> String {
    match kind {
        ErrorKind::InvalidSignature => "bad signature".into(),
        ErrorKind::InvalidAlgorithm => "the token's algorithm does not go with the key".into(),
        ErrorKind::InvalidAudience => "wrong audience (aud)".into(),
        ErrorKind::InvalidIssuer => "wrong issuer (iss)".into(),
        ErrorKind::MissingRequiredClaim(claim) => format!("the token has no `{claim}`"),
        ErrorKind::InvalidClaimFormat(claim) => format!("malformed `{claim}`"),
        ErrorKind::Json(e) => format!("malformed token: {e}"),
        ErrorKind::InvalidToken | ErrorKind::Base64(_) | ErrorKind::Utf8(_) => {
            "malformed token (expected three base64url parts)".into()
        }
        other => format!("{other:?}"),
    }
}

/// Signs tokens: what `tandem token` does, and what tests and backends in Rust can use.
#[derive(Clone)]
pub struct JwtSigner {
    alg: Algorithm,
    key: EncodingKey,
    kid: Option<String>,
}

impl std::fmt::Debug for JwtSigner {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("JwtSigner")
            .field("alg", &self.alg)
            .field("kid", &self.kid)
            .finish_non_exhaustive()
    }
}

impl JwtSigner {
    /// HS256 with `secret` (the one given to `tandem serve --token-secret`).
    pub fn hs256(secret: impl AsRef<[u8]>) -> Self {
        JwtSigner {
            alg: Algorithm::HS256,
            key: EncodingKey::from_secret(secret.as_ref()),
            kid: None,
        }
    }

    /// Signs with this private key (PEM, PKCS#8, or PKCS#1 for RSA), in `alg` or the key's
    /// default (RS256, ES256, EdDSA).
    pub fn from_private_key_pem(pem: &[u8], alg: Option<Algorithm>) -> Result<Self, TokenKeyError> {
        let (key, family) = if let Ok(key) = EncodingKey::from_rsa_pem(pem) {
            (key, AlgorithmFamily::Rsa)
        } else if let Ok(key) = EncodingKey::from_ec_pem(pem) {
            (key, AlgorithmFamily::Ec)
        } else if let Ok(key) = EncodingKey::from_ed_pem(pem) {
            (key, AlgorithmFamily::Ed)
        } else {
            return Err(TokenKeyError::Pem("private"));
        };
        Ok(JwtSigner {
            alg: pick_alg(family, alg)?,
            key,
            kid: None,
        })
    }

    /// Names the key in the token's header (`kid`), for a server with a JWKS.
    #[must_use]
    pub fn kid(mut self, kid: impl Into<String>) -> Self {
        self.kid = Some(kid.into());
        self
    }

    /// The algorithm tokens are signed in.
    pub fn algorithm(&self) -> Algorithm {
        self.alg
    }

    /// A token carrying exactly `claims`.
    pub fn sign(&self, claims: &Claims) -> Result<String, TokenKeyError> {
        let mut header = Header::new(self.alg);
        header.kid.clone_from(&self.kid);
        jsonwebtoken::encode(&header, claims, &self.key)
            .map_err(|e| TokenKeyError::Sign(e.to_string()))
    }
}

/// Who a hello's token stands for: the user, and the token's claims when it had any
/// (what [`crate::ServerBuilder::jwt`] verified).
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct Authenticated {
    /// The user id.
    pub user: String,
    /// The token's claims: `rooms` (enforced on every operation), `info` (shown in
    /// presence), `exp` (the session is asked for a fresh token ahead of it, and closed
    /// with 4002 at it without one); the hooks see them too.
    pub claims: Option<Arc<Claims>>,
}

impl Authenticated {
    /// `user`, with no claims.
    pub fn user(user: impl Into<String>) -> Self {
        Authenticated {
            user: user.into(),
            claims: None,
        }
    }
}

impl Authenticated {
    /// The protocol's admission: user, rights, info and expiry (`exp` as an instant of
    /// the core's clock, given the core's `now` and the Unix time `unix_now` in seconds).
    pub(crate) fn admission(&self, now: Instant, unix_now: u64) -> Admission {
        let Some(c) = &self.claims else {
            return Admission::user(self.user.clone());
        };
        let info = c
            .info
            .as_ref()
            .and_then(|v| tandem_proto::encode_payload(v).ok());
        let left = Duration::from_secs(c.exp.saturating_sub(unix_now));
        Admission {
            user: self.user.clone(),
            grants: c.rooms.clone().map(Arc::new),
            info,
            expires_at: Some(now + left),
        }
    }
}

impl From<Claims> for Authenticated {
    /// The user `sub`, with these claims.
    fn from(claims: Claims) -> Self {
        Authenticated {
            user: claims.sub.clone(),
            claims: Some(Arc::new(claims)),
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use base64::Engine;
    use base64::engine::general_purpose::URL_SAFE_NO_PAD;
    use tandem_proto::Right;

    const NOW: u64 = 1_700_000_000;
    const RSA_PRIVATE: &str = include_str!("../../../tests/keys/rsa.pem");
    const RSA_PUBLIC: &str = include_str!("../../../tests/keys/rsa.pub.pem");
    const EC_PRIVATE: &str = include_str!("../../../tests/keys/ec.pem");
    const EC_PUBLIC: &str = include_str!("../../../tests/keys/ec.pub.pem");
    const ED_PRIVATE: &str = include_str!("../../../tests/keys/ed25519.pem");
    const ED_PUBLIC: &str = include_str!("../../../tests/keys/ed25519.pub.pem");
    const JWKS: &str = include_str!("../../../tests/keys/jwks.json");

    fn claims() -> Claims {
        let mut c = Claims::new("ada", NOW + 60);
        c.iat = Some(NOW);
        c
    }

    fn hs(claims: &Claims) -> String {
        JwtSigner::hs256("secret").sign(claims).unwrap()
    }

    fn invalid(result: Result<Claims, AuthError>) -> String {
        match result {
            Err(AuthError::Invalid(why)) => why,
            other => panic!("expected invalid, got {other:?}"),
        }
    }

    /// A token of `header` and `body` (JSON) with signature `sig`, all hand-made.
    fn raw(header: &str, body: &str, sig: &[u8]) -> String {
        let e = |b: &[u8]| URL_SAFE_NO_PAD.encode(b);
        format!("{}.{}.{}", e(header.as_bytes()), e(body.as_bytes()), e(sig))
    }

    #[test]
    fn a_signed_token_verifies_with_its_claims() {
        let v = JwtVerifier::hs256("secret");
        let got = v.verify_at(&hs(&claims()), NOW).unwrap();
        assert_eq!(got, claims());
        assert_eq!(got.rights("any"), Rights::ALL, "no rooms claim: every room");
    }

    #[test]
    fn expiry_counts_the_leeway_and_gives_expired() {
        let v = JwtVerifier::hs256("secret").leeway(Duration::from_secs(30));
        let token = hs(&claims());
        assert!(v.verify_at(&token, NOW + 89).is_ok(), "within the leeway");
        assert_eq!(v.verify_at(&token, NOW + 90), Err(AuthError::Expired));
        let strict = JwtVerifier::hs256("secret").leeway(Duration::ZERO);
        assert!(strict.verify_at(&token, NOW + 59).is_ok());
        assert_eq!(strict.verify_at(&token, NOW + 60), Err(AuthError::Expired));
    }

    #[test]
    fn a_token_without_exp_or_sub_is_invalid() {
        let v = JwtVerifier::hs256("secret");
        let key = jsonwebtoken::EncodingKey::from_secret(b"secret");
        let header = Header::new(Algorithm::HS256);
        let no_exp = jsonwebtoken::encode(&header, &serde_json::json!({"sub": "ada"}), &key);
        let why = invalid(v.verify_at(&no_exp.unwrap(), NOW));
        assert!(why.contains("exp"), "{why}");
        let no_sub = jsonwebtoken::encode(&header, &serde_json::json!({"exp": NOW + 9}), &key);
        let why = invalid(v.verify_at(&no_sub.unwrap(), NOW));
        assert!(why.contains("sub"), "{why}");
    }

    #[test]
    fn nbf_in_the_future_is_invalid() {
        let v = JwtVerifier::hs256("secret").leeway(Duration::from_secs(30));
        let mut c = claims();
        c.nbf = Some(NOW + 100);
        let token = hs(&c);
        let why = invalid(v.verify_at(&token, NOW));
        assert!(why.contains("nbf"), "{why}");
        assert!(v.verify_at(&token, NOW + 70).is_ok(), "within the leeway");
    }

    #[test]
    fn iat_in_the_future_beyond_the_leeway_is_invalid() {
        let v = JwtVerifier::hs256("secret").leeway(Duration::from_secs(30));
        let mut c = claims();
        c.exp = NOW + 1000;
        c.iat = Some(NOW + 31);
        let why = invalid(v.verify_at(&hs(&c), NOW));
        assert!(why.contains("iat"), "{why}");
        c.iat = Some(NOW + 30);
        assert!(v.verify_at(&hs(&c), NOW).is_ok(), "within the leeway");
    }

    #[test]
    fn audience_and_issuer_must_match_when_set() {
        let v = JwtVerifier::hs256("secret")
            .audience("tandem")
            .issuer("https://auth");
        let mut c = claims();
        c.aud = vec!["tandem".into()];
        c.iss = Some("https://auth".into());
        assert!(v.verify_at(&hs(&c), NOW).is_ok());
        c.aud = vec!["other".into(), "tandem".into()];
        assert!(
            v.verify_at(&hs(&c), NOW).is_ok(),
            "one of several audiences"
        );

        let mut wrong = c.clone();
        wrong.aud = vec!["other".into()];
        assert!(invalid(v.verify_at(&hs(&wrong), NOW)).contains("aud"));
        let mut wrong = c.clone();
        wrong.iss = Some("https://evil".into());
        assert!(invalid(v.verify_at(&hs(&wrong), NOW)).contains("iss"));
        let mut missing = c.clone();
        missing.aud.clear();
        assert!(invalid(v.verify_at(&hs(&missing), NOW)).contains("aud"));
        let mut missing = c;
        missing.iss = None;
        assert!(invalid(v.verify_at(&hs(&missing), NOW)).contains("iss"));
    }

    #[test]
    fn alg_none_is_invalid() {
        let v = JwtVerifier::hs256("secret");
        let body = serde_json::to_string(&claims()).unwrap();
        for header in [r#"{"alg":"none","typ":"JWT"}"#, r#"{"alg":"None"}"#] {
            let token = raw(header, &body, b"");
            let why = invalid(v.verify_at(&token, NOW));
            assert!(why.contains("malformed"), "{why}");
        }
    }

    #[test]
    fn hs256_signed_with_the_public_key_is_refused_by_an_rs256_server() {
        // The key-confusion attack: the public key is public, so anyone can HMAC with it.
        let v = JwtVerifier::from_public_key_pem(RSA_PUBLIC.as_bytes(), None).unwrap();
        assert_eq!(v.algorithms(), [Algorithm::RS256]);
        let forged = JwtSigner::hs256(RSA_PUBLIC).sign(&claims()).unwrap();
        let why = invalid(v.verify_at(&forged, NOW));
        assert!(why.contains("HS256"), "{why}");
        // And the other way round: an RS256 token at an HS256 server.
        let rs = JwtSigner::from_private_key_pem(RSA_PRIVATE.as_bytes(), None).unwrap();
        let token = rs.sign(&claims()).unwrap();
        assert!(v.verify_at(&token, NOW).is_ok());
        assert!(invalid(JwtVerifier::hs256(RSA_PUBLIC).verify_at(&token, NOW)).contains("RS256"));
    }

    #[test]
    fn bad_signatures_are_invalid() {
        let v = JwtVerifier::hs256("secret");
        let other = JwtSigner::hs256("other").sign(&claims()).unwrap();
        assert_eq!(invalid(v.verify_at(&other, NOW)), "bad signature");
        // The claims changed under a valid signature.
        let token = hs(&claims());
        let (_, sig) = token.rsplit_once('.').unwrap();
        let mut c = claims();
        c.sub = "mallory".into();
        let (head_body, _) = hs(&c)
            .rsplit_once('.')
            .map(|(a, b)| (a.to_owned(), b.to_owned()))
            .unwrap();
        let tampered = format!("{head_body}.{sig}");
        assert_eq!(invalid(v.verify_at(&tampered, NOW)), "bad signature");
        // A forged expired token is invalid, not expired: the signature comes first.
        let mut old = claims();
        old.exp = NOW - 1000;
        let forged = JwtSigner::hs256("other").sign(&old).unwrap();
        assert_eq!(invalid(v.verify_at(&forged, NOW)), "bad signature");
        // Another key pair of the same kind.
        let ec = JwtVerifier::from_public_key_pem(EC_PUBLIC.as_bytes(), None).unwrap();
        let ed = JwtSigner::from_private_key_pem(ED_PRIVATE.as_bytes(), None).unwrap();
        assert!(ec.verify_at(&ed.sign(&claims()).unwrap(), NOW).is_err());
    }

    #[test]
    fn garbage_is_invalid() {
        let v = JwtVerifier::hs256("secret");
        for garbage in [
            "",
            "nodots",
            "a.b",
            "a.b.c",
            "!!.??.**",
            "a.b.c.d",
            "eyJhbGciOiJIUzI1NiJ9.e30.",
        ] {
            let why = invalid(v.verify_at(garbage, NOW));
            assert!(!why.is_empty(), "{garbage}");
        }
        // A signed token whose claims are not an object of the right types.
        let key = jsonwebtoken::EncodingKey::from_secret(b"secret");
        let header = Header::new(Algorithm::HS256);
        let wrong = serde_json::json!({"sub": 7, "exp": NOW + 9});
        let token = jsonwebtoken::encode(&header, &wrong, &key).unwrap();
        assert!(invalid(v.verify_at(&token, NOW)).contains("malformed"));
    }

    #[test]
    fn rooms_come_as_a_list_or_as_rights_per_pattern() {
        let v = JwtVerifier::hs256("secret");
        let key = jsonwebtoken::EncodingKey::from_secret(b"secret");
        let header = Header::new(Algorithm::HS256);
        let sign = |body: serde_json::Value| jsonwebtoken::encode(&header, &body, &key).unwrap();

        let list =
            sign(serde_json::json!({"sub": "ada", "exp": NOW + 9, "rooms": ["docs/*", "lobby"]}));
        let c = v.verify_at(&list, NOW).unwrap();
        assert_eq!(c.rights("docs/a"), Rights::ALL);
        assert_eq!(c.rights("lobby"), Rights::ALL);
        assert_eq!(c.rights("lobby2"), Rights::NONE);
        assert_eq!(c.rooms.as_ref().unwrap().grants().len(), 2);

        let map = sign(serde_json::json!({"sub": "ada", "exp": NOW + 9, "rooms": {
            "docs/*": ["subscribe", "history"],
            "docs/mine": ["publish"],
            "lobby": []
        }}));
        let c = v.verify_at(&map, NOW).unwrap();
        let docs = c.rights("docs/a");
        assert!(docs.contains(Right::Subscribe) && docs.contains(Right::History));
        assert!(!docs.contains(Right::Publish) && !docs.contains(Right::Presence));
        let mine: Vec<Right> = c.rights("docs/mine").iter().collect();
        assert_eq!(
            mine,
            [Right::Subscribe, Right::Publish, Right::History],
            "union of matches"
        );
        assert_eq!(c.rights("lobby"), Rights::NONE);
        assert_eq!(c.rights("elsewhere"), Rights::NONE);

        // Round trip through the signer keeps both shapes.
        let again = v.verify_at(&hs(&c), NOW).unwrap();
        assert_eq!(again.rooms, c.rooms);

        for bad in [
            serde_json::json!({"docs": ["fly"]}),
            serde_json::json!("docs"),
            serde_json::json!([1, 2]),
        ] {
            let token = sign(serde_json::json!({"sub": "ada", "exp": NOW + 9, "rooms": bad}));
            let why = invalid(v.verify_at(&token, NOW));
            assert!(why.contains("rooms"), "{why}");
        }
    }

    #[test]
    fn info_is_kept() {
        let v = JwtVerifier::hs256("secret");
        let mut c = claims();
        c.info = Some(serde_json::json!({"name": "Ada", "color": "#f0a"}));
        let got = v.verify_at(&hs(&c), NOW).unwrap();
        assert_eq!(got.info, c.info);
    }

    #[test]
    fn public_keys_of_each_kind_verify_their_own_tokens() {
        for (private, public, alg) in [
            (RSA_PRIVATE, RSA_PUBLIC, Algorithm::RS256),
            (EC_PRIVATE, EC_PUBLIC, Algorithm::ES256),
            (ED_PRIVATE, ED_PUBLIC, Algorithm::EdDSA),
        ] {
            let signer = JwtSigner::from_private_key_pem(private.as_bytes(), None).unwrap();
            assert_eq!(signer.algorithm(), alg);
            let v = JwtVerifier::from_public_key_pem(public.as_bytes(), None).unwrap();
            assert_eq!(
                v.verify_at(&signer.sign(&claims()).unwrap(), NOW)
                    .unwrap()
                    .sub,
                "ada"
            );
        }
        // An explicit algorithm of the key's kind; one of another kind is refused.
        let ps = JwtSigner::from_private_key_pem(RSA_PRIVATE.as_bytes(), Some(Algorithm::PS256))
            .unwrap();
        let v = JwtVerifier::from_public_key_pem(RSA_PUBLIC.as_bytes(), Some(Algorithm::PS256))
            .unwrap();
        assert!(v.verify_at(&ps.sign(&claims()).unwrap(), NOW).is_ok());
        let rs256 = JwtVerifier::from_public_key_pem(RSA_PUBLIC.as_bytes(), None).unwrap();
        assert!(invalid(rs256.verify_at(&ps.sign(&claims()).unwrap(), NOW)).contains("PS256"));
        assert!(matches!(
            JwtVerifier::from_public_key_pem(RSA_PUBLIC.as_bytes(), Some(Algorithm::ES256)),
            Err(TokenKeyError::Mismatch { .. })
        ));
        assert!(matches!(
            JwtVerifier::from_public_key_pem(b"not a pem", None),
            Err(TokenKeyError::Pem(_))
        ));
    }

    #[test]
    fn a_jwks_picks_the_key_by_kid() {
        let v = JwtVerifier::from_jwks(JWKS.as_bytes()).unwrap();
        assert_eq!(
            v.algorithms(),
            [Algorithm::RS256, Algorithm::ES256, Algorithm::EdDSA]
        );
        for (private, kid) in [
            (RSA_PRIVATE, "rsa-1"),
            (EC_PRIVATE, "ec-1"),
            (ED_PRIVATE, "ed-1"),
        ] {
            let signer = JwtSigner::from_private_key_pem(private.as_bytes(), None).unwrap();
            let token = signer.clone().kid(kid).sign(&claims()).unwrap();
            assert_eq!(v.verify_at(&token, NOW).unwrap().sub, "ada", "{kid}");
            let why = invalid(v.verify_at(&signer.clone().sign(&claims()).unwrap(), NOW));
            assert!(why.contains("kid"), "{why}");
            let why = invalid(v.verify_at(&signer.kid("gone").sign(&claims()).unwrap(), NOW));
            assert!(why.contains("gone"), "{why}");
        }
        // The kid of one key with the signature of another.
        let ec = JwtSigner::from_private_key_pem(EC_PRIVATE.as_bytes(), None).unwrap();
        assert!(
            v.verify_at(&ec.kid("rsa-1").sign(&claims()).unwrap(), NOW)
                .is_err()
        );
        for bad in ["{}", r#"{"keys": []}"#, "[]"] {
            assert!(matches!(
                JwtVerifier::from_jwks(bad.as_bytes()),
                Err(TokenKeyError::Jwks(_))
            ));
        }
    }

    #[test]
    fn the_debug_form_hides_the_secret() {
        let text = format!("{:?}", JwtVerifier::hs256("hunter2"));
        assert!(
            !text.contains("hunter2") && text.contains("HS256"),
            "{text}"
        );
        assert!(!format!("{:?}", JwtSigner::hs256("hunter2")).contains("hunter2"));
    }
}
