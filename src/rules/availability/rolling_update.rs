//! `rolling-update`: rollouts never take serving capacity away. Deployments roll with
//! `maxUnavailable: 0` and a positive `maxSurge` (new pods come up before old ones go);
//! StatefulSets and DaemonSets are not left on `OnDelete` (which never rolls out by itself),
//! and DaemonSets surge instead of deleting first where they can.
//!
//! A DaemonSet whose pods bind a hostPort or use hostNetwork cannot surge: the surge pod
//! lands on the same node as the old one and needs the same port (the scheduler keeps it
//! Pending, or it fails to bind), so the rollout stalls. For those the best possible is
//! deleting first one node at a time, `maxUnavailable: 1` with no surge, and that is what the
//! rule asks of them.

use crate::engine::{Category, CheckCx, Rule, RuleMeta, Severity, Sink};
use crate::workload::{IntOrString, Kind, PodSpec, RollingUpdate as RollingUpdateSpec, Strategy};

/// The rule.
pub struct RollingUpdate;

static META: RuleMeta = RuleMeta {
    id: "rolling-update",
    category: Category::Availability,
    severity: Severity::Error,
    enabled_by_default: true,
    pss: None,
    summary: "Rollouts keep full capacity: RollingUpdate with maxUnavailable 0 and maxSurge > 0 (Deployments, DaemonSets; maxUnavailable 1 for DaemonSets on hostPort/hostNetwork, which cannot surge); no Recreate or OnDelete",
    remediation: "Use strategy/updateStrategy type RollingUpdate with rollingUpdate.maxUnavailable: 0 and rollingUpdate.maxSurge: 1 (or a percentage); DaemonSets on hostPort or hostNetwork: maxUnavailable: 1, maxSurge: 0; StatefulSets: RollingUpdate",
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
            Kind::DaemonSet => {
                let no_surge = cx.obj.pod().and_then(|(_, pod)| no_surge_reason(pod));
                daemonset(spec.update_strategy.as_ref(), no_surge.as_deref(), out)
            }
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

/// Why a DaemonSet's pods cannot surge (`hostNetwork: true`, or the first host port a
/// container binds), or `None` when they can. Init containers count: a sidecar's host port
/// blocks the surge pod as much as the main container's.
pub fn no_surge_reason(pod: &PodSpec) -> Option<String> {
    if pod.host_network == Some(true) {
        return Some("its pods use hostNetwork".into());
    }
    pod.all_containers().find_map(|c| {
        c.container.ports.iter().enumerate().find_map(|(i, p)| {
            p.host_port
                .filter(|&h| h != 0)
                .map(|h| format!("{}.ports[{i}] binds hostPort {h}", c.rel_path()))
        })
    })
}

fn daemonset(strategy: Option<&Strategy>, no_surge: Option<&str>, out: &mut Sink<'_>) {
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
    if let Some(why) = no_surge {
        return daemonset_without_surge(ru, why, out);
    }
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
            "maxSurge is unset and defaults to 0: set it to 1 (or a percentage) so the new pod starts before the old one stops",
        ),
        Some(v) if !positive(v) => out.report(
            "spec.updateStrategy.rollingUpdate.maxSurge",
            format!("maxSurge is {v}: set it to 1 (or a percentage) so the new pod starts before the old one stops"),
        ),
        Some(_) => {}
    }
}

