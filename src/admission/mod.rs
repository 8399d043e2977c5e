//! AdmissionReview in, AdmissionReview out: decoding, mode resolution, the verdict and the
//! response. No HTTP types here, so the whole admission decision is testable without a server.
//!
//! Audit mode evaluates exactly as enforce does and only rewrites the verdict (the model is
//! Kubewarden's monitor mode), so switching a namespace from audit to enforce denies exactly
//! what audit reported.

use std::borrow::Cow;
use std::collections::BTreeMap;
use std::fmt::Write as _;

use base64::Engine as _;
use serde::{Deserialize, Serialize};
use serde_json::value::RawValue;

use crate::config::{Mode, Policy, Scope};
use crate::engine::{self, Context, Finding, Inventory, Severity};
use crate::mutate;
use crate::workload::{Kind, Workload};

mod decode;
use decode::{Inline, ObjectIn, RequestIn, UserInfo};

/// The only AdmissionReview version bulwark speaks.
pub const API_VERSION: &str = "admission.k8s.io/v1";
/// Namespace label that opts a namespace in and chooses its mode (`enforce|audit|off`).
pub const MODE_LABEL: &str = "bulwark.dev/mode";
/// The API server truncates each warning to this many characters.
const MAX_WARNING: usize = 256;
/// ... and drops warnings past this total.
const MAX_WARNINGS_TOTAL: usize = 4096;
/// Denial messages longer than this are cut, with a count of what was left out.
const MAX_MESSAGE: usize = 1024;

/// What the cluster tells admission beyond the engine's inventory.
pub trait Cluster: Inventory {
    /// Labels of namespace `name`; `None` when unknown (no data, or not found).
    fn namespace_labels(&self, name: &str) -> Option<BTreeMap<String, String>>;
    /// The engine inventory (the same object, as a trait object).
    fn as_inventory(&self) -> &dyn Inventory;
}

/// Which endpoint is being served.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Endpoint {
    /// `POST /validate`.
    Validate,
    /// `POST /mutate`.
    Mutate,
}

impl Endpoint {
    /// Lowercase name.
    pub fn as_str(self) -> &'static str {
        match self {
            Endpoint::Validate => "validate",
            Endpoint::Mutate => "mutate",
        }
    }
}

/// Why a request body is not a usable AdmissionReview (answered with HTTP 400).
#[derive(Debug, thiserror::Error)]
pub enum ReviewError {
    /// Not JSON, or not the right shape.
    #[error("malformed AdmissionReview: {0}")]
    Json(#[from] serde_json::Error),
    /// `apiVersion`/`kind` are not `admission.k8s.io/v1` `AdmissionReview`.
    #[error(
        "expected apiVersion {API_VERSION} and kind AdmissionReview, got apiVersion {api_version:?} kind {kind:?}"
    )]
    WrongType {
        /// What was sent.
        api_version: String,
        /// What was sent.
        kind: String,
    },
    /// `request` is missing.
    #[error("AdmissionReview has no `request`")]
    MissingRequest,
    /// `request.uid` is missing or empty.
    #[error("AdmissionReview request has no `uid`")]
    MissingUid,
}

/// How a request was decided (for logs and metrics).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Decision {
    /// Admitted with nothing to say.
    Allowed,
    /// Admitted with warnings (warning findings or audit-mode findings).
    Warned,
    /// Denied.
    Denied,
    /// Not evaluated (exempt namespace/user, mode off, DELETE/CONNECT, unknown kind).
    Skipped,
    /// The request could not be evaluated (bad object); answered with allowed: false.
    Invalid,
}

impl Decision {
    /// Lowercase name.
    pub fn as_str(self) -> &'static str {
        match self {
            Decision::Allowed => "allowed",
            Decision::Warned => "warned",
            Decision::Denied => "denied",
            Decision::Skipped => "skipped",
            Decision::Invalid => "invalid",
        }
    }
}

