//! Exemptions: the policy file's entries and `BulwarkException` objects, applied after the
//! rules ran so exempted findings are counted, not hidden.
//!
//! Exemptions come only from places a tenant cannot write (docs/security.md): the policy file,
//! and BulwarkExceptions in bulwark's own namespace (or in namespaces the policy delegates
//! with `admission.exceptionNamespaces`). An object's own annotations never grant anything:
//! the old `bulwark.dev/exempt` annotation is only reported, so a tenant who can edit an
//! object, or its pod template, cannot exempt it.

use super::report::{Exempted, ExemptionSource, ExemptionUse};
use super::{Context, Policy, Report};
pub use crate::policy::glob;
use crate::workload::{ExceptionSpec, Workload};

/// Id of the rule that judges BulwarkExceptions: its own findings cannot be exempted, and no
/// exception may name it (the rule lives in `rules::exemption`; the engine only knows its id).
pub const EXEMPTION_RULE_ID: &str = "exemption";

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
    /// with any problem grants nothing. Rule ids are checked against `policy`'s catalogue.
    pub fn problems(&self, own_namespace: &str, policy: &Policy) -> Vec<(String, String)> {
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
            if policy.index_of(r).is_none() || r == EXEMPTION_RULE_ID {
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
    let ns = crate::workload::namespace_or_default(obj.namespace());
    let mut all = ctx
        .inventory
        .and_then(|inv| inv.exceptions(ns, ctx.own_namespace))
        .unwrap_or_default();
    all.retain(|e| {
        e.covers_namespace(ns, ctx.own_namespace, policy)
            && !e.expired(ctx.today)
            && e.problems(ctx.own_namespace, policy).is_empty()
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
        let lifted = if f.rule == EXEMPTION_RULE_ID {
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
        // The first and last days four digits can write.
        assert_eq!(parse_date("0001-01-01"), Ok(-719_162));
        assert_eq!(parse_date("9999-12-31"), Ok(2_932_896));
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
        assert!(central.problems(own, &policy).is_empty());
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
        assert!(
            !reaching.problems(own, &policy).is_empty(),
            "may not reach out"
        );
    }

    #[test]
    fn problems_name_the_field() {
        let own = "bulwark-system";
        let e = exception(
            own,
            "spec: {namespaces: [a], names: [], rules: [nope, exemption], expires: '2026-02-30'}",
        );
        let paths: Vec<String> = e
            .problems(own, &Policy::default())
            .into_iter()
            .map(|(p, _)| p)
            .collect();
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

    /// Impossible and malformed dates never parse, never panic, and are reported at
    /// `spec.expires` with the date as written; real leap days are accepted.
    #[test]
    fn impossible_expiry_dates_are_problems_at_spec_expires() {
        let own = "bulwark-system";
        let policy = Policy::default();
        let with_expiry = |date: &str| {
            let mut e = exception(
                own,
                "spec: {namespaces: [a], names: [w], rules: [replicas], reason: r}",
            );
            e.spec.expires = Some(date.to_owned());
            e
        };
        for (date, why) in [
            ("2026-02-30", "no day 30"),
            ("2026-02-31", "no day 31"),
            ("2026-04-31", "no day 31"),
            ("2027-02-29", "February 2027 has no day 29"),
            ("1900-02-29", "February 1900 has no day 29"),
            ("0000-01-01", "no year 0"),
            ("0000-02-29", "no year 0"),
            ("2026-13-01", "no month 13"),
            ("2026-00-01", "no month 0"),
            ("2026-01-00", "no day 0"),
            ("99999-01-01", "not a YYYY-MM-DD date"),
            ("12345678901234567890-01-01", "not a YYYY-MM-DD date"),
            (
                "99999999999999999999999999999999-12-31",
                "not a YYYY-MM-DD date",
            ),
            ("-2026-01-01", "not a YYYY-MM-DD date"),
            ("+2026-01-01", "not a YYYY-MM-DD date"),
            ("2026-01-01T00:00:00Z", "not a YYYY-MM-DD date"),
            ("2026/01/01", "not a YYYY-MM-DD date"),
            ("01-01-2026", "not a YYYY-MM-DD date"),
            (
                "\u{0662}\u{0660}\u{0662}\u{0666}-01-01",
                "not a YYYY-MM-DD date",
            ),
            ("2026-01-0\u{0661}", "not a YYYY-MM-DD date"),
            ("", "not a YYYY-MM-DD date"),
            ("next tuesday", "not a YYYY-MM-DD date"),
            ("--", "not a YYYY-MM-DD date"),
            ("soon", "not a YYYY-MM-DD date"),
            ("-0001-12-31", "not a YYYY-MM-DD date"),
            ("9223372036854775807-01-01", "not a YYYY-MM-DD date"),
            ("2026-1-01", "not a YYYY-MM-DD date"),
            ("2026-01-01-", "not a YYYY-MM-DD date"),
            (" 2026-01-01", "not a YYYY-MM-DD date"),
        ] {
            let err = parse_date(date).expect_err(date);
            assert!(err.contains(why), "{date}: {err}");
            assert!(err.contains(&format!("{date:?}")), "{date}: {err}");
            let e = with_expiry(date);
            let problems = e.problems(own, &policy);
            assert_eq!(problems.len(), 1, "{date}: {problems:?}");
            assert_eq!(problems[0].0, "spec.expires", "{date}");
            assert_eq!(problems[0].1, err, "{date}");
            assert!(
                !e.expired(Some(i64::MAX)),
                "an unreadable date is not 'expired'"
            );
        }
        for leap in [
            "2024-02-29",
            "2028-02-29",
            "2000-02-29",
            "0004-02-29",
            "9996-02-29",
        ] {
            assert!(parse_date(leap).is_ok(), "{leap}");
            assert!(
                with_expiry(leap).problems(own, &policy).is_empty(),
                "{leap}"
            );
        }
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
