//! Availability rules: replicas, probes, rollouts, spreading, disruption budgets, shutdown.

pub mod autoscaler;
pub mod disruption_budget;
pub mod graceful_shutdown;
pub mod liveness_probe;
pub mod pod_spread;
pub mod readiness_probe;
pub mod replicas;
pub mod rolling_update;
pub mod startup_probe;
