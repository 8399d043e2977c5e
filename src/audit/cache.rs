//! The auditor's caches and what tells it to judge again.
//!
//! - One kube-runtime reflector per workload kind (Deployments, StatefulSets, DaemonSets,
//!   CronJobs, ReplicationControllers, ReplicaSets, Jobs, Pods), pruned as objects arrive:
//!   each holds a [`View`], the engine's view parsed once per event, so no `managedFields`,
//!   `status` or last-applied annotation (a whole second copy of the object) is ever kept,
//!   and [`prune`] leaves objects a built-in controller made for an owner (most ReplicaSets,
//!   Jobs and Pods) nothing but their ownership. Memory follows the objects judged, not the
//!   Pods running.
//! - Namespaces, PDBs, HPAs and BulwarkExceptions come from admission's caches
//!   ([`crate::cluster::KubeCluster`]); they are not watched twice.
//! - [`Changes`] collects the scopes to judge again: a workload event marks its namespace
//!   (only when it is, or was, judged as itself); a change of namespace labels, PDBs, HPAs
//!   or BulwarkExceptions is found by comparing [`Fingerprints`] of admission's caches,
//!   which costs a hash per cached object per tick and no second watch.

use std::borrow::Cow;
use std::collections::{HashMap, HashSet};
use std::hash::{Hash, Hasher};
use std::marker::PhantomData;
use std::sync::{Arc, Mutex};

use futures::StreamExt;
use k8s_openapi::api::apps::v1::{DaemonSet, Deployment, ReplicaSet, StatefulSet};
use k8s_openapi::api::autoscaling::v2::HorizontalPodAutoscaler;
use k8s_openapi::api::batch::v1::{CronJob, Job};
use k8s_openapi::api::core::v1::{Namespace, Pod, ReplicationController};
use k8s_openapi::api::policy::v1::PodDisruptionBudget;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use kube::runtime::reflector::{self, Store};
use kube::runtime::{WatchStreamExt, watcher};
use kube::{Api, Client, Resource};
use serde::{Deserialize, Serialize};

use super::evaluate::{CLUSTER_SCOPE, Object, is_subject, made_for_owner};
use super::snapshot::Snapshot;
use super::state::Scopes;
use crate::cluster::{BulwarkException, KubeCluster};
use crate::config::Policy;
use crate::health::Metrics;
use crate::workload::{Body, Kind, Workload};

/// The annotation `kubectl apply` keeps a full copy of the object in.
const LAST_APPLIED: &str = "kubectl.kubernetes.io/last-applied-configuration";

/// A cached workload: the engine's view of it, parsed once when the watch delivers it, and
/// the little metadata the reflector needs. The typed k8s-openapi object is never kept: a
/// Deployment's is ~10 KB in memory (every optional field of every container is inline),
/// and converting it back into the engine's view on every pass cost more than judging it.
/// `K` is the k8s-openapi type, used only for its kind, group, version and plural.
pub struct View<K> {
    /// name, namespace, uid and resourceVersion only.
    pub metadata: ObjectMeta,
    /// The object as the engine sees it (no managedFields, no status: the view has none).
    pub object: Object,
    kind: PhantomData<fn() -> K>,
}

impl<K> Clone for View<K> {
    fn clone(&self) -> Self {
        View {
            metadata: self.metadata.clone(),
            object: self.object.clone(),
            kind: PhantomData,
        }
    }
}

impl<K> std::fmt::Debug for View<K> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("View")
            .field("metadata", &self.metadata)
            .field("object", &self.object)
            .finish()
    }
}

impl<K: k8s_openapi::Resource> Resource for View<K> {
    type DynamicType = ();
    type Scope = K::Scope;

    fn kind(_: &()) -> Cow<'_, str> {
        K::KIND.into()
    }
    fn group(_: &()) -> Cow<'_, str> {
        K::GROUP.into()
    }
    fn version(_: &()) -> Cow<'_, str> {
        K::VERSION.into()
    }
    fn plural(_: &()) -> Cow<'_, str> {
        K::URL_PATH_SEGMENT.into()
    }
    fn meta(&self) -> &ObjectMeta {
        &self.metadata
    }
    fn meta_mut(&mut self) -> &mut ObjectMeta {
        &mut self.metadata
    }
}

