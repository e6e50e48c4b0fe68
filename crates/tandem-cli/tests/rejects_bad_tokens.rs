//! Authentication against `tandem serve --token-secret` (HS256 JWT), `--token-public-key`
//! and `--token-jwks`: no token, a forged, malformed, `alg: none`, wrong-audience or
//! key-confusion, oversized or not-yet-valid token (4001) and an expired token (4002) stop
//! the client for good with the reason; a token provider that hands out a fresh token gets
//! the reconnect through. An unauthorized join is a typed error and the connection stays
//! open; the join hook sees the token's claims, and only for rooms the token grants.

#![allow(clippy::unwrap_used)]

mod support;

use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use support::{Chat, SECRET, TandemProcess, token, within};
use tandem_client::{Client, CloseReason, Config, ConnectionState, Error, OpError};
use tandem_proto::ErrorCode;
use tandem_server::{Claims, JwtSigner, JwtVerifier, Right, RoomGrants, Server};

fn now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs()
}

/// Expired a minute before the server's 30 s leeway ends.
fn expired_token(user: &str) -> String {
    JwtSigner::hs256(SECRET)
        .sign(&Claims::new(user, now() - 90))
        .unwrap()
}

/// The test key pairs in tests/keys.
fn key(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../tests/keys")
        .join(name)
}

fn path(p: &std::path::Path) -> &str {
    p.to_str().unwrap()
}

