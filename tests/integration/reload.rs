//! Live policy reload on the real HTTPS server: the policy file lives in a directory laid out
//! and updated as the kubelet lays out and updates a ConfigMap volume (`policy.yaml ->
//! ..data/policy.yaml`, `..data` swapped by renaming a symlink), and every verdict is read
//! from real requests.

use std::future::Future;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use bulwark::policy_source::{Fingerprint, PolicySource};
use bulwark::server::Options;
use serde_json::Value;

use crate::server::{TestServer, post, privileged_pod, review, slow_body};

const ENFORCE: &str = "apiVersion: bulwark.dev/v1alpha1\nkind: Policy\nmode: enforce\n";
const AUDIT: &str = "apiVersion: bulwark.dev/v1alpha1\nkind: Policy\nmode: audit\n";
/// Parses as YAML but names a rule that does not exist.
const INVALID: &str =
    "apiVersion: bulwark.dev/v1alpha1\nkind: Policy\nrules:\n  privilegd:\n    enabled: false\n";

/// A directory laid out as the kubelet lays out a ConfigMap volume, and updated the way its
/// atomic writer updates one.
struct ConfigMapVolume {
    dir: tempfile::TempDir,
    version: usize,
    current: String,
}

impl ConfigMapVolume {
    fn new(policy: &str) -> ConfigMapVolume {
        let mut volume = ConfigMapVolume {
            dir: tempfile::tempdir().expect("tempdir"),
            version: 0,
            current: String::new(),
        };
        volume.update(policy);
        std::os::unix::fs::symlink("..data/policy.yaml", volume.path()).expect("key symlink");
        volume
    }

    /// The path bulwark is given: `policy.yaml`, a symlink through `..data`.
    fn path(&self) -> PathBuf {
        self.dir.path().join("policy.yaml")
    }

    /// A new timestamped directory, a `..data_tmp` symlink to it renamed over `..data` (the
    /// one atomic step), then the old directory removed.
    fn update(&mut self, policy: &str) {
        self.version += 1;
        let name = format!("..2025_01_01_00_00_00.{:06}", self.version);
        let new = self.dir.path().join(&name);
        std::fs::create_dir(&new).expect("version dir");
        std::fs::write(new.join("policy.yaml"), policy).expect("policy");
        let tmp = self.dir.path().join("..data_tmp");
        std::os::unix::fs::symlink(&name, &tmp).expect("..data_tmp");
        std::fs::rename(&tmp, self.dir.path().join("..data")).expect("swap ..data");
        let old = std::mem::replace(&mut self.current, name);
        if !old.is_empty() {
            std::fs::remove_dir_all(self.dir.path().join(old)).expect("remove old version");
        }
    }
}

/// The server watching a ConfigMap volume that starts with `policy`, looking every
/// `interval`.
async fn serve_volume(policy: &str, interval: Duration) -> (ConfigMapVolume, TestServer) {
    let volume = ConfigMapVolume::new(policy);
    let source = PolicySource {
        path: Some(volume.path()),
        ..PolicySource::default()
    };
    let options = Options {
        policy_reload_interval: interval,
        ..Options::default()
    };
    let srv = TestServer::start_watching(source, options).await;
    (volume, srv)
}

/// Which policy answered a review of the privileged pod.
#[derive(Debug, PartialEq, Eq)]
enum Verdict {
    /// Enforce: denied, naming the rule.
    Denied,
    /// Audit: admitted with the finding as an `[audit]` warning.
    Audited,
}

fn verdict(status: u16, body: &Value) -> Result<Verdict, String> {
    let response = &body["response"];
    let warned = response["warnings"].as_array().is_some_and(|w| {
        w.iter().any(|w| {
            w.as_str()
                .is_some_and(|w| w.contains("[audit]") && w.contains("privileged:"))
        })
    });
    let named = response["status"]["message"]
        .as_str()
        .is_some_and(|m| m.contains("[privileged]"));
    match (status, &response["allowed"]) {
        (200, Value::Bool(false)) if response["status"]["code"] == 403 && named => {
            Ok(Verdict::Denied)
        }
        (200, Value::Bool(true)) if warned => Ok(Verdict::Audited),
        _ => Err(format!("{status}: {body}")),
    }
}

