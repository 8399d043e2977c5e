//! Deployment manifests (`deploy/`): every overlay, and the base alone and with each
//! component, is rendered with `kubectl kustomize`; every object is parsed strictly into its
//! Kubernetes type (an unknown or misspelt field fails, named); the install's safety
//! properties are asserted; and the real `bulwark check` must find no error in any of them.
//!
//! `kubectl` (client only) must be on PATH: these tests fail, not skip, without it.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Component, Path, PathBuf};
use std::process::Command;

use k8s_openapi::ByteString;
use k8s_openapi::api::admissionregistration::v1::{
    MatchCondition, MutatingWebhookConfiguration, RuleWithOperations,
    ValidatingWebhookConfiguration, WebhookClientConfig,
};
use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::core::v1::{
    ConfigMap, Container, Namespace, PodSpec, Probe, Service, ServiceAccount,
};
use k8s_openapi::api::networking::v1::{NetworkPolicy, NetworkPolicyPeer, NetworkPolicyPort};
use k8s_openapi::api::policy::v1::PodDisruptionBudget;
use k8s_openapi::api::rbac::v1::{ClusterRole, ClusterRoleBinding, PolicyRule, Role, RoleBinding};
use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{LabelSelector, ObjectMeta};
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;
use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::{Value, json};

/// bulwark's namespace.
const NS: &str = "bulwark-system";
/// Namespaces no webhook may ever be called for.
const NEVER: [&str; 4] = [
    "kube-system",
    "kube-public",
    "kube-node-lease",
    "bulwark-system",
];
/// The namespace label that opts a namespace in and chooses its mode.
const MODE_LABEL: &str = "bulwark.dev/mode";
/// The BulwarkException API group and resource.
const EXCEPTION_GROUP: &str = "bulwark.dev";
const EXCEPTION_PLURAL: &str = "bulwarkexceptions";
/// The ClusterRole the platform team binds in bulwark-system to write exceptions.
const EXCEPTION_ADMIN_ROLE: &str = "bulwark-exception-admin";
/// The value deploy/components/manual-tls/ca-bundle.yaml ships with.
const CA_PLACEHOLDER: &str = "PASTE_THE_caBundle_FILE_FROM_bulwark_certs_generate_HERE";
/// The four labels bulwark's own objects carry.
const LABELS: [&str; 4] = [
    "app.kubernetes.io/name",
    "app.kubernetes.io/component",
    "app.kubernetes.io/part-of",
    "app.kubernetes.io/version",
];

// ------------------------------------------------------------------------------------------
// The renderings under test
// ------------------------------------------------------------------------------------------

/// How the webhook configurations get their CA bundle.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Tls {
    /// Base alone: neither (not deployable on its own, but must still be sound).
    Unset,
    /// components/cert-manager: cainjector annotation.
    CertManager,
    /// components/manual-tls: caBundle copied from ca-bundle.yaml.
    Manual,
}

/// What a rendering must look like.
#[derive(Debug, Clone, Copy)]
struct Expect {
    failure_policy: &'static str,
    tls: Tls,
    /// Whether the MutatingWebhookConfiguration is installed.
    mutating: bool,
    /// Whether the workload webhooks are limited to opted-in namespaces.
    opt_in: bool,
    monitoring: bool,
    /// Whether components/network-policy is included.
    network_policy: bool,
    /// Whether components/policy-reports (the wgpolicyk8s.io CRDs) is included.
    policy_reports: bool,
    /// The effective policy's `mode` and `scope`.
    mode: &'static str,
    scope: &'static str,
}

/// What is rendered: a directory of deploy/, or a throwaway kustomization composing one
/// with components (for the base with each component).
#[derive(Debug, Clone, Copy)]
enum Source {
    Dir(&'static str),
    Compose {
        resource: &'static str,
        components: &'static [&'static str],
    },
}

#[derive(Debug, Clone, Copy)]
struct Case {
    name: &'static str,
    source: Source,
    expect: Expect,
}

const ENFORCE: Expect = Expect {
    failure_policy: "Fail",
    tls: Tls::CertManager,
    mutating: true,
    opt_in: false,
    monitoring: false,
    network_policy: false,
    policy_reports: false,
    mode: "enforce",
    scope: "cluster",
};

fn all_cases() -> Vec<Case> {
    let base = Expect {
        tls: Tls::Unset,
        ..ENFORCE
    };
    vec![
        Case {
            name: "base",
            source: Source::Dir("base"),
            expect: base,
        },
        Case {
            name: "base+cert-manager",
            source: Source::Compose {
                resource: "base",
                components: &["components/cert-manager"],
            },
            expect: Expect {
                tls: Tls::CertManager,
                ..base
            },
        },
        Case {
            name: "base+manual-tls",
            source: Source::Compose {
                resource: "base",
                components: &["components/manual-tls"],
            },
            expect: Expect {
                tls: Tls::Manual,
                ..base
            },
        },
        Case {
            name: "base+monitoring",
            source: Source::Compose {
                resource: "base",
                components: &["components/monitoring"],
            },
            expect: Expect {
                monitoring: true,
                ..base
            },
        },
        Case {
            name: "base+policy-reports",
            source: Source::Compose {
                resource: "base",
                components: &["components/policy-reports"],
            },
            expect: Expect {
                policy_reports: true,
                ..base
            },
        },
        Case {
            name: "cluster-enforce",
            source: Source::Dir("overlays/cluster-enforce"),
            expect: ENFORCE,
        },
        Case {
            name: "cluster-enforce+monitoring",
            source: Source::Compose {
                resource: "overlays/cluster-enforce",
                components: &["components/monitoring"],
            },
            expect: Expect {
                monitoring: true,
                ..ENFORCE
            },
        },
        Case {
            name: "cluster-enforce+network-policy",
            source: Source::Compose {
                resource: "overlays/cluster-enforce",
                components: &["components/network-policy"],
            },
            expect: Expect {
                network_policy: true,
                ..ENFORCE
            },
        },
        Case {
            name: "namespace-opt-in",
            source: Source::Dir("overlays/namespace-opt-in"),
            expect: Expect {
                opt_in: true,
                scope: "opt-in",
                ..ENFORCE
            },
        },
        Case {
            name: "audit",
            source: Source::Dir("overlays/audit"),
            expect: Expect {
                failure_policy: "Ignore",
                mutating: false,
                mode: "audit",
                ..ENFORCE
            },
        },
    ]
}

fn case(name: &str) -> Case {
    all_cases()
        .into_iter()
        .find(|c| c.name == name)
        .unwrap_or_else(|| panic!("no case {name}"))
}

// One test per rendering for the manifests, one per rendering for `bulwark check`.

#[test]
fn base_manifests() {
    manifests(case("base"));
}
#[test]
fn base_with_cert_manager_manifests() {
    manifests(case("base+cert-manager"));
}
#[test]
fn base_with_manual_tls_manifests() {
    manifests(case("base+manual-tls"));
}
#[test]
fn base_with_monitoring_manifests() {
    manifests(case("base+monitoring"));
}
#[test]
fn base_with_policy_reports_manifests() {
    manifests(case("base+policy-reports"));
}
#[test]
fn cluster_enforce_manifests() {
    manifests(case("cluster-enforce"));
}
#[test]
fn cluster_enforce_with_monitoring_manifests() {
    manifests(case("cluster-enforce+monitoring"));
}
#[test]
fn cluster_enforce_with_network_policy_manifests() {
    manifests(case("cluster-enforce+network-policy"));
}
#[test]
fn namespace_opt_in_manifests() {
    manifests(case("namespace-opt-in"));
}
#[test]
fn audit_manifests() {
    manifests(case("audit"));
}

#[test]
fn base_passes_bulwark_check() {
    bulwark_check(case("base"));
}
#[test]
fn base_with_cert_manager_passes_bulwark_check() {
    bulwark_check(case("base+cert-manager"));
}
#[test]
fn base_with_manual_tls_passes_bulwark_check() {
    bulwark_check(case("base+manual-tls"));
}
#[test]
fn base_with_monitoring_passes_bulwark_check() {
    bulwark_check(case("base+monitoring"));
}
#[test]
fn base_with_policy_reports_passes_bulwark_check() {
    bulwark_check(case("base+policy-reports"));
}
#[test]
fn cluster_enforce_passes_bulwark_check() {
    bulwark_check(case("cluster-enforce"));
}
#[test]
fn cluster_enforce_with_monitoring_passes_bulwark_check() {
    bulwark_check(case("cluster-enforce+monitoring"));
}
#[test]
fn cluster_enforce_with_network_policy_passes_bulwark_check() {
    bulwark_check(case("cluster-enforce+network-policy"));
}
#[test]
fn namespace_opt_in_passes_bulwark_check() {
    bulwark_check(case("namespace-opt-in"));
}
#[test]
fn audit_passes_bulwark_check() {
    bulwark_check(case("audit"));
}

/// A new overlay or component cannot slip in untested.
#[test]
fn every_overlay_and_component_is_tested() {
    let cases = all_cases();
    let mut tested = BTreeSet::new();
    for c in &cases {
        match c.source {
            Source::Dir(d) => {
                tested.insert(d.to_owned());
            }
            Source::Compose {
                resource,
                components,
            } => {
                tested.insert(resource.to_owned());
                tested.extend(components.iter().map(|c| (*c).to_owned()));
            }
        }
    }
    for parent in ["overlays", "components"] {
        let dir = deploy_dir().join(parent);
        let entries = std::fs::read_dir(&dir)
            .unwrap_or_else(|e| panic!("cannot list {}: {e}", dir.display()));
        for entry in entries {
            let entry = entry.expect("directory entry");
            if entry.path().join("kustomization.yaml").is_file() {
                let rel = format!("{parent}/{}", entry.file_name().to_string_lossy());
                assert!(
                    tested.contains(&rel),
                    "deploy/{rel} is not rendered by any case in tests/integration/deploy.rs"
                );
            }
        }
    }
}

/// The base's ConfigMap is generated from deploy/base/policy.yaml itself, never a copy.
#[test]
fn policy_configmap_is_generated_from_the_embedded_policy() {
    let path = deploy_dir().join("base/kustomization.yaml");
    let k: Value = read_yaml(&path);
    let generators = k["configMapGenerator"]
        .as_array()
        .unwrap_or_else(|| panic!("{}: no configMapGenerator", path.display()));
    let policy = generators
        .iter()
        .find(|g| g["name"] == "bulwark-policy")
        .unwrap_or_else(|| panic!("{}: no bulwark-policy generator", path.display()));
    assert_eq!(
        policy["files"],
        serde_json::json!(["policy.yaml"]),
        "{policy}"
    );
    assert!(
        policy.get("literals").is_none() && policy.get("envs").is_none(),
        "{policy}"
    );
    // And the overlays replace that key only through `behavior: merge` of a policy file.
    for overlay in overlay_dirs() {
        let path = overlay.join("kustomization.yaml");
        let k: Value = read_yaml(&path);
        for g in k["configMapGenerator"].as_array().into_iter().flatten() {
            assert_eq!(g["name"], "bulwark-policy", "{}", path.display());
            assert_eq!(g["behavior"], "merge", "{}: {g}", path.display());
        }
    }
}

/// No private key is ever committed under deploy/ or certs/.
#[test]
fn no_private_keys_are_committed() {
    let root = repo_dir();
    let mut files = Vec::new();
    for dir in ["deploy", "certs"] {
        collect_files(&root.join(dir), &mut files);
    }
    for f in files {
        let text = std::fs::read(&f).unwrap_or_default();
        let text = String::from_utf8_lossy(&text);
        assert!(
            !text.contains("PRIVATE KEY-----"),
            "{} contains a private key",
            f.display()
        );
        let name = f
            .file_name()
            .unwrap_or_default()
            .to_string_lossy()
            .into_owned();
        assert!(
            !(name.ends_with(".key") || name.ends_with(".pem")),
            "{}: key material does not belong in the repository",
            f.display()
        );
    }
}

