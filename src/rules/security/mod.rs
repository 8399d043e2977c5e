//! Security rules: the Pod Security Standards checks (one rule per PSS check family, with
//! PSS v1.37 semantics) and container hardening beyond PSS.

pub mod apparmor_profile;
pub mod capabilities;
pub mod host_namespaces;
pub mod host_path_volumes;
pub mod host_ports;
pub mod host_probes;
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