impl<'de, K: k8s_openapi::Resource> Deserialize<'de> for View<K> {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        // Through a Value: the watch decoder may hand a buffered deserializer, and the
        // object is read twice (view and metadata). Once per event, never per pass.
        let v = serde_json::Value::deserialize(d)?;
        let mut workload =
            Workload::from_value_as(K::KIND, &v).map_err(serde::de::Error::custom)?;
        workload.meta.annotations.remove(LAST_APPLIED);
        let m = &v["metadata"];
        let text = |k: &str| m[k].as_str().map(str::to_owned);
        let metadata = ObjectMeta {
            name: text("name"),
            namespace: text("namespace"),
            uid: text("uid"),
            resource_version: text("resourceVersion"),
            ..ObjectMeta::default()
        };
        Ok(View {
            object: Object {
                workload: Arc::new(workload),
                uid: metadata.uid.clone().unwrap_or_default(),
            },
            metadata,
            kind: PhantomData,
        })
    }
}

/// A workload kind the auditor caches.
pub trait Cached:
    k8s_openapi::Resource<Scope = k8s_openapi::NamespaceResourceScope> + Send + Sync + 'static
{
}

impl Cached for Deployment {}
impl Cached for StatefulSet {}
impl Cached for DaemonSet {}
impl Cached for ReplicaSet {}
impl Cached for ReplicationController {}
impl Cached for Job {}
impl Cached for CronJob {}
impl Cached for Pod {}

/// Whether a cached object is judged as itself ([`super::evaluate::is_subject`]).
fn subject<K>(view: &View<K>, policy: &Policy) -> bool {
    is_subject(&view.object.workload, policy)
}

/// Keeps of an object that a built-in controller made for its owner only what says so: its
/// name, namespace and ownerReferences. `policy` decides which owners count
/// (`admission.controllers`).
pub fn prune<K>(view: &mut View<K>, policy: &Policy) {
    let w = &view.object.workload;
    if w.controller_owner()
        .is_some_and(|o| made_for_owner(policy, &w.kind_name, &o.api_version, &o.kind))
    {
        let stub = Workload {
            kind: w.kind,
            kind_name: w.kind_name.clone(),
            meta: crate::workload::Meta {
                name: w.meta.name.clone(),
                namespace: w.meta.namespace.clone(),
                deletion_timestamp: w.meta.deletion_timestamp.clone(),
                owner_references: w.meta.owner_references.clone(),
                ..Default::default()
            },
            body: Body::Other,
        };
        view.object.workload = Arc::new(stub);
    }
}

/// The scopes waiting to be judged again.
#[derive(Debug, Default)]
pub struct Changes {
    scopes: Mutex<Scopes>,
}

impl Changes {
    /// Marks `scope` (a namespace, or [`CLUSTER_SCOPE`]).
    pub fn mark(&self, scope: &str) {
        self.lock().insert(scope);
    }

    /// Marks everything: a full pass.
    pub fn mark_all(&self) {
        *self.lock() = Scopes::All;
    }

    /// Marks every scope in `scopes`.
    pub fn merge(&self, scopes: Scopes) {
        self.lock().merge(scopes);
    }

