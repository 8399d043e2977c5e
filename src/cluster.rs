//! What admission needs from the cluster (namespace labels, PDBs, HPAs, BulwarkExceptions), served from
//! kube-runtime reflector caches: a watch per kind keeps an in-memory store, so a request
//! never waits on an API call. Until the caches have synced, every lookup answers "no data",
//! which the rules treat as "never deny on this basis".

use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use futures::StreamExt;
use k8s_openapi::api::autoscaling::v2::HorizontalPodAutoscaler;
use k8s_openapi::api::core::v1::Namespace;
use k8s_openapi::api::policy::v1::PodDisruptionBudget;
use k8s_openapi::apimachinery::pkg::apis::meta::v1 as metav1;
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString as K8sIntOrString;
use kube::runtime::reflector::{self, ObjectRef, Store};
use kube::runtime::{WatchStreamExt, watcher};
use kube::{Api, Client, Resource};

use crate::admission::Cluster;
use crate::engine::exemptions::Exception;
use crate::engine::{HpaInfo, Inventory, PdbInfo};
use crate::health::{Metrics, Readiness};
use crate::workload::{IntOrString, LabelSelector, SelectorRequirement, Workload};

/// A `bulwark.dev/v1alpha1` `BulwarkException` as the API serves it. The spec is kept as JSON
/// and read through the same parser as `bulwark check`, so the cluster and the CLI cannot
/// disagree on what an exception says.
#[derive(Debug, Clone, serde::Deserialize, serde::Serialize)]
pub struct BulwarkException {
    /// Standard metadata.
    #[serde(default)]
    pub metadata: metav1::ObjectMeta,
    /// The spec (deploy/base/crd-bulwarkexception.yaml).
    #[serde(default)]
    pub spec: serde_json::Value,
}

impl Resource for BulwarkException {
    type DynamicType = ();
    type Scope = k8s_openapi::NamespaceResourceScope;

    fn kind(_: &()) -> std::borrow::Cow<'_, str> {
        "BulwarkException".into()
    }
    fn group(_: &()) -> std::borrow::Cow<'_, str> {
        "bulwark.dev".into()
    }
    fn version(_: &()) -> std::borrow::Cow<'_, str> {
        "v1alpha1".into()
    }
    fn plural(_: &()) -> std::borrow::Cow<'_, str> {
        "bulwarkexceptions".into()
    }
    fn meta(&self) -> &metav1::ObjectMeta {
        &self.metadata
    }
    fn meta_mut(&mut self) -> &mut metav1::ObjectMeta {
        &mut self.metadata
    }
}

impl BulwarkException {
    /// The engine's view; `None` when the spec does not parse (the CRD's schema prevents it).
    fn to_engine(&self) -> Option<Exception> {
        let v = serde_json::json!({
            "kind": "BulwarkException",
            "metadata": {"name": self.metadata.name, "namespace": self.metadata.namespace},
            "spec": self.spec,
        });
        Workload::from_value(&v)
            .ok()
            .as_ref()
            .and_then(Exception::from_workload)
    }
}

/// Reflector-backed cluster state.
pub struct KubeCluster {
    namespaces: Store<Namespace>,
    pdbs: Store<PodDisruptionBudget>,
    hpas: Store<HorizontalPodAutoscaler>,
    exceptions: Store<BulwarkException>,
    synced: Arc<AtomicBool>,
}

impl KubeCluster {
    /// Builds cluster state over existing stores (used by tests with a mocked client).
    pub fn new(
        namespaces: Store<Namespace>,
        pdbs: Store<PodDisruptionBudget>,
        hpas: Store<HorizontalPodAutoscaler>,
        exceptions: Store<BulwarkException>,
        synced: Arc<AtomicBool>,
    ) -> Self {
        KubeCluster {
            namespaces,
            pdbs,
            hpas,
            exceptions,
            synced,
        }
    }

    fn synced(&self) -> bool {
        self.synced.load(Ordering::Relaxed)
    }

    /// Whether every cache holds its initial list.
    pub fn is_synced(&self) -> bool {
        self.synced()
    }

    /// The Namespace cache (the auditor reads it too, rather than watching twice).
    pub fn namespace_store(&self) -> &Store<Namespace> {
        &self.namespaces
    }

