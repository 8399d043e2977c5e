//! The `/report` page: the shared audit results as one self-contained HTML page (inline
//! CSS, no script, no external asset), for a person with a browser and a
//! `kubectl port-forward`.
//!
//! Every string from the cluster (object names, messages, paths, exemption reasons) is
//! tenant-controlled, so each goes through [`escape`]; the server's Content-Security-Policy
//! forbids scripts besides. The page is bounded ([`PageOptions`]): a huge cluster, or a
//! tenant writing huge messages, cannot make it huge.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::sync::Arc;
use std::time::Duration;

use super::evaluate::{AuditFinding, CLUSTER_SCOPE, ScopeAudit, Verdict};
use super::state::{AuditState, AuditView};
use crate::config::Mode;
use crate::engine::Severity;

/// Whether the auditor runs, and so what the page can show.
#[derive(Debug, Clone)]
pub enum AuditStatus {
    /// The auditor runs and publishes into this state.
    Running(Arc<AuditState>),
    /// Nothing to audit: `--no-cluster`, or no kubeconfig or in-cluster configuration.
    NoCluster,
    /// Turned off by `--no-audit` or the policy's `audit.enabled: false`.
    Disabled,
}

/// What the `?namespace=` filter calls the cluster scope (Namespaces themselves): a
/// namespace name cannot contain parentheses, so it cannot collide with one.
pub const CLUSTER_PARAM: &str = "(cluster)";

/// What to render, and how much.
#[derive(Debug, Clone)]
pub struct PageOptions {
    /// Only this namespace's results (or [`CLUSTER_PARAM`]'s); the namespace table still
    /// lists every namespace, to navigate by.
    pub namespace: Option<String>,
    /// Now, Unix seconds: the page says how long ago the last pass was.
    pub now: i64,
    /// Most result rows, and most namespace rows.
    pub max_rows: usize,
    /// Result rows stop once they add up to this many bytes, whatever `max_rows` says: a
    /// row's text is tenant-controlled, and escaping can make it six times longer.
    pub max_bytes: usize,
}

impl PageOptions {
    /// The production bounds: 2,000 rows, about 2 MiB of rows.
    pub fn new(namespace: Option<String>, now: i64) -> PageOptions {
        PageOptions {
            namespace,
            now,
            max_rows: 2_000,
            max_bytes: 2 * 1024 * 1024,
        }
    }
}

/// Longest cell text, in characters; longer is cut with an ellipsis. Engine messages are a
/// line; this only bites text a tenant wrote (an exemption's reason, a long image name).
const MAX_TEXT: usize = 600;

/// The page for `status`: the results when the auditor runs, else why it does not.
pub fn page(status: &AuditStatus, opts: &PageOptions) -> String {
    match status {
        // A clone of the view is a map of `Arc`s: the auditor's write lock is never
        // waited on while the page renders.
        AuditStatus::Running(state) => render(&state.read(AuditView::clone), opts),
        AuditStatus::NoCluster => render_off(
            "bulwark runs without a cluster (<code>--no-cluster</code>, or no kubeconfig or \
             in-cluster configuration was found), so there are no existing objects to judge.",
            "Run <code>bulwark serve</code> in the cluster (the manifests in \
             <code>deploy/</code>) or with a kubeconfig, without <code>--no-cluster</code>. The \
             auditor needs to list and watch workloads: <code>deploy/base/rbac-audit.yaml</code>.",
        ),
        AuditStatus::Disabled => render_off(
            "The auditor is turned off by <code>--no-audit</code> or the policy's \
             <code>audit.enabled: false</code>.",
            "Drop <code>--no-audit</code> and set <code>audit: {enabled: true}</code> in the \
             policy (the default), then restart bulwark. Admission is not affected either way.",
        ),
    }
}

/// Fail, warn and skip counts.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
struct Counts {
    fail: usize,
    warn: usize,
    skip: usize,
}

impl Counts {
    fn add(&mut self, v: Verdict) {
        match v {
            Verdict::Fail => self.fail += 1,
            Verdict::Warn => self.warn += 1,
            Verdict::Skip => self.skip += 1,
        }
    }

    fn of(findings: &[AuditFinding]) -> Counts {
        let mut c = Counts::default();
        findings.iter().for_each(|f| c.add(f.verdict));
        c
    }

    fn total(self) -> usize {
        self.fail + self.warn + self.skip
    }

