//! One connection's write path for the frames the core sends it.
//!
//! tungstenite frames each message into a write buffer that it keeps, at the capacity of
//! the largest batch it ever wrote, for the connection's whole life: a `joined` snapshot
//! of a 100-member room left 1.5 KB on every idle connection. Here, queued frames are
//! framed (with tungstenite's [`FrameHeader`]) into a buffer that exists only while there
//! is something to write, so an idle connection keeps none. tungstenite still writes its
//! own frames (pongs, the close handshake); the pump lets it flush before this writer
//! starts a batch, and never lets it write while a frame here is half written.

use std::collections::VecDeque;
use std::io;

use tokio::io::{AsyncWrite, AsyncWriteExt};
use tokio_tungstenite::tungstenite::Utf8Bytes;
use tokio_tungstenite::tungstenite::protocol::frame::FrameHeader;
use tokio_tungstenite::tungstenite::protocol::frame::coding::{Data, OpCode};

/// Longest header of an unmasked frame: 2 bytes, then an 8-byte length.
const MAX_HEADER: usize = 10;

/// Text frames on their way to one socket.
#[derive(Debug)]
pub(crate) struct Writer {
    /// Frames taken from the outbox and not framed yet.
    queue: VecDeque<Utf8Bytes>,
    /// Framed bytes; `buf[..written]` are on the wire.
    buf: Vec<u8>,
    written: usize,
    /// Most bytes framed at once; a frame larger than this is framed on its own.
    chunk: usize,
}

impl Writer {
    /// A writer that frames up to `chunk` bytes at a time.
    pub(crate) fn new(chunk: usize) -> Self {
        Writer {
            queue: VecDeque::new(),
            buf: Vec::new(),
            written: 0,
            chunk: chunk.max(1),
        }
    }

    /// Queues `frames` after those already queued.
    pub(crate) fn extend(&mut self, frames: VecDeque<Utf8Bytes>) {
        if self.queue.is_empty() {
            self.queue = frames;
        } else {
            self.queue.extend(frames);
        }
    }

    /// Nothing queued and no frame half written.
    #[cfg(test)]
    pub(crate) fn is_idle(&self) -> bool {
        self.queue.is_empty() && self.written == self.buf.len()
    }

    /// Writes every queued frame to `stream`, then frees the buffers.
    ///
    /// Cancel safe: progress is kept in `self`, so a call dropped midway (the core ordered
    /// a close) is finished by the next call and the stream stays well framed.
    pub(crate) async fn write_to<S: AsyncWrite + Unpin>(
        &mut self,
        stream: &mut S,
    ) -> io::Result<()> {
        loop {
            if self.written == self.buf.len() && !self.frame_next()? {
                self.buf = Vec::new();
                self.written = 0;
                self.queue = VecDeque::new();
                return Ok(());
            }
            let n = stream.write(&self.buf[self.written..]).await?;
            if n == 0 {
                return Err(io::ErrorKind::WriteZero.into());
            }
            self.written += n;
        }
    }

