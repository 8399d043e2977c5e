//! The catalogue as `bulwark rules` prints it (text, JSON, Markdown) and as the README shows
//! it: one source, so the docs cannot drift from the rules (a test compares the README).

use std::fmt::Write as _;

use serde_json::{Value, json};

use crate::engine::{Policy, RuleMeta};
use crate::policy::EffectiveRule;

/// Each rule of `policy`'s catalogue with its settings and catalogue index.
fn rows(policy: &Policy) -> impl Iterator<Item = (usize, &'static RuleMeta, EffectiveRule)> {
    policy
        .catalogue()
        .iter()
        .enumerate()
        .map(|(i, r)| (i, r.meta(), policy.rule(i)))
}

/// One line per rule: id, category, severity and whether it runs under `policy`, the PSS
/// level it belongs to, the summary and the parameters with their values.
pub fn text(policy: &Policy) -> String {
    let mut out = format!(
        "{:<26} {:<13} {:<8} {:<8} {:<11} SUMMARY [PARAMETERS]\n",
        "ID", "CATEGORY", "SEVERITY", "ENABLED", "PSS"
    );
    for (i, m, eff) in rows(policy) {
        let params = params(policy, i);
        let _ = writeln!(
            out,
            "{:<26} {:<13} {:<8} {:<8} {:<11} {}{}",
            m.id,
            m.category.as_str(),
            eff.severity.as_str(),
            yes_no(eff.enabled),
            pss(m),
            m.summary,
            if params.is_empty() {
                String::new()
            } else {
                format!(" [{}]", params.join(", "))
            }
        );
    }
    out
}

/// A JSON array, one object per rule; `params` maps each parameter key to its value.
pub fn json(policy: &Policy) -> String {
    let rules: Vec<Value> = rows(policy)
        .map(|(i, m, eff)| {
            json!({
                "id": m.id,
                "category": m.category.as_str(),
                "severity": eff.severity.as_str(),
                "enabled": eff.enabled,
                "pss": m.pss.map(|l| l.as_str()),
                "summary": m.summary,
                "remediation": m.remediation,
                "params": policy.rule_params(i).map_or_else(|| json!({}), |p| p.to_json()),
            })
        })
        .collect();
    // A Vec of `Value`s always serialises.
    serde_json::to_string_pretty(&rules).unwrap_or_default() + "\n"
}

/// A Markdown table, the README's rule table (`bulwark rules -o markdown`).
pub fn markdown(policy: &Policy) -> String {
    let mut out = String::from(
        "| id | category | severity | PSS level | enabled | what it requires | parameters (default) |\n\
         |---|---|---|---|---|---|---|\n",
    );
    for (i, m, eff) in rows(policy) {
        let params: Vec<String> = params(policy, i)
            .into_iter()
            .map(|p| format!("`{}`", cell(&p)))
            .collect();
        let _ = writeln!(
            out,
            "| `{}` | {} | {} | {} | {} | {} | {} |",
            m.id,
            m.category.as_str(),
            eff.severity.as_str(),
            pss(m),
            yes_no(eff.enabled),
            cell(m.summary),
            params.join("<br>")
        );
    }
    out
}

fn yes_no(b: bool) -> &'static str {
    if b { "yes" } else { "no" }
}

fn pss(m: &RuleMeta) -> &'static str {
    m.pss.map_or("-", |l| l.as_str())
}

/// The rule's parameters as `key: value`, values in YAML flow style as a policy file would
/// write them.
fn params(policy: &Policy, index: usize) -> Vec<String> {
    match policy.rule_params(index).map(|p| p.to_json()) {
        Some(Value::Object(m)) => m.iter().map(|(k, v)| format!("{k}: {}", flow(v))).collect(),
        _ => Vec::new(),
    }
}

fn flow(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        Value::Array(items) => {
            let items: Vec<String> = items.iter().map(flow).collect();
            format!("[{}]", items.join(", "))
        }
        other => other.to_string(),
    }
}

/// Text safe inside a Markdown table cell.
fn cell(s: &str) -> String {
    s.replace('|', "\\|")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rules;

    const BEGIN: &str = "<!-- rules:begin";
    const END: &str = "<!-- rules:end -->";

    #[test]
    fn listings_show_every_rule_with_its_parameters() {
        let policy = Policy::default();
        let text = text(&policy);
        let ids: Vec<&str> = text
            .lines()
            .skip(1)
            .filter_map(|l| l.split_whitespace().next())
            .collect();
        assert_eq!(ids, rules::ids());
        let line = |id: &str| {
            text.lines()
                .find(|l| l.starts_with(&format!("{id} ")))
                .unwrap_or_default()
                .to_owned()
        };
        assert!(line("replicas").ends_with(" [minReplicas: 2]"), "{text}");
        assert!(
            line("labels").ends_with(" [required: [app.kubernetes.io/name]]"),
            "{text}"
        );
        assert!(line("privileged").contains(" baseline "), "{text}");

        let md = markdown(&policy);
        assert_eq!(md.lines().count(), rules::ids().len() + 2);
        assert!(md.contains("| `startup-probe` | availability | warning | - | no |"));
        assert!(md.contains("| `minReplicas: 2` |"), "{md}");

        let json: Value = serde_json::from_str(&json(&policy)).expect("JSON");
        let replicas = rules::index_of("replicas").expect("replicas");
        assert_eq!(json[replicas]["id"], "replicas");
        assert_eq!(json[replicas]["params"], json!({"minReplicas": 2}));
        assert_eq!(json[0]["params"], json!({}));
    }

    #[test]
    fn listings_follow_the_policy() {
        let policy = Policy::from_yaml(
            "rules:\n  replicas: {minReplicas: 3, severity: warning}\n  startup-probe: {enabled: true}\n",
        )
        .expect("parses");
        let text = text(&policy);
        assert!(
            text.lines().any(|l| l.starts_with("replicas ")
                && l.contains(" warning ")
                && l.ends_with("[minReplicas: 3]")),
            "{text}"
        );
        assert!(
            markdown(&policy).contains("| `startup-probe` | availability | warning | - | yes |")
        );
    }

    /// The README's rule table is this listing of the built-in policy. `BULWARK_BLESS=1
    /// cargo test --lib readme` rewrites it (refused under CI, like the golden fixtures).
    #[test]
    fn readme_rule_table_is_the_catalogue() {
        let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("README.md");
        let readme = std::fs::read_to_string(&path).expect("README.md");
        let start = readme
            .find(BEGIN)
            .and_then(|i| readme[i..].find('\n').map(|j| i + j + 1))
            .expect("README.md has a `<!-- rules:begin ... -->` line");
        let end = readme[start..]
            .find(END)
            .map(|j| start + j)
            .expect("README.md has a `<!-- rules:end -->` line after the begin marker");
        let want = markdown(&Policy::default());
        if readme[start..end] == want {
            return;
        }
        let bless = std::env::var_os("BULWARK_BLESS").is_some_and(|v| v == "1");
        if bless && std::env::var_os("CI").is_none() {
            let updated = format!("{}{want}{}", &readme[..start], &readme[end..]);
            std::fs::write(&path, updated).expect("README.md is writable");
            return;
        }
        panic!(
            "README.md's rule table differs from the catalogue. Regenerate it: \
             `cargo run -- rules -o markdown` and paste the table between the rules:begin and \
             rules:end markers, or run `BULWARK_BLESS=1 cargo test --lib readme`.\n\
             expected:\n{want}\nfound:\n{}",
            &readme[start..end]
        );
    }
}
