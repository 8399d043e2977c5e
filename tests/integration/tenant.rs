//! The tenant's side: a namespace admin without cluster-admin, holding the
//! `pods/ephemeralcontainers` permission platforms grant for `kubectl debug`, who wants a
//! privileged, root, host-mounting pod in an enforced namespace and tries every field,
//! annotation, subresource and identity the API allows (docs/security.md lists each class
//! with the test here that holds it).
//!
//! Every request goes to the real server over real TLS, shaped as the API server sends it
//! (kind and resource, subresource, userInfo, object and oldObject), with cluster state from
//! a stand-in for the reflector caches: namespaces `team` (enforce by default) and `trial`
//! (labelled audit), and the BulwarkExceptions and HPAs a case needs.

use std::collections::BTreeMap;
use std::sync::Arc;

use base64::Engine as _;
use bulwark::admission::Cluster;
use bulwark::config::Policy;
use bulwark::engine::exemptions::Exception;
use bulwark::engine::{HpaInfo, Inventory, PdbInfo};
use bulwark::server::Options;
use bulwark::workload::Workload;
use serde_json::{Value, json};

use crate::server::TestServer;

/// A username and its groups.
type User = (&'static str, &'static [&'static str]);

/// The tenant: a namespace admin, authenticated, in no privileged group.
const TENANT: (&str, &[&str]) = ("mallory", &["team-admins", "system:authenticated"]);
const RS_CONTROLLER: &str = "system:serviceaccount:kube-system:replicaset-controller";
const DEPLOY_CONTROLLER: &str = "system:serviceaccount:kube-system:deployment-controller";
const SA_GROUPS: &[&str] = &[
    "system:serviceaccounts",
    "system:serviceaccounts:kube-system",
    "system:authenticated",
];

#[derive(Default)]
struct StandIn {
    namespaces: BTreeMap<String, BTreeMap<String, String>>,
    exceptions: Vec<Exception>,
    hpas: Vec<(String, String, HpaInfo)>,
}

impl Inventory for StandIn {
    fn pdbs(&self, _: &str) -> Option<Vec<PdbInfo>> {
        Some(Vec::new())
    }
    fn hpa_for(&self, namespace: &str, kind: &str, name: &str) -> Option<Option<HpaInfo>> {
        Some(
            self.hpas
                .iter()
                .find(|(ns, target, _)| ns == namespace && *target == format!("{kind}/{name}"))
                .map(|(_, _, h)| h.clone()),
        )
    }
    fn exceptions(&self, namespace: &str, own: &str) -> Option<Vec<Exception>> {
        Some(
            self.exceptions
                .iter()
                .filter(|e| e.namespace == namespace || e.namespace == own)
                .cloned()
                .collect(),
        )
    }
    fn is_complete(&self) -> bool {
        false
    }
}

impl Cluster for StandIn {
    fn namespace_labels(&self, name: &str) -> Option<BTreeMap<String, String>> {
        Some(self.namespaces.get(name).cloned().unwrap_or_default())
    }
    fn as_inventory(&self) -> &dyn Inventory {
        self
    }
}

fn stand_in() -> StandIn {
    let mut s = StandIn::default();
    s.namespaces.insert("team".into(), BTreeMap::new());
    s.namespaces.insert(
        "trial".into(),
        [("bulwark.dev/mode".to_owned(), "audit".to_owned())].into(),
    );
    s
}

/// The embedded policy, as installed with the cert-manager component (which passes
/// `--exempt-namespace=cert-manager`).
fn installed_policy() -> Policy {
    let mut p = Policy::default();
    p.admission.exempt_namespaces.push("cert-manager".into());
    // A platform that delegates exceptions to a team namespace not created yet.
    p.admission.exception_namespaces.push("payments".into());
    p
}

async fn server(cluster: StandIn) -> TestServer {
    TestServer::start_with_cluster(
        installed_policy(),
        Options::default(),
        Some(Arc::new(cluster)),
    )
    .await
}

/// What the server answered.
struct Answer {
    allowed: bool,
    message: String,
    warnings: Vec<String>,
    patch: Option<Value>,
}

struct Request<'a> {
    op: &'a str,
    object: Value,
    old: Option<Value>,
    sub: Option<&'a str>,
    user: (&'a str, &'a [&'a str]),
    /// The request's resource (`deployments`); derived from the kind when `None`.
    resource: Option<(&'a str, &'a str)>,
    /// The request's kind when it differs from the object's (a Scale).
    kind: Option<(&'a str, &'a str)>,
}

impl<'a> Request<'a> {
    fn new(op: &'a str, object: Value) -> Self {
        Request {
            op,
            object,
            old: None,
            sub: None,
            user: TENANT,
            resource: None,
            kind: None,
        }
    }
    fn old(mut self, old: Value) -> Self {
        self.old = Some(old);
        self
    }
    fn sub(mut self, sub: &'a str) -> Self {
        self.sub = Some(sub);
        self
    }
    fn by(mut self, user: &'a str, groups: &'a [&'a str]) -> Self {
        self.user = (user, groups);
        self
    }

    fn body(&self) -> Value {
        let kind = self.object["kind"].as_str().unwrap_or("").to_owned();
        let group = match kind.as_str() {
            "Deployment" | "StatefulSet" | "DaemonSet" | "ReplicaSet" => "apps",
            "Job" | "CronJob" => "batch",
            _ => "",
        };
        let (kgroup, kkind) = self.kind.unwrap_or((group, kind.as_str()));
        let plural = format!("{}s", kind.to_lowercase());
        let (rgroup, resource) = self.resource.unwrap_or((group, plural.as_str()));
        let namespace = match kind.as_str() {
            "Namespace" => Value::Null,
            _ => self.object["metadata"]["namespace"].clone(),
        };
        json!({
            "apiVersion": "admission.k8s.io/v1", "kind": "AdmissionReview",
            "request": {
                "uid": "7a1e-tenant",
                "kind": {"group": kgroup, "version": "v1", "kind": kkind},
                "resource": {"group": rgroup, "version": "v1", "resource": resource},
                "subResource": self.sub,
                "requestKind": {"group": kgroup, "version": "v1", "kind": kkind},
                "requestResource": {"group": rgroup, "version": "v1", "resource": resource},
                "name": self.object["metadata"]["name"],
                "namespace": namespace,
                "operation": self.op,
                "userInfo": {"username": self.user.0, "uid": "u-1", "groups": self.user.1},
                "object": self.object,
                "oldObject": self.old,
                "dryRun": false,
                "options": {"apiVersion": "meta.k8s.io/v1", "kind": format!("{}Options", self.op.to_lowercase())},
            }
        })
    }
}

async fn send(srv: &TestServer, path: &str, req: &Request<'_>) -> Answer {
    let resp = srv
        .client(false)
        .post(srv.url(path))
        .json(&req.body())
        .send()
        .await
        .expect("the server answers");
    assert_eq!(resp.status(), 200, "{path}");
    let body: Value = resp.json().await.expect("an AdmissionReview");
    let r = &body["response"];
    assert_eq!(r["uid"], "7a1e-tenant");
    Answer {
        allowed: r["allowed"].as_bool().expect("allowed"),
        message: r["status"]["message"].as_str().unwrap_or("").to_owned(),
        warnings: r["warnings"]
            .as_array()
            .map(|w| {
                w.iter()
                    .filter_map(|s| s.as_str().map(str::to_owned))
                    .collect()
            })
            .unwrap_or_default(),
        patch: r["patch"].as_str().map(|p| {
            let bytes = base64::engine::general_purpose::STANDARD
                .decode(p)
                .expect("base64");
            serde_json::from_slice(&bytes).expect("a JSON patch")
        }),
    }
}

async fn validate(srv: &TestServer, req: Request<'_>) -> Answer {
    send(srv, "/validate", &req).await
}

fn denied_for(a: &Answer, rules: &[&str]) {
    assert!(!a.allowed, "admitted; warnings {:?}", a.warnings);
    for r in rules {
        assert!(
            a.message.contains(&format!("[{r}]")),
            "no [{r}] in {}",
            a.message
        );
    }
}

// ---------------------------------------------------------------------------------------
// Objects.

/// Sets the field at `pointer` (its parent must exist).
fn set(mut v: Value, pointer: &str, value: Value) -> Value {
    let (parent, key) = pointer.rsplit_once('/').expect("a pointer");
    let parent = v
        .pointer_mut(parent)
        .and_then(Value::as_object_mut)
        .unwrap_or_else(|| panic!("no object at {parent}"));
    parent.insert(key.to_owned(), value);
    v
}

/// A container that passes every rule.
fn good_container() -> Value {
    json!({"name": "app", "image": "registry.example.com/web:1.4.2",
        "ports": [{"containerPort": 8080}],
        "resources": {"requests": {"cpu": "100m", "memory": "128Mi"}, "limits": {"cpu": "500m", "memory": "256Mi"}},
        "readinessProbe": {"tcpSocket": {"port": 8080}},
        "livenessProbe": {"tcpSocket": {"port": 8080}},
        "lifecycle": {"preStop": {"sleep": {"seconds": 5}}},
        "securityContext": {"allowPrivilegeEscalation": false, "readOnlyRootFilesystem": true,
            "runAsNonRoot": true, "capabilities": {"drop": ["ALL"]}, "privileged": false}})
}

fn good_pod_spec() -> Value {
    json!({"serviceAccountName": "web", "automountServiceAccountToken": false,
        "securityContext": {"runAsNonRoot": true, "seccompProfile": {"type": "RuntimeDefault"}},
        "containers": [good_container()]})
}

/// A Deployment in `namespace` that passes every rule.
fn good_deployment(namespace: &str) -> Value {
    json!({"apiVersion": "apps/v1", "kind": "Deployment",
        "metadata": {"name": "web", "namespace": namespace, "labels": {"app.kubernetes.io/name": "web"}},
        "spec": {"replicas": 3,
            "selector": {"matchLabels": {"app.kubernetes.io/name": "web"}},
            "strategy": {"type": "RollingUpdate", "rollingUpdate": {"maxUnavailable": 0, "maxSurge": 1}},
            "template": {"metadata": {"labels": {"app.kubernetes.io/name": "web"}},
                "spec": {"affinity": {"podAntiAffinity": {"preferredDuringSchedulingIgnoredDuringExecution": [
                    {"weight": 100, "podAffinityTerm": {"topologyKey": "kubernetes.io/hostname",
                        "labelSelector": {"matchLabels": {"app.kubernetes.io/name": "web"}}}}]}},
                    "serviceAccountName": "web", "automountServiceAccountToken": false,
                    "securityContext": {"runAsNonRoot": true, "seccompProfile": {"type": "RuntimeDefault"}},
                    "containers": [good_container()]}}}})
}

/// Everything the tenant wants: privileged, root, host PID and network, the host's `/`.
fn weaponize_spec(spec: Value) -> Value {
    let spec = set(
        spec,
        "/containers/0/securityContext",
        json!({"privileged": true, "runAsUser": 0}),
    );
    let mut spec = set(spec, "/securityContext", json!({"runAsUser": 0}));
    spec["hostPID"] = json!(true);
    spec["hostNetwork"] = json!(true);
    spec["volumes"] = json!([{"name": "host", "hostPath": {"path": "/"}}]);
    spec["containers"][0]["volumeMounts"] = json!([{"name": "host", "mountPath": "/host"}]);
    spec
}

fn weaponized_deployment(namespace: &str) -> Value {
    let d = good_deployment(namespace);
    let spec = weaponize_spec(d["spec"]["template"]["spec"].clone());
    set(d, "/spec/template/spec", spec)
}

/// The exemption annotations a tenant would write.
fn self_exempt(mut v: Value, at: &str) -> Value {
    let ann = json!({"bulwark.dev/exempt": "privileged,host-namespaces,host-path-volumes,run-as-non-root,capabilities,privilege-escalation,read-only-root-filesystem",
        "bulwark.dev/exempt-reason": "debugging"});
    *v.pointer_mut(at).expect("metadata") = {
        let mut m = v.pointer(at).cloned().unwrap_or(json!({}));
        m["annotations"] = ann;
        m
    };
    v
}

/// A Pod the replicaset controller made for Deployment `web` (ReplicaSet `web-5d9f8`).
fn rs_pod(spec: Value, template_meta: &Value) -> Value {
    let mut meta = template_meta.clone();
    meta["name"] = json!("web-5d9f8-x7k2p");
    meta["generateName"] = json!("web-5d9f8-");
    meta["namespace"] = json!("team");
    meta["labels"]["pod-template-hash"] = json!("5d9f8");
    meta["ownerReferences"] = json!([{"apiVersion": "apps/v1", "kind": "ReplicaSet",
        "name": "web-5d9f8", "uid": "c0ffee", "controller": true, "blockOwnerDeletion": true}]);
    json!({"apiVersion": "v1", "kind": "Pod", "metadata": meta, "spec": spec})
}

/// A privileged, root, host-mounting debugger, as `kubectl debug --profile=sysadmin` adds.
fn debugger() -> Value {
    json!({"name": "debugger-x1", "image": "busybox:1.36", "stdin": true, "tty": true,
        "securityContext": {"privileged": true, "runAsUser": 0},
        "volumeMounts": [{"name": "host", "mountPath": "/host"}]})
}

fn with_debugger(pod: Value) -> Value {
    set(pod, "/spec/ephemeralContainers", json!([debugger()]))
}

// ---------------------------------------------------------------------------------------
// 1. Self-granted exemptions that stick.

/// A metadata-only Pod UPDATE that adds the exemption is harmless (annotations grant
/// nothing); the debugger that follows through `pods/ephemeralcontainers` is denied.
#[tokio::test]
async fn annotate_then_debug() {
    let srv = server(stand_in()).await;
    let pod = rs_pod(
        good_pod_spec(),
        &json!({"labels": {"app.kubernetes.io/name": "web"}}),
    );
    let annotated = self_exempt(pod.clone(), "/metadata");
    let a = validate(&srv, Request::new("UPDATE", annotated.clone()).old(pod)).await;
    assert!(
        a.allowed,
        "metadata-only updates stay allowed: {}",
        a.message
    );
    let a = validate(
        &srv,
        Request::new("UPDATE", with_debugger(annotated.clone()))
            .old(annotated)
            .sub("ephemeralcontainers"),
    )
    .await;
    denied_for(&a, &["privileged", "run-as-non-root"]);
}

/// An exemption written in a Deployment's pod template reaches the Pods through the
/// ReplicaSet controller; the controller's copy grants nothing either.
#[tokio::test]
async fn pod_template_exemption() {
    let srv = server(stand_in()).await;
    let d = self_exempt(weaponized_deployment("team"), "/spec/template/metadata");
    denied_for(
        &validate(&srv, Request::new("CREATE", d.clone())).await,
        &["privileged", "host-namespaces", "host-path-volumes"],
    );
    let pod = rs_pod(
        d["spec"]["template"]["spec"].clone(),
        &d["spec"]["template"]["metadata"],
    );
    denied_for(
        &validate(
            &srv,
            Request::new("CREATE", pod.clone()).by(RS_CONTROLLER, SA_GROUPS),
        )
        .await,
        &["privileged", "host-path-volumes"],
    );
    let clean = rs_pod(good_pod_spec(), &d["spec"]["template"]["metadata"]);
    denied_for(
        &validate(
            &srv,
            Request::new("UPDATE", with_debugger(clean.clone()))
                .old(clean)
                .sub("ephemeralcontainers"),
        )
        .await,
        &["privileged"],
    );
}

/// An exemption set while the namespace was in audit (or before bulwark was installed)
/// is on the old object of every later UPDATE: after the switch to enforce it counts for
/// nothing, on the Deployment, its ReplicaSet (by the deployment controller) and its Pods.
#[tokio::test]
async fn exemption_from_the_audit_days() {
    let srv = server(stand_in()).await;
    let d = self_exempt(weaponized_deployment("trial"), "/metadata");
    let a = validate(&srv, Request::new("CREATE", d.clone())).await;
    assert!(a.allowed, "audit admits");
    assert!(
        a.warnings.iter().any(|w| w.contains("[audit]")),
        "{:?}",
        a.warnings
    );
    // The namespace is now enforced (same objects, in `team`).
    let d = self_exempt(weaponized_deployment("team"), "/metadata");
    let bumped = set(d.clone(), "/spec/replicas", json!(4));
    denied_for(
        &validate(&srv, Request::new("UPDATE", bumped).old(d.clone())).await,
        &[
            "privileged",
            "host-namespaces",
            "host-path-volumes",
            "run-as-non-root",
        ],
    );
    let mut rs = set(d.clone(), "/kind", json!("ReplicaSet"));
    rs["metadata"]["name"] = json!("web-5d9f8");
    rs["metadata"]["ownerReferences"] = json!([{"apiVersion": "apps/v1", "kind": "Deployment",
        "name": "web", "uid": "d3p", "controller": true}]);
    let scaled = set(rs.clone(), "/spec/replicas", json!(2));
    denied_for(
        &validate(
            &srv,
            Request::new("UPDATE", scaled)
                .old(rs)
                .by(DEPLOY_CONTROLLER, SA_GROUPS),
        )
        .await,
        &["privileged", "host-namespaces"],
    );
    let pod = rs_pod(d["spec"]["template"]["spec"].clone(), &d["metadata"]);
    denied_for(
        &validate(
            &srv,
            Request::new("CREATE", pod).by(RS_CONTROLLER, SA_GROUPS),
        )
        .await,
        &["privileged", "host-path-volumes"],
    );
}

/// The exemption the tenant cannot write: a BulwarkException in bulwark's namespace lifts
/// exactly what it names; one the tenant writes in their own namespace counts for nothing,
/// and an expired one stops counting.
#[tokio::test]
async fn exceptions_only_from_where_the_tenant_cannot_write() {
    let exception = |ns: &str, expires: &str| {
        let v = json!({"apiVersion": "bulwark.dev/v1alpha1", "kind": "BulwarkException",
            "metadata": {"name": "web-host", "namespace": ns},
            "spec": {"namespaces": ["team"], "kinds": ["Deployment"], "names": ["web"],
                "rules": ["host-namespaces"], "reason": "node exporter, OPS-9", "expires": expires}});
        let v = if ns == "bulwark-system" {
            v
        } else {
            set(v, "/spec/namespaces", json!([]))
        };
        Exception::from_workload(&Workload::from_value(&v).expect("parses")).expect("exception")
    };
    let host_pid = |ns: &str| {
        set(
            good_deployment(ns),
            "/spec/template/spec/hostPID",
            json!(true),
        )
    };
    let mut granted = stand_in();
    granted
        .exceptions
        .push(exception("bulwark-system", "2999-01-01"));
    let srv = server(granted).await;
    let a = validate(&srv, Request::new("CREATE", host_pid("team"))).await;
    assert!(a.allowed, "{}", a.message);
    // Only what it names: privileged still denies.
    let both = set(
        host_pid("team"),
        "/spec/template/spec/containers/0/securityContext/privileged",
        json!(true),
    );
    let a = validate(&srv, Request::new("CREATE", both)).await;
    denied_for(&a, &["privileged"]);
    assert!(!a.message.contains("[host-namespaces]"), "{}", a.message);

    for (why, e) in [
        (
            "written in the tenant's namespace",
            exception("team", "2999-01-01"),
        ),
        ("expired", exception("bulwark-system", "2020-01-01")),
    ] {
        let mut c = stand_in();
        c.exceptions.push(e);
        let srv = server(c).await;
        let a = validate(&srv, Request::new("CREATE", host_pid("team"))).await;
        assert!(!a.allowed, "{why}: admitted");
        denied_for(&a, &["host-namespaces"]);
    }
}

// ---------------------------------------------------------------------------------------
// 2 and 3. Identities and ownerReferences.

/// A bare Pod `:latest`, with a literal API token, no probes and no resources: judged as
/// itself unless the real controller for its owner kind made it.
fn sloppy_pod(owner: Value) -> Value {
    let mut c = json!({"name": "app", "image": "registry.example.com/web:latest",
        "env": [{"name": "API_TOKEN", "value": "s3cr3t"}],
        "securityContext": {"allowPrivilegeEscalation": false, "readOnlyRootFilesystem": true,
            "runAsNonRoot": true, "capabilities": {"drop": ["ALL"]}}});
    c["ports"] = json!([{"containerPort": 8080}]);
    json!({"apiVersion": "v1", "kind": "Pod",
        "metadata": {"name": "web-5d9f8-x7k2p", "namespace": "team",
            "labels": {"pod-template-hash": "5d9f8"}, "ownerReferences": [owner]},
        "spec": {"securityContext": {"runAsNonRoot": true, "seccompProfile": {"type": "RuntimeDefault"}},
            "containers": [c]}})
}

fn owner(api_version: &str, kind: &str, name: &str) -> Value {
    json!({"apiVersion": api_version, "kind": kind, "name": name, "uid": "4a2c", "controller": true})
}

#[tokio::test]
async fn forged_owners_and_borrowed_identities_buy_nothing() {
    let srv = server(stand_in()).await;
    const JUDGED_AS_ITSELF: &[&str] = &["image-tag", "secret-env", "resources", "liveness-probe"];
    // The real controller for a ReplicaSet owner: judged through the owner (security only).
    let real = sloppy_pod(owner("apps/v1", "ReplicaSet", "web-5d9f8"));
    let a = validate(
        &srv,
        Request::new("CREATE", real.clone()).by(RS_CONTROLLER, SA_GROUPS),
    )
    .await;
    assert!(
        a.allowed,
        "the controller must never be stalled: {}",
        a.message
    );
    let cases: Vec<(&str, Value, User)> = vec![
        (
            "a ConfigMap owner, by the tenant",
            sloppy_pod(owner("v1", "ConfigMap", "anchor")),
            TENANT,
        ),
        ("a ReplicaSet owner, by the tenant", real.clone(), TENANT),
        (
            "a ReplicaSet owner, by another kube-system account",
            real.clone(),
            ("system:serviceaccount:kube-system:coredns", SA_GROUPS),
        ),
        (
            "a ReplicaSet owner, by the deployment controller (not the one for Pods)",
            real.clone(),
            (DEPLOY_CONTROLLER, SA_GROUPS),
        ),
        (
            "a Deployment owner (the replicaset controller never makes Pods for one)",
            sloppy_pod(owner("apps/v1", "Deployment", "web")),
            (RS_CONTROLLER, SA_GROUPS),
        ),
        (
            "a ReplicaSet of another API group",
            sloppy_pod(owner("example.com/v1", "ReplicaSet", "web-5d9f8")),
            (RS_CONTROLLER, SA_GROUPS),
        ),
        (
            "a service account named like the controller in the tenant's namespace",
            real.clone(),
            (
                "system:serviceaccount:team:replicaset-controller",
                &["system:serviceaccounts:team"],
            ),
        ),
    ];
    for (why, pod, user) in cases {
        let a = validate(&srv, Request::new("CREATE", pod.clone()).by(user.0, user.1)).await;
        assert!(!a.allowed, "{why}: admitted");
        denied_for(&a, JUDGED_AS_ITSELF);
        // ... and mutated as itself: the defaults are patched in.
        let m = send(
            &srv,
            "/mutate",
            &Request::new("CREATE", pod).by(user.0, user.1),
        )
        .await;
        let patch = m.patch.unwrap_or_else(|| panic!("{why}: no patch"));
        assert!(patch.to_string().contains("/resources"), "{why}: {patch}");
    }
    // A Deployment with a forged owner: 1 replica, Recreate, no probes: denied.
    let mut d = good_deployment("team");
    d["metadata"]["ownerReferences"] = json!([owner("v1", "ConfigMap", "anchor")]);
    let d = set(d, "/spec/replicas", json!(1));
    let d = set(d, "/spec/strategy", json!({"type": "Recreate"}));
    denied_for(
        &validate(&srv, Request::new("CREATE", d)).await,
        &["replicas", "rolling-update"],
    );
}

// ---------------------------------------------------------------------------------------
// 4. Namespaces born switched off, or with a name that is exempt.

#[tokio::test]
async fn namespaces_born_exempt() {
    let srv = server(stand_in()).await;
    let ns = |name: &str, mode: Option<&str>| {
        let mut labels = json!({"kubernetes.io/metadata.name": name});
        if let Some(m) = mode {
            labels["bulwark.dev/mode"] = json!(m);
        }
        json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name, "labels": labels}})
    };
    for (why, obj) in [
        ("born off", ns("sandbox", Some("off"))),
        ("born in audit", ns("sandbox", Some("audit"))),
        (
            "an exempt name (cert-manager, not installed yet)",
            ns("cert-manager", None),
        ),
        ("a policy-exempt name", ns("kube-public", None)),
        (
            "a namespace exceptions are delegated to",
            ns("payments", None),
        ),
    ] {
        let a = validate(&srv, Request::new("CREATE", obj.clone())).await;
        assert!(!a.allowed, "{why}: admitted");
        assert!(
            a.message.contains("only exemption admins"),
            "{why}: {}",
            a.message
        );
        // The cluster admin may.
        let a = validate(
            &srv,
            Request::new("CREATE", obj).by("admin", &["system:masters"]),
        )
        .await;
        assert!(a.allowed, "{why}, by an admin: {}", a.message);
    }
    let a = validate(&srv, Request::new("CREATE", ns("sandbox", Some("enforce")))).await;
    assert!(a.allowed, "{}", a.message);
    let a = validate(&srv, Request::new("CREATE", ns("sandbox", None))).await;
    assert!(a.allowed, "{}", a.message);
}

// ---------------------------------------------------------------------------------------
// 5. `kubectl scale`.

fn scale(resource: (&'static str, &'static str), replicas: i64) -> Request<'static> {
    let object = json!({"apiVersion": "autoscaling/v1", "kind": "Scale",
        "metadata": {"name": "web", "namespace": "team"},
        "spec": {"replicas": replicas}, "status": {"replicas": 3}});
    let old = set(object.clone(), "/spec/replicas", json!(3));
    let mut r = Request::new("UPDATE", object).old(old).sub("scale");
    r.kind = Some(("autoscaling", "Scale"));
    r.resource = Some(resource);
    r
}

