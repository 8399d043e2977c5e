//! A borrowed-free, typed *view* of a Kubernetes object: only the fields the rules read.
//!
//! Why not k8s-openapi here: parsing a Deployment into full k8s-openapi types costs several
//! times what parsing into this view does (docs/benchmarks.md, "Typed view"), and the server
//! parses every workload write. serde skips
//! every field the view does not name, so unknown fields never fail a parse. k8s-openapi is
//! still used where full fidelity matters (deploy tests, cluster caches).

use std::collections::BTreeMap;
use std::fmt;

use serde::de::{self, IgnoredAny, MapAccess, Visitor};
use serde::{Deserialize, Deserializer};

/// The object kinds bulwark understands. Anything else is [`Kind::Other`] and skipped.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Kind {
    /// core/v1 Pod.
    Pod,
    /// apps/v1 Deployment.
    Deployment,
    /// apps/v1 StatefulSet.
    StatefulSet,
    /// apps/v1 DaemonSet.
    DaemonSet,
    /// apps/v1 ReplicaSet.
    ReplicaSet,
    /// core/v1 ReplicationController.
    ReplicationController,
    /// batch/v1 Job.
    Job,
    /// batch/v1 CronJob.
    CronJob,
    /// autoscaling/v2 HorizontalPodAutoscaler.
    HorizontalPodAutoscaler,
    /// policy/v1 PodDisruptionBudget.
    PodDisruptionBudget,
    /// core/v1 Namespace.
    Namespace,
    /// bulwark.dev/v1alpha1 BulwarkException: an exemption granted by an exemption admin.
    BulwarkException,
    /// networking.k8s.io/v1 Ingress.
    Ingress,
    /// networking.k8s.io/v1 NetworkPolicy.
    NetworkPolicy,
    /// core/v1 ResourceQuota.
    ResourceQuota,
    /// core/v1 LimitRange.
    LimitRange,
    /// Any other kind: not evaluated.
    Other,
}

impl Kind {
    /// Maps a `kind` string to a [`Kind`]; unknown names map to [`Kind::Other`].
    pub fn parse(kind: &str) -> Kind {
        match kind {
            "Pod" => Kind::Pod,
            "Deployment" => Kind::Deployment,
            "StatefulSet" => Kind::StatefulSet,
            "DaemonSet" => Kind::DaemonSet,
            "ReplicaSet" => Kind::ReplicaSet,
            "ReplicationController" => Kind::ReplicationController,
            "Job" => Kind::Job,
            "CronJob" => Kind::CronJob,
            "HorizontalPodAutoscaler" => Kind::HorizontalPodAutoscaler,
            "PodDisruptionBudget" => Kind::PodDisruptionBudget,
            "Namespace" => Kind::Namespace,
            "BulwarkException" => Kind::BulwarkException,
            "Ingress" => Kind::Ingress,
            "NetworkPolicy" => Kind::NetworkPolicy,
            "ResourceQuota" => Kind::ResourceQuota,
            "LimitRange" => Kind::LimitRange,
            _ => Kind::Other,
        }
    }

    /// The kind's name as the API writes it (`"Other"` for [`Kind::Other`]).
    pub fn as_str(self) -> &'static str {
        match self {
            Kind::Pod => "Pod",
            Kind::Deployment => "Deployment",
            Kind::StatefulSet => "StatefulSet",
            Kind::DaemonSet => "DaemonSet",
            Kind::ReplicaSet => "ReplicaSet",
            Kind::ReplicationController => "ReplicationController",
            Kind::Job => "Job",
            Kind::CronJob => "CronJob",
            Kind::HorizontalPodAutoscaler => "HorizontalPodAutoscaler",
            Kind::PodDisruptionBudget => "PodDisruptionBudget",
            Kind::Namespace => "Namespace",
            Kind::BulwarkException => "BulwarkException",
            Kind::Ingress => "Ingress",
            Kind::NetworkPolicy => "NetworkPolicy",
            Kind::ResourceQuota => "ResourceQuota",
            Kind::LimitRange => "LimitRange",
            Kind::Other => "Other",
        }
    }

    /// The API group of this kind (`""` for core, and for [`Kind::Other`]).
    pub fn group(self) -> &'static str {
        match self {
            Kind::Deployment | Kind::StatefulSet | Kind::DaemonSet | Kind::ReplicaSet => "apps",
            Kind::Job | Kind::CronJob => "batch",
            Kind::HorizontalPodAutoscaler => "autoscaling",
            Kind::PodDisruptionBudget => "policy",
            Kind::BulwarkException => "bulwark.dev",
            Kind::Ingress | Kind::NetworkPolicy => "networking.k8s.io",
            Kind::Pod
            | Kind::ReplicationController
            | Kind::Namespace
            | Kind::ResourceQuota
            | Kind::LimitRange
            | Kind::Other => "",
        }
    }

    /// The kind whose `scale` subresource is `resource` in `group` (`deployments` in `apps`).
    pub fn from_scale_resource(group: &str, resource: &str) -> Option<Kind> {
        match (group, resource) {
            ("apps", "deployments") => Some(Kind::Deployment),
            ("apps", "statefulsets") => Some(Kind::StatefulSet),
            ("apps", "replicasets") => Some(Kind::ReplicaSet),
            ("", "replicationcontrollers") => Some(Kind::ReplicationController),
            _ => None,
        }
    }

    /// Whether objects of this kind carry a pod spec.
    pub fn has_pod_spec(self) -> bool {
        matches!(
            self,
            Kind::Pod
                | Kind::Deployment
                | Kind::StatefulSet
                | Kind::DaemonSet
                | Kind::ReplicaSet
                | Kind::ReplicationController
                | Kind::Job
                | Kind::CronJob
        )
    }

    /// Run-to-completion workloads: no probes, no graceful-shutdown requirements.
    pub fn is_batch(self) -> bool {
        matches!(self, Kind::Job | Kind::CronJob)
    }

    /// Workloads whose pods are kept running by a controller and have a replica count.
    pub fn is_replicated(self) -> bool {
        matches!(
            self,
            Kind::Deployment | Kind::StatefulSet | Kind::ReplicaSet | Kind::ReplicationController
        )
    }

    /// JSON-pointer-free dotted path of the pod spec inside an object of this kind.
    pub fn pod_spec_path(self) -> &'static str {
        match self {
            Kind::Pod => "spec",
            Kind::CronJob => "spec.jobTemplate.spec.template.spec",
            _ => "spec.template.spec",
        }
    }

    /// Dotted path of the pod metadata (labels the pods get) inside an object of this kind.
    pub fn pod_meta_path(self) -> &'static str {
        match self {
            Kind::Pod => "metadata",
            Kind::CronJob => "spec.jobTemplate.spec.template.metadata",
            _ => "spec.template.metadata",
        }
    }
}

