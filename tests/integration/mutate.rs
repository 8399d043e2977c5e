//! Mutation: golden fixtures (`tests/fixtures/mutate/<case>/`, layout and blessing in its
//! README.md), the `bulwark mutate` command, and property tests over generated workloads of
//! every kind.

use std::path::{Path, PathBuf};
use std::process::Command;

use bulwark::config::Policy;
use bulwark::engine::exemptions::Origin;
use bulwark::engine::{Context, Finding, evaluate};
use bulwark::mutate::{
    ContainerSecurityDefaults, DEFAULTED_ANNOTATION, GracefulShutdownDefaults, Mutation,
    MutationConfig, Operation, PodSecurityDefaults, ProbeDefaults, ResourceDefaults, Toggle,
    mutate, mutate_parsed, quantity, valid_label_value,
};
use bulwark::workload::{Kind, Workload};
use proptest::prelude::*;
use serde_json::{Map, Value, json};

// ---------------------------------------------------------------------------------------
// Golden fixtures
// ---------------------------------------------------------------------------------------

fn fixture_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/mutate")
}

/// The files a case directory may hold; anything else is a typo the runner would ignore.
const CASE_FILES: [&str; 7] = [
    "input.yaml",
    "defaults",
    "policy.yaml",
    "operation",
    "origin",
    "patch.json",
    "result.yaml",
];

/// The mutation families a case's `defaults` file can name: the keys of the policy's
/// `mutation:` section (`all` names every one).
const FAMILIES: [&str; 8] = [
    "podSecurityContext",
    "containerSecurityContext",
    "resources",
    "probes",
    "gracefulShutdown",
    "labels",
    "serviceAccountToken",
    "rollingUpdate",
];

/// Reads a case's `defaults` file: the families the case is about, one a line (`#` starts a
/// comment), or `all`. `None` means every family.
fn read_defaults(name: &str, text: &str) -> Option<Vec<String>> {
    let families: Vec<String> = text
        .lines()
        .map(|l| l.split('#').next().unwrap_or("").trim())
        .filter(|l| !l.is_empty())
        .map(str::to_owned)
        .collect();
    assert!(!families.is_empty(), "{name}: `defaults` names no family");
    if families == ["all"] {
        return None;
    }
    for f in &families {
        assert!(
            FAMILIES.contains(&f.as_str()),
            "{name}: `defaults` names {f:?}, not one of {FAMILIES:?} (or `all` alone)"
        );
    }
    Some(families)
}

/// Switches off every mutation family `on` does not name. The named ones keep the policy's
/// settings (built in, or the case's `policy.yaml`). The patterns are exhaustive on purpose:
/// a new family or switch does not compile here until the runner can turn it off, so it
/// cannot silently show up in every fixture.
fn only_families(m: &mut MutationConfig, on: &[String]) {
    let off = |family: &str| !on.iter().any(|f| f == family);
    let MutationConfig {
        enabled: _,
        pod_security_context,
        container_security_context,
        resources,
        probes,
        graceful_shutdown,
        labels,
        service_account_token,
        rolling_update,
    } = m;
    if off("podSecurityContext") {
        *pod_security_context = PodSecurityDefaults {
            run_as_non_root: false,
            seccomp_profile: false,
            run_as_user: None,
            run_as_group: None,
            fs_group: None,
        };
    }
    if off("containerSecurityContext") {
        *container_security_context = ContainerSecurityDefaults {
            disallow_privilege_escalation: false,
            read_only_root_filesystem: false,
            drop_all_capabilities: false,
            non_privileged: false,
        };
    }
    if off("resources") {
        let ResourceDefaults {
            enabled,
            requests: _,
            limits: _,
        } = resources;
        *enabled = false;
    }
    if off("probes") {
        let ProbeDefaults {
            readiness,
            liveness,
            readiness_path: _,
            liveness_path: _,
            liveness_initial_delay_seconds: _,
        } = probes;
        (*readiness, *liveness) = (false, false);
    }
    if off("gracefulShutdown") {
        let GracefulShutdownDefaults {
            enabled,
            pre_stop_sleep_seconds: _,
            pre_stop_command: _,
        } = graceful_shutdown;
        *enabled = false;
    }
    for (family, toggle) in [
        ("labels", labels),
        ("serviceAccountToken", service_account_token),
        ("rollingUpdate", rolling_update),
    ] {
        if off(family) {
            let Toggle { enabled } = toggle;
            *enabled = false;
        }
    }
}

/// The policy a case runs under: its `policy.yaml` (or the built-in policy) with only the
/// mutation families its `defaults` names left on.
fn case_policy(name: &str, dir: &Path) -> Policy {
    let defaults = std::fs::read_to_string(dir.join("defaults")).unwrap_or_else(|_| {
        panic!("{name}: no `defaults` file naming the mutation families the case is about")
    });
    let families = read_defaults(name, &defaults);
    let Ok(text) = std::fs::read_to_string(dir.join("policy.yaml")) else {
        let mut policy = Policy::default();
        if let Some(on) = &families {
            only_families(&mut policy.mutation, on);
        }
        return policy;
    };
    let mut policy = Policy::from_yaml(&text).expect("case policy parses");
    if let Some(on) = &families {
        // Settings for a family the case turns off would be dead: say so instead.
        let raw: serde_yaml_ng::Value = serde_yaml_ng::from_str(&text).expect("policy.yaml");
        for key in raw
            .get("mutation")
            .and_then(serde_yaml_ng::Value::as_mapping)
            .into_iter()
            .flat_map(|m| m.keys())
            .filter_map(serde_yaml_ng::Value::as_str)
        {
            assert!(
                key == "enabled" || on.iter().any(|f| f == key),
                "{name}: policy.yaml configures mutation.{key}, which `defaults` leaves off"
            );
        }
        only_families(&mut policy.mutation, on);
    }
    policy
}

