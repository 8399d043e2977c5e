//! Prometheus metrics. Every label value is a `&'static str` from a closed set (endpoint,
//! operation, kind, decision, rule id, mode), so recording allocates nothing and the series
//! count is bounded whatever the cluster sends.

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::Registry;

use crate::admission::Outcome;
use crate::workload::Kind;

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RequestLabels {
    endpoint: &'static str,
    operation: &'static str,
    kind: &'static str,
    decision: &'static str,
    dry_run: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct EndpointLabels {
    endpoint: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ErrorLabels {
    endpoint: &'static str,
    reason: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct FindingLabels {
    rule: &'static str,
    severity: &'static str,
    mode: &'static str,
    decision: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ExemptionLabels {
    rule: &'static str,
    source: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct WatchLabels {
    resource: &'static str,
}

/// Every metric bulwark exports.
pub struct Metrics {
    registry: Registry,
    requests: Family<RequestLabels, Counter>,
    duration: Family<EndpointLabels, Histogram>,
    errors: Family<ErrorLabels, Counter>,
    findings: Family<FindingLabels, Counter>,
    exemptions: Family<ExemptionLabels, Counter>,
    watch_errors: Family<WatchLabels, Counter>,
    /// Unix time the serving certificate expires.
    pub cert_expiry: Gauge,
    /// 1 when ready to serve.
    pub ready: Gauge,
    /// 1 when the cluster caches are synced (0 without a cluster).
    pub cluster_synced: Gauge,
}

fn duration_histogram() -> Histogram {
    // 50 µs .. ~3.3 s: the interesting range is well under the webhook timeout.
    Histogram::new(exponential_buckets(0.000_05, 2.0, 17))
}

impl Default for Metrics {
    fn default() -> Self {
        let mut registry = Registry::with_prefix("bulwark");
        let requests = Family::<RequestLabels, Counter>::default();
        let duration = Family::<EndpointLabels, Histogram>::new_with_constructor(
            duration_histogram as fn() -> Histogram,
        );
        let errors = Family::<ErrorLabels, Counter>::default();
        let findings = Family::<FindingLabels, Counter>::default();
        let exemptions = Family::<ExemptionLabels, Counter>::default();
        let watch_errors = Family::<WatchLabels, Counter>::default();
        let cert_expiry = Gauge::default();
        let ready = Gauge::default();
        let cluster_synced = Gauge::default();
        registry.register(
            "admission_requests",
            "AdmissionReview requests by endpoint, operation, kind, decision and dry-run",
            requests.clone(),
        );
        registry.register(
            "admission_duration_seconds",
            "Time to answer an AdmissionReview, body read to response",
            duration.clone(),
        );
        registry.register(
            "admission_errors",
            "Requests answered with an HTTP error (bad input, oversized, timeouts; panics, whose endpoint is \"unknown\")",
            errors.clone(),
        );
        registry.register(
            "findings",
            "Findings by rule, severity, the mode they were judged in, and the request's decision",
            findings.clone(),
        );
        registry.register(
            "exemptions_used",
            "Findings suppressed by an exemption, by rule and exemption source",
            exemptions.clone(),
        );
        registry.register(
            "watch_errors",
            "Errors of the cluster watches (they reconnect with backoff)",
            watch_errors.clone(),
        );
        registry.register(
            "certificate_expiry_timestamp_seconds",
            "Unix time when the serving certificate expires",
            cert_expiry.clone(),
        );
        registry.register(
            "ready",
            "1 when the webhook is ready to serve",
            ready.clone(),
        );
        registry.register(
            "cluster_cache_synced",
            "1 when the Namespace/PDB/HPA caches are synced",
            cluster_synced.clone(),
        );
        Metrics {
            registry,
            requests,
            duration,
            errors,
            findings,
            exemptions,
            watch_errors,
            cert_expiry,
            ready,
            cluster_synced,
        }
    }
}

fn static_kind(kind: &str) -> &'static str {
    match Kind::parse(kind) {
        Kind::Other => "other",
        k => k.as_str(),
    }
}

fn static_operation(op: &str) -> &'static str {
    match op {
        "CREATE" => "CREATE",
        "UPDATE" => "UPDATE",
        "DELETE" => "DELETE",
        "CONNECT" => "CONNECT",
        _ => "other",
    }
}

impl Metrics {
    /// Records one answered review.
    pub fn record(&self, endpoint: &'static str, outcome: &Outcome, seconds: f64) {
        self.requests
            .get_or_create(&RequestLabels {
                endpoint,
                operation: static_operation(&outcome.operation),
                kind: static_kind(&outcome.kind),
                decision: outcome.decision.as_str(),
                dry_run: if outcome.dry_run { "true" } else { "false" },
            })
            .inc();
        self.observe(endpoint, seconds);
        for (f, mode) in &outcome.findings {
            self.findings
                .get_or_create(&FindingLabels {
                    rule: f.rule,
                    severity: f.severity.as_str(),
                    mode: mode.as_str(),
                    decision: outcome.decision.as_str(),
                })
                .inc();
        }
        for e in &outcome.exemptions {
            self.exemptions
                .get_or_create(&ExemptionLabels {
                    rule: e.rule,
                    source: match e.source {
                        crate::engine::report::ExemptionSource::Exception => "exception",
                        crate::engine::report::ExemptionSource::Workload => "workload",
                        crate::engine::report::ExemptionSource::Image => "image",
                    },
                })
                .inc();
        }
    }

    /// Records latency alone (for error answers).
    pub fn observe(&self, endpoint: &'static str, seconds: f64) {
        self.duration
            .get_or_create(&EndpointLabels { endpoint })
            .observe(seconds);
    }

    /// Counts an HTTP-level error.
    pub fn error(&self, endpoint: &'static str, reason: &'static str) {
        self.errors
            .get_or_create(&ErrorLabels { endpoint, reason })
            .inc();
    }

    /// Counts a watch error for `resource`.
    pub fn watch_error(&self, resource: &'static str) {
        self.watch_errors
            .get_or_create(&WatchLabels { resource })
            .inc();
    }

    /// The registry, for other parts to register their metrics in (the auditor's) before
    /// the server shares these metrics.
    pub fn registry_mut(&mut self) -> &mut Registry {
        &mut self.registry
    }

    /// The Prometheus text exposition.
    pub fn encode(&self) -> String {
        let mut out = String::new();
        if prometheus_client::encoding::text::encode(&mut out, &self.registry).is_err() {
            out.clear();
        }
        out
    }
}