/// Object metadata: the parts rules and exemptions read.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub struct Meta {
    /// `metadata.name`.
    pub name: Option<String>,
    /// `metadata.generateName`, used when the name is not yet assigned (Pods from controllers).
    pub generate_name: Option<String>,
    /// `metadata.namespace`.
    pub namespace: Option<String>,
    /// `metadata.labels`.
    #[serde(deserialize_with = "null_default")]
    pub labels: BTreeMap<String, String>,
    /// `metadata.annotations`.
    #[serde(deserialize_with = "null_default")]
    pub annotations: BTreeMap<String, String>,
    /// `metadata.deletionTimestamp`: an object being deleted is never denied (finalizer
    /// removal must go through).
    pub deletion_timestamp: Option<String>,
    /// `metadata.ownerReferences`: a Pod owned by a controller is judged through its owner.
    #[serde(deserialize_with = "null_default")]
    pub owner_references: Vec<OwnerRef>,
}

/// One owner reference.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub struct OwnerRef {
    /// Owner `apiVersion` (`apps/v1`): its group must match the controller's.
    pub api_version: String,
    /// Owner kind.
    pub kind: String,
    /// Owner name.
    pub name: String,
    /// Whether the owner is the managing controller.
    pub controller: Option<bool>,
}

/// Deserializes `null` as the type's default: Kubernetes clients send `labels: null`.
fn null_default<'de, D, T>(d: D) -> Result<T, D::Error>
where
    D: Deserializer<'de>,
    T: Deserialize<'de> + Default,
{
    Ok(Option::<T>::deserialize(d)?.unwrap_or_default())
}

/// `IntOrString`, as used by ports and disruption budgets.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum IntOrString {
    /// A number.
    Int(i64),
    /// A string such as `"25%"` or a named port.
    Str(String),
}

impl<'de> Deserialize<'de> for IntOrString {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl Visitor<'_> for V {
            type Value = IntOrString;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("an integer or a string")
            }
            fn visit_i64<E: de::Error>(self, v: i64) -> Result<IntOrString, E> {
                Ok(IntOrString::Int(v))
            }
            fn visit_u64<E: de::Error>(self, v: u64) -> Result<IntOrString, E> {
                Ok(IntOrString::Int(i64::try_from(v).unwrap_or(i64::MAX)))
            }
            fn visit_f64<E: de::Error>(self, v: f64) -> Result<IntOrString, E> {
                Ok(IntOrString::Int(v as i64))
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<IntOrString, E> {
                Ok(IntOrString::Str(v.to_owned()))
            }
        }
        d.deserialize_any(V)
    }
}

impl IntOrString {
    /// Whether this value is zero: `0` or `"0%"` (or `"0"`).
    pub fn is_zero(&self) -> bool {
        match self {
            IntOrString::Int(n) => *n == 0,
            IntOrString::Str(s) => {
                let digits = s.strip_suffix('%').unwrap_or(s).trim();
                digits.parse::<f64>().map(|v| v == 0.0).unwrap_or(false)
            }
        }
    }

    /// Resolves an absolute count against `total`, rounding percentages as Kubernetes does
    /// (`round_up` for maxSurge/minAvailable-style values, down for maxUnavailable).
    pub fn resolve(&self, total: i64, round_up: bool) -> Option<i64> {
        match self {
            IntOrString::Int(n) => Some(*n),
            IntOrString::Str(s) => {
                let pct: f64 = s.strip_suffix('%')?.trim().parse().ok()?;
                let v = pct * total as f64 / 100.0;
                Some(if round_up { v.ceil() } else { v.floor() } as i64)
            }
        }
    }
}

impl fmt::Display for IntOrString {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            IntOrString::Int(n) => write!(f, "{n}"),
            IntOrString::Str(s) => f.write_str(s),
        }
    }
}

/// A label selector (`matchLabels` and `matchExpressions`).
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub struct LabelSelector {
    /// `matchLabels`.
    #[serde(deserialize_with = "null_default")]
    pub match_labels: BTreeMap<String, String>,
    /// `matchExpressions`.
    #[serde(deserialize_with = "null_default")]
    pub match_expressions: Vec<SelectorRequirement>,
}

/// One `matchExpressions` entry.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub struct SelectorRequirement {
    /// Label key.
    pub key: String,
    /// `In`, `NotIn`, `Exists`, `DoesNotExist`.
    pub operator: String,
    /// Values for `In`/`NotIn`.
    #[serde(deserialize_with = "null_default")]
    pub values: Vec<String>,
}

impl LabelSelector {
    /// Whether the selector matches `labels`, with Kubernetes semantics. An empty selector
    /// matches everything (as a PDB's does).
    pub fn matches(&self, labels: &BTreeMap<String, String>) -> bool {
        self.match_labels
            .iter()
            .all(|(k, v)| labels.get(k) == Some(v))
            && self.match_expressions.iter().all(|r| {
                let have = labels.get(&r.key);
                match r.operator.as_str() {
                    "In" => have.is_some_and(|v| r.values.contains(v)),
                    "NotIn" => have.is_none_or(|v| !r.values.contains(v)),
                    "Exists" => have.is_some(),
                    "DoesNotExist" => have.is_none(),
                    _ => false,
                }
            })
    }
}

/// The pod spec fields rules read.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub struct PodSpec {
    /// `containers`.
    #[serde(deserialize_with = "null_default")]
    pub containers: Vec<Container>,
    /// `initContainers`.
    #[serde(deserialize_with = "null_default")]
    pub init_containers: Vec<Container>,
    /// `ephemeralContainers`.
    #[serde(deserialize_with = "null_default")]
    pub ephemeral_containers: Vec<Container>,
    /// `volumes`.
    #[serde(deserialize_with = "null_default")]
    pub volumes: Vec<Volume>,
    /// `securityContext`.
    pub security_context: Option<PodSecurityContext>,
    /// `hostNetwork`.
    pub host_network: Option<bool>,
    /// `hostPID`.
    #[serde(rename = "hostPID")]
    pub host_pid: Option<bool>,
    /// `hostIPC`.
    #[serde(rename = "hostIPC")]
    pub host_ipc: Option<bool>,
    /// `hostUsers`: `false` means a user namespace, which relaxes the baseline procMount check.
    pub host_users: Option<bool>,
    /// `os.name`: Windows pods are exempt from some restricted checks.
    pub os: Option<PodOs>,
    /// `serviceAccountName`.
    pub service_account_name: Option<String>,
    /// Deprecated alias of `serviceAccountName`, still honoured by the API server.
    pub service_account: Option<String>,
    /// `automountServiceAccountToken`.
    pub automount_service_account_token: Option<bool>,
    /// `terminationGracePeriodSeconds`.
    pub termination_grace_period_seconds: Option<i64>,
    /// `affinity`.
    pub affinity: Option<Affinity>,
    /// `topologySpreadConstraints`: only their presence matters to the rules.
    #[serde(deserialize_with = "null_default")]
    pub topology_spread_constraints: Vec<IgnoredAny>,
    /// `restartPolicy`.
    pub restart_policy: Option<String>,
}

