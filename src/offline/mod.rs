//! The engine from the command line, outside the webhook: `check` on manifest files (loading
//! files, directories, stdin, multi-document YAML, JSON, `kind: List`; the manifest-set
//! inventory) and the `check` report formats (text, JSON, SARIF); `check --cluster`, one read
//! of a live cluster judged as the auditor judges it, is in [`cluster`]; `bulwark mutate` is
//! in [`mutate`].

use std::collections::BTreeSet;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use serde::Serialize;

use crate::audit::Verdict;
use crate::config::{Mode, Policy};
use crate::engine::{
    self, Context, HpaInfo, Inventory, LimitRangeInfo, NetworkPolicyInfo, PdbInfo, PodsInfo,
    QuotaInfo, Severity,
};
use crate::workload::{Body, FieldPath, FieldStep, Kind, Workload};

pub mod cluster;
pub mod mutate;
mod render;
mod sarif;
mod yaml;

pub use render::{render_json, render_text};
pub use sarif::render_sarif;

/// One object read from a manifest file.
#[derive(Debug, Clone)]
pub struct Document {
    /// File it came from (`-` for stdin).
    pub file: String,
    /// Index of the YAML document within the file (0-based); items of a `List` share it.
    pub index: usize,
    /// 1-based line where the document starts (best effort).
    pub line: usize,
    /// The object.
    pub value: serde_json::Value,
    /// Where the object sits in its document: empty, or `items[i]` inside a `kind: List`.
    pub at: Vec<FieldStep>,
    /// The text of its file (shared by the file's documents), to find the line of a field
    /// that fails to parse.
    pub source: Arc<str>,
}

impl Document {
    /// The 1-based line of `field` in this object, when the text has it there; else the line
    /// where the document starts.
    pub fn line_of(&self, field: Option<&FieldPath>) -> usize {
        let Some(field) = field else {
            return self.line;
        };
        let mut path = self.at.clone();
        path.extend(field.0.iter().cloned());
        yaml::line_of(&self.source, self.index, &path).unwrap_or(self.line)
    }
}

/// A file, document or live object that could not be read.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct LoadError {
    /// File (`-` for stdin); for `check --cluster`, the object (`Kind namespace/name`).
    pub file: String,
    /// Document index, when the error is inside a document.
    pub document: Option<usize>,
    /// 1-based line, when known.
    pub line: Option<usize>,
    /// What is wrong.
    pub message: String,
}

impl std::fmt::Display for LoadError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}", self.file)?;
        if let Some(line) = self.line {
            write!(f, ":{line}")?;
        }
        if let Some(doc) = self.document {
            write!(f, " (document {doc})")?;
        }
        write!(f, ": {}", self.message)
    }
}

/// Everything read from a set of paths.
#[derive(Debug, Default)]
pub struct Loaded {
    /// Objects, in file order then document order.
    pub documents: Vec<Document>,
    /// Files and documents that failed to load.
    pub errors: Vec<LoadError>,
}

/// Reads every path: files, directories (recursively, `*.yaml`, `*.yml`, `*.json`, sorted),
/// and `-` for stdin. A bad file is recorded and the others are still read.
pub fn load_paths(paths: &[PathBuf]) -> Loaded {
    let mut loaded = Loaded::default();
    for path in paths {
        if path.as_os_str() == "-" {
            let mut text = String::new();
            match std::io::stdin().read_to_string(&mut text) {
                Ok(_) => load_text("-", &text, false, &mut loaded),
                Err(e) => loaded.errors.push(file_error("-", e.to_string())),
            }
            continue;
        }
        let mut files = Vec::new();
        if let Err(e) = collect_files(path, &mut files, true) {
            loaded
                .errors
                .push(file_error(&path.display().to_string(), e));
            continue;
        }
        for file in files {
            let name = file.display().to_string();
            match std::fs::read_to_string(&file) {
                Ok(text) => {
                    let json = file.extension().is_some_and(|e| e == "json");
                    load_text(&name, &text, json, &mut loaded);
                }
                Err(e) => loaded.errors.push(file_error(&name, e.to_string())),
            }
        }
    }
    loaded
}

