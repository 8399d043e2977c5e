//! `ingress-tls`: every host an Ingress serves is covered by its `spec.tls`, so its traffic
//! can be served over HTTPS, and an Ingress always names the hosts it serves.
//!
//! A TLS host covers a rule host as Kubernetes matches hostnames: exactly, or as a wildcard
//! `*.example.com` covering exactly one more label (`a.example.com`, not `a.b.example.com`
//! nor `example.com`); a wildcard rule host is covered only by the same wildcard. An Ingress
//! rule without a host, or an Ingress with only a default backend, answers every hostname,
//! which no TLS host can cover: it is flagged as such.
//!
//! Only `spec.tls` counts. A cert-manager annotation alone issues nothing (cert-manager makes
//! certificates for the hosts and secret named in `spec.tls`), and a `spec.tls` entry without
//! `hosts` covers whatever the ingress controller decides, so neither covers a host. A `tls`
//! entry without `secretName` counts: the controller then serves its default certificate,
//! which is still TLS.

use crate::engine::{Category, CheckCx, Rule, RuleMeta, Severity, Sink};
use crate::workload::{Body, IngressSpec};

/// The rule.
pub struct IngressTls;

static META: RuleMeta = RuleMeta {
    id: "ingress-tls",
    category: Category::Security,
    severity: Severity::Error,
    enabled_by_default: true,
    pss: None,
    summary: "Ingresses name their hosts and cover every one of them with spec.tls (wildcards as Kubernetes matches them)",
    remediation: "Give every spec.rules[] a host and list each host (or a *.domain wildcard one label above it) in spec.tls[].hosts with the secretName of its certificate",
};

/// Whether TLS host `tls` covers rule host `host`: the same name, or `tls` is `*.<suffix>`
/// and `host` is one label (not itself a wildcard) followed by `.<suffix>`. DNS names compare
/// case-insensitively.
pub fn covers(tls: &str, host: &str) -> bool {
    if tls.eq_ignore_ascii_case(host) {
        return true;
    }
    let Some(suffix) = tls.strip_prefix("*.") else {
        return false;
    };
    host.split_once('.').is_some_and(|(label, rest)| {
        !label.is_empty() && label != "*" && rest.eq_ignore_ascii_case(suffix)
    })
}

/// What the Ingress's TLS declares, for a message about a host it leaves out.
fn tls_listed(spec: &IngressSpec) -> String {
    let hosts: Vec<String> = spec
        .tls
        .iter()
        .flat_map(|t| t.hosts.iter().map(|h| format!("{h:?}")))
        .collect();
    let hostless = spec.tls.iter().filter(|t| t.hosts.is_empty()).count();
    let mut said = if hosts.is_empty() {
        "spec.tls lists no hosts".to_owned()
    } else {
        format!("spec.tls lists {}", hosts.join(", "))
    };
    if hostless > 0 {
        said.push_str(&format!(
            "; {hostless} spec.tls entr{} without hosts cover{} only what the ingress controller chooses",
            if hostless == 1 { "y" } else { "ies" },
            if hostless == 1 { "s" } else { "" }
        ));
    }
    said
}

