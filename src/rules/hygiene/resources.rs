//! `resources`: every container declares CPU and memory requests (what the scheduler
//! reserves) and limits (what stops one container starving its node), and optionally
//! ephemeral-storage too. Ephemeral (debug) containers cannot carry resources and are skipped.

use serde::{Deserialize, Serialize};

use crate::engine::{Category, CheckCx, ParamsSpec, Rule, RuleMeta, RuleParams, Severity, Sink};
use crate::workload::ContainerKind;

/// The rule.
pub struct Resources;

static META: RuleMeta = RuleMeta {
    id: "resources",
    category: Category::Hygiene,
    severity: Severity::Error,
    enabled_by_default: true,
    pss: None,
    summary: "Containers set cpu and memory requests and limits (and ephemeral-storage with ephemeralStorage: true)",
    remediation: "Set resources.requests and resources.limits for cpu and memory (and ephemeral-storage) on every container and init container",
};

/// `rules.resources` parameters.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields, rename_all = "camelCase")]
pub struct Params {
    /// Also require `ephemeral-storage` requests and limits (nodes evict pods that fill
    /// their disk, and the scheduler cannot account for them otherwise).
    pub ephemeral_storage: bool,
}

impl RuleParams for Params {}

impl Rule for Resources {
    fn meta(&self) -> &'static RuleMeta {
        &META
    }

    fn params(&self) -> Option<ParamsSpec> {
        Some(ParamsSpec::of::<Params>())
    }

    fn check(&self, cx: &CheckCx<'_>, out: &mut Sink<'_>) {
        let Some((_, pod)) = cx.obj.pod() else { return };
        let keys: &[&str] = if cx.policy.params::<Params>().ephemeral_storage {
            &["cpu", "memory", "ephemeral-storage"]
        } else {
            &["cpu", "memory"]
        };
        for c in pod
            .all_containers()
            .filter(|c| c.kind != ContainerKind::Ephemeral)
        {
            let res = c.container.resources.as_ref();
            for (section, present) in [
                ("requests", res.map(|r| &r.requests)),
                ("limits", res.map(|r| &r.limits)),
            ] {
                for key in keys {
                    if present.is_some_and(|m| m.contains_key(*key)) {
                        continue;
                    }
                    out.report(
                        cx.pod_path(&format!("{}.resources.{section}.{key}", c.rel_path())),
                        format!(
                            "container {:?} has no {key} {}",
                            c.container.name,
                            singular(section)
                        ),
                    );
                }
            }
        }
    }
}

fn singular(section: &str) -> &str {
    section.strip_suffix('s').unwrap_or(section)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Policy;
    use crate::rules::testing::{paths, run, run_with};

    const FULL: &str = "{requests: {cpu: 100m, memory: 128Mi}, limits: {cpu: '1', memory: 128Mi}}";

    #[test]
    fn complete_resources_pass() {
        let yaml = format!(
            "kind: Deployment\nspec:\n  template:\n    spec:\n      containers: [{{name: a, resources: {FULL}}}]\n      initContainers: [{{name: i, resources: {FULL}}}]\n      ephemeralContainers: [{{name: debug}}]\n"
        );
        assert!(run(&Resources, &yaml).is_empty());
    }

    #[test]
    fn one_finding_per_missing_key() {
        let f = run(
            &Resources,
            "kind: Deployment\nspec:\n  template:\n    spec:\n      containers: [{name: a, resources: {requests: {cpu: 100m}, limits: {cpu: '1'}}}]\n",
        );
        assert_eq!(
            paths(&f),
            [
                "spec.template.spec.containers[0].resources.requests.memory",
                "spec.template.spec.containers[0].resources.limits.memory",
            ]
        );
        assert!(f[0].message.contains("memory request"), "{}", f[0].message);
    }

    #[test]
    fn no_resources_at_all_and_init_containers() {
        let f = run(
            &Resources,
            "kind: Pod\nspec:\n  initContainers: [{name: i, resources: null}]\n",
        );
        assert_eq!(
            paths(&f),
            [
                "spec.initContainers[0].resources.requests.cpu",
                "spec.initContainers[0].resources.requests.memory",
                "spec.initContainers[0].resources.limits.cpu",
                "spec.initContainers[0].resources.limits.memory",
            ]
        );
    }

    #[test]
    fn ephemeral_storage_only_when_asked() {
        let yaml = format!("kind: Pod\nspec:\n  containers: [{{name: a, resources: {FULL}}}]\n");
        assert!(run(&Resources, &yaml).is_empty());
        let mut policy = Policy::default();
        assert!(policy.set_params(Params {
            ephemeral_storage: true
        }));
        let f = run_with(&Resources, &yaml, &policy, None);
        assert_eq!(
            paths(&f),
            [
                "spec.containers[0].resources.requests.ephemeral-storage",
                "spec.containers[0].resources.limits.ephemeral-storage",
            ]
        );
    }

    #[test]
    fn cronjob_path() {
        let f = run(
            &Resources,
            "kind: CronJob\nspec: {jobTemplate: {spec: {template: {spec: {containers: [{name: a, resources: {requests: {cpu: 1, memory: 1Gi}, limits: {memory: 1Gi}}}]}}}}}\n",
        );
        assert_eq!(
            paths(&f),
            ["spec.jobTemplate.spec.template.spec.containers[0].resources.limits.cpu"]
        );
    }
}
