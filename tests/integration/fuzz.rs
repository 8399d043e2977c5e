//! Fuzzing with proptest: admission, mutation, workload parsing and the engine on arbitrary
//! bytes, arbitrary JSON and structure-aware mutations of the real AdmissionReview fixtures.
//!
//! Properties: nothing panics; an answered review echoes the request's uid and is consistent
//! (`allowed` iff no status, a patch only from `/mutate`); a patch from `/mutate` parses as
//! RFC 6902, applies to `request.object` and is idempotent (mutating the result again yields
//! an empty patch); `Workload::from_value` and `from_json_any` agree.
//!
//! The default case counts keep this file to a few seconds in a debug build;
//! `BULWARK_FUZZ_CASES=<n>` runs `n` cases per property for long runs. The cargo-fuzz
//! target in `fuzz/` drives the same checks from libFuzzer.

use std::sync::LazyLock;

use bulwark::admission::{Admission, Endpoint, Outcome};
use bulwark::config::Policy;
use bulwark::engine::{
    self, Context, HpaInfo, Inventory, LimitRangeInfo, NetworkPolicyInfo, PdbInfo, QuotaInfo,
};
use bulwark::mutate::{Operation, mutate};
use bulwark::rules;
use bulwark::workload::{
    IntOrString, IpBlock, LabelSelector, NetworkPolicyPeer, NetworkPolicyRule, NetworkPolicySpec,
    Workload,
};
use proptest::prelude::*;
use proptest::sample::{Index, select};
use serde::Deserialize;
use serde_json::value::RawValue;
use serde_json::{Map, Value, json};

// ---------------------------------------------------------------------------------------
// Fixed inputs
// ---------------------------------------------------------------------------------------

/// The review fixtures every structure-aware case starts from.
const FIXTURES: [&str; 3] = [
    include_str!("../fixtures/admission/deployment-create.json"),
    include_str!("../fixtures/admission/deployment-update.json"),
    include_str!("../../examples/admission-review.json"),
];

static FIXTURE_VALUES: LazyLock<Vec<Value>> = LazyLock::new(|| {
    FIXTURES
        .iter()
        .map(|f| serde_json::from_str(f).expect("fixture is JSON"))
        .collect()
});

static DEFAULT_POLICY: LazyLock<Policy> = LazyLock::new(Policy::default);
static BASELINE_POLICY: LazyLock<Policy> =
    LazyLock::new(|| Policy::from_yaml("podSecurity: baseline\n").expect("baseline policy"));

const TODAY: i64 = 20_000;

fn admission() -> Admission<'static> {
    Admission {
        policy: &DEFAULT_POLICY,
        cluster: None,
        own_namespace: "bulwark-system",
        today: TODAY,
    }
}

/// Every kind bulwark knows, and one it does not.
const KINDS: &[&str] = &[
    "Pod",
    "Deployment",
    "StatefulSet",
    "DaemonSet",
    "ReplicaSet",
    "ReplicationController",
    "Job",
    "CronJob",
    "HorizontalPodAutoscaler",
    "PodDisruptionBudget",
    "Namespace",
    "Ingress",
    "NetworkPolicy",
    "ResourceQuota",
    "LimitRange",
    "ConfigMap",
];

fn group_of(kind: &str) -> &'static str {
    match kind {
        "Deployment" | "StatefulSet" | "DaemonSet" | "ReplicaSet" => "apps",
        "Job" | "CronJob" => "batch",
        "HorizontalPodAutoscaler" => "autoscaling",
        "PodDisruptionBudget" => "policy",
        "Ingress" | "NetworkPolicy" => "networking.k8s.io",
        _ => "",
    }
}

/// Field names from Kubernetes objects and AdmissionReviews (and a few of bulwark's own).
const KEYS: &[&str] = &[
    "apiVersion",
    "kind",
    "metadata",
    "name",
    "generateName",
    "namespace",
    "labels",
    "annotations",
    "ownerReferences",
    "managedFields",
    "status",
    "controller",
    "deletionTimestamp",
    "spec",
    "tls",
    "hosts",
    "secretName",
    "rules",
    "defaultBackend",
    "podSelector",
    "policyTypes",
    "ingress",
    "egress",
    "from",
    "hard",
    "template",
    "jobTemplate",
    "replicas",
    "selector",
    "matchLabels",
    "matchExpressions",
    "key",
    "operator",
    "values",
    "strategy",
    "updateStrategy",
    "rollingUpdate",
    "maxSurge",
    "maxUnavailable",
    "minAvailable",
    "partition",
    "type",
    "containers",
    "initContainers",
    "ephemeralContainers",
    "image",
    "restartPolicy",
    "securityContext",
    "privileged",
    "allowPrivilegeEscalation",
    "runAsNonRoot",
    "runAsUser",
    "readOnlyRootFilesystem",
    "capabilities",
    "add",
    "drop",
    "seccompProfile",
    "appArmorProfile",
    "seLinuxOptions",
    "windowsOptions",
    "hostProcess",
    "procMount",
    "sysctls",
    "value",
    "hostNetwork",
    "hostPID",
    "hostIPC",
    "hostUsers",
    "ports",
    "containerPort",
    "hostPort",
    "protocol",
    "resources",
    "requests",
    "limits",
    "cpu",
    "memory",
    "livenessProbe",
    "readinessProbe",
    "startupProbe",
    "httpGet",
    "tcpSocket",
    "grpc",
    "exec",
    "command",
    "port",
    "host",
    "lifecycle",
    "preStop",
    "postStart",
    "sleep",
    "seconds",
    "terminationGracePeriodSeconds",
    "volumes",
    "hostPath",
    "emptyDir",
    "env",
    "valueFrom",
    "secretKeyRef",
    "serviceAccount",
    "serviceAccountName",
    "automountServiceAccountToken",
    "affinity",
    "podAntiAffinity",
    "topologySpreadConstraints",
    "os",
    "scaleTargetRef",
    "minReplicas",
    "maxReplicas",
    "request",
    "object",
    "oldObject",
    "uid",
    "operation",
    "subResource",
    "userInfo",
    "username",
    "groups",
    "dryRun",
    "bulwark.dev/mode",
    "bulwark.dev/exempt",
    "bulwark.dev/exempt-reason",
    "bulwark.dev/exempt-until",
    "bulwark.dev/defaulted",
    "app.kubernetes.io/name",
];

