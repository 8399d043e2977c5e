//! bulwark: a Kubernetes admission webhook that enforces, and fills in, a production baseline.
//!
//! # Layout
//! - [`workload`]: any workload kind -> a typed view of the fields rules read (cheap to parse).
//! - [`config`]: the policy (rules, severities, modes, parameters, exemptions) with embedded defaults.
//! - [`engine`]: `evaluate(workload, context, policy) -> Report`; pure, synchronous, no IO.
//! - [`rules`]: one file per rule, each with its metadata and tests.
//! - [`mutate`]: the baseline's defaults as RFC 6902 JSON patches.
//! - [`offline`]: `bulwark check` / `bulwark mutate` on manifest files.

pub mod config;
pub mod engine;
pub mod mutate;
pub mod offline;
pub mod rules;
pub mod workload;
