//! `host-path-volumes`: no hostPath volumes (PSS baseline "HostPath Volumes").

use crate::engine::{Category, CheckCx, PssLevel, Rule, RuleMeta, Severity, Sink};

/// The rule.
pub struct HostPathVolumes;

static META: RuleMeta = RuleMeta {
    id: "host-path-volumes",
    category: Category::Security,
    severity: Severity::Error,
    enabled_by_default: true,
    pss: Some(PssLevel::Baseline),
    summary: "Pods must not mount hostPath volumes",
    remediation: "Replace hostPath volumes with emptyDir, configMap, secret, projected or persistentVolumeClaim volumes",
};

impl Rule for HostPathVolumes {
    fn meta(&self) -> &'static RuleMeta {
        &META
    }

    fn check(&self, cx: &CheckCx<'_>, out: &mut Sink<'_>) {
        let Some((_, pod)) = cx.obj.pod() else { return };
        for (i, v) in pod.volumes.iter().enumerate() {
            if v.sources.iter().any(|s| s == "hostPath") {
                out.report(
                    cx.pod_path(&format!("volumes[{i}].hostPath")),
                    format!("volume {:?} mounts a path of the host (hostPath)", v.name),
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
    fn flags_host_path_volumes_with_exact_path() {
        let f = run(
            &HostPathVolumes,
            "kind: StatefulSet\nspec:\n  template:\n    spec:\n      containers: [{name: a}]\n      volumes:\n      - {name: scratch, emptyDir: {}}\n      - {name: host, hostPath: {path: /var/run}}\n",
        );
        assert_eq!(paths(&f), ["spec.template.spec.volumes[1].hostPath"]);
        assert!(f[0].message.contains("\"host\""), "{}", f[0].message);
    }

    #[test]
    fn passes_other_volumes_and_null_host_path() {
        let f = run(
            &HostPathVolumes,
            "kind: Pod\nspec:\n  containers: [{name: a}]\n  volumes:\n  - {name: c, configMap: {name: x}}\n  - {name: n, hostPath: null, emptyDir: {}}\n",
        );
        assert!(f.is_empty(), "{f:?}");
    }
}
