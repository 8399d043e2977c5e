//! Load harness: drives a running `bulwark serve` over HTTPS/1.1 with keep-alive, as the
//! API server does, and reports throughput, latency percentiles, server CPU per request and
//! peak RSS.
//!
//! It starts the release binary itself, pinned to core 0 with `taskset`, while the load runs
//! wherever the harness runs (pin it to core 1):
//!
//! ```text
//! cargo build --release
//! taskset -c 1 cargo bench --bench load -- [--connections 16] [--seconds 10]
//!     [--rate 4000] [--review create|update|mix|mutate] [--server-core 0]
//!     [--idle N] [--slowloris N] [--garbage N]          # hostile clients alongside
//!     [--rotate SECS] [--requests-per-connection K]     # certificate rotation under load
//!     [--sigterm-at SECS]                               # graceful shutdown under load
//!     [--sample SECS]                                   # soak: RSS and rate over time
//! ```
//!
//! Without `--rate` every connection sends its next request as soon as the previous answer
//! arrives (saturation). With `--rate R` requests are scheduled at R/s in total (any free
//! connection takes the next one) and latency is measured from the *scheduled* send time, so
//! a stall is charged to every request it delayed (coordinated-omission correction).
//!
//! Hostile clients run on the load generator's core during the measured run: `--idle N`
//! TLS connections that never send a request, `--slowloris N` connections that send request
//! headers one byte a second, `--garbage N` loops that connect and send non-TLS bytes. The
//! report says how the server treated them (closed after how long) and how many sockets it
//! held at the end.
//!
//! `--rotate SECS` replaces the serving certificate and key on disk every SECS seconds (with
//! a certificate from one of several CAs the client trusts, renamed into place like the
//! kubelet's atomic Secret update); `--requests-per-connection K` makes clients reconnect, so
//! handshakes happen throughout. `--sigterm-at SECS` sends SIGTERM mid-run and reports every
//! request's fate afterwards and how long the server took to exit.

use std::io::BufRead;
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::Request;
use hyper_util::rt::TokioIo;

struct Args {
    connections: usize,
    seconds: u64,
    rate: Option<f64>,
    review: String,
    server_core: String,
    binary: String,
    idle: usize,
    slowloris: usize,
    garbage: usize,
    rotate: Option<f64>,
    requests_per_connection: Option<u64>,
    sigterm_at: Option<f64>,
    sample: Option<f64>,
}

fn parse_args() -> Args {
    let mut a = Args {
        connections: 16,
        seconds: 10,
        rate: None,
        review: "create".into(),
        server_core: "0".into(),
        binary: format!("{}/target/release/bulwark", env!("CARGO_MANIFEST_DIR")),
        idle: 0,
        slowloris: 0,
        garbage: 0,
        rotate: None,
        requests_per_connection: None,
        sigterm_at: None,
        sample: None,
    };
    let argv: Vec<String> = std::env::args().skip(1).collect();
    let mut i = 0;
    while i < argv.len() {
        let val = argv.get(i + 1).cloned().unwrap_or_default();
        match argv[i].as_str() {
            "--connections" => a.connections = val.parse().expect("--connections N"),
            "--seconds" => a.seconds = val.parse().expect("--seconds N"),
            "--rate" => a.rate = Some(val.parse().expect("--rate R")),
            "--review" => a.review = val,
            "--server-core" => a.server_core = val,
            "--binary" => a.binary = val,
            "--idle" => a.idle = val.parse().expect("--idle N"),
            "--slowloris" => a.slowloris = val.parse().expect("--slowloris N"),
            "--garbage" => a.garbage = val.parse().expect("--garbage N"),
            "--rotate" => a.rotate = Some(val.parse().expect("--rotate SECS")),
            "--requests-per-connection" => {
                a.requests_per_connection = Some(val.parse().expect("--requests-per-connection K"))
            }
            "--sigterm-at" => a.sigterm_at = Some(val.parse().expect("--sigterm-at SECS")),
            "--sample" => a.sample = Some(val.parse().expect("--sample SECS")),
            "--bench" => {
                i += 1;
                continue;
            }
            _ => {
                i += 1;
                continue;
            }
        }
        i += 2;
    }
    a
}

