//! `selinux-options`: no custom SELinux user or role, and only the container SELinux types
//! (PSS baseline "SELinux").

use super::{container_sc, container_sc_path, describe, pod_sc, pod_sc_path};
use crate::engine::{Category, CheckCx, PssLevel, Rule, RuleMeta, Severity, Sink};

/// The rule.
pub struct SeLinuxOptions;

static META: RuleMeta = RuleMeta {
    id: "selinux-options",
    category: Category::Security,
    severity: Severity::Error,
    enabled_by_default: true,
    pss: Some(PssLevel::Baseline),
    summary: "seLinuxOptions must not set user or role, and type only to a container type",
    remediation: "Remove seLinuxOptions.user and .role; set .type only to container_t, container_init_t, container_kvm_t or container_engine_t",
};

/// SELinux types allowed besides unset/empty (policy v1.31+ adds `container_engine_t`).
const ALLOWED_TYPES: &[&str] = &[
    "container_t",
    "container_init_t",
    "container_kvm_t",
    "container_engine_t",
];

/// Reports the forbidden parts of one `seLinuxOptions`; `path` is that object's path and
/// `who` names its owner in messages.
fn check_options(
    out: &mut Sink<'_>,
    opts: &crate::workload::SeLinuxOptions,
    path: impl Fn(&str) -> String,
    who: &str,
) {
    if let Some(t) = opts.kind.as_deref()
        && !t.is_empty()
        && !ALLOWED_TYPES.contains(&t)
    {
        out.report(
            path("type"),
            format!(
                "{who} sets seLinuxOptions.type {t:?}: only {} are allowed",
                ALLOWED_TYPES.join(", ")
            ),
        );
    }
    for (field, value) in [("user", &opts.user), ("role", &opts.role)] {
        if let Some(v) = value.as_deref()
            && !v.is_empty()
        {
            out.report(
                path(field),
                format!("{who} sets seLinuxOptions.{field} {v:?}: a custom SELinux {field} is not allowed"),
            );
        }
    }
}

impl Rule for SeLinuxOptions {
    fn meta(&self) -> &'static RuleMeta {
        &META
    }

    fn check(&self, cx: &CheckCx<'_>, out: &mut Sink<'_>) {
        let Some((_, pod)) = cx.obj.pod() else { return };
        if let Some(opts) = pod_sc(pod).and_then(|s| s.se_linux_options.as_ref()) {
            let path = |f: &str| pod_sc_path(cx, &format!("seLinuxOptions.{f}"));
            check_options(out, opts, path, "the pod");
        }
        for c in pod.all_containers() {
            if let Some(opts) = container_sc(&c).and_then(|s| s.se_linux_options.as_ref()) {
                let path = |f: &str| container_sc_path(cx, &c, &format!("seLinuxOptions.{f}"));
                check_options(out, opts, path, &describe(&c));
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rules::testing::{paths, run};

    #[test]
    fn flags_type_user_and_role_with_exact_paths() {
        let f = run(
            &SeLinuxOptions,
            "kind: Deployment\nspec:\n  template:\n    spec:\n      securityContext: {seLinuxOptions: {user: system_u}}\n      containers: [{name: a, securityContext: {seLinuxOptions: {type: spc_t}}}]\n      initContainers: [{name: i, securityContext: {seLinuxOptions: {role: sysadm_r, type: container_t}}}]\n",
        );
        assert_eq!(
            paths(&f),
            [
                "spec.template.spec.securityContext.seLinuxOptions.user",
                "spec.template.spec.containers[0].securityContext.seLinuxOptions.type",
                "spec.template.spec.initContainers[0].securityContext.seLinuxOptions.role"
            ]
        );
        assert!(f[1].message.contains("\"spc_t\""), "{}", f[1].message);
    }

    #[test]
    fn passes_allowed_types_empty_values_and_level() {
        let f = run(
            &SeLinuxOptions,
            "kind: Pod\nspec:\n  securityContext: {seLinuxOptions: {type: container_t}}\n  containers:\n  - {name: a, securityContext: {seLinuxOptions: {type: container_init_t, level: 's0:c1'}}}\n  - {name: b, securityContext: {seLinuxOptions: {type: container_kvm_t}}}\n  - {name: c, securityContext: {seLinuxOptions: {type: container_engine_t}}}\n  - {name: d, securityContext: {seLinuxOptions: {type: '', user: '', role: ''}}}\n  - {name: e, securityContext: {seLinuxOptions: {}}}\n",
        );
        assert!(f.is_empty(), "{f:?}");
    }
}
