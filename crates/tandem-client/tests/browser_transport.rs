//! The browser transport in headless Chromium against a real `tandem serve` started by
//! `cargo xtask test` (its URL and tokens come in at compile time): connect, negotiate,
//! join, publish, request, close; a silent peer's death found by the heartbeat; close codes
//! reported; the callback client its bindings use. Native builds compile this file to
//! nothing.

#![cfg(target_arch = "wasm32")]
#![allow(clippy::unwrap_used)]

use std::future::Future;

use futures_util::future::{Either, select};
use gloo_timers::future::TimeoutFuture;
use serde::{Deserialize, Serialize};
use tandem_client::{
    AppSchema, Client, CloseReason, Config, ConnectionState, Error, Event, Events,
};
use wasm_bindgen_test::{wasm_bindgen_test, wasm_bindgen_test_configure};

wasm_bindgen_test_configure!(run_in_browser);

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
struct Chat {
    n: u32,
    text: String,
}

fn setting(value: Option<&'static str>, name: &str) -> &'static str {
    value.unwrap_or_else(|| panic!("{name} is set by `cargo xtask test`; run the suite with it"))
}

fn server_url() -> &'static str {
    setting(option_env!("TANDEM_TEST_URL"), "TANDEM_TEST_URL")
}

fn token(user: &str) -> String {
    match user {
        "alice" => setting(
            option_env!("TANDEM_TEST_TOKEN_ALICE"),
            "TANDEM_TEST_TOKEN_ALICE",
        ),
        _ => setting(
            option_env!("TANDEM_TEST_TOKEN_BOB"),
            "TANDEM_TEST_TOKEN_BOB",
        ),
    }
    .to_owned()
}

async fn within<T>(what: &str, fut: impl Future<Output = T>) -> T {
    match select(Box::pin(fut), TimeoutFuture::new(15_000)).await {
        Either::Left((v, _)) => v,
        Either::Right(_) => panic!("timed out waiting for {what}"),
    }
}

async fn wait_for<T>(
    events: &mut Events<Chat>,
    what: &str,
    mut pick: impl FnMut(Event<Chat>) -> Option<T>,
) -> T {
    within(what, async {
        loop {
            let e = events
                .next()
                .await
                .unwrap_or_else(|| panic!("stream ended before {what}"));
            if let Some(v) = pick(e) {
                return v;
            }
        }
    })
    .await
}

async fn connect(user: &str) -> Client<Chat> {
    within(
        "connect",
        Client::connect(server_url(), Config::new().token(token(user))),
    )
    .await
    .unwrap()
}

#[wasm_bindgen_test]
async fn connects_joins_publishes_requests_and_closes() {
    let alice = connect("alice").await;
    let bob = connect("bob").await;
    let mut bob_events = bob.events();
    alice.join("browser-room").await.unwrap();
    let joined = bob.join("browser-room").await.unwrap();
    let mut users: Vec<_> = joined.members.iter().map(|m| m.user.as_str()).collect();
    users.sort_unstable();
    assert_eq!(users, ["alice", "bob"]);

    for n in 0..5 {
        alice
            .publish(
                "browser-room",
                &Chat {
                    n,
                    text: format!("hello {n}"),
                },
            )
            .await
            .unwrap();
    }
    let mut got = Vec::new();
    while got.len() < 5 {
        let (from, data) = wait_for(&mut bob_events, "a message", |e| match e {
            Event::Message { from, data, .. } => Some((from, data)),
            _ => None,
        })
        .await;
        assert_eq!(from.as_deref(), Some("alice"));
        got.push(data.n);
    }
    assert_eq!(got, [0, 1, 2, 3, 4]);

    // `tandem serve --echo-requests` answers with the request's own payload.
    let answer: Chat = alice
        .request(
            Some("browser-room"),
            &Chat {
                n: 9,
                text: "echo".into(),
            },
        )
        .await
        .unwrap();
    assert_eq!(answer.n, 9);

    bob.close().await;
    assert_eq!(
        bob.state(),
        ConnectionState::Closed(CloseReason::ClientClosed)
    );
    let err = bob
        .publish(
            "browser-room",
            &Chat {
                n: 0,
                text: String::new(),
            },
        )
        .await;
    assert!(
        matches!(err, Err(Error::Closed(CloseReason::ClientClosed))),
        "{err:?}"
    );
    // The stream ends after the closed state.
    within("the end of the stream", async {
        while bob_events.next().await.is_some() {}
    })
    .await;
}

#[wasm_bindgen_test]
async fn heartbeat_finds_a_silent_peer() {
    let url = setting(
        option_env!("TANDEM_TEST_SILENT_URL"),
        "TANDEM_TEST_SILENT_URL",
    );
    let client: Client<Chat> = within("connect", Client::connect(url, Config::new()))
        .await
        .unwrap();
    let mut events = client.events();
    // The peer announced 300 ms + 300 ms and never answers the ping.
    let state = wait_for(
        &mut events,
        "reconnecting after the heartbeat",
        |e| match e {
            Event::State(s @ ConnectionState::Reconnecting { .. }) => Some(s),
            _ => None,
        },
    )
    .await;
    assert!(
        matches!(state, ConnectionState::Reconnecting { attempt: 1, .. }),
        "{state:?}"
    );
    client.close().await;
}

