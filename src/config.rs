//! The policy: which rules run, at what severity and mode, with what parameters and
//! exemptions. Parsed from YAML (`--config`) over built-in defaults that equal the baseline.
//!
//! Every key is checked: an unknown key, a parameter given to the wrong rule or an unknown
//! rule id is an error naming the key, so a typo never silently weakens enforcement.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::engine::{PssLevel, RuleMeta, Severity};
use crate::rules;

/// The default policy file, embedded: it documents every key and equals [`Policy::default`]
/// (a test holds the two together).
pub const DEFAULT_POLICY_YAML: &str = include_str!("../deploy/base/policy.yaml");

/// What happens to findings.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Hash, PartialOrd, Ord)]
#[serde(rename_all = "lowercase")]
pub enum Mode {
    /// Not evaluated at all.
    Off,
    /// Evaluated exactly as in enforce, but always admitted: findings become warnings,
    /// audit annotations, logs and metrics.
    Audit,
    /// Error findings deny.
    Enforce,
}

impl Mode {
    /// Lowercase name.
    pub fn as_str(self) -> &'static str {
        match self {
            Mode::Off => "off",
            Mode::Audit => "audit",
            Mode::Enforce => "enforce",
        }
    }

    /// Parses a lowercase mode name.
    pub fn parse(s: &str) -> Option<Mode> {
        match s {
            "off" => Some(Mode::Off),
            "audit" => Some(Mode::Audit),
            "enforce" => Some(Mode::Enforce),
            _ => None,
        }
    }
}

/// Which namespaces the webhook evaluates.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "kebab-case")]
pub enum Scope {
    /// Every namespace except the always-exempt ones.
    #[default]
    Cluster,
    /// Only namespaces labelled `bulwark.dev/mode` (see the README).
    OptIn,
}

/// A rule's effective settings after the policy file is applied.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct EffectiveRule {
    /// Whether it runs.
    pub enabled: bool,
    /// Severity of its findings.
    pub severity: Severity,
    /// Mode override for this rule (`None`: the namespace/cluster mode).
    pub mode: Option<Mode>,
}

/// Rule parameters with their defaults. Each belongs to one rule (see `RuleMeta::params`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Params {
    /// `replicas.minReplicas`: fewest replicas a replicated workload may run.
    pub min_replicas: i64,
    /// `image-tag.requireDigest`: require `@sha256:` digests (production clusters).
    pub require_digest: bool,
    /// `resources.ephemeralStorage`: also require ephemeral-storage requests and limits.
    pub ephemeral_storage: bool,
    /// `labels.required`: labels every workload and its pod template must carry.
    pub required_labels: Vec<String>,
    /// `secret-env.patterns`: substrings (case-insensitive) of env names that hold secrets.
    pub secret_patterns: Vec<String>,
    /// `namespace-pod-security.level`: lowest acceptable `pod-security.kubernetes.io/enforce`.
    pub namespace_level: PssLevel,
    /// `disruption-budget.denyWhenMissing`: at admission, a missing PDB is only a warning
    /// (apply order is not guaranteed) unless this is true.
    pub deny_missing_pdb: bool,
}