/// Strings with a meaning somewhere in bulwark, and edge cases.
const STRINGS: &[&str] = &[
    "",
    " ",
    "0",
    "1",
    "-1",
    "1.5",
    "1e3",
    "1e400",
    "-1e400",
    "9223372036854775807",
    "-9223372036854775808",
    "100m",
    "500m",
    "128Mi",
    "1Gi",
    "1Ei",
    "1e308Ei",
    ".",
    "+",
    "-",
    "m",
    "25%",
    "0%",
    "100%",
    "-50%",
    "1e308%",
    "%",
    "x%",
    "ALL",
    "all",
    "NET_BIND_SERVICE",
    "NET_RAW",
    "SYS_ADMIN",
    "CAP_SYS_ADMIN",
    "RuntimeDefault",
    "Localhost",
    "Unconfined",
    "Default",
    "Unmasked",
    "Always",
    "Never",
    "OnFailure",
    "RollingUpdate",
    "Recreate",
    "OnDelete",
    "In",
    "NotIn",
    "Exists",
    "DoesNotExist",
    "TCP",
    "UDP",
    "http",
    "windows",
    "linux",
    "nginx",
    "nginx:latest",
    "nginx:1.25@sha256:0123",
    "registry:5000/team/app",
    "registry:5000/team/app:",
    ":",
    "/",
    "@",
    "a/b:c/d",
    "shop",
    "default",
    "kube-system",
    "bulwark-system",
    "enforce",
    "audit",
    "off",
    "CREATE",
    "UPDATE",
    "DELETE",
    "CONNECT",
    "ephemeralcontainers",
    "privileged",
    "privileged,host-ports",
    "*",
    "admission.k8s.io/v1",
    "AdmissionReview",
    "system:kube-controller-manager",
    "system:serviceaccount:kube-system:replicaset-controller",
    "2000-01-01",
    "2999-12-31",
    "not-a-date",
    "é",
    "ü€😀",
    "a\u{0}b",
    "~0~1/",
    "\\",
    "\"",
];

const INTS: &[i64] = &[
    0,
    1,
    -1,
    2,
    3,
    5,
    30,
    80,
    1000,
    65_535,
    65_536,
    i32::MAX as i64,
    i32::MIN as i64,
    i64::MAX,
    i64::MAX - 1,
    i64::MIN,
    i64::MIN + 1,
];

// ---------------------------------------------------------------------------------------
// Generators
// ---------------------------------------------------------------------------------------

fn int() -> BoxedStrategy<i64> {
    prop_oneof![3 => select(INTS), 1 => any::<i64>()].boxed()
}

fn number() -> BoxedStrategy<Value> {
    prop_oneof![
        4 => int().prop_map(Value::from),
        1 => prop_oneof![Just(u64::MAX), any::<u64>()].prop_map(Value::from),
        1 => prop_oneof![
            Just(0.5),
            Just(-0.0),
            Just(1e308),
            Just(-1e308),
            Just(f64::MIN_POSITIVE),
            any::<f64>(),
        ]
        .prop_map(|f| serde_json::Number::from_f64(f).map_or(Value::Null, Value::Number)),
    ]
    .boxed()
}

/// `YYYY-MM-DD` with every part drawn from edge-case integers (exemption expiry dates).
fn date() -> BoxedStrategy<String> {
    (int(), 0i64..14, 0i64..33)
        .prop_map(|(y, m, d)| format!("{y}-{m:02}-{d:02}"))
        .boxed()
}

fn string() -> BoxedStrategy<String> {
    prop_oneof![
        6 => select(STRINGS).prop_map(str::to_owned),
        2 => "\\PC{0,12}",
        1 => date(),
        1 => int().prop_map(|n| n.to_string()),
        1 => (1usize..600).prop_map(|n| "é".repeat(n)),
    ]
    .boxed()
}

fn key() -> BoxedStrategy<String> {
    prop_oneof![5 => select(KEYS).prop_map(str::to_owned), 1 => "\\PC{0,8}"].boxed()
}

fn leaf() -> BoxedStrategy<Value> {
    prop_oneof![
        1 => Just(Value::Null),
        1 => any::<bool>().prop_map(Value::Bool),
        2 => number(),
        3 => string().prop_map(Value::String),
    ]
    .boxed()
}

