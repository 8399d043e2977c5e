//! Pod Security Standards conformance: every official pod-security-admission v1.37 fixture
//! (tests/fixtures/pss) run through the engine at its level. A fail fixture must get a
//! finding from the rule its check maps to; a pass fixture must get no PSS finding at all.

use std::path::{Path, PathBuf};

use bulwark::config::Policy;
use bulwark::engine::{Context, evaluate};
use bulwark::rules::catalogue;
use bulwark::workload::Workload;

/// The bulwark rule that implements a PSS check, by the check name used in fixture files.
fn rule_for_check(check: &str) -> Option<&'static str> {
    Some(match check {
        "allowprivilegeescalation" => "privilege-escalation",
        "apparmorprofile" => "apparmor-profile",
        "capabilities_baseline" | "capabilities_restricted" => "capabilities",
        "hostnamespaces" => "host-namespaces",
        "hostpathvolumes" => "host-path-volumes",
        "hostports" => "host-ports",
        "hostprobesandhostlifecycle" => "host-probes",
        "privileged" => "privileged",
        "procmount" | "procmount_restricted" => "proc-mount",
        "restrictedvolumes" => "volume-types",
        "runasnonroot" | "runasuser" => "run-as-non-root",
        "selinuxoptions" => "selinux-options",
        "seccompprofile_baseline" | "seccompprofile_restricted" => "seccomp-profile",
        "sysctls" => "sysctls",
        "windowshostprocess" => "windows-host-process",
        _ => return None,
    })
}

/// The YAML files of `dir`, sorted.
fn fixtures(dir: &Path) -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap_or_else(|e| panic!("cannot read {}: {e}", dir.display()))
        .map(|entry| entry.expect("directory entry").path())
        .filter(|p| p.extension().is_some_and(|e| e == "yaml"))
        .collect();
    files.sort();
    files
}

/// Runs every fixture of `level`; returns (fixtures that agree, fixtures, disagreements).
fn conformance(level: &str) -> (usize, usize, Vec<String>) {
    let policy = Policy::from_yaml(&format!("podSecurity: {level}")).expect("policy parses");
    let pss_rules: Vec<&str> = catalogue()
        .iter()
        .map(|r| r.meta())
        .filter(|m| m.pss.is_some())
        .map(|m| m.id)
        .collect();
    let root = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/pss")
        .join(level);
    let (mut agree, mut total, mut disagreements) = (0, 0, Vec::new());
    for outcome in ["pass", "fail"] {
        for file in fixtures(&root.join(outcome)) {
            total += 1;
            let stem = file
                .file_stem()
                .and_then(|s| s.to_str())
                .unwrap_or_default();
            let name = format!("{level}/{outcome}/{stem}.yaml");
            let text = std::fs::read_to_string(&file).expect("fixture readable");
            let value: serde_json::Value = serde_yaml_ng::from_str(&text).expect("fixture is YAML");
            let workload = match Workload::from_value(&value) {
                Ok(w) => w,
                Err(e) => {
                    disagreements.push(format!("{name}: does not parse: {e}"));
                    continue;
                }
            };
            let report = evaluate(&workload, Context::default(), &policy);
            let findings: Vec<_> = report
                .findings
                .iter()
                .filter(|f| pss_rules.contains(&f.rule))
                .collect();
            let problem = if outcome == "pass" {
                (!findings.is_empty()).then(|| {
                    let list: Vec<String> = findings
                        .iter()
                        .map(|f| format!("[{}] {}: {}", f.rule, f.path, f.message))
                        .collect();
                    format!("must pass but got: {}", list.join("; "))
                })
            } else {
                let check = stem.trim_end_matches(|c: char| c.is_ascii_digit());
                match rule_for_check(check) {
                    None => Some(format!("unknown PSS check {check:?}")),
                    Some(rule) if findings.iter().any(|f| f.rule == rule) => None,
                    Some(rule) => {
                        let got: Vec<&str> = findings.iter().map(|f| f.rule).collect();
                        Some(format!(
                            "must fail by rule {rule}, PSS findings were {got:?}"
                        ))
                    }
                }
            };
            match problem {
                None => agree += 1,
                Some(p) => disagreements.push(format!("{name}: {p}")),
            }
        }
    }
    (agree, total, disagreements)
}

#[test]
fn pss_conformance_v1_37() {
    let mut fixtures_seen = 0;
    let mut disagreements = Vec::new();
    for level in ["baseline", "restricted"] {
        let (agree, total, mut d) = conformance(level);
        println!("PSS conformance {level}: {agree}/{total} fixtures agree");
        fixtures_seen += total;
        disagreements.append(&mut d);
    }
    assert!(
        fixtures_seen > 140,
        "only {fixtures_seen} PSS fixtures found under tests/fixtures/pss"
    );
    assert!(
        disagreements.is_empty(),
        "{} PSS fixture(s) disagree:\n{}",
        disagreements.len(),
        disagreements.join("\n")
    );
}