fn file_error(file: &str, message: String) -> LoadError {
    LoadError {
        file: file.to_owned(),
        document: None,
        line: None,
        message,
    }
}

fn collect_files(path: &Path, out: &mut Vec<PathBuf>, explicit: bool) -> Result<(), String> {
    let meta = std::fs::metadata(path).map_err(|e| e.to_string())?;
    if meta.is_dir() {
        let mut entries: Vec<PathBuf> = std::fs::read_dir(path)
            .map_err(|e| e.to_string())?
            .filter_map(|e| e.ok().map(|e| e.path()))
            .collect();
        entries.sort();
        for entry in entries {
            collect_files(&entry, out, false)?;
        }
    } else if explicit
        || path
            .extension()
            .and_then(|e| e.to_str())
            .is_some_and(|e| matches!(e, "yaml" | "yml" | "json"))
    {
        out.push(path.to_owned());
    }
    Ok(())
}

/// Parses one file's text (multi-document YAML, or JSON) into `loaded`.
///
/// YAML merge keys (`<<`) are resolved here, before any rule sees the object, exactly as
/// kubectl resolves them (see [`yaml`]): otherwise `securityContext: {<<: *privileged}` would
/// pass `check` and run privileged. A `<<` that kubectl would reject, or that bulwark cannot
/// read the way kubectl does, is a load error on its line. JSON has no merge keys: a `.json`
/// file is parsed as JSON, where `"<<"` is an ordinary key, and JSON on stdin (parsed as YAML)
/// keeps it an ordinary key too, since its keys are quoted. Such a key is an unknown field the
/// API server drops or rejects, so what it holds never reaches the cluster, nor the rules.
pub fn load_text(file: &str, text: &str, json: bool, loaded: &mut Loaded) {
    let source: Arc<str> = Arc::from(text);
    let at = |index, line| DocSource {
        file,
        index,
        line,
        source: &source,
    };
    if json {
        match serde_json::from_str::<serde_json::Value>(text) {
            Ok(v) => push_object(at(0, 1), Vec::new(), v, loaded),
            Err(e) => loaded.errors.push(LoadError {
                file: file.to_owned(),
                document: Some(0),
                line: Some(e.line()),
                message: e.to_string(),
            }),
        }
        return;
    }
    let starts = document_starts(text);
    for (index, doc) in serde_yaml_ng::Deserializer::from_str(text).enumerate() {
        let line = starts.get(index).copied().unwrap_or(1);
        match yaml::read_document(text, doc) {
            Ok(serde_json::Value::Null) => {} // empty document (e.g. a trailing `---`)
            Ok(v) => push_object(at(index, line), Vec::new(), v, loaded),
            Err(e) => {
                loaded.errors.push(LoadError {
                    file: file.to_owned(),
                    document: Some(index),
                    line: e.line,
                    message: e.message,
                });
                // The YAML stream cannot be resynchronised after a syntax error. A merge-key
                // error stops too: the document it cut short may also hold one.
                break;
            }
        }
    }
}

/// Start lines of YAML documents: line 1, then the line after each `---` separator that
/// begins a new document. Best effort, used for report locations only.
fn document_starts(text: &str) -> Vec<usize> {
    let mut starts = Vec::new();
    let mut seen_content = false;
    for (i, line) in text.lines().enumerate() {
        let is_sep = line == "---" || line.starts_with("--- ");
        if is_sep {
            if seen_content || !starts.is_empty() {
                starts.push(i + 2);
            } else {
                starts.push(i + 2);
                seen_content = true;
                continue;
            }
        } else if !seen_content && !line.trim().is_empty() && !line.trim_start().starts_with('#') {
            starts.push(1);
            seen_content = true;
        }
    }
    if starts.is_empty() {
        starts.push(1);
    }
    starts
}

/// Where a document comes from (its file, index, line and text).
#[derive(Clone, Copy)]
struct DocSource<'a> {
    file: &'a str,
    index: usize,
    line: usize,
    source: &'a Arc<str>,
}

