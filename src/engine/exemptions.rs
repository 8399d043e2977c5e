//! Exemptions: the policy file's entries and `BulwarkException` objects, applied after the
//! rules ran so exempted findings are counted, not hidden.
//!
//! Exemptions come only from places a tenant cannot write (docs/security.md): the policy file,
//! and BulwarkExceptions in bulwark's own namespace (or in namespaces the policy delegates
//! with `admission.exceptionNamespaces`). An object's own annotations never grant anything:
//! the old `bulwark.dev/exempt` annotation is only reported, so a tenant who can edit an
//! object, or its pod template, cannot exempt it.

use super::report::{Exempted, ExemptionSource, ExemptionUse};
use super::{Context, Report};
use crate::config::Policy;
use crate::workload::{ExceptionSpec, Workload};

/// The annotation that granted exemptions before BulwarkException; now reported, never honoured.
pub const LEGACY_EXEMPT: &str = "bulwark.dev/exempt";
/// The namespace bulwark runs in unless told otherwise.
pub const DEFAULT_OWN_NAMESPACE: &str = "bulwark-system";

/// Whether the whole namespace is exempt by policy.
pub fn namespace_exempt(obj: &Workload, policy: &Policy) -> bool {
    let ns = obj.namespace();
    !ns.is_empty() && policy.exemptions.namespaces.iter().any(|n| n == ns)
}

/// Who made an object, as admission verified it from the request's identity.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Origin {
    /// The workloads the object was made for, nearest first, as (kind, name): its controller
    /// owner and, where the built-in controllers' naming tells, that owner's owner (a
    /// ReplicaSet's Deployment, a Job's CronJob).
    pub owners: Vec<(String, String)>,
}

/// A `bulwark.dev/v1alpha1` `BulwarkException`, as the engine reads it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Exception {
    /// Where the exception object lives.
    pub namespace: String,
    /// Its name (for messages and metrics).
    pub name: String,
    /// Its spec.
    pub spec: ExceptionSpec,
}

/// A day as days since 1970-01-01 (UTC).
pub type Day = i64;

impl Exception {
    /// Reads a parsed `BulwarkException`; `None` for any other kind.
    pub fn from_workload(w: &Workload) -> Option<Exception> {
        match &w.body {
            crate::workload::Body::Exception(spec) => Some(Exception {
                namespace: w.namespace().to_owned(),
                name: w.name().to_owned(),
                spec: (**spec).clone(),
            }),
            _ => None,
        }
    }

    /// What is wrong with this exception as written, as (field path, message); an exception
    /// with any problem grants nothing.
    pub fn problems(&self, own_namespace: &str) -> Vec<(String, String)> {
        let s = &self.spec;
        let mut out = Vec::new();
        if s.reason.trim().is_empty() {
            out.push((
                "spec.reason".into(),
                "is required: an exception needs a reason".into(),
            ));
        }
        if s.rules.is_empty() {
            out.push(("spec.rules".into(), "must name at least one rule id".into()));
        }
        for (i, r) in s.rules.iter().enumerate() {
            if crate::rules::index_of(r).is_none() || r == crate::rules::exemption::ID {
                out.push((
                    format!("spec.rules[{i}]"),
                    format!("{r:?} is not an exemptable rule id (`bulwark rules` lists them)"),
                ));
            }
        }
        if s.names.is_empty() {
            out.push((
                "spec.names".into(),
                "must name at least one object (globs with * allowed)".into(),
            ));
        }
        if let Some(e) = &s.expires
            && let Err(why) = parse_date(e)
        {
            out.push(("spec.expires".into(), why));
        }
        if self.namespace == own_namespace {
            if s.namespaces.is_empty() {
                out.push((
                    "spec.namespaces".into(),
                    format!(
                        "is required for exceptions in bulwark's namespace {own_namespace:?}: name the namespaces it covers"
                    ),
                ));
            }
        } else if !s.namespaces.is_empty() && s.namespaces.iter().any(|n| n != &self.namespace) {
            out.push((
                "spec.namespaces".into(),
                format!(
                    "an exception outside bulwark's namespace covers only its own namespace {:?}",
                    self.namespace
                ),
            ));
        }
        out
    }

    /// Whether the exception is honoured at all where it lives: in bulwark's own namespace,
    /// or in a namespace the policy delegates (`admission.exceptionNamespaces`).
    pub fn honoured_where_it_lives(&self, own_namespace: &str, policy: &Policy) -> bool {
        self.namespace == own_namespace
            || policy
                .admission
                .exception_namespaces
                .iter()
                .any(|n| n == "*" || n == &self.namespace)
    }

