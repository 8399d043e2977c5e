//! `labels`: workloads and the pods they create carry the labels operators, dashboards and
//! cost reports rely on (`labels.required`, default `app.kubernetes.io/name`).

use serde::{Deserialize, Serialize};

use crate::engine::{
    Category, CheckCx, ParamsSpec, Rule, RuleMeta, RuleParams, Severity, Sink, join,
};
use crate::workload::Kind;

/// The rule.
pub struct Labels;

static META: RuleMeta = RuleMeta {
    id: "labels",
    category: Category::Hygiene,
    severity: Severity::Warning,
    enabled_by_default: true,
    pss: None,
    summary: "Workloads and their pod templates carry the required labels (default app.kubernetes.io/name)",
    remediation: "Add each required label to metadata.labels and to the pod template's metadata.labels",
};

/// `rules.labels` parameters.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields, rename_all = "camelCase")]
pub struct Params {
    /// Labels every workload and its pod template must carry (the mutating webhook derives
    /// `app.kubernetes.io/name`, and `/version` when listed here).
    pub required: Vec<String>,
}

impl Default for Params {
    fn default() -> Self {
        Params {
            required: vec!["app.kubernetes.io/name".into()],
        }
    }
}

impl RuleParams for Params {}

impl Rule for Labels {
    fn meta(&self) -> &'static RuleMeta {
        &META
    }

    fn params(&self) -> Option<ParamsSpec> {
        Some(ParamsSpec::of::<Params>())
    }

    fn check(&self, cx: &CheckCx<'_>, out: &mut Sink<'_>) {
        let obj = cx.obj;
        if !obj.kind.has_pod_spec() {
            return;
        }
        let params = cx.policy.params::<Params>();
        let required = &params.required;
        for key in required {
            if !obj.meta.labels.contains_key(key) {
                out.report(
                    "metadata.labels",
                    format!("{} {:?} has no {key:?} label", obj.kind_name, obj.name()),
                );
            }
        }
        if obj.kind == Kind::Pod {
            return;
        }
        let Some(template) = obj.pod_labels() else {
            return;
        };
        let path = join(obj.kind.pod_meta_path(), "labels");
        for key in required {
            if !template.contains_key(key) {
                out.report(
                    path.clone(),
                    format!("the pod template has no {key:?} label"),
                );
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Policy;
    use crate::rules::testing::{paths, run, run_with};

    const NAME: &str = "app.kubernetes.io/name";

    #[test]
    fn labelled_workload_and_template_pass() {
        let yaml = format!(
            "kind: Deployment\nmetadata: {{name: web, labels: {{{NAME}: web}}}}\nspec:\n  template:\n    metadata: {{labels: {{{NAME}: web}}}}\n    spec: {{containers: [{{name: a}}]}}\n"
        );
        assert!(run(&Labels, &yaml).is_empty());
        assert!(
            run(
                &Labels,
                &format!("kind: Pod\nmetadata: {{labels: {{{NAME}: x}}}}\nspec: {{}}\n")
            )
            .is_empty()
        );
    }

    #[test]
    fn missing_labels_on_workload_and_template() {
        let f = run(
            &Labels,
            "kind: Deployment\nmetadata: {name: web, labels: null}\nspec: {template: {spec: {containers: [{name: a}]}}}\n",
        );
        assert_eq!(
            paths(&f),
            ["metadata.labels", "spec.template.metadata.labels"]
        );
        assert!(f.iter().all(|x| x.message.contains(NAME)), "{f:?}");
        assert_eq!(f[0].severity, Severity::Warning);
        let f = run(
            &Labels,
            &format!(
                "kind: CronJob\nmetadata: {{labels: {{{NAME}: c}}}}\nspec: {{jobTemplate: {{spec: {{template: {{spec: {{}}}}}}}}}}\n"
            ),
        );
        assert_eq!(
            paths(&f),
            ["spec.jobTemplate.spec.template.metadata.labels"]
        );
    }

    #[test]
    fn pods_have_no_template_and_other_kinds_are_skipped() {
        assert_eq!(
            paths(&run(&Labels, "kind: Pod\nspec: {}\n")),
            ["metadata.labels"]
        );
        assert!(
            run(
                &Labels,
                "kind: HorizontalPodAutoscaler\nspec: {maxReplicas: 2}\n"
            )
            .is_empty()
        );
        assert!(run(&Labels, "kind: Namespace\nmetadata: {name: x}\n").is_empty());
    }

    #[test]
    fn one_finding_per_missing_key() {
        let mut policy = Policy::default();
        assert!(policy.set_params(Params {
            required: vec!["team".into(), "tier".into()]
        }));
        let f = run_with(
            &Labels,
            "kind: StatefulSet\nmetadata: {labels: {team: a}}\nspec: {template: {metadata: {labels: {tier: db}}}}\n",
            &policy,
            None,
        );
        assert_eq!(
            paths(&f),
            ["metadata.labels", "spec.template.metadata.labels"]
        );
        assert!(
            f[0].message.contains("\"tier\"") && f[1].message.contains("\"team\""),
            "{f:?}"
        );
    }
}
