//! Audit results as the policy working group's reports: a `wgpolicyk8s.io/v1alpha2`
//! PolicyReport per namespace and one ClusterPolicyReport for cluster-scoped objects, in the
//! shape Kyverno writes, so tools that read Kyverno's reports (Policy Reporter and its UI)
//! show bulwark's beside them.
//!
//! Pure: building a report does no IO. Each report carries a hash of its content without
//! timestamps (`bulwark.dev/content-hash`), so the writer can tell, even after a restart or a
//! change of leader, whether the object on the cluster already says the same.

use std::collections::BTreeMap;

use serde::Serialize;
use serde_json::Value;

use super::evaluate::{AuditFinding, CLUSTER_SCOPE, ScopeAudit, Verdict};
use crate::engine::Severity;

/// The reports' API group and version.
pub const API_VERSION: &str = "wgpolicyk8s.io/v1alpha2";
/// The name of every report bulwark writes (one per namespace, one cluster-wide).
pub const REPORT_NAME: &str = "bulwark";
/// `policy` and `source` of every result.
pub const POLICY: &str = "bulwark";
/// The label that marks bulwark's reports, so the writer lists only its own.
pub const MANAGED_BY: (&str, &str) = ("app.kubernetes.io/managed-by", "bulwark");
/// The annotation holding the content hash (timestamps excluded).
pub const HASH_ANNOTATION: &str = "bulwark.dev/content-hash";
/// The annotation saying how many results a capped report left out.
pub const OMITTED_ANNOTATION: &str = "bulwark.dev/results-omitted";

/// Where a report lives: a namespace, or the cluster (the ClusterPolicyReport).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum ReportKey {
    /// The ClusterPolicyReport.
    Cluster,
    /// The PolicyReport in this namespace.
    Namespace(String),
}

impl ReportKey {
    /// The key of a scope of [`super::evaluate::AuditResults`].
    pub fn of_scope(scope: &str) -> ReportKey {
        if scope == CLUSTER_SCOPE {
            ReportKey::Cluster
        } else {
            ReportKey::Namespace(scope.to_owned())
        }
    }

    /// The report's kind.
    pub fn kind(&self) -> &'static str {
        match self {
            ReportKey::Cluster => "ClusterPolicyReport",
            ReportKey::Namespace(_) => "PolicyReport",
        }
    }
}

/// PolicyReport `summary`: counts of every result, including those a cap left out.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct Summary {
    /// Requirements met (bulwark lists findings only, so always 0).
    pub pass: usize,
    /// Results `fail`.
    pub fail: usize,
    /// Results `warn`.
    pub warn: usize,
    /// Evaluation errors (none: an object that cannot be read is not evaluated).
    pub error: usize,
    /// Results `skip` (exempted).
    pub skip: usize,
}

/// A built report: the object to apply, as JSON text, and its content hash.
#[derive(Debug, Clone)]
pub struct BuiltReport {
    /// Where it goes.
    pub key: ReportKey,
    /// The full object, ready for server-side apply.
    pub json: Box<serde_json::value::RawValue>,
    /// Hash of the content without timestamps.
    pub hash: String,
    /// The summary (all results counted).
    pub summary: Summary,
}

impl BuiltReport {
    /// The object as a tree (tests, debugging; the writer sends the text).
    pub fn to_value(&self) -> Value {
        serde_json::from_str(self.json.get()).unwrap_or(Value::Null)
    }
}

/// The working group's severities: bulwark's `error` (denies in enforce) is `high`, its
/// `warning` is `medium`.
pub fn severity(s: Severity) -> &'static str {
    match s {
        Severity::Error => "high",
        Severity::Warning => "medium",
    }
}

// The report as typed, borrowed structs: serialized straight to text, twice (without and
// with timestamps), which costs far less than building a `Value` tree per result.

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct ReportOut<'a> {
    api_version: &'static str,
    kind: &'static str,
    metadata: MetaOut<'a>,
    summary: Summary,
    results: Vec<ResultOut<'a>>,
}

#[derive(Serialize)]
struct MetaOut<'a> {
    name: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    namespace: Option<&'a str>,
    labels: BTreeMap<&'static str, &'static str>,
    annotations: BTreeMap<&'static str, String>,
}

