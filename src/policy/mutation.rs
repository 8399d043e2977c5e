//! `mutation:` section of the policy: which defaults the mutating webhook fills in.
//!
//! Every switch defaults to on except the numeric ids (`runAsUser`, `runAsGroup`, `fsGroup`),
//! which can break images and are off until set. A default is applied only where the workload
//! left the field unset *and* the rule it satisfies is in force (see `docs/mutation.md`).

use std::collections::BTreeMap;

use serde::{Deserialize, Deserializer, Serialize};

use super::quantity;

/// Which defaults the mutating webhook applies.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize)]
#[serde(default, deny_unknown_fields, rename_all = "camelCase")]
pub struct MutationConfig {
    /// Master switch: `false` makes every mutation an empty patch.
    pub enabled: bool,
    /// Pod-level security context defaults.
    pub pod_security_context: PodSecurityDefaults,
    /// Container-level security context defaults.
    pub container_security_context: ContainerSecurityDefaults,
    /// Resource requests and limits.
    pub resources: ResourceDefaults,
    /// Readiness and liveness probes on a container's first TCP port.
    pub probes: ProbeDefaults,
    /// preStop hook and termination grace period.
    pub graceful_shutdown: GracefulShutdownDefaults,
    /// Derived `app.kubernetes.io/*` labels.
    pub labels: Toggle,
    /// `automountServiceAccountToken: false` for pods on the default service account.
    pub service_account_token: Toggle,
    /// Deployment `strategy` with `maxUnavailable: 0`; DaemonSets that can surge, `maxSurge: 1`.
    pub rolling_update: Toggle,
}

impl Default for MutationConfig {
    fn default() -> Self {
        MutationConfig {
            enabled: true,
            pod_security_context: PodSecurityDefaults::default(),
            container_security_context: ContainerSecurityDefaults::default(),
            resources: ResourceDefaults::default(),
            probes: ProbeDefaults::default(),
            graceful_shutdown: GracefulShutdownDefaults::default(),
            labels: Toggle::default(),
            service_account_token: Toggle::default(),
            rolling_update: Toggle::default(),
        }
    }
}

/// A default with nothing to configure but whether it runs.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize)]
#[serde(default, deny_unknown_fields, rename_all = "camelCase")]
pub struct Toggle {
    /// Whether the default is applied.
    pub enabled: bool,
}

impl Default for Toggle {
    fn default() -> Self {
        Toggle { enabled: true }
    }
}

/// Pod `securityContext` defaults.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize)]
#[serde(default, deny_unknown_fields, rename_all = "camelCase")]
pub struct PodSecurityDefaults {
    /// `runAsNonRoot: true`.
    pub run_as_non_root: bool,
    /// `seccompProfile: {type: RuntimeDefault}`.
    pub seccomp_profile: bool,
    /// `runAsUser` to set (e.g. 1001); `None`: not defaulted.
    pub run_as_user: Option<i64>,
    /// `runAsGroup` to set; `None`: not defaulted.
    pub run_as_group: Option<i64>,
    /// `fsGroup` to set; `None`: not defaulted.
    pub fs_group: Option<i64>,
}

impl Default for PodSecurityDefaults {
    fn default() -> Self {
        PodSecurityDefaults {
            run_as_non_root: true,
            seccomp_profile: true,
            run_as_user: None,
            run_as_group: None,
            fs_group: None,
        }
    }
}

/// Container `securityContext` defaults (containers, init containers, and ephemeral
/// containers present at creation).
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize)]
#[serde(default, deny_unknown_fields, rename_all = "camelCase")]
pub struct ContainerSecurityDefaults {
    /// `allowPrivilegeEscalation: false`.
    pub disallow_privilege_escalation: bool,
    /// `readOnlyRootFilesystem: true`.
    pub read_only_root_filesystem: bool,
    /// `capabilities.drop: [ALL]` when the container has no drop list.
    pub drop_all_capabilities: bool,
    /// `privileged: false`.
    pub non_privileged: bool,
}

impl Default for ContainerSecurityDefaults {
    fn default() -> Self {
        ContainerSecurityDefaults {
            disallow_privilege_escalation: true,
            read_only_root_filesystem: true,
            drop_all_capabilities: true,
            non_privileged: true,
        }
    }
}

/// Resource defaults: each key of `requests` and `limits` is filled independently.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize)]
#[serde(default, deny_unknown_fields, rename_all = "camelCase")]
pub struct ResourceDefaults {
    /// Whether resources are defaulted at all.
    pub enabled: bool,
    /// Requests to fill, by resource name (`cpu`, `memory`, `ephemeral-storage`, ...).
    #[serde(deserialize_with = "quantity_map")]
    pub requests: BTreeMap<String, String>,
    /// Limits to fill, by resource name.
    #[serde(deserialize_with = "quantity_map")]
    pub limits: BTreeMap<String, String>,
}