struct Server {
    child: Child,
    pid: u32,
    port: u16,
    /// Every CA a serving certificate may come from (rotation cycles through them).
    cas: Vec<String>,
    bundles: Vec<bulwark::certs::Bundle>,
    dir: tempfile::TempDir,
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Server {
    /// Open file descriptors of the server: its sockets, roughly.
    fn fds(&self) -> usize {
        std::fs::read_dir(format!("/proc/{}/fd", self.pid)).map_or(0, |d| d.count())
    }
}

fn start_server(a: &Args) -> Server {
    let dir = tempfile::tempdir().expect("tempdir");
    let n = if a.rotate.is_some() { 3 } else { 1 };
    let bundles: Vec<_> = (0..n)
        .map(|i| {
            bulwark::certs::generate(&format!("load CA {i}"), &["localhost".into()], 2)
                .expect("certs")
        })
        .collect();
    bulwark::certs::write(&bundles[0], dir.path()).expect("write");
    let port = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        l.local_addr().expect("addr").port()
    };
    let health = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        l.local_addr().expect("addr").port()
    };
    let mut child = Command::new("taskset")
        .args(["-c", &a.server_core, &a.binary, "serve", "--no-cluster"])
        .arg("--cert")
        .arg(dir.path().join("tls.crt"))
        .arg("--key")
        .arg(dir.path().join("tls.key"))
        .args(["--listen", &format!("127.0.0.1:{port}")])
        .args(["--health-listen", &format!("127.0.0.1:{health}")])
        .args(["--cert-reload-interval", "1"])
        .env("BULWARK_LOG", "warn")
        .env("TOKIO_WORKER_THREADS", "1")
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| {
            panic!(
                "cannot start {} (run `cargo build --release` first): {e}",
                a.binary
            )
        });
    let pid = child.id();
    let stderr = child.stderr.take().expect("stderr");
    std::thread::spawn(move || {
        for line in std::io::BufReader::new(stderr)
            .lines()
            .map_while(Result::ok)
        {
            eprintln!("server: {line}");
        }
    });
    // wait until it accepts
    let deadline = Instant::now() + Duration::from_secs(10);
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(Instant::now() < deadline, "server did not start");
        std::thread::sleep(Duration::from_millis(20));
    }
    Server {
        child,
        pid,
        port,
        cas: bundles.iter().map(|b| b.ca_pem.clone()).collect(),
        bundles,
        dir,
    }
}

/// (user+system CPU seconds, peak RSS KiB) of a process, from /proc.
fn proc_usage(pid: u32) -> (f64, u64) {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    let after = stat.rsplit(')').next().unwrap_or("");
    let f: Vec<&str> = after.split_whitespace().collect();
    let ticks: f64 = f.get(11).and_then(|v| v.parse::<f64>().ok()).unwrap_or(0.0)
        + f.get(12).and_then(|v| v.parse::<f64>().ok()).unwrap_or(0.0);
    (ticks / 100.0, status_kib(pid, "VmHWM:")) // USER_HZ is 100 on Linux
}

/// A `kB` field of `/proc/PID/status` (`VmRSS:`, `VmHWM:`), 0 when unreadable.
fn status_kib(pid: u32, field: &str) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .unwrap_or_default()
        .lines()
        .find(|l| l.starts_with(field))
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|v| v.parse().ok())
        .unwrap_or(0)
}

fn tls_config(cas: &[String]) -> Arc<rustls::ClientConfig> {
    let mut roots = rustls::RootCertStore::empty();
    for ca in cas {
        for c in rustls_pki_types::pem::PemObject::pem_slice_iter(ca.as_bytes()) {
            roots.add(c.expect("pem")).expect("root");
        }
    }
    let mut cfg = rustls::ClientConfig::builder_with_provider(bulwark::server::tls::provider())
        .with_safe_default_protocol_versions()
        .expect("versions")
        .with_root_certificates(roots)
        .with_no_client_auth();
    cfg.alpn_protocols = vec![b"http/1.1".to_vec()];
    // Every new connection makes a full handshake, as the API server's Go client does (no
    // session cache configured): reconnects cost what they cost there, and a rotated
    // certificate is really presented.
    cfg.resumption = rustls::client::Resumption::disabled();
    Arc::new(cfg)
}

struct Shot {
    path: &'static str,
    body: Bytes,
}

