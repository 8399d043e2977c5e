//! `service-account`: STUB — to be implemented.

use crate::engine::{Category, CheckCx, Rule, RuleMeta, Severity, Sink};

/// The rule.
pub struct ServiceAccount;

static META: RuleMeta = RuleMeta {
    id: "service-account",
    category: Category::Hygiene,
    severity: Severity::Error,
    enabled_by_default: true,
    pss: None,
    summary: "TODO",
    remediation: "TODO",
    params: &[],
};

impl Rule for ServiceAccount {
    fn meta(&self) -> &'static RuleMeta {
        &META
    }

    fn check(&self, _cx: &CheckCx<'_>, _out: &mut Sink<'_>) {}
}
