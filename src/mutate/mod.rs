//! Mutation: the baseline's defaults as RFC 6902 JSON patches.
//!
//! [`mutate`] fills in what a workload left unset (security contexts, resources, probes, a
//! preStop hook, derived labels, the service account token, a safe rollout strategy) so most
//! workloads pass validation without hand-written boilerplate. The patch is made against the
//! object exactly as received and is safe by construction:
//! - it only adds absent fields (or replaces an explicit `null`); an author's value is never
//!   changed, and a parent that is missing is added whole;
//! - it is idempotent: mutating the result again yields an empty patch;
//! - a default is applied only while the rule it satisfies is in force (enabled, not mode
//!   `off`, within the policy's Pod Security level) and not exempted for the object;
//! - on UPDATE it never touches fields Kubernetes makes immutable (a Pod's spec, a Job's pod
//!   template): there only labels and the annotation are added;
//! - objects created by a controller other than Pods (a Deployment's ReplicaSets, a
//!   CronJob's Jobs) are never mutated: changing their template makes the owner see a
//!   different template and fight the webhook. Controlled Pods get security defaults only,
//!   as the engine judges them on security only.
//!
//! What was defaulted is recorded as rule ids in the `bulwark.dev/defaulted` annotation.
//! `docs/mutation.md` documents every default and its configuration key.

mod controller;
mod labels;
mod patch;
mod pod;

use std::collections::BTreeSet;

use serde_json::{Value, json};

pub use crate::policy::mutation::{
    ContainerSecurityDefaults, GracefulShutdownDefaults, MutationConfig, PodSecurityDefaults,
    ProbeDefaults, ResourceDefaults, Toggle,
};
pub use crate::policy::quantity;
pub use labels::{image_tag, valid_value as valid_label_value};

use crate::config::{Mode, Policy};
use crate::engine::Context;
use crate::engine::exemptions;
use crate::engine::{Category, PssLevel};
use crate::rules;
use crate::workload::{Kind, ParseError, Workload};
use patch::{Patcher, Path};

/// Annotation listing the rule ids whose defaults were applied (sorted, comma-separated).
pub const DEFAULTED_ANNOTATION: &str = "bulwark.dev/defaulted";

/// The admission operation being mutated.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Operation {
    /// A new object: every default may be applied.
    Create,
    /// A change to an existing object: immutable fields are left alone.
    Update,
}

/// The result of [`mutate`].
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Mutation {
    /// RFC 6902 patch against the object as received (empty when nothing is defaulted).
    pub patch: json_patch::Patch,
    /// Ids of the rules whose defaults this patch applies, sorted.
    pub defaulted: Vec<&'static str>,
}

impl Mutation {
    /// Whether the patch changes nothing.
    pub fn is_empty(&self) -> bool {
        self.patch.0.is_empty()
    }
}

/// Why an object could not be mutated.
#[derive(Debug, thiserror::Error)]
pub enum MutateError {
    /// The object is not a JSON object.
    #[error("object is not a JSON object")]
    NotAnObject,
    /// `kind` is missing or not a string.
    #[error("object has no `kind`")]
    MissingKind,
    /// A field the defaults read has the wrong shape.
    #[error(transparent)]
    Invalid(#[from] ParseError),
}

/// What one mutation run knows and decides.
pub(crate) struct Cx<'a> {
    policy: &'a Policy,
    cfg: &'a MutationConfig,
    w: &'a Workload,
    /// Rules exempted for the whole object (policy workload entries, annotation).
    exempt_rules: Vec<String>,
    /// Only security defaults (Pods created by a controller).
    security_only: bool,
    defaulted: BTreeSet<&'static str>,
}

