//! YAML merge keys (`<<`) through the `bulwark` binary: `check` must judge the object kubectl
//! would send (go-yaml v2 resolves the merges), and `mutate` must print it with the merged
//! fields.

use std::path::Path;

use serde_json::Value;

use crate::mutate::bulwark;

/// A Deployment with two containers, `app` then `sidecar`, whose `securityContext` bodies
/// (and the pod spec's extra lines) are given already indented, and its PDB. Everything else
/// meets the default policy, so every error finding comes from those bodies.
fn deployment(pod_extra: &str, app: &str, sidecar: &str) -> String {
    let container = |name: &str, security_context: &str| {
        format!(
            "      - name: {name}
        image: registry.example/{name}:1.0.0
        resources:
          requests: {{cpu: 100m, memory: 128Mi}}
          limits: {{cpu: 500m, memory: 256Mi}}
        readinessProbe: {{httpGet: {{path: /ready, port: 8080}}}}
        livenessProbe: {{httpGet: {{path: /health, port: 8080}}}}
        securityContext:
{security_context}"
        )
    };
    format!(
        "apiVersion: apps/v1
kind: Deployment
metadata:
  name: web
  namespace: prod
  labels: {{app.kubernetes.io/name: web}}
spec:
  replicas: 2
  selector: {{matchLabels: {{app.kubernetes.io/name: web}}}}
  strategy: {{rollingUpdate: {{maxUnavailable: 0, maxSurge: 1}}}}
  template:
    metadata:
      labels: {{app.kubernetes.io/name: web}}
    spec:
      securityContext: {{runAsNonRoot: true, seccompProfile: {{type: RuntimeDefault}}}}
{pod_extra}      containers:
{}{}---
apiVersion: policy/v1
kind: PodDisruptionBudget
metadata: {{name: web, namespace: prod}}
spec:
  maxUnavailable: 1
  selector: {{matchLabels: {{app.kubernetes.io/name: web}}}}
",
        container("app", app),
        container("sidecar", sidecar),
    )
}

/// A container `securityContext` body that passes every rule on its own.
const SAFE: &str = "          allowPrivilegeEscalation: false
          readOnlyRootFilesystem: true
          capabilities: {drop: [ALL]}
";

fn write(dir: &Path, name: &str, text: &str) -> String {
    let path = dir.join(name);
    std::fs::write(&path, text).expect("write manifest");
    path.to_str().expect("utf-8 path").to_owned()
}

/// `bulwark check --output json`: (exit code, findings as (rule, path), stderr).
fn check_json(file: &str) -> (i32, Vec<(String, String)>, String) {
    let (code, stdout, stderr) = bulwark(&["check", "--output", "json", file]);
    let findings: Value = serde_json::from_str(&stdout)
        .unwrap_or_else(|e| panic!("check printed no JSON ({e}): {stdout}\n{stderr}"));
    let findings = findings
        .as_array()
        .unwrap_or_else(|| panic!("not a list: {findings}"))
        .iter()
        .filter(|f| f["severity"] == "error")
        .map(|f| {
            (
                f["rule"].as_str().unwrap_or_default().to_owned(),
                f["path"].as_str().unwrap_or_default().to_owned(),
            )
        })
        .collect();
    (code, findings, stderr)
}

fn finding(rule: &str, path: &str) -> (String, String) {
    (rule.to_owned(), path.to_owned())
}

#[test]
fn a_merged_privileged_field_fails_check_with_its_path() {
    let dir = tempfile::tempdir().expect("tempdir");
    // The anchor is defined inline in the first merge and reused by alias in the second,
    // where an explicit key after the merge overrides only runAsUser.
    let app = format!("          <<: &danger {{privileged: true, runAsUser: 0}}\n{SAFE}");
    let sidecar = format!("          <<: *danger\n          runAsUser: 1000\n{SAFE}");
    let file = write(dir.path(), "app.yaml", &deployment("", &app, &sidecar));

    let (code, findings, stderr) = check_json(&file);
    assert_eq!(code, 1, "{findings:?}\n{stderr}");
    assert_eq!(
        findings,
        [
            finding(
                "privileged",
                "spec.template.spec.containers[0].securityContext.privileged"
            ),
            finding(
                "privileged",
                "spec.template.spec.containers[1].securityContext.privileged"
            ),
            // runAsUser: 0 is merged into `app` only: `sidecar` overrides it.
            finding(
                "run-as-non-root",
                "spec.template.spec.containers[0].securityContext.runAsUser"
            ),
        ],
        "{stderr}"
    );

    // The text report names the rule and the field too.
    let (code, stdout, _) = bulwark(&["check", &file]);
    assert_eq!(code, 1, "{stdout}");
    let line = stdout
        .lines()
        .find(|l| l.contains("containers[0].securityContext.privileged"))
        .unwrap_or_else(|| panic!("no privileged line: {stdout}"));
    assert!(
        line.contains("error") && line.contains("privileged"),
        "{line}"
    );
}

#[test]
fn an_explicit_key_after_the_merge_wins() {
    let dir = tempfile::tempdir().expect("tempdir");
    let app = format!("          <<: {{privileged: true}}\n          privileged: false\n{SAFE}");
    let file = write(dir.path(), "app.yaml", &deployment("", &app, SAFE));
    let (code, findings, stderr) = check_json(&file);
    assert_eq!((code, findings), (0, vec![]), "{stderr}");
}