/// `spec.os`.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(default)]
pub struct PodOs {
    /// `linux` or `windows`.
    pub name: String,
}

/// `spec.affinity`: only pod anti-affinity matters to the rules.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub struct Affinity {
    /// `podAntiAffinity`.
    pub pod_anti_affinity: Option<PodAntiAffinity>,
}

/// `spec.affinity.podAntiAffinity`.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(default)]
pub struct PodAntiAffinity {
    /// Hard terms.
    #[serde(
        rename = "requiredDuringSchedulingIgnoredDuringExecution",
        deserialize_with = "null_default"
    )]
    pub required: Vec<IgnoredAny>,
    /// Soft terms.
    #[serde(
        rename = "preferredDuringSchedulingIgnoredDuringExecution",
        deserialize_with = "null_default"
    )]
    pub preferred: Vec<IgnoredAny>,
}

/// Pod-level security context.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub struct PodSecurityContext {
    /// `runAsNonRoot`.
    pub run_as_non_root: Option<bool>,
    /// `runAsUser`.
    pub run_as_user: Option<i64>,
    /// `seccompProfile`.
    pub seccomp_profile: Option<TypedProfile>,
    /// `appArmorProfile`.
    pub app_armor_profile: Option<TypedProfile>,
    /// `seLinuxOptions`.
    #[serde(rename = "seLinuxOptions")]
    pub se_linux_options: Option<SeLinuxOptions>,
    /// `sysctls`.
    #[serde(deserialize_with = "null_default")]
    pub sysctls: Vec<Sysctl>,
    /// `windowsOptions`.
    pub windows_options: Option<WindowsOptions>,
}

/// Container-level security context.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub struct SecurityContext {
    /// `privileged`.
    pub privileged: Option<bool>,
    /// `allowPrivilegeEscalation`.
    pub allow_privilege_escalation: Option<bool>,
    /// `readOnlyRootFilesystem`.
    pub read_only_root_filesystem: Option<bool>,
    /// `runAsNonRoot`.
    pub run_as_non_root: Option<bool>,
    /// `runAsUser`.
    pub run_as_user: Option<i64>,
    /// `capabilities`.
    pub capabilities: Option<Capabilities>,
    /// `seccompProfile`.
    pub seccomp_profile: Option<TypedProfile>,
    /// `appArmorProfile`.
    pub app_armor_profile: Option<TypedProfile>,
    /// `seLinuxOptions`.
    #[serde(rename = "seLinuxOptions")]
    pub se_linux_options: Option<SeLinuxOptions>,
    /// `procMount`.
    pub proc_mount: Option<String>,
    /// `windowsOptions`.
    pub windows_options: Option<WindowsOptions>,
}

/// A profile with a `type` (seccomp or AppArmor).
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(default)]
pub struct TypedProfile {
    /// `type`.
    #[serde(rename = "type")]
    pub kind: Option<String>,
}

/// `seLinuxOptions`.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(default)]
pub struct SeLinuxOptions {
    /// `type`.
    #[serde(rename = "type")]
    pub kind: Option<String>,
    /// `user`.
    pub user: Option<String>,
    /// `role`.
    pub role: Option<String>,
}

/// `windowsOptions`.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub struct WindowsOptions {
    /// `hostProcess`.
    pub host_process: Option<bool>,
}

/// One sysctl.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(default)]
pub struct Sysctl {
    /// Its name.
    pub name: String,
}

/// `capabilities`.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(default)]
pub struct Capabilities {
    /// `add`.
    #[serde(deserialize_with = "null_default")]
    pub add: Vec<String>,
    /// `drop`.
    #[serde(deserialize_with = "null_default")]
    pub drop: Vec<String>,
}

/// A container (regular, init or ephemeral).
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub struct Container {
    /// `name`.
    pub name: String,
    /// `image`.
    pub image: Option<String>,
    /// `ports`.
    #[serde(deserialize_with = "null_default")]
    pub ports: Vec<ContainerPort>,
    /// `env`.
    #[serde(deserialize_with = "null_default")]
    pub env: Vec<EnvVar>,
    /// `resources`.
    pub resources: Option<Resources>,
    /// `livenessProbe`.
    pub liveness_probe: Option<Handler>,
    /// `readinessProbe`.
    pub readiness_probe: Option<Handler>,
    /// `startupProbe`.
    pub startup_probe: Option<Handler>,
    /// `lifecycle`.
    pub lifecycle: Option<Lifecycle>,
    /// `securityContext`.
    pub security_context: Option<SecurityContext>,
    /// `restartPolicy`: `Always` on an init container makes it a long-running sidecar.
    pub restart_policy: Option<String>,
}

/// A container port.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub struct ContainerPort {
    /// `containerPort`.
    pub container_port: i64,
    /// `hostPort`.
    pub host_port: Option<i64>,
    /// `name`.
    pub name: Option<String>,
    /// `protocol`.
    pub protocol: Option<String>,
}

/// An environment variable.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub struct EnvVar {
    /// `name`.
    pub name: String,
    /// `value`: a literal.
    pub value: Option<String>,
    /// `valueFrom`: only presence matters.
    pub value_from: Option<IgnoredAny>,
}

/// `resources`: which keys are set, not their values.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(default)]
pub struct Resources {
    /// `requests`.
    #[serde(deserialize_with = "null_default")]
    pub requests: BTreeMap<String, IgnoredAny>,
    /// `limits`.
    #[serde(deserialize_with = "null_default")]
    pub limits: BTreeMap<String, IgnoredAny>,
}

/// A probe or lifecycle handler (the two share their action fields).
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub struct Handler {
    /// `httpGet`.
    pub http_get: Option<HostPort>,
    /// `tcpSocket`.
    pub tcp_socket: Option<HostPort>,
    /// `exec`.
    pub exec: Option<IgnoredAny>,
    /// `grpc`.
    pub grpc: Option<IgnoredAny>,
    /// `sleep` (lifecycle only).
    pub sleep: Option<SleepAction>,
}

/// `httpGet` / `tcpSocket`: the `host` field is what PSS restricts.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(default)]
pub struct HostPort {
    /// `host`.
    pub host: Option<String>,
}

