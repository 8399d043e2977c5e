//! The human and script formats of `bulwark check` (grouped text, a JSON array). SARIF has a
//! model of its own in [`super::sarif`]; the `bulwark rules` listings are `rules::listing`.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use super::{CheckFinding, CheckResult, Origin};
use crate::config::Mode;
use crate::engine::Severity;

/// A finding listed in text, with the level it counts at ([`CheckFinding::level`]).
type Counted<'a> = (&'a CheckFinding, Severity);

/// Renders findings as human text, grouped by object; `color` adds ANSI colours. Findings an
/// exemption lifted (`check --cluster`) are not listed, only counted.
pub fn render_text(result: &CheckResult, color: bool) -> String {
    let paint = |code: &str, s: &str| {
        if color {
            format!("\x1b[{code}m{s}\x1b[0m")
        } else {
            s.to_owned()
        }
    };
    let mut out = String::new();
    // Keyed by where the object was read and what it is; listed in order of appearance.
    let mut groups: BTreeMap<(Option<String>, String), Vec<Counted<'_>>> = BTreeMap::new();
    let mut order = Vec::new();
    for f in &result.findings {
        let Some(level) = f.level() else { continue };
        let source = match &f.origin {
            Origin::File { file, document, .. } => Some(format!("({file}, document {document})")),
            Origin::Cluster { .. } => None,
        };
        let key = (source, f.object());
        if !groups.contains_key(&key) {
            order.push(key.clone());
        }
        groups.entry(key).or_default().push((f, level));
    }
    for key in order {
        let (source, object) = &key;
        let _ = write!(out, "{}", paint("1", object));
        if let Some(source) = source {
            let _ = write!(out, " {}", paint("2", source));
        }
        out.push('\n');
        for (f, level) in &groups[&key] {
            // Padded to one width so the rule ids line up whatever the severity.
            let sev = match level {
                Severity::Error => paint("31", "error  "),
                Severity::Warning => paint("33", "warning"),
            };
            let _ = write!(out, "  {sev} {:<26} {}", f.rule, f.path);
            // A live object judged in audit mode: what enforce would do, not done yet.
            if matches!(
                f.origin,
                Origin::Cluster {
                    mode: Mode::Audit,
                    ..
                }
            ) {
                let _ = write!(out, " {}", paint("2", "(audit mode)"));
            }
            out.push('\n');
            let _ = writeln!(out, "          {}", f.message);
        }
        out.push('\n');
    }
    for e in &result.errors {
        let _ = writeln!(out, "{} {e}", paint("31", "parse error:"));
    }
    let count = |l: Option<Severity>| result.findings.iter().filter(|f| f.level() == l).count();
    let (errors, warnings) = (count(Some(Severity::Error)), count(Some(Severity::Warning)));
    let _ = write!(
        out,
        "{} objects checked: {errors} error(s), {warnings} warning(s), {} unreadable",
        result.objects,
        result.errors.len()
    );
    match count(None) {
        0 => out.push('\n'),
        exempted => {
            let _ = writeln!(out, ", {exempted} exempted (listed by -o json)");
        }
    }
    out
}

