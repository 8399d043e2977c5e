//! The policy file as written (`--config`, the embedded default) and why one fails to load.
//!
//! Parsing here checks everything that needs no rule catalogue (keys, types, `apiVersion`,
//! required fields); rule ids and rule parameters are checked when the engine compiles the
//! file against a catalogue ([`Policy::compile`](crate::engine::Policy::compile)).

use std::collections::BTreeMap;

use serde::Deserialize;
use serde_json::{Map, Value};

use super::{AdmissionConfig, Exemptions, Mode, MutationConfig, PssLevel, Scope, Severity};

/// The only `apiVersion` a policy file may have.
pub const API_VERSION: &str = "bulwark.dev/v1alpha1";

/// The policy file as written. Every field is optional: unset means the default.
#[derive(Debug, Default, Deserialize)]
#[serde(default, deny_unknown_fields, rename_all = "camelCase")]
pub struct PolicyFile {
    /// `bulwark.dev/v1alpha1` when set.
    pub api_version: Option<String>,
    /// `Policy` when set.
    pub kind: Option<String>,
    /// Pod Security Standards level the security rules enforce.
    pub pod_security: Option<PssLevel>,
    /// Cluster-wide default mode.
    pub mode: Option<Mode>,
    /// Cluster-wide or namespace opt-in.
    pub scope: Option<Scope>,
    /// Per-rule sections, by rule id.
    pub rules: BTreeMap<String, RuleFile>,
    /// Exemptions.
    pub exemptions: Exemptions,
    /// Mutation defaults; unset keeps the built-in ones.
    pub mutation: Option<MutationConfig>,
    /// Admission-only settings; unset keeps the built-in ones.
    pub admission: Option<AdmissionConfig>,
}

/// One rule's section of the policy file: the keys every rule has, plus that rule's own
/// parameters, left raw here and parsed by the rule's
/// [`ParamsSpec`](crate::engine::ParamsSpec).
#[derive(Debug, Default, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub struct RuleFile {
    /// Whether the rule runs.
    pub enabled: Option<bool>,
    /// Severity of its findings.
    pub severity: Option<Severity>,
    /// Mode override for this rule.
    pub mode: Option<Mode>,
    /// Every other key: the rule's parameters. Not `deny_unknown_fields` (serde cannot
    /// combine it with `flatten`): the rule's spec rejects the keys it does not know, naming
    /// them.
    #[serde(flatten)]
    pub params: Map<String, Value>,
}

/// Why a policy could not be loaded.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// The YAML does not parse or has an unknown key / wrong type.
    #[error("invalid policy: {0}")]
    Yaml(#[from] serde_yaml_ng::Error),
    /// A key that parses but is not allowed where it is.
    #[error("invalid policy key `{key}`: {reason}")]
    Key {
        /// Dotted key path.
        key: String,
        /// What is wrong.
        reason: String,
    },
    /// The file could not be read.
    #[error("cannot read policy file {path}: {source}")]
    Io {
        /// The path.
        path: String,
        /// The IO error.
        #[source]
        source: std::io::Error,
    },
}

impl ConfigError {
    /// An error about the key at dotted path `key`.
    pub fn key(key: impl Into<String>, reason: impl Into<String>) -> ConfigError {
        ConfigError::Key {
            key: key.into(),
            reason: reason.into(),
        }
    }
}

impl PolicyFile {
    /// Parses a policy file; an empty one sets nothing.
    pub fn from_yaml(text: &str) -> Result<PolicyFile, ConfigError> {
        let file: PolicyFile = if text.trim().is_empty() {
            PolicyFile::default()
        } else {
            serde_yaml_ng::from_str(text)?
        };
        file.check()?;
        Ok(file)
    }

    /// What is wrong with the file whatever the rules are.
    fn check(&self) -> Result<(), ConfigError> {
        if let Some(v) = &self.api_version
            && v != API_VERSION
        {
            return Err(ConfigError::key(
                "apiVersion",
                format!("expected {API_VERSION}, got {v}"),
            ));
        }
        if let Some(k) = &self.kind
            && k != "Policy"
        {
            return Err(ConfigError::key(
                "kind",
                format!("expected Policy, got {k}"),
            ));
        }
        if let Some(a) = &self.admission {
            if a.anyone_may_exempt.is_some() {
                return Err(ConfigError::key(
                    "admission.anyoneMayExempt",
                    "was removed: annotations no longer grant exemptions; grant them with a BulwarkException (docs/security.md)",
                ));
            }
            for (i, c) in a.controllers.iter().enumerate() {
                if c.kind.is_empty() || c.owner_group_kind().1.is_empty() || c.users.is_empty() {
                    return Err(ConfigError::key(
                        format!("admission.controllers[{i}]"),
                        "needs kind, owner (group/Kind) and at least one user",
                    ));
                }
            }
        }
        for (i, w) in self.exemptions.workloads.iter().enumerate() {
            if w.name.is_empty() {
                return Err(ConfigError::key(
                    format!("exemptions.workloads[{i}].name"),
                    "is required",
                ));
            }
        }
        for (i, e) in self.exemptions.images.iter().enumerate() {
            if e.prefix.is_empty() {
                return Err(ConfigError::key(
                    format!("exemptions.images[{i}].prefix"),
                    "is required",
                ));
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn err(yaml: &str) -> String {
        PolicyFile::from_yaml(yaml)
            .expect_err("must fail")
            .to_string()
    }

    #[test]
    fn rule_sections_keep_their_parameters_raw() {
        let f = PolicyFile::from_yaml("rules:\n  any-id: {enabled: false, level: x, n: 2}\n")
            .expect("parses: ids and parameters are checked against a catalogue later");
        let r = &f.rules["any-id"];
        assert_eq!(r.enabled, Some(false));
        assert_eq!(r.params.keys().collect::<Vec<_>>(), ["level", "n"]);
    }

    #[test]
    fn structural_errors_name_the_key() {
        assert!(err("apiVersion: v1\n").contains("`apiVersion`"));
        assert!(err("kind: Pod\n").contains("`kind`"));
        assert!(err("admission: {anyoneMayExempt: true}\n").contains("admission.anyoneMayExempt"));
        assert!(
            err("admission: {controllers: [{kind: Pod, owner: apps/, users: [u]}]}\n")
                .contains("admission.controllers[0]")
        );
        assert!(
            err("exemptions: {workloads: [{rules: []}]}\n")
                .contains("exemptions.workloads[0].name")
        );
        assert!(
            err("exemptions: {images: [{prefix: ''}]}\n").contains("exemptions.images[0].prefix")
        );
        assert!(err("rules: {replicas: {enabled: maybe}}\n").contains("rules.replicas.enabled"));
    }
}