    /// Takes what is marked, leaving nothing.
    pub fn take(&self) -> Scopes {
        std::mem::take(&mut *self.lock())
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Scopes> {
        self.scopes.lock().unwrap_or_else(|p| p.into_inner())
    }
}

/// The workload caches.
#[derive(Clone)]
pub struct WorkloadStores {
    /// Deployments.
    pub deployments: Store<View<Deployment>>,
    /// StatefulSets.
    pub statefulsets: Store<View<StatefulSet>>,
    /// DaemonSets.
    pub daemonsets: Store<View<DaemonSet>>,
    /// ReplicaSets (owned ones pruned to their ownership).
    pub replicasets: Store<View<ReplicaSet>>,
    /// ReplicationControllers.
    pub replicationcontrollers: Store<View<ReplicationController>>,
    /// Jobs (owned ones pruned to their ownership).
    pub jobs: Store<View<Job>>,
    /// CronJobs.
    pub cronjobs: Store<View<CronJob>>,
    /// Pods (owned ones pruned to their ownership).
    pub pods: Store<View<Pod>>,
}

/// Admission's caches, read by the auditor.
#[derive(Clone)]
pub struct ClusterStores {
    /// Namespaces.
    pub namespaces: Store<Namespace>,
    /// PodDisruptionBudgets.
    pub pdbs: Store<PodDisruptionBudget>,
    /// HorizontalPodAutoscalers.
    pub hpas: Store<HorizontalPodAutoscaler>,
    /// BulwarkExceptions.
    pub exceptions: Store<BulwarkException>,
}

impl ClusterStores {
    /// The stores of admission's cluster state.
    pub fn of(cluster: &KubeCluster) -> ClusterStores {
        ClusterStores {
            namespaces: cluster.namespace_store().clone(),
            pdbs: cluster.pdb_store().clone(),
            hpas: cluster.hpa_store().clone(),
            exceptions: cluster.exception_store().clone(),
        }
    }
}

/// Everything the auditor reads.
#[derive(Clone)]
pub struct AuditCache {
    /// The workloads.
    pub workloads: WorkloadStores,
    /// Admission's caches.
    pub cluster: ClusterStores,
}

/// Converts one of admission's cached objects into the engine's view (`None` if it does not
/// fit the view, which typed objects from the API always do). Through JSON text: the view's
/// parser streams it, where a `Value` tree would allocate every field first.
fn object<K: Resource + Serialize>(k: &K, kind: Kind) -> Option<Object> {
    let text = serde_json::to_string(k).ok()?;
    let workload = Workload::from_json(kind.as_str(), &text).ok()?;
    Some(Object {
        workload: Arc::new(workload),
        uid: k.meta().uid.clone().unwrap_or_default(),
    })
}

fn namespace_of<K: Resource>(k: &K) -> &str {
    k.meta().namespace.as_deref().unwrap_or("")
}

fn collect<K: Resource<DynamicType = ()> + Clone + Serialize + 'static>(
    store: &Store<K>,
    kind: Kind,
    keep: impl Fn(&K) -> bool,
    out: &mut Vec<Object>,
) {
    for k in store.state() {
        if keep(&k)
            && let Some(o) = object(&*k, kind)
        {
            out.push(o);
        }
    }
}

fn collect_workloads<K: Cached>(
    store: &Store<View<K>>,
    scopes: &Scopes,
    policy: &Policy,
    out: &mut Vec<Object>,
) {
    for v in store.state() {
        if scopes.contains(namespace_of(&*v)) && subject(&v, policy) {
            out.push(v.object.clone());
        }
    }
}

impl AuditCache {
    /// Whether every cache holds its initial list.
    pub async fn wait_until_ready(&self) -> bool {
        let w = &self.workloads;
        let c = &self.cluster;
        // Errors mean a writer was dropped: the watch task is gone.
        w.deployments.wait_until_ready().await.is_ok()
            && w.statefulsets.wait_until_ready().await.is_ok()
            && w.daemonsets.wait_until_ready().await.is_ok()
            && w.replicasets.wait_until_ready().await.is_ok()
            && w.replicationcontrollers.wait_until_ready().await.is_ok()
            && w.jobs.wait_until_ready().await.is_ok()
            && w.cronjobs.wait_until_ready().await.is_ok()
            && w.pods.wait_until_ready().await.is_ok()
            && c.namespaces.wait_until_ready().await.is_ok()
            && c.pdbs.wait_until_ready().await.is_ok()
            && c.hpas.wait_until_ready().await.is_ok()
            && c.exceptions.wait_until_ready().await.is_ok()
    }

