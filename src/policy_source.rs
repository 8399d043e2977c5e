//! Where the serving policy comes from, and how it changes while bulwark serves.
//!
//! - [`PolicySource`]: the policy file `--config` names (or the embedded default) plus the
//!   command line's [`Overrides`]. [`PolicySource::load`] is the one way a policy is loaded,
//!   at startup and on every reload, so a reload can never drop a flag such as
//!   `--pod-security`.
//! - [`PolicyHandle`]: the active policy, swapped atomically.
//! - [`Reloader`] and [`spawn_watch`]: look at the file every interval; a new valid version
//!   is swapped in, an invalid one is logged, counted and leaves the active policy in place.
//!
//! # The handle's API
//! - [`PolicyHandle::current`]`(&self) -> Arc<Policy>`: one lock-free load (arc-swap). The
//!   server takes it once per review and keeps the `Arc` until the answer is built, so a
//!   review in flight during a swap is judged entirely under one policy; the old policy is
//!   freed when the last review holding it ends.
//! - [`PolicyHandle::subscribe`]`(&self) -> tokio::sync::watch::Receiver<Arc<Policy>>`: for
//!   background work that must follow the policy (the auditor judges everything again):
//!   `rx.changed().await` wakes after each swap and `rx.borrow_and_update().clone()` is the
//!   new policy. Only policies that loaded are sent: a rejected file sends nothing.
//! - [`PolicyHandle::replace`]`(&self, Policy) -> Arc<Policy>`: installs a policy and wakes
//!   the subscribers (the reloader's job; tests).
//!
//! The hot path does not read the `watch` channel itself: its `borrow` takes a read lock
//! that every worker thread would share on every request, where arc-swap's load is a few
//! atomic operations on memory the writer rarely touches.
//!
//! # Why the file's content is polled rather than watched with inotify
//! The kubelet updates a mounted ConfigMap by writing a new timestamped directory, pointing a
//! `..data_tmp` symlink at it and renaming that over `..data`; `policy.yaml` is itself a
//! symlink to `..data/policy.yaml`. An inotify watch on `policy.yaml` follows the symlink to
//! the old file, which is never written, only unlinked after the swap: the watch sees a
//! delete and then nothing. Watching the directory works, but needs the `notify` crate,
//! re-arming, and debouncing the several events of one swap. Reading the file every few
//! seconds and comparing its SHA-256 catches every way a file can change (symlink swap,
//! in-place write, an editor's rename) with one code path, for one small read per interval,
//! and is how the serving certificate is already reloaded (`server::tls`). The kubelet takes
//! a minute or more to project a ConfigMap change, so a 5 s poll adds nothing noticeable.
//! (The kubelet never updates a `subPath` mount; the deployment mounts the directory.)

use std::borrow::Cow;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use arc_swap::ArcSwap;
use tokio::sync::watch;
use tokio::task::JoinHandle;

use crate::config::{ConfigError, DEFAULT_POLICY_YAML, Policy};
use crate::engine::PssLevel;
use crate::health::Metrics;

/// What the command line changes on top of the policy file, applied after every load.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Overrides {
    /// `--pod-security`: replaces the file's `podSecurity`.
    pub pod_security: Option<PssLevel>,
    /// `serve --exempt-namespace`: added to `admission.exemptNamespaces`, because the webhook
    /// configurations exclude these namespaces by name whatever the file says.
    pub exempt_namespaces: Vec<String>,
}

impl Overrides {
    /// Applies the overrides to a freshly parsed policy.
    pub fn apply(&self, policy: &mut Policy) {
        if let Some(level) = self.pod_security {
            policy.pod_security = level;
        }
        for ns in &self.exempt_namespaces {
            if !policy.admission.exempt_namespaces.contains(ns) {
                policy.admission.exempt_namespaces.push(ns.clone());
            }
        }
    }
}

/// The SHA-256 of a policy file's bytes: what the logs and `bulwark_policy_hash` show, and
/// how the reloader tells a changed file from an unchanged one.
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct Fingerprint([u8; 32]);

