//! `readiness-probe`: every long-running container of a long-running workload has a
//! `readinessProbe`, so Services only route to pods that can answer and rollouts wait for
//! new pods to be ready before retiring old ones.

use super::liveness_probe::check_probe;
use crate::engine::{Category, CheckCx, Rule, RuleMeta, Severity, Sink};

/// The rule.
pub struct ReadinessProbe;

static META: RuleMeta = RuleMeta {
    id: "readiness-probe",
    category: Category::Availability,
    severity: Severity::Error,
    enabled_by_default: true,
    pss: None,
    summary: "Long-running containers (and sidecars) define a readinessProbe",
    remediation: "Add a readinessProbe (httpGet, tcpSocket, grpc or exec) to every container and restartPolicy: Always init container",
};

impl Rule for ReadinessProbe {
    fn meta(&self) -> &'static RuleMeta {
        &META
    }

    fn check(&self, cx: &CheckCx<'_>, out: &mut Sink<'_>) {
        check_probe(cx, out, "readinessProbe", |c| c.readiness_probe.as_ref());
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rules::testing::{paths, run};

    #[test]
    fn flags_missing_readiness_probe_with_exact_path() {
        let f = run(
            &ReadinessProbe,
            "kind: Deployment\nspec:\n  template:\n    spec:\n      containers:\n      - {name: a, livenessProbe: {httpGet: {port: 80}}}\n      - {name: b, readinessProbe: {httpGet: {port: 80}}}\n",
        );
        assert_eq!(
            paths(&f),
            ["spec.template.spec.containers[0].readinessProbe"]
        );
        assert_eq!(f[0].rule, "readiness-probe");
    }

    #[test]
    fn sidecars_need_one_too_but_plain_init_containers_do_not() {
        let f = run(
            &ReadinessProbe,
            "kind: DaemonSet\nspec:\n  template:\n    spec:\n      containers: [{name: a, readinessProbe: {grpc: {port: 9000}}}]\n      initContainers:\n      - {name: setup}\n      - {name: proxy, restartPolicy: Always}\n",
        );
        assert_eq!(
            paths(&f),
            ["spec.template.spec.initContainers[1].readinessProbe"]
        );
    }

    #[test]
    fn passes_with_probes_and_skips_jobs() {
        assert!(run(
            &ReadinessProbe,
            "kind: Pod\nspec:\n  containers: [{name: a, readinessProbe: {tcpSocket: {port: 80}}}]\n",
        )
        .is_empty());
        assert!(
            run(
                &ReadinessProbe,
                "kind: Job\nspec: {template: {spec: {containers: [{name: a}]}}}\n"
            )
            .is_empty()
        );
    }
}
