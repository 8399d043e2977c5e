//! `bulwark check --output sarif`: the findings as a SARIF 2.1.0 log, the format code-scanning
//! UIs (GitHub's among them) read.
//!
//! A small typed model of the part of SARIF we write, rather than the `serde-sarif` crate:
//! that crate generates the whole schema (hundreds of optional fields, typed-builder) for the
//! dozen fields we fill, and the types here make the fields we do write impossible to
//! misspell or leave out. The tests hold the output to what GitHub requires.

use serde::Serialize;

use super::{CheckResult, FileFinding};
use crate::engine::Severity;

const SCHEMA: &str = "https://json.schemastore.org/sarif-2.1.0.json";

/// A SARIF log: one run of bulwark.
#[derive(Serialize)]
struct Log {
    #[serde(rename = "$schema")]
    schema: &'static str,
    version: &'static str,
    runs: [Run; 1],
}

#[derive(Serialize)]
struct Run {
    tool: Tool,
    invocations: [Invocation; 1],
    results: Vec<SarifResult>,
}

#[derive(Serialize)]
struct Tool {
    driver: Driver,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct Driver {
    name: &'static str,
    version: &'static str,
    information_uri: &'static str,
    /// The whole catalogue, in catalogue order, so a result's `ruleIndex` is the rule's
    /// catalogue index.
    rules: Vec<ReportingDescriptor>,
}

/// A rule's metadata (SARIF `reportingDescriptor`).
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct ReportingDescriptor {
    id: &'static str,
    name: &'static str,
    short_description: Text,
    help: Text,
    default_configuration: Configuration,
    properties: RuleProperties,
}

#[derive(Serialize)]
struct Configuration {
    level: Level,
}

#[derive(Serialize)]
struct RuleProperties {
    category: &'static str,
}

/// A SARIF `message` or `multiformatMessageString`: plain text only.
#[derive(Serialize)]
struct Text {
    text: String,
}

impl Text {
    fn new(text: impl Into<String>) -> Text {
        Text { text: text.into() }
    }
}

/// SARIF's `level`. bulwark never writes `none`.
#[derive(Serialize, Clone, Copy)]
#[serde(rename_all = "lowercase")]
enum Level {
    Error,
    Warning,
}

impl From<Severity> for Level {
    fn from(s: Severity) -> Level {
        match s {
            Severity::Error => Level::Error,
            Severity::Warning => Level::Warning,
        }
    }
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct Invocation {
    execution_successful: bool,
    /// Files and documents that could not be read.
    tool_execution_notifications: Vec<Notification>,
}

#[derive(Serialize)]
struct Notification {
    level: Level,
    message: Text,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct SarifResult {
    rule_id: &'static str,
    /// Always present for a catalogue rule; omitted rather than written as `null` (which
    /// SARIF forbids) should a finding ever name a rule outside the catalogue.
    #[serde(skip_serializing_if = "Option::is_none")]
    rule_index: Option<usize>,
    level: Level,
    message: Text,
    locations: [Location; 1],
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct Location {
    physical_location: PhysicalLocation,
    /// The object and field, which a line number alone cannot say (a file holds many objects).
    logical_locations: [LogicalLocation; 1],
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct PhysicalLocation {
    artifact_location: ArtifactLocation,
    region: Region,
}

#[derive(Serialize)]
struct ArtifactLocation {
    /// The path as given on the command line.
    uri: String,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct Region {
    /// 1-based; the line where the object's document starts.
    start_line: usize,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct LogicalLocation {
    fully_qualified_name: String,
    kind: &'static str,
}

fn result(f: &FileFinding) -> SarifResult {
    let object = if f.namespace.is_empty() {
        format!("{}/{}", f.kind, f.name)
    } else {
        format!("{}/{}/{}", f.kind, f.namespace, f.name)
    };
    SarifResult {
        rule_id: f.rule,
        rule_index: crate::rules::index_of(f.rule),
        level: f.severity.into(),
        message: Text::new(format!("{object}: {} ({})", f.message, f.path)),
        locations: [Location {
            physical_location: PhysicalLocation {
                artifact_location: ArtifactLocation {
                    uri: f.file.clone(),
                },
                region: Region {
                    start_line: f.line.max(1),
                },
            },
            logical_locations: [LogicalLocation {
                fully_qualified_name: format!("{object}#{}", f.path),
                kind: "object",
            }],
        }],
    }
}

/// Renders findings as SARIF 2.1.0, for code-scanning UIs.
pub fn render_sarif(result_set: &CheckResult) -> String {
    let rules = crate::rules::catalogue()
        .iter()
        .map(|r| {
            let m = r.meta();
            ReportingDescriptor {
                id: m.id,
                name: m.id,
                short_description: Text::new(m.summary),
                help: Text::new(m.remediation),
                default_configuration: Configuration {
                    level: m.severity.into(),
                },
                properties: RuleProperties {
                    category: m.category.as_str(),
                },
            }
        })
        .collect();
    let log = Log {
        schema: SCHEMA,
        version: "2.1.0",
        runs: [Run {
            tool: Tool {
                driver: Driver {
                    name: "bulwark",
                    version: env!("CARGO_PKG_VERSION"),
                    information_uri: "https://github.com/bulwark-dev/bulwark",
                    rules,
                },
            },
            invocations: [Invocation {
                execution_successful: result_set.errors.is_empty(),
                tool_execution_notifications: result_set
                    .errors
                    .iter()
                    .map(|e| Notification {
                        level: Level::Error,
                        message: Text::new(e.to_string()),
                    })
                    .collect(),
            }],
            results: result_set.findings.iter().map(result).collect(),
        }],
    };
    serde_json::to_string_pretty(&log).unwrap_or_default() + "\n"
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Policy;
    use crate::offline::{Loaded, check, load_text};
    use serde_json::{Value, json};

    const LEVELS: [&str; 3] = ["error", "warning", "note"];

    /// What a SARIF log lacks for GitHub code scanning (the SARIF 2.1.0 properties GitHub
    /// reads, with their schema types and constraints); empty when it has it all.
    fn github_problems(log: &Value) -> Vec<String> {
        let mut problems = Vec::new();
        let mut need = |ok: bool, what: String| {
            if !ok {
                problems.push(what);
            }
        };
        let text = |v: &Value| v.as_str().is_some_and(|s| !s.is_empty());
        need(log["version"] == "2.1.0", "version is not \"2.1.0\"".into());
        need(
            log["$schema"]
                .as_str()
                .is_some_and(|s| s.starts_with("https://") && s.contains("sarif-2.1.0")),
            "$schema is not a SARIF 2.1.0 schema URI".into(),
        );
        let runs = log["runs"].as_array().cloned().unwrap_or_default();
        need(!runs.is_empty(), "runs[] is missing or empty".into());
        for (r, run) in runs.iter().enumerate() {
            let driver = &run["tool"]["driver"];
            need(text(&driver["name"]), format!("runs[{r}].tool.driver.name"));
            let rules = driver["rules"].as_array().cloned().unwrap_or_default();
            need(!rules.is_empty(), format!("runs[{r}].tool.driver.rules[]"));
            for (i, rule) in rules.iter().enumerate() {
                let at = format!("runs[{r}].tool.driver.rules[{i}]");
                need(text(&rule["id"]), format!("{at}.id"));
                need(
                    text(&rule["shortDescription"]["text"]),
                    format!("{at}.shortDescription.text"),
                );
                need(
                    text(&rule["help"]["text"]) || text(&rule["fullDescription"]["text"]),
                    format!("{at}: help.text or fullDescription.text"),
                );
                need(
                    LEVELS
                        .iter()
                        .any(|l| rule["defaultConfiguration"]["level"] == *l),
                    format!("{at}.defaultConfiguration.level"),
                );
            }
            let Some(results) = run["results"].as_array() else {
                need(false, format!("runs[{r}].results[] is missing"));
                continue;
            };
            for (i, res) in results.iter().enumerate() {
                let at = format!("runs[{r}].results[{i}]");
                need(text(&res["ruleId"]), format!("{at}.ruleId"));
                let indexed = res["ruleIndex"]
                    .as_u64()
                    .and_then(|n| rules.get(usize::try_from(n).ok()?));
                need(
                    indexed.is_some_and(|rule| rule["id"] == res["ruleId"]),
                    format!("{at}.ruleIndex does not point at the rule named by ruleId"),
                );
                need(
                    LEVELS.iter().any(|l| res["level"] == *l),
                    format!("{at}.level is not one of {LEVELS:?}"),
                );
                need(text(&res["message"]["text"]), format!("{at}.message.text"));
                let locations = res["locations"].as_array().cloned().unwrap_or_default();
                need(!locations.is_empty(), format!("{at}.locations[]"));
                for (l, loc) in locations.iter().enumerate() {
                    let phys = &loc["physicalLocation"];
                    let uri = phys["artifactLocation"]["uri"].as_str().unwrap_or("");
                    need(
                        !uri.is_empty() && !uri.starts_with('/') && !uri.contains("://"),
                        format!("{at}.locations[{l}]: artifactLocation.uri is not a relative path"),
                    );
                    need(
                        phys["region"]["startLine"].as_u64().is_some_and(|n| n >= 1),
                        format!("{at}.locations[{l}]: region.startLine is not >= 1"),
                    );
                }
            }
        }
        problems
    }

    /// A Deployment with error and warning findings, a Pod, and a document that does not parse.
    fn checked() -> CheckResult {
        let mut loaded = Loaded::default();
        load_text(
            "k8s/app.yaml",
            "apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: web, namespace: shop}\nspec:\n  replicas: 3\n  template:\n    spec:\n      containers: [{name: a, image: 'web:1', securityContext: {privileged: true}}]\n---\napiVersion: v1\nkind: Pod\nmetadata: {name: p}\nspec: {containers: [{name: a, image: 'x:1'}]}\n",
            false,
            &mut loaded,
        );
        load_text("k8s/bad.yaml", "kind: [oops\n", false, &mut loaded);
        check(loaded, &Policy::default())
    }

    fn rendered() -> Value {
        serde_json::from_str(&render_sarif(&checked())).expect("SARIF is JSON")
    }

    #[test]
    fn output_has_everything_github_code_scanning_requires() {
        let result = checked();
        let severities: Vec<Severity> = result.findings.iter().map(|f| f.severity).collect();
        assert!(severities.contains(&Severity::Error) && severities.contains(&Severity::Warning));
        let log = rendered();
        assert_eq!(github_problems(&log), Vec::<String>::new(), "{log:#}");
        let run = &log["runs"][0];
        assert_eq!(
            run["results"].as_array().map(Vec::len),
            Some(result.findings.len())
        );
        assert_eq!(
            run["tool"]["driver"]["rules"].as_array().map(Vec::len),
            Some(crate::rules::catalogue().len())
        );
        // Levels follow the findings' severities, in order.
        let levels: Vec<&str> = run["results"]
            .as_array()
            .into_iter()
            .flatten()
            .map(|r| r["level"].as_str().unwrap_or(""))
            .collect();
        let expected: Vec<&str> = severities.iter().map(|s| s.as_str()).collect();
        assert_eq!(levels, expected);
        let first = &run["results"][0]["locations"][0]["physicalLocation"];
        assert_eq!(first["artifactLocation"]["uri"], "k8s/app.yaml");
        assert_eq!(first["region"]["startLine"], 1);
        let invocation = &run["invocations"][0];
        assert_eq!(invocation["executionSuccessful"], false);
        let note = &invocation["toolExecutionNotifications"][0];
        assert_eq!(note["level"], "error");
        assert!(
            note["message"]["text"]
                .as_str()
                .is_some_and(|t| t.starts_with("k8s/bad.yaml:")),
            "{note}"
        );
    }

    /// The checker above catches each way the output could go wrong, so the test that uses
    /// it can fail.
    #[test]
    fn the_requirements_check_catches_a_missing_or_invalid_field() {
        type Breakage = (&'static str, fn(&mut Value));
        let breakages: [Breakage; 10] = [
            ("version", |v| v["version"] = json!("2.0.0")),
            ("$schema", |v| v["$schema"] = Value::Null),
            ("driver.name", |v| {
                v["runs"][0]["tool"]["driver"]["name"] = json!("")
            }),
            ("shortDescription", |v| {
                v["runs"][0]["tool"]["driver"]["rules"][2]["shortDescription"] = Value::Null
            }),
            ("help.text or fullDescription", |v| {
                v["runs"][0]["tool"]["driver"]["rules"][0]["help"] = Value::Null
            }),
            ("defaultConfiguration.level", |v| {
                v["runs"][0]["tool"]["driver"]["rules"][0]["defaultConfiguration"]["level"] =
                    json!("fatal")
            }),
            ("ruleIndex", |v| {
                let r = &mut v["runs"][0]["results"][0]["ruleIndex"];
                *r = json!(r.as_u64().unwrap_or(0) + 1);
            }),
            ("level", |v| {
                v["runs"][0]["results"][0]["level"] = json!("info")
            }),
            ("relative path", |v| {
                v["runs"][0]["results"][0]["locations"][0]["physicalLocation"]["artifactLocation"]
                    ["uri"] = json!("/abs/app.yaml")
            }),
            ("startLine", |v| {
                v["runs"][0]["results"][0]["locations"][0]["physicalLocation"]["region"]["startLine"] =
                    json!(0)
            }),
        ];
        for (what, breakage) in breakages {
            let mut log = rendered();
            breakage(&mut log);
            let problems = github_problems(&log);
            assert!(
                problems.iter().any(|p| p.contains(what)),
                "breaking {what} went unnoticed: {problems:?}"
            );
        }
    }
}
