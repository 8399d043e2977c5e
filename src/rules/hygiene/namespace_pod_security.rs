//! `namespace-pod-security`: every Namespace enforces a Pod Security Standards level through
//! the built-in Pod Security Admission label, at least `level` (default restricted), so the
//! baseline holds even for pods bulwark does not see (webhook outage, exempt users).

use serde::{Deserialize, Serialize};

use crate::engine::{
    Category, CheckCx, ParamsSpec, PssLevel, Rule, RuleMeta, RuleParams, Severity, Sink,
};
use crate::workload::Kind;

/// The rule.
pub struct NamespacePodSecurity;

/// The Pod Security Admission enforcement label.
pub const ENFORCE_LABEL: &str = "pod-security.kubernetes.io/enforce";

static META: RuleMeta = RuleMeta {
    id: "namespace-pod-security",
    category: Category::Hygiene,
    severity: Severity::Warning,
    enabled_by_default: true,
    pss: None,
    summary: "Namespaces set pod-security.kubernetes.io/enforce to at least the configured level (default restricted)",
    remediation: "Label the namespace pod-security.kubernetes.io/enforce=restricted (or the configured level)",
};

/// Rank of a PSS level name: privileged < baseline < restricted.
fn rank(level: &str) -> Option<u8> {
    match level {
        "privileged" => Some(0),
        "baseline" => Some(1),
        "restricted" => Some(2),
        _ => None,
    }
}

/// `rules.namespace-pod-security` parameters.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields, rename_all = "camelCase")]
pub struct Params {
    /// Lowest acceptable `pod-security.kubernetes.io/enforce` level.
    pub level: PssLevel,
}

impl Default for Params {
    fn default() -> Self {
        Params {
            level: PssLevel::Restricted,
        }
    }
}

impl RuleParams for Params {}

impl Rule for NamespacePodSecurity {
    fn meta(&self) -> &'static RuleMeta {
        &META
    }

    fn params(&self) -> Option<ParamsSpec> {
        Some(ParamsSpec::of::<Params>())
    }

    fn check(&self, cx: &CheckCx<'_>, out: &mut Sink<'_>) {
        if cx.obj.kind != Kind::Namespace {
            return;
        }
        let want = cx.policy.params::<Params>().level;
        let want_rank = match want {
            PssLevel::Baseline => 1,
            PssLevel::Restricted => 2,
        };
        let want = want.as_str();
        match cx.obj.meta.labels.get(ENFORCE_LABEL) {
            None => out.report(
                "metadata.labels",
                format!("namespace has no {ENFORCE_LABEL} label: set it to {want}"),
            ),
            Some(v) => match rank(v) {
                None => out.report(
                    "metadata.labels",
                    format!("{ENFORCE_LABEL} is {v:?}, not a Pod Security level: set it to {want}"),
                ),
                Some(r) if r < want_rank => out.report(
                    "metadata.labels",
                    format!("{ENFORCE_LABEL} is {v}, below the required {want}"),
                ),
                Some(_) => {}
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Policy;
    use crate::rules::testing::{paths, run, run_with};

    fn ns(label: &str) -> String {
        format!("kind: Namespace\nmetadata:\n  name: prod\n  labels: {{{label}}}\n")
    }

    #[test]
    fn restricted_passes_by_default() {
        assert!(
            run(
                &NamespacePodSecurity,
                &ns("pod-security.kubernetes.io/enforce: restricted")
            )
            .is_empty()
        );
    }

    #[test]
    fn missing_lower_or_bogus_levels_are_findings() {
        for label in [
            "",
            "pod-security.kubernetes.io/warn: restricted",
            "pod-security.kubernetes.io/enforce: baseline",
            "pod-security.kubernetes.io/enforce: privileged",
            "pod-security.kubernetes.io/enforce: Restricted",
        ] {
            let f = run(&NamespacePodSecurity, &ns(label));
            assert_eq!(paths(&f), ["metadata.labels"], "{label}");
            assert_eq!(f[0].severity, Severity::Warning);
        }
    }

    #[test]
    fn level_parameter_lowers_the_bar() {
        let mut policy = Policy::default();
        assert!(policy.set_params(Params {
            level: PssLevel::Baseline
        }));
        let run = |label: &str| run_with(&NamespacePodSecurity, &ns(label), &policy, None);
        assert!(run("pod-security.kubernetes.io/enforce: baseline").is_empty());
        assert!(run("pod-security.kubernetes.io/enforce: restricted").is_empty());
        assert_eq!(
            paths(&run("pod-security.kubernetes.io/enforce: privileged")),
            ["metadata.labels"]
        );
    }

    #[test]
    fn other_kinds_are_ignored() {
        assert!(
            run(
                &NamespacePodSecurity,
                "kind: Pod\nmetadata: {name: x}\nspec: {}\n"
            )
            .is_empty()
        );
    }
}
