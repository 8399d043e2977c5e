//! `disruption-budget`: a workload running two or more replicas is covered by a
//! PodDisruptionBudget that still allows a disruption, so node drains evict its pods one at a
//! time instead of all at once (no PDB) or never (a PDB that allows nothing blocks drains).
//!
//! The PDBs come from the [`Inventory`](crate::engine::Inventory): without one, the rule
//! stays silent. On a live cluster a missing PDB is only a warning (it may be applied right
//! after the workload) unless `denyWhenMissing` is set, which makes it an error; offline the
//! manifest set is the whole universe and a missing PDB is a finding at the rule's severity.
//!
//! PodDisruptionBudget objects are judged too, on what they say alone: `maxUnavailable: 0`
//! (or `0%`) and `minAvailable: 100%` allow no voluntary disruption whatever the replica
//! count, so every drain of a node running one of their pods hangs. An integer
//! `minAvailable` depends on the replica count and is judged from the workload's side.

use serde::{Deserialize, Serialize};

use crate::engine::{
    Category, CheckCx, ParamsSpec, PdbInfo, Rule, RuleMeta, RuleParams, Severity, Sink, join,
};

use super::pod_spread::replica_count;
use crate::workload::{Body, IntOrString, PdbSpec};

/// A PDB object that blocks every eviction of the pods it selects, whatever their number.
fn check_pdb(spec: &PdbSpec, out: &mut Sink<'_>) {
    if let Some(u) = &spec.max_unavailable
        && u.is_zero()
    {
        out.report(
            "spec.maxUnavailable",
            format!("maxUnavailable {u} allows no disruption: node drains block on these pods"),
        );
    }
    if let Some(m @ IntOrString::Str(s)) = &spec.min_available
        && s.strip_suffix('%')
            .and_then(|p| p.trim().parse::<f64>().ok())
            .is_some_and(|p| p >= 100.0)
    {
        out.report(
            "spec.minAvailable",
            format!("minAvailable {m} allows no disruption: node drains block on these pods"),
        );
    }
}

/// The rule.
pub struct DisruptionBudget;

static META: RuleMeta = RuleMeta {
    id: "disruption-budget",
    category: Category::Availability,
    severity: Severity::Warning,
    enabled_by_default: true,
    pss: None,
    summary: "Workloads with 2+ replicas are covered by exactly one PodDisruptionBudget that allows at least one disruption",
    remediation: "Add a PodDisruptionBudget selecting the pod labels with maxUnavailable: 1 (or a minAvailable below the replica count)",
};

/// How many pods `pdb` lets the eviction API take down out of `replicas` healthy ones;
/// `None` when a value cannot be read.
fn allowed_disruptions(pdb: &PdbInfo, replicas: i64) -> Option<i64> {
    // Kubernetes rounds both minAvailable and maxUnavailable percentages up.
    // Saturating: neither count is range-checked offline (a manifest's PDB), and an
    // overflow must not turn "allows everything" into "allows nothing".
    let from_min = |m: &IntOrString| Some(replicas.saturating_sub(m.resolve(replicas, true)?));
    match (&pdb.min_available, &pdb.max_unavailable) {
        (Some(m), None) => from_min(m),
        (None, Some(u)) => u.resolve(replicas, true),
        // Both set is rejected by the API server: honour the stricter.
        (Some(m), Some(u)) => Some(from_min(m)?.min(u.resolve(replicas, true)?)),
        // Neither set: treated as minAvailable 1.
        (None, None) => Some(replicas - 1),
    }
}

/// `minAvailable 2` / `maxUnavailable 0` / `no minAvailable or maxUnavailable`, for messages.
fn describe(pdb: &PdbInfo) -> String {
    match (&pdb.min_available, &pdb.max_unavailable) {
        (Some(m), Some(u)) => format!("minAvailable {m}, maxUnavailable {u}"),
        (Some(m), None) => format!("minAvailable {m}"),
        (None, Some(u)) => format!("maxUnavailable {u}"),
        (None, None) => "no minAvailable or maxUnavailable".into(),
    }
}

/// `rules.disruption-budget` parameters.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields, rename_all = "camelCase")]
pub struct Params {
    /// At admission a missing PDB is only a warning, since apply order is not guaranteed
    /// (the PDB may come right after the workload), unless this is true: then it denies.
    pub deny_when_missing: bool,
}

impl RuleParams for Params {}

