//! Hooks for the fuzz targets in `fuzz/` at the repository root: the crate-private HTTP
//! request-head reader made callable on a byte slice, compiled only with the `fuzzing`
//! feature (off by default, never used by the library itself). No behaviour of its own.

use std::future::Future;
use std::pin::{Pin, pin};
use std::task::{Context, Poll, Waker};

use tokio::io::{AsyncRead, ReadBuf};

/// What the server reads off a request head, and what it decides from it.
#[derive(Debug)]
pub struct Head {
    /// The method.
    pub method: String,
    /// The request target.
    pub path: String,
    /// The bytes after the head (the start of the WebSocket stream).
    pub rest: Vec<u8>,
    /// The key of a valid WebSocket upgrade (as the server checks it),
    /// `None` for a plain request, or why the upgrade is refused.
    pub websocket_key: Result<Option<String>, &'static str>,
    /// The offered subprotocols, as the server reads them.
    pub protocols: Vec<String>,
    /// The `Origin` header.
    pub origin: Option<String>,
    /// The `Host` header.
    pub host: Option<String>,
}

/// Reads one request head of at most `max` bytes from `input`, handed over at most `chunk`
/// bytes per read (as a slow peer would), with the server's own reader.
pub fn read_head(input: &[u8], max: usize, chunk: usize) -> Result<Head, String> {
    let mut stream = Chunked {
        data: input,
        chunk: chunk.max(1),
    };
    let mut read = pin!(crate::http::read_head(&mut stream, max));
    let mut cx = Context::from_waker(Waker::noop());
    // The stream is always ready, so the reader never waits.
    let Poll::Ready(result) = read.as_mut().poll(&mut cx) else {
        return Err("the head reader waited on a ready stream".to_owned());
    };
    let (head, rest) = result.map_err(|e| e.to_string())?;
    Ok(Head {
        websocket_key: head.websocket_key().map(|k| k.map(str::to_owned)),
        protocols: head.tokens("sec-websocket-protocol"),
        origin: head.header("origin").map(str::to_owned),
        host: head.header("host").map(str::to_owned),
        method: head.method,
        path: head.path,
        rest,
    })
}

/// A stream over `data` that hands out at most `chunk` bytes per read.
struct Chunked<'a> {
    data: &'a [u8],
    chunk: usize,
}

impl AsyncRead for Chunked<'_> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        _cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<std::io::Result<()>> {
        let n = self.chunk.min(self.data.len()).min(buf.remaining());
        let (now, later) = self.data.split_at(n);
        buf.put_slice(now);
        self.data = later;
        Poll::Ready(Ok(()))
    }
}
