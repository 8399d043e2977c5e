//! The real `bulwark` binary against a stand-in API server ([`crate::apiserver`]) serving a
//! small recorded cluster (tests/fixtures/cluster/README.md): `check --cluster` through
//! `KUBECONFIG`, and `serve` as it starts on a cluster, writing PolicyReports under its Lease.

use std::ffi::OsStr;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::Path;
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::http::Method;
use serde_json::{Value, json};

use crate::apiserver::{ApiServer, eventually, path};
use crate::mutate::bulwark_env;

/// Long enough for a debug binary on a loaded machine; a hang still fails.
const WAIT: Duration = Duration::from_secs(60);

/// `bulwark check --cluster ARGS` with `KUBECONFIG` pointing at `api`.
fn check(api: &ApiServer, args: &[&str]) -> (i32, String, String) {
    let kubeconfig = api.kubeconfig("stand-in");
    let mut all = vec!["check", "--cluster"];
    all.extend_from_slice(args);
    bulwark_env(
        &[
            ("KUBECONFIG", kubeconfig.as_os_str()),
            ("NO_COLOR", OsStr::new("1")),
        ],
        &all,
    )
}

/// One finding or report result, as (kind, namespace, name, rule, result).
type Row = (String, String, String, String, String);

fn row(kind: &Value, ns: &Value, name: &Value, rule: &Value, result: &Value) -> Row {
    let s = |v: &Value| v.as_str().unwrap_or_default().to_owned();
    (s(kind), s(ns), s(name), s(rule), s(result))
}

/// The rows of `check -o json`'s findings, sorted.
fn finding_rows(findings: &Value) -> Vec<Row> {
    let mut out: Vec<Row> = findings
        .as_array()
        .into_iter()
        .flatten()
        .map(|f| {
            row(
                &f["kind"],
                &f["namespace"],
                &f["name"],
                &f["rule"],
                &f["result"],
            )
        })
        .collect();
    out.sort();
    out
}

fn rows(items: &[(&str, &str, &str, &str, &str)]) -> Vec<Row> {
    let mut out: Vec<Row> = items
        .iter()
        .map(|(k, ns, n, r, v)| {
            (
                (*k).into(),
                (*ns).into(),
                (*n).into(),
                (*r).into(),
                (*v).into(),
            )
        })
        .collect();
    out.sort();
    out
}

/// What the recorded cluster holds for bulwark, judged with the embedded policy: `legacy` is
/// off, `kube-system` and `bulwark-system` are exempt, the ReplicaSets and the Pod a
/// ReplicaSet made are judged through their Deployment, `shop/api` and `default` are clean,
/// node-exporter's hostPID is lifted by a BulwarkException in bulwark-system.
fn expected() -> Vec<Row> {
    rows(&[
        ("Namespace", "", "staging", "namespace-pod-security", "warn"),
        (
            "DaemonSet",
            "shop",
            "node-exporter",
            "host-namespaces",
            "skip",
        ),
        ("Deployment", "shop", "web", "privileged", "fail"),
        ("Pod", "shop", "debug", "image-tag", "fail"),
        ("Pod", "shop", "debug", "service-account", "warn"),
        ("Pod", "shop", "debug", "labels", "warn"),
        (
            "Deployment",
            "staging",
            "worker",
            "privilege-escalation",
            "fail",
        ),
        (
            "Deployment",
            "staging",
            "worker",
            "disruption-budget",
            "warn",
        ),
    ])
}

