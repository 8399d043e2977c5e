//! `admission:` section of the policy: settings only the webhook server reads (exempt
//! namespaces and identities, exemption admins, the built-in controllers, where
//! BulwarkExceptions count).

use serde::{Deserialize, Serialize};

/// Namespaces bulwark never evaluates whatever the policy says: the control plane's (a
/// broken webhook must not be able to stop the cluster) and bulwark's own (added at runtime).
/// They exist on every cluster, so no tenant can create one to be exempt.
pub const SYSTEM_NAMESPACES: [&str; 3] = ["kube-system", "kube-public", "kube-node-lease"];

/// One built-in controller identity: who creates objects of `kind` for owners of `owner`.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct ControllerIdentity {
    /// The kind of object the controller makes (`Pod`, `ReplicaSet`, `Job`).
    pub kind: String,
    /// The owner kind it makes them for, as `group/Kind` (`apps/Deployment`), or `Kind` for
    /// the core group (`ReplicationController`).
    pub owner: String,
    /// The usernames the controller's requests carry.
    pub users: Vec<String>,
}

impl ControllerIdentity {
    fn entry(kind: &str, owner: &str, sa: &str) -> ControllerIdentity {
        ControllerIdentity {
            kind: kind.into(),
            owner: owner.into(),
            users: vec![
                format!("system:serviceaccount:kube-system:{sa}"),
                // kube-controller-manager without --use-service-account-credentials.
                "system:kube-controller-manager".into(),
            ],
        }
    }

    /// The owner's (group, kind).
    pub fn owner_group_kind(&self) -> (&str, &str) {
        self.owner.rsplit_once('/').unwrap_or(("", &self.owner))
    }
}

/// Server-side admission settings: who may lower modes, which namespaces are never touched,
/// which identities are the built-in controllers, where exceptions count.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize)]
#[serde(default, deny_unknown_fields, rename_all = "camelCase")]
pub struct AdmissionConfig {
    /// Namespaces never evaluated, beyond the system namespaces and bulwark's own (always
    /// exempt). Only exemption admins may create a namespace with one of these names.
    pub exempt_namespaces: Vec<String>,
    /// Users whose requests are never evaluated (e.g. control-plane identities).
    pub exempt_users: Vec<String>,
    /// Groups whose requests are never evaluated (e.g. `system:nodes`).
    pub exempt_groups: Vec<String>,
    /// Users allowed to lower a namespace's bulwark mode or create an exempt namespace.
    pub exemption_admin_users: Vec<String>,
    /// Groups allowed to lower a namespace's bulwark mode or create an exempt namespace.
    pub exemption_admin_groups: Vec<String>,
    /// The built-in controllers: an object is judged through its owner only when one of
    /// these identities makes it for an owner of the matching kind.
    pub controllers: Vec<ControllerIdentity>,
    /// Namespaces (besides bulwark's own) whose BulwarkExceptions count, each for its own
    /// namespace only; `*` for all. Empty: only bulwark's namespace.
    pub exception_namespaces: Vec<String>,
    /// Removed: annotations no longer grant exemptions. Kept only to say so when set.
    #[serde(skip_serializing)]
    pub(super) anyone_may_exempt: Option<serde_json::Value>,
}

impl Default for AdmissionConfig {
    fn default() -> Self {
        AdmissionConfig {
            exempt_namespaces: Vec::new(),
            exempt_users: Vec::new(),
            exempt_groups: vec!["system:nodes".into(), "system:masters".into()],
            exemption_admin_users: Vec::new(),
            exemption_admin_groups: vec!["system:masters".into()],
            controllers: vec![
                ControllerIdentity::entry("ReplicaSet", "apps/Deployment", "deployment-controller"),
                ControllerIdentity::entry("Pod", "apps/ReplicaSet", "replicaset-controller"),
                ControllerIdentity::entry("Pod", "apps/StatefulSet", "statefulset-controller"),
                ControllerIdentity::entry("Pod", "apps/DaemonSet", "daemon-set-controller"),
                ControllerIdentity::entry("Pod", "batch/Job", "job-controller"),
                ControllerIdentity::entry("Job", "batch/CronJob", "cronjob-controller"),
                ControllerIdentity::entry("Pod", "ReplicationController", "replication-controller"),
            ],
            exception_namespaces: Vec::new(),
            anyone_may_exempt: None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The docs list the always-exempt namespaces in prose; they must be exactly these.
    #[test]
    fn docs_name_exactly_the_system_namespaces() {
        let listed: Vec<String> = SYSTEM_NAMESPACES.iter().map(|n| format!("`{n}`")).collect();
        let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
        for (file, sentence) in [
            (
                "README.md",
                format!(
                    "Always exempt, whatever the policy says: {},\nbulwark's own namespace",
                    listed.join(", ")
                ),
            ),
            (
                "docs/security.md",
                format!(
                    "Always exempt: {} and bulwark's own namespace",
                    listed.join(", ")
                ),
            ),
        ] {
            let text = std::fs::read_to_string(root.join(file)).expect("doc is readable");
            assert!(
                text.contains(&sentence),
                "{file} should say {sentence:?} (SYSTEM_NAMESPACES in src/policy/admission.rs)"
            );
            assert!(
                text.contains("`admission.exemptNamespaces`"),
                "{file} should say admission.exemptNamespaces adds to them"
            );
        }
    }
}