/// The image's default command is the Deployment's, and both run as 65532.
#[test]
fn dockerfile_matches_the_deployment() {
    let path = repo_dir().join("Dockerfile");
    let text = std::fs::read_to_string(&path).expect("Dockerfile");
    let instr = |name: &str| -> Vec<String> {
        text.lines()
            .filter_map(|l| l.strip_prefix(name).map(|r| r.trim().to_owned()))
            .collect()
    };
    let json = |v: &str| -> Vec<String> {
        serde_json::from_str(v).unwrap_or_else(|e| panic!("Dockerfile: {v} is not exec form: {e}"))
    };
    assert_eq!(
        instr("ENTRYPOINT ")
            .iter()
            .map(|v| json(v))
            .collect::<Vec<_>>(),
        [["/bulwark"]]
    );
    let cmd = instr("CMD ");
    assert_eq!(cmd.len(), 1, "exactly one CMD");
    let cmd = json(&cmd[0]);
    assert_eq!(instr("USER "), ["65532:65532"]);
    assert!(
        text.contains("--locked"),
        "the release build must be --locked"
    );
    assert!(
        instr("FROM ")
            .iter()
            .any(|f| f.starts_with("rust:1-bookworm")),
        "builder is rust:1-bookworm"
    );
    assert!(
        instr("FROM ")
            .last()
            .is_some_and(|f| f.starts_with("gcr.io/distroless/") && f.ends_with(":nonroot")),
        "runtime is distroless :nonroot"
    );

    // Nothing builds the image here (no container engine): at least every COPY source of the
    // build stage must exist, and Cargo.toml's explicit targets must be among them.
    let mut copied = Vec::new();
    for args in instr("COPY ").iter().filter(|a| !a.starts_with("--from")) {
        let words: Vec<&str> = args.split_whitespace().collect();
        for src in &words[..words.len() - 1] {
            assert!(
                repo_dir().join(src).exists(),
                "Dockerfile copies {src}, which does not exist"
            );
            copied.push(src.trim_end_matches('/').to_owned());
        }
    }
    assert!(
        copied.iter().any(|c| c == "benches"),
        "Cargo.toml's [[bench]] targets need benches/"
    );

    let r = render(case("base"));
    let d = one(&r.deployments, "Deployment");
    let c = &pod_spec(d).containers[0];
    let args = c.args.clone().unwrap_or_default();
    assert!(
        c.command.is_none(),
        "the Deployment keeps the image's ENTRYPOINT"
    );
    assert_eq!(
        args[..cmd.len()],
        cmd[..],
        "Deployment args must start with the Dockerfile CMD"
    );
    assert_eq!(&args[cmd.len()..], ["--log-format", "json"]);
}

/// The documented manual-TLS flow: `bulwark certs generate`, its `caBundle` pasted into
/// components/manual-tls/ca-bundle.yaml, renders into every webhook's caBundle as the CA.
#[test]
fn manual_tls_with_generated_certs() {
    let work = tempdir();
    let out = work.path().join("certs");
    run_ok(
        Command::new(env!("CARGO_BIN_EXE_bulwark"))
            .args([
                "certs",
                "generate",
                "--service",
                "bulwark",
                "--namespace",
                NS,
                "--out",
            ])
            .arg(&out),
    );
    for f in ["ca.crt", "tls.crt", "tls.key", "caBundle"] {
        assert!(out.join(f).is_file(), "certs generate did not write {f}");
    }
    let ca_bundle = std::fs::read_to_string(out.join("caBundle")).expect("caBundle");
    let ca_bundle = ca_bundle.trim();
    let ca_pem = std::fs::read(out.join("ca.crt")).expect("ca.crt");

    // A copy of the component with the bundle pasted in, exactly as certs/README.md says.
    let component = work.path().join("manual-tls");
    std::fs::create_dir(&component).expect("mkdir");
    for f in ["kustomization.yaml", "ca-bundle.yaml"] {
        let text = std::fs::read_to_string(deploy_dir().join("components/manual-tls").join(f))
            .expect("component file");
        let text = text.replace(CA_PLACEHOLDER, ca_bundle);
        std::fs::write(component.join(f), text).expect("write");
    }
    let top = work.path().join("top");
    std::fs::create_dir(&top).expect("mkdir");
    let base = format!("{}/base", relative(&top, &deploy_dir()));
    std::fs::write(
        top.join("kustomization.yaml"),
        format!(
            "apiVersion: kustomize.config.k8s.io/v1beta1\nkind: Kustomization\nresources: [{base}]\ncomponents: [../manual-tls]\n"
        ),
    )
    .expect("write");
    let r = parse_rendered("manual-tls with generated certs", kustomize(&top));
    let hooks = webhooks(&r);
    assert_eq!(hooks.len(), 3);
    for h in hooks {
        assert_eq!(
            h.client_config.ca_bundle.as_ref().map(|b| &b.0),
            Some(&ca_pem),
            "{}: caBundle is not ca.crt",
            h.name
        );
    }
}

/// deploy/examples/bulwarkexception.yaml is what the README promises, is valid against the
/// rendered CRD's schema, names real rule ids, and is applied by no kustomization.
#[test]
fn example_exception_matches_the_crd() {
    let r = render(case("base"));
    let crd = one(&r.crds, "CustomResourceDefinition");
    let schema = exception_schema(crd);
    let path = deploy_dir().join("examples/bulwarkexception.yaml");
    let example = read_yaml(&path);
    let what = path.display().to_string();
    only_keys(
        &example,
        "",
        &["apiVersion", "kind", "metadata", "spec"],
        &what,
    );
    assert_eq!(example["apiVersion"], "bulwark.dev/v1alpha1", "{what}");
    assert_eq!(example["kind"], "BulwarkException", "{what}");
    // In bulwark's own namespace: the only place `namespaces` is honoured.
    assert_eq!(str_field(&example, "metadata.namespace", &what), NS);
    let mut errors = Vec::new();
    schema_errors(&schema, &example, "", &mut errors);
    // metadata, apiVersion and kind are the API server's, not the schema's.
    errors.retain(|e| {
        !e.starts_with(".metadata") && !e.starts_with(".apiVersion") && !e.starts_with(".kind")
    });
    assert!(errors.is_empty(), "{what}: {errors:#?}");
    let spec = &example["spec"];
    assert_eq!(spec["namespaces"], serde_json::json!(["shop"]), "{what}");
    assert_eq!(spec["kinds"], serde_json::json!(["Deployment"]), "{what}");
    assert_eq!(spec["names"], serde_json::json!(["legacy-*"]), "{what}");
    assert_eq!(
        spec["rules"],
        serde_json::json!(["replicas", "pod-spread"]),
        "{what}"
    );
    assert!(
        is_date(str_field(&example, "spec.expires", &what)),
        "{what}"
    );

    // Real rule ids, as `bulwark rules` lists them.
    let out =
        run_ok(Command::new(env!("CARGO_BIN_EXE_bulwark")).args(["rules", "--output", "json"]));
    let catalogue: Value = serde_json::from_slice(&out.stdout).expect("rules JSON");
    let ids: BTreeSet<&str> = catalogue
        .as_array()
        .expect("rules list")
        .iter()
        .filter_map(|r| r["id"].as_str())
        .collect();
    for rule in spec["rules"].as_array().into_iter().flatten() {
        let rule = rule.as_str().unwrap_or_default();
        assert!(ids.contains(rule), "{what}: {rule} is not a rule id");
    }

    // An example, never installed by an overlay or component.
    let mut files = Vec::new();
    collect_files(&deploy_dir(), &mut files);
    for f in files.iter().filter(|f| f.ends_with("kustomization.yaml")) {
        let text = std::fs::read_to_string(f).expect("kustomization");
        assert!(
            !text.contains("examples"),
            "{}: deploy/examples is not to be applied by a kustomization",
            f.display()
        );
    }
}

/// The schema rejects what it must: an exception without rules, names or a reason, with
/// an empty list or reason, a malformed expiry, or a field it does not know.
#[test]
fn exception_schema_rejects_malformed_exceptions() {
    let r = render(case("base"));
    let schema = exception_schema(one(&r.crds, "CustomResourceDefinition"));
    let good = serde_json::json!({"spec": {
        "rules": ["replicas"], "names": ["web"], "reason": "migration", "expires": "2027-02-28",
    }});
    let mut errors = Vec::new();
    schema_errors(&schema, &good, "", &mut errors);
    assert!(errors.is_empty(), "{errors:#?}");
    let bad: [(&str, Value); 10] = [
        ("no spec", serde_json::json!({})),
        (
            "no rules",
            serde_json::json!({"spec": {"names": ["web"], "reason": "r"}}),
        ),
        (
            "no names",
            serde_json::json!({"spec": {"rules": ["replicas"], "reason": "r"}}),
        ),
        (
            "no reason",
            serde_json::json!({"spec": {"rules": ["replicas"], "names": ["web"]}}),
        ),
        (
            "empty rules",
            serde_json::json!({"spec": {"rules": [], "names": ["web"], "reason": "r"}}),
        ),
        (
            "empty names",
            serde_json::json!({"spec": {"rules": ["replicas"], "names": [], "reason": "r"}}),
        ),
        (
            "empty reason",
            serde_json::json!({"spec": {"rules": ["replicas"], "names": ["web"], "reason": ""}}),
        ),
        (
            "not a date",
            serde_json::json!({"spec": {"rules": ["replicas"], "names": ["web"], "reason": "r", "expires": "30/06/2027"}}),
        ),
        (
            "no such day",
            serde_json::json!({"spec": {"rules": ["replicas"], "names": ["web"], "reason": "r", "expires": "2027-02-29"}}),
        ),
        (
            "unknown field",
            serde_json::json!({"spec": {"rules": ["replicas"], "names": ["web"], "reason": "r", "users": ["me"]}}),
        ),
    ];
    for (what, v) in bad {
        let mut errors = Vec::new();
        schema_errors(&schema, &v, "", &mut errors);
        assert!(!errors.is_empty(), "{what}: accepted by the schema: {v}");
    }
}

// ------------------------------------------------------------------------------------------
// Rendering and strict parsing
// ------------------------------------------------------------------------------------------

fn repo_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn deploy_dir() -> PathBuf {
    repo_dir().join("deploy")
}

fn overlay_dirs() -> Vec<PathBuf> {
    let dir = deploy_dir().join("overlays");
    let mut out: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("cannot list {}: {e}", dir.display()))
        .map(|e| e.expect("directory entry").path())
        .filter(|p| p.join("kustomization.yaml").is_file())
        .collect();
    out.sort();
    out
}

fn collect_files(dir: &Path, out: &mut Vec<PathBuf>) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for entry in entries.flatten() {
        let p = entry.path();
        if p.is_dir() {
            collect_files(&p, out);
        } else {
            out.push(p);
        }
    }
}

fn read_yaml(path: &Path) -> Value {
    let text = std::fs::read_to_string(path)
        .unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()));
    serde_yaml_ng::from_str(&text).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

fn tempdir() -> tempfile::TempDir {
    tempfile::Builder::new()
        .prefix("bulwark-deploy-")
        .tempdir_in(env!("CARGO_TARGET_TMPDIR"))
        .expect("temporary directory")
}

/// `to` relative to `from` (kustomize refuses absolute paths in `resources:`).
fn relative(from: &Path, to: &Path) -> String {
    let from = from.canonicalize().expect("canonical path");
    let to = to.canonicalize().expect("canonical path");
    let a: Vec<Component<'_>> = from.components().collect();
    let b: Vec<Component<'_>> = to.components().collect();
    let common = a.iter().zip(&b).take_while(|(x, y)| x == y).count();
    let mut parts: Vec<String> = vec!["..".into(); a.len() - common];
    parts.extend(
        b[common..]
            .iter()
            .map(|c| c.as_os_str().to_string_lossy().into_owned()),
    );
    if parts.is_empty() {
        ".".into()
    } else {
        parts.join("/")
    }
}

