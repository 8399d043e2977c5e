//! Unit tests of the pure auditor: judging as admission does, snapshots, reports, state,
//! change detection and pruning.

use std::collections::BTreeSet;

use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::core::v1::Pod;
use kube::runtime::watcher::Event;
use serde_json::{Value, json};

use super::cache::{Changes, Tracker, View, prune};
use super::evaluate::{CLUSTER_SCOPE, Object, Verdict, is_subject};
use super::report::{self, HASH_ANNOTATION, OMITTED_ANNOTATION, ReportKey};
use super::snapshot::Snapshot;
use super::state::{AuditState, Scopes};
use crate::admission::{Admission, Endpoint};
use crate::config::{Mode, Policy};
use crate::engine::Severity;

const OWN: &str = "bulwark-system";
const TODAY: i64 = 20_000; // 2024-10-04

fn obj(v: Value) -> Object {
    let mut objects = Vec::new();
    Snapshot::insert_value(&mut objects, &v).expect("test object parses");
    objects.pop().expect("one object")
}

fn namespace(name: &str, labels: Value) -> Value {
    json!({"apiVersion": "v1", "kind": "Namespace",
        "metadata": {"name": name, "uid": format!("uid-{name}"), "labels": labels}})
}

/// A Deployment that runs privileged (an `error` finding) with `replicas`.
fn deployment(ns: &str, name: &str, replicas: i64) -> Value {
    json!({"apiVersion": "apps/v1", "kind": "Deployment",
        "metadata": {"name": name, "namespace": ns, "uid": format!("uid-{name}")},
        "spec": {"replicas": replicas, "selector": {"matchLabels": {"app": name}},
            "template": {"metadata": {"labels": {"app": name}},
                "spec": {"containers": [{"name": "c", "image": "nginx:1.27",
                    "securityContext": {"privileged": true}}]}}}})
}

fn pdb(ns: &str, app: &str) -> Value {
    json!({"apiVersion": "policy/v1", "kind": "PodDisruptionBudget",
        "metadata": {"name": app, "namespace": ns},
        "spec": {"maxUnavailable": 1, "selector": {"matchLabels": {"app": app}}}})
}

fn snapshot(objects: Vec<Value>) -> Snapshot {
    Snapshot::new(objects.into_iter().map(obj).collect(), false)
}

fn rules(results: &super::AuditResults, scope: &str, verdict: Verdict) -> BTreeSet<&'static str> {
    results
        .get(scope)
        .map(|s| {
            s.findings
                .iter()
                .filter(|f| f.verdict == verdict)
                .map(|f| f.rule)
                .collect()
        })
        .unwrap_or_default()
}

#[test]
fn modes_apply_as_at_admission() {
    let mut policy = Policy::default();
    let snap = snapshot(vec![
        namespace("shop", json!({"bulwark.dev/mode": "audit"})),
        namespace("legacy", json!({"bulwark.dev/mode": "off"})),
        namespace("plain", json!({})),
        namespace("kube-system", json!({})),
        namespace(OWN, json!({})),
        deployment("shop", "web", 2),
        deployment("legacy", "old", 2),
        deployment("plain", "api", 2),
        deployment("kube-system", "dns", 2),
        deployment(OWN, "bulwark", 2),
    ]);
    let r = snap.evaluate(&policy, OWN, TODAY);
    // Audit namespaces report what enforce would deny as `fail`, judged in audit mode.
    assert!(rules(&r, "shop", Verdict::Fail).contains("privileged"));
    let shop = &r["shop"];
    assert!(shop.findings.iter().all(|f| f.mode == Mode::Audit));
    assert_eq!(shop.objects, 1);
    assert!(rules(&r, "plain", Verdict::Fail).contains("privileged"));
    assert!(r["plain"].findings.iter().all(|f| f.mode == Mode::Enforce));
    // Off, system and bulwark's own namespaces are not reported at all.
    for ns in ["legacy", "kube-system", OWN] {
        assert!(!r.contains_key(ns), "{ns} reported");
    }

    // Opt-in: an unlabelled namespace is not opted in.
    policy.scope = crate::config::Scope::OptIn;
    let r = snap.evaluate(&policy, OWN, TODAY);
    assert!(r.contains_key("shop"));
    assert!(!r.contains_key("plain"));
}

