//! The auditor's full pass over a generated cluster: 10,000 workloads (70% Deployments, 15%
//! StatefulSets, 10% DaemonSets, 5% CronJobs) in 100 namespaces, a PDB and an HPA for every
//! Deployment and StatefulSet, all in reflector stores exactly as the server holds them
//! (pruned on the way in). Measured: the pass as the server runs it (snapshot of the stores
//! plus evaluation), evaluation alone, and building every report.
//!
//! Run: `taskset -c 1 cargo bench --bench audit` (one core).
//! Memory: `BULWARK_AUDIT_RSS=1 cargo bench --bench audit` fills the caches, makes one
//! pass, prints VmRSS/VmHWM and exits; `BULWARK_AUDIT_RSS=owned` also caches the
//! ReplicaSet and two Pods the controllers make for each Deployment.
//! Figures in docs/benchmarks.md.

// criterion_group! generates an undocumented pub fn.
#![allow(missing_docs)]

use std::hint::black_box;

use bulwark::audit::cache::{AuditCache, Cached, ClusterStores, View, WorkloadStores, prune};
use bulwark::audit::report::{self, ReportKey};
use bulwark::audit::state::Scopes;
use bulwark::config::Policy;
use criterion::{Criterion, criterion_group};
use kube::runtime::reflector::{self, store::Writer};
use kube::runtime::watcher::Event;
use serde_json::{Value, json};

// The allocator the `bulwark` binary ships with (src/main.rs), so these figures are its.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

const WORKLOADS: usize = 10_000;
const NAMESPACES: usize = 100;
const OWN: &str = "bulwark-system";
const TODAY: i64 = 20_000;

/// Writers of every store the auditor reads.
struct Writers {
    namespaces: Writer<k8s_openapi::api::core::v1::Namespace>,
    pdbs: Writer<k8s_openapi::api::policy::v1::PodDisruptionBudget>,
    hpas: Writer<k8s_openapi::api::autoscaling::v2::HorizontalPodAutoscaler>,
    deployments: Writer<View<k8s_openapi::api::apps::v1::Deployment>>,
    statefulsets: Writer<View<k8s_openapi::api::apps::v1::StatefulSet>>,
    daemonsets: Writer<View<k8s_openapi::api::apps::v1::DaemonSet>>,
    cronjobs: Writer<View<k8s_openapi::api::batch::v1::CronJob>>,
    replicasets: Writer<View<k8s_openapi::api::apps::v1::ReplicaSet>>,
    pods: Writer<View<k8s_openapi::api::core::v1::Pod>>,
}

/// Deserializes `v` as the watcher does, prunes it as the auditor's reflector does, and
/// stores it.
fn put<K: Cached>(w: &mut Writer<View<K>>, v: Value, policy: &Policy) {
    let mut k: View<K> = serde_json::from_value(v).expect("generated object parses");
    prune(&mut k, policy);
    w.apply_watcher_event(&Event::Apply(k));
}

fn put_plain<K>(w: &mut Writer<K>, v: Value)
where
    K: kube::Resource<DynamicType = ()> + serde::de::DeserializeOwned + Clone + 'static,
{
    let k: K = serde_json::from_value(v).expect("generated object parses");
    w.apply_watcher_event(&Event::Apply(k));
}

fn meta(kind: &str, ns: &str, name: &str, i: usize) -> Value {
    json!({"name": name, "namespace": ns, "uid": format!("00000000-0000-0000-{kind}-{i:012}"),
        "resourceVersion": format!("{}", 1000 + i), "generation": 3,
        "creationTimestamp": "2024-01-01T00:00:00Z",
        "labels": {"app.kubernetes.io/name": name, "app.kubernetes.io/part-of": "shop",
            "team": format!("team-{}", i % 13)},
        "annotations": {"kubectl.kubernetes.io/last-applied-configuration":
            "{\"apiVersion\":\"apps/v1\",\"kind\":\"Deployment\",\"metadata\":{}}".repeat(20),
            "deployment.kubernetes.io/revision": "3"},
        "managedFields": [{"manager": "kubectl", "operation": "Apply", "apiVersion": "apps/v1",
            "time": "2024-01-01T00:00:00Z", "fieldsType": "FieldsV1",
            "fieldsV1": {"f:spec": {"f:replicas": {}, "f:template": {"f:spec": {"f:containers": {}}}}}}]})
}

