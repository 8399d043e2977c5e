//! The auditor against kube's mock transport (`tower_test::mock::pair`) and a small fake
//! API server that keeps objects by path: the PolicyReport writes (apply patches, field
//! manager, bounds, no write when nothing changed), the Lease (acquire, renew, conflict,
//! expiry, release and hand-over), the pruned workload reflectors, and the whole auditor
//! judging again when a namespace label or a PDB changes.

use std::collections::BTreeMap;
use std::convert::Infallible;
use std::future::Future;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use bulwark::audit::auditor::{AuditOptions, LEASE_NAME};
use bulwark::audit::lease::{LeaderElector, LeaseConfig};
use bulwark::audit::report::{self, ReportKey};
use bulwark::audit::writer::ReportWriter;
use bulwark::audit::{AuditMetrics, AuditState, Snapshot};
use bulwark::config::Policy;
use bulwark::health::Metrics;
use bulwark::health::Readiness;
use bytes::Bytes;
use futures::channel::mpsc;
use http::{Method, Request, Response};
use http_body::Frame;
use http_body_util::combinators::UnsyncBoxBody;
use http_body_util::{BodyExt, StreamBody};
use serde_json::{Value, json};

use super::cluster::json_response;

type Body = UnsyncBoxBody<Bytes, Infallible>;
type Chunk = Result<Frame<Bytes>, Infallible>;
type Handle = tower_test::mock::Handle<Request<kube::client::Body>, Response<Body>>;

/// Every wait is bounded by this: a hang fails the test instead of stalling it.
const WAIT: Duration = Duration::from_secs(20);
const OWN: &str = "bulwark-system";
const REPORTS: &str = "/apis/wgpolicyk8s.io/v1alpha2";
const LEASE: &str = "/apis/coordination.k8s.io/v1/namespaces/bulwark-system/leases";

/// The collections the auditor and admission's caches list and watch.
const COLLECTIONS: [(&str, &str, &str); 12] = [
    ("/api/v1/namespaces", "NamespaceList", "v1"),
    (
        "/apis/policy/v1/poddisruptionbudgets",
        "PodDisruptionBudgetList",
        "policy/v1",
    ),
    (
        "/apis/autoscaling/v2/horizontalpodautoscalers",
        "HorizontalPodAutoscalerList",
        "autoscaling/v2",
    ),
    (
        "/apis/bulwark.dev/v1alpha1/bulwarkexceptions",
        "BulwarkExceptionList",
        "bulwark.dev/v1alpha1",
    ),
    ("/apis/apps/v1/deployments", "DeploymentList", "apps/v1"),
    ("/apis/apps/v1/statefulsets", "StatefulSetList", "apps/v1"),
    ("/apis/apps/v1/daemonsets", "DaemonSetList", "apps/v1"),
    ("/apis/apps/v1/replicasets", "ReplicaSetList", "apps/v1"),
    ("/apis/batch/v1/jobs", "JobList", "batch/v1"),
    ("/apis/batch/v1/cronjobs", "CronJobList", "batch/v1"),
    ("/api/v1/pods", "PodList", "v1"),
    (
        "/api/v1/replicationcontrollers",
        "ReplicationControllerList",
        "v1",
    ),
];

/// One request as the fake saw it.
#[derive(Debug, Clone)]
struct Logged {
    method: Method,
    path: String,
    query: String,
    content_type: String,
    body: Value,
}

#[derive(Default)]
struct State {
    /// Items served by the lists of the watched collections.
    lists: BTreeMap<String, Vec<Value>>,
    /// Open watch streams by collection path.
    watches: BTreeMap<String, Vec<mpsc::UnboundedSender<Chunk>>>,
    /// Single objects (Lease, reports) by path.
    objects: BTreeMap<String, Value>,
    /// The next resourceVersion handed out.
    rv: u64,
    /// Status codes to answer the next requests of (method, path) with.
    fail: Vec<(Method, String, u16)>,
    /// Every request except those of the watched collections.
    log: Vec<Logged>,
}

