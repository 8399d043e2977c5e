//! bulwark: a Kubernetes admission webhook that enforces, and fills in, a production baseline.
//!
//! # Layout
//! Bottom up; a module uses only the modules on its line and above it (`src/layers.rs` holds
//! the list and a test that checks every `crate::` path against it).
//! - [`workload`]: any workload kind -> a typed view of the fields rules read (cheap to parse).
//! - [`policy`]: the policy's vocabulary and file format (severities, modes, scope, exemptions,
//!   admission and mutation settings); knows no rule.
//! - [`engine`]: the `Rule` trait, typed rule parameters, the compiled `Policy` (settings per
//!   rule of a catalogue it is given), `evaluate(workload, context, policy) -> Report`; pure,
//!   synchronous, no IO.
//! - [`rules`]: the catalogue: one file per rule, each with its metadata, parameters and tests.
//! - [`config`]: the policy bound to the built-in catalogue: `Policy::default()`, the embedded
//!   default policy, `--config` files.
//! - [`mutate`]: the baseline's defaults as RFC 6902 JSON patches.
//! - adapters, above all of those:
//!   - [`policy_source`]: the policy file plus command-line overrides, the live policy
//!     handle, and its reload while serving.
//!   - [`admission`]: AdmissionReview in, verdict out: modes, guards, warnings (no HTTP types).
//!   - [`offline`]: `bulwark check` / `bulwark mutate` on manifest files.
//!   - [`cluster`]: reflector caches (Namespaces, PDBs, HPAs, NetworkPolicies, quotas...)
//!     feeding the cluster-aware rules.
//!   - [`health`]: readiness flags and Prometheus metrics, set by the cluster caches and the
//!     server alike.
//!   - [`server`]: the HTTPS webhook: TLS accept loop and reload, handlers, the health
//!     listener.
//!   - [`certs`]: rcgen-made CA and serving certificates.
//!   - [`clock`]: today's date, read by the adapters and passed to the engine.

pub mod admission;
pub mod audit;
pub mod certs;
pub mod clock;
pub mod cluster;
pub mod config;
pub mod engine;
pub mod health;
#[cfg(test)]
mod layers;
pub mod mutate;
pub mod offline;
pub mod policy;
pub mod policy_source;
pub mod rules;
pub mod server;
pub mod workload;
