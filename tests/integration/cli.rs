//! The `bulwark` binary's `check` exit codes and `rules` catalogue, run as CI runs them.

use std::path::Path;

use crate::mutate::bulwark;

/// A Deployment with nothing to deny under the embedded policy, only warnings: no
/// PodDisruptionBudget in the set, and no pod anti-affinity or spread constraints.
const WARNINGS_ONLY: &str = "\
apiVersion: apps/v1
kind: Deployment
metadata: {name: web, namespace: shop, labels: {app.kubernetes.io/name: web}}
spec:
  replicas: 3
  selector: {matchLabels: {app.kubernetes.io/name: web}}
  strategy: {type: RollingUpdate, rollingUpdate: {maxUnavailable: 0, maxSurge: 1}}
  template:
    metadata: {labels: {app.kubernetes.io/name: web}}
    spec:
      serviceAccountName: web
      automountServiceAccountToken: false
      securityContext: {runAsNonRoot: true, seccompProfile: {type: RuntimeDefault}}
      containers:
      - name: app
        image: registry.example.com/shop/web:1.4.2
        ports: [{name: http, containerPort: 8080}]
        readinessProbe: {httpGet: {path: /ready, port: http}}
        livenessProbe: {httpGet: {path: /health, port: http}}
        lifecycle: {preStop: {sleep: {seconds: 5}}}
        resources:
          requests: {cpu: 250m, memory: 256Mi}
          limits: {cpu: '1', memory: 512Mi}
        securityContext:
          allowPrivilegeEscalation: false
          readOnlyRootFilesystem: true
          capabilities: {drop: [ALL]}
          privileged: false
";

/// The same Deployment with one container made privileged: an `error` finding.
fn privileged() -> String {
    WARNINGS_ONLY.replace("privileged: false", "privileged: true")
}

fn write(dir: &Path, name: &str, text: &str) -> String {
    let path = dir.join(name);
    std::fs::write(&path, text).expect("write manifest");
    path.to_str().expect("utf-8 path").to_owned()
}

/// The closing line of `check`'s text output: "N objects checked: E error(s), W warning(s), U unreadable".
fn summary(stdout: &str) -> &str {
    stdout.lines().last().unwrap_or("")
}

#[test]
fn check_exits_0_when_only_warnings_are_found() {
    let dir = tempfile::tempdir().expect("tempdir");
    let file = write(dir.path(), "web.yaml", WARNINGS_ONLY);
    let (code, stdout, stderr) = bulwark(&["check", &file]);
    assert_eq!(code, 0, "{stdout}{stderr}");
    let summary = summary(&stdout);
    assert!(
        summary.starts_with("1 objects checked: 0 error(s), "),
        "{stdout}"
    );
    assert!(
        !summary.contains(" 0 warning(s)"),
        "warnings are found: {stdout}"
    );
    assert!(summary.ends_with(", 0 unreadable"), "{stdout}");
}

#[test]
fn check_exits_1_on_an_error_finding_in_every_output_format() {
    let dir = tempfile::tempdir().expect("tempdir");
    let file = write(dir.path(), "web.yaml", &privileged());
    for format in ["text", "json", "sarif"] {
        let (code, stdout, stderr) = bulwark(&["check", "-o", format, &file]);
        assert_eq!(code, 1, "{format}: {stdout}{stderr}");
        assert!(stdout.contains("privileged"), "{format}: {stdout}");
    }
}

#[test]
fn the_exit_code_follows_the_policy_severity() {
    let dir = tempfile::tempdir().expect("tempdir");
    let file = write(dir.path(), "web.yaml", &privileged());
    let policy = write(
        dir.path(),
        "policy.yaml",
        "apiVersion: bulwark.dev/v1alpha1\nkind: Policy\nrules:\n  privileged: {severity: warning}\n",
    );
    let (code, stdout, stderr) = bulwark(&["check", "--config", &policy, &file]);
    assert_eq!(code, 0, "a warning never fails the check: {stdout}{stderr}");
    assert!(stdout.contains("warning privileged"), "{stdout}");
}

#[test]
fn check_exits_2_on_bad_input_and_still_checks_the_rest() {
    let dir = tempfile::tempdir().expect("tempdir");
    let good = write(dir.path(), "web.yaml", &privileged());
    let broken = write(dir.path(), "broken.yaml", "kind: [oops\n");
    let (code, stdout, stderr) = bulwark(&["check", &broken, &good]);
    assert_eq!(code, 2, "{stdout}{stderr}");
    assert!(stdout.contains("parse error:"), "{stdout}");
    assert!(stdout.contains("broken.yaml:"), "names the file: {stdout}");
    assert!(
        stdout.contains("privileged"),
        "the readable file is checked: {stdout}"
    );

    let missing = dir.path().join("missing.yaml");
    let (code, _, _) = bulwark(&["check", missing.to_str().expect("utf-8")]);
    assert_eq!(code, 2, "a missing file");
    let (code, _, stderr) = bulwark(&["check", "--output", "xml", &good]);
    assert_eq!(code, 2, "a usage error: {stderr}");
    let policy = write(
        dir.path(),
        "bad-policy.yaml",
        "kind: Policy\nrules: {nope: {}}\n",
    );
    let (code, _, stderr) = bulwark(&["check", "--config", &policy, &good]);
    assert_eq!(code, 2, "an invalid policy: {stderr}");
    assert!(stderr.contains("nope"), "{stderr}");
}

#[test]
fn rules_lists_every_catalogue_id_in_order() {
    let (code, stdout, stderr) = bulwark(&["rules"]);
    assert_eq!(code, 0, "{stderr}");
    let mut lines = stdout.lines();
    assert!(
        lines.next().is_some_and(|h| h.starts_with("ID ")),
        "header: {stdout}"
    );
    let listed: Vec<&str> = lines.filter_map(|l| l.split_whitespace().next()).collect();
    assert_eq!(listed, bulwark::rules::ids());

    let (code, stdout, stderr) = bulwark(&["rules", "-o", "json"]);
    assert_eq!(code, 0, "{stderr}");
    let rules: serde_json::Value = serde_json::from_str(&stdout).expect("JSON");
    let ids: Vec<&str> = rules
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|r| r["id"].as_str())
        .collect();
    assert_eq!(ids, bulwark::rules::ids());
}
