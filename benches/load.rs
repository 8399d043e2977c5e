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
//!     [--rate 4000] [--review create|update|mix] [--server-core 0]
//! ```
//!
//! Without `--rate` every connection sends its next request as soon as the previous answer
//! arrives (saturation). With `--rate R` requests are scheduled at R/s in total and latency
//! is measured from the *scheduled* send time, so a stall is charged to every request it
//! delayed (coordinated-omission correction).

use std::io::BufRead;
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
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
}

fn parse_args() -> Args {
    let mut a = Args {
        connections: 16,
        seconds: 10,
        rate: None,
        review: "create".into(),
        server_core: "0".into(),
        binary: format!("{}/target/release/bulwark", env!("CARGO_MANIFEST_DIR")),
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
    ca: String,
    _dir: tempfile::TempDir,
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn start_server(a: &Args) -> Server {
    let dir = tempfile::tempdir().expect("tempdir");
    let bundle = bulwark::certs::generate("load CA", &["localhost".into()], 2).expect("certs");
    bulwark::certs::write(&bundle, dir.path()).expect("write");
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
        ca: bundle.ca_pem,
        _dir: dir,
    }
}

/// (user+system CPU seconds, peak RSS KiB) of a process, from /proc.
fn proc_usage(pid: u32) -> (f64, u64) {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    let after = stat.rsplit(')').next().unwrap_or("");
    let f: Vec<&str> = after.split_whitespace().collect();
    let ticks: f64 = f.get(11).and_then(|v| v.parse::<f64>().ok()).unwrap_or(0.0)
        + f.get(12).and_then(|v| v.parse::<f64>().ok()).unwrap_or(0.0);
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    let hwm = status
        .lines()
        .find(|l| l.starts_with("VmHWM:"))
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|v| v.parse().ok())
        .unwrap_or(0);
    (ticks / 100.0, hwm) // USER_HZ is 100 on Linux
}

fn tls_config(ca: &str) -> Arc<rustls::ClientConfig> {
    let mut roots = rustls::RootCertStore::empty();
    for c in rustls_pki_types::pem::PemObject::pem_slice_iter(ca.as_bytes()) {
        roots.add(c.expect("pem")).expect("root");
    }
    let mut cfg = rustls::ClientConfig::builder_with_provider(bulwark::server::tls::provider())
        .with_safe_default_protocol_versions()
        .expect("versions")
        .with_root_certificates(roots)
        .with_no_client_auth();
    cfg.alpn_protocols = vec![b"http/1.1".to_vec()];
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
    errors: u64,
}

async fn connection(
    port: u16,
    tls: Arc<rustls::ClientConfig>,
    shots: Arc<Vec<Shot>>,
    start: Instant,
    end: Instant,
    interval: Option<Duration>,
    offset: Duration,
) -> Tally {
    let mut tally = Tally {
        hist: Some(hdrhistogram::Histogram::new_with_bounds(1, 60_000_000, 3).expect("hist")),
        ..Default::default()
    };
    let tcp = tokio::net::TcpStream::connect(("127.0.0.1", port))
        .await
        .expect("connect");
    tcp.set_nodelay(true).expect("nodelay");
    let name = rustls_pki_types::ServerName::try_from("localhost").expect("name");
    let stream = tokio_rustls::TlsConnector::from(tls)
        .connect(name, tcp)
        .await
        .expect("tls");
    let (mut sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
        .await
        .expect("http1");
    tokio::spawn(conn);
    let mut i: u64 = 0;
    loop {
        let scheduled = match interval {
            Some(iv) => start + offset + iv * (i as u32),
            None => Instant::now(),
        };
        if scheduled >= end {
            break;
        }
        if let Some(wait) = scheduled.checked_duration_since(Instant::now()) {
            tokio::time::sleep(wait).await;
        }
        let shot = &shots[(i as usize) % shots.len()];
        let req = Request::post(shot.path)
            .header("host", "localhost")
            .header("content-type", "application/json")
            .body(Full::new(shot.body.clone()))
            .expect("request");
        match sender.send_request(req).await {
            Ok(resp) => {
                let ok = resp.status() == 200;
                let body = resp.into_body().collect().await.map(|b| b.to_bytes());
                if ok && body.is_ok() {
                    tally.ok += 1;
                } else {
                    tally.errors += 1;
                }
            }
            Err(_) => {
                tally.errors += 1;
                break;
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

fn main() {
    let a = parse_args();
    let server = start_server(&a);
    let shots = Arc::new(shots(&a.review));
    let tls = tls_config(&server.ca);
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .expect("runtime");
    // warm-up: 1 s of saturation
    let warm = rt.block_on(run(&a, &server, &shots, &tls, Duration::from_secs(1), None));
    let _ = warm;
    let (cpu0, _) = proc_usage(server.pid);
    let wall = Instant::now();
    let total = rt.block_on(run(
        &a,
        &server,
        &shots,
        &tls,
        Duration::from_secs(a.seconds),
        a.rate,
    ));
    let elapsed = wall.elapsed().as_secs_f64();
    let (cpu1, rss) = proc_usage(server.pid);
    let hist = total.hist.expect("hist");
    let n = total.ok + total.errors;
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
        "requests={} errors={} throughput={:.0}/s p50={}us p99={}us p99.9={}us max={}us server_cpu_per_request={:.1}us server_peak_rss={:.1}MiB",
        total.ok,
        total.errors,
        n as f64 / elapsed,
        hist.value_at_quantile(0.50),
        hist.value_at_quantile(0.99),
        hist.value_at_quantile(0.999),
        hist.max(),
        cpu_us,
        rss as f64 / 1024.0
    );
    drop(server);
}

async fn run(
    a: &Args,
    server: &Server,
    shots: &Arc<Vec<Shot>>,
    tls: &Arc<rustls::ClientConfig>,
    duration: Duration,
    rate: Option<f64>,
) -> Tally {
    let start = Instant::now() + Duration::from_millis(200);
    let end = start + duration;
    let per_conn = rate.map(|r| Duration::from_secs_f64(a.connections as f64 / r));
    let mut tasks = Vec::new();
    for c in 0..a.connections {
        let offset = per_conn.map_or(Duration::ZERO, |iv| iv * c as u32 / a.connections as u32);
        tasks.push(tokio::spawn(connection(
            server.port,
            tls.clone(),
            shots.clone(),
            start,
            end,
            per_conn,
            offset,
        )));
    }
    let mut total = Tally {
        hist: Some(hdrhistogram::Histogram::new_with_bounds(1, 60_000_000, 3).expect("hist")),
        ..Default::default()
    };
    for t in tasks {
        let t = t.await.expect("connection task");
        total.ok += t.ok;
        total.errors += t.errors;
        if let (Some(h), Some(th)) = (total.hist.as_mut(), t.hist.as_ref()) {
            h.add(th).expect("merge");
        }
    }
    total
}