/// Runs one fixture case; returns a description of every mismatch. With `bless`, the
/// expected files are rewritten instead of compared; every other check still runs.
fn run_case(dir: &Path, bless: bool) -> Vec<String> {
    let name = dir
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let mut problems = Vec::new();
    for entry in std::fs::read_dir(dir).expect("case directory") {
        let file = entry.expect("entry").file_name();
        let file = file.to_string_lossy();
        if !CASE_FILES.contains(&file.as_ref()) {
            problems.push(format!("{name}: unexpected file {file:?} (see README.md)"));
        }
    }
    let read = |file: &str| std::fs::read_to_string(dir.join(file));
    let input: Value =
        serde_yaml_ng::from_str(&read("input.yaml").expect("input.yaml")).expect("input parses");
    let policy = case_policy(&name, dir);
    let op = match read("operation").as_deref().map(str::trim) {
        Err(_) | Ok("create") => Operation::Create,
        Ok("update") => Operation::Update,
        Ok(other) => panic!("{name}: `operation` is {other:?}, not create or update"),
    };
    // `origin` (optional): the owners admission verified, one `Kind/name` a line, for a case
    // made by a built-in controller.
    let origin = read("origin").ok().map(|text| Origin {
        owners: text
            .lines()
            .filter_map(|l| l.trim().split_once('/'))
            .map(|(k, n)| (k.to_owned(), n.to_owned()))
            .collect(),
    });
    let ctx = Context {
        origin: origin.as_ref(),
        ..Context::default()
    };
    let m = mutate_parsed(&input, None, op, &policy, ctx).expect("fixture mutates");
    let patch = serde_json::to_string_pretty(&m.patch).expect("patch serializes") + "\n";
    // result.yaml is the input with the patch applied by json-patch, as the API server would.
    let mut result = input.clone();
    json_patch::patch(&mut result, &m.patch).expect("fixture patch applies");
    let result_yaml = serde_yaml_ng::to_string(&result).expect("result serializes");
    for (file, got) in [("patch.json", &patch), ("result.yaml", &result_yaml)] {
        let expected = read(file).ok();
        if expected.as_deref() == Some(got.as_str()) {
            continue;
        }
        if bless {
            std::fs::write(dir.join(file), got).expect("write expected file");
        } else {
            problems.push(format!("{name}: {file} differs; got:\n{got}"));
        }
    }
    // Every fixture is also idempotent, blessed or not.
    let again = mutate_parsed(&result, None, op, &policy, ctx).expect("result mutates");
    if !again.is_empty() {
        problems.push(format!(
            "{name}: second mutation is not empty: {:?}",
            again.patch
        ));
    }
    problems
}

/// Whether this run rewrites the expected files: only with `BULWARK_BLESS=1`, and never
/// under CI, where blessing would turn every failing case into a pass.
fn bless_requested() -> bool {
    let bless = std::env::var_os("BULWARK_BLESS").is_some_and(|v| v == "1");
    assert!(
        !(bless && std::env::var_os("CI").is_some()),
        "BULWARK_BLESS=1 is refused when CI is set: bless locally and commit the diff"
    );
    bless
}

#[test]
fn golden_fixtures() {
    let bless = bless_requested();
    let mut dirs: Vec<PathBuf> = std::fs::read_dir(fixture_root())
        .expect("tests/fixtures/mutate exists")
        .map(|e| e.expect("entry").path())
        .filter(|p| p.is_dir())
        .collect();
    dirs.sort();
    assert!(
        dirs.len() >= 10,
        "expected the golden cases, found {}",
        dirs.len()
    );
    let problems: Vec<String> = dirs.iter().flat_map(|d| run_case(d, bless)).collect();
    assert!(
        problems.is_empty(),
        "{}\n(rerun with BULWARK_BLESS=1 to accept, and review the diff)",
        problems.join("\n")
    );
}

// ---------------------------------------------------------------------------------------
// `bulwark mutate`
// ---------------------------------------------------------------------------------------

/// Runs the `bulwark` binary with `args`: (exit code, stdout, stderr).
pub fn bulwark(args: &[&str]) -> (i32, String, String) {
    bulwark_env(&[], args)
}