impl Default for Params {
    fn default() -> Self {
        Params {
            min_replicas: 2,
            require_digest: false,
            ephemeral_storage: false,
            required_labels: vec!["app.kubernetes.io/name".into()],
            secret_patterns: [
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
            namespace_level: PssLevel::Restricted,
            deny_missing_pdb: false,
        }
    }
}

/// Exemptions by policy.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize, Serialize)]
#[serde(default, deny_unknown_fields)]
pub struct Exemptions {
    /// Namespaces bulwark never evaluates.
    pub namespaces: Vec<String>,
    /// Workloads exempt from some or all rules.
    pub workloads: Vec<WorkloadExemption>,
    /// Containers whose image starts with a prefix, exempt from some or all rules.
    pub images: Vec<ImageExemption>,
}

/// A workload exemption.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize, Serialize)]
#[serde(default, deny_unknown_fields)]
pub struct WorkloadExemption {
    /// Namespace (any when unset).
    pub namespace: Option<String>,
    /// Kind (any when unset).
    pub kind: Option<String>,
    /// Name; `*` matches any run of characters (`old-*`).
    pub name: String,
    /// Rule ids; empty means every rule.
    pub rules: Vec<String>,
}

impl WorkloadExemption {
    /// Whether this entry covers an object in `namespace` known as `kind`/`name` (itself, or
    /// a verified owner: an entry for a Deployment covers the Pods made for it).
    pub fn matches_subject(&self, namespace: &str, kind: &str, name: &str) -> bool {
        crate::engine::exemptions::glob(&self.name, name)
            && self.namespace.as_deref().is_none_or(|ns| ns == namespace)
            && self.kind.as_deref().is_none_or(|k| k == kind)
    }
}

/// An image-prefix exemption.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize, Serialize)]
#[serde(default, deny_unknown_fields)]
pub struct ImageExemption {
    /// Image reference prefix, e.g. `registry.k8s.io/`.
    pub prefix: String,
    /// Rule ids; empty means every rule.
    pub rules: Vec<String>,
}

/// The policy file as written. Every field is optional: unset means the default.
#[derive(Debug, Default, Deserialize)]
#[serde(default, deny_unknown_fields, rename_all = "camelCase")]
struct PolicyFile {
    api_version: Option<String>,
    kind: Option<String>,
    pod_security: Option<PssLevel>,
    mode: Option<Mode>,
    scope: Option<Scope>,
    rules: BTreeMap<String, RuleFile>,
    exemptions: Exemptions,
    mutation: Option<crate::mutate::MutationConfig>,
    admission: Option<AdmissionConfig>,
    audit: Option<crate::audit::AuditConfig>,
}

/// One rule's section of the policy file: common keys plus that rule's parameters.
#[derive(Debug, Default, Deserialize)]
#[serde(default, deny_unknown_fields, rename_all = "camelCase")]
struct RuleFile {
    enabled: Option<bool>,
    severity: Option<Severity>,
    mode: Option<Mode>,
    min_replicas: Option<i64>,
    require_digest: Option<bool>,
    ephemeral_storage: Option<bool>,
    required: Option<Vec<String>>,
    patterns: Option<Vec<String>>,
    level: Option<PssLevel>,
    deny_when_missing: Option<bool>,
}

/// Namespaces bulwark never evaluates whatever the policy says: the control plane's (a
/// broken webhook must not be able to stop the cluster) and bulwark's own (added at runtime).
/// They exist on every cluster, so no tenant can create one to be exempt.
pub const SYSTEM_NAMESPACES: [&str; 3] = ["kube-system", "kube-public", "kube-node-lease"];

/// One built-in controller identity: who creates objects of `kind` for owners of `owner`.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct ControllerIdentity {
    /// The kind of object the controller makes (`Pod`, `ReplicaSet`, `Job`).
    pub kind: String,
    /// The owner kind it makes them for, as `group/Kind` (`apps/Deployment`), or `Kind` for
    /// the core group (`ReplicationController`).
    pub owner: String,
    /// The usernames the controller's requests carry.
    pub users: Vec<String>,
}

impl ControllerIdentity {
    fn entry(kind: &str, owner: &str, sa: &str) -> ControllerIdentity {
        ControllerIdentity {
            kind: kind.into(),
            owner: owner.into(),
            users: vec![
                format!("system:serviceaccount:kube-system:{sa}"),
                // kube-controller-manager without --use-service-account-credentials.
                "system:kube-controller-manager".into(),
            ],
        }
    }

    /// The owner's (group, kind).
    pub fn owner_group_kind(&self) -> (&str, &str) {
        self.owner.rsplit_once('/').unwrap_or(("", &self.owner))
    }
}

/// Server-side admission settings: who may lower modes, which namespaces are never touched,
/// which identities are the built-in controllers, where exceptions count.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize)]
#[serde(default, deny_unknown_fields, rename_all = "camelCase")]
pub struct AdmissionConfig {
    /// Namespaces never evaluated, beyond the system namespaces and bulwark's own (always
    /// exempt). Only exemption admins may create a namespace with one of these names.
    pub exempt_namespaces: Vec<String>,
    /// Users whose requests are never evaluated (e.g. control-plane identities).
    pub exempt_users: Vec<String>,
    /// Groups whose requests are never evaluated (e.g. `system:nodes`).
    pub exempt_groups: Vec<String>,
    /// Users allowed to lower a namespace's bulwark mode or create an exempt namespace.
    pub exemption_admin_users: Vec<String>,
    /// Groups allowed to lower a namespace's bulwark mode or create an exempt namespace.
    pub exemption_admin_groups: Vec<String>,
    /// The built-in controllers: an object is judged through its owner only when one of
    /// these identities makes it for an owner of the matching kind.
    pub controllers: Vec<ControllerIdentity>,
    /// Namespaces (besides bulwark's own) whose BulwarkExceptions count, each for its own
    /// namespace only; `*` for all. Empty: only bulwark's namespace.
    pub exception_namespaces: Vec<String>,
    /// Removed: annotations no longer grant exemptions. Kept only to say so when set.
    #[serde(skip_serializing)]
    anyone_may_exempt: Option<serde_json::Value>,
}