/// The verdict on one AdmissionReview, plus what logs and metrics need.
#[derive(Debug, Clone)]
pub struct Outcome {
    /// `request.uid`, echoed.
    pub uid: String,
    /// `response.allowed`.
    pub allowed: bool,
    /// `response.status` when denied: (code, message).
    pub status: Option<(u16, String)>,
    /// `response.warnings`.
    pub warnings: Vec<String>,
    /// `response.auditAnnotations`.
    pub audit_annotations: BTreeMap<String, String>,
    /// The JSON patch (serialized) when mutating and something changed.
    pub patch: Option<Vec<u8>>,
    /// How it was decided.
    pub decision: Decision,
    /// The mode the object was evaluated in.
    pub mode: Mode,
    /// Object kind (from `request.kind`).
    pub kind: String,
    /// Namespace.
    pub namespace: String,
    /// Name.
    pub name: String,
    /// Operation.
    pub operation: String,
    /// `request.dryRun`.
    pub dry_run: bool,
    /// Findings that counted, with the mode each was judged in.
    pub findings: Vec<(Finding, Mode)>,
    /// Rule ids of exemptions used, with their source.
    pub exemptions: Vec<engine::report::ExemptionUse>,
}

/// Everything admission needs besides the request.
#[derive(Clone, Copy)]
pub struct Admission<'a> {
    /// The policy.
    pub policy: &'a Policy,
    /// Cluster state, when connected.
    pub cluster: Option<&'a dyn Cluster>,
    /// bulwark's own namespace (always exempt).
    pub own_namespace: &'a str,
    /// Today, days since the epoch (exemption expiry).
    pub today: i64,
}

