//! What `cargo xtask demo` relies on from `tandem serve`: the built web app is served on
//! the WebSocket port, guest names make one member of several tabs, the demo's typed
//! request is answered, and a dropped connection recovers.

#![allow(clippy::unwrap_used)]

mod support;

use support::{TandemProcess, http_get, messages, wait_for, wait_state, within};
use tandem_client::{Client, Config, ConnectionState, Error, Event};
use tandem_demo::{DemoMessage, DemoReply, DemoRequest};

/// A directory with a tiny web app in it, removed on drop.
struct App(std::path::PathBuf);

impl App {
    fn new() -> Self {
        let dir = std::env::temp_dir().join(format!("tandem-static-{}", std::process::id()));
        std::fs::create_dir_all(dir.join("assets")).unwrap();
        std::fs::write(dir.join("index.html"), "<h1>demo</h1>").unwrap();
        std::fs::write(dir.join("assets/app.js"), "export {}").unwrap();
        std::fs::write(dir.join(".secret"), "no").unwrap();
        App(dir)
    }
}

impl Drop for App {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

async fn guest(url: &str, name: &str) -> Client<DemoMessage> {
    let config = Config::new().token(format!("guest:{name}"));
    within("connect", Client::connect(url, config))
        .await
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn serves_files_and_never_outside_the_directory() {
    let app = App::new();
    let dir = app.0.to_string_lossy().into_owned();
    let server = TandemProcess::start(&["--static-dir", &dir]).await;
    let index = http_get(server.addr(), "/").await;
    assert!(index.starts_with("HTTP/1.1 200"), "{index}");
    assert!(index.contains("text/html"), "{index}");
    assert!(index.ends_with("<h1>demo</h1>"), "{index}");
    let js = http_get(server.addr(), "/assets/app.js?v=1").await;
    assert!(js.contains("text/javascript"), "{js}");
    for path in ["/../Cargo.toml", "/.secret", "/missing.js", "/%2e%2e/x"] {
        let answer = http_get(server.addr(), path).await;
        assert!(answer.starts_with("HTTP/1.1 404"), "{path}: {answer}");
    }
    assert!(server.healthy().await, "/healthz keeps its meaning");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn guest_names_make_one_member_of_two_tabs() {
    let server = TandemProcess::start(&["--guest-names"]).await;
    let url = server.url();
    let tab1 = guest(&url, "ada").await;
    let tab2 = guest(&url, "ada").await;
    let joined = tab1.join("room").await.unwrap();
    assert_eq!(joined.members.len(), 1);
    let joined = tab2.join("room").await.unwrap();
    let users: Vec<_> = joined.members.iter().map(|m| m.user.as_str()).collect();
    assert_eq!(users, ["ada"], "two tabs of one name are one member");

    // Neither a guest name nor signed with the server's secret: refused for good.
    let refused = Client::<DemoMessage>::connect(&url, Config::new().token("forged")).await;
    assert!(
        matches!(refused, Err(Error::Closed(_))),
        "a bad token closes for good: {refused:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn answers_the_demo_request_with_its_typed_reply() {
    let server = TandemProcess::start(&["--guest-names", "--demo"]).await;
    let client = guest(&server.url(), "ada").await;
    client.join("room").await.unwrap();
    let reply: DemoReply = client
        .request(Some("room"), &DemoRequest::ServerInfo)
        .await
        .unwrap();
    let DemoReply::ServerInfo {
        version,
        connections,
    } = reply;
    assert_eq!(version, env!("CARGO_PKG_VERSION"));
    assert_eq!(connections, 1);
    let wrong: Result<DemoReply, _> = client.request(Some("room"), &"not a request").await;
    assert!(
        wrong.is_err(),
        "a payload that is no DemoRequest is refused"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dropped_connection_recovers_and_keeps_the_room() {
    let server = TandemProcess::start(&["--guest-names"]).await;
    let url = server.url();
    let ada = guest(&url, "ada").await;
    let bob = guest(&url, "bob").await;
    let mut ada_events = ada.events();
    ada.join("room").await.unwrap();
    bob.join("room").await.unwrap();

    ada.drop_connection();
    wait_state(&mut ada_events, "reconnecting", |s| {
        matches!(s, ConnectionState::Reconnecting { .. })
    })
    .await;
    // Published while ada is away; she gets it on resume.
    let chat = DemoMessage::Chat { text: "hi".into() };
    bob.publish("room", &chat).await.unwrap();
    wait_state(&mut ada_events, "open again", |s| {
        *s == ConnectionState::Open
    })
    .await;
    let recovered = wait_for(&mut ada_events, "the rejoin", |e| match e {
        Event::Joined { recovered, .. } => Some(recovered),
        _ => None,
    })
    .await;
    assert_eq!(recovered, Some(true));
    let got = messages::<DemoMessage>(&mut ada_events, "room", 1).await;
    assert_eq!(got[0].1, chat);
}
