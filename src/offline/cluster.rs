//! `bulwark check --cluster`: what already runs in the cluster, read once through the
//! kubeconfig and judged by the auditor's own pass, into the [`CheckResult`] the file check
//! renders (`polaris audit`'s workflow, with admission's modes and exemptions).
//!
//! One paginated list per kind: Namespaces (their labels set the modes), PDBs, HPAs,
//! BulwarkExceptions, and every workload kind the auditor watches. Objects a built-in
//! controller made for an owner (a Deployment's ReplicaSets and their Pods) are dropped page
//! by page, as the auditor's caches prune them: their owner's template is what is judged, and
//! a large cluster's Pods never sit in memory at once. The pass is [`Snapshot::evaluate`], so
//! `check --cluster` says what the auditor's PolicyReports say: off namespaces are not
//! judged, exempt findings are `skip`, `fail` is what enforce denies (or would, once an
//! audit namespace enforces).

use std::path::PathBuf;

use kube::api::{Api, ApiResource, DynamicObject, ListParams};
use kube::config::{InferConfigError, KubeConfigOptions, Kubeconfig, KubeconfigError};
use kube::core::GroupVersionKind;
use kube::{Client, Config};

use super::{CheckFinding, CheckResult, LoadError, Origin};
use crate::audit::evaluate::{api_version, is_subject};
use crate::audit::{Object, Snapshot};
use crate::config::Policy;
use crate::workload::Kind;

/// Objects per list request: kube-runtime's watcher pages its lists the same way.
const PAGE: u32 = 500;

/// The kinds listed besides Namespaces: the context the rules and exemptions read first,
/// then every workload kind the auditor watches, each with its resource (plural).
const LISTED: [(Kind, &str); 11] = [
    (Kind::PodDisruptionBudget, "poddisruptionbudgets"),
    (Kind::HorizontalPodAutoscaler, "horizontalpodautoscalers"),
    (Kind::BulwarkException, "bulwarkexceptions"),
    (Kind::Deployment, "deployments"),
    (Kind::StatefulSet, "statefulsets"),
    (Kind::DaemonSet, "daemonsets"),
    (Kind::ReplicaSet, "replicasets"),
    (Kind::ReplicationController, "replicationcontrollers"),
    (Kind::Job, "jobs"),
    (Kind::CronJob, "cronjobs"),
    (Kind::Pod, "pods"),
];

/// Which cluster to read, and how much of it.
#[derive(Debug, Clone, Default)]
pub struct Target {
    /// A kubeconfig file; without it, `KUBECONFIG`, `~/.kube/config`, then the in-cluster
    /// service account, as kube's `Config::infer` looks.
    pub kubeconfig: Option<PathBuf>,
    /// A context of the kubeconfig other than its current one.
    pub context: Option<String>,
    /// Only this namespace: its objects, judged with its labels and the exemptions that
    /// reach it (its own and bulwark's namespace's).
    pub namespace: Option<String>,
    /// bulwark's own namespace: never judged; its BulwarkExceptions cover others.
    pub own_namespace: String,
}

