//! Tokens minted by foreign libraries, as a backend in another language would mint them:
//! PyJWT (Python) and npm `jose` (Node), both installed by `cargo xtask test`. Each mints an
//! HS256 token with the shared secret of `tandem serve --token-secret`, an RS256 token for
//! `--token-public-key`, and ES256 and EdDSA tokens with a `kid` for `--token-jwks`; a
//! native client connects with each, is the token's `sub`, and joins a room. The tokens
//! carry `rooms` (PyJWT the object shape, jose the list shape), `info`, `iat` and `nbf`.

#![allow(clippy::unwrap_used)]

mod support;

use std::path::PathBuf;

use support::{Chat, SECRET, TandemProcess, within};
use tandem_client::{Client, Config, ConnectionState};

fn repo(path: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../..")
        .join(path)
}

/// Runs the mint script of `program` and returns the token it printed.
async fn mint(program: &str, alg: &str, key: &str, user: &str, kid: Option<&str>) -> String {
    let script = match program {
        "python3" => repo("tests/foreign/python/mint_token.py"),
        _ => repo("tests/foreign/node/mint_token.mjs"),
    };
    let out = tokio::process::Command::new(program)
        .arg(script)
        .args([alg, key, user])
        .args(kid)
        .output()
        .await
        .unwrap_or_else(|e| panic!("cannot run {program} (cargo xtask test installs it): {e}"));
    assert!(
        out.status.success(),
        "{program} minting {alg}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap().trim().to_owned()
}

/// Connects to `server` with `token`, checks the user is `user` and joins a room.
async fn accepted(server: &TandemProcess, token: String, user: &str) {
    let client: Client<Chat> = within(
        "connect with a foreign token",
        Client::connect(&server.url(), Config::new().token(token)),
    )
    .await
    .unwrap_or_else(|e| panic!("{user}'s token refused: {e:?}"));
    assert_eq!(client.state(), ConnectionState::Open);
    assert_eq!(client.user().as_deref(), Some(user));
    client.join("mixed").await.unwrap();
    let members = client.members("mixed").await.unwrap();
    assert!(members.iter().any(|m| m.user == user), "{members:?}");
}

async fn foreign_tokens_are_accepted(program: &str) {
    let key = |name: &str| repo("tests/keys").join(name).to_str().unwrap().to_owned();

    let server = TandemProcess::start(&[]).await;
    let user = format!("{program}-hs");
    accepted(
        &server,
        mint(program, "HS256", SECRET, &user, None).await,
        &user,
    )
    .await;
    let forged = mint(program, "HS256", "another secret", "mallory", None).await;
    let url = server.url();
    let refused = Client::<Chat>::connect(&url, Config::new().token(forged));
    assert!(within("the refusal", refused).await.is_err());

    let rsa = TandemProcess::start_with(&["--token-public-key", &key("rsa.pub.pem")]).await;
    let user = format!("{program}-rs");
    accepted(
        &rsa,
        mint(program, "RS256", &key("rsa.pem"), &user, None).await,
        &user,
    )
    .await;

    let jwks = TandemProcess::start_with(&["--token-jwks", &key("jwks.json")]).await;
    for (alg, file, kid) in [
        ("ES256", "ec.pem", "ec-1"),
        ("EdDSA", "ed25519.pem", "ed-1"),
    ] {
        let user = format!("{program}-{kid}");
        let token = mint(program, alg, &key(file), &user, Some(kid)).await;
        accepted(&jwks, token, &user).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tokens_minted_by_pyjwt_are_accepted() {
    foreign_tokens_are_accepted("python3").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tokens_minted_by_node_jose_are_accepted() {
    foreign_tokens_are_accepted("node").await;
}
