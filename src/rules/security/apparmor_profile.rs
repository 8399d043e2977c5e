//! `apparmor-profile`: AppArmor must not be disabled or overridden with an arbitrary profile
//! (PSS baseline "AppArmor"): `appArmorProfile.type` is `RuntimeDefault` or `Localhost` when
//! set, and the deprecated `container.apparmor.security.beta.kubernetes.io/*` annotations
//! are `runtime/default` or `localhost/*` when set.

use super::{container_sc, container_sc_path, describe, pod_meta_path, pod_sc, pod_sc_path};
use crate::engine::{Category, CheckCx, PssLevel, Rule, RuleMeta, Severity, Sink};
use crate::workload::TypedProfile;

/// The rule.
pub struct AppArmorProfile;

static META: RuleMeta = RuleMeta {
    id: "apparmor-profile",
    category: Category::Security,
    severity: Severity::Error,
    enabled_by_default: true,
    pss: Some(PssLevel::Baseline),
    summary: "AppArmor profiles must be RuntimeDefault or Localhost, never Unconfined",
    remediation: "Set appArmorProfile.type to RuntimeDefault or Localhost (annotations: runtime/default or localhost/<profile>), or remove it",
};

/// Prefix of the deprecated per-container AppArmor annotations.
const ANNOTATION_PREFIX: &str = "container.apparmor.security.beta.kubernetes.io/";

/// A field profile that is set but not `RuntimeDefault`/`Localhost`: its type for messages.
fn forbidden(profile: Option<&TypedProfile>) -> Option<String> {
    let kind = profile?.kind.as_deref();
    match kind {
        Some("RuntimeDefault" | "Localhost") => None,
        Some(k) => Some(format!("{k:?}")),
        None => Some("no type".into()),
    }
}

/// Whether an annotation value is allowed: empty, `runtime/default` or `localhost/*`.
fn allowed_annotation(value: &str) -> bool {
    value.is_empty() || value == "runtime/default" || value.starts_with("localhost/")
}

impl Rule for AppArmorProfile {
    fn meta(&self) -> &'static RuleMeta {
        &META
    }

    fn check(&self, cx: &CheckCx<'_>, out: &mut Sink<'_>) {
        let Some((meta, pod)) = cx.obj.pod() else {
            return;
        };
        if let Some(kind) = forbidden(pod_sc(pod).and_then(|s| s.app_armor_profile.as_ref())) {
            out.report(
                pod_sc_path(cx, "appArmorProfile.type"),
                format!(
                    "the pod sets appArmorProfile with {kind}: only RuntimeDefault or Localhost are allowed"
                ),
            );
        }
        for c in pod.all_containers() {
            if let Some(kind) =
                forbidden(container_sc(&c).and_then(|s| s.app_armor_profile.as_ref()))
            {
                out.report(
                    container_sc_path(cx, &c, "appArmorProfile.type"),
                    format!(
                        "{} sets appArmorProfile with {kind}: only RuntimeDefault or Localhost are allowed",
                        describe(&c)
                    ),
                );
            }
        }
        for (key, value) in &meta.annotations {
            if key.starts_with(ANNOTATION_PREFIX) && !allowed_annotation(value) {
                out.report(
                    pod_meta_path(cx, &format!("annotations.{key}")),
                    format!(
                        "annotation {key} sets AppArmor profile {value:?}: only runtime/default or localhost/<profile> are allowed"
                    ),
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
    fn flags_unconfined_fields_with_exact_paths() {
        let f = run(
            &AppArmorProfile,
            "kind: Deployment\nspec:\n  template:\n    spec:\n      securityContext: {appArmorProfile: {type: Unconfined}}\n      containers: [{name: a, securityContext: {appArmorProfile: {type: RuntimeDefault}}}, {name: b, securityContext: {appArmorProfile: {type: Unconfined}}}]\n      initContainers: [{name: i, securityContext: {appArmorProfile: {}}}]\n",
        );
        assert_eq!(
            paths(&f),
            [
                "spec.template.spec.securityContext.appArmorProfile.type",
                "spec.template.spec.containers[1].securityContext.appArmorProfile.type",
                "spec.template.spec.initContainers[0].securityContext.appArmorProfile.type"
            ]
        );
        assert!(f[1].message.contains("container \"b\""), "{}", f[1].message);
    }

    #[test]
    fn flags_unconfined_annotations_on_the_pod_metadata() {
        let f = run(
            &AppArmorProfile,
            "kind: Pod\nmetadata:\n  annotations:\n    container.apparmor.security.beta.kubernetes.io/a: unconfined\n    container.apparmor.security.beta.kubernetes.io/b: localhost/custom\n    container.apparmor.security.beta.kubernetes.io/c: runtime/default\n    container.apparmor.security.beta.kubernetes.io/d: ''\n    other.example.com/x: unconfined\nspec:\n  containers: [{name: a}]\n",
        );
        assert_eq!(
            paths(&f),
            ["metadata.annotations.container.apparmor.security.beta.kubernetes.io/a"]
        );
        let f = run(
            &AppArmorProfile,
            "kind: Deployment\nspec:\n  template:\n    metadata:\n      annotations:\n        container.apparmor.security.beta.kubernetes.io/a: unconfined\n    spec:\n      containers: [{name: a}]\n",
        );
        assert_eq!(
            paths(&f),
            ["spec.template.metadata.annotations.container.apparmor.security.beta.kubernetes.io/a"]
        );
    }

    #[test]
    fn passes_runtime_default_localhost_and_unset() {
        let f = run(
            &AppArmorProfile,
            "kind: Pod\nspec:\n  securityContext: {appArmorProfile: {type: RuntimeDefault}}\n  containers: [{name: a}, {name: b, securityContext: {appArmorProfile: {type: Localhost, localhostProfile: p}}}]\n",
        );
        assert!(f.is_empty(), "{f:?}");
    }
}
