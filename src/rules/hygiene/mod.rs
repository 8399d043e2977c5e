//! Hygiene rules: resources, image pinning, identities, secrets, labels, namespace labels and
//! quotas.

pub mod image_tag;
pub mod labels;
pub mod namespace_pod_security;
pub mod namespace_quota;
pub mod resources;
pub mod secret_env;
pub mod service_account;
