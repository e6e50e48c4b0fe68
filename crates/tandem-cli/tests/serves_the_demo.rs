//! What `cargo xtask demo` relies on from `tandem serve`: the built web app is served on
//! the WebSocket port (compressed, hashed assets cached for good, the page revalidated),
//! guest names make one member of several tabs, the demo's typed request is answered,
//! and a dropped connection recovers.

#![allow(clippy::unwrap_used)]

mod support;

use std::io::Read;
use std::net::SocketAddr;

use support::{TandemProcess, http_get, messages, wait_for, wait_state, within};
use tandem_client::{Client, Config, ConnectionState, Error, Event};
use tandem_demo::{DemoMessage, DemoReply, DemoRequest};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// A hashed asset as Vite names them, large enough to be worth compressing.
const HASHED_JS: &str = "assets/index-lvYJhvBw.js";

/// A directory with a tiny web app in it, removed on drop.
struct App(std::path::PathBuf);

impl App {
    /// `name` keeps the directories of tests running at once apart.
    fn new(name: &str) -> Self {
        let dir = std::env::temp_dir().join(format!("tandem-{name}-{}", std::process::id()));
        std::fs::create_dir_all(dir.join("assets")).unwrap();
        std::fs::write(dir.join("index.html"), "<h1>demo</h1>").unwrap();
        std::fs::write(dir.join("assets/app.js"), "export {}").unwrap();
        std::fs::write(dir.join(HASHED_JS), hashed_js()).unwrap();
        std::fs::write(dir.join(".secret"), "no").unwrap();
        App(dir)
    }
}

impl Drop for App {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// The content of [`HASHED_JS`]: about 6 KB of repetitive JavaScript.
fn hashed_js() -> String {
    (0..100)
        .map(|n| format!("export const line{n} = 'tandem demo line {n}';\n"))
        .collect()
}

/// One HTTP/1.1 GET of `path` with `headers` (each `Name: value`): the response head
/// (lines without the blank one) and the body as bytes.
async fn get(addr: SocketAddr, path: &str, headers: &[&str]) -> (String, Vec<u8>) {
    within("an HTTP answer", async {
        let mut s = tokio::net::TcpStream::connect(addr).await.unwrap();
        let mut req = format!("GET {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n");
        for header in headers {
            req.push_str(&format!("{header}\r\n"));
        }
        req.push_str("\r\n");
        s.write_all(req.as_bytes()).await.unwrap();
        let mut out = Vec::new();
        s.read_to_end(&mut out).await.unwrap();
        let split = out.windows(4).position(|w| w == b"\r\n\r\n").unwrap();
        let body = out.split_off(split + 4);
        (String::from_utf8(out).unwrap(), body)
    })
    .await
}

/// The value of header `name` in a response head, if present.
fn header<'a>(head: &'a str, name: &str) -> Option<&'a str> {
    head.lines().skip(1).find_map(|line| {
        let (n, v) = line.split_once(':')?;
        n.trim().eq_ignore_ascii_case(name).then(|| v.trim())
    })
}

async fn guest(url: &str, name: &str) -> Client<DemoMessage> {
    let config = Config::new().token(format!("guest:{name}"));
    within("connect", Client::connect(url, config))
        .await
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn serves_files_and_never_outside_the_directory() {
    let app = App::new("static");
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
async fn compresses_hashed_assets_caches_them_for_good_and_revalidates_the_page() {
    let app = App::new("compressed");
    let dir = app.0.to_string_lossy().into_owned();
    let server = TandemProcess::start(&["--static-dir", &dir]).await;
    let js = hashed_js();
    let path = format!("/{HASHED_JS}");

    let (head, body) = get(server.addr(), &path, &["Accept-Encoding: br, gzip"]).await;
    assert!(head.starts_with("HTTP/1.1 200"), "{head}");
    assert_eq!(header(&head, "content-encoding"), Some("br"), "{head}");
    assert_eq!(header(&head, "vary"), Some("Accept-Encoding"), "{head}");
    assert_eq!(
        header(&head, "cache-control"),
        Some("public, max-age=31536000, immutable"),
        "{head}"
    );
    assert!(
        header(&head, "content-type").is_some_and(|t| t.starts_with("text/javascript")),
        "{head}"
    );
    assert_eq!(
        header(&head, "content-length"),
        Some(&*body.len().to_string())
    );
    assert!(
        body.len() * 4 < js.len(),
        "{} of {} bytes",
        body.len(),
        js.len()
    );
    let mut decoded = Vec::new();
    brotli::Decompressor::new(&body[..], 4096)
        .read_to_end(&mut decoded)
        .unwrap();
    assert_eq!(decoded, js.as_bytes(), "brotli decodes to the file");

    let (head, body) = get(server.addr(), &path, &["Accept-Encoding: gzip, br;q=0"]).await;
    assert_eq!(header(&head, "content-encoding"), Some("gzip"), "{head}");
    let mut decoded = Vec::new();
    flate2::read::GzDecoder::new(&body[..])
        .read_to_end(&mut decoded)
        .unwrap();
    assert_eq!(decoded, js.as_bytes(), "gzip decodes to the file");

    let (head, body) = get(server.addr(), &path, &[]).await;
    assert!(head.starts_with("HTTP/1.1 200"), "{head}");
    assert_eq!(header(&head, "content-encoding"), None, "{head}");
    assert_eq!(header(&head, "vary"), Some("Accept-Encoding"), "{head}");
    assert_eq!(body, js.as_bytes(), "sent as it is without Accept-Encoding");

    // The page itself is revalidated: no-cache with an ETag, and 304 while it matches.
    let (head, body) = get(server.addr(), "/", &["Accept-Encoding: br, gzip"]).await;
    assert!(head.starts_with("HTTP/1.1 200"), "{head}");
    assert_eq!(header(&head, "cache-control"), Some("no-cache"), "{head}");
    assert_eq!(
        header(&head, "content-encoding"),
        None,
        "too small to compress"
    );
    assert_eq!(body, b"<h1>demo</h1>");
    let etag = header(&head, "etag").expect("an ETag").to_owned();
    let (head, body) = get(server.addr(), "/", &[&format!("If-None-Match: {etag}")]).await;
    assert!(head.starts_with("HTTP/1.1 304"), "{head}");
    assert_eq!(header(&head, "etag"), Some(&*etag), "{head}");
    assert!(body.is_empty());
    let (head, _) = get(server.addr(), "/index.html", &["If-None-Match: \"other\""]).await;
    assert!(head.starts_with("HTTP/1.1 200"), "{head}");
    let (head, _) = get(server.addr(), "/assets/app.js", &[]).await;
    assert_eq!(header(&head, "cache-control"), Some("no-cache"), "unhashed");
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
    let chat = DemoMessage::Chat {
        text: "hi".into(),
        at: None,
    };
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
