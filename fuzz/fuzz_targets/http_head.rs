//! The HTTP request-head reader (crates/tandem-server/src/http.rs) and what the server
//! decides from a head: upgrade or not, the Origin check, the subprotocol choice. The
//! first two bytes pick the size limit and how many bytes each read hands over (a slow
//! peer sends its head in pieces); the rest is the stream.
#![no_main]

use tandem_proto::negotiate::{SUPPORTED_PROTOCOLS, select_protocol};
use tandem_server::OriginPolicy;
use tandem_server::fuzzing::read_head;

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    let [limit, chunk, stream @ ..] = data else {
        return;
    };
    // 64 bytes to 16 KiB (the default limit is 8 KiB); reads of 1 to 256 bytes.
    let max = 64 * (1 + usize::from(*limit));
    let chunk = 1 + usize::from(*chunk);
    let Ok(head) = read_head(stream, max, chunk) else {
        return;
    };
    // The head is what httparse reads off the whole stream, within the limit, and what
    // followed it in the reads is the stream's next bytes.
    let mut headers = [httparse::EMPTY_HEADER; 64];
    let Ok(httparse::Status::Complete(len)) = httparse::Request::new(&mut headers).parse(stream)
    else {
        panic!("a head read in pieces that the whole stream does not hold: {head:?}");
    };
    assert!(len + head.rest.len() <= max);
    assert_eq!(stream.get(len..len + head.rest.len()), Some(&head.rest[..]));
    // Read whole, the same head: how a peer splits it changes nothing.
    let Ok(whole) = read_head(stream, max, max) else {
        panic!("a head read in pieces of {chunk} but not whole: {head:?}");
    };
    assert_eq!(
        format!(
            "{:?}",
            (
                &head.method,
                &head.path,
                &head.websocket_key,
                &head.protocols
            )
        ),
        format!(
            "{:?}",
            (
                &whole.method,
                &whole.path,
                &whole.websocket_key,
                &whole.protocols
            )
        )
    );
    if let Ok(Some(key)) = &head.websocket_key {
        assert!(!key.is_empty());
        assert_eq!(head.method, "GET");
    }
    for token in &head.protocols {
        assert!(!token.is_empty() && token.trim() == token && !token.contains(','));
    }
    let origin = head.origin.as_deref();
    let host = head.host.as_deref();
    for policy in [
        OriginPolicy::SameHost,
        OriginPolicy::Any,
        OriginPolicy::List(vec!["http://localhost:5173".to_owned()]),
    ] {
        let allowed = policy.allows(origin, host);
        assert!(allowed || origin.is_some(), "no Origin is always allowed");
    }
    let _ = select_protocol(&head.protocols, SUPPORTED_PROTOCOLS);
});