#[test]
fn check_cluster_prints_the_live_findings_and_fails_on_an_error() {
    let api = ApiServer::recorded();
    let (code, stdout, stderr) = check(&api, &[]);
    assert_eq!(code, 1, "{stdout}{stderr}");
    let expected = r#"Namespace staging
  warning namespace-pod-security     metadata.labels (audit mode)
          namespace has no pod-security.kubernetes.io/enforce label: set it to restricted

Deployment shop/web
  error   privileged                 spec.template.spec.containers[0].securityContext.privileged
          container "app" is privileged

Pod shop/debug
  error   image-tag                  spec.containers[0].image
          container "shell" image "busybox:latest" uses the mutable tag latest
  warning service-account            spec.serviceAccountName
          serviceAccountName is unset: the pod runs as the namespace's shared default service account
  warning labels                     metadata.labels
          Pod "debug" has no "app.kubernetes.io/name" label

Deployment staging/worker
  error   privilege-escalation       spec.template.spec.containers[0].securityContext.allowPrivilegeEscalation (audit mode)
          container "app" sets allowPrivilegeEscalation: true
  warning disruption-budget          spec.template.metadata.labels (audit mode)
          no PodDisruptionBudget in namespace "staging" selects these pod labels: a node drain may evict all 3 replicas at once

10 objects checked: 3 error(s), 4 warning(s), 0 unreadable, 1 exempted (listed by -o json)
"#;
    assert_eq!(stdout, expected);
    assert_eq!(stderr, "");

    // It read the cluster as a client should: with the kubeconfig's token (or the answers
    // would have been 401), every kind listed, and every page of a list that had several.
    let lists = api.requests(&Method::GET, "/api");
    let namespaces: Vec<_> = lists
        .iter()
        .filter(|l| l.path == "/api/v1/namespaces")
        .collect();
    assert_eq!(
        namespaces.len(),
        3,
        "six namespaces, two a page: {namespaces:?}"
    );
    assert!(namespaces[0].has("limit=500"), "{:?}", namespaces[0]);
    assert!(
        namespaces[1..]
            .iter()
            .all(|l| l.param("continue").is_some()),
        "{namespaces:?}"
    );
    for collection in [
        "/apis/apps/v1/deployments",
        "/apis/apps/v1/daemonsets",
        "/apis/apps/v1/statefulsets",
        "/apis/apps/v1/replicasets",
        "/apis/batch/v1/jobs",
        "/apis/batch/v1/cronjobs",
        "/api/v1/pods",
        "/api/v1/replicationcontrollers",
        "/apis/policy/v1/poddisruptionbudgets",
        "/apis/autoscaling/v2/horizontalpodautoscalers",
        "/apis/bulwark.dev/v1alpha1/bulwarkexceptions",
    ] {
        assert!(
            lists.iter().any(|l| l.path == collection),
            "{collection} was not listed"
        );
    }
    assert!(
        api.requests(&Method::GET, "/")
            .iter()
            .all(|l| l.param("watch").is_none()),
        "one read, no watch"
    );
}

#[test]
fn check_cluster_json_and_sarif_say_the_same() {
    let api = ApiServer::recorded();
    let (code, stdout, stderr) = check(&api, &["-o", "json"]);
    assert_eq!(code, 1, "{stderr}");
    let findings: Value = serde_json::from_str(&stdout).expect("JSON");
    let got = finding_rows(&findings);
    assert_eq!(got, expected());
    let skipped = findings
        .as_array()
        .into_iter()
        .flatten()
        .find(|f| f["result"] == "skip")
        .cloned()
        .unwrap_or_default();
    assert_eq!(
        skipped["exemption"],
        "BulwarkException bulwark-system/node-exporter-host-pid: node-exporter reads host process metrics (SEC-1042)"
    );
    assert_eq!(skipped["severity"], "error");
    assert!(
        findings
            .as_array()
            .into_iter()
            .flatten()
            .all(|f| f.get("file").is_none()),
        "{findings:#}"
    );

    let (code, stdout, stderr) = check(&api, &["-o", "sarif"]);
    assert_eq!(code, 1, "{stderr}");
    let log: Value = serde_json::from_str(&stdout).expect("SARIF");
    let mut results: Vec<(String, String, String)> = log["runs"][0]["results"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|r| {
            let s = |v: &Value| v.as_str().unwrap_or_default().to_owned();
            (
                s(&r["locations"][0]["physicalLocation"]["artifactLocation"]["uri"]),
                s(&r["ruleId"]),
                s(&r["level"]),
            )
        })
        .collect();
    results.sort();
    let owned = |v: [&str; 3]| (v[0].to_owned(), v[1].to_owned(), v[2].to_owned());
    assert_eq!(
        results,
        [
            owned(["k8s/Namespace/staging", "namespace-pod-security", "warning"]),
            owned(["k8s/shop/Deployment/web", "privileged", "error"]),
            owned(["k8s/shop/Pod/debug", "image-tag", "error"]),
            owned(["k8s/shop/Pod/debug", "labels", "warning"]),
            owned(["k8s/shop/Pod/debug", "service-account", "warning"]),
            owned([
                "k8s/staging/Deployment/worker",
                "disruption-budget",
                "warning"
            ]),
            owned([
                "k8s/staging/Deployment/worker",
                "privilege-escalation",
                "error"
            ]),
        ],
        "the exempted finding is left out"
    );
}