impl Default for ResourceDefaults {
    fn default() -> Self {
        let map = |pairs: [(&str, &str); 2]| {
            pairs
                .into_iter()
                .map(|(k, v)| (k.to_owned(), v.to_owned()))
                .collect()
        };
        ResourceDefaults {
            enabled: true,
            requests: map([("cpu", "100m"), ("memory", "128Mi")]),
            limits: map([("cpu", "500m"), ("memory", "256Mi")]),
        }
    }
}

/// Reads a map of quantities, accepting YAML numbers (`cpu: 1`) and rejecting values that are
/// not Kubernetes quantities, so a typo fails at load time instead of in every admission.
fn quantity_map<'de, D: Deserializer<'de>>(d: D) -> Result<BTreeMap<String, String>, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum Q {
        S(String),
        I(i64),
        F(f64),
    }
    let raw = Option::<BTreeMap<String, Q>>::deserialize(d)?.unwrap_or_default();
    raw.into_iter()
        .map(|(k, q)| {
            let s = match q {
                Q::S(s) => s,
                Q::I(i) => i.to_string(),
                Q::F(f) => f.to_string(),
            };
            if quantity::parse(&s).is_none() {
                return Err(serde::de::Error::custom(format!(
                    "resource {k}: {s:?} is not a Kubernetes quantity"
                )));
            }
            Ok((k, s))
        })
        .collect()
}

/// Probe defaults.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize)]
#[serde(default, deny_unknown_fields, rename_all = "camelCase")]
pub struct ProbeDefaults {
    /// Add a `readinessProbe` where missing.
    pub readiness: bool,
    /// Add a `livenessProbe` where missing.
    pub liveness: bool,
    /// `httpGet` path for readiness probes; `None`: `tcpSocket`.
    pub readiness_path: Option<String>,
    /// `httpGet` path for liveness probes; `None`: `tcpSocket`.
    pub liveness_path: Option<String>,
    /// `initialDelaySeconds` of added liveness probes (not set when 0, nor when the container
    /// has a `startupProbe`, which already holds liveness back).
    pub liveness_initial_delay_seconds: i64,
}

impl Default for ProbeDefaults {
    fn default() -> Self {
        ProbeDefaults {
            readiness: true,
            liveness: true,
            readiness_path: None,
            liveness_path: None,
            liveness_initial_delay_seconds: 30,
        }
    }
}

/// Graceful shutdown defaults.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize)]
#[serde(default, deny_unknown_fields, rename_all = "camelCase")]
pub struct GracefulShutdownDefaults {
    /// Whether a preStop hook (and, when needed, a grace period) is added.
    pub enabled: bool,
    /// Seconds of the `sleep` preStop action; also the time assumed for `preStopCommand`.
    /// 0 turns the preStop default off.
    pub pre_stop_sleep_seconds: i64,
    /// An `exec` command to use instead of the `sleep` action (for clusters without the
    /// sleep action), e.g. `[sleep, "5"]`.
    pub pre_stop_command: Option<Vec<String>>,
}

impl Default for GracefulShutdownDefaults {
    fn default() -> Self {
        GracefulShutdownDefaults {
            enabled: true,
            pre_stop_sleep_seconds: 5,
            pre_stop_command: None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn partial_sections_keep_other_defaults() {
        let c: MutationConfig = serde_yaml_ng::from_str(
            "podSecurityContext: {runAsUser: 1001}\nresources: {limits: {memory: 1}}\n",
        )
        .expect("parses");
        assert_eq!(c.pod_security_context.run_as_user, Some(1001));
        assert!(c.pod_security_context.run_as_non_root);
        assert_eq!(
            c.resources.limits.get("memory").map(String::as_str),
            Some("1")
        );
        assert_eq!(c.resources.requests, ResourceDefaults::default().requests);
    }

    #[test]
    fn unknown_keys_and_bad_quantities_are_errors() {
        let e = serde_yaml_ng::from_str::<MutationConfig>("probes: {readinessPaht: /x}\n")
            .expect_err("unknown key")
            .to_string();
        assert!(e.contains("readinessPaht"), "{e}");
        let e = serde_yaml_ng::from_str::<MutationConfig>("resources: {requests: {cpu: lots}}\n")
            .expect_err("bad quantity")
            .to_string();
        assert!(e.contains("lots"), "{e}");
    }
}