#[test]
fn fail_is_exactly_what_enforce_denies_at_admission() {
    let mut policy = Policy::default();
    policy.mode = Mode::Audit; // the trial: nothing is denied yet
    let snap = snapshot(vec![
        namespace("shop", json!({})),
        deployment("shop", "web", 1),
        pdb("shop", "web"),
    ]);
    let audited = snap.evaluate(&policy, OWN, TODAY);
    let failed: BTreeSet<(&str, &str)> = audited["shop"]
        .findings
        .iter()
        .filter(|f| f.verdict == Verdict::Fail)
        .map(|f| (f.rule, f.path.as_str()))
        .collect();
    assert!(!failed.is_empty());

    // The same object as a CREATE review once the namespace is switched to enforce.
    policy.mode = Mode::Enforce;
    let admission = Admission {
        policy: &policy,
        cluster: Some(&snap),
        own_namespace: OWN,
        today: TODAY,
    };
    let review = json!({"apiVersion": "admission.k8s.io/v1", "kind": "AdmissionReview",
        "request": {"uid": "u", "kind": {"group": "apps", "version": "v1", "kind": "Deployment"},
            "resource": {"group": "apps", "version": "v1", "resource": "deployments"},
            "namespace": "shop", "name": "web", "operation": "CREATE",
            "userInfo": {"username": "alice"}, "object": deployment("shop", "web", 1)}});
    let out = admission
        .review(Endpoint::Validate, review.to_string().as_bytes())
        .expect("reviews");
    assert!(!out.allowed);
    let denied: BTreeSet<(&str, &str)> = out
        .findings
        .iter()
        .filter(|(f, m)| f.severity == Severity::Error && *m == Mode::Enforce)
        .map(|(f, _)| (f.rule, f.path.as_str()))
        .collect();
    assert_eq!(failed, denied);
}

#[test]
fn rule_modes_cap_and_drop() {
    let policy =
        Policy::from_yaml("rules:\n  privileged:\n    mode: audit\n  replicas:\n    mode: off\n")
            .expect("policy");
    let snap = snapshot(vec![
        namespace("shop", json!({})),
        deployment("shop", "web", 1),
    ]);
    let r = snap.evaluate(&policy, OWN, TODAY);
    // A rule capped at audit never denies: reported, as warn.
    assert!(rules(&r, "shop", Verdict::Warn).contains("privileged"));
    assert!(!rules(&r, "shop", Verdict::Fail).contains("privileged"));
    let all: Vec<_> = r["shop"].findings.iter().map(|f| f.rule).collect();
    assert!(!all.contains(&"replicas"), "a rule set off is not reported");
}

#[test]
fn exempt_findings_are_skipped_with_the_exceptions_reason() {
    let exception = json!({"apiVersion": "bulwark.dev/v1alpha1", "kind": "BulwarkException",
        "metadata": {"name": "web-privileged", "namespace": OWN},
        "spec": {"namespaces": ["shop"], "kinds": ["Deployment"], "names": ["web"],
            "rules": ["privileged"], "reason": "vendor image needs it (TICKET-1)"}});
    let snap = snapshot(vec![
        namespace("shop", json!({})),
        deployment("shop", "web", 2),
        exception,
    ]);
    let r = snap.evaluate(&Policy::default(), OWN, TODAY);
    let skipped: Vec<_> = r["shop"]
        .findings
        .iter()
        .filter(|f| f.verdict == Verdict::Skip)
        .collect();
    assert_eq!(skipped.len(), 1, "{skipped:?}");
    assert_eq!(skipped[0].rule, "privileged");
    let reason = skipped[0].exemption.as_deref().unwrap_or_default();
    assert!(reason.contains("bulwark-system/web-privileged"), "{reason}");
    assert!(reason.contains("TICKET-1"), "{reason}");
    assert!(!rules(&r, "shop", Verdict::Fail).contains("privileged"));

    // A policy entry says which one.
    let policy = Policy::from_yaml(
        "exemptions:\n  workloads:\n  - {namespace: shop, name: web, rules: [privileged]}\n",
    )
    .expect("policy");
    let r = snapshot(vec![
        namespace("shop", json!({})),
        deployment("shop", "web", 2),
    ])
    .evaluate(&policy, OWN, TODAY);
    let skip = r["shop"]
        .findings
        .iter()
        .find(|f| f.verdict == Verdict::Skip)
        .expect("a skip");
    assert_eq!(
        skip.exemption.as_deref(),
        Some("policy exemptions.workloads[0]")
    );
}

