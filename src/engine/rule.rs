//! The `Rule` trait, rule metadata, and the `Sink` a rule reports findings into.

use super::{CheckCx, Finding, ParamsSpec};
pub use crate::policy::{Category, PssLevel, Severity};

/// Static description of a rule. Rule ids are a public interface: never rename one.
#[derive(Debug)]
pub struct RuleMeta {
    /// Stable id, e.g. `privilege-escalation`.
    pub id: &'static str,
    /// Category.
    pub category: Category,
    /// Severity unless the policy overrides it.
    pub severity: Severity,
    /// Whether the rule runs without being enabled in the policy.
    pub enabled_by_default: bool,
    /// For PSS rules, the lowest level at which the rule applies; `None` for non-PSS rules.
    pub pss: Option<PssLevel>,
    /// One line: what the rule requires.
    pub summary: &'static str,
    /// One line: how to fix a finding.
    pub remediation: &'static str,
}

/// A rule: metadata plus a check. Checks are pure functions of their [`CheckCx`].
pub trait Rule: Send + Sync {
    /// The rule's metadata.
    fn meta(&self) -> &'static RuleMeta;
    /// The rule's own parameters (`rules.<id>.<key>` in the policy file), if it takes any:
    /// `Some(ParamsSpec::of::<Params>())` for a [`RuleParams`](super::RuleParams) struct
    /// declared beside the rule. The rule reads them with `cx.policy.params::<Params>()`.
    fn params(&self) -> Option<ParamsSpec> {
        None
    }
    /// Reports every violation in `cx.obj` into `out`.
    fn check(&self, cx: &CheckCx<'_>, out: &mut Sink<'_>);
}

/// Collects one rule's findings, stamping each with the rule's id and effective severity.
pub struct Sink<'a> {
    meta: &'static RuleMeta,
    severity: Severity,
    findings: &'a mut Vec<Finding>,
}

impl<'a> Sink<'a> {
    /// A sink for `meta` at `severity` appending to `findings`.
    pub fn new(
        meta: &'static RuleMeta,
        severity: Severity,
        findings: &'a mut Vec<Finding>,
    ) -> Self {
        Sink {
            meta,
            severity,
            findings,
        }
    }

    /// Reports a violation at `path` (dotted, with `[i]` indexes).
    pub fn report(&mut self, path: impl Into<String>, message: impl Into<String>) {
        self.push(self.severity, path.into(), message.into());
    }

    /// Reports a violation whose severity is capped at `warning`: used when a rule lacks the
    /// cluster data to be sure (a live cluster's PDB may not have been applied yet).
    pub fn warn(&mut self, path: impl Into<String>, message: impl Into<String>) {
        self.push(
            self.severity.min(Severity::Warning),
            path.into(),
            message.into(),
        );
    }

    /// Reports a violation at `error` whatever the rule's severity: for a parameter that
    /// explicitly asks to deny (`disruption-budget`'s `denyWhenMissing`).
    pub fn deny(&mut self, path: impl Into<String>, message: impl Into<String>) {
        self.push(Severity::Error, path.into(), message.into());
    }

    fn push(&mut self, severity: Severity, path: String, message: String) {
        self.findings.push(Finding {
            rule: self.meta.id,
            category: self.meta.category,
            severity,
            path,
            message,
        });
    }
}
