//! Pod spec defaults: security contexts, resources, probes, graceful shutdown and the service
//! account token.

use std::cmp::Ordering;

use serde_json::{Value, json};

use super::Cx;
use super::patch::{Patcher, Path};
use crate::policy::quantity;
use crate::workload::ContainerKind;

/// Rule ids the pod defaults satisfy (recorded in `bulwark.dev/defaulted`).
const RUN_AS_NON_ROOT: &str = "run-as-non-root";
const SECCOMP: &str = "seccomp-profile";
const PRIV_ESC: &str = "privilege-escalation";
const RO_ROOT: &str = "read-only-root-filesystem";
const CAPS: &str = "capabilities";
const PRIVILEGED: &str = "privileged";
const RESOURCES: &str = "resources";
const READINESS: &str = "readiness-probe";
const LIVENESS: &str = "liveness-probe";
const GRACEFUL: &str = "graceful-shutdown";
const SERVICE_ACCOUNT: &str = "service-account";

/// Grace period the API server assumes when `terminationGracePeriodSeconds` is unset.
const DEFAULT_GRACE_SECONDS: i64 = 30;

/// One container of the pod spec, located in the object.
struct ContainerAt<'k> {
    kind: ContainerKind,
    path: Path<'k>,
    image: Option<String>,
    /// Regular containers and `restartPolicy: Always` init containers (sidecars).
    long_running: bool,
}

fn containers<'k>(p: &Patcher, spec: &Path<'k>) -> Vec<ContainerAt<'k>> {
    let mut out = Vec::new();
    for kind in [
        ContainerKind::Regular,
        ContainerKind::Init,
        ContainerKind::Ephemeral,
    ] {
        let list = spec.key(kind.field());
        let len = p.get(&list).and_then(Value::as_array).map_or(0, Vec::len);
        for i in 0..len {
            let path = list.idx(i);
            let Some(c) = p.get(&path).and_then(Value::as_object) else {
                continue;
            };
            let long_running = match kind {
                ContainerKind::Regular => true,
                ContainerKind::Init => {
                    c.get("restartPolicy").and_then(Value::as_str) == Some("Always")
                }
                ContainerKind::Ephemeral => false,
            };
            out.push(ContainerAt {
                kind,
                image: c.get("image").and_then(Value::as_str).map(str::to_owned),
                path,
                long_running,
            });
        }
    }
    out
}

fn str_at<'p>(p: &'p Patcher, path: &Path) -> Option<&'p str> {
    p.get(path).and_then(Value::as_str)
}

fn int_at(p: &Patcher, path: &Path) -> Option<i64> {
    p.get(path).and_then(Value::as_i64)
}

/// Applies the pod spec defaults at `spec` (which the caller checked is an object).
pub(super) fn apply(cx: &mut Cx<'_>, p: &mut Patcher, spec: &Path) {
    let windows = str_at(p, &spec.key("os").key("name")) == Some("windows");
    let all = containers(p, spec);
    pod_security(cx, p, spec, &all, windows);
    for c in &all {
        container_security(cx, p, c, windows);
        if c.kind != ContainerKind::Ephemeral {
            resources(cx, p, c);
        }
    }
    if cx.w.is_long_running() {
        let long: Vec<&ContainerAt> = all.iter().filter(|c| c.long_running).collect();
        for c in &long {
            probes(cx, p, c);
        }
        graceful_shutdown(cx, p, spec, &long);
    }
    service_account_token(cx, p, spec);
}

fn pod_security(cx: &mut Cx<'_>, p: &mut Patcher, spec: &Path, all: &[ContainerAt], windows: bool) {
    let psc = spec.key("securityContext");
    let cfg = &cx.cfg.pod_security_context;
    if cx.wants(RUN_AS_NON_ROOT) {
        // A runAsUser of 0 anywhere would make runAsNonRoot stop that container from starting:
        // leave the pod as written and let validation report the root user.
        let root_user = int_at(p, &psc.key("runAsUser")) == Some(0)
            || all
                .iter()
                .any(|c| int_at(p, &c.path.key("securityContext").key("runAsUser")) == Some(0));
        // In a user namespace (hostUsers: false) root is not root on the node and the rule
        // does not apply: images that need root keep working.
        let user_namespace = p.get(&spec.key("hostUsers")) == Some(&json!(false));
        if cfg.run_as_non_root
            && !root_user
            && !user_namespace
            && p.fill(&psc.key("runAsNonRoot"), json!(true))
        {
            cx.mark(RUN_AS_NON_ROOT);
        }
        // Numeric ids are Linux-only: the API server rejects them on Windows pods.
        if !windows {
            for (field, value) in [
                ("runAsUser", cfg.run_as_user),
                ("runAsGroup", cfg.run_as_group),
                ("fsGroup", cfg.fs_group),
            ] {
                if let Some(v) = value
                    && p.fill(&psc.key(field), json!(v))
                {
                    cx.mark(RUN_AS_NON_ROOT);
                }
            }
        }
    }
    if cfg.seccomp_profile && !windows && cx.restricted() && cx.wants(SECCOMP) {
        let profile = psc.key("seccompProfile");
        let filled = if p.is_set(&profile) {
            // A profile object without a type (and without a localhost path) is a gap.
            p.get(&profile).is_some_and(Value::is_object)
                && !p.is_set(&profile.key("localhostProfile"))
                && p.fill(&profile.key("type"), json!("RuntimeDefault"))
        } else {
            p.fill(&profile, json!({"type": "RuntimeDefault"}))
        };
        if filled {
            cx.mark(SECCOMP);
        }
    }
}

