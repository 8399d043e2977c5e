//! `pod-spread`: a workload running two or more replicas spreads them across failure domains
//! with pod anti-affinity or a topology spread constraint, so one node (or zone) going down
//! does not take every replica with it.

use crate::engine::{Category, CheckCx, Rule, RuleMeta, Severity, Sink};

/// The rule.
pub struct PodSpread;

static META: RuleMeta = RuleMeta {
    id: "pod-spread",
    category: Category::Availability,
    severity: Severity::Warning,
    enabled_by_default: true,
    pss: None,
    summary: "Workloads with 2+ replicas spread their pods with pod anti-affinity or topologySpreadConstraints",
    remediation: "Add a topologySpreadConstraint (e.g. topologyKey kubernetes.io/hostname, maxSkew 1) or a podAntiAffinity term on the pod labels",
};

/// The replica count of a replicated workload: the minReplicas of the HPA targeting it when
/// the inventory knows one, else `spec.replicas` (unset means 1). `None` for other kinds.
pub(crate) fn replica_count(cx: &CheckCx<'_>) -> Option<i64> {
    let obj = cx.obj;
    if !obj.kind.is_replicated() {
        return None;
    }
    let spec = obj.controller()?;
    let hpa = cx
        .ctx
        .inventory
        .and_then(|inv| inv.hpa_for(obj.namespace(), &obj.kind_name, obj.name()))
        .flatten();
    Some(match hpa {
        Some(h) => h.min_replicas,
        None => spec.replicas.unwrap_or(1),
    })
}

impl Rule for PodSpread {
    fn meta(&self) -> &'static RuleMeta {
        &META
    }

    fn check(&self, cx: &CheckCx<'_>, out: &mut Sink<'_>) {
        let Some(replicas) = replica_count(cx) else {
            return;
        };
        if replicas < 2 {
            return;
        }
        let Some((_, pod)) = cx.obj.pod() else { return };
        let anti = pod
            .affinity
            .as_ref()
            .and_then(|a| a.pod_anti_affinity.as_ref())
            .is_some_and(|p| !p.required.is_empty() || !p.preferred.is_empty());
        if anti || !pod.topology_spread_constraints.is_empty() {
            return;
        }
        out.report(
            cx.pod_path("affinity"),
            format!(
                "{replicas} replicas with neither pod anti-affinity nor topologySpreadConstraints: the scheduler may put them all on one node"
            ),
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Policy;
    use crate::engine::{HpaInfo, Inventory, PdbInfo};
    use crate::rules::testing::{paths, run, run_with};

    fn deploy(replicas: &str, pod: &str) -> String {
        format!(
            "kind: Deployment\nmetadata: {{name: web, namespace: prod}}\nspec:\n  {replicas}\n  template:\n    metadata: {{labels: {{app: web}}}}\n    spec:\n      containers: [{{name: a}}]\n{pod}"
        )
    }

    #[test]
    fn unspread_replicas_are_a_warning_at_affinity() {
        let f = run(&PodSpread, &deploy("replicas: 3", ""));
        assert_eq!(paths(&f), ["spec.template.spec.affinity"]);
        assert_eq!(f[0].severity, Severity::Warning);
    }

    #[test]
    fn anti_affinity_or_spread_constraints_pass() {
        for pod in [
            "      topologySpreadConstraints: [{maxSkew: 1, topologyKey: kubernetes.io/hostname, whenUnsatisfiable: ScheduleAnyway}]\n",
            "      affinity: {podAntiAffinity: {preferredDuringSchedulingIgnoredDuringExecution: [{weight: 100, podAffinityTerm: {topologyKey: kubernetes.io/hostname}}]}}\n",
            "      affinity: {podAntiAffinity: {requiredDuringSchedulingIgnoredDuringExecution: [{topologyKey: kubernetes.io/hostname}]}}\n",
        ] {
            assert!(
                run(&PodSpread, &deploy("replicas: 2", pod)).is_empty(),
                "{pod}"
            );
        }
    }

    #[test]
    fn empty_anti_affinity_does_not_count() {
        let f = run(
            &PodSpread,
            &deploy(
                "replicas: 2",
                "      affinity: {podAntiAffinity: {}}\n      topologySpreadConstraints: []\n",
            ),
        );
        assert_eq!(paths(&f), ["spec.template.spec.affinity"]);
    }

    #[test]
    fn single_replica_and_non_replicated_kinds_are_skipped() {
        assert!(run(&PodSpread, &deploy("replicas: 1", "")).is_empty());
        assert!(run(&PodSpread, &deploy("paused: false", "")).is_empty());
        assert!(
            run(
                &PodSpread,
                "kind: DaemonSet\nspec: {template: {spec: {containers: [{name: a}]}}}\n"
            )
            .is_empty()
        );
        assert!(run(&PodSpread, "kind: Pod\nspec: {containers: [{name: a}]}\n").is_empty());
    }

    struct Hpa(i64);
    impl Inventory for Hpa {
        fn pdbs(&self, _: &str) -> Option<Vec<PdbInfo>> {
            None
        }
        fn hpa_for(&self, _: &str, kind: &str, name: &str) -> Option<Option<HpaInfo>> {
            assert_eq!((kind, name), ("Deployment", "web"));
            Some(Some(HpaInfo {
                name: "web".into(),
                min_replicas: self.0,
                max_replicas: 10,
            }))
        }
        fn is_complete(&self) -> bool {
            true
        }
    }

    #[test]
    fn hpa_min_replicas_decides() {
        let yaml = deploy("replicas: 1", "");
        assert_eq!(
            run_with(&PodSpread, &yaml, &Policy::default(), Some(&Hpa(3))).len(),
            1
        );
        assert!(
            run_with(
                &PodSpread,
                &deploy("replicas: 5", ""),
                &Policy::default(),
                Some(&Hpa(1))
            )
            .is_empty()
        );
    }
}
