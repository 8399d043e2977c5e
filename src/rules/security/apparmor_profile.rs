//! `apparmor-profile`: STUB — to be implemented.

use crate::engine::{Category, CheckCx, PssLevel, Rule, RuleMeta, Severity, Sink};

/// The rule.
pub struct AppArmorProfile;

static META: RuleMeta = RuleMeta {
    id: "apparmor-profile",
    category: Category::Security,
    severity: Severity::Error,
    enabled_by_default: true,
    pss: Some(PssLevel::Baseline),
    summary: "TODO",
    remediation: "TODO",
    params: &[],
};

impl Rule for AppArmorProfile {
    fn meta(&self) -> &'static RuleMeta {
        &META
    }

    fn check(&self, _cx: &CheckCx<'_>, _out: &mut Sink<'_>) {}
}
