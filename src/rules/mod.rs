//! The rule catalogue: one file per rule, grouped by category. Ids are a public interface.
//!
//! A rule with parameters declares them in its own file, as a `Params` struct implementing
//! [`RuleParams`](crate::engine::RuleParams), returns `Some(ParamsSpec::of::<Params>())` from
//! [`Rule::params`](crate::engine::Rule::params) and reads them with
//! `cx.policy.params::<Params>()`; the policy file, its error messages and the docs follow
//! (`replicas.rs` is the example).

pub mod availability;
pub mod exemption;
pub mod hygiene;
pub mod listing;
pub mod security;

use crate::engine::Rule;

/// Every rule, in the order findings are reported.
static CATALOGUE: &[&dyn Rule] = &[
    // security: Pod Security Standards, one rule per PSS check family
    &security::privileged::Privileged,
    &security::host_namespaces::HostNamespaces,
    &security::host_ports::HostPorts,
    &security::host_path_volumes::HostPathVolumes,
    &security::host_probes::HostProbes,
    &security::capabilities::Capabilities,
    &security::privilege_escalation::PrivilegeEscalation,
    &security::run_as_non_root::RunAsNonRoot,
    &security::seccomp_profile::SeccompProfile,
    &security::apparmor_profile::AppArmorProfile,
    &security::selinux_options::SeLinuxOptions,
    &security::proc_mount::ProcMount,
    &security::sysctls::Sysctls,
    &security::volume_types::VolumeTypes,
    &security::windows_host_process::WindowsHostProcess,
    // security beyond PSS
    &security::read_only_root_filesystem::ReadOnlyRootFilesystem,
    &security::ingress_tls::IngressTls,
    &security::network_policy::NetworkPolicy,
    // availability
    &availability::replicas::Replicas,
    &availability::liveness_probe::LivenessProbe,
    &availability::readiness_probe::ReadinessProbe,
    &availability::startup_probe::StartupProbe,
    &availability::rolling_update::RollingUpdate,
    &availability::pod_spread::PodSpread,
    &availability::disruption_budget::DisruptionBudget,
    &availability::graceful_shutdown::GracefulShutdown,
    &availability::autoscaler::Autoscaler,
    // hygiene
    &hygiene::resources::Resources,
    &hygiene::image_tag::ImageTag,
    &hygiene::service_account::ServiceAccount,
    &hygiene::secret_env::SecretEnv,
    &hygiene::labels::Labels,
    &hygiene::namespace_pod_security::NamespacePodSecurity,
    &hygiene::namespace_quota::NamespaceQuota,
    &exemption::Exemption,
];

/// Every rule, in report order.
pub fn catalogue() -> &'static [&'static dyn Rule] {
    CATALOGUE
}

/// Catalogue index of rule `id`.
pub fn index_of(id: &str) -> Option<usize> {
    // The ids in catalogue order, read once: the defaults ask for a rule's index dozens of
    // times per object, and reading each id through `meta()` was a virtual call per rule.
    static IDS: std::sync::LazyLock<Vec<&'static str>> = std::sync::LazyLock::new(ids);
    IDS.iter().position(|r| *r == id)
}

/// Every rule id, in catalogue order.
pub fn ids() -> Vec<&'static str> {
    CATALOGUE.iter().map(|r| r.meta().id).collect()
}

/// Helpers for rule unit tests: run one rule on a YAML manifest.
#[cfg(test)]
pub mod testing {
    use crate::config::Policy;
    use crate::engine::{
        CheckCx, Context, Finding, HpaInfo, Inventory, LimitRangeInfo, NetworkPolicyInfo, PdbInfo,
        PodsInfo, QuotaInfo, Rule, Severity, Sink,
    };
    use crate::workload::Workload;

    /// Parses one YAML document into a workload (panics on bad test input).
    pub fn workload(yaml: &str) -> Workload {
        let v: serde_json::Value = serde_yaml_ng::from_str(yaml).expect("test yaml parses");
        Workload::from_value(&v).expect("test object parses")
    }

    /// Runs `rule` alone on `yaml` under `policy` with optional inventory.
    pub fn run_with(
        rule: &dyn Rule,
        yaml: &str,
        policy: &Policy,
        inventory: Option<&dyn Inventory>,
    ) -> Vec<Finding> {
        run_at(rule, yaml, rule.meta().severity, policy, inventory)
    }

