//! `bulwark::cluster::start` end to end: a real `kube::Client` over kube's mock transport
//! (`tower_test::mock::pair`), answered by a small fake API server that dispatches on the
//! request URI. The watcher of each kind first lists (`?limit=500`), then watches
//! (`?watch=true&...&resourceVersion=N`); the three kinds' requests arrive concurrently.
//!
//! The fake holds list responses back until the test opens a gate, so "before the caches
//! synced" is observable; watch responses are streams the test writes events into.

use std::collections::BTreeMap;
use std::convert::Infallible;
use std::future::Future;
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use bulwark::admission::{Admission, Cluster, Endpoint};
use bulwark::config::{Mode, Policy};
use bulwark::engine::Inventory;
use bulwark::health::{Metrics, Readiness};
use bulwark::workload::IntOrString;
use bytes::Bytes;
use futures::channel::mpsc;
use http::{Request, Response, StatusCode};
use http_body::Frame;
use http_body_util::combinators::UnsyncBoxBody;
use http_body_util::{BodyExt, Full, StreamBody};
use serde_json::{Value, json};
use tokio::sync::watch;

type Body = UnsyncBoxBody<Bytes, Infallible>;
type Chunk = Result<Frame<Bytes>, Infallible>;
type Handle = tower_test::mock::Handle<Request<kube::client::Body>, Response<Body>>;

/// Every wait is bounded by this: a hang fails the test instead of stalling it. The watch
/// backoff after an error is 0.8-1.6 s, then 1.6-3.2 s.
const WAIT: Duration = Duration::from_secs(15);

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Res {
    Namespaces,
    Pdbs,
    Hpas,
    Exceptions,
}

const ALL: [Res; 4] = [Res::Namespaces, Res::Pdbs, Res::Hpas, Res::Exceptions];

fn resource_of(path: &str) -> Option<Res> {
    match path {
        "/api/v1/namespaces" => Some(Res::Namespaces),
        "/apis/policy/v1/poddisruptionbudgets" => Some(Res::Pdbs),
        "/apis/autoscaling/v2/horizontalpodautoscalers" => Some(Res::Hpas),
        "/apis/bulwark.dev/v1alpha1/bulwarkexceptions" => Some(Res::Exceptions),
        _ => None,
    }
}

#[derive(Debug, Clone)]
struct Logged {
    res: Res,
    watch: bool,
    query: String,
}

/// What the fake API server serves; the test changes it as it goes.
#[derive(Default)]
struct ApiState {
    /// The list body served for each kind.
    lists: BTreeMap<Res, Value>,
    /// HTTP status codes to answer the next watch requests of a kind with (then streams).
    fail_watches: BTreeMap<Res, Vec<u16>>,
    /// Open watch streams, oldest first.
    watches: BTreeMap<Res, Vec<mpsc::UnboundedSender<Chunk>>>,
    /// Every request, in arrival order.
    log: Vec<Logged>,
    /// Requests for paths the fake does not know.
    unexpected: Vec<String>,
}

struct FakeApi {
    state: Arc<Mutex<ApiState>>,
    gate: watch::Sender<bool>,
}

impl FakeApi {
    fn start(handle: Handle, state: ApiState) -> FakeApi {
        let state = Arc::new(Mutex::new(state));
        let (gate, gate_rx) = watch::channel(false);
        tokio::spawn(serve(handle, state.clone(), gate_rx));
        FakeApi { state, gate }
    }

    fn state(&self) -> MutexGuard<'_, ApiState> {
        self.state.lock().expect("fake API state")
    }

    /// Lets the (held) list requests, and every later one, be answered.
    fn open_gate(&self) {
        self.gate.send_replace(true);
    }

    fn requests(&self, res: Res, watch: bool) -> Vec<String> {
        self.state()
            .log
            .iter()
            .filter(|l| l.res == res && l.watch == watch)
            .map(|l| l.query.clone())
            .collect()
    }

    fn open_watches(&self, res: Res) -> usize {
        self.state().watches.get(&res).map_or(0, Vec::len)
    }

    /// Writes one watch event (a JSON line) into the newest watch stream of `res`.
    fn push(&self, res: Res, event: Value) {
        let mut line = serde_json::to_vec(&event).expect("json");
        line.push(b'\n');
        let state = self.state();
        let tx = state
            .watches
            .get(&res)
            .and_then(|w| w.last())
            .unwrap_or_else(|| panic!("no open {res:?} watch"));
        tx.unbounded_send(Ok(Frame::data(Bytes::from(line))))
            .expect("the watcher holds the stream");
    }
}