#[test]
fn a_merge_after_an_explicit_key_overrides_it_as_in_kubectl() {
    // go-yaml v2 fills a mapping in document order: this container runs privileged.
    let dir = tempfile::tempdir().expect("tempdir");
    let app = format!("          privileged: false\n          <<: {{privileged: true}}\n{SAFE}");
    let file = write(dir.path(), "app.yaml", &deployment("", &app, SAFE));
    let (code, findings, stderr) = check_json(&file);
    assert_eq!(code, 1, "{stderr}");
    assert_eq!(
        findings,
        [finding(
            "privileged",
            "spec.template.spec.containers[0].securityContext.privileged"
        )]
    );
}

#[test]
fn a_sequence_merge_lets_the_earlier_mapping_win() {
    let dir = tempfile::tempdir().expect("tempdir");
    // Privileged in the first mapping: it wins over the second's `false`.
    let app = format!(
        "          <<: [{{privileged: true}}, {{privileged: false, runAsUser: 1000}}]\n{SAFE}"
    );
    // And the other way round.
    let sidecar = format!("          <<: [{{privileged: false}}, {{privileged: true}}]\n{SAFE}");
    let file = write(dir.path(), "app.yaml", &deployment("", &app, &sidecar));
    let (code, findings, stderr) = check_json(&file);
    assert_eq!(code, 1, "{stderr}");
    assert_eq!(
        findings,
        [finding(
            "privileged",
            "spec.template.spec.containers[0].securityContext.privileged"
        )]
    );
}

#[test]
fn a_merge_at_the_pod_spec_level_is_checked() {
    let dir = tempfile::tempdir().expect("tempdir");
    let pod = "      <<: {hostNetwork: true, dnsPolicy: ClusterFirstWithHostNet}\n";
    let file = write(dir.path(), "app.yaml", &deployment(pod, SAFE, SAFE));
    let (code, findings, stderr) = check_json(&file);
    assert_eq!(code, 1, "{stderr}");
    assert_eq!(
        findings,
        [finding("host-namespaces", "spec.template.spec.hostNetwork")]
    );
}

#[test]
fn a_bad_merge_value_is_a_load_error_naming_file_and_line() {
    let dir = tempfile::tempdir().expect("tempdir");
    let app = format!("          <<: privileged\n{SAFE}");
    let file = write(dir.path(), "bad.yaml", &deployment("", &app, SAFE));
    // Line 25 of the file: the `<<` line.
    let at = format!("{file}:25 (document 0): ");

    let (code, stdout, stderr) = bulwark(&["check", &file]);
    assert_eq!(code, 2, "{stdout}\n{stderr}");
    let line = stdout
        .lines()
        .find(|l| l.contains(&at))
        .unwrap_or_else(|| panic!("no parse error at {at}: {stdout}"));
    assert!(
        line.contains("`<<`") && line.contains("not a string"),
        "{line}"
    );

    // With JSON output the error goes to stderr, and the exit code is the same.
    let (code, stdout, stderr) = bulwark(&["check", "--output", "json", &file]);
    assert_eq!(code, 2, "{stdout}\n{stderr}");
    assert!(stderr.contains(&at), "{stderr}");

    // `mutate` refuses it too.
    let (code, _, stderr) = bulwark(&["mutate", &file]);
    assert_eq!(code, 2, "{stderr}");
    assert!(stderr.contains(&at), "{stderr}");
}

#[test]
fn mutate_prints_the_merged_fields() {
    let dir = tempfile::tempdir().expect("tempdir");
    let pod = "      <<: &net {hostNetwork: true, dnsPolicy: ClusterFirstWithHostNet}\n";
    let app = format!("          <<: &danger {{privileged: true, runAsUser: 0}}\n{SAFE}");
    let sidecar = format!("          <<: *danger\n          runAsUser: 1000\n{SAFE}");
    let file = write(dir.path(), "app.yaml", &deployment(pod, &app, &sidecar));
    let (code, stdout, stderr) = bulwark(&["mutate", &file]);
    assert_eq!(code, 0, "{stderr}");
    assert!(
        !stdout.contains("<<") && !stdout.contains('*') && !stdout.contains('&'),
        "{stdout}"
    );
    let deployment = stdout.split("---\n").next().unwrap_or_default();
    let v: Value = serde_yaml_ng::from_str(deployment).expect("mutate prints YAML");
    let pod = &v["spec"]["template"]["spec"];
    assert_eq!(pod["hostNetwork"], true, "{stdout}");
    assert_eq!(pod["dnsPolicy"], "ClusterFirstWithHostNet", "{stdout}");
    let app = &pod["containers"][0]["securityContext"];
    assert_eq!(
        (&app["privileged"], &app["runAsUser"]),
        (&Value::Bool(true), &Value::from(0))
    );
    let sidecar = &pod["containers"][1]["securityContext"];
    assert_eq!(
        (&sidecar["privileged"], &sidecar["runAsUser"]),
        (&Value::Bool(true), &Value::from(1000))
    );
    // And the mutated output, checked again, still carries them.
    let out = write(dir.path(), "mutated.yaml", &stdout);
    let (code, findings, stderr) = check_json(&out);
    assert_eq!(code, 1, "{stderr}");
    assert!(
        findings.contains(&finding(
            "host-namespaces",
            "spec.template.spec.hostNetwork"
        )),
        "{findings:?}"
    );
}