impl Default for AdmissionConfig {
    fn default() -> Self {
        AdmissionConfig {
            exempt_namespaces: Vec::new(),
            exempt_users: Vec::new(),
            exempt_groups: vec!["system:nodes".into(), "system:masters".into()],
            exemption_admin_users: Vec::new(),
            exemption_admin_groups: vec!["system:masters".into()],
            controllers: vec![
                ControllerIdentity::entry("ReplicaSet", "apps/Deployment", "deployment-controller"),
                ControllerIdentity::entry("Pod", "apps/ReplicaSet", "replicaset-controller"),
                ControllerIdentity::entry("Pod", "apps/StatefulSet", "statefulset-controller"),
                ControllerIdentity::entry("Pod", "apps/DaemonSet", "daemon-set-controller"),
                ControllerIdentity::entry("Pod", "batch/Job", "job-controller"),
                ControllerIdentity::entry("Job", "batch/CronJob", "cronjob-controller"),
                ControllerIdentity::entry("Pod", "ReplicationController", "replication-controller"),
            ],
            exception_namespaces: Vec::new(),
            anyone_may_exempt: None,
        }
    }
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

/// The effective policy.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Policy {
    /// PSS level the security rules enforce.
    pub pod_security: PssLevel,
    /// Cluster-wide default mode.
    pub mode: Mode,
    /// Cluster-wide or namespace opt-in.
    pub scope: Scope,
    /// Rule parameters.
    pub params: Params,
    /// Exemptions.
    pub exemptions: Exemptions,
    /// Mutation defaults.
    pub mutation: crate::mutate::MutationConfig,
    /// Admission-only settings.
    pub admission: AdmissionConfig,
    /// The auditor of existing objects (`bulwark serve`).
    pub audit: crate::audit::AuditConfig,
    /// Per-rule settings, indexed like [`rules::catalogue`].
    rules: Vec<EffectiveRule>,
}

impl Default for Policy {
    fn default() -> Self {
        Policy {
            pod_security: PssLevel::Restricted,
            mode: Mode::Enforce,
            scope: Scope::Cluster,
            params: Params::default(),
            exemptions: Exemptions::default(),
            mutation: crate::mutate::MutationConfig::default(),
            admission: AdmissionConfig::default(),
            audit: crate::audit::AuditConfig::default(),
            rules: rules::catalogue()
                .iter()
                .map(|r| EffectiveRule {
                    enabled: r.meta().enabled_by_default,
                    severity: r.meta().severity,
                    mode: None,
                })
                .collect(),
        }
    }
}

impl Policy {
    /// Settings of the rule at catalogue index `index`.
    pub fn rule(&self, index: usize) -> EffectiveRule {
        self.rules[index]
    }

    /// Settings of the rule `id`, if it exists.
    pub fn rule_by_id(&self, id: &str) -> Option<EffectiveRule> {
        rules::index_of(id).map(|i| self.rules[i])
    }

