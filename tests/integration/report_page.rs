//! `/report` on the real server's health port: over plain HTTP with a real client, and in a
//! real headless Chromium (its rendered DOM, and a screenshot kept as a test artifact in
//! `target/test-artifacts/report-page.png`).
//!
//! The audit state is filled as the auditor fills it: `tests/fixtures/report/cluster.yaml`
//! judged by the real engine through [`Snapshot::evaluate`], published into an
//! [`AuditState`] the server reads.

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use bulwark::audit::page::AuditStatus;
use bulwark::audit::state::{FullPass, Scopes};
use bulwark::audit::{AuditState, ScopeAudit, Snapshot, Verdict};
use bulwark::config::Policy;
use bulwark::server::Options;
use bulwark::server::report::CONTENT_SECURITY_POLICY;

use crate::server::{TestServer, fixture};

const CHROMIUM: &str = "/usr/bin/chromium";
const OWN: &str = "bulwark-system";

/// The fixture cluster, judged and published as after a full pass.
fn fixture_state() -> Arc<AuditState> {
    let mut loaded = bulwark::offline::Loaded::default();
    let text = fixture("tests/fixtures/report/cluster.yaml");
    bulwark::offline::load_text("cluster.yaml", &text, false, &mut loaded);
    assert!(loaded.errors.is_empty(), "{:?}", loaded.errors);
    let mut objects = Vec::new();
    for doc in &loaded.documents {
        Snapshot::insert_value(&mut objects, &doc.value).expect("fixture object parses");
    }
    let today = bulwark::engine::exemptions::days_since_epoch(bulwark::clock::today());
    let results = Snapshot::new(objects, false).evaluate(&Policy::default(), OWN, today);
    let state = AuditState::default();
    state.replace(&Scopes::All, results);
    state.full_pass(FullPass {
        finished: time::OffsetDateTime::now_utc().unix_timestamp() - 300,
        duration: Duration::from_millis(840),
        objects: 6,
    });
    state.set_leader(true);
    Arc::new(state)
}

fn scope(state: &AuditState, name: &str) -> Arc<ScopeAudit> {
    state.read(|v| v.scopes[name].clone())
}

async fn start(state: &Arc<AuditState>) -> TestServer {
    TestServer::start_with_audit(
        Policy::default(),
        Options::default(),
        None,
        AuditStatus::Running(state.clone()),
    )
    .await
}

fn report_url(srv: &TestServer, query: &str) -> String {
    format!("http://127.0.0.1:{}/report{query}", srv.health.port())
}

async fn get_text(client: &reqwest::Client, url: String) -> String {
    let resp = client.get(&url).send().await.expect(&url);
    assert_eq!(resp.status(), 200, "{url}");
    resp.text().await.expect("body")
}

#[tokio::test]
async fn report_is_served_on_the_health_port_as_strict_html() {
    let state = fixture_state();
    let mut srv = start(&state).await;
    let client = reqwest::Client::builder()
        .timeout(Duration::from_secs(20))
        .build()
        .expect("client");

    let resp = client
        .get(report_url(&srv, ""))
        .send()
        .await
        .expect("GET /report");
    assert_eq!(resp.status(), 200);
    let header = |name: &str| {
        resp.headers()
            .get(name)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_owned()
    };
    assert_eq!(header("content-type"), "text/html; charset=utf-8");
    assert_eq!(header("cache-control"), "no-store");
    assert_eq!(
        header("content-security-policy"),
        "default-src 'none'; style-src 'unsafe-inline'"
    );
    assert_eq!(header("content-security-policy"), CONTENT_SECURITY_POLICY);
    assert_eq!(header("x-content-type-options"), "nosniff");
    let body = resp.text().await.expect("body");
    assert!(body.contains("Deployment/<b>web</b>"));
    assert!(body.contains("&lt;script&gt;alert(1)&lt;/script&gt;"));
    assert!(!body.contains("<script"));

    // ?namespace= is parsed from the query: one namespace's results only.
    let body = get_text(&client, report_url(&srv, "?namespace=payments")).await;
    assert!(body.contains("Showing <b>payments</b> only"));
    assert!(body.contains("Deployment/<b>ledger</b>"));
    assert!(!body.contains("Deployment/<b>web</b>"));
    let body = get_text(&client, report_url(&srv, "?namespace=%28cluster%29")).await;
    assert!(body.contains("Namespace/<b>shop</b>"));
    assert!(!body.contains("Deployment/<b>"));

    // The health routes are still there beside it.
    let health = client
        .get(format!("http://127.0.0.1:{}/healthz", srv.health.port()))
        .send()
        .await
        .expect("GET /healthz");
    assert_eq!(health.status(), 200);
    srv.stop().await.expect("clean stop");
}