#[test]
fn controller_made_objects_are_judged_through_their_owner() {
    let policy = Policy::default();
    let pod = |name: &str, owner: Option<(&str, &str)>| {
        let mut p = json!({"apiVersion": "v1", "kind": "Pod",
            "metadata": {"name": name, "namespace": "shop"},
            "spec": {"containers": [{"name": "c", "image": "nginx:1.27",
                "securityContext": {"privileged": true}}]}});
        if let Some((api, kind)) = owner {
            p["metadata"]["ownerReferences"] = json!([{"apiVersion": api, "kind": kind,
                "name": "x", "uid": "u", "controller": true}]);
        }
        obj(p)
    };
    let owned = pod("owned", Some(("apps/v1", "ReplicaSet")));
    let bare = pod("bare", None);
    let operator = pod("operated", Some(("example.com/v1", "Database")));
    assert!(!is_subject(&owned.workload, &policy));
    assert!(is_subject(&bare.workload, &policy));
    assert!(
        is_subject(&operator.workload, &policy),
        "not a built-in controller"
    );
    let snap = Snapshot::new(
        vec![obj(namespace("shop", json!({}))), owned, bare, operator],
        false,
    );
    let r = snap.evaluate(&policy, OWN, TODAY);
    let names: BTreeSet<&str> = r["shop"]
        .findings
        .iter()
        .map(|f| f.subject.name.as_str())
        .collect();
    assert_eq!(names, BTreeSet::from(["bare", "operated"]));
    assert_eq!(r["shop"].objects, 2);
}

#[test]
fn cluster_aware_inputs_come_from_the_snapshot() {
    let policy = Policy::default();
    let without = snapshot(vec![
        namespace("shop", json!({})),
        deployment("shop", "web", 2),
    ])
    .evaluate(&policy, OWN, TODAY);
    // A live snapshot: a missing PDB is a warning, as at admission.
    assert!(rules(&without, "shop", Verdict::Warn).contains("disruption-budget"));
    let with = snapshot(vec![
        namespace("shop", json!({})),
        deployment("shop", "web", 2),
        pdb("shop", "web"),
    ])
    .evaluate(&policy, OWN, TODAY);
    let all: BTreeSet<_> = with["shop"].findings.iter().map(|f| f.rule).collect();
    assert!(!all.contains("disruption-budget"), "{all:?}");
    // A PDB in another namespace does not count.
    let elsewhere = snapshot(vec![
        namespace("shop", json!({})),
        namespace("other", json!({})),
        deployment("shop", "web", 2),
        pdb("other", "web"),
    ])
    .evaluate(&policy, OWN, TODAY);
    assert!(rules(&elsewhere, "shop", Verdict::Warn).contains("disruption-budget"));
}

#[test]
fn namespaces_are_judged_in_the_cluster_scope() {
    let snap = snapshot(vec![
        namespace("shop", json!({})),
        namespace(
            "secure",
            json!({"pod-security.kubernetes.io/enforce": "restricted"}),
        ),
        namespace("kube-system", json!({})),
    ]);
    let r = snap.evaluate(&Policy::default(), OWN, TODAY);
    let cluster = &r[CLUSTER_SCOPE];
    let named: Vec<_> = cluster
        .findings
        .iter()
        .map(|f| (f.subject.name.as_str(), f.rule, f.verdict))
        .collect();
    assert_eq!(named, [("shop", "namespace-pod-security", Verdict::Warn)]);
    assert_eq!(cluster.objects, 2, "kube-system is exempt");
}

#[test]
fn results_are_ordered_failures_first_then_by_object() {
    let snap = snapshot(vec![
        namespace("shop", json!({})),
        deployment("shop", "b", 2),
        deployment("shop", "a", 2),
    ]);
    let r = snap.evaluate(&Policy::default(), OWN, TODAY);
    let f = &r["shop"].findings;
    let first_warn = f
        .iter()
        .position(|x| x.verdict != Verdict::Fail)
        .unwrap_or(f.len());
    assert!(f[first_warn..].iter().all(|x| x.verdict != Verdict::Fail));
    let fails: Vec<&str> = f[..first_warn]
        .iter()
        .map(|x| x.subject.name.as_str())
        .collect();
    let mut sorted = fails.clone();
    sorted.sort();
    assert_eq!(fails, sorted);
}

