//! What admission needs from the cluster (namespace labels, PDBs, HPAs, BulwarkExceptions,
//! NetworkPolicies, ResourceQuotas, LimitRanges), served from kube-runtime reflector caches: a watch per kind keeps an in-memory store, so a request
//! never waits on an API call. Until the caches have synced, every lookup answers "no data",
//! which the rules treat as "never deny on this basis".

use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::Ordering;

use futures::StreamExt;
use k8s_openapi::api::autoscaling::v2::HorizontalPodAutoscaler;
use k8s_openapi::api::core::v1::{LimitRange, Namespace, ResourceQuota};
use k8s_openapi::api::networking::v1::NetworkPolicy;
use k8s_openapi::api::policy::v1::PodDisruptionBudget;
use k8s_openapi::apimachinery::pkg::apis::meta::v1 as metav1;
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString as K8sIntOrString;
use kube::runtime::reflector::{self, ObjectRef, Store};
use kube::runtime::{WatchStreamExt, watcher};
use kube::{Api, Client, Resource};
use tokio::sync::watch;

use crate::admission::Cluster;
use crate::engine::exemptions::Exception;
use crate::engine::{HpaInfo, Inventory, LimitRangeInfo, NetworkPolicyInfo, PdbInfo, QuotaInfo};
use crate::health::{Metrics, Readiness};
use crate::workload::{
    IntOrString, IpBlock, LabelSelector, NetworkPolicyPeer, NetworkPolicyRule, NetworkPolicySpec,
    SelectorRequirement, Workload,
};

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
    /// Whether every cache holds its initial list. Readers that must wait for it (the
    /// auditor) wait on this rather than on the stores: kube-runtime's
    /// `Store::wait_until_ready` wakes only the task that polled it last, so a second task
    /// waiting on the same store can leave the first asleep for good (admission's readiness
    /// never came while the auditor also waited).
    synced: watch::Receiver<bool>,
    isolation: Isolation,
}

/// What keeps a namespace's workloads apart from the others': who may reach their pods
/// (NetworkPolicies) and how much of the cluster they may take (ResourceQuotas, LimitRanges).
#[derive(Clone)]
pub struct Isolation {
    /// NetworkPolicies, all namespaces.
    pub network_policies: Store<NetworkPolicy>,
    /// ResourceQuotas, all namespaces.
    pub resource_quotas: Store<ResourceQuota>,
    /// LimitRanges, all namespaces.
    pub limit_ranges: Store<LimitRange>,
}

impl KubeCluster {
    /// Builds cluster state over existing stores (used by tests with a mocked client).
    pub fn new(
        namespaces: Store<Namespace>,
        pdbs: Store<PodDisruptionBudget>,
        hpas: Store<HorizontalPodAutoscaler>,
        exceptions: Store<BulwarkException>,
        isolation: Isolation,
        synced: watch::Receiver<bool>,
    ) -> Self {
        KubeCluster {
            namespaces,
            pdbs,
            hpas,
            exceptions,
            isolation,
            synced,
        }
    }

    fn synced(&self) -> bool {
        *self.synced.borrow()
    }

    /// Whether every cache holds its initial list.
    pub fn is_synced(&self) -> bool {
        self.synced()
    }

