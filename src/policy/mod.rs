//! The policy's vocabulary and file format, with no knowledge of any rule: severities,
//! categories, Pod Security levels, modes and scope, exemptions, the admission and mutation
//! sections, and the policy file as written.
//!
//! This is the bottom of the policy stack. The engine compiles a [`PolicyFile`] against a
//! rule catalogue into a [`Policy`](crate::engine::Policy); `config` does so against the
//! built-in catalogue. Nothing here imports from those layers (see `src/layers.rs`).

pub mod admission;
pub mod exemptions;
pub mod file;
pub mod mutation;
pub mod quantity;

pub use admission::{AdmissionConfig, ControllerIdentity, SYSTEM_NAMESPACES};
pub use exemptions::{Exemptions, ImageExemption, WorkloadExemption, glob};
pub use file::{ConfigError, PolicyFile, RuleFile};
pub use mutation::MutationConfig;

use serde::{Deserialize, Serialize};

/// Rule category.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Category {
    /// Pod Security Standards and container hardening.
    Security,
    /// Keeping a service up through failures, rollouts and node drains.
    Availability,
    /// Operability: resources, images, identities, secrets, labels.
    Hygiene,
}

impl Category {
    /// Lowercase name.
    pub fn as_str(self) -> &'static str {
        match self {
            Category::Security => "security",
            Category::Availability => "availability",
            Category::Hygiene => "hygiene",
        }
    }
}

/// Finding severity. Only `error` findings deny in enforce mode.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize, Hash)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    /// Reported, never denies.
    Warning,
    /// Denies in enforce mode.
    Error,
}

impl Severity {
    /// Lowercase name.
    pub fn as_str(self) -> &'static str {
        match self {
            Severity::Warning => "warning",
            Severity::Error => "error",
        }
    }
}

/// Pod Security Standards level. Ordered: `Baseline < Restricted`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum PssLevel {
    /// PSS baseline.
    Baseline,
    /// PSS restricted (includes baseline).
    Restricted,
}

impl PssLevel {
    /// Lowercase name.
    pub fn as_str(self) -> &'static str {
        match self {
            PssLevel::Baseline => "baseline",
            PssLevel::Restricted => "restricted",
        }
    }
}

/// What happens to findings.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Hash, PartialOrd, Ord)]
#[serde(rename_all = "lowercase")]
pub enum Mode {
    /// Not evaluated at all.
    Off,
    /// Evaluated exactly as in enforce, but always admitted: findings become warnings,
    /// audit annotations, logs and metrics.
    Audit,
    /// Error findings deny.
    Enforce,
}

impl Mode {
    /// Lowercase name.
    pub fn as_str(self) -> &'static str {
        match self {
            Mode::Off => "off",
            Mode::Audit => "audit",
            Mode::Enforce => "enforce",
        }
    }

    /// Parses a lowercase mode name.
    pub fn parse(s: &str) -> Option<Mode> {
        match s {
            "off" => Some(Mode::Off),
            "audit" => Some(Mode::Audit),
            "enforce" => Some(Mode::Enforce),
            _ => None,
        }
    }
}

/// Which namespaces the webhook evaluates.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "kebab-case")]
pub enum Scope {
    /// Every namespace except the always-exempt ones.
    #[default]
    Cluster,
    /// Only namespaces labelled `bulwark.dev/mode` (see the README).
    OptIn,
}

/// A rule's effective settings after the policy file is applied.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct EffectiveRule {
    /// Whether it runs.
    pub enabled: bool,
    /// Severity of its findings.
    pub severity: Severity,
    /// Mode override for this rule (`None`: the namespace/cluster mode).
    pub mode: Option<Mode>,
}
