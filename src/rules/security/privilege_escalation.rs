//! `privilege-escalation`: STUB — to be implemented.

use crate::engine::{Category, CheckCx, PssLevel, Rule, RuleMeta, Severity, Sink};

/// The rule.
pub struct PrivilegeEscalation;

static META: RuleMeta = RuleMeta {
    id: "privilege-escalation",
    category: Category::Security,
    severity: Severity::Error,
    enabled_by_default: true,
    pss: Some(PssLevel::Restricted),
    summary: "TODO",
    remediation: "TODO",
    params: &[],
};

impl Rule for PrivilegeEscalation {
    fn meta(&self) -> &'static RuleMeta {
        &META
    }

    fn check(&self, _cx: &CheckCx<'_>, _out: &mut Sink<'_>) {}
}
