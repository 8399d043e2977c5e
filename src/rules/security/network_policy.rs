//! `network-policy`: a workload's pods are selected by at least one NetworkPolicy of their
//! namespace that restricts Ingress (a default-deny `podSelector: {}` counts), so not every
//! pod in the cluster can connect to them.
//!
//! Policies come from the [`Inventory`](crate::engine::Inventory), as PDBs do for
//! `disruption-budget`: without data the rule stays silent; on a live cluster a missing policy
//! is only a warning (it may be applied right after the workload) unless `denyWhenMissing` is
//! set, which makes it an error; offline the manifest set is the whole universe. A policy's `podSelector` is matched against the pod template's labels,
//! and its `policyTypes` default as Kubernetes defaults them (Ingress, plus Egress when it
//! has egress rules).
//!
//! Policies add up: a selecting policy whose ingress rule has neither `from` nor `ports` lets
//! everyone in, whatever the others say, so such a policy does not protect the pods. The rule
//! says so on the workload and on the policy itself. Offline, where every workload is known,
//! a policy whose non-empty selector matches none of its namespace's workloads (a typo'd
//! label) is reported too, unless the namespace holds a custom resource: an operator may make
//! the pods it selects (kube-prometheus's Alertmanager), and then a miss is no typo.
//!
//! Pods on the host network are skipped: NetworkPolicies do not apply to them (`host-namespaces`
//! judges them). Objects a built-in controller made are judged through their owner, as the
//! availability rules are: their pods carry the template's labels, and denying them
//! (`denyWhenMissing`) would stall the controller without anyone seeing why.

use std::collections::BTreeSet;

use serde::{Deserialize, Serialize};

use crate::engine::{
    Category, CheckCx, NetworkPolicyInfo, ParamsSpec, PodsInfo, Rule, RuleMeta, RuleParams,
    Severity, Sink, join,
};
use crate::workload::{Body, NetworkPolicySpec};

/// The rule.
pub struct NetworkPolicy;

static META: RuleMeta = RuleMeta {
    id: "network-policy",
    category: Category::Security,
    severity: Severity::Warning,
    enabled_by_default: true,
    pss: None,
    summary: "Workloads' pods are selected by a NetworkPolicy of their namespace that restricts Ingress (a default-deny podSelector: {} counts)",
    remediation: "Add a NetworkPolicy selecting the pods (or all pods: podSelector: {}) with policyTypes: [Ingress] and ingress rules that allow only the sources and ports they need",
};

/// `rules.network-policy` parameters.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields, rename_all = "camelCase")]
pub struct Params {
    /// At admission a workload no policy protects is only a warning, since apply order is not
    /// guaranteed (the policy may come right after it), unless this is true: then it denies.
    pub deny_when_missing: bool,
}

impl RuleParams for Params {}

/// `"a", "b"`.
fn names(policies: &[&NetworkPolicyInfo]) -> String {
    let names: Vec<String> = policies.iter().map(|p| format!("{:?}", p.name)).collect();
    names.join(", ")
}

impl Rule for NetworkPolicy {
    fn meta(&self) -> &'static RuleMeta {
        &META
    }

    fn params(&self) -> Option<ParamsSpec> {
        Some(ParamsSpec::of::<Params>())
    }

    fn check(&self, cx: &CheckCx<'_>, out: &mut Sink<'_>) {
        if let Body::NetworkPolicy(spec) = &cx.obj.body {
            return check_policy(cx, spec, out);
        }
        if !cx.obj.kind.has_pod_spec() || cx.ctx.origin.is_some() {
            return;
        }
        let Some((meta, pod)) = cx.obj.pod() else {
            return;
        };
        if pod.host_network == Some(true) {
            return;
        }
        let Some(inv) = cx.ctx.inventory else { return };
        let Some(policies) = inv.network_policies(cx.obj.namespace()) else {
            return;
        };
        let ns = crate::workload::namespace_or_default(cx.obj.namespace());
        let path = join(cx.obj.kind.pod_meta_path(), "labels");
        let selecting: Vec<&NetworkPolicyInfo> = policies
            .iter()
            .filter(|p| p.spec.selects(&meta.labels))
            .collect();
        let for_ingress: Vec<&NetworkPolicyInfo> = selecting
            .iter()
            .copied()
            .filter(|p| p.spec.directions().0)
            .collect();
        if let Some((p, i)) = for_ingress
            .iter()
            .find_map(|p| p.spec.open_ingress_rule().map(|i| (p, i)))
        {
            out.report(
                path,
                format!("NetworkPolicy {:?} lets every source in on every port (its spec.ingress[{i}] has no ports and no from, or a from of every address): policies add up, so any pod in the cluster can connect to these pods whatever the other policies say; list the sources and ports it should allow", p.name),
            );
            return;
        }
        if !for_ingress.is_empty() {
            return;
        }
        let message = if selecting.is_empty() {
            format!(
                "no NetworkPolicy in namespace {ns:?} selects these pods: any pod in the cluster can connect to them; add a default-deny NetworkPolicy (podSelector: {{}}, policyTypes: [Ingress]) and allow only what they need"
            )
        } else {
            format!(
                "the NetworkPolicies selecting these pods ({}) restrict only Egress: any pod in the cluster can connect to them; add Ingress to a policy's policyTypes, with the ingress rules they need",
                names(&selecting)
            )
        };
        if cx.policy.params::<Params>().deny_when_missing {
            out.deny(path, message);
        } else if !inv.is_complete() {
            out.warn(path, message);
        } else {
            out.report(path, message);
        }
    }
}

