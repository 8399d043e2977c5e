//! Unit tests of the mutation defaults.

use serde_json::{Value, json};

use super::*;

fn yaml(text: &str) -> Value {
    serde_yaml_ng::from_str(text).expect("test yaml parses")
}

fn run_with(obj: &Value, op: Operation, policy: &Policy) -> (Value, Mutation) {
    let m = mutate(obj, op, policy).expect("mutates");
    let mut out = obj.clone();
    json_patch::patch(&mut out, &m.patch).expect("patch applies");
    (out, m)
}

fn run(obj: &Value) -> (Value, Mutation) {
    run_with(obj, Operation::Create, &Policy::default())
}

fn ops(m: &Mutation) -> Vec<(String, String)> {
    serde_json::to_value(&m.patch)
        .expect("serializes")
        .as_array()
        .expect("array")
        .iter()
        .map(|o| {
            (
                o["op"].as_str().unwrap_or("").to_owned(),
                o["path"].as_str().unwrap_or("").to_owned(),
            )
        })
        .collect()
}

const DEPLOY: &str = "
apiVersion: apps/v1
kind: Deployment
metadata: {name: web, namespace: shop}
spec:
  selector: {matchLabels: {app: web}}
  template:
    metadata: {labels: {app: web}}
    spec:
      containers:
      - name: app
        image: shop/web:1.4.2
        ports: [{containerPort: 8080}]
";

#[test]
fn deployment_gets_every_default_and_a_sorted_annotation() {
    let (out, m) = run(&yaml(DEPLOY));
    let pod = &out["spec"]["template"]["spec"];
    assert_eq!(
        pod["securityContext"],
        json!({"runAsNonRoot": true, "seccompProfile": {"type": "RuntimeDefault"}})
    );
    let c = &pod["containers"][0];
    assert_eq!(
        c["securityContext"],
        json!({"allowPrivilegeEscalation": false, "readOnlyRootFilesystem": true,
               "capabilities": {"drop": ["ALL"]}, "privileged": false})
    );
    assert_eq!(
        c["resources"],
        json!({"requests": {"cpu": "100m", "memory": "128Mi"}, "limits": {"cpu": "500m", "memory": "256Mi"}})
    );
    assert_eq!(c["readinessProbe"], json!({"tcpSocket": {"port": 8080}}));
    assert_eq!(
        c["livenessProbe"],
        json!({"tcpSocket": {"port": 8080}, "initialDelaySeconds": 30})
    );
    assert_eq!(
        c["lifecycle"],
        json!({"preStop": {"sleep": {"seconds": 5}}})
    );
    assert!(
        pod.get("terminationGracePeriodSeconds").is_none(),
        "30 s default is longer than 5 s"
    );
    assert_eq!(pod["automountServiceAccountToken"], json!(false));
    assert_eq!(
        out["spec"]["strategy"],
        json!({"type": "RollingUpdate", "rollingUpdate": {"maxUnavailable": 0, "maxSurge": "25%"}})
    );
    assert_eq!(
        out["metadata"]["labels"],
        json!({"app.kubernetes.io/name": "web"})
    );
    assert_eq!(
        out["spec"]["template"]["metadata"]["labels"]["app.kubernetes.io/name"],
        json!("web")
    );
    assert_eq!(
        out["spec"]["selector"],
        json!({"matchLabels": {"app": "web"}})
    );
    assert!(out["spec"].get("replicas").is_none());
    let expected = "capabilities,graceful-shutdown,labels,liveness-probe,privilege-escalation,privileged,read-only-root-filesystem,readiness-probe,resources,rolling-update,run-as-non-root,seccomp-profile,service-account";
    assert_eq!(
        out["metadata"]["annotations"][DEFAULTED_ANNOTATION],
        json!(expected)
    );
    assert_eq!(m.defaulted.join(","), expected);
    // Idempotent.
    assert!(
        mutate(&out, Operation::Create, &Policy::default())
            .expect("mutates")
            .is_empty()
    );
    assert!(
        mutate(&out, Operation::Update, &Policy::default())
            .expect("mutates")
            .is_empty()
    );
}