async fn ask(srv: &TestServer, client: &reqwest::Client) -> Verdict {
    let (status, _, body) = post(
        client,
        &srv.url("/validate"),
        &review("CREATE", privileged_pod(), None, false),
    )
    .await;
    verdict(status.as_u16(), &body).unwrap_or_else(|e| panic!("neither policy's answer: {e}"))
}

async fn metrics(srv: &TestServer) -> String {
    reqwest::get(format!("http://{}/metrics", srv.health))
        .await
        .expect("metrics")
        .text()
        .await
        .expect("metrics text")
}

/// The value of one series, e.g. `bulwark_policy_reloads_total{result="error"}`.
fn sample(text: &str, series: &str) -> Option<i64> {
    text.lines()
        .find_map(|l| l.strip_prefix(series)?.strip_prefix(' ')?.parse().ok())
}

/// Polls `check` until it holds; fails after a deadline generous enough for a busy machine.
async fn eventually<F, Fut>(what: &str, mut check: F)
where
    F: FnMut() -> Fut,
    Fut: Future<Output = bool>,
{
    let deadline = Instant::now() + Duration::from_secs(30);
    while !check().await {
        assert!(Instant::now() < deadline, "timed out waiting until {what}");
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
}

/// Asks `/readyz` over and over until stopped; returns (200s, anything else).
fn probe_readiness(
    srv: &TestServer,
    stop: Arc<AtomicBool>,
) -> tokio::task::JoinHandle<(usize, usize)> {
    let url = format!("http://{}/readyz", srv.health);
    tokio::spawn(async move {
        let client = reqwest::Client::new();
        let (mut ready, mut not_ready) = (0, 0);
        while !stop.load(Ordering::Relaxed) {
            match client.get(&url).send().await {
                Ok(r) if r.status() == 200 => ready += 1,
                _ => not_ready += 1,
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        (ready, not_ready)
    })
}

#[tokio::test]
async fn a_configmap_update_swaps_the_policy_and_an_invalid_one_keeps_it() {
    let (mut volume, mut srv) = serve_volume(ENFORCE, Duration::from_millis(50)).await;
    let client = srv.client(false);
    let stop = Arc::new(AtomicBool::new(false));
    let readiness = probe_readiness(&srv, stop.clone());
    let series = |result: &str| format!("bulwark_policy_reloads_total{{result=\"{result}\"}}");
    let hash = |policy: &str| Some(Fingerprint::of(policy.as_bytes()).gauge());

    assert_eq!(ask(&srv, &client).await, Verdict::Denied);
    let m = metrics(&srv).await;
    assert_eq!(sample(&m, &series("success")), Some(0), "{m}");
    assert_eq!(sample(&m, &series("error")), Some(0), "{m}");
    assert_eq!(sample(&m, "bulwark_policy_last_reload_success"), Some(1));
    assert_eq!(sample(&m, "bulwark_policy_hash"), hash(ENFORCE));

    // The ConfigMap now says audit: the same request is admitted with a warning.
    volume.update(AUDIT);
    let (s, c) = (&srv, &client);
    eventually("the audit policy answers", || async move {
        ask(s, c).await == Verdict::Audited
    })
    .await;
    let m = metrics(&srv).await;
    assert_eq!(sample(&m, &series("success")), Some(1), "{m}");
    assert_eq!(sample(&m, "bulwark_policy_hash"), hash(AUDIT));

    // An invalid version is counted once and changes nothing else.
    volume.update(INVALID);
    let errors = series("error");
    eventually("the invalid policy is counted", || async {
        sample(&metrics(s).await, &errors) == Some(1)
    })
    .await;
    tokio::time::sleep(Duration::from_millis(200)).await; // several more looks at the file
    let m = metrics(&srv).await;
    assert_eq!(sample(&m, &series("error")), Some(1), "counted once: {m}");
    assert_eq!(sample(&m, &series("success")), Some(1), "{m}");
    assert_eq!(sample(&m, "bulwark_policy_last_reload_success"), Some(0));
    assert_eq!(
        sample(&m, "bulwark_policy_hash"),
        hash(AUDIT),
        "the hash is still the serving policy's"
    );
    assert_eq!(
        ask(&srv, &client).await,
        Verdict::Audited,
        "the last valid policy keeps serving"
    );

    // Fixed: the new version serves and the gauge recovers.
    volume.update(ENFORCE);
    eventually("the enforce policy answers again", || async move {
        ask(s, c).await == Verdict::Denied
    })
    .await;
    let m = metrics(&srv).await;
    assert_eq!(sample(&m, "bulwark_policy_last_reload_success"), Some(1));
    assert_eq!(sample(&m, &series("success")), Some(2), "{m}");

    stop.store(true, Ordering::Relaxed);
    let (ready, not_ready) = readiness.await.expect("readiness probe");
    assert!(ready > 0, "/readyz was asked");
    assert_eq!(
        not_ready,
        0,
        "/readyz failed {not_ready} of {} times",
        ready + not_ready
    );
    srv.stop().await.expect("clean stop");
}

/// Requests keep arriving, some with slow bodies, while the policy file flips between enforce
/// and audit: every request is answered, each answer wholly by one of the two policies.
#[tokio::test]
async fn requests_in_flight_across_swaps_all_succeed() {
    let (mut volume, mut srv) = serve_volume(ENFORCE, Duration::from_millis(10)).await;
    let stop = Arc::new(AtomicBool::new(false));
    let readiness = probe_readiness(&srv, stop.clone());
    let denied = Arc::new(AtomicUsize::new(0));
    let audited = Arc::new(AtomicUsize::new(0));
    let failures = Arc::new(std::sync::Mutex::new(Vec::<String>::new()));
    let body = serde_json::to_vec(&review("CREATE", privileged_pod(), None, false)).expect("json");
    let mut clients = Vec::new();
    for i in 0..8 {
        let client = srv.client(i % 2 == 1);
        let url = srv.url("/validate");
        let slow = i >= 6; // these bodies arrive in two halves, 30 ms apart
        let (body, stop) = (body.clone(), stop.clone());
        let (denied, audited, failures) = (denied.clone(), audited.clone(), failures.clone());
        clients.push(tokio::spawn(async move {
            while !stop.load(Ordering::Relaxed) {
                let request = client.post(&url).header("content-type", "application/json");
                let request = if slow {
                    request.body(slow_body(&body, Duration::from_millis(30)))
                } else {
                    request.body(body.clone())
                };
                let answer = match request.send().await {
                    Ok(resp) => {
                        let status = resp.status().as_u16();
                        match resp.json::<Value>().await {
                            Ok(v) => verdict(status, &v),
                            Err(e) => Err(format!("{status}: body: {e}")),
                        }
                    }
                    Err(e) => Err(format!("transport: {e}")),
                };
                match answer {
                    Ok(Verdict::Denied) => denied.fetch_add(1, Ordering::Relaxed),
                    Ok(Verdict::Audited) => audited.fetch_add(1, Ordering::Relaxed),
                    Err(e) => {
                        failures.lock().expect("failures").push(e);
                        0
                    }
                };
            }
        }));
    }

    // Flip the policy until each has answered plenty of requests across many swaps.
    let deadline = Instant::now() + Duration::from_secs(60);
    let mut swaps = 0;
    while swaps < 20 || denied.load(Ordering::Relaxed) < 50 || audited.load(Ordering::Relaxed) < 50
    {
        if Instant::now() > deadline {
            break;
        }
        volume.update(if swaps % 2 == 0 { AUDIT } else { ENFORCE });
        swaps += 1;
        tokio::time::sleep(Duration::from_millis(40)).await;
    }
    stop.store(true, Ordering::Relaxed);
    for c in clients {
        c.await.expect("client task");
    }
    let (ready, not_ready) = readiness.await.expect("readiness probe");
    let failures = failures.lock().expect("failures").clone();
    let (denied, audited) = (
        denied.load(Ordering::Relaxed),
        audited.load(Ordering::Relaxed),
    );
    assert!(
        failures.is_empty(),
        "{} of {} requests failed across {swaps} swaps; first: {:?}",
        failures.len(),
        failures.len() + denied + audited,
        failures.first()
    );
    assert!(
        denied >= 50 && audited >= 50,
        "both policies answered ({denied} denied, {audited} audited, {swaps} swaps)"
    );
    let reloads = sample(
        &metrics(&srv).await,
        "bulwark_policy_reloads_total{result=\"success\"}",
    );
    assert!(reloads.is_some_and(|n| n >= 2), "reloads: {reloads:?}");
    assert_eq!(
        not_ready,
        0,
        "/readyz failed {not_ready} of {} times",
        ready + not_ready
    );
    srv.stop().await.expect("clean stop");
}
