//! `privileged`: no container runs privileged (PSS baseline "Privileged Containers").

use crate::engine::{Category, CheckCx, PssLevel, Rule, RuleMeta, Severity, Sink};

/// The rule.
pub struct Privileged;

static META: RuleMeta = RuleMeta {
    id: "privileged",
    category: Category::Security,
    severity: Severity::Error,
    enabled_by_default: true,
    pss: Some(PssLevel::Baseline),
    summary: "Containers must not run privileged",
    remediation: "Remove securityContext.privileged or set it to false",
};

impl Rule for Privileged {
    fn meta(&self) -> &'static RuleMeta {
        &META
    }

    fn check(&self, cx: &CheckCx<'_>, out: &mut Sink<'_>) {
        let Some((_, pod)) = cx.obj.pod() else { return };
        for c in pod.all_containers() {
            let sc = c.container.security_context.as_ref();
            if sc.and_then(|s| s.privileged) == Some(true) {
                out.report(
                    cx.pod_path(&format!("{}.securityContext.privileged", c.rel_path())),
                    format!("container {:?} is privileged", c.container.name),
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
    fn flags_privileged_init_container_with_exact_path() {
        let f = run(
            &Privileged,
            "kind: Deployment\nspec:\n  template:\n    spec:\n      containers: [{name: a}]\n      initContainers: [{name: i, securityContext: {privileged: true}}]\n",
        );
        assert_eq!(
            paths(&f),
            ["spec.template.spec.initContainers[0].securityContext.privileged"]
        );
    }

    #[test]
    fn passes_unset_and_false() {
        let f = run(
            &Privileged,
            "kind: Pod\nspec:\n  containers: [{name: a}, {name: b, securityContext: {privileged: false}}]\n",
        );
        assert!(f.is_empty());
    }
}