#[test]
fn non_workload_kinds_are_untouched_and_bad_input_is_an_error() {
    for kind in [
        "HorizontalPodAutoscaler",
        "PodDisruptionBudget",
        "Namespace",
        "ConfigMap",
    ] {
        let m = mutate(
            &json!({"kind": kind, "metadata": {"name": "x"}}),
            Operation::Create,
            &Policy::default(),
        )
        .expect("mutates");
        assert!(m.is_empty(), "{kind}");
    }
    assert!(matches!(
        mutate(&json!([1]), Operation::Create, &Policy::default()),
        Err(MutateError::NotAnObject)
    ));
    assert!(matches!(
        mutate(&json!({"spec": {}}), Operation::Create, &Policy::default()),
        Err(MutateError::MissingKind)
    ));
    assert!(matches!(
        mutate(
            &json!({"kind": "Pod", "spec": {"containers": "x"}}),
            Operation::Create,
            &Policy::default()
        ),
        Err(MutateError::Invalid(_))
    ));
}

#[test]
fn author_values_are_never_overwritten() {
    let obj = yaml(
        "kind: Pod
metadata: {name: p, labels: {app.kubernetes.io/name: mine}}
spec:
  securityContext: {runAsNonRoot: false, seccompProfile: {type: Unconfined}}
  containers:
  - name: a
    securityContext: {allowPrivilegeEscalation: true, readOnlyRootFilesystem: false, capabilities: {drop: [NET_RAW]}, privileged: false}
    resources: {requests: {cpu: '2'}, limits: {memory: 1Gi}}
",
    );
    let (out, _) = run(&obj);
    assert_eq!(
        out["spec"]["securityContext"],
        obj["spec"]["securityContext"]
    );
    assert_eq!(
        out["spec"]["containers"][0]["securityContext"],
        obj["spec"]["containers"][0]["securityContext"]
    );
    assert_eq!(out["metadata"]["labels"], obj["metadata"]["labels"]);
    let res = &out["spec"]["containers"][0]["resources"];
    // cpu limit is raised to the author's request; memory request takes the author's limit.
    assert_eq!(
        res,
        &json!({"requests": {"cpu": "2", "memory": "1Gi"}, "limits": {"memory": "1Gi", "cpu": "2"}})
    );
}

#[test]
fn explicit_nulls_are_replaced_and_only_they() {
    let obj = yaml(
        "kind: Pod
metadata: {name: p, labels: null, annotations: null}
spec:
  securityContext: null
  automountServiceAccountToken: null
  containers: [{name: a, securityContext: {privileged: null}, resources: null}]
",
    );
    let (_, m) = run(&obj);
    for (op, path) in ops(&m) {
        if op == "replace" {
            assert!(
                [
                    "/metadata/labels",
                    "/metadata/annotations",
                    "/spec/securityContext",
                    "/spec/automountServiceAccountToken",
                    "/spec/containers/0/securityContext/privileged",
                    "/spec/containers/0/resources",
                ]
                .contains(&path.as_str()),
                "{path}"
            );
        } else {
            assert_eq!(op, "add", "{path}");
        }
    }
}

#[test]
fn pod_update_only_adds_labels_and_the_annotation() {
    let obj = yaml(
        "kind: Pod\nmetadata: {name: web-x1, generateName: web-}\nspec: {containers: [{name: a, ports: [{containerPort: 80}]}]}\n",
    );
    let (out, m) = run_with(&obj, Operation::Update, &Policy::default());
    assert_eq!(
        ops(&m),
        [
            ("add".to_owned(), "/metadata/labels".to_owned()),
            ("add".to_owned(), "/metadata/annotations".to_owned()),
        ]
    );
    assert_eq!(
        out["metadata"]["labels"],
        json!({"app.kubernetes.io/name": "web"})
    );
    assert_eq!(m.defaulted, ["labels"]);
}