/// As [`bulwark`], with `env` added to the environment.
pub fn bulwark_env(env: &[(&str, &std::ffi::OsStr)], args: &[&str]) -> (i32, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_bulwark"))
        .args(args)
        .envs(env.iter().copied())
        .output()
        .expect("bulwark runs");
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// ingress-nginx's examples had `value: true` in an env var: `check` and `mutate` both name
/// the field and the line it is on, and still handle the other documents.
#[test]
fn cli_parse_errors_name_the_field_and_its_line() {
    let dir = tempfile::tempdir().expect("tempdir");
    let file = dir.path().join("nginx.yaml");
    std::fs::write(
        &file,
        "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: cfg}\n---\napiVersion: apps/v1\nkind: Deployment\nmetadata: {name: web}\nspec:\n  template:\n    spec:\n      containers:\n      - name: controller\n        image: nginx:1\n        env:\n        - name: POD_NAME\n          valueFrom: {fieldRef: {fieldPath: metadata.name}}\n        - name: ENABLE_SSL\n          value: true\n",
    )
    .expect("write");
    let path = file.to_str().expect("utf-8 path");
    let want = format!(
        "{path}:18 (document 1): invalid Deployment object at spec.template.spec.containers[0].env[1].value: invalid type: boolean `true`, expected a string"
    );
    let (code, stdout, _) = bulwark(&["check", path]);
    assert_eq!(code, 2, "{stdout}");
    assert!(stdout.contains(&format!("parse error: {want}")), "{stdout}");
    let (code, _, stderr) = bulwark(&["check", "--output", "json", path]);
    assert_eq!(code, 2);
    assert!(stderr.contains(&want), "{stderr}");
    let (code, stdout, stderr) = bulwark(&["mutate", path]);
    assert_eq!(code, 2);
    assert!(stderr.contains(&format!("error: {want}")), "{stderr}");
    assert!(stdout.contains("kind: ConfigMap"), "{stdout}");
}

#[test]
fn cli_prints_mutated_yaml_in_order_and_patches() {
    let dir = tempfile::tempdir().expect("tempdir");
    let file = dir.path().join("app.yaml");
    std::fs::write(
        &file,
        "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: cfg}\ndata: {z: '1', a: '2'}\n---\napiVersion: apps/v1\nkind: Deployment\nmetadata: {name: web}\nspec:\n  selector: {matchLabels: {app: web}}\n  template:\n    metadata: {labels: {app: web}}\n    spec: {containers: [{name: app, image: 'web:1', ports: [{containerPort: 8080}]}]}\n",
    )
    .expect("write");
    let path = file.to_str().expect("utf-8 path");
    let (code, stdout, stderr) = bulwark(&["mutate", path]);
    assert_eq!(code, 0, "{stderr}");
    let docs: Vec<Value> = stdout
        .split("---\n")
        .map(|d| serde_yaml_ng::from_str(d).expect("output document parses"))
        .collect();
    assert_eq!(docs.len(), 2, "{stdout}");
    assert!(
        stdout.starts_with(
            "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: cfg\ndata:\n  z: '1'\n  a: '2'\n"
        ),
        "{stdout}"
    );
    assert_eq!(
        docs[1]["spec"]["template"]["spec"]["securityContext"]["runAsNonRoot"],
        json!(true)
    );
    // The mutated manifests pass validation where defaults can fix things.
    let (_, check, _) = {
        let out_file = dir.path().join("out.yaml");
        std::fs::write(&out_file, &stdout).expect("write");
        bulwark(&["check", "-o", "json", out_file.to_str().expect("utf-8")])
    };
    let findings: Vec<Value> = serde_json::from_str(&check).expect("check json");
    for f in &findings {
        assert!(
            !matches!(
                f["rule"].as_str(),
                Some(
                    "run-as-non-root"
                        | "seccomp-profile"
                        | "resources"
                        | "readiness-probe"
                        | "liveness-probe"
                )
            ),
            "{f}"
        );
    }

    let (code, stdout, _) = bulwark(&["mutate", "--patch", path]);
    assert_eq!(code, 0);
    let lines: Vec<&str> = stdout.lines().collect();
    assert_eq!(lines.len(), 2, "{stdout}");
    assert_eq!(lines[0], "[]");
    let patch: json_patch::Patch = serde_json::from_str(lines[1]).expect("a JSON patch");
    assert!(!patch.0.is_empty());

    // Parse errors: exit 2, and what could be read is still printed.
    let bad = dir.path().join("bad.yaml");
    std::fs::write(
        &bad,
        "kind: Pod\nmetadata: {name: p}\nspec: {containers: [{name: a}]}\n---\nkind: [oops\n",
    )
    .expect("write");
    let (code, stdout, stderr) = bulwark(&["mutate", bad.to_str().expect("utf-8")]);
    assert_eq!(code, 2);
    assert!(stdout.contains("runAsNonRoot: true"), "{stdout}");
    assert!(stderr.contains("bad.yaml"), "{stderr}");
}

// ---------------------------------------------------------------------------------------
// Property tests
// ---------------------------------------------------------------------------------------

/// A field of a generated object: absent, an explicit null, or a value.
#[derive(Debug, Clone)]
enum Slot {
    Absent,
    Null,
    Val(Value),
}

fn slot<S: Strategy<Value = Value> + 'static>(s: S) -> BoxedStrategy<Slot> {
    prop_oneof![3 => Just(Slot::Absent), 1 => Just(Slot::Null), 3 => s.prop_map(Slot::Val)].boxed()
}

fn one_of(values: Vec<Value>) -> BoxedStrategy<Value> {
    proptest::sample::select(values).boxed()
}

fn put(map: &mut Map<String, Value>, key: &str, s: Slot) {
    match s {
        Slot::Absent => {}
        Slot::Null => {
            map.insert(key.into(), Value::Null);
        }
        Slot::Val(v) => {
            map.insert(key.into(), v);
        }
    }
}

fn object(fields: Vec<(&str, Slot)>) -> Value {
    let mut m = Map::new();
    for (k, s) in fields {
        put(&mut m, k, s);
    }
    Value::Object(m)
}

fn label_map() -> BoxedStrategy<Value> {
    let key = one_of(
        [
            "app",
            "app.kubernetes.io/name",
            "team",
            "example.com/tier",
            "a~b",
            "x/y~z",
            "app.kubernetes.io~1name",
        ]
        .map(|s| json!(s))
        .to_vec(),
    );
    prop::collection::btree_map(
        key.prop_map(|k| k.as_str().unwrap_or("").to_owned()),
        "[a-z][a-z0-9]{0,5}",
        0..4,
    )
    .prop_map(|m| json!(m))
    .boxed()
}

fn annotations() -> BoxedStrategy<Value> {
    one_of(vec![
        json!({}),
        json!({"note": "x/y~z"}),
        json!({DEFAULTED_ANNOTATION: "labels"}),
        json!({DEFAULTED_ANNOTATION: "zzz, labels"}),
        json!({DEFAULTED_ANNOTATION: ""}),
        json!({"bulwark.dev/exempt": "labels,resources", "bulwark.dev/exempt-reason": "legacy"}),
    ])
}

fn container_security() -> BoxedStrategy<Value> {
    let b = || slot(any::<bool>().prop_map(Value::from));
    let caps = (
        slot(one_of(vec![json!(["ALL"]), json!(["NET_RAW"]), json!([])])),
        slot(one_of(vec![
            json!(["NET_BIND_SERVICE"]),
            json!(["SYS_ADMIN"]),
            json!(["CHOWN"]),
        ])),
    )
        .prop_map(|(drop, add)| object(vec![("drop", drop), ("add", add)]));
    let seccomp = one_of(vec![
        json!({"type": "RuntimeDefault"}),
        json!({"type": "Unconfined"}),
        json!({"type": "Localhost", "localhostProfile": "p.json"}),
    ]);
    (
        b(),
        b(),
        slot(prop_oneof![4 => Just(json!(false)), 1 => Just(json!(true))]),
        b(),
        slot(one_of(vec![json!(0), json!(1000)])),
        slot(caps),
        slot(seccomp),
    )
        .prop_map(|(ape, ro, privileged, non_root, user, caps, seccomp)| {
            object(vec![
                ("allowPrivilegeEscalation", ape),
                ("readOnlyRootFilesystem", ro),
                ("privileged", privileged),
                ("runAsNonRoot", non_root),
                ("runAsUser", user),
                ("capabilities", caps),
                ("seccompProfile", seccomp),
            ])
        })
        .boxed()
}

fn resources() -> BoxedStrategy<Value> {
    let cpu = one_of(vec![
        json!("50m"),
        json!("100m"),
        json!(1),
        json!("2"),
        json!("2500m"),
    ]);
    let mem = one_of(vec![
        json!("64Mi"),
        json!("128Mi"),
        json!("300Mi"),
        json!("1Gi"),
    ]);
    let section = (slot(cpu), slot(mem)).prop_map(|(c, m)| object(vec![("cpu", c), ("memory", m)]));
    (slot(section.clone()), slot(section))
        .prop_map(|(r, l)| object(vec![("requests", r), ("limits", l)]))
        .boxed()
}

