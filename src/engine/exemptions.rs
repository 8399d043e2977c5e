//! Exemptions: policy-level (namespace, workload name, image prefix) and per-object
//! annotations, applied after the rules ran so exempted findings are counted, not hidden.
//!
//! Annotation contract (documented in the README):
//! - `bulwark.dev/exempt: "rule-a,rule-b"` names the rules exempted for this object;
//! - `bulwark.dev/exempt-reason: "..."` is required: without it the exemption does not apply
//!   and the `exemption` rule reports it;
//! - `bulwark.dev/exempt-until: "YYYY-MM-DD"` (optional) is the last day the exemption counts.

use super::report::{ExemptionSource, ExemptionUse};
use super::{Context, Finding, Report};
use crate::config::Policy;
use crate::workload::Workload;

/// Annotation listing exempted rule ids.
pub const EXEMPT: &str = "bulwark.dev/exempt";
/// Annotation carrying the (required) reason.
pub const EXEMPT_REASON: &str = "bulwark.dev/exempt-reason";
/// Annotation carrying the optional last valid day.
pub const EXEMPT_UNTIL: &str = "bulwark.dev/exempt-until";

/// Whether the whole namespace is exempt by policy.
pub fn namespace_exempt(obj: &Workload, policy: &Policy) -> bool {
    let ns = obj.namespace();
    !ns.is_empty() && policy.exemptions.namespaces.iter().any(|n| n == ns)
}

/// State of an object's exemption annotation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AnnotationExemption {
    /// No annotation.
    None,
    /// Valid: these rule ids are exempt.
    Active(Vec<String>),
    /// Present but not honoured, with why (missing reason, expired, bad date).
    Invalid(String),
}

/// Reads the exemption annotations of `obj` as of `today` (days since the epoch).
pub fn annotation(obj: &Workload, today: Option<i64>) -> AnnotationExemption {
    let ann = &obj.meta.annotations;
    let Some(list) = ann.get(EXEMPT) else {
        return AnnotationExemption::None;
    };
    let rules: Vec<String> = list
        .split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(str::to_owned)
        .collect();
    if ann.get(EXEMPT_REASON).is_none_or(|r| r.trim().is_empty()) {
        return AnnotationExemption::Invalid(format!(
            "{EXEMPT} is set but {EXEMPT_REASON} is missing: an exemption needs a reason"
        ));
    }
    if let Some(until) = ann.get(EXEMPT_UNTIL) {
        let Some(day) = parse_date(until) else {
            return AnnotationExemption::Invalid(format!(
                "{EXEMPT_UNTIL} is {until:?}, not a YYYY-MM-DD date"
            ));
        };
        if today.is_some_and(|t| t > day) {
            return AnnotationExemption::Invalid(format!(
                "the exemption expired on {until} ({EXEMPT_UNTIL})"
            ));
        }
    }
    AnnotationExemption::Active(rules)
}

/// Removes exempted findings from `report`, recording each exemption used.
pub fn apply(obj: &Workload, ctx: Context<'_>, policy: &Policy, report: &mut Report) {
    let annotated = match annotation(obj, ctx.today) {
        AnnotationExemption::Active(rules) => rules,
        _ => Vec::new(),
    };
    let workload_rules: Vec<&[String]> = policy
        .exemptions
        .workloads
        .iter()
        .filter(|w| w.matches(obj))
        .map(|w| w.rules.as_slice())
        .collect();
    let image_prefixes = exempt_container_paths(obj, policy);

    let mut used = Vec::new();
    report.findings.retain(|f: &Finding| {
        let source = if f.rule == crate::rules::exemption::ID {
            None // the exemption rule itself cannot be exempted
        } else if annotated.iter().any(|r| r == f.rule) {
            Some(ExemptionSource::Annotation)
        } else if workload_rules
            .iter()
            .any(|rules| rules.is_empty() || rules.iter().any(|r| r == f.rule))
        {
            Some(ExemptionSource::Workload)
        } else if image_prefixes.iter().any(|(prefix, rules)| {
            under(&f.path, prefix) && (rules.is_empty() || rules.iter().any(|r| r == f.rule))
        }) {
            Some(ExemptionSource::Image)
        } else {
            None
        };
        match source {
            Some(source) => {
                used.push(ExemptionUse {
                    rule: f.rule,
                    source,
                });
                false
            }
            None => true,
        }
    });
    used.dedup();
    report.exemptions = used;
}