impl Rule for DisruptionBudget {
    fn meta(&self) -> &'static RuleMeta {
        &META
    }

    fn params(&self) -> Option<ParamsSpec> {
        Some(ParamsSpec::of::<Params>())
    }

    fn check(&self, cx: &CheckCx<'_>, out: &mut Sink<'_>) {
        if let Body::Pdb(spec) = &cx.obj.body {
            return check_pdb(spec, out);
        }
        let Some(replicas) = replica_count(cx) else {
            return;
        };
        if replicas < 2 {
            return;
        }
        let Some(inv) = cx.ctx.inventory else { return };
        let Some(pdbs) = inv.pdbs(cx.obj.namespace()) else {
            return;
        };
        let Some(labels) = cx.obj.pod_labels() else {
            return;
        };
        let path = join(cx.obj.kind.pod_meta_path(), "labels");
        let matching: Vec<&PdbInfo> = pdbs
            .iter()
            .filter(|p| p.selector.as_ref().is_some_and(|s| s.matches(labels)))
            .collect();
        match matching.as_slice() {
            [] => {
                let message = format!(
                    "no PodDisruptionBudget in namespace {:?} selects these pod labels: a node drain may evict all {replicas} replicas at once",
                    cx.obj.namespace()
                );
                if cx.policy.params::<Params>().deny_when_missing {
                    out.deny(path, message);
                } else if !inv.is_complete() {
                    out.warn(path, message);
                } else {
                    out.report(path, message);
                }
            }
            [pdb] => {
                if let Some(allowed) = allowed_disruptions(pdb, replicas)
                    && allowed < 1
                {
                    out.report(
                        path,
                        format!(
                            "PodDisruptionBudget {:?} ({}) allows no disruption with {replicas} replicas: node drains will block",
                            pdb.name,
                            describe(pdb)
                        ),
                    );
                }
            }
            many => {
                // The eviction API refuses to evict a pod selected by more than one PDB.
                let names: Vec<String> = many.iter().map(|p| format!("{:?}", p.name)).collect();
                out.report(
                    path,
                    format!(
                        "{} PodDisruptionBudgets select these pods ({}): the eviction API refuses pods with more than one, so node drains will block",
                        many.len(),
                        names.join(", ")
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
    use crate::engine::{HpaInfo, Inventory};
    use crate::rules::testing::{paths, run, run_with};
    use crate::workload::{IntOrString, LabelSelector};

    struct Inv {
        pdbs: Option<Vec<PdbInfo>>,
        complete: bool,
    }
    impl Inventory for Inv {
        fn pdbs(&self, namespace: &str) -> Option<Vec<PdbInfo>> {
            self.pdbs.as_ref().map(|v| {
                v.iter()
                    .filter(|p| p.namespace == namespace)
                    .cloned()
                    .collect()
            })
        }
        fn hpa_for(&self, _: &str, _: &str, _: &str) -> Option<Option<HpaInfo>> {
            Some(None)
        }
        fn is_complete(&self) -> bool {
            self.complete
        }
    }

    fn selector(app: &str) -> LabelSelector {
        let mut s = LabelSelector::default();
        s.match_labels.insert("app".into(), app.into());
        s
    }

    fn pdb(
        name: &str,
        sel: Option<LabelSelector>,
        min: Option<IntOrString>,
        max: Option<IntOrString>,
    ) -> PdbInfo {
        PdbInfo {
            namespace: "prod".into(),
            name: name.into(),
            selector: sel,
            min_available: min,
            max_unavailable: max,
        }
    }

    fn inv(pdbs: Vec<PdbInfo>, complete: bool) -> Inv {
        Inv {
            pdbs: Some(pdbs),
            complete,
        }
    }

    fn deploy(replicas: i64) -> String {
        format!(
            "kind: Deployment\nmetadata: {{name: web, namespace: prod}}\nspec:\n  replicas: {replicas}\n  template:\n    metadata: {{labels: {{app: web, tier: front}}}}\n    spec: {{containers: [{{name: a}}]}}\n"
        )
    }

    fn check(yaml: &str, inv: &Inv, policy: &Policy) -> Vec<crate::engine::Finding> {
        run_with(&DisruptionBudget, yaml, policy, Some(inv))
    }

    #[test]
    fn no_inventory_or_no_pdb_data_means_no_finding() {
        assert!(run(&DisruptionBudget, &deploy(3)).is_empty());
        let none = Inv {
            pdbs: None,
            complete: true,
        };
        assert!(check(&deploy(3), &none, &Policy::default()).is_empty());
    }

    #[test]
    fn matching_pdb_that_allows_a_disruption_passes() {
        for p in [
            pdb(
                "web",
                Some(selector("web")),
                None,
                Some(IntOrString::Int(1)),
            ),
            pdb(
                "web",
                Some(selector("web")),
                Some(IntOrString::Int(2)),
                None,
            ),
            pdb(
                "web",
                Some(selector("web")),
                Some(IntOrString::Str("50%".into())),
                None,
            ),
            pdb(
                "web",
                Some(selector("web")),
                None,
                Some(IntOrString::Str("10%".into())),
            ),
            pdb("web", Some(selector("web")), None, None),
            pdb(
                "web",
                Some(LabelSelector::default()),
                None,
                Some(IntOrString::Int(1)),
            ),
        ] {
            let f = check(&deploy(3), &inv(vec![p.clone()], true), &Policy::default());
            assert!(f.is_empty(), "{p:?}: {f:?}");
        }
    }

    /// Runs the rule as if the policy raised its severity to error, to tell `report` from
    /// `warn` apart.
    fn check_at_error(yaml: &str, inv: &Inv, policy: &Policy) -> Vec<crate::engine::Finding> {
        let obj = crate::rules::testing::workload(yaml);
        let cx = CheckCx {
            obj: &obj,
            policy,
            ctx: crate::engine::Context {
                inventory: Some(inv),
                ..crate::engine::Context::default()
            },
        };
        let mut out = Vec::new();
        DisruptionBudget.check(&cx, &mut Sink::new(&META, Severity::Error, &mut out));
        out
    }

    #[test]
    fn missing_pdb_is_reported_offline_and_only_warned_live() {
        let others = vec![
            pdb(
                "other",
                Some(selector("db")),
                None,
                Some(IntOrString::Int(1)),
            ),
            pdb("nosel", None, None, Some(IntOrString::Int(1))),
        ];
        let f = check(&deploy(2), &inv(others.clone(), true), &Policy::default());
        assert_eq!(paths(&f), ["spec.template.metadata.labels"]);
        assert_eq!(f[0].severity, Severity::Warning);
        assert!(
            f[0].message.contains("no PodDisruptionBudget"),
            "{}",
            f[0].message
        );

        let policy = Policy::default();
        let offline = check_at_error(&deploy(2), &inv(others.clone(), true), &policy);
        assert_eq!(offline[0].severity, Severity::Error);
        let live = check_at_error(&deploy(2), &inv(others.clone(), false), &policy);
        assert_eq!(paths(&live), ["spec.template.metadata.labels"]);
        assert_eq!(live[0].severity, Severity::Warning);

        let mut strict = Policy::default();
        assert!(strict.set_params(Params {
            deny_when_missing: true
        }));
        let live = check_at_error(&deploy(2), &inv(others, false), &strict);
        assert_eq!(live[0].severity, Severity::Error);
    }

    #[test]
    fn blocking_pdb_is_reported_even_on_a_live_cluster() {
        let p = pdb(
            "tight",
            Some(selector("web")),
            Some(IntOrString::Int(2)),
            None,
        );
        let f = check_at_error(&deploy(2), &inv(vec![p], false), &Policy::default());
        assert_eq!(f[0].severity, Severity::Error);
    }

    #[test]
    fn pdb_objects_that_allow_no_disruption_are_flagged() {
        let pdb = |spec: &str| {
            format!(
                "apiVersion: policy/v1\nkind: PodDisruptionBudget\nmetadata: {{name: p}}\nspec: {spec}\n"
            )
        };
        let f = run(&DisruptionBudget, &pdb("{maxUnavailable: 0}"));
        assert_eq!(paths(&f), ["spec.maxUnavailable"]);
        assert!(
            f[0].message.contains("allows no disruption"),
            "{}",
            f[0].message
        );
        assert_eq!(
            paths(&run(&DisruptionBudget, &pdb("{maxUnavailable: '0%'}"))),
            ["spec.maxUnavailable"]
        );
        assert_eq!(
            paths(&run(&DisruptionBudget, &pdb("{minAvailable: '100%'}"))),
            ["spec.minAvailable"]
        );
        for ok in [
            "{maxUnavailable: 1}",
            "{maxUnavailable: '25%'}",
            "{minAvailable: 2}",
            "{minAvailable: '50%'}",
            "{}",
        ] {
            assert!(run(&DisruptionBudget, &pdb(ok)).is_empty(), "{ok}");
        }
    }

    #[test]
    fn deny_when_missing_denies_even_when_the_rule_is_a_warning() {
        let mut strict = Policy::default();
        assert!(strict.set_params(Params {
            deny_when_missing: true
        }));
        let f = check(&deploy(2), &inv(vec![], false), &strict);
        assert_eq!(f[0].severity, Severity::Error);
        let f = check(&deploy(2), &inv(vec![], false), &Policy::default());
        assert_eq!(f[0].severity, Severity::Warning);
    }

    #[test]
    fn pdb_in_another_namespace_does_not_count() {
        let mut p = pdb(
            "web",
            Some(selector("web")),
            None,
            Some(IntOrString::Int(1)),
        );
        p.namespace = "staging".into();
        let f = check(&deploy(2), &inv(vec![p], true), &Policy::default());
        assert_eq!(paths(&f), ["spec.template.metadata.labels"]);
    }

    #[test]
    fn pdb_allowing_no_disruption_is_reported_with_its_name() {
        for p in [
            pdb(
                "tight",
                Some(selector("web")),
                Some(IntOrString::Int(3)),
                None,
            ),
            pdb(
                "tight",
                Some(selector("web")),
                Some(IntOrString::Str("100%".into())),
                None,
            ),
            pdb(
                "tight",
                Some(selector("web")),
                Some(IntOrString::Str("90%".into())),
                None,
            ),
            pdb(
                "tight",
                Some(selector("web")),
                None,
                Some(IntOrString::Int(0)),
            ),
            pdb(
                "tight",
                Some(selector("web")),
                None,
                Some(IntOrString::Str("0%".into())),
            ),
        ] {
            let f = check(&deploy(3), &inv(vec![p.clone()], false), &Policy::default());
            assert_eq!(paths(&f), ["spec.template.metadata.labels"], "{p:?}");
            assert!(f[0].message.contains("\"tight\""), "{}", f[0].message);
        }
    }

    #[test]
    fn two_matching_pdbs_block_eviction() {
        let pdbs = vec![
            pdb("a", Some(selector("web")), None, Some(IntOrString::Int(1))),
            pdb(
                "b",
                Some(LabelSelector::default()),
                None,
                Some(IntOrString::Int(1)),
            ),
        ];
        let f = check(&deploy(3), &inv(pdbs, true), &Policy::default());
        assert_eq!(paths(&f), ["spec.template.metadata.labels"]);
        assert!(f[0].message.contains("\"a\", \"b\""), "{}", f[0].message);
    }

    #[test]
    fn single_replica_and_other_kinds_are_skipped() {
        let empty = inv(Vec::new(), true);
        assert!(check(&deploy(1), &empty, &Policy::default()).is_empty());
        assert!(check(
            "kind: DaemonSet\nmetadata: {namespace: prod}\nspec: {template: {spec: {containers: [{name: a}]}}}\n",
            &empty,
            &Policy::default()
        )
        .is_empty());
    }

    /// Regression (found by tests/integration/fuzz.rs): `replicas - minAvailable` overflowed
    /// for out-of-range counts (a panic in debug builds; in release a wrapped negative count,
    /// reported as a PDB that allows no disruption).
    #[test]
    fn extreme_counts_do_not_overflow() {
        let huge_negative = pdb(
            "web",
            Some(selector("web")),
            Some(IntOrString::Int(i64::MIN)),
            None,
        );
        let f = check(
            &deploy(2),
            &inv(vec![huge_negative], true),
            &Policy::default(),
        );
        assert!(f.is_empty(), "{f:?}");
        let min_one = pdb(
            "web",
            Some(selector("web")),
            Some(IntOrString::Int(-1)),
            None,
        );
        let f = check(
            &deploy(i64::MAX),
            &inv(vec![min_one], true),
            &Policy::default(),
        );
        assert!(f.is_empty(), "{f:?}");
    }

    #[test]
    fn statefulset_path_and_percentages() {
        let yaml = "kind: StatefulSet\nmetadata: {name: db, namespace: prod}\nspec:\n  replicas: 2\n  template:\n    metadata: {labels: {app: web}}\n    spec: {containers: [{name: a}]}\n";
        let p = pdb(
            "db",
            Some(selector("web")),
            Some(IntOrString::Str("51%".into())),
            None,
        );
        let f = check(yaml, &inv(vec![p], true), &Policy::default());
        assert_eq!(paths(&f), ["spec.template.metadata.labels"]);
    }
}