/// Runs `cmd`, failing the test with its output unless it exits 0.
fn run_ok(cmd: &mut Command) -> std::process::Output {
    let out = cmd
        .output()
        .unwrap_or_else(|e| panic!("cannot run {cmd:?}: {e}"));
    assert!(
        out.status.success(),
        "{cmd:?} failed ({}):\nstdout:\n{}\nstderr:\n{}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

/// `kubectl kustomize DIR`.
fn kustomize(dir: &Path) -> String {
    let out = match Command::new("kubectl").arg("kustomize").arg(dir).output() {
        Ok(out) => out,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => panic!(
            "kubectl not found on PATH: these tests render deploy/ with `kubectl kustomize`; \
             install the kubectl client (CI does)"
        ),
        Err(e) => panic!("cannot run kubectl: {e}"),
    };
    assert!(
        out.status.success(),
        "kubectl kustomize {} failed ({}):\n{}",
        dir.display(),
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).expect("kubectl output is UTF-8")
}

/// Renders a case. For `Compose`, a throwaway kustomization next to the build's temp files.
fn render_text(case: Case) -> String {
    match case.source {
        Source::Dir(dir) => kustomize(&deploy_dir().join(dir)),
        Source::Compose {
            resource,
            components,
        } => {
            let tmp = tempdir();
            let rel = relative(tmp.path(), &deploy_dir());
            let mut k = format!(
                "apiVersion: kustomize.config.k8s.io/v1beta1\nkind: Kustomization\nresources:\n  - {rel}/{resource}\ncomponents:\n"
            );
            for c in components {
                k.push_str(&format!("  - {rel}/{c}\n"));
            }
            std::fs::write(tmp.path().join("kustomization.yaml"), k).expect("write kustomization");
            kustomize(tmp.path())
        }
    }
}

/// Every object of a rendering, typed.
#[derive(Default)]
struct Rendered {
    /// kubectl's output, as given to `bulwark check`.
    text: String,
    /// Every object as JSON, in output order.
    objects: Vec<Value>,
    namespaces: Vec<Namespace>,
    service_accounts: Vec<ServiceAccount>,
    crds: Vec<CustomResourceDefinition>,
    cluster_roles: Vec<ClusterRole>,
    cluster_role_bindings: Vec<ClusterRoleBinding>,
    roles: Vec<Role>,
    role_bindings: Vec<RoleBinding>,
    config_maps: Vec<ConfigMap>,
    deployments: Vec<Deployment>,
    services: Vec<Service>,
    pdbs: Vec<PodDisruptionBudget>,
    network_policies: Vec<NetworkPolicy>,
    validating: Vec<ValidatingWebhookConfiguration>,
    mutating: Vec<MutatingWebhookConfiguration>,
    issuers: Vec<Value>,
    certificates: Vec<Value>,
    service_monitors: Vec<Value>,
    prometheus_rules: Vec<Value>,
}

fn render(case: Case) -> Rendered {
    let mut text = render_text(case);
    if case.expect.tls == Tls::Manual {
        // The shipped placeholder is deliberately not base64, so applying the component
        // before pasting a real bundle fails at the API server. It cannot be typed either:
        // check it is there once per webhook, then stand a real value in for it.
        let expected = if case.expect.mutating { 3 } else { 2 };
        assert_eq!(
            text.matches(&format!("caBundle: {CA_PLACEHOLDER}")).count(),
            expected,
            "{}: every webhook gets the caBundle placeholder",
            case.name
        );
        assert!(
            base64_decode(CA_PLACEHOLDER).is_err(),
            "the placeholder must not be valid base64"
        );
        text = text.replace(
            CA_PLACEHOLDER,
            &base64_encode(b"-----BEGIN CERTIFICATE-----\n"),
        );
    }
    parse_rendered(case.name, text)
}

fn base64_encode(bytes: &[u8]) -> String {
    use base64::Engine as _;
    base64::engine::general_purpose::STANDARD.encode(bytes)
}

fn base64_decode(text: &str) -> Result<Vec<u8>, base64::DecodeError> {
    use base64::Engine as _;
    base64::engine::general_purpose::STANDARD.decode(text)
}

/// Splits kubectl's multi-document output and parses each object by kind.
fn parse_rendered(name: &str, text: String) -> Rendered {
    let mut r = Rendered::default();
    let mut docs = vec![String::new()];
    for line in text.lines() {
        if line == "---" {
            docs.push(String::new());
        } else {
            let cur = docs.last_mut().expect("one document");
            cur.push_str(line);
            cur.push('\n');
        }
    }
    for (i, doc) in docs.iter().enumerate() {
        if doc.trim().is_empty() {
            continue;
        }
        let v: Value = serde_yaml_ng::from_str(doc)
            .unwrap_or_else(|e| panic!("{name}: document {i} is not YAML: {e}\n{doc}"));
        let api = v["apiVersion"].as_str().unwrap_or_default().to_owned();
        let kind = v["kind"].as_str().unwrap_or_default().to_owned();
        let what = format!(
            "{name}: {kind} {}",
            v["metadata"]["name"].as_str().unwrap_or("<unnamed>")
        );
        match (api.as_str(), kind.as_str()) {
            ("v1", "Namespace") => r.namespaces.push(strict(&v, &what)),
            ("v1", "ServiceAccount") => r.service_accounts.push(strict(&v, &what)),
            ("v1", "ConfigMap") => r.config_maps.push(strict(&v, &what)),
            ("v1", "Service") => r.services.push(strict(&v, &what)),
            ("apiextensions.k8s.io/v1", "CustomResourceDefinition") => {
                r.crds.push(strict(&v, &what))
            }
            ("rbac.authorization.k8s.io/v1", "ClusterRole") => {
                r.cluster_roles.push(strict(&v, &what))
            }
            ("rbac.authorization.k8s.io/v1", "ClusterRoleBinding") => {
                r.cluster_role_bindings.push(strict(&v, &what))
            }
            ("rbac.authorization.k8s.io/v1", "Role") => r.roles.push(strict(&v, &what)),
            ("rbac.authorization.k8s.io/v1", "RoleBinding") => {
                r.role_bindings.push(strict(&v, &what))
            }
            ("apps/v1", "Deployment") => r.deployments.push(strict(&v, &what)),
            ("policy/v1", "PodDisruptionBudget") => r.pdbs.push(strict(&v, &what)),
            ("networking.k8s.io/v1", "NetworkPolicy") => r.network_policies.push(strict(&v, &what)),
            ("admissionregistration.k8s.io/v1", "ValidatingWebhookConfiguration") => {
                r.validating.push(strict(&v, &what))
            }
            ("admissionregistration.k8s.io/v1", "MutatingWebhookConfiguration") => {
                r.mutating.push(strict(&v, &what))
            }
            ("cert-manager.io/v1", "Issuer") => {
                check_issuer(&v, &what);
                r.issuers.push(v.clone());
            }
            ("cert-manager.io/v1", "Certificate") => {
                check_certificate(&v, &what);
                r.certificates.push(v.clone());
            }
            ("monitoring.coreos.com/v1", "ServiceMonitor") => {
                check_service_monitor(&v, &what);
                r.service_monitors.push(v.clone());
            }
            ("monitoring.coreos.com/v1", "PrometheusRule") => {
                check_prometheus_rule(&v, &what);
                r.prometheus_rules.push(v.clone());
            }
            _ => panic!(
                "{what}: unexpected {api}/{kind} in the rendered output; teach \
                 tests/integration/deploy.rs about it"
            ),
        }
        r.objects.push(v);
    }
    r.text = text;
    r
}

/// Deserializes `v` into `T`, then serializes it back: since k8s-openapi silently drops
/// unknown fields, any difference means a misspelt, misplaced or unknown field.
fn strict<T: DeserializeOwned + Serialize>(v: &Value, what: &str) -> T {
    let typed: T = serde_json::from_value(v.clone()).unwrap_or_else(|e| {
        panic!(
            "{what}: does not parse as {}: {e}",
            std::any::type_name::<T>()
        )
    });
    let back = serde_json::to_value(&typed).expect("typed objects serialize");
    let mut diffs = Vec::new();
    diff(v, &back, "", &mut diffs);
    assert!(
        diffs.is_empty(),
        "{what}: not a valid {}:\n  {}",
        std::any::type_name::<T>(),
        diffs.join("\n  ")
    );
    typed
}

fn diff(orig: &Value, back: &Value, path: &str, out: &mut Vec<String>) {
    let at = |k: &str| {
        if path.is_empty() {
            k.to_owned()
        } else {
            format!("{path}.{k}")
        }
    };
    match (orig, back) {
        (Value::Object(a), Value::Object(b)) => {
            for (k, av) in a {
                match b.get(k) {
                    None => out.push(format!("{}: unknown field", at(k))),
                    Some(bv) => diff(av, bv, &at(k), out),
                }
            }
            for k in b.keys().filter(|k| !a.contains_key(*k)) {
                out.push(format!("{}: added by the typed model", at(k)));
            }
        }
        (Value::Array(a), Value::Array(b)) if a.len() == b.len() => {
            for (i, (x, y)) in a.iter().zip(b).enumerate() {
                diff(x, y, &format!("{path}[{i}]"), out);
            }
        }
        _ if orig == back => {}
        _ => out.push(format!("{path}: {orig} reads back as {back}")),
    }
}

/// `v` at a dotted path, failing the test naming the path when it is missing.
fn field<'a>(v: &'a Value, path: &str, what: &str) -> &'a Value {
    let mut cur = v;
    for key in path.split('.') {
        cur = match cur.get(key) {
            Some(next) if !next.is_null() => next,
            _ => panic!("{what}: required field {path} is missing"),
        };
    }
    cur
}

fn str_field<'a>(v: &'a Value, path: &str, what: &str) -> &'a str {
    field(v, path, what)
        .as_str()
        .unwrap_or_else(|| panic!("{what}: {path} is not a string"))
}

/// Fails on keys of the object at `path` outside `allowed` (typos in CRD objects).
fn only_keys(v: &Value, path: &str, allowed: &[&str], what: &str) {
    let obj = if path.is_empty() {
        v
    } else {
        field(v, path, what)
    };
    let map = obj
        .as_object()
        .unwrap_or_else(|| panic!("{what}: {path} is not an object"));
    for k in map.keys() {
        assert!(
            allowed.contains(&k.as_str()),
            "{what}: {path}.{k}: unknown field"
        );
    }
}

fn check_crd_meta(v: &Value, what: &str) {
    only_keys(v, "", &["apiVersion", "kind", "metadata", "spec"], what);
    str_field(v, "metadata.name", what);
    assert_eq!(
        str_field(v, "metadata.namespace", what),
        NS,
        "{what}: namespace"
    );
}

fn check_issuer(v: &Value, what: &str) {
    check_crd_meta(v, what);
    only_keys(v, "spec", &["selfSigned", "ca"], what);
    let spec = field(v, "spec", what);
    assert!(
        spec.get("selfSigned").is_some() ^ spec.get("ca").is_some(),
        "{what}: exactly one of selfSigned, ca"
    );
    if spec.get("ca").is_some() {
        str_field(v, "spec.ca.secretName", what);
    }
}

fn check_certificate(v: &Value, what: &str) {
    check_crd_meta(v, what);
    only_keys(
        v,
        "spec",
        &[
            "secretName",
            "commonName",
            "dnsNames",
            "duration",
            "renewBefore",
            "isCA",
            "usages",
            "privateKey",
            "issuerRef",
            "subject",
            "secretTemplate",
        ],
        what,
    );
    str_field(v, "spec.secretName", what);
    str_field(v, "spec.issuerRef.name", what);
    only_keys(v, "spec.issuerRef", &["name", "kind", "group"], what);
    only_keys(
        v,
        "spec.privateKey",
        &["algorithm", "size", "encoding", "rotationPolicy"],
        what,
    );
    assert_eq!(
        str_field(v, "spec.privateKey.algorithm", what),
        "ECDSA",
        "{what}"
    );
    assert_eq!(field(v, "spec.privateKey.size", what), 256, "{what}: P-256");
}

fn check_service_monitor(v: &Value, what: &str) {
    check_crd_meta(v, what);
    only_keys(
        v,
        "spec",
        &["selector", "namespaceSelector", "endpoints", "jobLabel"],
        what,
    );
    field(v, "spec.selector.matchLabels", what);
    let endpoints = field(v, "spec.endpoints", what)
        .as_array()
        .unwrap_or_else(|| panic!("{what}: spec.endpoints is not a list"));
    assert!(!endpoints.is_empty(), "{what}: no endpoints");
    for e in endpoints {
        only_keys(
            e,
            "",
            &["port", "path", "scheme", "interval", "scrapeTimeout"],
            what,
        );
        str_field(e, "port", what);
        str_field(e, "path", what);
    }
}

fn check_prometheus_rule(v: &Value, what: &str) {
    check_crd_meta(v, what);
    only_keys(v, "spec", &["groups"], what);
    let groups = field(v, "spec.groups", what)
        .as_array()
        .expect("groups list");
    assert!(!groups.is_empty(), "{what}: no groups");
    for g in groups {
        only_keys(g, "", &["name", "interval", "rules"], what);
        str_field(g, "name", what);
        for rule in field(g, "rules", what).as_array().expect("rules list") {
            only_keys(
                rule,
                "",
                &["alert", "expr", "for", "labels", "annotations"],
                what,
            );
            let alert = str_field(rule, "alert", what);
            let w = format!("{what}: alert {alert}");
            str_field(rule, "expr", &w);
            str_field(rule, "labels.severity", &w);
            str_field(rule, "annotations.summary", &w);
            str_field(rule, "annotations.description", &w);
        }
    }
}

// ------------------------------------------------------------------------------------------
// The properties
// ------------------------------------------------------------------------------------------

fn one<'a, T>(items: &'a [T], what: &str) -> &'a T {
    assert_eq!(
        items.len(),
        1,
        "expected exactly one {what}, found {}",
        items.len()
    );
    &items[0]
}

fn labels(meta: &ObjectMeta) -> BTreeMap<String, String> {
    meta.labels.clone().unwrap_or_default()
}

fn pod_spec(d: &Deployment) -> &PodSpec {
    d.spec
        .as_ref()
        .and_then(|s| s.template.spec.as_ref())
        .expect("Deployment has a pod spec")
}

/// Whether a label selector (matchLabels only) selects `labels`.
fn selects(selector: &BTreeMap<String, String>, labels: &BTreeMap<String, String>) -> bool {
    !selector.is_empty() && selector.iter().all(|(k, v)| labels.get(k) == Some(v))
}

fn match_labels(s: &Option<LabelSelector>) -> BTreeMap<String, String> {
    s.as_ref()
        .and_then(|s| s.match_labels.clone())
        .unwrap_or_default()
}