/// Any JSON value: null, bool, number, string, array or object with Kubernetes-ish keys.
fn arb_json() -> BoxedStrategy<Value> {
    leaf()
        .prop_recursive(5, 64, 6, |inner| {
            prop_oneof![
                prop::collection::vec(inner.clone(), 0..6).prop_map(Value::Array),
                prop::collection::vec((key(), inner), 0..6)
                    .prop_map(|kv| Value::Object(kv.into_iter().collect())),
            ]
        })
        .boxed()
}

/// A JSON body shaped, to a varying degree, like an AdmissionReview: a bare value, a review
/// around an arbitrary request, or a well-formed request around an arbitrary object.
fn arb_review_json() -> BoxedStrategy<Value> {
    let header = (
        select(KINDS),
        select(&["CREATE", "UPDATE", "DELETE", "CONNECT"][..]),
    );
    prop_oneof![
        1 => arb_json(),
        1 => arb_json().prop_map(|request| json!({
            "apiVersion": "admission.k8s.io/v1", "kind": "AdmissionReview", "request": request,
        })),
        4 => (header, arb_json(), arb_json(), any::<bool>()).prop_map(
            |((kind, op), mut object, old, kind_inside)| {
                if kind_inside && let Value::Object(m) = &mut object {
                    m.insert("kind".into(), json!(kind));
                }
                json!({
                    "apiVersion": "admission.k8s.io/v1", "kind": "AdmissionReview",
                    "request": {
                        "uid": "fuzz-uid",
                        "kind": {"group": group_of(kind), "version": "v1", "kind": kind},
                        "namespace": "team", "name": "x", "operation": op,
                        "userInfo": {"username": "alice", "groups": ["dev"]},
                        "object": object, "oldObject": old,
                    }
                })
            }
        ),
    ]
    .boxed()
}

/// An arbitrary object of a known (or unknown) kind with arbitrary metadata and spec.
fn arb_workload() -> BoxedStrategy<Value> {
    (select(KINDS), arb_json(), arb_json(), any::<bool>())
        .prop_map(|(kind, metadata, spec, wrap)| {
            // Half the time the arbitrary spec sits where the pod spec lives for this kind.
            let spec = match (wrap, kind) {
                (false, _) | (_, "Pod") => spec,
                (true, "CronJob") => json!({"jobTemplate": {"spec": {"template": {"spec": spec}}}}),
                (true, _) => json!({"template": {"metadata": {}, "spec": spec}}),
            };
            json!({"apiVersion": "v1", "kind": kind, "metadata": metadata, "spec": spec})
        })
        .boxed()
}

// ---------------------------------------------------------------------------------------
// Structure-aware mutation of the fixtures
// ---------------------------------------------------------------------------------------

/// One edit at one JSON pointer.
#[derive(Debug, Clone)]
enum Edit {
    /// Replace with a value of a different JSON type.
    Retype(Value),
    /// Replace with an edge-case value of the same type.
    Tweak(Value, String, Index),
    /// Remove from its parent.
    Delete,
    /// Insert into an array or object (a scalar becomes `[old, new]`).
    Insert(String, Value, Index),
    /// Duplicate an array element (the target, or one of the target's elements).
    Duplicate(Index),
}

#[derive(Debug, Clone)]
struct Step {
    /// Only inside `request.object` (else anywhere in `request`, itself included).
    in_object: bool,
    at: Index,
    edit: Edit,
}

fn edit() -> BoxedStrategy<Edit> {
    prop_oneof![
        3 => arb_json().prop_map(Edit::Retype),
        3 => (number(), string(), any::<Index>()).prop_map(|(n, s, i)| Edit::Tweak(n, s, i)),
        2 => Just(Edit::Delete),
        2 => (key(), arb_json(), any::<Index>()).prop_map(|(k, v, i)| Edit::Insert(k, v, i)),
        1 => any::<Index>().prop_map(Edit::Duplicate),
    ]
    .boxed()
}

fn step() -> BoxedStrategy<Step> {
    (prop::bool::weighted(0.8), any::<Index>(), edit())
        .prop_map(|(in_object, at, edit)| Step {
            in_object,
            at,
            edit,
        })
        .boxed()
}

/// A generated test case: which fixture, reshaped to which kind, which operation, whether to
/// add an exemption annotation, a boundary sweep over the object's numbers, keys removed
/// everywhere in the object, and the edits.
#[derive(Debug, Clone)]
struct Case {
    fixture: usize,
    kind: Option<&'static str>,
    operation: &'static str,
    exemption: Option<(String, String)>,
    sweep: Option<Sweep>,
    drop_keys: Vec<&'static str>,
    steps: Vec<Step>,
}

/// Replaces each number in `request.object` with an edge case (or `null`, which stands for
/// unset) with probability `percent`%, choosing with a seeded generator: combinations such
/// as "a huge preStop sleep and no grace period" need several numbers changed at once.
#[derive(Debug, Clone)]
struct Sweep {
    seed: u64,
    percent: u64,
}

/// Values a [`Sweep`] puts in place of a number.
fn sweep_value(r: u64) -> Value {
    match r % (INTS.len() as u64 + 2) {
        0 => Value::Null,
        1 => json!(u64::MAX),
        n => json!(INTS[(n - 2) as usize]),
    }
}