/// A fake API server; every client made from it shares its state.
#[derive(Clone, Default)]
struct Fake {
    state: Arc<Mutex<State>>,
}

impl Fake {
    fn state(&self) -> MutexGuard<'_, State> {
        self.state.lock().expect("fake state")
    }

    fn client(&self) -> kube::Client {
        let (service, handle) =
            tower_test::mock::pair::<Request<kube::client::Body>, Response<Body>>();
        tokio::spawn(serve(handle, self.state.clone()));
        kube::Client::new(service, "default")
    }

    /// The logged requests with `method` whose path starts with `prefix`.
    fn requests(&self, method: Method, prefix: &str) -> Vec<Logged> {
        self.state()
            .log
            .iter()
            .filter(|l| l.method == method && l.path.starts_with(prefix))
            .cloned()
            .collect()
    }

    fn writes(&self) -> Vec<Logged> {
        self.state()
            .log
            .iter()
            .filter(|l| {
                l.path.starts_with(REPORTS)
                    && (l.method == Method::PATCH || l.method == Method::DELETE)
            })
            .cloned()
            .collect()
    }

    fn object(&self, path: &str) -> Option<Value> {
        self.state().objects.get(path).cloned()
    }

    /// Writes a watch event into every open watch of `collection`.
    fn push(&self, collection: &str, kind: &str, object: Value) {
        let mut line = serde_json::to_vec(&json!({"type": kind, "object": object})).expect("json");
        line.push(b'\n');
        let state = self.state();
        let open = state.watches.get(collection).map_or(0, Vec::len);
        assert!(open > 0, "no open watch of {collection}");
        for tx in state.watches.get(collection).into_iter().flatten() {
            let _ = tx.unbounded_send(Ok(Frame::data(Bytes::from(line.clone()))));
        }
    }
}

fn status(code: u16, reason: &str) -> Value {
    json!({"apiVersion": "v1", "kind": "Status", "metadata": {}, "status": "Failure",
        "message": reason, "reason": reason, "code": code})
}