fn manifests(case: Case) {
    let r = render(case);
    let e = case.expect;
    let name = case.name;

    // Namespace: Pod Security Standards restricted, enforced, audited and warned.
    let ns = one(&r.namespaces, "Namespace");
    assert_eq!(ns.metadata.name.as_deref(), Some(NS));
    let l = labels(&ns.metadata);
    assert_eq!(
        l.get("kubernetes.io/metadata.name").map(String::as_str),
        Some(NS)
    );
    for mode in ["enforce", "audit", "warn"] {
        assert_eq!(
            l.get(&format!("pod-security.kubernetes.io/{mode}"))
                .map(String::as_str),
            Some("restricted"),
            "{name}: namespace pod-security {mode}"
        );
    }

    // Every namespaced object is in bulwark-system; cluster-scoped ones have none.
    for o in &r.objects {
        let kind = o["kind"].as_str().unwrap_or_default();
        let cluster_scoped = matches!(
            kind,
            "Namespace"
                | "CustomResourceDefinition"
                | "ClusterRole"
                | "ClusterRoleBinding"
                | "ValidatingWebhookConfiguration"
                | "MutatingWebhookConfiguration"
        );
        let got = o["metadata"]["namespace"].as_str();
        if cluster_scoped {
            assert_eq!(got, None, "{name}: {kind} is cluster-scoped");
        } else {
            assert_eq!(
                got,
                Some(NS),
                "{name}: {kind} {} namespace",
                o["metadata"]["name"]
            );
        }
    }

    check_exception_crd(&r, name);
    check_policy_report_crds(&r, e, name);
    check_rbac(&r, name);
    check_audit_rbac(&r, name);
    let policy = check_policy(&r, e, name);
    let d = check_deployment(&r, &policy, name);
    check_service_and_pdb(&r, d, name);
    check_webhooks(&r, e, name);
    check_tls(&r, e, name);
    check_monitoring(&r, e, d, name);
    check_network_policy(&r, e, d, name);
}

fn check_rbac(r: &Rendered, name: &str) {
    let sa = one(&r.service_accounts, "ServiceAccount");
    assert_eq!(sa.metadata.name.as_deref(), Some("bulwark"));
    assert_eq!(
        sa.automount_service_account_token,
        Some(true),
        "{name}: explicit automount"
    );

    // Least privilege: read-only on exactly the four reflected kinds.
    let role = cluster_role(r, "bulwark", name);
    let read = ["get", "list", "watch"];
    let mut granted = BTreeSet::new();
    for rule in role.rules.iter().flatten() {
        assert!(
            rule.resource_names.is_none() && rule.non_resource_urls.is_none(),
            "{rule:?}"
        );
        let mut verbs = rule.verbs.clone();
        verbs.sort();
        assert_eq!(
            verbs, read,
            "{name}: ClusterRole verbs must be exactly get/list/watch"
        );
        for g in rule.api_groups.iter().flatten() {
            for res in rule.resources.iter().flatten() {
                assert!(g != "*" && res != "*", "{name}: wildcard in ClusterRole");
                granted.insert((g.clone(), res.clone()));
            }
        }
    }
    let want: BTreeSet<(String, String)> = [
        ("", "namespaces"),
        ("policy", "poddisruptionbudgets"),
        ("autoscaling", "horizontalpodautoscalers"),
        (EXCEPTION_GROUP, EXCEPTION_PLURAL),
    ]
    .into_iter()
    .map(|(g, r)| (g.to_owned(), r.to_owned()))
    .collect();
    assert_eq!(granted, want, "{name}: ClusterRole grants");
    assert!(role.aggregation_rule.is_none());
    check_exception_rbac(r, name);

    let binding = r
        .cluster_role_bindings
        .iter()
        .find(|b| b.metadata.name.as_deref() == Some("bulwark"))
        .unwrap_or_else(|| panic!("{name}: no ClusterRoleBinding bulwark"));
    assert_eq!(binding.role_ref.kind, "ClusterRole");
    assert_eq!(
        binding.role_ref.name, "bulwark",
        "{name}: binds bulwark's own role"
    );
    assert_eq!(Some(&binding.role_ref.name), role.metadata.name.as_ref());
    let subjects = binding.subjects.clone().unwrap_or_default();
    assert_eq!(subjects.len(), 1, "{name}: one subject");
    assert_eq!(subjects[0].kind, "ServiceAccount");
    assert_eq!(Some(&subjects[0].name), sa.metadata.name.as_ref());
    assert_eq!(subjects[0].namespace.as_deref(), Some(NS));
}

/// The ClusterRole called `role`.
fn cluster_role<'a>(r: &'a Rendered, role: &str, name: &str) -> &'a ClusterRole {
    r.cluster_roles
        .iter()
        .find(|c| c.metadata.name.as_deref() == Some(role))
        .unwrap_or_else(|| panic!("{name}: no ClusterRole {role}"))
}

/// Verbs that change objects.
const WRITE_VERBS: [&str; 6] = [
    "create",
    "update",
    "patch",
    "delete",
    "deletecollection",
    "*",
];

/// Only the platform team may write BulwarkExceptions: the `bulwark-exception-admin` role
/// exists but is bound by nothing shipped, and nothing rendered can reach a tenant through
/// aggregation into the built-in admin/edit/view roles.
fn check_exception_rbac(r: &Rendered, name: &str) {
    let admin = cluster_role(r, EXCEPTION_ADMIN_ROLE, name);
    let mut verbs = BTreeSet::new();
    for rule in admin.rules.iter().flatten() {
        assert_eq!(
            rule.api_groups.as_deref(),
            Some(&[EXCEPTION_GROUP.to_owned()][..]),
            "{name}: {EXCEPTION_ADMIN_ROLE} is about exceptions only"
        );
        assert_eq!(
            rule.resources.as_deref(),
            Some(&[EXCEPTION_PLURAL.to_owned()][..]),
            "{name}: {EXCEPTION_ADMIN_ROLE} is about exceptions only"
        );
        assert!(rule.resource_names.is_none() && rule.non_resource_urls.is_none());
        verbs.extend(rule.verbs.iter().cloned());
    }
    assert_eq!(
        verbs,
        set(&[
            "create", "delete", "get", "list", "patch", "update", "watch"
        ]),
        "{name}: {EXCEPTION_ADMIN_ROLE} verbs"
    );
    assert_eq!(
        r.cluster_roles.len(),
        3,
        "{name}: bulwark's role, bulwark-audit and {EXCEPTION_ADMIN_ROLE}"
    );

    for role in &r.cluster_roles {
        let role_name = role.metadata.name.as_deref().unwrap_or_default();
        // An aggregate-to-* label would merge the role into the built-in admin, edit or
        // view role, i.e. hand it to every namespace admin.
        for key in labels(&role.metadata).keys() {
            assert!(
                !key.starts_with("rbac.authorization.k8s.io/aggregate-to-"),
                "{name}: ClusterRole {role_name} carries {key}: tenants would get it"
            );
        }
        assert!(
            role.aggregation_rule.is_none(),
            "{name}: ClusterRole {role_name} aggregates"
        );
        let writes_exceptions = role.rules.iter().flatten().any(|rule| {
            let group = rule
                .api_groups
                .iter()
                .flatten()
                .any(|g| g == EXCEPTION_GROUP || g == "*");
            let res = rule
                .resources
                .iter()
                .flatten()
                .any(|x| x == EXCEPTION_PLURAL || x == "*");
            let write = rule.verbs.iter().any(|v| WRITE_VERBS.contains(&v.as_str()));
            group && res && write
        });
        if writes_exceptions {
            assert_eq!(
                role_name, EXCEPTION_ADMIN_ROLE,
                "{name}: only {EXCEPTION_ADMIN_ROLE} may write exceptions"
            );
            // Bound by the platform team themselves, never by the install.
            for b in &r.cluster_role_bindings {
                assert_ne!(
                    b.role_ref.name, role_name,
                    "{name}: {role_name} must not be bound by the install"
                );
            }
        }
    }
}

/// The BulwarkException CRD, as deploy/base/crd-bulwarkexception.yaml declares it.
fn check_exception_crd(r: &Rendered, name: &str) {
    let crd = r
        .crds
        .iter()
        .find(|c| c.spec.group == EXCEPTION_GROUP)
        .unwrap_or_else(|| panic!("{name}: no BulwarkException CRD"));
    assert_eq!(
        crd.metadata.name.as_deref(),
        Some("bulwarkexceptions.bulwark.dev"),
        "{name}: CRD name"
    );
    assert_eq!(
        crd.metadata.namespace, None,
        "{name}: kustomize's namespace must leave the CRD alone"
    );
    let l = labels(&crd.metadata);
    for key in LABELS {
        assert!(l.contains_key(key), "{name}: CRD lacks label {key}");
    }
    let spec = &crd.spec;
    assert_eq!(spec.group, EXCEPTION_GROUP, "{name}");
    assert_eq!(spec.scope, "Namespaced", "{name}");
    let n = &spec.names;
    assert_eq!(
        (n.kind.as_str(), n.plural.as_str(), n.singular.as_deref()),
        (
            "BulwarkException",
            EXCEPTION_PLURAL,
            Some("bulwarkexception")
        ),
        "{name}: names"
    );
    assert_eq!(
        n.short_names.as_deref(),
        Some(&["bex".to_owned()][..]),
        "{name}"
    );
    assert_eq!(
        n.categories.as_deref(),
        Some(&["bulwark".to_owned()][..]),
        "{name}"
    );
    assert_eq!(spec.versions.len(), 1, "{name}: one version");
    let v = &spec.versions[0];
    assert_eq!(v.name, "v1alpha1", "{name}");
    assert!(v.served && v.storage, "{name}: v1alpha1 served and stored");
    let columns: Vec<(&str, &str)> = v
        .additional_printer_columns
        .iter()
        .flatten()
        .map(|c| (c.name.as_str(), c.json_path.as_str()))
        .collect();
    assert_eq!(
        columns,
        [
            ("Rules", ".spec.rules"),
            ("Names", ".spec.names"),
            ("Expires", ".spec.expires"),
            ("Age", ".metadata.creationTimestamp"),
        ],
        "{name}: printer columns"
    );

    let schema = exception_schema(crd);
    // Structural, and closed: nowhere may unknown fields be kept.
    assert_no_open_schema(&schema, "", name);
    assert_eq!(schema["type"], "object", "{name}");
    assert_eq!(schema["required"], serde_json::json!(["spec"]), "{name}");
    let spec_schema = &schema["properties"]["spec"];
    assert_eq!(spec_schema["type"], "object", "{name}: spec");
    let required: BTreeSet<String> = spec_schema["required"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|x| x.as_str().map(str::to_owned))
        .collect();
    assert_eq!(
        required,
        set(&["rules", "names", "reason"]),
        "{name}: required spec fields"
    );
    let props = spec_schema["properties"]
        .as_object()
        .unwrap_or_else(|| panic!("{name}: spec has no properties"));
    assert_eq!(
        props.keys().cloned().collect::<BTreeSet<_>>(),
        set(&["rules", "namespaces", "kinds", "names", "reason", "expires"]),
        "{name}: spec fields"
    );
    for list in ["rules", "namespaces", "kinds", "names"] {
        let p = &props[list];
        assert_eq!(p["type"], "array", "{name}: spec.{list}");
        assert_eq!(p["items"]["type"], "string", "{name}: spec.{list} items");
        let min = if required.contains(list) {
            Some(1)
        } else {
            None
        };
        assert_eq!(p["minItems"].as_i64(), min, "{name}: spec.{list} minItems");
    }
    assert_eq!(props["reason"]["type"], "string", "{name}");
    assert_eq!(props["reason"]["minLength"], 1, "{name}: reason minLength");
    assert_eq!(props["expires"]["type"], "string", "{name}");
    assert_eq!(
        props["expires"]["format"], "date",
        "{name}: expires is a date"
    );
}

/// The v1alpha1 openAPIV3Schema as JSON.
fn exception_schema(crd: &CustomResourceDefinition) -> Value {
    let schema = crd.spec.versions[0]
        .schema
        .as_ref()
        .and_then(|s| s.open_api_v3_schema.as_ref())
        .expect("openAPIV3Schema");
    serde_json::to_value(schema).expect("schema serializes")
}

fn assert_no_open_schema(schema: &Value, path: &str, name: &str) {
    assert!(
        schema.get("type").is_some_and(Value::is_string),
        "{name}: schema{path} has no type (not structural)"
    );
    for open in [
        "x-kubernetes-preserve-unknown-fields",
        "additionalProperties",
    ] {
        assert!(
            schema.get(open).is_none(),
            "{name}: schema{path} sets {open}"
        );
    }
    for (k, p) in schema["properties"].as_object().into_iter().flatten() {
        assert_no_open_schema(p, &format!("{path}.{k}"), name);
    }
    if let Some(items) = schema.get("items") {
        assert_no_open_schema(items, &format!("{path}[]"), name);
    }
}

