//! `exemption`: a BulwarkException must be well formed and honoured where it lives (rules that
//! exist, names to match, a reason, a real and unexpired date), and the old
//! `bulwark.dev/exempt` annotation, which grants nothing any more, is pointed out.

use crate::engine::exemptions::{EXEMPTION_RULE_ID, Exception, LEGACY_EXEMPT};
use crate::engine::{Category, CheckCx, Rule, RuleMeta, Severity, Sink};
use crate::workload::Kind;

/// Rule id; the engine knows it too (this rule's own findings cannot be exempted).
pub const ID: &str = EXEMPTION_RULE_ID;

/// The rule.
pub struct Exemption;

static META: RuleMeta = RuleMeta {
    id: ID,
    category: Category::Hygiene,
    severity: Severity::Error,
    enabled_by_default: true,
    pss: None,
    summary: "BulwarkExceptions name known rules and objects, carry a reason and a real, unexpired date; exemption annotations grant nothing",
    remediation: "Fix the BulwarkException's spec (rules, names, reason, expires); replace bulwark.dev/exempt annotations with a BulwarkException (docs/security.md)",
};

impl Rule for Exemption {
    fn meta(&self) -> &'static RuleMeta {
        &META
    }

    fn check(&self, cx: &CheckCx<'_>, out: &mut Sink<'_>) {
        let own = cx.ctx.own_namespace;
        if cx.obj.kind == Kind::BulwarkException {
            let Some(e) = Exception::from_workload(cx.obj) else {
                return;
            };
            for (path, message) in e.problems(own, cx.policy) {
                out.report(path, message);
            }
            if e.expired(cx.ctx.today) {
                out.report(
                    "spec.expires",
                    format!(
                        "expired after {}: it no longer exempts anything",
                        e.spec.expires.as_deref().unwrap_or("")
                    ),
                );
            }
            if !e.honoured_where_it_lives(own, cx.policy) {
                out.warn(
                    "metadata.namespace",
                    format!(
                        "BulwarkExceptions count only in bulwark's namespace {own:?} or in namespaces listed in admission.exceptionNamespaces: this one grants nothing"
                    ),
                );
            }
            return;
        }
        let legacy = |path: String, out: &mut Sink<'_>| {
            out.warn(
                path,
                "annotations no longer grant exemptions (anyone who can edit the object could set them): ask for a BulwarkException instead (docs/security.md)",
            )
        };
        if cx.obj.meta.annotations.contains_key(LEGACY_EXEMPT) {
            legacy(format!("metadata.annotations.{LEGACY_EXEMPT}"), out);
        }
        if cx.obj.kind != Kind::Pod
            && let Some((meta, _)) = cx.obj.pod()
            && meta.annotations.contains_key(LEGACY_EXEMPT)
        {
            let at = cx.obj.kind.pod_meta_path();
            legacy(format!("{at}.annotations.{LEGACY_EXEMPT}"), out);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::Severity;
    use crate::rules::testing::run;

    #[test]
    fn a_bad_exception_is_an_error_naming_the_field() {
        let f = run(
            &Exemption,
            "kind: BulwarkException\nmetadata: {name: x, namespace: bulwark-system}\nspec: {namespaces: [shop], names: [web], rules: [replicaz], expires: '2026-02-31'}\n",
        );
        let paths: Vec<&str> = f.iter().map(|f| f.path.as_str()).collect();
        assert_eq!(paths, ["spec.reason", "spec.rules[0]", "spec.expires"]);
        assert!(f.iter().all(|f| f.severity == Severity::Error));
        let ok = run(
            &Exemption,
            "kind: BulwarkException\nmetadata: {name: x, namespace: bulwark-system}\nspec: {namespaces: [shop], names: [web], rules: [replicas], reason: legacy}\n",
        );
        assert!(ok.is_empty(), "{ok:?}");
    }

    #[test]
    fn an_exception_where_it_does_not_count_is_a_warning() {
        let f = run(
            &Exemption,
            "kind: BulwarkException\nmetadata: {name: x, namespace: shop}\nspec: {names: [web], rules: [replicas], reason: legacy}\n",
        );
        assert_eq!(f.len(), 1, "{f:?}");
        assert_eq!(f[0].severity, Severity::Warning);
        assert_eq!(f[0].path, "metadata.namespace");
    }

    #[test]
    fn legacy_annotations_are_pointed_out_wherever_they_are() {
        let f = run(
            &Exemption,
            "kind: Deployment\nmetadata:\n  annotations: {bulwark.dev/exempt: replicas, bulwark.dev/exempt-reason: x}\nspec:\n  template:\n    metadata:\n      annotations: {bulwark.dev/exempt: privileged}\n",
        );
        let paths: Vec<&str> = f.iter().map(|f| f.path.as_str()).collect();
        assert_eq!(
            paths,
            [
                "metadata.annotations.bulwark.dev/exempt",
                "spec.template.metadata.annotations.bulwark.dev/exempt"
            ]
        );
        assert!(f.iter().all(|f| f.severity == Severity::Warning));
    }
}
