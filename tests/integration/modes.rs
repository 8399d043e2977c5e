//! Enforcement modes, namespace opt-in, exemptions and cluster-aware checks, through
//! `Admission::review` with a fake `Cluster`: the whole mode x origin matrix as table tests.
//!
//! Every case names the rules it expects denied and the rules it expects reported without
//! denial (warnings or audit), exactly: a rule that appears or vanishes fails the case.

use std::collections::{BTreeMap, BTreeSet};

use bulwark::admission::{Admission, Cluster, Decision, Endpoint, MODE_LABEL, Outcome};
use bulwark::config::{Mode, Policy};
use bulwark::engine::exemptions::{Exception, LEGACY_EXEMPT, parse_date};
use bulwark::engine::{HpaInfo, Inventory, NetworkPolicyInfo, PdbInfo, QuotaInfo, Severity};
use bulwark::workload::{IntOrString, LabelSelector};
use serde_json::{Value, json};

const OWN_NAMESPACE: &str = "bulwark-system";
const TODAY: &str = "2026-01-31";

fn today() -> i64 {
    parse_date(TODAY).expect("date")
}

// ---------------------------------------------------------------------------------------
// The fake cluster.

/// Cluster state as a test wants it. `synced: false` answers "no data" everywhere, as the
/// reflector-backed cluster does before its caches have their initial lists.
#[derive(Clone)]
struct Fake {
    synced: bool,
    namespaces: BTreeMap<String, BTreeMap<String, String>>,
    pdbs: Vec<PdbInfo>,
    hpas: Vec<(String, String, String, HpaInfo)>,
    exceptions: Vec<Exception>,
    /// `None`: the fake has no data on them (as a cluster without the watch).
    network_policies: Option<Vec<NetworkPolicyInfo>>,
    quotas: Option<Vec<(String, QuotaInfo)>>,
}

impl Inventory for Fake {
    fn pdbs(&self, namespace: &str) -> Option<Vec<PdbInfo>> {
        self.synced.then(|| {
            self.pdbs
                .iter()
                .filter(|p| p.namespace == namespace)
                .cloned()
                .collect()
        })
    }

    fn hpa_for(&self, namespace: &str, kind: &str, name: &str) -> Option<Option<HpaInfo>> {
        self.synced.then(|| {
            self.hpas
                .iter()
                .find(|(ns, k, n, _)| {
                    (ns.as_str(), k.as_str(), n.as_str()) == (namespace, kind, name)
                })
                .map(|(_, _, _, h)| h.clone())
        })
    }

    fn exceptions(&self, namespace: &str, own_namespace: &str) -> Option<Vec<Exception>> {
        self.synced.then(|| {
            self.exceptions
                .iter()
                .filter(|e| e.namespace == namespace || e.namespace == own_namespace)
                .cloned()
                .collect()
        })
    }

    fn network_policies(&self, namespace: &str) -> Option<Vec<NetworkPolicyInfo>> {
        let all = self.network_policies.as_ref().filter(|_| self.synced)?;
        Some(
            all.iter()
                .filter(|p| p.namespace == namespace)
                .cloned()
                .collect(),
        )
    }

    fn resource_quotas(&self, namespace: &str) -> Option<Vec<QuotaInfo>> {
        let all = self.quotas.as_ref().filter(|_| self.synced)?;
        Some(
            all.iter()
                .filter(|(ns, _)| ns == namespace)
                .map(|(_, q)| q.clone())
                .collect(),
        )
    }

    fn is_complete(&self) -> bool {
        false // a live cluster
    }
}

impl Cluster for Fake {
    fn namespace_labels(&self, name: &str) -> Option<BTreeMap<String, String>> {
        if !self.synced {
            return None;
        }
        self.namespaces.get(name).cloned()
    }

    fn as_inventory(&self) -> &dyn Inventory {
        self
    }
}

fn labels(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
    pairs
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect()
}

fn web_selector() -> LabelSelector {
    LabelSelector {
        match_labels: labels(&[("app.kubernetes.io/name", "web")]),
        match_expressions: Vec::new(),
    }
}

fn pdb(name: &str, min: Option<IntOrString>, max: Option<IntOrString>) -> PdbInfo {
    PdbInfo {
        namespace: "shop".into(),
        name: name.into(),
        selector: Some(web_selector()),
        min_available: min,
        max_unavailable: max,
    }
}

/// Namespace `shop` with `ns_labels` (and `legacy`, unlabelled), a PDB allowing one
/// disruption for the `web` pods, no HPA.
fn cluster(ns_labels: &[(&str, &str)]) -> Fake {
    Fake {
        synced: true,
        namespaces: [
            ("shop".to_owned(), labels(ns_labels)),
            ("legacy".to_owned(), BTreeMap::new()),
        ]
        .into_iter()
        .collect(),
        pdbs: vec![pdb("web", None, Some(IntOrString::Int(1)))],
        hpas: Vec::new(),
        exceptions: Vec::new(),
        network_policies: None,
        quotas: None,
    }
}

fn unlabelled() -> Fake {
    cluster(&[])
}

fn labelled(mode: &str) -> Fake {
    cluster(&[(MODE_LABEL, mode)])
}

fn with_pdbs(mut c: Fake, pdbs: Vec<PdbInfo>) -> Fake {
    c.pdbs = pdbs;
    c
}

fn with_hpa(mut c: Fake, min: i64) -> Fake {
    c.hpas.push((
        "shop".into(),
        "Deployment".into(),
        "web".into(),
        HpaInfo {
            name: "web".into(),
            min_replicas: min,
            max_replicas: 10,
        },
    ));
    c
}

/// The cluster with these BulwarkExceptions (as `bulwark check` or the reflector reads them).
fn with_exceptions(mut c: Fake, exceptions: &[Value]) -> Fake {
    c.exceptions = exceptions.iter().map(exception_view).collect();
    c
}

fn exception_view(v: &Value) -> Exception {
    let w = bulwark::workload::Workload::from_value(v).expect("an exception parses");
    Exception::from_workload(&w).expect("a BulwarkException")
}

/// A BulwarkException in `namespace` lifting `rules` for `names`; `spec` adds or overrides.
fn bex(namespace: &str, rules: &[&str], names: &[&str], spec: Value) -> Value {
    let mut s = json!({"rules": rules, "names": names, "reason": "node agent, ticket OPS-1"});
    if namespace == OWN_NAMESPACE {
        s["namespaces"] = json!(["shop"]);
    }
    for (k, v) in spec.as_object().cloned().unwrap_or_default() {
        s[k.as_str()] = v;
    }
    json!({"apiVersion": "bulwark.dev/v1alpha1", "kind": "BulwarkException",
        "metadata": {"name": "web-privileged", "namespace": namespace}, "spec": s})
}

fn unsynced() -> Fake {
    Fake {
        synced: false,
        ..unlabelled()
    }
}

// ---------------------------------------------------------------------------------------
// Objects.

/// A Deployment in `shop` that passes every rule (with the PDB of `cluster`).
fn good_deploy() -> Value {
    json!({
        "apiVersion": "apps/v1", "kind": "Deployment",
        "metadata": {"name": "web", "namespace": "shop", "labels": {"app.kubernetes.io/name": "web"}},
        "spec": {
            "replicas": 3,
            "selector": {"matchLabels": {"app.kubernetes.io/name": "web"}},
            "strategy": {"type": "RollingUpdate", "rollingUpdate": {"maxUnavailable": 0, "maxSurge": 1}},
            "template": {
                "metadata": {"labels": {"app.kubernetes.io/name": "web"}},
                "spec": {
                    "serviceAccountName": "web",
                    "automountServiceAccountToken": false,
                    "securityContext": {"runAsNonRoot": true, "seccompProfile": {"type": "RuntimeDefault"}},
                    "topologySpreadConstraints": [{"maxSkew": 1, "topologyKey": "kubernetes.io/hostname",
                        "whenUnsatisfiable": "ScheduleAnyway",
                        "labelSelector": {"matchLabels": {"app.kubernetes.io/name": "web"}}}],
                    "containers": [{
                        "name": "app",
                        "image": "registry.example.com/shop/web:1.4.2",
                        "ports": [{"name": "http", "containerPort": 8080}],
                        "readinessProbe": {"httpGet": {"path": "/ready", "port": "http"}},
                        "livenessProbe": {"httpGet": {"path": "/health", "port": "http"}},
                        "lifecycle": {"preStop": {"sleep": {"seconds": 5}}},
                        "resources": {"requests": {"cpu": "250m", "memory": "256Mi"},
                                      "limits": {"cpu": "1", "memory": "512Mi"}},
                        "securityContext": {"allowPrivilegeEscalation": false, "readOnlyRootFilesystem": true,
                            "capabilities": {"drop": ["ALL"]}, "privileged": false}
                    }]
                }
            }
        }
    })
}

/// Sets `pointer` (created if missing, one level) to `value`.
fn set(mut v: Value, pointer: &str, value: Value) -> Value {
    let (parent, key) = pointer.rsplit_once('/').expect("pointer");
    v.pointer_mut(parent)
        .and_then(Value::as_object_mut)
        .unwrap_or_else(|| panic!("no object at {parent}"))
        .insert(key.replace("~1", "/").replace("~0", "~"), value);
    v
}

fn remove(mut v: Value, pointer: &str) -> Value {
    let (parent, key) = pointer.rsplit_once('/').expect("pointer");
    if let Some(o) = v.pointer_mut(parent).and_then(Value::as_object_mut) {
        o.remove(key);
    }
    v
}

fn in_namespace(v: Value, ns: &str) -> Value {
    set(v, "/metadata/namespace", json!(ns))
}