    /// Whether the exception covers objects in `namespace`.
    pub fn covers_namespace(&self, namespace: &str, own_namespace: &str, policy: &Policy) -> bool {
        if !self.honoured_where_it_lives(own_namespace, policy) {
            return false;
        }
        if self.namespace == own_namespace {
            self.spec.namespaces.iter().any(|g| glob(g, namespace))
        } else {
            self.namespace == namespace
        }
    }

    /// Whether the exception is past its last day.
    pub fn expired(&self, today: Option<Day>) -> bool {
        match (&self.spec.expires, today) {
            (Some(e), Some(t)) => parse_date(e).is_ok_and(|day| t > day),
            _ => false,
        }
    }

    /// Whether the exception lifts `rule` for an object known by any of `subjects` (kind,
    /// name). Validity and expiry are checked once, in [`exceptions_for`].
    fn lifts(&self, rule: &str, subjects: &[(&str, &str)]) -> bool {
        let s = &self.spec;
        s.rules.iter().any(|r| r == rule)
            && subjects.iter().any(|(kind, name)| {
                (s.kinds.is_empty() || s.kinds.iter().any(|k| k == kind))
                    && s.names.iter().any(|g| glob(g, name))
            })
    }
}

/// `*` matches any run of characters (including none); everything else matches itself.
pub fn glob(pattern: &str, s: &str) -> bool {
    let mut parts = pattern.split('*');
    let first = parts.next().unwrap_or("");
    let Some(mut rest) = s.strip_prefix(first) else {
        return false;
    };
    let parts: Vec<&str> = parts.collect();
    let Some((last, middle)) = parts.split_last() else {
        return rest.is_empty(); // no `*` at all
    };
    for part in middle {
        match rest.find(part) {
            Some(i) => rest = &rest[i + part.len()..],
            None => return false,
        }
    }
    rest.len() >= last.len() && rest.ends_with(last)
}

/// The names an object is known by for exemptions: itself, then the owners admission
/// verified (an exemption for a Deployment covers the ReplicaSets and Pods its controllers
/// make for it).
fn subjects<'a>(obj: &'a Workload, ctx: &Context<'a>) -> Vec<(&'a str, &'a str)> {
    let mut v = vec![(obj.kind_name.as_str(), obj.name())];
    if let Some(origin) = ctx.origin {
        v.extend(origin.owners.iter().map(|(k, n)| (k.as_str(), n.as_str())));
    }
    v
}

/// Rules exempted for the whole object (policy workload entries and exceptions), for the
/// mutator: a default is not applied for a rule the object is exempt from. `None` means every
/// rule (a policy workload entry without a rule list).
pub fn whole_object_rules(
    obj: &Workload,
    ctx: Context<'_>,
    policy: &Policy,
) -> Option<Vec<String>> {
    let subjects = subjects(obj, &ctx);
    let mut rules = Vec::new();
    for w in policy.exemptions.workloads.iter() {
        if subjects
            .iter()
            .any(|s| w.matches_subject(obj.namespace(), s.0, s.1))
        {
            if w.rules.is_empty() {
                return None;
            }
            rules.extend(w.rules.iter().cloned());
        }
    }
    for e in exceptions_for(obj, &ctx, policy) {
        for r in &e.spec.rules {
            if e.lifts(r, &subjects) {
                rules.push(r.clone());
            }
        }
    }
    Some(rules)
}

/// The exceptions that may cover `obj`: living where they count, covering its namespace,
/// well formed and unexpired. An exception with any problem grants nothing.
fn exceptions_for(obj: &Workload, ctx: &Context<'_>, policy: &Policy) -> Vec<Exception> {
    // An object without a namespace lands in `default` when applied.
    let ns = match obj.namespace() {
        "" => "default",
        ns => ns,
    };
    let mut all = ctx
        .inventory
        .and_then(|inv| inv.exceptions(ns, ctx.own_namespace))
        .unwrap_or_default();
    all.retain(|e| {
        e.covers_namespace(ns, ctx.own_namespace, policy)
            && !e.expired(ctx.today)
            && e.problems(ctx.own_namespace).is_empty()
    });
    all
}