impl Fingerprint {
    /// The fingerprint of `bytes`.
    pub fn of(bytes: &[u8]) -> Fingerprint {
        let digest = ring::digest::digest(&ring::digest::SHA256, bytes);
        let mut out = [0; 32];
        out.copy_from_slice(digest.as_ref());
        Fingerprint(out)
    }

    /// The first 48 bits (12 hex digits) as a number, for the `bulwark_policy_hash` gauge:
    /// exact in a Prometheus float, and equal on every replica serving the same file.
    pub fn gauge(&self) -> i64 {
        self.0[..6]
            .iter()
            .fold(0i64, |acc, b| (acc << 8) | i64::from(*b))
    }
}

impl std::fmt::Display for Fingerprint {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.0.iter().try_for_each(|b| write!(f, "{b:02x}"))
    }
}

impl std::fmt::Debug for Fingerprint {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Fingerprint({self})")
    }
}

/// Where the policy comes from: a file, or the embedded default, plus the overrides.
#[derive(Debug, Clone, Default)]
pub struct PolicySource {
    /// The policy file (`--config`); `None` for the embedded default policy.
    pub path: Option<PathBuf>,
    /// Applied on top of every version of the file.
    pub overrides: Overrides,
}

/// A policy as loaded, with the fingerprint of the bytes it came from.
#[derive(Debug)]
pub struct Loaded {
    /// The policy, overrides applied.
    pub policy: Policy,
    /// The SHA-256 of the file (of the embedded default without a file).
    pub fingerprint: Fingerprint,
}

impl PolicySource {
    /// Reads, parses and applies the overrides: the one load of startup and of every reload.
    pub fn load(&self) -> Result<Loaded, ConfigError> {
        let bytes = self.read()?;
        Ok(Loaded {
            policy: self.parse(&bytes)?,
            fingerprint: Fingerprint::of(&bytes),
        })
    }

    fn read(&self) -> Result<Cow<'static, [u8]>, ConfigError> {
        match &self.path {
            None => Ok(Cow::Borrowed(DEFAULT_POLICY_YAML.as_bytes())),
            Some(path) => std::fs::read(path)
                .map(Cow::Owned)
                .map_err(|source| self.io_error(source)),
        }
    }

    /// Parses `bytes` exactly as [`Policy::from_file`] would, then applies the overrides.
    fn parse(&self, bytes: &[u8]) -> Result<Policy, ConfigError> {
        let text = std::str::from_utf8(bytes)
            .map_err(|e| self.io_error(std::io::Error::new(std::io::ErrorKind::InvalidData, e)))?;
        let mut policy = Policy::from_yaml(text)?;
        self.overrides.apply(&mut policy);
        Ok(policy)
    }

    fn io_error(&self, source: std::io::Error) -> ConfigError {
        ConfigError::Io {
            path: self
                .path
                .as_deref()
                .map(|p| p.display().to_string())
                .unwrap_or_default(),
            source,
        }
    }
}

/// The active policy: read on every request, replaced by the reloader.
#[derive(Debug)]
pub struct PolicyHandle {
    current: ArcSwap<Policy>,
    changes: watch::Sender<Arc<Policy>>,
}

impl PolicyHandle {
    /// A handle whose active policy is `policy`.
    pub fn new(policy: Policy) -> PolicyHandle {
        let policy = Arc::new(policy);
        PolicyHandle {
            current: ArcSwap::new(policy.clone()),
            changes: watch::Sender::new(policy),
        }
    }

    /// The active policy. Keep the `Arc` for the whole of one review: a swap meanwhile does
    /// not change what the review sees.
    pub fn current(&self) -> Arc<Policy> {
        self.current.load_full()
    }

    /// A receiver that wakes after each swap and holds the newest policy.
    pub fn subscribe(&self) -> watch::Receiver<Arc<Policy>> {
        self.changes.subscribe()
    }

    /// Makes `policy` the active policy and wakes the subscribers; returns it.
    pub fn replace(&self, policy: Policy) -> Arc<Policy> {
        let policy = Arc::new(policy);
        // Stored before it is sent, so a woken subscriber that asks `current()` sees it too.
        self.current.store(policy.clone());
        self.changes.send_replace(policy.clone());
        policy
    }
}

