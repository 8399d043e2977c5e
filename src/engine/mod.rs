//! The rule engine: `evaluate(workload, context, policy) -> Report`. Pure, synchronous, no IO.
//!
//! The engine sits below the rules: it defines the [`Rule`] trait and the compiled
//! [`Policy`], and evaluates whatever catalogue the policy was compiled against, so it never
//! names a rule (`config` binds the built-in catalogue).
//!
//! The same engine serves the webhook, `bulwark check` and `bulwark mutate`. Cluster state a
//! rule needs (PDBs, HPAs, NetworkPolicies, quotas) arrives through the [`Inventory`] trait,
//! filled from reflector caches in the server and from the manifest set offline, so no rule
//! ever does IO.

pub mod compiled;
pub mod exemptions;
pub mod params;
pub mod report;
pub mod rule;

pub use compiled::Policy;
pub use params::{AnyParams, ParamError, ParamsSpec, RuleParams};
pub use report::{Finding, Report};
pub use rule::{Category, PssLevel, Rule, RuleMeta, Severity, Sink};

use std::collections::BTreeMap;

use crate::workload::{Kind, LabelSelector, NetworkPolicySpec, Workload};

/// A PodDisruptionBudget as the engine sees it.
#[derive(Debug, Clone)]
pub struct PdbInfo {
    /// Namespace.
    pub namespace: String,
    /// Name.
    pub name: String,
    /// `spec.selector`; `None` selects nothing (policy/v1).
    pub selector: Option<LabelSelector>,
    /// `spec.minAvailable`.
    pub min_available: Option<crate::workload::IntOrString>,
    /// `spec.maxUnavailable`.
    pub max_unavailable: Option<crate::workload::IntOrString>,
}

/// A HorizontalPodAutoscaler as the engine sees it.
#[derive(Debug, Clone)]
pub struct HpaInfo {
    /// Name.
    pub name: String,
    /// `spec.minReplicas` (Kubernetes defaults it to 1).
    pub min_replicas: i64,
    /// `spec.maxReplicas`.
    pub max_replicas: i64,
}

/// A NetworkPolicy as the engine sees it.
#[derive(Debug, Clone)]
pub struct NetworkPolicyInfo {
    /// Namespace.
    pub namespace: String,
    /// Name.
    pub name: String,
    /// What it selects and allows.
    pub spec: NetworkPolicySpec,
}

/// A ResourceQuota as the engine sees it.
#[derive(Debug, Clone)]
pub struct QuotaInfo {
    /// Name.
    pub name: String,
    /// The resources `spec.hard` caps (`requests.cpu`, `pods`, ...); none caps nothing.
    pub hard: Vec<String>,
}

/// A LimitRange as the engine sees it.
#[derive(Debug, Clone)]
pub struct LimitRangeInfo {
    /// Name.
    pub name: String,
    /// How many `spec.limits` entries it has; none sets nothing.
    pub limits: usize,
}

/// A workload of the manifest set, by the labels its pods carry.
#[derive(Debug, Clone)]
pub struct PodsInfo {
    /// Kind.
    pub kind: String,
    /// Name.
    pub name: String,
    /// The pod template's labels.
    pub labels: BTreeMap<String, String>,
}

/// Read-only view of the objects around a workload. `None` from any method means "no data"
/// (no cluster, cache not synced): rules then never deny on that basis.
pub trait Inventory: Send + Sync {
    /// Every PDB in `namespace`.
    fn pdbs(&self, namespace: &str) -> Option<Vec<PdbInfo>>;
    /// The HPA whose `scaleTargetRef` names this workload, if any.
    fn hpa_for(&self, namespace: &str, kind: &str, name: &str) -> Option<Option<HpaInfo>>;
    /// The BulwarkExceptions living in `namespace` or in `own_namespace` (bulwark's): the
    /// candidates to cover an object in `namespace`. The engine decides which count (where
    /// they live, validity, expiry, kinds, names, rules). `None` when there is no data.
    /// Without an implementation there are none, which fails closed: nothing is exempted.
    fn exceptions(
        &self,
        _namespace: &str,
        _own_namespace: &str,
    ) -> Option<Vec<exemptions::Exception>> {
        None
    }
    /// Every NetworkPolicy in `namespace`; `None` when there is no data.
    fn network_policies(&self, _namespace: &str) -> Option<Vec<NetworkPolicyInfo>> {
        None
    }
    /// Every ResourceQuota in `namespace`; `None` when there is no data.
    fn resource_quotas(&self, _namespace: &str) -> Option<Vec<QuotaInfo>> {
        None
    }
    /// Every LimitRange in `namespace`; `None` when there is no data.
    fn limit_ranges(&self, _namespace: &str) -> Option<Vec<LimitRangeInfo>> {
        None
    }
    /// Every pod-running workload in `namespace`, when the inventory holds every maker of
    /// pods there (the manifest set, without custom resources an operator may turn into
    /// pods): only then can a selector be said to select nothing. The server does not watch
    /// workloads, so it answers `None`.
    fn workloads(&self, _namespace: &str) -> Option<Vec<PodsInfo>> {
        None
    }
    /// Whether this inventory is the whole universe (offline: the manifest set) rather than a
    /// live cluster where a PDB may simply not have been applied yet.
    fn is_complete(&self) -> bool;
}