/// `good_deploy` with a privileged container: only `privileged` fails.
fn privileged() -> Value {
    set(
        good_deploy(),
        "/spec/template/spec/containers/0/securityContext/privileged",
        json!(true),
    )
}

fn replicas(v: Value, n: i64) -> Value {
    set(v, "/spec/replicas", json!(n))
}

fn unspread(v: Value) -> Value {
    remove(v, "/spec/template/spec/topologySpreadConstraints")
}

fn annotated(v: Value, pairs: &[(&str, &str)]) -> Value {
    let ann: serde_json::Map<String, Value> = pairs
        .iter()
        .map(|(k, val)| ((*k).to_owned(), json!(val)))
        .collect();
    set(v, "/metadata/annotations", Value::Object(ann))
}

/// `privileged()` carrying the old exemption annotations, which grant nothing any more.
fn legacy_exempted() -> Value {
    annotated(
        privileged(),
        &[
            (LEGACY_EXEMPT, "privileged"),
            ("bulwark.dev/exempt-reason", "node agent, ticket OPS-1"),
        ],
    )
}

/// The pod template of a workload as a bare Pod (metadata of the workload, so the same
/// annotations).
fn to_pod(workload: Value) -> Value {
    json!({"apiVersion": "v1", "kind": "Pod", "metadata": workload["metadata"].clone(),
        "spec": workload["spec"]["template"]["spec"].clone()})
}

/// `workload` as a controller-created `kind` (a ReplicaSet keeps the workload's spec, a
/// Pod takes its template), named and labelled as the built-in controllers do, owned by an
/// `owner` (`apps/v1` kind) named `owner_name`.
fn controlled_by(workload: Value, kind: &str, owner: &str, owner_name: &str) -> Value {
    let obj = if kind == "Pod" {
        let pod = to_pod(workload);
        let pod = set(pod, "/metadata/name", json!(format!("{owner_name}-x7k2p")));
        set(pod, "/metadata/labels/pod-template-hash", json!("5d9f8"))
    } else {
        let rs = set(workload, "/kind", json!(kind));
        set(rs, "/metadata/name", json!("web-5d9f8"))
    };
    set(
        obj,
        "/metadata/ownerReferences",
        json!([{"apiVersion": "apps/v1", "kind": owner, "name": owner_name, "uid": "0b9f-owner",
            "controller": true, "blockOwnerDeletion": true}]),
    )
}

/// A ReplicaSet made for Deployment `web`, or a Pod made for ReplicaSet `web-5d9f8`.
fn controlled(workload: Value, kind: &str, owner: &str) -> Value {
    let owner_name = if owner == "ReplicaSet" {
        "web-5d9f8"
    } else {
        "web"
    };
    controlled_by(workload, kind, owner, owner_name)
}

fn namespace(name: &str, mode: Option<&str>) -> Value {
    let mut l = json!({"pod-security.kubernetes.io/enforce": "restricted"});
    if let Some(m) = mode {
        l[MODE_LABEL] = json!(m);
    }
    json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name, "labels": l}})
}

fn hpa(min: Option<i64>, max: i64) -> Value {
    let mut spec = json!({"scaleTargetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": "web"},
        "maxReplicas": max});
    if let Some(m) = min {
        spec["minReplicas"] = json!(m);
    }
    json!({"apiVersion": "autoscaling/v2", "kind": "HorizontalPodAutoscaler",
        "metadata": {"name": "web", "namespace": "shop"}, "spec": spec})
}

fn pdb_object(spec: Value) -> Value {
    let mut spec = spec;
    spec["selector"] = json!({"matchLabels": {"app.kubernetes.io/name": "web"}});
    json!({"apiVersion": "policy/v1", "kind": "PodDisruptionBudget",
        "metadata": {"name": "web", "namespace": "shop"}, "spec": spec})
}

// ---------------------------------------------------------------------------------------
// Requests and expectations.

const DEV: (&str, &[&str]) = ("alice", &["developers", "system:authenticated"]);
/// An exemption admin by name (see `ADMINS`).
const ADMIN: (&str, &[&str]) = ("carol", &["developers", "system:authenticated"]);
/// An exemption admin by group (see `ADMINS`).
const PLATFORM: (&str, &[&str]) = ("dave", &["platform-team", "system:authenticated"]);

const DEPLOYMENT_CONTROLLER: (&str, &[&str]) = (
    "system:serviceaccount:kube-system:deployment-controller",
    &[
        "system:serviceaccounts",
        "system:serviceaccounts:kube-system",
        "system:authenticated",
    ],
);
const REPLICASET_CONTROLLER: (&str, &[&str]) = (
    "system:serviceaccount:kube-system:replicaset-controller",
    &[
        "system:serviceaccounts",
        "system:serviceaccounts:kube-system",
        "system:authenticated",
    ],
);

/// Policy fragment naming the exemption admins.
const ADMINS: &str =
    "admission:\n  exemptionAdminUsers: [carol]\n  exemptionAdminGroups: [platform-team]\n";

fn review_body(op: &str, object: &Value, old: Option<&Value>, user: (&str, &[&str])) -> Vec<u8> {
    let kind = object["kind"].as_str().expect("kind");
    let group = object["apiVersion"]
        .as_str()
        .and_then(|v| v.rsplit_once('/'))
        .map_or("", |(g, _)| g);
    let namespace = if kind == "Namespace" {
        Value::Null
    } else {
        object["metadata"]["namespace"].clone()
    };
    serde_json::to_vec(&json!({
        "apiVersion": "admission.k8s.io/v1",
        "kind": "AdmissionReview",
        "request": {
            "uid": "3f1c-modes",
            "kind": {"group": group, "version": "v1", "kind": kind},
            "resource": {"group": group, "version": "v1", "resource": format!("{}s", kind.to_lowercase())},
            "namespace": namespace,
            "name": object["metadata"]["name"],
            "operation": op,
            "userInfo": {"username": user.0, "groups": user.1},
            "object": object,
            "oldObject": old,
        }
    }))
    .expect("json")
}

fn policy(yaml: &str) -> Policy {
    Policy::from_yaml(yaml).unwrap_or_else(|e| panic!("policy {yaml:?}: {e}"))
}

fn review(
    policy: &Policy,
    cluster: Option<&Fake>,
    op: &str,
    object: &Value,
    old: Option<&Value>,
    user: (&str, &[&str]),
) -> Outcome {
    let admission = Admission {
        policy,
        cluster: cluster.map(|c| c as &dyn Cluster),
        own_namespace: OWN_NAMESPACE,
        today: today(),
    };
    admission
        .review(Endpoint::Validate, &review_body(op, object, old, user))
        .expect("a usable AdmissionReview")
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Verdict {
    /// Not evaluated at all: allowed, no findings, no warnings.
    Skipped,
    /// Evaluated, nothing to say.
    Allowed,
    /// Admitted with warnings / audit findings.
    Warned,
    /// Denied (403).
    Denied,
}

struct Want {
    verdict: Verdict,
    /// The mode the object was judged in (`None`: don't care).
    mode: Option<Mode>,
    /// Rule ids denied, exactly.
    denied: &'static [&'static str],
    /// Rule ids reported without denying (warnings and audit), exactly.
    reported: &'static [&'static str],
}

const fn skipped(mode: Option<Mode>) -> Want {
    Want {
        verdict: Verdict::Skipped,
        mode,
        denied: &[],
        reported: &[],
    }
}

const fn allowed(mode: Mode) -> Want {
    Want {
        verdict: Verdict::Allowed,
        mode: Some(mode),
        denied: &[],
        reported: &[],
    }
}

const fn warned(mode: Mode, reported: &'static [&'static str]) -> Want {
    Want {
        verdict: Verdict::Warned,
        mode: Some(mode),
        denied: &[],
        reported,
    }
}

const fn denied(denied: &'static [&'static str], reported: &'static [&'static str]) -> Want {
    Want {
        verdict: Verdict::Denied,
        mode: Some(Mode::Enforce),
        denied,
        reported,
    }
}

