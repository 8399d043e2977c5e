//! `resources`: STUB — to be implemented.

use crate::engine::{Category, CheckCx, Rule, RuleMeta, Severity, Sink};

/// The rule.
pub struct Resources;

static META: RuleMeta = RuleMeta {
    id: "resources",
    category: Category::Hygiene,
    severity: Severity::Error,
    enabled_by_default: true,
    pss: None,
    summary: "TODO",
    remediation: "TODO",
    params: &[],
};

impl Rule for Resources {
    fn meta(&self) -> &'static RuleMeta {
        &META
    }

    fn check(&self, _cx: &CheckCx<'_>, _out: &mut Sink<'_>) {}
}