async fn refused(url: &str, config: Config) -> (u16, String) {
    let err = within("the refusal", Client::<Chat>::connect(url, config))
        .await
        .unwrap_err();
    match err {
        Error::Closed(CloseReason::Unauthorized { code, message }) => (code, message),
        other => panic!("expected unauthorized, got {other:?}"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn missing_bad_and_expired_tokens_stop_the_client() {
    let server = TandemProcess::start(&[]).await;
    let url = server.url();

    let (code, message) = refused(&url, Config::new()).await;
    assert_eq!(code, 4001);
    assert!(message.contains("token is required"), "{message}");

    let forged = JwtSigner::hs256("another secret")
        .sign(&Claims::for_user("mallory", Duration::from_secs(60)))
        .unwrap();
    let (code, message) = refused(&url, Config::new().token(forged)).await;
    assert_eq!(code, 4001);
    assert!(message.contains("bad signature"), "{message}");

    let (code, message) = refused(&url, Config::new().token("not.a.jwt")).await;
    assert_eq!(code, 4001);
    assert!(message.contains("malformed"), "{message}");

    // `alg: none` with no signature.
    let part = |json: &str| URL_SAFE_NO_PAD.encode(json);
    let claims = format!(r#"{{"sub":"mallory","exp":{}}}"#, now() + 600);
    let unsigned = format!(
        "{}.{}.",
        part(r#"{"alg":"none","typ":"JWT"}"#),
        part(&claims)
    );
    let (code, message) = refused(&url, Config::new().token(unsigned)).await;
    assert_eq!(code, 4001);
    assert!(message.contains("malformed"), "{message}");

    let (code, message) = refused(&url, Config::new().token(expired_token("ada"))).await;
    assert_eq!(code, 4002);
    assert!(message.contains("expired"), "{message}");
    assert!(server.healthy().await);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn oversized_and_not_yet_valid_tokens_are_refused_with_their_reason() {
    let server = TandemProcess::start(&[]).await;
    let url = server.url();
    let mut big = Claims::for_user("ada", Duration::from_secs(600));
    big.info = Some(serde_json::json!({ "pad": "x".repeat(20_000) }));
    let big = JwtSigner::hs256(SECRET).sign(&big).unwrap();
    let (code, message) = refused(&url, Config::new().token(big)).await;
    assert_eq!(code, 4001);
    assert!(message.contains("token too long"), "{message}");

    let mut early = Claims::for_user("ada", Duration::from_secs(600));
    early.nbf = Some(now() + 300);
    let early = JwtSigner::hs256(SECRET).sign(&early).unwrap();
    let (code, message) = refused(&url, Config::new().token(early)).await;
    assert_eq!(code, 4001);
    assert!(message.contains("not valid before"), "{message}");
    assert!(server.healthy().await);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_refreshed_token_gets_the_reconnect_through() {
    let server = TandemProcess::start(&[]).await;
    let calls = Arc::new(AtomicU32::new(0));
    let config = Config::new().token_provider({
        let calls = calls.clone();
        move || {
            // The first token handed out has expired; the next one is fresh.
            let n = calls.fetch_add(1, Ordering::SeqCst);
            async move {
                Ok(if n == 0 {
                    expired_token("ada")
                } else {
                    token("ada")
                })
            }
        }
    });
    let client: Client<Chat> = within("connect", Client::connect(&server.url(), config))
        .await
        .unwrap();
    assert_eq!(client.state(), ConnectionState::Open);
    assert_eq!(calls.load(Ordering::SeqCst), 2, "asked again after 4002");
    client.join("room").await.unwrap();

    // A provider that says "unauthorized" stops the client without connecting.
    let config = Config::new().token_provider(|| async {
        Err(tandem_client::TokenError::Unauthorized("signed out".into()))
    });
    let err = within(
        "the refusal",
        Client::<Chat>::connect(&server.url(), config),
    )
    .await
    .unwrap_err();
    assert!(
        matches!(&err, Error::Closed(CloseReason::Unauthorized { message, .. }) if message.contains("signed out")),
        "{err:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unauthorized_join_is_typed_and_keeps_the_connection() {
    let running = Server::builder()
        .jwt(JwtVerifier::hs256(SECRET))
        .authorize_join(|ctx| async move {
            // The token's claims reach the hook (tandem does not enforce rooms yet).
            let claims = ctx.claims.as_ref().expect("a JWT's claims are kept");
            if !claims.rights(&ctx.room).contains(Right::Subscribe) {
                Err(format!(
                    "the token of {} does not grant {}",
                    ctx.user, ctx.room
                ))
            } else if ctx.room.starts_with("private-") && ctx.user != "admin" {
                Err(format!("{} may not enter {}", ctx.user, ctx.room))
            } else {
                Ok(())
            }
        })
        .build()
        .bind("127.0.0.1:0")
        .await
        .unwrap();
    let url = format!("ws://{}", running.local_addr());
    let ada = support::chat_client(&url, "ada").await;
    let err = ada.join("private-admins").await.unwrap_err();
    match err {
        Error::Op(OpError::Server { code, message }) => {
            assert_eq!(code, ErrorCode::Forbidden);
            assert!(message.contains("ada may not enter"), "{message}");
        }
        other => panic!("expected forbidden, got {other:?}"),
    }
    assert_eq!(ada.state(), ConnectionState::Open);
    ada.join("public").await.unwrap();
    let seq = ada.publish("public", &Chat::new(1)).await.unwrap();
    assert_eq!(seq, 1);
    let err = ada
        .publish("private-admins", &Chat::new(2))
        .await
        .unwrap_err();
    assert!(
        matches!(err, Error::Op(OpError::NotJoined { .. })),
        "{err:?}"
    );

    let admin = support::chat_client(&url, "admin").await;
    admin.join("private-admins").await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_join_hook_sees_the_claims_and_is_asked_only_for_granted_rooms() {
    let asked = Arc::new(std::sync::Mutex::new(Vec::new()));
    let seen = asked.clone();
    let running = Server::builder()
        .jwt(JwtVerifier::hs256(SECRET))
        .authorize_join(move |ctx| {
            let seen = seen.clone();
            async move {
                let claims = ctx.claims.unwrap();
                assert_eq!(claims.info, Some(serde_json::json!({"name": "Ada"})));
                assert!(claims.rights(&ctx.room).contains(Right::Subscribe));
                seen.lock().unwrap().push(ctx.room.clone());
                if ctx.room == "docs/secret" {
                    Err(format!("not today: {}", ctx.room))
                } else {
                    Ok(())
                }
            }
        })
        .build()
        .bind("127.0.0.1:0")
        .await
        .unwrap();
    let url = format!("ws://{}", running.local_addr());
    let mut claims = Claims::for_user("ada", Duration::from_secs(60));
    claims.rooms = Some(RoomGrants::all(["docs/*", "lobby"]));
    claims.info = Some(serde_json::json!({"name": "Ada"}));
    let token = JwtSigner::hs256(SECRET).sign(&claims).unwrap();
    let ada: Client<Chat> = within("connect", Client::connect(&url, Config::new().token(token)))
        .await
        .unwrap();
    ada.join("docs/a").await.unwrap();
    ada.join("lobby").await.unwrap();
    // The token's rights refuse first; the hook is not asked.
    let err = ada.join("elsewhere").await.unwrap_err();
    assert!(
        matches!(&err, Error::Op(OpError::Server { code: ErrorCode::Forbidden, message }) if message.contains("subscribe")),
        "{err:?}"
    );
    // Granted by the token, refused by the application.
    let err = ada.join("docs/secret").await.unwrap_err();
    assert!(
        matches!(&err, Error::Op(OpError::Server { code: ErrorCode::Forbidden, message }) if message.contains("not today")),
        "{err:?}"
    );
    assert_eq!(*asked.lock().unwrap(), ["docs/a", "lobby", "docs/secret"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn audience_and_issuer_flags_are_checked() {
    let server =
        TandemProcess::start(&["--token-audience", "tandem", "--token-issuer", "auth"]).await;
    let url = server.url();
    let mut claims = Claims::for_user("ada", Duration::from_secs(60));
    claims.aud = vec!["tandem".into()];
    claims.iss = Some("auth".into());
    let sign = |c: &Claims| JwtSigner::hs256(SECRET).sign(c).unwrap();
    let ok: Client<Chat> = within(
        "connect",
        Client::connect(&url, Config::new().token(sign(&claims))),
    )
    .await
    .unwrap();
    assert_eq!(ok.state(), ConnectionState::Open);

    let mut other = claims.clone();
    other.aud = vec!["billing".into()];
    let (code, message) = refused(&url, Config::new().token(sign(&other))).await;
    assert_eq!(
        (code, message.contains("audience")),
        (4001, true),
        "{message}"
    );
    // Neither `aud` nor `iss`: either is named missing.
    let (code, message) = refused(&url, Config::new().token(token("ada"))).await;
    assert_eq!(
        (code, message.contains("has no")),
        (4001, true),
        "{message}"
    );
    let mut other = claims;
    other.iss = Some("mallory".into());
    let (code, message) = refused(&url, Config::new().token(sign(&other))).await;
    assert_eq!(
        (code, message.contains("issuer")),
        (4001, true),
        "{message}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_public_key_server_takes_its_algorithm_only() {
    let public = key("rsa.pub.pem");
    let server = TandemProcess::start_with(&["--token-public-key", path(&public)]).await;
    let url = server.url();
    let rs256 = JwtSigner::from_private_key_pem(&std::fs::read(key("rsa.pem")).unwrap(), None)
        .unwrap()
        .sign(&Claims::for_user("ada", Duration::from_secs(60)))
        .unwrap();
    let ada: Client<Chat> = within("connect", Client::connect(&url, Config::new().token(rs256)))
        .await
        .unwrap();
    ada.join("room").await.unwrap();

    // HS256 keyed with the (public) public key: the key-confusion attack.
    let confused = JwtSigner::hs256(std::fs::read(&public).unwrap())
        .sign(&Claims::for_user("mallory", Duration::from_secs(60)))
        .unwrap();
    let (code, message) = refused(&url, Config::new().token(confused)).await;
    assert_eq!(code, 4001);
    assert!(message.contains("HS256"), "{message}");
    // A token of the shared-secret kind, and one of another key pair.
    let (code, _) = refused(&url, Config::new().token(token("mallory"))).await;
    assert_eq!(code, 4001);
    let ec = JwtSigner::from_private_key_pem(&std::fs::read(key("ec.pem")).unwrap(), None)
        .unwrap()
        .sign(&Claims::for_user("mallory", Duration::from_secs(60)))
        .unwrap();
    let (code, _) = refused(&url, Config::new().token(ec)).await;
    assert_eq!(code, 4001);
    assert!(server.healthy().await);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_jwks_server_picks_the_key_by_kid() {
    let server = TandemProcess::start_with(&["--token-jwks", path(&key("jwks.json"))]).await;
    let url = server.url();
    let signer =
        JwtSigner::from_private_key_pem(&std::fs::read(key("ed25519.pem")).unwrap(), None).unwrap();
    let claims = Claims::for_user("ada", Duration::from_secs(60));
    let good = signer.clone().kid("ed-1").sign(&claims).unwrap();
    let ada: Client<Chat> = within("connect", Client::connect(&url, Config::new().token(good)))
        .await
        .unwrap();
    ada.join("room").await.unwrap();
    let unknown = signer.kid("ed-9").sign(&claims).unwrap();
    let (code, message) = refused(&url, Config::new().token(unknown)).await;
    assert_eq!(code, 4001);
    assert!(message.contains("ed-9"), "{message}");
}

/// Python's `http.server` serving `dir` on a free loopback port, and that port.
async fn static_http(dir: &std::path::Path) -> (tokio::process::Child, u16) {
    use tokio::io::AsyncBufReadExt;
    let mut child = tokio::process::Command::new("python3")
        .args([
            "-u",
            "-m",
            "http.server",
            "0",
            "--bind",
            "127.0.0.1",
            "--directory",
        ])
        .arg(dir)
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    let mut lines = tokio::io::BufReader::new(child.stdout.take().unwrap()).lines();
    let line = within("http.server to print its port", lines.next_line())
        .await
        .unwrap()
        .unwrap();
    // "Serving HTTP on 127.0.0.1 port 40123 (http://127.0.0.1:40123/) ..."
    let port = line
        .split_whitespace()
        .skip_while(|w| *w != "port")
        .nth(1)
        .and_then(|p| p.parse().ok())
        .unwrap_or_else(|| panic!("no port in {line:?}"));
    tokio::spawn(async move { while let Ok(Some(_)) = lines.next_line().await {} });
    (child, port)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_jwks_url_is_fetched_again_when_a_new_key_appears() {
    let all: serde_json::Value =
        serde_json::from_slice(&std::fs::read(key("jwks.json")).unwrap()).unwrap();
    let only = |kids: &[&str]| {
        let keys: Vec<_> = all["keys"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|k| kids.contains(&k["kid"].as_str().unwrap()))
            .cloned()
            .collect();
        serde_json::json!({ "keys": keys }).to_string()
    };
    let dir = std::env::temp_dir().join(format!("tandem-jwks-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join("jwks.json"), only(&["ec-1"])).unwrap();
    let (_http, port) = static_http(&dir).await;
    let jwks = format!("http://127.0.0.1:{port}/jwks.json");
    let server =
        TandemProcess::start_with(&["--token-jwks", &jwks, "--token-jwks-refetch", "0s"]).await;
    let url = server.url();
    let claims = Claims::for_user("ada", Duration::from_secs(60));
    let ec = JwtSigner::from_private_key_pem(&std::fs::read(key("ec.pem")).unwrap(), None)
        .unwrap()
        .kid("ec-1");
    let ed = JwtSigner::from_private_key_pem(&std::fs::read(key("ed25519.pem")).unwrap(), None)
        .unwrap()
        .kid("ed-1");
    let ada: Client<Chat> = within(
        "connect",
        Client::connect(&url, Config::new().token(ec.sign(&claims).unwrap())),
    )
    .await
    .unwrap();
    ada.join("room").await.unwrap();
    // Signed with a key not published yet: fetched again, still unknown, refused.
    let (code, message) = refused(&url, Config::new().token(ed.sign(&claims).unwrap())).await;
    assert_eq!(code, 4001);
    assert!(message.contains("ed-1"), "{message}");
    // Published beside the old one: the next token with it is accepted, no restart.
    std::fs::write(dir.join("jwks.json"), only(&["ec-1", "ed-1"])).unwrap();
    let bo: Client<Chat> = within(
        "connect",
        Client::connect(&url, Config::new().token(ed.sign(&claims).unwrap())),
    )
    .await
    .unwrap();
    bo.join("room").await.unwrap();
    let _ = std::fs::remove_dir_all(&dir);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_jwks_url_that_does_not_answer_stops_the_server_at_startup() {
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_tandem"))
        .args(["serve", "--addr", "127.0.0.1:0", "--token-jwks"])
        // Port 9 (discard) on loopback: nothing listens there.
        .arg("http://127.0.0.1:9/jwks.json")
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("--token-jwks") && err.contains("127.0.0.1:9"),
        "{err}"
    );
}

#[test]
fn tandem_token_mints_what_the_server_accepts() {
    let run = |args: &[&str]| {
        let out = std::process::Command::new(env!("CARGO_BIN_EXE_tandem"))
            .arg("token")
            .args(args)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8(out.stdout).unwrap().trim().to_owned()
    };
    let token = run(&[
        "--secret",
        SECRET,
        "--user",
        "ada",
        "--ttl",
        "10m",
        "--rooms",
        "docs/*=subscribe+history,lobby",
        "--audience",
        "tandem",
        "--issuer",
        "auth",
        "--info",
        r#"{"name":"Ada"}"#,
    ]);
    let claims = JwtVerifier::hs256(SECRET)
        .audience("tandem")
        .issuer("auth")
        .verify(&token)
        .unwrap();
    assert_eq!(claims.sub, "ada");
    assert!(
        (590..=600).contains(&(claims.exp - now())),
        "{}",
        claims.exp
    );
    assert!(claims.rights("lobby").contains(Right::Publish));
    assert!(claims.rights("docs/a").contains(Right::History));
    assert!(!claims.rights("docs/a").contains(Right::Publish));
    assert_eq!(claims.info, Some(serde_json::json!({"name": "Ada"})));

    let ec = key("ec.pem");
    let token = run(&["--private-key", path(&ec), "--kid", "ec-1", "--user", "bo"]);
    let jwks = JwtVerifier::from_jwks(&std::fs::read(key("jwks.json")).unwrap()).unwrap();
    assert_eq!(jwks.verify(&token).unwrap().sub, "bo");
}