/// Why the cluster could not be checked (`check` exits 2).
#[derive(Debug, thiserror::Error)]
pub enum ClusterCheckError {
    /// The kubeconfig named on the command line, or its context, is unusable.
    #[error("cannot use the kubeconfig")]
    Kubeconfig(#[source] KubeconfigError),
    /// Neither a kubeconfig nor an in-cluster service account was found.
    #[error("no cluster configuration (KUBECONFIG, ~/.kube/config or in-cluster)")]
    Infer(#[source] InferConfigError),
    /// The client could not be built from the configuration (TLS, auth plugin).
    #[error("cannot build a Kubernetes client")]
    Client(#[source] kube::Error),
    /// The API server did not answer.
    #[error("cannot reach the Kubernetes API server at {server}")]
    Unreachable {
        /// The server URL from the configuration.
        server: String,
        /// What the connection attempt said.
        #[source]
        source: kube::Error,
    },
    /// A list failed (permissions, usually).
    #[error("cannot list {resource}{}", in_namespace(.namespace))]
    List {
        /// The resource (plural).
        resource: &'static str,
        /// The namespace listed, if not all.
        namespace: Option<String>,
        /// The API's answer.
        #[source]
        source: kube::Error,
    },
    /// `--namespace` names a namespace the cluster does not have.
    #[error("namespace {0:?} does not exist")]
    NoSuchNamespace(String),
}

fn in_namespace(namespace: &Option<String>) -> String {
    namespace
        .as_ref()
        .map_or_else(String::new, |ns| format!(" in namespace {ns}"))
}

/// Reads the cluster `target` names and judges it with `policy`; `today` in days since the
/// epoch (exemption expiry).
pub async fn check(
    target: &Target,
    policy: &Policy,
    today: i64,
) -> Result<CheckResult, ClusterCheckError> {
    let config = config(target).await?;
    let server = config.cluster_url.to_string();
    let client = Client::try_from(config).map_err(ClusterCheckError::Client)?;
    // One cheap request first, so an unreachable server is said as such rather than as a
    // failed list of namespaces.
    client
        .apiserver_version()
        .await
        .map_err(|source| ClusterCheckError::Unreachable { server, source })?;
    let (objects, errors) = list(&client, target, policy).await?;
    Ok(judge(
        objects,
        errors,
        target.namespace.as_deref(),
        policy,
        &target.own_namespace,
        today,
    ))
}

async fn config(target: &Target) -> Result<Config, ClusterCheckError> {
    let options = KubeConfigOptions {
        context: target.context.clone(),
        ..KubeConfigOptions::default()
    };
    match (&target.kubeconfig, &target.context) {
        (Some(path), _) => {
            let kubeconfig = Kubeconfig::read_from(path).map_err(ClusterCheckError::Kubeconfig)?;
            Config::from_custom_kubeconfig(kubeconfig, &options)
                .await
                .map_err(ClusterCheckError::Kubeconfig)
        }
        (None, Some(_)) => Config::from_kubeconfig(&options)
            .await
            .map_err(ClusterCheckError::Kubeconfig),
        (None, None) => Config::infer().await.map_err(ClusterCheckError::Infer),
    }
}

fn resource(kind: Kind, plural: &str) -> ApiResource {
    let (group, version) = api_version(kind).rsplit_once('/').unwrap_or(("", "v1"));
    ApiResource::from_gvk_with_plural(
        &GroupVersionKind::gvk(group, version, kind.as_str()),
        plural,
    )
}

/// Lists what `target` covers: the objects to judge and their context, and the objects that
/// could not be read.
async fn list(
    client: &Client,
    target: &Target,
    policy: &Policy,
) -> Result<(Vec<Object>, Vec<LoadError>), ClusterCheckError> {
    let mut listed = Listed {
        policy,
        objects: Vec::new(),
        errors: Vec::new(),
    };
    let namespaces = resource(Kind::Namespace, "namespaces");
    let all = Api::<DynamicObject>::all_with(client.clone(), &namespaces);
    match &target.namespace {
        None => {
            for item in pages(&all, "namespaces", None).await? {
                listed.add(Kind::Namespace, item);
            }
        }
        Some(ns) => match all.get_opt(ns).await {
            Ok(Some(item)) => listed.add(Kind::Namespace, item),
            Ok(None) => return Err(ClusterCheckError::NoSuchNamespace(ns.clone())),
            Err(source) => {
                return Err(ClusterCheckError::List {
                    resource: "namespaces",
                    namespace: None,
                    source,
                });
            }
        },
    }
    for (kind, plural) in LISTED {
        let ar = resource(kind, plural);
        let scopes: Vec<Option<&str>> = match (&target.namespace, kind) {
            (None, _) => vec![None],
            // bulwark's own namespace's exceptions may cover the one checked.
            (Some(ns), Kind::BulwarkException) if *ns != target.own_namespace => {
                vec![Some(ns.as_str()), Some(target.own_namespace.as_str())]
            }
            (Some(ns), _) => vec![Some(ns.as_str())],
        };
        for scope in scopes {
            let api = match scope {
                None => Api::<DynamicObject>::all_with(client.clone(), &ar),
                Some(ns) => Api::<DynamicObject>::namespaced_with(client.clone(), ns, &ar),
            };
            let items = match pages(&api, plural, scope).await {
                // Without the CRD there is no BulwarkException to apply.
                Err(ClusterCheckError::List {
                    source: kube::Error::Api(e),
                    ..
                }) if e.code == 404 && kind == Kind::BulwarkException => Vec::new(),
                other => other?,
            };
            for item in items {
                listed.add(kind, item);
            }
        }
    }
    Ok((listed.objects, listed.errors))
}

/// Every page of one list.
async fn pages(
    api: &Api<DynamicObject>,
    resource: &'static str,
    namespace: Option<&str>,
) -> Result<Vec<DynamicObject>, ClusterCheckError> {
    let mut params = ListParams::default().limit(PAGE);
    let mut items = Vec::new();
    loop {
        let page = api
            .list(&params)
            .await
            .map_err(|source| ClusterCheckError::List {
                resource,
                namespace: namespace.map(str::to_owned),
                source,
            })?;
        items.extend(page.items);
        match page.metadata.continue_ {
            Some(token) if !token.is_empty() => params = params.continue_token(&token),
            _ => return Ok(items),
        }
    }
}

/// The objects kept so far.
struct Listed<'p> {
    policy: &'p Policy,
    objects: Vec<Object>,
    errors: Vec<LoadError>,
}

impl Listed<'_> {
    /// Keeps `item` if the pass needs it: context always, a workload only when it is judged
    /// as itself.
    fn add(&mut self, kind: Kind, item: DynamicObject) {
        let mut value = match serde_json::to_value(&item) {
            Ok(v) => v,
            Err(e) => return self.unreadable(kind, &item, e.to_string()),
        };
        // The items of a list do not repeat their kind and apiVersion.
        value["kind"] = kind.as_str().into();
        value["apiVersion"] = api_version(kind).into();
        let at = self.objects.len();
        if let Err(e) = Snapshot::insert_value(&mut self.objects, &value) {
            return self.unreadable(kind, &item, e.to_string());
        }
        let context = matches!(
            kind,
            Kind::Namespace
                | Kind::PodDisruptionBudget
                | Kind::HorizontalPodAutoscaler
                | Kind::BulwarkException
        );
        if !context && !is_subject(&self.objects[at].workload, self.policy) {
            self.objects.truncate(at);
        }
    }

    fn unreadable(&mut self, kind: Kind, item: &DynamicObject, message: String) {
        let m = &item.metadata;
        let name = m.name.as_deref().unwrap_or("");
        let file = match m.namespace.as_deref() {
            Some(ns) => format!("{} {ns}/{name}", kind.as_str()),
            None => format!("{} {name}", kind.as_str()),
        };
        self.errors.push(LoadError {
            file,
            document: None,
            line: None,
            message,
        });
    }
}

/// Judges `objects` with the auditor's pass and lists the results as `check` reports them:
/// by namespace (cluster-scoped objects first), then object by object. `only` keeps one
/// namespace's results (what its PolicyReport would hold). Pure.
pub fn judge(
    objects: Vec<Object>,
    errors: Vec<LoadError>,
    only: Option<&str>,
    policy: &Policy,
    own_namespace: &str,
    today: i64,
) -> CheckResult {
    let results = Snapshot::new(objects, false).evaluate(policy, own_namespace, today);
    let mut out = CheckResult {
        errors,
        ..CheckResult::default()
    };
    for (scope, audit) in results {
        if only.is_some_and(|ns| ns != scope) {
            continue;
        }
        out.objects += audit.objects;
        let mut findings = audit.findings;
        // A report lists every failure first; a reader wants each object's findings together
        // (a stable sort keeps them in the report's order within an object).
        findings.sort_by(|a, b| {
            (a.subject.kind, &a.subject.name).cmp(&(b.subject.kind, &b.subject.name))
        });
        out.findings
            .extend(findings.into_iter().map(|f| CheckFinding {
                origin: Origin::Cluster {
                    result: f.verdict,
                    mode: f.mode,
                    exemption: f.exemption,
                },
                kind: f.subject.kind.to_owned(),
                namespace: f.subject.namespace.clone(),
                name: f.subject.name.clone(),
                rule: f.rule,
                category: f.category.as_str(),
                severity: f.severity,
                path: f.path,
                message: f.message,
            }));
    }
    out
}

#[cfg(test)]
mod tests {
    use serde_json::{Value, json};

