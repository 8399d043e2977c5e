//! `graceful-shutdown`: long-running pods stop without dropping requests. Every container
//! has a `preStop` hook (endpoints are removed asynchronously, so a short pause before
//! SIGTERM lets load balancers stop sending traffic), and the termination grace period
//! outlasts the hook, otherwise the kubelet kills the container mid-hook.

use crate::engine::{Category, CheckCx, Rule, RuleMeta, Severity, Sink};

/// The rule.
pub struct GracefulShutdown;

static META: RuleMeta = RuleMeta {
    id: "graceful-shutdown",
    category: Category::Availability,
    severity: Severity::Warning,
    enabled_by_default: true,
    pss: None,
    summary: "Long-running containers have a preStop hook and terminationGracePeriodSeconds outlasts it",
    remediation: "Add lifecycle.preStop (e.g. sleep: {seconds: 5}) to every container and keep terminationGracePeriodSeconds longer than the hook",
};

/// Kubernetes' default `terminationGracePeriodSeconds`.
const DEFAULT_GRACE: i64 = 30;

impl Rule for GracefulShutdown {
    fn meta(&self) -> &'static RuleMeta {
        &META
    }

    fn check(&self, cx: &CheckCx<'_>, out: &mut Sink<'_>) {
        if !cx.obj.is_long_running() {
            return;
        }
        let Some((_, pod)) = cx.obj.pod() else { return };
        // The longest preStop whose duration is known, with the container that has it.
        let mut longest: Option<(i64, &str)> = None;
        for (i, c) in pod.containers.iter().enumerate() {
            let Some(hook) = c.lifecycle.as_ref().and_then(|l| l.pre_stop.as_ref()) else {
                out.report(
                    cx.pod_path(&format!("containers[{i}].lifecycle.preStop")),
                    format!(
                        "container {:?} has no preStop hook: it gets SIGTERM while still receiving traffic",
                        c.name
                    ),
                );
                continue;
            };
            if let Some(s) = &hook.sleep
                && longest.is_none_or(|(max, _)| s.seconds > max)
            {
                longest = Some((s.seconds, &c.name));
            }
        }
        let grace = pod.termination_grace_period_seconds;
        let effective = grace.unwrap_or(DEFAULT_GRACE);
        let shown = match grace {
            Some(g) => g.to_string(),
            None => format!("unset, defaulting to {DEFAULT_GRACE}"),
        };
        let path = cx.pod_path("terminationGracePeriodSeconds");
        match longest {
            Some((secs, name)) if effective <= secs => out.report(
                path,
                format!(
                    "terminationGracePeriodSeconds ({shown}) is not longer than container {name:?}'s preStop sleep of {secs}s: the container is killed before it can shut down"
                ),
            ),
            _ if effective <= 0 => out.report(
                path,
                "terminationGracePeriodSeconds is 0: containers are killed without a chance to shut down",
            ),
            _ => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rules::testing::{paths, run};

    fn deploy(pod: &str) -> String {
        format!("kind: Deployment\nspec:\n  template:\n    spec:\n{pod}")
    }

    #[test]
    fn containers_without_pre_stop_are_findings() {
        let f = run(
            &GracefulShutdown,
            &deploy(
                "      containers:\n      - {name: a, lifecycle: {preStop: {exec: {command: [sleep, '5']}}}}\n      - {name: b, lifecycle: {postStart: {exec: {command: [x]}}}}\n      - {name: c}\n      initContainers: [{name: sidecar, restartPolicy: Always}]\n",
            ),
        );
        assert_eq!(
            paths(&f),
            [
                "spec.template.spec.containers[1].lifecycle.preStop",
                "spec.template.spec.containers[2].lifecycle.preStop",
            ]
        );
        assert_eq!(f[0].severity, Severity::Warning);
    }

    #[test]
    fn pre_stop_shorter_than_grace_passes() {
        for pod in [
            "      containers: [{name: a, lifecycle: {preStop: {sleep: {seconds: 5}}}}]\n",
            "      terminationGracePeriodSeconds: 11\n      containers: [{name: a, lifecycle: {preStop: {sleep: {seconds: 10}}}}]\n",
            "      containers: [{name: a, lifecycle: {preStop: {httpGet: {path: /drain, port: 8080}}}}]\n",
        ] {
            assert!(run(&GracefulShutdown, &deploy(pod)).is_empty(), "{pod}");
        }
    }

    #[test]
    fn grace_period_not_longer_than_sleep_is_a_finding() {
        let f = run(
            &GracefulShutdown,
            &deploy(
                "      terminationGracePeriodSeconds: 10\n      containers:\n      - {name: a, lifecycle: {preStop: {sleep: {seconds: 3}}}}\n      - {name: b, lifecycle: {preStop: {sleep: {seconds: 10}}}}\n",
            ),
        );
        assert_eq!(
            paths(&f),
            ["spec.template.spec.terminationGracePeriodSeconds"]
        );
        assert!(f[0].message.contains("\"b\""), "{}", f[0].message);
        let f = run(
            &GracefulShutdown,
            &deploy(
                "      containers: [{name: a, lifecycle: {preStop: {sleep: {seconds: 45}}}}]\n",
            ),
        );
        assert_eq!(
            paths(&f),
            ["spec.template.spec.terminationGracePeriodSeconds"]
        );
        assert!(
            f[0].message.contains("defaulting to 30"),
            "{}",
            f[0].message
        );
    }

    #[test]
    fn zero_grace_period_is_a_finding() {
        let f = run(
            &GracefulShutdown,
            "kind: Pod\nspec:\n  terminationGracePeriodSeconds: 0\n  containers: [{name: a, lifecycle: {preStop: {exec: {command: [x]}}}}]\n",
        );
        assert_eq!(paths(&f), ["spec.terminationGracePeriodSeconds"]);
    }

    #[test]
    fn run_to_completion_workloads_are_skipped() {
        assert!(
            run(
                &GracefulShutdown,
                "kind: Job\nspec: {template: {spec: {containers: [{name: a}]}}}\n"
            )
            .is_empty()
        );
        assert!(
            run(
                &GracefulShutdown,
                "kind: Pod\nspec: {restartPolicy: Never, containers: [{name: a}]}\n"
            )
            .is_empty()
        );
    }
}