/// Renders findings as one JSON array.
pub fn render_json(result: &CheckResult) -> String {
    serde_json::to_string_pretty(&result.findings).unwrap_or_else(|_| "[]".into()) + "\n"
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::audit::Verdict;
    use crate::offline::LoadError;

    fn finding(name: &str, severity: Severity, rule: &'static str, path: &str) -> CheckFinding {
        CheckFinding {
            origin: Origin::File {
                file: "k8s/app.yaml".into(),
                document: 1,
                line: 7,
            },
            kind: "Deployment".into(),
            namespace: if name == "web" {
                "shop".into()
            } else {
                "".into()
            },
            name: name.into(),
            rule,
            category: "security",
            severity,
            path: path.into(),
            message: format!("{rule} message"),
        }
    }

    fn small_result() -> CheckResult {
        CheckResult {
            findings: vec![
                finding("web", Severity::Error, "privileged", "spec.a"),
                finding("web", Severity::Warning, "pod-spread", "spec"),
                finding("api", Severity::Error, "host-ports", "spec.b"),
            ],
            errors: vec![LoadError {
                file: "k8s/bad.yaml".into(),
                document: Some(0),
                line: Some(3),
                message: "did not parse".into(),
            }],
            objects: 4,
        }
    }

    #[test]
    fn text_groups_findings_by_object_and_counts_them() {
        let expected = "\
Deployment/shop/web (k8s/app.yaml, document 1)
  error   privileged                 spec.a
          privileged message
  warning pod-spread                 spec
          pod-spread message

Deployment/api (k8s/app.yaml, document 1)
  error   host-ports                 spec.b
          host-ports message

parse error: k8s/bad.yaml:3 (document 0): did not parse
4 objects checked: 2 error(s), 1 warning(s), 1 unreadable
";
        assert_eq!(render_text(&small_result(), false), expected);
    }

    #[test]
    fn text_colours_only_when_asked() {
        let plain = render_text(&small_result(), false);
        assert!(!plain.contains('\x1b'));
        let coloured = render_text(&small_result(), true);
        assert!(
            coloured.starts_with(
                "\x1b[1mDeployment/shop/web\x1b[0m \x1b[2m(k8s/app.yaml, document 1)\x1b[0m\n"
            ),
            "{coloured}"
        );
        assert!(
            coloured.contains("  \x1b[31merror  \x1b[0m privileged"),
            "{coloured}"
        );
        assert!(
            coloured.contains("  \x1b[33mwarning\x1b[0m pod-spread"),
            "{coloured}"
        );
    }

    #[test]
    fn json_keeps_its_field_names_and_lowercase_severities() {
        let v: serde_json::Value =
            serde_json::from_str(&render_json(&small_result())).expect("json");
        assert_eq!(
            v[1],
            serde_json::json!({
                "file": "k8s/app.yaml", "document": 1, "kind": "Deployment",
                "namespace": "shop", "name": "web", "rule": "pod-spread",
                "category": "security", "severity": "warning", "path": "spec",
                "message": "pod-spread message",
            })
        );
        assert_eq!(v[0]["severity"], "error");
    }

    /// Live objects are named as kubectl names them, a finding judged in audit mode says so,
    /// an exempted one is only counted, and `error` is what fails (the verdict), whatever
    /// the rule's severity.
    #[test]
    fn text_names_live_objects_and_counts_exempted_findings() {
        let expected = "\
Namespace staging
  warning namespace-pod-security     spec.a (audit mode)
          namespace-pod-security message

Deployment shop/web
  error   privileged                 spec.a
          privileged message

Deployment staging/worker
  error   privileged                 spec.a (audit mode)
          privileged message

5 objects checked: 2 error(s), 1 warning(s), 0 unreadable, 1 exempted (listed by -o json)
";
        assert_eq!(render_text(&CheckResult::live_sample(), false), expected);
        assert_eq!(CheckResult::live_sample().exit_code(), 1);
        let mut exempt_only = CheckResult::live_sample();
        exempt_only.findings.retain(|f| {
            matches!(
                f.origin,
                Origin::Cluster {
                    result: Verdict::Skip,
                    ..
                }
            )
        });
        assert_eq!(
            exempt_only.exit_code(),
            0,
            "an exempted error fails nothing"
        );
    }

    #[test]
    fn json_gives_live_findings_their_verdict_mode_and_exemption() {
        let v: serde_json::Value =
            serde_json::from_str(&render_json(&CheckResult::live_sample())).expect("json");
        assert_eq!(
            v[2],
            serde_json::json!({
                "result": "skip", "mode": "enforce", "exemption": "BulwarkException x: why",
                "kind": "Deployment", "namespace": "shop", "name": "agent",
                "rule": "host-namespaces", "category": "security", "severity": "error",
                "path": "spec.a", "message": "host-namespaces message",
            })
        );
        assert_eq!(v[1]["result"], "fail");
        assert!(
            v[1].get("exemption").is_none() && v[1].get("file").is_none(),
            "{v}"
        );
    }
}
