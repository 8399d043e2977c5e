//! `host-ports`: no container binds a host port (PSS baseline "Host Ports").

use super::describe;
use crate::engine::{Category, CheckCx, PssLevel, Rule, RuleMeta, Severity, Sink};

/// The rule.
pub struct HostPorts;

static META: RuleMeta = RuleMeta {
    id: "host-ports",
    category: Category::Security,
    severity: Severity::Error,
    enabled_by_default: true,
    pss: Some(PssLevel::Baseline),
    summary: "Containers must not bind host ports",
    remediation: "Remove ports[].hostPort (or set it to 0) and expose the port through a Service",
};

impl Rule for HostPorts {
    fn meta(&self) -> &'static RuleMeta {
        &META
    }

    fn check(&self, cx: &CheckCx<'_>, out: &mut Sink<'_>) {
        let Some((_, pod)) = cx.obj.pod() else { return };
        for c in pod.all_containers() {
            for (i, port) in c.container.ports.iter().enumerate() {
                if let Some(host_port) = port.host_port
                    && host_port != 0
                {
                    out.report(
                        cx.pod_path(&format!("{}.ports[{i}].hostPort", c.rel_path())),
                        format!("{} binds host port {host_port}", describe(&c)),
                    );
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rules::testing::{paths, run};

    #[test]
    fn flags_every_host_port_in_every_container_list() {
        let f = run(
            &HostPorts,
            "kind: Pod\nspec:\n  containers:\n  - name: a\n    ports: [{containerPort: 80}, {containerPort: 443, hostPort: 443}]\n  initContainers:\n  - name: i\n    ports: [{containerPort: 9000, hostPort: 9000}]\n  ephemeralContainers:\n  - name: e\n    ports: [{containerPort: 1, hostPort: 1}]\n",
        );
        assert_eq!(
            paths(&f),
            [
                "spec.containers[0].ports[1].hostPort",
                "spec.initContainers[0].ports[0].hostPort",
                "spec.ephemeralContainers[0].ports[0].hostPort"
            ]
        );
        assert!(
            f[1].message.contains("init container \"i\""),
            "{}",
            f[1].message
        );
    }

    #[test]
    fn passes_no_host_port_and_zero() {
        let f = run(
            &HostPorts,
            "kind: Deployment\nspec:\n  template:\n    spec:\n      containers:\n      - name: a\n        ports: [{containerPort: 80}, {containerPort: 81, hostPort: 0}]\n",
        );
        assert!(f.is_empty(), "{f:?}");
    }
}
