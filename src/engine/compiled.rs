//! The compiled policy: a policy file's settings bound to the rule catalogue they were
//! checked against, which is what the engine evaluates and rules read.
//!
//! The catalogue is passed in ([`Policy::new`], [`Policy::compile`]) rather than imported,
//! so the engine sits below the rules. `config` binds it to the built-in catalogue
//! (`Policy::default()`, `Policy::from_yaml`).

use std::any::TypeId;
use std::borrow::Cow;
use std::fmt;

use super::{AnyParams, Rule, RuleParams};
use crate::policy::{
    AdmissionConfig, ConfigError, EffectiveRule, Exemptions, Mode, MutationConfig, PolicyFile,
    PssLevel, Scope,
};

/// A rule catalogue: every rule, in the order findings are reported, with their ids.
#[derive(Clone)]
struct Catalogue {
    rules: &'static [&'static dyn Rule],
    // Read once: admission looks a rule up by id for every finding, and reading each id
    // through `meta()` is a virtual call per rule.
    ids: Vec<&'static str>,
}

impl Catalogue {
    fn new(rules: &'static [&'static dyn Rule]) -> Catalogue {
        Catalogue {
            rules,
            ids: rules.iter().map(|r| r.meta().id).collect(),
        }
    }
}

impl fmt::Debug for Catalogue {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_list().entries(&self.ids).finish()
    }
}

// Rules are compared by id: ids are the public identity of a rule.
impl PartialEq for Catalogue {
    fn eq(&self, other: &Self) -> bool {
        self.ids == other.ids
    }
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

/// The effective policy: the file's settings over the catalogue's defaults.
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
    pub mutation: MutationConfig,
    /// Admission-only settings.
    pub admission: AdmissionConfig,
    /// The rules this policy was compiled against.
    catalogue: Catalogue,
    /// Per-rule settings, indexed like the catalogue.
    rules: Vec<EffectiveRule>,
    /// The parameters of the rules that take any, in catalogue order.
    params: Vec<ParamSlot>,
}

