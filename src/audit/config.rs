//! The policy's `audit:` section: whether `bulwark serve` audits existing objects, how often
//! it makes a full pass, and how many results one report may list.

use serde::{Deserialize, Serialize};

/// `audit:` in the policy file.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize)]
#[serde(default, deny_unknown_fields, rename_all = "camelCase")]
pub struct AuditConfig {
    /// Whether `bulwark serve` runs the auditor (it also needs a cluster; `--no-audit`
    /// turns it off whatever this says).
    pub enabled: bool,
    /// Seconds between full passes. Changes are judged as they happen; the full pass
    /// catches what no watch event announces (a date passing an exception's expiry).
    pub interval_seconds: u64,
    /// Most results one report lists (failures first); its summary still counts them all.
    /// Keeps a report far below the API server's object size limit.
    pub max_results_per_report: usize,
}

impl Default for AuditConfig {
    fn default() -> Self {
        AuditConfig {
            enabled: true,
            interval_seconds: 600,
            max_results_per_report: 1000,
        }
    }
}

impl AuditConfig {
    /// What is wrong with the values, as (key under `audit.`, reason).
    pub fn problem(&self) -> Option<(&'static str, &'static str)> {
        if self.interval_seconds < 10 {
            Some((
                "intervalSeconds",
                "must be at least 10: a full pass re-reads every cached object",
            ))
        } else if self.max_results_per_report == 0 || self.max_results_per_report > 5000 {
            Some((
                "maxResultsPerReport",
                "must be 1 to 5000: a report is one object, and the API server refuses objects over ~1.5 MiB",
            ))
        } else {
            None
        }
    }
}
