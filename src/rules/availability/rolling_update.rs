//! `rolling-update`: rollouts never take serving capacity away. Deployments roll with
//! `maxUnavailable: 0` and a positive `maxSurge` (new pods come up before old ones go);
//! StatefulSets and DaemonSets are not left on `OnDelete` (which never rolls out by itself),
//! and DaemonSets surge instead of deleting first.

use crate::engine::{Category, CheckCx, Rule, RuleMeta, Severity, Sink};
use crate::workload::{IntOrString, Kind, Strategy};

/// The rule.
pub struct RollingUpdate;

static META: RuleMeta = RuleMeta {
    id: "rolling-update",
    category: Category::Availability,
    severity: Severity::Error,
    enabled_by_default: true,
    pss: None,
    summary: "Rollouts keep full capacity: RollingUpdate with maxUnavailable 0 and maxSurge > 0 (Deployments, DaemonSets); no Recreate or OnDelete",
    remediation: "Use strategy/updateStrategy type RollingUpdate with rollingUpdate.maxUnavailable: 0 and rollingUpdate.maxSurge: 1 (or a percentage); StatefulSets: RollingUpdate",
};

/// Whether `v` is a strictly positive count or percentage (percentages round up, as
/// Kubernetes rounds `maxSurge`); unparseable values are not positive.
fn positive(v: &IntOrString) -> bool {
    v.resolve(100, true).is_some_and(|n| n > 0)
}

impl Rule for RollingUpdate {
    fn meta(&self) -> &'static RuleMeta {
        &META
    }

    fn check(&self, cx: &CheckCx<'_>, out: &mut Sink<'_>) {
        let Some(spec) = cx.obj.controller() else {
            return;
        };
        match cx.obj.kind {
            Kind::Deployment => deployment(spec.strategy.as_ref(), out),
            Kind::StatefulSet => {
                let kind = spec
                    .update_strategy
                    .as_ref()
                    .and_then(|s| s.kind.as_deref());
                if kind == Some("OnDelete") {
                    out.report(
                        "spec.updateStrategy.type",
                        "updateStrategy OnDelete never rolls pods out: changes only apply when pods are deleted by hand",
                    );
                }
            }
            Kind::DaemonSet => daemonset(spec.update_strategy.as_ref(), out),
            _ => {}
        }
    }
}

fn deployment(strategy: Option<&Strategy>, out: &mut Sink<'_>) {
    let kind = strategy
        .and_then(|s| s.kind.as_deref())
        .unwrap_or("RollingUpdate");
    if kind == "Recreate" {
        out.report(
            "spec.strategy.type",
            "strategy Recreate stops every pod before starting new ones: each rollout is an outage",
        );
        return;
    }
    if kind != "RollingUpdate" {
        return; // the API server rejects other values
    }
    let ru = strategy.and_then(|s| s.rolling_update.as_ref());
    match ru.and_then(|r| r.max_unavailable.as_ref()) {
        None => out.report(
            "spec.strategy.rollingUpdate.maxUnavailable",
            "maxUnavailable is unset and defaults to 25%: rollouts take a quarter of the pods out of service; set it to 0",
        ),
        Some(v) if !v.is_zero() => out.report(
            "spec.strategy.rollingUpdate.maxUnavailable",
            format!("maxUnavailable is {v}: rollouts take pods out of service before replacements are ready; set it to 0"),
        ),
        Some(_) => {}
    }
    // Unset maxSurge defaults to 25%, which is positive.
    if let Some(v) = ru.and_then(|r| r.max_surge.as_ref())
        && !positive(v)
    {
        out.report(
            "spec.strategy.rollingUpdate.maxSurge",
            format!("maxSurge is {v}: with maxUnavailable 0 a rollout needs at least one surge pod; set it to 1 or more"),
        );
    }
}