    /// Worst first: most failures, then most warnings.
    fn worst_first(self) -> (std::cmp::Reverse<usize>, std::cmp::Reverse<usize>) {
        (std::cmp::Reverse(self.fail), std::cmp::Reverse(self.warn))
    }
}

/// One scope as the page lists it.
struct Scope<'v> {
    key: &'v str,
    audit: &'v ScopeAudit,
    counts: Counts,
}

/// Renders `view` (see the module doc for what and how much).
pub fn render(view: &AuditView, opts: &PageOptions) -> String {
    let mut scopes: Vec<Scope<'_>> = view
        .scopes
        .iter()
        .map(|(key, audit)| Scope {
            key,
            audit,
            counts: Counts::of(&audit.findings),
        })
        .collect();
    // Worst first, so that the bounds cut the least interesting rows.
    scopes.sort_by(|a, b| (a.counts.worst_first(), a.key).cmp(&(b.counts.worst_first(), b.key)));
    let filter = opts.namespace.as_deref().map(|ns| match ns {
        CLUSTER_PARAM => CLUSTER_SCOPE,
        ns => ns,
    });
    let selected: Vec<&Scope<'_>> = scopes
        .iter()
        .filter(|s| filter.is_none_or(|f| f == s.key))
        .collect();

    let mut out = String::with_capacity(16 * 1024);
    head(&mut out, "bulwark audit report");
    out.push_str("<header><h1>bulwark audit report</h1>");
    match filter {
        Some(f) => {
            let _ = write!(
                out,
                "<p class=\"meta\">Showing <b>{}</b> only. <a href=\"?\">All namespaces</a></p>",
                escape(scope_label(f))
            );
        }
        None => out.push_str("<p class=\"meta\">All namespaces.</p>"),
    }
    pass_line(&mut out, view, opts.now);
    modes_line(&mut out, &scopes);
    out.push_str(if view.leader {
        "<p class=\"meta\">This replica holds the Lease and writes the PolicyReports.</p>"
    } else {
        "<p class=\"meta\">This replica judges but does not write the PolicyReports (another \
         replica holds the Lease, or none yet).</p>"
    });
    out.push_str("</header>");

    totals(&mut out, &selected);
    namespace_table(&mut out, &scopes, filter, opts.max_rows);
    rule_table(&mut out, &selected);
    results(&mut out, &selected, opts);
    out.push_str(
        "<footer>fail: enforce denies this, or would once the namespace is switched to \
         enforce. warn: reported, never denied. skip: lifted by an exemption, whose reason is \
         shown. The same results are in the PolicyReports: <code>kubectl get policyreports \
         -A -l app.kubernetes.io/managed-by=bulwark</code>.</footer></main></body></html>\n",
    );
    out
}

/// The page when the auditor does not run: what it would show, why it does not, and how to
/// turn it on. `why` and `how` are trusted HTML (written here, never from the cluster).
fn render_off(why: &str, how: &str) -> String {
    let mut out = String::with_capacity(4096);
    head(&mut out, "bulwark audit report: auditor off");
    let _ = writeln!(
        out,
        "<header><h1>bulwark audit report</h1></header>\
         <section class=\"notice\"><h2>The auditor is off</h2><p>{why}</p>\
         <p><b>To turn it on:</b> {how}</p>\
         <p>When it runs, this page lists, per namespace and per rule, the existing workloads \
         that bulwark would deny or warn about, with the field and the reason.</p></section>\
         </main></body></html>"
    );
    out
}