#[tokio::test]
async fn without_a_cluster_report_says_the_auditor_is_off() {
    let mut srv = TestServer::start(Policy::default(), Options::default()).await;
    let resp = reqwest::get(report_url(&srv, ""))
        .await
        .expect("GET /report");
    assert_eq!(resp.status(), 200);
    assert_eq!(
        resp.headers()["content-security-policy"],
        CONTENT_SECURITY_POLICY
    );
    let body = resp.text().await.expect("body");
    assert!(body.contains("The auditor is off"));
    assert!(body.contains("without a cluster"));
    srv.stop().await.expect("clean stop");
}

/// Chromium, or why the test cannot run: a missing browser fails the test (CI installs it)
/// unless `BULWARK_SKIP_BROWSER=1` says to skip.
fn chromium() -> Option<&'static str> {
    if Path::new(CHROMIUM).exists() {
        return Some(CHROMIUM);
    }
    if std::env::var("BULWARK_SKIP_BROWSER").as_deref() == Ok("1") {
        eprintln!("BULWARK_SKIP_BROWSER=1: skipping the browser test ({CHROMIUM} missing)");
        return None;
    }
    panic!(
        "{CHROMIUM} not found: run .ci/run, which installs Debian's chromium package \
         (or apt-get install -y chromium); BULWARK_SKIP_BROWSER=1 skips this test"
    );
}

/// Runs headless Chromium with `args`, killed after a minute so a hung browser fails the
/// test instead of stalling it.
fn run_chromium(browser: &str, profile: &Path, args: &[&str]) -> Output {
    let mut child = Command::new(browser)
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-quic",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--hide-scrollbars",
        ])
        .arg(format!("--user-data-dir={}", profile.display()))
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start chromium");
    let deadline = Instant::now() + Duration::from_secs(60);
    // Both pipes are read while waiting: a DOM larger than a pipe's buffer would otherwise
    // block chromium on its write until the deadline.
    let stdout = child.stdout.take().expect("stdout");
    let stderr = child.stderr.take().expect("stderr");
    let read = |mut r: Box<dyn std::io::Read + Send>| {
        std::thread::spawn(move || {
            let mut buf = Vec::new();
            let _ = r.read_to_end(&mut buf);
            buf
        })
    };
    let (out, err) = (read(Box::new(stdout)), read(Box::new(stderr)));
    let status = loop {
        if let Some(status) = child.try_wait().expect("wait for chromium") {
            break status;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            panic!("chromium {args:?} did not finish within a minute");
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    Output {
        status,
        stdout: out.join().expect("stdout reader"),
        stderr: err.join().expect("stderr reader"),
    }
}

/// What a person reads: the body's text, tags dropped, entities decoded, spaces collapsed.
fn visible_text(dom: &str) -> String {
    let body = dom.find("<body").map_or(dom, |at| &dom[at..]);
    let mut text = String::with_capacity(body.len());
    let mut tag: Option<String> = None;
    for c in body.chars() {
        match (&mut tag, c) {
            (None, '<') => tag = Some(String::new()),
            (Some(t), '>') => {
                // Cells, rows and paragraphs are apart on screen; bold or code within a
                // line is not.
                let name = t
                    .trim_start_matches('/')
                    .split([' ', '/'])
                    .next()
                    .unwrap_or("");
                if !matches!(name, "b" | "span" | "code" | "a") {
                    text.push(' ');
                }
                tag = None;
            }
            (Some(t), c) => t.push(c),
            (None, c) => text.push(c),
        }
    }
    let text = text
        .replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&quot;", "\"")
        .replace("&nbsp;", " ")
        .replace("&amp;", "&");
    text.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// The text of `object`'s rows: from its heading to the next object's.
fn object_rows<'t>(text: &'t str, object: &str) -> &'t str {
    let start = text
        .find(&format!("{object} "))
        .unwrap_or_else(|| panic!("{object} not on the page: {text}"));
    let rest = &text[start + object.len()..];
    let end = ["Deployment/", "Namespace/"]
        .iter()
        .filter_map(|k| rest.find(k))
        .min()
        .unwrap_or(rest.len());
    &rest[..end]
}

fn artifacts() -> PathBuf {
    // CARGO_TARGET_TMPDIR is target/tmp: the artifact goes beside it, under target/.
    let tmp = Path::new(env!("CARGO_TARGET_TMPDIR"));
    tmp.parent().unwrap_or(tmp).join("test-artifacts")
}

