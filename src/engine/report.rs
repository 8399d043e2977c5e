//! Findings and the report an evaluation produces.

use serde::Serialize;

use super::{Category, Severity};

/// One violation: which rule, how bad, where, and why.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Finding {
    /// Rule id.
    pub rule: &'static str,
    /// Rule category.
    pub category: Category,
    /// Effective severity (after policy overrides).
    pub severity: Severity,
    /// Dotted field path in the object, e.g. `spec.template.spec.containers[1].image`.
    pub path: String,
    /// Human-readable explanation.
    pub message: String,
}

/// Where an exemption that was used came from (for logs and metrics).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum ExemptionSource {
    /// A `BulwarkException` object.
    Exception,
    /// A `workloads` entry of the policy.
    Workload,
    /// An `images` entry of the policy.
    Image,
}

/// An exemption that suppressed at least one finding.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ExemptionUse {
    /// The rule whose finding was suppressed.
    pub rule: &'static str,
    /// Where the exemption came from.
    pub source: ExemptionSource,
}

/// A finding an exemption lifted, kept with the exemption's reason so that the auditor can
/// report the object as skipped and say why (admission only counts them).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Exempted {
    /// The finding that would otherwise stand.
    pub finding: Finding,
    /// Where the exemption came from.
    pub source: ExemptionSource,
    /// Which exemption, and why: a BulwarkException's name and `spec.reason`, or the
    /// policy entry that matched.
    pub reason: String,
}

/// The result of evaluating one object.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Report {
    /// Findings that stand, in rule catalogue order.
    pub findings: Vec<Finding>,
    /// Exemptions that suppressed findings.
    pub exemptions: Vec<ExemptionUse>,
    /// The suppressed findings themselves, in rule catalogue order.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub exempted: Vec<Exempted>,
}

impl Report {
    /// Whether any finding has `error` severity.
    pub fn has_errors(&self) -> bool {
        self.findings.iter().any(|f| f.severity == Severity::Error)
    }

    /// Findings of the given severity.
    pub fn with_severity(&self, s: Severity) -> impl Iterator<Item = &Finding> {
        self.findings.iter().filter(move |f| f.severity == s)
    }
}