/// A DaemonSet that cannot surge (`why` says what stops it): no surge, and one node at a
/// time (`maxUnavailable` unset, which defaults to 1, or 1).
fn daemonset_without_surge(ru: Option<&RollingUpdateSpec>, why: &str, out: &mut Sink<'_>) {
    let surge = ru
        .and_then(|r| r.max_surge.as_ref())
        .filter(|v| positive(v));
    if let Some(v) = surge {
        out.report(
            "spec.updateStrategy.rollingUpdate.maxSurge",
            format!("maxSurge is {v}, but {why}: a surge pod cannot start on a node beside the old one, so the rollout stalls; set maxSurge: 0 and maxUnavailable: 1"),
        );
    }
    match ru.and_then(|r| r.max_unavailable.as_ref()) {
        None | Some(IntOrString::Int(1)) => {}
        Some(v) if v.is_zero() => out.report(
            "spec.updateStrategy.rollingUpdate.maxUnavailable",
            format!("maxUnavailable is {v}, but {why}, so the old pod has to stop before the new one starts; set maxUnavailable: 1{}", if surge.is_some() { " and maxSurge: 0" } else { " (0 with no surge is rejected by the API server)" }),
        ),
        Some(v) => out.report(
            "spec.updateStrategy.rollingUpdate.maxUnavailable",
            format!("maxUnavailable is {v}: a rollout may take the pods of several nodes down at once; {why}, so they cannot surge, and maxUnavailable: 1 (one node at a time) is the most capacity a rollout of them can keep"),
        ),
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

    /// A DaemonSet on hostPort or hostNetwork with `pod` as its pod spec (flow YAML) and
    /// `strategy` as its updateStrategy.
    fn host_ds(pod: &str, strategy: &str) -> String {
        format!(
            "kind: DaemonSet\nspec:\n  updateStrategy: {strategy}\n  template: {{spec: {pod}}}\n"
        )
    }

    const NODE_EXPORTER: &str = "{hostNetwork: true, hostPID: true, containers: [{name: e, ports: [{containerPort: 9100, hostPort: 9100}]}]}";
    const HOST_PORT: &str = "{containers: [{name: e, ports: [{containerPort: 80}, {containerPort: 9100, hostPort: 9100}]}]}";

    #[test]
    fn daemonset_that_cannot_surge_rolls_one_node_at_a_time() {
        for pod in [NODE_EXPORTER, HOST_PORT] {
            for ok in [
                "null",
                "{type: RollingUpdate}",
                "{rollingUpdate: {maxUnavailable: 1}}",
                "{rollingUpdate: {maxUnavailable: 1, maxSurge: 0}}",
                "{rollingUpdate: {maxUnavailable: 1, maxSurge: '0%'}}",
            ] {
                let f = run(&RollingUpdate, &host_ds(pod, ok));
                assert!(f.is_empty(), "{pod} {ok}: {f:?}");
            }
            // What the rule asks of DaemonSets that can surge is impossible here.
            let f = run(
                &RollingUpdate,
                &host_ds(pod, "{rollingUpdate: {maxUnavailable: 0, maxSurge: 1}}"),
            );
            assert_eq!(
                paths(&f),
                [
                    "spec.updateStrategy.rollingUpdate.maxSurge",
                    "spec.updateStrategy.rollingUpdate.maxUnavailable",
                ],
                "{pod}"
            );
            assert!(
                f[0].message
                    .contains("cannot start on a node beside the old one"),
                "{}",
                f[0].message
            );
            assert!(
                f[1].message
                    .contains("set maxUnavailable: 1 and maxSurge: 0"),
                "{}",
                f[1].message
            );
            // More than one node at a time.
            for wide in [
                "{rollingUpdate: {maxUnavailable: 2}}",
                "{rollingUpdate: {maxUnavailable: '10%'}}",
            ] {
                let f = run(&RollingUpdate, &host_ds(pod, wide));
                assert_eq!(
                    paths(&f),
                    ["spec.updateStrategy.rollingUpdate.maxUnavailable"],
                    "{pod} {wide}"
                );
                assert!(
                    f[0].message.contains("one node at a time"),
                    "{}",
                    f[0].message
                );
            }
            assert_eq!(
                paths(&run(&RollingUpdate, &host_ds(pod, "{type: OnDelete}"))),
                ["spec.updateStrategy.type"]
            );
        }
        // The message says why the pods cannot surge.
        let f = run(
            &RollingUpdate,
            &host_ds(HOST_PORT, "{rollingUpdate: {maxSurge: 1}}"),
        );
        assert!(
            f[0].message
                .contains("containers[0].ports[1] binds hostPort 9100"),
            "{}",
            f[0].message
        );
        let f = run(
            &RollingUpdate,
            &host_ds(NODE_EXPORTER, "{rollingUpdate: {maxSurge: 1}}"),
        );
        assert!(f[0].message.contains("hostNetwork"), "{}", f[0].message);
        // A sidecar's host port blocks the surge pod too.
        let sidecar = "{initContainers: [{name: s, restartPolicy: Always, ports: [{containerPort: 53, hostPort: 53}]}], containers: [{name: a}]}";
        assert!(run(&RollingUpdate, &host_ds(sidecar, "null")).is_empty());
    }

    /// The relaxation is earned by a real host port or host network only: a tenant cannot
    /// claim it with fields that bind nothing on the node.
    #[test]
    fn declaring_no_host_port_does_not_earn_the_no_surge_floor() {
        for pod in [
            "{hostNetwork: false, containers: [{name: a, ports: [{containerPort: 80}]}]}",
            "{containers: [{name: a, ports: [{containerPort: 80, hostPort: 0}]}]}",
            "{containers: [{name: a, ports: [{containerPort: 80, hostPort: null}]}]}",
        ] {
            assert_eq!(
                paths(&run(
                    &RollingUpdate,
                    &host_ds(pod, "{rollingUpdate: {maxUnavailable: 1}}")
                )),
                [
                    "spec.updateStrategy.rollingUpdate.maxUnavailable",
                    "spec.updateStrategy.rollingUpdate.maxSurge",
                ],
                "{pod}"
            );
        }
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