fn container_security(cx: &mut Cx<'_>, p: &mut Patcher, c: &ContainerAt, windows: bool) {
    // Every field below is Linux-only: the API server rejects them on Windows pods.
    if windows {
        return;
    }
    let cfg = &cx.cfg.container_security_context;
    let image = c.image.as_deref();
    let sc = c.path.key("securityContext");
    let privileged = p.get(&sc.key("privileged")) == Some(&json!(true));
    let sys_admin = p
        .get(&sc.key("capabilities").key("add"))
        .and_then(Value::as_array)
        .is_some_and(|add| {
            add.iter()
                .any(|v| matches!(v.as_str(), Some("SYS_ADMIN" | "CAP_SYS_ADMIN")))
        });
    // allowPrivilegeEscalation: false next to privileged: true or CAP_SYS_ADMIN is rejected by
    // the API server: leave such containers to validation.
    if cfg.disallow_privilege_escalation
        && cx.restricted()
        && !privileged
        && !sys_admin
        && cx.wants_for(PRIV_ESC, image)
        && p.fill(&sc.key("allowPrivilegeEscalation"), json!(false))
    {
        cx.mark(PRIV_ESC);
    }
    // Ephemeral containers are debugging sessions: a read-only root would get in the way
    // (the rule skips them too).
    if cfg.read_only_root_filesystem
        && c.kind != ContainerKind::Ephemeral
        && cx.wants_for(RO_ROOT, image)
        && p.fill(&sc.key("readOnlyRootFilesystem"), json!(true))
    {
        cx.mark(RO_ROOT);
    }
    // Only a missing drop list is filled: a list without ALL is the author's and stays, so
    // validation reports it.
    if cfg.drop_all_capabilities
        && cx.restricted()
        && cx.wants_for(CAPS, image)
        && p.fill(&sc.key("capabilities").key("drop"), json!(["ALL"]))
    {
        cx.mark(CAPS);
    }
    if cfg.non_privileged
        && cx.wants_for(PRIVILEGED, image)
        && p.fill(&sc.key("privileged"), json!(false))
    {
        cx.mark(PRIVILEGED);
    }
}

fn resources(cx: &mut Cx<'_>, p: &mut Patcher, c: &ContainerAt) {
    let cfg = &cx.cfg.resources;
    if !cfg.enabled || !cx.wants_for(RESOURCES, c.image.as_deref()) {
        return;
    }
    let res = c.path.key("resources");
    let mut names: Vec<&String> = cfg.requests.keys().chain(cfg.limits.keys()).collect();
    names.sort();
    names.dedup();
    let mut changed = false;
    for name in names {
        let req_path = res.key("requests").key(name);
        let lim_path = res.key("limits").key(name);
        let author_req = p.get(&req_path).filter(|v| !v.is_null()).cloned();
        let author_lim = p.get(&lim_path).filter(|v| !v.is_null()).cloned();
        let mut new_lim = match (&author_lim, cfg.limits.get(name)) {
            (None, Some(d)) => Some(json!(d)),
            _ => None,
        };
        // A missing request takes the limit, as the API server's own defaulting does.
        let mut new_req = match (&author_req, cfg.requests.get(name)) {
            (None, Some(d)) => Some(author_lim.clone().unwrap_or_else(|| json!(d))),
            _ => None,
        };
        // Never produce requests > limits (the API server rejects it).
        let req = author_req.as_ref().or(new_req.as_ref());
        let lim = author_lim.as_ref().or(new_lim.as_ref());
        if let (Some(r), Some(l)) = (req, lim)
            && quantity::compare(r, l) == Some(Ordering::Greater)
        {
            if new_lim.is_some() && author_req.is_some() {
                new_lim = author_req.clone();
            } else if new_req.is_some() {
                new_req = lim.cloned();
            }
        }
        if let Some(v) = new_req {
            changed |= p.fill(&req_path, v);
        }
        if let Some(v) = new_lim {
            changed |= p.fill(&lim_path, v);
        }
    }
    if changed {
        cx.mark(RESOURCES);
    }
}

