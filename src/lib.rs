//! bulwark: a Kubernetes admission webhook that enforces, and fills in, a production baseline.
//!
//! # Layout
//! - [`workload`]: any workload kind -> a typed view of the fields rules read (cheap to parse).
//! - [`config`]: the policy (rules, severities, modes, parameters, exemptions) with embedded defaults.
//! - [`engine`]: `evaluate(workload, context, policy) -> Report`; pure, synchronous, no IO.
//! - [`rules`]: one file per rule, each with its metadata and tests.
//! - [`mutate`]: the baseline's defaults as RFC 6902 JSON patches.
//! - [`offline`]: `bulwark check` / `bulwark mutate` on manifest files.
//! - [`admission`]: AdmissionReview in, verdict out: modes, guards, warnings (no HTTP types).
//! - [`cluster`]: Namespace/PDB/HPA reflector caches feeding the cluster-aware rules.
//! - [`audit`]: existing objects judged as admission would, into PolicyReports and metrics.
//! - [`health`]: readiness flags and Prometheus metrics, set by the cluster caches and the
//!   server alike.
//! - [`server`]: the HTTPS webhook: TLS accept loop and reload, handlers, the health listener.
//! - [`certs`]: rcgen-made CA and serving certificates.
//! - [`clock`]: today's date, read by the adapters and passed to the engine.

pub mod admission;
pub mod audit;
pub mod certs;
pub mod clock;
pub mod cluster;
pub mod config;
pub mod engine;
pub mod health;
pub mod mutate;
pub mod offline;
pub mod rules;
pub mod server;
pub mod workload;