#[test]
fn job_update_leaves_the_template_but_cronjob_update_does_not() {
    let job = yaml(
        "kind: Job\nmetadata: {name: j}\nspec: {template: {spec: {restartPolicy: Never, containers: [{name: a}]}}}\n",
    );
    let (_, m) = run_with(&job, Operation::Update, &Policy::default());
    assert!(
        ops(&m).iter().all(|(_, p)| p.starts_with("/metadata/")),
        "{:?}",
        ops(&m)
    );
    let cron = yaml(
        "kind: CronJob\nmetadata: {name: c}\nspec: {jobTemplate: {spec: {template: {spec: {restartPolicy: Never, containers: [{name: a, ports: [{containerPort: 80}]}]}}}}}\n",
    );
    let (out, m) = run_with(&cron, Operation::Update, &Policy::default());
    let c = &out["spec"]["jobTemplate"]["spec"]["template"]["spec"]["containers"][0];
    assert_eq!(c["securityContext"]["readOnlyRootFilesystem"], json!(true));
    assert!(
        c.get("readinessProbe").is_none() && c.get("lifecycle").is_none(),
        "batch: no probes, no preStop"
    );
    assert_eq!(
        out["spec"]["jobTemplate"]["spec"]["template"]["metadata"]["labels"]["app.kubernetes.io/name"],
        json!("c")
    );
    assert!(!m.defaulted.contains(&"readiness-probe"));
}

#[test]
fn probes_only_for_long_running_containers_with_a_tcp_port() {
    let obj = yaml(
        "kind: Pod
metadata: {name: p}
spec:
  containers:
  - {name: noport}
  - {name: udp, ports: [{containerPort: 53, protocol: UDP}]}
  - {name: second, ports: [{containerPort: 53, protocol: UDP}, {containerPort: 9090, protocol: TCP}], startupProbe: {tcpSocket: {port: 9090}}}
  initContainers:
  - {name: init, ports: [{containerPort: 1}]}
  - {name: sidecar, restartPolicy: Always, ports: [{containerPort: 15000}]}
",
    );
    let (out, _) = run(&obj);
    let cs = &out["spec"]["containers"];
    assert!(cs[0].get("readinessProbe").is_none() && cs[0].get("livenessProbe").is_none());
    assert!(cs[1].get("readinessProbe").is_none());
    assert_eq!(
        cs[2]["readinessProbe"],
        json!({"tcpSocket": {"port": 9090}})
    );
    assert_eq!(
        cs[2]["livenessProbe"],
        json!({"tcpSocket": {"port": 9090}}),
        "startupProbe: no delay"
    );
    let inits = &out["spec"]["initContainers"];
    assert!(inits[0].get("readinessProbe").is_none() && inits[0].get("lifecycle").is_none());
    assert_eq!(
        inits[1]["readinessProbe"],
        json!({"tcpSocket": {"port": 15000}})
    );
    assert!(
        inits[1].get("lifecycle").is_none(),
        "sidecars stop after the main containers"
    );
    for policy in ["Never", "OnFailure"] {
        let mut o = obj.clone();
        o["spec"]["restartPolicy"] = json!(policy);
        let (out, _) = run(&o);
        assert!(
            out["spec"]["containers"][2].get("readinessProbe").is_none(),
            "{policy}"
        );
        assert!(
            out["spec"]["containers"][2].get("lifecycle").is_none(),
            "{policy}"
        );
    }
}

#[test]
fn http_probes_and_exec_pre_stop_when_configured() {
    let policy = Policy::from_yaml(
        "mutation:\n  probes: {readinessPath: /ready, livenessPath: /health, livenessInitialDelaySeconds: 0}\n  gracefulShutdown: {preStopSleepSeconds: 40, preStopCommand: [sleep, '40']}\n",
    )
    .expect("policy");
    let (out, _) = run_with(&yaml(DEPLOY), Operation::Create, &policy);
    let pod = &out["spec"]["template"]["spec"];
    let c = &pod["containers"][0];
    assert_eq!(
        c["readinessProbe"],
        json!({"httpGet": {"path": "/ready", "port": 8080}})
    );
    assert_eq!(
        c["livenessProbe"],
        json!({"httpGet": {"path": "/health", "port": 8080}})
    );
    assert_eq!(
        c["lifecycle"],
        json!({"preStop": {"exec": {"command": ["sleep", "40"]}}})
    );
    assert_eq!(pod["terminationGracePeriodSeconds"], json!(70));
}