fn push_object(from: DocSource<'_>, at: Vec<FieldStep>, v: serde_json::Value, loaded: &mut Loaded) {
    let is_list = v
        .get("kind")
        .and_then(|k| k.as_str())
        .is_some_and(|k| k == "List" || k.ends_with("List"))
        && v.get("items").is_some_and(|i| i.is_array());
    if is_list {
        if let serde_json::Value::Object(mut map) = v
            && let Some(serde_json::Value::Array(items)) = map.remove("items")
        {
            for (i, item) in items.into_iter().enumerate() {
                let mut item_at = at.clone();
                item_at.extend([FieldStep::Key("items".into()), FieldStep::Index(i)]);
                push_object(from, item_at, item, loaded);
            }
        }
        return;
    }
    if !v.is_object() {
        loaded.errors.push(LoadError {
            file: from.file.to_owned(),
            document: Some(from.index),
            line: Some(from.line),
            message: "document is not an object".into(),
        });
        return;
    }
    loaded.documents.push(Document {
        file: from.file.to_owned(),
        index: from.index,
        line: from.line,
        value: v,
        at,
        source: from.source.clone(),
    });
}

/// The manifest set as the whole universe: PDBs, HPAs, NetworkPolicies, quotas and the
/// workloads themselves among the checked objects.
#[derive(Debug, Default)]
pub struct ManifestInventory {
    pdbs: Vec<PdbInfo>,
    hpas: Vec<(String, String, String, HpaInfo)>,
    exceptions: Vec<engine::exemptions::Exception>,
    network_policies: Vec<NetworkPolicyInfo>,
    quotas: Vec<(String, QuotaInfo)>,
    limit_ranges: Vec<(String, LimitRangeInfo)>,
    workloads: Vec<(String, PodsInfo)>,
    /// Namespaces holding a custom resource, which an operator may turn into pods (a
    /// Prometheus, an Alertmanager): there the workloads of the set are not all the pods.
    operated: BTreeSet<String>,
}

impl ManifestInventory {
    /// Builds the inventory from parsed workloads.
    pub fn from_workloads<'a>(objs: impl IntoIterator<Item = &'a Workload>) -> Self {
        let mut inv = ManifestInventory::default();
        for w in objs {
            match &w.body {
                Body::Pdb(spec) => inv.pdbs.push(PdbInfo {
                    namespace: crate::workload::namespace_or_default(w.namespace()).to_owned(),
                    name: w.name().to_owned(),
                    selector: spec.selector.clone(),
                    min_available: spec.min_available.clone(),
                    max_unavailable: spec.max_unavailable.clone(),
                }),
                Body::Hpa(spec) => inv.hpas.push((
                    crate::workload::namespace_or_default(w.namespace()).to_owned(),
                    spec.scale_target_ref.kind.clone(),
                    spec.scale_target_ref.name.clone(),
                    HpaInfo {
                        name: w.name().to_owned(),
                        min_replicas: spec.min_replicas.unwrap_or(1),
                        max_replicas: spec.max_replicas.unwrap_or(0),
                    },
                )),
                Body::Exception(_) => {
                    if let Some(mut e) = engine::exemptions::Exception::from_workload(w) {
                        e.namespace =
                            crate::workload::namespace_or_default(&e.namespace).to_owned();
                        inv.exceptions.push(e);
                    }
                }
                Body::NetworkPolicy(spec) => inv.network_policies.push(NetworkPolicyInfo {
                    namespace: crate::workload::namespace_or_default(w.namespace()).to_owned(),
                    name: w.name().to_owned(),
                    spec: spec.clone(),
                }),
                Body::ResourceQuota(spec) => inv.quotas.push((
                    crate::workload::namespace_or_default(w.namespace()).to_owned(),
                    QuotaInfo {
                        name: w.name().to_owned(),
                        hard: spec.hard.keys().cloned().collect(),
                    },
                )),
                Body::LimitRange(spec) => inv.limit_ranges.push((
                    crate::workload::namespace_or_default(w.namespace()).to_owned(),
                    LimitRangeInfo {
                        name: w.name().to_owned(),
                        limits: spec.limits.len(),
                    },
                )),
                _ => {}
            }
            if let Some(labels) = w.pod_labels() {
                inv.workloads.push((
                    crate::workload::namespace_or_default(w.namespace()).to_owned(),
                    PodsInfo {
                        kind: w.kind_name.clone(),
                        name: w.name().to_owned(),
                        labels: labels.clone(),
                    },
                ));
            }
        }
        inv
    }
}

