//! Derived `app.kubernetes.io/*` labels on the object and its pod template.

use std::collections::BTreeMap;

use serde_json::{Value, json};

use super::Cx;
use super::patch::{Patcher, Path};
use crate::workload::{Kind, LabelSelector};

const LABELS: &str = "labels";
/// The label every workload gets when the `labels` rule is in force.
pub const NAME: &str = "app.kubernetes.io/name";
/// Derived from the first container's image tag, when the policy requires it.
pub const VERSION: &str = "app.kubernetes.io/version";

/// Whether `v` is a valid label value (at most 63 characters, alphanumerics at both ends,
/// `-`, `_`, `.` inside).
pub fn valid_value(v: &str) -> bool {
    let b = v.as_bytes();
    !b.is_empty()
        && b.len() <= 63
        && b[0].is_ascii_alphanumeric()
        && b[b.len() - 1].is_ascii_alphanumeric()
        && b.iter()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, b'-' | b'_' | b'.'))
}

/// The tag of an image reference (`repo:tag`, `host:5000/repo:tag@sha256:...`), if any.
pub fn image_tag(image: &str) -> Option<&str> {
    let without_digest = image.split('@').next().unwrap_or(image);
    let last_component = without_digest.rsplit('/').next().unwrap_or(without_digest);
    last_component
        .split_once(':')
        .map(|(_, tag)| tag)
        .filter(|t| !t.is_empty())
}

fn string_labels(v: Option<&Value>) -> BTreeMap<String, String> {
    v.and_then(Value::as_object)
        .map(|m| {
            m.iter()
                .filter_map(|(k, v)| v.as_str().map(|s| (k.clone(), s.to_owned())))
                .collect()
        })
        .unwrap_or_default()
}

fn label<'v>(p: &'v Patcher, meta: &Path, key: &str) -> Option<&'v str> {
    p.get(&meta.key("labels").key(key)).and_then(Value::as_str)
}

/// Adds the derivable labels. `template` is the pod template metadata path when the object
/// has a pod template that may be changed (not a Pod, not a Job on UPDATE).
pub(super) fn apply(cx: &mut Cx<'_>, p: &mut Patcher, template: Option<&Path>) {
    if !cx.cfg.labels.enabled || !cx.wants(LABELS) {
        return;
    }
    let object = Path::root().key("metadata");
    let mut keys = vec![NAME];
    if cx
        .policy
        .params::<crate::rules::hygiene::labels::Params>()
        .required
        .iter()
        .any(|l| l == VERSION)
    {
        keys.push(VERSION);
    }
    for key in keys {
        // A value one side already carries wins, so the object and its pods agree.
        let existing = label(p, &object, key)
            .or_else(|| template.and_then(|t| label(p, t, key)))
            .map(str::to_owned);
        let Some(value) = existing.or_else(|| derive(cx, p, key)) else {
            continue;
        };
        if !valid_value(&value) {
            continue;
        }
        if p.fill(&object.key("labels").key(key), json!(value)) {
            cx.mark(LABELS);
        }
        if let Some(t) = template
            && selector_allows(cx, p, t, key, &value)
            && p.fill(&t.key("labels").key(key), json!(value))
        {
            cx.mark(LABELS);
        }
    }
}

/// Whether the template still matches the workload's selector with `key=value` added
/// (`matchExpressions` such as `DoesNotExist` can be broken by an added label).
fn selector_allows(cx: &Cx<'_>, p: &Patcher, template: &Path, key: &str, value: &str) -> bool {
    let Some(spec) = cx.w.controller() else {
        return true;
    };
    let selector: Option<&LabelSelector> = match cx.w.kind {
        Kind::CronJob => spec
            .job_template
            .as_ref()
            .and_then(|jt| jt.spec.selector.as_ref())
            .map(|s| &s.0),
        _ => spec.selector.as_ref().map(|s| &s.0),
    };
    let Some(selector) = selector else {
        return true;
    };
    let mut labels = string_labels(p.get(&template.key("labels")));
    labels.insert(key.to_owned(), value.to_owned());
    selector.matches(&labels)
}

fn derive(cx: &Cx<'_>, p: &Patcher, key: &str) -> Option<String> {
    let meta = &cx.w.meta;
    match key {
        NAME => {
            let generated = meta
                .generate_name
                .as_deref()
                .map(|g| g.trim_end_matches(['-', '.']))
                .filter(|g| !g.is_empty());
            if cx.w.kind == Kind::Pod {
                // Pods: an `app` label, else the generateName prefix (`web-` -> `web`), else
                // the name.
                meta.labels
                    .get("app")
                    .map(String::as_str)
                    .or(generated)
                    .or(meta.name.as_deref())
                    .map(str::to_owned)
            } else {
                meta.name.as_deref().or(generated).map(str::to_owned)
            }
        }
        VERSION => {
            let spec = Path::dotted(cx.w.kind.pod_spec_path());
            let image = p
                .get(&spec.key("containers").idx(0).key("image"))?
                .as_str()?;
            image_tag(image)
                .filter(|t| *t != "latest")
                .map(str::to_owned)
        }
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn label_values_and_image_tags() {
        assert!(valid_value("web-1.2_x"));
        assert!(!valid_value("-web"));
        assert!(!valid_value(&"a".repeat(64)));
        assert!(!valid_value(""));
        assert_eq!(image_tag("nginx:1.25"), Some("1.25"));
        assert_eq!(image_tag("reg:5000/team/app:v2@sha256:abc"), Some("v2"));
        assert_eq!(image_tag("reg:5000/team/app"), None);
        assert_eq!(image_tag("app@sha256:abc"), None);
    }
}
