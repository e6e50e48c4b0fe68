//! Requests in both directions over real sockets, with a timeout on each side: the client
//! asks the server's handler, and the handler asks the client back.

#![allow(clippy::unwrap_used)]

mod support;

use std::time::Duration;

use serde::{Deserialize, Serialize};
use support::{Chat, wait_for, within};
use tandem_client::{Client, Config, Error, Event, IncomingRequest, OpError};
use tandem_proto::{ErrorBody, ErrorCode, encode_payload};
use tandem_server::{Running, Server, ServerError};

#[derive(Debug, Serialize, Deserialize, PartialEq)]
#[serde(tag = "op", rename_all = "snake_case")]
enum Ask {
    /// Answered at once with the value doubled.
    Double { value: i64 },
    /// The handler asks the client back and answers with what the client said.
    WhoAreYou,
    /// Never answered.
    Hang,
}

async fn server() -> Running {
    Server::builder()
        .configure(|c| c.request_timeout = Duration::from_millis(500))
        .on_request(|ctx, data| async move {
            let ask: Ask = tandem_proto::decode_payload(&data).map_err(|e| ErrorBody {
                code: ErrorCode::WrongType,
                message: e.to_string(),
            })?;
            match ask {
                Ask::Double { value } => Ok(encode_payload(&(value * 2)).unwrap()),
                Ask::WhoAreYou => match ctx
                    .server
                    .request(ctx.conn, None, "what is your name?")
                    .await
                {
                    Ok(answer) => Ok(answer),
                    Err(ServerError::Client(body)) => Ok(encode_payload(&body.code).unwrap()),
                    Err(e) => Err(ErrorBody {
                        code: ErrorCode::Unavailable,
                        message: e.to_string(),
                    }),
                },
                Ask::Hang => std::future::pending().await,
            }
        })
        .build()
        .bind("127.0.0.1:0")
        .await
        .unwrap()
}

async fn client(server: &Running) -> Client<Chat> {
    client_with_timeout(server, Duration::from_millis(500)).await
}

async fn client_with_timeout(server: &Running, timeout: Duration) -> Client<Chat> {
    let url = format!("ws://{}", server.local_addr());
    let config = Config::new().request_timeout(timeout);
    within("connect", Client::connect(&url, config))
        .await
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn client_asks_server() {
    let server = server().await;
    let c = client(&server).await;
    let doubled: i64 = c.request(None, &Ask::Double { value: 21 }).await.unwrap();
    assert_eq!(doubled, 42);
    // A request the handler cannot parse is a typed error, and the connection stays.
    let err = c.request::<_, i64>(None, &"nonsense").await.unwrap_err();
    assert!(
        matches!(
            &err,
            Error::Op(OpError::Server {
                code: ErrorCode::WrongType,
                ..
            })
        ),
        "{err:?}"
    );
    let again: i64 = c.request(None, &Ask::Double { value: 1 }).await.unwrap();
    assert_eq!(again, 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn client_request_times_out() {
    let server = server().await;
    let c = client(&server).await;
    let err = within("the timeout", c.request::<_, i64>(None, &Ask::Hang))
        .await
        .unwrap_err();
    assert_eq!(err, Error::Op(OpError::Timeout));
    // Still usable.
    let v: i64 = c.request(None, &Ask::Double { value: 2 }).await.unwrap();
    assert_eq!(v, 4);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn server_asks_client() {
    let server = server().await;
    let c = client(&server).await;
    let mut events = c.events();
    let answer = tokio::spawn({
        let c = c.clone();
        async move { c.request::<_, String>(None, &Ask::WhoAreYou).await }
    });
    let request = wait_for(&mut events, "the server's request", |e| match e {
        Event::Request(r) => Some(r),
        _ => None,
    })
    .await;
    assert_eq!(request.data::<String>().unwrap(), "what is your name?");
    request.respond("ada").unwrap();
    assert_eq!(within("the answer", answer).await.unwrap().unwrap(), "ada");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn server_request_times_out_when_the_client_never_answers() {
    let server = server().await;
    // The client waits longer than the server (500 ms, checked on a 1 s sweep).
    let c = client_with_timeout(&server, Duration::from_secs(5)).await;
    let mut events = c.events();
    let answer = tokio::spawn({
        let c = c.clone();
        async move { c.request::<_, ErrorCode>(None, &Ask::WhoAreYou).await }
    });
    // Hold the request without answering (dropping it would answer `rejected`).
    let held: IncomingRequest = wait_for(&mut events, "the server's request", |e| match e {
        Event::Request(r) => Some(r),
        _ => None,
    })
    .await;
    let code = within("the server-side timeout", answer)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(code, ErrorCode::Timeout);
    drop(held);
    // The server also reaches a client by its connection id directly.
    let handle = server.handle();
    assert_eq!(handle.connections(), 1);
    let err = handle.request(9999, None, &1).await.unwrap_err();
    assert!(
        matches!(&err, ServerError::Client(b) if b.code == ErrorCode::Unavailable),
        "{err:?}"
    );
}