impl Cx<'_> {
    /// Whether the default satisfying rule `id` may be applied to this object: the rule is in
    /// force (enabled, within the PSS level, and not moved to `audit` or `off` by a per-rule
    /// mode: a rule on trial is only reported, never acted on) and not exempted.
    fn wants(&self, id: &'static str) -> bool {
        let Some(index) = rules::index_of(id) else {
            return false;
        };
        let meta = rules::catalogue()[index].meta();
        let eff = self.policy.rule(index);
        eff.enabled
            && eff.mode.is_none_or(|m| m == Mode::Enforce)
            && meta.pss.is_none_or(|lvl| lvl <= self.policy.pod_security)
            && !(self.security_only && meta.category != Category::Security)
            && !self.exempt_rules.iter().any(|r| r == id)
    }

    /// [`Cx::wants`] for a container with `image`, honouring image-prefix exemptions.
    fn wants_for(&self, id: &'static str, image: Option<&str>) -> bool {
        self.wants(id)
            && !self.policy.exemptions.images.iter().any(|e| {
                image.unwrap_or("").starts_with(&e.prefix)
                    && (e.rules.is_empty() || e.rules.iter().any(|r| r == id))
            })
    }

    /// Whether restricted-level requirements are in force (seccomp RuntimeDefault, drop ALL,
    /// no privilege escalation, non-root).
    fn restricted(&self) -> bool {
        self.policy.pod_security >= PssLevel::Restricted
    }

    fn mark(&mut self, id: &'static str) {
        self.defaulted.insert(id);
    }
}

/// Computes the defaults for `object` as a JSON patch. Kinds without a pod spec (HPA, PDB,
/// Namespace, anything unknown) get an empty patch, as do exempted and deleted objects.
/// Nothing around the object is known: no exceptions, no verified controller origin (the
/// object is mutated as itself), no clock.
pub fn mutate(object: &Value, op: Operation, policy: &Policy) -> Result<Mutation, MutateError> {
    mutate_parsed(object, None, op, policy, Context::default())
}

/// [`mutate`] for a caller that already holds the object's typed view (the webhook parsed it
/// from the request): `parsed` is used when it is of the object's own kind, so the hot path
/// does not build the view a second time from `object`. `ctx` carries what exemptions need
/// (exceptions, today, the verified origin), as for [`crate::engine::evaluate`].
pub fn mutate_parsed(
    object: &Value,
    parsed: Option<&Workload>,
    op: Operation,
    policy: &Policy,
    ctx: Context<'_>,
) -> Result<Mutation, MutateError> {
    let Value::Object(map) = object else {
        return Err(MutateError::NotAnObject);
    };
    let Some(Value::String(kind_name)) = map.get("kind") else {
        return Err(MutateError::MissingKind);
    };
    let kind = Kind::parse(kind_name);
    if !kind.has_pod_spec() || !policy.mutation.enabled {
        return Ok(Mutation::default());
    }
    let owned;
    let w = match parsed.filter(|w| w.kind_name == *kind_name) {
        Some(w) => w,
        None => {
            owned = Workload::from_value(object)?;
            &owned
        }
    };
    // Only an origin admission verified counts as controller-made; an ownerReference alone
    // is a claim anyone who can write the object can make.
    let controlled = ctx.origin.is_some();
    if w.meta.deletion_timestamp.is_some()
        || exemptions::namespace_exempt(w, policy)
        || (controlled && kind != Kind::Pod)
    {
        return Ok(Mutation::default());
    }
    let Some(exempt_rules) = exemptions::whole_object_rules(w, ctx, policy) else {
        return Ok(Mutation::default()); // exempt from every rule
    };
    let mut cx = Cx {
        policy,
        cfg: &policy.mutation,
        w,
        exempt_rules,
        security_only: controlled,
        defaulted: BTreeSet::new(),
    };
    let mut p = Patcher::new(object);

    // A Pod's spec is immutable on UPDATE (bar a few fields), and so is a Job's template.
    let spec_mutable = op == Operation::Create || !matches!(kind, Kind::Pod | Kind::Job);
    if spec_mutable {
        let spec = Path::dotted(kind.pod_spec_path());
        if p.get(&spec).is_some_and(Value::is_object) {
            pod::apply(&mut cx, &mut p, &spec);
        }
        match kind {
            Kind::Deployment => controller::rolling_update(&mut cx, &mut p),
            Kind::DaemonSet => controller::daemonset_rolling_update(&mut cx, &mut p),
            _ => {}
        }
    }
    // Template labels only where the template exists: never invent one around labels.
    let template = (spec_mutable && kind != Kind::Pod)
        .then(|| Path::dotted(kind.pod_meta_path()))
        .filter(|meta| {
            let template = Path(meta.0[..meta.0.len() - 1].to_vec());
            p.get(&template).is_some_and(Value::is_object)
        });
    labels::apply(&mut cx, &mut p, template.as_ref());

    let defaulted: Vec<&'static str> = cx.defaulted.into_iter().collect();
    if !defaulted.is_empty() {
        record(&mut p, &defaulted);
    }
    Ok(Mutation {
        patch: p.into_patch(),
        defaulted,
    })
}