const STYLE: &str = "\
:root{--fail:#b42318;--warn:#b54708;--skip:#475467;--line:#e4e7ec;--muted:#5d6b82;--bg:#f6f7f9}\
*{box-sizing:border-box}\
body{margin:0;font:14px/1.5 system-ui,-apple-system,'Segoe UI',Roboto,'Helvetica Neue',Arial,sans-serif;color:#101828;background:var(--bg)}\
main{max-width:1240px;margin:0 auto;padding:24px 28px 40px}\
h1{font-size:24px;margin:0 0 6px}\
h2{font-size:18px;margin:32px 0 10px}\
h3{font-size:15px;margin:22px 0 8px}\
.meta{color:var(--muted);margin:2px 0}\
.cards{display:flex;gap:12px;flex-wrap:wrap;margin:20px 0 4px}\
.card{background:#fff;border:1px solid var(--line);border-radius:8px;padding:10px 18px;min-width:130px}\
.card b{display:block;font-size:26px;line-height:1.2;font-variant-numeric:tabular-nums}\
.card span{color:var(--muted);font-size:13px}\
.card.fail b{color:var(--fail)}.card.warn b{color:var(--warn)}.card.skip b{color:var(--skip)}\
table{width:100%;border-collapse:collapse;background:#fff;border:1px solid var(--line)}\
th,td{text-align:left;padding:6px 10px;border-bottom:1px solid var(--line);vertical-align:top}\
th{background:#eef0f3;font-weight:600;font-size:13px;white-space:nowrap}\
table.summary tbody tr:nth-child(even){background:#fafbfc}\
table.results{table-layout:fixed}\
col.c-result{width:72px}col.c-rule{width:210px}col.c-sev{width:84px}col.c-path{width:30%}\
tr.object td{background:#f3f5f8;border-top:2px solid var(--line);padding:7px 10px;overflow-wrap:anywhere}\
code.rule{white-space:nowrap}\
.n{text-align:right;font-variant-numeric:tabular-nums;width:80px}\
.z{color:#a0a8b5}\
td.msg{overflow-wrap:anywhere}\
code{font:12.5px/1.4 ui-monospace,SFMono-Regular,Menlo,Consolas,monospace;overflow-wrap:anywhere}\
.badge{display:inline-block;padding:1px 8px;border-radius:10px;font-size:12px;font-weight:600;color:#fff}\
.badge.fail{background:var(--fail)}.badge.warn{background:var(--warn)}.badge.skip{background:var(--skip)}\
.mode{display:inline-block;padding:0 7px;border:1px solid var(--line);border-radius:10px;font-size:12px;color:var(--muted);background:#fff}\
.mode.enforce{border-color:#f3b8b2;color:var(--fail)}\
.reason{color:var(--skip);font-style:italic}\
.more{margin:10px 0;color:var(--muted)}\
.notice{background:#fff;border:1px solid var(--line);border-left:4px solid var(--warn);padding:4px 20px 8px;border-radius:6px;margin-top:20px}\
.empty{background:#fff;border:1px solid var(--line);padding:14px 18px;color:var(--muted)}\
footer{margin-top:36px;color:var(--muted);font-size:13px}\
a{color:#175cd3;text-decoration:none}a:hover{text-decoration:underline}";

fn head(out: &mut String, title: &str) {
    let _ = write!(
        out,
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\
         <meta name=\"viewport\" content=\"width=device-width,initial-scale=1\">\
         <title>{title}</title><style>{STYLE}</style></head><body><main>"
    );
}

fn pass_line(out: &mut String, view: &AuditView, now: i64) {
    match view.last_full_pass {
        Some(pass) => {
            let _ = write!(
                out,
                "<p class=\"meta\">Last full pass: <b>{}</b> ({}), took {} over {} objects.</p>",
                utc(pass.finished),
                ago(now - pass.finished),
                duration(pass.duration),
                pass.objects
            );
        }
        None => out.push_str(
            "<p class=\"meta\">Last full pass: <b>no pass yet</b>. The auditor waits for its \
             caches to sync, then judges everything; this page fills in then.</p>",
        ),
    }
}

