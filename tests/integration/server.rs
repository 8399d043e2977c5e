//! The real server on a loopback port, real TLS (rcgen-made certificates), a real HTTPS
//! client over HTTP/1.1 and HTTP/2.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use base64::Engine as _;
use bulwark::audit::page::AuditStatus;
use bulwark::config::Policy;
use bulwark::health::{Metrics, Readiness};
use bulwark::policy_source::{PolicyHandle, PolicySource, Reloader};
use bulwark::server::{self, Options, ServeConfig, tls::CertStore};
use serde_json::{Value, json};
use tokio::net::TcpListener;
use tokio::sync::oneshot;

pub struct TestServer {
    pub addr: std::net::SocketAddr,
    pub health: std::net::SocketAddr,
    pub dir: tempfile::TempDir,
    pub ca_pem: String,
    pub stop: Option<oneshot::Sender<()>>,
    pub task: Option<tokio::task::JoinHandle<Result<(), server::ServeError>>>,
}

impl TestServer {
    pub async fn start(policy: Policy, options: Options) -> TestServer {
        TestServer::start_with_cluster(policy, options, None).await
    }

    /// The server with cluster state (a fake `Cluster` standing in for the reflectors).
    pub async fn start_with_cluster(
        policy: Policy,
        options: Options,
        cluster: Option<Arc<dyn bulwark::admission::Cluster>>,
    ) -> TestServer {
        TestServer::launch(
            PolicyHandle::new(policy),
            None,
            options,
            cluster,
            AuditStatus::NoCluster,
        )
        .await
    }

    /// The server serving `source`'s policy file and reloading it as `bulwark serve` does.
    pub async fn start_watching(source: PolicySource, options: Options) -> TestServer {
        let loaded = source.load().expect("policy loads");
        let reloader = Reloader::new(source, loaded.fingerprint);
        assert!(reloader.is_some(), "a policy file to watch");
        TestServer::launch(
            PolicyHandle::new(loaded.policy),
            reloader,
            options,
            None,
            AuditStatus::NoCluster,
        )
        .await
    }

    /// The server with `/report` showing `audit` (a test fills an `AuditState` itself).
    pub async fn start_with_audit(
        policy: Policy,
        options: Options,
        cluster: Option<Arc<dyn bulwark::admission::Cluster>>,
        audit: AuditStatus,
    ) -> TestServer {
        TestServer::launch(PolicyHandle::new(policy), None, options, cluster, audit).await
    }

    async fn launch(
        policy: PolicyHandle,
        policy_reload: Option<Reloader>,
        options: Options,
        cluster: Option<Arc<dyn bulwark::admission::Cluster>>,
        audit: AuditStatus,
    ) -> TestServer {
        let dir = tempfile::tempdir().expect("tempdir");
        let bundle =
            bulwark::certs::generate("test CA", &["localhost".into(), "127.0.0.1".into()], 2)
                .expect("certs");
        bulwark::certs::write(&bundle, dir.path()).expect("write certs");
        let certs = CertStore::open(&dir.path().join("tls.crt"), &dir.path().join("tls.key"))
            .expect("load");
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let health = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let (addr, health_addr) = (
            listener.local_addr().expect("addr"),
            health.local_addr().expect("addr"),
        );
        let readiness = Arc::new(Readiness::default());
        readiness.cluster.store(true, Ordering::Relaxed);
        let (tx, rx) = oneshot::channel::<()>();
        let config = ServeConfig {
            listen: addr,
            health_listen: health_addr,
            certs,
            policy: Arc::new(policy),
            policy_reload,
            cluster,
            readiness,
            metrics: Arc::new(Metrics::default()),
            options,
            audit,
        };
        let task = tokio::spawn(server::run_on(listener, health, config, async move {
            let _ = rx.await;
        }));
        TestServer {
            addr,
            health: health_addr,
            dir,
            ca_pem: bundle.ca_pem,
            stop: Some(tx),
            task: Some(task),
        }
    }

    pub fn url(&self, path: &str) -> String {
        format!("https://localhost:{}{path}", self.addr.port())
    }

    pub fn client(&self, http2: bool) -> reqwest::Client {
        client_trusting(&[&self.ca_pem], http2)
    }