#[test]
fn grace_period_rules() {
    let with = |grace: &str, pre_stop: &str| {
        yaml(&format!(
            "kind: Deployment\nmetadata: {{name: d}}\nspec:\n  template:\n    spec:\n      {grace}\n      containers: [{{name: a{pre_stop}}}]\n"
        ))
    };
    // The author's short grace period stays, and no pause is squeezed into it.
    let (out, _) = run(&with("terminationGracePeriodSeconds: 5", ""));
    assert_eq!(
        out["spec"]["template"]["spec"]["terminationGracePeriodSeconds"],
        json!(5)
    );
    assert!(
        out["spec"]["template"]["spec"]["containers"][0]
            .get("lifecycle")
            .is_none()
    );
    // An author's long preStop sleep gets a grace period that covers it.
    let (out, _) = run(&with(
        "hostNetwork: false",
        ", lifecycle: {preStop: {sleep: {seconds: 45}}}",
    ));
    assert_eq!(
        out["spec"]["template"]["spec"]["terminationGracePeriodSeconds"],
        json!(75)
    );
    // Long enough already.
    let (out, _) = run(&with("terminationGracePeriodSeconds: 60", ""));
    assert_eq!(
        out["spec"]["template"]["spec"]["containers"][0]["lifecycle"]["preStop"]["sleep"]["seconds"],
        json!(5)
    );
}

/// Regression (found by tests/integration/fuzz.rs): a preStop sleep near `i64::MAX` with no
/// grace period overflowed `sleep + 30` (a panic in debug builds; in release a negative
/// terminationGracePeriodSeconds in the patch).
#[test]
fn huge_pre_stop_sleep_does_not_overflow_the_grace_period() {
    let obj = yaml(&format!(
        "kind: Deployment\nmetadata: {{name: d}}\nspec:\n  template:\n    spec:\n      containers: [{{name: a, lifecycle: {{preStop: {{sleep: {{seconds: {}}}}}}}}}]\n",
        i64::MAX
    ));
    let (out, _) = run(&obj);
    assert_eq!(
        out["spec"]["template"]["spec"]["terminationGracePeriodSeconds"],
        json!(i64::MAX)
    );
    let again = mutate(&out, Operation::Create, &Policy::default()).expect("mutates");
    assert!(again.is_empty(), "{:?}", again.patch);
}

#[test]
fn privilege_escalation_is_not_defaulted_where_the_api_would_reject_it() {
    let obj = yaml(
        "kind: Pod
metadata: {name: p}
spec:
  containers:
  - {name: priv, securityContext: {privileged: true}}
  - {name: admin, securityContext: {capabilities: {add: [SYS_ADMIN]}}}
",
    );
    let (out, _) = run(&obj);
    for c in out["spec"]["containers"].as_array().expect("containers") {
        assert!(
            c["securityContext"]
                .get("allowPrivilegeEscalation")
                .is_none(),
            "{c}"
        );
    }
}

#[test]
fn root_user_blocks_run_as_non_root_and_windows_gets_no_linux_fields() {
    let (out, _) = run(&yaml(
        "kind: Pod\nmetadata: {name: p}\nspec: {containers: [{name: a, securityContext: {runAsUser: 0}}]}\n",
    ));
    assert_eq!(
        out["spec"]["securityContext"],
        json!({"seccompProfile": {"type": "RuntimeDefault"}})
    );
    let policy = Policy::from_yaml(
        "mutation:\n  podSecurityContext: {runAsUser: 1001, runAsGroup: 1001, fsGroup: 1001}\n",
    )
    .expect("policy");
    let (out, _) = run_with(
        &yaml(
            "kind: Pod\nmetadata: {name: p}\nspec: {os: {name: windows}, containers: [{name: a}]}\n",
        ),
        Operation::Create,
        &policy,
    );
    assert_eq!(
        out["spec"]["securityContext"],
        json!({"runAsNonRoot": true})
    );
    assert!(
        out["spec"]["containers"][0]
            .get("securityContext")
            .is_none()
    );
    let (out, _) = run_with(
        &yaml("kind: Pod\nmetadata: {name: p}\nspec: {containers: [{name: a}]}\n"),
        Operation::Create,
        &policy,
    );
    assert_eq!(
        out["spec"]["securityContext"],
        json!({"runAsNonRoot": true, "runAsUser": 1001, "runAsGroup": 1001, "fsGroup": 1001,
               "seccompProfile": {"type": "RuntimeDefault"}})
    );
}

