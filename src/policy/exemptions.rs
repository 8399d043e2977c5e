//! `exemptions:` section of the policy: namespaces, workloads and image prefixes exempt from
//! some or all rules. How they apply to findings is the engine's (`engine::exemptions`).

use serde::{Deserialize, Serialize};

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
        glob(&self.name, name)
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

/// `*` matches any run of characters (including none); everything else matches itself.
pub fn glob(pattern: &str, s: &str) -> bool {
    let mut parts = pattern.split('*');
    let first = parts.next().unwrap_or("");
    let Some(mut rest) = s.strip_prefix(first) else {
        return false;
    };
    let parts: Vec<&str> = parts.collect();
    let Some((last, middle)) = parts.split_last() else {
        return rest.is_empty(); // no `*` at all
    };
    for part in middle {
        match rest.find(part) {
            Some(i) => rest = &rest[i + part.len()..],
            None => return false,
        }
    }
    rest.len() >= last.len() && rest.ends_with(last)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn globs() {
        assert!(glob("web", "web"));
        assert!(!glob("web", "web2"));
        assert!(glob("web-*", "web-1"));
        assert!(glob("web-*", "web-"));
        assert!(!glob("web-*", "api-1"));
        assert!(glob("*", ""));
        assert!(glob("*-canary", "web-canary"));
        assert!(glob("a*b*c", "a-x-b-y-c"));
        assert!(!glob("a*b*c", "a-x-c-y-b"));
        assert!(!glob("ab*ba", "aba")); // the two ends must not overlap
    }
}