fn ports() -> BoxedStrategy<Value> {
    let port = (
        prop_oneof![Just(80i64), Just(8080), 1..65536i64],
        slot(one_of(vec![json!("TCP"), json!("UDP"), json!("SCTP")])),
    )
        .prop_map(|(n, proto)| {
            object(vec![
                ("containerPort", Slot::Val(json!(n))),
                ("protocol", proto),
            ])
        });
    prop::collection::vec(port, 0..3)
        .prop_map(Value::from)
        .boxed()
}

fn container(kind: &'static str) -> BoxedStrategy<Value> {
    let probe = || {
        slot(one_of(vec![
            json!({"exec": {"command": ["true"]}}),
            json!({"tcpSocket": {"port": 1}}),
        ]))
    };
    let hook = one_of(vec![
        json!({"sleep": {"seconds": 3}}),
        json!({"sleep": {"seconds": 45}}),
        json!({"exec": {"command": ["sh", "-c", "sleep 2"]}}),
    ]);
    let lifecycle = (
        slot(hook),
        slot(Just(json!({"exec": {"command": ["true"]}})).boxed()),
    )
        .prop_map(|(pre, post)| object(vec![("preStop", pre), ("postStart", post)]));
    let image = one_of(
        [
            "nginx",
            "nginx:1.25",
            "reg:5000/a/b:v2@sha256:abc",
            "app@sha256:def",
            "x:latest",
            "shop/web:_bad",
        ]
        .map(|s| json!(s))
        .to_vec(),
    );
    (
        "[a-z]{1,4}",
        slot(image),
        slot(ports()),
        slot(container_security()),
        slot(resources()),
        (probe(), probe(), probe()),
        slot(lifecycle),
        slot(Just(json!("Always")).boxed()),
    )
        .prop_map(
            move |(name, image, ports, sc, res, (ready, live, startup), lifecycle, restart)| {
                let mut fields = vec![
                    ("name", Slot::Val(json!(name))),
                    ("image", image),
                    ("securityContext", sc),
                ];
                if kind != "ephemeral" {
                    fields.extend([
                        ("ports", ports),
                        ("resources", res),
                        ("readinessProbe", ready),
                        ("livenessProbe", live),
                        ("startupProbe", startup),
                        ("lifecycle", lifecycle),
                    ]);
                }
                if kind == "init" {
                    fields.push(("restartPolicy", restart));
                }
                object(fields)
            },
        )
        .boxed()
}

fn container_list(kind: &'static str, max: usize) -> BoxedStrategy<Slot> {
    prop_oneof![
        4 => prop::collection::vec(container(kind), 0..=max).prop_map(|v| Slot::Val(Value::from(v))),
        1 => Just(Slot::Absent),
        1 => Just(Slot::Null),
    ]
    .boxed()
}

fn pod_spec(kind: Kind) -> BoxedStrategy<Value> {
    let pod_sc = (
        slot(any::<bool>().prop_map(Value::from)),
        slot(one_of(vec![json!(0), json!(1000)])),
        slot(one_of(vec![
            json!({"type": "RuntimeDefault"}),
            json!({"type": "Unconfined"}),
            json!({"type": "Localhost", "localhostProfile": "p.json"}),
            json!({}),
        ])),
    )
        .prop_map(|(nr, user, seccomp)| {
            object(vec![
                ("runAsNonRoot", nr),
                ("runAsUser", user),
                ("seccompProfile", seccomp),
            ])
        });
    let restart = match kind {
        Kind::Pod => slot(one_of(vec![
            json!("Always"),
            json!("Never"),
            json!("OnFailure"),
        ])),
        Kind::Job | Kind::CronJob => one_of(vec![json!("Never"), json!("OnFailure")])
            .prop_map(Slot::Val)
            .boxed(),
        _ => Just(Slot::Absent).boxed(),
    };
    let ephemeral_max = if kind == Kind::Pod { 2 } else { 0 };
    (
        (
            container_list("regular", 3),
            container_list("init", 2),
            container_list("ephemeral", ephemeral_max),
        ),
        slot(pod_sc),
        slot(one_of(vec![json!("default"), json!(""), json!("app-sa")])),
        slot(any::<bool>().prop_map(Value::from)),
        slot(one_of(vec![
            json!(0),
            json!(3),
            json!(5),
            json!(30),
            json!(60),
        ])),
        restart,
        slot(one_of(vec![
            json!({"name": "linux"}),
            json!({"name": "windows"}),
        ])),
        slot(any::<bool>().prop_map(Value::from)),
    )
        .prop_map(
            |((cs, inits, eph), sc, sa, automount, grace, restart, os, host_users)| {
                object(vec![
                    ("containers", cs),
                    ("initContainers", inits),
                    ("ephemeralContainers", eph),
                    ("securityContext", sc),
                    ("serviceAccountName", sa),
                    ("automountServiceAccountToken", automount),
                    ("terminationGracePeriodSeconds", grace),
                    ("restartPolicy", restart),
                    ("os", os),
                    ("hostUsers", host_users),
                ])
            },
        )
        .boxed()
}

fn metadata(kind: Kind) -> BoxedStrategy<Value> {
    let name =
        prop_oneof![8 => "[a-z][a-z0-9-]{0,8}[a-z0-9]", 1 => "[a-z]{70}"].prop_map(Value::from);
    let owner = if kind == Kind::Pod {
        slot(Just(json!([{"apiVersion": "apps/v1", "kind": "ReplicaSet", "name": "rs", "controller": true}])).boxed())
    } else {
        Just(Slot::Absent).boxed()
    };
    (
        slot(name),
        slot(Just(json!("web-")).boxed()),
        slot(one_of(vec![json!("default"), json!("shop")])),
        slot(label_map()),
        slot(annotations()),
        owner,
    )
        .prop_map(|(name, generate, ns, labels, ann, owner)| {
            object(vec![
                ("name", name),
                ("generateName", generate),
                ("namespace", ns),
                ("labels", labels),
                ("annotations", ann),
                ("ownerReferences", owner),
            ])
        })
        .boxed()
}

