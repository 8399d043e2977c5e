//! One audit pass, pure and synchronous: objects plus a [`Cluster`] view in, per-scope
//! results out, judged exactly as admission would judge the same objects.
//!
//! Modes, opt-in and exemptions go through admission's own functions
//! ([`Admission::namespace_exempt`], [`Admission::namespace_mode`], [`rule_mode`],
//! [`Admission::context`]) and the engine's [`engine::evaluate`], so the auditor cannot drift
//! from the webhook: what it reports as `fail` in an audit namespace is what enforce would deny.

use std::collections::BTreeMap;
use std::sync::Arc;

use serde::Serialize;

use crate::admission::{Admission, rule_mode};
use crate::config::{Mode, Policy};
use crate::engine::{self, Category, Severity};
use crate::workload::{Kind, Workload};

/// The scope key of cluster-scoped objects (Namespaces): they go to the ClusterPolicyReport.
pub const CLUSTER_SCOPE: &str = "";

/// What a report says about one finding, in the policy working group's terms.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Verdict {
    /// Enforce denies this (an `error` finding of a rule not capped at audit), or would once
    /// the namespace is switched from audit to enforce.
    Fail,
    /// Reported, never denied: a `warning` finding, or a rule whose own mode is audit.
    Warn,
    /// Lifted by an exemption; the finding carries the exemption's reason.
    Skip,
}

impl Verdict {
    /// The PolicyReport `result` value.
    pub fn as_str(self) -> &'static str {
        match self {
            Verdict::Fail => "fail",
            Verdict::Warn => "warn",
            Verdict::Skip => "skip",
        }
    }
}

/// The object a finding is about, as a report's `resources[]` names it.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
pub struct Subject {
    /// `apiVersion`, e.g. `apps/v1`.
    pub api_version: &'static str,
    /// Kind, e.g. `Deployment`.
    pub kind: &'static str,
    /// Namespace; empty for cluster-scoped objects.
    pub namespace: String,
    /// Name.
    pub name: String,
    /// `metadata.uid`, when known (it tells a recreated object from its predecessor).
    pub uid: String,
}

/// One result about one object.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct AuditFinding {
    /// The object (shared by all of its findings).
    #[serde(serialize_with = "shared")]
    pub subject: Arc<Subject>,
    /// Rule id.
    pub rule: &'static str,
    /// Rule category.
    pub category: Category,
    /// Effective severity.
    pub severity: Severity,
    /// fail, warn or skip.
    pub verdict: Verdict,
    /// Dotted field path in the object.
    pub path: String,
    /// The finding's explanation.
    pub message: String,
    /// The mode the finding was judged in (audit or enforce).
    pub mode: Mode,
    /// For `skip`: which exemption lifted the finding, and its reason.
    pub exemption: Option<String>,
}

fn shared<S: serde::Serializer>(subject: &Arc<Subject>, s: S) -> Result<S::Ok, S::Error> {
    subject.as_ref().serialize(s)
}

/// The results of one scope (a namespace, or [`CLUSTER_SCOPE`]).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct ScopeAudit {
    /// The namespace's mode when judged (its label, else the policy's); `None` for the
    /// cluster scope, where each Namespace has its own. What the `/report` page shows.
    pub mode: Option<Mode>,
    /// How many objects were evaluated (with or without findings).
    pub objects: usize,
    /// Every result, in a stable order: verdict, then subject, then rule catalogue order.
    pub findings: Vec<AuditFinding>,
}

impl ScopeAudit {
    /// How many results have verdict `v`.
    pub fn count(&self, v: Verdict) -> usize {
        self.findings.iter().filter(|f| f.verdict == v).count()
    }
}

/// The results of a pass, by scope. A scope that was evaluated but has no object in force
/// (every namespace off or exempt) is absent.
pub type AuditResults = BTreeMap<String, ScopeAudit>;

/// An object as the auditor holds it: the engine's view plus the uid a report names. Cheap
/// to clone: the cache and every snapshot share the view.
#[derive(Debug, Clone)]
pub struct Object {
    /// The engine's view of the object.
    pub workload: Arc<Workload>,
    /// `metadata.uid` (empty when unknown).
    pub uid: String,
}

/// The `apiVersion` the API serves `kind` at, for report references.
pub fn api_version(kind: Kind) -> &'static str {
    match kind {
        Kind::Pod
        | Kind::ReplicationController
        | Kind::Namespace
        | Kind::ResourceQuota
        | Kind::LimitRange => "v1",
        Kind::Ingress | Kind::NetworkPolicy => "networking.k8s.io/v1",
        Kind::Deployment | Kind::StatefulSet | Kind::DaemonSet | Kind::ReplicaSet => "apps/v1",
        Kind::Job | Kind::CronJob => "batch/v1",
        Kind::HorizontalPodAutoscaler => "autoscaling/v2",
        Kind::PodDisruptionBudget => "policy/v1",
        Kind::BulwarkException => "bulwark.dev/v1alpha1",
        Kind::Other => "",
    }
}

/// Whether an object of `kind` whose controller ownerReference names `owner_api_version`
/// `owner_kind` was made by a built-in controller for that owner, per the policy's
/// `admission.controllers` (the same table admission trusts).
pub fn made_for_owner(
    policy: &Policy,
    kind: &str,
    owner_api_version: &str,
    owner_kind: &str,
) -> bool {
    let group = owner_api_version
        .rsplit_once('/')
        .map_or("", |(group, _version)| group);
    policy
        .admission
        .controllers
        .iter()
        .any(|c| c.kind == kind && c.owner_group_kind() == (group, owner_kind))
}

