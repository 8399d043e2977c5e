//! The auditor's results in memory, shared: the auditor writes them after each pass, and
//! readers (metrics, a `/report` page) take a consistent view without waiting on a pass.

use std::collections::BTreeSet;
use std::sync::{Arc, RwLock};
use std::time::Duration;

use super::evaluate::{AuditResults, ScopeAudit};

/// Which scopes (namespaces, or [`super::evaluate::CLUSTER_SCOPE`]) need judging again.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Scopes {
    /// Everything: a full pass.
    All,
    /// These scopes only.
    Some(BTreeSet<String>),
}

impl Default for Scopes {
    fn default() -> Self {
        Scopes::Some(BTreeSet::new())
    }
}

impl Scopes {
    /// Whether nothing is to be judged.
    pub fn is_empty(&self) -> bool {
        matches!(self, Scopes::Some(s) if s.is_empty())
    }

    /// Whether `scope` is to be judged.
    pub fn contains(&self, scope: &str) -> bool {
        match self {
            Scopes::All => true,
            Scopes::Some(s) => s.contains(scope),
        }
    }

    /// Adds `scope`.
    pub fn insert(&mut self, scope: &str) {
        if let Scopes::Some(s) = self
            && !s.contains(scope)
        {
            s.insert(scope.to_owned());
        }
    }

    /// Adds everything in `other`.
    pub fn merge(&mut self, other: Scopes) {
        match other {
            Scopes::All => *self = Scopes::All,
            Scopes::Some(o) => {
                if let Scopes::Some(s) = self {
                    s.extend(o);
                }
            }
        }
    }
}

/// When the last full pass ran and what it cost.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FullPass {
    /// When it finished, Unix seconds.
    pub finished: i64,
    /// How long it took (snapshot and evaluation).
    pub duration: Duration,
    /// Objects judged.
    pub objects: usize,
}

/// A consistent view of the audit.
#[derive(Debug, Clone, Default)]
pub struct AuditView {
    /// Results by scope; scopes without results are absent.
    pub scopes: std::collections::BTreeMap<String, Arc<ScopeAudit>>,
    /// The last full pass, once one has run.
    pub last_full_pass: Option<FullPass>,
    /// Whether this replica writes the reports (holds the Lease).
    pub leader: bool,
    /// Bumped on every change of `scopes`: a reader can tell whether anything moved.
    pub generation: u64,
}

/// The shared audit state.
#[derive(Debug, Default)]
pub struct AuditState {
    view: RwLock<AuditView>,
}

impl AuditState {
    /// Runs `f` on the current view (under a read lock: keep it short, clone what you keep).
    pub fn read<R>(&self, f: impl FnOnce(&AuditView) -> R) -> R {
        // A writer that panicked leaves the view as it was: still worth reading.
        let view = self.view.read().unwrap_or_else(|p| p.into_inner());
        f(&view)
    }

    /// Replaces the results of `scopes` with `results` (scopes absent from `results` lose
    /// theirs).
    pub fn replace(&self, scopes: &Scopes, results: AuditResults) {
        let mut view = self.view.write().unwrap_or_else(|p| p.into_inner());
        match scopes {
            Scopes::All => {
                view.scopes = results.into_iter().map(|(k, v)| (k, Arc::new(v))).collect();
            }
            Scopes::Some(set) => {
                for scope in set {
                    view.scopes.remove(scope);
                }
                for (k, v) in results {
                    if set.contains(&k) {
                        view.scopes.insert(k, Arc::new(v));
                    }
                }
            }
        }
        view.generation += 1;
    }

    /// Records a finished full pass.
    pub fn full_pass(&self, pass: FullPass) {
        let mut view = self.view.write().unwrap_or_else(|p| p.into_inner());
        view.last_full_pass = Some(pass);
    }

    /// Records whether this replica leads.
    pub fn set_leader(&self, leader: bool) {
        let mut view = self.view.write().unwrap_or_else(|p| p.into_inner());
        view.leader = leader;
    }
}