impl Inventory for ManifestInventory {
    fn pdbs(&self, namespace: &str) -> Option<Vec<PdbInfo>> {
        let ns = crate::workload::namespace_or_default(namespace);
        Some(
            self.pdbs
                .iter()
                .filter(|p| p.namespace == ns)
                .cloned()
                .collect(),
        )
    }

    fn hpa_for(&self, namespace: &str, kind: &str, name: &str) -> Option<Option<HpaInfo>> {
        let ns = crate::workload::namespace_or_default(namespace);
        Some(
            self.hpas
                .iter()
                .find(|(n, k, nm, _)| n == ns && k == kind && nm == name)
                .map(|(_, _, _, h)| h.clone()),
        )
    }

    fn exceptions(
        &self,
        namespace: &str,
        own_namespace: &str,
    ) -> Option<Vec<engine::exemptions::Exception>> {
        let ns = crate::workload::namespace_or_default(namespace);
        Some(
            self.exceptions
                .iter()
                .filter(|e| e.namespace == ns || e.namespace == own_namespace)
                .cloned()
                .collect(),
        )
    }

    fn network_policies(&self, namespace: &str) -> Option<Vec<NetworkPolicyInfo>> {
        let ns = crate::workload::namespace_or_default(namespace);
        Some(
            self.network_policies
                .iter()
                .filter(|p| p.namespace == ns)
                .cloned()
                .collect(),
        )
    }

    fn resource_quotas(&self, namespace: &str) -> Option<Vec<QuotaInfo>> {
        Some(in_namespace(&self.quotas, namespace))
    }

    fn limit_ranges(&self, namespace: &str) -> Option<Vec<LimitRangeInfo>> {
        Some(in_namespace(&self.limit_ranges, namespace))
    }

    fn workloads(&self, namespace: &str) -> Option<Vec<PodsInfo>> {
        if self
            .operated
            .contains(crate::workload::namespace_or_default(namespace))
        {
            return None;
        }
        Some(in_namespace(&self.workloads, namespace))
    }

    fn is_complete(&self) -> bool {
        true
    }
}

/// Whether `object` belongs to an API group outside Kubernetes' own (and bulwark's): a
/// custom resource, which an operator may turn into pods bulwark cannot see.
fn is_custom_resource(object: &serde_json::Value) -> bool {
    let api_version = object
        .get("apiVersion")
        .and_then(|v| v.as_str())
        .unwrap_or("");
    let group = api_version.rsplit_once('/').map_or("", |(g, _)| g);
    !(group.is_empty()
        || group.ends_with(".k8s.io")
        || matches!(
            group,
            "apps" | "batch" | "policy" | "autoscaling" | "extensions" | "bulwark.dev"
        ))
}

/// The items of `all` in `namespace` (unset meaning `default`).
fn in_namespace<T: Clone>(all: &[(String, T)], namespace: &str) -> Vec<T> {
    let ns = crate::workload::namespace_or_default(namespace);
    all.iter()
        .filter(|(n, _)| n == ns)
        .map(|(_, t)| t.clone())
        .collect()
}