#[test]
fn baseline_policy_and_disabled_rules_get_no_restricted_defaults() {
    let policy = Policy::from_yaml("podSecurity: baseline\nrules:\n  read-only-root-filesystem: {enabled: false}\n  resources: {mode: 'off'}\n")
        .expect("policy");
    let (out, m) = run_with(&yaml(DEPLOY), Operation::Create, &policy);
    let pod = &out["spec"]["template"]["spec"];
    assert!(
        pod.get("securityContext").is_none(),
        "runAsNonRoot and seccomp are restricted-level"
    );
    assert_eq!(
        pod["containers"][0]["securityContext"],
        json!({"privileged": false})
    );
    assert!(pod["containers"][0].get("resources").is_none());
    for id in [
        "run-as-non-root",
        "read-only-root-filesystem",
        "resources",
        "capabilities",
    ] {
        assert!(!m.defaulted.contains(&id), "{id}");
    }
}

#[test]
fn exemptions_are_respected() {
    let obj = yaml(DEPLOY);
    let ns = Policy::from_yaml("exemptions: {namespaces: [shop]}\n").expect("policy");
    assert!(
        mutate(&obj, Operation::Create, &ns)
            .expect("mutates")
            .is_empty()
    );
    let all = Policy::from_yaml("exemptions: {workloads: [{name: 'we*'}]}\n").expect("policy");
    assert!(
        mutate(&obj, Operation::Create, &all)
            .expect("mutates")
            .is_empty()
    );
    let some = Policy::from_yaml(
        "exemptions:\n  workloads: [{name: web, rules: [resources]}]\n  images: [{prefix: shop/, rules: [read-only-root-filesystem]}]\n",
    )
    .expect("policy");
    let (out, m) = run_with(&obj, Operation::Create, &some);
    let c = &out["spec"]["template"]["spec"]["containers"][0];
    assert!(c.get("resources").is_none());
    assert!(c["securityContext"].get("readOnlyRootFilesystem").is_none());
    assert_eq!(c["securityContext"]["privileged"], json!(false));
    assert!(!m.defaulted.contains(&"resources"));
    // An annotation grants nothing: anyone who can write the object could write it.
    let mut annotated = obj.clone();
    annotated["metadata"]["annotations"] =
        json!({"bulwark.dev/exempt": "labels", "bulwark.dev/exempt-reason": "legacy"});
    let (out, _) = run(&annotated);
    assert!(
        out["metadata"]["labels"]
            .get("app.kubernetes.io/name")
            .is_some()
    );
}

/// A BulwarkException in bulwark's namespace is honoured by mutation as by validation; an
/// expired one, or one for another object, is not.
#[test]
fn exceptions_are_respected() {
    use crate::engine::exemptions::{Exception, parse_date};
    use crate::engine::{HpaInfo, Inventory, PdbInfo};
    struct Inv(Vec<Exception>);
    impl Inventory for Inv {
        fn pdbs(&self, _: &str) -> Option<Vec<PdbInfo>> {
            None
        }
        fn hpa_for(&self, _: &str, _: &str, _: &str) -> Option<Option<HpaInfo>> {
            None
        }
        fn exceptions(&self, _: &str, _: &str) -> Option<Vec<Exception>> {
            Some(self.0.clone())
        }
        fn is_complete(&self) -> bool {
            false
        }
    }
    let exception = |names: &str| {
        let v = yaml(&format!(
            "kind: BulwarkException\nmetadata: {{name: e, namespace: bulwark-system}}\nspec: {{namespaces: [shop], names: [{names}], rules: [resources], reason: r, expires: '2026-06-30'}}\n"
        ));
        Exception::from_workload(&Workload::from_value(&v).expect("parses")).expect("exception")
    };
    let mut obj = yaml(DEPLOY);
    obj["metadata"]["namespace"] = json!("shop");
    let resources_of = |inv: &Inv, today: &str| {
        let ctx = Context {
            inventory: Some(inv),
            today: Some(parse_date(today).expect("date")),
            ..Context::default()
        };
        let m =
            mutate_parsed(&obj, None, Operation::Create, &Policy::default(), ctx).expect("mutates");
        m.defaulted.contains(&"resources")
    };
    assert!(!resources_of(&Inv(vec![exception("web")]), "2026-06-30"));
    assert!(
        resources_of(&Inv(vec![exception("web")]), "2026-07-01"),
        "expired"
    );
    assert!(
        resources_of(&Inv(vec![exception("api")]), "2026-06-30"),
        "another object"
    );
}