pub(super) fn json_response(code: u16, body: &Value) -> Response<Body> {
    Response::builder()
        .status(StatusCode::from_u16(code).expect("status"))
        .header(http::header::CONTENT_TYPE, "application/json")
        .body(
            Full::new(Bytes::from(serde_json::to_vec(body).expect("json")))
                .map_err(|never| match never {})
                .boxed_unsync(),
        )
        .expect("response")
}

fn status(code: u16, reason: &str, message: &str) -> Value {
    json!({"apiVersion": "v1", "kind": "Status", "metadata": {}, "status": "Failure",
        "message": message, "reason": reason, "code": code})
}

async fn serve(mut handle: Handle, state: Arc<Mutex<ApiState>>, gate: watch::Receiver<bool>) {
    while let Some((req, send)) = handle.next_request().await {
        let uri = req.uri().clone();
        let query = uri.query().unwrap_or("").to_owned();
        let Some(res) = resource_of(uri.path()) else {
            state
                .lock()
                .expect("state")
                .unexpected
                .push(uri.to_string());
            send.send_response(json_response(404, &status(404, "NotFound", "unknown path")));
            continue;
        };
        let is_watch = query.split('&').any(|kv| kv == "watch=true");
        let mut st = state.lock().expect("state");
        st.log.push(Logged {
            res,
            watch: is_watch,
            query,
        });
        if is_watch {
            let fail = st
                .fail_watches
                .get_mut(&res)
                .filter(|codes| !codes.is_empty())
                .map(|codes| codes.remove(0));
            match fail {
                Some(code) => send.send_response(json_response(
                    code,
                    &status(code, "InternalError", "etcd is having a bad day"),
                )),
                None => {
                    let (tx, rx) = mpsc::unbounded::<Chunk>();
                    st.watches.entry(res).or_default().push(tx);
                    let body = StreamBody::new(rx).boxed_unsync();
                    send.send_response(
                        Response::builder()
                            .status(200)
                            .header(http::header::CONTENT_TYPE, "application/json")
                            .body(body)
                            .expect("response"),
                    );
                }
            }
        } else {
            drop(st);
            let mut gate = gate.clone();
            let state = state.clone();
            tokio::spawn(async move {
                let _ = gate.wait_for(|open| *open).await;
                let body = state.lock().expect("state").lists[&res].clone();
                // A Status body is answered with its own code (a failing list).
                let code = match body["kind"].as_str() {
                    Some("Status") => body["code"].as_u64().map_or(500, |c| c as u16),
                    _ => 200,
                };
                send.send_response(json_response(code, &body));
            });
        }
    }
}

/// Polls `cond` until it holds; panics naming `what` after `WAIT`.
async fn eventually(what: &str, mut cond: impl FnMut() -> bool) {
    let poll = async {
        while !cond() {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    };
    bounded(what, poll).await;
}

async fn bounded<T>(what: &str, f: impl Future<Output = T>) -> T {
    tokio::time::timeout(WAIT, f)
        .await
        .unwrap_or_else(|_| panic!("timed out after {WAIT:?} waiting for {what}"))
}

// ---------------------------------------------------------------------------------------
// Recorded objects.

fn namespace(name: &str, rv: &str, labels: Value) -> Value {
    json!({"apiVersion": "v1", "kind": "Namespace",
        "metadata": {"name": name, "resourceVersion": rv, "uid": format!("uid-{name}"), "labels": labels},
        "spec": {"finalizers": ["kubernetes"]}, "status": {"phase": "Active"}})
}

fn list(kind: &str, api_version: &str, rv: &str, items: Vec<Value>) -> Value {
    json!({"apiVersion": api_version, "kind": kind, "metadata": {"resourceVersion": rv}, "items": items})
}

fn pdb() -> Value {
    json!({"apiVersion": "policy/v1", "kind": "PodDisruptionBudget",
        "metadata": {"name": "web", "namespace": "shop", "resourceVersion": "11"},
        "spec": {"maxUnavailable": 1, "selector": {"matchLabels": {"app.kubernetes.io/name": "web"}}}})
}

fn hpa(min: i32, rv: &str) -> Value {
    json!({"apiVersion": "autoscaling/v2", "kind": "HorizontalPodAutoscaler",
        "metadata": {"name": "web", "namespace": "shop", "resourceVersion": rv},
        "spec": {"scaleTargetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": "web"},
                 "minReplicas": min, "maxReplicas": 10}})
}