/// `sleep` lifecycle action.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(default)]
pub struct SleepAction {
    /// `seconds`.
    pub seconds: i64,
}

/// `lifecycle`.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub struct Lifecycle {
    /// `postStart`.
    pub post_start: Option<Handler>,
    /// `preStop`.
    pub pre_stop: Option<Handler>,
}

/// A volume: its name and which source it uses.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Volume {
    /// `name`.
    pub name: String,
    /// The keys other than `name` (the volume source types, e.g. `hostPath`, `emptyDir`).
    pub sources: Vec<String>,
}

impl<'de> Deserialize<'de> for Volume {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        // A hand-written visitor: it records which source keys are present and skips their
        // bodies, which is faster than buffering the map for a `#[serde(flatten)]`.
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = Volume;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a volume object")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Volume, A::Error> {
                let mut vol = Volume::default();
                while let Some(key) = map.next_key::<String>()? {
                    if key == "name" {
                        vol.name = map.next_value::<Option<String>>()?.unwrap_or_default();
                    } else {
                        // A source explicitly set to null is not a source.
                        let v: Option<IgnoredAny> = map.next_value()?;
                        if v.is_some() {
                            vol.sources.push(key);
                        }
                    }
                }
                Ok(vol)
            }
        }
        d.deserialize_map(V)
    }
}

/// Pod template: `metadata` and `spec`.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(default)]
pub struct PodTemplate {
    /// Template metadata (the pods' labels).
    pub metadata: Meta,
    /// The pod spec.
    pub spec: PodSpec,
}

/// Deployment `strategy` / StatefulSet and DaemonSet `updateStrategy`.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub struct Strategy {
    /// `type`.
    #[serde(rename = "type")]
    pub kind: Option<String>,
    /// `rollingUpdate`.
    pub rolling_update: Option<RollingUpdate>,
}

/// `rollingUpdate` parameters.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub struct RollingUpdate {
    /// `maxUnavailable`.
    pub max_unavailable: Option<IntOrString>,
    /// `maxSurge`.
    pub max_surge: Option<IntOrString>,
    /// StatefulSet `partition`.
    pub partition: Option<i64>,
}

/// The spec of any pod controller (Deployment, StatefulSet, ..., Job).
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub struct ControllerSpec {
    /// `replicas` (absent means 1 for replicated kinds).
    pub replicas: Option<i64>,
    /// `selector`: RCs use a plain map, everyone else a LabelSelector; see [`Selector`].
    pub selector: Option<Selector>,
    /// `template`.
    pub template: PodTemplate,
    /// Deployment `strategy`.
    pub strategy: Option<Strategy>,
    /// StatefulSet/DaemonSet `updateStrategy`.
    pub update_strategy: Option<Strategy>,
    /// CronJob `jobTemplate`.
    pub job_template: Option<Box<JobTemplate>>,
}

/// CronJob `jobTemplate`.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(default)]
pub struct JobTemplate {
    /// The Job spec.
    pub spec: ControllerSpec,
}

/// A selector: a LabelSelector, or the plain label map a ReplicationController uses.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Selector(pub LabelSelector);

impl<'de> Deserialize<'de> for Selector {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let raw: BTreeMap<String, serde_json::Value> = BTreeMap::deserialize(d)?;
        let structured = raw.contains_key("matchLabels") || raw.contains_key("matchExpressions");
        if structured {
            let v = serde_json::Value::Object(raw.into_iter().collect());
            LabelSelector::deserialize(v)
                .map(Selector)
                .map_err(de::Error::custom)
        } else {
            let mut sel = LabelSelector::default();
            for (k, v) in raw {
                if let serde_json::Value::String(s) = v {
                    sel.match_labels.insert(k, s);
                }
            }
            Ok(Selector(sel))
        }
    }
}

/// HorizontalPodAutoscaler spec.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub struct HpaSpec {
    /// `minReplicas` (absent means 1).
    pub min_replicas: Option<i64>,
    /// `maxReplicas`.
    pub max_replicas: Option<i64>,
    /// `scaleTargetRef`.
    pub scale_target_ref: ScaleTargetRef,
}

/// `scaleTargetRef`.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub struct ScaleTargetRef {
    /// Target kind.
    pub kind: String,
    /// Target name.
    pub name: String,
}

/// PodDisruptionBudget spec.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub struct PdbSpec {
    /// `selector` (a PDB with no selector matches nothing in policy/v1; an empty one, all).
    pub selector: Option<LabelSelector>,
    /// `minAvailable`.
    pub min_available: Option<IntOrString>,
    /// `maxUnavailable`.
    pub max_unavailable: Option<IntOrString>,
}

/// Ingress spec: the hosts it serves and the TLS it declares (the same fields in
/// networking.k8s.io/v1 and the older v1beta1 versions).
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub struct IngressSpec {
    /// `tls`.
    #[serde(deserialize_with = "null_default")]
    pub tls: Vec<IngressTls>,
    /// `rules`.
    #[serde(deserialize_with = "null_default")]
    pub rules: Vec<IngressRule>,
    /// `defaultBackend`: only its presence matters.
    pub default_backend: Option<IgnoredAny>,
    /// `backend`, the v1beta1 name of `defaultBackend`.
    pub backend: Option<IgnoredAny>,
}

/// One `spec.tls` entry.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub struct IngressTls {
    /// `hosts` the certificate covers.
    #[serde(deserialize_with = "null_default")]
    pub hosts: Vec<String>,
    /// `secretName`.
    pub secret_name: Option<String>,
}

/// One `spec.rules` entry: only its host matters.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(default)]
pub struct IngressRule {
    /// `host`; unset or empty serves every hostname.
    pub host: Option<String>,
}

/// NetworkPolicy spec: which pods it selects, for which directions, and whether an ingress
/// rule lets everything in.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub struct NetworkPolicySpec {
    /// `podSelector`; absent or `{}` selects every pod in the namespace.
    pub pod_selector: Option<LabelSelector>,
    /// `policyTypes` as written; see [`NetworkPolicySpec::directions`] for the defaults.
    #[serde(deserialize_with = "null_default")]
    pub policy_types: Vec<String>,
    /// `ingress` rules.
    #[serde(deserialize_with = "null_default")]
    pub ingress: Vec<NetworkPolicyRule>,
    /// `egress` rules: only whether there are any matters (they decide the default types).
    #[serde(deserialize_with = "null_default")]
    pub egress: Vec<IgnoredAny>,
}