struct Case {
    name: &'static str,
    policy: &'static str,
    cluster: Option<Fake>,
    op: &'static str,
    object: Value,
    old: Option<Value>,
    user: (&'static str, &'static [&'static str]),
    want: Want,
}

impl Case {
    fn new(
        name: &'static str,
        policy: &'static str,
        cluster: Option<Fake>,
        object: Value,
        want: Want,
    ) -> Case {
        Case {
            name,
            policy,
            cluster,
            op: "CREATE",
            object,
            old: None,
            user: DEV,
            want,
        }
    }

    fn by(mut self, user: (&'static str, &'static [&'static str])) -> Case {
        self.user = user;
        self
    }

    fn update(mut self, old: Value) -> Case {
        self.op = "UPDATE";
        self.old = Some(old);
        self
    }
}

fn ids<'a>(it: impl Iterator<Item = &'a str>) -> BTreeSet<&'a str> {
    it.collect()
}

/// Checks one outcome against `want`; every mismatch names the case.
fn check(name: &str, out: &Outcome, want: &Want) {
    let ctx = || {
        format!(
            "case {name:?}: decision {:?} mode {:?} status {:?} warnings {:#?} findings {:#?}",
            out.decision, out.mode, out.status, out.warnings, out.findings
        )
    };
    let decision = match want.verdict {
        Verdict::Skipped => Decision::Skipped,
        Verdict::Allowed => Decision::Allowed,
        Verdict::Warned => Decision::Warned,
        Verdict::Denied => Decision::Denied,
    };
    assert_eq!(out.decision, decision, "{}", ctx());
    assert_eq!(out.allowed, want.verdict != Verdict::Denied, "{}", ctx());
    if let Some(mode) = want.mode {
        assert_eq!(out.mode, mode, "{}", ctx());
    }
    let denied = ids(out
        .findings
        .iter()
        .filter(|(f, m)| *m == Mode::Enforce && f.severity == Severity::Error)
        .map(|(f, _)| f.rule));
    let reported = ids(out
        .findings
        .iter()
        .filter(|(f, m)| !(*m == Mode::Enforce && f.severity == Severity::Error))
        .map(|(f, _)| f.rule));
    assert_eq!(
        denied,
        ids(want.denied.iter().copied()),
        "denied rules: {}",
        ctx()
    );
    assert_eq!(
        reported,
        ids(want.reported.iter().copied()),
        "reported rules: {}",
        ctx()
    );
    match want.verdict {
        Verdict::Skipped | Verdict::Allowed => {
            assert!(out.warnings.is_empty(), "{}", ctx());
            assert!(out.status.is_none(), "{}", ctx());
        }
        Verdict::Warned => assert!(out.status.is_none(), "{}", ctx()),
        Verdict::Denied => {
            let (code, msg) = out.status.clone().expect("status");
            assert_eq!(code, 403, "{}", ctx());
            for rule in want.denied {
                assert!(
                    msg.contains(&format!("[{rule}]")),
                    "{rule} not in the denial: {}",
                    ctx()
                );
            }
        }
    }
    // Every reported finding reaches the user as a warning naming its rule.
    for rule in want.reported {
        assert!(
            out.warnings
                .iter()
                .any(|w| w.contains(&format!(" {rule}: "))),
            "{rule} has no warning: {}",
            ctx()
        );
    }
}

fn run(cases: Vec<Case>) {
    let mut names = BTreeSet::new();
    for case in &cases {
        assert!(
            names.insert(case.name),
            "duplicate case name {:?}",
            case.name
        );
        let policy = policy(case.policy);
        let out = review(
            &policy,
            case.cluster.as_ref(),
            case.op,
            &case.object,
            case.old.as_ref(),
            case.user,
        );
        check(case.name, &out, &case.want);
    }
}

// ---------------------------------------------------------------------------------------
// The matrix.

const ENFORCE: &str = "mode: enforce\n";
const AUDIT: &str = "mode: audit\n";
const OFF: &str = "mode: off\n";
const OPT_IN: &str = "scope: opt-in\n";
const OPT_IN_AUDIT: &str = "scope: opt-in\nmode: audit\n";

#[test]
fn cluster_default_mode_and_namespace_label() {
    use Mode::*;
    const P: &[&str] = &["privileged"];
    run(vec![
        // Cluster default, namespace known and unlabelled.
        Case::new(
            "enforce, unlabelled: denies",
            ENFORCE,
            Some(unlabelled()),
            privileged(),
            denied(P, &[]),
        ),
        Case::new(
            "audit, unlabelled: admits with warnings",
            AUDIT,
            Some(unlabelled()),
            privileged(),
            warned(Audit, P),
        ),
        Case::new(
            "off, unlabelled: not evaluated",
            OFF,
            Some(unlabelled()),
            privileged(),
            skipped(Some(Off)),
        ),
        Case::new(
            "enforce, clean object: allowed",
            ENFORCE,
            Some(unlabelled()),
            good_deploy(),
            allowed(Enforce),
        ),
        Case::new(
            "audit, clean object: allowed without warnings",
            AUDIT,
            Some(unlabelled()),
            good_deploy(),
            allowed(Audit),
        ),
        // The namespace label overrides the cluster default, both ways.
        Case::new(
            "enforce + label audit",
            ENFORCE,
            Some(labelled("audit")),
            privileged(),
            warned(Audit, P),
        ),
        Case::new(
            "enforce + label off",
            ENFORCE,
            Some(labelled("off")),
            privileged(),
            skipped(Some(Off)),
        ),
        Case::new(
            "enforce + label enforce",
            ENFORCE,
            Some(labelled("enforce")),
            privileged(),
            denied(P, &[]),
        ),
        Case::new(
            "audit + label enforce",
            AUDIT,
            Some(labelled("enforce")),
            privileged(),
            denied(P, &[]),
        ),
        Case::new(
            "audit + label off",
            AUDIT,
            Some(labelled("off")),
            privileged(),
            skipped(Some(Off)),
        ),
        Case::new(
            "off + label enforce",
            OFF,
            Some(labelled("enforce")),
            privileged(),
            denied(P, &[]),
        ),
        Case::new(
            "off + label audit",
            OFF,
            Some(labelled("audit")),
            privileged(),
            warned(Audit, P),
        ),
        // A label value that is not a mode does not count: the cluster default applies.
        Case::new(
            "enforce + label bogus",
            ENFORCE,
            Some(labelled("Audit")),
            privileged(),
            denied(P, &[]),
        ),
        Case::new(
            "audit + label bogus",
            AUDIT,
            Some(labelled("yes")),
            privileged(),
            warned(Audit, P),
        ),
        // Cluster scope, namespace unknown to the cache: the cluster default.
        Case::new(
            "enforce, namespace not in the cache",
            ENFORCE,
            Some(unlabelled()),
            in_namespace(privileged(), "brand-new"),
            denied(P, &["disruption-budget"]),
        ),
        // No cluster at all: the cluster default.
        Case::new(
            "enforce, no cluster",
            ENFORCE,
            None,
            privileged(),
            denied(P, &[]),
        ),
        Case::new(
            "audit, no cluster",
            AUDIT,
            None,
            privileged(),
            warned(Audit, P),
        ),
        Case::new(
            "off, no cluster",
            OFF,
            None,
            privileged(),
            skipped(Some(Off)),
        ),
        // Caches not synced yet: no namespace data, like no cluster.
        Case::new(
            "audit, caches unsynced",
            AUDIT,
            Some(unsynced()),
            privileged(),
            warned(Audit, P),
        ),
        // DELETE is never judged.
        Case {
            op: "DELETE",
            ..Case::new(
                "delete is never evaluated",
                ENFORCE,
                Some(unlabelled()),
                privileged(),
                skipped(Some(Enforce)),
            )
        },
    ]);
}

#[test]
fn opt_in_scope() {
    use Mode::*;
    const P: &[&str] = &["privileged"];
    run(vec![
        Case::new(
            "opt-in, unlabelled: not evaluated",
            OPT_IN,
            Some(unlabelled()),
            privileged(),
            skipped(Some(Off)),
        ),
        Case::new(
            "opt-in audit policy, unlabelled: not evaluated",
            OPT_IN_AUDIT,
            Some(unlabelled()),
            privileged(),
            skipped(Some(Off)),
        ),
        Case::new(
            "opt-in, label enforce: denies",
            OPT_IN,
            Some(labelled("enforce")),
            privileged(),
            denied(P, &[]),
        ),
        Case::new(
            "opt-in audit policy, label enforce: denies",
            OPT_IN_AUDIT,
            Some(labelled("enforce")),
            privileged(),
            denied(P, &[]),
        ),
        Case::new(
            "opt-in, label audit: warns",
            OPT_IN,
            Some(labelled("audit")),
            privileged(),
            warned(Audit, P),
        ),
        Case::new(
            "opt-in, label off: not evaluated",
            OPT_IN,
            Some(labelled("off")),
            privileged(),
            skipped(Some(Off)),
        ),
        Case::new(
            "opt-in, bogus label: not opted in",
            OPT_IN,
            Some(labelled("on")),
            privileged(),
            skipped(Some(Off)),
        ),
        // Without namespace data (no cluster, caches unsynced, namespace not in the cache)
        // bulwark cannot tell; the webhook's namespaceSelector (bulwark.dev/mode in
        // (enforce, audit)) already limited the requests it receives to opted-in namespaces,
        // so the policy mode applies.
        Case::new(
            "opt-in, no cluster: policy mode enforce",
            OPT_IN,
            None,
            privileged(),
            denied(P, &[]),
        ),
        Case::new(
            "opt-in, no cluster: policy mode audit",
            OPT_IN_AUDIT,
            None,
            privileged(),
            warned(Audit, P),
        ),
        Case::new(
            "opt-in, caches unsynced: policy mode",
            OPT_IN,
            Some(unsynced()),
            privileged(),
            denied(P, &[]),
        ),
        Case::new(
            "opt-in, namespace not in the cache: policy mode",
            OPT_IN,
            Some(unlabelled()),
            in_namespace(privileged(), "brand-new"),
            denied(P, &["disruption-budget"]),
        ),
        // A Namespace object is judged by its own labels.
        Case::new(
            "opt-in, Namespace without label: not evaluated",
            OPT_IN,
            Some(unlabelled()),
            json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "team"}}),
            skipped(Some(Off)),
        ),
        Case::new(
            "opt-in, Namespace labelled audit: its own findings audited",
            OPT_IN,
            Some(unlabelled()),
            json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "team", "labels": {MODE_LABEL: "audit"}}}),
            warned(Audit, &["namespace-pod-security"]),
        ),
    ]);
}