    pub async fn stop(&mut self) -> Result<(), server::ServeError> {
        if let Some(tx) = self.stop.take() {
            let _ = tx.send(());
        }
        match self.task.take() {
            Some(t) => t.await.expect("server task"),
            None => Ok(()),
        }
    }
}

pub fn client_trusting(cas: &[&str], http2: bool) -> reqwest::Client {
    let mut b = reqwest::Client::builder()
        .tls_built_in_root_certs(false)
        .resolve("localhost", "127.0.0.1:0".parse().expect("addr"))
        .timeout(Duration::from_secs(20));
    for ca in cas {
        b = b.add_root_certificate(reqwest::Certificate::from_pem(ca.as_bytes()).expect("ca"));
    }
    b = if http2 {
        b.http2_prior_knowledge()
    } else {
        b.http1_only()
    };
    b.build().expect("client")
}

pub fn fixture(name: &str) -> String {
    let p: PathBuf = Path::new(env!("CARGO_MANIFEST_DIR")).join(name);
    std::fs::read_to_string(&p).unwrap_or_else(|e| panic!("{}: {e}", p.display()))
}

/// The first document of a YAML file, as JSON.
pub fn yaml_object(path: &str) -> Value {
    let text = fixture(path);
    let doc = text.split("\n---\n").next().expect("doc");
    serde_yaml_ng::from_str(doc).expect("yaml")
}

pub fn review(op: &str, object: Value, old: Option<Value>, dry_run: bool) -> Value {
    let kind = object["kind"].as_str().unwrap_or("Pod").to_string();
    let group = match kind.as_str() {
        "Deployment" | "StatefulSet" | "DaemonSet" | "ReplicaSet" => "apps",
        "Job" | "CronJob" => "batch",
        _ => "",
    };
    json!({
        "apiVersion": "admission.k8s.io/v1",
        "kind": "AdmissionReview",
        "request": {
            "uid": format!("uid-{op}-{kind}"),
            "kind": {"group": group, "version": "v1", "kind": kind},
            "resource": {"group": group, "version": "v1", "resource": format!("{}s", kind.to_lowercase())},
            "namespace": object["metadata"]["namespace"].as_str().unwrap_or("shop"),
            "name": object["metadata"]["name"],
            "operation": op,
            "userInfo": {"username": "alice", "groups": ["developers"]},
            "object": object,
            "oldObject": old,
            "dryRun": dry_run,
        }
    })
}

pub fn privileged_pod() -> Value {
    json!({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "bad", "namespace": "shop"},
        "spec": {"containers": [{"name": "c", "image": "nginx:1.27", "securityContext": {"privileged": true}}]}})
}

/// `body` sent in two halves, `pause` apart, so the request is in flight meanwhile.
pub fn slow_body(body: &[u8], pause: Duration) -> reqwest::Body {
    let (a, b) = body.split_at(body.len() / 2);
    let (a, b) = (a.to_vec(), b.to_vec());
    let halves = futures::stream::unfold(0, move |i| {
        let (a, b) = (a.clone(), b.clone());
        async move {
            match i {
                0 => Some((Ok::<_, std::io::Error>(a), 1)),
                1 => {
                    tokio::time::sleep(pause).await;
                    Some((Ok(b), 2))
                }
                _ => None,
            }
        }
    });
    reqwest::Body::wrap_stream(halves)
}

pub async fn post(
    client: &reqwest::Client,
    url: &str,
    body: &Value,
) -> (reqwest::StatusCode, reqwest::Version, Value) {
    let resp = client.post(url).json(body).send().await.expect("request");
    let (status, version) = (resp.status(), resp.version());
    let body: Value = resp.json().await.expect("json body");
    (status, version, body)
}