/// A BulwarkException in bulwark's namespace lifting `privileged` for `name` in `shop`.
fn exception(name: &str, rv: &str) -> Value {
    json!({"apiVersion": "bulwark.dev/v1alpha1", "kind": "BulwarkException",
        "metadata": {"name": "web-privileged", "namespace": "bulwark-system", "resourceVersion": rv,
            "managedFields": [{"manager": "kubectl"}]},
        "spec": {"namespaces": ["shop"], "kinds": ["Deployment"], "names": [name],
            "rules": ["privileged"], "reason": "node agent, OPS-1", "expires": "2099-12-31"}})
}

fn namespace_list(rv: &str, items: Vec<Value>) -> Value {
    list("NamespaceList", "v1", rv, items)
}

fn initial_state() -> ApiState {
    let mut st = ApiState::default();
    st.lists.insert(
        Res::Namespaces,
        namespace_list(
            "100",
            vec![
                namespace(
                    "shop",
                    "90",
                    json!({"bulwark.dev/mode": "audit", "kubernetes.io/metadata.name": "shop"}),
                ),
                namespace(
                    "legacy",
                    "91",
                    json!({"kubernetes.io/metadata.name": "legacy"}),
                ),
            ],
        ),
    );
    st.lists.insert(
        Res::Pdbs,
        list("PodDisruptionBudgetList", "policy/v1", "100", vec![pdb()]),
    );
    st.lists.insert(
        Res::Hpas,
        list(
            "HorizontalPodAutoscalerList",
            "autoscaling/v2",
            "100",
            vec![hpa(3, "12")],
        ),
    );
    // An exception for another Deployment: it does not cover `web` (yet).
    st.lists.insert(
        Res::Exceptions,
        list(
            "BulwarkExceptionList",
            "bulwark.dev/v1alpha1",
            "100",
            vec![exception("api", "13")],
        ),
    );
    // The first namespace watch fails with a 500: the watcher backs off and retries.
    st.fail_watches.insert(Res::Namespaces, vec![500]);
    st
}

fn watch_errors(metrics: &Metrics, resource: &str) -> u64 {
    let text = metrics.encode();
    let prefix = format!("bulwark_watch_errors_total{{resource=\"{resource}\"}} ");
    text.lines()
        .find_map(|l| l.strip_prefix(&prefix))
        .map_or(0, |v| v.trim().parse().expect("counter value"))
}

/// A privileged single-replica Deployment in `shop`: its mode comes from the namespace
/// label, and `replicas` passes only thanks to the HPA.
fn deployment_review() -> Vec<u8> {
    let object = json!({"apiVersion": "apps/v1", "kind": "Deployment",
        "metadata": {"name": "web", "namespace": "shop"},
        "spec": {"replicas": 1, "selector": {"matchLabels": {"app.kubernetes.io/name": "web"}},
            "template": {"metadata": {"labels": {"app.kubernetes.io/name": "web"}},
                "spec": {"containers": [{"name": "app", "image": "nginx:1.27",
                    "securityContext": {"privileged": true}}]}}}});
    serde_json::to_vec(&json!({
        "apiVersion": "admission.k8s.io/v1", "kind": "AdmissionReview",
        "request": {"uid": "u-cluster", "kind": {"group": "apps", "version": "v1", "kind": "Deployment"},
            "namespace": "shop", "name": "web", "operation": "CREATE",
            "userInfo": {"username": "alice", "groups": ["developers"]}, "object": object}
    }))
    .expect("json")
}