/// One ingress rule of a NetworkPolicy: who may connect (`from`) on which `ports`. An empty
/// list means "all"; of the ports only whether there are any matters.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(default)]
pub struct NetworkPolicyRule {
    /// `from` peers.
    #[serde(deserialize_with = "null_default")]
    pub from: Vec<NetworkPolicyPeer>,
    /// `ports`.
    #[serde(deserialize_with = "null_default")]
    pub ports: Vec<IgnoredAny>,
}

impl NetworkPolicyRule {
    /// Whether the rule lets every source in on every port: no `ports`, and no `from` or a
    /// peer that is every source ([`NetworkPolicyPeer::is_everyone`]).
    pub fn is_open(&self) -> bool {
        self.ports.is_empty()
            && (self.from.is_empty() || self.from.iter().any(NetworkPolicyPeer::is_everyone))
    }
}

/// One `from` peer of an ingress rule: only its `ipBlock` decides whether it is every
/// source (selectors always name pods inside the cluster).
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub struct NetworkPolicyPeer {
    /// `ipBlock`.
    pub ip_block: Option<IpBlock>,
}

/// An `ipBlock` peer.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(default)]
pub struct IpBlock {
    /// `cidr`.
    pub cidr: String,
    /// `except`.
    #[serde(deserialize_with = "null_default")]
    pub except: Vec<String>,
}

impl NetworkPolicyPeer {
    /// Whether the peer is every address: an `ipBlock` of `0.0.0.0/0` or `::/0` with no
    /// `except`, so a rule listing it is as open as one without `from`. A tenant told to
    /// have a policy could otherwise write one in place of `from: []` and look protected.
    /// Every pod of every namespace (`namespaceSelector: {}`) still keeps the world outside
    /// the cluster out, so it counts as a restriction.
    pub fn is_everyone(&self) -> bool {
        self.ip_block
            .as_ref()
            .is_some_and(|b| matches!(b.cidr.trim(), "0.0.0.0/0" | "::/0") && b.except.is_empty())
    }
}

impl NetworkPolicySpec {
    /// Whether the policy applies to (ingress, egress) traffic. Kubernetes defaults an
    /// omitted or empty `policyTypes` to Ingress, plus Egress when there are egress rules.
    pub fn directions(&self) -> (bool, bool) {
        if self.policy_types.is_empty() {
            return (true, !self.egress.is_empty());
        }
        let has = |t: &str| self.policy_types.iter().any(|p| p == t);
        (has("Ingress"), has("Egress"))
    }

    /// The index of the first ingress rule that lets everything in
    /// ([`NetworkPolicyRule::is_open`]): the pods it selects are then as open as without any
    /// policy, since policies add up.
    pub fn open_ingress_rule(&self) -> Option<usize> {
        if !self.directions().0 {
            return None;
        }
        self.ingress.iter().position(NetworkPolicyRule::is_open)
    }

    /// Whether the policy selects pods with `labels` (absent or empty selector: all).
    pub fn selects(&self, labels: &BTreeMap<String, String>) -> bool {
        self.pod_selector.as_ref().is_none_or(|s| s.matches(labels))
    }
}

/// ResourceQuota spec: which resources it caps.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(default)]
pub struct ResourceQuotaSpec {
    /// `hard`: the capped resources (values do not matter here).
    #[serde(deserialize_with = "null_default")]
    pub hard: BTreeMap<String, IgnoredAny>,
}

/// LimitRange spec.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(default)]
pub struct LimitRangeSpec {
    /// `limits`: one entry per object type it defaults or bounds.
    #[serde(deserialize_with = "null_default")]
    pub limits: Vec<IgnoredAny>,
}

/// What the object is, beyond its metadata.
#[derive(Debug, Clone, PartialEq)]
pub enum Body {
    /// A Pod: its spec.
    Pod(Box<PodSpec>),
    /// A pod controller: its spec (the pod spec inside is reached with [`Workload::pod`]).
    Controller(Box<ControllerSpec>),
    /// A HorizontalPodAutoscaler.
    Hpa(HpaSpec),
    /// A PodDisruptionBudget.
    Pdb(PdbSpec),
    /// A Namespace (labels live in the metadata).
    Namespace,
    /// A BulwarkException.
    Exception(Box<ExceptionSpec>),
    /// An Ingress.
    Ingress(IngressSpec),
    /// A NetworkPolicy.
    NetworkPolicy(NetworkPolicySpec),
    /// A ResourceQuota.
    ResourceQuota(ResourceQuotaSpec),
    /// A LimitRange.
    LimitRange(LimitRangeSpec),
    /// Anything else.
    Other,
}

/// `BulwarkException.spec` (deploy/base/crd-bulwarkexception.yaml is its schema).
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub struct ExceptionSpec {
    /// Rule ids lifted.
    #[serde(deserialize_with = "null_default")]
    pub rules: Vec<String>,
    /// Namespaces covered (globs); only for exceptions in bulwark's own namespace.
    #[serde(deserialize_with = "null_default")]
    pub namespaces: Vec<String>,
    /// Object kinds covered; any when empty.
    #[serde(deserialize_with = "null_default")]
    pub kinds: Vec<String>,
    /// Object names covered (globs).
    #[serde(deserialize_with = "null_default")]
    pub names: Vec<String>,
    /// Why (required).
    pub reason: String,
    /// Last day it counts, `YYYY-MM-DD`.
    pub expires: Option<String>,
}

/// One parsed object.
#[derive(Debug, Clone, PartialEq)]
pub struct Workload {
    /// Parsed kind.
    pub kind: Kind,
    /// The `kind` string as written (kept for messages about unknown kinds).
    pub kind_name: String,
    /// Object metadata.
    pub meta: Meta,
    /// Kind-specific body.
    pub body: Body,
}

/// Why an object could not be read into a [`Workload`].
#[derive(Debug, thiserror::Error)]
pub enum ParseError {
    /// The input is not an object with the shape its kind requires.
    #[error("invalid {kind} object{}: {source}", at(.path))]
    Shape {
        /// The kind being parsed.
        kind: String,
        /// Where in the object the value that failed sits (empty: the object itself).
        path: FieldPath,
        /// The serde error.
        #[source]
        source: serde_json::Error,
    },
    /// `kind` is missing or not a string.
    #[error("object has no `kind`")]
    MissingKind,
}

impl ParseError {
    /// The field that failed, when the error is about one.
    pub fn path(&self) -> Option<&FieldPath> {
        match self {
            ParseError::Shape { path, .. } if !path.0.is_empty() => Some(path),
            _ => None,
        }
    }
}

/// ` at <path>`, or nothing for the object itself.
fn at(path: &FieldPath) -> String {
    if path.0.is_empty() {
        String::new()
    } else {
        format!(" at {path}")
    }
}

/// Where a value sits in an object, written as findings write it:
/// `spec.template.spec.containers[0].env[0].value`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct FieldPath(pub Vec<FieldStep>);