#[test]
fn check_cluster_narrows_to_one_namespace() {
    let api = ApiServer::recorded();
    let (code, stdout, stderr) = check(&api, &["--namespace", "staging", "-o", "json"]);
    assert_eq!(code, 1, "{stderr}");
    let findings: Value = serde_json::from_str(&stdout).expect("JSON");
    let got = finding_rows(&findings);
    let staging: Vec<Row> = expected()
        .into_iter()
        .filter(|r| r.1 == "staging")
        .collect();
    assert_eq!(got, staging);
    // Only that namespace's objects were read, and bulwark's own exceptions besides.
    let read: Vec<String> = api
        .requests(&Method::GET, "/")
        .into_iter()
        .map(|l| l.path)
        .collect();
    assert!(
        read.contains(&"/api/v1/namespaces/staging".to_owned()),
        "{read:?}"
    );
    assert!(
        read.contains(
            &"/apis/bulwark.dev/v1alpha1/namespaces/bulwark-system/bulwarkexceptions".to_owned()
        ),
        "{read:?}"
    );
    assert!(
        read.iter()
            .filter(|p| p.starts_with("/api"))
            .all(|p| p.contains("/namespaces/staging") || p.contains("/namespaces/bulwark-system")),
        "{read:?}"
    );

    // An opted-out namespace: nothing judged, nothing fails.
    let (code, stdout, stderr) = check(&api, &["-n", "legacy"]);
    assert_eq!(code, 0, "{stderr}");
    assert_eq!(
        stdout,
        "0 objects checked: 0 error(s), 0 warning(s), 0 unreadable\n"
    );

    let (code, stdout, stderr) = check(&api, &["-n", "nope"]);
    assert_eq!(code, 2, "{stdout}");
    assert_eq!(stderr, "error: namespace \"nope\" does not exist\n");
}

#[test]
fn check_cluster_cannot_run_without_an_api_server() {
    let api = ApiServer::recorded();
    // The current context points at a port nothing listens on.
    let closed = api.kubeconfig("closed");
    let (code, stdout, stderr) = bulwark_env(
        &[("KUBECONFIG", closed.as_os_str())],
        &["check", "--cluster"],
    );
    assert_eq!(code, 2, "{stdout}{stderr}");
    assert_eq!(stdout, "");
    assert!(
        stderr.starts_with("error: cannot reach the Kubernetes API server at http://127.0.0.1:"),
        "{stderr}"
    );
    assert!(stderr.contains("Connection refused"), "says why: {stderr}");
    assert!(api.requests(&Method::GET, "/").is_empty());

    // --kubeconfig and --context pick the live one from the same file.
    let path = closed.to_str().expect("utf-8 path");
    for (context, exit) in [("stand-in", 1), ("nope", 2)] {
        let (code, _, stderr) = bulwark_env(
            &[("KUBECONFIG", OsStr::new("/nonexistent"))],
            &[
                "check",
                "--cluster",
                "--kubeconfig",
                path,
                "--context",
                context,
            ],
        );
        assert_eq!(code, exit, "--context {context}: {stderr}");
        if exit == 2 {
            assert!(
                stderr.starts_with("error: cannot use the kubeconfig"),
                "{stderr}"
            );
        }
    }

    let (code, _, stderr) = bulwark_env(&[], &["check", "--namespace", "shop", "x.yaml"]);
    assert_eq!(code, 2, "--namespace is for --cluster: {stderr}");
}

// ------------------------------------------------------------------------------------------
// `bulwark serve` on the stand-in cluster.

/// `bulwark serve` as a child process, its stderr (JSON logs) collected as it comes.
struct Serve {
    child: Child,
    log: Arc<Mutex<Vec<String>>>,
}