/// splitmix64: a small, seedable generator for [`Sweep`].
fn next(state: &mut u64) -> u64 {
    *state = state.wrapping_add(0x9E37_79B9_7F4A_7C15);
    let mut z = *state;
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

fn sweep(v: &mut Value, s: &Sweep, state: &mut u64) {
    match v {
        Value::Number(_) if next(state) % 100 < s.percent => *v = sweep_value(next(state)),
        Value::Array(a) => a.iter_mut().for_each(|c| sweep(c, s, state)),
        Value::Object(m) => m.values_mut().for_each(|c| sweep(c, s, state)),
        _ => {}
    }
}

fn drop_key(v: &mut Value, key: &str) {
    match v {
        Value::Array(a) => a.iter_mut().for_each(|c| drop_key(c, key)),
        Value::Object(m) => {
            m.shift_remove(key);
            m.values_mut().for_each(|c| drop_key(c, key));
        }
        _ => {}
    }
}

fn case() -> BoxedStrategy<Case> {
    let operation = prop_oneof![
        4 => Just("CREATE"),
        4 => Just("UPDATE"),
        1 => Just("DELETE"),
        1 => Just("CONNECT"),
    ];
    let exemption = prop::option::weighted(
        0.2,
        (
            prop_oneof![
                Just("privileged".to_owned()),
                Just("*".to_owned()),
                string()
            ],
            prop_oneof![date(), string()],
        ),
    );
    let sweep = prop::option::weighted(
        0.3,
        (any::<u64>(), 1u64..60).prop_map(|(seed, percent)| Sweep { seed, percent }),
    );
    (
        (
            0..FIXTURES.len(),
            prop::option::weighted(0.7, select(KINDS)),
            operation,
        ),
        exemption,
        sweep,
        prop::collection::vec(select(KEYS), 0..4),
        prop::collection::vec(step(), 0..6),
    )
        .prop_map(
            |((fixture, kind, operation), exemption, sweep, drop_keys, steps)| Case {
                fixture,
                kind,
                operation,
                exemption,
                sweep,
                drop_keys,
                steps,
            },
        )
        .boxed()
}

/// The pod template of a fixture object (a Deployment's template, or a Pod as a template).
fn template_of(obj: &Value) -> Value {
    if let Some(t) = obj.pointer("/spec/template") {
        return t.clone();
    }
    json!({
        "metadata": {"labels": obj.pointer("/metadata/labels").cloned().unwrap_or(json!({}))},
        "spec": obj.get("spec").cloned().unwrap_or(json!({})),
    })
}

/// Rewrites a fixture object as an object of `kind`, keeping its metadata and pod template.
fn reshape(obj: &Value, kind: &str) -> Value {
    let Value::Object(src) = obj else {
        return obj.clone();
    };
    let template = template_of(obj);
    let metadata = src.get("metadata").cloned().unwrap_or(json!({}));
    let selector =
        json!({"matchLabels": template.pointer("/metadata/labels").cloned().unwrap_or(json!({}))});
    let spec = match kind {
        "Pod" => template.get("spec").cloned(),
        "Deployment" | "StatefulSet" | "DaemonSet" | "ReplicaSet" => Some(match src.get("spec") {
            Some(spec) if spec.get("template").is_some() => spec.clone(),
            _ => json!({"replicas": 2, "selector": selector, "template": template}),
        }),
        "ReplicationController" => Some(json!({"replicas": 2, "template": template})),
        "Job" => Some(json!({"backoffLimit": 1, "template": template})),
        "CronJob" => {
            Some(json!({"schedule": "* * * * *", "jobTemplate": {"spec": {"template": template}}}))
        }
        "HorizontalPodAutoscaler" => Some(json!({
            "scaleTargetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": "web"},
            "minReplicas": 2, "maxReplicas": 5,
        })),
        "PodDisruptionBudget" => Some(json!({"maxUnavailable": 1, "selector": selector})),
        _ => None,
    };
    let mut out = Map::new();
    out.insert(
        "apiVersion".into(),
        json!(match group_of(kind) {
            "" => "v1".to_owned(),
            g => format!("{g}/v1"),
        }),
    );
    out.insert("kind".into(), json!(kind));
    out.insert("metadata".into(), metadata);
    if let Some(spec) = spec {
        out.insert("spec".into(), spec);
    }
    if kind == "ConfigMap" {
        out.insert("data".into(), json!({"a": "b"}));
    }
    Value::Object(out)
}

/// JSON pointers of every node under `root` (itself included), not descending into the
/// bulk of managedFields.
fn pointers(doc: &Value, root: &str) -> Vec<String> {
    fn walk(v: &Value, at: String, out: &mut Vec<String>) {
        out.push(at.clone());
        match v {
            Value::Object(m) => {
                for (k, child) in m {
                    if k == "fieldsV1" {
                        continue;
                    }
                    walk(
                        child,
                        format!("{at}/{}", k.replace('~', "~0").replace('/', "~1")),
                        out,
                    );
                }
            }
            Value::Array(a) => {
                for (i, child) in a.iter().enumerate() {
                    walk(child, format!("{at}/{i}"), out);
                }
            }
            _ => {}
        }
    }
    let mut out = Vec::new();
    if let Some(v) = doc.pointer(root) {
        walk(v, root.to_owned(), &mut out);
    }
    out
}

