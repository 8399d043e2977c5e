//! `startup-probe` (off by default): every long-running container of a long-running workload
//! has a `startupProbe`, so slow starters are not killed by their liveness probe while they
//! boot. Useful where start-up time varies; many fast-starting services do not need it.

use super::liveness_probe::check_probe;
use crate::engine::{Category, CheckCx, Rule, RuleMeta, Severity, Sink};

/// The rule.
pub struct StartupProbe;

static META: RuleMeta = RuleMeta {
    id: "startup-probe",
    category: Category::Availability,
    severity: Severity::Warning,
    enabled_by_default: false,
    pss: None,
    summary: "Long-running containers (and sidecars) define a startupProbe",
    remediation: "Add a startupProbe whose failureThreshold x periodSeconds covers the slowest start, so the livenessProbe only runs after start-up",
};

impl Rule for StartupProbe {
    fn meta(&self) -> &'static RuleMeta {
        &META
    }

    fn check(&self, cx: &CheckCx<'_>, out: &mut Sink<'_>) {
        check_probe(cx, out, "startupProbe", |c| c.startup_probe.as_ref());
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rules::testing::{paths, run};

    #[test]
    fn flags_missing_startup_probe_as_warning() {
        let f = run(
            &StartupProbe,
            "kind: StatefulSet\nspec:\n  template:\n    spec:\n      containers: [{name: db, livenessProbe: {tcpSocket: {port: 5432}}}]\n",
        );
        assert_eq!(paths(&f), ["spec.template.spec.containers[0].startupProbe"]);
        assert_eq!(f[0].severity, Severity::Warning);
    }

    #[test]
    fn passes_with_startup_probe_and_skips_cronjobs() {
        assert!(run(
            &StartupProbe,
            "kind: Deployment\nspec:\n  template:\n    spec:\n      containers: [{name: a, startupProbe: {httpGet: {port: 80}}}]\n",
        )
        .is_empty());
        assert!(run(
            &StartupProbe,
            "kind: CronJob\nspec: {jobTemplate: {spec: {template: {spec: {containers: [{name: a}]}}}}}\n",
        )
        .is_empty());
    }

    #[test]
    fn is_off_by_default() {
        assert!(!META.enabled_by_default);
    }
}
