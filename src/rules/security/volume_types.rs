//! `volume-types`: STUB — to be implemented.

use crate::engine::{Category, CheckCx, PssLevel, Rule, RuleMeta, Severity, Sink};

/// The rule.
pub struct VolumeTypes;

static META: RuleMeta = RuleMeta {
    id: "volume-types",
    category: Category::Security,
    severity: Severity::Error,
    enabled_by_default: true,
    pss: Some(PssLevel::Restricted),
    summary: "TODO",
    remediation: "TODO",
    params: &[],
};

impl Rule for VolumeTypes {
    fn meta(&self) -> &'static RuleMeta {
        &META
    }

    fn check(&self, _cx: &CheckCx<'_>, _out: &mut Sink<'_>) {}
}