/// One step of a [`FieldPath`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FieldStep {
    /// A mapping key.
    Key(String),
    /// A sequence index.
    Index(usize),
}

impl FieldPath {
    /// The path serde_path_to_error tracked, up to the first step it could not name. A path
    /// that starts with an index is the object itself given as a sequence (serde reads a
    /// struct from one): the object as a whole is what is wrong.
    fn tracked(path: &serde_path_to_error::Path) -> FieldPath {
        use serde_path_to_error::Segment;
        if matches!(path.iter().next(), Some(Segment::Seq { .. })) {
            return FieldPath::default();
        }
        FieldPath(
            path.iter()
                .map_while(|s| match s {
                    Segment::Map { key } => Some(FieldStep::Key(key.clone())),
                    Segment::Enum { variant } => Some(FieldStep::Key(variant.clone())),
                    Segment::Seq { index } => Some(FieldStep::Index(*index)),
                    Segment::Unknown => None,
                })
                .collect(),
        )
    }
}

impl fmt::Display for FieldPath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, step) in self.0.iter().enumerate() {
            match step {
                FieldStep::Key(k) if i == 0 => f.write_str(k)?,
                FieldStep::Key(k) => write!(f, ".{k}")?,
                FieldStep::Index(n) => write!(f, "[{n}]")?,
            }
        }
        Ok(())
    }
}

#[derive(Deserialize)]
struct Typed<S> {
    #[serde(default)]
    metadata: Meta,
    #[serde(default = "Option::default")]
    spec: Option<S>,
}

#[derive(Deserialize)]
struct KindOnly<'a> {
    #[serde(borrow)]
    kind: Option<std::borrow::Cow<'a, str>>,
}

/// The namespace an object lands in: unset means `default`, as the API server applies it.
pub fn namespace_or_default(namespace: &str) -> &str {
    if namespace.is_empty() {
        "default"
    } else {
        namespace
    }
}

impl Workload {
    /// Reads an object whose kind is already known from any serde deserializer: the
    /// webhook's one-pass decoder (the object inside the AdmissionReview), JSON text and
    /// parsed `serde_json::Value`s all go through here, so they cannot disagree.
    pub fn deserialize_kind<'de, D: Deserializer<'de>>(
        kind_name: &str,
        d: D,
    ) -> Result<Workload, D::Error> {
        let kind = Kind::parse(kind_name);
        let (meta, body) = match kind {
            Kind::Pod => {
                let t = Typed::<PodSpec>::deserialize(d)?;
                (t.metadata, Body::Pod(Box::new(t.spec.unwrap_or_default())))
            }
            k if k.has_pod_spec() => {
                let t = Typed::<ControllerSpec>::deserialize(d)?;
                let spec = t.spec.unwrap_or_default();
                (t.metadata, Body::Controller(Box::new(spec)))
            }
            Kind::HorizontalPodAutoscaler => {
                let t = Typed::<HpaSpec>::deserialize(d)?;
                (t.metadata, Body::Hpa(t.spec.unwrap_or_default()))
            }
            Kind::PodDisruptionBudget => {
                let t = Typed::<PdbSpec>::deserialize(d)?;
                (t.metadata, Body::Pdb(t.spec.unwrap_or_default()))
            }
            Kind::Namespace => (
                Typed::<IgnoredAny>::deserialize(d)?.metadata,
                Body::Namespace,
            ),
            Kind::BulwarkException => {
                let t = Typed::<ExceptionSpec>::deserialize(d)?;
                (
                    t.metadata,
                    Body::Exception(Box::new(t.spec.unwrap_or_default())),
                )
            }
            Kind::Ingress => {
                let t = Typed::<IngressSpec>::deserialize(d)?;
                (t.metadata, Body::Ingress(t.spec.unwrap_or_default()))
            }
            Kind::NetworkPolicy => {
                let t = Typed::<NetworkPolicySpec>::deserialize(d)?;
                (t.metadata, Body::NetworkPolicy(t.spec.unwrap_or_default()))
            }
            Kind::ResourceQuota => {
                let t = Typed::<ResourceQuotaSpec>::deserialize(d)?;
                (t.metadata, Body::ResourceQuota(t.spec.unwrap_or_default()))
            }
            Kind::LimitRange => {
                let t = Typed::<LimitRangeSpec>::deserialize(d)?;
                (t.metadata, Body::LimitRange(t.spec.unwrap_or_default()))
            }
            _ => (Typed::<IgnoredAny>::deserialize(d)?.metadata, Body::Other),
        };
        Ok(Workload {
            kind,
            kind_name: kind_name.to_owned(),
            meta,
            body,
        })
    }

    /// Parses an object from JSON when its kind is already known.
    pub fn from_json(kind_name: &str, json: &str) -> Result<Workload, ParseError> {
        let mut de = serde_json::Deserializer::from_str(json);
        Workload::deserialize_kind(kind_name, &mut de)
            .and_then(|w| de.end().map(|()| w))
            .map_err(|source| {
                let path = failing_path(kind_name, &mut serde_json::Deserializer::from_str(json));
                ParseError::Shape {
                    kind: kind_name.to_owned(),
                    path,
                    source,
                }
            })
    }

    /// Parses an object whose kind is read from its own `kind` field.
    pub fn from_json_any(json: &str) -> Result<Workload, ParseError> {
        let k: KindOnly = serde_json::from_str(json).map_err(|source| ParseError::Shape {
            kind: "unknown".into(),
            path: FieldPath::default(),
            source,
        })?;
        let kind = k.kind.ok_or(ParseError::MissingKind)?;
        Workload::from_json(&kind, json)
    }

    /// Builds a view from an already parsed `serde_json::Value` (the offline path, where YAML
    /// is read into values first).
    pub fn from_value(value: &serde_json::Value) -> Result<Workload, ParseError> {
        let kind_name = value
            .get("kind")
            .and_then(|k| k.as_str())
            .ok_or(ParseError::MissingKind)?;
        Workload::from_value_as(kind_name, value)
    }

    /// Builds a view from a parsed `serde_json::Value` whose kind is already known (the
    /// webhook's `/mutate` path, where the AdmissionReview names the kind).
    pub fn from_value_as(
        kind_name: &str,
        value: &serde_json::Value,
    ) -> Result<Workload, ParseError> {
        Workload::deserialize_kind(kind_name, value).map_err(|source| ParseError::Shape {
            kind: kind_name.to_owned(),
            path: failing_path(kind_name, value),
            source,
        })
    }

    /// The object's name, or its `generateName` prefix, or `""`.
    pub fn name(&self) -> &str {
        self.meta
            .name
            .as_deref()
            .or(self.meta.generate_name.as_deref())
            .unwrap_or("")
    }