impl Admission<'_> {
    /// Decodes `body` and decides. `Err` only when the body is not a usable AdmissionReview
    /// (no uid to answer to); every request with a uid gets an `Outcome`.
    pub fn review(&self, endpoint: Endpoint, body: &[u8]) -> Result<Outcome, ReviewError> {
        // The one-pass decode fails as a whole when the object does not fit its view; the
        // envelope is then read again with the object kept raw, so the answer still echoes
        // the uid and names the object's error.
        let inline = match endpoint {
            Endpoint::Validate => Inline::View,
            Endpoint::Mutate => Inline::Tree,
        };
        let review = match decode::review(body, inline) {
            Ok(r) => r,
            Err(_) => decode::review(body, Inline::No)?,
        };
        let api_version = review.api_version.as_deref().unwrap_or("");
        let kind = review.kind.as_deref().unwrap_or("");
        if api_version != API_VERSION || kind != "AdmissionReview" {
            return Err(ReviewError::WrongType {
                api_version: api_version.to_owned(),
                kind: kind.to_owned(),
            });
        }
        let req = review.request.ok_or(ReviewError::MissingRequest)?;
        let uid = req
            .uid
            .clone()
            .filter(|u| !u.is_empty())
            .ok_or(ReviewError::MissingUid)?;
        let mut out = Outcome {
            uid,
            allowed: true,
            status: None,
            warnings: Vec::new(),
            audit_annotations: BTreeMap::new(),
            patch: None,
            decision: Decision::Skipped,
            mode: self.policy.mode,
            kind: req.kind.kind.clone().into_owned(),
            namespace: req.namespace.clone().unwrap_or_default(),
            name: req.name.clone().unwrap_or_default(),
            operation: req.operation.as_deref().unwrap_or("").to_owned(),
            dry_run: req.dry_run.unwrap_or(false),
            findings: Vec::new(),
            exemptions: Vec::new(),
        };
        self.decide(endpoint, &req, &mut out);
        Ok(out)
    }

    fn decide(&self, endpoint: Endpoint, req: &RequestIn<'_>, out: &mut Outcome) {
        let op = match out.operation.as_str() {
            "CREATE" => mutate::Operation::Create,
            "UPDATE" => mutate::Operation::Update,
            _ => return, // DELETE and CONNECT are always allowed
        };
        if self.user_exempt(&req.user_info) {
            return;
        }
        let kind = Kind::parse(&req.kind.kind);
        if kind == Kind::Other || !req.kind.group.is_empty() && !known_group(kind, &req.kind.group)
        {
            return;
        }
        let read = match &req.object {
            None => {
                return invalid(
                    out,
                    format!(
                        "request.object is missing for {} {}",
                        out.operation, out.kind
                    ),
                );
            }
            Some(ObjectIn::Parsed(w)) => Ok(Cow::Borrowed(&**w)),
            Some(ObjectIn::Raw(raw)) => {
                Workload::from_json(&req.kind.kind, raw.get()).map(Cow::Owned)
            }
            Some(ObjectIn::Tree(tree)) => {
                Workload::from_value_as(&req.kind.kind, tree).map(Cow::Owned)
            }
        };
        let obj = match read {
            Ok(w) => w,
            Err(e) => return invalid(out, format!("cannot read request.object: {e}")),
        };
        if obj.meta.deletion_timestamp.is_some() {
            return; // being deleted: finalizer removal must never be blocked
        }
        let namespace = if kind == Kind::Namespace {
            obj.name().to_owned()
        } else if out.namespace.is_empty() {
            obj.namespace().to_owned()
        } else {
            out.namespace.clone()
        };

        // The namespace guard runs before exemptions: lowering a namespace's own mode is
        // exactly the self-exemption it exists to stop.
        if kind == Kind::Namespace
            && endpoint == Endpoint::Validate
            && op == mutate::Operation::Update
        {
            if let Some(msg) = self.namespace_guard(&obj, req, &req.user_info) {
                out.mode = Mode::Enforce;
                return deny(out, msg);
            }
        }
        if self.namespace_exempt(&namespace) {
            return;
        }
        let mode = self.namespace_mode(&namespace, kind, &obj);
        out.mode = mode;
        if mode == Mode::Off {
            return;
        }
        // A Pod's spec is immutable: an UPDATE that leaves it alone (labels, annotations,
        // finalizers) is not re-judged, as Pod Security Admission does, so controllers can
        // always manage existing Pods. Ephemeral containers are judged.
        if kind == Kind::Pod
            && op == mutate::Operation::Update
            && req.sub_resource.as_deref() != Some("ephemeralcontainers")
            && matches!(req.object, Some(ObjectIn::Raw(raw)) if pod_spec_unchanged(raw, req.old_object))
        {
            return;
        }

        match endpoint {
            // Audit is a dry run: it reports what enforce would deny and changes nothing, so
            // a team trialling bulwark sees its workloads exactly as they wrote them.
            Endpoint::Mutate if mode == Mode::Audit => {} // decision stays Skipped
            Endpoint::Mutate => {
                let tree = match &req.object {
                    Some(ObjectIn::Tree(tree)) => Cow::Borrowed(tree),
                    Some(ObjectIn::Raw(raw)) => match mutate::parse_object(raw.get()) {
                        Ok(v) => Cow::Owned(v),
                        Err(e) => return invalid(out, format!("cannot read request.object: {e}")),
                    },
                    // The decoder reads /mutate objects as a tree or keeps them raw.
                    _ => return invalid(out, "internal: /mutate without the object".into()),
                };
                self.mutate(&tree, &obj, op, out)
            }
            Endpoint::Validate => self.validate(&obj, req, mode, out),
        }
    }

    fn validate(&self, obj: &Workload, req: &RequestIn<'_>, mode: Mode, out: &mut Outcome) {
        let ctx = Context {
            inventory: self.cluster.map(|c| c.as_inventory()),
            today: Some(self.today),
        };
        // An exemption annotation set by someone who may not set it does not count: the
        // object is judged without it, plus a finding saying why.
        let guard = self.exemption_guard(obj, req);
        let mut report = match guard {
            None => engine::evaluate(obj, ctx, self.policy),
            Some(_) => {
                let mut unexempted = obj.clone();
                unexempted
                    .meta
                    .annotations
                    .remove(engine::exemptions::EXEMPT);
                engine::evaluate(&unexempted, ctx, self.policy)
            }
        };
        if let Some(message) = guard {
            report.findings.push(Finding {
                rule: crate::rules::exemption::ID,
                category: engine::Category::Hygiene,
                severity: Severity::Error,
                path: format!("metadata.annotations.{}", engine::exemptions::EXEMPT),
                message,
            });
        }
        out.exemptions = report.exemptions;
        let mut denials = Vec::new();
        let mut warnings = Vec::new();
        let mut audited = Vec::new();
        for f in report.findings {
            let rule_mode = self
                .policy
                .rule_by_id(f.rule)
                .and_then(|r| r.mode)
                .map_or(mode, |m| m.min(mode));
            match (rule_mode, f.severity) {
                (Mode::Off, _) => continue,
                (Mode::Enforce, Severity::Error) => denials.push(f.clone()),
                (Mode::Enforce, Severity::Warning) => warnings.push(f.clone()),
                (Mode::Audit, _) => audited.push(f.clone()),
            }
            out.findings.push((f, rule_mode));
        }
        let ids = |fs: &[Finding]| {
            let mut v: Vec<&str> = fs.iter().map(|f| f.rule).collect();
            v.dedup();
            v.join(",")
        };
        if !denials.is_empty() {
            out.audit_annotations
                .insert("violations".into(), ids(&denials));
        }
        if !audited.is_empty() {
            out.audit_annotations
                .insert("audit-violations".into(), ids(&audited));
        }
        if !warnings.is_empty() {
            out.audit_annotations
                .insert("warnings".into(), ids(&warnings));
        }
        out.warnings = fit_warnings(
            audited
                .iter()
                .map(|f| (format!("[audit] {}", f.severity.as_str()), f))
                .chain(warnings.iter().map(|f| ("warning".to_owned(), f)))
                .map(|(tag, f)| format!("bulwark {tag} {}: {} ({})", f.rule, f.message, f.path)),
        );
        out.decision = if !denials.is_empty() {
            Decision::Denied
        } else if out.warnings.is_empty() {
            Decision::Allowed
        } else {
            Decision::Warned
        };
        if !denials.is_empty() {
            let what = format!("{} {}", out.kind, qualified(&out.namespace, &out.name));
            out.allowed = false;
            out.status = Some((403, denial_message(&what, &denials)));
        }
    }

    fn mutate(
        &self,
        value: &serde_json::Value,
        obj: &Workload,
        op: mutate::Operation,
        out: &mut Outcome,
    ) {
        match mutate::mutate_parsed(value, Some(obj), op, self.policy) {
            Ok(m) => {
                out.decision = Decision::Allowed;
                if !m.patch.0.is_empty() {
                    out.patch = serde_json::to_vec(&m.patch).ok();
                    out.audit_annotations
                        .insert("defaulted".into(), m.defaulted.join(","));
                }
            }
            Err(e) => invalid(out, format!("cannot mutate request.object: {e}")),
        }
    }

    fn user_exempt(&self, user: &UserInfo) -> bool {
        let a = &self.policy.admission;
        a.exempt_users.contains(&user.username)
            || user.groups.iter().any(|g| a.exempt_groups.contains(g))
    }

    fn is_exemption_admin(&self, user: &UserInfo) -> bool {
        let a = &self.policy.admission;
        a.exemption_admin_users.contains(&user.username)
            || user
                .groups
                .iter()
                .any(|g| a.exemption_admin_groups.contains(g))
    }

    fn namespace_exempt(&self, namespace: &str) -> bool {
        !namespace.is_empty()
            && (namespace == self.own_namespace
                || self
                    .policy
                    .admission
                    .exempt_namespaces
                    .iter()
                    .any(|n| n == namespace))
    }

    /// The mode for objects in `namespace`: its `bulwark.dev/mode` label when it has one,
    /// else the cluster default (cluster scope) or off (opt-in scope).
    fn namespace_mode(&self, namespace: &str, kind: Kind, obj: &Workload) -> Mode {
        let labels = if kind == Kind::Namespace {
            Some(obj.meta.labels.clone())
        } else {
            self.cluster.and_then(|c| c.namespace_labels(namespace))
        };
        let label = labels
            .as_ref()
            .and_then(|l| l.get(MODE_LABEL))
            .and_then(|v| Mode::parse(v));
        match (self.policy.scope, label, labels.is_some()) {
            (_, Some(m), _) => m,
            (Scope::Cluster, None, _) => self.policy.mode,
            // Opt-in with the namespace known and unlabelled: not opted in.
            (Scope::OptIn, None, true) => Mode::Off,
            // Opt-in without namespace data (no cluster): the webhook's namespaceSelector
            // already limited requests to opted-in namespaces.
            (Scope::OptIn, None, false) => self.policy.mode,
        }
    }

    /// Denies a Namespace UPDATE that lowers its bulwark mode, unless an admin asks.
    fn namespace_guard(
        &self,
        obj: &Workload,
        req: &RequestIn<'_>,
        user: &UserInfo,
    ) -> Option<String> {
        if self.is_exemption_admin(user) {
            return None;
        }
        let old = req
            .old_object
            .and_then(|o| Workload::from_json("Namespace", o.get()).ok())?;
        let mode_of = |w: &Workload| w.meta.labels.get(MODE_LABEL).cloned();
        let (before, after) = (mode_of(&old), mode_of(obj));
        if before == after {
            return None;
        }
        let rank = |m: &Option<String>| match m.as_deref().and_then(Mode::parse) {
            Some(m) => m,
            None if self.policy.scope == Scope::Cluster => self.policy.mode,
            None => Mode::Off,
        };
        (rank(&after) < rank(&before)).then(|| {
            format!(
                "bulwark: only exemption admins may lower namespace {:?}'s {MODE_LABEL} from {} to {} (user {:?})",
                obj.name(),
                before.as_deref().unwrap_or("unset"),
                after.as_deref().unwrap_or("unset"),
                user.username
            )
        })
    }

    /// Rejects an exemption annotation set or changed by someone not allowed to.
    fn exemption_guard(&self, obj: &Workload, req: &RequestIn<'_>) -> Option<String> {
        let key = engine::exemptions::EXEMPT;
        let new = obj.meta.annotations.get(key)?;
        if self.policy.admission.anyone_may_exempt || self.is_exemption_admin(&req.user_info) {
            return None;
        }
        // The built-in controllers copy the annotation from the owner (Deployment ->
        // ReplicaSet -> Pod), which passed this guard; without this an exempted workload could
        // never roll out. Only their identities, and only for controlled objects: a forged
        // ownerReference from anyone else buys nothing.
        if obj.is_controlled() && is_controller_manager(&req.user_info.username) {
            return None;
        }
        let old = req
            .old_object
            .and_then(|o| Workload::from_json(&obj.kind_name, o.get()).ok());
        // Unchanged rules and expiry: set earlier by someone allowed to. Moving or dropping
        // `exempt-until` grants a new exemption just as much as changing the rule list.
        let until = engine::exemptions::EXEMPT_UNTIL;
        if old.is_some_and(|o| {
            o.meta.annotations.get(key) == Some(new)
                && o.meta.annotations.get(until) == obj.meta.annotations.get(until)
        }) {
            return None;
        }
        Some(format!(
            "user {:?} may not set the {key} annotation (exemption admins only)",
            req.user_info.username
        ))
    }
}