/// A NetworkPolicy object on its own: an ingress rule that lets everyone in, and (when every
/// workload of the namespace is known) a selector that selects none of them.
fn check_policy(cx: &CheckCx<'_>, spec: &NetworkPolicySpec, out: &mut Sink<'_>) {
    if let Some(i) = spec.open_ingress_rule() {
        out.report(
            format!("spec.ingress[{i}]"),
            "an ingress rule with no ports and no from (or a from of every address, 0.0.0.0/0 or ::/0) lets every source in on every port: the pods this policy selects accept connections from anywhere, whatever other policies say; list the sources and ports it should allow",
        );
    }
    let Some(selector) = &spec.pod_selector else {
        return; // selects every pod
    };
    if selector.match_labels.is_empty() && selector.match_expressions.is_empty() {
        return;
    }
    let workloads = cx
        .ctx
        .inventory
        .and_then(|inv| inv.workloads(cx.obj.namespace()))
        .unwrap_or_default();
    if workloads.is_empty() || workloads.iter().any(|w| selector.matches(&w.labels)) {
        return;
    }
    out.report(
        "spec.podSelector",
        format!(
            "selects none of the {} workload(s) of namespace {:?} in this manifest set, so it protects nothing{}",
            workloads.len(),
            crate::workload::namespace_or_default(cx.obj.namespace()),
            near_miss(&selector.match_labels, &workloads),
        ),
    );
}