#[tokio::test]
async fn reflector_caches_through_the_kube_client() {
    let (service, handle) = tower_test::mock::pair::<Request<kube::client::Body>, Response<Body>>();
    let api = FakeApi::start(handle, initial_state());
    let client = kube::Client::new(service, "default");
    let readiness = Arc::new(Readiness::default());
    let metrics = Arc::new(Metrics::default());
    let cluster = bulwark::cluster::start(client, readiness.clone(), metrics.clone());

    // The four watchers list concurrently; the fake holds the lists back.
    eventually("the four initial lists", || {
        ALL.iter().all(|r| !api.requests(*r, false).is_empty())
    })
    .await;
    for res in ALL {
        let lists = api.requests(res, false);
        assert_eq!(lists.len(), 1, "{res:?}: {lists:?}");
        assert!(lists[0].contains("limit=500"), "{res:?} list: {}", lists[0]);
        assert!(
            api.requests(res, true).is_empty(),
            "{res:?} watched before listing"
        );
    }
    tokio::time::sleep(Duration::from_millis(200)).await;
    // Not synced: every lookup answers "no data", and readiness waits.
    assert_eq!(cluster.namespace_labels("shop"), None);
    assert!(cluster.pdbs("shop").is_none());
    assert!(cluster.hpa_for("shop", "Deployment", "web").is_none());
    assert!(cluster.exceptions("shop", "bulwark-system").is_none());
    assert!(!readiness.cluster.load(Ordering::Relaxed));
    // Admission meanwhile: the namespace label is unknown, so the cluster default (enforce)
    // applies, and without HPA data `replicas` only warns.
    let policy = Policy::default();
    let admission = Admission {
        policy: &policy,
        cluster: Some(&cluster),
        own_namespace: "bulwark-system",
        today: 20_000,
    };
    let out = admission
        .review(Endpoint::Validate, &deployment_review())
        .expect("review");
    assert_eq!(out.mode, Mode::Enforce);
    assert!(!out.allowed);
    assert!(
        out.warnings
            .iter()
            .any(|w| w.contains("bulwark warning replicas:")),
        "{:?}",
        out.warnings
    );

    // Serve the lists: the caches fill and readiness turns true.
    api.open_gate();
    eventually("readiness.cluster", || {
        readiness.cluster.load(Ordering::Relaxed)
    })
    .await;
    let shop = cluster.namespace_labels("shop").expect("shop is cached");
    assert_eq!(
        shop.get("bulwark.dev/mode").map(String::as_str),
        Some("audit")
    );
    assert_eq!(cluster.namespace_labels("legacy").map(|l| l.len()), Some(1));
    assert_eq!(cluster.namespace_labels("nowhere"), None);
    assert_eq!(cluster.namespace_labels(""), None);
    let pdbs = cluster.pdbs("shop").expect("synced");
    assert_eq!(pdbs.len(), 1);
    assert_eq!(pdbs[0].name, "web");
    assert_eq!(pdbs[0].namespace, "shop");
    assert!(matches!(pdbs[0].max_unavailable, Some(IntOrString::Int(1))));
    assert!(pdbs[0].min_available.is_none());
    let selector = pdbs[0].selector.as_ref().expect("selector");
    assert_eq!(
        selector
            .match_labels
            .get("app.kubernetes.io/name")
            .map(String::as_str),
        Some("web")
    );
    assert_eq!(cluster.pdbs("legacy").map(|p| p.len()), Some(0));
    let hpa_info = cluster
        .hpa_for("shop", "Deployment", "web")
        .expect("synced")
        .expect("the HPA targets web");
    assert_eq!(
        (
            hpa_info.name.as_str(),
            hpa_info.min_replicas,
            hpa_info.max_replicas
        ),
        ("web", 3, 10)
    );
    assert!(
        cluster
            .hpa_for("shop", "Deployment", "api")
            .expect("synced")
            .is_none()
    );
    assert!(
        cluster
            .hpa_for("shop", "StatefulSet", "web")
            .expect("synced")
            .is_none()
    );
    assert!(
        cluster
            .hpa_for("legacy", "Deployment", "web")
            .expect("synced")
            .is_none()
    );
    // Admission now sees the namespace's audit label and the HPA's floor of 3.
    let out = admission
        .review(Endpoint::Validate, &deployment_review())
        .expect("review");
    assert_eq!(out.mode, Mode::Audit);
    assert!(out.allowed);
    let rules = out.rule_ids();
    assert!(rules.contains(&"privileged"), "{rules:?}");
    assert!(!rules.contains(&"replicas"), "{rules:?}");

    // The first namespace watch answered 500: counted, then retried after the backoff.
    eventually("the namespace watch error to be counted", || {
        watch_errors(&metrics, "namespaces") == 1
    })
    .await;
    eventually("the namespace watch to reconnect", || {
        api.open_watches(Res::Namespaces) == 1
    })
    .await;
    eventually("the PDB and HPA watches", || {
        api.open_watches(Res::Pdbs) == 1 && api.open_watches(Res::Hpas) == 1
    })
    .await;
    let ns_watches = api.requests(Res::Namespaces, true);
    assert_eq!(ns_watches.len(), 2, "{ns_watches:?}");
    for q in &ns_watches {
        assert!(q.contains("resourceVersion=100"), "{q}");
    }
    for res in [Res::Pdbs, Res::Hpas] {
        let q = api.requests(res, true);
        assert!(q[0].contains("resourceVersion=100"), "{res:?}: {q:?}");
    }

    // A MODIFIED event changing the namespace label is visible shortly after.
    api.push(
        Res::Namespaces,
        json!({"type": "MODIFIED", "object": namespace("shop", "101", json!({"bulwark.dev/mode": "enforce"}))}),
    );
    eventually("the MODIFIED namespace label", || {
        cluster
            .namespace_labels("shop")
            .and_then(|l| l.get("bulwark.dev/mode").cloned())
            .as_deref()
            == Some("enforce")
    })
    .await;
    let out = admission
        .review(Endpoint::Validate, &deployment_review())
        .expect("review");
    assert_eq!(out.mode, Mode::Enforce);
    assert!(!out.allowed, "the namespace is now enforced");
    api.push(
        Res::Namespaces,
        json!({"type": "ADDED", "object": namespace("late", "102", json!({"bulwark.dev/mode": "off"}))}),
    );
    eventually("the ADDED namespace", || {
        cluster.namespace_labels("late").is_some()
    })
    .await;
    // Watch events reach the HPA cache too: the floor drops to 1 and replicas now fails.
    api.push(
        Res::Hpas,
        json!({"type": "MODIFIED", "object": hpa(1, "103")}),
    );
    eventually("the MODIFIED HPA", || {
        cluster
            .hpa_for("shop", "Deployment", "web")
            .flatten()
            .is_some_and(|h| h.min_replicas == 1)
    })
    .await;
    let out = admission
        .review(Endpoint::Validate, &deployment_review())
        .expect("review");
    assert!(out.rule_ids().contains(&"replicas"), "{:?}", out.rule_ids());

    // The exception cache: the listed exception is there, read through the same parser as
    // `bulwark check`; a MODIFIED event that names `web` exempts web from `privileged`.
    let listed = cluster
        .exceptions("shop", "bulwark-system")
        .expect("synced");
    assert_eq!(listed.len(), 1);
    assert_eq!(listed[0].spec.names, ["api"]);
    assert_eq!(listed[0].spec.expires.as_deref(), Some("2099-12-31"));
    assert!(
        out.rule_ids().contains(&"privileged"),
        "{:?}",
        out.rule_ids()
    );
    eventually("the exception watch", || {
        api.open_watches(Res::Exceptions) == 1
    })
    .await;
    api.push(
        Res::Exceptions,
        json!({"type": "MODIFIED", "object": exception("web", "104")}),
    );
    eventually("the MODIFIED exception", || {
        cluster
            .exceptions("shop", "bulwark-system")
            .is_some_and(|e| e.first().is_some_and(|e| e.spec.names == ["web"]))
    })
    .await;
    let out = admission
        .review(Endpoint::Validate, &deployment_review())
        .expect("review");
    assert!(
        !out.rule_ids().contains(&"privileged"),
        "{:?}",
        out.rule_ids()
    );
    assert!(out.rule_ids().contains(&"replicas"), "{:?}", out.rule_ids());
    assert_eq!(out.exemptions.len(), 1, "{:?}", out.exemptions);
    // Deleted: it grants nothing any more.
    api.push(
        Res::Exceptions,
        json!({"type": "DELETED", "object": exception("web", "105")}),
    );
    eventually("the DELETED exception", || {
        cluster
            .exceptions("shop", "bulwark-system")
            .is_some_and(|e| e.is_empty())
    })
    .await;
    let out = admission
        .review(Endpoint::Validate, &deployment_review())
        .expect("review");
    assert!(
        out.rule_ids().contains(&"privileged"),
        "{:?}",
        out.rule_ids()
    );

    // 410 Gone on the watch: counted, and the watcher recovers by listing again. The new
    // list replaces the cache (`late` is gone, `fresh` is there) and the watch resumes
    // from the new list's resourceVersion.
    api.state().lists.insert(
        Res::Namespaces,
        namespace_list(
            "200",
            vec![
                namespace("shop", "150", json!({"bulwark.dev/mode": "audit"})),
                namespace("fresh", "199", json!({"bulwark.dev/mode": "enforce"})),
            ],
        ),
    );
    api.push(
        Res::Namespaces,
        json!({"type": "ERROR", "object": status(410, "Expired", "too old resource version: 101 (150)")}),
    );
    eventually("the 410 to be counted", || {
        watch_errors(&metrics, "namespaces") == 2
    })
    .await;
    eventually("the relisted namespaces", || {
        cluster.namespace_labels("fresh").is_some()
    })
    .await;
    assert_eq!(cluster.namespace_labels("late"), None);
    assert_eq!(
        cluster
            .namespace_labels("shop")
            .and_then(|l| l.get("bulwark.dev/mode").cloned())
            .as_deref(),
        Some("audit")
    );
    assert_eq!(api.requests(Res::Namespaces, false).len(), 2);
    eventually("the namespace watch to resume", || {
        api.open_watches(Res::Namespaces) == 2
    })
    .await;
    let last = api
        .requests(Res::Namespaces, true)
        .last()
        .cloned()
        .expect("watch");
    assert!(last.contains("resourceVersion=200"), "{last}");
    // The resumed watch works.
    api.push(
        Res::Namespaces,
        json!({"type": "MODIFIED", "object": namespace("fresh", "201", json!({"bulwark.dev/mode": "audit"}))}),
    );
    eventually("an event on the resumed watch", || {
        cluster
            .namespace_labels("fresh")
            .and_then(|l| l.get("bulwark.dev/mode").cloned())
            .as_deref()
            == Some("audit")
    })
    .await;

    assert!(readiness.cluster.load(Ordering::Relaxed));
    assert_eq!(watch_errors(&metrics, "poddisruptionbudgets"), 0);
    assert_eq!(watch_errors(&metrics, "horizontalpodautoscalers"), 0);
    assert!(
        api.state().unexpected.is_empty(),
        "{:?}",
        api.state().unexpected
    );
}