/// A value of a different JSON type than `old`, derived from `new`.
fn retype(old: &Value, new: Value) -> Value {
    let same = std::mem::discriminant(old) == std::mem::discriminant(&new);
    if !same {
        return new;
    }
    match new {
        Value::Null => json!(0),
        Value::Bool(b) => json!(b.to_string()),
        Value::Number(n) => json!(n.to_string()),
        Value::String(s) => match s.parse::<i64>() {
            Ok(n) => json!(n),
            Err(_) => json!([s]),
        },
        Value::Array(a) => a.into_iter().next().unwrap_or(Value::Null),
        Value::Object(m) => Value::Array(m.into_iter().map(|(_, v)| v).collect()),
    }
}

fn split_pointer(p: &str) -> Option<(&str, String)> {
    let (parent, last) = p.rsplit_once('/')?;
    Some((parent, last.replace("~1", "/").replace("~0", "~")))
}

fn apply_step(doc: &mut Value, step: &Step) {
    let root = if step.in_object {
        "/request/object"
    } else {
        "/request"
    };
    let candidates = pointers(doc, root);
    if candidates.is_empty() {
        return;
    }
    let at = step.at.get(&candidates).clone();
    match &step.edit {
        Edit::Retype(v) => {
            if let Some(target) = doc.pointer_mut(&at) {
                *target = retype(target, v.clone());
            }
        }
        Edit::Tweak(n, s, i) => {
            if let Some(target) = doc.pointer_mut(&at) {
                match target {
                    Value::Null => *target = n.clone(),
                    Value::Bool(b) => *b = !*b,
                    Value::Number(_) => *target = n.clone(),
                    Value::String(old) => *old = s.clone(),
                    Value::Array(a) if !a.is_empty() => {
                        let keep = i.index(a.len());
                        a.truncate(keep);
                    }
                    Value::Array(_) => {}
                    Value::Object(m) => m.clear(),
                }
            }
        }
        Edit::Delete => {
            let Some((parent, last)) = split_pointer(&at) else {
                return;
            };
            match doc.pointer_mut(parent) {
                Some(Value::Object(m)) => {
                    m.shift_remove(&last);
                }
                Some(Value::Array(a)) => {
                    if let Ok(i) = last.parse::<usize>()
                        && i < a.len()
                    {
                        a.remove(i);
                    }
                }
                _ => {}
            }
        }
        Edit::Insert(k, v, i) => {
            if let Some(target) = doc.pointer_mut(&at) {
                match target {
                    Value::Array(a) => {
                        let pos = i.index(a.len() + 1);
                        a.insert(pos, v.clone());
                    }
                    Value::Object(m) => {
                        m.insert(k.clone(), v.clone());
                    }
                    scalar => *scalar = json!([scalar.clone(), v.clone()]),
                }
            }
        }
        Edit::Duplicate(i) => {
            let parent = split_pointer(&at).map(|(p, last)| (p.to_owned(), last));
            if let Some(Value::Array(a)) = doc.pointer_mut(&at)
                && !a.is_empty()
            {
                let j = i.index(a.len());
                let copy = a[j].clone();
                a.insert(j, copy);
            } else if let Some((parent, last)) = parent
                && let Some(Value::Array(a)) = doc.pointer_mut(&parent)
                && let Ok(j) = last.parse::<usize>()
                && j < a.len()
            {
                let copy = a[j].clone();
                a.insert(j, copy);
            }
        }
    }
}

/// Builds the review a [`Case`] describes.
fn build(case: &Case) -> Value {
    let mut doc = FIXTURE_VALUES[case.fixture].clone();
    if let Some(kind) = case.kind {
        for field in ["object", "oldObject"] {
            if let Some(obj) = doc.pointer_mut(&format!("/request/{field}"))
                && obj.is_object()
            {
                *obj = reshape(obj, kind);
            }
        }
        if let Some(k) = doc.pointer_mut("/request/kind") {
            *k = json!({"group": group_of(kind), "version": "v1", "kind": kind});
        }
    }
    if let Some(op) = doc.pointer_mut("/request/operation") {
        *op = json!(case.operation);
    }
    if let Some((rules, until)) = &case.exemption
        && let Some(Value::Object(meta)) = doc.pointer_mut("/request/object/metadata")
    {
        let annotations = meta.entry("annotations").or_insert_with(|| json!({}));
        if let Value::Object(a) = annotations {
            a.insert("bulwark.dev/exempt".into(), json!(rules));
            a.insert("bulwark.dev/exempt-reason".into(), json!("fuzz"));
            a.insert("bulwark.dev/exempt-until".into(), json!(until));
        }
    }
    if let Some(object) = doc.pointer_mut("/request/object") {
        if let Some(s) = &case.sweep {
            let mut state = s.seed;
            sweep(object, s, &mut state);
        }
        for key in &case.drop_keys {
            drop_key(object, key);
        }
    }
    for step in &case.steps {
        apply_step(&mut doc, step);
    }
    doc
}

// ---------------------------------------------------------------------------------------
// A cluster inventory from generated values (reaches the cluster-aware rules)
// ---------------------------------------------------------------------------------------