/// A selector over `template_labels`: a subset as matchLabels, a DoesNotExist expression on
/// app.kubernetes.io/name (when the template lacks it), or none.
fn selector(kind: Kind, template_labels: &Value) -> BoxedStrategy<Slot> {
    let labels: Vec<(String, Value)> = template_labels
        .as_object()
        .map(|m| m.iter().map(|(k, v)| (k.clone(), v.clone())).collect())
        .unwrap_or_default();
    let n = labels.len();
    let has_name = labels.iter().any(|(k, _)| k == "app.kubernetes.io/name");
    (0..=n, any::<bool>(), any::<bool>())
        .prop_map(move |(k, expr, absent)| {
            if absent && kind == Kind::Job {
                return Slot::Absent;
            }
            let match_labels: Map<String, Value> = labels[..k].iter().cloned().collect();
            if kind == Kind::ReplicationController {
                return Slot::Val(Value::Object(match_labels));
            }
            let mut sel = json!({"matchLabels": match_labels});
            if expr && !has_name {
                sel["matchExpressions"] =
                    json!([{"key": "app.kubernetes.io/name", "operator": "DoesNotExist"}]);
            }
            Slot::Val(sel)
        })
        .boxed()
}

fn workload() -> BoxedStrategy<Value> {
    let kinds = [
        Kind::Pod,
        Kind::Deployment,
        Kind::StatefulSet,
        Kind::DaemonSet,
        Kind::ReplicaSet,
        Kind::ReplicationController,
        Kind::Job,
        Kind::CronJob,
    ];
    proptest::sample::select(kinds.to_vec())
        .prop_flat_map(|kind| {
            (
                Just(kind),
                metadata(kind),
                pod_spec(kind),
                slot(label_map()),
            )
        })
        .prop_flat_map(|(kind, meta, spec, template_labels)| {
            let tl = match &template_labels {
                Slot::Val(v) => v.clone(),
                _ => json!({}),
            };
            let strategy = {
                let n = || slot(one_of(vec![json!(0), json!(1), json!("25%"), json!("0%")]));
                let ru = (n(), n())
                    .prop_map(|(u, s)| object(vec![("maxUnavailable", u), ("maxSurge", s)]));
                (
                    slot(one_of(vec![json!("RollingUpdate"), json!("Recreate")])),
                    slot(ru),
                )
                    .prop_map(|(t, ru)| object(vec![("type", t), ("rollingUpdate", ru)]))
            };
            (
                Just((kind, meta, spec, template_labels)),
                selector(kind, &tl),
                slot(strategy),
                slot((1..5i64).prop_map(Value::from)),
                0u8..24,
            )
        })
        .prop_map(
            |((kind, meta, spec, template_labels), selector, strategy, replicas, shape)| {
                // Rare shapes: metadata absent or empty, template metadata absent, no pod spec.
                // (`metadata: null` is not readable by the workload view at all.)
                let meta = match shape {
                    0 => Slot::Absent,
                    1 => Slot::Val(json!({})),
                    _ => Slot::Val(meta),
                };
                let spec = if shape == 3 {
                    Slot::Absent
                } else {
                    Slot::Val(spec)
                };
                let template_meta = if shape == 2 {
                    Slot::Absent
                } else {
                    Slot::Val(object(vec![("labels", template_labels)]))
                };
                let name = kind_name(kind);
                let mut obj = json!({"apiVersion": "v1", "kind": name});
                let Value::Object(map) = &mut obj else {
                    unreachable!()
                };
                put(map, "metadata", meta);
                if kind == Kind::Pod {
                    put(map, "spec", spec);
                    return obj;
                }
                let template = object(vec![("metadata", template_meta), ("spec", spec)]);
                let mut fields = vec![("template", Slot::Val(template))];
                if kind != Kind::CronJob {
                    fields.push(("selector", selector));
                }
                if kind.is_replicated() {
                    fields.push(("replicas", replicas));
                }
                if kind == Kind::Deployment {
                    fields.push(("strategy", strategy));
                }
                let spec = object(fields);
                obj["spec"] = if kind == Kind::CronJob {
                    json!({"schedule": "0 * * * *", "jobTemplate": {"spec": spec}})
                } else {
                    spec
                };
                obj
            },
        )
        .boxed()
}

fn kind_name(kind: Kind) -> &'static str {
    kind.as_str()
}

fn config() -> ProptestConfig {
    // 512 cases per property; PROPTEST_CASES=<n> explores more.
    let cases = std::env::var("PROPTEST_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(512);
    ProptestConfig {
        cases,
        failure_persistence: None,
        ..ProptestConfig::default()
    }
}

fn apply(obj: &Value, m: &Mutation) -> Result<Value, TestCaseError> {
    let mut out = obj.clone();
    json_patch::patch(&mut out, &m.patch)
        .map_err(|e| TestCaseError::fail(format!("patch does not apply: {e}\n{:?}", m.patch)))?;
    Ok(out)
}

/// Mutates as the webhook would: an object with a controller ownerReference as made by the
/// built-in controller (admission verified the origin), any other as itself.
fn mutate_as_made(obj: &Value, op: Operation) -> Result<Mutation, TestCaseError> {
    let origin = controlled(obj).then(|| Origin {
        owners: vec![(
            obj.pointer("/metadata/ownerReferences/0/kind")
                .and_then(Value::as_str)
                .unwrap_or("")
                .to_owned(),
            "owner".to_owned(),
        )],
    });
    let ctx = Context {
        origin: origin.as_ref(),
        ..Context::default()
    };
    mutate_parsed(obj, None, op, &Policy::default(), ctx)
        .map_err(|e| TestCaseError::fail(format!("mutate failed: {e}")))
}

fn run(obj: &Value, op: Operation) -> Result<(Value, Mutation), TestCaseError> {
    let m = mutate_as_made(obj, op)?;
    Ok((apply(obj, &m)?, m))
}

/// JSON pointer of a path, escaped.
fn pointer(path: &[String]) -> String {
    path.iter()
        .map(|k| format!("/{}", k.replace('~', "~0").replace('/', "~1")))
        .collect()
}

/// Every non-null leaf of `input` is equal in `output`; arrays keep their length; objects
/// stay objects. bulwark's own annotation may change.
fn author_values_kept(
    input: &Value,
    output: &Value,
    path: &mut Vec<String>,
    errors: &mut Vec<String>,
) {
    if pointer(path)
        == format!(
            "/metadata/annotations/{}",
            DEFAULTED_ANNOTATION.replace('/', "~1")
        )
    {
        return;
    }
    match (input, output) {
        (Value::Null, _) => {}
        (Value::Object(a), Value::Object(b)) => {
            for (k, v) in a {
                path.push(k.clone());
                match b.get(k) {
                    Some(w) => author_values_kept(v, w, path, errors),
                    None => errors.push(format!("{} removed", pointer(path))),
                }
                path.pop();
            }
        }
        (Value::Array(a), Value::Array(b)) if a.len() == b.len() => {
            for (i, (v, w)) in a.iter().zip(b).enumerate() {
                path.push(i.to_string());
                author_values_kept(v, w, path, errors);
                path.pop();
            }
        }
        (a, b) if a == b => {}
        (a, b) => errors.push(format!("{}: {a} became {b}", pointer(path))),
    }
}

fn check_ops(obj: &Value, m: &Mutation) -> Result<(), TestCaseError> {
    let ops = serde_json::to_value(&m.patch).map_err(|e| TestCaseError::fail(e.to_string()))?;
    for op in ops.as_array().into_iter().flatten() {
        let path = op["path"].as_str().unwrap_or("");
        let target = obj.pointer(path);
        let own = path
            == format!(
                "/metadata/annotations/{}",
                DEFAULTED_ANNOTATION.replace('/', "~1")
            );
        match op["op"].as_str() {
            Some("add") => prop_assert!(target.is_none(), "add over an existing value at {path}"),
            Some("replace") => prop_assert!(
                target.is_some_and(Value::is_null) || own,
                "replace of an author value at {path}"
            ),
            other => prop_assert!(false, "unexpected op {other:?} at {path}"),
        }
        for immutable in [
            "/spec/replicas",
            "/spec/selector",
            "/spec/jobTemplate/spec/selector",
        ] {
            prop_assert!(!path.starts_with(immutable), "touched {path}");
        }
    }
    Ok(())
}

fn pod_path(kind: Kind) -> &'static str {
    match kind {
        Kind::Pod => "/spec",
        Kind::CronJob => "/spec/jobTemplate/spec/template/spec",
        _ => "/spec/template/spec",
    }
}