#[tokio::test]
async fn scale_subresources_are_judged() {
    let srv = server(stand_in()).await;
    for resource in [
        ("apps", "deployments"),
        ("apps", "statefulsets"),
        ("apps", "replicasets"),
        ("", "replicationcontrollers"),
    ] {
        let a = validate(&srv, scale(resource, 1)).await;
        denied_for(&a, &["replicas"]);
        assert!(a.message.contains("spec.replicas"), "{}", a.message);
        let a = validate(&srv, scale(resource, 2)).await;
        assert!(a.allowed, "{resource:?} to 2: {}", a.message);
    }
    // With an HPA holding the floor, the HPA owns the count: its own scaling goes through.
    let mut c = stand_in();
    c.hpas.push((
        "team".into(),
        "Deployment/web".into(),
        HpaInfo {
            name: "web".into(),
            min_replicas: 3,
            max_replicas: 10,
        },
    ));
    let srv = server(c).await;
    let a = validate(&srv, scale(("apps", "deployments"), 1)).await;
    assert!(a.allowed, "{}", a.message);
}

// ---------------------------------------------------------------------------------------
// 7. Objects being deleted; subresources.

#[tokio::test]
async fn deleting_objects_and_subresources() {
    let srv = server(stand_in()).await;
    let deleting = |v: Value| {
        set(
            v,
            "/metadata/deletionTimestamp",
            json!("2026-11-30T10:00:00Z"),
        )
    };
    // A finalizer keeps the Deployment around; a template change still counts.
    let d = deleting(good_deployment("team"));
    let armed = deleting(weaponized_deployment("team"));
    denied_for(
        &validate(&srv, Request::new("UPDATE", armed).old(d.clone())).await,
        &["privileged", "host-path-volumes"],
    );
    // Removing the finalizer (nothing else) always goes through, even for an object that
    // predates enforcement.
    let legacy = deleting(weaponized_deployment("team"));
    let mut released = legacy.clone();
    released["metadata"]["finalizers"] = json!([]);
    let mut held = legacy;
    held["metadata"]["finalizers"] = json!(["example.com/hold"]);
    let a = validate(&srv, Request::new("UPDATE", released).old(held)).await;
    assert!(a.allowed, "{}", a.message);
    // A deleting Pod gets no debugger either.
    let pod = deleting(rs_pod(
        good_pod_spec(),
        &json!({"labels": {"app.kubernetes.io/name": "web"}}),
    ));
    denied_for(
        &validate(
            &srv,
            Request::new("UPDATE", with_debugger(pod.clone()))
                .old(pod.clone())
                .sub("ephemeralcontainers"),
        )
        .await,
        &["privileged"],
    );
    // A Pod UPDATE that only changes the AppArmor annotation is judged.
    let unconfined = set(
        pod.clone(),
        "/metadata/annotations",
        json!({"container.apparmor.security.beta.kubernetes.io/app": "unconfined"}),
    );
    let a = validate(&srv, Request::new("UPDATE", unconfined).old(pod.clone())).await;
    denied_for(&a, &["apparmor-profile"]);
    // `resize` carries the whole Pod and is judged like it.
    let no_limits = set(pod.clone(), "/spec/containers/0/resources", json!({}));
    let a = validate(
        &srv,
        Request::new("UPDATE", no_limits)
            .old(pod.clone())
            .sub("resize"),
    )
    .await;
    denied_for(&a, &["resources"]);
    // `status` cannot change spec or metadata (the API server keeps them from storage), so
    // it is not judged: the kubelet and controllers keep reporting on legacy objects.
    let a = validate(
        &srv,
        Request::new("UPDATE", with_debugger(pod.clone()))
            .old(pod)
            .sub("status"),
    )
    .await;
    assert!(a.allowed, "{}", a.message);
}
