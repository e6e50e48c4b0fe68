//! Authentication against `tandem serve --token-secret`: no token, a bad token and an
//! expired token stop the client for good with the reason; a token provider that hands out
//! a fresh token gets the reconnect through. An unauthorized join is a typed error and the
//! connection stays open.

#![allow(clippy::unwrap_used)]

mod support;

use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use support::{Chat, SECRET, TandemProcess, token, within};
use tandem_client::{Client, CloseReason, Config, ConnectionState, Error, OpError};
use tandem_proto::ErrorCode;
use tandem_server::{Claims, HmacTokens, Server};

fn expired_token(user: &str) -> String {
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs();
    HmacTokens::new(SECRET).issue_claims(&Claims {
        sub: user.to_owned(),
        exp: now - 60,
    })
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

    let forged = HmacTokens::new("another secret").issue("mallory", Duration::from_secs(60));
    let (code, message) = refused(&url, Config::new().token(forged)).await;
    assert_eq!(code, 4001);
    assert!(message.contains("bad signature"), "{message}");

    let (code, message) = refused(&url, Config::new().token(expired_token("ada"))).await;
    assert_eq!(code, 4002);
    assert!(message.contains("expired"), "{message}");
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
        .hmac_tokens(HmacTokens::new(SECRET))
        .authorize_join(|ctx| async move {
            if ctx.room.starts_with("private-") && ctx.user != "admin" {
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
