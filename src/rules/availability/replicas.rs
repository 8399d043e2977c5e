//! `replicas`: replicated workloads run at least `minReplicas` pods; when an HPA targets the
//! workload, the HPA's `minReplicas` is what counts.

use serde::{Deserialize, Serialize};

use crate::engine::{
    Category, CheckCx, ParamError, ParamsSpec, Rule, RuleMeta, RuleParams, Severity, Sink,
};

/// Rule id (admission judges `scale` requests by this rule alone).
pub const ID: &str = "replicas";

/// The rule.
pub struct Replicas;

static META: RuleMeta = RuleMeta {
    id: ID,
    category: Category::Availability,
    severity: Severity::Error,
    enabled_by_default: true,
    pss: None,
    summary: "Replicated workloads run at least minReplicas (default 2) pods",
    remediation: "Set spec.replicas (or the HPA's minReplicas) to at least 2",
};

/// `rules.replicas` parameters (also the floor the `autoscaler` rule holds HPAs to).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields, rename_all = "camelCase")]
pub struct Params {
    /// Fewest replicas a replicated workload may run: one pod is an outage at every
    /// rollout, eviction and node failure.
    pub min_replicas: i64,
}

impl Default for Params {
    fn default() -> Self {
        Params { min_replicas: 2 }
    }
}

impl RuleParams for Params {
    fn validate(&mut self) -> Result<(), ParamError> {
        if self.min_replicas < 1 {
            return Err(ParamError::new("minReplicas", "must be at least 1"));
        }
        Ok(())
    }
}

impl Rule for Replicas {
    fn meta(&self) -> &'static RuleMeta {
        &META
    }

    fn params(&self) -> Option<ParamsSpec> {
        Some(ParamsSpec::of::<Params>())
    }

    fn check(&self, cx: &CheckCx<'_>, out: &mut Sink<'_>) {
        let obj = cx.obj;
        if !obj.kind.is_replicated() {
            return;
        }
        let Some(spec) = obj.controller() else { return };
        let min = cx.policy.params::<Params>().min_replicas;
        let hpa = cx
            .ctx
            .inventory
            .and_then(|inv| inv.hpa_for(obj.namespace(), &obj.kind_name, obj.name()));
        match hpa {
            Some(Some(hpa)) => {
                if hpa.min_replicas < min {
                    out.report(
                        "spec.replicas",
                        format!(
                            "HorizontalPodAutoscaler {:?} scales this workload down to {} replica(s); at least {min} are required",
                            hpa.name, hpa.min_replicas
                        ),
                    );
                }
            }
            known => {
                let replicas = spec.replicas.unwrap_or(1);
                if replicas >= min {
                    return;
                }
                let message = format!("{replicas} replica(s); at least {min} are required");
                if known.is_some() {
                    out.report("spec.replicas", message);
                } else {
                    // No HPA data (no cluster): an HPA may own the replica count, so this
                    // can only warn.
                    out.warn(
                        "spec.replicas",
                        format!("{message} (no HorizontalPodAutoscaler data to check)"),
                    );
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Policy;
    use crate::engine::{HpaInfo, Inventory, PdbInfo};
    use crate::rules::testing::{run, run_with};

    struct Inv(Option<HpaInfo>);
    impl Inventory for Inv {
        fn pdbs(&self, _: &str) -> Option<Vec<PdbInfo>> {
            Some(Vec::new())
        }
        fn hpa_for(&self, _: &str, _: &str, _: &str) -> Option<Option<HpaInfo>> {
            Some(self.0.clone())
        }
        fn is_complete(&self) -> bool {
            true
        }
    }

    const ONE: &str = "kind: Deployment\nmetadata: {name: web}\nspec:\n  replicas: 1\n  template: {spec: {containers: [{name: a}]}}\n";

    #[test]
    fn without_inventory_single_replica_only_warns() {
        let f = run(&Replicas, ONE);
        assert_eq!(f.len(), 1);
        assert_eq!(f[0].severity, Severity::Warning);
        assert_eq!(f[0].path, "spec.replicas");
    }

    #[test]
    fn with_inventory_and_no_hpa_it_is_an_error() {
        let f = run_with(&Replicas, ONE, &Policy::default(), Some(&Inv(None)));
        assert_eq!(f[0].severity, Severity::Error);
    }

    #[test]
    fn hpa_min_replicas_counts_instead_of_spec() {
        let hpa = |min| HpaInfo {
            name: "h".into(),
            min_replicas: min,
            max_replicas: 5,
        };
        assert!(run_with(&Replicas, ONE, &Policy::default(), Some(&Inv(Some(hpa(2))))).is_empty());
        let f = run_with(&Replicas, ONE, &Policy::default(), Some(&Inv(Some(hpa(1)))));
        assert!(f[0].message.contains("HorizontalPodAutoscaler"));
    }

    #[test]
    fn daemonsets_and_jobs_are_not_replicated() {
        assert!(
            run(
                &Replicas,
                "kind: DaemonSet\nspec: {template: {spec: {containers: []}}}\n"
            )
            .is_empty()
        );
        assert!(
            run(
                &Replicas,
                "kind: Job\nspec: {template: {spec: {containers: []}}}\n"
            )
            .is_empty()
        );
        assert!(run(&Replicas, "kind: Deployment\nspec: {replicas: 3}\n").is_empty());
    }
}