impl Rule for IngressTls {
    fn meta(&self) -> &'static RuleMeta {
        &META
    }

    fn check(&self, cx: &CheckCx<'_>, out: &mut Sink<'_>) {
        let Body::Ingress(spec) = &cx.obj.body else {
            return;
        };
        let cert_manager = cx
            .obj
            .meta
            .annotations
            .keys()
            .any(|k| k.starts_with("cert-manager.io/"));
        let note = if cert_manager {
            "; the cert-manager annotation alone does not count: cert-manager issues certificates only for the hosts and secretName in spec.tls"
        } else {
            ""
        };
        if spec.rules.is_empty() {
            let path = if spec.backend.is_some() && spec.default_backend.is_none() {
                "spec.backend"
            } else if spec.default_backend.is_some() {
                "spec.defaultBackend"
            } else {
                "spec.rules"
            };
            out.report(
                path,
                format!("the Ingress names no host (no rules, only a default backend): it answers every hostname, which no TLS certificate can cover; serve it under spec.rules with a host and list that host in spec.tls{note}"),
            );
            return;
        }
        for (i, rule) in spec.rules.iter().enumerate() {
            let path = format!("spec.rules[{i}].host");
            let Some(host) = rule.host.as_deref().filter(|h| !h.is_empty()) else {
                out.report(
                    path,
                    format!("rule has no host: it answers every hostname, which no TLS certificate can cover; set the hostname it serves and list it in spec.tls{note}"),
                );
                continue;
            };
            let covered = spec
                .tls
                .iter()
                .any(|t| t.hosts.iter().any(|h| covers(h, host)));
            if covered {
                continue;
            }
            let message = if spec.tls.is_empty() {
                format!(
                    "host {host:?} is served over plain HTTP: the Ingress has no spec.tls; add spec.tls with hosts [{host}] and the secretName of its certificate{note}"
                )
            } else {
                format!(
                    "host {host:?} is not covered by spec.tls ({}): it is served over plain HTTP; add it (or a wildcard one label above it) to spec.tls[].hosts{note}",
                    tls_listed(spec)
                )
            };
            out.report(path, message);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rules::testing::{paths, run};

    fn ingress(spec: &str) -> String {
        format!(
            "apiVersion: networking.k8s.io/v1\nkind: Ingress\nmetadata: {{name: web, namespace: shop}}\nspec: {spec}\n"
        )
    }

    fn rules(hosts: &[&str]) -> String {
        let rules: Vec<String> = hosts
            .iter()
            .map(|h| format!("{{host: '{h}', http: {{paths: []}}}}"))
            .collect();
        format!("[{}]", rules.join(", "))
    }

    fn with_tls(hosts: &[&str], tls: &str) -> String {
        ingress(&format!("{{rules: {}, tls: {tls}}}", rules(hosts)))
    }

    #[test]
    fn wildcards_match_exactly_one_label() {
        assert!(covers("a.example.com", "a.example.com"));
        assert!(covers("A.Example.com", "a.example.com"));
        assert!(covers("*.example.com", "a.example.com"));
        assert!(covers("*.example.com", "*.example.com"));
        assert!(!covers("*.example.com", "a.b.example.com"));
        assert!(!covers("*.example.com", "example.com"));
        assert!(!covers("*.example.com", ".example.com"));
        assert!(!covers("a.example.com", "*.example.com"));
        assert!(!covers("*.b.example.com", "*.example.com"));
        assert!(!covers("*", "a.example.com"));
        assert!(!covers("*.com", "a.example.com"));
        assert!(!covers("example.com", "a.example.com"));
    }

    #[test]
    fn every_host_covered_passes() {
        for (hosts, tls) in [
            (
                &["a.example.com"][..],
                "[{hosts: [a.example.com], secretName: a}]",
            ),
            (
                &["a.example.com", "b.example.com"][..],
                "[{hosts: [a.example.com], secretName: a}, {hosts: ['*.example.com'], secretName: w}]",
            ),
            (&["*.example.com"][..], "[{hosts: ['*.example.com']}]"),
            // No secretName: the controller's default certificate, still TLS.
            (&["a.example.com"][..], "[{hosts: [a.example.com]}]"),
        ] {
            let f = run(&IngressTls, &with_tls(hosts, tls));
            assert!(f.is_empty(), "{hosts:?} {tls}: {f:?}");
        }
    }

    #[test]
    fn a_host_left_out_is_flagged_at_its_rule() {
        let f = run(
            &IngressTls,
            &with_tls(
                &["a.example.com", "a.b.example.com", "example.com"],
                "[{hosts: ['*.example.com'], secretName: w}]",
            ),
        );
        assert_eq!(paths(&f), ["spec.rules[1].host", "spec.rules[2].host"]);
        assert_eq!(f[0].severity, Severity::Error);
        assert!(
            f[0].message
                .contains("\"a.b.example.com\" is not covered by spec.tls")
                && f[0].message.contains("lists \"*.example.com\""),
            "{}",
            f[0].message
        );
        // No tls at all: each host, saying there is none.
        let f = run(
            &IngressTls,
            &ingress(&format!("{{rules: {}}}", rules(&["a.example.com"]))),
        );
        assert_eq!(paths(&f), ["spec.rules[0].host"]);
        assert!(f[0].message.contains("has no spec.tls"), "{}", f[0].message);
    }

    #[test]
    fn an_ingress_without_a_host_is_flagged() {
        // A rule without host, or with an empty one.
        let f = run(
            &IngressTls,
            &ingress(
                "{rules: [{http: {paths: []}}, {host: '', http: {}}], tls: [{hosts: [a.example.com]}]}",
            ),
        );
        assert_eq!(paths(&f), ["spec.rules[0].host", "spec.rules[1].host"]);
        assert!(f[0].message.contains("no host"), "{}", f[0].message);
        // Only a default backend (v1, and v1beta1's `backend`).
        for (spec, path) in [
            (
                "{defaultBackend: {service: {name: web, port: {number: 80}}}, tls: [{hosts: [a.example.com]}]}",
                "spec.defaultBackend",
            ),
            (
                "{backend: {serviceName: web, servicePort: 80}}",
                "spec.backend",
            ),
            ("{}", "spec.rules"),
        ] {
            let f = run(&IngressTls, &ingress(spec));
            assert_eq!(paths(&f), [path], "{spec}");
            assert!(f[0].message.contains("names no host"), "{}", f[0].message);
        }
    }

    /// What a tenant may try instead of a certificate for the host.
    #[test]
    fn what_does_not_count_as_tls() {
        // The cert-manager annotation without spec.tls.
        let yaml = "apiVersion: networking.k8s.io/v1\nkind: Ingress\nmetadata:\n  name: web\n  annotations: {cert-manager.io/cluster-issuer: letsencrypt}\nspec:\n  rules: [{host: a.example.com, http: {paths: []}}]\n";
        let f = run(&IngressTls, yaml);
        assert_eq!(paths(&f), ["spec.rules[0].host"]);
        assert!(
            f[0].message
                .contains("cert-manager annotation alone does not count"),
            "{}",
            f[0].message
        );
        for tls in [
            "[]",
            "null",
            // An entry without hosts, a certificate for another host, an empty wildcard.
            "[{secretName: web-tls}]",
            "[{hosts: [b.example.com], secretName: b}]",
            "[{hosts: ['*'], secretName: all}]",
            "[{hosts: ['*.com'], secretName: all}]",
            "[{hosts: ['*.a.example.com'], secretName: below}]",
        ] {
            let f = run(&IngressTls, &with_tls(&["a.example.com"], tls));
            assert_eq!(paths(&f), ["spec.rules[0].host"], "{tls}");
        }
        let f = run(
            &IngressTls,
            &with_tls(&["a.example.com"], "[{secretName: web-tls}]"),
        );
        assert!(
            f[0].message.contains(
                "1 spec.tls entry without hosts covers only what the ingress controller chooses"
            ),
            "{}",
            f[0].message
        );
        // A wildcard rule host needs the same wildcard.
        let f = run(
            &IngressTls,
            &with_tls(
                &["*.example.com"],
                "[{hosts: [a.example.com, b.example.com]}]",
            ),
        );
        assert_eq!(paths(&f), ["spec.rules[0].host"]);
    }

    #[test]
    fn other_kinds_are_ignored() {
        assert!(run(&IngressTls, "kind: Pod\nspec: {containers: []}\n").is_empty());
        assert!(run(&IngressTls, "kind: Service\nspec: {}\n").is_empty());
    }
}
