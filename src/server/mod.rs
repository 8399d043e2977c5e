//! The HTTPS admission server: router and handlers, the hardened TLS accept loop, the
//! health/metrics listener, and graceful shutdown.
//!
//! Handlers only extract the body and call [`crate::admission`]; every HTTP-level failure is
//! an [`ApiError`] answered with a JSON body.

mod accept;
pub mod idle;
pub mod readahead;
pub mod report;
pub mod tls;

pub use accept::serve_tls;

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use axum::Router;
use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use http_body_util::{BodyExt, LengthLimitError, Limited};
use tokio::net::TcpListener;
use tokio::task::JoinHandle;
use tower_http::catch_panic::CatchPanicLayer;

use crate::admission::{Admission, Cluster, Endpoint, ReviewError};
use crate::health::{Metrics, Readiness};
use crate::policy_source::{PolicyHandle, Reloader};
use tls::CertStore;

/// Tunables of the server. The defaults are production's, and `bulwark serve`'s flags default
/// to them.
#[derive(Debug, Clone)]
pub struct Options {
    /// Largest accepted request body. The API server accepts 3 MiB objects and an UPDATE
    /// review carries two of them, hence 8 MiB rather than axum's 2 MB.
    pub max_body_bytes: usize,
    /// Time allowed to read a request's headers (slow-loris guard).
    pub header_timeout: Duration,
    /// Time allowed to read a request's body.
    pub body_timeout: Duration,
    /// Time allowed for a TLS handshake.
    pub handshake_timeout: Duration,
    /// Time a connection may stay silent after its handshake before its first request.
    pub first_request_timeout: Duration,
    /// Time a connection may stay idle between requests (above the API server's 90 s).
    pub keep_alive_timeout: Duration,
    /// Most concurrent connections; further ones are closed at once.
    pub max_connections: usize,
    /// How long in-flight requests may take to finish after SIGTERM.
    pub shutdown_timeout: Duration,
    /// After SIGTERM (the listener closed), how long connections already open keep being
    /// served, each answer carrying `Connection: close`, before idle ones are closed. The API server keeps reusing its keep-alive
    /// connections to a terminating pod; closing one while a request is on its way loses
    /// that request (Go does not retry a POST), whereas a `Connection: close` answer tells
    /// the client to reconnect elsewhere after a completed request.
    pub drain: Duration,
    /// How often certificate files are checked for rotation.
    pub cert_reload_interval: Duration,
    /// How often the policy file is checked for a new version; zero turns reloading off.
    pub policy_reload_interval: Duration,
    /// bulwark's own namespace: never evaluated, so bulwark can always recover itself.
    pub own_namespace: String,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            max_body_bytes: 8 * 1024 * 1024,
            header_timeout: Duration::from_secs(10),
            body_timeout: Duration::from_secs(10),
            handshake_timeout: Duration::from_secs(5),
            first_request_timeout: Duration::from_secs(10),
            keep_alive_timeout: Duration::from_secs(120),
            max_connections: 1024,
            shutdown_timeout: Duration::from_secs(20),
            drain: Duration::from_secs(3),
            cert_reload_interval: Duration::from_secs(5),
            policy_reload_interval: Duration::from_secs(5),
            own_namespace: "bulwark-system".into(),
        }
    }
}

/// Shared state of the handlers.
pub struct AppState {
    /// The active policy, swapped by the reloader; each review loads it once.
    pub policy: Arc<PolicyHandle>,
    /// Cluster state, when connected.
    pub cluster: Option<Arc<dyn Cluster>>,
    /// Metrics.
    pub metrics: Arc<Metrics>,
    /// Tunables.
    pub options: Options,
}

/// An HTTP-level failure, answered as JSON: `{"error": "...", "code": N}`.
#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    /// Content-Type is not JSON.
    #[error("Content-Type must be application/json, got {0:?}")]
    ContentType(String),
    /// Body larger than the limit.
    #[error("request body exceeds the {0}-byte limit")]
    TooLarge(usize),
    /// Body not received in time.
    #[error("request body not received within {0:?}")]
    Timeout(Duration),
    /// Body could not be read.
    #[error("cannot read request body: {0}")]
    Body(String),
    /// Not a usable AdmissionReview.
    #[error(transparent)]
    Review(#[from] ReviewError),
    /// Unknown path.
    #[error("not found: use POST /validate or POST /mutate")]
    NotFound,
}

impl ApiError {
    fn status(&self) -> StatusCode {
        match self {
            ApiError::TooLarge(_) => StatusCode::PAYLOAD_TOO_LARGE,
            ApiError::Timeout(_) => StatusCode::REQUEST_TIMEOUT,
            ApiError::NotFound => StatusCode::NOT_FOUND,
            _ => StatusCode::BAD_REQUEST,
        }
    }