/// Where the object of a [`CheckFinding`] was read, and what that source adds to it.
///
/// Serialized flattened into the finding, so a file finding's JSON keeps the fields it always
/// had (`file`, `document`) and a cluster finding says how the auditor judged it instead.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(untagged)]
pub enum Origin {
    /// A manifest file (`bulwark check PATH...`).
    File {
        /// File (`-` for stdin).
        file: String,
        /// Document index in the file.
        document: usize,
        /// Line where the object's document starts (SARIF region; not in JSON output).
        #[serde(skip)]
        line: usize,
    },
    /// The live cluster (`bulwark check --cluster`), judged as the auditor judges it.
    Cluster {
        /// fail (enforce denies it, or would once the namespace enforces), warn, or skip
        /// (lifted by an exemption).
        result: Verdict,
        /// The mode the finding was judged in (the namespace's, capped by the rule's own).
        mode: Mode,
        /// For `skip`: the exemption that lifted the finding, and its reason.
        #[serde(skip_serializing_if = "Option::is_none")]
        exemption: Option<String>,
    },
}

/// One finding of `bulwark check` about one object, as `check --output json` prints it.
#[derive(Debug, Clone, Serialize)]
pub struct CheckFinding {
    /// Where the object was read.
    #[serde(flatten)]
    pub origin: Origin,
    /// Object kind.
    pub kind: String,
    /// Object namespace (`""` when unset, or cluster-scoped).
    pub namespace: String,
    /// Object name.
    pub name: String,
    /// Rule id.
    pub rule: &'static str,
    /// Rule category.
    pub category: &'static str,
    /// Severity.
    pub severity: Severity,
    /// Field path.
    pub path: String,
    /// Explanation.
    pub message: String,
}

impl CheckFinding {
    /// How the finding counts in text, SARIF and the exit code: `Error` when it fails the
    /// check, `Warning` when it is only reported, `None` when an exemption lifted it (listed
    /// in JSON only). A file finding counts at its severity (files have no modes); a cluster
    /// finding by its verdict, so `error` means "enforce denies this" in both.
    pub fn level(&self) -> Option<Severity> {
        match &self.origin {
            Origin::File { .. } => Some(self.severity),
            Origin::Cluster { result, .. } => match result {
                Verdict::Fail => Some(Severity::Error),
                Verdict::Warn => Some(Severity::Warning),
                Verdict::Skip => None,
            },
        }
    }

    /// How the object is named in reports: `Kind/namespace/name` for a file's object (as
    /// written in the manifest), `Kind namespace/name` for a live one (as kubectl names it).
    pub fn object(&self) -> String {
        let (kind, ns, name) = (&self.kind, &self.namespace, &self.name);
        match (&self.origin, ns.is_empty()) {
            (Origin::File { .. }, true) => format!("{kind}/{name}"),
            (Origin::File { .. }, false) => format!("{kind}/{ns}/{name}"),
            (Origin::Cluster { .. }, true) => format!("{kind} {name}"),
            (Origin::Cluster { .. }, false) => format!("{kind} {ns}/{name}"),
        }
    }
}

#[cfg(test)]
impl CheckFinding {
    /// A live object's finding for the renderers' tests: rule `rule` about `spec.a`, with
    /// the message "RULE message" and, when skipped, an exemption.
    pub(crate) fn live(
        kind: &str,
        namespace: &str,
        name: &str,
        rule: &'static str,
        result: Verdict,
        mode: Mode,
    ) -> CheckFinding {
        CheckFinding {
            origin: Origin::Cluster {
                result,
                mode,
                exemption: (result == Verdict::Skip).then(|| "BulwarkException x: why".into()),
            },
            kind: kind.into(),
            namespace: namespace.into(),
            name: name.into(),
            rule,
            category: "security",
            severity: Severity::Error,
            path: "spec.a".into(),
            message: format!("{rule} message"),
        }
    }
}

/// Result of checking a manifest set.
#[derive(Debug, Default)]
pub struct CheckResult {
    /// Findings, in document order (files) or by namespace and object (cluster).
    pub findings: Vec<CheckFinding>,
    /// Load and parse errors.
    pub errors: Vec<LoadError>,
    /// Number of objects evaluated.
    pub objects: usize,
}

impl CheckResult {
    /// Exit code: 2 on load/parse errors, 1 on a finding that fails ([`CheckFinding::level`]
    /// `Error`), else 0.
    pub fn exit_code(&self) -> u8 {
        if !self.errors.is_empty() {
            2
        } else if self
            .findings
            .iter()
            .any(|f| f.level() == Some(Severity::Error))
        {
            1
        } else {
            0
        }
    }
}

