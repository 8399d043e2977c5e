//! `secret-env`: STUB — to be implemented.

use crate::engine::{Category, CheckCx, Rule, RuleMeta, Severity, Sink};

/// The rule.
pub struct SecretEnv;

static META: RuleMeta = RuleMeta {
    id: "secret-env",
    category: Category::Hygiene,
    severity: Severity::Error,
    enabled_by_default: true,
    pss: None,
    summary: "TODO",
    remediation: "TODO",
    params: &[],
};

impl Rule for SecretEnv {
    fn meta(&self) -> &'static RuleMeta {
        &META
    }

    fn check(&self, _cx: &CheckCx<'_>, _out: &mut Sink<'_>) {}
}