#[wasm_bindgen_test]
async fn close_codes_are_reported() {
    let err = within(
        "refusal",
        Client::<Chat>::connect(server_url(), Config::new().token("x.y")),
    )
    .await
    .unwrap_err();
    assert!(
        matches!(
            &err,
            Error::Closed(CloseReason::Unauthorized { code: 4001, .. })
        ),
        "{err:?}"
    );
    let config = Config::new()
        .token(token("alice"))
        .app(AppSchema::new("default", [7]));
    let err = within("refusal", Client::<Chat>::connect(server_url(), config))
        .await
        .unwrap_err();
    assert!(
        matches!(&err, Error::Closed(CloseReason::AppVersionMismatch(_))),
        "{err:?}"
    );
    assert!(Client::<Chat>::start("http://nope", Config::new()).is_err());
}

/// In the browser an async token provider runs as a local task, and a callback provider
/// (what the npm package uses) answers through its reply; both are asked before each
/// attempt, and both connect.
#[wasm_bindgen_test]
async fn token_providers_async_and_callback_connect() {
    let asked = std::rc::Rc::new(std::cell::Cell::new(0));
    let counter = asked.clone();
    let config = Config::new().token_provider(move || {
        counter.set(counter.get() + 1);
        async { Ok(token("alice")) }
    });
    let client = within("connect", Client::<Chat>::connect(server_url(), config))
        .await
        .unwrap();
    assert_eq!(asked.get(), 1);
    client.close().await;

    let counter = asked.clone();
    let config = Config::new().token_callback(move |reply| {
        counter.set(counter.get() + 1);
        reply(Ok(token("bob")));
    });
    let client = within("connect", Client::<Chat>::connect(server_url(), config))
        .await
        .unwrap();
    assert_eq!(asked.get(), 2);
    client.close().await;
}

/// The callback client runs its callbacks outside its own calls, so each may call it again:
/// the open state joins, the join's answer publishes, the publish's answer closes.
/// Every answer and event arrives, in order.
#[wasm_bindgen_test]
async fn callback_client_callbacks_may_call_it_again() {
    use std::cell::RefCell;
    use std::rc::{Rc, Weak};
    use tandem_client::{CallbackClient, ClientEvent, JoinOptions};
    use tokio::sync::mpsc;

    type Slot = Rc<RefCell<Option<CallbackClient>>>;
    /// Runs `f` on the client in `slot`, if it is still there.
    fn on(slot: &Weak<RefCell<Option<CallbackClient>>>, f: impl FnOnce(&CallbackClient)) {
        if let Some(slot) = slot.upgrade() {
            if let Some(client) = &*slot.borrow() {
                f(client);
            }
        }
    }

    let slot: Slot = Rc::default();
    let (log, mut seen) = mpsc::unbounded_channel::<String>();
    let on_event = {
        let slot = Rc::downgrade(&slot);
        move |event: ClientEvent| match event {
            ClientEvent::StateChanged(ConnectionState::Open) => {
                let (slot2, log) = (slot.clone(), log.clone());
                on(&slot, |c| {
                    c.join("callback-room", JoinOptions::new(), move |joined| {
                        let _ = log.send(format!("joined: {}", joined.is_ok()));
                        on(&slot2, |c| {
                            let data =
                                tandem_proto::Payload::from_json(r#"{"n":1,"text":"again"}"#)
                                    .unwrap();
                            let slot3 = slot2.clone();
                            c.publish("callback-room", data, move |seq| {
                                let _ = log.send(format!("published: {}", seq.is_ok()));
                                on(&slot3, |c| c.close(|| {}));
                            });
                        });
                    });
                });
            }
            ClientEvent::Message { data, .. } => {
                let _ = log.send(format!("message: {}", data.get()));
            }
            ClientEvent::StateChanged(ConnectionState::Closed(reason)) => {
                let _ = log.send(format!("closed: {reason:?}"));
            }
            _ => {}
        }
    };
    let client =
        CallbackClient::start(server_url(), Config::new().token(token("alice")), on_event).unwrap();
    *slot.borrow_mut() = Some(client);
    let mut got = Vec::new();
    while got.len() < 4 {
        let line = within("the callback client's next answer", seen.recv()).await;
        got.push(line.unwrap());
    }
    // On one node the publisher's own event comes before its `ack` (PROTOCOL.md).
    assert_eq!(
        got,
        [
            "joined: true",
            r#"message: {"n":1,"text":"again"}"#,
            "published: true",
            "closed: ClientClosed",
        ]
    );
}