    /// Loads a policy file from disk.
    pub fn from_file(path: &std::path::Path) -> Result<Policy, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Io {
            path: path.display().to_string(),
            source,
        })?;
        Policy::from_yaml(&text)
    }

    /// Parses a policy from YAML over the defaults.
    pub fn from_yaml(text: &str) -> Result<Policy, ConfigError> {
        let file: PolicyFile = if text.trim().is_empty() {
            PolicyFile::default()
        } else {
            serde_yaml_ng::from_str(text)?
        };
        let key = |key: String, reason: String| ConfigError::Key { key, reason };
        if let Some(v) = &file.api_version
            && v != "bulwark.dev/v1alpha1"
        {
            return Err(key(
                "apiVersion".into(),
                format!("expected bulwark.dev/v1alpha1, got {v}"),
            ));
        }
        if let Some(k) = &file.kind
            && k != "Policy"
        {
            return Err(key("kind".into(), format!("expected Policy, got {k}")));
        }
        let mut policy = Policy::default();
        policy.pod_security = file.pod_security.unwrap_or(policy.pod_security);
        policy.mode = file.mode.unwrap_or(policy.mode);
        policy.scope = file.scope.unwrap_or(policy.scope);
        if let Some(m) = file.mutation {
            policy.mutation = m;
        }
        if let Some(a) = file.audit {
            if let Some((k, reason)) = a.problem() {
                return Err(key(format!("audit.{k}"), reason.into()));
            }
            policy.audit = a;
        }
        if let Some(a) = file.admission {
            if a.anyone_may_exempt.is_some() {
                return Err(key(
                    "admission.anyoneMayExempt".into(),
                    "was removed: annotations no longer grant exemptions; grant them with a BulwarkException (docs/security.md)".into(),
                ));
            }
            for (i, c) in a.controllers.iter().enumerate() {
                if c.kind.is_empty() || c.owner_group_kind().1.is_empty() || c.users.is_empty() {
                    return Err(key(
                        format!("admission.controllers[{i}]"),
                        "needs kind, owner (group/Kind) and at least one user".into(),
                    ));
                }
            }
            policy.admission = a;
        }
        for (id, rf) in &file.rules {
            let Some(index) = rules::index_of(id) else {
                return Err(key(
                    format!("rules.{id}"),
                    format!("unknown rule id (known: {})", rules::ids().join(", ")),
                ));
            };
            let meta = rules::catalogue()[index].meta();
            check_params(meta, rf).map_err(|p| {
                key(
                    format!("rules.{id}.{p}"),
                    format!(
                        "not a parameter of this rule (its parameters: {})",
                        if meta.params.is_empty() {
                            "none".into()
                        } else {
                            meta.params.join(", ")
                        }
                    ),
                )
            })?;
            let eff = &mut policy.rules[index];
            eff.enabled = rf.enabled.unwrap_or(eff.enabled);
            eff.severity = rf.severity.unwrap_or(eff.severity);
            eff.mode = rf.mode.or(eff.mode);
            let p = &mut policy.params;
            if let Some(v) = rf.min_replicas {
                if v < 1 {
                    return Err(key(
                        format!("rules.{id}.minReplicas"),
                        "must be at least 1".into(),
                    ));
                }
                p.min_replicas = v;
            }
            p.require_digest = rf.require_digest.unwrap_or(p.require_digest);
            p.ephemeral_storage = rf.ephemeral_storage.unwrap_or(p.ephemeral_storage);
            if let Some(v) = &rf.required {
                p.required_labels = v.clone();
            }
            if let Some(v) = &rf.patterns {
                p.secret_patterns = v.iter().map(|s| s.to_ascii_uppercase()).collect();
            }
            p.namespace_level = rf.level.unwrap_or(p.namespace_level);
            p.deny_missing_pdb = rf.deny_when_missing.unwrap_or(p.deny_missing_pdb);
        }
        for (i, w) in file.exemptions.workloads.iter().enumerate() {
            if w.name.is_empty() {
                return Err(key(
                    format!("exemptions.workloads[{i}].name"),
                    "is required".into(),
                ));
            }
            check_rule_ids(&w.rules, &format!("exemptions.workloads[{i}].rules"))?;
        }
        for (i, e) in file.exemptions.images.iter().enumerate() {
            if e.prefix.is_empty() {
                return Err(key(
                    format!("exemptions.images[{i}].prefix"),
                    "is required".into(),
                ));
            }
            check_rule_ids(&e.rules, &format!("exemptions.images[{i}].rules"))?;
        }
        policy.exemptions = file.exemptions;
        Ok(policy)
    }
}

fn check_rule_ids(ids: &[String], at: &str) -> Result<(), ConfigError> {
    for (i, id) in ids.iter().enumerate() {
        if rules::index_of(id).is_none() {
            return Err(ConfigError::Key {
                key: format!("{at}[{i}]"),
                reason: format!("unknown rule id {id:?}"),
            });
        }
    }
    Ok(())
}

/// Returns the first parameter set in `rf` that `meta` does not accept.
fn check_params(meta: &RuleMeta, rf: &RuleFile) -> Result<(), &'static str> {
    let set = [
        ("minReplicas", rf.min_replicas.is_some()),
        ("requireDigest", rf.require_digest.is_some()),
        ("ephemeralStorage", rf.ephemeral_storage.is_some()),
        ("required", rf.required.is_some()),
        ("patterns", rf.patterns.is_some()),
        ("level", rf.level.is_some()),
        ("denyWhenMissing", rf.deny_when_missing.is_some()),
    ];
    for (name, present) in set {
        if present && !meta.params.contains(&name) {
            return Err(name);
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

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
        assert_eq!(p.params.min_replicas, 3);
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
}