#[test]
fn per_rule_mode_override() {
    use Mode::*;
    // privileged and replicas (1 replica, a known cluster without HPA) both fail.
    let both = || replicas(privileged(), 1);
    run(vec![
        Case::new(
            "no override: both deny",
            ENFORCE,
            Some(unlabelled()),
            both(),
            denied(&["privileged", "replicas"], &[]),
        ),
        Case::new(
            "privileged audit: only replicas denies",
            "mode: enforce\nrules:\n  privileged: {mode: audit}\n",
            Some(unlabelled()),
            both(),
            denied(&["replicas"], &["privileged"]),
        ),
        Case::new(
            "privileged audit alone: admitted with its warning",
            "rules:\n  privileged: {mode: audit}\n",
            Some(unlabelled()),
            privileged(),
            warned(Enforce, &["privileged"]),
        ),
        Case::new(
            "privileged off: not reported at all",
            "rules:\n  privileged: {mode: off}\n",
            Some(unlabelled()),
            privileged(),
            allowed(Enforce),
        ),
        // A rule override never raises above the namespace's mode.
        Case::new(
            "namespace audit + rule enforce = audit",
            "rules:\n  privileged: {mode: enforce}\n",
            Some(labelled("audit")),
            both(),
            warned(Audit, &["privileged", "replicas"]),
        ),
        Case::new(
            "cluster audit + rule enforce = audit",
            "mode: audit\nrules:\n  privileged: {mode: enforce}\n",
            Some(unlabelled()),
            privileged(),
            warned(Audit, &["privileged"]),
        ),
        Case::new(
            "namespace off + rule enforce = off",
            "rules:\n  privileged: {mode: enforce}\n",
            Some(labelled("off")),
            privileged(),
            skipped(Some(Off)),
        ),
        Case::new(
            "opt-in unlabelled + rule enforce = not evaluated",
            "scope: opt-in\nrules:\n  privileged: {mode: enforce}\n",
            Some(unlabelled()),
            privileged(),
            skipped(Some(Off)),
        ),
        Case::new(
            "namespace enforce + rule audit = audit",
            "mode: off\nrules:\n  privileged: {mode: audit}\n",
            Some(labelled("enforce")),
            both(),
            denied(&["replicas"], &["privileged"]),
        ),
    ]);
    // The audit override shows in the outcome: the finding is judged in audit.
    let p = policy("rules:\n  privileged: {mode: audit}\n");
    let out = review(&p, Some(&unlabelled()), "CREATE", &both(), None, DEV);
    let modes: BTreeMap<&str, Mode> = out.findings.iter().map(|(f, m)| (f.rule, *m)).collect();
    assert_eq!(modes["privileged"], Mode::Audit);
    assert_eq!(modes["replicas"], Mode::Enforce);
    assert_eq!(out.audit_annotations["violations"], "replicas");
    assert_eq!(out.audit_annotations["audit-violations"], "privileged");
    assert!(
        out.warnings
            .iter()
            .any(|w| w.starts_with("bulwark [audit] error privileged:")),
        "{:?}",
        out.warnings
    );
}

/// The (rule, path) pairs that enforce denies equal the error-severity pairs audit reports,
/// for a set of varied objects, with the mode coming from the policy or from the label.
#[test]
fn audit_evaluates_exactly_as_enforce() {
    let objects: Vec<(&str, Value)> = vec![
        ("clean deployment", good_deploy()),
        ("privileged deployment", privileged()),
        (
            "single replica, unspread, no PDB",
            unspread(replicas(privileged(), 1)),
        ),
        (
            "bare pod",
            json!({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "p", "namespace": "shop"},
                "spec": {"hostNetwork": true, "containers": [{"name": "a", "image": "nginx",
                    "env": [{"name": "DB_PASSWORD", "value": "hunter2"}],
                    "securityContext": {"capabilities": {"add": ["SYS_ADMIN"]}}}],
                    "volumes": [{"name": "h", "hostPath": {"path": "/var/run"}}]}}),
        ),
        (
            "cronjob without resources",
            json!({"apiVersion": "batch/v1", "kind": "CronJob", "metadata": {"name": "c", "namespace": "shop"},
                "spec": {"schedule": "* * * * *", "jobTemplate": {"spec": {"template": {"spec": {
                    "restartPolicy": "Never", "containers": [{"name": "a", "image": "busybox:latest"}]}}}}}}),
        ),
        ("hpa with minReplicas 1", hpa(Some(1), 1)),
        ("statefulset, two replicas, no probes", {
            let mut v = set(replicas(good_deploy(), 2), "/kind", json!("StatefulSet"));
            v = remove(v, "/spec/strategy");
            v = remove(v, "/spec/template/spec/containers/0/readinessProbe");
            remove(v, "/spec/template/spec/containers/0/livenessProbe")
        }),
        (
            "namespace without pod security label",
            json!({"apiVersion": "v1", "kind": "Namespace",
            "metadata": {"name": "team", "labels": {"team": "a"}}}),
        ),
        (
            "a legacy exemption annotation",
            annotated(privileged(), &[(LEGACY_EXEMPT, "privileged")]),
        ),
    ];
    let clusters: Vec<(&str, Option<Fake>)> = vec![
        ("no cluster", None),
        ("cluster", Some(with_pdbs(unlabelled(), Vec::new()))),
        ("cluster with HPA", Some(with_hpa(unlabelled(), 1))),
    ];
    let pairs = |out: &Outcome, mode: Mode| -> BTreeSet<(String, String)> {
        out.findings
            .iter()
            .filter(|(f, m)| *m == mode && f.severity == Severity::Error)
            .map(|(f, _)| (f.rule.to_owned(), f.path.clone()))
            .collect()
    };
    let mut denials = 0;
    for (cname, cluster) in &clusters {
        for (oname, object) in &objects {
            let name = format!("{oname} / {cname}");
            let enforce = review(
                &policy(ENFORCE),
                cluster.as_ref(),
                "CREATE",
                object,
                None,
                ADMIN,
            );
            let by_policy = review(
                &policy(AUDIT),
                cluster.as_ref(),
                "CREATE",
                object,
                None,
                ADMIN,
            );
            let by_label = cluster.as_ref().map(|c| {
                let mut c = c.clone();
                if object["kind"] != "Namespace" {
                    c.namespaces
                        .insert("shop".into(), labels(&[(MODE_LABEL, "audit")]));
                }
                let object = if object["kind"] == "Namespace" {
                    set(
                        object.clone(),
                        &format!("/metadata/labels/{}", MODE_LABEL.replace('/', "~1")),
                        json!("audit"),
                    )
                } else {
                    object.clone()
                };
                // Creating a namespace below the cluster default takes an exemption admin.
                let p = policy(&format!("{ENFORCE}{ADMINS}"));
                review(&p, Some(&c), "CREATE", &object, None, ADMIN)
            });
            let denied = pairs(&enforce, Mode::Enforce);
            assert_eq!(
                enforce.allowed,
                denied.is_empty(),
                "{name}: {:?}",
                enforce.status
            );
            if !denied.is_empty() {
                denials += 1;
                let msg = enforce.status.clone().expect("status").1;
                for (rule, path) in &denied {
                    assert!(
                        msg.contains(&format!("[{rule}] {path}"))
                            || msg.contains("more (run `bulwark check` for all)"),
                        "{name}: {rule} {path} not in {msg}"
                    );
                }
            }
            for (how, audit) in [("policy", Some(by_policy)), ("label", by_label)] {
                let Some(audit) = audit else { continue };
                assert!(audit.allowed, "{name} ({how}): audit must admit");
                assert_eq!(audit.mode, Mode::Audit, "{name} ({how})");
                assert_eq!(
                    pairs(&audit, Mode::Audit),
                    denied,
                    "{name} ({how}): audit must report exactly what enforce denies"
                );
                // Warnings are the same too, only tagged [audit].
                let warn_pairs = |out: &Outcome, mode: Mode| -> BTreeSet<(String, String)> {
                    out.findings
                        .iter()
                        .filter(|(f, m)| *m == mode && f.severity == Severity::Warning)
                        .map(|(f, _)| (f.rule.to_owned(), f.path.clone()))
                        .collect()
                };
                assert_eq!(
                    warn_pairs(&audit, Mode::Audit),
                    warn_pairs(&enforce, Mode::Enforce),
                    "{name} ({how})"
                );
                for (rule, path) in &denied {
                    assert!(
                        audit
                            .warnings
                            .iter()
                            .any(|w| w.starts_with(&format!("bulwark [audit] error {rule}:"))
                                && (w.contains(path.as_str()) || w.ends_with("..."))
                                || w.contains("omitted")),
                        "{name} ({how}): no audit warning for {rule} {path}: {:?}",
                        audit.warnings
                    );
                }
            }
        }
    }
    assert!(
        denials >= 10,
        "the objects must exercise denials ({denials})"
    );
}

