//! The human and script formats of `bulwark check` (grouped text, a JSON array). SARIF has a
//! model of its own in [`super::sarif`]; the `bulwark rules` listings are `rules::listing`.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use super::{CheckResult, FileFinding};
use crate::engine::Severity;

/// Renders findings as human text, grouped by object; `color` adds ANSI colours.
pub fn render_text(result: &CheckResult, color: bool) -> String {
    let paint = |code: &str, s: &str| {
        if color {
            format!("\x1b[{code}m{s}\x1b[0m")
        } else {
            s.to_owned()
        }
    };
    let mut out = String::new();
    let mut groups: BTreeMap<(String, usize, String, String, String), Vec<&FileFinding>> =
        BTreeMap::new();
    let mut order = Vec::new();
    for f in &result.findings {
        let key = (
            f.file.clone(),
            f.document,
            f.kind.clone(),
            f.namespace.clone(),
            f.name.clone(),
        );
        if !groups.contains_key(&key) {
            order.push(key.clone());
        }
        groups.entry(key).or_default().push(f);
    }
    for key in order {
        let (file, doc, kind, ns, name) = &key;
        let object = if ns.is_empty() {
            format!("{kind}/{name}")
        } else {
            format!("{kind}/{ns}/{name}")
        };
        let _ = writeln!(
            out,
            "{} {}",
            paint("1", &object),
            paint("2", &format!("({file}, document {doc})"))
        );
        for f in &groups[&key] {
            // Padded to one width so the rule ids line up whatever the severity.
            let sev = match f.severity {
                Severity::Error => paint("31", "error  "),
                Severity::Warning => paint("33", "warning"),
            };
            let _ = writeln!(out, "  {sev} {:<26} {}", f.rule, f.path);
            let _ = writeln!(out, "          {}", f.message);
        }
        out.push('\n');
    }
    for e in &result.errors {
        let _ = writeln!(out, "{} {e}", paint("31", "parse error:"));
    }
    let errors = result
        .findings
        .iter()
        .filter(|f| f.severity == Severity::Error)
        .count();
    let warnings = result.findings.len() - errors;
    let _ = writeln!(
        out,
        "{} objects checked: {errors} error(s), {warnings} warning(s), {} unreadable",
        result.objects,
        result.errors.len()
    );
    out
}

/// Renders findings as one JSON array.
pub fn render_json(result: &CheckResult) -> String {
    serde_json::to_string_pretty(&result.findings).unwrap_or_else(|_| "[]".into()) + "\n"
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::offline::LoadError;

    fn finding(name: &str, severity: Severity, rule: &'static str, path: &str) -> FileFinding {
        FileFinding {
            file: "k8s/app.yaml".into(),
            document: 1,
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
            line: 7,
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
}