#[tokio::test]
async fn allow_deny_warn_over_http1_and_http2() {
    let mut srv = TestServer::start(Policy::default(), Options::default()).await;
    for http2 in [false, true] {
        let client = srv.client(http2);
        let expected = if http2 {
            reqwest::Version::HTTP_2
        } else {
            reqwest::Version::HTTP_11
        };

        // allow: the compliant example Deployment (query string as the API server sends it)
        let dep = yaml_object("examples/deployment.yaml");
        let (status, version, body) = post(
            &client,
            &srv.url("/validate?timeout=10s"),
            &review("CREATE", dep, None, false),
        )
        .await;
        assert_eq!((status.as_u16(), version), (200, expected));
        assert_eq!(body["apiVersion"], "admission.k8s.io/v1");
        assert_eq!(body["kind"], "AdmissionReview");
        assert_eq!(body["response"]["uid"], "uid-CREATE-Deployment");
        assert_eq!(body["response"]["allowed"], true, "{body}");

        // deny: names the rule and the field
        let (_, _, body) = post(
            &client,
            &srv.url("/validate"),
            &review("CREATE", privileged_pod(), None, false),
        )
        .await;
        assert_eq!(body["response"]["allowed"], false);
        assert_eq!(body["response"]["status"]["code"], 403);
        let msg = body["response"]["status"]["message"]
            .as_str()
            .expect("message");
        assert!(
            msg.contains("[privileged] spec.containers[0].securityContext.privileged"),
            "{msg}"
        );
        assert!(
            body["response"]["auditAnnotations"]["violations"]
                .as_str()
                .expect("ann")
                .contains("privileged")
        );
    }
    srv.stop().await.expect("clean stop");
}

#[tokio::test]
async fn audit_mode_admits_with_warnings_and_dry_run_gets_the_same_answer() {
    let mut policy = Policy::default();
    policy.mode = bulwark::config::Mode::Audit;
    let mut srv = TestServer::start(policy, Options::default()).await;
    let client = srv.client(false);
    let (_, _, wet) = post(
        &client,
        &srv.url("/validate"),
        &review("CREATE", privileged_pod(), None, false),
    )
    .await;
    let (_, _, dry) = post(
        &client,
        &srv.url("/validate"),
        &review("CREATE", privileged_pod(), None, true),
    )
    .await;
    assert_eq!(wet["response"]["allowed"], true);
    let warnings = wet["response"]["warnings"].as_array().expect("warnings");
    assert!(
        warnings
            .iter()
            .any(|w| w.as_str().is_some_and(|w| w.contains("privileged"))),
        "{wet}"
    );
    assert!(
        warnings
            .iter()
            .all(|w| w.as_str().is_some_and(|w| w.len() <= 256))
    );
    assert_eq!(
        wet["response"], dry["response"],
        "dry-run must get the same answer"
    );
    srv.stop().await.expect("clean stop");
}

#[tokio::test]
async fn mutate_returns_a_patch_that_applies() {
    let mut srv = TestServer::start(Policy::default(), Options::default()).await;
    let client = srv.client(false);
    let pod = json!({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "p", "namespace": "shop"},
        "spec": {"containers": [{"name": "c", "image": "nginx:1.27", "ports": [{"containerPort": 80}]}]}});
    let (status, _, body) = post(
        &client,
        &srv.url("/mutate"),
        &review("CREATE", pod.clone(), None, false),
    )
    .await;
    assert_eq!(status, 200);
    assert_eq!(body["response"]["allowed"], true);
    assert_eq!(body["response"]["patchType"], "JSONPatch");
    let raw = base64::engine::general_purpose::STANDARD
        .decode(body["response"]["patch"].as_str().expect("patch"))
        .expect("base64");
    let patch: json_patch::Patch = serde_json::from_slice(&raw).expect("patch json");
    let mut doc = pod.clone();
    json_patch::patch(&mut doc, &patch).expect("patch applies");
    let sc = &doc["spec"]["containers"][0]["securityContext"];
    assert_eq!(sc["allowPrivilegeEscalation"], false);
    assert_eq!(sc["readOnlyRootFilesystem"], true);
    assert_eq!(doc["spec"]["securityContext"]["runAsNonRoot"], true);
    assert_eq!(
        doc["spec"]["containers"][0]["image"], "nginx:1.27",
        "author fields untouched"
    );

    // mutating the mutated object changes nothing: no patch field at all
    let (_, _, again) = post(
        &client,
        &srv.url("/mutate"),
        &review("CREATE", doc, None, false),
    )
    .await;
    assert_eq!(again["response"]["allowed"], true);
    assert!(again["response"].get("patch").is_none(), "{again}");
    assert!(again["response"].get("patchType").is_none());
    srv.stop().await.expect("clean stop");
}

