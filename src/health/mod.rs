//! What the process reports about itself: readiness flags and Prometheus metrics, shared by
//! the server (which serves them) and the cluster caches (which set them), so neither
//! adapter imports the other.

pub mod metrics;

use std::sync::atomic::{AtomicBool, Ordering};

pub use metrics::Metrics;

/// Readiness: cluster caches synced and not shutting down. The certificate and the policy
/// need no flag: the server is only started once both are loaded.
#[derive(Debug, Default)]
pub struct Readiness {
    /// Cluster caches synced (set at once when running without a cluster).
    pub cluster: AtomicBool,
    /// SIGTERM received: not ready any more.
    pub shutting_down: AtomicBool,
}

impl Readiness {
    /// Whether `/readyz` answers 200.
    pub fn is_ready(&self) -> bool {
        self.cluster.load(Ordering::Relaxed) && !self.shutting_down.load(Ordering::Relaxed)
    }
}
