//! `windows-host-process`: STUB — to be implemented.

use crate::engine::{Category, CheckCx, PssLevel, Rule, RuleMeta, Severity, Sink};

/// The rule.
pub struct WindowsHostProcess;

static META: RuleMeta = RuleMeta {
    id: "windows-host-process",
    category: Category::Security,
    severity: Severity::Error,
    enabled_by_default: true,
    pss: Some(PssLevel::Baseline),
    summary: "TODO",
    remediation: "TODO",
    params: &[],
};

impl Rule for WindowsHostProcess {
    fn meta(&self) -> &'static RuleMeta {
        &META
    }

    fn check(&self, _cx: &CheckCx<'_>, _out: &mut Sink<'_>) {}
}