    use super::*;
    use crate::audit::Verdict;

    const OWN: &str = "bulwark-system";

    fn namespace(name: &str, mode: Option<&str>) -> Value {
        let mut labels = json!({"pod-security.kubernetes.io/enforce": "restricted"});
        if let Some(mode) = mode {
            labels["bulwark.dev/mode"] = json!(mode);
        }
        json!({"metadata": {"name": name, "uid": format!("uid-{name}"), "labels": labels}})
    }

    /// A Deployment with one container; `security` is its pod's extra spec fields and the
    /// container's securityContext.
    fn deployment(ns: &str, name: &str, pod: Value, container: Value) -> Value {
        let mut spec = json!({"containers": [{"name": "app", "image": "registry.example/app:1.0",
            "securityContext": container}]});
        for (k, v) in pod.as_object().into_iter().flatten() {
            spec[k] = v.clone();
        }
        json!({"metadata": {"name": name, "namespace": ns, "uid": format!("uid-{name}")},
            "spec": {"replicas": 2, "selector": {"matchLabels": {"app": name}},
                "template": {"metadata": {"labels": {"app": name}}, "spec": spec}}})
    }

    fn item(value: Value) -> DynamicObject {
        serde_json::from_value(value).expect("a DynamicObject")
    }

    /// Objects as `list` keeps them, from list items (without kind or apiVersion).
    fn listed(items: Vec<(Kind, Value)>) -> (Vec<Object>, Vec<LoadError>) {
        let policy = Policy::default();
        let mut listed = Listed {
            policy: &policy,
            objects: Vec::new(),
            errors: Vec::new(),
        };
        for (kind, value) in items {
            listed.add(kind, item(value));
        }
        (listed.objects, listed.errors)
    }

