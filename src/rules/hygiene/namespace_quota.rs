//! `namespace-quota`: a namespace that runs workloads has a ResourceQuota that caps something,
//! so one team's workloads cannot take the whole cluster; with `requireLimitRange`, also a
//! LimitRange, so containers that set no requests or limits still get defaults.
//!
//! Judged on the workloads (the kinds that run pods), since that is where the namespace's
//! capacity is spent: a Namespace with nothing in it needs no quota. Quotas and limit ranges
//! come from the [`Inventory`](crate::engine::Inventory): without data the rule stays silent;
//! on a live cluster a missing one is only a warning (the namespace's quota may be applied
//! after its first workload); offline the manifest set is the whole universe. A ResourceQuota
//! whose `spec.hard` is empty, and a LimitRange without `spec.limits`, do not count: they cap
//! and default nothing. Objects a built-in controller made are judged through their owner (a
//! hygiene rule).

use serde::{Deserialize, Serialize};

use crate::engine::{Category, CheckCx, ParamsSpec, Rule, RuleMeta, RuleParams, Severity, Sink};

/// The rule.
pub struct NamespaceQuota;

static META: RuleMeta = RuleMeta {
    id: "namespace-quota",
    category: Category::Hygiene,
    severity: Severity::Warning,
    enabled_by_default: true,
    pss: None,
    summary: "Namespaces that run workloads have a ResourceQuota (and a LimitRange with requireLimitRange)",
    remediation: "Add a ResourceQuota to the namespace capping at least requests.cpu, requests.memory and limits.memory (and a LimitRange with default requests and limits for containers)",
};

/// `rules.namespace-quota` parameters.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields, rename_all = "camelCase")]
pub struct Params {
    /// Also require a LimitRange in the namespace, so containers without requests or limits
    /// get defaults (and are not rejected by a quota on requests or limits).
    pub require_limit_range: bool,
}

impl RuleParams for Params {}

/// Where the finding points: the field that puts the workload in the namespace.
const PATH: &str = "metadata.namespace";

