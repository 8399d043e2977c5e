//! Typed rule parameters: each rule that takes parameters declares one serde struct in its
//! own file, and the policy stores one parsed value per rule.
//!
//! A rule declares its parameters by implementing [`RuleParams`] for a struct and returning
//! [`ParamsSpec::of`] from [`Rule::params`](super::Rule::params); it reads them with
//! [`Policy::params`](super::Policy::params). Nothing else names a parameter: the
//! policy parser, the error messages (the keys come from serialising the default), `bulwark
//! rules` and the README's rule table all read the spec.

use std::any::{Any, TypeId};
use std::fmt::Debug;

use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::{Map, Value};

/// A rule's parameters. Implement it for a struct with
/// `#[serde(default, deny_unknown_fields, rename_all = "camelCase")]` whose `Default` is the
/// built-in value; override [`RuleParams::validate`] for checks serde cannot express.
pub trait RuleParams:
    DeserializeOwned + Serialize + Default + Clone + PartialEq + Debug + Send + Sync + 'static
{
    /// Checks, and may normalise, parameters just parsed from a policy file; the error names
    /// the offending key. Not called for values set in code ([`Policy::set_params`]).
    ///
    /// [`Policy::set_params`]: super::Policy::set_params
    fn validate(&mut self) -> Result<(), ParamError> {
        Ok(())
    }
}

/// A parameter that does not parse or validate.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{key}: {reason}")]
pub struct ParamError {
    /// The parameter's key as written (camelCase); empty when no one key is to blame.
    pub key: String,
    /// What is wrong with it.
    pub reason: String,
}

impl ParamError {
    /// An error about `key`.
    pub fn new(key: impl Into<String>, reason: impl Into<String>) -> ParamError {
        ParamError {
            key: key.into(),
            reason: reason.into(),
        }
    }
}

/// Object-safe view of a [`RuleParams`] value, so the policy can hold every rule's own type.
/// Implemented for every `RuleParams`; never implement it by hand.
pub trait AnyParams: Any + Send + Sync + Debug {
    /// For downcasting to the concrete type (trait upcasting needs Rust 1.86).
    fn as_any(&self) -> &dyn Any;
    /// A boxed copy.
    fn clone_box(&self) -> Box<dyn AnyParams>;
    /// Equality with a value of any parameter type (false across types).
    fn eq_dyn(&self, other: &dyn AnyParams) -> bool;
    /// The value as a JSON object keyed like the policy file, for listings and docs.
    fn to_json(&self) -> Value;
}

impl<T: RuleParams> AnyParams for T {
    fn as_any(&self) -> &dyn Any {
        self
    }
    fn clone_box(&self) -> Box<dyn AnyParams> {
        Box::new(self.clone())
    }
    fn eq_dyn(&self, other: &dyn AnyParams) -> bool {
        other.as_any().downcast_ref::<T>() == Some(self)
    }
    fn to_json(&self) -> Value {
        // Plain structs of strings, numbers, bools and lists always serialise; `Null` would
        // only make listings show no parameters.
        serde_json::to_value(self).unwrap_or(Value::Null)
    }
}

impl Clone for Box<dyn AnyParams> {
    fn clone(&self) -> Self {
        (**self).clone_box()
    }
}

impl PartialEq for dyn AnyParams {
    fn eq(&self, other: &Self) -> bool {
        self.eq_dyn(other)
    }
}

/// Parses a rule's raw parameter keys into its parameter type.
type ParseFn = fn(&Map<String, Value>) -> Result<Box<dyn AnyParams>, ParamError>;

/// How to make and parse one rule's parameters: what [`Rule::params`](super::Rule::params)
/// returns.
#[derive(Clone, Copy)]
pub struct ParamsSpec {
    type_id: TypeId,
    default: fn() -> Box<dyn AnyParams>,
    parse: ParseFn,
}

impl Debug for ParamsSpec {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ParamsSpec")
            .field("defaults", &(self.default)())
            .finish()
    }
}

impl ParamsSpec {
    /// The spec of parameter type `P`.
    pub fn of<P: RuleParams>() -> ParamsSpec {
        ParamsSpec {
            type_id: TypeId::of::<P>(),
            default: || Box::new(P::default()),
            parse: parse::<P>,
        }
    }

    /// The type the rule reads its parameters as.
    pub fn type_id(&self) -> TypeId {
        self.type_id
    }

    /// The built-in parameters.
    pub fn default_value(&self) -> Box<dyn AnyParams> {
        (self.default)()
    }

