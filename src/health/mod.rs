//! What the process reports about itself: readiness flags and Prometheus metrics, shared by
//! the server (which serves them) and the cluster caches (which set them), so neither
//! adapter imports the other.

pub mod metrics;

use std::sync::atomic::{AtomicBool, Ordering};

pub use metrics::Metrics;

/// Readiness: certificates and policy loaded, cluster caches synced, not shutting down.
#[derive(Debug, Default)]
pub struct Readiness {
    /// Serving certificate loaded.
    pub certs: AtomicBool,
    /// Policy loaded.
    pub policy: AtomicBool,
    /// Cluster caches synced (set at once when running without a cluster).
    pub cluster: AtomicBool,
    /// SIGTERM received: not ready any more.
    pub shutting_down: AtomicBool,
}

impl Readiness {
    /// Whether `/readyz` answers 200.
    pub fn is_ready(&self) -> bool {
        self.certs.load(Ordering::Relaxed)
            && self.policy.load(Ordering::Relaxed)
            && self.cluster.load(Ordering::Relaxed)
            && !self.shutting_down.load(Ordering::Relaxed)
    }
}
