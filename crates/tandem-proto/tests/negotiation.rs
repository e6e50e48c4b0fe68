//! Negotiation at both levels: the subprotocol and the application schema.

#![allow(clippy::unwrap_used)] // tests panic on purpose when an expectation fails

mod support;

#[cfg(target_arch = "wasm32")]
use wasm_bindgen_test::wasm_bindgen_test as test;

use support::Net;
use tandem_proto::negotiate::{NegotiationError, ProtocolSelection, select_protocol};
use tandem_proto::{AppSchema, ClientConfig, CloseReason, ConnectionState, ServerConfig, close};

#[test]
fn picks_the_first_common_protocol_in_client_preference_order() {
    let offered = [
        "tandem.v3.json",
        "tandem.v2.json",
        "tandem.v1.json",
        "tandem",
    ];
    let supported = ["tandem.v1.json", "tandem.v2.json"];
    assert_eq!(
        select_protocol(&offered, &supported),
        ProtocolSelection::Speak("tandem.v2.json")
    );
}

#[test]
fn no_common_protocol_is_explained_or_refused() {
    let with_marker = select_protocol(&["tandem.v9.json", "tandem"], &["tandem.v1.json"]);
    assert!(matches!(
        with_marker,
        ProtocolSelection::Explain(NegotiationError::NoCommonProtocol { .. })
    ));
    let without = select_protocol(&["chat"], &["tandem.v1.json"]);
    let ProtocolSelection::Refuse(e) = without else {
        panic!("expected refusal, got {without:?}");
    };
    assert!(
        e.to_string().contains("tandem.v1.json"),
        "the reason names what the server speaks: {e}"
    );
}

#[test]
fn app_version_picks_the_first_common_in_client_order() {
    let server = AppSchema::new("board", [1, 2, 3]);
    let offer = AppSchema::new("board", [4, 3, 2]).offer();
    assert_eq!(server.select(&offer).unwrap().version, 3);
}

#[test]
fn app_version_without_overlap_fails_on_both_sides() {
    let mut net = Net::new(ServerConfig {
        app: AppSchema::new("board", [1]),
        ..ServerConfig::default()
    });
    let c = net.client(ClientConfig {
        app: AppSchema::new("board", [2, 3]),
        ..ClientConfig::default()
    });
    // Server side: an error frame and close 4004.
    assert_eq!(net.closes.len(), 1);
    assert_eq!(net.closes[0].1, close::APP_VERSION_MISMATCH);
    // Client side: closed for good with the reason, no retry.
    let ConnectionState::Closed(CloseReason::AppVersionMismatch(why)) = net.state(c) else {
        panic!("expected app version mismatch, got {:?}", net.state(c));
    };
    assert!(why.contains("[2, 3]") && why.contains("[1]"), "{why}");
    net.advance(core::time::Duration::from_secs(60));
    assert_eq!(net.peers[c].connects, 1, "no retry loop");
}

#[test]
fn app_name_mismatch_fails_too() {
    let server = AppSchema::new("board", [1]);
    let e = server
        .select(&AppSchema::new("chat", [1]).offer())
        .unwrap_err();
    assert!(matches!(e, NegotiationError::AppNameMismatch { .. }));
}

#[test]
fn client_reports_a_server_that_speaks_no_common_protocol() {
    // The server completed the handshake with the marker, then closes 4005.
    let mut session = tandem_proto::Session::new(ClientConfig::default(), 1);
    let now = tandem_proto::Instant::ZERO;
    session.connect(now);
    while session.poll_transmit().is_some() {}
    session.handle_open(now, Some(tandem_proto::PROTOCOL_MARKER));
    session.handle_closed(
        now,
        Some(close::PROTOCOL_MISMATCH),
        "no common wire protocol; server speaks tandem.v2.json",
    );
    assert!(
        matches!(session.state(), ConnectionState::Closed(CloseReason::ProtocolMismatch(r)) if r.contains("tandem.v2.json"))
    );

    // A server that selects nothing at all is refused by the client.
    let mut session = tandem_proto::Session::new(ClientConfig::default(), 1);
    session.connect(now);
    while session.poll_transmit().is_some() {}
    session.handle_open(now, None);
    assert!(matches!(
        session.state(),
        ConnectionState::Closed(CloseReason::ProtocolMismatch(_))
    ));
}

#[test]
fn the_client_offers_its_configured_protocols() {
    use tandem_proto::{Instant, Session, Transmit};
    let offered = |config: ClientConfig| {
        let mut session = Session::new(config, 1);
        session.connect(Instant::ZERO);
        match session.poll_transmit() {
            Some(Transmit::Connect { protocols }) => protocols,
            other => panic!("expected a connect, got {other:?}"),
        }
    };
    assert_eq!(
        offered(ClientConfig::default()),
        ["tandem.v1.json", "tandem"],
        "by default: every version spoken, then the marker"
    );
    let only_v1 = ClientConfig {
        protocols: vec!["tandem.v1.json".into()],
        ..ClientConfig::default()
    };
    assert_eq!(offered(only_v1), ["tandem.v1.json"]);
}
