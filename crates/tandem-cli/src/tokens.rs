//! Tokens on the command line: the `--token-*` flags of `tandem serve`, and `tandem token`.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use clap::Args;
use core::time::Duration;
use tandem_server::{
    AuthError, Authenticated, Claims, JwtAlgorithm, JwtSigner, JwtVerifier, Right, RoomGrant,
    RoomGrants, RoomPattern,
};

use crate::duration;

/// What `tandem serve --help` says about tokens after the flags.
pub const HELP: &str = "\
Tokens: a client sends a JSON Web Token in hello, checked as the --token-* flags say \
(one of --token-secret, --token-public-key, --token-jwks). Claims: sub (the user; \
required), exp (required), nbf, iat, aud, iss, rooms (a list of room names or patterns, or \
an object of pattern -> rights among subscribe, publish, presence, history) and info \
(presence data set by the issuer). rooms and info are parsed and kept; enforcement is \
next: today every valid token may join every room. An expired token closes with 4002 \
(token_expired); a missing, forged, malformed, wrong-algorithm, not-yet-valid or \
wrong-audience/issuer one with 4001 (unauthorized). Mint tokens with `tandem token`.";

/// How `tandem serve` checks the JSON Web Token each client sends in hello. Give one of
/// --token-secret, --token-public-key or --token-jwks; without any, every connection is
/// accepted without a token. An expired token closes the connection with 4002
/// (token_expired: the client fetches a fresh one), any other refusal with 4001.
///
/// Claims: `sub` (the user; required), `exp` (required), `nbf`, `iat`, `aud`, `iss`,
/// `rooms` (a list of room names or patterns, or an object of pattern -> rights among
/// subscribe, publish, presence, history) and `info` (presence data set by the issuer).
/// The rights in `rooms` are enforced on every operation (a refusal is `forbidden`, the
/// connection stays open); `info` rides with the user's member in presence. Ahead of `exp`
/// the session is asked for a fresh token in band, and closed with 4002 without one.
#[derive(Debug, Args)]
#[command(next_help_heading = "Tokens (JWT)")]
pub struct TokenFlags {
    /// Accept HS256 tokens signed with this shared secret (mint them with `tandem token
    /// --secret`, PyJWT, jose...). Use at least 32 random bytes.
    #[arg(
        long,
        env = "TANDEM_TOKEN_SECRET",
        hide_env_values = true,
        conflicts_with_all = ["token_public_key", "token_jwks"]
    )]
    token_secret: Option<String>,

    /// Accept tokens signed by the private half of this public key (a PEM file: PUBLIC KEY
    /// or RSA PUBLIC KEY). The algorithm follows the key: RS256 for RSA, ES256 for EC,
    /// EdDSA for Ed25519, unless --token-algorithm says otherwise. HS256 tokens are
    /// refused (no key confusion).
    #[arg(
        long,
        env = "TANDEM_TOKEN_PUBLIC_KEY",
        value_name = "PEM",
        conflicts_with = "token_jwks"
    )]
    token_public_key: Option<PathBuf>,

    /// The algorithm of --token-public-key when not its default: RS384, RS512, PS256,
    /// PS384, PS512 for an RSA key, ES384 for a P-384 key. Tokens in any other algorithm
    /// are refused.
    #[arg(long, value_name = "ALG", value_parser = algorithm, requires = "token_public_key")]
    token_algorithm: Option<JwtAlgorithm>,

    /// Accept tokens signed by any key of this JWKS (`{"keys": [...]}`), a file or an
    /// `http://` URL, picked by the token's `kid`; each key's algorithm is its `alg`, or its
    /// type's default. A URL is fetched at startup and again when a token names a `kid` the
    /// set lacks (at most every 10 s): rotate keys by publishing the new one beside the old.
    /// A file is read at startup: rotate by adding the key and restarting.
    #[arg(long, env = "TANDEM_TOKEN_JWKS", value_name = "FILE|URL")]
    token_jwks: Option<String>,

    /// With an --token-jwks URL: the shortest time between two fetches of it.
    #[arg(long, value_parser = duration::parse, default_value = "10s", value_name = "DURATION")]
    token_jwks_refetch: Duration,

    /// Require this audience in the token's `aud`.
    #[arg(long, env = "TANDEM_TOKEN_AUDIENCE", value_name = "AUD")]
    token_audience: Option<String>,

    /// Require this issuer in the token's `iss`.
    #[arg(long, env = "TANDEM_TOKEN_ISSUER", value_name = "ISS")]
    token_issuer: Option<String>,

    /// Clock skew allowed on `exp`, `nbf` and `iat`.
    #[arg(long, value_parser = duration::parse, default_value = "30s")]
    token_leeway: Duration,
}

