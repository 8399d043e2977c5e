//! `host-probes`: probes and lifecycle hooks must not target another host (PSS baseline
//! "Probes / Lifecycle Hooks", policy v1.34+).

use super::describe;
use crate::engine::{Category, CheckCx, PssLevel, Rule, RuleMeta, Severity, Sink};
use crate::workload::Handler;

/// The rule.
pub struct HostProbes;

static META: RuleMeta = RuleMeta {
    id: "host-probes",
    category: Category::Security,
    severity: Severity::Error,
    enabled_by_default: true,
    pss: Some(PssLevel::Baseline),
    summary: "Probes and lifecycle hooks must not set httpGet.host or tcpSocket.host",
    remediation: "Remove the host field from httpGet/tcpSocket probes and lifecycle hooks so they target the pod's own IP",
};

impl Rule for HostProbes {
    fn meta(&self) -> &'static RuleMeta {
        &META
    }

    fn check(&self, cx: &CheckCx<'_>, out: &mut Sink<'_>) {
        let Some((_, pod)) = cx.obj.pod() else { return };
        for c in pod.all_containers() {
            let k = c.container;
            let lifecycle = k.lifecycle.as_ref();
            let handlers: [(&str, Option<&Handler>); 5] = [
                ("livenessProbe", k.liveness_probe.as_ref()),
                ("readinessProbe", k.readiness_probe.as_ref()),
                ("startupProbe", k.startup_probe.as_ref()),
                (
                    "lifecycle.postStart",
                    lifecycle.and_then(|l| l.post_start.as_ref()),
                ),
                (
                    "lifecycle.preStop",
                    lifecycle.and_then(|l| l.pre_stop.as_ref()),
                ),
            ];
            for (field, handler) in handlers {
                let Some(h) = handler else { continue };
                for (action, target) in [("httpGet", &h.http_get), ("tcpSocket", &h.tcp_socket)] {
                    if let Some(host) = target.as_ref().and_then(|t| t.host.as_deref())
                        && !host.is_empty()
                    {
                        out.report(
                            cx.pod_path(&format!("{}.{field}.{action}.host", c.rel_path())),
                            format!(
                                "{} {field}.{action} targets host {host:?}: probes and lifecycle hooks may only target the pod itself",
                                describe(&c)
                            ),
                        );
                    }
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
    fn flags_probe_and_hook_hosts_with_exact_paths() {
        let f = run(
            &HostProbes,
            "kind: Deployment\nspec:\n  template:\n    spec:\n      containers:\n      - name: a\n        livenessProbe: {httpGet: {host: 127.0.0.1, port: 8080}}\n        readinessProbe: {tcpSocket: {port: 8080}}\n        lifecycle:\n          preStop: {tcpSocket: {host: 10.0.0.1, port: 1}}\n      initContainers:\n      - name: sidecar\n        restartPolicy: Always\n        startupProbe: {tcpSocket: {host: '::1', port: 8080}}\n        lifecycle:\n          postStart: {httpGet: {host: bad.host, port: 80}}\n",
        );
        assert_eq!(
            paths(&f),
            [
                "spec.template.spec.containers[0].livenessProbe.httpGet.host",
                "spec.template.spec.containers[0].lifecycle.preStop.tcpSocket.host",
                "spec.template.spec.initContainers[0].startupProbe.tcpSocket.host",
                "spec.template.spec.initContainers[0].lifecycle.postStart.httpGet.host"
            ]
        );
        assert!(f[0].message.contains("\"127.0.0.1\""), "{}", f[0].message);
    }

    #[test]
    fn passes_probes_without_host_or_with_empty_host() {
        let f = run(
            &HostProbes,
            "kind: Pod\nspec:\n  containers:\n  - name: a\n    livenessProbe: {httpGet: {port: 8080, host: ''}}\n    readinessProbe: {tcpSocket: {port: 8080}}\n    startupProbe: {exec: {command: [true]}}\n    lifecycle: {preStop: {sleep: {seconds: 5}}}\n",
        );
        assert!(f.is_empty(), "{f:?}");
    }
}