/// What the file held at the reloader's last look.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Seen {
    /// These bytes (the active policy's, or a rejected version's).
    Content(Fingerprint),
    /// It could not be read, for this reason.
    Unreadable(std::io::ErrorKind),
}

/// What one look at the policy file found.
#[derive(Debug)]
pub enum Reload {
    /// The same as at the last look (applied or rejected then): nothing to do.
    Unchanged,
    /// A new version loaded and is now active.
    Applied(Fingerprint),
    /// The file changed but cannot be used (or cannot be read); the active policy stays.
    Rejected(ConfigError),
}

/// Re-loads the policy file when its content changes and swaps each valid version in.
#[derive(Debug)]
pub struct Reloader {
    source: PolicySource,
    path: PathBuf,
    seen: Seen,
    active: Fingerprint,
}

impl Reloader {
    /// A reloader for `source`'s file, whose version with `active` fingerprint is serving;
    /// `None` for the embedded default policy, which has no file to watch.
    pub fn new(source: PolicySource, active: Fingerprint) -> Option<Reloader> {
        let path = source.path.clone()?;
        Some(Reloader {
            source,
            path,
            seen: Seen::Content(active),
            active,
        })
    }

    /// The watched file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The fingerprint of the version serving now.
    pub fn active(&self) -> Fingerprint {
        self.active
    }

    /// Looks at the file once. When its content differs from the last look, loads it as at
    /// startup and, if valid, makes it `handle`'s active policy. Each change is counted in
    /// `metrics` once, as a success or an error, however many looks it stays.
    pub fn check(&mut self, handle: &PolicyHandle, metrics: &Metrics) -> Reload {
        let bytes = match self.source.read() {
            Ok(bytes) => bytes,
            Err(e) => {
                let kind = match &e {
                    ConfigError::Io { source, .. } => source.kind(),
                    _ => std::io::ErrorKind::Other,
                };
                if self.seen == Seen::Unreadable(kind) {
                    return Reload::Unchanged;
                }
                self.seen = Seen::Unreadable(kind);
                metrics.policy_reload_failed();
                return Reload::Rejected(e);
            }
        };
        let fingerprint = Fingerprint::of(&bytes);
        if self.seen == Seen::Content(fingerprint) {
            return Reload::Unchanged;
        }
        self.seen = Seen::Content(fingerprint);
        match self.source.parse(&bytes) {
            Ok(policy) => {
                handle.replace(policy);
                self.active = fingerprint;
                metrics.policy_reload_succeeded(fingerprint.gauge());
                Reload::Applied(fingerprint)
            }
            Err(e) => {
                metrics.policy_reload_failed();
                Reload::Rejected(e)
            }
        }
    }

    /// Checks the file every `interval` until the task is dropped, logging each outcome.
    async fn watch(mut self, handle: Arc<PolicyHandle>, metrics: Arc<Metrics>, interval: Duration) {
        let mut tick = tokio::time::interval(interval);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tick.tick().await;
            let (h, m) = (handle.clone(), metrics.clone());
            // Reading and parsing are blocking work: keep them off the request workers.
            let looked = tokio::task::spawn_blocking(move || {
                let result = self.check(&h, &m);
                (self, result)
            })
            .await;
            let result;
            (self, result) = match looked {
                Ok(done) => done,
                Err(e) => {
                    tracing::error!(error = %e, "policy reload task failed; the policy file is no longer watched");
                    return;
                }
            };
            match result {
                Reload::Unchanged => {}
                Reload::Applied(sha256) => tracing::info!(
                    path = %self.path.display(), %sha256, "policy file changed: new policy active"
                ),
                Reload::Rejected(e) => tracing::warn!(
                    path = %self.path.display(), error = %e, active_sha256 = %self.active,
                    "policy file changed but cannot be used; keeping the active policy"
                ),
            }
        }
    }
}