    fn cluster() -> Vec<(Kind, Value)> {
        let privileged = json!({"privileged": true});
        vec![
            (Kind::Namespace, namespace("shop", Some("enforce"))),
            (Kind::Namespace, namespace("staging", Some("audit"))),
            (Kind::Namespace, namespace("legacy", Some("off"))),
            (Kind::Namespace, namespace(OWN, None)),
            (
                Kind::BulwarkException,
                json!({"metadata": {"name": "agent", "namespace": OWN},
                    "spec": {"namespaces": ["shop"], "names": ["agent"],
                        "rules": ["host-namespaces"], "reason": "reads host metrics"}}),
            ),
            (
                Kind::Deployment,
                deployment("shop", "web", json!({}), privileged.clone()),
            ),
            (
                Kind::Deployment,
                deployment("shop", "agent", json!({"hostPID": true}), json!({})),
            ),
            (
                Kind::Deployment,
                deployment("staging", "worker", json!({}), privileged.clone()),
            ),
            (
                Kind::Deployment,
                deployment("legacy", "old", json!({}), privileged),
            ),
        ]
    }

    /// (object, rule, result) of the findings of `rules`.
    fn verdicts(result: &CheckResult, rules: &[&str]) -> Vec<(String, &'static str, Verdict)> {
        result
            .findings
            .iter()
            .filter(|f| rules.contains(&f.rule))
            .map(|f| match &f.origin {
                Origin::Cluster { result, .. } => (f.object(), f.rule, *result),
                Origin::File { .. } => panic!("a file finding from the cluster: {f:?}"),
            })
            .collect()
    }

