//! The policy bound to the built-in rule catalogue: [`Policy::default`], the embedded
//! default policy file, and loading `--config` files.
//!
//! This layer sits above `rules` so it may name the catalogue; the types themselves live
//! lower (`policy` for the vocabulary and file format, `engine` for the compiled
//! [`Policy`]) and are re-exported here, where callers have always found them.
//!
//! Every key is checked: an unknown key, a parameter given to the wrong rule or an unknown
//! rule id is an error naming the key, so a typo never silently weakens enforcement.

pub use crate::engine::Policy;
pub use crate::policy::{
    AdmissionConfig, ConfigError, ControllerIdentity, EffectiveRule, Exemptions, ImageExemption,
    Mode, SYSTEM_NAMESPACES, Scope, WorkloadExemption,
};

use crate::policy::PolicyFile;
use crate::rules;

/// The default policy file, embedded: it documents every key and equals [`Policy::default`]
/// (a test holds the two together).
pub const DEFAULT_POLICY_YAML: &str = include_str!("../deploy/base/policy.yaml");

/// The built-in policy: every rule of [`rules::catalogue`] at its defaults.
impl Default for Policy {
    fn default() -> Self {
        Policy::new(rules::catalogue())
    }
}

// Defined here rather than beside the type in `engine`, because only this layer knows the
// built-in catalogue; `Policy::compile` does the work for any catalogue.
impl Policy {
    /// Loads a policy file from disk.
    pub fn from_file(path: &std::path::Path) -> Result<Policy, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Io {
            path: path.display().to_string(),
            source,
        })?;
        Policy::from_yaml(&text)
    }

    /// Parses a policy from YAML over the built-in defaults.
    pub fn from_yaml(text: &str) -> Result<Policy, ConfigError> {
        Policy::compile(PolicyFile::from_yaml(text)?, rules::catalogue())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::{PssLevel, Severity};

    #[test]
    fn embedded_default_equals_builtin_default() {
        let parsed = Policy::from_yaml(DEFAULT_POLICY_YAML).expect("default policy parses");
        assert_eq!(parsed, Policy::default());
    }

    #[test]
    fn empty_file_is_default() {
        assert_eq!(Policy::from_yaml("").expect("empty"), Policy::default());
    }

    #[test]
    fn overrides_apply() {
        let p = Policy::from_yaml(
            "podSecurity: baseline\nrules:\n  replicas:\n    minReplicas: 3\n    severity: warning\n  startup-probe:\n    enabled: true\n",
        )
        .expect("parses");
        assert_eq!(p.pod_security, PssLevel::Baseline);
        assert_eq!(
            p.params::<rules::availability::replicas::Params>()
                .min_replicas,
            3
        );
        let r = p.rule_by_id("replicas").expect("rule");
        assert_eq!(r.severity, Severity::Warning);
        assert!(p.rule_by_id("startup-probe").expect("rule").enabled);
    }

    #[test]
    fn errors_name_the_offending_key() {
        let e = Policy::from_yaml("rules:\n  replicaz: {}\n")
            .expect_err("must fail")
            .to_string();
        assert!(e.contains("rules.replicaz"), "{e}");
        let e = Policy::from_yaml("rules:\n  image-tag:\n    minReplicas: 2\n")
            .expect_err("must fail")
            .to_string();
        assert!(e.contains("rules.image-tag.minReplicas"), "{e}");
        let e = Policy::from_yaml("podSecurity: strict\n")
            .expect_err("must fail")
            .to_string();
        assert!(e.contains("podSecurity") || e.contains("strict"), "{e}");
        let e = Policy::from_yaml("rulez: {}\n")
            .expect_err("must fail")
            .to_string();
        assert!(e.contains("rulez"), "{e}");
        let e = Policy::from_yaml("exemptions:\n  workloads:\n  - name: x\n    rules: [nope]\n")
            .expect_err("must fail")
            .to_string();
        assert!(e.contains("exemptions.workloads[0].rules[0]"), "{e}");
    }

    fn err(yaml: &str) -> String {
        Policy::from_yaml(yaml).expect_err("must fail").to_string()
    }

    #[test]
    fn parameters_are_checked_by_their_rule() {
        for (yaml, want) in [
            (
                "replicas: {foo: 1}",
                "`rules.replicas.foo`: not a parameter of this rule (its parameters: minReplicas)",
            ),
            (
                "privileged: {minReplicas: 2}",
                "`rules.privileged.minReplicas`: not a parameter of this rule (its parameters: none)",
            ),
            (
                "replicas: {minReplicas: three}",
                "`rules.replicas.minReplicas`: invalid type: string \"three\"",
            ),
            (
                "replicas: {minReplicas: 2.5}",
                "`rules.replicas.minReplicas`: invalid type: floating point",
            ),
            (
                "secret-env: {patterns: TOKEN}",
                "`rules.secret-env.patterns`: invalid type",
            ),
            (
                "namespace-pod-security: {level: privileged}",
                "`rules.namespace-pod-security.level`: unknown variant",
            ),
            (
                "replicas: {minReplicas: 0}",
                "`rules.replicas.minReplicas`: must be at least 1",
            ),
        ] {
            let e = err(&format!("rules:\n  {yaml}\n"));
            assert!(e.contains(want), "{yaml}: {e}");
        }
        // The keys every rule has are still typed.
        let e = err("rules:\n  replicas:\n    enabled: maybe\n");
        assert!(e.contains("rules.replicas.enabled: invalid type"), "{e}");
    }

    #[test]
    fn secret_patterns_are_upper_cased_when_parsed() {
        use crate::rules::hygiene::secret_env::Params;
        let p = Policy::from_yaml("rules:\n  secret-env:\n    patterns: [dsn, Token]\n")
            .expect("parses");
        assert_eq!(p.params::<Params>().patterns, ["DSN", "TOKEN"]);
    }

    #[test]
    fn every_rules_parameters_round_trip() {
        let defaults = Policy::default();
        for (i, r) in rules::catalogue().iter().enumerate() {
            let Some(spec) = r.params() else {
                assert!(defaults.rule_params(i).is_none(), "{}", r.meta().id);
                continue;
            };
            let id = r.meta().id;
            let written = serde_json::Value::Object(spec.defaults());
            let yaml = format!("rules:\n  {id}: {written}\n");
            let parsed = Policy::from_yaml(&yaml).unwrap_or_else(|e| panic!("{id}: {e}"));
            assert_eq!(
                parsed, defaults,
                "{id}: defaults written out parse to the defaults"
            );
            let back = parsed.rule_params(i).map(|p| p.to_json());
            assert_eq!(back, Some(written), "{id}");
        }
    }

    /// `deploy/base/policy.yaml` is where users read the policy's keys: it lists every rule
    /// parameter at its default, so a new parameter cannot go undocumented.
    #[test]
    fn default_policy_file_lists_every_rule_parameter() {
        let file: serde_json::Value =
            serde_yaml_ng::from_str(DEFAULT_POLICY_YAML).expect("default policy parses");
        for r in rules::catalogue() {
            let id = r.meta().id;
            for (key, value) in r.params().map(|s| s.defaults()).unwrap_or_default() {
                assert_eq!(
                    file["rules"][id].get(&key),
                    Some(&value),
                    "deploy/base/policy.yaml should list `rules.{id}.{key}: {value}` (the default)"
                );
            }
        }
    }

    #[test]
    fn changed_parameters_round_trip_through_a_policy_file() {
        let changed = Policy::from_yaml(
            "rules:\n  replicas: {minReplicas: 4}\n  image-tag: {requireDigest: true}\n  resources: {ephemeralStorage: true}\n  labels: {required: [team, app.kubernetes.io/version]}\n  secret-env: {patterns: [DSN]}\n  namespace-pod-security: {level: baseline}\n  disruption-budget: {denyWhenMissing: true}\n  network-policy: {denyWhenMissing: true}\n  namespace-quota: {requireLimitRange: true}\n",
        )
        .expect("parses");
        let mut yaml = String::from("rules:\n");
        for (i, r) in rules::catalogue().iter().enumerate() {
            let Some(p) = changed.rule_params(i) else {
                continue;
            };
            assert_ne!(
                Some(p.to_json()),
                r.params().map(|s| serde_json::Value::Object(s.defaults())),
                "{}: the test should change every parameter",
                r.meta().id
            );
            yaml.push_str(&format!("  {}: {}\n", r.meta().id, p.to_json()));
        }
        assert_eq!(
            Policy::from_yaml(&yaml).expect("written back parses"),
            changed
        );
    }
}
