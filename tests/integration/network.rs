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

/// Two Deployments in `shop`, one in `other`, a CronJob and a host-network DaemonSet in
/// `shop`; `policies` added to the set.
fn workloads_and(policies: &str) -> String {
    let deployment = |name: &str, ns: &str, app: &str| {
        format!(
            "apiVersion: apps/v1\nkind: Deployment\nmetadata: {{name: {name}, namespace: {ns}}}\nspec:\n  selector: {{matchLabels: {{app: {app}}}}}\n  template:\n    metadata: {{labels: {{app: {app}}}}}\n    spec: {{containers: [{{name: a, image: 'a:1'}}]}}\n---\n"
        )
    };
    format!(
        "{}{}{}apiVersion: batch/v1\nkind: CronJob\nmetadata: {{name: report, namespace: shop}}\nspec:\n  schedule: '@daily'\n  jobTemplate: {{spec: {{template: {{metadata: {{labels: {{app: report}}}}, spec: {{restartPolicy: Never, containers: [{{name: a, image: 'a:1'}}]}}}}}}}}\n---\napiVersion: apps/v1\nkind: DaemonSet\nmetadata: {{name: agent, namespace: shop}}\nspec:\n  template: {{metadata: {{labels: {{app: agent}}}}, spec: {{hostNetwork: true, containers: [{{name: a, image: 'a:1'}}]}}}}\n---\n{policies}",
        deployment("front-end", "shop", "front-end"),
        deployment("backend", "shop", "backend"),
        deployment("web", "other", "web"),
    )
}

#[test]
fn network_policy_offline() {
    let rules = ["network-policy"];
    // No policy anywhere: every pod-running workload but the host-network one.
    let (_, f) = check(&workloads_and(""), &rules);
    let objects: Vec<&str> = f.iter().map(|(_, o, _, _)| o.as_str()).collect();
    assert_eq!(
        objects,
        [
            "Deployment/front-end",
            "Deployment/backend",
            "Deployment/web",
            "CronJob/report"
        ]
    );
    assert!(f.iter().all(|(_, _, _, sev)| sev == "warning"), "{f:?}");
    assert_eq!(f[3].2, "spec.jobTemplate.spec.template.metadata.labels");

    // A default deny in `shop` covers its workloads; `other` still has none.
    let deny = "apiVersion: networking.k8s.io/v1\nkind: NetworkPolicy\nmetadata: {name: deny, namespace: shop}\nspec: {podSelector: {}}\n";
    let (_, f) = check(&workloads_and(deny), &rules);
    assert_eq!(
        f,
        [finding(
            "network-policy",
            "Deployment/web",
            "spec.template.metadata.labels",
            "warning"
        )]
    );

    // A policy whose label has a typo selects nothing: said on the policy, and the pod it
    // meant to protect is still unprotected. A policy letting everyone in is said on both.
    let typo = "apiVersion: networking.k8s.io/v1\nkind: NetworkPolicy\nmetadata: {name: front, namespace: shop}\nspec: {podSelector: {matchLabels: {app: frontend}}, ingress: [{from: [{podSelector: {}}]}]}\n---\napiVersion: networking.k8s.io/v1\nkind: NetworkPolicy\nmetadata: {name: open, namespace: shop}\nspec: {podSelector: {matchLabels: {app: backend}}, ingress: [{}]}\n";
    let (_, f) = check(&workloads_and(typo), &rules);
    let shop: Vec<_> = f
        .iter()
        .filter(|(_, o, _, _)| o != "Deployment/web")
        .map(|(_, o, p, _)| (o.as_str(), p.as_str()))
        .collect();
    assert_eq!(
        shop,
        [
            ("Deployment/front-end", "spec.template.metadata.labels"),
            ("Deployment/backend", "spec.template.metadata.labels"),
            (
                "CronJob/report",
                "spec.jobTemplate.spec.template.metadata.labels"
            ),
            ("NetworkPolicy/front", "spec.podSelector"),
            ("NetworkPolicy/open", "spec.ingress[0]"),
        ]
    );
}

#[test]
fn namespace_quota_offline() {
    let rules = ["namespace-quota"];
    let quota = |ns: &str, hard: &str| {
        format!(
            "apiVersion: v1\nkind: ResourceQuota\nmetadata: {{name: compute, namespace: {ns}}}\nspec: {{hard: {hard}}}\n---\n"
        )
    };
    // No quota anywhere: every pod-running workload, each naming its namespace.
    let (_, f) = check(&workloads_and(""), &rules);
    assert_eq!(f.len(), 5, "{f:?}");
    assert!(
        f.iter()
            .all(|(_, _, path, sev)| path == "metadata.namespace" && sev == "warning"),
        "{f:?}"
    );
    // A quota in `shop` covers its four workloads; an empty one in `other` covers nothing.
    let set = format!(
        "{}{}{}",
        quota("shop", "{requests.cpu: '4', requests.memory: 8Gi}"),
        quota("other", "{}"),
        workloads_and("")
    );
    let (_, f) = check(&set, &rules);
    assert_eq!(
        f,
        [finding(
            "namespace-quota",
            "Deployment/web",
            "metadata.namespace",
            "warning"
        )]
    );
}

/// Pods an operator makes from a custom resource (kube-prometheus's Alertmanager) are not
/// workloads of the set: there a selector that matches none of them may still select pods,
/// so it is not called a typo.
#[test]
fn a_selector_is_not_called_a_typo_where_an_operator_makes_pods() {
    let policy = "apiVersion: networking.k8s.io/v1\nkind: NetworkPolicy\nmetadata: {name: alertmanager, namespace: shop}\nspec: {podSelector: {matchLabels: {app: alertmanager}}, ingress: [{from: [{podSelector: {}}]}]}\n";
    let typo = |f: &[(String, String, String, String)]| {
        f.iter()
            .any(|(_, o, p, _)| o == "NetworkPolicy/alertmanager" && p == "spec.podSelector")
    };
    let (_, f) = check(&workloads_and(policy), &["network-policy"]);
    assert!(typo(&f), "{f:?}");
    let operated = format!(
        "apiVersion: monitoring.coreos.com/v1\nkind: Alertmanager\nmetadata: {{name: main, namespace: shop}}\nspec: {{replicas: 3}}\n---\n{}",
        workloads_and(policy)
    );
    let (_, f) = check(&operated, &["network-policy"]);
    assert!(!typo(&f), "{f:?}");
    // Built-in kinds make no pods of their own: a Service or a ConfigMap changes nothing.
    let plain = format!(
        "apiVersion: v1\nkind: Service\nmetadata: {{name: web, namespace: shop}}\n---\napiVersion: rbac.authorization.k8s.io/v1\nkind: Role\nmetadata: {{name: r, namespace: shop}}\n---\n{}",
        workloads_and(policy)
    );
    let (_, f) = check(&plain, &["network-policy"]);
    assert!(typo(&f), "{f:?}");
}