async fn serve(mut handle: Handle, state: Arc<Mutex<State>>) {
    while let Some((req, send)) = handle.next_request().await {
        let (parts, body) = req.into_parts();
        let body = body
            .collect()
            .await
            .map(|b| b.to_bytes())
            .unwrap_or_default();
        let body: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
        let path = parts.uri.path().to_owned();
        let query = parts.uri.query().unwrap_or("").to_owned();
        let mut st = state.lock().expect("state");
        if let Some(list) = COLLECTIONS.iter().find(|c| c.0 == path) {
            if query.split('&').any(|kv| kv == "watch=true") {
                let (tx, rx) = mpsc::unbounded::<Chunk>();
                st.watches.entry(path).or_default().push(tx);
                send.send_response(
                    Response::builder()
                        .status(200)
                        .header(http::header::CONTENT_TYPE, "application/json")
                        .body(StreamBody::new(rx).boxed_unsync())
                        .expect("response"),
                );
            } else {
                let items = st.lists.get(&path).cloned().unwrap_or_default();
                send.send_response(json_response(
                    200,
                    &json!({"apiVersion": list.2, "kind": list.1,
                        "metadata": {"resourceVersion": "100"}, "items": items}),
                ));
            }
            continue;
        }
        st.log.push(Logged {
            method: parts.method.clone(),
            path: path.clone(),
            query: query.clone(),
            content_type: parts
                .headers
                .get(http::header::CONTENT_TYPE)
                .and_then(|v| v.to_str().ok())
                .unwrap_or("")
                .to_owned(),
            body: body.clone(),
        });
        if let Some(i) = st
            .fail
            .iter()
            .position(|(m, p, _)| *m == parts.method && *p == path)
        {
            let (_, _, code) = st.fail.remove(i);
            send.send_response(json_response(code, &status(code, "InternalError")));
            continue;
        }
        st.rv += 1;
        let rv = st.rv.to_string();
        let answer = match parts.method {
            Method::GET if st.objects.contains_key(&path) => (200, st.objects[&path].clone()),
            Method::GET if path.starts_with(REPORTS) => {
                // A list (metadata only) of every report of this plural, in any namespace.
                let plural = path.rsplit('/').next().unwrap_or_default();
                let items: Vec<Value> = st
                    .objects
                    .iter()
                    .filter(|(p, _)| p.split('/').nth_back(1) == Some(plural))
                    .map(|(_, o)| json!({"metadata": o["metadata"]}))
                    .collect();
                (
                    200,
                    json!({"apiVersion": "meta.k8s.io/v1", "kind": "PartialObjectMetadataList",
                        "metadata": {"resourceVersion": rv}, "items": items}),
                )
            }
            Method::GET => (404, status(404, "NotFound")),
            Method::POST => {
                let name = body["metadata"]["name"].as_str().unwrap_or_default();
                let at = format!("{path}/{name}");
                match st.objects.entry(at) {
                    std::collections::btree_map::Entry::Occupied(_) => {
                        (409, status(409, "AlreadyExists"))
                    }
                    std::collections::btree_map::Entry::Vacant(slot) => {
                        let mut o = body.clone();
                        o["metadata"]["resourceVersion"] = json!(rv);
                        slot.insert(o.clone());
                        (201, o)
                    }
                }
            }
            Method::PUT => match st.objects.get(&path) {
                None => (404, status(404, "NotFound")),
                Some(old)
                    if old["metadata"]["resourceVersion"]
                        != body["metadata"]["resourceVersion"] =>
                {
                    (409, status(409, "Conflict"))
                }
                Some(_) => {
                    let mut o = body.clone();
                    o["metadata"]["resourceVersion"] = json!(rv);
                    st.objects.insert(path.clone(), o.clone());
                    (200, o)
                }
            },
            Method::PATCH => {
                let mut o = body.clone();
                o["metadata"]["resourceVersion"] = json!(rv);
                st.objects.insert(path.clone(), o.clone());
                (200, o)
            }
            Method::DELETE => match st.objects.remove(&path) {
                Some(_) => (
                    200,
                    json!({"apiVersion": "v1", "kind": "Status", "status": "Success", "metadata": {}}),
                ),
                None => (404, status(404, "NotFound")),
            },
            _ => (405, status(405, "MethodNotAllowed")),
        };
        send.send_response(json_response(answer.0, &answer.1));
    }
}

async fn bounded<T>(what: &str, f: impl Future<Output = T>) -> T {
    tokio::time::timeout(WAIT, f)
        .await
        .unwrap_or_else(|_| panic!("timed out after {WAIT:?} waiting for {what}"))
}