#[derive(Serialize)]
struct ResultOut<'a> {
    policy: &'static str,
    rule: &'static str,
    category: &'static str,
    severity: &'static str,
    result: &'static str,
    scored: bool,
    source: &'static str,
    message: String,
    resources: [ResourceOut<'a>; 1],
    properties: PropertiesOut<'a>,
    #[serde(skip_serializing_if = "Option::is_none")]
    timestamp: Option<TimestampOut>,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct ResourceOut<'a> {
    api_version: &'static str,
    kind: &'static str,
    name: &'a str,
    #[serde(skip_serializing_if = "str::is_empty")]
    namespace: &'a str,
    #[serde(skip_serializing_if = "str::is_empty")]
    uid: &'a str,
}

#[derive(Serialize)]
struct PropertiesOut<'a> {
    path: &'a str,
    mode: &'static str,
    severity: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    exemption: Option<&'a str>,
}

#[derive(Serialize, Clone, Copy)]
struct TimestampOut {
    seconds: i64,
    nanos: i32,
}

fn result(f: &AuditFinding) -> ResultOut<'_> {
    let s = &f.subject;
    let message = match &f.exemption {
        Some(reason) => format!("{} ({}); exempted by {reason}", f.message, f.path),
        None => format!("{} ({})", f.message, f.path),
    };
    ResultOut {
        policy: POLICY,
        rule: f.rule,
        category: f.category.as_str(),
        severity: severity(f.severity),
        result: f.verdict.as_str(),
        scored: true,
        source: POLICY,
        message,
        resources: [ResourceOut {
            api_version: s.api_version,
            kind: s.kind,
            name: &s.name,
            namespace: &s.namespace,
            uid: &s.uid,
        }],
        properties: PropertiesOut {
            path: &f.path,
            mode: f.mode.as_str(),
            severity: f.severity.as_str(),
            exemption: f.exemption.as_deref(),
        },
        timestamp: None,
    }
}

/// Builds the report for one scope, or `None` when it has no result (no report object is
/// kept for a clean namespace). At most `max_results` results are listed, in the scope's
/// order (failures first); the summary counts them all. `now` is Unix seconds, stamped on
/// every result and excluded from the hash.
pub fn build(
    key: ReportKey,
    audit: &ScopeAudit,
    max_results: usize,
    now: i64,
) -> Option<BuiltReport> {
    if audit.findings.is_empty() {
        return None;
    }
    let summary = Summary {
        pass: 0,
        fail: audit.count(Verdict::Fail),
        warn: audit.count(Verdict::Warn),
        error: 0,
        skip: audit.count(Verdict::Skip),
    };
    let results: Vec<ResultOut<'_>> = audit
        .findings
        .iter()
        .take(max_results)
        .map(result)
        .collect();
    let omitted = audit.findings.len() - results.len();
    let mut annotations = BTreeMap::new();
    if omitted > 0 {
        annotations.insert(OMITTED_ANNOTATION, omitted.to_string());
    }
    let mut report = ReportOut {
        api_version: API_VERSION,
        kind: key.kind(),
        metadata: MetaOut {
            name: REPORT_NAME,
            namespace: match &key {
                ReportKey::Cluster => None,
                ReportKey::Namespace(ns) => Some(ns),
            },
            labels: BTreeMap::from([MANAGED_BY]),
            annotations,
        },
        summary,
        results,
    };
    // Structs serialize in a fixed field order, so the same content gives the same text.
    let hash = fnv(serde_json::to_string(&report).ok()?.as_bytes());
    report
        .metadata
        .annotations
        .insert(HASH_ANNOTATION, hash.clone());
    let stamp = Some(TimestampOut {
        seconds: now,
        nanos: 0,
    });
    for r in &mut report.results {
        r.timestamp = stamp;
    }
    let json = serde_json::value::to_raw_value(&report).ok()?;
    Some(BuiltReport {
        key,
        json,
        hash,
        summary,
    })
}

/// FNV-1a (64 bits) of `bytes`, as 16 hex digits: stable across builds and Rust versions
/// (std's hasher promises neither), and plenty to detect a change; nothing relies on it
/// against an adversary (bulwark alone writes these reports).
fn fnv(bytes: &[u8]) -> String {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for &b in bytes {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x0100_0000_01b3);
    }
    format!("{h:016x}")
}
