//! `proc-mount`: containers keep the default masked `/proc` (PSS baseline "/proc Mount
//! Type", relaxed for pods in a user namespace since v1.35; PSS restricted "/proc Mount
//! Type", never relaxed).

use super::{container_sc, container_sc_path, describe, in_user_namespace, restricted};
use crate::engine::{Category, CheckCx, PssLevel, Rule, RuleMeta, Severity, Sink};

/// The rule.
pub struct ProcMount;

static META: RuleMeta = RuleMeta {
    id: "proc-mount",
    category: Category::Security,
    severity: Severity::Error,
    enabled_by_default: true,
    pss: Some(PssLevel::Baseline),
    summary: "procMount must be unset or Default (baseline allows Unmasked only with hostUsers: false)",
    remediation: "Remove securityContext.procMount or set it to Default",
};

impl Rule for ProcMount {
    fn meta(&self) -> &'static RuleMeta {
        &META
    }

    fn check(&self, cx: &CheckCx<'_>, out: &mut Sink<'_>) {
        let Some((_, pod)) = cx.obj.pod() else { return };
        let restricted = restricted(cx);
        // Baseline (v1.35+): a pod in its own user namespace may use any procMount.
        if !restricted && in_user_namespace(pod) {
            return;
        }
        for c in pod.all_containers() {
            let Some(mount) = container_sc(&c).and_then(|s| s.proc_mount.as_deref()) else {
                continue;
            };
            if mount == "Default" {
                continue;
            }
            let why = if restricted {
                "the restricted level allows only Default"
            } else {
                "only Default is allowed unless the pod runs in a user namespace (hostUsers: false)"
            };
            out.report(
                container_sc_path(cx, &c, "procMount"),
                format!(
                    "{} sets securityContext.procMount {mount:?}: {why}",
                    describe(&c)
                ),
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Policy;
    use crate::rules::testing::{paths, run, run_with};

    fn baseline() -> Policy {
        Policy::from_yaml("podSecurity: baseline").expect("policy")
    }

    const UNMASKED: &str = "kind: Deployment\nspec:\n  template:\n    spec:\n      HOSTUSERS\n      containers: [{name: a, securityContext: {procMount: Default}}, {name: b}]\n      initContainers: [{name: i, securityContext: {procMount: Unmasked}}]\n";

    #[test]
    fn baseline_flags_unmasked_in_host_user_namespace() {
        let yaml = UNMASKED.replace("HOSTUSERS", "hostUsers: true");
        let f = run_with(&ProcMount, &yaml, &baseline(), None);
        assert_eq!(
            paths(&f),
            ["spec.template.spec.initContainers[0].securityContext.procMount"]
        );
        assert!(
            f[0].message.contains("init container \"i\""),
            "{}",
            f[0].message
        );
        let unset = UNMASKED.replace("HOSTUSERS", "hostNetwork: false");
        assert_eq!(run_with(&ProcMount, &unset, &baseline(), None).len(), 1);
    }

    #[test]
    fn baseline_allows_unmasked_in_a_user_namespace() {
        let yaml = UNMASKED.replace("HOSTUSERS", "hostUsers: false");
        assert!(run_with(&ProcMount, &yaml, &baseline(), None).is_empty());
    }

    #[test]
    fn restricted_flags_unmasked_even_in_a_user_namespace() {
        let yaml = UNMASKED.replace("HOSTUSERS", "hostUsers: false");
        let f = run(&ProcMount, &yaml);
        assert_eq!(
            paths(&f),
            ["spec.template.spec.initContainers[0].securityContext.procMount"]
        );
        assert!(f[0].message.contains("restricted"), "{}", f[0].message);
    }

    #[test]
    fn passes_unset_and_default() {
        let f = run(
            &ProcMount,
            "kind: Pod\nspec:\n  containers: [{name: a}, {name: b, securityContext: {procMount: Default}}]\n",
        );
        assert!(f.is_empty(), "{f:?}");
    }
}
