//! `secret-env`: secrets are not written into manifests as literal env values, where
//! anyone who can read the workload (or its history in Git) reads them. An env var whose name
//! looks secret (contains one of `patterns`, case-insensitive) must use `valueFrom`.

use serde::{Deserialize, Serialize};

use crate::engine::{
    Category, CheckCx, ParamError, ParamsSpec, Rule, RuleMeta, RuleParams, Severity, Sink,
};

/// The rule.
pub struct SecretEnv;

static META: RuleMeta = RuleMeta {
    id: "secret-env",
    category: Category::Hygiene,
    severity: Severity::Error,
    enabled_by_default: true,
    pss: None,
    summary: "Env vars whose names look like secrets (PASSWORD, TOKEN, ...) are not set to literal values",
    remediation: "Move the value into a Secret and reference it with env[].valueFrom.secretKeyRef (or envFrom)",
};

/// `rules.secret-env` parameters.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields, rename_all = "camelCase")]
pub struct Params {
    /// Substrings of env var names that hold secrets, matched case-insensitively (kept
    /// upper-case once parsed).
    pub patterns: Vec<String>,
}

impl Default for Params {
    fn default() -> Self {
        Params {
            patterns: [
                "PASSWORD",
                "PASSWD",
                "SECRET",
                "TOKEN",
                "API_KEY",
                "APIKEY",
                "PRIVATE_KEY",
                "CREDENTIAL",
                "ACCESS_KEY",
            ]
            .map(String::from)
            .to_vec(),
        }
    }
}

impl RuleParams for Params {
    fn validate(&mut self) -> Result<(), ParamError> {
        // Upper-cased once here, so a policy that writes `password` equals one that writes
        // `PASSWORD`; the check still upper-cases, for patterns set in code.
        self.patterns
            .iter_mut()
            .for_each(|p| p.make_ascii_uppercase());
        Ok(())
    }
}

impl Rule for SecretEnv {
    fn meta(&self) -> &'static RuleMeta {
        &META
    }

    fn params(&self) -> Option<ParamsSpec> {
        Some(ParamsSpec::of::<Params>())
    }

    fn check(&self, cx: &CheckCx<'_>, out: &mut Sink<'_>) {
        let Some((_, pod)) = cx.obj.pod() else { return };
        let patterns: Vec<String> = cx
            .policy
            .params::<Params>()
            .patterns
            .iter()
            .filter(|p| !p.is_empty())
            .map(|p| p.to_ascii_uppercase())
            .collect();
        if patterns.is_empty() {
            return;
        }
        for c in pod.all_containers() {
            for (j, env) in c.container.env.iter().enumerate() {
                if env.value.as_deref().is_none_or(str::is_empty) {
                    continue;
                }
                let name = env.name.to_ascii_uppercase();
                if let Some(p) = patterns.iter().find(|p| name.contains(p.as_str())) {
                    out.report(
                        cx.pod_path(&format!("{}.env[{j}].value", c.rel_path())),
                        format!(
                            "container {:?} sets {:?} (matches {p}) to a literal value: use valueFrom.secretKeyRef",
                            c.container.name, env.name
                        ),
                    );
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Policy;
    use crate::rules::testing::{paths, run, run_with};

    #[test]
    fn literal_secret_values_are_findings_case_insensitively() {
        let f = run(
            &SecretEnv,
            "kind: Deployment\nspec:\n  template:\n    spec:\n      containers:\n      - name: a\n        env:\n        - {name: LOG_LEVEL, value: debug}\n        - {name: db_password, value: hunter2}\n        - {name: GITHUB_TOKEN, valueFrom: {secretKeyRef: {name: gh, key: token}}}\n      initContainers:\n      - name: i\n        env: [{name: AwsSecretAccessKey, value: abc}]\n",
        );
        assert_eq!(
            paths(&f),
            [
                "spec.template.spec.containers[0].env[1].value",
                "spec.template.spec.initContainers[0].env[0].value",
            ]
        );
        assert!(f[0].message.contains("db_password"), "{}", f[0].message);
    }

    #[test]
    fn value_from_and_empty_values_pass() {
        let f = run(
            &SecretEnv,
            "kind: Pod\nspec:\n  containers:\n  - name: a\n    env:\n    - {name: API_KEY, valueFrom: {secretKeyRef: {name: s, key: k}}}\n    - {name: PASSWORD_FILE_UNSET, value: ''}\n    - {name: HOME, value: /tmp}\n",
        );
        assert!(f.is_empty(), "{f:?}");
    }

    #[test]
    fn patterns_come_from_the_policy() {
        let mut policy = Policy::default();
        assert!(policy.set_params(Params {
            patterns: vec!["dsn".into()]
        }));
        let yaml = "kind: Pod\nspec:\n  containers: [{name: a, env: [{name: SENTRY_DSN, value: 'https://x'}, {name: PASSWORD, value: x}]}]\n";
        assert_eq!(
            paths(&run_with(&SecretEnv, yaml, &policy, None)),
            ["spec.containers[0].env[0].value"]
        );
    }
}