fn algorithm(text: &str) -> Result<JwtAlgorithm, String> {
    text.parse().map_err(|_| {
        format!("{text:?}: use RS256, RS384, RS512, PS256, PS384, PS512, ES256, ES384 or EdDSA")
    })
}

fn read(path: &Path, what: &str) -> Result<Vec<u8>, String> {
    std::fs::read(path).map_err(|e| format!("{what} {}: {e}", path.display()))
}

impl TokenFlags {
    /// The verifier the flags describe (`None`: no token flag given), or why it cannot be
    /// made (a key file that cannot be read or parsed).
    pub async fn verifier(&self) -> Result<Option<JwtVerifier>, String> {
        let verifier = if let Some(secret) = &self.token_secret {
            JwtVerifier::hs256(secret)
        } else if let Some(path) = &self.token_public_key {
            let pem = read(path, "--token-public-key")?;
            JwtVerifier::from_public_key_pem(&pem, self.token_algorithm)
                .map_err(|e| format!("--token-public-key {}: {e}", path.display()))?
        } else if let Some(url) = self
            .token_jwks
            .as_ref()
            .filter(|j| j.starts_with("http://"))
        {
            JwtVerifier::from_jwks_url(url)
                .await
                .map_err(|e| format!("--token-jwks {e}"))?
                .jwks_refetch_interval(self.token_jwks_refetch)
        } else if let Some(path) = &self.token_jwks {
            let json = read(Path::new(path), "--token-jwks")?;
            JwtVerifier::from_jwks(&json).map_err(|e| format!("--token-jwks {path}: {e}"))?
        } else {
            return Ok(None);
        };
        let mut verifier = verifier.leeway(self.token_leeway);
        if let Some(audience) = &self.token_audience {
            verifier = verifier.audience(audience);
        }
        if let Some(issuer) = &self.token_issuer {
            verifier = verifier.issuer(issuer);
        }
        Ok(Some(verifier))
    }
}

/// Who `token` stands for: `guest:<name>` when guest names are on, else a verified JWT.
pub async fn authenticate(
    token: Option<&str>,
    verifier: Option<&JwtVerifier>,
    guest_names: bool,
) -> Result<Authenticated, AuthError> {
    let token = token.ok_or(AuthError::Missing)?;
    if let (true, Some(name)) = (guest_names, token.strip_prefix("guest:")) {
        let name = name.trim();
        let ok = (1..=32).contains(&name.chars().count()) && !name.chars().any(char::is_control);
        return if ok {
            Ok(Authenticated::user(name))
        } else {
            Err(AuthError::Invalid(
                "a guest name has 1 to 32 printable characters".into(),
            ))
        };
    }
    match verifier {
        Some(verifier) => verifier.verify_fresh(token).await.map(Authenticated::from),
        None => Err(AuthError::Invalid(
            "this server accepts only guest:<name> tokens".into(),
        )),
    }
}

/// Flags of `tandem token`.
#[derive(Debug, Args)]
pub struct TokenArgs {
    /// Sign HS256 with this secret (the one of `tandem serve --token-secret`).
    #[arg(
        long,
        env = "TANDEM_TOKEN_SECRET",
        hide_env_values = true,
        required_unless_present = "private_key",
        conflicts_with = "private_key"
    )]
    secret: Option<String>,
    /// Sign with this private key (PEM: PKCS#8, or PKCS#1 for RSA): RS256 for RSA, ES256
    /// for EC, EdDSA for Ed25519, unless --algorithm says otherwise. The server takes the
    /// public half with --token-public-key (or in --token-jwks, with --kid).
    #[arg(long, value_name = "PEM")]
    private_key: Option<PathBuf>,
    /// The algorithm for --private-key when not its default (RS384, PS256, ES384...).
    #[arg(long, value_name = "ALG", value_parser = algorithm, requires = "private_key")]
    algorithm: Option<JwtAlgorithm>,
    /// The key id to put in the header (`kid`), for a server with --token-jwks.
    #[arg(long)]
    kid: Option<String>,
    /// The user id the token stands for (`sub`).
    #[arg(long)]
    user: String,
    /// How long the token is valid (`exp`).
    #[arg(long, value_parser = duration::parse, default_value = "1h")]
    ttl: Duration,
    /// The rooms it grants (`rooms`), comma-separated names or patterns (`*`: any run of
    /// characters), each with every right, or with `=RIGHT+RIGHT` those rights only
    /// (subscribe, publish, presence, history): 'docs/*=subscribe+history,lobby'. Without
    /// it the token may join every room.
    #[arg(long, value_parser = room_grants)]
    rooms: Option<RoomGrants>,
    /// Presence data the server shows for this user (`info`), as JSON.
    #[arg(long, value_name = "JSON", value_parser = info)]
    info: Option<serde_json::Value>,
    /// The audience (`aud`), as --token-audience wants it.
    #[arg(long)]
    audience: Option<String>,
    /// The issuer (`iss`), as --token-issuer wants it.
    #[arg(long)]
    issuer: Option<String>,
}