    /// The PodDisruptionBudget cache.
    pub fn pdb_store(&self) -> &Store<PodDisruptionBudget> {
        &self.pdbs
    }

    /// The HorizontalPodAutoscaler cache.
    pub fn hpa_store(&self) -> &Store<HorizontalPodAutoscaler> {
        &self.hpas
    }

    /// The BulwarkException cache.
    pub fn exception_store(&self) -> &Store<BulwarkException> {
        &self.exceptions
    }
}

fn ns_of<K: Resource>(k: &K) -> &str {
    k.meta().namespace.as_deref().unwrap_or("")
}

fn int_or_string(v: &K8sIntOrString) -> IntOrString {
    match v {
        K8sIntOrString::Int(n) => IntOrString::Int(i64::from(*n)),
        K8sIntOrString::String(s) => IntOrString::Str(s.clone()),
    }
}

fn selector(s: &metav1::LabelSelector) -> LabelSelector {
    LabelSelector {
        match_labels: s.match_labels.clone().unwrap_or_default(),
        match_expressions: s
            .match_expressions
            .iter()
            .flatten()
            .map(|r| SelectorRequirement {
                key: r.key.clone(),
                operator: r.operator.clone(),
                values: r.values.clone().unwrap_or_default(),
            })
            .collect(),
    }
}

/// The namespace an object lands in: a request without one means `default`.
fn object_namespace(namespace: &str) -> &str {
    if namespace.is_empty() {
        "default"
    } else {
        namespace
    }
}

impl Inventory for KubeCluster {
    fn pdbs(&self, namespace: &str) -> Option<Vec<PdbInfo>> {
        if !self.synced() {
            return None;
        }
        let ns = object_namespace(namespace);
        Some(
            self.pdbs
                .state_filter(|p| ns_of(p) == ns)
                .iter()
                .map(|p| {
                    let spec = p.spec.clone().unwrap_or_default();
                    PdbInfo {
                        namespace: ns.to_owned(),
                        name: p.metadata.name.clone().unwrap_or_default(),
                        selector: spec.selector.as_ref().map(selector),
                        min_available: spec.min_available.as_ref().map(int_or_string),
                        max_unavailable: spec.max_unavailable.as_ref().map(int_or_string),
                    }
                })
                .collect(),
        )
    }

    fn hpa_for(&self, namespace: &str, kind: &str, name: &str) -> Option<Option<HpaInfo>> {
        if !self.synced() {
            return None;
        }
        let ns = object_namespace(namespace);
        let found = self.hpas.state_filter(|h| {
            ns_of(h) == ns
                && h.spec.as_ref().is_some_and(|s| {
                    s.scale_target_ref.kind == kind && s.scale_target_ref.name == name
                })
        });
        Some(found.first().map(|h| {
            let spec = h.spec.clone().unwrap_or_default();
            HpaInfo {
                name: h.metadata.name.clone().unwrap_or_default(),
                min_replicas: i64::from(spec.min_replicas.unwrap_or(1)),
                max_replicas: i64::from(spec.max_replicas),
            }
        }))
    }

    fn exceptions(&self, namespace: &str, own_namespace: &str) -> Option<Vec<Exception>> {
        if !self.synced() {
            return None;
        }
        let ns = object_namespace(namespace);
        Some(
            self.exceptions
                .state_filter(|e| ns_of(e) == ns || ns_of(e) == own_namespace)
                .iter()
                .filter_map(|e| e.to_engine())
                .collect(),
        )
    }

    fn is_complete(&self) -> bool {
        false // a live cluster: a PDB may simply not have been applied yet
    }
}

impl Cluster for KubeCluster {
    fn namespace_labels(&self, name: &str) -> Option<BTreeMap<String, String>> {
        if !self.synced() || name.is_empty() {
            return None;
        }
        self.namespaces
            .get(&ObjectRef::new(name))
            .map(|ns| ns.metadata.labels.clone().unwrap_or_default())
    }

    fn as_inventory(&self) -> &dyn Inventory {
        self
    }
}

