//! The auditor: what that already runs in the cluster would bulwark deny? Existing objects
//! are judged with the same engine, policy, modes and exemptions as admission, and the
//! results land in wgpolicyk8s.io PolicyReports, metrics and a shared in-memory state.
//!
//! # Layout
//! - [`evaluate`]: one pass, pure: objects + a [`crate::admission::Cluster`] -> results by
//!   scope, judged through admission's own mode, opt-in and exemption functions.
//! - [`snapshot`]: objects and their surroundings as plain data, indexed by namespace; the
//!   input of a pass (server, `check --cluster`, benchmark).
//! - [`report`]: results -> PolicyReport / ClusterPolicyReport objects, capped, hashed.
//! - [`state`]: the shared results (for metrics and a `/report` page).
//! - [`page`]: the shared results as the health port's `/report` HTML page.
//! - [`cache`]: pruned workload reflectors and change detection.
//! - [`writer`]: server-side apply of the reports, only when their content changed.
//! - [`lease`]: leader election on a coordination.k8s.io Lease: one writer among replicas.
//! - [`metrics`]: the `bulwark_audit_*` series.
//! - [`auditor`]: the loop of `bulwark serve` tying these together.
//!
//! Only [`cache`], [`writer`], [`lease`] and [`auditor`] do IO; a pass is synchronous.

pub mod auditor;
pub mod cache;
pub mod evaluate;
pub mod lease;
pub mod metrics;
pub mod page;
pub mod report;
pub mod snapshot;
pub mod state;
pub mod writer;

#[cfg(test)]
mod tests;

pub use crate::policy::AuditConfig;
pub use auditor::{AuditOptions, spawn};
pub use evaluate::{AuditFinding, AuditResults, Object, ScopeAudit, Subject, Verdict};
pub use metrics::AuditMetrics;
pub use snapshot::Snapshot;
pub use state::{AuditState, AuditView};

/// Why an auditor request to the API server failed.
#[derive(Debug, thiserror::Error)]
pub enum AuditError {
    /// The API server refused or could not be reached.
    #[error("Kubernetes API: {0}")]
    Kube(#[from] kube::Error),
}