#[derive(Debug, Clone)]
struct FakeInventory {
    pdbs: Option<Vec<PdbInfo>>,
    hpa: Option<Option<HpaInfo>>,
    /// NetworkPolicies, ResourceQuotas and LimitRanges of any namespace asked.
    policies: Option<Vec<NetworkPolicySpec>>,
    quotas: Option<Vec<QuotaInfo>>,
    limit_ranges: Option<Vec<LimitRangeInfo>>,
    complete: bool,
}

impl Inventory for FakeInventory {
    fn pdbs(&self, namespace: &str) -> Option<Vec<PdbInfo>> {
        self.pdbs.clone().map(|mut v| {
            for p in &mut v {
                p.namespace = namespace.to_owned();
            }
            v
        })
    }

    fn hpa_for(&self, _namespace: &str, _kind: &str, _name: &str) -> Option<Option<HpaInfo>> {
        self.hpa.clone()
    }

    fn network_policies(&self, namespace: &str) -> Option<Vec<NetworkPolicyInfo>> {
        self.policies.as_ref().map(|v| {
            v.iter()
                .map(|spec| NetworkPolicyInfo {
                    namespace: namespace.to_owned(),
                    name: "np".into(),
                    spec: spec.clone(),
                })
                .collect()
        })
    }

    fn resource_quotas(&self, _namespace: &str) -> Option<Vec<QuotaInfo>> {
        self.quotas.clone()
    }

    fn limit_ranges(&self, _namespace: &str) -> Option<Vec<LimitRangeInfo>> {
        self.limit_ranges.clone()
    }

    fn is_complete(&self) -> bool {
        self.complete
    }
}

fn int_or_string() -> BoxedStrategy<IntOrString> {
    prop_oneof![
        int().prop_map(IntOrString::Int),
        string().prop_map(IntOrString::Str),
    ]
    .boxed()
}

fn inventory() -> BoxedStrategy<FakeInventory> {
    let pdb = (
        prop::option::of(int_or_string()),
        prop::option::of(int_or_string()),
        prop::option::weighted(0.9, Just(LabelSelector::default())),
    )
        .prop_map(|(min_available, max_unavailable, selector)| PdbInfo {
            namespace: String::new(),
            name: "pdb".into(),
            selector,
            min_available,
            max_unavailable,
        });
    let hpa = (int(), int()).prop_map(|(min_replicas, max_replicas)| HpaInfo {
        name: "hpa".into(),
        min_replicas,
        max_replicas,
    });
    let count = || (0usize..3).prop_map(|n| vec![serde::de::IgnoredAny; n]);
    // Peers of every address, of a narrower block, or of selectors only (no ipBlock).
    let peer = prop::option::of(
        (
            select(&["0.0.0.0/0", "::/0", "10.0.0.0/8"][..]),
            prop::collection::vec(Just("10.1.0.0/16".to_owned()), 0..2),
        )
            .prop_map(|(cidr, except)| IpBlock {
                cidr: cidr.into(),
                except,
            }),
    )
    .prop_map(|ip_block| NetworkPolicyPeer { ip_block });
    let rule = (prop::collection::vec(peer, 0..3), count())
        .prop_map(|(from, ports)| NetworkPolicyRule { from, ports });
    let types = prop::collection::vec(select(&["Ingress", "Egress", "Nope"][..]), 0..3);
    let policy = (
        prop::option::weighted(0.7, Just(LabelSelector::default())),
        types,
        prop::collection::vec(rule, 0..3),
        count(),
    )
        .prop_map(|(pod_selector, types, ingress, egress)| NetworkPolicySpec {
            pod_selector,
            policy_types: types.into_iter().map(str::to_owned).collect(),
            ingress,
            egress,
        });
    let quota =
        prop::collection::vec(select(&["pods", "requests.cpu"][..]), 0..2).prop_map(|hard| {
            QuotaInfo {
                name: "q".into(),
                hard: hard.into_iter().map(str::to_owned).collect(),
            }
        });
    let limit_range = (0usize..2).prop_map(|limits| LimitRangeInfo {
        name: "l".into(),
        limits,
    });
    (
        prop::option::weighted(0.9, prop::collection::vec(pdb, 0..3)),
        prop::option::of(prop::option::of(hpa)),
        prop::option::of(prop::collection::vec(policy, 0..3)),
        prop::option::of(prop::collection::vec(quota, 0..2)),
        prop::option::of(prop::collection::vec(limit_range, 0..2)),
        any::<bool>(),
    )
        .prop_map(
            |(pdbs, hpa, policies, quotas, limit_ranges, complete)| FakeInventory {
                pdbs,
                hpa,
                policies,
                quotas,
                limit_ranges,
                complete,
            },
        )
        .boxed()
}

// ---------------------------------------------------------------------------------------
// The checks
// ---------------------------------------------------------------------------------------

fn fail(msg: String) -> TestCaseError {
    TestCaseError::fail(msg)
}

/// What the checks read from a review body: `request.uid` and `request.object` as sent. The
/// envelope is read as admission reads it (fields it does not name are only skipped, which
/// serde_json does without range-checking numbers or checking UTF-8), the object strictly.
#[derive(Deserialize)]
struct Envelope<'a> {
    #[serde(borrow, default)]
    request: Option<EnvelopeRequest<'a>>,
}

#[derive(Deserialize)]
struct EnvelopeRequest<'a> {
    #[serde(default)]
    uid: Option<Value>,
    #[serde(borrow, default)]
    object: Option<&'a RawValue>,
}

