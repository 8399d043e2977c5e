//! `liveness-probe`: every long-running container of a long-running workload has a
//! `livenessProbe`, so the kubelet restarts it when it wedges instead of leaving a dead pod
//! in rotation. Also home of the probe check shared with `readiness-probe` and `startup-probe`.

use crate::engine::{Category, CheckCx, Rule, RuleMeta, Severity, Sink};
use crate::workload::{Container, Handler};

/// The rule.
pub struct LivenessProbe;

static META: RuleMeta = RuleMeta {
    id: "liveness-probe",
    category: Category::Availability,
    severity: Severity::Error,
    enabled_by_default: true,
    pss: None,
    summary: "Long-running containers (and sidecars) define a livenessProbe",
    remediation: "Add a livenessProbe (httpGet, tcpSocket, grpc or exec) to every container and restartPolicy: Always init container",
};

impl Rule for LivenessProbe {
    fn meta(&self) -> &'static RuleMeta {
        &META
    }

    fn check(&self, cx: &CheckCx<'_>, out: &mut Sink<'_>) {
        check_probe(cx, out, "livenessProbe", |c| c.liveness_probe.as_ref());
    }
}

/// Reports every long-running container (regular containers and sidecars) of a long-running
/// workload that lacks the probe `field` (camelCase), which `probe` reads from a container.
/// Jobs, CronJobs and run-to-completion Pods are skipped: they are not meant to stay up.
pub(crate) fn check_probe(
    cx: &CheckCx<'_>,
    out: &mut Sink<'_>,
    field: &str,
    probe: impl Fn(&Container) -> Option<&Handler>,
) {
    if !cx.obj.is_long_running() {
        return;
    }
    let Some((_, pod)) = cx.obj.pod() else { return };
    for c in pod.all_containers().filter(|c| c.is_long_running()) {
        if probe(c.container).is_none() {
            out.report(
                cx.pod_path(&format!("{}.{field}", c.rel_path())),
                format!("container {:?} has no {field}", c.container.name),
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rules::testing::{paths, run};

    #[test]
    fn flags_containers_and_sidecars_without_probe() {
        let f = run(
            &LivenessProbe,
            "kind: Deployment\nspec:\n  template:\n    spec:\n      containers:\n      - {name: a, livenessProbe: {httpGet: {path: /healthz, port: 8080}}}\n      - {name: b}\n      initContainers:\n      - {name: init}\n      - {name: sidecar, restartPolicy: Always}\n",
        );
        assert_eq!(
            paths(&f),
            [
                "spec.template.spec.containers[1].livenessProbe",
                "spec.template.spec.initContainers[1].livenessProbe",
            ]
        );
        assert!(f[0].message.contains("\"b\""), "{}", f[0].message);
        assert_eq!(f[0].severity, Severity::Error);
    }

    #[test]
    fn passes_when_every_long_running_container_has_one() {
        let f = run(
            &LivenessProbe,
            "kind: StatefulSet\nspec:\n  template:\n    spec:\n      containers: [{name: a, livenessProbe: {tcpSocket: {port: 5432}}}]\n      initContainers: [{name: migrate}]\n",
        );
        assert!(f.is_empty(), "{f:?}");
    }

    #[test]
    fn bare_pods_use_the_pod_spec_path() {
        let f = run(
            &LivenessProbe,
            "kind: Pod\nspec:\n  containers: [{name: a}]\n",
        );
        assert_eq!(paths(&f), ["spec.containers[0].livenessProbe"]);
    }

    #[test]
    fn run_to_completion_workloads_are_skipped() {
        for yaml in [
            "kind: Job\nspec: {template: {spec: {containers: [{name: a}]}}}\n",
            "kind: CronJob\nspec: {jobTemplate: {spec: {template: {spec: {containers: [{name: a}]}}}}}\n",
            "kind: Pod\nspec: {restartPolicy: Never, containers: [{name: a}]}\n",
            "kind: Pod\nspec: {restartPolicy: OnFailure, containers: [{name: a}]}\n",
        ] {
            assert!(run(&LivenessProbe, yaml).is_empty(), "{yaml}");
        }
    }

    #[test]
    fn ephemeral_containers_are_not_required_to_probe() {
        let f = run(
            &LivenessProbe,
            "kind: Pod\nspec:\n  containers: [{name: a, livenessProbe: {exec: {command: [true]}}}]\n  ephemeralContainers: [{name: debug}]\n",
        );
        assert!(f.is_empty(), "{f:?}");
    }
}