/// Starts the four watches on `client` and returns the cluster state at once; readiness
/// and the synced flag turn true when every cache has its initial list.
pub fn start(client: Client, readiness: Arc<Readiness>, metrics: Arc<Metrics>) -> KubeCluster {
    let synced = Arc::new(AtomicBool::new(false));
    let (namespaces, ns_writer) = reflector::store::<Namespace>();
    let (pdbs, pdb_writer) = reflector::store::<PodDisruptionBudget>();
    let (hpas, hpa_writer) = reflector::store::<HorizontalPodAutoscaler>();
    let (exceptions, exception_writer) = reflector::store::<BulwarkException>();
    spawn_watch(
        Api::<Namespace>::all(client.clone()),
        ns_writer,
        "namespaces",
        metrics.clone(),
    );
    spawn_watch(
        Api::<PodDisruptionBudget>::all(client.clone()),
        pdb_writer,
        "poddisruptionbudgets",
        metrics.clone(),
    );
    spawn_watch(
        Api::<HorizontalPodAutoscaler>::all(client.clone()),
        hpa_writer,
        "horizontalpodautoscalers",
        metrics.clone(),
    );
    // Exceptions are read cluster-wide: the engine decides which count (bulwark's own
    // namespace, or one delegated by admission.exceptionNamespaces). Until this list has
    // arrived bulwark is not ready, so no request is judged without the exceptions that
    // apply to it (the CRD ships in deploy/base).
    spawn_watch(
        Api::<BulwarkException>::all(client),
        exception_writer,
        "bulwarkexceptions",
        metrics,
    );
    tokio::spawn({
        let (namespaces, pdbs, hpas, exceptions) = (
            namespaces.clone(),
            pdbs.clone(),
            hpas.clone(),
            exceptions.clone(),
        );
        let synced = synced.clone();
        async move {
            let all = async {
                namespaces.wait_until_ready().await?;
                pdbs.wait_until_ready().await?;
                hpas.wait_until_ready().await?;
                exceptions.wait_until_ready().await
            };
            if all.await.is_ok() {
                synced.store(true, Ordering::Relaxed);
                readiness.cluster.store(true, Ordering::Relaxed);
                tracing::info!("cluster caches synced (namespaces, PDBs, HPAs, BulwarkExceptions)");
            }
        }
    });
    KubeCluster::new(namespaces, pdbs, hpas, exceptions, synced)
}

fn spawn_watch<K>(
    api: Api<K>,
    writer: reflector::store::Writer<K>,
    resource: &'static str,
    metrics: Arc<Metrics>,
) where
    K: Resource<DynamicType = ()>
        + Clone
        + std::fmt::Debug
        + serde::de::DeserializeOwned
        + Send
        + Sync
        + 'static,
{
    tokio::spawn(async move {
        // default_backoff: a lost watch reconnects with exponential backoff; each error is
        // logged and counted so a flapping watch is visible.
        let stream = watcher(api, watcher::Config::default())
            .default_backoff()
            .reflect(writer)
            .applied_objects();
        futures::pin_mut!(stream);
        while let Some(item) = stream.next().await {
            if let Err(e) = item {
                metrics.watch_error(resource);
                tracing::warn!(resource, error = %e, "watch error; reconnecting with backoff");
            }
        }
    });
}

/// Connects to the cluster from the environment (in-cluster config or kubeconfig). Without
/// one, says so and runs with no cluster data (cluster-aware rules never deny).
pub async fn connect(readiness: Arc<Readiness>, metrics: Arc<Metrics>) -> Option<Arc<dyn Cluster>> {
    connect_kube(readiness, metrics)
        .await
        .map(|(_, cluster)| cluster as Arc<dyn Cluster>)
}

/// As [`connect`], also handing back the client and the concrete caches (the auditor
/// watches more kinds with the same client and reads these caches).
pub async fn connect_kube(
    readiness: Arc<Readiness>,
    metrics: Arc<Metrics>,
) -> Option<(Client, Arc<KubeCluster>)> {
    match Client::try_default().await {
        Ok(client) => {
            tracing::info!("connected to the cluster; starting Namespace, PDB and HPA watches");
            let cluster = Arc::new(start(client.clone(), readiness, metrics));
            Some((client, cluster))
        }
        Err(e) => {
            tracing::warn!(error = %e, "no cluster configuration (in-cluster or kubeconfig): running without cluster data; cluster-aware rules never deny");
            readiness.cluster.store(true, Ordering::Relaxed);
            None
        }
    }
}
