//! `host-probes`: STUB — to be implemented.

use crate::engine::{Category, CheckCx, PssLevel, Rule, RuleMeta, Severity, Sink};

/// The rule.
pub struct HostProbes;

static META: RuleMeta = RuleMeta {
    id: "host-probes",
    category: Category::Security,
    severity: Severity::Error,
    enabled_by_default: true,
    pss: Some(PssLevel::Baseline),
    summary: "TODO",
    remediation: "TODO",
    params: &[],
};

impl Rule for HostProbes {
    fn meta(&self) -> &'static RuleMeta {
        &META
    }

    fn check(&self, _cx: &CheckCx<'_>, _out: &mut Sink<'_>) {}
}