#[test]
fn exceptions() {
    use Mode::*;
    const P: &[&str] = &["privileged"];
    const LEGACY: &[&str] = &["exemption"];
    let yesterday = "2026-01-30";
    let tomorrow = "2026-02-01";
    let central = |spec: Value| {
        with_exceptions(
            unlabelled(),
            &[bex(OWN_NAMESPACE, &["privileged"], &["web"], spec)],
        )
    };
    let granted = || central(json!({}));
    const DELEGATED: &str = "admission:\n  exceptionNamespaces: [shop]\n";
    run(vec![
        // Annotations grant nothing, whoever sets them: they are pointed out instead.
        Case::new(
            "legacy annotation by a normal user: not honoured",
            ADMINS,
            Some(unlabelled()),
            legacy_exempted(),
            denied(P, LEGACY),
        ),
        Case::new(
            "legacy annotation by an admin: not honoured",
            ADMINS,
            Some(unlabelled()),
            legacy_exempted(),
            denied(P, LEGACY),
        )
        .by(ADMIN),
        Case::new(
            "legacy annotation already on the old object: not honoured",
            ADMINS,
            Some(unlabelled()),
            legacy_exempted(),
            denied(P, LEGACY),
        )
        .update(set(legacy_exempted(), "/spec/replicas", json!(4))),
        Case::new(
            "legacy annotation in audit: audited, not honoured",
            AUDIT,
            Some(unlabelled()),
            legacy_exempted(),
            warned(Audit, &["privileged", "exemption"]),
        ),
        // A BulwarkException in bulwark's namespace, covering the namespace, kind and name.
        Case::new(
            "exception in bulwark's namespace: honoured",
            ENFORCE,
            Some(granted()),
            privileged(),
            allowed(Enforce),
        ),
        Case::new(
            "exception, UPDATE: honoured",
            ENFORCE,
            Some(granted()),
            privileged(),
            allowed(Enforce),
        )
        .update(good_deploy()),
        Case::new(
            "exception with a kind list that matches: honoured",
            ENFORCE,
            Some(central(json!({"kinds": ["Deployment"]}))),
            privileged(),
            allowed(Enforce),
        ),
        Case::new(
            "exception for another kind: not honoured",
            ENFORCE,
            Some(central(json!({"kinds": ["StatefulSet"]}))),
            privileged(),
            denied(P, &[]),
        ),
        Case::new(
            "exception by glob: honoured",
            ENFORCE,
            Some(central(json!({"names": ["w*"]}))),
            privileged(),
            allowed(Enforce),
        ),
        Case::new(
            "exception for another name: not honoured",
            ENFORCE,
            Some(central(json!({"names": ["api"]}))),
            privileged(),
            denied(P, &[]),
        ),
        Case::new(
            "exception for another namespace: not honoured",
            ENFORCE,
            Some(central(json!({"namespaces": ["other"]}))),
            privileged(),
            denied(P, &[]),
        ),
        Case::new(
            "exception of another rule: privileged still denies",
            ENFORCE,
            Some(central(json!({"rules": ["replicas"]}))),
            privileged(),
            denied(P, &[]),
        ),
        Case::new(
            "exception without a reason: not honoured",
            ENFORCE,
            Some(central(json!({"reason": " "}))),
            privileged(),
            denied(P, &[]),
        ),
        Case::new(
            "exception with an impossible date: not honoured",
            ENFORCE,
            Some(central(json!({"expires": "2026-02-30"}))),
            privileged(),
            denied(P, &[]),
        ),
        // Expiry: the day itself counts, the day after does not.
        Case::new(
            "expired yesterday: not honoured",
            ENFORCE,
            Some(central(json!({"expires": yesterday}))),
            privileged(),
            denied(P, &[]),
        ),
        Case::new(
            "expires today: honoured",
            ENFORCE,
            Some(central(json!({"expires": TODAY}))),
            privileged(),
            allowed(Enforce),
        ),
        Case::new(
            "expires tomorrow: honoured",
            ENFORCE,
            Some(central(json!({"expires": tomorrow}))),
            privileged(),
            allowed(Enforce),
        ),
        // Exceptions in a tenant's namespace count only where the policy delegates.
        Case::new(
            "exception in the tenant's own namespace: not honoured",
            ENFORCE,
            Some(with_exceptions(
                unlabelled(),
                &[bex("shop", &["privileged"], &["web"], json!({}))],
            )),
            privileged(),
            denied(P, &[]),
        ),
        Case::new(
            "exception in a delegated namespace: honoured",
            DELEGATED,
            Some(with_exceptions(
                unlabelled(),
                &[bex("shop", &["privileged"], &["web"], json!({}))],
            )),
            privileged(),
            allowed(Enforce),
        ),
        Case::new(
            "exception in a delegated namespace reaching into another: not honoured",
            "admission:\n  exceptionNamespaces: [legacy]\n",
            Some(with_exceptions(
                unlabelled(),
                &[bex(
                    "legacy",
                    &["privileged"],
                    &["web"],
                    json!({"namespaces": ["shop"]}),
                )],
            )),
            privileged(),
            denied(P, &[]),
        ),
        Case::new(
            "exception, no cluster data: not honoured",
            ENFORCE,
            Some(Fake {
                synced: false,
                ..granted()
            }),
            privileged(),
            denied(P, &[]),
        ),
        // An exception for a Deployment covers what its controllers make for it, when the
        // built-in controller for that owner kind makes the request.
        Case::new(
            "ReplicaSet made by the deployment controller: honoured",
            ENFORCE,
            Some(central(json!({"kinds": ["Deployment"]}))),
            controlled(privileged(), "ReplicaSet", "Deployment"),
            allowed(Enforce),
        )
        .by(DEPLOYMENT_CONTROLLER),
        Case::new(
            "Pod made by the replicaset controller: honoured through the Deployment",
            ENFORCE,
            Some(central(json!({"kinds": ["Deployment"]}))),
            controlled(privileged(), "Pod", "ReplicaSet"),
            allowed(Enforce),
        )
        .by(REPLICASET_CONTROLLER),
        Case::new(
            "Pod made by kube-controller-manager's own identity: honoured",
            ENFORCE,
            Some(central(json!({"kinds": ["Deployment"]}))),
            controlled(privileged(), "Pod", "ReplicaSet"),
            allowed(Enforce),
        )
        .by(("system:kube-controller-manager", &["system:authenticated"])),
        Case::new(
            "Pod with a forged ownerReference, by a normal user: not honoured",
            ENFORCE,
            Some(central(json!({"kinds": ["Deployment"]}))),
            controlled(privileged(), "Pod", "ReplicaSet"),
            denied(P, &[]),
        ),
        Case::new(
            "Pod by the deployment controller (not the one for ReplicaSets): not honoured",
            ENFORCE,
            Some(central(json!({"kinds": ["Deployment"]}))),
            controlled(privileged(), "Pod", "ReplicaSet"),
            denied(P, &[]),
        )
        .by(DEPLOYMENT_CONTROLLER),
        Case::new(
            "uncontrolled Pod by a controller identity: not honoured",
            ENFORCE,
            Some(central(json!({"kinds": ["Deployment"]}))),
            set(to_pod(privileged()), "/metadata/name", json!("web-x7k2p")),
            denied(P, &[]),
        )
        .by(REPLICASET_CONTROLLER),
        Case::new(
            "controlled Pod by another namespace's service account: not honoured",
            ENFORCE,
            Some(central(json!({"kinds": ["Deployment"]}))),
            controlled(privileged(), "Pod", "ReplicaSet"),
            denied(P, &[]),
        )
        .by((
            "system:serviceaccount:shop:replicaset-controller",
            &["system:serviceaccounts", "system:serviceaccounts:shop"],
        )),
    ]);

    // The honoured exception is recorded with its source.
    let p = policy(ENFORCE);
    let out = review(&p, Some(&granted()), "CREATE", &privileged(), None, DEV);
    assert_eq!(out.exemptions.len(), 1, "{:?}", out.exemptions);
    assert_eq!(out.exemptions[0].rule, "privileged");
    assert_eq!(
        out.exemptions[0].source,
        bulwark::engine::report::ExemptionSource::Exception
    );
    let out = review(
        &p,
        Some(&unlabelled()),
        "CREATE",
        &legacy_exempted(),
        None,
        ADMIN,
    );
    assert!(
        out.warnings
            .iter()
            .any(|w| w.contains("annotations no longer grant exemptions")),
        "{:?}",
        out.warnings
    );
}

#[test]
fn exempt_namespaces_and_users_are_never_evaluated() {
    use Mode::*;
    run(vec![
        Case::new(
            "kube-system",
            ENFORCE,
            Some(labelled("enforce")),
            in_namespace(privileged(), "kube-system"),
            skipped(None),
        ),
        Case::new(
            "kube-public",
            ENFORCE,
            None,
            in_namespace(privileged(), "kube-public"),
            skipped(None),
        ),
        Case::new(
            "kube-node-lease",
            ENFORCE,
            None,
            in_namespace(privileged(), "kube-node-lease"),
            skipped(None),
        ),
        Case::new(
            "own namespace",
            ENFORCE,
            Some(unlabelled()),
            in_namespace(privileged(), OWN_NAMESPACE),
            skipped(None),
        ),
        Case::new(
            "own namespace even when not listed",
            "admission:\n  exemptNamespaces: []\n",
            None,
            in_namespace(privileged(), OWN_NAMESPACE),
            skipped(None),
        ),
        Case::new(
            "kube-system exempt even with an empty list (system namespaces always are)",
            "admission:\n  exemptNamespaces: []\n",
            None,
            in_namespace(privileged(), "kube-system"),
            skipped(None),
        ),
        Case::new(
            "configured exempt namespace",
            "admission:\n  exemptNamespaces: [legacy]\n",
            Some(unlabelled()),
            in_namespace(privileged(), "legacy"),
            skipped(None),
        ),
        Case::new(
            "exempt namespace under opt-in with an enforce label",
            "scope: opt-in\nadmission:\n  exemptNamespaces: [shop]\n",
            Some(labelled("enforce")),
            privileged(),
            skipped(None),
        ),
        Case::new(
            "exempt Namespace object itself",
            ENFORCE,
            None,
            json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "kube-system"}}),
            skipped(None),
        )
        .update(
            json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "kube-system"}}),
        ),
        Case::new(
            "exempt user",
            "admission:\n  exemptUsers: [system:serviceaccount:ci:deployer]\n",
            Some(labelled("enforce")),
            privileged(),
            skipped(Some(Enforce)),
        )
        .by((
            "system:serviceaccount:ci:deployer",
            &["system:serviceaccounts"],
        )),
        Case::new(
            "exempt group system:nodes",
            ENFORCE,
            Some(labelled("enforce")),
            privileged(),
            skipped(None),
        )
        .by(("system:node:n1", &["system:nodes"])),
        Case::new(
            "exempt group system:masters",
            ENFORCE,
            Some(labelled("enforce")),
            privileged(),
            skipped(None),
        )
        .by(("kubernetes-admin", &["system:masters"])),
        Case::new(
            "configured exempt group",
            "admission:\n  exemptGroups: [gitops]\n",
            Some(labelled("enforce")),
            privileged(),
            skipped(None),
        )
        .by(("argocd", &["gitops"])),
        Case::new(
            "system:nodes evaluated when removed from the list",
            "admission:\n  exemptGroups: []\n",
            Some(labelled("enforce")),
            privileged(),
            denied(&["privileged"], &[]),
        )
        .by(("system:node:n1", &["system:nodes"])),
        // An exemption admin is not an exempt user: their objects are judged.
        Case::new(
            "exemption admin is still evaluated",
            ADMINS,
            Some(unlabelled()),
            privileged(),
            denied(&["privileged"], &[]),
        )
        .by(ADMIN),
    ]);
}