    fn reason(&self) -> &'static str {
        match self {
            ApiError::ContentType(_) => "content_type",
            ApiError::TooLarge(_) => "too_large",
            ApiError::Timeout(_) => "body_timeout",
            ApiError::Body(_) => "body",
            ApiError::Review(_) => "bad_review",
            ApiError::NotFound => "not_found",
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let status = self.status();
        json_response(
            status,
            serde_json::to_vec(
                &serde_json::json!({"error": self.to_string(), "code": status.as_u16()}),
            )
            .unwrap_or_default(),
        )
    }
}

fn json_response(status: StatusCode, body: Vec<u8>) -> Response {
    let mut resp = Response::new(Body::from(body));
    *resp.status_mut() = status;
    resp.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    resp
}

/// The webhook routes, without hardening layers (see [`harden`]).
pub fn routes(state: Arc<AppState>) -> Router {
    Router::new()
        .route("/validate", post(validate))
        .route("/mutate", post(mutate))
        .fallback(|| async { ApiError::NotFound })
        .with_state(state)
}

/// Wraps a router so a panicking handler is logged, counted and answered with 500 while the
/// process keeps serving.
pub fn harden(router: Router, metrics: Arc<Metrics>) -> Router {
    router.layer(CatchPanicLayer::custom(
        move |panic: Box<dyn std::any::Any + Send>| {
            let what = panic
                .downcast_ref::<&str>()
                .map(|s| s.to_string())
                .or_else(|| panic.downcast_ref::<String>().cloned())
                .unwrap_or_else(|| "unknown panic".into());
            tracing::error!(panic = %what, "handler panicked; request answered with 500");
            // The layer is not told the request, so the endpoint is not known here.
            metrics.error("unknown", "panic");
            json_response(
                StatusCode::INTERNAL_SERVER_ERROR,
                serde_json::to_vec(&serde_json::json!({"error": "internal error", "code": 500}))
                    .unwrap_or_default(),
            )
        },
    ))
}

/// The webhook application: routes plus hardening.
pub fn app(state: Arc<AppState>) -> Router {
    let metrics = state.metrics.clone();
    harden(routes(state), metrics)
}

async fn validate(State(state): State<Arc<AppState>>, req: Request) -> Response {
    handle(&state, Endpoint::Validate, req).await
}

async fn mutate(State(state): State<Arc<AppState>>, req: Request) -> Response {
    handle(&state, Endpoint::Mutate, req).await
}

async fn handle(state: &AppState, endpoint: Endpoint, req: Request) -> Response {
    let start = Instant::now();
    match answer(state, endpoint, req, start).await {
        Ok(resp) => resp,
        Err(e) => {
            state.metrics.error(endpoint.as_str(), e.reason());
            state
                .metrics
                .observe(endpoint.as_str(), start.elapsed().as_secs_f64());
            tracing::info!(endpoint = endpoint.as_str(), error = %e, "bad request");
            e.into_response()
        }
    }
}