#[tokio::test]
async fn bad_input_gets_clear_errors() {
    let mut srv = TestServer::start(
        Policy::default(),
        Options {
            max_body_bytes: 64 * 1024,
            ..Options::default()
        },
    )
    .await;
    let client = srv.client(false);
    let url = srv.url("/validate");
    let send = |body: Vec<u8>, ctype: &'static str| {
        let client = client.clone();
        let url = url.clone();
        async move {
            let resp = client
                .post(&url)
                .header("content-type", ctype)
                .body(body)
                .send()
                .await
                .expect("send");
            let status = resp.status().as_u16();
            let body: Value = resp.json().await.unwrap_or(Value::Null);
            (status, body)
        }
    };
    let (s, b) = send(b"{}".to_vec(), "text/plain").await;
    assert_eq!(s, 400);
    assert!(
        b["error"].as_str().expect("error").contains("Content-Type"),
        "{b}"
    );
    let (s, b) = send(b"{not json".to_vec(), "application/json").await;
    assert_eq!(s, 400);
    assert!(
        b["error"].as_str().expect("error").contains("malformed"),
        "{b}"
    );
    let (s, b) = send(br#"{"apiVersion":"admission.k8s.io/v1beta1","kind":"AdmissionReview","request":{"uid":"x"}}"#.to_vec(), "application/json").await;
    assert_eq!(s, 400);
    assert!(
        b["error"].as_str().expect("error").contains("apiVersion"),
        "{b}"
    );
    let (s, b) = send(
        br#"{"apiVersion":"admission.k8s.io/v1","kind":"AdmissionReview"}"#.to_vec(),
        "application/json",
    )
    .await;
    assert_eq!(s, 400);
    assert!(
        b["error"].as_str().expect("error").contains("request"),
        "{b}"
    );
    let (s, b) = send(br#"{"apiVersion":"admission.k8s.io/v1","kind":"AdmissionReview","request":{"operation":"CREATE"}}"#.to_vec(), "application/json; charset=utf-8").await;
    assert_eq!(s, 400);
    assert!(b["error"].as_str().expect("error").contains("uid"), "{b}");

    // over the limit with a Content-Length: refused before reading
    let (s, b) = send(vec![b' '; 65 * 1024], "application/json").await;
    assert_eq!(s, 413, "{b}");
    // over the limit without a Content-Length (chunked): cut off at the limit
    let chunks = futures::stream::iter((0..100).map(|_| Ok::<_, std::io::Error>(vec![b' '; 1024])));
    let resp = client
        .post(&url)
        .header("content-type", "application/json")
        .body(reqwest::Body::wrap_stream(chunks))
        .send()
        .await
        .expect("send");
    assert_eq!(resp.status().as_u16(), 413);

    // a parsable review with an unusable object is answered with its uid
    let mut r = review(
        "CREATE",
        json!({"kind": "Pod", "spec": {"containers": "oops"}}),
        None,
        false,
    );
    r["request"]["kind"]["kind"] = json!("Pod");
    let (s, b) = send(serde_json::to_vec(&r).expect("json"), "application/json").await;
    assert_eq!(s, 200);
    assert_eq!(b["response"]["uid"], "uid-CREATE-Pod");
    assert_eq!(b["response"]["allowed"], false);
    assert_eq!(b["response"]["status"]["code"], 400);
    // object missing on CREATE
    r["request"]["object"] = Value::Null;
    let (_, b) = send(serde_json::to_vec(&r).expect("json"), "application/json").await;
    assert!(
        b["response"]["status"]["message"]
            .as_str()
            .expect("msg")
            .contains("missing"),
        "{b}"
    );
    // unknown path
    let resp = client
        .post(srv.url("/nope"))
        .json(&r)
        .send()
        .await
        .expect("send");
    assert_eq!(resp.status().as_u16(), 404);

    // health and metrics on the plain-HTTP port
    let plain = reqwest::Client::new();
    let h = plain
        .get(format!("http://{}/healthz", srv.health))
        .send()
        .await
        .expect("healthz");
    assert_eq!(h.status().as_u16(), 200);
    let r = plain
        .get(format!("http://{}/readyz", srv.health))
        .send()
        .await
        .expect("readyz");
    assert_eq!(r.status().as_u16(), 200);
    let m = plain
        .get(format!("http://{}/metrics", srv.health))
        .send()
        .await
        .expect("metrics");
    let text = m.text().await.expect("text");
    assert!(
        text.contains("bulwark_admission_errors_total{endpoint=\"validate\",reason=\"too_large\"}"),
        "{text}"
    );
    assert!(text.contains("bulwark_certificate_expiry_timestamp_seconds"));
    srv.stop().await.expect("clean stop");
}

#[tokio::test]
async fn panics_are_caught_counted_and_the_app_keeps_serving() {
    use tower::ServiceExt;
    let metrics = Arc::new(Metrics::default());
    let state = Arc::new(server::AppState {
        policy: Arc::new(PolicyHandle::new(Policy::default())),
        cluster: None,
        metrics: metrics.clone(),
        options: Options::default(),
    });
    let app = server::harden(
        server::routes(state).route(
            "/boom",
            axum::routing::post(|| async {
                if std::hint::black_box(true) {
                    panic!("boom");
                }
                "unreachable"
            }),
        ),
        metrics.clone(),
    );
    let req = |path: &str, body: Value| {
        axum::http::Request::post(path)
            .header("content-type", "application/json")
            .body(axum::body::Body::from(
                serde_json::to_vec(&body).expect("json"),
            ))
            .expect("request")
    };
    let resp = app
        .clone()
        .oneshot(req("/boom", json!({})))
        .await
        .expect("response");
    assert_eq!(resp.status().as_u16(), 500);
    assert!(
        metrics
            .encode()
            .contains("bulwark_admission_errors_total{endpoint=\"unknown\",reason=\"panic\"} 1"),
        "a caught panic is counted: {}",
        metrics.encode()
    );
    let resp = app
        .oneshot(req(
            "/validate",
            review("CREATE", privileged_pod(), None, false),
        ))
        .await
        .expect("response");
    assert_eq!(resp.status().as_u16(), 200);
}

#[tokio::test]
async fn slow_loris_connections_are_closed() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let options = Options {
        header_timeout: Duration::from_millis(300),
        ..Options::default()
    };
    let mut srv = TestServer::start(policy_default(), options).await;
    let mut tls = tls_connect(&srv).await;
    // A TLS connection that sends half a request line and stalls.
    tls.write_all(b"POST /validate HTTP/1.1\r\nHost: x\r\n")
        .await
        .expect("write");
    let mut buf = [0u8; 256];
    let read = tokio::time::timeout(Duration::from_secs(5), tls.read(&mut buf)).await;
    match read {
        Ok(Ok(_)) | Ok(Err(_)) => {} // closed (possibly with a 408) by the server
        Err(_) => panic!("server kept a stalled connection open past the header timeout"),
    }
    // ... and well-behaved clients are still served.
    let (status, _, _) = post(
        &srv.client(false),
        &srv.url("/validate"),
        &review("CREATE", privileged_pod(), None, false),
    )
    .await;
    assert_eq!(status, 200);
    srv.stop().await.expect("clean stop");
}