/// Width and height from a PNG's IHDR chunk.
fn png_size(png: &[u8]) -> Option<(u32, u32)> {
    const SIGNATURE: &[u8] = b"\x89PNG\r\n\x1a\n";
    if png.len() < 24 || &png[..8] != SIGNATURE || &png[12..16] != b"IHDR" {
        return None;
    }
    let be = |b: &[u8]| u32::from_be_bytes([b[0], b[1], b[2], b[3]]);
    Some((be(&png[16..20]), be(&png[20..24])))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_headless_browser_shows_the_report_as_a_person_reads_it() {
    let Some(browser) = chromium() else { return };
    let state = fixture_state();
    let mut srv = start(&state).await;
    let url = report_url(&srv, "");
    let profile = tempfile::tempdir().expect("profile dir");
    let shot = artifacts().join("report-page.png");
    std::fs::create_dir_all(artifacts()).expect("artifacts dir");
    let _ = std::fs::remove_file(&shot);

    let (dom, screenshot) = tokio::task::spawn_blocking({
        let (url, shot, profile) = (url.clone(), shot.clone(), profile.path().to_owned());
        move || {
            let dom = run_chromium(browser, &profile, &["--dump-dom", &url]);
            let screenshot = run_chromium(
                browser,
                &profile,
                &[
                    &format!("--screenshot={}", shot.display()),
                    "--window-size=1280,2000",
                    &url,
                ],
            );
            (dom, screenshot)
        }
    })
    .await
    .expect("chromium runs");
    assert!(
        dom.status.success(),
        "chromium --dump-dom failed: {}",
        String::from_utf8_lossy(&dom.stderr)
    );
    let dom = String::from_utf8(dom.stdout).expect("DOM is UTF-8");
    let text = visible_text(&dom);

    // The page a person opens: title, when the last pass ran, the totals.
    assert!(text.contains("bulwark audit report"), "{text}");
    assert!(text.contains("Last full pass:"), "{text}");
    assert!(text.contains("(5 min ago)"), "{text}");
    let (shop, payments) = (scope(&state, "shop"), scope(&state, "payments"));
    let fails = state.read(|v| {
        v.scopes
            .values()
            .map(|s| s.count(Verdict::Fail))
            .sum::<usize>()
    });
    assert!(text.contains(&format!("{fails} fail")), "{text}");
    // The namespace table: name, mode, objects, fail, warn, skip.
    for (name, mode, audit) in [("shop", "audit", &shop), ("payments", "enforce", &payments)] {
        let row = format!(
            "{name} {mode} {} {} {} {}",
            audit.objects,
            audit.count(Verdict::Fail),
            audit.count(Verdict::Warn),
            audit.count(Verdict::Skip)
        );
        assert!(text.contains(&row), "namespace row {row:?} in {text}");
    }
    // The failing workload: its name, rule and message.
    let web = shop
        .findings
        .iter()
        .find(|f| f.subject.name == "web" && f.rule == "privileged")
        .expect("web runs privileged");
    let row = format!("fail privileged error {} {}", web.path, web.message);
    assert!(
        object_rows(&text, "Deployment/web").contains(&row),
        "finding row {row:?} under Deployment/web in {text}"
    );
    // The exemption, with its reason.
    let ledger = payments
        .findings
        .iter()
        .find(|f| f.subject.name == "ledger" && f.verdict == Verdict::Skip)
        .expect("ledger's host network is exempt");
    let reason = ledger.exemption.as_deref().unwrap_or_default();
    assert!(reason.contains("vendor agent needs the host network (TICKET-7)"));
    let row = format!(
        "skip {} {} {} Exempt: {reason} {}",
        ledger.rule,
        ledger.severity.as_str(),
        ledger.path,
        ledger.message
    );
    assert!(
        object_rows(&text, "Deployment/ledger").contains(&row),
        "exempt row {row:?} under Deployment/ledger in {text}"
    );
    // Injected markup is text on the page, never an element in the DOM.
    assert!(
        text.contains("Deployment/<script>alert(1)</script>"),
        "{text}"
    );
    assert!(text.contains("\"><img src=x onerror=alert(3)>"), "{text}");
    assert!(!dom.contains("<script"), "a script element in the DOM");
    assert!(!dom.contains("<img"), "an img element in the DOM");

    assert!(
        screenshot.status.success(),
        "chromium --screenshot failed: {}",
        String::from_utf8_lossy(&screenshot.stderr)
    );
    let png = std::fs::read(&shot).expect("screenshot written");
    assert_eq!(png_size(&png), Some((1280, 2000)), "a 1280x2000 PNG");
    // A blank page of that size compresses to a few KB; text and tables do not.
    assert!(png.len() > 40_000, "screenshot of {} bytes", png.len());
    eprintln!("screenshot: {}", shot.display());
    srv.stop().await.expect("clean stop");
}