/// What the engine knows beyond the object itself.
#[derive(Clone, Copy)]
pub struct Context<'a> {
    /// Surrounding objects; `None` when there is no data at all.
    pub inventory: Option<&'a dyn Inventory>,
    /// Today as days since 1970-01-01 (UTC), for exemption expiry; `None` disables expiry.
    pub today: Option<i64>,
    /// Set only when admission verified that the built-in controller for the object's owner
    /// kind made the request: the object is then judged through its owner (security rules
    /// only). `None` judges the object as itself, whatever its ownerReferences claim.
    pub origin: Option<&'a exemptions::Origin>,
    /// bulwark's own namespace: BulwarkExceptions there may cover other namespaces.
    pub own_namespace: &'a str,
}

impl Default for Context<'_> {
    fn default() -> Self {
        Context {
            inventory: None,
            today: None,
            origin: None,
            own_namespace: exemptions::DEFAULT_OWN_NAMESPACE,
        }
    }
}

/// The inputs every rule gets.
pub struct CheckCx<'a> {
    /// The object under review.
    pub obj: &'a Workload,
    /// The policy in force.
    pub policy: &'a Policy,
    /// Cluster context.
    pub ctx: Context<'a>,
}

impl CheckCx<'_> {
    /// Dotted path to a field of the pod spec, e.g. `spec.template.spec.hostNetwork`.
    pub fn pod_path(&self, field: &str) -> String {
        join(self.obj.kind.pod_spec_path(), field)
    }
}

/// `a.b` without a dangling dot when either side is empty.
pub fn join(prefix: &str, field: &str) -> String {
    match (prefix.is_empty(), field.is_empty()) {
        (true, _) => field.to_owned(),
        (_, true) => prefix.to_owned(),
        _ => format!("{prefix}.{field}"),
    }
}

/// Evaluates every enabled rule of `policy` on `obj`.
pub fn evaluate(obj: &Workload, ctx: Context<'_>, policy: &Policy) -> Report {
    evaluate_rules(obj, ctx, policy, |_| true)
}

/// Evaluates the enabled rules of `policy` that `which` selects (a `scale` request is judged
/// by `replicas` alone), then applies exemptions.
pub fn evaluate_rules(
    obj: &Workload,
    ctx: Context<'_>,
    policy: &Policy,
    which: impl Fn(&RuleMeta) -> bool,
) -> Report {
    let mut report = Report::default();
    if obj.kind == Kind::Other {
        return report;
    }
    if exemptions::namespace_exempt(obj, policy) {
        return report;
    }
    // An object the built-in controller made for its owner (a Deployment's ReplicaSet, its
    // Pods, a CronJob's Jobs) is judged through its owner for availability and hygiene:
    // denying it would stall the controller silently. Admission sets `origin` only after
    // checking the requester's identity against the owner kind, so an ownerReference written
    // by anyone else buys nothing; security rules run on every object regardless.
    let controlled = ctx.origin.is_some();
    let cx = CheckCx { obj, policy, ctx };
    for (index, rule) in policy.catalogue().iter().enumerate() {
        let meta = rule.meta();
        let settings = policy.rule(index);
        if !settings.enabled
            || !which(meta)
            || meta.pss.is_some_and(|lvl| lvl > policy.pod_security)
            || controlled && meta.category != Category::Security
        {
            continue;
        }
        let mut sink = Sink::new(meta, settings.severity, &mut report.findings);
        rule.check(&cx, &mut sink);
    }
    exemptions::apply(obj, ctx, policy, &mut report);
    report
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unknown_kinds_are_skipped() {
        let w = Workload::from_json_any(r#"{"kind":"ConfigMap","metadata":{"name":"x"}}"#)
            .expect("parses");
        let r = evaluate(&w, Context::default(), &Policy::default());
        assert!(r.findings.is_empty());
    }

    #[test]
    fn join_handles_empty_sides() {
        assert_eq!(join("spec", "x"), "spec.x");
        assert_eq!(join("", "x"), "x");
        assert_eq!(join("spec", ""), "spec");
    }
}