    /// Modes, opt-out and exemptions as the auditor applies them, and `only` keeping one
    /// namespace's results.
    #[test]
    fn the_cluster_is_judged_as_the_auditor_judges_it() {
        let (objects, errors) = listed(cluster());
        assert!(errors.is_empty(), "{errors:?}");
        let policy = Policy::default();
        let all = judge(objects, Vec::new(), None, &policy, OWN, 20_000);
        let rules = ["privileged", "host-namespaces"];
        assert_eq!(
            verdicts(&all, &rules),
            [
                (
                    "Deployment shop/agent".into(),
                    "host-namespaces",
                    Verdict::Skip
                ),
                ("Deployment shop/web".into(), "privileged", Verdict::Fail),
                // Audit mode: not denied today, but enforce would deny it.
                (
                    "Deployment staging/worker".into(),
                    "privileged",
                    Verdict::Fail
                ),
            ]
        );
        assert!(
            all.findings.iter().all(|f| f.namespace != "legacy"),
            "an off namespace is not judged: {:?}",
            all.findings
        );
        // Three Deployments and the Namespaces the cluster scope judges (shop, staging).
        assert_eq!(all.objects, 5);
        assert_eq!(all.exit_code(), 1);
        let skipped = all
            .findings
            .iter()
            .find(|f| f.name == "agent" && f.rule == "host-namespaces");
        assert!(
            matches!(skipped.map(|f| &f.origin), Some(Origin::Cluster { exemption: Some(e), .. }) if e.contains("reads host metrics")),
            "{skipped:?}"
        );

        let (objects, _) = listed(cluster());
        let staging = judge(objects, Vec::new(), Some("staging"), &policy, OWN, 20_000);
        assert_eq!(
            verdicts(&staging, &rules),
            [(
                "Deployment staging/worker".into(),
                "privileged",
                Verdict::Fail
            )]
        );
        assert!(staging.findings.iter().all(|f| f.namespace == "staging"));
        assert_eq!(staging.objects, 1);

        let (objects, _) = listed(cluster());
        let legacy = judge(objects, Vec::new(), Some("legacy"), &policy, OWN, 20_000);
        assert!(legacy.findings.is_empty(), "{:?}", legacy.findings);
        assert_eq!((legacy.objects, legacy.exit_code()), (0, 0));
    }

    /// List items carry no kind; objects a built-in controller made for an owner are not
    /// kept (their owner is judged), anything else is, and a bad item is unreadable, not a
    /// reason to stop.
    #[test]
    fn items_get_their_kind_and_controller_made_objects_are_dropped() {
        let pod = |name: &str, owner: Value| {
            json!({"metadata": {"name": name, "namespace": "shop", "ownerReferences": owner},
                "spec": {"containers": [{"name": "a", "image": "a:1"}]}})
        };
        let rs_owner = json!([{"apiVersion": "apps/v1", "kind": "ReplicaSet", "name": "web-1",
            "uid": "u", "controller": true}]);
        let operator_owner = json!([{"apiVersion": "example.com/v1", "kind": "Database",
            "name": "db", "uid": "u", "controller": true}]);
        let (objects, errors) = listed(vec![
            (Kind::Pod, pod("web-1-abcde", rs_owner)),
            (Kind::Pod, pod("db-0", operator_owner)),
            (Kind::Pod, pod("debug", Value::Null)),
            (
                Kind::Pod,
                json!({"metadata": {"name": "broken", "namespace": "shop"},
                    "spec": {"containers": "not a list"}}),
            ),
        ]);
        let kept: Vec<(Kind, &str)> = objects
            .iter()
            .map(|o| (o.workload.kind, o.workload.name()))
            .collect();
        assert_eq!(kept, [(Kind::Pod, "db-0"), (Kind::Pod, "debug")]);
        assert_eq!(errors.len(), 1, "{errors:?}");
        assert!(
            errors[0].to_string().starts_with("Pod shop/broken: "),
            "{}",
            errors[0]
        );
    }
}