impl Rule for NamespaceQuota {
    fn meta(&self) -> &'static RuleMeta {
        &META
    }

    fn params(&self) -> Option<ParamsSpec> {
        Some(ParamsSpec::of::<Params>())
    }

    fn check(&self, cx: &CheckCx<'_>, out: &mut Sink<'_>) {
        if !cx.obj.kind.has_pod_spec() {
            return;
        }
        let Some(inv) = cx.ctx.inventory else { return };
        let namespace = cx.obj.namespace();
        let ns = crate::workload::namespace_or_default(namespace);
        // Only a live cluster's apply order can excuse a missing object.
        let mut say = |message: String| {
            if inv.is_complete() {
                out.report(PATH, message)
            } else {
                out.warn(PATH, message)
            }
        };
        if let Some(quotas) = inv.resource_quotas(namespace)
            && quotas.iter().all(|q| q.hard.is_empty())
        {
            say(if quotas.is_empty() {
                format!(
                    "namespace {ns:?} has no ResourceQuota: its workloads can claim as much of the cluster's CPU, memory and object counts as they ask for; add a ResourceQuota capping at least requests.cpu, requests.memory and limits.memory"
                )
            } else {
                let names: Vec<String> = quotas.iter().map(|q| format!("{:?}", q.name)).collect();
                format!(
                    "the ResourceQuotas of namespace {ns:?} ({}) cap nothing (spec.hard is empty): its workloads can claim as much of the cluster as they ask for; list the resources to cap in spec.hard",
                    names.join(", ")
                )
            });
        }
        if !cx.policy.params::<Params>().require_limit_range {
            return;
        }
        if let Some(ranges) = inv.limit_ranges(namespace)
            && ranges.iter().all(|l| l.limits == 0)
        {
            say(format!(
                "namespace {ns:?} has no LimitRange that sets limits: containers without requests or limits get no defaults (and a quota on requests or limits rejects their pods); add a LimitRange with default and defaultRequest for type Container"
            ));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Policy;
    use crate::engine::{LimitRangeInfo, QuotaInfo};
    use crate::rules::testing::{Isolation as Inv, paths, run, run_at, run_with};

    fn quota(name: &str, hard: &[&str]) -> QuotaInfo {
        QuotaInfo {
            name: name.into(),
            hard: hard.iter().map(|h| (*h).to_owned()).collect(),
        }
    }

    fn range(name: &str, limits: usize) -> LimitRangeInfo {
        LimitRangeInfo {
            name: name.into(),
            limits,
        }
    }

    /// `items`, all in `shop`.
    fn shop<T>(items: Vec<T>) -> Option<Vec<(String, T)>> {
        Some(items.into_iter().map(|x| ("shop".to_owned(), x)).collect())
    }

    /// These quotas and limit ranges in `shop`.
    fn inv(quotas: Vec<QuotaInfo>, ranges: Vec<LimitRangeInfo>, complete: bool) -> Inv {
        Inv {
            quotas: shop(quotas),
            limit_ranges: shop(ranges),
            complete,
            ..Inv::default()
        }
    }

    const DEPLOY: &str = "kind: Deployment\nmetadata: {name: web, namespace: shop}\nspec: {template: {spec: {containers: [{name: a}]}}}\n";

    fn strict() -> Policy {
        let mut p = Policy::default();
        assert!(p.set_params(Params {
            require_limit_range: true
        }));
        p
    }

    fn check(yaml: &str, inv: &Inv, policy: &Policy) -> Vec<crate::engine::Finding> {
        run_with(&NamespaceQuota, yaml, policy, Some(inv))
    }

    /// The rule at severity error, to tell `report` from `warn`.
    fn check_at_error(yaml: &str, inv: &Inv) -> Vec<crate::engine::Finding> {
        run_at(
            &NamespaceQuota,
            yaml,
            Severity::Error,
            &Policy::default(),
            Some(inv),
        )
    }

    #[test]
    fn a_namespace_with_a_quota_passes() {
        let i = inv(vec![quota("compute", &["requests.cpu"])], Vec::new(), true);
        assert!(check(DEPLOY, &i, &Policy::default()).is_empty());
        let i = inv(
            vec![quota("compute", &["requests.cpu"])],
            vec![range("defaults", 1)],
            true,
        );
        assert!(check(DEPLOY, &i, &strict()).is_empty());
    }

    #[test]
    fn no_inventory_or_no_data_means_no_finding() {
        assert!(run(&NamespaceQuota, DEPLOY).is_empty());
        let none = Inv {
            complete: true,
            ..Inv::default()
        };
        assert!(check(DEPLOY, &none, &strict()).is_empty());
    }

    #[test]
    fn missing_quota_is_reported_offline_and_only_warned_live() {
        let f = check(
            DEPLOY,
            &inv(Vec::new(), Vec::new(), true),
            &Policy::default(),
        );
        assert_eq!(paths(&f), ["metadata.namespace"]);
        assert_eq!(f[0].severity, Severity::Warning);
        assert!(
            f[0].message
                .contains("namespace \"shop\" has no ResourceQuota"),
            "{}",
            f[0].message
        );
        let offline = check_at_error(DEPLOY, &inv(Vec::new(), Vec::new(), true));
        assert_eq!(offline[0].severity, Severity::Error);
        let live = check_at_error(DEPLOY, &inv(Vec::new(), Vec::new(), false));
        assert_eq!(live[0].severity, Severity::Warning);
    }

    /// A quota that caps nothing is no quota: what a tenant could add to quiet the rule.
    #[test]
    fn an_empty_quota_does_not_count() {
        let f = check(
            DEPLOY,
            &inv(vec![quota("placeholder", &[])], Vec::new(), true),
            &Policy::default(),
        );
        assert_eq!(paths(&f), ["metadata.namespace"]);
        assert!(
            f[0].message.contains("(\"placeholder\") cap nothing"),
            "{}",
            f[0].message
        );
        let both = inv(
            vec![quota("placeholder", &[]), quota("compute", &["pods"])],
            Vec::new(),
            true,
        );
        assert!(check(DEPLOY, &both, &Policy::default()).is_empty());
    }

    #[test]
    fn require_limit_range() {
        let quota_only = inv(vec![quota("compute", &["requests.cpu"])], Vec::new(), true);
        assert!(check(DEPLOY, &quota_only, &Policy::default()).is_empty());
        let f = check(DEPLOY, &quota_only, &strict());
        assert_eq!(paths(&f), ["metadata.namespace"]);
        assert!(f[0].message.contains("no LimitRange"), "{}", f[0].message);
        // A LimitRange without limits sets nothing.
        let empty = inv(
            vec![quota("compute", &["requests.cpu"])],
            vec![range("empty", 0)],
            true,
        );
        assert_eq!(check(DEPLOY, &empty, &strict()).len(), 1);
        // Neither: two findings.
        let f = check(DEPLOY, &inv(Vec::new(), Vec::new(), true), &strict());
        assert_eq!(f.len(), 2);
        let p = Policy::from_yaml("rules:\n  namespace-quota: {requireLimitRange: true}\n")
            .expect("policy");
        assert!(p.params::<Params>().require_limit_range);
    }

    #[test]
    fn only_pod_running_kinds_in_their_namespace() {
        let none = inv(Vec::new(), Vec::new(), true);
        for yaml in [
            "kind: Namespace\nmetadata: {name: shop}\n",
            "kind: Service\nmetadata: {namespace: shop}\n",
            "kind: NetworkPolicy\nmetadata: {namespace: shop}\nspec: {}\n",
            "kind: HorizontalPodAutoscaler\nmetadata: {namespace: shop}\nspec: {}\n",
        ] {
            assert!(check(yaml, &none, &Policy::default()).is_empty(), "{yaml}");
        }
        for yaml in [
            "kind: Pod\nmetadata: {namespace: shop}\nspec: {containers: [{name: a}]}\n",
            "kind: CronJob\nmetadata: {namespace: shop}\nspec: {}\n",
            "kind: Job\nmetadata: {namespace: shop}\nspec: {}\n",
        ] {
            assert_eq!(
                paths(&check(yaml, &none, &Policy::default())),
                ["metadata.namespace"],
                "{yaml}"
            );
        }
        // A quota in another namespace does not count; no namespace means `default`.
        let elsewhere = inv(vec![quota("compute", &["pods"])], Vec::new(), true);
        let f = check(
            "kind: Pod\nmetadata: {name: p}\nspec: {containers: [{name: a}]}\n",
            &elsewhere,
            &Policy::default(),
        );
        assert!(
            f[0].message.contains("namespace \"default\""),
            "{}",
            f[0].message
        );
    }
}
