//! The client's frame reader: bytes a server sent (`decode_from_server`).
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    tandem_fuzz::check(data, tandem_proto::decode_from_server, false);
});