/// (case name, policy, mode label before, mode label after, whether that lowers the mode).
type Transition = (
    &'static str,
    &'static str,
    Option<&'static str>,
    Option<&'static str>,
    bool,
);

#[test]
fn namespace_guard() {
    use Mode::*;
    let ns = |mode: Option<&str>| namespace("team", mode);
    let transitions: Vec<Transition> = vec![
        (
            "enforce -> audit",
            ENFORCE,
            Some("enforce"),
            Some("audit"),
            true,
        ),
        (
            "enforce -> off",
            ENFORCE,
            Some("enforce"),
            Some("off"),
            true,
        ),
        ("audit -> off", ENFORCE, Some("audit"), Some("off"), true),
        (
            "opt-in: enforce -> removed",
            OPT_IN,
            Some("enforce"),
            None,
            true,
        ),
        (
            "opt-in: audit -> removed",
            OPT_IN,
            Some("audit"),
            None,
            true,
        ),
        (
            "opt-in: enforce -> not a mode",
            OPT_IN,
            Some("enforce"),
            Some("Enforce"),
            true,
        ),
        (
            "cluster audit: enforce -> removed",
            AUDIT,
            Some("enforce"),
            None,
            true,
        ),
        (
            "cluster enforce: removed -> audit",
            ENFORCE,
            None,
            Some("audit"),
            true,
        ),
        (
            "cluster enforce: removed -> off",
            ENFORCE,
            None,
            Some("off"),
            true,
        ),
        (
            "cluster audit policy, enforce -> audit",
            AUDIT,
            Some("enforce"),
            Some("audit"),
            true,
        ),
        // Not lowering.
        (
            "cluster enforce: enforce -> removed (same mode)",
            ENFORCE,
            Some("enforce"),
            None,
            false,
        ),
        (
            "cluster enforce: audit -> removed (raises)",
            ENFORCE,
            Some("audit"),
            None,
            false,
        ),
        (
            "cluster enforce: off -> removed (raises)",
            ENFORCE,
            Some("off"),
            None,
            false,
        ),
        ("off -> audit", ENFORCE, Some("off"), Some("audit"), false),
        (
            "off -> enforce",
            ENFORCE,
            Some("off"),
            Some("enforce"),
            false,
        ),
        (
            "audit -> enforce",
            ENFORCE,
            Some("audit"),
            Some("enforce"),
            false,
        ),
        (
            "opt-in: removed -> audit",
            OPT_IN,
            None,
            Some("audit"),
            false,
        ),
        (
            "opt-in: removed -> enforce",
            OPT_IN,
            None,
            Some("enforce"),
            false,
        ),
        ("unchanged", ENFORCE, Some("audit"), Some("audit"), false),
        (
            "opt-in: unchanged off",
            OPT_IN,
            Some("off"),
            Some("off"),
            false,
        ),
    ];
    let admin_policy = |p: &str| format!("{p}{ADMINS}");
    let mut n = 0;
    for (name, pol, before, after, lowering) in transitions {
        for (who, user) in [
            ("normal user", DEV),
            ("admin user", ADMIN),
            ("admin group", PLATFORM),
        ] {
            let case = format!("{name} by {who}");
            let p = policy(&admin_policy(pol));
            let out = review(
                &p,
                Some(&unlabelled()),
                "UPDATE",
                &ns(after),
                Some(&ns(before)),
                user,
            );
            let must_deny = lowering && who == "normal user";
            assert_eq!(out.allowed, !must_deny, "case {case:?}: {:?}", out.status);
            if must_deny {
                assert_eq!(out.decision, Decision::Denied, "case {case:?}");
                assert_eq!(out.mode, Mode::Enforce, "case {case:?}");
                let msg = out.status.clone().expect("status").1;
                assert!(
                    msg.contains("only exemption admins may lower"),
                    "case {case:?}: {msg}"
                );
                assert!(msg.contains("\"team\""), "case {case:?}: {msg}");
            }
            n += 1;
        }
    }
    assert_eq!(n, 60);
    // Other labels changing leave the guard alone; the Namespace itself is then judged in
    // its (new) mode.
    let mut old = ns(Some("audit"));
    old["metadata"]["labels"]["team"] = json!("a");
    let p = policy(ENFORCE);
    let out = review(&p, None, "UPDATE", &ns(Some("audit")), Some(&old), DEV);
    assert!(out.allowed);
    assert_eq!(out.mode, Audit);
    // Exempt users (system:masters) are never evaluated, guard included.
    let out = review(
        &p,
        None,
        "UPDATE",
        &ns(Some("off")),
        Some(&ns(Some("enforce"))),
        ("root", &["system:masters"]),
    );
    assert!(out.allowed);
    assert_eq!(out.decision, Decision::Skipped);
    // A namespace being deleted can drop its finalizers; lowering its mode while it
    // terminates is still lowering (existing Pods there can still get ephemeral containers).
    let deleting = |mode: &str| {
        let mut v = ns(Some(mode));
        v["metadata"]["deletionTimestamp"] = json!("2026-01-31T00:00:00Z");
        v
    };
    let out = review(
        &p,
        None,
        "UPDATE",
        &deleting("enforce"),
        Some(&deleting("enforce")),
        DEV,
    );
    assert!(out.allowed);
    let out = review(
        &p,
        None,
        "UPDATE",
        &deleting("off"),
        Some(&deleting("enforce")),
        DEV,
    );
    assert!(!out.allowed);
    // The guard also protects the exempt namespaces' labels.
    let out = review(
        &p,
        None,
        "UPDATE",
        &namespace("kube-system", Some("off")),
        Some(&namespace("kube-system", Some("audit"))),
        DEV,
    );
    assert!(!out.allowed);
}

