//! `privilege-escalation`: every container sets `allowPrivilegeEscalation: false` (PSS
//! restricted "Privilege Escalation"; Windows pods are exempt).

use super::{container_sc, container_sc_path, describe};
use crate::engine::{Category, CheckCx, PssLevel, Rule, RuleMeta, Severity, Sink};

/// The rule.
pub struct PrivilegeEscalation;

static META: RuleMeta = RuleMeta {
    id: "privilege-escalation",
    category: Category::Security,
    severity: Severity::Error,
    enabled_by_default: true,
    pss: Some(PssLevel::Restricted),
    summary: "Containers must set allowPrivilegeEscalation: false",
    remediation: "Set securityContext.allowPrivilegeEscalation: false on every container",
};

impl Rule for PrivilegeEscalation {
    fn meta(&self) -> &'static RuleMeta {
        &META
    }

    fn check(&self, cx: &CheckCx<'_>, out: &mut Sink<'_>) {
        let Some((_, pod)) = cx.obj.pod() else { return };
        // PSS v1.25+: the check does not apply to Windows pods (no setuid binaries there).
        if pod.is_windows() {
            return;
        }
        for c in pod.all_containers() {
            let message = match container_sc(&c).and_then(|s| s.allow_privilege_escalation) {
                Some(false) => continue,
                Some(true) => format!("{} sets allowPrivilegeEscalation: true", describe(&c)),
                None => format!(
                    "{} does not set securityContext.allowPrivilegeEscalation: false",
                    describe(&c)
                ),
            };
            out.report(
                container_sc_path(cx, &c, "allowPrivilegeEscalation"),
                message,
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rules::testing::{paths, run};

    #[test]
    fn flags_true_and_unset_with_exact_paths() {
        let f = run(
            &PrivilegeEscalation,
            "kind: Deployment\nspec:\n  template:\n    spec:\n      containers:\n      - {name: a, securityContext: {allowPrivilegeEscalation: false}}\n      - {name: b, securityContext: {allowPrivilegeEscalation: true}}\n      initContainers:\n      - {name: i}\n",
        );
        assert_eq!(
            paths(&f),
            [
                "spec.template.spec.containers[1].securityContext.allowPrivilegeEscalation",
                "spec.template.spec.initContainers[0].securityContext.allowPrivilegeEscalation"
            ]
        );
        assert!(f[0].message.contains("true"), "{}", f[0].message);
        assert!(
            f[1].message.contains("init container \"i\""),
            "{}",
            f[1].message
        );
    }

    #[test]
    fn passes_explicit_false_everywhere() {
        let f = run(
            &PrivilegeEscalation,
            "kind: Pod\nspec:\n  containers: [{name: a, securityContext: {allowPrivilegeEscalation: false}}]\n  ephemeralContainers: [{name: e, securityContext: {allowPrivilegeEscalation: false}}]\n",
        );
        assert!(f.is_empty(), "{f:?}");
    }

    #[test]
    fn windows_pods_are_exempt() {
        let f = run(
            &PrivilegeEscalation,
            "kind: Pod\nspec:\n  os: {name: windows}\n  containers: [{name: a}]\n",
        );
        assert!(f.is_empty(), "{f:?}");
    }
}