/// The request as sent: its uid when a string, and its object (`Err` when the object is
/// JSON that a `Value` cannot hold, such as `1e999`).
struct Sent {
    uid: Option<String>,
    object: Option<Result<Value, serde_json::Error>>,
}

/// Reviews `body` on both endpoints and checks every answer.
fn check_review(body: &[u8]) -> Result<(), TestCaseError> {
    let request = serde_json::from_slice::<Envelope<'_>>(body)
        .ok()
        .and_then(|e| e.request);
    let sent = Sent {
        uid: request
            .as_ref()
            .and_then(|r| r.uid.as_ref())
            .and_then(Value::as_str)
            .map(str::to_owned),
        object: request
            .and_then(|r| r.object)
            .map(|raw| serde_json::from_str(raw.get())),
    };
    for endpoint in [Endpoint::Validate, Endpoint::Mutate] {
        if let Ok(out) = admission().review(endpoint, body) {
            check_outcome(endpoint, &out, &sent)?;
        }
    }
    Ok(())
}

fn check_outcome(endpoint: Endpoint, out: &Outcome, sent: &Sent) -> Result<(), TestCaseError> {
    prop_assert!(!out.uid.is_empty(), "an answered review has a uid");
    if let Some(uid) = &sent.uid {
        prop_assert_eq!(&out.uid, uid, "the response echoes request.uid");
    }
    prop_assert_eq!(
        out.allowed,
        out.status.is_none(),
        "allowed iff no status: {:?}",
        out.status
    );
    let response: Value = serde_json::from_slice(&out.to_json())
        .map_err(|e| fail(format!("response is not JSON: {e}")))?;
    prop_assert_eq!(
        response.pointer("/response/uid").and_then(Value::as_str),
        Some(out.uid.as_str())
    );
    let Some(patch_bytes) = &out.patch else {
        return Ok(());
    };
    prop_assert_eq!(endpoint, Endpoint::Mutate, "only /mutate patches");
    let object = match &sent.object {
        None => return Err(fail("a patch for a review without request.object".into())),
        Some(Ok(object)) => object,
        // Mutation skips `status` and `metadata.managedFields` unparsed, so it answers an
        // object with a number no f64 holds there; the API server never sends one, and the
        // patch cannot be applied to a `Value` of it.
        Some(Err(e)) if e.to_string().contains("number out of range") => return Ok(()),
        Some(Err(e)) => return Err(fail(format!("a patch for an unreadable object: {e}"))),
    };
    let op = match out.operation.as_str() {
        "CREATE" => Operation::Create,
        "UPDATE" => Operation::Update,
        other => return Err(fail(format!("a patch for operation {other:?}"))),
    };
    let patch: json_patch::Patch = serde_json::from_slice(patch_bytes)
        .map_err(|e| fail(format!("patch is not an RFC 6902 patch: {e}")))?;
    prop_assert!(!patch.0.is_empty(), "an empty patch is sent as no patch");
    let patched = apply(object, &patch)?;
    let again = mutate(&patched, op, &DEFAULT_POLICY).map_err(|e| {
        fail(format!(
            "the patched object no longer mutates: {e}\n{patch:?}"
        ))
    })?;
    prop_assert!(
        again.is_empty(),
        "mutation is not idempotent: first {:?}, then {:?}",
        patch,
        again.patch
    );
    Ok(())
}

fn apply(object: &Value, patch: &json_patch::Patch) -> Result<Value, TestCaseError> {
    let mut patched = object.clone();
    json_patch::patch(&mut patched, patch)
        .map_err(|e| fail(format!("patch does not apply: {e}\n{patch:?}\nto {object}")))?;
    Ok(patched)
}

/// Parses, evaluates and mutates `obj` directly (no admission in between).
fn check_direct(
    obj: &Value,
    request_kind: &str,
    inventory: &FakeInventory,
) -> Result<(), TestCaseError> {
    let text = obj.to_string();
    let by_value = Workload::from_value(obj);
    let by_json = Workload::from_json_any(&text);
    prop_assert_eq!(
        by_value.is_ok(),
        by_json.is_ok(),
        "from_value {:?} but from_json_any {:?}",
        by_value.as_ref().err(),
        by_json.as_ref().err()
    );
    let as_requested = Workload::from_json(request_kind, &text).ok();
    for w in [by_value.ok(), as_requested].into_iter().flatten() {
        for policy in [&*DEFAULT_POLICY, &*BASELINE_POLICY] {
            for inv in [None, Some(inventory as &dyn Inventory)] {
                let ctx = Context {
                    inventory: inv,
                    today: Some(TODAY),
                    ..Context::default()
                };
                let report = engine::evaluate(&w, ctx, policy);
                for f in &report.findings {
                    prop_assert!(
                        rules::index_of(f.rule).is_some(),
                        "finding for unknown rule {}",
                        f.rule
                    );
                }
            }
        }
    }
    for policy in [&*DEFAULT_POLICY, &*BASELINE_POLICY] {
        for op in [Operation::Create, Operation::Update] {
            let Ok(m) = mutate(obj, op, policy) else {
                continue;
            };
            if m.is_empty() {
                continue;
            }
            let patched = apply(obj, &m.patch)?;
            let again = mutate(&patched, op, policy)
                .map_err(|e| fail(format!("the patched object no longer mutates: {e}")))?;
            prop_assert!(
                again.is_empty(),
                "mutation is not idempotent ({:?}): first {:?}, then {:?}",
                op,
                m.patch,
                again.patch
            );
        }
    }
    Ok(())
}

