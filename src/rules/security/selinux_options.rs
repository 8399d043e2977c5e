//! `selinux-options`: STUB — to be implemented.

use crate::engine::{Category, CheckCx, PssLevel, Rule, RuleMeta, Severity, Sink};

/// The rule.
pub struct SeLinuxOptions;

static META: RuleMeta = RuleMeta {
    id: "selinux-options",
    category: Category::Security,
    severity: Severity::Error,
    enabled_by_default: true,
    pss: Some(PssLevel::Baseline),
    summary: "TODO",
    remediation: "TODO",
    params: &[],
};

impl Rule for SeLinuxOptions {
    fn meta(&self) -> &'static RuleMeta {
        &META
    }

    fn check(&self, _cx: &CheckCx<'_>, _out: &mut Sink<'_>) {}
}