fn shots(kind: &str) -> Vec<Shot> {
    let read = |n: &str| {
        Bytes::from(
            std::fs::read(format!(
                "{}/tests/fixtures/admission/{n}",
                env!("CARGO_MANIFEST_DIR")
            ))
            .expect("fixture"),
        )
    };
    let create = read("deployment-create.json");
    match kind {
        "update" => vec![Shot {
            path: "/validate",
            body: read("deployment-update.json"),
        }],
        "mutate" => vec![Shot {
            path: "/mutate",
            body: create,
        }],
        // 80% validate, 20% mutate, as a cluster with both webhooks sees
        "mix" => (0..5)
            .map(|i| Shot {
                path: if i == 0 { "/mutate" } else { "/validate" },
                body: create.clone(),
            })
            .collect(),
        _ => vec![Shot {
            path: "/validate",
            body: create,
        }],
    }
}

#[derive(Default)]
struct Tally {
    hist: Option<hdrhistogram::Histogram<u64>>,
    ok: u64,
    /// Non-200 answers, unreadable bodies, and requests lost before SIGTERM.
    errors: u64,
    /// Connections that could not be opened or handshaken before SIGTERM.
    connect_errors: u64,
    /// After SIGTERM: answered requests.
    ok_after_term: u64,
    /// After SIGTERM: requests written whose connection closed without an answer. The server
    /// closes idle keep-alive connections on SIGTERM, so a request sent at that instant can
    /// cross the close; the API server sees a connection error and its failurePolicy applies.
    unanswered_after_term: u64,
    /// After SIGTERM: new connections refused (the listener is closed): expected.
    refused_after_term: u64,
    /// After SIGTERM: connections told to close, whose client would reconnect elsewhere.
    moved_after_term: u64,
}

impl Tally {
    fn new() -> Tally {
        Tally {
            hist: Some(hdrhistogram::Histogram::new_with_bounds(1, 60_000_000, 3).expect("hist")),
            ..Default::default()
        }
    }

    fn add(&mut self, t: &Tally) {
        self.ok += t.ok;
        self.errors += t.errors;
        self.connect_errors += t.connect_errors;
        self.ok_after_term += t.ok_after_term;
        self.unanswered_after_term += t.unanswered_after_term;
        self.refused_after_term += t.refused_after_term;
        self.moved_after_term += t.moved_after_term;
        if let (Some(h), Some(th)) = (self.hist.as_mut(), t.hist.as_ref()) {
            h.add(th).expect("merge");
        }
    }
}

/// What every load connection shares.
struct Shared {
    port: u16,
    tls: Arc<rustls::ClientConfig>,
    shots: Arc<Vec<Shot>>,
    /// Set when SIGTERM has been sent.
    terminated: Arc<AtomicBool>,
    /// Answers so far, for `--sample`.
    answered: Arc<AtomicU64>,
    requests_per_connection: Option<u64>,
}

type Sender = hyper::client::conn::http1::SendRequest<Full<Bytes>>;