#[test]
fn cluster_aware_rules() {
    use Mode::*;
    let spread_free = || unspread(good_deploy());
    let one_replica = || replicas(good_deploy(), 1);
    let strict_pdb = "rules:\n  disruption-budget: {denyWhenMissing: true, severity: error}\n";
    run(vec![
        // disruption-budget
        Case::new(
            "matching PDB: clean",
            ENFORCE,
            Some(unlabelled()),
            good_deploy(),
            allowed(Enforce),
        ),
        Case::new(
            "missing PDB: a warning at admission",
            ENFORCE,
            Some(with_pdbs(unlabelled(), Vec::new())),
            good_deploy(),
            warned(Enforce, &["disruption-budget"]),
        ),
        Case::new(
            "missing PDB at severity error: still only a warning without denyWhenMissing",
            "rules:\n  disruption-budget: {severity: error}\n",
            Some(with_pdbs(unlabelled(), Vec::new())),
            good_deploy(),
            warned(Enforce, &["disruption-budget"]),
        ),
        Case::new(
            "missing PDB with denyWhenMissing and severity error: denied",
            strict_pdb,
            Some(with_pdbs(unlabelled(), Vec::new())),
            good_deploy(),
            denied(&["disruption-budget"], &[]),
        ),
        Case::new(
            "missing PDB with denyWhenMissing, in an audit namespace: audited",
            strict_pdb,
            Some(with_pdbs(labelled("audit"), Vec::new())),
            good_deploy(),
            warned(Audit, &["disruption-budget"]),
        ),
        Case::new(
            "PDB in another namespace does not count",
            ENFORCE,
            Some(with_pdbs(
                unlabelled(),
                vec![PdbInfo {
                    namespace: "legacy".into(),
                    ..pdb("web", None, Some(IntOrString::Int(1)))
                }],
            )),
            good_deploy(),
            warned(Enforce, &["disruption-budget"]),
        ),
        Case::new(
            "PDB allowing zero disruptions (maxUnavailable 0): flagged",
            ENFORCE,
            Some(with_pdbs(
                unlabelled(),
                vec![pdb("web", None, Some(IntOrString::Int(0)))],
            )),
            good_deploy(),
            warned(Enforce, &["disruption-budget"]),
        ),
        Case::new(
            "PDB allowing zero disruptions (minAvailable 100%) at severity error: denied",
            "rules:\n  disruption-budget: {severity: error}\n",
            Some(with_pdbs(
                unlabelled(),
                vec![pdb("web", Some(IntOrString::Str("100%".into())), None)],
            )),
            good_deploy(),
            denied(&["disruption-budget"], &[]),
        ),
        Case::new(
            "PDB minAvailable = replicas at severity error: denied",
            "rules:\n  disruption-budget: {severity: error}\n",
            Some(with_pdbs(
                unlabelled(),
                vec![pdb("web", Some(IntOrString::Int(3)), None)],
            )),
            good_deploy(),
            denied(&["disruption-budget"], &[]),
        ),
        Case::new(
            "two PDBs select the pods: flagged",
            ENFORCE,
            Some(with_pdbs(
                unlabelled(),
                vec![
                    pdb("a", None, Some(IntOrString::Int(1))),
                    pdb("b", Some(IntOrString::Int(1)), None),
                ],
            )),
            good_deploy(),
            warned(Enforce, &["disruption-budget"]),
        ),
        Case::new(
            "single replica (HPA-less): no PDB needed, replicas denies",
            ENFORCE,
            Some(with_pdbs(unlabelled(), Vec::new())),
            one_replica(),
            denied(&["replicas"], &[]),
        ),
        // replicas, HPA-aware
        Case::new(
            "1 replica + HPA minReplicas 3: passes",
            ENFORCE,
            Some(with_hpa(unlabelled(), 3)),
            one_replica(),
            allowed(Enforce),
        ),
        Case::new(
            "1 replica + HPA minReplicas 2: passes",
            ENFORCE,
            Some(with_hpa(unlabelled(), 2)),
            one_replica(),
            allowed(Enforce),
        ),
        Case::new(
            "1 replica + HPA minReplicas 1: denied",
            ENFORCE,
            Some(with_hpa(unlabelled(), 1)),
            one_replica(),
            denied(&["replicas"], &[]),
        ),
        Case::new(
            "3 replicas + HPA minReplicas 1: denied (the HPA decides)",
            ENFORCE,
            Some(with_hpa(unlabelled(), 1)),
            good_deploy(),
            denied(&["replicas"], &[]),
        ),
        Case::new(
            "1 replica, no HPA, cluster known: denied",
            ENFORCE,
            Some(unlabelled()),
            one_replica(),
            denied(&["replicas"], &[]),
        ),
        Case::new(
            "1 replica + HPA minReplicas 1, namespace audit: audited",
            ENFORCE,
            Some(with_hpa(labelled("audit"), 1)),
            one_replica(),
            warned(Audit, &["replicas"]),
        ),
        Case::new(
            "HPA minReplicas 3 and no PDB: the HPA floor needs a PDB",
            ENFORCE,
            Some(with_hpa(with_pdbs(unlabelled(), Vec::new()), 3)),
            one_replica(),
            warned(Enforce, &["disruption-budget"]),
        ),
        // pod-spread
        Case::new(
            "3 replicas unspread: warned",
            ENFORCE,
            Some(unlabelled()),
            spread_free(),
            warned(Enforce, &["pod-spread"]),
        ),
        Case::new(
            "1 replica + HPA minReplicas 3, unspread: warned",
            ENFORCE,
            Some(with_hpa(unlabelled(), 3)),
            unspread(one_replica()),
            warned(Enforce, &["pod-spread"]),
        ),
        Case::new(
            "3 replicas + HPA minReplicas 1, unspread: only replicas",
            ENFORCE,
            Some(with_hpa(unlabelled(), 1)),
            spread_free(),
            denied(&["replicas"], &[]),
        ),
        Case::new(
            "pod-spread at severity error: denied",
            "rules:\n  pod-spread: {severity: error}\n",
            Some(unlabelled()),
            spread_free(),
            denied(&["pod-spread"], &[]),
        ),
        // HPA and PDB writes
        Case::new(
            "HPA minReplicas 1: denied by autoscaler",
            ENFORCE,
            Some(unlabelled()),
            hpa(Some(1), 5),
            denied(&["autoscaler"], &[]),
        ),
        Case::new(
            "HPA minReplicas unset: denied by autoscaler",
            ENFORCE,
            Some(unlabelled()),
            hpa(None, 5),
            denied(&["autoscaler"], &[]),
        ),
        Case::new(
            "HPA minReplicas 2: allowed",
            ENFORCE,
            Some(unlabelled()),
            hpa(Some(2), 5),
            allowed(Enforce),
        ),
        Case::new(
            "HPA minReplicas 1 in an audit namespace: audited",
            ENFORCE,
            Some(labelled("audit")),
            hpa(Some(1), 5),
            warned(Audit, &["autoscaler"]),
        ),
        // PDB objects are judged on what they say alone: maxUnavailable 0 and
        // minAvailable 100% block every drain, whatever the replica count (a warning, the
        // rule's default severity; an error when the policy raises it).
        Case::new(
            "PDB object maxUnavailable 0: flagged",
            ENFORCE,
            Some(unlabelled()),
            pdb_object(json!({"maxUnavailable": 0})),
            warned(Enforce, &["disruption-budget"]),
        ),
        Case::new(
            "PDB object minAvailable 100%: flagged",
            ENFORCE,
            Some(unlabelled()),
            pdb_object(json!({"minAvailable": "100%"})),
            warned(Enforce, &["disruption-budget"]),
        ),
        Case::new(
            "PDB object minAvailable 100% at error severity: denied",
            "rules:\n  disruption-budget: {severity: error}\n",
            Some(unlabelled()),
            pdb_object(json!({"minAvailable": "100%"})),
            denied(&["disruption-budget"], &[]),
        ),
        Case::new(
            "PDB object maxUnavailable 1: allowed",
            ENFORCE,
            Some(unlabelled()),
            pdb_object(json!({"maxUnavailable": 1})),
            allowed(Enforce),
        ),
    ]);
}

#[test]
fn without_cluster_data_cluster_aware_rules_never_deny() {
    use Mode::*;
    let strict = "rules:\n  disruption-budget: {denyWhenMissing: true, severity: error}\n";
    for (what, cluster) in [("no cluster", None), ("caches unsynced", Some(unsynced()))] {
        let c = || cluster.clone();
        let cases = vec![
            Case::new(
                "no PDB data: no finding",
                strict,
                c(),
                good_deploy(),
                allowed(Enforce),
            ),
            Case::new(
                "1 replica, no HPA data: a warning only",
                strict,
                c(),
                replicas(good_deploy(), 1),
                warned(Enforce, &["replicas"]),
            ),
            Case::new(
                "1 replica at replicas severity error: still a warning",
                "rules:\n  replicas: {severity: error}\n",
                c(),
                replicas(good_deploy(), 1),
                warned(Enforce, &["replicas"]),
            ),
            Case::new(
                "unspread: judged from spec.replicas (a warning)",
                strict,
                c(),
                unspread(good_deploy()),
                warned(Enforce, &["pod-spread"]),
            ),
            // The object-only rules still deny.
            Case::new(
                "privileged still denies",
                strict,
                c(),
                privileged(),
                denied(&["privileged"], &[]),
            ),
            Case::new(
                "HPA object minReplicas 1 still denies",
                strict,
                c(),
                hpa(Some(1), 5),
                denied(&["autoscaler"], &[]),
            ),
        ];
        for case in &cases {
            let policy = policy(case.policy);
            let out = review(
                &policy,
                case.cluster.as_ref(),
                case.op,
                &case.object,
                case.old.as_ref(),
                case.user,
            );
            check(&format!("{what}: {}", case.name), &out, &case.want);
        }
    }
}

/// Audit is a dry run for the mutating webhook too: no patch in an audit namespace, a patch
/// in an enforced one, and a rule moved to audit gets no default anywhere.
#[test]
fn audit_mode_never_mutates() {
    let mutate = |policy: &Policy, cluster: &Fake| {
        let admission = Admission {
            policy,
            cluster: Some(cluster as &dyn Cluster),
            own_namespace: OWN_NAMESPACE,
            today: today(),
        };
        let bare = remove(good_deploy(), "/spec/template/spec/securityContext");
        admission
            .review(Endpoint::Mutate, &review_body("CREATE", &bare, None, DEV))
            .expect("a usable AdmissionReview")
    };
    let patch_of = |out: &Outcome| -> Vec<Value> {
        out.patch
            .as_ref()
            .map(|p| serde_json::from_slice(p).expect("patch json"))
            .unwrap_or_default()
    };
    let enforce = policy(ENFORCE);
    let out = mutate(&enforce, &unlabelled());
    assert!(out.allowed);
    let ops = patch_of(&out);
    assert!(
        ops.iter()
            .any(|op| op["path"] == "/spec/template/spec/securityContext"),
        "enforce adds the pod security context: {ops:#?}"
    );

    for (what, p, c) in [
        ("namespace label audit", policy(ENFORCE), labelled("audit")),
        (
            "cluster default audit",
            policy("mode: audit\n"),
            unlabelled(),
        ),
    ] {
        let out = mutate(&p, &c);
        assert!(out.allowed, "{what}");
        assert_eq!(out.patch, None, "{what}: audit must not patch");
        assert_eq!(out.decision, Decision::Skipped, "{what}");
        assert_eq!(out.mode, Mode::Audit, "{what}");
    }

    // seccomp-profile on trial: the pod security context still gets runAsNonRoot, but no
    // seccompProfile.
    let out = mutate(
        &policy("rules:\n  seccomp-profile: {mode: audit}\n"),
        &unlabelled(),
    );
    let ops = patch_of(&out);
    let psc = ops
        .iter()
        .find(|op| op["path"] == "/spec/template/spec/securityContext")
        .unwrap_or_else(|| panic!("pod security context added: {ops:#?}"));
    assert_eq!(psc["value"]["runAsNonRoot"], true, "{ops:#?}");
    assert!(psc["value"].get("seccompProfile").is_none(), "{ops:#?}");
}

/// An Ingress in `shop` serving `hosts`, with `tls` as its `spec.tls` (`Null`: none).
fn ingress(hosts: &[&str], tls: Value) -> Value {
    let rules: Vec<Value> = hosts
        .iter()
        .map(|h| {
            json!({"host": h, "http": {"paths": [{"path": "/", "pathType": "Prefix",
            "backend": {"service": {"name": "web", "port": {"number": 80}}}}]}})
        })
        .collect();
    let mut spec = json!({"ingressClassName": "nginx", "rules": rules});
    if !tls.is_null() {
        spec["tls"] = tls;
    }
    json!({"apiVersion": "networking.k8s.io/v1", "kind": "Ingress",
        "metadata": {"name": "web", "namespace": "shop"}, "spec": spec})
}

