//! A read-ahead buffer under TLS that exists only while it holds bytes.
//!
//! rustls reads its socket 4 KiB at a time, so a 10 KB AdmissionReview cost three `recv`
//! calls; reading a whole TLS record (16 KiB) at once makes it one. A plain `BufReader`
//! would keep 16 KiB per connection forever, 16 MiB at the 1,024-connection limit; this
//! buffer is taken when a read finds it empty and given back as soon as it is drained, so
//! idle connections hold nothing.
//!
//! Buffers come from a small per-thread pool rather than the allocator: a fresh zeroed
//! 16 KiB buffer per request (two when readiness was stale) meant zeroing 16-32 KiB per
//! request, and evicting as much cache. A pooled buffer was zeroed once, when first made, so
//! it is always initialised memory. (docs/benchmarks.md, "Read-ahead buffer", has the
//! measurements.)

use std::cell::RefCell;
use std::io;
use std::pin::Pin;
use std::task::{Context, Poll};

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::TcpStream;

/// One TLS record: 16 KiB of plaintext plus header, tag and padding.
pub const CAPACITY: usize = 16 * 1024 + 256;

/// Buffers kept for reuse per thread: enough for every connection a worker has in flight
/// at a busy moment, 530 KiB at most; beyond that they go back to the allocator.
const POOL: usize = 32;

thread_local! {
    static FREE: RefCell<Vec<Box<[u8]>>> = const { RefCell::new(Vec::new()) };
}

/// A buffer of `CAPACITY` bytes: a pooled one, or a new zeroed one.
fn take() -> Box<[u8]> {
    // `try_with`: during a thread's teardown the pool is gone; never panic for a buffer.
    FREE.try_with(|f| f.borrow_mut().pop())
        .ok()
        .flatten()
        .unwrap_or_else(|| vec![0u8; CAPACITY].into_boxed_slice())
}

/// Returns a buffer to this thread's pool, or frees it when the pool is full.
fn give(buf: Box<[u8]>) {
    let _ = FREE.try_with(|f| {
        let mut free = f.borrow_mut();
        if free.len() < POOL {
            free.push(buf);
        }
    });
}

/// Wraps a TCP stream; reads go through a transient buffer, writes go straight through.
#[derive(Debug)]
pub struct ReadAhead {
    inner: TcpStream,
    buf: Option<Box<[u8]>>,
    start: usize,
    end: usize,
}

impl ReadAhead {
    /// Wraps `inner` with no buffer allocated.
    pub fn new(inner: TcpStream) -> Self {
        ReadAhead {
            inner,
            buf: None,
            start: 0,
            end: 0,
        }
    }

    /// Whether a buffer is currently allocated (for tests).
    pub fn is_buffering(&self) -> bool {
        self.buf.is_some()
    }
}

impl AsyncRead for ReadAhead {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        dst: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = &mut *self;
        if this.buf.is_none() {
            if dst.remaining() >= CAPACITY {
                return Pin::new(&mut this.inner).poll_read(cx, dst);
            }
            // Wait for readiness before taking a buffer: a keep-alive connection spends
            // most of its life waiting here.
            std::task::ready!(this.inner.poll_read_ready(cx))?;
            // `poll_read`, not `try_read`: after a short read tokio marks the socket drained
            // (edge-triggered epoll), which spares the `recv` returning EAGAIN that would
            // otherwise follow every request. Keep the buffer initialised: the same read into
            // uninitialised memory stalled connections under hostile clients, for a cause
            // never found (docs/benchmarks.md, "Read-ahead buffer").
            let mut fresh = take();
            let mut read = ReadBuf::new(&mut fresh);
            match Pin::new(&mut this.inner).poll_read(cx, &mut read) {
                Poll::Ready(Ok(())) if !read.filled().is_empty() => {
                    let n = read.filled().len();
                    (this.buf, this.start, this.end) = (Some(fresh), 0, n);
                }
                other => {
                    // End of stream, an error, or stale readiness (the waker is registered).
                    give(fresh);
                    return other;
                }
            }
        }
        if let Some(buf) = &this.buf {
            let n = dst.remaining().min(this.end - this.start);
            dst.put_slice(&buf[this.start..this.start + n]);
            this.start += n;
            if this.start == this.end
                && let Some(drained) = this.buf.take()
            {
                give(drained);
            }
        }
        Poll::Ready(Ok(()))
    }
}

impl AsyncWrite for ReadAhead {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        data: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.inner).poll_write(cx, data)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.inner).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    use tokio::net::TcpListener;

    async fn pair() -> (TcpStream, ReadAhead) {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let addr = listener.local_addr().expect("addr");
        let client = TcpStream::connect(addr).await.expect("connect");
        let (server, _) = listener.accept().await.expect("accept");
        (client, ReadAhead::new(server))
    }

    #[tokio::test]
    async fn small_reads_see_every_byte_in_order_and_the_buffer_goes_when_drained() {
        let (mut client, mut r) = pair().await;
        let data: Vec<u8> = (0..100_000u32).map(|i| (i % 251) as u8).collect();
        let sent = data.clone();
        let writer = tokio::spawn(async move {
            client.write_all(&sent).await.expect("write");
        });
        let mut got = Vec::new();
        let mut chunk = [0u8; 4096];
        loop {
            let n = r.read(&mut chunk).await.expect("read");
            if n == 0 {
                break;
            }
            got.extend_from_slice(&chunk[..n]);
            // Between reads the buffer exists only while it still holds unread bytes.
            assert_eq!(r.is_buffering(), r.start < r.end);
        }
        writer.await.expect("writer");
        assert_eq!(got, data);
        assert!(!r.is_buffering(), "nothing buffered at end of stream");
    }

    #[test]
    fn drained_buffers_are_reused_and_the_pool_is_bounded() {
        // A thread of its own, so the pool starts empty.
        std::thread::spawn(|| {
            let a = take();
            let at = a.as_ptr();
            give(a);
            let again = take();
            assert_eq!(again.as_ptr(), at, "the drained buffer is handed out again");
            give(again);
            for _ in 0..POOL + 8 {
                give(vec![0u8; CAPACITY].into_boxed_slice());
            }
            assert_eq!(FREE.with(|f| f.borrow().len()), POOL);
            assert!(FREE.with(|f| f.borrow().iter().all(|b| b.len() == CAPACITY)));
        })
        .join()
        .expect("pool thread");
    }

    #[tokio::test]
    async fn an_idle_connection_holds_no_buffer() {
        let (_client, mut r) = pair().await;
        let mut chunk = [0u8; 4096];
        let waited =
            tokio::time::timeout(std::time::Duration::from_millis(50), r.read(&mut chunk)).await;
        assert!(waited.is_err(), "no data, so the read is still pending");
        assert!(!r.is_buffering());
    }

    #[tokio::test]
    async fn large_reads_bypass_the_buffer_and_writes_pass_through() {
        let (mut client, mut r) = pair().await;
        client.write_all(b"hello").await.expect("write");
        let mut big = vec![0u8; CAPACITY];
        let n = r.read(&mut big).await.expect("read");
        assert_eq!(&big[..n], b"hello");
        assert!(!r.is_buffering());
        r.write_all(b"back").await.expect("write");
        let mut four = [0u8; 4];
        client.read_exact(&mut four).await.expect("read");
        assert_eq!(&four, b"back");
    }
}