    /// A snapshot to judge `scopes` from: the objects judged as themselves in those scopes,
    /// their PDBs, HPAs and BulwarkExceptions, bulwark's own namespace's BulwarkExceptions
    /// (they may cover any namespace), and every Namespace (whose labels set the modes).
    pub fn snapshot(&self, scopes: &Scopes, policy: &Policy, own_namespace: &str) -> Snapshot {
        let mut objects = Vec::new();
        let c = &self.cluster;
        collect(&c.namespaces, Kind::Namespace, |_| true, &mut objects);
        let in_scope = |ns: &str| scopes.contains(ns);
        collect(
            &c.pdbs,
            Kind::PodDisruptionBudget,
            |k| in_scope(namespace_of(k)),
            &mut objects,
        );
        collect(
            &c.hpas,
            Kind::HorizontalPodAutoscaler,
            |k| in_scope(namespace_of(k)),
            &mut objects,
        );
        collect(
            &c.exceptions,
            Kind::BulwarkException,
            |k| in_scope(namespace_of(k)) || namespace_of(k) == own_namespace,
            &mut objects,
        );
        let w = &self.workloads;
        collect_workloads(&w.deployments, scopes, policy, &mut objects);
        collect_workloads(&w.statefulsets, scopes, policy, &mut objects);
        collect_workloads(&w.daemonsets, scopes, policy, &mut objects);
        collect_workloads(&w.replicasets, scopes, policy, &mut objects);
        collect_workloads(&w.replicationcontrollers, scopes, policy, &mut objects);
        collect_workloads(&w.jobs, scopes, policy, &mut objects);
        collect_workloads(&w.cronjobs, scopes, policy, &mut objects);
        collect_workloads(&w.pods, scopes, policy, &mut objects);
        Snapshot::new(objects, false)
    }
}

/// A digest of admission's caches, per namespace, to find what changed between two ticks.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Fingerprints {
    /// Namespace name -> hash of its labels (they decide modes and `namespace-pod-security`).
    namespaces: HashMap<String, u64>,
    /// Namespace -> sum of hash(kind, name, resourceVersion) of its PDBs, HPAs and
    /// BulwarkExceptions (a sum, so the stores' order does not matter).
    inputs: HashMap<String, u64>,
}

fn hash_of(parts: impl Hash) -> u64 {
    // Compared only within this process, so std's hasher (fixed keys) is fine here.
    let mut h = std::collections::hash_map::DefaultHasher::new();
    parts.hash(&mut h);
    h.finish()
}

fn add_inputs<K: Resource<DynamicType = ()> + Clone + 'static>(
    store: &Store<K>,
    tag: u8,
    inputs: &mut HashMap<String, u64>,
) {
    for k in store.state() {
        let m = k.meta();
        let h = hash_of((tag, &m.name, &m.resource_version));
        let sum = inputs.entry(namespace_of(&*k).to_owned()).or_default();
        *sum = sum.wrapping_add(h);
    }
}

impl Fingerprints {
    /// Digests `stores`.
    pub fn of(stores: &ClusterStores) -> Fingerprints {
        let namespaces = stores
            .namespaces
            .state()
            .iter()
            .map(|n| {
                (
                    n.metadata.name.clone().unwrap_or_default(),
                    hash_of(&n.metadata.labels),
                )
            })
            .collect();
        let mut inputs = HashMap::new();
        add_inputs(&stores.pdbs, 0, &mut inputs);
        add_inputs(&stores.hpas, 1, &mut inputs);
        add_inputs(&stores.exceptions, 2, &mut inputs);
        Fingerprints { namespaces, inputs }
    }

    /// The scopes whose inputs differ between `self` (before) and `now`. A change in bulwark's
    /// own namespace's inputs (its BulwarkExceptions cover any namespace) means everything.
    pub fn changed(&self, now: &Fingerprints, own_namespace: &str) -> Scopes {
        let mut scopes = Scopes::default();
        for ns in differing(&self.namespaces, &now.namespaces) {
            scopes.insert(ns);
            scopes.insert(CLUSTER_SCOPE);
        }
        for ns in differing(&self.inputs, &now.inputs) {
            if ns == own_namespace {
                return Scopes::All;
            }
            scopes.insert(ns);
        }
        scopes
    }
}