/// Removes exempted findings from `report`, recording each exemption used and keeping the
/// lifted findings, with the exemption's reason, in `report.exempted`.
pub fn apply(obj: &Workload, ctx: Context<'_>, policy: &Policy, report: &mut Report) {
    let subjects = subjects(obj, &ctx);
    let workload_rules: Vec<(usize, &[String])> = policy
        .exemptions
        .workloads
        .iter()
        .enumerate()
        .filter(|(_, w)| {
            subjects
                .iter()
                .any(|s| w.matches_subject(obj.namespace(), s.0, s.1))
        })
        .map(|(i, w)| (i, w.rules.as_slice()))
        .collect();
    let image_prefixes = exempt_container_paths(obj, policy);
    let exceptions = exceptions_for(obj, &ctx, policy);

    let mut used = Vec::new();
    let mut exempted = Vec::new();
    for f in std::mem::take(&mut report.findings) {
        let covers = |rules: &[String]| rules.is_empty() || rules.iter().any(|r| r == f.rule);
        // The reason is only built for a finding that is lifted: admission never pays for it.
        let lifted = if f.rule == crate::rules::exemption::ID {
            None // the exemption rule itself cannot be exempted
        } else if let Some((i, _)) = workload_rules.iter().find(|(_, rules)| covers(rules)) {
            Some((
                ExemptionSource::Workload,
                format!("policy exemptions.workloads[{i}]"),
            ))
        } else if let Some((_, _, prefix)) = image_prefixes
            .iter()
            .find(|(path, rules, _)| under(&f.path, path) && covers(rules))
        {
            Some((
                ExemptionSource::Image,
                format!("policy exemptions.images (prefix {prefix:?})"),
            ))
        } else {
            exceptions
                .iter()
                .find(|e| e.lifts(f.rule, &subjects))
                .map(|e| {
                    (
                        ExemptionSource::Exception,
                        format!(
                            "BulwarkException {}/{}: {}",
                            e.namespace, e.name, e.spec.reason
                        ),
                    )
                })
        };
        match lifted {
            Some((source, reason)) => {
                used.push(ExemptionUse {
                    rule: f.rule,
                    source,
                });
                exempted.push(Exempted {
                    finding: f,
                    source,
                    reason,
                });
            }
            None => report.findings.push(f),
        }
    }
    used.dedup();
    report.exemptions = used;
    report.exempted = exempted;
}

/// Paths of containers whose image matches an exempt prefix, with the rules exempted and the
/// prefix that matched.
fn exempt_container_paths<'p>(
    obj: &Workload,
    policy: &'p Policy,
) -> Vec<(String, &'p [String], &'p str)> {
    let mut out = Vec::new();
    if policy.exemptions.images.is_empty() {
        return out;
    }
    let Some((_, pod)) = obj.pod() else {
        return out;
    };
    for c in pod.all_containers() {
        let image = c.container.image.as_deref().unwrap_or("");
        for e in &policy.exemptions.images {
            if image.starts_with(&e.prefix) {
                let path = super::join(obj.kind.pod_spec_path(), &c.rel_path());
                out.push((path, e.rules.as_slice(), e.prefix.as_str()));
            }
        }
    }
    out
}

/// Whether `path` is `prefix` or a field below it.
fn under(path: &str, prefix: &str) -> bool {
    path.strip_prefix(prefix)
        .is_some_and(|rest| rest.is_empty() || rest.starts_with('.'))
}

/// Parses a `YYYY-MM-DD` calendar date into days since 1970-01-01; impossible dates (Feb 30,
/// Feb 29 of a common year, month 13, year 0) are errors that say so.
pub fn parse_date(s: &str) -> Result<Day, String> {
    let bad = || format!("{s:?} is not a YYYY-MM-DD date");
    let mut it = s.split('-');
    let (Some(y), Some(m), Some(d), None) = (it.next(), it.next(), it.next(), it.next()) else {
        return Err(bad());
    };
    let digits = |p: &str, n: usize| p.len() == n && p.bytes().all(|b| b.is_ascii_digit());
    if !(digits(y, 4) && digits(m, 2) && digits(d, 2)) {
        return Err(bad());
    }
    let (y, m, d): (i32, u8, u8) = match (y.parse(), m.parse(), d.parse()) {
        (Ok(y), Ok(m), Ok(d)) => (y, m, d),
        _ => return Err(bad()),
    };
    if y == 0 {
        return Err(format!("{s:?}: there is no year 0"));
    }
    let month = time::Month::try_from(m).map_err(|_| format!("{s:?}: there is no month {m}"))?;
    let date = time::Date::from_calendar_date(y, month, d)
        .map_err(|_| format!("{s:?}: {month} {y} has no day {d}"))?;
    Ok(days_since_epoch(date))
}