#[test]
fn controlled_objects() {
    // Controller-made only with an origin admission verified; an ownerReference alone is a
    // claim, and such an object is mutated as itself.
    let origin = crate::engine::exemptions::Origin {
        owners: vec![("Deployment".into(), "web".into())],
    };
    let verified = Context {
        origin: Some(&origin),
        ..Context::default()
    };
    let mut rs = yaml(DEPLOY);
    rs["kind"] = json!("ReplicaSet");
    rs["metadata"]["ownerReferences"] =
        json!([{"apiVersion": "apps/v1", "kind": "Deployment", "name": "web", "controller": true}]);
    let policy = Policy::default();
    assert!(
        mutate_parsed(&rs, None, Operation::Create, &policy, verified)
            .expect("mutates")
            .is_empty()
    );
    assert!(
        !mutate(&rs, Operation::Create, &policy)
            .expect("mutates")
            .is_empty(),
        "a forged ownerReference buys no skipped defaults"
    );
    let pod = yaml(
        "kind: Pod\nmetadata: {generateName: web-5d-, ownerReferences: [{kind: ReplicaSet, name: web-5d, controller: true}]}\nspec: {containers: [{name: a, ports: [{containerPort: 80}]}]}\n",
    );
    let m = mutate_parsed(&pod, None, Operation::Create, &policy, verified).expect("mutates");
    let mut out = pod.clone();
    json_patch::patch(&mut out, &m.patch).expect("applies");
    assert!(out["metadata"].get("labels").is_none());
    let c = &out["spec"]["containers"][0];
    assert!(c.get("resources").is_none() && c.get("readinessProbe").is_none());
    assert_eq!(c["securityContext"]["readOnlyRootFilesystem"], json!(true));
    assert!(!m.defaulted.contains(&"service-account"));
    let mut deleting = yaml(DEPLOY);
    deleting["metadata"]["deletionTimestamp"] = json!("2024-01-01T00:00:00Z");
    assert!(
        mutate(&deleting, Operation::Update, &Policy::default())
            .expect("mutates")
            .is_empty()
    );
}

#[test]
fn labels_respect_selectors_and_derive_versions() {
    let obj = yaml(
        "kind: StatefulSet
metadata: {name: db}
spec:
  selector: {matchExpressions: [{key: app.kubernetes.io/name, operator: DoesNotExist}]}
  template:
    spec: {containers: [{name: a, image: 'postgres:16.2'}]}
",
    );
    let policy = Policy::from_yaml(
        "rules:\n  labels: {required: [app.kubernetes.io/name, app.kubernetes.io/version]}\n",
    )
    .expect("policy");
    let (out, _) = run_with(&obj, Operation::Create, &policy);
    assert_eq!(
        out["metadata"]["labels"],
        json!({"app.kubernetes.io/name": "db", "app.kubernetes.io/version": "16.2"})
    );
    assert_eq!(
        out["spec"]["template"]["metadata"],
        json!({"labels": {"app.kubernetes.io/version": "16.2"}})
    );
    // A value already on one side is copied to the other; an invalid derived value is skipped.
    let obj = yaml(&format!(
        "kind: Deployment\nmetadata: {{name: {}}}\nspec: {{template: {{metadata: {{labels: {{app.kubernetes.io/name: shop}}}}, spec: {{containers: [{{name: a}}]}}}}}}\n",
        "x".repeat(70)
    ));
    let (out, _) = run(&obj);
    assert_eq!(
        out["metadata"]["labels"],
        json!({"app.kubernetes.io/name": "shop"})
    );
    let obj = yaml(&format!(
        "kind: Deployment\nmetadata: {{name: {}}}\nspec: {{}}\n",
        "x".repeat(70)
    ));
    let (out, _) = run(&obj);
    assert!(out["metadata"].get("labels").is_none());
    assert!(
        out["spec"].get("template").is_none(),
        "no template is invented"
    );
    // Pods: the `app` label wins.
    let (out, _) = run(&yaml(
        "kind: Pod\nmetadata: {name: p-1, labels: {app: shop}}\nspec: {containers: [{name: a}]}\n",
    ));
    assert_eq!(
        out["metadata"]["labels"]["app.kubernetes.io/name"],
        json!("shop")
    );
}