/// Keys whose values differ (or that exist on one side only).
fn differing<'a>(
    a: &'a HashMap<String, u64>,
    b: &'a HashMap<String, u64>,
) -> impl Iterator<Item = &'a str> {
    let keys: HashSet<&String> = a.keys().chain(b.keys()).collect();
    keys.into_iter()
        .filter(|k| a.get(*k) != b.get(*k))
        .map(String::as_str)
}

/// Starts the eight workload watches on `client`; each marks `changes` as its objects move.
pub fn start(
    client: Client,
    policy: Arc<Policy>,
    changes: Arc<Changes>,
    metrics: Arc<Metrics>,
) -> WorkloadStores {
    let w = Watches {
        client,
        policy,
        changes,
        metrics,
    };
    WorkloadStores {
        deployments: w.spawn(),
        statefulsets: w.spawn(),
        daemonsets: w.spawn(),
        replicasets: w.spawn(),
        replicationcontrollers: w.spawn(),
        jobs: w.spawn(),
        cronjobs: w.spawn(),
        pods: w.spawn(),
    }
}

struct Watches {
    client: Client,
    policy: Arc<Policy>,
    changes: Arc<Changes>,
    metrics: Arc<Metrics>,
}

impl Watches {
    fn spawn<K: Cached>(&self) -> Store<View<K>> {
        let (store, writer) = reflector::store::<View<K>>();
        let api = Api::<View<K>>::all(self.client.clone());
        let (policy, changes, metrics) = (
            self.policy.clone(),
            self.changes.clone(),
            self.metrics.clone(),
        );
        tokio::spawn(async move {
            let prune_policy = policy.clone();
            // default_backoff: a lost watch reconnects with exponential backoff.
            let stream = watcher(api, watcher::Config::default())
                .default_backoff()
                .modify(move |o: &mut View<K>| prune(o, &prune_policy))
                .reflect(writer);
            futures::pin_mut!(stream);
            let mut tracker = Tracker::default();
            while let Some(event) = stream.next().await {
                match event {
                    Ok(event) => tracker.observe(&event, &policy, &changes),
                    Err(e) => {
                        metrics.watch_error(K::URL_PATH_SEGMENT);
                        tracing::warn!(resource = K::URL_PATH_SEGMENT, error = %e, "audit watch error; reconnecting with backoff");
                    }
                }
            }
        });
        store
    }
}

/// Turns one kind's watch events into marked scopes. It remembers which objects are judged
/// as themselves, so that an object leaving that set (adopted by a controller, deleted) marks
/// its namespace while the churn of controller-made Pods marks nothing.
#[derive(Default)]
pub struct Tracker {
    subjects: HashSet<(String, String)>,
    relist: Option<HashSet<(String, String)>>,
}

impl Tracker {
    /// Accounts for one event.
    pub fn observe<K: Cached>(
        &mut self,
        event: &watcher::Event<View<K>>,
        policy: &Policy,
        changes: &Changes,
    ) {
        let key = |k: &View<K>| {
            (
                namespace_of(k).to_owned(),
                k.meta().name.clone().unwrap_or_default(),
            )
        };
        match event {
            watcher::Event::Apply(k) => {
                let key = key(k);
                let is = subject(k, policy);
                let was = if is {
                    !self.subjects.insert(key.clone())
                } else {
                    self.subjects.remove(&key)
                };
                if is || was {
                    changes.mark(&key.0);
                }
            }
            watcher::Event::Delete(k) => {
                let key = key(k);
                if self.subjects.remove(&key) {
                    changes.mark(&key.0);
                }
            }
            watcher::Event::Init => self.relist = Some(HashSet::new()),
            watcher::Event::InitApply(k) => {
                if subject(k, policy) {
                    self.relist.get_or_insert_default().insert(key(k));
                }
            }
            // A (re)list may have missed deletions: judge everything again.
            watcher::Event::InitDone => {
                self.subjects = self.relist.take().unwrap_or_default();
                changes.mark_all();
            }
        }
    }
}