/// A kind whose initial list fails (403, e.g. missing RBAC) keeps the cluster unsynced:
/// readiness stays false and lookups answer "no data" rather than half the truth; the error
/// is counted and the list retried.
#[tokio::test]
async fn a_failing_list_keeps_the_cluster_unsynced() {
    let (service, handle) = tower_test::mock::pair::<Request<kube::client::Body>, Response<Body>>();
    let mut state = initial_state();
    state.lists.insert(
        Res::Hpas,
        status(403, "Forbidden", "horizontalpodautoscalers is forbidden"),
    );
    let api = FakeApi::start(handle, state);
    let client = kube::Client::new(service, "default");
    let readiness = Arc::new(Readiness::default());
    let metrics = Arc::new(Metrics::default());
    let cluster = bulwark::cluster::start(client, readiness.clone(), metrics.clone());
    api.open_gate();
    eventually("the failing HPA list to be counted", || {
        watch_errors(&metrics, "horizontalpodautoscalers") >= 1
    })
    .await;
    eventually("the namespace and PDB watches", || {
        api.open_watches(Res::Pdbs) == 1 && !api.requests(Res::Namespaces, true).is_empty()
    })
    .await;
    assert!(!readiness.cluster.load(Ordering::Relaxed));
    assert_eq!(cluster.namespace_labels("shop"), None);
    assert!(cluster.pdbs("shop").is_none());
    assert!(cluster.hpa_for("shop", "Deployment", "web").is_none());
    // RBAC fixed: the retried list succeeds and the cluster syncs.
    api.state().lists.insert(
        Res::Hpas,
        list(
            "HorizontalPodAutoscalerList",
            "autoscaling/v2",
            "100",
            vec![hpa(3, "12")],
        ),
    );
    eventually("readiness.cluster after the retried list", || {
        readiness.cluster.load(Ordering::Relaxed)
    })
    .await;
    assert!(cluster.namespace_labels("shop").is_some());
    assert!(api.requests(Res::Hpas, false).len() >= 2);
}