fn shop_audit(deployments: usize) -> super::ScopeAudit {
    let mut objects = vec![namespace("shop", json!({}))];
    objects.extend((0..deployments).map(|i| deployment("shop", &format!("d{i:04}"), 2)));
    let mut r = snapshot(objects).evaluate(&Policy::default(), OWN, TODAY);
    r.remove("shop").expect("shop judged")
}

#[test]
fn a_report_has_the_working_groups_shape() {
    let audit = shop_audit(1);
    let built = report::build(
        ReportKey::Namespace("shop".into()),
        &audit,
        1000,
        1_700_000_000,
    )
    .expect("a report");
    let o = &built.to_value();
    assert_eq!(o["apiVersion"], "wgpolicyk8s.io/v1alpha2");
    assert_eq!(o["kind"], "PolicyReport");
    assert_eq!(o["metadata"]["name"], "bulwark");
    assert_eq!(o["metadata"]["namespace"], "shop");
    assert_eq!(
        o["metadata"]["labels"]["app.kubernetes.io/managed-by"],
        "bulwark"
    );
    assert_eq!(o["metadata"]["annotations"][HASH_ANNOTATION], built.hash);
    let results = o["results"].as_array().expect("results");
    assert_eq!(results.len(), audit.findings.len());
    let privileged = results
        .iter()
        .find(|r| r["rule"] == "privileged")
        .expect("privileged");
    assert_eq!(privileged["policy"], "bulwark");
    assert_eq!(privileged["source"], "bulwark");
    assert_eq!(privileged["result"], "fail");
    assert_eq!(privileged["severity"], "high");
    assert_eq!(privileged["category"], "security");
    assert_eq!(privileged["scored"], true);
    assert_eq!(
        privileged["timestamp"],
        json!({"seconds": 1_700_000_000, "nanos": 0})
    );
    let path = "spec.template.spec.containers[0].securityContext.privileged";
    assert_eq!(privileged["properties"]["path"], path);
    assert!(
        privileged["message"]
            .as_str()
            .unwrap_or_default()
            .ends_with(&format!("({path})")),
        "{}",
        privileged["message"]
    );
    assert_eq!(
        privileged["resources"],
        json!([{"apiVersion": "apps/v1", "kind": "Deployment", "name": "d0000",
            "namespace": "shop", "uid": "uid-d0000"}])
    );
    let warn = results
        .iter()
        .find(|r| r["result"] == "warn")
        .expect("a warning");
    assert_eq!(warn["severity"], "medium");
    let s = &o["summary"];
    assert_eq!(s["fail"], audit.count(Verdict::Fail));
    assert_eq!(s["warn"], audit.count(Verdict::Warn));
    assert_eq!(s["skip"], 0);
    assert_eq!(s["pass"], 0);
}

#[test]
fn a_capped_report_counts_everything_and_lists_failures_first() {
    let audit = shop_audit(5);
    let total = audit.findings.len();
    let fails = audit.count(Verdict::Fail);
    let cap = fails + 10;
    assert!(total > cap, "{total} {fails}");
    let built =
        report::build(ReportKey::Namespace("shop".into()), &audit, cap, 0).expect("a report");
    let o = built.to_value();
    let results = o["results"].as_array().expect("results");
    assert_eq!(results.len(), cap);
    assert_eq!(built.summary.fail + built.summary.warn, total);
    assert_eq!(o["summary"]["fail"], fails);
    assert!(results[..fails].iter().all(|r| r["result"] == "fail"));
    assert!(results[fails..].iter().all(|r| r["result"] == "warn"));
    assert_eq!(
        o["metadata"]["annotations"][OMITTED_ANNOTATION],
        (total - cap).to_string()
    );
}