    /// The object's namespace, or `""` when unset (cluster-scoped or defaulted later).
    pub fn namespace(&self) -> &str {
        self.meta.namespace.as_deref().unwrap_or("")
    }

    /// The pod template of this object, if it has one: its metadata and spec.
    pub fn pod(&self) -> Option<(&Meta, &PodSpec)> {
        match &self.body {
            Body::Pod(spec) => Some((&self.meta, spec)),
            Body::Controller(c) => match (self.kind, &c.job_template) {
                (Kind::CronJob, Some(jt)) => {
                    Some((&jt.spec.template.metadata, &jt.spec.template.spec))
                }
                (Kind::CronJob, None) => None,
                _ => Some((&c.template.metadata, &c.template.spec)),
            },
            _ => None,
        }
    }

    /// The controller spec, for pod controllers.
    pub fn controller(&self) -> Option<&ControllerSpec> {
        match &self.body {
            Body::Controller(c) => Some(c),
            _ => None,
        }
    }

    /// The labels the object's pods carry.
    pub fn pod_labels(&self) -> Option<&BTreeMap<String, String>> {
        self.pod().map(|(m, _)| &m.labels)
    }

    /// The ownerReference with `controller: true`, if any. It is only a claim: anyone who
    /// can write the object can write it, so admission trusts it only together with the
    /// identity of the controller that made the request (see `admission::origin`).
    pub fn controller_owner(&self) -> Option<&OwnerRef> {
        self.meta
            .owner_references
            .iter()
            .find(|o| o.controller == Some(true))
    }

    /// Whether the workload runs long-lived pods (probes and graceful shutdown apply).
    pub fn is_long_running(&self) -> bool {
        match self.kind {
            Kind::Job | Kind::CronJob => false,
            Kind::Pod => !matches!(
                self.pod().and_then(|(_, s)| s.restart_policy.as_deref()),
                Some("Never" | "OnFailure")
            ),
            k => k.has_pod_spec(),
        }
    }
}

/// Where reading `d` as a `kind_name` object fails: the parse is run again with the path
/// tracked, so an object that parses pays nothing for it (the webhook parses every write).
fn failing_path<'de, D: Deserializer<'de>>(kind_name: &str, d: D) -> FieldPath {
    let mut track = serde_path_to_error::Track::new();
    let failed = Workload::deserialize_kind(
        kind_name,
        serde_path_to_error::Deserializer::new(d, &mut track),
    )
    .is_err();
    if failed {
        FieldPath::tracked(&track.path())
    } else {
        FieldPath::default()
    }
}

/// Which container list a container belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ContainerKind {
    /// `containers`.
    Regular,
    /// `initContainers`.
    Init,
    /// `ephemeralContainers`.
    Ephemeral,
}

impl ContainerKind {
    /// The field name of the list.
    pub fn field(self) -> &'static str {
        match self {
            ContainerKind::Regular => "containers",
            ContainerKind::Init => "initContainers",
            ContainerKind::Ephemeral => "ephemeralContainers",
        }
    }
}

/// A container with where it sits.
#[derive(Debug, Clone, Copy)]
pub struct ContainerRef<'a> {
    /// The container.
    pub container: &'a Container,
    /// Which list.
    pub kind: ContainerKind,
    /// Index within the list.
    pub index: usize,
}

impl ContainerRef<'_> {
    /// Dotted path of this container relative to the pod spec, e.g. `containers[1]`.
    pub fn rel_path(&self) -> String {
        format!("{}[{}]", self.kind.field(), self.index)
    }

    /// Whether this container runs for the pod's lifetime (regular containers and
    /// `restartPolicy: Always` init containers, i.e. sidecars).
    pub fn is_long_running(&self) -> bool {
        match self.kind {
            ContainerKind::Regular => true,
            ContainerKind::Init => self.container.restart_policy.as_deref() == Some("Always"),
            ContainerKind::Ephemeral => false,
        }
    }
}