/// A connection that completes its handshake and never sends anything is closed after the
/// first-request timeout (hyper's header timeout only starts with a request's first byte),
/// so idle connections cannot use up the connection limit; one that sent a request stays
/// open for keep-alive.
#[tokio::test]
async fn silent_connections_are_closed() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let options = Options {
        first_request_timeout: Duration::from_millis(300),
        keep_alive_timeout: Duration::from_secs(30),
        max_connections: 4,
        ..Options::default()
    };
    let mut srv = TestServer::start(policy_default(), options).await;
    // Fill every slot with silent connections.
    let mut silent = Vec::new();
    for _ in 0..4 {
        silent.push(tls_connect(&srv).await);
    }
    let started = std::time::Instant::now();
    for tls in &mut silent {
        let mut buf = [0u8; 64];
        let read = tokio::time::timeout(Duration::from_secs(5), tls.read(&mut buf)).await;
        assert!(
            matches!(read, Ok(Ok(0)) | Ok(Err(_))),
            "a silent connection was kept open: {read:?}"
        );
    }
    assert!(started.elapsed() < Duration::from_secs(3));
    // The slots are free again, and a connection that talks is kept past the timeout.
    let mut talking = tls_connect(&srv).await;
    talking
        .write_all(b"GET /nope HTTP/1.1\r\nHost: x\r\n\r\n")
        .await
        .expect("write");
    let mut buf = [0u8; 512];
    let n = talking.read(&mut buf).await.expect("answer");
    assert!(
        buf[..n].starts_with(b"HTTP/1.1 "),
        "{:?}",
        String::from_utf8_lossy(&buf[..n])
    );
    tokio::time::sleep(Duration::from_millis(600)).await;
    talking
        .write_all(b"GET /nope HTTP/1.1\r\nHost: x\r\n\r\n")
        .await
        .expect("kept alive");
    let n = talking.read(&mut buf).await.expect("second answer");
    assert!(
        buf[..n].starts_with(b"HTTP/1.1 "),
        "keep-alive connection was closed"
    );
    srv.stop().await.expect("clean stop");
}

