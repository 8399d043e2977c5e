//! `host-namespaces`: the pod must not share the host's network, PID or IPC namespace
//! (PSS baseline "Host Namespaces").

use crate::engine::{Category, CheckCx, PssLevel, Rule, RuleMeta, Severity, Sink};

/// The rule.
pub struct HostNamespaces;

static META: RuleMeta = RuleMeta {
    id: "host-namespaces",
    category: Category::Security,
    severity: Severity::Error,
    enabled_by_default: true,
    pss: Some(PssLevel::Baseline),
    summary: "Pods must not share the host's network, PID or IPC namespace",
    remediation: "Remove hostNetwork, hostPID and hostIPC from the pod spec or set them to false",
};

impl Rule for HostNamespaces {
    fn meta(&self) -> &'static RuleMeta {
        &META
    }

    fn check(&self, cx: &CheckCx<'_>, out: &mut Sink<'_>) {
        let Some((_, pod)) = cx.obj.pod() else { return };
        for (field, value, namespace) in [
            ("hostNetwork", pod.host_network, "network"),
            ("hostPID", pod.host_pid, "process (PID)"),
            ("hostIPC", pod.host_ipc, "IPC"),
        ] {
            if value == Some(true) {
                out.report(
                    cx.pod_path(field),
                    format!("the pod shares the host's {namespace} namespace ({field}: true)"),
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
    fn flags_each_host_namespace_with_exact_path() {
        let f = run(
            &HostNamespaces,
            "kind: Deployment\nspec:\n  template:\n    spec:\n      hostNetwork: true\n      hostPID: true\n      hostIPC: true\n      containers: [{name: a}]\n",
        );
        assert_eq!(
            paths(&f),
            [
                "spec.template.spec.hostNetwork",
                "spec.template.spec.hostPID",
                "spec.template.spec.hostIPC"
            ]
        );
        assert!(f[0].message.contains("network"), "{}", f[0].message);
    }

    #[test]
    fn cronjob_path_goes_through_job_template() {
        let f = run(
            &HostNamespaces,
            "kind: CronJob\nspec:\n  jobTemplate:\n    spec:\n      template:\n        spec:\n          hostIPC: true\n          containers: [{name: a}]\n",
        );
        assert_eq!(paths(&f), ["spec.jobTemplate.spec.template.spec.hostIPC"]);
    }

    #[test]
    fn passes_unset_and_false() {
        let f = run(
            &HostNamespaces,
            "kind: Pod\nspec:\n  hostNetwork: false\n  hostPID: false\n  containers: [{name: a}]\n",
        );
        assert!(f.is_empty(), "{f:?}");
    }
}
