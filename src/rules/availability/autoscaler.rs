//! `autoscaler`: a HorizontalPodAutoscaler never scales its target below the replica floor
//! and has room to scale (`maxReplicas > minReplicas`).
//!
//! The floor is the `replicas` rule's `minReplicas` (default 2): this rule has no parameters
//! of its own, so the two rules can never disagree about how many replicas are enough.

use super::replicas;
use crate::engine::{Category, CheckCx, Rule, RuleMeta, Severity, Sink};
use crate::workload::Body;

/// The rule.
pub struct Autoscaler;

static META: RuleMeta = RuleMeta {
    id: "autoscaler",
    category: Category::Availability,
    severity: Severity::Error,
    enabled_by_default: true,
    pss: None,
    summary: "HorizontalPodAutoscalers keep minReplicas at or above the replica floor (default 2) and maxReplicas above minReplicas",
    remediation: "Set spec.minReplicas to at least 2 (the replicas rule's minReplicas) and spec.maxReplicas above it",
};

impl Rule for Autoscaler {
    fn meta(&self) -> &'static RuleMeta {
        &META
    }

    fn check(&self, cx: &CheckCx<'_>, out: &mut Sink<'_>) {
        let Body::Hpa(spec) = &cx.obj.body else {
            return;
        };
        let floor = cx.policy.params::<replicas::Params>().min_replicas;
        let min = spec.min_replicas.unwrap_or(1);
        if min < floor {
            let shown = match spec.min_replicas {
                Some(m) => m.to_string(),
                None => "unset, defaulting to 1".into(),
            };
            out.report(
                "spec.minReplicas",
                format!("minReplicas is {shown}: the autoscaler may scale the workload below {floor} replica(s)"),
            );
        }
        match spec.max_replicas {
            Some(max) if max > min => {}
            Some(max) => out.report(
                "spec.maxReplicas",
                format!("maxReplicas ({max}) is not above minReplicas ({min}): the autoscaler cannot scale up"),
            ),
            None => out.report("spec.maxReplicas", "maxReplicas is unset"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Policy;
    use crate::rules::testing::{paths, run, run_with};

    fn hpa(spec: &str) -> String {
        format!("kind: HorizontalPodAutoscaler\nmetadata: {{name: web}}\nspec: {spec}\n")
    }

    #[test]
    fn sound_hpa_passes() {
        let f = run(
            &Autoscaler,
            &hpa(
                "{minReplicas: 2, maxReplicas: 10, scaleTargetRef: {kind: Deployment, name: web}}",
            ),
        );
        assert!(f.is_empty(), "{f:?}");
    }

    #[test]
    fn min_below_floor_and_unset_min_are_findings() {
        assert_eq!(
            paths(&run(&Autoscaler, &hpa("{minReplicas: 1, maxReplicas: 5}"))),
            ["spec.minReplicas"]
        );
        let f = run(&Autoscaler, &hpa("{maxReplicas: 5}"));
        assert_eq!(paths(&f), ["spec.minReplicas"]);
        assert!(f[0].message.contains("defaulting to 1"), "{}", f[0].message);
    }

    #[test]
    fn max_not_above_min_is_a_finding() {
        assert_eq!(
            paths(&run(&Autoscaler, &hpa("{minReplicas: 3, maxReplicas: 3}"))),
            ["spec.maxReplicas"]
        );
        assert_eq!(
            paths(&run(&Autoscaler, &hpa("{maxReplicas: 1}"))),
            ["spec.minReplicas", "spec.maxReplicas"]
        );
    }

    #[test]
    fn floor_follows_the_replicas_parameter() {
        let mut policy = Policy::default();
        assert!(policy.set_params(replicas::Params { min_replicas: 3 }));
        let f = run_with(
            &Autoscaler,
            &hpa("{minReplicas: 2, maxReplicas: 10}"),
            &policy,
            None,
        );
        assert_eq!(paths(&f), ["spec.minReplicas"]);
        assert!(policy.set_params(replicas::Params { min_replicas: 1 }));
        assert!(run_with(&Autoscaler, &hpa("{maxReplicas: 2}"), &policy, None).is_empty());
    }

    #[test]
    fn other_kinds_are_ignored() {
        assert!(run(&Autoscaler, "kind: Deployment\nspec: {replicas: 1}\n").is_empty());
    }
}
