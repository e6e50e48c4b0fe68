//! The HTTP/1.1 request head that starts every connection: read with a size limit, then
//! either upgraded to a WebSocket or answered (`/healthz`, errors).

use std::io;

use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};

/// Most headers a request head may carry.
const MAX_HEADERS: usize = 64;

/// A parsed request head. Header names are lowercase.
#[derive(Debug)]
pub(crate) struct RequestHead {
    pub method: String,
    pub path: String,
    headers: Vec<(String, String)>,
}

impl RequestHead {
    /// The first value of header `name` (lowercase).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }

    /// Every comma-separated token of every `name` header, trimmed.
    pub fn tokens(&self, name: &str) -> Vec<String> {
        self.headers
            .iter()
            .filter(|(n, _)| n == name)
            .flat_map(|(_, v)| v.split(','))
            .map(|t| t.trim().to_owned())
            .filter(|t| !t.is_empty())
            .collect()
    }

    fn has_token(&self, name: &str, token: &str) -> bool {
        self.tokens(name)
            .iter()
            .any(|t| t.eq_ignore_ascii_case(token))
    }

    /// The `Sec-WebSocket-Key` when this is a valid WebSocket upgrade request, else why not.
    pub fn websocket_key(&self) -> Result<Option<&str>, &'static str> {
        if !self.has_token("upgrade", "websocket") {
            return Ok(None);
        }
        if self.method != "GET" {
            return Err("a WebSocket upgrade must be a GET");
        }
        if !self.has_token("connection", "upgrade") {
            return Err("missing `Connection: Upgrade`");
        }
        if self.header("sec-websocket-version") != Some("13") {
            return Err("only WebSocket version 13 is supported");
        }
        match self.header("sec-websocket-key") {
            Some(k) if !k.is_empty() => Ok(Some(k)),
            _ => Err("missing Sec-WebSocket-Key"),
        }
    }
}

