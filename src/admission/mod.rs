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
        match req.sub_resource.as_deref().unwrap_or("") {
            // The API server keeps spec and metadata from the stored object on a status
            // write, so it cannot change anything a rule reads.
            "status" => return,
            "scale" => {
                return if endpoint == Endpoint::Validate {
                    self.scale(req, out)
                };
            }
            // The object itself, ephemeralcontainers, resize and any other subresource that
            // carries the whole object: judged like the object.
            _ => {}
        }
        let kind = Kind::parse(&req.kind.kind);
        if kind == Kind::Other || !req.kind.group.is_empty() && req.kind.group != kind.group() {
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
        let mut obj = match read {
            Ok(w) => w,
            Err(e) => return invalid(out, format!("cannot read request.object: {e}")),
        };
        // The API server sets the object's namespace from the request before admission; a
        // review without it is judged in the request's namespace all the same.
        if obj.meta.namespace.is_none() && !out.namespace.is_empty() && kind != Kind::Namespace {
            obj.to_mut().meta.namespace = Some(out.namespace.clone());
        }
        let namespace = if kind == Kind::Namespace {
            obj.name().to_owned()
        } else if out.namespace.is_empty() {
            obj.namespace().to_owned()
        } else {
            out.namespace.clone()
        };

        // The namespace guard runs before anything that reads modes or exemptions: creating a
        // namespace that is switched off, or that bears an exempt name, and lowering a
        // namespace's mode are exactly the self-exemptions it exists to stop.
        if kind == Kind::Namespace && endpoint == Endpoint::Validate {
            if let Some(msg) = self.namespace_guard(&obj, op, req) {
                out.mode = Mode::Enforce;
                return deny(out, msg);
            }
        }
        if self.namespace_exempt(&namespace) {
            return;
        }
        let own_labels = (kind == Kind::Namespace).then_some(&obj.meta.labels);
        let mode = self.namespace_mode(&namespace, own_labels);
        out.mode = mode;
        if mode == Mode::Off {
            return;
        }
        if op == mutate::Operation::Update && self.update_cannot_change_verdict(kind, &obj, req) {
            return;
        }
        let origin = self.origin(&obj, &req.user_info);
        let ctx = self.context(origin.as_ref());

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
                self.mutate(&tree, &obj, op, ctx, out)
            }
            Endpoint::Validate => {
                let report = engine::evaluate(&obj, ctx, self.policy);
                self.verdict(report, mode, out)
            }
        }
    }

    /// The engine context admission evaluates in (public: the auditor evaluates in the same).
    pub fn context<'c>(&'c self, origin: Option<&'c engine::exemptions::Origin>) -> Context<'c> {
        Context {
            inventory: self.cluster.map(|c| c.as_inventory()),
            today: Some(self.today),
            origin,
            own_namespace: self.own_namespace,
        }
    }

    /// Whether an UPDATE leaves alone everything the rules read, so that it is not re-judged.
    ///
    /// - A Pod's spec is immutable but for a few fields: an UPDATE that changes neither the
    ///   spec nor the security annotations (labels, other annotations, finalizers, owner
    ///   references) is not re-judged, as Pod Security Admission does, so controllers can
    ///   always manage existing Pods. Subresources (ephemeralcontainers, resize) are judged.
    /// - An object being deleted is let through only while its pod template is unchanged:
    ///   finalizer removal must never be blocked, but a change that adds or alters containers
    ///   is judged like any other (a finalizer can keep such an object around indefinitely).
    fn update_cannot_change_verdict(
        &self,
        kind: Kind,
        obj: &Workload,
        req: &RequestIn<'_>,
    ) -> bool {
        if req.sub_resource.as_deref().is_some_and(|s| !s.is_empty()) {
            return false;
        }
        let Some(old_raw) = req.old_object else {
            return false;
        };
        if kind == Kind::Pod
            && matches!(req.object, Some(ObjectIn::Raw(raw)) if pod_update_insignificant(raw, old_raw))
        {
            return true;
        }
        // (A Pod's own metadata holds security annotations, so Pods only take the path above.)
        if obj.meta.deletion_timestamp.is_some() && kind.has_pod_spec() && kind != Kind::Pod {
            let Ok(old) = Workload::from_json(&obj.kind_name, old_raw.get()) else {
                return false;
            };
            return old.meta.deletion_timestamp.is_some() && old.pod() == obj.pod();
        }
        false
    }

    /// The built-in controller that made this request for the object's owner, verified: the
    /// requester must be one of the identities configured for that object kind and owner
    /// kind (`admission.controllers`). An ownerReference alone is a claim anyone who can
    /// write the object can make; without a verified origin the object is judged as itself.
    fn origin(&self, obj: &Workload, user: &UserInfo) -> Option<engine::exemptions::Origin> {
        let owner = obj.controller_owner()?;
        let group = owner
            .api_version
            .rsplit_once('/')
            .map_or("", |(group, _version)| group);
        let trusted = self.policy.admission.controllers.iter().any(|c| {
            c.kind == obj.kind_name
                && c.owner_group_kind() == (group, owner.kind.as_str())
                && c.users.contains(&user.username)
        });
        if !trusted {
            return None;
        }
        let mut owners = vec![(owner.kind.clone(), owner.name.clone())];
        // The owner's owner, where the built-in controllers' naming tells it: a ReplicaSet a
        // Deployment made is named `<deployment>-<pod-template-hash>` (the hash is a label its
        // Pods carry); a Job a CronJob made is named `<cronjob>-<scheduled minute>`.
        match (group, owner.kind.as_str()) {
            ("apps", "ReplicaSet") => {
                if let Some(hash) = obj.meta.labels.get("pod-template-hash")
                    && let Some(deployment) = owner
                        .name
                        .strip_suffix(hash.as_str())
                        .and_then(|n| n.strip_suffix('-'))
                {
                    owners.push(("Deployment".into(), deployment.into()));
                }
            }
            ("batch", "Job") => {
                if let Some((cronjob, minute)) = owner.name.rsplit_once('-')
                    && !minute.is_empty()
                    && minute.bytes().all(|b| b.is_ascii_digit())
                {
                    owners.push(("CronJob".into(), cronjob.into()));
                }
            }
            _ => {}
        }
        Some(engine::exemptions::Origin { owners })
    }

    /// `kubectl scale` and the HPA controller change `replicas` through the `scale`
    /// subresource, whose object is an `autoscaling/v1` Scale rather than the workload: the
    /// new count is judged by the `replicas` rule (HPA-aware) as if written into the workload.
    fn scale(&self, req: &RequestIn<'_>, out: &mut Outcome) {
        let Some(kind) = Kind::from_scale_resource(&req.resource.group, &req.resource.resource)
        else {
            return;
        };
        #[derive(Deserialize, Default)]
        #[serde(default)]
        struct Scale {
            spec: ScaleSpec,
        }
        #[derive(Deserialize, Default)]
        #[serde(default)]
        struct ScaleSpec {
            replicas: Option<i64>,
        }
        let scale = match &req.object {
            Some(ObjectIn::Raw(raw)) => serde_json::from_str::<Scale>(raw.get()),
            None => {
                return invalid(
                    out,
                    "request.object is missing for the scale subresource".into(),
                );
            }
            // Scale is not a kind the decoder reads inline.
            Some(_) => return,
        };
        let scale = match scale {
            Ok(s) => s,
            Err(e) => return invalid(out, format!("cannot read request.object (Scale): {e}")),
        };
        let namespace = out.namespace.clone();
        if self.namespace_exempt(&namespace) {
            return;
        }
        let mode = self.namespace_mode(&namespace, None);
        out.mode = mode;
        if mode == Mode::Off {
            return;
        }
        let workload = serde_json::json!({
            "kind": kind.as_str(),
            "metadata": {"name": out.name, "namespace": namespace},
            "spec": {"replicas": scale.spec.replicas},
        });
        let obj = match Workload::from_value(&workload) {
            Ok(w) => w,
            Err(e) => return invalid(out, format!("cannot judge the scale: {e}")),
        };
        let report = engine::evaluate_rules(&obj, self.context(None), self.policy, |m| {
            m.id == crate::rules::availability::replicas::ID
        });
        self.verdict(report, mode, out)
    }

    /// Turns a report into the verdict for `mode`: denials, warnings, audit annotations.
    fn verdict(&self, report: engine::Report, mode: Mode, out: &mut Outcome) {
        out.exemptions = report.exemptions;
        let mut denials = Vec::new();
        let mut warnings = Vec::new();
        let mut audited = Vec::new();
        for f in report.findings {
            let rule_mode = rule_mode(self.policy, f.rule, mode);
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
        ctx: Context<'_>,
        out: &mut Outcome,
    ) {
        match mutate::mutate_parsed(value, Some(obj), op, self.policy, ctx) {
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

    /// Whether bulwark never evaluates objects in `namespace`: the system namespaces,
    /// bulwark's own, and those the policy exempts (`admission.exemptNamespaces`,
    /// `exemptions.namespaces`). Public so the auditor skips exactly what admission skips.
    pub fn namespace_exempt(&self, namespace: &str) -> bool {
        let p = self.policy;
        !namespace.is_empty()
            && (namespace == self.own_namespace
                || crate::config::SYSTEM_NAMESPACES.contains(&namespace)
                || p.admission.exempt_namespaces.iter().any(|n| n == namespace)
                || p.exemptions.namespaces.iter().any(|n| n == namespace))
    }

    /// The mode for objects in `namespace`: its `bulwark.dev/mode` label when it has one,
    /// else the cluster default (cluster scope) or off (opt-in scope).
    /// `own_labels` are the labels of the Namespace under review, when it is one.
    /// Public so the auditor resolves modes exactly as admission does.
    pub fn namespace_mode(
        &self,
        namespace: &str,
        own_labels: Option<&BTreeMap<String, String>>,
    ) -> Mode {
        let labels = match own_labels {
            Some(l) => Some(l.clone()),
            None => self.cluster.and_then(|c| c.namespace_labels(namespace)),
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

    /// Denies, unless an exemption admin asks, a Namespace CREATE or UPDATE that would get
    /// its objects judged less strictly: a mode label below the namespace's default (on
    /// CREATE, below the cluster default: a namespace born switched off), or the creation of
    /// a namespace whose name the policy exempts (a tenant must not be able to claim a name
    /// that is exempt before its real owner installs it).
    fn namespace_guard(
        &self,
        obj: &Workload,
        op: mutate::Operation,
        req: &RequestIn<'_>,
    ) -> Option<String> {
        let user = &req.user_info;
        if self.is_exemption_admin(user) {
            return None;
        }
        let name = obj.name();
        if op == mutate::Operation::Create && self.namespace_exempt(name) {
            return Some(format!(
                "bulwark: only exemption admins may create namespace {name:?}: bulwark never evaluates it (system namespace, bulwark's own, or exempt by policy) (user {:?})",
                user.username
            ));
        }
        // A namespace the policy delegates exceptions to is just as privileged a name: whoever
        // created it first could write the exceptions that count there.
        let delegated = &self.policy.admission.exception_namespaces;
        if op == mutate::Operation::Create && delegated.iter().any(|n| n == name) {
            return Some(format!(
                "bulwark: only exemption admins may create namespace {name:?}: its BulwarkExceptions count (admission.exceptionNamespaces) (user {:?})",
                user.username
            ));
        }
        let mode_of = |w: &Workload| w.meta.labels.get(MODE_LABEL).cloned();
        let before = match op {
            mutate::Operation::Create => None,
            mutate::Operation::Update => {
                let old = req
                    .old_object
                    .and_then(|o| Workload::from_json("Namespace", o.get()).ok())?;
                mode_of(&old)
            }
        };
        let after = mode_of(obj);
        if op == mutate::Operation::Update && before == after {
            return None;
        }
        let rank = |m: &Option<String>| match m.as_deref().and_then(Mode::parse) {
            Some(m) => m,
            None if self.policy.scope == Scope::Cluster => self.policy.mode,
            None => Mode::Off,
        };
        (rank(&after) < rank(&before)).then(|| {
            let verb = match op {
                mutate::Operation::Create => "create namespace",
                mutate::Operation::Update => "lower namespace",
            };
            format!(
                "bulwark: only exemption admins may {verb} {name:?} with {MODE_LABEL} {} (below {}) (user {:?})",
                after.as_deref().unwrap_or("unset"),
                before.as_deref().unwrap_or(rank(&before).as_str()),
                user.username
            )
        })
    }
}

/// Whether a Pod UPDATE changes neither the spec nor the annotations the kubelet reads for
/// security (seccomp and AppArmor), as Pod Security Admission decides which updates matter.
fn pod_update_insignificant(new: &RawValue, old: &RawValue) -> bool {
    #[derive(Deserialize)]
    struct PodParts {
        #[serde(default)]
        spec: serde_json::Value,
        #[serde(default)]
        metadata: MetaParts,
    }
    #[derive(Deserialize, Default)]
    struct MetaParts {
        #[serde(default, deserialize_with = "null_map")]
        annotations: BTreeMap<String, String>,
    }
    fn null_map<'de, D: serde::Deserializer<'de>>(
        d: D,
    ) -> Result<BTreeMap<String, String>, D::Error> {
        Ok(Option::<BTreeMap<String, String>>::deserialize(d)?.unwrap_or_default())
    }
    let security = |a: &BTreeMap<String, String>| -> Vec<(String, String)> {
        a.iter()
            .filter(|(k, _)| {
                k.starts_with("container.apparmor.security.beta.kubernetes.io/")
                    || k.starts_with("container.seccomp.security.alpha.kubernetes.io/")
                    || *k == "seccomp.security.alpha.kubernetes.io/pod"
            })
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect()
    };
    match (
        serde_json::from_str::<PodParts>(new.get()),
        serde_json::from_str::<PodParts>(old.get()),
    ) {
        (Ok(a), Ok(b)) => {
            a.spec == b.spec
                && security(&a.metadata.annotations) == security(&b.metadata.annotations)
        }
        _ => false,
    }
}

/// The mode a finding of `rule` is judged in, in a namespace whose mode is `mode`: the rule's
/// own `mode` can only lower it (a rule set to audit never denies, even in enforce).
pub fn rule_mode(policy: &Policy, rule: &str, mode: Mode) -> Mode {
    policy
        .rule_by_id(rule)
        .and_then(|r| r.mode)
        .map_or(mode, |m| m.min(mode))
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
