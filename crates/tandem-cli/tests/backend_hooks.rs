//! Backend hooks over HTTP (`tandem serve --hook-url`) against a real backend: the Python
//! example of the README (`tests/foreign/python/backend.py`, standard library only), started
//! on a free port, and real `tandem serve` processes. The backend checks each call's HMAC
//! signature, lets users in by cookie or token, decides joins by a room rule, refuses or
//! rewrites publishes, answers requests and records disconnects (read back with
//! `GET /log`). A slow backend, one answering garbage and one that is down each end in a
//! typed error, fail-closed by default and fail-open when asked, and the server stays
//! healthy; calls in flight never exceed `--hook-concurrency`.

#![allow(clippy::unwrap_used)]

mod support;

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::Stdio;

use serde_json::{Value, json};
use support::metrics::http_get;
use support::{Chat, SECRET, TandemProcess, wait_for, within};
use tandem_client::{Client, Config, Error, Event};
use tandem_proto::{CloseReason, ErrorCode, OpError};
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::{Child, Command};

/// The secret tandem signs its calls with and the backend checks them with.
const HOOK_SECRET: &str = "hook-secret-do-not-use-in-production";

fn repo(path: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../..")
        .join(path)
}

/// The README's example backend, running.
struct Backend {
    child: Child,
    addr: SocketAddr,
}

impl Backend {
    async fn start() -> Self {
        let mut child = Command::new("python3")
            .arg(repo("tests/foreign/python/backend.py"))
            .arg(HOOK_SECRET)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .kill_on_drop(true)
            .spawn()
            .expect("python3 runs (cargo xtask test installs it)");
        let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
        let line = within("the backend to print its address", lines.next_line())
            .await
            .unwrap()
            .expect("the backend printed its address");
        let addr = line
            .strip_prefix("backend listening on http://")
            .unwrap_or_else(|| panic!("unexpected first line {line:?}"))
            .parse()
            .unwrap();
        tokio::spawn(async move { while let Ok(Some(_)) = lines.next_line().await {} });
        Backend { child, addr }
    }

    /// The URL for `--hook-url`.
    fn url(&self) -> String {
        format!("http://{}/tandem", self.addr)
    }

    /// What the backend recorded (`GET /log`).
    async fn log(&self) -> Value {
        let (status, _, body) = http_get(self.addr, "/log").await;
        assert_eq!(status, 200, "{body}");
        serde_json::from_str(&body).unwrap()
    }

    /// Stops it for good (SIGKILL).
    async fn kill(&mut self) {
        self.child.kill().await.unwrap();
    }
}

/// `tandem serve` asking `backend` with the hook secret, and `extra` flags.
async fn serve(backend: &Backend, extra: &[&str]) -> TandemProcess {
    let url = backend.url();
    let flags = ["--hook-url", &url, "--hook-secret", HOOK_SECRET];
    TandemProcess::start_with(&[&flags[..], extra].concat()).await
}

/// alice, let in by her session cookie (the backend's `SESSIONS`).
fn alice() -> Config {
    Config::new()
        .header("Cookie", "theme=dark; session=session-of-alice")
        .seed(7)
}

/// bob, let in by his token (the backend's `TOKENS`; it grants him some rooms only).
fn bob() -> Config {
    Config::new().token("token-of-bob").seed(7)
}

async fn connect(server: &TandemProcess, config: Config) -> Client<Chat> {
    within("connect", Client::connect(&server.url(), config))
        .await
        .unwrap_or_else(|e| panic!("refused: {e:?}"))
}

/// The reason a connection is refused at hello (4001 and the server's message).
async fn refused(server: &TandemProcess, config: Config) -> String {
    let refused = within(
        "the refusal",
        Client::<Chat>::connect(&server.url(), config),
    )
    .await;
    match refused {
        Err(Error::Closed(CloseReason::Unauthorized { code, message })) => {
            assert_eq!(code, 4001, "{message}");
            message
        }
        Err(e) => panic!("refused otherwise: {e:?}"),
        Ok(_) => panic!("accepted"),
    }
}

/// The error a hello gets when the backend could not decide it, and the close after it:
/// 1013 with a retry hint, so clients come back rather than stop (raw socket, to see both).
async fn unavailable_at_hello(server: &TandemProcess, token: &str) -> String {
    use support::raw::{open, send, until_closed_with_reason};
    let mut ws = open(server.addr(), "tandem.v1.json", None).await.unwrap();
    let hello = json!({"v":1,"k":"hello","app":{"name":"default","versions":[1]},"token":token});
    send(&mut ws, &hello.to_string()).await;
    let (close, frames) = until_closed_with_reason(&mut ws).await;
    let (code, reason) = close.unwrap();
    assert_eq!(code, 1013, "{reason}");
    assert!(reason.contains("retry-after="), "{reason}");
    assert_eq!(frames[0]["code"], "unavailable", "{frames:?}");
    frames[0]["message"].as_str().unwrap().to_owned()
}