fn daemonset(strategy: Option<&Strategy>, out: &mut Sink<'_>) {
    let kind = strategy
        .and_then(|s| s.kind.as_deref())
        .unwrap_or("RollingUpdate");
    if kind == "OnDelete" {
        out.report(
            "spec.updateStrategy.type",
            "updateStrategy OnDelete never rolls pods out: changes only apply when pods are deleted by hand",
        );
        return;
    }
    if kind != "RollingUpdate" {
        return;
    }
    let ru = strategy.and_then(|s| s.rolling_update.as_ref());
    match ru.and_then(|r| r.max_unavailable.as_ref()) {
        None => out.report(
            "spec.updateStrategy.rollingUpdate.maxUnavailable",
            "maxUnavailable is unset and defaults to 1: each node loses its pod before the new one is ready; set it to 0 and surge instead",
        ),
        Some(v) if !v.is_zero() => out.report(
            "spec.updateStrategy.rollingUpdate.maxUnavailable",
            format!("maxUnavailable is {v}: nodes lose their pod before the new one is ready; set it to 0 and surge instead"),
        ),
        Some(_) => {}
    }
    match ru.and_then(|r| r.max_surge.as_ref()) {
        None => out.report(
            "spec.updateStrategy.rollingUpdate.maxSurge",
            "maxSurge is unset and defaults to 0: set it to 1 (or a percentage) so the new pod starts before the old one stops (pods using hostPorts cannot surge)",
        ),
        Some(v) if !positive(v) => out.report(
            "spec.updateStrategy.rollingUpdate.maxSurge",
            format!("maxSurge is {v}: set it to 1 (or a percentage) so the new pod starts before the old one stops"),
        ),
        Some(_) => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rules::testing::{paths, run};

    fn deploy(strategy: &str) -> String {
        format!(
            "kind: Deployment\nspec:\n  replicas: 3\n  strategy: {strategy}\n  template: {{spec: {{containers: [{{name: a}}]}}}}\n"
        )
    }

    #[test]
    fn deployment_zero_unavailable_with_surge_passes() {
        for s in [
            "{type: RollingUpdate, rollingUpdate: {maxUnavailable: 0, maxSurge: 1}}",
            "{rollingUpdate: {maxUnavailable: '0%', maxSurge: '25%'}}",
            "{rollingUpdate: {maxUnavailable: 0}}",
        ] {
            assert!(run(&RollingUpdate, &deploy(s)).is_empty(), "{s}");
        }
    }

    #[test]
    fn deployment_default_max_unavailable_is_a_finding() {
        let f = run(
            &RollingUpdate,
            "kind: Deployment\nspec: {template: {spec: {containers: [{name: a}]}}}\n",
        );
        assert_eq!(paths(&f), ["spec.strategy.rollingUpdate.maxUnavailable"]);
        assert!(f[0].message.contains("25%"), "{}", f[0].message);
        let f = run(&RollingUpdate, &deploy("{type: RollingUpdate}"));
        assert_eq!(paths(&f), ["spec.strategy.rollingUpdate.maxUnavailable"]);
    }

    #[test]
    fn deployment_nonzero_unavailable_and_zero_surge_are_findings() {
        let f = run(
            &RollingUpdate,
            &deploy("{rollingUpdate: {maxUnavailable: 1, maxSurge: 0}}"),
        );
        assert_eq!(
            paths(&f),
            [
                "spec.strategy.rollingUpdate.maxUnavailable",
                "spec.strategy.rollingUpdate.maxSurge",
            ]
        );
        let f = run(
            &RollingUpdate,
            &deploy("{rollingUpdate: {maxUnavailable: '0%', maxSurge: '0%'}}"),
        );
        assert_eq!(paths(&f), ["spec.strategy.rollingUpdate.maxSurge"]);
    }

    #[test]
    fn deployment_recreate_is_a_finding_at_type() {
        let f = run(&RollingUpdate, &deploy("{type: Recreate}"));
        assert_eq!(paths(&f), ["spec.strategy.type"]);
    }

    #[test]
    fn statefulset_on_delete_only() {
        let ss = |s: &str| format!("kind: StatefulSet\nspec:\n  updateStrategy: {s}\n");
        assert_eq!(
            paths(&run(&RollingUpdate, &ss("{type: OnDelete}"))),
            ["spec.updateStrategy.type"]
        );
        assert!(
            run(
                &RollingUpdate,
                &ss("{type: RollingUpdate, rollingUpdate: {partition: 0}}")
            )
            .is_empty()
        );
        assert!(run(&RollingUpdate, "kind: StatefulSet\nspec: {}\n").is_empty());
    }

    #[test]
    fn daemonset_needs_surge_form() {
        let ds = |s: &str| format!("kind: DaemonSet\nspec:\n  updateStrategy: {s}\n");
        assert!(
            run(
                &RollingUpdate,
                &ds("{type: RollingUpdate, rollingUpdate: {maxUnavailable: 0, maxSurge: 1}}")
            )
            .is_empty()
        );
        assert_eq!(
            paths(&run(&RollingUpdate, "kind: DaemonSet\nspec: {}\n")),
            [
                "spec.updateStrategy.rollingUpdate.maxUnavailable",
                "spec.updateStrategy.rollingUpdate.maxSurge",
            ]
        );
        assert_eq!(
            paths(&run(
                &RollingUpdate,
                &ds("{rollingUpdate: {maxUnavailable: 0, maxSurge: '0%'}}")
            )),
            ["spec.updateStrategy.rollingUpdate.maxSurge"]
        );
        assert_eq!(
            paths(&run(&RollingUpdate, &ds("{type: OnDelete}"))),
            ["spec.updateStrategy.type"]
        );
    }

    #[test]
    fn other_kinds_are_ignored() {
        assert!(run(&RollingUpdate, "kind: ReplicaSet\nspec: {replicas: 2}\n").is_empty());
        assert!(
            run(
                &RollingUpdate,
                "kind: Job\nspec: {template: {spec: {containers: []}}}\n"
            )
            .is_empty()
        );
        assert!(run(&RollingUpdate, "kind: Pod\nspec: {containers: []}\n").is_empty());
    }
}