async fn open(port: u16, tls: &Arc<rustls::ClientConfig>) -> Option<Sender> {
    let tcp = tokio::net::TcpStream::connect(("127.0.0.1", port))
        .await
        .ok()?;
    tcp.set_nodelay(true).ok()?;
    let name = rustls_pki_types::ServerName::try_from("localhost").expect("name");
    let stream = tokio_rustls::TlsConnector::from(tls.clone())
        .connect(name, tcp)
        .await
        .ok()?;
    let (sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
        .await
        .ok()?;
    tokio::spawn(conn);
    Some(sender)
}

/// Releases one ticket per scheduled send time from a plain thread (`nanosleep` keeps to
/// tens of µs; tokio's timer wheel rounds every sleep up to the next millisecond, which would
/// add up to 1 ms to every latency measured from the schedule). Any free connection takes
/// the next ticket; a ticket that waits is charged to its request.
struct Pacer {
    tickets: tokio::sync::Semaphore,
    next: AtomicU64,
    start: Instant,
    interval: Duration,
}

impl Pacer {
    fn start(start: Instant, end: Instant, rate: f64) -> Arc<Pacer> {
        let p = Arc::new(Pacer {
            tickets: tokio::sync::Semaphore::new(0),
            next: AtomicU64::new(0),
            start,
            interval: Duration::from_secs_f64(1.0 / rate),
        });
        let pacer = p.clone();
        std::thread::spawn(move || {
            for i in 0u64.. {
                let at = pacer.start + pacer.interval.mul_f64(i as f64);
                if at >= end {
                    break;
                }
                if let Some(wait) = at.checked_duration_since(Instant::now()) {
                    std::thread::sleep(wait);
                }
                pacer.tickets.add_permits(1);
            }
            pacer.tickets.close();
        });
        p
    }

    /// The scheduled time of the next request, or `None` when the run is over.
    async fn next(&self) -> Option<Instant> {
        self.tickets.acquire().await.ok()?.forget();
        let i = self.next.fetch_add(1, Ordering::Relaxed);
        Some(self.start + self.interval.mul_f64(i as f64))
    }
}

async fn connection(sh: Arc<Shared>, end: Instant, pacer: Option<Arc<Pacer>>) -> Tally {
    let mut tally = Tally::new();
    let mut sender: Option<Sender> = None;
    let mut on_this_connection = 0;
    let mut i: u64 = 0;
    loop {
        let scheduled = match &pacer {
            Some(p) => match p.next().await {
                Some(t) => t,
                None => break,
            },
            None => Instant::now(),
        };
        if scheduled >= end {
            break;
        }
        let terminated = sh.terminated.load(Ordering::Relaxed);
        if sender.as_mut().is_none_or(|s| s.is_closed())
            || sh
                .requests_per_connection
                .is_some_and(|k| on_this_connection >= k)
        {
            // After SIGTERM the pod is out of the Service's endpoints: a client that has to
            // reconnect goes to another replica, so this one stops here.
            if terminated {
                tally.moved_after_term += 1;
                break;
            }
            on_this_connection = 0;
            sender = open(sh.port, &sh.tls).await;
            if sender.is_none() {
                if terminated {
                    tally.refused_after_term += 1;
                    break;
                }
                tally.connect_errors += 1;
                tokio::time::sleep(Duration::from_millis(10)).await;
                i += 1;
                continue;
            }
        }
        let s = sender.as_mut().expect("connected");
        let shot = &sh.shots[(i as usize) % sh.shots.len()];
        let req = Request::post(shot.path)
            .header("host", "localhost")
            .header("content-type", "application/json")
            .body(Full::new(shot.body.clone()))
            .expect("request");
        on_this_connection += 1;
        match s.send_request(req).await {
            Ok(resp) => {
                let ok = resp.status() == 200;
                // The server is draining: this connection is done, as for any HTTP client.
                let close = resp
                    .headers()
                    .get(hyper::header::CONNECTION)
                    .is_some_and(|v| v.as_bytes().eq_ignore_ascii_case(b"close"));
                let body = resp.into_body().collect().await.map(|b| b.to_bytes());
                if close {
                    sender = None;
                }
                if ok && body.is_ok() {
                    if sh.terminated.load(Ordering::Relaxed) {
                        tally.ok_after_term += 1;
                    } else {
                        tally.ok += 1;
                    }
                    sh.answered.fetch_add(1, Ordering::Relaxed);
                } else {
                    tally.errors += 1;
                }
            }
            Err(_) => {
                sender = None;
                if sh.terminated.load(Ordering::Relaxed) {
                    tally.unanswered_after_term += 1;
                } else {
                    tally.errors += 1;
                }
                i += 1;
                continue;
            }
        }
        let micros = Instant::now().duration_since(scheduled).as_micros() as u64;
        if let Some(h) = tally.hist.as_mut() {
            let _ = h.record(micros.max(1));
        }
        i += 1;
    }
    tally
}

/// How the server treated the hostile clients.
#[derive(Default, Debug)]
struct Hostile {
    /// Idle TLS connections opened, and how many the server closed (with the median time).
    idle_opened: usize,
    idle_closed: usize,
    idle_closed_after_ms: Vec<u64>,
    /// Slow-loris connections opened, closed by the server, and bytes they got in.
    slow_opened: usize,
    slow_closed: usize,
    slow_closed_after_ms: Vec<u64>,
    /// Garbage connections made and how many the server closed within a second.
    garbage_sent: usize,
    garbage_closed_fast: usize,
}

/// A TLS connection to the server, or `None` when it refused.
async fn tls_stream(
    port: u16,
    tls: Arc<rustls::ClientConfig>,
) -> Option<tokio_rustls::client::TlsStream<tokio::net::TcpStream>> {
    let tcp = tokio::net::TcpStream::connect(("127.0.0.1", port))
        .await
        .ok()?;
    let name = rustls_pki_types::ServerName::try_from("localhost").expect("name");
    tokio_rustls::TlsConnector::from(tls)
        .connect(name, tcp)
        .await
        .ok()
}

/// A TLS connection that never sends a request; returns ms until the server closed it.
async fn idle_client(
    port: u16,
    tls: Arc<rustls::ClientConfig>,
    end: Instant,
) -> Option<Option<u64>> {
    use tokio::io::AsyncReadExt;
    let mut stream = tls_stream(port, tls).await?;
    let t0 = Instant::now();
    let mut buf = [0u8; 256];
    let closed = tokio::time::timeout_at(end.into(), async {
        loop {
            match stream.read(&mut buf).await {
                Ok(0) | Err(_) => break,
                Ok(_) => {}
            }
        }
    })
    .await
    .is_ok();
    Some(closed.then(|| t0.elapsed().as_millis() as u64))
}

/// Sends request headers one byte a second; returns ms until the server closed it.
async fn slow_client(
    port: u16,
    tls: Arc<rustls::ClientConfig>,
    end: Instant,
) -> Option<Option<u64>> {
    use tokio::io::AsyncWriteExt;
    let mut stream = tls_stream(port, tls).await?;
    let t0 = Instant::now();
    let head = b"POST /validate HTTP/1.1\r\nhost: localhost\r\ncontent-type: application/json\r\nx-slow: aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa";
    for b in head.iter().cycle() {
        if Instant::now() >= end {
            return Some(None);
        }
        if stream.write_all(&[*b]).await.is_err() || stream.flush().await.is_err() {
            return Some(Some(t0.elapsed().as_millis() as u64));
        }
        tokio::time::sleep(Duration::from_secs(1)).await;
    }
    Some(None)
}

/// Connects and sends bytes that are not TLS; true when the server closed within a second.
async fn garbage_client(port: u16) -> bool {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let Ok(mut tcp) = tokio::net::TcpStream::connect(("127.0.0.1", port)).await else {
        return false;
    };
    let junk: Vec<u8> = (0..1024u32)
        .map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8)
        .collect();
    let _ = tcp.write_all(&junk).await;
    let mut buf = [0u8; 512];
    tokio::time::timeout(Duration::from_secs(1), async {
        loop {
            match tcp.read(&mut buf).await {
                Ok(0) | Err(_) => return,
                Ok(_) => {}
            }
        }
    })
    .await
    .is_ok()
}

