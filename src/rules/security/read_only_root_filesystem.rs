//! `read-only-root-filesystem`: every container (except ephemeral debug containers) runs
//! with a read-only root filesystem. Container hardening beyond the Pod Security Standards.
//! Windows pods (`spec.os.name: windows`) are exempt: the field cannot be set there.

use super::{container_sc, container_sc_path, describe};
use crate::engine::{Category, CheckCx, Rule, RuleMeta, Severity, Sink};
use crate::workload::ContainerKind;

/// The rule.
pub struct ReadOnlyRootFilesystem;

static META: RuleMeta = RuleMeta {
    id: "read-only-root-filesystem",
    category: Category::Security,
    severity: Severity::Error,
    enabled_by_default: true,
    pss: None,
    summary: "Containers must set readOnlyRootFilesystem: true",
    remediation: "Set securityContext.readOnlyRootFilesystem: true and mount an emptyDir volume on each path the container writes to",
};

impl Rule for ReadOnlyRootFilesystem {
    fn meta(&self) -> &'static RuleMeta {
        &META
    }

    fn check(&self, cx: &CheckCx<'_>, out: &mut Sink<'_>) {
        let Some((_, pod)) = cx.obj.pod() else { return };
        // The API server rejects readOnlyRootFilesystem on pods with spec.os.name: windows
        // (it is a Linux-only field), so the requirement cannot apply to them.
        if pod.is_windows() {
            return;
        }
        // Ephemeral containers are interactive debugging sessions, added after admission of
        // the pod; requiring a read-only root there would only get in the way of debugging.
        for c in pod
            .all_containers()
            .filter(|c| c.kind != ContainerKind::Ephemeral)
        {
            let message = match container_sc(&c).and_then(|s| s.read_only_root_filesystem) {
                Some(true) => continue,
                Some(false) => format!("{} sets readOnlyRootFilesystem: false", describe(&c)),
                None => format!(
                    "{} does not set securityContext.readOnlyRootFilesystem: true",
                    describe(&c)
                ),
            };
            out.report(container_sc_path(cx, &c, "readOnlyRootFilesystem"), message);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rules::testing::{paths, run};

    #[test]
    fn flags_unset_and_false_but_not_ephemeral() {
        let f = run(
            &ReadOnlyRootFilesystem,
            "kind: Deployment\nspec:\n  template:\n    spec:\n      containers:\n      - {name: a, securityContext: {readOnlyRootFilesystem: true}}\n      - {name: b, securityContext: {readOnlyRootFilesystem: false}}\n      initContainers: [{name: i}]\n      ephemeralContainers: [{name: debug}]\n",
        );
        assert_eq!(
            paths(&f),
            [
                "spec.template.spec.containers[1].securityContext.readOnlyRootFilesystem",
                "spec.template.spec.initContainers[0].securityContext.readOnlyRootFilesystem"
            ]
        );
        assert!(f[0].message.contains("false"), "{}", f[0].message);
        assert!(
            f[1].message.contains("init container \"i\""),
            "{}",
            f[1].message
        );
    }

    #[test]
    fn windows_pods_are_exempt() {
        let f = run(
            &ReadOnlyRootFilesystem,
            "kind: Pod\nspec:\n  os: {name: windows}\n  containers: [{name: a}]\n",
        );
        assert!(f.is_empty(), "{f:?}");
    }

    #[test]
    fn passes_read_only_everywhere() {
        let f = run(
            &ReadOnlyRootFilesystem,
            "kind: Pod\nspec:\n  containers: [{name: a, securityContext: {readOnlyRootFilesystem: true}}]\n  initContainers: [{name: i, securityContext: {readOnlyRootFilesystem: true}}]\n",
        );
        assert!(f.is_empty(), "{f:?}");
    }
}
