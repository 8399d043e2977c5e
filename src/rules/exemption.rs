//! `exemption`: an exemption annotation must name real rules and carry a reason (and, when
//! it has an expiry, be unexpired). A bad exemption does not apply and is itself a finding.

use crate::engine::exemptions::{self, AnnotationExemption, EXEMPT};
use crate::engine::{Category, CheckCx, Rule, RuleMeta, Severity, Sink};

/// Rule id, referenced by the engine (this rule's own findings cannot be exempted).
pub const ID: &str = "exemption";

/// The rule.
pub struct Exemption;

static META: RuleMeta = RuleMeta {
    id: ID,
    category: Category::Hygiene,
    severity: Severity::Error,
    enabled_by_default: true,
    pss: None,
    summary: "Exemption annotations name known rules, carry a reason and are unexpired",
    remediation: "Set bulwark.dev/exempt-reason, fix the rule ids, or renew bulwark.dev/exempt-until",
    params: &[],
};

impl Rule for Exemption {
    fn meta(&self) -> &'static RuleMeta {
        &META
    }

    fn check(&self, cx: &CheckCx<'_>, out: &mut Sink<'_>) {
        let path = format!("metadata.annotations.{EXEMPT}");
        match exemptions::annotation(cx.obj, cx.ctx.today) {
            AnnotationExemption::None => {}
            AnnotationExemption::Invalid(why) => out.report(path, why),
            AnnotationExemption::Active(rules) => {
                for r in rules {
                    if crate::rules::index_of(&r).is_none() || r == ID {
                        out.report(path.clone(), format!("{r:?} is not an exemptable rule id"));
                    }
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rules::testing::run;

    #[test]
    fn missing_reason_and_unknown_ids_are_findings() {
        let f = run(
            &Exemption,
            "kind: Pod\nmetadata:\n  annotations: {bulwark.dev/exempt: replicas}\n",
        );
        assert_eq!(f.len(), 1);
        assert!(f[0].message.contains("reason"));
        let f = run(
            &Exemption,
            "kind: Pod\nmetadata:\n  annotations: {bulwark.dev/exempt: 'replicaz', bulwark.dev/exempt-reason: legacy}\n",
        );
        assert!(f[0].message.contains("replicaz"));
        let ok = run(
            &Exemption,
            "kind: Pod\nmetadata:\n  annotations: {bulwark.dev/exempt: 'replicas', bulwark.dev/exempt-reason: legacy}\n",
        );
        assert!(ok.is_empty());
    }
}