/// Why no request head could be read.
#[derive(Debug, thiserror::Error)]
pub(crate) enum HeadError {
    #[error("request head over {0} bytes")]
    TooLarge(usize),
    #[error("malformed request head: {0}")]
    Malformed(httparse::Error),
    #[error("connection closed before a full request head")]
    Closed,
    #[error("reading the request head: {0}")]
    Io(#[from] io::Error),
}

/// Reads one request head of at most `max` bytes. Returns it and whatever bytes followed it.
pub(crate) async fn read_head<S: AsyncRead + Unpin>(
    stream: &mut S,
    max: usize,
) -> Result<(RequestHead, Vec<u8>), HeadError> {
    let mut buf = Vec::with_capacity(max.min(1024));
    loop {
        if buf.len() >= max {
            return Err(HeadError::TooLarge(max));
        }
        // Read straight into `buf` (no stack buffer: this future lives inside every
        // connection's task, whose size is that of its largest state).
        let want = 1024.min(max - buf.len());
        buf.reserve(want);
        let n = (&mut *stream).take(want as u64).read_buf(&mut buf).await?;
        if n == 0 {
            return Err(HeadError::Closed);
        }
        let mut headers = [httparse::EMPTY_HEADER; MAX_HEADERS];
        let mut req = httparse::Request::new(&mut headers);
        match req.parse(&buf) {
            Ok(httparse::Status::Partial) => continue,
            Ok(httparse::Status::Complete(len)) => {
                let head = RequestHead {
                    method: req.method.unwrap_or_default().to_owned(),
                    path: req.path.unwrap_or_default().to_owned(),
                    headers: req
                        .headers
                        .iter()
                        .map(|h| {
                            (
                                h.name.to_ascii_lowercase(),
                                String::from_utf8_lossy(h.value).into_owned(),
                            )
                        })
                        .collect(),
                };
                return Ok((head, buf.split_off(len)));
            }
            Err(httparse::Error::TooManyHeaders) => return Err(HeadError::TooLarge(max)),
            Err(e) => return Err(HeadError::Malformed(e)),
        }
    }
}

/// Writes a complete response with a body and `Connection: close`.
pub(crate) async fn respond<S: AsyncWrite + Unpin>(
    stream: &mut S,
    status: u16,
    content_type: &str,
    body: &str,
) -> io::Result<()> {
    respond_bytes(
        stream,
        status,
        content_type,
        body.as_bytes(),
        body.len() as u64,
    )
    .await
}

/// Writes a response whose `Content-Length` is `length` and whose body is `body` (empty
/// for the answer to a HEAD request), with `Connection: close`.
pub(crate) async fn respond_bytes<S: AsyncWrite + Unpin>(
    stream: &mut S,
    status: u16,
    content_type: &str,
    body: &[u8],
    length: u64,
) -> io::Result<()> {
    let reason = match status {
        200 => "OK",
        400 => "Bad Request",
        403 => "Forbidden",
        404 => "Not Found",
        405 => "Method Not Allowed",
        408 => "Request Timeout",
        426 => "Upgrade Required",
        431 => "Request Header Fields Too Large",
        503 => "Service Unavailable",
        _ => "Error",
    };
    let head = format!(
        "HTTP/1.1 {status} {reason}\r\nContent-Type: {content_type}\r\nContent-Length: {length}\r\n\
         Cache-Control: no-store\r\nX-Content-Type-Options: nosniff\r\nConnection: close\r\n\r\n"
    );
    stream.write_all(head.as_bytes()).await?;
    stream.write_all(body).await?;
    stream.flush().await
}

/// Closes after an error answer sent before the whole request was read: half-close, then
/// discard what the client is still sending (briefly, boundedly), so the kernel does not
/// answer the unread bytes with a reset that would destroy the response in flight.
pub(crate) async fn linger_close<S: AsyncRead + AsyncWrite + Unpin>(stream: &mut S) {
    const LINGER: std::time::Duration = std::time::Duration::from_secs(1);
    const MAX_DISCARD: usize = 1024 * 1024;
    let _ = stream.shutdown().await;
    let _ = tokio::time::timeout(LINGER, async {
        // On the heap: a stack array would be part of every connection task's size.
        let mut sink = vec![0u8; 4096];
        let mut discarded = 0;
        while discarded < MAX_DISCARD {
            match stream.read(&mut sink).await {
                Ok(0) | Err(_) => break,
                Ok(n) => discarded += n,
            }
        }
    })
    .await;
}

/// Writes the `101 Switching Protocols` answer to a WebSocket upgrade.
pub(crate) async fn switch_protocols<S: AsyncWrite + Unpin>(
    stream: &mut S,
    key: &str,
    protocol: &str,
) -> io::Result<()> {
    let accept = tokio_tungstenite::tungstenite::handshake::derive_accept_key(key.as_bytes());
    let head = format!(
        "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
         Sec-WebSocket-Accept: {accept}\r\nSec-WebSocket-Protocol: {protocol}\r\n\r\n"
    );
    stream.write_all(head.as_bytes()).await?;
    stream.flush().await
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    async fn parse(text: &str, max: usize) -> Result<(RequestHead, Vec<u8>), HeadError> {
        let mut r = text.as_bytes();
        read_head(&mut r, max).await
    }

    #[tokio::test]
    async fn reads_an_upgrade_and_keeps_what_follows() {
        let (head, rest) = parse(
            "GET /ws HTTP/1.1\r\nHost: a\r\nUpgrade: websocket\r\nConnection: keep-alive, Upgrade\r\n\
             Sec-WebSocket-Version: 13\r\nSec-WebSocket-Key: abc\r\n\
             Sec-WebSocket-Protocol: tandem.v1.json, tandem\r\n\r\nXY",
            8192,
        )
        .await
        .unwrap();
        assert_eq!(head.path, "/ws");
        assert_eq!(head.websocket_key(), Ok(Some("abc")));
        assert_eq!(
            head.tokens("sec-websocket-protocol"),
            ["tandem.v1.json", "tandem"]
        );
        assert_eq!(rest, b"XY");
    }

    #[tokio::test]
    async fn refuses_oversized_and_truncated_heads() {
        let big = format!("GET / HTTP/1.1\r\nX: {}\r\n\r\n", "a".repeat(9000));
        assert!(matches!(
            parse(&big, 8192).await,
            Err(HeadError::TooLarge(8192))
        ));
        assert!(matches!(
            parse("GET / HTTP/1.1\r\n", 8192).await,
            Err(HeadError::Closed)
        ));
        assert!(matches!(
            parse("\u{1}\u{2} nonsense\r\n\r\n", 8192).await,
            Err(HeadError::Malformed(_))
        ));
    }

    #[tokio::test]
    async fn a_plain_get_is_not_an_upgrade() {
        let (head, _) = parse("GET /healthz HTTP/1.1\r\n\r\n", 8192).await.unwrap();
        assert_eq!(head.websocket_key(), Ok(None));
    }
}