    /// [`run_with`] with the rule's findings at `severity`, as if the policy set it: a
    /// finding made at the rule's severity then tells itself from one capped at a warning.
    pub fn run_at(
        rule: &dyn Rule,
        yaml: &str,
        severity: Severity,
        policy: &Policy,
        inventory: Option<&dyn Inventory>,
    ) -> Vec<Finding> {
        let obj = workload(yaml);
        let cx = CheckCx {
            obj: &obj,
            policy,
            ctx: Context {
                inventory,
                ..Context::default()
            },
        };
        let mut out = Vec::new();
        let mut sink = Sink::new(rule.meta(), severity, &mut out);
        rule.check(&cx, &mut sink);
        out
    }

    /// Runs `rule` alone on `yaml` under the default policy, no inventory.
    pub fn run(rule: &dyn Rule, yaml: &str) -> Vec<Finding> {
        run_with(rule, yaml, &Policy::default(), None)
    }

    /// The paths of `findings`.
    pub fn paths(findings: &[Finding]) -> Vec<&str> {
        findings.iter().map(|f| f.path.as_str()).collect()
    }

    /// A cluster or manifest set holding what isolates namespaces, for the rules that read
    /// it. A `None` field is "no data"; lookups filter by namespace (unset: `default`).
    #[derive(Default)]
    pub struct Isolation {
        /// NetworkPolicies (their own namespace field).
        pub network_policies: Option<Vec<NetworkPolicyInfo>>,
        /// ResourceQuotas, by namespace.
        pub quotas: Option<Vec<(String, QuotaInfo)>>,
        /// LimitRanges, by namespace.
        pub limit_ranges: Option<Vec<(String, LimitRangeInfo)>>,
        /// Pod-running workloads (any namespace asked gets them all).
        pub workloads: Option<Vec<PodsInfo>>,
        /// Whether it is the whole universe (offline) rather than a live cluster.
        pub complete: bool,
    }

    fn in_ns<T: Clone>(all: &Option<Vec<(String, T)>>, namespace: &str) -> Option<Vec<T>> {
        let ns = crate::workload::namespace_or_default(namespace);
        all.as_ref().map(|v| {
            v.iter()
                .filter(|(n, _)| n == ns)
                .map(|(_, t)| t.clone())
                .collect()
        })
    }

    impl Inventory for Isolation {
        fn pdbs(&self, _: &str) -> Option<Vec<PdbInfo>> {
            None
        }
        fn hpa_for(&self, _: &str, _: &str, _: &str) -> Option<Option<HpaInfo>> {
            None
        }
        fn network_policies(&self, namespace: &str) -> Option<Vec<NetworkPolicyInfo>> {
            let by_ns = self
                .network_policies
                .as_ref()
                .map(|v| v.iter().map(|p| (p.namespace.clone(), p.clone())).collect());
            in_ns(&by_ns, namespace)
        }
        fn resource_quotas(&self, namespace: &str) -> Option<Vec<QuotaInfo>> {
            in_ns(&self.quotas, namespace)
        }
        fn limit_ranges(&self, namespace: &str) -> Option<Vec<LimitRangeInfo>> {
            in_ns(&self.limit_ranges, namespace)
        }
        fn workloads(&self, _: &str) -> Option<Vec<PodsInfo>> {
            self.workloads.clone()
        }
        fn is_complete(&self) -> bool {
            self.complete
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_unique_kebab_case_and_documented() {
        let ids = ids();
        let mut sorted = ids.clone();
        sorted.sort();
        sorted.dedup();
        assert_eq!(sorted.len(), ids.len(), "duplicate rule id");
        for r in catalogue() {
            let m = r.meta();
            assert!(
                m.id.chars().all(|c| c.is_ascii_lowercase() || c == '-'),
                "{}",
                m.id
            );
            assert!(
                !m.summary.is_empty() && !m.remediation.is_empty(),
                "{}",
                m.id
            );
        }
    }

    #[test]
    fn each_parameter_type_belongs_to_one_rule() {
        // Rules read parameters by type, so two rules declaring one type would share them.
        let mut seen = Vec::new();
        for r in catalogue() {
            if let Some(spec) = r.params() {
                assert!(
                    !seen.contains(&spec.type_id()),
                    "{}: parameter type already declared by another rule",
                    r.meta().id
                );
                seen.push(spec.type_id());
                assert!(
                    !spec.defaults().is_empty(),
                    "{}: parameters must serialise to a map of keys",
                    r.meta().id
                );
            }
        }
    }
}