/// A pod template: two containers; every other workload hardened, every 7th privileged.
fn template(name: &str, i: usize) -> Value {
    let hardened = i % 2 == 0;
    let mut app = json!({"name": "app", "image": format!("registry.example.com/shop/{name}:1.{}", i % 50),
        "ports": [{"name": "http", "containerPort": 8080}],
        "env": (0..5).map(|e| json!({"name": format!("SETTING_{e}"), "value": format!("v{e}")})).collect::<Vec<_>>(),
        "resources": {"requests": {"cpu": "100m", "memory": "128Mi"},
            "limits": {"cpu": "500m", "memory": "256Mi"}}});
    if hardened {
        app["securityContext"] = json!({"allowPrivilegeEscalation": false, "readOnlyRootFilesystem": true,
            "runAsNonRoot": true, "capabilities": {"drop": ["ALL"]},
            "seccompProfile": {"type": "RuntimeDefault"}});
        app["readinessProbe"] = json!({"httpGet": {"path": "/ready", "port": "http"}});
        app["livenessProbe"] = json!({"httpGet": {"path": "/health", "port": "http"}});
        app["lifecycle"] = json!({"preStop": {"sleep": {"seconds": 5}}});
    } else if i % 7 == 0 {
        app["securityContext"] = json!({"privileged": true});
    }
    json!({"metadata": {"labels": {"app": name, "app.kubernetes.io/name": name}},
        "spec": {"serviceAccountName": name, "automountServiceAccountToken": false,
            "terminationGracePeriodSeconds": 30,
            "containers": [app, {"name": "proxy", "image": "registry.example.com/proxy@sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef",
                "resources": {"requests": {"cpu": "10m", "memory": "32Mi"}, "limits": {"cpu": "100m", "memory": "64Mi"}}}]}})
}