#[test]
fn the_hash_ignores_timestamps_and_sees_content() {
    let audit = shop_audit(2);
    let key = ReportKey::Namespace("shop".into());
    let a = report::build(key.clone(), &audit, 1000, 1).expect("report");
    let b = report::build(key.clone(), &audit, 1000, 2).expect("report");
    assert_ne!(a.json.get(), b.json.get());
    assert_eq!(a.hash, b.hash);
    let c = report::build(key, &shop_audit(3), 1000, 1).expect("report");
    assert_ne!(a.hash, c.hash);
    assert!(report::build(ReportKey::Cluster, &Default::default(), 1000, 1).is_none());
}

#[test]
fn the_cluster_report_is_cluster_scoped() {
    let r = snapshot(vec![namespace("shop", json!({}))]).evaluate(&Policy::default(), OWN, 0);
    let built = report::build(ReportKey::of_scope(CLUSTER_SCOPE), &r[CLUSTER_SCOPE], 10, 0)
        .expect("report");
    let o = built.to_value();
    assert_eq!(o["kind"], "ClusterPolicyReport");
    assert!(o["metadata"].get("namespace").is_none());
    assert_eq!(
        o["results"][0]["resources"][0],
        json!({"apiVersion": "v1", "kind": "Namespace", "name": "shop", "uid": "uid-shop"})
    );
}

#[test]
fn state_replaces_only_the_scopes_judged() {
    let state = AuditState::default();
    let all = snapshot(vec![
        namespace("a", json!({})),
        namespace("b", json!({})),
        deployment("a", "x", 2),
        deployment("b", "y", 2),
    ])
    .evaluate(&Policy::default(), OWN, TODAY);
    state.replace(&Scopes::All, all);
    let scopes = |s: &AuditState| s.read(|v| v.scopes.keys().cloned().collect::<Vec<_>>());
    assert_eq!(scopes(&state), ["", "a", "b"]);
    // "b" judged again and now empty (its deployment is gone): dropped; "a" untouched.
    let partial = snapshot(vec![namespace("a", json!({})), namespace("b", json!({}))]).evaluate(
        &Policy::default(),
        OWN,
        TODAY,
    );
    state.replace(&Scopes::Some(BTreeSet::from(["b".to_owned()])), partial);
    assert_eq!(scopes(&state), ["", "a"]);
    assert_eq!(state.read(|v| v.generation), 2);
}

fn k8s<T: serde::de::DeserializeOwned>(v: Value) -> T {
    serde_json::from_value(v).expect("k8s object")
}

#[test]
fn cached_views_keep_what_rules_read_and_only_ownership_of_controller_made_objects() {
    let policy = Policy::default();
    let mut d = deployment("shop", "web", 2);
    d["metadata"]["annotations"] = json!({
        "kubectl.kubernetes.io/last-applied-configuration": "{...}", "team": "x"});
    d["metadata"]["managedFields"] = json!([{"manager": "kubectl"}]);
    d["metadata"]["resourceVersion"] = json!("42");
    d["status"] = json!({"replicas": 2});
    let mut d: View<Deployment> = k8s(d);
    prune(&mut d, &policy);
    assert_eq!(d.metadata.resource_version.as_deref(), Some("42"));
    assert_eq!(d.metadata.uid.as_deref(), Some("uid-web"));
    assert!(d.metadata.managed_fields.is_none() && d.metadata.annotations.is_none());
    let w = &d.object.workload;
    assert_eq!(w.meta.annotations.keys().collect::<Vec<_>>(), ["team"]);
    assert!(w.pod().is_some(), "judged as itself: its template stays");

    let mut p: View<Pod> = k8s(json!({"apiVersion": "v1", "kind": "Pod",
        "metadata": {"name": "web-1", "namespace": "shop", "labels": {"app": "web"},
            "ownerReferences": [{"apiVersion": "apps/v1", "kind": "ReplicaSet",
                "name": "web-5d", "uid": "u", "controller": true}]},
        "spec": {"containers": [{"name": "c", "image": "nginx"}]}}));
    prune(&mut p, &policy);
    let w = &p.object.workload;
    assert!(w.pod().is_none() && w.meta.labels.is_empty());
    assert_eq!(w.meta.owner_references.len(), 1);
    assert!(!is_subject(w, &policy));
}