impl Serve {
    fn start(kubeconfig: &Path, dir: &Path) -> Serve {
        let mut child = Command::new(env!("CARGO_BIN_EXE_bulwark"))
            .args([
                "serve",
                "--listen",
                "127.0.0.1:0",
                "--health-listen",
                "127.0.0.1:0",
            ])
            .args([
                "--log-format",
                "json",
                "--drain-seconds",
                "0",
                "--shutdown-timeout",
                "5",
            ])
            .arg("--dev-cert-dir")
            .arg(dir)
            .env("KUBECONFIG", kubeconfig)
            .env("BULWARK_LOG", "info")
            .env_remove("BULWARK_CONFIG")
            .env_remove("POD_NAMESPACE")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("bulwark serve starts");
        let log = Arc::new(Mutex::new(Vec::new()));
        let stderr = child.stderr.take().expect("stderr");
        let lines = log.clone();
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                lines.lock().unwrap_or_else(|p| p.into_inner()).push(line);
            }
        });
        Serve { child, log }
    }

    fn logs(&self) -> String {
        self.log
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .join("\n")
    }

    /// The first log line whose message is `message`, as JSON.
    fn logged(&self, message: &str) -> Option<Value> {
        self.log
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .iter()
            .filter_map(|l| serde_json::from_str::<Value>(l).ok())
            .find(|v| v["message"] == message)
    }

    /// Sends SIGTERM and waits for the exit.
    fn terminate(&mut self) -> ExitStatus {
        let sent = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status()
            .expect("kill runs");
        assert!(sent.success());
        eventually("bulwark serve to exit after SIGTERM", WAIT, || {
            self.child.try_wait().expect("wait")
        })
    }
}

impl Drop for Serve {
    fn drop(&mut self) {
        // Only when a test failed before terminating it: stop it, and show what it said.
        if let Ok(None) = self.child.try_wait() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
        if std::thread::panicking() {
            eprintln!("bulwark serve's log:\n{}", self.logs());
        }
    }
}

/// The status code of `GET path` on a plain-HTTP listener, `None` when it does not answer.
fn http_status(addr: SocketAddr, path: &str) -> Option<u16> {
    let mut stream = TcpStream::connect_timeout(&addr, Duration::from_secs(2)).ok()?;
    stream.set_read_timeout(Some(Duration::from_secs(5))).ok()?;
    write!(
        stream,
        "GET {path} HTTP/1.1\r\nHost: bulwark\r\nConnection: close\r\n\r\n"
    )
    .ok()?;
    let mut response = String::new();
    stream.read_to_string(&mut response).ok()?;
    response.split_whitespace().nth(1)?.parse().ok()
}

/// (kind, namespace, name, rule, result) of every result of a report.
fn report_rows(report: &Value) -> Vec<Row> {
    let mut out: Vec<Row> = report["results"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|r| {
            let o = &r["resources"][0];
            row(
                &o["kind"],
                &o["namespace"],
                &o["name"],
                &r["rule"],
                &r["result"],
            )
        })
        .collect();
    out.sort();
    out
}

