//! Audit results as the policy working group's reports: a `wgpolicyk8s.io/v1alpha2`
//! PolicyReport per namespace and one ClusterPolicyReport for cluster-scoped objects, in the
//! shape Kyverno writes, so tools that read Kyverno's reports (Policy Reporter and its UI)
//! show bulwark's beside them.
//!
//! Pure: building a report does no IO. Each report carries a hash of its content without
//! timestamps (`bulwark.dev/content-hash`), so the writer can tell, even after a restart or a
//! change of leader, whether the object on the cluster already says the same.

use serde::Serialize;
use serde_json::{Value, json};

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

/// A built report: the object to apply and its content hash.
#[derive(Debug, Clone, PartialEq)]
pub struct BuiltReport {
    /// Where it goes.
    pub key: ReportKey,
    /// The full object, ready for server-side apply.
    pub object: Value,
    /// Hash of the content without timestamps.
    pub hash: String,
    /// The summary (all results counted).
    pub summary: Summary,
}

/// The working group's severities: bulwark's `error` (denies in enforce) is `high`, its
/// `warning` is `medium`.
pub fn severity(s: Severity) -> &'static str {
    match s {
        Severity::Error => "high",
        Severity::Warning => "medium",
    }
}

/// One result, without its timestamp (added by [`build`], after hashing).
fn result(f: &AuditFinding) -> Value {
    let s = &f.subject;
    let mut resource = json!({
        "apiVersion": s.api_version,
        "kind": s.kind,
        "name": s.name,
    });
    if !s.namespace.is_empty() {
        resource["namespace"] = json!(s.namespace);
    }
    if !s.uid.is_empty() {
        resource["uid"] = json!(s.uid);
    }
    let mut properties = json!({
        "path": f.path,
        "mode": f.mode.as_str(),
        "severity": f.severity.as_str(),
    });
    let message = match &f.exemption {
        Some(reason) => {
            properties["exemption"] = json!(reason);
            format!("{} ({}); exempted by {reason}", f.message, f.path)
        }
        None => format!("{} ({})", f.message, f.path),
    };
    json!({
        "policy": POLICY,
        "rule": f.rule,
        "category": f.category.as_str(),
        "severity": severity(f.severity),
        "result": f.verdict.as_str(),
        "scored": true,
        "source": POLICY,
        "message": message,
        "resources": [resource],
        "properties": properties,
    })
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
    let mut results: Vec<Value> = audit
        .findings
        .iter()
        .take(max_results)
        .map(result)
        .collect();
    let omitted = audit.findings.len() - results.len();
    let mut annotations = serde_json::Map::new();
    if omitted > 0 {
        annotations.insert(OMITTED_ANNOTATION.into(), json!(omitted.to_string()));
    }
    let mut metadata = json!({
        "name": REPORT_NAME,
        "labels": {MANAGED_BY.0: MANAGED_BY.1},
    });
    if let ReportKey::Namespace(ns) = &key {
        metadata["namespace"] = json!(ns);
    }
    let mut object = json!({
        "apiVersion": API_VERSION,
        "kind": key.kind(),
        "metadata": metadata,
        "summary": summary,
        "results": results,
    });
    object["metadata"]["annotations"] = Value::Object(annotations.clone());
    let hash = content_hash(&object);
    annotations.insert(HASH_ANNOTATION.into(), json!(hash));
    object["metadata"]["annotations"] = Value::Object(annotations);
    for r in &mut results {
        r["timestamp"] = json!({"seconds": now, "nanos": 0});
    }
    object["results"] = Value::Array(results);
    Some(BuiltReport {
        key,
        object,
        hash,
        summary,
    })
}

/// FNV-1a (64 bits) of the canonical JSON, as 16 hex digits: stable across builds and Rust
/// versions (std's hasher promises neither), and plenty to detect a change; nothing relies
/// on it against an adversary (bulwark alone writes these reports).
pub fn content_hash(v: &Value) -> String {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in v.to_string().bytes() {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x0100_0000_01b3);
    }
    format!("{h:016x}")
}