/// Days since 1970-01-01 of a calendar date.
pub fn days_since_epoch(date: time::Date) -> Day {
    // 2_440_588 is the Julian day number of 1970-01-01.
    i64::from(date.to_julian_day()) - 2_440_588
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dates() {
        assert_eq!(parse_date("1970-01-01"), Ok(0));
        assert_eq!(parse_date("2000-03-01"), Ok(11_017));
        assert_eq!(parse_date("2024-02-29"), Ok(19_782));
        for bad in [
            "2026-13-01",
            "soon",
            "2026-02-31",
            "2026-02-30",
            "2025-02-29",
            "0000-03-01",
            "-0001-12-31",
            "9223372036854775807-01-01",
            "26000000000000000-12-31",
            "2026-1-01",
            "2026-01-01-",
            " 2026-01-01",
        ] {
            assert!(parse_date(bad).is_err(), "{bad} parsed");
        }
        assert!(
            parse_date("2026-02-31")
                .expect_err("no such day")
                .contains("no day 31")
        );
        assert!(
            parse_date("0000-03-01")
                .expect_err("no year 0")
                .contains("year 0")
        );
    }

    #[test]
    fn globs() {
        assert!(glob("web", "web"));
        assert!(!glob("web", "web2"));
        assert!(glob("web-*", "web-1"));
        assert!(glob("web-*", "web-"));
        assert!(!glob("web-*", "api-1"));
        assert!(glob("*", ""));
        assert!(glob("*-canary", "web-canary"));
        assert!(glob("a*b*c", "a-x-b-y-c"));
        assert!(!glob("a*b*c", "a-x-c-y-b"));
        assert!(!glob("ab*ba", "aba")); // the two ends must not overlap
    }

    #[test]
    fn under_matches_whole_segments() {
        assert!(under("spec.containers[1].image", "spec.containers[1]"));
        assert!(!under("spec.containers[10].image", "spec.containers[1]"));
    }

    fn exception(ns: &str, yaml: &str) -> Exception {
        let v: serde_json::Value = serde_yaml_ng::from_str(yaml).expect("yaml");
        let mut w = Workload::from_value_as("BulwarkException", &v).expect("parses");
        w.meta.namespace = Some(ns.into());
        w.meta.name = Some("x".into());
        Exception::from_workload(&w).expect("an exception")
    }

    #[test]
    fn where_an_exception_counts() {
        let own = "bulwark-system";
        let mut policy = Policy::default();
        let central = exception(
            own,
            "spec: {namespaces: [shop, 'team-*'], names: [web], rules: [replicas], reason: r}",
        );
        assert!(central.problems(own).is_empty());
        assert!(central.covers_namespace("shop", own, &policy));
        assert!(central.covers_namespace("team-a", own, &policy));
        assert!(!central.covers_namespace("other", own, &policy));
        let local = exception("shop", "spec: {names: [web], rules: [replicas], reason: r}");
        assert!(
            !local.covers_namespace("shop", own, &policy),
            "not delegated"
        );
        policy.admission.exception_namespaces = vec!["shop".into()];
        assert!(local.covers_namespace("shop", own, &policy));
        assert!(!local.covers_namespace("other", own, &policy));
        let reaching = exception(
            "shop",
            "spec: {namespaces: [other], names: [web], rules: [replicas], reason: r}",
        );
        assert!(!reaching.problems(own).is_empty(), "may not reach out");
    }

    #[test]
    fn problems_name_the_field() {
        let own = "bulwark-system";
        let e = exception(
            own,
            "spec: {namespaces: [a], names: [], rules: [nope, exemption], expires: '2026-02-30'}",
        );
        let paths: Vec<String> = e.problems(own).into_iter().map(|(p, _)| p).collect();
        assert_eq!(
            paths,
            [
                "spec.reason",
                "spec.rules[0]",
                "spec.rules[1]",
                "spec.names",
                "spec.expires"
            ]
        );
    }

    #[test]
    fn expiry_is_the_last_day_it_counts() {
        let e = exception(
            "bulwark-system",
            "spec: {namespaces: [a], names: [w], rules: [replicas], reason: r, expires: '2026-01-31'}",
        );
        let day = parse_date("2026-01-31").expect("date");
        assert!(!e.expired(Some(day)));
        assert!(e.expired(Some(day + 1)));
        assert!(!e.expired(None));
    }
}