/// A hint for a typo: for the first `matchLabels` entry no workload has, the values the
/// workloads carry under that key, or that none carries the key.
fn near_miss(
    wanted: &std::collections::BTreeMap<String, String>,
    workloads: &[PodsInfo],
) -> String {
    let Some((key, value)) = wanted
        .iter()
        .find(|(k, v)| !workloads.iter().any(|w| w.labels.get(*k) == Some(v)))
    else {
        return String::new();
    };
    let seen: BTreeSet<&str> = workloads
        .iter()
        .filter_map(|w| w.labels.get(key).map(String::as_str))
        .collect();
    if seen.is_empty() {
        format!(" (no pod there carries the label {key})")
    } else {
        let seen: Vec<String> = seen.iter().map(|v| format!("{v:?}")).collect();
        format!(
            " (no pod there has {key}={value:?}; they have {key} {})",
            seen.join(", ")
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Policy;
    use crate::rules::testing::{Isolation as Inv, paths, run, run_at, run_with, workload};

    /// A NetworkPolicy in `shop` named `name` with `spec` (flow YAML).
    fn policy(name: &str, spec: &str) -> NetworkPolicyInfo {
        let w = workload(&format!(
            "kind: NetworkPolicy\nmetadata: {{name: {name}, namespace: shop}}\nspec: {spec}\n"
        ));
        let Body::NetworkPolicy(spec) = w.body else {
            panic!("{w:?}")
        };
        NetworkPolicyInfo {
            namespace: "shop".into(),
            name: name.into(),
            spec,
        }
    }

    fn inv(policies: Vec<NetworkPolicyInfo>, complete: bool) -> Inv {
        Inv {
            network_policies: Some(policies),
            complete,
            ..Inv::default()
        }
    }

    const DEPLOY: &str = "kind: Deployment\nmetadata: {name: web, namespace: shop}\nspec:\n  template:\n    metadata: {labels: {app: web, tier: front}}\n    spec: {containers: [{name: a}]}\n";

    fn check(yaml: &str, inv: &Inv) -> Vec<crate::engine::Finding> {
        run_with(&NetworkPolicy, yaml, &Policy::default(), Some(inv))
    }

    /// The rule at severity error, to tell `report` from `warn`.
    fn check_at_error(yaml: &str, inv: &Inv) -> Vec<crate::engine::Finding> {
        run_at(
            &NetworkPolicy,
            yaml,
            Severity::Error,
            &Policy::default(),
            Some(inv),
        )
    }

    #[test]
    fn a_policy_restricting_ingress_to_the_pods_passes() {
        for p in [
            // Default deny, with policyTypes left to the default and written out.
            policy("deny", "{podSelector: {}}"),
            policy("deny", "{podSelector: {}, policyTypes: [Ingress]}"),
            policy("deny", "{policyTypes: [Ingress, Egress]}"),
            policy("deny", "{podSelector: {}, policyTypes: []}"),
            // Selecting the pods by label or expression, with real rules.
            policy(
                "web",
                "{podSelector: {matchLabels: {app: web}}, ingress: [{from: [{podSelector: {matchLabels: {app: lb}}}]}]}",
            ),
            policy(
                "web",
                "{podSelector: {matchExpressions: [{key: tier, operator: In, values: [front, back]}]}, ingress: [{ports: [{port: 8080}]}]}",
            ),
        ] {
            let f = check(DEPLOY, &inv(vec![p.clone()], true));
            assert!(f.is_empty(), "{p:?}: {f:?}");
        }
    }

    #[test]
    fn no_inventory_or_no_policy_data_means_no_finding() {
        assert!(run(&NetworkPolicy, DEPLOY).is_empty());
        let none = Inv {
            complete: true,
            ..Inv::default()
        };
        assert!(check(DEPLOY, &none).is_empty());
    }

    #[test]
    fn missing_policy_is_reported_offline_and_only_warned_live() {
        let others = vec![
            policy("db", "{podSelector: {matchLabels: {app: db}}}"),
            policy(
                "not-front",
                "{podSelector: {matchExpressions: [{key: tier, operator: NotIn, values: [front]}]}}",
            ),
        ];
        let f = check(DEPLOY, &inv(others.clone(), true));
        assert_eq!(paths(&f), ["spec.template.metadata.labels"]);
        assert_eq!(f[0].severity, Severity::Warning);
        assert!(
            f[0].message
                .contains("no NetworkPolicy in namespace \"shop\" selects these pods"),
            "{}",
            f[0].message
        );
        assert_eq!(
            check_at_error(DEPLOY, &inv(others.clone(), true))[0].severity,
            Severity::Error
        );
        assert_eq!(
            check_at_error(DEPLOY, &inv(others.clone(), false))[0].severity,
            Severity::Warning
        );
        // denyWhenMissing: a denial, even though the rule is a warning by default.
        let mut strict = Policy::default();
        assert!(strict.set_params(Params {
            deny_when_missing: true
        }));
        let f = run_with(&NetworkPolicy, DEPLOY, &strict, Some(&inv(others, false)));
        assert_eq!(f[0].severity, Severity::Error);
        let p = Policy::from_yaml("rules:\n  network-policy: {denyWhenMissing: true}\n")
            .expect("policy");
        assert!(p.params::<Params>().deny_when_missing);
    }

    #[test]
    fn egress_only_policies_do_not_count() {
        let p = policy("egress", "{podSelector: {}, policyTypes: [Egress]}");
        let f = check(DEPLOY, &inv(vec![p], true));
        assert_eq!(paths(&f), ["spec.template.metadata.labels"]);
        assert!(
            f[0].message.contains("(\"egress\") restrict only Egress"),
            "{}",
            f[0].message
        );
    }

    /// A tenant who must have a policy writes one that lets everything in.
    #[test]
    fn a_policy_that_lets_everyone_in_does_not_protect() {
        for open in [
            "{podSelector: {}, ingress: [{}]}",
            "{podSelector: {matchLabels: {app: web}}, policyTypes: [Ingress], ingress: [{from: [], ports: []}]}",
            // Every address, named instead of `from: []`.
            "{podSelector: {}, ingress: [{from: [{ipBlock: {cidr: 0.0.0.0/0}}]}]}",
            "{podSelector: {}, ingress: [{from: [{podSelector: {matchLabels: {app: x}}}, {ipBlock: {cidr: '::/0'}}]}]}",
        ] {
            // Even beside a default deny: policies add up.
            let policies = vec![policy("deny", "{podSelector: {}}"), policy("open", open)];
            let f = check_at_error(DEPLOY, &inv(policies, false));
            assert_eq!(paths(&f), ["spec.template.metadata.labels"], "{open}");
            assert_eq!(
                f[0].severity,
                Severity::Error,
                "not an apply-order question"
            );
            assert!(
                f[0].message
                    .contains("\"open\" lets every source in on every port (its spec.ingress[0]"),
                "{}",
                f[0].message
            );
        }
        // From anywhere on one port, or from some sources on every port: restricted.
        for ok in [
            "{podSelector: {}, ingress: [{ports: [{port: 443}]}]}",
            "{podSelector: {}, ingress: [{from: [{namespaceSelector: {}}]}]}",
            // An Egress-only policy's ingress rules are not in force.
            "{podSelector: {}, policyTypes: [Egress], ingress: [{}]}",
        ] {
            let policies = vec![policy("deny", "{podSelector: {}}"), policy("p", ok)];
            assert!(check(DEPLOY, &inv(policies, true)).is_empty(), "{ok}");
        }
    }

    #[test]
    fn a_policy_in_another_namespace_does_not_count() {
        let mut p = policy("deny", "{podSelector: {}}");
        p.namespace = "staging".into();
        assert_eq!(
            paths(&check(DEPLOY, &inv(vec![p], true))),
            ["spec.template.metadata.labels"]
        );
        // A workload without a namespace is in `default`.
        let mut p = policy("deny", "{podSelector: {}}");
        p.namespace = "default".into();
        let f = check(
            "kind: Pod\nmetadata: {name: p}\nspec: {containers: [{name: a}]}\n",
            &inv(vec![p], true),
        );
        assert!(f.is_empty(), "{f:?}");
    }

    #[test]
    fn kinds_paths_host_network_and_controller_made_objects() {
        let none = inv(Vec::new(), true);
        for (yaml, path) in [
            (
                "kind: Pod\nmetadata: {namespace: shop}\nspec: {containers: [{name: a}]}\n",
                "metadata.labels",
            ),
            (
                "kind: CronJob\nmetadata: {namespace: shop}\nspec: {jobTemplate: {spec: {template: {spec: {containers: [{name: a}]}}}}}\n",
                "spec.jobTemplate.spec.template.metadata.labels",
            ),
            (
                "kind: DaemonSet\nmetadata: {namespace: shop}\nspec: {template: {spec: {containers: [{name: a}]}}}\n",
                "spec.template.metadata.labels",
            ),
        ] {
            assert_eq!(paths(&check(yaml, &none)), [path], "{yaml}");
        }
        // NetworkPolicies do not apply to host-network pods.
        assert!(check(
            "kind: DaemonSet\nmetadata: {namespace: shop}\nspec: {template: {spec: {hostNetwork: true, containers: [{name: a}]}}}\n",
            &none
        )
        .is_empty());
        // Objects that run no pods.
        for yaml in [
            "kind: Service\nmetadata: {namespace: shop}\n",
            "kind: PodDisruptionBudget\nmetadata: {namespace: shop}\nspec: {}\n",
        ] {
            assert!(check(yaml, &none).is_empty(), "{yaml}");
        }
        // A Pod the ReplicaSet controller made (verified origin): judged on its owner.
        let obj =
            workload("kind: Pod\nmetadata: {namespace: shop}\nspec: {containers: [{name: a}]}\n");
        let origin = crate::engine::exemptions::Origin {
            owners: vec![("ReplicaSet".into(), "web-1".into())],
        };
        let policy = Policy::default();
        let cx = CheckCx {
            obj: &obj,
            policy: &policy,
            ctx: crate::engine::Context {
                inventory: Some(&none),
                origin: Some(&origin),
                ..crate::engine::Context::default()
            },
        };
        let mut out = Vec::new();
        NetworkPolicy.check(&cx, &mut Sink::new(&META, Severity::Error, &mut out));
        assert!(out.is_empty(), "{out:?}");
    }

    fn pods(labels: &[(&str, &str)]) -> PodsInfo {
        PodsInfo {
            kind: "Deployment".into(),
            name: "w".into(),
            labels: labels
                .iter()
                .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
                .collect(),
        }
    }

    fn policy_object(spec: &str) -> String {
        format!("kind: NetworkPolicy\nmetadata: {{name: p, namespace: shop}}\nspec: {spec}\n")
    }

    #[test]
    fn a_policy_that_selects_nothing_in_the_manifest_set_is_flagged() {
        let set = |workloads: Vec<PodsInfo>| Inv {
            network_policies: Some(Vec::new()),
            workloads: Some(workloads),
            complete: true,
            ..Inv::default()
        };
        let here = set(vec![
            pods(&[("app", "front-end")]),
            pods(&[("app", "backend")]),
        ]);
        let f = check(
            &policy_object("{podSelector: {matchLabels: {app: frontend}}}"),
            &here,
        );
        assert_eq!(paths(&f), ["spec.podSelector"]);
        assert!(
            f[0].message
                .contains("selects none of the 2 workload(s) of namespace \"shop\"")
                && f[0].message.contains(
                    "no pod there has app=\"frontend\"; they have app \"backend\", \"front-end\""
                ),
            "{}",
            f[0].message
        );
        let f = check(
            &policy_object("{podSelector: {matchLabels: {ap: front-end}}}"),
            &here,
        );
        assert!(
            f[0].message.contains("no pod there carries the label ap"),
            "{}",
            f[0].message
        );
        let f = check(
            &policy_object(
                "{podSelector: {matchExpressions: [{key: app, operator: In, values: [db]}]}}",
            ),
            &here,
        );
        assert_eq!(paths(&f), ["spec.podSelector"]);
        // Selecting one of them, or all, or with nothing known about the workloads: fine.
        for (spec, inv) in [
            ("{podSelector: {matchLabels: {app: backend}}}", &here),
            ("{podSelector: {}}", &here),
            ("{}", &here),
            (
                "{podSelector: {matchLabels: {app: frontend}}}",
                &set(Vec::new()),
            ),
            (
                "{podSelector: {matchLabels: {app: frontend}}}",
                &inv(Vec::new(), false),
            ),
        ] {
            assert!(check(&policy_object(spec), inv).is_empty(), "{spec}");
        }
    }

    /// Sources narrowed by an `except`, a label or a port still protect: only a rule that is
    /// every source on every port is open.
    #[test]
    fn narrowed_sources_still_protect() {
        for narrowed in [
            "{podSelector: {}, ingress: [{from: [{ipBlock: {cidr: 0.0.0.0/0, except: [10.0.0.0/8]}}]}]}",
            "{podSelector: {}, ingress: [{from: [{ipBlock: {cidr: 10.0.0.0/8}}]}]}",
            "{podSelector: {}, ingress: [{from: [{namespaceSelector: {matchLabels: {team: a}}}]}]}",
            "{podSelector: {}, ingress: [{from: [{namespaceSelector: {}, podSelector: {matchLabels: {app: gw}}}]}]}",
            "{podSelector: {}, ingress: [{from: [{podSelector: {}}]}]}",
            "{podSelector: {}, ingress: [{from: [{ipBlock: {cidr: 0.0.0.0/0}}], ports: [{port: 443}]}]}",
        ] {
            let f = check_at_error(DEPLOY, &inv(vec![policy("p", narrowed)], false));
            assert!(f.is_empty(), "{narrowed}: {f:?}");
        }
    }

    #[test]
    fn a_policy_object_that_lets_everyone_in_is_flagged() {
        let f = run(
            &NetworkPolicy,
            &policy_object(
                "{podSelector: {}, ingress: [{from: [{ipBlock: {cidr: 10.0.0.0/8}}]}, {}]}",
            ),
        );
        assert_eq!(paths(&f), ["spec.ingress[1]"]);
        assert!(
            f[0].message.contains("lets every source in on every port"),
            "{}",
            f[0].message
        );
        assert!(
            run(
                &NetworkPolicy,
                &policy_object("{podSelector: {}, policyTypes: [Egress], ingress: [{}]}")
            )
            .is_empty()
        );
        assert!(run(&NetworkPolicy, &policy_object("{podSelector: {}}")).is_empty());
    }
}