/// Fills the stores with the generated cluster; `owned` adds the ReplicaSet and two Pods
/// the controllers make for each Deployment.
fn fill(w: &mut Writers, policy: &Policy, owned: bool) {
    for n in 0..NAMESPACES {
        let mut labels = json!({"kubernetes.io/metadata.name": format!("ns-{n:03}")});
        if n % 2 == 0 {
            labels["pod-security.kubernetes.io/enforce"] = json!("restricted");
        }
        if n % 5 == 0 {
            labels["bulwark.dev/mode"] = json!("audit");
        }
        put_plain(
            &mut w.namespaces,
            json!({"apiVersion": "v1", "kind": "Namespace",
                "metadata": {"name": format!("ns-{n:03}"), "labels": labels}}),
        );
    }
    for i in 0..WORKLOADS {
        let ns = format!("ns-{:03}", i % NAMESPACES);
        let name = format!("w{i:05}");
        let spec = |replicas: i64| {
            json!({"replicas": replicas, "selector": {"matchLabels": {"app": name}},
                "template": template(&name, i)})
        };
        let status = json!({"replicas": 3, "readyReplicas": 3, "observedGeneration": 3});
        let (kind, scaled) = match i % 20 {
            0..=13 => ("Deployment", true),
            14..=16 => ("StatefulSet", true),
            17 | 18 => ("DaemonSet", false),
            _ => ("CronJob", false),
        };
        let obj = |api: &str, spec: Value| {
            json!({"apiVersion": api, "kind": kind, "metadata": meta("0001", &ns, &name, i),
                "spec": spec, "status": status})
        };
        match kind {
            "Deployment" => {
                let mut s = spec(1 + (i % 3) as i64);
                s["strategy"] = json!({"type": "RollingUpdate",
                    "rollingUpdate": {"maxUnavailable": 0, "maxSurge": 1}});
                put(&mut w.deployments, obj("apps/v1", s), policy);
                if owned {
                    let rs = format!("{name}-5d8f7c9b4");
                    let owner = |api: &str, kind: &str, owner: &str| {
                        json!([{"apiVersion": api, "kind": kind, "name": owner,
                            "uid": "u", "controller": true}])
                    };
                    let mut m = meta("0002", &ns, &rs, i);
                    m["ownerReferences"] = owner("apps/v1", "Deployment", &name);
                    put(
                        &mut w.replicasets,
                        json!({"apiVersion": "apps/v1", "kind": "ReplicaSet", "metadata": m,
                            "spec": spec(2), "status": status}),
                        policy,
                    );
                    for p in 0..2 {
                        let mut m = meta("0003", &ns, &format!("{rs}-{p}x7q"), i);
                        m["ownerReferences"] = owner("apps/v1", "ReplicaSet", &rs);
                        put(
                            &mut w.pods,
                            json!({"apiVersion": "v1", "kind": "Pod", "metadata": m,
                                "spec": template(&name, i)["spec"], "status": {"phase": "Running",
                                "podIP": "10.0.0.1", "conditions": [{"type": "Ready", "status": "True"}]}}),
                            policy,
                        );
                    }
                }
            }
            "StatefulSet" => {
                let mut s = spec(3);
                s["serviceName"] = json!(name);
                put(&mut w.statefulsets, obj("apps/v1", s), policy);
            }
            "DaemonSet" => {
                let mut s = spec(0);
                s.as_object_mut().map(|o| o.remove("replicas"));
                put(&mut w.daemonsets, obj("apps/v1", s), policy);
            }
            _ => put(
                &mut w.cronjobs,
                obj(
                    "batch/v1",
                    json!({"schedule": "*/5 * * * *", "jobTemplate": {"spec": {"template": template(&name, i)}}}),
                ),
                policy,
            ),
        }
        if scaled {
            put_plain(
                &mut w.pdbs,
                json!({"apiVersion": "policy/v1", "kind": "PodDisruptionBudget",
                    "metadata": {"name": name, "namespace": ns, "resourceVersion": "7"},
                    "spec": {"maxUnavailable": 1, "selector": {"matchLabels": {"app": name}}},
                    "status": {"currentHealthy": 3, "desiredHealthy": 2, "disruptionsAllowed": 1,
                        "expectedPods": 3}}),
            );
            put_plain(
                &mut w.hpas,
                json!({"apiVersion": "autoscaling/v2", "kind": "HorizontalPodAutoscaler",
                    "metadata": {"name": name, "namespace": ns, "resourceVersion": "8"},
                    "spec": {"scaleTargetRef": {"apiVersion": "apps/v1", "kind": kind, "name": name},
                        "minReplicas": 2 + (i % 2) as i32, "maxReplicas": 10,
                        "metrics": [{"type": "Resource", "resource": {"name": "cpu",
                            "target": {"type": "Utilization", "averageUtilization": 70}}}]}}),
            );
        }
    }
}

/// The generated cluster in fresh stores, as the auditor's cache.
fn cluster(policy: &Policy, owned: bool) -> AuditCache {
    let (namespaces, nw) = reflector::store();
    let (pdbs, pw) = reflector::store();
    let (hpas, hw) = reflector::store();
    let (exceptions, _) = reflector::store();
    let (deployments, dw) = reflector::store();
    let (statefulsets, sw) = reflector::store();
    let (daemonsets, dsw) = reflector::store();
    let (replicasets, rw) = reflector::store();
    let (replicationcontrollers, _) = reflector::store();
    let (jobs, _) = reflector::store();
    let (cronjobs, cw) = reflector::store();
    let (pods, podw) = reflector::store();
    let mut w = Writers {
        namespaces: nw,
        pdbs: pw,
        hpas: hw,
        deployments: dw,
        statefulsets: sw,
        daemonsets: dsw,
        cronjobs: cw,
        replicasets: rw,
        pods: podw,
    };
    fill(&mut w, policy, owned);
    AuditCache {
        workloads: WorkloadStores {
            deployments,
            statefulsets,
            daemonsets,
            replicasets,
            replicationcontrollers,
            jobs,
            cronjobs,
            pods,
        },
        cluster: ClusterStores {
            namespaces,
            pdbs,
            hpas,
            exceptions,
        },
    }
}