fn containers(pod: &Value) -> impl Iterator<Item = (&'static str, &Value)> {
    ["containers", "initContainers", "ephemeralContainers"]
        .into_iter()
        .flat_map(move |list| {
            pod.get(list)
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
                .map(move |c| (list, c))
        })
}

fn is(v: Option<&Value>, want: Value) -> bool {
    v == Some(&want)
}

fn sc<'v>(c: &'v Value, field: &str) -> Option<&'v Value> {
    c.get("securityContext")?
        .get(field)
        .filter(|v| !v.is_null())
}

/// The first valid TCP port of a container (what a default probe targets).
fn tcp_port(c: &Value) -> Option<i64> {
    c.get("ports")?.as_array()?.iter().find_map(|p| {
        let proto = p.get("protocol").and_then(Value::as_str).unwrap_or("TCP");
        let n = p.get("containerPort")?.as_i64()?;
        (proto == "TCP" && (1..=65535).contains(&n)).then_some(n)
    })
}

/// The container a finding path points at, e.g. `spec.template.spec.initContainers[1].x`.
fn container_of<'v>(obj: &'v Value, kind: Kind, path: &str) -> Option<&'v Value> {
    let rest = path.strip_prefix(kind.pod_spec_path())?.strip_prefix('.')?;
    let (list, rest) = rest.split_once('[')?;
    let index: usize = rest.split_once(']')?.0.parse().ok()?;
    obj.pointer(pod_path(kind))?.get(list)?.get(index)
}