/// kube-controller-manager's identities: its own user, or (with
/// `--use-service-account-credentials`, the usual setup) one service account per controller
/// in kube-system.
fn is_controller_manager(username: &str) -> bool {
    username == "system:kube-controller-manager"
        || username.starts_with("system:serviceaccount:kube-system:")
}

fn known_group(kind: Kind, group: &str) -> bool {
    match kind {
        Kind::Deployment | Kind::StatefulSet | Kind::DaemonSet | Kind::ReplicaSet => {
            group == "apps"
        }
        Kind::Job | Kind::CronJob => group == "batch",
        Kind::HorizontalPodAutoscaler => group == "autoscaling",
        Kind::PodDisruptionBudget => group == "policy",
        _ => group.is_empty(),
    }
}

fn pod_spec_unchanged(new: &RawValue, old: Option<&RawValue>) -> bool {
    #[derive(Deserialize)]
    struct SpecOnly {
        #[serde(default)]
        spec: serde_json::Value,
    }
    let Some(old) = old else { return false };
    match (
        serde_json::from_str::<SpecOnly>(new.get()),
        serde_json::from_str::<SpecOnly>(old.get()),
    ) {
        (Ok(a), Ok(b)) => a.spec == b.spec,
        _ => false,
    }
}

fn invalid(out: &mut Outcome, message: String) {
    out.allowed = false;
    out.decision = Decision::Invalid;
    out.status = Some((400, format!("bulwark: {message}")));
}