/// The first TCP port a container declares (protocol unset means TCP).
fn first_tcp_port(p: &Patcher, c: &ContainerAt) -> Option<i64> {
    let ports = p.get(&c.path.key("ports"))?.as_array()?;
    ports.iter().find_map(|port| {
        let protocol = port
            .get("protocol")
            .and_then(Value::as_str)
            .unwrap_or("TCP");
        let n = port.get("containerPort")?.as_i64()?;
        (protocol == "TCP" && (1..=65535).contains(&n)).then_some(n)
    })
}

fn probe(path: Option<&str>, port: i64) -> Value {
    match path {
        Some(path) => json!({"httpGet": {"path": path, "port": port}}),
        None => json!({"tcpSocket": {"port": port}}),
    }
}

fn probes(cx: &mut Cx<'_>, p: &mut Patcher, c: &ContainerAt) {
    // Only a container that declares a port gets a probe: never a made-up one.
    let Some(port) = first_tcp_port(p, c) else {
        return;
    };
    let cfg = &cx.cfg.probes;
    let image = c.image.as_deref();
    if cfg.readiness
        && cx.wants_for(READINESS, image)
        && p.fill(
            &c.path.key("readinessProbe"),
            probe(cfg.readiness_path.as_deref(), port),
        )
    {
        cx.mark(READINESS);
    }
    if cfg.liveness && cx.wants_for(LIVENESS, image) {
        let mut liveness = probe(cfg.liveness_path.as_deref(), port);
        let delay = cfg.liveness_initial_delay_seconds;
        if delay > 0
            && !p.is_set(&c.path.key("startupProbe"))
            && let Value::Object(m) = &mut liveness
        {
            m.insert("initialDelaySeconds".into(), json!(delay));
        }
        if p.fill(&c.path.key("livenessProbe"), liveness) {
            cx.mark(LIVENESS);
        }
    }
}

fn graceful_shutdown(cx: &mut Cx<'_>, p: &mut Patcher, spec: &Path, long: &[&ContainerAt]) {
    let cfg = &cx.cfg.graceful_shutdown;
    if !cfg.enabled || !cx.wants(GRACEFUL) {
        return;
    }
    let grace_path = spec.key("terminationGracePeriodSeconds");
    let author_grace = int_at(p, &grace_path);
    let n = cfg.pre_stop_sleep_seconds;
    // A preStop pause that does not fit in the author's grace period would eat the time the
    // application needs after SIGTERM: then no hook is added (validation reports it).
    let fits = author_grace.is_none_or(|g| g > n);
    let exec = cfg.pre_stop_command.as_ref().filter(|c| !c.is_empty());
    let hook = match exec {
        Some(cmd) => json!({"exec": {"command": cmd}}),
        None => json!({"sleep": {"seconds": n}}),
    };
    let mut longest = 0;
    // Regular containers only: sidecars are stopped after them, when traffic has drained.
    for c in long.iter().filter(|c| c.kind == ContainerKind::Regular) {
        let pre_stop = c.path.key("lifecycle").key("preStop");
        if n > 0
            && fits
            && cx.wants_for(GRACEFUL, c.image.as_deref())
            && p.fill(&pre_stop, hook.clone())
        {
            cx.mark(GRACEFUL);
            longest = longest.max(n);
        }
        if let Some(s) = int_at(p, &pre_stop.key("sleep").key("seconds")) {
            longest = longest.max(s);
        }
    }
    // Unset means 30 s; only when the pause does not fit in that is a longer period set, and
    // then the application keeps its 30 s after the pause (saturating: an author's sleep is
    // not range-checked before admission).
    if author_grace.is_none()
        && longest >= DEFAULT_GRACE_SECONDS
        && p.fill(
            &grace_path,
            json!(longest.saturating_add(DEFAULT_GRACE_SECONDS)),
        )
    {
        cx.mark(GRACEFUL);
    }
}

fn service_account_token(cx: &mut Cx<'_>, p: &mut Patcher, spec: &Path) {
    if !cx.cfg.service_account_token.enabled || !cx.wants(SERVICE_ACCOUNT) {
        return;
    }
    let named = |field: &str| str_at(p, &spec.key(field)).filter(|s| !s.is_empty());
    let account = named("serviceAccountName").or_else(|| named("serviceAccount"));
    if account.is_none_or(|a| a == "default")
        && p.fill(&spec.key("automountServiceAccountToken"), json!(false))
    {
        cx.mark(SERVICE_ACCOUNT);
    }
}
