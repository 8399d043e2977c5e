//! `service-account`: pods run under their own service account, not the namespace's
//! `default` one (which every other pod shares), and say explicitly whether they mount its
//! API token (`automountServiceAccountToken`), instead of getting a token by default.

use crate::engine::{Category, CheckCx, Rule, RuleMeta, Severity, Sink};

/// The rule.
pub struct ServiceAccount;

static META: RuleMeta = RuleMeta {
    id: "service-account",
    category: Category::Hygiene,
    severity: Severity::Warning,
    enabled_by_default: true,
    pss: None,
    summary: "Pods use a dedicated service account and set automountServiceAccountToken explicitly",
    remediation: "Create a ServiceAccount for the workload, set serviceAccountName to it, and set automountServiceAccountToken: false unless the pod calls the API",
};

impl Rule for ServiceAccount {
    fn meta(&self) -> &'static RuleMeta {
        &META
    }

    fn check(&self, cx: &CheckCx<'_>, out: &mut Sink<'_>) {
        let Some((_, pod)) = cx.obj.pod() else { return };
        match pod.service_account() {
            None => out.report(
                cx.pod_path("serviceAccountName"),
                "serviceAccountName is unset: the pod runs as the namespace's shared default service account",
            ),
            Some("default") => out.report(
                cx.pod_path("serviceAccountName"),
                "the pod runs as the namespace's shared default service account",
            ),
            Some(_) => {}
        }
        if pod.automount_service_account_token.is_none() {
            out.report(
                cx.pod_path("automountServiceAccountToken"),
                "automountServiceAccountToken is unset: an API token is mounted by default; set it to false (or true if the pod needs the API)",
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rules::testing::{paths, run};

    #[test]
    fn dedicated_account_with_explicit_automount_passes() {
        for spec in [
            "{serviceAccountName: web, automountServiceAccountToken: false, containers: [{name: a}]}",
            "{serviceAccountName: operator, automountServiceAccountToken: true, containers: [{name: a}]}",
            "{serviceAccount: legacy, automountServiceAccountToken: false, containers: [{name: a}]}",
        ] {
            let f = run(&ServiceAccount, &format!("kind: Pod\nspec: {spec}\n"));
            assert!(f.is_empty(), "{spec}: {f:?}");
        }
    }

    #[test]
    fn unset_and_default_accounts_are_findings() {
        let f = run(
            &ServiceAccount,
            "kind: Deployment\nspec: {template: {spec: {containers: [{name: a}]}}}\n",
        );
        assert_eq!(
            paths(&f),
            [
                "spec.template.spec.serviceAccountName",
                "spec.template.spec.automountServiceAccountToken",
            ]
        );
        assert_eq!(f[0].severity, Severity::Warning);
        let f = run(
            &ServiceAccount,
            "kind: Deployment\nspec: {template: {spec: {serviceAccountName: default, automountServiceAccountToken: false}}}\n",
        );
        assert_eq!(paths(&f), ["spec.template.spec.serviceAccountName"]);
        let f = run(
            &ServiceAccount,
            "kind: Pod\nspec: {serviceAccountName: '', serviceAccount: default, automountServiceAccountToken: false}\n",
        );
        assert_eq!(paths(&f), ["spec.serviceAccountName"]);
    }

    #[test]
    fn non_pod_kinds_are_ignored() {
        assert!(run(&ServiceAccount, "kind: Namespace\nmetadata: {name: x}\n").is_empty());
    }
}