#[test]
fn annotation_merges_sorted_and_is_stable() {
    let mut obj = yaml(DEPLOY);
    obj["metadata"]["annotations"] = json!({"bulwark.dev/defaulted": "zzz, labels"});
    let (out, m) = run(&obj);
    let value = out["metadata"]["annotations"][DEFAULTED_ANNOTATION]
        .as_str()
        .expect("annotation");
    assert!(
        value.starts_with("capabilities,") && value.ends_with(",zzz"),
        "{value}"
    );
    assert!(ops(&m).contains(&(
        "replace".into(),
        "/metadata/annotations/bulwark.dev~1defaulted".into()
    )));
    assert!(
        mutate(&out, Operation::Create, &Policy::default())
            .expect("mutates")
            .is_empty()
    );
}

#[test]
fn rolling_update_variants() {
    let strat = |s: &str| {
        let mut d = yaml(DEPLOY);
        d["spec"]["strategy"] = yaml(s);
        run(&d).0["spec"]["strategy"].clone()
    };
    assert_eq!(strat("{type: Recreate}"), json!({"type": "Recreate"}));
    assert_eq!(
        strat("{type: RollingUpdate}"),
        json!({"type": "RollingUpdate", "rollingUpdate": {"maxUnavailable": 0}})
    );
    assert_eq!(
        strat("{rollingUpdate: {maxSurge: 0}}"),
        json!({"rollingUpdate": {"maxSurge": 0}})
    );
    assert_eq!(
        strat("{rollingUpdate: {maxSurge: '0%'}}"),
        json!({"rollingUpdate": {"maxSurge": "0%"}})
    );
    assert_eq!(
        strat("{rollingUpdate: {maxSurge: 2}}"),
        json!({"rollingUpdate": {"maxSurge": 2, "maxUnavailable": 0}})
    );
    assert_eq!(
        strat("{rollingUpdate: {maxUnavailable: 1}}"),
        json!({"rollingUpdate": {"maxUnavailable": 1}})
    );
}