async fn answer(
    state: &AppState,
    endpoint: Endpoint,
    req: Request,
    start: Instant,
) -> Result<Response, ApiError> {
    let content_type = req
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    let mime = content_type.split(';').next().unwrap_or("").trim();
    if !mime.eq_ignore_ascii_case("application/json") {
        return Err(ApiError::ContentType(content_type.to_owned()));
    }
    let limit = state.options.max_body_bytes;
    let declared = req
        .headers()
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    if declared.is_some_and(|n| n > limit as u64) {
        return Err(ApiError::TooLarge(limit)); // refused before reading a byte
    }
    // `Limited` stops reading at the limit, so a lying or chunked body is never buffered whole.
    let body = Limited::new(req.into_body(), limit);
    let bytes = match tokio::time::timeout(state.options.body_timeout, body.collect()).await {
        Err(_) => return Err(ApiError::Timeout(state.options.body_timeout)),
        Ok(Err(e)) if e.downcast_ref::<LengthLimitError>().is_some() => {
            return Err(ApiError::TooLarge(limit));
        }
        Ok(Err(e)) => return Err(ApiError::Body(e.to_string())),
        Ok(Ok(collected)) => collected.to_bytes(),
    };
    // One load per review, held to the end: a reload meanwhile cannot mix two policies into
    // one answer. Taken after the body is read, so a slow body is judged by the newest.
    let policy = state.policy.current();
    let admission = Admission {
        policy: &policy,
        cluster: state.cluster.as_deref(),
        own_namespace: &state.options.own_namespace,
        today: crate::engine::exemptions::days_since_epoch(crate::clock::today()),
    };
    phase_boundary().await;
    let outcome = admission.review(endpoint, &bytes)?;
    let body = outcome.to_json();
    // The histogram's "body read to response": it includes the wait at the first phase
    // boundary (the reviews queued ahead of this one) but not the second (the writes).
    let elapsed = start.elapsed();
    state
        .metrics
        .record(endpoint.as_str(), &outcome, elapsed.as_secs_f64());
    // One line per request at DEBUG, because a line per request at INFO costs a visible share
    // of throughput (docs/benchmarks.md, "Request logging"); denials and audit findings at
    // INFO (audit exists to be read). Objects are never logged: they can hold secrets.
    let rules = outcome.rule_ids().join(",");
    let audited = outcome
        .findings
        .iter()
        .any(|(_, m)| *m == crate::config::Mode::Audit);
    if outcome.decision == crate::admission::Decision::Denied {
        tracing::info!(
            uid = %outcome.uid, endpoint = endpoint.as_str(), kind = %outcome.kind,
            namespace = %outcome.namespace, name = %outcome.name, operation = %outcome.operation,
            decision = outcome.decision.as_str(), mode = outcome.mode.as_str(), rules = %rules,
            dry_run = outcome.dry_run, latency_us = elapsed.as_micros() as u64, "admission denied"
        );
    } else if audited {
        tracing::info!(
            uid = %outcome.uid, endpoint = endpoint.as_str(), kind = %outcome.kind,
            namespace = %outcome.namespace, name = %outcome.name, operation = %outcome.operation,
            decision = outcome.decision.as_str(), mode = outcome.mode.as_str(), rules = %rules,
            dry_run = outcome.dry_run, latency_us = elapsed.as_micros() as u64, "admission audited"
        );
    } else {
        tracing::debug!(
            uid = %outcome.uid, endpoint = endpoint.as_str(), kind = %outcome.kind,
            namespace = %outcome.namespace, name = %outcome.name, operation = %outcome.operation,
            decision = outcome.decision.as_str(), mode = outcome.mode.as_str(), rules = %rules,
            dry_run = outcome.dry_run, latency_us = elapsed.as_micros() as u64, "admission reviewed"
        );
    }
    phase_boundary().await;
    Ok(json_response(StatusCode::OK, body))
}

/// Lets every other request that is ready on this worker thread reach the same point before
/// this one goes on, so that under load a worker runs its requests phase by phase (read and
/// decrypt them all, review them all, encrypt and write them all) rather than one request
/// at a time.
///
/// Why: a review in place costs much more than in a benchmark loop, because between two
/// reviews the kernel's network stack, rustls and hyper evict its code and data from the
/// caches. Run back to back, the reviews of a burst find the caches warm, and so do the
/// writes. Alone, there is no one to wait for, and the two yields cost two trips through the
/// scheduler (docs/benchmarks.md, "Phase batching", has both sides measured).
///
/// Tokio (1.54) wakes a task that called `yield_now` only once the worker has run out of
/// ready tasks and polled the I/O driver, so connections that became readable in the
/// meantime join the batch too. That is best effort (tokio promises no order); the
/// benchmark is what holds it to account.
async fn phase_boundary() {
    tokio::task::yield_now().await;
}

/// The plain-HTTP health and metrics routes: `/healthz`, `/readyz`, `/metrics`.
pub fn health_routes(metrics: Arc<Metrics>, readiness: Arc<Readiness>) -> Router {
    Router::new()
        .route("/healthz", get(|| async { "ok\n" }))
        .route(
            "/readyz",
            get({
                move || async move {
                    if readiness.is_ready() {
                        (StatusCode::OK, "ready\n")
                    } else {
                        (StatusCode::SERVICE_UNAVAILABLE, "not ready\n")
                    }
                }
            }),
        )
        .route(
            "/metrics",
            get(move || async move {
                (
                    [(
                        header::CONTENT_TYPE,
                        "application/openmetrics-text; version=1.0.0; charset=utf-8",
                    )],
                    metrics.encode(),
                )
            }),
        )
}

/// Resolves on SIGTERM or Ctrl-C.
pub async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {},
        () = term => {},
    }
}

/// Everything `bulwark serve` needs.
pub struct ServeConfig {
    /// Webhook listen address.
    pub listen: SocketAddr,
    /// Health/metrics listen address.
    pub health_listen: SocketAddr,
    /// Certificate store (already loaded).
    pub certs: Arc<CertStore>,
    /// The active policy.
    pub policy: Arc<PolicyHandle>,
    /// Reloads the policy from its file while serving; `None` when there is no file (the
    /// embedded default, or a policy built in code).
    pub policy_reload: Option<Reloader>,
    /// Cluster state, when connected.
    pub cluster: Option<Arc<dyn Cluster>>,
    /// Readiness flags (the cluster task flips `cluster`).
    pub readiness: Arc<Readiness>,
    /// Metrics.
    pub metrics: Arc<Metrics>,
    /// Tunables.
    pub options: Options,
    /// The auditor's results for `/report` on the health port, or why there are none.
    pub audit: crate::audit::page::AuditStatus,
}

