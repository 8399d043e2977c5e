//! The policy: which rules run, at what severity and mode, with what parameters and
//! exemptions. Parsed from YAML (`--config`) over built-in defaults that equal the baseline.
//!
//! Every key is checked: an unknown key, a parameter given to the wrong rule or an unknown
//! rule id is an error naming the key, so a typo never silently weakens enforcement.

use std::any::TypeId;
use std::borrow::Cow;
use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::engine::{AnyParams, PssLevel, RuleParams, Severity};
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

/// One rule's section of the policy file: the keys every rule has, plus that rule's own
/// parameters, left raw here and parsed by the rule's [`ParamsSpec`](crate::engine::ParamsSpec).
#[derive(Debug, Default, Deserialize)]
#[serde(default, rename_all = "camelCase")]
struct RuleFile {
    enabled: Option<bool>,
    severity: Option<Severity>,
    mode: Option<Mode>,
    // Not `deny_unknown_fields` (serde cannot combine it with `flatten`): every other key
    // lands here, and the rule's spec rejects the ones it does not know, naming them.
    #[serde(flatten)]
    params: serde_json::Map<String, serde_json::Value>,
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

/// One rule's parameters as the policy holds them.
#[derive(Debug, Clone)]
struct ParamSlot {
    /// Catalogue index of the rule that declares them.
    rule: usize,
    /// Their type, the key rules read them by.
    type_id: TypeId,
    value: Box<dyn AnyParams>,
}

// By hand: `#[derive(PartialEq)]` cannot compare a `Box<dyn Trait>` field (rust#31740).
impl PartialEq for ParamSlot {
    fn eq(&self, other: &Self) -> bool {
        self.rule == other.rule && *self.value == *other.value
    }
}

/// The effective policy.
#[derive(Debug, Clone, PartialEq)]
pub struct Policy {
    /// PSS level the security rules enforce.
    pub pod_security: PssLevel,
    /// Cluster-wide default mode.
    pub mode: Mode,
    /// Cluster-wide or namespace opt-in.
    pub scope: Scope,
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
    /// The parameters of the rules that take any, in catalogue order.
    params: Vec<ParamSlot>,
}

impl Default for Policy {
    fn default() -> Self {
        Policy {
            pod_security: PssLevel::Restricted,
            mode: Mode::Enforce,
            scope: Scope::Cluster,
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
            params: rules::catalogue()
                .iter()
                .enumerate()
                .filter_map(|(rule, r)| {
                    let spec = r.params()?;
                    Some(ParamSlot {
                        rule,
                        type_id: spec.type_id(),
                        value: spec.default_value(),
                    })
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

    /// The parameters of type `P`, declared by one rule (`cx.policy.params::<Params>()` in
    /// that rule's check). Never fails: a type no rule of the catalogue declares reads as its
    /// default.
    pub fn params<P: RuleParams>(&self) -> Cow<'_, P> {
        let id = TypeId::of::<P>();
        self.params
            .iter()
            .find(|s| s.type_id == id)
            .and_then(|s| s.value.as_any().downcast_ref::<P>())
            .map_or_else(|| Cow::Owned(P::default()), Cow::Borrowed)
    }

    /// Replaces the parameters of type `P` (tests, programmatic policies); they are not
    /// validated. Returns false, changing nothing, when no rule declares `P`.
    #[must_use = "false means no rule takes these parameters"]
    pub fn set_params<P: RuleParams>(&mut self, params: P) -> bool {
        let id = TypeId::of::<P>();
        match self.params.iter_mut().find(|s| s.type_id == id) {
            Some(slot) => {
                slot.value = Box::new(params);
                true
            }
            None => false,
        }
    }

    /// The parameters of the rule at catalogue index `index`, if it takes any.
    pub fn rule_params(&self, index: usize) -> Option<&dyn AnyParams> {
        self.params
            .iter()
            .find(|s| s.rule == index)
            .map(|s| &*s.value)
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
            let spec = rules::catalogue()[index].params();
            match spec {
                Some(spec) => {
                    let value = spec
                        .parse(&rf.params)
                        .map_err(|e| key(join_key(&format!("rules.{id}"), &e.key), e.reason))?;
                    if let Some(slot) = policy.params.iter_mut().find(|s| s.rule == index) {
                        slot.value = value;
                    }
                }
                None => {
                    if let Some(p) = rf.params.keys().next() {
                        return Err(key(
                            format!("rules.{id}.{p}"),
                            "not a parameter of this rule (its parameters: none)".into(),
                        ));
                    }
                }
            }
            let eff = &mut policy.rules[index];
            eff.enabled = rf.enabled.unwrap_or(eff.enabled);
            eff.severity = rf.severity.unwrap_or(eff.severity);
            eff.mode = rf.mode.or(eff.mode);
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

/// `prefix.key`, or `prefix` alone for an error about no one key.
fn join_key(prefix: &str, key: &str) -> String {
    if key.is_empty() {
        prefix.to_owned()
    } else {
        format!("{prefix}.{key}")
    }
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
        let e = err("rules:\n  replicas:\n    foo: 1\n");
        assert!(
            e.contains(
                "`rules.replicas.foo`: not a parameter of this rule (its parameters: minReplicas)"
            ),
            "{e}"
        );
        let e = err("rules:\n  privileged:\n    minReplicas: 2\n");
        assert!(
            e.contains("`rules.privileged.minReplicas`: not a parameter of this rule (its parameters: none)"),
            "{e}"
        );
        let e = err("rules:\n  replicas:\n    minReplicas: three\n");
        assert!(
            e.contains("`rules.replicas.minReplicas`: invalid type: string \"three\""),
            "{e}"
        );
        let e = err("rules:\n  secret-env:\n    patterns: TOKEN\n");
        assert!(
            e.contains("`rules.secret-env.patterns`: invalid type"),
            "{e}"
        );
        let e = err("rules:\n  namespace-pod-security:\n    level: privileged\n");
        assert!(e.contains("`rules.namespace-pod-security.level`"), "{e}");
        let e = err("rules:\n  replicas:\n    minReplicas: 0\n");
        assert!(
            e.contains("`rules.replicas.minReplicas`: must be at least 1"),
            "{e}"
        );
        // The keys every rule has are still typed.
        let e = err("rules:\n  replicas:\n    enabled: maybe\n");
        assert!(e.contains("enabled") || e.contains("maybe"), "{e}");
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

    #[test]
    fn parameters_are_read_by_type() {
        use crate::rules::availability::replicas::Params;
        let mut p = Policy::default();
        assert_eq!(p.params::<Params>().min_replicas, 2);
        assert!(p.set_params(Params { min_replicas: 5 }));
        assert_eq!(p.params::<Params>().min_replicas, 5);
        assert_ne!(p, Policy::default());

        // A type no rule declares: nothing to set, and reads give its default.
        #[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
        struct Stray {
            x: i64,
        }
        impl RuleParams for Stray {}
        assert!(!p.set_params(Stray { x: 1 }));
        assert_eq!(*p.params::<Stray>(), Stray::default());
    }
}
