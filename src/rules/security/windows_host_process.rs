//! `windows-host-process`: no Windows HostProcess containers (PSS baseline "HostProcess").

use super::{container_sc, container_sc_path, describe, pod_sc, pod_sc_path};
use crate::engine::{Category, CheckCx, PssLevel, Rule, RuleMeta, Severity, Sink};

/// The rule.
pub struct WindowsHostProcess;

static META: RuleMeta = RuleMeta {
    id: "windows-host-process",
    category: Category::Security,
    severity: Severity::Error,
    enabled_by_default: true,
    pss: Some(PssLevel::Baseline),
    summary: "Pods and containers must not run as Windows HostProcess",
    remediation: "Remove securityContext.windowsOptions.hostProcess or set it to false, on the pod and every container",
};

impl Rule for WindowsHostProcess {
    fn meta(&self) -> &'static RuleMeta {
        &META
    }

    fn check(&self, cx: &CheckCx<'_>, out: &mut Sink<'_>) {
        let Some((_, pod)) = cx.obj.pod() else { return };
        let pod_hp = pod_sc(pod)
            .and_then(|s| s.windows_options.as_ref())
            .and_then(|w| w.host_process);
        if pod_hp == Some(true) {
            out.report(
                pod_sc_path(cx, "windowsOptions.hostProcess"),
                "the pod sets windowsOptions.hostProcess: true (a Windows HostProcess pod has host access)",
            );
        }
        for c in pod.all_containers() {
            let hp = container_sc(&c)
                .and_then(|s| s.windows_options.as_ref())
                .and_then(|w| w.host_process);
            if hp == Some(true) {
                out.report(
                    container_sc_path(cx, &c, "windowsOptions.hostProcess"),
                    format!("{} sets windowsOptions.hostProcess: true", describe(&c)),
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
    fn flags_pod_and_container_host_process_with_exact_paths() {
        let f = run(
            &WindowsHostProcess,
            "kind: DaemonSet\nspec:\n  template:\n    spec:\n      securityContext: {windowsOptions: {hostProcess: true}}\n      containers: [{name: a, securityContext: {windowsOptions: {}}}]\n      initContainers: [{name: i, securityContext: {windowsOptions: {hostProcess: true}}}]\n",
        );
        assert_eq!(
            paths(&f),
            [
                "spec.template.spec.securityContext.windowsOptions.hostProcess",
                "spec.template.spec.initContainers[0].securityContext.windowsOptions.hostProcess"
            ]
        );
        assert!(
            f[1].message.contains("init container \"i\""),
            "{}",
            f[1].message
        );
    }

    #[test]
    fn passes_unset_and_false() {
        let f = run(
            &WindowsHostProcess,
            "kind: Pod\nspec:\n  securityContext: {windowsOptions: {hostProcess: false}}\n  containers: [{name: a}, {name: b, securityContext: {windowsOptions: {hostProcess: false}}}]\n",
        );
        assert!(f.is_empty(), "{f:?}");
    }
}