/// Whether a default can fix `f` on the input `obj` (default policy, CREATE): the oracle of
/// mutate-then-validate. A rule is not fixable where the author set a conflicting value.
fn fixable(obj: &Value, kind: Kind, f: &Finding) -> bool {
    let Some(pod) = obj.pointer(pod_path(kind)) else {
        return false;
    };
    let psc = |field: &str| {
        pod.get("securityContext")
            .and_then(|s| s.get(field))
            .filter(|v| !v.is_null())
    };
    let all: Vec<&Value> = containers(pod).map(|(_, c)| c).collect();
    let regular = || {
        pod.get("containers")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
    };
    match f.rule {
        "run-as-non-root" => {
            !is(psc("runAsNonRoot"), json!(false))
                && !is(psc("runAsUser"), json!(0))
                && all.iter().all(|c| {
                    !is(sc(c, "runAsNonRoot"), json!(false)) && !is(sc(c, "runAsUser"), json!(0))
                })
        }
        "seccomp-profile" => {
            let ok = |p: Option<&Value>| {
                p.is_none_or(|p| {
                    matches!(
                        p.get("type").and_then(Value::as_str),
                        Some("RuntimeDefault" | "Localhost")
                    )
                })
            };
            let pod_ok = psc("seccompProfile").is_none_or(|p| {
                p.get("type")
                    .is_none_or(|t| matches!(t.as_str(), Some("RuntimeDefault" | "Localhost")))
            });
            pod_ok && all.iter().all(|c| ok(sc(c, "seccompProfile")))
        }
        "privilege-escalation" => all.iter().all(|c| {
            !is(sc(c, "allowPrivilegeEscalation"), json!(true))
                && !is(sc(c, "privileged"), json!(true))
                && !sc(c, "capabilities")
                    .and_then(|k| k.get("add"))
                    .and_then(Value::as_array)
                    .is_some_and(|a| a.iter().any(|x| x == "SYS_ADMIN"))
        }),
        "read-only-root-filesystem" => all
            .iter()
            .all(|c| !is(sc(c, "readOnlyRootFilesystem"), json!(false))),
        "capabilities" => all.iter().all(|c| {
            let caps = sc(c, "capabilities");
            let drop = caps.and_then(|k| k.get("drop")).filter(|d| !d.is_null());
            let add = caps.and_then(|k| k.get("add")).and_then(Value::as_array);
            drop.is_none_or(|d| d.as_array().is_some_and(|d| d.iter().any(|x| x == "ALL")))
                && add.is_none_or(|a| a.iter().all(|x| x == "NET_BIND_SERVICE"))
        }),
        "resources" => true,
        "readiness-probe" | "liveness-probe" => {
            container_of(obj, kind, &f.path).is_some_and(|c| tcp_port(c).is_some())
        }
        "graceful-shutdown" => {
            let grace = pod
                .get("terminationGracePeriodSeconds")
                .and_then(Value::as_i64);
            let longest = regular()
                .filter_map(|c| {
                    c.pointer("/lifecycle/preStop/sleep/seconds")
                        .and_then(Value::as_i64)
                })
                .max()
                .unwrap_or(0);
            grace.is_none_or(|g| g > 5 && g > longest)
        }
        "labels" => {
            let meta = &obj["metadata"];
            let template = obj.pointer(&format!(
                "{}/metadata",
                pod_path(kind).trim_end_matches("/spec")
            ));
            fn label(m: Option<&Value>) -> Option<&str> {
                m?.get("labels")?.get("app.kubernetes.io/name")?.as_str()
            }
            let derived = if kind == Kind::Pod {
                meta.pointer("/labels/app")
                    .and_then(Value::as_str)
                    .or(meta
                        .get("generateName")
                        .and_then(Value::as_str)
                        .map(|g| g.trim_end_matches('-')))
                    .or(meta.get("name").and_then(Value::as_str))
            } else {
                meta.get("name").and_then(Value::as_str).or(meta
                    .get("generateName")
                    .and_then(Value::as_str)
                    .map(|g| g.trim_end_matches('-')))
            };
            let value = label(Some(meta)).or(label(template)).or(derived);
            let valid = value.is_some_and(valid_label_value);
            if f.path == "metadata.labels" {
                return valid;
            }
            // The template gets the label only while the selector keeps matching it.
            let selector_ok = Workload::from_value(obj).is_ok_and(|w| {
                let selector = w.controller().and_then(|c| c.selector.clone());
                let mut labels = w.pod_labels().cloned().unwrap_or_default();
                if let Some(v) = value {
                    labels.insert("app.kubernetes.io/name".into(), v.into());
                }
                selector.is_none_or(|s| s.0.matches(&labels))
            });
            valid && selector_ok
        }
        "service-account" => {
            let sa = pod
                .get("serviceAccountName")
                .and_then(Value::as_str)
                .filter(|s| !s.is_empty());
            f.path.ends_with("automountServiceAccountToken")
                && sa.is_none_or(|s| s == "default")
                && pod
                    .get("automountServiceAccountToken")
                    .is_none_or(Value::is_null)
        }
        // A DaemonSet whose pods can surge gets the whole strategy when it has none.
        "rolling-update" if kind == Kind::DaemonSet => {
            let host_port = all.iter().any(|c| {
                c.get("ports")
                    .and_then(Value::as_array)
                    .into_iter()
                    .flatten()
                    .any(|p| {
                        p.get("hostPort")
                            .and_then(Value::as_i64)
                            .is_some_and(|h| h != 0)
                    })
            });
            obj.pointer("/spec/updateStrategy")
                .is_none_or(Value::is_null)
                && !is(pod.get("hostNetwork"), json!(true))
                && !host_port
        }
        "rolling-update" => {
            let s = obj.pointer("/spec/strategy").filter(|v| !v.is_null());
            let ty = s.and_then(|s| s.get("type")).and_then(Value::as_str);
            let ru = s
                .and_then(|s| s.get("rollingUpdate"))
                .filter(|v| !v.is_null());
            let unavailable = ru
                .and_then(|r| r.get("maxUnavailable"))
                .filter(|v| !v.is_null());
            let surge = ru.and_then(|r| r.get("maxSurge")).filter(|v| !v.is_null());
            kind == Kind::Deployment
                && f.path == "spec.strategy.rollingUpdate.maxUnavailable"
                && ty.is_none_or(|t| t == "RollingUpdate")
                && unavailable.is_none()
                && surge.is_none_or(|v| v != &json!(0) && v != &json!("0%"))
        }
        _ => false,
    }
}

/// Checks Kubernetes API validity the defaults must never break, on the mutated object.
fn api_valid(input: &Value, output: &Value, kind: Kind) -> Result<(), TestCaseError> {
    let Some(pod) = output.pointer(pod_path(kind)) else {
        return Ok(());
    };
    let in_pod = input.pointer(pod_path(kind));
    let windows = pod.pointer("/os/name") == Some(&json!("windows"));
    for (i, (list, c)) in containers(pod).enumerate() {
        let before = in_pod.and_then(|p| containers(p).nth(i)).map(|(_, c)| c);
        // allowPrivilegeEscalation: false is invalid next to privileged or CAP_SYS_ADMIN.
        if is(sc(c, "allowPrivilegeEscalation"), json!(false))
            && before.is_none_or(|b| sc(b, "allowPrivilegeEscalation").is_none())
        {
            prop_assert!(
                !is(sc(c, "privileged"), json!(true)),
                "{list}: APE false with privileged"
            );
        }
        // Windows pods: no Linux-only field added.
        if windows {
            for field in [
                "allowPrivilegeEscalation",
                "readOnlyRootFilesystem",
                "capabilities",
                "privileged",
                "seccompProfile",
            ] {
                prop_assert_eq!(
                    sc(c, field).is_some(),
                    before.and_then(|b| sc(b, field)).is_some(),
                    "windows {}: {}",
                    list,
                    field
                );
            }
        }
        // requests <= limits whenever bulwark set either.
        for key in ["cpu", "memory"] {
            let get = |v: Option<&Value>, s: &str| {
                v.and_then(|c| c.get("resources"))
                    .and_then(|r| r.get(s))
                    .and_then(|m| m.get(key))
                    .filter(|v| !v.is_null())
                    .cloned()
            };
            let (req, lim) = (get(Some(c), "requests"), get(Some(c), "limits"));
            let authored = get(before, "requests").is_some() && get(before, "limits").is_some();
            if let (Some(r), Some(l), false) = (&req, &lim, authored) {
                prop_assert!(
                    quantity::compare(r, l) != Some(std::cmp::Ordering::Greater),
                    "{list} {key}: request {r} > limit {l}"
                );
            }
        }
        // Only sidecars among init containers may carry probes or lifecycle hooks.
        if list == "initContainers" && c.get("restartPolicy") != Some(&json!("Always")) {
            for field in ["readinessProbe", "livenessProbe", "lifecycle"] {
                prop_assert_eq!(
                    c.get(field).is_some(),
                    before.is_some_and(|b| b.get(field).is_some()),
                    "init {}",
                    field
                );
            }
        }
        if list == "ephemeralContainers" {
            for field in ["resources", "readinessProbe", "livenessProbe", "lifecycle"] {
                prop_assert!(c.get(field).is_none(), "ephemeral {}", field);
            }
        }
    }
    if windows {
        for field in ["seccompProfile", "runAsUser", "runAsGroup", "fsGroup"] {
            prop_assert_eq!(
                pod.pointer(&format!("/securityContext/{field}")).is_some(),
                in_pod
                    .and_then(|p| p.pointer(&format!("/securityContext/{field}")))
                    .is_some(),
                "windows pod {}",
                field
            );
        }
    }
    Ok(())
}