/// What the API server's validation of `value` against the structural `schema` would
/// reject, for the keywords the BulwarkException schema uses (type, required, properties,
/// items, minItems, minLength, format: date). Unknown fields count as errors: `kubectl
/// apply` validates strictly.
fn schema_errors(schema: &Value, value: &Value, path: &str, out: &mut Vec<String>) {
    match (schema["type"].as_str(), value) {
        (Some("object"), Value::Object(map)) => {
            for req in schema["required"].as_array().into_iter().flatten() {
                let req = req.as_str().unwrap_or_default();
                if !map.contains_key(req) {
                    out.push(format!("{path}.{req}: Required value"));
                }
            }
            for (k, v) in map {
                match schema["properties"].get(k) {
                    Some(p) => schema_errors(p, v, &format!("{path}.{k}"), out),
                    None => out.push(format!("{path}.{k}: unknown field")),
                }
            }
        }
        (Some("array"), Value::Array(items)) => {
            if let Some(min) = schema["minItems"].as_u64() {
                if (items.len() as u64) < min {
                    out.push(format!("{path}: should have at least {min} items"));
                }
            }
            for (i, item) in items.iter().enumerate() {
                schema_errors(&schema["items"], item, &format!("{path}[{i}]"), out);
            }
        }
        (Some("string"), Value::String(text)) => {
            if let Some(min) = schema["minLength"].as_u64() {
                if (text.chars().count() as u64) < min {
                    out.push(format!("{path}: should be at least {min} chars long"));
                }
            }
            if schema["format"] == "date" && !is_date(text) {
                out.push(format!("{path}: {text:?} is not a date (YYYY-MM-DD)"));
            }
        }
        (t, v) => out.push(format!("{path}: {v} is not of type {t:?}")),
    }
}

/// A calendar date, YYYY-MM-DD (RFC 3339 full-date).
fn is_date(text: &str) -> bool {
    let parts: Vec<&str> = text.split('-').collect();
    let [y, m, d] = parts[..] else {
        return false;
    };
    if y.len() != 4 || m.len() != 2 || d.len() != 2 {
        return false;
    }
    let (Ok(y), Ok(m), Ok(d)) = (y.parse::<u32>(), m.parse::<u32>(), d.parse::<u32>()) else {
        return false;
    };
    let leap = y % 4 == 0 && (y % 100 != 0 || y % 400 == 0);
    let days = match m {
        1 | 3 | 5 | 7 | 8 | 10 | 12 => 31,
        4 | 6 | 9 | 11 => 30,
        2 if leap => 29,
        2 => 28,
        _ => return false,
    };
    (1..=days).contains(&d)
}

/// The policy ConfigMap: returns its name and its `policy.yaml`, checked against `e`.
struct PolicyMap {
    name: String,
    text: String,
}

fn check_policy(r: &Rendered, e: Expect, name: &str) -> PolicyMap {
    let cm = one(&r.config_maps, "ConfigMap");
    let cm_name = cm.metadata.name.clone().unwrap_or_default();
    assert!(
        cm_name.starts_with("bulwark-policy-"),
        "{name}: {cm_name} is the generated, content-hashed bulwark-policy"
    );
    assert_eq!(
        cm.immutable,
        Some(true),
        "{name}: policy ConfigMap is immutable"
    );
    let data = cm.data.clone().unwrap_or_default();
    assert_eq!(
        data.keys().collect::<Vec<_>>(),
        ["policy.yaml"],
        "{name}: ConfigMap keys"
    );
    let text = data["policy.yaml"].clone();
    let policy: Value = serde_yaml_ng::from_str(&text).expect("policy.yaml is YAML");
    assert_eq!(policy["apiVersion"], "bulwark.dev/v1alpha1", "{name}");
    assert_eq!(policy["kind"], "Policy", "{name}");
    let base = std::fs::read_to_string(deploy_dir().join("base/policy.yaml")).expect("policy");
    if e.mode == "enforce" && e.scope == "cluster" {
        assert_eq!(text, base, "{name}: the base policy, byte for byte");
    }
    // Unset keys default to the base policy's values.
    let defaults: Value = serde_yaml_ng::from_str(&base).expect("base policy is YAML");
    let get = |k: &str| {
        policy
            .get(k)
            .unwrap_or(&defaults[k])
            .as_str()
            .map(str::to_owned)
    };
    assert_eq!(get("mode").as_deref(), Some(e.mode), "{name}: policy mode");
    assert_eq!(
        get("scope").as_deref(),
        Some(e.scope),
        "{name}: policy scope"
    );
    PolicyMap {
        name: cm_name,
        text,
    }
}

fn probe_get<'a>(p: &'a Option<Probe>, which: &str, name: &str) -> (&'a str, &'a IntOrString) {
    let g = p
        .as_ref()
        .and_then(|p| p.http_get.as_ref())
        .unwrap_or_else(|| panic!("{name}: {which} probe must be httpGet"));
    (g.path.as_deref().unwrap_or_default(), &g.port)
}

fn container_port(c: &Container, name: &str) -> i32 {
    c.ports
        .iter()
        .flatten()
        .find(|p| p.name.as_deref() == Some(name))
        .map(|p| p.container_port)
        .unwrap_or_else(|| panic!("container {} has no port named {name}", c.name))
}

fn check_deployment<'a>(r: &'a Rendered, policy: &PolicyMap, name: &str) -> &'a Deployment {
    let d = one(&r.deployments, "Deployment");
    let spec = d.spec.as_ref().expect("Deployment spec");
    assert!(spec.replicas.unwrap_or(1) >= 2, "{name}: replicas >= 2");

    let ru = spec
        .strategy
        .as_ref()
        .and_then(|s| s.rolling_update.as_ref())
        .expect("rollingUpdate");
    assert_eq!(
        ru.max_unavailable,
        Some(IntOrString::Int(0)),
        "{name}: maxUnavailable 0"
    );
    assert_eq!(
        ru.max_surge,
        Some(IntOrString::Int(1)),
        "{name}: maxSurge 1"
    );

    // Labels on the workload and its pods.
    let template_labels = labels(spec.template.metadata.as_ref().expect("template metadata"));
    for (what, l) in [
        ("Deployment", labels(&d.metadata)),
        ("pod template", template_labels.clone()),
    ] {
        for key in LABELS {
            assert!(l.contains_key(key), "{name}: {what} lacks label {key}");
        }
    }
    assert!(
        selects(
            &spec.selector.match_labels.clone().unwrap_or_default(),
            &template_labels
        ),
        "{name}: Deployment selector matches its template"
    );

    let pod = pod_spec(d);
    assert_eq!(pod.service_account_name.as_deref(), Some("bulwark"));
    assert_eq!(
        pod.automount_service_account_token,
        Some(true),
        "{name}: explicit automount"
    );
    assert_eq!(
        pod.priority_class_name, None,
        "{name}: no priorityClassName"
    );
    assert_eq!(pod.host_network, None);

    // Spread across nodes: anti-affinity and a topology spread constraint on hostname.
    let anti = pod
        .affinity
        .as_ref()
        .and_then(|a| a.pod_anti_affinity.as_ref())
        .expect("podAntiAffinity");
    let anti_keys: Vec<&str> = anti
        .preferred_during_scheduling_ignored_during_execution
        .iter()
        .flatten()
        .map(|w| &w.pod_affinity_term)
        .chain(
            anti.required_during_scheduling_ignored_during_execution
                .iter()
                .flatten(),
        )
        .filter(|t| selects(&match_labels(&t.label_selector), &template_labels))
        .map(|t| t.topology_key.as_str())
        .collect();
    assert!(
        anti_keys.contains(&"kubernetes.io/hostname"),
        "{name}: anti-affinity on hostname"
    );
    assert!(
        pod.topology_spread_constraints.iter().flatten().any(|t| {
            t.topology_key == "kubernetes.io/hostname"
                && t.max_skew == 1
                && selects(&match_labels(&t.label_selector), &template_labels)
        }),
        "{name}: topologySpreadConstraint on hostname selecting bulwark's pods"
    );

    // Pod security.
    let psc = pod.security_context.as_ref().expect("pod securityContext");
    assert_eq!(psc.run_as_non_root, Some(true));
    assert_eq!(psc.run_as_user, Some(65532));
    assert_eq!(psc.run_as_group, Some(65532));
    assert_eq!(
        psc.seccomp_profile.as_ref().map(|s| s.type_.as_str()),
        Some("RuntimeDefault")
    );

    assert_eq!(pod.containers.len(), 1, "{name}: one container");
    assert!(pod.init_containers.is_none());
    let c = &pod.containers[0];
    let sc = c
        .security_context
        .as_ref()
        .expect("container securityContext");
    assert_eq!(sc.run_as_non_root, Some(true));
    assert_eq!(sc.run_as_user, Some(65532));
    assert_eq!(sc.run_as_group, Some(65532));
    assert_eq!(sc.read_only_root_filesystem, Some(true));
    assert_eq!(sc.allow_privilege_escalation, Some(false));
    assert_eq!(sc.privileged, None);
    assert_eq!(
        sc.capabilities.as_ref().and_then(|c| c.drop.clone()),
        Some(vec!["ALL".to_owned()])
    );
    assert_eq!(sc.capabilities.as_ref().and_then(|c| c.add.clone()), None);
    assert_eq!(
        sc.seccomp_profile.as_ref().map(|s| s.type_.as_str()),
        Some("RuntimeDefault")
    );

    // Image pinned to a version tag.
    let image = c.image.as_deref().unwrap_or_default();
    let (repo, tag) = image.rsplit_once(':').expect("image has a tag");
    assert_eq!(repo, "ghcr.io/bulwark-dev/bulwark", "{name}: image");
    assert!(
        tag != "latest"
            && tag.split('.').count() == 3
            && tag.split('.').all(|p| p.parse::<u32>().is_ok()),
        "{name}: image tag {tag} is a version"
    );
    assert_eq!(
        labels(&d.metadata)
            .get("app.kubernetes.io/version")
            .map(String::as_str),
        Some(tag),
        "{name}: app.kubernetes.io/version follows the image tag"
    );

    // The contract's arguments.
    let args = c.args.clone().unwrap_or_default();
    let arg = |flag: &str| -> Option<&str> {
        args.iter()
            .position(|a| a == flag)
            .and_then(|i| args.get(i + 1))
            .map(String::as_str)
    };
    assert_eq!(args.first().map(String::as_str), Some("serve"));
    assert_eq!(arg("--cert"), Some("/tls/tls.crt"));
    assert_eq!(arg("--key"), Some("/tls/tls.key"));
    assert_eq!(arg("--config"), Some("/etc/bulwark/policy.yaml"));
    assert_eq!(arg("--listen"), Some("0.0.0.0:8443"));
    assert_eq!(arg("--health-listen"), Some("0.0.0.0:8080"));
    assert_eq!(container_port(c, "https"), 8443);
    let health = container_port(c, "health");
    assert_eq!(health, 8080);

    // Probes on the health port.
    let on_health = |port: &IntOrString| match port {
        IntOrString::Int(p) => *p == health,
        IntOrString::String(n) => n == "health",
    };
    for (which, probe, path) in [
        ("readiness", &c.readiness_probe, "/readyz"),
        ("liveness", &c.liveness_probe, "/healthz"),
        ("startup", &c.startup_probe, ""),
    ] {
        let (got, port) = probe_get(probe, which, name);
        if !path.is_empty() {
            assert_eq!(got, path, "{name}: {which} probe path");
        }
        assert!(on_health(port), "{name}: {which} probe on the health port");
    }

    // Resources.
    let res = c.resources.as_ref().expect("resources");
    for (what, m) in [("requests", &res.requests), ("limits", &res.limits)] {
        let m = m.clone().unwrap_or_default();
        for k in ["cpu", "memory"] {
            assert!(m.contains_key(k), "{name}: resources.{what}.{k}");
        }
    }

    // Graceful shutdown.
    let sleep = c
        .lifecycle
        .as_ref()
        .and_then(|l| l.pre_stop.as_ref())
        .and_then(|h| h.sleep.as_ref())
        .expect("preStop sleep")
        .seconds;
    assert_eq!(sleep, 5, "{name}: preStop sleep 5");
    let grace = pod
        .termination_grace_period_seconds
        .expect("terminationGracePeriodSeconds");
    assert_eq!(grace, 30);
    assert!(grace > sleep);

    // Volumes: the TLS secret at /tls and the policy at /etc/bulwark, whole directories
    // (a subPath mount never sees Secret updates, so certificate reloads would break).
    let mounts: BTreeMap<&str, &str> = c
        .volume_mounts
        .iter()
        .flatten()
        .map(|m| {
            assert!(
                m.sub_path.is_none() && m.sub_path_expr.is_none(),
                "{name}: no subPath"
            );
            assert_eq!(m.read_only, Some(true), "{name}: {} read-only", m.name);
            (m.name.as_str(), m.mount_path.as_str())
        })
        .collect();
    let volumes = pod.volumes.clone().unwrap_or_default();
    let tls = volumes
        .iter()
        .find(|v| v.secret.as_ref().and_then(|s| s.secret_name.as_deref()) == Some("bulwark-tls"))
        .expect("volume from Secret bulwark-tls");
    assert_eq!(mounts.get(tls.name.as_str()), Some(&"/tls"));
    let cfg = volumes
        .iter()
        .find(|v| v.config_map.is_some())
        .expect("volume from the policy ConfigMap");
    assert_eq!(
        cfg.config_map.as_ref().map(|c| c.name.as_str()),
        Some(policy.name.as_str()),
        "{name}: the Deployment mounts the generated ConfigMap"
    );
    assert_eq!(mounts.get(cfg.name.as_str()), Some(&"/etc/bulwark"));
    assert_eq!(volumes.len(), 2, "{name}: only the TLS and policy volumes");
    assert!(!policy.text.is_empty());
    d
}