/// Why the server stopped with an error.
#[derive(Debug, thiserror::Error)]
pub enum ServeError {
    /// Could not bind a listener.
    #[error("cannot listen on {addr}: {source}")]
    Bind {
        /// The address.
        addr: SocketAddr,
        /// The IO error.
        #[source]
        source: std::io::Error,
    },
    /// TLS configuration failed.
    #[error(transparent)]
    Tls(#[from] tls::TlsError),
}

/// Binds both listeners, serves until `shutdown`, then shuts down gracefully: readiness
/// goes false first, the listener stops accepting, in-flight requests finish.
pub async fn run(
    config: ServeConfig,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<(), ServeError> {
    let bind = |addr: SocketAddr| async move {
        TcpListener::bind(addr)
            .await
            .map_err(|source| ServeError::Bind { addr, source })
    };
    let listener = bind(config.listen).await?;
    let health = bind(config.health_listen).await?;
    run_on(listener, health, config, shutdown).await
}

/// As [`run`], on listeners the caller bound (tests bind port 0).
pub async fn run_on(
    listener: TcpListener,
    health: TcpListener,
    config: ServeConfig,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<(), ServeError> {
    let ServeConfig {
        certs,
        policy,
        policy_reload,
        cluster,
        readiness,
        metrics,
        options,
        audit,
        ..
    } = config;
    let cert_task =
        watch_certificates(certs.clone(), metrics.clone(), options.cert_reload_interval);
    let gauge_task = publish_readiness(readiness.clone(), metrics.clone());
    // Readiness is not touched by reloads: a rejected file leaves a valid policy serving.
    let policy_task = crate::policy_source::spawn_watch(
        policy_reload,
        policy.clone(),
        metrics.clone(),
        options.policy_reload_interval,
    );

    let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
    tokio::spawn({
        let readiness = readiness.clone();
        async move {
            shutdown.await;
            // Readiness first, so the endpoints controller stops routing here.
            readiness.shutting_down.store(true, Ordering::Relaxed);
            tracing::info!("shutdown requested: not ready; draining in-flight requests");
            let _ = stop_tx.send(true);
        }
    });
    let stopped = |mut rx: tokio::sync::watch::Receiver<bool>| async move {
        let _ = rx.wait_for(|v| *v).await;
    };

    let addr = |l: &TcpListener| l.local_addr().map(|a| a.to_string()).unwrap_or_default();
    tracing::info!(listen = %addr(&listener), health = %addr(&health), "bulwark serving");
    let health_router = health_routes(metrics.clone(), readiness).merge(report::routes(audit));
    let health_task = tokio::spawn({
        let stopped = stopped(stop_rx.clone());
        async move {
            let _ = axum::serve(health, health_router)
                .with_graceful_shutdown(stopped)
                .await;
        }
    });
    let state = Arc::new(AppState {
        policy,
        cluster,
        metrics,
        options: options.clone(),
    });
    let result = serve_tls(listener, certs, app(state), options, stopped(stop_rx)).await;
    cert_task.abort();
    gauge_task.abort();
    if let Some(task) = policy_task {
        task.abort();
    }
    let _ = health_task.await;
    tracing::info!("bulwark stopped");
    result.map_err(ServeError::from)
}

/// Reloads the certificate files when they change and keeps the expiry gauge current.
fn watch_certificates(
    certs: Arc<CertStore>,
    metrics: Arc<Metrics>,
    interval: Duration,
) -> JoinHandle<()> {
    metrics.cert_expiry.set(certs.not_after());
    tokio::spawn(async move {
        let expiry = async {
            let mut tick = tokio::time::interval(interval);
            loop {
                tick.tick().await;
                metrics.cert_expiry.set(certs.not_after());
            }
        };
        tokio::join!(certs.clone().watch(interval), expiry);
    })
}

/// Copies the readiness flags into the `ready` and `cluster_cache_synced` gauges twice a
/// second (the flags are plain atomics that many places set).
fn publish_readiness(readiness: Arc<Readiness>, metrics: Arc<Metrics>) -> JoinHandle<()> {
    tokio::spawn(async move {
        loop {
            metrics.ready.set(i64::from(readiness.is_ready()));
            metrics
                .cluster_synced
                .set(i64::from(readiness.cluster.load(Ordering::Relaxed)));
            tokio::time::sleep(Duration::from_millis(500)).await;
        }
    })
}