/// At the connection limit, a newcomer takes the slot of the oldest silent connection, so a
/// flood of silent connections cannot keep a real client out.
#[tokio::test]
async fn at_the_limit_silent_connections_make_room() {
    use tokio::io::AsyncReadExt;
    let options = Options {
        first_request_timeout: Duration::from_secs(60),
        max_connections: 4,
        ..Options::default()
    };
    let mut srv = TestServer::start(policy_default(), options).await;
    let mut silent = Vec::new();
    for _ in 0..4 {
        silent.push(tls_connect(&srv).await);
    }
    let (status, _, _) = post(
        &srv.client(false),
        &srv.url("/validate"),
        &review("CREATE", privileged_pod(), None, false),
    )
    .await;
    assert_eq!(
        status, 200,
        "served although every slot held a silent connection"
    );
    let mut buf = [0u8; 16];
    let read = tokio::time::timeout(Duration::from_secs(2), silent[0].read(&mut buf)).await;
    assert!(
        matches!(read, Ok(Ok(0)) | Ok(Err(_))),
        "the oldest silent connection made room: {read:?}"
    );
    srv.stop().await.expect("clean stop");
}

async fn tls_connect(srv: &TestServer) -> tokio_rustls::client::TlsStream<tokio::net::TcpStream> {
    let mut roots = rustls::RootCertStore::empty();
    use rustls_pki_types::pem::PemObject;
    for c in rustls_pki_types::CertificateDer::pem_slice_iter(srv.ca_pem.as_bytes()) {
        roots.add(c.expect("pem")).expect("root");
    }
    let cfg = rustls::ClientConfig::builder_with_provider(bulwark::server::tls::provider())
        .with_safe_default_protocol_versions()
        .expect("versions")
        .with_root_certificates(roots)
        .with_no_client_auth();
    let connector = tokio_rustls::TlsConnector::from(Arc::new(cfg));
    let tcp = tokio::net::TcpStream::connect(srv.addr)
        .await
        .expect("connect");
    let name = rustls_pki_types::ServerName::try_from("localhost").expect("name");
    connector.connect(name, tcp).await.expect("handshake")
}

fn policy_default() -> Policy {
    Policy::default()
}