impl Policy {
    /// The built-in settings for `catalogue`: every rule at its defaults, restricted,
    /// enforce, cluster-wide.
    pub fn new(catalogue: &'static [&'static dyn Rule]) -> Policy {
        Policy {
            pod_security: PssLevel::Restricted,
            mode: Mode::Enforce,
            scope: Scope::Cluster,
            exemptions: Exemptions::default(),
            mutation: MutationConfig::default(),
            admission: AdmissionConfig::default(),
            catalogue: Catalogue::new(catalogue),
            rules: catalogue
                .iter()
                .map(|r| EffectiveRule {
                    enabled: r.meta().enabled_by_default,
                    severity: r.meta().severity,
                    mode: None,
                })
                .collect(),
            params: catalogue
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

    /// Applies `file` over the defaults of `catalogue`, checking every rule id and rule
    /// parameter against it; errors name the key (`rules.replicas.minReplicas`).
    pub fn compile(
        file: PolicyFile,
        catalogue: &'static [&'static dyn Rule],
    ) -> Result<Policy, ConfigError> {
        let mut policy = Policy::new(catalogue);
        policy.pod_security = file.pod_security.unwrap_or(policy.pod_security);
        policy.mode = file.mode.unwrap_or(policy.mode);
        policy.scope = file.scope.unwrap_or(policy.scope);
        if let Some(m) = file.mutation {
            policy.mutation = m;
        }
        if let Some(a) = file.admission {
            policy.admission = a;
        }
        for (id, rf) in &file.rules {
            let Some(index) = policy.index_of(id) else {
                return Err(ConfigError::key(
                    format!("rules.{id}"),
                    format!(
                        "unknown rule id (known: {})",
                        policy.catalogue.ids.join(", ")
                    ),
                ));
            };
            match catalogue[index].params() {
                Some(spec) => {
                    let value = spec.parse(&rf.params).map_err(|e| {
                        let key = match e.key.as_str() {
                            "" => format!("rules.{id}"),
                            k => format!("rules.{id}.{k}"),
                        };
                        ConfigError::key(key, e.reason)
                    })?;
                    if let Some(slot) = policy.params.iter_mut().find(|s| s.rule == index) {
                        slot.value = value;
                    }
                }
                None => {
                    if let Some(p) = rf.params.keys().next() {
                        return Err(ConfigError::key(
                            format!("rules.{id}.{p}"),
                            "not a parameter of this rule (its parameters: none)",
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
            policy.check_rule_ids(&w.rules, &format!("exemptions.workloads[{i}].rules"))?;
        }
        for (i, e) in file.exemptions.images.iter().enumerate() {
            policy.check_rule_ids(&e.rules, &format!("exemptions.images[{i}].rules"))?;
        }
        policy.exemptions = file.exemptions;
        Ok(policy)
    }

    fn check_rule_ids(&self, ids: &[String], at: &str) -> Result<(), ConfigError> {
        for (i, id) in ids.iter().enumerate() {
            if self.index_of(id).is_none() {
                return Err(ConfigError::key(
                    format!("{at}[{i}]"),
                    format!("unknown rule id {id:?}"),
                ));
            }
        }
        Ok(())
    }

    /// The rules this policy was compiled against, in report order.
    pub fn catalogue(&self) -> &'static [&'static dyn Rule] {
        self.catalogue.rules
    }

    /// Catalogue index of rule `id`.
    pub fn index_of(&self, id: &str) -> Option<usize> {
        self.catalogue.ids.iter().position(|r| *r == id)
    }

    /// Settings of the rule at catalogue index `index`.
    pub fn rule(&self, index: usize) -> EffectiveRule {
        self.rules[index]
    }

    /// Settings of the rule `id`, if it exists.
    pub fn rule_by_id(&self, id: &str) -> Option<EffectiveRule> {
        self.index_of(id).map(|i| self.rules[i])
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
}

#[cfg(test)]
mod tests {
    use serde::{Deserialize, Serialize};

    use super::*;
    use crate::engine::{
        CheckCx, Context, ParamError, ParamsSpec, RuleMeta, Severity, Sink, evaluate,
    };
    use crate::policy::Category;
    use crate::workload::Workload;

    // A catalogue of two made-up rules: the engine works with any catalogue it is given.
    struct Plain;
    struct Counting;

    #[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
    #[serde(default, deny_unknown_fields, rename_all = "camelCase")]
    struct Limit {
        max_count: i64,
    }

    impl Default for Limit {
        fn default() -> Self {
            Limit { max_count: 3 }
        }
    }

    impl RuleParams for Limit {
        fn validate(&mut self) -> Result<(), ParamError> {
            if self.max_count < 0 {
                return Err(ParamError::new("maxCount", "must not be negative"));
            }
            Ok(())
        }
    }

    const fn meta(id: &'static str) -> RuleMeta {
        RuleMeta {
            id,
            category: Category::Hygiene,
            severity: Severity::Error,
            enabled_by_default: true,
            pss: None,
            summary: "s",
            remediation: "r",
        }
    }
    static PLAIN: RuleMeta = meta("plain");
    static COUNTING: RuleMeta = meta("counting");

    impl Rule for Plain {
        fn meta(&self) -> &'static RuleMeta {
            &PLAIN
        }
        fn check(&self, _: &CheckCx<'_>, _: &mut Sink<'_>) {}
    }

    impl Rule for Counting {
        fn meta(&self) -> &'static RuleMeta {
            &COUNTING
        }
        fn params(&self) -> Option<ParamsSpec> {
            Some(ParamsSpec::of::<Limit>())
        }
        fn check(&self, cx: &CheckCx<'_>, out: &mut Sink<'_>) {
            let max = cx.policy.params::<Limit>().max_count;
            out.report("spec", format!("max {max}"));
        }
    }

    static CATALOGUE: &[&dyn Rule] = &[&Plain, &Counting];

    fn compile(yaml: &str) -> Result<Policy, ConfigError> {
        Policy::compile(PolicyFile::from_yaml(yaml)?, CATALOGUE)
    }

    #[test]
    fn compiles_against_the_catalogue_it_is_given() {
        let p = compile("rules: {counting: {maxCount: 7, severity: warning}}\n").expect("ok");
        assert_eq!(p.index_of("counting"), Some(1));
        assert_eq!(p.params::<Limit>().max_count, 7);
        assert_eq!(
            p.rule_by_id("counting").map(|r| r.severity),
            Some(Severity::Warning)
        );
        assert_eq!(compile("").expect("empty"), Policy::new(CATALOGUE));
        let e = compile("rules: {replicas: {}}\n").expect_err("not in this catalogue");
        assert!(
            e.to_string()
                .contains("`rules.replicas`: unknown rule id (known: plain, counting)"),
            "{e}"
        );
        let e = compile("rules: {counting: {maxCount: -1}}\n").expect_err("invalid");
        assert!(
            e.to_string()
                .contains("`rules.counting.maxCount`: must not be negative"),
            "{e}"
        );
        let e = compile("rules: {plain: {maxCount: 1}}\n").expect_err("not its parameter");
        assert!(e.to_string().contains("`rules.plain.maxCount`"), "{e}");
        let e = compile("exemptions: {images: [{prefix: x, rules: [nope]}]}\n").expect_err("id");
        assert!(
            e.to_string().contains("exemptions.images[0].rules[0]"),
            "{e}"
        );
    }

    #[test]
    fn evaluation_runs_the_policys_catalogue_with_its_parameters() {
        let w = Workload::from_json_any(r#"{"kind":"Pod","metadata":{"name":"x"},"spec":{}}"#)
            .expect("parses");
        let mut p = Policy::new(CATALOGUE);
        assert!(p.set_params(Limit { max_count: 9 }));
        let r = evaluate(&w, Context::default(), &p);
        let got: Vec<(&str, &str)> = r
            .findings
            .iter()
            .map(|f| (f.rule, f.message.as_str()))
            .collect();
        assert_eq!(got, [("counting", "max 9")]);
    }

    #[test]
    fn parameters_are_read_by_type() {
        let mut p = Policy::new(CATALOGUE);
        assert!(p.rule_params(0).is_none());
        assert_eq!(
            p.rule_params(1).map(|v| v.to_json()),
            Some(serde_json::json!({"maxCount": 3}))
        );
        assert!(p.set_params(Limit { max_count: 5 }));
        assert_eq!(p.params::<Limit>().max_count, 5);
        assert_ne!(p, Policy::new(CATALOGUE));

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