/// The selector matches the template labels after mutation whenever it did before.
fn selector_still_matches(input: &Value, output: &Value, kind: Kind) -> Result<(), TestCaseError> {
    if matches!(kind, Kind::Pod | Kind::CronJob) {
        return Ok(());
    }
    let view = |v: &Value| Workload::from_value(v).map_err(|e| TestCaseError::fail(e.to_string()));
    let (a, b) = (view(input)?, view(output)?);
    let sel = a.controller().and_then(|c| c.selector.clone());
    if let (Some(sel), Some(before), Some(after)) = (sel, a.pod_labels(), b.pod_labels()) {
        prop_assert!(
            !sel.0.matches(before) || sel.0.matches(after),
            "selector no longer matches"
        );
    }
    Ok(())
}

fn kind_of(obj: &Value) -> Kind {
    Kind::parse(obj["kind"].as_str().unwrap_or(""))
}

fn controlled(obj: &Value) -> bool {
    obj.pointer("/metadata/ownerReferences/0/controller") == Some(&json!(true))
}

proptest! {
    #![proptest_config(config())]

    /// The patch applies, only adds (or replaces nulls and bulwark's annotation), keeps
    /// every author value, never touches replicas or selectors, and keeps the object valid.
    #[test]
    fn patch_applies_and_keeps_author_values(obj in workload()) {
        let kind = kind_of(&obj);
        for op in [Operation::Create, Operation::Update] {
            let (out, m) = run(&obj, op)?;
            check_ops(&obj, &m)?;
            let mut errors = Vec::new();
            author_values_kept(&obj, &out, &mut Vec::new(), &mut errors);
            prop_assert!(errors.is_empty(), "{:?}", errors);
            api_valid(&obj, &out, kind)?;
            selector_still_matches(&obj, &out, kind)?;
            let mut sorted = m.defaulted.clone();
            sorted.sort_unstable();
            sorted.dedup();
            prop_assert_eq!(&sorted, &m.defaulted);
            prop_assert_eq!(m.is_empty(), m.defaulted.is_empty());
        }
    }

    /// Mutating the result again yields an empty patch (for both operations).
    #[test]
    fn mutation_is_idempotent(obj in workload()) {
        for op in [Operation::Create, Operation::Update] {
            let (out, _) = run(&obj, op)?;
            let again = mutate_as_made(&out, op)?;
            prop_assert!(again.is_empty(), "{:?}: second patch {}", op, serde_json::to_string(&again.patch).unwrap_or_default());
        }
    }

    /// After mutation (CREATE), no finding remains that a default can fix.
    #[test]
    fn mutate_then_validate(obj in workload()) {
        let kind = kind_of(&obj);
        let (out, _) = run(&obj, Operation::Create)?;
        let w = Workload::from_value(&out).map_err(|e| TestCaseError::fail(e.to_string()))?;
        // Judged as mutated: a controller-made object through its owner.
        let origin = Origin { owners: vec![("Owner".into(), "owner".into())] };
        let ctx = Context {
            origin: controlled(&obj).then_some(&origin),
            ..Context::default()
        };
        let report = evaluate(&w, ctx, &Policy::default());
        for f in &report.findings {
            prop_assert!(
                !fixable(&obj, kind, f),
                "fixable finding remains: {} at {}: {}\nresult: {}",
                f.rule, f.path, f.message, serde_json::to_string(&out).unwrap_or_default()
            );
        }
    }

    /// On UPDATE, a Pod's spec and a Job's template are never touched; controlled Pods get
    /// no hygiene or availability defaults.
    #[test]
    fn update_respects_immutable_fields(obj in workload()) {
        let kind = kind_of(&obj);
        let (_, m) = run(&obj, Operation::Update)?;
        let ops = serde_json::to_value(&m.patch).map_err(|e| TestCaseError::fail(e.to_string()))?;
        for op in ops.as_array().into_iter().flatten() {
            let path = op["path"].as_str().unwrap_or("");
            if matches!(kind, Kind::Pod | Kind::Job) {
                prop_assert!(path.starts_with("/metadata/labels") || path.starts_with("/metadata/annotations") || path == "/metadata", "{path}");
            }
        }
        if controlled(&obj) {
            let (_, m) = run(&obj, Operation::Create)?;
            for id in &m.defaulted {
                let category = bulwark::rules::catalogue()
                    .iter()
                    .find(|r| r.meta().id == *id)
                    .map(|r| r.meta().category);
                prop_assert_eq!(category, Some(bulwark::engine::Category::Security), "{}", id);
            }
        }
    }
}

/// Regression from the property tests: a pod template without metadata whose selector does
/// not match it (an object the API server rejects anyway). The object gets its label, the
/// template none (a label cannot make the selector match), and nothing else breaks.
#[test]
fn regression_template_without_metadata_and_unmatched_selector() {
    let obj = json!({
        "apiVersion": "apps/v1", "kind": "DaemonSet",
        "metadata": {"name": "ad", "labels": {"team": "k22g"}},
        "spec": {
            "selector": {"matchLabels": {"example.com/tier": "g98k7"}},
            "template": {"spec": {"containers": [{"name": "u", "image": null, "lifecycle": null}]}}
        }
    });
    let (out, m) = run(&obj, Operation::Create).expect("mutates");
    assert_eq!(
        out["metadata"]["labels"]["app.kubernetes.io/name"],
        json!("ad")
    );
    assert!(out["spec"]["template"].get("metadata").is_none(), "{out}");
    assert_eq!(out["spec"]["selector"], obj["spec"]["selector"]);
    assert!(m.defaulted.contains(&"labels"));
    assert!(
        mutate(&out, Operation::Create, &Policy::default())
            .expect("mutates")
            .is_empty()
    );
}
