//! Hooks for the fuzz targets in `fuzz/` at the repository root: the crate-private bus
//! parser made public, compiled only with the `fuzzing` feature (off by default, never used
//! by the library itself). No behaviour of its own.

use bytes::Bytes;
use tandem_server::BrokerMessage;

/// Reads one message from the bus, exactly as the broker's subscriber does on the node
/// named `me` (`None`: its own ephemeral message, skipped).
pub fn parse_bus(message: &[u8], me: &str) -> Result<Option<BrokerMessage>, String> {
    crate::wire::parse_bus(message, me).map_err(|e| e.to_string())
}

/// Reads one history entry (its sequence number and event frame), exactly as the broker does.
pub fn parse_entry(entry: &[u8]) -> Result<(u64, Bytes), String> {
    crate::wire::parse_entry(entry).map_err(|e| e.to_string())
}