fn main() {
    let a = parse_args();
    let mut server = start_server(&a);
    let shots = Arc::new(shots(&a.review));
    let tls = tls_config(&server.cas);
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .expect("runtime");
    let shared = Arc::new(Shared {
        port: server.port,
        tls: tls.clone(),
        shots,
        terminated: Arc::new(AtomicBool::new(false)),
        answered: Arc::new(AtomicU64::new(0)),
        requests_per_connection: a.requests_per_connection,
    });
    // warm-up: 1 s of saturation
    let _ = rt.block_on(run(&a, &shared, Duration::from_secs(1), None));
    let fds_before = server.fds();

    let duration = Duration::from_secs(a.seconds);
    let end = Instant::now() + duration + Duration::from_millis(200);
    // Hostile clients, alongside the measured run.
    let hostile = rt.spawn({
        let (idle, slow, garbage, port, tls) =
            (a.idle, a.slowloris, a.garbage, server.port, tls.clone());
        async move {
            let mut h = Hostile::default();
            let idles: Vec<_> = (0..idle)
                .map(|_| tokio::spawn(idle_client(port, tls.clone(), end)))
                .collect();
            let slows: Vec<_> = (0..slow)
                .map(|_| tokio::spawn(slow_client(port, tls.clone(), end)))
                .collect();
            let garbages: Vec<_> = (0..garbage)
                .map(|_| {
                    tokio::spawn(async move {
                        let (mut sent, mut fast) = (0, 0);
                        while Instant::now() < end {
                            sent += 1;
                            fast += usize::from(garbage_client(port).await);
                            tokio::time::sleep(Duration::from_millis(10)).await;
                        }
                        (sent, fast)
                    })
                })
                .collect();
            for t in idles {
                if let Ok(Some(closed)) = t.await {
                    h.idle_opened += 1;
                    h.idle_closed_after_ms.extend(closed);
                }
            }
            for t in slows {
                if let Ok(Some(closed)) = t.await {
                    h.slow_opened += 1;
                    h.slow_closed_after_ms.extend(closed);
                }
            }
            for t in garbages {
                if let Ok((sent, fast)) = t.await {
                    h.garbage_sent += sent;
                    h.garbage_closed_fast += fast;
                }
            }
            h.idle_closed = h.idle_closed_after_ms.len();
            h.slow_closed = h.slow_closed_after_ms.len();
            h
        }
    });
    // Let hostile connections pile up before the measurement starts.
    if a.idle + a.slowloris > 0 {
        std::thread::sleep(Duration::from_secs(1));
    }

    // Background actions on a plain thread: rotation, SIGTERM, sampling.
    let stop = Arc::new(AtomicBool::new(false));
    let pid = server.pid;
    let sigterm_sent: Arc<std::sync::Mutex<Option<Instant>>> = Arc::default();
    let rotations = Arc::new(AtomicU64::new(0));
    let actions = {
        let (stop, terminated, answered, rotations, sigterm_sent) = (
            stop.clone(),
            shared.terminated.clone(),
            shared.answered.clone(),
            rotations.clone(),
            sigterm_sent.clone(),
        );
        let (rotate, sigterm_at, sample) = (a.rotate, a.sigterm_at, a.sample);
        let rotator = rotate.map(|_| server.bundles.len());
        let dir = server.dir.path().to_owned();
        let bundles: Vec<_> = server
            .bundles
            .iter()
            .map(|b| (b.cert_pem.clone(), b.key_pem.clone()))
            .collect();
        std::thread::spawn(move || {
            let t0 = Instant::now();
            let (mut next_rotate, mut next_sample, mut last_answered) = (
                rotate.map(|r| t0 + Duration::from_secs_f64(r)),
                sample.map(|s| t0 + Duration::from_secs_f64(s)),
                0u64,
            );
            let mut next_term = sigterm_at.map(|s| t0 + Duration::from_secs_f64(s));
            while !stop.load(Ordering::Relaxed) {
                let now = Instant::now();
                // Rotation as the kubelet updates a mounted Secret: written aside, then
                // renamed over the live files.
                if let (Some(at), Some(n)) = (next_rotate, rotator)
                    && now >= at
                {
                    let i = (rotations.fetch_add(1, Ordering::Relaxed) + 1) as usize % n;
                    let stage = dir.join("stage");
                    std::fs::create_dir_all(&stage).expect("stage");
                    std::fs::write(stage.join("tls.crt"), &bundles[i].0).expect("crt");
                    std::fs::write(stage.join("tls.key"), &bundles[i].1).expect("key");
                    for f in ["tls.crt", "tls.key"] {
                        std::fs::rename(stage.join(f), dir.join(f)).expect("rename");
                    }
                    next_rotate = rotate.map(|r| at + Duration::from_secs_f64(r));
                }
                if let Some(at) = next_term
                    && now >= at
                {
                    terminated.store(true, Ordering::Relaxed);
                    *sigterm_sent.lock().expect("lock") = Some(Instant::now());
                    let _ = Command::new("kill")
                        .args(["-TERM", &pid.to_string()])
                        .status();
                    next_term = None;
                }
                if let Some(at) = next_sample
                    && now >= at
                {
                    let n = answered.load(Ordering::Relaxed);
                    let rss = status_kib(pid, "VmRSS:") as f64;
                    let every = sample.unwrap_or(1.0);
                    println!(
                        "sample t={:.0}s rate={:.0}/s rss={:.1}MiB",
                        t0.elapsed().as_secs_f64(),
                        (n - last_answered) as f64 / every,
                        rss / 1024.0
                    );
                    last_answered = n;
                    next_sample = sample.map(|s| at + Duration::from_secs_f64(s));
                }
                std::thread::sleep(Duration::from_millis(20));
            }
        })
    };

    let (cpu0, _) = proc_usage(server.pid);
    let wall = Instant::now();
    let total = rt.block_on(run(&a, &shared, duration, a.rate));
    let elapsed = wall.elapsed().as_secs_f64();
    let (cpu1, rss) = proc_usage(server.pid);
    let fds_during = server.fds();
    stop.store(true, Ordering::Relaxed);
    actions.join().expect("actions thread");
    let hostile = rt.block_on(hostile).expect("hostile task");

    let hist = total.hist.as_ref().expect("hist");
    let n = total.ok + total.errors + total.ok_after_term;
    let cpu_us = if n > 0 {
        (cpu1 - cpu0) * 1e6 / n as f64
    } else {
        0.0
    };
    println!(
        "review={} connections={} mode={} seconds={:.1}",
        a.review,
        a.connections,
        a.rate
            .map_or("saturation".to_string(), |r| format!("fixed {r}/s")),
        elapsed
    );
    println!(
        "requests={} errors={} connect_errors={} throughput={:.0}/s p50={}us p99={}us p99.9={}us max={}us server_cpu_per_request={:.1}us server_peak_rss={:.1}MiB",
        total.ok + total.ok_after_term,
        total.errors,
        total.connect_errors,
        n as f64 / elapsed,
        hist.value_at_quantile(0.50),
        hist.value_at_quantile(0.99),
        hist.value_at_quantile(0.999),
        hist.max(),
        cpu_us,
        rss as f64 / 1024.0
    );
    if a.rotate.is_some() {
        // Proof the swaps took: the certificate a new handshake gets now is the last one
        // put on disk (the server polls every second).
        std::thread::sleep(Duration::from_millis(1500));
        let last = rotations.load(Ordering::Relaxed) as usize % server.bundles.len();
        let served = rt.block_on(async {
            let s = tls_stream(server.port, tls.clone()).await?;
            s.get_ref()
                .1
                .peer_certificates()?
                .first()
                .map(|c| c.to_vec())
        });
        let expected: Vec<u8> = rustls_pki_types::pem::PemObject::pem_slice_iter(
            server.bundles[last].cert_pem.as_bytes(),
        )
        .map(|c: Result<rustls_pki_types::CertificateDer<'static>, _>| c.expect("pem").to_vec())
        .next()
        .expect("a certificate");
        println!(
            "rotation: {} certificate swaps during the run, {} failed requests, {} failed connections; a new handshake now gets the last certificate written: {}",
            rotations.load(Ordering::Relaxed),
            total.errors,
            total.connect_errors,
            served.as_deref() == Some(&expected[..])
        );
    }
    if a.idle + a.slowloris + a.garbage > 0 {
        let median = |v: &mut Vec<u64>| {
            v.sort_unstable();
            v.get(v.len() / 2).copied()
        };
        let mut h = hostile;
        println!(
            "hostile: idle {} opened, {} closed by the server (median after {:?} ms); slowloris {} opened, {} closed (median after {:?} ms); garbage {} sent, {} closed within 1 s; server fds before {} at end {}",
            h.idle_opened,
            h.idle_closed,
            median(&mut h.idle_closed_after_ms),
            h.slow_opened,
            h.slow_closed,
            median(&mut h.slow_closed_after_ms),
            h.garbage_sent,
            h.garbage_closed_fast,
            fds_before,
            fds_during
        );
    }
    if a.sigterm_at.is_some() {
        let sent = sigterm_sent.lock().expect("lock").take();
        let status = server.child.wait().expect("wait");
        let exited_after = sent.map(|t| t.elapsed().as_secs_f64());
        println!(
            "sigterm: answered before {} after {}; failed before {}; unanswered after (crossed a closing idle connection) {}; connections closed by the server after an answer (client moves to another replica) {}; refused {}; server exited with {status} {:.2}s after SIGTERM",
            total.ok,
            total.ok_after_term,
            total.errors,
            total.unanswered_after_term,
            total.moved_after_term,
            total.refused_after_term,
            exited_after.unwrap_or(f64::NAN)
        );
    }
    drop(server);
}

async fn run(a: &Args, shared: &Arc<Shared>, duration: Duration, rate: Option<f64>) -> Tally {
    let start = Instant::now() + Duration::from_millis(200);
    let end = start + duration;
    let pacer = rate.map(|r| Pacer::start(start, end, r));
    if pacer.is_none() {
        tokio::time::sleep_until(start.into()).await;
    }
    let mut tasks = Vec::new();
    for _ in 0..a.connections {
        tasks.push(tokio::spawn(connection(shared.clone(), end, pacer.clone())));
    }
    let mut total = Tally::new();
    for t in tasks {
        total.add(&t.await.expect("connection task"));
    }
    total
}
