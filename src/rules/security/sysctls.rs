//! `sysctls`: the pod sets only namespaced, isolated sysctls (PSS baseline "Sysctls", the
//! v1.37 safe set).

use super::{pod_sc, pod_sc_path};
use crate::engine::{Category, CheckCx, PssLevel, Rule, RuleMeta, Severity, Sink};

/// The rule.
pub struct Sysctls;

static META: RuleMeta = RuleMeta {
    id: "sysctls",
    category: Category::Security,
    severity: Severity::Error,
    enabled_by_default: true,
    pss: Some(PssLevel::Baseline),
    summary: "Pods may set only the safe sysctls of the Pod Security Standards",
    remediation: "Remove spec.securityContext.sysctls entries outside the safe set (kernel.shm_rmid_forced, net.ipv4.ip_local_port_range, ...)",
};

/// The sysctls PSS baseline v1.37 allows (exact names).
const SAFE: &[&str] = &[
    "kernel.shm_rmid_forced",
    "net.ipv4.ip_local_port_range",
    "net.ipv4.ip_unprivileged_port_start",
    "net.ipv4.tcp_syncookies",
    "net.ipv4.ping_group_range",
    // v1.27
    "net.ipv4.ip_local_reserved_ports",
    // v1.29
    "net.ipv4.tcp_keepalive_time",
    "net.ipv4.tcp_fin_timeout",
    "net.ipv4.tcp_keepalive_intvl",
    "net.ipv4.tcp_keepalive_probes",
    // v1.32
    "net.ipv4.tcp_rmem",
    "net.ipv4.tcp_wmem",
    // v1.37
    "net.ipv4.tcp_slow_start_after_idle",
    "net.ipv4.tcp_notsent_lowat",
];

impl Rule for Sysctls {
    fn meta(&self) -> &'static RuleMeta {
        &META
    }

    fn check(&self, cx: &CheckCx<'_>, out: &mut Sink<'_>) {
        let Some((_, pod)) = cx.obj.pod() else { return };
        let Some(sc) = pod_sc(pod) else { return };
        for (i, sysctl) in sc.sysctls.iter().enumerate() {
            if !SAFE.contains(&sysctl.name.as_str()) {
                out.report(
                    pod_sc_path(cx, &format!("sysctls[{i}].name")),
                    format!(
                        "the pod sets sysctl {:?}, which is not in the Pod Security Standards safe set",
                        sysctl.name
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
    fn flags_unsafe_sysctls_with_exact_paths() {
        let f = run(
            &Sysctls,
            "kind: Deployment\nspec:\n  template:\n    spec:\n      securityContext:\n        sysctls:\n        - {name: net.ipv4.tcp_syncookies, value: '1'}\n        - {name: kernel.msgmax, value: '65536'}\n        - {name: net/ipv4/tcp_syncookies, value: '1'}\n      containers: [{name: a}]\n",
        );
        assert_eq!(
            paths(&f),
            [
                "spec.template.spec.securityContext.sysctls[1].name",
                "spec.template.spec.securityContext.sysctls[2].name"
            ]
        );
        assert!(
            f[0].message.contains("\"kernel.msgmax\""),
            "{}",
            f[0].message
        );
    }

    #[test]
    fn passes_the_whole_safe_set() {
        let list: Vec<String> = SAFE
            .iter()
            .map(|s| format!("{{name: {s}, value: '1'}}"))
            .collect();
        let yaml = format!(
            "kind: Pod\nspec:\n  securityContext:\n    sysctls: [{}]\n  containers: [{{name: a}}]\n",
            list.join(", ")
        );
        let f = run(&Sysctls, &yaml);
        assert!(f.is_empty(), "{f:?}");
        assert!(run(&Sysctls, "kind: Pod\nspec:\n  containers: [{name: a}]\n").is_empty());
    }
}
