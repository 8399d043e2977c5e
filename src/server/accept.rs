//! The hardened HTTPS accept loop: connection limit with eviction of silent connections, TLS
//! handshake and idle deadlines per connection, HTTP/1.1 and HTTP/2 on one port, and the
//! graceful drain after shutdown.

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use axum::Router;
use axum::http::{HeaderValue, header};
use axum::response::Response;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::server::conn::auto;
use hyper_util::server::graceful::{GracefulShutdown, Watcher};
use hyper_util::service::TowerToHyperService;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use tokio_rustls::TlsAcceptor;

use super::Options;
use super::idle::{Activity, Silent, Tracked};
use super::readahead::ReadAhead;
use super::tls::{CertStore, TlsError};

/// Serves `router` over TLS on `listener` until `shutdown` resolves, then stops accepting
/// and lets in-flight requests finish within `options.shutdown_timeout`.
pub async fn serve_tls(
    listener: TcpListener,
    certs: Arc<CertStore>,
    router: Router,
    options: Options,
    shutdown: impl Future<Output = ()>,
) -> Result<(), TlsError> {
    let draining = Arc::new(AtomicBool::new(false));
    let shared = Shared {
        acceptor: TlsAcceptor::from(Arc::new(certs.server_config()?)),
        http: Arc::new(http_builder(&options)),
        service: TowerToHyperService::new(close_when_draining(router, draining.clone())),
        silent: Arc::new(Silent::default()),
        handshake_timeout: options.handshake_timeout,
        first_request: options.first_request_timeout,
        keep_alive: options.keep_alive_timeout,
    };
    let slots = Arc::new(Semaphore::new(options.max_connections));
    let graceful = GracefulShutdown::new();
    tokio::pin!(shutdown);
    loop {
        let (stream, peer) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(conn) => conn,
                Err(e) => {
                    // EMFILE and friends: back off instead of spinning.
                    tracing::warn!(error = %e, "accept failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
            () = &mut shutdown => break,
        };
        let Some(permit) = admit(&slots, &shared.silent, peer, options.max_connections).await
        else {
            continue;
        };
        // Without TCP_NODELAY, small TLS records wait on Nagle + delayed ACK, which puts tens
        // of milliseconds on the p99 (docs/benchmarks.md, "TCP_NODELAY").
        let _ = stream.set_nodelay(true);
        tokio::spawn(serve_connection(
            stream,
            peer,
            permit,
            shared.clone(),
            graceful.watcher(),
        ));
    }
    // Stop accepting; connections already open keep being answered, each answer closing
    // its connection, until they are all gone or the drain window ends.
    drop(listener);
    draining.store(true, Ordering::Relaxed);
    drain(&slots, graceful, &options).await;
    Ok(())
}

/// What every connection's task needs, cloned into each (all cheap: `Arc`s and durations).
#[derive(Clone)]
struct Shared {
    acceptor: TlsAcceptor,
    http: Arc<auto::Builder<TokioExecutor>>,
    service: TowerToHyperService<Router>,
    /// Connections that have not said a word since their handshake, oldest first.
    silent: Arc<Silent>,
    handshake_timeout: Duration,
    first_request: Duration,
    keep_alive: Duration,
}

/// HTTP/1.1 (keep-alive, header read timeout) and HTTP/2 on the same connections.
fn http_builder(options: &Options) -> auto::Builder<TokioExecutor> {
    let mut builder = auto::Builder::new(TokioExecutor::new());
    builder
        .http1()
        .timer(TokioTimer::new())
        .header_read_timeout(options.header_timeout)
        .keep_alive(true);
    builder
        .http2()
        .timer(TokioTimer::new())
        .max_concurrent_streams(256)
        .keep_alive_interval(Duration::from_secs(30));
    builder
}

/// `router` with `Connection: close` on every answer once `draining` is set, so keep-alive
/// clients move to another replica after a completed request instead of losing one on a
/// connection we close.
fn close_when_draining(router: Router, draining: Arc<AtomicBool>) -> Router {
    router.layer(axum::middleware::map_response(move |mut res: Response| {
        let draining = draining.load(Ordering::Relaxed);
        async move {
            if draining {
                // HTTP/1.1 closes after this answer; hyper drops the header on HTTP/2.
                res.headers_mut()
                    .insert(header::CONNECTION, HeaderValue::from_static("close"));
            }
            res
        }
    }))
}

/// A connection slot for a newcomer, or `None` when it must be closed at once.
async fn admit(
    slots: &Arc<Semaphore>,
    silent: &Silent,
    peer: SocketAddr,
    max: usize,
) -> Option<OwnedSemaphorePermit> {
    match slots.clone().try_acquire_owned() {
        Ok(p) => Some(p),
        // Full: a connection that has not said a word since its handshake makes room.
        Err(_) if silent.evict_oldest() => {
            tokio::time::timeout(Duration::from_millis(100), slots.clone().acquire_owned())
                .await
                .ok()?
                .ok()
        }
        Err(_) => {
            tracing::warn!(%peer, max, "connection limit reached; closing new connection");
            None
        }
    }
}

/// One connection from handshake to close; holds its slot (`_permit`) until then.
async fn serve_connection(
    stream: TcpStream,
    peer: SocketAddr,
    _permit: OwnedSemaphorePermit,
    shared: Shared,
    watcher: Watcher,
) {
    let stream = ReadAhead::new(stream);
    let handshake = shared.acceptor.accept(stream);
    let tls = match tokio::time::timeout(shared.handshake_timeout, handshake).await {
        Ok(Ok(tls)) => tls,
        Ok(Err(e)) => {
            tracing::debug!(%peer, error = %e, "TLS handshake failed");
            return;
        }
        Err(_) => {
            tracing::debug!(%peer, "TLS handshake timed out");
            return;
        }
    };
    let activity = Activity::new();
    shared.silent.register(&activity);
    let io = Tracked::new(tls, activity.clone());
    let conn = watcher.watch(
        shared
            .http
            .serve_connection(TokioIo::new(io), shared.service),
    );
    tokio::pin!(conn);
    let (first_request, keep_alive) = (shared.first_request, shared.keep_alive);
    loop {
        let deadline = activity.deadline(first_request, keep_alive);
        tokio::select! {
            ended = &mut conn => {
                if let Err(e) = ended {
                    tracing::debug!(%peer, error = %e, "connection ended with an error");
                }
                break;
            }
            () = activity.evicted() => {
                if activity.is_silent() {
                    tracing::debug!(%peer, "connection limit reached: closing the oldest silent connection");
                    break;
                }
            }
            () = tokio::time::sleep_until(deadline) => {
                // The deadline moves with activity: sleep again unless it really passed.
                if activity.deadline(first_request, keep_alive) <= tokio::time::Instant::now() {
                    tracing::debug!(%peer, "closing a silent connection");
                    break;
                }
            }
        }
    }
}

/// After the listener closed: waits for the drain window (or until no connection is left),
/// then gives in-flight requests `options.shutdown_timeout` to finish.
async fn drain(slots: &Semaphore, graceful: GracefulShutdown, options: &Options) {
    let drain_end = tokio::time::Instant::now() + options.drain;
    while tokio::time::Instant::now() < drain_end
        && slots.available_permits() < options.max_connections
    {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    if tokio::time::timeout(options.shutdown_timeout, graceful.shutdown())
        .await
        .is_err()
    {
        tracing::warn!(timeout = ?options.shutdown_timeout, "shutdown timeout: closing remaining connections");
    }
}