/// Polls `cond` until it holds; panics naming `what` after `WAIT`.
async fn eventually(what: &str, mut cond: impl FnMut() -> bool) {
    bounded(what, async {
        while !cond() {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    })
    .await;
}

// ------------------------------------------------------------------------------------------
// Objects.

fn namespace(name: &str, labels: Value) -> Value {
    json!({"apiVersion": "v1", "kind": "Namespace",
        "metadata": {"name": name, "uid": format!("uid-{name}"), "resourceVersion": "1",
            "labels": labels},
        "status": {"phase": "Active"}})
}

/// A privileged Deployment with two replicas (`privileged` fails; without a PDB,
/// `disruption-budget` warns).
fn deployment(ns: &str, name: &str) -> Value {
    json!({"apiVersion": "apps/v1", "kind": "Deployment",
        "metadata": {"name": name, "namespace": ns, "uid": format!("uid-{name}"),
            "resourceVersion": "5",
            "annotations": {"kubectl.kubernetes.io/last-applied-configuration": "{\"a\":1}",
                "team": "shop"},
            "managedFields": [{"manager": "kubectl", "operation": "Apply"}]},
        "spec": {"replicas": 2, "selector": {"matchLabels": {"app": name}},
            "template": {"metadata": {"labels": {"app": name}},
                "spec": {"containers": [{"name": "c", "image": "nginx:1.27",
                    "securityContext": {"privileged": true}}]}}},
        "status": {"replicas": 2, "readyReplicas": 2}})
}

fn pdb(ns: &str, app: &str) -> Value {
    json!({"apiVersion": "policy/v1", "kind": "PodDisruptionBudget",
        "metadata": {"name": app, "namespace": ns, "resourceVersion": "20"},
        "spec": {"maxUnavailable": 1, "selector": {"matchLabels": {"app": app}}}})
}

/// Built reports of `objects`, judged with the default policy.
fn built(objects: Vec<Value>, now: i64) -> BTreeMap<ReportKey, report::BuiltReport> {
    let mut parsed = Vec::new();
    for o in &objects {
        Snapshot::insert_value(&mut parsed, o).expect("object");
    }
    let results = Snapshot::new(parsed, false).evaluate(&Policy::default(), OWN, 20_000);
    results
        .iter()
        .filter_map(|(scope, audit)| {
            report::build(ReportKey::of_scope(scope), audit, 1000, now).map(|r| (r.key.clone(), r))
        })
        .collect()
}

fn query_has(l: &Logged, kv: &str) -> bool {
    l.query.split('&').any(|q| q == kv)
}

fn shop_path() -> String {
    format!("{REPORTS}/namespaces/shop/policyreports/bulwark")
}

// ------------------------------------------------------------------------------------------
// The report writer.

#[tokio::test]
async fn reports_are_applied_under_bulwarks_field_manager_only_when_changed() {
    let fake = Fake::default();
    let mut writer = ReportWriter::new(fake.client(), AuditMetrics::default());
    writer.seed().await.expect("seed");
    let lists = fake.requests(Method::GET, REPORTS);
    assert_eq!(
        lists.iter().map(|l| l.path.as_str()).collect::<Vec<_>>(),
        [
            format!("{REPORTS}/policyreports"),
            format!("{REPORTS}/clusterpolicyreports")
        ]
    );
    assert!(
        lists
            .iter()
            .all(|l| query_has(l, "labelSelector=app.kubernetes.io%2Fmanaged-by%3Dbulwark")),
        "{lists:?}"
    );

    let objects = vec![namespace("shop", json!({})), deployment("shop", "web")];
    let first = built(objects.clone(), 1);
    let stats = writer
        .sync(first.iter().map(|(k, r)| (k.clone(), Some(r.clone()))))
        .await;
    assert_eq!((stats.applied, stats.failed), (2, 0));
    let writes = fake.writes();
    assert_eq!(writes.len(), 2);
    let shop = writes
        .iter()
        .find(|w| w.path == shop_path())
        .expect("shop report written");
    assert_eq!(shop.method, Method::PATCH);
    assert!(query_has(shop, "fieldManager=bulwark"), "{}", shop.query);
    assert!(query_has(shop, "force=true"), "{}", shop.query);
    assert_eq!(shop.content_type, "application/apply-patch+yaml");
    assert_eq!(
        shop.body,
        first[&ReportKey::Namespace("shop".into())].to_value()
    );
    assert_eq!(shop.body["kind"], "PolicyReport");
    let cluster = writes
        .iter()
        .find(|w| w.path == format!("{REPORTS}/clusterpolicyreports/bulwark"))
        .expect("cluster report written");
    assert_eq!(cluster.body["kind"], "ClusterPolicyReport");

    // The same content a minute later: no request at all.
    let again = built(objects.clone(), 61);
    let stats = writer
        .sync(again.iter().map(|(k, r)| (k.clone(), Some(r.clone()))))
        .await;
    assert_eq!((stats.applied, stats.unchanged), (0, 2));
    assert_eq!(fake.writes().len(), 2, "nothing changed, nothing sent");

    // Another Deployment in shop: one apply, of that report only.
    let mut more = objects.clone();
    more.push(deployment("shop", "api"));
    let changed = built(more, 120);
    let stats = writer
        .sync(changed.iter().map(|(k, r)| (k.clone(), Some(r.clone()))))
        .await;
    assert_eq!((stats.applied, stats.unchanged), (1, 1));
    let last = fake.writes().pop().expect("a write");
    assert_eq!(last.path, shop_path());
    assert_eq!(
        last.body["summary"]["fail"].as_u64(),
        Some(2 * first[&ReportKey::Namespace("shop".into())].summary.fail as u64)
    );

    // No results any more: deleted, once.
    let key = ReportKey::Namespace("shop".into());
    let stats = writer.sync([(key.clone(), None)]).await;
    assert_eq!(stats.deleted, 1);
    let last = fake.writes().pop().expect("a write");
    assert_eq!((last.method, last.path), (Method::DELETE, shop_path()));
    let stats = writer.sync([(key, None)]).await;
    assert_eq!(stats, Default::default());
    assert_eq!(fake.writes().len(), 4);
}

#[tokio::test]
async fn a_failed_write_is_counted_and_retried() {
    let fake = Fake::default();
    let mut registry = prometheus_client::registry::Registry::default();
    let metrics = AuditMetrics::register(&mut registry);
    let mut writer = ReportWriter::new(fake.client(), metrics);
    let reports = built(
        vec![namespace("shop", json!({})), deployment("shop", "web")],
        1,
    );
    let shop = ReportKey::Namespace("shop".into());
    fake.state().fail.push((Method::PATCH, shop_path(), 500));
    let stats = writer
        .sync([(shop.clone(), reports.get(&shop).cloned())])
        .await;
    assert_eq!(stats.failed, 1);
    assert!(fake.object(&shop_path()).is_none());
    let pending = writer.take_pending();
    assert!(pending.contains(&shop));
    let stats = writer
        .sync([(shop.clone(), reports.get(&shop).cloned())])
        .await;
    assert_eq!(stats.applied, 1);
    assert!(fake.object(&shop_path()).is_some());
    let mut text = String::new();
    prometheus_client::encoding::text::encode(&mut text, &registry).expect("encode");
    assert!(
        text.contains("audit_report_writes_total{operation=\"apply\"} 2"),
        "{text}"
    );
    assert!(
        text.contains("audit_report_write_errors_total{operation=\"apply\"} 1"),
        "{text}"
    );
}

#[tokio::test]
async fn a_new_writer_rewrites_nothing_that_is_already_right() {
    let fake = Fake::default();
    let reports = built(
        vec![namespace("shop", json!({})), deployment("shop", "web")],
        1,
    );
    // A previous leader wrote these, and a report for a namespace since switched off.
    let mut stale = reports[&ReportKey::Namespace("shop".into())].to_value();
    stale["metadata"]["namespace"] = json!("legacy");
    {
        let mut st = fake.state();
        for r in reports.values() {
            let path = match &r.key {
                ReportKey::Cluster => format!("{REPORTS}/clusterpolicyreports/bulwark"),
                ReportKey::Namespace(ns) => {
                    format!("{REPORTS}/namespaces/{ns}/policyreports/bulwark")
                }
            };
            st.objects.insert(path, r.to_value());
        }
        st.objects.insert(
            format!("{REPORTS}/namespaces/legacy/policyreports/bulwark"),
            stale,
        );
    }
    let mut writer = ReportWriter::new(fake.client(), AuditMetrics::default());
    writer.seed().await.expect("seed");
    let known: Vec<ReportKey> = writer.written().cloned().collect();
    assert_eq!(known.len(), 3, "{known:?}");
    let mut desired: Vec<_> = reports
        .iter()
        .map(|(k, r)| (k.clone(), Some(r.clone())))
        .collect();
    desired.push((ReportKey::Namespace("legacy".into()), None));
    let stats = writer.sync(desired).await;
    assert_eq!((stats.applied, stats.unchanged, stats.deleted), (0, 2, 1));
    let writes = fake.writes();
    assert_eq!(writes.len(), 1);
    assert_eq!(writes[0].method, Method::DELETE);
    assert_eq!(
        writes[0].path,
        format!("{REPORTS}/namespaces/legacy/policyreports/bulwark")
    );
}

// ------------------------------------------------------------------------------------------
// The Lease.

fn lease_config(identity: &str) -> LeaseConfig {
    LeaseConfig {
        lease_duration: Duration::from_secs(15),
        renew_deadline: Duration::from_secs(10),
        retry_period: Duration::from_millis(50),
        ..LeaseConfig::new(LEASE_NAME, OWN, identity.into())
    }
}

fn holder(fake: &Fake) -> Value {
    fake.object(&format!("{LEASE}/{LEASE_NAME}"))
        .map_or(Value::Null, |l| l["spec"]["holderIdentity"].clone())
}

#[tokio::test]
async fn the_lease_is_acquired_renewed_guarded_and_handed_over_on_release() {
    let fake = Fake::default();
    let mut a = LeaderElector::new(fake.client(), lease_config("a"));
    let mut b = LeaderElector::new(fake.client(), lease_config("b"));
    assert!(a.step().await.expect("a tries"), "a creates the Lease");
    let created = fake.requests(Method::POST, LEASE);
    assert_eq!(created.len(), 1);
    assert_eq!(created[0].body["spec"]["holderIdentity"], "a");
    assert_eq!(created[0].body["spec"]["leaseDurationSeconds"], 15);
    assert!(!b.step().await.expect("b tries"), "a holds it");
    assert!(a.step().await.expect("a renews"));
    let renewals = fake.requests(Method::PUT, LEASE);
    assert_eq!(renewals.len(), 1);
    // Every write carries the resourceVersion it read: a race loses with 409.
    assert!(renewals[0].body["metadata"]["resourceVersion"].is_string());
    assert_eq!(renewals[0].body["spec"]["holderIdentity"], "a");
    assert_eq!(holder(&fake), "a");

    // Shutdown: a clears the holder, and b takes over at its next try, not 15 s later.
    a.release().await.expect("release");
    assert_eq!(holder(&fake), Value::Null);
    assert!(b.step().await.expect("b tries"), "b takes over at once");
    assert_eq!(holder(&fake), "b");
    let lease = fake
        .object(&format!("{LEASE}/{LEASE_NAME}"))
        .expect("lease");
    assert_eq!(lease["spec"]["leaseTransitions"], 1);
    assert!(!a.step().await.expect("a tries"), "b holds it now");
}

#[tokio::test]
async fn a_replace_that_lost_a_race_does_not_lead() {
    let fake = Fake::default();
    let mut a = LeaderElector::new(fake.client(), lease_config("a"));
    assert!(a.step().await.expect("a creates"));
    // Someone else writes the Lease between a's read and a's write: the fake answers the
    // first renewal with the 409 the API server gives a stale resourceVersion.
    fake.state()
        .fail
        .push((Method::PUT, format!("{LEASE}/{LEASE_NAME}"), 409));
    assert!(!a.step().await.expect("a tries"), "a 409 is not leading");
    assert!(a.step().await.expect("a tries again"));
}

#[tokio::test(start_paused = true)]
async fn an_unrenewed_lease_expires_by_the_followers_clock() {
    let fake = Fake::default();
    let mut a = LeaderElector::new(fake.client(), lease_config("a"));
    let mut b = LeaderElector::new(fake.client(), lease_config("b"));
    assert!(a.step().await.expect("a"));
    assert!(!b.step().await.expect("b observes a"));
    tokio::time::advance(Duration::from_secs(14)).await;
    assert!(!b.step().await.expect("b"), "not yet expired");
    tokio::time::advance(Duration::from_secs(2)).await;
    assert!(b.step().await.expect("b"), "expired: b takes over");
    assert_eq!(holder(&fake), "b");
}

#[tokio::test]
async fn the_elector_releases_the_lease_when_shut_down() {
    let fake = Fake::default();
    let (tx, mut leading) = tokio::sync::watch::channel(false);
    let (stop_tx, mut stop_rx) = tokio::sync::watch::channel(false);
    let elector = LeaderElector::new(fake.client(), lease_config("a"));
    let task = tokio::spawn(elector.run(tx, async move {
        let _ = stop_rx.wait_for(|v| *v).await;
    }));
    bounded("leadership", leading.wait_for(|l| *l))
        .await
        .expect("leads");
    let _ = stop_tx.send(true);
    bounded("the elector to stop", task).await.expect("joins");
    assert!(!*leading.borrow());
    assert_eq!(holder(&fake), Value::Null, "released");
    let last = fake.requests(Method::PUT, LEASE).pop().expect("a release");
    assert_eq!(last.body["spec"]["leaseDurationSeconds"], 1);
}

// ------------------------------------------------------------------------------------------
// The whole auditor.

fn fill(fake: &Fake, path: &str, items: Vec<Value>) {
    fake.state().lists.insert(path.into(), items);
}

#[tokio::test]
async fn the_auditor_judges_again_when_a_namespace_label_or_a_pdb_changes() {
    let fake = Fake::default();
    fill(
        &fake,
        "/api/v1/namespaces",
        vec![
            namespace("shop", json!({"bulwark.dev/mode": "audit"})),
            namespace(OWN, json!({})),
        ],
    );
    fill(
        &fake,
        "/apis/apps/v1/deployments",
        vec![deployment("shop", "web")],
    );
    // A ReplicaSet the Deployment controller made: judged through the Deployment only.
    fill(
        &fake,
        "/apis/apps/v1/replicasets",
        vec![json!({"apiVersion": "apps/v1", "kind": "ReplicaSet",
            "metadata": {"name": "web-5d", "namespace": "shop", "uid": "uid-rs",
                "ownerReferences": [{"apiVersion": "apps/v1", "kind": "Deployment",
                    "name": "web", "uid": "uid-web", "controller": true}]},
            "spec": {"selector": {"matchLabels": {"app": "web"}},
                "template": {"metadata": {"labels": {"app": "web"}},
                    "spec": {"containers": [{"name": "c", "image": "nginx:1.27",
                        "securityContext": {"privileged": true}}]}}}})],
    );
    let client = fake.client();
    let metrics = Arc::new(Metrics::default());
    let cluster = bulwark::cluster::start(
        client.clone(),
        Arc::new(Readiness::default()),
        metrics.clone(),
    );
    let policy = Arc::new(Policy::default());
    let mut options = AuditOptions::new(&policy, OWN);
    options.debounce = Duration::from_millis(50);
    options.lease = lease_config("auditor");
    let state = Arc::new(AuditState::default());
    let (stop_tx, mut stop_rx) = tokio::sync::watch::channel(false);
    let (_policy_tx, policy_rx) = tokio::sync::watch::channel(policy);
    let auditor = bulwark::audit::spawn(
        client,
        &cluster,
        policy_rx,
        state.clone(),
        AuditMetrics::default(),
        metrics,
        options,
        async move {
            let _ = stop_rx.wait_for(|v| *v).await;
        },
    );

    let report_of = |fake: &Fake| fake.object(&shop_path());
    let rules_of = |r: &Value| -> Vec<(String, String)> {
        r["results"]
            .as_array()
            .into_iter()
            .flatten()
            .map(|x| {
                (
                    x["rule"].as_str().unwrap_or_default().to_owned(),
                    x["result"].as_str().unwrap_or_default().to_owned(),
                )
            })
            .collect()
    };
    eventually("the shop report", || report_of(&fake).is_some()).await;
    let first = report_of(&fake).expect("report");
    let rules = rules_of(&first);
    assert!(
        rules.contains(&("privileged".into(), "fail".into())),
        "{rules:?}"
    );
    assert!(
        rules.contains(&("disruption-budget".into(), "warn".into())),
        "{rules:?}"
    );
    let names: Vec<&str> = first["results"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|x| x["resources"][0]["name"].as_str().unwrap_or_default())
        .collect();
    assert!(
        names.iter().all(|n| *n == "web"),
        "the ReplicaSet is not judged: {names:?}"
    );
    assert!(state.read(|v| v.leader));
    let writes_before = fake.writes().len();

    // Quiet ticks write nothing.
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(fake.writes().len(), writes_before, "{:?}", fake.writes());

    // A PDB now selects the Deployment: the shop report is written again without the
    // disruption-budget warning.
    fake.push(
        "/apis/policy/v1/poddisruptionbudgets",
        "ADDED",
        pdb("shop", "web"),
    );
    eventually("the report without disruption-budget", || {
        report_of(&fake).is_some_and(|r| {
            !rules_of(&r)
                .iter()
                .any(|(rule, _)| rule == "disruption-budget")
        })
    })
    .await;
    assert_eq!(
        fake.writes().len(),
        writes_before + 1,
        "only the shop report"
    );

    // The namespace is switched off: its report goes.
    let mut off = namespace("shop", json!({"bulwark.dev/mode": "off"}));
    off["metadata"]["resourceVersion"] = json!("2");
    fake.push("/api/v1/namespaces", "MODIFIED", off);
    eventually("the shop report deleted", || report_of(&fake).is_none()).await;
    let last = fake.writes().pop().expect("a write");
    assert_eq!((last.method, last.path), (Method::DELETE, shop_path()));

    let leases = fake.requests(Method::POST, LEASE);
    assert_eq!(leases.len(), 1, "one Lease created");

    let _ = stop_tx.send(true);
    bounded("the auditor to stop", auditor)
        .await
        .expect("joins");
    assert_eq!(
        holder(&fake),
        Value::Null,
        "the Lease is released on shutdown"
    );
}

#[tokio::test]
async fn workload_caches_hold_pruned_objects() {
    let fake = Fake::default();
    fill(
        &fake,
        "/apis/apps/v1/deployments",
        vec![deployment("shop", "web")],
    );
    fill(
        &fake,
        "/api/v1/pods",
        vec![json!({"apiVersion": "v1", "kind": "Pod",
            "metadata": {"name": "web-1", "namespace": "shop", "labels": {"app": "web"},
                "ownerReferences": [{"apiVersion": "apps/v1", "kind": "ReplicaSet",
                    "name": "web-5d", "uid": "u", "controller": true}]},
            "spec": {"containers": [{"name": "c", "image": "nginx:1.27"}]},
            "status": {"phase": "Running"}})],
    );
    let changes = Arc::new(bulwark::audit::cache::Changes::default());
    let stores = bulwark::audit::cache::start(
        fake.client(),
        Arc::new(Policy::default()),
        changes.clone(),
        Arc::new(Metrics::default()),
    );
    bounded("deployments", stores.deployments.wait_until_ready())
        .await
        .expect("ready");
    bounded("pods", stores.pods.wait_until_ready())
        .await
        .expect("ready");
    // The engine's view only: no managedFields, no status, no last-applied copy.
    let d = stores.deployments.state().pop().expect("one deployment");
    assert_eq!(d.metadata.name.as_deref(), Some("web"));
    assert!(d.metadata.managed_fields.is_none() && d.metadata.annotations.is_none());
    let w = &d.object.workload;
    assert_eq!(w.meta.annotations.keys().collect::<Vec<_>>(), ["team"]);
    assert!(w.pod().is_some(), "judged as itself: the template stays");
    assert_eq!(d.object.uid, "uid-web");
    // A Pod the ReplicaSet controller made: its ownership only.
    let p = stores.pods.state().pop().expect("one pod");
    let w = &p.object.workload;
    assert!(w.pod().is_none() && w.meta.labels.is_empty(), "{p:?}");
    assert_eq!(w.meta.owner_references.len(), 1);
    eventually("the initial lists marked a full pass", || {
        changes.take() == bulwark::audit::state::Scopes::All
    })
    .await;
}
