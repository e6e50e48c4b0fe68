//! The reconnect schedule: deterministic under a seed, jitter within bounds, capped, reset
//! after a stable uptime, stopping on auth failure and normal close, honouring hints.

#![allow(clippy::unwrap_used)] // tests panic on purpose when an expectation fails

mod support;

use core::time::Duration;

#[cfg(target_arch = "wasm32")]
use wasm_bindgen_test::wasm_bindgen_test as test;

use support::Net;
use tandem_proto::{
    Backoff, ClientConfig, ClientEvent, CloseAction, CloseReason, ConnectionState, ErrorCode,
    Instant, Rng, ServerConfig, Session, Transmit, close,
};

fn schedule(seed: u64) -> Vec<u64> {
    let b = Backoff::default();
    let mut rng = Rng::new(seed);
    (1..=10)
        .map(|n| b.delay(n, None, &mut rng).unwrap().as_millis() as u64)
        .collect()
}

#[test]
fn schedule_is_fixed_under_a_seed() {
    assert_eq!(schedule(42), schedule(42));
    assert_ne!(schedule(42), schedule(43));
}

#[test]
fn jitter_stays_within_the_exponential_ceiling_and_the_cap() {
    let b = Backoff::default();
    assert_eq!(b.ceiling(1), Duration::from_millis(250));
    assert_eq!(b.ceiling(2), Duration::from_millis(500));
    assert_eq!(b.ceiling(5), Duration::from_millis(4000));
    assert_eq!(b.ceiling(6), Duration::from_secs(5), "capped");
    assert_eq!(b.ceiling(1000), Duration::from_secs(5), "no overflow");
    let mut rng = Rng::new(1);
    let mut max_seen = Duration::ZERO;
    for attempt in 1..=20 {
        for _ in 0..200 {
            let d = b.delay(attempt, None, &mut rng).unwrap();
            assert!(d <= b.ceiling(attempt), "attempt {attempt}: {d:?}");
            max_seen = max_seen.max(d);
        }
    }
    assert!(
        max_seen > Duration::from_secs(4),
        "full jitter reaches near the cap"
    );
}

#[test]
fn max_attempts_ends_the_schedule() {
    let b = Backoff {
        max_attempts: Some(3),
        ..Backoff::default()
    };
    let mut rng = Rng::new(1);
    assert!(b.delay(3, None, &mut rng).is_some());
    assert!(b.delay(4, None, &mut rng).is_none());
}

#[test]
fn a_hint_is_a_floor() {
    let b = Backoff::default();
    let mut rng = Rng::new(9);
    let hint = Duration::from_secs(5);
    for attempt in 1..5 {
        let d = b.delay(attempt, Some(hint), &mut rng).unwrap();
        assert!(d >= hint && d <= hint + b.ceiling(attempt), "{d:?}");
    }
}

#[test]
fn close_codes_decide_retry_or_stop() {
    assert_eq!(close::action(Some(close::NORMAL), ""), CloseAction::Stop);
    assert_eq!(
        close::action(Some(close::POLICY_VIOLATION), ""),
        CloseAction::Stop
    );
    assert_eq!(
        close::action(Some(close::UNAUTHORIZED), ""),
        CloseAction::RefreshToken
    );
    assert_eq!(
        close::action(Some(close::TOKEN_EXPIRED), ""),
        CloseAction::RefreshToken
    );
    assert_eq!(close::action(None, ""), CloseAction::Retry { hint: None });
    assert_eq!(
        close::action(Some(close::GOING_AWAY), ""),
        CloseAction::Retry { hint: None }
    );
    assert_eq!(
        close::action(Some(close::TRY_AGAIN_LATER), "busy; retry-after=1500"),
        CloseAction::Retry {
            hint: Some(Duration::from_millis(1500))
        }
    );
    assert_eq!(
        close::retry_hint(&close::reason_with_hint(
            "x".repeat(500).as_str(),
            Duration::from_secs(2)
        )),
        Some(Duration::from_secs(2))
    );
}

fn drive_to_open(s: &mut Session, now: Instant) {
    let mut sent_hello = false;
    while let Some(t) = s.poll_transmit() {
        if let Transmit::Connect { .. } = t {
            s.handle_open(now, Some(tandem_proto::PROTOCOL_V1_JSON));
        }
        if let Transmit::Send(_) = t {
            sent_hello = true;
        }
    }
    assert!(sent_hello);
    let welcome = br#"{"v":1,"k":"welcome","session":"c1","user":"u","app":{"name":"default","version":1},"heartbeat":{"interval_ms":25000,"timeout_ms":10000},"limits":{"max_frame_bytes":65536}}"#;
    s.handle_message(now, welcome);
    assert_eq!(s.state(), &ConnectionState::Open);
}

fn reconnect_attempt(s: &Session) -> u32 {
    match s.state() {
        ConnectionState::Reconnecting { attempt, .. } => *attempt,
        other => panic!("not reconnecting: {other:?}"),
    }
}