#[test]
fn watch_events_mark_namespaces_of_objects_judged_as_themselves() {
    let policy = Policy::default();
    let changes = Changes::default();
    let mut tracker = Tracker::default();
    let owned = |ns: &str| -> View<Pod> {
        k8s(json!({"apiVersion": "v1", "kind": "Pod",
            "metadata": {"name": "p", "namespace": ns, "ownerReferences": [{"apiVersion": "apps/v1",
                "kind": "ReplicaSet", "name": "rs", "uid": "u", "controller": true}]}}))
    };
    let bare = |ns: &str| -> View<Pod> {
        k8s(json!({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "p", "namespace": ns}}))
    };
    // The initial list: everything, once.
    tracker.observe(&Event::<View<Pod>>::Init, &policy, &changes);
    tracker.observe(&Event::InitApply(bare("a")), &policy, &changes);
    tracker.observe(&Event::<View<Pod>>::InitDone, &policy, &changes);
    assert_eq!(changes.take(), Scopes::All);
    // Controller-made Pods churn without marking anything.
    tracker.observe(&Event::Apply(owned("b")), &policy, &changes);
    tracker.observe(&Event::Delete(owned("b")), &policy, &changes);
    assert!(changes.take().is_empty());
    // A bare Pod changing marks its namespace; adopted, it marks it once more (its
    // results must go); then its churn marks nothing.
    tracker.observe(&Event::Apply(bare("a")), &policy, &changes);
    assert_eq!(
        changes.take(),
        Scopes::Some(BTreeSet::from(["a".to_owned()]))
    );
    tracker.observe(&Event::Apply(owned("a")), &policy, &changes);
    assert_eq!(
        changes.take(),
        Scopes::Some(BTreeSet::from(["a".to_owned()]))
    );
    tracker.observe(&Event::Apply(owned("a")), &policy, &changes);
    assert!(changes.take().is_empty());
    // Deleting a bare Pod marks its namespace.
    tracker.observe(&Event::Apply(bare("c")), &policy, &changes);
    changes.take();
    tracker.observe(&Event::Delete(bare("c")), &policy, &changes);
    assert_eq!(
        changes.take(),
        Scopes::Some(BTreeSet::from(["c".to_owned()]))
    );
}

#[test]
fn fingerprints_find_label_pdb_and_exception_changes() {
    use super::cache::{ClusterStores, Fingerprints};
    use kube::runtime::reflector;
    let (namespaces, mut ns_w) = reflector::store();
    let (pdbs, mut pdb_w) = reflector::store();
    let (hpas, _hpa_w) =
        reflector::store::<k8s_openapi::api::autoscaling::v2::HorizontalPodAutoscaler>();
    let (exceptions, mut exc_w) = reflector::store::<crate::cluster::BulwarkException>();
    let stores = ClusterStores {
        namespaces,
        pdbs,
        hpas,
        exceptions,
    };
    let apply_ns = |w: &mut reflector::store::Writer<_>, labels: Value| {
        w.apply_watcher_event(&Event::Apply(k8s(namespace("shop", labels))));
    };
    let pdb_rv = |w: &mut reflector::store::Writer<_>, rv: &str| {
        let mut p = pdb("shop", "web");
        p["metadata"]["resourceVersion"] = json!(rv);
        w.apply_watcher_event(&Event::Apply(k8s(p)));
    };
    apply_ns(&mut ns_w, json!({}));
    pdb_rv(&mut pdb_w, "1");
    let before = Fingerprints::of(&stores);
    assert!(before.changed(&Fingerprints::of(&stores), OWN).is_empty());

    apply_ns(&mut ns_w, json!({"bulwark.dev/mode": "audit"}));
    let now = Fingerprints::of(&stores);
    assert_eq!(
        before.changed(&now, OWN),
        Scopes::Some(BTreeSet::from(["".to_owned(), "shop".to_owned()]))
    );
    pdb_rv(&mut pdb_w, "2");
    let later = Fingerprints::of(&stores);
    assert_eq!(
        now.changed(&later, OWN),
        Scopes::Some(BTreeSet::from(["shop".to_owned()]))
    );
    exc_w.apply_watcher_event(&Event::Apply(k8s(json!({
        "metadata": {"name": "e", "namespace": OWN, "resourceVersion": "7"},
        "spec": {}}))));
    assert_eq!(later.changed(&Fingerprints::of(&stores), OWN), Scopes::All);
}
