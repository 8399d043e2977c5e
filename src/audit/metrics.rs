//! The auditor's Prometheus metrics, registered under `bulwark_audit_` in the server's
//! registry. Findings are gauges set from the whole state after each pass (the count of what
//! stands now, not of events), published by the leader only so that summing over replicas
//! counts each finding once. Namespaces are a label only up to a cap, the rest summed as
//! `namespace="_other"`, so a cluster with thousands of namespaces cannot blow up the series.

use std::collections::BTreeMap;
use std::sync::atomic::AtomicU64;

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::registry::Registry;

use super::evaluate::{CLUSTER_SCOPE, Verdict};
use super::state::AuditView;

/// Most namespaces given a series of their own in `bulwark_audit_namespace_findings`.
pub const NAMESPACE_SERIES: usize = 50;
/// The namespace label of the rest. Kubernetes names cannot hold `_`, so no real namespace
/// can share this series.
pub const OTHER: &str = "_other";

#[derive(Clone, Debug, Hash, PartialEq, Eq, PartialOrd, Ord, EncodeLabelSet)]
struct FindingLabels {
    rule: &'static str,
    severity: &'static str,
    result: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct NamespaceLabels {
    namespace: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct WriteLabels {
    operation: &'static str,
}

/// Handles on the auditor's metrics (cheap to clone: they share the registered series).
#[derive(Clone, Debug, Default)]
pub struct AuditMetrics {
    findings: Family<FindingLabels, Gauge>,
    namespace_findings: Family<NamespaceLabels, Gauge>,
    objects: Gauge,
    pass_duration: Gauge<f64, AtomicU64>,
    pass_timestamp: Gauge,
    writes: Family<WriteLabels, Counter>,
    write_errors: Family<WriteLabels, Counter>,
    leader: Gauge,
}

impl AuditMetrics {
    /// Registers the metrics in `registry` (under the prefix `audit`).
    pub fn register(registry: &mut Registry) -> AuditMetrics {
        let m = AuditMetrics::default();
        let r = registry.sub_registry_with_prefix("audit");
        r.register(
            "findings",
            "Results about existing objects by rule, severity and result (fail, warn, skip), as of the last pass; leader only",
            m.findings.clone(),
        );
        r.register(
            "namespace_findings",
            "fail and warn results about existing objects by namespace (the largest 50; the rest as namespace=\"_other\", cluster-scoped objects as namespace=\"\"); leader only",
            m.namespace_findings.clone(),
        );
        r.register(
            "objects",
            "Existing objects judged in the last pass state (off and exempt namespaces excluded)",
            m.objects.clone(),
        );
        r.register(
            "last_full_pass_duration_seconds",
            "How long the last full pass over every cached object took",
            m.pass_duration.clone(),
        );
        r.register(
            "last_full_pass_timestamp_seconds",
            "Unix time the last full pass finished",
            m.pass_timestamp.clone(),
        );
        r.register(
            "report_writes",
            "PolicyReport/ClusterPolicyReport writes sent (apply or delete)",
            m.writes.clone(),
        );
        r.register(
            "report_write_errors",
            "PolicyReport/ClusterPolicyReport writes that failed (retried on the next pass)",
            m.write_errors.clone(),
        );
        r.register(
            "leader",
            "1 while this replica holds the audit Lease and writes the reports",
            m.leader.clone(),
        );
        m
    }

    /// Publishes the findings of `view` (the leader), or clears them (a follower).
    pub fn publish(&self, view: &AuditView, leader: bool) {
        self.leader.set(i64::from(leader));
        self.findings.clear();
        self.namespace_findings.clear();
        if !leader {
            self.objects.set(0);
            return;
        }
        let mut objects = 0;
        let mut per_namespace: Vec<(&str, i64)> = Vec::new();
        let mut by_rule: BTreeMap<FindingLabels, i64> = BTreeMap::new();
        for (scope, audit) in &view.scopes {
            objects += audit.objects;
            for f in &audit.findings {
                *by_rule
                    .entry(FindingLabels {
                        rule: f.rule,
                        severity: f.severity.as_str(),
                        result: f.verdict.as_str(),
                    })
                    .or_default() += 1;
            }
            let standing = audit.count(Verdict::Fail) + audit.count(Verdict::Warn);
            if standing > 0 {
                per_namespace.push((scope.as_str(), standing as i64));
            }
        }
        for (labels, n) in by_rule {
            self.findings.get_or_create(&labels).set(n);
        }
        // Largest first, ties by name, so the same state gives the same series.
        per_namespace.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(b.0)));
        let mut other = 0;
        for (i, (ns, n)) in per_namespace.into_iter().enumerate() {
            if i < NAMESPACE_SERIES || ns == CLUSTER_SCOPE {
                self.namespace_findings
                    .get_or_create(&NamespaceLabels {
                        namespace: ns.to_owned(),
                    })
                    .set(n);
            } else {
                other += n;
            }
        }
        if other > 0 {
            self.namespace_findings
                .get_or_create(&NamespaceLabels {
                    namespace: OTHER.into(),
                })
                .set(other);
        }
        self.objects.set(objects as i64);
    }

    /// Records a finished full pass.
    pub fn full_pass(&self, seconds: f64, finished_unix: i64) {
        self.pass_duration.set(seconds);
        self.pass_timestamp.set(finished_unix);
    }

    /// Counts a report write (`apply` or `delete`) and whether it failed.
    pub fn write(&self, operation: &'static str, ok: bool) {
        let labels = WriteLabels { operation };
        self.writes.get_or_create(&labels).inc();
        if !ok {
            self.write_errors.get_or_create(&labels).inc();
        }
    }
}