// ---------------------------------------------------------------------------------------
// Properties
// ---------------------------------------------------------------------------------------

/// Cases per property: `default`, or `BULWARK_FUZZ_CASES` when set.
fn config(default: u32) -> ProptestConfig {
    let cases = std::env::var("BULWARK_FUZZ_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default);
    ProptestConfig {
        cases,
        failure_persistence: None,
        ..ProptestConfig::default()
    }
}

/// One byte-level edit: (position, byte, 0 overwrite | 1 insert | 2 delete).
type ByteEdit = (Index, u8, u8);

/// Byte-level edits of a fixture: which fixture, and the edits.
fn byte_edits() -> BoxedStrategy<(usize, Vec<ByteEdit>)> {
    (
        0..FIXTURES.len(),
        prop::collection::vec((any::<Index>(), any::<u8>(), 0u8..3), 1..8),
    )
        .boxed()
}

proptest! {
    #![proptest_config(config(2000))]

    #[test]
    fn review_survives_arbitrary_bytes(body in prop::collection::vec(any::<u8>(), 0..512)) {
        check_review(&body)?;
    }
}

proptest! {
    #![proptest_config(config(800))]

    #[test]
    fn review_survives_byte_edits_of_fixtures((fixture, edits) in byte_edits()) {
        let mut body = FIXTURES[fixture].as_bytes().to_vec();
        for (at, byte, what) in edits {
            let i = at.index(body.len() + 1);
            match what {
                0 if i < body.len() => body[i] = byte,
                1 => body.insert(i, byte),
                _ if i < body.len() => {
                    body.remove(i);
                }
                _ => {}
            }
        }
        check_review(&body)?;
    }

    #[test]
    fn review_survives_arbitrary_json(review in arb_review_json()) {
        let body = serde_json::to_vec(&review).expect("serializes");
        check_review(&body)?;
    }

    #[test]
    fn engine_and_mutation_survive_arbitrary_workloads(obj in arb_workload(), inv in inventory()) {
        let kind = obj.get("kind").and_then(Value::as_str).unwrap_or("").to_owned();
        check_direct(&obj, &kind, &inv)?;
    }
}

proptest! {
    // The most expensive property: a 10-18 KB review, both endpoints, direct checks.
    #![proptest_config(config(400))]

    #[test]
    fn review_survives_mutated_fixtures(case in case(), inv in inventory()) {
        let review = build(&case);
        let body = serde_json::to_vec(&review).expect("serializes");
        check_review(&body)?;
        if let Some(object) = review.pointer("/request/object") {
            let kind = review
                .pointer("/request/kind/kind")
                .and_then(Value::as_str)
                .unwrap_or("");
            check_direct(object, kind, &inv)?;
        }
    }
}

/// The fixtures themselves pass every check, unedited, on both endpoints and with each
/// operation (a sanity check that the checks do not pass vacuously).
#[test]
fn fixtures_pass_the_checks_and_mutate_produces_patches() {
    let mut patched = 0;
    for (i, fixture) in FIXTURES.iter().enumerate() {
        for kind in KINDS {
            for operation in ["CREATE", "UPDATE"] {
                let case = Case {
                    fixture: i,
                    kind: Some(kind),
                    operation,
                    exemption: None,
                    sweep: None,
                    drop_keys: Vec::new(),
                    steps: Vec::new(),
                };
                let body = serde_json::to_vec(&build(&case)).expect("serializes");
                check_review(&body).unwrap_or_else(|e| panic!("{kind} {operation}: {e}"));
                let out = admission()
                    .review(Endpoint::Mutate, &body)
                    .expect("fixture reviews");
                patched += usize::from(out.patch.is_some());
            }
        }
        check_review(fixture.as_bytes()).expect("fixture as is");
    }
    assert!(
        patched >= 10,
        "the reshaped fixtures should mostly get patches, got {patched}"
    );
}

/// Found by `review_survives_byte_edits_of_fixtures`: a number no f64 holds (`2e4224`) in a
/// field admission only skips (`oldObject` of a Deployment UPDATE) does not stop the review,
/// which is answered, with a patch that applies, like the unedited fixture's.
#[test]
fn out_of_range_number_in_a_skipped_field_is_answered() {
    let (object, old) =
        FIXTURES[1].split_at(FIXTURES[1].find("\"oldObject\"").expect("has oldObject"));
    let body = format!(
        "{object}{}",
        old.replacen("\"containerPort\":24224", "\"containerPort\":2e4224", 1)
    );
    assert!(serde_json::from_str::<Value>(&body).is_err(), "not a Value");
    check_review(body.as_bytes()).unwrap_or_else(|e| panic!("{e}"));
    let out = admission()
        .review(Endpoint::Mutate, body.as_bytes())
        .expect("answered");
    let plain = admission()
        .review(Endpoint::Mutate, FIXTURES[1].as_bytes())
        .expect("answered");
    assert!(out.patch.is_some(), "the fixture UPDATE gets defaults");
    assert_eq!(out.patch, plain.patch);
    assert_eq!(out.uid, plain.uid);
}