/// DaemonSets surge where they can, and are left on the Kubernetes default (one node at a
/// time) where the pods bind a host port or use the host network; the author's strategy,
/// whole or partial, is never touched. Either way `rolling-update` passes afterwards.
#[test]
fn daemonset_rolling_update_only_where_pods_can_surge() {
    let ds = |pod_extra: &str, strategy: Option<&str>| {
        let mut d = yaml(DEPLOY);
        d["kind"] = json!("DaemonSet");
        let pod = &mut d["spec"]["template"]["spec"];
        for (k, v) in yaml(pod_extra).as_object().cloned().unwrap_or_default() {
            pod[k.as_str()] = v;
        }
        if let Some(s) = strategy {
            d["spec"]["updateStrategy"] = yaml(s);
        }
        d
    };
    let rolling_update_findings = |obj: &Value| {
        let w = Workload::from_value(obj).expect("parses");
        crate::engine::evaluate(&w, Context::default(), &Policy::default())
            .findings
            .into_iter()
            .filter(|f| f.rule == "rolling-update")
            .collect::<Vec<_>>()
    };
    let (out, m) = run(&ds("{}", None));
    assert_eq!(
        out["spec"]["updateStrategy"],
        json!({"type": "RollingUpdate", "rollingUpdate": {"maxUnavailable": 0, "maxSurge": 1}})
    );
    assert!(m.defaulted.contains(&"rolling-update"));
    assert!(rolling_update_findings(&out).is_empty());
    // An explicit null is unset.
    let (out, _) = run(&ds("{}", Some("null")));
    assert_eq!(
        out["spec"]["updateStrategy"]["rollingUpdate"]["maxSurge"],
        1
    );

    for cannot_surge in [
        "{hostNetwork: true}",
        "{containers: [{name: app, image: 'a:1', ports: [{containerPort: 53, hostPort: 53}]}]}",
    ] {
        let obj = ds(cannot_surge, None);
        let (out, m) = run(&obj);
        assert!(
            out["spec"].get("updateStrategy").is_none(),
            "{cannot_surge}"
        );
        assert!(!m.defaulted.contains(&"rolling-update"), "{cannot_surge}");
        assert!(rolling_update_findings(&out).is_empty(), "{cannot_surge}");
    }
    for authored in [
        "{type: RollingUpdate}",
        "{rollingUpdate: {maxUnavailable: 1}}",
        "{type: OnDelete}",
        "{}",
    ] {
        let (out, m) = run(&ds("{}", Some(authored)));
        assert_eq!(out["spec"]["updateStrategy"], yaml(authored), "{authored}");
        assert!(!m.defaulted.contains(&"rolling-update"), "{authored}");
    }
    // Off with the rule or the toggle.
    for policy in [
        "rules:\n  rolling-update: {enabled: false}\n",
        "mutation:\n  rollingUpdate: {enabled: false}\n",
    ] {
        let policy = Policy::from_yaml(policy).expect("policy");
        let (out, _) = run_with(&ds("{}", None), Operation::Create, &policy);
        assert!(out["spec"].get("updateStrategy").is_none());
    }
}

#[test]
fn disabled_mutation_is_empty() {
    let policy = Policy::from_yaml("mutation: {enabled: false}\n").expect("policy");
    assert!(
        mutate(&yaml(DEPLOY), Operation::Create, &policy)
            .expect("mutates")
            .is_empty()
    );
}

#[test]
fn parse_object_drops_only_status_and_managed_fields() {
    let json = r#"{"kind":"Deployment","metadata":{"name":"w","managedFields":[{"manager":"kubectl"}],"labels":{"a":"b"}},
        "spec":{"replicas":2,"x":[1,-2,3.5,null,true,"s"],"status":"kept: not top level"},"status":{"replicas":2}}"#;
    let pruned = super::parse_object(json).expect("parses");
    let mut full: Value = serde_json::from_str(json).expect("parses");
    full["metadata"]
        .as_object_mut()
        .expect("metadata")
        .remove("managedFields");
    full.as_object_mut().expect("object").remove("status");
    assert_eq!(pruned, full);
    // Odd shapes are kept as they are, and errors stay errors.
    let odd = r#"{"kind":"Pod","metadata":"not an object","spec":[1]}"#;
    assert_eq!(
        super::parse_object(odd).expect("parses"),
        serde_json::from_str::<Value>(odd).expect("parses")
    );
    assert!(super::parse_object(r#"{"kind":"Pod""#).is_err());
    assert!(super::parse_object(r#"{"kind":"Pod"} trailing"#).is_err());

    // The real review: the same patch either way.
    let review: Value = serde_json::from_str(include_str!(
        "../../tests/fixtures/admission/deployment-create.json"
    ))
    .expect("fixture");
    let object = review["request"]["object"].to_string();
    let policy = Policy::default();
    let a = mutate(
        &super::parse_object(&object).expect("parses"),
        Operation::Create,
        &policy,
    )
    .expect("mutates");
    let b = mutate(
        &serde_json::from_str(&object).expect("parses"),
        Operation::Create,
        &policy,
    )
    .expect("mutates");
    assert_eq!(a, b);
}