fn deny(out: &mut Outcome, message: String) {
    out.allowed = false;
    out.decision = Decision::Denied;
    out.status = Some((403, message));
}

fn qualified(ns: &str, name: &str) -> String {
    if ns.is_empty() {
        name.to_owned()
    } else {
        format!("{ns}/{name}")
    }
}

/// One line per violated rule and path, cut to `MAX_MESSAGE` with a count of the rest, so
/// `kubectl` shows a readable error.
fn denial_message(what: &str, denials: &[Finding]) -> String {
    let mut msg = format!("bulwark denied {what}:");
    for (i, f) in denials.iter().enumerate() {
        let line = format!(" [{}] {}: {};", f.rule, f.path, f.message);
        if msg.len() + line.len() > MAX_MESSAGE {
            let _ = write!(
                msg,
                " ... and {} more (run `bulwark check` for all)",
                denials.len() - i
            );
            return msg;
        }
        msg.push_str(&line);
    }
    msg.pop();
    msg
}

/// Cuts each warning to 256 characters and stops before 4 KB in total, as the API server
/// would, but keeping whole warnings and saying how many were left out.
fn fit_warnings(all: impl Iterator<Item = String>) -> Vec<String> {
    let all: Vec<String> = all.collect();
    let mut out = Vec::new();
    let mut total = 0;
    let reserve = 64; // room for the "N more" line
    for (i, w) in all.iter().enumerate() {
        let w = truncate(w, MAX_WARNING);
        if total + w.len() + reserve > MAX_WARNINGS_TOTAL {
            out.push(format!(
                "bulwark: {} more warning(s) omitted",
                all.len() - i
            ));
            break;
        }
        total += w.len();
        out.push(w);
    }
    out
}