/// Starts the reloader on a task checking every `interval`, unless there is nothing to
/// watch or `interval` is zero (reloading turned off). Sets the policy metrics for the
/// version serving at startup either way.
pub fn spawn_watch(
    reloader: Option<Reloader>,
    handle: Arc<PolicyHandle>,
    metrics: Arc<Metrics>,
    interval: Duration,
) -> Option<JoinHandle<()>> {
    metrics.policy_loaded(reloader.as_ref().map(|r| r.active.gauge()));
    let reloader = reloader?;
    if interval.is_zero() {
        tracing::info!(path = %reloader.path.display(), "policy reloading is off: changes to the policy file need a restart");
        return None;
    }
    tracing::info!(path = %reloader.path.display(), sha256 = %reloader.active, ?interval, "watching the policy file");
    Some(tokio::spawn(reloader.watch(handle, metrics, interval)))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Mode;

    fn file(dir: &tempfile::TempDir, text: &str) -> PathBuf {
        let path = dir.path().join("policy.yaml");
        std::fs::write(&path, text).expect("write policy");
        path
    }

    fn source(path: PathBuf, overrides: Overrides) -> PolicySource {
        PolicySource {
            path: Some(path),
            overrides,
        }
    }

    fn metric(metrics: &Metrics, series: &str) -> Option<String> {
        metrics
            .encode()
            .lines()
            .find_map(|l| l.strip_prefix(series)?.strip_prefix(' ').map(str::to_owned))
    }

    #[test]
    fn an_arc_taken_before_a_swap_keeps_the_old_policy() {
        let handle = PolicyHandle::new(Policy::default());
        let in_flight = handle.current();
        let mut audit = Policy::default();
        audit.mode = Mode::Audit;
        handle.replace(audit);
        assert_eq!(in_flight.mode, Mode::Enforce, "a review keeps its policy");
        assert_eq!(
            handle.current().mode,
            Mode::Audit,
            "the next review sees the new one"
        );
    }

    #[tokio::test]
    async fn subscribers_wake_with_each_new_policy() {
        let handle = PolicyHandle::new(Policy::default());
        let mut rx = handle.subscribe();
        assert_eq!(rx.borrow_and_update().mode, Mode::Enforce);
        let waiter = tokio::spawn(async move {
            rx.changed().await.expect("sender alive");
            rx.borrow_and_update().mode
        });
        let mut audit = Policy::default();
        audit.mode = Mode::Audit;
        let sent = handle.replace(audit);
        assert_eq!(waiter.await.expect("task"), Mode::Audit);
        assert!(Arc::ptr_eq(&sent, &handle.current()));
    }

    #[test]
    fn the_embedded_policy_loads_with_overrides_and_has_nothing_to_watch() {
        let source = PolicySource {
            path: None,
            overrides: Overrides {
                pod_security: Some(PssLevel::Baseline),
                exempt_namespaces: vec!["cert-manager".into()],
            },
        };
        let loaded = source.load().expect("embedded policy loads");
        let mut expected = Policy::default();
        expected.pod_security = PssLevel::Baseline;
        expected
            .admission
            .exempt_namespaces
            .push("cert-manager".into());
        assert_eq!(loaded.policy, expected);
        assert_eq!(
            loaded.fingerprint,
            Fingerprint::of(DEFAULT_POLICY_YAML.as_bytes())
        );
        assert!(Reloader::new(source, loaded.fingerprint).is_none());
    }

    #[test]
    fn load_reads_through_symlinks_and_errors_name_the_file() {
        let dir = tempfile::tempdir().expect("tempdir");
        let real = file(&dir, "mode: audit\n");
        let link = dir.path().join("link.yaml");
        std::os::unix::fs::symlink(&real, &link).expect("symlink");
        let loaded = source(link, Overrides::default()).load().expect("loads");
        assert_eq!(loaded.policy.mode, Mode::Audit);

        let missing = dir.path().join("missing.yaml");
        let e = source(missing, Overrides::default())
            .load()
            .expect_err("no file")
            .to_string();
        assert!(e.contains("missing.yaml"), "{e}");

        std::fs::write(&real, b"mode: \xff\n").expect("write");
        let e = source(real, Overrides::default())
            .load()
            .expect_err("not UTF-8")
            .to_string();
        assert!(e.contains("policy.yaml") && e.contains("utf-8"), "{e}");
    }

    #[test]
    fn fingerprint_is_sha256_and_the_gauge_its_first_48_bits() {
        let empty = Fingerprint::of(b"");
        assert_eq!(
            empty.to_string(),
            "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
        );
        assert_eq!(empty.gauge(), 0xe3b0_c442_98fc);
    }

    #[test]
    fn reloader_swaps_valid_versions_keeps_the_old_one_on_errors_and_counts_each_change_once() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = file(&dir, "mode: enforce\n");
        // The command line's overrides hold across reloads.
        let overrides = Overrides {
            pod_security: Some(PssLevel::Baseline),
            exempt_namespaces: vec!["cert-manager".into()],
        };
        let source = source(path.clone(), overrides);
        let loaded = source.load().expect("loads");
        let handle = PolicyHandle::new(loaded.policy);
        let metrics = Metrics::default();
        let mut reloader = Reloader::new(source, loaded.fingerprint).expect("a file");
        let mut rx = handle.subscribe();
        rx.mark_unchanged();

        assert!(matches!(
            reloader.check(&handle, &metrics),
            Reload::Unchanged
        ));
        assert!(!rx.has_changed().expect("open"));

        std::fs::write(&path, "podSecurity: restricted\nmode: audit\n").expect("write");
        let Reload::Applied(fp) = reloader.check(&handle, &metrics) else {
            panic!("a valid new version applies");
        };
        let active = handle.current();
        assert_eq!(active.mode, Mode::Audit);
        assert_eq!(
            active.pod_security,
            PssLevel::Baseline,
            "--pod-security re-applied"
        );
        assert_eq!(active.admission.exempt_namespaces, ["cert-manager"]);
        assert!(rx.has_changed().expect("open"));
        assert_eq!(rx.borrow_and_update().mode, Mode::Audit);
        assert_eq!(reloader.active(), fp);
        let reloads = |result: &str| {
            metric(
                &metrics,
                &format!("bulwark_policy_reloads_total{{result=\"{result}\"}}"),
            )
        };
        assert_eq!(reloads("success").as_deref(), Some("1"));
        assert_eq!(reloads("error").as_deref(), Some("0"));
        assert_eq!(
            metric(&metrics, "bulwark_policy_hash"),
            Some(fp.gauge().to_string())
        );

        std::fs::write(&path, "rules:\n  privilegd:\n    enabled: false\n").expect("write");
        let Reload::Rejected(e) = reloader.check(&handle, &metrics) else {
            panic!("an invalid version is rejected");
        };
        assert!(
            e.to_string().contains("rules.privilegd"),
            "names the key: {e}"
        );
        assert!(
            Arc::ptr_eq(&active, &handle.current()),
            "the old policy stays"
        );
        assert!(
            !rx.has_changed().expect("open"),
            "nothing sent for a rejected file"
        );
        assert_eq!(reloads("error").as_deref(), Some("1"));
        assert_eq!(
            metric(&metrics, "bulwark_policy_last_reload_success").as_deref(),
            Some("0")
        );
        assert_eq!(
            metric(&metrics, "bulwark_policy_hash"),
            Some(fp.gauge().to_string()),
            "the hash is the active policy's"
        );
        // The same bad file, looked at again, is not counted again.
        assert!(matches!(
            reloader.check(&handle, &metrics),
            Reload::Unchanged
        ));
        assert_eq!(reloads("error").as_deref(), Some("1"));

        // A file that disappears is one error, and the policy stays.
        std::fs::remove_file(&path).expect("remove");
        assert!(matches!(
            reloader.check(&handle, &metrics),
            Reload::Rejected(ConfigError::Io { .. })
        ));
        assert!(matches!(
            reloader.check(&handle, &metrics),
            Reload::Unchanged
        ));
        assert_eq!(reloads("error").as_deref(), Some("2"));
        assert!(Arc::ptr_eq(&active, &handle.current()));

        // Fixed: the new version applies and the gauge says so.
        std::fs::write(&path, "mode: enforce\n").expect("write");
        assert!(matches!(
            reloader.check(&handle, &metrics),
            Reload::Applied(_)
        ));
        assert_eq!(handle.current().mode, Mode::Enforce);
        assert_eq!(reloads("success").as_deref(), Some("2"));
        assert_eq!(
            metric(&metrics, "bulwark_policy_last_reload_success").as_deref(),
            Some("1")
        );
    }
}