#[test]
fn attempts_reset_only_after_a_stable_uptime() {
    let mut s = Session::new(ClientConfig::default(), 3);
    let mut now = Instant::from_millis(0);
    s.connect(now);
    drive_to_open(&mut s, now);
    // Drops right after opening: attempts keep counting.
    for expected in 1..=3 {
        s.handle_closed(now, None, "reset");
        assert_eq!(reconnect_attempt(&s), expected);
        now = s.poll_timeout().unwrap();
        s.handle_timeout(now);
        drive_to_open(&mut s, now);
    }
    // Up for longer than `stable_after`: the counter starts over.
    now = now + Duration::from_secs(11);
    s.handle_timeout(now);
    while s.poll_transmit().is_some() {}
    s.handle_closed(now, None, "reset");
    assert_eq!(reconnect_attempt(&s), 1);
}

#[test]
fn normal_close_from_the_server_stops() {
    let mut s = Session::new(ClientConfig::default(), 3);
    let now = Instant::ZERO;
    s.connect(now);
    drive_to_open(&mut s, now);
    s.handle_closed(now, Some(close::NORMAL), "bye");
    assert!(matches!(
        s.state(),
        ConnectionState::Closed(CloseReason::ServerClosed { code: 1000, .. })
    ));
    assert_eq!(s.poll_timeout(), None, "no reconnect timer");
}

#[test]
fn retry_honours_the_1013_hint() {
    let mut s = Session::new(ClientConfig::default(), 3);
    let now = Instant::ZERO;
    s.connect(now);
    drive_to_open(&mut s, now);
    s.handle_closed(
        now,
        Some(close::TRY_AGAIN_LATER),
        "overloaded; retry-after=4000",
    );
    let ConnectionState::Reconnecting { delay: Some(d), .. } = s.state().clone() else {
        panic!("{:?}", s.state());
    };
    assert!(
        d >= Duration::from_secs(4) && d <= Duration::from_millis(4250),
        "{d:?}"
    );
    s.handle_timeout(now + Duration::from_millis(3999));
    assert!(
        matches!(s.state(), ConnectionState::Reconnecting { .. }),
        "not before the hint"
    );
}

#[test]
fn auth_failure_stops_without_a_token_refresh() {
    let mut net = Net::new(ServerConfig {
        authenticate: true,
        ..ServerConfig::default()
    });
    net.auth = Some(Box::new(|t| match t {
        Some("good") => Ok("alice".into()),
        _ => Err((ErrorCode::Unauthorized, "bad token".into())),
    }));
    let c = net.client(support::with_token("bad"));
    let ConnectionState::Closed(CloseReason::Unauthorized { code, message }) = net.state(c) else {
        panic!("{:?}", net.state(c));
    };
    assert_eq!(code, close::UNAUTHORIZED);
    assert_eq!(message, "bad token");
    net.advance(Duration::from_secs(120));
    assert_eq!(net.peers[c].connects, 1, "no retry loop");
}

#[test]
fn expired_token_is_refreshed_before_reconnecting() {
    let mut net = Net::new(ServerConfig {
        authenticate: true,
        ..ServerConfig::default()
    });
    net.auth = Some(Box::new(|t| match t {
        Some("fresh") => Ok("alice".into()),
        Some("stale") => Err((ErrorCode::TokenExpired, "token expired".into())),
        _ => Err((ErrorCode::Unauthorized, "bad token".into())),
    }));
    let mut tokens = vec!["fresh", "stale"];
    let hook: support::TokenHook = Box::new(move || Ok(tokens.pop().unwrap_or("bad").to_owned()));
    let config = ClientConfig {
        refresh_token: true,
        ..ClientConfig::default()
    };
    let c = net.client_with(config, Some(hook));
    net.run();
    assert!(net.advance_until(Duration::from_secs(5), |n| n.is_open(c)));
    let events = net.take(c);
    assert_eq!(
        find!(events, ClientEvent::TokenRequired => ()).len(),
        2,
        "one token per attempt"
    );
    assert_eq!(net.peers[c].connects, 2);
}

#[test]
fn a_refused_certificate_stops_without_a_retry() {
    assert_eq!(
        close::action(Some(close::TLS_HANDSHAKE), ""),
        CloseAction::Stop
    );
    let mut s = Session::new(ClientConfig::default(), 3);
    let now = Instant::ZERO;
    s.connect(now);
    // The transport's connect fails in the TLS handshake.
    while let Some(t) = s.poll_transmit() {
        if let Transmit::Connect { .. } = t {
            s.handle_closed(
                now,
                Some(close::TLS_HANDSHAKE),
                "invalid peer certificate: UnknownIssuer",
            );
        }
    }
    let ConnectionState::Closed(CloseReason::Tls(why)) = s.state().clone() else {
        panic!("{:?}", s.state());
    };
    assert!(why.contains("UnknownIssuer"), "{why}");
    assert_eq!(s.poll_timeout(), None, "no reconnect timer");
}