    /// Frames the next queued frames, up to `chunk` bytes (at least one frame), into the
    /// buffer. `false` when nothing was queued.
    fn frame_next(&mut self) -> io::Result<bool> {
        self.buf.clear();
        self.written = 0;
        let (mut count, mut size) = (0, 0);
        for frame in &self.queue {
            let framed = MAX_HEADER + frame.len();
            if count > 0 && size + framed > self.chunk {
                break;
            }
            count += 1;
            size += framed;
        }
        self.buf.reserve_exact(size);
        let header = FrameHeader {
            opcode: OpCode::Data(Data::Text),
            ..FrameHeader::default()
        };
        for frame in self.queue.drain(..count) {
            header
                .format(frame.len() as u64, &mut self.buf)
                .map_err(io::Error::other)?;
            self.buf.extend_from_slice(frame.as_bytes());
        }
        Ok(count > 0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::pin::Pin;
    use std::task::{Context, Poll};
    use tokio_tungstenite::tungstenite::protocol::frame::Frame;

    /// A socket taking at most `step` bytes per write; after `writes_left` writes (when
    /// set) it stays pending, as a full socket does.
    #[derive(Default)]
    struct Trickle {
        out: Vec<u8>,
        step: usize,
        writes_left: Option<usize>,
    }

    impl AsyncWrite for Trickle {
        fn poll_write(
            mut self: Pin<&mut Self>,
            _: &mut Context<'_>,
            buf: &[u8],
        ) -> Poll<io::Result<usize>> {
            match &mut self.writes_left {
                Some(0) => return Poll::Pending,
                Some(left) => *left -= 1,
                None => {}
            }
            let n = buf.len().min(self.step);
            self.out.extend_from_slice(&buf[..n]);
            Poll::Ready(Ok(n))
        }
        fn poll_flush(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<io::Result<()>> {
            Poll::Ready(Ok(()))
        }
        fn poll_shutdown(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<io::Result<()>> {
            Poll::Ready(Ok(()))
        }
    }

    /// What tungstenite itself writes for `texts`, frame by frame.
    fn as_tungstenite_frames(texts: &[String]) -> Vec<u8> {
        let mut out = Vec::new();
        for t in texts {
            let frame = Frame::message(t.as_bytes().to_vec(), OpCode::Data(Data::Text), true);
            frame.format(&mut out).expect("formats into a Vec");
        }
        out
    }

    fn queue(texts: &[String]) -> VecDeque<Utf8Bytes> {
        texts.iter().map(|t| Utf8Bytes::from(t.as_str())).collect()
    }

    #[tokio::test]
    async fn frames_every_length_form_as_tungstenite_does_across_short_writes() {
        // 7-bit, 16-bit and 64-bit payload lengths, and chunks smaller than one frame.
        let texts: Vec<String> = [0, 1, 125, 126, 65_535, 65_536, 3]
            .iter()
            .map(|&n| "x".repeat(n))
            .collect();
        let mut socket = Trickle {
            step: 777,
            ..Trickle::default()
        };
        let mut writer = Writer::new(100);
        writer.extend(queue(&texts[..4]));
        writer.extend(queue(&texts[4..]));
        writer.write_to(&mut socket).await.expect("writes");
        assert_eq!(socket.out, as_tungstenite_frames(&texts));
        assert!(writer.is_idle());
        assert_eq!(writer.buf.capacity(), 0, "an idle writer keeps no buffer");
        assert_eq!(writer.queue.capacity(), 0, "an idle writer keeps no queue");
    }

    #[tokio::test]
    async fn a_write_dropped_midway_is_finished_by_the_next_call() {
        let texts = vec!["hello there".to_owned(), "second".to_owned()];
        let mut socket = Trickle {
            step: 5,
            writes_left: Some(1),
            ..Trickle::default()
        };
        let mut writer = Writer::new(1024);
        writer.extend(queue(&texts));
        let first = futures_util::FutureExt::now_or_never(writer.write_to(&mut socket));
        assert!(first.is_none(), "the socket stalled after 5 bytes");
        assert_eq!(socket.out.len(), 5);
        assert!(!writer.is_idle());
        // The socket drains: the rest comes from the same buffer, 5 bytes per write.
        socket.writes_left = None;
        writer.write_to(&mut socket).await.expect("writes");
        assert_eq!(socket.out, as_tungstenite_frames(&texts));
    }

    #[tokio::test]
    async fn a_socket_that_takes_nothing_is_an_error() {
        let mut socket = Trickle::default();
        let mut writer = Writer::new(64);
        writer.extend(queue(&["x".to_owned()]));
        let err = writer.write_to(&mut socket).await.expect_err("no progress");
        assert_eq!(err.kind(), io::ErrorKind::WriteZero);
    }
}