#[test]
fn ingress_tls_at_admission() {
    use Mode::*;
    let tls =
        || json!([{"hosts": ["shop.example.com", "*.api.example.com"], "secretName": "web-tls"}]);
    let annotated = set(
        ingress(&["shop.example.com"], Value::Null),
        "/metadata/annotations",
        json!({"cert-manager.io/cluster-issuer": "letsencrypt"}),
    );
    run(vec![
        Case::new(
            "every host covered: allowed",
            ENFORCE,
            Some(unlabelled()),
            ingress(&["shop.example.com", "v1.api.example.com"], tls()),
            allowed(Enforce),
        ),
        Case::new(
            "no spec.tls: denied",
            ENFORCE,
            Some(unlabelled()),
            ingress(&["shop.example.com"], Value::Null),
            denied(&["ingress-tls"], &[]),
        ),
        Case::new(
            "cert-manager annotation without spec.tls: denied",
            ENFORCE,
            Some(unlabelled()),
            annotated,
            denied(&["ingress-tls"], &[]),
        ),
        Case::new(
            "a host two labels under the wildcard: denied",
            ENFORCE,
            Some(unlabelled()),
            ingress(&["shop.example.com", "a.v1.api.example.com"], tls()),
            denied(&["ingress-tls"], &[]),
        ),
        Case::new(
            "no host: denied",
            ENFORCE,
            Some(unlabelled()),
            remove(ingress(&["shop.example.com"], tls()), "/spec/rules/0/host"),
            denied(&["ingress-tls"], &[]),
        ),
        Case::new(
            "no spec.tls, audit namespace: audited",
            ENFORCE,
            Some(labelled("audit")),
            ingress(&["shop.example.com"], Value::Null),
            warned(Audit, &["ingress-tls"]),
        ),
        Case::new(
            "no spec.tls, without cluster data: still denied (the object says it all)",
            ENFORCE,
            None,
            ingress(&["shop.example.com"], Value::Null),
            denied(&["ingress-tls"], &[]),
        ),
        Case::new(
            "an UPDATE that drops a host's TLS: denied",
            ENFORCE,
            Some(unlabelled()),
            ingress(&["shop.example.com", "new.example.com"], tls()),
            denied(&["ingress-tls"], &[]),
        )
        .update(ingress(&["shop.example.com"], tls())),
    ]);
    // The denial names the host's field.
    let policy = policy(ENFORCE);
    let out = review(
        &policy,
        Some(&unlabelled()),
        "CREATE",
        &ingress(&["shop.example.com"], Value::Null),
        None,
        DEV,
    );
    let (_, msg) = out.status.expect("denied");
    assert!(
        msg.contains("[ingress-tls] spec.rules[0].host: host \"shop.example.com\""),
        "{msg}"
    );
}

/// A NetworkPolicy in `shop` with `spec`, as an object.
fn network_policy_object(name: &str, spec: Value) -> Value {
    json!({"apiVersion": "networking.k8s.io/v1", "kind": "NetworkPolicy",
        "metadata": {"name": name, "namespace": "shop"}, "spec": spec})
}

/// `c` with these NetworkPolicies (objects, read as `bulwark check` reads them).
fn with_network_policies(mut c: Fake, policies: &[Value]) -> Fake {
    c.network_policies = Some(
        policies
            .iter()
            .map(|v| {
                let w = bulwark::workload::Workload::from_value(v).expect("a policy parses");
                let bulwark::workload::Body::NetworkPolicy(spec) = w.body else {
                    panic!("not a NetworkPolicy: {v}")
                };
                NetworkPolicyInfo {
                    namespace: w.meta.namespace.clone().unwrap_or_default(),
                    name: w.meta.name.clone().unwrap_or_default(),
                    spec,
                }
            })
            .collect(),
    );
    c
}

#[test]
fn network_policy_at_admission() {
    use Mode::*;
    let deny_all = || network_policy_object("default-deny", json!({"podSelector": {}}));
    let open = || {
        network_policy_object(
            "allow-all",
            json!({"podSelector": {}, "policyTypes": ["Ingress"], "ingress": [{}]}),
        )
    };
    let egress_only = || {
        network_policy_object(
            "egress",
            json!({"podSelector": {}, "policyTypes": ["Egress"]}),
        )
    };
    let np = |policies: &[Value]| Some(with_network_policies(unlabelled(), policies));
    let as_error = "rules:\n  network-policy: {severity: error}\n";
    run(vec![
        Case::new(
            "default deny in the namespace: clean",
            ENFORCE,
            np(&[deny_all()]),
            good_deploy(),
            allowed(Enforce),
        ),
        Case::new(
            "no NetworkPolicy: a warning at admission (it may come next)",
            ENFORCE,
            np(&[]),
            good_deploy(),
            warned(Enforce, &["network-policy"]),
        ),
        Case::new(
            "no NetworkPolicy at severity error: still a warning",
            as_error,
            np(&[]),
            good_deploy(),
            warned(Enforce, &["network-policy"]),
        ),
        Case::new(
            "no NetworkPolicy with denyWhenMissing: denied",
            "rules:\n  network-policy: {denyWhenMissing: true}\n",
            np(&[]),
            good_deploy(),
            denied(&["network-policy"], &[]),
        ),
        Case::new(
            "no NetworkPolicy with denyWhenMissing, audit namespace: audited",
            "rules:\n  network-policy: {denyWhenMissing: true}\n",
            Some(with_network_policies(labelled("audit"), &[])),
            good_deploy(),
            warned(Audit, &["network-policy"]),
        ),
        Case::new(
            "denyWhenMissing without NetworkPolicy data (no watch): no finding",
            "rules:\n  network-policy: {denyWhenMissing: true}\n",
            Some(unlabelled()),
            good_deploy(),
            allowed(Enforce),
        ),
        Case::new(
            "denyWhenMissing, a Pod the ReplicaSet controller made: never stalls it",
            "rules:\n  network-policy: {denyWhenMissing: true}\n",
            np(&[]),
            controlled(good_deploy(), "Pod", "ReplicaSet"),
            allowed(Enforce),
        )
        .by(REPLICASET_CONTROLLER),
        Case::new(
            "only an Egress policy: a warning",
            ENFORCE,
            np(&[egress_only()]),
            good_deploy(),
            warned(Enforce, &["network-policy"]),
        ),
        Case::new(
            "a policy letting everyone in, beside a default deny, at severity error: denied",
            as_error,
            np(&[deny_all(), open()]),
            good_deploy(),
            denied(&["network-policy"], &[]),
        ),
        Case::new(
            "no NetworkPolicy, audit namespace: audited",
            ENFORCE,
            Some(with_network_policies(labelled("audit"), &[])),
            good_deploy(),
            warned(Audit, &["network-policy"]),
        ),
        Case::new(
            "caches not synced: no finding",
            ENFORCE,
            Some(Fake {
                synced: false,
                ..with_network_policies(unlabelled(), &[])
            }),
            good_deploy(),
            allowed(Enforce),
        ),
        Case::new(
            "a Pod the ReplicaSet controller made: judged through its owner",
            ENFORCE,
            np(&[]),
            controlled(good_deploy(), "Pod", "ReplicaSet"),
            allowed(Enforce),
        )
        .by(REPLICASET_CONTROLLER),
        Case::new(
            "the same Pod written by a tenant: judged as itself",
            ENFORCE,
            np(&[]),
            controlled(good_deploy(), "Pod", "ReplicaSet"),
            warned(Enforce, &["network-policy"]),
        ),
        // NetworkPolicy writes.
        Case::new(
            "NetworkPolicy object letting everyone in: flagged",
            ENFORCE,
            np(&[]),
            open(),
            warned(Enforce, &["network-policy"]),
        ),
        Case::new(
            "NetworkPolicy object default deny: allowed",
            ENFORCE,
            np(&[]),
            deny_all(),
            allowed(Enforce),
        ),
    ]);
}

/// `c` with these ResourceQuotas in `shop` (name, capped resources).
fn with_quotas(mut c: Fake, quotas: &[(&str, &[&str])]) -> Fake {
    c.quotas = Some(
        quotas
            .iter()
            .map(|(name, hard)| {
                (
                    "shop".to_owned(),
                    QuotaInfo {
                        name: (*name).to_owned(),
                        hard: hard.iter().map(|h| (*h).to_owned()).collect(),
                    },
                )
            })
            .collect(),
    );
    c
}

#[test]
fn namespace_quota_at_admission() {
    use Mode::*;
    let q = |quotas: &[(&str, &[&str])]| Some(with_quotas(unlabelled(), quotas));
    run(vec![
        Case::new(
            "a quota in the namespace: clean",
            ENFORCE,
            q(&[("compute", &["requests.cpu", "requests.memory"])]),
            good_deploy(),
            allowed(Enforce),
        ),
        Case::new(
            "no quota: a warning",
            ENFORCE,
            q(&[]),
            good_deploy(),
            warned(Enforce, &["namespace-quota"]),
        ),
        Case::new(
            "no quota at severity error: still a warning at admission",
            "rules:\n  namespace-quota: {severity: error}\n",
            q(&[]),
            good_deploy(),
            warned(Enforce, &["namespace-quota"]),
        ),
        Case::new(
            "a quota that caps nothing: a warning",
            ENFORCE,
            q(&[("placeholder", &[])]),
            good_deploy(),
            warned(Enforce, &["namespace-quota"]),
        ),
        Case::new(
            "no quota, audit namespace: audited",
            ENFORCE,
            Some(with_quotas(labelled("audit"), &[])),
            good_deploy(),
            warned(Audit, &["namespace-quota"]),
        ),
        Case::new(
            "no quota, a Pod the ReplicaSet controller made: judged through its owner",
            ENFORCE,
            q(&[]),
            controlled(good_deploy(), "Pod", "ReplicaSet"),
            allowed(Enforce),
        )
        .by(REPLICASET_CONTROLLER),
        Case::new(
            "no quota, caches not synced: no finding",
            ENFORCE,
            Some(Fake {
                synced: false,
                ..with_quotas(unlabelled(), &[])
            }),
            good_deploy(),
            allowed(Enforce),
        ),
        Case::new(
            "no quota, a Namespace object: not judged (it runs nothing)",
            ENFORCE,
            q(&[]),
            namespace("shop", None),
            allowed(Enforce),
        ),
    ]);
}
