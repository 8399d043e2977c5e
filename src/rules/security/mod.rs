//! Security rules: the Pod Security Standards checks (one rule per PSS check family, with
//! PSS v1.37 semantics), container hardening beyond PSS, and network exposure (TLS on
//! Ingresses, NetworkPolicies).
//!
//! Every PSS rule visits every container list (`containers`, `initContainers`,
//! `ephemeralContainers`), as the pod-security-admission library does, and reads pod- and
//! container-level security contexts the way the kubelet combines them: a container's value
//! overrides the pod's.

pub mod apparmor_profile;
pub mod capabilities;
pub mod host_namespaces;
pub mod host_path_volumes;
pub mod host_ports;
pub mod host_probes;
pub mod ingress_tls;
pub mod network_policy;
pub mod privilege_escalation;
pub mod privileged;
pub mod proc_mount;
pub mod read_only_root_filesystem;
pub mod run_as_non_root;
pub mod seccomp_profile;
pub mod selinux_options;
pub mod sysctls;
pub mod volume_types;
pub mod windows_host_process;

use crate::engine::{CheckCx, PssLevel};
use crate::workload::{ContainerKind, ContainerRef, PodSecurityContext, PodSpec, SecurityContext};

/// Whether the policy enforces the restricted level (the rule's restricted-only parts apply).
pub(crate) fn restricted(cx: &CheckCx<'_>) -> bool {
    cx.policy.pod_security >= PssLevel::Restricted
}

/// Whether the pod runs in its own user namespace (`spec.hostUsers: false`), which relaxes
/// some checks (KEP-127).
pub(crate) fn in_user_namespace(pod: &PodSpec) -> bool {
    pod.host_users == Some(false)
}

/// The pod-level security context, if set.
pub(crate) fn pod_sc(pod: &PodSpec) -> Option<&PodSecurityContext> {
    pod.security_context.as_ref()
}

/// A container's own security context, if set.
pub(crate) fn container_sc<'a>(c: &ContainerRef<'a>) -> Option<&'a SecurityContext> {
    c.container.security_context.as_ref()
}

/// Path of `field` inside the pod-level security context, e.g.
/// `spec.template.spec.securityContext.runAsNonRoot`.
pub(crate) fn pod_sc_path(cx: &CheckCx<'_>, field: &str) -> String {
    cx.pod_path(&format!("securityContext.{field}"))
}

/// Path of `field` inside a container's security context, e.g.
/// `spec.containers[1].securityContext.allowPrivilegeEscalation`.
pub(crate) fn container_sc_path(cx: &CheckCx<'_>, c: &ContainerRef<'_>, field: &str) -> String {
    cx.pod_path(&format!("{}.securityContext.{field}", c.rel_path()))
}

/// Path of `field` inside the pod metadata (the pod template's, for controllers), e.g.
/// `metadata.annotations.<key>` for a Pod.
pub(crate) fn pod_meta_path(cx: &CheckCx<'_>, field: &str) -> String {
    crate::engine::join(cx.obj.kind.pod_meta_path(), field)
}

/// Names a container for messages: `container "app"`, `init container "setup"`, ...
pub(crate) fn describe(c: &ContainerRef<'_>) -> String {
    let kind = match c.kind {
        ContainerKind::Regular => "container",
        ContainerKind::Init => "init container",
        ContainerKind::Ephemeral => "ephemeral container",
    };
    format!("{kind} {:?}", c.container.name)
}