fn truncate(s: &str, max: usize) -> String {
    if s.len() <= max {
        return s.to_owned();
    }
    let mut end = max - 3;
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}...", &s[..end])
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct ReviewOut<'a> {
    api_version: &'static str,
    kind: &'static str,
    response: ResponseOut<'a>,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct ResponseOut<'a> {
    uid: &'a str,
    allowed: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    status: Option<StatusOut<'a>>,
    #[serde(skip_serializing_if = "<[String]>::is_empty")]
    warnings: &'a [String],
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    audit_annotations: &'a BTreeMap<String, String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    patch_type: Option<&'static str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    patch: Option<String>,
}

#[derive(Serialize)]
struct StatusOut<'a> {
    code: u16,
    message: &'a str,
    reason: &'static str,
}

impl Outcome {
    /// The AdmissionReview response body.
    pub fn to_json(&self) -> Vec<u8> {
        let review = ReviewOut {
            api_version: API_VERSION,
            kind: "AdmissionReview",
            response: ResponseOut {
                uid: &self.uid,
                allowed: self.allowed,
                status: self.status.as_ref().map(|(code, message)| StatusOut {
                    code: *code,
                    message,
                    reason: if *code == 403 {
                        "Forbidden"
                    } else {
                        "BadRequest"
                    },
                }),
                warnings: &self.warnings,
                audit_annotations: &self.audit_annotations,
                patch_type: self.patch.as_ref().map(|_| "JSONPatch"),
                patch: self
                    .patch
                    .as_ref()
                    .map(|p| base64::engine::general_purpose::STANDARD.encode(p)),
            },
        };
        serde_json::to_vec(&review).unwrap_or_default()
    }

    /// Rule ids of the findings that counted, deduplicated.
    pub fn rule_ids(&self) -> Vec<&'static str> {
        let mut v: Vec<&'static str> = self.findings.iter().map(|(f, _)| f.rule).collect();
        v.sort_unstable();
        v.dedup();
        v
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn review(op: &str, kind: &str, group: &str, object: serde_json::Value) -> Vec<u8> {
        serde_json::to_vec(&serde_json::json!({
            "apiVersion": API_VERSION, "kind": "AdmissionReview",
            "request": {"uid": "u-1", "kind": {"group": group, "version": "v1", "kind": kind},
                "resource": {"group": group, "version": "v1", "resource": "x"},
                "namespace": "team", "name": "web", "operation": op,
                "userInfo": {"username": "alice", "groups": ["dev"]},
                "object": object}
        }))
        .expect("json")
    }