fn status_kb(field: &str) -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .unwrap_or_default()
        .lines()
        .find_map(|l| l.strip_prefix(field))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap_or(0)
}

/// Fills the caches, makes one full pass with reports built, prints memory figures.
fn rss(owned: bool) {
    let policy = Policy::default();
    let before = status_kb("VmRSS:");
    let cache = cluster(&policy, owned);
    let filled = status_kb("VmRSS:");
    let started = std::time::Instant::now();
    let snapshot = cache.snapshot(&Scopes::All, &policy, OWN);
    let results = snapshot.evaluate(&policy, OWN, TODAY);
    let pass = started.elapsed();
    drop(snapshot);
    let findings: usize = results.values().map(|s| s.findings.len()).sum();
    // One report at a time, as the server builds and writes them.
    let mut reports = 0;
    for (scope, a) in &results {
        reports +=
            usize::from(black_box(report::build(ReportKey::of_scope(scope), a, 1000, 0)).is_some());
    }
    let w = &cache.workloads;
    println!(
        "cached: {} namespaces, {} deployments, {} statefulsets, {} daemonsets, {} cronjobs, {} replicasets, {} pods, {} PDBs, {} HPAs",
        cache.cluster.namespaces.len(),
        w.deployments.len(),
        w.statefulsets.len(),
        w.daemonsets.len(),
        w.cronjobs.len(),
        w.replicasets.len(),
        w.pods.len(),
        cache.cluster.pdbs.len(),
        cache.cluster.hpas.len()
    );
    println!(
        "one pass: {:.3} s, {findings} results in {reports} reports",
        pass.as_secs_f64(),
    );
    println!(
        "VmRSS before {} MiB, caches filled {} MiB, after the pass {} MiB; VmHWM (peak) {} MiB",
        before / 1024,
        filled / 1024,
        status_kb("VmRSS:") / 1024,
        status_kb("VmHWM:") / 1024
    );
    black_box(results);
}

fn bench(c: &mut Criterion) {
    let policy = Policy::default();
    let cache = cluster(&policy, false);
    let mut g = c.benchmark_group("audit");
    g.sample_size(10);
    g.bench_function("full pass, 10k workloads (snapshot + evaluate)", |b| {
        b.iter(|| {
            let snapshot = cache.snapshot(&Scopes::All, &policy, OWN);
            black_box(snapshot.evaluate(&policy, OWN, TODAY))
        })
    });
    let snapshot = cache.snapshot(&Scopes::All, &policy, OWN);
    g.bench_function("evaluate only, 10k workloads", |b| {
        b.iter(|| black_box(snapshot.evaluate(&policy, OWN, TODAY)))
    });
    let results = snapshot.evaluate(&policy, OWN, TODAY);
    g.bench_function("build all reports, one at a time", |b| {
        b.iter(|| {
            for (s, a) in &results {
                black_box(report::build(ReportKey::of_scope(s), a, 1000, 0));
            }
        })
    });
    let one: std::collections::BTreeSet<String> = ["ns-007".to_owned()].into();
    g.bench_function("one namespace (100 workloads) after a change", |b| {
        b.iter(|| {
            let snapshot = cache.snapshot(&Scopes::Some(one.clone()), &policy, OWN);
            black_box(snapshot.evaluate(&policy, OWN, TODAY))
        })
    });
    g.finish();
}

criterion_group!(benches, bench);

fn main() {
    match std::env::var("BULWARK_AUDIT_RSS").as_deref() {
        Ok("owned") => rss(true),
        Ok(_) => rss(false),
        Err(_) => {
            benches();
            Criterion::default().configure_from_args().final_summary();
        }
    }
}
