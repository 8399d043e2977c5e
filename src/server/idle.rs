//! Closing connections that go quiet: an IO wrapper that records activity, and the deadline
//! a connection must show some by.
//!
//! hyper's `header_read_timeout` starts with the first byte of a request, so a client that
//! completes the TLS handshake and then says nothing would hold a connection slot forever;
//! a thousand of those lock every API server out (measured with the load harness's
//! `--idle`). A connection must send its first bytes within `first_request` of the handshake,
//! and may then stay idle between requests for `keep_alive` (longer than the Go client's 90 s
//! idle timeout, so the API server always closes first and never sends on a connection we
//! are closing).
//!
//! At the connection limit, a newcomer takes the slot of the oldest connection that is still
//! silent ([`Silent`]): otherwise a flood of silent connections would keep every real client
//! out for the whole first-request timeout, again and again.

use std::collections::VecDeque;
use std::io;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, Weak};
use std::task::{Context, Poll};
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::sync::Notify;
use tokio::time::Instant;

/// When a connection last moved bytes, in ms since it was accepted; `u64::MAX` = never.
#[derive(Debug)]
pub struct Activity {
    base: Instant,
    last_ms: AtomicU64,
    evict: Notify,
}

impl Activity {
    /// A connection accepted now, silent so far.
    pub fn new() -> Arc<Activity> {
        Arc::new(Activity {
            base: Instant::now(),
            last_ms: AtomicU64::new(u64::MAX),
            evict: Notify::new(),
        })
    }

    /// Whether the connection has not moved a byte since its handshake.
    pub fn is_silent(&self) -> bool {
        self.last_ms.load(Ordering::Relaxed) == u64::MAX
    }

    /// Resolves when [`Silent::evict_oldest`] picked this connection.
    pub async fn evicted(&self) {
        self.evict.notified().await;
    }

    fn touch(&self) {
        let ms = self.base.elapsed().as_millis() as u64;
        self.last_ms.store(ms, Ordering::Relaxed);
    }

    /// The moment the connection counts as idle, given the two limits.
    pub fn deadline(&self, first_request: Duration, keep_alive: Duration) -> Instant {
        match self.last_ms.load(Ordering::Relaxed) {
            u64::MAX => self.base + first_request,
            ms => self.base + Duration::from_millis(ms) + keep_alive,
        }
    }
}

/// The connections accepted and still silent, oldest first.
#[derive(Debug, Default)]
pub struct Silent {
    queue: Mutex<VecDeque<Weak<Activity>>>,
}

impl Silent {
    /// Adds a connection that just completed its handshake.
    pub fn register(&self, a: &Arc<Activity>) {
        let mut q = self.queue.lock().unwrap_or_else(|e| e.into_inner());
        // Entries of connections that spoke or ended are dropped lazily, in bulk.
        if q.len() >= 1024 && q.len().is_power_of_two() {
            q.retain(|w| w.upgrade().is_some_and(|a| a.is_silent()));
        }
        q.push_back(Arc::downgrade(a));
    }

    /// Asks the oldest still-silent connection to close; false when there is none.
    pub fn evict_oldest(&self) -> bool {
        let mut q = self.queue.lock().unwrap_or_else(|e| e.into_inner());
        while let Some(w) = q.pop_front() {
            if let Some(a) = w.upgrade()
                && a.is_silent()
            {
                a.evict.notify_one();
                return true;
            }
        }
        false
    }
}

/// `S`, recording every read or write that moved bytes in an [`Activity`].
pub struct Tracked<S> {
    inner: S,
    activity: Arc<Activity>,
}

impl<S> Tracked<S> {
    /// Wraps `inner`.
    pub fn new(inner: S, activity: Arc<Activity>) -> Self {
        Tracked { inner, activity }
    }
}

impl<S: AsyncRead + Unpin> AsyncRead for Tracked<S> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let before = buf.filled().len();
        let r = Pin::new(&mut self.inner).poll_read(cx, buf);
        if buf.filled().len() > before {
            self.activity.touch();
        }
        r
    }
}

impl<S: AsyncWrite + Unpin> AsyncWrite for Tracked<S> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        data: &[u8],
    ) -> Poll<io::Result<usize>> {
        let r = Pin::new(&mut self.inner).poll_write(cx, data);
        if matches!(r, Poll::Ready(Ok(n)) if n > 0) {
            self.activity.touch();
        }
        r
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        let r = Pin::new(&mut self.inner).poll_write_vectored(cx, bufs);
        if matches!(r, Poll::Ready(Ok(n)) if n > 0) {
            self.activity.touch();
        }
        r
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

    #[tokio::test(start_paused = true)]
    async fn deadlines_follow_activity() {
        let a = Activity::new();
        let (first, keep) = (Duration::from_secs(10), Duration::from_secs(120));
        let start = Instant::now();
        assert_eq!(
            a.deadline(first, keep),
            start + first,
            "silent: first-request limit"
        );
        let (client, server) = tokio::io::duplex(64);
        let mut server = Tracked::new(server, a.clone());
        let mut client = client;
        tokio::time::advance(Duration::from_secs(3)).await;
        client.write_all(b"GET").await.expect("write");
        let mut buf = [0u8; 3];
        server.read_exact(&mut buf).await.expect("read");
        assert_eq!(
            a.deadline(first, keep),
            start + Duration::from_secs(3) + keep
        );
        tokio::time::advance(Duration::from_secs(5)).await;
        server.write_all(b"ok").await.expect("write");
        assert_eq!(
            a.deadline(first, keep),
            start + Duration::from_secs(8) + keep
        );
    }

    #[tokio::test]
    async fn eviction_picks_the_oldest_silent_connection() {
        let silent = Silent::default();
        let (old, talking, young) = (Activity::new(), Activity::new(), Activity::new());
        for a in [&old, &talking, &young] {
            silent.register(a);
        }
        talking.touch();
        assert!(silent.evict_oldest());
        tokio::time::timeout(Duration::from_secs(1), old.evicted())
            .await
            .expect("the oldest silent connection is told");
        assert!(
            silent.evict_oldest(),
            "then the young one (the talking one is skipped)"
        );
        tokio::time::timeout(Duration::from_secs(1), young.evicted())
            .await
            .expect("young told");
        assert!(!silent.evict_oldest(), "nobody left");
    }
}