fn room_grants(text: &str) -> Result<RoomGrants, String> {
    let mut grants = Vec::new();
    for entry in text.split(',').map(str::trim).filter(|e| !e.is_empty()) {
        let (pattern, rights) = match entry.split_once('=') {
            None => (entry, tandem_server::Rights::ALL),
            Some((pattern, rights)) => {
                let rights = rights
                    .split('+')
                    .map(|r| {
                        serde_json::from_value::<Right>(serde_json::Value::String(r.trim().into()))
                            .map_err(|_| {
                                format!("{r:?}: a right is subscribe, publish, presence or history")
                            })
                    })
                    .collect::<Result<_, _>>()?;
                (pattern, rights)
            }
        };
        grants.push(RoomGrant {
            pattern: RoomPattern::new(pattern),
            rights,
        });
    }
    Ok(RoomGrants::new(grants))
}

fn info(text: &str) -> Result<serde_json::Value, String> {
    serde_json::from_str(text).map_err(|e| format!("not JSON: {e}"))
}

/// Prints a token.
pub fn token(args: &TokenArgs) -> ExitCode {
    let signer = match (&args.secret, &args.private_key) {
        (Some(secret), _) => Ok(JwtSigner::hs256(secret)),
        (None, Some(path)) => read(path, "--private-key").and_then(|pem| {
            JwtSigner::from_private_key_pem(&pem, args.algorithm)
                .map_err(|e| format!("--private-key {}: {e}", path.display()))
        }),
        (None, None) => Err("give --secret or --private-key".to_owned()),
    };
    let mut signer = match signer {
        Ok(signer) => signer,
        Err(e) => {
            eprintln!("tandem: {e}");
            return ExitCode::FAILURE;
        }
    };
    if let Some(kid) = &args.kid {
        signer = signer.kid(kid);
    }
    let mut claims = Claims::for_user(&args.user, args.ttl);
    claims.rooms.clone_from(&args.rooms);
    claims.info.clone_from(&args.info);
    claims.iss.clone_from(&args.issuer);
    claims.aud = args.audience.iter().cloned().collect();
    match signer.sign(&claims) {
        Ok(token) => {
            println!("{token}");
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("tandem: {e}");
            ExitCode::FAILURE
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use tandem_server::Rights;

    #[test]
    fn rooms_read_names_patterns_and_rights() {
        let grants = room_grants("docs/*=subscribe+history, lobby").unwrap();
        assert_eq!(grants.grants().len(), 2);
        let docs = grants.rights("docs/a");
        assert!(docs.contains(Right::Subscribe) && docs.contains(Right::History));
        assert!(!docs.contains(Right::Publish));
        assert_eq!(grants.rights("lobby"), Rights::ALL);
        assert_eq!(grants.rights("other"), Rights::NONE);
        assert!(room_grants("docs=fly").unwrap_err().contains("fly"));
    }

    #[tokio::test]
    async fn guest_names_and_tokens() {
        let v = JwtVerifier::hs256("s");
        let token = JwtSigner::hs256("s")
            .sign(&Claims::for_user("ada", Duration::from_secs(60)))
            .unwrap();
        let who = authenticate(Some(&token), Some(&v), false).await.unwrap();
        assert_eq!(who.user, "ada");
        assert!(who.claims.is_some());
        let guest = authenticate(Some("guest:bo"), Some(&v), true).await;
        assert_eq!(guest.unwrap().user, "bo");
        assert!(
            authenticate(Some("guest:bo"), Some(&v), false)
                .await
                .is_err()
        );
        assert!(authenticate(Some("guest:bo"), None, false).await.is_err());
        assert_eq!(
            authenticate(None, Some(&v), true).await.unwrap_err(),
            AuthError::Missing
        );
    }
}
