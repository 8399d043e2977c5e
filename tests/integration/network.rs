//! The network and quota baseline offline: `bulwark check` on manifest sets, where the set is
//! the whole universe (a NetworkPolicy or ResourceQuota not in it does not exist).

use serde_json::Value;

use crate::mutate::bulwark;

/// Runs `bulwark check --output json` on `manifests` (one file) and returns the exit code and
/// the (rule, kind/name, path, severity) of every finding of `rules`.
fn check(manifests: &str, rules: &[&str]) -> (i32, Vec<(String, String, String, String)>) {
    let dir = tempfile::tempdir().expect("tempdir");
    let file = dir.path().join("set.yaml");
    std::fs::write(&file, manifests).expect("write");
    let (code, stdout, stderr) = bulwark(&[
        "check",
        "--output",
        "json",
        file.to_str().expect("utf-8 path"),
    ]);
    assert!(code == 0 || code == 1, "exit {code}: {stderr}");
    let findings: Vec<Value> = serde_json::from_str(&stdout).expect("JSON findings");
    let field = |f: &Value, k: &str| f[k].as_str().unwrap_or_default().to_owned();
    let picked = findings
        .iter()
        .filter(|f| rules.contains(&f["rule"].as_str().unwrap_or_default()))
        .map(|f| {
            (
                field(f, "rule"),
                format!("{}/{}", field(f, "kind"), field(f, "name")),
                field(f, "path"),
                field(f, "severity"),
            )
        })
        .collect();
    (code, picked)
}

fn finding(
    rule: &str,
    object: &str,
    path: &str,
    severity: &str,
) -> (String, String, String, String) {
    (rule.into(), object.into(), path.into(), severity.into())
}

const INGRESSES: &str = "\
apiVersion: networking.k8s.io/v1
kind: Ingress
metadata: {name: covered, namespace: shop}
spec:
  tls: [{hosts: ['*.example.com'], secretName: wildcard}]
  rules: [{host: shop.example.com}, {host: api.example.com}]
---
apiVersion: networking.k8s.io/v1
kind: Ingress
metadata:
  name: annotated
  namespace: shop
  annotations: {cert-manager.io/cluster-issuer: letsencrypt}
spec:
  rules: [{host: blog.example.com}]
---
apiVersion: networking.k8s.io/v1
kind: Ingress
metadata: {name: catch-all, namespace: shop}
spec:
  defaultBackend: {service: {name: web, port: {number: 80}}}
---
apiVersion: networking.k8s.io/v1
kind: Ingress
metadata: {name: deep, namespace: shop}
spec:
  tls: [{hosts: ['*.example.com'], secretName: wildcard}]
  rules: [{host: a.b.example.com}]
";

#[test]
fn ingress_tls_offline() {
    let (code, f) = check(INGRESSES, &["ingress-tls"]);
    assert_eq!(code, 1, "ingress-tls is an error by default");
    assert_eq!(
        f,
        [
            finding(
                "ingress-tls",
                "Ingress/annotated",
                "spec.rules[0].host",
                "error"
            ),
            finding(
                "ingress-tls",
                "Ingress/catch-all",
                "spec.defaultBackend",
                "error"
            ),
            finding("ingress-tls", "Ingress/deep", "spec.rules[0].host", "error"),
        ]
    );
}
