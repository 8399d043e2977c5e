//! The auditor's caches and what tells it to judge again.
//!
//! - One kube-runtime reflector per workload kind (Deployments, StatefulSets, DaemonSets,
//!   CronJobs, ReplicationControllers, ReplicaSets, Jobs, Pods), pruned as objects arrive:
//!   no `managedFields`, no `status`, no last-applied annotation (a whole second copy of the
//!   object), and for objects a built-in controller made for an owner (most ReplicaSets, Jobs
//!   and Pods) nothing but the metadata that says so. Memory follows the objects judged,
//!   not the Pods running.
//! - Namespaces, PDBs, HPAs and BulwarkExceptions come from admission's caches
//!   ([`crate::cluster::KubeCluster`]); they are not watched twice.
//! - [`Changes`] collects the scopes to judge again: a workload event marks its namespace
//!   (only when it is, or was, judged as itself); a change of namespace labels, PDBs, HPAs
//!   or BulwarkExceptions is found by comparing [`Fingerprints`] of admission's caches,
//!   which costs a hash per cached object per tick and no second watch.

use std::collections::{HashMap, HashSet};
use std::hash::{Hash, Hasher};
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
use serde::Serialize;
use serde::de::DeserializeOwned;

use super::evaluate::{CLUSTER_SCOPE, Object, made_for_owner};
use super::snapshot::Snapshot;
use super::state::Scopes;
use crate::cluster::{BulwarkException, KubeCluster};
use crate::config::Policy;
use crate::health::Metrics;
use crate::workload::{Kind, Workload};

/// The annotation `kubectl apply` keeps a full copy of the object in.
const LAST_APPLIED: &str = "kubectl.kubernetes.io/last-applied-configuration";

/// A workload kind the auditor caches: how to prune it.
pub trait Cached:
    Resource<DynamicType = ()>
    + Clone
    + std::fmt::Debug
    + Serialize
    + DeserializeOwned
    + Send
    + Sync
    + 'static
{
    /// The kind.
    const KIND: Kind;
    /// The resource (plural), for logs and metrics.
    const RESOURCE: &'static str;
    /// Drops `status`.
    fn drop_status(&mut self);
    /// Drops `spec`.
    fn drop_spec(&mut self);
}

macro_rules! cached {
    ($($t:ty => $kind:expr, $res:literal;)*) => {$(
        impl Cached for $t {
            const KIND: Kind = $kind;
            const RESOURCE: &'static str = $res;
            fn drop_status(&mut self) {
                self.status = None;
            }
            fn drop_spec(&mut self) {
                self.spec = None;
            }
        }
    )*};
}

cached! {
    Deployment => Kind::Deployment, "deployments";
    StatefulSet => Kind::StatefulSet, "statefulsets";
    DaemonSet => Kind::DaemonSet, "daemonsets";
    ReplicaSet => Kind::ReplicaSet, "replicasets";
    ReplicationController => Kind::ReplicationController, "replicationcontrollers";
    Job => Kind::Job, "jobs";
    CronJob => Kind::CronJob, "cronjobs";
    Pod => Kind::Pod, "pods";
}

/// Whether a cached object is judged through its owner (see
/// [`super::evaluate::is_subject`]), read from the k8s object's metadata.
fn owned<K: Cached>(meta: &ObjectMeta, policy: &Policy) -> bool {
    meta.owner_references
        .iter()
        .flatten()
        .find(|o| o.controller == Some(true))
        .is_some_and(|o| made_for_owner(policy, K::KIND.as_str(), &o.api_version, &o.kind))
}

/// Whether a cached object is judged as itself.
fn subject<K: Cached>(obj: &K, policy: &Policy) -> bool {
    let meta = obj.meta();
    meta.deletion_timestamp.is_none() && !owned::<K>(meta, policy)
}

/// Drops what the rules never read, and everything but the ownership of an object that is
/// judged through its owner. `policy` decides which owners count (`admission.controllers`).
pub fn prune<K: Cached>(obj: &mut K, policy: &Policy) {
    obj.drop_status();
    let owned = owned::<K>(obj.meta(), policy);
    let meta = obj.meta_mut();
    meta.managed_fields = None;
    if let Some(a) = meta.annotations.as_mut() {
        a.remove(LAST_APPLIED);
    }
    if owned {
        obj.drop_spec();
        let meta = obj.meta_mut();
        meta.annotations = None;
        meta.labels = None;
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
    pub deployments: Store<Deployment>,
    /// StatefulSets.
    pub statefulsets: Store<StatefulSet>,
    /// DaemonSets.
    pub daemonsets: Store<DaemonSet>,
    /// ReplicaSets (owned ones pruned to metadata).
    pub replicasets: Store<ReplicaSet>,
    /// ReplicationControllers.
    pub replicationcontrollers: Store<ReplicationController>,
    /// Jobs (owned ones pruned to metadata).
    pub jobs: Store<Job>,
    /// CronJobs.
    pub cronjobs: Store<CronJob>,
    /// Pods (owned ones pruned to metadata).
    pub pods: Store<Pod>,
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

/// Converts a cached object into the engine's view (`None` if it does not fit the view,
/// which typed objects from the API always do).
fn object<K: Resource + Serialize>(k: &K, kind: Kind) -> Option<Object> {
    let v = serde_json::to_value(k).ok()?;
    let workload = Workload::from_value_as(kind.as_str(), &v).ok()?;
    Some(Object {
        workload,
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
    store: &Store<K>,
    scopes: &Scopes,
    policy: &Policy,
    out: &mut Vec<Object>,
) {
    collect(
        store,
        K::KIND,
        |k| scopes.contains(namespace_of(k)) && subject(k, policy),
        out,
    );
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
    fn spawn<K: Cached>(&self) -> Store<K> {
        let (store, writer) = reflector::store::<K>();
        let api = Api::<K>::all(self.client.clone());
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
                .modify(move |o: &mut K| prune(o, &prune_policy))
                .reflect(writer);
            futures::pin_mut!(stream);
            let mut tracker = Tracker::default();
            while let Some(event) = stream.next().await {
                match event {
                    Ok(event) => tracker.observe(&event, &policy, &changes),
                    Err(e) => {
                        metrics.watch_error(K::RESOURCE);
                        tracing::warn!(resource = K::RESOURCE, error = %e, "audit watch error; reconnecting with backoff");
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
        event: &watcher::Event<K>,
        policy: &Policy,
        changes: &Changes,
    ) {
        let key = |k: &K| {
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
