//! `graceful-shutdown`: STUB — to be implemented.

use crate::engine::{Category, CheckCx, Rule, RuleMeta, Severity, Sink};

/// The rule.
pub struct GracefulShutdown;

static META: RuleMeta = RuleMeta {
    id: "graceful-shutdown",
    category: Category::Availability,
    severity: Severity::Error,
    enabled_by_default: true,
    pss: None,
    summary: "TODO",
    remediation: "TODO",
    params: &[],
};

impl Rule for GracefulShutdown {
    fn meta(&self) -> &'static RuleMeta {
        &META
    }

    fn check(&self, _cx: &CheckCx<'_>, _out: &mut Sink<'_>) {}
}
