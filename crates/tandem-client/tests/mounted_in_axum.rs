//! tandem mounted in a host's axum app: the host's routes and layers stay its own, the
//! host's session cookie is the connection's identity (no token), a request its layer
//! refuses never reaches tandem, and the mounted server shuts down its connections.

#![cfg(not(target_arch = "wasm32"))]
#![allow(clippy::unwrap_used)]

use core::time::Duration;

use axum::Router;
use axum::extract::Request;
use axum::http::StatusCode;
use axum::middleware::{self, Next};
use axum::response::Response;
use axum::routing::get;
use tandem_client::{Client, Config, ConnectionState, Event};
use tandem_server::{Identity, Mounted, Server};

/// The host's session check: the `session=<user>` cookie, or 401.
async fn sessions(mut request: Request, next: Next) -> Result<Response, StatusCode> {
    let user = request
        .headers()
        .get("cookie")
        .and_then(|c| c.to_str().ok())
        .and_then(|c| {
            c.split(';')
                .find_map(|kv| kv.trim().strip_prefix("session="))
        })
        .map(str::to_owned)
        .ok_or(StatusCode::UNAUTHORIZED)?;
    request.extensions_mut().insert(Identity(user));
    Ok(next.run(request).await)
}

/// The host app on a free port: its page at `/`, tandem at `/rt` behind the session layer.
async fn host(server: Server) -> (Mounted, String) {
    let tandem = server.mount();
    let app = Router::new()
        .route("/", get(|| async { "the host's page" }))
        .route(
            "/rt",
            tandem.axum_route().layer(middleware::from_fn(sessions)),
        );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await });
    (tandem, format!("{addr}"))
}

async fn within<T>(what: &str, fut: impl Future<Output = T>) -> T {
    tokio::time::timeout(Duration::from_secs(15), fut)
        .await
        .unwrap_or_else(|_| panic!("timed out waiting for {what}"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_hosts_session_is_the_connections_identity() {
    // A server that authenticates every hello would refuse a client without a token: the
    // host's identity comes first.
    let server = Server::builder()
        .authenticate(|_| async { Err(tandem_server::AuthError::Missing) })
        .build();
    let (tandem, addr) = host(server).await;
    let url = format!("ws://{addr}/rt");
    let ada: Client<String> = within(
        "ada to connect",
        Client::connect(
            &url,
            Config::new().header("cookie", "theme=dark; session=ada"),
        ),
    )
    .await
    .unwrap();
    assert_eq!(ada.user().as_deref(), Some("ada"));
    let bo: Client<String> = within(
        "bo to connect",
        Client::connect(&url, Config::new().header("cookie", "session=bo")),
    )
    .await
    .unwrap();
    let mut events = bo.events();
    ada.join("lobby").await.unwrap();
    bo.join("lobby").await.unwrap();
    ada.publish("lobby", &"hi from the host's user".to_owned())
        .await
        .unwrap();
    let (from, data) = within("bo to get ada's message", async {
        loop {
            if let Some(Event::Message { from, data, .. }) = events.next().await {
                return (from, data);
            }
        }
    })
    .await;
    assert_eq!(
        (from.as_deref(), data.as_str()),
        (Some("ada"), "hi from the host's user")
    );

    // The host's own route still answers.
    let page = raw_get(&addr, "/").await;
    assert!(
        page.starts_with("HTTP/1.1 200") && page.ends_with("the host's page"),
        "{page}"
    );

    // Shutting the mounted server down closes its clients with 1012 and a retry hint.
    let mut states = ada.events();
    tandem.shutdown(1012).await;
    within("ada to see the close", async {
        loop {
            if let Some(Event::State(ConnectionState::Reconnecting { .. })) = states.next().await {
                return;
            }
        }
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_upgrade_the_hosts_layer_refuses_never_reaches_tandem() {
    let (_tandem, addr) = host(Server::builder().build()).await;
    let request = format!(
        "GET /rt HTTP/1.1\r\nHost: {addr}\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\
         Sec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\
         Sec-WebSocket-Protocol: tandem.v1.json\r\n\r\n"
    );
    assert!(
        raw(&addr, &request).await.starts_with("HTTP/1.1 401"),
        "no cookie: the host's 401"
    );
    let with_cookie = request.replace("\r\n\r\n", "\r\nCookie: session=ada\r\n\r\n");
    let answer = raw(&addr, &with_cookie).await;
    assert!(answer.starts_with("HTTP/1.1 101"), "{answer}");
    assert!(
        answer.contains("sec-websocket-protocol: tandem.v1.json"),
        "{answer}"
    );
    let plain = "GET /rt HTTP/1.1\r\nHost: x\r\nCookie: session=ada\r\n\r\n";
    assert!(
        raw(&addr, plain).await.starts_with("HTTP/1.1 426"),
        "not an upgrade: 426"
    );
}

/// Sends `request` and reads what comes back until the head (and a short body) is in.
async fn raw(addr: &str, request: &str) -> String {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut stream = tokio::net::TcpStream::connect(addr).await.unwrap();
    stream.write_all(request.as_bytes()).await.unwrap();
    let mut buf = vec![0u8; 4096];
    let n = within("an answer", stream.read(&mut buf)).await.unwrap();
    String::from_utf8_lossy(&buf[..n]).into_owned()
}

async fn raw_get(addr: &str, path: &str) -> String {
    let text = raw(
        addr,
        &format!("GET {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n"),
    )
    .await;
    text.trim_end().to_owned()
}
