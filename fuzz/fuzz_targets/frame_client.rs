//! The server's frame reader: bytes a client sent (`decode_from_client`).
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    tandem_fuzz::check(data, tandem_proto::decode_from_client, true);
});