impl PodSpec {
    /// Every container in the pod: regular, init and ephemeral, in that order.
    pub fn all_containers(&self) -> impl Iterator<Item = ContainerRef<'_>> {
        let tag = |kind: ContainerKind| {
            move |(index, container)| ContainerRef {
                container,
                kind,
                index,
            }
        };
        self.containers
            .iter()
            .enumerate()
            .map(tag(ContainerKind::Regular))
            .chain(
                self.init_containers
                    .iter()
                    .enumerate()
                    .map(tag(ContainerKind::Init)),
            )
            .chain(
                self.ephemeral_containers
                    .iter()
                    .enumerate()
                    .map(tag(ContainerKind::Ephemeral)),
            )
    }

    /// Whether the pod declares itself a Windows pod (`spec.os.name: windows`).
    pub fn is_windows(&self) -> bool {
        self.os.as_ref().is_some_and(|o| o.name == "windows")
    }

    /// The service account the pod runs as, honouring the deprecated alias.
    pub fn service_account(&self) -> Option<&str> {
        self.service_account_name
            .as_deref()
            .filter(|s| !s.is_empty())
            .or(self.service_account.as_deref().filter(|s| !s.is_empty()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_deployment_template_and_ignores_unknown_fields() {
        let json = r#"{"apiVersion":"apps/v1","kind":"Deployment","metadata":{"name":"web","labels":null,"x":1},
            "spec":{"replicas":3,"selector":{"matchLabels":{"app":"web"}},"template":{"metadata":{"labels":{"app":"web"}},
            "spec":{"containers":[{"name":"a","image":"nginx:1","unknown":{"deep":[1,2]}}],
            "volumes":[{"name":"v","hostPath":{"path":"/"}},{"name":"e","emptyDir":null}]}}}}"#;
        let w = Workload::from_json_any(json).expect("parses");
        assert_eq!(w.kind, Kind::Deployment);
        let (meta, pod) = w.pod().expect("has pod");
        assert_eq!(meta.labels.get("app").map(String::as_str), Some("web"));
        assert_eq!(pod.containers[0].image.as_deref(), Some("nginx:1"));
        assert_eq!(pod.volumes[0].sources, vec!["hostPath".to_string()]);
        assert!(
            pod.volumes[1].sources.is_empty(),
            "null source is no source"
        );
        assert_eq!(w.controller().and_then(|c| c.replicas), Some(3));
    }

    #[test]
    fn cronjob_pod_is_under_job_template() {
        let v = serde_json::json!({"kind":"CronJob","metadata":{"name":"c"},"spec":{"jobTemplate":{"spec":{"template":{"spec":{"containers":[{"name":"x"}]}}}}}});
        let w = Workload::from_value(&v).expect("parses");
        assert_eq!(w.pod().map(|(_, p)| p.containers.len()), Some(1));
        assert!(!w.is_long_running());
    }

    #[test]
    fn wrong_types_are_errors_not_panics() {
        let err =
            Workload::from_json("Pod", r#"{"spec":{"containers":"nope"}}"#).expect_err("must fail");
        assert!(err.to_string().contains("invalid Pod object"), "{err}");
        assert!(matches!(
            Workload::from_json_any(r#"{"metadata":{}}"#),
            Err(ParseError::MissingKind)
        ));
    }

    /// ingress-nginx's examples had `value: true` in an env var: the error names the field,
    /// whichever way the object is read.
    #[test]
    fn shape_errors_name_the_failing_field() {
        let json = r#"{"kind":"Deployment","metadata":{"name":"web"},"spec":{"template":{"spec":
            {"containers":[{"name":"a","env":[{"name":"X","value":true}]}]}}}}"#;
        let want = "spec.template.spec.containers[0].env[0].value";
        let from_text = Workload::from_json("Deployment", json).expect_err("must fail");
        let value: serde_json::Value = serde_json::from_str(json).expect("json");
        let from_value = Workload::from_value(&value).expect_err("must fail");
        for err in [&from_text, &from_value] {
            assert_eq!(err.path().map(ToString::to_string).as_deref(), Some(want));
            let msg = err.to_string();
            assert!(
                msg.starts_with(&format!("invalid Deployment object at {want}: invalid type: boolean `true`, expected a string")),
                "{msg}"
            );
        }
        // JSON text also says where in the text.
        assert!(
            from_text.to_string().contains("line 2 column"),
            "{from_text}"
        );

        // Sequences, hand-written visitors and CronJob templates are tracked too.
        let cases = [
            (
                r#"{"kind":"Pod","spec":{"containers":[{"name":"a"},{"name":"b","ports":[{"containerPort":"80"}]}]}}"#,
                "spec.containers[1].ports[0].containerPort",
            ),
            (
                r#"{"kind":"Pod","spec":{"volumes":[{"name":7}]}}"#,
                "spec.volumes[0].name",
            ),
            (
                r#"{"kind":"CronJob","spec":{"jobTemplate":{"spec":{"template":{"spec":{"hostNetwork":"yes"}}}}}}"#,
                "spec.jobTemplate.spec.template.spec.hostNetwork",
            ),
            (
                r#"{"kind":"Pod","metadata":{"labels":["a"]}}"#,
                "metadata.labels",
            ),
        ];
        for (json, want) in cases {
            let err = Workload::from_json_any(json).expect_err(json);
            assert_eq!(
                err.path().map(ToString::to_string).as_deref(),
                Some(want),
                "{err}"
            );
        }
        // An error about the object as a whole has no path.
        let err = Workload::from_json("Pod", "[1]").expect_err("not an object");
        assert!(err.path().is_none(), "{err}");
        assert!(err.to_string().starts_with("invalid Pod object: "), "{err}");
        let err = Workload::from_json("Pod", "{} x").expect_err("trailing characters");
        assert!(err.path().is_none(), "{err}");
    }

    #[test]
    fn rc_plain_selector_and_expressions() {
        let w = Workload::from_json_any(
            r#"{"kind":"ReplicationController","spec":{"selector":{"app":"x"}}}"#,
        )
        .expect("parses");
        let sel = &w
            .controller()
            .and_then(|c| c.selector.clone())
            .expect("sel")
            .0;
        let mut labels = BTreeMap::new();
        labels.insert("app".to_string(), "x".to_string());
        assert!(sel.matches(&labels));
        let expr = LabelSelector {
            match_expressions: vec![SelectorRequirement {
                key: "tier".into(),
                operator: "NotIn".into(),
                values: vec!["db".into()],
            }],
            ..Default::default()
        };
        assert!(expr.matches(&labels));
    }

    #[test]
    fn network_kinds_parse_with_kubernetes_defaults() {
        let w = Workload::from_json_any(
            r#"{"apiVersion":"networking.k8s.io/v1","kind":"NetworkPolicy","metadata":{"name":"p"},
            "spec":{"podSelector":{},"egress":[{"to":[]}]}}"#,
        )
        .expect("parses");
        assert_eq!(
            (w.kind, w.kind.group()),
            (Kind::NetworkPolicy, "networking.k8s.io")
        );
        let Body::NetworkPolicy(np) = &w.body else {
            panic!("{w:?}")
        };
        // policyTypes omitted: Ingress always, Egress because there are egress rules.
        assert_eq!(np.directions(), (true, true));
        assert!(np.selects(&BTreeMap::new()));
        assert_eq!(np.open_ingress_rule(), None);
        let np = NetworkPolicySpec {
            policy_types: vec!["Egress".into()],
            ingress: vec![NetworkPolicyRule::default()],
            ..NetworkPolicySpec::default()
        };
        // Ingress rules of an Egress-only policy are not in force.
        assert_eq!(
            (np.directions(), np.open_ingress_rule()),
            ((false, true), None)
        );
        let np = NetworkPolicySpec {
            ingress: vec![NetworkPolicyRule::default()],
            ..NetworkPolicySpec::default()
        };
        assert_eq!(np.open_ingress_rule(), Some(0));

        let w = Workload::from_json_any(
            r#"{"kind":"Ingress","spec":{"tls":[{"hosts":["a.example.com"],"secretName":"s"}],
            "rules":[{"host":"a.example.com","http":{}},{"http":{}}],"defaultBackend":{"service":{}}}}"#,
        )
        .expect("parses");
        let Body::Ingress(ing) = &w.body else {
            panic!("{w:?}")
        };
        assert_eq!(ing.tls[0].hosts, ["a.example.com"]);
        assert_eq!(ing.rules.len(), 2);
        assert_eq!(ing.rules[1].host, None);
        assert!(ing.default_backend.is_some());
        for (json, kind) in [
            (
                r#"{"kind":"ResourceQuota","spec":{"hard":{"pods":"10"}}}"#,
                Kind::ResourceQuota,
            ),
            (
                r#"{"kind":"LimitRange","spec":{"limits":[{"type":"Container"}]}}"#,
                Kind::LimitRange,
            ),
        ] {
            assert_eq!(Workload::from_json_any(json).expect("parses").kind, kind);
        }
    }

    #[test]
    fn int_or_string_zero_and_resolve() {
        assert!(IntOrString::Str("0%".into()).is_zero());
        assert!(!IntOrString::Str("25%".into()).is_zero());
        assert_eq!(IntOrString::Str("25%".into()).resolve(3, true), Some(1));
        assert_eq!(IntOrString::Str("25%".into()).resolve(3, false), Some(0));
    }
}