/// Parses an object for [`mutate`], leaving out what no default reads or writes: `status`
/// and `metadata.managedFields` (often half of an object's bytes, and the costliest part to
/// build as a [`Value`]). The patch is computed against paths that exist alike in the full
/// object, so it applies to the object exactly as received.
pub fn parse_object(json: &str) -> Result<Value, serde_json::Error> {
    let mut de = serde_json::Deserializer::from_str(json);
    let v = serde::de::DeserializeSeed::deserialize(object_seed(), &mut de)?;
    de.end()?;
    Ok(v)
}

/// The seed behind [`parse_object`], for reading an object inside a larger document (the
/// webhook reads `request.object` this way while decoding the AdmissionReview).
pub fn object_seed() -> Pruned {
    Pruned {
        skip: &["status"],
        nested: Some(("metadata", &["managedFields"])),
    }
}

/// A [`Value`] without the keys in `skip`, and `nested`'s keys skipped one level down.
#[derive(Clone, Copy, Debug)]
pub struct Pruned {
    skip: &'static [&'static str],
    nested: Option<(&'static str, &'static [&'static str])>,
}

impl<'de> serde::de::DeserializeSeed<'de> for Pruned {
    type Value = Value;
    fn deserialize<D: serde::Deserializer<'de>>(self, d: D) -> Result<Value, D::Error> {
        d.deserialize_any(self)
    }
}

impl<'de> serde::de::Visitor<'de> for Pruned {
    type Value = Value;

    fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("any JSON value")
    }

    fn visit_map<A: serde::de::MapAccess<'de>>(self, mut map: A) -> Result<Value, A::Error> {
        let mut out = serde_json::Map::new();
        while let Some(key) = map.next_key::<String>()? {
            if self.skip.contains(&key.as_str()) {
                map.next_value::<serde::de::IgnoredAny>()?;
                continue;
            }
            let value = match self.nested {
                Some((k, skip)) if k == key => {
                    map.next_value_seed(Pruned { skip, nested: None })?
                }
                _ => map.next_value::<Value>()?,
            };
            out.insert(key, value);
        }
        Ok(Value::Object(out))
    }

    // Anything but an object is kept as it is.
    fn visit_seq<A: serde::de::SeqAccess<'de>>(self, seq: A) -> Result<Value, A::Error> {
        serde::Deserialize::deserialize(serde::de::value::SeqAccessDeserializer::new(seq))
    }
    fn visit_str<E>(self, v: &str) -> Result<Value, E> {
        Ok(Value::String(v.to_owned()))
    }
    fn visit_string<E>(self, v: String) -> Result<Value, E> {
        Ok(Value::String(v))
    }
    fn visit_bool<E>(self, v: bool) -> Result<Value, E> {
        Ok(Value::Bool(v))
    }
    fn visit_i64<E>(self, v: i64) -> Result<Value, E> {
        Ok(Value::from(v))
    }
    fn visit_u64<E>(self, v: u64) -> Result<Value, E> {
        Ok(Value::from(v))
    }
    fn visit_f64<E>(self, v: f64) -> Result<Value, E> {
        Ok(serde_json::Number::from_f64(v).map_or(Value::Null, Value::Number))
    }
    fn visit_unit<E>(self) -> Result<Value, E> {
        Ok(Value::Null)
    }
    fn visit_none<E>(self) -> Result<Value, E> {
        Ok(Value::Null)
    }
}

/// Merges `defaulted` into the `bulwark.dev/defaulted` annotation (sorted, deduplicated), so
/// a second run that defaults nothing new leaves it as it is.
fn record(p: &mut Patcher, defaulted: &[&'static str]) {
    let path = Path::root()
        .key("metadata")
        .key("annotations")
        .key(DEFAULTED_ANNOTATION);
    let existing = p.get(&path).and_then(Value::as_str).unwrap_or("");
    let mut ids: BTreeSet<&str> = existing
        .split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .collect();
    let before = ids.len();
    ids.extend(defaulted.iter().copied());
    if ids.len() == before && !existing.is_empty() {
        return; // nothing new: keep the value exactly as written
    }
    let merged = ids.into_iter().collect::<Vec<_>>().join(",");
    p.set(&path, json!(merged));
}

#[cfg(test)]
mod tests;