    /// Parses the parameter keys of a rule's section of the policy file (its common keys,
    /// `enabled`, `severity` and `mode`, already taken out), then validates them.
    pub fn parse(&self, raw: &Map<String, Value>) -> Result<Box<dyn AnyParams>, ParamError> {
        (self.parse)(raw)
    }

    /// The parameter keys with their built-in values, in declaration order.
    pub fn defaults(&self) -> Map<String, Value> {
        match self.default_value().to_json() {
            Value::Object(m) => m,
            _ => Map::new(),
        }
    }
}

fn parse<P: RuleParams>(raw: &Map<String, Value>) -> Result<Box<dyn AnyParams>, ParamError> {
    let known = ParamsSpec::of::<P>().defaults();
    for (key, value) in raw {
        if !known.contains_key(key) {
            let names: Vec<&str> = known.keys().map(String::as_str).collect();
            return Err(ParamError::new(
                key.clone(),
                format!(
                    "not a parameter of this rule (its parameters: {})",
                    if names.is_empty() {
                        "none".into()
                    } else {
                        names.join(", ")
                    }
                ),
            ));
        }
        // One key at a time (the others default), so a type error names its key: serde's
        // own message for a whole struct does not say which field it was reading.
        let mut one = Map::new();
        one.insert(key.clone(), value.clone());
        if let Err(e) = serde_json::from_value::<P>(Value::Object(one)) {
            return Err(ParamError::new(key.clone(), e.to_string()));
        }
    }
    let mut params: P = serde_json::from_value(Value::Object(raw.clone()))
        .map_err(|e| ParamError::new("", e.to_string()))?;
    params.validate()?;
    Ok(Box::new(params))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde::Deserialize;

    #[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
    #[serde(default, deny_unknown_fields, rename_all = "camelCase")]
    struct Demo {
        min_count: i64,
        names: Vec<String>,
    }

    impl Default for Demo {
        fn default() -> Self {
            Demo {
                min_count: 2,
                names: vec!["A".into()],
            }
        }
    }

    impl RuleParams for Demo {
        fn validate(&mut self) -> Result<(), ParamError> {
            if self.min_count < 1 {
                return Err(ParamError::new("minCount", "must be at least 1"));
            }
            self.names.iter_mut().for_each(|n| n.make_ascii_uppercase());
            Ok(())
        }
    }

    fn parse_yaml(yaml: &str) -> Result<Demo, ParamError> {
        let raw: Map<String, Value> = serde_yaml_ng::from_str(yaml).expect("test yaml");
        let p = ParamsSpec::of::<Demo>().parse(&raw)?;
        Ok(p.as_any().downcast_ref::<Demo>().expect("a Demo").clone())
    }

    #[test]
    fn keys_and_defaults_come_from_the_default_value() {
        let d = ParamsSpec::of::<Demo>().defaults();
        assert_eq!(d.keys().collect::<Vec<_>>(), ["minCount", "names"]);
        assert_eq!(d["minCount"], 2);
    }

    #[test]
    fn parses_over_defaults_and_validates() {
        assert_eq!(
            parse_yaml("{}").expect("empty"),
            Demo::default(),
            "nothing set: the defaults"
        );
        let p = parse_yaml("minCount: 3\nnames: [x]\n").expect("parses");
        assert_eq!(p.min_count, 3);
        assert_eq!(p.names, ["X"], "validate normalises");
        let e = parse_yaml("minCount: 0\n").expect_err("invalid");
        assert_eq!(e.to_string(), "minCount: must be at least 1");
    }

    #[test]
    fn unknown_keys_and_type_errors_name_the_key() {
        let e = parse_yaml("minCount: 3\nmaxCount: 4\n").expect_err("unknown");
        assert_eq!(e.key, "maxCount");
        assert_eq!(
            e.reason,
            "not a parameter of this rule (its parameters: minCount, names)"
        );
        let e = parse_yaml("names: [x]\nminCount: many\n").expect_err("type");
        assert_eq!(e.key, "minCount");
        assert!(e.reason.starts_with("invalid type: string \"many\""), "{e}");
        let e = parse_yaml("names: x\n").expect_err("type");
        assert_eq!(e.key, "names");
    }

    #[test]
    fn boxed_values_compare_and_clone_by_content() {
        let a: Box<dyn AnyParams> = Box::new(Demo::default());
        let b = a.clone();
        assert!(a == b);
        let c: Box<dyn AnyParams> = Box::new(Demo {
            min_count: 5,
            ..Demo::default()
        });
        assert!(a != c);
    }
}