/// Paths of containers whose image matches an exempt prefix, with the rules exempted.
fn exempt_container_paths<'p>(obj: &Workload, policy: &'p Policy) -> Vec<(String, &'p [String])> {
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
                out.push((path, e.rules.as_slice()));
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

/// Parses `YYYY-MM-DD` into days since 1970-01-01.
pub fn parse_date(s: &str) -> Option<i64> {
    let mut it = s.trim().splitn(3, '-');
    let y: i64 = it.next()?.parse().ok()?;
    let m: i64 = it.next()?.parse().ok()?;
    let d: i64 = it.next()?.parse().ok()?;
    if !(1..=12).contains(&m) || !(1..=31).contains(&d) {
        return None;
    }
    days_from_civil(y, m, d)
}

/// Days since the epoch of a proleptic Gregorian date (H. Hinnant's algorithm); `None` when
/// the year is so far out that the day count does not fit an `i64`.
fn days_from_civil(y: i64, m: i64, d: i64) -> Option<i64> {
    let y = if m <= 2 { y.checked_sub(1)? } else { y };
    let era = y.div_euclid(400);
    let yoe = y.rem_euclid(400);
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era.checked_mul(146_097)?.checked_add(doe - 719_468)
}

/// Today (UTC) as days since the epoch.
pub fn today() -> i64 {
    let secs = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0);
    (secs / 86_400) as i64
}

#[cfg(test)]
mod tests {
    use super::*;

    fn obj(ann: &[(&str, &str)]) -> Workload {
        let mut v =
            serde_json::json!({"kind":"Deployment","metadata":{"name":"w","annotations":{}}});
        for (k, val) in ann {
            v["metadata"]["annotations"][*k] = serde_json::json!(val);
        }
        Workload::from_value(&v).expect("parses")
    }

    #[test]
    fn dates() {
        assert_eq!(parse_date("1970-01-01"), Some(0));
        assert_eq!(parse_date("2000-03-01"), Some(11_017));
        assert_eq!(parse_date("2026-13-01"), None);
        assert_eq!(parse_date("soon"), None);
        assert_eq!(parse_date("-0001-12-31"), None); // the leading '-' splits off an empty year
        assert_eq!(parse_date("0000-03-01"), Some(-719_468));
    }

    /// Regression (found by tests/integration/fuzz.rs): an `exempt-until` year whose day count
    /// does not fit an i64 overflowed (a panic in debug builds, a wrapped date in release).
    #[test]
    fn dates_out_of_range_are_not_dates() {
        assert_eq!(parse_date("9223372036854775807-01-01"), None);
        assert_eq!(parse_date("-9223372036854775808-01-01"), None);
        assert_eq!(parse_date("26000000000000000-12-31"), None);
        assert!(parse_date("25000000000000000-12-31").is_some_and(|d| d > 0));
        let far = obj(&[
            (EXEMPT, "replicas"),
            (EXEMPT_REASON, "legacy"),
            (EXEMPT_UNTIL, "9223372036854775807-01-01"),
        ]);
        assert!(matches!(
            annotation(&far, Some(20_000)),
            AnnotationExemption::Invalid(m) if m.contains("not a YYYY-MM-DD date")
        ));
    }

    #[test]
    fn annotation_needs_reason_and_respects_expiry() {
        assert_eq!(annotation(&obj(&[]), None), AnnotationExemption::None);
        assert!(matches!(
            annotation(&obj(&[(EXEMPT, "replicas")]), None),
            AnnotationExemption::Invalid(m) if m.contains("reason")
        ));
        let ok = obj(&[(EXEMPT, "replicas, labels"), (EXEMPT_REASON, "legacy")]);
        assert_eq!(
            annotation(&ok, None),
            AnnotationExemption::Active(vec!["replicas".into(), "labels".into()])
        );
        let until = obj(&[
            (EXEMPT, "replicas"),
            (EXEMPT_REASON, "legacy"),
            (EXEMPT_UNTIL, "2026-01-31"),
        ]);
        let day = parse_date("2026-01-31").expect("date");
        assert!(matches!(
            annotation(&until, Some(day)),
            AnnotationExemption::Active(_)
        ));
        assert!(matches!(
            annotation(&until, Some(day + 1)),
            AnnotationExemption::Invalid(m) if m.contains("expired")
        ));
    }

    #[test]
    fn under_matches_whole_segments() {
        assert!(under("spec.containers[1].image", "spec.containers[1]"));
        assert!(!under("spec.containers[10].image", "spec.containers[1]"));
    }
}