    fn admission(policy: &Policy) -> Admission<'_> {
        Admission {
            policy,
            cluster: None,
            own_namespace: "bulwark-system",
            today: 20_000,
        }
    }

    const PRIV: &str = r#"{"apiVersion":"v1","kind":"Pod","metadata":{"name":"p","namespace":"team"},
        "spec":{"containers":[{"name":"a","image":"nginx:1","securityContext":{"privileged":true}}]}}"#;

    #[test]
    fn denies_with_rule_and_path_and_echoes_uid() {
        let policy = Policy::default();
        let obj: serde_json::Value = serde_json::from_str(PRIV).expect("json");
        let out = admission(&policy)
            .review(Endpoint::Validate, &review("CREATE", "Pod", "", obj))
            .expect("reviews");
        assert!(!out.allowed);
        assert_eq!(out.uid, "u-1");
        let (code, msg) = out.status.clone().expect("status");
        assert_eq!(code, 403);
        assert!(
            msg.contains("[privileged] spec.containers[0].securityContext.privileged"),
            "{msg}"
        );
        assert!(out.audit_annotations["violations"].contains("privileged"));
        let body: serde_json::Value = serde_json::from_slice(&out.to_json()).expect("json");
        assert_eq!(body["response"]["uid"], "u-1");
        assert_eq!(body["response"]["status"]["code"], 403);
    }

    #[test]
    fn audit_admits_the_same_findings_as_warnings() {
        let mut policy = Policy::default();
        let obj: serde_json::Value = serde_json::from_str(PRIV).expect("json");
        let enforce = admission(&policy)
            .review(
                Endpoint::Validate,
                &review("CREATE", "Pod", "", obj.clone()),
            )
            .expect("reviews");
        policy.mode = Mode::Audit;
        let audit = admission(&policy)
            .review(Endpoint::Validate, &review("CREATE", "Pod", "", obj))
            .expect("reviews");
        assert!(audit.allowed);
        assert_eq!(audit.decision, Decision::Warned);
        assert!(audit.warnings.iter().any(|w| w.contains("privileged")));
        let denied: Vec<_> = enforce
            .findings
            .iter()
            .filter(|(f, _)| f.severity == Severity::Error)
            .map(|(f, _)| (&f.rule, &f.path))
            .collect();
        let audited: Vec<_> = audit
            .findings
            .iter()
            .filter(|(f, _)| f.severity == Severity::Error)
            .map(|(f, _)| (&f.rule, &f.path))
            .collect();
        assert_eq!(
            denied, audited,
            "audit must report exactly what enforce denies"
        );
    }

    #[test]
    fn delete_and_unknown_kinds_are_allowed_and_bad_input_is_an_error() {
        let policy = Policy::default();
        let a = admission(&policy);
        let out = a
            .review(
                Endpoint::Validate,
                &review("DELETE", "Pod", "", serde_json::Value::Null),
            )
            .expect("ok");
        assert!(out.allowed);
        let out = a
            .review(
                Endpoint::Validate,
                &review("CREATE", "ConfigMap", "", serde_json::json!({})),
            )
            .expect("ok");
        assert!(out.allowed);
        let out = a
            .review(
                Endpoint::Validate,
                &review("CREATE", "Pod", "", serde_json::Value::Null),
            )
            .expect("ok");
        assert!(!out.allowed);
        assert_eq!(out.status.as_ref().map(|s| s.0), Some(400));
        let out = a
            .review(
                Endpoint::Validate,
                &review(
                    "CREATE",
                    "Pod",
                    "",
                    serde_json::json!({"spec": {"containers": 5}}),
                ),
            )
            .expect("ok");
        assert_eq!(out.decision, Decision::Invalid);
        assert!(matches!(
            a.review(Endpoint::Validate, b"{"),
            Err(ReviewError::Json(_))
        ));
        assert!(matches!(
            a.review(
                Endpoint::Validate,
                br#"{"apiVersion":"admission.k8s.io/v1beta1","kind":"AdmissionReview"}"#
            ),
            Err(ReviewError::WrongType { .. })
        ));
        assert!(matches!(
            a.review(
                Endpoint::Validate,
                br#"{"apiVersion":"admission.k8s.io/v1","kind":"AdmissionReview"}"#
            ),
            Err(ReviewError::MissingRequest)
        ));
        assert!(matches!(
            a.review(
                Endpoint::Validate,
                br#"{"apiVersion":"admission.k8s.io/v1","kind":"AdmissionReview","request":{}}"#
            ),
            Err(ReviewError::MissingUid)
        ));
    }

    #[test]
    fn warnings_fit_the_api_server_limits() {
        let long = "x".repeat(1000);
        let ws = fit_warnings((0..100).map(|i| format!("{i} {long}")));
        assert!(ws.iter().all(|w| w.len() <= MAX_WARNING));
        assert!(ws.iter().map(String::len).sum::<usize>() <= MAX_WARNINGS_TOTAL);
        assert!(ws.last().is_some_and(|w| w.contains("omitted")));
    }

    #[test]
    fn denial_message_is_bounded() {
        let f = Finding {
            rule: "resources",
            category: engine::Category::Hygiene,
            severity: Severity::Error,
            path: "spec.containers[0].resources.limits.cpu".into(),
            message: "y".repeat(100),
        };
        let msg = denial_message("Pod x", &vec![f; 50]);
        assert!(msg.len() <= MAX_MESSAGE + 80, "{}", msg.len());
        assert!(msg.contains("more"));
    }
}