/// How many namespaces are judged in each mode.
fn modes_line(out: &mut String, scopes: &[Scope<'_>]) {
    let mut by_mode: BTreeMap<std::cmp::Reverse<Mode>, usize> = BTreeMap::new();
    for s in scopes {
        if let Some(m) = s.audit.mode {
            *by_mode.entry(std::cmp::Reverse(m)).or_default() += 1;
        }
    }
    if by_mode.is_empty() {
        return;
    }
    let parts: Vec<String> = by_mode
        .iter()
        .map(|(m, n)| {
            format!(
                "<span class=\"mode {m}\">{m}</span> {n} namespace{s}",
                m = m.0.as_str(),
                s = plural(*n)
            )
        })
        .collect();
    let _ = write!(
        out,
        "<p class=\"meta\">Mode: {}.</p>",
        parts.join(" &middot; ")
    );
}

fn totals(out: &mut String, selected: &[&Scope<'_>]) {
    let mut c = Counts::default();
    let mut objects = 0;
    for s in selected {
        c.fail += s.counts.fail;
        c.warn += s.counts.warn;
        c.skip += s.counts.skip;
        objects += s.audit.objects;
    }
    let _ = write!(
        out,
        "<section class=\"cards\" aria-label=\"totals\">\
         <div class=\"card fail\"><b>{}</b> <span>fail</span></div>\
         <div class=\"card warn\"><b>{}</b> <span>warn</span></div>\
         <div class=\"card skip\"><b>{}</b> <span>skip</span></div>\
         <div class=\"card\"><b>{objects}</b> <span>objects judged</span></div>\
         <div class=\"card\"><b>{}</b> <span>namespaces</span></div></section>",
        c.fail,
        c.warn,
        c.skip,
        selected.len()
    );
}

fn namespace_table(out: &mut String, scopes: &[Scope<'_>], filter: Option<&str>, max: usize) {
    out.push_str("<h2>By namespace</h2>");
    if scopes.is_empty() {
        out.push_str("<p class=\"empty\">No namespace judged yet.</p>");
        return;
    }
    out.push_str(
        "<table class=\"summary\"><thead><tr><th>Namespace</th><th>Mode</th><th class=\"n\">Objects</th>\
         <th class=\"n\">Fail</th><th class=\"n\">Warn</th><th class=\"n\">Skip</th></tr>\
         </thead><tbody>",
    );
    for s in scopes.iter().take(max) {
        let label = escape(scope_label(s.key));
        let param = match s.key {
            CLUSTER_SCOPE => CLUSTER_PARAM,
            key => key,
        };
        let name = if filter == Some(s.key) {
            format!("<b>{label}</b>")
        } else {
            format!(
                "<a href=\"?namespace={}\">{label}</a>",
                escape(&percent_encode(param))
            )
        };
        let mode = s.audit.mode.map_or("per namespace", Mode::as_str);
        let _ = write!(
            out,
            "<tr><td>{name}</td><td><span class=\"mode {mode}\">{mode}</span></td>{}{}{}{}</tr>",
            num(s.audit.objects),
            num(s.counts.fail),
            num(s.counts.warn),
            num(s.counts.skip)
        );
    }
    out.push_str("</tbody></table>");
    more(
        out,
        scopes.len().saturating_sub(max),
        "namespace",
        " not shown (those with the fewest findings)",
    );
}

fn rule_table(out: &mut String, selected: &[&Scope<'_>]) {
    let mut by_rule: BTreeMap<(&str, Severity), Counts> = BTreeMap::new();
    for s in selected {
        for f in &s.audit.findings {
            by_rule
                .entry((f.rule, f.severity))
                .or_default()
                .add(f.verdict);
        }
    }
    out.push_str("<h2>By rule</h2>");
    if by_rule.is_empty() {
        out.push_str("<p class=\"empty\">No rule has a finding.</p>");
        return;
    }
    let mut rows: Vec<_> = by_rule.into_iter().collect();
    rows.sort_by(|(a_key, a), (b_key, b)| (a.worst_first(), a_key).cmp(&(b.worst_first(), b_key)));
    // Bounded by the catalogue: one row per rule and severity.
    out.push_str(
        "<table class=\"summary\"><thead><tr><th>Rule</th><th>Severity</th><th>What it requires</th>\
         <th class=\"n\">Fail</th><th class=\"n\">Warn</th><th class=\"n\">Skip</th></tr>\
         </thead><tbody>",
    );
    for ((rule, severity), c) in rows {
        let summary = crate::rules::index_of(rule)
            .and_then(|i| crate::rules::catalogue().get(i))
            .map_or("", |r| r.meta().summary);
        let _ = write!(
            out,
            "<tr><td><code class=\"rule\">{}</code></td><td>{}</td><td>{}</td>{}{}{}</tr>",
            escape(rule),
            severity.as_str(),
            escape(summary),
            num(c.fail),
            num(c.warn),
            num(c.skip)
        );
    }
    out.push_str("</tbody></table>");
}

/// The results, grouped by namespace. Which rows are shown is chosen failures first across
/// every namespace, then warnings, then exemptions, so the bounds never hide a failure
/// while showing a warning.
fn results(out: &mut String, selected: &[&Scope<'_>], opts: &PageOptions) {
    out.push_str("<h2>Workloads with findings</h2>");
    let total: usize = selected.iter().map(|s| s.counts.total()).sum();
    if total == 0 {
        out.push_str(if selected.is_empty() && opts.namespace.is_some() {
            "<p class=\"empty\">Nothing judged in this namespace: it is exempt, its mode is \
             off, or it has no workloads.</p>"
        } else {
            "<p class=\"empty\">No findings: every judged object passes.</p>"
        });
        return;
    }
    let mut order: Vec<(Verdict, usize, usize)> = Vec::with_capacity(total);
    for (si, s) in selected.iter().enumerate() {
        for (fi, f) in s.audit.findings.iter().enumerate() {
            order.push((f.verdict, si, fi));
        }
    }
    order.sort_unstable();
    // Rows rendered in priority order, then laid out by namespace.
    let mut rows: Vec<Vec<(usize, String)>> = vec![Vec::new(); selected.len()];
    let (mut bytes, mut shown) = (0, 0);
    let mut hidden = Counts::default();
    let mut hidden_in = vec![0; selected.len()];
    for &(verdict, si, fi) in &order {
        if shown >= opts.max_rows || bytes >= opts.max_bytes {
            hidden.add(verdict);
            hidden_in[si] += 1;
            continue;
        }
        let row = result_row(&selected[si].audit.findings[fi]);
        bytes += row.len();
        shown += 1;
        rows[si].push((fi, row));
    }
    for ((s, mut rows), hidden_here) in selected.iter().zip(rows).zip(hidden_in) {
        if rows.is_empty() {
            continue;
        }
        // By object, each object's results in the pass's order (failures first).
        let findings = &s.audit.findings;
        rows.sort_unstable_by(|(a, _), (b, _)| {
            (&*findings[*a].subject, a).cmp(&(&*findings[*b].subject, b))
        });
        let mode = s.audit.mode.map_or("per namespace", Mode::as_str);
        let _ = write!(
            out,
            "<h3 id=\"ns-{}\">{} <span class=\"mode {mode}\">{mode}</span></h3>\
             <table class=\"results\"><colgroup><col class=\"c-result\"><col class=\"c-rule\">\
             <col class=\"c-sev\"><col class=\"c-path\"><col></colgroup><thead><tr>\
             <th>Result</th><th>Rule</th><th>Severity</th><th>Field</th><th>Message</th>\
             </tr></thead><tbody>",
            escape(s.key),
            escape(scope_label(s.key)),
        );
        let mut object = None;
        for (fi, row) in rows {
            let subject = &findings[fi].subject;
            if object != Some(subject) {
                let _ = write!(
                    out,
                    "<tr class=\"object\"><td colspan=\"5\">{}/<b>{}</b></td></tr>",
                    subject.kind,
                    text(&subject.name)
                );
                object = Some(subject);
            }
            out.push_str(&row);
        }
        out.push_str("</tbody></table>");
        more(out, hidden_here, "result", " in this namespace not shown");
    }
    if hidden.total() > 0 {
        let _ = write!(
            out,
            "<p class=\"more\">&hellip; and {} more results not shown (fail {}, warn {}, skip \
             {}): the page is capped at {} rows. Pick a namespace above, or read the \
             PolicyReports.</p>",
            hidden.total(),
            hidden.fail,
            hidden.warn,
            hidden.skip,
            opts.max_rows
        );
    }
}

fn result_row(f: &AuditFinding) -> String {
    let verdict = f.verdict.as_str();
    let message = match &f.exemption {
        Some(reason) => format!(
            "<span class=\"reason\">Exempt: {}</span><br>{}",
            text(reason),
            text(&f.message)
        ),
        None => text(&f.message),
    };
    format!(
        "<tr><td><span class=\"badge {verdict}\">{verdict}</span></td>\
         <td><code class=\"rule\">{}</code></td><td>{}</td>\
         <td><code>{}</code></td><td class=\"msg\">{message}</td></tr>",
        escape(f.rule),
        f.severity.as_str(),
        text(&f.path),
    )
}

fn more(out: &mut String, hidden: usize, what: &str, hint: &str) {
    if hidden > 0 {
        let _ = write!(
            out,
            "<p class=\"more\">&hellip; and {hidden} more {what}{}{hint}.</p>",
            plural(hidden)
        );
    }
}

fn num(n: usize) -> String {
    if n == 0 {
        "<td class=\"n z\">0</td>".into()
    } else {
        format!("<td class=\"n\">{n}</td>")
    }
}

fn plural(n: usize) -> &'static str {
    if n == 1 { "" } else { "s" }
}

fn scope_label(key: &str) -> &str {
    match key {
        CLUSTER_SCOPE => "cluster-scoped (Namespaces)",
        key => key,
    }
}

/// `s` with the five characters that matter in HTML text and quoted attributes replaced.
pub fn escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// Cluster text as cell content: escaped, at most [`MAX_TEXT`] characters.
fn text(s: &str) -> String {
    escape(&clip(s))
}

/// At most [`MAX_TEXT`] characters of `s`.
fn clip(s: &str) -> std::borrow::Cow<'_, str> {
    match s.char_indices().nth(MAX_TEXT) {
        Some((end, _)) => format!("{}…", &s[..end]).into(),
        None => s.into(),
    }
}

/// `s` as a URL query value: unreserved characters kept, every other byte `%XX`.
fn percent_encode(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~') {
            out.push(char::from(b));
        } else {
            let _ = write!(out, "%{b:02X}");
        }
    }
    out
}

/// `2024-10-04 12:00:00 UTC`.
fn utc(unix: i64) -> String {
    match time::OffsetDateTime::from_unix_timestamp(unix) {
        Ok(t) => format!(
            "{:04}-{:02}-{:02} {:02}:{:02}:{:02} UTC",
            t.year(),
            u8::from(t.month()),
            t.day(),
            t.hour(),
            t.minute(),
            t.second()
        ),
        Err(_) => format!("{unix} (Unix time)"),
    }
}

fn ago(seconds: i64) -> String {
    match seconds {
        ..5 => "just now".into(),
        5..120 => format!("{seconds} s ago"),
        120..7_200 => format!("{} min ago", seconds / 60),
        7_200..172_800 => format!("{} h ago", seconds / 3_600),
        _ => format!("{} days ago", seconds / 86_400),
    }
}

fn duration(d: Duration) -> String {
    if d < Duration::from_secs(1) {
        format!("{} ms", d.as_millis())
    } else {
        format!("{:.1} s", d.as_secs_f64())
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;
    use std::time::Duration;

    use serde::Deserialize;

    use super::*;
    use crate::audit::evaluate::Subject;
    use crate::audit::snapshot::Snapshot;
    use crate::audit::state::{FullPass, Scopes};
    use crate::config::Policy;
    use crate::engine::Category;

    const OWN: &str = "bulwark-system";
    const NOW: i64 = 1_728_043_200; // 2024-10-04 12:00:00 UTC

    /// `tests/fixtures/report/cluster.yaml` judged by the real engine and published into a
    /// real `AuditState`, as the auditor does after a full pass.
    fn fixture_state() -> AuditState {
        let text = include_str!("../../tests/fixtures/report/cluster.yaml");
        let mut objects = Vec::new();
        for doc in serde_yaml_ng::Deserializer::from_str(text) {
            let value = serde_json::Value::deserialize(doc).expect("fixture is YAML");
            Snapshot::insert_value(&mut objects, &value).expect("fixture object parses");
        }
        let today =
            crate::engine::exemptions::days_since_epoch(time::macros::date!(2024 - 10 - 04));
        let results = Snapshot::new(objects, false).evaluate(&Policy::default(), OWN, today);
        let state = AuditState::default();
        state.replace(&Scopes::All, results);
        state.full_pass(FullPass {
            finished: NOW - 300,
            duration: Duration::from_millis(1_250),
            objects: 4,
        });
        state.set_leader(true);
        state
    }

    fn render_fixture(opts: &PageOptions) -> String {
        page(&AuditStatus::Running(Arc::new(fixture_state())), opts)
    }

    fn rows(html: &str) -> usize {
        html.matches("<tr><td><span class=\"badge").count()
    }

    #[test]
    fn scopes_record_the_mode_they_were_judged_in() {
        let state = fixture_state();
        state.read(|v| {
            assert_eq!(v.scopes["shop"].mode, Some(Mode::Audit));
            assert_eq!(v.scopes["payments"].mode, Some(Mode::Enforce));
            assert!(
                !v.scopes.contains_key(OWN),
                "bulwark's own namespace is never judged"
            );
        });
    }

    #[test]
    fn the_page_shows_counts_per_namespace_and_rule_and_each_finding() {
        let html = render_fixture(&PageOptions::new(None, NOW));
        let state = fixture_state();
        let (shop, payments) =
            state.read(|v| (v.scopes["shop"].clone(), v.scopes["payments"].clone()));
        assert!(html.starts_with("<!DOCTYPE html>"));
        assert!(html.contains("2024-10-04 11:55:00 UTC"), "last pass time");
        assert!(html.contains("(5 min ago), took 1.2 s over 4 objects"));
        assert!(html.contains("holds the Lease"));
        // Namespace rows: name, mode, objects, fail, warn, skip.
        let shop_row = format!(
            "<tr><td><a href=\"?namespace=shop\">shop</a></td><td><span class=\"mode audit\">audit\
             </span></td>{}{}{}{}</tr>",
            num(2),
            num(shop.count(Verdict::Fail)),
            num(shop.count(Verdict::Warn)),
            num(shop.count(Verdict::Skip))
        );
        assert!(html.contains(&shop_row), "shop's row: {shop_row}");
        assert!(html.contains("<span class=\"mode enforce\">enforce</span>"));
        // Totals over both namespaces.
        let fails = shop.count(Verdict::Fail) + payments.count(Verdict::Fail);
        assert!(html.contains(&format!("<b>{fails}</b> <span>fail</span>")));
        // A rule row with its catalogue summary.
        assert!(html.contains("<td><code class=\"rule\">privileged</code></td><td>error</td><td>"));
        // Every finding, with object, rule, path and message.
        let findings: usize = state.read(|v| v.scopes.values().map(|s| s.findings.len()).sum());
        assert_eq!(rows(&html), findings);
        let web = shop
            .findings
            .iter()
            .find(|f| f.subject.name == "web" && f.rule == "privileged")
            .expect("web runs privileged");
        let web_rows = html
            .split("<tr class=\"object\"><td colspan=\"5\">Deployment/<b>web</b></td></tr>")
            .nth(1)
            .expect("web's results")
            .split("<tr class=\"object\">")
            .next()
            .unwrap_or_default();
        assert!(web_rows.contains(&format!(
            "<tr><td><span class=\"badge fail\">fail</span></td><td><code class=\"rule\">\
             privileged</code></td><td>error</td><td><code>{}</code></td>\
             <td class=\"msg\">{}</td></tr>",
            escape(&web.path),
            escape(&web.message)
        )));
        // The exemption: skipped, with its reason.
        assert!(payments.count(Verdict::Skip) > 0);
        assert!(html.contains("<span class=\"badge skip\">skip</span>"));
        assert!(html.contains("Exempt: "));
        assert!(html.contains("vendor agent needs the host network (TICKET-7)"));
    }

    #[test]
    fn cluster_strings_are_text_never_markup() {
        let html = render_fixture(&PageOptions::new(None, NOW));
        // The fixture's deployment name, image and exemption reason try to inject elements.
        assert!(html.contains("&lt;script&gt;alert(1)&lt;/script&gt;"));
        assert!(html.contains("&lt;img src=x onerror=alert(3)&gt;"));
        assert!(!html.contains("<script"), "a script element");
        assert!(!html.contains("<img"), "an img element");

        // Every field a finding shows, hostile at once.
        let hostile = "\"><img src=x onerror=alert(1)><script>alert('x')</script>&amp;";
        let finding = AuditFinding {
            subject: Arc::new(Subject {
                api_version: "apps/v1",
                kind: "Deployment",
                namespace: hostile.into(),
                name: hostile.into(),
                uid: String::new(),
            }),
            rule: "privileged",
            category: Category::Security,
            severity: Severity::Error,
            verdict: Verdict::Skip,
            path: hostile.into(),
            message: hostile.into(),
            mode: Mode::Enforce,
            exemption: Some(hostile.into()),
        };
        let mut view = AuditView::default();
        view.scopes.insert(
            hostile.into(),
            Arc::new(ScopeAudit {
                mode: Some(Mode::Enforce),
                objects: 1,
                findings: vec![finding],
            }),
        );
        for namespace in [None, Some(hostile.to_owned())] {
            let html = render(&view, &PageOptions::new(namespace, NOW));
            assert!(!html.contains("<script"), "{html}");
            assert!(!html.contains("<img"), "{html}");
            assert!(!html.contains(hostile), "cluster text verbatim: {html}");
            assert!(html.contains("&quot;&gt;&lt;img src=x onerror=alert(1)&gt;"));
            assert!(
                html.contains("&amp;amp;"),
                "an entity in cluster text stays text"
            );
        }
        // The filter link percent-encodes the namespace.
        let html = render(&view, &PageOptions::new(None, NOW));
        assert!(html.contains("<a href=\"?namespace=%22%3E%3Cimg%20src%3Dx"));
    }

    #[test]
    fn rows_are_bounded_failures_first_with_a_count_of_the_rest() {
        let full = render_fixture(&PageOptions::new(None, NOW));
        let total = rows(&full);
        assert!(total > 4);
        let html = render_fixture(&PageOptions {
            max_rows: 3,
            ..PageOptions::new(None, NOW)
        });
        assert_eq!(rows(&html), 3);
        assert_eq!(
            html.matches("<span class=\"badge fail\">").count(),
            3,
            "failures first"
        );
        assert!(html.contains(&format!("and {} more results not shown", total - 3)));

        // The byte budget: one row's worth stops after the first row.
        let html = render_fixture(&PageOptions {
            max_bytes: 1,
            ..PageOptions::new(None, NOW)
        });
        assert_eq!(rows(&html), 1);
        assert!(html.contains(&format!("and {} more results not shown", total - 1)));
    }

    #[test]
    fn long_tenant_text_is_clipped() {
        let long = "x".repeat(10 * MAX_TEXT);
        let cell = text(&long);
        assert_eq!(cell.chars().count(), MAX_TEXT + 1);
        assert!(cell.ends_with('…'));
        // Multi-byte text is cut on a character boundary.
        assert_eq!(
            text(&"é".repeat(MAX_TEXT + 5)).chars().count(),
            MAX_TEXT + 1
        );
    }

    #[test]
    fn many_namespaces_are_bounded_too() {
        let mut view = AuditView::default();
        for i in 0..10 {
            view.scopes
                .insert(format!("ns{i}"), Arc::new(ScopeAudit::default()));
        }
        let html = render(
            &view,
            &PageOptions {
                max_rows: 4,
                ..PageOptions::new(None, NOW)
            },
        );
        assert_eq!(html.matches("<a href=\"?namespace=ns").count(), 4);
        assert!(html.contains("and 6 more namespaces not shown"));
    }

    #[test]
    fn the_namespace_filter_shows_one_namespace() {
        let html = render_fixture(&PageOptions::new(Some("payments".into()), NOW));
        assert!(html.contains("Showing <b>payments</b> only"));
        assert!(html.contains("<h3 id=\"ns-payments\">"));
        assert!(!html.contains("<h3 id=\"ns-shop\">"));
        assert!(!html.contains("Deployment/<b>web</b>"));
        // The namespace table still lists both, to navigate by.
        assert!(html.contains("<a href=\"?namespace=shop\">shop</a>"));

        let html = render_fixture(&PageOptions::new(Some("nowhere".into()), NOW));
        assert!(html.contains("Nothing judged in this namespace"));
        assert_eq!(rows(&html), 0);
    }

    #[test]
    fn before_the_first_pass_the_page_says_so() {
        let html = page(
            &AuditStatus::Running(Arc::default()),
            &PageOptions::new(None, NOW),
        );
        assert!(html.contains("<b>no pass yet</b>"));
        assert!(html.contains("No namespace judged yet"));
        assert!(html.contains("No findings"));
        assert!(html.contains("<b>0</b> <span>fail</span>"));
    }

    #[test]
    fn with_the_auditor_off_the_page_says_why_and_how_to_turn_it_on() {
        let opts = PageOptions::new(None, NOW);
        let off = page(&AuditStatus::NoCluster, &opts);
        assert!(off.contains("The auditor is off"));
        assert!(off.contains("without a cluster"));
        assert!(off.contains("To turn it on"));
        let off = page(&AuditStatus::Disabled, &opts);
        assert!(off.contains("The auditor is off"));
        assert!(off.contains("<code>--no-audit</code>"));
        assert!(off.contains("audit: {enabled: true}"));
    }

    #[test]
    fn times_read_as_a_person_says_them() {
        assert_eq!(utc(0), "1970-01-01 00:00:00 UTC");
        assert_eq!(ago(2), "just now");
        assert_eq!(ago(90), "90 s ago");
        assert_eq!(ago(600), "10 min ago");
        assert_eq!(ago(3 * 3600), "3 h ago");
        assert_eq!(ago(3 * 86_400), "3 days ago");
        assert_eq!(duration(Duration::from_millis(42)), "42 ms");
        assert_eq!(duration(Duration::from_millis(2_345)), "2.3 s");
    }
}
