//! `capabilities`: containers add only the baseline capabilities; at the restricted level
//! they drop ALL and add at most NET_BIND_SERVICE (PSS baseline "Capabilities" and
//! restricted "Capabilities").

use super::{container_sc, container_sc_path, describe, restricted};
use crate::engine::{Category, CheckCx, PssLevel, Rule, RuleMeta, Severity, Sink};

/// The rule.
pub struct Capabilities;

static META: RuleMeta = RuleMeta {
    id: "capabilities",
    category: Category::Security,
    severity: Severity::Error,
    enabled_by_default: true,
    pss: Some(PssLevel::Baseline),
    summary: "Containers must not add capabilities beyond the baseline set; restricted: drop ALL and add only NET_BIND_SERVICE",
    remediation: "Set securityContext.capabilities.drop: [ALL] and add back at most NET_BIND_SERVICE",
};

/// Capabilities the baseline level allows in `capabilities.add` (exact, case-sensitive).
const BASELINE_ALLOWED: &[&str] = &[
    "AUDIT_WRITE",
    "CHOWN",
    "DAC_OVERRIDE",
    "FOWNER",
    "FSETID",
    "KILL",
    "MKNOD",
    "NET_BIND_SERVICE",
    "SETFCAP",
    "SETGID",
    "SETPCAP",
    "SETUID",
    "SYS_CHROOT",
];

/// The only capability the restricted level allows adding.
const RESTRICTED_ALLOWED: &str = "NET_BIND_SERVICE";

impl Rule for Capabilities {
    fn meta(&self) -> &'static RuleMeta {
        &META
    }

    fn check(&self, cx: &CheckCx<'_>, out: &mut Sink<'_>) {
        let Some((_, pod)) = cx.obj.pod() else { return };
        // The restricted part does not apply to Windows pods (PSS v1.25+): Windows has no
        // Linux capabilities and the API rejects them there.
        let restricted = restricted(cx) && !pod.is_windows();
        for c in pod.all_containers() {
            let caps = container_sc(&c).and_then(|s| s.capabilities.as_ref());
            for (i, cap) in caps
                .map(|k| k.add.as_slice())
                .unwrap_or_default()
                .iter()
                .enumerate()
            {
                let path = container_sc_path(cx, &c, &format!("capabilities.add[{i}]"));
                if !BASELINE_ALLOWED.contains(&cap.as_str()) {
                    out.report(
                        path,
                        format!(
                            "{} adds capability {cap:?}, which is not in the baseline set ({})",
                            describe(&c),
                            BASELINE_ALLOWED.join(", ")
                        ),
                    );
                } else if restricted && cap != RESTRICTED_ALLOWED {
                    out.report(
                        path,
                        format!(
                            "{} adds capability {cap:?}: the restricted level allows adding only {RESTRICTED_ALLOWED}",
                            describe(&c)
                        ),
                    );
                }
            }
            if restricted && !caps.is_some_and(|k| k.drop.iter().any(|d| d == "ALL")) {
                out.report(
                    container_sc_path(cx, &c, "capabilities.drop"),
                    format!(
                        "{} does not drop ALL capabilities (securityContext.capabilities.drop must contain \"ALL\")",
                        describe(&c)
                    ),
                );
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
    fn baseline_flags_only_capabilities_outside_the_set() {
        let yaml = "kind: Pod\nspec:\n  containers:\n  - name: a\n    securityContext:\n      capabilities: {add: [CHOWN, NET_RAW, chown, CAP_CHOWN]}\n  initContainers:\n  - name: i\n    securityContext:\n      capabilities: {add: [SYS_ADMIN]}\n";
        let f = run_with(&Capabilities, yaml, &baseline(), None);
        assert_eq!(
            paths(&f),
            [
                "spec.containers[0].securityContext.capabilities.add[1]",
                "spec.containers[0].securityContext.capabilities.add[2]",
                "spec.containers[0].securityContext.capabilities.add[3]",
                "spec.initContainers[0].securityContext.capabilities.add[0]"
            ]
        );
        assert!(f[0].message.contains("\"NET_RAW\""), "{}", f[0].message);
    }

    #[test]
    fn baseline_passes_the_allowed_set_without_drop() {
        let yaml = "kind: Pod\nspec:\n  containers:\n  - name: a\n    securityContext:\n      capabilities: {add: [AUDIT_WRITE, CHOWN, DAC_OVERRIDE, FOWNER, FSETID, KILL, MKNOD, NET_BIND_SERVICE, SETFCAP, SETGID, SETPCAP, SETUID, SYS_CHROOT]}\n  - name: b\n";
        assert!(run_with(&Capabilities, yaml, &baseline(), None).is_empty());
    }

    #[test]
    fn restricted_requires_drop_all_and_only_net_bind_service() {
        let f = run(
            &Capabilities,
            "kind: Deployment\nspec:\n  template:\n    spec:\n      containers:\n      - name: a\n        securityContext:\n          capabilities: {add: [CHOWN], drop: [ALL]}\n      - name: b\n        securityContext:\n          capabilities: {drop: [all, NET_RAW]}\n      - name: c\n      ephemeralContainers:\n      - name: e\n        securityContext: {capabilities: {}}\n",
        );
        assert_eq!(
            paths(&f),
            [
                "spec.template.spec.containers[0].securityContext.capabilities.add[0]",
                "spec.template.spec.containers[1].securityContext.capabilities.drop",
                "spec.template.spec.containers[2].securityContext.capabilities.drop",
                "spec.template.spec.ephemeralContainers[0].securityContext.capabilities.drop"
            ]
        );
        assert!(
            f[0].message.contains("only NET_BIND_SERVICE"),
            "{}",
            f[0].message
        );
        assert!(f[2].message.contains("container \"c\""), "{}", f[2].message);
    }

    #[test]
    fn restricted_passes_drop_all_with_net_bind_service() {
        let f = run(
            &Capabilities,
            "kind: Pod\nspec:\n  containers:\n  - name: a\n    securityContext:\n      capabilities: {add: [NET_BIND_SERVICE], drop: [ALL]}\n",
        );
        assert!(f.is_empty(), "{f:?}");
    }

    #[test]
    fn restricted_part_skips_windows_pods_but_baseline_part_does_not() {
        let f = run(
            &Capabilities,
            "kind: Pod\nspec:\n  os: {name: windows}\n  containers:\n  - name: a\n  - name: b\n    securityContext:\n      capabilities: {add: [SYS_ADMIN]}\n",
        );
        assert_eq!(
            paths(&f),
            ["spec.containers[1].securityContext.capabilities.add[0]"]
        );
    }
}