/// The server's typed error for an operation, and its message.
#[track_caller]
fn server_error<T: std::fmt::Debug>(result: Result<T, Error>, code: ErrorCode) -> String {
    match result {
        Err(Error::Op(OpError::Server { code: c, message })) if c == code => message,
        other => panic!("expected a {code:?} error, got {other:?}"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_readme_shows_the_backend_the_tests_run() {
    let readme = std::fs::read_to_string(repo("README.md")).unwrap();
    let backend = std::fs::read_to_string(repo("tests/foreign/python/backend.py")).unwrap();
    assert!(
        readme.contains(&format!("```python\n{backend}```\n")),
        "README.md's backend example differs from tests/foreign/python/backend.py: copy the \
         file into the README's \"Backend hooks over HTTP\" section"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_python_backend_decides_connect_join_publish_and_request() {
    let backend = Backend::start().await;
    let server = serve(&backend, &[]).await;

    // connect: by the session cookie of the upgrade, or by the hello's token.
    let alice = connect(&server, alice()).await;
    assert_eq!(alice.user().as_deref(), Some("alice"));
    let bob = connect(&server, bob()).await;
    assert_eq!(bob.user().as_deref(), Some("bob"));
    let stranger = Config::new().header("Cookie", "session=forged");
    assert!(refused(&server, stranger).await.contains("no session"));
    assert!(refused(&server, Config::new()).await.contains("no session"));

    // join: the backend's rule (private rooms are their owner's) ...
    alice.join("private/alice").await.unwrap();
    let message = server_error(alice.join("private/bob").await, ErrorCode::Forbidden);
    assert!(message.contains("not your private room"), "{message}");
    // ... and the rooms its connect answer granted, enforced by tandem.
    server_error(bob.join("team").await, ErrorCode::Forbidden);
    let joined = bob.join("lobby").await.unwrap();
    assert!(joined.members.iter().any(|m| m.user == "bob"));
    let mut events = bob.events();
    let joined = alice.join("lobby").await.unwrap();
    // The backend's `info` is the member's, which the client cannot forge.
    let info = |user: &str| {
        let m = joined.members.iter().find(|m| m.user == user).unwrap();
        serde_json::from_str::<Value>(m.info.as_ref().unwrap().get()).unwrap()
    };
    assert_eq!(info("alice"), json!({"name": "Alice"}));
    assert_eq!(info("bob"), json!({"name": "Bob"}));

    // publish: allowed, rewritten, refused; the others get what the backend let out, in
    // order.
    alice.publish("lobby", &Chat::new(1)).await.unwrap();
    let darn = Chat {
        n: 2,
        text: "darn it".into(),
    };
    alice.publish("lobby", &darn).await.unwrap();
    let spam = Chat {
        n: 3,
        text: "buy spam".into(),
    };
    let message = server_error(alice.publish("lobby", &spam).await, ErrorCode::Forbidden);
    assert!(message.contains("no spam here"), "{message}");
    alice.publish("lobby", &Chat::new(4)).await.unwrap();
    let got = support::messages(&mut events, "lobby", 3).await;
    let texts: Vec<_> = got.iter().map(|(_, m)| m.text.as_str()).collect();
    assert_eq!(texts, ["message 1", "d**n it", "message 4"]);
    // Ephemeral messages ask the backend too.
    alice.broadcast_acked("lobby", &darn).await.unwrap();
    let ephemeral = wait_for(
        &mut events,
        "the rewritten ephemeral message",
        |e| match e {
            Event::Ephemeral { data, .. } => Some(data),
            _ => None,
        },
    )
    .await;
    assert_eq!(ephemeral.unwrap().text, "d**n it");

    // request: answered by the backend, or refused with its error.
    let sum: Value = alice
        .request(Some("lobby"), &json!({"op": "add", "a": 2, "b": 3}))
        .await
        .unwrap();
    assert_eq!(sum, json!({"sum": 5, "user": "alice"}));
    let unknown = alice
        .request::<_, Value>(None, &json!({"op": "divide"}))
        .await;
    let message = server_error(unknown, ErrorCode::Rejected);
    assert!(message.contains("unknown op 'divide'"), "{message}");

    // disconnect: the backend hears who left, and how.
    alice.close().await;
    let gone = within("the backend to hear of alice's disconnect", async {
        loop {
            let log = backend.log().await;
            let found = log["disconnects"]
                .as_array()
                .unwrap()
                .iter()
                .find(|d| d["user"] == "alice")
                .cloned();
            if let Some(gone) = found {
                return gone;
            }
            tokio::time::sleep(std::time::Duration::from_millis(20)).await;
        }
    })
    .await;
    assert_eq!(gone["code"], 1000, "{gone}");
    assert!(gone["conn"].is_u64(), "{gone}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_backend_refuses_calls_not_signed_with_its_secret() {
    let backend = Backend::start().await;
    let url = backend.url();
    let wrong = TandemProcess::start_with(&["--hook-url", &url, "--hook-secret", "guess"]).await;
    assert!(refused(&wrong, alice()).await.contains("bad signature"));
    let unsigned = TandemProcess::start_with(&["--hook-url", &url]).await;
    assert!(refused(&unsigned, bob()).await.contains("bad signature"));
    // The same backend still serves a server that knows the secret.
    let right = serve(&backend, &[]).await;
    connect(&right, alice()).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_slow_backend_times_out_into_typed_errors_and_the_server_stays_healthy() {
    // The backend sleeps 5 s on `slow`; tandem waits 300 ms.
    let backend = Backend::start().await;
    let server = serve(&backend, &["--hook-timeout", "300ms"]).await;
    let bob_client = connect(&server, bob()).await;
    let message = server_error(bob_client.join("slow/room").await, ErrorCode::Forbidden);
    assert!(message.contains("did not answer within"), "{message}");
    // The connection goes on: the next join is decided as usual.
    bob_client.join("lobby").await.unwrap();
    // A hello the backend is too slow for is refused with `unavailable`, to retry later.
    let message = unavailable_at_hello(&server, "slow").await;
    assert!(message.contains("did not answer within"), "{message}");
    // The server stays healthy and serves the next client.
    server.wait_healthy(true).await;
    let alice = connect(&server, alice()).await;
    alice.join("lobby").await.unwrap();
    let sum: Value = alice
        .request(None, &json!({"op": "add", "a": 1, "b": 1}))
        .await
        .unwrap();
    assert_eq!(sum["sum"], 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_backend_answering_garbage_gets_typed_errors() {
    let backend = Backend::start().await;
    let server = serve(&backend, &[]).await;
    let bob = connect(&server, bob()).await;
    let message = server_error(bob.join("garbage/room").await, ErrorCode::Forbidden);
    assert!(message.contains("not understood"), "{message}");
    bob.join("lobby").await.unwrap();
    let garbage = Chat {
        n: 1,
        text: "garbage".into(),
    };
    let message = server_error(bob.publish("lobby", &garbage).await, ErrorCode::Unavailable);
    assert!(message.contains("not understood"), "{message}");
    let answer = bob
        .request::<_, Value>(None, &json!({"op": "garbage"}))
        .await;
    let message = server_error(answer, ErrorCode::Unavailable);
    assert!(message.contains("not understood"), "{message}");
    // Nothing else is affected.
    bob.publish("lobby", &Chat::new(2)).await.unwrap();
    assert!(server.healthy().await);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hook_calls_in_flight_never_exceed_hook_concurrency() {
    // Each `pair` request waits in the backend until a second one is in flight with it:
    // with two slots they pass two by two, and the backend never sees a third at once.
    let backend = Backend::start().await;
    let server = serve(
        &backend,
        &["--hook-concurrency", "2", "--hook-timeout", "10s"],
    )
    .await;
    let alice = connect(&server, alice()).await;
    let pair = json!({"op": "pair"});
    let asks = (0..6).map(|_| alice.request::<_, Value>(None, &pair));
    let answers = within("six paired requests", futures_util::future::join_all(asks)).await;
    for answer in answers {
        assert_eq!(answer.unwrap(), json!({"paired": true}));
    }
    assert_eq!(backend.log().await["max_in_flight"], 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_backend_down_fails_closed_by_default_and_open_when_asked() {
    let mut backend = Backend::start().await;
    // Tokens decide hellos (connect is not among the events), the backend the rest.
    let events = [
        "--token-secret",
        SECRET,
        "--hook-events",
        "join,publish,request,disconnect",
    ];
    let closed = serve(&backend, &events).await;
    let open = serve(&backend, &[&events[..], &["--hook-fail-open"]].concat()).await;
    let on_closed = support::chat_client(&closed.url(), "carol").await;
    let on_open = support::chat_client(&open.url(), "dave").await;
    for client in [&on_closed, &on_open] {
        client.join("lobby").await.unwrap();
        client.publish("lobby", &Chat::new(1)).await.unwrap();
    }

    backend.kill().await;

    // Fail-closed (the default): typed refusals, the connection open.
    let message = server_error(
        on_closed.publish("lobby", &Chat::new(2)).await,
        ErrorCode::Unavailable,
    );
    assert!(message.contains("unreachable"), "{message}");
    let message = server_error(on_closed.join("elsewhere").await, ErrorCode::Forbidden);
    assert!(message.contains("unavailable"), "{message}");
    let answer = on_closed
        .request::<_, Value>(None, &json!({"op": "add"}))
        .await;
    server_error(answer, ErrorCode::Unavailable);

    // Fail-open: joins and publishes go on as sent; a request has nobody to answer it.
    on_open.publish("lobby", &Chat::new(2)).await.unwrap();
    on_open.join("elsewhere").await.unwrap();
    let answer = on_open
        .request::<_, Value>(None, &json!({"op": "add"}))
        .await;
    server_error(answer, ErrorCode::Unavailable);

    // A connect hook that is down refuses every hello, fail-open or not (nobody to let
    // in), with `unavailable` and 1013: clients come back once it is up.
    let url = backend.url();
    for extra in [&[][..], &["--hook-fail-open"][..]] {
        let down = TandemProcess::start_with(&[&["--hook-url", &url][..], extra].concat()).await;
        let message = unavailable_at_hello(&down, "alice-token").await;
        assert!(message.contains("unreachable"), "{message}");
        assert!(down.healthy().await);
    }
    assert!(closed.healthy().await && open.healthy().await);
}