fn check_service_and_pdb(r: &Rendered, d: &Deployment, name: &str) {
    let template = labels(
        d.spec
            .as_ref()
            .and_then(|s| s.template.metadata.as_ref())
            .expect("meta"),
    );
    let svc = r
        .services
        .iter()
        .find(|s| s.metadata.name.as_deref() == Some("bulwark"))
        .expect("Service bulwark");
    let spec = svc.spec.as_ref().expect("Service spec");
    assert!(
        selects(&spec.selector.clone().unwrap_or_default(), &template),
        "{name}: Service selects the pods"
    );
    let ports = spec.ports.clone().unwrap_or_default();
    assert_eq!(
        ports.len(),
        1,
        "{name}: the webhook Service exposes 443 only"
    );
    let c = &pod_spec(d).containers[0];
    let target = match ports[0].target_port.as_ref().expect("targetPort") {
        IntOrString::Int(p) => *p,
        IntOrString::String(n) => container_port(c, n),
    };
    assert_eq!(
        (ports[0].port, target),
        (443, 8443),
        "{name}: Service 443 -> 8443"
    );
    for key in LABELS {
        assert!(
            labels(&svc.metadata).contains_key(key),
            "{name}: Service lacks label {key}"
        );
    }

    let pdb = one(&r.pdbs, "PodDisruptionBudget");
    let spec = pdb.spec.as_ref().expect("PDB spec");
    let one_ = Some(IntOrString::Int(1));
    assert!(
        (spec.max_unavailable == one_ && spec.min_available.is_none())
            || (spec.min_available == one_ && spec.max_unavailable.is_none()),
        "{name}: PDB maxUnavailable 1 or minAvailable 1"
    );
    assert!(
        selects(&match_labels(&spec.selector), &template),
        "{name}: PDB selects the pods"
    );
}

/// One webhook of either configuration, flattened.
struct Hook {
    mutating: bool,
    name: String,
    admission_review_versions: Vec<String>,
    side_effects: String,
    timeout_seconds: Option<i32>,
    failure_policy: Option<String>,
    match_policy: Option<String>,
    namespace_selector: Option<LabelSelector>,
    object_selector: Option<LabelSelector>,
    rules: Vec<RuleWithOperations>,
    client_config: WebhookClientConfig,
    match_conditions: Vec<MatchCondition>,
    reinvocation_policy: Option<String>,
}

fn webhooks(r: &Rendered) -> Vec<Hook> {
    let mut out = Vec::new();
    for c in &r.validating {
        for w in c.webhooks.iter().flatten() {
            out.push(Hook {
                mutating: false,
                name: w.name.clone(),
                admission_review_versions: w.admission_review_versions.clone(),
                side_effects: w.side_effects.clone(),
                timeout_seconds: w.timeout_seconds,
                failure_policy: w.failure_policy.clone(),
                match_policy: w.match_policy.clone(),
                namespace_selector: w.namespace_selector.clone(),
                object_selector: w.object_selector.clone(),
                rules: w.rules.clone().unwrap_or_default(),
                client_config: w.client_config.clone(),
                match_conditions: w.match_conditions.clone().unwrap_or_default(),
                reinvocation_policy: None,
            });
        }
    }
    for c in &r.mutating {
        for w in c.webhooks.iter().flatten() {
            out.push(Hook {
                mutating: true,
                name: w.name.clone(),
                admission_review_versions: w.admission_review_versions.clone(),
                side_effects: w.side_effects.clone(),
                timeout_seconds: w.timeout_seconds,
                failure_policy: w.failure_policy.clone(),
                match_policy: w.match_policy.clone(),
                namespace_selector: w.namespace_selector.clone(),
                object_selector: w.object_selector.clone(),
                rules: w.rules.clone().unwrap_or_default(),
                client_config: w.client_config.clone(),
                match_conditions: w.match_conditions.clone().unwrap_or_default(),
                reinvocation_policy: w.reinvocation_policy.clone(),
            });
        }
    }
    out
}

/// `group/resource` pairs a webhook's rules cover, checking operations and versions.
fn covered(h: &Hook, name: &str) -> BTreeSet<String> {
    let mut out = BTreeSet::new();
    for rule in &h.rules {
        let mut ops = rule.operations.clone().unwrap_or_default();
        ops.sort();
        let resources = rule.resources.clone().unwrap_or_default();
        if !resources.is_empty() && resources.iter().all(|r| r.ends_with("/scale")) {
            // A Scale is never created, only updated (`kubectl scale`, the HPA controller).
            assert_eq!(ops, ["UPDATE"], "{name}: {} scale operations", h.name);
        } else {
            assert_eq!(ops, ["CREATE", "UPDATE"], "{name}: {} operations", h.name);
        }
        let versions = rule.api_versions.clone().unwrap_or_default();
        assert!(
            !versions.is_empty() && !versions.contains(&"*".to_owned()),
            "{name}: {} pins versions",
            h.name
        );
        for g in rule.api_groups.iter().flatten() {
            assert_ne!(g, "*", "{name}: {} wildcard group", h.name);
            for res in rule.resources.iter().flatten() {
                assert!(!res.contains('*'), "{name}: {} wildcard resource", h.name);
                out.insert(format!("{g}/{res}"));
            }
        }
    }
    out
}

fn set(items: &[&str]) -> BTreeSet<String> {
    items.iter().map(|s| (*s).to_owned()).collect()
}

