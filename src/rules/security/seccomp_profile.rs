//! `seccomp-profile`: no seccomp profile is `Unconfined` (PSS baseline "Seccomp"); at the
//! restricted level every container runs under `RuntimeDefault` or `Localhost`, set on the
//! pod or on each container (PSS restricted "Seccomp"; Windows pods are exempt from the
//! restricted part).

use super::{container_sc, container_sc_path, describe, pod_sc, pod_sc_path, restricted};
use crate::engine::{Category, CheckCx, PssLevel, Rule, RuleMeta, Severity, Sink};

/// The rule.
pub struct SeccompProfile;

static META: RuleMeta = RuleMeta {
    id: "seccomp-profile",
    category: Category::Security,
    severity: Severity::Error,
    enabled_by_default: true,
    pss: Some(PssLevel::Baseline),
    summary: "Seccomp must not be Unconfined; restricted: RuntimeDefault or Localhost on the pod or every container",
    remediation: "Set spec.securityContext.seccompProfile.type: RuntimeDefault and remove Unconfined profiles",
};

/// The profile types the restricted level accepts.
fn valid(kind: Option<&str>) -> bool {
    matches!(kind, Some("RuntimeDefault" | "Localhost"))
}

/// A profile type for messages.
fn shown(kind: Option<&str>) -> String {
    match kind {
        Some(k) => format!("{k:?}"),
        None => "no type".into(),
    }
}

impl Rule for SeccompProfile {
    fn meta(&self) -> &'static RuleMeta {
        &META
    }

    fn check(&self, cx: &CheckCx<'_>, out: &mut Sink<'_>) {
        let Some((_, pod)) = cx.obj.pod() else { return };
        let restricted = restricted(cx) && !pod.is_windows();
        // `Some(type)` when the pod sets a profile at all (`type` may be missing).
        let pod_profile = pod_sc(pod)
            .and_then(|s| s.seccomp_profile.as_ref())
            .map(|p| p.kind.as_deref());
        if let Some(kind) = pod_profile {
            if kind == Some("Unconfined") {
                out.report(
                    pod_sc_path(cx, "seccompProfile.type"),
                    "the pod sets seccompProfile.type: Unconfined",
                );
            } else if restricted && !valid(kind) {
                out.report(
                    pod_sc_path(cx, "seccompProfile.type"),
                    format!(
                        "the pod sets seccompProfile with {}: the restricted level requires RuntimeDefault or Localhost",
                        shown(kind)
                    ),
                );
            }
        }
        for c in pod.all_containers() {
            let profile = container_sc(&c)
                .and_then(|s| s.seccomp_profile.as_ref())
                .map(|p| p.kind.as_deref());
            let path = || container_sc_path(cx, &c, "seccompProfile.type");
            match profile {
                Some(Some("Unconfined")) => out.report(
                    path(),
                    format!("{} sets seccompProfile.type: Unconfined", describe(&c)),
                ),
                Some(kind) if restricted && !valid(kind) => out.report(
                    path(),
                    format!(
                        "{} sets seccompProfile with {}: the restricted level requires RuntimeDefault or Localhost",
                        describe(&c),
                        shown(kind)
                    ),
                ),
                // Inherits the pod's profile; an invalid pod profile is reported above.
                None if restricted && pod_profile.is_none() => out.report(
                    path(),
                    format!(
                        "{} sets no seccomp profile and the pod sets none either: set seccompProfile.type to RuntimeDefault or Localhost",
                        describe(&c)
                    ),
                ),
                _ => {}
            }
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

    #[test]
    fn baseline_flags_unconfined_anywhere_only() {
        let yaml = "kind: Pod\nspec:\n  securityContext: {seccompProfile: {type: Unconfined}}\n  containers: [{name: a}, {name: b, securityContext: {seccompProfile: {type: RuntimeDefault}}}]\n  initContainers: [{name: i, securityContext: {seccompProfile: {type: Unconfined}}}]\n";
        let f = run_with(&SeccompProfile, yaml, &baseline(), None);
        assert_eq!(
            paths(&f),
            [
                "spec.securityContext.seccompProfile.type",
                "spec.initContainers[0].securityContext.seccompProfile.type"
            ]
        );
        assert!(
            f[1].message.contains("init container \"i\""),
            "{}",
            f[1].message
        );
    }

    #[test]
    fn baseline_passes_unset() {
        let yaml = "kind: Pod\nspec:\n  containers: [{name: a}]\n";
        assert!(run_with(&SeccompProfile, yaml, &baseline(), None).is_empty());
    }

    #[test]
    fn restricted_requires_a_profile_for_every_container() {
        let f = run(
            &SeccompProfile,
            "kind: Deployment\nspec:\n  template:\n    spec:\n      containers: [{name: a, securityContext: {seccompProfile: {type: RuntimeDefault}}}, {name: b}]\n      initContainers: [{name: i, securityContext: {seccompProfile: {}}}]\n",
        );
        assert_eq!(
            paths(&f),
            [
                "spec.template.spec.containers[1].securityContext.seccompProfile.type",
                "spec.template.spec.initContainers[0].securityContext.seccompProfile.type"
            ]
        );
        assert!(f[0].message.contains("container \"b\""), "{}", f[0].message);
        assert!(f[1].message.contains("no type"), "{}", f[1].message);
    }

    #[test]
    fn restricted_pod_level_profile_covers_containers_unless_overridden() {
        let f = run(
            &SeccompProfile,
            "kind: Pod\nspec:\n  securityContext: {seccompProfile: {type: Localhost, localhostProfile: p.json}}\n  containers: [{name: a}, {name: b, securityContext: {seccompProfile: {type: Unconfined}}}]\n",
        );
        assert_eq!(
            paths(&f),
            ["spec.containers[1].securityContext.seccompProfile.type"]
        );
    }

    #[test]
    fn restricted_unconfined_pod_is_reported_once() {
        let f = run(
            &SeccompProfile,
            "kind: Pod\nspec:\n  securityContext: {seccompProfile: {type: Unconfined}}\n  containers: [{name: a}]\n",
        );
        assert_eq!(paths(&f), ["spec.securityContext.seccompProfile.type"]);
    }

    #[test]
    fn restricted_part_skips_windows_pods() {
        let f = run(
            &SeccompProfile,
            "kind: Pod\nspec:\n  os: {name: windows}\n  containers: [{name: a}]\n",
        );
        assert!(f.is_empty(), "{f:?}");
        // The baseline part (no Unconfined) still applies to Windows pods.
        let f = run(
            &SeccompProfile,
            "kind: Pod\nspec:\n  os: {name: windows}\n  containers: [{name: a, securityContext: {seccompProfile: {type: Unconfined}}}]\n",
        );
        assert_eq!(
            paths(&f),
            ["spec.containers[0].securityContext.seccompProfile.type"]
        );
    }
}