#[cfg(test)]
impl CheckResult {
    /// Findings about four live objects for the renderers' tests: a Namespace (warn, audit
    /// mode), `shop/web` (fail), `shop/agent` (exempted), `staging/worker` (fail, audit mode).
    pub(crate) fn live_sample() -> CheckResult {
        let live = CheckFinding::live;
        CheckResult {
            findings: vec![
                live(
                    "Namespace",
                    "",
                    "staging",
                    "namespace-pod-security",
                    Verdict::Warn,
                    Mode::Audit,
                ),
                live(
                    "Deployment",
                    "shop",
                    "web",
                    "privileged",
                    Verdict::Fail,
                    Mode::Enforce,
                ),
                live(
                    "Deployment",
                    "shop",
                    "agent",
                    "host-namespaces",
                    Verdict::Skip,
                    Mode::Enforce,
                ),
                live(
                    "Deployment",
                    "staging",
                    "worker",
                    "privileged",
                    Verdict::Fail,
                    Mode::Audit,
                ),
            ],
            errors: Vec::new(),
            objects: 5,
        }
    }
}

/// Evaluates every loaded document with the manifest set as inventory.
pub fn check(loaded: Loaded, policy: &Policy) -> CheckResult {
    let mut result = CheckResult {
        errors: loaded.errors,
        ..Default::default()
    };
    let mut parsed = Vec::with_capacity(loaded.documents.len());
    for doc in &loaded.documents {
        match Workload::from_value(&doc.value) {
            Ok(w) => parsed.push((doc, w)),
            Err(e) => result.errors.push(LoadError {
                file: doc.file.clone(),
                document: Some(doc.index),
                line: Some(doc.line_of(e.path())),
                message: e.to_string(),
            }),
        }
    }
    let mut inventory = ManifestInventory::from_workloads(parsed.iter().map(|(_, w)| w));
    inventory.operated = parsed
        .iter()
        .filter(|(doc, _)| is_custom_resource(&doc.value))
        .map(|(_, w)| crate::workload::namespace_or_default(w.namespace()).to_owned())
        .collect();
    let ctx = Context {
        inventory: Some(&inventory),
        today: Some(engine::exemptions::days_since_epoch(crate::clock::today())),
        ..Context::default()
    };
    for (doc, w) in &parsed {
        if w.kind == Kind::Other {
            continue;
        }
        result.objects += 1;
        let report = engine::evaluate(w, ctx, policy);
        for f in report.findings {
            result.findings.push(CheckFinding {
                origin: Origin::File {
                    file: doc.file.clone(),
                    document: doc.index,
                    line: doc.line,
                },
                kind: w.kind_name.clone(),
                namespace: w.namespace().to_owned(),
                name: w.name().to_owned(),
                rule: f.rule,
                category: f.category.as_str(),
                severity: f.severity,
                path: f.path,
                message: f.message,
            });
        }
    }
    result
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn multi_document_yaml_lists_and_errors() {
        let mut loaded = Loaded::default();
        let text = "kind: Pod\nmetadata: {name: a}\n---\n---\nkind: List\nitems:\n- {kind: Pod, metadata: {name: b}}\n- {kind: Pod, metadata: {name: c}}\n---\nkind: [oops\n";
        load_text("f.yaml", text, false, &mut loaded);
        let names: Vec<_> = loaded
            .documents
            .iter()
            .map(|d| (d.index, d.value["metadata"]["name"].as_str().unwrap_or("")))
            .collect();
        assert_eq!(names, [(0, "a"), (2, "b"), (2, "c")]);
        assert_eq!(loaded.errors.len(), 1);
        assert_eq!(loaded.errors[0].document, Some(3));
        assert!(loaded.errors[0].line.is_some());
    }

    /// The manifest set is the universe for exceptions too: a BulwarkException in bulwark's
    /// namespace lifts what it names for the objects it names, as on the cluster; one in the
    /// workload's own namespace does not count, and a malformed one is an error finding.
    #[test]
    fn exceptions_in_the_manifest_set() {
        const POD: &str = "kind: Pod\nmetadata: {name: web, namespace: shop}\nspec: {hostPID: true, containers: [{name: a, image: 'nginx:1.27'}]}\n";
        let rules_for = |exception: &str| {
            let mut loaded = Loaded::default();
            load_text(
                "f.yaml",
                &format!("{POD}---\n{exception}"),
                false,
                &mut loaded,
            );
            let result = check(loaded, &Policy::default());
            assert!(result.errors.is_empty(), "{:?}", result.errors);
            result
                .findings
                .iter()
                .map(|f| (f.kind.clone(), f.rule.to_owned()))
                .collect::<Vec<_>>()
        };
        let bex = |ns: &str, extra: &str| {
            format!(
                "apiVersion: bulwark.dev/v1alpha1\nkind: BulwarkException\nmetadata: {{name: x, namespace: {ns}}}\nspec: {{names: [web], rules: [host-namespaces], reason: r{extra}}}\n"
            )
        };
        let pod_rule =
            |f: &[(String, String)], rule: &str| f.iter().any(|(k, r)| k == "Pod" && r == rule);
        let central = rules_for(&bex("bulwark-system", ", namespaces: [shop]"));
        assert!(!pod_rule(&central, "host-namespaces"), "{central:?}");
        assert!(
            pod_rule(&central, "privilege-escalation"),
            "only what it names"
        );
        let local = rules_for(&bex("shop", ""));
        assert!(pod_rule(&local, "host-namespaces"), "{local:?}");
        let broken = rules_for(&bex(
            "bulwark-system",
            ", namespaces: [shop], expires: '2026-02-30'",
        ));
        assert!(pod_rule(&broken, "host-namespaces"), "{broken:?}");
        assert!(
            broken
                .iter()
                .any(|(k, r)| k == "BulwarkException" && r == "exemption"),
            "{broken:?}"
        );
    }

    /// ingress-nginx's examples had `value: true` in an env var, reported as the whole
    /// Deployment being invalid at its first line: the error names the field and its line, in
    /// YAML (also inside a `List`) and in JSON.
    #[test]
    fn parse_errors_name_the_field_and_its_line() {
        let deployment = "apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: web}\nspec:\n  template:\n    spec:\n      containers:\n      - name: app\n        image: web:1\n        env:\n        - name: ENABLED\n          value: true\n";
        let path = "spec.template.spec.containers[0].env[0].value";
        let error = |file: &str, text: &str, json: bool| {
            let mut loaded = Loaded::default();
            load_text(file, text, json, &mut loaded);
            let result = check(loaded, &Policy::default());
            assert_eq!(result.errors.len(), 1, "{:?}", result.errors);
            assert_eq!(result.exit_code(), 2);
            result.errors[0].clone()
        };
        let e = error(
            "f.yaml",
            &format!("kind: ConfigMap\n---\n{deployment}"),
            false,
        );
        assert_eq!((e.document, e.line), (Some(1), Some(14)), "{e}");
        assert_eq!(
            e.to_string(),
            format!(
                "f.yaml:14 (document 1): invalid Deployment object at {path}: invalid type: boolean `true`, expected a string"
            )
        );

        let indented: String = deployment.lines().map(|l| format!("  {l}\n")).collect();
        let list = format!("apiVersion: v1\nkind: List\nitems:\n- kind: ConfigMap\n-\n{indented}");
        let e = error("list.yaml", &list, false);
        assert_eq!(e.line, Some(17), "{e}");
        assert!(e.message.contains(path), "{e}");

        let v: serde_json::Value = serde_yaml_ng::from_str(deployment).expect("yaml");
        let json = serde_json::to_string_pretty(&v).expect("json");
        let line = json
            .lines()
            .position(|l| l.contains("\"value\": true"))
            .expect("line")
            + 1;
        let e = error("f.json", &json, true);
        assert_eq!(e.line, Some(line), "{e}\n{json}");
    }

    #[test]
    fn json_errors_carry_lines() {
        let mut loaded = Loaded::default();
        load_text("f.json", "{\n  \"kind\": \n}", true, &mut loaded);
        assert_eq!(loaded.errors[0].line, Some(3));
    }

    /// A Deployment whose one container has the given `securityContext` body (indented for
    /// its place), after an anchor `danger` defined in the file's first lines.
    fn deployment_with_security_context(security_context: &str) -> String {
        format!(
            "x-danger: &danger {{privileged: true, runAsUser: 0}}\n\
             apiVersion: apps/v1\nkind: Deployment\nmetadata: {{name: web, namespace: prod}}\n\
             spec:\n  template:\n    spec:\n      containers:\n      - name: app\n        \
             image: web:1\n        securityContext:\n{security_context}"
        )
    }

    fn privileged_paths(text: &str) -> Vec<String> {
        let mut loaded = Loaded::default();
        load_text("f.yaml", text, false, &mut loaded);
        let result = check(loaded, &Policy::default());
        assert!(result.errors.is_empty(), "{:?}", result.errors);
        result
            .findings
            .into_iter()
            .filter(|f| f.rule == "privileged")
            .map(|f| f.path)
            .collect()
    }

    #[test]
    fn merge_keys_reach_the_rules_as_kubectl_resolves_them() {
        let path = "spec.template.spec.containers[0].securityContext.privileged";
        // Through an alias, inline, and from a sequence (the earlier mapping wins).
        for sc in [
            "          <<: *danger\n",
            "          <<: {privileged: true, runAsUser: 0}\n",
            "          <<: [*danger, {privileged: false}]\n",
            // A merge after an explicit key overrides it: go-yaml v2 fills in document order.
            "          privileged: false\n          <<: *danger\n",
        ] {
            let text = deployment_with_security_context(sc);
            assert_eq!(privileged_paths(&text), [path], "{text}");
        }
        // An explicit key after the merge wins, as it does for kubectl.
        for sc in [
            "          <<: *danger\n          privileged: false\n",
            "          <<: [{privileged: false}, *danger]\n",
            // A quoted "<<" is an ordinary key, which the API server drops or rejects.
            "          \"<<\": *danger\n",
        ] {
            let text = deployment_with_security_context(sc);
            assert!(privileged_paths(&text).is_empty(), "{text}");
        }
    }

    #[test]
    fn a_bad_merge_value_is_a_load_error_with_its_line() {
        let mut loaded = Loaded::default();
        let text = deployment_with_security_context("          <<: true\n");
        load_text("f.yaml", &text, false, &mut loaded);
        assert!(loaded.documents.is_empty());
        let e = &loaded.errors[0];
        assert_eq!((e.document, e.line), (Some(0), Some(12)), "{e}");
        assert!(e.message.contains("`<<`"), "{e}");
        assert!(e.to_string().starts_with("f.yaml:12 (document 0): "), "{e}");
    }

    #[test]
    fn json_has_no_merge_keys() {
        let text = r#"{"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "p"},
            "spec": {"containers": [{"name": "a", "image": "a:1",
            "securityContext": {"privileged": true, "<<": {"privileged": false}}}]}}"#;
        // As a .json file and as JSON on stdin (which goes through the YAML parser).
        for json in [true, false] {
            let mut loaded = Loaded::default();
            load_text("f", text, json, &mut loaded);
            assert!(loaded.errors.is_empty(), "{:?}", loaded.errors);
            let sc = &loaded.documents[0].value["spec"]["containers"][0]["securityContext"];
            assert_eq!(sc["privileged"], true, "json: {json}");
            assert_eq!(sc["<<"]["privileged"], false, "json: {json}");
        }
    }

    #[test]
    fn document_start_lines() {
        assert_eq!(document_starts("a: 1\n---\nb: 2\n"), [1, 3]);
        assert_eq!(document_starts("# c\n---\na: 1\n---\nb: 2\n"), [3, 5]);
    }
}