#[tokio::test]
async fn certificate_rotation_under_load_drops_nothing() {
    let options = Options {
        cert_reload_interval: Duration::from_millis(100),
        ..Options::default()
    };
    let mut srv = TestServer::start(Policy::default(), options).await;
    let new = bulwark::certs::generate("rotated CA", &["localhost".into()], 2).expect("certs");
    let both = client_trusting(&[&srv.ca_pem, &new.ca_pem], false);
    let failures = Arc::new(AtomicUsize::new(0));
    let done = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let url = srv.url("/validate");
    let body = review("CREATE", privileged_pod(), None, false);
    let mut load = Vec::new();
    for _ in 0..4 {
        let (client, url, body, failures, done) = (
            both.clone(),
            url.clone(),
            body.clone(),
            failures.clone(),
            done.clone(),
        );
        load.push(tokio::spawn(async move {
            let mut n = 0;
            while !done.load(Ordering::Relaxed) {
                match client.post(&url).json(&body).send().await {
                    Ok(r) if r.status() == 200 => n += 1,
                    _ => {
                        failures.fetch_add(1, Ordering::Relaxed);
                    }
                }
            }
            n
        }));
    }
    tokio::time::sleep(Duration::from_millis(300)).await;
    // Rotate like a Secret update: write the new files.
    bulwark::certs::write(&new, srv.dir.path()).expect("rotate");
    // A client that trusts only the new CA succeeds once the reload happened.
    let only_new = client_trusting(&[&new.ca_pem], false);
    let mut rotated = false;
    for _ in 0..50 {
        if only_new
            .post(&url)
            .json(&body)
            .send()
            .await
            .is_ok_and(|r| r.status() == 200)
        {
            rotated = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    tokio::time::sleep(Duration::from_millis(300)).await;
    done.store(true, Ordering::Relaxed);
    let mut total = 0;
    for t in load {
        total += t.await.expect("load task");
    }
    assert!(rotated, "new certificate never served");
    assert!(total > 20, "load too small to mean anything: {total}");
    assert_eq!(
        failures.load(Ordering::Relaxed),
        0,
        "requests failed across rotation ({total} ok)"
    );
    srv.stop().await.expect("clean stop");
}

#[tokio::test]
async fn graceful_shutdown_answers_in_flight_requests() {
    let mut srv = TestServer::start(Policy::default(), Options::default()).await;
    let client = srv.client(false);
    let body = serde_json::to_vec(&review("CREATE", privileged_pod(), None, false)).expect("json");
    // Requests whose bodies arrive slowly are in flight when SIGTERM (the stop signal) lands.
    let mut inflight = Vec::new();
    for _ in 0..8 {
        let (client, url, body) = (client.clone(), srv.url("/validate"), body.clone());
        inflight.push(tokio::spawn(async move {
            let resp = client
                .post(&url)
                .header("content-type", "application/json")
                .body(slow_body(&body, Duration::from_millis(500)))
                .send()
                .await
                .expect("in-flight request answered");
            let status = resp.status();
            let v: Value = resp.json().await.expect("json");
            (status, v)
        }));
    }
    tokio::time::sleep(Duration::from_millis(200)).await;
    let stop = srv.stop();
    let (stopped, results) = tokio::join!(stop, futures::future::join_all(inflight));
    stopped.expect("clean stop");
    for r in results {
        let (status, v) = r.expect("task");
        assert_eq!(status, 200);
        assert_eq!(v["response"]["uid"], "uid-CREATE-Pod");
    }
    // and the listener is closed afterwards
    assert!(
        client
            .post(srv.url("/validate"))
            .body("{}")
            .send()
            .await
            .is_err()
    );
}

/// After SIGTERM the listener closes at once, but keep-alive connections already open are
/// still answered during the drain window, each answer with `Connection: close`, so no
/// client loses a request to a closing idle connection.
#[tokio::test]
async fn drain_window_answers_with_connection_close() {
    let options = Options {
        drain: Duration::from_millis(1500),
        ..Options::default()
    };
    let mut srv = TestServer::start(Policy::default(), options).await;
    let client = srv.client(false);
    let body = serde_json::to_vec(&review("CREATE", privileged_pod(), None, false)).expect("json");
    let send = |client: reqwest::Client, url: String, body: Vec<u8>| async move {
        client
            .post(url)
            .header("content-type", "application/json")
            .body(body)
            .send()
            .await
    };
    let before = send(client.clone(), srv.url("/validate"), body.clone())
        .await
        .expect("answered");
    assert_eq!(before.status(), 200);
    assert!(before.headers().get("connection").is_none());
    let _ = before.bytes().await;

    let _ = srv.stop.take().expect("stop sender").send(());
    tokio::time::sleep(Duration::from_millis(200)).await;
    // The keep-alive connection is still served, and told to close.
    let during = send(client.clone(), srv.url("/validate"), body.clone())
        .await
        .expect("answered while draining");
    assert_eq!(during.status(), 200);
    assert_eq!(
        during.headers().get("connection").map(|v| v.as_bytes()),
        Some(&b"close"[..])
    );
    let v: Value = during.json().await.expect("json");
    assert_eq!(v["response"]["uid"], "uid-CREATE-Pod");
    // New connections are refused: the pod is leaving.
    assert!(
        send(client.clone(), srv.url("/validate"), body.clone())
            .await
            .is_err(),
        "the listener is closed"
    );
    // With its last connection gone, the server stops before the window ends.
    let started = std::time::Instant::now();
    srv.stop().await.expect("clean stop");
    assert!(started.elapsed() < Duration::from_millis(1200));
}
