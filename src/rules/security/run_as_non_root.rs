//! `run-as-non-root`: containers must run as non-root (PSS restricted "Running as Non-root"
//! and "Running as Non-root user"): `runAsNonRoot: true` at pod level or on every container,
//! never `false` anywhere, and `runAsUser` never 0. Pods in a user namespace
//! (`hostUsers: false`) are exempt, as in PSS v1.35+ (root there is not root on the node).

use super::{container_sc, container_sc_path, describe, in_user_namespace, pod_sc, pod_sc_path};
use crate::engine::{Category, CheckCx, PssLevel, Rule, RuleMeta, Severity, Sink};

/// The rule.
pub struct RunAsNonRoot;

static META: RuleMeta = RuleMeta {
    id: "run-as-non-root",
    category: Category::Security,
    severity: Severity::Error,
    enabled_by_default: true,
    pss: Some(PssLevel::Restricted),
    summary: "Containers must run as a non-root user: runAsNonRoot true and runAsUser never 0",
    remediation: "Set spec.securityContext.runAsNonRoot: true (or on every container), remove runAsNonRoot: false and runAsUser: 0",
};

impl Rule for RunAsNonRoot {
    fn meta(&self) -> &'static RuleMeta {
        &META
    }

    fn check(&self, cx: &CheckCx<'_>, out: &mut Sink<'_>) {
        let Some((_, pod)) = cx.obj.pod() else { return };
        if in_user_namespace(pod) {
            return;
        }
        let pod_sc = pod_sc(pod);
        let pod_non_root = pod_sc.and_then(|s| s.run_as_non_root);
        if pod_non_root == Some(false) {
            out.report(
                pod_sc_path(cx, "runAsNonRoot"),
                "the pod sets securityContext.runAsNonRoot: false",
            );
        }
        if pod_sc.and_then(|s| s.run_as_user) == Some(0) {
            out.report(
                pod_sc_path(cx, "runAsUser"),
                "the pod sets securityContext.runAsUser: 0 (root)",
            );
        }
        for c in pod.all_containers() {
            let sc = container_sc(&c);
            match sc.and_then(|s| s.run_as_non_root) {
                Some(true) => {}
                Some(false) => out.report(
                    container_sc_path(cx, &c, "runAsNonRoot"),
                    format!("{} sets securityContext.runAsNonRoot: false", describe(&c)),
                ),
                // Inherits the pod's value: fine when true, already reported when false.
                None if pod_non_root.is_some() => {}
                None => out.report(
                    container_sc_path(cx, &c, "runAsNonRoot"),
                    format!(
                        "{} does not set securityContext.runAsNonRoot: true and the pod does not set it either",
                        describe(&c)
                    ),
                ),
            }
            if sc.and_then(|s| s.run_as_user) == Some(0) {
                out.report(
                    container_sc_path(cx, &c, "runAsUser"),
                    format!("{} sets securityContext.runAsUser: 0 (root)", describe(&c)),
                );
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rules::testing::{paths, run};

    #[test]
    fn unset_everywhere_points_at_each_container() {
        let f = run(
            &RunAsNonRoot,
            "kind: Deployment\nspec:\n  template:\n    spec:\n      containers: [{name: a}, {name: b, securityContext: {runAsNonRoot: true}}]\n      initContainers: [{name: i}]\n",
        );
        assert_eq!(
            paths(&f),
            [
                "spec.template.spec.containers[0].securityContext.runAsNonRoot",
                "spec.template.spec.initContainers[0].securityContext.runAsNonRoot"
            ]
        );
        assert!(f[0].message.contains("container \"a\""), "{}", f[0].message);
    }

    #[test]
    fn explicit_false_is_flagged_at_pod_and_container() {
        let f = run(
            &RunAsNonRoot,
            "kind: Pod\nspec:\n  securityContext: {runAsNonRoot: false}\n  containers: [{name: a}, {name: b, securityContext: {runAsNonRoot: false}}, {name: c, securityContext: {runAsNonRoot: true}}]\n",
        );
        assert_eq!(
            paths(&f),
            [
                "spec.securityContext.runAsNonRoot",
                "spec.containers[1].securityContext.runAsNonRoot"
            ]
        );
    }

    #[test]
    fn container_false_overrides_pod_true() {
        let f = run(
            &RunAsNonRoot,
            "kind: Pod\nspec:\n  securityContext: {runAsNonRoot: true}\n  containers: [{name: a}]\n  ephemeralContainers: [{name: e, securityContext: {runAsNonRoot: false}}]\n",
        );
        assert_eq!(
            paths(&f),
            ["spec.ephemeralContainers[0].securityContext.runAsNonRoot"]
        );
    }

    #[test]
    fn run_as_user_zero_is_flagged_at_pod_and_container() {
        let f = run(
            &RunAsNonRoot,
            "kind: Pod\nspec:\n  securityContext: {runAsNonRoot: true, runAsUser: 0}\n  containers: [{name: a, securityContext: {runAsUser: 1000}}, {name: b, securityContext: {runAsUser: 0}}]\n",
        );
        assert_eq!(
            paths(&f),
            [
                "spec.securityContext.runAsUser",
                "spec.containers[1].securityContext.runAsUser"
            ]
        );
    }

    #[test]
    fn passes_pod_level_true_or_every_container_true() {
        for yaml in [
            "kind: Pod\nspec:\n  securityContext: {runAsNonRoot: true, runAsUser: 1000}\n  containers: [{name: a}]\n  initContainers: [{name: i}]\n",
            "kind: Pod\nspec:\n  containers: [{name: a, securityContext: {runAsNonRoot: true}}]\n  initContainers: [{name: i, securityContext: {runAsNonRoot: true, runAsUser: 1}}]\n",
        ] {
            assert!(run(&RunAsNonRoot, yaml).is_empty(), "{yaml}");
        }
    }

    #[test]
    fn user_namespace_pods_are_exempt() {
        let f = run(
            &RunAsNonRoot,
            "kind: Pod\nspec:\n  hostUsers: false\n  securityContext: {runAsUser: 0}\n  containers: [{name: a}]\n",
        );
        assert!(f.is_empty(), "{f:?}");
        let f = run(
            &RunAsNonRoot,
            "kind: Pod\nspec:\n  hostUsers: true\n  containers: [{name: a}]\n",
        );
        assert_eq!(
            paths(&f),
            ["spec.containers[0].securityContext.runAsNonRoot"]
        );
    }
}