    /// Turns true when every cache holds its initial list; for a task that must wait for
    /// that (see the field's comment for why not `Store::wait_until_ready` again).
    pub fn synced_watch(&self) -> watch::Receiver<bool> {
        self.synced.clone()
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

/// The engine's view of a NetworkPolicy: the fields `bulwark check` reads, so the cluster and
/// the CLI judge a policy alike.
fn network_policy(np: &NetworkPolicy, namespace: &str) -> NetworkPolicyInfo {
    let spec = np.spec.clone().unwrap_or_default();
    let count = |n: usize| vec![serde::de::IgnoredAny; n];
    NetworkPolicyInfo {
        namespace: namespace.to_owned(),
        name: np.metadata.name.clone().unwrap_or_default(),
        spec: NetworkPolicySpec {
            pod_selector: spec.pod_selector.as_ref().map(selector),
            policy_types: spec.policy_types.unwrap_or_default(),
            ingress: spec
                .ingress
                .iter()
                .flatten()
                .map(|r| NetworkPolicyRule {
                    from: r
                        .from
                        .iter()
                        .flatten()
                        .map(|p| NetworkPolicyPeer {
                            ip_block: p.ip_block.as_ref().map(|b| IpBlock {
                                cidr: b.cidr.clone(),
                                except: b.except.clone().unwrap_or_default(),
                            }),
                        })
                        .collect(),
                    ports: count(r.ports.as_ref().map_or(0, Vec::len)),
                })
                .collect(),
            egress: count(spec.egress.as_ref().map_or(0, Vec::len)),
        },
    }
}

impl Inventory for KubeCluster {
    fn pdbs(&self, namespace: &str) -> Option<Vec<PdbInfo>> {
        if !self.synced() {
            return None;
        }
        let ns = crate::workload::namespace_or_default(namespace);
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
        let ns = crate::workload::namespace_or_default(namespace);
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
        let ns = crate::workload::namespace_or_default(namespace);
        Some(
            self.exceptions
                .state_filter(|e| ns_of(e) == ns || ns_of(e) == own_namespace)
                .iter()
                .filter_map(|e| e.to_engine())
                .collect(),
        )
    }

    fn network_policies(&self, namespace: &str) -> Option<Vec<NetworkPolicyInfo>> {
        if !self.synced() {
            return None;
        }
        let ns = crate::workload::namespace_or_default(namespace);
        Some(
            self.isolation
                .network_policies
                .state_filter(|p| ns_of(p) == ns)
                .iter()
                .map(|p| network_policy(p, ns))
                .collect(),
        )
    }

    fn resource_quotas(&self, namespace: &str) -> Option<Vec<QuotaInfo>> {
        if !self.synced() {
            return None;
        }
        let ns = crate::workload::namespace_or_default(namespace);
        Some(
            self.isolation
                .resource_quotas
                .state_filter(|q| ns_of(q) == ns)
                .iter()
                .map(|q| QuotaInfo {
                    name: q.metadata.name.clone().unwrap_or_default(),
                    hard: q
                        .spec
                        .as_ref()
                        .and_then(|s| s.hard.as_ref())
                        .map(|h| h.keys().cloned().collect())
                        .unwrap_or_default(),
                })
                .collect(),
        )
    }

    fn limit_ranges(&self, namespace: &str) -> Option<Vec<LimitRangeInfo>> {
        if !self.synced() {
            return None;
        }
        let ns = crate::workload::namespace_or_default(namespace);
        Some(
            self.isolation
                .limit_ranges
                .state_filter(|l| ns_of(l) == ns)
                .iter()
                .map(|l| LimitRangeInfo {
                    name: l.metadata.name.clone().unwrap_or_default(),
                    limits: l.spec.as_ref().map_or(0, |s| s.limits.len()),
                })
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

/// Starts the seven watches on `client` and returns the cluster state at once; readiness
/// and the synced flag turn true when every cache has its initial list.
pub fn start(client: Client, readiness: Arc<Readiness>, metrics: Arc<Metrics>) -> KubeCluster {
    let (synced_tx, synced) = watch::channel(false);
    let (namespaces, ns_writer) = reflector::store::<Namespace>();
    let (pdbs, pdb_writer) = reflector::store::<PodDisruptionBudget>();
    let (hpas, hpa_writer) = reflector::store::<HorizontalPodAutoscaler>();
    let (exceptions, exception_writer) = reflector::store::<BulwarkException>();
    let (network_policies, np_writer) = reflector::store::<NetworkPolicy>();
    let (resource_quotas, quota_writer) = reflector::store::<ResourceQuota>();
    let (limit_ranges, limit_writer) = reflector::store::<LimitRange>();
    let isolation = Isolation {
        network_policies,
        resource_quotas,
        limit_ranges,
    };
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
        Api::<BulwarkException>::all(client.clone()),
        exception_writer,
        "bulwarkexceptions",
        metrics.clone(),
    );
    // What isolates namespaces, for network-policy and namespace-quota. Waited for like the
    // others: judged before its list arrives, every workload would look unprotected.
    spawn_watch(
        Api::<NetworkPolicy>::all(client.clone()),
        np_writer,
        "networkpolicies",
        metrics.clone(),
    );
    spawn_watch(
        Api::<ResourceQuota>::all(client.clone()),
        quota_writer,
        "resourcequotas",
        metrics.clone(),
    );
    spawn_watch(
        Api::<LimitRange>::all(client),
        limit_writer,
        "limitranges",
        metrics,
    );
    tokio::spawn({
        let (namespaces, pdbs, hpas, exceptions, isolation) = (
            namespaces.clone(),
            pdbs.clone(),
            hpas.clone(),
            exceptions.clone(),
            isolation.clone(),
        );
        async move {
            let all = async {
                namespaces.wait_until_ready().await?;
                pdbs.wait_until_ready().await?;
                hpas.wait_until_ready().await?;
                exceptions.wait_until_ready().await?;
                isolation.network_policies.wait_until_ready().await?;
                isolation.resource_quotas.wait_until_ready().await?;
                isolation.limit_ranges.wait_until_ready().await
            };
            // The only task waiting on these stores; others wait on `synced`.
            if all.await.is_ok() {
                synced_tx.send_replace(true);
                readiness.cluster.store(true, Ordering::Relaxed);
                tracing::info!(
                    "cluster caches synced (namespaces, PDBs, HPAs, BulwarkExceptions, NetworkPolicies, ResourceQuotas, LimitRanges)"
                );
            }
        }
    });
    KubeCluster::new(namespaces, pdbs, hpas, exceptions, isolation, synced)
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
            tracing::info!(
                "connected to the cluster; starting Namespace, PDB, HPA, BulwarkException, NetworkPolicy, ResourceQuota and LimitRange watches"
            );
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