fn check_webhooks(r: &Rendered, e: Expect, name: &str) {
    assert_eq!(
        r.validating.len(),
        1,
        "{name}: one ValidatingWebhookConfiguration"
    );
    assert_eq!(
        r.mutating.len(),
        usize::from(e.mutating),
        "{name}: MutatingWebhookConfiguration present: {}",
        e.mutating
    );
    let pod_kinds = [
        "/pods",
        "/pods/ephemeralcontainers",
        "/replicationcontrollers",
        "apps/deployments",
        "apps/statefulsets",
        "apps/daemonsets",
        "apps/replicasets",
        "batch/jobs",
        "batch/cronjobs",
    ];
    let mut validated = BTreeSet::new();
    let mut mutated = BTreeSet::new();
    for h in webhooks(r) {
        let w = format!("{name}: webhook {}", h.name);
        assert!(h.name.ends_with(".bulwark.dev"), "{w}: name");
        assert_eq!(h.side_effects, "None", "{w}: sideEffects");
        assert_eq!(
            h.admission_review_versions,
            ["v1"],
            "{w}: admissionReviewVersions"
        );
        let timeout = h
            .timeout_seconds
            .unwrap_or_else(|| panic!("{w}: timeoutSeconds unset"));
        assert!((1..=10).contains(&timeout), "{w}: timeoutSeconds {timeout}");
        assert_eq!(
            h.failure_policy.as_deref(),
            Some(e.failure_policy),
            "{w}: failurePolicy"
        );
        assert_eq!(
            h.match_policy.as_deref(),
            Some("Equivalent"),
            "{w}: matchPolicy"
        );
        assert!(
            h.object_selector.is_none(),
            "{w}: no objectSelector (could be used to opt out)"
        );

        // Called only through the bulwark Service.
        let cc = &h.client_config;
        assert!(cc.url.is_none(), "{w}: service, not url");
        let svc = cc
            .service
            .as_ref()
            .unwrap_or_else(|| panic!("{w}: no service"));
        assert_eq!(
            (svc.name.as_str(), svc.namespace.as_str(), svc.port),
            ("bulwark", NS, Some(443)),
            "{w}"
        );
        let path = if h.mutating { "/mutate" } else { "/validate" };
        assert_eq!(svc.path.as_deref(), Some(path), "{w}: path");

        // Never the control plane's namespaces nor bulwark's own.
        let sel = h
            .namespace_selector
            .as_ref()
            .unwrap_or_else(|| panic!("{w}: no namespaceSelector"));
        assert!(sel.match_labels.is_none(), "{w}: matchExpressions only");
        let exprs = sel.match_expressions.clone().unwrap_or_default();
        let excluded: BTreeSet<String> = exprs
            .iter()
            .filter(|x| x.key == "kubernetes.io/metadata.name" && x.operator == "NotIn")
            .flat_map(|x| x.values.clone().unwrap_or_default())
            .collect();
        for ns in NEVER {
            assert!(
                excluded.contains(ns),
                "{w}: namespaceSelector must exclude {ns}"
            );
        }
        let mode_sel: Vec<_> = exprs.iter().filter(|x| x.key == MODE_LABEL).collect();
        let resources = covered(&h, name);
        if e.tls == Tls::CertManager && !resources.contains("/namespaces") {
            // Its Namespace object still goes to bulwark: see namespaces_webhook_* below.
            assert!(
                excluded.contains("cert-manager"),
                "{w}: cert-manager excluded (bulwark depends on it)"
            );
        }
        if h.name == "validate.bulwark.dev" {
            // So bulwark can check an exception's shape beyond the schema.
            assert!(
                resources.contains(&format!("{EXCEPTION_GROUP}/{EXCEPTION_PLURAL}")),
                "{w}: intercepts BulwarkExceptions"
            );
        }
        let for_namespaces = resources.contains("/namespaces");
        if for_namespaces {
            assert_eq!(
                resources,
                set(&["/namespaces"]),
                "{w}: namespaces get their own webhook"
            );
            assert!(!h.mutating, "{w}: namespaces are never mutated");
            for rule in &h.rules {
                assert_eq!(rule.scope.as_deref(), Some("Cluster"), "{w}");
            }
        } else {
            for rule in &h.rules {
                assert_eq!(rule.scope.as_deref(), Some("Namespaced"), "{w}");
            }
            // Kubelets (mirror pods) are not sent.
            assert!(
                h.match_conditions
                    .iter()
                    .any(|m| m.expression.replace('\'', "\"")
                        == r#"!("system:nodes" in request.userInfo.groups)"#),
                "{w}: kubelet requests excluded"
            );
        }
        if e.opt_in && !for_namespaces {
            assert_eq!(mode_sel.len(), 1, "{w}: opt-in selector");
            assert_eq!(mode_sel[0].operator, "In", "{w}");
            assert_eq!(
                mode_sel[0].values.clone().unwrap_or_default(),
                ["enforce", "audit"],
                "{w}: opt-in values"
            );
        } else {
            // Cluster scope; and the namespaces webhook must see every Namespace, even in
            // opt-in (namespaces_webhook_sees_every_namespace_anyone_can_create).
            assert!(mode_sel.is_empty(), "{w}: no {MODE_LABEL} selector");
        }
        for m in &h.match_conditions {
            assert!(
                !m.name.is_empty() && !m.expression.trim().is_empty(),
                "{w}: matchCondition"
            );
        }

        if h.mutating {
            assert_eq!(
                h.reinvocation_policy.as_deref(),
                Some("IfNeeded"),
                "{w}: reinvocationPolicy"
            );
            mutated.extend(resources);
        } else {
            validated.extend(resources);
        }
    }

    let mut want_validated = set(&pod_kinds);
    want_validated.extend(set(&SCALE));
    want_validated.insert(format!("{EXCEPTION_GROUP}/{EXCEPTION_PLURAL}"));
    want_validated.extend(set(&[
        "autoscaling/horizontalpodautoscalers",
        "policy/poddisruptionbudgets",
        "/namespaces",
    ]));
    assert_eq!(validated, want_validated, "{name}: validated resources");
    if e.mutating {
        assert_eq!(
            mutated,
            set(&pod_kinds),
            "{name}: mutated resources: pods and controllers only"
        );
    }
}

/// Every shipped rendering: the namespaces webhook is narrowed by nothing but the names that
/// always exist. An exclusion by any other name (say `cert-manager`) would let whoever may
/// create namespaces create one bulwark never sees; a selector on the mode label is matched
/// against the *new* labels, so it would hide the very UPDATE that removes the label; and a
/// matchCondition would do the same in CEL. Names bulwark should leave alone are passed as
/// `--exempt-namespace` instead (exempt_namespaces_are_passed_to_bulwark).
#[test]
fn namespaces_webhook_sees_every_namespace_anyone_can_create() {
    for c in all_cases() {
        let r = render(c);
        let hooks = webhooks(&r);
        let h = hooks
            .iter()
            .find(|h| h.name == "namespaces.bulwark.dev")
            .unwrap_or_else(|| panic!("{}: no namespaces.bulwark.dev", c.name));
        let w = format!("{}: {}", c.name, h.name);
        let sel = h.namespace_selector.as_ref().expect("namespaceSelector");
        assert!(sel.match_labels.is_none(), "{w}: no matchLabels");
        let exprs = sel.match_expressions.clone().unwrap_or_default();
        assert_eq!(
            exprs.len(),
            1,
            "{w}: one selector expression, the name exclusion: {exprs:?}"
        );
        assert_eq!(
            (exprs[0].key.as_str(), exprs[0].operator.as_str()),
            ("kubernetes.io/metadata.name", "NotIn"),
            "{w}"
        );
        let excluded: BTreeSet<String> = exprs[0].values.iter().flatten().cloned().collect();
        assert_eq!(
            excluded,
            set(&NEVER),
            "{w}: excludes only namespaces that always exist"
        );
        assert!(
            !exprs.iter().any(|x| x.key == MODE_LABEL),
            "{w}: selects on {MODE_LABEL}"
        );
        assert!(
            h.match_conditions.is_empty(),
            "{w}: every Namespace CREATE/UPDATE must reach bulwark, no matchConditions: {:?}",
            h.match_conditions
                .iter()
                .map(|m| &m.expression)
                .collect::<Vec<_>>()
        );
        assert_eq!(covered(h, c.name), set(&["/namespaces"]), "{w}");
    }
}

/// The values of every `--exempt-namespace` argument (`--exempt-namespace=NS` or
/// `--exempt-namespace NS`).
fn exempt_namespace_args(args: &[String]) -> BTreeSet<String> {
    let mut out = BTreeSet::new();
    let mut it = args.iter();
    while let Some(a) = it.next() {
        if let Some(ns) = a.strip_prefix("--exempt-namespace=") {
            out.insert(ns.to_owned());
        } else if a == "--exempt-namespace" {
            out.insert(it.next().expect("--exempt-namespace takes a value").clone());
        }
    }
    out
}

/// Every shipped rendering: a namespace the workload webhooks skip by name (beyond those
/// that always exist) is passed to bulwark as `--exempt-namespace`, so bulwark, which sees
/// its Namespace object, leaves it alone and guards its creation. In particular the
/// cert-manager component passes `--exempt-namespace=cert-manager`.
#[test]
fn exempt_namespaces_are_passed_to_bulwark() {
    for c in all_cases() {
        let r = render(c);
        let d = one(&r.deployments, "Deployment");
        let args = pod_spec(d).containers[0].args.clone().unwrap_or_default();
        assert_eq!(
            args.first().map(String::as_str),
            Some("serve"),
            "{}",
            c.name
        );
        let flagged = exempt_namespace_args(&args);
        for h in webhooks(&r) {
            if covered(&h, c.name).contains("/namespaces") {
                continue;
            }
            let skipped: BTreeSet<String> = h
                .namespace_selector
                .iter()
                .flat_map(|s| s.match_expressions.clone().unwrap_or_default())
                .filter(|x| x.key == "kubernetes.io/metadata.name" && x.operator == "NotIn")
                .flat_map(|x| x.values.unwrap_or_default())
                .filter(|n| !NEVER.contains(&n.as_str()))
                .collect();
            assert_eq!(
                skipped, flagged,
                "{}: {} skips these namespaces by name; bulwark must be told the same with \
                 --exempt-namespace",
                c.name, h.name
            );
        }
        let want = if c.expect.tls == Tls::CertManager {
            set(&["cert-manager"])
        } else {
            BTreeSet::new()
        };
        assert_eq!(flagged, want, "{}: --exempt-namespace", c.name);
        if c.expect.tls == Tls::CertManager {
            assert!(
                args.iter().any(|a| a == "--exempt-namespace=cert-manager"),
                "{}: {args:?}",
                c.name
            );
        }
    }
}

/// The scale subresources of every controller with `spec.replicas`: `kubectl scale` writes
/// these, not the object, so without them the `replicas` rule could be bypassed.
const SCALE: [&str; 4] = [
    "/replicationcontrollers/scale",
    "apps/deployments/scale",
    "apps/statefulsets/scale",
    "apps/replicasets/scale",
];

/// Every shipped rendering: the workload webhook validates every scale subresource, and
/// nothing mutates one (a Scale carries no pod template to default).
#[test]
fn scale_subresources_are_validated_never_mutated() {
    for c in all_cases() {
        let r = render(c);
        let hooks = webhooks(&r);
        let workloads = hooks
            .iter()
            .find(|h| h.name == "validate.bulwark.dev")
            .unwrap_or_else(|| panic!("{}: no validate.bulwark.dev", c.name));
        let validated = covered(workloads, c.name);
        for s in SCALE {
            assert!(
                validated.contains(s),
                "{}: validate.bulwark.dev must intercept {s}",
                c.name
            );
        }
        for h in hooks.iter().filter(|h| h.mutating) {
            let mutated = covered(h, c.name);
            assert!(
                mutated.iter().all(|r| !r.ends_with("/scale")),
                "{}: {} must not mutate scale subresources: {mutated:?}",
                c.name,
                h.name
            );
        }
    }
}

fn check_tls(r: &Rendered, e: Expect, name: &str) {
    let annotations: Vec<Option<String>> = r
        .validating
        .iter()
        .map(|c| &c.metadata)
        .chain(r.mutating.iter().map(|c| &c.metadata))
        .map(|m| {
            m.annotations
                .clone()
                .unwrap_or_default()
                .get("cert-manager.io/inject-ca-from")
                .cloned()
        })
        .collect();
    let bundles: Vec<Option<ByteString>> = webhooks(r)
        .into_iter()
        .map(|h| h.client_config.ca_bundle)
        .collect();
    match e.tls {
        Tls::Unset => {
            assert!(
                annotations.iter().all(Option::is_none),
                "{name}: no inject annotation"
            );
            assert!(bundles.iter().all(Option::is_none), "{name}: no caBundle");
            assert!(
                r.certificates.is_empty() && r.issuers.is_empty(),
                "{name}: no cert-manager objects"
            );
        }
        Tls::Manual => {
            assert!(
                annotations.iter().all(Option::is_none),
                "{name}: no inject annotation"
            );
            assert!(
                bundles
                    .iter()
                    .all(|b| b.as_ref().is_some_and(|b| !b.0.is_empty())),
                "{name}: every webhook has a caBundle"
            );
            assert!(
                r.certificates.is_empty() && r.issuers.is_empty(),
                "{name}: no cert-manager objects"
            );
            assert!(
                !r.objects
                    .iter()
                    .any(|o| o["metadata"]["name"] == "bulwark-ca-bundle"),
                "{name}: the ca-bundle ConfigMap is local-config and never applied"
            );
        }
        Tls::CertManager => {
            assert!(
                bundles.iter().all(Option::is_none),
                "{name}: cainjector owns caBundle"
            );
            assert!(
                annotations
                    .iter()
                    .all(|a| a.as_deref() == Some("bulwark-system/bulwark-serving")),
                "{name}: both webhook configurations inject the serving certificate's CA"
            );
            check_cert_manager_chain(r, name);
        }
    }
}

fn check_cert_manager_chain(r: &Rendered, name: &str) {
    let by_name = |items: &[Value], n: &str| -> Value {
        items
            .iter()
            .find(|o| o["metadata"]["name"] == n)
            .cloned()
            .unwrap_or_else(|| panic!("{name}: no {n}"))
    };
    assert_eq!(r.issuers.len(), 2, "{name}: self-signed and CA issuers");
    assert_eq!(
        r.certificates.len(),
        2,
        "{name}: CA and serving certificates"
    );
    let issuer_ref = |c: &Value| {
        assert_eq!(c["spec"]["issuerRef"]["kind"], "Issuer", "{name}");
        c["spec"]["issuerRef"]["name"]
            .as_str()
            .unwrap_or_default()
            .to_owned()
    };

    // serving <- CA issuer <- CA certificate <- self-signed issuer
    let serving = by_name(&r.certificates, "bulwark-serving");
    assert_eq!(
        serving["spec"]["secretName"], "bulwark-tls",
        "{name}: serving secret"
    );
    let dns: Vec<&str> = serving["spec"]["dnsNames"]
        .as_array()
        .map(|a| a.iter().filter_map(Value::as_str).collect())
        .unwrap_or_default();
    assert!(
        dns.contains(&"bulwark.bulwark-system.svc"),
        "{name}: serving dnsNames {dns:?}"
    );
    assert_ne!(serving["spec"]["isCA"], true);
    let ca_issuer = by_name(&r.issuers, &issuer_ref(&serving));
    let ca_secret = str_field(&ca_issuer, "spec.ca.secretName", name).to_owned();
    let ca = r
        .certificates
        .iter()
        .find(|c| c["spec"]["secretName"] == ca_secret.as_str())
        .unwrap_or_else(|| panic!("{name}: no Certificate writes {ca_secret}"));
    assert_eq!(ca["spec"]["isCA"], true, "{name}: CA certificate isCA");
    let root = by_name(&r.issuers, &issuer_ref(ca));
    assert!(
        root["spec"].get("selfSigned").is_some(),
        "{name}: the CA is self-signed"
    );
}

fn check_monitoring(r: &Rendered, e: Expect, d: &Deployment, name: &str) {
    if !e.monitoring {
        assert!(
            r.service_monitors.is_empty() && r.prometheus_rules.is_empty(),
            "{name}"
        );
        assert_eq!(r.services.len(), 1, "{name}: only the webhook Service");
        return;
    }
    let sm = one(&r.service_monitors, "ServiceMonitor");
    let selector: BTreeMap<String, String> =
        serde_json::from_value(sm["spec"]["selector"]["matchLabels"].clone()).expect("matchLabels");
    let targets: Vec<&Service> = r
        .services
        .iter()
        .filter(|s| selects(&selector, &labels(&s.metadata)))
        .collect();
    assert_eq!(
        targets.len(),
        1,
        "{name}: the ServiceMonitor selects one Service"
    );
    let svc = targets[0];
    assert_ne!(
        svc.metadata.name.as_deref(),
        Some("bulwark"),
        "{name}: not the webhook Service"
    );
    let endpoint = &sm["spec"]["endpoints"][0];
    assert_eq!(endpoint["path"], "/metrics", "{name}");
    let spec = svc.spec.as_ref().expect("spec");
    let port = spec
        .ports
        .iter()
        .flatten()
        .find(|p| p.name.as_deref() == endpoint["port"].as_str())
        .unwrap_or_else(|| {
            panic!(
                "{name}: the metrics Service has no port {}",
                endpoint["port"]
            )
        });
    let c = &pod_spec(d).containers[0];
    let target = match port.target_port.as_ref().expect("targetPort") {
        IntOrString::Int(p) => *p,
        IntOrString::String(n) => container_port(c, n),
    };
    assert_eq!(
        target,
        container_port(c, "health"),
        "{name}: metrics on the health port"
    );
    let template = labels(
        d.spec
            .as_ref()
            .and_then(|s| s.template.metadata.as_ref())
            .expect("meta"),
    );
    assert!(
        selects(&spec.selector.clone().unwrap_or_default(), &template),
        "{name}: metrics Service selects the pods"
    );

    let rule = one(&r.prometheus_rules, "PrometheusRule");
    let exprs: Vec<(String, String)> = rule["spec"]["groups"]
        .as_array()
        .into_iter()
        .flatten()
        .flat_map(|g| g["rules"].as_array().cloned().unwrap_or_default())
        .map(|r| {
            (
                r["alert"].as_str().unwrap_or_default().to_owned(),
                r["expr"].as_str().unwrap_or_default().to_owned(),
            )
        })
        .collect();
    let has = |pred: &dyn Fn(&str) -> bool, what: &str| {
        assert!(
            exprs.iter().any(|(_, x)| pred(x)),
            "{name}: no alert on {what}: {exprs:#?}"
        );
    };
    has(
        &|x| {
            x.contains("bulwark_admission_errors_total")
                && x.contains("bulwark_admission_requests_total")
        },
        "the webhook error rate",
    );
    has(
        &|x| {
            x.contains("histogram_quantile(0.99")
                && x.contains("bulwark_admission_duration_seconds_bucket")
        },
        "p99 latency",
    );
    has(
        &|x| {
            x.contains("bulwark_certificate_expiry_timestamp_seconds")
                && x.contains("14 * 24 * 3600")
        },
        "certificate expiry within 14 days",
    );
}

/// `(protocol, port)` of NetworkPolicy ports, numbers only.
fn np_ports(ports: &Option<Vec<NetworkPolicyPort>>, name: &str) -> BTreeSet<(String, i32)> {
    let ports = ports
        .as_ref()
        .unwrap_or_else(|| panic!("{name}: a NetworkPolicy rule without ports allows them all"));
    ports
        .iter()
        .map(|p| {
            assert!(p.end_port.is_none(), "{name}: no port ranges");
            let port = match p.port.as_ref() {
                Some(IntOrString::Int(n)) => *n,
                other => panic!("{name}: NetworkPolicy port {other:?} is not a number"),
            };
            (p.protocol.clone().unwrap_or_else(|| "TCP".into()), port)
        })
        .collect()
}

fn tcp(ports: &[i32]) -> BTreeSet<(String, i32)> {
    ports.iter().map(|p| ("TCP".to_owned(), *p)).collect()
}

/// components/network-policy: bulwark's pods accept webhook calls from anywhere, health and
/// metrics from `monitoring` only, and talk to DNS and the API server only.
fn check_network_policy(r: &Rendered, e: Expect, d: &Deployment, name: &str) {
    if !e.network_policy {
        assert!(
            r.network_policies.is_empty(),
            "{name}: the NetworkPolicy is optional, no overlay includes it"
        );
        return;
    }
    let np = one(&r.network_policies, "NetworkPolicy");
    let spec = np.spec.as_ref().expect("NetworkPolicy spec");
    let template = labels(
        d.spec
            .as_ref()
            .and_then(|s| s.template.metadata.as_ref())
            .expect("meta"),
    );
    assert!(
        selects(&match_labels(&spec.pod_selector), &template),
        "{name}: the NetworkPolicy selects bulwark's pods"
    );
    assert!(
        spec.pod_selector
            .as_ref()
            .is_some_and(|p| p.match_expressions.is_none()),
        "{name}: podSelector is matchLabels only"
    );
    assert_eq!(
        spec.policy_types.as_deref(),
        Some(&["Ingress".to_owned(), "Egress".to_owned()][..]),
        "{name}: isolates both directions"
    );

    let c = &pod_spec(d).containers[0];
    let (https, health) = (container_port(c, "https"), container_port(c, "health"));
    let ingress = spec.ingress.clone().unwrap_or_default();
    assert_eq!(
        ingress.len(),
        2,
        "{name}: webhook and health/metrics ingress"
    );
    for rule in &ingress {
        let ports = np_ports(&rule.ports, name);
        let from = rule.from.clone().unwrap_or_default();
        if ports == tcp(&[https]) {
            // The API server is no pod: it cannot be selected, so no `from` at all.
            assert!(
                from.is_empty(),
                "{name}: webhook port open to the API server"
            );
        } else {
            assert_eq!(ports, tcp(&[health]), "{name}: ingress ports");
            let monitoring = BTreeMap::from([(
                "kubernetes.io/metadata.name".to_owned(),
                "monitoring".to_owned(),
            )]);
            assert_eq!(from.len(), 1, "{name}: health/metrics from one peer");
            let NetworkPolicyPeer {
                ip_block,
                namespace_selector,
                pod_selector,
            } = &from[0];
            assert!(ip_block.is_none() && pod_selector.is_none(), "{name}");
            assert_eq!(
                match_labels(namespace_selector),
                monitoring,
                "{name}: health/metrics from the monitoring namespace only"
            );
        }
    }
    assert!(
        ingress
            .iter()
            .any(|r| np_ports(&r.ports, name) == tcp(&[https])),
        "{name}: webhook port {https} allowed in"
    );

    let egress = spec.egress.clone().unwrap_or_default();
    assert_eq!(egress.len(), 2, "{name}: DNS and API server egress only");
    let dns: BTreeSet<(String, i32)> = [("UDP".to_owned(), 53), ("TCP".to_owned(), 53)].into();
    let mut seen = BTreeSet::new();
    for rule in &egress {
        let ports = np_ports(&rule.ports, name);
        let to = rule.to.clone().unwrap_or_default();
        assert!(!to.is_empty(), "{name}: every egress rule names its peers");
        if ports == dns {
            let kube_system = BTreeMap::from([(
                "kubernetes.io/metadata.name".to_owned(),
                "kube-system".to_owned(),
            )]);
            for peer in &to {
                assert_eq!(
                    match_labels(&peer.namespace_selector),
                    kube_system,
                    "{name}: DNS to kube-system"
                );
            }
            seen.insert("dns");
        } else {
            assert_eq!(ports, tcp(&[443, 6443]), "{name}: API server ports");
            // Behind the `kubernetes` Service the API server has a node's or an external
            // address: only an ipBlock reaches it.
            let cidrs: BTreeSet<String> = to
                .iter()
                .map(|p| {
                    assert!(p.namespace_selector.is_none() && p.pod_selector.is_none());
                    let b = p.ip_block.as_ref().expect("ipBlock");
                    assert!(b.except.is_none(), "{name}");
                    b.cidr.clone()
                })
                .collect();
            assert_eq!(
                cidrs,
                set(&["0.0.0.0/0", "::/0"]),
                "{name}: API server at any address"
            );
            seen.insert("api");
        }
    }
    assert_eq!(seen, ["api", "dns"].into(), "{name}: egress rules");
}

// ------------------------------------------------------------------------------------------
// `bulwark check` on the rendered manifests
// ------------------------------------------------------------------------------------------

fn bulwark_check(case: Case) {
    let r = render(case);
    let dir = tempdir();
    let manifests = dir
        .path()
        .join(format!("{}.yaml", case.name.replace('+', "-")));
    std::fs::write(&manifests, &r.text).expect("write rendered manifests");

    // The embedded default policy (the strictest: enforce, cluster-wide): bulwark's own
    // install must pass its own baseline whatever overlay is chosen.
    let mut runs = vec![("the default policy", None)];
    // And the overlay's own policy file, which must load (exit 2 if it does not).
    let cm = one(&r.config_maps, "ConfigMap");
    let policy_file = dir.path().join("policy.yaml");
    let text = cm
        .data
        .as_ref()
        .and_then(|d| d.get("policy.yaml"))
        .expect("policy.yaml");
    std::fs::write(&policy_file, text).expect("write policy");
    runs.push(("the rendered policy", Some(policy_file)));

    for (what, config) in runs {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_bulwark"));
        cmd.args(["check", "--output", "json"]);
        if let Some(c) = &config {
            cmd.arg("--config").arg(c);
        }
        cmd.arg(&manifests);
        let out = cmd
            .output()
            .unwrap_or_else(|e| panic!("cannot run bulwark: {e}"));
        let stdout = String::from_utf8_lossy(&out.stdout);
        let stderr = String::from_utf8_lossy(&out.stderr);
        let findings: Value = serde_json::from_str(&stdout).unwrap_or_else(|e| {
            panic!(
                "{}: `bulwark check --output json` with {what} printed no JSON ({e}); exit {}\nstdout:\n{stdout}\nstderr:\n{stderr}",
                case.name, out.status
            )
        });
        let findings = findings.as_array().unwrap_or_else(|| {
            panic!(
                "{}: check JSON is not a list of findings: {findings}",
                case.name
            )
        });
        let errors: Vec<&Value> = findings
            .iter()
            .filter(|f| f["severity"] == "error")
            .collect();
        assert!(
            out.status.code() == Some(0) && errors.is_empty(),
            "{}: `bulwark check` with {what} must exit 0 with no error finding, got {}\nerrors: {}\nstderr:\n{stderr}",
            case.name,
            out.status,
            serde_json::to_string_pretty(&errors).unwrap_or_default()
        );
    }
}

/// The auditor's RBAC (deploy/base/rbac-audit.yaml): read the eight workload kinds, write
/// only wgpolicyk8s.io reports, and get/update only its own Lease in bulwark-system.
fn check_audit_rbac(r: &Rendered, name: &str) {
    let role = cluster_role(r, "bulwark-audit", name);
    let grants = |rules: &[PolicyRule]| -> BTreeSet<(String, String, String)> {
        let mut out = BTreeSet::new();
        for rule in rules {
            assert!(rule.non_resource_urls.is_none(), "{name}: {rule:?}");
            for g in rule.api_groups.iter().flatten() {
                for res in rule.resources.iter().flatten() {
                    assert!(g != "*" && res != "*", "{name}: wildcard in {rule:?}");
                    for v in &rule.verbs {
                        out.insert((g.clone(), res.clone(), v.clone()));
                    }
                }
            }
        }
        out
    };
    let rules = role.rules.clone().unwrap_or_default();
    assert!(rules.iter().all(|r| r.resource_names.is_none()));
    let mut want = BTreeSet::new();
    for (g, res) in [
        ("apps", "deployments"),
        ("apps", "statefulsets"),
        ("apps", "daemonsets"),
        ("apps", "replicasets"),
        ("batch", "jobs"),
        ("batch", "cronjobs"),
        ("", "pods"),
        ("", "replicationcontrollers"),
    ] {
        for v in ["get", "list", "watch"] {
            want.insert((g.to_owned(), res.to_owned(), v.to_owned()));
        }
    }
    for res in ["policyreports", "clusterpolicyreports"] {
        for v in [
            "get", "list", "watch", "create", "update", "patch", "delete",
        ] {
            want.insert(("wgpolicyk8s.io".to_owned(), res.to_owned(), v.to_owned()));
        }
    }
    assert_eq!(grants(&rules), want, "{name}: bulwark-audit grants");
    assert!(
        !grants(&rules).iter().any(|(_, res, _)| res == "secrets"),
        "{name}: the auditor never reads Secrets"
    );

    let lease_role = r
        .roles
        .iter()
        .find(|x| x.metadata.name.as_deref() == Some("bulwark-audit-lease"))
        .unwrap_or_else(|| panic!("{name}: no Role bulwark-audit-lease"));
    assert_eq!(lease_role.metadata.namespace.as_deref(), Some(NS));
    for rule in lease_role.rules.iter().flatten() {
        assert_eq!(
            rule.api_groups.as_deref(),
            Some(&["coordination.k8s.io".to_owned()][..])
        );
        assert_eq!(rule.resources.as_deref(), Some(&["leases".to_owned()][..]));
        let mut verbs = rule.verbs.clone();
        verbs.sort();
        match rule.resource_names.as_deref() {
            // RBAC cannot limit create by name.
            None => assert_eq!(verbs, ["create"], "{name}: unnamed lease verbs"),
            Some(names) => {
                assert_eq!(names, ["bulwark-audit"], "{name}: the auditor's Lease only");
                assert_eq!(verbs, ["get", "update"], "{name}: lease verbs");
            }
        }
    }
    assert_eq!(r.roles.len(), 1, "{name}: one Role");

    let sa_subject = |subjects: &Option<Vec<k8s_openapi::api::rbac::v1::Subject>>| {
        let s = subjects.clone().unwrap_or_default();
        s.len() == 1
            && s[0].kind == "ServiceAccount"
            && s[0].name == "bulwark"
            && s[0].namespace.as_deref() == Some(NS)
    };
    let crb = r
        .cluster_role_bindings
        .iter()
        .find(|b| b.role_ref.name == "bulwark-audit")
        .unwrap_or_else(|| panic!("{name}: bulwark-audit is not bound"));
    assert_eq!(crb.role_ref.kind, "ClusterRole");
    assert!(sa_subject(&crb.subjects), "{name}: {crb:?}");
    assert_eq!(
        r.cluster_role_bindings.len(),
        2,
        "{name}: two ClusterRoleBindings"
    );
    let rb = one(&r.role_bindings, "RoleBinding");
    assert_eq!(
        (rb.role_ref.kind.as_str(), rb.role_ref.name.as_str()),
        ("Role", "bulwark-audit-lease")
    );
    assert_eq!(rb.metadata.namespace.as_deref(), Some(NS));
    assert!(sa_subject(&rb.subjects), "{name}: {rb:?}");
}

/// components/policy-reports: the working group's two CRDs, serving the v1alpha2 bulwark
/// writes; absent otherwise (most clusters that want them already have them).
fn check_policy_report_crds(r: &Rendered, e: Expect, name: &str) {
    let reports: Vec<&CustomResourceDefinition> = r
        .crds
        .iter()
        .filter(|c| c.spec.group == "wgpolicyk8s.io")
        .collect();
    if !e.policy_reports {
        assert!(
            reports.is_empty(),
            "{name}: report CRDs without the component"
        );
        return;
    }
    let mut kinds: Vec<(&str, &str)> = reports
        .iter()
        .map(|c| (c.spec.names.kind.as_str(), c.spec.scope.as_str()))
        .collect();
    kinds.sort();
    assert_eq!(
        kinds,
        [
            ("ClusterPolicyReport", "Cluster"),
            ("PolicyReport", "Namespaced")
        ],
        "{name}: report CRDs"
    );
    for crd in reports {
        let v1alpha2 = crd
            .spec
            .versions
            .iter()
            .find(|v| v.name == "v1alpha2")
            .unwrap_or_else(|| panic!("{name}: {:?} lacks v1alpha2", crd.metadata.name));
        assert!(v1alpha2.served, "{name}: v1alpha2 served");
        let schema = serde_json::to_value(&v1alpha2.schema).expect("schema");
        let result = &schema["openAPIV3Schema"]["properties"]["results"]["items"]["properties"];
        // What bulwark writes must fit the schema's enums.
        let severities = result["severity"]["enum"].clone();
        for s in ["high", "medium"] {
            assert!(
                severities.as_array().is_some_and(|a| a.contains(&json!(s))),
                "{name}: severity {s} not in {severities}"
            );
        }
        let results = result["result"]["enum"].clone();
        for s in ["fail", "warn", "skip"] {
            assert!(
                results.as_array().is_some_and(|a| a.contains(&json!(s))),
                "{name}: result {s} not in {results}"
            );
        }
        assert_eq!(
            result["properties"]["additionalProperties"]["type"],
            "string"
        );
    }
}