/// Whether the auditor judges `obj` as itself. Not: kinds bulwark does not know, objects
/// being deleted (they are on their way out), and objects a built-in controller made for an
/// owner ([`made_for_owner`]: a Deployment's ReplicaSets, their Pods, a CronJob's Jobs):
/// their owner's template is judged instead, once, rather than once per copy. An object
/// whose controller is not a built-in one (an operator's Pods) is judged as itself, as
/// admission judges it when the requester is not a known controller.
pub fn is_subject(obj: &Workload, policy: &Policy) -> bool {
    if obj.kind == Kind::Other || obj.meta.deletion_timestamp.is_some() {
        return false;
    }
    obj.controller_owner()
        .is_none_or(|o| !made_for_owner(policy, &obj.kind_name, &o.api_version, &o.kind))
}

/// The scope an object's results belong to: its namespace, or [`CLUSTER_SCOPE`].
pub fn scope_of(obj: &Workload) -> &str {
    match (obj.kind, obj.namespace()) {
        (Kind::Namespace, _) => CLUSTER_SCOPE,
        // An object read from the API always has one; a manifest without one lands in default.
        (_, ns) => crate::workload::namespace_or_default(ns),
    }
}

/// Judges one object as admission would judge its CREATE. `None` when it is not judged at
/// all: not a subject ([`is_subject`]), or in a namespace that is exempt or whose mode is
/// off (not reported). `Some` with no findings for an object that passes.
pub fn evaluate_object(obj: &Object, admission: &Admission<'_>) -> Option<Vec<AuditFinding>> {
    let w = &obj.workload;
    if !is_subject(w, admission.policy) {
        return None;
    }
    // As admission: a Namespace is judged in itself, with its own labels.
    let (namespace, own_labels) = match w.kind {
        Kind::Namespace => (w.name(), Some(&w.meta.labels)),
        _ => (scope_of(w), None),
    };
    if admission.namespace_exempt(namespace) {
        return None;
    }
    let mode = admission.namespace_mode(namespace, own_labels);
    if mode == Mode::Off {
        return None;
    }
    let report = engine::evaluate(w, admission.context(None), admission.policy);
    let subject = Arc::new(Subject {
        api_version: api_version(w.kind),
        kind: w.kind.as_str(),
        namespace: w.namespace().to_owned(),
        name: w.name().to_owned(),
        uid: obj.uid.clone(),
    });
    let mut out = Vec::with_capacity(report.findings.len() + report.exempted.len());
    for f in report.findings {
        let judged = rule_mode(admission.policy, f.rule, mode);
        if judged == Mode::Off {
            continue;
        }
        // Whether enforce would deny it: the namespace's own mode does not count (an audit
        // namespace is exactly where this question is asked), the rule's own cap does.
        let denies = f.severity == Severity::Error
            && rule_mode(admission.policy, f.rule, Mode::Enforce) == Mode::Enforce;
        out.push(AuditFinding {
            subject: subject.clone(),
            rule: f.rule,
            category: f.category,
            severity: f.severity,
            verdict: if denies { Verdict::Fail } else { Verdict::Warn },
            path: f.path,
            message: f.message,
            mode: judged,
            exemption: None,
        });
    }
    for e in report.exempted {
        let judged = rule_mode(admission.policy, e.finding.rule, mode);
        if judged == Mode::Off {
            continue;
        }
        out.push(AuditFinding {
            subject: subject.clone(),
            rule: e.finding.rule,
            category: e.finding.category,
            severity: e.finding.severity,
            verdict: Verdict::Skip,
            path: e.finding.path,
            message: e.finding.message,
            mode: judged,
            exemption: Some(e.reason),
        });
    }
    Some(out)
}

/// Judges every object, grouping results by scope. A scope's results come out in the order
/// a capped report keeps: failures first, errors before warnings, then by object, then in
/// catalogue order within an object, so the same cluster always gives the same report.
pub fn evaluate<'o>(
    objects: impl IntoIterator<Item = &'o Object>,
    admission: &Admission<'_>,
) -> AuditResults {
    // Objects in subject order first, so that ordering the results afterwards is a stable
    // sort on (verdict, severity) alone instead of string compares of every pair.
    let mut objects: Vec<&Object> = objects.into_iter().collect();
    objects.sort_by(|a, b| subject_key(a).cmp(&subject_key(b)));
    let mut results = AuditResults::new();
    for obj in objects {
        if let Some(findings) = evaluate_object(obj, admission) {
            let scope = scope_of(&obj.workload);
            let scope = results
                .entry(scope.to_owned())
                .or_insert_with(|| ScopeAudit {
                    mode: (scope != CLUSTER_SCOPE).then(|| admission.namespace_mode(scope, None)),
                    ..ScopeAudit::default()
                });
            scope.objects += 1;
            scope.findings.extend(findings);
        }
    }
    for scope in results.values_mut() {
        scope
            .findings
            .sort_by_key(|f| (f.verdict, std::cmp::Reverse(f.severity)));
    }
    results
}

/// The order of [`Subject`] (its derived `Ord`), read from the object.
fn subject_key(o: &Object) -> (&'static str, &'static str, &str, &str, &str) {
    let w = &o.workload;
    (
        api_version(w.kind),
        w.kind.as_str(),
        w.namespace(),
        w.name(),
        &o.uid,
    )
}