#[test]
fn serve_audits_the_cluster_into_policy_reports_under_a_lease() {
    let api = ApiServer::recorded();
    let dir = tempfile::tempdir().expect("tempdir");
    let mut serve = Serve::start(&api.kubeconfig("stand-in"), dir.path());
    let health: SocketAddr = eventually("the health listener's address in the log", WAIT, || {
        serve.logged("bulwark serving")?["health"]
            .as_str()?
            .parse()
            .ok()
    });
    eventually("/readyz to answer 200", WAIT, || {
        (http_status(health, "/readyz") == Some(200)).then_some(())
    });

    // The reports, as the auditor applies them once it leads.
    let reports = "/apis/wgpolicyk8s.io/v1alpha2";
    let shop = path("policyreports", "shop", "bulwark");
    let staging = path("policyreports", "staging", "bulwark");
    let cluster = path("clusterpolicyreports", "", "bulwark");
    eventually("the three reports", WAIT, || {
        let written: Vec<String> = api
            .requests(&Method::PATCH, reports)
            .into_iter()
            .map(|l| l.path)
            .collect();
        [&shop, &staging, &cluster]
            .iter()
            .all(|p| written.contains(p))
            .then_some(())
    });
    let applies = api.requests(&Method::PATCH, reports);
    for apply in &applies {
        assert_eq!(
            apply.content_type, "application/apply-patch+yaml",
            "{apply:?}"
        );
        assert_eq!(apply.param("fieldManager"), Some("bulwark"), "{apply:?}");
        assert!(apply.has("force=true"), "{apply:?}");
    }
    let mut written: Vec<&str> = applies.iter().map(|l| l.path.as_str()).collect();
    written.sort();
    written.dedup();
    assert_eq!(
        written,
        [cluster.as_str(), shop.as_str(), staging.as_str()],
        "one report per namespace with results and one cluster report: none for legacy \
         (off), kube-system or bulwark-system (exempt), default (clean)"
    );

    let stored = |plural: &str, ns: &str| {
        api.object(plural, ns, "bulwark")
            .unwrap_or_else(|| panic!("no {plural} in {ns:?}"))
    };
    let shop_report = stored("policyreports", "shop");
    let staging_report = stored("policyreports", "staging");
    let cluster_report = stored("clusterpolicyreports", "");
    for report in [&shop_report, &staging_report, &cluster_report] {
        assert_eq!(report["apiVersion"], "wgpolicyk8s.io/v1alpha2");
        assert_eq!(report["metadata"]["managedFields"][0]["manager"], "bulwark");
        assert_eq!(
            report["metadata"]["labels"]["app.kubernetes.io/managed-by"],
            "bulwark"
        );
    }
    assert_eq!(shop_report["kind"], "PolicyReport");
    assert_eq!(cluster_report["kind"], "ClusterPolicyReport");
    let by_namespace =
        |ns: &str| -> Vec<Row> { expected().into_iter().filter(|r| r.1 == ns).collect() };
    assert_eq!(report_rows(&shop_report), by_namespace("shop"));
    assert_eq!(report_rows(&staging_report), by_namespace("staging"));
    assert_eq!(report_rows(&cluster_report), by_namespace(""));
    assert_eq!(
        shop_report["summary"],
        json!({"pass": 0, "fail": 2, "warn": 2, "error": 0, "skip": 1})
    );
    assert_eq!(
        staging_report["summary"],
        json!({"pass": 0, "fail": 1, "warn": 1, "error": 0, "skip": 0})
    );
    assert_eq!(
        cluster_report["summary"],
        json!({"pass": 0, "fail": 0, "warn": 1, "error": 0, "skip": 0})
    );
    let skipped = shop_report["results"]
        .as_array()
        .into_iter()
        .flatten()
        .find(|r| r["result"] == "skip")
        .cloned()
        .unwrap_or_default();
    assert_eq!(
        skipped["properties"]["exemption"],
        "BulwarkException bulwark-system/node-exporter-host-pid: node-exporter reads host process metrics (SEC-1042)"
    );

    // `check --cluster` on the same cluster says what the reports say.
    let (_, stdout, _) = check(&api, &["-o", "json"]);
    let checked = finding_rows(&serde_json::from_str(&stdout).expect("JSON"));
    let mut reported: Vec<Row> = [&shop_report, &staging_report, &cluster_report]
        .into_iter()
        .flat_map(report_rows)
        .collect();
    reported.sort();
    assert_eq!(checked, reported);

    // The Lease: created in bulwark's namespace, held by this replica.
    let lease_path = path("leases", "bulwark-system", "bulwark-audit");
    let lease = api
        .object("leases", "bulwark-system", "bulwark-audit")
        .expect("a Lease");
    let holder = lease["spec"]["holderIdentity"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    assert!(!holder.is_empty(), "held: {lease}");
    let created = api.requests(&Method::POST, &path("leases", "bulwark-system", ""));
    assert_eq!(created.len(), 1, "{created:?}");
    assert_eq!(created[0].body["spec"]["holderIdentity"], holder.as_str());

    // A Deployment created later arrives through the watch and is judged into its report.
    let mut late = api
        .object("deployments", "staging", "worker")
        .expect("worker");
    late["metadata"] = json!({"name": "batch", "namespace": "staging", "uid": "uid-batch",
        "labels": {"app.kubernetes.io/name": "batch"}});
    api.apply("deployments", late);
    eventually("the late Deployment in staging's report", WAIT, || {
        let report = api.object("policyreports", "staging", "bulwark")?;
        report_rows(&report)
            .iter()
            .any(|r| r.2 == "batch" && r.3 == "privilege-escalation" && r.4 == "fail")
            .then_some(())
    });

    // SIGTERM: a clean exit, the Lease handed back.
    let status = serve.terminate();
    assert!(status.success(), "exit {status:?}\n{}", serve.logs());
    let lease = api
        .object("leases", "bulwark-system", "bulwark-audit")
        .expect("a Lease");
    assert!(
        lease["spec"]["holderIdentity"]
            .as_str()
            .unwrap_or_default()
            .is_empty(),
        "released: {lease}\n{}",
        serve.logs()
    );
    let last_write = api
        .requests(&Method::PUT, &lease_path)
        .pop()
        .expect("the release is a replace");
    assert!(
        last_write.body["spec"]
            .get("holderIdentity")
            .is_none_or(Value::is_null)
    );
    assert!(
        serve
            .logged("audit leader election: Lease released")
            .is_some(),
        "{}",
        serve.logs()
    );
}
